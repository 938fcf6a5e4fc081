//! Determinism is the product: the same seed gives the same trace hash in this process and in
//! a new one; another seed gives another hash.
//!
//! The child process is this test binary run again with `SIMS_DETERMINISM_CHILD=<seed>`; it
//! prints one `TRACE_HASH <incident>/<scenario> <hash>` line per buggy scenario.

use sims::incidents::ALL;

const CHILD_ENV: &str = "SIMS_DETERMINISM_CHILD";

/// `(engine:incident/scenario, trace hash)` of every incident's buggy run for `seed`, on
/// both engines.
fn hashes(seed: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for engine in sims::Engine::ALL {
        for inc in &ALL {
            let buggy = inc.scenarios(seed).remove(0);
            if engine == sims::Engine::Fast && sims::fast::supports(&buggy).is_err() {
                continue; // a topology: turmoil only
            }
            let run = sims::run_on(engine, &buggy, &sims::RunOptions::default()).unwrap();
            assert!(
                run.report.expectation_met,
                "{engine}: {}: {}",
                inc.name, run.report.verdict
            );
            out.push((
                format!("{engine}:{}/{}", inc.name, buggy.name),
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
fn same_seed_same_trace_hash_in_a_new_process() {
    if let Ok(seed) = std::env::var(CHILD_ENV) {
        for (name, hash) in hashes(seed.parse().unwrap()) {
            println!("TRACE_HASH {name} {hash}");
        }
        return;
    }
    let seed = seed();
    let replay = format!(
        "POOLSIM_SEED={seed} cargo test -p sims --test determinism -- --exact same_seed_same_trace_hash_in_a_new_process"
    );
    let here = hashes(seed);
    assert_eq!(
        here,
        hashes(seed),
        "same seed, another trace in-process; replay: {replay}"
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "same_seed_same_trace_hash_in_a_new_process",
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
        // libtest may print "test <name> ... " on the same line before the output.
        .filter_map(|l| l.split_once("TRACE_HASH ").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_owned(), h.to_owned()))
        .collect();
    assert_eq!(
        child, here,
        "trace hash differs in a new process; replay: {replay}"
    );
}

#[test]
fn another_seed_gives_another_trace() {
    let a = hashes(seed());
    let b = hashes(seed() + 1);
    for ((name, ha), (_, hb)) in a.iter().zip(&b) {
        assert_ne!(ha, hb, "{name}: the seed must drive the run");
    }
}
