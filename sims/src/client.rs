//! The client above the pool, as data: what a Redis client library does around one command.
//!
//! A pool hands out connections; what happens to a command on one is the *client's* behaviour,
//! and the failover and hung-server incidents (issue #16, `../shared/FAILOVER-FACTS.md`) turn
//! on it:
//!
//! - a per-command **read timeout** and a **connect timeout** ([`ClientBehaviour::read_timeout_ms`],
//!   [`ClientBehaviour::connect_timeout_ms`]);
//! - what a timeout does to the connection ([`OnTimeout`]: closed, or back to the pool as it
//!   is with the late reply still on its way);
//! - what a `-READONLY` reply does ([`OnReadonly`]: an error on a kept connection, or a
//!   disconnect and a connection error);
//! - command **retries** ([`RetryPolicy`]: how many, the back-off's base, cap and jitter, on
//!   which [`ErrorClass`]es);
//! - how the master's address is found ([`Discovery`]: fixed, asked of Sentinel on each
//!   connect, or also followed through `+switch-master`), whether a retry's reconnect asks
//!   again ([`ClientBehaviour::retry_reconnects_to_old_address`]), and what a changed
//!   address does to pooled connections ([`OnAddressChange`],
//!   [`ClientBehaviour::address_change_leaks_slots`]).
//!
//! [`ClientProfile`] names the defaults of one real client (redis-py 5, 6–7 and 8 with and
//! without the Sentinel pool, go-redis v9 with and without `FailoverClient`, redis-rs
//! `ConnectionManager`, bb8-redis, deadpool-redis), each value read from that client's source
//! at a named version; `docs/profiles.md` ("Client profiles") gives the file and line of every
//! value, and `sims/tests/client_profiles.rs` pins each profile against that table.
//! [`ClientSpec`] is what a scenario file would write: a profile plus [`ClientOverrides`]
//! (`client = { profile = "redis-py-7", overrides = { read_timeout_ms = 500 } }`).
//!
//! **What runs.** A scenario tier's `client` ([`crate::scenario::Tier::client`]) is read by
//! both engines' request path (`request::client`): the read timeout, `OnTimeout::Close`,
//! [`OnReadonly`] and the [`RetryPolicy`] with its back-off. `OnTimeout::Keep` and the
//! Sentinel discoveries are refused by `Scenario::validate` until they are simulated;
//! `connect_timeout_ms` is not applied (connects keep the pool's own bounds).
//!
//! Like [`crate::scenario`], every type is serde with `deny_unknown_fields` and snake_case
//! words, times are whole milliseconds in fields ending in `_ms`, and validation names the
//! bad field.

use crate::knobs::Setting;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// What a client does to a connection whose command timed out (read timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The connection is closed (redis-py disconnects it, go-redis removes it as a bad
    /// connection): the late reply is never read, the next use connects anew.
    Close,
    /// The connection stays open and goes back to the pool as it is (redis-rs's multiplexed
    /// connection: the late reply arrives for a request slot nobody waits on any more).
    Keep,
}

/// What a client does when a command is answered `-READONLY You can't write against a read
/// only replica.`
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnReadonly {
    /// The caller gets the READONLY error; the connection is kept (and keeps writing to the
    /// demoted node).
    ErrorKeep,
    /// The connection is closed. The error the caller (and the retry policy) sees is a
    /// *connection* error for redis-py's Sentinel pool ("The previous master is now a slave")
    /// and the READONLY error itself for go-redis; either way the next connect discovers the
    /// master again.
    Disconnect,
}

/// How the back-off before a retry is drawn. `n` is the retry's number (1 before the first
/// retry), `u` a uniform draw in `[0, 1)`; all in milliseconds; a base of 0 means no back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// `min(cap, base · 2^n)` (redis-py `ExponentialBackoff`).
    None,
    /// `min(cap, u · base · 2^n)` (redis-py `ExponentialWithJitterBackoff`, the default of
    /// redis-py 6 and later; the cap applies after the draw).
    Full,
    /// `t + u · t` with `t = min(cap, base · 2^n) / 2` (redis-py `EqualJitterBackoff`).
    Equal,
    /// `base + u · base · 2^n`, or `cap` when that is above `cap` (go-redis
    /// `internal.RetryBackoff`).
    BasePlusFull,
}

