//! A scenario is data: every incident scenario round-trips through JSON and TOML unchanged,
//! and a bad file is refused with an error naming the line and the field.

use sims::Scenario;
use sims::incidents::ALL;

#[test]
fn every_incident_scenario_round_trips_through_json_and_toml() {
    for inc in ALL {
        for s in inc.scenarios(inc.default_seed) {
            let json = s.to_json();
            assert_eq!(Scenario::from_json(&json).unwrap(), s, "{}: JSON", s.name);
            let toml = s.to_toml();
            assert_eq!(
                Scenario::from_toml(&toml).unwrap(),
                s,
                "{}: TOML\n{toml}",
                s.name
            );
        }
    }
}

fn stale_eof_toml() -> String {
    ALL[0].scenarios(3).remove(0).to_toml()
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let text = stale_eof_toml().replace("timeout_secs", "timeout_sec");
    let err = Scenario::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("timeout_sec"), "{err}");
    assert!(err.contains("line"), "{err}");
}

/// A script of arrivals reads from TOML as the template writes it.
#[test]
fn a_script_of_arrivals_reads_from_toml() {
    let text = stale_eof_toml();
    let start = text.find("[load.clients]").expect("a [load.clients] table");
    // The table and its sub-tables (`[load.clients.think]`).
    let end = text[start..]
        .match_indices("\n[")
        .map(|(i, _)| start + i)
        .find(|&i| !text[i + 1..].starts_with("[load.clients"))
        .unwrap_or(text.len());
    let script =
        "[load.clients]\nkind = \"open\"\narrivals = { kind = \"at\", at_ms = [0, 5, 9000] }\n";
    let text = format!("{}{script}{}", &text[..start], &text[end..]);
    let s = Scenario::from_toml(&text).unwrap();
    assert_eq!(
        s.load.clients,
        sims::scenario::Clients::Open {
            arrivals: sims::scenario::Arrivals::At {
                at_ms: vec![0, 5, 9_000]
            }
        }
    );
}

#[test]
fn a_bad_value_is_named_with_its_line() {
    let text = stale_eof_toml().replace("profile = \"radix-v2\"", "profile = 3");
    let err = Scenario::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("line") && err.contains("profile"), "{err}");
}

#[test]
fn nonsense_that_parses_is_refused_naming_the_field() {
    let base = ALL[0].scenarios(3).remove(0);
    type Change = Box<dyn Fn(&mut Scenario)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|s| s.tiers[0].pool.profile = "hikaricp".into()),
            "tiers[0].pool: unknown profile 'hikaricp'",
        ),
        (
            Box::new(|s| s.tiers[0].calls = Some("nowhere".into())),
            "tiers[0].calls: no tier named 'nowhere'",
        ),
        (Box::new(|s| s.duration_ms = 0), "duration_ms"),
        (Box::new(|s| s.server.maxclients = 0), "server.maxclients"),
        (
            Box::new(|s| s.expect.checks[0].metric = "errors.eofs".into()),
            "expect.checks[0].metric: unknown metric 'errors.eofs'",
        ),
        (
            Box::new(|s| {
                s.timeline.push(sims::scenario::Event::ConfigSet {
                    at_ms: 1,
                    name: "timeout".into(),
                    value: "-1".into(),
                });
            }),
            "timeline[1]: ERR CONFIG SET failed (possibly related to argument 'timeout')",
        ),
        (
            Box::new(|s| {
                s.tiers[0].pool.overrides.max_size = Some(sims::knobs::Setting::Value(0));
            }),
            "tiers[0].pool: overrides.max_size: must be at least 1 (got 0); write max_size = \"unbounded\"",
        ),
        (
            Box::new(|s| {
                s.load.clients = sims::scenario::Clients::Open {
                    arrivals: sims::scenario::Arrivals::At {
                        at_ms: vec![0, 10, 5],
                    },
                };
            }),
            "load.clients.arrivals.at_ms[2]: must not be before the instant ahead of it (5 < 10)",
        ),
        (
            Box::new(|s| {
                let end = s.duration_ms;
                s.load.clients = sims::scenario::Clients::Open {
                    arrivals: sims::scenario::Arrivals::At {
                        at_ms: vec![0, end],
                    },
                };
            }),
            "load.clients.arrivals.at_ms[1]: must be before duration_ms",
        ),
    ];
    for (change, want) in cases {
        let mut s = base.clone();
        change(&mut s);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
}

