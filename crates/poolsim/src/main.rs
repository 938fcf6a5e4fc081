//! `poolsim`: replay the pool incidents of `../shared/INCIDENTS.md` for a seed, read their
//! traces, plot them, and explore a pool's state space exhaustively.
//!
//! Map of the crate:
//! - `main.rs`: the command line (clap derive), usage errors as one line and exit 2.
//! - [`replay`]: runs an incident's scenarios (buggy first, then the fixes) with the sims
//!   library, prints the table, verdicts and timelines, or JSON; writes the trace; also
//!   `poolsim run FILE`, scenario files saved with `replay --save-scenarios`.
//! - [`bugs`]: `poolsim bugs`, known bugs of real pools as regression scenarios, per pool.
//! - [`cross`]: `replay --pool`, every scenario with each pool (ours, bb8, deadpool, mobc,
//!   redis-rs), one table across pools and the findings of each.
//! - [`plot`]: the SVG plot (plotters, SVG backend only).
//! - [`trace`]: `poolsim trace FILE.jsonl`, the trace as readable lines.
//! - [`explore`]: `poolsim explore`, pool-core's exhaustive explorer.
//! - [`list`]: `poolsim list`, the incidents and the pool profiles.
//! - [`audit`]: `poolsim audit FILE`, a deployment's verdict per incident.
//! - [`size`]: `poolsim size`, pool sizing by seed 002's rule, Erlang C and the real pool.
//! - [`sweep`]: `poolsim sweep`, seed sweeps over cores, shards and their merge.
//! - [`fuzz`]: `poolsim fuzz`, environments around each built-in fix (or a scenario file of
//!   one's own), its claim checked,
//!   failures shrunk to scenario files (docs/fuzzing.md).
//! - [`scenario`]: `poolsim scenario new|show`, the template and the built-in scenarios as
//!   files (docs/scenarios.md).
//!
//! Exit status: 0 when every run met its expectation (or the exploration was clean and
//! complete), 1 when one did not, 2 for a bad command line or an output path that cannot be
//! written. `docs/replaying.md` is the manual.

mod audit;
mod bugs;
mod cross;
mod explore;
mod fuzz;
mod list;
mod plot;
mod replay;
mod scenario;
mod size;
mod sweep;
mod trace;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Deterministic simulation of Redis connection pool incidents.
#[derive(Parser, Debug)]
#[command(
    name = "poolsim",
    version,
    after_help = "Examples:\n  poolsim replay all\n  poolsim replay stale-eof --seed 3 --plot stale-eof.svg\n  \
poolsim replay cascade --profile bb8 --profile recommended\n  poolsim fuzz stale-eof --cases 2000\n  poolsim list\n\n\
Exit status: 0 every run met its expectation; 1 one did not (the replay command is printed); \
2 bad command line or unwritable output path. Manual: docs/replaying.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay an incident (or all): the buggy run, then each fix, for one seed.
    #[command(after_help = REPLAY_HELP)]
    Replay(ReplayArgs),
    /// Run scenario files (saved with `replay --save-scenarios`, or written by hand).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Run the known bugs of real pools (bb8 #59, #67, #167, mobc #63, deadpool #92) against
    /// each pool: does the symptom show with today's crate, and with ours?
    #[command(after_help = BUGS_HELP)]
    Bugs(BugsArgs),
    /// Write scenario files: a commented template, or any built-in run as a file.
    #[command(subcommand, after_help = SCENARIO_HELP)]
    Scenario(ScenarioCommand),
    /// Audit a deployment: a verdict per incident, the smallest trigger, a verified fix.
    #[command(after_help = AUDIT_HELP)]
    Audit(audit::AuditArgs),
    /// Size a pool for a load: seed 002's rule, Erlang C per size, and (--simulate) the real pool.
    #[command(after_help = SIZE_HELP)]
    Size(size::SizeArgs),
    /// Run every seed of a range (every run of an incident, or a scenario file) and summarise.
    #[command(after_help = SWEEP_HELP)]
    Sweep(sweep::SweepArgs),
    /// Fuzz the environment around each built-in fix, or your own scenario file: does the claim hold everywhere in its bounds?
    #[command(after_help = FUZZ_HELP)]
    Fuzz(fuzz::FuzzArgs),
    /// List the incidents and the pool profiles.
    #[command(after_help = "Example:\n  poolsim list")]
    List,
    /// Print a trace written by `replay --trace` as readable lines.
    #[command(after_help = TRACE_HELP)]
    Trace(TraceArgs),
    /// Explore every interleaving of pool and server for a small instance of a run or file, or
    /// a pool profile alone (scaled down), checking every invariant in every state.
    #[command(after_help = EXPLORE_HELP)]
    Explore(ExploreArgs),
}

