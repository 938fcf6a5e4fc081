//! Incident A: stale pooled connections -> EOF.
//!
//! Write-up: `../shared/seeds/003_486d6b170377b43f.txt` (a Go web server on radix.v2, pool
//! of 3, Redis `timeout 300`; restated in `../shared/INCIDENTS.md`, A).
//!
//! The buggy run shows it: a radix.v2-like pool (FIFO channel keeping 3 idle connections, no
//! check on checkout) serves 6 users for 20 s, the service idles 305 s, Redis closes the three
//! idle connections silently after 300 s, and when the users come back exactly 3 requests read
//! EOF (one per stale connection); then every request succeeds again.
//!
//! The fixed runs hold (0 errors): a peek on checkout (redis-py `can_read`, go-redis
//! `connCheck`), a client idle timeout below the server's (ngx_lua
//! `set_keepalive(max_idle_timeout)`: 240 s), and a keepalive PING of every idle connection
//! every 60 s. Retry once on a connection error (the write-up's temporary fix, a retry through
//! the pool as radix.v2's `p.Cmd` would do) is *not* enough: the first request back reads EOF,
//! its retry takes the second stale connection and reads EOF again, so 1 request of the 3 still
//! fails (2 retries, 1 error); the run asserts exactly that. Seed 003's own fix, one PING per
//! interval through the FIFO pool, touches each of
//! the 3 connections every third interval: with 120 s (3 x 120 = 360 > 300) a connection still
//! dies between two of its pings and a request reads EOF; with 90 s (270 < 300) it holds.
//!
//! Where the peek does not hold (`check-on-checkout-race`, finding 1 of docs/fuzzing.md): the
//! same pool and peek, the users stopping at 19.5 s and coming back at 320 s, the instant the
//! server's cron closes the three idle connections (idle 301 whole seconds). The FIN is one
//! 10 ms link away, the peek sees an open socket, and 3 requests read EOF, as with no check.
//!
//! Scale: the write-up's own (pool 3, timeout 300, a gap just over 300 s). turmoil ticks of
//! 10 ms (links 10 ms one way) keep the 345 s run at about 35,000 steps; nothing here needs a
//! finer clock (Redis's timeout is in whole seconds).

use crate::claims::{Claim, ClaimCheck};
use crate::knobs::{CheckHowSpec, CheckWhenSpec, Overrides, ScopeSpec, Setting};
use crate::scenario::{
    Check, Dist, Event, Expectation, Load, Outcome, PoolSpec, Retry, Scenario, Server, Tier,
};
use crate::strategy::{EnvBounds, FaultBounds, FaultKind, FaultWindow, Span};

/// Load before and after the gap.
const PHASE_MS: u64 = 20_000;
/// The idle gap: longer than the server's `timeout 300` by more than its scan delay.
const GAP_MS: u64 = 305_000;
/// The server's idle timeout (seed 003).
const TIMEOUT_SECS: u64 = 300;
/// `check-on-checkout-race`: the users stop half a second early, so that every connection's
/// last use falls in second 19 ...
const RACE_GAP_AT_MS: u64 = PHASE_MS - 500;
/// ... and come back at 320 s, when the server's cron (every 100 ms at `hz 10`) finds them idle
/// 320 - 19 = 301 whole seconds, more than its `timeout 300`, and closes them.
const RACE_GAP_END_MS: u64 = PHASE_MS + TIMEOUT_SECS * 1000;

