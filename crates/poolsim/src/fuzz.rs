//! `poolsim fuzz`: environments drawn around each built-in fix within its claim's bounds,
//! every invariant and the claim checked on each case, the first failure shrunk to a scenario
//! file that `poolsim run` replays. docs/fuzzing.md.

use crate::usage_error;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sims::fuzz::{self, Options, Summary};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `poolsim fuzz`.
#[derive(clap::Args, Debug)]
pub(crate) struct FuzzArgs {
    /// A fix (INCIDENT/RUN, e.g. stale-eof/check-on-checkout), an incident's fixes
    /// (stale-eof), all (the default), or a scenario file of your own (FILE.toml or
    /// FILE.json, expecting `holds`: its checks' upper bounds are the claim, checked in
    /// environments drawn around it).
    #[arg(value_name = "INCIDENT[/RUN]|FILE")]
    pub(crate) target: Option<String>,
    /// With a FILE: also draw up to two faults per case (restarts, kills of every client,
    /// latency spikes, stalls) anywhere in the load.
    #[arg(long)]
    pub(crate) faults: bool,
    /// Cases per fix (default 100).
    #[arg(long, value_name = "N", conflicts_with = "time", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) cases: Option<u64>,
    /// A wall-clock budget per fix instead of a case count (`90s`, `10m`, `1h`); the summary
    /// says how many cases ran.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) time: Option<Duration>,
    /// The fuzz seed: the same seed gives the same cases and the same result.
    #[arg(long, value_name = "S", default_value_t = 1, value_parser = crate::parse_seed)]
    pub(crate) seed: u64,
    /// Threads (default: the machine's cores). The result does not depend on it.
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) jobs: Option<u32>,
    /// The engine the cases run on (the shrunk file is re-checked on turmoil).
    #[arg(long, value_name = "ENGINE", default_value = "fast", value_parser = sims::Engine::parse)]
    pub(crate) engine: sims::Engine,
    /// Print one JSON document (docs/fuzzing.md has its schema) and nothing else on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Where failing cases are written, one TOML file each.
    #[arg(long, value_name = "DIR", default_value = "fuzz-failures")]
    pub(crate) out: PathBuf,
    /// Most runs spent shrinking a failure.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) shrink_runs: u32,
    /// Run every case even after a failure: count failing cases by invariant or claim, and
    /// shrink the first case of each.
    #[arg(long)]
    pub(crate) keep_going: bool,
}

/// `90s`, `10m`, `1h`, `1.5h`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration '{s}'; a number with s, m or h (90s, 10m, 1h)");
    let (num, scale) = if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}

