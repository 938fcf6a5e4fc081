//! Test-only planted bugs (feature `mutations`), used to prove that the invariants and the
//! explorer catch real mistakes. Never compiled into normal builds: the feature is enabled only
//! by pool-core's own dev-dependency on itself (`cargo test`, benches, examples).

/// A deliberate bug the pool can be told to have, with [`crate::Pool::set_mutation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mutation {
    /// A released connection goes to the idle list even when requests are queued, and the
    /// hand-off pass after each input is skipped: the waiter is never woken (the classic lost
    /// wake-up).
    SkipHandOffOnRelease,
    /// Connects are started without looking at `max_size`.
    IgnoreMaxSize,
    /// `poll_timeout` forgets the waiters' bounds, so a queued request can outlive its pool
    /// timeout or deadline.
    NoWaiterTimer,
    /// The idle-timeout test is `<` instead of `<=`: at the very instant a connection's idle
    /// timeout is due, its timer fires, finds it not yet expired, and re-arms for the same
    /// instant (issue #10's hang). The pool stops instead of spinning, and the invariant
    /// `TimerSpin` reports it.
    IdleTimeoutOffByOne,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Self; 4] = [
        Self::SkipHandOffOnRelease,
        Self::IgnoreMaxSize,
        Self::NoWaiterTimer,
        Self::IdleTimeoutOffByOne,
    ];
}

impl crate::Pool {
    /// Plants (or with `None` removes) a deliberate bug. Test-only (feature `mutations`).
    pub fn set_mutation(&mut self, mutation: Option<Mutation>) {
        self.mutation = mutation;
    }

    /// The planted bug, if any.
    #[must_use]
    pub fn mutation(&self) -> Option<Mutation> {
        self.mutation
    }
}
