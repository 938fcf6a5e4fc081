//! Presets mimicking real pools. SKELETON.

use crate::Config;

/// A named preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl Profile {
    /// The profile's configuration.
    #[must_use]
    pub fn config(self) -> Config {
        todo!()
    }
}
