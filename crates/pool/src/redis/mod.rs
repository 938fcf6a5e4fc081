//! A small Redis client connection of our own and the [`RedisManager`] that pools it.
//!
//! # Why not redis-rs
//!
//! redis-rs's `MultiplexedConnection` works over a turmoil stream, but it owns the socket in a
//! background driver task, so a non-blocking *peek* at the socket (go-redis `connCheck`,
//! redis-py `can_read`) cannot be done, and a command cancelled between its write and its read
//! is absorbed by the multiplexer instead of being visible to the pool. [`RedisConnection`]
//! is ~150 lines: one stream, one request at a time, an incremental RESP2 parser
//! ([`resp`]). That makes [`CheckHow::Peek`] real (`poll_peek` with a no-op waker: `Pending`
//! means alive, `Ok(0)` means the server closed it) and makes redis-py #2624 impossible: a
//! command future dropped after its write and before its reply marks the connection broken,
//! and the pool closes it instead of handing its unread reply to the next user.
//!
//! # Generic over the stream
//!
//! [`Transport`] is implemented for `tokio::net::TcpStream` (real TCP) and
//! `turmoil::net::TcpStream` (simulated TCP): [`TokioRedisManager`] and [`TurmoilRedisManager`].

pub mod resp;

use crate::Manager;
use pool_core::{CheckHow, ConnectError};
use resp::{ProtocolError, Value};
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// A byte stream the pool can open to a Redis server and peek at without blocking.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    /// Opens a connection to `host:port`.
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self>> + Send;

    /// Looks at received bytes without consuming them (`Ok(0)` = EOF), registering `cx` for
    /// wake-up when nothing is there.
    fn poll_peek(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>)
    -> Poll<io::Result<usize>>;
}

impl Transport for tokio::net::TcpStream {
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self>> + Send {
        Self::connect((host.to_owned(), port))
    }

    fn poll_peek(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        Self::poll_peek(self, cx, buf)
    }
}

impl Transport for turmoil::net::TcpStream {
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self>> + Send {
        Self::connect((host.to_owned(), port))
    }

    fn poll_peek(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        Self::poll_peek(self, cx, buf)
    }
}

/// What went wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// A socket error (refused, reset, broken pipe...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection (EOF where a reply was expected).
    #[error("the server closed the connection")]
    Closed,
    /// The reply could not be parsed; the connection is out of sync.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The server answered with an error reply (`-ERR ...`); the connection stays usable.
    #[error("server error: {0}")]
    Server(String),
    /// The server refused the client: `-ERR max number of clients reached`.
    #[error("max number of clients reached")]
    MaxClients,
    /// AUTH, SELECT or the connect PING was refused.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// Connect or check took longer than allowed.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The connection is unusable: an earlier command failed on I/O or was dropped between its
    /// write and its read (its reply would be read by the next command: redis-py #2624).
    #[error("the connection is broken (an earlier command failed or was cancelled mid-flight)")]
    Broken,
    /// A check found the connection closed, or holding bytes nobody asked for.
    #[error("check failed: {0}")]
    CheckFailed(&'static str),
}

/// What a non-blocking peek saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeekState {
    /// Nothing to read: the connection looks alive.
    Alive,
    /// EOF: the server closed it.
    Closed,
    /// Bytes nobody asked for (or an earlier failure): unusable.
    Unusable,
}

/// A Redis connection: one stream, one command at a time.
#[derive(Debug)]
pub struct RedisConnection<S> {
    stream: S,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// A command is between its write and its complete reply (true also while its future is
    /// parked; if the future is dropped, it stays true and the connection is broken).
    in_flight: bool,
    /// An I/O or protocol error happened.
    failed: bool,
}

