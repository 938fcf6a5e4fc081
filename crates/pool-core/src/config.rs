//! Pool configuration: every knob of the real pools this project models.
//!
//! Each field's rustdoc names the real pools that have the knob. A [`Config`] is checked by
//! [`Config::validate`] (called by [`crate::Pool::new`]); nonsense is refused with a
//! [`ConfigError`] naming the field.

use std::time::Duration;

/// What the pool does when a request arrives, no connection is idle and the pool is at
/// `max_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenExhausted {
    /// Queue the request until a connection frees up, at most `timeout` (None = forever).
    /// go-redis `PoolTimeout`, redis-py `BlockingConnectionPool(timeout=)`, HikariCP
    /// `connectionTimeout`, bb8 `connection_timeout`, deadpool `timeouts.wait`, Jedis `maxWait`.
    Wait {
        /// The pool timeout: how long a queued request may wait before `Reject { PoolTimeout }`.
        timeout: Option<Duration>,
    },
    /// Reject at once with `TooManyConnections`: redis-py `ConnectionPool` and aioredis 2
    /// ("Too many connections"), go-redis `MaxActiveConns` (ErrPoolExhausted).
    FailFast,
}

/// When a connection taken from the idle list is checked before it is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckWhen {
    /// Never: radix.v2 hands out whatever the channel holds.
    Never,
    /// On every checkout: bb8 `test_on_check_out`, deadpool recycle, r2d2, mobc `health_check`.
    Always,
    /// Only when the connection sat idle at least this long: HikariCP `aliveBypassWindowMs`,
    /// redis-py `health_check_interval`.
    IfIdleFor(Duration),
}

/// How a connection is checked. Emitted in [`crate::Output::Check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckHow {
    /// A non-blocking look at the socket: readable or EOF means the server closed it
    /// (redis-py `can_read`, go-redis `connCheck`). No round trip.
    Peek,
    /// A `PING` round trip (bb8-redis, deadpool-redis, Jedis `testOnBorrow`, redis-py health check).
    Ping,
}

/// The check-on-checkout policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOnCheckout {
    /// When to check.
    pub when: CheckWhen,
    /// How to check.
    pub how: CheckHow,
}

/// Which idle connections a keepalive round touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveScope {
    /// Every connection idle for at least `interval` is pinged (HikariCP `keepaliveTime`,
    /// Jedis `testWhileIdle`).
    EveryIdle,
    /// One connection per interval, taken through the pool like a request (the fix in seed 003:
    /// a goroutine calling `p.Cmd("PING")` every idleTime). Incomplete when
    /// `pool_size * interval > server timeout`.
    OnePerInterval,
}

/// Background keepalive pings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// How often the keepalive runs.
    pub interval: Duration,
    /// What it touches.
    pub scope: KeepaliveScope,
}

/// Order in which idle connections are reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Most recently returned first: redis-py, go-redis (default), HikariCP, r2d2, mobc, Jedis.
    Lifo,
    /// Least recently returned first: radix.v2's channel, bb8 and deadpool (default), go-redis `PoolFIFO`.
    Fifo,
}

/// How queued waiters compete with new requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fairness {
    /// A freed connection goes to the oldest waiter; a new request never overtakes a waiter
    /// (deadpool's FIFO semaphore).
    StrictFifo,
    /// A new acquire may take an idle connection ahead of queued waiters (bb8, sqlx, HikariCP's
    /// scanners, go-redis "eventual fairness").
    Barging,
}

/// Back-off after failed connects: the next connect is delayed by `initial`, doubling per
/// consecutive failure up to `max` (HikariCP adder 10 ms → 5 s, bb8 200 ms doubling,
/// go-redis dial back-off). Reset by a successful connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
}

