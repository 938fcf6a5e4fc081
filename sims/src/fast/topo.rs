//! A topology on the fast engine: the Sentinel (`fake_redis::Sentinel`, a pure engine) and
//! its monitoring links to the servers, carried by hand as `fake_redis::FakeSentinel`'s
//! turmoil shell carries them (`crates/fake-redis/src/sentinel_shell.rs`):
//!
//! - **the timer**: [`Sentinel::handle_timeout`](fake_redis::sentinel::Sentinel::handle_timeout)
//!   at the engine's `poll_timeout`, re-armed only after it fires (the shell's timer loop
//!   sleeps until the instant it computed after its last run);
//! - **the links**: one per instance, opened on demand (a plain connect, no handshake),
//!   its jobs (`PING`, `INFO replication`, the reconfiguration transaction) one at a time in
//!   order, every command's reply read and the last one reported: a `+PONG` (or `-LOADING`,
//!   `-MASTERDOWN`) as a valid reply, a closed or refused connection as lost (the link is
//!   dropped and opened again by the next job), and nothing while the instance does not
//!   answer (a hang: the link waits, as the shell's read does);
//! - **events** (`+sdown`, `+switch-master`, ...) traced as `sentinel.event` and handed to the
//!   runner's [`TopologyWatch`](crate::runner::TopologyWatch).
//!
//! The replicas are servers of the world like the master (`servers[1..]`); the split-brain
//! figures and the replicas' invariants are the watch's, as on turmoil.
//!
//! **The Sentinel's clients** are connections to it (server [`SENTINEL`]) served as its
//! shell serves them: accepted at once, each read handed to the engine and its output
//! written back in the same instant. A pool whose client asks Sentinel for the master
//! (`discovery = "sentinel_on_connect"`, [`Discovery`]) does what `pools::discover_master`
//! and `CountingManager::connect` do: a connection to the Sentinel, `SENTINEL
//! GET-MASTER-ADDR-BY-NAME`, within 1 s (`DISCOVERY_TIMEOUT`), traced as `client.discover`;
//! then the connect to the address it got, under the manager's 5 s bound, dropped when the
//! client learned of another master meanwhile. What it learns moves its known address; a
//! client that drops connections to an old address evicts its idle ones at once
//! (`client.evict`), closes one it is handed (`request.drop_stale`) and one given back
//! (redis-py's `owns_connection`), or loses its slot with it (redis-py 8.0, #4187:
//! `client.leak_slot`); with `drop_all` (go-redis) the commands in flight on one fail and a
//! holder goes on without it (`fast::app`'s `drop_in_use`).
//!
//! **go-redis's subscription** (`pools::follow_switch_master`): each pool's client keeps a
//! connection to the Sentinel with `SUBSCRIBE +switch-master`, learns every switch of its
//! master (`client.switch_master`), and subscribes again 1 s after the connection ends.
//!
//! redis-py's **retry in place** (#3874: the held connection dialed again to its old
//! address) is the request path's (`fast::app`).

