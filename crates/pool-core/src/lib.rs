//! pool-core: a connection pool as a pure, sans-IO state machine.
//!
//! It does no I/O and reads no clock: the caller feeds [`Input`]s stamped with an [`Instant`]
//! it supplies, drains [`Output`]s ("open a connection", "grant conn 3 to request 17",
//! "close conn 2: idle timeout") and asks [`Pool::poll_timeout`] when to wake it next. The
//! same pool is therefore driven by the async driver (`crates/pool`), by turmoil simulations,
//! by proptest and by the exhaustive explorer, and always decides the same way.
//!
//! Map of the crate:
//! - [`time`]: the caller's clock ([`Instant`]).
//! - [`config`]: every knob ([`Config`]) and its validation ([`ConfigError`]).
//! - [`io`]: ids, [`Input`], [`Output`], reasons, [`InputError`].
//! - [`pool`]: the state machine [`Pool`], its [`PoolState`] snapshot and [`Stats`].
//! - [`profile`]: presets that mimic real libraries ([`Profile`]).
//! - [`invariants`]: [`invariants::check`], run after every step by every test.
//! - [`explore`]: the bounded exhaustive explorer.
//! - [`drive`]: steady-state workloads (benchmarks, the allocation test).
//! - `mutations` (feature `mutations`, tests only): planted bugs the explorer must catch.

#![warn(missing_docs)]

pub mod config;
pub mod drive;
pub mod explore;
pub mod invariants;
pub mod io;
mod live;
#[cfg(feature = "mutations")]
pub mod mutations;
pub mod pool;
pub mod profile;
pub mod time;

pub use config::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, Config, ConfigError, Fairness, Keepalive,
    KeepaliveScope, Reuse, WhenExhausted,
};
pub use io::{
    CloseReason, ConnId, ConnectError, Input, InputError, Output, RejectReason, ReleaseOutcome,
    ReqId,
};
pub use pool::{ConnPhase, Pool, PoolState, Stats, WAIT_BUCKETS_US, WaitHistogram};
pub use profile::{Profile, UnknownProfile};
pub use time::Instant;