type Change = Box<dyn Fn(&mut Scenario)>;

/// stale-eof's buggy scenario (one Redis-facing tier `app`, radix-v2, deadline 5 s, six
/// closed-loop users, an idle gap as `timeline[0]`, ticks and links of 10 ms) with `change`.
fn changed(change: &Change) -> Scenario {
    let mut s = ALL[0].scenarios(3).remove(0);
    change(&mut s);
    s
}

fn with_sentinel(s: &mut Scenario) {
    s.server.topology = Some(sims::scenario::Topology {
        replicas: 1,
        sentinel: Some(toml::from_str("").unwrap()),
    });
}

fn sentinel(s: &mut Scenario) -> &mut sims::scenario::SentinelSpec {
    with_sentinel(s);
    s.server
        .topology
        .as_mut()
        .and_then(|t| t.sentinel.as_mut())
        .unwrap()
}

fn open(s: &mut Scenario, arrivals: sims::scenario::Arrivals) {
    s.load.clients = sims::scenario::Clients::Open { arrivals };
}

/// Open-loop bursts: `base` per second, `burst` per second for `burst_ms` every `every_ms`.
fn bursts(s: &mut Scenario, base: f64, burst: f64, burst_ms: u64, every_ms: u64) {
    open(
        s,
        sims::scenario::Arrivals::Bursts {
            base_per_sec: base,
            burst_per_sec: burst,
            burst_ms,
            every_ms,
        },
    );
}

fn poisson(s: &mut Scenario) {
    open(s, sims::scenario::Arrivals::Poisson { rate_per_sec: 10.0 });
}

fn client(profile: &str) -> sims::client::ClientSpec {
    sims::client::ClientSpec::profile(profile)
}

fn two_tiers(s: &mut Scenario) {
    let mut front = s.tiers[0].clone();
    front.name = "front".into();
    front.calls = Some("app".into());
    s.tiers.insert(0, front);
}

