//! Every knob of every profile, pinned against `docs/profiles.md`'s "Profile × knob" table.
//!
//! The expected configurations are *read from the doc*, not repeated from `profile.rs`: each
//! cell of the table is interpreted (`"wait 6 s (`PoolTimeout`)"` is a 6 s pool timeout,
//! `"always, peek"` a peek on every checkout, `"–"` the knob off, as in `Config::bare()`), a
//! whole `Config` is built from the row, and it must equal `Profile::config()` field for
//! field. A knob changed in `profile.rs` without the table (or the table without the code)
//! fails here, naming the profile and the field. The table's sources are in its second half
//! and in `../shared/POOL-FACTS.md`.

use pool_core::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, Config, Fairness, Profile, Reuse, WhenExhausted,
};
use std::time::Duration;

const PROFILES_MD: &str = include_str!("../../../docs/profiles.md");

/// The header and rows of the first table after `## Profile × knob`, cells trimmed.
fn knob_table() -> (Vec<String>, Vec<Vec<String>>) {
    let section = PROFILES_MD
        .split("## Profile × knob")
        .nth(1)
        .expect("docs/profiles.md has a '## Profile × knob' section");
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

/// "–" (or "-"), possibly followed by a remark in parentheses: the knob is off.
fn is_off(cell: &str) -> bool {
    cell.starts_with('–') || cell == "-"
}

/// "500 ms", "6 s", "30 min" at the start of `s`.
fn duration(s: &str) -> Duration {
    let mut words = s.split_whitespace();
    let n: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in duration '{s}'"));
    match words.next() {
        Some("ms") => Duration::from_millis(n),
        Some("s") => Duration::from_secs(n),
        Some("min") => Duration::from_secs(60 * n),
        other => panic!("unknown unit {other:?} in duration '{s}'"),
    }
}

/// The leading integer of a cell such as "20 (10 × GOMAXPROCS 2)".
fn count(cell: &str) -> u32 {
    cell.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in '{cell}'"))
}

fn opt_count(cell: &str) -> Option<u32> {
    (!is_off(cell) && cell != "unbounded").then(|| count(cell))
}

fn when_exhausted(cell: &str) -> WhenExhausted {
    if cell.starts_with("fail fast") {
        WhenExhausted::FailFast
    } else if cell == "wait forever" {
        WhenExhausted::Wait { timeout: None }
    } else if let Some(rest) = cell.strip_prefix("wait ") {
        WhenExhausted::Wait {
            timeout: Some(duration(rest)),
        }
    } else {
        panic!("unknown 'when exhausted' cell '{cell}'")
    }
}

/// "30 min − up to 45 s jitter" → (30 min, Some(45 s)); "30 min" → (30 min, None).
fn lifetime(cell: &str) -> (Option<Duration>, Option<Duration>) {
    if is_off(cell) {
        return (None, None);
    }
    match cell.split_once(" − up to ") {
        Some((life, jitter)) => (Some(duration(life)), Some(duration(jitter))),
        None => (Some(duration(cell)), None),
    }
}

fn check_on_checkout(cell: &str) -> CheckOnCheckout {
    let how = |s: &str| {
        if s.starts_with("peek") {
            CheckHow::Peek
        } else if s.starts_with("ping") {
            CheckHow::Ping
        } else {
            panic!("unknown check '{s}' in '{cell}'")
        }
    };
    if cell == "never" {
        return Config::bare().check_on_checkout;
    }
    let (when, rest) = cell
        .split_once(", ")
        .unwrap_or_else(|| panic!("check cell '{cell}' is not 'when, how'"));
    let when = if when == "always" {
        CheckWhen::Always
    } else if let Some(d) = when.strip_prefix("if idle ≥ ") {
        CheckWhen::IfIdleFor(duration(d))
    } else {
        panic!("unknown check timing '{when}' in '{cell}'")
    };
    CheckOnCheckout {
        when,
        how: how(rest),
    }
}

/// "4 at a time, timeout 1 s, back-off 10 ms → 1 s" → (Some(4), Some(1 s), Some(10 ms..1 s)).
fn connects(cell: &str) -> (Option<u32>, Option<Duration>, Option<Backoff>) {
    let (mut at_once, mut timeout, mut backoff) = (None, None, None);
    if is_off(cell) {
        return (at_once, timeout, backoff);
    }
    for part in cell.split(", ") {
        if let Some(n) = part.strip_suffix(" at a time") {
            at_once = Some(count(n));
        } else if let Some(t) = part.strip_prefix("timeout ") {
            timeout = Some(duration(t));
        } else if let Some(b) = part.strip_prefix("back-off ") {
            let (initial, max) = b
                .split_once(" → ")
                .unwrap_or_else(|| panic!("back-off '{b}' is not 'initial → max'"));
            backoff = Some(Backoff {
                initial: duration(initial),
                max: duration(max),
            });
        } else {
            panic!("unknown connects part '{part}' in '{cell}'")
        }
    }
    (at_once, timeout, backoff)
}

fn reuse(cell: &str) -> Reuse {
    match cell {
        "LIFO" => Reuse::Lifo,
        "FIFO" => Reuse::Fifo,
        _ => panic!("unknown reuse '{cell}'"),
    }
}

fn fairness(cell: &str) -> Fairness {
    match cell {
        "barging" => Fairness::Barging,
        "strict FIFO" => Fairness::StrictFifo,
        // No waiters (fail-fast pools): the knob is off, as in `Config::bare()`.
        c if is_off(c) => Config::bare().fairness,
        _ => panic!("unknown waiters cell '{cell}'"),
    }
}

fn yes_no(cell: &str) -> bool {
    match cell {
        c if c.starts_with("yes") => true,
        "no" => false,
        _ => panic!("deadlines cell '{cell}' is neither yes nor no"),
    }
}

/// The configuration a row of the table describes.
fn config_from_row(header: &[String], row: &[String]) -> Config {
    let cell = |name: &str| -> &str {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column '{name}' in {header:?}"));
        &row[i]
    };
    let (max_lifetime, lifetime_jitter) = lifetime(cell("max_lifetime"));
    let (max_concurrent_connects, connect_timeout, connect_backoff) = connects(cell("connects"));
    let keepalive = cell("keepalive");
    assert!(
        is_off(keepalive),
        "no profile in the table has a keepalive ('{keepalive}'); teach this test to read one"
    );
    Config {
        max_size: opt_count(cell("max_size")),
        min_idle: count(cell("min_idle")),
        max_idle: opt_count(cell("max_idle")),
        when_exhausted: when_exhausted(cell("when exhausted")),
        idle_timeout: (!is_off(cell("idle_timeout"))).then(|| duration(cell("idle_timeout"))),
        max_lifetime,
        lifetime_jitter,
        // "`seed` (jitter) is 0 everywhere."
        seed: 0,
        check_on_checkout: check_on_checkout(cell("check on checkout")),
        keepalive: None,
        max_concurrent_connects,
        connect_timeout,
        connect_backoff,
        reuse: reuse(cell("reuse")),
        fairness: fairness(cell("waiters")),
        honour_deadlines: yes_no(cell("deadlines")),
        max_waiters: opt_count(cell("max_waiters")),
    }
}

#[test]
fn every_profile_has_exactly_one_row_in_the_knob_table() {
    let (_, rows) = knob_table();
    let names: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    let expected: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(names, expected, "rows of docs/profiles.md vs Profile::ALL");
}

#[test]
fn every_knob_of_every_profile_matches_the_docs_table() {
    let (header, rows) = knob_table();
    assert_eq!(header.len(), 14, "columns of the knob table: {header:?}");
    let mut wrong = Vec::new();
    for row in &rows {
        let name = row[0].trim_matches('`');
        let profile = Profile::by_name(name).expect("a known profile");
        let documented = config_from_row(&header, row);
        let actual = profile.config();
        if documented != actual {
            wrong.push(format!(
                "{name}:\n  docs/profiles.md says {documented:?}\n  profile.rs has       {actual:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
