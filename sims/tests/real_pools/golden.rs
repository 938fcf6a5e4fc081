//! The real crates (bb8, deadpool, mobc; redis-rs's ConnectionManager modelled) in every
//! incident, for each incident's default seed, pinned cell by cell.
//!
//! Each run's whole report is pinned too, as an `insta` snapshot per pool and incident
//! (`real_pools/snapshots/`, what the wall clock decides left out: [`pinned`]), and checked
//! against the oracle (`sims::oracle`): every figure re-derived from the trace must equal the
//! report's, for the real crates as for ours (`tests/pinned.rs`).
//!
//! `golden/real_pools_<pool>.txt` holds, per run, what `poolsim replay --pool` prints in its
//! cell and the codes of the findings. A change in a crate's behaviour (a bumped dependency)
//! fails the test with the lines that changed; if the change is understood, write the new
//! file with `POOLSIM_BLESS=1 cargo test -p sims --test real_pools golden` and say why in the
//! commit and in docs/real-pools.md.

use crate::common;
use sims::oracle::{Steps, derive_steps, disagreements};
use sims::pools::{Knobs, PoolChoice};
use sims::run_pool;
use sims::scenario::Outcome;
use sims::{Report, RunOptions};
use std::path::PathBuf;

/// Findings that say the crate's behaviour in the run can depend on how fast the machine ran
/// it: bb8 ends its connect retries, and mobc times out its gets, on the wall clock, and in a
/// run that raises one the simulated time went past that bound. Seen: mobc in hung-server's
/// `read-timeout-below-deadline` ended with 1,363 timed-out requests instead of 1,366 once,
/// while a mutation run and a build shared the machine; bb8's trace in the same scenario
/// changed (not its figures). A run that raises one is pinned by its verdict's word and its
/// findings, not by its figures.
const MACHINE_PACED: [&str; 2] = [
    "bb8.connect_retry_wall_clock",
    "mobc.get_timeout_wall_clock",
];

/// The first of [`MACHINE_PACED`] that `r` raises.
fn machine_paced(r: &Report) -> Option<&'static str> {
    MACHINE_PACED
        .into_iter()
        .find(|code| r.findings.iter().any(|f| f.code == *code))
}

fn cell(outcome: Outcome, knobs: Knobs, r: &Report) -> String {
    let word = if !r.invariant_violations.is_empty() {
        format!("VIOLATION {}", r.invariant_violations[0].invariant)
    } else if knobs == Knobs::CrateDefaults {
        if r.expectation_met {
            "incident"
        } else {
            "no incident"
        }
        .to_owned()
    } else {
        match (outcome, r.expectation_met) {
            (Outcome::Reproduces, true) => "reproduced",
            (Outcome::Reproduces, false) => "NOT reproduced",
            (Outcome::Holds, true) => "held",
            (Outcome::Holds, false) => "NOT held",
            (Outcome::Either, _) => "ran",
        }
        .to_owned()
    };
    let mut codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    let errors = match machine_paced(r) {
        Some(code) => format!("(errors paced by the machine: {code})"),
        None => r.errors.summary(),
    };
    format!("{word}: {errors} | {}", codes.join(" "))
}

