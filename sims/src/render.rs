//! The human output of a replay, as `poolsim replay` prints it, for a user's own test or tool:
//! the side-by-side table (one column per run), the verdict lines, and the compact text
//! timeline of one run. [`runs`] is all three, as the CLI prints an incident.
//!
//! ```no_run
//! let incident = sims::incidents::by_name("stale-eof").unwrap();
//! let scenarios = incident.scenarios(incident.default_seed);
//! let reports: Vec<sims::Report> =
//!     scenarios.iter().map(|s| sims::run(s).unwrap().report).collect();
//! let pairs: Vec<_> = scenarios.iter().zip(&reports).collect();
//! println!("{}", sims::render::runs(&pairs));
//! ```

use crate::report::fmt_num;
use crate::scenario::{Outcome, Scenario};
use crate::{Report, report::Sample};
use std::fmt::Write as _;

/// Columns of a text timeline.
pub const TIMELINE_COLUMNS: usize = 60;

/// Levels of a timeline cell, empty to full.
const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// What the run was expected to show, one word.
#[must_use]
pub fn expected(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Reproduces => "reproduce",
        Outcome::Holds => "hold",
        Outcome::Either => "either",
    }
}

/// A run's name split over at most two header lines (at the hyphen nearest the middle).
fn header_lines(name: &str) -> [String; 2] {
    if name.len() <= 14 {
        return [String::new(), name.to_owned()];
    }
    let mid = name.len() / 2;
    let cut = name
        .match_indices(['-', '@'])
        .map(|(i, _)| i)
        .min_by_key(|&i| i.abs_diff(mid));
    match cut {
        // Keep the hyphen at the end of the first line; '@' starts the second.
        Some(i) if name.as_bytes()[i] == b'-' => [name[..=i].to_owned(), name[i + 1..].to_owned()],
        Some(i) => [name[..i].to_owned(), name[i..].to_owned()],
        None => [String::new(), name.to_owned()],
    }
}