const REPLAY_HELP: &str = "Examples:\n  poolsim replay all\n  poolsim replay stale-eof --seed 3\n  \
poolsim replay explosion --json | jq '.runs[].verdict'\n  \
poolsim replay cascade --trace cascade.jsonl --plot cascade.svg\n  \
poolsim replay stale-eof --profile bb8 --profile radix-v2\n  \
poolsim replay all --pool all\n  poolsim replay cascade --pool bb8 --pool ours:go-redis-v9\n\n\
The table has one column per run (the buggy one first); the timeline rows are scaled to \
their own maximum, shown in the legend. --profile replays the incident's buggy scenario with \
that pool instead (no overrides): each run's verdict says whether the incident reproduced.\n\n\
--pool runs every scenario with each pool (the real crates bb8, deadpool, mobc through their \
own code; redis-rs's ConnectionManager modelled) plus a `defaults` row (the buggy scenario \
with the crate's own defaults) and prints one table across pools; a `*` marks a run where the \
crate lacks one of the scenario's knobs, named below the table with every other finding. \
With --pool the exit status is 1 only when a run of `ours` misses its expectation; what a \
crate does is a finding, shown, not a failure. docs/real-pools.md explains each cell.\n\n\
Exit status: 0 every run met its expectation; 1 one did not (the replay command is printed \
on stderr); 2 bad command line or unwritable output path.";

const BUGS_HELP: &str = "Examples:\n  poolsim bugs\n  poolsim bugs bb8-67 --pool bb8 --pool ours\n\n\
Bugs: bb8-59, bb8-67 (also mobc #63), bb8-167, deadpool-92; docs/real-pools.md describes each \
scenario. Exit status: 0 when ours shows none (a crate showing one is reported, not a \
failure); 1 when ours shows one; 2 bad command line.";

const RUN_HELP: &str = "Example:\n  poolsim replay cascade --save-scenarios /tmp/s\n  \
poolsim run /tmp/s/sized-pool-60.toml\n\n\
Output and exit status as for `poolsim replay`: 1 when a run does not meet the expectation \
written in its file (expect.outcome and expect.checks).";

const AUDIT_HELP: &str = "Examples:\n  poolsim scenario new > my-deployment.toml   # then describe yours\n  \
poolsim audit my-deployment.toml\n  poolsim audit my-deployment.toml --json --out audit-files\n\n\
For stale-eof, explosion and cascade: the arithmetic of the configuration, then simulation at the \
stated traffic and a search over idle gaps, a restart, load multipliers and Redis latency for the \
smallest trigger (3 seeds per probe), a fix verified at it, and scenario files for both. \
Exit status: 0 safe from all (within the ranges searched, which the reasons name); 1 vulnerable to \
one; 2 bad input. docs/audit.md.";

const SIZE_HELP: &str = "Examples:\n  poolsim size --qps 1500 --hold-ms 20 --deadline-ms 3000\n  \
poolsim size --qps 400 --hold-ms 5 --p99-wait-ms 2 --simulate --json\n\n\
The JSON document: {\"qps\", \"hold_ms\", \"rows\": [{\"size\", \"utilisation\", \"p_wait\", \
\"mean_wait_ms\", \"p99_wait_ms\", \"sim_waited_fraction\", \"sim_p99_wait_ms\"}], \"recommended_size\"} \
(sim_ fields null without --simulate; wait fields null where the queue is unbounded). \
Where each model stops being right: docs/sizing.md.";

const SWEEP_HELP: &str = "Examples:\n  poolsim sweep stale-eof --seeds 1..100\n  \
poolsim sweep cascade --seeds 1..1000 --shard 2/4 --json > shard-2.json\n  \
poolsim sweep --merge shard-1.json shard-2.json shard-3.json shard-4.json\n  \
poolsim sweep my-deployment.toml --seeds 1..50 --jobs 2\n  \
poolsim sweep stale-eof --seeds 1..20 --engine turmoil\n\n\
Exit status: 0 every run met its expectation; 1 one did not (each failing seed is listed with \
its replay command); 2 bad command line. docs/sweeps.md.";

