//! pool: an async, cancellation-safe connection pool whose every decision is pool-core's.
//!
//! The driver does I/O and timers only. pool-core (a sans-IO state machine) decides when to
//! connect, check, grant, refuse and close; this crate feeds it inputs stamped with
//! `tokio::time` (so turmoil simulates it) and carries out its outputs.
//!
//! Map of the crate:
//! - [`core`]: [`core::SyncCore`], the synchronous heart: pool-core, the waiter slots and the
//!   idle connection objects behind one `sync` mutex. It writes pool-core's decisions into the
//!   waiters' slots once that lock is released, and returns [`core::Actions`] (wake, connect,
//!   check, close, re-arm the timer) for its caller to perform. The loom models drive it
//!   directly.
//! - `sync` (private): std or loom primitives, by `cfg(loom)`.
//! - [`PoolError`]: pool-core's reject reasons as an error.
//! - [`Pool`], [`Pooled`], [`Manager`] (not under loom): the async shell over tokio.
//! - [`redis`] (not under loom): [`redis::RedisConnection`], a small RESP2 connection of our own
//!   with a real non-blocking peek, and [`redis::RedisManager`] over tokio or turmoil TCP.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(config: pool_core::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use pool::{Pool, redis::TokioRedisManager};
//! let manager = TokioRedisManager::new("127.0.0.1", 6379).password("secret").db(1);
//! let pool = Pool::new(manager, config)?; // e.g. pool_core::Profile::Recommended.config()
//! let mut conn = pool.get().await?;        // cancellation safe
//! conn.set("greeting", "hello").await?;
//! assert_eq!(conn.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//! drop(conn);                              // back to the pool (closed instead if broken)
//! pool.close();
//! # Ok(()) }
//! ```
//!
//! See `docs/architecture.md`, sections "pool (the async driver)" and "Model checking the
//! driver with loom".

#![warn(missing_docs)]

pub mod core;
mod error;
mod sync;

pub use error::PoolError;

#[cfg(not(loom))]
mod manager;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
pub mod redis;

#[cfg(not(loom))]
pub use manager::Manager;
#[cfg(not(loom))]
pub use pool::{Checkout, Pool, Pooled};
