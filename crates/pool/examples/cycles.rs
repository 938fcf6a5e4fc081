//! A fixed number of checkout + return cycles, the same two shapes as `benches/checkout.rs`
//! (2-worker runtime, no-op manager, pool of 8), for this pool or deadpool: for instruction
//! counts under callgrind, which stay comparable when the machine is too loaded for wall-clock
//! figures, and for `perf` profiles of one pool at a time:
//!
//! `valgrind --tool=callgrind target/release/examples/cycles uncontended 100000`
//! (or `contended`; compare the totals of two builds, or a run of N and of 2N cycles; a third
//! argument `deadpool` runs deadpool in the same shape instead of this pool).

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    use pool_core::{CheckHow, Config, Reuse, WhenExhausted};
    use std::convert::Infallible;
    use std::future::Future;
    use std::time::Duration;

    struct Noop;
    impl pool::Manager for Noop {
        type Connection = ();
        type Error = Infallible;
        async fn connect(&self) -> Result<(), Infallible> {
            Ok(())
        }
        async fn check(&self, (): &mut (), _: CheckHow) -> Result<(), Infallible> {
            Ok(())
        }
    }
    impl deadpool::managed::Manager for Noop {
        type Type = ();
        type Error = Infallible;
        async fn create(&self) -> Result<(), Infallible> {
            Ok(())
        }
        async fn recycle(
            &self,
            (): &mut (),
            _: &deadpool::managed::Metrics,
        ) -> deadpool::managed::RecycleResult<Infallible> {
            Ok(())
        }
    }

    /// One checkout, an optional yield while holding, the return.
    trait Cycle: Clone + Send + Sync + 'static {
        fn cycle(&self, hold: bool) -> impl Future<Output = ()> + Send;
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
    impl Cycle for deadpool::managed::Pool<Noop> {
        async fn cycle(&self, hold: bool) {
            let c = self.get().await.expect("get");
            if hold {
                tokio::task::yield_now().await;
            }
            drop(c);
        }
    }

    async fn run<P: Cycle>(pool: P, contended: bool, n: u64) {
        if contended {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        for _ in 0..n / 64 {
                            pool.cycle(true).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        } else {
            tokio::spawn(async move {
                for _ in 0..n {
                    pool.cycle(false).await;
                }
            })
            .await
            .expect("task");
        }
    }

    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "uncontended".into());
    let n: u64 = args
        .next()
        .map_or(100_000, |s| s.parse().expect("a cycle count"));
    let which = args.next().unwrap_or_else(|| "pool".into());
    let contended = shape == "contended";
    let config = Config {
        max_size: Some(8),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(30)),
        },
        reuse: Reuse::Fifo,
        ..Config::bare()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("CYCLES_WORKERS")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = rt.metrics();
    rt.block_on(async move {
        match which.as_str() {
            "pool" => run(pool::Pool::new(Noop, config).expect("config"), contended, n).await,
            "deadpool" => {
                let pool = deadpool::managed::Pool::builder(Noop)
                    .max_size(8)
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
                    .expect("deadpool");
                run(pool, contended, n).await;
            }
            other => panic!("unknown pool {other:?}: pool or deadpool"),
        }
    });
    if std::env::var_os("CYCLES_METRICS").is_some() {
        for w in 0..metrics.num_workers() {
            #[cfg(tokio_unstable)]
            eprintln!(
                "worker {w}: polls {} steals {} local {} overflow {} noop {} parks {} busy {:?}",
                metrics.worker_poll_count(w),
                metrics.worker_steal_count(w),
                metrics.worker_local_schedule_count(w),
                metrics.worker_overflow_count(w),
                metrics.worker_noop_count(w),
                metrics.worker_park_count(w),
                metrics.worker_total_busy_duration(w)
            );
            #[cfg(not(tokio_unstable))]
            eprintln!(
                "worker {w}: parks {} busy {:?}",
                metrics.worker_park_count(w),
                metrics.worker_total_busy_duration(w)
            );
        }
    }
}
