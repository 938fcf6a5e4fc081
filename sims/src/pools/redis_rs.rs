//! redis-rs's `aio::ConnectionManager` in a scenario: MODELLED, not run.
//!
//! `ConnectionManager` cannot run over a turmoil stream: it owns a `redis::Client` and dials
//! with `Client::get_multiplexed_async_connection_with_config`
//! (`redis-1.8.1/src/aio/connection_manager.rs:596-612`), which opens a real tokio socket.
//! So this file re-implements its reconnect logic, line for line where it matters, over a
//! redis-rs `MultiplexedConnection` made by [`Dialer`] (the multiplexed connection, its
//! driver, its response timeout, its errors are redis-rs's real code):
//!
//! - one shared connection for every request (`Internals::connection`, an `ArcSwap` of a
//!   shared future, `:343-358`); a request awaits it while it is being made;
//! - created lazily and shared (`new_lazy_with_config`, `:470-590`);
//! - a command error with `is_unrecoverable_error()` starts a reconnect in the background,
//!   once per broken connection (the compare-and-swap of `reconnect`, `:623-675`, and
//!   `reconnect_if_dropped!`, `:405-415`); the error still goes to the caller;
//! - a failed (re)connect fails the requests waiting on it; an I/O error starts another
//!   reconnect (`reconnect_if_io_error!`, `:417-428`, `send_packed_command`, `:702-713`);
//! - retries: backon's `ExponentialBuilder` with factor 2, min delay 100 ms, 6 retries and
//!   jitter (`:113-115`, `:480-487`), a delay of `min(max_delay, rand(0 .. min_delay *
//!   exponent_base ^ try))` as redis-rs's doc comment says (`:443-447`). backon itself is not
//!   compiled here (the `connection-manager` feature is off) and its source was not read: the
//!   model draws the random part from the scenario seed, where backon draws it from its own
//!   random source, not seeded by the simulation. So the real manager's reconnect timing
//!   would not be reproducible run to run; the model's is.
//! - defaults: response timeout 500 ms, connection timeout 1 s (`client.rs:182-184`).
//!
//! A request "gets" the shared connection; there is no pool: every pool knob of a scenario
//! is named as lacking (`knob.*` findings).

use super::{ConnError, Dialer, RedisConn, secs};
use crate::adapter::{
    CmdError, Finding, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest,
    Reply,
};
use crate::rng::Rng;
use pool_core::{CheckWhen, WhenExhausted};
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `DEFAULT_CONNECTION_RETRY_MIN_DELAY` (`connection_manager.rs:114`).
const MIN_DELAY: Duration = Duration::from_millis(100);
/// `DEFAULT_CONNECTION_RETRY_EXPONENT_BASE` (`:113`).
const FACTOR: u32 = 2;
/// `DEFAULT_NUMBER_OF_CONNECTION_RETRIES` (`:115`).
const RETRIES: u32 = 6;

/// Builds the modelled `ConnectionManager` per pod.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionManagerFactory {
    /// Mapped knobs (only the connect timeout maps; the others are named as lacking) or
    /// `ConnectionManagerConfig`'s defaults.
    pub knobs: super::Knobs,
}

enum Slot {
    /// A (re)connect is in flight.
    Connecting,
    Ready(RedisConn),
    /// The last (re)connect failed with this error; `io` says whether it was an I/O error.
    Failed {
        error: ConnError,
        io: bool,
    },
}

struct State {
    /// Bumped at every reconnect: the `current` guard of the compare-and-swap.
    generation: u64,
    slot: Slot,
}

struct Shared {
    dialer: Dialer,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    rng: Mutex<Rng>,
    in_use: AtomicU64,
    waiters: AtomicU64,
    reconnects: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The modelled `ConnectionManager` of one pod.
pub struct ConnectionManagerModel {
    shared: Arc<Shared>,
    knob_findings: Vec<Finding>,
}

impl std::fmt::Debug for ConnectionManagerModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionManagerModel")
            .finish_non_exhaustive()
    }
}

