//! Known bugs of real pools (bb8 #59, #67, #167; mobc #63; deadpool #92) as regression
//! scenarios: today's crates and this project's pool must not show them, and each scenario
//! catches its bug when it is planted (in a wrapper around this project's pool), so that the
//! scenario is known to be able to fail.

use sims::adapter::{
    CmdError, CorePool, CorePoolFactory, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot,
    PoolUnderTest, Reply,
};
use sims::known_bugs::{ALL, by_name};
use sims::pools::PoolChoice;

const SEED: u64 = 1;

/// What each probe saw at [`SEED`], per pool: the figures a probe reports (connections
/// counted, gets that failed, how long a waiter waited) are pinned as well as its verdict.
const DETAILS: [&str; 16] = [
    "bb8-59 ours: after a get cancelled during its check: 1 connections counted, 2 gets at once served",
    "bb8-59 bb8: after a get cancelled during its check: 1 connections counted, 2 gets at once served",
    "bb8-59 deadpool: after a get cancelled during its check: 0 connections counted, 2 gets at once served",
    "bb8-59 mobc: after a get cancelled during its check: 1 connections counted, 2 gets at once served",
    "bb8-67 ours: after a waiter was cancelled as the connection was handed to it, the next get was served",
    "bb8-67 bb8: after a waiter was cancelled as the connection was handed to it, the next get was served",
    "bb8-67 deadpool: after a waiter was cancelled as the connection was handed to it, the next get was served",
    "bb8-67 mobc: after a waiter was cancelled as the connection was handed to it, the next get was served",
    "bb8-167 ours: the waiter got a new connection 61 ms after it asked (wait timeout 2 s)",
    "bb8-167 bb8: the waiter got a new connection 101 ms after it asked (wait timeout 2 s)",
    "bb8-167 deadpool: the waiter got a new connection 61 ms after it asked (wait timeout 2 s)",
    "bb8-167 mobc: the waiter got a new connection 61 ms after it asked (wait timeout 2 s)",
    "deadpool-92 ours: 6 gets over dead idle connections: 0 failed, at most max_size counted at every step (2 at the end)",
    "deadpool-92 bb8: 6 gets over dead idle connections: 0 failed, at most max_size counted at every step (2 at the end)",
    "deadpool-92 deadpool: 6 gets over dead idle connections: 0 failed, at most max_size counted at every step (2 at the end)",
    "deadpool-92 mobc: 6 gets over dead idle connections: 0 failed, at most max_size counted at every step (2 at the end)",
];

#[test]
fn no_known_bug_in_todays_crates_nor_in_ours() {
    let mut details = Vec::new();
    for bug in ALL {
        for pool in [
            PoolChoice::Ours,
            PoolChoice::Bb8,
            PoolChoice::Deadpool,
            PoolChoice::Mobc,
        ] {
            let r = bug.run(&pool, SEED).unwrap();
            assert!(
                !r.present,
                "{} ({}) with {}: {}; replay: cargo run --release -p poolsim -- bugs {} --pool {}",
                bug.name,
                bug.upstream,
                pool.name(),
                r.detail,
                bug.name,
                pool.name()
            );
            details.push(format!("{} {}: {}", bug.name, pool.name(), r.detail));
        }
    }
    assert_eq!(details, DETAILS);
}

#[test]
fn known_bug_runs_are_deterministic() {
    for bug in ALL {
        let a = bug.run(&PoolChoice::Bb8, SEED).unwrap();
        let b = bug.run(&PoolChoice::Bb8, SEED).unwrap();
        assert_eq!(a, b, "{}", bug.name);
    }
}

/// A planted bug around this project's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plant {
    /// A get dropped before it finished leaks one connection forever (bb8 #59, #67,
    /// mobc #63: the pool's count stays high, its capacity is lost).
    LeakOnCancel,
    /// A connection given back broken is forgotten: nobody is woken (bb8 #167).
    ForgetBroken,
    /// The pool keeps counting connections it closed after a failed check (deadpool #92:
    /// more available than max_size): here, every connection it ever handed out.
    OverCount,
    /// The first get spawns a task that panics (a pool's background task with a bug).
    PanicInBackground,
    /// Every get after the first two fails (not a bug a probe looks for: a pool whose
    /// failures a probe must count).
    FailAfterTwo,
}

struct Planted {
    inner: CorePool,
    plant: Plant,
    seen: std::sync::Mutex<Vec<u64>>,
}

