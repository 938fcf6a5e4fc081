//! Incident D: a Sentinel failover, and the clients that do not follow it.
//!
//! Write-up: `../shared/seeds/004_14f86ea6c25646ad.txt` (redis-py in production behind
//! Sentinel); the server, Sentinel and client facts are `../shared/FAILOVER-FACTS.md`
//! (Sentinel's promotion transaction and `+switch-master`, READONLY, the client table;
//! redis-py #460 and #1764: a client pinned to an address keeps writing to a demoted master)
//! and `../shared/INCIDENTS.md` section D.
//!
//! The master (`redis`) dies at 5 s and comes back 10 s later; one replica
//! (`redis-replica-1`) and one Sentinel (`down-after-milliseconds` 5 s) watch it. Sentinel
//! sees no PING reply for 5 s, promotes the replica with its `MULTI; SLAVEOF NO ONE; CONFIG
//! REWRITE; CLIENT KILL ...; EXEC` and publishes `+switch-master`. When the old master comes
//! back it still says `role:master` (its configuration was not rewritten while it was down),
//! and Sentinel converts it into a replica of the new master 8 s after it first reports so
//! (`SENTINEL_PUBLISH_PERIOD * 4`). What the callers see depends on how the client finds the
//! master (`Tier::client`, [`crate::client`]):
//!
//! - **`pinned-to-address`** (buggy): redis-py 7's plain `Redis(host, port)` pointed at the
//!   master's address (a DNS name or VIP that nobody moves). While the master is down every
//!   connect is refused; when it comes back, the writes it accepts until Sentinel converts it
//!   are the split brain (lost: the new master never sees them); after the conversion every
//!   `SET` is answered `-READONLY`, and redis-py keeps the connection (`ReadOnlyError`, no
//!   reconnect), so the errors go on until the application is restarted.
//! - **`sentinel-discovery`** (fixed): redis-py 8.1 with `Sentinel.master_for`: the master's
//!   address is asked of Sentinel on every new connection, and READONLY disconnects. Requests
//!   fail from the crash until the switch (the detection window: `down-after-milliseconds` and
//!   the promotion), and not after: no write reaches the old master once it is back, and none
//!   is answered READONLY.
//!
//! Scale: one tier of 4 pods, 100 requests a second (Poisson, `SET` then `GET`), 1 s
//! deadlines, 45 s at 10 ms ticks. The mechanism does not depend on the scale. Only the turmoil engine
//! simulates replicas and Sentinel (docs/architecture.md), so the incident has no fuzzer
//! claim yet.

use crate::client::ClientSpec;
use crate::scenario::{
    Arrivals, Check, Command, Event, Expectation, Load, PoolSpec, Scenario, SentinelSpec, Server,
    Tier, Topology,
};

/// The callers' deadline.
pub const DEADLINE_MS: u64 = 1_000;
/// Arrivals per second.
pub const RATE: f64 = 100.0;
/// When the master dies.
pub const CRASH_AT_MS: u64 = 5_000;
/// How long it stays down.
pub const DOWN_MS: u64 = 10_000;
/// When the planned failover (`SENTINEL FAILOVER`) is asked for.
pub const PLANNED_AT_MS: u64 = 5_000;
/// Sentinel's `down-after-milliseconds`.
pub const DOWN_AFTER_MS: u64 = 5_000;
/// The run's length.
pub const DURATION_MS: u64 = 45_000;

/// What happens to the master.
#[derive(Clone, Copy)]
enum Fault {
    /// It dies at [`CRASH_AT_MS`] for [`DOWN_MS`].
    Crash,
    /// `SENTINEL FAILOVER` at [`PLANNED_AT_MS`]; it stays up.
    Planned,
}

fn base(
    name: &str,
    summary: &str,
    seed: u64,
    (pool, client): (PoolSpec, ClientSpec),
    fault: Fault,
    expect: Expectation,
) -> Scenario {
    let event = match fault {
        Fault::Crash => Event::Restart {
            at_ms: CRASH_AT_MS,
            down_ms: DOWN_MS,
        },
        Fault::Planned => Event::SentinelFailover {
            at_ms: PLANNED_AT_MS,
        },
    };
    Scenario::new(
        name,
        seed,
        DURATION_MS,
        vec![
            Tier::new("app", pool, DEADLINE_MS)
                .with_instances(4)
                .with_client(client),
        ],
        Load::open(Arrivals::Poisson { rate_per_sec: RATE }).with_command(Command::SetGet),
    )
    .with_summary(summary)
    .with_server(Server {
        command_latency_ms: 1,
        topology: Some(Topology {
            replicas: 1,
            sentinel: Some(SentinelSpec {
                down_after_ms: DOWN_AFTER_MS,
                failover_timeout_ms: 60_000,
                ..SentinelSpec::default()
            }),
        }),
        ..Server::default()
    })
    .with_event(event)
    // 10 ms ticks (and links): Sentinel's periods are 100 ms to 10 s, and 45 s at 1 ms
    // ticks would cost 45,000 steps a run for nothing the incident depends on.
    .with_ticks(10, 10)
    // go-redis's tries (4 x a 5 s read timeout) are within it.
    .with_drain_limit_ms(60_000)
    .with_expect(expect)
    .with_sample_ms(1_000)
}

