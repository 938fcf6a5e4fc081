//! [`Manager`]: how the pool opens and checks connections.

use pool_core::{CheckHow, ConnectError};
use std::future::Future;

/// Opens and checks the connections of a [`crate::Pool`]. The pool never decides anything
/// here: pool-core says when to connect and when to check (and how), the manager only does it.
///
/// Futures must be `Send` (the pool runs them on spawned tokio tasks) and should bound their
/// own time: a connect or check that never finishes keeps its slot (pool-core's
/// `connect_timeout` bounds connects; checks are bounded only by the manager).
pub trait Manager: Send + Sync + 'static {
    /// The connection type handed out by the pool.
    type Connection: Send + 'static;
    /// The error of a failed connect or check.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection (including any handshake such as AUTH and SELECT).
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Checks `conn`: [`CheckHow::Peek`] looks at the socket without blocking (readable or at
    /// EOF means the server closed it), [`CheckHow::Ping`] does a round trip. `Ok` means the
    /// connection may be handed out.
    fn check<'a>(
        &'a self,
        conn: &'a mut Self::Connection,
        how: CheckHow,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a;

    /// Whether `conn` is known to be unusable (an I/O error, a command cancelled between its
    /// write and its read). Asked when a [`crate::Pooled`] guard is dropped: `true` releases
    /// the connection as broken, so it is closed, never reused. The default says no.
    fn is_broken(&self, conn: &mut Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Classifies a connect error for pool-core's statistics and back-off.
    fn connect_error_kind(&self, error: &Self::Error) -> ConnectError {
        let _ = error;
        ConnectError::Other
    }
}
