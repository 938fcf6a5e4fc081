//! This project's pool under a Sentinel client's two redis-py bugs, one call at a time
//! (`PoolUnderTest::reconnect_in_place` for #3874, `release_unowned` for #4187): what the
//! failover runs `retry-to-old-master` and `slot-leak-8.0` rest on, checked directly on
//! turmoil against the fake Redis.

use fake_redis::{FakeRedis, ServerConfig};
use sims::adapter::{CmdError, GetError, PoolContext, SentinelTarget};
use sims::client::OnAddressChange;
use sims::trace::Trace;
use sims::world::{REDIS_HOST, REDIS_PORT, SENTINEL_HOST, SENTINEL_PORT};
use sims::{CorePoolFactory, PoolFactory, PoolUnderTest};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// A host "other" that the client can be told is the master now.
const OTHER: &str = "other";

/// Runs `probe` on a client host against a fake Redis with `maxclients`, with a pool of at
/// most `max_size` connections (fail fast) whose client has a Sentinel discovery that drops
/// idle connections to an old address and leaks slots when `leaks`. Returns what `probe`
/// returned.
fn with_pool<T: 'static>(
    seed: u64,
    password: Option<&str>,
    maxclients: u64,
    max_size: u32,
    leaks: bool,
    probe: impl AsyncFnOnce(sims::pools::ours::CorePool, SentinelTarget) -> T + 'static,
) -> T {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(1))
        .simulation_duration(Duration::from_secs(30))
        .build();
    let server = FakeRedis::new(ServerConfig {
        maxclients,
        requirepass: password.map(str::to_owned),
        ..ServerConfig::default()
    });
    sim.host(REDIS_HOST, move || {
        let server = server.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", REDIS_PORT)).await?;
            server.serve_turmoil(listener).await?;
            Ok(())
        }
    });
    // The Sentinel the pool's connects ask (it names `redis`).
    let sentinel = fake_redis::FakeSentinel::new(fake_redis::SentinelConfig {
        masters: vec![fake_redis::sentinel::MonitorConfig::new(
            "mymaster",
            fake_redis::sentinel::Addr::new(REDIS_HOST, REDIS_PORT),
            Vec::new(),
        )],
        port: SENTINEL_PORT,
        ..fake_redis::SentinelConfig::default()
    });
    sim.host(SENTINEL_HOST, move || {
        let sentinel = sentinel.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", SENTINEL_PORT)).await?;
            sentinel.serve_turmoil(listener).await?;
            Ok(())
        }
    });
    sim.host(OTHER, || async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let target = SentinelTarget::new(
        SENTINEL_HOST,
        SENTINEL_PORT,
        "mymaster",
        OnAddressChange::DropIdle,
    )
    .with_leaks_slots(leaks);
    let mut config = pool_core::Profile::by_name("redis-py").unwrap().config();
    config.max_size = Some(max_size);
    let ctx = PoolContext {
        config,
        tier: "app".to_owned(),
        host: "app".to_owned(),
        index: 0,
        server: (REDIS_HOST.to_owned(), REDIS_PORT),
        password: password.map(str::to_owned),
        trace: Trace::new(false),
        refusals_seen: Arc::new(AtomicU64::new(0)),
        // Each connect asks the Sentinel, which names `redis`.
        discovery: Some(target.clone()),
    };
    let out: Rc<RefCell<Option<T>>> = Rc::default();
    let slot = Rc::clone(&out);
    sim.client("app", async move {
        // The client knows the master at the pool's server to begin with.
        target.learn((REDIS_HOST.to_owned(), REDIS_PORT));
        let pool = CorePoolFactory.build(&ctx, "app")?;
        *slot.borrow_mut() = Some(probe(pool, target).await);
        Ok(())
    });
    sim.run().unwrap();
    out.borrow_mut().take().expect("the probe finished")
}

fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(2)
}

