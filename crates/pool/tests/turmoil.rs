#![cfg(not(loom))]
//! The driver under turmoil, against fake-redis: waiting and failing fast, idle close, check on
//! checkout, keepalive past the server timeout, a server restart, redis-py #2624, and
//! cancellation of `get()` at every step of its life.
//!
//! Every test builds its own simulation from a fixed seed; time is simulated (`tokio::time`).

use fake_redis::{FakeRedis, ServerConfig};
use pool::redis::{RedisError, TurmoilRedisManager};
use pool::{Pool, PoolError};
use pool_core::{
    CheckHow, CheckOnCheckout, CheckWhen, Config, Fairness, Keepalive, KeepaliveScope, PoolState,
    WhenExhausted,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, timeout};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PORT: u16 = 6379;

fn config(max_size: u32) -> Config {
    Config {
        max_size: Some(max_size),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(1)),
        },
        seed: 1,
        connect_timeout: Some(Duration::from_secs(1)),
        ..Config::bare()
    }
}

fn sim(seed: u64, duration: Duration) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(duration)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .build()
}

/// Serves `server` on host "redis"; the host can be bounced.
fn serve(sim: &mut turmoil::Sim<'_>, server: &FakeRedis) {
    let server = server.clone();
    sim.host("redis", move || {
        let server = server.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            server.serve_turmoil(listener).await?;
            Ok(())
        }
    });
}

fn manager() -> TurmoilRedisManager {
    TurmoilRedisManager::new("redis", PORT)
}

/// Nothing in use, nobody waiting, nothing in flight; `total` connections idle.
fn assert_quiet(pool: &Pool<TurmoilRedisManager>, total: u32) {
    assert_eq!(
        pool.state(),
        PoolState {
            total,
            idle: total,
            in_use: 0,
            connecting: 0,
            checking: 0,
            waiters: 0
        }
    );
}

#[test]
fn a_waiting_request_gets_the_released_connection() -> TestResult {
    // Barging hands the connection over through pool-core's wake-up timer (the driver's timer
    // task), strict FIFO inside the release itself: both must serve the waiter.
    for fairness in [Fairness::StrictFifo, Fairness::Barging] {
        waiting_request_gets_the_released_connection(fairness)?;
    }
    Ok(())
}

