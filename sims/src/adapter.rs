//! The small interface a pool needs to take part in a scenario, and its implementation for
//! this project's pool (`pool::Pool` over `TurmoilRedisManager`).
//!
//! The runner asks a pool for a connection with a deadline, runs commands on it, releases it
//! healthy or broken, and reads its state after every simulation step. Another pool (bb8,
//! deadpool, a user's own) joins the same scenarios by implementing [`PoolUnderTest`] and a
//! [`PoolFactory`] that builds it for a pod.

use crate::report::ErrorKind;
use crate::trace::Trace;
use pool::redis::{RedisError, TurmoilRedisManager};
use pool::{Manager, Pool, PoolError, Pooled};
use pool_core::{CheckHow, ConnectError, Output};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a pool gave no connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetError {
    /// The pool's wait timed out.
    PoolTimeout,
    /// A fail-fast pool was exhausted.
    TooManyConnections,
    /// The request's deadline passed while it waited (a pool honouring deadlines).
    DeadlineExceeded,
    /// The waiter queue was full.
    QueueFull,
    /// The server refused the connection made for this request (`maxclients`).
    MaxClients,
    /// The connect made for this request failed otherwise.
    ConnectFailed(String),
    /// Anything else.
    Other(String),
}

impl GetError {
    /// The report's error kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::PoolTimeout => ErrorKind::PoolTimeout,
            Self::TooManyConnections => ErrorKind::TooManyConnections,
            Self::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            Self::MaxClients => ErrorKind::MaxClients,
            Self::QueueFull | Self::ConnectFailed(_) | Self::Other(_) => ErrorKind::Other,
        }
    }

    /// A short description for the trace.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::PoolTimeout => "pool timeout".to_owned(),
            Self::TooManyConnections => "too many connections".to_owned(),
            Self::DeadlineExceeded => "deadline exceeded in the pool".to_owned(),
            Self::QueueFull => "waiter queue full".to_owned(),
            Self::MaxClients => "max number of clients reached".to_owned(),
            Self::ConnectFailed(e) => format!("connect failed: {e}"),
            Self::Other(e) => e.clone(),
        }
    }
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdError {
    /// The connection was closed under the command (EOF, reset, broken pipe): a connection
    /// error, retried by `Retry::OnceOnConnectionError`.
    Closed(String),
    /// The server answered `-ERR max number of clients reached`.
    MaxClients,
    /// Another error reply (the connection stays usable).
    Server(String),
    /// Anything else (the connection is unusable).
    Other(String),
}

impl CmdError {
    /// The report's error kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Closed(_) => ErrorKind::Eof,
            Self::MaxClients => ErrorKind::MaxClients,
            Self::Server(_) | Self::Other(_) => ErrorKind::Other,
        }
    }

    /// Whether the connection must be released as broken.
    #[must_use]
    pub fn breaks_connection(&self) -> bool {
        !matches!(self, Self::Server(_))
    }

    /// A short description for the trace.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Closed(e) | Self::Other(e) => e.clone(),
            Self::MaxClients => "max number of clients reached".to_owned(),
            Self::Server(e) => format!("error reply: {e}"),
        }
    }
}

/// A command's reply, as much of it as the checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Simple(String),
    /// A bulk string (`None`: nil).
    Bulk(Option<Vec<u8>>),
    /// An integer.
    Int(i64),
    /// Anything else, described.
    Other(String),
}

/// A pool's counts, read after every step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSnapshot {
    /// Live connections (idle, in use, connecting, checking).
    pub connections: u64,
    /// In use by requests.
    pub in_use: u64,
    /// Requests waiting for a connection.
    pub waiters: u64,
}

/// What the runner reads from a pool between simulation steps. Called outside any tokio
/// runtime: it must not read a clock or spawn.
pub trait Observe: Send + Sync {
    /// Counts now.
    fn snapshot(&self) -> PoolSnapshot;
    /// The pool's own invariants (`Err` names the violated one).
    fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A pool under test, used by the requests of one pod.
pub trait PoolUnderTest: Observe + 'static {
    /// A checked-out connection.
    type Conn: 'static;

