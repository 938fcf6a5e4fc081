//! deadpool 0.12 (`managed`, `Runtime::Tokio1`) in a scenario.
//!
//! The manager mirrors deadpool-redis's: `create` makes a multiplexed connection, `recycle`
//! sends `PING <n>` with a counter and wants `<n>` back (deadpool-redis `Manager::recycle`).
//! Everything else is deadpool's own code: `Pool::get`, its semaphore, its timeouts on tokio
//! time (`Runtime::Tokio1`; without a runtime a timeout fails with `NoRuntimeSpecified`).
//!
//! What the adapter sees: `Pool::status()`: `size` (connections), `available`, `waiting`
//! (in use is `size - available` while nobody waits).
//!
//! Findings it detects (see `docs/real-pools.md`):
//! - `deadpool.metrics_wall_clock`: `Metrics::last_used()` of a connection handed out after
//!   an idle period, against the idle time in simulated time (`managed/metrics.rs:21-33`,
//!   `pool.rs:199` read `std::time::Instant`); anything built on them (`Pool::retain` by idle
//!   time, as deadpool's docs suggest for an idle timeout) does not see simulated time.
//! - `deadpool.default_max_size_cpus`: with the crate's defaults, `max_size` is 2 × the CPUs
//!   of the machine running the simulation (`util.rs:10-12`); the adapter uses 4 (a 2-CPU
//!   machine) so that runs do not depend on the machine, and says what this machine's is.

use super::{ConnError, Dialer, Knobs, RedisConn, connect_timeout, secs};
use crate::adapter::{
    CmdError, Finding, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest,
    Reply,
};
use crate::world::sim_now_us;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use pool_core::{CheckWhen, Fairness, Reuse, WhenExhausted};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// deadpool's default `max_size` on a 2-CPU machine, used for its defaults so that a run does
/// not depend on the machine running it.
pub const DEFAULT_MAX_SIZE_2_CPUS: usize = 4;

/// The bound used for an unbounded scenario pool (deadpool has none).
pub const UNBOUNDED_MAX_SIZE: usize = 16_384;

/// The manager: a [`Dialer`] and deadpool-redis's recycle check.
#[derive(Debug)]
pub struct DeadpoolRedisManager {
    dialer: Dialer,
    ping_number: AtomicU64,
}

impl DeadpoolRedisManager {
    /// A manager over `dialer`.
    #[must_use]
    pub fn new(dialer: Dialer) -> Self {
        Self {
            dialer,
            ping_number: AtomicU64::new(0),
        }
    }
}

impl managed::Manager for DeadpoolRedisManager {
    type Type = RedisConn;
    type Error = ConnError;

    async fn create(&self) -> Result<RedisConn, ConnError> {
        self.dialer.connect().await
    }

    async fn recycle(&self, conn: &mut RedisConn, _: &Metrics) -> RecycleResult<ConnError> {
        // A client that drops connections to an old master (the tier's `client`): deadpool
        // asks its manager only here, when an idle object is taken (there is no hook on
        // release): an idle connection stays until it is next taken.
        if self.dialer.refuses(conn) {
            return Err(RecycleError::message(
                "the master moved: connection dropped",
            ));
        }
        self.dialer
            .trace()
            .event(sim_now_us(), self.dialer.label(), "pool.check")
            .num("conn", conn.id())
            .str("how", "ping")
            .write();
        let n = self.ping_number.fetch_add(1, Ordering::Relaxed).to_string();
        let r: Result<String, _> = redis::cmd("PING").arg(&n).query_async(conn.conn()).await;
        match r {
            Ok(echo) if echo == n => Ok(()),
            Ok(_) => {
                conn.close_reason = "check_failed";
                Err(RecycleError::message("Invalid PING response"))
            }
            Err(e) => {
                conn.close_reason = "check_failed";
                Err(RecycleError::Backend(ConnError::Redis(e)))
            }
        }
    }
}

/// Builds a deadpool pool per pod.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeadpoolFactory {
    /// Mapped knobs or deadpool's defaults.
    pub knobs: Knobs,
}

