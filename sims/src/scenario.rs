//! A scenario is data: what the server is, which app tiers with which pools call it, the load,
//! a timeline of events, and what the run must show.
//!
//! Every type here is serde `Serialize + Deserialize` with `deny_unknown_fields`, so a scenario
//! round-trips through JSON and TOML files and a misspelt field is an error that names it.
//! Times are whole milliseconds in fields ending in `_ms` (the server's `timeout` keeps
//! Redis's unit, seconds, as `timeout_secs`). Builder methods make the same values in code.

use serde::{Deserialize, Serialize};

/// One simulation: a server, app tiers, load, a timeline and expectations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, unique within an incident (e.g. `stale-eof-radix`).
    pub name: String,
    /// One line: what this run is.
    #[serde(default)]
    pub summary: String,
    /// The seed that drives every random choice of the run (turmoil, load, commands).
    pub seed: u64,
    /// How long load is offered, from time zero. After it the run drains: every request in
    /// flight must end (within `drain_limit_ms`).
    pub duration_ms: u64,
    /// Most simulated time allowed after `duration_ms` for in-flight work to end; past it the
    /// run stops with a liveness violation.
    #[serde(default = "default_drain_limit_ms")]
    pub drain_limit_ms: u64,
    /// turmoil's tick: the simulation's time step. Network messages take at least one tick, so
    /// this is also the resolution of latencies. 1 ms for load-heavy runs; 10 ms makes a 300 s
    /// idle gap cost 30,000 steps instead of 300,000.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// One-way latency of every network link (at least one tick).
    #[serde(default = "default_link_latency_ms")]
    pub link_latency_ms: u64,
    /// Interval of the report's timeline samples.
    #[serde(default = "default_sample_ms")]
    pub sample_ms: u64,
    /// The Redis server.
    #[serde(default)]
    pub server: Server,
    /// App tiers; the first one receives the load, a tier with `calls` forwards each request
    /// to the named tier, a tier without it talks to Redis through its pools.
    pub tiers: Vec<Tier>,
    /// The offered load.
    pub load: Load,
    /// Events at simulated instants.
    #[serde(default)]
    pub timeline: Vec<Event>,
    /// What the run must show (default: [`Outcome::Either`], no checks: "observed").
    #[serde(default)]
    pub expect: Expectation,
}

/// A commented TOML template of a whole deployment: every field with a one-line comment and
/// its default (`poolsim scenario new` prints it; docs/scenarios.md documents each field).
pub const TEMPLATE: &str = include_str!("template.toml");

fn default_drain_limit_ms() -> u64 {
    30_000
}
fn default_tick_ms() -> u64 {
    1
}
fn default_link_latency_ms() -> u64 {
    1
}
fn default_sample_ms() -> u64 {
    1_000
}

/// The fake Redis server's settings (fake-redis, served on turmoil host `redis`, port 6379).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// `timeout`: close clients idle more than this many seconds (0 = never).
    pub timeout_secs: u64,
    /// `maxclients`.
    pub maxclients: u64,
    /// `hz`: cron frequency (paces the idle-timeout scan).
    pub hz: u32,
    /// `requirepass`; the pools then AUTH on connect.
    pub requirepass: Option<String>,
    /// Time the server takes per command (its reply is delayed by this).
    pub command_latency_ms: u64,
    /// Time from accepting a connection to its first reply (a TLS or AUTH handshake).
    pub connect_latency_ms: u64,
    /// Replicas and a Sentinel beside the master (issue #16); `None`: the master alone. Both
    /// engines simulate them; a client that asks the Sentinel for the master runs on turmoil
    /// only (`fast::supports`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<Topology>,
}

/// The servers around the master `redis`: replicas on hosts `redis-replica-1`, ... (same port,
/// the same server settings, `REPLICAOF redis 6379` from the start) and, optionally, one
/// Sentinel on host `sentinel` (port 26379) monitoring the master and its replicas. The
/// timeline's server events act on the master's host `redis` (the master at the start,
/// whatever its role later).
///
/// Data is not replicated: a replica keeps its own keyspace (reads of keys written on the
/// master miss), which no incident depends on (docs/fake-redis.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Replicas of the master (1 to [`Topology::MAX_REPLICAS`]).
    #[serde(default = "one")]
    pub replicas: u32,
    /// The Sentinel, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<SentinelSpec>,
}

impl Topology {
    /// The most replicas a scenario may have.
    pub const MAX_REPLICAS: u32 = 4;

    /// The host name of replica `i` (1-based).
    #[must_use]
    pub fn replica_host(i: u32) -> String {
        format!("redis-replica-{i}")
    }
}

/// One Redis Sentinel 7.0 (the fake: one Sentinel, quorum 1; fake_redis::sentinel) watching
/// the master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSpec {
    /// The monitored master's name (`sentinel monitor <name> ...`).
    #[serde(default = "default_master_name")]
    pub master_name: String,
    /// `down-after-milliseconds` (Redis's default 30000).
    #[serde(default = "default_down_after_ms")]
    pub down_after_ms: u64,
    /// `failover-timeout` (Redis's default 180000).
    #[serde(default = "default_failover_timeout_ms")]
    pub failover_timeout_ms: u64,
    /// The Sentinel's timer period, ms (absent: 100, Redis's `hz` of about 10). The
    /// explorer's instances set it to 1000, as they run the server's cron at `hz 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u64>,
    /// The longest time between PINGs to an instance, ms (absent: Redis's
    /// `SENTINEL_PING_PERIOD`, 1000; shorter when `down_after_ms` is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_period_ms: Option<u64>,
    /// INFO to masters and replicas, ms (absent: `SENTINEL_INFO_PERIOD`, 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_period_ms: Option<u64>,
    /// INFO to a replica while its master is down or failing over, ms (absent: 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_period_fast_ms: Option<u64>,
    /// How long an instance Sentinel knows as a replica must have reported `role:master`
    /// before it is converted back, ms (absent: `SENTINEL_PUBLISH_PERIOD * 4`, 8000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_wait_ms: Option<u64>,
    /// A replica sent `SLAVEOF <new master>` during a failover that has not reported it
    /// within this counts as reconfigured, ms (absent: `SENTINEL_SLAVE_RECONF_TIMEOUT`,
    /// 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_reconf_timeout_ms: Option<u64>,
}

impl SentinelSpec {
    /// The Sentinel's periods and its timer period in ms: Redis's, with the ones this spec
    /// sets.
    #[must_use]
    pub fn timing(&self) -> (fake_redis::SentinelTiming, u64) {
        let mut t = fake_redis::SentinelTiming::default();
        let tick = self
            .tick_ms
            .unwrap_or(fake_redis::SentinelConfig::default().tick_ms);
        for (field, v) in [
            (&mut t.ping_period_ms, self.ping_period_ms),
            (&mut t.info_period_ms, self.info_period_ms),
            (&mut t.info_period_fast_ms, self.info_period_fast_ms),
            (&mut t.convert_wait_ms, self.convert_wait_ms),
            (
                &mut t.replica_reconf_timeout_ms,
                self.replica_reconf_timeout_ms,
            ),
        ] {
            if let Some(v) = v {
                *field = v;
            }
        }
        (t, tick)
    }
}

