//! The synchronous heart of the driver: pool-core, the waiter slots and the idle connection
//! objects behind one `crate::sync` mutex.
//!
//! [`SyncCore`] does no I/O, spawns nothing and reads no clock of its own (the `_with`
//! methods call the caller's clock closure, at most once, and only when pool-core needs the
//! time). Each method is one mutation:
//! it clamps `now` so time never goes backwards, feeds pool-core one [`Input`], drains every
//! [`Output`] under the lock and turns it into bookkeeping (a grant to a queued request takes
//! the connection object and the request's slot out of the core's tables), releases the lock,
//! writes the decisions into the requests' slots (each under the slot's own lock), and returns
//! [`Actions`] for the caller to perform: wake these waiters, open these connections, check
//! these, drop these, re-arm the timer. The async [`crate::Pool`] is a thin shell that performs the actions with tokio; the
//! loom models in `tests/loom.rs` perform them inline from loom threads, so the code that loom
//! checks is the code that runs.
//!
//! # Where a connection object lives
//!
//! | pool-core's view | the object is |
//! |---|---|
//! | idle | in `SyncCore`'s idle map |
//! | connecting | not created yet (the connect task makes it) |
//! | checking | owned by the check task ([`Actions::checks`]) |
//! | granted to a queued request, not yet delivered | in flight: held by the thread that made the decision, between releasing the core lock and writing the slot |
//! | granted, not yet seen by its request | in the request's slot |
//! | in use | owned by the user's guard ([`crate::Pooled`]) |
//! | closed | in [`Actions::closes`], dropped by the caller outside the lock |
//!
//! When a connection comes back (release, connect done, check done) it is put into the idle
//! map *before* pool-core hears of it, so whatever pool-core decides in the same step (grant it
//! to a waiter, check it, close it) finds the object there.
//!
//! # Requests and cancellation
//!
//! A request's [`ReqId`] is the index of its slot in a small slab (ids are reused only after
//! pool-core has finished the request, as pool-core allows). [`SyncCore::abandon`] is what a
//! dropped `get()` future calls, whatever point it was dropped at: a still-waiting request is
//! cancelled in pool-core; a request that was granted but never saw its grant gives the
//! connection back as healthy (it was never used), so it is neither lost (bb8 #67, mobc #63)
//! nor counted in use forever. A request whose grant is in flight is marked abandoned in its
//! slot; the thread delivering the grant finds the mark and gives the connection back itself.
//!
//! # Why decisions are delivered after the lock
//!
//! The slot of a served waiter was last written by the waiter's thread; writing it under the
//! core lock made every release pay a cache miss while the other threads waited for that lock.
//! Deciding under the lock and delivering after it keeps the core lock's hold to pool-core and
//! the tables. The cost is the in-flight state above, which the loom models
//! `cancel_vs_grant_never_leaks` and `abandoned_in_flight_grant_serves_the_next_waiter` check
//! (both assert that some execution reached it).

use crate::PoolError;
use crate::sync::{Arc, Mutex, lock};
use pool_core::{
    CheckHow, CloseReason, ConfigError, ConnId, ConnectError, Input, Instant, Output, PoolState,
    ReleaseOutcome, ReqId, Stats,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

/// A "cannot happen" check: panics in debug builds and under loom (whose models run in release
/// mode); in release builds the code after it recovers instead.
macro_rules! bug_check {
    ($cond:expr, $($arg:tt)+) => {
        if cfg!(any(loom, debug_assertions)) {
            assert!($cond, $($arg)+);
        }
    };
}

/// Work the caller must do after a [`SyncCore`] call returned, outside any lock.
///
/// Dropping an `Actions` without performing it loses wake-ups and leaks connects: every field
/// must be handled.
#[must_use = "the actions must be performed: wake the wakers, open and check the connections"]
#[derive(Debug)]
pub struct Actions<C> {
    /// Open these connections; report [`SyncCore::connected`] or [`SyncCore::connect_failed`].
    pub connects: Vec<ConnId>,
    /// Check these connections (the object is handed over); report [`SyncCore::check_done`].
    pub checks: Vec<(ConnId, CheckHow, C)>,
    /// Wake these waiters (their slot has been filled).
    pub wakes: Wakers,
    /// pool-core closed these connections. Drop the object if there is one; with `None` the
    /// connection was connecting (or being checked): abort the connect if it is still running
    /// (its late report is refused and the object dropped anyway). The reason is pool-core's,
    /// except for an object reported after pool-core forgot its id (a connect finishing after
    /// its connect timeout, a check finishing after shutdown), listed as `Shutdown`.
    pub closes: Vec<(ConnId, CloseReason, Option<C>)>,
    /// pool-core's next timeout moved earlier than the instant the timer sleeps until: wake
    /// the timer so it calls [`SyncCore::arm_timer`] again.
    pub timer_changed: bool,
}

impl<C> Default for Actions<C> {
    fn default() -> Self {
        Self {
            connects: Vec::new(),
            checks: Vec::new(),
            wakes: Wakers::default(),
            closes: Vec::new(),
            timer_changed: false,
        }
    }
}

impl<C> Actions<C> {
    /// Nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.connects.is_empty()
            && self.checks.is_empty()
            && self.wakes.is_empty()
            && self.closes.is_empty()
            && !self.timer_changed
    }

    /// Wakes every waker (the one action that needs nothing but the wakers).
    pub fn wake_all(&mut self) {
        self.wakes.wake_all();
    }
}

/// Wakers to wake after the lock is released. The first is kept inline: a release usually
/// wakes exactly one waiter, and this keeps that path free of allocation.
#[derive(Debug, Default)]
pub struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakers {
    /// Adds a waker.
    pub fn push(&mut self, w: Waker) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    /// No waker.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// How many wakers.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Wakes and removes every waker.
    pub fn wake_all(&mut self) {
        if let Some(w) = self.first.take() {
            w.wake();
        }
        for w in self.rest.drain(..) {
            w.wake();
        }
    }
}

/// A decision on its way to a queued request's slot.
type Delivery<C> = (Arc<Mutex<Slot<C>>>, Slot<C>);

