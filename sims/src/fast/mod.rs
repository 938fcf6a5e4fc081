//! The fast engine: a scenario as discrete events over the pure cores, without turmoil,
//! tokio or sockets.
//!
//! The same parts decide as under turmoil: each Redis-facing pool is a `pool_core::Pool`
//! (the profile and knobs of the scenario), the server is the `fake_redis::Engine` (real RESP
//! bytes in and out, its cron at `hz`), the request path is the runner's (same load generator
//! streams, same handlers, same RPC between tiers, same books, same checks and report through
//! [`crate::runner`]'s tally). What turmoil's hosts did with tasks and sockets is done here
//! by hand, as the async shells do it:
//!
//! - **time** jumps from event to event. Every timer fires at the first tick (`tick_ms`) at or
//!   after its instant, as a turmoil sleep does, so that both engines see the same instants;
//!   a message takes `link_latency_ms` one way. Events at one instant run in the order they
//!   were scheduled (timeline events first, callers' deadlines last, as `timeout_at` polls
//!   its future before its timer).
//! - **connections** (`net`) are two message queues: the client's side does what the pool's
//!   Redis manager does (connect, `AUTH`, `PING`, a peek that sees EOF or unread bytes, one
//!   command at a time, a 1 s PING check, a 5 s bound on a connect), the server's side what
//!   the fake's shell does (read a batch, execute it, wait for the handshake and the command
//!   latency, write, close on the engine's word).
//! - **pools** (`pools`) are fed and drained as `crates/pool`'s driver feeds them: connects,
//!   checks, grants, rejects, closes and its timer.
//! - **requests** (`app`): the load, each tier's handlers, the calls between tiers, a
//!   client's retries (in place too, redis-py #3874) and what it does to connections to an
//!   old master.
//! - **a topology** (`topo`): the replicas as more servers, the Sentinel engine with its
//!   timer, its monitoring links and its clients' connections, each pool's discovery (asked
//!   on connect, `+switch-master` followed); a `hang` holds every message to and from the
//!   master until it ends.
//!
//! After every instant with events (a "step"), the tally reads the pools it touched and the
//! server and checks every invariant, as the turmoil runner does after every tick.
//! `docs/architecture.md` lists what this engine models and what only turmoil does.

mod app;
pub(crate) mod explore;
mod net;
mod pools;
mod topo;

use crate::request::{Requests, Shared};
use crate::runner::{PoolReading, Run, RunOptions, ServerControl, Tally, Timeline};
use crate::scenario::{Scenario, ScenarioError};
use crate::trace::Trace;
use fake_redis::{ClientId, Engine, ServerConfig};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `scenario` on the fast engine with this project's pool (its profile and knobs).
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Run, ScenarioError> {
    run_with_stats(scenario, opts).map(|(run, _)| run)
}

/// Whether the fast engine can run `scenario`: every scenario this project's pool runs, a
/// topology (replicas, a Sentinel, every client discovery) and a `hang` included
/// (docs/architecture.md lists what each engine models). Kept as the one place callers ask,
/// for the day a scenario field is simulated by one engine only: the error names the field.
#[allow(clippy::unnecessary_wraps)]
pub fn supports(scenario: &Scenario) -> Result<(), ScenarioError> {
    let _ = scenario;
    Ok(())
}

/// Whether the exhaustive explorer can scale `scenario` down: what the fast engine runs
/// ([`supports`]), today every scenario. A topology and a hang are explored too
/// (docs/invariants.md says how: the Sentinel's links are not branched on). Kept as the one
/// place callers ask; an error would name the field.
pub fn explorable(scenario: &Scenario) -> Result<(), ScenarioError> {
    supports(scenario)
}

/// What a fast run cost: events handled and steps (instants with events) observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events handled (message deliveries, timers, load and timeline events).
    pub events: u64,
    /// Steps: ticks with at least one event, each followed by every invariant check.
    pub steps: u64,
}