/// A request's handle on the shared connection.
#[derive(Debug)]
pub struct SharedConn {
    generation: u64,
    id: u64,
    local_port: Option<u16>,
    conn: MultiplexedConnection,
}

impl Shared {
    /// `ConnectionManager::reconnect`: swaps in a new connection future if `generation` is
    /// still the current one, and drives it in the background.
    fn reconnect(self: &Arc<Self>, generation: u64) {
        {
            let mut s = lock(&self.state);
            if s.generation != generation {
                return;
            }
            s.generation += 1;
            // The old connection is dropped here (traced `pool.close`).
            let old = std::mem::replace(&mut s.slot, Slot::Connecting);
            if let Slot::Ready(mut c) = old {
                c.close_reason = "reconnect";
                drop(c);
            }
        }
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        let me = Arc::clone(self);
        tokio::spawn(async move { me.connect_with_retries().await });
    }

    /// `new_connection` with backon's `retry(exponential_backoff)`.
    async fn connect_with_retries(self: Arc<Self>) {
        let mut attempt = 0u32;
        let slot = loop {
            match self.dialer.connect().await {
                Ok(c) => break Slot::Ready(c),
                Err(_) if attempt < RETRIES => {
                    // redis-rs's own account of its back-off (`:443-447`): the delay is
                    // `min(max_delay, rand(0 .. min_delay * exponent_base ^ try))`; max_delay
                    // is unset by default.
                    let bound = MIN_DELAY * FACTOR.pow(attempt);
                    let delay_us = lock(&self.rng).below(bound.as_micros() as u64);
                    attempt += 1;
                    tokio::time::sleep(Duration::from_micros(delay_us)).await;
                }
                Err(e) => {
                    let io = match &e {
                        ConnError::Redis(r) => r.is_io_error(),
                        ConnError::Timeout | ConnError::MaxClients => true,
                    };
                    break Slot::Failed { error: e, io };
                }
            }
        };
        lock(&self.state).slot = slot;
        self.changed.notify_waiters();
    }
}

impl PoolFactory for ConnectionManagerFactory {
    type Pool = ConnectionManagerModel;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<ConnectionManagerModel, String> {
        let c = &ctx.config;
        let dialer =
            Dialer::new(ctx, label).with_connection_timeout(super::connect_timeout(c, self.knobs));
        let mut r = super::KnobReport::default();
        if self.knobs == super::Knobs::Mapped {
            let name = "redis-rs ConnectionManager";
            let shared_note = "one multiplexed connection shared by every request";
            match c.max_size {
                Some(n) => r.lacks(name, "max_size", &n.to_string(), shared_note),
                None => r.lacks(name, "max_size", "unbounded", shared_note),
            }
            match c.when_exhausted {
                WhenExhausted::Wait { timeout: Some(t) } => {
                    r.lacks(name, "pool_timeout", &secs(t), "no pool, no wait")
                }
                WhenExhausted::Wait { timeout: None } => {}
                WhenExhausted::FailFast => {
                    r.lacks(name, "when_exhausted.fail_fast", "fail fast", "no pool")
                }
            }
            if c.check_on_checkout.when != CheckWhen::Never {
                r.lacks(
                    name,
                    "check_on_checkout",
                    "on",
                    "no check: a dead connection is found by the next command, which fails",
                );
            }
            if let Some(t) = c.idle_timeout {
                r.lacks(name, "idle_timeout", &secs(t), "the connection is kept");
            }
            if let Some(t) = c.max_lifetime {
                r.lacks(name, "max_lifetime", &secs(t), "the connection is kept");
            }
            if c.min_idle > 0 {
                r.lacks(name, "min_idle", &c.min_idle.to_string(), "one connection");
            }
            if let Some(k) = c.keepalive {
                r.lacks(
                    name,
                    "keepalive",
                    &format!("every {}", secs(k.interval)),
                    "no background ping",
                );
            }
            if c.honour_deadlines {
                r.lacks(
                    name,
                    "honour_deadlines",
                    "on",
                    "requests wait for the (re)connect, bounded by its retries",
                );
            }
        }
        let shared = Arc::new(Shared {
            dialer,
            state: Mutex::new(State {
                generation: 0,
                slot: Slot::Connecting,
            }),
            changed: tokio::sync::Notify::new(),
            // The jitter's stream: the pool config's seed and the pod's label (deterministic).
            rng: Mutex::new(Rng::stream(
                ctx.config.seed,
                label
                    .bytes()
                    .fold(0xC0FF_EE00, |h, b| h.wrapping_mul(31) ^ u64::from(b)),
            )),
            in_use: AtomicU64::new(0),
            waiters: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        // new_lazy_with_config: the first connect is a shared future, driven here at once.
        let first = Arc::clone(&shared);
        tokio::spawn(async move { first.connect_with_retries().await });
        Ok(ConnectionManagerModel {
            shared,
            knob_findings: r.into_findings(),
        })
    }
}

impl Observe for ConnectionManagerModel {
    fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            // The shared connection, and a (re)connect under way.
            connections: self.shared.dialer.open(),
            in_use: self.shared.in_use.load(Ordering::Relaxed),
            waiters: self.shared.waiters.load(Ordering::Relaxed),
        }
    }

