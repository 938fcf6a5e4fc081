//! sims: the pool incidents as deterministic scenarios, run on the real pool and the real fake
//! Redis under turmoil, with every invariant checked after every simulation step.
//!
//! This is the library that `cargo test`, the `poolsim` CLI and users' own tests share:
//! describe a run as data ([`Scenario`]), run it ([`run`] / [`run_with`]), read its
//! [`Report`], keep it as a regression test.
//!
//! Map of the crate:
//! - [`scenario`]: the scenario as serde data (server, tiers and their pools, load, timeline,
//!   expectations) with builders and validation that names the bad field.
//! - [`knobs`]: overrides of pool-core's knobs as scenario files spell them.
//! - [`client`]: the client above the pool as data (timeouts, READONLY, retries, discovery),
//!   with profiles of real clients; a tier's `client` is applied on the request path
//!   (`request::client`; Sentinel discovery on turmoil with a server topology).
//! - [`runner`]: the world: turmoil wiring, hosts, the step loop, events, sampling,
//!   invariants, the report; [`run`], [`run_with`]. Its engine-independent side (the tally of
//!   invariants, samples and report; the timeline's server events) is shared with the fast
//!   engine.
//! - [`engine`]: which engine runs a scenario ([`Engine`]: turmoil or fast), [`run_on`].
//! - [`fast`]: the fast discrete-event engine: pool-core and the fake-redis engine driven
//!   directly, time jumping from event to event (docs/architecture.md, "The two engines").
//! - `request` (private): the request path below the runner: pods and their handlers,
//!   `request::load` (the seeded load generator), `request::rpc` (the calls between tiers).
//!   Nothing in it calls back into the runner.
//! - [`world`]: the world's names (server host and port, RPC port) and its simulated clock,
//!   below everything.
//! - [`adapter`]: the small interface a pool needs ([`PoolUnderTest`], [`PoolFactory`],
//!   `Observe`), what the runner reads of a pool and what a pool reports ([`report::Finding`]).
//! - [`pools`]: the pools under test, one file each: `ours` (`pool::Pool`), `bb8`,
//!   `deadpool`, `mobc` (the real crates over redis-rs connections on turmoil TCP) and
//!   `redis_rs` (redis-rs's `ConnectionManager`, modelled); [`run_pool`] runs a
//!   scenario with any of them, knobs mapped or the crate's defaults.
//! - [`known_bugs`]: known bugs of real pools (bb8 #59, #67, #167, mobc #63, deadpool #92) as
//!   short scenarios against any pool.
//! - `check` (private): the server's invariants (every server of a topology: the runner's
//!   `Topology` also checks `server.replica_write` and counts split-brain writes).
//! - [`report`]: [`Report`] (the CLI's JSON schema) and the metrics expectations check.
//! - [`oracle`]: the report's figures re-derived from the trace alone, to check the report.
//! - [`render`]: the replay's text as `poolsim replay` prints it (table, verdicts, timelines),
//!   for a user's own test or tool.
//! - [`trace`]: the JSON-lines trace and its hash.
//! - `panics` (private): a panic in any task of a simulated host, recorded for the run that
//!   owns the thread (`sim.panic`); turmoil alone loses a spawned task's panic.
//! - [`audit`]: a deployment's verdict per incident: the arithmetic, then a simulated search
//!   for the smallest trigger, a fix verified at it, scenario files (`poolsim audit`,
//!   docs/audit.md).
//! - [`sizing`]: pool sizing: seed 002's rule, Erlang C, and the real pool at the same load
//!   (`poolsim size`, docs/sizing.md).
//! - [`sweep`]: seed sweeps over threads, shards and their merge (`poolsim sweep`,
//!   docs/sweeps.md).
//! - [`strategy`]: proptest strategies for scenarios: arbitrary ones and the environment
//!   around a given one (what a deployment does not control), designed to shrink toward
//!   small, round scenarios; usable from your own proptest (docs/fuzzing.md).
//! - [`claims`]: what each built-in fix promises (figures within limits) and within which
//!   environment bounds, as data checked on a run.
//! - [`fuzz`]: the fuzzer of `poolsim fuzz`: cases around each fix, every invariant and the
//!   claim checked, the first failure shrunk and written as a scenario file.
//! - [`rng`]: the seeded random streams.
//! - [`incidents`]: the five incidents of `../shared/INCIDENTS.md` (stale-eof, explosion,
//!   cascade, failover, hung-server), one module each, their buggy and fixed scenarios
//!   ([`incidents::ALL`]).
//!
//! # Example
//!
//! ```no_run
//! let incident = sims::incidents::by_name("stale-eof").unwrap();
//! for scenario in incident.scenarios(incident.default_seed) {
//!     let run = sims::run(&scenario).unwrap();
//!     println!("{}: {}", run.report.scenario, run.report.verdict);
//!     assert!(run.report.expectation_met);
//! }
//! ```
//!
//! Determinism: one seed drives turmoil, the load and the command mix; no wall clock, no
//! `HashMap` iteration, no `select!` (deadlines are `timeout_at`; the pool and the fake, which
//! do select, are `biased;`). The same seed gives the same trace hash in a new process
//! (`tests/determinism.rs`). See `docs/incidents.md`.

#![warn(missing_docs)]

pub mod adapter;
pub mod audit;
mod check;
pub mod claims;
pub mod client;
pub mod engine;
pub mod explore;
pub mod fast;
pub mod fuzz;
pub mod incidents;
pub mod knobs;
pub mod known_bugs;
pub mod oracle;
mod panics;
pub mod pools;
pub mod render;
pub mod report;
mod request;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod sizing;
pub mod strategy;
pub mod sweep;
pub mod trace;
pub mod world;

pub use adapter::{CorePoolFactory, PoolFactory, PoolUnderTest};
pub use engine::{Engine, run_on};
pub use report::{Errors, InvariantClass, Report};
pub use runner::{Run, RunOptions, run, run_pool, run_with, run_with_server_fault};
pub use scenario::{Scenario, ScenarioError};