/// [`run`], and what it cost ([`Stats`]; the benchmark's cost per event).
pub fn run_with_stats(
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<(Run, Stats), ScenarioError> {
    scenario.validate()?;
    supports(scenario)?;
    let mut world = World::new(scenario, opts)?;
    world.drive();
    let stats = Stats {
        events: world.events,
        steps: world.tally.step,
    };
    Ok((world.tally.finish(Vec::new()), stats))
}

/// Something that happens at an instant.
#[derive(Clone, Debug, Hash)]
enum Ev {
    /// Timeline events are due.
    Timeline,
    /// Server `.0`'s cron timer.
    ServerCron(usize),
    /// The Sentinel's timer (`topo`).
    SentinelTimer,
    /// A connection's SYN reaches the server.
    SynToServer(usize),
    /// Bytes reach the server.
    DataToServer(usize, Vec<u8>),
    /// The client's FIN reaches the server.
    FinToServer(usize),
    /// The server's shell writes its pending batch.
    ServerWrite(usize),
    /// The server's accept reaches the client (the connect completes).
    SynAckToClient(usize),
    /// Bytes reach the client.
    DataToClient(usize, Vec<u8>),
    /// The server's FIN reaches the client.
    FinToClient(usize),
    /// A client operation's time bound (connect 5 s, PING check 1 s), for operation `seq`.
    OpTimeout(usize, u64),
    /// A pool's timer, generation `gen`.
    PoolTimer(usize, u64),
    /// A closed-loop user wakes.
    UserWake(usize),
    /// An open-loop pod's next arrival.
    Arrival(usize),
    /// A handler's hold time is over.
    HoldDone(usize),
    /// A handler's retry back-off is over.
    BackoffDone(usize),
    /// A first-tier request's deadline.
    TopDeadline(usize),
    /// Pool `.0`'s client (re)opens its `+switch-master` subscription (`topo`).
    Subscribe(usize),
    /// A handler's deadline for its call to the next tier.
    CallDeadline(usize),
    /// An RPC connection's SYN reaches the callee, then its accept the caller.
    RpcSyn(usize),
    RpcSynAck(usize),
    /// A request reaches the callee pod of link `.0`.
    RpcRequest(usize, u64),
    /// An answer reaches the caller pod of link `.0`.
    RpcAnswer(usize, u64, Result<(), crate::report::ErrorKind>),
}

/// Same-instant order: timeline events first, then messages arriving, then timers, callers'
/// deadlines last (a step of turmoil delivers what the links carry before the hosts' timers
/// run, and `timeout_at` polls its future before its timer).
const FIRST: u8 = 0;
const NET: u8 = 1;
const TIMER: u8 = 2;
const LAST: u8 = 3;

/// The pending events: for each (instant, order class), its events in the order they were
/// scheduled. A calendar of instants rather than a heap of events: many events share an
/// instant (a tick, a millisecond), and moving an event costs nothing.
#[derive(Clone, Debug, Default)]
struct Queue {
    at: BTreeMap<(u64, u8), VecDeque<Ev>>,
    /// Emptied lists, kept for reuse (no allocation per instant).
    spare: Vec<VecDeque<Ev>>,
}

impl Queue {
    fn push(&mut self, t: u64, prio: u8, ev: Ev) {
        match self.at.get_mut(&(t, prio)) {
            Some(list) => list.push_back(ev),
            None => {
                let mut list = self.spare.pop().unwrap_or_default();
                list.push_back(ev);
                self.at.insert((t, prio), list);
            }
        }
    }

    /// Puts `evs` (in their order) before every event already at `(t, prio)`.
    fn push_front_all(&mut self, t: u64, prio: u8, evs: Vec<Ev>) {
        for ev in evs.into_iter().rev() {
            match self.at.get_mut(&(t, prio)) {
                Some(list) => list.push_front(ev),
                None => {
                    let mut list = self.spare.pop().unwrap_or_default();
                    list.push_back(ev);
                    self.at.insert((t, prio), list);
                }
            }
        }
    }

    /// The instant of the next event.
    fn next_time(&self) -> Option<u64> {
        self.at.first_key_value().map(|(&(t, _), _)| t)
    }

    /// The next event if it is at or before `until`.
    fn pop_until(&mut self, until: u64) -> Option<(u64, Ev)> {
        let mut entry = self.at.first_entry()?;
        let t = entry.key().0;
        if t > until {
            return None;
        }
        let ev = entry.get_mut().pop_front()?;
        if entry.get().is_empty() {
            self.spare.push(entry.remove());
        }
        Some((t, ev))
    }
}

/// Work done at the current instant after the event that caused it (what a spawned task
/// does when the runtime gets to it).
#[derive(Clone, Debug, Hash)]
enum Soon {
    /// A pool granted `conn` to handler `h`.
    Grant(usize, pool_core::ConnId),
    /// A pool refused handler `h`.
    Reject(usize, pool_core::RejectReason),
    /// A check finished.
    CheckDone(usize, pool_core::ConnId, bool),
    /// A handler ended.
    HandlerDone(usize, Result<(), crate::report::ErrorKind>),
    /// A command could not be sent (the connection is unusable).
    CmdFailed(usize, net::Failure),
    /// Pool `.0`'s client learned of another master: it evicts its idle connections to the
    /// old one (`topo`).
    Evict(usize),
    /// ... and, with `drop_all`, closes the ones in use (their commands fail, their holders
    /// go on without them).
    DropInUse(usize),
}

/// One Redis server's host (the master is the first; a topology's replicas follow): the
/// engine and what the shell adds.
#[derive(Clone, Debug)]
struct Server {
    /// Its host name (`redis`, `redis-replica-1`, ...), as the trace names it.
    host: String,
    engine: Engine,
    connect_latency_us: u64,
    /// Client id -> connection.
    by_client: BTreeMap<ClientId, usize>,
    /// The instant its cron timer is armed for.
    cron_at: Option<u64>,
    /// A `hang` holds every message to and from this host (turmoil's `hold` between it and
    /// every other host) ...
    hung: bool,
    /// ... and these are the messages held, in the order they would have arrived: delivered
    /// when the hang ends (TCP retransmits them), before anything sent later.
    held: Vec<Ev>,
}

impl Server {
    fn new(host: &str, s: &Scenario) -> Self {
        let mut engine = Engine::new(ServerConfig {
            timeout_secs: s.server.timeout_secs,
            maxclients: s.server.maxclients,
            hz: s.server.hz,
            requirepass: s.server.requirepass.clone(),
            ..ServerConfig::default()
        });
        engine.set_reply_latency(Duration::from_millis(s.server.command_latency_ms));
        Self {
            host: host.to_owned(),
            engine,
            connect_latency_us: s.server.connect_latency_ms * 1000,
            by_client: BTreeMap::new(),
            cron_at: None,
            hung: false,
            held: Vec::new(),
        }
    }
}

impl ServerControl for Server {
    fn restart(&mut self) {
        self.engine.restart();
    }
    fn kill_all_clients(&mut self) {
        self.engine
            .kill_all_clients(fake_redis::engine::CloseReason::KillAll);
    }
    fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.engine.config_set(name, value)
    }
    fn refuse_connections(&mut self, on: bool) {
        self.engine.set_refuse_connections(on);
    }
    fn set_readonly(&mut self, on: bool) {
        self.engine.set_readonly(on);
    }
    fn set_command_latency(&mut self, ms: u64) {
        self.engine.set_reply_latency(Duration::from_millis(ms));
    }
    fn set_connect_latency(&mut self, ms: u64) {
        self.connect_latency_us = ms * 1000;
    }
    fn stall(&mut self, now_ms: u64, ms: u64) {
        self.engine
            .stall(Duration::from_millis(now_ms), Duration::from_millis(ms));
    }
    fn set_role(&mut self, role: fake_redis::Role) {
        self.engine.set_role(role);
    }
    fn hang(&mut self, on: bool) {
        // The world releases what was held after the timeline's events (`Ev::Timeline`).
        self.hung = on;
    }
}

