//! The small interface a pool needs to take part in a scenario, and its implementation for
//! this project's pool (`pool::Pool` over `TurmoilRedisManager`).
//!
//! The runner asks a pool for a connection with a deadline, runs commands on it, releases it
//! healthy or broken, and reads its state after every simulation step. Another pool (bb8,
//! deadpool, a user's own) joins the same scenarios by implementing [`PoolUnderTest`] and a
//! [`PoolFactory`] that builds it for a pod.

use crate::report::ErrorKind;
pub use crate::report::Finding;
use crate::trace::Trace;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

pub use crate::pools::ours::{CorePool, CorePoolFactory, CountingManager};

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
    /// The client's read timeout (ms) fired before the reply (a tier `client` with
    /// `read_timeout_ms`); the connection is closed (`on_timeout = "close"`).
    Timeout(u64),
}

impl CmdError {
    /// The report's error kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Closed(_) => ErrorKind::Eof,
            Self::MaxClients => ErrorKind::MaxClients,
            Self::Timeout(_) => ErrorKind::ReadTimeout,
            Self::Server(m) if m.starts_with("READONLY") => ErrorKind::Readonly,
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
            Self::Timeout(ms) => format!("read timeout after {ms} ms"),
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
    /// Connects in flight now, when the pool can say (`None`, the default: it cannot). At the
    /// end of a run, `maxclients` refusals the server counted and the clients have not read
    /// yet are connects in flight; without this figure that end-of-run check is skipped.
    fn connects_in_flight(&self) -> Option<u64> {
        None
    }
    /// What the pool's adapter found during the run (read once, after the last step): knobs
    /// of the scenario the pool lacks, clocks it reads that are not the simulated one.
    fn findings(&self) -> Vec<Finding> {
        Vec::new()
    }
    /// The server address of every open connection the pool holds, idle or in use (`true`),
    /// for the runner's `client.stale_connection` invariant; connections being connected or
    /// checked are left out. `None` (the default): the pool cannot list them, and the
    /// invariant is not checked on it.
    fn connection_addrs(&self) -> Option<Vec<(std::net::SocketAddr, bool)>> {
        None
    }
    /// Connects that failed and that succeeded since the pool was built, for the runner's
    /// `pool.connect_rate` invariant. `None` (the default): the pool cannot say, and the
    /// invariant is not checked on it.
    fn connect_counts(&self) -> Option<ConnectCounts> {
        None
    }
}

/// A pool's connects so far ([`Observe::connect_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectCounts {
    /// Connects that failed (refused, errored or timed out).
    pub failed: u64,
    /// Connects that succeeded.
    pub succeeded: u64,
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

    /// Whether the pool's client has learned that `conn`'s server is no longer the master
    /// and its profile drops such connections (`on_address_change`, with a Sentinel
    /// discovery): the request path then closes it instead of using or keeping it. `false`
    /// (the default) for pools that cannot tell.
    fn stale(&self, conn: &Self::Conn) -> bool {
        let _ = conn;
        false
    }

    /// For a client that closes *every* connection to an old address at the instant it
    /// learns of a change (`on_address_change = "drop_all"`, go-redis `FailoverClient`): a
    /// watch on `conn`'s server. The request path races each command, and the load's hold,
    /// against it: a command in flight when the client learns fails as a connection error,
    /// and the connection is closed. `None` (the default): the pool's client does not.
    fn address_watch(&self, conn: &Self::Conn) -> Option<AddressWatch> {
        let _ = conn;
        None
    }

    /// Gives back a connection to an address the pool's client no longer takes for the
    /// master's ([`PoolUnderTest::stale`]) after it was used: closed. Returns whether its
    /// slot was lost with it (a client whose profile has `address_change_leaks_slots`,
    /// redis-py 6.0 to 8.0.1's `ConnectionPool.release`, #4187: the slot stays counted as
    /// taken for the rest of the run). The default closes it as
    /// [`PoolUnderTest::release`]`(conn, false)` does and loses nothing.
    fn release_unowned(&self, conn: Self::Conn) -> bool {
        self.release(conn, false);
        false
    }

    /// Whether [`PoolUnderTest::reconnect_in_place`] works for this pool: a checked-out
    /// connection can be dialed again to the address it had, keeping its pool slot (redis-py's
    /// `Connection` object, which a command retry reconnects; `false` by default).
    fn can_reconnect_in_place(&self) -> bool {
        false
    }

    /// Dials `conn`'s server again, to the address it had, keeping the pool slot: what a
    /// redis-py command retry does before trying the command again, without asking Sentinel
    /// (`retry_reconnects_to_old_address`, redis-py #3874). Bounded by `connect_timeout`
    /// (the client's). Returns that address as `host:port` (the server's host name where the
    /// pool knows it), or the connect's error; on an error `conn` keeps its broken
    /// connection. Only called when [`PoolUnderTest::can_reconnect_in_place`].
    fn reconnect_in_place<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        connect_timeout: Option<std::time::Duration>,
    ) -> impl Future<Output = Result<String, CmdError>> + 'a {
        let _ = (conn, connect_timeout);
        async {
            Err(CmdError::Other(
                "this pool cannot reconnect a connection in place".to_owned(),
            ))
        }
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
    /// Where the master's address is asked before every connect (a client with a Sentinel
    /// discovery); `None`: connect to [`PoolContext::server`].
    pub discovery: Option<SentinelTarget>,
}