/// A class of command error, as a retry policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The connection failed: EOF, reset, refused or failed connect (and, with
    /// [`OnReadonly::Disconnect`] in redis-py's Sentinel pool, READONLY turned into a
    /// connection error).
    Connection,
    /// A read (or connect) timeout.
    Timeout,
    /// `-READONLY ...`, the reply itself.
    Readonly,
    /// `-LOADING Redis is loading the dataset in memory`.
    Loading,
    /// `-ERR max number of clients reached`.
    MaxClients,
    /// `-MASTERDOWN Link with MASTER is down ...`.
    MasterDown,
    /// The pool gave no connection in time (go-redis retries its own pool timeout).
    PoolTimeout,
}

/// How a master's address is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discovery {
    /// One configured host:port (or a DNS name / VIP resolved by the network): connections
    /// follow a failover only if that address does.
    Fixed,
    /// Sentinel is asked on every new connection (redis-py's `SentinelConnectionPool`:
    /// `SENTINEL MASTERS`, refusing a master flagged `s_down`/`o_down`).
    SentinelOnConnect,
    /// Sentinel is asked on every new connection *and* `+switch-master` is subscribed to, so
    /// a switch is seen without a connect (go-redis `FailoverClient`).
    FollowSwitchMaster,
}

/// What a client does to its pooled connections when it learns the master's address changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAddressChange {
    /// Nothing (a fixed address never changes).
    None,
    /// Idle connections are closed at once; a connection in use at that moment finishes its
    /// command on the old address and is closed when it is released (redis-py:
    /// `disconnect(inuse_connections=False)`, then `owns_connection` false on `release`).
    /// Simulated so with this project's pool (`pools::ours`: evicted when the client learns;
    /// the request path closes one in use on release).
    DropIdle,
    /// Every connection to the old address is closed at once, idle and in use; a command in
    /// flight on one fails (go-redis `ConnPool.Filter`). Simulated so with this project's
    /// pool: idle ones evicted, the request path races each command and the load's hold
    /// against [`crate::adapter::AddressWatch`] (a command in flight fails as a connection
    /// error). bb8 and deadpool drop only at checkout (docs/real-pools.md).
    DropAll,
}

/// Command retries: how many, the back-off between them, on which errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first try (0: the first error goes to the caller). At most
    /// [`RetryPolicy::ATTEMPTS_MAX`].
    pub attempts: u32,
    /// The back-off's base; 0 = retry at once.
    pub backoff_base_ms: u64,
    /// The longest back-off; at least `backoff_base_ms`.
    pub backoff_cap_ms: u64,
    /// How the back-off is drawn between base and cap.
    pub jitter: Jitter,
    /// The errors a retry is made for (others go to the caller at once). Kept even when
    /// `attempts` is 0: it is what the library retries once a user raises `attempts`.
    pub on: BTreeSet<ErrorClass>,
}

impl RetryPolicy {
    /// The most retries a policy may ask for (a limit on everything; no profile comes close).
    pub const ATTEMPTS_MAX: u32 = 1_000;

    /// The back-off before retry `n` (1 for the first retry) for the uniform draw `u` in
    /// `[0, 1)`, in whole milliseconds (rounded down), by [`Jitter`]'s formula.
    #[must_use]
    pub fn backoff_ms(&self, n: u32, u: f64) -> u64 {
        let (base, cap) = (self.backoff_base_ms, self.backoff_cap_ms);
        if base == 0 {
            return 0;
        }
        let u = u.clamp(0.0, 1.0);
        // base · 2^n, saturating: a huge n is the cap, not an overflow.
        let grown = base.saturating_mul(2u64.saturating_pow(n));
        // Casts: `grown` and `cap` are below 2^64, the products are finite, and every result
        // is clamped to `cap` (a u64) before the cast back.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let floor = |x: f64| x.min(cap as f64).max(0.0) as u64;
        #[allow(clippy::cast_precision_loss)]
        match self.jitter {
            Jitter::None => grown.min(cap),
            Jitter::Full => floor(u * grown as f64),
            Jitter::Equal => {
                let t = grown.min(cap) as f64 / 2.0;
                floor(t + u * t)
            }
            Jitter::BasePlusFull => {
                let d = base as f64 + u * grown as f64;
                if d > cap as f64 { cap } else { floor(d) }
            }
        }
    }

    /// Whether an error of `class` is retried (given attempts left).
    #[must_use]
    pub fn retries(&self, class: ErrorClass) -> bool {
        self.on.contains(&class)
    }
}

