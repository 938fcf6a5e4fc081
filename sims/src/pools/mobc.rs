//! mobc 0.9 (feature `tokio`) in a scenario.
//!
//! The manager mirrors mobc-redis's: `connect` makes a multiplexed connection, `check`
//! sends `PING` (mobc-redis `RedisConnectionManager::check`), `validate` is the default
//! (`true`: a connection given back is kept). Everything else is mobc's own code:
//! `Pool::get`, its semaphore, `max_idle` (default 2), its health check on checkout.
//!
//! What the adapter sees: `Pool::state()` (an async lock; read between steps with a single
//! poll): connections, idle, in use, and `wait_count` (gets waiting for the semaphore).
//!
//! Findings it detects (see `docs/real-pools.md`):
//! - `mobc.get_timeout_wall_clock`: mobc's `get_timeout` (default 30 s) races the get
//!   against a `futures_timer::Delay` (`src/time.rs:8-16`), a timer on a thread of its own
//!   that reads the wall clock: a get waits past its `get_timeout` of simulated time and is
//!   not timed out (or is timed out by wall time, unrelated to the simulation).
//! - `mobc.idle_lifetime_wall_clock`: `max_idle_lifetime` / `max_lifetime` are checked on
//!   checkout against `std::time::Instant` (`src/conn.rs:82-100`): a connection idle past
//!   it in simulated time is handed out.

use super::{ConnError, Dialer, Knobs, RedisConn, connect_timeout, poll_once, secs};
use crate::adapter::{
    CmdError, Finding, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest,
    Reply,
};
use crate::world::sim_now_us;
use pool_core::{CheckWhen, Config, Reuse, WhenExhausted};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The manager: a [`Dialer`] and mobc-redis's check.
#[derive(Debug)]
pub struct MobcRedisManager {
    dialer: Dialer,
}

impl MobcRedisManager {
    /// A manager over `dialer`.
    #[must_use]
    pub fn new(dialer: Dialer) -> Self {
        Self { dialer }
    }
}

#[mobc::async_trait]
impl mobc::Manager for MobcRedisManager {
    type Connection = RedisConn;
    type Error = ConnError;

    async fn connect(&self) -> Result<RedisConn, ConnError> {
        self.dialer.connect().await
    }

    async fn check(&self, mut conn: RedisConn) -> Result<RedisConn, ConnError> {
        self.dialer
            .trace()
            .event(sim_now_us(), self.dialer.label(), "pool.check")
            .num("conn", conn.id())
            .str("how", "ping")
            .write();
        let r: Result<redis::Value, _> = redis::cmd("PING").query_async(conn.conn()).await;
        match r {
            Ok(_) => Ok(conn),
            Err(e) => {
                conn.close_reason = "check_failed";
                Err(ConnError::Redis(e))
            }
        }
    }
}

/// Builds a mobc pool per pod.
#[derive(Clone, Copy, Debug, Default)]
pub struct MobcFactory {
    /// Mapped knobs or mobc's defaults.
    pub knobs: Knobs,
}