/// Every knob of the pool. Build one from a [`crate::Profile`] and adjust fields, then hand it
/// to [`crate::Pool::new`], which validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most live connections (idle + in use + connecting + checking). `None` = unbounded, as
    /// redis-py's `max_connections=2**31` up to 8.0, aioredis 2's default and radix.v2.
    pub max_size: Option<u32>,
    /// Idle connections the pool keeps open by connecting ahead of demand: HikariCP
    /// `minimumIdle`, bb8 `min_idle`, go-redis `MinIdleConns`, r2d2 `min_idle`.
    pub min_idle: u32,
    /// Most idle connections kept; a connection released beyond it is closed: radix.v2's
    /// channel capacity, Jedis `maxIdle`, mobc `max_idle`, go-redis `MaxIdleConns`.
    pub max_idle: Option<u32>,
    /// Wait or fail fast when exhausted.
    pub when_exhausted: WhenExhausted,
    /// Close connections idle longer than this: HikariCP `idleTimeout`, bb8 `idle_timeout`,
    /// go-redis `ConnMaxIdleTime`, ngx_lua `set_keepalive(max_idle_timeout)`.
    pub idle_timeout: Option<Duration>,
    /// Close connections older than this (when idle, or on release): HikariCP `maxLifetime`,
    /// bb8 `max_lifetime`, go-redis `ConnMaxLifetime`.
    pub max_lifetime: Option<Duration>,
    /// Random reduction of each connection's lifetime, uniform in `[0, jitter]`, from `seed`:
    /// HikariCP subtracts up to 2.5% so connections do not all expire together.
    pub lifetime_jitter: Option<Duration>,
    /// Seed of the jitter. The only randomness in pool-core.
    pub seed: u64,
    /// Check on checkout.
    pub check_on_checkout: CheckOnCheckout,
    /// Background keepalive: HikariCP `keepaliveTime`, Jedis `testWhileIdle`, seed 003's
    /// PING goroutine.
    pub keepalive: Option<Keepalive>,
    /// Most connects in flight at once: go-redis `MaxConcurrentDials`, HikariCP's single adder
    /// thread. `None` = no limit.
    pub max_concurrent_connects: Option<u32>,
    /// Give up on a connect after this long: go-redis `DialTimeout`, redis-py `socket_connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// Delay before connecting again after failures.
    pub connect_backoff: Option<Backoff>,
    /// LIFO or FIFO reuse of idle connections.
    pub reuse: Reuse,
    /// Strict FIFO hand-off or barging.
    pub fairness: Fairness,
    /// Reject a queued request at its own deadline (go-redis honours the context deadline)
    /// rather than only at the pool timeout.
    pub honour_deadlines: bool,
    /// Most queued requests; beyond it `Reject { QueueFull }`: HikariCP has none, go-redis
    /// none, the `recommended` profile bounds it. `None` = unbounded.
    pub max_waiters: Option<u32>,
}

/// A configuration that makes no sense, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_size` is `Some(0)`: the pool could never grant anything.
    #[error("max_size must be at least 1 (got 0); use None for an unbounded pool")]
    ZeroMaxSize,
    /// `min_idle` exceeds `max_size`.
    #[error("min_idle ({min_idle}) must not exceed max_size ({max_size})")]
    MinIdleAboveMaxSize {
        /// Configured min_idle.
        min_idle: u32,
        /// Configured max_size.
        max_size: u32,
    },
    /// `min_idle` exceeds `max_idle`: the pool would connect and close forever.
    #[error("min_idle ({min_idle}) must not exceed max_idle ({max_idle})")]
    MinIdleAboveMaxIdle {
        /// Configured min_idle.
        min_idle: u32,
        /// Configured max_idle.
        max_idle: u32,
    },
    /// A duration knob that must be positive is zero.
    #[error("{field} must be greater than zero")]
    ZeroDuration {
        /// The field's name, e.g. `keepalive.interval`.
        field: &'static str,
    },
    /// A count knob that must be positive is zero.
    #[error("{field} must be at least 1 (got 0)")]
    ZeroCount {
        /// The field's name, e.g. `max_concurrent_connects`.
        field: &'static str,
    },
    /// Two knobs contradict each other.
    #[error("{field}: {why}")]
    Inconsistent {
        /// The field's name.
        field: &'static str,
        /// Why it is refused.
        why: &'static str,
    },
}

