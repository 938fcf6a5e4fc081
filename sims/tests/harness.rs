//! The harness does not trip on itself (issue #17, item 0): a run stops at the first request
//! that ends with an error kind it is told to stop on; a failed library run prints a replay
//! command a user can run, its scenario written where the command says; a pool refilling
//! `min_idle` against a full server, with refused connects still in flight at the end, is not
//! a refusal the server counted wrongly. Each on both engines.

use sims::knobs::{Overrides, Setting};
use sims::report::ErrorKind;
use sims::scenario::{Check, Dist, Event, Expectation, Load, PoolSpec, Scenario, Server, Tier};
use sims::{Engine, RunOptions, run_on};

/// stale-eof's buggy run: the first EOF comes after the 305 s gap.
fn stale() -> Scenario {
    let inc = sims::incidents::by_name("stale-eof").unwrap();
    inc.scenarios(inc.default_seed).remove(0)
}

#[test]
fn a_run_stops_at_the_first_request_that_ends_with_a_stop_kind() {
    for engine in Engine::ALL {
        let opts = RunOptions {
            stop_on_errors: vec![ErrorKind::Eof],
            ..RunOptions::default()
        };
        let full = run_on(engine, &stale(), &RunOptions::default()).unwrap();
        let r = run_on(engine, &stale(), &opts).unwrap();
        let why = r.stopped.clone().unwrap_or_default();
        assert!(why.contains("ended with eof at 325."), "{engine}: {why}");
        // The run stops after the step in which the first one ended (a 10 ms tick here: the
        // three stale connections fail in the same step on turmoil).
        assert!(
            (1..=3).contains(&r.report.errors.eof),
            "{engine}: {:?}",
            r.report.errors
        );
        assert!(r.report.requests < full.report.requests, "{engine}");
        assert!(r.steps < full.steps, "{engine}");
        assert!(
            r.report
                .verdict
                .ends_with(&format!("(run stopped early: {why})")),
            "{engine}: {}",
            r.report.verdict
        );
        // Nothing stops a run that never sees the kind.
        let opts = RunOptions {
            stop_on_errors: vec![ErrorKind::MaxClients],
            ..RunOptions::default()
        };
        let r = run_on(engine, &stale(), &opts).unwrap();
        assert_eq!(r.stopped, None);
        assert_eq!(r.report.requests, full.report.requests, "{engine}");
    }
}

#[test]
fn a_failed_library_run_prints_a_command_that_replays_it() {
    let dir = std::env::temp_dir().join(format!("poolsim-harness-{}", std::process::id()));
    // SAFETY: std's environment functions take a lock, and nothing in this test binary reads
    // the environment outside them (no C code calls getenv here).
    unsafe { std::env::set_var("POOLSIM_REPLAY_DIR", &dir) };
    let mut s = stale();
    s.name = "undone".into();
    // Expect the impossible: the run misses its expectation.
    s.expect = Expectation::holds(
        "{errors.total} errors",
        vec![Check::eq("errors.total", 0.0)],
    );
    for engine in Engine::ALL {
        let run = run_on(engine, &s, &RunOptions::default()).unwrap();
        assert!(!run.met(), "{engine}");
        let file = dir.join(format!("undone-seed{}.toml", s.seed));
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(Scenario::from_toml(&written).unwrap(), s, "{engine}");
    }
    // A run that meets its expectation writes nothing. The variable is the whole process's:
    // the other tests of this binary run beside this one and write into `dir` too (stale-eof's
    // buggy run stopped early misses its expectation), so this looks for its own file, under
    // a name no other test uses, not for an empty directory (CI once caught that race).
    let mut met = stale();
    met.name = "harness-met".into();
    let file = dir.join(format!("harness-met-seed{}.toml", met.seed));
    for engine in Engine::ALL {
        let run = run_on(engine, &met, &RunOptions::default()).unwrap();
        assert!(run.met(), "{engine}: {}", run.report.verdict);
        assert!(!file.exists(), "{engine}: {}", file.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        RunOptions::default().replay,
        "poolsim run {file} --seed {seed}"
    );
}

/// The false alarm of issue #17: an r2d2-like pool keeps refilling `min_idle` against a full
/// server, with no back-off, so refused connects are in flight when the run ends.
#[test]
fn refused_connects_in_flight_at_the_end_are_not_a_miscount() {
    let pool = PoolSpec::profile("r2d2").with(Overrides {
        max_size: Some(Setting::Value(8)),
        min_idle: Some(8),
        connect_backoff_initial_ms: Some(Setting::Off),
        pool_timeout_ms: Some(Setting::Value(300)),
        ..Overrides::default()
    });
    let s = Scenario::new(
        "refill",
        3,
        1_000,
        vec![Tier::new("app", pool, 1_000).with_instances(6)],
        Load::closed(4, Dist::fixed(20)),
    )
    .with_server(Server {
        maxclients: 10,
        ..Server::default()
    })
    .with_event(Event::Load {
        at_ms: 500,
        users: Some(2),
        rate_factor: None,
    });
    for engine in Engine::ALL {
        let r = run_on(engine, &s, &RunOptions::default()).unwrap();
        assert!(
            r.report.invariant_violations.is_empty(),
            "{engine}: {:?}",
            r.report.invariant_violations
        );
        assert!(
            r.report.rejected_connections > 10,
            "{engine}: the pools kept knocking: {}",
            r.report.rejected_connections
        );
    }
}
