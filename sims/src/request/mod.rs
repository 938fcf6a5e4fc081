//! The request path: pods, their handlers, and the calls between tiers. Below the runner
//! (which builds the world, steps it and reads it): nothing here calls back into it.
//!
//! - this file: what every host and the runner share ([`Shared`], the request books
//!   [`Requests`]), a pod ([`Pod`]: its tier, its pools, its client for the next tier) and a
//!   request's handler (`Pod::handle`: the call to the next tier, or the Redis work on a pool
//!   through [`crate::adapter::PoolUnderTest`]);
//! - [`load`]: the seeded load generator of the first tier's pods;
//! - [`rpc`]: the calls between tiers.

pub(crate) mod client;
pub(crate) mod load;
pub(crate) mod rpc;

/// The stream of a request's retry back-offs: `Rng::stream(seed, BACKOFF_STREAM | id)`.
pub(crate) const BACKOFF_STREAM: u64 = 1 << 62;

use crate::adapter::{Observe, PoolContext, PoolFactory, PoolUnderTest, Reply};
use crate::report::{ErrorKind, Errors};
use crate::rng::Rng;
use crate::scenario::{Command, Retry, Scenario};
use crate::trace::Trace;
use crate::world::{REDIS_HOST, REDIS_PORT, sim_now_us};
use hdrhistogram::Histogram;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// What every host and the runner share.
pub(crate) struct Shared {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) trace: Trace,
    /// Redis-facing pools, as they are built.
    pub(crate) pools: Mutex<Vec<PoolEntry>>,
    pub(crate) requests: Mutex<Requests>,
    /// Handlers running, at every tier.
    pub(crate) handlers: AtomicU64,
    pub(crate) refusals_seen: Arc<AtomicU64>,
    /// The runner's simulated time (µs) between steps: the instant of what the runner does
    /// outside every host (timeline events), for the server's trace events.
    pub(crate) runner_now_us: AtomicU64,
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
    /// A copy that shares nothing with this one (the explorer's fork of a fast world, which
    /// has no observed pools: `pools` is empty there).
    pub(crate) fn fork(&self) -> Self {
        Self {
            scenario: self.scenario.clone(),
            trace: self.trace.fork(),
            pools: Mutex::new(Vec::new()),
            requests: Mutex::new(self.requests().clone()),
            handlers: AtomicU64::new(self.handlers.load(Ordering::Relaxed)),
            refusals_seen: Arc::new(AtomicU64::new(self.refusals_seen.load(Ordering::Relaxed))),
            runner_now_us: AtomicU64::new(self.runner_now_us.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn requests(&self) -> MutexGuard<'_, Requests> {
        lock(&self.requests)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a host is reported by turmoil; the books stay readable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Redis-facing pool as the runner reads it after every step.
#[derive(Clone)]
pub(crate) struct PoolEntry {
    pub(crate) label: String,
    pub(crate) pool: Arc<dyn Observe>,
    /// The pool's client, when it finds the master through Sentinel and its profile drops
    /// connections to an old address (the tier's `client`, not what the pool was built
    /// with), for `client.stale_connection`.
    pub(crate) client: Option<(
        crate::adapter::SentinelTarget,
        crate::client::OnAddressChange,
    )>,
    /// What the tier's pool knobs allow of failed connects, for `pool.connect_rate`.
    pub(crate) connect_limit: Option<crate::runner::ConnectLimit>,
}

/// The books of the run's requests.
#[derive(Clone)]
pub(crate) struct Requests {
    pub(crate) live: BTreeMap<u64, u64>,
    pub(crate) started: u64,
    pub(crate) errors: Errors,
    pub(crate) succeeded: u64,
    /// Shared between copies of the books until one records: cloning stays cheap. (The
    /// explorer's worlds do not record at all: `record_histograms`.)
    pub(crate) latency: Arc<Histogram<u64>>,
    pub(crate) wait: Arc<Histogram<u64>>,
    /// Whether `latency` and `wait` record. The exhaustive explorer turns it off: none of
    /// its checks reads a histogram (a claim on a percentile is set aside as unchecked), and
    /// the first record after a fork copied a whole histogram (184 KiB), a quarter of
    /// the explorer's time.
    pub(crate) record_histograms: bool,
    pub(crate) gets: u64,
    pub(crate) waited: u64,
    pub(crate) retries: u64,
    /// Retries whose reconnect in place reached an address the client no longer took for
    /// the master's (redis-py #3874).
    pub(crate) retries_to_old_master: u64,
    /// Pool slots lost with a connection to an old address (redis-py #4187).
    pub(crate) leaked_slots: u64,
    pub(crate) first_error_us: Option<u64>,
    pub(crate) last_error_us: Option<u64>,
    pub(crate) succeeded_after_last_error: u64,
    /// End-to-end invariant violations seen inside hosts: (invariant, detail, t_us).
    pub(crate) violations: Vec<(String, String, u64)>,
    /// Error kinds that stop the run ([`crate::RunOptions::stop_on_errors`]).
    pub(crate) stop_on: Vec<ErrorKind>,
    /// Why the run must stop now (the first request that ended with a `stop_on` kind).
    pub(crate) stopped: Option<String>,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Self {
            live: BTreeMap::new(),
            started: 0,
            errors: Errors::default(),
            succeeded: 0,
            // Bounds: 1 µs to one hour, 3 significant digits; values above are clamped.
            latency: Arc::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            ),
            wait: Arc::new(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")),
            record_histograms: true,
            gets: 0,
            waited: 0,
            retries: 0,
            retries_to_old_master: 0,
            leaked_slots: 0,
            first_error_us: None,
            last_error_us: None,
            succeeded_after_last_error: 0,
            violations: Vec::new(),
            stop_on: Vec::new(),
            stopped: None,
        }
    }

    pub(crate) fn start(&mut self, id: u64, t_us: u64) {
        self.started += 1;
        if self.live.insert(id, t_us).is_some() {
            self.violations.push((
                "e2e.ends_once".to_owned(),
                format!("request {} started twice", req_label(id)),
                t_us,
            ));
        }
    }

    pub(crate) fn end(&mut self, id: u64, t_us: u64, outcome: Result<(), ErrorKind>) {
        let Some(start) = self.live.remove(&id) else {
            self.violations.push((
                "e2e.ends_once".to_owned(),
                format!("request {} ended twice (or never started)", req_label(id)),
                t_us,
            ));
            return;
        };
        if self.record_histograms {
            Arc::make_mut(&mut self.latency).saturating_record(t_us - start);
        }
        match outcome {
            Ok(()) => {
                self.succeeded += 1;
                self.succeeded_after_last_error += 1;
            }
            Err(kind) => {
                if self.stopped.is_none() && self.stop_on.contains(&kind) {
                    self.stopped = Some(format!(
                        "request {} ended with {} at {}.{:03} s",
                        req_label(id),
                        kind.name(),
                        t_us / 1_000_000,
                        t_us / 1000 % 1000
                    ));
                }
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
        if self.record_histograms {
            Arc::make_mut(&mut self.wait).saturating_record(wait_us);
        }
    }

    pub(crate) fn errors_so_far(&self) -> u64 {
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
    /// The tier's client library around its pool (`Tier::client`), resolved.
    client: Option<crate::client::ClientBehaviour>,
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
                .req("req", id)
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
        let client = self.client.as_ref();
        let read_timeout = client
            .and_then(|b| b.read_timeout_ms)
            .map(Duration::from_millis);
        let mut backoff_rng = Rng::stream(s.scenario.seed, BACKOFF_STREAM | id);
        let mut attempt = 0;
        // A redis-py command retry's connection: kept checked out across the retry and dialed
        // again, to the address it had (`retry_reconnects_to_old_address`, redis-py #3874).
        let mut held: Option<P::Conn> = None;
        loop {
            let mut conn = if let Some(c) = held.take() {
                match self
                    .reconnect(id, label, pool, c, attempt, &mut backoff_rng)
                    .await
                {
                    Reconnect::Ready(c) => c,
                    Reconnect::Retry(c, ms) => {
                        held = Some(c);
                        retry_pause(s, &mut attempt, ms).await;
                        continue;
                    }
                    Reconnect::Failed(kind) => return Err(kind),
                }
            } else {
                let asked = Instant::now();
                let got = pool.get(deadline).await;
                let wait_us = asked.elapsed().as_micros() as u64;
                let got = match got {
                    // A connection to an address the client no longer takes for the master's:
                    // closed, and another asked for (not a failure, not a retry, not a checkout
                    // of its own: the wait counted is the next one's).
                    Ok(c) if pool.stale(&c) => {
                        s.trace
                            .event(sim_now_us(), label, "request.drop_stale")
                            .req("req", id)
                            .num("conn", pool.conn_id(&c))
                            .write();
                        pool.release(c, false);
                        continue;
                    }
                    other => other,
                };
                s.requests().record_wait(wait_us);
                let conn = match got {
                    Ok(c) => c,
                    Err(e) => {
                        let again = client.and_then(|b| {
                            client::retry_after(
                                b,
                                client::class_of_get(&e),
                                false,
                                attempt,
                                &mut backoff_rng,
                            )
                        });
                        let mut ev = s
                            .trace
                            .event(
                                sim_now_us(),
                                label,
                                client::failure_event(again, "request.pool_error"),
                            )
                            .req("req", id)
                            .str("error", &e.describe())
                            .num("wait_us", wait_us);
                        if let Some(ms) = again {
                            ev = ev.num("backoff_ms", ms);
                        }
                        ev.write();
                        match again {
                            Some(ms) => {
                                retry_pause(s, &mut attempt, ms).await;
                                continue;
                            }
                            None => return Err(e.kind()),
                        }
                    }
                };
                let mut e = s
                    .trace
                    .event(sim_now_us(), label, "request.conn")
                    .req("req", id)
                    .num("conn", pool.conn_id(&conn));
                if let Some(port) = pool.conn_local_port(&conn) {
                    e = e.str("addr", &format!("{}:{port}", self.host));
                }
                e.num("wait_us", wait_us).write();
                conn
            };
            // A client that closes every connection to an old address at the instant it
            // learns of a change (drop_all): the commands and the hold race against it.
            let watch = pool.address_watch(&conn);
            let run = run_command(
                s,
                pool.as_ref(),
                &mut conn,
                command,
                id,
                read_timeout,
                watch.as_ref(),
            );
            match run.await {
                Ok(()) => {
                    if !hold.is_zero() {
                        let until = Instant::now() + hold;
                        let moved = match &watch {
                            Some(w) => tokio::select! {
                                biased;
                                () = tokio::time::sleep_until(until) => false,
                                () = w.moved() => true,
                            },
                            None => {
                                tokio::time::sleep_until(until).await;
                                false
                            }
                        };
                        if moved {
                            // Closed under the holder, who finishes its work without it.
                            s.trace
                                .event(sim_now_us(), label, "request.drop_stale")
                                .req("req", id)
                                .num("conn", pool.conn_id(&conn))
                                .str("at", "hold")
                                .write();
                            pool.release(conn, false);
                            tokio::time::sleep_until(until).await;
                            return Ok(());
                        }
                    }
                    // Closed on release if the master moved meanwhile (redis-py's
                    // `owns_connection` false on release).
                    self.give_back(id, label, pool, conn, true);
                    return Ok(());
                }
                Err(e) => {
                    let conn_id = pool.conn_id(&conn);
                    let (again, closes) = match client {
                        Some(b) => {
                            let (class, closes) = client::class_of_cmd(b, &e);
                            let closes = closes || e.breaks_connection();
                            let again =
                                client::retry_after(b, class, closes, attempt, &mut backoff_rng);
                            (again, closes)
                        }
                        None => {
                            let again = (attempt == 0
                                && retry == Retry::OnceOnConnectionError
                                && matches!(e, crate::adapter::CmdError::Closed(_)))
                            .then_some(0);
                            (again, e.breaks_connection())
                        }
                    };
                    // redis-py's retry keeps the connection and dials it again to the same
                    // address; otherwise the connection goes back (one the client no longer
                    // takes for the master's is closed whatever the error did: redis-py's
                    // `owns_connection` on release).
                    let in_place = again.is_some()
                        && closes
                        && client.is_some_and(|b| b.retry_reconnects_to_old_address)
                        && pool.can_reconnect_in_place();
                    if in_place {
                        held = Some(conn);
                    } else {
                        self.give_back(id, label, pool, conn, !closes);
                    }
                    self.trace_cmd_failure(label, id, again, conn_id, &e.describe(), None);
                    match again {
                        Some(ms) => retry_pause(s, &mut attempt, ms).await,
                        None => return Err(e.kind()),
                    }
                }
            }
        }
    }
}

impl<P: PoolUnderTest> Pod<P> {
    /// Gives a used connection back: `keep` false closes it. One the pool's client no longer
    /// takes for the master's is closed whatever `keep` says ([`PoolUnderTest::release_unowned`]),
    /// and a lost slot is counted and traced (`client.leak_slot`).
    fn give_back(&self, id: u64, label: &str, pool: &P, conn: P::Conn, keep: bool) {
        if !pool.stale(&conn) {
            pool.release(conn, keep);
            return;
        }
        let conn_id = pool.conn_id(&conn);
        if pool.release_unowned(conn) {
            let s = &self.shared;
            s.requests().leaked_slots += 1;
            s.trace
                .event(sim_now_us(), label, "client.leak_slot")
                .req("req", id)
                .num("conn", conn_id)
                .write();
        }
    }

    /// Traces a failed command (`at`: where, when not the command itself): `request.retry`
    /// with its back-off when the client tries again (`again`), else `request.cmd_error`.
    fn trace_cmd_failure(
        &self,
        label: &str,
        id: u64,
        again: Option<u64>,
        conn_id: u64,
        error: &str,
        at: Option<&str>,
    ) {
        let mut ev = self
            .shared
            .trace
            .event(
                sim_now_us(),
                label,
                client::failure_event(again, "request.cmd_error"),
            )
            .req("req", id)
            .num("conn", conn_id)
            .str("error", error);
        if let Some(at) = at {
            ev = ev.str("at", at);
        }
        // The scenario's own retry (no client) traces no back-off.
        if let (Some(ms), Some(_)) = (again, &self.client) {
            ev = ev.num("backoff_ms", ms);
        }
        ev.write();
    }

    /// A retry's reconnect in place of `conn` (held across the retry).
    async fn reconnect(
        &self,
        id: u64,
        label: &str,
        pool: &P,
        mut conn: P::Conn,
        attempt: u32,
        backoff_rng: &mut Rng,
    ) -> Reconnect<P::Conn> {
        let s = &self.shared;
        let client = self.client.as_ref();
        let timeout = client
            .and_then(|b| b.connect_timeout_ms)
            .map(Duration::from_millis);
        let conn_id = pool.conn_id(&conn);
        match pool.reconnect_in_place(&mut conn, timeout).await {
            Ok(addr) => {
                let old = pool.stale(&conn);
                if old {
                    s.requests().retries_to_old_master += 1;
                }
                s.trace
                    .event(sim_now_us(), label, "request.reconnect")
                    .req("req", id)
                    .num("conn", conn_id)
                    .str("addr", &addr)
                    .str("old_master", if old { "yes" } else { "no" })
                    .write();
                Reconnect::Ready(conn)
            }
            Err(e) => {
                // A failed connect is a connection error to the retry policy.
                let again = client.and_then(|b| {
                    client::retry_after(
                        b,
                        Some(crate::client::ErrorClass::Connection),
                        true,
                        attempt,
                        backoff_rng,
                    )
                });
                let error = match &e {
                    crate::adapter::CmdError::Timeout(ms) => {
                        format!("connect timed out after {ms} ms")
                    }
                    other => other.describe(),
                };
                self.trace_cmd_failure(label, id, again, conn_id, &error, Some("reconnect"));
                match again {
                    Some(ms) => Reconnect::Retry(conn, ms),
                    None => {
                        self.give_back(id, label, pool, conn, false);
                        Reconnect::Failed(e.kind())
                    }
                }
            }
        }
    }
}

/// What became of a retry's reconnect in place ([`Pod::reconnect`]).
enum Reconnect<C> {
    /// The connection, dialed again to the address it had.
    Ready(C),
    /// The connect failed and the policy retries after this back-off (ms), the connection
    /// still held.
    Retry(C, u64),
    /// The connect failed and the request fails with this kind (the connection given back).
    Failed(ErrorKind),
}

/// A retry is counted, then its back-off (`ms`, 0: none) is slept.
async fn retry_pause(s: &Shared, attempt: &mut u32, ms: u64) {
    *attempt += 1;
    s.requests().retries += 1;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

pub(crate) fn pick_command(s: &Scenario, rng: &mut Rng) -> Command {
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

/// Why a command in flight fails when its client closes the connection under it.
pub(crate) const MOVED_ERROR: &str = "closed by the client: the master moved";

/// Runs a request's command(s) and checks each reply is the one this request asked for.
async fn run_command<P: PoolUnderTest>(
    s: &Shared,
    pool: &P,
    conn: &mut P::Conn,
    command: Command,
    id: u64,
    read_timeout: Option<Duration>,
    watch: Option<&crate::adapter::AddressWatch>,
) -> Result<(), crate::adapter::CmdError> {
    // One command, bounded by the client's read timeout: when it fires, the command's future
    // is dropped with its reply unread, and the caller closes the connection. With a `watch`
    // (drop_all), the client closing the connection because the master moved fails it too,
    // as a connection error (go-redis: the read on a connection `Filter` closed fails).
    async fn run1<P: PoolUnderTest>(
        pool: &P,
        conn: &mut P::Conn,
        args: &[&[u8]],
        read_timeout: Option<Duration>,
        watch: Option<&crate::adapter::AddressWatch>,
    ) -> Result<Reply, crate::adapter::CmdError> {
        let cmd = async {
            match read_timeout {
                None => pool.run(conn, args).await,
                Some(t) => tokio::time::timeout(t, pool.run(conn, args))
                    .await
                    .unwrap_or(Err(crate::adapter::CmdError::Timeout(t.as_millis() as u64))),
            }
        };
        match watch {
            None => cmd.await,
            Some(w) => tokio::select! {
                biased;
                r = cmd => r,
                () = w.moved() => Err(crate::adapter::CmdError::Closed(MOVED_ERROR.to_owned())),
            },
        }
    }
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
            let r = run1(
                pool,
                conn,
                &[b"SET", key.as_bytes(), tag.as_bytes()],
                read_timeout,
                watch,
            )
            .await?;
            if r != Reply::Simple("OK".to_owned()) {
                mismatch("SET", &r);
            }
            let r = run1(pool, conn, &[b"GET", key.as_bytes()], read_timeout, watch).await?;
            if r != Reply::Bulk(Some(tag.clone().into_bytes())) {
                mismatch(&format!("GET {key} (expected {tag})"), &r);
            }
        }
        Command::Echo => {
            let r = run1(pool, conn, &[b"ECHO", tag.as_bytes()], read_timeout, watch).await?;
            if r != Reply::Bulk(Some(tag.clone().into_bytes())) {
                mismatch(&format!("ECHO {tag}"), &r);
            }
        }
        Command::Ping => {
            let r = run1(pool, conn, &[b"PING"], read_timeout, watch).await?;
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
        .req("req", id)
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
        .req("req", id)
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

pub(crate) fn build_pod<F: PoolFactory>(
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
            // A Sentinel discovery: each pool's client asks Sentinel on connect, and follows
            // `+switch-master` when its profile does (go-redis `FailoverClient`).
            let sentinel = match (&t.client, &shared.scenario.server.topology) {
                (Some(spec), Some(topo)) => {
                    let b = spec.behaviour()?;
                    match &topo.sentinel {
                        Some(sn) if b.discovery != crate::client::Discovery::Fixed => {
                            Some((sn.master_name.clone(), b))
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            for index in 0..t.pools_per_instance {
                let discovery = sentinel.as_ref().map(|(name, b)| {
                    crate::adapter::SentinelTarget::new(
                        crate::world::SENTINEL_HOST,
                        crate::world::SENTINEL_PORT,
                        name,
                        b.on_address_change,
                    )
                    .with_leaks_slots(b.address_change_leaks_slots)
                });
                let ctx = PoolContext {
                    config: config.clone(),
                    tier: t.name.clone(),
                    host: host.to_owned(),
                    index,
                    server: (REDIS_HOST.to_owned(), REDIS_PORT),
                    password: shared.scenario.server.requirepass.clone(),
                    trace: shared.trace.clone(),
                    refusals_seen: Arc::clone(&shared.refusals_seen),
                    discovery: discovery.clone(),
                };
                let label = ctx.label(t.pools_per_instance);
                if let (Some(d), Some((_, b))) = (&ctx.discovery, &sentinel) {
                    if b.discovery == crate::client::Discovery::FollowSwitchMaster {
                        tokio::task::spawn_local(crate::pools::follow_switch_master(
                            d.clone(),
                            shared.trace.clone(),
                            label.clone(),
                        ));
                    }
                }
                let pool = Arc::new(factory.build(&ctx, &label)?);
                lock(&shared.pools).push(PoolEntry {
                    label: label.clone(),
                    pool: Arc::clone(&pool) as Arc<dyn Observe>,
                    client: discovery
                        .filter(crate::adapter::SentinelTarget::drops)
                        .map(|d| {
                            let rule = d.on_address_change;
                            (d, rule)
                        }),
                    connect_limit: crate::runner::ConnectLimit::of(
                        &config,
                        shared.scenario.tick_ms,
                    ),
                });
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
        client: match &t.client {
            Some(spec) => Some(spec.behaviour()?),
            None => None,
        },
        rr: Cell::new(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // `e2e.ends_once` guards the runner's own books: no pool or server fault can start a
    // request twice or end one that never started, so its faults are planted here.

    #[test]
    fn a_request_started_twice_violates_ends_once() {
        let mut r = Requests::new();
        r.start(req_id(1, 7), 10);
        assert!(r.violations.is_empty());
        r.start(req_id(1, 7), 20);
        assert_eq!(
            r.violations,
            vec![(
                "e2e.ends_once".to_owned(),
                "request p1/7 started twice".to_owned(),
                20
            )]
        );
        assert_eq!(r.started, 2);
    }

    #[test]
    fn a_request_ended_twice_violates_ends_once_and_is_counted_once() {
        let mut r = Requests::new();
        r.start(req_id(0, 3), 1_000);
        r.end(req_id(0, 3), 4_000, Err(ErrorKind::Eof));
        assert!(r.violations.is_empty());
        r.end(req_id(0, 3), 5_000, Ok(()));
        assert_eq!(
            r.violations,
            vec![(
                "e2e.ends_once".to_owned(),
                "request p0/3 ended twice (or never started)".to_owned(),
                5_000
            )]
        );
        assert_eq!((r.succeeded, r.errors.eof, r.errors.total()), (0, 1, 1));
        assert_eq!(r.latency.len(), 1);
        // 3,000 µs is recorded; the histogram's max is the top of its bucket (width 2 above
        // 2,048 µs at 3 significant digits).
        assert_eq!(r.latency.max(), 3_001);
        assert_eq!(r.first_error_us, Some(4_000));
    }

    #[test]
    fn waits_count_checkouts_and_those_that_waited() {
        let mut r = Requests::new();
        r.record_wait(0);
        r.record_wait(5);
        r.record_wait(0);
        assert_eq!((r.gets, r.waited), (3, 1));
        assert_eq!(r.wait.len(), 3);
    }
}