/// A client's resolved behaviour around one command: a profile's values with any overrides
/// applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBehaviour {
    /// Per-command read timeout; `None` waits forever (until the caller's own deadline).
    pub read_timeout_ms: Option<u64>,
    /// Connect timeout; `None` waits for the kernel.
    pub connect_timeout_ms: Option<u64>,
    /// What a read timeout does to the connection.
    pub on_timeout: OnTimeout,
    /// What a READONLY reply does.
    pub on_readonly: OnReadonly,
    /// Command retries.
    pub retry: RetryPolicy,
    /// How the master's address is found.
    pub discovery: Discovery,
    /// `true`: the reconnect made by a command retry dials the host:port the connection had,
    /// without asking Sentinel (redis-py 6.0 and later, #3874: `send_packed_command` calls
    /// the base `connect_check_health`, not the Sentinel connection's `connect`). Only
    /// meaningful with Sentinel discovery.
    pub retry_reconnects_to_old_address: bool,
    /// What a changed master address does to pooled connections.
    pub on_address_change: OnAddressChange,
    /// `true`: a connection closed on release because its address is no longer the master's
    /// never gives its pool slot back (redis-py 6.0 to 8.0.1's `ConnectionPool.release`;
    /// with 8.0's bound of 100 this ends in "Too many connections", #4187, fixed in 8.1.0).
    pub address_change_leaks_slots: bool,
}

/// Why a client specification cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No client profile has this name.
    #[error("unknown client profile '{name}'; valid names: {valid}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The valid names, comma separated.
        valid: String,
    },
    /// A value makes no sense; names the field (`retry.backoff_cap_ms`).
    #[error("{field}: {why}")]
    Invalid {
        /// The field, as a path in [`ClientBehaviour`] / [`ClientOverrides`].
        field: String,
        /// Why.
        why: String,
    },
}

fn invalid(field: &str, why: impl Into<String>) -> ClientError {
    ClientError::Invalid {
        field: field.to_owned(),
        why: why.into(),
    }
}

/// `12 s`, `500 ms`, `off`: a timeout for humans.
fn show_ms(ms: Option<u64>) -> String {
    match ms {
        None => "off".to_owned(),
        Some(ms) if ms >= 1_000 && ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        Some(ms) => format!("{ms} ms"),
    }
}

/// The serde word of a unit enum value (`close`, `follow_switch_master`).
fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

impl ClientBehaviour {
    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.read_timeout_ms == Some(0) {
            return Err(invalid(
                "read_timeout_ms",
                "must be greater than zero (write \"off\" for no read timeout)",
            ));
        }
        if self.connect_timeout_ms == Some(0) {
            return Err(invalid(
                "connect_timeout_ms",
                "must be greater than zero (write \"off\" for no connect timeout)",
            ));
        }
        let r = &self.retry;
        if r.attempts > RetryPolicy::ATTEMPTS_MAX {
            return Err(invalid(
                "retry.attempts",
                format!("at most {} (got {})", RetryPolicy::ATTEMPTS_MAX, r.attempts),
            ));
        }
        if r.backoff_cap_ms < r.backoff_base_ms {
            return Err(invalid(
                "retry.backoff_cap_ms",
                format!(
                    "must be at least retry.backoff_base_ms ({}), got {}",
                    r.backoff_base_ms, r.backoff_cap_ms
                ),
            ));
        }
        if r.backoff_base_ms == 0 && r.backoff_cap_ms != 0 {
            return Err(invalid(
                "retry.backoff_cap_ms",
                format!(
                    "a back-off with base 0 is no back-off: the cap must be 0 too (got {})",
                    r.backoff_cap_ms
                ),
            ));
        }
        if self.discovery == Discovery::Fixed {
            if self.on_address_change != OnAddressChange::None {
                return Err(invalid(
                    "on_address_change",
                    "a fixed address never changes: use \"none\" (or a Sentinel discovery)",
                ));
            }
            if self.retry_reconnects_to_old_address {
                return Err(invalid(
                    "retry_reconnects_to_old_address",
                    "only meaningful with a Sentinel discovery (the address is fixed)",
                ));
            }
        }
        if self.address_change_leaks_slots && self.on_address_change != OnAddressChange::DropIdle {
            return Err(invalid(
                "address_change_leaks_slots",
                "only a connection closed on release (on_address_change = \"drop_idle\") can \
                 leak its slot",
            ));
        }
        Ok(())
    }

    /// One line: `read 5 s, connect 5 s, timeout close, readonly error_keep, 10 retries
    /// (10 ms → 1 s, full) on connection+timeout, discovery fixed, address change none`.
    #[must_use]
    pub fn describe(&self) -> String {
        let r = &self.retry;
        let retries = if r.attempts == 0 {
            "no retries".to_owned()
        } else {
            let on: Vec<String> = r.on.iter().map(word).collect();
            let backoff = if r.backoff_base_ms == 0 {
                "no back-off".to_owned()
            } else {
                format!(
                    "{} → {}, {}",
                    show_ms(Some(r.backoff_base_ms)),
                    show_ms(Some(r.backoff_cap_ms)),
                    word(&r.jitter)
                )
            };
            format!("{} retries ({backoff}) on {}", r.attempts, on.join("+"))
        };
        let mut s = format!(
            "read {}, connect {}, timeout {}, readonly {}, {retries}, discovery {}",
            show_ms(self.read_timeout_ms),
            show_ms(self.connect_timeout_ms),
            word(&self.on_timeout),
            word(&self.on_readonly),
            word(&self.discovery),
        );
        if self.retry_reconnects_to_old_address {
            s.push_str(" (retries reconnect to the old address)");
        }
        s.push_str(&format!(
            ", address change {}",
            word(&self.on_address_change)
        ));
        if self.address_change_leaks_slots {
            s.push_str(" (leaks the slot)");
        }
        s
    }
}

