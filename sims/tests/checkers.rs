//! Every checker can fire: for every invariant the runner checks, a test plants the fault it
//! exists to catch and requires that exact invariant to stop the run, naming itself, the step,
//! the simulated time, the seed and the replay command. Each test also runs the same scenario
//! without the fault and requires it clean, so the violation is the fault's.
//!
//! Faults are planted from outside the production code: in the server through the runner's
//! test hook `sims::run_with_server_fault` (the fake's `with_engine`), in the pools through a
//! wrapper [`PoolFactory`] around this project's pool, or by one of pool-core's own planted
//! bugs in that pool's state machine (`pool::Pool::set_core_mutation`, a test-only feature
//! that only sims' tests enable). `pool.invariants` and
//! `e2e.reply_matches` on a cascade run are also in `tests/invariants.rs`; `e2e.ends_once`
//! cannot be caused by a pool or a server (it guards the runner's own books) and is tested in
//! `runner.rs`'s unit tests; `scenario.config_set` cannot fire (see docs/testing.md).

use sims::adapter::{
    CmdError, CorePool, CorePoolFactory, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot,
    PoolUnderTest, Reply,
};
use sims::report::Violation;
use sims::runner::ServerFault;
use sims::scenario::{
    Clients, Command, Dist, Event, Expectation, Load, MixEntry, Outcome, PoolSpec, Retry, Scenario,
    Server, Tier,
};
use sims::{Run, RunOptions, run_with, run_with_server_fault};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SEED: u64 = 23;

fn opts() -> RunOptions {
    RunOptions {
        keep_trace: false,
        replay: "poolsim run x.toml --seed {seed}".to_owned(),
        ..sims::RunOptions::default()
    }
}

/// One tier of two pods, closed-loop users over every command kind.
fn base() -> Scenario {
    Scenario {
        name: "planted".into(),
        summary: String::new(),
        seed: SEED,
        duration_ms: 2_000,
        drain_limit_ms: 5_000,
        tick_ms: 1,
        link_latency_ms: 1,
        sample_ms: 100,
        server: Server::default(),
        tiers: vec![Tier {
            name: "app".into(),
            pool: PoolSpec::profile("recommended"),
            instances: 2,
            pools_per_instance: 1,
            deadline_ms: 1_000,
            calls: None,
            retry: Retry::None,
            client: None,
        }],
        load: Load {
            clients: Clients::Closed {
                users: 6,
                think: Dist::fixed(5),
            },
            mix: vec![
                MixEntry {
                    command: Command::SetGet,
                    weight: 1,
                },
                MixEntry {
                    command: Command::Echo,
                    weight: 1,
                },
                MixEntry {
                    command: Command::Ping,
                    weight: 1,
                },
            ],
            hold: Dist::fixed(0),
        },
        timeline: vec![],
        expect: Expectation {
            outcome: Outcome::Either,
            checks: vec![],
            signature: "{errors.total} errors".into(),
        },
    }
}

/// Three tiers a -> b -> c, c on Redis.
fn chain() -> Scenario {
    let mut s = base();
    s.tiers = vec![
        Tier::new("a", PoolSpec::default(), 1_000).calling("b"),
        Tier::new("b", PoolSpec::default(), 1_000).calling("c"),
        Tier::new("c", PoolSpec::profile("recommended"), 1_000),
    ];
    s
}

/// The run's first violation, required to be `invariant`, with everything a reader needs to
/// find it again.
fn fired<'a>(run: &'a Run, s: &Scenario, invariant: &str) -> &'a Violation {
    let v = run
        .report
        .invariant_violations
        .first()
        .unwrap_or_else(|| panic!("{invariant} did not fire: {}", run.report.verdict));
    assert_eq!(v.invariant, invariant, "{v}");
    assert_eq!(v.seed, s.seed);
    assert_eq!(v.replay, format!("poolsim run x.toml --seed {}", s.seed));
    assert!(v.step > 0, "{v}");
    assert!(v.step <= run.steps, "{v}");
    let shown = v.to_string();
    assert!(
        shown.starts_with(&format!(
            "invariant {invariant} violated at step {}",
            v.step
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("seed {}", s.seed)), "{shown}");
    assert!(!run.report.expectation_met);
    assert!(
        run.report
            .verdict
            .starts_with(&format!("invariant violated: {invariant} (")),
        "{}",
        run.report.verdict
    );
    v
}

