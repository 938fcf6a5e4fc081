use sims::pools::{Knobs, PoolChoice, run_pool};
use sims::RunOptions;

#[test]
#[ignore]
fn explore() {
    let which = std::env::var("POOL").unwrap_or("bb8".into());
    let inc = std::env::var("INC").unwrap_or("stale-eof".into());
    let choice = PoolChoice::parse(&which).unwrap();
    let incident = sims::incidents::by_name(&inc).unwrap();
    for s in incident.scenarios(incident.default_seed) {
        let t = std::time::Instant::now();
        let run = run_pool(&s, &choice, Knobs::Mapped, &RunOptions::default()).unwrap();
        println!("{} [{:.1}s] met={} {} errors={:?} peak_conn={} peak_clients={}", s.name, t.elapsed().as_secs_f64(), run.report.expectation_met, run.report.verdict, run.report.errors, run.report.peak_pool_connections, run.report.peak_server_clients);
        for f in &run.report.findings { println!("    {f}"); }
    }
    let s = &incident.scenarios(incident.default_seed)[0];
    let run = run_pool(s, &choice, Knobs::CrateDefaults, &RunOptions::default()).unwrap();
    println!("DEFAULTS {} {} errors={:?}", s.name, run.report.verdict, run.report.errors);
    for f in &run.report.findings { println!("    {f}"); }
}