use super::net::{CliSide, Failure, NO_POOL, Op, SENTINEL, SrvSide};
use super::{Ev, NET, Soon, TIMER, World};
use crate::runner::REDIS_PORT;
use crate::scenario::Scenario;
use fake_redis::sentinel::{Addr, Sentinel, SentinelOutput};
use pool::redis::resp::{self, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// One piece of work for an instance's link.
#[derive(Clone, Debug, Hash)]
enum Job {
    Ping,
    Info,
    Send(Vec<Vec<String>>),
}

impl Job {
    fn commands(&self) -> Vec<Vec<String>> {
        match self {
            Self::Ping => vec![vec!["PING".into()]],
            Self::Info => vec![vec!["INFO".into(), "replication".into()]],
            Self::Send(c) => c.clone(),
        }
    }
}

/// The Sentinel's link to one instance.
#[derive(Clone, Debug)]
struct Link {
    to: Addr,
    /// The instance's server (an index into the world's servers), if it names one.
    server: Option<usize>,
    /// Its connection, while it has one.
    tcp: Option<usize>,
    /// Jobs not started yet, in order.
    jobs: VecDeque<Job>,
    /// The job under way.
    current: Option<Job>,
    /// The last reply of the current job.
    reply: Option<Result<Value, String>>,
}

/// The Sentinel of a topology on the fast engine.
#[derive(Clone, Debug)]
pub(super) struct SentinelRt {
    engine: Sentinel,
    master_name: String,
    /// One link per instance, in the order they were first asked for.
    links: Vec<Link>,
    /// The instant its timer is armed for.
    timer_at: Option<u64>,
    next_port: u16,
    /// Events published since the runner's watch last read them: `(ms, channel)`.
    pub(super) unread: Vec<(u64, String)>,
    /// Its clients' connections, by its client id.
    by_client: BTreeMap<fake_redis::sentinel::SentinelClientId, usize>,
}

/// What a pool's client knows of the master when it asks Sentinel for it (one per pool, as
/// each redis-py `SentinelConnectionPool` has its own; `adapter::SentinelTarget` on turmoil).
#[derive(Clone, Debug, Hash)]
pub(super) struct Discovery {
    /// The master's name at the Sentinel.
    master_name: String,
    /// The address it takes for the master's now (`None` before its first answer).
    pub(super) known: Option<(String, u16)>,
    /// What it does to connections to an old address.
    pub(super) rule: crate::client::OnAddressChange,
    /// Whether a connection to an old address, closed when given back, keeps its slot.
    leaks_slots: bool,
    /// Whether it subscribes to `+switch-master` (go-redis `FailoverClient`).
    pub(super) follow: bool,
    /// Its subscription's connection, while it has one.
    sub_tcp: Option<usize>,
}

impl Discovery {
    /// The discovery of a tier's client `b` in scenario `s` (a Sentinel asked on connect),
    /// or `None` (a fixed address, or no Sentinel to ask).
    pub(super) fn of(s: &Scenario, b: Option<&crate::client::ClientBehaviour>) -> Option<Self> {
        let b = b?;
        let sn = s.server.topology.as_ref()?.sentinel.as_ref()?;
        (b.discovery != crate::client::Discovery::Fixed).then(|| Self {
            master_name: sn.master_name.clone(),
            known: None,
            rule: b.on_address_change,
            leaks_slots: b.address_change_leaks_slots,
            follow: b.discovery == crate::client::Discovery::FollowSwitchMaster,
            sub_tcp: None,
        })
    }

    /// Whether the client drops connections to an old address at all.
    fn drops(&self) -> bool {
        self.rule != crate::client::OnAddressChange::None
    }
}

impl SentinelRt {
    /// The Sentinel of `s`'s topology, monitoring the master and its replicas as turmoil's
    /// runner sets it up; `None` without one.
    pub(super) fn new(s: &Scenario) -> Option<Self> {
        let (config, master_name) = crate::runner::sentinel_config(s)?;
        let engine = Sentinel::new(config);
        Some(Self {
            engine,
            master_name,
            links: Vec::new(),
            timer_at: None,
            next_port: 49_152,
            unread: Vec::new(),
            by_client: BTreeMap::new(),
        })
    }

    /// The host Sentinel names the master now.
    pub(super) fn named_master(&self) -> Option<String> {
        self.engine.master_addr(&self.master_name).map(|a| a.host)
    }

    /// `SENTINEL FAILOVER <master>` at `now` (its outputs are carried out by the world).
    pub(super) fn failover(&mut self, now: Duration) -> Result<(), String> {
        self.engine.failover(now, &self.master_name)
    }

    /// Hashes what decides its future, for the explorer's key: the Sentinel engine's state
    /// key, its links (a link's last reply by its `Debug` text) and its timer.
    pub(super) fn hash_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        self.engine.hash_state_key(h);
        for l in &self.links {
            (&l.to.host, l.to.port, l.server, l.tcp).hash(h);
            l.jobs.hash(h);
            l.current.hash(h);
            format!("{:?}", l.reply).hash(h);
        }
        (self.timer_at, self.next_port, &self.by_client).hash(h);
    }
}

