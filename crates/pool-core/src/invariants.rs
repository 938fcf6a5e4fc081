//! Invariants of the pool.
//!
//! Two layers, because some invariants are about one state and some about a history:
//!
//! - [`check`]`(&pool)` looks at one state: conservation of connections, the size bound, the
//!   waiter bound, `max_idle`, request bookkeeping, no idle connection while a waiter is queued (strict
//!   hand-off), no stalled waiter, `min_idle`, nothing past its bound or expiry after a
//!   `Timeout`, timer coverage (`poll_timeout` is never later than the earliest thing the
//!   pool must act on), and no timer spin (after a `Timeout` at `now`, `poll_timeout` is later
//!   than `now`). Every test calls it after every step.
//! - [`Checker`] wraps a [`Pool`] and observes every input and output (an observer, used by
//!   the tests, the proptest suite and the explorer). On top of [`check`] it verifies what
//!   needs history: no connection granted to two requests, every request ends exactly once
//!   (`Grant`, `Reject` or `Cancel`; never twice, never lost), strict FIFO grant order when
//!   configured, that a refused input left the pool unchanged, and, from bounds it computes
//!   itself from each `Acquire` and the configuration, that no request waits past its pool
//!   timeout or deadline, that a rejection names the first bound (the deadline on a tie) and
//!   never comes early, and that a connection released broken is closed at once.
//!
//! The pool keeps no audit log of its own: history lives in the checker, so production
//! drivers pay nothing for it. `docs/invariants.md` has one paragraph per invariant.

use crate::config::{Fairness, WhenExhausted};
use crate::io::{
    CloseReason, ConnId, Input, InputError, Output, RejectReason, ReleaseOutcome, ReqId,
};
use crate::pool::{ConnState, Pool, PoolState, Stats};
use crate::time::Instant;

