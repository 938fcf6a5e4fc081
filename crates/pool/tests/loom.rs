//! loom models of the driver's shared state: pool-core, the waiter slots and the idle
//! connection objects behind `pool::core::SyncCore`'s mutex, exercised from loom threads.
//!
//! Run them all (see docs/architecture.md, "Model checking the driver with loom"):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p pool --release --test loom
//! ```
//!
//! Each model states its own preemption bound (`None` = exhaustive); `LOOM_MAX_PREEMPTIONS`
//! in the environment overrides every model's bound (scripts/loom.sh, as CI runs it, leaves it
//! unset, so each model runs with its own bound). The planted bug:
//! `--features planted-bug-lost-grant` turns on a bb8 #67 clone and runs
//! `planted_lost_grant_is_caught`, which must fail (it is `#[should_panic]`).
//!
//! The models perform the core's `Actions` inline: a `Connect` is answered at once by the thread
//! that received it with `connected` (so connects interleave with everything else exactly where
//! the thread that asked for them runs), wakers are woken, closed objects dropped.

#![cfg(loom)]
// Under the planted-bug feature only the planted model is compiled.
#![cfg_attr(feature = "planted-bug-lost-grant", allow(dead_code, unused_imports))]

use loom::sync::Arc;
use loom::thread;
use pool::PoolError;
use pool::core::{Acquire, Actions, SyncCore, Ticket};
use pool_core::{
    CheckHow, CheckOnCheckout, CheckWhen, Config, ConnId, Instant, PoolState, ReleaseOutcome,
    Reuse, WhenExhausted,
};
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Debug)]
#[allow(dead_code)] // the id is only for Debug output
struct FakeConn(ConnId);

type Core = SyncCore<FakeConn>;

fn config(max_size: u32, when_exhausted: WhenExhausted) -> Config {
    Config {
        max_size: Some(max_size),
        when_exhausted,
        reuse: Reuse::Fifo,
        ..Config::bare()
    }
}

const WAIT_FOREVER: WhenExhausted = WhenExhausted::Wait { timeout: None };

/// Performs `acts` inline: wake, connect at once, pass every check, drop closed objects.
fn perform(core: &Core, now: Instant, mut acts: Actions<FakeConn>) {
    acts.wake_all();
    for conn in acts.connects.drain(..) {
        perform(core, now, core.connected(now, conn, FakeConn(conn)));
    }
    for (conn, _how, c) in acts.checks.drain(..) {
        perform(core, now, core.check_done(now, conn, c, true));
    }
    drop(acts.closes);
}

/// `Pool::get` in miniature: acquire, perform, then wait on the slot with loom's `block_on`.
fn get(core: &Core, now: Instant) -> Result<(ConnId, FakeConn), PoolError> {
    let (acquired, acts) = core.acquire(now, None, None);
    perform(core, now, acts);
    match acquired {
        Acquire::Ready(r) => r,
        Acquire::Queued(req) => loom::future::block_on(poll_fn(|cx| core.poll_request(&req, cx))),
    }
}

fn release(core: &Core, now: Instant, (conn, c): (ConnId, FakeConn), outcome: ReleaseOutcome) {
    perform(core, now, core.release(now, conn, c, outcome));
}

/// A `get()` future dropped after being polled once: acquire, poll (registering a waker),
/// then abandon, as `Pool::get`'s drop guard does.
fn get_then_drop(core: &Core, now: Instant) {
    let (acquired, acts) = core.acquire(now, None, None);
    perform(core, now, acts);
    match acquired {
        // Granted at once: the future would return a guard, whose drop releases it.
        Acquire::Ready(Ok(granted)) => release(core, now, granted, ReleaseOutcome::Healthy),
        Acquire::Ready(Err(e)) => panic!("unexpected refusal {e}"),
        Acquire::Queued(req) => {
            poll_once(core, &req);
            perform(core, now, core.abandon(now, req));
        }
    }
}

fn poll_once(core: &Core, req: &Ticket<FakeConn>) {
    let mut cx = Context::from_waker(Waker::noop());
    // Granted before the drop: the guard would now own the connection; drop it = release.
    // (Refused: nothing to do.) Either way the request is finished and abandoning it
    // afterwards is a no-op.
    if let Poll::Ready(Ok(granted)) = core.poll_request(req, &mut cx) {
        release(core, Instant::ZERO, granted, ReleaseOutcome::Healthy);
    }
}

