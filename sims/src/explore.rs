//! Every interleaving of pool and server: a breadth-first search over the fast engine's
//! world ([`crate::fast`]'s `explore` module) for a small instance of a scenario.
//!
//! - **The world** is the fast engine's: each pool a `pool_core::Pool` with the scenario's
//!   profile and knobs, the client behaviour of its tier, the `fake_redis::Engine` with its
//!   cron, both sides of every connection, the request path and its checks. Only the
//!   scheduler differs (see `fast::explore`): each pending message of each connection may be
//!   delivered next (FIFO within a connection and direction, and within [`Bounds::max_delay_ms`]
//!   of being sent), each timer due at the earliest instant may fire next (time moves to it),
//!   and the environment may start a request (up to [`Bounds::requests`]; with
//!   [`Bounds::one_at_a_time`] only while none is live, a sub-space) or apply one of its
//!   actions (each once) at any instant up to [`Bounds::start_window_ms`].
//! - **Every invariant after every transition**: pool-core's, the server's and the end-to-end
//!   ones (every request ends exactly once, every reply reaches the request that sent it), as
//!   a run checks them after every step; the claim under test ([`Instance::claim`]) on the
//!   figures it can bound at any instant (error counts, peaks); and at every end state (no
//!   message pending, no timer before [`Bounds::horizon_ms`]) that no request is still live.
//! - **States** are deduplicated by a canonical key (everything that decides the future:
//!   time, pending events, the server, the connections, the pools, the request path, the
//!   books' counts, the budgets; not the trace, histograms or samples, nor how two channels'
//!   messages or two timers interleave in the engine's calendar), hashed to 128 bits.
//!   The search is breadth-first, so the first counterexample is a shortest one; it is
//!   replayed with the trace on and printed in `poolsim trace`'s vocabulary.
//! - **Budgets** are reported, never silent: [`Outcome::truncated`] says which one stopped the
//!   search.
//!
//! [`scale_down`] makes the instance: one pod per tier, one pool per pod, durations divided by
//! one factor (so sums and ratios keep their order), the cron at `hz 1`, and the regime of the
//! original run kept: a pool that made requests wait there gets fewer connections than the
//! explorer's requests, one that never did gets as many; a server whose `maxclients` refused
//! connections there gets fewer slots than requests. A keepalive of one PING per interval
//! keeps its period per connection rather than its connection count, with one request left
//! to come back after the gap. A topology (the failover runs) keeps one replica, the
//! Sentinel's clock in whole seconds, and its own events (the crash, the hang, the planned
//! failover) on the timeline at their instants; the Sentinel's links to the instances deliver
//! without branching. docs/invariants.md has the details and the results for every built-in
//! run.

use crate::claims::ClaimCheck;
pub use crate::fast::explore::{Channel, Plant};
use crate::fast::explore::{Move, Node};
use crate::knobs::Setting;
use crate::scenario::{Clients, Dist, Event, Scenario, ScenarioError};
use crate::strategy::{FaultBounds, FaultKind};
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

/// How far to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// First-tier requests the environment may start.
    pub requests: u32,
    /// Stop after this many distinct states.
    pub max_states: usize,
    /// Stop after this much wall time (checked every 1,024 states; `None`: no limit).
    pub max_time: Option<Duration>,
    /// Stop when the process's resident memory passes this many MiB (read from
    /// `/proc/self/status` every 1,024 states, where there is one; `None`: no limit). Each
    /// state waiting in the breadth-first frontier is a whole world: 20 to 40 KiB at 3
    /// requests (docs/performance.md), so a search of millions of states needs tens of GiB.
    pub max_memory_mib: Option<u64>,
    /// Once the process's resident memory passes this many MiB (read as for
    /// [`Bounds::max_memory_mib`]), a state added to the frontier is kept as its path alone
    /// (a few dozen bytes) instead of its whole world, and rebuilt when its turn comes (from
    /// its parent's world when its sibling was rebuilt just before, otherwise by replaying
    /// the path from the initial state): the search goes on in less memory and more time
    /// ([`Outcome::rebuilt`] counts them). `Some(0)`: from the first state; `None`: never.
    /// The order of the search, its states and its answer are the same either way.
    pub spill_above_mib: Option<u64>,
    /// Requests and environment actions may come at any instant up to this (ms).
    pub start_window_ms: u64,
    /// Timers after this instant (ms) do not fire: a state with no message pending and no
    /// timer before it is an end state.
    pub horizon_ms: u64,
    /// A message is delivered at most this long after it was sent (ms); `None`: any time
    /// (an asynchronous network, where any reply may come after any deadline).
    pub max_delay_ms: Option<u64>,
    /// At most this many environment actions on one path (of [`Instance::env`], each once).
    pub max_env_actions: u32,
    /// Stop at the first counterexample (the shortest).
    pub stop_at_first: bool,
    /// A request starts only while no request is live: requests one after another, never
    /// overlapping. A sub-space of the instance's (a closed loop of one user): a
    /// counterexample found in it is one of the whole instance, and the shortest with
    /// requests in sequence; a proof covers only requests that do not overlap. For the
    /// failures that need a connection made by one request and used by a later one (a
    /// failover between them), where two overlapping requests' interleavings are more than a
    /// search can go through (docs/invariants.md).
    pub one_at_a_time: bool,
}

/// What is explored: the scaled-down scenario, its environment's actions and the claim.
#[derive(Clone, Debug)]
pub struct Instance {
    /// `incident/run`, or the file's name.
    pub label: String,
    /// The small scenario. Its timeline is empty (its events are [`Instance::env`]), but
    /// with a topology: a failover's own events stay on it at their scaled instants.
    pub scenario: Scenario,
    /// What the environment may do, each once, at any instant.
    pub env: Vec<Event>,
    /// The environment acts only while no request is live (a claim whose faults fall in the
    /// service's idle gaps, `FaultWindow::DuringIdleGaps`).
    pub env_when_idle: bool,
    /// The figures that must stay within bounds in every state (a fix's claim, or for a
    /// buggy run the incident's fixes' claims together).
    pub claim: Vec<ClaimCheck>,
    /// Claim checks the explorer cannot evaluate in a state (percentiles need a whole run).
    pub unchecked: Vec<String>,
    /// How the instance was made from the original (one line per decision).
    pub scaling: Vec<String>,
}

impl Instance {
    /// The same instance with every Redis-facing pool's `max_size` set to `n` (`poolsim
    /// explore --max-size`), in place of the one the original's regime chose (Scaling down):
    /// a stated bound of its own, said in [`Instance::scaling`]. `min_idle` is kept within
    /// it.
    #[must_use]
    pub fn with_max_size(&self, n: u32) -> Self {
        let mut x = self.clone();
        for t in x.scenario.tiers.iter_mut().filter(|t| t.calls.is_none()) {
            let min_idle = t.pool.config().map_or(0, |c| c.min_idle);
            let o = &mut t.pool.overrides;
            o.max_size = Some(Setting::Value(n));
            if min_idle > n {
                o.min_idle = Some(n);
            }
        }
        x.scaling.push(format!(
            "max_size {n} in every Redis-facing pool (--max-size), in place of the regime's"
        ));
        x
    }

