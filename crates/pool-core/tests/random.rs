//! Random long runs of every profile at full size (no scaling down): every invariant must hold
//! after every step, whatever the environment does. Complements the exhaustive explorer
//! (small bounds, every interleaving) with large pools, long histories and late timeouts.
//! Failures are shrunk and persisted in `crates/pool-core/proptest-regressions/random.txt`.

use pool_core::invariants::Checker;
use pool_core::{ConnPhase, ConnectError, Input, Instant, Pool, Profile, ReleaseOutcome, ReqId};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::time::Duration;

/// One abstract move; `pick` selects among the candidates present at that moment.
#[derive(Clone, Copy, Debug)]
struct Move {
    kind: u8,
    pick: u16,
    dt_ms: u32,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (
            0u8..20,
            any::<u16>(),
            prop_oneof![0u32..50, 0u32..5_000, 0u32..900_000],
        )
            .prop_map(|(kind, pick, dt_ms)| Move { kind, pick, dt_ms }),
        1..400,
    )
}

fn pick<T: Copy>(v: &[T], k: u16) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(k) % v.len()])
}

fn run(profile: Profile, seed: u64, moves: &[Move]) {
    let mut config = profile.config();
    config.seed = seed;
    let mut c = Checker::new(Pool::new(config).expect("valid"));
    let mut now = Instant::ZERO;
    let mut next_req = 0u64;
    for m in moves {
        let pool = c.pool();
        let of = |want: fn(&ConnPhase) -> bool| -> Vec<pool_core::ConnId> {
            pool.connections()
                .filter(|(_, p)| want(p))
                .map(|(id, _)| id)
                .collect()
        };
        let in_use = of(|p| matches!(p, ConnPhase::InUse));
        let connecting = of(|p| matches!(p, ConnPhase::Connecting { .. }));
        let checking = of(|p| matches!(p, ConnPhase::Checking { .. }));
        let idle = of(|p| matches!(p, ConnPhase::Idle));
        let live: Vec<_> = pool.live_requests().collect();
        let input = match m.kind {
            0..=4 => {
                next_req += 1;
                let deadline = (m.pick % 2 == 0)
                    .then(|| now + Duration::from_millis(u64::from(m.dt_ms % 5_000)));
                Some(Input::Acquire {
                    req: ReqId(next_req),
                    deadline,
                })
            }
            5..=7 => pick(&in_use, m.pick).map(|conn| Input::Release {
                conn,
                outcome: if m.kind == 7 {
                    ReleaseOutcome::Broken
                } else {
                    ReleaseOutcome::Healthy
                },
            }),
            8..=10 => pick(&connecting, m.pick).map(|conn| {
                if m.kind == 10 {
                    Input::ConnectFailed {
                        conn,
                        error: ConnectError::MaxClients,
                    }
                } else {
                    Input::Connected { conn }
                }
            }),
            11..=13 => pick(&checking, m.pick).map(|conn| {
                if m.kind == 13 {
                    Input::CheckFailed { conn }
                } else {
                    Input::CheckPassed { conn }
                }
            }),
            14..=16 => {
                // Time passes: deliver the due timer, or a late Timeout far past it.
                let late = now + Duration::from_millis(u64::from(m.dt_ms));
                now = match pool.poll_timeout() {
                    Some(t) if m.kind != 16 => t.max(now).min(late.max(t)),
                    _ => late,
                };
                Some(Input::Timeout)
            }
            17 => pick(&live, m.pick).map(|req| Input::Cancel { req }),
            18 => pick(&idle, m.pick).map(|conn| Input::PeerClosed { conn }),
            _ => (m.pick % 16 == 0).then_some(Input::Shutdown),
        };
        let Some(input) = input else { continue };
        let obs = c
            .handle(now, input)
            .unwrap_or_else(|v| panic!("{profile}: {v} after {input:?} at {now}"));
        assert_eq!(obs.input_error, None, "{profile}: {input:?} refused");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/random.txt",
        ))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn every_profile_holds_every_invariant_under_random_inputs(
        profile in prop::sample::select(Profile::ALL.to_vec()),
        seed in any::<u64>(),
        moves in moves(),
    ) {
        run(profile, seed, &moves);
    }
}

/// Raw inputs with small random ids (often unknown or in the wrong state) and a clock that
/// sometimes goes backwards: the pool must never panic, must refuse what is wrong without
/// changing, and must keep every invariant.
fn raw_input() -> impl Strategy<Value = (i64, Input)> {
    let conn = (0u64..8).prop_map(pool_core::ConnId);
    let req = (0u64..8).prop_map(ReqId);
    let input = prop_oneof![
        (req.clone(), prop::option::of(0u64..5_000)).prop_map(|(req, d)| Input::Acquire {
            req,
            deadline: d.map(Instant::from_millis),
        }),
        req.prop_map(|req| Input::Cancel { req }),
        (conn.clone(), any::<bool>()).prop_map(|(conn, ok)| Input::Release {
            conn,
            outcome: if ok {
                ReleaseOutcome::Healthy
            } else {
                ReleaseOutcome::Broken
            }
        }),
        conn.clone().prop_map(|conn| Input::Connected { conn }),
        conn.clone().prop_map(|conn| Input::ConnectFailed {
            conn,
            error: ConnectError::Refused
        }),
        conn.clone().prop_map(|conn| Input::CheckPassed { conn }),
        conn.clone().prop_map(|conn| Input::CheckFailed { conn }),
        conn.prop_map(|conn| Input::PeerClosed { conn }),
        Just(Input::Timeout),
        Just(Input::Shutdown),
    ];
    (-500i64..3_000, input)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/random.txt",
        ))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn bad_inputs_never_panic_and_change_nothing(
        profile in prop::sample::select(Profile::ALL.to_vec()),
        steps in prop::collection::vec(raw_input(), 1..200),
    ) {
        let mut config = scale(profile.config());
        config.seed = 7;
        let mut c = Checker::new(Pool::new(config).expect("valid"));
        let mut now: i64 = 0;
        for (dt, input) in steps {
            // Mostly forward, sometimes backwards (refused with TimeWentBackwards).
            now = (now + dt).max(0);
            let at = Instant::from_millis(u64::try_from(now).expect("clamped"));
            let obs = c.handle(at, input).unwrap_or_else(|v| panic!("{profile}: {v} after {input:?}"));
            if obs.input_error.is_some() {
                // The clock the pool saw did not move either.
                now = i64::try_from(c.pool().now().as_nanos() / 1_000_000).expect("small");
            }
        }
    }
}

/// Small sizes so that random ids hit real connections often.
fn scale(c: pool_core::Config) -> pool_core::Config {
    pool_core::explore::scale_down(&c)
}
