//! The runner: a scenario on turmoil with the real parts, stepped one tick at a time with
//! every invariant checked after each step.
//!
//! Hosts: `redis` serves `fake_redis::FakeRedis` (port 6379); each pod of each tier is a host
//! `{tier}-{i}`. The first tier's pods are turmoil *clients*: they generate the load
//! (`request::load`) and end when it is done and their requests have ended. Later tiers are
//! hosts serving `request::rpc` on port 8000. A Redis-facing tier runs each request's
//! commands on one of its pools ([`crate::adapter::PoolUnderTest`]).
//!
//! Each request's handler is a detached task: a caller that gives up at its deadline does not
//! cancel the work below it (a waiter keeps its place in the pool's queue, as in the cascade of
//! seed 002); only a pool that honours deadlines drops it.
//!
//! Between steps the runner applies the server's timeline events, samples the timeline and
//! checks the invariants (`check`); the first violation stops the run.
//!
//! The request path (pods, handlers, load, rpc) is `crate::request`, below this module; the
//! world's names and clock are [`crate::world`] (re-exported here).

use crate::adapter::{CorePoolFactory, PoolFactory, PoolSnapshot};
use crate::check::{Checker, ServerView};
use crate::pools::{self, Knobs, PoolChoice};
use crate::report::{Latency, Metrics, Report, Sample, Violation, Wait};
use crate::request::{Requests, Shared, build_pod, load, lock, rpc};
use crate::scenario::{Event, Scenario, ScenarioError};
use crate::trace::Trace;
pub use crate::world::{REDIS_HOST, REDIS_PORT, RPC_PORT, sim_now_us};
use fake_redis::{ConnEvent, FakeRedis, ServerConfig};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Keep the trace's lines in [`Run::trace`] (the hash is computed either way).
    pub keep_trace: bool,
    /// The command that replays this run, with `{seed}` for the seed (printed with every
    /// violation and failed expectation). `{file}` stands for the scenario's file: a run that
    /// fails writes the scenario to `$POOLSIM_REPLAY_DIR` (default: the system's temporary
    /// directory, `poolsim-replays/`) and puts its path there. The default,
    /// `poolsim run {file} --seed {seed}`, is a command a library user can run.
    pub replay: String,
    /// Stop the run as soon as a request ends with one of these error kinds (a fuzzer that
    /// checks "no request reads EOF" need not run a failing case to its end): at the end of
    /// the step (tick) in which the first one ended. The run's
    /// [`Run::stopped`] says why it stopped; its figures cover the run up to that instant.
    pub stop_on_errors: Vec<crate::report::ErrorKind>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            keep_trace: false,
            replay: "poolsim run {file} --seed {seed}".to_owned(),
            stop_on_errors: Vec::new(),
        }
    }
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The report.
    pub report: Report,
    /// Every value expectations can check.
    pub metrics: Metrics,
    /// The JSON-lines trace (empty unless [`RunOptions::keep_trace`]).
    pub trace: Vec<String>,
    /// Simulation steps taken.
    pub steps: u64,
    /// Why the run stopped before its end, when [`RunOptions::stop_on_errors`] stopped it
    /// (e.g. `request p0/17 ended with eof at 325.130 s`).
    pub stopped: Option<String>,
}

/// Runs `scenario` with this project's pool.
pub fn run(scenario: &Scenario) -> Result<Run, ScenarioError> {
    run_with(scenario, CorePoolFactory, &RunOptions::default())
}

/// Runs `scenario` with the pool `choice`, its knobs mapped or the crate's defaults.
///
/// For this project's pool, [`Knobs::CrateDefaults`] means the `recommended` profile
/// (`ours`) or the named profile without the scenario's overrides (`ours:<profile>`).
pub fn run_pool(
    scenario: &Scenario,
    choice: &PoolChoice,
    knobs: Knobs,
    opts: &RunOptions,
) -> Result<Run, ScenarioError> {
    let s = scenario_for_pool(scenario, choice, knobs);
    match choice {
        PoolChoice::Ours | PoolChoice::OursProfile(_) => {
            run_with(&s, pools::ours::CorePoolFactory, opts)
        }
        PoolChoice::Bb8 => run_with(&s, pools::bb8::Bb8Factory { knobs }, opts),
        PoolChoice::Deadpool => run_with(&s, pools::deadpool::DeadpoolFactory { knobs }, opts),
        PoolChoice::Mobc => run_with(&s, pools::mobc::MobcFactory { knobs }, opts),
        PoolChoice::RedisRs => run_with(
            &s,
            pools::redis_rs::ConnectionManagerFactory { knobs },
            opts,
        ),
    }
}

/// The scenario [`run_pool`] runs: for this project's pool, the Redis-facing tiers' pools as
/// `choice` and `knobs` say; for a real crate, `scenario` itself (its factory maps the
/// knobs).
fn scenario_for_pool(scenario: &Scenario, choice: &PoolChoice, knobs: Knobs) -> Scenario {
    use crate::scenario::PoolSpec;
    let mut s = scenario.clone();
    let redis_tiers = s.tiers.iter_mut().filter(|t| t.calls.is_none());
    match (choice, knobs) {
        (PoolChoice::Ours, Knobs::Mapped) => {}
        (PoolChoice::Ours, Knobs::CrateDefaults) => {
            for t in redis_tiers {
                t.pool = PoolSpec::profile("recommended");
            }
        }
        (PoolChoice::OursProfile(p), Knobs::Mapped) => s = s.with_profile(p),
        (PoolChoice::OursProfile(p), Knobs::CrateDefaults) => {
            for t in redis_tiers {
                t.pool = PoolSpec::profile(p);
            }
        }
        _ => {}
    }
    s
}

/// Runs `scenario` with pools from `factory`.
pub fn run_with<F: PoolFactory>(
    scenario: &Scenario,
    factory: F,
    opts: &RunOptions,
) -> Result<Run, ScenarioError> {
    run_inner(scenario, factory, opts, None)
}

/// A fault planted in the server between simulation steps: called with the server and the
/// simulated time in ms after every step, before the invariants are checked.
pub type ServerFault = Box<dyn FnMut(&FakeRedis, u64)>;

/// Test hook: [`run_with`], with `fault` applied to the server after every step (through
/// [`FakeRedis::with_engine`] it can admit a client past `maxclients`, reset counters, ...).
/// The checkers' own tests (`tests/checkers.rs`) plant the faults each invariant exists to
/// catch with it; a run without a fault is exactly [`run_with`].
pub fn run_with_server_fault<F: PoolFactory>(
    scenario: &Scenario,
    factory: F,
    opts: &RunOptions,
    fault: ServerFault,
) -> Result<Run, ScenarioError> {
    run_inner(scenario, factory, opts, Some(fault))
}

fn run_inner<F: PoolFactory>(
    scenario: &Scenario,
    factory: F,
    opts: &RunOptions,
    fault: Option<ServerFault>,
) -> Result<Run, ScenarioError> {
    scenario.validate()?;
    let s = scenario;
    let drain_end_ms = s.duration_ms + s.drain_limit_ms;
    // Before any host's software exists: a panic in any of their tasks fails the run.
    let panics = crate::panics::Watch::start();
    let mut sim = turmoil::Builder::new()
        .rng_seed(s.seed)
        .tick_duration(Duration::from_millis(s.tick_ms))
        .min_message_latency(Duration::from_millis(s.link_latency_ms))
        .max_message_latency(Duration::from_millis(s.link_latency_ms))
        .simulation_duration(Duration::from_millis(drain_end_ms + 60_000))
        // Explosions open thousands of connections: turmoil panics past its default of 64
        // pending connections on a listener.
        .tcp_capacity(16_384)
        // ... and a pod may hold tens of thousands of connections: every port above 1023.
        .ephemeral_ports(1024..=65535)
        .build();

    let server = serve_redis(&mut sim, REDIS_HOST, s, fake_redis::Role::Master);

    let topology = Topology::build(&mut sim, s);

    let shared = Arc::new(Shared {
        scenario: Arc::new(s.clone()),
        trace: Trace::new(opts.keep_trace),
        pools: Mutex::new(Vec::new()),
        requests: Mutex::new({
            let mut r = Requests::new();
            r.stop_on = opts.stop_on_errors.clone();
            r
        }),
        handlers: AtomicU64::new(0),
        refusals_seen: Arc::new(AtomicU64::new(0)),
        runner_now_us: AtomicU64::new(0),
    });
    let factory = Rc::new(factory);

    // Pods, last tier first (a tier's pods must exist before its callers connect; turmoil
    // resolves names at connect time, so the order only matters for readability).
    let mut pod_index: u32 = 0;
    let mut hosts = Vec::new();
    for (t, tier) in s.tiers.iter().enumerate() {
        for i in 0..tier.instances {
            let host = format!("{}-{i}", tier.name);
            hosts.push(host.clone());
            let global = pod_index;
            pod_index += 1;
            let shared = Arc::clone(&shared);
            let factory = Rc::clone(&factory);
            if t == 0 {
                let host2 = host.clone();
                sim.client(host, async move {
                    let pod = build_pod(&shared, &*factory, t, &host2)?;
                    load::generate(Rc::clone(&pod), global, i).await;
                    // The pod's software must keep running while work it started is in flight
                    // (its pools' tasks live on this host's runtime).
                    while shared.handlers.load(Ordering::Relaxed) > 0 {
                        tokio::time::sleep(Duration::from_millis(s_tick(&shared))).await;
                    }
                    Ok(())
                });
            } else {
                let host2 = host.clone();
                sim.host(host, move || {
                    let shared = Arc::clone(&shared);
                    let factory = Rc::clone(&factory);
                    let host = host2.clone();
                    async move {
                        let pod = build_pod(&shared, &*factory, t, &host)?;
                        rpc::serve(pod).await
                    }
                });
            }
        }
    }

    if topology.sentinel.is_some() {
        hosts.push(crate::world::SENTINEL_HOST.to_owned());
    }
    trace_server_side(&sim, &server, REDIS_HOST, &shared, &hosts);
    for (host, replica) in &topology.replicas {
        trace_server_side(&sim, replica, host, &shared, &hosts);
    }
    if let Some((sentinel, _)) = &topology.sentinel {
        let weak = Arc::downgrade(&shared);
        sentinel.set_event_observer(Some(Arc::new(move |_, channel, message| {
            if let Some(shared) = weak.upgrade() {
                shared
                    .trace
                    .event(
                        shared.now_us(),
                        crate::world::SENTINEL_HOST,
                        "sentinel.event",
                    )
                    .str("channel", channel)
                    .str("message", message)
                    .write();
            }
        })));
    }
    let mut tally = Tally::new(s, shared, opts);
    tally.server_names = std::iter::once(REDIS_HOST.to_owned())
        .chain(topology.replicas.iter().map(|(h, _)| h.clone()))
        .map(|h| (sim.lookup(h.as_str()), h))
        .collect();
    let mut stepper = Stepper {
        tally,
        timeline: Timeline::new(s).with_sentinel(topology.sentinel.clone()),
        server,
        fault,
        panics,
        linked_hosts: {
            let mut h = hosts.clone();
            h.extend(topology.replicas.iter().map(|(r, _)| r.clone()));
            h
        },
        topology,
    };
    stepper.drive(&mut sim, drain_end_ms);
    let findings = stepper.findings();
    Ok(stepper.tally.finish(findings))
}

