//! An independent oracle: the report's figures re-derived from the JSON-lines trace alone.
//!
//! The runner computes a [`Report`] from its own books (counters and histograms fed by the
//! request tasks, pool snapshots read between steps). [`derive()`] recomputes the same figures
//! from the trace's events, with its own code: two computations from different data, so a
//! bug in either (a lost count, a percentile read at the wrong rank, an error kind lost on
//! the way up the tiers) shows up as a disagreement ([`disagreements`]).
//!
//! What is re-derived, and from which events (`docs/replaying.md` lists their fields):
//!
//! | figure | events |
//! |---|---|
//! | `requests` | `request.start` |
//! | `succeeded`, `errors.*` | `request.end`'s `outcome` |
//! | `latency_ms.*` | `request.end`'s time minus its `request.start`'s time, per request |
//! | `pool_wait_ms.*`, `waited_fraction` | `wait_us` of `request.conn`, `request.pool_error` and a `request.retry` after a failed checkout (one per checkout) |
//! | `peak_pool_connections` | running count of `pool.connect` minus `pool.close` and `pool.connect_failed`, at the end of each step (see below) |
//! | `peak_server_clients` | running count of `server.accept` minus `server.close`, at the end of each step |
//! | `rejected_connections` | `server.reject` (the server's side), and as many `pool.connect_failed` with Redis's `max number of clients reached` (the clients' side) |
//! | the `retries` metric | `request.retry` |
//!
//! Percentiles are nearest-rank (the `ceil(q * n)`-th smallest value, at least the first),
//! reported as hdrhistogram reports them: the top of the value's bucket at 3 significant
//! digits ([`bucket_top_us`], at most 0.1% above the value; exact below 2.048 ms). The
//! maximum is the largest value, rounded up the same way.
//!
//! Not re-derived: `server_ops_per_sec`. The trace has no event per server command (one would
//! multiply its size), and the server's commands include pool checks, AUTH and commands of
//! connections that failed, which the request events do not show.
//!
//! The peaks are sampled by the runner after every simulation step; inside a step a new
//! connection can be accepted before an old one's close is seen (102 clients for an instant
//! of a step that ends with 100, in `bounded-wait-100` at seed 11). So the oracle takes the
//! counts where a step ends, as the runner samples them, and for that it must know where the
//! steps fall ([`Steps`], given to [`derive_steps`]):
//!
//! - on turmoil a step of `tick` runs each host in turn, and a host's clock moves on inside
//!   the step as its timers fire (turmoil's `HostTimer::sim_elapsed` is the step's start plus
//!   the time the host's paused tokio clock advanced): an event at `t` belongs to the step
//!   `[k * tick, (k + 1) * tick)` that holds `t`, and the trace is not in time order inside a
//!   step (one host's 15.095 s comes before the next host's 15.090 s);
//! - the fast engine runs a step's events in time order, those in `(k * tick, (k + 1) * tick]`.
//!
//! [`derive`] without the steps takes the counts wherever the trace's time moves on (what a
//! trace file alone allows: its `run.start` line does not give the tick): that is every step's
//! end and more, so its peaks can be above the runner's by a connect that one host made
//! before another host's close was traced in the same step. The real crates' oracle check
//! found it (mobc in the failover, 400 against 399), and it is why the tests give the steps.
//!
//! Events the oracle does not need (`server.event`, `server.refuse`, `pool.check`, ...) are ignored,
//! so new events do not break it.

use crate::report::{ErrorKind, Errors, Latency, Report, Wait};
use std::collections::BTreeMap;

/// The figures re-derived from a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// `request.start` events.
    pub requests: u64,
    /// `request.end` events with outcome `ok`.
    pub succeeded: u64,
    /// `request.end` events by failed outcome.
    pub errors: Errors,
    /// Per-request latency (end minus start), as the report rounds it.
    pub latency_ms: Latency,
    /// Per-checkout pool wait, as the report rounds it.
    pub pool_wait_ms: Wait,
    /// Checkouts with a wait above zero, over all checkouts.
    pub waited_fraction: f64,
    /// Most connections of all Redis-facing pools at the end of a simulation step.
    pub peak_pool_connections: u64,
    /// Most clients connected to the server at the end of a simulation step.
    pub peak_server_clients: u64,
    /// Connections the server refused for `maxclients` (`server.reject`).
    pub rejected_connections: u64,
    /// Connects the clients saw refused with `max number of clients reached`.
    pub refusals_seen: u64,
    /// `request.retry` events.
    pub retries: u64,
}

