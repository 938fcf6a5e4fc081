//! The runner: a scenario on turmoil with the real parts, stepped one tick at a time with
//! every invariant checked after each step.
//!
//! Hosts: `redis` serves `fake_redis::FakeRedis` (port 6379); each pod of each tier is a host
//! `{tier}-{i}`. The first tier's pods are turmoil *clients*: they generate the load
//! ([`crate::load`]) and end when it is done and their requests have ended. Later tiers are
//! hosts serving [`crate::rpc`] on port 8000. A Redis-facing tier runs each request's
//! commands on one of its pools ([`crate::adapter::PoolUnderTest`]).
//!
//! Each request's handler is a detached task: a caller that gives up at its deadline does not
//! cancel the work below it (a waiter keeps its place in the pool's queue, as in the cascade of
//! seed 002); only a pool that honours deadlines drops it.
//!
//! Between steps the runner applies the server's timeline events, samples the timeline and
//! checks the invariants ([`crate::check`]); the first violation stops the run.

use crate::adapter::{CorePoolFactory, Observe, PoolContext, PoolFactory, PoolUnderTest, Reply};
use crate::check::{Checker, ServerView};
use crate::load;
use crate::report::{ErrorKind, Errors, Latency, Metrics, Report, Sample, Violation, Wait};
use crate::rng::Rng;
use crate::rpc;
use crate::scenario::{Command, Event, Retry, Scenario, ScenarioError};
use crate::trace::Trace;
use fake_redis::{ConnEvent, FakeRedis, ServerConfig};
use hdrhistogram::Histogram;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The server's host name and port.
pub const REDIS_HOST: &str = "redis";
/// The server's port.
pub const REDIS_PORT: u16 = 6379;
/// The port pods of called tiers serve on.
pub const RPC_PORT: u16 = 8000;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Keep the trace's lines in [`Run::trace`] (the hash is computed either way).
    pub keep_trace: bool,
    /// The command that replays this run, with `{seed}` for the seed (printed with every
    /// violation and failed expectation).
    pub replay: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            keep_trace: false,
            replay: "sims::run(&scenario.with_seed({seed}))".to_owned(),
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
}

/// Runs `scenario` with this project's pool.
pub fn run(scenario: &Scenario) -> Result<Run, ScenarioError> {
    run_with(scenario, CorePoolFactory, &RunOptions::default())
}

/// Simulated time of the current turmoil host, in microseconds (0 outside a host).
#[must_use]
pub fn sim_now_us() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_micros() as u64)
}

/// What every host and the runner share.
pub(crate) struct Shared {
    pub(crate) scenario: Scenario,
    pub(crate) trace: Trace,
    /// Redis-facing pools, as they are built.
    pools: Mutex<Vec<(String, Arc<dyn Observe>)>>,
    pub(crate) requests: Mutex<Requests>,
    /// Handlers running, at every tier.
    pub(crate) handlers: AtomicU64,
    pub(crate) refusals_seen: Arc<AtomicU64>,
    /// The runner's simulated time (µs) between steps: the instant of what the runner does
    /// outside every host (timeline events), for the server's trace events.
    runner_now_us: AtomicU64,
}

impl Shared {
    /// Simulated time: the current host's, or the runner's between steps.
    pub(crate) fn now_us(&self) -> u64 {
        turmoil::sim_elapsed().map_or_else(
            || self.runner_now_us.load(Ordering::Relaxed),
            |d| d.as_micros() as u64,
        )
    }
}

