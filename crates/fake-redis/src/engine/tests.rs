//! Engine scenario tests: time is whatever the test says it is.
use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Harness {
    e: Engine,
    now: Duration,
    closed: Vec<(ClientId, CloseReason)>,
    woken: Vec<ClientId>,
}

impl Harness {
    fn new(config: ServerConfig) -> Self {
        Self {
            e: Engine::new(config),
            now: Duration::ZERO,
            closed: Vec::new(),
            woken: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Close { client, reason, .. } => self.closed.push((client, reason)),
                Output::Wake { client } => self.woken.push(client),
            }
        }
    }

    fn connect(&mut self) -> ClientId {
        let port = 40000 + self.e.stats().total_connections_received as u16;
        match self.e.accept(self.now, addr(port), addr(6379)) {
            Admission::Accepted(id) => id,
            other => panic!("not accepted: {other:?}"),
        }
    }

    /// Send bytes, return (reply text, drain state).
    fn send_raw(&mut self, id: ClientId, bytes: &[u8]) -> (String, Drain) {
        let _ = self.e.handle_read(self.now, id, bytes);
        self.drain();
        let mut out = Vec::new();
        let d = self.e.take_output(id, &mut out);
        if !out.is_empty() {
            self.e.handle_wrote(self.now, id, out.len());
        }
        (String::from_utf8_lossy(&out).into_owned(), d)
    }

    fn send(&mut self, id: ClientId, line: &str) -> String {
        let (s, d) = self.send_raw(id, format!("{line}\r\n").as_bytes());
        assert_eq!(d, Drain::Open, "after {line:?}: {s:?}");
        s
    }

    fn output(&mut self, id: ClientId) -> String {
        let mut out = Vec::new();
        let _ = self.e.take_output(id, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Advance to `t`, firing every timer on the way as the shell would.
    fn run_until(&mut self, t: Duration) {
        while let Some(at) = self.e.poll_timeout() {
            if at > t {
                break;
            }
            self.now = self.now.max(at);
            self.e.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn idle_exactly_timeout_stays_and_closes_within_one_cron_after_timeout_plus_one() {
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 5,
        ..ServerConfig::default()
    });
    let id = h.connect();
    h.run_until(secs(5.999));
    assert!(
        h.e.is_connected(id),
        "idle 5.999 s (whole seconds: 5) must stay"
    );
    h.run_until(secs(6.0));
    assert!(!h.e.is_connected(id), "closed on the first cron at N+1");
    assert_eq!(h.closed, vec![(id, CloseReason::IdleTimeout)]);
    assert_eq!(h.e.stats().timed_out_clients, 1);
}

#[test]
fn an_empty_write_is_not_activity_and_bytes_are_counted_both_ways() {
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 5,
        ..ServerConfig::default()
    });
    let id = h.connect();
    assert_eq!(h.send(id, "PING"), "+PONG\r\n");
    // "PING\r\n" in, "+PONG\r\n" out.
    assert_eq!(h.e.stats().total_net_input_bytes, 6);
    assert_eq!(h.e.stats().total_net_output_bytes, 7);
    h.now = secs(4.0);
    h.e.handle_wrote(h.now, id, 0);
    h.run_until(secs(6.0));
    assert_eq!(
        h.closed,
        vec![(id, CloseReason::IdleTimeout)],
        "idle since 0 s: a write of 0 bytes at 4 s does not count"
    );
}

#[test]
fn activity_resets_idle_time_including_partial_commands_and_writes() {
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 2,
        ..ServerConfig::default()
    });
    let id = h.connect();
    h.run_until(secs(2.5));
    let (_, _) = h.send_raw(id, b"PI"); // a partial command is activity
    h.run_until(secs(4.9));
    assert!(h.e.is_connected(id));
    h.run_until(secs(5.1));
    assert!(!h.e.is_connected(id));
}

#[test]
fn config_set_timeout_applies_to_clients_already_idle() {
    let mut h = Harness::new(ServerConfig::default());
    let idle = h.connect();
    let admin = h.connect();
    h.run_until(secs(100.0));
    assert!(h.e.is_connected(idle));
    assert_eq!(h.send(admin, "CONFIG SET timeout 10"), "+OK\r\n");
    h.run_until(secs(100.2));
    assert!(!h.e.is_connected(idle));
    assert!(h.e.is_connected(admin));
}

#[test]
fn cron_rotation_reaches_every_client_within_about_a_second() {
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 1,
        ..ServerConfig::default()
    });
    let ids: Vec<_> = (0..200).map(|_| h.connect()).collect();
    h.run_until(secs(1.99));
    assert_eq!(h.e.connected_clients(), 200);
    // 200 clients at hz 10: numclients/hz = 20 visits per cron call (at least 5), so closing
    // is spread over cron calls, as in Redis; as clients go, each call visits fewer.
    h.run_until(secs(2.05));
    let left = h.e.connected_clients();
    assert_eq!(left, 180, "the first cron call at 2.0 s visits 20 clients");
    h.run_until(secs(5.0));
    assert_eq!(h.e.connected_clients(), 0);
    assert_eq!(h.closed.len(), ids.len());
}

#[test]
fn cron_rotation_starts_after_the_last_client_it_visited() {
    // 20 clients at hz 10: each cron call visits max(20 / 10, 5) = 5 clients, starting after
    // the last one it visited, so a full rotation takes 4 calls (400 ms). Clients 1..=19 stay
    // active; client 20 goes idle at 0 and is eligible from 2.0 s (idle > timeout 1 in whole
    // seconds). The rotation reaches it at the 4th call of each cycle: 2.3 s. A rotation that
    // started at the last visited client again (advancing 4 a call) would reach it later.
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 1,
        ..ServerConfig::default()
    });
    let ids: Vec<_> = (0..20).map(|_| h.connect()).collect();
    let idle = ids[19];
    let mut closed_at = None;
    for step in 1..=40u32 {
        let t = Duration::from_millis(u64::from(step) * 100) - Duration::from_millis(50);
        h.now = t;
        for &id in &ids[..19] {
            let _ = h.send(id, "PING");
        }
        h.run_until(Duration::from_millis(u64::from(step) * 100));
        if closed_at.is_none() && !h.e.is_connected(idle) {
            closed_at = Some(h.now);
        }
    }
    assert_eq!(
        closed_at,
        Some(secs(2.3)),
        "the idle client closed at the wrong cron call"
    );
    assert_eq!(h.e.connected_clients(), 19, "the active clients stay");
}

