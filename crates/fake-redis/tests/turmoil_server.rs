//! The server over turmoil's simulated TCP: timeout, maxclients and the fault controls, as a
//! client sees them.

use std::time::Duration;

use fake_redis::{FakeRedis, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn sim_with(server: &FakeRedis, seed: u64, duration: Duration) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(duration)
        .tcp_capacity(1024)
        .build();
    let s = server.clone();
    sim.host("redis", move || {
        let s = s.clone();
        async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
            s.serve_turmoil(l).await?;
            Ok(())
        }
    });
    sim
}

async fn connect() -> Result<TcpStream> {
    Ok(TcpStream::connect(("redis", 6379)).await?)
}

/// Write a request and read exactly `expect.len()` bytes.
async fn call(s: &mut TcpStream, req: &str, expect: &str) -> Result {
    s.write_all(req.as_bytes()).await?;
    let mut got = vec![0u8; expect.len()];
    s.read_exact(&mut got).await?;
    assert_eq!(String::from_utf8_lossy(&got), expect);
    Ok(())
}

/// Read until EOF; return what came before it.
async fn read_to_eof(s: &mut TcpStream) -> Result<String> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).await?;
    Ok(String::from_utf8_lossy(&v).into_owned())
}

#[test]
fn client_idle_past_timeout_reads_eof_and_nothing_else() {
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 3,
        ..ServerConfig::default()
    });
    let mut sim = sim_with(&server, 1, Duration::from_secs(30));
    sim.client("app", async {
        let mut c = connect().await?;
        call(&mut c, "PING\r\n", "+PONG\r\n").await?;
        let start = tokio::time::Instant::now();
        let rest = read_to_eof(&mut c).await?;
        let idle = start.elapsed();
        assert_eq!(rest, "", "nothing is written before the close");
        assert!(
            idle > Duration::from_secs(3) && idle <= Duration::from_millis(4200),
            "closed after {idle:?}"
        );
        // A fresh connection works.
        let mut d = connect().await?;
        call(&mut d, "PING\r\n", "+PONG\r\n").await?;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(server.stats().timed_out_clients, 1);
}

#[test]
fn client_active_just_under_timeout_is_never_closed() {
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 2,
        ..ServerConfig::default()
    });
    let mut sim = sim_with(&server, 2, Duration::from_secs(30));
    sim.client("app", async {
        let mut c = connect().await?;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(1900)).await;
            call(&mut c, "PING\r\n", "+PONG\r\n").await?;
        }
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(server.stats().timed_out_clients, 0);
}

#[test]
fn client_101_under_maxclients_100_reads_the_error_then_eof() {
    let server = FakeRedis::new(ServerConfig {
        maxclients: 100,
        ..ServerConfig::default()
    });
    let mut sim = sim_with(&server, 3, Duration::from_secs(30));
    sim.client("app", async {
        let mut held = Vec::new();
        for _ in 0..100 {
            let mut c = connect().await?;
            call(&mut c, "PING\r\n", "+PONG\r\n").await?;
            held.push(c);
        }
        let mut extra = connect().await?;
        let got = read_to_eof(&mut extra).await?;
        assert_eq!(got, "-ERR max number of clients reached\r\n");
        // Once one leaves, a new one fits.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut again = connect().await?;
        call(&mut again, "PING\r\n", "+PONG\r\n").await?;
        Ok(())
    });
    sim.run().unwrap();
    let st = server.stats();
    assert_eq!(st.rejected_connections, 1);
    assert_eq!(st.total_connections_received, 101);
}

#[test]
fn kill_all_clients_gives_eof_and_restart_loses_keys() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 4, Duration::from_secs(30));
    sim.client("app", async {
        let mut c = connect().await?;
        call(&mut c, "SET k v\r\n", "+OK\r\n").await?;
        assert_eq!(read_to_eof(&mut c).await?, "");
        let mut d = connect().await?;
        call(&mut d, "GET k\r\n", "$1\r\nv\r\n").await?;
        assert_eq!(read_to_eof(&mut d).await?, "");
        let mut e = connect().await?;
        call(&mut e, "GET k\r\n", "$-1\r\n").await?;
        Ok(())
    });
    // Let the client connect and set, then kill; then restart.
    for _ in 0..100 {
        sim.step().unwrap();
    }
    assert_eq!(server.connected_clients(), 1);
    server.kill_all_clients();
    assert_eq!(server.connected_clients(), 0);
    for _ in 0..100 {
        sim.step().unwrap();
    }
    assert_eq!(server.connected_clients(), 1);
    server.restart();
    sim.run().unwrap();
    assert_eq!(
        server.stats().total_connections_received,
        1,
        "stats reset by restart"
    );
}

