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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientProfile;

    fn go_redis() -> ClientBehaviour {
        ClientProfile::GoRedisV9.behaviour()
    }

    fn redis_py_sentinel() -> ClientBehaviour {
        ClientProfile::RedisPy8Sentinel.behaviour()
    }

    #[test]
    fn every_command_error_has_its_class_and_says_whether_it_closes() {
        let b = go_redis();
        let server = |m: &str| CmdError::Server(m.to_owned());
        let cases = [
            (CmdError::Timeout(5), Some(ErrorClass::Timeout), true),
            (
                CmdError::Closed("EOF".into()),
                Some(ErrorClass::Connection),
                true,
            ),
            (
                CmdError::Other("x".into()),
                Some(ErrorClass::Connection),
                true,
            ),
            (CmdError::MaxClients, Some(ErrorClass::MaxClients), true),
            (
                server("LOADING Redis is loading"),
                Some(ErrorClass::Loading),
                false,
            ),
            (
                server("MASTERDOWN Link down"),
                Some(ErrorClass::MasterDown),
                false,
            ),
            (server("WRONGTYPE Operation"), None, false),
            (server("ERR unknown command"), None, false),
        ];
        for (e, class, closes) in cases {
            assert_eq!(class_of_cmd(&b, &e), (class, closes), "{e:?}");
        }
        // READONLY: its own class; whether it closes is the profile's `on_readonly`.
        let ro = server("READONLY You can't write against a read only replica.");
        let keep = ClientProfile::RedisPy8.behaviour();
        assert_eq!(keep.on_readonly, OnReadonly::ErrorKeep);
        assert_eq!(
            class_of_cmd(&keep, &ro),
            (Some(ErrorClass::Readonly), false)
        );
        let py = redis_py_sentinel();
        assert_eq!(py.on_readonly, OnReadonly::Disconnect);
        assert_eq!(class_of_cmd(&py, &ro), (Some(ErrorClass::Readonly), true));
        // The prefix is what counts: a message that only contains the word is not READONLY.
        assert_eq!(
            class_of_cmd(&py, &server("ERR not READONLY")),
            (None, false)
        );
    }

    #[test]
    fn every_checkout_error_has_its_class() {
        assert_eq!(
            class_of_get(&GetError::PoolTimeout),
            Some(ErrorClass::PoolTimeout)
        );
        assert_eq!(
            class_of_get(&GetError::MaxClients),
            Some(ErrorClass::MaxClients)
        );
        assert_eq!(
            class_of_get(&GetError::ConnectFailed("refused".into())),
            Some(ErrorClass::Connection)
        );
        assert_eq!(class_of_get(&GetError::TooManyConnections), None);
        assert_eq!(class_of_get(&GetError::DeadlineExceeded), None);
    }

    #[test]
    fn a_retry_needs_a_listed_class_and_attempts_left() {
        let mut b = go_redis();
        b.retry.attempts = 2;
        b.retry.backoff_base_ms = 8;
        b.retry.backoff_cap_ms = 512;
        b.retry.jitter = crate::client::Jitter::None;
        b.retry.on = [ErrorClass::Connection].into();
        let mut rng = Rng::stream(1, 2);
        // Listed, attempts left: the n-th retry's back-off, base · 2^n (redis-py's
        // `ExponentialBackoff.compute(failures)`, failures counted from 1), no jitter.
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Connection), true, 0, &mut rng),
            Some(16)
        );
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Connection), true, 1, &mut rng),
            Some(32)
        );
        // No attempts left, no class, or a class not listed: no retry.
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Connection), true, 2, &mut rng),
            None
        );
        assert_eq!(retry_after(&b, None, true, 0, &mut rng), None);
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Timeout), true, 0, &mut rng),
            None
        );
        // READONLY that closed the connection is a connection error to a policy that does not
        // list READONLY (redis-py's Sentinel pool); one that kept it is not.
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Readonly), true, 0, &mut rng),
            Some(16)
        );
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Readonly), false, 0, &mut rng),
            None
        );
        // Listed READONLY retries whether or not the connection was closed.
        b.retry.on = [ErrorClass::Readonly].into();
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Readonly), false, 0, &mut rng),
            Some(16)
        );
        // A disconnect does not make another class a connection error.
        assert_eq!(
            retry_after(&b, Some(ErrorClass::Timeout), true, 0, &mut rng),
            None
        );
    }

    #[test]
    fn a_failure_is_traced_as_a_retry_only_when_it_retries() {
        assert_eq!(failure_event(Some(0), "request.cmd_error"), "request.retry");
        assert_eq!(
            failure_event(None, "request.pool_error"),
            "request.pool_error"
        );
    }
}
