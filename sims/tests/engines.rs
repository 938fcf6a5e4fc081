//! The two engines agree: every built-in run shows the same signature on turmoil and on the
//! fast engine (its expectation met on both, the signature figures within a stated
//! tolerance), the fast engine's reports agree with the oracle's reading of its traces, and
//! its runs meet their expectations over a seed sweep. docs/architecture.md lists what each
//! engine models that the other does not; docs/performance.md the measured differences.

mod common;

use common::{both, differences};
use sims::{Engine, RunOptions, Scenario, run_on};

fn both_engines(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    let mut bad = Vec::new();
    for s in incident.scenarios(incident.default_seed) {
        let (t, f) = both(&s);
        for (e, r) in [("turmoil", &t), ("fast", &f)] {
            if !r.expectation_met {
                bad.push(format!("{}: {e}: {}", s.name, r.verdict));
            }
        }
        for d in differences(&t, &f) {
            bad.push(format!("{}: {d}", s.name));
        }
    }
    assert!(
        bad.is_empty(),
        "the engines disagree:\n  {}\nreplay: cargo run --release -p sims --example engines {}",
        bad.join("\n  "),
        incident.name
    );
}

#[test]
fn stale_eof_shows_the_same_signature_on_both_engines() {
    both_engines("stale-eof");
}

#[test]
fn explosion_shows_the_same_signature_on_both_engines() {
    both_engines("explosion");
}

#[test]
fn cascade_shows_the_same_signature_on_both_engines() {
    both_engines("cascade");
}

#[test]
fn the_fast_engine_agrees_with_the_oracle() {
    for incident in sims::incidents::ALL {
        for seed in [incident.default_seed, 11] {
            for s in incident.scenarios(seed) {
                common::oracle_check(Engine::Fast, &s);
            }
        }
    }
}

/// Every built-in run meets its expectation on the fast engine for seeds 1..=20.
#[test]
fn every_built_in_run_holds_its_expectation_on_the_fast_engine_over_20_seeds() {
    let mut failed = Vec::new();
    for incident in sims::incidents::ALL {
        for seed in 1..=20 {
            for s in incident.scenarios(seed) {
                let r = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
                if !r.report.expectation_met {
                    failed.push(format!(
                        "{}/{} seed {seed}: {}; replay: cargo run --release -p poolsim -- \
                         replay {} --seed {seed} --engine fast",
                        incident.name, s.name, r.report.verdict, incident.name
                    ));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The worked examples of `examples/scenarios/` (events, latency spikes, load changes, server
/// timeouts) meet their expectation on both engines, with close figures.
#[test]
fn the_example_scenarios_agree_on_both_engines() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let s = Scenario::from_toml(&std::fs::read_to_string(f).unwrap()).unwrap();
        let (t, fast) = both(&s);
        for (e, r) in [("turmoil", &t), ("fast", &fast)] {
            if !r.expectation_met {
                bad.push(format!("{}: {e}: {}", f.display(), r.verdict));
            }
        }
        for d in differences(&t, &fast) {
            bad.push(format!("{}: {d}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
