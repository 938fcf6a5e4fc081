//! The result of a run: [`Report`] (its field names are the CLI's JSON schema, see
//! `docs/replaying.md`), and [`Metrics`], the names expectations check.

use serde::{Deserialize, Serialize};

/// One scenario run. The field names are a contract: `poolsim replay --json` prints exactly
/// these, and a test pins them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The pool of the Redis-facing tier: profile name plus overridden knobs.
    pub profile: String,
    /// The seed of the run.
    pub seed: u64,
    /// Requests the load sent (each ends exactly once).
    pub requests: u64,
    /// Requests that succeeded.
    pub succeeded: u64,
    /// Failed requests by kind.
    pub errors: Errors,
    /// End-to-end latency of every request (failed ones included), as the load sees it.
    pub latency_ms: Latency,
    /// Time from asking a pool for a connection to getting one or a refusal, per checkout of
    /// the Redis-facing pools.
    pub pool_wait_ms: Wait,
    /// Checkouts that did not get a connection at once (queued, or waited for a connect).
    pub waited_fraction: f64,
    /// Most connections held by all Redis-facing pools together at one time.
    pub peak_pool_connections: u64,
    /// Most clients connected to the server at one time.
    pub peak_server_clients: u64,
    /// Connections the server refused because of `maxclients`.
    pub rejected_connections: u64,
    /// Commands the server executed per second of load (`duration_ms`).
    pub server_ops_per_sec: f64,
    /// Invariants found violated (the run stops at the first).
    pub invariant_violations: Vec<Violation>,
    /// Whether the run showed what the scenario expects (and violated nothing).
    pub expectation_met: bool,
    /// One line: `reproduced: 3 EOF errors after 305 s idle`, `held: 0 errors`, or what did
    /// not match.
    pub verdict: String,
    /// Samples at a fixed interval.
    pub timeline: Vec<Sample>,
    /// FNV-1a of the JSON-lines trace, as 16 hex digits.
    pub trace_hash: String,
    /// What the pools under test reported of themselves (a knob a crate lacks, a clock it
    /// reads that is not the simulated one), one per code, in the order first seen. Empty
    /// for this project's pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// Something a pool under test did that a reader of the run must know, measured by its
/// adapter during the run: a scenario knob the crate lacks (`knob.*`), a clock the crate reads
/// that is not the simulated one, a bug. Codes are stable; tests pin them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: `bb8.idle_reaper_wall_clock`, `knob.keepalive`, ...
    pub code: String,
    /// What was measured, with the figure.
    pub detail: String,
}

impl Finding {
    /// A finding.
    #[must_use]
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// Failed requests by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Errors {
    /// The connection was closed under the request (EOF, reset, broken pipe).
    pub eof: u64,
    /// The pool's wait timed out (go-redis `connection pool timeout`).
    pub pool_timeout: u64,
    /// A fail-fast pool was exhausted ("Too many connections").
    pub too_many_connections: u64,
    /// The server refused the connection: `max number of clients reached`.
    pub max_clients: u64,
    /// The request's deadline passed (the caller gave up, or the pool honoured it).
    pub deadline_exceeded: u64,
    /// The client's read timeout fired on a command (redis-py `TimeoutError`, go-redis
    /// `i/o timeout`): only with a tier `client` that has one.
    #[serde(default)]
    pub read_timeout: u64,
    /// A write answered `-READONLY` (a replica, or a demoted master) and given to the caller.
    #[serde(default)]
    pub readonly: u64,
    /// Anything else (a refused or failed connect, a full waiter queue, an error reply).
    pub other: u64,
}

impl Errors {
    /// A short account: `3 eof`, `26681 too_many_connections, 10 other`, `0 errors`.
    #[must_use]
    pub fn summary(&self) -> String {
        let kinds = [
            ("eof", self.eof),
            ("pool_timeout", self.pool_timeout),
            ("too_many_connections", self.too_many_connections),
            ("max_clients", self.max_clients),
            ("deadline_exceeded", self.deadline_exceeded),
            ("read_timeout", self.read_timeout),
            ("readonly", self.readonly),
            ("other", self.other),
        ];
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if parts.is_empty() {
            "0 errors".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// All errors.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.eof
            + self.pool_timeout
            + self.too_many_connections
            + self.max_clients
            + self.deadline_exceeded
            + self.read_timeout
            + self.readonly
            + self.other
    }

    /// Adds one error of `kind`.
    pub fn add(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Eof => self.eof += 1,
            ErrorKind::PoolTimeout => self.pool_timeout += 1,
            ErrorKind::TooManyConnections => self.too_many_connections += 1,
            ErrorKind::MaxClients => self.max_clients += 1,
            ErrorKind::DeadlineExceeded => self.deadline_exceeded += 1,
            ErrorKind::ReadTimeout => self.read_timeout += 1,
            ErrorKind::Readonly => self.readonly += 1,
            ErrorKind::Other => self.other += 1,
        }
    }
}