/// A report as pinned: the timeline as its digest, and what the wall clock decides left out.
/// The crates time some things with `std::time::Instant`, which runs at the machine's pace,
/// not the simulation's: the details of the findings that report it (`*_wall_clock`,
/// `mobc.get_timeout_fired_early`) are kept as their codes, and `bb8.wait_stats_wall_clock`
/// is left out, since whether it is raised at all depends on how fast the run went (see
/// `lines`); a run that raises one of [`MACHINE_PACED`] keeps its identity, whether it met
/// its expectation and its findings alone. Everything else (every figure, the verdict, the
/// trace hash) is simulated time.
fn pinned(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v["timeline"] = common::timeline_digest(&r.timeline);
    let findings: Vec<serde_json::Value> = r
        .findings
        .iter()
        .filter(|f| f.code != "bb8.wait_stats_wall_clock")
        .map(|f| {
            if f.code.ends_with("_wall_clock") || f.code == "mobc.get_timeout_fired_early" {
                serde_json::json!({ "code": f.code, "detail": "(reads the wall clock)" })
            } else {
                serde_json::to_value(f).unwrap()
            }
        })
        .collect();
    v["findings"] = findings.into();
    if let Some(code) = machine_paced(r) {
        let kept = ["scenario", "profile", "seed", "expectation_met", "findings"];
        let mut only = serde_json::Map::new();
        for k in kept {
            only.insert(k.to_owned(), v[k].take());
        }
        only.insert(
            "figures".to_owned(),
            format!("(left out: paced by the machine, {code})").into(),
        );
        return only.into();
    }
    v
}

/// One line per run of every incident with `pool`, and per incident, each run's report as
/// [`pinned`] (by run name). Every run is checked against the oracle on its way: each figure
/// it re-derives from the trace alone must equal the report's, whichever pool ran.
fn lines(pool: &PoolChoice) -> (Vec<String>, Vec<(&'static str, serde_json::Value)>) {
    let mut out = Vec::new();
    let mut reports = Vec::new();
    let mut disagree = Vec::new();
    for inc in sims::incidents::ALL {
        let seed = inc.default_seed;
        let scenarios = inc.scenarios(seed);
        let mut runs: Vec<(String, sims::Scenario, Knobs)> = scenarios
            .iter()
            .map(|s| (s.name.clone(), s.clone(), Knobs::Mapped))
            .collect();
        runs.push((
            "defaults".to_owned(),
            scenarios[0].clone(),
            Knobs::CrateDefaults,
        ));
        let mut pins = serde_json::Map::new();
        for (name, s, knobs) in runs {
            let run = run_pool(&s, pool, knobs, &inc.run_options(true)).unwrap();
            let steps = Steps::of(&s, sims::Engine::Turmoil);
            let figures = derive_steps(run.trace.iter().map(String::as_str), steps)
                .unwrap_or_else(|e| panic!("{}/{name} with {}: {e}", inc.name, pool.name()));
            for d in disagreements(&run.report, run.metrics.get("retries") as u64, &figures) {
                disagree.push(format!("{}/{name}: {d}", inc.name));
            }
            pins.insert(name.clone(), pinned(&run.report));
            // bb8's wall-clock wait statistics are judged against how fast the run went in
            // real time, which depends on the machine's load: pinned by its own test on the
            // cascade (`bb8_wait_statistics_are_wall_clock`), not in the golden lines.
            let text = cell(s.expect.outcome, knobs, &run.report);
            let text = match text.split_once(" |") {
                Some((head, findings)) => {
                    let kept: Vec<&str> = findings
                        .split_whitespace()
                        .filter(|f| *f != "bb8.wait_stats_wall_clock")
                        .collect();
                    format!("{head} | {}", kept.join(" "))
                }
                None => text,
            };
            out.push(format!("{}/{name}: {text}", inc.name));
        }
        reports.push((inc.name, pins.into()));
    }
    assert!(
        disagree.is_empty(),
        "with {}, the report and the trace disagree:\n  {}",
        pool.name(),
        disagree.join("\n  ")
    );
    (out, reports)
}

fn golden(pool: &PoolChoice) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("real_pools_{}.txt", pool.name()));
    let (lines, reports) = lines(pool);
    // Every figure of every run, as a reviewed snapshot
    // (`real_pools/snapshots/real_pools__<pool>-<incident>.snap`): a change the cells do not
    // show (a latency, a peak, a count of connects, the trace) is a diff to read and accept
    // (`cargo insta review`, or `INSTA_UPDATE=always` and `git diff`).
    for (incident, report) in &reports {
        insta::assert_snapshot!(
            format!("{}-{incident}", pool.name()),
            serde_json::to_string_pretty(report).unwrap()
        );
    }
    let got = lines.join("\n") + "\n";
    if std::env::var_os("POOLSIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let mut diff = String::new();
        for (g, w) in got.lines().zip(want.lines()) {
            if g != w {
                diff.push_str(&format!("  was: {w}\n  now: {g}\n"));
            }
        }
        if got.lines().count() != want.lines().count() {
            diff.push_str("  (the number of runs changed)\n");
        }
        panic!(
            "{} behaves differently from {}:\n{diff}replay: cargo run --release -p poolsim -- \
             replay all --pool {}; if understood: POOLSIM_BLESS=1 cargo test -p sims --test \
             real_pools, and update docs/real-pools.md",
            pool.name(),
            path.display(),
            pool.name()
        );
    }
}