    /// A connection, or why not. `deadline` is the request's own (a pool may honour it).
    fn get(
        &self,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<Self::Conn, GetError>>;

    /// Runs one command.
    fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> impl Future<Output = Result<Reply, CmdError>> + 'a;

    /// Gives the connection back; `healthy` false closes it.
    fn release(&self, conn: Self::Conn, healthy: bool);

    /// The pool's id of the connection, for the trace.
    fn conn_id(&self, conn: &Self::Conn) -> u64;

    /// The connection's local port, when the pool lets it be read: the trace's
    /// `request.conn` then names the connection's address (`{pod}:{port}`) as the server's
    /// `server.accept` / `server.close` events do, so that a request can be followed to the
    /// server's side. `None` (the default): the trace has the pool's id only.
    fn conn_local_port(&self, conn: &Self::Conn) -> Option<u16> {
        let _ = conn;
        None
    }
}

/// Where a pool is built and what it may use.
#[derive(Clone, Debug)]
pub struct PoolContext {
    /// The pool-core configuration of the scenario's pool spec.
    pub config: pool_core::Config,
    /// The tier's name.
    pub tier: String,
    /// The pod's host name (e.g. `app-0`).
    pub host: String,
    /// The pool's index in its pod.
    pub index: u32,
    /// The server's host name and port.
    pub server: (String, u16),
    /// The server's password, if any.
    pub password: Option<String>,
    /// The run's trace.
    pub trace: Trace,
    /// Connections the server refused with `maxclients`, as the clients saw them.
    pub refusals_seen: Arc<AtomicU64>,
}

impl PoolContext {
    /// A label for this pool in the trace: `app-0` or `app-0#2` (pods with several pools).
    #[must_use]
    pub fn label(&self, pools_per_instance: u32) -> String {
        if pools_per_instance > 1 {
            format!("{}#{}", self.host, self.index)
        } else {
            self.host.clone()
        }
    }
}

/// Builds the pools of a scenario's Redis-facing pods. Called inside the pod's host (a
/// turmoil host, so `tokio::spawn` and `tokio::time` work).
pub trait PoolFactory: 'static {
    /// The pool type.
    type Pool: PoolUnderTest;
    /// A pool for `ctx`, labelled `label` in the trace.
    fn build(&self, ctx: &PoolContext, label: &str) -> Result<Self::Pool, String>;
}

/// This project's pool: `pool::Pool` over the turmoil Redis manager, traced through its
/// observer, invariants checked with `pool_core::invariants::check`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CorePoolFactory;

/// [`TurmoilRedisManager`] that reports what the clients see of the server's refusals and
/// traces every failed connect (`pool.connect_failed`).
#[derive(Debug)]
pub struct CountingManager {
    inner: TurmoilRedisManager,
    refusals_seen: Arc<AtomicU64>,
    trace: Trace,
    label: String,
}

impl Manager for CountingManager {
    type Connection = <TurmoilRedisManager as Manager>::Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let r = self.inner.connect().await;
        if let Err(e) = &r {
            if self.inner.connect_error_kind(e) == ConnectError::MaxClients {
                self.refusals_seen.fetch_add(1, Ordering::Relaxed);
            }
            self.trace
                .event(
                    crate::runner::sim_now_us(),
                    &self.label,
                    "pool.connect_failed",
                )
                .str("error", &e.to_string())
                .write();
        }
        r
    }

    fn check<'a>(
        &'a self,
        conn: &'a mut Self::Connection,
        how: CheckHow,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a {
        self.inner.check(conn, how)
    }

    fn is_broken(&self, conn: &mut Self::Connection) -> bool {
        self.inner.is_broken(conn)
    }

    fn connect_error_kind(&self, error: &Self::Error) -> ConnectError {
        self.inner.connect_error_kind(error)
    }
}

/// A [`pool::Pool`] in a scenario.
pub struct CorePool {
    pool: Pool<CountingManager>,
    /// The core generation last checked clean: pool-core is pure, so a state that has not been
    /// fed an input since is the same state and need not be checked again.
    checked: AtomicU64,
}

