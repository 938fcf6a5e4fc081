//! The pool state machine.
//!
//! Layout of the state (all allocation happens while the pool grows; a pool in steady state
//! reuses the capacity it has):
//! - `conns`: every live connection, a `Vec` sorted by [`ConnId`] (ids only grow, so a new
//!   connection is pushed at the end; lookups are binary searches, no `HashMap`).
//! - `idle`: a `VecDeque` of idle connection ids; releases push at the back, LIFO reuse pops
//!   the back, FIFO reuse pops the front.
//! - `waiters`: a `VecDeque` of queued requests in arrival order (sorted by a sequence number,
//!   so a request retried after a failed checkout check goes back to its old place: the head).
//! - `deadlines`: the honoured request deadlines of queued waiters, a sorted `Vec`.
//! - `live`: the ids of every live request (queued or bound to a checkout check), sorted.
//! - `timers`: a binary heap of per-connection timers (connect timeout, idle expiry, lifetime
//!   expiry, keepalive) with lazy deletion: each connection carries an `epoch` bumped at every
//!   state change, and a heap entry whose epoch is stale is dropped when it reaches the top
//!   (the heap is compacted in place when stale entries pile up). Pool-wide timers (keepalive
//!   round, back-off end, barging wake-up) are plain fields; waiter bounds are read from the
//!   head of `waiters` (pool timeouts are monotone in arrival order) and from `deadlines`.

use crate::config::{
    CheckHow, CheckWhen, Config, ConfigError, Fairness, KeepaliveScope, Reuse, WhenExhausted,
};
use crate::io::{
    CloseReason, ConnId, Input, InputError, Output, RejectReason, ReleaseOutcome, ReqId,
};
use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// The connection pool as a sans-IO state machine.
///
/// # Contract
///
/// The pool does no I/O and reads no clock. Drive it like this:
///
/// 1. **Mutate** with [`Pool::handle`]`(now, input)`. `now` is the caller's clock and must
///    never go backwards (an earlier `now` is refused with [`InputError::TimeWentBackwards`]).
///    An input naming an unknown id, or an id in the wrong state, is refused with an
///    [`InputError`] and leaves the pool unchanged. A panic is a bug in the pool.
/// 2. **Drain** [`Pool::poll_output`] until it returns `None` after every `handle`, and do what
///    each [`Output`] says: open a connection and report [`Input::Connected`] /
///    [`Input::ConnectFailed`]; check one and report [`Input::CheckPassed`] /
///    [`Input::CheckFailed`]; hand a connection to a request; refuse a request; close a
///    connection (after `Close` the pool has forgotten the id: a late report about it is
///    refused with [`InputError::WrongConnState`], which the driver may ignore).
/// 3. **Sleep** until [`Pool::poll_timeout`], then call `handle(that_instant, Input::Timeout)`.
///    A `Timeout` that comes early does nothing harmful: the pool acts on every timer that is
///    due at `now` and on nothing else. `poll_timeout` may return an instant that is already
///    past (a barging hand-off is due "now"): call `handle(now, Timeout)` at once.
///
/// The same inputs at the same instants always give the same outputs: the only randomness is
/// the lifetime jitter, drawn from `Config::seed` and the connection id.
///
/// # Request and connection life cycles
///
/// A request ([`ReqId`], numbered by the caller) is *live* from `Acquire` until it ends, and
/// it ends exactly once: `Grant`, `Reject`, or the caller's `Cancel`. A live request is either
/// queued (a waiter) or bound to a connection being checked for it. A connection ([`ConnId`],
/// numbered by the pool) is connecting, idle, in use, or being checked (a checkout check or a
/// keepalive ping), until the pool emits `Close` for it or its connect fails.
///
/// # Decisions
///
/// - Check on checkout binds the connection to the request; `CheckFailed` closes it and the
///   request retries at its old place in the queue (the head, under strict FIFO): another idle
///   connection, a connect, or waiting. Its pool timeout still counts from its `Acquire`.
/// - Idle connections past `idle_timeout` or their lifetime are closed by `Timeout`, and also
///   lazily when a checkout meets one (go-redis checks `ConnMaxIdleTime` on `Get`).
///   In-use connections past their lifetime are closed when released.
/// - Strict FIFO hands a freed connection to the oldest waiter inside the same `handle`.
///   Barging models the wake-up delay of real pools: the freed connection goes to the idle
///   list and a wake-up timer is armed for `now`; until the caller delivers that `Timeout`, a
///   new `Acquire` may take the idle connection ahead of the waiters (bb8, sqlx).
/// - Wait mode: connects are not tied to requests; the pool keeps `idle + connecting` at least
///   `waiters + min_idle` (within `max_size`, `max_concurrent_connects` and back-off). A failed
///   connect rejects nobody: waiters keep waiting until their bound.
/// - Fail-fast mode: a request that finds no idle connection and room to grow gets a connect
///   of its own (queued until `max_concurrent_connects` or back-off lets it start) and waits
///   for it; if that connect fails it is rejected with `ConnectFailed`. If a connection frees up
///   first it takes that one and its connect goes on unbound (the result goes to the idle list).
///   With no room, `Reject { TooManyConnections }`. Waiting for a connect counts as a waiter.
/// - Keepalive pings take the connection out of the idle list while the ping is in flight.
///   `OnePerInterval` takes one connection per interval in reuse order, like a request would, and
///   puts it back at the back (so a FIFO pool of N touches each connection every N intervals).
///   A ping does not restart `idle_timeout` (which measures time since the last user).
/// - Shutdown rejects waiters and requests under check with `Closed`, closes idle, connecting
///   and checking connections, closes in-use ones when released, and rejects new acquires.
///
/// # Layout
///
/// `repr(C)`, 64-byte aligned, the fields grouped by cache line, most written first: a driver
/// shared between threads (crates/pool) feeds inputs from whichever thread holds its lock, so
/// every line an input writes moves between cores; grouping what a checkout or a release
/// writes into few lines keeps that lock hold short (docs/architecture.md, "Performance").
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct Pool {
    // Line 0: written by nearly every input.
    pub(crate) now: Instant,
    pub(crate) next_seq: u64,
    pub(crate) counts: PoolState,
    /// The front waiter's pool-timeout bound, kept up to date whenever the front changes, so
    /// that `poll_timeout` does not read the queue (in a contended driver, the front entry is
    /// on a line the other thread wrote last, and an acquire that queues at the back would
    /// otherwise touch it only for this).
    pub(crate) front_bound: Option<Instant>,
    pub(crate) started: bool,
    pub(crate) last_was_timeout: bool,
    pub(crate) closed: bool,
    /// `config_is_clock_free(&config)`, computed once.
    pub(crate) clock_free_config: bool,
    // Line 1: the queue and the outputs.
    pub(crate) waiters: VecDeque<Waiter>,
    pub(crate) outputs: VecDeque<Output>,
    // Line 2: live requests and connections.
    pub(crate) live: crate::live::LiveSet,
    pub(crate) conns: Vec<Conn>,
    // Line 3: idle list and timers.
    pub(crate) idle: VecDeque<ConnId>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    pub(crate) next_conn: u64,
    // Colder.
    pub(crate) deadlines: Vec<(Instant, ReqId)>,
    pub(crate) next_keepalive: Option<Instant>,
    pub(crate) backoff_until: Option<Instant>,
    pub(crate) wake_at: Option<Instant>,
    pub(crate) connect_failures: u32,
    pub(crate) stats: Stats,
    pub(crate) config: Config,
    #[cfg(feature = "mutations")]
    pub(crate) mutation: Option<crate::mutations::Mutation>,
}

