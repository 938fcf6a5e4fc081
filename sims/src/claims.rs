//! What a fix claims, as data: the figures that must stay within limits on every run of the
//! fix, and the environment bounds ([`EnvBounds`]) within which the claim is meant to hold.
//!
//! Each incident module states its fixes' claims (`stale_eof::claims()`, ...;
//! [`crate::incidents::Incident::claims`]): one per built-in run whose outcome is `holds`.
//! `poolsim fuzz` draws environments around the fix within the bounds
//! ([`crate::strategy::environment`]) and checks, on every case, every invariant and the
//! claim ([`Claim::check`]); a case where the claim fails is a finding about the fix, not
//! something to tune the bounds away (docs/fuzzing.md).

use crate::report::{ErrorKind, Metrics};
use crate::scenario::Scenario;
use crate::strategy::EnvBounds;
use serde::{Deserialize, Serialize};

/// A limit, fixed or read off the case's scenario.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// A number.
    Value(f64),
    /// The case's `server.maxclients`, or the lowest `CONFIG SET maxclients` of its timeline
    /// if one is lower (the server's clients must stay within every limit it is given).
    ServerMaxclients,
    /// The first tier's `deadline_ms` (what the load's callers wait at most).
    FirstTierDeadlineMs,
}

impl Limit {
    /// The limit's value for `s`.
    #[must_use]
    pub fn value(&self, s: &Scenario) -> f64 {
        match *self {
            Self::Value(v) => v,
            Self::ServerMaxclients => s
                .timeline
                .iter()
                .filter_map(|e| match e {
                    crate::scenario::Event::ConfigSet { name, value, .. }
                        if name.eq_ignore_ascii_case("maxclients") =>
                    {
                        value.trim().parse::<u64>().ok()
                    }
                    _ => None,
                })
                .fold(s.server.maxclients, u64::min) as f64,
            Self::FirstTierDeadlineMs => s.tiers.first().map_or(0.0, |t| t.deadline_ms as f64),
        }
    }

    fn label(&self) -> String {
        match *self {
            Self::Value(v) => crate::report::fmt_num(v),
            Self::ServerMaxclients => "server.maxclients".to_owned(),
            Self::FirstTierDeadlineMs => "tiers[0].deadline_ms".to_owned(),
        }
    }
}

/// One figure a claim bounds: `metric <= limit`, or `metric < limit` when `strict`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimCheck {
    /// A [`Metrics`] name (`errors.eof`, `latency_ms.p99`, ...).
    pub metric: String,
    /// The bound.
    pub limit: Limit,
    /// `<` instead of `<=`.
    pub strict: bool,
}

impl ClaimCheck {
    /// `metric <= limit`.
    #[must_use]
    pub fn at_most(metric: &str, limit: Limit) -> Self {
        Self {
            metric: metric.to_owned(),
            limit,
            strict: false,
        }
    }

    /// `metric == 0` for a count (`metric <= 0`).
    #[must_use]
    pub fn none(metric: &str) -> Self {
        Self::at_most(metric, Limit::Value(0.0))
    }

    /// `metric < limit`.
    #[must_use]
    pub fn below(metric: &str, limit: Limit) -> Self {
        Self {
            metric: metric.to_owned(),
            limit,
            strict: true,
        }
    }

    /// `errors.eof <= 0`, `latency_ms.p99 < tiers[0].deadline_ms`.
    #[must_use]
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.metric,
            if self.strict { "<" } else { "<=" },
            self.limit.label()
        )
    }

    /// Whether `value` passes for `s`.
    #[must_use]
    pub fn passes(&self, s: &Scenario, value: f64) -> bool {
        let limit = self.limit.value(s);
        if self.strict {
            value < limit
        } else {
            value <= limit
        }
    }

    /// The expectation check that a run breaking this claim passes (for a regression file
    /// that must say "reproduced"): `metric >= limit + 1` for counts bounded with `<=`
    /// (`errors.eof >= 1`), `metric >= limit` for `<`, `metric > limit` otherwise (as
    /// `min = limit + 0.001`).
    #[must_use]
    pub fn broken_check(&self, s: &Scenario) -> crate::scenario::Check {
        let limit = self.limit.value(s);
        let min = if self.strict {
            limit
        } else if is_count(&self.metric) {
            limit.floor() + 1.0
        } else {
            limit + 0.001
        };
        crate::scenario::Check::min(&self.metric, min)
    }
}

fn is_count(metric: &str) -> bool {
    metric.starts_with("errors.")
        || metric.starts_with("peak_")
        || metric.starts_with("final_")
        || matches!(
            metric,
            "requests"
                | "succeeded"
                | "rejected_connections"
                | "retries"
                | "server_idle_closes"
                | "server_connects"
                | "succeeded_after_last_error"
                | "failovers"
                | "split_brain_writes"
                | "retries_to_old_master"
                | "leaked_slots"
        )
}