impl Default for SentinelSpec {
    fn default() -> Self {
        Self {
            master_name: default_master_name(),
            down_after_ms: default_down_after_ms(),
            failover_timeout_ms: default_failover_timeout_ms(),
            tick_ms: None,
            ping_period_ms: None,
            info_period_ms: None,
            info_period_fast_ms: None,
            convert_wait_ms: None,
            replica_reconf_timeout_ms: None,
        }
    }
}

fn default_master_name() -> String {
    "mymaster".to_owned()
}
fn default_down_after_ms() -> u64 {
    30_000
}
fn default_failover_timeout_ms() -> u64 {
    180_000
}

impl Default for Server {
    /// Redis 7.0's defaults: `timeout 0`, `maxclients 10000`, `hz 10`, no password, no latency.
    fn default() -> Self {
        Self {
            timeout_secs: 0,
            maxclients: 10_000,
            hz: 10,
            requirepass: None,
            command_latency_ms: 0,
            connect_latency_ms: 0,
            topology: None,
        }
    }
}

/// An app tier: its pods, their pools, the deadline it gives each request, where it sends them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Name; its pods are turmoil hosts `{name}-0`, `{name}-1`, ...
    pub name: String,
    /// The pool each Redis-facing pool of this tier uses (ignored by a tier that `calls` another).
    #[serde(default)]
    pub pool: PoolSpec,
    /// Pods (instances) of this tier.
    #[serde(default = "one")]
    pub instances: u32,
    /// Pools per pod (e.g. gunicorn workers, each with its own pool).
    #[serde(default = "one")]
    pub pools_per_instance: u32,
    /// The time budget of a request in this tier: its caller gives up after it (and sees
    /// `deadline_exceeded`), and it is the deadline the tier hands its pool (honoured only when
    /// the pool's `honour_deadlines` is on) and bounds its call to the next tier.
    pub deadline_ms: u64,
    /// The tier each request is forwarded to; `None` = this tier runs the Redis commands.
    #[serde(default)]
    pub calls: Option<String>,
    /// What a Redis-facing tier does when a command fails on a connection error.
    #[serde(default)]
    pub retry: Retry,
    /// The client library around a Redis-facing tier's pool ([`crate::client`]): its read
    /// timeout, what a timeout and a READONLY do to the connection, its retries and their
    /// back-off, e.g. `client = { profile = "go-redis-v9" }`. Absent: no read timeout, and
    /// `retry` says what is retried. With a client, `retry` must stay `none` (the client's
    /// policy retries). Simulated: `read_timeout_ms`, `on_timeout = "close"`, `on_readonly`,
    /// `retry`; refused: `on_timeout = "keep"` and a Sentinel `discovery` (issue #16); not
    /// applied: `connect_timeout_ms` (connects keep the pool's own bound; see
    /// docs/profiles.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<crate::client::ClientSpec>,
}

fn one() -> u32 {
    1
}

impl Tier {
    /// One pod with one pool, talking to Redis, no retry.
    #[must_use]
    pub fn new(name: &str, pool: PoolSpec, deadline_ms: u64) -> Self {
        Self {
            name: name.to_owned(),
            pool,
            instances: 1,
            pools_per_instance: 1,
            deadline_ms,
            calls: None,
            retry: Retry::None,
            client: None,
        }
    }

    /// With the client library `client` around its pool.
    #[must_use]
    pub fn with_client(mut self, client: crate::client::ClientSpec) -> Self {
        self.client = Some(client);
        self
    }

    /// Forwarding every request to the tier `next` instead of talking to Redis.
    #[must_use]
    pub fn calling(mut self, next: &str) -> Self {
        self.calls = Some(next.to_owned());
        self
    }

    /// With `n` pods.
    #[must_use]
    pub fn with_instances(mut self, n: u32) -> Self {
        self.instances = n;
        self
    }

    /// With `n` pools per pod.
    #[must_use]
    pub fn with_pools_per_instance(mut self, n: u32) -> Self {
        self.pools_per_instance = n;
        self
    }

    /// With this retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

/// A retry policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Report the error.
    #[default]
    None,
    /// On a connection error (EOF, reset, broken pipe) release the connection as broken, take
    /// another and run the request once more (seed 003's temporary fix).
    OnceOnConnectionError,
}

/// A pool: a pool-core profile plus overrides of any knob (see [`crate::knobs`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// A `pool_core::Profile` name (`radix-v2`, `redis-py`, `go-redis-v9`, `recommended`, ...).
    pub profile: String,
    /// Knobs changed from the profile.
    #[serde(default)]
    pub overrides: crate::knobs::Overrides,
}

impl Default for PoolSpec {
    fn default() -> Self {
        Self::profile("recommended")
    }
}

impl PoolSpec {
    /// The profile as it is.
    #[must_use]
    pub fn profile(name: &str) -> Self {
        Self {
            profile: name.to_owned(),
            overrides: crate::knobs::Overrides::default(),
        }
    }

    /// The profile with `overrides`.
    #[must_use]
    pub fn with(mut self, overrides: crate::knobs::Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The resolved pool-core configuration; the error names the bad field.
    pub fn config(&self) -> Result<pool_core::Config, String> {
        let profile = pool_core::Profile::by_name(&self.profile).map_err(|e| e.to_string())?;
        self.overrides.check_file_values()?;
        let config = self.overrides.apply(profile.config());
        config.validate().map_err(|e| format!("pool: {e}"))?;
        Ok(config)
    }

    /// `profile` plus the overridden knobs, e.g. `go-redis-v9 (max_size=10, pool_timeout_ms=10000)`.
    #[must_use]
    pub fn label(&self) -> String {
        let changed = self.overrides.describe();
        if changed.is_empty() {
            self.profile.clone()
        } else {
            format!("{} ({changed})", self.profile)
        }
    }
}

/// The offered load, generated in the pods of the first tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Who sends requests.
    pub clients: Clients,
    /// The command mix: each request draws one entry by weight.
    #[serde(default = "default_mix")]
    pub mix: Vec<MixEntry>,
    /// Time a request keeps its connection after its commands (the app's work while holding it).
    #[serde(default = "zero_dist")]
    pub hold: Dist,
}

impl Load {
    /// `users` closed-loop users thinking `think` between requests; `SET` + `GET`; no hold.
    #[must_use]
    pub fn closed(users: u32, think: Dist) -> Self {
        Self {
            clients: Clients::Closed { users, think },
            mix: default_mix(),
            hold: zero_dist(),
        }
    }

    /// Open-loop arrivals; `SET` + `GET`; no hold.
    #[must_use]
    pub fn open(arrivals: Arrivals) -> Self {
        Self {
            clients: Clients::Open { arrivals },
            mix: default_mix(),
            hold: zero_dist(),
        }
    }

    /// Every request runs `command`.
    #[must_use]
    pub fn with_command(mut self, command: Command) -> Self {
        self.mix = vec![MixEntry { command, weight: 1 }];
        self
    }

    /// With this command mix.
    #[must_use]
    pub fn with_mix(mut self, mix: Vec<MixEntry>) -> Self {
        self.mix = mix;
        self
    }