    /// The same instance with only its environment's action `k` (`poolsim explore
    /// --each-fault`): with at most one action on a path, the searches of every action alone
    /// together cover the one-fault search.
    #[must_use]
    pub fn with_env_action(&self, k: usize) -> Self {
        let mut one = self.clone();
        one.env = self.env.get(k).cloned().into_iter().collect();
        one
    }
}

/// The shortest sequence that breaks an invariant or the claim.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The invariant (`server.rejected_counted`, ...) or `claim` or `e2e.live_at_end`.
    pub what: String,
    /// What was seen.
    pub detail: String,
    /// The moves, one line each, with their instants.
    pub moves: Vec<String>,
    /// The trace of the replayed sequence (`poolsim trace`'s JSON lines).
    pub trace: Vec<String>,
    /// The counterexample as a scenario file, and what the fast engine made of it.
    pub file: CounterexampleFile,
}

/// A counterexample as a scenario ([`Counterexample::file`]): the instance, its requests as
/// a script of arrivals at the instants of its moves (`kind = "at"`), the environment's
/// actions in its timeline at theirs, and an expectation that the same claim breaks
/// (`outcome = "reproduces"`; none for an invariant, which a run reports by itself).
///
/// The fast engine runs it on its own schedule: fixed link latencies and one order within an
/// instant, where the explorer chose each delivery. Where that schedule takes the same turn,
/// the file replays the violation and can be kept as a regression test; where the
/// counterexample needs a turn the schedule does not take (a request that completes in no
/// time, say), it does not, and [`CounterexampleFile::reproduces`] says so.
#[derive(Clone, Debug)]
pub struct CounterexampleFile {
    /// The scenario.
    pub scenario: Scenario,
    /// Whether the fast engine's run of it shows the same violation: the claim's checks met
    /// (`expectation_met`), or the same invariant reported.
    pub reproduces: bool,
    /// The fast engine's run in one line: its verdict, or the invariant it reported.
    pub fast_run: String,
    /// Where the fast engine replays it: whether turmoil (`poolsim run`'s default engine,
    /// with its own schedule) does too, and its run in one line.
    pub turmoil: Option<(bool, String)>,
}

impl CounterexampleFile {
    /// The file's text: a header (how it was found, what it breaks, the moves) and the
    /// scenario's TOML. `command` is the explorer's command line that finds it.
    #[must_use]
    pub fn text(&self, command: &str, c: &Counterexample) -> String {
        let mut out = format!(
            "# Found by `{command}`: the shortest counterexample ({} moves).\n# Failure ({}): {}\n# On the fast engine (--engine fast): {}\n",
            c.moves.len(),
            // As `poolsim fuzz` writes it, so that `sims/regressions/` reads both.
            match c.what.as_str() {
                "claim" => "claim",
                "e2e.live_at_end" => "liveness",
                _ => "safety",
            },
            if c.what == "claim" {
                c.detail.clone()
            } else {
                format!("{} ({})", run_invariant(&c.what), c.detail)
            },
            self.fast_run
        );
        if let Some((_, t)) = &self.turmoil {
            out.push_str(&format!("# On turmoil: {t}\n"));
        }
        out.push_str("# The moves:\n");
        for m in &c.moves {
            out.push_str(&format!("#   {}\n", m.trim()));
        }
        out.push('\n');
        out.push_str(&self.scenario.to_toml());
        out
    }
}

/// What a search found and cost.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Distinct states reached.
    pub states: usize,
    /// Transitions taken (moves applied).
    pub transitions: u64,
    /// The deepest state's distance from the start.
    pub depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Which budget stopped the search, if one did.
    pub truncated: Option<String>,
    /// End states reached (no message pending, no timer before the horizon).
    pub end_states: u64,
    /// States that waited in the frontier as their path alone and were rebuilt by replaying
    /// it ([`Bounds::spill_above_mib`]).
    pub rebuilt: u64,
    /// The first counterexample (a shortest one).
    pub found: Option<Counterexample>,
}

impl Outcome {
    /// `proven within the bounds`, `refuted`, or `unknown (budget)`.
    #[must_use]
    pub fn verdict(&self) -> &'static str {
        match (&self.found, &self.truncated) {
            (Some(_), _) => "refuted",
            (None, None) => "proven",
            (None, Some(_)) => "unknown",
        }
    }
}

/// The first violation a search meets: the invariant (or `claim`), what was seen, the
/// claim's checks broken, and the path to it.
type Found = (String, String, Vec<ClaimCheck>, Option<Rc<Path>>);

struct Path {
    mv: Move,
    at_us: u64,
    parent: Option<Rc<Self>>,
}

fn moves_of(p: Option<&Rc<Path>>) -> Vec<(Move, u64)> {
    let mut out = Vec::new();
    let mut cur = p.cloned();
    while let Some(n) = cur {
        out.push((n.mv, n.at_us));
        cur = n.parent.clone();
    }
    out.reverse();
    out
}

/// The moves a state offers within the bounds.
fn moves(node: &mut Node<'_>, inst: &Instance, b: &Bounds) -> Vec<Move> {
    let mut ms = node.network_and_timer_moves();
    let now = node.now_us();
    // A timer may fire only before the horizon, and only when no message has waited
    // longer than the delay bound by then.
    let timer_ok = node.next_timer_us().is_some_and(|t| {
        t <= b.horizon_ms * 1000
            && b.max_delay_ms
                .is_none_or(|d| node.oldest_message_us().is_none_or(|m| t <= m + d * 1000))
    });
    if !timer_ok {
        ms.retain(|m| !matches!(m, Move::Fire(_)));
    }
    if now <= b.start_window_ms * 1000 {
        if node.started < b.requests && (!b.one_at_a_time || node.live_requests() == 0) {
            ms.extend(node.first_tier_pods().into_iter().map(Move::Start));
        }
        if node.env_used.count_ones() < b.max_env_actions
            && (!inst.env_when_idle || node.live_requests() == 0)
        {
            for k in 0..inst.env.len().min(64) {
                // Of identical actions not used yet (a file's repeated faults), only the
                // first: which one of them comes next changes nothing.
                let first_of_its_kind =
                    (0..k).all(|j| node.env_used & (1 << j) != 0 || inst.env[j] != inst.env[k]);
                if node.env_used & (1 << k) == 0 && first_of_its_kind {
                    ms.push(Move::Env(k));
                }
            }
        }
    }
    ms
}

fn describe(m: Move, at_us: u64, env: &[Event]) -> String {
    let what = match m {
        Move::Deliver(Channel::ToServer(c)) => {
            format!("deliver the next message of conn {c} to the server")
        }
        Move::Deliver(Channel::ToClient(c)) => {
            format!("deliver the next message of conn {c} to the client")
        }
        Move::Deliver(Channel::RpcForth(l)) => format!("deliver the next call on tier link {l}"),
        Move::Deliver(Channel::RpcBack(l)) => format!("deliver the next answer on tier link {l}"),
        Move::Fire(0) => "fire the next timer".to_owned(),
        Move::Fire(k) => format!("fire timer #{k} of those due now"),
        Move::Start(p) => format!("start a request on pod {p}"),
        Move::Env(k) => format!(
            "environment: {}",
            env.get(k).map_or_else(|| "?".to_owned(), Event::label)
        ),
    };
    format!("{:>8.3} s  {what}", at_us as f64 / 1e6)
}