/// A Sentinel to ask for the master's address (`SENTINEL GET-MASTER-ADDR-BY-NAME`), and what
/// one pool's client knows of the master (each pool has its own, as each redis-py
/// `SentinelConnectionPool` or go-redis `FailoverClient` does).
#[derive(Clone, Debug)]
pub struct SentinelTarget {
    /// The Sentinel's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The master's name.
    pub master_name: String,
    /// What the client does to connections to an address it no longer takes for the
    /// master's ([`crate::client::OnAddressChange`]).
    pub on_address_change: crate::client::OnAddressChange,
    /// Whether a connection to an old address, closed when it is given back, keeps its pool
    /// slot ([`crate::client::ClientBehaviour::address_change_leaks_slots`], redis-py #4187).
    pub leaks_slots: bool,
    /// The address the client takes for the master's now: Sentinel's last answer to a
    /// discovery, or the new address of the last `+switch-master` it was told of. A watch,
    /// so that the pool and the commands in flight learn of a change at its instant.
    known: Arc<Known>,
}

/// What a client knows of the master's address, with a wake-up for whoever watches it.
///
/// Not `tokio::sync::watch`: its receivers wait on one of several notifiers picked at random
/// (to spread contention), so two tasks woken by one change ran in an order that differed
/// from process to process, and the trace hash with it. `Notify::notify_waiters` wakes its
/// waiters in the order they registered, which the simulation makes deterministic.
#[derive(Debug, Default)]
struct Known {
    /// (changes so far, the address known).
    state: std::sync::Mutex<(u64, Option<(String, u16)>)>,
    changed: tokio::sync::Notify,
}

impl Known {
    fn get(&self) -> (u64, Option<(String, u16)>) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Every change of what a client knows of the master's address
/// ([`SentinelTarget::subscribe`]).
#[derive(Debug)]
pub struct KnownChanges {
    known: Arc<Known>,
    seen: u64,
}

impl KnownChanges {
    /// Waits for a change after the last one this receiver saw; returns the address known
    /// then.
    pub async fn changed(&mut self) -> Option<(String, u16)> {
        loop {
            let notified = self.known.changed.notified();
            tokio::pin!(notified);
            // Registered before the state is read: a change in between still wakes it.
            notified.as_mut().enable();
            let (version, addr) = self.known.get();
            if version != self.seen {
                self.seen = version;
                return addr;
            }
            notified.await;
        }
    }
}

impl SentinelTarget {
    /// A client of the Sentinel at `host:port` for master `master_name`, knowing nothing yet.
    #[must_use]
    pub fn new(
        host: &str,
        port: u16,
        master_name: &str,
        on_address_change: crate::client::OnAddressChange,
    ) -> Self {
        Self {
            host: host.to_owned(),
            port,
            master_name: master_name.to_owned(),
            on_address_change,
            leaks_slots: false,
            known: Arc::new(Known::default()),
        }
    }

    /// The same client with `address_change_leaks_slots` set to `leaks`.
    #[must_use]
    pub fn with_leaks_slots(mut self, leaks: bool) -> Self {
        self.leaks_slots = leaks;
        self
    }

    /// The same client (it shares what this one knows) with another rule for connections to
    /// an old address.
    #[must_use]
    pub fn with_on_address_change(mut self, rule: crate::client::OnAddressChange) -> Self {
        self.on_address_change = rule;
        self
    }

    /// The address the client takes for the master's now, if it asked already.
    #[must_use]
    pub fn known(&self) -> Option<(String, u16)> {
        self.known.get().1
    }

    /// The client learned that the master is at `addr`; returns whether that changed what it
    /// knew (a first answer is a change too). Everything watching the address
    /// ([`SentinelTarget::subscribe`], [`AddressWatch`]) is woken on a change.
    pub fn learn(&self, addr: (String, u16)) -> bool {
        {
            let mut st = self
                .known
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if st.1.as_ref() == Some(&addr) {
                return false;
            }
            st.0 += 1;
            st.1 = Some(addr);
        }
        self.known.changed.notify_waiters();
        true
    }

    /// A receiver of every change of the known address.
    #[must_use]
    pub fn subscribe(&self) -> KnownChanges {
        KnownChanges {
            known: Arc::clone(&self.known),
            seen: self.known.get().0,
        }
    }

    /// Whether the client's profile drops connections to an old address at all.
    #[must_use]
    pub fn drops(&self) -> bool {
        self.on_address_change != crate::client::OnAddressChange::None
    }

    /// Whether a connection to `peer` is to an address the client no longer takes for the
    /// master's (`false` while it knows none). Inside a simulated host (names are resolved
    /// with `turmoil::lookup`).
    #[must_use]
    pub fn is_stale(&self, peer: std::net::SocketAddr) -> bool {
        stale(self.known.get().1.as_ref(), peer)
    }

