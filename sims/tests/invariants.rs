//! The invariants are checked, not assumed: a pool that hands one request's reply to another,
//! and a pool whose own invariants break, each stop the run with a violation that names the
//! invariant, the step, the simulated time, the seed and the command that replays it. A legal
//! oddity (lowering `maxclients` below the connected count) is not a violation.

use sims::adapter::{
    CmdError, CorePool, CorePoolFactory, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot,
    PoolUnderTest, Reply,
};
use sims::scenario::{Event, Scenario};
use sims::{RunOptions, run_with};
use std::cell::Cell;

fn cascade_fixed() -> Scenario {
    sims::incidents::by_name("cascade")
        .unwrap()
        .scenarios(2)
        .remove(1)
}

fn opts() -> RunOptions {
    RunOptions {
        keep_trace: false,
        replay: "replay --seed {seed}".to_owned(),
        ..sims::RunOptions::default()
    }
}

/// This project's pool with one planted bug.
struct Planted {
    inner: CorePool,
    bug: Bug,
    ops: Cell<u64>,
}

#[derive(Clone, Copy)]
enum Bug {
    /// The 100th reply is replaced by another request's.
    CrossedReply,
    /// After 200 commands the pool reports a broken invariant.
    BrokenInvariant,
}

struct PlantedFactory(Bug);

impl PoolFactory for PlantedFactory {
    type Pool = Planted;
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Planted, String> {
        Ok(Planted {
            inner: CorePoolFactory.build(ctx, label)?,
            bug: self.0,
            ops: Cell::new(0),
        })
    }
}

// The runner reads pools between steps on the simulation's own thread.
unsafe impl Sync for Planted {}

impl Observe for Planted {
    fn snapshot(&self) -> PoolSnapshot {
        self.inner.snapshot()
    }
    fn check_invariants(&self) -> Result<(), String> {
        if matches!(self.bug, Bug::BrokenInvariant) && self.ops.get() >= 200 {
            return Err("planted: idle + in use != total".to_owned());
        }
        self.inner.check_invariants()
    }
}

impl PoolUnderTest for Planted {
    type Conn = <CorePool as PoolUnderTest>::Conn;
    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        self.inner.get(deadline).await
    }
    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        let r = self.inner.run(conn, args).await;
        self.ops.set(self.ops.get() + 1);
        if matches!(self.bug, Bug::CrossedReply) && self.ops.get() == 100 {
            return Ok(Reply::Bulk(Some(b"somebody else's".to_vec())));
        }
        r
    }
    fn release(&self, conn: Self::Conn, healthy: bool) {
        self.inner.release(conn, healthy);
    }
    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        self.inner.conn_id(conn)
    }
}

#[test]
fn a_reply_for_another_request_stops_the_run_naming_the_invariant() {
    let s = cascade_fixed();
    let run = run_with(&s, PlantedFactory(Bug::CrossedReply), &opts()).unwrap();
    let v = run
        .report
        .invariant_violations
        .first()
        .expect("the crossed reply is caught");
    assert_eq!(v.invariant, "e2e.reply_matches");
    assert!(v.detail.contains("somebody else's"), "{}", v.detail);
    assert_eq!(v.seed, s.seed);
    assert_eq!(v.replay, format!("replay --seed {}", s.seed));
    assert!(v.step > 0 && v.t_ms > 0);
    assert!(!run.report.expectation_met);
    assert!(
        run.report
            .verdict
            .starts_with("invariant violated: e2e.reply_matches"),
        "{}",
        run.report.verdict
    );
    // The run stopped there, long before the load ended.
    assert!(run.report.timeline.last().unwrap().t_ms < s.duration_ms);
    assert!(v.to_string().contains("replay: replay --seed"), "{v}");
}

#[test]
fn a_broken_pool_invariant_stops_the_run_at_the_step_it_breaks() {
    let s = cascade_fixed();
    let run = run_with(&s, PlantedFactory(Bug::BrokenInvariant), &opts()).unwrap();
    let v = run.report.invariant_violations.first().expect("caught");
    assert_eq!(v.invariant, "pool.invariants");
    assert!(v.detail.starts_with("c-0: planted"), "{}", v.detail);
    assert!(!run.report.expectation_met);
}

#[test]
fn the_real_pool_violates_nothing_when_maxclients_is_lowered_below_the_clients() {
    // Redis never disconnects clients when maxclients is lowered; the invariant allows a count
    // above the limit as long as it does not grow.
    let mut s = sims::incidents::by_name("explosion").unwrap().scenarios(1)[2].clone();
    s.timeline.push(Event::ConfigSet {
        at_ms: 1_000,
        name: "maxclients".into(),
        value: "100".into(),
    });
    s.expect.checks.clear();
    let run = run_with(&s, CorePoolFactory, &opts()).unwrap();
    assert!(
        run.report.invariant_violations.is_empty(),
        "{:?}",
        run.report.invariant_violations
    );
    assert!(run.report.peak_server_clients > 100);
}
