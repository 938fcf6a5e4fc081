//! The pools under test, one file per pool, each an implementation of
//! [`crate::adapter::PoolUnderTest`] and [`crate::adapter::PoolFactory`]:
//!
//! - [`ours`]: this project's `pool::Pool` (pool-core's state machine) with any profile.
//! - [`bb8`]: bb8 0.9, manager mirroring redis-rs's own bb8 manager (`redis/src/bb8.rs`).
//! - [`deadpool`]: deadpool 0.12 (`Runtime::Tokio1`), manager mirroring deadpool-redis.
//! - [`mobc`]: mobc 0.9, manager mirroring mobc-redis.
//! - [`redis_rs`]: redis-rs's `aio::ConnectionManager`, MODELLED: it dials real sockets
//!   itself, so its reconnect logic is re-implemented over a `MultiplexedConnection` (see the
//!   module).
//!
//! The real crates' adapters share [`Dialer`]: a turmoil TCP connect to the fake server and
//! redis-rs's `MultiplexedConnection::new_with_config` over it, as redis-rs's `Client` would
//! set it up (its `CLIENT SETINFO` pipeline included). The manager of each crate is the only
//! code written per crate; the pool's own code paths and defaults are the crate's.
//!
//! Each adapter maps the scenario's pool-core knobs onto the crate's builder
//! ([`Knobs::Mapped`]) or leaves the crate's defaults alone ([`Knobs::CrateDefaults`]); a knob
//! the crate lacks is reported as a finding (`knob.<name>`), never silently dropped.
//! `sims::run_pool` (in the runner, above this module) runs a scenario with any of them by
//! name ([`PoolChoice`]).

pub mod bb8;
pub mod deadpool;
pub mod mobc;
pub mod ours;
pub mod redis_rs;

use crate::adapter::{CmdError, GetError, PoolContext, Reply};
use crate::report::Finding;
use crate::trace::Trace;
use crate::world::sim_now_us;
use redis::aio::MultiplexedConnection;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How an adapter configures its crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Knobs {
    /// The scenario's knobs mapped onto the crate's builder where it has them; the others are
    /// reported as `knob.*` findings.
    #[default]
    Mapped,
    /// The crate's own defaults, whatever the scenario says (what a user who did not
    /// configure the pool gets).
    CrateDefaults,
}

/// A pool `poolsim replay --pool` can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolChoice {
    /// This project's pool with each scenario's own profile.
    Ours,
    /// This project's pool with the named profile instead of the scenario's.
    OursProfile(String),
    /// bb8 0.9.
    Bb8,
    /// deadpool 0.12.
    Deadpool,
    /// mobc 0.9.
    Mobc,
    /// redis-rs's `ConnectionManager`, modelled (see [`redis_rs`]).
    RedisRs,
}

impl PoolChoice {
    /// Every real crate, in the order tables show them.
    pub const REAL_CRATES: [Self; 4] = [Self::Bb8, Self::Deadpool, Self::Mobc, Self::RedisRs];

    /// `ours`, `ours:<profile>`, `bb8`, `deadpool`, `mobc`, `redis-rs`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "ours" => Ok(Self::Ours),
            "bb8" => Ok(Self::Bb8),
            "deadpool" => Ok(Self::Deadpool),
            "mobc" => Ok(Self::Mobc),
            "redis-rs" => Ok(Self::RedisRs),
            other => match other.strip_prefix("ours:") {
                Some(p) if pool_core::Profile::by_name(p).is_ok() => {
                    Ok(Self::OursProfile(p.to_owned()))
                }
                Some(p) => Err(format!("no pool profile {p:?}")),
                None => Err(format!(
                    "no pool {other:?} (ours, ours:<profile>, bb8, deadpool, mobc, redis-rs, all)"
                )),
            },
        }
    }

    /// The name `--pool` takes.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Ours => "ours".to_owned(),
            Self::OursProfile(p) => format!("ours:{p}"),
            Self::Bb8 => "bb8".to_owned(),
            Self::Deadpool => "deadpool".to_owned(),
            Self::Mobc => "mobc".to_owned(),
            Self::RedisRs => "redis-rs".to_owned(),
        }
    }
}

/// Why a connect failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnError {
    /// The server refused the client: `-ERR max number of clients reached` (seen on the wire
    /// by [`Dialer`]'s tap, whatever error redis-rs made of it).
    MaxClients,
    /// The TCP connect or the setup did not finish within the connection timeout.
    Timeout,
    /// Anything redis-rs or the socket reported.
    Redis(redis::RedisError),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MaxClients => f.write_str("max number of clients reached"),
            Self::Timeout => f.write_str("connect timed out"),
            Self::Redis(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnError {}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        Self::Redis(e.into())
    }
}