/// The master as the timeline drives it: its server, and the Sentinel that a
/// `sentinel_failover` event goes to.
struct Master<'w> {
    server: &'w mut Server,
    sentinel: Option<&'w mut topo::SentinelRt>,
    now_us: u64,
}

impl ServerControl for Master<'_> {
    fn restart(&mut self) {
        self.server.restart();
    }
    fn kill_all_clients(&mut self) {
        self.server.kill_all_clients();
    }
    fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.server.config_set(name, value)
    }
    fn refuse_connections(&mut self, on: bool) {
        self.server.refuse_connections(on);
    }
    fn set_readonly(&mut self, on: bool) {
        self.server.set_readonly(on);
    }
    fn set_command_latency(&mut self, ms: u64) {
        self.server.set_command_latency(ms);
    }
    fn set_connect_latency(&mut self, ms: u64) {
        self.server.set_connect_latency(ms);
    }
    fn stall(&mut self, now_ms: u64, ms: u64) {
        self.server.stall(now_ms, ms);
    }
    fn set_role(&mut self, role: fake_redis::Role) {
        self.server.set_role(role);
    }
    fn hang(&mut self, on: bool) {
        self.server.hang(on);
    }
    fn sentinel_failover(&mut self, _now_ms: u64) -> Option<Result<(), String>> {
        // The Sentinel's clock is the world's, in µs (the timeline's events run at a tick).
        let now = Duration::from_micros(self.now_us);
        self.sentinel.as_mut().map(|sn| sn.failover(now))
    }
}