/// How a request failed (the report's error kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// See [`Errors::eof`].
    Eof,
    /// See [`Errors::pool_timeout`].
    PoolTimeout,
    /// See [`Errors::too_many_connections`].
    TooManyConnections,
    /// See [`Errors::max_clients`].
    MaxClients,
    /// See [`Errors::deadline_exceeded`].
    DeadlineExceeded,
    /// See [`Errors::read_timeout`].
    ReadTimeout,
    /// See [`Errors::readonly`].
    Readonly,
    /// See [`Errors::other`].
    Other,
}

impl ErrorKind {
    /// The name used in reports and traces (`eof`, `pool_timeout`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Eof => "eof",
            Self::PoolTimeout => "pool_timeout",
            Self::TooManyConnections => "too_many_connections",
            Self::MaxClients => "max_clients",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::ReadTimeout => "read_timeout",
            Self::Readonly => "readonly",
            Self::Other => "other",
        }
    }

    /// Parses [`ErrorKind::name`].
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::Eof,
            Self::PoolTimeout,
            Self::TooManyConnections,
            Self::MaxClients,
            Self::DeadlineExceeded,
            Self::ReadTimeout,
            Self::Readonly,
            Self::Other,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Latency percentiles in milliseconds.
///
/// Nearest-rank percentiles as hdrhistogram (3 significant digits) gives them: the top of the
/// value's bucket, exact below 2.048 ms and at most 0.1% above the value beyond (a 3,000.0 ms
/// latency reads 3,000.3); the maximum too. `sims::oracle` re-derives them from the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// Pool wait percentiles in milliseconds, rounded as [`Latency`]'s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Wait {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// One timeline sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Simulated time.
    pub t_ms: u64,
    /// Connections of all Redis-facing pools (idle, in use, connecting, checking).
    pub pool_connections: u64,
    /// Of which in use.
    pub in_use: u64,
    /// Requests queued in those pools.
    pub waiters: u64,
    /// Clients connected to the server.
    pub server_clients: u64,
    /// Failed requests so far.
    pub errors: u64,
}

/// A violated invariant: what, where, and how to see it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The invariant's name, e.g. `server.maxclients`, `pool.invariants`, `e2e.ends_once`.
    pub invariant: String,
    /// What was seen.
    pub detail: String,
    /// The simulation step (turmoil tick) after which it was seen.
    pub step: u64,
    /// Simulated time.
    pub t_ms: u64,
    /// The run's seed.
    pub seed: u64,
    /// The command that replays the run.
    pub replay: String,
}

/// What a violated invariant means (see [`Violation::class`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvariantClass {
    /// Something is broken, whatever the scenario: the pool's own invariants, the server's
    /// (`maxclients`, idle timeout, accounting, refusals counted), replies reaching the request
    /// that sent them, every request ending exactly once.
    Safety,
    /// Work did not end within the scenario's `drain_limit_ms`: it depends on the scenario
    /// (a pool that waits forever on a server that never answers is stuck, a drain limit
    /// shorter than the pool's own wait is the scenario's mistake, which
    /// [`crate::Scenario::validate`] refuses).
    Liveness,
    /// The harness itself went wrong (its load generator, a host that panicked, a scenario
    /// event it could not apply): a bug of poolsim, not of the pool.
    Harness,
}

impl InvariantClass {
    /// `safety`, `liveness` or `harness`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Safety => "safety",
            Self::Liveness => "liveness",
            Self::Harness => "harness",
        }
    }
}

impl Violation {
    /// Whether this violation means the system is broken (safety), that work did not drain
    /// in the scenario's time (liveness), or that the harness failed (harness).
    #[must_use]
    pub fn class(&self) -> InvariantClass {
        class_of(&self.invariant)
    }
}

/// The class of an invariant by its name (see [`Violation::class`]).
#[must_use]
pub fn class_of(invariant: &str) -> InvariantClass {
    match invariant {
        "e2e.liveness" => InvariantClass::Liveness,
        "runner.load_ended" | "sim.host" | "scenario.config_set" | "fast.driver" => {
            InvariantClass::Harness
        }
        _ => InvariantClass::Safety,
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {} violated at step {} (t = {} ms, seed {}): {}; replay: {}",
            self.invariant, self.step, self.t_ms, self.seed, self.detail, self.replay
        )
    }
}

