//! `poolsim list`: the incidents (with their scenarios and default seeds), the pool
//! profiles with their main knobs and the client profiles with their values.

use pool_core::{Config, Profile, WhenExhausted};
use std::process::ExitCode;

fn ms(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// A profile's main knobs in one line.
fn knobs(c: &Config) -> String {
    let size = c.max_size.map_or("unbounded".to_owned(), |n| n.to_string());
    let exhausted = match c.when_exhausted {
        WhenExhausted::FailFast => "fail fast".to_owned(),
        WhenExhausted::Wait { timeout: Some(t) } => format!("wait {}", ms(t)),
        WhenExhausted::Wait { timeout: None } => "wait forever".to_owned(),
    };
    let idle = c.idle_timeout.map_or("-".to_owned(), ms);
    let check = match c.check_on_checkout.when {
        pool_core::CheckWhen::Never => "never".to_owned(),
        pool_core::CheckWhen::Always => format!("{:?}", c.check_on_checkout.how).to_lowercase(),
        pool_core::CheckWhen::IfIdleFor(d) => format!(
            "{} if idle {}",
            format!("{:?}", c.check_on_checkout.how).to_lowercase(),
            ms(d)
        ),
    };
    format!(
        "max_size {size}, {exhausted}, idle_timeout {idle}, check {check}, {:?}, {:?}, deadlines {}",
        c.reuse,
        c.fairness,
        if c.honour_deadlines { "honoured" } else { "ignored" }
    )
    .replace("Lifo", "LIFO")
    .replace("Fifo", "FIFO")
    .replace("StrictFIFO", "strict FIFO")
    .replace("Barging", "barging")
}

pub(crate) fn main() -> ExitCode {
    println!("incidents (poolsim replay NAME [--seed N]):");
    for inc in &sims::incidents::ALL {
        println!(
            "  {:<10} seed {:<3} {}",
            inc.name, inc.default_seed, inc.summary
        );
        let names: Vec<String> = inc
            .scenarios(inc.default_seed)
            .into_iter()
            .map(|s| s.name)
            .collect();
        println!("  {:<10} runs: {}", "", names.join(", "));
        println!("  {:<10} write-up: {}", "", inc.writeup);
    }
    println!();
    println!("pool profiles (poolsim replay INCIDENT --profile NAME; docs/profiles.md):");
    for p in Profile::ALL {
        println!("  {:<18} {}", p.name(), knobs(&p.config()));
        println!("  {:<18} source: {}", "", p.source());
    }
    println!();
    println!(
        "client profiles (a tier's client = {{ profile = NAME }}; docs/profiles.md \"Client profiles\"):"
    );
    for c in sims::client::ClientProfile::ALL {
        println!("  {:<27} {}", c.name(), c.behaviour().describe());
        println!("  {:<27} source: {}", "", c.source());
    }
    ExitCode::SUCCESS
}
