//! The real crates under turmoil are deterministic too: the same seed gives the same trace
//! hash in this process and in a new one (for bb8, deadpool, mobc and the modelled
//! ConnectionManager), and another seed another hash.
//!
//! mobc races every get against a `futures_timer::Delay` on the wall clock with an unbiased
//! `futures::select!`: the runs here stay far below its 30 s timer (a run takes well under a
//! second of wall time), so the timer never fires and the race is never decided by it. A
//! slow machine (a run over 30 s of wall time) could change mobc's trace: that is the
//! finding `mobc.get_timeout_wall_clock`, not a flaky test: in hung-server's
//! `read-timeout-below-deadline` (not among the runs here) it did, once, beside a mutation run
//! and a build (1,363 timed-out requests instead of 1,366). bb8 ends its connect retries on
//! the wall clock too (`bb8.connect_retry_wall_clock`; the same scenario traced differently
//! once). The golden files pin such a run by its verdict and findings, not its figures.
//!
//! The child process is this test binary run again with `SIMS_REAL_CHILD=<seed>`.

use sims::RunOptions;
use sims::pools::{Knobs, PoolChoice};
use sims::run_pool;

const CHILD_ENV: &str = "SIMS_REAL_CHILD";

/// `(pool/incident/scenario, trace hash)` for the buggy run of stale-eof and cascade.
fn hashes(seed: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pool in PoolChoice::REAL_CRATES {
        for name in ["stale-eof", "cascade"] {
            let inc = sims::incidents::by_name(name).unwrap();
            let buggy = inc.scenarios(seed).remove(0);
            let run = run_pool(&buggy, &pool, Knobs::Mapped, &RunOptions::default()).unwrap();
            out.push((
                format!("{}/{name}/{}", pool.name(), buggy.name),
                run.report.trace_hash,
            ));
        }
    }
    out
}

fn seed() -> u64 {
    std::env::var("POOLSIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

#[test]
fn real_crates_same_seed_same_trace_hash_in_a_new_process() {
    if let Ok(seed) = std::env::var(CHILD_ENV) {
        for (name, hash) in hashes(seed.parse().unwrap()) {
            println!("TRACE_HASH {name} {hash}");
        }
        return;
    }
    let seed = seed();
    let replay = format!(
        "POOLSIM_SEED={seed} cargo test -p sims --test real_pools -- --exact determinism::real_crates_same_seed_same_trace_hash_in_a_new_process"
    );
    let here = hashes(seed);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "determinism::real_crates_same_seed_same_trace_hash_in_a_new_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, seed.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    let child: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.split_once("TRACE_HASH ").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_owned(), h.to_owned()))
        .collect();
    assert_eq!(
        child, here,
        "trace hash differs in a new process; replay: {replay}"
    );
    let other = hashes(seed + 1);
    for ((name, a), (_, b)) in here.iter().zip(&other) {
        assert_ne!(a, b, "{name}: seeds {seed} and {} give one trace", seed + 1);
    }
}
