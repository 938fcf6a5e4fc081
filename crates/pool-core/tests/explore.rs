//! The exhaustive explorer over several configurations and every profile (scaled down), and
//! the planted bugs it must catch with a shortest counterexample.

use pool_core::explore::{Bounds, explore, explore_pool, scale_down};
use pool_core::invariants::Violation;
use pool_core::mutations::Mutation;
use pool_core::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, Config, Fairness, Input, Keepalive,
    KeepaliveScope, Pool, Profile, Reuse, WhenExhausted,
};
use std::time::Duration;

fn small() -> Config {
    Config {
        max_size: Some(2),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(2)),
        },
        ..Config::bare()
    }
}

fn assert_clean(name: &str, config: &Config, bounds: &Bounds) -> usize {
    let r = explore(config, bounds).expect("valid config");
    for v in &r.violations {
        eprintln!("{name}: {v}");
    }
    assert!(r.violations.is_empty(), "{name}: violations");
    assert!(!r.truncated, "{name}: truncated at {} states", r.states);
    assert!(r.states > 1 && r.transitions >= r.states - 1);
    eprintln!(
        "{name}: {} states, {} transitions, depth {}",
        r.states, r.transitions, r.max_depth
    );
    r.states
}

#[test]
fn every_profile_scaled_down_holds_every_invariant_in_every_state_and_stays_live() {
    let live = Bounds {
        liveness: true,
        ..Bounds::default()
    };
    for p in Profile::ALL {
        assert_clean(p.name(), &scale_down(&p.config()), &live);
    }
}

#[test]
fn every_knob_combination_of_interest_holds_every_invariant() {
    let s = Duration::from_secs;
    let configs: Vec<(&str, Config)> = vec![
        ("plain", small()),
        (
            "checks, fifo reuse, deadlines",
            Config {
                check_on_checkout: CheckOnCheckout {
                    when: CheckWhen::Always,
                    how: CheckHow::Ping,
                },
                reuse: Reuse::Fifo,
                honour_deadlines: true,
                ..small()
            },
        ),
        (
            "barging, max_waiters, idle timeout, lifetime",
            Config {
                fairness: Fairness::Barging,
                max_waiters: Some(1),
                idle_timeout: Some(s(3)),
                max_lifetime: Some(s(5)),
                ..small()
            },
        ),
        (
            "keepalive every idle, if-idle-for check",
            Config {
                keepalive: Some(Keepalive {
                    interval: s(2),
                    scope: KeepaliveScope::EveryIdle,
                }),
                check_on_checkout: CheckOnCheckout {
                    when: CheckWhen::IfIdleFor(s(1)),
                    how: CheckHow::Ping,
                },
                ..small()
            },
        ),
        (
            "keepalive one per interval (seed 003 fix), fifo",
            Config {
                max_idle: Some(2),
                keepalive: Some(Keepalive {
                    interval: s(2),
                    scope: KeepaliveScope::OnePerInterval,
                }),
                reuse: Reuse::Fifo,
                ..small()
            },
        ),
        (
            "min_idle, connect limits, timeout, back-off",
            Config {
                min_idle: 1,
                max_concurrent_connects: Some(1),
                connect_timeout: Some(s(1)),
                connect_backoff: Some(Backoff {
                    initial: s(1),
                    max: s(2),
                }),
                ..small()
            },
        ),
        (
            "fail fast, connect limit, back-off, deadlines",
            Config {
                when_exhausted: WhenExhausted::FailFast,
                max_concurrent_connects: Some(1),
                connect_backoff: Some(Backoff {
                    initial: s(1),
                    max: s(1),
                }),
                honour_deadlines: true,
                ..small()
            },
        ),
        (
            "fail fast, checks, connect limit, back-off, barging",
            Config {
                when_exhausted: WhenExhausted::FailFast,
                check_on_checkout: CheckOnCheckout {
                    when: CheckWhen::Always,
                    how: CheckHow::Peek,
                },
                max_concurrent_connects: Some(1),
                connect_backoff: Some(Backoff {
                    initial: s(1),
                    max: s(2),
                }),
                fairness: Fairness::Barging,
                ..small()
            },
        ),
        (
            "fail fast, checks, connect limit, strict",
            Config {
                when_exhausted: WhenExhausted::FailFast,
                check_on_checkout: CheckOnCheckout {
                    when: CheckWhen::Always,
                    how: CheckHow::Peek,
                },
                max_concurrent_connects: Some(1),
                ..small()
            },
        ),
        (
            "unbounded fail fast with max_idle (radix.v2)",
            Config {
                max_size: None,
                max_idle: Some(1),
                when_exhausted: WhenExhausted::FailFast,
                ..small()
            },
        ),
        (
            "size 1, wait forever, max_idle 1",
            Config {
                max_size: Some(1),
                max_idle: Some(1),
                when_exhausted: WhenExhausted::Wait { timeout: None },
                ..small()
            },
        ),
    ];
    let four = Bounds {
        requests: 4,
        liveness: true,
        ..Bounds::default()
    };
    for (name, config) in configs {
        assert_clean(name, &config, &four);
    }
}