/// The pool is quiet: nothing in use, nobody waiting, every live connection idle and its object
/// held, every slot free.
fn assert_quiet(core: &Core, total: u32) {
    let s = core.state();
    assert_eq!(
        s,
        PoolState {
            total,
            idle: total,
            in_use: 0,
            connecting: 0,
            checking: 0,
            waiters: 0
        },
        "pool not quiet"
    );
    assert_eq!(core.idle_objects(), total as usize, "idle objects");
    assert_eq!(core.live_slots(), 0, "live slots");
}

/// Runs `f` under loom with preemption bound `bound` (`None` = exhaustive) unless
/// `LOOM_MAX_PREEMPTIONS` is set, and prints the bound, the iteration count and the time
/// (visible with `--nocapture`).
fn model(name: &str, bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    // LOOM_MAX_PREEMPTIONS (read by Builder::new) wins over the model's own bound.
    if b.preemption_bound.is_none() {
        b.preemption_bound = bound;
    }
    let bound = b.preemption_bound;
    // A plain std counter: loom does not track it, it only counts executions.
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&iterations);
    // Wall time of the checker itself (not simulated code), for the report only.
    let started = std::time::Instant::now();
    b.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: preemption bound {bound:?}, {} iterations, {:.2?}",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed()
    );
}

/// Set when an execution of `cancel_vs_grant_body` abandoned the request while its grant was
/// in flight (decided under the core lock, not yet written into the slot). A plain std flag:
/// loom does not track it, it only records that the explored executions reached that window.
static ABANDONED_IN_FLIGHT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Holder checks out the only connection; a waiter queues and drops its future while the
/// holder releases. Whichever comes first (the waiter still queued, its grant decided but not
/// yet delivered to its slot, or delivered and not seen), the connection ends up idle, not lost
/// (bb8 #67, mobc #63), and the pool serves the next request at once.
fn cancel_vs_grant_body() {
    let core = Arc::new(Core::new(config(1, WAIT_FOREVER)).unwrap());
    let held = get(&core, Instant::ZERO).unwrap();
    let waiter = {
        let core = Arc::clone(&core);
        thread::spawn(move || get_then_drop(&core, Instant::ZERO))
    };
    release(&core, Instant::ZERO, held, ReleaseOutcome::Healthy);
    waiter.join().unwrap();
    assert_quiet(&core, 1);
    if core.driver_stats().abandoned_in_flight > 0 {
        ABANDONED_IN_FLIGHT.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    assert!(matches!(
        core.acquire(Instant::ZERO, None, None).0,
        Acquire::Ready(Ok(_))
    ));
}

/// Preemption bound: none (exhaustive).
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn cancel_vs_grant_never_leaks() {
    model("cancel_vs_grant_never_leaks", None, cancel_vs_grant_body);
    assert!(
        ABANDONED_IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed),
        "no execution abandoned the request while its grant was in flight"
    );
}

/// The same model with the planted bug (a granted-but-unseen connection is forgotten on
/// cancel, as bb8 #67 did). loom must find the interleaving where the grant lands before the
/// cancel; `assert_quiet` then sees `in_use: 1`. Preemption bound: none.
#[test]
#[cfg(feature = "planted-bug-lost-grant")]
#[should_panic(expected = "pool not quiet")]
fn planted_lost_grant_is_caught() {
    model("planted_lost_grant_is_caught", None, cancel_vs_grant_body);
}

