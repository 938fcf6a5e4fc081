//! Pool sizing: seed 002's rule, Erlang C (M/M/c), and the real pool at the same load.
//!
//! A pool in front of Redis is a queue: requests arrive at `qps`, each holds a connection for
//! `hold_ms` on average, and a request that finds every connection busy waits. Seed 002's rule
//! `qps / (1000 / hold_ms)` is Little's law: the connections busy *on average*, the size at
//! which the queue grows without bound. Erlang C gives, per pool size, the probability of
//! waiting and the mean and p99 wait for Poisson arrivals and exponential hold times;
//! [`simulate`] measures the same figures on the real pool and the real fake Redis under
//! turmoil. `docs/sizing.md` says where each model stops being right.

use crate::scenario::{Arrivals, Command, Dist, Event, Load, PoolSpec, Scenario, Tier};
use serde::Serialize;

/// Seed 002's rule: the connections busy on average, `qps * hold_ms / 1000` (not rounded).
#[must_use]
pub fn offered_load(qps: f64, hold_ms: f64) -> f64 {
    qps * hold_ms / 1000.0
}

/// Erlang C: the probability that a request waits, with `c` connections and an offered load
/// of `a` connections (`a = qps * hold / 1000`). 1 when `c <= a` (the queue grows without
/// bound). Computed with the Erlang B recurrence (no factorials).
#[must_use]
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    if f64::from(c) <= a {
        return 1.0;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    c * b / (c - a * (1.0 - b))
}

/// One pool size: the model's figures and, with [`simulate`], the simulation's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Connections in the pool.
    pub size: u32,
    /// `a / size`: the fraction of time a connection is busy.
    pub utilisation: f64,
    /// Erlang C: the probability that a request waits (1 at or above utilisation 1).
    pub p_wait: f64,
    /// Mean pool wait over all requests, ms (`null` in JSON when unbounded).
    pub mean_wait_ms: Option<f64>,
    /// 99th percentile of the pool wait, ms (`null` when unbounded).
    pub p99_wait_ms: Option<f64>,
    /// Measured: the fraction of checkouts that waited.
    pub sim_waited_fraction: Option<f64>,
    /// Measured: the 99th percentile of the pool wait, ms.
    pub sim_p99_wait_ms: Option<f64>,
    /// Measured: the spread of `sim_waited_fraction` over the seeds simulated (max - min):
    /// the simulation's own noise.
    #[serde(skip)]
    pub sim_noise: Option<f64>,
}

/// The model's row for `size` connections.
#[must_use]
pub fn model_row(qps: f64, hold_ms: f64, size: u32) -> Row {
    let a = offered_load(qps, hold_ms);
    let c = f64::from(size);
    let p_wait = erlang_c(size, a);
    let (mean, p99) = if c > a {
        // Rates per ms: c * mu - lambda.
        let drain = c / hold_ms - qps / 1000.0;
        let mean = p_wait / drain;
        let p99 = if p_wait > 0.01 {
            (p_wait / 0.01).ln() / drain
        } else {
            0.0
        };
        (Some(mean), Some(p99))
    } else {
        (None, None)
    };
    Row {
        size,
        utilisation: a / c,
        p_wait,
        mean_wait_ms: mean,
        p99_wait_ms: p99,
        sim_waited_fraction: None,
        sim_p99_wait_ms: None,
        sim_noise: None,
    }
}

/// The sizes worth showing: from the rule's size (rounded up) to a few past the recommended
/// one, at most 12 rows.
#[must_use]
pub fn sizes(qps: f64, hold_ms: f64, recommended: u32) -> Vec<u32> {
    let first = offered_load(qps, hold_ms).ceil().max(1.0) as u32;
    let last = recommended.max(first) + 2;
    let step = ((last - first) / 11).max(1);
    let mut v: Vec<u32> = (first..=last).step_by(step as usize).collect();
    if !v.contains(&recommended) {
        v.push(recommended);
        v.sort_unstable();
    }
    v
}