#[test]
fn subscribed_and_blocked_clients_are_exempt_from_timeout() {
    let mut h = Harness::new(ServerConfig {
        timeout_secs: 1,
        ..ServerConfig::default()
    });
    let sub = h.connect();
    let blocked = h.connect();
    let plain = h.connect();
    assert_eq!(
        h.send(sub, "SUBSCRIBE ch"),
        "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    );
    assert_eq!(h.send(blocked, "BLPOP q 0"), "");
    h.run_until(secs(10.0));
    assert!(h.e.is_connected(sub));
    assert!(h.e.is_connected(blocked));
    assert!(!h.e.is_connected(plain));
    // Once no longer subscribed, the timeout applies again.
    h.send(sub, "UNSUBSCRIBE");
    h.run_until(secs(12.5));
    assert!(!h.e.is_connected(sub));
    assert!(h.e.is_connected(blocked));
}

#[test]
fn maxclients_boundary_rejects_without_counting_and_lowering_never_disconnects() {
    let mut h = Harness::new(ServerConfig {
        maxclients: 3,
        ..ServerConfig::default()
    });
    let a = h.connect();
    h.connect();
    h.connect();
    assert_eq!(h.e.accept(h.now, addr(1), addr(6379)), Admission::Rejected);
    assert_eq!(h.e.stats().rejected_connections, 1);
    assert_eq!(h.e.stats().total_connections_received, 3);
    assert_eq!(h.send(a, "CONFIG SET maxclients 1"), "+OK\r\n");
    h.run_until(secs(5.0));
    assert_eq!(h.e.connected_clients(), 3);
    assert_eq!(MAXCLIENTS_REPLY, b"-ERR max number of clients reached\r\n");
}

#[test]
fn auth_flow_follows_redis() {
    let mut h = Harness::new(ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    });
    let c = h.connect();
    assert_eq!(h.send(c, "GET k"), "-NOAUTH Authentication required.\r\n");
    // existence and arity are checked before authentication
    assert_eq!(
        h.send(c, "FOO a b"),
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(
        h.send(c, "GET"),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        h.send(c, "AUTH nope"),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        h.send(c, "AUTH other s3cret"),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(h.send(c, "AUTH s3cret"), "+OK\r\n");
    assert_eq!(h.send(c, "PING"), "+PONG\r\n");
    // RESET de-authenticates
    assert_eq!(h.send(c, "RESET"), "+RESET\r\n");
    assert_eq!(h.send(c, "PING"), "-NOAUTH Authentication required.\r\n");
    // HELLO with AUTH authenticates and switches protocol
    let hello = h.send(c, "HELLO 3 AUTH default s3cret SETNAME app");
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{hello}"
    );
    assert_eq!(h.send(c, "CLIENT GETNAME"), "$3\r\napp\r\n");
    assert_eq!(h.send(c, "GET missing"), "_\r\n");
    let d = h.connect();
    assert!(
        h.send(d, "HELLO 3")
            .starts_with("-NOAUTH HELLO must be called")
    );
    assert_eq!(
        h.send(d, "HELLO 4"),
        "-NOPROTO unsupported protocol version\r\n"
    );
    let stats = h.e.stats();
    assert!(stats.total_error_replies >= 7);
}

#[test]
fn auth_without_password_configured_is_an_error() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(
        h.send(c, "AUTH x"),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(h.send(c, "AUTH default anything"), "+OK\r\n");
}

#[test]
fn unauthenticated_clients_get_the_stricter_protocol_limits() {
    let mut h = Harness::new(ServerConfig {
        requirepass: Some("pw".into()),
        ..ServerConfig::default()
    });
    let c = h.connect();
    let (s, d) = h.send_raw(c, b"PING\r\n*11\r\n");
    assert_eq!(
        s,
        "-NOAUTH Authentication required.\r\n-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert_eq!(d, Drain::CloseAfterWrite(CloseReason::ProtocolError));
    assert!(!h.e.is_connected(c));
}

#[test]
fn protocol_error_answers_earlier_commands_then_errors_then_closes() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let (s, d) = h.send_raw(c, b"SET a 1\r\nGET a\r\n*1\r\nx\r\nPING\r\n");
    assert_eq!(
        s,
        "+OK\r\n$1\r\n1\r\n-ERR Protocol error: expected '$', got 'x'\r\n"
    );
    assert_eq!(d, Drain::CloseAfterWrite(CloseReason::ProtocolError));
    assert_eq!(h.e.connected_clients(), 0);
}

#[test]
fn quit_replies_ok_then_closes_and_ignores_later_commands() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let (s, d) = h.send_raw(c, b"QUIT\r\nPING\r\n");
    assert_eq!(s, "+OK\r\n");
    assert_eq!(d, Drain::CloseAfterWrite(CloseReason::Quit));
}

