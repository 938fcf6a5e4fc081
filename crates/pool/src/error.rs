//! [`PoolError`]: why `get()` did not return a connection.

use pool_core::RejectReason;

/// Why [`crate::Pool::get`] (or the synchronous [`crate::core::SyncCore`]) refused a request.
/// Every variant but [`PoolError::Other`] is one of pool-core's [`RejectReason`]s: the driver
/// never invents a refusal of its own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Waited the whole pool timeout (go-redis `connection pool timeout`, bb8 `TimedOut`).
    #[error("timed out waiting for a connection (pool timeout)")]
    PoolTimeout,
    /// The pool is exhausted and configured to fail fast (redis-py "Too many connections").
    #[error("too many connections")]
    TooManyConnections,
    /// The request's own deadline passed while it was queued (`honour_deadlines`).
    #[error("the request's deadline passed while it waited for a connection")]
    DeadlineExceeded,
    /// `max_waiters` requests were already queued.
    #[error("too many requests already waiting for a connection")]
    QueueFull,
    /// The pool has been closed.
    #[error("the pool is closed")]
    Closed,
    /// The connect made for this request failed and the pool does not wait for another.
    #[error("connecting failed{}", last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    ConnectFailed {
        /// The most recent connect error the manager reported, if any.
        last_error: Option<String>,
    },
    /// A reject reason added to pool-core after this driver was written.
    #[error("rejected by the pool: {0:?}")]
    Other(RejectReason),
}

impl PoolError {
    /// Translates a pool-core reject reason; `last_connect_error` fills `ConnectFailed`.
    #[must_use]
    pub fn from_reason(reason: RejectReason, last_connect_error: Option<&str>) -> Self {
        match reason {
            RejectReason::PoolTimeout => Self::PoolTimeout,
            RejectReason::TooManyConnections => Self::TooManyConnections,
            RejectReason::DeadlineExceeded => Self::DeadlineExceeded,
            RejectReason::QueueFull => Self::QueueFull,
            RejectReason::Closed => Self::Closed,
            RejectReason::ConnectFailed => Self::ConnectFailed {
                last_error: last_connect_error.map(str::to_owned),
            },
            other => Self::Other(other),
        }
    }

    /// The pool-core reason behind this error.
    #[must_use]
    pub fn reason(&self) -> RejectReason {
        match self {
            Self::PoolTimeout => RejectReason::PoolTimeout,
            Self::TooManyConnections => RejectReason::TooManyConnections,
            Self::DeadlineExceeded => RejectReason::DeadlineExceeded,
            Self::QueueFull => RejectReason::QueueFull,
            Self::Closed => RejectReason::Closed,
            Self::ConnectFailed { .. } => RejectReason::ConnectFailed,
            Self::Other(r) => *r,
        }
    }
}

impl From<RejectReason> for PoolError {
    fn from(reason: RejectReason) -> Self {
        Self::from_reason(reason, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips() {
        for r in RejectReason::ALL {
            assert_eq!(PoolError::from(r).reason(), r);
        }
    }

    #[test]
    fn connect_failed_carries_the_last_error() {
        let e = PoolError::from_reason(RejectReason::ConnectFailed, Some("refused"));
        assert_eq!(e.to_string(), "connecting failed: refused");
    }
}
