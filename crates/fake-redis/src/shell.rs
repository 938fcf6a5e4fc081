//! The async shell: accepts connections, moves bytes between sockets and the [`Engine`], runs
//! the cron timer. Generic over [`Listener`]; adapters for `tokio::net` and `turmoil::net`.
//!
//! One engine lock per read batch: a task reads what the socket has (up to 16 KiB), locks,
//! feeds it to the engine (which parses and executes every complete command), takes the
//! client's whole output buffer by swapping vectors, unlocks, and writes it with one write
//! call (more only if the socket is full). Nothing is awaited while the lock is held.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{ServerConfig, ServerStats};
use crate::engine::{
    Admission, ClientId, CloseReason, Drain, Engine, MAXCLIENTS_REPLY, Output, Role,
};

/// A source of connections: what the shell needs from a TCP listener.
///
/// Implemented for [`tokio::net::TcpListener`] (sets `TCP_NODELAY` on each accepted socket)
/// and [`turmoil::net::TcpListener`]. Streams must be `Send` because each connection runs in
/// its own `tokio::spawn`ed task (inside a turmoil host that is the host's runtime).
pub trait Listener: 'static {
    /// The accepted stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accept the next connection, returning it and the peer's address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
    /// The address the listener is bound to (reported as `laddr` in CLIENT LIST).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (s, peer) = Self::accept(self).await?;
        // Replies must not wait for Nagle's algorithm (mini-redis's 40 ms stalls).
        let _ = s.set_nodelay(true);
        Ok((s, peer))
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Self::local_addr(self)
    }
}

impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        Self::accept(self).await
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Self::local_addr(self)
    }
}

/// What happened to a connection, as the server saw it: handed to the observer set with
/// [`FakeRedis::set_conn_observer`] (the simulations write these into their traces).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// A connection was admitted as `client`.
    Accepted {
        /// The engine's client id (CLIENT LIST `id`).
        client: ClientId,
        /// The client's address.
        peer: SocketAddr,
    },
    /// `maxclients` was reached: the error was written and the connection closed.
    Rejected {
        /// The client's address.
        peer: SocketAddr,
    },
    /// The refuse-connections fault closed it at once, nothing written.
    Refused {
        /// The client's address.
        peer: SocketAddr,
    },
    /// An admitted connection ended.
    Closed {
        /// The engine's client id.
        client: ClientId,
        /// The client's address.
        peer: SocketAddr,
        /// Why: a [`CloseReason`]'s text when the server closed it (`idle timeout`,
        /// `fault: kill all clients`, `fault: restart`, `protocol error`, `QUIT`, ...), or what
        /// the connection task saw (`client closed connection`, `write failed`, ...).
        reason: String,
        /// Whether the server decided the close (false: the client went away).
        by_server: bool,
        /// Whole seconds since the client's last interaction, when the server closed it.
        idle_secs: Option<u64>,
    },
}

/// A connection observer (see [`FakeRedis::set_conn_observer`]).
pub type ConnObserver = Arc<dyn Fn(&ConnEvent) + Send + Sync>;

struct State {
    engine: Engine,
    /// Told of every accept, refusal and close.
    observer: Option<ConnObserver>,
    /// Wake-up signal and peer address of each connection task.
    conns: BTreeMap<ClientId, (Arc<Notify>, SocketAddr)>,
    /// (tokio instant, engine time) at the start of the current `serve`.
    clock: Option<(Instant, Duration)>,
    /// Time from accepting a connection to its first reply (a TLS or AUTH handshake's cost).
    connect_latency: Duration,
}

impl State {
    /// Engine time now: the engine's clock continues across serves (e.g. turmoil bounces).
    fn now(&self) -> Duration {
        self.clock.map_or_else(|| self.engine.now(), clock_now)
    }

    /// Tells the observer, if any, of the event `make` builds.
    fn observe(&self, make: impl FnOnce() -> ConnEvent) {
        if let Some(o) = &self.observer {
            o(&make());
        }
    }

    /// The tokio instant for an engine time.
    fn instant_at(&self, t: Duration) -> Instant {
        clock_instant(self.clock, t)
    }
}