#[test]
fn error_texts_match_redis_7_0() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(
        h.send(c, "CONFIG FOO"),
        "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"
    );
    assert_eq!(
        h.send(c, "CONFIG"),
        "-ERR wrong number of arguments for 'config' command\r\n"
    );
    assert_eq!(
        h.send(c, "CONFIG SET timeout"),
        "-ERR wrong number of arguments for 'config|set' command\r\n"
    );
    assert_eq!(
        h.send(c, "CONFIG SET timeout 1 hz"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        h.send(c, "CLIENT SETNAME \"a b\""),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(h.send(c, "SELECT 16"), "-ERR DB index is out of range\r\n");
    assert_eq!(
        h.send(c, "SELECT x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        h.send(c, "SET k v EX 0"),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(h.send(c, "SET k v NX XX"), "-ERR syntax error\r\n");
    assert_eq!(h.send(c, "SET n 9223372036854775807"), "+OK\r\n");
    assert_eq!(
        h.send(c, "INCR n"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(h.send(c, "LPUSH l a"), ":1\r\n");
    assert_eq!(
        h.send(c, "GET l"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        h.send(c, "PING a b"),
        "-ERR wrong number of arguments for 'ping' command\r\n"
    );
    let long = "x".repeat(200);
    let r = h.send(c, &format!("NOPE {long} y"));
    assert_eq!(
        r,
        format!(
            "-ERR unknown command 'NOPE', with args beginning with: '{}' \r\n",
            "x".repeat(128)
        )
    );
    assert_eq!(
        h.send(c, "CLIENT KILL 1.2.3.4:5"),
        "-ERR No such client\r\n"
    );
}

#[test]
fn strings_counters_and_expiry_follow_the_callers_clock() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v PX 1500"), "+OK\r\n");
    assert_eq!(h.send(c, "PTTL k"), ":1500\r\n");
    assert_eq!(h.send(c, "TTL k"), ":2\r\n");
    assert_eq!(h.send(c, "SET k v2 KEEPTTL GET"), "$1\r\nv\r\n");
    assert_eq!(h.send(c, "TTL k"), ":2\r\n");
    assert_eq!(h.send(c, "SET k x NX"), "$-1\r\n");
    assert_eq!(h.send(c, "SET other x XX"), "$-1\r\n");
    assert_eq!(h.send(c, "DBSIZE"), ":1\r\n");
    h.now = secs(1.4);
    assert_eq!(h.send(c, "GET k"), "$2\r\nv2\r\n");
    h.run_until(secs(1.6));
    // the cron expired it actively
    assert_eq!(h.e.stats().expired_keys, 1);
    assert_eq!(h.send(c, "DBSIZE"), ":0\r\n");
    assert_eq!(h.send(c, "TTL k"), ":-2\r\n");
    assert_eq!(h.send(c, "INCRBY n 5"), ":5\r\n");
    assert_eq!(h.send(c, "DECR n"), ":4\r\n");
    assert_eq!(h.send(c, "EXPIRE n 10"), ":1\r\n");
    assert_eq!(h.send(c, "EXPIRE n 20 NX"), ":0\r\n");
    assert_eq!(h.send(c, "TTL n"), ":10\r\n");
    assert_eq!(h.send(c, "MSET a 1 b 2"), "+OK\r\n");
    assert_eq!(
        h.send(c, "MGET a b zz"),
        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
    );
    assert_eq!(h.send(c, "EXISTS a a zz"), ":2\r\n");
    assert_eq!(h.send(c, "DEL a b zz"), ":2\r\n");
    assert_eq!(h.send(c, "SELECT 1"), "+OK\r\n");
    assert_eq!(h.send(c, "DBSIZE"), ":0\r\n");
    assert_eq!(h.send(c, "FLUSHALL"), "+OK\r\n");
    assert_eq!(h.send(c, "SELECT 0"), "+OK\r\n");
    assert_eq!(h.send(c, "DBSIZE"), ":0\r\n");
}

#[test]
fn an_expire_that_overflows_the_unix_time_is_invalid_even_on_a_fresh_server() {
    // Redis adds the expire time to the unix time in ms and refuses an overflow; the fake once
    // checked against its own clock (near 0 at start), accepted PEXPIRE k LLONG_MAX and then
    // overflowed computing the TTL (a panic in debug builds, seen in CI within 500 ms of the
    // server's start).
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v"), "+OK\r\n");
    assert_eq!(
        h.send(c, "PEXPIRE k 9223372036854775807"),
        "-ERR invalid expire time in 'pexpire' command\r\n"
    );
    assert_eq!(
        h.send(c, "EXPIRE k 9223372036854775807"),
        "-ERR invalid expire time in 'expire' command\r\n"
    );
    assert_eq!(h.send(c, "TTL k"), ":-1\r\n");
    // The largest valid one: LLONG_MAX minus the unix time now.
    let edge = i64::MAX - 1_700_000_000_000;
    assert_eq!(h.send(c, &format!("PEXPIRE k {edge}")), ":1\r\n");
    assert_eq!(h.send(c, "PTTL k"), format!(":{edge}\r\n"));
    assert_eq!(h.send(c, "TTL k"), format!(":{}\r\n", (edge + 500) / 1000));
}

#[test]
fn expire_option_errors_use_redis_7_texts_and_leave_the_ttl_alone() {
    // redis-server 7.0.15's texts (also compared byte for byte by the differential rows
    // expire_unsupported_option, expire_gt_and_lt_together, expire_time_overflow).
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v EX 50"), "+OK\r\n");
    assert_eq!(
        h.send(c, "EXPIRE k 100 FOO"),
        "-ERR Unsupported option FOO\r\n"
    );
    assert_eq!(
        h.send(c, "PEXPIRE k 100 nx bar"),
        "-ERR Unsupported option bar\r\n"
    );
    assert_eq!(
        h.send(c, "EXPIRE k 100 GT LT"),
        "-ERR GT and LT options at the same time are not compatible\r\n"
    );
    assert_eq!(
        h.send(c, "EXPIRE k 100 NX GT"),
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    );
    assert_eq!(
        h.send(c, "EXPIRE k 9223372036854775807"),
        "-ERR invalid expire time in 'expire' command\r\n"
    );
    // Milliseconds overflow only once added to a clock past 0.
    h.now = secs(1.0);
    assert_eq!(
        h.send(c, "PEXPIRE k 9223372036854775807"),
        "-ERR invalid expire time in 'pexpire' command\r\n"
    );
    assert_eq!(
        h.send(c, "TTL k"),
        ":49\r\n",
        "no failed EXPIRE changed the TTL"
    );
}

#[test]
fn config_getter_shows_what_config_set_changed() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.e.config().timeout_secs, 0);
    assert_eq!(h.send(c, "CONFIG SET timeout 7 maxclients 60"), "+OK\r\n");
    assert_eq!(h.e.config().timeout_secs, 7);
    assert_eq!(h.e.config().maxclients, 60);
    assert_eq!(h.send(c, "CONFIG SET requirepass pw"), "+OK\r\n");
    assert_eq!(h.e.config().requirepass.as_deref(), Some("pw"));
}

#[test]
fn getters_list_connected_clients_in_id_order_and_the_latest_time() {
    let mut h = Harness::new(ServerConfig::default());
    assert_eq!(h.e.client_ids().count(), 0);
    let a = h.connect();
    let b = h.connect();
    let c = h.connect();
    assert_eq!(h.e.client_ids().collect::<Vec<_>>(), vec![a, b, c]);
    h.now = secs(2.5);
    h.e.handle_closed(h.now, b);
    h.drain();
    assert_eq!(h.e.client_ids().collect::<Vec<_>>(), vec![a, c]);
    assert_eq!(h.e.now(), secs(2.5));
}

#[test]
fn timers_changed_is_reported_once_after_a_blocking_deadline_or_a_sleep() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert!(!h.e.take_timers_changed(), "nothing planned yet");
    assert_eq!(h.send(c, "GET k"), "$-1\r\n");
    assert!(!h.e.take_timers_changed(), "a plain command plans no timer");
    assert_eq!(h.send(c, "BLPOP l 0.5"), "", "blocked");
    assert!(
        h.e.take_timers_changed(),
        "a BLPOP deadline re-plans the timer"
    );
    assert!(!h.e.take_timers_changed(), "reported once");
    let d = h.connect();
    assert_eq!(h.send(d, "DEBUG SLEEP 0"), "+OK\r\n");
    assert!(h.e.take_timers_changed(), "DEBUG SLEEP re-plans the timer");
}

#[test]
fn info_server_time_is_the_configured_unix_start_plus_engine_time() {
    let mut h = Harness::new(ServerConfig {
        unix_time_at_start_ms: 1_700_000_000_000,
        ..ServerConfig::default()
    });
    let c = h.connect();
    h.now = secs(2.5);
    let info = h.send(c, "INFO server");
    assert!(
        info.contains("\r\nserver_time_usec:1700000002500000\r\n"),
        "{info}"
    );
}

#[test]
fn cron_keeps_its_period_after_a_late_tick_and_skips_ahead_after_a_long_gap() {
    let mut h = Harness::new(ServerConfig {
        hz: 10,
        ..ServerConfig::default()
    });
    assert_eq!(h.e.poll_timeout(), Some(Duration::ZERO));
    h.e.handle_timeout(Duration::ZERO);
    assert_eq!(h.e.poll_timeout(), Some(secs(0.1)));
    // 50 ms late: the next tick stays on the 100 ms grid.
    h.e.handle_timeout(secs(0.15));
    assert_eq!(h.e.poll_timeout(), Some(secs(0.2)));
    // Far behind: no burst of catch-up ticks, one period from now.
    h.e.handle_timeout(secs(5.0));
    assert_eq!(h.e.poll_timeout(), Some(secs(5.1)));
}

#[test]
fn kill_all_counts_killed_clients_and_restart_does_not() {
    let mut h = Harness::new(ServerConfig::default());
    let (a, b) = (h.connect(), h.connect());
    h.e.kill_all_clients(CloseReason::KillAll);
    h.drain();
    assert_eq!(
        h.closed,
        vec![(a, CloseReason::KillAll), (b, CloseReason::KillAll)]
    );
    assert_eq!(h.e.stats().killed_clients, 2);
    h.connect();
    h.e.kill_all_clients(CloseReason::Shutdown);
    assert_eq!(
        h.e.stats().killed_clients,
        2,
        "only the kill-all fault counts"
    );
}

#[test]
fn config_set_api_applies_valid_changes_and_returns_redis_errors() {
    let mut h = Harness::new(ServerConfig::default());
    assert_eq!(h.e.config_set("TIMEOUT", "7"), Ok(()));
    assert_eq!(h.e.config().timeout_secs, 7);
    assert_eq!(
        h.e.config_set("nosuch", "1"),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'".to_owned())
    );
    assert!(h.e.config_set("maxclients", "0").is_err());
    assert_eq!(h.e.config().maxclients, ServerConfig::default().maxclients);
}

#[test]
fn a_protocol_error_counts_as_an_error_reply() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let (reply, _) = h.send_raw(c, b"*abc\r\n");
    assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
    assert_eq!(h.e.stats().total_error_replies, 1);
}

#[test]
fn a_closed_pattern_subscriber_leaves_the_others_subscribed() {
    let mut h = Harness::new(ServerConfig::default());
    let (a, b, p) = (h.connect(), h.connect(), h.connect());
    h.send(a, "PSUBSCRIBE news.*");
    h.send(b, "PSUBSCRIBE news.*");
    h.e.handle_closed(h.now, a);
    h.drain();
    assert_eq!(h.send(p, "PUBLISH news.x hi"), ":1\r\n", "b still receives");
    assert!(h.output(b).contains("pmessage"), "b got the message");
}

#[test]
fn client_list_kill_and_names() {
    let mut h = Harness::new(ServerConfig::default());
    let a = h.connect();
    let b = h.connect();
    assert_eq!(h.send(a, "CLIENT SETNAME alpha"), "+OK\r\n");
    assert_eq!(h.send(a, "CLIENT ID"), format!(":{a}\r\n"));
    h.now = secs(3.0);
    let list = h.send(a, "CLIENT LIST");
    let body: Vec<&str> = list.split("\r\n").collect();
    let lines: Vec<&str> = body[1].split('\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with(&format!(
            "id={a} addr=127.0.0.1:40000 laddr=127.0.0.1:6379 fd=8 name=alpha age=3 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf="
        )),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(" cmd=client|list user=default redir=-1 resp=2"));
    assert!(lines[1].contains(" idle=3 ") && lines[1].contains(" cmd=NULL "));
    // filter form: count; old form: +OK
    assert_eq!(h.send(a, &format!("CLIENT KILL ID {b}")), ":1\r\n");
    assert_eq!(h.closed, vec![(b, CloseReason::Killed)]);
    let c = h.connect();
    assert_eq!(
        h.send(a, "CLIENT KILL ADDR 127.0.0.1:40002 SKIPME yes"),
        ":1\r\n"
    );
    assert!(!h.e.is_connected(c));
    let d = h.connect();
    assert_eq!(h.send(a, "CLIENT KILL 127.0.0.1:40003"), "+OK\r\n");
    assert!(!h.e.is_connected(d));
    // killing yourself: the reply, then the close
    let (s, dr) = h.send_raw(a, b"CLIENT KILL ID 1 SKIPME no\r\n");
    assert_eq!(
        (s.as_str(), dr),
        (":1\r\n", Drain::CloseAfterWrite(CloseReason::Killed))
    );
}