/// A fake Redis with the scenario's server settings and `role`, served on turmoil host `host`
/// (port 6379): the master, or a replica of a topology.
fn serve_redis(
    sim: &mut turmoil::Sim<'_>,
    host: &str,
    s: &Scenario,
    role: fake_redis::Role,
) -> FakeRedis {
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: s.server.timeout_secs,
        maxclients: s.server.maxclients,
        hz: s.server.hz,
        requirepass: s.server.requirepass.clone(),
        ..ServerConfig::default()
    });
    server.set_latency(Duration::from_millis(s.server.command_latency_ms));
    server.set_connect_latency(Duration::from_millis(s.server.connect_latency_ms));
    if role != fake_redis::Role::Master {
        server.set_role(role);
    }
    let hosted = server.clone();
    sim.host(host, move || {
        let server = hosted.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", REDIS_PORT)).await?;
            server.serve_turmoil(listener).await?;
            Ok(())
        }
    });
    server
}

/// Writes the server's side into the trace: `server.accept`, `server.reject` (maxclients),
/// `server.refuse` (the refuse-connections fault) and `server.close` (with its reason, who
/// decided it, and the idle seconds when the server closed it), each naming the client's
/// address as `host:port`, the address the pool's `request.conn` events give.
fn trace_server_side(
    sim: &turmoil::Sim<'_>,
    server: &FakeRedis,
    server_host: &str,
    shared: &Arc<Shared>,
    hosts: &[String],
) {
    let names: BTreeMap<std::net::IpAddr, String> = hosts
        .iter()
        .map(|h| (sim.lookup(h.as_str()), h.clone()))
        .collect();
    let weak = Arc::downgrade(shared);
    let server_host = server_host.to_owned();
    server.set_conn_observer(Some(Arc::new(move |ev: &ConnEvent| {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let addr = |peer: &std::net::SocketAddr| match names.get(&peer.ip()) {
            Some(h) => format!("{h}:{}", peer.port()),
            None => peer.to_string(),
        };
        let t = shared.now_us();
        let trace = &shared.trace;
        match ev {
            ConnEvent::Accepted { client, peer } => trace
                .event(t, &server_host, "server.accept")
                .num("client", *client)
                .str("addr", &addr(peer))
                .write(),
            ConnEvent::Rejected { peer } => trace
                .event(t, &server_host, "server.reject")
                .str("addr", &addr(peer))
                .str("reason", "max number of clients reached")
                .write(),
            ConnEvent::Refused { peer } => trace
                .event(t, &server_host, "server.refuse")
                .str("addr", &addr(peer))
                .write(),
            ConnEvent::Closed {
                client,
                peer,
                reason,
                by_server,
                idle_secs,
            } => {
                let mut e = trace
                    .event(t, &server_host, "server.close")
                    .num("client", *client)
                    .str("addr", &addr(peer))
                    .str("reason", reason)
                    .str("by", if *by_server { "server" } else { "client" });
                if let (Some(idle), true) = (idle_secs, reason == "idle timeout") {
                    e = e.num("idle_s", *idle);
                }
                e.write();
            }
            _ => {}
        }
    })));
}

fn s_tick(shared: &Shared) -> u64 {
    shared.scenario.tick_ms.max(1)
}

/// What the timeline's events do to a server: the turmoil engine's [`FakeRedis`] and the fast
/// engine's world both implement it, so that both apply the same timeline the same way.
pub(crate) trait ServerControl {
    /// The restart fault (clients dropped, keyspace and counters lost).
    fn restart(&mut self);
    /// Every client closed, nothing written.
    fn kill_all_clients(&mut self);
    /// `CONFIG SET`; the error is Redis's text.
    fn config_set(&mut self, name: &str, value: &str) -> Result<(), String>;
    /// New connections closed at once while on.
    fn refuse_connections(&mut self, on: bool);
    /// Writes answer `-READONLY` while on.
    fn set_readonly(&mut self, on: bool);
    /// Server time per command.
    fn set_command_latency(&mut self, ms: u64);
    /// Time from accepting a connection to its first reply.
    fn set_connect_latency(&mut self, ms: u64);
    /// The stall fault: the server stops for `ms` from `now_ms`.
    fn stall(&mut self, now_ms: u64, ms: u64);
    /// `REPLICAOF` from outside ([`fake_redis::Engine::set_role`]).
    fn set_role(&mut self, role: fake_redis::Role);
    /// Every link to and from the master's host held (`on`) or released.
    fn hang(&mut self, on: bool);
    /// `SENTINEL FAILOVER` to the scenario's Sentinel at `now_ms`, when this control has the
    /// Sentinel (the fast engine's); `None`: it has none here (turmoil's Sentinel is the
    /// timeline's own).
    fn sentinel_failover(&mut self, _now_ms: u64) -> Option<Result<(), String>> {
        None
    }
}

impl ServerControl for FakeRedis {
    fn restart(&mut self) {
        Self::restart(self);
    }
    fn kill_all_clients(&mut self) {
        Self::kill_all_clients(self);
    }
    fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        Self::config_set(self, name, value)
    }
    fn refuse_connections(&mut self, on: bool) {
        Self::refuse_connections(self, on);
    }
    fn set_readonly(&mut self, on: bool) {
        Self::set_readonly(self, on);
    }
    fn set_command_latency(&mut self, ms: u64) {
        self.set_latency(Duration::from_millis(ms));
    }
    fn set_connect_latency(&mut self, ms: u64) {
        Self::set_connect_latency(self, Duration::from_millis(ms));
    }
    fn stall(&mut self, _now_ms: u64, ms: u64) {
        // The shell reads its own clock, which is the simulated one.
        Self::stall(self, Duration::from_millis(ms));
    }
    fn set_role(&mut self, role: fake_redis::Role) {
        Self::set_role(self, role);
    }
    fn hang(&mut self, _on: bool) {
        // The links are the simulation's, not the server's: the stepper applies it
        // (`Linked`).
    }
}

/// The turmoil engine's server as the timeline drives it: the fake's handle, and the
/// `hang` asked for, which the stepper applies to turmoil's links after the events.
struct Linked<'a> {
    server: &'a mut FakeRedis,
    hang: Option<bool>,
}

impl ServerControl for Linked<'_> {
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
        ServerControl::set_command_latency(self.server, ms);
    }
    fn set_connect_latency(&mut self, ms: u64) {
        ServerControl::set_connect_latency(self.server, ms);
    }
    fn stall(&mut self, now_ms: u64, ms: u64) {
        ServerControl::stall(self.server, now_ms, ms);
    }
    fn set_role(&mut self, role: fake_redis::Role) {
        self.server.set_role(role);
    }
    fn hang(&mut self, on: bool) {
        self.hang = Some(on);
    }
}

/// The scenario's server events not applied yet, and what they changed (both engines).
#[derive(Clone)]
pub(crate) struct Timeline {
    /// Timeline events not applied yet, in time order.
    events: std::collections::VecDeque<Event>,
    /// When to switch refuse-connections off after a restart's downtime.
    refuse_off_at_ms: Option<u64>,
    /// When a hang ends.
    hang_off_at_ms: Option<u64>,
    /// The server's latencies now (latency events change them; a spike restores them).
    command_latency_ms: u64,
    connect_latency_ms: u64,
    /// The Sentinel `sentinel_failover` events go to, and the master's name (turmoil, with a
    /// topology; validation refuses the event without one).
    sentinel: Option<(fake_redis::FakeSentinel, String)>,
}

impl Timeline {
    pub(crate) fn new(s: &Scenario) -> Self {
        let mut events: Vec<Event> = s.timeline.clone();
        // Stable: events at the same instant keep their order in the scenario.
        events.sort_by_key(Event::at_ms);
        Self {
            events: events.into(),
            refuse_off_at_ms: None,
            hang_off_at_ms: None,
            command_latency_ms: s.server.command_latency_ms,
            connect_latency_ms: s.server.connect_latency_ms,
            sentinel: None,
        }
    }

    /// Where `sentinel_failover` events go.
    fn with_sentinel(mut self, sentinel: Option<(fake_redis::FakeSentinel, String)>) -> Self {
        self.sentinel = sentinel;
        self
    }

    /// Puts `e` first, to be applied at its instant (the explorer's environment actions,
    /// at the instant it picks).
    pub(crate) fn push_front(&mut self, e: Event) {
        self.events.push_front(e);
    }

