//! Presets mimicking real pools.
//!
//! Each profile is a [`Config`] with the defaults of one real library (or the value the
//! incident write-up used, when the size is the user's choice there). Sources are named on
//! each constructor so they can be checked again; `docs/profiles.md` has the same facts as a
//! profile × knob table. Sizes a library derives from the machine use a fixed value for a
//! 2-core machine (go-redis: 10 × GOMAXPROCS = 20; deadpool: 2 × CPUs = 4).
//!
//! What the model cannot express is said on each profile (e.g. radix.v2's initial fill, bb8's
//! reaper period, go-redis's command retries).

use crate::config::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, Config, Fairness, Keepalive, KeepaliveScope,
    Reuse, WhenExhausted,
};
use std::fmt;
use std::time::Duration;

/// A named preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// radix.v2 pool (seed 003).
    RadixV2,
    /// redis-py `ConnectionPool`.
    RedisPy,
    /// redis-py `BlockingConnectionPool`.
    RedisPyBlocking,
    /// aioredis 2 (seed 000).
    Aioredis,
    /// go-redis v9.
    GoRedisV9,
    /// HikariCP.
    Hikari,
    /// bb8 0.9.
    Bb8,
    /// deadpool 0.12.
    Deadpool,
    /// r2d2.
    R2d2,
    /// What this project recommends.
    Recommended,
}

/// `Profile::by_name` got a name it does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile '{name}'; valid names: {valid}")]
pub struct UnknownProfile {
    /// The name given.
    pub name: String,
    /// The valid names, comma separated.
    pub valid: String,
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Knobs no library in this list sets, as a starting point.
const fn base() -> Config {
    Config::bare()
}

impl Profile {
    /// Every profile, in a fixed order.
    pub const ALL: [Self; 10] = [
        Self::RadixV2,
        Self::RedisPy,
        Self::RedisPyBlocking,
        Self::Aioredis,
        Self::GoRedisV9,
        Self::Hikari,
        Self::Bb8,
        Self::Deadpool,
        Self::R2d2,
        Self::Recommended,
    ];

    /// The profile's name, as accepted by [`Profile::by_name`].
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RadixV2 => "radix-v2",
            Self::RedisPy => "redis-py",
            Self::RedisPyBlocking => "redis-py-blocking",
            Self::Aioredis => "aioredis",
            Self::GoRedisV9 => "go-redis-v9",
            Self::Hikari => "hikari",
            Self::Bb8 => "bb8",
            Self::Deadpool => "deadpool",
            Self::R2d2 => "r2d2",
            Self::Recommended => "recommended",
        }
    }

    /// Where the defaults come from (file or docs page), one line.
    #[must_use]
    pub const fn source(self) -> &'static str {
        match self {
            Self::RadixV2 => "github.com/mediocregopher/radix.v2 pool/pool.go; seed 003 (size 3)",
            Self::RedisPy => "redis-py 8.1 redis/connection.py ConnectionPool",
            Self::RedisPyBlocking => "redis-py 8.1 redis/connection.py BlockingConnectionPool",
            Self::Aioredis => "aioredis 2.0 aioredis/connection.py ConnectionPool; seed 000 (50)",
            Self::GoRedisV9 => "go-redis v9 options.go, internal/pool/pool.go, conn_check.go",
            Self::Hikari => "HikariCP HikariConfig.java, HikariPool.java, ConcurrentBag.java",
            Self::Bb8 => "bb8 0.9 bb8/src/api.rs (Builder defaults), inner.rs",
            Self::Deadpool => "deadpool 0.12 managed/config.rs, managed/mod.rs; deadpool-redis",
            Self::R2d2 => "r2d2 0.8 src/lib.rs (Builder defaults)",
            Self::Recommended => "poolsim docs/profiles.md (recommended)",
        }
    }

    /// Looks a profile up by [`Profile::name`]; the error lists the valid names.
    pub fn by_name(name: &str) -> Result<Self, UnknownProfile> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| UnknownProfile {
                name: name.to_owned(),
                valid: Self::ALL.map(Self::name).join(", "),
            })
    }

    /// The profile's configuration.
    #[must_use]
    pub fn config(self) -> Config {
        match self {
            Self::RadixV2 => radix_v2(),
            Self::RedisPy => redis_py(),
            Self::RedisPyBlocking => redis_py_blocking(),
            Self::Aioredis => aioredis(),
            Self::GoRedisV9 => go_redis_v9(),
            Self::Hikari => hikari(),
            Self::Bb8 => bb8(),
            Self::Deadpool => deadpool(),
            Self::R2d2 => r2d2(),
            Self::Recommended => recommended(),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::by_name(s)
    }
}

