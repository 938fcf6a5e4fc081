//! Bounded exhaustive explorer.
//!
//! A breadth-first search over every input sequence the environment could feed a small pool:
//! up to [`Bounds::requests`] acquires (with and without a deadline), cancels of live
//! requests, healthy and broken releases, every connect outcome, every check outcome, peer
//! closes and evictions of idle connections, a shutdown, and time advanced to the next pending timer
//! (`Input::Timeout` at `poll_timeout`). Every input is fed through an
//! [`invariants::Checker`](crate::invariants::Checker), so every invariant, including the
//! history ones, is checked after every transition.
//!
//! Each reachable state is expanded once: states are deduplicated by a canonical key (times
//! relative to now, connections and requests renamed by rank, statistics left out) kept in a
//! `BTreeSet`. Because the search is breadth-first, the first counterexample found is a
//! shortest one; it is reported as the exact input sequence (with instants and the outputs of
//! each step), which replays deterministically.
//!
//! Limits: time advances only to timers unless [`Bounds::tick`] lets it also pass in fixed
//! steps (so inputs can arrive between timers, at a cost in states); connect errors are explored as one kind; the state
//! count is capped by [`Bounds::max_states`] (the report says when it was reached). Use
//! [`scale_down`] to make a real profile small enough (sizes ≤ 2, durations mapped to a few
//! seconds, no jitter).

use crate::config::{Backoff, CheckWhen, Config, ConfigError, Keepalive, WhenExhausted};
use crate::invariants::{Checker, Violation};
use crate::io::{ConnectError, Input, Output, ReleaseOutcome, ReqId};
use crate::pool::{ConnPhase, Pool};
use crate::time::Instant;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

/// What the environment may do, and how far to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Most `Acquire` inputs in one run.
    pub requests: u32,
    /// Also try each acquire with a deadline `deadline_after` from now (used by pools that
    /// honour deadlines).
    pub deadlines: bool,
    /// The deadline offset.
    pub deadline_after: Duration,
    /// Try `Cancel` of live requests.
    pub cancels: bool,
    /// Try `Release { Broken }` as well as healthy releases.
    pub broken_releases: bool,
    /// Try `ConnectFailed` as well as `Connected`.
    pub connect_failures: bool,
    /// Try `CheckFailed` as well as `CheckPassed`.
    pub check_failures: bool,
    /// Try `PeerClosed` on idle connections.
    pub peer_closes: bool,
    /// Try `Evict` on idle connections (the caller closing one it no longer wants, as a
    /// Redis client that learned the master moved).
    pub evictions: bool,
    /// Try one `Shutdown`.
    pub shutdown: bool,
    /// Also let time pass by this much without any input (only when no timer falls in that
    /// step), so that inputs can arrive between timers. `None`: time moves only to timers.
    pub tick: Option<Duration>,
    /// Stop after this many distinct states (the report is then marked truncated).
    pub max_states: usize,
    /// Stop at the first violation (the shortest, since the search is breadth-first).
    pub stop_at_first: bool,
    /// Liveness: from every new state, let the environment heal (every connect succeeds,
    /// every check passes, every connection is released, every timer fires) and require that
    /// every live request ends. Costs a short run per state.
    pub liveness: bool,
}

impl Default for Bounds {
    /// Three requests, every kind of input, time moving only to timers, at most 2,000,000
    /// states, stop at the first violation.
    fn default() -> Self {
        Self {
            requests: 3,
            deadlines: true,
            deadline_after: Duration::from_secs(1),
            cancels: true,
            broken_releases: true,
            connect_failures: true,
            check_failures: true,
            peer_closes: true,
            evictions: true,
            shutdown: true,
            tick: None,
            max_states: 2_000_000,
            stop_at_first: true,
            liveness: false,
        }
    }
}

impl Bounds {
    /// Fewer kinds of input (no deadlines, broken releases, peer closes, evictions or shutdown), for
    /// quick runs in debug builds.
    #[must_use]
    pub fn quick(requests: u32) -> Self {
        Self {
            requests,
            deadlines: false,
            broken_releases: false,
            peer_closes: false,
            evictions: false,
            shutdown: false,
            ..Self::default()
        }
    }
}

/// One step of a counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// The instant the input was fed at.
    pub at: Instant,
    /// The input.
    pub input: Input,
    /// What the pool answered.
    pub outputs: Vec<Output>,
}

