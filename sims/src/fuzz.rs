//! The fuzzer behind `poolsim fuzz`: cases drawn around a fix ([`crate::strategy::environment`]
//! within its claim's bounds, [`crate::claims`]), every invariant and the claim checked on
//! each, the first failing case shrunk to a minimal scenario, written as a file that
//! `poolsim run` replays.
//!
//! Determinism: case `i` of a target is drawn from its own proptest `TestRng` (ChaCha, seeded
//! from the fuzz seed, the target's name and `i`), so a case does not depend on the others,
//! on `--jobs` or on thread timing. Cases are handed out in order; when one fails, no later
//! case is started, the cases before it finish, and the lowest failing case is the result:
//! the same seed and case count give the same cases run, the same failure and the same shrunk
//! file. A wall-clock budget ([`Options::time_budget`]) only decides how many cases run, and
//! the result says how many.
//!
//! A case fails on any invariant violation (classed [`FailureClass::Safety`],
//! [`FailureClass::Liveness`] or [`FailureClass::Harness`], see
//! [`crate::report::InvariantClass`]: harness failures are poolsim's bugs and are reported as
//! such) or on the claim ([`FailureClass::Claim`]). Shrinking keeps a simpler case only when it
//! fails the same way (the same invariant, or the same claim check), so a claim failure does
//! not slide into another.

use crate::claims::Claim;
use crate::engine::Engine;
use crate::report::InvariantClass;
use crate::runner::RunOptions;
use crate::scenario::{Expectation, Scenario};
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a fuzz run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cases per target (the most, with a time budget).
    pub cases: u64,
    /// Wall-clock budget per target: no case starts after it (`None`: run every case).
    pub time_budget: Option<Duration>,
    /// The fuzz seed (every case's draw derives from it).
    pub seed: u64,
    /// Threads.
    pub jobs: usize,
    /// The engine the cases and the shrinking run on (the file is re-checked on turmoil).
    pub engine: Engine,
    /// Most runs spent shrinking a failure.
    pub max_shrink_runs: u32,
    /// `poolsim` as the user runs it, for the replay command.
    pub poolsim: String,
    /// Run every case even after a failure: failures are counted by key and the lowest
    /// failing case of each key is shrunk (default: stop at the first failing case).
    pub keep_going: bool,
}

impl Default for Options {
    /// 100 cases, seed 1, one thread, the fast engine, 256 shrink runs, `poolsim`.
    fn default() -> Self {
        Self {
            cases: 100,
            time_budget: None,
            seed: 1,
            jobs: 1,
            engine: Engine::Fast,
            max_shrink_runs: 256,
            poolsim: "poolsim".to_owned(),
            keep_going: false,
        }
    }
}

/// Why a case failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The fix's claim did not hold.
    Claim,
    /// A safety invariant was violated: something is broken.
    Safety,
    /// Work did not drain within the scenario's limit.
    Liveness,
    /// The harness failed (a poolsim bug, not the pool's).
    Harness,
}

impl FailureClass {
    fn of(c: InvariantClass) -> Self {
        match c {
            InvariantClass::Safety => Self::Safety,
            InvariantClass::Liveness => Self::Liveness,
            InvariantClass::Harness => Self::Harness,
        }
    }
}

/// One case's failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseFailure {
    /// Its class.
    pub class: FailureClass,
    /// What failed: `claim errors.eof <= 0`, `invariant server.maxclients`.
    pub key: String,
    /// What was seen.
    pub detail: String,
}

/// A failure, shrunk and written down.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// The case (from 0) that failed first.
    pub case: u64,
    /// The failure of the shrunk case.
    pub failure: CaseFailure,
    /// Runs spent shrinking.
    pub shrink_runs: u32,
    /// The case as drawn.
    pub original: Scenario,
    /// The shrunk case, with an expectation that reproduces the failure.
    pub shrunk: Scenario,
    /// The file it was written to (`None` when no directory was given).
    pub file: Option<String>,
    /// The command that replays it.
    pub replay: String,
    /// Whether `poolsim run` (turmoil, no early stop) shows the same failure.
    pub reproduced_on_turmoil: bool,
    /// The turmoil run's verdict.
    pub turmoil_verdict: String,
    /// Trace lines (turmoil) around the first failing request.
    pub trace_excerpt: Vec<String>,
}

