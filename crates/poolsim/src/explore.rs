//! `poolsim explore`: pool-core's bounded exhaustive explorer over one or every profile,
//! scaled down; every invariant in every state, liveness from every state.

use crate::ExploreArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pool_core::Profile;
use pool_core::explore::{Bounds, explore, scale_down};
use std::process::ExitCode;
use std::time::Instant;

/// What `pool_core::invariants` checks in every state and over every history
/// (`docs/invariants.md` has a paragraph on each).
const INVARIANTS: &str = "conservation, size bound, waiter bound, request bookkeeping, \
hand-off (no idle connection while a request waits), no stall, min_idle, nothing past its \
bound or expiry after a timeout, timer coverage; over histories: no connection granted twice, \
every request ends exactly once, strict FIFO grants when configured, a refused input changes \
nothing; liveness: healing from every state ends every request";

pub(crate) fn main(a: &ExploreArgs) -> ExitCode {
    let profiles: Vec<Profile> = if a.profile.is_empty() {
        Profile::ALL.to_vec()
    } else {
        a.profile
            .iter()
            // The parser accepted only valid names.
            .map(|n| Profile::by_name(n).expect("checked by the parser"))
            .collect()
    };
    let bounds = Bounds {
        requests: a.requests,
        stop_at_first: true,
        liveness: true,
        max_states: a.max_states,
        ..Bounds::default()
    };
    println!(
        "exhaustive exploration: {} request(s), every connect/check outcome, cancels, broken \
         releases, peer closes, deadlines, a shutdown; time moves to every timer",
        a.requests
    );
    println!("invariants checked in every state: {INVARIANTS}");
    println!(
        "{:<20} {:>8} {:>10} {:>12} {:>6} {:>9}",
        "profile", "max_size", "states", "transitions", "depth", "time"
    );
    let pb = if profiles.len() > 1 {
        let pb = ProgressBar::with_draw_target(
            Some(profiles.len() as u64),
            ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:30} {pos}/{len} profiles  {msg}",
            )
            // A literal template that parses.
            .expect("valid template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut bad = Vec::new();
    for p in &profiles {
        pb.set_message(p.name());
        let mut config = scale_down(&p.config());
        if let Some(n) = a.max_size {
            config.max_size = Some(n);
            config.min_idle = config.min_idle.min(n);
            config.max_idle = config.max_idle.map(|m| m.min(n).max(config.min_idle));
        }
        let t = Instant::now();
        let r = match explore(&config, &bounds) {
            Ok(r) => r,
            Err(e) => {
                pb.finish_and_clear();
                return crate::usage_error(&format!("{}: {e}", p.name()));
            }
        };
        let size = config.max_size.map_or("-".to_owned(), |n| n.to_string());
        pb.suspend(|| {
            println!(
                "{:<20} {:>8} {:>10} {:>12} {:>6} {:>8.2}s{}",
                p.name(),
                size,
                r.states,
                r.transitions,
                r.max_depth,
                t.elapsed().as_secs_f64(),
                if r.truncated { "  TRUNCATED" } else { "" }
            );
            for v in &r.violations {
                print!("counterexample: {v}");
            }
        });
        if !r.violations.is_empty() {
            bad.push(format!("{}: invariant violated", p.name()));
        }
        if r.truncated {
            bad.push(format!(
                "{}: truncated at {} states (raise --max-states)",
                p.name(),
                a.max_states
            ));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if bad.is_empty() {
        println!(
            "verdict: PASS: {} profile(s) explored completely, no invariant violated ({secs:.1}s)",
            profiles.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL: {} ({secs:.1}s)", bad.join("; "));
        ExitCode::FAILURE
    }
}