/// A queued request (or one bound to a checkout check, kept to retry it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) req: ReqId,
    /// Arrival order; the queue is sorted by it.
    pub(crate) seq: u64,
    pub(crate) acquired: Instant,
    /// `acquired + pool timeout` (wait mode only).
    pub(crate) pool_bound: Option<Instant>,
    /// The honoured deadline.
    pub(crate) deadline: Option<Instant>,
    /// Fail-fast mode: the connect made for this request.
    pub(crate) connect: Option<ConnId>,
}

impl Waiter {
    /// The earliest instant at which the waiter is rejected, and the reason.
    pub(crate) fn bound(&self) -> Option<(Instant, RejectReason)> {
        match (self.pool_bound, self.deadline) {
            (Some(p), Some(d)) if d <= p => Some((d, RejectReason::DeadlineExceeded)),
            (Some(p), _) => Some((p, RejectReason::PoolTimeout)),
            (None, Some(d)) => Some((d, RejectReason::DeadlineExceeded)),
            (None, None) => None,
        }
    }
}

/// Internal state of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnState {
    Connecting {
        for_req: Option<ReqId>,
        started: Instant,
    },
    Idle,
    InUse,
    Checking {
        /// The request the checkout check is for (`None`: a keepalive ping, or the request was
        /// cancelled).
        waiter: Option<Waiter>,
        keepalive: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) state: ConnState,
    /// Lifetime end (created + max_lifetime - jitter).
    pub(crate) expires: Option<Instant>,
    /// When it last entered the idle list from a user (release) or a connect.
    pub(crate) idle_since: Instant,
    /// Last I/O: connect, release, passed check.
    pub(crate) last_io: Instant,
    pub(crate) epoch: u32,
}

/// The phase of a connection, as shown by [`Pool::connections`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnPhase {
    /// A connect is in flight (fail-fast mode: possibly made for `for_req`).
    Connecting {
        /// The request waiting for this very connect, if any.
        for_req: Option<ReqId>,
    },
    /// In the idle list.
    Idle,
    /// Granted and not yet released.
    InUse,
    /// A check is in flight.
    Checking {
        /// The request the checkout check is for (`None` for a keepalive ping or when the
        /// request was cancelled meanwhile).
        for_req: Option<ReqId>,
        /// A keepalive ping rather than a checkout check.
        keepalive: bool,
    },
}

/// A snapshot of the pool's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolState {
    /// Live connections: idle + in_use + connecting + checking.
    pub total: u32,
    /// Idle connections.
    pub idle: u32,
    /// Granted, not yet released.
    pub in_use: u32,
    /// Connects in flight.
    pub connecting: u32,
    /// Checks in flight (checkout checks and keepalive pings).
    pub checking: u32,
    /// Queued requests.
    pub waiters: u32,
}

/// Upper bounds (inclusive, in microseconds) of the wait-time histogram buckets; a last
/// bucket holds everything longer than 10 s.
pub const WAIT_BUCKETS_US: [u64; 14] = [
    0, 100, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 500_000, 1_000_000, 3_000_000,
    5_000_000, 10_000_000,
];

/// A fixed-bucket histogram of the time from `Acquire` to `Grant` (no allocation per request).
/// `repr(C)`: `max` and `sum`, written by every waited grant, first (see [`Stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct WaitHistogram {
    /// Longest wait seen.
    pub max: Duration,
    /// Sum of all waits (for the mean).
    pub sum: Duration,
    /// `counts[i]` = grants that waited at most `WAIT_BUCKETS_US[i]` µs (and more than the
    /// previous bound); `counts[14]` = the rest.
    pub counts: [u64; 15],
}

impl WaitHistogram {
    fn record(&mut self, wait: Duration) {
        if wait.is_zero() {
            // Bucket 0 (at most 0 µs); `max` and `sum` unchanged. The common case: a checkout
            // served at once.
            self.counts[0] += 1;
            return;
        }
        // `as_micros` saturated to u64, without 128-bit arithmetic.
        let us = wait
            .as_secs()
            .checked_mul(1_000_000)
            .and_then(|s| s.checked_add(u64::from(wait.subsec_micros())))
            .unwrap_or(u64::MAX);
        let i = WAIT_BUCKETS_US.partition_point(|&b| b < us);
        self.counts[i] += 1;
        if wait > self.max {
            self.max = wait;
        }
        self.sum = self.sum.saturating_add(wait);
    }

    /// Number of recorded waits.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound of the bucket holding the `q`-quantile (`q` in 0..=1), `None` when
    /// empty; `Duration::MAX` when it falls in the overflow bucket.
    #[must_use]
    pub fn quantile_upper_bound(&self, q: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // Rounding up: the smallest rank r with r >= q * total.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(
                    WAIT_BUCKETS_US
                        .get(i)
                        .map_or(Duration::MAX, |&us| Duration::from_micros(us)),
                );
            }
        }
        Some(Duration::MAX)
    }
}

/// Counters since the pool was created.
///
/// `repr(C)`, 64-byte aligned: the counters a checkout and a release write (`acquires`,
/// `grants`, `grants_*`, `wait.max`, `wait.sum`) share the first cache line (see
/// [`Pool`]'s layout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[repr(C, align(64))]
pub struct Stats {
    /// Accepted `Acquire` inputs.
    pub acquires: u64,
    /// `Grant` outputs.
    pub grants: u64,
    /// Grants with zero wait (at the instant of the `Acquire`).
    pub grants_immediate: u64,
    /// Grants after a wait (queued, or a checkout check that took time).
    pub grants_waited: u64,
    /// Time from `Acquire` to `Grant`.
    pub wait: WaitHistogram,
    /// Highest `total` seen.
    pub peak_total: u32,
    /// Highest number of waiters seen.
    pub peak_waiters: u32,
    /// `Reject` outputs by reason, indexed like [`RejectReason::ALL`] (see [`Stats::rejects_for`]).
    pub rejects: [u64; 6],
    /// Requests cancelled by the caller.
    pub cancels: u64,
    /// `Connect` outputs.
    pub connects_started: u64,
    /// `Connected` inputs.
    pub connects_succeeded: u64,
    /// `ConnectFailed` inputs plus connect timeouts.
    pub connects_failed: u64,
    /// `Close` outputs by reason, indexed like [`CloseReason::ALL`] (see [`Stats::closes_for`]).
    pub closes: [u64; 9],
    /// Checkout checks started.
    pub checks_started: u64,
    /// Keepalive pings started.
    pub keepalive_pings: u64,
    /// Checks (both kinds) passed.
    pub checks_passed: u64,
    /// Checks (both kinds) failed.
    pub checks_failed: u64,
}

