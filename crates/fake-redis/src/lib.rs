//! fake-redis: a Redis 7.0 look-alike for deterministic simulation and for pointing real
//! applications at, built like the pool-core contract: a pure engine decides, thin shells do
//! the I/O.
//!
//! # Map
//!
//! - [`resp`]: the request parser (Redis 7.0's `processMultibulkBuffer` /
//!   `processInlineBuffer`: same limits, same protocol error texts, resumable) and the RESP2 /
//!   RESP3 reply encoder. Pure.
//! - [`engine`]: the server without sockets or clocks: clients, config, keyspace with expiry,
//!   stats, the idle-timeout cron, `maxclients` admission, the commands. Every input carries
//!   `now` from the caller. Pure and deterministic (no hash-order iteration).
//! - `commands` (private): the command table and implementations, MULTI/EXEC included; see
//!   [`engine::Engine`].
//! - `replication` (private): replication roles as clients see them (`REPLICAOF`, `ROLE`,
//!   INFO's `# Replication`, READONLY on a replica, `-UNBLOCKED` on demotion); no data is
//!   replicated. The role is [`Role`].
//! - `fault` (private): the fake-only `FAULT` admin commands (off unless
//!   [`ServerConfig::enable_fault_commands`]).
//! - [`sentinel`]: [`Sentinel`], a fake Redis Sentinel 7.0 (one Sentinel, quorum 1): the
//!   `SENTINEL` commands, `+switch-master` and the other events for subscribers, and the
//!   monitoring and failover state machine, fed with PING / INFO outcomes by the caller and
//!   emitting the reconfiguration transactions for the caller to deliver. Pure, like the engine.
//! - [`sentinel_shell`]: [`FakeSentinel`], the Sentinel served on a turmoil host: its clients
//!   over simulated TCP, its PINGs, INFOs and reconfiguration transactions sent to the
//!   instances over simulated TCP, its timer.
//! - [`config`]: [`ServerConfig`], [`ServerStats`], CONFIG GET/SET parameters, glob matching.
//! - [`shell`]: [`FakeRedis`], the async server handle: generic over a [`Listener`], with
//!   adapters for `tokio::net` and `turmoil::net`; fault controls and observation.
//! - `src/bin/fake-redis.rs`: the `fake-redis` binary (real TCP, loopback by default).
//!
//! See `docs/fake-redis.md` for what is supported and every known difference from Redis.
//!
//! # Example (turmoil)
//!
//! ```no_run
//! use fake_redis::{FakeRedis, ServerConfig};
//! let server = FakeRedis::new(ServerConfig { timeout_secs: 5, ..ServerConfig::default() });
//! let mut sim = turmoil::Builder::new().build();
//! let s = server.clone();
//! sim.host("redis", move || {
//!     let s = s.clone();
//!     async move {
//!         let l = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
//!         s.serve_turmoil(l).await?;
//!         Ok(())
//!     }
//! });
//! // sim.client("app", async { ... connect to ("redis", 6379) ... });
//! // server.kill_all_clients(); assert_eq!(server.connected_clients(), 0);
//! ```
#![warn(missing_docs)]

mod commands;
pub mod config;
pub mod engine;
mod fault;
mod keyspace;
mod replication;
pub mod resp;
pub mod sentinel;
pub mod sentinel_shell;
pub mod shell;

pub use commands::command_names;
pub use config::{ServerConfig, ServerStats};
pub use engine::{Admission, ClientId, CloseReason, Drain, Engine, Output, Role};
pub use fault::LATENCY_MS_MAX as FAULT_LATENCY_MS_MAX;
pub use resp::{ProtocolError, ReplyWriter, RequestParser};
pub use sentinel::{Sentinel, SentinelConfig, SentinelOutput, SentinelTiming};
pub use sentinel_shell::FakeSentinel;
pub use shell::{ConnEvent, ConnObserver, FakeRedis, Listener};

/// The Redis version the fake reports (HELLO, INFO) and imitates.
pub const REDIS_VERSION: &str = "7.0.15";