#[test]
fn bb8_in_every_incident_as_pinned() {
    golden(&PoolChoice::Bb8);
}

#[test]
fn deadpool_in_every_incident_as_pinned() {
    golden(&PoolChoice::Deadpool);
}

#[test]
fn mobc_in_every_incident_as_pinned() {
    golden(&PoolChoice::Mobc);
}

#[test]
fn redis_rs_connection_manager_in_every_incident_as_pinned() {
    golden(&PoolChoice::RedisRs);
}

/// The run of `scenario` of `incident` with `pool`, knobs mapped.
fn one(incident: &str, scenario: &str, pool: PoolChoice) -> Report {
    let inc = sims::incidents::by_name(incident).unwrap();
    let s = inc
        .scenarios(inc.default_seed)
        .into_iter()
        .find(|s| s.name == scenario)
        .unwrap();
    run_pool(&s, &pool, Knobs::Mapped, &RunOptions::default())
        .unwrap()
        .report
}

fn finding<'a>(r: &'a Report, code: &str) -> &'a str {
    r.findings
        .iter()
        .find(|f| f.code == code)
        .map(|f| f.detail.as_str())
        .unwrap_or_else(|| panic!("no finding {code} in {:?}", r.findings))
}

#[test]
fn bb8_idle_reaper_does_not_close_idle_connections_in_simulated_time() {
    // idle_timeout 240 s < the server's 300 s: in production bb8's reaper closes the idle
    // connections before the server does; under simulation it measures wall time.
    let r = one("stale-eof", "client-idle-timeout", PoolChoice::Bb8);
    let d = finding(&r, "bb8.idle_reaper_wall_clock");
    assert!(d.contains("bb8 closed 0 for idle timeout"), "{d}");
    assert!(
        r.errors.eof > 0,
        "the stale connections were used: {:?}",
        r.errors
    );
}

#[test]
fn bb8_wait_statistics_are_wall_clock() {
    let r = one("cascade", "go-redis-pool-10", PoolChoice::Bb8);
    finding(&r, "bb8.wait_stats_wall_clock");
}

#[test]
fn bb8_without_test_on_check_out_keeps_dead_connections_forever() {
    let r = one("stale-eof", "radix-v2", PoolChoice::Bb8);
    finding(&r, "bb8.dead_connection_reused");
    // Not 3 EOF (one per stale connection) as with a radix.v2 pool: every later request on
    // a dead connection fails too.
    assert!(r.errors.eof > 100, "{:?}", r.errors);
}

#[test]
fn mobc_get_timeout_is_wall_clock() {
    let r = one("cascade", "go-redis-pool-10", PoolChoice::Mobc);
    let d = finding(&r, "mobc.get_timeout_wall_clock");
    assert!(d.contains("get_timeout 10 s never fired"), "{d}");
}

#[test]
fn mobc_max_idle_lifetime_is_wall_clock() {
    let r = one("stale-eof", "client-idle-timeout", PoolChoice::Mobc);
    finding(&r, "mobc.idle_lifetime_wall_clock");
}

#[test]
fn deadpool_metrics_are_wall_clock() {
    let r = one("explosion", "redis-py-unbounded", PoolChoice::Deadpool);
    finding(&r, "deadpool.metrics_wall_clock");
}