fn clean(run: &Run) {
    assert!(
        run.report.invariant_violations.is_empty(),
        "the run without the fault: {:?}",
        run.report.invariant_violations
    );
    assert!(run.report.requests > 0);
}

// ---- server faults, planted between steps ----

fn addr(port: u16) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from(([10, 9, 9, 9], port)),
        SocketAddr::from(([10, 0, 0, 1], 6379)),
    )
}

/// Once, at the first step at or after `at_ms`, runs `f` on the server's engine.
fn once_at(at_ms: u64, f: impl FnOnce(&mut fake_redis::Engine, Duration) + 'static) -> ServerFault {
    let mut f = Some(f);
    Box::new(move |server, t_ms| {
        if t_ms >= at_ms {
            if let Some(f) = f.take() {
                server.with_engine(|e| f(e, Duration::from_millis(t_ms)));
            }
        }
    })
}

#[test]
fn a_replica_that_acknowledges_a_write_violates_replica_write() {
    // A topology (one replica) turns the check on; the master is demoted at 1 s (REPLICAOF
    // from outside), and from then on, between steps, a write is executed on it as if it were
    // still a master: a replica that acknowledged a write.
    let mut s = base();
    s.server.topology = Some(sims::scenario::Topology {
        replicas: 1,
        sentinel: None,
    });
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    let mut port = 41_000;
    let fault: ServerFault = Box::new(move |server, t_ms| {
        if t_ms < 1_000 {
            return;
        }
        let replica = fake_redis::Role::Replica {
            host: "redis-replica-1".into(),
            port: 6379,
        };
        server.with_engine(|e| {
            let now = Duration::from_millis(t_ms);
            if e.role() == &fake_redis::Role::Master {
                e.set_role(replica);
                return;
            }
            e.set_role(fake_redis::Role::Master);
            port += 1;
            let (peer, local) = addr(port);
            let fake_redis::engine::Admission::Accepted(id) = e.accept(now, peer, local) else {
                panic!("accepted");
            };
            e.handle_read(now, id, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
            let mut out = Vec::new();
            let _ = e.take_output(id, &mut out);
            assert_eq!(out, b"+OK\r\n");
            e.handle_closed(now, id);
            while e.poll_output().is_some() {}
            e.set_role(replica);
        });
    });
    let run = run_with_server_fault(&s, CorePoolFactory, &opts(), fault).unwrap();
    let v = fired(&run, &s, "server.replica_write");
    assert!(v.detail.starts_with("redis: a replica acknowledged"), "{v}");
    assert!(v.t_ms >= 1_000 && v.t_ms <= 1_003, "{v}");
}

#[test]
fn a_server_that_admits_one_client_too_many_violates_maxclients() {
    let mut s = base();
    s.server.maxclients = 50;
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    // At 1 s the server takes one client past its limit: maxclients is the connected count,
    // and one more is admitted anyway.
    let fault = once_at(1_000, |e, now| {
        let n = e.connected_clients();
        e.config_set("maxclients", &(n + 1).to_string()).unwrap();
        let (peer, local) = addr(40_000);
        assert!(matches!(
            e.accept(now, peer, local),
            fake_redis::engine::Admission::Accepted(_)
        ));
        e.config_set("maxclients", &n.to_string()).unwrap();
    });
    let run = run_with_server_fault(&s, CorePoolFactory, &opts(), fault).unwrap();
    let v = fired(&run, &s, "server.maxclients");
    assert!(v.t_ms >= 1_000 && v.t_ms <= 1_001, "{v}");
    assert!(v.detail.contains("with maxclients"), "{v}");
}

#[test]
fn a_server_whose_cron_stops_closing_idle_clients_violates_the_idle_timeout() {
    // timeout 1 s; the load pauses from 0.5 s to 6 s, so the pools' connections sit idle and
    // the server closes them at about 2 s.
    let mut s = base();
    s.duration_ms = 7_000;
    s.server.timeout_secs = 1;
    s.timeline.push(Event::IdleGap {
        at_ms: 500,
        duration_ms: 5_500,
    });
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    // At 0.6 s a client the runner never made sends DEBUG SLEEP 30: the server's cron is
    // frozen, nobody is closed, and the server's clock is kept moving (as the shell's reads
    // would) so the idle times grow.
    let fault = frozen_cron(600);
    let run = run_with_server_fault(&s, CorePoolFactory, &opts(), fault).unwrap();
    let v = fired(&run, &s, "server.idle_timeout");
    // Idle more than timeout + 2 whole seconds: the first instant is 3.x s after the last use.
    assert!(
        v.detail
            .contains("idle 4 s with timeout 1 (the cron reaches every client within 1 s"),
        "{v}"
    );
    assert!((3_000..=5_000).contains(&v.t_ms), "{v}");
}

#[test]
fn a_stall_of_the_scenario_is_not_an_idle_timeout_violation() {
    // The same pause with `timeout 1`, and the scenario stalls the server from 1 s to 5 s: no
    // cron runs meanwhile (as in Redis), so the idle connections are closed only after the
    // stall; the check waits until 2 s after its end (the fuzzer's finding 4,
    // docs/fuzzing.md). The cron frozen by a client's DEBUG SLEEP above still fires.
    let mut s = base();
    s.duration_ms = 9_000;
    s.server.timeout_secs = 1;
    s.timeline.push(Event::IdleGap {
        at_ms: 500,
        duration_ms: 7_500,
    });
    s.timeline.push(Event::Stall {
        at_ms: 1_000,
        duration_ms: 4_000,
    });
    for engine in [sims::Engine::Turmoil, sims::Engine::Fast] {
        let run = sims::run_on(engine, &s, &opts()).unwrap();
        clean(&run);
        assert!(
            run.metrics.get("server_idle_closes") > 0.0,
            "{engine:?}: the server closed the idle connections after the stall"
        );
    }
}

/// From `from_ms` on, the server's cron is frozen (a `DEBUG SLEEP 30` from a client the runner
/// never made) while its clock moves on.
fn frozen_cron(from_ms: u64) -> ServerFault {
    let mut phantom = None;
    Box::new(move |server, t_ms| {
        if t_ms < from_ms {
            return;
        }
        server.with_engine(|e| {
            let now = Duration::from_millis(t_ms);
            let id = *phantom.get_or_insert_with(|| {
                let (peer, local) = addr(40_003);
                let fake_redis::engine::Admission::Accepted(id) = e.accept(now, peer, local) else {
                    panic!("the phantom client is refused");
                };
                e.handle_read(now, id, b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$2\r\n30\r\n");
                id
            });
            e.handle_wrote(now, id, 0);
        });
    })
}

#[test]
fn a_timeout_set_during_the_run_is_checked_after_a_grace_of_two_seconds() {
    // No timeout at first; the load pauses from 0.5 s to 6 s. At 3 s `CONFIG SET timeout 1`:
    // the pools' connections are already 2.5 s idle, more than 1 + 2 s would allow, and the
    // server needs up to a cron rotation to close them: no violation (the grace).
    let mut s = base();
    s.duration_ms = 7_000;
    s.timeline.push(Event::IdleGap {
        at_ms: 500,
        duration_ms: 5_500,
    });
    s.timeline.push(Event::ConfigSet {
        at_ms: 3_000,
        name: "timeout".into(),
        value: "1".into(),
    });
    let run = run_with(&s, CorePoolFactory, &opts()).unwrap();
    clean(&run);
    assert!(
        run.metrics.get("server_idle_closes") > 0.0,
        "the server closed the idle connections"
    );
    // With the cron frozen from 2.9 s: the checker sees the change after the step to 3,001
    // ms, waits 2 s, and fires at once, on a client last used in the first second.
    let run = run_with_server_fault(&s, CorePoolFactory, &opts(), frozen_cron(2_900)).unwrap();
    let v = fired(&run, &s, "server.idle_timeout");
    assert_eq!(v.t_ms, 5_001, "{v}");
    assert!(
        v.detail
            .contains("idle 5 s with timeout 1 (the cron reaches every client within 1 s"),
        "{v}"
    );
}

#[test]
fn a_server_that_forgets_accepted_connections_violates_the_accounting() {
    let s = base();
    // CONFIG RESETSTAT with clients connected: `total_connections_received` drops to 0 while
    // the clients stay.
    let run = run_with_server_fault(
        &s,
        CorePoolFactory,
        &opts(),
        once_at(1_000, |e, _| e.reset_stats()),
    )
    .unwrap();
    let v = fired(&run, &s, "server.accounting");
    assert!(v.detail.starts_with("accepted 0 != open "), "{v}");
    assert_eq!(v.t_ms, 1_000);
}

#[test]
fn a_refusal_nobody_saw_violates_rejected_counted_at_the_end() {
    let s = base();
    // At 1 s the server refuses a client no pool made: counted, but no client saw it.
    let fault = once_at(1_000, |e, now| {
        let n = e.connected_clients();
        e.config_set("maxclients", &n.to_string()).unwrap();
        let (peer, local) = addr(40_002);
        assert!(matches!(
            e.accept(now, peer, local),
            fake_redis::engine::Admission::Rejected
        ));
        e.config_set("maxclients", "10000").unwrap();
    });
    let run = run_with_server_fault(&s, CorePoolFactory, &opts(), fault).unwrap();
    let v = fired(&run, &s, "server.rejected_counted");
    assert_eq!(
        v.detail,
        "at the end clients saw 0 maxclients refusals, the server counted 1, with 0 connects \
         in flight"
    );
    assert!(v.t_ms >= s.duration_ms, "found at the end: {v}");
}

// ---- pool faults, planted by a wrapper ----

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The 20th reply to this command is another request's (or, for commands whose replies
    /// are all alike, another command's).
    CrossReply(&'static str),
    /// At the 30th checkout the pool reports a `maxclients` refusal the server never made.
    PhantomRefusal,
    /// From the 40th checkout on, `get` never returns.
    StuckGet,
    /// The pool cannot be built.
    BuildFails,
    /// The 25th checkout panics, in the request's task.
    PanicAtGet,
    /// A task the pool spawns when it is built panics at 500 ms.
    PanicInBackground,
}

struct Planted {
    inner: CorePool,
    fault: Fault,
    refusals_seen: Arc<AtomicU64>,
    gets: AtomicU64,
    /// Commands seen, by name.
    seen: Mutex<BTreeMap<Vec<u8>, u64>>,
    /// The last reply to each command.
    last: Mutex<BTreeMap<Vec<u8>, Reply>>,
}

struct PlantedFactory(Fault);

impl PoolFactory for PlantedFactory {
    type Pool = Planted;
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Planted, String> {
        if matches!(self.0, Fault::BuildFails) {
            return Err(format!("planted: cannot build the pool of {label}"));
        }
        if matches!(self.0, Fault::PanicInBackground) {
            tokio::task::spawn_local(async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                panic!("planted: the pool's background task panicked");
            });
        }
        Ok(Planted {
            inner: CorePoolFactory.build(ctx, label)?,
            fault: self.0,
            refusals_seen: Arc::clone(&ctx.refusals_seen),
            gets: AtomicU64::new(0),
            seen: Mutex::default(),
            last: Mutex::default(),
        })
    }
}

impl Observe for Planted {
    fn snapshot(&self) -> PoolSnapshot {
        self.inner.snapshot()
    }
    fn check_invariants(&self) -> Result<(), String> {
        self.inner.check_invariants()
    }
}

impl PoolUnderTest for Planted {
    type Conn = <CorePool as PoolUnderTest>::Conn;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        let n = self.gets.fetch_add(1, Ordering::Relaxed) + 1;
        match self.fault {
            Fault::PhantomRefusal if n == 30 => {
                self.refusals_seen.fetch_add(1, Ordering::Relaxed);
            }
            Fault::StuckGet if n >= 40 => std::future::pending::<()>().await,
            Fault::PanicAtGet if n == 25 => panic!("planted: checkout 25 panicked"),
            _ => {}
        }
        self.inner.get(deadline).await
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        let r = self.inner.run(conn, args).await?;
        let name = args[0].to_vec();
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        let mut last = self.last.lock().unwrap();
        if let Fault::CrossReply(target) = self.fault {
            if name == target.as_bytes() && n == 20 {
                // GET and ECHO answer each request differently: take the previous request's
                // answer. SET always answers OK and PING PONG: take the other's.
                let from: &[u8] = match target {
                    "SET" => b"PING",
                    "PING" => b"SET",
                    other => other.as_bytes(),
                };
                let crossed = last.get(from).cloned().expect("a reply to cross");
                assert_ne!(crossed, r, "the planted reply differs");
                return Ok(crossed);
            }
        }
        last.insert(name, r.clone());
        Ok(r)
    }

    fn release(&self, conn: Self::Conn, healthy: bool) {
        self.inner.release(conn, healthy);
    }

    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        self.inner.conn_id(conn)
    }
}