impl Shared {
    pub(crate) fn requests(&self) -> MutexGuard<'_, Requests> {
        lock(&self.requests)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a host is reported by turmoil; the books stay readable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The books of the run's requests.
pub(crate) struct Requests {
    live: BTreeMap<u64, u64>,
    started: u64,
    errors: Errors,
    succeeded: u64,
    latency: Histogram<u64>,
    wait: Histogram<u64>,
    gets: u64,
    waited: u64,
    retries: u64,
    first_error_us: Option<u64>,
    last_error_us: Option<u64>,
    succeeded_after_last_error: u64,
    /// End-to-end invariant violations seen inside hosts: (invariant, detail, t_us).
    pub(crate) violations: Vec<(String, String, u64)>,
}

impl Requests {
    fn new() -> Self {
        Self {
            live: BTreeMap::new(),
            started: 0,
            errors: Errors::default(),
            succeeded: 0,
            // Bounds: 1 µs to one hour, 3 significant digits; values above are clamped.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            wait: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            gets: 0,
            waited: 0,
            retries: 0,
            first_error_us: None,
            last_error_us: None,
            succeeded_after_last_error: 0,
            violations: Vec::new(),
        }
    }

    fn start(&mut self, id: u64, t_us: u64) {
        self.started += 1;
        if self.live.insert(id, t_us).is_some() {
            self.violations.push((
                "e2e.ends_once".to_owned(),
                format!("request {} started twice", req_label(id)),
                t_us,
            ));
        }
    }

    fn end(&mut self, id: u64, t_us: u64, outcome: Result<(), ErrorKind>) {
        let Some(start) = self.live.remove(&id) else {
            self.violations.push((
                "e2e.ends_once".to_owned(),
                format!("request {} ended twice (or never started)", req_label(id)),
                t_us,
            ));
            return;
        };
        self.latency.saturating_record(t_us - start);
        match outcome {
            Ok(()) => {
                self.succeeded += 1;
                self.succeeded_after_last_error += 1;
            }
            Err(kind) => {
                self.errors.add(kind);
                self.first_error_us.get_or_insert(t_us);
                self.last_error_us = Some(t_us);
                self.succeeded_after_last_error = 0;
            }
        }
    }

    pub(crate) fn record_wait(&mut self, wait_us: u64) {
        self.gets += 1;
        if wait_us > 0 {
            self.waited += 1;
        }
        self.wait.saturating_record(wait_us);
    }

    fn errors_so_far(&self) -> u64 {
        self.errors.total()
    }
}

/// A request id: the pod's global index in the high bits, its counter in the low ones.
pub(crate) fn req_id(pod: u32, n: u64) -> u64 {
    (u64::from(pod) << 40) | n
}

/// `p3/17` for request 17 of the first tier's pod 3.
pub(crate) fn req_label(id: u64) -> String {
    format!("p{}/{}", id >> 40, id & ((1 << 40) - 1))
}

/// What one pod knows: its tier, its pools, its client for the next tier.
pub(crate) struct Pod<P> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tier: usize,
    pub(crate) host: String,
    pools: Vec<(String, Arc<P>)>,
    next: Option<rpc::Client>,
    /// Round-robin over pools for requests arriving from another tier.
    rr: Cell<usize>,
}

impl<P: PoolUnderTest> Pod<P> {
    fn deadline(&self) -> Duration {
        Duration::from_millis(self.shared.scenario.tiers[self.tier].deadline_ms)
    }

    /// Handles one request in this tier, with its own deadline; runs detached.
    pub(crate) async fn handle(
        self: Rc<Self>,
        id: u64,
        pool_hint: Option<usize>,
    ) -> Result<(), ErrorKind> {
        let deadline = Instant::now() + self.deadline();
        let r = match &self.next {
            Some(next) => next.call(id, deadline).await,
            None => {
                let idx = pool_hint.unwrap_or_else(|| {
                    let i = self.rr.get();
                    self.rr.set(i + 1);
                    i
                }) % self.pools.len();
                self.redis_work(id, idx, deadline).await
            }
        };
        if Instant::now() > deadline {
            let s = &self.shared;
            s.trace
                .event(sim_now_us(), &self.host, "request.late")
                .str("req", &req_label(id))
                .str("outcome", outcome_name(r))
                .write();
        }
        r
    }