impl World<'_> {
    /// Time zero: the Sentinel's timer armed.
    pub(super) fn sentinel_start(&mut self) {
        self.arm_sentinel_timer();
    }

    fn arm_sentinel_timer(&mut self) {
        let now = self.now;
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        let at = u64::try_from(sn.engine.poll_timeout().as_micros()).unwrap_or(u64::MAX);
        let t = at.div_ceil(1000) * 1000;
        let t = t.max(now);
        sn.timer_at = Some(t);
        self.at(t, TIMER, Ev::SentinelTimer);
    }

    /// The Sentinel's timer fired.
    pub(super) fn sentinel_timer(&mut self) {
        let now = self.now;
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        if sn.timer_at != Some(now) {
            return;
        }
        sn.timer_at = None;
        sn.engine.handle_timeout(Duration::from_micros(now));
        self.sentinel_outputs();
        self.arm_sentinel_timer();
    }

    /// Carries out what the Sentinel asked for: jobs for its links, events.
    pub(super) fn sentinel_outputs(&mut self) {
        loop {
            let Some(out) = self
                .sentinel
                .as_mut()
                .and_then(|sn| sn.engine.poll_output())
            else {
                return;
            };
            match out {
                SentinelOutput::Ping { to } => self.push_job(to, Job::Ping),
                SentinelOutput::Info { to } => self.push_job(to, Job::Info),
                SentinelOutput::Send { to, commands } => self.push_job(to, Job::Send(commands)),
                SentinelOutput::Event { channel, message } => {
                    self.trace()
                        .event(self.now, crate::world::SENTINEL_HOST, "sentinel.event")
                        .str("channel", &channel)
                        .str("message", &message)
                        .write();
                    let t_ms = self.now / 1000;
                    if let Some(sn) = self.sentinel.as_mut() {
                        sn.unread.push((t_ms, channel));
                    }
                }
                // Output for one of its clients (an event it subscribed to).
                SentinelOutput::Wake { client } => {
                    let c = self
                        .sentinel
                        .as_ref()
                        .and_then(|sn| sn.by_client.get(&client).copied());
                    if let Some(c) = c {
                        self.sentinel_flush(c);
                    }
                }
            }
        }
    }

    fn push_job(&mut self, to: Addr, job: Job) {
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        let l = match sn.links.iter().position(|l| l.to == to) {
            Some(l) => l,
            None => {
                let server = self
                    .servers
                    .iter()
                    .position(|s| s.host == to.host && to.port == REDIS_PORT);
                let sn = self.sentinel.as_mut().expect("checked above");
                sn.links.push(Link {
                    to,
                    server,
                    tcp: None,
                    jobs: VecDeque::new(),
                    current: None,
                    reply: None,
                });
                sn.links.len() - 1
            }
        };
        let sn = self.sentinel.as_mut().expect("checked above");
        sn.links[l].jobs.push_back(job);
        if sn.links[l].current.is_none() {
            self.next_job(l);
        }
    }

    /// Starts link `l`'s next job, connecting first if it has no connection.
    fn next_job(&mut self, l: usize) {
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        let link = &mut sn.links[l];
        let Some(job) = link.jobs.pop_front() else {
            return;
        };
        link.current = Some(job);
        link.reply = None;
        match (link.tcp, link.server) {
            (Some(c), _) => self.link_write(l, c),
            (None, Some(server)) => {
                let port = sn.next_port;
                sn.next_port = if port == u16::MAX { 1024 } else { port + 1 };
                let c = self.new_tcp(NO_POOL, pool_core::ConnId(0), server, Some(l), port);
                if let Some(sn) = self.sentinel.as_mut() {
                    sn.links[l].tcp = Some(c);
                }
            }
            // An address no server has: the connect fails.
            (None, None) => self.link_finished(l, None),
        }
    }

    /// Link `l`'s connection `c` is open: its job goes out.
    pub(super) fn link_connected(&mut self, l: usize, c: usize) {
        self.link_write(l, c);
    }

    fn link_write(&mut self, l: usize, c: usize) {
        let Some(job) = self
            .sentinel
            .as_ref()
            .and_then(|sn| sn.links[l].current.clone())
        else {
            return;
        };
        if self
            .tcps
            .get(c)
            .and_then(Option::as_ref)
            .is_none_or(|t| t.cli != CliSide::Open)
        {
            // Still connecting: the job goes out when the connect completes.
            return;
        }
        let commands = job.commands();
        let mut bytes = Vec::new();
        for cmd in &commands {
            let args: Vec<&[u8]> = cmd.iter().map(String::as_bytes).collect();
            resp::encode_command(&mut bytes, &args);
        }
        let n = u8::try_from(commands.len()).unwrap_or(u8::MAX);
        self.begin_op(c, Some(Op::Link(n)));
        self.send(Ev::DataToServer(c, bytes));
        self.try_complete(c);
    }

    /// A reply (or the connection's end) on link connection `c`, with `left` replies of its
    /// job to read, this one included.
    pub(super) fn link_reply(
        &mut self,
        c: usize,
        left: u8,
        result: Result<Value, super::net::Failure>,
    ) {
        let Some(l) = self
            .tcps
            .get(c)
            .and_then(Option::as_ref)
            .and_then(|t| t.link)
        else {
            return;
        };
        let reply = match result {
            Ok(v) => Ok(v),
            Err(super::net::Failure::Server(m)) => Err(m),
            // EOF, a reply that does not parse: the link is lost.
            Err(_) => {
                self.link_finished(l, None);
                return;
            }
        };
        if left > 1 {
            if let Some(sn) = self.sentinel.as_mut() {
                sn.links[l].reply = Some(reply);
            }
            if let Some(t) = self.tcp(c) {
                t.op = Some(Op::Link(left - 1));
            }
            self.try_complete(c);
            return;
        }
        self.link_finished(l, Some(reply));
    }

    /// Link `l`'s job ended with its last reply, or lost (`None`): reported to the engine,
    /// and the next job started.
    fn link_finished(&mut self, l: usize, reply: Option<Result<Value, String>>) {
        let now = Duration::from_micros(self.now);
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        let link = &mut sn.links[l];
        let job = link.current.take();
        link.reply = None;
        let to = link.to.clone();
        let lost_tcp = if reply.is_none() {
            link.tcp.take()
        } else {
            None
        };
        match (job, reply) {
            (Some(Job::Ping), Some(r)) => {
                let valid = match &r {
                    Ok(Value::Simple(s)) => s == "PONG",
                    Ok(_) => false,
                    Err(m) => m.starts_with("LOADING") || m.starts_with("MASTERDOWN"),
                };
                if valid {
                    sn.engine.handle_ping_reply(now, &to);
                }
            }
            (Some(Job::Ping), None) => sn.engine.handle_ping_lost(now, &to),
            (Some(Job::Info), Some(Ok(Value::Bulk(body)))) => {
                if let Some(role) = fake_redis::sentinel_shell::parse_role(&body) {
                    sn.engine.handle_info(now, &to, role);
                }
            }
            // Redis reconnects a lost link at the next PING; the engine hears of it then.
            _ => {}
        }
        if let Some(c) = lost_tcp {
            self.close_tcp(c);
        }
        self.sentinel_outputs();
        self.next_job(l);
    }
}