fn base(name: &str, summary: &str, seed: u64, pool: PoolSpec, outcome: Outcome) -> Scenario {
    let expect = match outcome {
        Outcome::Reproduces => Expectation::reproduces(
            "{errors.eof} EOF errors after 305 s idle, then {succeeded_after_last_error} requests ok",
            vec![
                Check::eq("errors.eof", 3.0),
                Check::eq("errors.total", 3.0),
                Check::min("first_error_ms", (PHASE_MS + GAP_MS) as f64),
                Check::min("succeeded_after_last_error", 100.0),
                Check::min("server_idle_closes", 3.0),
            ],
        ),
        Outcome::Holds | Outcome::Either => Expectation::holds(
            "{errors.total} errors after 305 s idle ({requests} requests)",
            vec![
                Check::eq("errors.total", 0.0),
                Check::min("succeeded", 1000.0),
            ],
        ),
    };
    Scenario::new(
        name,
        seed,
        2 * PHASE_MS + GAP_MS,
        vec![Tier::new("app", pool, 5_000)],
        Load::closed(
            6,
            Dist::Uniform {
                min_ms: 50,
                max_ms: 150,
            },
        ),
    )
    .with_summary(summary)
    .with_server(Server {
        timeout_secs: TIMEOUT_SECS,
        ..Server::default()
    })
    .with_event(Event::IdleGap {
        at_ms: PHASE_MS,
        duration_ms: GAP_MS,
    })
    .with_expect(expect)
    .with_ticks(10, 10)
    .with_sample_ms(5_000)
}

fn radix(overrides: Overrides) -> PoolSpec {
    PoolSpec::profile("radix-v2").with(overrides)
}

/// Seed 003's fix: one PING per `interval_ms` through the pool.
fn ping_fix(interval_ms: u64) -> PoolSpec {
    radix(Overrides {
        keepalive_interval_ms: Some(Setting::Value(interval_ms)),
        keepalive_scope: Some(ScopeSpec::OnePerInterval),
        ..Overrides::default()
    })
}

/// The buggy run, then the fixed ones.
#[must_use]
pub fn scenarios(seed: u64) -> Vec<Scenario> {
    let mut retry = base(
        "retry-once",
        "radix-v2 with retry once on a connection error, through the pool (seed 003's temporary fix)",
        seed,
        radix(Overrides::default()),
        Outcome::Reproduces,
    );
    retry.tiers[0].retry = Retry::OnceOnConnectionError;
    retry.expect.signature =
        "{errors.eof} EOF error left after {retries} retries: a retry took another stale connection"
            .to_owned();
    retry.expect.checks = vec![
        Check::eq("errors.eof", 1.0),
        Check::eq("errors.total", 1.0),
        Check::eq("retries", 2.0),
        Check::min("succeeded_after_last_error", 100.0),
    ];

    let mut incomplete = base(
        "ping-fix-120s",
        "seed 003's fix: one PING per 120 s through a FIFO pool of 3 (3 x 120 s > timeout 300)",
        seed,
        ping_fix(120_000),
        Outcome::Reproduces,
    );
    incomplete.expect.signature =
        "{errors.eof} EOF errors although one connection is pinged every 120 s".to_owned();
    incomplete.expect.checks = vec![
        Check::min("errors.eof", 1.0),
        // Measured: only the connection that went longest without a ping dies before the
        // users come back (docs/incidents.md).
        Check::eq("errors.total", 1.0),
        Check::min("succeeded_after_last_error", 100.0),
    ];

    // Where the peek does not hold (poolsim fuzz, docs/fuzzing.md): a gap that ends as the
    // server's cron closes the connection, its FIN still on the wire. The verdict says so, and
    // `check-on-checkout-race` shows it.
    let mut peek = base(
        "check-on-checkout",
        "the same pool with a peek on every checkout (redis-py can_read, go-redis connCheck)",
        seed,
        radix(Overrides {
            check_on_checkout: Some(CheckWhenSpec::Always),
            check_how: Some(CheckHowSpec::Peek),
            ..Overrides::default()
        }),
        Outcome::Holds,
    );
    peek.expect.signature = "{errors.total} errors after 305 s idle ({requests} requests); not \
        when a gap ends as the server closes: check-on-checkout-race, docs/fuzzing.md"
        .to_owned();

    // Finding 1 of docs/fuzzing.md as a run: the gap ends the instant the server's cron
    // closes the idle connections. The users stop at 19.5 s, so every connection's last use
    // falls in second 19; at 320.000 s its idle time is 301 whole seconds (> 300) and the cron
    // closes all three; the users come back at the same instant, the peek finds nothing to
    // read (the FIN is a 10 ms link away), and each stale connection fails one request with
    // EOF: as many as without any check.
    let mut race = base(
        "check-on-checkout-race",
        "the same peek on checkout, the gap ending (320 s) as Redis's cron closes the idle connections: their FIN is still on the wire",
        seed,
        radix(Overrides {
            check_on_checkout: Some(CheckWhenSpec::Always),
            check_how: Some(CheckHowSpec::Peek),
            ..Overrides::default()
        }),
        Outcome::Reproduces,
    );
    race.timeline = vec![Event::IdleGap {
        at_ms: RACE_GAP_AT_MS,
        duration_ms: RACE_GAP_END_MS - RACE_GAP_AT_MS,
    }];
    race.duration_ms = RACE_GAP_END_MS + PHASE_MS;
    race.expect.signature = "{errors.eof} EOF errors at {first_error_ms} ms although every \
        checkout peeks: the gap ended as the server's cron closed the {server_idle_closes} idle \
        connections, their FIN one link away (docs/fuzzing.md, finding 1)"
        .to_owned();
    race.expect.checks = vec![
        // One per idle connection, as without any check (radix-v2).
        Check::eq("errors.eof", 3.0),
        Check::eq("errors.total", 3.0),
        // At the gap's end, within one link latency and the command.
        Check::between(
            "first_error_ms",
            RACE_GAP_END_MS as f64,
            (RACE_GAP_END_MS + 100) as f64,
        ),
        Check::eq("server_idle_closes", 3.0),
        Check::min("succeeded_after_last_error", 100.0),
    ];

    vec![
        base(
            "radix-v2",
            "radix.v2 pool of 3, no check on checkout, server timeout 300, 305 s idle",
            seed,
            radix(Overrides::default()),
            Outcome::Reproduces,
        ),
        peek,
        base(
            "client-idle-timeout",
            "a client idle timeout of 240 s, below the server's 300 (ngx_lua set_keepalive)",
            seed,
            radix(Overrides {
                idle_timeout_ms: Some(Setting::Value(240_000)),
                ..Overrides::default()
            }),
            Outcome::Holds,
        ),
        base(
            "keepalive-every-idle",
            "a PING to every connection idle 60 s (HikariCP keepaliveTime, Jedis testWhileIdle)",
            seed,
            radix(Overrides {
                keepalive_interval_ms: Some(Setting::Value(60_000)),
                keepalive_scope: Some(ScopeSpec::EveryIdle),
                ..Overrides::default()
            }),
            Outcome::Holds,
        ),
        retry,
        incomplete,
        base(
            "ping-fix-90s",
            "seed 003's fix with one PING per 90 s (3 x 90 s < timeout 300)",
            seed,
            ping_fix(90_000),
            Outcome::Holds,
        ),
        race,
    ]
}

