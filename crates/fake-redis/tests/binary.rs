//! The `fake-redis` binary as a user meets it: command-line errors, a port in use, the
//! start-up fault flags, and the FAULT admin commands over real TCP, with the connection log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fake-redis");

/// Run the binary to completion; (exit code, stderr lines).
fn run_to_end(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run fake-redis");
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), err.lines().map(str::to_owned).collect())
}

#[test]
fn bad_arguments_are_one_line_with_redis_ranges_and_exit_2() {
    for (args, line) in [
        (
            &["--maxclients", "0"][..],
            "fake-redis: invalid value '0' for '--maxclients <N>': argument must be between 1 and 4294967295 inclusive (see --help)",
        ),
        (
            &["--maxclients", "-5"][..],
            "fake-redis: invalid value '-5' for '--maxclients <N>': argument must be between 1 and 4294967295 inclusive (see --help)",
        ),
        (
            &["--timeout", "-1"][..],
            "fake-redis: invalid value '-1' for '--timeout <SECONDS>': argument must be between 0 and 2147483647 inclusive (see --help)",
        ),
        (
            &["--timeout", "5s"][..],
            "fake-redis: invalid value '5s' for '--timeout <SECONDS>': argument couldn't be parsed into an integer (see --help)",
        ),
        (
            &["--nope"][..],
            "fake-redis: unexpected argument '--nope' found (see --help)",
        ),
    ] {
        let (code, lines) = run_to_end(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert_eq!(lines, vec![line.to_owned()], "{args:?}");
    }
}

#[test]
fn help_says_what_the_binary_is_for() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("A fake Redis 7.0 server for testing connection pools"));
    assert!(text.contains("--enable-fault-commands"));
}

#[test]
fn a_port_in_use_is_one_line_naming_the_address_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, lines) = run_to_end(&["--port", &port]);
    assert_eq!(code, Some(1));
    assert_eq!(
        lines,
        vec![format!(
            "fake-redis: cannot listen on 127.0.0.1:{port}: Address already in use"
        )]
    );
}

/// A running binary on an ephemeral port; its stderr lines arrive on `log`. Killed on drop.
struct Server {
    child: Child,
    addr: String,
    log: Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fake-redis");
        let stderr = child.stderr.take().expect("piped");
        let (tx, log) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = log
            .recv_timeout(Duration::from_secs(10))
            .expect("a listening line");
        let addr = first
            .split_once("listening on ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Self { child, addr, log }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    /// Wait for a log line containing `needle`.
    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send one inline command and read one reply line (enough for these replies).
fn cmd(s: &mut TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    read_reply(s)
}

fn read_reply(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut b) {
            Ok(1) => got.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn is_eof(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn fault_commands_are_unknown_without_the_flag() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(
        cmd(&mut c, "FAULT KILLALL"),
        "-ERR unknown command 'FAULT', with args beginning with: 'KILLALL' \r\n"
    );
}

#[test]
fn fault_commands_over_tcp_and_the_close_log() {
    let server = Server::start(&["--enable-fault-commands"]);
    let mut admin = server.connect();
    let mut app = server.connect();
    assert_eq!(cmd(&mut app, "SET k v"), "+OK\r\n");

    // Latency: a reply waits 300 ms per command.
    assert_eq!(cmd(&mut admin, "FAULT LATENCY 300"), "+OK\r\n");
    let t = Instant::now();
    assert_eq!(cmd(&mut app, "PING"), "+PONG\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(cmd(&mut admin, "FAULT LATENCY 0"), "+OK\r\n");

    assert_eq!(cmd(&mut admin, "FAULT READONLY on"), "+OK\r\n");
    assert_eq!(
        cmd(&mut app, "SET k w"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(cmd(&mut admin, "FAULT READONLY off"), "+OK\r\n");

    // Refuse: the TCP connect succeeds, then EOF with nothing written.
    assert_eq!(cmd(&mut admin, "FAULT REFUSE on"), "+OK\r\n");
    let mut refused = server.connect();
    assert!(is_eof(&mut refused));
    let line = server.wait_log("refused");
    assert!(line.ends_with("(fault: refuse connections)"), "{line}");
    assert_eq!(cmd(&mut admin, "FAULT REFUSE off"), "+OK\r\n");
    // A timed refusal ends by itself.
    assert_eq!(cmd(&mut admin, "FAULT REFUSE on 300"), "+OK\r\n");
    let mut refused = server.connect();
    assert!(is_eof(&mut refused));
    std::thread::sleep(Duration::from_millis(400));
    let mut back = server.connect();
    assert_eq!(cmd(&mut back, "PING"), "+PONG\r\n");
    drop(back);

    // Kill all: the other client reads EOF; the log names its address and the reason.
    let app_addr = app.local_addr().expect("addr").to_string();
    assert_eq!(cmd(&mut admin, "FAULT KILLALL"), ":1\r\n");
    assert!(is_eof(&mut app));
    let line = server.wait_log(&format!("addr={app_addr} ("));
    assert!(line.ends_with("(fault: kill all clients)"), "{line}");

    // Restart: the keyspace is gone and the sender is closed after +OK.
    let mut app = server.connect();
    assert_eq!(cmd(&mut app, "GET k"), "$1\r\n");
    assert_eq!(read_reply(&mut app), "v\r\n");
    assert_eq!(cmd(&mut admin, "FAULT RESTART"), "+OK\r\n");
    assert!(is_eof(&mut admin));
    assert!(is_eof(&mut app));
    server.wait_log("(fault: restart)");
    let mut again = server.connect();
    assert_eq!(cmd(&mut again, "GET k"), "$-1\r\n");

    // A client that goes away, and one that QUITs, are logged with their reason too.
    let gone_addr = again.local_addr().expect("addr").to_string();
    drop(again);
    let line = server.wait_log(&format!("addr={gone_addr} ("));
    assert!(line.ends_with("(client closed connection)"), "{line}");
    let mut q = server.connect();
    let q_addr = q.local_addr().expect("addr").to_string();
    assert_eq!(cmd(&mut q, "QUIT"), "+OK\r\n");
    let line = server.wait_log(&format!("addr={q_addr} ("));
    assert!(line.ends_with("(QUIT)"), "{line}");
}

#[test]
fn a_client_over_maxclients_reads_the_error_and_is_logged() {
    let server = Server::start(&["--maxclients", "1"]);
    let _first = server.connect();
    let mut second = server.connect();
    assert_eq!(
        read_reply(&mut second),
        "-ERR max number of clients reached\r\n"
    );
    let line = server.wait_log("rejected");
    assert!(line.ends_with("(max number of clients reached)"), "{line}");
}

#[test]
fn an_idle_client_is_closed_by_the_timeout_and_the_log_says_so() {
    let server = Server::start(&["--timeout", "1"]);
    let mut c = server.connect();
    let addr = c.local_addr().expect("addr").to_string();
    // Idle more than 1 whole second: closed within about 2 s, nothing written.
    assert!(is_eof(&mut c));
    let line = server.wait_log(&format!("addr={addr} ("));
    assert!(line.ends_with("(idle timeout)"), "{line}");
}

#[test]
fn start_up_fault_flags() {
    let server = Server::start(&["--readonly", "--latency-ms", "200"]);
    server.wait_log("faults at start: latency 200 ms per command, read-only");
    let mut c = server.connect();
    let t = Instant::now();
    assert_eq!(
        cmd(&mut c, "SET k v"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert!(t.elapsed() >= Duration::from_millis(200));

    let server = Server::start(&["--refuse-connections"]);
    let mut c = server.connect();
    assert!(is_eof(&mut c));
}
