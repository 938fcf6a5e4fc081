//! One test (or a few) per knob, each stating the behaviour the knob promises. Every step goes
//! through `invariants::Checker`, so every invariant is also checked after every step.

mod common;

use std::time::Duration;

use common::*;
use pool_core::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, CloseReason, Config, ConnId, Fairness, Input,
    InputError, Instant, Keepalive, KeepaliveScope, Output, Pool, RejectReason, ReqId, Reuse,
    WhenExhausted,
};

/// A plain waiting pool: max 2, pool timeout 1 s, no checks, LIFO, strict FIFO.
fn cfg() -> Config {
    Config {
        max_size: Some(2),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(1)),
        },
        ..Config::bare()
    }
}

/// Two idle connections, 0 and 1 (0 released first).
fn with_two_idle(config: Config) -> H {
    let mut h = H::new(config);
    h.acquire_new(100);
    h.acquire_new(101);
    h.release(0);
    h.release(1);
    assert_eq!(h.pool().state().idle, 2);
    h
}

#[test]
fn max_size_bounds_connects_and_extra_requests_queue() {
    let mut h = H::new(cfg());
    assert_eq!(h.acquire(0), vec![connect(0)]);
    assert_eq!(h.acquire(1), vec![connect(1)]);
    assert_eq!(h.acquire(2), vec![], "at max_size: queue, no connect");
    assert_eq!(h.pool().state().waiters, 3);
    assert_eq!(h.connected(0), vec![grant(0, 0)]);
    assert_eq!(h.connected(1), vec![grant(1, 1)]);
    assert_eq!(h.release(0), vec![grant(2, 0)], "hand-off to the waiter");
    assert_eq!(h.pool().stats().peak_total, 2);
}

#[test]
fn unbounded_pool_connects_once_per_concurrent_request() {
    let mut h = H::new(Config {
        max_size: None,
        ..cfg()
    });
    for r in 0..5 {
        assert_eq!(h.acquire(r), vec![connect(r)]);
    }
    assert_eq!(h.pool().state().total, 5);
}