/// The whole simulated system.
struct World<'a> {
    s: &'a Scenario,
    tick_us: u64,
    link_us: u64,
    now: u64,
    queue: Queue,
    /// Events handled.
    events: u64,
    soon: VecDeque<Soon>,
    tally: Tally,
    timeline: Timeline,
    /// The master (`servers[0]`), then a topology's replicas.
    servers: Vec<Server>,
    /// A topology's Sentinel, its links and what it published.
    sentinel: Option<topo::SentinelRt>,
    /// What the runner watches of a topology (split-brain writes, switches, the replicas'
    /// invariants): the same watcher as turmoil's.
    watch: crate::runner::TopologyWatch,
    tcps: Vec<Option<net::Tcp>>,
    /// The connections that are (or were) Sentinel links (`tcps` indices are never reused):
    /// the explorer delivers their messages without branching (`explore`).
    link_tcps: std::collections::BTreeSet<usize>,
    pools: Vec<pools::PoolRt>,
    app: app::App,
    shared: Arc<Shared>,
    /// A bug planted in this world's shells (the explorer's tests; never in a run).
    plant: Option<explore::Plant>,
}

impl<'a> World<'a> {
    fn new(s: &'a Scenario, opts: &RunOptions) -> Result<Self, ScenarioError> {
        let mut requests = Requests::new();
        requests.stop_on = opts.stop_on_errors.clone();
        let shared = Arc::new(Shared {
            scenario: Arc::new(s.clone()),
            trace: Trace::new(opts.keep_trace),
            pools: Mutex::new(Vec::new()),
            requests: Mutex::new(requests),
            handlers: AtomicU64::new(0),
            refusals_seen: Arc::new(AtomicU64::new(0)),
            runner_now_us: AtomicU64::new(0),
        });
        let mut servers = vec![Server::new(crate::runner::REDIS_HOST, s)];
        let replicas = s.server.topology.as_ref().map_or(0, |t| t.replicas);
        for i in 1..=replicas {
            let mut replica = Server::new(&crate::scenario::Topology::replica_host(i), s);
            replica.engine.set_role(fake_redis::Role::Replica {
                host: crate::runner::REDIS_HOST.to_owned(),
                port: crate::runner::REDIS_PORT,
            });
            servers.push(replica);
        }
        let mut w = Self {
            s,
            tick_us: s.tick_ms * 1000,
            // turmoil delivers a message after its latency, at a tick.
            link_us: s.link_latency_ms.div_ceil(s.tick_ms) * s.tick_ms * 1000,
            now: 0,
            queue: Queue::default(),
            events: 0,
            soon: VecDeque::new(),
            tally: Tally::new(s, Arc::clone(&shared), opts),
            timeline: Timeline::new(s),
            servers,
            sentinel: topo::SentinelRt::new(s),
            watch: crate::runner::TopologyWatch::new(s),
            tcps: Vec::new(),
            link_tcps: std::collections::BTreeSet::new(),
            pools: Vec::new(),
            app: app::App::default(),
            shared,
            plant: None,
        };
        w.tally.server_names = w.server_names();
        w.build()?;
        Ok(w)
    }