#[test]
fn blpop_is_served_by_push_or_times_out_on_the_callers_clock() {
    let mut h = Harness::new(ServerConfig::default());
    let waiter = h.connect();
    let pusher = h.connect();
    assert_eq!(h.send(waiter, "BLPOP q 0\r\nPING"), "");
    assert_eq!(h.send(pusher, "RPUSH q a b"), ":2\r\n");
    assert!(h.woken.contains(&waiter));
    // served, then the pipelined PING runs
    assert_eq!(h.output(waiter), "*2\r\n$1\r\nq\r\n$1\r\na\r\n+PONG\r\n");
    assert_eq!(h.send(pusher, "LLEN q"), ":1\r\n");
    assert_eq!(h.send(waiter, "BLPOP empty 1.5"), "");
    h.run_until(secs(1.49));
    assert_eq!(h.output(waiter), "");
    h.run_until(secs(1.5));
    assert_eq!(h.output(waiter), "*-1\r\n");
    assert_eq!(h.send(waiter, "BLPOP q -1"), "-ERR timeout is negative\r\n");
}

#[test]
fn publish_reaches_subscribers_and_restricts_resp2_subscribers() {
    let mut h = Harness::new(ServerConfig::default());
    let s = h.connect();
    let p = h.connect();
    h.send(s, "SUBSCRIBE news");
    assert_eq!(h.send(p, "PUBLISH news hi"), ":1\r\n");
    assert!(h.woken.contains(&s));
    assert_eq!(
        h.output(s),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
    assert_eq!(
        h.send(s, "GET x"),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(h.send(s, "PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    let list = h.send(p, "CLIENT LIST TYPE pubsub");
    assert!(list.contains("flags=P") && list.contains("sub=1"));
}

#[test]
fn info_has_redis_sections_and_fields() {
    let mut h = Harness::new(ServerConfig {
        maxclients: 77,
        ..ServerConfig::default()
    });
    let c = h.connect();
    h.send(c, "SET a 1 EX 100");
    let info = h.send(c, "INFO");
    assert!(info.contains("# Server\r\nredis_version:7.0.15\r\n"));
    assert!(info.contains("\r\n\r\n# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\nmaxclients:77\r\nclient_recent_max_input_buffer:"));
    assert!(
        info.contains("# Stats\r\ntotal_connections_received:1\r\ntotal_commands_processed:1\r\n")
    );
    assert!(info.contains("rejected_connections:0\r\n"));
    assert!(info.contains("# Keyspace\r\ndb0:keys=1,expires=1,avg_ttl=100000\r\n"));
    let clients = h.send(c, "INFO clients");
    assert!(clients.contains("# Clients") && !clients.contains("# Server"));
    let many = h.send(c, "INFO stats keyspace");
    assert!(many.contains("# Stats") && many.contains("# Keyspace"));
    h.send(c, "HELLO 3");
    assert!(h.send(c, "INFO server").starts_with("="));
}

#[test]
fn config_get_globs_and_resp3_map() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(
        h.send(c, "CONFIG GET maxc*"),
        "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
    );
    assert_eq!(h.send(c, "CONFIG GET nothing"), "*0\r\n");
    assert_eq!(h.send(c, "CONFIG SET hz 1000 timeout 7"), "+OK\r\n");
    assert_eq!(
        h.send(c, "CONFIG GET hz TIMEOUT"),
        "*4\r\n$2\r\nhz\r\n$3\r\n500\r\n$7\r\nTIMEOUT\r\n$1\r\n7\r\n"
    );
    h.send(c, "HELLO 3");
    assert_eq!(
        h.send(c, "CONFIG GET hz"),
        "%1\r\n$2\r\nhz\r\n$3\r\n500\r\n"
    );
    assert_eq!(h.send(c, "CONFIG RESETSTAT"), "+OK\r\n");
    // RESETSTAT itself is counted after it ran, as in Redis.
    assert_eq!(h.e.stats().total_commands_processed, 1);
}

#[test]
fn faults_readonly_refuse_kill_all_and_restart() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    h.send(c, "SET k v");
    h.e.set_readonly(true);
    assert_eq!(
        h.send(c, "SET k v"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(h.send(c, "GET k"), "$1\r\nv\r\n");
    h.e.set_readonly(false);
    h.e.set_refuse_connections(true);
    assert_eq!(h.e.accept(h.now, addr(1), addr(2)), Admission::Refused);
    h.e.set_refuse_connections(false);
    h.e.kill_all_clients(CloseReason::KillAll);
    h.drain();
    assert_eq!(h.closed, vec![(c, CloseReason::KillAll)]);
    let d = h.connect();
    assert!(d > c);
    h.e.restart();
    assert_eq!(h.e.connected_clients(), 0);
    let e = h.connect();
    assert!(e > d, "ids are never reused");
    assert_eq!(h.send(e, "GET k"), "$-1\r\n");
}

#[test]
fn fault_commands_are_an_unknown_command_unless_enabled() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    // Byte for byte what redis-server 7.0 answers an unknown command.
    assert_eq!(
        h.send(c, "FAULT LATENCY 100"),
        "-ERR unknown command 'FAULT', with args beginning with: 'LATENCY' '100' \r\n"
    );
    assert_eq!(
        h.send(c, "fault status"),
        "-ERR unknown command 'fault', with args beginning with: 'status' \r\n"
    );
    assert_eq!(h.e.reply_latency(), Duration::ZERO);
    assert_eq!(h.e.stats().total_error_replies, 2);
    // COMMAND COUNT does not change with the flag either way.
    assert_eq!(h.send(c, "COMMAND COUNT"), ":49\r\n");
}

#[test]
fn fault_commands_drive_every_fault_when_enabled() {
    let mut h = Harness::new(ServerConfig {
        enable_fault_commands: true,
        ..ServerConfig::default()
    });
    let admin = h.connect();
    let other = h.connect();
    assert_eq!(
        h.send(admin, "FAULT STATUS"),
        "$52\r\nlatency_ms:0\r\nrefuse_connections:off\r\nreadonly:off\r\n\r\n"
    );
    assert_eq!(h.send(admin, "FAULT LATENCY 250"), "+OK\r\n");
    assert_eq!(h.e.reply_latency(), Duration::from_millis(250));
    assert_eq!(h.send(admin, "fault latency 0"), "+OK\r\n");
    assert_eq!(h.e.reply_latency(), Duration::ZERO);
    for bad in ["-1", "3600001", "1.5", "x"] {
        assert_eq!(
            h.send(admin, &format!("FAULT LATENCY {bad}")),
            "-ERR FAULT LATENCY takes a whole number of milliseconds between 0 and 3600000\r\n"
        );
    }

    assert_eq!(h.send(admin, "FAULT READONLY on"), "+OK\r\n");
    assert_eq!(
        h.send(other, "SET k v"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    // FAULT itself is not a write command: it still works on a read-only server.
    assert_eq!(h.send(admin, "FAULT READONLY OFF"), "+OK\r\n");
    assert_eq!(h.send(other, "SET k v"), "+OK\r\n");
    assert_eq!(
        h.send(admin, "FAULT READONLY yes"),
        "-ERR FAULT READONLY takes on or off\r\n"
    );

    assert_eq!(h.send(admin, "FAULT REFUSE on"), "+OK\r\n");
    assert_eq!(h.e.accept(h.now, addr(1), addr(2)), Admission::Refused);
    assert_eq!(
        h.send(admin, "FAULT STATUS"),
        "$51\r\nlatency_ms:0\r\nrefuse_connections:on\r\nreadonly:off\r\n\r\n"
    );
    assert_eq!(h.send(admin, "FAULT REFUSE off"), "+OK\r\n");
    // A timed refusal ends by itself (a one-shot redis-cli could not connect to end it).
    assert_eq!(h.send(admin, "FAULT REFUSE on 1500"), "+OK\r\n");
    h.run_until(h.now + Duration::from_millis(500));
    assert_eq!(h.e.accept(h.now, addr(1), addr(2)), Admission::Refused);
    assert!(
        h.send(admin, "FAULT STATUS")
            .contains("refuse_connections:on (1000 ms left)\r\n")
    );
    h.run_until(h.now + Duration::from_millis(1000));
    let back = h.connect();
    assert!(h.e.is_connected(back));
    for bad in ["FAULT REFUSE on 0", "FAULT REFUSE on x"] {
        assert_eq!(
            h.send(admin, bad),
            "-ERR FAULT REFUSE on takes a duration in milliseconds between 1 and 3600000\r\n"
        );
    }
    for bad in [
        "FAULT REFUSE maybe",
        "FAULT REFUSE off 100",
        "FAULT REFUSE on 1 2",
    ] {
        assert_eq!(
            h.send(admin, bad),
            "-ERR FAULT REFUSE takes on, on <milliseconds>, or off\r\n"
        );
    }

    // KILLALL closes every other client, writing nothing, and counts them.
    let third = h.connect();
    assert_eq!(h.send(admin, "FAULT KILLALL"), ":3\r\n");
    h.drain();
    assert_eq!(
        h.closed,
        vec![
            (other, CloseReason::KillAll),
            (back, CloseReason::KillAll),
            (third, CloseReason::KillAll)
        ]
    );
    assert!(h.e.is_connected(admin));
    assert_eq!(h.e.stats().killed_clients, 3);

    // RESTART: keyspace and the other clients lost; the sender gets +OK, then is closed.
    let fourth = h.connect();
    h.send(admin, "SET k v");
    let (s, d) = h.send_raw(admin, b"FAULT RESTART\r\nPING\r\n");
    assert_eq!(
        (s.as_str(), d),
        ("+OK\r\n", Drain::CloseAfterWrite(CloseReason::Restart))
    );
    assert!(h.closed.contains(&(fourth, CloseReason::Restart)));
    assert_eq!(h.e.connected_clients(), 0);
    let after = h.connect();
    assert_eq!(h.send(after, "GET k"), "$-1\r\n");

    // Errors follow Redis's container commands.
    assert_eq!(
        h.send(after, "FAULT NOPE"),
        "-ERR unknown subcommand 'NOPE'. Try FAULT HELP.\r\n"
    );
    assert_eq!(
        h.send(after, "FAULT LATENCY"),
        "-ERR wrong number of arguments for 'fault|latency' command\r\n"
    );
    assert!(
        h.send(after, "FAULT HELP")
            .starts_with("*14\r\n+FAULT <subcommand>")
    );
}

#[test]
fn fault_commands_need_auth_like_any_command() {
    let mut h = Harness::new(ServerConfig {
        enable_fault_commands: true,
        requirepass: Some("pw".into()),
        ..ServerConfig::default()
    });
    let c = h.connect();
    assert_eq!(
        h.send(c, "FAULT REFUSE on"),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(h.send(c, "AUTH pw"), "+OK\r\n");
    assert_eq!(h.send(c, "FAULT REFUSE on"), "+OK\r\n");
}

#[test]
fn debug_sleep_makes_the_server_busy_and_later_commands_run_after_it() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v PX 100"), "+OK\r\n");
    // Pipelined after the sleep: runs when it is over, so the key has expired by then.
    assert_eq!(h.send(c, "DEBUG SLEEP 0.3\r\nGET k\r\nEXISTS k"), "+OK\r\n");
    assert_eq!(h.e.busy_until(), Some(secs(0.3)));
    h.run_until(secs(0.29));
    assert_eq!(h.output(c), "");
    h.run_until(secs(0.3));
    assert_eq!(h.e.busy_until(), None);
    assert!(h.woken.contains(&c));
    assert_eq!(h.output(c), "$-1\r\n:0\r\n");
}

#[test]
fn a_stall_freezes_the_server_without_a_client_asking_and_input_runs_after_it() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    h.run_until(secs(0.1));
    h.e.stall(secs(0.1), secs(0.5));
    assert!(h.e.take_timers_changed(), "a stall re-plans the timer");
    assert_eq!(h.e.busy_until(), Some(secs(0.6)));
    assert_eq!(h.e.poll_timeout(), Some(secs(0.6)));
    // A command sent during the stall is not answered before it ends.
    assert_eq!(h.send(c, "PING"), "");
    // A connection is still accepted (the kernel's handshake), and waits like the others.
    let d = h.connect();
    assert_eq!(h.send(d, "ECHO x"), "");
    // A second stall during the first extends it.
    h.e.stall(secs(0.2), secs(0.1));
    assert_eq!(h.e.busy_until(), Some(secs(0.7)));
    h.run_until(secs(0.69));
    assert_eq!(h.output(c), "");
    h.run_until(secs(0.7));
    assert_eq!(h.e.busy_until(), None);
    assert_eq!(h.output(c), "+PONG\r\n");
    assert_eq!(h.output(d), "$1\r\nx\r\n");
}

#[test]
fn the_cron_is_frozen_during_debug_sleep() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    h.run_until(secs(0.01));
    assert_eq!(
        h.send(c, "SET k v PX 50\r\nDEBUG SLEEP 0.3\r\nINFO stats"),
        "+OK\r\n+OK\r\n"
    );
    h.run_until(secs(0.5));
    let info = h.output(c);
    assert!(
        info.contains("expired_keys:0\r\n"),
        "no active expiry while asleep"
    );
}

#[test]
fn keyspace_hits_and_misses_count_read_lookups_like_redis() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    for cmd in [
        "SET a 1",
        "GET a",
        "GET b",
        "MGET a b c",
        "EXISTS a b",
        "FOO",
        "GET",
        "INCR a",
        "SET s x",
        "INCR s",
    ] {
        let _ = h.send(c, cmd);
    }
    let st = h.e.stats();
    assert_eq!((st.keyspace_hits, st.keyspace_misses), (3, 4));
    // FOO and the arity error are not commands executed.
    assert_eq!(st.total_commands_processed, 8);
    let info = h.send(c, "INFO stats");
    assert!(
        info.contains("total_commands_processed:8\r\n"),
        "INFO does not count itself"
    );
}

#[test]
fn exat_and_pxat_are_unix_times() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v EXAT 1"), "+OK\r\n");
    assert_eq!(h.send(c, "GET k"), "$-1\r\n");
    let at = ServerConfig::default().unix_time_at_start_ms / 1000 + 100;
    assert_eq!(h.send(c, &format!("SET k v EXAT {at}")), "+OK\r\n");
    assert_eq!(h.send(c, "TTL k"), ":100\r\n");
}

#[test]
fn command_docs_count_and_setinfo_let_real_clients_connect() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "COMMAND DOCS"), "*0\r\n");
    assert_eq!(h.send(c, "COMMAND"), "*0\r\n");
    assert!(h.send(c, "COMMAND COUNT").starts_with(':'));
    assert_eq!(h.send(c, "CLIENT SETINFO LIB-NAME redis-rs"), "+OK\r\n");
    assert_eq!(h.send(c, "CLIENT SETINFO lib-ver 1.8.1"), "+OK\r\n");
    assert_eq!(
        h.send(c, "CONFIG GET save"),
        "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "GET",
        "SET",
        "PING",
        "INCR",
        "DEL",
        "MGET",
        "MSET",
        "ECHO",
        "AUTH",
        "HELLO",
        "SELECT",
        "QUIT",
        "RESET",
        "INCRBY",
        "DECR",
        "EXISTS",
        "EXPIRE",
        "PEXPIRE",
        "TTL",
        "PTTL",
        "TYPE",
        "KEYS",
        "DBSIZE",
        "FLUSHDB",
        "INFO",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "PSUBSCRIBE",
        "PUBLISH",
        "BLPOP",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "LLEN",
        "CONFIG",
        "CLIENT",
        "COMMAND",
        "MULTI",
        "EXEC",
        "DISCARD",
        "REPLICAOF",
        "ROLE",
        "NO",
        "ONE",
        "normal",
        "pubsub",
        "KILL",
        "LIST",
        "ID",
        "SETNAME",
        "timeout",
        "maxclients",
        "requirepass",
        "hz",
        "EX",
        "PX",
        "NX",
        "XX",
        "k",
        "l",
        "ch",
        "*",
        "0",
        "1",
        "3",
        "-1",
        "0.01",
        "pw",
        "default",
        "SKIPME",
        "no",
    ];

    fn command() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(proptest::sample::select(WORDS), 1..6)
            .prop_map(|v| v.into_iter().map(str::to_owned).collect())
    }

    #[derive(Debug, Clone)]
    enum Step {
        Connect,
        Send(usize, Vec<String>),
        Close(usize),
        Advance(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            1 => Just(Step::Connect),
            6 => (0..4usize, command()).prop_map(|(c, v)| Step::Send(c, v)),
            1 => (0..4usize).prop_map(Step::Close),
            2 => (0..3000u64).prop_map(Step::Advance),
        ]
    }

    proptest! {
        #[test]
        fn random_command_sequences_never_panic_and_tables_stay_consistent(
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut h = Harness::new(ServerConfig {
                timeout_secs: 2,
                maxclients: 3,
                ..ServerConfig::default()
            });
            let mut ids: Vec<ClientId> = Vec::new();
            for s in steps {
                match s {
                    Step::Connect => {
                        if let Admission::Accepted(id) = h.e.accept(h.now, addr(1), addr(2)) {
                            ids.push(id);
                        }
                    }
                    Step::Send(i, words) => {
                        if let Some(&id) = ids.get(i) {
                            let mut req = format!("*{}\r\n", words.len());
                            for w in &words {
                                req.push_str(&format!("${}\r\n{w}\r\n", w.len()));
                            }
                            let _ = h.send_raw(id, req.as_bytes());
                        }
                    }
                    Step::Close(i) => {
                        if let Some(&id) = ids.get(i) {
                            h.e.handle_closed(h.now, id);
                        }
                    }
                    Step::Advance(ms) => {
                        let t = h.now + Duration::from_millis(ms);
                        h.run_until(t);
                    }
                }
                h.drain();
                ids.retain(|id| h.e.is_connected(*id));
                prop_assert!(h.e.connected_clients() <= h.e.config().maxclients.max(3));
                for (ch, subs) in &h.e.channels {
                    prop_assert!(!subs.is_empty());
                    for s in subs {
                        prop_assert!(h.e.clients.get(s).is_some_and(|c| c.channels.contains(ch)));
                    }
                }
                for ((_, _), q) in &h.e.blocking {
                    for b in q {
                        prop_assert!(h.e.clients.get(b).is_some_and(|c| c.blocked.is_some()));
                    }
                }
                // A replica never has a blocked client (demotion drops them, BLPOP is a
                // write), and EXEC never leaves the engine inside a transaction run.
                if h.e.role().is_replica() {
                    prop_assert!(h.e.clients.values().all(|c| c.blocked.is_none()));
                }
                prop_assert!(!h.e.in_exec);
            }
        }
    }
}

