//! The inputs the pool is fed and the outputs it asks its caller to perform.

use crate::config::CheckHow;
use std::fmt;

/// A request for a connection, numbered by the caller. The caller must not reuse an id while
/// the request is live (queued or waiting on a check); reusing it afterwards is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReqId(pub u64);

/// A connection, numbered by the pool in [`Output::Connect`]. Never reused within one pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// How the user's work on a connection ended, reported when it is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The connection is fine: back to idle (or closed if over `max_idle` / past its lifetime).
    Healthy,
    /// An I/O error, a protocol desync, or a request cancelled between write and read (its reply
    /// is still unread: redis-py #2624). The pool closes it and never reuses it.
    Broken,
}

/// Why a connect failed (for statistics and back-off; the pool treats all alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectError {
    /// TCP refused or unreachable.
    Refused,
    /// The server accepted, then answered `-ERR max number of clients reached` and closed.
    MaxClients,
    /// AUTH / SELECT / HELLO failed.
    Handshake,
    /// The caller's own connect timer fired (when the pool has no `connect_timeout`).
    TimedOut,
    /// Anything else.
    Other,
}

/// One event fed to [`crate::Pool::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A request wants a connection. `deadline` is the caller's own deadline (used when
    /// `honour_deadlines` is set).
    Acquire {
        /// The caller's id for the request.
        req: ReqId,
        /// The caller's deadline, if any.
        deadline: Option<crate::Instant>,
    },
    /// The caller gave up on a live request (its future was dropped).
    Cancel {
        /// The request.
        req: ReqId,
    },
    /// A granted connection comes back.
    Release {
        /// The connection.
        conn: ConnId,
        /// How it was left.
        outcome: ReleaseOutcome,
    },
    /// A connect asked for by [`Output::Connect`] succeeded.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A connect asked for by [`Output::Connect`] failed.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: ConnectError,
    },
    /// A check asked for by [`Output::Check`] passed.
    CheckPassed {
        /// The connection.
        conn: ConnId,
    },
    /// A check asked for by [`Output::Check`] failed (EOF seen, PING failed or timed out).
    CheckFailed {
        /// The connection.
        conn: ConnId,
    },
    /// The caller noticed, outside any check, that the server closed an idle connection
    /// (e.g. a reader task saw EOF).
    PeerClosed {
        /// The connection.
        conn: ConnId,
    },
    /// The caller closes an idle connection it no longer wants (a Redis client that learned
    /// the master moved: the connection's server is not the master any more). Closed with
    /// [`CloseReason::Evicted`]; like [`Input::PeerClosed`], only for an idle connection.
    Evict {
        /// The connection.
        conn: ConnId,
    },
    /// The instant returned by [`crate::Pool::poll_timeout`] has come (an early call does nothing).
    Timeout,
    /// The pool is being shut down: waiters are rejected with `Closed`, idle connections closed,
    /// in-use ones closed on release, new acquires rejected.
    Shutdown,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Waited the whole pool timeout (go-redis `connection pool timeout`, bb8 `TimedOut`).
    PoolTimeout,
    /// Exhausted and configured to fail fast (redis-py / aioredis "Too many connections").
    TooManyConnections,
    /// The request's own deadline passed while it was queued.
    DeadlineExceeded,
    /// `max_waiters` requests were already queued.
    QueueFull,
    /// The pool is shut down.
    Closed,
    /// The connect made for this request failed and the pool does not wait (fail-fast pools:
    /// redis-py raises the connect error to the caller of `get_connection`).
    ConnectFailed,
}

impl RejectReason {
    /// Every reason, in a fixed order (for tables and statistics).
    pub const ALL: [Self; 6] = [
        Self::PoolTimeout,
        Self::TooManyConnections,
        Self::DeadlineExceeded,
        Self::QueueFull,
        Self::Closed,
        Self::ConnectFailed,
    ];
}

/// Why the pool closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Idle longer than `idle_timeout`.
    IdleTimeout,
    /// Older than `max_lifetime` (minus jitter).
    MaxLifetime,
    /// Released while `max_idle` connections were already idle.
    MaxIdle,
    /// Released as [`ReleaseOutcome::Broken`].
    Broken,
    /// A check on checkout or a keepalive failed.
    CheckFailed,
    /// [`Input::PeerClosed`].
    PeerClosed,
    /// [`Input::Evict`].
    Evicted,
    /// The connect took longer than `connect_timeout` (the caller must abort it).
    ConnectTimeout,
    /// The pool was shut down.
    Shutdown,
}