impl From<redis::RedisError> for ConnError {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(e)
    }
}

impl ConnError {
    /// The runner's view of a connect that failed for a request.
    #[must_use]
    pub fn get_error(&self) -> GetError {
        match self {
            Self::MaxClients => GetError::MaxClients,
            other => GetError::ConnectFailed(other.to_string()),
        }
    }
}

/// Counts of what a [`Dialer`] did, in simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialStats {
    /// Connects attempted.
    pub attempts: u64,
    /// Connects that failed.
    pub failures: u64,
    /// When the current run of consecutive failures began (µs of simulated time).
    pub failing_since_us: Option<u64>,
    /// The longest run of consecutive failures, first to last (µs of simulated time).
    pub longest_failing_us: u64,
    /// Failures in that longest run.
    pub longest_failing_count: u64,
    current_failing_count: u64,
}

/// Dials the fake server over turmoil TCP and sets up a redis-rs `MultiplexedConnection` on
/// the stream, as `redis::Client::get_multiplexed_async_connection` would over a real socket:
/// the same `RedisConnectionInfo` defaults (RESP2, the `CLIENT SETINFO` pipeline whose
/// replies are ignored, `AUTH` when a password is set), and its default connection timeout of
/// 1 s (`redis/src/client.rs:184`) around the connect and the setup.
///
/// Traces `pool.connect` and `pool.connect_failed` (error `cancelled` for a connect whose
/// caller dropped it before it ended: a crate's own timeout, a get past its deadline); each
/// [`RedisConn`] traces `pool.close` when the pool drops it. Counts the connections open or
/// being opened ([`Dialer::open`]), for an adapter's `PoolSnapshot::connections`: the crates'
/// own counts leave out the connects in flight, which the trace and this project's pool count
/// (the oracle found 300 against 400 in the explosion). Refusals for `maxclients` are counted
/// where the runner expects them ([`PoolContext::refusals_seen`]).
#[derive(Clone, Debug)]
pub struct Dialer {
    server: (String, u16),
    discovery: Option<crate::adapter::SentinelTarget>,
    password: Option<String>,
    trace: Trace,
    label: String,
    refusals_seen: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    stats: Arc<Mutex<DialStats>>,
    connection_timeout: Option<Duration>,
    /// Connections open or being opened: up at each connect's start, down at its failure or
    /// cancellation, or when its [`RedisConn`] is dropped.
    open: Arc<AtomicU64>,
}

