//! Quick throughput check that tolerates a busy shared machine: the same workloads as
//! `benches/pool.rs`, 200,000 elements per run, best of 30 runs (the run least disturbed by
//! other processes). `cargo run --release -p pool-core --example throughput`.

use pool_core::drive::{CycleDriver, WaiterMixDriver};
use pool_core::{CheckHow, CheckOnCheckout, CheckWhen, Config, Pool, Profile, WhenExhausted};
use std::time::{Duration, Instant};
fn plain() -> Config {
    Config {
        max_size: Some(10),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(30)),
        },
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Never,
            how: CheckHow::Peek,
        },
        ..Profile::Deadpool.config()
    }
}
/// The workloads of the benchmark, best of 30 runs each.
fn main() {
    let n = 200_000u64;
    let mut best = [f64::MAX; 3];
    let mut a = CycleDriver::new(Pool::new(plain()).unwrap());
    a.run(10_000);
    let mut b = CycleDriver::new(Pool::new(Profile::Recommended.config()).unwrap());
    b.run(10_000);
    let mut c = WaiterMixDriver::new(
        Pool::new(Config {
            max_size: Some(4),
            honour_deadlines: true,
            ..plain()
        })
        .unwrap(),
        16,
    );
    c.run(10_000);
    for _ in 0..30 {
        let t = Instant::now();
        a.run(n);
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        b.run(n);
        best[1] = best[1].min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        c.run(n);
        best[2] = best[2].min(t.elapsed().as_secs_f64());
    }
    for (name, s) in ["plain", "recommended", "waiters"].iter().zip(best) {
        println!("{name}: {:.2} M/s", n as f64 / s / 1e6);
    }
}