/// A named client: the defaults of one real library at one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientProfile {
    /// redis-py 5.0 (`Redis(host, port)`), read from v5.0.8.
    RedisPy5,
    /// redis-py 5.0 with `Sentinel.master_for` (`SentinelConnectionPool`), v5.0.8.
    RedisPy5Sentinel,
    /// redis-py 6.0 to 7.4 (`Redis(host, port)`), read from v7.4.0 (same values in v6.0.0).
    RedisPy7,
    /// redis-py 6.0 to 7.4 with `Sentinel.master_for`, v7.4.0 (same values in v6.0.0).
    RedisPy7Sentinel,
    /// redis-py 8 (`Redis(host, port)`), read from v8.1.0 (same values in v8.0.0).
    RedisPy8,
    /// redis-py 8.0.0 / 8.0.1 with `Sentinel.master_for`: the slot leak of #4187.
    RedisPy80Sentinel,
    /// redis-py 8.1 with `Sentinel.master_for`, v8.1.0 (#4187 fixed).
    RedisPy8Sentinel,
    /// go-redis v9.0 to v9.21 `NewClient`, read from v9.21.0.
    GoRedisV921,
    /// go-redis v9.0 to v9.21 `NewFailoverClient`, v9.21.0.
    GoRedisV921Failover,
    /// go-redis v9.22 `NewClient` (the version of the `go-redis-v9` pool profile).
    GoRedisV9,
    /// go-redis v9.22 `NewFailoverClient`.
    GoRedisV9Failover,
    /// redis-rs 1.8.1 `aio::ConnectionManager`.
    RedisRsConnectionManager,
    /// bb8-redis 0.26 (`RedisConnectionManager` over redis-rs 1.x).
    Bb8Redis,
    /// deadpool-redis 0.23 (`Manager` over redis-rs 1.x).
    DeadpoolRedis,
}

const REDIS_PY_ON: [ErrorClass; 4] = [
    ErrorClass::Connection,
    ErrorClass::Timeout,
    ErrorClass::Loading,
    ErrorClass::MaxClients,
];

const GO_REDIS_ON: [ErrorClass; 7] = [
    ErrorClass::Connection,
    ErrorClass::Timeout,
    ErrorClass::Readonly,
    ErrorClass::Loading,
    ErrorClass::MaxClients,
    ErrorClass::MasterDown,
    ErrorClass::PoolTimeout,
];

fn no_retry(on: &[ErrorClass]) -> RetryPolicy {
    RetryPolicy {
        attempts: 0,
        backoff_base_ms: 0,
        backoff_cap_ms: 0,
        jitter: Jitter::None,
        on: on.iter().copied().collect(),
    }
}

/// redis-py's `Redis(host, port)` of the given timeouts and retry: fixed address, a timeout
/// closes the connection, READONLY is a `ReadOnlyError` on a kept connection.
fn redis_py(timeout_ms: Option<u64>, retry: RetryPolicy) -> ClientBehaviour {
    ClientBehaviour {
        read_timeout_ms: timeout_ms,
        connect_timeout_ms: timeout_ms,
        on_timeout: OnTimeout::Close,
        on_readonly: OnReadonly::ErrorKeep,
        retry,
        discovery: Discovery::Fixed,
        retry_reconnects_to_old_address: false,
        on_address_change: OnAddressChange::None,
        address_change_leaks_slots: false,
    }
}

