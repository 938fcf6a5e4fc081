//! The scenario file as a person writes it: the template documents every field and runs, and
//! every worked example in `examples/scenarios/` runs and meets the expectation it states.

use sims::knobs::{Overrides, Setting};
use sims::scenario::{Arrivals, Clients, Dist, Event, Scenario, TEMPLATE};
use std::collections::BTreeSet;

/// Fields whose string values are choices a file spells (enum variants).
const CHOICES: [&str; 11] = [
    "kind",
    "event",
    "command",
    "retry",
    "outcome",
    "when_exhausted",
    "check_on_checkout",
    "check_how",
    "keepalive_scope",
    "reuse",
    "fairness",
];

/// Every object key, and every value of a choice field, of a JSON value.
fn words(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                match v {
                    serde_json::Value::String(s) if CHOICES.contains(&k.as_str()) => {
                        out.insert(s.clone());
                    }
                    _ => words(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| words(v, out)),
        _ => {}
    }
}

/// A scenario with every variant of every enum and every optional field set.
fn every_variant() -> Vec<Scenario> {
    let base = Scenario::from_toml(TEMPLATE).unwrap();
    let mut all = Vec::new();
    let dists = [
        Dist::Fixed { ms: 1 },
        Dist::Uniform {
            min_ms: 1,
            max_ms: 2,
        },
        Dist::Exponential { mean_ms: 1 },
    ];
    for d in dists {
        let mut s = base.clone();
        s.load.hold = d;
        s.load.clients = Clients::Closed { users: 1, think: d };
        all.push(s);
    }
    for a in [
        Arrivals::Constant { rate_per_sec: 1.0 },
        Arrivals::Poisson { rate_per_sec: 1.0 },
        Arrivals::Bursts {
            base_per_sec: 1.0,
            burst_per_sec: 2.0,
            burst_ms: 1,
            every_ms: 2,
        },
        Arrivals::Ramp {
            from_per_sec: 1.0,
            to_per_sec: 2.0,
            over_ms: 1,
        },
        Arrivals::At { at_ms: vec![0] },
    ] {
        let mut s = base.clone();
        s.load.clients = Clients::Open { arrivals: a };
        all.push(s);
    }
    let mut s = base.clone();
    s.server.requirepass = Some("x".into());
    s.tiers[0].retry = sims::scenario::Retry::OnceOnConnectionError;
    s.tiers[0].pool.overrides = Overrides {
        when_exhausted: Some(sims::knobs::Exhausted::FailFast),
        max_lifetime_ms: Some(Setting::Value(1)),
        ..Overrides::default()
    };
    s.timeline = vec![
        Event::IdleGap {
            at_ms: 1,
            duration_ms: 1,
        },
        Event::Load {
            at_ms: 1,
            users: Some(1),
            rate_factor: Some(1.0),
        },
        Event::Restart {
            at_ms: 1,
            down_ms: 1,
        },
        Event::KillAllClients { at_ms: 1 },
        Event::ConfigSet {
            at_ms: 1,
            name: "timeout".into(),
            value: "1".into(),
        },
        Event::RefuseConnections { at_ms: 1, on: true },
        Event::ReadOnly { at_ms: 1, on: true },
        Event::Latency {
            at_ms: 1,
            command_latency_ms: Some(1),
            connect_latency_ms: Some(1),
            duration_ms: Some(1),
        },
    ];
    s.expect = sims::scenario::Expectation::reproduces(
        "x",
        vec![sims::scenario::Check::between("requests", 0.0, 1.0)],
    );
    all.push(s);
    for inc in sims::incidents::ALL {
        all.extend(inc.scenarios(inc.default_seed));
    }
    all
}

#[test]
fn the_template_parses_and_names_every_field_and_every_choice() {
    let t = Scenario::from_toml(TEMPLATE).unwrap();
    assert_eq!(t.name, "my-deployment");
    let mut seen = BTreeSet::new();
    for s in every_variant() {
        words(&serde_json::to_value(&s).unwrap(), &mut seen);
    }
    // Knob names: every field of Overrides (the template sets them all).
    let knobs = serde_json::to_value(&t.tiers[1].pool.overrides).unwrap();
    assert!(knobs.as_object().unwrap().len() >= 22, "{knobs}");
    let documented = |w: &str| {
        [
            format!("{w} ="),
            format!("\"{w}\""),
            format!("[{w}]"),
            format!("[[{w}]]"),
            format!(".{w}]"),
        ]
        .iter()
        .any(|form| TEMPLATE.contains(form.as_str()))
    };
    let missing: Vec<&String> = seen.iter().filter(|w| !documented(w)).collect();
    assert!(
        missing.is_empty(),
        "fields or choices the template does not document: {missing:?}"
    );
}

#[test]
fn every_field_the_template_sets_is_commented_where_it_first_appears() {
    let mut seen = BTreeSet::new();
    for line in TEMPLATE.lines() {
        let l = line.trim_start_matches(['#', ' ']);
        let Some((key, _)) = l.split_once(" = ") else {
            continue;
        };
        if key.contains(' ') || key.starts_with('{') || !seen.insert(key.to_owned()) {
            continue;
        }
        // The first line that names a key says what it is: a comment after the value, or a
        // comment block just above (the inline tables: load.mix, hold, checks, arrivals).
        assert!(
            line.contains(" # ")
                || line.trim_start().starts_with('#')
                || ["mix", "hold", "arrivals", "checks", "kind", "signature"].contains(&key),
            "no comment where `{key}` first appears: {line}"
        );
    }
}

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios")
}

#[test]
fn every_worked_example_runs_and_meets_its_expectation() {
    let mut files: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let s = Scenario::from_toml(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_ne!(
            s.expect.outcome,
            sims::scenario::Outcome::Either,
            "{}: an example states what it shows",
            f.display()
        );
        let r = sims::run(&s).unwrap();
        assert!(
            r.met(),
            "{}: {} (replay: poolsim run {})",
            f.display(),
            r.report.verdict,
            f.display()
        );
    }
}