    /// When something is next due (ms), if anything is.
    pub(crate) fn next_due_ms(&self) -> Option<u64> {
        [
            self.events.front().map(Event::at_ms),
            self.refuse_off_at_ms,
            self.hang_off_at_ms,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Applies the events due at `t_ms` (server events; load events are the load
    /// generator's, traced here at their instant).
    pub(crate) fn apply_due(
        &mut self,
        t_ms: u64,
        server: &mut impl ServerControl,
        tally: &mut Tally,
    ) {
        if self.refuse_off_at_ms.is_some_and(|at| at <= t_ms) {
            self.refuse_off_at_ms = None;
            server.refuse_connections(false);
        }
        if self.hang_off_at_ms.is_some_and(|at| at <= t_ms) {
            self.hang_off_at_ms = None;
            server.hang(false);
        }
        while self.events.front().is_some_and(|e| e.at_ms() <= t_ms) {
            let Some(e) = self.events.pop_front() else {
                break;
            };
            tally
                .shared
                .trace
                .event(t_ms * 1000, REDIS_HOST, "server.event")
                .str("what", &e.label())
                .write();
            match e {
                Event::Restart { down_ms, .. } => {
                    server.restart();
                    if down_ms > 0 {
                        server.refuse_connections(true);
                        self.refuse_off_at_ms = Some(t_ms + down_ms);
                    }
                }
                Event::KillAllClients { .. } => server.kill_all_clients(),
                Event::ConfigSet { name, value, .. } => {
                    if let Err(err) = server.config_set(&name, &value) {
                        // validate() ran the same parser: cannot happen.
                        tally.violation("scenario.config_set", err, t_ms);
                    }
                }
                Event::RefuseConnections { on, .. } => server.refuse_connections(on),
                Event::ReadOnly { on, .. } => server.set_readonly(on),
                Event::Latency {
                    command_latency_ms,
                    connect_latency_ms,
                    duration_ms,
                    ..
                } => {
                    if let Some(d) = duration_ms {
                        // A spike: both go back to what they are now when it ends.
                        let back = Event::Latency {
                            at_ms: t_ms + d,
                            command_latency_ms: command_latency_ms.map(|_| self.command_latency_ms),
                            connect_latency_ms: connect_latency_ms.map(|_| self.connect_latency_ms),
                            duration_ms: None,
                        };
                        let at = self.events.partition_point(|e| e.at_ms() <= t_ms + d);
                        self.events.insert(at, back);
                    }
                    if let Some(ms) = command_latency_ms {
                        self.command_latency_ms = ms;
                        server.set_command_latency(ms);
                    }
                    if let Some(ms) = connect_latency_ms {
                        self.connect_latency_ms = ms;
                        server.set_connect_latency(ms);
                    }
                }
                Event::Stall { duration_ms, .. } => {
                    server.stall(t_ms, duration_ms);
                    tally.checker.stalled(t_ms, duration_ms);
                }
                Event::Hang { duration_ms, .. } => {
                    server.hang(true);
                    let end = t_ms + duration_ms;
                    self.hang_off_at_ms = Some(self.hang_off_at_ms.map_or(end, |e| e.max(end)));
                }
                Event::ReplicaOf { master, .. } => {
                    server.set_role(match crate::scenario::parse_master(&master) {
                        Ok(Some((host, port))) => fake_redis::Role::Replica { host, port },
                        // validate() refused anything else.
                        _ => fake_redis::Role::Master,
                    });
                }
                Event::SentinelFailover { .. } => {
                    let refused = match &self.sentinel {
                        Some((sentinel, name)) => {
                            // The runner's simulated time: this is called between steps,
                            // outside the Sentinel host's runtime and clock.
                            let now = Duration::from_millis(t_ms);
                            Some(sentinel.with_engine(|s, _| s.failover(now, name)))
                        }
                        None => server.sentinel_failover(t_ms),
                    };
                    if let Some(Err(e)) = refused {
                        tally
                            .shared
                            .trace
                            .event(
                                t_ms * 1000,
                                crate::world::SENTINEL_HOST,
                                "sentinel.failover_refused",
                            )
                            .str("error", &e)
                            .write();
                    }
                }
                Event::IdleGap { .. } | Event::Load { .. } => {}
            }
        }
    }
}

/// One pool as the tally reads it after a step.
#[derive(Default)]
pub(crate) struct PoolReading {
    pub(crate) snapshot: PoolSnapshot,
    /// `Some(Err)` when its invariants are violated; `None` when it was not checked (unchanged).
    pub(crate) invariants: Option<Result<(), String>>,
    /// Connects in flight, when the pool can say.
    pub(crate) connecting: Option<u64>,
    /// For `client.stale_connection`: what the pool's client knows of the master now, the
    /// rule of its profile, and the server address of every connection the pool holds (in
    /// use: `true`). `None` when the client drops nothing or the pool cannot list them.
    pub(crate) addresses: Option<AddressReading>,
    /// For `pool.connect_rate`: the pool's connects so far and what its knobs allow.
    pub(crate) connects: Option<(crate::adapter::ConnectCounts, ConnectLimit)>,
}

/// What `client.stale_connection` reads of one pool.
pub(crate) struct AddressReading {
    /// The master's address the client takes for true now.
    pub(crate) known: Option<(String, u16)>,
    /// What its profile does to connections to an old address.
    pub(crate) rule: crate::client::OnAddressChange,
    /// Every connection's server, and whether it is in use.
    pub(crate) conns: Vec<(std::net::SocketAddr, bool)>,
}

/// What a pool's knobs allow of failed connects in one whole second (`pool.connect_rate`,
/// docs/invariants.md). With a connect back-off whose first delay is `b` ms, at most `c`
/// connects in flight at once (`max_concurrent_connects`, else `max_size`) and steps of
/// `tick` ms, a counted second is a window of `W = 1000 + tick` ms, and the connects that
/// fail in it are at most `c · (⌊W / b⌋ + 2) + (c + 1) · S`, plus `c` more when only
/// `max_size` bounds them, `S` being the connects that succeeded in it: after a failure no
/// connect starts for at least `b` unless a success resets the back-off, so the starts come
/// in at most `⌊W / b⌋ + 1 + S` runs; a run starts at most `c` connects plus one per success
/// (or per close of an established connection, when only `max_size` bounds them: at most
/// `max_size` of those established before the window, and `S`); and up to `c` connects were
/// already in flight when the window began. Without a back-off, or without a bound on
/// connects in flight, the knobs allow any rate: no check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectLimit {
    /// Connects in flight at once.
    pub(crate) c: u64,
    /// Back-off runs in a counted second: `⌊W / b⌋ + 2`.
    pub(crate) runs: u64,
    /// `true` when only `max_size` bounds the connects in flight.
    pub(crate) size_only: bool,
}

impl ConnectLimit {
    /// The bound for `config`, or `None` when its knobs allow any rate.
    pub(crate) fn of(config: &pool_core::Config, tick_ms: u64) -> Option<Self> {
        let b = config.connect_backoff?.initial.as_millis().max(1) as u64;
        let (c, size_only) = match (config.max_concurrent_connects, config.max_size) {
            (Some(m), _) => (u64::from(m), false),
            (None, Some(m)) => (u64::from(m), true),
            (None, None) => return None,
        };
        Some(Self {
            c,
            runs: (1_000 + tick_ms) / b + 2,
            size_only,
        })
    }

    /// Most failed connects in a counted second in which `succeeded` connects succeeded.
    pub(crate) fn most_failed(&self, succeeded: u64) -> u64 {
        let extra = if self.size_only { self.c } else { 0 };
        self.c
            .saturating_mul(self.runs)
            .saturating_add((self.c + 1).saturating_mul(succeeded))
            .saturating_add(extra)
    }
}

/// What the tally remembers of one pool from step to step (the two client invariants).
#[derive(Clone, Default)]
struct PoolTrack {
    /// The master's address its client knew at the last step, and since which step and ms.
    known: Option<(String, u16)>,
    learned_step: u64,
    learned_ms: u64,
    /// The whole second being counted, and the pool's connect counts when it began.
    second: u64,
    at_second: crate::adapter::ConnectCounts,
    last: crate::adapter::ConnectCounts,
}

/// The engine-independent side of a run: invariants after every step, samples, peaks,
/// violations, and the report at the end. The turmoil runner and the fast engine both feed
/// one.
#[derive(Clone)]
pub(crate) struct Tally {
    pub(crate) shared: Arc<Shared>,
    pub(crate) step: u64,
    checker: Checker,
    timeline: Vec<Sample>,
    next_sample_ms: u64,
    pub(crate) violations: Vec<Violation>,
    peak_pool_connections: u64,
    peak_server_clients: u64,
    peak_waiters: u64,
    last: Sample,
    view: ServerView,
    commands_at_duration: Option<u64>,
    /// Connects in flight at the last step, over every pool (`None`: a pool cannot say).
    connecting: Option<u64>,
    /// The whole second of the last step, the server's connects before it began, and the
    /// most connects the server received in one whole second so far.
    connect_second: u64,
    connects_before_second: u64,
    peak_connects_per_sec: u64,
    pub(crate) finished: bool,
    seed: u64,
    replay: String,
    /// What the servers other than the master (replicas) read at the last step, summed: the
    /// report's server figures cover every server, and the master's
    /// `server.rejected_counted` check does not expect to have counted their refusals.
    pub(crate) elsewhere: ServerView,
    /// Metrics only some runs have (a topology's failover figures), set before `finish`.
    pub(crate) extra_metrics: Vec<(&'static str, f64)>,
    /// The servers' addresses by host name (the master and the replicas), to name a
    /// connection's server in `client.stale_connection`.
    pub(crate) server_names: BTreeMap<std::net::IpAddr, String>,
    /// Per pool label, what the client invariants carry from step to step.
    tracks: BTreeMap<String, PoolTrack>,
}

impl Tally {
    pub(crate) fn new(s: &Scenario, shared: Arc<Shared>, opts: &RunOptions) -> Self {
        Self {
            shared,
            step: 0,
            checker: Checker::new(s.server.timeout_secs),
            timeline: Vec::new(),
            next_sample_ms: 0,
            violations: Vec::new(),
            peak_pool_connections: 0,
            peak_server_clients: 0,
            peak_waiters: 0,
            last: Sample::default(),
            view: ServerView::default(),
            commands_at_duration: None,
            connecting: Some(0),
            connect_second: 0,
            connects_before_second: 0,
            peak_connects_per_sec: 0,
            finished: false,
            seed: s.seed,
            replay: opts.replay.replace("{seed}", &s.seed.to_string()),
            elsewhere: ServerView::default(),
            extra_metrics: Vec::new(),
            server_names: BTreeMap::new(),
            tracks: BTreeMap::new(),
        }
    }

    /// Hashes what of the tally decides a later check (the explorer's state key): per pool,
    /// the address its client knows, whether it learned it at this step, the second being
    /// counted and the connects counted in it. Peaks and samples only record.
    pub(crate) fn hash_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        self.tracks.len().hash(h);
        for (label, t) in &self.tracks {
            label.hash(h);
            t.known.hash(h);
            (self.step > t.learned_step).hash(h);
            t.second.hash(h);
            (t.last.failed - t.at_second.failed).hash(h);
            (t.last.succeeded - t.at_second.succeeded).hash(h);
        }
    }

    /// The most pool connections and server clients seen at one step so far.
    pub(crate) fn peaks(&self) -> (u64, u64) {
        (self.peak_pool_connections, self.peak_server_clients)
    }

    /// The master's view and the other servers', summed.
    fn total(&self) -> ServerView {
        let mut t = self.view;
        t.add(&self.elsewhere);
        t
    }

    pub(crate) fn violation(&mut self, invariant: &str, detail: String, t_ms: u64) {
        let v = Violation {
            invariant: invariant.to_owned(),
            detail,
            step: self.step,
            t_ms,
            seed: self.seed,
            replay: self.replay.clone(),
        };
        self.shared
            .trace
            .event(t_ms * 1000, "runner", "run.violation")
            .str("invariant", &v.invariant)
            .str("detail", &v.detail)
            .num("step", v.step)
            .write();
        self.violations.push(v);
    }

    /// Samples the state of the last step at every sample instant before `t_ms` that no
    /// step reached (the fast engine jumps over quiet stretches; the state did not change).
    pub(crate) fn fill_samples_before(&mut self, t_ms: u64) {
        let every = self.shared.scenario.sample_ms;
        while self.next_sample_ms < t_ms && !self.timeline.is_empty() {
            let mut s = self.last;
            s.t_ms = self.next_sample_ms;
            self.timeline.push(s);
            self.next_sample_ms += every;
        }
    }

    /// Reads the pools (`pools`) and the server after a step, samples the timeline, checks
    /// the invariants.
    pub(crate) fn observe<L: AsRef<str>>(
        &mut self,
        t_ms: u64,
        pools: impl IntoIterator<Item = (L, PoolReading)>,
        server: &fake_redis::Engine,
    ) {
        let mut sample = Sample {
            t_ms,
            ..Sample::default()
        };
        let mut connecting = Some(0);
        for (label, r) in pools {
            sample.pool_connections += r.snapshot.connections;
            sample.in_use += r.snapshot.in_use;
            sample.waiters += r.snapshot.waiters;
            connecting = connecting.zip(r.connecting).map(|(a, b)| a + b);
            if let Some(Err(v)) = &r.invariants {
                self.violation("pool.invariants", format!("{}: {v}", label.as_ref()), t_ms);
            }
            self.check_client(label.as_ref(), &r, t_ms);
        }
        self.connecting = connecting;
        let refusals = self
            .shared
            .refusals_seen
            .load(Ordering::Relaxed)
            .saturating_sub(self.elsewhere.rejected);
        let connects_before = self.total().connects;
        match self.checker.check_engine(server, t_ms, refusals) {
            Ok(view) => self.view = view,
            Err((name, detail)) => self.violation(name, detail, t_ms),
        }
        if t_ms / 1000 != self.connect_second {
            self.connect_second = t_ms / 1000;
            self.connects_before_second = connects_before;
        }
        self.peak_connects_per_sec = self
            .peak_connects_per_sec
            .max(self.total().connects - self.connects_before_second);
        sample.server_clients = self.total().clients;
        let e2e = {
            let mut r = self.shared.requests();
            sample.errors = r.errors_so_far();
            std::mem::take(&mut r.violations)
        };
        for (name, detail, t_us) in e2e {
            self.violation(&name, detail, t_us / 1000);
        }
        self.peak_pool_connections = self.peak_pool_connections.max(sample.pool_connections);
        self.peak_server_clients = self.peak_server_clients.max(sample.server_clients);
        self.peak_waiters = self.peak_waiters.max(sample.waiters);
        if self.commands_at_duration.is_none() && t_ms >= self.shared.scenario.duration_ms {
            self.commands_at_duration = Some(self.total().commands);
        }
        if t_ms >= self.next_sample_ms {
            self.timeline.push(sample);
            let every = self.shared.scenario.sample_ms;
            self.next_sample_ms = (t_ms / every + 1) * every;
        }
        self.last = sample;
    }

    /// The client invariants of one pool after a step (docs/invariants.md, "Client
    /// invariants"):
    ///
    /// - `client.stale_connection`: once the pool's client has learned the master's address
    ///   (Sentinel's answer to a discovery, or a `+switch-master` it read) at some step, from
    ///   the next step on the pool holds no connection to another address that its profile
    ///   drops: with `drop_all` none at all, with `drop_idle` no idle one (one in use is
    ///   closed when it is released). One step of grace: the close is asked in the step the
    ///   client learns, and a task holding the connection sees it when it next runs.
    /// - `pool.connect_rate`: the connects that fail in one whole second stay within
    ///   [`ConnectLimit::most_failed`].
    fn check_client(&mut self, label: &str, r: &PoolReading, t_ms: u64) {
        if r.addresses.is_none() && r.connects.is_none() {
            return;
        }
        let step = self.step;
        let track = self.tracks.entry(label.to_owned()).or_default();
        let mut found: Vec<(&'static str, String)> = Vec::new();
        if let Some(a) = &r.addresses {
            if track.known != a.known {
                track.known.clone_from(&a.known);
                track.learned_step = step;
                track.learned_ms = t_ms;
            }
            if let Some((host, port)) = track.known.as_ref().filter(|_| step > track.learned_step) {
                let drop_all = a.rule == crate::client::OnAddressChange::DropAll;
                let mut stale: BTreeMap<String, (u64, u64)> = BTreeMap::new();
                for (addr, in_use) in &a.conns {
                    let name = self
                        .server_names
                        .get(&addr.ip())
                        .cloned()
                        .unwrap_or_else(|| addr.ip().to_string());
                    if (name.as_str(), addr.port()) == (host.as_str(), *port)
                        || (*in_use && !drop_all)
                    {
                        continue;
                    }
                    let e = stale.entry(format!("{name}:{}", addr.port())).or_default();
                    if *in_use {
                        e.1 += 1;
                    } else {
                        e.0 += 1;
                    }
                }
                if let Some((old, (idle, in_use))) = stale.into_iter().next() {
                    found.push((
                        "client.stale_connection",
                        format!(
                            "{label}: {idle} idle and {in_use} in-use connections to {old} \
                             kept {} ms after the client learned the master is at \
                             {host}:{port} (on_address_change {})",
                            t_ms - track.learned_ms,
                            if drop_all { "drop_all" } else { "drop_idle" }
                        ),
                    ));
                }
            }
        }
        if let Some((counts, limit)) = r.connects {
            let second = t_ms / 1_000;
            if second != track.second {
                track.second = second;
                track.at_second = track.last;
            }
            track.last = counts;
            let failed = counts.failed - track.at_second.failed;
            let succeeded = counts.succeeded - track.at_second.succeeded;
            let most = limit.most_failed(succeeded);
            if failed > most {
                found.push((
                    "pool.connect_rate",
                    format!(
                        "{label}: {failed} connects failed in second {second} ({succeeded} \
                         succeeded), more than the {most} its knobs allow (connect back-off, \
                         {} connects in flight at most)",
                        limit.c
                    ),
                ));
            }
        }
        for (name, detail) in found {
            self.violation(name, detail, t_ms);
        }
    }

    /// Past the drain limit: a liveness violation, or the harness's own when nothing of the
    /// system is in flight.
    pub(crate) fn drain_limit_passed(&mut self, t_ms: u64) {
        let live = self.shared.requests().live.len();
        let handlers = self.shared.handlers.load(Ordering::Relaxed);
        if live == 0 && handlers == 0 {
            // Nothing of the system is in flight: what did not end is the runner's own load
            // generator, a bug of this harness, not a liveness failure.
            self.violation(
                "runner.load_ended",
                format!(
                    "no request and no handler in flight, but the load generator had not \
                     ended {} ms after the load ended (a bug of the harness)",
                    self.shared.scenario.drain_limit_ms
                ),
                t_ms,
            );
            return;
        }
        self.violation(
            "e2e.liveness",
            format!(
                "{live} requests and {handlers} handlers still in flight {} ms after the load \
                 ended (drain_limit_ms)",
                self.shared.scenario.drain_limit_ms
            ),
            t_ms,
        );
    }

    /// Whether a request ended with an error kind the run stops on.
    pub(crate) fn stop_requested(&self) -> bool {
        self.shared.requests().stopped.is_some()
    }

    /// The end-of-run checks, the report, the verdict, the trace's last line.
    pub(crate) fn finish(mut self, findings: Vec<crate::report::Finding>) -> Run {
        // The last state, sampled whatever the interval.
        if self.timeline.last().map(|s| s.t_ms) != Some(self.last.t_ms) {
            self.timeline.push(self.last);
        }
        let s = self.shared.scenario.clone();
        if self.finished {
            let live = self.shared.requests().live.len();
            if live > 0 {
                self.violation(
                    "e2e.ends_once",
                    format!("{live} requests never ended"),
                    self.last.t_ms,
                );
            }
            // Refusals the server wrote whose client has not read them yet are connects still
            // in flight: at the end, the server may have counted up to that many more than
            // the clients saw (a pool refilling `min_idle` against a full server). Seeing
            // more than it counted is checked after every step.
            let seen = self
                .shared
                .refusals_seen
                .load(Ordering::Relaxed)
                .saturating_sub(self.elsewhere.rejected);
            let in_flight = self.connecting.unwrap_or(u64::MAX);
            if self.view.rejected > seen.saturating_add(in_flight) {
                self.violation(
                    "server.rejected_counted",
                    format!(
                        "at the end clients saw {seen} maxclients refusals, the server counted \
                         {}, with {in_flight} connects in flight",
                        self.view.rejected
                    ),
                    self.last.t_ms,
                );
            }
        }
        let r = self.shared.requests();
        // Quantile `q` in ms (1.0: the maximum). hdrhistogram reports every value, the
        // maximum included, as the top of its bucket: exact below 2.048 ms, at most 0.1% above.
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                0.0
            } else if q >= 1.0 {
                h.max() as f64 / 1000.0
            } else {
                h.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let total = self.total();
        let commands = self.commands_at_duration.unwrap_or(total.commands);
        let mut report = Report {
            scenario: s.name.clone(),
            profile: s.redis_tier().map_or_else(String::new, |t| t.pool.label()),
            seed: s.seed,
            requests: r.started,
            succeeded: r.succeeded,
            errors: r.errors,
            latency_ms: Latency {
                p50: ms(&r.latency, 0.5),
                p90: ms(&r.latency, 0.9),
                p99: ms(&r.latency, 0.99),
                max: ms(&r.latency, 1.0),
            },
            pool_wait_ms: Wait {
                p50: ms(&r.wait, 0.5),
                p99: ms(&r.wait, 0.99),
                max: ms(&r.wait, 1.0),
            },
            waited_fraction: if r.gets == 0 {
                0.0
            } else {
                r.waited as f64 / r.gets as f64
            },
            peak_pool_connections: self.peak_pool_connections,
            peak_server_clients: self.peak_server_clients,
            rejected_connections: total.rejected,
            server_ops_per_sec: commands as f64 * 1000.0 / s.duration_ms as f64,
            invariant_violations: self.violations.clone(),
            expectation_met: false,
            verdict: String::new(),
            timeline: std::mem::take(&mut self.timeline),
            trace_hash: String::new(),
            findings,
        };
        let mut metrics = Metrics::of_report(&report);
        metrics.set("final_server_clients", self.last.server_clients as f64);
        metrics.set("final_pool_connections", self.last.pool_connections as f64);
        metrics.set("peak_waiters", self.peak_waiters as f64);
        metrics.set(
            "succeeded_after_last_error",
            r.succeeded_after_last_error as f64,
        );
        metrics.set(
            "first_error_ms",
            r.first_error_us.map_or(0.0, |t| (t / 1000) as f64),
        );
        metrics.set(
            "last_error_ms",
            r.last_error_us.map_or(0.0, |t| (t / 1000) as f64),
        );
        metrics.set("server_idle_closes", total.idle_closes as f64);
        metrics.set("retries", r.retries as f64);
        metrics.set("retries_to_old_master", r.retries_to_old_master as f64);
        metrics.set("leaked_slots", r.leaked_slots as f64);
        metrics.set("server_connects", total.connects as f64);
        metrics.set("peak_connects_per_sec", self.peak_connects_per_sec as f64);
        for (name, v) in &self.extra_metrics {
            metrics.set(name, *v);
        }
        let stopped = r.stopped.clone();
        drop(r);
        let failures: Vec<String> = s
            .expect
            .checks
            .iter()
            .filter_map(|c| c.failure(metrics.get(&c.metric)))
            .collect();
        let outcome = s.expect.outcome;
        report.expectation_met = report.invariant_violations.is_empty()
            && (failures.is_empty() || outcome == crate::scenario::Outcome::Either);
        report.verdict = if let Some(v) = report.invariant_violations.first() {
            format!("invariant violated: {} ({})", v.invariant, v.detail)
        } else if failures.is_empty() {
            let word = match outcome {
                crate::scenario::Outcome::Holds => "held",
                crate::scenario::Outcome::Either if s.expect.checks.is_empty() => "observed",
                _ => "reproduced",
            };
            format!("{word}: {}", metrics.render(&s.expect.signature))
        } else {
            let not = match outcome {
                crate::scenario::Outcome::Reproduces => "NOT reproduced",
                crate::scenario::Outcome::Holds => "did NOT hold",
                crate::scenario::Outcome::Either => "held (the signature is not there)",
            };
            format!("{not}: {}", failures.join("; "))
        };
        if let Some(why) = &stopped {
            report.verdict = format!("{} (run stopped early: {why})", report.verdict);
        }
        if !report.expectation_met && self.replay.contains("{file}") {
            let file = write_replay_file(&s);
            for v in &mut report.invariant_violations {
                v.replay = v.replay.replace("{file}", &file);
            }
            self.replay = self.replay.replace("{file}", &file);
        }
        self.shared
            .trace
            .event(self.last.t_ms * 1000, "runner", "run.end")
            .str("verdict", &report.verdict)
            .num("requests", report.requests)
            .num("steps", self.step)
            .write();
        report.trace_hash = format!("{:016x}", self.shared.trace.hash());
        let lines = self.shared.trace.take();
        Run {
            report,
            metrics,
            trace: lines,
            steps: self.step,
            stopped,
        }
    }
}

/// Writes `s` where a failed library run's replay command can find it: `$POOLSIM_REPLAY_DIR`
/// or the system's temporary directory, `poolsim-replays/<name>-seed<seed>.toml`. Returns the
/// path (or a note that it could not be written, in the command's place).
fn write_replay_file(s: &Scenario) -> String {
    let dir = std::env::var_os("POOLSIM_REPLAY_DIR").map_or_else(
        || std::env::temp_dir().join("poolsim-replays"),
        std::path::PathBuf::from,
    );
    let path = dir.join(format!("{}-seed{}.toml", s.name, s.seed));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, s.to_toml())) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("<scenario file not written: {e}>"),
    }
}

