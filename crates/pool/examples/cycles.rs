//! A fixed number of checkout + return cycles, the same two shapes as `benches/checkout.rs`
//! (2-worker runtime, no-op manager, pool of 8; the code is shared, `benches/support/noop.rs`),
//! for this pool or deadpool: for instruction counts under callgrind, which stay comparable
//! when the machine is too loaded for wall-clock figures, and for `perf` profiles of one pool at
//! a time:
//!
//! `valgrind --tool=callgrind target/release/examples/cycles uncontended 100000`
//! (or `contended`; compare the totals of two builds, or a run of N and of 2N cycles; a third
//! argument `deadpool` runs deadpool in the same shape instead of this pool).
//!
//! `CYCLES_WORKERS=n` sets the runtime's worker threads (default 2; with 1 there is no lock
//! contention). `CYCLES_METRICS=1` prints tokio's per-worker metrics at the end (polls and
//! steal counts need `RUSTFLAGS="--cfg tokio_unstable"`).

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
#[path = "../benches/support/noop.rs"]
mod noop;

#[cfg(not(loom))]
fn main() {
    use noop::{Cycle, Noop, config, contended, deadpool_pool, uncontended};

    async fn run<P: Cycle>(pool: P, contended_shape: bool, n: u64) {
        if contended_shape {
            contended(&pool, n).await;
        } else {
            tokio::spawn(async move { uncontended(&pool, n).await })
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
    let contended_shape = shape == "contended";
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
            "pool" => {
                let pool = pool::Pool::new(Noop, config()).expect("config");
                run(pool, contended_shape, n).await;
            }
            "deadpool" => run(deadpool_pool(), contended_shape, n).await,
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