/// The smallest size whose model p99 wait is at most `p99_wait_ms` (and whose utilisation is
/// below 1).
#[must_use]
pub fn recommended_size(qps: f64, hold_ms: f64, p99_wait_ms: f64) -> u32 {
    let mut c = offered_load(qps, hold_ms).floor().max(0.0) as u32 + 1;
    loop {
        let r = model_row(qps, hold_ms, c);
        if r.p99_wait_ms.is_some_and(|w| w <= p99_wait_ms) {
            return c;
        }
        c += 1;
    }
}

/// The scenario [`simulate`] runs: open-loop Poisson arrivals at `qps` on one pod whose pool
/// has `size` connections kept warm (`min_idle = max_idle = size`, filled during a 1 s quiet
/// start), each request a `PING` (one round trip: 2 ms on 1 ms links) then holding its
/// connection an exponential time, so that the total hold averages `hold_ms`; no deadline and
/// no pool timeout get in the way (the waits are measured, not cut).
#[must_use]
pub fn scenario(qps: f64, hold_ms: f64, size: u32, seed: u64) -> Scenario {
    use crate::knobs::{CheckWhenSpec, Exhausted, Overrides, Setting};
    // The PING's round trip on 1 ms links.
    const RTT_MS: f64 = 2.0;
    let hold_extra = (hold_ms - RTT_MS).max(0.0).round() as u64;
    let requests = 20_000.0;
    let duration_ms = ((requests / qps * 1000.0).clamp(10_000.0, 60_000.0)) as u64 + 1_000;
    let pool = PoolSpec::profile("recommended").with(Overrides {
        max_size: Some(Setting::Value(size)),
        min_idle: Some(size),
        max_idle: Some(Setting::Value(size)),
        when_exhausted: Some(Exhausted::Wait),
        pool_timeout_ms: Some(Setting::Off),
        check_on_checkout: Some(CheckWhenSpec::Never),
        idle_timeout_ms: Some(Setting::Off),
        max_lifetime_ms: Some(Setting::Off),
        lifetime_jitter_ms: Some(Setting::Off),
        honour_deadlines: Some(false),
        ..Overrides::default()
    });
    Scenario::new(
        &format!("size-{size}"),
        seed,
        duration_ms,
        vec![Tier::new("app", pool, 3_600_000)],
        Load::open(Arrivals::Poisson { rate_per_sec: qps })
            .with_command(Command::Ping)
            .with_hold(Dist::Exponential {
                mean_ms: hold_extra,
            }),
    )
    .with_summary(&format!(
        "pool of {size} at {qps} req/s holding {hold_ms} ms each (Poisson arrivals, PING + exponential hold)"
    ))
    .with_event(Event::IdleGap {
        at_ms: 0,
        duration_ms: 1_000,
    })
    .with_drain_limit_ms(600_000)
}

/// Runs [`scenario`] for each seed and fills the row's `sim_` fields: the mean over the seeds
/// of the waited fraction and of the p99 wait, and the spread of the waited fraction.
pub fn simulate(row: &mut Row, qps: f64, hold_ms: f64, seeds: &[u64]) -> Result<(), String> {
    let mut fractions = Vec::new();
    let mut p99s = Vec::new();
    for &seed in seeds {
        let s = scenario(qps, hold_ms, row.size, seed);
        let run = crate::run(&s).map_err(|e| e.to_string())?;
        if let Some(v) = run.report.invariant_violations.first() {
            return Err(format!("{}: {v}", s.name));
        }
        fractions.push(run.report.waited_fraction);
        p99s.push(run.report.pool_wait_ms.p99);
    }
    let n = fractions.len().max(1) as f64;
    row.sim_waited_fraction = Some(fractions.iter().sum::<f64>() / n);
    row.sim_p99_wait_ms = Some(p99s.iter().sum::<f64>() / n);
    let max = fractions.iter().copied().fold(f64::MIN, f64::max);
    let min = fractions.iter().copied().fold(f64::MAX, f64::min);
    row.sim_noise = Some((max - min).max(0.0));
    Ok(())
}