/// The turmoil runner's side of a run: steps, events, what the tally reads.
struct Stepper {
    tally: Tally,
    timeline: Timeline,
    server: FakeRedis,
    /// A planted server fault ([`run_with_server_fault`]).
    fault: Option<ServerFault>,
    /// This thread's panics (every host's tasks run on it): one fails the run, `sim.panic`.
    panics: crate::panics::Watch,
    /// Replicas and the Sentinel, if the scenario has them.
    topology: Topology,
    /// Every host but the master's: the links a `hang` holds.
    linked_hosts: Vec<String>,
}

/// The servers beside the master (a scenario's `server.topology`), and what the runner
/// watches of them after every step.
#[derive(Default)]
struct Topology {
    /// Each replica's host and server.
    replicas: Vec<(String, FakeRedis)>,
    /// The Sentinel and the master's name.
    sentinel: Option<(fake_redis::FakeSentinel, String)>,
    /// Sentinel events read so far.
    events_read: usize,
    /// What is watched of the servers after every step.
    watch: TopologyWatch,
}

/// The Sentinel of `s`'s topology as both engines set it up (monitoring the master `redis`
/// and the replicas `redis-replica-N`, the scenario's `down-after` and failover timeout), and
/// the master's name; `None` without one.
pub(crate) fn sentinel_config(s: &Scenario) -> Option<(fake_redis::SentinelConfig, String)> {
    use fake_redis::sentinel::{Addr, MonitorConfig};
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
    let (timing, tick_ms) = sn.timing();
    let config = fake_redis::SentinelConfig {
        masters: vec![monitor],
        port: crate::world::SENTINEL_PORT,
        timing,
        tick_ms,
        ..fake_redis::SentinelConfig::default()
    };
    Some((config, sn.master_name.clone()))
}

