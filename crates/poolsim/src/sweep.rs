//! `poolsim sweep`: every seed of a range for an incident (every run) or a scenario file, in
//! parallel over cores, then a summary: runs, expectations met, each signature figure's
//! min / median / max, and every failing seed with the command that replays it. `--shard K/N`
//! runs every N-th seed (a CI matrix); `--merge` joins shard documents into the summary of one
//! sweep over all their seeds. docs/sweeps.md.

use crate::usage_error;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sims::Scenario;
use sims::sweep::{self, Document, Seeds, Shard};
use std::path::PathBuf;
use std::process::ExitCode;

/// `poolsim sweep`.
#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
    /// An incident (stale-eof, explosion, cascade, failover, hung-server) or a scenario file (TOML or JSON).
    #[arg(value_name = "INCIDENT|FILE", required_unless_present = "merge")]
    pub(crate) target: Option<String>,
    /// The seeds, A..B (both inclusive).
    #[arg(long, value_name = "A..B", required_unless_present = "merge")]
    pub(crate) seeds: Option<Seeds>,
    /// Runs at once (default: the machine's cores).
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) jobs: Option<u32>,
    /// Only every N-th seed, starting at the K-th (K from 1): one machine of N.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// Print the sweep as one JSON document (every run's outcome and the summary).
    #[arg(long)]
    pub(crate) json: bool,
    /// The engine: fast (the default for sweeps: the discrete-event engine, this project's
    /// pool, ten times faster on stale-eof; turmoil when the scenarios need it: a topology
    /// or a hang) or turmoil (full fidelity); docs/architecture.md.
    #[arg(long, value_name = "ENGINE", value_parser = crate::parse_engine)]
    pub(crate) engine: Option<sims::Engine>,
    /// Merge the JSON documents of a sweep's shards instead of running anything.
    #[arg(long, value_name = "FILE.json", num_args = 1.., conflicts_with_all = ["target", "seeds", "shard", "jobs", "engine"])]
    pub(crate) merge: Vec<PathBuf>,
}

/// The scenarios of one seed.
type Build = Box<dyn Fn(u64) -> Vec<Scenario> + Sync>;

/// What to build for a seed, and the command that replays one.
fn target(t: &str) -> Result<(Build, String), String> {
    let poolsim = crate::invocation();
    if let Some(inc) = sims::incidents::by_name(t) {
        let build = move |seed| inc.scenarios(seed);
        return Ok((
            Box::new(build),
            format!("{poolsim} replay {} --seed {{seed}}", inc.name),
        ));
    }
    let path = PathBuf::from(t);
    if !path.exists() {
        return Err(format!(
            "'{t}' is neither an incident ({}) nor a file",
            sims::incidents::ALL.map(|i| i.name).join(", ")
        ));
    }
    let scenario = crate::replay::read_scenario(&path)?;
    let build = move |seed| vec![scenario.clone().with_seed(seed)];
    Ok((
        Box::new(build),
        format!("{poolsim} run {t} --seed {{seed}}"),
    ))
}

pub(crate) fn main(a: &SweepArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let doc = if a.merge.is_empty() {
        match run(a) {
            Ok(d) => d,
            Err(e) => return usage_error(&e),
        }
    } else {
        let mut docs = Vec::new();
        for f in &a.merge {
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => return usage_error(&format!("cannot read {}: {e}", f.display())),
            };
            match serde_json::from_str::<Document>(&text) {
                Ok(d) => docs.push(d),
                Err(e) => {
                    return usage_error(&format!(
                        "{}: not a sweep's --json document: {e}",
                        f.display()
                    ));
                }
            }
        }
        match sweep::merge(docs) {
            Ok(d) => d,
            Err(e) => return usage_error(&e),
        }
    };
    if a.json {
        // Plain data: serialization cannot fail.
        println!("{}", serde_json::to_string(&doc).expect("serializes"));
    } else {
        print_human(&doc, started.elapsed().as_secs_f64(), a.merge.len());
    }
    let failing = doc.summary.runs - doc.summary.met;
    if failing > 0 {
        eprintln!(
            "poolsim: {failing} of {} runs did not meet their expectation (the seeds and their \
             replay commands are listed above)",
            doc.summary.runs
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn run(a: &SweepArgs) -> Result<Document, String> {
    // clap makes both present unless --merge.
    let (Some(t), Some(seeds)) = (a.target.as_deref(), a.seeds) else {
        return Err("give INCIDENT|FILE and --seeds A..B, or --merge FILES".to_owned());
    };
    let (build, replay) = target(t)?;
    // The fast engine unless it was asked for otherwise or cannot run these scenarios.
    let engine = a.engine.unwrap_or_else(|| {
        if build(seeds.first)
            .iter()
            .all(|s| sims::fast::supports(s).is_ok())
        {
            sims::Engine::Fast
        } else {
            sims::Engine::Turmoil
        }
    });
    let replay = format!("{replay}{}", engine.flag());
    let list = seeds.of_shard(a.shard);
    let jobs = a.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |j| j as usize,
    );
    let per_seed = build(seeds.first).len() as u64;
    let pb = if a.json {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(
            Some(per_seed * list.len() as u64),
            ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:30} {pos}/{len} runs ({per_sec}, eta {eta})  {msg}",
            )
            // A literal template that parses.
            .expect("valid template"),
        );
        pb
    };
    let outcomes = sweep::run(&list, &*build, jobs, engine, &|o| {
        pb.inc(1);
        if !o.met {
            pb.set_message(format!("{} seed {} FAILED", o.scenario, o.seed));
        }
    })?;
    pb.finish_and_clear();
    let summary = sweep::Summary::of(&outcomes);
    Ok(Document {
        target: t.to_owned(),
        seeds,
        shard: a.shard,
        engine,
        replay,
        outcomes,
        summary,
    })
}

fn fmt(v: f64) -> String {
    sims::report::fmt_num(v)
}

fn print_human(d: &Document, secs: f64, merged: usize) {
    let s = &d.summary;
    let mut out = String::new();
    let shard = d
        .shard
        .map(|k| format!(", shard {}/{}", k.index, k.of))
        .unwrap_or_default();
    let how = if merged > 0 {
        format!("{merged} shard files merged")
    } else {
        format!("{secs:.1} s")
    };
    out.push_str(&format!(
        "sweep: {}, seeds {}..{}{shard} ({} runs, {how})\n",
        d.target, d.seeds.first, d.seeds.last, s.runs
    ));
    out.push_str(&format!("expectations met: {} of {} runs\n", s.met, s.runs));
    for r in &s.per_run {
        out.push_str(&format!("\n{}: {} of {} met\n", r.scenario, r.met, r.runs));
        let w = r.figures.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &r.figures {
            out.push_str(&format!(
                "  {k:w$}  min {}  median {}  max {}\n",
                fmt(v.min),
                fmt(v.median),
                fmt(v.max)
            ));
        }
    }
    let failing: Vec<&sweep::Outcome> = d.outcomes.iter().filter(|o| !o.met).collect();
    if !failing.is_empty() {
        out.push_str("\nfailing:\n");
        for o in failing {
            out.push_str(&format!(
                "  {} seed {}: {}\n    replay: {}\n",
                o.scenario,
                o.seed,
                o.verdict,
                d.replay.replace("{seed}", &o.seed.to_string())
            ));
        }
    }
    print!("{out}");
}