/// A shortest input sequence from a fresh pool to a violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The broken invariant.
    pub violation: Violation,
    /// The inputs, in order; the last one breaks the invariant.
    pub trace: Vec<TraceStep>,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.violation)?;
        let n = self.trace.len();
        let plural = if n == 1 { "" } else { "s" };
        writeln!(f, "after {n} input{plural} from a fresh pool:")?;
        for (k, s) in self.trace.iter().enumerate() {
            write!(f, "  {:>2}. at {:>9}  {}", k + 1, s.at.to_string(), s.input)?;
            for (j, o) in s.outputs.iter().enumerate() {
                write!(f, "{}{o}", if j == 0 { "  ->  " } else { ", " })?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// What an exploration found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Distinct states reached (including the initial one).
    pub states: usize,
    /// Transitions taken (inputs fed), including those into states already seen.
    pub transitions: usize,
    /// Length of the longest shortest path to a state.
    pub max_depth: usize,
    /// `max_states` was reached before the search finished.
    pub truncated: bool,
    /// Violations found (at most one when `stop_at_first`).
    pub violations: Vec<Counterexample>,
}

impl Report {
    /// No violation and not truncated.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && !self.truncated
    }
}

/// Explores every state of a fresh pool with `config` within `bounds`.
pub fn explore(config: &Config, bounds: &Bounds) -> Result<Report, ConfigError> {
    Ok(explore_pool(Pool::new(config.clone())?, bounds))
}

/// Explores from `pool`, which must be fresh (no input handled yet); it may carry a planted
/// bug (feature `mutations`).
#[must_use]
pub fn explore_pool(pool: Pool, bounds: &Bounds) -> Report {
    let root = Node {
        now: pool.now(),
        checker: Checker::new(pool),
        acquires: 0,
    };
    let mut report = Report::default();
    let mut visited: BTreeSet<Vec<u64>> = BTreeSet::new();
    // parents[i] = (parent index, move) of state i; the root has none.
    let mut parents: Vec<Option<(u32, Move)>> = vec![None];
    let mut depth: Vec<u32> = vec![0];
    let mut key = Vec::with_capacity(64);
    root.key(&mut key);
    visited.insert(key.clone());
    let mut frontier: VecDeque<(u32, Node)> = VecDeque::new();
    frontier.push_back((0, root.clone()));
    let mut inputs = Vec::with_capacity(32);
    while let Some((idx, node)) = frontier.pop_front() {
        node.enabled(bounds, &mut inputs);
        for &mv in &inputs {
            let mut next = node.clone();
            report.transitions += 1;
            let fed = match mv {
                Move::Tick(d) => {
                    next.now = next.now + d;
                    Ok(None)
                }
                Move::Feed(at, input) => {
                    next.now = at;
                    next.checker
                        .handle(at, input)
                        .map(|obs| Some((at, input, obs)))
                }
            };
            match fed {
                Ok(Some((at, input, obs))) if obs.input_error.is_some() => {
                    // The environment model offered an input the pool refuses: a bug in the
                    // pool's introspection or in this explorer; report it as a violation.
                    let violation = Violation::Unexplained {
                        detail: format!(
                            "explorer input {input:?} refused: {}",
                            obs.input_error.expect("checked is_some")
                        ),
                    };
                    report
                        .violations
                        .push(counterexample(&root, &parents, idx, at, input, violation));
                }
                Ok(fed) => {
                    if matches!(fed, Some((_, Input::Acquire { .. }, _))) {
                        next.acquires += 1;
                    }
                    key.clear();
                    next.key(&mut key);
                    if visited.contains(&key) {
                        continue;
                    }
                    if visited.len() >= bounds.max_states {
                        report.truncated = true;
                        continue;
                    }
                    visited.insert(key.clone());
                    let new_idx = u32::try_from(parents.len()).expect("fewer than 2^32 states");
                    parents.push(Some((idx, mv)));
                    if bounds.liveness {
                        if let Err((violation, healing)) = next.heal() {
                            let mut steps = path(&parents, new_idx);
                            steps.extend(healing);
                            report.violations.push(replay(&root, steps, violation));
                            if bounds.stop_at_first {
                                report.states = visited.len();
                                return report;
                            }
                        }
                    }
                    let d = depth[idx as usize] + 1;
                    depth.push(d);
                    report.max_depth = report.max_depth.max(d as usize);
                    frontier.push_back((new_idx, next));
                }
                Err(violation) => {
                    let Move::Feed(at, input) = mv else {
                        unreachable!("a tick feeds nothing")
                    };
                    report
                        .violations
                        .push(counterexample(&root, &parents, idx, at, input, violation));
                }
            }
            if bounds.stop_at_first && !report.violations.is_empty() {
                report.states = visited.len();
                return report;
            }
        }
    }
    report.states = visited.len();
    report
}