/// The environment of every stale-eof claim but the server's `timeout` and the faults: links
/// of 1 to 3 ticks (10 to 30 ms), `hz` 1 to 100, command and connect latency up to 20 ms, 1
/// to 12 users thinking 10 to 300 ms on average, 1 to 30 s of load on each side of an idle
/// gap of 1 to 500 s.
fn env(timeout_secs: Span, faults: FaultBounds) -> EnvBounds {
    EnvBounds {
        link_latency_ticks: Span::new(1, 3),
        server_timeout_secs: Some(timeout_secs),
        server_timeout_off: true,
        hz: Span::new(1, 100),
        maxclients: None,
        command_latency_ms: Span::new(0, 20),
        connect_latency_ms: Span::new(0, 20),
        users: Some(Span::new(1, 12)),
        think_mean_ms: Some(Span::new(10, 300)),
        rate_per_sec: None,
        bursts: None,
        hold_mean_ms: None,
        load_ms: Span::new(1_000, 30_000),
        idle_gap_ms: Some(Span::new(1_000, 500_000)),
        add_gap: false,
        after_gap_ms: Span::new(1_000, 30_000),
        faults,
    }
}

/// Room on the server for every user (the claims draw 1 to 12 users, each holding at most one
/// connection): a `CONFIG SET maxclients` is drawn from 12 up. Below that a request fails
/// with `max number of clients reached`, which is not an EOF but not the deployment either.
const ROOM: Span = Span::new(12, 10_000);

