//! What `benches/checkout.rs` and `examples/cycles.rs` share: the same no-op manager for this
//! pool, bb8 and deadpool, one checkout + return cycle for each, the two workload shapes and the
//! configuration this pool runs them with. Included by both with `#[path]` (it is not a bench
//! target of its own: cargo only discovers `benches/*.rs` and `benches/*/main.rs`).

use pool_core::{CheckHow, Config, Reuse, WhenExhausted};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

/// Connections per pool.
pub(crate) const POOL_SIZE: u32 = 8;
/// Tasks in the contended shape.
pub(crate) const TASKS: u64 = 64;

/// The connection every pool hands out.
#[derive(Debug)]
pub(crate) struct NoopConn;

/// The same no-op manager, implemented for the three pools.
#[derive(Debug)]
pub(crate) struct Noop;

impl pool::Manager for Noop {
    type Connection = NoopConn;
    type Error = Infallible;
    async fn connect(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn)
    }
    async fn check(&self, _: &mut NoopConn, _: CheckHow) -> Result<(), Infallible> {
        Ok(())
    }
}

impl bb8::ManageConnection for Noop {
    type Connection = NoopConn;
    type Error = Infallible;
    async fn connect(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn)
    }
    async fn is_valid(&self, _: &mut NoopConn) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut NoopConn) -> bool {
        false
    }
}

impl deadpool::managed::Manager for Noop {
    type Type = NoopConn;
    type Error = Infallible;
    async fn create(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn)
    }
    async fn recycle(
        &self,
        _: &mut NoopConn,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

/// This pool's configuration: waits up to 30 s (a pool-core timer per queued request), FIFO
/// reuse, strict FIFO hand-off, no checks.
pub(crate) fn config() -> Config {
    Config {
        max_size: Some(POOL_SIZE),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(30)),
        },
        reuse: Reuse::Fifo,
        ..Config::bare()
    }
}

/// deadpool with its defaults except size.
pub(crate) fn deadpool_pool() -> deadpool::managed::Pool<Noop> {
    deadpool::managed::Pool::builder(Noop)
        .max_size(POOL_SIZE as usize)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .expect("deadpool")
}

/// One checkout + return, for any pool.
pub(crate) trait Cycle: Clone + Send + Sync + 'static {
    /// `get`, a `yield_now` while holding if `hold_across_yield` (so a holder really holds
    /// across a scheduling point), drop.
    fn cycle(&self, hold_across_yield: bool) -> impl Future<Output = ()> + Send;
}

macro_rules! cycle_for {
    ($($pool:ty),*) => {$(
        impl Cycle for $pool {
            async fn cycle(&self, hold: bool) {
                let c = self.get().await.expect("get");
                if hold {
                    tokio::task::yield_now().await;
                }
                drop(c);
            }
        }
    )*};
}
cycle_for!(
    pool::Pool<Noop>,
    bb8::Pool<Noop>,
    deadpool::managed::Pool<Noop>
);

/// One task: `iters` cycles, nothing held. Returns the elapsed time.
pub(crate) async fn uncontended<P: Cycle>(pool: &P, iters: u64) -> Duration {
    let start = tokio::time::Instant::now();
    for _ in 0..iters {
        pool.cycle(false).await;
    }
    start.elapsed()
}

/// [`TASKS`] tasks share the pool, each holding across a yield. Returns the elapsed time
/// scaled to `iters` cycles (each task runs `iters / TASKS` rounded up).
pub(crate) async fn contended<P: Cycle>(pool: &P, iters: u64) -> Duration {
    let per_task = iters.div_ceil(TASKS);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    pool.cycle(true).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * TASKS) as f64)
}
