//! Incident B: connection explosion.
//!
//! Write-ups: `../shared/seeds/001_a18f22bd81a08c37.txt` (Flask + gevent + redis-py with no
//! upper bound: `ab -c 500` grew one worker's pool to 232 connections, 4 workers past 1,200,
//! the server later at `connected_clients:6997`), `../shared/seeds/000_e399f022fb4cb677.txt`
//! (Sanic + aioredis 2 with `max_connections=50`: under `wrk -c2000` most requests failed with
//! "Too many connections") and `../shared/seeds/004_14f86ea6c25646ad.txt` (redis-py's
//! fail-fast `ConnectionPool` against the waiting `BlockingConnectionPool`); restated in
//! `../shared/INCIDENTS.md`, B.
//!
//! The buggy runs show it:
//! - `redis-py-unbounded`: 4 workers, each with an unbounded redis-py pool (2**31 up to 8.0),
//!   400 users at once: every pool grows to its peak concurrency, the server reaches its
//!   `maxclients` (300 here), later connects are refused with `max number of clients reached`
//!   and requests fail with it; when the load drops to 20 users the connections stay open (the
//!   server still has 300 clients at the end).
//! - `aioredis-50`: a fail-fast pool of 50 under 2,000 users: most requests fail at once with
//!   "Too many connections" while the server has at most 50 clients and executes little.
//!
//! The fixed runs hold: the same loads on bounded waiting pools sized by seed 002's formula,
//! `QPS / (1000 / ms per request)` (`recommended`: wait at most 1 s, honour deadlines), with no
//! error and the server far from `maxclients`. Seed 001's own fix, server `timeout 30`, brings
//! the connections of an unbounded pool back down after a quiet period, and a pool that checks
//! its connections on checkout (redis-py's `can_read`) reconnects without an error
//! (`server-timeout-30`); a pool without checks turns it into incident A
//! (`server-timeout-30-no-check`: every connection the server closed fails one request with
//! EOF).
//!
//! Scale: `maxclients` 300 instead of 10,000 and 400 users instead of 500 per worker, so that
//! the fleet (4 x 100 concurrent users) passes the server's limit within the first
//! milliseconds as 4 x 232 passed it in the write-up; seconds of load instead of minutes
//! (the pools reach their peak at the first burst). The 2,000 users of seed 000 are kept; they
//! think 100 ms between requests (the HTTP round trip of `wrk`) so that the run stays at tens of
//! thousands of requests.

use crate::claims::{Claim, ClaimCheck, Limit};
use crate::knobs::{CheckWhenSpec, Overrides, Setting};
use crate::scenario::{Check, Dist, Event, Expectation, Load, PoolSpec, Scenario, Server, Tier};
use crate::strategy::{EnvBounds, FaultBounds, FaultKind, FaultWindow, Span};

/// The server's limit, scaled down from Redis's default 10000.
const MAXCLIENTS: u64 = 300;
/// gevent workers of seed 001, each with its own pool.
const WORKERS: u32 = 4;

fn unbounded_redis_py() -> PoolSpec {
    PoolSpec::profile("redis-py").with(Overrides {
        max_size: Some(Setting::Off),
        ..Overrides::default()
    })
}

/// Seed 001's shape: 4 workers, 400 users at once for 2 s, then 20 users for 3 s.
fn seed_001(name: &str, summary: &str, seed: u64, pool: PoolSpec, expect: Expectation) -> Scenario {
    Scenario::new(
        name,
        seed,
        5_000,
        vec![Tier::new("web", pool, 5_000).with_pools_per_instance(WORKERS)],
        Load::closed(400, Dist::fixed(40)).with_hold(Dist::Exponential { mean_ms: 10 }),
    )
    .with_summary(summary)
    .with_server(Server {
        maxclients: MAXCLIENTS,
        ..Server::default()
    })
    .with_event(Event::Load {
        at_ms: 2_000,
        users: Some(20),
        rate_factor: None,
    })
    .with_expect(expect)
    .with_sample_ms(250)
}

