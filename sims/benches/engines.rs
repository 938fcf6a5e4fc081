//! The two engines side by side: wall time of every built-in run on turmoil and on the fast
//! engine, their ratio, and the fast engine's cost per event. Release build.
//!
//! `cargo bench -p sims --bench engines [-- ROUNDS [INCIDENT]]` (default 5 rounds, every
//! incident). Prints, per run: the median wall time on each engine (min..max over the
//! rounds), turmoil / fast, the fast engine's events and steps and its nanoseconds per event.
//! Rounds alternate the engines so that a busy machine slows both alike. The targets (issue
//! #17: the fast engine at least 20x turmoil on each incident's buggy run) and the figures
//! measured are in docs/performance.md.

use sims::{Engine, RunOptions, run_on};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(v[0]), ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let only = args.get(1).cloned();
    println!("rounds: {rounds}; wall ms as median (min..max)");
    println!(
        "{:10} {:28} {:>22} {:>22} {:>7} {:>8} {:>7} {:>8}",
        "incident", "run", "turmoil", "fast", "ratio", "events", "steps", "ns/event"
    );
    for inc in sims::incidents::ALL {
        if only.as_deref().is_some_and(|o| o != inc.name) {
            continue;
        }
        for (i, s) in inc.scenarios(inc.default_seed).iter().enumerate() {
            if sims::fast::supports(s).is_err() {
                continue; // one engine only: nothing to compare
            }
            let mut turmoil = Vec::new();
            let mut fast = Vec::new();
            let mut stats = sims::fast::Stats::default();
            for _ in 0..rounds {
                let t = Instant::now();
                let r = run_on(Engine::Turmoil, s, &RunOptions::default()).expect("valid");
                turmoil.push(t.elapsed());
                assert!(r.met(), "{}: {}", s.name, r.report.verdict);
                let t = Instant::now();
                let (r, st) = sims::fast::run_with_stats(s, &RunOptions::default()).expect("valid");
                fast.push(t.elapsed());
                assert!(r.met(), "{} (fast): {}", s.name, r.report.verdict);
                stats = st;
            }
            let (tl, tm, th) = median(turmoil);
            let (fl, fm, fh) = median(fast);
            println!(
                "{:10} {:28} {:>8.1} ({:>5.1}..{:>5.1}) {:>8.2} ({:>5.2}..{:>5.2}) {:>6.1}x {:>8} {:>7} {:>8.0}{}",
                inc.name,
                s.name,
                tm,
                tl,
                th,
                fm,
                fl,
                fh,
                tm / fm,
                stats.events,
                stats.steps,
                fm * 1e6 / stats.events.max(1) as f64,
                if i == 0 { "  (buggy run)" } else { "" }
            );
        }
    }
}