/// Decisions to deliver after the core lock is released; the first kept inline (a release
/// usually serves exactly one waiter).
#[derive(Debug)]
struct Deliveries<C> {
    first: Option<Delivery<C>>,
    rest: Vec<Delivery<C>>,
}

impl<C> Default for Deliveries<C> {
    fn default() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<C> Deliveries<C> {
    fn push(&mut self, d: Delivery<C>) {
        if self.first.is_none() {
            self.first = Some(d);
        } else {
            self.rest.push(d);
        }
    }

    fn pop(&mut self) -> Option<Delivery<C>> {
        self.first.take().or_else(|| self.rest.pop())
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

/// What [`SyncCore::acquire`] did with a request.
#[derive(Debug)]
pub enum Acquire<C> {
    /// Decided at once: a connection, or pool-core's refusal.
    Ready(Result<(ConnId, C), PoolError>),
    /// Queued (or waiting on a connect or a check). Poll it with [`SyncCore::poll_request`];
    /// if the caller gives up, it must call [`SyncCore::abandon`].
    Queued(Ticket<C>),
}

/// The driver's own counters (pool-core counts everything else).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// Requests abandoned while still waiting (cancelled in pool-core).
    pub abandoned_waiting: u64,
    /// Requests abandoned after their grant and before they saw it (connection released as
    /// healthy: the bb8 #67 window).
    pub abandoned_granted: u64,
    /// Requests abandoned after their refusal and before they saw it.
    pub abandoned_rejected: u64,
    /// Of the abandoned granted or refused requests, those abandoned while the decision was
    /// on its way to their slot (decided under the core lock, not yet delivered): the thread
    /// delivering it found the slot abandoned and handed the decision back itself.
    pub abandoned_in_flight: u64,
    /// Times pool-core's timer was found re-armed for an instant it had just handled (a bug
    /// in pool-core: `Pool::timer_stuck`). The driver does not feed that instant again (it
    /// would spin); debug builds and loom assert instead.
    pub timers_stuck: u64,
}

/// The state of one queued request, shared between the core and the request's [`Ticket`]
/// (which reads it under the slot's own lock only, so a woken waiter does not contend on the
/// core lock). pool-core decides the request under the core lock, which takes the slot out of
/// the core's table (the slot is then "in flight"); the decision is written into the slot after
/// the core lock is released, so the releasing thread does not pull the slot's cache line (last
/// written by the waiter's thread) while every other thread waits for the core lock.
/// Lock order: core, then slot (`abandon`); the deliverer takes the slot lock alone.
#[derive(Debug)]
enum Slot<C> {
    /// Live in pool-core; the waker of the last poll, if it was polled.
    Waiting(Option<Waker>),
    /// pool-core granted this connection; the request has not seen it yet.
    Granted(ConnId, C),
    /// pool-core refused the request; the request has not seen it yet.
    Rejected(PoolError),
    /// The request saw its decision, or was abandoned.
    Finished,
    /// Abandoned while its decision was in flight: whoever delivers the decision finds this
    /// and hands the decision back (a granted connection is released as healthy).
    Abandoned,
}

impl<C> Slot<C> {
    /// The state's name, for "cannot happen" messages (`C` need not be `Debug`).
    fn name(&self) -> &'static str {
        match self {
            Self::Waiting(_) => "Waiting",
            Self::Granted(..) => "Granted",
            Self::Rejected(_) => "Rejected",
            Self::Finished => "Finished",
            Self::Abandoned => "Abandoned",
        }
    }
}

/// A queued request: its id and its slot. Poll it with [`SyncCore::poll_request`]; if the
/// caller gives up, hand it to [`SyncCore::abandon`].
#[derive(Debug)]
pub struct Ticket<C> {
    req: ReqId,
    slot: Arc<Mutex<Slot<C>>>,
}

impl<C> Ticket<C> {
    /// The request's id in pool-core.
    #[must_use]
    pub fn req(&self) -> ReqId {
        self.req
    }
}

/// What is being decided for the request that `acquire` is handling right now (its slot does
/// not exist yet: most requests are decided at once and never need one).
#[derive(Debug)]
struct Current<C> {
    idx: usize,
    decided: Option<Slot<C>>,
}

/// Aligned to 128 bytes so that the mutex's lock word, which a waiting thread hammers, is not
/// on a cache line with the state the holder works on.
#[derive(Debug)]
#[repr(align(128))]
struct Inner<C> {
    pool: pool_core::Pool,
    /// Slots of queued requests; the index is the request's `ReqId`. `None` while free or
    /// while the index is reserved by `acquire`.
    slots: Vec<Option<Arc<Mutex<Slot<C>>>>>,
    /// Free indices, reused last-in first-out.
    free: Vec<usize>,
    /// The request `acquire` is feeding to pool-core.
    current: Option<Current<C>>,
    /// Decisions for queued requests, made under the core lock; taken out with
    /// [`Inner::take_outbox`] and written into the requests' slots after the lock is released.
    outbox: Deliveries<C>,
    /// Connection objects pool-core holds idle, keyed by `ConnId`.
    idle: IdleObjects<C>,
    /// The latest `now` fed to pool-core (inputs are clamped to it).
    last_now: Instant,
    /// The instant the timer sleeps until, as far as we told it.
    timer_at: Option<Instant>,
    /// The message of the most recent failed connect (for `PoolError::ConnectFailed`).
    last_connect_error: Option<String>,
    /// Inputs produced while draining outputs (a check of a connection we do not hold).
    pending: VecDeque<Input>,
    driver_stats: DriverStats,
    /// Sees every pool-core output as it is applied (simulations trace connects, grants,
    /// rejects and closes with it). `None` costs one branch per output.
    observer: ObserverCell,
    /// Drains done: changes whenever pool-core may have changed (every input is drained).
    generation: u64,
}

/// A callback that sees every pool-core output, with the instant it was decided at, under the
/// core lock (so it must be quick and must not call back into the pool).
pub type Observer = Box<dyn FnMut(Instant, &Output) + Send>;

/// The installed [`Observer`], if any (its `Debug` shows only whether there is one).
#[derive(Default)]
struct ObserverCell(Option<Observer>);

impl std::fmt::Debug for ObserverCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// The idle connection objects, keyed by `ConnId`: the most recently inserted one kept
/// aside, the others in a `BTreeMap`. A released connection is usually taken again by the
/// very next decision (handed to a waiter in the same call, or to the next checkout of an
/// uncontended pool), which then touches neither the map nor the allocator.
#[derive(Debug)]
struct IdleObjects<C> {
    last: Option<(u64, C)>,
    rest: BTreeMap<u64, C>,
}

impl<C> Default for IdleObjects<C> {
    fn default() -> Self {
        Self {
            last: None,
            rest: BTreeMap::new(),
        }
    }
}

impl<C> IdleObjects<C> {
    /// Inserts (replacing an object with the same id, as a map does).
    fn insert(&mut self, id: u64, c: C) {
        match self.last.replace((id, c)) {
            Some((old, _)) if old == id => {}
            Some((old, oc)) => {
                self.rest.insert(old, oc);
                // A key is in at most one of the two places.
                self.rest.remove(&id);
            }
            None => {
                self.rest.remove(&id);
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<C> {
        match self.last.take() {
            Some((k, c)) if k == id => Some(c),
            other => {
                self.last = other;
                self.rest.remove(&id)
            }
        }
    }

    fn len(&self) -> usize {
        self.rest.len() + usize::from(self.last.is_some())
    }

    /// Every object with its id, in id order.
    fn iter(&self) -> impl Iterator<Item = (u64, &C)> {
        let mut all: Vec<(u64, &C)> = self.rest.iter().map(|(k, c)| (*k, c)).collect();
        if let Some((k, c)) = &self.last {
            all.push((*k, c));
        }
        all.sort_by_key(|e| e.0);
        all.into_iter()
    }
}

/// pool-core plus the driver's waiter slots and idle connection objects, behind one mutex.
/// See the [module documentation](self).
#[derive(Debug)]
pub struct SyncCore<C: Send> {
    inner: Mutex<Inner<C>>,
    hints: ClockHints,
    slots: SlotCache<C>,
}

/// Finished waiter slots kept per thread for the next request that queues on that thread, so
/// a contended pool does not allocate (and free, often on the other worker) a slot per queued
/// request, and the slot reused is in this core's cache. A slot is cached only when nothing else
/// refers to it (`Arc::get_mut`), so reusing one cannot alias a live request. An allocation
/// cache only: under loom it is empty and every slot is new.
struct SlotCache<C: Send> {
    #[cfg(not(loom))]
    per_thread: thread_local::ThreadLocal<std::cell::RefCell<Vec<SlotRef<C>>>>,
    #[cfg(loom)]
    _none: std::marker::PhantomData<C>,
}

type SlotRef<C> = Arc<Mutex<Slot<C>>>;

/// Slots cached per thread.
#[cfg(not(loom))]
const SLOTS_PER_THREAD: usize = 8;

impl<C: Send> SlotCache<C> {
    fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            per_thread: thread_local::ThreadLocal::new(),
            #[cfg(loom)]
            _none: std::marker::PhantomData,
        }
    }

    /// A slot in state `Waiting(waker)`: a cached one, or a new one.
    fn waiting(&self, waker: Option<&Waker>) -> SlotRef<C> {
        #[cfg(not(loom))]
        if let Some(mut slot) = self.per_thread.get().and_then(|c| c.borrow_mut().pop()) {
            if let Some(m) = Arc::get_mut(&mut slot) {
                *m.get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Slot::Waiting(waker.cloned());
                return slot;
            }
        }
        Arc::new(Mutex::new(Slot::Waiting(waker.cloned())))
    }

    /// Keeps `slot` for reuse on this thread if nothing else refers to it; drops it otherwise.
    fn recycle(&self, slot: SlotRef<C>) {
        #[cfg(not(loom))]
        {
            let mut slot = slot;
            if let Some(m) = Arc::get_mut(&mut slot) {
                // Drop what it held now, not when it is reused.
                *m.get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Slot::Finished;
                let cache = self
                    .per_thread
                    .get_or(|| std::cell::RefCell::new(Vec::with_capacity(SLOTS_PER_THREAD)));
                let mut cache = cache.borrow_mut();
                if cache.len() < SLOTS_PER_THREAD {
                    cache.push(slot);
                }
            }
        }
        #[cfg(loom)]
        drop(slot);
    }
}

impl<C: Send> std::fmt::Debug for SlotCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotCache").finish_non_exhaustive()
    }
}

