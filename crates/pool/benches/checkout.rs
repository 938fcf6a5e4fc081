//! Checkout + return throughput of this pool, bb8 and deadpool with the same no-op manager, on
//! a multi-thread tokio runtime with 2 workers, in the same run:
//!
//! - `uncontended`: one task, `get` then drop, in a loop (pool of 8);
//! - `contended_64_tasks_8_conns`: 64 tasks share a pool of 8, each `get`, `yield_now` (so a
//!   holder really holds across a scheduling point), drop.
//!
//! Each pool runs with its defaults except size: bb8 tests on checkout (`is_valid`, a no-op
//! here) and times out a wait after 30 s; deadpool recycles on checkout (a no-op) and waits
//! without a timeout; this pool waits up to 30 s (a pool-core timer per queued request), FIFO
//! reuse, strict FIFO hand-off, no checks.
//!
//! `cargo bench -p pool --bench checkout` (about a minute).

#[cfg(loom)]
fn main() {}

// Modest times: the machine is shared.
#[cfg(not(loom))]
criterion::criterion_group! {
    name = benches;
    config = criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(20);
    targets = imp::bench
}
#[cfg(not(loom))]
criterion::criterion_main!(benches);

#[cfg(not(loom))]
mod imp {
    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, Criterion, Throughput};
    use pool_core::{CheckHow, Config, Reuse, WhenExhausted};
    use std::convert::Infallible;
    use std::future::Future;
    use std::time::Duration;
    use tokio::runtime::Runtime;

    const POOL_SIZE: u32 = 8;
    const TASKS: u64 = 64;

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

    fn config() -> Config {
        Config {
            max_size: Some(POOL_SIZE),
            when_exhausted: WhenExhausted::Wait {
                timeout: Some(Duration::from_secs(30)),
            },
            reuse: Reuse::Fifo,
            ..Config::bare()
        }
    }

    /// One checkout + return, for any pool.
    trait Cycle: Clone + Send + Sync + 'static {
        fn cycle(&self, hold_across_yield: bool) -> impl Future<Output = ()> + Send;
    }

    impl Cycle for pool::Pool<Noop> {
        async fn cycle(&self, hold: bool) {
            let c = self.get().await.expect("get");
            if hold {
                tokio::task::yield_now().await;
            }
            drop(c);
        }
    }

    impl Cycle for bb8::Pool<Noop> {
        async fn cycle(&self, hold: bool) {
            let c = self.get().await.expect("get");
            if hold {
                tokio::task::yield_now().await;
            }
            drop(c);
        }
    }

    impl Cycle for deadpool::managed::Pool<Noop> {
        async fn cycle(&self, hold: bool) {
            let c = self.get().await.expect("get");
            if hold {
                tokio::task::yield_now().await;
            }
            drop(c);
        }
    }

    async fn uncontended<P: Cycle>(pool: &P, iters: u64) -> Duration {
        let start = tokio::time::Instant::now();
        for _ in 0..iters {
            pool.cycle(false).await;
        }
        start.elapsed()
    }

    async fn contended<P: Cycle>(pool: &P, iters: u64) -> Duration {
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
        // Scale to the requested iteration count (per_task * TASKS >= iters).
        start
            .elapsed()
            .mul_f64(iters as f64 / (per_task * TASKS) as f64)
    }

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn bench_uncontended<P: Cycle>(
        g: &mut BenchmarkGroup<'_, WallTime>,
        rt: &Runtime,
        name: &str,
        pool: &P,
    ) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let pool = pool.clone();
                rt.block_on(async move {
                    tokio::spawn(async move { uncontended(&pool, iters).await })
                        .await
                        .expect("task")
                })
            });
        });
    }

    fn bench_contended<P: Cycle>(
        g: &mut BenchmarkGroup<'_, WallTime>,
        rt: &Runtime,
        name: &str,
        pool: &P,
    ) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let pool = pool.clone();
                rt.block_on(async move { contended(&pool, iters).await })
            });
        });
    }

    pub(crate) fn bench(c: &mut Criterion) {
        let rt = runtime();
        let ours = rt.block_on(async { pool::Pool::new(Noop, config()).expect("config") });
        let bb8 = rt.block_on(async {
            bb8::Pool::builder()
                .max_size(POOL_SIZE)
                .build(Noop)
                .await
                .expect("bb8")
        });
        let deadpool = deadpool::managed::Pool::builder(Noop)
            .max_size(POOL_SIZE as usize)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("deadpool");
        // The three pools back to back in each group, so they see similar machine load.
        let mut g = c.benchmark_group("uncontended");
        g.throughput(Throughput::Elements(1));
        bench_uncontended(&mut g, &rt, "pool", &ours);
        bench_uncontended(&mut g, &rt, "bb8", &bb8);
        bench_uncontended(&mut g, &rt, "deadpool", &deadpool);
        g.finish();
        let mut g = c.benchmark_group("contended_64_tasks_8_conns");
        g.throughput(Throughput::Elements(1));
        bench_contended(&mut g, &rt, "pool", &ours);
        bench_contended(&mut g, &rt, "bb8", &bb8);
        bench_contended(&mut g, &rt, "deadpool", &deadpool);
        g.finish();
    }
}
