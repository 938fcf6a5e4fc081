//! Known bugs of real pools as regression scenarios, each runnable against any pool.
//!
//! Each is a short turmoil run (the fake server on `redis`, a script on `probe`) written
//! against [`PoolUnderTest`] only, so it runs against this project's pool, bb8, deadpool and
//! mobc alike; after every simulation step the pool's own invariants are checked
//! ([`Observe::check_invariants`]). A run says whether the bug's symptom showed ([`BugRun`]).
//!
//! - `bb8-59`: a connection dropped while `is_valid` ran left the connection count high
//!   (djc/bb8#59): a get is cancelled during its checkout check; afterwards the pool must
//!   still give out `max_size` connections at once.
//! - `bb8-67`: a connection sent to a waiter whose future was dropped was lost (djc/bb8#67,
//!   also importcjj/mobc#63): the holder gives the only connection back and, before the
//!   waiter runs, the waiter is cancelled; the next get must not starve.
//! - `bb8-167`: dropping a broken connection woke no waiter (djc/bb8#167): the only
//!   connection dies while a waiter waits; the waiter must get a new one before its wait
//!   times out.
//! - `deadpool-92`: more objects available than `max_size` after failed recycles
//!   (deadpool-rs/deadpool#92): every idle connection dies, then more gets than `max_size`
//!   arrive at once; the pool must never count more than `max_size`.
//!
//! `poolsim bugs --pool all` prints them for every pool; `docs/real-pools.md` says what each
//! crate does today.

use crate::adapter::{Observe, PoolContext, PoolFactory, PoolUnderTest};
use crate::pools::{Knobs, PoolChoice};
use crate::trace::Trace;
use fake_redis::{FakeRedis, ServerConfig};
use pool_core::{CheckHow, CheckOnCheckout, CheckWhen, Config, WhenExhausted};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A known bug and its scenario.
#[derive(Clone, Copy, Debug)]
pub struct KnownBug {
    /// The name `poolsim bugs` takes (`bb8-59`).
    pub name: &'static str,
    /// The upstream report.
    pub upstream: &'static str,
    /// What it was, in one line.
    pub summary: &'static str,
    script: Script,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    CancelDuringCheck,
    CancelWaiterAfterHandoff,
    BrokenWakesWaiter,
    FailedRecyclesOverCapacity,
}

/// Every known bug, in the order of the issue.
pub const ALL: [KnownBug; 4] = [
    KnownBug {
        name: "bb8-59",
        upstream: "djc/bb8#59",
        summary: "a connection dropped while is_valid ran left the connection count high",
        script: Script::CancelDuringCheck,
    },
    KnownBug {
        name: "bb8-67",
        upstream: "djc/bb8#67, importcjj/mobc#63",
        summary: "a connection sent to a waiter whose future was dropped was lost",
        script: Script::CancelWaiterAfterHandoff,
    },
    KnownBug {
        name: "bb8-167",
        upstream: "djc/bb8#167",
        summary: "dropping a broken connection woke no waiter",
        script: Script::BrokenWakesWaiter,
    },
    KnownBug {
        name: "deadpool-92",
        upstream: "deadpool-rs/deadpool#92",
        summary: "more available than max_size after failed recycles",
        script: Script::FailedRecyclesOverCapacity,
    },
];

/// The known bug called `name`.
#[must_use]
pub fn by_name(name: &str) -> Option<&'static KnownBug> {
    ALL.iter().find(|b| b.name == name)
}

/// What a run of a known bug's scenario showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BugRun {
    /// Whether the bug's symptom showed.
    pub present: bool,
    /// What was measured.
    pub detail: String,
    /// The run's trace hash.
    pub trace_hash: String,
}

