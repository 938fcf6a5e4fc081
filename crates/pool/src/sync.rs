//! The synchronisation shim: `std` types normally, loom's under `--cfg loom`.
//!
//! Everything the pool shares between threads (the pool-core state machine, the waiter slots,
//! the idle connection objects) sits behind [`Mutex`] from here, so that the loom models in
//! `tests/loom.rs` explore every interleaving of the real code, not of a copy. Wakers are kept
//! as `Option<Waker>` inside the mutex-protected slots, which works unchanged under loom's
//! `block_on`.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: a panic under the lock is a bug that has already been
/// reported by that panic; the state is still the best we have, and `Drop` paths (a `Pooled`
/// guard, a cancelled `get()`) must not panic a second time.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