    /// The first tick at or after `t_us` (the step that instant belongs to).
    fn ceil_tick(&self, t_us: u64) -> u64 {
        t_us.div_ceil(self.tick_us) * self.tick_us
    }

    /// The first whole millisecond at or after `t_us`: when a timer set for `t_us` fires
    /// (tokio's timer wheel has 1 ms slots, inside turmoil's steps too).
    #[allow(clippy::unused_self)]
    fn ceil_ms(&self, t_us: u64) -> u64 {
        t_us.div_ceil(1000) * 1000
    }

    fn at(&mut self, t: u64, prio: u8, ev: Ev) {
        self.queue.push(t, prio, ev);
    }

    /// A timer `after_us` from now, at its tick.
    fn after(&mut self, after_us: u64, ev: Ev) {
        let t = self.ceil_ms(self.now + after_us);
        self.at(t, TIMER, ev);
    }

    /// A message sent now, arriving after the link's latency. As in turmoil, a message is
    /// stamped with the start of the step (tick) it is sent in.
    fn send(&mut self, ev: Ev) {
        let t = self.now / self.tick_us * self.tick_us + self.link_us;
        self.at(t, NET, ev);
    }

    fn trace(&self) -> &Trace {
        &self.shared.trace
    }

    fn schedule_timeline(&mut self) {
        if let Some(ms) = self.timeline.next_due_ms() {
            let t = self.ceil_tick(ms * 1000).max(self.now);
            self.at(t, FIRST, Ev::Timeline);
        }
    }

    /// Arms server `i`'s cron timer for the engine's next timeout.
    fn schedule_cron(&mut self, i: usize) {
        let Some(at) = self.servers[i].engine.poll_timeout() else {
            return;
        };
        let t = self.ceil_ms(u64::try_from(at.as_micros()).unwrap_or(u64::MAX));
        let t = t.max(self.now);
        let now = self.now;
        let sv = &mut self.servers[i];
        if sv.cron_at.is_none_or(|c| c > t || c < now) {
            sv.cron_at = Some(t);
            self.at(t, TIMER, Ev::ServerCron(i));
        }
    }

    fn schedule_crons(&mut self) {
        for i in 0..self.servers.len() {
            self.schedule_cron(i);
        }
    }