/// Every check [`Scenario::validate`] makes refuses its value with the field and the reason,
/// and the value at the edge of each bound is accepted: a scenario file that gets one wrong is
/// told which, and one that is right is not refused.
#[test]
fn every_check_of_validate_names_its_field_and_its_bound_is_where_it_says() {
    use sims::scenario::{Arrivals, Dist, Event, MixEntry};
    let refused: Vec<(Change, &str)> = vec![
        (Box::new(|s| s.name.clear()), "name: must not be empty"),
        (
            Box::new(|s| s.tick_ms = 0),
            "tick_ms: must be greater than zero",
        ),
        (
            Box::new(|s| s.link_latency_ms = 9),
            "link_latency_ms: must be at least tick_ms (10)",
        ),
        (
            Box::new(|s| s.sample_ms = 0),
            "sample_ms: must be greater than zero",
        ),
        (
            Box::new(|s| s.server.hz = 0),
            "server.hz: must be between 1 and 500",
        ),
        (
            Box::new(|s| s.server.hz = 501),
            "server.hz: must be between 1 and 500",
        ),
        (
            Box::new(|s| {
                with_sentinel(s);
                s.server.topology.as_mut().unwrap().replicas = 0;
            }),
            "server.topology.replicas: must be between 1 and 4",
        ),
        (
            Box::new(|s| {
                with_sentinel(s);
                s.server.topology.as_mut().unwrap().replicas = 5;
            }),
            "server.topology.replicas: must be between 1 and 4",
        ),
        (
            Box::new(|s| sentinel(s).master_name.clear()),
            "server.topology.sentinel.master_name: must be a non-empty name",
        ),
        (
            Box::new(|s| sentinel(s).master_name = "my master".into()),
            "server.topology.sentinel.master_name: must be a non-empty name",
        ),
        (
            Box::new(|s| sentinel(s).down_after_ms = 0),
            "server.topology.sentinel.down_after_ms: must be greater than zero",
        ),
        (
            Box::new(|s| sentinel(s).tick_ms = Some(0)),
            "server.topology.sentinel.tick_ms: must be greater than zero",
        ),
        (
            Box::new(|s| sentinel(s).replica_reconf_timeout_ms = Some(0)),
            "server.topology.sentinel.replica_reconf_timeout_ms: must be greater than zero",
        ),
        (
            Box::new(|s| sentinel(s).failover_timeout_ms = 0),
            "server.topology.sentinel.failover_timeout_ms: must be greater than zero",
        ),
        (
            Box::new(|s| s.tiers.clear()),
            "tiers: at least one tier is needed",
        ),
        (
            Box::new(|s| s.tiers[0].name.clear()),
            "tiers[0].name: letters, digits and _ only, not empty",
        ),
        (
            Box::new(|s| s.tiers[0].name = "app-1".into()),
            "tiers[0].name: letters, digits and _ only, not empty",
        ),
        (
            Box::new(|s| s.tiers[0].name = "redis".into()),
            "tiers[0].name: 'redis' is the server's host",
        ),
        (
            Box::new(|s| {
                two_tiers(s);
                s.tiers.push(s.tiers[1].clone());
            }),
            "tiers[2].name: 'app' is used twice",
        ),
        (
            Box::new(|s| s.tiers[0].instances = 0),
            "tiers[0].instances: must be at least 1",
        ),
        (
            Box::new(|s| s.tiers[0].pools_per_instance = 0),
            "tiers[0].pools_per_instance: must be at least 1",
        ),
        (
            Box::new(|s| s.tiers[0].deadline_ms = 0),
            "tiers[0].deadline_ms: must be greater than zero",
        ),
        (
            Box::new(|s| {
                two_tiers(s);
                s.tiers[0].client = Some(client("redis-py-7"));
            }),
            "tiers[0].client: only a tier that talks to Redis has a Redis client",
        ),
        (
            Box::new(|s| {
                two_tiers(s);
                s.tiers[1].calls = Some("front".into());
            }),
            "tiers[1].calls: must name a later tier",
        ),
        (
            Box::new(|s| s.tiers[0].calls = Some("app".into())),
            "tiers[0].calls: must name a later tier",
        ),
        (
            Box::new(|s| s.tiers[0].client = Some(client("redis-py-9"))),
            "tiers[0].client.profile: ",
        ),
        (
            Box::new(|s| {
                let mut c = client("redis-py-7");
                c.overrides.read_timeout_ms = Some(sims::knobs::Setting::Value(0));
                s.tiers[0].client = Some(c);
            }),
            "tiers[0].client.overrides.read_timeout_ms: must be greater than zero",
        ),
        (
            Box::new(|s| {
                s.tiers[0].client = Some(client("redis-py-7"));
                s.tiers[0].retry = sims::scenario::Retry::OnceOnConnectionError;
            }),
            "tiers[0].retry: must be \"none\" when the tier has a client",
        ),
        (
            Box::new(|s| {
                let mut c = client("redis-py-7");
                c.overrides.on_timeout = Some(sims::client::OnTimeout::Keep);
                s.tiers[0].client = Some(c);
            }),
            "tiers[0].client: on_timeout = \"keep\"",
        ),
        (
            Box::new(|s| s.tiers[0].client = Some(client("redis-py-7-sentinel"))),
            "tiers[0].client: a Sentinel discovery needs a Sentinel in the scenario",
        ),
        (
            Box::new(|s| {
                s.load.clients = sims::scenario::Clients::Closed {
                    users: 0,
                    think: Dist::fixed(10),
                };
            }),
            "load.clients.users: must be at least 1, or 0 with a later `load` event",
        ),
        (
            // A raise to zero users, or at the end, raises nothing.
            Box::new(|s| {
                s.load.clients = sims::scenario::Clients::Closed {
                    users: 0,
                    think: Dist::fixed(10),
                };
                s.timeline.push(Event::Load {
                    at_ms: 10,
                    users: Some(0),
                    rate_factor: None,
                });
                s.timeline.push(Event::Load {
                    at_ms: s.duration_ms,
                    users: Some(5),
                    rate_factor: None,
                });
            }),
            "load.clients.users: must be at least 1",
        ),
        (
            Box::new(|s| {
                s.load.clients = sims::scenario::Clients::Closed {
                    users: 1,
                    think: Dist::Uniform {
                        min_ms: 5,
                        max_ms: 4,
                    },
                };
            }),
            "load.clients.think: max_ms must not be below min_ms",
        ),
        (
            Box::new(|s| open(s, Arrivals::Constant { rate_per_sec: -1.0 })),
            "load.clients.arrivals.rate_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| {
                open(
                    s,
                    Arrivals::Poisson {
                        rate_per_sec: f64::INFINITY,
                    },
                );
            }),
            "load.clients.arrivals.rate_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| {
                bursts(s, f64::NAN, 1.0, 1, 2);
            }),
            "load.clients.arrivals.base_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| {
                bursts(s, 1.0, -0.5, 1, 2);
            }),
            "load.clients.arrivals.burst_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| {
                bursts(s, 1.0, 1.0, 0, 0);
            }),
            "load.clients.arrivals.every_ms: must be positive and at least burst_ms",
        ),
        (
            Box::new(|s| {
                bursts(s, 1.0, 1.0, 3, 2);
            }),
            "load.clients.arrivals.every_ms: must be positive and at least burst_ms",
        ),
        (
            Box::new(|s| {
                open(
                    s,
                    Arrivals::Ramp {
                        from_per_sec: -1.0,
                        to_per_sec: 1.0,
                        over_ms: 10,
                    },
                );
            }),
            "load.clients.arrivals.from_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| {
                open(
                    s,
                    Arrivals::Ramp {
                        from_per_sec: 1.0,
                        to_per_sec: -1.0,
                        over_ms: 10,
                    },
                );
            }),
            "load.clients.arrivals.to_per_sec: must be >= 0",
        ),
        (
            Box::new(|s| s.load.mix.clear()),
            "load.mix: needs an entry with a weight above 0",
        ),
        (
            Box::new(|s| {
                s.load.mix = vec![MixEntry {
                    command: sims::scenario::Command::Ping,
                    weight: 0,
                }];
            }),
            "load.mix: needs an entry with a weight above 0",
        ),
        (
            Box::new(|s| {
                s.load.hold = Dist::Uniform {
                    min_ms: 2,
                    max_ms: 1,
                };
            }),
            "load.hold: max_ms must not be below min_ms",
        ),
        (
            Box::new(|s| s.timeline[0].set_at_ms(s.duration_ms)),
            "timeline[0].at_ms: ",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::ReplicaOf {
                    at_ms: 1,
                    master: "redis-b".into(),
                });
            }),
            "timeline[1].master: 'redis-b' is neither host:port nor \"no one\"",
        ),
        (
            Box::new(|s| s.timeline.push(Event::SentinelFailover { at_ms: 1 })),
            "timeline[1]: a sentinel_failover event needs a Sentinel",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Stall {
                    at_ms: 1,
                    duration_ms: 0,
                });
            }),
            "timeline[1].duration_ms: must be greater than zero",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Hang {
                    at_ms: 1,
                    duration_ms: 0,
                });
            }),
            "timeline[1].duration_ms: must be greater than zero",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Latency {
                    at_ms: 1,
                    command_latency_ms: None,
                    connect_latency_ms: None,
                    duration_ms: Some(5),
                });
            }),
            "timeline[1]: a latency event needs command_latency_ms or connect_latency_ms",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Latency {
                    at_ms: 1,
                    command_latency_ms: None,
                    connect_latency_ms: Some(5),
                    duration_ms: Some(0),
                });
            }),
            "timeline[1].duration_ms: must be greater than zero (leave it out",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: None,
                    rate_factor: None,
                });
            }),
            "timeline[1]: a load event needs users or rate_factor",
        ),
        (
            Box::new(|s| {
                poisson(s);
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: Some(3),
                    rate_factor: None,
                });
            }),
            "timeline[1].users: users apply to closed-loop load",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: None,
                    rate_factor: Some(2.0),
                });
            }),
            "timeline[1].rate_factor: rate_factor applies to open-loop load",
        ),
        (
            Box::new(|s| {
                poisson(s);
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: None,
                    rate_factor: Some(-0.5),
                });
            }),
            "timeline[1].rate_factor: must be >= 0",
        ),
        (
            Box::new(|s| {
                poisson(s);
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: None,
                    rate_factor: Some(f64::NAN),
                });
            }),
            "timeline[1].rate_factor: must be >= 0",
        ),
        (
            Box::new(|s| {
                s.timeline.push(Event::IdleGap {
                    at_ms: 1,
                    duration_ms: 0,
                });
            }),
            "timeline[1].duration_ms: must be greater than zero",
        ),
        (
            Box::new(|s| s.expect.signature.clear()),
            "expect.signature: must not be empty",
        ),
        (
            Box::new(|s| {
                s.expect.checks[0].eq = None;
                s.expect.checks[0].min = None;
                s.expect.checks[0].max = None;
            }),
            "expect.checks[0]: needs eq, min or max",
        ),
    ];
    for (i, (change, want)) in refused.iter().enumerate() {
        let err = changed(change)
            .validate()
            .expect_err(&format!("case {i} ({want}) was accepted"))
            .to_string();
        assert!(
            err.starts_with(want),
            "case {i}: {err:?} should start with {want:?}"
        );
    }

    // The edge of each bound, and what a check lets through.
    let accepted: Vec<(Change, &str)> = vec![
        (
            Box::new(|_| {}),
            "the scenario as it is (link_latency_ms = tick_ms)",
        ),
        (Box::new(|s| s.server.hz = 1), "hz 1"),
        (Box::new(|s| s.server.hz = 500), "hz 500"),
        (
            Box::new(|s| {
                with_sentinel(s);
                s.server.topology.as_mut().unwrap().replicas = 4;
            }),
            "4 replicas",
        ),
        (
            Box::new(|s| sentinel(s).master_name = "my-master_1.a".into()),
            "a master name of every kind of character allowed",
        ),
        (
            Box::new(|s| s.tiers[0].name = "app_2".into()),
            "a tier name with a digit and _",
        ),
        (Box::new(two_tiers), "a tier calling a later one"),
        (
            Box::new(|s| {
                with_sentinel(s);
                s.tiers[0].client = Some(client("redis-py-7-sentinel"));
                s.timeline.push(Event::SentinelFailover { at_ms: 1 });
            }),
            "a Sentinel client and a failover with a Sentinel",
        ),
        (
            Box::new(|s| {
                s.load.clients = sims::scenario::Clients::Closed {
                    users: 0,
                    think: Dist::Uniform {
                        min_ms: 4,
                        max_ms: 4,
                    },
                };
                s.timeline.push(Event::Load {
                    at_ms: s.duration_ms - 1,
                    users: Some(1),
                    rate_factor: None,
                });
            }),
            "a quiet start raised before the end, a think time of min = max",
        ),
        (
            Box::new(|s| {
                bursts(s, 0.0, 1.0, 2, 2);
                s.timeline.push(Event::Load {
                    at_ms: 1,
                    users: None,
                    rate_factor: Some(0.0),
                });
            }),
            "bursts as long as their period, a rate of 0, a rate factor of 0",
        ),
        (
            Box::new(|s| {
                s.load.mix.push(MixEntry {
                    command: sims::scenario::Command::Ping,
                    weight: 0,
                });
            }),
            "a mix entry of weight 0 beside one above",
        ),
        (
            Box::new(|s| {
                let end = s.duration_ms - 1;
                s.timeline[0].set_at_ms(end);
                s.timeline.push(Event::ReplicaOf {
                    at_ms: 1,
                    master: "no one".into(),
                });
                s.timeline.push(Event::Latency {
                    at_ms: 1,
                    command_latency_ms: Some(5),
                    connect_latency_ms: None,
                    duration_ms: None,
                });
            }),
            "an event just before the end, REPLICAOF NO ONE, a lasting latency change",
        ),
        (
            Box::new(|s| {
                s.expect.checks[0] = sims::scenario::Check::min("errors.eof", 3.0);
                s.expect.checks[1] = sims::scenario::Check::max("errors.eof", 30.0);
            }),
            "a check with only a minimum, one with only a maximum",
        ),
    ];
    for (change, what) in accepted {
        if let Err(e) = changed(&change).validate() {
            panic!("{what}: refused: {e}");
        }
    }
}

