//! The async shell: [`Pool`], its [`Pooled`] guard, the timer task and the connect/check tasks.
//!
//! Everything here is I/O and timers; every decision is pool-core's, reached through
//! [`SyncCore`]. Time is `tokio::time` only, so a turmoil host simulates it.

use crate::core::{Acquire, Actions, SyncCore, Ticket};
use crate::{Manager, PoolError};
use pool_core::{ConfigError, ConnId, PoolState, ReleaseOutcome, Stats};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use tokio::sync::Notify;
use tokio::time::Instant as TokioInstant;

/// An async connection pool over a [`Manager`], driven by a pool-core state machine.
///
/// Cloning is cheap (an `Arc`); clones share one pool. Dropping every clone and every
/// [`Pooled`] guard stops the timer task; in-flight connects and checks finish on their own.
///
/// # Cancellation
/// Dropping a [`Pool::get`] future at any await point never leaks a slot or a connection and
/// never loses a wake-up: a queued request is cancelled in pool-core (whether it waits in the
/// queue, on a connect made for it or on a check of its connection); a connection granted to a
/// request that was dropped before it saw the grant goes back to the pool as healthy.
pub struct Pool<M: Manager> {
    shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Keeps the core's mutex off the cache line of the `Arc` counts, which every checkout and
/// release touches.
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared<M: Manager> {
    core: CacheLine<SyncCore<M::Connection>>,
    /// Itself, for spawning tasks from `&self` (a `Pooled` guard's drop has no `Arc` at hand).
    this: Weak<Self>,
    manager: M,
    /// pool-core's epoch: `pool_core::Instant::ZERO` is this tokio instant.
    epoch: TokioInstant,
    /// Wakes the timer task early (pool-core's next timeout moved earlier, or the pool is gone).
    timer: Arc<Notify>,
    /// Cancel tokens of running connects, so `Close` of a connecting connection aborts it.
    connecting: Mutex<BTreeMap<u64, Arc<Notify>>>,
    runtime: tokio::runtime::Handle,
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // The timer task holds only a Weak: wake it so it sees the pool is gone and exits.
        self.timer.notify_one();
    }
}

impl<M: Manager> Pool<M> {
    /// Builds a pool with `config` (see `pool_core::Profile` for presets) and starts its timer
    /// task. Must be called inside a tokio runtime (a turmoil host counts); the pool's tasks
    /// run on that runtime. Connections for `min_idle` are opened at once.
    pub fn new(manager: M, config: pool_core::Config) -> Result<Self, ConfigError> {
        let core = SyncCore::new(config)?;
        let shared = Arc::new_cyclic(|this| Shared {
            core: CacheLine(core),
            this: Weak::clone(this),
            manager,
            epoch: TokioInstant::now(),
            timer: Arc::new(Notify::new()),
            connecting: Mutex::new(BTreeMap::new()),
            runtime: tokio::runtime::Handle::current(),
        });
        let weak = Arc::downgrade(&shared);
        let notify = Arc::clone(&shared.timer);
        shared.runtime.spawn(run_timer(weak, notify));
        // A first step so pool-core can ask for its min_idle connections.
        let acts = shared.core.timeout(shared.now());
        shared.run(acts);
        Ok(Self { shared })
    }