impl KnownBug {
    /// The pool configuration of the scenario (pool-core knobs, mapped onto each crate).
    #[must_use]
    pub fn config(&self) -> Config {
        let mut c = Config::bare();
        c.when_exhausted = WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(2)),
        };
        c.check_on_checkout = CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        };
        c.max_size = Some(match self.script {
            Script::CancelDuringCheck | Script::FailedRecyclesOverCapacity => 2,
            Script::CancelWaiterAfterHandoff | Script::BrokenWakesWaiter => 1,
        });
        c
    }

    /// Runs the scenario with `pool` (`None` for a pool it does not apply to: redis-rs's
    /// `ConnectionManager` has no pool).
    #[must_use]
    pub fn run(&self, pool: &PoolChoice, seed: u64) -> Option<BugRun> {
        use crate::pools::{bb8, deadpool, mobc, ours};
        let k = Knobs::Mapped;
        match pool {
            PoolChoice::Ours | PoolChoice::OursProfile(_) => {
                Some(self.run_with(ours::CorePoolFactory, seed))
            }
            PoolChoice::Bb8 => Some(self.run_with(bb8::Bb8Factory { knobs: k }, seed)),
            PoolChoice::Deadpool => {
                Some(self.run_with(deadpool::DeadpoolFactory { knobs: k }, seed))
            }
            PoolChoice::Mobc => Some(self.run_with(mobc::MobcFactory { knobs: k }, seed)),
            PoolChoice::RedisRs => None,
        }
    }

    /// Runs the scenario with pools from `factory`.
    pub fn run_with<F: PoolFactory>(&self, factory: F, seed: u64) -> BugRun {
        // A panic in any task of the probe's pool is the pool's bug showing (`sim.panic`).
        let panics = crate::panics::Watch::start();
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(Duration::from_millis(1))
            .simulation_duration(Duration::from_secs(60))
            .build();
        let server = FakeRedis::new(ServerConfig::default());
        let host_server = server.clone();
        sim.host(crate::world::REDIS_HOST, move || {
            let server = host_server.clone();
            async move {
                let listener =
                    turmoil::net::TcpListener::bind(("0.0.0.0", crate::world::REDIS_PORT)).await?;
                server.serve_turmoil(listener).await?;
                Ok(())
            }
        });
        let trace = Trace::new(false);
        let ctx = PoolContext {
            config: self.config(),
            tier: "probe".to_owned(),
            host: "probe".to_owned(),
            index: 0,
            server: (
                crate::world::REDIS_HOST.to_owned(),
                crate::world::REDIS_PORT,
            ),
            password: None,
            trace: trace.clone(),
            refusals_seen: Arc::new(AtomicU64::new(0)),
            discovery: None,
        };
        let observed: Arc<Mutex<Option<Arc<dyn Observe>>>> = Arc::default();
        let outcome: Rc<RefCell<Option<Result<String, String>>>> = Rc::default();
        {
            let observed = Arc::clone(&observed);
            let outcome = Rc::clone(&outcome);
            let server = server.clone();
            let script = self.script;
            sim.client("probe", async move {
                let pool = Arc::new(factory.build(&ctx, "probe")?);
                *observed.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Arc::clone(&pool) as Arc<dyn Observe>);
                let r = run_script(script, &pool, &server).await;
                *outcome.borrow_mut() = Some(r);
                Ok(())
            });
        }
        let mut violation = None;
        loop {
            let stepped = sim.step();
            if let Some(p) = panics.take() {
                violation = Some(format!(
                    "a task panicked at {} ms: {p}",
                    sim.elapsed().as_millis()
                ));
                break;
            }
            let done = match stepped {
                Ok(d) => d,
                Err(e) => {
                    violation = Some(format!("the simulation failed: {e}"));
                    break;
                }
            };
            let pool = observed.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(p) = pool {
                if let Err(v) = p.check_invariants() {
                    violation = Some(format!(
                        "pool invariant broken at {} ms: {v}",
                        sim.elapsed().as_millis()
                    ));
                    break;
                }
            }
            if done {
                break;
            }
        }
        let trace_hash = format!("{:016x}", trace.hash());
        let result = outcome.borrow_mut().take();
        match (violation, result) {
            (Some(v), _) => BugRun {
                present: true,
                detail: v,
                trace_hash,
            },
            (None, Some(Ok(d))) => BugRun {
                present: false,
                detail: d,
                trace_hash,
            },
            (None, Some(Err(d))) => BugRun {
                present: true,
                detail: d,
                trace_hash,
            },
            (None, None) => BugRun {
                present: true,
                detail: "the probe never finished".to_owned(),
                trace_hash,
            },
        }
    }
}

fn deadline_in(d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + d
}

/// Takes a connection, runs PING on it, gives it back; `Err` names what failed.
async fn use_once<P: PoolUnderTest>(pool: &P, what: &str) -> Result<(), String> {
    let mut c = pool
        .get(deadline_in(Duration::from_secs(10)))
        .await
        .map_err(|e| format!("{what}: get failed: {}", e.describe()))?;
    let r = pool.run(&mut c, &[b"PING"]).await;
    pool.release(c, r.is_ok());
    r.map(|_| ())
        .map_err(|e| format!("{what}: PING failed: {}", e.describe()))
}

/// `n` gets at once; each must succeed (within the pool's 2 s wait).
async fn all_at_once<P: PoolUnderTest>(pool: &P, n: usize) -> Result<(), String> {
    let mut held = Vec::new();
    for i in 0..n {
        match tokio::time::timeout(
            Duration::from_secs(3),
            pool.get(deadline_in(Duration::from_secs(10))),
        )
        .await
        {
            Ok(Ok(c)) => held.push(c),
            Ok(Err(e)) => {
                return Err(format!(
                    "get {} of {n} failed: {} (capacity lost)",
                    i + 1,
                    e.describe()
                ));
            }
            Err(_) => return Err(format!("get {} of {n} hung 3 s (capacity lost)", i + 1)),
        }
    }
    for c in held {
        pool.release(c, true);
    }
    Ok(())
}

