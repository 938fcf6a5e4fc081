//! Basic commands over turmoil and tokio TCP.

use std::time::Duration;

use fake_redis::{FakeRedis, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn roundtrip<S: AsyncReadExt + AsyncWriteExt + Unpin>(s: &mut S, req: &[u8], expect: &[u8]) {
    s.write_all(req).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < expect.len() {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "EOF after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expect)
    );
}

#[test]
fn basic_commands_over_turmoil() {
    let server = FakeRedis::new(ServerConfig {
        requirepass: Some("pw".into()),
        ..ServerConfig::default()
    });
    let mut sim = turmoil::Builder::new().rng_seed(1).build();
    let s = server.clone();
    sim.host("redis", move || {
        let s = s.clone();
        async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", 6379)).await?;
            s.serve_turmoil(l).await?;
            Ok(())
        }
    });
    sim.client("app", async {
        let mut c = turmoil::net::TcpStream::connect(("redis", 6379)).await?;
        roundtrip(&mut c, b"PING\r\n", b"-NOAUTH Authentication required.\r\n").await;
        roundtrip(
            &mut c,
            b"AUTH x\r\n",
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        )
        .await;
        roundtrip(&mut c, b"AUTH pw\r\n", b"+OK\r\n").await;
        roundtrip(
            &mut c,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\nPING\r\n",
            b"+OK\r\n$1\r\nv\r\n+PONG\r\n",
        )
        .await;
        roundtrip(
            &mut c,
            b"CONFIG GET timeout\r\n",
            b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n",
        )
        .await;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(server.stats().total_connections_received, 1);
}

#[tokio::test]
async fn basic_commands_over_tokio() {
    let server = FakeRedis::new(ServerConfig::default());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let s = server.clone();
    let h = tokio::spawn(async move { s.serve_tokio(l).await });
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    roundtrip(
        &mut c,
        b"SET a 1\r\nINCR a\r\nQUIT\r\n",
        b"+OK\r\n:2\r\n+OK\r\n",
    )
    .await;
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(server.connected_clients(), 0);
    server.shutdown();
    h.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_after_debug_sleep_run_after_it_over_tokio() {
    let server = FakeRedis::new(ServerConfig::default());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve_tokio(l).await });
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = tokio::time::Instant::now();
    roundtrip(
        &mut c,
        b"SET k v PX 100\r\nSET p v\r\nDEBUG SLEEP 0.3\r\nGET k\r\nEXISTS k\r\nTTL k\r\nGET p\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n$-1\r\n:0\r\n:-2\r\n$1\r\nv\r\n",
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    server.shutdown();
}
