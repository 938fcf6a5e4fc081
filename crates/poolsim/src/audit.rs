//! `poolsim audit FILE.toml`: a deployment's verdict per incident (`vulnerable` or `safe`),
//! how the audit knows (the arithmetic, then the simulated search), the smallest trigger, a
//! fix verified at it, and the commands that replay both. docs/audit.md.

use crate::usage_error;
use std::path::PathBuf;
use std::process::ExitCode;

/// `poolsim audit`.
#[derive(clap::Args, Debug)]
pub(crate) struct AuditArgs {
    /// The deployment: a scenario file (TOML, or JSON when the name ends in .json);
    /// expectations are not needed.
    #[arg(value_name = "FILE.toml")]
    pub(crate) file: PathBuf,
    /// Where to write the trigger and fix scenario files (default: poolsim-audit/<name>).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Runs at once (default: the machine's cores).
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) jobs: Option<u32>,
    /// Print one JSON document: {"file", "verdicts": [{"incident", "verdict", "reasons",
    /// "trigger", "fix", "replay"}]}.
    #[arg(long)]
    pub(crate) json: bool,
    /// The engine of the search: turmoil (the default) or fast (tens of times faster; the
    /// replay commands then name it; docs/architecture.md).
    #[arg(long, value_name = "ENGINE", value_parser = crate::parse_engine, default_value = "turmoil")]
    pub(crate) engine: sims::Engine,
}

pub(crate) fn main(a: &AuditArgs) -> ExitCode {
    let scenario = match crate::replay::read_scenario(&a.file) {
        Ok(s) => s,
        Err(e) => return usage_error(&e),
    };
    let opts = sims::audit::Options {
        out_dir: a
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("poolsim-audit").join(&scenario.name)),
        poolsim: crate::invocation(),
        jobs: a.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            |j| j as usize,
        ),
        engine: a.engine,
    };
    let file = a.file.display().to_string();
    let mut verdicts = Vec::new();
    for inc in sims::audit::INCIDENTS {
        if !a.json {
            eprint!("auditing {inc} ...\r");
        }
        match sims::audit::audit_one(&scenario, inc, &opts) {
            Ok(v) => {
                if !a.json {
                    print_verdict(&v);
                }
                verdicts.push(v);
            }
            Err(e) => return usage_error(&format!("{file}: {inc}: {e}")),
        }
    }
    let vulnerable = verdicts
        .iter()
        .filter(|v| v.verdict == "vulnerable")
        .count();
    let audit = sims::audit::Audit { file, verdicts };
    if a.json {
        // Plain data: serialization cannot fail.
        println!("{}", serde_json::to_string(&audit).expect("serializes"));
    } else {
        println!(
            "\n{}: {}",
            audit.file,
            if vulnerable == 0 {
                "safe from every incident within the ranges searched".to_owned()
            } else {
                format!(
                    "vulnerable to {vulnerable} of {} incidents",
                    audit.verdicts.len()
                )
            }
        );
    }
    if vulnerable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_verdict(v: &sims::audit::Verdict) {
    let mut out = format!("{:<10} {}\n", v.incident, v.verdict.to_uppercase());
    for r in &v.reasons {
        out.push_str(&format!("  - {r}\n"));
    }
    if let Some(t) = &v.trigger {
        let value = if t.unit.is_empty() {
            String::new()
        } else {
            format!(
                " {}{}",
                sims::report::fmt_num(t.value),
                if t.unit == "x" { "x" } else { " ms" }
            )
        };
        out.push_str(&format!(
            "  trigger: {}{value}, seeds {:?}: {}\n",
            t.kind, t.seeds, t.shown
        ));
    }
    if let Some(f) = &v.fix {
        out.push_str(&format!(
            "  fix: {} -> {}\n       knobs: {}\n",
            f.change,
            if f.holds {
                "holds at the trigger"
            } else {
                "does NOT hold at the trigger"
            },
            f.overrides
        ));
    }
    for r in &v.replay {
        out.push_str(&format!("  replay: {r}\n"));
    }
    println!("{out}");
}