#[derive(Clone, Debug)]
struct Node {
    checker: Checker,
    /// The environment's clock (the pool's, or later after a tick).
    now: Instant,
    acquires: u32,
}

/// One move of the environment.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// Feed an input at an instant.
    Feed(Instant, Input),
    /// Let time pass.
    Tick(Duration),
}

impl Node {
    fn key(&self, out: &mut Vec<u64>) {
        out.push(u64::from(self.acquires));
        self.checker.pool().canonical_key(self.now, out);
    }

    /// Lets the environment heal and requires every live request to end; on failure returns
    /// the violation and the healing inputs.
    fn heal(&self) -> Result<(), (Violation, Vec<(Instant, Input)>)> {
        let mut c = self.checker.clone();
        let mut now = self.now;
        let mut steps = Vec::new();
        for _ in 0..256 {
            let pool = c.pool();
            let Some(first) = pool.live_requests().next() else {
                return Ok(());
            };
            let busy = pool.connections().find_map(|(conn, phase)| match phase {
                ConnPhase::Connecting { .. } => Some(Input::Connected { conn }),
                ConnPhase::Checking { .. } => Some(Input::CheckPassed { conn }),
                _ => None,
            });
            let release = || {
                pool.connections().find_map(|(conn, phase)| {
                    (phase == ConnPhase::InUse).then_some(Input::Release {
                        conn,
                        outcome: ReleaseOutcome::Healthy,
                    })
                })
            };
            let input = match busy.or_else(release) {
                Some(input) => input,
                None => match pool.poll_timeout() {
                    Some(t) => {
                        now = now.max(t);
                        Input::Timeout
                    }
                    None => return Err((Violation::NotLive { req: first }, steps)),
                },
            };
            steps.push((now, input));
            if let Err(v) = c.handle(now, input) {
                return Err((v, steps));
            }
        }
        let req = c.pool().live_requests().next().expect("a live request");
        Err((Violation::NotLive { req }, steps))
    }

    /// Every input the environment may feed in this state, in a fixed order.
    fn enabled(&self, b: &Bounds, moves: &mut Vec<Move>) {
        moves.clear();
        let mut out = Vec::with_capacity(16);
        let pool = self.checker.pool();
        let now = self.now;
        if self.acquires < b.requests {
            let req = ReqId(u64::from(self.acquires));
            out.push((
                now,
                Input::Acquire {
                    req,
                    deadline: None,
                },
            ));
            if b.deadlines && pool.config().honour_deadlines {
                out.push((
                    now,
                    Input::Acquire {
                        req,
                        deadline: Some(now + b.deadline_after),
                    },
                ));
            }
        }
        if b.cancels {
            for req in pool.live_requests() {
                out.push((now, Input::Cancel { req }));
            }
        }
        for (conn, phase) in pool.connections() {
            match phase {
                ConnPhase::InUse => {
                    out.push((
                        now,
                        Input::Release {
                            conn,
                            outcome: ReleaseOutcome::Healthy,
                        },
                    ));
                    if b.broken_releases {
                        out.push((
                            now,
                            Input::Release {
                                conn,
                                outcome: ReleaseOutcome::Broken,
                            },
                        ));
                    }
                }
                ConnPhase::Connecting { .. } => {
                    out.push((now, Input::Connected { conn }));
                    if b.connect_failures {
                        out.push((
                            now,
                            Input::ConnectFailed {
                                conn,
                                error: ConnectError::Refused,
                            },
                        ));
                    }
                }
                ConnPhase::Checking { .. } => {
                    out.push((now, Input::CheckPassed { conn }));
                    if b.check_failures {
                        out.push((now, Input::CheckFailed { conn }));
                    }
                }
                ConnPhase::Idle => {
                    if b.peer_closes {
                        out.push((now, Input::PeerClosed { conn }));
                    }
                    if b.evictions {
                        out.push((now, Input::Evict { conn }));
                    }
                }
            }
        }
        if let Some(t) = pool.poll_timeout() {
            out.push((t.max(now), Input::Timeout));
        }
        if b.shutdown && !pool.is_shut_down() {
            out.push((now, Input::Shutdown));
        }
        moves.extend(out.into_iter().map(|(at, input)| Move::Feed(at, input)));
        if let Some(tick) = b.tick {
            if pool.poll_timeout().is_none_or(|t| now + tick < t) {
                moves.push(Move::Tick(tick));
            }
        }
    }
}