impl Config {
    /// Every optional knob off: unbounded, fail fast, no idle timeout or lifetime, no check on
    /// checkout, no keepalive, no connect limits, LIFO reuse, strict FIFO waiters, deadlines
    /// not honoured, no waiter bound. A starting point for struct-update syntax
    /// (`Config { max_size: Some(8), ..Config::bare() }`); the profiles build on it too.
    #[must_use]
    pub const fn bare() -> Self {
        Self {
            max_size: None,
            min_idle: 0,
            max_idle: None,
            when_exhausted: WhenExhausted::FailFast,
            idle_timeout: None,
            max_lifetime: None,
            lifetime_jitter: None,
            seed: 0,
            check_on_checkout: CheckOnCheckout {
                when: CheckWhen::Never,
                how: CheckHow::Peek,
            },
            keepalive: None,
            max_concurrent_connects: None,
            connect_timeout: None,
            connect_backoff: None,
            reuse: Reuse::Lifo,
            fairness: Fairness::StrictFifo,
            honour_deadlines: false,
            max_waiters: None,
        }
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// Refused: `max_size` 0; `min_idle` above `max_size` or `max_idle`; `max_idle` 0; any
    /// timeout or interval of zero (`when_exhausted.timeout`, `idle_timeout`, `max_lifetime`,
    /// `check_on_checkout.when` (`IfIdleFor(0)`: use `Always`), `keepalive.interval`,
    /// `connect_timeout`, `connect_backoff.initial`); `connect_backoff.max` below its
    /// `initial`; `lifetime_jitter` without `max_lifetime` or not shorter than it;
    /// `max_concurrent_connects` 0; `max_waiters` 0 (use `WhenExhausted::FailFast`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn positive(d: Option<Duration>, field: &'static str) -> Result<(), ConfigError> {
            match d {
                Some(d) if d.is_zero() => Err(ConfigError::ZeroDuration { field }),
                _ => Ok(()),
            }
        }
        fn count(n: Option<u32>, field: &'static str) -> Result<(), ConfigError> {
            match n {
                Some(0) => Err(ConfigError::ZeroCount { field }),
                _ => Ok(()),
            }
        }
        if self.max_size == Some(0) {
            return Err(ConfigError::ZeroMaxSize);
        }
        if let Some(max_size) = self.max_size.filter(|&m| self.min_idle > m) {
            return Err(ConfigError::MinIdleAboveMaxSize {
                min_idle: self.min_idle,
                max_size,
            });
        }
        count(self.max_idle, "max_idle")?;
        if let Some(max_idle) = self.max_idle.filter(|&m| self.min_idle > m) {
            return Err(ConfigError::MinIdleAboveMaxIdle {
                min_idle: self.min_idle,
                max_idle,
            });
        }
        if let WhenExhausted::Wait { timeout } = self.when_exhausted {
            positive(timeout, "when_exhausted.timeout")?;
        }
        positive(self.idle_timeout, "idle_timeout")?;
        positive(self.max_lifetime, "max_lifetime")?;
        if let Some(jitter) = self.lifetime_jitter {
            match self.max_lifetime {
                None => {
                    return Err(ConfigError::Inconsistent {
                        field: "lifetime_jitter",
                        why: "jitter needs max_lifetime",
                    });
                }
                Some(life) if jitter >= life => {
                    return Err(ConfigError::Inconsistent {
                        field: "lifetime_jitter",
                        why: "jitter must be shorter than max_lifetime",
                    });
                }
                Some(_) => {}
            }
        }
        if let CheckWhen::IfIdleFor(d) = self.check_on_checkout.when {
            positive(Some(d), "check_on_checkout.when")?;
        }
        if let Some(k) = self.keepalive {
            positive(Some(k.interval), "keepalive.interval")?;
        }
        count(self.max_concurrent_connects, "max_concurrent_connects")?;
        positive(self.connect_timeout, "connect_timeout")?;
        if let Some(b) = self.connect_backoff {
            positive(Some(b.initial), "connect_backoff.initial")?;
            if b.max < b.initial {
                return Err(ConfigError::Inconsistent {
                    field: "connect_backoff.max",
                    why: "must not be shorter than connect_backoff.initial",
                });
            }
        }
        count(self.max_waiters, "max_waiters")?;
        Ok(())
    }

    /// The pool timeout when waiting (`None` for fail-fast pools and waits without a bound).
    #[must_use]
    pub fn pool_timeout(&self) -> Option<Duration> {
        match self.when_exhausted {
            WhenExhausted::Wait { timeout } => timeout,
            WhenExhausted::FailFast => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    fn base() -> Config {
        Profile::Recommended.config()
    }

    #[test]
    fn every_profile_validates() {
        for p in Profile::ALL {
            assert_eq!(p.config().validate(), Ok(()), "{p}");
        }
    }

    #[test]
    fn nonsense_is_refused_naming_the_field() {
        let zero = Duration::ZERO;
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    max_size: Some(0),
                    ..base()
                },
                "max_size",
            ),
            (
                Config {
                    min_idle: 30,
                    ..base()
                },
                "min_idle (30) must not exceed max_size",
            ),
            (
                Config {
                    max_idle: Some(1),
                    ..base()
                },
                "min_idle (2) must not exceed max_idle (1)",
            ),
            (
                Config {
                    max_idle: Some(0),
                    min_idle: 0,
                    ..base()
                },
                "max_idle",
            ),
            (
                Config {
                    when_exhausted: WhenExhausted::Wait {
                        timeout: Some(zero),
                    },
                    ..base()
                },
                "when_exhausted.timeout",
            ),
            (
                Config {
                    idle_timeout: Some(zero),
                    ..base()
                },
                "idle_timeout",
            ),
            (
                Config {
                    max_lifetime: Some(zero),
                    ..base()
                },
                "max_lifetime",
            ),
            (
                Config {
                    max_lifetime: None,
                    ..base()
                },
                "lifetime_jitter: jitter needs max_lifetime",
            ),
            (
                Config {
                    lifetime_jitter: Some(Duration::from_secs(3600)),
                    ..base()
                },
                "lifetime_jitter: jitter must be shorter",
            ),
            (
                Config {
                    check_on_checkout: CheckOnCheckout {
                        when: CheckWhen::IfIdleFor(zero),
                        how: CheckHow::Ping,
                    },
                    ..base()
                },
                "check_on_checkout.when",
            ),
            (
                Config {
                    keepalive: Some(Keepalive {
                        interval: zero,
                        scope: KeepaliveScope::EveryIdle,
                    }),
                    ..base()
                },
                "keepalive.interval",
            ),
            (
                Config {
                    max_concurrent_connects: Some(0),
                    ..base()
                },
                "max_concurrent_connects",
            ),
            (
                Config {
                    connect_timeout: Some(zero),
                    ..base()
                },
                "connect_timeout",
            ),
            (
                Config {
                    connect_backoff: Some(Backoff {
                        initial: zero,
                        max: zero,
                    }),
                    ..base()
                },
                "connect_backoff.initial",
            ),
            (
                Config {
                    connect_backoff: Some(Backoff {
                        initial: Duration::from_secs(2),
                        max: Duration::from_secs(1),
                    }),
                    ..base()
                },
                "connect_backoff.max",
            ),
            (
                Config {
                    max_waiters: Some(0),
                    ..base()
                },
                "max_waiters",
            ),
        ];
        for (config, field) in cases {
            let err = config.validate().expect_err(field).to_string();
            assert!(err.contains(field), "{err:?} should name {field:?}");
        }
    }

    #[test]
    fn pool_new_refuses_an_invalid_config() {
        let err = crate::Pool::new(Config {
            max_size: Some(0),
            ..base()
        })
        .unwrap_err();
        assert_eq!(err, ConfigError::ZeroMaxSize);
    }
}
