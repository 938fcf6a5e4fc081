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
nothing";

pub(crate) fn main(a: &ExploreArgs) -> ExitCode {
    if let Some(target) = &a.target {
        return world(a, target);
    }
    // (name, scaled-down configuration) of each pool to explore.
    let mut pools: Vec<(String, pool_core::Config)> = Vec::new();
    if let Some(file) = &a.pool {
        let s = match crate::replay::read_scenario(file) {
            Ok(s) => s,
            Err(e) => return crate::usage_error(&e),
        };
        for (t, tier) in s.tiers.iter().enumerate() {
            if tier.calls.is_some() {
                continue;
            }
            match tier.pool.config() {
                Ok(c) => pools.push((
                    format!("{}: {}", tier.name, tier.pool.label()),
                    scale_down(&c),
                )),
                Err(e) => {
                    return crate::usage_error(&format!(
                        "{}: tiers[{t}].pool: {e}",
                        file.display()
                    ));
                }
            }
        }
    } else {
        let profiles: Vec<Profile> = if a.profile.is_empty() {
            Profile::ALL.to_vec()
        } else {
            a.profile
                .iter()
                // The parser accepted only valid names.
                .map(|n| Profile::by_name(n).expect("checked by the parser"))
                .collect()
        };
        for p in profiles {
            pools.push((p.name().to_owned(), scale_down(&p.config())));
        }
    }
    let requests = a.requests.unwrap_or(4);
    let bounds = Bounds {
        requests,
        stop_at_first: true,
        liveness: true,
        max_states: a.max_states,
        ..Bounds::default()
    };
    println!(
        "exhaustive exploration: {} request(s), every connect/check outcome, cancels, broken \
         releases, peer closes, deadlines, a shutdown; time moves to every timer",
        bounds.requests
    );
    // Said from the bounds the search runs with, not from a constant.
    println!(
        "invariants checked in every state: {INVARIANTS}{}",
        if bounds.liveness {
            "; liveness: healing from every state ends every request"
        } else {
            ""
        }
    );
    println!(
        "{:<20} {:>8} {:>10} {:>12} {:>6} {:>9}",
        "profile", "max_size", "states", "transitions", "depth", "time"
    );
    let pb = if pools.len() > 1 {
        let pb =
            ProgressBar::with_draw_target(Some(pools.len() as u64), ProgressDrawTarget::stderr());
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
    for (name, config) in &pools {
        pb.set_message(name.clone());
        let mut config = config.clone();
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
                return crate::usage_error(&format!("{name}: {e}"));
            }
        };
        let size = config.max_size.map_or("-".to_owned(), |n| n.to_string());
        pb.suspend(|| {
            println!(
                "{:<20} {:>8} {:>10} {:>12} {:>6} {:>8.2}s{}",
                name,
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
            bad.push(format!("{name}: invariant violated"));
        }
        if r.truncated {
            bad.push(format!(
                "{}: truncated at {} states (raise --max-states)",
                name, a.max_states
            ));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if bad.is_empty() {
        println!(
            "verdict: PASS: {} pool(s) explored completely, no invariant violated ({secs:.1}s)",
            pools.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL: {} ({secs:.1}s)", bad.join("; "));
        ExitCode::FAILURE
    }
}

/// What the world explorer checks after every transition (docs/invariants.md, "Every
/// interleaving of pool and server").
const WORLD_INVARIANTS: &str = "pool-core's invariants, the server's (maxclients, idle \
timeout, accounting, refusals counted), end to end (every request ends exactly once, every \
reply reaches the request that sent it), the claim under test; at every end state: no \
request still live";

/// `poolsim explore INCIDENT/RUN | INCIDENT | all | FILE`: every interleaving of pool
/// and server for a small instance of each run.
fn world(a: &ExploreArgs, target: &str) -> ExitCode {
    if a.each_fault && a.faults != 1 {
        // Two actions on one path are in no single-action search.
        return crate::usage_error("--each-fault splits a one-fault search: give --faults 1");
    }
    // Without --requests: 3, or 1 for a scenario with a topology (a failover instance spans
    // tens of seconds of Sentinel's ticks: 2 requests pass the default budget).
    let requests_for = |s: &sims::scenario::Scenario| {
        a.requests
            .unwrap_or(if s.server.topology.is_some() { 1 } else { 3 })
    };
    // (label, expected outcome if built in, instance)
    let mut todo: Vec<(
        String,
        Option<sims::scenario::Outcome>,
        Result<sims::explore::Instance, String>,
    )> = Vec::new();
    if let Some(path) = crate::replay::scenario_file(target) {
        let s = match crate::replay::read_scenario(path) {
            Ok(s) => s,
            Err(e) => return crate::usage_error(&e),
        };
        let inst =
            sims::explore::of_scenario(&s, target, requests_for(&s)).map_err(|e| e.to_string());
        todo.push((target.to_owned(), None, inst));
    } else {
        let (inc, run) = target
            .split_once('/')
            .map_or((target, None), |(i, r)| (i, Some(r)));
        let incidents: Vec<&sims::incidents::Incident> = if inc == "all" {
            sims::incidents::ALL.iter().collect()
        } else {
            match sims::incidents::by_name(inc) {
                Some(i) => vec![i],
                None => {
                    return crate::usage_error(&format!(
                        "no incident or file {target:?} (incidents: {}, or all)",
                        sims::incidents::ALL
                            .iter()
                            .map(|i| i.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        };
        for i in incidents {
            let runs = i.scenarios(i.default_seed);
            let names: Vec<String> = runs
                .iter()
                .map(|s| s.name.rsplit('/').next().unwrap_or(&s.name).to_owned())
                .collect();
            if let Some(r) = run {
                if !names.iter().any(|n| n == r) {
                    return crate::usage_error(&format!(
                        "{} has no run {r:?} (runs: {})",
                        i.name,
                        names.join(", ")
                    ));
                }
            }
            for (s, name) in runs.iter().zip(&names) {
                if run.is_some_and(|r| r != name) {
                    continue;
                }
                let inst = sims::explore::builtin(i.name, name, requests_for(s))
                    .map_err(|e| e.to_string());
                todo.push((format!("{}/{name}", i.name), Some(s.expect.outcome), inst));
            }
        }
    }
    if let Some(n) = a.max_size {
        for (_, _, inst) in &mut todo {
            if let Ok(i) = inst {
                *i = i.with_max_size(n);
            }
        }
    }
    if a.each_fault {
        // One search per environment action, each alone: with at most one action on a path,
        // their union is the whole one-fault search, and each needs less memory.
        todo = todo
            .into_iter()
            .flat_map(|(label, expected, inst)| match inst {
                Ok(i) if !i.env.is_empty() => (0..i.env.len())
                    .map(|k| {
                        let one = i.with_env_action(k);
                        (
                            format!("{label} [{}]", one.env[0].label()),
                            expected,
                            Ok(one),
                        )
                    })
                    .collect(),
                other => vec![(label, expected, other)],
            })
            .collect();
    }
    let single = todo.len() == 1;
    if a.write.is_some() && !single {
        return crate::usage_error(&format!(
            "--write takes one search; {target} makes {}",
            todo.len()
        ));
    }
    let mut requests_said = a.requests.map_or_else(
        || "3 request(s) (1 with a topology)".to_owned(),
        |n| format!("{n} request(s)"),
    );
    if a.one_at_a_time {
        requests_said.push_str(", one at a time (a request starts only while none is live)");
    }
    println!(
        "every interleaving of pool and server: {requests_said}; every message delivered \
         in every order (FIFO per connection and direction), every timer due at once in every \
         order, the environment's actions at any instant"
    );
    println!("checked after every transition: {WORLD_INVARIANTS}");
    let started = Instant::now();
    let mut bad = Vec::new();
    for (label, expected, inst) in todo {
        let inst = match inst {
            Ok(i) => i,
            Err(e) => {
                println!("{label:<45} not explored: {e}");
                continue;
            }
        };
        let requests = requests_for(&inst.scenario);
        let mut b = sims::explore::default_bounds(&inst, requests, a.max_states);
        b.max_env_actions = a.faults;
        b.max_time = a.max_seconds.map(std::time::Duration::from_secs);
        b.max_memory_mib = Some(a.max_memory_mib);
        b.spill_above_mib = Some(a.max_memory_mib / 2);
        b.one_at_a_time = a.one_at_a_time;
        if a.any_delay {
            b.max_delay_ms = None;
        } else if let Some(d) = a.max_delay_ms {
            b.max_delay_ms = Some(d);
        }
        if single || a.verbose {
            println!("instance {label}:");
            for n in &inst.scaling {
                println!("  {n}");
            }
            println!(
                "  bounds: {} request(s){} and at most {} of the environment's actions within {} ms, horizon {} ms, message delay {}, at most {} states and {} MiB",
                b.requests,
                if b.one_at_a_time {
                    " one at a time"
                } else {
                    ""
                },
                b.max_env_actions,
                b.start_window_ms,
                b.horizon_ms,
                b.max_delay_ms
                    .map_or_else(|| "unbounded".to_owned(), |d| format!("up to {d} ms")),
                b.max_states,
                a.max_memory_mib
            );
            let claim: Vec<String> = inst
                .claim
                .iter()
                .map(sims::claims::ClaimCheck::label)
                .collect();
            println!(
                "  claim: {}",
                if claim.is_empty() {
                    "none (invariants only)".to_owned()
                } else {
                    claim.join(", ")
                }
            );
            if !inst.unchecked.is_empty() {
                println!(
                    "  not checked in states (needs a whole run): {}",
                    inst.unchecked.join(", ")
                );
            }
        }
        let o = match sims::explore::explore(&inst, &b, None) {
            Ok(o) => o,
            Err(e) => {
                println!("{label:<45} not explored: {e}");
                continue;
            }
        };
        let expect = match expected {
            Some(sims::scenario::Outcome::Reproduces) => " (buggy run: a counterexample expected)",
            Some(_) => " (fix)",
            None => "",
        };
        println!(
            "{label:<45} {:>9} states {:>10} transitions depth {:>3} {:>7.2}s {:>8.0} states/s  {}{}{expect}",
            o.states,
            o.transitions,
            o.depth,
            o.elapsed.as_secs_f64(),
            o.states as f64 / o.elapsed.as_secs_f64().max(1e-9),
            o.verdict().to_uppercase(),
            o.truncated.as_ref().map_or_else(String::new, |t| {
                let flag = if t.starts_with("time") {
                    "--max-seconds"
                } else if t.starts_with("memory") {
                    "--max-memory-mib"
                } else {
                    "--max-states"
                };
                format!(" ({t}: raise {flag})")
            }),
        );
        if o.rebuilt > 0 {
            println!(
                "  {} frontier states were kept as their paths past {} MiB and rebuilt by replaying them",
                o.rebuilt,
                a.max_memory_mib / 2
            );
        }
        if let Some(c) = &o.found {
            println!(
                "  counterexample ({} moves): {}: {}",
                c.moves.len(),
                c.what,
                c.detail
            );
            for m in &c.moves {
                println!("    {m}");
            }
            // The target without the `[action]` that --each-fault adds to the label.
            let target_label = label.split(" [").next().unwrap_or(&label);
            let command = format!(
                "{} explore {target_label} --requests {requests} --faults {} {}{}",
                crate::invocation(),
                b.max_env_actions,
                b.max_delay_ms.map_or_else(
                    || "--any-delay".to_owned(),
                    |d| format!("--max-delay-ms {d}")
                ),
                if a.each_fault { " --each-fault" } else { "" },
            );
            let command = if a.one_at_a_time {
                format!("{command} --one-at-a-time")
            } else {
                command
            };
            let command = match a.max_size {
                Some(n) => format!("{command} --max-size {n}"),
                None => command,
            };
            println!("  replay: {command}");
            let f = &c.file;
            println!(
                "  as a scenario file: {} ({})",
                if f.reproduces {
                    "the fast engine replays it to the same violation"
                } else {
                    "the fast engine's schedule (fixed link latencies, one order within an instant) does not replay it"
                },
                f.fast_run
            );
            if let Some(path) = &a.write {
                if f.reproduces {
                    if let Err(e) = std::fs::write(path, f.text(&command, c)) {
                        return crate::usage_error(&format!("{}: {e}", path.display()));
                    }
                    println!(
                        "  written: {} (`{} run {} --engine fast` replays it{})",
                        path.display(),
                        crate::invocation(),
                        path.display(),
                        match &f.turmoil {
                            Some((true, _)) => "; turmoil, the default engine, too".to_owned(),
                            Some((false, t)) =>
                                format!("; turmoil, the default engine, does not: {t}"),
                            None => String::new(),
                        }
                    );
                } else {
                    println!("  not written: {}", path.display());
                }
            }
            println!("  trace (poolsim trace's events; explore.move marks each move):");
            for t in &c.trace {
                println!("    {t}");
            }
            bad.push(format!("{label}: counterexample"));
        } else if o.truncated.is_some() {
            bad.push(format!("{label}: truncated"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if bad.is_empty() {
        println!("verdict: PASS: no counterexample within the bounds ({secs:.1}s)");
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL: {} ({secs:.1}s)", bad.join("; "));
        ExitCode::FAILURE
    }
}
