//! Prints the first cases `poolsim fuzz` draws around a fix, as TOML (a look at what the
//! environment strategy generates): `cargo run -p sims --example fuzz_cases -- cascade/sized-pool-60 3`.

use proptest::strategy::{Strategy, ValueTree};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args
        .next()
        .unwrap_or_else(|| "stale-eof/check-on-checkout".to_owned());
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let targets = sims::fuzz::targets(Some(&which)).unwrap_or_else(|e| panic!("{e}"));
    for t in targets {
        let strategy = t.strategy();
        for i in 0..n {
            let mut runner = sims::fuzz::case_runner(1, &t.claim.name(), i);
            let case = strategy.new_tree(&mut runner).expect("a case").current();
            println!("# {} case {i}\n{}", t.claim.name(), case.to_toml());
        }
    }
}
