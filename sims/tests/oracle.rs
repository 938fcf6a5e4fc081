//! The report agrees with the oracle: every figure `sims::oracle` re-derives from the trace
//! alone equals the runner's, for every built-in run at other seeds than its incident's
//! default one (the default seeds are checked in `tests/pinned.rs`, with the snapshots). The two are computed from different data (the runner's books
//! and pool snapshots; the trace's events), so a figure lost or mis-ranked in either shows up.

mod common;

use sims::Engine;
use sims::Scenario;

fn check(s: &Scenario) {
    common::oracle_check(Engine::Turmoil, s);
}

/// Two more seeds per incident, every run (the default seeds are in `tests/pinned.rs`).
fn sweep(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    for seed in [11, 12] {
        for s in incident.scenarios(seed) {
            check(&s);
        }
    }
}

#[test]
fn stale_eof_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("stale-eof");
}

#[test]
fn explosion_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("explosion");
}

#[test]
fn cascade_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("cascade");
}

#[test]
fn hung_server_agrees_with_the_oracle_over_a_seed_sweep() {
    sweep("hung-server");
}

/// A client that retries its pool's timeout (go-redis): a failed checkout that is retried is
/// traced as `request.retry` with its wait, and the oracle counts it as a checkout, on both
/// engines.
#[test]
fn retried_pool_timeouts_are_checkouts_for_the_oracle() {
    use sims::client::{ClientOverrides, ClientSpec, RetryOverrides};
    use sims::knobs::{Overrides, Setting};
    use sims::scenario::{Arrivals, Command, Load, PoolSpec, Server, Tier};
    let pool = PoolSpec::profile("go-redis-v9").with(Overrides {
        max_size: Some(Setting::Value(1)),
        pool_timeout_ms: Some(Setting::Value(20)),
        ..Overrides::default()
    });
    let client = ClientSpec::profile("go-redis-v9").with(ClientOverrides {
        read_timeout_ms: Some(Setting::Value(500)),
        retry: RetryOverrides {
            attempts: Some(2),
            backoff_base_ms: Some(5),
            backoff_cap_ms: Some(10),
            ..RetryOverrides::default()
        },
        ..ClientOverrides::default()
    });
    let s = Scenario::new(
        "retried-pool-timeouts",
        3,
        1_000,
        vec![Tier::new("app", pool, 1_000).with_client(client)],
        Load::open(Arrivals::Poisson {
            rate_per_sec: 200.0,
        })
        .with_command(Command::Echo),
    )
    .with_server(Server {
        command_latency_ms: 15,
        ..Server::default()
    });
    for engine in [Engine::Turmoil, Engine::Fast] {
        let run = sims::run_on(engine, &s, &sims::RunOptions::default()).unwrap();
        assert!(
            run.metrics.get("retries") > 10.0,
            "{engine:?}: {}",
            run.report.verdict
        );
        assert!(run.report.errors.pool_timeout > 0, "{engine:?}");
        common::oracle_check(engine, &s);
    }
}

/// The comparison itself can fire: a report that differs from its trace in any one figure
/// is named for that figure (a `disagreements` that always said "agree" would pass every
/// sweep above).
#[test]
fn each_figure_that_differs_is_named() {
    use sims::oracle::{Steps, derive_steps, disagreements};
    let s = sims::incidents::by_name("stale-eof")
        .unwrap()
        .scenarios(3)
        .remove(0);
    let run = common::traced(Engine::Fast, &s);
    let figures = derive_steps(
        run.trace.iter().map(String::as_str),
        Steps::of(&s, Engine::Fast),
    )
    .unwrap();
    let retries = run.metrics.get("retries") as u64;
    assert_eq!(
        disagreements(&run.report, retries, &figures),
        Vec::<String>::new()
    );
    type Change = fn(&mut sims::Report);
    let changes: [(&str, Change); 9] = [
        ("requests", |r| r.requests += 1),
        ("succeeded", |r| r.succeeded -= 1),
        ("errors", |r| r.errors.eof += 1),
        ("latency_ms", |r| r.latency_ms.p99 += 0.001),
        ("pool_wait_ms", |r| r.pool_wait_ms.max += 1.0),
        ("waited_fraction", |r| r.waited_fraction += 0.001),
        ("rejected_connections", |r| r.rejected_connections += 1),
        ("peak_pool_connections", |r| r.peak_pool_connections += 1),
        ("peak_server_clients", |r| r.peak_server_clients -= 1),
    ];
    for (name, change) in changes {
        let mut r = run.report.clone();
        change(&mut r);
        let bad = disagreements(&r, retries, &figures);
        assert!(!bad.is_empty(), "{name}: not named");
        assert!(bad.iter().all(|l| l.starts_with(name)), "{name}: {bad:?}");
    }
    let bad = disagreements(&run.report, retries + 1, &figures);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with("retries: report"), "{bad:?}");
}