impl Stats {
    /// Rejects with `reason`.
    #[must_use]
    pub fn rejects_for(&self, reason: RejectReason) -> u64 {
        RejectReason::ALL
            .iter()
            .position(|&r| r == reason)
            .map_or(0, |i| self.rejects[i])
    }

    /// Closes with `reason`.
    #[must_use]
    pub fn closes_for(&self, reason: CloseReason) -> u64 {
        CloseReason::ALL
            .iter()
            .position(|&r| r == reason)
            .map_or(0, |i| self.closes[i])
    }

    /// All rejects.
    #[must_use]
    pub fn rejects_total(&self) -> u64 {
        self.rejects.iter().sum()
    }
}

/// Whether nothing `c` enables reads the time of a checkout or a release (no idle timeout,
/// no lifetime, no keepalive, no checkout check, no `min_idle` connects).
fn config_is_clock_free(c: &Config) -> bool {
    c.idle_timeout.is_none()
        && c.max_lifetime.is_none()
        && c.keepalive.is_none()
        && c.min_idle == 0
        && c.check_on_checkout.when == CheckWhen::Never
}

/// SplitMix64: the lifetime jitter of a connection, from the seed and its id.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn dur_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Pool {
    /// Validates `config` and builds an empty pool (connections for `min_idle` are asked for on
    /// the first `handle`).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let cap = config.max_size.map_or(64, |m| (m as usize).min(4096));
        let waiter_cap = config.max_waiters.map_or(64, |m| (m as usize).min(4096));
        Ok(Self {
            now: Instant::ZERO,
            started: false,
            last_was_timeout: false,
            closed: false,
            next_conn: 0,
            next_seq: 0,
            conns: Vec::with_capacity(cap),
            idle: VecDeque::with_capacity(cap),
            waiters: VecDeque::with_capacity(waiter_cap),
            front_bound: None,
            deadlines: Vec::with_capacity(waiter_cap),
            live: crate::live::LiveSet::with_capacity(waiter_cap + cap),
            timers: BinaryHeap::with_capacity(2 * cap + 64),
            next_keepalive: None,
            backoff_until: None,
            connect_failures: 0,
            wake_at: None,
            counts: PoolState::default(),
            outputs: VecDeque::with_capacity(2 * cap + 16),
            stats: Stats::default(),
            clock_free_config: config_is_clock_free(&config),
            config,
            #[cfg(feature = "mutations")]
            mutation: None,
        })
    }

    // ----------------------------------------------------------------------------- getters

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current counts.
    #[must_use]
    pub fn state(&self) -> PoolState {
        self.counts
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The instant of the last accepted input.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Whether `Input::Shutdown` was handled.
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        self.closed
    }

    /// Whether `req` is live (queued, or bound to a checkout check).
    #[must_use]
    pub fn is_live(&self, req: ReqId) -> bool {
        self.live.contains(req)
    }

    /// Every live request, in increasing id order.
    pub fn live_requests(&self) -> impl Iterator<Item = ReqId> + '_ {
        self.live.iter()
    }

    /// Queued requests, oldest first (the order in which strict FIFO serves them).
    pub fn waiters(&self) -> impl Iterator<Item = ReqId> + '_ {
        self.waiters.iter().map(|w| w.req)
    }

    /// Idle connections from the front (oldest returned) to the back (newest returned).
    pub fn idle_connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.idle.iter().copied()
    }

    /// Every live connection and its phase, by id.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, ConnPhase)> + '_ {
        self.conns.iter().map(|c| {
            let phase = match c.state {
                ConnState::Connecting { for_req, .. } => ConnPhase::Connecting { for_req },
                ConnState::Idle => ConnPhase::Idle,
                ConnState::InUse => ConnPhase::InUse,
                ConnState::Checking { waiter, keepalive } => ConnPhase::Checking {
                    for_req: waiter.map(|w| w.req),
                    keepalive,
                },
            };
            (c.id, phase)
        })
    }

    /// Whether `Input::Acquire { deadline, .. }` would be handled identically at every
    /// `now >= self.now()`: same outputs, same statistics, same timers, same state except
    /// timestamps the configuration never reads (and [`Pool::now`]). True when an idle connection is taken at once by a request
    /// nobody waits ahead of, and the configuration reads no time on that path (see the
    /// conditions in the code). A driver may then skip reading its clock and feed
    /// [`Pool::now`]; when in doubt this returns `false`.
    #[must_use]
    pub fn acquire_is_clock_free(&self, deadline: Option<Instant>) -> bool {
        self.clock_free_config
            && self.started
            && !self.closed
            && self.waiters.is_empty()
            && !self.idle.is_empty()
            && (deadline.is_none() || !self.config.honour_deadlines)
    }

    /// Whether `Input::Release { .. }` would be handled identically at every
    /// `now >= self.now()` (as for [`Pool::acquire_is_clock_free`]): nobody waits (so no grant
    /// records a wait time and no connect starts), and the configuration reads neither the
    /// release time nor the time of the last I/O.
    #[must_use]
    pub fn release_is_clock_free(&self) -> bool {
        self.clock_free_config && self.started && !self.closed && self.waiters.is_empty()
    }

    // ------------------------------------------------------------------------------ polls

    /// Next thing for the caller to do; drain until `None` after every `handle`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// `Some(t)` when the last input was a `Timeout` at `now` and `poll_timeout` is still
    /// `t <= now`: a timer re-armed itself for an instant already handled, with no progress.
    /// That is a bug in the pool (the invariant `TimerSpin` reports it); a driver that fed
    /// `Timeout` at `t` again would spin, so it should treat this as a bug instead (e.g.
    /// `debug_assert!(core.timer_stuck().is_none())` after each `Timeout`). Cheap: one
    /// `poll_timeout`.
    #[must_use]
    pub fn timer_stuck(&self) -> Option<Instant> {
        self.poll_timeout()
            .filter(|&t| self.last_was_timeout && t <= self.now)
    }

    /// When the caller must next call `handle(t, Input::Timeout)`; `None` when no timer is set
    /// (a timer saturated at the end of time, `u64::MAX` nanoseconds, can never be reached and
    /// also reads as `None`).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        #[cfg(feature = "mutations")]
        let skip_waiters = self.mutation == Some(crate::mutations::Mutation::NoWaiterTimer);
        #[cfg(not(feature = "mutations"))]
        let skip_waiters = false;
        debug_assert_eq!(
            self.front_bound,
            self.waiters.front().and_then(|w| w.pool_bound),
            "front_bound out of date"
        );
        // The minimum over nanosecond counts with "none" as u64::MAX: no branch per candidate
        // (a driver calls this after every input).
        let nanos = |x: Option<Instant>| x.map_or(u64::MAX, Instant::as_nanos);
        let mut t = nanos(self.timers.peek().map(|Reverse(e)| e.0))
            .min(nanos(self.next_keepalive))
            .min(nanos(self.backoff_until))
            .min(nanos(self.wake_at));
        if !skip_waiters {
            t = t
                .min(nanos(self.front_bound))
                .min(nanos(self.deadlines.first().map(|d| d.0)));
        }
        (t != u64::MAX).then(|| Instant::from_nanos(t))
    }

    // ------------------------------------------------------------------------------ handle

    /// Feeds one input at `now`. On error the pool is unchanged (and no output is queued).
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        if now < self.now {
            return Err(InputError::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        // The lookup that validated the input, reused by its handler (nothing in between
        // changes the live list or the connections).
        let found = self.validate_input(input)?;
        self.now = now;
        self.last_was_timeout = matches!(input, Input::Timeout);
        if !self.started {
            self.started = true;
            if let Some(k) = self.config.keepalive {
                if k.scope == KeepaliveScope::OnePerInterval {
                    self.next_keepalive = Some(now + k.interval);
                }
            }
        }
        match input {
            Input::Acquire { req, deadline } => self.on_acquire(req, deadline),
            Input::Cancel { req } => self.on_cancel(req),
            Input::Release { outcome, .. } => self.on_release(found, outcome),
            Input::Connected { conn } => self.on_connected(conn),
            Input::ConnectFailed { conn, .. } => {
                let i = self.conn_index(conn).expect("validated: connecting");
                self.connect_failed(i);
            }
            Input::CheckPassed { conn } => self.on_check_passed(conn),
            Input::CheckFailed { conn } => self.on_check_failed(conn),
            Input::PeerClosed { conn } => {
                self.remove_idle_entry(conn);
                let i = self.conn_index(conn).expect("validated: idle");
                self.close(i, CloseReason::PeerClosed);
            }
            Input::Evict { conn } => {
                self.remove_idle_entry(conn);
                let i = self.conn_index(conn).expect("validated: idle");
                self.close(i, CloseReason::Evicted);
            }
            Input::Timeout => self.on_timeout(),
            Input::Shutdown => self.on_shutdown(),
        }
        self.pump();
        self.settle_timers();
        // Written only when they grow: a store would take the line from another core.
        if self.counts.total > self.stats.peak_total {
            self.stats.peak_total = self.counts.total;
        }
        if self.counts.waiters > self.stats.peak_waiters {
            self.stats.peak_waiters = self.counts.waiters;
        }
        Ok(())
    }

    /// Checks `input` against the state. On success returns what the lookup found, for the
    /// handler: for an input naming a connection its index in `conns`, otherwise 0.
    fn validate_input(&self, input: Input) -> Result<usize, InputError> {
        let conn_in = |conn: ConnId, ok: fn(&ConnState) -> bool, expected: &'static str| match self
            .conn_index(conn)
        {
            Some(i) if ok(&self.conns[i].state) => Ok(i),
            _ => Err(InputError::WrongConnState { conn, expected }),
        };
        match input {
            Input::Acquire { req, .. } => {
                if self.is_live(req) {
                    return Err(InputError::DuplicateRequest { req });
                }
                Ok(0)
            }
            Input::Cancel { req } => {
                if self.is_live(req) {
                    Ok(0)
                } else {
                    Err(InputError::UnknownRequest { req })
                }
            }
            Input::Release { conn, .. } => {
                conn_in(conn, |s| matches!(s, ConnState::InUse), "in use")
            }
            Input::Connected { conn } | Input::ConnectFailed { conn, .. } => conn_in(
                conn,
                |s| matches!(s, ConnState::Connecting { .. }),
                "connecting",
            ),
            Input::CheckPassed { conn } | Input::CheckFailed { conn } => conn_in(
                conn,
                |s| matches!(s, ConnState::Checking { .. }),
                "being checked",
            ),
            Input::PeerClosed { conn } | Input::Evict { conn } => {
                conn_in(conn, |s| matches!(s, ConnState::Idle), "idle")
            }
            Input::Timeout | Input::Shutdown => Ok(0),
        }
    }

    // ------------------------------------------------------------------- input handlers

    fn on_acquire(&mut self, req: ReqId, deadline: Option<Instant>) {
        self.stats.acquires += 1;
        if self.closed {
            self.reject_new(req, RejectReason::Closed);
            return;
        }
        let deadline = deadline.filter(|_| self.config.honour_deadlines);
        if deadline.is_some_and(|d| d <= self.now) {
            self.reject_new(req, RejectReason::DeadlineExceeded);
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let pool_bound = self.config.pool_timeout().map(|t| self.now + t);
        let w = Waiter {
            req,
            seq,
            acquired: self.now,
            pool_bound,
            deadline,
            connect: None,
        };
        self.live.insert(req);
        self.admit(w, false);
    }

    /// A live request (new, or retried after a failed checkout check) looks for a connection.
    fn admit(&mut self, mut w: Waiter, retry: bool) {
        let may_take_idle = match self.config.fairness {
            Fairness::Barging => true,
            // Strict FIFO: nobody overtakes a waiter; a retry goes back to the head.
            Fairness::StrictFifo => retry || self.waiters.is_empty(),
        };
        if may_take_idle {
            if let Some(i) = self.take_idle() {
                self.assign(i, w, false);
                return;
            }
        }
        let queue_full = self
            .config
            .max_waiters
            .is_some_and(|m| self.waiters.len() >= m as usize);
        match self.config.when_exhausted {
            WhenExhausted::Wait { .. } => {
                if queue_full {
                    self.reject_live(w.req, RejectReason::QueueFull);
                } else if let Some((_, reason)) = w.bound().filter(|&(b, _)| b <= self.now) {
                    self.reject_live(w.req, reason);
                } else {
                    self.enqueue(w);
                }
            }
            WhenExhausted::FailFast => {
                let pending = self.waiters.iter().filter(|w| w.connect.is_none()).count();
                let room = self
                    .config
                    .max_size
                    .is_none_or(|m| self.counts.total as usize + pending < m as usize);
                if !room {
                    self.reject_live(w.req, RejectReason::TooManyConnections);
                } else if queue_full {
                    self.reject_live(w.req, RejectReason::QueueFull);
                } else if let Some((_, reason)) = w.bound().filter(|&(b, _)| b <= self.now) {
                    self.reject_live(w.req, reason);
                } else {
                    if self.can_connect_now() {
                        w.connect = Some(self.start_connect(Some(w.req)));
                    }
                    self.enqueue(w);
                }
            }
        }
    }

    fn on_cancel(&mut self, req: ReqId) {
        self.stats.cancels += 1;
        if let Some(mut w) = self.remove_waiter(req) {
            self.unbind_connect(&mut w);
        } else if let Some(c) = self.conns.iter_mut().find(
            |c| matches!(c.state, ConnState::Checking { waiter: Some(w), .. } if w.req == req),
        ) {
            // The check goes on; if it passes the connection is simply available.
            if let ConnState::Checking { waiter, .. } = &mut c.state {
                *waiter = None;
            }
        }
        self.remove_live(req);
    }

    /// `i`: the index of the released connection (from `validate_input`).
    fn on_release(&mut self, i: usize, outcome: ReleaseOutcome) {
        if outcome == ReleaseOutcome::Broken {
            self.close(i, CloseReason::Broken);
            return;
        }
        self.conns[i].last_io = self.now;
        self.conns[i].idle_since = self.now;
        self.give_back(i, false);
    }

    fn on_connected(&mut self, conn: ConnId) {
        let i = self.conn_index(conn).expect("validated: connecting");
        let ConnState::Connecting { for_req, .. } = self.conns[i].state else {
            unreachable!("validated: connecting")
        };
        self.stats.connects_succeeded += 1;
        self.connect_failures = 0;
        self.backoff_until = None;
        let now = self.now;
        let c = &mut self.conns[i];
        c.last_io = now;
        c.idle_since = now;
        c.expires = self.config.max_lifetime.map(|life| {
            let jitter = self.config.lifetime_jitter.map_or(0, |j| {
                splitmix64(self.config.seed ^ conn.0.wrapping_mul(0x2545_F491_4F6C_DD1D))
                    % dur_nanos(j).saturating_add(1)
            });
            Instant::from_nanos(
                now.as_nanos()
                    .saturating_add(dur_nanos(life))
                    .saturating_sub(jitter),
            )
        });
        if let Some(req) = for_req {
            // Fail-fast: the request that made this connect takes it.
            let w = self
                .remove_waiter(req)
                .expect("a bound connect's request is queued");
            self.set_state(i, ConnState::InUse);
            self.grant(w, conn);
        } else {
            self.give_back(i, true);
        }
    }

    fn on_check_passed(&mut self, conn: ConnId) {
        let i = self.conn_index(conn).expect("validated: checking");
        let ConnState::Checking { waiter, .. } = self.conns[i].state else {
            unreachable!("validated: checking")
        };
        self.stats.checks_passed += 1;
        self.conns[i].last_io = self.now;
        if let Some(w) = waiter {
            self.set_state(i, ConnState::InUse);
            self.grant(w, conn);
        } else {
            self.give_back(i, false);
        }
    }

    fn on_check_failed(&mut self, conn: ConnId) {
        let i = self.conn_index(conn).expect("validated: checking");
        let ConnState::Checking { waiter, .. } = self.conns[i].state else {
            unreachable!("validated: checking")
        };
        self.stats.checks_failed += 1;
        self.close(i, CloseReason::CheckFailed);
        if let Some(w) = waiter {
            self.admit(w, true);
        }
    }

    fn on_timeout(&mut self) {
        let now = self.now;
        // 1. Waiters past their bound.
        loop {
            let head = self
                .waiters
                .front()
                .and_then(|w| w.pool_bound.map(|b| (w.req, b)));
            let dl = self.deadlines.first().copied();
            let due = match (head, dl) {
                (_, Some((d, req))) if d <= now => Some(req),
                (Some((req, b)), _) if b <= now => Some(req),
                _ => None,
            };
            let Some(req) = due else { break };
            let mut w = self.remove_waiter(req).expect("due waiter is queued");
            // The reason is the waiter's first bound (its deadline on a tie with the pool
            // timeout), also when a late `Timeout` finds both past.
            let reason = w.bound().map_or(RejectReason::PoolTimeout, |b| b.1);
            self.unbind_connect(&mut w);
            self.reject_live(req, reason);
        }
        // 2. Connection timers.
        while let Some(&Reverse((at, raw, epoch))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(i) = self.conn_index(ConnId(raw)) else {
                continue;
            };
            if self.conns[i].epoch != epoch {
                continue;
            }
            if self.fire_conn_timer(i).is_some_and(|again| again <= now) {
                // A timer that fired at `now`, changed nothing and re-armed itself for an
                // instant not later than `now` would pop again at once: a spin inside this
                // loop (and, in a driver, an endless `Timeout` at the same instant). It is a
                // bug in the pool; stop here instead of hanging, and leave it visible:
                // `poll_timeout` stays at or before `now`, which `timer_stuck` and the
                // invariant `TimerSpin` report.
                break;
            }
        }
        // 3. Pool-wide timers.
        if let Some(k) = self.next_keepalive.filter(|&k| k <= now) {
            let interval = self.config.keepalive.map_or(Duration::ZERO, |k| k.interval);
            self.next_keepalive = Some(k.max(now) + interval);
            if let Some(i) = self.take_idle() {
                self.start_ping(i);
            }
        }
        if self.backoff_until.is_some_and(|b| b <= now) {
            self.backoff_until = None;
        }
        if self.wake_at.is_some_and(|w| w <= now) {
            self.wake_at = None;
            self.serve_waiters();
            self.trim_idle();
        }
    }

    /// Acts on connection `i`'s timer; returns the instant it re-armed it for, if it did.
    fn fire_conn_timer(&mut self, i: usize) -> Option<Instant> {
        let now = self.now;
        let c = self.conns[i];
        match c.state {
            ConnState::Connecting { started, .. } => {
                let due = self.config.connect_timeout.map(|t| started + t);
                if due.is_some_and(|d| d <= now) {
                    self.emit(Output::Close {
                        conn: c.id,
                        reason: CloseReason::ConnectTimeout,
                    });
                    self.stats.closes[close_index(CloseReason::ConnectTimeout)] += 1;
                    self.connect_failed(i);
                    None
                } else {
                    self.arm_conn_timer(i)
                }
            }
            ConnState::Idle => {
                if let Some(reason) = self.idle_expiry_reason(&c) {
                    self.remove_idle_entry(c.id);
                    self.close(i, reason);
                    None
                } else if self.keepalive_due(&c) {
                    self.remove_idle_entry(c.id);
                    self.start_ping(i);
                    None
                } else {
                    self.arm_conn_timer(i)
                }
            }
            ConnState::InUse | ConnState::Checking { .. } => None,
        }
    }

    fn on_shutdown(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.next_keepalive = None;
        self.backoff_until = None;
        self.wake_at = None;
        while let Some(w) = self.waiters.pop_front() {
            self.counts.waiters -= 1;
            self.reject_live(w.req, RejectReason::Closed);
        }
        self.front_bound = None;
        self.deadlines.clear();
        self.idle.clear();
        let mut i = 0;
        while i < self.conns.len() {
            match self.conns[i].state {
                ConnState::InUse => i += 1,
                ConnState::Checking { waiter, .. } => {
                    self.close(i, CloseReason::Shutdown);
                    if let Some(w) = waiter {
                        self.reject_live(w.req, RejectReason::Closed);
                    }
                }
                ConnState::Idle | ConnState::Connecting { .. } => {
                    self.close(i, CloseReason::Shutdown);
                }
            }
        }
    }

    // ------------------------------------------------------------------- the machinery

    /// After every input: hand idle connections to waiters (strict FIFO) and start the
    /// connects that waiters and `min_idle` need.
    fn pump(&mut self) {
        if self.closed {
            return;
        }
        #[cfg(feature = "mutations")]
        let skip_hand_off = self.mutation == Some(crate::mutations::Mutation::SkipHandOffOnRelease);
        #[cfg(not(feature = "mutations"))]
        let skip_hand_off = false;
        if self.config.fairness == Fairness::StrictFifo && !skip_hand_off {
            self.serve_waiters();
        }
        while self.can_connect_now() {
            match self.config.when_exhausted {
                WhenExhausted::FailFast => {
                    if let Some(pos) = self.waiters.iter().position(|w| w.connect.is_none()) {
                        let req = self.waiters[pos].req;
                        let c = self.start_connect(Some(req));
                        self.waiters[pos].connect = Some(c);
                        continue;
                    }
                }
                WhenExhausted::Wait { .. } => {
                    if self.supply() < self.counts.waiters as usize {
                        self.start_connect(None);
                        continue;
                    }
                }
            }
            // min_idle: idle + unbound connects + unbound checks >= min_idle (+ waiters).
            let need = self.config.min_idle as usize
                + match self.config.when_exhausted {
                    WhenExhausted::Wait { .. } => self.counts.waiters as usize,
                    WhenExhausted::FailFast => 0,
                };
            if self.supply() < need {
                self.start_connect(None);
                continue;
            }
            break;
        }
    }

    /// Connections that are, or will be without a request's help, available: idle, unbound
    /// connects, and checks not bound to a request.
    pub(crate) fn supply(&self) -> usize {
        let mut n = self.counts.idle as usize;
        if self.counts.connecting + self.counts.checking > 0 {
            for c in &self.conns {
                match c.state {
                    ConnState::Connecting { for_req: None, .. }
                    | ConnState::Checking { waiter: None, .. } => n += 1,
                    _ => {}
                }
            }
        }
        n
    }

    /// Whether a connect may start now (open, not backing off, under both limits).
    pub(crate) fn can_connect_now(&self) -> bool {
        #[cfg(feature = "mutations")]
        let ignore_size = self.mutation == Some(crate::mutations::Mutation::IgnoreMaxSize);
        #[cfg(not(feature = "mutations"))]
        let ignore_size = false;
        !self.closed
            && self.backoff_until.is_none_or(|b| b <= self.now)
            && self
                .config
                .max_concurrent_connects
                .is_none_or(|m| self.counts.connecting < m)
            && (ignore_size || self.config.max_size.is_none_or(|m| self.counts.total < m))
    }

    /// Hands idle connections to queued waiters, oldest first.
    fn serve_waiters(&mut self) {
        // `idle` first: under contention the queue is rarely empty, the idle list usually is.
        while !self.idle.is_empty() && !self.waiters.is_empty() {
            let Some(i) = self.take_idle() else { break };
            let mut w = self.pop_waiter_front();
            self.unbind_connect(&mut w);
            self.assign(i, w, false);
        }
    }

    /// Closes idle connections beyond `max_idle` (after a barging wake-up found fewer waiters).
    fn trim_idle(&mut self) {
        let Some(max_idle) = self.config.max_idle else {
            return;
        };
        while self.waiters.is_empty() && self.idle.len() > max_idle as usize {
            let id = match self.config.reuse {
                Reuse::Lifo => self.idle.pop_front(),
                Reuse::Fifo => self.idle.pop_back(),
            }
            .expect("non-empty");
            let i = self.conn_index(id).expect("idle conn exists");
            self.close(i, CloseReason::MaxIdle);
        }
    }

    /// A connection is free again (released healthy, connected, check passed without a
    /// request): to a waiter, to the idle list, or closed.
    fn give_back(&mut self, i: usize, fresh: bool) {
        if self.closed {
            self.close(i, CloseReason::Shutdown);
            return;
        }
        if self.conns[i].expires.is_some_and(|e| e <= self.now) {
            self.close(i, CloseReason::MaxLifetime);
            return;
        }
        #[cfg(feature = "mutations")]
        let skip_hand_off = self.mutation == Some(crate::mutations::Mutation::SkipHandOffOnRelease)
            && matches!(self.conns[i].state, ConnState::InUse);
        #[cfg(not(feature = "mutations"))]
        let skip_hand_off = false;
        if !self.waiters.is_empty() && !skip_hand_off {
            match self.config.fairness {
                Fairness::StrictFifo => {
                    let mut w = self.pop_waiter_front();
                    self.unbind_connect(&mut w);
                    self.assign(i, w, fresh);
                }
                Fairness::Barging => {
                    // Wake a waiter; until the wake-up is delivered a new acquire may barge.
                    self.push_idle(i);
                    if self.wake_at.is_none() {
                        self.wake_at = Some(self.now);
                    }
                }
            }
            return;
        }
        if self
            .config
            .max_idle
            .is_some_and(|m| self.idle.len() >= m as usize)
        {
            self.close(i, CloseReason::MaxIdle);
            return;
        }
        self.push_idle(i);
    }

    fn push_idle(&mut self, i: usize) {
        self.set_state(i, ConnState::Idle);
        self.idle.push_back(self.conns[i].id);
        self.arm_conn_timer(i);
    }

    /// Takes an idle connection in reuse order, closing expired ones met on the way.
    fn take_idle(&mut self) -> Option<usize> {
        loop {
            let id = match self.config.reuse {
                Reuse::Lifo => self.idle.pop_back(),
                Reuse::Fifo => self.idle.pop_front(),
            }?;
            let i = self.conn_index(id).expect("idle conn exists");
            let c = self.conns[i];
            if let Some(reason) = self.idle_expiry_reason(&c) {
                self.close(i, reason);
                continue;
            }
            return Some(i);
        }
    }

    fn idle_expiry_reason(&self, c: &Conn) -> Option<CloseReason> {
        #[cfg(feature = "mutations")]
        let off_by_one = self.mutation == Some(crate::mutations::Mutation::IdleTimeoutOffByOne);
        #[cfg(not(feature = "mutations"))]
        let off_by_one = false;
        if c.expires.is_some_and(|e| e <= self.now) {
            Some(CloseReason::MaxLifetime)
        } else if self.config.idle_timeout.is_some_and(|t| {
            if off_by_one {
                c.idle_since + t < self.now
            } else {
                c.idle_since + t <= self.now
            }
        }) {
            Some(CloseReason::IdleTimeout)
        } else {
            None
        }
    }

    fn keepalive_due(&self, c: &Conn) -> bool {
        matches!(
            self.config.keepalive,
            Some(k) if k.scope == KeepaliveScope::EveryIdle && c.last_io + k.interval <= self.now
        )
    }

    /// A connection goes to `w`: checked first if the policy says so (never a `fresh` one, just
    /// connected).
    fn assign(&mut self, i: usize, w: Waiter, fresh: bool) {
        let c = self.conns[i];
        let check = !fresh
            && match self.config.check_on_checkout.when {
                CheckWhen::Never => false,
                CheckWhen::Always => true,
                CheckWhen::IfIdleFor(d) => c.last_io + d <= self.now,
            };
        if check {
            self.stats.checks_started += 1;
            self.set_state(
                i,
                ConnState::Checking {
                    waiter: Some(w),
                    keepalive: false,
                },
            );
            self.emit(Output::Check {
                conn: c.id,
                how: self.config.check_on_checkout.how,
            });
        } else {
            self.set_state(i, ConnState::InUse);
            self.grant(w, c.id);
        }
    }

    fn start_ping(&mut self, i: usize) {
        self.stats.keepalive_pings += 1;
        self.set_state(
            i,
            ConnState::Checking {
                waiter: None,
                keepalive: true,
            },
        );
        let conn = self.conns[i].id;
        self.emit(Output::Check {
            conn,
            how: CheckHow::Ping,
        });
    }

    fn grant(&mut self, w: Waiter, conn: ConnId) {
        let wait = self.now.saturating_duration_since(w.acquired);
        self.stats.grants += 1;
        if wait.is_zero() {
            self.stats.grants_immediate += 1;
        } else {
            self.stats.grants_waited += 1;
        }
        self.stats.wait.record(wait);
        self.remove_live(w.req);
        self.emit(Output::Grant { req: w.req, conn });
    }

    /// Rejects a request that never became live.
    fn reject_new(&mut self, req: ReqId, reason: RejectReason) {
        self.stats.rejects[reject_index(reason)] += 1;
        self.emit(Output::Reject { req, reason });
    }

    /// Rejects a live request (already out of the queue).
    fn reject_live(&mut self, req: ReqId, reason: RejectReason) {
        self.remove_live(req);
        self.reject_new(req, reason);
    }

    fn start_connect(&mut self, for_req: Option<ReqId>) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.stats.connects_started += 1;
        self.conns.push(Conn {
            id,
            state: ConnState::Connecting {
                for_req,
                started: self.now,
            },
            expires: None,
            idle_since: self.now,
            last_io: self.now,
            epoch: 0,
        });
        self.counts.total += 1;
        self.counts.connecting += 1;
        let i = self.conns.len() - 1;
        self.arm_conn_timer(i);
        self.emit(Output::Connect { conn: id });
        id
    }

    /// A connect failed (reported, or timed out): forget it, back off, and in fail-fast mode
    /// reject the request that waited for it.
    fn connect_failed(&mut self, i: usize) {
        let ConnState::Connecting { for_req, .. } = self.conns[i].state else {
            unreachable!("connect_failed on a connecting conn")
        };
        self.stats.connects_failed += 1;
        self.forget(i);
        self.connect_failures = self.connect_failures.saturating_add(1);
        if let Some(b) = self.config.connect_backoff {
            let shift = (self.connect_failures - 1).min(32);
            let delay = b.initial.saturating_mul(1u32 << shift.min(31)).min(b.max);
            self.backoff_until = Some(self.now + delay);
        }
        if let Some(req) = for_req {
            let _ = self
                .remove_waiter(req)
                .expect("a bound connect's request is queued");
            self.reject_live(req, RejectReason::ConnectFailed);
        }
    }

    /// Emits `Close` and forgets connection `i` (which must not be in the idle list).
    fn close(&mut self, i: usize, reason: CloseReason) {
        let conn = self.conns[i].id;
        self.stats.closes[close_index(reason)] += 1;
        self.emit(Output::Close { conn, reason });
        self.forget(i);
    }

    fn forget(&mut self, i: usize) {
        let c = self.conns.remove(i);
        self.counts.total -= 1;
        match c.state {
            ConnState::Connecting { .. } => self.counts.connecting -= 1,
            ConnState::Idle => self.counts.idle -= 1,
            ConnState::InUse => self.counts.in_use -= 1,
            ConnState::Checking { .. } => self.counts.checking -= 1,
        }
    }

    fn set_state(&mut self, i: usize, state: ConnState) {
        let counts = &mut self.counts;
        let c = &mut self.conns[i];
        for (s, delta) in [(c.state, u32::MAX), (state, 1)] {
            let n = match s {
                ConnState::Connecting { .. } => &mut counts.connecting,
                ConnState::Idle => &mut counts.idle,
                ConnState::InUse => &mut counts.in_use,
                ConnState::Checking { .. } => &mut counts.checking,
            };
            *n = n.wrapping_add(delta);
        }
        c.state = state;
        c.epoch = c.epoch.wrapping_add(1);
    }

    /// Pushes the connection's next timer, if it has one in its current state, and returns
    /// its instant.
    fn arm_conn_timer(&mut self, i: usize) -> Option<Instant> {
        let c = &self.conns[i];
        let at = match c.state {
            ConnState::Connecting { started, .. } => {
                self.config.connect_timeout.map(|t| started + t)
            }
            ConnState::Idle => {
                let mut at = c.expires;
                let mut consider = |x: Option<Instant>| {
                    if let Some(x) = x {
                        at = Some(at.map_or(x, |a| a.min(x)));
                    }
                };
                consider(self.config.idle_timeout.map(|t| c.idle_since + t));
                if let Some(k) = self.config.keepalive {
                    if k.scope == KeepaliveScope::EveryIdle {
                        consider(Some(c.last_io + k.interval));
                    }
                }
                at
            }
            ConnState::InUse | ConnState::Checking { .. } => None,
        };
        if let Some(at) = at {
            self.timers.push(Reverse((at, c.id.0, c.epoch)));
        }
        at
    }

    /// Drops stale timer entries from the top of the heap (so `poll_timeout` sees a live one)
    /// and compacts the heap in place when stale entries pile up.
    fn settle_timers(&mut self) {
        let conns = &self.conns;
        let valid = |&Reverse((_, raw, epoch)): &Reverse<(Instant, u64, u32)>| {
            conns
                .binary_search_by_key(&raw, |c| c.id.0)
                .is_ok_and(|i| conns[i].epoch == epoch)
        };
        while let Some(top) = self.timers.peek() {
            if valid(top) {
                break;
            }
            self.timers.pop();
        }
        if self.timers.len() > 2 * conns.len() + 32 {
            self.timers.retain(valid);
        }
    }

    fn enqueue(&mut self, w: Waiter) {
        if self.waiters.back().is_none_or(|x| x.seq < w.seq) {
            // A new request (the common case): it goes last.
            self.waiters.push_back(w);
            if self.waiters.len() == 1 {
                self.front_bound = w.pool_bound;
            }
        } else {
            let pos = self
                .waiters
                .iter()
                .rposition(|x| x.seq < w.seq)
                .map_or(0, |p| p + 1);
            self.waiters.insert(pos, w);
            self.refresh_front_bound();
        }
        self.counts.waiters += 1;
        if let Some(d) = w.deadline {
            let k = (d, w.req);
            let p = self.deadlines.partition_point(|&x| x < k);
            self.deadlines.insert(p, k);
        }
    }

    fn pop_waiter_front(&mut self) -> Waiter {
        let w = self.waiters.pop_front().expect("caller checked non-empty");
        self.refresh_front_bound();
        self.counts.waiters -= 1;
        self.remove_deadline(&w);
        w
    }

    fn remove_waiter(&mut self, req: ReqId) -> Option<Waiter> {
        let pos = self.waiters.iter().position(|w| w.req == req)?;
        let w = self.waiters.remove(pos).expect("position is valid");
        self.refresh_front_bound();
        self.counts.waiters -= 1;
        self.remove_deadline(&w);
        Some(w)
    }

    fn refresh_front_bound(&mut self) {
        self.front_bound = self.waiters.front().and_then(|w| w.pool_bound);
    }

    fn remove_deadline(&mut self, w: &Waiter) {
        if let Some(d) = w.deadline {
            if let Ok(p) = self.deadlines.binary_search(&(d, w.req)) {
                self.deadlines.remove(p);
            }
        }
    }

    /// The waiter leaves the queue: its fail-fast connect (if any) goes on unbound, and the
    /// waiter forgets it (it may come back to the queue after a failed checkout check).
    fn unbind_connect(&mut self, w: &mut Waiter) {
        if let Some(conn) = w.connect.take() {
            if let Some(i) = self.conn_index(conn) {
                if let ConnState::Connecting { for_req, .. } = &mut self.conns[i].state {
                    *for_req = None;
                }
            }
        }
    }

    fn remove_live(&mut self, req: ReqId) {
        self.live.remove(req);
    }

    fn remove_idle_entry(&mut self, conn: ConnId) {
        if let Some(p) = self.idle.iter().position(|&c| c == conn) {
            self.idle.remove(p);
        }
    }

    /// A canonical key of everything that decides the pool's future behaviour, for the
    /// explorer's visited set: times relative to `now` (the explorer's clock, not earlier than
    /// the pool's; past ones as 0), connections renamed
    /// by rank (creation order), requests by rank among live ones (arrival order when the
    /// caller numbers them increasingly), statistics left out, the back-off failure count
    /// capped where the delay saturates.
    ///
    /// Public for explorers built on top of the pool (poolsim's world explorer hashes it
    /// with the rest of its state).
    pub fn canonical_key(&self, now: Instant, out: &mut Vec<u64>) {
        let rel = |t: Instant| t.as_nanos().saturating_sub(now.as_nanos());
        let opt = |t: Option<Instant>| t.map_or(u64::MAX, rel);
        let req_rank = |r: ReqId| self.live.rank(r).map_or(u64::MAX - 1, |i| i as u64);
        let conn_rank = |c: ConnId| self.conn_index(c).map_or(u64::MAX - 1, |i| i as u64);
        let waiter = |w: &Waiter, out: &mut Vec<u64>| {
            out.push(req_rank(w.req));
            out.push(opt(w.pool_bound));
            out.push(opt(w.deadline));
            out.push(w.connect.map_or(u64::MAX, conn_rank));
        };
        out.push(
            u64::from(self.closed)
                | u64::from(self.started) << 1
                | u64::from(self.last_was_timeout) << 2,
        );
        out.push(self.conns.len() as u64);
        for c in &self.conns {
            match c.state {
                ConnState::Connecting { for_req, started } => {
                    out.push(0);
                    out.push(for_req.map_or(u64::MAX, req_rank));
                    out.push(opt(self.config.connect_timeout.map(|t| started + t)));
                }
                ConnState::Idle => out.push(1),
                ConnState::InUse => out.push(2),
                ConnState::Checking {
                    waiter: w,
                    keepalive,
                } => {
                    out.push(3 + u64::from(keepalive));
                    if let Some(w) = w {
                        waiter(&w, out);
                        out.push(self.waiters.iter().filter(|x| x.seq < w.seq).count() as u64);
                    } else {
                        out.push(u64::MAX);
                    }
                }
            }
            out.push(opt(c.expires));
            if matches!(c.state, ConnState::Idle | ConnState::Checking { .. }) {
                out.push(opt(self.config.idle_timeout.map(|t| c.idle_since + t)));
            }
            if c.state == ConnState::Idle {
                if let CheckWhen::IfIdleFor(d) = self.config.check_on_checkout.when {
                    out.push(rel(c.last_io + d));
                }
                if let Some(k) = self.config.keepalive {
                    if k.scope == KeepaliveScope::EveryIdle {
                        out.push(rel(c.last_io + k.interval));
                    }
                }
            }
        }
        out.push(self.idle.len() as u64);
        out.extend(self.idle.iter().map(|&c| conn_rank(c)));
        out.push(self.waiters.len() as u64);
        for w in &self.waiters {
            waiter(w, out);
        }
        out.push(opt(self.next_keepalive));
        out.push(opt(self.backoff_until));
        out.push(opt(self.wake_at));
        let cap = self.config.connect_backoff.map_or(0, |b| {
            let mut k = 1;
            while k < 40 && b.initial.saturating_mul(1 << (k - 1)) < b.max {
                k += 1;
            }
            k
        });
        out.push(u64::from(self.connect_failures.min(cap)));
    }

    pub(crate) fn conn_index(&self, conn: ConnId) -> Option<usize> {
        // `conns` is sorted by id and ids are handed out in increasing order, so while no
        // connection but the oldest ones closed, the index is the distance from the first id:
        // one probe instead of a binary search over entries the other thread of a contended
        // driver has just written.
        let first = self.conns.first()?.id.0;
        if let Some(g) = conn
            .0
            .checked_sub(first)
            .and_then(|d| usize::try_from(d).ok())
        {
            if self.conns.get(g).is_some_and(|c| c.id == conn) {
                return Some(g);
            }
        }
        self.conns.binary_search_by_key(&conn, |c| c.id).ok()
    }

    fn emit(&mut self, out: Output) {
        self.outputs.push_back(out);
    }
}

pub(crate) fn reject_index(reason: RejectReason) -> usize {
    RejectReason::ALL
        .iter()
        .position(|&r| r == reason)
        .expect("ALL lists every reason")
}

pub(crate) fn close_index(reason: CloseReason) -> usize {
    CloseReason::ALL
        .iter()
        .position(|&r| r == reason)
        .expect("ALL lists every reason")
}