/// A broken invariant, naming itself and the ids involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The cached counts disagree with the connections themselves.
    #[error("conservation violated: {detail}")]
    Conservation {
        /// What disagrees.
        detail: String,
    },
    /// More live connections than `max_size`.
    #[error("size bound violated: {total} live connections > max_size {max_size}")]
    SizeBound {
        /// Live connections.
        total: u32,
        /// The bound.
        max_size: u32,
    },
    /// More queued requests than `max_waiters`.
    #[error("waiter bound violated: {waiters} queued > max_waiters {max_waiters}")]
    TooManyWaiters {
        /// Queued requests.
        waiters: u32,
        /// The bound.
        max_waiters: u32,
    },
    /// The pool's record of live requests is inconsistent (a request queued twice, queued and
    /// bound to a check, or a fail-fast connect bound to a request that is not waiting for it).
    #[error("request bookkeeping violated: {req}: {detail}")]
    Bookkeeping {
        /// The request.
        req: ReqId,
        /// What is wrong.
        detail: String,
    },
    /// A connection is idle while a request is queued and no hand-off is pending.
    #[error("hand-off violated: {conn} is idle while {req} is queued")]
    IdleWhileWaiting {
        /// The idle connection.
        conn: ConnId,
        /// The first queued request.
        req: ReqId,
    },
    /// More idle connections than `max_idle`, with no barging wake-up pending (which trims).
    #[error("max_idle violated: {idle} idle connections > max_idle {max_idle}")]
    IdleAboveMaxIdle {
        /// Idle connections.
        idle: u32,
        /// The bound.
        max_idle: u32,
    },
    /// A queued request can never be served: no connection is coming and the pool could start one.
    #[error("stall: {req} is queued, nothing is coming for it, and the pool could connect")]
    Stall {
        /// The request.
        req: ReqId,
    },
    /// Fewer than `min_idle` connections idle or on their way although a connect could start.
    #[error(
        "min_idle violated: {available} idle or coming < min_idle {min_idle}, and the pool could connect"
    )]
    MinIdle {
        /// Idle + unbound connects + unbound checks.
        available: u32,
        /// The bound.
        min_idle: u32,
    },
    /// After a `Timeout` at `now`, a queued request is still there past its bound.
    #[error("bound violated: {req} still queued at {now}, its bound was {bound}")]
    WaiterPastBound {
        /// The request.
        req: ReqId,
        /// Its pool timeout or deadline.
        bound: Instant,
        /// The instant of the `Timeout`.
        now: Instant,
    },
    /// After a `Timeout` at `now`, an idle connection is still there past its idle timeout or
    /// lifetime.
    #[error("expiry violated: {conn} still idle at {now}, it expired at {expired}")]
    IdlePastExpiry {
        /// The connection.
        conn: ConnId,
        /// When it expired.
        expired: Instant,
        /// The instant of the `Timeout`.
        now: Instant,
    },
    /// `poll_timeout` is later than something the pool must act on.
    #[error("timer coverage violated: {what} is due at {due} but poll_timeout is {}", show(*.poll))]
    TimerMissing {
        /// What is due.
        what: String,
        /// When.
        due: Instant,
        /// What `poll_timeout` said.
        poll: Option<Instant>,
    },
    /// A connection was granted while another request still held it.
    #[error("exclusive grant violated: {conn} granted to {second} while held by {first}")]
    DoubleGrant {
        /// The connection.
        conn: ConnId,
        /// The holder.
        first: ReqId,
        /// The second grantee.
        second: ReqId,
    },
    /// A request was granted or rejected although it had already ended (or never started).
    #[error("ends-exactly-once violated: {req} ended again by {output:?}")]
    EndedTwice {
        /// The request.
        req: ReqId,
        /// The second ending.
        output: Output,
    },
    /// A live request disappeared from the pool without a `Grant`, `Reject` or `Cancel`.
    #[error("ends-exactly-once violated: {req} was dropped without an ending")]
    RequestLost {
        /// The request.
        req: ReqId,
    },
    /// The pool holds a request, or an in-use connection, that no input or output explains.
    #[error("history violated: {detail}")]
    Unexplained {
        /// What.
        detail: String,
    },
    /// A connection was closed while a request held it.
    #[error("in-use close violated: {conn} closed while held by {req}")]
    ClosedInUse {
        /// The connection.
        conn: ConnId,
        /// Its holder.
        req: ReqId,
    },
    /// Strict FIFO: a request was served while an older one stayed queued.
    #[error(
        "FIFO order violated: {served} was served while {skipped} (queued earlier) still waits"
    )]
    FifoOrder {
        /// The request served out of turn.
        served: ReqId,
        /// The older request it overtook.
        skipped: ReqId,
    },
    /// Liveness (checked by the explorer with `Bounds::liveness`): a request is still live
    /// after the environment healed.
    #[error(
        "liveness violated: {req} is still live after healing (every connect succeeded, every \
         check passed, every connection was released, every timer fired)"
    )]
    NotLive {
        /// The request.
        req: ReqId,
    },
    /// After a `Timeout` at `now`, `poll_timeout` is still at or before `now`: a timer
    /// re-armed itself for an instant the pool has already handled, and a driver feeding
    /// `Timeout` at that instant would spin forever.
    #[error(
        "timer spin: poll_timeout is {due} after a Timeout at {now} (a timer re-armed at an \
         instant already handled, with no progress)"
    )]
    TimerSpin {
        /// What `poll_timeout` said.
        due: Instant,
        /// The instant of the `Timeout`.
        now: Instant,
    },
    /// After a `Timeout` at `now`, a request is still queued although its pool timeout or
    /// its honoured deadline, computed by the checker from its `Acquire` and the
    /// configuration (not from the pool's own record), is not later than `now`.
    #[error(
        "pool timeout violated: {req} still waits at {now}, acquired at {acquired} with bound {bound}"
    )]
    WaitedPastBound {
        /// The request.
        req: ReqId,
        /// When it was acquired.
        acquired: Instant,
        /// `acquired + pool timeout`, or its deadline if earlier.
        bound: Instant,
        /// The instant of the `Timeout`.
        now: Instant,
    },
    /// A request was rejected with `PoolTimeout` or `DeadlineExceeded` before that bound
    /// was reached, or with the other reason than the one whose bound comes first (a
    /// deadline equal to the pool-timeout bound counts as the deadline: `DeadlineExceeded`).
    #[error("reject reason violated: {req} rejected with {reason:?} at {now}: {detail}")]
    WrongRejectReason {
        /// The request.
        req: ReqId,
        /// The reason given.
        reason: RejectReason,
        /// When.
        now: Instant,
        /// Why that reason is wrong.
        detail: String,
    },
    /// A connection released `Broken` was not closed at once with `CloseReason::Broken`
    /// (so it could be idle, or granted again).
    #[error("broken release violated: {conn} was released broken but {detail}")]
    BrokenKept {
        /// The connection.
        conn: ConnId,
        /// What happened instead.
        detail: String,
    },
    /// An input was refused but the pool changed anyway.
    #[error("refused input changed the pool: {input:?} ({error})")]
    RefusedInputChangedState {
        /// The input.
        input: Input,
        /// The error returned.
        error: InputError,
    },
}