#[test]
fn latency_pause_refuse_and_readonly_faults() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 5, Duration::from_secs(60));
    let fault = server.clone();
    sim.client("app", async move {
        let mut c = connect().await?;
        fault.set_latency(Duration::from_millis(200));
        let t = tokio::time::Instant::now();
        call(&mut c, "PING\r\nPING\r\n", "+PONG\r\n+PONG\r\n").await?;
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
        fault.set_latency(Duration::ZERO);

        fault.pause_reading(true);
        c.write_all(b"PING\r\n").await?;
        let mut b = [0u8; 7];
        let r = tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut b)).await;
        assert!(r.is_err(), "no reply while reading is paused");
        fault.pause_reading(false);
        c.read_exact(&mut b).await?;
        assert_eq!(&b, b"+PONG\r\n");

        fault.set_readonly(true);
        call(
            &mut c,
            "SET k v\r\n",
            "-READONLY You can't write against a read only replica.\r\n",
        )
        .await?;
        fault.set_readonly(false);

        fault.refuse_connections(true);
        let mut r = connect().await?;
        assert_eq!(read_to_eof(&mut r).await?, "");
        fault.refuse_connections(false);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn subscriber_gets_messages_and_outlives_the_timeout() {
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 1,
        ..ServerConfig::default()
    });
    let mut sim = sim_with(&server, 6, Duration::from_secs(30));
    sim.client("sub", async {
        let mut c = connect().await?;
        call(
            &mut c,
            "SUBSCRIBE ch\r\n",
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        )
        .await?;
        let expect = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
        let mut got = vec![0u8; expect.len()];
        c.read_exact(&mut got).await?;
        assert_eq!(String::from_utf8_lossy(&got), expect);
        Ok(())
    });
    sim.client("pub", async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut c = connect().await?;
        call(&mut c, "PUBLISH ch hi\r\n", ":1\r\n").await?;
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn blpop_waiter_is_served_across_connections() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 7, Duration::from_secs(30));
    sim.client("waiter", async {
        let mut c = connect().await?;
        call(&mut c, "BLPOP q 0\r\n", "*2\r\n$1\r\nq\r\n$1\r\nx\r\n").await?;
        call(&mut c, "BLPOP q 0.5\r\n", "*-1\r\n").await?;
        Ok(())
    });
    sim.client("pusher", async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut c = connect().await?;
        call(&mut c, "LPUSH q x\r\n", ":1\r\n").await?;
        Ok(())
    });
    sim.run().unwrap();
}

/// Same seed, same observable history: the server adds no nondeterminism.
#[test]
fn same_seed_gives_same_stats_and_timings() {
    fn run(seed: u64) -> (u64, u64, Vec<u128>) {
        let server = FakeRedis::new(ServerConfig {
            timeout_secs: 1,
            ..ServerConfig::default()
        });
        let mut sim = sim_with(&server, seed, Duration::from_secs(60));
        let times = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for i in 0..5u64 {
            let times = times.clone();
            sim.client(format!("c{i}"), async move {
                let mut c = connect().await?;
                tokio::time::sleep(Duration::from_millis(300 * i)).await;
                call(&mut c, "INCR n\r\n", ":").await?;
                let t = tokio::time::Instant::now();
                let _ = read_to_eof(&mut c).await;
                times.borrow_mut().push(t.elapsed().as_millis());
                Ok(())
            });
        }
        sim.run().unwrap();
        let st = server.stats();
        let v = times.borrow().clone();
        (st.total_commands_processed, st.timed_out_clients, v)
    }
    assert_eq!(run(42), run(42));
}