fn pool(profile: &str, o: sims::knobs::Overrides) -> sims::scenario::PoolSpec {
    sims::scenario::PoolSpec::profile(profile).with(o)
}

/// redis-py 7 with a read timeout of 500 ms, retrying twice after back-offs capped at 100 ms.
fn retrying_client() -> sims::client::ClientSpec {
    let mut c = client("redis-py-7");
    c.overrides.read_timeout_ms = Some(sims::knobs::Setting::Value(500));
    c.overrides.retry.attempts = Some(2);
    c.overrides.retry.backoff_base_ms = Some(10);
    c.overrides.retry.backoff_cap_ms = Some(100);
    c
}

/// The drain limit must cover the longest a Redis-facing request may legitimately wait for a
/// connection (its pool's timeout, or its deadline when the pool honours deadlines; with a
/// client, every try and back-off), and [`Scenario::min_drain_limit_ms`] says how long that
/// is: one millisecond less is refused, naming the tier and the figure; that much is taken.
#[test]
fn the_drain_limit_covers_the_longest_legitimate_wait() {
    use sims::knobs::{Overrides, Setting};
    let cases: Vec<(Change, Option<u64>, &str)> = vec![
        (
            // go-redis waits 6 s or the deadline, whichever is first.
            Box::new(|s| s.tiers[0].pool = pool("go-redis-v9", Overrides::default())),
            Some(5_000),
            "go-redis-v9, deadline 5 s",
        ),
        (
            Box::new(|s| {
                s.tiers[0].pool = pool("go-redis-v9", Overrides::default());
                s.tiers[0].deadline_ms = 8_000;
            }),
            Some(6_000),
            "go-redis-v9, deadline 8 s",
        ),
        (
            // bb8 waits its 30 s whatever the deadline.
            Box::new(|s| s.tiers[0].pool = pool("bb8", Overrides::default())),
            Some(30_000),
            "bb8",
        ),
        (
            Box::new(|s| {
                let o = Overrides {
                    pool_timeout_ms: Some(Setting::Off),
                    ..Overrides::default()
                };
                s.tiers[0].pool = pool("go-redis-v9", o);
            }),
            Some(5_000),
            "no pool timeout, deadlines honoured",
        ),
        (
            Box::new(|s| s.tiers[0].pool = pool("deadpool", Overrides::default())),
            None,
            "deadpool (waits for ever)",
        ),
        (
            Box::new(|s| {
                let o = Overrides {
                    when_exhausted: Some(sims::knobs::Exhausted::FailFast),
                    ..Overrides::default()
                };
                s.tiers[0].pool = pool("go-redis-v9", o);
            }),
            Some(0),
            "fail fast",
        ),
        (
            // Three tries, each waiting 5 s and two read timeouts, and two back-offs.
            Box::new(|s| {
                s.tiers[0].pool = pool("go-redis-v9", Overrides::default());
                s.tiers[0].client = Some(retrying_client());
            }),
            Some(3 * (5_000 + 2 * 500) + 2 * 100),
            "go-redis-v9 under a client retrying twice",
        ),
        (
            // The longest over the Redis-facing tiers; a calling tier has no pool of its own.
            Box::new(|s| {
                s.tiers[0].pool = pool("go-redis-v9", Overrides::default());
                let mut other = s.tiers[0].clone();
                other.name = "other".into();
                other.pool = pool("bb8", Overrides::default());
                s.tiers.push(other);
                let mut front = s.tiers[0].clone();
                front.name = "front".into();
                front.calls = Some("app".into());
                front.pool = pool("hikari", Overrides::default());
                s.tiers.insert(0, front);
            }),
            Some(30_000),
            "two Redis-facing tiers, one calling",
        ),
    ];
    for (change, want, what) in cases {
        let mut s = changed(&change);
        s.drain_limit_ms = 0;
        assert_eq!(s.min_drain_limit_ms(), want, "{what}");
        match want {
            None | Some(0) => s.validate().unwrap_or_else(|e| panic!("{what}: {e}")),
            Some(need) => {
                s.drain_limit_ms = need - 1;
                let err = s.validate().expect_err(what).to_string();
                // In every case the longest wait is the last Redis-facing tier's.
                let tier = s.tiers.iter().rposition(|t| t.calls.is_none()).unwrap();
                assert_eq!(
                    err,
                    format!(
                        "drain_limit_ms: {} is shorter than tiers[{tier}]'s pool may legitimately wait for a connection ({need} ms): a request still queued when the load ends would be reported as stuck; make it at least {need}",
                        need - 1
                    ),
                    "{what}"
                );
                s.drain_limit_ms = need;
                s.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        }
    }
}