/// Set when an execution of `abandoned_in_flight_grant_serves_the_next_waiter` handed an
/// in-flight grant back (see `ABANDONED_IN_FLIGHT`).
static HANDED_BACK_TO_NEXT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Two requests queue behind the holder, A first. A's future is dropped while the holder
/// releases, so A's grant can be decided under the core lock and abandoned before it reaches
/// A's slot: the thread delivering it must hand the connection back, and pool-core must give it
/// to B, whose wake-up must not be lost (a lost one is a loom deadlock). Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn abandoned_in_flight_grant_serves_the_next_waiter() {
    model(
        "abandoned_in_flight_grant_serves_the_next_waiter",
        None,
        || {
            let core = Arc::new(Core::new(config(1, WAIT_FOREVER)).unwrap());
            let held = get(&core, Instant::ZERO).unwrap();
            let queue = || match core.acquire(Instant::ZERO, None, None) {
                (Acquire::Queued(t), acts) => {
                    perform(&core, Instant::ZERO, acts);
                    t
                }
                (Acquire::Ready(r), _) => panic!("the pool is full, got {r:?}"),
            };
            let (a, b) = (queue(), queue());
            let dropper = {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    poll_once(&core, &a);
                    perform(&core, Instant::ZERO, core.abandon(Instant::ZERO, a));
                })
            };
            let waiter = {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    let g = loom::future::block_on(poll_fn(|cx| core.poll_request(&b, cx)))
                        .expect("B is served");
                    release(&core, Instant::ZERO, g, ReleaseOutcome::Healthy);
                })
            };
            release(&core, Instant::ZERO, held, ReleaseOutcome::Healthy);
            dropper.join().unwrap();
            waiter.join().unwrap();
            assert_quiet(&core, 1);
            if core.driver_stats().abandoned_in_flight > 0 {
                HANDED_BACK_TO_NEXT.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    );
    assert!(
        HANDED_BACK_TO_NEXT.load(std::sync::atomic::Ordering::Relaxed),
        "no execution abandoned A while its grant was in flight"
    );
}

/// A request on an empty pool asks for a connect; a connector thread completes it while the
/// request's future is dropped. The new connection ends idle, not counted as connecting or in
/// use, and the slot is freed. Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn cancel_during_connect_never_leaks() {
    model("cancel_during_connect_never_leaks", None, || {
        let core = Arc::new(Core::new(config(1, WAIT_FOREVER)).unwrap());
        let (acquired, mut acts) = core.acquire(Instant::ZERO, None, None);
        let Acquire::Queued(req) = acquired else {
            panic!("an empty pool must connect first")
        };
        assert_eq!(acts.connects.len(), 1);
        let conn = acts.connects.remove(0);
        perform(&core, Instant::ZERO, acts);
        let connector = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let acts = core.connected(Instant::ZERO, conn, FakeConn(conn));
                perform(&core, Instant::ZERO, acts);
            })
        };
        poll_once(&core, &req);
        perform(&core, Instant::ZERO, core.abandon(Instant::ZERO, req));
        connector.join().unwrap();
        assert_quiet(&core, 1);
    });
}

/// Check on checkout: a request is bound to the idle connection while a checker thread runs
/// its PING, and the request's future is dropped meanwhile (bb8 #59: the count stayed high).
/// Whether the check passes or fails, the pool ends quiet (at most one connection).
/// Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn cancel_during_check_never_leaks() {
    for passes in [true, false] {
        model("cancel_during_check_never_leaks", None, move || {
            let mut cfg = config(1, WAIT_FOREVER);
            cfg.check_on_checkout = CheckOnCheckout {
                when: CheckWhen::Always,
                how: CheckHow::Ping,
            };
            let core = Arc::new(Core::new(cfg).unwrap());
            // Make one idle connection (a new connection is granted without a check).
            let first = get(&core, Instant::ZERO).unwrap();
            release(&core, Instant::ZERO, first, ReleaseOutcome::Healthy);
            let (acquired, mut acts) = core.acquire(Instant::ZERO, None, None);
            let Acquire::Queued(req) = acquired else {
                panic!("check on checkout must hold the request")
            };
            assert_eq!(acts.checks.len(), 1);
            let (conn, _how, c) = acts.checks.remove(0);
            perform(&core, Instant::ZERO, acts);
            let checker = {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    let acts = core.check_done(Instant::ZERO, conn, c, passes);
                    perform(&core, Instant::ZERO, acts);
                })
            };
            poll_once(&core, &req);
            perform(&core, Instant::ZERO, core.abandon(Instant::ZERO, req));
            checker.join().unwrap();
            // A failed check closes the connection; if the request was still live then, the
            // pool connected a replacement for it, which ends idle.
            let total = core.state().total;
            assert!(total == 1 || !passes, "{total}");
            assert_quiet(&core, total);
        });
    }
}

