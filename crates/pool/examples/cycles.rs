//! A fixed number of checkout + return cycles, the same two shapes as `benches/checkout.rs`
//! (2-worker runtime, no-op manager, pool of 8): for instruction counts under callgrind, which
//! stay comparable when the machine is too loaded for wall-clock figures:
//!
//! `valgrind --tool=callgrind target/release/examples/cycles uncontended 100000`
//! (or `contended`; compare the totals of two builds, or a run of N and of 2N cycles).

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    use pool_core::{CheckHow, Config, Reuse, WhenExhausted};
    use std::convert::Infallible;
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

    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "uncontended".into());
    let n: u64 = args
        .next()
        .map_or(100_000, |s| s.parse().expect("a cycle count"));
    let config = Config {
        max_size: Some(8),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(30)),
        },
        reuse: Reuse::Fifo,
        ..Config::bare()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let pool = pool::Pool::new(Noop, config).expect("config");
        if shape == "contended" {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        for _ in 0..n / 64 {
                            let c = pool.get().await.expect("get");
                            tokio::task::yield_now().await;
                            drop(c);
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
                    drop(pool.get().await.expect("get"));
                }
            })
            .await
            .expect("task");
        }
    });
}