/// A connect under way: when it is dropped without an outcome (its future was cancelled), it
/// traces `pool.connect_failed` with error `cancelled`; unless a connection came of it, it
/// takes the connect off [`Dialer::open`].
struct Dialing<'a> {
    dialer: &'a Dialer,
    id: u64,
    /// `None` while under way (dropped so: cancelled); `Some(true)` a connection was made (the
    /// [`RedisConn`] counts itself now); `Some(false)` it failed (traced).
    outcome: Option<bool>,
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        if self.outcome == Some(true) {
            return;
        }
        self.dialer.open.fetch_sub(1, Ordering::Relaxed);
        if self.outcome.is_none() {
            // Outside a host (the simulation torn down) there is no run to trace into.
            if let Some(t) = turmoil::sim_elapsed() {
                self.dialer
                    .trace
                    .event(
                        t.as_micros() as u64,
                        &self.dialer.label,
                        "pool.connect_failed",
                    )
                    .num("conn", self.id)
                    .str("error", "cancelled")
                    .write();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Dialer {
    /// A dialer for the pool `label` of `ctx`.
    #[must_use]
    pub fn new(ctx: &PoolContext, label: &str) -> Self {
        Self {
            server: ctx.server.clone(),
            discovery: ctx.discovery.clone(),
            password: ctx.password.clone(),
            trace: ctx.trace.clone(),
            label: label.to_owned(),
            refusals_seen: Arc::clone(&ctx.refusals_seen),
            next_id: Arc::new(AtomicU64::new(1)),
            stats: Arc::new(Mutex::new(DialStats::default())),
            connection_timeout: Some(Duration::from_secs(1)),
            open: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Connections open or being opened now: every connect started, less those that failed or
    /// were cancelled and the connections dropped since (what the trace's `pool.connect`,
    /// `pool.connect_failed` and `pool.close` count; `PoolSnapshot::connections`).
    #[must_use]
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Another connection timeout (`None`: none).
    #[must_use]
    pub fn with_connection_timeout(mut self, t: Option<Duration>) -> Self {
        self.connection_timeout = t;
        self
    }

    /// The pool's label in the trace.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The run's trace.
    #[must_use]
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Whether the pool's client has learned that `conn`'s server is no longer the master
    /// and its profile drops such connections (`on_address_change` `drop_idle` or
    /// `drop_all`): the managers of bb8 and deadpool refuse it when they are asked about it
    /// (bb8's `is_valid` on checkout and `has_broken` on release, deadpool's `recycle` on
    /// checkout). Sets the connection's close reason to `address_changed` when it is.
    #[must_use]
    pub fn refuses(&self, conn: &mut RedisConn) -> bool {
        let stale = match (&self.discovery, conn.peer) {
            (Some(d), Some(peer)) => d.drops() && d.is_stale(peer),
            _ => false,
        };
        if stale {
            conn.close_reason = "address_changed";
            self.trace
                .event(sim_now_us(), &self.label, "client.drop_stale")
                .num("conn", conn.id)
                .write();
        }
        stale
    }

    /// What it did so far.
    #[must_use]
    pub fn stats(&self) -> DialStats {
        *lock(&self.stats)
    }

    /// A new connection, or why not.
    pub async fn connect(&self) -> Result<RedisConn, ConnError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.trace
            .event(sim_now_us(), &self.label, "pool.connect")
            .num("conn", id)
            .write();
        lock(&self.stats).attempts += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        let mut dialing = Dialing {
            dialer: self,
            id,
            outcome: None,
        };
        let refused = Arc::new(AtomicBool::new(false));
        let dial = async {
            let (host, port) = match &self.discovery {
                None => self.server.clone(),
                Some(d) => discover_master(d, &self.trace, &self.label).await?,
            };
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            let peer = stream.peer_addr().ok();
            let port = stream.local_addr().ok().map(|a| a.port());
            let tap = Tap {
                inner: stream,
                refused: Arc::clone(&refused),
                first: true,
            };
            let mut info = redis::RedisConnectionInfo::default();
            if let Some(p) = &self.password {
                info = info.set_password(p);
            }
            // The response timeout is redis-rs's default (500 ms), on tokio time.
            let (conn, driver) = MultiplexedConnection::new_with_config(
                &info,
                tap,
                redis::AsyncConnectionConfig::new(),
            )
            .await?;
            tokio::spawn(driver);
            Ok::<_, ConnError>((conn, port, peer))
        };
        let r = match self.connection_timeout {
            Some(t) => tokio::time::timeout(t, dial)
                .await
                .unwrap_or(Err(ConnError::Timeout)),
            None => dial.await,
        };
        let r = match r {
            Err(_) if refused.load(Ordering::Relaxed) => Err(ConnError::MaxClients),
            other => other,
        };
        let now = sim_now_us();
        match r {
            Ok((conn, local_port, peer)) => {
                let mut s = lock(&self.stats);
                s.failing_since_us = None;
                s.current_failing_count = 0;
                drop(s);
                dialing.outcome = Some(true);
                Ok(RedisConn {
                    open: Arc::clone(&self.open),
                    id,
                    local_port,
                    peer,
                    conn,
                    trace: self.trace.clone(),
                    label: self.label.clone(),
                    created_us: now,
                    idle_since_us: now,
                    close_reason: "dropped",
                })
            }
            Err(e) => {
                if matches!(e, ConnError::MaxClients) {
                    self.refusals_seen.fetch_add(1, Ordering::Relaxed);
                }
                let mut s = lock(&self.stats);
                s.failures += 1;
                s.current_failing_count += 1;
                let since = *s.failing_since_us.get_or_insert(now);
                if now - since >= s.longest_failing_us {
                    s.longest_failing_us = now - since;
                    s.longest_failing_count = s.current_failing_count;
                }
                drop(s);
                dialing.outcome = Some(false);
                self.trace
                    .event(now, &self.label, "pool.connect_failed")
                    .num("conn", id)
                    .str("error", &e.to_string())
                    .write();
                Err(e)
            }
        }
    }
}

/// A redis-rs connection made by a [`Dialer`], with its id for the trace and the simulated
/// instants an adapter needs to tell what its crate did. Dropping it (the pool closing it)
/// traces `pool.close` with the reason the adapter last set (`dropped` when it knows none).
pub struct RedisConn {
    /// Its dialer's count of open connections ([`Dialer::open`]), down by one when it drops.
    open: Arc<AtomicU64>,
    id: u64,
    local_port: Option<u16>,
    /// The server's address (for a client that drops connections to an old master).
    peer: Option<std::net::SocketAddr>,
    conn: MultiplexedConnection,
    trace: Trace,
    label: String,
    /// When it was made (µs of simulated time).
    pub created_us: u64,
    /// When it was last given back healthy (µs of simulated time; creation at first).
    pub idle_since_us: u64,
    /// Why the pool will drop it, as far as the adapter knows.
    pub close_reason: &'static str,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn").field("id", &self.id).finish()
    }
}

impl Drop for RedisConn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        // Outside a host (the simulation torn down) there is no run to trace into.
        if let Some(t) = turmoil::sim_elapsed() {
            self.trace
                .event(t.as_micros() as u64, &self.label, "pool.close")
                .num("conn", self.id)
                .str("reason", self.close_reason)
                .write();
        }
    }
}