/// What a fix promises and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The incident (`stale-eof`).
    pub incident: String,
    /// The fix's built-in run (`check-on-checkout`).
    pub run: String,
    /// The promise in words.
    pub promise: String,
    /// The figures the promise bounds, on every run in the bounds.
    pub checks: Vec<ClaimCheck>,
    /// The environment the promise is meant for (what is drawn around the fix).
    pub bounds: EnvBounds,
    /// Why the bounds are what they are: what the fix assumes of its environment.
    pub assumes: String,
}

/// A claim's check that failed on a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Broken {
    /// The check, as [`ClaimCheck::label`].
    pub check: String,
    /// The metric's value on the run.
    pub value: f64,
    /// The limit's value for the case.
    pub limit: f64,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "claim {} broken: {} (limit {})",
            self.check,
            crate::report::fmt_num(self.value),
            crate::report::fmt_num(self.limit)
        )
    }
}

impl Claim {
    /// `incident/run`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.incident, self.run)
    }

    /// The error kinds whose first occurrence already breaks the claim (`errors.eof <= 0`
    /// -> `eof`): a run can stop there ([`crate::RunOptions::stop_on_errors`]).
    #[must_use]
    pub fn stop_on_errors(&self) -> Vec<ErrorKind> {
        let mut kinds: Vec<ErrorKind> = self
            .checks
            .iter()
            .filter(|c| c.limit == Limit::Value(0.0) && !c.strict)
            .filter_map(|c| c.metric.strip_prefix("errors."))
            .filter_map(ErrorKind::from_name)
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The checks that fail on a run of `s` with these metrics (empty: the claim held).
    #[must_use]
    pub fn check(&self, s: &Scenario, metrics: &Metrics) -> Vec<Broken> {
        self.checks
            .iter()
            .filter_map(|c| {
                let value = metrics.get(&c.metric);
                (!c.passes(s, value)).then(|| Broken {
                    check: c.label(),
                    value,
                    limit: c.limit.value(s),
                })
            })
            .collect()
    }
}