    /// Every request holds its connection `hold` after its commands.
    #[must_use]
    pub fn with_hold(mut self, hold: Dist) -> Self {
        self.hold = hold;
        self
    }
}

fn default_mix() -> Vec<MixEntry> {
    vec![MixEntry {
        command: Command::SetGet,
        weight: 1,
    }]
}

fn zero_dist() -> Dist {
    Dist::Fixed { ms: 0 }
}

/// Closed loop (N users, each waiting for its reply) or open loop (arrivals whatever happens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Clients {
    /// `users` concurrent users, as `ab -c` / `wrk -c`: each sends a request, waits for its
    /// outcome (at most the first tier's deadline), thinks, and sends the next. All start at
    /// time zero. A user never sends twice in the same millisecond.
    Closed {
        /// Concurrent users.
        users: u32,
        /// Think time between a reply and the next request.
        think: Dist,
    },
    /// Requests arrive whatever the system does (the cascade's callers).
    Open {
        /// The arrival process.
        arrivals: Arrivals,
    },
}

/// An open-loop arrival process, over all pods of the first tier together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrivals {
    /// Evenly spaced arrivals.
    Constant {
        /// Requests per second.
        rate_per_sec: f64,
    },
    /// Poisson arrivals (exponential gaps).
    Poisson {
        /// Mean requests per second.
        rate_per_sec: f64,
    },
    /// Poisson at `base_per_sec`, and at `burst_per_sec` for `burst_ms` every `every_ms`
    /// (starting at time zero).
    Bursts {
        /// Rate outside bursts.
        base_per_sec: f64,
        /// Rate inside bursts.
        burst_per_sec: f64,
        /// Length of a burst.
        burst_ms: u64,
        /// Period of bursts.
        every_ms: u64,
    },
    /// Poisson with a rate going linearly from `from_per_sec` to `to_per_sec` over `over_ms`,
    /// then staying there.
    Ramp {
        /// Start rate.
        from_per_sec: f64,
        /// End rate.
        to_per_sec: f64,
        /// Ramp length.
        over_ms: u64,
    },
    /// A script: one request at each instant, dealt to the first tier's pods in turn (the
    /// first instant to pod 0, the second to pod 1, ...). The instants are exact: neither a
    /// load event's rate factor nor an idle gap moves or drops them. An explored
    /// counterexample is written with one (`poolsim explore --write`).
    At {
        /// The instants (ms), in order; each before `duration_ms`.
        at_ms: Vec<u64>,
    },
}

impl Arrivals {
    /// Requests per second over a run of `duration_ms`, on average: the rate for a process,
    /// the script's requests over the run for [`Arrivals::At`].
    #[must_use]
    pub fn mean_rate(&self, duration_ms: u64) -> f64 {
        match self {
            Self::At { at_ms } => at_ms.len() as f64 * 1000.0 / duration_ms.max(1) as f64,
            Self::Constant { rate_per_sec } | Self::Poisson { rate_per_sec } => *rate_per_sec,
            Self::Bursts {
                base_per_sec,
                burst_per_sec,
                burst_ms,
                every_ms,
            } => {
                let f = *burst_ms as f64 / (*every_ms).max(1) as f64;
                base_per_sec + (burst_per_sec - base_per_sec) * f
            }
            Self::Ramp {
                from_per_sec,
                to_per_sec,
                over_ms,
            } => {
                // The ramp's part of the run at its mean, the rest at the end rate.
                let d = duration_ms.max(1) as f64;
                let ramp = (*over_ms as f64).min(d);
                let reached =
                    from_per_sec + (to_per_sec - from_per_sec) * (ramp / (*over_ms).max(1) as f64);
                (ramp * (from_per_sec + reached) / 2.0 + (d - ramp) * to_per_sec) / d
            }
        }
    }
}

/// A distribution of durations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always `ms`.
    Fixed {
        /// The duration.
        ms: u64,
    },
    /// Uniform in `[min_ms, max_ms]`.
    Uniform {
        /// Lower bound.
        min_ms: u64,
        /// Upper bound.
        max_ms: u64,
    },
    /// Exponential with this mean.
    Exponential {
        /// The mean.
        mean_ms: u64,
    },
}

impl Dist {
    /// A fixed duration.
    #[must_use]
    pub const fn fixed(ms: u64) -> Self {
        Self::Fixed { ms }
    }

    /// The mean, in ms.
    #[must_use]
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Self::Fixed { ms } => ms as f64,
            Self::Uniform { min_ms, max_ms } => (min_ms + max_ms) as f64 / 2.0,
            Self::Exponential { mean_ms } => mean_ms as f64,
        }
    }
}

/// One entry of the command mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// What the request runs.
    pub command: Command,
    /// Relative weight.
    pub weight: u32,
}

/// What a request runs on its connection. Every reply is checked against the request that
/// sent it (the end-to-end invariant "every reply reaches the request that sent it").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// `SET req:<id> <id>` then `GET req:<id>`, which must answer `<id>`.
    SetGet,
    /// `ECHO <id>`, which must answer `<id>`.
    Echo,
    /// `PING`, which must answer `PONG`.
    Ping,
}

impl Command {
    /// Round trips this command costs.
    #[must_use]
    pub const fn round_trips(self) -> u32 {
        match self {
            Self::SetGet => 2,
            Self::Echo | Self::Ping => 1,
        }
    }
}