/// radix.v2 `pool.Pool` (`pool/pool.go`), as in seed 003.
/// - A buffered channel of `size` connections: `Put` on a full channel closes the connection
///   (`max_idle` = size = 3, the incident's value); `Get` on an empty channel dials a new one,
///   so live connections are unbounded (`max_size` None) and a dial error goes straight to the
///   caller (fail fast, `ConnectFailed`).
/// - No validation on `Get` (`CheckWhen::Never`): a connection the server closed is handed out
///   and reads EOF. No idle timeout, no keepalive (the seed's fix is this profile plus
///   `Keepalive { scope: OnePerInterval }`).
/// - FIFO channel (`Reuse::Fifo`).
/// - Not modelled: `NewCustom` dials `size` connections up front and never refills them
///   (`min_idle` 0 here).
fn radix_v2() -> Config {
    Config {
        max_idle: Some(3),
        reuse: Reuse::Fifo,
        ..base()
    }
}

/// redis-py 8.1 `ConnectionPool` (`redis/connection.py`).
/// - `max_connections` 100 (it was 2**31, unbounded, up to 8.0 and in seed 001: set
///   `max_size: None` to replay that incident); past it `get_connection` raises
///   `MaxConnectionsError("Too many connections")` at once (fail fast).
/// - On checkout it calls `can_read()`: a readable idle socket means EOF, so it reconnects
///   (`Always`, `Peek`). `health_check_interval` is 0 by default (no ping).
/// - Idle connections are kept forever (no idle timeout, no lifetime); reuse is LIFO
///   (`_available_connections.pop()`).
fn redis_py() -> Config {
    Config {
        max_size: Some(100),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        ..base()
    }
}

/// redis-py 8.1 `BlockingConnectionPool` (`redis/connection.py`).
/// - `max_connections` 50, a `LifoQueue` pre-filled with placeholders (connections are made
///   lazily); `get_connection` waits `timeout` 20 s, then raises
///   `ConnectionError("No connection available.")` (`PoolTimeout`).
/// - `can_read()` on checkout as `ConnectionPool`. LIFO.
/// - `queue.get(block, timeout)` is a condition variable: a new caller can take a freed
///   connection before the woken thread runs (barging, "not strictly FIFO").
fn redis_py_blocking() -> Config {
    Config {
        max_size: Some(50),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(20)),
        },
        fairness: Fairness::Barging,
        ..redis_py()
    }
}

/// aioredis 2.0 `ConnectionPool` (`aioredis/connection.py`), as in seed 000.
/// - `max_connections` 50, the incident's `from_url(..., max_connections=50)` (the library's
///   default is 2**31); past it `ConnectionError("Too many connections")` at once.
/// - `get_connection` checks `can_read()` (`Always`, `Peek`) and reconnects; LIFO; no idle
///   timeout. Same design as redis-py 4.
fn aioredis() -> Config {
    Config {
        max_size: Some(50),
        ..redis_py()
    }
}

/// go-redis v9 (`options.go`, `internal/pool/pool.go`, `internal/pool/conn_check.go`).
/// - `PoolSize` 10 × GOMAXPROCS: 20 on a 2-core machine. `MaxActiveConns` unlimited.
/// - Waits up to `PoolTimeout` = `ReadTimeout` + 1 s = 6 s from v9.22 (4 s up to v9.21), or
///   the context deadline, whichever is first (`honour_deadlines`) → `connection pool timeout`.
/// - `ConnMaxIdleTime` 30 min (go-redis checks it lazily on `Get`; the model also closes on
///   the timer), `ConnMaxLifetime` off. `connCheck` peeks the socket on `Get` (`Always`,
///   `Peek`). `DialTimeout` 5 s. `MinIdleConns` 0.
/// - LIFO by default (`PoolFIFO` false); "eventual fairness, not strict FIFO" (barging).
/// - Not modelled: command retries (`MaxRetries` 3), which are above the pool.
fn go_redis_v9() -> Config {
    Config {
        max_size: Some(20),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(6)),
        },
        idle_timeout: Some(secs(30 * 60)),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        connect_timeout: Some(secs(5)),
        fairness: Fairness::Barging,
        honour_deadlines: true,
        ..base()
    }
}