#[test]
fn exploration_is_deterministic() {
    let c = scale_down(&Profile::Bb8.config());
    let a = explore(&c, &Bounds::default()).expect("valid");
    let b = explore(&c, &Bounds::default()).expect("valid");
    assert_eq!(a, b);
}

#[test]
fn more_requests_reach_more_states() {
    let c = scale_down(&Profile::Recommended.config());
    let two = assert_clean("recommended/2", &c, &Bounds::quick(2));
    let three = assert_clean("recommended/3", &c, &Bounds::quick(3));
    assert!(three > two);
}

/// The planted bug must be found, and (breadth-first) with a shortest input sequence.
fn caught(m: Mutation, config: Config) -> pool_core::explore::Counterexample {
    let mut pool = Pool::new(config).expect("valid");
    pool.set_mutation(Some(m));
    let r = explore_pool(pool, &Bounds::default());
    let cx = r
        .violations
        .first()
        .unwrap_or_else(|| panic!("{m:?} not caught in {} states", r.states))
        .clone();
    eprintln!("{m:?}:\n{cx}");
    cx
}

#[test]
fn explorer_catches_a_lost_wakeup_on_release_with_a_shortest_trace() {
    let cx = caught(
        Mutation::SkipHandOffOnRelease,
        Config {
            max_size: Some(1),
            ..small()
        },
    );
    assert!(
        matches!(cx.violation, Violation::IdleWhileWaiting { .. }),
        "{}",
        cx.violation
    );
    // Acquire, Connected (grant), Acquire (queued), Release: 4 inputs, none shorter.
    let inputs: Vec<Input> = cx.trace.iter().map(|s| s.input).collect();
    assert_eq!(inputs.len(), 4, "{cx}");
    assert!(matches!(inputs[3], Input::Release { .. }));
    assert!(
        cx.to_string()
            .contains("hand-off violated: conn#0 is idle while req#1 is queued")
    );
}

#[test]
fn explorer_catches_a_pool_that_ignores_max_size() {
    let cx = caught(Mutation::IgnoreMaxSize, small());
    assert!(matches!(
        cx.violation,
        Violation::SizeBound {
            total: 3,
            max_size: 2
        }
    ));
    assert_eq!(cx.trace.len(), 3, "three acquires: {cx}");
}

#[test]
fn explorer_catches_a_forgotten_waiter_timer() {
    let cx = caught(
        Mutation::NoWaiterTimer,
        Config {
            max_size: Some(1),
            ..small()
        },
    );
    assert!(
        matches!(cx.violation, Violation::TimerMissing { .. }),
        "{cx}"
    );
}

#[test]
fn explorer_reports_a_timer_rearmed_at_the_same_instant_instead_of_hanging() {
    // Issue #10: an idle-timeout test of `<` instead of `<=` re-armed the idle timer for the
    // instant it had just handled, and `cargo test` hung. The pool now stops instead of
    // spinning, and `TimerSpin` names the bug in four inputs (a connection made idle, then
    // its idle timer at its instant).
    let cx = caught(
        Mutation::IdleTimeoutOffByOne,
        Config {
            idle_timeout: Some(Duration::from_secs(5)),
            ..small()
        },
    );
    assert!(
        matches!(cx.violation, Violation::TimerSpin { .. }),
        "{}",
        cx.violation
    );
    let inputs: Vec<Input> = cx.trace.iter().map(|s| s.input).collect();
    assert_eq!(inputs.len(), 4, "{cx}");
    assert!(matches!(inputs[3], Input::Timeout));
    assert!(
        cx.to_string()
            .contains("timer spin: poll_timeout is 5.000s after a Timeout at 5.000s")
    );
}

#[test]
fn explorer_covers_a_deadline_that_ties_with_the_pool_timeout() {
    // Deadlines offered at exactly the pool timeout (2 s): every reject at the tie must say
    // `DeadlineExceeded` (the `Checker`'s `WrongRejectReason`), in every reachable state.
    let c = Config {
        max_size: Some(1),
        honour_deadlines: true,
        ..small()
    };
    let states = assert_clean(
        "tie",
        &c,
        &Bounds {
            deadlines: true,
            deadline_after: Duration::from_secs(2),
            ..Bounds::quick(2)
        },
    );
    assert!(states > 10, "{states} states");
}

#[test]
fn the_same_mutations_do_nothing_when_not_planted() {
    let r = explore(&small(), &Bounds::default()).expect("valid");
    assert!(r.is_clean());
    for m in Mutation::ALL {
        let mut p = Pool::new(small()).expect("valid");
        p.set_mutation(Some(m));
        p.set_mutation(None);
        assert_eq!(explore_pool(p, &Bounds::default()), r);
    }
}

