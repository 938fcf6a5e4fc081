//! Incident E: the hung server (read timeouts).
//!
//! Write-up: `../shared/seeds/004_14f86ea6c25646ad.txt` (redis-py in production: set
//! `socket_timeout`, "to keep the service from hanging when a read from Redis times out");
//! the client facts are `../shared/FAILOVER-FACTS.md` ("Clients", "Incidents with numbers":
//! go-redis #1912/#2046, connection churn) and issue #16.
//!
//! The master stops answering without closing anything: a slow command, a fork or swap
//! stall (the timeline's `stall`, `DEBUG SLEEP`'s effect). Connections stay open, the kernel
//! still accepts new ones, and every command waits until the stall ends. What the callers
//! see depends on the client library above the pool (`Tier::client`, [`crate::client`]):
//!
//! - **`redis-py-7-no-timeout`** (buggy): redis-py 6–7's default `socket_timeout` is None.
//!   Every request that reaches Redis during the stall holds its connection for the whole
//!   stall; the blocking pool's 50 connections are soon all held, later requests wait for
//!   the pool (its 20 s timeout, longer than the callers' 1 s deadline), and every caller
//!   times out: the cascade of incident C, caused by a server that never answers.
//! - **`go-redis-v9.21-defaults`** (buggy): go-redis v9.0–v9.21's defaults, `ReadTimeout`
//!   3 s and 3 retries with back-off 8–512 ms on timeouts. Each timeout closes a connection
//!   and the retry dials another (whose handshake hangs too), so the pool keeps opening
//!   connections while nothing is served: twice as many connects as the pool has slots within
//!   the stall (the churn of go-redis #1912 and #2046, bounded here by the pool's 20 slots and
//!   the handshake's 5 s bound; their "tens of thousands" took hours of a slow server), and the
//!   callers still time out, because 3 s is three times their deadline.
//! - **`read-timeout-below-deadline`** (fixed): redis-py 7 with `socket_timeout` 200 ms, one
//!   retry after a back-off of at most 100 ms, and a pool wait of 200 ms: every try is
//!   bounded (200 ms wait + 200 ms read), and both tries plus the back-off (900 ms) fit in
//!   the callers' 1 s deadline. Callers get a fast `read_timeout` (or pool-timeout) error
//!   during the stall instead of hanging, no request outlives its deadline, and service
//!   resumes as soon as Redis does.
//!
//! Scale: two tiers (`web` calls `api`, 1 s deadlines), 200 requests a second (Poisson) for
//! 12 s, a stall from 2 s to 10 s. The mechanism does not depend on the scale.

use crate::claims::{Claim, ClaimCheck, Limit};
use crate::client::{ClientOverrides, ClientSpec, RetryOverrides};
use crate::knobs::{Overrides, Setting};
use crate::scenario::{
    Arrivals, Check, Command, Event, Expectation, Load, PoolSpec, Scenario, Server, Tier,
};
use crate::strategy::{BurstBounds, EnvBounds, FaultBounds, FaultKind, FaultWindow, Rate, Span};

/// The callers' deadline at both tiers.
pub const DEADLINE_MS: u64 = 1_000;
/// Arrivals per second at `web`.
pub const RATE: f64 = 200.0;
/// When the server stalls, and for how long.
pub const STALL_AT_MS: u64 = 2_000;
/// How long the stall lasts.
pub const STALL_MS: u64 = 8_000;

fn chain(pool: PoolSpec, client: ClientSpec) -> Vec<Tier> {
    vec![
        Tier::new("web", PoolSpec::default(), DEADLINE_MS).calling("api"),
        Tier::new("api", pool, DEADLINE_MS).with_client(client),
    ]
}

fn base(
    name: &str,
    summary: &str,
    seed: u64,
    pool: PoolSpec,
    client: ClientSpec,
    expect: Expectation,
) -> Scenario {
    Scenario::new(
        name,
        seed,
        12_000,
        chain(pool, client),
        Load::open(Arrivals::Poisson { rate_per_sec: RATE }).with_command(Command::Echo),
    )
    .with_summary(summary)
    .with_server(Server {
        command_latency_ms: 1,
        ..Server::default()
    })
    .with_event(Event::Stall {
        at_ms: STALL_AT_MS,
        duration_ms: STALL_MS,
    })
    .with_drain_limit_ms(30_000)
    .with_expect(expect)
    .with_sample_ms(250)
}

