//! The report agrees with the oracle: every figure `sims::oracle` re-derives from the trace
//! alone equals the runner's, for every built-in run at other seeds than its incident's
//! default one (the default seeds are checked in `tests/pinned.rs`, with the snapshots). The two are computed from different data (the runner's books
//! and pool snapshots; the trace's events), so a figure lost or mis-ranked in either shows up.

use sims::oracle::{derive, disagreements};
use sims::{CorePoolFactory, RunOptions, Scenario, run_with};

fn check(s: &Scenario) {
    let opts = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let run = run_with(s, CorePoolFactory, &opts).unwrap();
    let figures = derive(run.trace.iter().map(String::as_str))
        .unwrap_or_else(|e| panic!("{} seed {}: {e}", s.name, s.seed));
    let retries = run.metrics.get("retries") as u64;
    let bad = disagreements(&run.report, retries, &figures);
    assert!(
        bad.is_empty(),
        "{} seed {}: the report and the trace disagree:\n  {}",
        s.name,
        s.seed,
        bad.join("\n  ")
    );
    // The oracle saw work, not an empty trace.
    assert!(figures.requests > 0, "{}", s.name);
}

/// Two more seeds per incident, every run (the default seeds are in `tests/pinned.rs`).
fn sweep(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    for seed in [11, 12] {
        for s in incident.scenarios(seed) {
            check(&s);
        }
    }
}

#[test]
fn stale_eof_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("stale-eof");
}

#[test]
fn explosion_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("explosion");
}

#[test]
fn cascade_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("cascade");
}
