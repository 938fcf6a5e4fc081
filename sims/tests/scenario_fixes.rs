//! The scenario-file bugs of issue #13, each with the run or the error that shows it fixed,
//! and the server latency events (a spike, a connect-latency change).

use sims::scenario::{Command, Dist, Event, Load, PoolSpec, Scenario, Tier};
use sims::{RunOptions, run, run_with};

fn trace_of(s: &Scenario) -> (sims::Report, Vec<serde_json::Value>) {
    let opts = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let r = run_with(s, sims::CorePoolFactory, &opts).unwrap();
    let lines = r
        .trace
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (r.report, lines)
}

fn one_tier(users: u32, think: Dist, duration_ms: u64) -> Scenario {
    Scenario::new(
        "fixes",
        5,
        duration_ms,
        vec![Tier::new("app", PoolSpec::profile("recommended"), 1_000)],
        Load::closed(users, think).with_command(Command::Echo),
    )
    .with_sample_ms(100)
}

fn ends(trace: &[serde_json::Value]) -> Vec<(u64, u64)> {
    trace
        .iter()
        .filter(|e| e["event"] == "request.end")
        .map(|e| {
            (
                e["t_us"].as_u64().unwrap() / 1000,
                e["latency_us"].as_u64().unwrap() / 1000,
            )
        })
        .collect()
}

/// (a) A closed loop may start with 0 users and rise with a `load` event: a spike after a
/// quiet period.
#[test]
fn a_closed_loop_starts_quiet_and_rises_with_a_load_event() {
    let s = one_tier(0, Dist::fixed(10), 3_000).with_event(Event::Load {
        at_ms: 2_000,
        users: Some(5),
        rate_factor: None,
    });
    let (r, trace) = trace_of(&s);
    assert!(
        r.invariant_violations.is_empty(),
        "{:?}",
        r.invariant_violations
    );
    assert!(
        r.requests >= 5 * 50,
        "5 users for 1 s: {} requests",
        r.requests
    );
    let first = trace
        .iter()
        .find(|e| e["event"] == "request.start")
        .unwrap();
    assert!(first["t_us"].as_u64().unwrap() >= 2_000_000, "{first}");
    // Without the load event it would send nothing: refused, naming the field.
    let err = one_tier(0, Dist::fixed(10), 3_000).validate().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("load.clients.users: must be at least 1, or 0 with"),
        "{err}"
    );
}

/// (b) Users whose think time outlasts the run do not keep it from ending (it used to fail
/// `e2e.liveness` with "0 requests and 0 handlers still in flight").
#[test]
fn a_think_time_longer_than_the_run_is_not_a_liveness_failure() {
    let mut s = one_tier(3, Dist::fixed(600_000), 2_000);
    s.drain_limit_ms = 1_000;
    let r = run(&s).unwrap();
    assert!(
        r.report.invariant_violations.is_empty(),
        "{:?}",
        r.report.invariant_violations
    );
    assert_eq!(r.report.requests, 3, "one request per user, then thinking");
    assert!(r.met());
}

/// (c) A timeline event at or after the end of the load is refused, not silently ignored.
#[test]
fn an_event_after_the_end_of_the_run_is_refused() {
    let s = one_tier(1, Dist::fixed(10), 2_000).with_event(Event::KillAllClients { at_ms: 2_000 });
    let err = s.validate().unwrap_err().to_string();
    assert!(
        err.starts_with("timeline[0].at_ms: 2000 is not before duration_ms (2000)"),
        "{err}"
    );
    let ok = one_tier(1, Dist::fixed(10), 2_000).with_event(Event::KillAllClients { at_ms: 1_999 });
    ok.validate().unwrap();
}

