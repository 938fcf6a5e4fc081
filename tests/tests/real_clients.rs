//! Real clients over real TCP (tokio loopback) against the fake: redis-rs 1.8 (multiplexed
//! async connection) and mini-redis 0.4.1's client. Each test starts its own fake on a free
//! port; nothing here needs `redis-server`.

use std::time::Duration;

use fake_redis::ServerConfig;
use poolsim_tests::servers::FakeServer;
use poolsim_tests::wire::Wire;
use redis::AsyncCommands;

const PASSWORD: &str = "s3cret";

async fn fake(config: ServerConfig) -> FakeServer {
    FakeServer::start(config).await.expect("start the fake")
}

fn url(server: &FakeServer, userinfo: &str, db: u32) -> String {
    let addr = server.addr();
    format!("redis://{userinfo}{}:{}/{db}", addr.ip(), addr.port())
}

async fn connect(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

#[tokio::test]
async fn redis_rs_runs_everyday_commands_against_the_fake() {
    let server = fake(ServerConfig::default()).await;
    let mut conn = connect(&url(&server, "", 0)).await.expect("connect");

    let () = conn.set("greeting", "hello").await.unwrap();
    let got: Option<String> = conn.get("greeting").await.unwrap();
    assert_eq!(got.as_deref(), Some("hello"));
    let missing: Option<String> = conn.get("missing").await.unwrap();
    assert_eq!(missing, None);

    assert_eq!(conn.incr::<_, _, i64>("counter", 1).await.unwrap(), 1);
    assert_eq!(conn.incr::<_, _, i64>("counter", 1).await.unwrap(), 2);
    let err = conn.incr::<_, _, i64>("greeting", 1).await.unwrap_err();
    assert!(
        err.to_string().contains("not an integer"),
        "INCR on text: {err}"
    );

    assert!(conn.expire::<_, bool>("greeting", 100).await.unwrap());
    let ttl: i64 = conn.ttl("greeting").await.unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(conn.ttl::<_, i64>("counter").await.unwrap(), -1);
    assert_eq!(conn.ttl::<_, i64>("missing").await.unwrap(), -2);

    let () = conn.mset(&[("a", "1"), ("b", "2")]).await.expect("MSET");
    let values: Vec<Option<String>> = conn.mget(&["a", "b", "c"]).await.unwrap();
    assert_eq!(
        values,
        vec![Some("1".to_string()), Some("2".to_string()), None]
    );

    let (set, incr, got): (String, i64, String) = redis::pipe()
        .set("p", "10")
        .incr("p", 5)
        .get("p")
        .query_async(&mut conn)
        .await
        .expect("pipeline");
    assert_eq!((set.as_str(), incr, got.as_str()), ("OK", 15, "15"));

    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("poolsim-test")
        .query_async(&mut conn)
        .await
        .unwrap();
    let name: Option<String> = redis::cmd("CLIENT")
        .arg("GETNAME")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("poolsim-test"));
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(list.contains("name=poolsim-test"), "CLIENT LIST: {list}");

    assert_eq!(conn.del::<_, i64>(&["a", "b", "c"]).await.unwrap(), 2);
    assert_eq!(conn.exists::<_, i64>("a").await.unwrap(), 0);
}

#[tokio::test]
async fn redis_rs_authenticates_from_the_url_and_selects_the_db() {
    let server = fake(ServerConfig {
        requirepass: Some(PASSWORD.into()),
        ..ServerConfig::default()
    })
    .await;
    let mut conn = connect(&url(&server, ":s3cret@", 2))
        .await
        .expect("connect with password and db 2");
    let () = conn.set("k", "in-db-2").await.unwrap();

    // Check with raw bytes that the key landed in db 2, not db 0.
    let mut raw = Wire::connect(server.addr()).await.unwrap();
    assert_eq!(raw.cmd(&["AUTH", PASSWORD]).await.text(), Some(&b"OK"[..]));
    assert_eq!(
        raw.cmd(&["GET", "k"]).await,
        poolsim_tests::resp::Value::Bulk(None)
    );
    raw.cmd(&["SELECT", "2"]).await;
    assert_eq!(raw.cmd(&["GET", "k"]).await.text(), Some(&b"in-db-2"[..]));

    // Wrong password: the connection setup fails (the fake answers WRONGPASS).
    let Err(err) = connect(&url(&server, ":nope@", 0)).await else {
        panic!("wrong password must fail");
    };
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");

    // No password: commands fail with NOAUTH.
    let mut anon = connect(&url(&server, "", 0)).await.expect("connect");
    let err = anon.get::<_, Option<String>>("k").await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
}