impl std::fmt::Debug for CorePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorePool")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl PoolFactory for CorePoolFactory {
    type Pool = CorePool;

    fn build(&self, ctx: &PoolContext, label: &str) -> Result<CorePool, String> {
        let mut manager = TurmoilRedisManager::new(ctx.server.0.clone(), ctx.server.1);
        if let Some(p) = &ctx.password {
            manager = manager.password(p.clone());
        }
        // The manager's own bound on a connect; pool-core's connect_timeout (when set) is
        // usually shorter and wins.
        manager = manager.connect_timeout(std::time::Duration::from_secs(5));
        let manager = CountingManager {
            inner: manager,
            refusals_seen: Arc::clone(&ctx.refusals_seen),
            trace: ctx.trace.clone(),
            label: label.to_owned(),
        };
        let epoch_us = crate::runner::sim_now_us();
        let pool = Pool::new(manager, ctx.config.clone()).map_err(|e| e.to_string())?;
        let trace = ctx.trace.clone();
        let host = label.to_owned();
        pool.set_observer(Some(Box::new(move |now, out| {
            // The simulated time of the host running the pool. pool-core's own instant can lag
            // it: the driver feeds a clock-free input at the last instant it read.
            let t = turmoil::sim_elapsed().map_or_else(
                || epoch_us + now.since_epoch().as_micros() as u64,
                |d| d.as_micros() as u64,
            );
            match *out {
                Output::Connect { conn } => {
                    trace
                        .event(t, &host, "pool.connect")
                        .num("conn", conn.0)
                        .write();
                }
                Output::Check { conn, how } => trace
                    .event(t, &host, "pool.check")
                    .num("conn", conn.0)
                    .str(
                        "how",
                        if how == CheckHow::Peek {
                            "peek"
                        } else {
                            "ping"
                        },
                    )
                    .write(),
                Output::Reject { reason, .. } => trace
                    .event(t, &host, "pool.reject")
                    .str("reason", &format!("{reason:?}"))
                    .write(),
                Output::Close { conn, reason } => trace
                    .event(t, &host, "pool.close")
                    .num("conn", conn.0)
                    .str("reason", &format!("{reason:?}"))
                    .write(),
                // The request's own `request.conn` event names the connection it got.
                Output::Grant { .. } => {}
            }
        })));
        // `Pool::new` already started the connects for `min_idle`, before the observer was
        // set: trace them now (same instant; their tasks have not run yet), or the trace
        // would miss them (the oracle's peak of pool connections found it).
        let warm: Vec<u64> = pool.inspect_core(|c| c.connections().map(|(id, _)| id.0).collect());
        for conn in warm {
            ctx.trace
                .event(crate::runner::sim_now_us(), label, "pool.connect")
                .num("conn", conn)
                .write();
        }
        Ok(CorePool {
            pool,
            checked: AtomicU64::new(u64::MAX),
        })
    }
}

impl Observe for CorePool {
    fn snapshot(&self) -> PoolSnapshot {
        let s = self.pool.state();
        PoolSnapshot {
            connections: u64::from(s.total),
            in_use: u64::from(s.in_use),
            waiters: u64::from(s.waiters),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let generation = self.pool.core_generation();
        if self.checked.load(Ordering::Relaxed) == generation {
            return Ok(());
        }
        self.pool
            .inspect_core(pool_core::invariants::check)
            .map_err(|v| v.to_string())?;
        self.checked.store(generation, Ordering::Relaxed);
        Ok(())
    }
}

impl PoolUnderTest for CorePool {
    type Conn = Pooled<<CountingManager as Manager>::Connection>;

    async fn get(&self, deadline: tokio::time::Instant) -> Result<Self::Conn, GetError> {
        self.pool
            .get_with_deadline(deadline)
            .await
            .map_err(|e| match e {
                PoolError::PoolTimeout => GetError::PoolTimeout,
                PoolError::TooManyConnections => GetError::TooManyConnections,
                PoolError::DeadlineExceeded => GetError::DeadlineExceeded,
                PoolError::QueueFull => GetError::QueueFull,
                PoolError::ConnectFailed { last_error } => {
                    let msg = last_error.unwrap_or_default();
                    if msg.contains("max number of clients reached") {
                        GetError::MaxClients
                    } else {
                        GetError::ConnectFailed(msg)
                    }
                }
                other => GetError::Other(other.to_string()),
            })
    }

    async fn run<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        args: &'a [&'a [u8]],
    ) -> Result<Reply, CmdError> {
        use pool::redis::resp::Value;
        match conn.cmd(args).await {
            Ok(Value::Simple(s)) => Ok(Reply::Simple(s)),
            Ok(Value::Bulk(b)) => Ok(Reply::Bulk(Some(b))),
            Ok(Value::Nil) => Ok(Reply::Bulk(None)),
            Ok(Value::Int(i)) => Ok(Reply::Int(i)),
            Ok(other) => Ok(Reply::Other(format!("{other:?}"))),
            Err(RedisError::Closed) => Err(CmdError::Closed("EOF".to_owned())),
            Err(RedisError::Io(e)) => Err(CmdError::Closed(format!("{:?}", e.kind()))),
            Err(RedisError::MaxClients) => Err(CmdError::MaxClients),
            Err(RedisError::Server(msg)) if msg.contains("max number of clients reached") => {
                Err(CmdError::MaxClients)
            }
            Err(RedisError::Server(msg)) => Err(CmdError::Server(msg)),
            Err(e) => Err(CmdError::Other(e.to_string())),
        }
    }

    fn release(&self, mut conn: Self::Conn, healthy: bool) {
        if !healthy {
            conn.mark_broken();
        }
        drop(conn);
    }

    fn conn_id(&self, conn: &Self::Conn) -> u64 {
        conn.conn_id().0
    }

    fn conn_local_port(&self, conn: &Self::Conn) -> Option<u16> {
        conn.stream().local_addr().ok().map(|a| a.port())
    }
}