/// redis-py's own pool (`Redis(host, port)` and `Sentinel.master_for` both use a
/// `ConnectionPool`: a request that finds no idle connection connects for itself, and a failed
/// connect fails that request, no retry inside the pool), with the client `profile`.
fn redis_py(profile: &str) -> (PoolSpec, ClientSpec) {
    (PoolSpec::profile("redis-py"), ClientSpec::profile(profile))
}

/// The buggy runs, then the fixed ones.
#[must_use]
pub fn scenarios(seed: u64) -> Vec<Scenario> {
    let pinned = base(
        "pinned-to-address",
        "app: redis-py 7 Redis(host, port) on the master's address; the master dies at 5 s for 10 s, Sentinel (down-after 5 s) promotes the replica, and converts the old master when it is back",
        seed,
        redis_py("redis-py-7"),
        Fault::Crash,
        Expectation::reproduces(
            "{failovers} failover at {first_switch_ms} ms; {split_brain_writes} writes accepted by the old master after it came back (split brain), then {errors.readonly} writes answered READONLY until the end ({errors.total} errors in {requests} requests, the last at {last_error_ms} ms)",
            vec![
                Check::eq("failovers", 1.0),
                Check::min("split_brain_writes", 1.0),
                Check::min("errors.readonly", 100.0),
                Check::min("last_error_ms", (DURATION_MS - 1_000) as f64),
            ],
        ),
    );
    let planned_pool = base(
        "planned-sentinel-pool",
        "a planned failover (SENTINEL FAILOVER at 5 s, the master stays up); app: redis-py 8.1 Sentinel.master_for, which learns a new master only when it opens a connection",
        seed,
        redis_py("redis-py-8-sentinel"),
        Fault::Planned,
        Expectation::reproduces(
            "{failovers} failover at {first_switch_ms} ms; the pooled connections stay on the old master, which takes {split_brain_writes} writes (split brain) until Sentinel converts it and kills its clients ({errors.total} errors, {errors.readonly} READONLY)",
            vec![
                Check::eq("failovers", 1.0),
                Check::min("split_brain_writes", 100.0),
                Check::eq("errors.readonly", 0.0),
            ],
        ),
    );
    let discovery = base(
        "sentinel-discovery",
        "the crash of the first run; app: redis-py 8.1 Sentinel.master_for (the master asked of Sentinel on every connect, READONLY disconnects)",
        seed,
        redis_py("redis-py-8-sentinel"),
        Fault::Crash,
        Expectation::holds(
            "{errors.total} errors in {requests} requests, from {first_error_ms} ms to {last_error_ms} ms: the detection window (crash at 5000 ms, down-after 5000 ms, switch at {first_switch_ms} ms); {errors.readonly} READONLY, {split_brain_writes} split-brain writes",
            vec![
                Check::eq("failovers", 1.0),
                Check::eq("errors.readonly", 0.0),
                Check::eq("split_brain_writes", 0.0),
                Check::min("first_error_ms", CRASH_AT_MS as f64),
                // Errors end with the switch: the detection window (down-after) plus the
                // promotion (a second or two of Sentinel's periods).
                Check::max(
                    "last_error_ms",
                    (CRASH_AT_MS + DOWN_AFTER_MS + 3_000) as f64,
                ),
            ],
        ),
    );
    let follow = base(
        "planned-follow-switch",
        "the planned failover of the second run; app: go-redis v9 FailoverClient and its pool (Sentinel asked on every dial, +switch-master followed: every connection to the old master closed)",
        seed,
        (
            PoolSpec::profile("go-redis-v9"),
            ClientSpec::profile("go-redis-v9-failover"),
        ),
        Fault::Planned,
        Expectation::holds(
            "{errors.total} errors in {requests} requests; {split_brain_writes} split-brain writes (the commands in flight when +switch-master reached the pods, at {first_switch_ms} ms), {errors.readonly} READONLY",
            vec![
                Check::eq("failovers", 1.0),
                Check::eq("errors.total", 0.0),
                // What was sent to the old master before the pods read +switch-master (one
                // link later): a few commands, not seconds of writes.
                Check::max("split_brain_writes", 20.0),
            ],
        ),
    );
    vec![pinned, planned_pool, discovery, follow]
}

/// What the fix promises, for the fuzzer: nothing yet. The fuzzer runs on the fast engine,
/// which does not simulate replicas or Sentinel (docs/architecture.md), so the claim is left
/// out rather than checked on an engine that cannot run it.
#[must_use]
pub fn claims() -> Vec<crate::claims::Claim> {
    Vec::new()
}