/// Whether the model and the simulation disagree on the probability of waiting by more than
/// the simulation's own noise (its spread over seeds, at least 0.02 absolute).
#[must_use]
pub fn disagrees(row: &Row) -> bool {
    match (row.sim_waited_fraction, row.sim_noise) {
        (Some(sim), Some(noise)) => (sim - row.p_wait).abs() > noise.max(0.02),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Clients;

    #[test]
    fn erlang_c_matches_the_textbook() {
        // M/M/3 with a = 2: P(wait) = 4/9.
        assert!((erlang_c(3, 2.0) - 4.0 / 9.0).abs() < 1e-12);
        // M/M/1: P(wait) = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // M/M/2 with a = 1: P(wait) = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(10, 10.0), 1.0);
        assert_eq!(erlang_c(4, 0.0), 0.0);
        // Large c does not overflow.
        let big = erlang_c(500, 450.0);
        assert!(big > 0.0 && big < 1.0, "{big}");
    }

    #[test]
    fn the_rule_is_littles_law_and_the_recommendation_has_headroom() {
        // Seed 002: 1500 QPS at 20 ms = 30 connections busy on average.
        assert_eq!(offered_load(1500.0, 20.0), 30.0);
        let r = model_row(1500.0, 20.0, 30);
        assert_eq!(r.p_wait, 1.0);
        assert_eq!(r.p99_wait_ms, None);
        let rec = recommended_size(1500.0, 20.0, 5.0);
        assert!(rec > 30, "{rec}");
        assert!(model_row(1500.0, 20.0, rec).p99_wait_ms.unwrap() <= 5.0);
        assert!(
            model_row(1500.0, 20.0, rec - 1)
                .p99_wait_ms
                .is_none_or(|w| w > 5.0)
        );
        // Under one connection busy on average (a = 0.1): the search starts above the load's
        // floor, 0 here. One connection waits 10 % of the time, its p99 wait 25.6 ms.
        assert_eq!(recommended_size(10.0, 10.0, 30.0), 1);
        assert_eq!(recommended_size(10.0, 10.0, 5.0), 2);
    }

    #[test]
    fn the_mean_and_p99_wait_follow_the_formulas() {
        // c = 3, a = 2, hold 10 ms (mu = 0.1/ms), lambda = 0.2/ms: drain = 0.1/ms.
        let r = model_row(200.0, 10.0, 3);
        let c = 4.0 / 9.0;
        assert!((r.mean_wait_ms.unwrap() - c / 0.1).abs() < 1e-9);
        assert!((r.p99_wait_ms.unwrap() - (c / 0.01).ln() / 0.1).abs() < 1e-9);
        // A wait probability under 1 %: the p99 wait is 0.
        assert_eq!(model_row(200.0, 10.0, 12).p99_wait_ms, Some(0.0));
    }

    /// The sizes shown: from the rule's size to two past the recommended one, at most 12
    /// steps, the recommended one always among them (cargo-mutants: nothing read them).
    #[test]
    fn the_sizes_run_from_the_rule_past_the_recommendation() {
        // Seed 002: 30 busy on average, 35 recommended: every size from 30 to 37.
        assert_eq!(sizes(1500.0, 20.0, 35), (30..=37).collect::<Vec<_>>());
        // A wide range steps by 2 (31 sizes / 11) and slots the recommended 30 in.
        let mut wide: Vec<u32> = (1..=32).step_by(2).collect();
        wide.push(30);
        wide.sort_unstable();
        assert_eq!(sizes(100.0, 10.0, 30), wide);
        // Under one connection busy: from 1.
        assert_eq!(sizes(10.0, 10.0, 1), vec![1, 2, 3]);
        // From 10 to 100: steps of 90 / 11 = 8, twelve rows, the recommended 98 the last.
        assert_eq!(
            sizes(1000.0, 10.0, 98),
            (10..=98).step_by(8).collect::<Vec<_>>()
        );
    }

    /// What [`simulate`] runs: the size kept warm, Poisson arrivals at the rate, a PING then
    /// an exponential hold that together average the hold time, 20,000 requests' worth of
    /// load within 10 to 60 s, after a quiet second.
    #[test]
    fn the_simulated_scenario_is_the_model_s_queue() {
        let s = scenario(500.0, 12.0, 7, 3);
        assert_eq!((s.name.as_str(), s.seed), ("size-7", 3));
        // 20,000 requests at 500/s: 40 s, plus the quiet second.
        assert_eq!(s.duration_ms, 41_000);
        let c = s.tiers[0].pool.config().unwrap();
        assert_eq!((c.max_size, c.min_idle, c.max_idle), (Some(7), 7, Some(7)));
        // Requests wait as long as it takes, unchecked, on connections that live forever:
        // the waits are measured, not cut.
        assert_eq!(
            c.when_exhausted,
            pool_core::WhenExhausted::Wait { timeout: None }
        );
        assert_eq!(c.check_on_checkout.when, pool_core::CheckWhen::Never);
        assert_eq!((c.idle_timeout, c.max_lifetime), (None, None));
        assert!(matches!(
            s.load.clients,
            Clients::Open {
                arrivals: Arrivals::Poisson { rate_per_sec }
            } if rate_per_sec == 500.0
        ));
        // The PING's 2 ms round trip plus a 10 ms mean hold.
        assert_eq!(s.load.hold, Dist::Exponential { mean_ms: 10 });
        assert_eq!(
            s.timeline,
            vec![Event::IdleGap {
                at_ms: 0,
                duration_ms: 1_000
            }]
        );
        // Few requests a second: at least 10 s; many: at most 60 s.
        assert_eq!(scenario(100.0, 12.0, 7, 3).duration_ms, 61_000);
        assert_eq!(scenario(10_000.0, 12.0, 7, 3).duration_ms, 11_000);
        s.validate().unwrap();
    }

    /// `simulate` fills the row with the mean over the seeds of each run's waited fraction and
    /// p99 wait, and the spread of the fractions (cargo-mutants: only a CLI test read them,
    /// and only that the fraction falls with the size).
    #[test]
    fn simulate_takes_the_mean_over_the_seeds_and_their_spread() {
        let (qps, hold) = (500.0, 10.0);
        let mut row = model_row(qps, hold, 6);
        simulate(&mut row, qps, hold, &[1, 2]).unwrap();
        let runs: Vec<crate::Report> = [1, 2]
            .iter()
            .map(|&seed| crate::run(&scenario(qps, hold, 6, seed)).unwrap().report)
            .collect();
        let (f1, f2) = (runs[0].waited_fraction, runs[1].waited_fraction);
        assert!(f1 > 0.0 && f2 > 0.0 && f1 != f2, "{f1} {f2}");
        assert_eq!(row.sim_waited_fraction, Some(f1.midpoint(f2)));
        assert_eq!(
            row.sim_p99_wait_ms,
            Some(runs[0].pool_wait_ms.p99.midpoint(runs[1].pool_wait_ms.p99))
        );
        assert_eq!(row.sim_noise, Some((f1 - f2).abs()));
    }

    /// The model and the simulation disagree when the waited fraction is further from the
    /// model's probability than the simulation's noise, and at least 0.02.
    #[test]
    fn a_disagreement_is_beyond_the_noise() {
        let mut r = model_row(200.0, 10.0, 3);
        assert!(!disagrees(&r), "no simulation: no disagreement");
        let p = r.p_wait;
        r.sim_noise = Some(0.01);
        r.sim_waited_fraction = Some(p + 0.019);
        assert!(!disagrees(&r), "within 0.02");
        r.sim_waited_fraction = Some(p - 0.021);
        assert!(disagrees(&r), "past 0.02");
        r.sim_noise = Some(0.05);
        assert!(!disagrees(&r), "within the noise");
        r.sim_waited_fraction = Some(p + 0.051);
        assert!(disagrees(&r), "past the noise");
        // Exactly the noise away (values exact in binary): no disagreement.
        r.p_wait = 0.5;
        r.sim_noise = Some(0.25);
        r.sim_waited_fraction = Some(0.75);
        assert!(!disagrees(&r), "at the noise");
    }

    /// The utilisation is the offered load over the size (cargo-mutants: `/` into `%` or
    /// `*` survived, nothing read it).
    #[test]
    fn the_utilisation_is_the_load_over_the_size() {
        // a = 2 over 3 connections, 5 over 10, 30 over 30.
        assert!((model_row(200.0, 10.0, 3).utilisation - 2.0 / 3.0).abs() < 1e-12);
        assert!((model_row(100.0, 50.0, 10).utilisation - 0.5).abs() < 1e-12);
        assert_eq!(model_row(1500.0, 20.0, 30).utilisation, 1.0);
    }
}
