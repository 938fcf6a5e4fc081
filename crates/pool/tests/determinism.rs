#![cfg(not(loom))]
//! Determinism is the product: the same seed must give the same trace, byte for byte, in this
//! process and in a new one.
//!
//! The scenario is incident A (seed 003) in small: a radix.v2-like pool (no bound, 3 idle kept,
//! FIFO, no check on checkout) against fake-redis with `timeout 5`; seeded workers make
//! requests, the service idles 8 s, then the workers come back. Every request's outcome is
//! logged with its simulated time, then the pool's and the server's counters; the FNV-1a hash
//! of that log is the trace hash. The test also pins the incident's signature: exactly the 3
//! pooled connections read EOF after the gap.
//!
//! The seed is `POOLSIM_SEED` (decimal or `0x` hex) when set, else [`DEFAULT_SEED`]; it is
//! printed first, and a failure prints the command that replays it, e.g.
//! `POOLSIM_SEED=1592590339 cargo test -p pool --test determinism -- --exact
//! same_seed_same_trace_hash_in_a_new_process`.

use fake_redis::{FakeRedis, ServerConfig};
use pool::Pool;
use pool::redis::TurmoilRedisManager;
use pool_core::Profile;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, sleep};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Set in the child process: run the scenario for this seed and print its hash.
const CHILD_ENV: &str = "POOLSIM_TRACE_CHILD_SEED";
/// The seed when `POOLSIM_SEED` is not set (1592590339).
const DEFAULT_SEED: u64 = 0x5eed_0003;
/// The environment variable that chooses the seed.
const SEED_ENV: &str = "POOLSIM_SEED";

/// The seed of this run: `POOLSIM_SEED` or the default. Printed, so a log shows it first.
fn seed() -> u64 {
    let seed = match std::env::var(SEED_ENV) {
        Err(_) => DEFAULT_SEED,
        Ok(v) => {
            let t = v.trim();
            let parsed = match t.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => t.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{SEED_ENV}={v:?} is not a u64 (decimal or 0x hex)"))
        }
    };
    println!("seed {seed} ({SEED_ENV}={seed} replays it)");
    seed
}

/// The shell command that replays `test` with `seed`.
fn replay(seed: u64, test: &str) -> String {
    format!("{SEED_ENV}={seed} cargo test -p pool --test determinism -- --exact {test}")
}

/// SplitMix64 step: the workers' think times come from the seed, nothing else.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs the scenario; returns the trace (one line per event) and the number of failed requests
/// after the idle gap.
fn run(seed: u64) -> Result<(Vec<String>, usize), Box<dyn std::error::Error>> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(60))
        .tick_duration(Duration::from_millis(1))
        .build();
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 5,
        ..ServerConfig::default()
    });
    let host_server = server.clone();
    sim.host("redis", move || {
        let server = host_server.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
            server.serve_turmoil(listener).await?;
            Ok(())
        }
    });
    let trace = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures_after_gap = Arc::new(Mutex::new(0usize));
    let (t, f) = (trace.clone(), failures_after_gap.clone());
    sim.client("app", async move {
        let pool = Pool::new(
            TurmoilRedisManager::new("redis", 6379),
            Profile::RadixV2.config(),
        )?;
        let start = Instant::now();
        for phase in 0..2u64 {
            let mut workers = Vec::new();
            for w in 0..6u64 {
                let (pool, t, f) = (pool.clone(), t.clone(), f.clone());
                let mut rng = seed ^ (phase << 32) ^ w;
                workers.push(tokio::spawn(async move {
                    for r in 0..5u64 {
                        sleep(Duration::from_millis(next(&mut rng) % 200)).await;
                        let outcome = match pool.get().await {
                            Ok(mut conn) => match conn.set(format!("k{w}"), format!("{r}")).await {
                                Ok(()) => "ok".to_string(),
                                Err(e) => format!("command error: {e}"),
                            },
                            Err(e) => format!("pool error: {e}"),
                        };
                        if phase == 1 && outcome != "ok" {
                            *f.lock().unwrap() += 1;
                        }
                        let ms = start.elapsed().as_millis();
                        t.lock()
                            .unwrap()
                            .push(format!("{ms} phase{phase} w{w} r{r} {outcome}"));
                    }
                }));
            }
            for worker in workers {
                worker.await?;
            }
            // The service idles longer than the server's `timeout 5`.
            sleep(Duration::from_secs(8)).await;
        }
        let st = pool.state();
        let stats = pool.stats();
        t.lock().unwrap().push(format!("pool {st:?}"));
        t.lock().unwrap().push(format!(
            "pool grants={} connects={} closes={:?} peak_total={}",
            stats.grants, stats.connects_succeeded, stats.closes, stats.peak_total
        ));
        Ok(())
    });
    sim.run()?;
    let s = server.stats();
    trace.lock().unwrap().push(format!(
        "server received={} commands={} timed_out={}",
        s.total_connections_received, s.total_commands_processed, s.timed_out_clients
    ));
    let lines = std::mem::take(&mut *trace.lock().unwrap());
    let failures = *failures_after_gap.lock().unwrap();
    Ok((lines, failures))
}

fn trace_hash(lines: &[String]) -> u64 {
    fnv1a(lines.join("\n").as_bytes())
}

#[test]
fn same_seed_same_trace_hash_in_a_new_process() -> TestResult {
    if let Ok(seed) = std::env::var(CHILD_ENV) {
        let (lines, _) = run(seed.parse()?)?;
        println!("TRACE_HASH {:016x}", trace_hash(&lines));
        return Ok(());
    }
    let seed = seed();
    let (lines, failures) = run(seed)?;
    let here = trace_hash(&lines);
    let replay = replay(seed, "same_seed_same_trace_hash_in_a_new_process");

    // Same seed, same process.
    let (again, _) = run(seed)?;
    assert_eq!(
        lines, again,
        "same seed, different trace; replay with:\n{replay}\n"
    );

    // Same seed, new process: run this very test binary as a child in "child" mode.
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "same_seed_same_trace_hash_in_a_new_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, seed.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\nreplay with:\n{replay}\n"
    );
    let child = stdout
        .lines()
        .find_map(|l| l.split_once("TRACE_HASH ").map(|(_, h)| h.trim()))
        .ok_or_else(|| format!("child printed no hash: {stdout}"))?;
    assert_eq!(
        child,
        format!("{here:016x}"),
        "trace hash differs in a new process; replay with:\n{replay}\n"
    );

    // The trace is about something: incident A's signature is in it.
    assert_eq!(
        failures,
        3,
        "after the idle gap exactly the 3 pooled connections must read EOF; trace:\n{}\nreplay with:\n{replay}\n",
        lines.join("\n")
    );
    Ok(())
}

#[test]
fn another_seed_gives_another_trace() -> TestResult {
    let seed = seed();
    let (a, _) = run(seed)?;
    let (b, _) = run(seed.wrapping_add(1))?;
    assert_ne!(
        trace_hash(&a),
        trace_hash(&b),
        "the seed must drive the run; replay with:\n{}\n",
        replay(seed, "another_seed_gives_another_trace")
    );
    Ok(())
}
