//! Prints the first lines of a built-in run's trace on both engines.
use sims::{Engine, RunOptions, run_on};
fn main() {
    let mut a = std::env::args().skip(1);
    let (inc, run, n) = (
        a.next().unwrap(),
        a.next().unwrap(),
        a.next().map_or(40, |n| n.parse().unwrap()),
    );
    let incident = sims::incidents::by_name(&inc).unwrap();
    let s = incident
        .scenarios(incident.default_seed)
        .into_iter()
        .find(|s| s.name == run)
        .unwrap();
    for e in Engine::ALL {
        let r = run_on(
            e,
            &s,
            &RunOptions {
                keep_trace: true,
                ..RunOptions::default()
            },
        )
        .unwrap();
        println!(
            "== {e}: p50 {} p90 {} p99 {}",
            r.report.latency_ms.p50, r.report.latency_ms.p90, r.report.latency_ms.p99
        );
        for l in r.trace.iter().take(n) {
            println!("{l}");
        }
    }
}
