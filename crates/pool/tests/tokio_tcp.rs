#![cfg(not(loom))]
//! The driver over real TCP (tokio, loopback) against fake-redis: the tokio `Transport`, AUTH,
//! and a peek on checkout that sees a connection the server closed.

use fake_redis::{FakeRedis, ServerConfig};
use pool::Pool;
use pool::redis::TokioRedisManager;
use pool_core::{CheckHow, CheckOnCheckout, CheckWhen, Config, WhenExhausted};
use std::time::Duration;

fn config() -> Config {
    Config {
        max_size: Some(2),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(2)),
        },
        check_on_checkout: CheckOnCheckout {
            when: CheckWhen::Always,
            how: CheckHow::Peek,
        },
        connect_timeout: Some(Duration::from_secs(2)),
        ..Config::bare()
    }
}

#[tokio::test]
async fn real_tcp_round_trip_and_peek_after_server_kill() -> Result<(), Box<dyn std::error::Error>>
{
    let server = FakeRedis::new(ServerConfig {
        requirepass: Some("pw".into()),
        ..ServerConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let s = server.clone();
    let serving = tokio::spawn(async move { s.serve_tokio(listener).await });

    let pool = Pool::new(
        TokioRedisManager::new("127.0.0.1", port).password("pw"),
        config(),
    )?;
    {
        let mut c = pool.get().await?;
        c.set("k", "v").await?;
        assert_eq!(c.get("k").await?.as_deref(), Some(&b"v"[..]));
    }
    server.kill_all_clients();
    // Let the FIN arrive and the runtime observe it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = pool.get().await?;
    assert_eq!(c.get("k").await?.as_deref(), Some(&b"v"[..]));
    drop(c);
    let st = pool.stats();
    assert_eq!(st.checks_failed, 1, "{st:?}");
    assert_eq!(st.connects_started, 2, "{st:?}");
    pool.close();
    server.shutdown();
    serving.await??;
    Ok(())
}