    /// A watch that resolves when the client learns that `peer` is no longer the master's
    /// address (at once if it knows already).
    #[must_use]
    pub fn watch(&self, peer: std::net::SocketAddr) -> AddressWatch {
        AddressWatch {
            known: Arc::clone(&self.known),
            peer,
        }
    }
}

fn stale(known: Option<&(String, u16)>, peer: std::net::SocketAddr) -> bool {
    known.is_some_and(|(host, port)| {
        peer.port() != *port || peer.ip() != turmoil::lookup(host.as_str())
    })
}

/// Resolves when a client learns that the server of one connection is no longer the master
/// (go-redis `FailoverClient`: `onFailover` closes every connection to the old address, in
/// use or idle, and a command in flight on one fails). See [`PoolUnderTest::address_watch`].
#[derive(Debug)]
pub struct AddressWatch {
    known: Arc<Known>,
    peer: std::net::SocketAddr,
}

impl AddressWatch {
    /// Waits until the client knows the master elsewhere than this connection's server.
    pub async fn moved(&self) {
        loop {
            let notified = self.known.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if stale(self.known.get().1.as_ref(), self.peer) {
                return;
            }
            notified.await;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a `-READONLY` reply is a READONLY error; any other error reply is `other` and
    /// keeps its connection. No built-in run answers a client with another server error.
    #[test]
    fn each_command_error_has_its_kind_and_only_a_reply_keeps_the_connection() {
        let cases = [
            (CmdError::Closed("eof".into()), ErrorKind::Eof, true),
            (CmdError::MaxClients, ErrorKind::MaxClients, true),
            (CmdError::Timeout(200), ErrorKind::ReadTimeout, true),
            (
                CmdError::Server("READONLY You can't write against a read only replica.".into()),
                ErrorKind::Readonly,
                false,
            ),
            (
                CmdError::Server("ERR unknown command 'FOO'".into()),
                ErrorKind::Other,
                false,
            ),
            (CmdError::Other("bad frame".into()), ErrorKind::Other, true),
        ];
        for (e, kind, breaks) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
            assert_eq!(e.breaks_connection(), breaks, "{e:?}");
        }
    }

    /// A pool whose adapter says only its counts opts out of each check that needs more:
    /// `None` skips it. The real crates' adapters (bb8, deadpool, mobc, redis-rs) count
    /// neither their connects in flight nor their connects so far, and do not list their
    /// connections' addresses. A default that claimed `Some(0)` connects
    /// in flight would hold every real pool to "no refusal unread at the end", which a pool
    /// refilling against a full server breaks without a bug.
    #[test]
    fn a_pool_that_says_only_its_counts_opts_out_of_the_checks_that_need_more() {
        struct CountsOnly;
        impl Observe for CountsOnly {
            fn snapshot(&self) -> PoolSnapshot {
                PoolSnapshot::default()
            }
        }
        let p = CountsOnly;
        assert_eq!(p.check_invariants(), Ok(()));
        assert_eq!(p.connects_in_flight(), None);
        assert_eq!(p.findings(), Vec::new());
        assert_eq!(p.connection_addrs(), None);
        assert_eq!(p.connect_counts(), None);
    }

    /// A pool that implements only what it must (get, run, release, its ids) gets the
    /// documented defaults: no local port (the trace names its ids only), no connection taken
    /// for stale, no address watch, no reconnect in place, and a connection to an old address
    /// released as a broken one (`release(conn, false)`) with its slot kept. None of the
    /// workspace's pools relies on them (each real crate's adapter reads its local port), so
    /// only this test reads them.
    #[test]
    fn a_pool_that_implements_only_what_it_must_gets_the_documented_defaults() {
        #[derive(Default)]
        struct Bare {
            released: std::sync::Mutex<Vec<(u64, bool)>>,
        }
        impl Observe for Bare {
            fn snapshot(&self) -> PoolSnapshot {
                PoolSnapshot::default()
            }
        }
        impl PoolUnderTest for Bare {
            type Conn = u64;
            async fn get(&self, _: tokio::time::Instant) -> Result<u64, GetError> {
                Ok(7)
            }
            async fn run(&self, _: &mut u64, _: &[&[u8]]) -> Result<Reply, CmdError> {
                Ok(Reply::Int(1))
            }
            fn release(&self, conn: u64, healthy: bool) {
                self.released.lock().unwrap().push((conn, healthy));
            }
            fn conn_id(&self, conn: &u64) -> u64 {
                *conn
            }
        }
        let p = Bare::default();
        assert_eq!(p.conn_local_port(&7), None);
        assert!(!p.stale(&7));
        assert!(p.address_watch(&7).is_none());
        assert!(!p.can_reconnect_in_place());
        assert!(!p.release_unowned(7), "the slot is not lost");
        assert_eq!(
            *p.released.lock().unwrap(),
            [(7, false)],
            "released as broken"
        );
    }
}
