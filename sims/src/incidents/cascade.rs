//! Incident C: the pool-timeout cascade.
//!
//! Write-up: `../shared/seeds/002_a0b462c7b0b3f8d7.txt` (Go microservices A -> B -> C -> ...
//! -> N, 3 s request timeouts, the last one on go-redis with `PoolSize 10` and
//! `PoolTimeout 10s`; restated in `../shared/INCIDENTS.md`, C).
//!
//! The buggy run shows it: tiers a -> b -> c, each giving its requests 3 s; c's go-redis-like
//! pool of 10 waits up to 10 s for a connection and does not look at the caller's deadline
//! (`honour_deadlines` off: the go-redis of the write-up). Requests arrive (Poisson) at 1,500/s,
//! three times what 10 connections at a 20 ms round trip can serve (`10 / 20 ms = 500/s`).
//! The queue grows by about 1,000 waiters a second; a waiter whose callers gave up keeps its
//! place and still takes a connection, so Redis works at a flat 500 ops/s for requests nobody
//! waits for. At tier a, p99 is pinned at the 3 s deadline and most requests fail with
//! `deadline_exceeded`; up to thousands of waiters pile up in c.
//!
//! The fixed run holds: the pool sized by the write-up's rule, `QPS / (1000 / rtt_ms)` =
//! `1500 / (1000 / 20)` = 30, doubled for headroom (a pool at exactly the mean load has a
//! queue without bound, see `../shared/QUEUEING.md`) = 60, kept warm (`max_idle` 60), and a
//! pool wait of 1 s, below the callers' deadline, with deadlines honoured (`recommended`):
//! low latency, no error.
//!
//! Scale: one pod per tier and three tiers instead of N; a 20 ms round trip per command (the
//! server answers after 18 ms; links are 1 ms) instead of about 1 ms, so that 1,500 requests a
//! second overload the pool of 10 as the write-up's peak did, while a run stays at about 6,000
//! requests. The mechanism (wait longer than the deadline, waiters outliving their callers)
//! does not depend on the scale.

use crate::claims::{Claim, ClaimCheck, Limit};
use crate::knobs::{Overrides, Setting};
use crate::scenario::{
    Arrivals, Check, Command, Expectation, Load, PoolSpec, Scenario, Server, Tier,
};
use crate::strategy::{BurstBounds, EnvBounds, FaultBounds, FaultKind, FaultWindow, Rate, Span};

/// The callers' deadline at every tier.
const DEADLINE_MS: u64 = 3_000;
/// Arrivals per second at tier a.
const RATE: f64 = 1_500.0;
/// Server time per command; with 1 ms links each way, a 20 ms round trip.
const COMMAND_MS: u64 = 18;

fn chain(pool: PoolSpec) -> Vec<Tier> {
    vec![
        Tier::new("a", PoolSpec::default(), DEADLINE_MS).calling("b"),
        Tier::new("b", PoolSpec::default(), DEADLINE_MS).calling("c"),
        Tier::new("c", pool, DEADLINE_MS),
    ]
}

fn base(name: &str, summary: &str, seed: u64, pool: PoolSpec, expect: Expectation) -> Scenario {
    Scenario::new(
        name,
        seed,
        4_000,
        chain(pool),
        Load::open(Arrivals::Poisson { rate_per_sec: RATE }).with_command(Command::Echo),
    )
    .with_summary(summary)
    .with_server(Server {
        command_latency_ms: COMMAND_MS,
        ..Server::default()
    })
    .with_expect(expect)
    .with_sample_ms(250)
}

