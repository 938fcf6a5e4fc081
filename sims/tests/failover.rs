//! Replicas and a Sentinel in a scenario (issue #16): a manual failover from the timeline,
//! the clients that follow it and the one that does not, the topology's validation, and the
//! fast engine's refusal. The crash failover is the `failover` incident (tests/incidents.rs).

use sims::client::ClientSpec;
use sims::scenario::{
    Arrivals, Command, Event, Load, PoolSpec, Scenario, SentinelSpec, Server, Tier, Topology,
};
use sims::{CorePoolFactory, Engine, RunOptions, run_on, run_with};

/// One tier of 2 pods with `client`, 50 requests a second of SET+GET for 25 s, a master, one
/// replica and a Sentinel (down-after 2 s); a manual failover at 3 s.
fn manual(client: &str) -> Scenario {
    Scenario::new(
        "manual-failover",
        7,
        25_000,
        vec![
            Tier::new("app", PoolSpec::profile("redis-py"), 1_000)
                .with_instances(2)
                .with_client(ClientSpec::profile(client)),
        ],
        Load::open(Arrivals::Poisson { rate_per_sec: 50.0 }).with_command(Command::SetGet),
    )
    .with_server(Server {
        topology: Some(Topology {
            replicas: 1,
            sentinel: Some(SentinelSpec {
                down_after_ms: 2_000,
                ..SentinelSpec::default()
            }),
        }),
        ..Server::default()
    })
    .with_event(Event::SentinelFailover { at_ms: 3_000 })
    .with_ticks(10, 10)
    // go-redis retries 3 times with a 5 s read timeout: the drain covers every try.
    .with_drain_limit_ms(60_000)
}

fn run(s: &Scenario) -> sims::Run {
    let opts = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let run = run_with(s, CorePoolFactory, &opts).unwrap();
    assert!(
        run.report.invariant_violations.is_empty(),
        "{:?}",
        run.report.invariant_violations
    );
    run
}

#[test]
fn a_manual_failover_splits_the_brain_then_a_pinned_client_gets_readonly_from_then_on() {
    let r = run(&manual("redis-py-7"));
    assert_eq!(r.metrics.get("failovers"), 1.0);
    // Sentinel promotes the replica at once (no down-after wait: the master is healthy); the
    // old master, not contacted during the failover, takes the pinned client's writes (the
    // split brain) until Sentinel converts it 8 s or more later with SLAVEOF + CLIENT KILL;
    // the client reconnects to the old address and every write from then on is READONLY.
    let switch = r.metrics.get("first_switch_ms");
    assert!((3_000.0..5_000.0).contains(&switch), "switch at {switch}");
    assert!(r.metrics.get("split_brain_writes") > 100.0);
    assert!(r.report.errors.readonly > 100, "{:?}", r.report.errors);
    assert!(r.metrics.get("first_error_ms") > switch + 8_000.0);
    assert!(r.metrics.get("last_error_ms") >= 24_000.0);
    assert!(
        r.trace
            .iter()
            .any(|l| l.contains("\"sentinel.event\"") && l.contains("+switch-master")),
        "the trace shows the switch"
    );
}

#[test]
fn a_second_manual_failover_during_the_first_is_refused_and_traced() {
    let mut s = manual("redis-py-8-sentinel");
    s.timeline.push(Event::SentinelFailover { at_ms: 3_000 });
    let r = run(&s);
    assert_eq!(r.metrics.get("failovers"), 1.0);
    assert!(
        r.trace
            .iter()
            .any(|l| l.contains("\"sentinel.failover_refused\"") && l.contains("INPROG")),
        "the second one is refused as Sentinel refuses it"
    );
}

#[test]
fn the_same_seed_gives_the_same_trace_with_a_topology() {
    let s = manual("redis-py-8-sentinel");
    let a = run(&s).report.trace_hash;
    let b = run(&s).report.trace_hash;
    assert_eq!(a, b);
}