const FUZZ_HELP: &str = "Examples:\n  poolsim fuzz stale-eof --cases 200\n  \
poolsim fuzz stale-eof/check-on-checkout --time 10m --seed 7 --jobs 2\n  \
poolsim fuzz --cases 50 --json > fuzz.json\n  \
poolsim fuzz my-deployment.toml --cases 500 --faults   # your own file, expecting `holds`\n\n\
Each case is the fix's scenario with everything its deployment does not control drawn within \
the fix's claimed bounds (server timeout, hz, maxclients, latencies, load, idle gaps, faults, \
seeds); every invariant and the claim are checked. The first failing case of a fix is shrunk \
and written to --out DIR as a TOML file that `poolsim run FILE` replays (\"reproduced\"). The \
same --seed gives the same cases and result whatever --jobs. Exit status: 0 nothing failed; 1 \
a case failed (the file is named on stderr); 2 bad command line. A scenario file of your own \
(expecting `holds`) is fuzzed the same way: its checks' upper bounds are the claim, the \
environment is drawn around it (its load from half to 1.5 times, latencies, hz, its timeline; \
--faults adds restarts, kills, latency spikes and stalls). docs/fuzzing.md.";

const SCENARIO_HELP: &str = "Examples:\n  poolsim scenario new > my-deployment.toml\n  \
poolsim scenario show stale-eof/radix-v2 > radix.toml\n  poolsim run my-deployment.toml\n\n\
Every field, its unit and its default: docs/scenarios.md.";

/// `poolsim scenario ...`.
#[derive(Subcommand, Debug)]
enum ScenarioCommand {
    /// Print a commented TOML template of a whole deployment (every field, its default).
    New,
    /// Print a built-in run's scenario as a file (TOML, or JSON with --json).
    Show {
        /// INCIDENT/RUN, e.g. stale-eof/radix-v2 (`poolsim list` names them).
        #[arg(value_name = "INCIDENT/RUN")]
        which: String,
        /// The seed written in the file; default: the incident's own.
        #[arg(long, value_name = "N", value_parser = parse_seed, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

const TRACE_HELP: &str = "Examples:\n  poolsim replay stale-eof --trace t.jsonl && poolsim trace t.jsonl --grep eof\n  \
poolsim trace t.jsonl --from 325 --to 326.5s\n\n\
Each line: simulated time in seconds, host, event, then the event's fields. A `run.start` \
line opens each run of the file and is always printed. --grep keeps lines containing WORD \
(as printed); --from/--to keep lines in [FROM, TO] seconds of each run.";

const EXPLORE_HELP: &str = "Examples:\n  poolsim explore stale-eof/check-on-checkout\n  \
poolsim explore all --requests 2\n  \
poolsim explore my-deployment.toml --faults 0\n  \
poolsim explore stale-eof/radix-v2 --write radix-eof.toml\n  \
poolsim explore hung-server/read-timeout-below-deadline --each-fault\n  \
poolsim explore --profile radix-v2\n  \
poolsim explore --pool my-deployment.toml\n\n\
With a target (INCIDENT/RUN, INCIDENT, all, FILE.toml or FILE.json): the run or file is \
scaled down (one pod and pool per tier, durations divided by one factor, the original's regime kept; the \
instance is printed) and every interleaving of pool, connections, server and environment is \
explored: every message delivered in every order, every timer due at once in every order, \
requests and faults at any instant. Every invariant is checked after every transition, with \
the run's claim (a fix's own, or every fix's of the incident for a buggy run; a file's \
expectation). Exit status: 0 no counterexample within the bounds; 1 a counterexample (the \
shortest, printed as moves and as a trace) or a search stopped by --max-states or \
--max-seconds; 2 bad command line. docs/invariants.md has the results for every run.\n\n\
Without a target: pool-core's explorer over the profiles (or --pool FILE's pools), scaled \
down (sizes at most 2, durations of a few seconds) unless --max-size is given. \
states = distinct reachable states; transitions = inputs fed; depth = longest shortest input \
sequence to a state.";

/// `poolsim replay`.
#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The incident: stale-eof, explosion, cascade, failover, hung-server, or all.
    #[arg(value_name = "INCIDENT", value_parser = parse_incident)]
    pub(crate) incident: Which,
    /// The seed (decimal or 0x hex); default: each incident's own.
    #[arg(long, value_name = "N", value_parser = parse_seed, allow_hyphen_values = true)]
    pub(crate) seed: Option<u64>,
    /// Replay the buggy scenario with this pool profile instead (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    pub(crate) profile: Vec<String>,
    /// Run every scenario of the incident with these pools and print one table across them
    /// (repeatable): ours, ours:<profile>, bb8, deadpool, mobc, redis-rs, or all.
    #[arg(long, value_name = "POOL", value_parser = parse_pool)]
    pub(crate) pool: Vec<Pools>,
    /// Also write each scenario run as DIR/<scenario>.toml (for `poolsim run` and tests).
    #[arg(long, value_name = "DIR")]
    pub(crate) save_scenarios: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) out: replay::Output,
}

