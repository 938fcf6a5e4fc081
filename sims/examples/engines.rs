//! Runs every built-in scenario on both engines and prints their figures side by side.
use sims::{Engine, RunOptions, run_on};
use std::time::Instant;

fn main() {
    let only = std::env::args().nth(1);
    for incident in sims::incidents::ALL {
        for s in incident.scenarios(incident.default_seed) {
            if only
                .as_deref()
                .is_some_and(|o| !s.name.contains(o) && incident.name != o)
            {
                continue;
            }
            for e in Engine::ALL {
                if e == Engine::Fast && sims::fast::supports(&s).is_err() {
                    println!(
                        "{:<10} {:<28} fast    (turmoil only)",
                        incident.name, s.name
                    );
                    continue;
                }
                let t = Instant::now();
                let r = run_on(e, &s, &RunOptions::default()).unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let rep = &r.report;
                println!(
                    "{:<10} {:<28} {:<7} {:>8.1} ms req {:>6} ok {:>6} err [{}] p99 {:.1} peak pool {} srv {} rej {} ops {:.0} met {} steps {} | {}",
                    incident.name,
                    s.name,
                    e.name(),
                    ms,
                    rep.requests,
                    rep.succeeded,
                    rep.errors.summary(),
                    rep.latency_ms.p99,
                    rep.peak_pool_connections,
                    rep.peak_server_clients,
                    rep.rejected_connections,
                    rep.server_ops_per_sec,
                    rep.expectation_met,
                    r.steps,
                    rep.verdict.chars().take(120).collect::<String>()
                );
            }
        }
    }
}