/// What both engines watch of a topology after every step: the replicas' invariants, writes
/// acknowledged by a replica (the `server.replica_write` invariant), split-brain writes, and
/// Sentinel's switches; the report's `failovers`, `first_switch_ms` and
/// `split_brain_writes`.
#[derive(Clone, Debug, Default)]
pub(crate) struct TopologyWatch {
    /// Whether the scenario has a topology (nothing is watched without one).
    on: bool,
    /// The replicas' invariant checkers.
    checkers: Vec<Checker>,
    /// Per server (the master first, then the replicas): writes acknowledged at the last
    /// step (the counter restarts with a restart), and whether it was a replica then.
    last: Vec<(crate::check::Accumulated, bool)>,
    /// The replicas' figures of this step (for the report's server-side totals).
    elsewhere: ServerView,
    /// Writes acknowledged by a server that was a master while Sentinel named another.
    split_brain_writes: u64,
    /// `+switch-master` events seen, and the first one's instant.
    switches: u64,
    first_switch_ms: Option<u64>,
}

impl TopologyWatch {
    /// The watch of `s`'s topology (an idle one without).
    pub(crate) fn new(s: &Scenario) -> Self {
        let Some(t) = &s.server.topology else {
            return Self::default();
        };
        let replicas = t.replicas as usize;
        let mut last = vec![(crate::check::Accumulated::default(), false); 1 + replicas];
        last[1..].iter_mut().for_each(|l| l.1 = true);
        Self {
            on: true,
            checkers: (0..replicas)
                .map(|_| Checker::new(s.server.timeout_secs))
                .collect(),
            last,
            ..Self::default()
        }
    }

    /// After a step, server `i` (0 the master, then the replicas), on host `host`, where
    /// Sentinel names `named` the master: its acknowledged writes and, for a replica, its
    /// invariants. Call for every server, then [`TopologyWatch::end_step`].
    pub(crate) fn server(
        &mut self,
        t_ms: u64,
        i: usize,
        host: &str,
        e: &fake_redis::Engine,
        named: Option<&str>,
        tally: &mut Tally,
    ) {
        if !self.on {
            return;
        }
        if i == 0 {
            self.elsewhere = ServerView::default();
        }
        let writes = e.stats().write_commands_processed;
        let replica = e.role() != &fake_redis::Role::Master;
        // The counter starts again at a restart.
        let (acc, was_replica) = &mut self.last[i];
        let before = acc.total();
        let new = acc.update(writes) - before;
        let was_replica = std::mem::replace(was_replica, replica);
        if new > 0 && replica && was_replica {
            tally.violation(
                "server.replica_write",
                format!("{host}: a replica acknowledged {new} writes"),
                t_ms,
            );
        }
        if new > 0 && !replica && named.is_some_and(|n| n != host) {
            self.split_brain_writes += new;
        }
        if i > 0 {
            match self.checkers[i - 1].check_engine(e, t_ms, 0) {
                Ok(view) => self.elsewhere.add(&view),
                Err((name, detail)) => tally.violation(name, format!("{host}: {detail}"), t_ms),
            }
        }
    }