struct Shared {
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
    paused: watch::Sender<bool>,
    /// Tells the cron task to re-plan (a BLPOP with an earlier deadline, hz change).
    timer: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug already reported; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Carry out the engine's outputs: wake the tasks concerned.
    fn dispatch(&self, st: &mut State) {
        let log = st.engine.config().log_connections;
        while let Some(o) = st.engine.poll_output() {
            match o {
                Output::Wake { client } => {
                    if let Some((n, _)) = st.conns.get(&client) {
                        n.notify_one();
                    }
                }
                Output::Close {
                    client,
                    reason,
                    idle_secs,
                } => {
                    if let Some((n, peer)) = st.conns.get(&client) {
                        if log {
                            log_close(client, *peer, &reason);
                        }
                        n.notify_one();
                        let peer = *peer;
                        st.observe(|| ConnEvent::Closed {
                            client,
                            peer,
                            reason: reason.to_string(),
                            by_server: true,
                            idle_secs: Some(idle_secs),
                        });
                    }
                }
            }
        }
        if st.engine.take_timers_changed() {
            self.timer.notify_one();
        }
    }
}

/// A fake Redis server: a cheap, cloneable handle (`Arc` inside; `Send + Sync + 'static`).
///
/// Serve it on tokio ([`serve_tokio`](Self::serve_tokio)), turmoil
/// ([`serve_turmoil`](Self::serve_turmoil)) or any [`Listener`] ([`serve`](Self::serve)); keep
/// a clone to inject faults and observe it from outside the simulation.
#[derive(Clone)]
pub struct FakeRedis {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRedis")
            .field("connected_clients", &self.connected_clients())
            .finish_non_exhaustive()
    }
}

/// The close log line, one per closed client (Redis logs these at `verbose`).
fn log_close(id: ClientId, peer: SocketAddr, reason: &dyn std::fmt::Display) {
    eprintln!("fake-redis: closed id={id} addr={peer} ({reason})");
}

struct ConnGuard {
    shared: Arc<Shared>,
    id: ClientId,
    peer: SocketAddr,
    /// Why the connection ends if the engine still counts the client when the task ends
    /// (the engine's own closes are logged by `dispatch` or after the last write).
    why: std::borrow::Cow<'static, str>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let now = st.now();
        let was = st.engine.is_connected(self.id);
        st.engine.handle_closed(now, self.id);
        st.conns.remove(&self.id);
        if was {
            if st.engine.config().log_connections {
                log_close(self.id, self.peer, &self.why);
            }
            st.observe(|| ConnEvent::Closed {
                client: self.id,
                peer: self.peer,
                reason: self.why.to_string(),
                by_server: false,
                idle_secs: None,
            });
        }
        self.shared.dispatch(&mut st);
    }
}