/// HikariCP (`HikariConfig.java`, `HikariPool.java`, `ConcurrentBag.java`).
/// - `maximumPoolSize` 10, `minimumIdle` = maximumPoolSize (10): a fixed-size pool.
/// - `connectionTimeout` 30 s for a borrower (also the login timeout: `connect_timeout`).
/// - `idleTimeout` 10 min applies only when `minimumIdle < maximumPoolSize`, so it is off here;
///   `maxLifetime` 30 min with a negative jitter of up to 2.5 % (45 s).
/// - On borrow, `isConnectionAlive` (a round trip) only if the connection was idle longer
///   than `aliveBypassWindowMs` 500 ms. `keepaliveTime` off by default.
/// - One connection-adder thread (`max_concurrent_connects` 1), back-off 10 ms doubling to 5 s.
/// - Thread-local most recent first (LIFO); the hand-off queue is fair but scanners barge.
fn hikari() -> Config {
    Config {
        max_size: Some(10),
        min_idle: 10,
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(30)),
        },
        max_lifetime: Some(secs(30 * 60)),
        lifetime_jitter: Some(secs(45)),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::IfIdleFor(millis(500)),
            how: CheckHow::Ping,
        },
        max_concurrent_connects: Some(1),
        connect_timeout: Some(secs(30)),
        connect_backoff: Some(Backoff {
            initial: millis(10),
            max: secs(5),
        }),
        fairness: Fairness::Barging,
        ..base()
    }
}

/// bb8 0.9 (`bb8/src/api.rs` Builder defaults, `bb8/src/inner.rs`).
/// - `max_size` 10, `min_idle` none; `connection_timeout` 30 s → `RunError::TimedOut`.
/// - `idle_timeout` 10 min, `max_lifetime` 30 min (the reaper runs every 30 s; the model
///   closes on the exact instant).
/// - `test_on_check_out` true: bb8-redis sends `PING` (`Always`, `Ping`).
/// - `QueueStrategy::Fifo` by default; a new `get` can take an idle connection before the
///   woken waiter runs (barging).
/// - Connect retries back off from 200 ms doubling, capped at `connection_timeout` / 2 (15 s).
fn bb8() -> Config {
    Config {
        max_size: Some(10),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(30)),
        },
        idle_timeout: Some(secs(10 * 60)),
        max_lifetime: Some(secs(30 * 60)),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        },
        connect_backoff: Some(Backoff {
            initial: millis(200),
            max: secs(15),
        }),
        reuse: Reuse::Fifo,
        fairness: Fairness::Barging,
        ..base()
    }
}

/// deadpool 0.12 (`deadpool/src/managed/config.rs`, `managed/mod.rs`; deadpool-redis).
/// - `max_size` 2 × CPUs: 4 on a 2-core machine.
/// - `timeouts.wait` None: waits forever (and any timeout needs a runtime set).
/// - No idle timeout or lifetime (only a manual `retain`). Every checkout recycles the
///   connection; deadpool-redis's recycle sends `PING` (`Always`, `Ping`).
/// - `QueueMode::Fifo` by default; waiters queue on a tokio `Semaphore`, which is FIFO
///   (strict hand-off).
fn deadpool() -> Config {
    Config {
        max_size: Some(4),
        when_exhausted: WhenExhausted::Wait { timeout: None },
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        },
        reuse: Reuse::Fifo,
        ..base()
    }
}

/// r2d2 0.8 (`src/lib.rs` Builder defaults).
/// - `max_size` 10, `min_idle` = max_size (the pool fills at build), `connection_timeout` 30 s.
/// - `idle_timeout` 10 min, `max_lifetime` 30 min (reaper every 30 s).
/// - `test_on_check_out` true (r2d2-redis: `PING`). LIFO idle list; a waiting thread is woken
///   by a condition variable, so a new `get` can take the connection first (barging).
fn r2d2() -> Config {
    Config {
        max_size: Some(10),
        min_idle: 10,
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(30)),
        },
        idle_timeout: Some(secs(10 * 60)),
        max_lifetime: Some(secs(30 * 60)),
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        },
        fairness: Fairness::Barging,
        ..base()
    }
}