/// The claim's checks a state breaks: what was seen, and the checks.
fn claim_broken(node: &Node<'_>, inst: &Instance) -> Option<(String, Vec<ClaimCheck>)> {
    if inst.claim.is_empty() {
        return None;
    }
    let m = node.metrics();
    let (seen, broken): (Vec<String>, Vec<ClaimCheck>) = inst
        .claim
        .iter()
        .filter_map(|c| {
            let v = m.get(&c.metric);
            (!c.passes(&inst.scenario, v)).then(|| {
                (
                    format!("{} (was {})", c.label(), crate::report::fmt_num(v)),
                    c.clone(),
                )
            })
        })
        .unzip();
    (!broken.is_empty()).then(|| (seen.join("; "), broken))
}

/// The name a run gives the explorer's invariant `what`: a request still live in an end
/// state is, at a run's end, one that never ended (`e2e.ends_once`).
fn run_invariant(what: &str) -> &str {
    if what == "e2e.live_at_end" {
        "e2e.ends_once"
    } else {
        what
    }
}

/// Whether a run of a counterexample's file shows its violation (`what`: an invariant, or
/// `claim` for the file's expectation), and the run in one line.
fn same_violation(r: &crate::Report, what: &str) -> (bool, String) {
    if what == "claim" {
        return (r.expectation_met, r.verdict.clone());
    }
    let what = run_invariant(what);
    match r.invariant_violations.iter().find(|i| i.invariant == what) {
        Some(i) => (true, format!("{}: {}", i.invariant, i.detail)),
        None => (
            false,
            format!(
                "{what} not reported ({})",
                r.invariant_violations
                    .first()
                    .map_or_else(|| r.verdict.clone(), |i| i.invariant.clone())
            ),
        ),
    }
}

