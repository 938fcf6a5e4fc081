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
    ];
    for (change, want) in cases {
        let mut s = base.clone();
        change(&mut s);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
}