/// What this project recommends for a Redis pool; every value answers one of the incidents in
/// `../shared/INCIDENTS.md` (A: stale connection after the server's `timeout`; B: connection
/// explosion; C: pool-timeout cascade):
/// - `max_size` 20: bounded (B). Seed 002's rule: peak QPS / (1000 ms / per-command ms);
///   10,000 QPS at 1 ms needs 10; doubled for headroom. Size it for your load.
/// - `max_idle` 10 and `idle_timeout` 60 s: after a burst the pool shrinks back (B), and no
///   connection sits idle long enough for a server `timeout` of 300 s (or even 60 s+) to close
///   it under us (A; go-redis advice: ConnMaxIdleTime below the server timeout).
/// - `min_idle` 2: warm connections for the first requests after a quiet period, replaced
///   every `idle_timeout` while idle (the price: 2 reconnects a minute when idle).
/// - Check on every checkout with a `Peek` (A): a non-blocking read that sees the EOF of a
///   connection the server closed, at no round-trip cost (redis-py, go-redis).
/// - `max_lifetime` 30 min with 1 min jitter: connections do not all expire at once.
/// - Wait, not fail fast (B, seed 000: a burst above the size queues for a moment instead of
///   failing with "Too many connections"), but only `1 s`, far below the callers' 3 s deadline
///   (C), and `honour_deadlines` so a waiter never outlives its caller.
/// - `max_waiters` 200: a bounded queue; past it `QueueFull` at once (C: waiters must not pile
///   up without bound).
/// - `connect_timeout` 1 s, `max_concurrent_connects` 4 and back-off 10 ms → 1 s: a struggling
///   or full (`maxclients`) server is not stormed with connects.
/// - LIFO reuse (a hot set stays warm; the surplus ages out by `idle_timeout`); strict FIFO
///   hand-off (no waiter starves; the order is predictable in traces).
fn recommended() -> Config {
    Config {
        max_size: Some(20),
        min_idle: 2,
        max_idle: Some(10),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(secs(1)),
        },
        idle_timeout: Some(secs(60)),
        max_lifetime: Some(secs(30 * 60)),
        lifetime_jitter: Some(secs(60)),
        seed: 0,
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        keepalive: None,
        max_concurrent_connects: Some(4),
        connect_timeout: Some(secs(1)),
        connect_backoff: Some(Backoff {
            initial: millis(10),
            max: secs(1),
        }),
        reuse: Reuse::Lifo,
        fairness: Fairness::StrictFifo,
        honour_deadlines: true,
        max_waiters: Some(200),
    }
}

/// The fix seed 003 applied to radix.v2: one `PING` through the pool every `interval`.
#[must_use]
pub fn radix_v2_with_ping_fix(interval: Duration) -> Config {
    Config {
        keepalive: Some(Keepalive {
            interval,
            scope: KeepaliveScope::OnePerInterval,
        }),
        ..radix_v2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_lists_the_valid_ones() {
        for p in Profile::ALL {
            assert_eq!(Profile::by_name(p.name()), Ok(p));
            assert_eq!(p.to_string().parse::<Profile>(), Ok(p));
            assert!(!p.source().is_empty());
        }
        let err = Profile::by_name("hikaricp").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown profile 'hikaricp'; valid names: radix-v2, redis-py, redis-py-blocking, \
             aioredis, go-redis-v9, hikari, bb8, deadpool, r2d2, recommended"
        );
    }

    #[test]
    fn sizes_follow_the_sources() {
        let size = |p: Profile| p.config().max_size;
        assert_eq!(size(Profile::RadixV2), None);
        assert_eq!(Profile::RadixV2.config().max_idle, Some(3));
        assert_eq!(size(Profile::RedisPy), Some(100));
        assert_eq!(size(Profile::RedisPyBlocking), Some(50));
        assert_eq!(size(Profile::Aioredis), Some(50));
        assert_eq!(size(Profile::GoRedisV9), Some(20), "10 x GOMAXPROCS 2");
        assert_eq!(size(Profile::Hikari), Some(10));
        assert_eq!(Profile::Hikari.config().min_idle, 10);
        assert_eq!(size(Profile::Bb8), Some(10));
        assert_eq!(size(Profile::Deadpool), Some(4), "2 x 2 CPUs");
        assert_eq!(size(Profile::R2d2), Some(10));
    }

    #[test]
    fn exhaustion_behaviour_follows_the_sources() {
        use WhenExhausted::{FailFast, Wait};
        let w = |p: Profile| p.config().when_exhausted;
        assert_eq!(w(Profile::RadixV2), FailFast);
        assert_eq!(w(Profile::RedisPy), FailFast);
        assert_eq!(w(Profile::Aioredis), FailFast);
        assert_eq!(
            w(Profile::RedisPyBlocking),
            Wait {
                timeout: Some(secs(20))
            }
        );
        assert_eq!(
            w(Profile::GoRedisV9),
            Wait {
                timeout: Some(secs(6))
            }
        );
        assert_eq!(
            w(Profile::Hikari),
            Wait {
                timeout: Some(secs(30))
            }
        );
        assert_eq!(
            w(Profile::Bb8),
            Wait {
                timeout: Some(secs(30))
            }
        );
        assert_eq!(w(Profile::Deadpool), Wait { timeout: None });
        assert_eq!(
            w(Profile::R2d2),
            Wait {
                timeout: Some(secs(30))
            }
        );
    }

    #[test]
    fn recommended_waits_less_than_a_3s_caller_and_is_bounded() {
        let c = Profile::Recommended.config();
        assert!(c.pool_timeout().is_some_and(|t| t < secs(3)));
        assert!(c.honour_deadlines);
        assert!(c.max_size.is_some() && c.max_waiters.is_some() && c.max_idle.is_some());
        assert!(
            c.idle_timeout.is_some_and(|t| t < secs(300)),
            "below Redis timeout 300"
        );
        assert_ne!(c.check_on_checkout.when, CheckWhen::Never);
    }
}
