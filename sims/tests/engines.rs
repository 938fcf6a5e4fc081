//! The two engines agree: every built-in run shows the same signature on turmoil and on the
//! fast engine (its expectation met on both, the signature figures within a stated
//! tolerance), the fast engine's reports agree with the oracle's reading of its traces, and
//! its runs meet their expectations over a seed sweep. docs/architecture.md lists what each
//! engine models that the other does not; docs/performance.md the measured differences.

use sims::oracle::{derive, disagreements};
use sims::{Engine, Report, RunOptions, Scenario, run_on};

/// How far apart the engines may be on a figure: 10 % of the larger value, at least 5.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.10 * a.abs().max(b.abs())).max(5.0)
}

/// The signature figures of a report, by name.
fn figures(r: &Report) -> Vec<(&'static str, f64)> {
    vec![
        ("requests", r.requests as f64),
        ("succeeded", r.succeeded as f64),
        ("errors.eof", r.errors.eof as f64),
        ("errors.pool_timeout", r.errors.pool_timeout as f64),
        (
            "errors.too_many_connections",
            r.errors.too_many_connections as f64,
        ),
        ("errors.max_clients", r.errors.max_clients as f64),
        (
            "errors.deadline_exceeded",
            r.errors.deadline_exceeded as f64,
        ),
        ("errors.other", r.errors.other as f64),
        ("peak_pool_connections", r.peak_pool_connections as f64),
        ("peak_server_clients", r.peak_server_clients as f64),
        ("rejected_connections", r.rejected_connections as f64),
        ("server_ops_per_sec", r.server_ops_per_sec),
    ]
}

fn both_engines(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    let mut bad = Vec::new();
    for s in incident.scenarios(incident.default_seed) {
        let t = run_on(Engine::Turmoil, &s, &RunOptions::default()).unwrap();
        let f = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
        for (e, r) in [("turmoil", &t.report), ("fast", &f.report)] {
            if !r.expectation_met {
                bad.push(format!("{}: {e}: {}", s.name, r.verdict));
            }
        }
        for ((name, a), (_, b)) in figures(&t.report).into_iter().zip(figures(&f.report)) {
            if !close(a, b) {
                bad.push(format!("{}: {name} turmoil {a} fast {b}", s.name));
            }
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

fn oracle_check(s: &Scenario) {
    let opts = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let run = run_on(Engine::Fast, s, &opts).unwrap();
    let figures = derive(run.trace.iter().map(String::as_str))
        .unwrap_or_else(|e| panic!("{} seed {}: {e}", s.name, s.seed));
    let retries = run.metrics.get("retries") as u64;
    let bad = disagreements(&run.report, retries, &figures);
    assert!(
        bad.is_empty(),
        "{} seed {} (fast engine): the report and the trace disagree:\n  {}",
        s.name,
        s.seed,
        bad.join("\n  ")
    );
    assert!(figures.requests > 0, "{}", s.name);
}

#[test]
fn the_fast_engine_agrees_with_the_oracle() {
    for incident in sims::incidents::ALL {
        for seed in [incident.default_seed, 11] {
            for s in incident.scenarios(seed) {
                oracle_check(&s);
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