impl RedisConn {
    /// The id for the trace (per pool, from 1).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The local port of its TCP connection (the trace names a connection `{pod}:{port}`,
    /// as the server's events do).
    #[must_use]
    pub fn local_port(&self) -> Option<u16> {
        self.local_port
    }

    /// The redis-rs connection, shared.
    #[must_use]
    pub fn conn_ref(&self) -> &MultiplexedConnection {
        &self.conn
    }

    /// The redis-rs connection.
    pub fn conn(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }

    /// Runs one command.
    pub async fn run(&mut self, args: &[&[u8]]) -> Result<Reply, CmdError> {
        run_on(&mut self.conn, args).await
    }

    /// bb8-redis's check (`redis/src/bb8.rs`, `is_valid`): `PING` must answer `PONG`.
    pub async fn ping_pong(&mut self) -> Result<(), redis::RedisError> {
        let pong: String = redis::Cmd::ping().query_async(&mut self.conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err((redis::ErrorKind::UnexpectedReturnType, "ping request", pong).into())
        }
    }
}

/// Runs one command on a redis-rs connection and maps the reply and the error as the runner
/// reads them.
pub async fn run_on(conn: &mut MultiplexedConnection, args: &[&[u8]]) -> Result<Reply, CmdError> {
    let mut cmd = redis::Cmd::new();
    for a in args {
        cmd.arg(*a);
    }
    match cmd.query_async::<redis::Value>(conn).await {
        Ok(v) => Ok(reply_of(v)),
        Err(e) => Err(cmd_error(&e)),
    }
}

pub(crate) fn reply_of(v: redis::Value) -> Reply {
    use redis::Value;
    match v {
        Value::Okay => Reply::Simple("OK".to_owned()),
        Value::SimpleString(s) => Reply::Simple(s),
        Value::BulkString(b) => Reply::Bulk(Some(b)),
        Value::Nil => Reply::Bulk(None),
        Value::Int(i) => Reply::Int(i),
        other => Reply::Other(format!("{other:?}")),
    }
}

/// The runner's view of a redis-rs command error.
#[must_use]
pub fn cmd_error(e: &redis::RedisError) -> CmdError {
    let text = e.to_string();
    if text.contains("max number of clients reached") {
        CmdError::MaxClients
    } else if text.contains("You can't write against a read only replica") {
        // redis-rs names the kind in its own words (`ReadOnly: ...`): the server's text.
        CmdError::Server("READONLY You can't write against a read only replica.".to_owned())
    } else if e.is_timeout() {
        // redis-rs's response timeout (500 ms by default): the connection stays usable for
        // redis-rs, but the runner releases it as broken, as an application would.
        CmdError::Other(format!("response timeout: {text}"))
    } else if e.is_connection_dropped() || e.is_io_error() || e.is_unrecoverable_error() {
        CmdError::Closed(text)
    } else if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError)
        || matches!(e.kind(), redis::ErrorKind::Server(_))
    {
        CmdError::Server(text)
    } else {
        CmdError::Other(text)
    }
}

/// The turmoil stream under redis-rs, watching the first bytes the server sends for its
/// `maxclients` refusal (redis-rs ignores the error reply to its `CLIENT SETINFO` pipeline
/// and reports only the EOF after it). It only looks; every byte passes unchanged.
struct Tap {
    inner: turmoil::net::TcpStream,
    refused: Arc<AtomicBool>,
    first: bool,
}

