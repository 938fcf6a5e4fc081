//! `poolsim replay`: run an incident's scenarios (the buggy one first, then the fixes) for one
//! seed with the sims library and show what happened.

use crate::{ReplayArgs, usage_error};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use sims::incidents::Incident;
use sims::{Report, Run, RunOptions, Scenario};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An incident's runs for one seed (or a scenario file's run).
pub(crate) struct Replayed {
    pub(crate) incident: Source,
    pub(crate) seed: u64,
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) runs: Vec<Run>,
    /// The command that replays exactly these runs.
    pub(crate) replay: String,
}

/// The `--json` document of one incident.
#[derive(Serialize)]
struct Document<'a> {
    incident: &'a str,
    seed: u64,
    runs: Vec<&'a Report>,
}

/// Creates `path` for writing, or the one-line error naming it.
pub(crate) fn create(path: &Path, what: &str) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot write the {what} to {}: {e}", path.display()))
}

/// Where runs come from: an incident of the library, or a scenario file.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The incident's name, or the file's path.
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) writeup: String,
}

/// What to run for one incident (or file).
pub(crate) struct Plan {
    pub(crate) incident: Source,
    pub(crate) seed: u64,
    pub(crate) scenarios: Vec<Scenario>,
    /// The command that replays these runs.
    pub(crate) replay: String,
}

fn plan(incident: &'static Incident, a: &ReplayArgs) -> Plan {
    let seed = a.seed.unwrap_or(incident.default_seed);
    let mut scenarios = incident.scenarios(seed);
    let mut replay = incident.replay_command_with(&crate::invocation(), seed);
    if !a.profile.is_empty() {
        let buggy = scenarios.remove(0);
        scenarios = a
            .profile
            .iter()
            .map(|p| buggy.clone().with_profile(p))
            .collect();
        for p in &a.profile {
            replay.push_str(&format!(" --profile {p}"));
        }
    }
    Plan {
        incident: Source {
            name: incident.name.to_owned(),
            summary: incident.summary.to_owned(),
            writeup: incident.writeup.to_owned(),
        },
        seed,
        scenarios,
        replay,
    }
}

fn progress(total: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    // ProgressDrawTarget::stderr draws nothing when stderr is not a terminal.
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} runs  {msg}")
            // The template is a literal that parses.
            .expect("valid template"),
    );
    pb
}

pub(crate) fn main(a: &ReplayArgs) -> ExitCode {
    if !a.pool.is_empty() {
        return crate::cross::main(a);
    }
    let plans: Vec<Plan> = a
        .incident
        .incidents()
        .into_iter()
        .map(|i| plan(i, a))
        .collect();
    if let Some(dir) = &a.save_scenarios {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return usage_error(&format!("cannot create {}: {e}", dir.display()));
        }
        for s in plans.iter().flat_map(|p| &p.scenarios) {
            let path = dir.join(format!("{}.toml", s.name));
            if let Err(e) = std::fs::write(&path, s.to_toml()) {
                return usage_error(&format!(
                    "cannot write the scenario to {}: {e}",
                    path.display()
                ));
            }
        }
    }
    execute(plans, &a.out)
}

/// Where a replay's output goes.
#[derive(clap::Args, Debug)]
pub(crate) struct Output {
    /// Print one JSON document per incident (one per line) and nothing else on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write every run's trace as JSON lines to FILE (a `run.start` line opens each run).
    #[arg(long, value_name = "FILE.jsonl")]
    pub(crate) trace: Option<PathBuf>,
    /// Plot the runs to an SVG file (a grid of panels per incident, the buggy run first).
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Zoom the plot to simulated times from T seconds (`325` or `325s`, or `300ms`).
    #[arg(long, value_name = "T", value_parser = crate::parse_secs, requires = "plot")]
    pub(crate) from: Option<u64>,
    /// Zoom the plot to simulated times up to T seconds.
    #[arg(long, value_name = "T", value_parser = crate::parse_secs, requires = "plot")]
    pub(crate) to: Option<u64>,
    /// The engine: turmoil (full fidelity, the default) or fast (the discrete-event engine
    /// over pool-core and the fake's engine: this project's pool only; docs/architecture.md).
    #[arg(long, value_name = "ENGINE", value_parser = crate::parse_engine, default_value = "turmoil")]
    pub(crate) engine: sims::Engine,
}