/// Something that happens at a simulated instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// No new requests from `at_ms` for `duration_ms` (users pause, arrivals stop).
    IdleGap {
        /// Start.
        at_ms: u64,
        /// Length.
        duration_ms: u64,
    },
    /// The load changes from `at_ms`: closed-loop users or open-loop rate (a multiplier of
    /// the arrival process).
    Load {
        /// When.
        at_ms: u64,
        /// New number of active closed-loop users.
        #[serde(default)]
        users: Option<u32>,
        /// New multiplier of the open-loop rate (1.0 = as configured).
        #[serde(default)]
        rate_factor: Option<f64>,
    },
    /// The server restarts: clients dropped, keyspace and counters lost; new connections are
    /// closed at once for `down_ms`.
    Restart {
        /// When.
        at_ms: u64,
        /// How long the server refuses connections afterwards.
        #[serde(default)]
        down_ms: u64,
    },
    /// Every client connection is closed by the server, nothing written.
    KillAllClients {
        /// When.
        at_ms: u64,
    },
    /// `CONFIG SET name value`.
    ConfigSet {
        /// When.
        at_ms: u64,
        /// Parameter.
        name: String,
        /// Value.
        value: String,
    },
    /// New connections are closed at once while on.
    RefuseConnections {
        /// When.
        at_ms: u64,
        /// On or off.
        on: bool,
    },
    /// Writes answer `-READONLY` while on (a failover demoted the master).
    ReadOnly {
        /// When.
        at_ms: u64,
        /// On or off.
        on: bool,
    },
    /// The server's latency changes at `at_ms`: the time it takes per command and/or the
    /// time from accepting a connection to its first reply (a slow TLS or AUTH handshake).
    /// With `duration_ms`, the change is a spike: both go back to what they were after it
    /// ("Redis at 20 ms for 10 s"); without, it stays.
    Latency {
        /// When.
        at_ms: u64,
        /// New time per command (`server.command_latency_ms`); absent: unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command_latency_ms: Option<u64>,
        /// New connect latency (`server.connect_latency_ms`); absent: unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect_latency_ms: Option<u64>,
        /// How long the change lasts; absent: for the rest of the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
    },
    /// `REPLICAOF` from outside, as a demotion without Sentinel does (an operator, a
    /// failover script): with `master = "host:port"` the server becomes a replica (writes
    /// answer `-READONLY You can't write against a read only replica.` on every connection,
    /// old and new; reads work; clients blocked in BLPOP get `-UNBLOCKED`); with
    /// `master = "no one"` it is a master again. No data is replicated.
    #[serde(rename = "replicaof")]
    ReplicaOf {
        /// When.
        at_ms: u64,
        /// `host:port` of the new master, or `no one`.
        master: String,
    },
    /// The server hangs for `duration_ms` without closing anything: a slow command, a fork
    /// or swap stall, Redis 7's SHUTDOWN pause (`DEBUG SLEEP`'s effect, no client asking).
    /// Commands sent meanwhile are answered when it ends; new connections are still
    /// accepted (the kernel's handshake) and wait like the others; the idle `timeout` and
    /// the cron stop too. A client without a read timeout waits the whole stall.
    Stall {
        /// When.
        at_ms: u64,
        /// How long (above zero).
        duration_ms: u64,
    },
    /// The master's host is cut off for `duration_ms` (a partition, a held link, a host that
    /// died without closing): nothing it sends or receives is delivered, connects to it hang,
    /// a command in flight waits for the client's read timeout, the Sentinel sees no PONG;
    /// when it ends, what was held is delivered (TCP retransmits) and the server, which kept
    /// running, carries on. Both engines (the fast engine holds the messages and delivers
    /// them, in order, when it ends).
    Hang {
        /// When.
        at_ms: u64,
        /// How long (above zero).
        duration_ms: u64,
    },
    /// A manual failover: `SENTINEL FAILOVER <master_name>` to the scenario's Sentinel
    /// (`[server.topology.sentinel]`). Sentinel promotes a replica of the
    /// healthy master and demotes the old one with `SLAVEOF` and `CLIENT KILL` (its
    /// transaction). Refused as Sentinel refuses it (`-INPROG` during a failover,
    /// `-NOGOODSLAVE` without a replica to promote): the trace says so
    /// (`sentinel.failover_refused`).
    SentinelFailover {
        /// When.
        at_ms: u64,
    },
}

impl Event {
    /// When it happens.
    #[must_use]
    pub fn at_ms(&self) -> u64 {
        match *self {
            Self::IdleGap { at_ms, .. }
            | Self::Load { at_ms, .. }
            | Self::Restart { at_ms, .. }
            | Self::KillAllClients { at_ms }
            | Self::ConfigSet { at_ms, .. }
            | Self::RefuseConnections { at_ms, .. }
            | Self::ReadOnly { at_ms, .. }
            | Self::Latency { at_ms, .. }
            | Self::ReplicaOf { at_ms, .. }
            | Self::Stall { at_ms, .. }
            | Self::Hang { at_ms, .. }
            | Self::SentinelFailover { at_ms } => at_ms,
        }
    }

    /// Moves it to `at` ms.
    pub fn set_at_ms(&mut self, at: u64) {
        match self {
            Self::IdleGap { at_ms, .. }
            | Self::Load { at_ms, .. }
            | Self::Restart { at_ms, .. }
            | Self::KillAllClients { at_ms }
            | Self::ConfigSet { at_ms, .. }
            | Self::RefuseConnections { at_ms, .. }
            | Self::ReadOnly { at_ms, .. }
            | Self::Latency { at_ms, .. }
            | Self::ReplicaOf { at_ms, .. }
            | Self::Stall { at_ms, .. }
            | Self::Hang { at_ms, .. }
            | Self::SentinelFailover { at_ms } => *at_ms = at,
        }
    }

    /// A short label for plots and timelines (`idle gap 305 s`, `restart`).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::IdleGap { duration_ms, .. } => {
                format!("idle gap {} s", duration_ms / 1000)
            }
            Self::Load {
                users, rate_factor, ..
            } => match (users, rate_factor) {
                (Some(u), _) => format!("load: {u} users"),
                (None, Some(f)) => format!("load x{f}"),
                (None, None) => "load".to_owned(),
            },
            Self::Restart { .. } => "restart".to_owned(),
            Self::KillAllClients { .. } => "kill all clients".to_owned(),
            Self::ConfigSet { name, value, .. } => format!("CONFIG SET {name} {value}"),
            Self::RefuseConnections { on, .. } => {
                format!("refuse connections {}", if *on { "on" } else { "off" })
            }
            Self::ReadOnly { on, .. } => format!("read-only {}", if *on { "on" } else { "off" }),
            Self::Latency {
                command_latency_ms,
                connect_latency_ms,
                duration_ms,
                ..
            } => {
                let mut parts = Vec::new();
                if let Some(ms) = command_latency_ms {
                    parts.push(format!("latency {ms} ms"));
                }
                if let Some(ms) = connect_latency_ms {
                    parts.push(format!("connect latency {ms} ms"));
                }
                let mut label = parts.join(", ");
                if let Some(d) = duration_ms {
                    label.push_str(&format!(" for {}", secs_label(*d)));
                }
                label
            }
            Self::Stall { duration_ms, .. } => format!("stall {}", secs_label(*duration_ms)),
            Self::ReplicaOf { master, .. } => match parse_master(master) {
                Ok(Some((host, port))) => format!("REPLICAOF {host} {port}"),
                _ => "REPLICAOF NO ONE".to_owned(),
            },
            Self::SentinelFailover { .. } => "SENTINEL FAILOVER".to_owned(),
            Self::Hang { duration_ms, .. } => format!("hang {}", secs_label(*duration_ms)),
        }
    }
}

/// A `replicaof` event's `master`: `host:port` (`Some`), or `no one` (`None`, any case).
pub fn parse_master(master: &str) -> Result<Option<(String, u16)>, String> {
    if master.trim().eq_ignore_ascii_case("no one") {
        return Ok(None);
    }
    let bad = || format!("'{master}' is neither host:port nor \"no one\"");
    let (host, port) = master.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(Some((host.to_owned(), port)))
}

/// `10 s`, `1.5 s`, `250 ms`.
fn secs_label(ms: u64) -> String {
    if ms >= 1000 && ms % 100 == 0 {
        let s = ms as f64 / 1000.0;
        format!("{s} s")
    } else {
        format!("{ms} ms")
    }
}

/// Whether the run must show the incident or must not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The buggy configuration: the signature must be there.
    Reproduces,
    /// A fixed configuration: it must hold.
    Holds,
    /// Either is fine (a scenario replayed with another pool: does it reproduce?). The
    /// expectation is met unless an invariant is violated; the verdict says which it was:
    /// `reproduced` / `held` when there are checks (the incident's signature), `observed`
    /// when there are none (a deployment's own scenario: the signature line says what
    /// happened).
    Either,
}

