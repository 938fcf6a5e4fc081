//! Every value of every client profile, pinned against `docs/profiles.md`'s "Client profile ×
//! value" table, and the overrides a scenario file would write.
//!
//! As `crates/pool-core/tests/profile_table.rs` does for pools, the expected values are *read
//! from the doc*: each cell is interpreted (`5 s`, `–` for none, `yes`/`no`, the serde words of
//! `sims::client`), a whole `ClientBehaviour` is built from the row, and it must equal
//! `ClientProfile::behaviour()` field for field. A value changed in `client.rs` without the
//! table (or the table without the code) fails here, naming the profile. The doc must also
//! give every profile a source paragraph that names every field.

use serde::de::DeserializeOwned;
use sims::client::{
    ClientBehaviour, ClientError, ClientOverrides, ClientProfile, ClientSpec, Discovery,
    ErrorClass, Jitter, OnAddressChange, OnReadonly, OnTimeout, RetryPolicy,
};
use std::collections::BTreeSet;

const PROFILES_MD: &str = include_str!("../../docs/profiles.md");

/// The columns of the table, which are the fields of `ClientBehaviour` (retry's as `retry.*`).
const FIELDS: [&str; 13] = [
    "read_timeout_ms",
    "connect_timeout_ms",
    "on_timeout",
    "on_readonly",
    "retry.attempts",
    "retry.backoff_base_ms",
    "retry.backoff_cap_ms",
    "retry.jitter",
    "retry.on",
    "discovery",
    "retry_reconnects_to_old_address",
    "on_address_change",
    "address_change_leaks_slots",
];

/// The text of the `## Client profiles` section.
fn client_section() -> &'static str {
    let section = PROFILES_MD
        .split("\n## Client profiles")
        .nth(1)
        .expect("docs/profiles.md has a '## Client profiles' section");
    section.split("\n## ").next().unwrap_or(section)
}

/// The header and rows of the first table after `### Client profile × value`, cells trimmed.
fn value_table() -> (Vec<String>, Vec<Vec<String>>) {
    let section = client_section()
        .split("### Client profile × value")
        .nth(1)
        .expect("a '### Client profile × value' table");
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("a header row"));
    let _separator = lines.next();
    let rows = lines.map(cells).collect();
    (header, rows)
}

/// The cell without a trailing remark in parentheses: `yes (#3874)` → `yes`.
fn value(cell: &str) -> &str {
    cell.split(" (").next().unwrap_or(cell).trim()
}

fn is_none(cell: &str) -> bool {
    matches!(value(cell), "–" | "-")
}

/// `500 ms`, `5 s`, `0` → milliseconds.
fn ms(cell: &str) -> u64 {
    let v = value(cell);
    let mut words = v.split_whitespace();
    let n: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in duration '{cell}'"));
    match words.next() {
        None if n == 0 => 0,
        Some("ms") => n,
        Some("s") => n * 1_000,
        other => panic!("unknown unit {other:?} in duration '{cell}'"),
    }
}

fn opt_ms(cell: &str) -> Option<u64> {
    (!is_none(cell)).then(|| ms(cell))
}

/// A serde word of `sims::client` (`close`, `follow_switch_master`).
fn word<T: DeserializeOwned>(cell: &str) -> T {
    let v = value(cell);
    serde_json::from_value(serde_json::Value::String(v.to_owned()))
        .unwrap_or_else(|e| panic!("'{v}' is not a word of its column: {e}"))
}

fn yes_no(cell: &str) -> bool {
    match value(cell) {
        "yes" => true,
        "no" => false,
        other => panic!("'{other}' is neither yes nor no"),
    }
}

fn classes(cell: &str) -> BTreeSet<ErrorClass> {
    if is_none(cell) {
        return BTreeSet::new();
    }
    value(cell).split(", ").map(word).collect()
}

/// The behaviour a row of the table describes.
fn behaviour_from_row(header: &[String], row: &[String]) -> ClientBehaviour {
    let cell = |name: &str| -> &str {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column '{name}' in {header:?}"));
        &row[i]
    };
    ClientBehaviour {
        read_timeout_ms: opt_ms(cell("read_timeout_ms")),
        connect_timeout_ms: opt_ms(cell("connect_timeout_ms")),
        on_timeout: word(cell("on_timeout")),
        on_readonly: word(cell("on_readonly")),
        retry: RetryPolicy {
            attempts: value(cell("retry.attempts"))
                .parse()
                .unwrap_or_else(|_| panic!("retry.attempts '{}'", cell("retry.attempts"))),
            backoff_base_ms: ms(cell("retry.backoff_base_ms")),
            backoff_cap_ms: ms(cell("retry.backoff_cap_ms")),
            jitter: word(cell("retry.jitter")),
            on: classes(cell("retry.on")),
        },
        discovery: word(cell("discovery")),
        retry_reconnects_to_old_address: yes_no(cell("retry_reconnects_to_old_address")),
        on_address_change: word(cell("on_address_change")),
        address_change_leaks_slots: yes_no(cell("address_change_leaks_slots")),
    }
}