async fn run_script<P: PoolUnderTest>(
    script: Script,
    pool: &Arc<P>,
    server: &FakeRedis,
) -> Result<String, String> {
    match script {
        Script::CancelDuringCheck => {
            use_once(pool.as_ref(), "warm-up").await?;
            // The checkout's PING now takes 500 ms; the get is dropped after 100 ms, while
            // the check runs.
            server.set_latency(Duration::from_millis(500));
            let cancelled = tokio::time::timeout(
                Duration::from_millis(100),
                pool.get(deadline_in(Duration::from_secs(10))),
            )
            .await;
            if let Ok(Ok(c)) = cancelled {
                pool.release(c, true);
                return Err("the get was not cancelled during its check (it returned)".into());
            }
            server.set_latency(Duration::ZERO);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let before = pool.snapshot();
            all_at_once(pool.as_ref(), 2).await?;
            Ok(format!(
                "after a get cancelled during its check: {} connections counted, 2 gets at \
                 once served",
                before.connections
            ))
        }
        Script::CancelWaiterAfterHandoff => {
            let holder = pool
                .get(deadline_in(Duration::from_secs(10)))
                .await
                .map_err(|e| format!("holder: {}", e.describe()))?;
            let waiter = {
                let pool = Arc::clone(pool);
                tokio::task::spawn_local(async move {
                    let c = pool.get(deadline_in(Duration::from_secs(10))).await;
                    if let Ok(c) = c {
                        pool.release(c, true);
                    }
                })
            };
            tokio::time::sleep(Duration::from_millis(10)).await;
            // The hand-off and the cancellation in one step: the waiter is never polled
            // between them.
            pool.release(holder, true);
            waiter.abort();
            tokio::time::sleep(Duration::from_millis(50)).await;
            all_at_once(pool.as_ref(), 1).await?;
            Ok(
                "after a waiter was cancelled as the connection was handed to it, the next \
                get was served"
                    .to_owned(),
            )
        }
        Script::BrokenWakesWaiter => {
            let holder = pool
                .get(deadline_in(Duration::from_secs(10)))
                .await
                .map_err(|e| format!("holder: {}", e.describe()))?;
            let got: Rc<RefCell<Option<Result<u64, String>>>> = Rc::default();
            let waiter = {
                let pool = Arc::clone(pool);
                let got = Rc::clone(&got);
                tokio::task::spawn_local(async move {
                    let t0 = tokio::time::Instant::now();
                    let r = pool.get(deadline_in(Duration::from_secs(10))).await;
                    let ms = t0.elapsed().as_millis() as u64;
                    *got.borrow_mut() = Some(match r {
                        Ok(c) => {
                            pool.release(c, true);
                            Ok(ms)
                        }
                        Err(e) => Err(format!("{} after {ms} ms", e.describe())),
                    });
                })
            };
            tokio::time::sleep(Duration::from_millis(10)).await;
            // The only connection dies under its holder, who gives it back broken.
            server.kill_all_clients();
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut holder = holder;
            let r = pool.run(&mut holder, &[b"PING"]).await;
            pool.release(holder, r.is_ok());
            let _ = waiter.await;
            match got.borrow_mut().take() {
                Some(Ok(ms)) => Ok(format!(
                    "the waiter got a new connection {ms} ms after it asked (wait timeout 2 s)"
                )),
                Some(Err(e)) => Err(format!("the waiter got no connection: {e}")),
                None => Err("the waiter never finished".to_owned()),
            }
        }
        Script::FailedRecyclesOverCapacity => {
            all_at_once(pool.as_ref(), 2).await?;
            server.kill_all_clients();
            tokio::time::sleep(Duration::from_millis(10)).await;
            // Six gets at once on a pool of 2 whose idle connections are all dead: every
            // checkout check fails; invariants are checked after every step meanwhile.
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let pool = Arc::clone(pool);
                tasks.push(tokio::task::spawn_local(async move {
                    use_once(pool.as_ref(), "after the kill").await
                }));
            }
            let mut failed = 0;
            for t in tasks {
                if !matches!(t.await, Ok(Ok(()))) {
                    failed += 1;
                }
            }
            let s = pool.snapshot();
            if s.connections > 2 {
                return Err(format!(
                    "{} connections counted after failed checks, max_size 2",
                    s.connections
                ));
            }
            Ok(format!(
                "6 gets over dead idle connections: {failed} failed, at most max_size counted \
                 at every step ({} at the end)",
                s.connections
            ))
        }
    }
}