/// (d) A negative knob names itself and its line; a size of 0 says how a file writes
/// "unbounded".
#[test]
fn knob_values_a_file_gets_wrong_are_explained() {
    let base = one_tier(1, Dist::fixed(10), 1_000).to_toml();
    let with = |knob: &str| {
        base.replace(
            "[tiers.pool.overrides]\n",
            &format!("[tiers.pool.overrides]\n{knob}\n"),
        )
    };
    let negative = with("pool_timeout_ms = -5");
    assert_ne!(negative, base, "the override was inserted:\n{base}");
    let err = Scenario::from_toml(&negative).unwrap_err().to_string();
    assert!(err.contains("-5 is negative"), "{err}");
    assert!(
        err.contains("line") && err.contains("pool_timeout_ms"),
        "{err}"
    );
    assert!(!err.contains("untagged"), "{err}");

    let fraction = with("idle_timeout_ms = 1.5");
    let err = Scenario::from_toml(&fraction).unwrap_err().to_string();
    assert!(err.contains("1.5 is not a whole number"), "{err}");

    let word = with("max_size = \"infinite\"");
    let err = Scenario::from_toml(&word).unwrap_err().to_string();
    assert!(err.contains("got \"infinite\""), "{err}");

    let zero = with("max_size = 0");
    let err = Scenario::from_toml(&zero).unwrap_err().to_string();
    assert!(err.contains("max_size = \"unbounded\""), "{err}");
    assert!(!err.contains("None"), "{err}");

    // A value of another type (a boolean, a list) gets serde's "expected ..." line, which
    // the knob's reader writes.
    let boolean = with("max_size = true");
    let err = Scenario::from_toml(&boolean).unwrap_err().to_string();
    assert!(
        err.contains("expected a whole number (0 or more) or \"off\""),
        "{err}"
    );

    let unbounded = with("max_size = \"unbounded\"");
    Scenario::from_toml(&unbounded).unwrap();
}

/// (e) A scenario that asserts nothing (`either`, no checks) is "observed", not "reproduced".
#[test]
fn a_scenario_without_checks_is_observed() {
    let r = run(&one_tier(2, Dist::fixed(50), 500)).unwrap();
    assert!(
        r.report.verdict.starts_with("observed: 0 errors"),
        "{}",
        r.report.verdict
    );
    assert!(r.met());
}

/// A latency spike: Redis at 20 ms per command for 1 s, then back to what it was.
#[test]
fn a_latency_spike_lasts_its_duration() {
    let s = one_tier(1, Dist::fixed(0), 3_000).with_event(Event::Latency {
        at_ms: 1_000,
        command_latency_ms: Some(20),
        connect_latency_ms: None,
        duration_ms: Some(1_000),
    });
    let (r, trace) = trace_of(&s);
    assert!(
        r.invariant_violations.is_empty(),
        "{:?}",
        r.invariant_violations
    );
    let e = ends(&trace);
    let max_in = |from: u64, to: u64| {
        e.iter()
            .filter(|(t, _)| (from..to).contains(t))
            .map(|(_, l)| *l)
            .max()
            .unwrap()
    };
    let min_in = |from: u64, to: u64| {
        e.iter()
            .filter(|(t, _)| (from..to).contains(t))
            .map(|(_, l)| *l)
            .min()
            .unwrap()
    };
    assert!(max_in(0, 1_000) < 10, "before: {}", max_in(0, 1_000));
    assert!(
        min_in(1_100, 1_950) >= 20,
        "during: {}",
        min_in(1_100, 1_950)
    );
    assert!(max_in(2_100, 3_000) < 10, "after: {}", max_in(2_100, 3_000));
    let labels: Vec<&str> = trace
        .iter()
        .filter(|e| e["event"] == "server.event")
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["latency 20 ms for 1 s", "latency 0 ms"]);
}