/// `poolsim bugs`.
#[derive(Args, Debug)]
pub(crate) struct BugsArgs {
    /// The bug (bb8-59, bb8-67, bb8-167, deadpool-92) or all (the default).
    #[arg(value_name = "BUG")]
    pub(crate) bug: Option<String>,
    /// The pools (repeatable; default all): ours, ours:<profile>, bb8, deadpool, mobc.
    #[arg(long, value_name = "POOL", value_parser = parse_pool)]
    pub(crate) pool: Vec<Pools>,
    /// The seed (decimal or 0x hex); default 1.
    #[arg(long, value_name = "N", value_parser = parse_seed, allow_hyphen_values = true)]
    pub(crate) seed: Option<u64>,
}

/// `poolsim run`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenario files (TOML, or JSON when the name ends in .json).
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Run with this seed instead of the file's.
    #[arg(long, value_name = "N", value_parser = parse_seed, allow_hyphen_values = true)]
    pub(crate) seed: Option<u64>,
    #[command(flatten)]
    pub(crate) out: replay::Output,
}

/// Which incidents to replay.
#[derive(Clone, Debug)]
pub(crate) enum Which {
    /// One.
    One(&'static sims::incidents::Incident),
    /// All of them, in order.
    All,
}

impl Which {
    pub(crate) fn incidents(&self) -> Vec<&'static sims::incidents::Incident> {
        match self {
            Self::One(i) => vec![*i],
            Self::All => sims::incidents::ALL.iter().collect(),
        }
    }
}

fn incident_names() -> String {
    sims::incidents::ALL.map(|i| i.name).join(", ")
}

fn parse_incident(s: &str) -> Result<Which, String> {
    if s == "all" {
        return Ok(Which::All);
    }
    sims::incidents::by_name(s)
        .map(Which::One)
        .ok_or_else(|| format!("unknown incident '{s}'; valid: {}, all", incident_names()))
}

/// `--engine turmoil|fast`.
pub(crate) fn parse_engine(s: &str) -> Result<sims::Engine, String> {
    sims::Engine::parse(s)
}

/// A seed: decimal, or hex with `0x`.
pub(crate) fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| {
        format!("bad seed '{s}'; a number 0..=18446744073709551615, decimal or 0x hex")
    })
}

/// One `--pool` value: a pool, or `all`.
#[derive(Clone, Debug)]
pub(crate) enum Pools {
    /// One pool.
    One(sims::pools::PoolChoice),
    /// ours and every real crate.
    All,
}

