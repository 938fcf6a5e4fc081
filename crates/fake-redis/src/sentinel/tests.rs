//! Sentinel scenario tests: a tiny world of instances that answer (or not) what the Sentinel
//! asks, on the test's clock.
use super::*;

fn a(host: &str) -> Addr {
    Addr::new(host, 6379)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// One simulated instance: does it answer, and what role does its INFO say.
struct Node {
    alive: bool,
    /// Hung: connections succeed but nothing is ever answered (no reply, no error).
    hung: bool,
    role: Reported,
}

struct World {
    s: Sentinel,
    now: Duration,
    nodes: BTreeMap<Addr, Node>,
    /// (time, channel, message)
    events: Vec<(Duration, String, String)>,
    /// (time, to, commands)
    sent: Vec<(Duration, Addr, Vec<Vec<String>>)>,
    /// (time, to) of every PING asked for
    pings: Vec<(Duration, Addr)>,
}

impl World {
    /// mymaster at m:6379 with replica r:6379; down-after 5 s, failover-timeout 60 s.
    fn new() -> Self {
        let mut cfg = MonitorConfig::new("mymaster", a("m"), vec![a("r")]);
        cfg.down_after_ms = 5000;
        cfg.failover_timeout_ms = 60_000;
        let s = Sentinel::new(SentinelConfig {
            masters: vec![cfg],
            myid: "e".repeat(40),
            ..SentinelConfig::default()
        });
        let mut nodes = BTreeMap::new();
        nodes.insert(
            a("m"),
            Node {
                alive: true,
                hung: false,
                role: Reported::Master,
            },
        );
        nodes.insert(
            a("r"),
            Node {
                alive: true,
                hung: false,
                role: Reported::Replica {
                    master: a("m"),
                    link_up: true,
                },
            },
        );
        Self {
            s,
            now: Duration::ZERO,
            nodes,
            events: Vec::new(),
            sent: Vec::new(),
            pings: Vec::new(),
        }
    }

    /// Carry out the outputs: living nodes answer at once; transactions change roles.
    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            let now = self.now;
            match o {
                SentinelOutput::Ping { to } => {
                    self.pings.push((now, to.clone()));
                    if self.nodes.get(&to).is_some_and(|n| n.hung) {
                        // Silent: neither a reply nor an error.
                    } else if self.nodes.get(&to).is_some_and(|n| n.alive) {
                        self.s.handle_ping_reply(now, &to);
                    } else {
                        self.s.handle_ping_lost(now, &to);
                    }
                }
                SentinelOutput::Info { to } => {
                    if let Some(n) = self.nodes.get(&to).filter(|n| n.alive && !n.hung) {
                        let role = n.role.clone();
                        self.s.handle_info(now, &to, role);
                    }
                }
                SentinelOutput::Send { to, commands } => {
                    if let Some(n) = self.nodes.get_mut(&to).filter(|n| n.alive) {
                        let slaveof = &commands[1];
                        n.role = if slaveof[1] == "NO" {
                            Reported::Master
                        } else {
                            Reported::Replica {
                                master: Addr::new(slaveof[1].clone(), slaveof[2].parse().unwrap()),
                                link_up: true,
                            }
                        };
                    }
                    self.sent.push((now, to, commands));
                }
                SentinelOutput::Event { channel, message } => {
                    self.events.push((now, channel, message));
                }
                SentinelOutput::Wake { .. } => {}
            }
        }
    }

    /// Run the Sentinel's timer up to `t`.
    fn run_until(&mut self, t: Duration) {
        loop {
            let at = self.s.poll_timeout();
            if at > t {
                break;
            }
            self.now = self.now.max(at);
            self.s.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
    }

    fn event_time(&self, channel: &str) -> Option<Duration> {
        self.events
            .iter()
            .find(|(_, c, _)| c == channel)
            .map(|(t, _, _)| *t)
    }

    fn channels(&self) -> Vec<&str> {
        self.events.iter().map(|(_, c, _)| c.as_str()).collect()
    }

    fn set_alive(&mut self, addr: &Addr, alive: bool) {
        self.nodes.get_mut(addr).unwrap().alive = alive;
    }

    /// A client command, returning the reply bytes.
    fn cmd(&mut self, client: SentinelClientId, line: &str) -> String {
        self.s
            .handle_read(self.now, client, format!("{line}\r\n").as_bytes());
        self.drain();
        let mut out = Vec::new();
        let _ = self.s.take_output(client, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// A flat RESP2 name/value array.
fn pairs(p: &[(&str, &str)]) -> String {
    let mut out = format!("*{}\r\n", p.len() * 2);
    for (k, v) in p {
        out.push_str(&bulk(k));
        out.push_str(&bulk(v));
    }
    out
}

#[test]
fn master_goes_s_down_after_down_after_ms_without_a_reply_and_o_down_at_once() {
    let mut w = World::new();
    w.run_until(ms(10_000));
    assert!(
        w.events.is_empty(),
        "nothing happens while all answer: {:?}",
        w.events
    );
    // Pings to the live master come about once a second.
    let to_master: Vec<Duration> = w
        .pings
        .iter()
        .filter(|(_, to)| *to == a("m"))
        .map(|(t, _)| *t)
        .collect();
    assert!(
        to_master.len() >= 8 && to_master.len() <= 10,
        "{to_master:?}"
    );
    w.set_alive(&a("m"), false);
    w.run_until(ms(20_000));
    let last_reply = w
        .pings
        .iter()
        .filter(|(t, to)| *to == a("m") && *t <= ms(10_000))
        .map(|(t, _)| *t)
        .next_back()
        .unwrap();
    let sdown = w.event_time("+sdown").expect("+sdown");
    // A dead process refuses connections: Sentinel's link is down, and it is subjectively
    // down once its last valid reply is older than down-after (5 s), at the first timer tick
    // after that (100 ms ticks).
    assert!(sdown > last_reply + ms(5000), "{sdown:?} {last_reply:?}");
    assert!(sdown <= last_reply + ms(5100), "{sdown:?} {last_reply:?}");
    assert_eq!(
        w.event_time("+odown"),
        Some(sdown),
        "quorum 1: o_down at once"
    );
    let odown = w.events.iter().find(|(_, c, _)| c == "+odown").unwrap();
    assert_eq!(odown.2, "master mymaster m 6379 #quorum 1/1");
    let sdown_msg = &w.events.iter().find(|(_, c, _)| c == "+sdown").unwrap().2;
    assert_eq!(sdown_msg, "master mymaster m 6379");
}

#[test]
fn failover_sends_sentinels_transaction_to_the_replica_and_publishes_switch_master() {
    let mut w = World::new();
    let sub = w.s.accept(w.now);
    assert_eq!(
        w.cmd(sub, "SUBSCRIBE +switch-master"),
        "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
    );
    w.run_until(ms(10_000));
    w.set_alive(&a("m"), false);
    w.run_until(ms(40_000));
    assert_eq!(
        w.channels(),
        vec![
            "+sdown",
            "+odown",
            "+new-epoch",
            "+try-failover",
            "+vote-for-leader",
            "+elected-leader",
            "+failover-state-select-slave",
            "+selected-slave",
            "+failover-state-send-slaveof-noone",
            "+failover-state-wait-promotion",
            "+promoted-slave",
            "+failover-state-reconf-slaves",
            "+failover-end",
            "+switch-master",
            "+sdown",
        ]
    );
    // Exactly what sentinel.c sentinelSendSlaveOf sends, to the replica only.
    assert_eq!(w.sent.len(), 1);
    let (_, to, commands) = &w.sent[0];
    assert_eq!(to, &a("r"));
    let want: Vec<Vec<String>> = [
        &["MULTI"][..],
        &["SLAVEOF", "NO", "ONE"],
        &["CONFIG", "REWRITE"],
        &["CLIENT", "KILL", "TYPE", "normal"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
        &["EXEC"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    assert_eq!(commands, &want);
    // One state per timer tick, as Redis's state machine.
    let t = |c| w.event_time(c).unwrap();
    assert_eq!(t("+try-failover"), t("+odown"));
    assert_eq!(t("+selected-slave"), t("+try-failover") + ms(100));
    assert_eq!(
        t("+failover-state-wait-promotion"),
        t("+selected-slave") + ms(100)
    );
    // The promotion is seen on the next INFO (every second during a failover).
    assert!(t("+promoted-slave") <= t("+failover-state-wait-promotion") + ms(1100));
    // The whole detection window: from the master's death to the switch.
    assert!(t("+switch-master") < ms(10_000) + ms(5000) + ms(1200) + ms(1500));
    let switch = w
        .events
        .iter()
        .find(|(_, c, _)| c == "+switch-master")
        .unwrap();
    assert_eq!(switch.2, "mymaster m 6379 r 6379");
    // The subscriber got it as a pub/sub message.
    let mut out = Vec::new();
    assert_eq!(w.s.take_output(sub, &mut out), Some(false));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$22\r\nmymaster m 6379 r 6379\r\n"
    );
    // After the switch the old master is a replica of the new one (and down: the last +sdown).
    assert_eq!(w.s.configured_master_addr("mymaster"), Some(a("r")));
    assert_eq!(w.s.replicas("mymaster"), vec![a("m")]);
    let last = w.events.last().unwrap();
    assert_eq!(last.2, "slave m:6379 m 6379 @ mymaster r 6379");
}

#[test]
fn get_master_addr_names_the_promoted_replica_before_switch_master() {
    let mut w = World::new();
    w.run_until(ms(2000));
    w.set_alive(&a("m"), false);
    let mut seen_between = false;
    // Tick by tick, looking after every tick for the moment between the promotion (an INFO
    // reply) and the switch (the next tick).
    for _ in 0..200 {
        let at = w.s.poll_timeout();
        w.now = at;
        w.s.handle_timeout(at);
        w.drain();
        if w.event_time("+promoted-slave").is_some() && w.event_time("+switch-master").is_none() {
            let c = w.s.accept(w.now);
            assert_eq!(
                w.cmd(c, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
                "*2\r\n$1\r\nr\r\n$4\r\n6379\r\n"
            );
            let master = w.cmd(c, "SENTINEL MASTER mymaster");
            assert!(
                master.contains("$2\r\nip\r\n$1\r\nm\r\n"),
                "still the old address: {master}"
            );
            let flags = format!(
                "{}{}",
                bulk("flags"),
                bulk("s_down,o_down,master,disconnected,failover_in_progress")
            );
            assert!(master.contains(&flags), "{master}");
            let state = format!("{}{}", bulk("failover-state"), bulk("reconf_slaves"));
            assert!(master.contains(&state), "{master}");
            seen_between = true;
        }
        if w.event_time("+switch-master").is_some() {
            break;
        }
    }
    assert!(
        seen_between,
        "a moment between +promoted-slave and +switch-master"
    );
    let c = w.s.accept(w.now);
    assert_eq!(
        w.cmd(c, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*2\r\n$1\r\nr\r\n$4\r\n6379\r\n"
    );
    let master = w.cmd(c, "SENTINEL MASTER mymaster");
    assert!(
        master.contains("$2\r\nip\r\n$1\r\nr\r\n"),
        "switched: {master}"
    );
}

#[test]
fn a_returning_old_master_is_converted_after_reporting_master_for_8_s() {
    let mut w = World::new();
    w.run_until(ms(10_000));
    w.set_alive(&a("m"), false);
    w.run_until(ms(40_000));
    assert!(w.event_time("+switch-master").is_some());
    // The old master comes back as it was: a master with its old data.
    w.set_alive(&a("m"), true);
    w.run_until(ms(80_000));
    let back: Vec<_> = w
        .events
        .iter()
        .filter(|(t, _, _)| *t > ms(40_000))
        .map(|(_, c, m)| (c.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        back,
        vec![
            ("-sdown", "slave m:6379 m 6379 @ mymaster r 6379"),
            ("+convert-to-slave", "slave m:6379 m 6379 @ mymaster r 6379"),
        ]
    );
    let (t, to, commands) = w.sent.last().unwrap();
    assert_eq!(to, &a("m"));
    assert_eq!(commands[1], vec!["SLAVEOF", "r", "6379"]);
    assert_eq!(commands[3], vec!["CLIENT", "KILL", "TYPE", "normal"]);
    // It reported master on an INFO reply (INFO every 10 s), and is converted on the first
    // INFO reply more than 8 s later: 10 s after, give or take a tick.
    let pings_back = w
        .pings
        .iter()
        .find(|(pt, to)| *pt > ms(40_000) && *to == a("m"))
        .map(|(pt, _)| *pt)
        .unwrap();
    assert!(*t > pings_back + ms(8000), "{t:?} {pings_back:?}");
    assert!(*t <= pings_back + ms(20_200), "{t:?} {pings_back:?}");
    assert_eq!(w.sent.len(), 2, "converted once");
}

#[test]
fn manual_failover_needs_a_good_replica_and_only_one_runs_at_a_time() {
    let mut w = World::new();
    let c = w.s.accept(w.now);
    // No INFO from the replica yet: nothing to promote.
    assert_eq!(
        w.cmd(c, "SENTINEL FAILOVER mymaster"),
        "-NOGOODSLAVE No suitable replica to promote\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL FAILOVER nosuch"),
        "-ERR No such master with that name\r\n"
    );
    w.run_until(ms(1000));
    assert_eq!(w.cmd(c, "SENTINEL FAILOVER mymaster"), "+OK\r\n");
    assert_eq!(
        w.cmd(c, "SENTINEL FAILOVER mymaster"),
        "-INPROG Failover already in progress\r\n"
    );
    w.run_until(ms(5000));
    assert_eq!(w.s.configured_master_addr("mymaster"), Some(a("r")));
    assert_eq!(w.sent[0].1, a("r"));
    // The old master never went down: it reports master, and is converted 8-20 s later.
    w.run_until(ms(30_000));
    assert!(w.channels().contains(&"+convert-to-slave"));
    assert_eq!(w.sent.last().unwrap().1, a("m"));
}

#[test]
fn without_a_good_replica_the_failover_aborts_and_retries_after_twice_the_timeout() {
    let mut w = World::new();
    w.run_until(ms(2000));
    w.set_alive(&a("m"), false);
    w.set_alive(&a("r"), false);
    w.run_until(ms(60_000));
    let aborts: Vec<Duration> = w
        .events
        .iter()
        .filter(|(_, c, _)| c == "-failover-abort-no-good-slave")
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(aborts.len(), 1, "{:?}", w.channels());
    w.run_until(ms(200_000));
    let tries: Vec<Duration> = w
        .events
        .iter()
        .filter(|(_, c, _)| c == "+try-failover")
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert!(tries[1] - tries[0] >= ms(120_000), "{tries:?}");
    assert!(w.sent.is_empty());
    assert_eq!(w.s.configured_master_addr("mymaster"), Some(a("m")));
}

#[test]
fn sentinel_command_replies_are_redis_bytes() {
    let mut w = World::new();
    let c = w.s.accept(w.now);
    assert_eq!(w.cmd(c, "PING"), "+PONG\r\n");
    assert_eq!(w.cmd(c, "PING hi"), "$2\r\nhi\r\n");
    assert_eq!(
        w.cmd(c, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*2\r\n$1\r\nm\r\n$4\r\n6379\r\n"
    );
    assert_eq!(
        w.cmd(c, "sentinel get-master-addr-by-name nosuch"),
        "*-1\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL MYID"),
        format!("$40\r\n{}\r\n", "e".repeat(40))
    );
    let master = pairs(&[
        ("name", "mymaster"),
        ("ip", "m"),
        ("port", "6379"),
        ("runid", ""),
        ("flags", "master"),
        ("link-pending-commands", "0"),
        ("link-refcount", "1"),
        ("last-ping-sent", "0"),
        ("last-ok-ping-reply", "0"),
        ("last-ping-reply", "0"),
        ("down-after-milliseconds", "5000"),
        ("info-refresh", "0"),
        ("role-reported", "master"),
        ("role-reported-time", "0"),
        ("config-epoch", "0"),
        ("num-slaves", "1"),
        ("num-other-sentinels", "0"),
        ("quorum", "1"),
        ("failover-timeout", "60000"),
        ("parallel-syncs", "1"),
    ]);
    assert_eq!(w.cmd(c, "SENTINEL MASTER mymaster"), master);
    assert_eq!(w.cmd(c, "SENTINEL MASTERS"), format!("*1\r\n{master}"));
    let replica = pairs(&[
        ("name", "r:6379"),
        ("ip", "r"),
        ("port", "6379"),
        ("runid", ""),
        ("flags", "slave"),
        ("link-pending-commands", "0"),
        ("link-refcount", "1"),
        ("last-ping-sent", "0"),
        ("last-ok-ping-reply", "0"),
        ("last-ping-reply", "0"),
        ("down-after-milliseconds", "5000"),
        ("info-refresh", "0"),
        ("role-reported", "slave"),
        ("role-reported-time", "0"),
        ("master-link-down-time", "0"),
        ("master-link-status", "err"),
        ("master-host", "?"),
        ("master-port", "0"),
        ("slave-priority", "100"),
        ("slave-repl-offset", "0"),
        ("replica-announced", "1"),
    ]);
    assert_eq!(
        w.cmd(c, "SENTINEL REPLICAS mymaster"),
        format!("*1\r\n{replica}")
    );
    assert_eq!(
        w.cmd(c, "SENTINEL SLAVES mymaster"),
        format!("*1\r\n{replica}")
    );
    assert_eq!(w.cmd(c, "SENTINEL SENTINELS mymaster"), "*0\r\n");
    assert_eq!(
        w.cmd(c, "SENTINEL MASTER nosuch"),
        "-ERR No such master with that name\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL REPLICAS nosuch"),
        "-ERR No such master with that name\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL MASTER"),
        "-ERR wrong number of arguments for 'sentinel|master' command\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL MASTERS x"),
        "-ERR wrong number of arguments for 'sentinel|masters' command\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL NOPE"),
        "-ERR unknown subcommand 'NOPE'. Try SENTINEL HELP.\r\n"
    );
    assert_eq!(
        w.cmd(c, "SENTINEL"),
        "-ERR wrong number of arguments for 'sentinel' command\r\n"
    );
    assert_eq!(
        w.cmd(c, "GET k"),
        "-ERR unknown command 'GET', with args beginning with: 'k' \r\n"
    );
    assert_eq!(
        w.cmd(c, "ROLE"),
        "*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n"
    );
    let info = w.cmd(c, "INFO sentinel");
    assert!(
        info.contains("# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\n")
            && info.contains(
                "master0:name=mymaster,status=ok,address=m:6379,slaves=1,sentinels=1\r\n"
            ),
        "{info}"
    );
    // RESP3: instances are maps; HELLO says mode sentinel and has no role.
    let hello = w.cmd(c, "HELLO 3");
    assert!(
        hello.starts_with("%6\r\n") && hello.contains("$4\r\nmode\r\n$8\r\nsentinel\r\n"),
        "{hello}"
    );
    assert!(!hello.contains("role"), "{hello}");
    assert!(w.cmd(c, "SENTINEL MASTER mymaster").starts_with("%20\r\n"));
    assert_eq!(
        w.cmd(c, "QUIT"),
        "-ERR unknown command 'QUIT', with args beginning with: \r\n",
        "Sentinel 7.0 has no QUIT"
    );
    w.s.handle_closed(w.now, c);
    assert_eq!(w.s.connected_clients(), 0);
}

#[test]
fn subscribers_get_every_event_through_a_pattern_and_the_switch_through_its_channel() {
    let mut w = World::new();
    let all = w.s.accept(w.now);
    let one = w.s.accept(w.now);
    w.cmd(all, "PSUBSCRIBE *");
    w.cmd(one, "SUBSCRIBE +switch-master");
    // RESP2 subscribers may only (un)subscribe, PING, QUIT, RESET.
    assert_eq!(
        w.cmd(one, "SENTINEL MASTERS"),
        "-ERR Can't execute 'sentinel': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(w.cmd(one, "PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    w.run_until(ms(1000));
    w.set_alive(&a("m"), false);
    w.run_until(ms(20_000));
    let mut out = Vec::new();
    let _ = w.s.take_output(all, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("pmessage").count(), w.events.len());
    assert!(
        text.contains("*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$6\r\n+sdown\r\n"),
        "{text}"
    );
    let _ = w.s.take_output(one, &mut out);
    assert_eq!(String::from_utf8_lossy(&out).matches("message").count(), 1);
}

#[test]
fn new_instances_are_pinged_at_the_first_tick_so_a_short_down_after_keeps_them_up() {
    // Found by the side-by-side failover against real servers: an instance starts with an
    // unanswered-PING clock (Redis's createInstanceLink), so the first PING must go out at
    // once, as sentinelReconnectInstance sends it, not a ping period later.
    let mut cfg = MonitorConfig::new("mymaster", a("m"), vec![a("r")]);
    cfg.down_after_ms = 1000;
    let mut w = World::new();
    w.s = Sentinel::new(SentinelConfig {
        masters: vec![cfg],
        ..SentinelConfig::default()
    });
    w.run_until(ms(10_000));
    assert!(w.events.is_empty(), "{:?}", w.events);
    assert_eq!(w.pings.first().map(|p| p.0), Some(Duration::ZERO));
}

#[test]
fn periods_and_delays_are_configuration() {
    let mut w = World::new();
    let mut cfg = MonitorConfig::new("mymaster", a("m"), vec![a("r")]);
    cfg.down_after_ms = 5000;
    cfg.failover_timeout_ms = 60_000;
    w.s = Sentinel::new(SentinelConfig {
        masters: vec![cfg],
        timing: SentinelTiming {
            ping_period_ms: 500,
            info_period_ms: 2000,
            convert_wait_ms: 3000,
            ..SentinelTiming::default()
        },
        ..SentinelConfig::default()
    });
    w.run_until(ms(10_000));
    // PINGs every ~0.5 s to the live master.
    let to_master = w.pings.iter().filter(|(_, to)| *to == a("m")).count();
    assert!((16..=21).contains(&to_master), "{to_master}");
    w.set_alive(&a("m"), false);
    w.run_until(ms(30_000));
    assert!(
        w.event_time("+switch-master").is_some(),
        "{:?}",
        w.channels()
    );
    w.set_alive(&a("m"), true);
    let back = w.now;
    w.run_until(ms(45_000));
    let converted = w.event_time("+convert-to-slave").expect("converted");
    // Reported master on an INFO within 2 s of its return, converted on the first INFO more
    // than 3 s after that: 3-6 s after it is back (10-20 s with Redis's periods).
    assert!(
        converted > back + ms(3000) && converted <= back + ms(6200),
        "{converted:?} {back:?}"
    );
}

#[test]
fn a_replica_whose_master_link_is_down_gets_info_every_second() {
    let mut w = World::new();
    w.nodes.get_mut(&a("r")).unwrap().role = Reported::Replica {
        master: a("m"),
        link_up: false,
    };
    // Count INFOs to the replica over 10 s.
    let mut n = 0;
    let mut t = Duration::ZERO;
    while t < ms(10_000) {
        t = w.s.poll_timeout();
        w.now = t;
        w.s.handle_timeout(t);
        while let Some(o) = w.s.poll_output() {
            match o {
                SentinelOutput::Info { to } => {
                    let role = w.nodes[&to].role.clone();
                    if to == a("r") {
                        n += 1;
                    }
                    w.s.handle_info(t, &to, role);
                }
                SentinelOutput::Ping { to } => w.s.handle_ping_reply(t, &to),
                _ => {}
            }
        }
    }
    assert!((9..=11).contains(&n), "{n} INFOs in 10 s");
}

#[test]
fn a_hung_master_is_down_after_its_first_unanswered_ping_a_dead_one_after_its_last_reply() {
    // Hung: connected, silent (the caller reports nothing). Redis counts from the oldest
    // unanswered PING (`act_ping_time`); a closed link counts from the last valid reply.
    let mut w = World::new();
    w.run_until(ms(10_000));
    w.nodes.get_mut(&a("m")).unwrap().hung = true;
    while w.event_time("+sdown").is_none() {
        let t = w.now + ms(100);
        w.run_until(t);
    }
    // Hung, it is not flagged disconnected.
    let c = w.s.accept(w.now);
    let master = w.cmd(c, "SENTINEL MASTER mymaster");
    assert!(
        master.contains(&bulk("s_down,o_down,master,failover_in_progress")),
        "{master}"
    );
    let first_unanswered = w
        .pings
        .iter()
        .find(|(t, to)| *to == a("m") && *t > ms(10_000))
        .map(|(t, _)| *t)
        .unwrap();
    let sdown = w.event_time("+sdown").expect("+sdown");
    assert!(
        sdown > first_unanswered + ms(5000) && sdown <= first_unanswered + ms(5100),
        "{sdown:?} {first_unanswered:?}"
    );
}

#[test]
fn a_master_reporting_slave_for_down_after_plus_two_info_periods_is_down() {
    // Demoted without Sentinel (a plain REPLICAOF on the master): it still answers PINGs, but
    // its INFO says role:slave; sentinelCheckSubjectivelyDown calls that down after
    // down-after + 2 * INFO period (5 s + 20 s here), and the failover follows.
    let mut w = World::new();
    w.run_until(ms(1000));
    w.nodes.get_mut(&a("m")).unwrap().role = Reported::Replica {
        master: a("elsewhere"),
        link_up: false,
    };
    w.run_until(ms(60_000));
    // The master's INFO comes every 10 s (strictly more than 10 s after the last one): the
    // first after the change at 10.1 s, then down after 25 s more, at the next tick.
    let sdown = w.event_time("+sdown").expect("+sdown");
    assert!(sdown > ms(35_100) && sdown <= ms(35_200), "{sdown:?}");
    assert!(
        w.channels().contains(&"+switch-master"),
        "{:?}",
        w.channels()
    );
}

fn state_key(s: &Sentinel) -> u64 {
    use std::hash::Hasher as _;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash_state_key(&mut h);
    h.finish()
}

/// An explorer merges two states whose Sentinels give one key: a copy keeps it, and what
/// changes the Sentinel's future (its clock and instances, a failover, a client, half a
/// command read, an output not yet drained) moves it.
#[test]
fn the_state_key_moves_with_the_sentinels_future() {
    let mut w = World::new();
    w.run_until(ms(3_000));
    let base = w.s.clone();
    assert_eq!(state_key(&base), state_key(&base.clone()), "a copy");
    let mut changed: Vec<(&str, Sentinel)> = Vec::new();
    let mut s = base.clone();
    s.handle_timeout(ms(3_100));
    changed.push(("a tick", s));
    let mut s = base.clone();
    s.handle_ping_reply(ms(3_000), &a("m"));
    changed.push(("a PONG", s));
    let mut s = base.clone();
    let _ = s.failover(ms(3_000), "mymaster");
    changed.push(("a failover", s));
    let mut s = base.clone();
    let c = s.accept(ms(3_000));
    changed.push(("a client", s.clone()));
    s.handle_read(ms(3_000), c, b"*1\r\n");
    changed.push(("half a command", s));
    for (what, s) in &changed {
        assert_ne!(state_key(s), state_key(&base), "{what}");
    }
}
