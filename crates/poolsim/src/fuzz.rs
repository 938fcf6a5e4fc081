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

/// The progress bar's length: every case of every fix, unknown under a time budget.
fn total_cases(cases: u64, fixes: usize, timed: bool) -> Option<u64> {
    if timed {
        None
    } else {
        Some(cases * fixes as u64)
    }
}

pub(crate) fn main(a: &FuzzArgs) -> ExitCode {
    let file = a.target.as_deref().and_then(crate::replay::scenario_file);
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
    let total = total_cases(opts.cases, targets.len(), a.time.is_some());
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
        print!("{}", human(&summary));
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

/// The run's summary as text (what `poolsim fuzz` prints without `--json`).
fn human(s: &Summary) -> String {
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
    out
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

    #[test]
    fn the_progress_bar_counts_every_case_of_every_fix_unless_timed() {
        assert_eq!(total_cases(100, 3, false), Some(300));
        assert_eq!(total_cases(100, 1, false), Some(100));
        assert_eq!(total_cases(u64::MAX, 3, true), None);
    }

    /// The text summary, line by line: the budget, each fix's status (held, failed once,
    /// failed in several cases with the count by key), the engine a fix ran on when it is not
    /// the run's, and each finding's shrunk case, turmoil verdict, file, replay and trace.
    #[test]
    fn the_text_summary_says_each_fix_s_status_and_each_finding() {
        use sims::fuzz::{CaseFailure, FailureClass, Finding, Summary, TargetResult};
        let fix = sims::fuzz::targets(Some("cascade/sized-pool-60"))
            .unwrap()
            .remove(0);
        let finding = |case: u64, key: &str| Finding {
            case,
            failure: CaseFailure {
                class: FailureClass::Claim,
                key: key.to_owned(),
                detail: "errors.total = 3".to_owned(),
            },
            shrink_runs: 12,
            original: fix.base.clone(),
            shrunk: fix.base.clone(),
            file: (case == 7).then(|| "out/x.toml".to_owned()),
            replay: "poolsim run out/x.toml".to_owned(),
            reproduced_on_turmoil: case == 7,
            turmoil_verdict: "errors.total = 3".to_owned(),
            trace_excerpt: vec!["t=1.000 request.end".to_owned()],
        };
        let target = |name: &str, engine: &str, failing: u64, findings: Vec<Finding>| {
            let mut by_key = std::collections::BTreeMap::new();
            if failing > 1 {
                by_key.insert("claim errors.total <= 0".to_owned(), failing - 1);
                by_key.insert("invariant server.maxclients".to_owned(), 1);
            } else if failing == 1 {
                by_key.insert("claim errors.total <= 0".to_owned(), 1);
            }
            TargetResult {
                target: name.to_owned(),
                claim: fix.claim.clone(),
                cases: 40,
                failing_cases: failing,
                by_key,
                stopped_by_time: false,
                engine: engine.to_owned(),
                findings,
                secs: 1.25,
            }
        };
        let s = Summary {
            seed: 1,
            engine: "fast".to_owned(),
            cases_per_target: 40,
            time_budget_secs: Some(30.0),
            targets: vec![
                target("a/held", "fast", 0, vec![]),
                target("a/held-old-json", "", 0, vec![]),
                target("b/on-turmoil", "turmoil", 0, vec![]),
                target(
                    "c/once",
                    "fast",
                    1,
                    vec![finding(7, "claim errors.total <= 0")],
                ),
                target(
                    "c/thrice",
                    "fast",
                    3,
                    vec![finding(9, "invariant server.maxclients")],
                ),
            ],
            cases: 200,
            failed: 2,
            failures: [
                ("claim errors.total <= 0".to_owned(), 3),
                ("invariant server.maxclients".to_owned(), 1),
            ]
            .into(),
            secs: 6.5,
        };
        let text = human(&s);
        let shrunk = describe(&fix.base);
        assert!(shrunk.starts_with("seed 2, "), "{shrunk}");
        let want = format!(
            "\
fuzz: seed 1, engine fast, budget 30 s per fix: 200 cases over 5 fixes in 6.5 s
  a/held               40 cases      1.2 s  held
  a/held-old-json      40 cases      1.2 s  held
  b/on-turmoil         40 cases      1.2 s  held (on turmoil)
  c/once               40 cases      1.2 s  FAILED at case 7: claim errors.total <= 0
  c/thrice             40 cases      1.2 s  FAILED in 3 cases, first at case 9: claim errors.total <= 0 (2), invariant server.maxclients (1)
failures:
  claim errors.total <= 0: 3
  invariant server.maxclients: 1

c/once: case 7 failed (claim): errors.total = 3
  shrunk in 12 runs to: {shrunk}
  on turmoil (poolsim run): reproduced (errors.total = 3)
  file: out/x.toml
  replay: poolsim run out/x.toml
  trace around the first failing request:
    t=1.000 request.end

c/thrice: case 9 failed (claim): errors.total = 3
  shrunk in 12 runs to: {shrunk}
  on turmoil (poolsim run): NOT reproduced (errors.total = 3)
  replay: poolsim run out/x.toml
  trace around the first failing request:
    t=1.000 request.end
"
        );
        assert_eq!(text, want);
    }
}