#[test]
fn a_topology_is_validated_and_named() {
    let mut s = manual("redis-py-7");
    s.server.topology.as_mut().unwrap().replicas = 0;
    let e = s.validate().unwrap_err().to_string();
    assert_eq!(e, "server.topology.replicas: must be between 1 and 4");

    let mut s = manual("redis-py-7");
    s.server.topology.as_mut().unwrap().sentinel = None;
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("timeline[0]: a sentinel_failover event needs a Sentinel"),
        "{e}"
    );

    let mut s = manual("redis-py-8-sentinel");
    s.timeline.clear();
    s.server.topology = None;
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("tiers[0].client: a Sentinel discovery needs a Sentinel"),
        "{e}"
    );

    let mut s = manual("redis-py-7");
    s.server.topology.as_mut().unwrap().sentinel = Some(SentinelSpec {
        down_after_ms: 0,
        ..SentinelSpec::default()
    });
    let e = s.validate().unwrap_err().to_string();
    assert_eq!(
        e,
        "server.topology.sentinel.down_after_ms: must be greater than zero"
    );

    let mut s = manual("redis-py-7");
    s.server.topology.as_mut().unwrap().sentinel = Some(SentinelSpec {
        convert_wait_ms: Some(0),
        ..SentinelSpec::default()
    });
    let e = s.validate().unwrap_err().to_string();
    assert_eq!(
        e,
        "server.topology.sentinel.convert_wait_ms: must be greater than zero"
    );
}

/// The Sentinel's periods are Redis's unless the scenario names them (the explorer's
/// instances name them all); a file that names none writes none.
#[test]
fn the_sentinels_periods_are_redis_s_unless_named() {
    let (t, tick) = SentinelSpec::default().timing();
    assert_eq!(t, fake_redis::SentinelTiming::default());
    assert_eq!(tick, 100);
    let named = SentinelSpec {
        tick_ms: Some(1000),
        info_period_ms: Some(5000),
        convert_wait_ms: Some(4000),
        ..SentinelSpec::default()
    };
    let (t, tick) = named.timing();
    assert_eq!(tick, 1000);
    assert_eq!(t.info_period_ms, 5000);
    assert_eq!(t.convert_wait_ms, 4000);
    assert_eq!(t.ping_period_ms, 1000);
    let text = manual("redis-py-7").to_toml();
    assert!(
        !text.contains("convert_wait_ms") && !text.contains("ping_period_ms"),
        "{text}"
    );
    let mut s = manual("redis-py-7");
    s.server.topology.as_mut().unwrap().sentinel = Some(named);
    assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap(), s);
}

/// A Sentinel clock the scenario names reaches both engines' Sentinel: a 1 s tick, or INFO
/// every 3 s while failing over, moves the switch from where Redis's own clock puts it, to
/// the same instant on both.
#[test]
fn a_named_sentinel_clock_reaches_both_engines() {
    let switch = |s: &Scenario, engine| {
        run_on(engine, s, &RunOptions::default())
            .unwrap()
            .metrics
            .get("first_switch_ms")
    };
    let base = manual("redis-py-8-sentinel");
    let redis_clock = switch(&base, Engine::Fast);
    assert_eq!(switch(&base, Engine::Turmoil), redis_clock);
    for named in [
        SentinelSpec {
            tick_ms: Some(1000),
            ..SentinelSpec::default()
        },
        SentinelSpec {
            info_period_fast_ms: Some(3000),
            ..SentinelSpec::default()
        },
    ] {
        let mut s = base.clone();
        let sn = s
            .server
            .topology
            .as_mut()
            .unwrap()
            .sentinel
            .as_mut()
            .unwrap();
        sn.tick_ms = named.tick_ms;
        sn.info_period_fast_ms = named.info_period_fast_ms;
        let t = switch(&s, Engine::Turmoil);
        assert_eq!(switch(&s, Engine::Fast), t, "{named:?}");
        assert_ne!(
            t, redis_clock,
            "{named:?}: the switch did not move from {redis_clock}"
        );
    }
}

#[test]
fn a_topology_round_trips_through_toml() {
    let s = manual("redis-py-8-sentinel");
    let text = s.to_toml();
    assert!(text.contains("[server.topology.sentinel]"), "{text}");
    assert!(text.contains("event = \"sentinel_failover\""), "{text}");
    assert_eq!(Scenario::from_toml(&text).unwrap(), s);
}

