//! What the engine-comparing tests share: a run on both engines and the comparison of their
//! signature figures.

#![allow(dead_code)]

use sims::oracle::{Steps, derive_steps, disagreements};
use sims::report::Sample;
use sims::{Engine, Report, RunOptions, Scenario, run_on};

/// How far apart the engines may be on a figure: 10 % of the larger value, at least 5
/// (docs/architecture.md, "The two engines", says how far apart they are measured to be).
pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.10 * a.abs().max(b.abs())).max(5.0)
}

/// The signature figures of a report, by name.
pub(crate) fn figures(r: &Report) -> Vec<(&'static str, f64)> {
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

/// Where the two reports' figures differ by more than [`close`] allows.
pub(crate) fn differences(turmoil: &Report, fast: &Report) -> Vec<String> {
    figures(turmoil)
        .into_iter()
        .zip(figures(fast))
        .filter(|((_, a), (_, b))| !close(*a, *b))
        .map(|((name, a), (_, b))| format!("{name} turmoil {a} fast {b}"))
        .collect()
}

/// Runs `s` on both engines: (turmoil's report, fast's report).
pub(crate) fn both(s: &Scenario) -> (Report, Report) {
    let t = run_on(Engine::Turmoil, s, &RunOptions::default()).unwrap();
    let f = run_on(Engine::Fast, s, &RunOptions::default()).unwrap();
    (t.report, f.report)
}

/// A run of `s` on `engine` with its trace.
pub(crate) fn traced(engine: Engine, s: &Scenario) -> sims::Run {
    let opts = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    run_on(engine, s, &opts).unwrap()
}

/// Runs `s` on `engine` keeping its trace and requires every figure the oracle re-derives
/// from the trace alone to equal the report's.
pub(crate) fn oracle_check(engine: Engine, s: &Scenario) {
    let run = traced(engine, s);
    let figures = derive_steps(run.trace.iter().map(String::as_str), Steps::of(s, engine))
        .unwrap_or_else(|e| panic!("{} seed {} ({engine}): {e}", s.name, s.seed));
    let retries = run.metrics.get("retries") as u64;
    let bad = disagreements(&run.report, retries, &figures);
    assert!(
        bad.is_empty(),
        "{} seed {} ({engine}): the report and the trace disagree:\n  {}",
        s.name,
        s.seed,
        bad.join("\n  ")
    );
    // The oracle saw work, not an empty trace.
    assert!(figures.requests > 0, "{}", s.name);
}

/// The timeline in a few numbers: enough to notice any change, small enough to read.
pub(crate) fn timeline_digest(timeline: &[Sample]) -> serde_json::Value {
    let lines: Vec<String> = timeline
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
    let max = |f: fn(&Sample) -> u64| timeline.iter().map(f).max().unwrap_or(0);
    serde_json::json!({
        "samples": timeline.len(),
        "fnv1a": format!("{:016x}", sims::trace::hash_lines(lines.iter().map(String::as_str))),
        "first": timeline.first(),
        "last": timeline.last(),
        "max": {
            "pool_connections": max(|s| s.pool_connections),
            "in_use": max(|s| s.in_use),
            "waiters": max(|s| s.waiters),
            "server_clients": max(|s| s.server_clients),
            "errors": max(|s| s.errors),
        },
    })
}