/// One target's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    /// `incident/run`.
    pub target: String,
    /// The claim checked.
    pub claim: Claim,
    /// Cases run (up to and including the first failing one, unless `keep_going`).
    pub cases: u64,
    /// Cases that failed (at most 1 unless `keep_going`).
    pub failing_cases: u64,
    /// Failing cases by failure key (`claim errors.eof <= 0`, `invariant pool.invariants`).
    pub by_key: BTreeMap<String, u64>,
    /// Whether the budget stopped it before `Options::cases`.
    pub stopped_by_time: bool,
    /// The engine its cases ran on: the run's, or turmoil for a fix the fast engine does not
    /// simulate (a server topology).
    #[serde(default)]
    pub engine: String,
    /// The shrunk failures: the lowest failing case of each key (one at most unless
    /// `keep_going`).
    pub findings: Vec<Finding>,
    /// Wall time, seconds.
    pub secs: f64,
}

/// A whole fuzz run (the `--json` document).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The fuzz seed.
    pub seed: u64,
    /// The engine.
    pub engine: String,
    /// Cases asked per target.
    pub cases_per_target: u64,
    /// The time budget per target, seconds (`null`: none).
    pub time_budget_secs: Option<f64>,
    /// Per target, in order.
    pub targets: Vec<TargetResult>,
    /// Cases run over all targets.
    pub cases: u64,
    /// Targets with a failure.
    pub failed: u64,
    /// Failing cases by key over all targets (`claim errors.eof <= 0`,
    /// `invariant pool.invariants`; each finding names its class).
    pub failures: BTreeMap<String, u64>,
    /// Wall time, seconds.
    pub secs: f64,
}

/// A fix to fuzz: its claim and its built-in scenario.
#[derive(Clone, Debug)]
pub struct Target {
    /// The claim.
    pub claim: Claim,
    /// The fix's scenario (the incident's default seed; cases draw their own).
    pub base: Scenario,
    /// What `poolsim fuzz` is given to fuzz this target again (`INCIDENT/RUN`, or the
    /// scenario file's path), for the commands a finding prints.
    pub command: String,
}

impl Target {
    /// The cases' strategy.
    pub fn strategy(&self) -> BoxedStrategy<Scenario> {
        crate::strategy::environment(&self.base, &self.claim.bounds)
    }
}

