//! Wall time of each incident's default replay (buggy + fixed runs), release build.
//!
//! `cargo bench -p sims --bench replay [-- ROUNDS [INCIDENT]]` (default 5 rounds, every
//! incident). Prints, per scenario, the simulated duration, the steps, the requests and the
//! min / median / max wall time over the rounds, then per incident the same for the whole
//! replay. The target is at most 2 s per incident (docs/incidents.md records the figures).

use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let s = |d: Duration| d.as_secs_f64();
    (s(v[0]), s(v[v.len() / 2]), s(v[v.len() - 1]))
}

fn main() {
    // cargo passes `--bench`; anything starting with `-` is not ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let only = args.get(1).cloned();
    println!("rounds: {rounds} (min / median / max wall seconds)");
    for inc in sims::incidents::ALL {
        if only.as_deref().is_some_and(|o| o != inc.name) {
            continue;
        }
        let scenarios = inc.scenarios(inc.default_seed);
        let mut per: Vec<Vec<Duration>> = vec![Vec::new(); scenarios.len()];
        let mut totals = Vec::new();
        let mut shape = Vec::new();
        for round in 0..rounds {
            let start = Instant::now();
            for (i, s) in scenarios.iter().enumerate() {
                let t = Instant::now();
                let run = sims::run(s).expect("valid scenario");
                per[i].push(t.elapsed());
                assert!(run.met(), "{}: {}", s.name, run.report.verdict);
                if round == 0 {
                    shape.push((run.steps, run.report.requests));
                }
            }
            totals.push(start.elapsed());
        }
        println!("\n{} (seed {})", inc.name, inc.default_seed);
        println!(
            "  {:28} {:>9} {:>7} {:>8}  {:>6} {:>6} {:>6}",
            "scenario", "sim s", "steps", "requests", "min", "median", "max"
        );
        for (i, s) in scenarios.iter().enumerate() {
            let (lo, med, hi) = stats(per[i].clone());
            println!(
                "  {:28} {:>9.1} {:>7} {:>8}  {lo:>6.3} {med:>6.3} {hi:>6.3}",
                s.name,
                s.duration_ms as f64 / 1000.0,
                shape[i].0,
                shape[i].1
            );
        }
        let (lo, med, hi) = stats(totals);
        println!(
            "  {:28} {:>9} {:>7} {:>8}  {lo:>6.3} {med:>6.3} {hi:>6.3}",
            "whole replay", "", "", ""
        );
    }
}