/// redis-py's `Sentinel.master_for`: the connection-level defaults (no command retries),
/// Sentinel asked on connect, READONLY a disconnect, idle connections dropped on a change.
fn redis_py_sentinel(
    timeout_ms: Option<u64>,
    retry_reconnects_to_old_address: bool,
    address_change_leaks_slots: bool,
) -> ClientBehaviour {
    ClientBehaviour {
        on_readonly: OnReadonly::Disconnect,
        discovery: Discovery::SentinelOnConnect,
        retry_reconnects_to_old_address,
        on_address_change: OnAddressChange::DropIdle,
        address_change_leaks_slots,
        ..redis_py(timeout_ms, no_retry(&REDIS_PY_ON))
    }
}

/// go-redis v9's `NewClient` with the version's `ReadTimeout` and back-off.
fn go_redis(read_timeout_ms: u64, backoff_base_ms: u64, backoff_cap_ms: u64) -> ClientBehaviour {
    ClientBehaviour {
        read_timeout_ms: Some(read_timeout_ms),
        connect_timeout_ms: Some(5_000),
        on_timeout: OnTimeout::Close,
        on_readonly: OnReadonly::Disconnect,
        retry: RetryPolicy {
            attempts: 3,
            backoff_base_ms,
            backoff_cap_ms,
            jitter: Jitter::BasePlusFull,
            on: GO_REDIS_ON.into_iter().collect(),
        },
        discovery: Discovery::Fixed,
        retry_reconnects_to_old_address: false,
        on_address_change: OnAddressChange::None,
        address_change_leaks_slots: false,
    }
}

/// go-redis's `NewFailoverClient`: `NewClient`'s values, the master asked of Sentinel on
/// every dial and `+switch-master` followed, every connection to the old address closed.
fn go_redis_failover(plain: ClientBehaviour) -> ClientBehaviour {
    ClientBehaviour {
        discovery: Discovery::FollowSwitchMaster,
        on_address_change: OnAddressChange::DropAll,
        ..plain
    }
}

/// A redis-rs 1.x `MultiplexedConnection` (bb8-redis, deadpool-redis, `ConnectionManager`):
/// response timeout 500 ms, connection timeout 1 s, a timeout keeps the connection, READONLY
/// is an error, no command retries, fixed address.
fn redis_rs() -> ClientBehaviour {
    ClientBehaviour {
        read_timeout_ms: Some(500),
        connect_timeout_ms: Some(1_000),
        on_timeout: OnTimeout::Keep,
        on_readonly: OnReadonly::ErrorKeep,
        retry: no_retry(&[]),
        discovery: Discovery::Fixed,
        retry_reconnects_to_old_address: false,
        on_address_change: OnAddressChange::None,
        address_change_leaks_slots: false,
    }
}

impl ClientProfile {
    /// Every client profile, in a fixed order (the order of `docs/profiles.md`'s table).
    pub const ALL: [Self; 14] = [
        Self::RedisPy5,
        Self::RedisPy5Sentinel,
        Self::RedisPy7,
        Self::RedisPy7Sentinel,
        Self::RedisPy8,
        Self::RedisPy80Sentinel,
        Self::RedisPy8Sentinel,
        Self::GoRedisV921,
        Self::GoRedisV921Failover,
        Self::GoRedisV9,
        Self::GoRedisV9Failover,
        Self::RedisRsConnectionManager,
        Self::Bb8Redis,
        Self::DeadpoolRedis,
    ];

