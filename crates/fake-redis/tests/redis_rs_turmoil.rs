//! redis-rs (MultiplexedConnection) against the fake over turmoil: the connect sequence
//! (including the CLIENT SETINFO pipeline) and RESP3 work.

use std::time::Duration;

use fake_redis::{FakeRedis, ServerConfig};

fn sim(server: &FakeRedis) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(1)
        .simulation_duration(Duration::from_secs(30))
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

async fn connect(
    info: redis::RedisConnectionInfo,
) -> Result<redis::aio::MultiplexedConnection, Box<dyn std::error::Error>> {
    let s = turmoil::net::TcpStream::connect(("redis", 6379)).await?;
    let (conn, driver) = redis::aio::MultiplexedConnection::new_with_config(
        &info,
        s,
        redis::AsyncConnectionConfig::new(),
    )
    .await?;
    tokio::spawn(driver);
    Ok(conn)
}

#[test]
fn redis_rs_connects_with_setinfo_and_password() {
    let server = FakeRedis::new(ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    });
    let mut sim = sim(&server);
    sim.client("app", async {
        let info = redis::RedisConnectionInfo::default().set_password("s3cret");
        let mut conn = connect(info).await?;
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(42)
            .query_async(&mut conn)
            .await?;
        let v: i64 = redis::cmd("INCR").arg("k").query_async(&mut conn).await?;
        assert_eq!(v, 43);
        let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
        assert_eq!(pong, "PONG");
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await?;
        assert!(list.contains("cmd=client|list"), "{list}");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn redis_rs_speaks_resp3() {
    let server = FakeRedis::new(ServerConfig::default());
    let mut sim = sim(&server);
    sim.client("app", async {
        let info = redis::RedisConnectionInfo::default()
            .set_protocol(redis::ProtocolVersion::RESP3)
            .set_skip_set_lib_name();
        let mut conn = connect(info).await?;
        let none: Option<String> = redis::cmd("GET")
            .arg("missing")
            .query_async(&mut conn)
            .await?;
        assert_eq!(none, None);
        let cfg: std::collections::BTreeMap<String, String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxclients")
            .query_async(&mut conn)
            .await?;
        assert_eq!(cfg.get("maxclients").map(String::as_str), Some("10000"));
        Ok(())
    });
    sim.run().unwrap();
}
