//! Differential rows for the fake Sentinel (`fake_redis::Sentinel`) against a real Sentinel
//! (`redis-server --sentinel`, Redis 7.0), both monitoring the same real master with quorum 1,
//! `down-after-milliseconds 5000` and `failover-timeout 60000`, no replicas.
//!
//! Each row sends its commands on a fresh connection to each (the real one over TCP, the fake
//! through its pure engine: `accept`, `handle_read`, `take_output`) and compares the replies
//! (byte for byte unless the row says otherwise), then a trailing `PING`. Only what does not
//! depend on time or on the real Sentinel's conversation with the master is compared exactly:
//! instance replies (`SENTINEL MASTER`, `MASTERS`) compare their field names in order and the
//! values of [`STABLE_FIELDS`]. The failover itself is not compared here (it takes the real
//! Sentinel at least `down-after-milliseconds`, and the fake's timing is pinned by the unit
//! tests in `crates/fake-redis/src/sentinel/tests.rs`); docs/differential.md says so.
//!
//! Env: `POOLSIM_SKIP_REDIS_DIFF=1` skips (printed) when redis-server is missing.

use std::time::Duration;

use fake_redis::sentinel::{Addr, MonitorConfig, Sentinel, SentinelConfig};
use poolsim_tests::diff::{Cmp, compare_reply};
use poolsim_tests::resp::{self, Value};
use poolsim_tests::servers::{RealRedis, RealSentinel, SENTINEL_MASTER_NAME, require_redis_server};
use poolsim_tests::wire::{End, Wire, encode, show};

/// Instance fields whose values are the same on both (configuration and state, not times,
/// run ids or the link's pending commands).
const STABLE_FIELDS: &[&str] = &[
    "name",
    "ip",
    "port",
    "flags",
    "link-refcount",
    "down-after-milliseconds",
    "role-reported",
    "config-epoch",
    "num-slaves",
    "num-other-sentinels",
    "quorum",
    "failover-timeout",
    "parallel-syncs",
];

/// How a row's replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum How {
    /// With the differential harness's comparison.
    Diff(Cmp),
    /// `SENTINEL MASTER` (or an array of them, `MASTERS`): field names in order, the values
    /// of [`STABLE_FIELDS`].
    Instances,
}

/// The rows: (name, commands one per line, comparison).
fn rows() -> Vec<(&'static str, &'static str, How)> {
    use How::*;
    let exact = Diff(Cmp::Exact);
    vec![
        ("ping", "PING\nPING hi", exact),
        (
            "get_master_addr_by_name",
            "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster",
            exact,
        ),
        (
            "get_master_addr_unknown_is_null_array",
            "SENTINEL get-master-addr-by-name nosuch",
            exact,
        ),
        (
            "unknown_master_errors",
            "SENTINEL MASTER nosuch\nSENTINEL REPLICAS nosuch\nSENTINEL SLAVES nosuch\nSENTINEL SENTINELS nosuch\nSENTINEL FAILOVER nosuch",
            exact,
        ),
        (
            "replicas_slaves_sentinels_empty",
            "SENTINEL REPLICAS mymaster\nSENTINEL SLAVES mymaster\nSENTINEL SENTINELS mymaster",
            exact,
        ),
        (
            "failover_without_replica",
            "SENTINEL FAILOVER mymaster",
            exact,
        ),
        (
            "arity_and_unknown",
            "SENTINEL MASTERS x\nSENTINEL MASTER\nSENTINEL\nSENTINEL NOPE\nGET k\nSENTINEL GET-MASTER-ADDR-BY-NAME",
            exact,
        ),
        ("role", "ROLE", exact),
        ("quit_is_unknown_in_sentinel_7_0", "QUIT", exact),
        (
            "client_setname_getname_id_type",
            "CLIENT SETNAME s1\nCLIENT GETNAME",
            exact,
        ),
        ("subscribe_switch_master", "SUBSCRIBE +switch-master", exact),
        ("psubscribe_all_events", "PSUBSCRIBE *", exact),
        ("master", "SENTINEL MASTER mymaster", Instances),
        ("masters", "SENTINEL MASTERS", Instances),
        ("myid", "SENTINEL MYID", Diff(Cmp::Shape)),
        (
            "info_sentinel",
            "INFO sentinel",
            Diff(Cmp::InfoValues(&[
                "sentinel_masters",
                "sentinel_tilt",
                "sentinel_tilt_since_seconds",
                "sentinel_running_scripts",
                "sentinel_scripts_queue_length",
                "master0",
            ])),
        ),
        ("hello3", "HELLO 3", Diff(Cmp::Shape)),
    ]
}

fn request(cmds: &str) -> (Vec<u8>, usize) {
    let lines: Vec<&str> = cmds.lines().filter(|l| !l.trim().is_empty()).collect();
    let bytes = lines
        .iter()
        .flat_map(|l| encode(&l.split_whitespace().collect::<Vec<_>>()))
        .collect();
    (bytes, lines.len())
}

/// The replies of the real Sentinel, then its answer to a trailing PING.
async fn real_replies(addr: std::net::SocketAddr, req: &[u8], n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut w = Wire::connect(addr)
        .await
        .expect("connect to the real Sentinel");
    w.send(req).await.expect("send");
    let (replies, end) = w.read_replies(n, Duration::from_secs(3)).await;
    assert_eq!(end, End::Complete, "real Sentinel: {replies:?}");
    w.send(&encode(&["PING"])).await.expect("send");
    let (mut ping, _) = w.read_replies(1, Duration::from_secs(3)).await;
    (replies, ping.pop().unwrap_or_default())
}