fn waiting_request_gets_the_released_connection(fairness: Fairness) -> TestResult {
    let mut sim = sim(1, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    sim.client("app", async move {
        let mut cfg = config(1);
        cfg.fairness = fairness;
        let pool = Pool::new(manager(), cfg)?;
        let mut held = pool.get().await?;
        held.set("k", "v").await?;
        let p = pool.clone();
        let waiter = tokio::spawn(async move {
            let start = Instant::now();
            let mut c = p.get().await?;
            let waited = start.elapsed();
            let v = c.get("k").await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((waited, v))
        });
        sleep(Duration::from_millis(200)).await;
        assert_eq!(pool.state().waiters, 1);
        drop(held);
        let (waited, v) = waiter.await?.map_err(|e| e.to_string())?;
        assert!(waited >= Duration::from_millis(195), "{waited:?}");
        assert!(waited < Duration::from_millis(300), "{waited:?}");
        assert_eq!(v.as_deref(), Some(&b"v"[..]));
        assert_eq!(pool.stats().connects_started, 1);
        assert_quiet(&pool, 1);
        Ok(())
    });
    sim.run()
}

#[test]
fn a_waiting_request_times_out_after_the_pool_timeout() -> TestResult {
    let mut sim = sim(2, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    sim.client("app", async move {
        let pool = Pool::new(manager(), config(1))?;
        let _held = pool.get().await?;
        let start = Instant::now();
        let err = pool.get().await.unwrap_err();
        assert_eq!(err, PoolError::PoolTimeout);
        let waited = start.elapsed();
        assert!(
            (Duration::from_millis(1000)..Duration::from_millis(1050)).contains(&waited),
            "{waited:?}"
        );
        assert_eq!(pool.state().waiters, 0);
        Ok(())
    });
    sim.run()
}

#[test]
fn a_fail_fast_pool_refuses_at_once() -> TestResult {
    let mut sim = sim(3, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    sim.client("app", async move {
        let mut cfg = config(1);
        cfg.when_exhausted = WhenExhausted::FailFast;
        let pool = Pool::new(manager(), cfg)?;
        let _held = pool.get().await?;
        let start = Instant::now();
        assert_eq!(pool.get().await.unwrap_err(), PoolError::TooManyConnections);
        assert_eq!(start.elapsed(), Duration::ZERO);
        Ok(())
    });
    sim.run()
}

#[test]
fn idle_connections_are_closed_after_idle_timeout() -> TestResult {
    let mut sim = sim(4, Duration::from_secs(60));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    let observer = server.clone();
    sim.client("app", async move {
        let mut cfg = config(4);
        cfg.idle_timeout = Some(Duration::from_secs(5));
        let pool = Pool::new(manager(), cfg)?;
        let a = pool.get().await?;
        let b = pool.get().await?;
        drop((a, b));
        sleep(Duration::from_secs(4)).await;
        assert_eq!(pool.state().idle, 2);
        assert_eq!(observer.connected_clients(), 2);
        sleep(Duration::from_secs(2)).await;
        assert_quiet(&pool, 0);
        // The server saw the sockets close.
        sleep(Duration::from_millis(50)).await;
        assert_eq!(observer.connected_clients(), 0);
        Ok(())
    });
    sim.run()
}

/// Server `timeout 10`; the pool sits idle 15 s. Without a check (radix.v2) the next command
/// reads EOF; with a peek on checkout the closed connection is replaced before the grant.
#[test]
fn check_on_checkout_finds_a_connection_the_server_closed() -> TestResult {
    for how in [None, Some(CheckHow::Peek), Some(CheckHow::Ping)] {
        let mut sim = sim(5, Duration::from_secs(60));
        let server = FakeRedis::new(ServerConfig {
            timeout_secs: 10,
            ..ServerConfig::default()
        });
        serve(&mut sim, &server);
        let observer = server.clone();
        sim.client("app", async move {
            let mut cfg = config(1);
            if let Some(how) = how {
                cfg.check_on_checkout = CheckOnCheckout {
                    when: CheckWhen::Always,
                    how,
                };
            }
            let pool = Pool::new(manager(), cfg)?;
            drop(pool.get().await?);
            sleep(Duration::from_secs(15)).await;
            assert_eq!(observer.stats().timed_out_clients, 1);
            let mut c = pool.get().await?;
            let r = c.ping().await;
            match how {
                None => {
                    assert!(
                        matches!(r, Err(RedisError::Closed | RedisError::Io(_))),
                        "{r:?}"
                    );
                    // The failed command broke the connection: dropped as broken, closed.
                    drop(c);
                    assert_quiet(&pool, 0);
                    let mut c = pool.get().await?;
                    c.ping().await?;
                }
                Some(_) => {
                    r?;
                    let st = pool.stats();
                    assert_eq!(st.checks_failed, 1, "{how:?}: {st:?}");
                    assert_eq!(st.connects_started, 2);
                }
            }
            Ok(())
        });
        sim.run()?;
    }
    Ok(())
}

/// Server `timeout 10`; keepalive pings every idle connection every 4 s: after a minute of
/// idleness all three connections are still open and no new connect is needed.
#[test]
fn keepalive_keeps_connections_past_the_server_timeout() -> TestResult {
    let mut sim = sim(6, Duration::from_secs(120));
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 10,
        ..ServerConfig::default()
    });
    serve(&mut sim, &server);
    let observer = server.clone();
    sim.client("app", async move {
        let mut cfg = config(3);
        cfg.keepalive = Some(Keepalive {
            interval: Duration::from_secs(4),
            scope: KeepaliveScope::EveryIdle,
        });
        let pool = Pool::new(manager(), cfg)?;
        let conns = (pool.get().await?, pool.get().await?, pool.get().await?);
        drop(conns);
        sleep(Duration::from_secs(60)).await;
        assert_eq!(observer.stats().timed_out_clients, 0);
        assert_eq!(observer.connected_clients(), 3);
        let st = pool.stats();
        assert!(st.keepalive_pings >= 3 * 10, "{st:?}");
        let mut c = pool.get().await?;
        c.ping().await?;
        assert_eq!(pool.stats().connects_started, 3);
        Ok(())
    });
    sim.run()
}

/// The Redis host is bounced (its process restarts; open connections read EOF). With a PING
/// on checkout the pool replaces its dead connections and carries on.
#[test]
fn a_server_restart_is_survived() -> TestResult {
    let mut sim = sim(7, Duration::from_secs(60));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    let bounced = Arc::new(Notify::new());
    let b = Arc::clone(&bounced);
    let ready = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ready);
    sim.client("app", async move {
        let mut cfg = config(2);
        cfg.check_on_checkout = CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Ping,
        };
        let pool = Pool::new(manager(), cfg)?;
        let (mut a, mut b2) = (pool.get().await?, pool.get().await?);
        a.set("k", "1").await.map_err(|e| format!("set: {e:?}"))?;
        b2.ping().await.map_err(|e| format!("ping b: {e:?}"))?;
        drop((a, b2));
        r.store(true, Ordering::SeqCst);
        b.notified().await;
        for i in 0..4 {
            let mut c = pool.get().await.map_err(|e| format!("get {i}: {e:?}"))?;
            c.ping()
                .await
                .map_err(|e| format!("ping {i}: {e:?} {:?}", pool.stats()))?;
        }
        let st = pool.stats();
        assert_eq!(st.checks_failed, 2, "{st:?}");
        assert_eq!(st.connects_succeeded, 3, "{st:?}");
        Ok(())
    });
    // Run until the app has its idle connections, then bounce the server host.
    for _ in 0..2000 {
        sim.step()?;
        if ready.load(Ordering::SeqCst) {
            break;
        }
    }
    sim.bounce("redis");
    for _ in 0..50 {
        sim.step()
            .map_err(|e| format!("step after bounce: {e:?}"))?;
    }
    bounced.notify_one();
    sim.run()
}

