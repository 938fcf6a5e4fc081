fn main() {
    let from: u64 = std::env::args().nth(1).map_or(1, |s| s.parse().unwrap());
    let to: u64 = std::env::args().nth(2).map_or(20, |s| s.parse().unwrap());
    for inc in sims::incidents::ALL {
        let t = std::time::Instant::now();
        let mut bad = 0;
        for seed in from..=to {
            for s in inc.scenarios(seed) {
                let r = sims::run(&s).unwrap();
                if !r.report.expectation_met {
                    bad += 1;
                    println!("{} {} seed {seed}: {}", inc.name, s.name, r.report.verdict);
                }
            }
        }
        println!("{}: seeds {from}..={to}, {bad} failures, {:.1}s", inc.name, t.elapsed().as_secs_f64());
    }
}