#[test]
fn deadpool_defaults_never_give_up_in_the_cascade() {
    // No wait timeout by default: waiters whose callers left hold the pod past the drain
    // limit (the liveness bound of docs/incidents.md).
    let inc = sims::incidents::by_name("cascade").unwrap();
    let s = inc.scenarios(inc.default_seed).remove(0);
    let r = run_pool(
        &s,
        &PoolChoice::Deadpool,
        Knobs::CrateDefaults,
        &RunOptions::default(),
    )
    .unwrap()
    .report;
    assert_eq!(
        r.invariant_violations.first().map(|v| v.invariant.as_str()),
        Some("e2e.liveness"),
        "{}",
        r.verdict
    );
    finding(&r, "deadpool.default_max_size_cpus");
}

#[test]
fn knobs_a_crate_lacks_are_named() {
    let r = one("stale-eof", "keepalive-every-idle", PoolChoice::Bb8);
    finding(&r, "knob.keepalive");
    let r = one("explosion", "aioredis-50", PoolChoice::Mobc);
    finding(&r, "knob.when_exhausted.fail_fast");
    let r = one("stale-eof", "radix-v2", PoolChoice::Deadpool);
    finding(&r, "knob.check_on_checkout.never");
}

#[test]
fn ours_has_no_findings() {
    let r = one("stale-eof", "radix-v2", PoolChoice::Ours);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn bb8_connect_retries_outlive_connection_timeout_in_simulated_time() {
    use sims::adapter::{PoolContext, PoolFactory, PoolUnderTest};
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    // The server refuses every connection. bb8 (retry_connection on by default) retries a
    // failed connect with a back-off of 200 ms doubling up to connection_timeout / 2, until
    // connection_timeout has passed since the first attempt, by std::time::Instant
    // (inner.rs:195-226). With connection_timeout 2 s it would make about 4 attempts in
    // 2 s of simulated time; the simulation advances no wall time, so it keeps going.
    let mut sim = turmoil::Builder::new()
        .rng_seed(1)
        .simulation_duration(Duration::from_secs(60))
        .build();
    let server = fake_redis::FakeRedis::new(fake_redis::ServerConfig::default());
    server.refuse_connections(true);
    let host = server.clone();
    sim.host("redis", move || {
        let server = host.clone();
        async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
            server.serve_turmoil(l).await?;
            Ok(())
        }
    });
    let attempts: Arc<Mutex<(u64, String)>> = Arc::default();
    let out = Arc::clone(&attempts);
    sim.client("probe", async move {
        let mut config = pool_core::Config::bare();
        config.max_size = Some(1);
        config.when_exhausted = pool_core::WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(2)),
        };
        let ctx = PoolContext {
            config,
            tier: "probe".into(),
            host: "probe".into(),
            index: 0,
            server: ("redis".into(), 6379),
            password: None,
            trace: sims::trace::Trace::new(false),
            refusals_seen: Arc::new(AtomicU64::new(0)),
            discovery: None,
        };
        let pool = sims::pools::bb8::Bb8Factory::default().build(&ctx, "probe")?;
        let got = pool
            .get(tokio::time::Instant::now() + Duration::from_secs(60))
            .await;
        let err = got.err().map(|e| e.describe()).unwrap_or_default();
        tokio::time::sleep(Duration::from_secs(20)).await;
        *out.lock().unwrap() = (pool.dial_stats().attempts, err);
        Ok(())
    });
    sim.run().unwrap();
    let (n, err) = attempts.lock().unwrap().clone();
    println!("bb8: {n} connect attempts in 22 s of simulated time (connection_timeout 2 s)");
    assert_eq!(err, "pool timeout", "bb8's wait itself is on tokio time");
    assert!(
        n > 10,
        "{n} connect attempts in 22 s of simulated time: bb8 stopped retrying at its \
         connection_timeout of simulated time (it used to read std::time::Instant)"
    );
}