    /// Waits for a connection, as long as the pool's configuration says (pool timeout or
    /// fail-fast). Cancellation safe: see [`Checkout`].
    pub fn get(&self) -> Checkout<'_, M> {
        Checkout {
            pool: self,
            deadline: None,
            state: CheckoutState::Start,
        }
    }

    /// As [`Pool::get`], with the caller's own deadline handed to pool-core, which refuses the
    /// request with [`PoolError::DeadlineExceeded`] at that instant when its configuration
    /// has `honour_deadlines` (otherwise the deadline is ignored: wrap the future in
    /// `tokio::time::timeout`, which is safe because `get` is cancellation safe).
    pub fn get_with_deadline(&self, deadline: TokioInstant) -> Checkout<'_, M> {
        Checkout {
            pool: self,
            deadline: Some(self.shared.to_core(deadline)),
            state: CheckoutState::Start,
        }
    }

    /// Closes the pool: waiters are refused with [`PoolError::Closed`], idle connections are
    /// closed now, in-use ones when their guard is dropped, and later `get`s fail.
    pub fn close(&self) {
        let acts = self.shared.core.shutdown(self.shared.now());
        self.shared.run(acts);
    }

    /// Closes every idle connection `evict` says yes to, now (pool-core's `Input::Evict`,
    /// traced as a close with reason `Evicted`), and returns how many. A Redis client that
    /// learned the master moved closes its idle connections to the old one this way.
    /// Connections in use are not touched: their holder decides.
    pub fn evict_idle_where(&self, evict: impl FnMut(&M::Connection) -> bool) -> usize {
        let (n, acts) = self.shared.core.evict_idle_where(self.shared.now(), evict);
        self.shared.run(acts);
        n
    }

    /// Calls `f` with the id and object of every idle connection, in id order, under the
    /// pool's lock (keep it quick; do not call the pool from it).
    pub fn for_each_idle(&self, f: impl FnMut(pool_core::ConnId, &M::Connection)) {
        self.shared.core.for_each_idle(f);
    }

    /// pool-core's counts (idle, in use, connecting, checking, waiters).
    #[must_use]
    pub fn state(&self) -> PoolState {
        self.shared.core.state()
    }

    /// pool-core's counters since the pool was built.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.core.stats()
    }

    /// The driver's own counters (cancellations by the point they happened at).
    #[must_use]
    pub fn driver_stats(&self) -> crate::core::DriverStats {
        self.shared.core.driver_stats()
    }

    /// Installs (or, with `None`, removes) a callback that sees every pool-core output
    /// (connect, check, grant, reject, close) with pool-core's instant (nanoseconds since the
    /// pool was built), under the core lock: keep it quick and do not call the pool from it.
    /// Simulations trace a run with it.
    pub fn set_observer(&self, observer: Option<crate::core::Observer>) {
        self.shared.core.set_observer(observer);
    }

    /// Runs `f` on pool-core's state machine between two mutations, e.g.
    /// `pool.inspect_core(pool_core::invariants::check)`.
    pub fn inspect_core<R>(&self, f: impl FnOnce(&pool_core::Pool) -> R) -> R {
        self.shared.core.inspect(f)
    }

    /// Plants (or with `None` removes) one of pool-core's deliberate bugs in this pool's state
    /// machine, for a harness to show that it catches it. Test-only (feature `mutations`,
    /// which no normal build enables).
    #[cfg(feature = "mutations")]
    pub fn set_core_mutation(&self, m: Option<pool_core::mutations::Mutation>) {
        self.shared.core.set_mutation(m);
    }

    /// A number that changes whenever pool-core may have changed (see
    /// [`crate::core::SyncCore::generation`]).
    #[must_use]
    pub fn core_generation(&self) -> u64 {
        self.shared.core.generation()
    }

    /// The manager.
    #[must_use]
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }
}

/// The future of [`Pool::get`]: resolves to a [`Pooled`] connection or pool-core's refusal.
///
/// Dropping it at any point is safe. Before its first poll nothing has happened. Once polled,
/// its request lives in a slot: if the future is dropped while the request waits (in the
/// queue, on a connect made for it, on a check of the connection picked for it), the request
/// is cancelled in pool-core; if it is dropped after pool-core granted it a connection but
/// before it was polled again, the connection is released back as healthy (it was never used).
#[must_use = "futures do nothing unless polled"]
pub struct Checkout<'a, M: Manager> {
    pool: &'a Pool<M>,
    deadline: Option<pool_core::Instant>,
    state: CheckoutState<M::Connection>,
}