#[test]
fn fail_fast_rejects_with_too_many_connections_at_max_size() {
    let mut h = H::new(Config {
        max_size: Some(1),
        when_exhausted: WhenExhausted::FailFast,
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![connect(0)]);
    assert_eq!(
        h.acquire(1),
        vec![reject(1, RejectReason::TooManyConnections)]
    );
    assert_eq!(h.connected(0), vec![grant(0, 0)]);
    assert_eq!(
        h.acquire(2),
        vec![reject(2, RejectReason::TooManyConnections)]
    );
    h.release(0);
    assert_eq!(h.acquire(3), vec![grant(3, 0)]);
}

#[test]
fn fail_fast_connect_failure_rejects_the_request_that_made_it() {
    let mut h = H::new(Config {
        when_exhausted: WhenExhausted::FailFast,
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![connect(0)]);
    assert_eq!(
        h.connect_failed(0),
        vec![reject(0, RejectReason::ConnectFailed)]
    );
    assert_eq!(h.pool().state(), Default::default());
}

#[test]
fn fail_fast_waiter_takes_a_freed_connection_and_its_connect_goes_idle() {
    let mut h = H::new(Config {
        when_exhausted: WhenExhausted::FailFast,
        ..cfg()
    });
    h.acquire_new(0);
    assert_eq!(h.acquire(1), vec![connect(1)]);
    assert_eq!(h.release(0), vec![grant(1, 0)]);
    assert_eq!(h.connected(1), vec![]);
    assert_eq!(h.pool().state().idle, 1);
}

#[test]
fn wait_mode_connect_failure_keeps_the_waiter_and_retries() {
    let mut h = H::new(cfg());
    assert_eq!(h.acquire(0), vec![connect(0)]);
    assert_eq!(
        h.connect_failed(0),
        vec![connect(1)],
        "no back-off: retry at once"
    );
    assert_eq!(h.connected(1), vec![grant(0, 1)]);
    assert_eq!(h.pool().stats().connects_failed, 1);
}

#[test]
fn pool_timeout_rejects_a_waiter_at_its_bound() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.now = Instant::from_millis(200);
    assert_eq!(h.acquire(1), vec![]);
    assert_eq!(h.pool().poll_timeout(), Some(Instant::from_millis(1200)));
    assert_eq!(h.advance(ms(999)), vec![]);
    assert_eq!(h.advance(ms(1)), vec![reject(1, RejectReason::PoolTimeout)]);
    assert_eq!(h.pool().stats().rejects_for(RejectReason::PoolTimeout), 1);
}

#[test]
fn wait_without_timeout_waits_forever() {
    let mut h = H::new(Config {
        max_size: Some(1),
        when_exhausted: WhenExhausted::Wait { timeout: None },
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    assert_eq!(h.pool().poll_timeout(), None);
    assert_eq!(h.advance(secs(3600)), vec![]);
    assert_eq!(h.release(0), vec![grant(1, 0)]);
}

#[test]
fn honoured_deadline_rejects_before_the_pool_timeout() {
    let mut h = H::new(Config {
        max_size: Some(1),
        honour_deadlines: true,
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_by(1, ms(300));
    h.acquire(2);
    assert_eq!(h.pool().poll_timeout(), Some(Instant::from_millis(300)));
    assert_eq!(
        h.advance(ms(300)),
        vec![reject(1, RejectReason::DeadlineExceeded)]
    );
    assert_eq!(
        h.advance(ms(700)),
        vec![reject(2, RejectReason::PoolTimeout)]
    );
}

#[test]
fn deadline_already_past_is_rejected_at_once() {
    let mut h = H::new(Config {
        honour_deadlines: true,
        ..cfg()
    });
    h.now = Instant::from_secs(5);
    let out = h.step(Input::Acquire {
        req: ReqId(0),
        deadline: Some(Instant::from_secs(5)),
    });
    assert_eq!(out, vec![reject(0, RejectReason::DeadlineExceeded)]);
}

#[test]
fn deadlines_are_ignored_unless_honoured() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_by(1, ms(300));
    assert_eq!(h.pool().poll_timeout(), Some(Instant::from_secs(1)));
    assert_eq!(
        h.advance(secs(1)),
        vec![reject(1, RejectReason::PoolTimeout)]
    );
}

#[test]
fn max_waiters_rejects_with_queue_full() {
    let mut h = H::new(Config {
        max_size: Some(1),
        max_waiters: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    assert_eq!(h.acquire(1), vec![]);
    assert_eq!(h.acquire(2), vec![reject(2, RejectReason::QueueFull)]);
}

#[test]
fn max_idle_closes_a_released_connection_beyond_it() {
    let mut h = H::new(Config {
        max_idle: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_new(1);
    assert_eq!(h.release(0), vec![]);
    assert_eq!(h.release(1), vec![close(1, CloseReason::MaxIdle)]);
    assert_eq!(h.pool().state().idle, 1);
}

#[test]
fn idle_timeout_closes_idle_connections_on_time() {
    let mut h = H::new(Config {
        idle_timeout: Some(secs(10)),
        ..cfg()
    });
    h.acquire_new(0);
    h.release(0);
    assert_eq!(h.pool().poll_timeout(), Some(Instant::from_secs(10)));
    assert_eq!(
        h.advance(secs(10)),
        vec![close(0, CloseReason::IdleTimeout)]
    );
    assert_eq!(h.pool().state().total, 0);
}

#[test]
fn idle_timeout_restarts_when_the_connection_is_used() {
    let mut h = H::new(Config {
        idle_timeout: Some(secs(10)),
        ..cfg()
    });
    h.acquire_new(0);
    h.release(0);
    h.advance(secs(9));
    assert_eq!(h.acquire(1), vec![grant(1, 0)]);
    h.release(0);
    assert_eq!(h.advance(secs(9)), vec![]);
    assert_eq!(h.advance(secs(1)), vec![close(0, CloseReason::IdleTimeout)]);
}

#[test]
fn late_timeout_still_never_hands_out_an_expired_connection() {
    let mut h = H::new(Config {
        idle_timeout: Some(secs(10)),
        ..cfg()
    });
    h.acquire_new(0);
    h.release(0);
    h.now = Instant::from_secs(20); // the caller never delivered the Timeout
    assert_eq!(
        h.acquire(1),
        vec![close(0, CloseReason::IdleTimeout), connect(1)]
    );
}

#[test]
fn max_lifetime_closes_idle_at_expiry_and_in_use_on_release() {
    let mut h = H::new(Config {
        max_lifetime: Some(secs(60)),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_new(1);
    h.release(0);
    assert_eq!(
        h.advance(secs(60)),
        vec![close(0, CloseReason::MaxLifetime)]
    );
    assert_eq!(h.release(1), vec![close(1, CloseReason::MaxLifetime)]);
}

#[test]
fn lifetime_jitter_is_seeded_and_bounded() {
    let expiry = |seed: u64| {
        let mut h = H::new(Config {
            max_lifetime: Some(secs(60)),
            lifetime_jitter: Some(secs(10)),
            seed,
            ..cfg()
        });
        h.acquire_new(0);
        h.release(0);
        h.pool().poll_timeout().expect("lifetime timer")
    };
    let a = expiry(1);
    assert_eq!(a, expiry(1), "same seed, same expiry");
    assert!(a <= Instant::from_secs(60) && a >= Instant::from_secs(50));
    let spread: Vec<Instant> = (0..8).map(expiry).collect();
    assert!(spread.iter().any(|&e| e != a), "seeds change the jitter");
}

#[test]
fn lifetime_jitter_is_splitmix64_of_the_seed_and_the_connection_id() {
    // Pinned against a reference SplitMix64 (Vigna's; seed 1234567 gives 6457827717110365317
    // first): jitter = splitmix64(seed ^ id * 0x2545F4914F6CDD1D) % (jitter_ns + 1), so a
    // changed mixer changes these instants and replays of recorded seeds.
    for (seed, expected_ns) in [
        (0, [1_783_612_962_605, 1_771_974_290_918]),
        (42, [1_747_472_715_545, 1_771_796_769_067]),
    ] {
        let mut h = H::new(Config {
            max_lifetime: Some(secs(30 * 60)),
            lifetime_jitter: Some(secs(60)),
            seed,
            ..cfg()
        });
        h.acquire_new(0);
        h.acquire_new(1);
        h.release(0);
        h.release(1);
        let mut closed = Vec::new();
        while let Some(t) = h.pool().poll_timeout() {
            h.now = t;
            for o in h.step(Input::Timeout) {
                if let Output::Close {
                    conn,
                    reason: CloseReason::MaxLifetime,
                } = o
                {
                    closed.push((conn.0, t.as_nanos()));
                }
            }
        }
        closed.sort_unstable();
        assert_eq!(
            closed,
            vec![(0, expected_ns[0]), (1, expected_ns[1])],
            "seed {seed}"
        );
    }
}

#[test]
fn check_always_peeks_before_granting() {
    let mut h = with_two_idle(Config {
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![check(1, CheckHow::Peek)], "LIFO: newest");
    assert_eq!(h.pool().state().checking, 1);
    assert_eq!(h.passed(1), vec![grant(0, 1)]);
}

#[test]
fn check_counters_count_started_passed_and_failed_checks() {
    let mut h = with_two_idle(Config {
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![check(1, CheckHow::Peek)]);
    h.failed(1); // retries on conn 0: a second check
    assert_eq!(h.passed(0), vec![grant(0, 0)]);
    let s = h.pool().stats();
    assert_eq!(
        (s.checks_started, s.checks_passed, s.checks_failed),
        (2, 1, 1)
    );
}

#[test]
fn failed_check_closes_and_the_request_retries_on_another_connection() {
    let mut h = with_two_idle(Config {
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        },
        ..cfg()
    });
    h.acquire(0);
    assert_eq!(
        h.failed(1),
        vec![close(1, CloseReason::CheckFailed), check(0, CheckHow::Ping)]
    );
    assert_eq!(
        h.failed(0),
        vec![close(0, CloseReason::CheckFailed), connect(2)],
        "no idle left: connect"
    );
    assert_eq!(
        h.connected(2),
        vec![grant(0, 2)],
        "a fresh connection is not checked"
    );
}

#[test]
fn failed_check_sends_the_request_back_to_the_head_of_the_queue() {
    let mut h = H::new(Config {
        max_size: Some(1),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    h.acquire(2);
    assert_eq!(h.release(0), vec![check(0, CheckHow::Peek)]);
    assert_eq!(
        h.failed(0),
        vec![close(0, CloseReason::CheckFailed), connect(1)]
    );
    assert_eq!(
        h.pool().waiters().collect::<Vec<_>>(),
        vec![ReqId(1), ReqId(2)]
    );
    assert_eq!(h.connected(1), vec![grant(1, 1)]);
}

#[test]
fn check_if_idle_for_only_checks_connections_idle_that_long() {
    let mut h = H::new(Config {
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::IfIdleFor(ms(500)),
            how: CheckHow::Ping,
        },
        ..cfg()
    });
    h.acquire_new(0);
    h.release(0);
    h.now = Instant::from_millis(499);
    assert_eq!(h.acquire(1), vec![grant(1, 0)]);
    h.release(0);
    h.now = Instant::from_millis(999);
    assert_eq!(h.acquire(2), vec![check(0, CheckHow::Ping)]);
}

#[test]
fn cancel_during_a_check_returns_the_connection_when_it_passes() {
    let mut h = with_two_idle(Config {
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..cfg()
    });
    h.acquire(0);
    assert_eq!(h.cancel(0), vec![]);
    assert!(!h.pool().is_live(ReqId(0)));
    assert_eq!(h.passed(1), vec![]);
    assert_eq!(h.pool().state().idle, 2);
}

#[test]
fn keepalive_every_idle_pings_idle_connections_and_they_are_unavailable_meanwhile() {
    let mut h = with_two_idle(Config {
        keepalive: Some(Keepalive {
            interval: secs(30),
            scope: KeepaliveScope::EveryIdle,
        }),
        max_size: Some(3),
        ..cfg()
    });
    let outs = h.advance(secs(30));
    assert_eq!(
        outs,
        vec![check(0, CheckHow::Ping), check(1, CheckHow::Ping)]
    );
    assert_eq!(h.pool().state().checking, 2);
    assert_eq!(
        h.acquire(0),
        vec![],
        "pinged connections are not idle, but coming back: no connect"
    );
    assert_eq!(
        h.passed(0),
        vec![grant(0, 0)],
        "a passed ping frees the connection"
    );
    assert_eq!(h.passed(1), vec![]);
    assert_eq!(h.pool().stats().keepalive_pings, 2);
}

#[test]
fn keepalive_one_per_interval_rotates_through_a_fifo_pool() {
    // Seed 003's fix: one PING through the pool per interval. With FIFO reuse and 3
    // connections each is touched only every third interval.
    let mut config = pool_core::profile::radix_v2_with_ping_fix(secs(100));
    config.max_idle = Some(3);
    let mut h = H::new(config);
    for r in 0..3 {
        h.acquire_new(r);
    }
    for c in 0..3 {
        h.release(c);
    }
    let mut pinged = Vec::new();
    for _ in 0..6 {
        for o in h.advance(secs(100)) {
            if let Output::Check { conn, how } = o {
                assert_eq!(how, CheckHow::Ping);
                pinged.push(conn.0);
                h.passed(conn.0);
            }
        }
    }
    assert_eq!(pinged, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn max_concurrent_connects_limits_connects_in_flight() {
    let mut h = H::new(Config {
        max_size: Some(5),
        max_concurrent_connects: Some(1),
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![connect(0)]);
    assert_eq!(h.acquire(1), vec![]);
    assert_eq!(h.connected(0), vec![grant(0, 0), connect(1)]);
}

#[test]
fn connect_timeout_aborts_the_connect_and_counts_a_failure() {
    let mut h = H::new(Config {
        connect_timeout: Some(secs(1)),
        ..cfg()
    });
    h.acquire(0);
    assert_eq!(
        h.advance(secs(1)),
        vec![
            reject(0, RejectReason::PoolTimeout),
            close(0, CloseReason::ConnectTimeout),
        ],
        "waiters first, then connection timers, at the same instant"
    );
    assert_eq!(h.pool().stats().connects_failed, 1);
    assert_eq!(h.pool().stats().closes_for(CloseReason::ConnectTimeout), 1);
    assert_eq!(
        h.try_step(Input::Connected { conn: ConnId(0) }),
        Err(InputError::WrongConnState {
            conn: ConnId(0),
            expected: "connecting"
        })
    );
}

#[test]
fn backoff_delays_reconnects_doubling_up_to_max() {
    let mut h = H::new(Config {
        when_exhausted: WhenExhausted::Wait { timeout: None },
        connect_backoff: Some(Backoff {
            initial: ms(100),
            max: ms(300),
        }),
        ..cfg()
    });
    h.acquire(0);
    let mut starts = Vec::new();
    for conn in 0..4 {
        assert_eq!(h.connect_failed(conn), vec![]);
        let outs = h.advance(secs(1));
        assert_eq!(outs, vec![connect(conn + 1)]);
        starts.push(h.pool().stats().connects_started);
    }
    // Delays were 100, 200, 300 (capped), 300 ms: check via a fresh run's timers.
    let mut h = H::new(Config {
        when_exhausted: WhenExhausted::Wait { timeout: None },
        connect_backoff: Some(Backoff {
            initial: ms(100),
            max: ms(300),
        }),
        ..cfg()
    });
    h.acquire(0);
    let mut delays = Vec::new();
    for conn in 0..4 {
        let t0 = h.now;
        h.connect_failed(conn);
        let t = h.pool().poll_timeout().expect("back-off timer");
        delays.push(t.saturating_duration_since(t0));
        h.now = t;
        assert_eq!(h.step(Input::Timeout), vec![connect(conn + 1)]);
    }
    assert_eq!(delays, vec![ms(100), ms(200), ms(300), ms(300)]);
    h.connected(4);
    assert_eq!(h.pool().stats().connects_succeeded, 1);
}

#[test]
fn lifo_reuses_the_most_recently_released_connection() {
    let mut h = with_two_idle(cfg());
    assert_eq!(h.acquire(0), vec![grant(0, 1)]);
}

#[test]
fn fifo_reuses_the_least_recently_released_connection() {
    let mut h = with_two_idle(Config {
        reuse: Reuse::Fifo,
        ..cfg()
    });
    assert_eq!(h.acquire(0), vec![grant(0, 0)]);
}

#[test]
fn strict_fifo_hands_off_inside_the_release_and_a_newcomer_queues() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    assert_eq!(h.release(0), vec![grant(1, 0)]);
    assert_eq!(h.acquire(2), vec![]);
    assert_eq!(h.pool().waiters().collect::<Vec<_>>(), vec![ReqId(2)]);
}

#[test]
fn barging_lets_a_new_acquire_take_a_freed_connection_before_the_wakeup() {
    let mut h = H::new(Config {
        max_size: Some(1),
        fairness: Fairness::Barging,
        ..cfg()
    });
    h.acquire_new(0);
    h.now = Instant::from_millis(10);
    h.acquire(1);
    assert_eq!(h.release(0), vec![], "the waiter is only woken");
    assert_eq!(h.pool().poll_timeout(), Some(h.now), "wake-up due now");
    assert_eq!(h.acquire(2), vec![grant(2, 0)], "the newcomer barges");
    assert_eq!(
        h.step(Input::Timeout),
        vec![],
        "the woken waiter finds nothing"
    );
    assert_eq!(h.release(0), vec![]);
    assert_eq!(h.step(Input::Timeout), vec![grant(1, 0)]);
}

#[test]
fn min_idle_is_filled_on_the_first_input_and_replenished() {
    let mut h = H::new(Config {
        min_idle: 2,
        idle_timeout: Some(secs(10)),
        ..cfg()
    });
    assert_eq!(h.step(Input::Timeout), vec![connect(0), connect(1)]);
    h.connected(0);
    h.connected(1);
    assert_eq!(h.pool().state().idle, 2);
    let outs = h.advance(secs(10));
    assert_eq!(
        outs,
        vec![
            close(0, CloseReason::IdleTimeout),
            close(1, CloseReason::IdleTimeout),
            connect(2),
            connect(3)
        ]
    );
}

#[test]
fn shutdown_rejects_waiters_closes_idle_and_in_use_on_release() {
    let mut h = H::new(Config {
        max_size: Some(2),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_new(1);
    h.release(1);
    h.acquire(2); // takes 1
    h.release(1);
    h.acquire(3);
    h.acquire(4); // (3 got 1) 4 waits
    assert!(!h.pool().is_shut_down());
    let outs = h.step(Input::Shutdown);
    assert_eq!(outs, vec![reject(4, RejectReason::Closed),]);
    assert_eq!(h.release(0), vec![close(0, CloseReason::Shutdown)]);
    assert_eq!(h.acquire(5), vec![reject(5, RejectReason::Closed)]);
    assert_eq!(h.release(1), vec![close(1, CloseReason::Shutdown)]);
    assert_eq!(h.pool().state(), Default::default());
    assert!(h.pool().is_shut_down());
}

#[test]
fn shutdown_aborts_connects_and_closes_idle() {
    let mut h = H::new(cfg());
    h.acquire_new(0);
    h.release(0);
    h.acquire(1); // takes 0
    h.acquire(2); // connect 1
    let outs = h.step(Input::Shutdown);
    assert_eq!(
        outs,
        vec![
            reject(2, RejectReason::Closed),
            close(1, CloseReason::Shutdown)
        ]
    );
    assert_eq!(h.pool().poll_timeout(), None);
}

#[test]
fn peer_closed_removes_an_idle_connection() {
    let mut h = with_two_idle(cfg());
    assert_eq!(
        h.step(Input::PeerClosed { conn: ConnId(0) }),
        vec![close(0, CloseReason::PeerClosed)]
    );
    assert_eq!(
        h.pool().idle_connections().collect::<Vec<_>>(),
        vec![ConnId(1)]
    );
}

#[test]
fn cancel_removes_a_waiter_without_output() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    assert_eq!(h.cancel(1), vec![]);
    assert_eq!(h.release(0), vec![]);
    assert_eq!(h.pool().stats().cancels, 1);
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let mut h = H::new(cfg());
    h.acquire_new(0);
    h.now = Instant::from_secs(5);
    h.acquire(1);
    let before = (
        h.pool().state(),
        h.pool().stats().clone(),
        h.pool().poll_timeout(),
    );
    let bad = [
        (
            Input::Release {
                conn: ConnId(7),
                outcome: pool_core::ReleaseOutcome::Healthy,
            },
            InputError::WrongConnState {
                conn: ConnId(7),
                expected: "in use",
            },
        ),
        (
            Input::Connected { conn: ConnId(0) },
            InputError::WrongConnState {
                conn: ConnId(0),
                expected: "connecting",
            },
        ),
        (
            Input::CheckPassed { conn: ConnId(0) },
            InputError::WrongConnState {
                conn: ConnId(0),
                expected: "being checked",
            },
        ),
        (
            Input::PeerClosed { conn: ConnId(0) },
            InputError::WrongConnState {
                conn: ConnId(0),
                expected: "idle",
            },
        ),
        (
            Input::Cancel { req: ReqId(9) },
            InputError::UnknownRequest { req: ReqId(9) },
        ),
        (
            Input::Cancel { req: ReqId(0) },
            InputError::UnknownRequest { req: ReqId(0) },
        ),
        (
            Input::Acquire {
                req: ReqId(1),
                deadline: None,
            },
            InputError::DuplicateRequest { req: ReqId(1) },
        ),
    ];
    for (input, err) in bad {
        assert_eq!(h.try_step(input), Err(err));
    }
    h.now = Instant::from_secs(4);
    assert_eq!(
        h.try_step(Input::Timeout),
        Err(InputError::TimeWentBackwards {
            now: Instant::from_secs(4),
            last: Instant::from_secs(5)
        })
    );
    let after = (
        h.pool().state(),
        h.pool().stats().clone(),
        h.pool().poll_timeout(),
    );
    assert_eq!(before, after);
    assert!(
        InputError::WrongConnState {
            conn: ConnId(7),
            expected: "in use"
        }
        .to_string()
            == "conn#7 is not in use"
    );
}

#[test]
fn a_request_id_can_be_reused_after_it_ended() {
    let mut h = H::new(cfg());
    h.acquire_new(0);
    h.release(0);
    assert_eq!(h.acquire(0), vec![grant(0, 0)]);
}

#[test]
fn early_timeout_does_nothing() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    h.now = Instant::from_millis(500);
    assert_eq!(h.step(Input::Timeout), vec![]);
    assert_eq!(h.pool().state().waiters, 1);
}

#[test]
fn stats_count_grants_waits_and_peaks() {
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    h.acquire_new(0); // granted at 0 after a connect at the same instant: zero wait
    h.acquire(1);
    h.now = Instant::from_millis(30);
    h.release(0); // 1 waited 30 ms
    let s = h.pool().stats();
    assert_eq!(s.acquires, 2);
    assert_eq!((s.grants, s.grants_immediate, s.grants_waited), (2, 1, 1));
    assert_eq!(s.peak_waiters, 1);
    assert_eq!(s.wait.total(), 2);
    assert_eq!(s.wait.max, ms(30));
    assert_eq!(s.wait.quantile_upper_bound(1.0), Some(ms(50)));
    assert_eq!(s.wait.quantile_upper_bound(0.5), Some(ms(0)));
    assert_eq!(s.connects_started, 1);
}

#[test]
fn wait_histogram_buckets_include_their_upper_bound() {
    // A wait of exactly 1 ms belongs to the bucket "at most 1000 µs", not the next one; a wait
    // 1 µs longer to the next.
    let mut h = H::new(Config {
        max_size: Some(1),
        ..cfg()
    });
    let c = h.acquire_new(0);
    for (req, wait_us) in [(1, 1_000), (2, 1_001)] {
        h.acquire(req);
        h.now = h.now + Duration::from_micros(wait_us);
        assert_eq!(h.release(c), vec![grant(req, c)]);
    }
    let w = &h.pool().stats().wait;
    let bucket = |us: u64| {
        pool_core::WAIT_BUCKETS_US
            .iter()
            .position(|&b| b == us)
            .expect("a bucket bound")
    };
    assert_eq!(w.counts[bucket(1_000)], 1, "{:?}", w.counts);
    assert_eq!(w.counts[bucket(2_000)], 1, "{:?}", w.counts);
    assert_eq!(w.max, Duration::from_micros(1_001));
    assert_eq!(w.sum, Duration::from_micros(2_001));
}

#[test]
fn rejects_total_counts_every_reason() {
    let mut h = H::new(Config {
        max_size: Some(1),
        max_waiters: Some(1),
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire(1);
    assert_eq!(h.acquire(2), vec![reject(2, RejectReason::QueueFull)]);
    assert_eq!(
        h.advance(secs(1)),
        vec![reject(1, RejectReason::PoolTimeout)]
    );
    let s = h.pool().stats();
    assert_eq!(s.rejects_total(), 2);
    assert_eq!(
        s.rejects_total(),
        RejectReason::ALL
            .iter()
            .map(|&r| s.rejects_for(r))
            .sum::<u64>()
    );
}

#[test]
fn same_inputs_give_the_same_outputs() {
    let run = || {
        let mut pool = Pool::new(pool_core::Profile::Recommended.config()).expect("valid");
        let mut all = Vec::new();
        let mut t = Instant::ZERO;
        for k in 0..200u64 {
            t = t + ms(k % 7);
            let input = match k % 5 {
                0 | 1 => Input::Acquire {
                    req: ReqId(k),
                    deadline: Some(t + ms(500)),
                },
                2 => Input::Timeout,
                _ => match pool
                    .connections()
                    .find(|c| c.1 != pool_core::ConnPhase::Idle)
                {
                    Some((conn, pool_core::ConnPhase::InUse)) => Input::Release {
                        conn,
                        outcome: pool_core::ReleaseOutcome::Healthy,
                    },
                    Some((conn, pool_core::ConnPhase::Connecting { .. })) => {
                        Input::Connected { conn }
                    }
                    Some((conn, _)) => Input::CheckPassed { conn },
                    None => Input::Timeout,
                },
            };
            let _ = pool.handle(t, input);
            while let Some(o) = pool.poll_output() {
                all.push(o);
            }
        }
        (all, pool.stats().clone())
    };
    assert_eq!(run(), run());
}

/// Three connections idle after a barging wake-up whose waiters were cancelled meanwhile:
/// more than `max_idle` 1, so the wake-up trims.
fn idle_beyond_max_idle_after_a_wakeup(reuse: Reuse) -> (H, Vec<Output>) {
    let mut h = H::new(Config {
        max_size: Some(3),
        max_idle: Some(1),
        fairness: Fairness::Barging,
        reuse,
        ..cfg()
    });
    for r in 0..3 {
        h.acquire_new(r);
    }
    h.acquire(3);
    h.acquire(4);
    // Waiters are queued, so the releases go to the idle list (past max_idle) and wake them.
    for c in 0..3 {
        assert_eq!(h.release(c), vec![]);
    }
    h.cancel(3);
    h.cancel(4);
    assert_eq!(
        h.pool().idle_connections().collect::<Vec<_>>(),
        vec![ConnId(0), ConnId(1), ConnId(2)]
    );
    let outs = h.step(Input::Timeout);
    (h, outs)
}

#[test]
fn barging_wakeup_trims_idle_beyond_max_idle_from_the_cold_end_lifo() {
    // LIFO reuses the back (the last released): the front is cold, so it is closed first.
    let (h, outs) = idle_beyond_max_idle_after_a_wakeup(Reuse::Lifo);
    assert_eq!(
        outs,
        vec![
            close(0, CloseReason::MaxIdle),
            close(1, CloseReason::MaxIdle)
        ]
    );
    assert_eq!(
        h.pool().idle_connections().collect::<Vec<_>>(),
        vec![ConnId(2)]
    );
}

#[test]
fn barging_wakeup_trims_idle_beyond_max_idle_from_the_end_reused_last_fifo() {
    // FIFO reuses the front: the back would be reused last, so it is closed first.
    let (h, outs) = idle_beyond_max_idle_after_a_wakeup(Reuse::Fifo);
    assert_eq!(
        outs,
        vec![
            close(2, CloseReason::MaxIdle),
            close(1, CloseReason::MaxIdle)
        ]
    );
    assert_eq!(
        h.pool().idle_connections().collect::<Vec<_>>(),
        vec![ConnId(0)]
    );
}

#[test]
fn deadline_equal_to_the_pool_timeout_bound_rejects_as_deadline_exceeded() {
    // The tie is decided for the caller's deadline: it is the caller's own limit, and the
    // caller sees `DeadlineExceeded` whether its deadline is earlier than or equal to the
    // pool's bound (docs/invariants.md, "Reject reasons").
    let mut h = H::new(Config {
        max_size: Some(1),
        honour_deadlines: true,
        ..cfg()
    });
    h.acquire_new(0);
    h.now = Instant::from_millis(200);
    h.acquire_by(1, secs(1));
    assert_eq!(h.pool().poll_timeout(), Some(Instant::from_millis(1200)));
    assert_eq!(
        h.advance(secs(1)),
        vec![reject(1, RejectReason::DeadlineExceeded)]
    );
    assert_eq!(h.pool().stats().rejects_for(RejectReason::PoolTimeout), 0);
}

#[test]
fn deadline_equal_to_the_pool_timeout_bound_rejects_as_deadline_exceeded_after_a_failed_check() {
    // The same tie on the other path: the request's bound passes while its checkout check is
    // in flight; the check fails and the retry finds the bound past.
    let mut h = H::new(Config {
        max_size: Some(1),
        honour_deadlines: true,
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..cfg()
    });
    h.acquire_new(0);
    h.release(0);
    h.acquire_by(1, secs(1));
    assert_eq!(h.pool().state().checking, 1);
    h.now = Instant::from_secs(1);
    assert_eq!(
        h.failed(0),
        vec![
            close(0, CloseReason::CheckFailed),
            reject(1, RejectReason::DeadlineExceeded)
        ]
    );
}

#[test]
fn late_timeout_names_the_bound_that_came_first() {
    // A `Timeout` delivered after both bounds: the pool timeout (1 s) came first, so the
    // reason is `PoolTimeout` even though the deadline (1.5 s) is past too.
    let mut h = H::new(Config {
        max_size: Some(1),
        honour_deadlines: true,
        ..cfg()
    });
    h.acquire_new(0);
    h.acquire_by(1, ms(1500));
    h.now = Instant::from_secs(2);
    assert_eq!(
        h.step(Input::Timeout),
        vec![reject(1, RejectReason::PoolTimeout)]
    );
}

#[test]
fn broken_release_while_a_request_waits_closes_it_and_connects_for_the_waiter() {
    for fairness in [Fairness::StrictFifo, Fairness::Barging] {
        let mut h = H::new(Config {
            max_size: Some(1),
            fairness,
            ..cfg()
        });
        h.acquire_new(0);
        assert_eq!(h.acquire(1), vec![], "{fairness:?}: at max_size, queued");
        assert_eq!(
            h.release_broken(0),
            vec![close(0, CloseReason::Broken), connect(1)],
            "{fairness:?}: the broken connection is closed, never handed to the waiter"
        );
        assert_eq!(h.pool().idle_connections().count(), 0);
        let mut outs = h.connected(1);
        if fairness == Fairness::Barging {
            assert_eq!(outs, vec![]);
            outs = h.step(Input::Timeout);
        }
        assert_eq!(outs, vec![grant(1, 1)], "{fairness:?}");
        assert_eq!(h.pool().stats().closes_for(CloseReason::Broken), 1);
    }
}