impl CloseReason {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 9] = [
        Self::IdleTimeout,
        Self::MaxLifetime,
        Self::MaxIdle,
        Self::Broken,
        Self::CheckFailed,
        Self::PeerClosed,
        Self::ConnectTimeout,
        Self::Shutdown,
        Self::Evicted,
    ];
}

/// Something the caller must do, drained with [`crate::Pool::poll_output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a new connection and report [`Input::Connected`] or [`Input::ConnectFailed`].
    Connect {
        /// The id the pool gives it.
        conn: ConnId,
    },
    /// Check this connection and report [`Input::CheckPassed`] or [`Input::CheckFailed`].
    /// Emitted for check-on-checkout and for keepalive pings.
    Check {
        /// The connection.
        conn: ConnId,
        /// Peek or Ping.
        how: CheckHow,
    },
    /// Hand `conn` to `req`. The request is finished; the connection is in use until released.
    Grant {
        /// The request.
        req: ReqId,
        /// The connection.
        conn: ConnId,
    },
    /// Refuse `req`. The request is finished.
    Reject {
        /// The request.
        req: ReqId,
        /// Why.
        reason: RejectReason,
    },
    /// Close `conn` (or abort its connect). The pool has forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

/// An input that names an unknown id or one in the wrong state. The pool is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// `Acquire` with an id that is still live.
    #[error("{req} is already live")]
    DuplicateRequest {
        /// The request.
        req: ReqId,
    },
    /// `Cancel` of a request that is not live (unknown, or already granted/rejected/cancelled).
    #[error("{req} is not live")]
    UnknownRequest {
        /// The request.
        req: ReqId,
    },
    /// The connection does not exist, or is not in the state the input needs (e.g. `Release`
    /// of a connection that is not in use, `Connected` of one that is not connecting).
    #[error("{conn} is not {expected}")]
    WrongConnState {
        /// The connection.
        conn: ConnId,
        /// The state the input needed, e.g. "in use".
        expected: &'static str,
    },
    /// `now` is earlier than the previous input's `now`.
    #[error("time went backwards: {now} < {last}")]
    TimeWentBackwards {
        /// The offending instant.
        now: crate::Instant,
        /// The last instant seen.
        last: crate::Instant,
    },
}

impl fmt::Display for Input {
    /// A short form for traces: `acquire req#3 deadline 1.500s`, `release conn#2 healthy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Acquire {
                req,
                deadline: None,
            } => write!(f, "acquire {req}"),
            Self::Acquire {
                req,
                deadline: Some(d),
            } => write!(f, "acquire {req} deadline {d}"),
            Self::Cancel { req } => write!(f, "cancel {req}"),
            Self::Release { conn, outcome } => {
                write!(
                    f,
                    "release {conn} {}",
                    format!("{outcome:?}").to_lowercase()
                )
            }
            Self::Connected { conn } => write!(f, "connected {conn}"),
            Self::ConnectFailed { conn, error } => write!(f, "connect failed {conn} ({error:?})"),
            Self::CheckPassed { conn } => write!(f, "check passed {conn}"),
            Self::CheckFailed { conn } => write!(f, "check failed {conn}"),
            Self::PeerClosed { conn } => write!(f, "peer closed {conn}"),
            Self::Evict { conn } => write!(f, "evict {conn}"),
            Self::Timeout => write!(f, "timeout"),
            Self::Shutdown => write!(f, "shutdown"),
        }
    }
}

impl fmt::Display for Output {
    /// A short form for traces: `grant req#3 conn#1`, `reject req#4 PoolTimeout`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Connect { conn } => write!(f, "connect {conn}"),
            Self::Check { conn, how } => write!(f, "check {conn} {how:?}"),
            Self::Grant { req, conn } => write!(f, "grant {req} {conn}"),
            Self::Reject { req, reason } => write!(f, "reject {req} {reason:?}"),
            Self::Close { conn, reason } => write!(f, "close {conn} {reason:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;

    #[test]
    fn inputs_and_outputs_print_short_trace_lines() {
        let a = Input::Acquire {
            req: ReqId(3),
            deadline: Some(Instant::from_millis(1500)),
        };
        assert_eq!(a.to_string(), "acquire req#3 deadline 1.500s");
        let r = Input::Release {
            conn: ConnId(2),
            outcome: ReleaseOutcome::Broken,
        };
        assert_eq!(r.to_string(), "release conn#2 broken");
        let o = Output::Reject {
            req: ReqId(4),
            reason: RejectReason::PoolTimeout,
        };
        assert_eq!(o.to_string(), "reject req#4 PoolTimeout");
    }
}