/// What decides whether a run "reproduced" or "held".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Reproduce or hold.
    pub outcome: Outcome,
    /// The signature as checks on the run's metrics; all must pass (and no invariant may be
    /// violated) for the expectation to be met.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The verdict's text after `reproduced: ` / `held: `, with `{metric}` placeholders, e.g.
    /// `{errors.eof} EOF errors after 305 s idle` (default: errors and requests).
    #[serde(default = "default_signature")]
    pub signature: String,
}

fn default_signature() -> String {
    "{errors.total} errors in {requests} requests".to_owned()
}

impl Default for Expectation {
    /// Nothing asserted: [`Outcome::Either`], no checks, the errors and requests as signature.
    fn default() -> Self {
        Self {
            outcome: Outcome::Either,
            checks: Vec::new(),
            signature: default_signature(),
        }
    }
}

impl Expectation {
    /// The run must show the signature: every check must pass.
    #[must_use]
    pub fn reproduces(signature: &str, checks: Vec<Check>) -> Self {
        Self {
            outcome: Outcome::Reproduces,
            checks,
            signature: signature.to_owned(),
        }
    }

    /// The run must hold: every check must pass.
    #[must_use]
    pub fn holds(signature: &str, checks: Vec<Check>) -> Self {
        Self {
            outcome: Outcome::Holds,
            checks,
            signature: signature.to_owned(),
        }
    }
}

/// One check on a metric (see [`crate::report::Metrics`] for the names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The metric's name, e.g. `errors.eof`, `latency_ms.p99`, `final_server_clients`.
    pub metric: String,
    /// It must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<f64>,
    /// It must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// It must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Check {
    /// `metric == value`.
    #[must_use]
    pub fn eq(metric: &str, value: f64) -> Self {
        Self {
            metric: metric.to_owned(),
            eq: Some(value),
            min: None,
            max: None,
        }
    }

    /// `metric >= value`.
    #[must_use]
    pub fn min(metric: &str, value: f64) -> Self {
        Self {
            metric: metric.to_owned(),
            eq: None,
            min: Some(value),
            max: None,
        }
    }

    /// `metric <= value`.
    #[must_use]
    pub fn max(metric: &str, value: f64) -> Self {
        Self {
            metric: metric.to_owned(),
            eq: None,
            min: None,
            max: Some(value),
        }
    }

    /// `low <= metric <= high`.
    #[must_use]
    pub fn between(metric: &str, low: f64, high: f64) -> Self {
        Self {
            metric: metric.to_owned(),
            eq: None,
            min: Some(low),
            max: Some(high),
        }
    }

    /// The failure, if `value` does not pass, as `errors.eof = 0, expected 3`.
    #[must_use]
    pub fn failure(&self, value: f64) -> Option<String> {
        let v = crate::report::fmt_num(value);
        let f = crate::report::fmt_num;
        if let Some(e) = self.eq {
            if (value - e).abs() > 1e-9 {
                return Some(format!("{} = {v}, expected {}", self.metric, f(e)));
            }
        }
        if let Some(m) = self.min {
            if value < m {
                return Some(format!("{} = {v}, expected >= {}", self.metric, f(m)));
            }
        }
        if let Some(m) = self.max {
            if value > m {
                return Some(format!("{} = {v}, expected <= {}", self.metric, f(m)));
            }
        }
        None
    }
}

/// Why a scenario cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// A field has a value that makes no sense; names the field.
    #[error("{field}: {why}")]
    Invalid {
        /// The field, e.g. `tiers[1].calls`.
        field: String,
        /// Why.
        why: String,
    },
    /// A scenario file could not be parsed; the message names the line and the field.
    #[error("{0}")]
    Parse(String),
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

impl Scenario {
    /// A scenario with Redis 7.0's default server, 1 ms ticks and links, a sample a second, no
    /// timeline, a drain limit of 30 s and an expectation of [`Outcome::Either`] (nothing
    /// asserted): adjust it with the `with_*` methods.
    #[must_use]
    pub fn new(name: &str, seed: u64, duration_ms: u64, tiers: Vec<Tier>, load: Load) -> Self {
        Self {
            name: name.to_owned(),
            summary: String::new(),
            seed,
            duration_ms,
            drain_limit_ms: default_drain_limit_ms(),
            tick_ms: default_tick_ms(),
            link_latency_ms: default_link_latency_ms(),
            sample_ms: default_sample_ms(),
            server: Server::default(),
            tiers,
            load,
            timeline: Vec::new(),
            expect: Expectation::default(),
        }
    }

