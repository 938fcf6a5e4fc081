//! End-to-end test helpers for poolsim; the tests themselves live in `tests/tests/`.
//!
//! - [`resp`]: a RESP2/RESP3 reply framer and parser (knows when N replies have arrived).
//! - [`wire`]: a raw client connection with bounded reads (`read_replies`, `read_to_eof`).
//! - [`servers`]: a real `redis-server` child process, a real Sentinel (`redis-server
//!   --sentinel`) and the in-process fake, each on a free loopback port and stopped on drop.
//! - [`diff`]: the differential harness (case table rows, comparisons, parallel runner).
//!
//! `tests/differential.rs` runs the case table against both servers (rows with
//! `.with_master()` against a third, real server as their master);
//! `tests/sentinel_differential.rs` compares the fake Sentinel with a real one;
//! `tests/real_clients.rs` drives the fake with redis-rs and mini-redis's client over real TCP.

pub mod diff;
pub mod resp;
pub mod servers;
pub mod wire;
