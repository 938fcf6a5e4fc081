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
    }
}