    /// The profile's name, as accepted by [`ClientProfile::by_name`].
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RedisPy5 => "redis-py-5",
            Self::RedisPy5Sentinel => "redis-py-5-sentinel",
            Self::RedisPy7 => "redis-py-7",
            Self::RedisPy7Sentinel => "redis-py-7-sentinel",
            Self::RedisPy8 => "redis-py-8",
            Self::RedisPy80Sentinel => "redis-py-8.0-sentinel",
            Self::RedisPy8Sentinel => "redis-py-8-sentinel",
            Self::GoRedisV921 => "go-redis-v9.21",
            Self::GoRedisV921Failover => "go-redis-v9.21-failover",
            Self::GoRedisV9 => "go-redis-v9",
            Self::GoRedisV9Failover => "go-redis-v9-failover",
            Self::RedisRsConnectionManager => "redis-rs-connection-manager",
            Self::Bb8Redis => "bb8-redis",
            Self::DeadpoolRedis => "deadpool-redis",
        }
    }

    /// Where the values come from (library, version, files), one line; `docs/profiles.md`
    /// has the line of each value.
    #[must_use]
    pub const fn source(self) -> &'static str {
        match self {
            Self::RedisPy5 => "redis-py v5.0.8 redis/client.py, connection.py, retry.py",
            Self::RedisPy5Sentinel => {
                "redis-py v5.0.8 redis/sentinel.py SentinelConnectionPool, connection.py"
            }
            Self::RedisPy7 => {
                "redis-py v7.4.0 (= v6.0.0) redis/client.py, connection.py, backoff.py"
            }
            Self::RedisPy7Sentinel => {
                "redis-py v7.4.0 (= v6.0.0) redis/sentinel.py SentinelConnectionPool, connection.py"
            }
            Self::RedisPy8 => {
                "redis-py v8.1.0 (= v8.0.0) redis/client.py, _defaults.py, backoff.py"
            }
            Self::RedisPy80Sentinel => "redis-py v8.0.0 redis/sentinel.py, connection.py release",
            Self::RedisPy8Sentinel => "redis-py v8.1.0 redis/sentinel.py, connection.py release",
            Self::GoRedisV921 => "go-redis v9.21.0 options.go, error.go, redis.go",
            Self::GoRedisV921Failover => "go-redis v9.21.0 options.go, error.go, sentinel.go",
            Self::GoRedisV9 => "go-redis v9.22.0 options.go, error.go, redis.go",
            Self::GoRedisV9Failover => "go-redis v9.22.0 options.go, error.go, sentinel.go",
            Self::RedisRsConnectionManager => {
                "redis-rs 1.8.1 src/aio/connection_manager.rs, client.rs, errors/"
            }
            Self::Bb8Redis => "bb8-redis 0.26.0 redis/src/lib.rs; redis-rs 1.8.1 client.rs",
            Self::DeadpoolRedis => {
                "deadpool-redis 0.23.0 crates/deadpool-redis/src/lib.rs; redis-rs 1.8.1 client.rs"
            }
        }
    }

    /// Looks a profile up by [`ClientProfile::name`]; the error lists the valid names.
    pub fn by_name(name: &str) -> Result<Self, ClientError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ClientError::UnknownProfile {
                name: name.to_owned(),
                valid: Self::ALL.map(Self::name).join(", "),
            })
    }

    /// The profile's values (each sourced in `docs/profiles.md`, "Client profiles").
    #[must_use]
    pub fn behaviour(self) -> ClientBehaviour {
        // redis-py 6.0–7.4 plain client: Retry(ExponentialWithJitterBackoff(base=1, cap=10), 3).
        let redis_py_7_retry = RetryPolicy {
            attempts: 3,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 10_000,
            jitter: Jitter::Full,
            on: REDIS_PY_ON.into_iter().collect(),
        };
        // redis-py 8 plain client: DEFAULT_RETRY_COUNT 10, base 10 ms, cap 1 s.
        let redis_py_8_retry = RetryPolicy {
            attempts: 10,
            backoff_base_ms: 10,
            backoff_cap_ms: 1_000,
            ..redis_py_7_retry.clone()
        };
        match self {
            Self::RedisPy5 => redis_py(None, no_retry(&REDIS_PY_ON)),
            Self::RedisPy5Sentinel => redis_py_sentinel(None, false, false),
            Self::RedisPy7 => redis_py(None, redis_py_7_retry),
            Self::RedisPy7Sentinel => redis_py_sentinel(None, true, true),
            Self::RedisPy8 => redis_py(Some(5_000), redis_py_8_retry),
            Self::RedisPy80Sentinel => redis_py_sentinel(Some(5_000), true, true),
            Self::RedisPy8Sentinel => redis_py_sentinel(Some(5_000), true, false),
            Self::GoRedisV921 => go_redis(3_000, 8, 512),
            Self::GoRedisV921Failover => go_redis_failover(go_redis(3_000, 8, 512)),
            Self::GoRedisV9 => go_redis(5_000, 10, 1_000),
            Self::GoRedisV9Failover => go_redis_failover(go_redis(5_000, 10, 1_000)),
            Self::RedisRsConnectionManager | Self::Bb8Redis | Self::DeadpoolRedis => redis_rs(),
        }
    }
}

impl fmt::Display for ClientProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ClientProfile {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::by_name(s)
    }
}

