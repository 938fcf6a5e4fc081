//! The report agrees with the oracle: every figure `sims::oracle` re-derives from the trace
//! alone equals the runner's, for every built-in run at other seeds than its incident's
//! default one (the default seeds are checked in `tests/pinned.rs`, with the snapshots). The two are computed from different data (the runner's books
//! and pool snapshots; the trace's events), so a figure lost or mis-ranked in either shows up.

mod common;

use sims::Engine;
use sims::Scenario;

fn check(s: &Scenario) {
    common::oracle_check(Engine::Turmoil, s);
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