    /// The part of the watch a future depends on, for the explorer's state key: the
    /// counts a claim bounds and what the next step compares against.
    pub(crate) fn hash_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        (self.split_brain_writes, self.switches).hash(h);
        for (acc, replica) in &self.last {
            (acc.total(), *replica).hash(h);
        }
    }

    /// After every server of a step: the Sentinel's events published since the last step
    /// (`(ms, channel, message)`), and the figures handed to the tally.
    pub(crate) fn end_step<'e>(
        &mut self,
        events: impl IntoIterator<Item = (u64, &'e str)>,
        tally: &mut Tally,
    ) {
        if !self.on {
            return;
        }
        tally.elsewhere = self.elsewhere;
        for (t_ms, channel) in events {
            if channel == "+switch-master" {
                self.switches += 1;
                self.first_switch_ms.get_or_insert(t_ms);
            }
        }
        tally.extra_metrics = vec![
            ("failovers", self.switches as f64),
            ("first_switch_ms", self.first_switch_ms.unwrap_or(0) as f64),
            ("split_brain_writes", self.split_brain_writes as f64),
        ];
    }
}

impl Topology {
    /// Puts the scenario's replicas and Sentinel on hosts of `sim`.
    fn build(sim: &mut turmoil::Sim<'_>, s: &Scenario) -> Self {
        let Some(t) = &s.server.topology else {
            return Self::default();
        };
        let mut topo = Self {
            watch: TopologyWatch::new(s),
            ..Self::default()
        };
        for i in 1..=t.replicas {
            let host = crate::scenario::Topology::replica_host(i);
            let replica_of = fake_redis::Role::Replica {
                host: REDIS_HOST.to_owned(),
                port: REDIS_PORT,
            };
            let server = serve_redis(sim, &host, s, replica_of);
            topo.replicas.push((host, server));
        }
        if let Some((config, master_name)) = sentinel_config(s) {
            let sentinel = fake_redis::FakeSentinel::new(config);
            let h = sentinel.clone();
            sim.host(crate::world::SENTINEL_HOST, move || {
                let sentinel = h.clone();
                async move {
                    let listener =
                        turmoil::net::TcpListener::bind(("0.0.0.0", crate::world::SENTINEL_PORT))
                            .await?;
                    sentinel.serve_turmoil(listener).await?;
                    Ok(())
                }
            });
            topo.sentinel = Some((sentinel, master_name));
        }
        topo
    }

    /// After a step: the replicas' invariants, writes acknowledged by a replica (the
    /// `server.replica_write` invariant), split-brain writes, switches ([`TopologyWatch`]).
    fn observe(&mut self, t_ms: u64, master: &FakeRedis, tally: &mut Tally) {
        if self.replicas.is_empty() && self.sentinel.is_none() {
            return;
        }
        let named = self
            .sentinel
            .as_ref()
            .and_then(|(sn, name)| sn.master_addr(name))
            .map(|a| a.host);
        let servers = std::iter::once((REDIS_HOST, master))
            .chain(self.replicas.iter().map(|(h, s)| (h.as_str(), s)));
        for (i, (host, server)) in servers.enumerate() {
            let watch = &mut self.watch;
            server.with_engine(|e| watch.server(t_ms, i, host, e, named.as_deref(), tally));
        }
        let new = match &self.sentinel {
            Some((sn, _)) => sn.events_since(self.events_read),
            None => Vec::new(),
        };
        self.events_read += new.len();
        self.watch.end_step(
            new.iter()
                .map(|(t, channel, _)| (t.as_millis() as u64, channel.as_str())),
            tally,
        );
    }
}

impl Stepper {
    /// Reads every pool and the server, samples the timeline, checks the invariants.
    fn observe(&mut self, t_ms: u64) {
        let pools: Vec<crate::request::PoolEntry> = lock(&self.tally.shared.pools).clone();
        let readings = pools.iter().map(|p| {
            let pool = &p.pool;
            (
                p.label.clone(),
                PoolReading {
                    snapshot: pool.snapshot(),
                    invariants: Some(pool.check_invariants()),
                    connecting: pool.connects_in_flight(),
                    addresses: p.client.as_ref().and_then(|(d, rule)| {
                        pool.connection_addrs().map(|conns| AddressReading {
                            known: d.known(),
                            rule: *rule,
                            conns,
                        })
                    }),
                    connects: p
                        .connect_limit
                        .zip(pool.connect_counts())
                        .map(|(l, c)| (c, l)),
                },
            )
        });
        let readings: Vec<(String, PoolReading)> = readings.collect();
        let tally = &mut self.tally;
        self.topology.observe(t_ms, &self.server, tally);
        self.server
            .with_engine(|e| tally.observe(t_ms, readings, e));
    }

    fn drive(&mut self, sim: &mut turmoil::Sim<'_>, drain_end_ms: u64) {
        self.observe(0);
        loop {
            let t_ms = sim.elapsed().as_millis() as u64;
            self.tally
                .shared
                .runner_now_us
                .store(sim.elapsed().as_micros() as u64, Ordering::Relaxed);
            let mut linked = Linked {
                server: &mut self.server,
                hang: None,
            };
            self.timeline.apply_due(t_ms, &mut linked, &mut self.tally);
            if let Some(on) = linked.hang {
                for h in &self.linked_hosts {
                    if on {
                        sim.hold(REDIS_HOST, h.as_str());
                    } else {
                        sim.release(REDIS_HOST, h.as_str());
                    }
                }
            }
            let stepped = sim.step();
            // A task that panicked, whether turmoil saw it (a host's own future) or not (a
            // task spawned on a host, which tokio's runtime ends alone).
            if let Some(p) = self.panics.take() {
                let t = sim.elapsed().as_millis() as u64;
                self.tally
                    .violation("sim.panic", format!("a task panicked: {p}"), t);
                break;
            }
            let finished = match stepped {
                Ok(f) => f,
                Err(e) => {
                    let t = sim.elapsed().as_millis() as u64;
                    self.tally.violation("sim.host", e.to_string(), t);
                    break;
                }
            };
            self.tally.step += 1;
            let t_ms = sim.elapsed().as_millis() as u64;
            if let Some(fault) = self.fault.as_mut() {
                fault(&self.server, t_ms);
            }
            self.observe(t_ms);
            if !self.tally.violations.is_empty() || self.tally.stop_requested() {
                break;
            }
            let quiet = self.tally.shared.handlers.load(Ordering::Relaxed) == 0;
            if finished && quiet {
                self.tally.finished = true;
                break;
            }
            if t_ms > drain_end_ms {
                self.tally.drain_limit_passed(t_ms);
                break;
            }
        }
    }

    /// Every pool's findings, one per code (the first pool's detail), in the order of the
    /// pools and of their findings.
    fn findings(&self) -> Vec<crate::report::Finding> {
        let pools: Vec<crate::request::PoolEntry> = lock(&self.tally.shared.pools).clone();
        let mut out: Vec<crate::report::Finding> = Vec::new();
        for crate::request::PoolEntry { label, pool, .. } in &pools {
            for mut f in pool.findings() {
                if out.iter().all(|o| o.code != f.code) {
                    f.detail = format!("{label}: {}", f.detail);
                    out.push(f);
                }
            }
        }
        out
    }
}

impl Run {
    /// Whether the run met its expectation.
    #[must_use]
    pub fn met(&self) -> bool {
        self.report.expectation_met
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server control that records each call with the instant it came at.
    #[derive(Default)]
    struct Calls {
        now_ms: u64,
        seen: Vec<(u64, String)>,
    }

    impl Calls {
        fn note(&mut self, what: String) {
            self.seen.push((self.now_ms, what));
        }
    }

    impl ServerControl for Calls {
        fn restart(&mut self) {
            self.note("restart".into());
        }
        fn kill_all_clients(&mut self) {
            self.note("kill all clients".into());
        }
        fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
            self.note(format!("config set {name} {value}"));
            Ok(())
        }
        fn refuse_connections(&mut self, on: bool) {
            self.note(format!("refuse {on}"));
        }
        fn set_readonly(&mut self, on: bool) {
            self.note(format!("readonly {on}"));
        }
        fn set_command_latency(&mut self, ms: u64) {
            self.note(format!("command latency {ms}"));
        }
        fn set_connect_latency(&mut self, ms: u64) {
            self.note(format!("connect latency {ms}"));
        }
        fn stall(&mut self, now_ms: u64, ms: u64) {
            self.note(format!("stall {now_ms} {ms}"));
        }
        fn set_role(&mut self, role: fake_redis::Role) {
            self.note(format!("role {role:?}"));
        }
        fn hang(&mut self, on: bool) {
            self.note(format!("hang {on}"));
        }
        fn sentinel_failover(&mut self, now_ms: u64) -> Option<Result<(), String>> {
            self.note(format!("sentinel failover {now_ms}"));
            Some(Err("NOGOODSLAVE No suitable replica to promote".into()))
        }
    }

    /// A built-in scenario for the tests that need one (stale-eof's first run).
    fn stale_eof() -> Scenario {
        crate::incidents::by_name("stale-eof").unwrap().scenarios(1)[0].clone()
    }