/// Overrides of [`RetryPolicy`]'s fields; `None` keeps the profile's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOverrides {
    /// [`RetryPolicy::attempts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// [`RetryPolicy::backoff_base_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_base_ms: Option<u64>,
    /// [`RetryPolicy::backoff_cap_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_cap_ms: Option<u64>,
    /// [`RetryPolicy::jitter`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// [`RetryPolicy::on`], replaced whole (`on = []` retries nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<BTreeSet<ErrorClass>>,
}

impl RetryOverrides {
    /// No field set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Overrides of a client profile's values, as a scenario file spells them; `None` keeps the
/// profile's value. Timeouts take a number or `"off"`, like [`crate::knobs::Overrides`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOverrides {
    /// [`ClientBehaviour::read_timeout_ms`]; `"off"` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout_ms: Option<Setting<u64>>,
    /// [`ClientBehaviour::connect_timeout_ms`]; `"off"` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<Setting<u64>>,
    /// [`ClientBehaviour::on_timeout`]: `close` or `keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<OnTimeout>,
    /// [`ClientBehaviour::on_readonly`]: `error_keep` or `disconnect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_readonly: Option<OnReadonly>,
    /// [`ClientBehaviour::retry`], field by field.
    #[serde(default, skip_serializing_if = "RetryOverrides::is_empty")]
    pub retry: RetryOverrides,
    /// [`ClientBehaviour::discovery`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// [`ClientBehaviour::retry_reconnects_to_old_address`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_reconnects_to_old_address: Option<bool>,
    /// [`ClientBehaviour::on_address_change`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_address_change: Option<OnAddressChange>,
    /// [`ClientBehaviour::address_change_leaks_slots`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_change_leaks_slots: Option<bool>,
}

fn setting(s: Setting<u64>) -> Option<u64> {
    match s {
        Setting::Off => None,
        Setting::Value(v) => Some(v),
    }
}

impl ClientOverrides {
    /// `behaviour` with these overrides applied (not validated: [`ClientBehaviour::validate`]
    /// names a bad value or combination).
    #[must_use]
    pub fn apply(&self, mut b: ClientBehaviour) -> ClientBehaviour {
        if let Some(v) = self.read_timeout_ms {
            b.read_timeout_ms = setting(v);
        }
        if let Some(v) = self.connect_timeout_ms {
            b.connect_timeout_ms = setting(v);
        }
        if let Some(v) = self.on_timeout {
            b.on_timeout = v;
        }
        if let Some(v) = self.on_readonly {
            b.on_readonly = v;
        }
        let r = &self.retry;
        if let Some(v) = r.attempts {
            b.retry.attempts = v;
        }
        if let Some(v) = r.backoff_base_ms {
            b.retry.backoff_base_ms = v;
        }
        if let Some(v) = r.backoff_cap_ms {
            b.retry.backoff_cap_ms = v;
        }
        if let Some(v) = r.jitter {
            b.retry.jitter = v;
        }
        if let Some(v) = &r.on {
            b.retry.on.clone_from(v);
        }
        if let Some(v) = self.discovery {
            b.discovery = v;
        }
        if let Some(v) = self.retry_reconnects_to_old_address {
            b.retry_reconnects_to_old_address = v;
        }
        if let Some(v) = self.on_address_change {
            b.on_address_change = v;
        }
        if let Some(v) = self.address_change_leaks_slots {
            b.address_change_leaks_slots = v;
        }
        b
    }

    /// The overridden values as `name=value`, comma separated in name order (`retry.` before
    /// the retry fields), empty when none.
    #[must_use]
    pub fn describe(&self) -> String {
        // The serialized form lists exactly the fields that are set, sorted by name.
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let Some(map) = v.as_object() else {
            return String::new();
        };
        let show = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut parts = Vec::new();
        for (k, v) in map {
            match v.as_object() {
                Some(inner) => {
                    for (ik, iv) in inner {
                        parts.push(format!("{k}.{ik}={}", show(iv)));
                    }
                }
                None => parts.push(format!("{k}={}", show(v))),
            }
        }
        parts.join(", ")
    }
}

/// A client as a scenario would name it: a [`ClientProfile`] name plus overrides.
///
/// The value of [`crate::scenario::Tier::client`]; it reads and writes as
/// `client = { profile = "redis-py-7", overrides = { read_timeout_ms = 500 } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// A [`ClientProfile`] name (`redis-py-7`, `go-redis-v9-failover`, ...).
    pub profile: String,
    /// Values changed from the profile.
    #[serde(default)]
    pub overrides: ClientOverrides,
}

impl ClientSpec {
    /// The profile as it is.
    #[must_use]
    pub fn profile(name: &str) -> Self {
        Self {
            profile: name.to_owned(),
            overrides: ClientOverrides::default(),
        }
    }