/// A waiter with a 1 s pool timeout; the holder releases while the timer fires at 2 s. The
/// waiter's future completes exactly once, with the connection or with `PoolTimeout`, and
/// the pool ends quiet either way. Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn release_vs_timeout_grants_or_rejects_exactly_once() {
    model(
        "release_vs_timeout_grants_or_rejects_exactly_once",
        None,
        || {
            let wait_1s = WhenExhausted::Wait {
                timeout: Some(Duration::from_secs(1)),
            };
            let core = Arc::new(Core::new(config(1, wait_1s)).unwrap());
            let held = get(&core, Instant::ZERO).unwrap();
            let waiter = {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    let r = get(&core, Instant::ZERO);
                    let granted = r.is_ok();
                    match r {
                        Ok(g) => release(&core, Instant::ZERO, g, ReleaseOutcome::Healthy),
                        Err(e) => assert_eq!(e, PoolError::PoolTimeout),
                    }
                    granted
                })
            };
            let timer = {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    let t = Instant::from_secs(2);
                    perform(&core, t, core.timeout(t));
                })
            };
            release(&core, Instant::ZERO, held, ReleaseOutcome::Healthy);
            let granted = waiter.join().unwrap();
            timer.join().unwrap();
            assert_quiet(&core, 1);
            let st = core.stats();
            // The holder's grant plus exactly one decision for the waiter.
            assert_eq!(st.grants + st.rejects_total(), 2, "{st:?}");
            assert_eq!(st.rejects_total(), u64::from(!granted));
        },
    );
}

/// The holder releases its connection as broken while a request waits. pool-core closes it and
/// connects a replacement for the waiter; the waiter must be woken with the new connection
/// (bb8 #167, go-redis #88). A lost wake-up is a loom deadlock. Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn broken_release_wakes_a_waiter() {
    model("broken_release_wakes_a_waiter", None, || {
        let core = Arc::new(Core::new(config(1, WAIT_FOREVER)).unwrap());
        let held = get(&core, Instant::ZERO).unwrap();
        let broken_id = held.0;
        let waiter = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let g = get(&core, Instant::ZERO).expect("the waiter is served");
                assert_ne!(g.0, broken_id, "a broken connection was handed out again");
                release(&core, Instant::ZERO, g, ReleaseOutcome::Healthy);
            })
        };
        release(&core, Instant::ZERO, held, ReleaseOutcome::Broken);
        waiter.join().unwrap();
        assert_quiet(&core, 1);
    });
}

/// `close()` races a `get()` while the holder releases: the request gets the connection or
/// `Closed`, never hangs; afterwards every connection is closed and new requests are refused.
/// Preemption bound: none.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn close_vs_acquire() {
    model("close_vs_acquire", None, || {
        let core = Arc::new(Core::new(config(1, WAIT_FOREVER)).unwrap());
        let held = get(&core, Instant::ZERO).unwrap();
        let requester = {
            let core = Arc::clone(&core);
            thread::spawn(move || match get(&core, Instant::ZERO) {
                Ok(g) => release(&core, Instant::ZERO, g, ReleaseOutcome::Healthy),
                Err(e) => assert_eq!(e, PoolError::Closed),
            })
        };
        let closer = {
            let core = Arc::clone(&core);
            thread::spawn(move || perform(&core, Instant::ZERO, core.shutdown(Instant::ZERO)))
        };
        release(&core, Instant::ZERO, held, ReleaseOutcome::Healthy);
        requester.join().unwrap();
        closer.join().unwrap();
        assert_quiet(&core, 0);
        assert!(matches!(
            core.acquire(Instant::ZERO, None, None).0,
            Acquire::Ready(Err(PoolError::Closed))
        ));
    });
}

/// Three threads each check out, use and return a connection from a pool of `max_size`:
/// all are served, none is lost, the pool never exceeds its size.
fn three_threads(max_size: u32) {
    let core = Arc::new(Core::new(config(max_size, WAIT_FOREVER)).unwrap());
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let g = get(&core, Instant::ZERO).expect("served");
                assert!(core.state().total <= max_size);
                release(&core, Instant::ZERO, g, ReleaseOutcome::Healthy);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let total = core.state().total;
    assert!((1..=max_size).contains(&total));
    assert_quiet(&core, total);
}

/// Preemption bound: 3 (exhaustive takes too long for CI on 2 shared cores; see the docs for
/// the unbounded run).
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn three_threads_share_max_size_1() {
    model("three_threads_share_max_size_1", Some(3), || {
        three_threads(1)
    });
}

/// Preemption bound: 3.
#[test]
#[cfg(not(feature = "planted-bug-lost-grant"))]
fn three_threads_share_max_size_2() {
    model("three_threads_share_max_size_2", Some(3), || {
        three_threads(2)
    });
}