/// The targets `which` names: `None` or `all` every fix, `stale-eof` an incident's fixes,
/// `stale-eof/check-on-checkout` one; the error names what exists.
pub fn targets(which: Option<&str>) -> Result<Vec<Target>, String> {
    let all: Vec<Target> = crate::incidents::ALL
        .iter()
        .flat_map(|inc| {
            let scenarios = inc.scenarios(inc.default_seed);
            inc.claims().into_iter().filter_map(move |claim| {
                scenarios
                    .iter()
                    .find(|s| s.name == claim.run)
                    .map(|s| Target {
                        command: claim.name(),
                        claim,
                        base: s.clone(),
                    })
            })
        })
        .collect();
    let names = || {
        all.iter()
            .map(|t| t.claim.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<Target> = match which {
        None | Some("all") => all.clone(),
        Some(w) if w.contains('/') => all
            .iter()
            .filter(|t| t.claim.name() == w)
            .cloned()
            .collect(),
        Some(w) => all
            .iter()
            .filter(|t| t.claim.incident == w)
            .cloned()
            .collect(),
    };
    if chosen.is_empty() {
        return Err(format!(
            "no fix '{}' to fuzz; fixes: {}",
            which.unwrap_or_default(),
            names()
        ));
    }
    Ok(chosen)
}

/// A scenario of your own as a fuzz target (`poolsim fuzz FILE`): the claim is the file's
/// own expectation, the environment is drawn around its scenario.
///
/// - The scenario must expect `holds` with checks. Each check's upper bound is a claim check
///   (`max`, and `eq` read as `<=`: a count that must stay 0); a lower bound (`min`, the lower
///   side of a non-zero `eq`) is left out, because the load and the latencies vary around
///   the file, and the second value returned names what was left out. No upper bound at all
///   is an error.
/// - The bounds are [`crate::strategy::EnvBounds::around`] the scenario, widened to include
///   its own link and command latencies and `hz`; its timeline is kept (instants remapped
///   with the load). With `faults`, up to two restarts, kills of every client, latency
///   spikes or stalls fall anywhere in the load.
///
/// `label` names the target (`label/<scenario name>`; the file's stem) and is what a
/// finding's `poolsim fuzz` command is given (the file's path).
pub fn file_target(
    label: &str,
    s: &Scenario,
    faults: bool,
) -> Result<(Target, Vec<String>), String> {
    use crate::claims::{ClaimCheck, Limit};
    use crate::scenario::Outcome;
    use crate::strategy::{EnvBounds, FaultBounds, FaultKind, FaultWindow, Span};
    s.validate().map_err(|e| e.to_string())?;
    if s.expect.outcome != Outcome::Holds {
        return Err(format!(
            "only a scenario that must hold can be fuzzed (its checks are the claim); \
             expect.outcome is \"{}\"",
            match s.expect.outcome {
                Outcome::Reproduces => "reproduces",
                Outcome::Either => "either",
                Outcome::Holds => "holds",
            }
        ));
    }
    let mut checks = Vec::new();
    let mut left_out = Vec::new();
    let show = |v: f64| crate::report::fmt_num(v);
    for c in &s.expect.checks {
        if let Some(v) = c.eq {
            checks.push(ClaimCheck::at_most(&c.metric, Limit::Value(v)));
            if v != 0.0 {
                left_out.push(format!(
                    "{} >= {} (the lower side of eq)",
                    c.metric,
                    show(v)
                ));
            }
        }
        if let Some(v) = c.max {
            checks.push(ClaimCheck::at_most(&c.metric, Limit::Value(v)));
        }
        if let Some(v) = c.min {
            left_out.push(format!("{} >= {} (a lower bound)", c.metric, show(v)));
        }
    }
    if checks.is_empty() {
        return Err(
            "no check with an upper bound (max, or eq) to make a claim of; add one to \
             [expect], e.g. { metric = \"errors.total\", eq = 0 }"
                .to_owned(),
        );
    }
    let mut bounds = EnvBounds::around(s);
    let link = s.link_latency_ms / s.tick_ms.max(1);
    bounds.link_latency_ticks = Span::new(1, bounds.link_latency_ticks.max.max(link));
    bounds.hz = Span::new(1, bounds.hz.max.max(u64::from(s.server.hz)));
    bounds.command_latency_ms = Span::new(
        0,
        bounds
            .command_latency_ms
            .max
            .max(s.server.command_latency_ms),
    );
    bounds.connect_latency_ms = Span::new(
        0,
        bounds
            .connect_latency_ms
            .max
            .max(s.server.connect_latency_ms),
    );
    if faults {
        bounds.faults = FaultBounds::some(
            &[
                FaultKind::Restart,
                FaultKind::KillAllClients,
                FaultKind::LatencySpike,
                FaultKind::Stall,
            ],
            2,
            FaultWindow::Anywhere,
        );
    }
    let promise = checks
        .iter()
        .map(ClaimCheck::label)
        .collect::<Vec<_>>()
        .join(", ");
    let claim = Claim {
        incident: label.to_owned(),
        run: s.name.clone(),
        promise: format!("the file's checks hold: {promise}"),
        checks,
        assumes: format!(
            "the environment around the file: its load from half to 1.5 times, links of 1 to \
             {} ticks, hz 1 to {}, command latency 0 to {} ms, connect latency 0 to {} ms, its \
             timeline remapped{}",
            bounds.link_latency_ticks.max,
            bounds.hz.max,
            bounds.command_latency_ms.max,
            bounds.connect_latency_ms.max,
            if faults {
                ", and up to two restarts, kills, latency spikes or stalls anywhere"
            } else {
                ""
            }
        ),
        bounds,
    };
    Ok((
        Target {
            claim,
            base: s.clone(),
            command: label.to_owned(),
        },
        left_out,
    ))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The proptest runner that draws case `case` of `target` for `seed`: ChaCha seeded from the
/// three, independent of every other case.
#[must_use]
pub fn case_runner(seed: u64, target: &str, case: u64) -> TestRunner {
    let name = crate::trace::hash_lines([target]);
    let mut x = splitmix(seed ^ splitmix(name) ^ splitmix(case.wrapping_add(0x5eed)));
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        x = splitmix(x);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `s` on `engine` and judges it: the first invariant violation, else the first broken
/// claim check (`None`: the case passed). A run that cannot start or panics is a harness
/// failure.
#[must_use]
pub fn judge(engine: Engine, claim: &Claim, s: &Scenario) -> Option<CaseFailure> {
    let opts = RunOptions {
        stop_on_errors: claim.stop_on_errors(),
        ..RunOptions::default()
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::engine::run_on(engine, s, &opts)
    }));
    match run {
        Err(p) => Some(CaseFailure {
            class: FailureClass::Harness,
            key: "harness panic".to_owned(),
            detail: crate::panics::message(&*p),
        }),
        Ok(Err(e)) => Some(CaseFailure {
            class: FailureClass::Harness,
            key: "harness scenario.invalid".to_owned(),
            detail: e.to_string(),
        }),
        Ok(Ok(run)) => judge_run(claim, s, &run),
    }
}

/// Judges a finished run of `s` (see [`judge`]).
#[must_use]
pub fn judge_run(claim: &Claim, s: &Scenario, run: &crate::Run) -> Option<CaseFailure> {
    if let Some(v) = run.report.invariant_violations.first() {
        return Some(CaseFailure {
            class: FailureClass::of(v.class()),
            key: format!("invariant {}", v.invariant),
            detail: format!("{} at {} ms: {}", v.invariant, v.t_ms, v.detail),
        });
    }
    claim
        .check(s, &run.metrics)
        .into_iter()
        .next()
        .map(|b| CaseFailure {
            class: FailureClass::Claim,
            key: format!("claim {}", b.check),
            detail: format!(
                "{}{}",
                b,
                run.stopped
                    .as_ref()
                    .map(|why| format!(" (run stopped: {why})"))
                    .unwrap_or_default()
            ),
        })
}

/// Fuzzes one target; `progress` is called after each case with the cases done so far.
pub fn fuzz_target(
    t: &Target,
    opts: &Options,
    out_dir: Option<&std::path::Path>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<TargetResult, String> {
    let started = Instant::now();
    // A fix the fast engine did not simulate would be fuzzed on turmoil (none today: the
    // failover incident's topology runs on both since 2026-12-07).
    let fallback;
    let opts = if opts.engine == Engine::Fast && crate::fast::supports(&t.base).is_err() {
        fallback = Options {
            engine: Engine::Turmoil,
            ..opts.clone()
        };
        &fallback
    } else {
        opts
    };
    let name = t.claim.name();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let out_of_time = AtomicBool::new(false);
    // The lowest failing case so far (u64::MAX: none).
    let lowest = AtomicU64::new(u64::MAX);
    let failures: Mutex<BTreeMap<u64, CaseFailure>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                let strategy = t.strategy();
                loop {
                    if opts.time_budget.is_some_and(|b| started.elapsed() >= b) {
                        out_of_time.store(true, Ordering::Relaxed);
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= opts.cases || (!opts.keep_going && i > lowest.load(Ordering::SeqCst)) {
                        break;
                    }
                    let case = match strategy.new_tree(&mut case_runner(opts.seed, &name, i)) {
                        Ok(tree) => tree.current(),
                        Err(why) => {
                            lock(&failures).insert(
                                i,
                                CaseFailure {
                                    class: FailureClass::Harness,
                                    key: "harness strategy".to_owned(),
                                    detail: why.to_string(),
                                },
                            );
                            lowest.fetch_min(i, Ordering::SeqCst);
                            break;
                        }
                    };
                    if let Some(f) = judge(opts.engine, &t.claim, &case) {
                        lock(&failures).insert(i, f);
                        lowest.fetch_min(i, Ordering::SeqCst);
                    }
                    progress(done.fetch_add(1, Ordering::SeqCst) + 1);
                }
            });
        }
    });
    let all = std::mem::take(&mut *lock(&failures));
    let handed_out = next.load(Ordering::SeqCst).min(opts.cases);
    // Every case handed out finished (a thread finishes its case before it stops). Without
    // keep_going, cases after the lowest failing one are not counted (whether they ran
    // depends on timing).
    let (cases, kept): (u64, Vec<(u64, CaseFailure)>) = match all.iter().next() {
        Some((&i, f)) if !opts.keep_going => (i + 1, vec![(i, f.clone())]),
        _ => (handed_out, all.into_iter().collect()),
    };
    let mut by_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut firsts: Vec<(u64, CaseFailure)> = Vec::new();
    for (i, f) in &kept {
        let n = by_key.entry(f.key.clone()).or_insert(0);
        if *n == 0 {
            firsts.push((*i, f.clone()));
        }
        *n += 1;
    }
    let mut findings = Vec::new();
    for (case, failure) in firsts {
        findings.push(shrink(t, opts, case, failure, out_dir)?);
    }
    Ok(TargetResult {
        target: name,
        claim: t.claim.clone(),
        cases,
        failing_cases: kept.len() as u64,
        by_key,
        stopped_by_time: out_of_time.load(Ordering::Relaxed) && cases < opts.cases,
        engine: opts.engine.name().to_owned(),
        findings,
        secs: started.elapsed().as_secs_f64(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shrinks case `case` (which failed with `failure`) and writes it down.
fn shrink(
    t: &Target,
    opts: &Options,
    case: u64,
    failure: CaseFailure,
    out_dir: Option<&std::path::Path>,
) -> Result<Finding, String> {
    let name = t.claim.name();
    let strategy = t.strategy();
    let mut tree = strategy
        .new_tree(&mut case_runner(opts.seed, &name, case))
        .map_err(|e| format!("{name} case {case}: {e}"))?;
    let original = tree.current();
    let mut last = (original.clone(), failure);
    let mut runs = 0u32;
    if tree.simplify() {
        while runs < opts.max_shrink_runs {
            runs += 1;
            let candidate = tree.current();
            match judge(opts.engine, &t.claim, &candidate) {
                Some(f) if f.key == last.1.key => {
                    last = (candidate, f);
                    if !tree.simplify() {
                        break;
                    }
                }
                _ => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    let (mut shrunk, failure) = last;
    let file_stem = format!(
        "{}-{}-seed{}-case{case}",
        t.claim.incident, t.claim.run, opts.seed
    );
    shrunk.name = format!("fuzz-{}-{}", t.claim.incident, t.claim.run);
    shrunk.summary = format!(
        "found by poolsim fuzz {} --seed {} (case {case}), shrunk in {runs} runs: {}",
        t.command, opts.seed, failure.key
    );
    shrunk.expect = expectation_for(&t.claim, &shrunk, &failure);
    // What `poolsim run FILE` does: turmoil, to the end, with the trace.
    let check = crate::runner::run_with(
        &shrunk,
        crate::CorePoolFactory,
        &RunOptions {
            keep_trace: true,
            ..RunOptions::default()
        },
    )
    .map_err(|e| format!("{name}: the shrunk case does not run: {e}"))?;
    let seen = judge_run(&t.claim, &shrunk, &check);
    let reproduced = seen.as_ref().is_some_and(|f| f.key == failure.key)
        && (failure.class != FailureClass::Claim || check.report.expectation_met);
    let excerpt = excerpt(&check.trace, &failure);
    let (file, replay) = match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(format!("{file_stem}.toml"));
            let replay = format!("{} run {}", opts.poolsim, path.display());
            let text = file_text(
                &t.command, &t.claim, opts, case, runs, &failure, &replay, &excerpt, &shrunk,
            );
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            (Some(path.display().to_string()), replay)
        }
        None => (None, format!("{} run {file_stem}.toml", opts.poolsim)),
    };
    Ok(Finding {
        case,
        failure,
        shrink_runs: runs,
        original,
        shrunk,
        file,
        replay,
        reproduced_on_turmoil: reproduced,
        turmoil_verdict: check.report.verdict,
        trace_excerpt: excerpt,
    })
}

/// The expectation a file of the failure carries: for a broken claim, `reproduces` with the
/// check the failure passes (`poolsim run` says "reproduced"); for an invariant violation,
/// nothing asserted (`poolsim run` reports the violation and exits 1).
fn expectation_for(claim: &Claim, s: &Scenario, f: &CaseFailure) -> Expectation {
    if f.class != FailureClass::Claim {
        return Expectation::default();
    }
    let label = f.key.trim_start_matches("claim ");
    let Some(c) = claim.checks.iter().find(|c| c.label() == label) else {
        return Expectation::default();
    };
    Expectation::reproduces(
        &format!(
            "{} = {{{}}}: the fix claims {} ({} requests)",
            c.metric, c.metric, label, "{requests}"
        ),
        vec![c.broken_check(s)],
    )
}

/// The trace lines around the first failing request: from 20 lines before the first
/// `request.end` whose outcome is an error the claim names (or the `run.violation` line) to
/// 5 after.
fn excerpt(trace: &[String], f: &CaseFailure) -> Vec<String> {
    let kind = f
        .key
        .split_whitespace()
        .nth(1)
        .and_then(|m| m.strip_prefix("errors."))
        // `errors.total` names no kind: any failed request is the one.
        .filter(|k| crate::report::ErrorKind::from_name(k).is_some())
        .map(|k| format!("\"outcome\":\"{k}\""));
    let at = trace.iter().position(|l| match (&kind, f.class) {
        (_, c) if c != FailureClass::Claim => l.contains("\"run.violation\""),
        (Some(k), _) => l.contains("\"request.end\"") && l.contains(k.as_str()),
        (None, _) => l.contains("\"request.end\"") && !l.contains("\"outcome\":\"ok\""),
    });
    match at {
        Some(i) => trace[i.saturating_sub(20)..(i + 6).min(trace.len())].to_vec(),
        None => trace[trace.len().saturating_sub(20)..].to_vec(),
    }
}

#[allow(clippy::too_many_arguments)]
fn file_text(
    command: &str,
    claim: &Claim,
    opts: &Options,
    case: u64,
    runs: u32,
    f: &CaseFailure,
    replay: &str,
    excerpt: &[String],
    s: &Scenario,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Found by `poolsim fuzz {} --seed {} --engine {}`: case {case}, shrunk in {runs} runs.\n",
        command, opts.seed, opts.engine
    ));
    out.push_str(&format!("# Claim: {}\n", claim.promise));
    out.push_str(&format!("# Within: {}\n", claim.assumes));
    out.push_str(&format!(
        "# Failure ({}): {}\n",
        format!("{:?}", f.class).to_lowercase(),
        f.detail
    ));
    out.push_str(&format!("# Replay: {replay}\n"));
    out.push_str("# Trace around the first failing request (turmoil):\n");
    for l in excerpt {
        out.push_str(&format!("#   {l}\n"));
    }
    out.push('\n');
    out.push_str(&s.to_toml());
    out
}

/// Fuzzes every target in order; `progress(target, cases done)` after each case.
pub fn fuzz(
    targets: &[Target],
    opts: &Options,
    out_dir: Option<&std::path::Path>,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<Summary, String> {
    let started = Instant::now();
    let mut results = Vec::new();
    for t in targets {
        let name = t.claim.name();
        results.push(fuzz_target(t, opts, out_dir, &|n| progress(&name, n))?);
    }
    let mut failures = BTreeMap::new();
    for r in &results {
        for (key, n) in &r.by_key {
            *failures.entry(key.clone()).or_insert(0) += n;
        }
    }
    Ok(Summary {
        seed: opts.seed,
        engine: opts.engine.name().to_owned(),
        cases_per_target: opts.cases,
        time_budget_secs: opts.time_budget.map(|d| d.as_secs_f64()),
        cases: results.iter().map(|r| r.cases).sum(),
        failed: results.iter().filter(|r| r.failing_cases > 0).count() as u64,
        failures,
        targets: results,
        secs: started.elapsed().as_secs_f64(),
    })
}