/// Faults that close nothing the pool holds: connections refused for up to 1 s, `CONFIG SET
/// timeout` within `timeout_secs` (what the fix assumes of the server's timeout), `CONFIG SET
/// maxclients` of at least [`ROOM`]; up to two, anywhere.
fn survivable(timeout_secs: Span) -> FaultBounds {
    FaultBounds::some(
        &[
            FaultKind::RefuseConnections,
            FaultKind::ConfigSetTimeout,
            FaultKind::ConfigSetMaxclients,
        ],
        2,
        FaultWindow::Anywhere,
    )
    .with_config(timeout_secs, ROOM)
}

/// What the fixes promise: no request reads EOF (`errors.eof == 0`), each within the server
/// `timeout`s it is meant for.
///
/// - `check-on-checkout`: any `timeout` (10 to 400 s, or none) and the server closing every
///   client or restarting while the service idles: the peek sees the close before the
///   command is sent.
/// - `client-idle-timeout`: the pool closes connections idle 240 s itself, so it assumes the
///   server's `timeout` stays above 240 s (241 to 400 s, or none).
/// - `keepalive-every-idle`: a PING to every connection idle 60 s: a `timeout` above 60 s.
/// - `ping-fix-90s`: one PING per 90 s through a FIFO pool keeping 3 idle connections touches
///   each every 270 s: a `timeout` above 270 s.
///
/// Every claim includes connections refused for up to 1 s and `CONFIG SET timeout` /
/// `maxclients` mid-run (`survivable`): a refused connect fails with a connection error, not
/// an EOF, and the CONFIG SET timeout is drawn within the timeouts the fix assumes (the peek:
/// 10 to 400 s; the others their own bounds above), maxclients from 12 (every user has room).
/// The last three do not claim to survive a restart or a kill of all clients (nothing in them
/// looks at a connection before using it): those two faults are left out of their bounds.
#[must_use]
pub fn claims() -> Vec<Claim> {
    let claim =
        |run: &str, promise: &str, timeout: Span, faults: FaultBounds, assumes: &str| Claim {
            incident: "stale-eof".to_owned(),
            run: run.to_owned(),
            promise: promise.to_owned(),
            checks: vec![ClaimCheck::none("errors.eof")],
            bounds: env(timeout, faults),
            assumes: assumes.to_owned(),
        };
    vec![
        claim(
            "check-on-checkout",
            "no request reads EOF: the peek on checkout sees a connection the server closed",
            Span::new(10, 400),
            FaultBounds::some(
                &[
                    FaultKind::KillAllClients,
                    FaultKind::Restart,
                    FaultKind::RefuseConnections,
                    FaultKind::ConfigSetTimeout,
                    FaultKind::ConfigSetMaxclients,
                ],
                2,
                FaultWindow::DuringIdleGaps,
            )
            .with_config(Span::new(10, 400), ROOM),
            "nothing of the server's timing: any timeout, any gap, clients killed, the server restarted, connections refused, CONFIG SET timeout (10 to 400 s) or maxclients (12 and up: room for every user) while the service idles",
        ),
        claim(
            "client-idle-timeout",
            "no request reads EOF: the pool closes connections idle 240 s before the server does",
            Span::new(241, 400),
            survivable(Span::new(241, 400)),
            "the server's timeout stays above the pool's idle timeout of 240 s (or is off), also when CONFIG SET changes it (241 to 400 s); connections refused and CONFIG SET maxclients (12 and up: room for every user) anywhere; no restart or kill",
        ),
        claim(
            "keepalive-every-idle",
            "no request reads EOF: every connection idle 60 s is pinged, so the server never sees it idle for its timeout",
            Span::new(61, 400),
            survivable(Span::new(61, 400)),
            "the server's timeout stays above the keepalive interval of 60 s (or is off), also when CONFIG SET changes it (61 to 400 s); connections refused and CONFIG SET maxclients (12 and up) anywhere; no restart or kill",
        ),
        claim(
            "ping-fix-90s",
            "no request reads EOF: one PING per 90 s through a FIFO pool of 3 idle connections touches each every 270 s",
            Span::new(271, 400),
            survivable(Span::new(271, 400)),
            "the server's timeout stays above 3 x 90 s = 270 s (or is off), also when CONFIG SET changes it (271 to 400 s); connections refused and CONFIG SET maxclients (12 and up) anywhere; no restart or kill",
        ),
    ]
}