    /// With this one-line summary.
    #[must_use]
    pub fn with_summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_owned();
        self
    }

    /// With this server.
    #[must_use]
    pub fn with_server(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    /// With one more timeline event.
    #[must_use]
    pub fn with_event(mut self, event: Event) -> Self {
        self.timeline.push(event);
        self
    }

    /// With this expectation.
    #[must_use]
    pub fn with_expect(mut self, expect: Expectation) -> Self {
        self.expect = expect;
        self
    }

    /// With this tick and link latency (ms).
    #[must_use]
    pub fn with_ticks(mut self, tick_ms: u64, link_latency_ms: u64) -> Self {
        self.tick_ms = tick_ms;
        self.link_latency_ms = link_latency_ms;
        self
    }

    /// With this drain limit (ms after `duration_ms` for the work in flight to end).
    #[must_use]
    pub fn with_drain_limit_ms(mut self, drain_limit_ms: u64) -> Self {
        self.drain_limit_ms = drain_limit_ms;
        self
    }

    /// With a timeline sample every `sample_ms`.
    #[must_use]
    pub fn with_sample_ms(mut self, sample_ms: u64) -> Self {
        self.sample_ms = sample_ms;
        self
    }

    /// Parses a TOML scenario file; the error names the line and the field.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let s: Self = toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Parses a JSON scenario; the error names the line and the field.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let s: Self =
            serde_json::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// The scenario as TOML.
    #[must_use]
    pub fn to_toml(&self) -> String {
        // Every field is a plain value, table or array of tables: serialization cannot fail.
        toml::to_string(self).expect("a scenario serializes to TOML")
    }

    /// The scenario as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Plain data: serialization cannot fail.
        serde_json::to_string_pretty(self).expect("a scenario serializes to JSON")
    }

    /// The same scenario with another seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same scenario with every Redis-facing pool replaced by `profile` as it is (no
    /// overrides), named `<name>@<profile>`, and an expectation of [`Outcome::Either`]: the
    /// checks say whether the incident reproduces with that pool. The profile name is checked
    /// by [`Scenario::validate`].
    #[must_use]
    pub fn with_profile(mut self, profile: &str) -> Self {
        for t in self.tiers.iter_mut().filter(|t| t.calls.is_none()) {
            t.pool = PoolSpec::profile(profile);
        }
        self.name = format!("{}@{profile}", self.name);
        self.expect.outcome = Outcome::Either;
        self
    }

    /// The first tier that talks to Redis (the one whose pool the report's `profile` names).
    #[must_use]
    pub fn redis_tier(&self) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.calls.is_none())
    }

    /// The shortest `drain_limit_ms` [`Scenario::validate`] accepts: the longest a
    /// Redis-facing tier's request may legitimately take (its pool's wait, and with a
    /// `client`, every try and back-off), over the tiers whose pools can say. `None` when no
    /// tier bounds it. Tiers whose pool or client is invalid are skipped (validate names them).
    /// A tier whose client has no read timeout counts its pool's wait: validate does not bound
    /// such a tier (a try may wait as long as the server takes), so for it the figure is a limit
    /// that is enough, not the least one.
    #[must_use]
    pub fn min_drain_limit_ms(&self) -> Option<u64> {
        self.tiers
            .iter()
            .filter(|t| t.calls.is_none())
            .filter_map(|t| {
                let config = t.pool.config().ok()?;
                let wait = legit_wait_ms(&config, t.deadline_ms)?;
                match &t.client {
                    None => Some(wait),
                    Some(spec) => {
                        let b = spec.behaviour().ok()?;
                        Some(client_legit_ms(&b, wait).unwrap_or(wait))
                    }
                }
            })
            .max()
    }

    /// Checks what serde cannot: positive times, tiers that exist, no cycles, valid pools.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if self.duration_ms == 0 {
            return Err(invalid("duration_ms", "must be greater than zero"));
        }
        if self.tick_ms == 0 {
            return Err(invalid("tick_ms", "must be greater than zero"));
        }
        if self.link_latency_ms < self.tick_ms {
            return Err(invalid(
                "link_latency_ms",
                format!("must be at least tick_ms ({})", self.tick_ms),
            ));
        }
        if self.sample_ms == 0 {
            return Err(invalid("sample_ms", "must be greater than zero"));
        }
        if self.server.maxclients == 0 {
            return Err(invalid(
                "server.maxclients",
                "argument must be between 1 and 4294967295 inclusive",
            ));
        }
        if !(1..=500).contains(&self.server.hz) {
            return Err(invalid("server.hz", "must be between 1 and 500"));
        }
        if let Some(t) = &self.server.topology {
            if !(1..=Topology::MAX_REPLICAS).contains(&t.replicas) {
                return Err(invalid(
                    "server.topology.replicas",
                    format!("must be between 1 and {}", Topology::MAX_REPLICAS),
                ));
            }
            if let Some(sn) = &t.sentinel {
                if sn.master_name.is_empty()
                    || !sn
                        .master_name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(invalid(
                        "server.topology.sentinel.master_name",
                        "must be a non-empty name of letters, digits, '-', '_' or '.'",
                    ));
                }
                if sn.down_after_ms == 0 {
                    return Err(invalid(
                        "server.topology.sentinel.down_after_ms",
                        "must be greater than zero",
                    ));
                }
                for (field, v) in [
                    ("tick_ms", sn.tick_ms),
                    ("ping_period_ms", sn.ping_period_ms),
                    ("info_period_ms", sn.info_period_ms),
                    ("info_period_fast_ms", sn.info_period_fast_ms),
                    ("convert_wait_ms", sn.convert_wait_ms),
                    ("replica_reconf_timeout_ms", sn.replica_reconf_timeout_ms),
                ] {
                    if v == Some(0) {
                        return Err(invalid(
                            format!("server.topology.sentinel.{field}"),
                            "must be greater than zero",
                        ));
                    }
                }
                if sn.failover_timeout_ms == 0 {
                    return Err(invalid(
                        "server.topology.sentinel.failover_timeout_ms",
                        "must be greater than zero",
                    ));
                }
            }
        }
        if self.tiers.is_empty() {
            return Err(invalid("tiers", "at least one tier is needed"));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            let f = |name: &str| format!("tiers[{i}].{name}");
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(invalid(f("name"), "letters, digits and _ only, not empty"));
            }
            if t.name == "redis" {
                return Err(invalid(f("name"), "'redis' is the server's host"));
            }
            if self.tiers[..i].iter().any(|o| o.name == t.name) {
                return Err(invalid(f("name"), format!("'{}' is used twice", t.name)));
            }
            if t.instances == 0 {
                return Err(invalid(f("instances"), "must be at least 1"));
            }
            if t.pools_per_instance == 0 {
                return Err(invalid(f("pools_per_instance"), "must be at least 1"));
            }
            if t.deadline_ms == 0 {
                return Err(invalid(f("deadline_ms"), "must be greater than zero"));
            }
            if t.calls.is_some() && t.client.is_some() {
                return Err(invalid(
                    f("client"),
                    "only a tier that talks to Redis has a Redis client (this one calls another tier)",
                ));
            }
            match &t.calls {
                Some(next) => match self.tiers.iter().position(|o| &o.name == next) {
                    None => return Err(invalid(f("calls"), format!("no tier named '{next}'"))),
                    Some(j) if j <= i => {
                        return Err(invalid(
                            f("calls"),
                            "must name a later tier (tiers are listed caller first)",
                        ));
                    }
                    Some(_) => {}
                },
                None => {
                    let config = t.pool.config().map_err(|e| invalid(f("pool"), e))?;
                    let client = match &t.client {
                        None => None,
                        Some(spec) => {
                            let b = spec.behaviour().map_err(|e| match e {
                                crate::client::ClientError::Invalid { field, why } => {
                                    invalid(f(&format!("client.overrides.{field}")), why)
                                }
                                other => invalid(f("client.profile"), other.to_string()),
                            })?;
                            if t.retry != Retry::None {
                                return Err(invalid(
                                    f("retry"),
                                    "must be \"none\" when the tier has a client: the client's own retry policy retries (client.overrides.retry)",
                                ));
                            }
                            if b.on_timeout == crate::client::OnTimeout::Keep {
                                return Err(invalid(
                                    f("client"),
                                    "on_timeout = \"keep\" (a multiplexed connection dropping the late reply) is not simulated yet; use \"close\"",
                                ));
                            }
                            let sentinel = self
                                .server
                                .topology
                                .as_ref()
                                .is_some_and(|t| t.sentinel.is_some());
                            if b.discovery != crate::client::Discovery::Fixed && !sentinel {
                                return Err(invalid(
                                    f("client"),
                                    "a Sentinel discovery needs a Sentinel in the scenario: add [server.topology.sentinel], or use a client profile without Sentinel",
                                ));
                            }
                            Some(b)
                        }
                    };
                    let wait = legit_wait_ms(&config, t.deadline_ms);
                    let wait = match (&client, wait) {
                        (Some(b), Some(w)) => client_legit_ms(b, w),
                        (_, w) => w,
                    };
                    if let Some(wait_ms) = wait {
                        if self.drain_limit_ms < wait_ms {
                            return Err(invalid(
                                "drain_limit_ms",
                                format!(
                                    "{} is shorter than tiers[{i}]'s pool may legitimately wait for a connection ({wait_ms} ms): a request still queued when the load ends would be reported as stuck; make it at least {wait_ms}",
                                    self.drain_limit_ms
                                ),
                            ));
                        }
                    }
                }
            }
        }
        match &self.load.clients {
            Clients::Closed { users, think } => {
                let raised = self.timeline.iter().any(|e| {
                    matches!(e, Event::Load { users: Some(u), at_ms, .. }
                        if *u > 0 && *at_ms < self.duration_ms)
                });
                if *users == 0 && !raised {
                    return Err(invalid(
                        "load.clients.users",
                        "must be at least 1, or 0 with a later `load` event that raises it \
                         (a quiet start): as it is, the run would send nothing",
                    ));
                }
                check_dist(think, "load.clients.think")?;
            }
            Clients::Open { arrivals } => check_arrivals(arrivals, self.duration_ms)?,
        }
        if self.load.mix.is_empty() || self.load.mix.iter().all(|m| m.weight == 0) {
            return Err(invalid("load.mix", "needs an entry with a weight above 0"));
        }
        check_dist(&self.load.hold, "load.hold")?;
        for (i, e) in self.timeline.iter().enumerate() {
            let f = format!("timeline[{i}]");
            if e.at_ms() >= self.duration_ms {
                return Err(invalid(
                    format!("{f}.at_ms"),
                    format!(
                        "{} is not before duration_ms ({}): the load ends there and the run \
                         ends as soon as its requests have drained, so the event would never \
                         happen",
                        e.at_ms(),
                        self.duration_ms
                    ),
                ));
            }
            match e {
                Event::ReplicaOf { master, .. } => {
                    parse_master(master).map_err(|why| invalid(format!("{f}.master"), why))?;
                }
                Event::SentinelFailover { .. }
                    if self
                        .server
                        .topology
                        .as_ref()
                        .is_none_or(|t| t.sentinel.is_none()) =>
                {
                    return Err(invalid(
                        f,
                        "a sentinel_failover event needs a Sentinel: add [server.topology.sentinel]",
                    ));
                }
                Event::Stall { duration_ms, .. } | Event::Hang { duration_ms, .. }
                    if *duration_ms == 0 =>
                {
                    return Err(invalid(
                        format!("{f}.duration_ms"),
                        "must be greater than zero",
                    ));
                }
                Event::Latency {
                    command_latency_ms,
                    connect_latency_ms,
                    duration_ms,
                    ..
                } => {
                    if command_latency_ms.is_none() && connect_latency_ms.is_none() {
                        return Err(invalid(
                            f,
                            "a latency event needs command_latency_ms or connect_latency_ms",
                        ));
                    }
                    if *duration_ms == Some(0) {
                        return Err(invalid(
                            format!("{f}.duration_ms"),
                            "must be greater than zero (leave it out for a lasting change)",
                        ));
                    }
                }
                Event::Load {
                    users, rate_factor, ..
                } => {
                    if users.is_none() && rate_factor.is_none() {
                        return Err(invalid(f, "a load event needs users or rate_factor"));
                    }
                    if users.is_some() && !matches!(self.load.clients, Clients::Closed { .. }) {
                        return Err(invalid(
                            format!("{f}.users"),
                            "users apply to closed-loop load",
                        ));
                    }
                    if rate_factor.is_some() && !matches!(self.load.clients, Clients::Open { .. }) {
                        return Err(invalid(
                            format!("{f}.rate_factor"),
                            "rate_factor applies to open-loop load",
                        ));
                    }
                    if rate_factor.is_some_and(|r| !(r.is_finite() && r >= 0.0)) {
                        return Err(invalid(format!("{f}.rate_factor"), "must be >= 0"));
                    }
                }
                Event::ConfigSet { name, value, .. } => {
                    // The fake's own parser decides, with Redis's error text.
                    let mut engine = fake_redis::Engine::new(fake_redis::ServerConfig::default());
                    engine.config_set(name, value).map_err(|e| invalid(f, e))?;
                }
                Event::IdleGap { duration_ms, .. } if *duration_ms == 0 => {
                    return Err(invalid(
                        format!("{f}.duration_ms"),
                        "must be greater than zero",
                    ));
                }
                _ => {}
            }
        }
        if self.expect.signature.is_empty() {
            return Err(invalid("expect.signature", "must not be empty"));
        }
        for (i, c) in self.expect.checks.iter().enumerate() {
            if !crate::report::Metrics::is_known(&c.metric) {
                return Err(invalid(
                    format!("expect.checks[{i}].metric"),
                    format!(
                        "unknown metric '{}'; known: {}",
                        c.metric,
                        crate::report::Metrics::NAMES.join(", ")
                    ),
                ));
            }
            if c.eq.is_none() && c.min.is_none() && c.max.is_none() {
                return Err(invalid(
                    format!("expect.checks[{i}]"),
                    "needs eq, min or max",
                ));
            }
        }
        Ok(())
    }
}