    /// What `run_pool` runs: this project's pool as the choice and knobs say, on the tiers
    /// that talk to Redis only; a real crate's runs take the scenario as it is.
    #[test]
    fn run_pool_runs_the_scenario_with_the_pool_the_choice_and_knobs_name() {
        use crate::scenario::PoolSpec;
        let mut s = stale_eof();
        let mut front = s.tiers[0].clone();
        front.name = "front".into();
        front.calls = Some(s.tiers[0].name.clone());
        front.pool = PoolSpec::profile("redis-py");
        s.tiers.insert(0, front);
        let own = s.tiers[1].pool.profile.clone();
        assert!(!matches!(own.as_str(), "recommended" | "hikari"), "{own}");
        let profiles = |r: &Scenario| {
            r.tiers
                .iter()
                .map(|t| {
                    (
                        t.pool.profile.clone(),
                        t.pool.overrides == crate::knobs::Overrides::default(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let front = ("redis-py".to_owned(), true);
        let own_knobs = (
            own.clone(),
            s.tiers[1].pool.overrides == crate::knobs::Overrides::default(),
        );
        for (choice, knobs, redis_tier, renamed) in [
            (PoolChoice::Ours, Knobs::Mapped, own_knobs.clone(), false),
            (
                PoolChoice::Ours,
                Knobs::CrateDefaults,
                ("recommended".to_owned(), true),
                false,
            ),
            (
                PoolChoice::OursProfile("hikari".into()),
                Knobs::Mapped,
                ("hikari".to_owned(), true),
                true,
            ),
            (
                PoolChoice::OursProfile("hikari".into()),
                Knobs::CrateDefaults,
                ("hikari".to_owned(), true),
                false,
            ),
            (
                PoolChoice::Bb8,
                Knobs::CrateDefaults,
                own_knobs.clone(),
                false,
            ),
            (
                PoolChoice::Deadpool,
                Knobs::Mapped,
                own_knobs.clone(),
                false,
            ),
        ] {
            let r = scenario_for_pool(&s, &choice, knobs);
            let what = format!("{choice:?} {knobs:?}");
            assert_eq!(profiles(&r), [front.clone(), redis_tier], "{what}");
            if renamed {
                assert_eq!(r.name, format!("{}@hikari", s.name), "{what}");
                assert_eq!(r.expect.outcome, crate::scenario::Outcome::Either, "{what}");
            } else {
                assert_eq!(r.name, s.name, "{what}");
                assert_eq!(r.expect.outcome, s.expect.outcome, "{what}");
            }
        }
    }

    /// The tally's violations as (invariant, detail, ms).
    fn seen(tally: &Tally) -> Vec<(&str, &str, u64)> {
        tally
            .violations
            .iter()
            .map(|v| (v.invariant.as_str(), v.detail.as_str(), v.t_ms))
            .collect()
    }

    /// Admits `n` clients to `server` from fresh ports after `*port`.
    fn accept(server: &mut fake_redis::Engine, n: u32, ms: u64, port: &mut u16) {
        for _ in 0..n {
            *port += 1;
            let peer = std::net::SocketAddr::from(([10, 0, 0, 9], *port));
            let local = std::net::SocketAddr::from(([10, 0, 0, 1], 6379));
            let admitted = server.accept(Duration::from_millis(ms), peer, local);
            assert!(matches!(admitted, fake_redis::Admission::Accepted(_)));
        }
    }

    /// A tally of `s` whose trace is kept, and the trace's owner.
    fn traced_tally(s: &Scenario) -> (Arc<Shared>, Tally) {
        let shared = Arc::new(Shared {
            scenario: Arc::new(s.clone()),
            trace: Trace::new(true),
            pools: Mutex::new(Vec::new()),
            requests: Mutex::new(Requests::new()),
            handlers: AtomicU64::new(0),
            refusals_seen: Arc::new(AtomicU64::new(0)),
            runner_now_us: AtomicU64::new(0),
        });
        let tally = Tally::new(s, Arc::clone(&shared), &RunOptions::default());
        (shared, tally)
    }

    /// A violation is kept with its step, instant and seed, and traced at its instant.
    #[test]
    fn a_violation_is_kept_and_traced_at_its_instant() {
        let s = stale_eof();
        let (shared, mut tally) = traced_tally(&s);
        tally.step = 7;
        tally.violation("server.maxclients", "11 clients".into(), 1_234);
        let v = &tally.violations[0];
        assert_eq!(
            (
                v.invariant.as_str(),
                v.detail.as_str(),
                v.step,
                v.t_ms,
                v.seed
            ),
            ("server.maxclients", "11 clients", 7, 1_234, s.seed)
        );
        let lines = shared.trace.take();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0]
                .starts_with("{\"t_us\":1234000,\"host\":\"runner\",\"event\":\"run.violation\""),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("\"step\":7"), "{}", lines[0]);
    }

    fn reading(
        connections: u64,
        in_use: u64,
        waiters: u64,
        connecting: Option<u64>,
    ) -> PoolReading {
        PoolReading {
            snapshot: PoolSnapshot {
                connections,
                in_use,
                waiters,
            },
            invariants: Some(Ok(())),
            connecting,
            addresses: None,
            connects: None,
        }
    }

    /// `observe` sums the pools into the sample (connections, in use, waiters, connects in
    /// flight, where every pool can say), keeps the peaks, samples every `sample_ms`, counts
    /// the server's connects per whole second, and keeps a violation the request path or a
    /// pool reported at its own instant.
    #[test]
    fn observe_sums_the_pools_and_keeps_peaks_samples_and_violations() {
        let mut s = stale_eof();
        s.sample_ms = 100;
        let (shared, mut tally) = traced_tally(&s);
        let mut server = fake_redis::Engine::new(fake_redis::ServerConfig::default());
        let mut port = 40_000;
        tally.observe(
            0,
            [
                ("a", reading(3, 1, 2, Some(1))),
                ("b", reading(4, 2, 0, Some(2))),
            ],
            &server,
        );
        assert_eq!(tally.connecting, Some(3));
        assert_eq!(
            (
                tally.last.pool_connections,
                tally.last.in_use,
                tally.last.waiters
            ),
            (7, 3, 2)
        );
        // A pool that cannot count its connects in flight: unknown.
        accept(&mut server, 3, 500, &mut port);
        tally.observe(
            500,
            [
                ("a", reading(1, 0, 0, None)),
                ("b", reading(1, 0, 1, Some(0))),
            ],
            &server,
        );
        assert_eq!(tally.connecting, None);
        assert_eq!(tally.last.server_clients, 3);
        assert_eq!(tally.peaks(), (7, 3));
        assert_eq!(tally.peak_waiters, 2);
        // Connects per whole second: 3 in the first, 2 then 2 more in the second.
        accept(&mut server, 2, 1_000, &mut port);
        tally.observe(1_000, [("a", reading(1, 0, 0, Some(0)))], &server);
        assert_eq!(tally.peak_connects_per_sec, 3);
        accept(&mut server, 2, 1_500, &mut port);
        tally.observe(1_500, [("a", reading(1, 0, 0, Some(0)))], &server);
        assert_eq!(tally.peak_connects_per_sec, 4);
        assert_eq!(tally.peaks(), (7, 7));
        // Samples at 0 and at the first step of each later 100 ms.
        let t: Vec<u64> = tally.timeline.iter().map(|x| x.t_ms).collect();
        assert_eq!(t, [0, 500, 1_000, 1_500]);
        // Violations: the request path's at its instant (µs to ms), a pool's by its label.
        shared
            .requests()
            .violations
            .push(("e2e.ends_once".into(), "twice".into(), 1_234_567));
        let mut bad = reading(1, 0, 0, Some(0));
        bad.invariants = Some(Err("size bound".into()));
        tally.observe(1_600, [("p", bad)], &server);
        let got = seen(&tally);
        assert_eq!(
            got,
            [
                ("pool.invariants", "p: size bound", 1_600),
                ("e2e.ends_once", "twice", 1_234)
            ]
        );
    }

    /// `pool.connect_rate` counts the failed and the succeeded connects of each whole second
    /// from the counts at its start, and fires only past the bound (at it, not).
    #[test]
    fn the_connect_rate_counts_each_whole_second_from_its_start() {
        let s = stale_eof();
        let (_shared, mut tally) = traced_tally(&s);
        let server = fake_redis::Engine::new(fake_redis::ServerConfig::default());
        // most_failed(n) = 1 x 3 + 2n.
        let limit = ConnectLimit {
            c: 1,
            runs: 3,
            size_only: false,
        };
        // Second 0: 3 failed and none succeeded, at the bound (no violation), then one
        // success. Second 1 counts from (3, 1): 2 failed, then 4 with 1 success (bound 5),
        // then 7 (past it).
        for (t, failed, succeeded) in [
            (0, 0, 0),
            (500, 3, 0),
            (900, 3, 1),
            (1_000, 5, 1),
            (1_500, 7, 2),
            (1_800, 10, 2),
        ] {
            let mut r = reading(1, 0, 0, Some(0));
            r.connects = Some((crate::adapter::ConnectCounts { failed, succeeded }, limit));
            tally.observe(t, [("p", r)], &server);
        }
        let got = seen(&tally);
        assert_eq!(
            got,
            [(
                "pool.connect_rate",
                "p: 7 connects failed in second 1 (1 succeeded), more than the 5 its knobs allow \
                 (connect back-off, 1 connects in flight at most)",
                1_800
            )]
        );
    }

    /// Past the drain limit: a liveness violation while a request or a handler is in flight,
    /// the harness's own when nothing is.
    #[test]
    fn the_drain_limit_names_what_did_not_end() {
        let s = stale_eof();
        let (shared, mut tally) = traced_tally(&s);
        tally.drain_limit_passed(9_000);
        shared.handlers.store(1, Ordering::Relaxed);
        tally.drain_limit_passed(9_001);
        shared.handlers.store(0, Ordering::Relaxed);
        shared.requests().live.insert(3, 0);
        tally.drain_limit_passed(9_002);
        let got: Vec<(&str, u64)> = tally
            .violations
            .iter()
            .map(|v| (v.invariant.as_str(), v.t_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("runner.load_ended", 9_000),
                ("e2e.liveness", 9_001),
                ("e2e.liveness", 9_002)
            ]
        );
        assert!(
            tally.violations[1]
                .detail
                .starts_with("0 requests and 1 handlers still in flight")
        );
        assert!(
            tally.violations[2]
                .detail
                .starts_with("1 requests and 0 handlers still in flight")
        );
    }

    /// A finished run with a request that never ended reports it (`e2e.ends_once`).
    #[test]
    fn a_request_live_at_the_end_of_a_finished_run_is_a_violation() {
        let s = stale_eof();
        let (shared, mut tally) = traced_tally(&s);
        tally.finished = true;
        shared.requests().live.insert(3, 0);
        let run = tally.finish(Vec::new());
        let v: Vec<(&str, &str)> = run
            .report
            .invariant_violations
            .iter()
            .map(|v| (v.invariant.as_str(), v.detail.as_str()))
            .collect();
        assert_eq!(v, [("e2e.ends_once", "1 requests never ended")]);
    }

    /// A run that fails writes its scenario where its replay command points (`{file}`); a
    /// run that passes writes nothing.
    #[test]
    fn a_failed_run_writes_its_scenario_for_its_replay_command_and_a_passing_one_does_not() {
        let path = |s: &Scenario| {
            std::env::var_os("POOLSIM_REPLAY_DIR")
                .map_or_else(
                    || std::env::temp_dir().join("poolsim-replays"),
                    std::path::PathBuf::from,
                )
                .join(format!("{}-seed{}.toml", s.name, s.seed))
        };
        let mut s = stale_eof();
        s.expect = crate::scenario::Expectation {
            outcome: crate::scenario::Outcome::Either,
            checks: vec![],
            signature: "{errors.total} errors".into(),
        };
        s.name = "runner-unit-replay-passes".into();
        let _ = std::fs::remove_file(path(&s));
        let (_, tally) = traced_tally(&s);
        let run = tally.finish(Vec::new());
        assert!(run.report.expectation_met, "{}", run.report.verdict);
        assert!(!path(&s).exists());

        s.name = "runner-unit-replay-fails".into();
        let _ = std::fs::remove_file(path(&s));
        let (_, mut tally) = traced_tally(&s);
        tally.violation("server.maxclients", "11 clients".into(), 5);
        let run = tally.finish(Vec::new());
        assert!(!run.report.expectation_met);
        let replay = &run.report.invariant_violations[0].replay;
        let file = path(&s);
        assert!(
            replay.starts_with(&format!("poolsim run {} --seed", file.display())),
            "{replay}"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("runner-unit-replay-fails"), "{text}");
        let _ = std::fs::remove_file(file);
    }

    /// The tally's part of the explorer's key: per pool, the address its client knows,
    /// whether it learned it at this step, the second being counted and the connects counted
    /// in it, not the totals those are counted from.
    #[test]
    fn the_tallys_key_reads_what_a_later_check_depends_on() {
        let key = |t: &Tally| crate::fast::explore::key_of(|h| t.hash_key(h));
        let counts = |failed, succeeded| crate::adapter::ConnectCounts { failed, succeeded };
        let s = stale_eof();
        let (_shared, mut a) = traced_tally(&s);
        a.step = 5;
        a.tracks.insert(
            "p".into(),
            PoolTrack {
                known: Some(("10.0.0.1".into(), 6379)),
                learned_step: 3,
                learned_ms: 100,
                second: 2,
                at_second: counts(4, 6),
                last: counts(5, 9),
            },
        );
        let base = key(&a);
        let with = |change: &dyn Fn(&mut PoolTrack)| {
            let mut b = a.clone();
            change(b.tracks.get_mut("p").unwrap());
            key(&b)
        };
        // The same counts within the second from other totals, learned at another earlier
        // step or instant: the same key.
        assert_eq!(
            with(&|t| {
                t.at_second = counts(14, 16);
                t.last = counts(15, 19);
            }),
            base
        );
        assert_eq!(with(&|t| t.learned_step = 4), base);
        assert_eq!(with(&|t| t.learned_ms = 7), base);
        // Anything else: another key.
        for (what, k) in [
            ("learned at this step", with(&|t| t.learned_step = 5)),
            ("another address", with(&|t| t.known = None)),
            ("another second", with(&|t| t.second = 3)),
            ("one more failed", with(&|t| t.last.failed += 1)),
            ("one more succeeded", with(&|t| t.last.succeeded += 1)),
        ] {
            assert_ne!(k, base, "{what}");
        }
        let mut b = a.clone();
        let track = b.tracks["p"].clone();
        b.tracks.insert("q".into(), track);
        assert_ne!(key(&b), base, "another pool");
    }

    /// The watch's part of the explorer's key: the counts a claim bounds (split-brain
    /// writes, switches) and what the next step compares against (each server's role).
    /// No search of the tests tells a key without them apart (the engines' counters and
    /// claims that stop at the first split-brain write carry the same), so it is pinned here.
    #[test]
    fn the_watchs_key_reads_the_counts_a_claim_bounds_and_each_servers_role() {
        let key = |w: &TopologyWatch| crate::fast::explore::key_of(|h| w.hash_key(h));
        let s = crate::incidents::by_name("failover").unwrap().scenarios(1)[0].clone();
        let watch = TopologyWatch::new(&s);
        let base = key(&watch);
        let changed: [fn(&mut TopologyWatch); 3] = [
            |w| w.split_brain_writes += 1,
            |w| w.switches += 1,
            |w| w.last[1].1 = !w.last[1].1,
        ];
        for (i, change) in changed.iter().enumerate() {
            let mut w = watch.clone();
            change(&mut w);
            assert_ne!(key(&w), base, "change {i}");
        }
        let mut w = watch.clone();
        w.first_switch_ms = Some(5);
        assert_eq!(key(&w), base, "the first switch's instant only reports");
    }

    /// The topology watch sums every replica's figures of a step (the master's are the
    /// tally's own): with two replicas, both.
    #[test]
    fn the_topology_watch_sums_every_replica() {
        let mut s = crate::incidents::by_name("failover").unwrap().scenarios(1)[0].clone();
        s.server.topology.as_mut().unwrap().replicas = 2;
        let (_shared, mut tally) = traced_tally(&s);
        let mut watch = TopologyWatch::new(&s);
        let mut port = 40_000;
        let engines: Vec<fake_redis::Engine> = [1, 2, 3]
            .into_iter()
            .map(|n| {
                let mut e = fake_redis::Engine::new(fake_redis::ServerConfig::default());
                accept(&mut e, n, 0, &mut port);
                e
            })
            .collect();
        for step in 0..2 {
            for (i, e) in engines.iter().enumerate() {
                watch.server(step * 10, i, &format!("server-{i}"), e, None, &mut tally);
            }
            assert_eq!(watch.elsewhere.clients, 5, "step {step}");
        }
        assert!(tally.violations.is_empty(), "{:?}", tally.violations);
    }

    /// The connect-rate bound of the knobs (the formula in [`ConnectLimit`]'s docs): the
    /// counted second is `1000 + tick` ms, so a back-off of 101 ms fits 10 runs in it (and
    /// 9 in a second shortened by the tick), plus 2.
    #[test]
    fn the_connect_limit_follows_its_formula() {
        let backoff = |ms| {
            Some(pool_core::Backoff {
                initial: Duration::from_millis(ms),
                max: Duration::from_secs(1),
            })
        };
        let config = pool_core::Config {
            max_size: Some(9),
            max_concurrent_connects: Some(2),
            connect_backoff: backoff(101),
            ..pool_core::Config::bare()
        };
        let limit = ConnectLimit::of(&config, 10).unwrap();
        assert_eq!(
            limit,
            ConnectLimit {
                c: 2,
                runs: 12,
                size_only: false
            }
        );
        // 2 x 12 runs, plus (2 + 1) per success.
        assert_eq!(limit.most_failed(0), 24);
        assert_eq!(limit.most_failed(5), 39);
        // Only max_size bounds the connects in flight: its connects established before the
        // window are added.
        let size_only = ConnectLimit::of(
            &pool_core::Config {
                max_concurrent_connects: None,
                connect_backoff: backoff(0),
                ..config.clone()
            },
            1,
        )
        .unwrap();
        assert_eq!(
            size_only,
            ConnectLimit {
                c: 9,
                runs: 1_003,
                size_only: true
            }
        );
        assert_eq!(size_only.most_failed(1), 9 * 1_003 + 10 + 9);
        // Without a back-off, or without any bound on connects in flight: any rate.
        let none = pool_core::Config {
            connect_backoff: None,
            ..config.clone()
        };
        assert_eq!(ConnectLimit::of(&none, 1), None);
        let unbounded = pool_core::Config {
            max_size: None,
            max_concurrent_connects: None,
            ..config
        };
        assert_eq!(ConnectLimit::of(&unbounded, 1), None);
    }

    /// Every timeline event reaches the server at its instant, in order, and so does what
    /// an event schedules for later: a latency spike's end (inserted among the events after
    /// it, before a later one), the end of a restart's downtime (none for a restart without
    /// one), the end of a hang. A refused `SENTINEL FAILOVER` is traced at its instant.
    #[test]
    fn timeline_events_reach_the_server_at_their_instants() {
        let mut s = stale_eof();
        s.server.command_latency_ms = 3;
        s.timeline = vec![
            Event::Latency {
                at_ms: 1_000,
                command_latency_ms: Some(50),
                connect_latency_ms: Some(20),
                duration_ms: Some(1_000),
            },
            Event::KillAllClients { at_ms: 1_500 },
            Event::ConfigSet {
                at_ms: 2_500,
                name: "timeout".into(),
                value: "7".into(),
            },
            Event::Restart {
                at_ms: 2_600,
                down_ms: 0,
            },
            Event::Restart {
                at_ms: 2_700,
                down_ms: 100,
            },
            Event::Hang {
                at_ms: 2_900,
                duration_ms: 50,
            },
            Event::SentinelFailover { at_ms: 3_000 },
        ];
        let (shared, mut tally) = traced_tally(&s);
        let mut timeline = Timeline::new(&s);
        let mut calls = Calls::default();
        for t in 0..=3_100 {
            calls.now_ms = t;
            timeline.apply_due(t, &mut calls, &mut tally);
        }
        let want: Vec<(u64, &str)> = vec![
            (1_000, "command latency 50"),
            (1_000, "connect latency 20"),
            (1_500, "kill all clients"),
            (2_000, "command latency 3"),
            (2_000, "connect latency 0"),
            (2_500, "config set timeout 7"),
            (2_600, "restart"),
            (2_700, "restart"),
            (2_700, "refuse true"),
            (2_800, "refuse false"),
            (2_900, "hang true"),
            (2_950, "hang false"),
            (3_000, "sentinel failover 3000"),
        ];
        let got: Vec<(u64, &str)> = calls.seen.iter().map(|(t, w)| (*t, w.as_str())).collect();
        assert_eq!(got, want);
        assert!(tally.violations.is_empty(), "{:?}", tally.violations);
        let refused: Vec<String> = shared
            .trace
            .take()
            .into_iter()
            .filter(|l| l.contains("sentinel.failover_refused"))
            .collect();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].starts_with("{\"t_us\":3000000,") && refused[0].contains("NOGOODSLAVE"),
            "{}",
            refused[0]
        );
    }
}
