//! The pool state machine.
//!
//! SKELETON: the public signatures below are the agreed API; bodies are to be implemented.

use crate::{Config, ConfigError, Input, InputError, Instant, Output};

/// The connection pool as a sans-IO state machine. (Contract to be written here.)
#[derive(Debug)]
pub struct Pool {
    config: Config,
}

/// A snapshot of the pool's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolState {
    /// Live connections: idle + in_use + connecting + checking.
    pub total: u32,
    /// Idle connections.
    pub idle: u32,
    /// Granted, not yet released.
    pub in_use: u32,
    /// Connects in flight.
    pub connecting: u32,
    /// Checks in flight (checkout checks and keepalive pings).
    pub checking: u32,
    /// Queued requests.
    pub waiters: u32,
}

/// Counters since the pool was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {}

impl Pool {
    /// Validates `config` and builds an empty pool (connections for `min_idle` are asked for on
    /// the first `handle`).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// Feeds one input at `now`. On error the pool is unchanged.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        let _ = (now, input);
        todo!()
    }

    /// Next thing for the caller to do; drain until `None` after every `handle`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!()
    }

    /// When the caller must next call `handle(t, Input::Timeout)`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current counts.
    #[must_use]
    pub fn state(&self) -> PoolState {
        todo!()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        todo!()
    }
}
