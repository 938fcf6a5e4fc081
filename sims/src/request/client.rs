//! What a tier's client library does around one command (`Tier::client`, [`crate::client`]),
//! shared by both engines: how an error is classed for the retry policy, whether it closes
//! the connection, and whether (and after which back-off) the request tries again.

use crate::adapter::{CmdError, GetError};
use crate::client::{ClientBehaviour, ErrorClass, OnReadonly};
use crate::rng::Rng;

/// The retry policy's class of a command error, and whether the client closes the connection.
pub(crate) fn class_of_cmd(b: &ClientBehaviour, e: &CmdError) -> (Option<ErrorClass>, bool) {
    match e {
        CmdError::Timeout(_) => (Some(ErrorClass::Timeout), true),
        CmdError::Closed(_) | CmdError::Other(_) => (Some(ErrorClass::Connection), true),
        CmdError::MaxClients => (Some(ErrorClass::MaxClients), true),
        CmdError::Server(m) if m.starts_with("READONLY") => (
            Some(ErrorClass::Readonly),
            b.on_readonly == OnReadonly::Disconnect,
        ),
        CmdError::Server(m) if m.starts_with("LOADING") => (Some(ErrorClass::Loading), false),
        CmdError::Server(m) if m.starts_with("MASTERDOWN") => (Some(ErrorClass::MasterDown), false),
        CmdError::Server(_) => (None, false),
    }
}

/// The retry policy's class of a checkout error.
pub(crate) fn class_of_get(e: &GetError) -> Option<ErrorClass> {
    match e {
        GetError::PoolTimeout => Some(ErrorClass::PoolTimeout),
        GetError::MaxClients => Some(ErrorClass::MaxClients),
        GetError::ConnectFailed(_) => Some(ErrorClass::Connection),
        _ => None,
    }
}

/// Whether a request that has made `retries` retries tries again after an error of `class`
/// (`disconnected`: the client closed the connection over it), and after which back-off
/// (ms, drawn from the request's own stream). A READONLY that closed the connection is a
/// connection error to a policy that does not list READONLY itself (redis-py's Sentinel
/// pool raises `ConnectionError`).
pub(crate) fn retry_after(
    b: &ClientBehaviour,
    class: Option<ErrorClass>,
    disconnected: bool,
    retries: u32,
    rng: &mut Rng,
) -> Option<u64> {
    let class = class?;
    let p = &b.retry;
    let listed = p.retries(class)
        || (class == ErrorClass::Readonly && disconnected && p.retries(ErrorClass::Connection));
    if retries >= p.attempts || !listed {
        return None;
    }
    Some(p.backoff_ms(retries + 1, rng.unit()))
}

/// The trace event of a request's failure: `request.retry` when it tries again (`again` is
/// its back-off), else `otherwise` (`request.cmd_error`, `request.pool_error`).
pub(crate) fn failure_event(again: Option<u64>, otherwise: &'static str) -> &'static str {
    if again.is_some() {
        "request.retry"
    } else {
        otherwise
    }
}