/// Seed 000's shape: 2,000 users on one pool for 1.5 s.
fn seed_000(name: &str, summary: &str, seed: u64, pool: PoolSpec, expect: Expectation) -> Scenario {
    Scenario::new(
        name,
        seed,
        1_500,
        vec![Tier::new("api", pool, 5_000)],
        Load::closed(2_000, Dist::fixed(100)),
    )
    .with_summary(summary)
    .with_expect(expect)
    .with_sample_ms(100)
}

/// Seed 001's server fix: `timeout 30` and a quiet period of 40 s between two bursts.
fn timeout_30(
    name: &str,
    summary: &str,
    seed: u64,
    pool: PoolSpec,
    expect: Expectation,
) -> Scenario {
    Scenario::new(
        name,
        seed,
        46_000,
        vec![Tier::new("web", pool, 5_000).with_pools_per_instance(WORKERS)],
        Load::closed(200, Dist::fixed(40)).with_hold(Dist::Exponential { mean_ms: 10 }),
    )
    .with_summary(summary)
    .with_server(Server {
        maxclients: MAXCLIENTS,
        timeout_secs: 30,
        ..Server::default()
    })
    .with_event(Event::IdleGap {
        at_ms: 3_000,
        duration_ms: 40_000,
    })
    .with_expect(expect)
    // 10 ms ticks (and links): the 40 s quiet period costs 4,000 steps, not 40,000.
    .with_ticks(10, 10)
}

/// The buggy runs, then the fixed ones.
#[must_use]
pub fn scenarios(seed: u64) -> Vec<Scenario> {
    let unbounded = seed_001(
        "redis-py-unbounded",
        "4 workers with unbounded redis-py pools (2**31), 400 users, maxclients 300",
        seed,
        unbounded_redis_py(),
        Expectation::reproduces(
            "server at maxclients ({peak_server_clients} clients), {errors.max_clients} requests refused with max number of clients reached, {final_server_clients} connections still open after the burst",
            vec![
                Check::eq("peak_server_clients", MAXCLIENTS as f64),
                Check::min("errors.max_clients", 50.0),
                Check::min("rejected_connections", 50.0),
                // The connections stay up after the burst: the pools never shrink.
                Check::eq("final_server_clients", MAXCLIENTS as f64),
            ],
        ),
    );

    let bounded_001 = seed_001(
        "bounded-wait-4x55",
        "the same load on 4 bounded waiting pools of 55 (recommended; 2,400 req/s x 22 ms)",
        seed,
        PoolSpec::profile("recommended").with(Overrides {
            max_size: Some(Setting::Value(55)),
            ..Overrides::default()
        }),
        Expectation::holds(
            "{errors.total} errors, server at most {peak_server_clients} clients of 300, pool wait p99 {pool_wait_ms.p99} ms",
            vec![
                Check::eq("errors.total", 0.0),
                Check::max("peak_server_clients", (4 * 55) as f64),
                Check::eq("rejected_connections", 0.0),
            ],
        ),
    );

    let failfast = seed_000(
        "aioredis-50",
        "aioredis 2 ConnectionPool(max_connections=50), fail fast, 2,000 users",
        seed,
        PoolSpec::profile("aioredis"),
        Expectation::reproduces(
            "{errors.too_many_connections} of {requests} requests failed with Too many connections while the server had at most {peak_server_clients} clients",
            vec![
                Check::min("error_fraction", 0.5),
                // The errors are all "Too many connections": Redis itself refuses nobody.
                Check::max("errors.other", 0.0),
                Check::max("errors.max_clients", 0.0),
                Check::max("peak_server_clients", 50.0),
            ],
        ),
    );

    let bounded_000 = seed_000(
        "bounded-wait-100",
        "the same 2,000 users on a waiting pool of 100 (recommended; 19,000 req/s x 4 ms = 77, rounded up)",
        seed,
        PoolSpec::profile("recommended").with(Overrides {
            max_size: Some(Setting::Value(100)),
            max_waiters: Some(Setting::Value(2_000)),
            ..Overrides::default()
        }),
        Expectation::holds(
            "{errors.total} errors in {requests} requests, server at most {peak_server_clients} clients, pool wait p99 {pool_wait_ms.p99} ms",
            vec![
                Check::eq("errors.total", 0.0),
                Check::max("peak_server_clients", 100.0),
            ],
        ),
    );

    let t30 = timeout_30(
        "server-timeout-30",
        "unbounded redis-py pools with server timeout 30 (seed 001's fix), 40 s quiet between bursts",
        seed,
        unbounded_redis_py(),
        Expectation::holds(
            "{server_idle_closes} idle connections closed by the server, {errors.total} errors: the peek on checkout reconnects (not when the quiet period ends near 30 s: docs/fuzzing.md)",
            vec![
                Check::eq("errors.total", 0.0),
                Check::min("server_idle_closes", 100.0),
            ],
        ),
    );

    let t30_stale = timeout_30(
        "server-timeout-30-no-check",
        "the same with a pool that does not check on checkout: seed 001's fix becomes incident A",
        seed,
        unbounded_redis_py().with(Overrides {
            max_size: Some(Setting::Off),
            check_on_checkout: Some(CheckWhenSpec::Never),
            ..Overrides::default()
        }),
        Expectation::reproduces(
            "{errors.eof} EOF errors after 40 s idle: the server closed {server_idle_closes} connections the pools still hold",
            vec![
                Check::min("errors.eof", 100.0),
                // Every error is an EOF.
                Check::max("errors.other", 0.0),
                Check::max("errors.max_clients", 0.0),
            ],
        ),
    );

    vec![
        unbounded,
        failfast,
        bounded_001,
        bounded_000,
        t30,
        t30_stale,
    ]
}