#[test]
fn debug_sleep_holds_up_every_client() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 8, Duration::from_secs(30));
    sim.client("sleeper", async {
        let mut c = connect().await?;
        let t = tokio::time::Instant::now();
        call(&mut c, "DEBUG SLEEP 2\r\n", "+OK\r\n").await?;
        assert!(t.elapsed() >= Duration::from_secs(2));
        Ok(())
    });
    sim.client("other", async {
        let mut c = connect().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = tokio::time::Instant::now();
        call(&mut c, "PING\r\n", "+PONG\r\n").await?;
        assert!(
            t.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            t.elapsed()
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_stall_holds_up_every_client_and_a_kill_during_it_closes_at_once() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 10, Duration::from_secs(30));
    let s = server.clone();
    sim.client("app", async move {
        let mut waiting = connect().await?;
        let mut killed = connect().await?;
        call(&mut waiting, "PING\r\n", "+PONG\r\n").await?;
        call(&mut killed, "PING\r\n", "+PONG\r\n").await?;
        s.stall(Duration::from_secs(5));
        // A command during the stall is answered when it ends.
        let t = tokio::time::Instant::now();
        call(&mut waiting, "ECHO x\r\n", "$1\r\nx\r\n").await?;
        assert!(
            t.elapsed() >= Duration::from_millis(4_900),
            "{:?}",
            t.elapsed()
        );
        // Another stall; a command waits in it, then every client is killed 1 s in: the
        // waiting connection reads EOF at once, not when the stall would have ended.
        s.stall(Duration::from_secs(5));
        killed.write_all(b"PING\r\n").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = tokio::time::Instant::now();
        s.kill_all_clients();
        assert_eq!(read_to_eof(&mut killed).await?, "");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn shutdown_closes_clients_and_serve_returns() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 9, Duration::from_secs(30));
    let s = server.clone();
    sim.client("app", async move {
        let mut c = connect().await?;
        call(&mut c, "PING\r\n", "+PONG\r\n").await?;
        s.shutdown();
        assert_eq!(read_to_eof(&mut c).await?, "");
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(server.connected_clients(), 0);
}

#[test]
fn bounce_drops_connections_and_the_engine_forgets_them() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 10, Duration::from_secs(30));
    sim.client("app", async {
        let mut c = connect().await?;
        call(&mut c, "SET k v\r\n", "+OK\r\n").await?;
        assert_eq!(read_to_eof(&mut c).await?, "");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut d = connect().await?;
        call(&mut d, "GET k\r\n", "$1\r\nv\r\n").await?;
        Ok(())
    });
    for _ in 0..50 {
        sim.step().unwrap();
    }
    assert_eq!(server.connected_clients(), 1);
    sim.bounce("redis");
    assert_eq!(server.connected_clients(), 0);
    sim.run().unwrap();
}

/// A write is activity (Redis sets `lastinteraction` on writes too): a reply delayed past the
/// read's second restarts the idle clock.
#[test]
fn a_late_reply_counts_as_activity_for_the_timeout() {
    let server = FakeRedis::new(ServerConfig {
        timeout_secs: 2,
        ..ServerConfig::default()
    });
    server.set_latency(Duration::from_millis(2500));
    let mut sim = sim_with(&server, 11, Duration::from_secs(30));
    sim.client("app", async {
        let mut c = connect().await?;
        let t = tokio::time::Instant::now();
        call(&mut c, "PING\r\n", "+PONG\r\n").await?;
        assert_eq!(read_to_eof(&mut c).await?, "");
        let closed_at = t.elapsed();
        assert!(
            closed_at >= Duration::from_millis(4900) && closed_at <= Duration::from_millis(5300),
            "closed at {closed_at:?}: the write at 2.5 s is the last interaction"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn set_role_demotes_over_the_network_blocked_client_unblocked_others_readonly() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim_with(&server, 7, Duration::from_secs(30));
    let ctl = server.clone();
    sim.client("app", async move {
        let mut blocked = connect().await?;
        let mut plain = connect().await?;
        call(&mut plain, "SET k v\r\n", "+OK\r\n").await?;
        blocked.write_all(b"BLPOP q 0\r\n").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        ctl.set_role(fake_redis::Role::Replica {
            host: "redis-2".into(),
            port: 6379,
        });
        assert!(ctl.role().is_replica());
        assert_eq!(
            read_to_eof(&mut blocked).await?,
            "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n"
        );
        call(
            &mut plain,
            "SET k w\r\n",
            "-READONLY You can't write against a read only replica.\r\n",
        )
        .await?;
        call(&mut plain, "GET k\r\n", "$1\r\nv\r\n").await?;
        ctl.set_role(fake_redis::Role::Master);
        call(&mut plain, "SET k w\r\n", "+OK\r\n").await?;
        Ok(())
    });
    sim.run().unwrap();
}
