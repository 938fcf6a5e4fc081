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
//! figures and the replicas' invariants are the watch's, as on turmoil. What is not here yet:
//! the Sentinel's own clients (`SENTINEL GET-MASTER-ADDR-BY-NAME` on a pool's connect, the
//! `+switch-master` subscription), so a client whose discovery asks Sentinel runs on turmoil
//! only ([`super::supports`]).

use super::net::{CliSide, NO_POOL, Op};
use super::{Ev, TIMER, World};
use crate::runner::{REDIS_HOST, REDIS_PORT};
use crate::scenario::Scenario;
use fake_redis::sentinel::{Addr, MonitorConfig, Sentinel, SentinelConfig, SentinelOutput};
use pool::redis::resp::{self, Value};
use std::collections::VecDeque;
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
}

impl SentinelRt {
    /// The Sentinel of `s`'s topology, monitoring the master and its replicas as turmoil's
    /// runner sets it up; `None` without one.
    pub(super) fn new(s: &Scenario) -> Option<Self> {
        let t = s.server.topology.as_ref()?;
        let sn = t.sentinel.as_ref()?;
        let replicas = (1..=t.replicas)
            .map(|i| Addr::new(crate::scenario::Topology::replica_host(i), REDIS_PORT))
            .collect();
        let mut monitor = MonitorConfig::new(
            sn.master_name.clone(),
            Addr::new(REDIS_HOST, REDIS_PORT),
            replicas,
        );
        monitor.down_after_ms = sn.down_after_ms;
        monitor.failover_timeout_ms = sn.failover_timeout_ms;
        let engine = Sentinel::new(SentinelConfig {
            masters: vec![monitor],
            port: crate::world::SENTINEL_PORT,
            ..SentinelConfig::default()
        });
        Some(Self {
            engine,
            master_name: sn.master_name.clone(),
            links: Vec::new(),
            timer_at: None,
            next_port: 49_152,
            unread: Vec::new(),
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

    /// Hashes what decides its future (the explorer's key; the explorer does not explore a
    /// topology yet, so this only keeps the key whole).
    pub(super) fn hash_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        format!("{:?}", self.engine).hash(h);
        for l in &self.links {
            (&l.to.host, l.to.port, l.server, l.tcp).hash(h);
            l.jobs.hash(h);
            l.current.hash(h);
            format!("{:?}", l.reply).hash(h);
        }
        (self.timer_at, self.next_port).hash(h);
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
                // Output for one of its clients: the fast engine gives the Sentinel none.
                SentinelOutput::Wake { .. } => {}
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