impl FakeRedis {
    /// A server with this configuration, no clients, an empty keyspace.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    engine: Engine::new(config),
                    observer: None,
                    conns: BTreeMap::new(),
                    clock: None,
                    connect_latency: Duration::ZERO,
                }),
                shutdown: watch::Sender::new(false),
                paused: watch::Sender::new(false),
                timer: Notify::new(),
            }),
        }
    }

    /// Serve on a tokio listener until [`shutdown`](Self::shutdown). Reads
    /// `tokio::time::Instant` for `now` (so a paused tokio clock works too).
    pub async fn serve_tokio(&self, listener: tokio::net::TcpListener) -> io::Result<()> {
        self.serve(listener).await
    }

    /// Serve on a turmoil listener (inside a turmoil host); simulated time via `tokio::time`.
    pub async fn serve_turmoil(&self, listener: turmoil::net::TcpListener) -> io::Result<()> {
        self.serve(listener).await
    }

    /// Serve over any [`Listener`] until [`shutdown`](Self::shutdown).
    ///
    /// Connections are accepted as fast as they arrive (turmoil panics when 65 connections
    /// are pending). On shutdown every client is closed and `Ok(())` returned. Dropping the
    /// future (e.g. a turmoil bounce) drops every connection and removes it from the engine.
    pub async fn serve<L: Listener>(&self, mut listener: L) -> io::Result<()> {
        let shared = self.shared.clone();
        let clock = {
            let mut st = shared.lock();
            let clock = (Instant::now(), st.engine.now());
            st.clock = Some(clock);
            clock
        };
        let mut shutdown = shared.shutdown.subscribe();
        let stopped = *shutdown.borrow_and_update();
        if stopped {
            return Ok(());
        }
        let local = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(cron_loop(shared.clone()));
        loop {
            tokio::select! {
                biased;
                _ = wait_until(&mut shutdown, true) => break,
                r = listener.accept() => match r {
                    Ok((stream, peer)) => {
                        tasks.spawn(serve_conn(shared.clone(), stream, peer, local, clock));
                    }
                    Err(e) => {
                        if shared.lock().engine.config().log_connections {
                            eprintln!("fake-redis: accept failed: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
            while tasks.try_join_next().is_some() {}
        }
        {
            let mut st = shared.lock();
            st.engine.kill_all_clients(CloseReason::Shutdown);
            shared.dispatch(&mut st);
        }
        tasks.shutdown().await;
        Ok(())
    }

    /// Stop every `serve` of this server: close all clients and return. Sticky: a later
    /// `serve` returns at once.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Delay every reply by `per_command` times the number of commands it answers
    /// (per connection; other connections are not held up). Zero turns it off.
    pub fn set_latency(&self, per_command: Duration) {
        self.shared.lock().engine.set_reply_latency(per_command);
    }

    /// Delay the first reply on every new connection until `delay` after it was accepted, as a
    /// TLS or AUTH handshake costs (the connection is admitted, and counted, at once). Zero
    /// turns it off; connections already past their first reply are not affected.
    pub fn set_connect_latency(&self, delay: Duration) {
        self.shared.lock().connect_latency = delay;
    }

    /// Stop reading from every connection (bytes wait in the socket) until resumed.
    /// Connections are still accepted and the cron still runs (so `timeout` still applies).
    pub fn pause_reading(&self, paused: bool) {
        self.shared.paused.send_replace(paused);
    }

    /// Close every client connection, writing nothing (clients read EOF).
    pub fn kill_all_clients(&self) {
        let mut st = self.shared.lock();
        st.engine.kill_all_clients(CloseReason::KillAll);
        self.shared.dispatch(&mut st);
    }

    /// Simulate a restart: keyspace, clients and stats lost, config kept. Client ids keep
    /// increasing. The listener keeps accepting.
    pub fn restart(&self) {
        let mut st = self.shared.lock();
        st.engine.restart();
        self.shared.dispatch(&mut st);
    }

    /// While true, new connections are accepted and closed at once, nothing written.
    pub fn refuse_connections(&self, refuse: bool) {
        self.shared.lock().engine.set_refuse_connections(refuse);
    }

    /// The stall fault ([`Engine::stall`]): the server stops for `d` from now.
    pub fn stall(&self, d: Duration) {
        let mut st = self.shared.lock();
        let now = st.now();
        st.engine.stall(now, d);
        self.shared.dispatch(&mut st);
    }

    /// While true, write commands answer `-READONLY You can't write against a read only
    /// replica.` (the read-only fault; independent of the role).
    pub fn set_readonly(&self, readonly: bool) {
        self.shared.lock().engine.set_readonly(readonly);
    }

    /// Make the server a replica or a master from outside, as `REPLICAOF host port` /
    /// `REPLICAOF NO ONE` would ([`Engine::set_role`]): writes answer `-READONLY` on a
    /// replica, and clients blocked in BLPOP get `-UNBLOCKED ...` and are closed. Other
    /// connections stay open (Sentinel kills them with `CLIENT KILL`; a plain `REPLICAOF`
    /// does not).
    pub fn set_role(&self, role: Role) {
        let mut st = self.shared.lock();
        st.engine.set_role(role);
        self.shared.dispatch(&mut st);
    }

    /// The replication role now.
    #[must_use]
    pub fn role(&self) -> Role {
        self.shared.lock().engine.role().clone()
    }

    /// Clients connected now (INFO `connected_clients`).
    #[must_use]
    pub fn connected_clients(&self) -> u64 {
        self.shared.lock().engine.connected_clients()
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.shared.lock().engine.stats().clone()
    }

    /// The current configuration.
    #[must_use]
    pub fn config(&self) -> ServerConfig {
        self.shared.lock().engine.config().clone()
    }

    /// Same as `CONFIG SET name value`; the error is Redis's error text (`ERR ...`).
    pub fn config_set(&self, name: &str, value: &str) -> Result<(), String> {
        let mut st = self.shared.lock();
        let r = st.engine.config_set(name, value);
        self.shared.timer.notify_one();
        r
    }

    /// Tell `observer` of every connection accepted, rejected, refused or closed from now on
    /// (`None`: stop). It is called with the server's lock held, in the order things happen:
    /// it must not call back into this server.
    pub fn set_conn_observer(&self, observer: Option<ConnObserver>) {
        self.shared.lock().observer = observer;
    }

    /// Run `f` on the engine under the lock (for tests and tools), then carry out its outputs.
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let mut st = self.shared.lock();
        let r = f(&mut st.engine);
        self.shared.dispatch(&mut st);
        r
    }
}

async fn cron_loop(shared: Arc<Shared>) {
    loop {
        let at = {
            let st = shared.lock();
            st.engine.poll_timeout().map(|t| st.instant_at(t))
        };
        let Some(at) = at else {
            shared.timer.notified().await;
            continue;
        };
        tokio::select! {
            biased;
            _ = shared.timer.notified() => continue,
            _ = tokio::time::sleep_until(at) => {
                let mut st = shared.lock();
                let now = st.now();
                st.engine.handle_timeout(now);
                shared.dispatch(&mut st);
            }
        }
    }
}

/// Wait until the watched flag equals `value` (or its sender is gone).
async fn wait_until(rx: &mut watch::Receiver<bool>, value: bool) {
    let _ = rx.wait_for(|v| *v == value).await.is_ok();
}

/// Sleep until the engine is no longer busy (DEBUG SLEEP, a stall). With `watch`, also wake
/// when the connection's task is signalled, and return `false` at once when the engine no
/// longer has the client (a kill or restart during the stall: the socket must close now, as
/// the kernel closes a killed process's sockets, not when the stall would have ended).
async fn wait_not_busy(shared: &Shared, watch: Option<(&Notify, ClientId)>) -> bool {
    let mut woken = false;
    loop {
        let at = {
            let st = shared.lock();
            if let Some((_, id)) = watch {
                if !st.engine.is_connected(id) {
                    return false;
                }
            }
            let now = st.now();
            st.engine
                .busy_until()
                .filter(|t| *t > now)
                .map(|t| st.instant_at(t))
        };
        let Some(at) = at else {
            return keep_wake(watch, woken);
        };
        match watch {
            None => tokio::time::sleep_until(at).await,
            Some((signal, _)) => {
                tokio::select! {
                    biased;
                    () = signal.notified() => woken = true,
                    () = tokio::time::sleep_until(at) => {}
                }
            }
        }
    }
}

/// A wake-up consumed while waiting is given back (`true`): it may announce output (the
/// end of a stall wakes the client whose input ran), which the task takes after its write.
fn keep_wake(watch: Option<(&Notify, ClientId)>, woken: bool) -> bool {
    if let (Some((signal, _)), true) = (watch, woken) {
        signal.notify_one();
    }
    true
}

/// Sleep until `until`; with `watch`, return `false` as soon as the engine no longer has the
/// client (the connection is signalled when it is closed).
async fn sleep_unless_gone(
    shared: &Shared,
    watch: Option<(&Notify, ClientId)>,
    until: Instant,
) -> bool {
    let Some((signal, id)) = watch else {
        tokio::time::sleep_until(until).await;
        return true;
    };
    let mut woken = false;
    loop {
        if !shared.lock().engine.is_connected(id) {
            return false;
        }
        tokio::select! {
            biased;
            () = signal.notified() => woken = true,
            () = tokio::time::sleep_until(until) => return keep_wake(watch, woken),
        }
    }
}

/// How a write ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    /// All written, no wake-up arrived meanwhile.
    Done,
    /// All written, and a wake-up arrived meanwhile (more output may be waiting).
    DoneWoken,
    /// The connection failed or the engine dropped the client.
    Gone,
}

/// Write `buf`, watching for the client being dropped by the engine meanwhile.
async fn write_out<S: AsyncWrite + Unpin>(
    shared: &Shared,
    id: ClientId,
    signal: &Notify,
    stream: &mut S,
    buf: &[u8],
) -> Written {
    let mut pos = 0;
    let mut woken = false;
    while pos < buf.len() {
        tokio::select! {
            biased;
            _ = signal.notified() => {
                if !shared.lock().engine.is_connected(id) {
                    return Written::Gone;
                }
                // The wake-up is consumed here: remember it so the output it announced is
                // taken after this write.
                woken = true;
            }
            r = stream.write(&buf[pos..]) => match r {
                Ok(0) | Err(_) => return Written::Gone,
                Ok(n) => pos += n,
            },
        }
    }
    if stream.flush().await.is_err() {
        return Written::Gone;
    }
    if woken {
        Written::DoneWoken
    } else {
        Written::Done
    }
}

/// Engine time from a serve's clock, without the lock.
/// The tokio instant of engine time `t` on a shell's clock `(tokio instant, engine time)` taken
/// when it started serving (now, without one). The Sentinel's shell shares it.
pub(crate) fn clock_instant(clock: Option<(Instant, Duration)>, t: Duration) -> Instant {
    match clock {
        Some((base, offset)) => base + t.saturating_sub(offset),
        None => Instant::now(),
    }
}

/// Engine time now on a shell's clock (see [`clock_instant`]).
pub(crate) fn clock_now((base, offset): (Instant, Duration)) -> Duration {
    offset + Instant::now().saturating_duration_since(base)
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    clock: (Instant, Duration),
) {
    let signal = Arc::new(Notify::new());
    let (admission, log, connect_latency) = {
        let mut st = shared.lock();
        let now = st.now();
        let a = st.engine.accept(now, peer, local);
        match a {
            Admission::Accepted(client) => {
                st.conns.insert(client, (signal.clone(), peer));
                st.observe(|| ConnEvent::Accepted { client, peer });
            }
            Admission::Rejected => st.observe(|| ConnEvent::Rejected { peer }),
            Admission::Refused => st.observe(|| ConnEvent::Refused { peer }),
        }
        (a, st.engine.config().log_connections, st.connect_latency)
    };
    // The first reply waits for the end of the simulated handshake.
    let mut handshake_until =
        (!connect_latency.is_zero()).then(|| Instant::now() + connect_latency);
    let id = match admission {
        Admission::Accepted(id) => id,
        Admission::Rejected => {
            if log {
                eprintln!("fake-redis: rejected {peer} (max number of clients reached)");
            }
            let _ = stream.write_all(MAXCLIENTS_REPLY).await;
            let _ = stream.shutdown().await;
            return;
        }
        Admission::Refused => {
            if log {
                eprintln!("fake-redis: refused {peer} (fault: refuse connections)");
            }
            return;
        }
    };
    if log {
        eprintln!("fake-redis: accepted id={id} addr={peer}");
    }
    let mut guard = ConnGuard {
        shared: shared.clone(),
        id,
        peer,
        why: "connection task dropped".into(),
    };
    let mut paused = shared.paused.subscribe();
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    // Bytes written but not yet reported to the engine. A write in the same whole second as
    // the lock that produced it changes nothing but a counter, so it is reported with the next
    // lock; a later write is reported at once (it is activity for `timeout`).
    let mut unreported = 0usize;
    let mut batch_commands = 0u32;
    // The drain state taken under the read lock, so a batch costs a single lock.
    let mut taken: Option<(Drain, Duration, Duration)> = None;
    loop {
        let (drain, latency, taken_at) = match taken.take() {
            Some(t) => t,
            None => {
                let mut st = shared.lock();
                let now = st.now();
                if unreported > 0 {
                    st.engine
                        .handle_wrote(now, id, std::mem::take(&mut unreported));
                }
                let d = st.engine.take_output(id, &mut out);
                shared.dispatch(&mut st);
                (d, st.engine.reply_latency(), now)
            }
        };
        if drain == Drain::Gone {
            return;
        }
        if !out.is_empty() {
            // While the reply waits (the handshake, a stall, the command latency), a kill or
            // restart closes the connection at once, nothing written, as Redis frees a killed
            // client with its pending output. A reply the engine closes after (QUIT) is
            // written whatever happens meanwhile.
            let watch = (drain == Drain::Open).then_some((&*signal, id));
            if let Some(t) = handshake_until.take() {
                if !sleep_unless_gone(&shared, watch, t).await {
                    return;
                }
            }
            if !wait_not_busy(&shared, watch).await {
                return;
            }
            if !latency.is_zero() && batch_commands > 0 {
                let until = Instant::now() + latency * batch_commands;
                if !sleep_unless_gone(&shared, watch, until).await {
                    return;
                }
            }
            batch_commands = 0;
            let written = write_out(&shared, id, &signal, &mut stream, &out).await;
            if written == Written::Gone {
                guard.why = "write failed".into();
                if let Drain::CloseAfterWrite(reason) = drain {
                    // Already gone from the engine, so the guard will not report it.
                    if log {
                        log_close(id, peer, &format_args!("{reason}, then the write failed"));
                    }
                    shared.lock().observe(|| ConnEvent::Closed {
                        client: id,
                        peer,
                        reason: format!("{reason}, then the write failed"),
                        by_server: true,
                        idle_secs: None,
                    });
                }
                return;
            }
            unreported += out.len();
            out.clear();
            if drain == Drain::Open && written == Written::DoneWoken {
                // Take what the wake-up announced before waiting for input.
                continue;
            }
            if drain == Drain::Open && clock_now(clock).as_secs() != taken_at.as_secs() {
                let mut st = shared.lock();
                let now = st.now();
                st.engine
                    .handle_wrote(now, id, std::mem::take(&mut unreported));
            }
        }
        if let Drain::CloseAfterWrite(reason) = drain {
            if log {
                log_close(id, peer, &reason);
            }
            shared.lock().observe(|| ConnEvent::Closed {
                client: id,
                peer,
                reason: reason.to_string(),
                by_server: true,
                idle_secs: None,
            });
            let _ = stream.shutdown().await;
            return;
        }
        let is_paused = *paused.borrow_and_update();
        if is_paused {
            tokio::select! {
                biased;
                _ = signal.notified() => continue,
                _ = wait_until(&mut paused, false) => {}
            }
        }
        let n = tokio::select! {
            biased;
            _ = signal.notified() => continue,
            r = stream.read(&mut rbuf) => match r {
                Ok(0) => {
                    guard.why = "client closed connection".into();
                    return;
                }
                Err(e) => {
                    guard.why = format!("read error: {e}").into();
                    return;
                }
                Ok(n) => n,
            },
        };
        // Bytes read while reading was paused wait for the resume (or for the client's end).
        while *paused.borrow_and_update() {
            tokio::select! {
                biased;
                _ = signal.notified() => {
                    if !shared.lock().engine.is_connected(id) {
                        return;
                    }
                }
                _ = wait_until(&mut paused, false) => {}
            }
        }
        if !wait_not_busy(&shared, Some((&signal, id))).await {
            return;
        }
        let mut st = shared.lock();
        let now = st.now();
        if unreported > 0 {
            st.engine
                .handle_wrote(now, id, std::mem::take(&mut unreported));
        }
        batch_commands = st.engine.handle_read(now, id, &rbuf[..n]).commands;
        let d = st.engine.take_output(id, &mut out);
        shared.dispatch(&mut st);
        taken = Some((d, st.engine.reply_latency(), now));
    }
}
