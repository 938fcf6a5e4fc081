//! Servers the tests start and own: a real `redis-server` child process and the fake in-process.
//!
//! Every server listens on a free loopback port and is stopped when its handle is dropped, so a
//! failing test never leaves a server behind.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fake_redis::{FakeRedis, ServerConfig};

/// Env var that turns a missing `redis-server` from a failure into a printed skip.
pub const SKIP_ENV: &str = "POOLSIM_SKIP_REDIS_DIFF";

/// How long a server gets to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A port that was free a moment ago on 127.0.0.1 and that this process has not handed out
/// before (so two servers started in parallel by one test binary never race for one port).
pub fn free_port() -> io::Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..100 {
        let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // A poisoned lock only means another test panicked while holding it; the set is fine.
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::other("no fresh free port after 100 tries"))
}

/// The `redis-server --version` line, or `None` when it cannot be run.
pub fn redis_server_version() -> Option<String> {
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a test that needs `redis-server` should run.
///
/// Returns `true` when it is installed. When it is missing the test fails with a message saying
/// how to install it, unless `POOLSIM_SKIP_REDIS_DIFF=1`, in which case this prints that the
/// test is skipped and returns `false`. Never skips silently.
pub fn require_redis_server(test: &str) -> bool {
    if redis_server_version().is_some() {
        return true;
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        // Straight to the stderr handle, not `eprintln!`: libtest captures the print macros of
        // passing tests, and a skip must show without --nocapture.
        let _ = writeln!(
            io::stderr(),
            "SKIPPED {test}: redis-server is not installed and {SKIP_ENV}=1 is set"
        );
        return false;
    }
    panic!(
        "{test} needs the real redis-server (Debian: apt-get install -y redis-server redis-tools; \
         scripts/test.sh installs it). Set {SKIP_ENV}=1 to skip this test explicitly."
    );
}

/// A real `redis-server` child process on a free loopback port; killed on drop.
///
/// Its working directory (`--dir`) is a directory of its own under the system's temporary
/// directory, removed on drop: a replica writes the RDB it receives there (`dump.rdb`), never
/// into the checkout.
pub struct RealRedis {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl RealRedis {
    /// Starts `redis-server` with the usual test flags plus `extra` (e.g. `["--requirepass",
    /// "s3cret"]`) and waits until it accepts a connection.
    pub fn start(extra: &[&str]) -> io::Result<Self> {
        let mut last_err = None;
        // A free port can be taken by someone else between the probe and the bind: retry.
        for _ in 0..5 {
            let port = free_port()?;
            match Self::start_on(port, extra) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// Starts it on `port` (e.g. a server coming back where a killed one listened).
    pub fn start_on(port: u16, extra: &[&str]) -> io::Result<Self> {
        let port_s = port.to_string();
        let dir = std::env::temp_dir().join(format!("poolsim-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let dir_s = dir.to_string_lossy().into_owned();
        let mut args = vec![
            "--dir",
            &dir_s,
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--enable-debug-command",
            "local",
            "--loglevel",
            "warning",
        ];
        args.extend_from_slice(extra);
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server on port {port} exited at start: {status}"
                )));
            }
            if let Ok(stream) = StdStream::connect(server.addr) {
                // Someone else may hold the port (our child then exits with "address in use"):
                // only our child reports our child's pid.
                let password = extra
                    .iter()
                    .position(|a| *a == "--requirepass")
                    .and_then(|i| extra.get(i + 1).copied());
                if server_pid(stream, password) == Some(server.child.id()) {
                    return Ok(server);
                }
                return Err(io::Error::other(format!(
                    "port {port} is served by another process"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "redis-server on port {port} did not accept within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The readiness probe: asks the server on `stream` for its `process_id` (INFO server),
/// authenticating first when `password` is given, then sends QUIT and reads until EOF, so the
/// probe client is gone (not listed, not counted) before a test starts.
fn server_pid(mut stream: StdStream, password: Option<&str>) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = Vec::new();
    if let Some(pw) = password {
        req.extend(crate::wire::encode(&["AUTH", pw]));
    }
    req.extend(crate::wire::encode(&["INFO", "server"]));
    req.extend(crate::wire::encode(&["QUIT"]));
    stream.write_all(&req).ok()?;
    let mut buf = Vec::new();
    // Until EOF (bounded by the read timeout): the server closes after QUIT's +OK.
    stream.read_to_end(&mut buf).ok()?;
    let mut at = 0;
    let mut replies = Vec::new();
    while let Ok(Some(len)) = crate::resp::frame_len(&buf[at..]) {
        replies.push(&buf[at..at + len]);
        at += len;
    }
    let info_at = usize::from(password.is_some());
    let info = String::from_utf8_lossy(replies.get(info_at)?).to_string();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The fake served in-process over tokio on a free loopback port; shut down on drop.
pub struct FakeServer {
    fake: FakeRedis,
    addr: SocketAddr,
}

impl FakeServer {
    /// Binds a loopback listener, spawns `serve_tokio` on the current runtime, and runs the
    /// same probe as [`RealRedis::start`] (one connection: AUTH when a password is set, then
    /// `INFO server`, then close), so both servers' counters (connections, commands) start
    /// equal.
    pub async fn start(config: ServerConfig) -> io::Result<Self> {
        let password = config.requirepass.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeRedis::new(config);
        let serving = fake.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve_tokio(listener).await {
                eprintln!("fake-redis serve_tokio on {addr} ended with {e}");
            }
        });
        let probe = tokio::task::spawn_blocking(move || {
            let stream = StdStream::connect(addr)?;
            server_pid(stream, password.as_deref())
                .map(drop)
                .ok_or_else(|| io::Error::other("the fake did not answer INFO server"))
        });
        probe.await.map_err(io::Error::other)??;
        // The probe saw EOF; wait (bounded) until the fake has also dropped it from its count.
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while fake.connected_clients() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Self { fake, addr })
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fake itself, for its direct API (stats, config_set, ...).
    pub fn fake(&self) -> &FakeRedis {
        &self.fake
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.fake.shutdown();
    }
}

/// The fake's configuration matching `redis-server` started with `--requirepass` when given.
pub fn fake_config(requirepass: Option<&str>) -> ServerConfig {
    ServerConfig {
        requirepass: requirepass.map(str::to_string),
        ..ServerConfig::default()
    }
}

/// A real Redis Sentinel: `redis-server <config> --sentinel` (the same binary as
/// `redis-sentinel`; Debian's `redis-sentinel` package only adds a symlink and a service), on
/// a free loopback port, monitoring `mymaster` at `127.0.0.1:<master_port>` with quorum 1,
/// `down-after-milliseconds` as given, `failover-timeout 60000`. Its configuration file (Sentinel
/// requires a writable one) lives in a directory of its own, removed on drop with the process.
pub struct RealSentinel {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

/// The monitored master's name in [`RealSentinel`].
pub const SENTINEL_MASTER_NAME: &str = "mymaster";

impl RealSentinel {
    /// Starts it and waits until it accepts connections (not until it has reached the
    /// master: see the differential test's wait).
    pub fn start(master_port: u16, down_after_ms: u64) -> io::Result<Self> {
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("poolsim-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nloglevel warning\n\
                 sentinel monitor {SENTINEL_MASTER_NAME} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER_NAME} {down_after_ms}\n\
                 sentinel failover-timeout {SENTINEL_MASTER_NAME} 60000\n",
                dir = dir.display()
            ),
        )?;
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut s = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = s.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server --sentinel on port {port} exited at start: {status}"
                )));
            }
            if let Ok(stream) = StdStream::connect(s.addr) {
                if sentinel_pid(stream) == Some(s.child.id()) {
                    return Ok(s);
                }
                return Err(io::Error::other(format!(
                    "port {port} is served by another process"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "redis-server --sentinel on port {port} did not accept within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The readiness probe for a Sentinel: its `process_id` from `INFO server`. Not
/// [`server_pid`]'s probe: Sentinel 7.0 has no QUIT (`-ERR unknown command 'QUIT'`), so this
/// one reads one whole reply and drops the connection.
fn sentinel_pid(mut stream: StdStream) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(&crate::wire::encode(&["INFO", "server"]))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let len = loop {
        if let Ok(Some(len)) = crate::resp::frame_len(&buf) {
            break len;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    String::from_utf8_lossy(&buf[..len])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
}

impl Drop for RealSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