/// The server and network around every explosion claim: links of 1 to 3 ms, `hz` 1 to 100,
/// command latency up to 5 ms, connect latency up to 20 ms.
fn env(
    maxclients: Option<Span>,
    users: Span,
    think_ms: Span,
    load_ms: Span,
    faults: FaultBounds,
) -> EnvBounds {
    EnvBounds {
        link_latency_ticks: Span::new(1, 3),
        server_timeout_secs: None,
        server_timeout_off: false,
        hz: Span::new(1, 100),
        maxclients,
        command_latency_ms: Span::new(0, 5),
        connect_latency_ms: Span::new(0, 20),
        users: Some(users),
        think_mean_ms: Some(think_ms),
        rate_per_sec: None,
        bursts: None,
        hold_mean_ms: None,
        load_ms,
        idle_gap_ms: Some(Span::new(1_000, 10_000)),
        add_gap: true,
        after_gap_ms: Span::new(1_000, 5_000),
        faults,
    }
}

/// What the fixes promise: the server's clients stay within `maxclients` and no request
/// fails with "Too many connections" or `max number of clients reached` (nor is a connect
/// refused for `maxclients`).
///
/// - `bounded-wait-4x55`: 4 pools of at most 55 connections are at most 220 clients, so the
///   claim assumes `maxclients` of at least 220, also when a `CONFIG SET maxclients` changes
///   it mid-run (drawn from 220 up; the limit checked is the lowest the case sets); any load
///   (up to 800 users, twice the stated 400), a restart, a kill of every client, connections
///   refused (up to 1 s) or a `CONFIG SET timeout` (1 to 300 s) anywhere, an idle gap.
/// - `bounded-wait-100`: one pool of at most 100: `maxclients` of at least 100 (a CONFIG SET
///   from 100 up); up to 3,000 users (1.5 times the stated 2,000), the same faults, an idle
///   gap.
/// - `server-timeout-30`: seed 001's server fix with unbounded pools checking on checkout:
///   no request reads EOF either; an unbounded pool holds at most one connection per user,
///   so the claim assumes no more users (up to 300) than the server's `maxclients` 300; any
///   quiet period from 1 to 120 s; connections refused and a `CONFIG SET maxclients` from
///   300 up anywhere. No restart or kill (a restart under load fails requests with EOF,
///   which the fix does not claim to prevent) and no `CONFIG SET timeout` (the timeout of 30
///   s is the fix: another value is another fix).
#[must_use]
pub fn claims() -> Vec<Claim> {
    let explosion_free = || {
        vec![
            ClaimCheck::at_most("peak_server_clients", Limit::ServerMaxclients),
            ClaimCheck::none("rejected_connections"),
            ClaimCheck::none("errors.too_many_connections"),
            ClaimCheck::none("errors.max_clients"),
        ]
    };
    // `room`: the least maxclients the fix assumes (a CONFIG SET maxclients is drawn from it).
    let faults = |room: u64| {
        FaultBounds::some(
            &[
                FaultKind::Restart,
                FaultKind::KillAllClients,
                FaultKind::RefuseConnections,
                FaultKind::ConfigSetTimeout,
                FaultKind::ConfigSetMaxclients,
            ],
            2,
            FaultWindow::Anywhere,
        )
        .with_config(Span::new(1, 300), Span::new(room, 10_000))
    };
    let mut timeout_checks = explosion_free();
    timeout_checks.push(ClaimCheck::none("errors.eof"));
    // Connections refused and a CONFIG SET maxclients that keeps room for every user; not
    // a CONFIG SET timeout: `timeout 30` is the fix itself, another value another fix.
    let quiet_faults = FaultBounds::some(
        &[FaultKind::RefuseConnections, FaultKind::ConfigSetMaxclients],
        2,
        FaultWindow::Anywhere,
    )
    .with_config(Span::exactly(30), Span::new(MAXCLIENTS, 10_000));
    let mut quiet = env(
        None,
        Span::new(1, 300),
        Span::new(10, 100),
        Span::new(1_000, 5_000),
        quiet_faults,
    );
    quiet.idle_gap_ms = Some(Span::new(1_000, 120_000));
    quiet.add_gap = false;
    vec![
        Claim {
            incident: "explosion".to_owned(),
            run: "bounded-wait-4x55".to_owned(),
            promise: "4 bounded waiting pools of 55 never pass maxclients: no refusal, no Too many connections, no max clients error".to_owned(),
            checks: explosion_free(),
            bounds: env(
                Some(Span::new(220, 10_000)),
                Span::new(1, 800),
                Span::new(10, 100),
                Span::new(1_000, 5_000),
                faults(220),
            ),
            assumes: "maxclients >= 4 x 55 = 220 (the fleet's bound), also when CONFIG SET changes it (220 to 10,000); up to 800 users; restarts, kills, connections refused and CONFIG SET timeout (1 to 300 s) anywhere".to_owned(),
        },
        Claim {
            incident: "explosion".to_owned(),
            run: "bounded-wait-100".to_owned(),
            promise: "a bounded waiting pool of 100 never passes maxclients: no refusal, no Too many connections, no max clients error".to_owned(),
            checks: explosion_free(),
            bounds: env(
                Some(Span::new(100, 10_000)),
                Span::new(1, 3_000),
                Span::new(50, 200),
                Span::new(500, 3_000),
                faults(100),
            ),
            assumes: "maxclients >= 100 (the pool's bound), also when CONFIG SET changes it (100 to 10,000); up to 3,000 users; restarts, kills, connections refused and CONFIG SET timeout (1 to 300 s) anywhere".to_owned(),
        },
        Claim {
            incident: "explosion".to_owned(),
            run: "server-timeout-30".to_owned(),
            promise: "server timeout 30 brings idle connections back down and the peek on checkout reconnects: no EOF, no refusal, no max clients error".to_owned(),
            checks: timeout_checks,
            bounds: quiet,
            assumes: "users <= maxclients 300 (an unbounded pool holds one connection per user at most), also when CONFIG SET changes maxclients (300 to 10,000); any quiet period up to 120 s; connections refused anywhere; no restart or kill (a restart under load fails requests with EOF), no CONFIG SET timeout (timeout 30 is the fix)".to_owned(),
        },
    ]
}
