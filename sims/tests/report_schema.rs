//! The report's field names are a contract (the CLI's JSON schema): pinned here as issue #8
//! spells them.

use serde_json::Value;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn report_field_names_are_the_contract() {
    let s = sims::incidents::by_name("cascade")
        .unwrap()
        .scenarios(2)
        .remove(1);
    let report = sims::run(&s).unwrap().report;
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "scenario",
            "profile",
            "seed",
            "requests",
            "succeeded",
            "errors",
            "latency_ms",
            "pool_wait_ms",
            "waited_fraction",
            "peak_pool_connections",
            "peak_server_clients",
            "rejected_connections",
            "server_ops_per_sec",
            "invariant_violations",
            "expectation_met",
            "verdict",
            "timeline",
            "trace_hash",
        ])
    );
    assert_eq!(
        keys(&v["errors"]),
        sorted(&[
            "eof",
            "pool_timeout",
            "too_many_connections",
            "max_clients",
            "deadline_exceeded",
            "read_timeout",
            "readonly",
            "other"
        ])
    );
    assert_eq!(
        keys(&v["latency_ms"]),
        sorted(&["p50", "p90", "p99", "max"])
    );
    assert_eq!(keys(&v["pool_wait_ms"]), sorted(&["p50", "p99", "max"]));
    assert_eq!(
        keys(&v["timeline"][0]),
        sorted(&[
            "t_ms",
            "pool_connections",
            "in_use",
            "waiters",
            "server_clients",
            "errors"
        ])
    );
    assert!(v["invariant_violations"].as_array().unwrap().is_empty());
    let violation = serde_json::to_value(sims::report::Violation {
        invariant: String::new(),
        detail: String::new(),
        step: 0,
        t_ms: 0,
        seed: 0,
        replay: String::new(),
    })
    .unwrap();
    assert_eq!(
        keys(&violation),
        sorted(&["invariant", "detail", "step", "t_ms", "seed", "replay"])
    );
    assert_eq!(v["trace_hash"].as_str().unwrap().len(), 16);
}