impl Pools {
    /// The pools a list of `--pool` values names, in order, `all` expanded (ours first, then
    /// every real crate), each once.
    pub(crate) fn expand(values: &[Self]) -> Vec<sims::pools::PoolChoice> {
        let mut out: Vec<sims::pools::PoolChoice> = Vec::new();
        for p in values {
            let more = match p {
                Self::One(c) => vec![c.clone()],
                Self::All => {
                    let mut v = vec![sims::pools::PoolChoice::Ours];
                    v.extend(sims::pools::PoolChoice::REAL_CRATES);
                    v
                }
            };
            for c in more {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }
}

fn parse_pool(s: &str) -> Result<Pools, String> {
    if s == "all" {
        return Ok(Pools::All);
    }
    sims::pools::PoolChoice::parse(s).map(Pools::One)
}

fn parse_profile(s: &str) -> Result<String, String> {
    pool_core::Profile::by_name(s)
        .map(|p| p.name().to_owned())
        .map_err(|e| e.to_string())
}

/// `poolsim trace`.
#[derive(Args, Debug)]
pub(crate) struct TraceArgs {
    /// A trace written by `poolsim replay --trace`.
    #[arg(value_name = "FILE.jsonl")]
    pub(crate) file: PathBuf,
    /// Keep only lines containing WORD (as printed).
    #[arg(long, value_name = "WORD")]
    pub(crate) grep: Option<String>,
    /// Keep only lines at or after T seconds (`12.5` or `12.5s`).
    #[arg(long, value_name = "T", value_parser = parse_secs)]
    pub(crate) from: Option<u64>,
    /// Keep only lines at or before T seconds.
    #[arg(long, value_name = "T", value_parser = parse_secs)]
    pub(crate) to: Option<u64>,
}

/// Seconds (`12.5`, `12.5s`, `300ms`) as microseconds.
pub(crate) fn parse_secs(s: &str) -> Result<u64, String> {
    let bad = || format!("bad time '{s}'; seconds such as 12.5 or 12.5s (or 300ms)");
    let (num, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 1_000.0)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1_000_000.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok((v * scale).round() as u64)
}

/// `poolsim explore`.
#[derive(Args, Debug)]
pub(crate) struct ExploreArgs {
    /// Every interleaving of pool and server for a small instance of a built-in run
    /// (`stale-eof/radix-v2`), of every run of an incident (`stale-eof`) or of all (`all`), or
    /// of a scenario file's pool and server (FILE.toml or FILE.json). Without it: pool-core's
    /// explorer over the profiles (or `--pool FILE.toml`'s pools) alone.
    #[arg(value_name = "INCIDENT/RUN|INCIDENT|all|FILE")]
    pub(crate) target: Option<String>,
    /// pool-core alone: explore the pools of this scenario file (their profiles and knobs).
    #[arg(long, value_name = "FILE.toml", conflicts_with_all = ["target", "profile"])]
    pub(crate) pool: Option<std::path::PathBuf>,
    /// With a target: a message may wait this long before it is delivered (default: the
    /// scenario's link latency).
    #[arg(long, value_name = "MS", conflicts_with = "any_delay")]
    pub(crate) max_delay_ms: Option<u64>,
    /// With a target: messages may wait any time (an asynchronous network: any reply may come
    /// after any deadline).
    #[arg(long)]
    pub(crate) any_delay: bool,
    /// With a target: a request starts only while no other is live (requests in sequence,
    /// never overlapping). A sub-space of the instance: a counterexample found is a real one;
    /// a proof covers only requests that do not overlap. For failures that need a connection
    /// made before a failover and used after it, at 2 requests.
    #[arg(long, requires = "target")]
    pub(crate) one_at_a_time: bool,
    /// With a target: at most this many environment actions (faults) on one path
    /// (default 1; each action of the instance's environment once).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) faults: u32,
    /// With a target: stop each search after this many seconds (it is then reported as
    /// truncated: exit 1).
    #[arg(long, value_name = "S")]
    pub(crate) max_seconds: Option<u64>,
    /// With a target: stop each search when the process's resident memory passes this many
    /// MiB. Each state waiting in the frontier is a whole world (20 to 40 KiB) until half of
    /// this is reached; after that, new ones are kept as their paths and rebuilt by replaying
    /// them (the same search, slower, in far less memory).
    #[arg(long, value_name = "MIB", default_value_t = sims::explore::DEFAULT_MAX_MEMORY_MIB)]
    pub(crate) max_memory_mib: u64,
    /// With a target and --faults 1: one search per action of the environment, each alone
    /// (together they cover the one-fault search, each with less memory), and a verdict per
    /// action.
    #[arg(long, requires = "target")]
    pub(crate) each_fault: bool,
    /// With one run or file: write its counterexample as a scenario file here (its requests
    /// as a script of arrivals, its faults in the timeline, the broken claim as the
    /// expectation), if the fast engine replays it to the same violation.
    #[arg(long, value_name = "FILE.toml", requires = "target")]
    pub(crate) write: Option<std::path::PathBuf>,
    /// With a target: print each instance's scaling and bounds, not only a single one's.
    #[arg(long)]
    pub(crate) verbose: bool,
    /// pool-core alone: explore only this profile (repeatable; default: every profile).
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    pub(crate) profile: Vec<String>,
    /// The pool's max_size after scaling down (larger sizes grow the state space steeply).
    /// With a target: every Redis-facing pool's, in place of the one the original's regime
    /// chose (the instance's scaling notes say so).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=6))]
    pub(crate) max_size: Option<u32>,
    /// Most requests in one sequence (default: 4 for pool-core alone, 3 with a target, 1 with a target that has a topology: a failover run).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=6))]
    pub(crate) requests: Option<u32>,
    /// Stop after this many distinct states (the exploration is then truncated: exit 1).
    #[arg(long, value_name = "N", default_value_t = pool_core::explore::Bounds::default().max_states)]
    pub(crate) max_states: usize,
}

/// How to run `poolsim` where its output is read, for the replay commands it prints: the
/// `cargo run` form inside this repository (a directory at or above the current one whose
/// `Cargo.toml` has the `crates/poolsim` member), `poolsim` anywhere else (installed with
/// `cargo install --path crates/poolsim`). `POOLSIM_COMMAND` overrides both.
pub(crate) fn invocation() -> String {
    if let Ok(c) = std::env::var("POOLSIM_COMMAND") {
        if !c.trim().is_empty() {
            return c;
        }
    }
    let in_repo = std::env::current_dir().is_ok_and(|dir| {
        dir.ancestors().any(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.contains("\"crates/poolsim\""))
        })
    });
    if in_repo {
        sims::incidents::IN_REPO.to_owned()
    } else {
        "poolsim".to_owned()
    }
}