    fn drive(&mut self) {
        let panics = crate::panics::Watch::start();
        let s = self.s;
        let drain_end_ms = s.duration_ms + s.drain_limit_ms;
        self.schedule_timeline();
        self.schedule_crons();
        self.sentinel_start();
        self.app_start();
        self.run_soon();
        self.observe(0);
        if self.finished() {
            self.tally.finished = true;
            return;
        }
        loop {
            let Some(t) = self.queue.next_time() else {
                // Nothing will ever happen again and the run has not ended.
                self.tally.drain_limit_passed(drain_end_ms + s.tick_ms);
                break;
            };
            if t / 1000 > drain_end_ms {
                self.tally.fill_samples_before(drain_end_ms + s.tick_ms);
                self.tally.drain_limit_passed(drain_end_ms + s.tick_ms);
                break;
            }
            // One step: every event of the tick (turmoil's step) that ends at `step_end`.
            let step_end = self.ceil_tick(t);
            self.tally.fill_samples_before(step_end / 1000);
            // A panic in the pool, the server or the request path fails the run as it does
            // on turmoil (`sim.panic`, with the seed and the replay command), instead of
            // unwinding out of it. The world is not read again but for the report.
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while let Some((t, ev)) = self.queue.pop_until(step_end) {
                    self.now = t;
                    self.events += 1;
                    self.handle(ev);
                    self.run_soon();
                }
            }));
            if stepped.is_err() {
                let p = panics.take().unwrap_or_else(|| "a panic".to_owned());
                self.tally.violation(
                    "sim.panic",
                    format!("a task panicked: {p}"),
                    self.now / 1000,
                );
                break;
            }
            self.now = step_end;
            self.tally.step += 1;
            self.observe(step_end / 1000);
            if !self.tally.violations.is_empty() || self.tally.stop_requested() {
                break;
            }
            if self.finished() {
                self.tally.finished = true;
                break;
            }
        }
    }

    /// Every load generator done, no request live, no handler running.
    fn finished(&self) -> bool {
        self.app.generators_done()
            && self.shared.handlers.load(Ordering::Relaxed) == 0
            && self.shared.requests().live.is_empty()
    }

    fn observe(&mut self, t_ms: u64) {
        let mut addresses: Vec<_> = (0..self.pools.len())
            .map(|p| self.address_reading(p))
            .collect();
        let readings = self
            .pools
            .iter_mut()
            .zip(addresses.iter_mut())
            .map(|(p, a)| {
                let st = p.pool.state();
                let invariants = std::mem::take(&mut p.dirty)
                    .then(|| pool_core::invariants::check(&p.pool).map_err(|v| v.to_string()));
                (
                    p.label.as_str(),
                    PoolReading {
                        snapshot: crate::adapter::PoolSnapshot {
                            connections: u64::from(st.total),
                            in_use: u64::from(st.in_use),
                            waiters: u64::from(st.waiters),
                        },
                        invariants,
                        connecting: Some(u64::from(st.connecting)),
                        addresses: a.take(),
                        connects: p.connect_limit.map(|l| {
                            let s = p.pool.stats();
                            (
                                crate::adapter::ConnectCounts {
                                    failed: s.connects_failed,
                                    succeeded: s.connects_succeeded,
                                },
                                l,
                            )
                        }),
                    },
                )
            });
        let readings: Vec<_> = readings.collect();
        if self.s.server.topology.is_some() {
            let named = self
                .sentinel
                .as_ref()
                .and_then(topo::SentinelRt::named_master);
            for (i, sv) in self.servers.iter().enumerate() {
                self.watch.server(
                    t_ms,
                    i,
                    &sv.host,
                    &sv.engine,
                    named.as_deref(),
                    &mut self.tally,
                );
            }
            let events = self
                .sentinel
                .as_mut()
                .map(|sn| std::mem::take(&mut sn.unread))
                .unwrap_or_default();
            self.watch.end_step(
                events.iter().map(|(t, channel)| (*t, channel.as_str())),
                &mut self.tally,
            );
        }
        self.tally.observe(t_ms, readings, &self.servers[0].engine);
    }

    fn handle(&mut self, ev: Ev) {
        let Some(ev) = self.hold(ev) else {
            return;
        };
        match ev {
            Ev::Timeline => {
                let t_ms = self.now / 1000;
                let mut master = Master {
                    server: &mut self.servers[0],
                    sentinel: self.sentinel.as_mut(),
                    now_us: self.now,
                };
                self.timeline.apply_due(t_ms, &mut master, &mut self.tally);
                self.server_outputs(0);
                self.sentinel_outputs();
                self.release_held();
                self.schedule_timeline();
                self.schedule_cron(0);
            }
            Ev::ServerCron(i) => {
                if self.servers[i].cron_at == Some(self.now) {
                    self.servers[i].cron_at = None;
                }
                let now = Duration::from_micros(self.now);
                self.servers[i].engine.handle_timeout(now);
                self.server_outputs(i);
                self.schedule_cron(i);
            }
            Ev::SentinelTimer => self.sentinel_timer(),
            Ev::SynToServer(c) => self.syn_to_server(c),
            Ev::DataToServer(c, bytes) => self.data_to_server(c, &bytes),
            Ev::FinToServer(c) => self.fin_to_server(c),
            Ev::ServerWrite(c) => self.server_write(c),
            Ev::SynAckToClient(c) => self.syn_ack_to_client(c),
            Ev::DataToClient(c, bytes) => self.data_to_client(c, &bytes),
            Ev::FinToClient(c) => self.fin_to_client(c),
            Ev::OpTimeout(c, seq) => self.op_timeout(c, seq),
            Ev::PoolTimer(p, generation) => self.pool_timer(p, generation),
            Ev::UserWake(u) => self.user_wake(u),
            Ev::Arrival(pod) => self.arrival(pod),
            Ev::HoldDone(h) => self.hold_done(h),
            Ev::BackoffDone(h) => self.backoff_done(h),
            Ev::TopDeadline(top) => self.top_deadline(top),
            Ev::Subscribe(p) => self.subscribe(p),
            Ev::CallDeadline(h) => self.call_deadline(h),
            Ev::RpcSyn(link) => self.rpc_syn(link),
            Ev::RpcSynAck(link) => self.rpc_syn_ack(link),
            Ev::RpcRequest(link, id) => self.rpc_request(link, id),
            Ev::RpcAnswer(link, id, r) => self.rpc_answer(link, id, r),
        }
    }

    /// `ev` itself, or `None` when it is a message to or from a host that hangs: held until
    /// the hang ends ([`World::release_held`]).
    fn hold(&mut self, ev: Ev) -> Option<Ev> {
        let c = match ev {
            Ev::SynToServer(c)
            | Ev::DataToServer(c, _)
            | Ev::FinToServer(c)
            | Ev::SynAckToClient(c)
            | Ev::DataToClient(c, _)
            | Ev::FinToClient(c) => c,
            _ => return Some(ev),
        };
        let Some(i) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.server) else {
            return Some(ev);
        };
        // The Sentinel's host never hangs (a `hang` is the master's).
        let Some(sv) = self.servers.get_mut(i) else {
            return Some(ev);
        };
        if sv.hung {
            sv.held.push(ev);
            return None;
        }
        Some(ev)
    }

    /// A hang ended: what it held arrives now, in the order it was sent and before anything
    /// due at this instant (each connection keeps its order, as TCP does).
    fn release_held(&mut self) {
        for i in 0..self.servers.len() {
            if self.servers[i].hung || self.servers[i].held.is_empty() {
                continue;
            }
            let held = std::mem::take(&mut self.servers[i].held);
            self.queue.push_front_all(self.now, NET, held);
        }
    }

    fn run_soon(&mut self) {
        while let Some(s) = self.soon.pop_front() {
            match s {
                Soon::Grant(h, conn) => self.granted(h, conn),
                Soon::Reject(h, reason) => self.rejected(h, reason),
                Soon::CheckDone(p, conn, passed) => {
                    let input = if passed {
                        pool_core::Input::CheckPassed { conn }
                    } else {
                        pool_core::Input::CheckFailed { conn }
                    };
                    self.feed(p, input);
                }
                Soon::HandlerDone(h, r) => self.handler_done(h, r),
                Soon::CmdFailed(h, f) => self.command_done(h, Err(f)),
                Soon::Evict(p) => self.evict_stale(p),
                Soon::DropInUse(p) => self.drop_in_use(p),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while an event is handled (here an event planted for a handler that does not
    /// exist) is the run's `sim.panic` at its instant, as on turmoil, not an unwind out of
    /// the run that would lose the seed.
    #[test]
    fn a_panic_while_handling_an_event_is_a_sim_panic_violation() {
        let incident = crate::incidents::by_name("stale-eof").unwrap();
        let s = incident.scenarios(incident.default_seed)[1].clone();
        let opts = RunOptions::default();
        let mut world = World::new(&s, &opts).unwrap();
        world.at(700_000, TIMER, Ev::HoldDone(usize::MAX));
        world.drive();
        let run = world.tally.finish(Vec::new());
        let v = &run.report.invariant_violations[0];
        assert_eq!(v.invariant, "sim.panic", "{v}");
        assert_eq!(v.t_ms, 700, "{v}");
        assert_eq!(v.seed, s.seed);
        assert!(
            v.detail.starts_with("a task panicked: index out of bounds"),
            "{v}"
        );
        assert!(v.detail.contains("(at sims/src/fast/app.rs:"), "{v}");
        assert!(!run.report.expectation_met);
        assert_eq!(run.report.invariant_violations.len(), 1);
    }
}