/// The counterexample `moves` of `inst` as a scenario file, run once on the fast engine
/// ([`CounterexampleFile`]). `what` is the invariant broken, or `claim` with `checks`.
fn counterexample_file(
    inst: &Instance,
    moves: &[(Move, u64)],
    what: &str,
    checks: &[ClaimCheck],
) -> CounterexampleFile {
    let mut s = inst.scenario.clone();
    s.name = format!("{}-explored", inst.label.replace(['/', ' '], "-"));
    let starts: Vec<u64> = moves
        .iter()
        .filter(|(m, _)| matches!(m, Move::Start(_)))
        .map(|&(_, at)| at / 1000)
        .collect();
    // The instance's own timeline (a failover's events at their instants), then the
    // environment's actions at their moves' instants.
    s.timeline
        .extend(moves.iter().filter_map(|&(m, at)| match m {
            Move::Env(k) => inst.env.get(k).map(|e| {
                let mut e = e.clone();
                e.set_at_ms(at / 1000);
                e
            }),
            _ => None,
        }));
    s.timeline.sort_by_key(Event::at_ms);
    s.summary = format!(
        "the explorer's shortest counterexample for {}: {} request(s) at the instants of its moves{}",
        inst.label,
        starts.len(),
        if s.timeline.is_empty() {
            String::new()
        } else {
            ", the environment's actions at theirs".to_owned()
        }
    );
    let last = starts
        .iter()
        .copied()
        .chain(s.timeline.iter().map(Event::at_ms))
        .max()
        .unwrap_or(0);
    s.duration_ms = last + 1;
    s.sample_ms = 100;
    s.load.clients = Clients::Open {
        arrivals: crate::scenario::Arrivals::At { at_ms: starts },
    };
    s.expect = if what == "claim" {
        crate::scenario::Expectation::reproduces(
            &format!(
                "the explorer's counterexample: {}",
                checks
                    .iter()
                    .map(|c| format!("{} = {{{}}}", c.metric, c.metric))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            checks.iter().map(|c| c.broken_check(&s)).collect(),
        )
    } else {
        crate::scenario::Expectation::default()
    };
    // The instance's own link latency first; then the shortest the fast engine has (1 ms
    // ticks and links), nearer the explorer's clock, where a message takes no time unless the
    // search delays it.
    let mut first = None;
    for (tick_ms, link_latency_ms) in [(s.tick_ms, s.link_latency_ms), (1, 1)] {
        let mut v = s.clone();
        v.tick_ms = tick_ms;
        v.link_latency_ms = link_latency_ms;
        let run = match v
            .validate()
            .and_then(|()| crate::fast::run(&v, &crate::RunOptions::default()))
        {
            Ok(run) => run,
            Err(e) => {
                first.get_or_insert(CounterexampleFile {
                    scenario: v,
                    reproduces: false,
                    fast_run: format!("not runnable: {e}"),
                    turmoil: None,
                });
                continue;
            }
        };
        let (reproduces, fast_run) = same_violation(&run.report, what);
        let mut file = CounterexampleFile {
            scenario: v,
            reproduces,
            fast_run,
            turmoil: None,
        };
        if reproduces {
            file.turmoil = Some(crate::runner::run(&file.scenario).map_or_else(
                |e| (false, format!("not runnable: {e}")),
                |run| same_violation(&run.report, what),
            ));
            return file;
        }
        first.get_or_insert(file);
    }
    first.expect("one schedule tried")
}

/// Explores `inst` within `b`, with `plant` planted in the world (tests only).
///
/// # Errors
/// The scenario is invalid or needs the turmoil engine (a topology, a hang).
pub fn explore(
    inst: &Instance,
    b: &Bounds,
    plant: Option<Plant>,
) -> Result<Outcome, ScenarioError> {
    let started = std::time::Instant::now();
    // One watch for the whole search: each move that panics takes its record.
    let panics = crate::panics::Watch::start();
    // The spill and the memory budget read the process's resident memory: give back what an
    // earlier search in this process freed, or this one would count it as its own.
    release_freed_memory();
    let root = Node::new(&inst.scenario, false, plant)?;
    let mut out = Outcome {
        states: 1,
        transitions: 0,
        depth: 0,
        elapsed: Duration::ZERO,
        truncated: None,
        end_states: 0,
        rebuilt: 0,
        found: None,
    };
    let mut seen = BTreeSet::new();
    seen.insert(root.key());
    let mut frontier: VecDeque<(Entry<'_>, Option<Rc<Path>>, usize)> = VecDeque::new();
    frontier.push_back((Ok(Box::new(root)), None, 0));
    let mut spilling = b.spill_above_mib == Some(0);
    // The parent of the last state rebuilt: its siblings follow it in the frontier.
    let mut parent: Option<(Rc<Path>, Node<'_>)> = None;
    let mut first: Option<Found> = None;
    'search: while let Some((node, path, depth)) = frontier.pop_front() {
        let mut node = match node {
            Ok(n) => *n,
            Err(key) => {
                out.rebuilt += 1;
                rebuild(inst, path.as_ref(), plant, key, &mut parent, &panics)?
            }
        };
        let ms = moves(&mut node, inst, b);
        if ms.is_empty() {
            out.end_states += 1;
            let live = node.live_requests();
            if live > 0 {
                first.get_or_insert((
                    "e2e.live_at_end".to_owned(),
                    format!(
                        "{live} request(s) still live with no message pending and no timer before the horizon ({} ms)",
                        b.horizon_ms
                    ),
                    Vec::new(),
                    path.clone(),
                ));
                if b.stop_at_first {
                    break 'search;
                }
            }
            continue;
        }
        // The last branch takes the world itself: one copy fewer per state expanded.
        let last = ms.len() - 1;
        let mut node = Some(node);
        for (i, m) in ms.into_iter().enumerate() {
            let mut child = if i == last {
                node.take().expect("the last branch takes the world once")
            } else {
                node.as_ref().expect("taken only by the last branch").fork()
            };
            let at = child.now_us();
            child.apply(m, &inst.env, &panics);
            out.transitions += 1;
            let child_path = Some(Rc::new(Path {
                mv: m,
                at_us: at.max(child.now_us()),
                parent: path.clone(),
            }));
            let broken = child
                .violation()
                .map(|v| (v.invariant.clone(), v.detail.clone(), Vec::new()))
                .or_else(|| claim_broken(&child, inst).map(|(d, c)| ("claim".to_owned(), d, c)));
            if let Some((what, detail, checks)) = broken {
                if first.is_none() {
                    first = Some((what, detail, checks, child_path));
                }
                if b.stop_at_first {
                    break 'search;
                }
                continue;
            }
            let key = child.key();
            if seen.insert(key) {
                out.states += 1;
                out.depth = out.depth.max(depth + 1);
                if out.states >= b.max_states {
                    out.truncated = Some(format!("max_states {} reached", b.max_states));
                    break 'search;
                }
                if out.states % 1024 == 0 {
                    if let Some(limit) = b.max_time {
                        if started.elapsed() >= limit {
                            out.truncated = Some(format!(
                                "time budget of {:.0} s reached",
                                limit.as_secs_f64()
                            ));
                            break 'search;
                        }
                    }
                    let resident = resident_mib();
                    if let Some(limit) = b.max_memory_mib {
                        if resident.is_some_and(|m| m >= limit) {
                            out.truncated = Some(format!("memory budget of {limit} MiB reached"));
                            break 'search;
                        }
                    }
                    spilling |= b
                        .spill_above_mib
                        .is_some_and(|l| resident.is_some_and(|m| m >= l));
                }
                let entry = if spilling {
                    Err(key)
                } else {
                    Ok(Box::new(child))
                };
                frontier.push_back((entry, child_path, depth + 1));
            }
        }
    }
    if let Some((what, detail, checks, path)) = first {
        let moves = moves_of(path.as_ref());
        let trace = replay(inst, &moves, plant)?;
        let file = counterexample_file(inst, &moves, &what, &checks);
        out.found = Some(Counterexample {
            what,
            detail,
            moves: moves
                .iter()
                .map(|&(m, at)| describe(m, at, &inst.env))
                .collect(),
            trace,
            file,
        });
    }
    out.elapsed = started.elapsed();
    Ok(out)
}

/// A frontier entry's state: its world, or (past [`Bounds::spill_above_mib`]) its key alone,
/// its path beside it. The world is boxed: inline, it would make every entry, a kept path's
/// too, 1,624 bytes (the size of a `Node`).
type Entry<'a> = Result<Box<Node<'a>>, u128>;

/// The world at the end of `path`, for a frontier entry kept as its path alone: its parent's
/// world (the last one rebuilt, when it is the same parent: siblings follow one another in
/// the frontier; otherwise replayed from the initial state as the search made it, stale
/// timers dropped before each move) with the last move applied. `key` is the state's key
/// when it entered the frontier: a rebuild that reaches another state is a bug in the
/// engine's determinism, and panics saying so.
fn rebuild<'a>(
    inst: &'a Instance,
    path: Option<&Rc<Path>>,
    plant: Option<Plant>,
    key: u128,
    parent: &mut Option<(Rc<Path>, Node<'a>)>,
    panics: &crate::panics::Watch,
) -> Result<Node<'a>, ScenarioError> {
    let p = path.expect("the initial state is never kept as a path");
    let mut node = match (&p.parent, parent.as_ref()) {
        (Some(pp), Some((cached, n))) if Rc::ptr_eq(pp, cached) => n.fork(),
        (pp, _) => {
            let mut n = Node::new(&inst.scenario, false, plant)?;
            for (m, _) in moves_of(pp.as_ref()) {
                let _ = n.network_and_timer_moves();
                n.apply(m, &inst.env, panics);
            }
            if let Some(pp) = pp {
                *parent = Some((pp.clone(), n.fork()));
            }
            n
        }
    };
    let _ = node.network_and_timer_moves();
    node.apply(p.mv, &inst.env, panics);
    assert_eq!(
        node.key(),
        key,
        "explorer: rebuilding a state from its path reached another state (the world is not deterministic)"
    );
    Ok(node)
}

/// Replays `moves` with the trace on; returns the trace, each move marked by an
/// `explore.move` line.
fn replay(
    inst: &Instance,
    moves: &[(Move, u64)],
    plant: Option<Plant>,
) -> Result<Vec<String>, ScenarioError> {
    let mut node = Node::new(&inst.scenario, true, plant)?;
    let panics = crate::panics::Watch::start();
    let mut lines = node.take_trace();
    for (i, &(m, _)) in moves.iter().enumerate() {
        // As the search did: stale timers dropped before the move is picked.
        let _ = node.network_and_timer_moves();
        let at = node.now_us();
        node.apply(m, &inst.env, &panics);
        let mut l = String::new();
        let _ = write!(
            l,
            "{{\"t_us\":{},\"host\":\"explorer\",\"event\":\"explore.move\",\"n\":{},\"move\":{:?}}}",
            at.max(node.now_us()),
            i + 1,
            describe(m, at.max(node.now_us()), &inst.env).trim()
        );
        lines.push(l);
        lines.extend(node.take_trace());
    }
    Ok(lines)
}

// ---- scaling down ----

/// What the original run showed, which the instance keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regime {
    /// Requests waited for (or were refused) a connection of a full pool.
    pub pool_exhausted: bool,
    /// The server refused connections at `maxclients`.
    pub maxclients_hit: bool,
    /// Requests waited for a full pool past their deadline (the cascade): the original's
    /// queue was long enough for a wait to outlast a caller.
    pub waits_past_deadline: bool,
    /// Most connections one Redis-facing pool held at one time (the report's peak over all
    /// pools, divided by their number, rounded up): what a one-PING-per-interval keepalive
    /// rotates over.
    pub pool_connections: u64,
}

impl Regime {
    /// Reads the regime off a report of the original scenario.
    #[must_use]
    pub fn of(r: &crate::Report) -> Self {
        Self {
            pool_exhausted: r.waited_fraction > 0.0
                || r.errors.too_many_connections > 0
                || r.errors.pool_timeout > 0,
            maxclients_hit: r.errors.max_clients > 0 || r.rejected_connections > 0,
            waits_past_deadline: r.waited_fraction > 0.0
                && (r.errors.deadline_exceeded > 0 || r.errors.pool_timeout > 0),
            pool_connections: r.peak_pool_connections,
        }
    }
}

/// The longest duration an instance keeps (ms): the original's longest one that shapes the
/// incident (server `timeout`, deadlines, the pools' waits, idle timeouts and checks, read
/// timeouts, holds, stalls) is divided down to it.
pub const LONGEST_MS: u64 = 8_000;

fn div(ms: u64, by: u64) -> u64 {
    if ms == 0 { 0 } else { ms.div_ceil(by).max(1) }
}