/// The same through the fake Sentinel's engine.
fn fake_replies(s: &mut Sentinel, req: &[u8], n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let now = s.now();
    let c = s.accept(now);
    s.handle_read(now, c, req);
    let mut out = Vec::new();
    let _ = s.take_output(c, &mut out);
    let mut replies = Vec::new();
    let mut at = 0;
    while let Ok(Some(len)) = resp::frame_len(&out[at..]) {
        replies.push(out[at..at + len].to_vec());
        at += len;
    }
    assert_eq!(replies.len(), n, "fake Sentinel: {}", show(&out));
    s.handle_read(now, c, &encode(&["PING"]));
    let _ = s.take_output(c, &mut out);
    s.handle_closed(now, c);
    (replies, out)
}

/// Name/value pairs of an instance reply (flat array or map), in order.
fn fields(v: &Value) -> Result<Vec<(String, String)>, String> {
    let text = |x: &Value| {
        x.text()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .ok_or_else(|| format!("not a string: {x:?}"))
    };
    match v {
        Value::Array(Some(items)) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|c| Ok((text(&c[0])?, text(&c[1])?)))
            .collect(),
        Value::Map(m) => m.iter().map(|(k, x)| Ok((text(k)?, text(x)?))).collect(),
        other => Err(format!("not an instance: {other:?}")),
    }
}

fn same_instance(r: &Value, f: &Value) -> Result<(), String> {
    let (rf, ff) = (fields(r)?, fields(f)?);
    let names = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    if names(&rf) != names(&ff) {
        return Err(format!("fields {:?} vs {:?}", names(&rf), names(&ff)));
    }
    for ((k, a), (_, b)) in rf.iter().zip(&ff) {
        if STABLE_FIELDS.contains(&k.as_str()) && a != b {
            return Err(format!("{k}: real {a:?}, fake {b:?}"));
        }
    }
    Ok(())
}

fn compare(how: How, real: &[u8], fake: &[u8]) -> Result<(), String> {
    match how {
        How::Diff(cmp) => compare_reply(cmp, real, fake),
        How::Instances => {
            let (r, f) = (
                resp::parse(real).map_err(|e| e.to_string())?,
                resp::parse(fake).map_err(|e| e.to_string())?,
            );
            match (&r, &f) {
                (Value::Array(Some(a)), Value::Array(Some(b)))
                    if a.first().is_some_and(|x| matches!(x, Value::Array(_))) =>
                {
                    if a.len() != b.len() {
                        return Err(format!("{} vs {} instances", a.len(), b.len()));
                    }
                    a.iter().zip(b).try_for_each(|(x, y)| same_instance(x, y))
                }
                _ => same_instance(&r, &f),
            }
        }
    }
}

/// Waits until the real Sentinel has reached the master (flags `master`, an INFO seen), so its
/// state is the steady one the rows compare.
async fn wait_connected(addr: std::net::SocketAddr) {
    for _ in 0..100 {
        let mut w = Wire::connect(addr).await.expect("connect");
        let v = w.cmd(&["SENTINEL", "MASTER", SENTINEL_MASTER_NAME]).await;
        if let Ok(f) = fields(&v) {
            let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("flags").as_deref() == Some("master")
                && get("runid").is_some_and(|r| !r.is_empty())
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the real Sentinel did not reach its master within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_sentinel_matches_real_sentinel_replies() {
    if !require_redis_server("fake_sentinel_matches_real_sentinel_replies") {
        return;
    }
    let master = tokio::task::spawn_blocking(|| RealRedis::start(&[]))
        .await
        .expect("join")
        .expect("start the master");
    let port = master.addr().port();
    let real = tokio::task::spawn_blocking(move || RealSentinel::start(port))
        .await
        .expect("join")
        .expect("start redis-server --sentinel");
    wait_connected(real.addr()).await;
    let mut cfg = MonitorConfig::new(SENTINEL_MASTER_NAME, Addr::new("127.0.0.1", port), vec![]);
    cfg.down_after_ms = 5000;
    cfg.failover_timeout_ms = 60_000;
    let mut fake = Sentinel::new(SentinelConfig {
        masters: vec![cfg],
        ..SentinelConfig::default()
    });
    let mut failures = Vec::new();
    let rows = rows();
    for (name, cmds, how) in &rows {
        let (req, n) = request(cmds);
        let (r, rp) = real_replies(real.addr(), &req, n).await;
        let (f, fp) = fake_replies(&mut fake, &req, n);
        let mut problems = Vec::new();
        for (i, (a, b)) in r.iter().zip(&f).enumerate() {
            if let Err(e) = compare(*how, a, b) {
                problems.push(format!(
                    "reply {}: {e}\n      real: {}\n      fake: {}",
                    i + 1,
                    show(a),
                    show(b)
                ));
            }
        }
        if rp != fp {
            problems.push(format!(
                "trailing PING: real {}, fake {}",
                show(&rp),
                show(&fp)
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("row {name}:\n    {}", problems.join("\n    ")));
        }
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "sentinel differential: {} rows, {} fail",
        rows.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn instance_comparison_catches_a_changed_stable_value_or_field_order() {
    let inst = |quorum: &str, swap: bool| {
        let mut f = vec![("name", "mymaster"), ("quorum", quorum), ("runid", "abc")];
        if swap {
            f.swap(0, 1);
        }
        let mut out = format!("*{}\r\n", f.len() * 2);
        for (k, v) in f {
            out.push_str(&format!("${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()));
        }
        out.into_bytes()
    };
    let real = inst("1", false);
    assert!(compare(How::Instances, &real, &inst("1", false)).is_ok());
    assert!(compare(How::Instances, &real, &inst("2", false)).is_err());
    assert!(compare(How::Instances, &real, &inst("1", true)).is_err());
}