const REFUSAL: &[u8] = b"-ERR max number of clients reached";

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.first && buf.filled().len() > before {
            self.first = false;
            let got = &buf.filled()[before..];
            let n = got.len().min(REFUSAL.len());
            if got[..n] == REFUSAL[..n] {
                self.refused.store(true, Ordering::Relaxed);
            }
        }
        r
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Watches for a connection that failed with a connection error and was handed out again:
/// a pool that cannot tell a dead connection (redis-rs's managers say `has_broken` false,
/// `validate` true) and does not check on checkout keeps it forever.
#[derive(Debug, Default)]
pub struct DeadWatch {
    /// Ids released after a connection error.
    dead: Vec<u64>,
    /// Dead ids handed out again.
    reused_ids: Vec<u64>,
    /// Checkouts of a connection already known dead.
    pub reused: u64,
}

impl DeadWatch {
    /// A connection was handed out.
    pub fn got(&mut self, id: u64) {
        if self.dead.contains(&id) {
            self.reused += 1;
            if !self.reused_ids.contains(&id) {
                self.reused_ids.push(id);
            }
        }
    }

    /// A connection was given back after a connection error.
    pub fn died(&mut self, id: u64) {
        if !self.dead.contains(&id) {
            self.dead.push(id);
        }
    }

    /// The finding, if a dead connection was handed out again.
    #[must_use]
    pub fn finding(&self, crate_name: &str, why: &str) -> Option<Finding> {
        (self.reused > 0).then(|| {
            Finding::new(
                &format!("{crate_name}.dead_connection_reused"),
                format!(
                    "{} connections that failed with a connection error were handed out again, \
                     {} checkouts in all ({why})",
                    self.reused_ids.len(),
                    self.reused
                ),
            )
        })
    }
}

/// Knobs of a pool-core config that differ from `bare` and that an adapter did not map:
/// one `knob.<name>` finding each, naming the crate.
#[derive(Debug, Default)]
pub struct KnobReport {
    findings: Vec<Finding>,
}

impl KnobReport {
    /// Records that `crate_name` lacks `knob` (set to `value` by the scenario); `what` says
    /// what the adapter did instead.
    pub fn lacks(&mut self, crate_name: &str, knob: &str, value: &str, what: &str) {
        self.findings.push(Finding::new(
            &format!("knob.{knob}"),
            format!("{crate_name} has no {knob} (scenario: {value}); {what}"),
        ));
    }

    /// The findings.
    #[must_use]
    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }
}

/// `240 s`, `1.5 s`, `200 ms`.
#[must_use]
pub fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms % 100 == 0 {
        let s = ms as f64 / 1000.0;
        format!("{s} s")
    } else {
        format!("{ms} ms")
    }
}

/// The knobs of pool-core's `config` none of the real crates has, named when set:
/// keepalive, `max_concurrent_connects`, `connect_backoff`, `max_waiters`, lifetime jitter,
/// fairness other than the crate's own.
pub(crate) fn common_lacks(crate_name: &str, c: &pool_core::Config, r: &mut KnobReport) {
    if let Some(k) = c.keepalive {
        r.lacks(
            crate_name,
            "keepalive",
            &format!("{:?} every {}", k.scope, secs(k.interval)),
            "ran without a background ping",
        );
    }
    if let Some(n) = c.max_concurrent_connects {
        r.lacks(
            crate_name,
            "max_concurrent_connects",
            &n.to_string(),
            "connects are not limited",
        );
    }
    if let Some(n) = c.max_waiters {
        r.lacks(
            crate_name,
            "max_waiters",
            &n.to_string(),
            "the wait queue is unbounded",
        );
    }
    if let Some(j) = c.lifetime_jitter {
        r.lacks(crate_name, "lifetime_jitter", &secs(j), "no jitter");
    }
    if let pool_core::CheckWhen::IfIdleFor(d) = c.check_on_checkout.when {
        r.lacks(
            crate_name,
            "check_on_checkout.if_idle_for",
            &secs(d),
            "checks on every checkout instead",
        );
    }
    if c.check_on_checkout.when != pool_core::CheckWhen::Never
        && c.check_on_checkout.how == pool_core::CheckHow::Peek
    {
        r.lacks(
            crate_name,
            "check_on_checkout.peek",
            "peek",
            "checks with its manager's PING round trip instead",
        );
    }
}