/// The table: one column per run (in the order given), one row per figure.
#[must_use]
pub fn table(runs: &[(&Scenario, &Report)]) -> String {
    type Cell = fn(&Scenario, &Report) -> String;
    let rows: [(&str, Cell); 19] = [
        ("expected", |s, _| expected(s.expect.outcome).to_owned()),
        ("requests", |_, r| r.requests.to_string()),
        ("succeeded", |_, r| r.succeeded.to_string()),
        ("errors: eof", |_, r| r.errors.eof.to_string()),
        ("  pool_timeout", |_, r| r.errors.pool_timeout.to_string()),
        ("  too_many_connections", |_, r| {
            r.errors.too_many_connections.to_string()
        }),
        ("  max_clients", |_, r| r.errors.max_clients.to_string()),
        ("  deadline_exceeded", |_, r| {
            r.errors.deadline_exceeded.to_string()
        }),
        ("  read_timeout", |_, r| r.errors.read_timeout.to_string()),
        ("  readonly", |_, r| r.errors.readonly.to_string()),
        ("  other", |_, r| r.errors.other.to_string()),
        ("latency p50 ms", |_, r| fmt_num(r.latency_ms.p50)),
        ("latency p99 ms", |_, r| fmt_num(r.latency_ms.p99)),
        ("latency max ms", |_, r| fmt_num(r.latency_ms.max)),
        ("pool wait p99 ms", |_, r| fmt_num(r.pool_wait_ms.p99)),
        ("peak pool connections", |_, r| {
            r.peak_pool_connections.to_string()
        }),
        ("peak server clients", |_, r| {
            r.peak_server_clients.to_string()
        }),
        ("rejected connections", |_, r| {
            r.rejected_connections.to_string()
        }),
        ("server ops/s", |_, r| fmt_num(r.server_ops_per_sec)),
    ];
    let label_w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let cells: Vec<Vec<String>> = runs
        .iter()
        .map(|(s, r)| rows.iter().map(|(_, f)| f(s, r)).collect())
        .collect();
    let headers: Vec<[String; 2]> = runs
        .iter()
        .map(|(_, r)| header_lines(&r.scenario))
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .zip(&cells)
        .map(|(h, c)| {
            h.iter()
                .map(String::len)
                .chain(c.iter().map(|v| v.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in 0..2 {
        if headers.iter().all(|h| h[line].is_empty()) {
            continue;
        }
        let _ = write!(out, "{:label_w$}", "");
        let mut l = String::new();
        for (h, w) in headers.iter().zip(&widths) {
            let _ = write!(l, "  {:>w$}", h[line]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    for (i, (label, _)) in rows.iter().enumerate() {
        let _ = write!(out, "{label:label_w$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {:>w$}", c[i]);
        }
        out.push('\n');
    }
    out
}

/// One timeline row: a value per column, and how to read it.
struct Row {
    label: &'static str,
    values: Vec<u64>,
    legend: String,
}

/// The samples cut into at most `columns` buckets of consecutive samples; with fewer samples
/// than columns, each sample is repeated so that the row is about `columns` wide.
fn buckets(samples: &[Sample], columns: usize) -> Vec<&[Sample]> {
    if samples.is_empty() {
        return Vec::new();
    }
    let per = samples.len().div_ceil(columns);
    let repeat = (columns / samples.len()).max(1);
    samples
        .chunks(per)
        .flat_map(|c| std::iter::repeat_n(c, repeat))
        .collect()
}

/// The compact timeline of one run: rows for pool connections, in use, waiters, server
/// clients (each the most seen in the column) and new errors (failed requests in the column),
/// each scaled to its own maximum; a row of markers for the scenario's timeline events; the
/// time axis.
#[must_use]
pub fn timeline(scenario: &Scenario, report: &Report) -> String {
    let samples = &report.timeline;
    let cols = buckets(samples, TIMELINE_COLUMNS);
    if cols.is_empty() {
        return "  (no samples)\n".to_owned();
    }
    let peak = |f: fn(&Sample) -> u64| -> Vec<u64> {
        cols.iter()
            .map(|c| c.iter().map(f).max().unwrap_or(0))
            .collect()
    };
    // New errors per bucket; a repeated bucket shows them once.
    let mut before = 0;
    let mut prev: Option<*const Sample> = None;
    let new_errors: Vec<u64> = cols
        .iter()
        .map(|c| {
            if prev == Some(c.as_ptr()) {
                return 0;
            }
            prev = Some(c.as_ptr());
            let last = c.last().map_or(before, |s| s.errors);
            let n = last.saturating_sub(before);
            before = last;
            n
        })
        .collect();
    let mut rows = vec![
        Row {
            label: "pool connections",
            values: peak(|s| s.pool_connections),
            legend: String::new(),
        },
        Row {
            label: "in use",
            values: peak(|s| s.in_use),
            legend: String::new(),
        },
        Row {
            label: "waiters",
            values: peak(|s| s.waiters),
            legend: String::new(),
        },
        Row {
            label: "server clients",
            values: peak(|s| s.server_clients),
            legend: String::new(),
        },
        Row {
            label: "errors",
            values: new_errors,
            legend: String::new(),
        },
    ];
    for r in &mut rows {
        let max = r.values.iter().copied().max().unwrap_or(0);
        r.legend = if r.label == "errors" {
            format!("max {max} in a column, {} in all", before)
        } else {
            format!("max {max}")
        };
    }
    let t0 = samples[0].t_ms;
    let t_end = samples.last().map_or(t0, |s| s.t_ms);
    let ms_per_col = (t_end - t0).max(1) / cols.len() as u64;
    let mut out = String::new();
    for r in &rows {
        let max = r.values.iter().copied().max().unwrap_or(0);
        let cells: String = r.values.iter().map(|&v| level(v, max)).collect();
        let _ = writeln!(
            out,
            "  {:<16} |{cells:<w$}| {}",
            r.label,
            r.legend,
            w = cols.len()
        );
    }
    // Markers: the column each timeline event falls in.
    let mut marks = vec![' '; cols.len()];
    let mut labels = Vec::new();
    for (k, e) in scenario.timeline.iter().enumerate() {
        let col = cols
            .iter()
            .position(|c| c.last().is_some_and(|s| s.t_ms >= e.at_ms()))
            .unwrap_or(cols.len() - 1);
        let mark = char::from_digit(k as u32 + 1, 36).unwrap_or('^');
        marks[col] = mark;
        labels.push(format!(
            "{mark} {} at {} s",
            e.label(),
            fmt_num(e.at_ms() as f64 / 1000.0)
        ));
    }
    if !labels.is_empty() {
        let m: String = marks.into_iter().collect();
        let _ = writeln!(out, "  {:<16} |{m}| {}", "events", labels.join(", "));
    }
    let start = format!("{} s", fmt_num(t0 as f64 / 1000.0));
    let end = format!("{} s", fmt_num(t_end as f64 / 1000.0));
    let gap = cols.len().saturating_sub(start.len() + end.len()).max(1);
    let _ = writeln!(
        out,
        "  {:<16}  {start}{:gap$}{end}  ({} per column)",
        "time",
        "",
        secs(ms_per_col)
    );
    out
}

fn secs(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{} s", fmt_num(ms as f64 / 1000.0))
    }
}

/// The level character of `v` on a scale of 0..=max: blank only for 0.
fn level(v: u64, max: u64) -> char {
    if v == 0 || max == 0 {
        return LEVELS[0];
    }
    let top = (LEVELS.len() - 1) as u64;
    let k = (v * top).div_ceil(max).clamp(1, top);
    LEVELS[k as usize]
}

/// One line per run: `ok` or `FAIL`, its name and its verdict, then any violation.
#[must_use]
pub fn verdicts(runs: &[(&Scenario, &Report)]) -> String {
    let name_w = runs
        .iter()
        .map(|(_, rep)| rep.scenario.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (_, rep) in runs {
        let mark = if rep.expectation_met { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "{mark} {:name_w$}  {}", rep.scenario, rep.verdict);
        for v in &rep.invariant_violations {
            let _ = writeln!(out, "     {v}");
        }
    }
    out
}

/// The table, the verdict lines and every run's timeline, as `poolsim replay` prints an
/// incident (without its header and its replay line).
#[must_use]
pub fn runs(runs: &[(&Scenario, &Report)]) -> String {
    let mut out = table(runs);
    out.push('\n');
    out.push_str(&verdicts(runs));
    for (s, rep) in runs {
        let _ = write!(
            out,
            "\n{} ({}; pool {})\n",
            rep.scenario,
            expected(s.expect.outcome),
            rep.profile
        );
        out.push_str(&timeline(s, rep));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_blank_only_for_zero_and_full_at_the_max() {
        assert_eq!(level(0, 10), ' ');
        assert_eq!(level(1, 1000), '▁');
        assert_eq!(level(10, 10), '█');
        assert_eq!(level(5, 10), '▄');
    }

    use crate::report::{Errors, Latency, Violation, Wait};
    use crate::scenario::Event;

    /// A report whose every figure differs from every other, so that a row showing the
    /// wrong field, or a column the wrong run, shows up in the text.
    fn report(name: &str, base: u64, samples: Vec<Sample>) -> Report {
        Report {
            scenario: name.into(),
            profile: format!("profile-{base}"),
            seed: 1,
            requests: base + 1,
            succeeded: base + 2,
            errors: Errors {
                eof: base + 3,
                pool_timeout: base + 4,
                too_many_connections: base + 5,
                max_clients: base + 6,
                deadline_exceeded: base + 7,
                read_timeout: base + 8,
                readonly: base + 9,
                other: base + 10,
            },
            latency_ms: Latency {
                p50: base as f64 + 0.5,
                p90: 99.0,
                p99: base as f64 + 11.25,
                max: base as f64 + 12.0,
            },
            pool_wait_ms: Wait {
                p50: 98.0,
                p99: base as f64 + 13.5,
                max: 97.0,
            },
            waited_fraction: 0.5,
            peak_pool_connections: base + 14,
            peak_server_clients: base + 15,
            rejected_connections: base + 16,
            server_ops_per_sec: base as f64 + 17.0,
            invariant_violations: vec![],
            expectation_met: true,
            verdict: format!("verdict of {name}"),
            timeline: samples,
            trace_hash: String::new(),
            findings: vec![],
        }
    }

    fn sample(t_ms: u64, v: u64, errors: u64) -> Sample {
        Sample {
            t_ms,
            pool_connections: v,
            in_use: v / 2,
            waiters: v % 3,
            server_clients: v + 1,
            errors,
        }
    }

    fn scenario(outcome: Outcome, timeline: Vec<Event>) -> Scenario {
        let inc = crate::incidents::by_name("stale-eof").unwrap();
        let mut s = inc.scenarios(inc.default_seed).remove(0);
        s.expect.outcome = outcome;
        s.timeline = timeline;
        s
    }

    /// The whole text of two runs, pinned: the table's every row and column, the verdicts
    /// (a failed one with its violation), and both timelines (one with fewer samples than
    /// columns, repeated; one with more, bucketed; markers for the timeline's events; new
    /// errors per column, once per repeated bucket; the time axis).
    #[test]
    fn two_runs_render_as_pinned() {
        let few: Vec<Sample> = (0..4)
            .map(|i| sample(i * 500, [0, 3, 8, 2][i as usize], i))
            .collect();
        let many: Vec<Sample> = (0..130).map(|i| sample(i * 1000, i % 9, i / 20)).collect();
        let a = scenario(
            Outcome::Reproduces,
            vec![Event::KillAllClients { at_ms: 1000 }],
        );
        let b = scenario(
            Outcome::Holds,
            vec![
                Event::Restart {
                    at_ms: 0,
                    down_ms: 10,
                },
                Event::Stall {
                    at_ms: 64_000,
                    duration_ms: 2000,
                },
            ],
        );
        let ra = report("short", 0, few);
        let mut rb = report("keepalive-every-idle", 100, many);
        rb.expectation_met = false;
        rb.invariant_violations = vec![Violation {
            invariant: "server.maxclients".into(),
            detail: "too many".into(),
            step: 7,
            t_ms: 8,
            seed: 9,
            replay: "poolsim run x".into(),
        }];
        let text = runs(&[(&a, &ra), (&b, &rb)]);
        let want = r#"                                   keepalive-
                            short  every-idle
expected                reproduce        hold
requests                        1         101
succeeded                       2         102
errors: eof                     3         103
  pool_timeout                  4         104
  too_many_connections          5         105
  max_clients                   6         106
  deadline_exceeded             7         107
  read_timeout                  8         108
  readonly                      9         109
  other                        10         110
latency p50 ms                0.5       100.5
latency p99 ms               11.2       111.2
latency max ms                 12         112
pool wait p99 ms             13.5       113.5
peak pool connections          14         114
peak server clients            15         115
rejected connections           16         116
server ops/s                   17         117

ok   short                 verdict of short
FAIL keepalive-every-idle  verdict of keepalive-every-idle
     invariant server.maxclients violated at step 7 (t = 8 ms, seed 9): too many; replay: poolsim run x

short (reproduce; pool profile-0)
  pool connections |               ▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃███████████████▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂| max 8
  in use           |               ▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂███████████████▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂| max 4
  waiters          |                              ██████████████████████████████| max 2
  server clients   |▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄███████████████▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃| max 9
  errors           |               █              █              █              | max 1 in a column, 3 in all
  events           |                              1                             | 1 kill all clients at 1 s
  time              0 s                                                    1.5 s  (25 ms per column)

keepalive-every-idle (hold; pool profile-100)
  pool connections |▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▅█▂▃| max 8
  in use           |▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▄█▂▂| max 4
  waiters          |███████████████████████████████████████████ | max 2
  server clients   |▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▆█▃▄| max 9
  errors           |      █      █      █     █      █      █   | max 1 in a column, 6 in all
  events           |1                    2                      | 1 restart at 0 s, 2 stall 2 s at 64 s
  time              0 s                                    129 s  (2.9 s per column)
"#;
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn timelines_of_edge_cases() {
        let s = scenario(Outcome::Either, vec![]);
        assert_eq!(timeline(&s, &report("x", 0, vec![])), "  (no samples)\n");
        assert_eq!(expected(Outcome::Either), "either");
        assert_eq!(secs(999), "999 ms");
        assert_eq!(secs(1000), "1 s");
        assert_eq!(secs(1500), "1.5 s");
        // A level rounds up: the smallest nonzero value is never blank, and the max is full.
        assert_eq!(level(1, 8), '▁');
        assert_eq!(level(2, 8), '▂');
        assert_eq!(level(7, 8), '▇');
        assert_eq!(level(3, 0), ' ');
        // Fewer samples than columns: each repeated to about the width; more: chunked.
        let few: Vec<Sample> = (0..7).map(|i| sample(i, 0, 0)).collect();
        assert_eq!(buckets(&few, 60).len(), 56);
        let many: Vec<Sample> = (0..121).map(|i| sample(i, 0, 0)).collect();
        let b = buckets(&many, 60);
        assert_eq!(b.len(), 41);
        assert!(b.iter().all(|c| c.len() == 3 || c.len() == 1));
        assert_eq!(buckets(&many[..60], 60).len(), 60);
        // Samples that start late (the axis and each column's span count from the first),
        // and an event after the last sample (marked in the last column).
        let late: Vec<Sample> = (10..14).map(|i| sample(i * 1000, 1, 0)).collect();
        let s = scenario(
            Outcome::Either,
            vec![Event::KillAllClients { at_ms: 20_000 }],
        );
        let text = timeline(&s, &report("late", 0, late));
        let events = text.lines().find(|l| l.contains("events")).unwrap();
        assert!(events.ends_with("1| 1 kill all clients at 20 s"), "{text}");
        assert!(text.contains("  10 s"), "{text}");
        assert!(text.ends_with("13 s  (50 ms per column)\n"), "{text}");
    }

    #[test]
    fn long_names_break_at_a_hyphen() {
        assert_eq!(
            header_lines("keepalive-every-idle"),
            ["keepalive-".to_owned(), "every-idle".to_owned()]
        );
        assert_eq!(
            header_lines("radix-v2"),
            [String::new(), "radix-v2".to_owned()]
        );
        // Exactly 14 characters stay on one line; '@' starts the second line.
        assert_eq!(
            header_lines("abcdefg-ijklmn"),
            [String::new(), "abcdefg-ijklmn".to_owned()]
        );
        assert_eq!(
            header_lines("abcdefghij@klmnopqrst"),
            ["abcdefghij".to_owned(), "@klmnopqrst".to_owned()]
        );
        assert_eq!(
            header_lines("abcdefghijklmnopq"),
            [String::new(), "abcdefghijklmnopq".to_owned()]
        );
        // The hyphen nearest the middle, not the first one.
        assert_eq!(
            header_lines("a-bcdefgh-ijklmnopq"),
            ["a-bcdefgh-".to_owned(), "ijklmnopq".to_owned()]
        );
    }
}
