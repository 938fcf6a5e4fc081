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
///
/// Outside loom, a busy lock is first retried with `try_lock` for a bounded number of spins
/// before blocking in `lock`. The core's critical sections are short (well under a
/// microsecond) and contended by a few runtime workers; `std`'s futex mutex, once a thread has
/// blocked in it, marks the lock contended, and from then on every waiter skips its own spin
/// and sleeps in the kernel and every unlock makes a wake-up system call, until the lock is
/// next taken uncontended. Under contention the pool could fall into that mode and stay
/// there (half the throughput, measured). Spinning on `try_lock` first takes the lock as
/// soon as the holder leaves, and takes it with the uncontended state, which ends that mode.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    for _ in 0..SPINS {
        match m.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `try_lock` attempts before [`lock`] blocks (each failed one followed by a spin-loop hint:
/// a few microseconds in all, longer than a critical section of the core).
#[cfg(not(loom))]
const SPINS: u32 = 100;