    async fn redis_work(&self, id: u64, idx: usize, deadline: Instant) -> Result<(), ErrorKind> {
        let s = &self.shared;
        let (label, pool) = &self.pools[idx];
        let mut rng = Rng::stream(s.scenario.seed, id);
        let command = pick_command(&s.scenario, &mut rng);
        let hold = rng.sample(&s.scenario.load.hold);
        let retry = s.scenario.tiers[self.tier].retry;
        let mut attempt = 0;
        loop {
            let asked = Instant::now();
            let got = pool.get(deadline).await;
            let wait_us = asked.elapsed().as_micros() as u64;
            s.requests().record_wait(wait_us);
            let mut conn = match got {
                Ok(c) => c,
                Err(e) => {
                    s.trace
                        .event(sim_now_us(), label, "request.pool_error")
                        .str("req", &req_label(id))
                        .str("error", &e.describe())
                        .num("wait_us", wait_us)
                        .write();
                    return Err(e.kind());
                }
            };
            let mut e = s
                .trace
                .event(sim_now_us(), label, "request.conn")
                .str("req", &req_label(id))
                .num("conn", pool.conn_id(&conn));
            if let Some(port) = pool.conn_local_port(&conn) {
                e = e.str("addr", &format!("{}:{port}", self.host));
            }
            e.num("wait_us", wait_us).write();
            match run_command(s, pool.as_ref(), &mut conn, command, id).await {
                Ok(()) => {
                    if !hold.is_zero() {
                        tokio::time::sleep(hold).await;
                    }
                    pool.release(conn, true);
                    return Ok(());
                }
                Err(e) => {
                    let conn_id = pool.conn_id(&conn);
                    pool.release(conn, !e.breaks_connection());
                    let retrying = attempt == 0
                        && retry == Retry::OnceOnConnectionError
                        && matches!(e, crate::adapter::CmdError::Closed(_));
                    s.trace
                        .event(
                            sim_now_us(),
                            label,
                            if retrying {
                                "request.retry"
                            } else {
                                "request.cmd_error"
                            },
                        )
                        .str("req", &req_label(id))
                        .num("conn", conn_id)
                        .str("error", &e.describe())
                        .write();
                    if retrying {
                        attempt += 1;
                        s.requests().retries += 1;
                        continue;
                    }
                    return Err(e.kind());
                }
            }
        }
    }
}

fn pick_command(s: &Scenario, rng: &mut Rng) -> Command {
    let total: u64 = s.load.mix.iter().map(|m| u64::from(m.weight)).sum();
    let mut x = rng.below(total.max(1));
    for m in &s.load.mix {
        if x < u64::from(m.weight) {
            return m.command;
        }
        x -= u64::from(m.weight);
    }
    s.load.mix[0].command
}

/// Runs a request's command(s) and checks each reply is the one this request asked for.
async fn run_command<P: PoolUnderTest>(
    s: &Shared,
    pool: &P,
    conn: &mut P::Conn,
    command: Command,
    id: u64,
) -> Result<(), crate::adapter::CmdError> {
    let tag = id.to_string();
    let key = format!("req:{tag}");
    let mismatch = |what: &str, got: &Reply| {
        let got = match got {
            Reply::Bulk(Some(b)) => format!("\"{}\"", String::from_utf8_lossy(b)),
            other => format!("{other:?}"),
        };
        s.requests().violations.push((
            "e2e.reply_matches".to_owned(),
            format!("request {} sent {what} and read {got}", req_label(id)),
            sim_now_us(),
        ));
    };
    match command {
        Command::SetGet => {
            let r = pool
                .run(conn, &[b"SET", key.as_bytes(), tag.as_bytes()])
                .await?;
            if r != Reply::Simple("OK".to_owned()) {
                mismatch("SET", &r);
            }
            let r = pool.run(conn, &[b"GET", key.as_bytes()]).await?;
            if r != Reply::Bulk(Some(tag.clone().into_bytes())) {
                mismatch(&format!("GET {key} (expected {tag})"), &r);
            }
        }
        Command::Echo => {
            let r = pool.run(conn, &[b"ECHO", tag.as_bytes()]).await?;
            if r != Reply::Bulk(Some(tag.clone().into_bytes())) {
                mismatch(&format!("ECHO {tag}"), &r);
            }
        }
        Command::Ping => {
            let r = pool.run(conn, &[b"PING"]).await?;
            if r != Reply::Simple("PONG".to_owned()) {
                mismatch("PING", &r);
            }
        }
    }
    Ok(())
}