/// turmoil returns only a host's own future's panic from a step; a task spawned on a host
/// (a request's, a pool's background task) panics alone and the run went on. Both must stop
/// the run, naming the panic and where it was raised.
#[test]
fn a_task_that_panics_on_a_host_violates_sim_panic() {
    let s = base();
    for (fault, message) in [
        (Fault::PanicAtGet, "planted: checkout 25 panicked"),
        (
            Fault::PanicInBackground,
            "planted: the pool's background task panicked",
        ),
    ] {
        let run = run_with(&s, PlantedFactory(fault), &opts()).unwrap();
        let v = fired(&run, &s, "sim.panic");
        assert!(
            v.detail
                .starts_with(&format!("a task panicked: {message} (at ")),
            "{v}"
        );
        assert!(v.detail.contains("checkers.rs:"), "{v}");
        if matches!(fault, Fault::PanicInBackground) {
            // The task sleeps 500 ms from the pool's build, in the first step (1 ms).
            assert!((500..=501).contains(&v.t_ms), "{v}");
        }
        assert!(!run.report.expectation_met);
    }
}

#[test]
fn a_reply_crossed_between_requests_is_caught_for_every_command_kind() {
    let s = base();
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    for (command, sent, read) in [
        ("SET", "sent SET and read Simple(\"PONG\")", ""),
        ("GET", "sent GET req:", "and read \""),
        ("ECHO", "sent ECHO ", "and read \""),
        ("PING", "sent PING and read Simple(\"OK\")", ""),
    ] {
        let run = run_with(&s, PlantedFactory(Fault::CrossReply(command)), &opts()).unwrap();
        let v = fired(&run, &s, "e2e.reply_matches");
        assert!(v.detail.contains(sent), "{command}: {v}");
        assert!(v.detail.contains(read), "{command}: {v}");
    }
}

