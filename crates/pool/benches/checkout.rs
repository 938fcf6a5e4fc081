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
#[path = "support/noop.rs"]
mod noop;

#[cfg(not(loom))]
mod imp {
    use crate::noop::{Cycle, Noop, POOL_SIZE, config, contended, deadpool_pool, uncontended};
    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, Criterion, Throughput};
    use tokio::runtime::Runtime;

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
        let deadpool = deadpool_pool();
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