/// The fast engine runs a topology too (`fast::topo`): the same switch at the same instant,
/// the same split-brain writes and errors as turmoil, for a pinned client and for one that
/// asks Sentinel on connect.
#[test]
fn the_fast_engine_runs_a_manual_failover_as_turmoil_does() {
    for client in ["redis-py-7", "redis-py-8-sentinel"] {
        let s = manual(client);
        let t = run_on(Engine::Turmoil, &s, &RunOptions::default()).unwrap();
        let f = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
        for m in ["failovers", "first_switch_ms", "split_brain_writes"] {
            assert_eq!(t.metrics.get(m), f.metrics.get(m), "{client}: {m}");
        }
        assert_eq!(t.metrics.get("failovers"), 1.0, "{client}");
        assert_eq!(t.report.errors, f.report.errors, "{client}");
        assert!(f.report.invariant_violations.is_empty(), "{client}");
    }
}

/// One tier of 2 pods, redis-py 7 with a 200 ms read timeout, 50 requests a second of ECHO
/// for 8 s; the master's host is cut off from 2 s to 4 s.
fn hung(client: &str) -> Scenario {
    Scenario::new(
        "hang",
        9,
        8_000,
        vec![
            Tier::new("app", PoolSpec::profile("redis-py"), 1_000)
                .with_instances(2)
                .with_client(
                    ClientSpec::profile(client).with(sims::client::ClientOverrides {
                        read_timeout_ms: Some(sims::knobs::Setting::Value(200)),
                        retry: sims::client::RetryOverrides {
                            attempts: Some(0),
                            ..sims::client::RetryOverrides::default()
                        },
                        ..sims::client::ClientOverrides::default()
                    }),
                ),
        ],
        Load::open(Arrivals::Poisson { rate_per_sec: 50.0 }).with_command(Command::Echo),
    )
    .with_event(Event::Hang {
        at_ms: 2_000,
        duration_ms: 2_000,
    })
    .with_ticks(10, 10)
}

/// On both engines (the fast engine holds every message to and from the master and
/// delivers them when the hang ends).
#[test]
fn a_hang_holds_every_link_so_reads_time_out_and_service_resumes_after_it() {
    for engine in [Engine::Turmoil, Engine::Fast] {
        let r = run_on(engine, &hung("redis-py-7"), &RunOptions::default()).unwrap();
        let e = &r.report.errors;
        // Requests sent during the hang wait for the read timeout; new connects hang.
        assert!(e.read_timeout > 0, "{engine:?}: {e:?}");
        assert_eq!(e.eof, 0, "{engine:?}: nothing is closed: {e:?}");
        let last = r.metrics.get("last_error_ms");
        assert!(
            (2_000.0..=5_500.0).contains(&last),
            "{engine:?}: last error at {last}"
        );
        assert!(
            r.metrics.get("succeeded_after_last_error") > 100.0,
            "{engine:?}"
        );
        assert!(r.report.invariant_violations.is_empty(), "{engine:?}");
    }
}

#[test]
fn a_partitioned_master_is_failed_over_and_takes_pinned_writes_when_the_partition_heals() {
    // The master is cut off for 5 s: Sentinel (down-after 2 s) promotes the replica; when
    // the links come back the old master, which kept running and still says role:master,
    // takes the pinned client's writes until Sentinel converts it.
    let mut s = hung("redis-py-7");
    s.duration_ms = 20_000;
    s.server.topology = Some(Topology {
        replicas: 1,
        sentinel: Some(SentinelSpec {
            down_after_ms: 2_000,
            ..SentinelSpec::default()
        }),
    });
    s.timeline = vec![Event::Hang {
        at_ms: 2_000,
        duration_ms: 5_000,
    }];
    s.load.mix[0].command = Command::SetGet;
    let pinned = run(&s);
    assert_eq!(pinned.metrics.get("failovers"), 1.0);
    assert!(pinned.metrics.get("split_brain_writes") > 50.0);
    // A client that follows +switch-master drops its connections to the old master.
    s.tiers[0].client = Some(ClientSpec::profile("go-redis-v9-failover"));
    s.tiers[0].pool = PoolSpec::profile("go-redis-v9");
    s.drain_limit_ms = 60_000;
    let follow = run(&s);
    assert_eq!(follow.metrics.get("failovers"), 1.0);
    assert!(
        follow.metrics.get("split_brain_writes") < pinned.metrics.get("split_brain_writes") / 5.0,
        "{} against {}",
        follow.metrics.get("split_brain_writes"),
        pinned.metrics.get("split_brain_writes")
    );
}
