//! The real Rust pools (bb8, deadpool, mobc; redis-rs's ConnectionManager modelled) in the
//! incidents, one test binary (each binary of `sims` is built at opt-level 3; one saves CI
//! the build of three):
//!
//! - `golden`: every incident's runs with each crate, pinned cell by cell and report by
//!   report, each checked against the oracle, and one test per finding (docs/real-pools.md);
//! - `known_bugs`: bb8 #59, #67, #167, mobc #63, deadpool #92 as scenarios, absent today in
//!   every crate and in ours, each shown able to catch its bug;
//! - `determinism`: the same seed gives the same trace hash in a new process for every crate.

#[path = "../common/mod.rs"]
mod common;
mod determinism;
mod golden;
mod known_bugs;
