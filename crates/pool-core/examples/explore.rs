//! The main job: explore every pool profile exhaustively, scaled down, and say whether any
//! invariant can be broken. `cargo run --release -p pool-core --example explore [-- --help]`.
//!
//! Every profile is scaled down with `explore::scale_down` (sizes ≤ 2, durations mapped to a
//! few seconds) and explored with up to REQUESTS acquires (default 4), every connect and check
//! outcome, cancels, broken releases, peer closes, deadlines and a shutdown; every invariant is
//! checked in every state, and from every state a healing run (connects succeed, checks pass,
//! connections are released, timers fire) must end every request. A second pass lets time
//! also move in 1 s ticks (at most 3 requests). Then each planted bug (feature `mutations`)
//! is explored under the `recommended` profile to show that the explorer finds it, with the
//! shortest input sequence.
//!
//! Ends with a `verdict:` line. Exit status: 0 when every profile is clean, complete, and
//! every planted bug is caught; 1 otherwise (a violation, a truncated exploration, a planted
//! bug not caught); 2 for a bad command line.

use clap::Parser;
use pool_core::explore::{Bounds, Report, explore, explore_pool, scale_down};
use pool_core::mutations::Mutation;
use pool_core::{Pool, Profile};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Explore every pool profile exhaustively (scaled down to max_size 2 and a few seconds) and
/// check every invariant in every reachable state, then show that planted bugs are caught.
#[derive(Parser, Debug)]
#[command(
    name = "explore",
    after_help = "Columns: states = distinct reachable states; transitions = inputs fed, \
including those leading to a state already seen; depth = the longest shortest input sequence \
to a state; violations = invariants broken (the shortest counterexample is printed); time = \
wall-clock time of that exploration.\n\n\
Exit status: 0 all clean and complete and every planted bug caught; 1 otherwise (a \
violation, a truncated exploration, a planted bug not caught); 2 for a bad command line."
)]
struct Args {
    /// Most Acquire inputs in one input sequence (states grow steeply with it).
    #[arg(default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=6))]
    requests: u32,
    /// Stop an exploration after this many distinct states; a stopped one is reported as
    /// truncated and the run fails.
    #[arg(long, default_value_t = Bounds::default().max_states)]
    max_states: usize,
    /// Explore only this profile (repeatable; default: every profile).
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    profile: Vec<Profile>,
    /// Skip the second pass (1 s ticks).
    #[arg(long)]
    no_ticks: bool,
    /// Skip the planted bugs.
    #[arg(long)]
    no_planted: bool,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::by_name(s).map_err(|_| {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        format!("unknown profile; one of: {}", names.join(", "))
    })
}

/// What went wrong, for the verdict.
#[derive(Default)]
struct Problems {
    violated: Vec<String>,
    truncated: Vec<String>,
    not_caught: Vec<String>,
}

/// Print one row and note what it shows (a violation, truncation).
fn row(name: &str, r: &Report, elapsed: Duration, problems: &mut Problems) {
    println!(
        "{:<26} {:>10} {:>12} {:>6} {:>10} {:>8.2}s{}",
        name,
        r.states,
        r.transitions,
        r.max_depth,
        r.violations.len(),
        elapsed.as_secs_f64(),
        if r.truncated { "  (truncated)" } else { "" }
    );
    for v in &r.violations {
        println!("{v}");
    }
    if !r.violations.is_empty() {
        problems.violated.push(name.to_owned());
    }
    if r.truncated {
        problems.truncated.push(name.to_owned());
    }
}

fn header() {
    println!(
        "{:<26} {:>10} {:>12} {:>6} {:>10} {:>9}",
        "profile", "states", "transitions", "depth", "violations", "time"
    );
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!(
                "explore: {} (see --help)",
                first.strip_prefix("error: ").unwrap_or(first)
            );
            return ExitCode::from(2);
        }
    };
    let profiles = if args.profile.is_empty() {
        Profile::ALL.to_vec()
    } else {
        args.profile.clone()
    };
    let requests = args.requests;
    let bounds = Bounds {
        requests,
        stop_at_first: true,
        liveness: true,
        max_states: args.max_states,
        ..Bounds::default()
    };
    let mut problems = Problems::default();
    let started = Instant::now();
    println!(
        "exhaustive exploration, {requests} requests, every input kind, profiles scaled down;"
    );
    println!(
        "safety invariants in every state, liveness (healing ends every request) from every state"
    );
    println!(
        "states: distinct reachable states; transitions: inputs fed (also into states already seen);"
    );
    println!("depth: longest shortest input sequence to a state; violations: invariants broken");
    header();
    for p in &profiles {
        let t = Instant::now();
        let r = explore(&scale_down(&p.config()), &bounds).expect("profiles are valid");
        row(p.name(), &r, t.elapsed(), &mut problems);
    }
    if !args.no_ticks {
        let ticked = Bounds {
            requests: requests.min(3),
            tick: Some(Duration::from_secs(1)),
            ..bounds.clone()
        };
        println!();
        println!(
            "the same with 1 s ticks (inputs may also arrive between timers), {} requests:",
            ticked.requests
        );
        header();
        for p in &profiles {
            let t = Instant::now();
            let r = explore(&scale_down(&p.config()), &ticked).expect("profiles are valid");
            row(
                &format!("{} (ticks)", p.name()),
                &r,
                t.elapsed(),
                &mut problems,
            );
        }
    }
    let mut caught = 0;
    if !args.no_planted {
        println!();
        println!("planted bugs (profile recommended, scaled down) must be caught:");
        for m in Mutation::ALL {
            let mut pool = Pool::new(scale_down(&Profile::Recommended.config())).expect("valid");
            pool.set_mutation(Some(m));
            let t = Instant::now();
            let r = explore_pool(pool, &bounds);
            match r.violations.first() {
                Some(v) => {
                    caught += 1;
                    let n = v.trace.len();
                    println!(
                        "{m:?}: caught in {:.2}s; shortest counterexample ({n} input{}):",
                        t.elapsed().as_secs_f64(),
                        if n == 1 { "" } else { "s" }
                    );
                    println!("{v}");
                }
                None => {
                    let why = if r.truncated {
                        format!("truncated at {} states", r.states)
                    } else {
                        format!("{} states, all explored; try more requests", r.states)
                    };
                    println!("{m:?}: NOT caught ({why})");
                    problems.not_caught.push(format!("{m:?}"));
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let passes = if args.no_ticks { 1 } else { 2 };
    let mut fails = Vec::new();
    if !problems.violated.is_empty() {
        fails.push(format!(
            "invariant violated in {}",
            problems.violated.join(", ")
        ));
    }
    if !problems.truncated.is_empty() {
        fails.push(format!(
            "{} explorations truncated at {} states (raise --max-states): {}",
            problems.truncated.len(),
            args.max_states,
            problems.truncated.join(", ")
        ));
    }
    if !problems.not_caught.is_empty() {
        fails.push(format!(
            "planted bugs not caught: {}",
            problems.not_caught.join(", ")
        ));
    }
    if fails.is_empty() {
        let planted = if args.no_planted {
            "planted bugs skipped".to_owned()
        } else {
            format!("{caught} of {} planted bugs caught", Mutation::ALL.len())
        };
        println!(
            "verdict: PASS: {} profiles x {passes} passes explored completely, no invariant violated; {planted} ({secs:.1}s)",
            profiles.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL: {} ({secs:.1}s)", fails.join("; "));
        ExitCode::FAILURE
    }
}