/// redis-py #2624: a command whose future is dropped after its write and before its reply
/// leaves that reply unread. The guard reports the connection broken; the pool closes it, and
/// the next user's GET reads its own reply, not the stale one.
#[test]
fn a_command_cancelled_mid_flight_closes_its_connection() -> TestResult {
    let mut sim = sim(8, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    let slow = server.clone();
    sim.client("app", async move {
        let pool = Pool::new(manager(), config(1))?;
        {
            let mut c = pool.get().await?;
            c.set("a", "reply-for-a").await?;
            c.set("b", "reply-for-b").await?;
        }
        slow.set_latency(Duration::from_millis(20));
        {
            let mut c = pool.get().await?;
            let r = timeout(Duration::from_millis(5), c.get("a")).await;
            assert!(r.is_err(), "the GET should still be in flight");
            assert!(c.is_broken());
        }
        assert_quiet(&pool, 0);
        slow.set_latency(Duration::ZERO);
        let mut c = pool.get().await?;
        assert_eq!(c.get("b").await?.as_deref(), Some(&b"reply-for-b"[..]));
        assert_eq!(pool.stats().connects_started, 2);
        Ok(())
    });
    sim.run()
}

#[test]
fn auth_and_select_on_connect() -> TestResult {
    let mut sim = sim(9, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig {
        requirepass: Some("sekret".into()),
        ..ServerConfig::default()
    });
    serve(&mut sim, &server);
    sim.client("app", async move {
        let mut cfg = config(1);
        cfg.when_exhausted = WhenExhausted::FailFast;
        let pool = Pool::new(manager().password("sekret").db(2), cfg.clone())?;
        let mut c = pool.get().await?;
        c.set("k", "in-db-2").await?;
        assert_eq!(c.get("k").await?.as_deref(), Some(&b"in-db-2"[..]));
        drop(c);

        let other_db = Pool::new(manager().password("sekret"), cfg.clone())?;
        assert_eq!(other_db.get().await?.get("k").await?, None);

        let no_auth = Pool::new(manager(), cfg)?;
        let err = no_auth.get().await.unwrap_err();
        assert!(matches!(err, PoolError::ConnectFailed { .. }), "{err:?}");
        assert!(err.to_string().contains("NOAUTH"), "{err}");
        Ok(())
    });
    sim.run()
}

/// What `get()` was doing when it was dropped.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    queued: bool,
    connecting: bool,
    checking: bool,
    granted_unseen: bool,
}