/// Rebuilds the input sequence to `idx` then `input`, and replays it for the outputs.
fn counterexample(
    root: &Node,
    parents: &[Option<(u32, Move)>],
    idx: u32,
    at: Instant,
    input: Input,
    violation: Violation,
) -> Counterexample {
    let mut steps = path(parents, idx);
    steps.push((at, input));
    replay(root, steps, violation)
}

/// The inputs from the root to state `idx` (ticks leave no input; the instants show them).
fn path(parents: &[Option<(u32, Move)>], idx: u32) -> Vec<(Instant, Input)> {
    let mut steps = Vec::new();
    let mut i = idx;
    while let Some((p, mv)) = parents[i as usize] {
        if let Move::Feed(at, input) = mv {
            steps.push((at, input));
        }
        i = p;
    }
    steps.reverse();
    steps
}

/// Replays `steps` from the root to record each step's outputs.
fn replay(root: &Node, steps: Vec<(Instant, Input)>, violation: Violation) -> Counterexample {
    let mut checker = root.checker.clone();
    let trace = steps
        .into_iter()
        .map(|(at, input)| {
            let mut bare = checker.pool().clone();
            let outputs = match checker.handle(at, input) {
                Ok(obs) => obs.outputs,
                Err(_) => {
                    // The breaking step: the checker drained the outputs before it judged;
                    // replay the step on a copy of the pool to show them.
                    let _ = bare.handle(at, input);
                    std::iter::from_fn(|| bare.poll_output()).collect()
                }
            };
            TraceStep { at, input, outputs }
        })
        .collect();
    Counterexample { violation, trace }
}

/// Scales a real configuration down for exhaustive exploration, keeping which knobs are on
/// and the order of durations: `max_size` ≤ 2 (unbounded stays unbounded: the request bound
/// limits it), `min_idle` ≤ 1, `max_idle` ≤ 2, `max_waiters` ≤ 2,
/// `max_concurrent_connects` ≤ 1; each duration mapped to a whole number of seconds by
/// magnitude (≤ 100 ms → 1 s, ≤ 1 s → 2 s, ≤ 10 s → 3 s, ≤ 1 min → 4 s, ≤ 10 min → 5 s,
/// longer → 6 s); lifetime jitter dropped (it gives every connection its own expiry).
#[must_use]
pub fn scale_down(config: &Config) -> Config {
    fn d(x: Duration) -> Duration {
        let s = match x.as_millis() {
            0..=100 => 1,
            101..=1_000 => 2,
            1_001..=10_000 => 3,
            10_001..=60_000 => 4,
            60_001..=600_000 => 5,
            _ => 6,
        };
        Duration::from_secs(s)
    }
    let mut c = config.clone();
    c.max_size = c.max_size.map(|m| m.min(2));
    c.min_idle = c.min_idle.min(1);
    c.max_idle = c.max_idle.map(|m| m.min(2));
    c.max_waiters = c.max_waiters.map(|m| m.min(2));
    c.max_concurrent_connects = c.max_concurrent_connects.map(|m| m.min(1));
    if let WhenExhausted::Wait { timeout } = c.when_exhausted {
        c.when_exhausted = WhenExhausted::Wait {
            timeout: timeout.map(d),
        };
    }
    c.idle_timeout = c.idle_timeout.map(d);
    c.max_lifetime = c.max_lifetime.map(d);
    c.lifetime_jitter = None;
    if let CheckWhen::IfIdleFor(x) = c.check_on_checkout.when {
        c.check_on_checkout.when = CheckWhen::IfIdleFor(d(x));
    }
    c.keepalive = c.keepalive.map(|k| Keepalive {
        interval: d(k.interval),
        ..k
    });
    c.connect_timeout = c.connect_timeout.map(d);
    c.connect_backoff = c.connect_backoff.map(|b| Backoff {
        initial: d(b.initial),
        max: d(b.max),
    });
    c
}