#[test]
fn a_refusal_the_server_did_not_count_violates_rejected_counted_at_once() {
    let s = base();
    let run = run_with(&s, PlantedFactory(Fault::PhantomRefusal), &opts()).unwrap();
    let v = fired(&run, &s, "server.rejected_counted");
    assert_eq!(
        v.detail,
        "clients saw 1 maxclients refusals, the server counted 0"
    );
    assert!(v.t_ms < s.duration_ms, "found during the run: {v}");
}

#[test]
fn work_stuck_in_the_last_tier_of_a_chain_violates_liveness() {
    let mut s = chain();
    s.drain_limit_ms = 1_500;
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    // c's pool stops answering: every request at a still ends (at its deadline), but c's
    // handlers never do.
    let run = run_with(&s, PlantedFactory(Fault::StuckGet), &opts()).unwrap();
    let v = fired(&run, &s, "e2e.liveness");
    assert!(
        v.detail.starts_with("0 requests and ") && v.detail.contains(" handlers still in flight"),
        "{v}"
    );
    assert!(!v.detail.starts_with("0 requests and 0 handlers"), "{v}");
    assert_eq!(v.t_ms, s.duration_ms + s.drain_limit_ms + 1, "{v}");
    assert!(run.report.errors.deadline_exceeded > 0);
}