struct Factory(Plant);

impl PoolFactory for Factory {
    type Pool = Planted;
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Planted, String> {
        Ok(Planted {
            inner: CorePoolFactory.build(ctx, label)?,
            plant: self.0,
            seen: std::sync::Mutex::default(),
        })
    }
}

impl Observe for Planted {
    fn snapshot(&self) -> PoolSnapshot {
        let mut s = self.inner.snapshot();
        if self.plant == Plant::OverCount {
            let seen = self.seen.lock().unwrap().len() as u64;
            s.connections = s.connections.max(seen);
        }
        s
    }
    fn check_invariants(&self) -> Result<(), String> {
        self.inner.check_invariants()?;
        let s = self.snapshot();
        if s.connections > 2 {
            return Err(format!("{} connections counted, max_size 2", s.connections));
        }
        Ok(())
    }
}

/// Leaks one connection when dropped before `done` (a cancelled get).
struct LeakGuard<'a> {
    pool: &'a CorePool,
    done: bool,
}

impl Drop for LeakGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let leak = self.pool.pool_handle();
            tokio::task::spawn_local(async move {
                if let Ok(c) = leak
                    .get_with_deadline(
                        tokio::time::Instant::now() + std::time::Duration::from_secs(10),
                    )
                    .await
                {
                    std::mem::forget(c);
                }
            });
        }
    }
}

impl PoolUnderTest for Planted {
    type Conn = <CorePool as PoolUnderTest>::Conn;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        let mut guard = LeakGuard {
            pool: &self.inner,
            done: self.plant != Plant::LeakOnCancel,
        };
        if self.plant == Plant::PanicInBackground && self.seen.lock().unwrap().is_empty() {
            tokio::task::spawn_local(async { panic!("planted: a background task panicked") });
        }
        if self.plant == Plant::FailAfterTwo && self.seen.lock().unwrap().len() >= 2 {
            return Err(GetError::Other("planted: get failed".to_owned()));
        }
        let r = self.inner.get(deadline).await;
        guard.done = true;
        if let Ok(c) = &r {
            let id = self.inner.conn_id(c);
            let mut seen = self.seen.lock().unwrap();
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        r
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        self.inner.run(conn, args).await
    }

    fn release(&self, conn: Self::Conn, healthy: bool) {
        if !healthy && self.plant == Plant::ForgetBroken {
            std::mem::forget(conn);
            return;
        }
        self.inner.release(conn, healthy);
    }

    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        self.inner.conn_id(conn)
    }
}

/// deadpool #92's probe counts the gets that failed over dead idle connections: no pool fails
/// one (`DETAILS`), so a pool that fails all six must be counted as such.
#[test]
fn failed_recycles_counts_the_gets_that_failed() {
    let r = by_name("deadpool-92")
        .unwrap()
        .run_with(Factory(Plant::FailAfterTwo), SEED);
    assert!(!r.present, "{}", r.detail);
    assert_eq!(
        r.detail,
        "6 gets over dead idle connections: 6 failed, at most max_size counted at every step (2 at the end)"
    );
}

fn caught(bug: &str, plant: Plant) {
    let b = by_name(bug).unwrap();
    let r = b.run_with(Factory(plant), SEED);
    assert!(r.present, "{bug} did not catch {plant:?}: {}", r.detail);
}

#[test]
fn cancel_during_check_catches_a_leak_on_cancel() {
    caught("bb8-59", Plant::LeakOnCancel);
}

#[test]
fn cancelled_waiter_catches_a_lost_handoff() {
    caught("bb8-67", Plant::LeakOnCancel);
}

#[test]
fn broken_release_catches_a_lost_wakeup() {
    caught("bb8-167", Plant::ForgetBroken);
}

#[test]
fn failed_recycles_catch_an_over_count() {
    caught("deadpool-92", Plant::OverCount);
}

/// A task spawned on the probe's host panics alone (turmoil returns only the host's own
/// future's panic): every scenario must still see it.
#[test]
fn every_scenario_catches_a_panic_in_a_pools_task() {
    for b in ALL {
        let r = b.run_with(Factory(Plant::PanicInBackground), SEED);
        assert!(r.present, "{}: {}", b.name, r.detail);
        assert!(
            r.detail.starts_with("a task panicked at ")
                && r.detail
                    .contains(": planted: a background task panicked (at "),
            "{}: {}",
            b.name,
            r.detail
        );
    }
}