/// The buggy run, then the fixed one.
#[must_use]
pub fn scenarios(seed: u64) -> Vec<Scenario> {
    let buggy = base(
        "go-redis-pool-10",
        "a -> b -> c, 3 s deadlines; c: go-redis pool of 10, PoolTimeout 10 s, deadline ignored; 1,500 req/s",
        seed,
        PoolSpec::profile("go-redis-v9").with(Overrides {
            max_size: Some(Setting::Value(10)),
            pool_timeout_ms: Some(Setting::Value(10_000)),
            honour_deadlines: Some(false),
            ..Overrides::default()
        }),
        Expectation::reproduces(
            "p99 {latency_ms.p99} ms at tier a (deadline 3000), {errors.deadline_exceeded} of {requests} requests timed out, Redis flat at {server_ops_per_sec} ops/s (10 connections / 20 ms = 500), up to {peak_waiters} waiters",
            vec![
                Check::between("latency_ms.p99", 2_950.0, 3_100.0),
                Check::min("error_fraction", 0.5),
                Check::between("server_ops_per_sec", 425.0, 525.0),
                Check::min("peak_waiters", 1_000.0),
            ],
        ),
    );
    let fixed = base(
        "sized-pool-60",
        "the same load; c's pool sized 1500 / (1000 / 20) = 30, doubled: 60, wait 1 s, deadlines honoured (recommended)",
        seed,
        PoolSpec::profile("recommended").with(Overrides {
            max_size: Some(Setting::Value(60)),
            // Keep the sized pool warm: recommended's max_idle 10 would close and reopen
            // connections all the time at this load.
            max_idle: Some(Setting::Value(60)),
            ..Overrides::default()
        }),
        Expectation::holds(
            "{errors.total} errors in {requests} requests, p99 {latency_ms.p99} ms, Redis at {server_ops_per_sec} ops/s",
            vec![
                Check::eq("errors.total", 0.0),
                // The first connects (4 at a time, a PING each) are in the tail.
                Check::max("latency_ms.p99", 250.0),
                Check::max("peak_waiters", 200.0),
            ],
        ),
    );
    vec![buggy, fixed]
}

/// What the fix promises: no request waits past its caller's deadline
/// (`errors.deadline_exceeded == 0`) and tier a's p99 stays below the 3 s deadline.
///
/// Bounds: the pool was sized for 1,500 requests a second at a 20 ms round trip with twice
/// the headroom, so the claim assumes at most that: 50 to 1,500 requests a second (Poisson,
/// constant, or bursts of up to twice the rate for up to 500 ms every 1 to 4 s), command
/// latency up to the scenario's 18 ms with links of 1 or 2 ms (a round trip of at most 22 ms,
/// a tenth above the sizing's 20 ms), connect
/// latency up to 20 ms, `hz` 1 to 100, 1 to 6 s of load, an idle gap, and up to two faults
/// anywhere: a restart (down up to 1 s), a kill of every client, a latency spike (up to
/// 100 ms for up to 1 s), connections refused (up to 1 s), a `CONFIG SET timeout` (1 to 300
/// s) or a `CONFIG SET maxclients` that leaves room for the pool's 60 connections (60 up). The pool's 1 s wait, below the deadline, is what keeps the
/// deadline even when the pool is overloaded for a moment.
#[must_use]
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        incident: "cascade".to_owned(),
        run: "sized-pool-60".to_owned(),
        promise: "no request waits past its caller's deadline, and tier a's p99 stays below it".to_owned(),
        checks: vec![
            ClaimCheck::none("errors.deadline_exceeded"),
            ClaimCheck::below("latency_ms.p99", Limit::FirstTierDeadlineMs),
        ],
        bounds: EnvBounds {
            link_latency_ticks: Span::new(1, 2),
            server_timeout_secs: None,
            server_timeout_off: false,
            hz: Span::new(1, 100),
            maxclients: None,
            command_latency_ms: Span::new(0, COMMAND_MS),
            connect_latency_ms: Span::new(0, 20),
            users: None,
            think_mean_ms: None,
            rate_per_sec: Some(Rate {
                min: 50.0,
                max: RATE,
            }),
            bursts: Some(BurstBounds {
                factor_tenths: Span::new(10, 20),
                burst_ms: Span::new(50, 500),
                every_ms: Span::new(1_000, 4_000),
            }),
            hold_mean_ms: None,
            load_ms: Span::new(1_000, 6_000),
            idle_gap_ms: Some(Span::new(100, 5_000)),
            add_gap: true,
            after_gap_ms: Span::new(1_000, 1_000),
            faults: FaultBounds::some(
                &[
                    FaultKind::Restart,
                    FaultKind::KillAllClients,
                    FaultKind::LatencySpike,
                    FaultKind::RefuseConnections,
                    FaultKind::ConfigSetTimeout,
                    FaultKind::ConfigSetMaxclients,
                ],
                2,
                FaultWindow::Anywhere,
            )
            .with_config(Span::new(1, 300), Span::new(60, 10_000)),
        },
        assumes: "at most the sizing's load: 1,500 req/s (bursts to 2x) at a round trip of at most 22 ms (the sizing's 20 ms and a 1 ms link more each way); room on the server for the pool's 60 connections (a CONFIG SET maxclients from 60 up); restarts, kills, latency spikes up to 100 ms, connections refused (up to 1 s) and CONFIG SET timeout (1 to 300 s) anywhere".to_owned(),
    }]
}
