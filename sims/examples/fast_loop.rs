//! Runs one built-in run on the fast engine N times (for profiling).
use sims::{Engine, RunOptions, run_on};
fn main() {
    let mut a = std::env::args().skip(1);
    let (inc, run, n) = (
        a.next().unwrap(),
        a.next().unwrap(),
        a.next().map_or(50, |n| n.parse().unwrap()),
    );
    let incident = sims::incidents::by_name(&inc).unwrap();
    let s = incident
        .scenarios(incident.default_seed)
        .into_iter()
        .find(|s| s.name == run)
        .unwrap();
    let t = std::time::Instant::now();
    for _ in 0..n {
        let r = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
        assert!(r.report.expectation_met);
    }
    println!(
        "{:.2} ms per run",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    );
}