    /// The profile with `overrides`.
    #[must_use]
    pub fn with(mut self, overrides: ClientOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The resolved, validated behaviour; the error names the profile or the bad field.
    pub fn behaviour(&self) -> Result<ClientBehaviour, ClientError> {
        let profile = ClientProfile::by_name(&self.profile)?;
        let b = self.overrides.apply(profile.behaviour());
        b.validate()?;
        Ok(b)
    }

    /// `profile` plus the overridden values, e.g. `redis-py-7 (read_timeout_ms=500)`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_an_unknown_one_lists_the_valid_names() {
        for p in ClientProfile::ALL {
            assert_eq!(ClientProfile::by_name(p.name()), Ok(p));
            assert_eq!(p.name().parse::<ClientProfile>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        let err = ClientProfile::by_name("redis-py").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown client profile 'redis-py'"), "{text}");
        assert!(text.contains("redis-py-7-sentinel"), "{text}");
    }

    #[test]
    fn every_profile_validates() {
        for p in ClientProfile::ALL {
            if let Err(e) = p.behaviour().validate() {
                panic!("{p}: {e}");
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<&str> = ClientProfile::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names.len(), ClientProfile::ALL.len());
    }

    #[test]
    fn go_redis_backoff_is_base_plus_a_draw_capped() {
        let r = ClientProfile::GoRedisV921.behaviour().retry;
        // n = 1: 8 + u · 16, below the 512 ms cap.
        assert_eq!(r.backoff_ms(1, 0.0), 8);
        assert_eq!(r.backoff_ms(1, 0.5), 16);
        // n = 6: 8 + u · 512: anything above 512 is the cap.
        assert_eq!(r.backoff_ms(6, 0.99), 512);
        assert_eq!(r.backoff_ms(6, 0.5), 264);
        // A huge retry number saturates instead of overflowing.
        assert_eq!(r.backoff_ms(200, 0.0), 8);
        assert_eq!(r.backoff_ms(200, 0.5), 512);
    }

    #[test]
    fn redis_py_backoff_caps_after_the_draw() {
        let r = ClientProfile::RedisPy7.behaviour().retry;
        // min(10 s, u · 1 s · 2^n)
        assert_eq!(r.backoff_ms(1, 0.0), 0);
        assert_eq!(r.backoff_ms(1, 0.5), 1_000);
        assert_eq!(r.backoff_ms(3, 0.75), 6_000);
        assert_eq!(r.backoff_ms(4, 0.75), 10_000);
        let mut equal = r.clone();
        equal.jitter = Jitter::Equal;
        // t = min(10 s, 2 s) / 2 = 1 s; 1 s + u · 1 s
        assert_eq!(equal.backoff_ms(1, 0.5), 1_500);
        let mut none = r;
        none.jitter = Jitter::None;
        assert_eq!(none.backoff_ms(2, 0.9), 4_000);
        assert_eq!(none.backoff_ms(9, 0.9), 10_000);
        assert_eq!(no_retry(&[]).backoff_ms(3, 0.5), 0);
    }

    /// Whole seconds in seconds, everything else in milliseconds: 1,500 ms is not "1 s".
    #[test]
    fn timeouts_show_whole_seconds_as_seconds_and_the_rest_in_milliseconds() {
        assert_eq!(show_ms(None), "off");
        assert_eq!(show_ms(Some(0)), "0 ms");
        assert_eq!(show_ms(Some(500)), "500 ms");
        assert_eq!(show_ms(Some(1_000)), "1 s");
        assert_eq!(show_ms(Some(1_500)), "1500 ms");
        assert_eq!(show_ms(Some(12_000)), "12 s");
    }

    #[test]
    fn describe_says_what_matters_in_one_line() {
        assert_eq!(
            ClientProfile::GoRedisV9Failover.behaviour().describe(),
            "read 5 s, connect 5 s, timeout close, readonly disconnect, 3 retries \
             (10 ms → 1 s, base_plus_full) on connection+timeout+readonly+loading+max_clients+\
             master_down+pool_timeout, discovery follow_switch_master, address change drop_all"
        );
        assert_eq!(
            ClientProfile::RedisPy80Sentinel.behaviour().describe(),
            "read 5 s, connect 5 s, timeout close, readonly disconnect, no retries, discovery \
             sentinel_on_connect (retries reconnect to the old address), address change \
             drop_idle (leaks the slot)"
        );
    }
}