enum CheckoutState<C> {
    Start,
    Waiting(Ticket<C>),
    Done,
}

impl<C> fmt::Debug for CheckoutState<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start => f.write_str("Start"),
            Self::Waiting(t) => write!(f, "Waiting({})", t.req()),
            Self::Done => f.write_str("Done"),
        }
    }
}

impl<M: Manager> fmt::Debug for Checkout<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkout")
            .field("deadline", &self.deadline)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Future for Checkout<'_, M> {
    type Output = Result<Pooled<M::Connection>, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is Unpin.
        let this = self.get_mut();
        let s = &this.pool.shared;
        let decided = match &this.state {
            CheckoutState::Start => {
                let (acquired, acts) =
                    s.core
                        .acquire_with(|| s.now(), this.deadline, Some(cx.waker()));
                s.run(acts);
                match acquired {
                    Acquire::Ready(r) => r,
                    Acquire::Queued(ticket) => {
                        this.state = CheckoutState::Waiting(ticket);
                        return Poll::Pending;
                    }
                }
            }
            CheckoutState::Waiting(ticket) => match s.core.poll_request(ticket, cx) {
                Poll::Ready(r) => {
                    if let CheckoutState::Waiting(ticket) =
                        std::mem::replace(&mut this.state, CheckoutState::Done)
                    {
                        s.core.finish(ticket);
                    }
                    r
                }
                Poll::Pending => return Poll::Pending,
            },
            CheckoutState::Done => panic!("Checkout polled after completion"),
        };
        // The slot is freed: nothing left to abandon.
        this.state = CheckoutState::Done;
        Poll::Ready(decided.map(|(conn, c)| {
            let back: Arc<dyn GiveBack<M::Connection>> = Arc::clone(s) as _;
            Pooled {
                back,
                conn,
                obj: Some(c),
                broken: false,
            }
        }))
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        if let CheckoutState::Waiting(ticket) =
            std::mem::replace(&mut self.state, CheckoutState::Done)
        {
            let s = &self.pool.shared;
            let acts = s.core.abandon(s.now(), ticket);
            s.run(acts);
        }
    }
}

impl<M: Manager> Shared<M> {
    fn now(&self) -> pool_core::Instant {
        self.to_core(TokioInstant::now())
    }

    fn to_core(&self, t: TokioInstant) -> pool_core::Instant {
        let d = t.saturating_duration_since(self.epoch);
        pool_core::Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, t: pool_core::Instant) -> TokioInstant {
        self.epoch + t.since_epoch()
    }

    /// Performs what the core asked for, outside its lock.
    fn run(&self, mut acts: Actions<M::Connection>) {
        if acts.is_empty() {
            return;
        }
        acts.wake_all();
        if acts.closes.is_empty() && acts.connects.is_empty() && acts.checks.is_empty() {
            // The usual case (a wake-up, a timer change): no iterator to build and drop.
            if acts.timer_changed {
                self.timer.notify_one();
            }
            return;
        }
        for (conn, _reason, obj) in acts.closes {
            match obj {
                Some(c) => drop(c),
                None => {
                    let token = lock_std(&self.connecting).remove(&conn.0);
                    if let Some(token) = token {
                        token.notify_one();
                    }
                }
            }
        }
        if acts.connects.is_empty() && acts.checks.is_empty() {
            if acts.timer_changed {
                self.timer.notify_one();
            }
            return;
        }
        // The pool is alive: `self` is borrowed from an `Arc` (a `Pool`, a guard or a task).
        let Some(this) = self.this.upgrade() else {
            return;
        };
        for conn in acts.connects {
            this.spawn_connect(conn);
        }
        for (conn, how, c) in acts.checks {
            let shared = Arc::clone(&this);
            self.runtime.spawn(async move {
                let mut c = c;
                let passed = shared.manager.check(&mut c, how).await.is_ok()
                    && !shared.manager.is_broken(&mut c);
                let acts = shared.core.check_done(shared.now(), conn, c, passed);
                shared.run(acts);
            });
        }
        if acts.timer_changed {
            self.timer.notify_one();
        }
    }