/// What the adapter saw, in simulated time.
#[derive(Debug, Default)]
struct Watch {
    get_timeout: Option<Duration>,
    max_idle_lifetime: Option<Duration>,
    /// Gets that waited past get_timeout (+1 s) of simulated time without mobc timing out.
    overdue_gets: u64,
    overdue_max_us: u64,
    /// Gets mobc timed out, and the longest/shortest simulated wait before it did.
    timeouts: u64,
    timeout_wait_min_us: Option<u64>,
    /// Checkouts of connections idle past max_idle_lifetime of simulated time.
    idle_overdue: u64,
    idle_overdue_max_us: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn builder(c: &Config, r: &mut super::KnobReport) -> (mobc::Builder<MobcRedisManager>, bool) {
    let mut b = mobc::Pool::builder();
    // mobc: max_open 0 is "unlimited" (a semaphore of 10,000 permits, lib.rs:319-323).
    b = b.max_open(c.max_size.map_or(0, u64::from));
    // mobc: max_idle 0 is "unlimited idle" (lib.rs:530-535).
    b = b.max_idle(c.max_idle.map_or(0, u64::from));
    match c.when_exhausted {
        WhenExhausted::Wait { timeout } => b = b.get_timeout(timeout),
        // Unbounded, a pool is never exhausted: fail-fast is moot.
        WhenExhausted::FailFast if c.max_size.is_none() => {}
        WhenExhausted::FailFast => r.lacks(
            "mobc",
            "when_exhausted.fail_fast",
            "fail fast",
            "mobc waits for its get_timeout (default 30 s)",
        ),
    }
    b = b
        .max_idle_lifetime(c.idle_timeout)
        .max_lifetime(c.max_lifetime);
    match c.check_on_checkout.when {
        CheckWhen::Never => b = b.test_on_check_out(false),
        CheckWhen::Always => b = b.test_on_check_out(true),
        CheckWhen::IfIdleFor(d) => {
            b = b
                .test_on_check_out(true)
                .health_check_interval(Some(d.max(Duration::from_millis(1))));
        }
    }
    if c.min_idle > 0 {
        r.lacks("mobc", "min_idle", &c.min_idle.to_string(), "no warm-up");
    }
    if c.reuse == Reuse::Fifo {
        r.lacks(
            "mobc",
            "reuse.fifo",
            "FIFO",
            "mobc reuses LIFO (free_conns.pop())",
        );
    }
    if let Some(bk) = c.connect_backoff {
        r.lacks(
            "mobc",
            "connect_backoff",
            &format!("{} to {}", secs(bk.initial), secs(bk.max)),
            "a failed connect fails the get",
        );
    }
    // IfIdleFor is mapped (health_check_interval): keep the other common lacks only.
    let mut c2 = c.clone();
    if matches!(c.check_on_checkout.when, CheckWhen::IfIdleFor(_)) {
        c2.check_on_checkout.when = CheckWhen::Always;
    }
    super::common_lacks("mobc", &c2, r);
    if c.honour_deadlines {
        r.lacks(
            "mobc",
            "honour_deadlines",
            "on",
            "the adapter wraps get in tokio::time::timeout_at(request deadline), as a caller would",
        );
    }
    (b, c.honour_deadlines)
}

impl PoolFactory for MobcFactory {
    type Pool = MobcPool;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<MobcPool, String> {
        let dialer = Dialer::new(ctx, label)
            .with_connection_timeout(connect_timeout(&ctx.config, self.knobs));
        let manager = MobcRedisManager::new(dialer.clone());
        let mut r = super::KnobReport::default();
        let (b, honour_deadlines, get_timeout, max_idle_lifetime) =
            if self.knobs == Knobs::CrateDefaults {
                (
                    mobc::Pool::builder(),
                    false,
                    Some(Duration::from_secs(30)),
                    None,
                )
            } else {
                let (b, h) = builder(&ctx.config, &mut r);
                let gt = match ctx.config.when_exhausted {
                    WhenExhausted::Wait { timeout } => timeout,
                    WhenExhausted::FailFast => Some(Duration::from_secs(30)),
                };
                (b, h, gt, ctx.config.idle_timeout)
            };
        let pool = b.build(manager);
        let watch = Watch {
            get_timeout,
            max_idle_lifetime,
            ..Watch::default()
        };
        Ok(MobcPool {
            pool,
            dialer,
            knob_findings: r.into_findings(),
            honour_deadlines,
            watch: Arc::new(Mutex::new(watch)),
            dead: Mutex::default(),
            last: Mutex::default(),
        })
    }
}

/// A mobc pool in a scenario.
pub struct MobcPool {
    pool: mobc::Pool<MobcRedisManager>,
    /// Connections open or being opened ([`Dialer::open`]): the crate's own count leaves out
    /// the connects in flight, which `PoolSnapshot::connections` counts.
    dialer: Dialer,
    knob_findings: Vec<Finding>,
    honour_deadlines: bool,
    watch: Arc<Mutex<Watch>>,
    dead: Mutex<super::DeadWatch>,
    /// The last state read (mobc's state sits behind an async lock).
    last: Mutex<PoolSnapshot>,
}

impl std::fmt::Debug for MobcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MobcPool").finish_non_exhaustive()
    }
}