/// The rule printed between two incidents' tables (before the `n`th, counted from 0; none
/// before the first).
pub(crate) fn rule_before(n: usize) {
    if n > 0 {
        println!("\n{}\n", "=".repeat(100));
    }
}

/// Prints a usage error as one line and returns exit status 2.
pub(crate) fn usage_error(msg: &str) -> ExitCode {
    eprintln!("poolsim: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // --help and --version go to stdout, exit 0.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => return usage_error(&one_line(&e)),
    };
    match cli.command {
        Command::Replay(a) => replay::main(&a),
        Command::Run(a) => replay::run_files(&a.files, a.seed, &a.out),
        Command::Bugs(a) => bugs::main(&a),
        Command::List => list::main(),
        Command::Audit(a) => audit::main(&a),
        Command::Size(a) => size::main(&a),
        Command::Sweep(a) => sweep::main(&a),
        Command::Fuzz(a) => fuzz::main(&a),
        Command::Scenario(ScenarioCommand::New) => scenario::new(),
        Command::Scenario(ScenarioCommand::Show { which, seed, json }) => {
            scenario::show(&which, seed, json)
        }
        Command::Trace(a) => trace::main(&a),
        Command::Explore(a) => explore::main(&a),
    }
}

/// clap's error as one line: the value parsers' own message for a bad value, clap's first line
/// otherwise, with `(see --help)`.
fn one_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::ValueValidation {
        if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
            let text = e.to_string();
            // "error: invalid value 'x' for '--seed <N>': <our message>\n\nFor more..."
            let first = text.lines().next().unwrap_or_default();
            let ours = first.rsplit_once("': ").map_or(first, |(_, m)| m);
            let arg = arg.split_whitespace().next().unwrap_or(arg);
            if arg.starts_with('-') {
                return format!("{arg}: {ours}");
            }
            return ours.to_owned();
        }
    }
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    if first.ends_with(':') {
        // "the following required arguments were not provided:" and the names below it.
        let what: Vec<&str> = lines
            .take_while(|l| l.starts_with('<') || l.starts_with('-'))
            .collect();
        return format!("{first} {} (see --help)", what.join(" "));
    }
    format!("{first} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_decimal_or_hex() {
        assert_eq!(parse_seed("3"), Ok(3));
        assert_eq!(parse_seed("0x5eed0003"), Ok(0x5eed_0003));
        assert!(parse_seed("-1").is_err());
        assert!(parse_seed("three").is_err());
    }

    #[test]
    fn times_are_seconds_with_an_optional_unit() {
        assert_eq!(parse_secs("12.5"), Ok(12_500_000));
        assert_eq!(parse_secs("12.5s"), Ok(12_500_000));
        assert_eq!(parse_secs("300ms"), Ok(300_000));
        assert!(parse_secs("soon").is_err());
        assert!(parse_secs("-1").is_err());
        // Zero is a time (the start of a run); infinity and NaN are not.
        assert_eq!(parse_secs("0"), Ok(0));
        assert_eq!(parse_secs("0ms"), Ok(0));
        assert!(parse_secs("inf").is_err());
        assert!(parse_secs("NaN").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
