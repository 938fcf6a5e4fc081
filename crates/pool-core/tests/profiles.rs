//! One test per profile: the behaviour the library is known for, and the incidents at the
//! pool's level (the full reproductions, with a fake Redis, live in the simulations).

mod common;

use common::*;
use pool_core::{CheckHow, CloseReason, Input, Instant, Output, Profile, RejectReason};

/// Grants `n` requests (0..n) and completes every connect, check and due timer on the way.
fn saturate(h: &mut H, n: u64) {
    for r in 0..n {
        h.acquire(r);
        settle(h);
    }
    assert_eq!(
        h.checker.holders().len() as u64,
        n,
        "{:?}",
        h.pool().state()
    );
}

/// Completes connects (successfully), checks (passed) and timers due now, until quiet.
fn settle(h: &mut H) {
    loop {
        if h.pool().poll_timeout().is_some_and(|t| t <= h.now) {
            h.step(Input::Timeout);
            continue;
        }
        let busy = h.pool().connections().find(|c| {
            matches!(
                c.1,
                pool_core::ConnPhase::Connecting { .. } | pool_core::ConnPhase::Checking { .. }
            )
        });
        match busy {
            Some((conn, pool_core::ConnPhase::Connecting { .. })) => {
                h.connected(conn.0);
            }
            Some((conn, _)) => {
                h.passed(conn.0);
            }
            None => break,
        }
    }
}

/// Releases every granted connection (healthy), then settles.
fn release_all(h: &mut H) {
    loop {
        let held: Vec<_> = h.checker.holders().to_vec();
        if held.is_empty() {
            break;
        }
        for (conn, _) in held {
            h.release(conn.0);
        }
        settle(h);
    }
}

fn granted(outs: &[Output]) -> usize {
    outs.iter()
        .filter(|o| matches!(o, Output::Grant { .. }))
        .count()
}

#[test]
fn radix_v2_hands_out_stale_connections_after_an_idle_gap() {
    // Incident A: 3 connections, idle for longer than the server's `timeout 300`; the pool
    // has no timer and no check, so the next 3 requests get the dead connections.
    let mut h = H::new(Profile::RadixV2.config());
    saturate(&mut h, 3);
    for c in 0..3 {
        h.release(c);
    }
    assert_eq!(
        h.pool().poll_timeout(),
        None,
        "nothing will ever look at them"
    );
    h.advance(secs(400));
    for r in 10..13 {
        let outs = h.acquire(r);
        assert_eq!(granted(&outs), 1, "granted at once, unchecked: {outs:?}");
    }
}

#[test]
fn radix_v2_is_unbounded_and_keeps_only_its_channel_capacity() {
    // Incident B's mechanism: live connections track concurrency; the channel keeps 3.
    let mut h = H::new(Profile::RadixV2.config());
    saturate(&mut h, 10);
    assert_eq!(h.pool().state().total, 10);
    let closes: usize = (0..10).map(|c| h.release(c).len()).sum();
    assert_eq!(closes, 7);
    assert_eq!(h.pool().stats().closes_for(CloseReason::MaxIdle), 7);
}

#[test]
fn redis_py_peeks_on_checkout_and_fails_fast_past_100() {
    let mut h = H::new(Profile::RedisPy.config());
    saturate(&mut h, 100);
    assert_eq!(
        h.acquire(100),
        vec![reject(100, RejectReason::TooManyConnections)]
    );
    h.release(5);
    assert_eq!(h.acquire(101), vec![check(5, CheckHow::Peek)]);
}

#[test]
fn redis_py_blocking_waits_20s_then_gives_up() {
    let mut h = H::new(Profile::RedisPyBlocking.config());
    saturate(&mut h, 50);
    assert_eq!(h.acquire(50), vec![]);
    assert_eq!(h.advance(secs(19)), vec![]);
    assert_eq!(
        h.advance(secs(1)),
        vec![reject(50, RejectReason::PoolTimeout)]
    );
}

#[test]
fn aioredis_fails_fast_with_too_many_connections_past_50() {
    // Incident B (seed 000): every request above 50 in flight fails at once.
    let mut h = H::new(Profile::Aioredis.config());
    saturate(&mut h, 50);
    let rejected = (50..2050)
        .filter(|&r| h.acquire(r) == vec![reject(r, RejectReason::TooManyConnections)])
        .count();
    assert_eq!(rejected, 2000);
}

#[test]
fn go_redis_v9_gives_up_at_the_callers_deadline_not_the_pool_timeout() {
    let mut h = H::new(Profile::GoRedisV9.config());
    saturate(&mut h, 20);
    h.acquire_by(20, secs(3));
    assert_eq!(
        h.advance(secs(3)),
        vec![reject(20, RejectReason::DeadlineExceeded)]
    );
    h.acquire(21);
    assert_eq!(
        h.advance(secs(6)),
        vec![reject(21, RejectReason::PoolTimeout)]
    );
}

#[test]
fn go_redis_v9_closes_connections_idle_for_30_minutes() {
    let mut h = H::new(Profile::GoRedisV9.config());
    saturate(&mut h, 1);
    h.release(0);
    assert_eq!(
        h.advance(secs(1800)),
        vec![close(0, CloseReason::IdleTimeout)]
    );
}

