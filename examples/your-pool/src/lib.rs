//! An example of plugging a pool poolsim has never seen into every incident.
//!
//! [`TinyPool`] stands for "your pool": a small bounded pool with a FIFO wait queue, a wait
//! timeout and no check on checkout, written here in a few dozen lines. [`TinyPoolFactory`]
//! is the adapter: the only code a user writes to run their pool in the simulations
//! (docs/your-pool.md walks through it). `tests/incidents.rs` runs every incident against it
//! from an ordinary `cargo test`.
//!
//! Two rules make an adapter usable in a simulation: every clock and timer it uses must be
//! tokio's (turmoil drives tokio's paused clock; `std::time::Instant` does not move), and the
//! connection must come from turmoil's TCP (here through [`sims::pools::Dialer`], which makes
//! a redis-rs `MultiplexedConnection` over it).

use sims::adapter::{
    CmdError, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest, Reply,
};
use sims::pools::{ConnError, Dialer, RedisConn};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// "Your pool": at most `max_size` connections, idle ones reused oldest first, a get waits at
/// most `wait` for a permit. No check on checkout, no idle timeout.
pub struct TinyPool {
    dialer: Dialer,
    permits: Arc<Semaphore>,
    idle: Mutex<VecDeque<RedisConn>>,
    open: Mutex<u64>,
    waiting: Mutex<u64>,
    max_size: u64,
    wait: Duration,
}

/// A connection checked out of a [`TinyPool`]: it holds its permit until it is given back.
pub struct TinyConn {
    conn: RedisConn,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Why [`TinyPool::checkout`] failed.
#[derive(Debug)]
pub enum TinyError {
    /// No permit within the wait.
    Timeout,
    /// The connect failed.
    Connect(ConnError),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TinyPool {
    /// A pool of `max_size` connections from `dialer`.
    #[must_use]
    pub fn new(dialer: Dialer, max_size: u32, wait: Duration) -> Self {
        Self {
            dialer,
            permits: Arc::new(Semaphore::new(max_size as usize)),
            idle: Mutex::default(),
            open: Mutex::new(0),
            waiting: Mutex::new(0),
            max_size: u64::from(max_size),
            wait,
        }
    }

    /// A connection: an idle one, or a new one.
    pub async fn checkout(&self) -> Result<TinyConn, TinyError> {
        *lock(&self.waiting) += 1;
        let permit =
            tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await;
        *lock(&self.waiting) -= 1;
        let permit = match permit {
            Ok(Ok(p)) => p,
            _ => return Err(TinyError::Timeout),
        };
        let idle = lock(&self.idle).pop_front();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = self.dialer.connect().await.map_err(TinyError::Connect)?;
                *lock(&self.open) += 1;
                c
            }
        };
        Ok(TinyConn {
            conn,
            _permit: permit,
        })
    }

    /// Gives a connection back: kept if healthy, closed otherwise.
    pub fn give_back(&self, c: TinyConn, healthy: bool) {
        if healthy {
            lock(&self.idle).push_back(c.conn);
        } else {
            *lock(&self.open) -= 1;
            drop(c.conn);
        }
    }
}

/// The adapter: builds a [`TinyPool`] for each pod of a scenario, its size and wait taken
/// from the scenario's pool knobs.
#[derive(Clone, Copy, Debug, Default)]
pub struct TinyPoolFactory;

impl PoolFactory for TinyPoolFactory {
    type Pool = TinyPool;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<TinyPool, String> {
        let max_size = ctx.config.max_size.unwrap_or(10_000);
        let wait = ctx
            .config
            .pool_timeout()
            .unwrap_or(Duration::from_secs(3_600));
        Ok(TinyPool::new(Dialer::new(ctx, label), max_size, wait))
    }
}

impl Observe for TinyPool {
    fn snapshot(&self) -> PoolSnapshot {
        let open = *lock(&self.open);
        let idle = lock(&self.idle).len() as u64;
        PoolSnapshot {
            connections: open,
            in_use: open - idle,
            waiters: *lock(&self.waiting),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let open = *lock(&self.open);
        if open > self.max_size {
            return Err(format!(
                "{open} connections open, max_size {}",
                self.max_size
            ));
        }
        Ok(())
    }
}

impl PoolUnderTest for TinyPool {
    type Conn = TinyConn;

    async fn get(&self, _deadline: tokio::time::Instant) -> Result<TinyConn, GetError> {
        self.checkout().await.map_err(|e| match e {
            TinyError::Timeout => GetError::PoolTimeout,
            TinyError::Connect(e) => e.get_error(),
        })
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut TinyConn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        conn.conn.run(args).await
    }

    fn release(&self, conn: TinyConn, healthy: bool) {
        self.give_back(conn, healthy);
    }

    fn conn_id(&self, conn: &TinyConn) -> u64 {
        conn.conn.id()
    }

    fn conn_local_port(&self, conn: &TinyConn) -> Option<u16> {
        conn.conn.local_port()
    }
}