// ---- replication roles, MULTI/EXEC, what Sentinel sends ----

const READONLY_LINE: &str = "-READONLY You can't write against a read only replica.\r\n";
const UNBLOCKED_LINE: &str = "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";

#[test]
fn a_replica_refuses_writes_with_readonly_and_serves_reads_from_its_own_keyspace() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "SET k v"), "+OK\r\n");
    assert_eq!(h.send(c, "REPLICAOF 10.0.0.2 6380"), "+OK\r\n");
    assert_eq!(
        h.e.role(),
        &Role::Replica {
            host: "10.0.0.2".into(),
            port: 6380
        }
    );
    assert!(h.e.rejects_writes());
    for write in [
        "SET k w",
        "INCR n",
        "DEL k",
        "LPUSH l a",
        "FLUSHALL",
        "BLPOP l 0",
    ] {
        assert_eq!(h.send(c, write), READONLY_LINE, "{write}");
    }
    // Reads work and see the keyspace it had (the fake does not replicate).
    assert_eq!(h.send(c, "GET k"), "$1\r\nv\r\n");
    assert_eq!(h.send(c, "EXISTS k"), ":1\r\n");
    assert_eq!(h.send(c, "PING"), "+PONG\r\n");
    assert_eq!(
        h.send(c, "ROLE"),
        "*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.2\r\n:6380\r\n$7\r\nconnect\r\n:-1\r\n"
    );
    // The same master again; SLAVEOF is the same command.
    assert_eq!(
        h.send(c, "SLAVEOF 10.0.0.2 6380"),
        "+OK Already connected to specified master\r\n"
    );
    assert_eq!(h.send(c, "REPLICAOF no one"), "+OK\r\n");
    assert_eq!(h.e.role(), &Role::Master);
    assert_eq!(h.send(c, "SET k w"), "+OK\r\n");
    assert_eq!(h.send(c, "ROLE"), "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    // NO ONE on a master is a no-op +OK.
    assert_eq!(h.send(c, "SLAVEOF NO ONE"), "+OK\r\n");
    // Every READONLY counted as an error reply (6), nothing else was an error.
    assert_eq!(h.e.stats().total_error_replies, 6);
}

