//! bb8 0.9 in a scenario.
//!
//! The manager mirrors the one redis-rs ships for bb8 (`redis-1.8.1/src/bb8.rs`; bb8-redis's
//! successor): `connect` makes a multiplexed connection, `is_valid` sends `PING` and wants
//! `PONG`, `has_broken` is `false` (so a connection whose command failed goes back to the
//! pool and is found out by the next `is_valid`, or not at all without `test_on_check_out`).
//! Everything else is bb8's own code: `Pool::get_owned`, its waiting, reaper, retries.
//!
//! What the adapter sees: `Pool::state()` (connections, idle; in use is the difference;
//! waiters are bb8's `pending_gets`, gets started and not completed) and its `Statistics`.
//!
//! Findings it detects (see `docs/real-pools.md`):
//! - `bb8.idle_reaper_wall_clock`: a connection handed out (or checked) idle longer than
//!   `idle_timeout` plus one reaper period of simulated time: bb8's reaper runs on tokio
//!   time (`inner.rs:25-35`) but measures idle time with `std::time::Instant`
//!   (`internals.rs:146-152`), so under simulation it never closes one.
//! - `bb8.max_lifetime_wall_clock`: the same for `max_lifetime` (`internals.rs:274`,
//!   `inner.rs:150-153`).
//! - `bb8.wait_stats_wall_clock`: `Statistics::get_wait_time` (`inner.rs:99`,
//!   `internals.rs:319-330`) against the wait measured in simulated time.

use super::{ConnError, Dialer, Knobs, RedisConn, connect_timeout, secs};
use crate::adapter::{
    CmdError, Finding, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest,
    Reply,
};
use crate::world::sim_now_us;
use pool_core::{CheckWhen, Config, Fairness, Reuse, WhenExhausted};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The manager: a [`Dialer`] and redis-rs's bb8 checks.
#[derive(Debug)]
pub struct Bb8RedisManager {
    dialer: Dialer,
    watch: Arc<Mutex<Watch>>,
}

impl Bb8RedisManager {
    /// A manager over `dialer`.
    #[must_use]
    pub fn new(dialer: Dialer) -> Self {
        Self {
            dialer,
            watch: Arc::default(),
        }
    }
}

/// What the adapter saw, in simulated time.
#[derive(Debug, Default)]
struct Watch {
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    reaper_rate: Duration,
    /// Checkouts (or checks) of a connection idle past idle_timeout + reaper_rate.
    idle_overdue: u64,
    idle_overdue_max_us: u64,
    lifetime_overdue: u64,
    lifetime_overdue_max_us: u64,
    /// Sum of the waits of gets that waited 100 ms or more, in simulated µs.
    waited_us: u64,
}

