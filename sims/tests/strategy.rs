//! `sims::strategy` as a user's own proptest uses it: arbitrary scenarios validate and
//! round-trip through files, environments keep the deployment and stay within their bounds,
//! small arbitrary scenarios violate no safety invariant, and a fix's claim checked over its
//! environment (the worked example of docs/fuzzing.md).
//!
//! proptest's failure persistence is on (its default): a failing case is saved under
//! `sims/proptest-regressions/` and replayed first next time; those files are committed.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use sims::report::InvariantClass;
use sims::strategy::{EnvBounds, ScenarioBounds, environment, scenario};
use sims::{Engine, RunOptions, Scenario};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_scenarios_validate_and_round_trip_through_toml(s in scenario(&ScenarioBounds::default())) {
        prop_assert!(s.validate().is_ok(), "{:?}", s.validate());
        let back = Scenario::from_toml(&s.to_toml()).expect("a generated scenario reads back");
        prop_assert_eq!(back, s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the scenario, nothing is broken: no safety invariant is violated and the
    /// harness does not fail (liveness depends on the scenario's drain limit and is not
    /// asserted here).
    #[test]
    fn small_arbitrary_scenarios_violate_no_safety_invariant(s in scenario(&ScenarioBounds::default())) {
        let run = sims::run_on(Engine::Fast, &s, &RunOptions::default()).expect("it validates");
        let broken: Vec<String> = run
            .report
            .invariant_violations
            .iter()
            .filter(|v| v.class() != InvariantClass::Liveness)
            .map(ToString::to_string)
            .collect();
        prop_assert!(broken.is_empty(), "{broken:?}\n{}", s.to_toml());
    }
}

#[test]
fn environments_keep_the_deployment_and_stay_within_their_bounds() {
    for claim in sims::claims::all() {
        let t = sims::fuzz::targets(Some(&claim.name())).unwrap().remove(0);
        let strategy = t.strategy();
        let b = &claim.bounds;
        for i in 0..40 {
            let s = strategy
                .new_tree(&mut sims::fuzz::case_runner(7, &claim.name(), i))
                .unwrap()
                .current();
            assert!(s.validate().is_ok(), "{}: {:?}", claim.name(), s.validate());
            assert_eq!(
                s.tiers,
                t.base.tiers,
                "{}: the deployment is kept",
                claim.name()
            );
            assert_eq!(s.load.mix, t.base.load.mix);
            assert_eq!(s.tick_ms, t.base.tick_ms);
            assert!(b.link_latency_ticks.contains(s.link_latency_ms / s.tick_ms));
            assert!(b.hz.contains(u64::from(s.server.hz)), "hz {}", s.server.hz);
            assert!(b.command_latency_ms.contains(s.server.command_latency_ms));
            assert!(b.connect_latency_ms.contains(s.server.connect_latency_ms));
            match b.server_timeout_secs {
                Some(t) => assert!(
                    t.contains(s.server.timeout_secs)
                        || (b.server_timeout_off && s.server.timeout_secs == 0),
                    "{}: timeout {}",
                    claim.name(),
                    s.server.timeout_secs
                ),
                None => assert_eq!(s.server.timeout_secs, t.base.server.timeout_secs),
            }
            match b.maxclients {
                Some(m) => assert!(m.contains(s.server.maxclients)),
                None => assert_eq!(s.server.maxclients, t.base.server.maxclients),
            }
            if let (Some(u), sims::scenario::Clients::Closed { users, .. }) =
                (b.users, &s.load.clients)
            {
                assert!(u.contains(u64::from(*users)), "users {users}");
            }
            for e in &s.timeline {
                if let sims::scenario::Event::IdleGap { duration_ms, .. } = e {
                    let g = b.idle_gap_ms.unwrap();
                    assert!(g.contains(*duration_ms), "gap {duration_ms}");
                }
            }
        }
    }
}

#[test]
fn the_same_case_index_draws_the_same_scenario() {
    let t = sims::fuzz::targets(Some("stale-eof/check-on-checkout"))
        .unwrap()
        .remove(0);
    let draw = |i| {
        t.strategy()
            .new_tree(&mut sims::fuzz::case_runner(
                3,
                "stale-eof/check-on-checkout",
                i,
            ))
            .unwrap()
            .current()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

/// The worked example of docs/fuzzing.md: a fix's claim as your own proptest, over the
/// environment around your deployment (here the built-in `client-idle-timeout` fix, its
/// server `timeout` kept above the pool's 240 s idle timeout).
#[test]
fn a_fix_checked_over_its_environment_in_a_users_own_proptest() {
    let incident = sims::incidents::by_name("stale-eof").unwrap();
    let mine = incident
        .scenarios(1)
        .into_iter()
        .find(|s| s.name == "client-idle-timeout")
        .unwrap();
    let mut bounds = EnvBounds::around(&mine);
    bounds.server_timeout_secs = Some(sims::strategy::Span::new(241, 400));
    bounds.idle_gap_ms = Some(sims::strategy::Span::new(1_000, 400_000));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&environment(&mine, &bounds), |case| {
            let run = sims::run_on(Engine::Fast, &case, &RunOptions::default()).unwrap();
            prop_assert!(
                run.report.invariant_violations.is_empty(),
                "{:?}",
                run.report.invariant_violations
            );
            prop_assert_eq!(run.report.errors.eof, 0, "{}", case.to_toml());
            Ok(())
        })
        .unwrap();
}

#[test]
fn proptests_draw_from_a_fixed_seed() {
    // `.cargo/config.toml` sets PROPTEST_RNG_SEED for every test cargo runs; without it
    // proptest draws from the OS's randomness and CI stops being reproducible.
    assert!(
        matches!(
            ProptestConfig::default().rng_seed,
            proptest::test_runner::RngSeed::Fixed(_)
        ),
        "PROPTEST_RNG_SEED is not set: {:?}",
        ProptestConfig::default().rng_seed
    );
}

/// The environment of `stale-eof/check-on-checkout` with faults of `kinds` only, two per case,
/// anywhere, `CONFIG SET timeout` within 10 to 400 s and `maxclients` within 12 to 10,000.
fn with_faults(kinds: &[sims::strategy::FaultKind]) -> (Scenario, EnvBounds) {
    use sims::strategy::{FaultBounds, FaultWindow, Span};
    let t = sims::fuzz::targets(Some("stale-eof/check-on-checkout"))
        .unwrap()
        .remove(0);
    let mut b = t.claim.bounds.clone();
    b.faults = FaultBounds::some(kinds, 2, FaultWindow::Anywhere)
        .with_config(Span::new(10, 400), Span::new(12, 10_000));
    (t.base, b)
}

/// CONFIG SET timeout / maxclients and refused connections are drawn, land in the timeline as
/// the events `poolsim run` reads (`config_set` with the value within its bounds,
/// `refuse_connections` on then off), and every case validates.
#[test]
fn config_set_and_refused_connections_are_drawn_into_the_timeline() {
    use sims::scenario::Event;
    use sims::strategy::FaultKind;
    let (base, b) = with_faults(&[
        FaultKind::ConfigSetTimeout,
        FaultKind::ConfigSetMaxclients,
        FaultKind::RefuseConnections,
    ]);
    let strategy = environment(&base, &b);
    let (mut timeouts, mut maxclients, mut refusals) = (0, 0, 0);
    for i in 0..60 {
        let s = strategy
            .new_tree(&mut sims::fuzz::case_runner(1, "config-set", i))
            .unwrap()
            .current();
        assert!(s.validate().is_ok(), "{:?}", s.validate());
        for e in &s.timeline {
            match e {
                Event::ConfigSet { name, value, .. } if name == "timeout" => {
                    let v: u64 = value.parse().unwrap();
                    assert!(b.faults.config_timeout_secs.contains(v), "timeout {v}");
                    timeouts += 1;
                }
                Event::ConfigSet { name, value, .. } if name == "maxclients" => {
                    let v: u64 = value.parse().unwrap();
                    assert!(b.faults.config_maxclients.contains(v), "maxclients {v}");
                    maxclients += 1;
                }
                Event::ConfigSet { name, .. } => panic!("CONFIG SET {name}"),
                Event::RefuseConnections { on: true, .. } => refusals += 1,
                _ => {}
            }
        }
        // The file says the same.
        assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap(), s);
    }
    assert!(
        timeouts >= 5 && maxclients >= 5 && refusals >= 5,
        "{timeouts} timeouts, {maxclients} maxclients, {refusals} refusals in 60 cases"
    );
    // And they run: a CONFIG SET reaches the server (its trace names it).
    let s = (0..60)
        .map(|i| {
            strategy
                .new_tree(&mut sims::fuzz::case_runner(1, "config-set", i))
                .unwrap()
                .current()
        })
        .find(|s| {
            s.timeline
                .iter()
                .any(|e| matches!(e, Event::ConfigSet { name, .. } if name == "timeout"))
        })
        .unwrap();
    let run = sims::run_on(
        Engine::Fast,
        &s,
        &RunOptions {
            keep_trace: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert!(
        run.trace.iter().any(|l| l.contains("CONFIG SET timeout")),
        "no CONFIG SET in the trace"
    );
}

/// A case that fails whenever a CONFIG SET is in its timeline shrinks to one CONFIG SET with
/// the lowest value of its bounds (and, with maxclients, to the lowest maxclients).
#[test]
fn config_set_faults_shrink_to_one_event_at_the_lower_bound() {
    use sims::scenario::Event;
    use sims::strategy::FaultKind;
    for (kind, name, lowest) in [
        (FaultKind::ConfigSetTimeout, "timeout", "10"),
        (FaultKind::ConfigSetMaxclients, "maxclients", "12"),
    ] {
        let (base, b) = with_faults(&[kind]);
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            ProptestConfig {
                cases: 64,
                failure_persistence: None,
                ..ProptestConfig::default()
            },
            proptest::test_runner::TestRng::from_seed(
                proptest::test_runner::RngAlgorithm::ChaCha,
                &[3; 32],
            ),
        );
        let result = runner.run(&environment(&base, &b), |s| {
            let has = s
                .timeline
                .iter()
                .any(|e| matches!(e, Event::ConfigSet { name: n, .. } if n == name));
            prop_assert!(!has);
            Ok(())
        });
        let Err(proptest::test_runner::TestError::Fail(_, s)) = result else {
            panic!("{name}: no case with a CONFIG SET in 64: {result:?}");
        };
        let sets: Vec<&Event> = s
            .timeline
            .iter()
            .filter(|e| matches!(e, Event::ConfigSet { .. }))
            .collect();
        assert_eq!(sets.len(), 1, "{name}: {}", s.to_toml());
        let Event::ConfigSet { value, .. } = sets[0] else {
            unreachable!()
        };
        assert_eq!(value, lowest, "{name}: {}", s.to_toml());
    }
}

/// Fault bounds written before the CONFIG SET kinds existed still read, with the defaults.
#[test]
fn fault_bounds_without_the_config_set_fields_still_parse() {
    let old = r#"{"kinds":["restart","kill_all_clients"],"max":2,"window":"anywhere",
        "restart_down_ms":{"min":0,"max":1000},"refuse_ms":{"min":10,"max":1000},
        "spike_latency_ms":{"min":1,"max":100},"spike_ms":{"min":10,"max":1000}}"#;
    let f: sims::strategy::FaultBounds = serde_json::from_str(old).unwrap();
    assert_eq!(f.config_timeout_secs, sims::strategy::Span::new(1, 300));
    assert_eq!(f.config_maxclients, sims::strategy::Span::new(1, 10_000));
    let new: sims::strategy::FaultBounds =
        serde_json::from_str(r#"{"kinds":["config_set_timeout","config_set_maxclients","refuse_connections"],"max":2,"window":"during_idle_gaps","restart_down_ms":{"min":0,"max":1000},"refuse_ms":{"min":10,"max":1000},"spike_latency_ms":{"min":1,"max":100},"spike_ms":{"min":10,"max":1000},"config_timeout_secs":{"min":241,"max":400}}"#)
            .unwrap();
    assert_eq!(new.kinds.len(), 3);
    assert_eq!(new.config_timeout_secs.min, 241);
}
