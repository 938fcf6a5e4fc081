//! The main job: explore every profile (scaled down to small bounds) exhaustively and print a
//! table. `cargo run --release -p pool-core --example explore [-- REQUESTS]`.
//!
//! Every profile is scaled down with `explore::scale_down` (sizes ≤ 2, durations mapped to a
//! few seconds) and explored with up to REQUESTS acquires (default 4), every connect and check
//! outcome, cancels, broken releases, peer closes, deadlines and a shutdown; every invariant is
//! checked in every state, and from every state a healing run (connects succeed, checks pass,
//! connections are released, timers fire) must end every request. Then each planted
//! bug (feature `mutations`) is explored under the `recommended` profile to show that the explorer
//! finds it, with the shortest input sequence. Exits non-zero if a real profile has a
//! violation or a planted bug goes unnoticed.

use pool_core::explore::{Bounds, explore, explore_pool, scale_down};
use pool_core::mutations::Mutation;
use pool_core::{Pool, Profile};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let requests: u32 = std::env::args()
        .nth(1)
        .map_or(4, |a| a.parse().expect("REQUESTS must be a number"));
    let bounds = Bounds {
        requests,
        stop_at_first: true,
        liveness: true,
        ..Bounds::default()
    };
    let mut failed = false;
    println!(
        "exhaustive exploration, {requests} requests, every input kind, profiles scaled down;"
    );
    println!(
        "safety invariants in every state, liveness (healing ends every request) from every state"
    );
    println!(
        "{:<18} {:>10} {:>12} {:>6} {:>10} {:>9}",
        "profile", "states", "transitions", "depth", "violations", "time"
    );
    for p in Profile::ALL {
        let config = scale_down(&p.config());
        let t = Instant::now();
        let r = explore(&config, &bounds).expect("profiles are valid");
        let el = t.elapsed();
        println!(
            "{:<18} {:>10} {:>12} {:>6} {:>10} {:>8.2}s{}",
            p.name(),
            r.states,
            r.transitions,
            r.max_depth,
            r.violations.len(),
            el.as_secs_f64(),
            if r.truncated { "  (truncated)" } else { "" }
        );
        for v in &r.violations {
            failed = true;
            println!("{v}");
        }
    }
    println!();
    println!("the same with 1 s ticks (inputs may also arrive between timers), 3 requests:");
    let ticked = Bounds {
        requests: requests.min(3),
        tick: Some(std::time::Duration::from_secs(1)),
        ..bounds.clone()
    };
    for p in Profile::ALL {
        let t = Instant::now();
        let r = explore(&scale_down(&p.config()), &ticked).expect("profiles are valid");
        println!(
            "{:<18} {:>10} {:>12} {:>6} {:>10} {:>8.2}s{}",
            p.name(),
            r.states,
            r.transitions,
            r.max_depth,
            r.violations.len(),
            t.elapsed().as_secs_f64(),
            if r.truncated { "  (truncated)" } else { "" }
        );
        for v in &r.violations {
            failed = true;
            println!("{v}");
        }
    }
    println!();
    println!("planted bugs (profile recommended, scaled down) must be caught:");
    for m in Mutation::ALL {
        let mut pool = Pool::new(scale_down(&Profile::Recommended.config())).expect("valid");
        pool.set_mutation(Some(m));
        let t = Instant::now();
        let r = explore_pool(pool, &bounds);
        match r.violations.first() {
            Some(v) => {
                println!(
                    "{m:?}: caught in {:.2}s; shortest counterexample:",
                    t.elapsed().as_secs_f64()
                );
                println!("{v}");
            }
            None => {
                failed = true;
                println!("{m:?}: NOT caught ({} states)", r.states);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