#[test]
fn replicaof_port_errors_and_arity_use_redis_texts() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    for bad in ["abc", "65536", "-1", "+1", "01"] {
        assert_eq!(
            h.send(c, &format!("REPLICAOF 127.0.0.1 {bad}")),
            "-ERR Invalid master port\r\n",
            "{bad}"
        );
    }
    assert_eq!(h.e.role(), &Role::Master);
    assert_eq!(
        h.send(c, "REPLICAOF host"),
        "-ERR wrong number of arguments for 'replicaof' command\r\n"
    );
    assert_eq!(
        h.send(c, "ROLE x"),
        "-ERR wrong number of arguments for 'role' command\r\n"
    );
    assert_eq!(h.send(c, "REPLICAOF h 0"), "+OK\r\n", "port 0 is in range");
}

#[test]
fn demotion_drops_blocked_clients_with_unblocked_and_keeps_the_others() {
    let mut h = Harness::new(ServerConfig::default());
    let admin = h.connect();
    let blocked = h.connect();
    let normal = h.connect();
    let subscriber = h.connect();
    assert_eq!(h.send(blocked, "BLPOP q 0"), "");
    h.send(subscriber, "SUBSCRIBE ch");
    assert_eq!(h.send(admin, "REPLICAOF 10.0.0.2 6380"), "+OK\r\n");
    assert!(h.woken.contains(&blocked));
    let mut out = Vec::new();
    assert_eq!(
        h.e.take_output(blocked, &mut out),
        Drain::CloseAfterWrite(CloseReason::Unblocked)
    );
    assert_eq!(String::from_utf8_lossy(&out), UNBLOCKED_LINE);
    assert!(!h.e.is_connected(blocked));
    assert!(h.e.is_connected(normal) && h.e.is_connected(subscriber));
    assert_eq!(h.send(normal, "SET k v"), READONLY_LINE);
    assert_eq!(h.e.stats().total_error_replies, 2);
    // A replica has no blocked clients (BLPOP is a write); becoming a replica of another
    // master changes nothing else.
    assert_eq!(h.send(admin, "REPLICAOF 10.0.0.3 6380"), "+OK\r\n");
}

