//! Every knob of a scenario does what it says, on the real pool and the real fake Redis:
//! timeline events (kill all clients, restart with downtime, read-only, CONFIG SET, refuse
//! connections, load changes), the server's password and connect latency, and the open-loop
//! arrival processes.

use sims::knobs::{CheckWhenSpec, Overrides};
use sims::scenario::{
    Arrivals, Clients, Command, Dist, Event, Expectation, Load, MixEntry, Outcome, PoolSpec, Retry,
    Scenario, Server, Tier,
};
mod common;

use sims::{Report, run};

fn base(pool: PoolSpec) -> Scenario {
    Scenario {
        name: "events".into(),
        summary: String::new(),
        seed: 11,
        duration_ms: 3_000,
        drain_limit_ms: 10_000,
        tick_ms: 1,
        link_latency_ms: 1,
        sample_ms: 100,
        server: Server::default(),
        tiers: vec![Tier {
            name: "app".into(),
            pool,
            instances: 1,
            pools_per_instance: 1,
            deadline_ms: 2_000,
            calls: None,
            retry: Retry::None,
            client: None,
        }],
        load: Load {
            clients: Clients::Closed {
                users: 4,
                think: Dist::fixed(10),
            },
            mix: vec![MixEntry {
                command: Command::SetGet,
                weight: 1,
            }],
            hold: Dist::fixed(0),
        },
        timeline: vec![],
        expect: Expectation {
            outcome: Outcome::Either,
            checks: vec![],
            signature: "{errors.total} errors".into(),
        },
    }
}

fn no_check() -> PoolSpec {
    PoolSpec::profile("radix-v2")
}

/// Runs `s` on turmoil (the report the tests check) and on the fast engine, which must
/// violate nothing either and show close figures (`common::close`).
fn go(s: &Scenario) -> Report {
    let r = run(s).unwrap().report;
    assert!(
        r.invariant_violations.is_empty(),
        "{}: {:?}",
        s.name,
        r.invariant_violations
    );
    let f = sims::run_on(sims::Engine::Fast, s, &sims::RunOptions::default())
        .unwrap()
        .report;
    assert!(
        f.invariant_violations.is_empty(),
        "{} (fast engine): {:?}",
        s.name,
        f.invariant_violations
    );
    let d = common::differences(&r, &f);
    assert!(d.is_empty(), "{}: the engines disagree: {d:?}", s.name);
    r
}

#[test]
fn killing_all_clients_fails_the_next_request_on_each_pooled_connection() {
    let mut s = base(no_check());
    s.timeline.push(Event::KillAllClients { at_ms: 1_500 });
    let r = go(&s);
    assert!(
        (1..=4).contains(&r.errors.eof),
        "one EOF per pooled connection: {:?}",
        r.errors
    );
    assert_eq!(r.errors.total(), r.errors.eof);
    // With a peek on checkout the pool reconnects instead.
    let mut s = base(PoolSpec::profile("radix-v2").with(Overrides {
        check_on_checkout: Some(CheckWhenSpec::Always),
        ..Overrides::default()
    }));
    s.timeline.push(Event::KillAllClients { at_ms: 1_500 });
    assert_eq!(go(&s).errors.total(), 0);
}

#[test]
fn a_restart_with_downtime_refuses_connections_then_recovers() {
    let mut s = base(PoolSpec::profile("recommended"));
    s.timeline.push(Event::Restart {
        at_ms: 1_000,
        down_ms: 500,
    });
    let r = go(&s);
    assert!(r.errors.total() > 0, "the restart is felt: {:?}", r.errors);
    let last = r.timeline.last().unwrap();
    assert!(
        last.server_clients > 0,
        "the pool reconnected after the downtime"
    );
    // Requests queued during the downtime time out (1 s) and the pool's connect back-off
    // (up to 1 s) delays the first reconnect; after that, no errors.
    let after: Vec<_> = r.timeline.iter().filter(|t| t.t_ms >= 2_500).collect();
    assert!(
        after.windows(2).all(|w| w[0].errors == w[1].errors),
        "no errors once the server is back: {after:?}"
    );
}