/// A trace the oracle cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OracleError {
    /// A line is not a JSON object with `t_us`, `host` and `event`.
    #[error("trace line {line}: {why}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// A request ends that never started, or ends twice.
    #[error("trace line {line}: request {req} ends without a start")]
    EndWithoutStart {
        /// 1-based line number.
        line: usize,
        /// The request's label.
        req: String,
    },
}

/// The top of `v`'s bucket in an hdrhistogram with 3 significant digits and a lowest
/// discernible value of 1 (2048 sub-buckets): exact below 2048, then buckets of width 2, 4,
/// 8, ... doubling with every power of two.
#[must_use]
pub fn bucket_top_us(v: u64) -> u64 {
    let bits = 64 - v.leading_zeros();
    let shift = bits.saturating_sub(11);
    if shift == 0 {
        v
    } else {
        ((v >> shift) << shift) + (1 << shift) - 1
    }
}

/// The nearest-rank quantile `q` of `sorted` (ascending): the `ceil(q * n)`-th smallest value
/// (at least the first); 0 for no values.
#[must_use]
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Quantile `q` of `sorted` in ms as the report gives it (1.0: the maximum).
fn ms(sorted: &[u64], q: f64) -> f64 {
    bucket_top_us(nearest_rank(sorted, q)) as f64 / 1000.0
}

fn field_u64(v: &serde_json::Value, key: &str, line: usize) -> Result<u64, OracleError> {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| OracleError::BadLine {
            line,
            why: format!("no integer field {key}"),
        })
}

fn field_str<'a>(v: &'a serde_json::Value, key: &str, line: usize) -> Result<&'a str, OracleError> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| OracleError::BadLine {
            line,
            why: format!("no string field {key}"),
        })
}

/// Where a run's steps fall in time, for the peaks (the module's doc says why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// The scenario's `tick_ms`, in µs.
    pub tick_us: u64,
    /// The engine that ran it.
    pub engine: crate::Engine,
}

impl Steps {
    /// The steps of `s` run on `engine`.
    #[must_use]
    pub fn of(s: &crate::Scenario, engine: crate::Engine) -> Self {
        Self {
            tick_us: s.tick_ms.max(1) * 1000,
            engine,
        }
    }

    /// The index of the step that holds an event at `t_us`.
    fn index(self, t_us: u64) -> u64 {
        match self.engine {
            crate::Engine::Turmoil => t_us / self.tick_us,
            crate::Engine::Fast => t_us.div_ceil(self.tick_us),
        }
    }
}

/// Re-derives the report's figures from one run's trace lines ([`crate::Run::trace`], or the
/// lines after one `run.start` line of a `poolsim replay --trace` file), the peaks taken
/// wherever the trace's time moves on: at least every step's end, and a transient inside a
/// step too ([`derive_steps`] takes them at the steps' ends alone).
pub fn derive<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Figures, OracleError> {
    derive_with(lines, None)
}

/// [`derive`], the peaks taken at the end of each of `steps`, where the runner samples them.
pub fn derive_steps<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    steps: Steps,
) -> Result<Figures, OracleError> {
    derive_with(lines, Some(steps))
}