#[test]
fn ticks_let_inputs_arrive_between_timers_and_reach_more_states() {
    for p in [Profile::Recommended, Profile::GoRedisV9, Profile::RadixV2] {
        let c = scale_down(&p.config());
        let without = assert_clean(p.name(), &c, &Bounds::quick(3));
        let with = assert_clean(
            p.name(),
            &c,
            &Bounds {
                tick: Some(Duration::from_secs(1)),
                ..Bounds::quick(3)
            },
        );
        assert!(with >= without, "{}: {with} < {without}", p.name());
    }
}

/// A deterministic sample of knob combinations (a seeded LCG over the grid of every knob's
/// small values), each explored exhaustively. `POOLSIM_SWEEP=n` explores `n` of them
/// (default 16 to keep debug CI fast; 3,000 were run clean in release while writing it).
#[test]
fn sampled_knob_combinations_hold_every_invariant() {
    let n: u64 = std::env::var("POOLSIM_SWEEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let s = Duration::from_secs;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |k: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % k
    };
    for case in 0..n {
        let max_size = [Some(1), Some(2), None][next(3) as usize];
        let min_idle = if max_size == Some(1) {
            0
        } else {
            next(2) as u32
        };
        let config = Config {
            max_size,
            min_idle,
            max_idle: [None, Some(1), Some(2)][next(3) as usize].map(|m: u32| m.max(min_idle)),
            when_exhausted: [
                WhenExhausted::Wait {
                    timeout: Some(s(2)),
                },
                WhenExhausted::Wait { timeout: None },
                WhenExhausted::FailFast,
            ][next(3) as usize],
            idle_timeout: [None, Some(s(3))][next(2) as usize],
            max_lifetime: [None, Some(s(4))][next(2) as usize],
            lifetime_jitter: None,
            seed: 0,
            check_on_checkout: CheckOnCheckout {
                when: [
                    CheckWhen::Never,
                    CheckWhen::Always,
                    CheckWhen::IfIdleFor(s(1)),
                ][next(3) as usize],
                how: [CheckHow::Peek, CheckHow::Ping][next(2) as usize],
            },
            keepalive: [
                None,
                Some(Keepalive {
                    interval: s(2),
                    scope: KeepaliveScope::EveryIdle,
                }),
                Some(Keepalive {
                    interval: s(2),
                    scope: KeepaliveScope::OnePerInterval,
                }),
            ][next(3) as usize],
            max_concurrent_connects: [None, Some(1)][next(2) as usize],
            connect_timeout: [None, Some(s(1))][next(2) as usize],
            connect_backoff: [
                None,
                Some(Backoff {
                    initial: s(1),
                    max: s(2),
                }),
            ][next(2) as usize],
            reuse: [Reuse::Lifo, Reuse::Fifo][next(2) as usize],
            fairness: [Fairness::StrictFifo, Fairness::Barging][next(2) as usize],
            honour_deadlines: next(2) == 1,
            max_waiters: [None, Some(1)][next(2) as usize],
        };
        let bounds = Bounds {
            liveness: true,
            ..Bounds::default()
        };
        let r = explore(&config, &bounds).expect("valid by construction");
        if let Some(v) = r.violations.first() {
            panic!("case {case}: {config:?}\n{v}");
        }
        assert!(!r.truncated, "case {case}");
    }
}

/// The number of distinct states and transitions of every profile scaled down, with
/// `Bounds::default()` (evictions, added in session 8, add transitions and no state: an evicted
/// connection leaves the same state as one the peer closed). A golden figure: the explorer's deduplication (`canonical_key`) merging
/// states that differ, or splitting equal ones, changes it (cargo-mutants survivors in
/// `canonical_key` showed nothing else noticed), and so does any change of the state machine's
/// behaviour, which must then update these numbers on purpose (docs/testing.md).
#[test]
fn every_profile_reaches_exactly_the_states_it_reached_before() {
    let got: Vec<(&str, usize, usize)> = Profile::ALL
        .iter()
        .map(|p| {
            let r = explore(&scale_down(&p.config()), &Bounds::default()).expect("valid");
            assert!(r.violations.is_empty() && !r.truncated, "{}", p.name());
            (p.name(), r.states, r.transitions)
        })
        .collect();
    let want = vec![
        ("radix-v2", 107, 641),
        ("redis-py", 88, 443),
        ("redis-py-blocking", 426, 2792),
        ("aioredis", 88, 443),
        ("go-redis-v9", 2426, 17468),
        ("hikari", 5478, 33721),
        ("bb8", 3871, 23692),
        ("deadpool", 92, 468),
        ("r2d2", 1504, 9984),
        ("recommended", 6222, 40377),
    ];
    assert_eq!(got, want);
}