/// Whether the next acquire / release will probably not need the clock (pool-core's answer
/// after the last acquire or release). Only a hint: it decides whether the caller's clock is
/// read before the lock is taken (the hint says the clock is needed) or, if still needed,
/// under it; pool-core's own answer under the lock decides what is fed. Plain `std` atomics
/// even under loom: no decision depends on them, only where the clock is read. On a cache line
/// of their own: they are read before the lock is taken, and must not share a line with state
/// the lock holder writes on every call.
#[derive(Debug, Default)]
#[repr(align(128))]
struct ClockHints {
    acquire_clock_free: AtomicBool,
    release_clock_free: AtomicBool,
}

impl ClockHints {
    /// Stores pool-core's answers (taken under the lock with [`HintValues::of`], stored after
    /// it is released), writing only on change, so a contended pool whose answer stays `false`
    /// does not bounce the cache line.
    fn update(&self, v: HintValues) {
        let set = |flag: &AtomicBool, v: bool| {
            if flag.load(Relaxed) != v {
                flag.store(v, Relaxed);
            }
        };
        set(&self.acquire_clock_free, v.acquire_clock_free);
        set(&self.release_clock_free, v.release_clock_free);
    }
}

/// pool-core's clock-free answers at the end of a call, for [`ClockHints::update`].
#[derive(Clone, Copy, Debug)]
struct HintValues {
    acquire_clock_free: bool,
    release_clock_free: bool,
}

impl HintValues {
    fn of(pool: &pool_core::Pool) -> Self {
        Self {
            acquire_clock_free: pool.acquire_is_clock_free(None),
            release_clock_free: pool.release_is_clock_free(),
        }
    }
}