/// What the adapter saw, in simulated time.
#[derive(Debug, Default)]
struct Watch {
    /// Checkouts after an idle period of at least 1 s of simulated time.
    idle_checkouts: u64,
    /// The longest such idle period (µs simulated) and what `Metrics::last_used` said (µs).
    idle_max_us: u64,
    last_used_at_max_us: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PoolFactory for DeadpoolFactory {
    type Pool = DeadpoolPool;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<DeadpoolPool, String> {
        let c = &ctx.config;
        let dialer = Dialer::new(ctx, label)
            .with_connection_timeout(connect_timeout(&ctx.config, self.knobs));
        let manager = DeadpoolRedisManager::new(dialer.clone());
        let mut b = managed::Pool::<DeadpoolRedisManager>::builder(manager)
            .runtime(deadpool::Runtime::Tokio1);
        let mut r = super::KnobReport::default();
        let mut fail_fast = false;
        let mut honour_deadlines = false;
        let mut machine_findings = Vec::new();
        if self.knobs == Knobs::CrateDefaults {
            // deadpool's default max_size is 2 x the machine's CPUs (`util.rs:10-12`): a run
            // would depend on the machine. The adapter uses the default of a 2-CPU machine
            // and says what this machine's default is.
            let d = managed::PoolConfig::default();
            b = b.max_size(DEFAULT_MAX_SIZE_2_CPUS);
            machine_findings.push(Finding::new(
                "deadpool.default_max_size_cpus",
                format!(
                    "deadpool's default max_size is 2 x the CPUs of the machine (util.rs:10-12): \
                     {} on this one; the run uses {DEFAULT_MAX_SIZE_2_CPUS} (a 2-CPU machine) so \
                     that it does not depend on the machine",
                    d.max_size
                ),
            ));
        } else {
            let max_size = match c.max_size {
                Some(n) => n as usize,
                None => {
                    r.lacks(
                        "deadpool",
                        "max_size.unbounded",
                        "unbounded",
                        &format!("max_size {UNBOUNDED_MAX_SIZE}"),
                    );
                    UNBOUNDED_MAX_SIZE
                }
            };
            b = b
                .max_size(max_size)
                .create_timeout(c.connect_timeout)
                .queue_mode(match c.reuse {
                    Reuse::Fifo => managed::QueueMode::Fifo,
                    Reuse::Lifo => managed::QueueMode::Lifo,
                });
            match c.when_exhausted {
                WhenExhausted::Wait { timeout } => b = b.wait_timeout(timeout),
                WhenExhausted::FailFast => {
                    // deadpool's own fail-fast: a zero wait takes a permit or fails at once
                    // (`pool.rs`, `timeout_get`: non_blocking).
                    fail_fast = true;
                    b = b.wait_timeout(Some(Duration::ZERO));
                }
            }
            if c.min_idle > 0 {
                r.lacks(
                    "deadpool",
                    "min_idle",
                    &c.min_idle.to_string(),
                    "no warm-up",
                );
            }
            if let Some(m) = c.max_idle {
                if c.max_size.is_none_or(|s| m < s) {
                    r.lacks(
                        "deadpool",
                        "max_idle",
                        &m.to_string(),
                        "every released connection is kept",
                    );
                }
            }
            if let Some(t) = c.idle_timeout {
                r.lacks(
                    "deadpool",
                    "idle_timeout",
                    &secs(t),
                    "no idle timeout (deadpool's docs suggest Pool::retain on Metrics, which \
                     read the wall clock)",
                );
            }
            if let Some(t) = c.max_lifetime {
                r.lacks("deadpool", "max_lifetime", &secs(t), "no lifetime limit");
            }
            if c.check_on_checkout.when == CheckWhen::Never {
                r.lacks(
                    "deadpool",
                    "check_on_checkout.never",
                    "never",
                    "deadpool recycles (PING) on every checkout",
                );
            }
            if c.fairness == Fairness::Barging {
                r.lacks(
                    "deadpool",
                    "fairness.barging",
                    "barging",
                    "deadpool's semaphore is strictly FIFO",
                );
            }
            if let Some(bk) = c.connect_backoff {
                r.lacks(
                    "deadpool",
                    "connect_backoff",
                    &format!("{} to {}", secs(bk.initial), secs(bk.max)),
                    "a failed create fails the get",
                );
            }
            super::common_lacks("deadpool", c, &mut r);
            if c.honour_deadlines {
                honour_deadlines = true;
                r.lacks(
                    "deadpool",
                    "honour_deadlines",
                    "on",
                    "the adapter wraps get in tokio::time::timeout_at(request deadline), as a \
                     caller would",
                );
            }
        }
        let pool = b.build().map_err(|e| e.to_string())?;
        Ok(DeadpoolPool {
            pool,
            dialer,
            knob_findings: {
                let mut f = r.into_findings();
                f.extend(machine_findings);
                f
            },
            fail_fast,
            honour_deadlines,
            watch: Mutex::default(),
        })
    }
}

/// A deadpool pool in a scenario.
pub struct DeadpoolPool {
    pool: managed::Pool<DeadpoolRedisManager>,
    /// Connections open or being opened ([`Dialer::open`]): the crate's own count leaves out
    /// the connects in flight, which `PoolSnapshot::connections` counts.
    dialer: Dialer,
    knob_findings: Vec<Finding>,
    fail_fast: bool,
    honour_deadlines: bool,
    watch: Mutex<Watch>,
}

impl std::fmt::Debug for DeadpoolPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadpoolPool")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Observe for DeadpoolPool {
    fn snapshot(&self) -> PoolSnapshot {
        let s = self.pool.status();
        PoolSnapshot {
            connections: self.dialer.open(),
            in_use: (s.size - s.available) as u64,
            waiters: s.waiting as u64,
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let s = self.pool.status();
        // deadpool #92: more available than max_size after failed recycles.
        if s.size > s.max_size || s.available > s.max_size {
            return Err(format!(
                "deadpool: size {}, available {}, max_size {}",
                s.size, s.available, s.max_size
            ));
        }
        Ok(())
    }

    fn findings(&self) -> Vec<Finding> {
        let mut out = self.knob_findings.clone();
        let w = lock(&self.watch);
        if w.idle_checkouts > 0 && w.last_used_at_max_us * 2 < w.idle_max_us {
            out.push(Finding::new(
                "deadpool.metrics_wall_clock",
                format!(
                    "Metrics::last_used() said {:.1} ms for a connection idle {:.1} s of \
                     simulated time ({} checkouts after 1 s idle or more): deadpool's metrics \
                     read std::time::Instant (managed/metrics.rs:21-33)",
                    w.last_used_at_max_us as f64 / 1000.0,
                    w.idle_max_us as f64 / 1e6,
                    w.idle_checkouts
                ),
            ));
        }
        out
    }
}

impl PoolUnderTest for DeadpoolPool {
    type Conn = Object<DeadpoolRedisManager>;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        let r = if self.honour_deadlines {
            match tokio::time::timeout_at(deadline, self.pool.get()).await {
                Ok(r) => r,
                Err(_) => return Err(GetError::DeadlineExceeded),
            }
        } else {
            self.pool.get().await
        };
        match r {
            Ok(c) => {
                let now = sim_now_us();
                let idle = now.saturating_sub(c.idle_since_us);
                if idle >= 1_000_000 && c.created_us != c.idle_since_us {
                    let said = Object::metrics(&c).last_used().as_micros() as u64;
                    let mut w = lock(&self.watch);
                    w.idle_checkouts += 1;
                    if idle > w.idle_max_us {
                        w.idle_max_us = idle;
                        w.last_used_at_max_us = said;
                    }
                }
                Ok(c)
            }
            Err(PoolError::Timeout(managed::TimeoutType::Wait)) if self.fail_fast => {
                Err(GetError::TooManyConnections)
            }
            Err(PoolError::Timeout(managed::TimeoutType::Wait)) => Err(GetError::PoolTimeout),
            Err(PoolError::Timeout(t)) => Err(GetError::ConnectFailed(format!("{t:?} timeout"))),
            Err(PoolError::Backend(e)) => Err(e.get_error()),
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
        // deadpool-redis users drop the object whatever happened: it goes back to the pool
        // and the next recycle finds out (`Object::take` would detach it; nobody does that).
        let _ = healthy;
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