fn show(t: Option<Instant>) -> String {
    t.map_or_else(|| "None".to_owned(), |t| t.to_string())
}

fn timeout_bound(w: &crate::pool::Waiter) -> Option<Instant> {
    w.bound().map(|b| b.0)
}

/// Checks every invariant that one state can show. See the module docs.
pub fn check(pool: &Pool) -> Result<(), Violation> {
    let cfg = &pool.config;
    let now = pool.now;

    // Conservation: recount from the connections.
    let mut re = PoolState {
        waiters: u32::try_from(pool.waiters.len()).unwrap_or(u32::MAX),
        ..PoolState::default()
    };
    for c in &pool.conns {
        re.total += 1;
        match c.state {
            ConnState::Connecting { .. } => re.connecting += 1,
            ConnState::Idle => re.idle += 1,
            ConnState::InUse => re.in_use += 1,
            ConnState::Checking { .. } => re.checking += 1,
        }
    }
    if re != pool.counts {
        return Err(Violation::Conservation {
            detail: format!("counted {:?}, recounted {re:?}", pool.counts),
        });
    }
    if re.idle + re.in_use + re.connecting + re.checking != re.total {
        return Err(Violation::Conservation {
            detail: format!("idle + in use + connecting + checking != total in {re:?}"),
        });
    }
    if pool.idle.len() != re.idle as usize {
        return Err(Violation::Conservation {
            detail: format!(
                "idle list has {} entries, {} connections are idle",
                pool.idle.len(),
                re.idle
            ),
        });
    }
    for (k, &id) in pool.idle.iter().enumerate() {
        let idle = pool
            .conn_index(id)
            .is_some_and(|i| pool.conns[i].state == ConnState::Idle);
        if !idle || pool.idle.iter().skip(k + 1).any(|&o| o == id) {
            return Err(Violation::Conservation {
                detail: format!("{id} is in the idle list but not idle (or listed twice)"),
            });
        }
    }
    if pool.conns.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(Violation::Conservation {
            detail: "connections not sorted by id".to_owned(),
        });
    }

    // Bounds.
    if let Some(max_size) = cfg.max_size.filter(|&m| re.total > m) {
        return Err(Violation::SizeBound {
            total: re.total,
            max_size,
        });
    }
    if let Some(max_waiters) = cfg.max_waiters.filter(|&m| re.waiters > m) {
        return Err(Violation::TooManyWaiters {
            waiters: re.waiters,
            max_waiters,
        });
    }

    // Request bookkeeping: live = queued ∪ bound to a check, disjoint, no duplicates.
    let mut reqs: Vec<ReqId> = pool.waiters.iter().map(|w| w.req).collect();
    for c in &pool.conns {
        if let ConnState::Checking {
            waiter: Some(w), ..
        } = c.state
        {
            reqs.push(w.req);
        }
    }
    reqs.sort_unstable();
    if let Some(w) = reqs.windows(2).find(|w| w[0] == w[1]) {
        return Err(Violation::Bookkeeping {
            req: w[0],
            detail: "queued twice, or queued and bound to a check".to_owned(),
        });
    }
    let live: Vec<ReqId> = pool.live.iter().collect();
    if reqs != live {
        let req = reqs
            .iter()
            .chain(live.iter())
            .find(|r| reqs.binary_search(r).is_err() || live.binary_search(r).is_err())
            .copied()
            .unwrap_or(ReqId(u64::MAX));
        return Err(Violation::Bookkeeping {
            req,
            detail: "live set disagrees with the queue and the checks".to_owned(),
        });
    }
    if pool
        .waiters
        .iter()
        .zip(pool.waiters.iter().skip(1))
        .any(|(a, b)| a.seq >= b.seq)
    {
        return Err(Violation::Bookkeeping {
            req: pool.waiters.front().map_or(ReqId(u64::MAX), |w| w.req),
            detail: "queue not in arrival order".to_owned(),
        });
    }
    for w in &pool.waiters {
        if let Some(conn) = w.connect {
            let bound = pool.conn_index(conn).is_some_and(|i| {
                matches!(pool.conns[i].state, ConnState::Connecting { for_req: Some(r), .. } if r == w.req)
            });
            if !bound {
                return Err(Violation::Bookkeeping {
                    req: w.req,
                    detail: format!("waits for {conn}, which is not connecting for it"),
                });
            }
        }
    }
    for c in &pool.conns {
        if let ConnState::Connecting {
            for_req: Some(r), ..
        } = c.state
        {
            if !pool
                .waiters
                .iter()
                .any(|w| w.req == r && w.connect == Some(c.id))
            {
                return Err(Violation::Bookkeeping {
                    req: r,
                    detail: format!("{} connects for it but it does not wait for it", c.id),
                });
            }
        }
    }

    if pool.closed {
        if let Some(w) = pool.waiters.front() {
            return Err(Violation::Bookkeeping {
                req: w.req,
                detail: "queued after shutdown".to_owned(),
            });
        }
        return Ok(());
    }

    // Hand-off: no idle connection while someone waits (barging: unless a wake-up is pending).
    if let (Some(w), Some(&conn)) = (pool.waiters.front(), pool.idle.front()) {
        let pending_wake = cfg.fairness == Fairness::Barging && pool.wake_at.is_some();
        if !pending_wake {
            return Err(Violation::IdleWhileWaiting { conn, req: w.req });
        }
    }

    // max_idle: a release beyond it closes; only a barging hand-off parks connections past it
    // until its wake-up, which trims.
    if let Some(max_idle) = cfg.max_idle.filter(|&m| re.idle > m) {
        let pending_wake = cfg.fairness == Fairness::Barging && pool.wake_at.is_some();
        if !pending_wake {
            return Err(Violation::IdleAboveMaxIdle {
                idle: re.idle,
                max_idle,
            });
        }
    }

    // Liveness as safety: something is coming for every waiter, unless connects are throttled.
    let available = pool.supply();
    let can_connect = pool.started
        && pool.backoff_until.is_none_or(|b| b <= now)
        && cfg
            .max_concurrent_connects
            .is_none_or(|m| re.connecting < m)
        && cfg.max_size.is_none_or(|m| re.total < m);
    match cfg.when_exhausted {
        WhenExhausted::Wait { .. } => {
            if can_connect && available < pool.waiters.len() {
                let w = &pool.waiters[available];
                return Err(Violation::Stall { req: w.req });
            }
        }
        WhenExhausted::FailFast => {
            if can_connect {
                if let Some(w) = pool.waiters.iter().find(|w| w.connect.is_none()) {
                    return Err(Violation::Stall { req: w.req });
                }
            }
        }
    }
    let queued_need = match cfg.when_exhausted {
        WhenExhausted::Wait { .. } => pool.waiters.len(),
        WhenExhausted::FailFast => 0,
    };
    if can_connect && available < cfg.min_idle as usize + queued_need {
        return Err(Violation::MinIdle {
            available: u32::try_from(available).unwrap_or(u32::MAX),
            min_idle: cfg.min_idle,
        });
    }

    // Timers: nothing past due after a Timeout, and poll_timeout covers everything.
    let poll = pool.poll_timeout();
    if let Some(due) = pool.timer_stuck() {
        return Err(Violation::TimerSpin { due, now });
    }
    let covered = |due: Instant| poll.is_some_and(|p| p <= due);
    for w in &pool.waiters {
        if let Some(bound) = timeout_bound(w) {
            if pool.last_was_timeout && bound <= now {
                return Err(Violation::WaiterPastBound {
                    req: w.req,
                    bound,
                    now,
                });
            }
            if !covered(bound) {
                return Err(Violation::TimerMissing {
                    what: format!("the bound of {}", w.req),
                    due: bound,
                    poll,
                });
            }
        }
    }
    for c in &pool.conns {
        let due = match c.state {
            ConnState::Idle => {
                let idle_exp = cfg.idle_timeout.map(|t| c.idle_since + t);
                let exp = match (idle_exp, c.expires) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(expired) = exp.filter(|&e| pool.last_was_timeout && e <= now) {
                    return Err(Violation::IdlePastExpiry {
                        conn: c.id,
                        expired,
                        now,
                    });
                }
                exp
            }
            ConnState::Connecting { started, .. } => cfg.connect_timeout.map(|t| started + t),
            ConnState::InUse | ConnState::Checking { .. } => None,
        };
        if let Some(due) = due.filter(|&d| !covered(d)) {
            return Err(Violation::TimerMissing {
                what: format!("a timer of {}", c.id),
                due,
                poll,
            });
        }
    }
    Ok(())
}