#[test]
fn a_host_that_fails_to_start_is_reported_as_sim_host() {
    let s = base();
    let run = run_with(&s, PlantedFactory(Fault::BuildFails), &opts()).unwrap();
    let v = run
        .report
        .invariant_violations
        .first()
        .expect("sim.host fires");
    assert_eq!(v.invariant, "sim.host");
    assert!(
        v.detail.contains("planted: cannot build the pool of app-"),
        "{v}"
    );
    assert_eq!(v.seed, s.seed);
    assert!(!run.report.expectation_met);
}

#[test]
fn the_servers_hz_paces_its_idle_closes() {
    // The fake's cron runs `hz` times a second and closes idle clients only then: with hz 1
    // every idle close falls on a whole second, with hz 50 not.
    let close_times = |hz: u32| {
        let mut s = base();
        s.duration_ms = 7_000;
        s.server.timeout_secs = 1;
        s.server.hz = hz;
        s.timeline.push(Event::IdleGap {
            at_ms: 500,
            duration_ms: 5_500,
        });
        let opts = RunOptions {
            keep_trace: true,
            ..opts()
        };
        let run = run_with(&s, CorePoolFactory, &opts).unwrap();
        clean(&run);
        let times: Vec<u64> = run
            .trace
            .iter()
            .filter(|l| l.contains("\"event\":\"server.close\"") && l.contains("idle timeout"))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["t_us"].as_u64().unwrap()
            })
            .collect();
        assert!(!times.is_empty(), "hz {hz}: no idle close");
        times
    };
    let slow = close_times(1);
    assert!(slow.iter().all(|t| t % 1_000_000 == 0), "hz 1: {slow:?}");
    let fast = close_times(50);
    assert!(fast.iter().any(|t| t % 1_000_000 != 0), "hz 50: {fast:?}");
}