#[test]
fn set_role_from_outside_has_the_effects_of_replicaof() {
    let mut h = Harness::new(ServerConfig::default());
    let blocked = h.connect();
    let c = h.connect();
    assert_eq!(h.send(blocked, "BLPOP q 5"), "");
    h.e.set_role(Role::Replica {
        host: "m".into(),
        port: 1,
    });
    h.drain();
    assert_eq!(h.woken, vec![blocked]);
    assert_eq!(h.output(blocked), UNBLOCKED_LINE);
    assert_eq!(h.send(c, "SET k v"), READONLY_LINE);
    // The read-only fault is separate: off does not make a replica writable ...
    h.e.set_readonly(false);
    assert_eq!(h.send(c, "SET k v"), READONLY_LINE);
    h.e.set_role(Role::Master);
    assert_eq!(h.send(c, "SET k v"), "+OK\r\n");
    // ... and on makes a master refuse writes whatever its role.
    h.e.set_readonly(true);
    assert_eq!(h.send(c, "SET k v"), READONLY_LINE);
    assert_eq!(h.e.role(), &Role::Master);
}

#[test]
fn info_replication_and_hello_report_the_role() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let master = h.send(c, "INFO replication");
    assert!(master.contains("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"), "{master}");
    h.send(c, "REPLICAOF 10.0.0.2 6380");
    let replica = h.send(c, "INFO replication");
    assert!(
        replica.contains("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.2\r\nmaster_port:6380\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:0\r\nslave_repl_offset:0\r\nmaster_link_down_since_seconds:-1\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"),
        "{replica}"
    );
    let hello = h.send(c, "HELLO 2");
    assert!(hello.contains("$4\r\nrole\r\n$7\r\nreplica\r\n"), "{hello}");
}

#[test]
fn multi_queues_then_exec_runs_everything_in_order() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let other = h.connect();
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "SET k v"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "INCR k"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "GET k"), "+QUEUED\r\n");
    // Nothing ran yet; CLIENT LIST shows the transaction (flag x, 3 queued).
    assert_eq!(h.send(other, "GET k"), "$-1\r\n");
    let list = h.send(other, &format!("CLIENT LIST ID {c}"));
    assert!(
        list.contains(" flags=x ") && list.contains(" multi=3 "),
        "{list}"
    );
    let processed = h.e.stats().total_commands_processed;
    assert_eq!(
        h.send(c, "EXEC"),
        "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n"
    );
    // EXEC and its three commands; the queued commands were not counted when queued.
    assert_eq!(h.e.stats().total_commands_processed, processed + 4);
    let list = h.send(other, &format!("CLIENT LIST ID {c}"));
    assert!(
        list.contains(" flags=N ") && list.contains(" multi=-1 ") && list.contains(" cmd=exec "),
        "{list}"
    );
    // A BLPOP inside EXEC does not block: it answers as a timeout.
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "BLPOP q 0"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "EXEC"), "*1\r\n*-1\r\n");
    assert!(
        h.e.poll_timeout() <= Some(secs(0.1)),
        "no BLPOP deadline armed"
    );
}

#[test]
fn multi_errors_and_execabort_follow_redis() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    assert_eq!(h.send(c, "EXEC"), "-ERR EXEC without MULTI\r\n");
    assert_eq!(h.send(c, "DISCARD"), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(
        h.send(c, "EXEC x"),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    // A nested MULTI is an error but does not make the transaction dirty.
    assert_eq!(h.send(c, "MULTI"), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(h.send(c, "SET k v"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "EXEC"), "*1\r\n+OK\r\n");
    // A command refused while queueing (unknown, arity) aborts the EXEC.
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert!(
        h.send(c, "NOSUCH")
            .starts_with("-ERR unknown command 'NOSUCH'")
    );
    assert_eq!(h.send(c, "SET k w"), "+QUEUED\r\n");
    assert_eq!(
        h.send(c, "EXEC"),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(h.send(c, "GET k"), "$1\r\nv\r\n", "nothing of it ran");
    // DISCARD and RESET end a transaction.
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "SET k x"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "DISCARD"), "+OK\r\n");
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "RESET"), "+RESET\r\n");
    assert_eq!(h.send(c, "EXEC"), "-ERR EXEC without MULTI\r\n");
    assert_eq!(h.send(c, "GET k"), "$1\r\nv\r\n");
}