#[test]
fn every_client_profile_has_exactly_one_row_in_the_value_table() {
    let (header, rows) = value_table();
    let columns: Vec<&str> = header.iter().skip(1).map(String::as_str).collect();
    assert_eq!(columns, FIELDS, "columns of the client table");
    let names: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    let expected: Vec<&str> = ClientProfile::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(
        names, expected,
        "rows of docs/profiles.md vs ClientProfile::ALL"
    );
}

#[test]
fn every_value_of_every_client_profile_matches_the_docs_table() {
    let (header, rows) = value_table();
    let mut wrong = Vec::new();
    for row in &rows {
        let name = row[0].trim_matches('`');
        let profile = ClientProfile::by_name(name).expect("a known client profile");
        let documented = behaviour_from_row(&header, row);
        let actual = profile.behaviour();
        if documented != actual {
            wrong.push(format!(
                "{name}:\n  docs/profiles.md says {documented:?}\n  client.rs has        {actual:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_client_profile_has_a_source_paragraph_naming_every_field() {
    let section = client_section();
    for p in ClientProfile::ALL {
        let heading = format!("#### `{}`\n", p.name());
        let body = section
            .split(heading.as_str())
            .nth(1)
            .unwrap_or_else(|| panic!("docs/profiles.md has no '{}' paragraph", heading.trim()));
        let body = body.split("\n### ").next().unwrap_or(body);
        let body = body.split("\n#### ").next().unwrap_or(body);
        let missing: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| !body.contains(&format!("`{f}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "the source paragraph of {p} does not name {missing:?}"
        );
        // `source()` (what `poolsim list` prints) names the library and the versions the
        // paragraph was read at.
        let source = p.source();
        let versions: Vec<&str> = source
            .split([' ', ',', ';', '(', ')'])
            .filter(|w| w.contains('.') && w.chars().any(|c| c.is_ascii_digit()))
            .filter(|w| {
                w.trim_start_matches('v')
                    .starts_with(|c: char| c.is_ascii_digit())
            })
            .collect();
        let library = source.split(' ').next().unwrap_or_default();
        assert!(
            !versions.is_empty() && p.name().starts_with(library.trim_end_matches("-redis")),
            "{p}'s source line names no library and version: {source:?}"
        );
        for v in versions {
            assert!(
                body.contains(v.trim_start_matches('v')),
                "{p}'s source line names {v}, which its paragraph does not"
            );
        }
    }
}

#[test]
fn every_client_profile_validates() {
    for p in ClientProfile::ALL {
        p.behaviour()
            .validate()
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(ClientSpec::profile(p.name()).behaviour(), Ok(p.behaviour()));
    }
}

#[test]
fn overrides_change_exactly_the_values_named_and_round_trip_through_toml() {
    let text = r#"
        profile = "redis-py-7"
        overrides = { read_timeout_ms = 500, retry = { attempts = 0, on = ["timeout"] } }
    "#;
    let spec: ClientSpec = toml::from_str(text).expect("a client spec");
    let b = spec.behaviour().expect("valid");
    let base = ClientProfile::RedisPy7.behaviour();
    assert_eq!(b.read_timeout_ms, Some(500));
    assert_eq!(b.retry.attempts, 0);
    assert_eq!(b.retry.on, BTreeSet::from([ErrorClass::Timeout]));
    assert_eq!(b.retry.backoff_base_ms, base.retry.backoff_base_ms);
    assert_eq!(b.connect_timeout_ms, base.connect_timeout_ms);
    assert_eq!(b.discovery, base.discovery);
    assert_eq!(
        spec.label(),
        "redis-py-7 (read_timeout_ms=500, retry.attempts=0, retry.on=[\"timeout\"])"
    );

    let again: ClientSpec = toml::from_str(&toml::to_string(&spec).unwrap()).unwrap();
    assert_eq!(again, spec);
    let json: ClientSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(json, spec);

    // A resolved behaviour round-trips too, every profile.
    for p in ClientProfile::ALL {
        let b = p.behaviour();
        let back: ClientBehaviour = toml::from_str(&toml::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b, "{p}");
    }
}

#[test]
fn off_switches_a_timeout_off_and_every_field_can_be_overridden() {
    let o: ClientOverrides = toml::from_str(
        r#"
        read_timeout_ms = "off"
        connect_timeout_ms = 250
        on_timeout = "keep"
        on_readonly = "disconnect"
        retry = { attempts = 2, backoff_base_ms = 5, backoff_cap_ms = 50, jitter = "equal", on = ["connection", "readonly"] }
        discovery = "follow_switch_master"
        retry_reconnects_to_old_address = true
        on_address_change = "drop_idle"
        address_change_leaks_slots = true
        "#,
    )
    .expect("every field");
    let b = o.apply(ClientProfile::GoRedisV9.behaviour());
    b.validate().expect("valid");
    assert_eq!(b.read_timeout_ms, None);
    assert_eq!(b.connect_timeout_ms, Some(250));
    assert_eq!(b.on_timeout, OnTimeout::Keep);
    assert_eq!(b.on_readonly, OnReadonly::Disconnect);
    assert_eq!(b.discovery, Discovery::FollowSwitchMaster);
    assert_eq!(b.retry.jitter, Jitter::Equal);
    assert_eq!(b.on_address_change, OnAddressChange::DropIdle);
    assert!(b.retry_reconnects_to_old_address && b.address_change_leaks_slots);
    assert_eq!((b.retry.attempts, b.retry.backoff_cap_ms), (2, 50));
    let back: ClientOverrides = toml::from_str(&toml::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
}

/// The field an error names, or a panic saying what came instead.
fn field_of(spec: &str) -> String {
    let spec: ClientSpec = toml::from_str(spec).expect("parses");
    match spec.behaviour() {
        Err(ClientError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn bad_values_name_the_field() {
    let cases = [
        (
            r#"profile = "go-redis-v9"
               overrides = { read_timeout_ms = 0 }"#,
            "read_timeout_ms",
        ),
        (
            r#"profile = "go-redis-v9"
               overrides = { connect_timeout_ms = 0 }"#,
            "connect_timeout_ms",
        ),
        (
            r#"profile = "redis-py-8"
               overrides = { retry = { backoff_base_ms = 100, backoff_cap_ms = 50 } }"#,
            "retry.backoff_cap_ms",
        ),
        (
            r#"profile = "redis-py-5"
               overrides = { retry = { backoff_cap_ms = 50 } }"#,
            "retry.backoff_cap_ms",
        ),
        (
            r#"profile = "redis-py-8"
               overrides = { retry = { attempts = 1001 } }"#,
            "retry.attempts",
        ),
        (
            r#"profile = "bb8-redis"
               overrides = { on_address_change = "drop_all" }"#,
            "on_address_change",
        ),
        (
            r#"profile = "redis-py-7-sentinel"
               overrides = { discovery = "fixed", on_address_change = "none" }"#,
            "retry_reconnects_to_old_address",
        ),
        (
            r#"profile = "go-redis-v9-failover"
               overrides = { address_change_leaks_slots = true }"#,
            "address_change_leaks_slots",
        ),
    ];
    for (spec, field) in cases {
        assert_eq!(field_of(spec), field, "{spec}");
    }
    // The limits themselves are valid.
    let spec: ClientSpec = toml::from_str(
        r#"profile = "redis-py-8"
           overrides = { retry = { attempts = 1000, backoff_base_ms = 50, backoff_cap_ms = 50 } }"#,
    )
    .unwrap();
    assert_eq!(spec.behaviour().unwrap().retry.attempts, 1_000);

    let err = ClientSpec::profile("redis-py-6").behaviour().unwrap_err();
    assert!(
        matches!(&err, ClientError::UnknownProfile { name, .. } if name == "redis-py-6"),
        "{err}"
    );
    assert!(err.to_string().contains("redis-py-7"), "{err}");

    // serde names a misspelt field, a misspelt word and a negative timeout.
    for (text, says) in [
        (
            "profile = \"go-redis-v9\"\noverrides = { read_timout_ms = 3 }",
            "read_timout_ms",
        ),
        (
            "profile = \"go-redis-v9\"\noverrides = { on_timeout = \"drop\" }",
            "drop",
        ),
        (
            "profile = \"go-redis-v9\"\noverrides = { read_timeout_ms = -1 }",
            "negative",
        ),
        (
            "profile = \"go-redis-v9\"\noverrides = { retry = { tries = 3 } }",
            "tries",
        ),
    ] {
        let err = toml::from_str::<ClientSpec>(text).unwrap_err().to_string();
        assert!(err.contains(says), "{text}: {err}");
    }
}