/// What one observed step produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The outputs the pool queued, in order (already drained from the pool).
    pub outputs: Vec<Output>,
    /// The pool refused the input (and, as checked, stayed unchanged).
    pub input_error: Option<InputError>,
}

/// An observer around a [`Pool`]: feeds it, drains its outputs, and checks every invariant
/// after every step, including those that need history (see the module docs).
///
/// Start it on a fresh pool: it learns what is live from the inputs and outputs it sees.
#[derive(Clone, Debug)]
pub struct Checker {
    pool: Pool,
    /// Live requests by the history (sorted).
    live: Vec<ReqId>,
    /// Granted connections and their holders (sorted by connection).
    holders: Vec<(ConnId, ReqId)>,
    queue_before: Vec<ReqId>,
    /// Live requests by the history, with their bounds as the checker computes them from
    /// the `Acquire` and the configuration (sorted by request).
    bounds: Vec<(ReqId, ReqBounds)>,
}

/// A live request's bounds, computed by the checker (not read from the pool).
#[derive(Clone, Copy, Debug)]
struct ReqBounds {
    acquired: Instant,
    /// `acquired + pool timeout` (wait mode with a timeout).
    pool: Option<Instant>,
    /// The deadline, when the configuration honours it.
    deadline: Option<Instant>,
}