/// The longest a request may wait in this pool for a connection before the pool answers
/// (its pool timeout, or the request's deadline when the pool honours it); `None` when it may
/// wait forever (then only the scenario can say how long is too long).
/// The longest a handler with client `b` may legitimately take when one checkout may wait
/// `wait_ms`: every try waits for the pool and times out on both commands of a SET+GET, and
/// every retry first sleeps the back-off's cap. `None` without a read timeout (a try may wait
/// as long as the server takes).
fn client_legit_ms(b: &crate::client::ClientBehaviour, wait_ms: u64) -> Option<u64> {
    let read = b.read_timeout_ms?;
    let tries = u64::from(b.retry.attempts) + 1;
    Some(tries * (wait_ms + 2 * read) + u64::from(b.retry.attempts) * b.retry.backoff_cap_ms)
}

fn legit_wait_ms(c: &pool_core::Config, deadline_ms: u64) -> Option<u64> {
    let timeout = match c.when_exhausted {
        pool_core::WhenExhausted::FailFast => return Some(0),
        pool_core::WhenExhausted::Wait { timeout } => {
            timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }
    };
    match (timeout, c.honour_deadlines) {
        (Some(t), true) => Some(t.min(deadline_ms)),
        (Some(t), false) => Some(t),
        (None, true) => Some(deadline_ms),
        (None, false) => None,
    }
}

fn check_dist(d: &Dist, field: &str) -> Result<(), ScenarioError> {
    match *d {
        Dist::Uniform { min_ms, max_ms } if max_ms < min_ms => {
            Err(invalid(field, "max_ms must not be below min_ms"))
        }
        _ => Ok(()),
    }
}