/// Every built-in fix's claim, incident by incident.
#[must_use]
pub fn all() -> Vec<Claim> {
    crate::incidents::ALL
        .iter()
        .flat_map(crate::incidents::Incident::claims)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Outcome;
    use crate::strategy::FaultKind;

    #[test]
    fn every_fix_that_holds_has_exactly_one_claim_and_nothing_else_has_one() {
        for inc in crate::incidents::ALL {
            let holds: Vec<String> = inc
                .scenarios(inc.default_seed)
                .into_iter()
                .filter(|s| s.expect.outcome == Outcome::Holds)
                .map(|s| s.name)
                .collect();
            let claimed: Vec<String> = inc.claims().into_iter().map(|c| c.run).collect();
            assert_eq!(claimed, holds, "{}", inc.name);
        }
    }

    #[test]
    fn every_claim_names_known_metrics_and_its_fix_lies_within_its_bounds() {
        for c in all() {
            for k in &c.checks {
                assert!(Metrics::is_known(&k.metric), "{}: {}", c.name(), k.metric);
            }
            let inc = crate::incidents::by_name(&c.incident).unwrap();
            let s = inc
                .scenarios(1)
                .into_iter()
                .find(|s| s.name == c.run)
                .unwrap();
            let b = &c.bounds;
            if let Some(t) = b.server_timeout_secs {
                assert!(t.contains(s.server.timeout_secs), "{}: timeout", c.name());
            }
            if let Some(m) = b.maxclients {
                assert!(m.contains(s.server.maxclients), "{}: maxclients", c.name());
            }
            assert!(
                b.link_latency_ticks.contains(s.link_latency_ms / s.tick_ms),
                "{}: link",
                c.name()
            );
            assert!(
                b.command_latency_ms.contains(s.server.command_latency_ms),
                "{}: command latency",
                c.name()
            );
            // A CONFIG SET draws only what the claim assumes of the server.
            let f = &b.faults;
            if let (true, Some(t)) = (
                f.kinds.contains(&FaultKind::ConfigSetTimeout),
                b.server_timeout_secs,
            ) {
                assert!(
                    t.contains(f.config_timeout_secs.min) && t.contains(f.config_timeout_secs.max),
                    "{}: CONFIG SET timeout outside the claim's timeouts",
                    c.name()
                );
            }
            if let (true, Some(m)) = (
                f.kinds.contains(&FaultKind::ConfigSetMaxclients),
                b.maxclients,
            ) {
                assert!(
                    f.config_maxclients.min >= m.min,
                    "{}: CONFIG SET maxclients below the claim's",
                    c.name()
                );
            }
            if f.kinds.contains(&FaultKind::ConfigSetMaxclients) && b.maxclients.is_none() {
                assert!(
                    f.config_maxclients.min <= s.server.maxclients,
                    "{}: CONFIG SET maxclients above the fix's own server",
                    c.name()
                );
            }
        }
    }

    #[test]
    fn the_lowest_maxclients_a_case_sets_is_its_limit() {
        let mut s = crate::incidents::by_name("explosion").unwrap().scenarios(1)[2].clone();
        assert_eq!(Limit::ServerMaxclients.value(&s), 300.0);
        s.timeline.push(crate::scenario::Event::ConfigSet {
            at_ms: 10,
            name: "maxclients".to_owned(),
            value: "250".to_owned(),
        });
        s.timeline.push(crate::scenario::Event::ConfigSet {
            at_ms: 20,
            name: "maxclients".to_owned(),
            value: "5000".to_owned(),
        });
        assert_eq!(Limit::ServerMaxclients.value(&s), 250.0);
    }

    #[test]
    fn claims_with_a_zero_error_count_stop_on_that_error() {
        let c = all()
            .into_iter()
            .find(|c| c.run == "check-on-checkout")
            .unwrap();
        assert_eq!(c.stop_on_errors(), vec![ErrorKind::Eof]);
        let cascade = all().into_iter().find(|c| c.incident == "cascade").unwrap();
        assert_eq!(cascade.stop_on_errors(), vec![ErrorKind::DeadlineExceeded]);
        // Only `errors.X <= 0` breaks at the first error: not a limit above 0, not a strict
        // bound (`< 0` never holds, `< 1` holds after one), not a figure.
        let mut c = c;
        c.checks = vec![
            ClaimCheck::at_most("errors.eof", Limit::Value(2.0)),
            ClaimCheck::below("errors.read_timeout", Limit::Value(1.0)),
            ClaimCheck::below("errors.readonly", Limit::Value(0.0)),
            ClaimCheck::none("latency_ms.p99"),
            ClaimCheck::none("errors.max_clients"),
            ClaimCheck::none("errors.max_clients"),
        ];
        assert_eq!(c.stop_on_errors(), vec![ErrorKind::MaxClients]);
    }

    #[test]
    fn a_broken_bound_reproduces_with_the_next_count_or_just_above_a_figure() {
        // A count bounded by `<=` breaks at the next whole number; any other figure just
        // above the limit; a strict bound at the limit itself.
        let s = crate::incidents::by_name("cascade").unwrap().scenarios(1)[1].clone();
        for count in [
            "errors.eof",
            "peak_server_clients",
            "final_server_clients",
            "requests",
            "succeeded",
            "rejected_connections",
            "retries",
            "server_idle_closes",
            "server_connects",
            "succeeded_after_last_error",
            "failovers",
            "split_brain_writes",
            "retries_to_old_master",
            "leaked_slots",
        ] {
            assert!(is_count(count), "{count}");
            let c = ClaimCheck::at_most(count, Limit::Value(2.5)).broken_check(&s);
            assert_eq!(c.min, Some(3.0), "{count}");
        }
        for figure in [
            "latency_ms.p99",
            "waited_fraction",
            "server_ops_per_sec",
            "error_fraction",
            "first_switch_ms",
        ] {
            assert!(!is_count(figure), "{figure}");
            let c = ClaimCheck::at_most(figure, Limit::Value(2.5)).broken_check(&s);
            assert_eq!(c.min, Some(2.501), "{figure}");
            let c = ClaimCheck::below(figure, Limit::Value(2.5)).broken_check(&s);
            assert_eq!(c.min, Some(2.5), "{figure}");
        }
    }

    #[test]
    fn a_broken_count_reproduces_with_at_least_one_more() {
        let s = crate::incidents::by_name("cascade").unwrap().scenarios(1)[1].clone();
        let eof = ClaimCheck::none("errors.eof").broken_check(&s);
        assert_eq!(eof.min, Some(1.0));
        let p99 = ClaimCheck::below("latency_ms.p99", Limit::FirstTierDeadlineMs).broken_check(&s);
        assert_eq!(p99.min, Some(3_000.0));
        let mut m = Metrics::default();
        m.set("latency_ms.p99", 3_000.0);
        let claim = all().into_iter().find(|c| c.incident == "cascade").unwrap();
        let broken = claim.check(&s, &m);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert_eq!(broken[0].check, "latency_ms.p99 < tiers[0].deadline_ms");
        // What the fuzzer prints and writes in a regression file's header.
        assert_eq!(
            broken[0].to_string(),
            "claim latency_ms.p99 < tiers[0].deadline_ms broken: 3000 (limit 3000)"
        );
    }
}