/// The buggy runs, then the fixed one.
#[must_use]
pub fn scenarios(seed: u64) -> Vec<Scenario> {
    let no_timeout = base(
        "redis-py-7-no-timeout",
        "web -> api, 1 s deadlines, 200 req/s; Redis stalls 8 s; api: redis-py 7 (no socket_timeout), blocking pool of 50 (wait 20 s)",
        seed,
        PoolSpec::profile("redis-py-blocking").with(Overrides {
            max_size: Some(Setting::Value(50)),
            ..Overrides::default()
        }),
        ClientSpec::profile("redis-py-7"),
        Expectation::reproduces(
            "{errors.deadline_exceeded} of {requests} requests timed out at web (deadline 1000 ms, p99 {latency_ms.p99} ms), {errors.read_timeout} read timeouts, up to {peak_waiters} waiters in api's pool, Redis at {server_ops_per_sec} ops/s: the requests nobody waits for any more run when the stall ends",
            vec![
                Check::min("error_fraction", 0.5),
                Check::between("latency_ms.p99", 990.0, 1_010.0),
                Check::eq("errors.read_timeout", 0.0),
                Check::min("peak_waiters", 1_000.0),
            ],
        ),
    );
    let go_redis = base(
        "go-redis-v9.21-defaults",
        "the same stall; api: go-redis v9.21 defaults (ReadTimeout 3 s, 3 retries, back-off 8-512 ms), its pool",
        seed,
        PoolSpec::profile("go-redis-v9"),
        ClientSpec::profile("go-redis-v9.21"),
        Expectation::reproduces(
            "{errors.deadline_exceeded} of {requests} requests timed out at web (a 3 s read timeout for a 1 s deadline, p99 {latency_ms.p99} ms), {retries} retries, {server_connects} connects to Redis (peak {peak_connects_per_sec}/s) for a pool of {peak_pool_connections}",
            vec![
                Check::min("error_fraction", 0.5),
                Check::between("latency_ms.p99", 990.0, 1_010.0),
                Check::min("retries", 1.0),
                // Every timed-out connection is closed and another dialled: more connects
                // than the pool has slots (20), within the 8 s stall.
                Check::min("server_connects", 30.0),
            ],
        ),
    );
    let fixed = base(
        "read-timeout-below-deadline",
        "the same stall; api: redis-py 7 with socket_timeout 200 ms, 1 retry (back-off <= 100 ms), pool of 50 waiting 200 ms: both tries fit the 1 s deadline",
        seed,
        PoolSpec::profile("redis-py-blocking").with(Overrides {
            max_size: Some(Setting::Value(50)),
            pool_timeout_ms: Some(Setting::Value(200)),
            ..Overrides::default()
        }),
        ClientSpec::profile("redis-py-7").with(ClientOverrides {
            read_timeout_ms: Some(Setting::Value(200)),
            retry: RetryOverrides {
                attempts: Some(1),
                backoff_base_ms: Some(25),
                backoff_cap_ms: Some(100),
                ..RetryOverrides::default()
            },
            ..ClientOverrides::default()
        }),
        Expectation::holds(
            "{errors.deadline_exceeded} requests past the deadline; the stall fails fast: {errors.pool_timeout} pool timeouts and {errors.read_timeout} read timeouts in {requests} requests after {retries} retries, p99 {latency_ms.p99} ms, max {latency_ms.max} ms; {server_connects} connects (peak {peak_connects_per_sec}/s)",
            vec![
                Check::eq("errors.deadline_exceeded", 0.0),
                Check::max("latency_ms.max", 950.0),
                Check::max("latency_ms.p99", 500.0),
            ],
        ),
    );
    vec![no_timeout, go_redis, fixed]
}

/// What the fix promises: no request waits past its caller's deadline
/// (`errors.deadline_exceeded == 0`) and web's p99 stays below it, whatever the stall.
///
/// Bounds: the scenario's stall (8 s, remapped with the load's length), 20 to 400 requests
/// a second (Poisson, constant or bursts of up to twice the rate), command latency up to
/// 5 ms with links of 1 or 2 ms, connect latency up to 20 ms, `hz` 1 to 100, 4 to 16 s of
/// load, and up to two more faults anywhere: a restart (down up to 1 s), a kill of every
/// client, a latency spike, another stall (100 ms to 10 s), connections refused (up to 1 s), a
/// `CONFIG SET timeout` (1 to 300 s) or a `CONFIG SET maxclients` from 50 (the pool's size)
/// up. The fix bounds every try (a 200 ms pool wait, a 200 ms read
/// timeout per command, one retry after at most 100 ms), so the bound does not depend on
/// the load; a SET+GET command mix would double the read time and is not in the claim.
#[must_use]
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        incident: "hung-server".to_owned(),
        run: "read-timeout-below-deadline".to_owned(),
        promise: "no request waits past its caller's deadline, and web's p99 stays below it, while Redis stalls".to_owned(),
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
            command_latency_ms: Span::new(0, 5),
            connect_latency_ms: Span::new(0, 20),
            users: None,
            think_mean_ms: None,
            rate_per_sec: Some(Rate {
                min: 20.0,
                max: 2.0 * RATE,
            }),
            bursts: Some(BurstBounds {
                factor_tenths: Span::new(10, 20),
                burst_ms: Span::new(50, 500),
                every_ms: Span::new(1_000, 4_000),
            }),
            hold_mean_ms: None,
            load_ms: Span::new(4_000, 16_000),
            idle_gap_ms: None,
            add_gap: false,
            after_gap_ms: Span::new(1_000, 1_000),
            faults: FaultBounds::some(
                &[
                    FaultKind::Restart,
                    FaultKind::KillAllClients,
                    FaultKind::LatencySpike,
                    FaultKind::Stall,
                    FaultKind::RefuseConnections,
                    FaultKind::ConfigSetTimeout,
                    FaultKind::ConfigSetMaxclients,
                ],
                2,
                FaultWindow::Anywhere,
            )
            .with_config(Span::new(1, 300), Span::new(50, 10_000)),
        },
        assumes: "the fix's bounds per try (200 ms pool wait, 200 ms read timeout, one retry after at most 100 ms) with single-command requests; up to 400 req/s, command latency up to 5 ms; room on the server for the pool's 50 connections (a CONFIG SET maxclients from 50 up); restarts, kills, latency spikes, stalls of 100 ms to 10 s, connections refused (up to 1 s) and CONFIG SET timeout (1 to 300 s) anywhere besides the scenario's stall".to_owned(),
    }]
}
