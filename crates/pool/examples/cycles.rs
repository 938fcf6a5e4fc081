//! A fixed number of checkout + return cycles, the same two shapes as `benches/checkout.rs`
//! (2-worker runtime, no-op manager, pool of 8; the code is shared, `benches/support/noop.rs`),
//! for this pool or deadpool: for instruction counts under callgrind, which stay comparable
//! when the machine is too loaded for wall-clock figures, and for `perf` profiles of one pool at
//! a time. Prints the cycles run, the wall time and cycles/s.
//!
//! `cargo run --release -p pool --example cycles -- contended 2000000 [pool|deadpool]`, or
//! `valgrind --tool=callgrind target/release/examples/cycles uncontended 100000`
//! (compare the totals of two builds, or a run of N and of 2N cycles). `--help` lists the
//! arguments; an unknown shape or pool is refused (exit 2).
//!
//! `CYCLES_WORKERS=n` sets the runtime's worker threads (default 2; with 1 there is no lock
//! contention). `CYCLES_METRICS=1` prints tokio's per-worker metrics at the end (polls and
//! steal counts need `RUSTFLAGS="--cfg tokio_unstable"`).

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
#[path = "../benches/support/noop.rs"]
mod noop;

/// Which workload.
#[cfg(not(loom))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    /// One task: get, drop, repeat.
    Uncontended,
    /// 64 tasks share 8 connections: get, yield, drop.
    Contended,
}

/// Which pool.
#[cfg(not(loom))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    /// This crate's pool.
    Pool,
    /// deadpool 0.12, in the same shape.
    Deadpool,
}

/// Run N checkout + return cycles of one pool in one shape and print the time and cycles/s.
#[cfg(not(loom))]
#[derive(clap::Parser, Debug)]
#[command(
    name = "cycles",
    after_help = "Environment: CYCLES_WORKERS=n runtime worker threads (default 2); \
CYCLES_METRICS=1 prints tokio's per-worker metrics at the end."
)]
struct Args {
    /// The workload.
    #[arg(value_enum, default_value_t = Shape::Uncontended)]
    shape: Shape,
    /// Checkout + return cycles in all (split over the tasks in the contended shape).
    #[arg(default_value_t = 100_000, value_parser = at_least_one)]
    cycles: u64,
    /// The pool to run.
    #[arg(value_enum, default_value_t = Which::Pool)]
    pool: Which,
}

#[cfg(not(loom))]
fn at_least_one(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 cycle".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    use noop::{Cycle, Noop, TASKS, config, contended, deadpool_pool, uncontended};

    async fn run<P: Cycle>(pool: P, contended_shape: bool, n: u64) {
        if contended_shape {
            contended(&pool, n).await;
        } else {
            tokio::spawn(async move { uncontended(&pool, n).await })
                .await
                .expect("task");
        }
    }

    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line: clap's first line, plus the possible values it lists below it.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let values = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("[possible values: "))
                .map(|v| format!("; one of: {}", v.trim_end_matches(']')))
                .unwrap_or_default();
            eprintln!(
                "cycles: {}{values} (see --help)",
                first.strip_prefix("error: ").unwrap_or(first)
            );
            return std::process::ExitCode::from(2);
        }
    };
    let workers = match std::env::var("CYCLES_WORKERS") {
        Err(_) => 2,
        Ok(w) => match w.parse::<usize>() {
            Ok(n @ 1..=64) => n,
            _ => {
                eprintln!(
                    "cycles: CYCLES_WORKERS must be a number of threads in 1..=64, not {w:?}"
                );
                return std::process::ExitCode::from(2);
            }
        },
    };
    let (n, contended_shape) = (args.cycles, args.shape == Shape::Contended);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = rt.metrics();
    let started = std::time::Instant::now();
    rt.block_on(async move {
        match args.pool {
            Which::Pool => {
                let pool = pool::Pool::new(Noop, config()).expect("config");
                run(pool, contended_shape, n).await;
            }
            Which::Deadpool => run(deadpool_pool(), contended_shape, n).await,
        }
    });
    let secs = started.elapsed().as_secs_f64();
    // The contended shape gives each of its TASKS tasks the same share, rounded up.
    let ran = if contended_shape {
        n.div_ceil(TASKS) * TASKS
    } else {
        n
    };
    println!(
        "{} {}, {workers} workers: {ran} cycles in {secs:.3} s, {:.2} M cycles/s",
        match args.pool {
            Which::Pool => "pool",
            Which::Deadpool => "deadpool",
        },
        match args.shape {
            Shape::Uncontended => "uncontended",
            Shape::Contended => "contended",
        },
        ran as f64 / secs / 1e6
    );
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
    std::process::ExitCode::SUCCESS
}
