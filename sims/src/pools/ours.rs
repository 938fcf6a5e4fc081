//! This project's pool, `pool::Pool` over the turmoil Redis manager, in a scenario: traced
//! through its observer, invariants checked with `pool_core::invariants::check` after every step.

use crate::adapter::{
    CmdError, GetError, Observe, PoolContext, PoolFactory, PoolSnapshot, PoolUnderTest, Reply,
};
use crate::trace::Trace;
use pool::redis::{RedisError, TurmoilRedisManager};
use pool::{Manager, Pool, PoolError, Pooled};
use pool_core::{CheckHow, ConnectError, Output};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// This project's pool: `pool::Pool` over the turmoil Redis manager, traced through its
/// observer, invariants checked with `pool_core::invariants::check`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CorePoolFactory;

/// [`TurmoilRedisManager`] that reports what the clients see of the server's refusals and
/// traces every failed connect (`pool.connect_failed`).
#[derive(Debug)]
pub struct CountingManager {
    inner: TurmoilRedisManager,
    discovery: Option<crate::adapter::SentinelTarget>,
    refusals_seen: Arc<AtomicU64>,
    trace: Trace,
    label: String,
}

impl Manager for CountingManager {
    type Connection = <TurmoilRedisManager as Manager>::Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let r = match &self.discovery {
            None => self.inner.connect().await,
            Some(d) => match crate::pools::discover_master(d, &self.trace, &self.label).await {
                Ok((host, port)) => match self.inner.at(host.clone(), port).connect().await {
                    // The client learned of another master while this connect was under way
                    // (a `+switch-master`, or another connect's discovery): a client that
                    // drops connections to an old address does not keep this one either.
                    // go-redis's `Filter` would miss a dial in flight and use it until it
                    // fails; poolsim closes it, so that `client.stale_connection` can hold
                    // without exception (docs/scenarios.md).
                    Ok(c) if d.drops() && d.known().is_some_and(|k| k != (host.clone(), port)) => {
                        drop(c);
                        Err(RedisError::Io(std::io::Error::other(format!(
                            "the master moved during the connect to {host}:{port}"
                        ))))
                    }
                    other => other,
                },
                Err(e) => Err(RedisError::Io(e)),
            },
        };
        if let Err(e) = &r {
            if self.inner.connect_error_kind(e) == ConnectError::MaxClients {
                self.refusals_seen.fetch_add(1, Ordering::Relaxed);
            }
            self.trace
                .event(
                    crate::world::sim_now_us(),
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
    /// The server address of each connection in use (by pool id), for
    /// [`Observe::connection_addrs`].
    in_use: std::sync::Mutex<std::collections::BTreeMap<u64, std::net::SocketAddr>>,
    /// Connections whose slot was lost with them ([`PoolUnderTest::release_unowned`] with
    /// `address_change_leaks_slots`): closed, and never given back, so that the pool counts
    /// them as taken for the rest of the run, as redis-py's `_created_connections` does.
    leaked: std::sync::Mutex<Vec<<Self as PoolUnderTest>::Conn>>,
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

impl CorePool {
    /// The server address of `conn`: the one recorded when it was checked out, else its
    /// stream's peer.
    fn peer_of(&self, conn: &<Self as PoolUnderTest>::Conn) -> Option<std::net::SocketAddr> {
        self.in_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&conn.conn_id().0)
            .copied()
            .or_else(|| conn.stream().peer_addr().ok())
    }

    /// The pool itself (a handle: `pool::Pool` is shared by clones).
    #[must_use]
    pub fn pool_handle(&self) -> Pool<CountingManager> {
        self.pool.clone()
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
            discovery: ctx.discovery.clone(),
            refusals_seen: Arc::clone(&ctx.refusals_seen),
            trace: ctx.trace.clone(),
            label: label.to_owned(),
        };
        let epoch_us = crate::world::sim_now_us();
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
            trace_output(&trace, t, &host, out);
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
        // A client that drops connections to an old address closes the idle ones at the
        // instant it learns of a change (redis-py's `disconnect(inuse_connections=False)`,
        // go-redis's `Filter`): this task watches what the client knows.
        if let Some(d) = ctx
            .discovery
            .clone()
            .filter(crate::adapter::SentinelTarget::drops)
        {
            tokio::spawn(evict_on_change(
                pool.clone(),
                d,
                ctx.trace.clone(),
                label.to_owned(),
            ));
        }
        Ok(CorePool {
            pool,
            in_use: std::sync::Mutex::default(),
            leaked: std::sync::Mutex::default(),
            checked: AtomicU64::new(u64::MAX),
        })
    }
}

/// Closes `pool`'s idle connections to an address the client `d` no longer takes for the
/// master's, at each change of what it knows (traced as `client.evict` when it closed some;
/// each close is a `pool.close` with reason `Evicted`). Runs as long as its host.
async fn evict_on_change(
    pool: Pool<CountingManager>,
    d: crate::adapter::SentinelTarget,
    trace: Trace,
    label: String,
) {
    let mut changes = d.subscribe();
    loop {
        let Some((host, port)) = changes.changed().await else {
            continue;
        };
        let n = pool.evict_idle_where(|c| c.stream().peer_addr().is_ok_and(|a| d.is_stale(a)));
        if n > 0 {
            trace
                .event(crate::world::sim_now_us(), &label, "client.evict")
                .str("master", &format!("{host}:{port}"))
                .num("conns", n as u64)
                .write();
        }
    }
}

/// Writes pool-core's output `out` into the trace as `pool.connect`, `pool.check`,
/// `pool.reject` or `pool.close` (a grant is written by the request that got it, as
/// `request.conn`). Both engines trace a pool through it.
pub(crate) fn trace_output(trace: &Trace, t_us: u64, host: &str, out: &Output) {
    match *out {
        Output::Connect { conn } => trace
            .event(t_us, host, "pool.connect")
            .num("conn", conn.0)
            .write(),
        Output::Check { conn, how } => trace
            .event(t_us, host, "pool.check")
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
            .event(t_us, host, "pool.reject")
            .str("reason", &format!("{reason:?}"))
            .write(),
        Output::Close { conn, reason } => trace
            .event(t_us, host, "pool.close")
            .num("conn", conn.0)
            .str("reason", &format!("{reason:?}"))
            .write(),
        Output::Grant { .. } => {}
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

    fn connects_in_flight(&self) -> Option<u64> {
        Some(u64::from(self.pool.state().connecting))
    }

    fn connection_addrs(&self) -> Option<Vec<(std::net::SocketAddr, bool)>> {
        let mut out: Vec<(std::net::SocketAddr, bool)> = Vec::new();
        self.pool.for_each_idle(|_, c| {
            if let Ok(a) = c.stream().peer_addr() {
                out.push((a, false));
            }
        });
        out.extend(
            self.in_use
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .map(|a| (*a, true)),
        );
        Some(out)
    }

    fn connect_counts(&self) -> Option<crate::adapter::ConnectCounts> {
        let s = self.pool.stats();
        Some(crate::adapter::ConnectCounts {
            failed: s.connects_failed,
            succeeded: s.connects_succeeded,
        })
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
        let r = self.pool.get_with_deadline(deadline).await;
        if let Ok(c) = &r {
            if let Ok(a) = c.stream().peer_addr() {
                self.in_use
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(c.conn_id().0, a);
            }
        }
        r.map_err(|e| match e {
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
        self.in_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&conn.conn_id().0);
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

    fn stale(&self, conn: &Self::Conn) -> bool {
        let Some(d) = self.pool.manager().discovery.as_ref().filter(|d| d.drops()) else {
            return false;
        };
        // The address recorded at checkout: a broken stream may no longer report its peer.
        self.peer_of(conn).is_some_and(|a| d.is_stale(a))
    }

    fn release_unowned(&self, mut conn: Self::Conn) -> bool {
        let leaks = self
            .pool
            .manager()
            .discovery
            .as_ref()
            .is_some_and(|d| d.leaks_slots);
        if !leaks {
            self.release(conn, false);
            return false;
        }
        self.in_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&conn.conn_id().0);
        // Closed (a FIN; turmoil's shutdown completes at once, so one poll does it), and kept
        // checked out for good: the pool's slot is lost with it.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ =
            tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(conn.stream_mut()), &mut cx);
        self.leaked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(conn);
        true
    }

    fn can_reconnect_in_place(&self) -> bool {
        true
    }

    async fn reconnect_in_place(
        &self,
        conn: &mut Self::Conn,
        connect_timeout: Option<std::time::Duration>,
    ) -> Result<String, CmdError> {
        let addr = self
            .peer_of(conn)
            .ok_or_else(|| CmdError::Other("the connection's address is unknown".to_owned()))?;
        let host = turmoil::reverse_lookup(addr.ip()).unwrap_or_else(|| addr.ip().to_string());
        let name = format!("{host}:{}", addr.port());
        let manager = self.pool.manager().inner.at(host, addr.port());
        // The manager's own bound (5 s) applies too.
        let r = match connect_timeout {
            None => manager.connect().await,
            Some(t) => tokio::time::timeout(t, manager.connect())
                .await
                .unwrap_or(Err(RedisError::TimedOut(t))),
        };
        match r {
            Ok(c) => {
                // The same pooled connection (redis-py's `Connection` object), a new socket.
                **conn = c;
                Ok(name)
            }
            Err(RedisError::TimedOut(t)) => Err(CmdError::Timeout(t.as_millis() as u64)),
            Err(e) if manager.connect_error_kind(&e) == ConnectError::MaxClients => {
                Err(CmdError::MaxClients)
            }
            Err(e) => Err(CmdError::Other(format!("connect to {name} failed: {e}"))),
        }
    }

    fn address_watch(&self, conn: &Self::Conn) -> Option<crate::adapter::AddressWatch> {
        let d = self.pool.manager().discovery.as_ref()?;
        if d.on_address_change != crate::client::OnAddressChange::DropAll {
            return None;
        }
        conn.stream().peer_addr().ok().map(|a| d.watch(a))
    }
}