// ---- client faults: a pool whose client does not do what its profile says ----

/// This project's pool built with another pool context (what the runner checks comes from
/// the scenario, not from the context the pool was given).
struct Rebuilt(CorePool);

struct RebuiltFactory(fn(&mut PoolContext));

impl PoolFactory for RebuiltFactory {
    type Pool = Rebuilt;
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Rebuilt, String> {
        let mut ctx = ctx.clone();
        (self.0)(&mut ctx);
        CorePoolFactory.build(&ctx, label).map(Rebuilt)
    }
}

impl Observe for Rebuilt {
    fn snapshot(&self) -> PoolSnapshot {
        self.0.snapshot()
    }
    fn check_invariants(&self) -> Result<(), String> {
        self.0.check_invariants()
    }
    fn connects_in_flight(&self) -> Option<u64> {
        self.0.connects_in_flight()
    }
    fn connection_addrs(&self) -> Option<Vec<(SocketAddr, bool)>> {
        self.0.connection_addrs()
    }
    fn connect_counts(&self) -> Option<sims::adapter::ConnectCounts> {
        self.0.connect_counts()
    }
}

impl PoolUnderTest for Rebuilt {
    type Conn = <CorePool as PoolUnderTest>::Conn;
    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        self.0.get(deadline).await
    }
    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        self.0.run(conn, args).await
    }
    fn release(&self, conn: Self::Conn, healthy: bool) {
        self.0.release(conn, healthy);
    }
    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        self.0.conn_id(conn)
    }
    fn stale(&self, conn: &Self::Conn) -> bool {
        self.0.stale(conn)
    }
    fn address_watch(&self, conn: &Self::Conn) -> Option<sims::adapter::AddressWatch> {
        self.0.address_watch(conn)
    }
}

/// The planted fault of `client.stale_connection`: the pools' client learns the switch (the
/// same knowledge) but drops nothing, whatever the tier's profile says.
const KEEPS_STALE: RebuiltFactory = RebuiltFactory(|ctx| {
    ctx.discovery = ctx
        .discovery
        .take()
        .map(|d| d.with_on_address_change(sims::client::OnAddressChange::None));
});