/// The connect timeout of the redis-rs connection under a crate: the scenario's
/// `connect_timeout` when knobs are mapped, else redis-rs's default of 1 s
/// (`redis/src/client.rs:184`).
pub(crate) fn connect_timeout(c: &pool_core::Config, knobs: Knobs) -> Option<Duration> {
    match knobs {
        Knobs::Mapped => c.connect_timeout.or(Some(Duration::from_secs(1))),
        Knobs::CrateDefaults => Some(Duration::from_secs(1)),
    }
}

/// Polls `f` once without a runtime (a pool's state read between simulation steps, when no
/// task of the host runs): `None` if it would wait.
pub(crate) fn poll_once<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// How long a client waits for Sentinel's answer (redis-py's `Sentinel` default
/// `socket_timeout` is 0.1 s; go-redis uses its dial and read timeouts): 1 s here.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks the Sentinel `d` where its master is (`SENTINEL GET-MASTER-ADDR-BY-NAME`, as go-redis
/// does; redis-py asks `SENTINEL MASTERS` and refuses a master flagged down, which this does
/// not model: docs/profiles.md), on a connection of its own, within [`DISCOVERY_TIMEOUT`].
/// Traced as `client.discover` with the answer or the error.
pub async fn discover_master(
    d: &crate::adapter::SentinelTarget,
    trace: &Trace,
    label: &str,
) -> std::io::Result<(String, u16)> {
    use pool::redis::RedisConnection;
    use pool::redis::resp::Value;
    let ask = async {
        let stream = turmoil::net::TcpStream::connect((d.host.as_str(), d.port)).await?;
        let mut conn = RedisConnection::new(stream);
        let reply = conn
            .cmd(&[
                "SENTINEL",
                "GET-MASTER-ADDR-BY-NAME",
                d.master_name.as_str(),
            ])
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        match reply {
            Value::Array(v) => match v.as_slice() {
                [Value::Bulk(h), Value::Bulk(p)] => {
                    let host = String::from_utf8_lossy(h).into_owned();
                    let port = String::from_utf8_lossy(p)
                        .parse::<u16>()
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    Ok((host, port))
                }
                _ => Err(std::io::Error::other("unexpected reply from Sentinel")),
            },
            Value::Nil => Err(std::io::Error::other(format!(
                "Sentinel knows no master named {}",
                d.master_name
            ))),
            other => Err(std::io::Error::other(format!(
                "unexpected reply from Sentinel: {other:?}"
            ))),
        }
    };
    let r = match tokio::time::timeout(DISCOVERY_TIMEOUT, ask).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Sentinel did not answer in time",
        )),
    };
    let e = trace.event(sim_now_us(), label, "client.discover");
    match &r {
        Ok((h, p)) => {
            e.str("master", &format!("{h}:{p}")).write();
            d.learn((h.clone(), *p));
        }
        Err(err) => e.str("error", &err.to_string()).write(),
    }
    r
}

/// go-redis `FailoverClient`'s subscription: `SUBSCRIBE +switch-master` on the Sentinel, and
/// every switch of `d.master_name` it reads becomes the master address the client knows
/// (traced as `client.switch_master`). Reconnects after 1 s when the Sentinel connection
/// fails. Runs until its host stops.
pub async fn follow_switch_master(d: crate::adapter::SentinelTarget, trace: Trace, label: String) {
    use pool::redis::RedisConnection;
    use pool::redis::resp::Value;
    loop {
        if let Ok(stream) = turmoil::net::TcpStream::connect((d.host.as_str(), d.port)).await {
            let mut conn = RedisConnection::new(stream);
            if conn.cmd(&["SUBSCRIBE", "+switch-master"]).await.is_ok() {
                while let Ok(msg) = conn.next_message().await {
                    let Value::Array(parts) = msg else { continue };
                    let Some(Value::Bulk(payload)) = parts.get(2) else {
                        continue;
                    };
                    // `<name> <old-ip> <old-port> <new-ip> <new-port>`
                    let text = String::from_utf8_lossy(payload).into_owned();
                    let f: Vec<&str> = text.split(' ').collect();
                    if let [name, _, _, host, port] = f.as_slice() {
                        if *name == d.master_name {
                            if let Ok(port) = port.parse::<u16>() {
                                trace
                                    .event(sim_now_us(), &label, "client.switch_master")
                                    .str("master", &format!("{host}:{port}"))
                                    .write();
                                d.learn(((*host).to_owned(), port));
                            }
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