pub(crate) fn outcome_name(r: Result<(), ErrorKind>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(k) => k.name(),
    }
}

/// One request from the load of the first tier: starts it, runs its handler detached, and
/// waits for the outcome at most the tier's deadline.
pub(crate) async fn request<P: PoolUnderTest>(pod: Rc<Pod<P>>, id: u64, pool_index: usize) {
    let s = Arc::clone(&pod.shared);
    let start = Instant::now();
    let t0 = sim_now_us();
    s.requests().start(id, t0);
    s.trace
        .event(t0, &pod.host, "request.start")
        .str("req", &req_label(id))
        .write();
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn_handler(Rc::clone(&pod), id, Some(pool_index), move |r| {
        let _ = tx.send(r);
    });
    let outcome = match tokio::time::timeout_at(start + pod.deadline(), rx).await {
        Ok(Ok(r)) => r,
        // The handler is gone without an answer: cannot happen (it always sends).
        Ok(Err(_)) => Err(ErrorKind::Other),
        Err(_) => Err(ErrorKind::DeadlineExceeded),
    };
    let t = sim_now_us();
    s.requests().end(id, t, outcome);
    s.trace
        .event(t, &pod.host, "request.end")
        .str("req", &req_label(id))
        .str("outcome", outcome_name(outcome))
        .num("latency_us", start.elapsed().as_micros() as u64)
        .write();
}