impl<S: Transport> RedisConnection<S> {
    /// Wraps an open stream (no handshake).
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            rbuf: Vec::with_capacity(512),
            wbuf: Vec::with_capacity(256),
            in_flight: false,
            failed: false,
        }
    }

    /// Whether the connection must not be used again: an I/O or protocol error happened, or a
    /// command was dropped between its write and its reply.
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.failed || self.in_flight
    }

    /// Sends one command and reads its reply. An error reply is `Err(RedisError::Server)`.
    /// Dropping the future before it completes breaks the connection (see [`Self::is_broken`]).
    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, RedisError> {
        if self.is_broken() {
            return Err(RedisError::Broken);
        }
        self.in_flight = true;
        self.wbuf.clear();
        resp::encode_command(&mut self.wbuf, args);
        if let Err(e) = self.stream.write_all(&self.wbuf).await {
            self.failed = true;
            return Err(e.into());
        }
        let reply = self.read_reply().await;
        if reply.is_err() {
            self.failed = true;
        }
        self.in_flight = false;
        match reply? {
            Value::Error(msg) => Err(RedisError::Server(msg)),
            v => Ok(v),
        }
    }

    /// Reads the next reply without sending anything: a pub/sub message after `SUBSCRIBE`.
    /// An error reply is `Err(RedisError::Server)`.
    pub async fn next_message(&mut self) -> Result<Value, RedisError> {
        if self.is_broken() {
            return Err(RedisError::Broken);
        }
        let reply = self.read_reply().await;
        if reply.is_err() {
            self.failed = true;
        }
        match reply? {
            Value::Error(msg) => Err(RedisError::Server(msg)),
            v => Ok(v),
        }
    }

    /// `PING`, expecting `PONG`.
    pub async fn ping(&mut self) -> Result<(), RedisError> {
        match self.cmd(&["PING"]).await? {
            Value::Simple(s) if s == "PONG" => Ok(()),
            other => {
                // A well-framed but wrong reply: out of sync.
                self.failed = true;
                Err(ProtocolError(format!("PING answered {other:?}")).into())
            }
        }
    }

    /// `GET key`.
    pub async fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, RedisError> {
        match self.cmd(&[b"GET".as_slice(), key.as_ref()]).await? {
            Value::Bulk(b) => Ok(Some(b)),
            Value::Nil => Ok(None),
            other => Err(ProtocolError(format!("GET answered {other:?}")).into()),
        }
    }

    /// `SET key value`.
    pub async fn set(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), RedisError> {
        self.cmd(&[b"SET".as_slice(), key.as_ref(), value.as_ref()])
            .await
            .map(drop)
    }

    /// Looks at the socket without blocking or consuming anything (go-redis `connCheck`,
    /// redis-py `can_read`). Under tokio the answer reflects readiness the runtime has already
    /// observed; under turmoil it is exact.
    pub fn peek(&mut self) -> PeekState {
        if self.is_broken() || !self.rbuf.is_empty() {
            return PeekState::Unusable;
        }
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_peek(&mut cx, &mut buf) {
            Poll::Pending => PeekState::Alive,
            Poll::Ready(Ok(0)) => PeekState::Closed,
            Poll::Ready(Ok(_)) | Poll::Ready(Err(_)) => PeekState::Unusable,
        }
    }

    /// The underlying stream, to read (its addresses, say).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The underlying stream.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    async fn read_reply(&mut self) -> Result<Value, RedisError> {
        loop {
            if let Some((v, n)) = resp::parse(&self.rbuf)? {
                self.rbuf.drain(..n);
                return Ok(v);
            }
            self.rbuf.reserve(4096);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(RedisError::Closed);
            }
        }
    }
}

/// Opens and checks [`RedisConnection`]s: TCP connect, then `AUTH` (if a password is set),
/// `SELECT` (if `db` is not 0) and a `PING` (unless disabled), all within `connect_timeout`.
#[derive(Clone, Debug)]
pub struct RedisManager<S> {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: u32,
    connect_timeout: Duration,
    check_timeout: Duration,
    ping_on_connect: bool,
    _stream: PhantomData<fn() -> S>,
}

/// A [`RedisManager`] over real TCP.
pub type TokioRedisManager = RedisManager<tokio::net::TcpStream>;
/// A [`RedisManager`] over turmoil's simulated TCP.
pub type TurmoilRedisManager = RedisManager<turmoil::net::TcpStream>;