    fn spawn_connect(self: &Arc<Self>, conn: ConnId) {
        let cancel = Arc::new(Notify::new());
        lock_std(&self.connecting).insert(conn.0, Arc::clone(&cancel));
        let shared = Arc::clone(self);
        self.runtime.spawn(async move {
            let result = tokio::select! {
                biased;
                () = cancel.notified() => None,
                r = shared.manager.connect() => Some(r),
            };
            lock_std(&shared.connecting).remove(&conn.0);
            // None: pool-core closed the connect (connect timeout, shutdown) and forgot it.
            let Some(result) = result else { return };
            let now = shared.now();
            let acts = match result {
                Ok(c) => shared.core.connected(now, conn, c),
                Err(e) => {
                    let kind = shared.manager.connect_error_kind(&e);
                    shared.core.connect_failed(now, conn, kind, e.to_string())
                }
            };
            shared.run(acts);
        });
    }
}

fn lock_std<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sleeps until pool-core's next timeout and feeds it; woken early through `notify`.
async fn run_timer<M: Manager>(weak: Weak<Shared<M>>, notify: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(shared) = weak.upgrade() else { return };
            shared.core.arm_timer().map(|t| shared.to_tokio(t))
        };
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    biased;
                    () = notify.notified() => {}
                    () = tokio::time::sleep_until(deadline) => {
                        let Some(shared) = weak.upgrade() else { return };
                        let acts = shared.core.timeout(shared.now());
                        shared.run(acts);
                    }
                }
            }
            None => notify.notified().await,
        }
    }
}

/// How a [`Pooled`] guard hands its connection back, without naming the manager type.
trait GiveBack<C>: Send + Sync {
    fn give_back(&self, conn: ConnId, c: C, marked_broken: bool);
}

impl<M: Manager> GiveBack<M::Connection> for Shared<M> {
    fn give_back(&self, conn: ConnId, mut c: M::Connection, marked_broken: bool) {
        let outcome = if marked_broken || self.manager.is_broken(&mut c) {
            ReleaseOutcome::Broken
        } else {
            ReleaseOutcome::Healthy
        };
        let acts = self.core.release_with(|| self.now(), conn, c, outcome);
        self.run(acts);
    }
}

/// A connection checked out of a [`Pool`]. Derefs to the connection. Dropping it returns the
/// connection: as broken (closed, never reused) if [`Pooled::mark_broken`] was called or the
/// manager reports it broken (an I/O error, a command dropped between write and read), else as
/// healthy.
pub struct Pooled<C: Send + 'static> {
    back: Arc<dyn GiveBack<C>>,
    conn: ConnId,
    obj: Option<C>,
    broken: bool,
}

impl<C: Send + 'static> Pooled<C> {
    /// Marks the connection broken: it is closed on drop instead of going back to the pool.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Whether [`Pooled::mark_broken`] was called.
    #[must_use]
    pub fn is_marked_broken(&self) -> bool {
        self.broken
    }

    /// pool-core's id of this connection.
    #[must_use]
    pub fn conn_id(&self) -> ConnId {
        self.conn
    }
}

impl<C: Send + 'static> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        // Some until drop.
        self.obj.as_ref().expect("connection present until drop")
    }
}

impl<C: Send + 'static> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        // Some until drop.
        self.obj.as_mut().expect("connection present until drop")
    }
}

impl<C: Send + 'static> Drop for Pooled<C> {
    fn drop(&mut self) {
        if let Some(c) = self.obj.take() {
            self.back.give_back(self.conn, c, self.broken);
        }
    }
}

impl<C: Send + fmt::Debug + 'static> fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("conn", &self.conn)
            .field("broken", &self.broken)
            .field("connection", &self.obj)
            .finish()
    }
}