/// A connect latency change: connections opened after it take that long to answer.
#[test]
fn a_connect_latency_change_slows_new_connections() {
    let s = one_tier(1, Dist::fixed(10), 3_000)
        .with_event(Event::Latency {
            at_ms: 1_000,
            command_latency_ms: None,
            connect_latency_ms: Some(300),
            duration_ms: None,
        })
        .with_event(Event::KillAllClients { at_ms: 1_500 });
    let (r, trace) = trace_of(&s);
    assert!(
        r.invariant_violations.is_empty(),
        "{:?}",
        r.invariant_violations
    );
    let e = ends(&trace);
    let slow = e.iter().filter(|(_, l)| *l >= 300).count();
    assert!(slow >= 1, "a request waited for the slow connect: {e:?}");
    assert!(e.iter().filter(|(t, _)| *t < 1_500).all(|(_, l)| *l < 300));
}

/// The trace shows the server's side: the idle-timeout close with its idle seconds, at the
/// address of the connection the next request reads EOF on, before that request.
#[test]
fn the_trace_shows_the_server_closing_the_connection_a_request_reads_eof_on() {
    let s = sims::incidents::by_name("stale-eof")
        .unwrap()
        .scenarios(3)
        .remove(0);
    let (_, trace) = trace_of(&s);
    let eof = trace
        .iter()
        .position(|e| e["event"] == "request.cmd_error" && e["error"] == "EOF")
        .expect("the buggy run reads EOF");
    let req = trace[eof]["req"].as_str().unwrap();
    let conn = trace[..eof]
        .iter()
        .rev()
        .find(|e| e["event"] == "request.conn" && e["req"] == req)
        .unwrap();
    let addr = conn["addr"]
        .as_str()
        .expect("request.conn names the address");
    let close = trace[..eof]
        .iter()
        .rev()
        .find(|e| e["event"] == "server.close" && e["addr"] == addr)
        .expect("the server's close of that connection comes before the EOF");
    assert_eq!(close["reason"], "idle timeout", "{close}");
    assert_eq!(close["by"], "server");
    assert!(close["idle_s"].as_u64().unwrap() > 300, "{close}");
    let accept = trace
        .iter()
        .find(|e| e["event"] == "server.accept" && e["addr"] == addr)
        .unwrap();
    assert_eq!(accept["client"], close["client"]);
}

/// An `either` run with checks (a built-in buggy scenario replayed with another pool) still
/// says `reproduced` when its checks pass, and `held (the signature is not there)` when they
/// do not: `observed` is only for a run without checks.
#[test]
fn an_either_run_with_checks_says_reproduced_or_held() {
    let buggy = sims::incidents::by_name("stale-eof")
        .unwrap()
        .scenarios(3)
        .remove(0);
    let same = run(&buggy.clone().with_profile("radix-v2")).unwrap();
    assert!(
        same.report.verdict.starts_with("reproduced: 3 EOF errors"),
        "{}",
        same.report.verdict
    );
    let peek = run(&buggy.with_profile("redis-py")).unwrap();
    assert!(
        peek.report
            .verdict
            .starts_with("held (the signature is not there)"),
        "{}",
        peek.report.verdict
    );
    assert!(same.met() && peek.met());
}

/// #17 item 0: a drain limit shorter than the pool's own wait is the scenario's mistake, not
/// a liveness failure of the pool: `validate` names it.
#[test]
fn a_drain_limit_shorter_than_the_pools_wait_is_refused() {
    use sims::knobs::{Overrides, Setting};
    let mut s = one_tier(3, Dist::fixed(10), 2_000);
    s.tiers[0].pool = PoolSpec::profile("go-redis-v9").with(Overrides {
        pool_timeout_ms: Some(Setting::Value(10_000)),
        honour_deadlines: Some(false),
        ..Overrides::default()
    });
    s.drain_limit_ms = 5_000;
    let err = s.validate().unwrap_err().to_string();
    assert!(
        err.starts_with("drain_limit_ms: 5000 is shorter than tiers[0]'s pool may legitimately wait for a connection (10000 ms)"),
        "{err}"
    );
    s.drain_limit_ms = 10_000;
    s.validate().unwrap();
    // recommended waits at most 1 s and honours the tier's deadline (1 s).
    s.tiers[0].pool = PoolSpec::profile("recommended");
    s.drain_limit_ms = 1_000;
    s.validate().unwrap();
}
