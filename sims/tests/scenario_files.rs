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