pub(crate) fn main(a: &FuzzArgs) -> ExitCode {
    let file = a
        .target
        .as_deref()
        .map(std::path::Path::new)
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json") || p.is_file());
    if a.faults && file.is_none() {
        return usage_error(
            "--faults is for a scenario file (a built-in fix's claim states its own faults)",
        );
    }
    let targets = match file {
        Some(path) => {
            let s = match crate::replay::read_scenario(path) {
                Ok(s) => s,
                Err(e) => return usage_error(&e),
            };
            let label = path
                .file_stem()
                .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
            match fuzz::file_target(&label, &s, a.faults) {
                Ok((mut t, left_out)) => {
                    t.command = path.display().to_string();
                    if a.faults {
                        t.command.push_str(" --faults");
                    }
                    if !a.json {
                        eprintln!("claim: {}", t.claim.promise);
                        eprintln!("environment: {}", t.claim.assumes);
                        for l in left_out {
                            eprintln!("left out of the claim: {l}");
                        }
                    }
                    vec![t]
                }
                Err(e) => return usage_error(&format!("{}: {e}", path.display())),
            }
        }
        None => match fuzz::targets(a.target.as_deref()) {
            Ok(t) => t,
            Err(e) => return usage_error(&e),
        },
    };
    let jobs = a.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |j| j as usize,
    );
    let opts = Options {
        cases: a
            .cases
            .unwrap_or(if a.time.is_some() { u64::MAX } else { 100 }),
        time_budget: a.time,
        seed: a.seed,
        jobs,
        engine: a.engine,
        max_shrink_runs: a.shrink_runs,
        poolsim: crate::invocation(),
        keep_going: a.keep_going,
    };
    let total = if a.time.is_some() {
        None
    } else {
        Some(opts.cases * targets.len() as u64)
    };
    let pb = if a.json {
        ProgressBar::hidden()
    } else {
        // Draws nothing when stderr is not a terminal.
        let pb = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{spinner} [{elapsed}] {bar:30} {pos}/{len} cases ({per_sec})  {msg}"
        } else {
            "{spinner} [{elapsed}] {pos} cases ({per_sec})  {msg}"
        };
        // Literal templates that parse.
        pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
        pb
    };
    let summary = fuzz::fuzz(&targets, &opts, Some(&a.out), &|target, _| {
        pb.set_message(target.to_owned());
        pb.inc(1);
    });
    pb.finish_and_clear();
    let summary = match summary {
        Ok(s) => s,
        Err(e) => return usage_error(&e),
    };
    if a.json {
        // Plain data: serialization cannot fail.
        println!("{}", serde_json::to_string(&summary).expect("serializes"));
    } else {
        print_human(&summary);
    }
    if summary.failed > 0 {
        for t in &summary.targets {
            for f in &t.findings {
                eprintln!(
                    "poolsim: {}: {} ({}); shrunk case: {}",
                    t.target,
                    f.failure.key,
                    format!("{:?}", f.failure.class).to_lowercase(),
                    f.file.as_deref().unwrap_or("(not written)")
                );
            }
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn print_human(s: &Summary) {
    let mut out = String::new();
    let budget = s
        .time_budget_secs
        .map(|b| format!(", budget {b:.0} s per fix"))
        .unwrap_or_default();
    out.push_str(&format!(
        "fuzz: seed {}, engine {}{budget}: {} cases over {} fixes in {:.1} s\n",
        s.seed,
        s.engine,
        s.cases,
        s.targets.len(),
        s.secs
    ));
    let w = s.targets.iter().map(|t| t.target.len()).max().unwrap_or(0);
    for t in &s.targets {
        // A fix the fast engine does not simulate ran on turmoil.
        let on = if t.engine.is_empty() || t.engine == s.engine {
            String::new()
        } else {
            format!(" (on {})", t.engine)
        };
        let status = match t.findings.first() {
            None => "held".to_owned(),
            Some(f) if t.failing_cases == 1 => {
                format!("FAILED at case {}: {}", f.case, f.failure.key)
            }
            Some(f) => format!(
                "FAILED in {} cases, first at case {}: {}",
                t.failing_cases,
                f.case,
                t.by_key
                    .iter()
                    .map(|(k, n)| format!("{k} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push_str(&format!(
            "  {:w$}  {:>6} cases  {:>7.1} s  {status}{on}\n",
            t.target, t.cases, t.secs
        ));
    }
    if s.failures.is_empty() {
        out.push_str("failures: none\n");
    } else {
        out.push_str("failures:\n");
        for (k, n) in &s.failures {
            out.push_str(&format!("  {k}: {n}\n"));
        }
    }
    for (t, f) in s
        .targets
        .iter()
        .flat_map(|t| t.findings.iter().map(move |f| (t, f)))
    {
        out.push_str(&format!(
            "\n{}: case {} failed ({}): {}\n",
            t.target,
            f.case,
            format!("{:?}", f.failure.class).to_lowercase(),
            f.failure.detail
        ));
        out.push_str(&format!(
            "  shrunk in {} runs to: {}\n",
            f.shrink_runs,
            describe(&f.shrunk)
        ));
        out.push_str(&format!(
            "  on turmoil (poolsim run): {} ({})\n",
            if f.reproduced_on_turmoil {
                "reproduced"
            } else {
                "NOT reproduced"
            },
            f.turmoil_verdict
        ));
        if let Some(file) = &f.file {
            out.push_str(&format!("  file: {file}\n"));
        }
        out.push_str(&format!("  replay: {}\n", f.replay));
        out.push_str("  trace around the first failing request:\n");
        for l in &f.trace_excerpt {
            out.push_str(&format!("    {l}\n"));
        }
    }
    print!("{out}");
}

/// The shrunk case in one line: the figures a reader looks at first.
fn describe(s: &sims::Scenario) -> String {
    let events: Vec<String> = s
        .timeline
        .iter()
        .map(|e| format!("{} at {} ms", e.label(), e.at_ms()))
        .collect();
    format!(
        "seed {}, {} ms of load, server timeout {} s hz {} maxclients {}, link {} ms, command {} ms; {}",
        s.seed,
        s.duration_ms,
        s.server.timeout_secs,
        s.server.hz,
        s.server.maxclients,
        s.link_latency_ms,
        s.server.command_latency_ms,
        if events.is_empty() {
            "no events".to_owned()
        } else {
            events.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
