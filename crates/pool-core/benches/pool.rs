//! Throughput of the state machine, single-threaded.
//! `cargo bench -p pool-core --bench pool` (about 20 s).
//!
//! - `cycle/plain`: acquire → grant → release, one request at a time, no checks, no timers.
//! - `cycle/recommended`: the same with the recommended profile (a Peek check on every
//!   checkout: acquire → check → check passed → grant → release; idle and lifetime timers).
//! - `waiters/mix`: 4 connections all in use, 16 queued requests with deadlines; each element
//!   is one release handed off to the oldest waiter plus one new queued acquire (every 16th
//!   also a cancel, a re-acquire and an early timeout).
//!
//! Each iteration runs 1,000 elements; criterion reports elements per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pool_core::drive::{CycleDriver, WaiterMixDriver};
use pool_core::{CheckHow, CheckOnCheckout, CheckWhen, Config, Pool, Profile, WhenExhausted};
use std::hint::black_box;
use std::time::Duration;

const BATCH: u64 = 1_000;

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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cycle");
    g.throughput(Throughput::Elements(BATCH));
    for (name, config) in [
        ("plain", plain()),
        ("recommended", Profile::Recommended.config()),
    ] {
        let mut d = CycleDriver::new(Pool::new(config).expect("valid"));
        d.run(10_000);
        g.bench_function(name, |b| b.iter(|| black_box(d.run(BATCH))));
    }
    g.finish();

    let mut g = c.benchmark_group("waiters");
    g.throughput(Throughput::Elements(BATCH));
    let config = Config {
        max_size: Some(4),
        honour_deadlines: true,
        ..plain()
    };
    let mut d = WaiterMixDriver::new(Pool::new(config).expect("valid"), 16);
    d.run(10_000);
    g.bench_function("mix", |b| b.iter(|| black_box(d.run(BATCH))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