#[test]
fn a_client_that_keeps_its_connections_to_the_old_master_violates_stale_connection() {
    // failover/planned-follow-switch cut to 10 s: SENTINEL FAILOVER at 5 s, +switch-master at
    // about 6.2 s; go-redis's FailoverClient (drop_all) closes every connection to the old
    // master when it reads the switch.
    let mut s = sims::incidents::failover::scenarios(4)
        .into_iter()
        .find(|s| s.name == "planned-follow-switch")
        .unwrap();
    s.duration_ms = 10_000;
    s.expect = Expectation {
        outcome: Outcome::Either,
        checks: vec![],
        signature: "{errors.total} errors".into(),
    };
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    // The planted fault (`KEEPS_STALE`), while the tier's profile says drop_all.
    let run = run_with(&s, KEEPS_STALE, &opts()).unwrap();
    let v = fired(&run, &s, "client.stale_connection");
    // drop_all: the idle ones and the one in use, counted apart.
    assert!(
        v.detail.contains(
            "app-0: 4 idle and 1 in-use connections to redis:6379 kept 10 ms after the client \
             learned the master is at redis-replica-1:6379 (on_address_change drop_all)"
        ),
        "{v}"
    );
    assert!((6_000..7_000).contains(&v.t_ms), "{v}");

    // The same under `drop_idle` (the tier's client keeps a connection in use until its
    // release): the idle connections to the old master are what it must drop, and are
    // counted as the violation.
    let mut idle = s.clone();
    idle.tiers[0]
        .client
        .as_mut()
        .expect("a client profile")
        .overrides
        .on_address_change = Some(sims::client::OnAddressChange::DropIdle);
    clean(&run_with(&idle, CorePoolFactory, &opts()).unwrap());
    let run = run_with(&idle, KEEPS_STALE, &opts()).unwrap();
    let v = fired(&run, &idle, "client.stale_connection");
    assert!(
        v.detail
            .contains(" idle and 0 in-use connections to redis:6379 kept ")
            && v.detail.ends_with("(on_address_change drop_idle)")
            && !v.detail.contains(": 0 idle"),
        "{v}"
    );
}

#[test]
fn a_pool_that_ignores_its_connect_backoff_violates_the_connect_rate() {
    // `recommended`: a connect back-off from 10 ms, 4 connects in flight at most. At 0.5 s
    // every client is killed and new connections are refused for a second: the pools
    // reconnect for their waiters and fail.
    let mut s = base();
    s.timeline = vec![
        Event::KillAllClients { at_ms: 500 },
        Event::RefuseConnections {
            at_ms: 500,
            on: true,
        },
        Event::RefuseConnections {
            at_ms: 1_500,
            on: false,
        },
    ];
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    // The planted fault: the pools are built without the back-off the scenario gives them.
    let no_backoff = RebuiltFactory(|ctx| ctx.config.connect_backoff = None);
    let run = run_with(&s, no_backoff, &opts()).unwrap();
    let v = fired(&run, &s, "pool.connect_rate");
    assert!(v.detail.contains("connects failed in second 0"), "{v}");
    // 4 x (1001 / 10 + 2) = 408, plus 5 for each connect that succeeded in the second.
    assert!(
        v.detail
            .contains("its knobs allow (connect back-off, 4 connects"),
        "{v}"
    );
    assert!((500..1_000).contains(&v.t_ms), "{v}");
}

/// This project's pool with one of pool-core's deliberate bugs planted in its state machine
/// (pool's test-only `set_core_mutation`, feature `mutations`, enabled for sims' tests only).
struct MutatedFactory(pool_core::mutations::Mutation);

impl PoolFactory for MutatedFactory {
    type Pool = Rebuilt;
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Rebuilt, String> {
        let p = CorePoolFactory.build(ctx, label)?;
        p.pool_handle().set_core_mutation(Some(self.0));
        Ok(Rebuilt(p))
    }
}

#[test]
fn a_pool_core_that_ignores_max_size_violates_the_pools_own_invariants() {
    // Two pods of a pool of 2 and 6 users: each pool is asked for more than 2 at once.
    let mut s = base();
    s.tiers[0].pool = PoolSpec::profile("recommended").with(sims::knobs::Overrides {
        max_size: Some(sims::knobs::Setting::Value(2)),
        ..sims::knobs::Overrides::default()
    });
    clean(&run_with(&s, CorePoolFactory, &opts()).unwrap());
    let run = run_with(
        &s,
        MutatedFactory(pool_core::mutations::Mutation::IgnoreMaxSize),
        &opts(),
    )
    .unwrap();
    let v = fired(&run, &s, "pool.invariants");
    // The pod's label, then pool-core's own words, at the first step: the connects for its
    // min_idle and its first requests go past 2 at once.
    assert_eq!(
        v.detail,
        "app-0: size bound violated: 4 live connections > max_size 2"
    );
    assert_eq!(v.step, 1);
}