fn derive_with<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    steps: Option<Steps>,
) -> Result<Figures, OracleError> {
    let step_of = |t_us: u64| steps.map_or(t_us, |s| s.index(t_us));
    let mut f = Figures::default();
    let mut started: BTreeMap<String, u64> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut waits = Vec::new();
    let mut waited = 0u64;
    let mut pool_connections = 0i64;
    let mut peak = 0i64;
    let mut server_clients = 0i64;
    let mut server_peak = 0i64;
    let mut step = step_of(0);
    for (i, text) in lines.into_iter().enumerate() {
        let line = i + 1;
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| OracleError::BadLine {
                line,
                why: e.to_string(),
            })?;
        let t_us = field_u64(&v, "t_us", line)?;
        let event = field_str(&v, "event", line)?;
        if step_of(t_us) != step {
            // A new step: the counts as they stood at the end of the last one, which is when
            // the runner samples them.
            peak = peak.max(pool_connections);
            server_peak = server_peak.max(server_clients);
            step = step_of(t_us);
        }
        match event {
            "request.start" => {
                f.requests += 1;
                started.insert(field_str(&v, "req", line)?.to_owned(), t_us);
            }
            "request.end" => {
                let req = field_str(&v, "req", line)?;
                let start = started
                    .remove(req)
                    .ok_or_else(|| OracleError::EndWithoutStart {
                        line,
                        req: req.to_owned(),
                    })?;
                latencies.push(t_us - start);
                match field_str(&v, "outcome", line)? {
                    "ok" => f.succeeded += 1,
                    other => f.errors.add(ErrorKind::from_name(other).ok_or_else(|| {
                        OracleError::BadLine {
                            line,
                            why: format!("unknown outcome {other}"),
                        }
                    })?),
                }
            }
            "request.conn" | "request.pool_error" => {
                let w = field_u64(&v, "wait_us", line)?;
                if w > 0 {
                    waited += 1;
                }
                waits.push(w);
            }
            "request.retry" => {
                f.retries += 1;
                // A checkout that failed and is retried (a client retrying its pool's
                // timeout) is a checkout too: its wait is on the retry line.
                if v.get("wait_us").is_some() {
                    let w = field_u64(&v, "wait_us", line)?;
                    if w > 0 {
                        waited += 1;
                    }
                    waits.push(w);
                }
            }
            "pool.connect" => pool_connections += 1,
            "pool.close" => pool_connections -= 1,
            "pool.connect_failed" => {
                pool_connections -= 1;
                if field_str(&v, "error", line)?.contains("max number of clients reached") {
                    f.refusals_seen += 1;
                }
            }
            "server.accept" => server_clients += 1,
            "server.close" => server_clients -= 1,
            "server.reject" => f.rejected_connections += 1,
            _ => {}
        }
    }
    peak = peak.max(pool_connections);
    server_peak = server_peak.max(server_clients);
    latencies.sort_unstable();
    waits.sort_unstable();
    f.latency_ms = Latency {
        p50: ms(&latencies, 0.5),
        p90: ms(&latencies, 0.9),
        p99: ms(&latencies, 0.99),
        max: ms(&latencies, 1.0),
    };
    f.pool_wait_ms = Wait {
        p50: ms(&waits, 0.5),
        p99: ms(&waits, 0.99),
        max: ms(&waits, 1.0),
    };
    f.waited_fraction = if waits.is_empty() {
        0.0
    } else {
        waited as f64 / waits.len() as f64
    };
    f.peak_pool_connections = u64::try_from(peak).unwrap_or(0);
    f.peak_server_clients = u64::try_from(server_peak).unwrap_or(0);
    Ok(f)
}