impl Watch {
    fn saw(&mut self, conn: &RedisConn, now_us: u64) {
        let idle = now_us.saturating_sub(conn.idle_since_us);
        if let Some(t) = self.idle_timeout {
            if idle > (t + self.reaper_rate).as_micros() as u64 {
                self.idle_overdue += 1;
                self.idle_overdue_max_us = self.idle_overdue_max_us.max(idle);
            }
        }
        let age = now_us.saturating_sub(conn.created_us);
        if let Some(l) = self.max_lifetime {
            if age > (l + self.reaper_rate).as_micros() as u64 {
                self.lifetime_overdue += 1;
                self.lifetime_overdue_max_us = self.lifetime_overdue_max_us.max(age);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl bb8::ManageConnection for Bb8RedisManager {
    type Connection = RedisConn;
    type Error = ConnError;

    async fn connect(&self) -> Result<RedisConn, ConnError> {
        self.dialer.connect().await
    }

    async fn is_valid(&self, conn: &mut RedisConn) -> Result<(), ConnError> {
        // A client that drops connections to an old master (the tier's `client`): bb8 asks
        // its manager on checkout (with `test_on_check_out`, its default) and on release
        // (`has_broken`), and nowhere else: an idle connection stays until it is next taken.
        if self.dialer.refuses(conn) {
            return Err(ConnError::Redis(
                std::io::Error::other("the master moved: connection dropped").into(),
            ));
        }
        let now = sim_now_us();
        lock(&self.watch).saw(conn, now);
        self.dialer
            .trace()
            .event(now, self.dialer.label(), "pool.check")
            .num("conn", conn.id())
            .str("how", "ping")
            .write();
        conn.ping_pong().await.map_err(|e| {
            conn.close_reason = "check_failed";
            ConnError::Redis(e)
        })
    }

    fn has_broken(&self, conn: &mut RedisConn) -> bool {
        // redis-rs's manager says `false` always; a client that drops connections to an old
        // master refuses one back to the pool once it knows.
        self.dialer.refuses(conn)
    }
}

/// Builds a bb8 pool per pod.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bb8Factory {
    /// Mapped knobs or bb8's defaults.
    pub knobs: Knobs,
}

/// bb8's builder for `config`, and the knobs it lacks.
#[must_use]
pub fn builder(
    config: &Config,
    knobs: Knobs,
) -> (bb8::Builder<Bb8RedisManager>, Vec<Finding>, bool) {
    let b = bb8::Pool::builder();
    if knobs == Knobs::CrateDefaults {
        return (b, Vec::new(), false);
    }
    let mut r = super::KnobReport::default();
    let c = config;
    let mut b = b
        .max_size(c.max_size.unwrap_or(u32::MAX))
        .min_idle((c.min_idle > 0).then_some(c.min_idle))
        .idle_timeout(c.idle_timeout)
        .max_lifetime(c.max_lifetime)
        .test_on_check_out(c.check_on_checkout.when != CheckWhen::Never)
        .queue_strategy(match c.reuse {
            Reuse::Fifo => bb8::QueueStrategy::Fifo,
            Reuse::Lifo => bb8::QueueStrategy::Lifo,
        });
    match c.when_exhausted {
        WhenExhausted::Wait { timeout: Some(t) } => b = b.connection_timeout(t),
        WhenExhausted::Wait { timeout: None } => {
            let day = Duration::from_secs(86_400);
            b = b.connection_timeout(day);
            r.lacks(
                "bb8",
                "pool_timeout.none",
                "wait forever",
                "connection_timeout set to one day",
            );
        }
        // Unbounded, a pool is never exhausted: fail-fast is moot.
        WhenExhausted::FailFast if c.max_size.is_none() => {}
        WhenExhausted::FailFast => r.lacks(
            "bb8",
            "when_exhausted.fail_fast",
            "fail fast",
            "bb8 waits for its connection_timeout (default 30 s)",
        ),
    }
    if let Some(m) = c.max_idle {
        if c.max_size.is_none_or(|s| m < s) {
            r.lacks(
                "bb8",
                "max_idle",
                &m.to_string(),
                "every released connection is kept idle",
            );
        }
    }
    if c.fairness == Fairness::StrictFifo {
        r.lacks(
            "bb8",
            "fairness.strict_fifo",
            "strict FIFO",
            "bb8 lets a new get take an idle connection before woken waiters",
        );
    }
    if let Some(bk) = c.connect_backoff {
        r.lacks(
            "bb8",
            "connect_backoff",
            &format!("{} to {}", secs(bk.initial), secs(bk.max)),
            "bb8's own retry (200 ms doubling, up to connection_timeout / 2) is used",
        );
    }
    super::common_lacks("bb8", c, &mut r);
    if c.honour_deadlines {
        r.lacks(
            "bb8",
            "honour_deadlines",
            "on",
            "the adapter wraps get in tokio::time::timeout_at(request deadline), as a caller would",
        );
    }
    (b, r.into_findings(), c.honour_deadlines)
}

impl PoolFactory for Bb8Factory {
    type Pool = Bb8Pool;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Bb8Pool, String> {
        let dialer = Dialer::new(ctx, label)
            .with_connection_timeout(connect_timeout(&ctx.config, self.knobs));
        let manager = Bb8RedisManager::new(dialer.clone());
        let watch = Arc::clone(&manager.watch);
        let (b, knob_findings, honour_deadlines) = builder(&ctx.config, self.knobs);
        // build_unchecked: the pool starts empty (min_idle connects are spawned), as `build`
        // would after its first connects; it must be called inside the host's runtime.
        let pool = b.build_unchecked(manager);
        let cfg = pool.config();
        {
            let mut w = lock(&watch);
            w.idle_timeout = cfg.idle_timeout;
            w.max_lifetime = cfg.max_lifetime;
            w.reaper_rate = cfg.reaper_rate;
        }
        Ok(Bb8Pool {
            pool,
            dialer,
            watch,
            knob_findings,
            honour_deadlines,
            dead: Mutex::default(),
            max_size: cfg.max_size,
            connection_timeout: cfg.connection_timeout,
            retry_connection: cfg.retry_connection,
        })
    }
}

/// A bb8 pool in a scenario.
pub struct Bb8Pool {
    pool: bb8::Pool<Bb8RedisManager>,
    dialer: Dialer,
    watch: Arc<Mutex<Watch>>,
    dead: Mutex<super::DeadWatch>,
    knob_findings: Vec<Finding>,
    honour_deadlines: bool,
    max_size: u32,
    connection_timeout: Duration,
    retry_connection: bool,
}

impl Bb8Pool {
    /// What the pool's connects did so far (simulated time).
    #[must_use]
    pub fn dial_stats(&self) -> super::DialStats {
        self.dialer.stats()
    }

    /// The bb8 pool.
    #[must_use]
    pub fn inner(&self) -> &bb8::Pool<Bb8RedisManager> {
        &self.pool
    }
}

impl std::fmt::Debug for Bb8Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bb8Pool")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Observe for Bb8Pool {
    fn snapshot(&self) -> PoolSnapshot {
        let s = self.pool.state();
        PoolSnapshot {
            // Open or being opened (bb8's `connections` leaves out its pending connects).
            connections: self.dialer.open(),
            in_use: u64::from(s.connections - s.idle_connections),
            waiters: s.statistics.pending_gets(),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let s = self.pool.state();
        if s.idle_connections > s.connections {
            return Err(format!(
                "bb8: {} idle of {} connections",
                s.idle_connections, s.connections
            ));
        }
        if self.max_size > 0 && s.connections > self.max_size {
            return Err(format!(
                "bb8: {} connections, max_size {}",
                s.connections, self.max_size
            ));
        }
        Ok(())
    }

    fn findings(&self) -> Vec<Finding> {
        let mut out = self.knob_findings.clone();
        out.extend(lock(&self.dead).finding("bb8", "has_broken is false in redis-rs's bb8 manager and test_on_check_out is off: bb8 keeps it"));
        let w = lock(&self.watch);
        let stats = self.pool.state().statistics;
        if let Some(t) = w.idle_timeout {
            if w.idle_overdue > 0 {
                out.push(Finding::new(
                    "bb8.idle_reaper_wall_clock",
                    format!(
                        "idle reaper never closed a connection in simulated time: {} checkouts \
                         of connections idle up to {:.1} s (idle_timeout {}, reaper every {}); \
                         bb8 closed {} for idle timeout (it measures idle time with \
                         std::time::Instant, internals.rs:146-152)",
                        w.idle_overdue,
                        w.idle_overdue_max_us as f64 / 1e6,
                        secs(t),
                        secs(w.reaper_rate),
                        stats.connections_closed_idle_timeout
                    ),
                ));
            }
        }
        if let Some(l) = w.max_lifetime {
            if w.lifetime_overdue > 0 {
                out.push(Finding::new(
                    "bb8.max_lifetime_wall_clock",
                    format!(
                        "{} checkouts of connections up to {:.1} s old (max_lifetime {}); bb8 \
                         closed {} for max lifetime (std::time::Instant, internals.rs:274)",
                        w.lifetime_overdue,
                        w.lifetime_overdue_max_us as f64 / 1e6,
                        secs(l),
                        stats.connections_closed_max_lifetime
                    ),
                ));
            }
        }
        let bb8_wait_us = stats.get_wait_time.as_micros() as u64;
        // Timed on simulated time, bb8's sum would be the simulated one to the millisecond.
        // Timed on the wall clock it is the simulated one times the run's speed against real
        // time, which depends on the machine and its load (a tenth to a half of it here, where
        // runs go 2 to 40 times faster than real time): judging "far below" flickered with the
        // load (a tenth left the cascade's out once under a load average of 10), so any
        // difference above 5 % counts; only a run going at real time, give or take 5 %, hides it.
        if w.waited_us >= 1_000_000 && bb8_wait_us.abs_diff(w.waited_us) * 20 > w.waited_us {
            out.push(Finding::new(
                "bb8.wait_stats_wall_clock",
                format!(
                    "Statistics::get_wait_time says {:.1} ms in all; gets that waited 100 ms or \
                     more waited {:.1} ms of simulated time (bb8 times waits with std::time::Instant, inner.rs:99)",
                    bb8_wait_us as f64 / 1000.0,
                    w.waited_us as f64 / 1000.0
                ),
            ));
        }
        let d = self.dialer.stats();
        let limit = self.connection_timeout.as_micros() as u64;
        if self.retry_connection && d.longest_failing_us > limit {
            out.push(Finding::new(
                "bb8.connect_retry_wall_clock",
                format!(
                    "connects kept failing for {:.1} s of simulated time ({} attempts in a \
                     row), past connection_timeout {}: bb8 ends its connect retries when \
                     std::time::Instant says connection_timeout passed (inner.rs:195-216), \
                     which the simulation does not advance",
                    d.longest_failing_us as f64 / 1e6,
                    d.longest_failing_count,
                    secs(self.connection_timeout)
                ),
            ));
        }
        out
    }
}

impl PoolUnderTest for Bb8Pool {
    type Conn = bb8::PooledConnection<'static, Bb8RedisManager>;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        let asked = tokio::time::Instant::now();
        let r = if self.honour_deadlines {
            match tokio::time::timeout_at(deadline, self.pool.get_owned()).await {
                Ok(r) => r,
                Err(_) => return Err(GetError::DeadlineExceeded),
            }
        } else {
            self.pool.get_owned().await
        };
        let waited = asked.elapsed().as_micros() as u64;
        let mut w = lock(&self.watch);
        // Only clear waits: a get that only connected or checked (a round trip) is not one.
        if waited >= 100_000 {
            w.waited_us += waited;
        }
        match r {
            Ok(c) => {
                lock(&self.dead).got(c.id());
                w.saw(&c, sim_now_us());
                Ok(c)
            }
            Err(bb8::RunError::TimedOut) => Err(GetError::PoolTimeout),
            Err(bb8::RunError::User(e)) => Err(e.get_error()),
        }
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        conn.run(args).await
    }

    fn release(&self, mut conn: Self::Conn, healthy: bool) {
        // bb8-redis users cannot mark a connection broken (has_broken is false): it goes back
        // to the pool either way, as in their code.
        if !healthy {
            lock(&self.dead).died(conn.id());
        }
        conn.idle_since_us = sim_now_us();
        drop(conn);
    }

    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        conn.id()
    }

    fn conn_local_port(&self, conn: &Self::Conn) -> Option<u16> {
        conn.local_port()
    }
}