/// Runs the plans and prints them; the exit status says whether every run met its
/// expectation.
pub(crate) fn execute(plans: Vec<Plan>, a: &Output) -> ExitCode {
    if let (Some(from), Some(to)) = (a.from, a.to) {
        if to <= from {
            return usage_error("--to must be after --from");
        }
    }
    // Outputs are opened before anything runs: a bad path costs nothing.
    let mut trace_out = match a.trace.as_deref().map(|p| create(p, "trace")).transpose() {
        Ok(f) => f.map(BufWriter::new),
        Err(e) => return usage_error(&e),
    };
    let plot_out = match a.plot.as_deref().map(|p| create(p, "plot")).transpose() {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let total: usize = plans.iter().map(|p| p.scenarios.len()).sum();
    let pb = progress(total as u64, a.json);
    // The plot reads latencies off the trace.
    let keep_trace = trace_out.is_some() || plot_out.is_some();
    let mut done = Vec::new();
    let mut run_index = 0;
    for mut p in plans {
        p.replay.push_str(a.engine.flag());
        let mut runs = Vec::new();
        for s in &p.scenarios {
            pb.set_message(format!("{}/{}", p.incident.name, s.name));
            let opts = RunOptions {
                keep_trace,
                replay: p
                    .replay
                    .replace(&format!("--seed {}", p.seed), "--seed {seed}"),
                ..sims::RunOptions::default()
            };
            let run = match sims::run_on(a.engine, s, &opts) {
                Ok(r) => r,
                // Profiles are checked by the parser; a scenario of the library that does not
                // validate is a bug there, reported as it is.
                Err(e) => return usage_error(&format!("{}/{}: {e}", p.incident.name, s.name)),
            };
            pb.inc(1);
            if let Some(out) = trace_out.as_mut() {
                if let Err(e) = write_trace(out, run_index, &p.incident.name, s, &run) {
                    return usage_error(&format!("cannot write the trace: {e}"));
                }
            }
            run_index += 1;
            runs.push(run);
        }
        let r = Replayed {
            incident: p.incident,
            seed: p.seed,
            scenarios: p.scenarios,
            runs,
            replay: p.replay,
        };
        pb.suspend(|| {
            if a.json {
                print_json(&r);
            } else {
                crate::rule_before(done.len());
                print_human(&r);
            }
        });
        done.push(r);
    }
    pb.finish_and_clear();
    if let Some(out) = trace_out.as_mut() {
        if let Err(e) = out.flush() {
            return usage_error(&format!("cannot write the trace: {e}"));
        }
    }
    if let Some(mut f) = plot_out {
        let window = crate::plot::Window {
            from: a.from.map(|us| us as f64 / 1e6),
            to: a.to.map(|us| us as f64 / 1e6),
        };
        let svg = crate::plot::svg(&done, window);
        if let Err(e) = f.write_all(svg.as_bytes()) {
            return usage_error(&format!("cannot write the plot: {e}"));
        }
    }
    let mut failed = false;
    for r in &done {
        let bad: Vec<&str> = r
            .runs
            .iter()
            .filter(|run| !run.report.expectation_met)
            .map(|run| run.report.scenario.as_str())
            .collect();
        if !bad.is_empty() {
            failed = true;
            eprintln!(
                "poolsim: {} seed {}: {} did not meet the expectation; replay: {}",
                r.incident.name,
                r.seed,
                bad.join(", "),
                r.replay
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A `run.start` line, then the run's own lines unchanged (so the lines after it hash to the
/// run's `trace_hash`).
fn write_trace(
    out: &mut impl std::io::Write,
    index: usize,
    incident: &str,
    s: &Scenario,
    run: &Run,
) -> std::io::Result<()> {
    // t_us, host and event first, as in every trace line.
    let js = |v: &str| serde_json::Value::from(v).to_string();
    let start = format!(
        "{{\"t_us\":0,\"host\":\"runner\",\"event\":\"run.start\",\"run\":{index},\"incident\":{},\"scenario\":{},\"seed\":{},\"trace_hash\":{}}}",
        js(incident),
        js(&s.name),
        s.seed,
        js(&run.report.trace_hash)
    );
    writeln!(out, "{start}")?;
    for line in &run.trace {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn print_json(r: &Replayed) {
    let doc = Document {
        incident: &r.incident.name,
        seed: r.seed,
        runs: r.runs.iter().map(|run| &run.report).collect(),
    };
    // Plain data: serialization cannot fail.
    println!(
        "{}",
        serde_json::to_string(&doc).expect("a report serializes")
    );
}

fn print_human(r: &Replayed) {
    let mut out = String::new();
    out.push_str(&format!("seed: {}\n", r.seed));
    out.push_str(&format!(
        "incident: {}: {}\nwrite-up: {}\n\n",
        r.incident.name, r.incident.summary, r.incident.writeup
    ));
    let pairs: Vec<(&Scenario, &Report)> = r
        .scenarios
        .iter()
        .zip(r.runs.iter().map(|run| &run.report))
        .collect();
    out.push_str(&sims::render::runs(&pairs));
    out.push_str(&format!("\nreplay: {}\n", r.replay));
    print!("{out}");
}

/// The scenario file a command's target names, if it names one rather than an incident or a
/// fix (`poolsim fuzz`, `poolsim explore`): a path ending in `.toml` or `.json` (whether or
/// not it exists: reading it says what is wrong), or any file that exists.
pub(crate) fn scenario_file(target: &str) -> Option<&Path> {
    let p = Path::new(target);
    (p.extension().is_some_and(|e| e == "toml" || e == "json") || p.is_file()).then_some(p)
}

/// Reads a scenario file (TOML, or JSON when the name ends in `.json`); the error is one
/// line naming the file, and the line and field the parser names.
pub(crate) fn read_scenario(f: &Path) -> Result<Scenario, String> {
    let text =
        std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    let parsed = if f.extension().is_some_and(|e| e == "json") {
        Scenario::from_json(&text)
    } else {
        Scenario::from_toml(&text)
    };
    parsed.map_err(|e| {
        let msg = e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        format!("{}: {msg}", f.display())
    })
}

/// `poolsim run FILE...`: scenario files (TOML or JSON, as `Scenario::to_toml` writes them).
pub(crate) fn run_files(files: &[PathBuf], seed: Option<u64>, out: &Output) -> ExitCode {
    let mut plans = Vec::new();
    for f in files {
        let mut scenario = match read_scenario(f) {
            Ok(s) => s,
            Err(e) => return usage_error(&e),
        };
        if let Some(seed) = seed {
            scenario = scenario.with_seed(seed);
        }
        let seed = scenario.seed;
        plans.push(Plan {
            incident: Source {
                name: f.display().to_string(),
                summary: scenario.summary.clone(),
                writeup: "a scenario file".to_owned(),
            },
            seed,
            replay: format!("{} run {} --seed {seed}", crate::invocation(), f.display()),
            scenarios: vec![scenario],
        });
    }
    execute(plans, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path ending in `.toml` or `.json` is a file whether it exists or not (reading it
    /// then says why not, rather than "unknown fix"); any other name is an incident or a fix
    /// unless a file of that name exists.
    #[test]
    fn a_target_is_a_scenario_file_by_its_extension_or_because_it_exists() {
        for name in ["cascade", "cascade/sized-pool-60", "all", "nosuch.yaml"] {
            assert_eq!(scenario_file(name), None, "{name}");
        }
        for f in ["nosuch.toml", "nosuch.json", "dir/nosuch.toml"] {
            assert_eq!(scenario_file(f), Some(Path::new(f)), "{f}");
        }
        let dir = std::env::temp_dir().join(format!("poolsim-replay-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bare = dir.join("my-scenario");
        std::fs::write(&bare, "").unwrap();
        assert_eq!(scenario_file(bare.to_str().unwrap()), Some(bare.as_path()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