/// The values expectations can check: the report's numbers plus a few read off the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    values: Vec<(&'static str, f64)>,
}

impl Metrics {
    /// Every metric name.
    pub const NAMES: [&'static str; 39] = [
        "requests",
        "succeeded",
        "errors.total",
        "errors.eof",
        "errors.pool_timeout",
        "errors.too_many_connections",
        "errors.max_clients",
        "errors.deadline_exceeded",
        "errors.read_timeout",
        "errors.readonly",
        "errors.other",
        "error_fraction",
        "latency_ms.p50",
        "latency_ms.p90",
        "latency_ms.p99",
        "latency_ms.max",
        "pool_wait_ms.p50",
        "pool_wait_ms.p99",
        "pool_wait_ms.max",
        "waited_fraction",
        "peak_pool_connections",
        "peak_server_clients",
        "rejected_connections",
        "server_ops_per_sec",
        // Read off the run, not in the report:
        "final_server_clients",
        "final_pool_connections",
        "peak_waiters",
        "succeeded_after_last_error",
        "first_error_ms",
        "last_error_ms",
        "server_idle_closes",
        "retries",
        "server_connects",
        "peak_connects_per_sec",
        "failovers",
        "first_switch_ms",
        "split_brain_writes",
        "retries_to_old_master",
        "leaked_slots",
    ];

    /// Whether `name` is a metric.
    #[must_use]
    pub fn is_known(name: &str) -> bool {
        Self::NAMES.contains(&name)
    }

    /// Sets a metric (`name` must be in [`Metrics::NAMES`]).
    pub fn set(&mut self, name: &'static str, value: f64) {
        debug_assert!(Self::is_known(name), "{name}");
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }

    /// A metric's value (0 when never set).
    #[must_use]
    pub fn get(&self, name: &str) -> f64 {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, v)| *v)
    }

    /// The report's numbers.
    #[must_use]
    pub fn of_report(r: &Report) -> Self {
        let mut m = Self::default();
        let e = &r.errors;
        m.set("requests", r.requests as f64);
        m.set("succeeded", r.succeeded as f64);
        m.set("errors.total", e.total() as f64);
        m.set("errors.eof", e.eof as f64);
        m.set("errors.pool_timeout", e.pool_timeout as f64);
        m.set("errors.too_many_connections", e.too_many_connections as f64);
        m.set("errors.max_clients", e.max_clients as f64);
        m.set("errors.deadline_exceeded", e.deadline_exceeded as f64);
        m.set("errors.read_timeout", e.read_timeout as f64);
        m.set("errors.readonly", e.readonly as f64);
        m.set("errors.other", e.other as f64);
        m.set(
            "error_fraction",
            if r.requests == 0 {
                0.0
            } else {
                e.total() as f64 / r.requests as f64
            },
        );
        m.set("latency_ms.p50", r.latency_ms.p50);
        m.set("latency_ms.p90", r.latency_ms.p90);
        m.set("latency_ms.p99", r.latency_ms.p99);
        m.set("latency_ms.max", r.latency_ms.max);
        m.set("pool_wait_ms.p50", r.pool_wait_ms.p50);
        m.set("pool_wait_ms.p99", r.pool_wait_ms.p99);
        m.set("pool_wait_ms.max", r.pool_wait_ms.max);
        m.set("waited_fraction", r.waited_fraction);
        m.set("peak_pool_connections", r.peak_pool_connections as f64);
        m.set("peak_server_clients", r.peak_server_clients as f64);
        m.set("rejected_connections", r.rejected_connections as f64);
        m.set("server_ops_per_sec", r.server_ops_per_sec);
        m
    }

    /// `template` with every `{metric}` replaced by its value (unknown names are kept).
    #[must_use]
    pub fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) if Self::is_known(&after[..close]) => {
                    out.push_str(&fmt_num(self.get(&after[..close])));
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// A number for people: integers without a fraction, others with at most one decimal
/// (`3`, `2999.5`, `0.7`).
#[must_use]
pub fn fmt_num(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 1.0 {
        let s = format!("{v:.3}");
        // 0.0004 is "0.000": print "0", not "0.".
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    /// The short account `poolsim cross` and the real pools' golden lines print: every kind
    /// with a count, in the fields' order, and `0 errors` for none.
    #[test]
    fn an_error_summary_names_each_kind_that_happened_in_order() {
        assert_eq!(Errors::default().summary(), "0 errors");
        let one = Errors {
            eof: 3,
            ..Errors::default()
        };
        assert_eq!(one.summary(), "3 eof");
        let all = Errors {
            eof: 1,
            pool_timeout: 2,
            too_many_connections: 3,
            max_clients: 4,
            deadline_exceeded: 5,
            read_timeout: 6,
            readonly: 7,
            other: 8,
        };
        assert_eq!(
            all.summary(),
            "1 eof, 2 pool_timeout, 3 too_many_connections, 4 max_clients, \
             5 deadline_exceeded, 6 read_timeout, 7 readonly, 8 other"
        );
        let some = Errors {
            too_many_connections: 26_681,
            other: 10,
            ..Errors::default()
        };
        assert_eq!(some.summary(), "26681 too_many_connections, 10 other");
    }

    #[test]
    fn a_finding_shows_its_code_then_its_detail() {
        let f = Finding::new(
            "knob.keepalive",
            "no keepalive knob: left at the crate's default",
        );
        assert_eq!(
            f.to_string(),
            "knob.keepalive: no keepalive knob: left at the crate's default"
        );
    }

    #[test]
    fn invariants_are_classed_safety_liveness_or_harness() {
        for name in [
            "pool.invariants",
            "server.maxclients",
            "server.idle_timeout",
            "server.accounting",
            "server.rejected_counted",
            "e2e.ends_once",
            "e2e.reply_matches",
            "sim.panic",
        ] {
            assert_eq!(class_of(name), InvariantClass::Safety, "{name}");
        }
        assert_eq!(class_of("e2e.liveness"), InvariantClass::Liveness);
        for name in [
            "runner.load_ended",
            "sim.host",
            "scenario.config_set",
            "fast.driver",
        ] {
            assert_eq!(class_of(name), InvariantClass::Harness, "{name}");
        }
        assert_eq!(InvariantClass::Harness.name(), "harness");
    }

    use super::*;

    #[test]
    fn templates_render_metrics_and_keep_unknown_braces() {
        let mut m = Metrics::default();
        m.set("errors.eof", 3.0);
        m.set("latency_ms.p99", 2999.5);
        assert_eq!(
            m.render("{errors.eof} EOF errors, p99 {latency_ms.p99} ms {x}"),
            "3 EOF errors, p99 2999.5 ms {x}"
        );
    }

    #[test]
    fn metrics_of_a_report_are_its_numbers_and_the_error_fraction() {
        let mut errors = Errors::default();
        errors.add(ErrorKind::Eof);
        errors.add(ErrorKind::DeadlineExceeded);
        errors.add(ErrorKind::DeadlineExceeded);
        let r = Report {
            scenario: "s".into(),
            profile: "p".into(),
            seed: 1,
            requests: 8,
            succeeded: 5,
            errors,
            latency_ms: Latency {
                p50: 1.0,
                p90: 2.0,
                p99: 3.0,
                max: 4.0,
            },
            pool_wait_ms: Wait {
                p50: 0.5,
                p99: 0.75,
                max: 0.875,
            },
            waited_fraction: 0.25,
            peak_pool_connections: 6,
            peak_server_clients: 7,
            rejected_connections: 2,
            server_ops_per_sec: 9.5,
            invariant_violations: vec![],
            expectation_met: true,
            verdict: String::new(),
            timeline: vec![],
            trace_hash: String::new(),
            findings: vec![],
        };
        let m = Metrics::of_report(&r);
        assert_eq!(m.get("errors.total"), 3.0);
        assert_eq!(m.get("errors.deadline_exceeded"), 2.0);
        assert_eq!(m.get("error_fraction"), 3.0 / 8.0);
        assert_eq!(m.get("latency_ms.p90"), 2.0);
        assert_eq!(m.get("pool_wait_ms.max"), 0.875);
        assert_eq!(m.get("peak_server_clients"), 7.0);
        assert_eq!(m.get("server_ops_per_sec"), 9.5);
        let none = Report { requests: 0, ..r };
        assert_eq!(Metrics::of_report(&none).get("error_fraction"), 0.0);
    }

    #[test]
    fn numbers_print_without_noise() {
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(-0.125), "-0.125");
        assert_eq!(fmt_num(0.0004), "0", "not \"0.\"");
        assert_eq!(fmt_num(2999.96), "3000.0");
    }
}