/// Spawns a detached handler of `id` in `pod`, counted in [`Shared::handlers`].
pub(crate) fn spawn_handler<P: PoolUnderTest>(
    pod: Rc<Pod<P>>,
    id: u64,
    pool_hint: Option<usize>,
    done: impl FnOnce(Result<(), ErrorKind>) + 'static,
) {
    pod.shared.handlers.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_local(async move {
        let shared = Arc::clone(&pod.shared);
        let r = pod.handle(id, pool_hint).await;
        done(r);
        shared.handlers.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Runs `scenario` with pools from `factory`.
pub fn run_with<F: PoolFactory>(
    scenario: &Scenario,
    factory: F,
    opts: &RunOptions,
) -> Result<Run, ScenarioError> {
    scenario.validate()?;
    let s = scenario;
    let drain_end_ms = s.duration_ms + s.drain_limit_ms;
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

    let server = FakeRedis::new(ServerConfig {
        timeout_secs: s.server.timeout_secs,
        maxclients: s.server.maxclients,
        hz: s.server.hz,
        requirepass: s.server.requirepass.clone(),
        ..ServerConfig::default()
    });
    server.set_latency(Duration::from_millis(s.server.command_latency_ms));
    server.set_connect_latency(Duration::from_millis(s.server.connect_latency_ms));
    let host_server = server.clone();
    sim.host(REDIS_HOST, move || {
        let server = host_server.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", REDIS_PORT)).await?;
            server.serve_turmoil(listener).await?;
            Ok(())
        }
    });

    let shared = Arc::new(Shared {
        scenario: s.clone(),
        trace: Trace::new(opts.keep_trace),
        pools: Mutex::new(Vec::new()),
        requests: Mutex::new(Requests::new()),
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

    trace_server_side(&sim, &server, &shared, &hosts);
    let mut stepper = Stepper::new(s, server, shared, opts);
    stepper.drive(&mut sim, drain_end_ms);
    Ok(stepper.finish())
}

/// Writes the server's side into the trace: `server.accept`, `server.reject` (maxclients),
/// `server.refuse` (the refuse-connections fault) and `server.close` (with its reason, who
/// decided it, and the idle seconds when the server closed it), each naming the client's
/// address as `host:port`, the address the pool's `request.conn` events give.
fn trace_server_side(
    sim: &turmoil::Sim<'_>,
    server: &FakeRedis,
    shared: &Arc<Shared>,
    hosts: &[String],
) {
    let names: BTreeMap<std::net::IpAddr, String> = hosts
        .iter()
        .map(|h| (sim.lookup(h.as_str()), h.clone()))
        .collect();
    let weak = Arc::downgrade(shared);
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
                .event(t, REDIS_HOST, "server.accept")
                .num("client", *client)
                .str("addr", &addr(peer))
                .write(),
            ConnEvent::Rejected { peer } => trace
                .event(t, REDIS_HOST, "server.reject")
                .str("addr", &addr(peer))
                .str("reason", "max number of clients reached")
                .write(),
            ConnEvent::Refused { peer } => trace
                .event(t, REDIS_HOST, "server.refuse")
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
                    .event(t, REDIS_HOST, "server.close")
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

fn build_pod<F: PoolFactory>(
    shared: &Arc<Shared>,
    factory: &F,
    tier: usize,
    host: &str,
) -> Result<Rc<Pod<F::Pool>>, Box<dyn std::error::Error>> {
    let t = &shared.scenario.tiers[tier];
    let mut pools = Vec::new();
    let next = match &t.calls {
        Some(name) => {
            let callee = shared
                .scenario
                .tiers
                .iter()
                .position(|o| &o.name == name)
                .ok_or_else(|| format!("no tier {name}"))?;
            Some(rpc::Client::new(&shared.scenario, callee))
        }
        None => {
            let config = t.pool.config()?;
            for index in 0..t.pools_per_instance {
                let ctx = PoolContext {
                    config: config.clone(),
                    tier: t.name.clone(),
                    host: host.to_owned(),
                    index,
                    server: (REDIS_HOST.to_owned(), REDIS_PORT),
                    password: shared.scenario.server.requirepass.clone(),
                    trace: shared.trace.clone(),
                    refusals_seen: Arc::clone(&shared.refusals_seen),
                };
                let label = ctx.label(t.pools_per_instance);
                let pool = Arc::new(factory.build(&ctx, &label)?);
                lock(&shared.pools).push((label.clone(), Arc::clone(&pool) as Arc<dyn Observe>));
                pools.push((label, pool));
            }
            None
        }
    };
    Ok(Rc::new(Pod {
        shared: Arc::clone(shared),
        tier,
        host: host.to_owned(),
        pools,
        next,
        rr: Cell::new(0),
    }))
}

/// The runner's side of a run: steps, events, samples, invariants.
struct Stepper {
    server: FakeRedis,
    shared: Arc<Shared>,
    step: u64,
    checker: Checker,
    /// Timeline events not applied yet, in time order.
    events: std::collections::VecDeque<Event>,
    /// When to switch refuse-connections off after a restart's downtime.
    refuse_off_at_ms: Option<u64>,
    /// The server's latencies now (latency events change them; a spike restores them).
    command_latency_ms: u64,
    connect_latency_ms: u64,
    timeline: Vec<Sample>,
    next_sample_ms: u64,
    violations: Vec<Violation>,
    peak_pool_connections: u64,
    peak_server_clients: u64,
    peak_waiters: u64,
    last: Sample,
    view: ServerView,
    commands_at_duration: Option<u64>,
    finished: bool,
    seed: u64,
    replay: String,
}

impl Stepper {
    fn new(s: &Scenario, server: FakeRedis, shared: Arc<Shared>, opts: &RunOptions) -> Self {
        let mut events: Vec<Event> = s.timeline.clone();
        // Stable: events at the same instant keep their order in the scenario.
        events.sort_by_key(Event::at_ms);
        Self {
            server,
            shared,
            step: 0,
            checker: Checker::new(s.server.timeout_secs),
            events: events.into(),
            refuse_off_at_ms: None,
            command_latency_ms: s.server.command_latency_ms,
            connect_latency_ms: s.server.connect_latency_ms,
            timeline: Vec::new(),
            next_sample_ms: 0,
            violations: Vec::new(),
            peak_pool_connections: 0,
            peak_server_clients: 0,
            peak_waiters: 0,
            last: Sample::default(),
            view: ServerView::default(),
            commands_at_duration: None,
            finished: false,
            seed: s.seed,
            replay: opts.replay.replace("{seed}", &s.seed.to_string()),
        }
    }

    fn violation(&mut self, invariant: &str, detail: String, t_ms: u64) {
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

    /// Applies the timeline events due at `t_ms` (server events; load events are the load
    /// generator's, traced here at their instant).
    fn apply_events(&mut self, t_ms: u64) {
        if self.refuse_off_at_ms.is_some_and(|at| at <= t_ms) {
            self.refuse_off_at_ms = None;
            self.server.refuse_connections(false);
        }
        while self.events.front().is_some_and(|e| e.at_ms() <= t_ms) {
            let Some(e) = self.events.pop_front() else {
                break;
            };
            self.shared
                .trace
                .event(t_ms * 1000, REDIS_HOST, "server.event")
                .str("what", &e.label())
                .write();
            match e {
                Event::Restart { down_ms, .. } => {
                    self.server.restart();
                    if down_ms > 0 {
                        self.server.refuse_connections(true);
                        self.refuse_off_at_ms = Some(t_ms + down_ms);
                    }
                }
                Event::KillAllClients { .. } => self.server.kill_all_clients(),
                Event::ConfigSet { name, value, .. } => {
                    if let Err(err) = self.server.config_set(&name, &value) {
                        // validate() ran the same parser: cannot happen.
                        self.violation("scenario.config_set", err, t_ms);
                    }
                }
                Event::RefuseConnections { on, .. } => self.server.refuse_connections(on),
                Event::ReadOnly { on, .. } => self.server.set_readonly(on),
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
                        self.server.set_latency(Duration::from_millis(ms));
                    }
                    if let Some(ms) = connect_latency_ms {
                        self.connect_latency_ms = ms;
                        self.server.set_connect_latency(Duration::from_millis(ms));
                    }
                }
                Event::IdleGap { .. } | Event::Load { .. } => {}
            }
        }
    }

    /// Reads every pool and the server, samples the timeline, checks the invariants.
    fn observe(&mut self, t_ms: u64) {
        let pools: Vec<(String, Arc<dyn Observe>)> = lock(&self.shared.pools).clone();
        let mut sample = Sample {
            t_ms,
            ..Sample::default()
        };
        for (label, pool) in &pools {
            let snap = pool.snapshot();
            sample.pool_connections += snap.connections;
            sample.in_use += snap.in_use;
            sample.waiters += snap.waiters;
            if let Err(v) = pool.check_invariants() {
                self.violation("pool.invariants", format!("{label}: {v}"), t_ms);
            }
        }
        let refusals = self.shared.refusals_seen.load(Ordering::Relaxed);
        match self.checker.check(&self.server, t_ms, refusals) {
            Ok(view) => self.view = view,
            Err((name, detail)) => self.violation(name, detail, t_ms),
        }
        sample.server_clients = self.view.clients;
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
            self.commands_at_duration = Some(self.view.commands);
        }
        if t_ms >= self.next_sample_ms {
            self.timeline.push(sample);
            let every = self.shared.scenario.sample_ms;
            self.next_sample_ms = (t_ms / every + 1) * every;
        }
        self.last = sample;
    }

    fn drive(&mut self, sim: &mut turmoil::Sim<'_>, drain_end_ms: u64) {
        self.observe(0);
        loop {
            let t_ms = sim.elapsed().as_millis() as u64;
            self.shared
                .runner_now_us
                .store(sim.elapsed().as_micros() as u64, Ordering::Relaxed);
            self.apply_events(t_ms);
            let finished = match sim.step() {
                Ok(f) => f,
                Err(e) => {
                    let t = sim.elapsed().as_millis() as u64;
                    self.violation("sim.host", e.to_string(), t);
                    break;
                }
            };
            self.step += 1;
            let t_ms = sim.elapsed().as_millis() as u64;
            self.observe(t_ms);
            if !self.violations.is_empty() {
                break;
            }
            let quiet = self.shared.handlers.load(Ordering::Relaxed) == 0;
            if finished && quiet {
                self.finished = true;
                break;
            }
            if t_ms > drain_end_ms {
                let live = self.shared.requests().live.len();
                let handlers = self.shared.handlers.load(Ordering::Relaxed);
                if live == 0 && handlers == 0 {
                    // Nothing of the system is in flight: what did not end is the runner's
                    // own load generator, a bug of this harness, not a liveness failure.
                    self.violation(
                        "runner.load_ended",
                        format!(
                            "no request and no handler in flight, but the load generator had \
                             not ended {} ms after the load ended (a bug of the harness)",
                            self.shared.scenario.drain_limit_ms
                        ),
                        t_ms,
                    );
                    break;
                }
                self.violation(
                    "e2e.liveness",
                    format!(
                        "{live} requests and {handlers} handlers still in flight {} ms after \
                         the load ended (drain_limit_ms)",
                        self.shared.scenario.drain_limit_ms
                    ),
                    t_ms,
                );
                break;
            }
        }
        // The last state, sampled whatever the interval.
        if self.timeline.last().map(|s| s.t_ms) != Some(self.last.t_ms) {
            self.timeline.push(self.last);
        }
    }

    /// Every pool's findings, one per code (the first pool's detail), in the order of the
    /// pools and of their findings.
    fn findings(&self) -> Vec<crate::report::Finding> {
        let pools: Vec<(String, Arc<dyn Observe>)> = lock(&self.shared.pools).clone();
        let mut out: Vec<crate::report::Finding> = Vec::new();
        for (label, pool) in &pools {
            for mut f in pool.findings() {
                if out.iter().all(|o| o.code != f.code) {
                    f.detail = format!("{label}: {}", f.detail);
                    out.push(f);
                }
            }
        }
        out
    }

    fn finish(mut self) -> Run {
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
            let seen = self.shared.refusals_seen.load(Ordering::Relaxed);
            if seen != self.view.rejected {
                self.violation(
                    "server.rejected_counted",
                    format!(
                        "at the end clients saw {seen} maxclients refusals, the server counted {}",
                        self.view.rejected
                    ),
                    self.last.t_ms,
                );
            }
        }
        let r = self.shared.requests();
        // Quantile `q` in ms (1.0: the maximum, exactly as recorded).
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                0.0
            } else if q >= 1.0 {
                h.max() as f64 / 1000.0
            } else {
                h.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let commands = self.commands_at_duration.unwrap_or(self.view.commands);
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
            rejected_connections: self.view.rejected,
            server_ops_per_sec: commands as f64 * 1000.0 / s.duration_ms as f64,
            invariant_violations: self.violations.clone(),
            expectation_met: false,
            verdict: String::new(),
            timeline: std::mem::take(&mut self.timeline),
            trace_hash: String::new(),
            findings: self.findings(),
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
        metrics.set("server_idle_closes", self.view.idle_closes as f64);
        metrics.set("retries", r.retries as f64);
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
        }
    }
}

impl Run {
    /// Whether the run met its expectation.
    #[must_use]
    pub fn met(&self) -> bool {
        self.report.expectation_met
    }
}