#[test]
fn a_reconnect_in_place_dials_the_same_address_and_keeps_the_slot() {
    let (addr, id_kept, answers, stale) = with_pool(1, None, 10, 1, false, async |pool, _| {
        assert!(pool.can_reconnect_in_place());
        let mut c = pool.get(soon()).await.expect("a connection");
        let id = pool.conn_id(&c);
        let addr = pool.reconnect_in_place(&mut c, None).await;
        let id_kept = pool.conn_id(&c) == id;
        let answers = pool.run(&mut c, &[b"PING"]).await.is_ok();
        let stale = pool.stale(&c);
        pool.release(c, true);
        (addr, id_kept, answers, stale)
    });
    assert_eq!(addr, Ok(format!("{REDIS_HOST}:{REDIS_PORT}")));
    assert!(id_kept && answers && !stale);
}

#[test]
fn a_reconnect_in_place_refused_by_maxclients_is_a_maxclients_error() {
    // `maxclients` set to the clients connected (the Sentinel's and the one held): the
    // reconnect's new dial is one too many.
    // With a password, so that the dial reads the server's refusal in its handshake (`AUTH`);
    // eight turmoil seeds.
    let outcomes: Vec<String> = (1..=8)
        .map(|seed| {
            let r = with_pool(seed, Some("pw"), 10, 1, false, async |pool, _| {
                let mut c = pool.get(soon()).await.expect("a connection");
                let info = pool.run(&mut c, &[b"INFO", b"clients"]).await;
                let Ok(sims::adapter::Reply::Bulk(Some(text))) = info else {
                    panic!("INFO clients: {info:?}");
                };
                let text = String::from_utf8(text).unwrap();
                let n = text
                    .lines()
                    .find_map(|l| l.strip_prefix("connected_clients:"))
                    .expect("connected_clients")
                    .trim()
                    .to_owned();
                let set = pool
                    .run(&mut c, &[b"CONFIG", b"SET", b"maxclients", n.as_bytes()])
                    .await;
                assert!(set.is_ok(), "{set:?}");
                let r = pool.reconnect_in_place(&mut c, None).await;
                pool.release(c, false);
                r
            });
            format!("{seed}: {r:?}")
        })
        .collect();
    // The refusal is read in the handshake (`AUTH` answered "max number of clients
    // reached"), unless the server's close overtakes the reply: at seed 6 the dial reads a
    // reset, as a real client can when its `AUTH` reaches a socket the server already closed.
    // Pinned per seed: the turmoil schedule is the seed's.
    let want: Vec<String> = (1..=8)
        .map(|seed| {
            let r: Result<String, CmdError> = if seed == 6 {
                Err(CmdError::Other(
                    "connect to redis:6379 failed: I/O error: Connection reset".to_owned(),
                ))
            } else {
                Err(CmdError::MaxClients)
            };
            format!("{seed}: {r:?}")
        })
        .collect();
    assert_eq!(outcomes, want);
}

#[test]
fn a_connection_to_an_old_address_loses_its_slot_only_when_the_client_leaks() {
    for leaks in [true, false] {
        let (stale, leaked, next) = with_pool(1, None, 10, 1, leaks, async |pool, target| {
            let c = pool.get(soon()).await.expect("a connection");
            assert!(!pool.stale(&c));
            // The client learns another master while the connection is checked out.
            target.learn((OTHER.to_owned(), REDIS_PORT));
            let stale = pool.stale(&c);
            let leaked = pool.release_unowned(c);
            let next = pool.get(soon()).await.map(|c| pool.release(c, false));
            (stale, leaked, next)
        });
        assert!(stale, "leaks {leaks}");
        assert_eq!(leaked, leaks);
        if leaks {
            // The pool's only slot is gone for good: redis-py 8.0's "Too many connections".
            assert!(
                matches!(next, Err(GetError::TooManyConnections)),
                "{next:?}"
            );
        } else {
            assert!(next.is_ok(), "{next:?}");
        }
    }
}