#[test]
fn hikari_fills_to_min_idle_one_connect_at_a_time() {
    let mut h = H::new(Profile::Hikari.config());
    assert_eq!(h.step(Input::Timeout), vec![connect(0)]);
    for c in 0..9 {
        assert_eq!(h.connected(c), vec![connect(c + 1)]);
    }
    assert_eq!(h.connected(9), vec![]);
    assert_eq!(h.pool().state().idle, 10);
    // Checked only when idle for 500 ms or more.
    assert_eq!(
        h.acquire(0),
        vec![grant(0, 9)],
        "LIFO, idle < 500 ms: no check"
    );
    h.release(9);
    h.advance(ms(500));
    assert_eq!(h.acquire(1), vec![check(9, CheckHow::Ping)]);
}

#[test]
fn hikari_lifetimes_are_jittered_below_30_minutes() {
    let mut h = H::new(Profile::Hikari.config());
    h.step(Input::Timeout);
    for c in 0..10 {
        h.connected(c);
    }
    let first = h.pool().poll_timeout().expect("lifetime timer");
    assert!(first < Instant::from_secs(1800) && first >= Instant::from_secs(1755));
    let outs = h.advance(secs(1800));
    let lifetimes = outs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Close {
                    reason: CloseReason::MaxLifetime,
                    ..
                }
            )
        })
        .count();
    assert_eq!(lifetimes, 10);
}

#[test]
fn bb8_pings_on_every_checkout_and_lets_newcomers_barge() {
    let mut h = H::new(Profile::Bb8.config());
    saturate(&mut h, 10);
    h.acquire(10);
    assert_eq!(h.release(0), vec![], "the waiter is only notified");
    assert_eq!(
        h.acquire(11),
        vec![check(0, CheckHow::Ping)],
        "newcomer barges"
    );
    assert_eq!(h.passed(0), vec![grant(11, 0)]);
    assert_eq!(h.step(Input::Timeout), vec![]);
    assert_eq!(h.pool().waiters().count(), 1);
}

#[test]
fn deadpool_waits_forever_in_strict_fifo_order() {
    let mut h = H::new(Profile::Deadpool.config());
    saturate(&mut h, 4);
    h.acquire(4);
    h.acquire(5);
    assert_eq!(h.pool().poll_timeout(), None);
    h.advance(secs(24 * 3600));
    assert_eq!(h.release(2), vec![check(2, CheckHow::Ping)]);
    assert_eq!(h.acquire(6), vec![], "no barging");
    assert_eq!(h.passed(2), vec![grant(4, 2)]);
}

#[test]
fn r2d2_fills_the_pool_at_start_and_checks_every_checkout() {
    let mut h = H::new(Profile::R2d2.config());
    let outs = h.step(Input::Timeout);
    assert_eq!(outs.len(), 10);
    for c in 0..10 {
        h.connected(c);
    }
    assert_eq!(h.acquire(0), vec![check(9, CheckHow::Ping)], "LIFO");
}

#[test]
fn recommended_never_hands_out_a_connection_idle_past_the_server_timeout() {
    // Incident A: the idle gap is longer than Redis `timeout 300`. The recommended pool has
    // closed every connection idle for 60 s, and peeks at the rest on checkout.
    let mut h = H::new(Profile::Recommended.config());
    saturate(&mut h, 5);
    release_all(&mut h);
    let old = h.pool().state().total;
    h.advance(secs(400));
    settle(&mut h);
    for c in h.pool().connections() {
        assert!(
            c.0.0 >= u64::from(old),
            "every old connection was closed: {c:?}"
        );
    }
    let outs = h.acquire(100);
    assert!(
        matches!(
            outs.first(),
            Some(Output::Check {
                how: CheckHow::Peek,
                ..
            })
        ),
        "checked before use: {outs:?}"
    );
}

#[test]
fn recommended_bounds_a_burst_and_shrinks_back() {
    // Incident B: 500 concurrent requests.
    let mut h = H::new(Profile::Recommended.config());
    for r in 0..500 {
        h.acquire(r);
    }
    assert!(h.pool().state().total <= 20);
    assert!(h.pool().state().waiters <= 200);
    assert_eq!(
        h.pool().stats().rejects_for(RejectReason::QueueFull),
        500 - 200
    );
    settle(&mut h);
    release_all(&mut h);
    assert!(h.pool().state().idle <= 10, "max_idle");
    h.advance(secs(61));
    // After the idle timeout only the warm min_idle connections are (re)made.
    assert!(h.pool().state().total <= 2, "{:?}", h.pool().state());
}

#[test]
fn recommended_gives_up_before_a_3s_caller_does() {
    // Incident C: waiting never outlives the caller.
    let mut h = H::new(Profile::Recommended.config());
    saturate(&mut h, 20);
    for r in 20..120 {
        h.acquire_by(r, secs(3));
    }
    let outs = h.advance(secs(1));
    let timeouts = outs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Reject {
                    reason: RejectReason::PoolTimeout,
                    ..
                }
            )
        })
        .count();
    assert_eq!(timeouts, 100);
    assert_eq!(h.pool().state().waiters, 0);
}