impl<S: Transport> RedisManager<S> {
    /// A manager for `host:port`: no password, db 0, connect timeout 1 s, check timeout 1 s,
    /// PING on connect.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            username: None,
            password: None,
            db: 0,
            connect_timeout: Duration::from_secs(1),
            check_timeout: Duration::from_secs(1),
            ping_on_connect: true,
            _stream: PhantomData,
        }
    }

    /// `AUTH password` on connect.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// `AUTH username password` on connect (needs a password).
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// `SELECT db` on connect (when not 0).
    #[must_use]
    pub fn db(mut self, db: u32) -> Self {
        self.db = db;
        self
    }

    /// Bound on TCP connect plus handshake.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on a PING check.
    #[must_use]
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// Whether to PING after the handshake (default true). It makes a `maxclients` refusal
    /// visible at connect time (`ConnectError::MaxClients`) instead of on first use, as a
    /// client that sends nothing on connect would see it.
    #[must_use]
    pub fn ping_on_connect(mut self, ping: bool) -> Self {
        self.ping_on_connect = ping;
        self
    }

    /// The same manager for another address (a client that found the master elsewhere,
    /// e.g. through Sentinel).
    #[must_use]
    pub fn at(&self, host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            username: self.username.clone(),
            password: self.password.clone(),
            db: self.db,
            connect_timeout: self.connect_timeout,
            check_timeout: self.check_timeout,
            ping_on_connect: self.ping_on_connect,
            _stream: PhantomData,
        }
    }

    /// Opens one connection outside any pool (connect + handshake, no timeout).
    pub async fn open(&self) -> Result<RedisConnection<S>, RedisError> {
        let stream = S::connect(&self.host, self.port).await?;
        let mut conn = RedisConnection::new(stream);
        if let Some(password) = &self.password {
            let r = match &self.username {
                Some(user) => conn.cmd(&["AUTH", user, password]).await,
                None => conn.cmd(&["AUTH", password]).await,
            };
            r.map_err(handshake_error)?;
        }
        if self.db != 0 {
            conn.cmd(&["SELECT", &self.db.to_string()])
                .await
                .map_err(handshake_error)?;
        }
        if self.ping_on_connect {
            conn.ping().await.map_err(handshake_error)?;
        }
        Ok(conn)
    }
}

fn handshake_error(e: RedisError) -> RedisError {
    match e {
        RedisError::Server(msg) if msg.contains("max number of clients reached") => {
            RedisError::MaxClients
        }
        RedisError::Server(msg) => RedisError::Handshake(msg),
        other => other,
    }
}

impl<S: Transport> Manager for RedisManager<S> {
    type Connection = RedisConnection<S>;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        match tokio::time::timeout(self.connect_timeout, self.open()).await {
            Ok(r) => r,
            Err(_) => Err(RedisError::TimedOut(self.connect_timeout)),
        }
    }

    async fn check(&self, conn: &mut Self::Connection, how: CheckHow) -> Result<(), Self::Error> {
        match how {
            CheckHow::Peek => match conn.peek() {
                PeekState::Alive => Ok(()),
                PeekState::Closed => Err(RedisError::CheckFailed("peek saw EOF")),
                PeekState::Unusable => Err(RedisError::CheckFailed("peek saw unread bytes")),
            },
            CheckHow::Ping => {
                // A timed-out PING leaves the connection in flight, hence broken.
                match tokio::time::timeout(self.check_timeout, conn.ping()).await {
                    Ok(r) => r,
                    Err(_) => Err(RedisError::TimedOut(self.check_timeout)),
                }
            }
        }
    }

    fn is_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.is_broken()
    }

    fn connect_error_kind(&self, error: &Self::Error) -> ConnectError {
        match error {
            RedisError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                ConnectError::Refused
            }
            RedisError::MaxClients => ConnectError::MaxClients,
            RedisError::Handshake(_) => ConnectError::Handshake,
            RedisError::TimedOut(_) => ConnectError::TimedOut,
            _ => ConnectError::Other,
        }
    }
}
