//! The explorer's results table (docs/invariants.md) and its speed (docs/performance.md):
//! every built-in run's small instance at the CI bounds, then, per incident, the largest
//! instance each run reaches within a time limit.
//!
//! ```text
//! cargo run --release -p sims --example explore_table            # the CI bounds
//! cargo run --release -p sims --example explore_table -- grow 60 [RUN...]
//!     # per run (or only the runs named, `incident/run`), instances of growing size until one
//!     # takes 60 s: the largest explored within it
//! ```

use sims::explore::{builtin, default_bounds, explore};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let grow: Option<f64> = (args.get(1).map(String::as_str) == Some("grow"))
        .then(|| args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60.0));
    println!(
        "| run | outcome | requests | faults | states | transitions | depth | time | states/s | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let only: Vec<&String> = args.iter().skip(3).collect();
    for inc in sims::incidents::ALL {
        for s in inc.scenarios(inc.default_seed) {
            let run = s.name.rsplit('/').next().unwrap_or(&s.name).to_owned();
            let label = format!("{}/{run}", inc.name);
            if !only.is_empty() && !only.iter().any(|o| **o == label) {
                continue;
            }
            let outcome = format!("{:?}", s.expect.outcome).to_lowercase();
            // The CI bounds (sims/tests/explore.rs); a failover instance at 1 request, its
            // own events on its timeline and no further fault.
            let failover = inc.name == "failover";
            let env = u32::from(label != "hung-server/read-timeout-below-deadline" && !failover);
            let requests = if failover { 1 } else { 2 };
            let mut plan = vec![(requests, env, 2_000_000)];
            if let Some(limit) = grow {
                plan = vec![(2, 0), (2, 1), (3, 0), (2, 2), (3, 1), (4, 0)]
                    .into_iter()
                    .map(|(n, e)| (n, e, 20_000_000))
                    .collect();
                row_all(&label, &outcome, &plan, limit);
                continue;
            }
            row_all(&label, &outcome, &plan, f64::INFINITY);
        }
    }
}

/// One row per instance in `plan` (requests, fault budget, state budget) until one takes
/// longer than `limit` seconds.
fn row_all(label: &str, outcome: &str, plan: &[(u32, u32, usize)], limit: f64) {
    let (inc, run) = label.split_once('/').unwrap_or((label, ""));
    for &(n, env, max) in plan {
        let inst = match builtin(inc, run, n) {
            Ok(i) => i,
            Err(e) => {
                println!("| {label} | {outcome} | - | - | - | - | - | - | - | not explored: {e} |");
                return;
            }
        };
        let mut b = default_bounds(&inst, n, max);
        b.max_env_actions = env;
        if limit.is_finite() {
            b.max_time = Some(std::time::Duration::from_secs_f64(limit));
        }
        let o = explore(&inst, &b, None).expect("explores");
        let secs = o.elapsed.as_secs_f64();
        let verdict = match &o.found {
            Some(c) => format!(
                "refuted: {} ({} moves)",
                short(&c.what, &c.detail),
                c.moves.len()
            ),
            None => o.verdict().to_owned(),
        };
        println!(
            "| {label} | {outcome} | {n} | {env} | {} | {} | {} | {secs:.2} s | {:.0} | {verdict} |",
            o.states,
            o.transitions,
            o.depth,
            o.states as f64 / secs.max(1e-9),
        );
        if o.truncated.is_some() {
            return;
        }
    }
}

fn short(what: &str, detail: &str) -> String {
    if what == "claim" {
        detail.split(" (was").next().unwrap_or(detail).to_owned()
    } else {
        what.to_owned()
    }
}