impl<C: Send> SyncCore<C> {
    /// Builds the core over a pool-core pool with `config`.
    pub fn new(config: pool_core::Config) -> Result<Self, ConfigError> {
        let pool = pool_core::Pool::new(config)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                pool,
                slots: Vec::new(),
                free: Vec::new(),
                current: None,
                outbox: Deliveries::default(),
                idle: IdleObjects::default(),
                last_now: Instant::ZERO,
                timer_at: None,
                last_connect_error: None,
                pending: VecDeque::new(),
                driver_stats: DriverStats::default(),
                observer: ObserverCell(None),
                generation: 0,
            }),
            hints: ClockHints::default(),
            slots: SlotCache::new(),
        })
    }

    /// A request for a connection at `now`, with the caller's own `deadline`. `waker`, if
    /// given, is stored in the slot when the request is queued (saving the first
    /// [`SyncCore::poll_request`]).
    pub fn acquire(
        &self,
        now: Instant,
        deadline: Option<Instant>,
        waker: Option<&Waker>,
    ) -> (Acquire<C>, Actions<C>) {
        self.acquire_with(|| now, deadline, waker)
    }

    /// As [`SyncCore::acquire`], reading the time from `clock` only if pool-core needs it
    /// (see [`pool_core::Pool::acquire_is_clock_free`]; otherwise the request is fed at the
    /// latest instant pool-core has seen, which gives the same decision). `clock` is called at
    /// most once, before the lock is taken when the hint from the previous call says it will be
    /// needed, under the lock otherwise.
    pub fn acquire_with(
        &self,
        clock: impl FnOnce() -> Instant,
        deadline: Option<Instant>,
        waker: Option<&Waker>,
    ) -> (Acquire<C>, Actions<C>) {
        let mut acts = Actions::default();
        let mut clock = Some(clock);
        // Not clock-free: probably contended, so the request will probably queue. Then the
        // clock is read and the request's slot made (from this thread's slot cache, holding a
        // clone of the waker) before the lock is taken, which keeps the lock hold short.
        let (early, mut early_slot) = if self.hints.acquire_clock_free.load(Relaxed) {
            (None, None)
        } else {
            (clock.take().map(|f| f()), Some(self.slots.waiting(waker)))
        };
        let mut inner = lock(&self.inner);
        let now = match (early, clock) {
            (Some(t), _) => inner.clamp(t),
            (None, Some(f)) => {
                if inner.pool.acquire_is_clock_free(deadline) {
                    inner.last_now
                } else {
                    inner.clamp(f())
                }
            }
            (None, None) => inner.last_now,
        };
        let idx = inner.reserve_index();
        let req = ReqId(idx as u64);
        inner.current = Some(Current { idx, decided: None });
        if let Err(e) = inner.pool.handle(now, Input::Acquire { req, deadline }) {
            // Cannot happen: the index is not live in pool-core (it is freed only after
            // pool-core finished the request). Refuse rather than hang.
            bug_check!(false, "pool-core refused Acquire {req}: {e}");
            inner.current = None;
            inner.free.push(idx);
            return (Acquire::Ready(Err(PoolError::Closed)), acts);
        }
        inner.drain(now, &mut acts);
        let decided = inner.current.take().and_then(|c| c.decided);
        let result = match decided {
            Some(Slot::Granted(conn, c)) => {
                inner.free.push(idx);
                Acquire::Ready(Ok((conn, c)))
            }
            Some(Slot::Rejected(e)) => {
                inner.free.push(idx);
                Acquire::Ready(Err(e))
            }
            Some(Slot::Waiting(_) | Slot::Finished | Slot::Abandoned) | None => {
                // Made under the lock only when the hint expected an immediate grant.
                let slot = early_slot
                    .take()
                    .unwrap_or_else(|| self.slots.waiting(waker));
                inner.slots[idx] = Some(Arc::clone(&slot));
                Acquire::Queued(Ticket { req, slot })
            }
        };
        let hints = HintValues::of(&inner.pool);
        let out = inner.take_outbox();
        drop(inner);
        self.hints.update(hints);
        if let Some(slot) = early_slot {
            self.slots.recycle(slot);
        }
        self.deliver(now, out, &mut acts);
        (result, acts)
    }

    /// Polls a queued request: `Ready` once pool-core granted or refused it, `Pending`
    /// otherwise (the waker is stored). Takes only the slot's lock, not the core's.
    ///
    /// # Panics
    /// If the ticket already returned `Ready` (a caller bug).
    pub fn poll_request(
        &self,
        ticket: &Ticket<C>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(ConnId, C), PoolError>> {
        let mut slot = lock(&ticket.slot);
        match &mut *slot {
            Slot::Waiting(w) => {
                match w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Granted(..) | Slot::Rejected(_) => {
                match std::mem::replace(&mut *slot, Slot::Finished) {
                    Slot::Granted(conn, c) => Poll::Ready(Ok((conn, c))),
                    Slot::Rejected(e) => Poll::Ready(Err(e)),
                    // Just matched.
                    Slot::Waiting(_) | Slot::Finished | Slot::Abandoned => unreachable!(),
                }
            }
            Slot::Finished | Slot::Abandoned => {
                panic!("poll_request: {} already finished", ticket.req)
            }
        }
    }

    /// Hands back a ticket whose [`SyncCore::poll_request`] returned `Ready`, so its slot can
    /// serve a later request on this thread (dropping the ticket instead is correct too, it
    /// just frees the slot).
    pub fn finish(&self, ticket: Ticket<C>) {
        self.slots.recycle(ticket.slot);
    }

    /// The caller gave up on its request (its future was dropped) at `now`. Safe at any point
    /// of the request's life: a waiting request is cancelled in pool-core; a granted one the
    /// caller never saw is released as healthy; a refused or finished one is forgotten.
    pub fn abandon(&self, now: Instant, ticket: Ticket<C>) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        let req = ticket.req;
        let idx = usize::try_from(req.0).unwrap_or(usize::MAX);
        // Still in the core's table: pool-core has not decided it (deciding takes it out, under
        // this lock). The index may have been reused by another request since, hence the
        // pointer comparison.
        let undecided = inner
            .slots
            .get(idx)
            .and_then(Option::as_ref)
            .is_some_and(|s| Arc::ptr_eq(s, &ticket.slot));
        if undecided {
            inner.slots[idx] = None;
            inner.free.push(idx);
            // Lock order: core, then slot.
            let state = std::mem::replace(&mut *lock(&ticket.slot), Slot::Finished);
            bug_check!(
                matches!(state, Slot::Waiting(_)),
                "undecided {req} in state {}",
                state.name()
            );
            inner.driver_stats.abandoned_waiting += 1;
            let r = inner.pool.handle(now, Input::Cancel { req });
            bug_check!(r.is_ok(), "pool-core refused Cancel {req}: {r:?}");
            inner.drain(now, &mut acts);
        } else {
            // Decided: delivered already, or still in flight (then the deliverer, which takes
            // the slot lock after this, finds `Abandoned` and hands the decision back).
            let mut slot = lock(&ticket.slot);
            match std::mem::replace(&mut *slot, Slot::Finished) {
                Slot::Waiting(_) => *slot = Slot::Abandoned,
                Slot::Finished => {}
                Slot::Abandoned => bug_check!(false, "{req} abandoned twice"),
                Slot::Rejected(_) => inner.driver_stats.abandoned_rejected += 1,
                Slot::Granted(conn, c) => {
                    drop(slot);
                    inner.driver_stats.abandoned_granted += 1;
                    inner.hand_back_grant(now, conn, c, &mut acts);
                }
            }
        }
        let out = inner.take_outbox();
        drop(inner);
        self.slots.recycle(ticket.slot);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// Writes the decisions in `acts` into their slots (outside the core lock), collecting the
    /// waiters' wakers. A slot found abandoned gets its decision handed back under the core
    /// lock, which may decide other requests: repeated until nothing is left to deliver.
    ///
    /// `todo` is `None` when there is nothing to deliver (the uncontended case), so that case
    /// moves no `Deliveries` around.
    #[inline]
    fn deliver(&self, now: Instant, todo: Option<Deliveries<C>>, acts: &mut Actions<C>) {
        if let Some(todo) = todo {
            self.deliver_slow(now, todo, acts);
        }
    }

    fn deliver_slow(&self, now: Instant, mut todo: Deliveries<C>, acts: &mut Actions<C>) {
        let mut handed_back = Vec::new();
        loop {
            while let Some((slot, decided)) = todo.pop() {
                let mut s = lock(&slot);
                match std::mem::replace(&mut *s, Slot::Finished) {
                    Slot::Waiting(w) => {
                        *s = decided;
                        drop(s);
                        if let Some(w) = w {
                            acts.wakes.push(w);
                        }
                    }
                    Slot::Abandoned => {
                        drop(s);
                        handed_back.push(decided);
                    }
                    other @ (Slot::Granted(..) | Slot::Rejected(_) | Slot::Finished) => {
                        bug_check!(
                            false,
                            "a decision delivered to a slot in state {}",
                            other.name()
                        );
                        *s = other;
                    }
                }
            }
            if handed_back.is_empty() {
                return;
            }
            let mut inner = lock(&self.inner);
            let now = inner.clamp(now);
            for decided in handed_back.drain(..) {
                inner.driver_stats.abandoned_in_flight += 1;
                match decided {
                    Slot::Granted(conn, c) => {
                        inner.driver_stats.abandoned_granted += 1;
                        inner.hand_back_grant(now, conn, c, acts);
                    }
                    Slot::Rejected(_) => inner.driver_stats.abandoned_rejected += 1,
                    Slot::Waiting(_) | Slot::Finished | Slot::Abandoned => {
                        bug_check!(false, "delivered a non-decision {}", decided.name());
                    }
                }
            }
            match inner.take_outbox() {
                Some(more) => todo = more,
                None => return,
            }
        }
    }

    /// A granted connection comes back at `now`. With [`ReleaseOutcome::Broken`] pool-core
    /// closes it (the object comes back in [`Actions::closes`]) and, if requests are waiting,
    /// asks for a replacement.
    pub fn release(&self, now: Instant, conn: ConnId, c: C, outcome: ReleaseOutcome) -> Actions<C> {
        self.release_with(|| now, conn, c, outcome)
    }

    /// As [`SyncCore::release`], reading the time from `clock` only if pool-core needs it (see
    /// [`pool_core::Pool::release_is_clock_free`] and [`SyncCore::acquire_with`]).
    pub fn release_with(
        &self,
        clock: impl FnOnce() -> Instant,
        conn: ConnId,
        c: C,
        outcome: ReleaseOutcome,
    ) -> Actions<C> {
        let mut acts = Actions::default();
        let mut clock = Some(clock);
        let early = if self.hints.release_clock_free.load(Relaxed) {
            None
        } else {
            clock.take().map(|f| f())
        };
        let mut inner = lock(&self.inner);
        let now = match (early, clock) {
            (Some(t), _) => inner.clamp(t),
            (None, Some(f)) => {
                if inner.pool.release_is_clock_free() {
                    inner.last_now
                } else {
                    inner.clamp(f())
                }
            }
            (None, None) => inner.last_now,
        };
        inner.give_back(now, conn, c, outcome, &mut acts);
        let hints = HintValues::of(&inner.pool);
        let out = inner.take_outbox();
        drop(inner);
        self.hints.update(hints);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// The connect asked for by [`Actions::connects`] succeeded with `c`.
    pub fn connected(&self, now: Instant, conn: ConnId, c: C) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        inner.feed_with_conn(now, conn, c, Input::Connected { conn }, false, &mut acts);
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// The connect asked for by [`Actions::connects`] failed; `message` is kept for
    /// [`PoolError::ConnectFailed`].
    pub fn connect_failed(
        &self,
        now: Instant,
        conn: ConnId,
        error: ConnectError,
        message: String,
    ) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        inner.last_connect_error = Some(message);
        // An error means pool-core already forgot the connect (closed on connect timeout).
        let _ = inner.pool.handle(now, Input::ConnectFailed { conn, error });
        inner.drain(now, &mut acts);
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// The check asked for by [`Actions::checks`] finished; `c` comes back either way.
    pub fn check_done(&self, now: Instant, conn: ConnId, c: C, passed: bool) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        let input = if passed {
            Input::CheckPassed { conn }
        } else {
            Input::CheckFailed { conn }
        };
        inner.feed_with_conn(now, conn, c, input, !passed, &mut acts);
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// The caller saw, outside any check, that the server closed idle connection `conn`.
    pub fn peer_closed(&self, now: Instant, conn: ConnId) -> Actions<C> {
        self.simple(now, Input::PeerClosed { conn })
    }

    /// Closes, at `now`, every idle connection whose object `evict` says yes to
    /// ([`Input::Evict`], closed with `CloseReason::Evicted`); returns how many, and the
    /// actions (the closed objects among them). In-use, connecting and checking connections
    /// are not looked at.
    pub fn evict_idle_where(
        &self,
        now: Instant,
        mut evict: impl FnMut(&C) -> bool,
    ) -> (usize, Actions<C>) {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        let ids: Vec<u64> = inner
            .idle
            .iter()
            .filter(|(_, c)| evict(c))
            .map(|(id, _)| id)
            .collect();
        for &id in &ids {
            // Idle under the lock just now: accepted.
            let _ = inner.pool.handle(now, Input::Evict { conn: ConnId(id) });
            inner.drain(now, &mut acts);
        }
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        (ids.len(), acts)
    }

    /// Calls `f` with the id and object of every idle connection, in id order, under the core
    /// lock (keep it quick; do not call the pool from it).
    pub fn for_each_idle(&self, mut f: impl FnMut(ConnId, &C)) {
        let inner = lock(&self.inner);
        for (id, c) in inner.idle.iter() {
            f(ConnId(id), c);
        }
    }

    /// The timer fired at `now` (early calls are harmless).
    pub fn timeout(&self, now: Instant) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        let _ = inner.pool.handle(now, Input::Timeout);
        inner.drain(now, &mut acts);
        let stuck = inner.pool.timer_stuck();
        bug_check!(
            stuck.is_none(),
            "pool-core re-armed its timer for {stuck:?}, an instant it just handled at {now}"
        );
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        acts
    }

    /// Shuts the pool down: waiters are refused with `Closed`, idle connections closed, in-use
    /// ones closed when released, new requests refused.
    pub fn shutdown(&self, now: Instant) -> Actions<C> {
        self.simple(now, Input::Shutdown)
    }

    /// The instant the timer must next call [`SyncCore::timeout`] (`None`: nothing scheduled;
    /// sleep until an action sets `timer_changed`). Records it as the instant the timer sleeps
    /// until.
    pub fn arm_timer(&self) -> Option<Instant> {
        let mut inner = lock(&self.inner);
        let mut t = inner.pool.poll_timeout();
        if inner.pool.timer_stuck().is_some() {
            // A timer re-armed for an instant pool-core just handled: feeding it again would
            // spin forever. Sleep until the next input moves the timer instead.
            inner.driver_stats.timers_stuck += 1;
            t = None;
        }
        inner.timer_at = t;
        t
    }

    /// Installs (or removes) the [`Observer`] that sees every pool-core output from now on.
    pub fn set_observer(&self, observer: Option<Observer>) {
        lock(&self.inner).observer = ObserverCell(observer);
    }

    /// Runs `f` on pool-core's state machine under the core lock, between two mutations (for
    /// invariant checks and tools: `pool_core::invariants::check`).
    pub fn inspect<R>(&self, f: impl FnOnce(&pool_core::Pool) -> R) -> R {
        f(&lock(&self.inner).pool)
    }

    /// Plants (or with `None` removes) one of pool-core's deliberate bugs. Test-only (feature
    /// `mutations`).
    #[cfg(feature = "mutations")]
    pub fn set_mutation(&self, m: Option<pool_core::mutations::Mutation>) {
        lock(&self.inner).pool.set_mutation(m);
    }

    /// A number that changes whenever pool-core may have changed (it counts the drains that
    /// follow every input): a tool that checked the state at one generation need not check it
    /// again at the same one.
    #[must_use]
    pub fn generation(&self) -> u64 {
        lock(&self.inner).generation
    }

    /// pool-core's counts.
    #[must_use]
    pub fn state(&self) -> PoolState {
        lock(&self.inner).pool.state()
    }

    /// pool-core's counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        lock(&self.inner).pool.stats().clone()
    }

    /// The driver's own counters.
    #[must_use]
    pub fn driver_stats(&self) -> DriverStats {
        lock(&self.inner).driver_stats
    }

    /// Idle connection objects held (equals `state().idle` between calls; for tests).
    #[must_use]
    pub fn idle_objects(&self) -> usize {
        lock(&self.inner).idle.len()
    }

    /// Queued requests with a slot (for tests; equals pool-core's live requests that are not
    /// being decided right now).
    #[must_use]
    pub fn live_slots(&self) -> usize {
        let inner = lock(&self.inner);
        inner.slots.iter().filter(|s| s.is_some()).count()
    }

    fn simple(&self, now: Instant, input: Input) -> Actions<C> {
        let mut acts = Actions::default();
        let mut inner = lock(&self.inner);
        let now = inner.clamp(now);
        // An error names a connection pool-core already forgot: nothing to do.
        let _ = inner.pool.handle(now, input);
        inner.drain(now, &mut acts);
        let out = inner.take_outbox();
        drop(inner);
        self.deliver(now, out, &mut acts);
        acts
    }
}

