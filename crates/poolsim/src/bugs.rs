//! `poolsim bugs [NAME|all] [--pool P]...`: the known bugs of real pools as regression
//! scenarios (`sims::known_bugs`), run against each pool: whether the bug's symptom shows
//! with today's crate, and with this project's pool.

use crate::{BugsArgs, Pools, usage_error};
use sims::known_bugs::{ALL, KnownBug, by_name};
use sims::pools::PoolChoice;
use std::process::ExitCode;

pub(crate) fn main(a: &BugsArgs) -> ExitCode {
    let bugs: Vec<&KnownBug> = match a.bug.as_deref() {
        None | Some("all") => ALL.iter().collect(),
        Some(name) => match by_name(name) {
            Some(b) => vec![b],
            None => {
                let names: Vec<&str> = ALL.iter().map(|b| b.name).collect();
                return usage_error(&format!(
                    "unknown bug '{name}'; valid: {}, all",
                    names.join(", ")
                ));
            }
        },
    };
    let pools = if a.pool.is_empty() {
        Pools::expand(&[Pools::All])
    } else {
        Pools::expand(&a.pool)
    };
    let seed = a.seed.unwrap_or(1);
    let mut ours_bad = Vec::new();
    println!("seed: {seed}\n");
    for b in bugs {
        println!("{} ({}): {}", b.name, b.upstream, b.summary);
        for p in &pools {
            match b.run(p, seed) {
                None => println!("  {:10} n/a: no pool to hold connections", p.name()),
                Some(r) => {
                    let word = if r.present { "PRESENT" } else { "absent" };
                    println!("  {:10} {word:8} {}", p.name(), r.detail);
                    if r.present && matches!(p, PoolChoice::Ours | PoolChoice::OursProfile(_)) {
                        ours_bad.push(b.name);
                    }
                }
            }
        }
        println!();
    }
    println!(
        "replay: cargo run --release -p poolsim -- bugs {} --seed {seed}{}",
        a.bug.as_deref().unwrap_or("all"),
        pools
            .iter()
            .map(|p| format!(" --pool {}", p.name()))
            .collect::<String>()
    );
    if ours_bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("poolsim: ours shows {}", ours_bad.join(", "));
        ExitCode::FAILURE
    }
}