    fn findings(&self) -> Vec<Finding> {
        let mut out = self.knob_findings.clone();
        out.push(Finding::new(
            "redis_rs.modelled",
            format!(
                "ConnectionManager dials real sockets (connection_manager.rs:596-612); its \
                 reconnect logic was re-implemented over a redis-rs MultiplexedConnection, \
                 the jitter of its back-off drawn from the scenario seed instead of backon's random source; {} reconnects",
                self.shared.reconnects.load(Ordering::Relaxed)
            ),
        ));
        out
    }
}

impl PoolUnderTest for ConnectionManagerModel {
    type Conn = SharedConn;

    async fn get(&self, _deadline: tokio::time::Instant) -> Result<SharedConn, GetError> {
        let sh = &self.shared;
        loop {
            let notified = sh.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the state is read: a notify_waiters in between is not lost.
            notified.as_mut().enable();
            {
                let s = lock(&sh.state);
                match &s.slot {
                    Slot::Ready(c) => {
                        sh.in_use.fetch_add(1, Ordering::Relaxed);
                        return Ok(SharedConn {
                            generation: s.generation,
                            id: c.id(),
                            local_port: c.local_port(),
                            conn: c.conn_ref().clone(),
                        });
                    }
                    Slot::Failed { error, io } => {
                        let e = error.get_error();
                        let (io, generation) = (*io, s.generation);
                        drop(s);
                        if io {
                            sh.reconnect(generation);
                        }
                        return Err(e);
                    }
                    Slot::Connecting => {}
                }
            }
            sh.waiters.fetch_add(1, Ordering::Relaxed);
            notified.await;
            sh.waiters.fetch_sub(1, Ordering::Relaxed);
        }
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut SharedConn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(*a);
        }
        match cmd.query_async::<redis::Value>(&mut conn.conn).await {
            Ok(v) => Ok(super::reply_of(v)),
            Err(e) => {
                if e.is_unrecoverable_error() {
                    self.shared.reconnect(conn.generation);
                }
                Err(super::cmd_error(&e))
            }
        }
    }

    fn release(&self, conn: SharedConn, _healthy: bool) {
        self.shared.in_use.fetch_sub(1, Ordering::Relaxed);
        drop(conn);
    }

    fn conn_id(&self, conn: &SharedConn) -> u64 {
        conn.id
    }

    fn conn_local_port(&self, conn: &SharedConn) -> Option<u16> {
        conn.local_port
    }
}