#[test]
fn read_only_makes_writes_fail_with_an_error_reply_and_ends() {
    let mut s = base(PoolSpec::profile("recommended"));
    s.timeline.push(Event::ReadOnly {
        at_ms: 1_000,
        on: true,
    });
    s.timeline.push(Event::ReadOnly {
        at_ms: 2_000,
        on: false,
    });
    let r = go(&s);
    assert!(r.errors.readonly > 0, "{:?}", r.errors);
    assert_eq!(
        r.errors.total(),
        r.errors.readonly,
        "-READONLY is an error reply, counted as its own kind"
    );
    assert_eq!(r.rejected_connections, 0);
}

#[test]
fn config_set_maxclients_and_refused_connections_reach_the_pool() {
    // A fail-fast pool without a bound needs new connections for a burst of users.
    let mut s = base(PoolSpec::profile("redis-py").with(Overrides {
        max_size: Some(sims::knobs::Setting::Off),
        ..Overrides::default()
    }));
    s.timeline.push(Event::ConfigSet {
        at_ms: 500,
        name: "maxclients".into(),
        value: "2".into(),
    });
    s.timeline.push(Event::Load {
        at_ms: 1_000,
        users: Some(40),
        rate_factor: None,
    });
    s.load.clients = Clients::Closed {
        users: 2,
        think: Dist::fixed(10),
    };
    let r = go(&s);
    assert!(r.errors.max_clients > 0, "{:?}", r.errors);
    // A request that got a freed connection before its own connect was refused is served; the
    // refusal is still counted by the server.
    assert!(r.rejected_connections >= r.errors.max_clients);
    assert!(r.peak_server_clients <= 4, "{}", r.peak_server_clients);

    let mut s = base(no_check());
    s.timeline
        .push(Event::RefuseConnections { at_ms: 0, on: true });
    s.timeline.push(Event::RefuseConnections {
        at_ms: 1_000,
        on: false,
    });
    let r = go(&s);
    assert!(r.errors.other > 0, "connects refused: {:?}", r.errors);
    assert!(r.succeeded > 0, "and served once refusing stops");
}

#[test]
fn a_password_and_a_connect_latency_are_paid_by_the_first_requests() {
    let mut s = base(no_check());
    s.server.requirepass = Some("s3cret".into());
    s.server.connect_latency_ms = 200;
    let r = go(&s);
    assert_eq!(r.errors.total(), 0, "the pools AUTH with the password");
    assert!(
        r.latency_ms.max >= 200.0,
        "a new connection's first reply waits 200 ms: {:?}",
        r.latency_ms
    );
    assert!(r.latency_ms.p50 < 50.0, "{:?}", r.latency_ms);
}

#[test]
fn open_loop_arrivals_follow_their_process() {
    let count = |arrivals: Arrivals| {
        let mut s = base(PoolSpec::profile("recommended"));
        s.load.clients = Clients::Open { arrivals };
        go(&s).requests
    };
    // 3 s of load.
    assert_eq!(
        count(Arrivals::Constant {
            rate_per_sec: 100.0
        }),
        299
    );
    let poisson = count(Arrivals::Poisson {
        rate_per_sec: 100.0,
    });
    assert!((240..=360).contains(&poisson), "{poisson}");
    let bursts = count(Arrivals::Bursts {
        base_per_sec: 0.0,
        burst_per_sec: 1_000.0,
        burst_ms: 100,
        every_ms: 1_000,
    });
    assert!(
        (240..=360).contains(&bursts),
        "3 bursts of about 100: {bursts}"
    );
    let ramp = count(Arrivals::Ramp {
        from_per_sec: 0.0,
        to_per_sec: 200.0,
        over_ms: 3_000,
    });
    assert!((240..=360).contains(&ramp), "a mean rate of 100: {ramp}");
    let mut s = base(PoolSpec::profile("recommended"));
    s.load.clients = Clients::Open {
        arrivals: Arrivals::Constant {
            rate_per_sec: 100.0,
        },
    };
    s.timeline.push(Event::Load {
        at_ms: 1_500,
        users: None,
        rate_factor: Some(0.0),
    });
    let half = go(&s).requests;
    assert!((145..=155).contains(&half), "{half}");
}