impl Observe for MobcPool {
    fn snapshot(&self) -> PoolSnapshot {
        let mut last = lock(&self.last);
        if let Some(s) = poll_once(self.pool.state()) {
            *last = PoolSnapshot {
                connections: s.connections,
                in_use: s.in_use,
                waiters: s.wait_count,
            };
        }
        PoolSnapshot {
            connections: self.dialer.open(),
            ..*last
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        if let Some(s) = poll_once(self.pool.state()) {
            if s.idle > s.connections {
                return Err(format!(
                    "mobc: {} idle of {} connections",
                    s.idle, s.connections
                ));
            }
            if s.max_open > 0 && s.connections > s.max_open {
                return Err(format!(
                    "mobc: {} connections, max_open {}",
                    s.connections, s.max_open
                ));
            }
        }
        Ok(())
    }

    fn findings(&self) -> Vec<Finding> {
        let mut out = self.knob_findings.clone();
        out.extend(lock(&self.dead).finding(
            "mobc",
            "mobc-redis's validate is true and test_on_check_out is off: mobc keeps it",
        ));
        let w = lock(&self.watch);
        if let Some(t) = w.get_timeout {
            if w.overdue_gets > 0 {
                out.push(Finding::new(
                    "mobc.get_timeout_wall_clock",
                    format!(
                        "get_timeout {} never fired in simulated time: {} gets waited longer, up \
                         to {:.1} s (mobc races the get against a futures_timer::Delay on the \
                         wall clock, src/time.rs:8-16)",
                        secs(t),
                        w.overdue_gets,
                        w.overdue_max_us as f64 / 1e6
                    ),
                ));
            }
            if let Some(min) = w.timeout_wait_min_us {
                if min + 1_000_000 < t.as_micros() as u64 {
                    out.push(Finding::new(
                        "mobc.get_timeout_fired_early",
                        format!(
                            "{} gets timed out, one after only {:.1} s of simulated time \
                             (get_timeout {}): the wall-clock timer fired",
                            w.timeouts,
                            min as f64 / 1e6,
                            secs(t)
                        ),
                    ));
                }
            }
        }
        if let Some(t) = w.max_idle_lifetime {
            if w.idle_overdue > 0 {
                out.push(Finding::new(
                    "mobc.idle_lifetime_wall_clock",
                    format!(
                        "{} checkouts of connections idle up to {:.1} s of simulated time \
                         (max_idle_lifetime {}): mobc compares std::time::Instant \
                         (src/conn.rs:92-100)",
                        w.idle_overdue,
                        w.idle_overdue_max_us as f64 / 1e6,
                        secs(t)
                    ),
                ));
            }
        }
        out
    }
}

impl PoolUnderTest for MobcPool {
    type Conn = mobc::Connection<MobcRedisManager>;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        let asked = tokio::time::Instant::now();
        let r = if self.honour_deadlines {
            match tokio::time::timeout_at(deadline, self.pool.get()).await {
                Ok(r) => r,
                Err(_) => return Err(GetError::DeadlineExceeded),
            }
        } else {
            self.pool.get().await
        };
        let waited = asked.elapsed().as_micros() as u64;
        let mut w = lock(&self.watch);
        if let Some(t) = w.get_timeout {
            if waited > (t + Duration::from_secs(1)).as_micros() as u64 {
                w.overdue_gets += 1;
                w.overdue_max_us = w.overdue_max_us.max(waited);
            }
        }
        match r {
            Ok(c) => {
                lock(&self.dead).got(c.id());
                let now = sim_now_us();
                let idle = now.saturating_sub(c.idle_since_us);
                if let Some(t) = w.max_idle_lifetime {
                    if !c.is_brand_new() && idle > t.as_micros() as u64 {
                        w.idle_overdue += 1;
                        w.idle_overdue_max_us = w.idle_overdue_max_us.max(idle);
                    }
                }
                Ok(c)
            }
            Err(mobc::Error::Timeout) => {
                w.timeouts += 1;
                w.timeout_wait_min_us =
                    Some(w.timeout_wait_min_us.map_or(waited, |m| m.min(waited)));
                Err(GetError::PoolTimeout)
            }
            Err(mobc::Error::Inner(e)) => Err(e.get_error()),
            Err(e) => Err(GetError::Other(e.to_string())),
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
        // mobc-redis users drop the connection whatever happened: mobc takes it back
        // (`validate` is true) and the next checkout's health check finds out.
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
