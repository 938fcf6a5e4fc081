//! Every incident against "your pool", from an ordinary `cargo test` (docs/your-pool.md).
//!
//! `cargo test -p your-pool` runs it. The assertions are what this pool is known to do; a
//! change in the pool that changes them fails here with the command that replays the run.

use sims::incidents::ALL;
use sims::run_with;
use your_pool::TinyPoolFactory;

/// Runs every scenario of every incident; no run may break an invariant (the pool's own,
/// checked after every simulation step, or the server's and the requests'). Returns
/// (incident/scenario, expectation met, errors).
fn all_runs() -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    for inc in ALL {
        for s in inc.scenarios(inc.default_seed) {
            let run = run_with(&s, TinyPoolFactory, &inc.run_options(false)).unwrap();
            let r = &run.report;
            assert!(
                r.invariant_violations.is_empty(),
                "{}/{}: {}; replay: {}",
                inc.name,
                s.name,
                r.verdict,
                inc.replay_command(inc.default_seed)
            );
            out.push((
                format!("{}/{}", inc.name, s.name),
                r.expectation_met,
                r.errors.summary(),
            ));
        }
    }
    out
}

#[test]
fn tiny_pool_in_every_incident() {
    let runs = all_runs();
    for (name, met, errors) in &runs {
        println!("{name}: expectation met {met}, {errors}");
    }
    let run = |name: &str| runs.iter().find(|r| r.0 == name).unwrap();
    // No check on checkout and no max_idle: every connection idle over the gap (6, one per
    // user, where radix.v2 kept 3) fails one request with EOF, then the pool has replaced it.
    assert_eq!(run("stale-eof/radix-v2").2, "6 eof");
    // A fix that needs a check or an idle timeout cannot hold: TinyPool has neither.
    assert!(!run("stale-eof/check-on-checkout").1);
    // Unbounded it grows into maxclients, as the explosion's buggy run expects.
    assert!(run("explosion/redis-py-unbounded").1);
    // Bounded and waiting, sized as the fix says: the cascade's fix holds.
    assert!(run("cascade/sized-pool-60").1);
}