/// Drops a `get()` at step `k` of the simulation, then checks nothing leaked: the pool
/// serves the next request, ends quiet, and holds exactly the connections the server sees.
///
/// Scenario: max_size 1, PING on checkout, 2 ms per command. A holder takes the only
/// connection for 10 ms; the victim's `get` queues, is granted the released connection, waits
/// on its PING check and completes. With `warm = false` the pool starts empty, so the victim
/// also waits on a connect.
///
/// With `cancel_on_release`, no check and no step: the holder releases and, in the same task
/// step, triggers the cancel, so the victim is granted the connection and dropped before it is
/// polled again (the bb8 #67 window), deterministically.
fn cancel_at_step(
    k: usize,
    warm: bool,
    cancel_on_release: bool,
) -> Result<Seen, Box<dyn std::error::Error>> {
    let mut sim = sim(10 + k as u64, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    server.set_latency(Duration::from_millis(2));
    serve(&mut sim, &server);
    let observer = server.clone();
    let cancel = Arc::new(Notify::new());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (cancel2, seen2) = (Arc::clone(&cancel), Arc::clone(&seen));
    let cancel3 = Arc::clone(&cancel);
    sim.client("app", async move {
        let mut cfg = config(1);
        if !cancel_on_release {
            cfg.check_on_checkout = CheckOnCheckout {
                when: CheckWhen::Always,
                how: CheckHow::Ping,
            };
        }
        let pool = Pool::new(manager(), cfg)?;
        let holder = if warm {
            let held = pool.get().await?;
            Some(tokio::spawn(async move {
                sleep(Duration::from_millis(10)).await;
                drop(held);
                if cancel_on_release {
                    cancel3.notify_one();
                }
            }))
        } else {
            None
        };
        let before = pool.driver_stats();
        let mut victim = Box::pin(pool.get());
        let outcome = tokio::select! {
            biased;
            () = cancel2.notified() => None,
            r = &mut victim => Some(r),
        };
        let state_at_cancel = pool.state();
        // Drop the future here, at whatever point it was.
        drop(victim);
        let after = pool.driver_stats();
        {
            let mut s = seen2.lock().unwrap();
            if outcome.is_none() {
                s.queued = state_at_cancel.waiters > 0;
                s.connecting = state_at_cancel.connecting > 0;
                s.checking = state_at_cancel.checking > 0;
                s.granted_unseen = after.abandoned_granted > before.abandoned_granted;
            }
        }
        drop(outcome);
        if let Some(h) = holder {
            h.await?;
        }
        // No leak, no lost wake-up: the next request is served promptly.
        let mut c = timeout(Duration::from_millis(500), pool.get()).await??;
        c.ping().await?;
        drop(c);
        sleep(Duration::from_millis(100)).await;
        let st = pool.state();
        assert_eq!(
            (st.in_use, st.waiters, st.connecting, st.checking),
            (0, 0, 0, 0)
        );
        assert!(st.total <= 1);
        assert_eq!(observer.connected_clients(), u64::from(st.total));
        Ok(())
    });
    if !cancel_on_release {
        for _ in 0..k {
            if sim.step()? {
                break;
            }
        }
        cancel.notify_one();
    }
    sim.run()?;
    let s = *seen.lock().unwrap();
    Ok(s)
}

#[test]
fn cancellation_at_every_step_never_leaks() -> TestResult {
    let mut all = Seen::default();
    let mut runs = vec![(0, true, true)];
    for warm in [true, false] {
        runs.extend((0..60).map(|k| (k, warm, false)));
    }
    for (k, warm, on_release) in runs {
        let s = cancel_at_step(k, warm, on_release)
            .map_err(|e| format!("k={k} warm={warm} cancel_on_release={on_release}: {e}"))?;
        all.queued |= s.queued;
        all.connecting |= s.connecting;
        all.checking |= s.checking;
        all.granted_unseen |= s.granted_unseen;
    }
    // The sweep did reach every await point of `get`.
    assert!(all.queued, "{all:?}");
    assert!(all.connecting, "{all:?}");
    assert!(all.checking, "{all:?}");
    assert!(all.granted_unseen, "{all:?}");
    Ok(())
}

/// `get_with_deadline` with `honour_deadlines`: pool-core refuses the queued request at the
/// caller's deadline (300 ms), well before the 1 s pool timeout.
#[test]
fn a_request_deadline_is_honoured() -> TestResult {
    let mut sim = sim(11, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    sim.client("app", async move {
        let mut cfg = config(1);
        cfg.honour_deadlines = true;
        let pool = Pool::new(manager(), cfg)?;
        let _held = pool.get().await?;
        let start = Instant::now();
        let err = pool
            .get_with_deadline(start + Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err, PoolError::DeadlineExceeded);
        let waited = start.elapsed();
        assert!(
            (Duration::from_millis(300)..Duration::from_millis(350)).contains(&waited),
            "{waited:?}"
        );
        Ok(())
    });
    sim.run()
}

/// `close()`: a queued request is refused with `Closed`, idle connections are closed at once,
/// the in-use one when its guard drops, and later requests are refused.
#[test]
fn close_refuses_waiters_and_closes_connections() -> TestResult {
    let mut sim = sim(12, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig::default());
    serve(&mut sim, &server);
    let observer = server.clone();
    sim.client("app", async move {
        let pool = Pool::new(manager(), config(2))?;
        let (held, idle) = (pool.get().await?, pool.get().await?);
        drop(idle);
        let p = pool.clone();
        let waiter = tokio::spawn(async move {
            let _other = p.get().await?; // takes the idle one
            p.get().await.map(drop) // queues
        });
        sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.state().waiters, 1);
        pool.close();
        assert_eq!(waiter.await?.unwrap_err(), PoolError::Closed);
        drop(held);
        sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.state(), PoolState::default());
        assert_eq!(observer.connected_clients(), 0);
        assert_eq!(pool.get().await.unwrap_err(), PoolError::Closed);
        Ok(())
    });
    sim.run()
}

/// `min_idle` connections are opened at start; a server at `maxclients` refuses the rest, and
/// the refusal surfaces as a connect error naming it.
#[test]
fn min_idle_is_filled_and_maxclients_is_reported() -> TestResult {
    let mut sim = sim(13, Duration::from_secs(30));
    let server = FakeRedis::new(ServerConfig {
        maxclients: 2,
        ..ServerConfig::default()
    });
    serve(&mut sim, &server);
    let observer = server.clone();
    sim.client("app", async move {
        let mut cfg = config(3);
        cfg.min_idle = 2;
        let pool = Pool::new(manager(), cfg)?;
        sleep(Duration::from_millis(100)).await;
        assert_quiet(&pool, 2);
        assert_eq!(observer.connected_clients(), 2);
        // A second pool finds the server full.
        let mut cfg = config(3);
        cfg.when_exhausted = WhenExhausted::FailFast;
        let other = Pool::new(manager(), cfg)?;
        let err = other.get().await.unwrap_err();
        assert!(
            err.to_string().contains("max number of clients reached"),
            "{err}"
        );
        assert_eq!(observer.stats().rejected_connections, 1);
        Ok(())
    });
    sim.run()
}