#[test]
fn writes_in_multi_on_a_replica_and_a_demotion_before_exec() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect();
    let admin = h.connect();
    // On a replica a queued write is refused at once and EXEC aborts.
    h.send(admin, "REPLICAOF m 1");
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "SET k v"), READONLY_LINE);
    assert_eq!(h.send(c, "GET k"), "+QUEUED\r\n");
    assert_eq!(
        h.send(c, "EXEC"),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Queued on a master, demoted before EXEC: EXEC is refused as a write.
    h.send(admin, "REPLICAOF NO ONE");
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "SET k v"), "+QUEUED\r\n");
    h.send(admin, "REPLICAOF m 1");
    assert_eq!(
        h.send(c, "EXEC"),
        "-EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica.\r\n"
    );
    // A read-only transaction still runs on a replica.
    assert_eq!(h.send(c, "MULTI"), "+OK\r\n");
    assert_eq!(h.send(c, "GET k"), "+QUEUED\r\n");
    assert_eq!(h.send(c, "EXEC"), "*1\r\n$-1\r\n");
}

#[test]
fn sentinels_promotion_transaction_applies_the_role_and_the_kills_together() {
    // What Sentinel sends to the replica it promotes (sentinel.c sentinelSendSlaveOf).
    let mut h = Harness::new(ServerConfig::default());
    let sentinel = h.connect();
    let normal = h.connect();
    let subscriber = h.connect();
    h.send(subscriber, "SUBSCRIBE __sentinel__:hello");
    h.send(sentinel, "REPLICAOF 10.0.0.1 6379");
    assert_eq!(h.send(normal, "SET k v"), READONLY_LINE);
    for cmd in [
        "SLAVEOF NO ONE",
        "CONFIG REWRITE",
        "CLIENT KILL TYPE normal",
        "CLIENT KILL TYPE pubsub",
    ] {
        if cmd == "SLAVEOF NO ONE" {
            assert_eq!(h.send(sentinel, "MULTI"), "+OK\r\n");
        }
        assert_eq!(h.send(sentinel, cmd), "+QUEUED\r\n");
    }
    // Nothing happened before EXEC.
    assert!(h.e.role().is_replica() && h.e.is_connected(normal));
    assert_eq!(
        h.send(sentinel, "EXEC"),
        "*4\r\n+OK\r\n-ERR The server is running without a config file\r\n:1\r\n:1\r\n"
    );
    assert_eq!(h.e.role(), &Role::Master);
    assert_eq!(
        h.closed,
        vec![
            (normal, CloseReason::Killed),
            (subscriber, CloseReason::Killed)
        ]
    );
    assert!(h.e.is_connected(sentinel), "SKIPME yes is the default");
    assert_eq!(h.send(sentinel, "SET k v"), "+OK\r\n");

    // The demotion Sentinel sends to a returning old master: existing connections are
    // killed (they read EOF, never READONLY); new ones get READONLY.
    let blocked = h.connect();
    let old_conn = h.connect();
    assert_eq!(h.send(blocked, "BLPOP q 0"), "");
    h.closed.clear();
    h.send(sentinel, "MULTI");
    for cmd in [
        "SLAVEOF 10.0.0.2 6379",
        "CONFIG REWRITE",
        "CLIENT KILL TYPE normal",
        "CLIENT KILL TYPE pubsub",
    ] {
        assert_eq!(h.send(sentinel, cmd), "+QUEUED\r\n");
    }
    // SLAVEOF queued -UNBLOCKED for the blocked client, but CLIENT KILL TYPE normal in the
    // same EXEC freed it before anything was written (Redis writes replies after the event
    // loop iteration): it reads EOF only, like the other old connection, and counts as killed.
    assert_eq!(
        h.send(sentinel, "EXEC"),
        "*4\r\n+OK\r\n-ERR The server is running without a config file\r\n:2\r\n:0\r\n"
    );
    assert_eq!(
        h.closed,
        vec![
            (blocked, CloseReason::Killed),
            (old_conn, CloseReason::Killed)
        ]
    );
    let mut out = Vec::new();
    assert_eq!(h.e.take_output(blocked, &mut out), Drain::Gone);
    let new_conn = h.connect();
    assert_eq!(h.send(new_conn, "SET k v"), READONLY_LINE);
    assert_eq!(h.send(new_conn, "GET k"), "$1\r\nv\r\n");
}

fn state_key(e: &Engine) -> u64 {
    use std::hash::Hasher as _;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.hash_state_key(&mut h);
    h.finish()
}

/// The explorer's visited set merges two states whose engines give one key: every part that
/// decides what the engine does next must move it, and what the engine stores without
/// acting on must not.
#[test]
fn the_state_key_moves_with_every_part_of_the_future_and_only_with_it() {
    let mut h = Harness::new(ServerConfig::default());
    let a = h.connect();
    let b = h.connect();
    assert_eq!(h.send(a, "SET k v"), "+OK\r\n");
    let base = h.e.clone();
    assert_eq!(state_key(&base), state_key(&h.e.clone()), "a copy");
    let now = h.now;
    type Change = Box<dyn Fn(&mut Engine)>;
    // Client `b` sends `bytes`.
    let read = |bytes: &'static [u8]| -> Change {
        Box::new(move |e| {
            let _ = e.handle_read(now, b, bytes);
        })
    };
    let changes: Vec<(&str, Change)> = vec![
        (
            "CONFIG SET timeout",
            Box::new(|e| e.config_set("timeout", "5").unwrap()),
        ),
        ("a key written", read(b"SET k2 v\r\n")),
        ("a key deleted", read(b"DEL k\r\n")),
        ("half a command read", read(b"*1\r\n")),
        ("a subscription", read(b"SUBSCRIBE ch\r\n")),
        ("a client gone", Box::new(move |e| e.handle_closed(now, b))),
        (
            "a client connected",
            Box::new(move |e| {
                let _ = e.accept(now, addr(50000), addr(6379));
            }),
        ),
        (
            "every client killed",
            Box::new(|e| e.kill_all_clients(CloseReason::KillAll)),
        ),
        ("the read-only fault", Box::new(|e| e.set_readonly(true))),
        (
            "connections refused",
            Box::new(|e| e.set_refuse_connections(true)),
        ),
        (
            "reply latency",
            Box::new(|e| e.set_reply_latency(Duration::from_millis(5))),
        ),
        (
            "a stall",
            Box::new(move |e| e.stall(now, Duration::from_secs(1))),
        ),
        (
            "a replica",
            Box::new(|e| {
                e.set_role(Role::Replica {
                    host: "m".to_owned(),
                    port: 6379,
                });
            }),
        ),
        (
            "the clock and cron",
            Box::new(move |e| e.handle_timeout(now + Duration::from_secs(1))),
        ),
        ("the statistics reset", Box::new(|e| e.reset_stats())),
    ];
    for (what, change) in &changes {
        let mut e = base.clone();
        change(&mut e);
        assert_ne!(state_key(&e), state_key(&base), "{what}");
    }
    let mut e = base.clone();
    e.config_set("save", "900 1").unwrap();
    e.config_set("maxmemory-policy", "allkeys-lru").unwrap();
    assert_eq!(
        state_key(&e),
        state_key(&base),
        "a setting the engine stores without acting on"
    );
}