#[tokio::test]
async fn redis_rs_sees_the_idle_timeout_as_a_dropped_connection() {
    let server = fake(ServerConfig {
        timeout_secs: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut conn = connect(&url(&server, "", 0)).await.expect("connect");
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(server.fake().connected_clients(), 1);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        server.fake().connected_clients(),
        0,
        "the fake closed the idle client"
    );
    let err = redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap_err();
    assert!(
        err.is_connection_dropped() || err.is_io_error(),
        "expected a dropped connection, got {err:?}"
    );
}

#[tokio::test]
async fn redis_rs_sees_maxclients_refusal_as_an_error() {
    let server = fake(ServerConfig {
        maxclients: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut first = connect(&url(&server, "", 0)).await.expect("first connect");
    let pong: String = redis::cmd("PING").query_async(&mut first).await.unwrap();
    assert_eq!(pong, "PONG");

    // The refused connection reads `-ERR max number of clients reached` then EOF: redis-rs
    // reports it either while connecting or on the first command.
    let outcome = match connect(&url(&server, "", 0)).await {
        Err(e) => Err(e),
        Ok(mut second) => redis::cmd("PING").query_async::<String>(&mut second).await,
    };
    let err = outcome.expect_err("the second client must be refused");
    assert!(
        err.to_string().contains("max number of clients reached")
            || err.is_connection_dropped()
            || err.is_io_error(),
        "unexpected error {err:?}"
    );
    assert_eq!(server.fake().stats().rejected_connections, 1);

    // The admitted client is unaffected.
    let pong: String = redis::cmd("PING").query_async(&mut first).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn mini_redis_client_gets_sets_and_publishes_to_a_subscriber() {
    let server = fake(ServerConfig::default()).await;
    let mut client = mini_redis::client::connect(server.addr())
        .await
        .expect("mini-redis connect");
    client.set("hello", "world".into()).await.unwrap();
    assert_eq!(
        client.get("hello").await.unwrap().as_deref(),
        Some(&b"world"[..])
    );
    assert_eq!(client.get("missing").await.unwrap(), None);
    // mini-redis's `set_expires` sends the PX value as a RESP integer (`:60000`), which real
    // Redis rejects as a protocol error (`expected '$', got ':'`, the differential case
    // proto_integer_argument_as_mini_redis_sends) and so does the fake; not used here.

    let subscriber_conn = mini_redis::client::connect(server.addr()).await.unwrap();
    let mut subscriber = subscriber_conn
        .subscribe(vec!["news".to_string()])
        .await
        .expect("subscribe");
    assert_eq!(client.publish("news", "first".into()).await.unwrap(), 1);
    let message = tokio::time::timeout(Duration::from_secs(5), subscriber.next_message())
        .await
        .expect("message within 5 s")
        .unwrap()
        .expect("a message");
    assert_eq!(message.channel, "news");
    assert_eq!(&message.content[..], b"first");
    assert_eq!(client.publish("nobody", "x".into()).await.unwrap(), 0);
}

#[tokio::test]
async fn redis_rs_speaks_resp3_with_hello_auth_like_modern_clients() {
    let server = fake(ServerConfig {
        requirepass: Some(PASSWORD.into()),
        ..ServerConfig::default()
    })
    .await;
    // `protocol=resp3`: redis-rs opens with `HELLO 3 AUTH default s3cret` (as redis-py 8 does)
    // and reads maps, nulls and verbatim strings from then on.
    let url = format!("{}?protocol=resp3", url(&server, ":s3cret@", 1));
    let mut conn = connect(&url).await.expect("connect with RESP3");
    let () = conn.set("k", "v").await.unwrap();
    assert_eq!(
        conn.get::<_, Option<String>>("k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(
        conn.get::<_, Option<String>>("missing").await.unwrap(),
        None
    );
    let config: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(config.get("maxclients").map(String::as_str), Some("10000"));
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(info.contains("connected_clients:1"), "INFO clients: {info}");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        list.contains(" db=1 ") && list.contains(" resp=3"),
        "CLIENT LIST: {list}"
    );
}