impl<C> Inner<C> {
    fn clamp(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    /// An index for a new request (its slot is made only if the request queues).
    fn reserve_index(&mut self) -> usize {
        if let Some(idx) = self.free.pop() {
            idx
        } else {
            self.slots.push(None);
            self.slots.len() - 1
        }
    }

    /// A connection granted to a request that was abandoned before it saw the grant goes back
    /// as healthy: it was never used (bb8 #67 and mobc #63 lost it here).
    fn hand_back_grant(&mut self, now: Instant, conn: ConnId, c: C, acts: &mut Actions<C>) {
        #[cfg(feature = "planted-bug-lost-grant")]
        {
            // PLANTED BUG (test-only feature): forget the connection, as bb8 #67 and mobc #63
            // did. pool-core keeps counting it in use forever.
            let _ = now;
            acts.closes.push((conn, CloseReason::Broken, Some(c)));
        }
        #[cfg(not(feature = "planted-bug-lost-grant"))]
        self.give_back(now, conn, c, ReleaseOutcome::Healthy, acts);
    }

    fn give_back(
        &mut self,
        now: Instant,
        conn: ConnId,
        c: C,
        outcome: ReleaseOutcome,
        acts: &mut Actions<C>,
    ) {
        let broken = outcome == ReleaseOutcome::Broken;
        self.feed_with_conn(now, conn, c, Input::Release { conn, outcome }, broken, acts);
    }

    /// Puts `c` where pool-core's decision will look for it, feeds `input`, drains. If
    /// pool-core refuses the input (it already forgot `conn`), or `must_close` and pool-core
    /// left it idle, the object is closed instead: a connection pool-core does not hold is never
    /// kept.
    fn feed_with_conn(
        &mut self,
        now: Instant,
        conn: ConnId,
        c: C,
        input: Input,
        must_close: bool,
        acts: &mut Actions<C>,
    ) {
        self.idle.insert(conn.0, c);
        if self.pool.handle(now, input).is_err() {
            if let Some(c) = self.idle.remove(conn.0) {
                acts.closes.push((conn, CloseReason::Shutdown, Some(c)));
            }
            self.drain(now, acts);
            return;
        }
        self.drain(now, acts);
        if must_close {
            if let Some(c) = self.idle.remove(conn.0) {
                bug_check!(false, "pool-core kept {conn} after {input:?}");
                acts.closes.push((conn, CloseReason::Broken, Some(c)));
            }
        }
    }

    /// Drains pool-core's outputs (and any inputs they produce), then checks the timer.
    fn drain(&mut self, now: Instant, acts: &mut Actions<C>) {
        self.generation = self.generation.wrapping_add(1);
        loop {
            while let Some(out) = self.pool.poll_output() {
                if let Some(observe) = &mut self.observer.0 {
                    observe(now, &out);
                }
                self.apply(out, acts);
            }
            let Some(input) = self.pending.pop_front() else {
                break;
            };
            let _ = self.pool.handle(now, input);
        }
        if let Some(t) = self.pool.poll_timeout() {
            if self.timer_at.is_none_or(|at| t < at) {
                self.timer_at = Some(t);
                acts.timer_changed = true;
            }
        }
    }

    fn apply(&mut self, out: Output, acts: &mut Actions<C>) {
        match out {
            Output::Connect { conn } => acts.connects.push(conn),
            Output::Check { conn, how } => match self.idle.remove(conn.0) {
                Some(c) => acts.checks.push((conn, how, c)),
                None => {
                    bug_check!(false, "pool-core checks {conn}, which is not idle");
                    self.pending.push_back(Input::CheckFailed { conn });
                }
            },
            Output::Grant { req, conn } => {
                let idx = usize::try_from(req.0).unwrap_or(usize::MAX);
                let Some(c) = self.idle.remove(conn.0) else {
                    bug_check!(false, "pool-core granted {conn}, which we do not hold");
                    self.pending.push_back(Input::Release {
                        conn,
                        outcome: ReleaseOutcome::Broken,
                    });
                    self.decide(
                        idx,
                        Slot::Rejected(PoolError::Other(pool_core::RejectReason::ConnectFailed)),
                    );
                    return;
                };
                if !self.is_waiting(idx) {
                    // Cannot happen: a slot is freed only after pool-core finished its request.
                    bug_check!(
                        false,
                        "pool-core granted {conn} to {req}, which is not waiting"
                    );
                    self.idle.insert(conn.0, c);
                    self.pending.push_back(Input::Release {
                        conn,
                        outcome: ReleaseOutcome::Healthy,
                    });
                    return;
                }
                self.decide(idx, Slot::Granted(conn, c));
            }
            Output::Reject { req, reason } => {
                let idx = usize::try_from(req.0).unwrap_or(usize::MAX);
                let e = PoolError::from_reason(reason, self.last_connect_error.as_deref());
                self.decide(idx, Slot::Rejected(e));
            }
            Output::Close { conn, reason } => {
                let c = self.idle.remove(conn.0);
                acts.closes.push((conn, reason, c));
            }
        }
    }

    /// Whether `idx` is a request pool-core may still decide.
    fn is_waiting(&self, idx: usize) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.idx == idx && c.decided.is_none())
            || self.slots.get(idx).is_some_and(Option::is_some)
    }

    /// Records pool-core's decision for request `idx`. The request `acquire` is feeding keeps
    /// it in `current`; a queued request's slot leaves the table (the index is free again at
    /// once: pool-core has finished the request) and the decision goes to
    /// the outbox, written into the slot after the core lock is released.
    fn decide(&mut self, idx: usize, decided: Slot<C>) {
        if let Some(cur) = self.current.as_mut().filter(|c| c.idx == idx) {
            bug_check!(cur.decided.is_none(), "request {idx} decided twice");
            cur.decided = Some(decided);
            return;
        }
        let Some(slot) = self.slots.get_mut(idx).and_then(Option::take) else {
            bug_check!(false, "decision for request {idx}, which is not waiting");
            return;
        };
        self.free.push(idx);
        self.outbox.push((slot, decided));
    }

    /// The decisions to deliver once the lock is released (see [`SyncCore::deliver`]).
    fn take_outbox(&mut self) -> Option<Deliveries<C>> {
        (!self.outbox.is_empty()).then(|| std::mem::take(&mut self.outbox))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use pool_core::{Config, Reuse, WhenExhausted};
    use std::time::Duration;

    #[derive(Debug, PartialEq, Eq)]
    struct Obj(u64);

    fn config(max_size: u32) -> Config {
        Config {
            max_size: Some(max_size),
            when_exhausted: WhenExhausted::Wait { timeout: None },
            connect_timeout: Some(Duration::from_secs(1)),
            reuse: Reuse::Fifo,
            ..Config::bare()
        }
    }

    const T0: Instant = Instant::ZERO;

    fn queued(core: &SyncCore<Obj>, now: Instant) -> (Ticket<Obj>, Actions<Obj>) {
        match core.acquire(now, None, None) {
            (Acquire::Queued(req), acts) => (req, acts),
            (Acquire::Ready(r), _) => panic!("expected to queue, got {r:?}"),
        }
    }

    #[test]
    fn a_late_connect_after_the_connect_timeout_is_closed_not_kept() {
        let core = SyncCore::new(config(1)).unwrap();
        let (req, acts) = queued(&core, T0);
        let conn = acts.connects[0];
        // pool-core gives up on the connect at 1 s and closes it (no object yet).
        let acts = core.timeout(Instant::from_secs(1));
        assert!(
            acts.closes
                .iter()
                .any(|(c, r, o)| *c == conn && *r == CloseReason::ConnectTimeout && o.is_none())
        );
        // The connect finishes anyway: the object must be dropped, not kept idle.
        let mut acts = core.connected(Instant::from_secs(2), conn, Obj(conn.0));
        let late: Vec<_> = acts.closes.drain(..).filter_map(|(_, _, o)| o).collect();
        assert_eq!(late, vec![Obj(conn.0)]);
        assert_eq!(core.idle_objects(), 0);
        drop(core.abandon(Instant::from_secs(2), req));
        assert_eq!(core.live_slots(), 0);
    }

    #[test]
    fn abandoning_a_granted_request_releases_its_connection() {
        let core = SyncCore::new(config(1)).unwrap();
        let (req, acts) = queued(&core, T0);
        let conn = acts.connects[0];
        let acts = core.connected(T0, conn, Obj(conn.0));
        assert!(acts.wakes.is_empty(), "nobody polled yet");
        assert_eq!(core.state().in_use, 1);
        let acts = core.abandon(T0, req);
        assert!(acts.is_empty());
        assert_eq!(core.state().idle, 1);
        assert_eq!(core.idle_objects(), 1);
        assert_eq!(core.driver_stats().abandoned_granted, 1);
        assert!(matches!(
            core.acquire(T0, None, None).0,
            Acquire::Ready(Ok(_))
        ));
    }

    #[test]
    fn a_grant_wakes_the_stored_waker_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let core = SyncCore::new(config(1)).unwrap();
        let (req, acts) = match core.acquire(T0, None, Some(&waker)) {
            (Acquire::Queued(req), acts) => (req, acts),
            (Acquire::Ready(_), _) => panic!("must connect first"),
        };
        let conn = acts.connects[0];
        let mut acts = core.connected(T0, conn, Obj(conn.0));
        assert_eq!(acts.wakes.len(), 1);
        acts.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Ok((got, obj))) = core.poll_request(&req, &mut cx) else {
            panic!("granted")
        };
        assert_eq!((got, obj), (conn, Obj(conn.0)));
        assert_eq!(core.live_slots(), 0);
    }

    #[test]
    fn a_warm_uncontended_cycle_reads_no_clock() {
        let core = SyncCore::new(config(1)).unwrap();
        let (req, acts) = queued(&core, T0);
        let conn = acts.connects[0];
        drop(core.connected(T0, conn, Obj(conn.0)));
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Ok((c, obj))) = core.poll_request(&req, &mut cx) else {
            panic!("granted")
        };
        let acts = core.release(Instant::from_secs(1), c, obj, ReleaseOutcome::Healthy);
        assert!(acts.is_empty());
        let no_clock = || -> Instant { panic!("the clock was read") };
        for _ in 0..3 {
            let (Acquire::Ready(Ok((c, obj))), acts) = core.acquire_with(no_clock, None, None)
            else {
                panic!("an idle connection")
            };
            assert!(acts.is_empty());
            assert!(
                core.release_with(no_clock, c, obj, ReleaseOutcome::Healthy)
                    .is_empty()
            );
        }
        // The first grant (connected at the instant of the request) and the three cycles.
        assert_eq!(core.stats().grants_immediate, 4);
        // A waiter makes the release time matter (its wait is recorded): the clock is read.
        let (Acquire::Ready(Ok((c, obj))), _) = core.acquire_with(no_clock, None, None) else {
            panic!("an idle connection")
        };
        let (waiter, _) = queued(&core, Instant::from_secs(2));
        drop(core.release_with(|| Instant::from_secs(3), c, obj, ReleaseOutcome::Healthy));
        assert!(core.stats().wait.max >= std::time::Duration::from_secs(1));
        assert!(matches!(
            core.poll_request(&waiter, &mut cx),
            Poll::Ready(Ok(_))
        ));
    }

    #[test]
    fn time_going_backwards_between_threads_is_clamped() {
        let core = SyncCore::new(config(1)).unwrap();
        let (_req, acts) = queued(&core, Instant::from_secs(5));
        let conn = acts.connects[0];
        // A thread that read the clock earlier takes the lock later.
        let acts = core.connected(Instant::from_secs(4), conn, Obj(conn.0));
        assert!(acts.closes.is_empty(), "the input was accepted");
        assert_eq!(core.state().in_use, 1);
    }

    #[test]
    fn a_broken_release_closes_the_object_and_connects_for_a_waiter() {
        let core = SyncCore::new(config(1)).unwrap();
        let (Acquire::Queued(first), acts) = core.acquire(T0, None, None) else {
            panic!()
        };
        let conn = acts.connects[0];
        drop(core.connected(T0, conn, Obj(conn.0)));
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Ok((c, obj))) = core.poll_request(&first, &mut cx) else {
            panic!()
        };
        let (_waiter, acts) = queued(&core, T0);
        assert!(acts.connects.is_empty(), "pool is full");
        let acts = core.release(T0, c, obj, ReleaseOutcome::Broken);
        assert_eq!(acts.connects.len(), 1, "a replacement for the waiter");
        let closed: Vec<_> = acts.closes.into_iter().filter_map(|(_, _, o)| o).collect();
        assert_eq!(closed, vec![Obj(conn.0)]);
        assert_eq!(core.idle_objects(), 0);
    }
}