/// A small instance of `s` for `requests` requests: see the module docs. `regime` is what
/// the original run showed (from [`Regime::of`] of its report).
///
/// # Errors
/// The scenario's pools or clients do not resolve.
pub fn scale_down(
    s: &Scenario,
    requests: u32,
    regime: Regime,
    faults: &[FaultKind],
    fault_bounds: Option<&FaultBounds>,
) -> Result<(Scenario, Vec<Event>, Vec<String>), ScenarioError> {
    let mut notes = Vec::new();
    let mut longest = s.server.timeout_secs * 1000;
    let mut configs = Vec::new();
    for (t, tier) in s.tiers.iter().enumerate() {
        longest = longest.max(tier.deadline_ms);
        let c = tier.pool.config().map_err(|e| ScenarioError::Invalid {
            field: format!("tiers[{t}].pool"),
            why: e,
        })?;
        if tier.calls.is_none() {
            if let pool_core::WhenExhausted::Wait { timeout: Some(d) } = c.when_exhausted {
                longest = longest.max(ms(d));
            }
            // An idle timeout, a keepalive or a check interval longer than the whole run
            // (go-redis's 30 min idle timeout in a 45 s failover) never acts in it: it does
            // not shape the incident, and would shrink every other duration for nothing.
            let run_ms = s.duration_ms + s.drain_limit_ms;
            let idle_check = match c.check_on_checkout.when {
                pool_core::CheckWhen::IfIdleFor(d) => Some(d),
                _ => None,
            };
            for d in [c.idle_timeout, c.keepalive.map(|k| k.interval), idle_check]
                .into_iter()
                .flatten()
            {
                if ms(d) <= run_ms {
                    longest = longest.max(ms(d));
                }
            }
        }
        if let Some(spec) = &tier.client {
            let b = spec.behaviour().map_err(|e| ScenarioError::Invalid {
                field: format!("tiers[{t}].client"),
                why: e.to_string(),
            })?;
            longest = longest.max(b.read_timeout_ms.unwrap_or(0));
        }
        configs.push(c);
    }
    longest = longest.max(dist_max(&s.load.hold));
    for e in &s.timeline {
        if let Event::Stall { duration_ms, .. } = e {
            longest = longest.max(*duration_ms);
        }
    }
    // A failover's own durations (how long the master is gone, down-after, the conversion's
    // wait) are not among them: they are divided by the same factor, but rounded up to the
    // Sentinel's 1 s timer, they would lose their order (a master back 5.2 s after its
    // crash, with down-after 5 s, is back during the failover, not before it).
    let by = longest.div_ceil(LONGEST_MS).max(1);
    notes.push(format!(
        "durations divided by {by} (the longest that shapes the incident, {} ms, becomes {} ms), each rounded up to a whole ms",
        longest,
        div(longest, by)
    ));
    let mut x = s.clone();
    x.name = format!("{} (explorer instance)", s.name);
    x.seed = s.seed;
    x.timeline = Vec::new();
    x.load.clients = Clients::Closed {
        users: 1,
        think: Dist::fixed(0),
    };
    x.load.hold = scale_dist(&s.load.hold, by);
    x.server.timeout_secs = if s.server.timeout_secs == 0 {
        0
    } else {
        (s.server.timeout_secs * 1000)
            .div_ceil(by)
            .div_ceil(1000)
            .max(1)
    };
    x.server.hz = 1;
    if let Some(t) = &mut x.server.topology {
        t.replicas = t.replicas.min(1);
        notes.push(format!(
            "topology: 1 replica (from {})",
            s.server.topology.as_ref().map_or(0, |t| t.replicas)
        ));
        if let Some(sn) = &mut t.sentinel {
            // The Sentinel's timer at 1 s, as the cron at hz 1; every period and wait divided
            // like the rest, in whole seconds (the timer's granularity).
            let (timing, _) = sn.timing();
            let secs = |v: u64| div(v, by).div_ceil(1000).max(1) * 1000;
            sn.tick_ms = Some(1000);
            sn.down_after_ms = secs(sn.down_after_ms);
            sn.failover_timeout_ms = secs(sn.failover_timeout_ms);
            sn.ping_period_ms = Some(secs(timing.ping_period_ms));
            sn.info_period_ms = Some(secs(timing.info_period_ms));
            sn.info_period_fast_ms = Some(secs(timing.info_period_fast_ms));
            sn.convert_wait_ms = Some(secs(timing.convert_wait_ms));
            sn.replica_reconf_timeout_ms = Some(secs(timing.replica_reconf_timeout_ms));
            notes.push(format!(
                "sentinel: timer every 1 s; down-after {} ms, failover-timeout {} ms, PING every {} ms, INFO every {} ms ({} ms while failing over), convert after {} ms; its links to the instances deliver in the move that sends (not branched)",
                sn.down_after_ms,
                sn.failover_timeout_ms,
                sn.ping_period_ms.unwrap_or(1000),
                secs(timing.info_period_ms),
                secs(timing.info_period_fast_ms),
                secs(timing.convert_wait_ms),
            ));
        }
    }
    // A topology's links are 1 ms (the ticks follow, as a link is at least one tick): the failover runs have 10 ms links because they run
    // 10 ms ticks, a cost choice (45 s at 1 ms ticks would be 45,000 steps a run), not a
    // property of the incident; the explorer's clock is 1 ms. `--max-delay-ms` explores
    // longer delays.
    if s.server.topology.is_some() {
        x.link_latency_ms = 1;
    }
    x.tick_ms = s.tick_ms.min(x.link_latency_ms).max(1);
    if x.link_latency_ms != s.link_latency_ms {
        notes.push(format!(
            "links: {} ms (from {} ms), the message delay bound",
            x.link_latency_ms, s.link_latency_ms
        ));
    }
    x.server.command_latency_ms = div(s.server.command_latency_ms, by);
    x.server.connect_latency_ms = div(s.server.connect_latency_ms, by);
    notes.push(format!(
        "server: timeout {} s (from {} s), hz 1 (the cron runs every second), command latency {} ms, connect latency {} ms",
        x.server.timeout_secs, s.server.timeout_secs, x.server.command_latency_ms, x.server.connect_latency_ms
    ));
    let pools_total: u32 = s.tiers.iter().filter(|t| t.calls.is_none()).count() as u32;
    x.server.maxclients = if regime.maxclients_hit {
        u64::from(requests.saturating_sub(1).max(1))
    } else {
        s.server
            .maxclients
            .min(10_000)
            .max(u64::from(requests * pools_total.max(1) + 1))
    };
    notes.push(format!(
        "server: maxclients {} ({} the original run)",
        x.server.maxclients,
        if regime.maxclients_hit {
            "fewer than the requests: it refused connections in"
        } else {
            "more than the requests can use: it refused none in"
        }
    ));
    for (t, tier) in x.tiers.iter_mut().enumerate() {
        tier.instances = 1;
        tier.pools_per_instance = 1;
        tier.deadline_ms = div(tier.deadline_ms, by);
        if let Some(spec) = &mut tier.client {
            let b = spec.behaviour().map_err(|e| ScenarioError::Invalid {
                field: format!("tiers[{t}].client"),
                why: e.to_string(),
            })?;
            let o = &mut spec.overrides;
            o.read_timeout_ms = Some(
                b.read_timeout_ms
                    .map_or(Setting::Off, |v| Setting::Value(div(v, by))),
            );
            o.connect_timeout_ms = Some(
                b.connect_timeout_ms
                    .map_or(Setting::Off, |v| Setting::Value(div(v, by))),
            );
            o.retry.backoff_base_ms = Some(div(b.retry.backoff_base_ms, by));
            o.retry.backoff_cap_ms = Some(div(b.retry.backoff_cap_ms, by));
        }
        if tier.calls.is_some() {
            continue;
        }
        let c = &configs[t];
        let o = &mut tier.pool.overrides;
        // One PING per interval through the pool, in reuse order (seed 003's fix): each of n
        // idle connections is pinged every n x interval, and that period against the server's
        // `timeout` decides whether one dies between its pings. A connection opened by each
        // request leaves no request to come back after the gap (ping-fix-120s needs 3 idle
        // connections and a 4th request), so the instance keeps the period, not the count:
        // one request fewer connections than requests, each pinged every n x interval
        // (scaled) as in the original.
        let rotation = c
            .keepalive
            .filter(|k| k.scope == pool_core::KeepaliveScope::OnePerInterval);
        let size = c.max_size.map(|m| {
            let cap = if regime.pool_exhausted || rotation.is_some() {
                requests.saturating_sub(1).max(1)
            } else {
                requests
            };
            m.min(cap)
        });
        o.max_size = Some(size.map_or(Setting::Off, Setting::Value));
        o.min_idle = Some(c.min_idle.min(1));
        let idle_cap = if rotation.is_some() {
            requests.saturating_sub(1).max(1)
        } else {
            requests
        };
        let max_idle = c.max_idle.map(|m| m.min(idle_cap));
        o.max_idle = Some(max_idle.map_or(Setting::Off, Setting::Value));
        o.max_waiters = Some(
            c.max_waiters
                .map_or(Setting::Off, |m| Setting::Value(m.min(requests))),
        );
        o.max_concurrent_connects = Some(
            c.max_concurrent_connects
                .map_or(Setting::Off, |m| Setting::Value(m.min(requests))),
        );
        if let pool_core::WhenExhausted::Wait { timeout } = c.when_exhausted {
            o.pool_timeout_ms =
                Some(timeout.map_or(Setting::Off, |d| Setting::Value(div(ms(d), by))));
        }
        let dur =
            |d: Option<Duration>| Some(d.map_or(Setting::Off, |d| Setting::Value(div(ms(d), by))));
        o.idle_timeout_ms = dur(c.idle_timeout);
        o.max_lifetime_ms = dur(c.max_lifetime);
        o.lifetime_jitter_ms = Some(Setting::Off);
        o.keepalive_interval_ms = dur(c.keepalive.map(|k| k.interval));
        if let Some(k) = rotation {
            // Idle connections: at most max_size, and at most max_idle of them kept.
            let idle_most = |size: Option<u32>, idle: Option<u32>| {
                u64::from(size.unwrap_or(u32::MAX).min(idle.unwrap_or(u32::MAX)))
            };
            let original = regime
                .pool_connections
                .clamp(1, idle_most(c.max_size, c.max_idle).max(1));
            let now = idle_most(size, max_idle).clamp(1, u64::from(requests.max(1)));
            let period = ms(k.interval).saturating_mul(original);
            let interval = div(period.div_ceil(now), by);
            o.keepalive_interval_ms = Some(Setting::Value(interval));
            notes.push(format!(
                "tier {}: one PING per interval over {original} idle connection(s): each pinged every {period} ms in the original ({:.2} x the server's timeout); kept with {now} connection(s) and one request to come back: interval {interval} ms",
                tier.name,
                period as f64 / (s.server.timeout_secs.max(1) * 1000) as f64,
            ));
        }
        o.connect_timeout_ms = dur(c.connect_timeout);
        if let pool_core::CheckWhen::IfIdleFor(d) = c.check_on_checkout.when {
            o.check_if_idle_for_ms = Some(div(ms(d), by));
        }
        match c.connect_backoff {
            Some(bo) => {
                o.connect_backoff_initial_ms = Some(Setting::Value(div(ms(bo.initial), by)));
                o.connect_backoff_max_ms = Some(div(ms(bo.max), by));
            }
            None => o.connect_backoff_initial_ms = Some(Setting::Off),
        }
        notes.push(format!(
            "tier {}: 1 pod, 1 pool: {} (max_size {}{})",
            tier.name,
            tier.pool.label(),
            size.map_or_else(|| "unbounded".to_owned(), |m| m.to_string()),
            if regime.pool_exhausted && c.max_size.is_some() {
                ": fewer than the requests, as the original pool made requests wait"
            } else {
                ""
            }
        ));
    }
    if regime.waits_past_deadline {
        // The original queue held hundreds of requests, each a short service time: a wait
        // outlasted a caller only behind many others. Three requests make no such queue, so
        // the instance keeps the mechanism instead of the load: one connection, and a service
        // time of 0.6 deadline per request, so that a request behind another outlasts its
        // deadline while one alone does not.
        let redis_tier = x.tiers.iter().position(|t| t.calls.is_none()).unwrap_or(0);
        let d = x.tiers[redis_tier].deadline_ms;
        let trips = x
            .load
            .mix
            .iter()
            .map(|m| m.command.round_trips())
            .max()
            .unwrap_or(1);
        x.server.command_latency_ms = (d * 6 / 10 / u64::from(trips)).max(1);
        if regime.pool_exhausted {
            x.tiers[redis_tier].pool.overrides.max_size = Some(Setting::Value(1));
            x.tiers[redis_tier].pool.overrides.min_idle = Some(0);
        }
        notes.push(format!(
            "cascade kept by its mechanism, not its load: the buggy run's waits outlasted the callers' deadlines behind a long queue, so the instance has {} ms per command ({} round trip(s) = 0.6 x the {} ms deadline){}: a request behind another outlasts its deadline, one alone does not",
            x.server.command_latency_ms,
            trips,
            d,
            if regime.pool_exhausted { " and 1 connection" } else { "" }
        ));
    }
    let mut env = Vec::new();
    for e in &s.timeline {
        let mut e = e.clone();
        match &mut e {
            Event::IdleGap { .. } | Event::Load { .. } => continue,
            Event::Restart { down_ms, .. } => *down_ms = div(*down_ms, by),
            Event::Stall { duration_ms, .. } | Event::Hang { duration_ms, .. } => {
                *duration_ms = div(*duration_ms, by);
            }
            Event::Latency {
                command_latency_ms,
                connect_latency_ms,
                duration_ms,
                ..
            } => {
                *command_latency_ms = command_latency_ms.map(|v| div(v, by));
                *connect_latency_ms = connect_latency_ms.map(|v| div(v, by));
                *duration_ms = duration_ms.map(|v| div(v, by));
            }
            Event::ConfigSet { name, value, .. } => {
                if name.eq_ignore_ascii_case("timeout") {
                    if let Ok(v) = value.trim().parse::<u64>() {
                        *value = (v * 1000)
                            .div_ceil(by)
                            .div_ceil(1000)
                            .max(u64::from(v > 0))
                            .to_string();
                    }
                } else if name.eq_ignore_ascii_case("maxclients") {
                    *value = x.server.maxclients.to_string();
                }
            }
            _ => {}
        }
        if s.server.topology.is_some() {
            // A failover's own events stay on the timeline, at their instants (scaled): the
            // crash, hang or planned failover is the incident, and the request moves around
            // it (docs/invariants.md, "Scaling down").
            e.set_at_ms(div(e.at_ms(), by));
            x.timeline.push(e);
        } else {
            e.set_at_ms(0);
            env.push(e);
        }
    }
    if !x.timeline.is_empty() {
        notes.push(format!(
            "timeline: {} at their instants, not branched on ({})",
            x.timeline
                .iter()
                .map(Event::label)
                .collect::<Vec<_>>()
                .join(", "),
            x.timeline
                .iter()
                .map(|e| format!("{} ms", e.at_ms()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(fb) = fault_bounds {
        for kind in faults {
            let scaled_secs = |v: u64| (v * 1000).div_ceil(by).div_ceil(1000).max(1);
            match kind {
                FaultKind::Restart => env.push(Event::Restart {
                    at_ms: 0,
                    down_ms: div(fb.restart_down_ms.max, by),
                }),
                FaultKind::KillAllClients => env.push(Event::KillAllClients { at_ms: 0 }),
                FaultKind::RefuseConnections => {
                    env.push(Event::RefuseConnections { at_ms: 0, on: true });
                    env.push(Event::RefuseConnections {
                        at_ms: 0,
                        on: false,
                    });
                }
                FaultKind::LatencySpike => env.push(Event::Latency {
                    at_ms: 0,
                    command_latency_ms: Some(div(fb.spike_latency_ms.max, by)),
                    connect_latency_ms: None,
                    duration_ms: Some(div(fb.spike_ms.max, by)),
                }),
                FaultKind::Stall => env.push(Event::Stall {
                    at_ms: 0,
                    duration_ms: div(fb.stall_ms.max, by),
                }),
                FaultKind::ConfigSetTimeout => env.push(Event::ConfigSet {
                    at_ms: 0,
                    name: "timeout".to_owned(),
                    // The tightest timeout the claim allows.
                    value: scaled_secs(fb.config_timeout_secs.min).to_string(),
                }),
                FaultKind::ConfigSetMaxclients => env.push(Event::ConfigSet {
                    at_ms: 0,
                    name: "maxclients".to_owned(),
                    // Room for every request, as the claims give room for every user.
                    value: (u64::from(requests) * u64::from(pools_total.max(1)) + 1).to_string(),
                }),
            }
        }
    }
    if !env.is_empty() {
        notes.push(format!(
            "environment: {} (each once, at any instant of the start window)",
            env.iter().map(Event::label).collect::<Vec<_>>().join(", ")
        ));
    }
    x.duration_ms = x.timeline.iter().map(|e| e.at_ms() + 1).max().unwrap_or(1);
    x.sample_ms = 1_000_000_000;
    x.validate()?;
    Ok((x, env, notes))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dist_max(d: &Dist) -> u64 {
    match *d {
        Dist::Fixed { ms } => ms,
        Dist::Uniform { max_ms, .. } => max_ms,
        Dist::Exponential { mean_ms } => mean_ms,
    }
}

fn scale_dist(d: &Dist, by: u64) -> Dist {
    match *d {
        Dist::Fixed { ms } => Dist::Fixed { ms: div(ms, by) },
        Dist::Uniform { min_ms, max_ms } => Dist::Uniform {
            min_ms: div(min_ms, by),
            max_ms: div(max_ms, by),
        },
        Dist::Exponential { mean_ms } => Dist::Exponential {
            mean_ms: div(mean_ms, by),
        },
    }
}

/// The default memory budget (MiB): a third of this 24 GiB machine's memory, so that a search
/// stops with a report instead of being killed.
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 8 * 1024;

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`), so that the
/// resident memory a search reads is its own. Without it, a search that followed a larger
/// one in the same process (`poolsim explore all`, `--each-fault`, the example's growing
/// instances) found the earlier search's freed memory still resident and kept its frontier
/// as paths from the start: the same search, three times slower (docs/performance.md).
/// Elsewhere (another allocator or system) it does nothing.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// glibc: `int malloc_trim(size_t pad)`.
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes a size and only releases memory no allocation holds;
        // it is safe to call at any time, from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The process's resident memory (MiB), where `/proc/self/status` says it.
fn resident_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// Default bounds for an instance: requests and environment actions within the start window
/// (the longest scaled duration plus 1 s: long enough for an idle close between two
/// requests), the horizon a window later, delays up to the link latency.
#[must_use]
pub fn default_bounds(inst: &Instance, requests: u32, max_states: usize) -> Bounds {
    let s = &inst.scenario;
    let mut longest = s.server.timeout_secs * 1000 + 1000;
    for t in &s.tiers {
        longest = longest.max(t.deadline_ms);
    }
    let mut window = longest + 1000;
    if let Some(sn) = s.server.topology.as_ref().and_then(|t| t.sentinel.as_ref()) {
        // A failover takes its own time: the master gone (the environment's longest crash
        // or hang), down-after, the promotion (a few of Sentinel's 1 s ticks), and the old
        // master's conversion when it is back. Requests may start until all of it is over.
        let gone = inst
            .env
            .iter()
            .chain(&s.timeline)
            .map(|e| {
                e.at_ms()
                    + match *e {
                        Event::Restart { down_ms: d, .. } | Event::Hang { duration_ms: d, .. } => d,
                        _ => 0,
                    }
            })
            .max()
            .unwrap_or(0);
        let (timing, tick) = sn.timing();
        window = window.max(gone + sn.down_after_ms + timing.convert_wait_ms + 4 * tick);
    }
    Bounds {
        requests,
        max_states,
        max_time: None,
        max_memory_mib: Some(DEFAULT_MAX_MEMORY_MIB),
        spill_above_mib: Some(DEFAULT_MAX_MEMORY_MIB / 2),
        start_window_ms: window,
        horizon_ms: window * 2,
        max_delay_ms: Some(s.link_latency_ms),
        max_env_actions: 2,
        stop_at_first: true,
        one_at_a_time: false,
    }
}

/// The instance of a built-in run: scaled down after running the original on the fast
/// engine for its regime; the claim is the run's own (a fix) or every fix's of its incident
/// (a buggy run, which must break one).
///
/// # Errors
/// The run is unknown, or needs the turmoil engine.
pub fn builtin(incident: &str, run: &str, requests: u32) -> Result<Instance, ScenarioError> {
    let inc = crate::incidents::by_name(incident).ok_or_else(|| ScenarioError::Invalid {
        field: "incident".to_owned(),
        why: format!("no incident {incident:?}"),
    })?;
    let scenarios = inc.scenarios(inc.default_seed);
    let named = |s: &Scenario, run: &str| s.name == run || s.name.ends_with(&format!("/{run}"));
    let s = scenarios
        .iter()
        .find(|s| named(s, run))
        .cloned()
        .ok_or_else(|| ScenarioError::Invalid {
            field: "run".to_owned(),
            why: format!("{incident} has no run {run:?}"),
        })?;
    let claims = inc.claims();
    let own: Vec<ClaimCheck> = claims
        .iter()
        .filter(|c| c.run == run)
        .flat_map(|c| c.checks.clone())
        .collect();
    // A fix is tried under the faults its claim says it survives (as the fuzzer tries it).
    let faults = claims
        .iter()
        .find(|c| c.run == run)
        .map(|c| c.bounds.faults.clone());
    let checks = if own.is_empty() {
        let mut all: Vec<ClaimCheck> = Vec::new();
        for c in claims.iter().flat_map(|c| c.checks.clone()) {
            if !all.contains(&c) {
                all.push(c);
            }
        }
        // The claims of the fixes tried in an environment with the buggy run's own server
        // events (their own scenario's, and the faults they survive): a failover's crash
        // fails requests whatever the client does, so `planned-follow-switch`'s
        // `errors.total <= 0` (a planned failover, latency spikes only) says nothing about
        // `pinned-to-address` (a crash); `sentinel-discovery`'s (a crash) does.
        let events = server_events(&s);
        let mut fitting: Vec<ClaimCheck> = Vec::new();
        for c in &claims {
            let mut allowed = scenarios
                .iter()
                .find(|f| named(f, &c.run))
                .map(server_events)
                .unwrap_or_default();
            allowed.extend(c.bounds.faults.kinds.iter().map(|k| fault_event(*k)));
            if events.is_subset(&allowed) {
                for check in &c.checks {
                    if !fitting.contains(check) {
                        fitting.push(check.clone());
                    }
                }
            }
        }
        if fitting.is_empty() { all } else { fitting }
    } else {
        own
    };
    // The environment's regime is the incident's: a queue that outlasted the deadlines in
    // its buggy run is the fix's environment too.
    let mut env_regime = Regime::default();
    for other in &scenarios {
        if other.expect.outcome == crate::scenario::Outcome::Reproduces
            && crate::fast::explorable(other).is_ok()
        {
            // A queue, not a stalled, slowed or absent server: the waits of a run whose
            // server stalls are the stall's (hung-server), kept by its own event.
            let r = Regime::of(&crate::fast::run(other, &crate::RunOptions::default())?.report);
            env_regime.waits_past_deadline |= r.waits_past_deadline && !slowed(other);
        }
    }
    instance_with(
        &s,
        &format!("{incident}/{run}"),
        checks,
        requests,
        env_regime.waits_past_deadline,
        faults.as_ref(),
    )
}

/// The instance of a user's scenario: its expectation's `max`/`eq 0` checks on error counts
/// and peaks are its claim.
///
/// # Errors
/// The scenario is invalid or needs the turmoil engine.
pub fn of_scenario(s: &Scenario, label: &str, requests: u32) -> Result<Instance, ScenarioError> {
    let checks = s
        .expect
        .checks
        .iter()
        .filter_map(|c| {
            let limit = c.max.or(c.eq.filter(|v| *v == 0.0))?;
            Some(ClaimCheck::at_most(
                &c.metric,
                crate::claims::Limit::Value(limit),
            ))
        })
        .collect();
    instance_with(s, label, checks, requests, false, None)
}

/// The kinds of server events on `s`'s timeline (not its load's: idle gaps, load changes).
fn server_events(s: &Scenario) -> BTreeSet<&'static str> {
    s.timeline
        .iter()
        .filter_map(|e| {
            Some(match e {
                Event::IdleGap { .. } | Event::Load { .. } => return None,
                Event::Restart { .. } => "restart",
                Event::KillAllClients { .. } => "kill_all_clients",
                Event::ConfigSet { .. } => "config_set",
                Event::RefuseConnections { .. } => "refuse_connections",
                Event::ReadOnly { .. } => "read_only",
                Event::Latency { .. } => "latency",
                Event::ReplicaOf { .. } => "replica_of",
                Event::Stall { .. } => "stall",
                Event::Hang { .. } => "hang",
                Event::SentinelFailover { .. } => "sentinel_failover",
            })
        })
        .collect()
}

/// The server event a fault kind is (as [`server_events`] names it).
fn fault_event(k: FaultKind) -> &'static str {
    match k {
        FaultKind::Restart => "restart",
        FaultKind::KillAllClients => "kill_all_clients",
        FaultKind::RefuseConnections => "refuse_connections",
        FaultKind::LatencySpike => "latency",
        FaultKind::Stall => "stall",
        FaultKind::ConfigSetTimeout | FaultKind::ConfigSetMaxclients => "config_set",
    }
}

/// Whether the explorer can check a claim on `metric` in every state: the figures that only
/// grow (error counts, retries, peaks, the topology's counts), not percentiles or rates,
/// which need a whole run.
fn checkable(metric: &str) -> bool {
    metric.starts_with("errors.")
        || metric.starts_with("peak_pool")
        || metric.starts_with("peak_server")
        || [
            "retries",
            "split_brain_writes",
            "retries_to_old_master",
            "leaked_slots",
        ]
        .contains(&metric)
}

/// Whether `s`'s waits can be its server's rather than a queue's: a stall, a latency
/// change, a hang, a restart or a failover on its timeline. Such waits are kept by their own
/// event, not by the cascade's queue (`Regime::waits_past_deadline`).
fn slowed(s: &Scenario) -> bool {
    s.timeline.iter().any(|e| {
        matches!(
            e,
            Event::Stall { .. }
                | Event::Latency { .. }
                | Event::Hang { .. }
                | Event::Restart { .. }
                | Event::SentinelFailover { .. }
        )
    })
}

fn instance_with(
    s: &Scenario,
    label: &str,
    checks: Vec<ClaimCheck>,
    requests: u32,
    queue_past_deadline: bool,
    faults: Option<&FaultBounds>,
) -> Result<Instance, ScenarioError> {
    crate::fast::explorable(s)?;
    let original = crate::fast::run(s, &crate::RunOptions::default())?;
    let mut regime = Regime::of(&original.report);
    let redis_pools: u64 = s
        .tiers
        .iter()
        .filter(|t| t.calls.is_none())
        .map(|t| u64::from(t.instances) * u64::from(t.pools_per_instance))
        .sum();
    regime.pool_connections = regime.pool_connections.div_ceil(redis_pools.max(1));
    // A wait for a connection being opened is not a full pool: a pool that never refused a
    // request nor timed one out, and never reached its `max_size`, was not exhausted
    // (`planned-sentinel-pool`'s requests waited for connects, 26 connections in all against
    // 100 a pool). The report's peak is of all pools together: no pool reached its
    // `max_size` only when the total stayed below it. (The total divided by the pools is an
    // average: `explosion/bounded-wait-4x55`'s 208 over 4 pools of 55 is 52, while its
    // waits of 30 ms were for full pools.)
    let r = &original.report;
    let smallest_max = s
        .tiers
        .iter()
        .filter(|t| t.calls.is_none())
        .filter_map(|t| t.pool.config().ok().map(|c| c.max_size.unwrap_or(u32::MAX)))
        .min()
        .unwrap_or(u32::MAX);
    if r.errors.too_many_connections == 0
        && r.errors.pool_timeout == 0
        && r.peak_pool_connections < u64::from(smallest_max)
    {
        regime.pool_exhausted = false;
    }
    regime.waits_past_deadline = (regime.waits_past_deadline && !slowed(s)) || queue_past_deadline;
    let kinds = faults.map_or(&[][..], |f| &f.kinds[..]);
    let (scenario, env, scaling) = scale_down(s, requests, regime, kinds, faults)?;
    let (claim, unchecked): (Vec<_>, Vec<_>) =
        checks.into_iter().partition(|c| checkable(&c.metric));
    Ok(Instance {
        label: label.to_owned(),
        scenario,
        env,
        env_when_idle: faults
            .is_some_and(|f| f.window == crate::strategy::FaultWindow::DuringIdleGaps),
        claim,
        unchecked: unchecked.into_iter().map(|c| c.label()).collect(),
        scaling,
    })
}