/// A host and port as the world names a server's address in the trace and the books.
fn addr_text((host, port): &(String, u16)) -> String {
    format!("{host}:{port}")
}

impl World<'_> {
    // ---- the Sentinel's side of its clients' connections (its shell's `serve_client`) ----

    /// A client's SYN reached the Sentinel: accepted.
    pub(super) fn sentinel_accept(&mut self, c: usize) {
        let now = Duration::from_micros(self.now);
        let Some(sn) = self.sentinel.as_mut() else {
            // No Sentinel listens: refused (the client reads EOF).
            if let Some(t) = self.tcp(c) {
                t.srv = SrvSide::Gone;
            }
            self.at(self.now, NET, Ev::SynAckToClient(c));
            self.send(Ev::FinToClient(c));
            return;
        };
        let id = sn.engine.accept(now);
        sn.by_client.insert(id, c);
        if let Some(t) = self.tcp(c) {
            t.srv = SrvSide::Open(id);
        }
        self.at(self.now, NET, Ev::SynAckToClient(c));
    }

    /// Bytes reached the Sentinel: the engine reads them, its output goes back at once.
    pub(super) fn sentinel_read(&mut self, c: usize, bytes: &[u8]) {
        let now = Duration::from_micros(self.now);
        let Some(SrvSide::Open(id)) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.srv)
        else {
            return;
        };
        if let Some(sn) = self.sentinel.as_mut() {
            sn.engine.handle_read(now, id, bytes);
        }
        self.sentinel_outputs();
        self.sentinel_flush(c);
    }

    /// Writes what the Sentinel has for connection `c`'s client; closes it if the engine
    /// says so.
    fn sentinel_flush(&mut self, c: usize) {
        let Some(SrvSide::Open(id)) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.srv)
        else {
            return;
        };
        let Some(sn) = self.sentinel.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        let close = sn.engine.take_output(id, &mut out);
        if !out.is_empty() {
            self.send(Ev::DataToClient(c, out));
        }
        if close != Some(false) {
            // Closed by the engine (or gone): the shell drops the socket.
            self.send(Ev::FinToClient(c));
            self.sentinel_forget(c, id);
        }
    }

    /// The client's FIN reached the Sentinel.
    pub(super) fn sentinel_closed(&mut self, c: usize) {
        let Some(SrvSide::Open(id)) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.srv)
        else {
            return;
        };
        self.sentinel_forget(c, id);
    }

    fn sentinel_forget(&mut self, c: usize, id: fake_redis::sentinel::SentinelClientId) {
        let now = Duration::from_micros(self.now);
        if let Some(sn) = self.sentinel.as_mut() {
            sn.engine.handle_closed(now, id);
            sn.by_client.remove(&id);
        }
        if let Some(t) = self.tcp(c) {
            t.srv = SrvSide::Gone;
        }
        self.sentinel_outputs();
        self.maybe_free(c);
    }

    // ---- a pool's discovery (`pools::discover_master`, `CountingManager::connect`) ----

    /// Pool `pool` asked for connection `conn`: first a connection to the Sentinel, within
    /// the discovery's bound.
    pub(super) fn open_discovery(&mut self, pool: usize, conn: pool_core::ConnId) -> usize {
        let pod = self.pools[pool].pod;
        let port = self.app.pods[pod].next_port();
        let c = self.new_tcp(pool, conn, SENTINEL, None, port);
        let seq = self.begin_op(c, None);
        let bound = u64::try_from(crate::pools::DISCOVERY_TIMEOUT.as_micros()).unwrap_or(0);
        self.after(bound, Ev::OpTimeout(c, seq));
        c
    }

    /// The discovery's connection is open: the question.
    pub(super) fn discovery_connected(&mut self, c: usize) {
        let Some(pool) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.pool) else {
            return;
        };
        let Some(name) = self.pools[pool]
            .discovery
            .as_ref()
            .map(|d| d.master_name.clone())
        else {
            return;
        };
        if let Some(t) = self.tcp(c) {
            t.op = Some(Op::Discover);
        }
        self.write_cmd(
            c,
            &[b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", name.as_bytes()],
        );
        self.try_complete(c);
    }

    /// Sentinel's answer (or the connection's end) reached the discovery.
    pub(super) fn discovery_answered(&mut self, c: usize, result: Result<Value, Failure>) {
        let Some(pool) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.pool) else {
            return;
        };
        let name = self.pools[pool]
            .discovery
            .as_ref()
            .map(|d| d.master_name.clone())
            .unwrap_or_default();
        // `discover_master`'s words for each outcome (its errors are `io::Error`s).
        let answer = match result {
            Ok(Value::Array(v)) => match v.as_slice() {
                [Value::Bulk(h), Value::Bulk(p)] => {
                    let host = String::from_utf8_lossy(h).into_owned();
                    String::from_utf8_lossy(p)
                        .parse::<u16>()
                        .map(|port| (host, port))
                        .map_err(|e| e.to_string())
                }
                _ => Err("unexpected reply from Sentinel".to_owned()),
            },
            Ok(Value::Nil) => Err(format!("Sentinel knows no master named {name}")),
            Ok(other) => Err(format!("unexpected reply from Sentinel: {other:?}")),
            Err(Failure::Closed) => Err("the server closed the connection".to_owned()),
            Err(Failure::Server(m)) => Err(format!("server error: {m}")),
            Err(Failure::TimedOut(_)) => Err("Sentinel did not answer in time".to_owned()),
            Err(Failure::Protocol(m)) => Err(m),
        };
        match answer {
            Ok(addr) => self.discovered(c, pool, addr),
            Err(e) => self.discovery_failed(c, &e),
        }
    }

    /// The discovery failed (`why`, as `discover_master` words it): traced, and the pool's
    /// connect fails with it.
    pub(super) fn discovery_failed(&mut self, c: usize, why: &str) {
        let Some(pool) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.pool) else {
            return;
        };
        let label = self.pools[pool].label.clone();
        self.trace()
            .event(self.now, &label, "client.discover")
            .str("error", why)
            .write();
        self.connect_failed(c, &Failure::Protocol(format!("I/O error: {why}")));
    }

    /// Sentinel named `addr`: the client learns it, closes the Sentinel connection, and
    /// connects there.
    fn discovered(&mut self, c: usize, pool: usize, addr: (String, u16)) {
        let label = self.pools[pool].label.clone();
        self.trace()
            .event(self.now, &label, "client.discover")
            .str("master", &addr_text(&addr))
            .write();
        self.learn(pool, addr.clone());
        let Some(conn) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.conn) else {
            return;
        };
        let server = self
            .servers
            .iter()
            .position(|s| s.host == addr.0 && addr.1 == REDIS_PORT);
        let Some(server) = server else {
            // An address no server has (Sentinel monitors only the scenario's servers).
            self.connect_failed(
                c,
                &Failure::Protocol(format!("I/O error: no server at {}", addr_text(&addr))),
            );
            return;
        };
        // The question's connection is done with: dropped as `discover_master` drops it.
        self.close_tcp(c);
        let r = self.open_redis_tcp(pool, conn, server);
        self.pools[pool].tcp_of.insert(conn.0, r);
    }

    /// Pool `pool`'s client learned that the master is at `addr`: a change moves what it
    /// knows, and a client that drops connections to an old address evicts its idle ones
    /// (the turmoil shell's `evict_on_change` task: after the current event).
    pub(super) fn learn(&mut self, pool: usize, addr: (String, u16)) {
        let Some(d) = self.pools[pool].discovery.as_mut() else {
            return;
        };
        if d.known.as_ref() == Some(&addr) {
            return;
        }
        d.known = Some(addr);
        if d.drops() {
            self.soon.push_back(Soon::Evict(pool));
        }
        if d.rule == crate::client::OnAddressChange::DropAll {
            self.soon.push_back(Soon::DropInUse(pool));
        }
    }

    // ---- go-redis `FailoverClient`'s subscription (`pools::follow_switch_master`) ----

    /// Pool `p`'s client connects to the Sentinel to subscribe to `+switch-master`.
    pub(super) fn subscribe(&mut self, p: usize) {
        let pod = self.pools[p].pod;
        let port = self.app.pods[pod].next_port();
        let c = self.new_tcp(p, pool_core::ConnId(u64::MAX), SENTINEL, None, port);
        if let Some(t) = self.tcp(c) {
            t.sub = true;
        }
        if let Some(d) = self.pools[p].discovery.as_mut() {
            d.sub_tcp = Some(c);
        }
    }

    /// The subscription's connection is open: `SUBSCRIBE +switch-master`.
    pub(super) fn subscription_connected(&mut self, c: usize) {
        if let Some(t) = self.tcp(c) {
            t.op = Some(Op::Subscribe);
        }
        self.write_cmd(c, &[b"SUBSCRIBE", b"+switch-master"]);
        self.try_complete(c);
    }

    /// A reply on the subscription: its confirmation, then each message; a switch of this
    /// client's master is learned (`client.switch_master`). Its end: a new subscription 1 s
    /// later.
    pub(super) fn subscription_read(&mut self, c: usize, op: Op, result: Result<Value, Failure>) {
        let Some(p) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.pool) else {
            return;
        };
        let v = match result {
            Ok(v) => v,
            // `cmd` and `next_message` fail on an error reply and on EOF alike.
            Err(_) => {
                self.close_tcp(c);
                if let Some(d) = self.pools[p].discovery.as_mut() {
                    d.sub_tcp = None;
                }
                self.after(1_000_000, Ev::Subscribe(p));
                return;
            }
        };
        if op == Op::Message {
            if let Some(addr) = self.switch_of(p, &v) {
                let label = self.pools[p].label.clone();
                self.trace()
                    .event(self.now, &label, "client.switch_master")
                    .str("master", &addr_text(&addr))
                    .write();
                self.learn(p, addr);
            }
        }
        if let Some(t) = self.tcp(c) {
            t.op = Some(Op::Message);
        }
        self.try_complete(c);
    }

    /// The new address in a `+switch-master` message `v` for pool `p`'s master (`<name>
    /// <old-ip> <old-port> <new-ip> <new-port>`), if it is one.
    fn switch_of(&self, p: usize, v: &Value) -> Option<(String, u16)> {
        let d = self.pools[p].discovery.as_ref()?;
        let Value::Array(parts) = v else { return None };
        let Some(Value::Bulk(payload)) = parts.get(2) else {
            return None;
        };
        let text = String::from_utf8_lossy(payload).into_owned();
        let f: Vec<&str> = text.split(' ').collect();
        match f.as_slice() {
            [name, _, _, host, port] if *name == d.master_name => {
                Some(((*host).to_owned(), port.parse::<u16>().ok()?))
            }
            _ => None,
        }
    }

    /// The server a pool's connection goes to, as `(host, port)`.
    fn server_addr_of(&self, c: usize) -> Option<(String, u16)> {
        let t = self.tcps.get(c).and_then(Option::as_ref)?;
        self.servers
            .get(t.server)
            .map(|s| (s.host.clone(), REDIS_PORT))
    }

    /// Whether pool `p`'s connection `conn` goes to an address its client no longer takes
    /// for the master's, and its profile drops such connections (`PoolUnderTest::stale`).
    pub(super) fn stale_conn(&self, p: usize, conn: pool_core::ConnId) -> bool {
        let Some(d) = self.pools[p].discovery.as_ref().filter(|d| d.drops()) else {
            return false;
        };
        let Some(known) = d.known.as_ref() else {
            return false;
        };
        self.pools[p]
            .tcp_of
            .get(&conn.0)
            .and_then(|&c| self.server_addr_of(c))
            .is_some_and(|a| &a != known)
    }

    /// `Some(why)` when pool `pool`'s client learned of another master while its connect to
    /// server `server` was under way and drops connections to an old address (the connect
    /// is failed with `why`, as `CountingManager::connect` does).
    pub(super) fn moved_during_connect(&self, pool: usize, server: usize) -> Option<String> {
        let d = self.pools.get(pool)?.discovery.as_ref()?;
        let known = d.known.as_ref()?;
        let here = (self.servers.get(server)?.host.clone(), REDIS_PORT);
        (d.drops() && *known != here).then(|| {
            format!(
                "I/O error: the master moved during the connect to {}",
                addr_text(&here)
            )
        })
    }

    /// Pool `p`'s client evicts its idle connections to an old address (`client.evict`;
    /// each close a `pool.close` with reason `Evicted`).
    pub(super) fn evict_stale(&mut self, p: usize) {
        let idle: Vec<pool_core::ConnId> = self.pools[p].pool.idle_connections().collect();
        let mut n = 0u64;
        for conn in idle {
            if self.stale_conn(p, conn) {
                n += 1;
                self.feed(p, pool_core::Input::Evict { conn });
            }
        }
        if n > 0 {
            let master = self.pools[p]
                .discovery
                .as_ref()
                .and_then(|d| d.known.as_ref())
                .map(addr_text)
                .unwrap_or_default();
            let label = self.pools[p].label.clone();
            self.trace()
                .event(self.now, &label, "client.evict")
                .str("master", &master)
                .num("conns", n)
                .write();
        }
    }

    /// Gives handler `h`'s connection back to pool `p` (`keep` false closes it). One the
    /// client no longer takes for the master's is closed whatever `keep` says, or, with
    /// `address_change_leaks_slots`, closed and kept checked out for good (its slot lost:
    /// `client.leak_slot`), as `request::Pod::give_back` does.
    pub(super) fn give_back(&mut self, h: usize, p: usize, conn: pool_core::ConnId, keep: bool) {
        if !self.stale_conn(p, conn) {
            self.release(p, conn, keep);
            return;
        }
        let leaks = self.pools[p]
            .discovery
            .as_ref()
            .is_some_and(|d| d.leaks_slots);
        if !leaks {
            self.release(p, conn, false);
            return;
        }
        if let Some(c) = self.pools[p].tcp_of.remove(&conn.0) {
            self.close_tcp(c);
        }
        self.shared.requests().leaked_slots += 1;
        let id = self.handler_id(h);
        let label = self.pools[p].label.clone();
        self.trace()
            .event(self.now, &label, "client.leak_slot")
            .req("req", id)
            .num("conn", conn.0)
            .write();
    }

    /// The servers' addresses as the tally names them (`client.stale_connection`): server
    /// `i` at `10.0.0.{1 + i}`.
    pub(super) fn server_names(&self) -> BTreeMap<std::net::IpAddr, String> {
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| (server_ip(i), s.host.clone()))
            .collect()
    }

    /// What pool `p`'s client knows and where its connections go, for the tally's
    /// `client.stale_connection` check (a client that drops connections to an old address).
    pub(super) fn address_reading(&self, p: usize) -> Option<crate::runner::AddressReading> {
        let d = self.pools[p].discovery.as_ref().filter(|d| d.drops())?;
        let mut conns = Vec::new();
        for (conn, phase) in self.pools[p].pool.connections() {
            let in_use = match phase {
                pool_core::ConnPhase::Idle => false,
                pool_core::ConnPhase::InUse => true,
                _ => continue,
            };
            let Some(&c) = self.pools[p].tcp_of.get(&conn.0) else {
                continue;
            };
            if let Some(i) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.server) {
                conns.push((std::net::SocketAddr::new(server_ip(i), REDIS_PORT), in_use));
            }
        }
        Some(crate::runner::AddressReading {
            known: d.known.clone(),
            rule: d.rule,
            conns,
        })
    }
}

/// The address of server `i` (`10.0.0.{1 + i}`, as the engine's local address).
pub(super) fn server_ip(i: usize) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1 + i as u8))
}