/// Every figure on which `report` (and the run's `retries` metric) and `figures` disagree,
/// one line each (`requests: report 1752, trace 1751`); empty when they agree. Every figure
/// must be equal (floats too: both sides divide the same integers, and percentiles are
/// integer microseconds over 1000).
#[must_use]
pub fn disagreements(report: &Report, retries: u64, figures: &Figures) -> Vec<String> {
    let mut out = Vec::new();
    let mut eq = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: report {a}, trace {b}"));
        }
    };
    eq(
        "requests",
        report.requests.to_string(),
        figures.requests.to_string(),
    );
    eq(
        "succeeded",
        report.succeeded.to_string(),
        figures.succeeded.to_string(),
    );
    eq(
        "errors",
        format!("{:?}", report.errors),
        format!("{:?}", figures.errors),
    );
    eq(
        "latency_ms",
        format!("{:?}", report.latency_ms),
        format!("{:?}", figures.latency_ms),
    );
    eq(
        "pool_wait_ms",
        format!("{:?}", report.pool_wait_ms),
        format!("{:?}", figures.pool_wait_ms),
    );
    eq(
        "waited_fraction",
        report.waited_fraction.to_string(),
        figures.waited_fraction.to_string(),
    );
    eq(
        "rejected_connections",
        report.rejected_connections.to_string(),
        figures.rejected_connections.to_string(),
    );
    eq(
        "rejected_connections (as the clients saw them)",
        report.rejected_connections.to_string(),
        figures.refusals_seen.to_string(),
    );
    eq("retries", retries.to_string(), figures.retries.to_string());
    eq(
        "peak_pool_connections",
        report.peak_pool_connections.to_string(),
        figures.peak_pool_connections.to_string(),
    );
    eq(
        "peak_server_clients",
        report.peak_server_clients.to_string(),
        figures.peak_server_clients.to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peaks are taken where a step ends, each engine's way: inside a turmoil step a
    /// later host's earlier time does not end the step, and on the fast engine an event at a
    /// multiple of the tick ends the step before it, where on turmoil it begins one.
    #[test]
    fn the_peaks_are_taken_where_each_engines_steps_end() {
        let line = |t_us: u64, host: &str, event: &str| {
            format!(r#"{{"t_us":{t_us},"host":"{host}","event":"{event}","conn":1}}"#)
        };
        let peaks = |lines: &[String], steps: Option<Steps>| {
            let f = derive_with(lines.iter().map(String::as_str), steps).unwrap();
            (f.peak_pool_connections, f.peak_server_clients)
        };
        let steps = |engine| Some(Steps::of(&crate::incidents::ALL[0].scenarios(1)[0], engine));
        let tick = steps(crate::Engine::Turmoil).unwrap().tick_us;
        assert_eq!(tick, 10_000);
        let (turmoil, fast) = (steps(crate::Engine::Turmoil), steps(crate::Engine::Fast));
        // One turmoil step (10 to 20 ms): app-0 connects at 15 ms, then app-1, run after it,
        // closes at 12 ms; the step ends with one connection, as it began.
        let transient: Vec<String> = [
            line(0, "app-1", "pool.connect"),
            line(0, "redis", "server.accept"),
            line(15_000, "app-0", "pool.connect"),
            line(15_000, "redis", "server.accept"),
            line(12_000, "app-1", "pool.close"),
            line(12_000, "redis", "server.close"),
        ]
        .into();
        assert_eq!(peaks(&transient, None), (2, 2), "where the time moves on");
        assert_eq!(peaks(&transient, turmoil), (1, 1));
        assert_eq!(peaks(&transient, fast), (1, 1));
        // A connect at 5 ms, a close at 10 ms: on turmoil the step of 0 to 10 ms ends with
        // two; on the fast engine 10 ms ends the step that began after 0, with one.
        let boundary: Vec<String> = [
            line(0, "app-0", "pool.connect"),
            line(0, "redis", "server.accept"),
            line(5_000, "app-0", "pool.connect"),
            line(5_000, "redis", "server.accept"),
            line(tick, "app-0", "pool.close"),
            line(tick, "redis", "server.close"),
        ]
        .into();
        assert_eq!(peaks(&boundary, None), (2, 2));
        assert_eq!(peaks(&boundary, turmoil), (2, 2));
        assert_eq!(peaks(&boundary, fast), (1, 1));
        // A tick of 0 counts as 1 ms, as the runner steps it.
        let mut s = crate::incidents::ALL[0].scenarios(1).remove(0);
        s.tick_ms = 0;
        assert_eq!(Steps::of(&s, crate::Engine::Fast).tick_us, 1_000);
    }

    #[test]
    fn nearest_rank_is_the_ceil_of_q_times_n() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.5), 5);
        assert_eq!(nearest_rank(&v, 0.9), 9);
        assert_eq!(nearest_rank(&v, 0.91), 10);
        assert_eq!(nearest_rank(&v, 0.99), 10);
        assert_eq!(nearest_rank(&v, 1.0), 10);
        assert_eq!(nearest_rank(&v, 0.0), 1);
        let h: Vec<u64> = (1..=200).collect();
        assert_eq!(nearest_rank(&h, 0.99), 198);
        assert_eq!(nearest_rank(&h, 0.5), 100);
        assert_eq!(nearest_rank(&[], 0.5), 0);
    }

    #[test]
    fn bucket_tops_match_hdrhistogram_at_three_digits() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [
            0,
            1,
            2047,
            2048,
            2049,
            4095,
            4096,
            3_000_001,
            99_999_999,
            3_599_999_999,
        ] {
            assert_eq!(bucket_top_us(v), h.highest_equivalent(v), "{v}");
            h.record(v).unwrap();
        }
        assert_eq!(bucket_top_us(3_000_300), 3_000_319);
    }

    #[test]
    fn figures_agree_with_a_histogram_on_the_same_values() {
        // 1..=1000 ms waits, recorded both ways.
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        let mut v = Vec::new();
        for i in 1..=1000u64 {
            let us = i * 1_003;
            h.record(us).unwrap();
            v.push(us);
        }
        for q in [0.5, 0.9, 0.99] {
            assert_eq!(
                bucket_top_us(nearest_rank(&v, q)),
                h.value_at_quantile(q),
                "{q}"
            );
        }
        assert_eq!(bucket_top_us(*v.last().unwrap()), h.max());
    }

    #[test]
    fn a_trace_is_read_event_by_event_and_unknown_events_are_ignored() {
        let lines = [
            r#"{"t_us":0,"host":"app-0","event":"request.start","req":"p0/0"}"#,
            r#"{"t_us":10,"host":"app-0","event":"pool.connect","conn":1}"#,
            r#"{"t_us":20,"host":"redis","event":"server.accept","client":1}"#,
            r#"{"t_us":30,"host":"redis","event":"server.watch","client":1}"#,
            r#"{"t_us":500,"host":"app-0","event":"request.conn","req":"p0/0","conn":1,"wait_us":500}"#,
            r#"{"t_us":700,"host":"app-0","event":"request.start","req":"p0/1"}"#,
            r#"{"t_us":800,"host":"app-0","event":"request.end","req":"p0/0","outcome":"ok","latency_us":800}"#,
            r#"{"t_us":900,"host":"app-0","event":"request.pool_error","req":"p0/1","error":"pool timeout","wait_us":0}"#,
            r#"{"t_us":1700,"host":"app-0","event":"request.end","req":"p0/1","outcome":"pool_timeout","latency_us":1000}"#,
            r#"{"t_us":1800,"host":"app-0","event":"pool.connect_failed","error":"max number of clients reached"}"#,
            r#"{"t_us":1800,"host":"redis","event":"server.reject","addr":"app-0:1","reason":"max number of clients reached"}"#,
            r#"{"t_us":1900,"host":"redis","event":"server.close","client":1}"#,
            r#"{"t_us":1900,"host":"redis","event":"server.accept","client":2}"#,
        ];
        let f = derive(lines).unwrap();
        assert_eq!(f.requests, 2);
        assert_eq!(f.succeeded, 1);
        assert_eq!(f.errors.pool_timeout, 1);
        assert_eq!(f.errors.total(), 1);
        assert_eq!(f.latency_ms.p50, 0.8);
        assert_eq!(f.latency_ms.max, 1.0);
        assert_eq!(f.pool_wait_ms.p50, 0.0);
        assert_eq!(f.pool_wait_ms.max, 0.5);
        assert_eq!(f.waited_fraction, 0.5);
        assert_eq!(f.peak_pool_connections, 1);
        assert_eq!(f.rejected_connections, 1);
        assert_eq!(f.refusals_seen, 1);
        assert_eq!(f.peak_server_clients, 1);
        let bad =
            derive([r#"{"t_us":1,"host":"a","event":"request.end","req":"x","outcome":"ok"}"#]);
        assert!(matches!(
            bad,
            Err(OracleError::EndWithoutStart { line: 1, .. })
        ));
    }

    /// A retried checkout is a checkout: its wait is on the `request.retry` line, and waited
    /// only if it is above zero (a refusal retried at once did not wait). A command's retry
    /// has no wait.
    #[test]
    fn a_retried_checkout_counts_its_wait_and_a_zero_wait_is_not_waiting() {
        let lines = [
            r#"{"t_us":0,"host":"app-0","event":"request.start","req":"p0/0"}"#,
            r#"{"t_us":0,"host":"app-0","event":"request.retry","req":"p0/0","error":"Too many connections","wait_us":0}"#,
            r#"{"t_us":2000,"host":"app-0","event":"request.retry","req":"p0/0","error":"pool timeout","wait_us":2000}"#,
            r#"{"t_us":2000,"host":"app-0","event":"request.conn","req":"p0/0","conn":1,"wait_us":0}"#,
            r#"{"t_us":2100,"host":"app-0","event":"request.retry","req":"p0/0","error":"EOF"}"#,
            r#"{"t_us":2200,"host":"app-0","event":"request.end","req":"p0/0","outcome":"ok","latency_us":2200}"#,
        ];
        let f = derive(lines).unwrap();
        assert_eq!(f.retries, 3);
        assert!(
            (f.waited_fraction - 1.0 / 3.0).abs() < 1e-9,
            "{}",
            f.waited_fraction
        );
        assert_eq!(f.pool_wait_ms.max, 2.0);
        assert_eq!(f.pool_wait_ms.p50, 0.0);
        let bad =
            derive([r#"{"t_us":1,"host":"a","event":"request.end","req":"x","outcome":"ok"}"#]);
        assert!(matches!(
            bad,
            Err(OracleError::EndWithoutStart { line: 1, .. })
        ));
    }
}