fn check_arrivals(a: &Arrivals, duration_ms: u64) -> Result<(), ScenarioError> {
    let rate = |r: f64, f: &str| {
        if r.is_finite() && r >= 0.0 {
            Ok(())
        } else {
            Err(invalid(
                format!("load.clients.arrivals.{f}"),
                "must be >= 0",
            ))
        }
    };
    match *a {
        Arrivals::Constant { rate_per_sec } | Arrivals::Poisson { rate_per_sec } => {
            rate(rate_per_sec, "rate_per_sec")
        }
        Arrivals::Bursts {
            base_per_sec,
            burst_per_sec,
            burst_ms,
            every_ms,
        } => {
            rate(base_per_sec, "base_per_sec")?;
            rate(burst_per_sec, "burst_per_sec")?;
            if every_ms == 0 || burst_ms > every_ms {
                return Err(invalid(
                    "load.clients.arrivals.every_ms",
                    "must be positive and at least burst_ms",
                ));
            }
            Ok(())
        }
        Arrivals::Ramp {
            from_per_sec,
            to_per_sec,
            ..
        } => {
            rate(from_per_sec, "from_per_sec")?;
            rate(to_per_sec, "to_per_sec")
        }
        Arrivals::At { ref at_ms } => {
            for (i, w) in at_ms.windows(2).enumerate() {
                if w[1] < w[0] {
                    return Err(invalid(
                        format!("load.clients.arrivals.at_ms[{}]", i + 1),
                        format!(
                            "must not be before the instant ahead of it ({} < {})",
                            w[1], w[0]
                        ),
                    ));
                }
            }
            match at_ms.iter().position(|&t| t >= duration_ms) {
                Some(i) => Err(invalid(
                    format!("load.clients.arrivals.at_ms[{i}]"),
                    format!("must be before duration_ms ({duration_ms})"),
                )),
                None => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_failures_name_the_metric_and_the_bound() {
        assert_eq!(
            Check::eq("errors.eof", 3.0).failure(0.0).as_deref(),
            Some("errors.eof = 0, expected 3")
        );
        assert_eq!(Check::between("x", 1.0, 2.0).failure(1.5), None);
        assert_eq!(
            Check::max("latency_ms.p99", 100.0)
                .failure(3000.0)
                .as_deref(),
            Some("latency_ms.p99 = 3000, expected <= 100")
        );
    }

    /// A Sentinel table that says nothing is Redis Sentinel 7.0's defaults
    /// (../shared/FAILOVER-FACTS.md): `down-after-milliseconds 30000`, `failover-timeout
    /// 180000`, the master named `mymaster`, and the fake's own timings.
    #[test]
    fn an_empty_sentinel_table_is_sentinels_defaults() {
        let parsed: SentinelSpec = toml::from_str("").unwrap();
        assert_eq!(parsed, SentinelSpec::default());
        assert_eq!(parsed.master_name, "mymaster");
        assert_eq!(parsed.down_after_ms, 30_000);
        assert_eq!(parsed.failover_timeout_ms, 180_000);
        assert_eq!(parsed.tick_ms, None);
    }

    /// The figures the audit's sizing and the fuzzer's strategy read off a scenario: a
    /// distribution's mean, a command's round trips, an event moved in time.
    #[test]
    fn means_round_trips_and_moved_events() {
        assert_eq!(Dist::fixed(5).mean_ms(), 5.0);
        assert_eq!(
            Dist::Uniform {
                min_ms: 3,
                max_ms: 4
            }
            .mean_ms(),
            3.5
        );
        assert_eq!(Dist::Exponential { mean_ms: 7 }.mean_ms(), 7.0);
        assert_eq!(Command::SetGet.round_trips(), 2);
        assert_eq!(Command::Echo.round_trips(), 1);
        assert_eq!(Command::Ping.round_trips(), 1);
        let mut e = Event::KillAllClients { at_ms: 100 };
        e.set_at_ms(2_500);
        assert_eq!(e.at_ms(), 2_500);
    }

    /// Every event's label, as plots and timelines print it, and the two forms of a time in
    /// it: whole or tenth seconds from one second up, milliseconds otherwise.
    #[test]
    fn every_event_has_its_label() {
        let labels = [
            (
                Event::IdleGap {
                    at_ms: 0,
                    duration_ms: 305_999,
                },
                "idle gap 305 s",
            ),
            (
                Event::Load {
                    at_ms: 0,
                    users: Some(40),
                    rate_factor: Some(2.0),
                },
                "load: 40 users",
            ),
            (
                Event::Load {
                    at_ms: 0,
                    users: None,
                    rate_factor: Some(2.5),
                },
                "load x2.5",
            ),
            (
                Event::Load {
                    at_ms: 0,
                    users: None,
                    rate_factor: None,
                },
                "load",
            ),
            (
                Event::Restart {
                    at_ms: 0,
                    down_ms: 10,
                },
                "restart",
            ),
            (Event::KillAllClients { at_ms: 0 }, "kill all clients"),
            (
                Event::ConfigSet {
                    at_ms: 0,
                    name: "timeout".into(),
                    value: "300".into(),
                },
                "CONFIG SET timeout 300",
            ),
            (
                Event::RefuseConnections { at_ms: 0, on: true },
                "refuse connections on",
            ),
            (
                Event::RefuseConnections {
                    at_ms: 0,
                    on: false,
                },
                "refuse connections off",
            ),
            (Event::ReadOnly { at_ms: 0, on: true }, "read-only on"),
            (
                Event::ReadOnly {
                    at_ms: 0,
                    on: false,
                },
                "read-only off",
            ),
            (
                Event::Latency {
                    at_ms: 0,
                    command_latency_ms: Some(20),
                    connect_latency_ms: Some(300),
                    duration_ms: Some(10_000),
                },
                "latency 20 ms, connect latency 300 ms for 10 s",
            ),
            (
                Event::Latency {
                    at_ms: 0,
                    command_latency_ms: None,
                    connect_latency_ms: Some(5),
                    duration_ms: None,
                },
                "connect latency 5 ms",
            ),
            (
                Event::ReplicaOf {
                    at_ms: 0,
                    master: "redis-b:6380".into(),
                },
                "REPLICAOF redis-b 6380",
            ),
            (
                Event::ReplicaOf {
                    at_ms: 0,
                    master: "No One".into(),
                },
                "REPLICAOF NO ONE",
            ),
            (
                Event::Stall {
                    at_ms: 0,
                    duration_ms: 1_500,
                },
                "stall 1.5 s",
            ),
            (
                Event::Stall {
                    at_ms: 0,
                    duration_ms: 1_000,
                },
                "stall 1 s",
            ),
            (
                Event::Stall {
                    at_ms: 0,
                    duration_ms: 1_050,
                },
                "stall 1050 ms",
            ),
            (
                Event::Hang {
                    at_ms: 0,
                    duration_ms: 900,
                },
                "hang 900 ms",
            ),
            (
                Event::Hang {
                    at_ms: 0,
                    duration_ms: 200,
                },
                "hang 200 ms",
            ),
            (Event::SentinelFailover { at_ms: 0 }, "SENTINEL FAILOVER"),
        ];
        for (event, label) in labels {
            assert_eq!(event.label(), label, "{event:?}");
        }
    }

    /// A `replicaof` event's master: `host:port`, or `no one` in any case and spacing; every
    /// other form is refused with the value quoted.
    #[test]
    fn a_replicaof_master_is_host_port_or_no_one() {
        assert_eq!(
            parse_master("redis-b:6380"),
            Ok(Some(("redis-b".to_owned(), 6380)))
        );
        assert_eq!(parse_master(" NO one "), Ok(None));
        for bad in [
            "redis-b",
            "redis-b:0",
            ":6379",
            "redis-b:port",
            "redis-b:70000",
        ] {
            assert_eq!(
                parse_master(bad),
                Err(format!("'{bad}' is neither host:port nor \"no one\"")),
                "{bad}"
            );
        }
    }
}