impl ReqBounds {
    /// The first bound and the reason it gives; on a tie the deadline wins.
    fn first(&self) -> Option<(Instant, RejectReason)> {
        match (self.pool, self.deadline) {
            (Some(p), Some(d)) if d <= p => Some((d, RejectReason::DeadlineExceeded)),
            (Some(p), _) => Some((p, RejectReason::PoolTimeout)),
            (None, Some(d)) => Some((d, RejectReason::DeadlineExceeded)),
            (None, None) => None,
        }
    }
}

impl Checker {
    /// Observes `pool` from now on.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            live: pool.live_requests().collect(),
            pool,
            holders: Vec::new(),
            queue_before: Vec::new(),
            bounds: Vec::new(),
        }
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool, mutably (e.g. to plant a bug in a test). Mutating it behind the checker's back
    /// voids the history checks.
    pub fn pool_mut(&mut self) -> &mut Pool {
        &mut self.pool
    }

    /// Gives the pool back.
    #[must_use]
    pub fn into_pool(self) -> Pool {
        self.pool
    }

    /// Requests granted and not yet released, with their connections.
    #[must_use]
    pub fn holders(&self) -> &[(ConnId, ReqId)] {
        &self.holders
    }

    /// Feeds `input` at `now`, drains the outputs and checks every invariant.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<Observed, Violation> {
        let before: (PoolState, Stats, usize) = (
            self.pool.state(),
            self.pool.stats().clone(),
            self.pool.outputs.len(),
        );
        self.queue_before.clear();
        self.queue_before.extend(self.pool.waiters());
        let result = self.pool.handle(now, input);
        let mut outputs = Vec::new();
        while let Some(o) = self.pool.poll_output() {
            outputs.push(o);
        }
        if let Err(error) = result {
            let after = (self.pool.state(), self.pool.stats().clone(), outputs.len());
            if after != (before.0, before.1, 0) {
                return Err(Violation::RefusedInputChangedState { input, error });
            }
            return Ok(Observed {
                outputs,
                input_error: Some(error),
            });
        }
        self.observe_bounds(now, input, &outputs)?;
        self.observe(input, &outputs)?;
        check(&self.pool)?;
        Ok(Observed {
            outputs,
            input_error: None,
        })
    }

    fn observe(&mut self, input: Input, outputs: &[Output]) -> Result<(), Violation> {
        match input {
            Input::Acquire { req, .. } => {
                if let Err(p) = self.live.binary_search(&req) {
                    self.live.insert(p, req);
                } else {
                    return Err(Violation::Unexplained {
                        detail: format!("Acquire of live {req} was accepted"),
                    });
                }
            }
            Input::Cancel { req } => {
                let Ok(p) = self.live.binary_search(&req) else {
                    return Err(Violation::Unexplained {
                        detail: format!("Cancel of ended {req} was accepted"),
                    });
                };
                self.live.remove(p);
            }
            Input::Release { conn, .. } => {
                let Ok(p) = self.holders.binary_search_by_key(&conn, |h| h.0) else {
                    return Err(Violation::Unexplained {
                        detail: format!("Release of {conn}, never granted, was accepted"),
                    });
                };
                self.holders.remove(p);
            }
            _ => {}
        }
        for &out in outputs {
            match out {
                Output::Grant { req, conn } => {
                    self.end(req, out)?;
                    match self.holders.binary_search_by_key(&conn, |h| h.0) {
                        Ok(p) => {
                            return Err(Violation::DoubleGrant {
                                conn,
                                first: self.holders[p].1,
                                second: req,
                            });
                        }
                        Err(p) => self.holders.insert(p, (conn, req)),
                    }
                }
                Output::Reject { req, .. } => self.end(req, out)?,
                Output::Close { conn, .. } => {
                    if let Ok(p) = self.holders.binary_search_by_key(&conn, |h| h.0) {
                        return Err(Violation::ClosedInUse {
                            conn,
                            req: self.holders[p].1,
                        });
                    }
                }
                Output::Connect { .. } | Output::Check { .. } => {}
            }
        }
        // Every live request is still known to the pool, and nothing else is.
        if !self.live.iter().copied().eq(self.pool.live_requests()) {
            if let Some(&req) = self.live.iter().find(|r| !self.pool.is_live(**r)) {
                return Err(Violation::RequestLost { req });
            }
            return Err(Violation::Unexplained {
                detail: "the pool holds a request no Acquire explains".to_owned(),
            });
        }
        // In-use connections are exactly the granted ones.
        let in_use = self
            .pool
            .conns
            .iter()
            .filter(|c| c.state == ConnState::InUse)
            .count();
        let granted_in_use = self.holders.iter().all(|&(conn, _)| {
            self.pool
                .conn_index(conn)
                .is_some_and(|i| self.pool.conns[i].state == ConnState::InUse)
        });
        if in_use != self.holders.len() || !granted_in_use {
            return Err(Violation::Unexplained {
                detail: format!(
                    "{in_use} connections in use but {} granted and unreleased",
                    self.holders.len()
                ),
            });
        }
        self.check_fifo(input, outputs)
    }

    /// The bounds of every request, computed here from its `Acquire`: a rejection for a
    /// bound comes at that bound or later and gives the reason of the first bound; no request
    /// is still queued after a `Timeout` at or past its bound; a broken connection is closed at
    /// once.
    fn observe_bounds(
        &mut self,
        now: Instant,
        input: Input,
        outputs: &[Output],
    ) -> Result<(), Violation> {
        let cfg = &self.pool.config;
        match input {
            Input::Acquire { req, deadline } => {
                let b = ReqBounds {
                    acquired: now,
                    pool: cfg.pool_timeout().map(|t| now + t),
                    deadline: deadline.filter(|_| cfg.honour_deadlines),
                };
                if let Err(p) = self.bounds.binary_search_by_key(&req, |e| e.0) {
                    self.bounds.insert(p, (req, b));
                }
            }
            Input::Cancel { req } => self.forget_bounds(req),
            Input::Release {
                conn,
                outcome: ReleaseOutcome::Broken,
            } => {
                let closed = outputs.iter().any(|o| {
                    matches!(o, Output::Close { conn: c, reason: CloseReason::Broken } if *c == conn)
                });
                if !closed {
                    return Err(Violation::BrokenKept {
                        conn,
                        detail: format!("no Close {{ Broken }} followed: {outputs:?}"),
                    });
                }
                if self.pool.conn_index(conn).is_some() {
                    return Err(Violation::BrokenKept {
                        conn,
                        detail: "the pool still holds it".to_owned(),
                    });
                }
            }
            _ => {}
        }
        for &out in outputs {
            let req = match out {
                Output::Grant { req, .. } => req,
                Output::Reject { req, reason } => {
                    if let Some(&(_, b)) = self.bounds.iter().find(|e| e.0 == req) {
                        check_reject_reason(req, reason, now, &b)?;
                    }
                    req
                }
                _ => continue,
            };
            self.forget_bounds(req);
        }
        if matches!(input, Input::Timeout) {
            for req in self.pool.waiters() {
                let Ok(p) = self.bounds.binary_search_by_key(&req, |e| e.0) else {
                    continue;
                };
                let b = self.bounds[p].1;
                if let Some((bound, _)) = b.first().filter(|&(t, _)| t <= now) {
                    return Err(Violation::WaitedPastBound {
                        req,
                        acquired: b.acquired,
                        bound,
                        now,
                    });
                }
            }
        }
        Ok(())
    }

    fn forget_bounds(&mut self, req: ReqId) {
        if let Ok(p) = self.bounds.binary_search_by_key(&req, |e| e.0) {
            self.bounds.remove(p);
        }
    }

    fn end(&mut self, req: ReqId, output: Output) -> Result<(), Violation> {
        match self.live.binary_search(&req) {
            Ok(p) => {
                self.live.remove(p);
                Ok(())
            }
            Err(_) => Err(Violation::EndedTwice { req, output }),
        }
    }

    /// Strict FIFO (wait mode): a queued request is served only when every request queued
    /// before it has left the queue, and a new request is not served while others wait.
    fn check_fifo(&self, input: Input, outputs: &[Output]) -> Result<(), Violation> {
        let cfg = &self.pool.config;
        if cfg.fairness != Fairness::StrictFifo
            || !matches!(cfg.when_exhausted, WhenExhausted::Wait { .. })
        {
            return Ok(());
        }
        let served = |req: ReqId| {
            outputs
                .iter()
                .any(|o| matches!(o, Output::Grant { req: r, .. } if *r == req))
                || (self.pool.is_live(req) && !self.pool.waiters().any(|r| r == req))
        };
        let still_queued = |req: ReqId| self.pool.waiters().any(|r| r == req);
        for (k, &req) in self.queue_before.iter().enumerate() {
            if served(req) {
                if let Some(&skipped) = self.queue_before[..k].iter().find(|&&r| still_queued(r)) {
                    return Err(Violation::FifoOrder {
                        served: req,
                        skipped,
                    });
                }
            }
        }
        if let Input::Acquire { req, .. } = input {
            if let Some(&skipped) = self.queue_before.first() {
                if served(req) && still_queued(skipped) {
                    return Err(Violation::FifoOrder {
                        served: req,
                        skipped,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A `PoolTimeout` or `DeadlineExceeded` rejection must come at its bound or later, and name
/// the bound that comes first (the deadline on a tie).
fn check_reject_reason(
    req: ReqId,
    reason: RejectReason,
    now: Instant,
    b: &ReqBounds,
) -> Result<(), Violation> {
    let bound = match reason {
        RejectReason::PoolTimeout => b.pool,
        RejectReason::DeadlineExceeded => b.deadline,
        _ => return Ok(()),
    };
    let wrong = |detail: String| {
        Err(Violation::WrongRejectReason {
            req,
            reason,
            now,
            detail,
        })
    };
    let Some(bound) = bound else {
        return wrong("the request has no such bound".to_owned());
    };
    if bound > now {
        return wrong(format!("its bound {bound} is not reached"));
    }
    match b.first() {
        Some((_, first)) if first != reason => wrong(format!(
            "its first bound is the {} (pool timeout {}, deadline {}; a tie is the deadline)",
            if first == RejectReason::DeadlineExceeded {
                "deadline"
            } else {
                "pool timeout"
            },
            show(b.pool),
            show(b.deadline)
        )),
        _ => Ok(()),
    }
}
