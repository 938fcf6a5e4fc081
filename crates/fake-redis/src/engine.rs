//! The pure server engine: clients, config, keyspace, stats, the cron. No I/O, no clock.
//!
//! # Calling contract
//!
//! Every `handle_*` method takes `now`, the time on the caller's clock as a [`Duration`] since
//! an epoch the caller chooses (the shells use "when the server first served"). Time never goes
//! backwards: an earlier `now` is treated as the latest one seen. Whole seconds of `now` play
//! the role of Redis's cached `server.unixtime`.
//!
//! - [`Engine::accept`]: a TCP connection arrived; admit it or reject it (`maxclients`).
//! - [`Engine::handle_read`]: bytes arrived from a client; commands are parsed and executed,
//!   replies are appended to that client's output buffer.
//! - [`Engine::take_output`]: the shell takes a client's pending output to write it.
//! - [`Engine::handle_wrote`]: the shell wrote bytes (counts as activity, as in Redis).
//! - [`Engine::handle_closed`]: the peer went away.
//! - [`Engine::handle_timeout`]: call at [`Engine::poll_timeout`]; runs the cron (idle
//!   timeout, active expiry) and BLPOP deadlines. An early call does nothing harmful.
//! - After every mutation, drain [`Engine::poll_output`] until `None`: it names clients that
//!   have new output ([`Output::Wake`]) and clients that must be dropped without writing
//!   anything ([`Output::Close`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{ConfigChange, InertSettings, ServerConfig, ServerStats};
use crate::keyspace::Db;
use crate::resp::{ReplyWriter, RequestParser};

/// A client's id (`CLIENT ID`): assigned from 1 upwards, never reused, not even by
/// [`Engine::restart`].
pub type ClientId = u64;

/// The reply written to a connection refused by `maxclients`.
pub const MAXCLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// The server's replication role (`ROLE`, `INFO replication`), set by `REPLICAOF` / `SLAVEOF`
/// or [`Engine::set_role`].
///
/// The fake does not replicate: a replica never connects to its master, never copies its
/// keyspace and keeps its own; it only behaves as a replica towards its clients (writes
/// answered `-READONLY`, reads served from the data it has, `ROLE` and `INFO` as a replica
/// that has not reached its master yet). See `docs/fake-redis.md`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// A master (the default).
    #[default]
    Master,
    /// A replica of `host:port` (as given to `REPLICAOF`, not resolved).
    Replica {
        /// The master's host, as given.
        host: String,
        /// The master's port.
        port: u16,
    },
}

impl Role {
    /// Is this a replica?
    #[must_use]
    pub fn is_replica(&self) -> bool {
        matches!(self, Self::Replica { .. })
    }
}

/// The error a client blocked in BLPOP reads when its server becomes a replica (Redis 7.0
/// `blocked.c` `disconnectAllBlockedClients`), before the connection closes.
pub const UNBLOCKED_REPLY: &[u8] =
    b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";

/// What to do with a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// Serve it as this client.
    Accepted(ClientId),
    /// Write [`MAXCLIENTS_REPLY`], then close (`rejected_connections` was incremented).
    Rejected,
    /// Close at once, writing nothing (the refuse-connections fault).
    Refused,
}

/// Why the engine dropped a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Idle for more than `timeout` seconds.
    IdleTimeout,
    /// CLIENT KILL from another client.
    Killed,
    /// The kill-all-clients fault.
    KillAll,
    /// The server restarted (fault).
    Restart,
    /// The server is shutting down.
    Shutdown,
    /// The client sent QUIT (closed after the `+OK`).
    Quit,
    /// The client sent a request the parser refused (closed after the error line).
    ProtocolError,
    /// The client was blocked (BLPOP) when the server became a replica: it got
    /// `-UNBLOCKED force unblock from blocking operation, instance state changed (master ->
    /// replica?)`, then the connection closed (Redis's `disconnectAllBlockedClients`).
    Unblocked,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IdleTimeout => "idle timeout",
            Self::Killed => "CLIENT KILL",
            Self::KillAll => "fault: kill all clients",
            Self::Restart => "fault: restart",
            Self::Shutdown => "server shutdown",
            Self::Quit => "QUIT",
            Self::ProtocolError => "protocol error",
            Self::Unblocked => "unblocked: the server became a replica",
        })
    }
}

/// Effects the shell must carry out, drained with [`Engine::poll_output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// The client has output to write (or input to resume) although it did not send
    /// anything just now (pub/sub message, BLPOP served or timed out).
    Wake {
        /// The client.
        client: ClientId,
    },
    /// Drop the client's connection now, writing nothing. It is already gone from the engine.
    Close {
        /// The client.
        client: ClientId,
        /// Why.
        reason: CloseReason,
        /// Whole seconds since the client's last interaction (what `timeout` compares).
        idle_secs: u64,
    },
}

/// State of a client after [`Engine::take_output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Drain {
    /// Write the bytes and keep serving.
    Open,
    /// Write the bytes, then close (QUIT, protocol error, CLIENT KILL of itself, FAULT
    /// RESTART). The client is already removed from the engine.
    CloseAfterWrite(CloseReason),
    /// The client no longer exists: drop the connection, write nothing.
    Gone,
}

/// What one [`Engine::handle_read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Commands executed (for the per-command latency fault).
    pub commands: u32,
}

#[derive(Clone, Debug, Hash)]
pub(crate) struct Blocked {
    pub(crate) db: usize,
    pub(crate) keys: Vec<Vec<u8>>,
    pub(crate) deadline: Option<Duration>,
}

/// A client's MULTI state (Redis's `mstate` plus the `CLIENT_DIRTY_EXEC` flag).
#[derive(Clone, Debug, Default, Hash)]
pub(crate) struct Multi {
    /// The queued commands' arguments, in order.
    pub(crate) queued: Vec<Vec<Vec<u8>>>,
    /// A command was rejected while queueing: EXEC answers `-EXECABORT`.
    pub(crate) dirty: bool,
    /// A queued command is a write command (EXEC counts as one for the READONLY check).
    pub(crate) write: bool,
}

#[derive(Clone, Debug, Hash)]
pub(crate) struct Client {
    pub(crate) id: ClientId,
    pub(crate) addr: String,
    pub(crate) laddr: String,
    pub(crate) name: Option<Vec<u8>>,
    pub(crate) lib_name: Option<Vec<u8>>,
    pub(crate) lib_ver: Option<Vec<u8>>,
    pub(crate) db: usize,
    pub(crate) created_secs: u64,
    pub(crate) last_interaction_secs: u64,
    pub(crate) authenticated: bool,
    pub(crate) resp: u8,
    /// Channels in subscription order.
    pub(crate) channels: BTreeSet<Vec<u8>>,
    pub(crate) patterns: BTreeSet<Vec<u8>>,
    pub(crate) blocked: Option<Blocked>,
    /// Inside MULTI.
    pub(crate) multi: Option<Multi>,
    /// Close once the pending output is written, and why.
    pub(crate) close_after_reply: Option<CloseReason>,
    pub(crate) last_cmd: &'static str,
    pub(crate) parser: RequestParser,
    pub(crate) out: Vec<u8>,
}

impl Client {
    pub(crate) fn writer(&self) -> ReplyWriter {
        ReplyWriter { resp: self.resp }
    }
    pub(crate) fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }
    fn exempt_from_timeout(&self) -> bool {
        self.blocked.is_some() || self.subscribed()
    }
}

/// The Redis server, minus sockets and clocks. See the module docs for the calling contract.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) config: ServerConfig,
    pub(crate) inert: InertSettings,
    pub(crate) clients: BTreeMap<ClientId, Client>,
    next_id: ClientId,
    pub(crate) dbs: Vec<Db>,
    pub(crate) stats: ServerStats,
    outputs: VecDeque<Output>,
    pub(crate) now: Duration,
    next_cron: Duration,
    /// Last client visited by the timeout scan (it rotates like Redis's client list).
    cron_cursor: ClientId,
    /// Subscribers per channel, in subscription order.
    pub(crate) channels: BTreeMap<Vec<u8>, Vec<ClientId>>,
    /// Subscribers per pattern, in subscription order.
    pub(crate) patterns: BTreeMap<Vec<u8>, Vec<ClientId>>,
    /// Clients blocked per (db, key), first come first served.
    pub(crate) blocking: BTreeMap<(usize, Vec<u8>), VecDeque<ClientId>>,
    /// Unblocked clients whose pipelined input must be processed.
    pub(crate) unblocked: Vec<ClientId>,
    timers_changed: bool,
    /// The read-only fault (FAULT READONLY, [`Engine::set_readonly`]): writes answer
    /// `-READONLY` whatever the role.
    pub(crate) readonly: bool,
    /// The replication role: a replica answers writes with `-READONLY` too.
    pub(crate) role: Role,
    /// EXEC is running its queued commands (BLPOP must not block then).
    pub(crate) in_exec: bool,
    pub(crate) refuse: bool,
    /// FAULT REFUSE on MS: refuse until this engine time, then stop by itself.
    pub(crate) refuse_until: Option<Duration>,
    /// The latency fault: the shell delays each reply batch by this much per command.
    pub(crate) reply_latency: Duration,
    /// DEBUG SLEEP: the server does nothing before this time.
    pub(crate) busy_until: Option<Duration>,
    /// Clients whose pipelined input waits for the end of a DEBUG SLEEP.
    resume_after_busy: Vec<ClientId>,
}

impl Engine {
    /// A fresh server with this configuration, its clock at zero.
    #[must_use]
    pub fn new(mut config: ServerConfig) -> Self {
        config.hz = config.hz.clamp(1, 500);
        config.maxclients = config.maxclients.max(1);
        let databases = config.databases.max(1) as usize;
        Self {
            config,
            inert: InertSettings::default(),
            clients: BTreeMap::new(),
            next_id: 1,
            dbs: (0..databases).map(|_| Db::default()).collect(),
            stats: ServerStats::default(),
            outputs: VecDeque::new(),
            now: Duration::ZERO,
            next_cron: Duration::ZERO,
            cron_cursor: 0,
            channels: BTreeMap::new(),
            patterns: BTreeMap::new(),
            blocking: BTreeMap::new(),
            unblocked: Vec::new(),
            timers_changed: false,
            readonly: false,
            role: Role::Master,
            in_exec: false,
            refuse: false,
            refuse_until: None,
            reply_latency: Duration::ZERO,
            busy_until: None,
            resume_after_busy: Vec::new(),
        }
    }

    /// Hashes what decides the engine's future, for a model checker's visited set (poolsim's
    /// exhaustive explorer): the configuration, the clients (with their parsers and pending
    /// output), the keyspace's non-empty databases, pub/sub and blocking state, the clock and
    /// cron, the faults, the role and the statistics (the explorer's checkers read them).
    /// Leaves out only the settings the engine stores without acting on, and the
    /// `timers_changed` flag its shell clears at once.
    ///
    /// Two engines that feed `h` the same words have the same future; with a wide enough
    /// hash, two that do not are told apart.
    pub fn hash_state_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        self.config.hash(h);
        self.clients.hash(h);
        self.next_id.hash(h);
        for (i, db) in self.dbs.iter().enumerate() {
            if db.len() > 0 {
                i.hash(h);
                db.hash(h);
            }
        }
        // The databases' end: no database index is `usize::MAX`.
        usize::MAX.hash(h);
        self.stats.hash(h);
        self.outputs.hash(h);
        self.now.hash(h);
        self.next_cron.hash(h);
        self.cron_cursor.hash(h);
        self.channels.hash(h);
        self.patterns.hash(h);
        self.blocking.hash(h);
        self.unblocked.hash(h);
        self.readonly.hash(h);
        self.role.hash(h);
        self.in_exec.hash(h);
        self.refuse.hash(h);
        self.refuse_until.hash(h);
        self.reply_latency.hash(h);
        self.busy_until.hash(h);
        self.resume_after_busy.hash(h);
    }

    // ---- getters ----

    /// The configuration as it is now (CONFIG SET changes it).
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Clients connected now.
    #[must_use]
    pub fn connected_clients(&self) -> u64 {
        self.clients.len() as u64
    }

    /// Is this client connected?
    #[must_use]
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.clients.contains_key(&client)
    }

    /// Ids of connected clients, ascending.
    pub fn client_ids(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.clients.keys().copied()
    }

    /// The client idle longest (whole seconds since its last interaction, at the latest `now`
    /// seen) among those the idle `timeout` applies to (not blocked, not subscribed); `None`
    /// without such clients. Simulations check with it that nobody outlives the timeout.
    #[must_use]
    pub fn idlest_client(&self) -> Option<(ClientId, u64)> {
        let now_secs = self.now.as_secs();
        self.clients
            .values()
            .filter(|c| !c.exempt_from_timeout())
            .map(|c| (c.id, now_secs.saturating_sub(c.last_interaction_secs)))
            .max_by_key(|&(id, idle)| (idle, std::cmp::Reverse(id)))
    }

    /// The replication role (`REPLICAOF`, [`set_role`](Self::set_role)).
    #[must_use]
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// Do write commands answer `-READONLY` now (a replica, or the read-only fault)?
    #[must_use]
    pub fn rejects_writes(&self) -> bool {
        self.readonly || self.role.is_replica()
    }

    /// The latest `now` seen.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.now
    }

    /// DEBUG SLEEP in progress: the shell should not read, execute or write before this time.
    #[must_use]
    pub fn busy_until(&self) -> Option<Duration> {
        self.busy_until.filter(|t| *t > self.now)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next: the next cron tick or the
    /// earliest BLPOP deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if let Some(b) = self.busy_until() {
            // Frozen by DEBUG SLEEP: nothing happens before it ends.
            return Some(b);
        }
        let mut t = self.next_cron;
        for c in self.clients.values() {
            if let Some(Blocked {
                deadline: Some(d), ..
            }) = &c.blocked
            {
                t = t.min(*d);
            }
        }
        Some(t)
    }

    /// True once after a client blocked with a deadline (the shell's timer must re-plan).
    pub fn take_timers_changed(&mut self) -> bool {
        std::mem::take(&mut self.timers_changed)
    }

    /// Next effect for the shell, if any. Drain until `None` after every mutation.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub(crate) fn set_timers_changed(&mut self) {
        self.timers_changed = true;
    }

    /// Unix time in ms at engine time `now` (see [`ServerConfig::unix_time_at_start_ms`]).
    pub(crate) fn unix_ms(&self, now: Duration) -> u64 {
        self.config.unix_time_at_start_ms + now.as_millis() as u64
    }

    pub(crate) fn push_output(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
    }

    // ---- I/O events ----

    /// A connection was accepted from `peer` on `local`.
    pub fn accept(&mut self, now: Duration, peer: SocketAddr, local: SocketAddr) -> Admission {
        self.advance(now);
        if self.refuse || self.refuse_until.is_some_and(|t| self.now < t) {
            return Admission::Refused;
        }
        if self.clients.len() as u64 >= self.config.maxclients {
            self.stats.rejected_connections += 1;
            return Admission::Rejected;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.total_connections_received += 1;
        let secs = self.now.as_secs();
        self.clients.insert(
            id,
            Client {
                id,
                addr: peer.to_string(),
                laddr: local.to_string(),
                name: None,
                lib_name: None,
                lib_ver: None,
                db: 0,
                created_secs: secs,
                last_interaction_secs: secs,
                authenticated: self.config.requirepass.is_none(),
                resp: 2,
                channels: BTreeSet::new(),
                patterns: BTreeSet::new(),
                blocked: None,
                multi: None,
                close_after_reply: None,
                last_cmd: "NULL",
                parser: RequestParser::new(),
                out: Vec::new(),
            },
        );
        Admission::Accepted(id)
    }

    /// Bytes arrived from `client`: parse and execute every complete command.
    pub fn handle_read(&mut self, now: Duration, client: ClientId, bytes: &[u8]) -> ReadOutcome {
        self.advance(now);
        let Some(c) = self.clients.get_mut(&client) else {
            return ReadOutcome::default();
        };
        if !bytes.is_empty() {
            c.last_interaction_secs = self.now.as_secs();
            self.stats.total_net_input_bytes += bytes.len() as u64;
        }
        c.parser.feed(bytes);
        let commands = self.process_input(client);
        self.process_unblocked();
        ReadOutcome { commands }
    }

    /// The shell wrote `n` bytes to `client`.
    pub fn handle_wrote(&mut self, now: Duration, client: ClientId, n: usize) {
        self.advance(now);
        self.stats.total_net_output_bytes += n as u64;
        if n > 0 {
            if let Some(c) = self.clients.get_mut(&client) {
                c.last_interaction_secs = self.now.as_secs();
            }
        }
    }

    /// The peer closed (EOF or error). Unknown ids are ignored.
    pub fn handle_closed(&mut self, now: Duration, client: ClientId) {
        self.advance(now);
        self.free_client(client, None);
    }

    /// Take `client`'s pending output into `buf` (which should be empty; buffers are swapped,
    /// so no copy and no allocation).
    pub fn take_output(&mut self, client: ClientId, buf: &mut Vec<u8>) -> Drain {
        let Some(c) = self.clients.get_mut(&client) else {
            return Drain::Gone;
        };
        buf.clear();
        std::mem::swap(buf, &mut c.out);
        if let Some(reason) = c.close_after_reply {
            self.free_client(client, None);
            return Drain::CloseAfterWrite(reason);
        }
        Drain::Open
    }

    /// Timer: run the cron if its tick is due and expire BLPOP deadlines.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.advance(now);
        let now = self.now;
        if self.busy_until().is_some() {
            // DEBUG SLEEP: the whole server is frozen, the cron included.
            return;
        }
        // After a DEBUG SLEEP, the sleeping batch goes on first, as it does inside Redis's
        // processInputBuffer, before any cron work.
        if self.busy_until().is_none() && !self.resume_after_busy.is_empty() {
            for id in std::mem::take(&mut self.resume_after_busy) {
                if self.clients.contains_key(&id) {
                    self.unblocked.push(id);
                }
            }
            self.process_unblocked();
        }
        if now >= self.next_cron {
            self.clients_cron();
            let expired: u64 = self.dbs.iter_mut().map(|db| db.expire_due(now)).sum();
            self.stats.expired_keys += expired;
            let period = Duration::from_millis(1000 / u64::from(self.config.hz.max(1)));
            self.next_cron += period;
            if self.next_cron <= now {
                self.next_cron = now + period;
            }
        }
        let timed_out: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| matches!(&c.blocked, Some(Blocked { deadline: Some(d), .. }) if *d <= now))
            .map(|c| c.id)
            .collect();
        for id in timed_out {
            self.unblock(id);
            if let Some(c) = self.clients.get_mut(&id) {
                let w = c.writer();
                w.null_array(&mut c.out);
            }
            self.unblocked.push(id);
        }
        self.process_unblocked();
    }

    /// Redis's `clientsCron` + `clientsCronHandleTimeout`: visit `numclients / hz` clients
    /// (at least 5, or all when there are fewer), rotating, and close those idle for more
    /// than `timeout` seconds.
    fn clients_cron(&mut self) {
        let n = self.clients.len();
        if n == 0 {
            return;
        }
        let mut iterations = n / self.config.hz.max(1) as usize;
        if iterations < 5 {
            iterations = n.min(5);
        }
        let mut visit = Vec::with_capacity(iterations);
        let after = self
            .clients
            .range(self.cron_cursor + 1..)
            .map(|(id, _)| *id);
        let before = self.clients.range(..=self.cron_cursor).map(|(id, _)| *id);
        visit.extend(after.chain(before).take(iterations));
        if let Some(&last) = visit.last() {
            self.cron_cursor = last;
        }
        let timeout = self.config.timeout_secs;
        let now_secs = self.now.as_secs();
        for id in visit {
            let Some(c) = self.clients.get(&id) else {
                continue;
            };
            if timeout != 0
                && !c.exempt_from_timeout()
                && now_secs.saturating_sub(c.last_interaction_secs) > timeout
            {
                self.stats.timed_out_clients += 1;
                self.free_client(id, Some(CloseReason::IdleTimeout));
            }
        }
    }

    // ---- fault controls ----

    /// Close every client, writing nothing.
    pub fn kill_all_clients(&mut self, reason: CloseReason) {
        self.kill_clients_except(reason, None);
    }

    /// Close every client but `keep`, writing nothing; returns how many were closed.
    pub(crate) fn kill_clients_except(
        &mut self,
        reason: CloseReason,
        keep: Option<ClientId>,
    ) -> u64 {
        let ids: Vec<ClientId> = self
            .clients
            .keys()
            .copied()
            .filter(|id| Some(*id) != keep)
            .collect();
        for &id in &ids {
            if reason == CloseReason::KillAll {
                self.stats.killed_clients += 1;
            }
            self.free_client(id, Some(reason));
        }
        ids.len() as u64
    }

    /// Lose the keyspace, the clients and the stats; keep the config. Ids keep increasing.
    /// The replication role is kept too: it is configuration (`replicaof`), which Sentinel
    /// persists with `CONFIG REWRITE` on real servers, so a restarted replica comes back as one.
    pub fn restart(&mut self) {
        self.restart_except(None);
    }

    /// [`restart`](Self::restart), but `keep` stays connected (FAULT RESTART closes its
    /// sender after the reply).
    pub(crate) fn restart_except(&mut self, keep: Option<ClientId>) {
        self.kill_clients_except(CloseReason::Restart, keep);
        for db in &mut self.dbs {
            db.clear();
        }
        self.stats = ServerStats::default();
        self.readonly = false;
        self.busy_until = None;
        self.resume_after_busy.clear();
    }

    /// Close new connections at once.
    pub fn set_refuse_connections(&mut self, refuse: bool) {
        self.refuse = refuse;
        self.refuse_until = None;
    }

    /// The stall fault: the whole server stops for `d` from `now`, as `DEBUG SLEEP` makes it
    /// (a slow command, a fork or swap stall, Redis 7's SHUTDOWN pause) but with no client
    /// asking. Nothing is executed, written or timed out meanwhile, the cron included; input
    /// that arrives waits and runs when the stall ends, in order, before any cron work. A stall
    /// during a stall extends it. Connections are still accepted (the kernel completes the
    /// handshake; see docs/fake-redis.md). Re-plan the timer afterwards
    /// ([`take_timers_changed`](Self::take_timers_changed) is set).
    pub fn stall(&mut self, now: Duration, d: Duration) {
        self.advance(now);
        self.busy_until = Some(self.busy_until.unwrap_or(self.now).max(self.now) + d);
        self.set_timers_changed();
    }

    /// The read-only fault: answer write commands with `-READONLY` (whatever the role; the
    /// role stays as it is). Turning it off does not make a replica writable.
    pub fn set_readonly(&mut self, readonly: bool) {
        self.readonly = readonly;
    }

    /// Change the replication role from outside, as `REPLICAOF host port` / `REPLICAOF NO ONE`
    /// from a client would, with the same effects: becoming a replica drops every client
    /// blocked in BLPOP with [`UNBLOCKED_REPLY`] (they are closed after it, reason
    /// [`CloseReason::Unblocked`]); other clients stay connected. Drain
    /// [`poll_output`](Self::poll_output) afterwards.
    pub fn set_role(&mut self, role: Role) {
        match role {
            Role::Master => self.role = Role::Master,
            Role::Replica { host, port } => self.become_replica(host, port),
        }
    }

    /// The latency fault: the shell waits this long per command before writing a reply
    /// batch (the engine only stores it; FAULT LATENCY and the shell's `set_latency` set it).
    pub fn set_reply_latency(&mut self, per_command: Duration) {
        self.reply_latency = per_command;
    }

    /// The latency the shell must add per command answered (zero: none).
    #[must_use]
    pub fn reply_latency(&self) -> Duration {
        self.reply_latency
    }

    /// CONFIG SET name value. Errors are the Redis error text (`ERR ...`).
    pub fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let change = crate::config::parse_change(&name.to_ascii_lowercase(), value.as_bytes())?;
        self.apply_config(change);
        Ok(())
    }

    pub(crate) fn apply_config(&mut self, change: ConfigChange) {
        match change {
            ConfigChange::Timeout(v) => self.config.timeout_secs = v,
            ConfigChange::Maxclients(v) => self.config.maxclients = v,
            ConfigChange::Requirepass(v) => self.config.requirepass = v,
            ConfigChange::Hz(v) => self.config.hz = v,
            ConfigChange::Save(v) => self.inert.save = v,
            ConfigChange::Appendonly(v) => self.inert.appendonly = v,
            ConfigChange::TcpKeepalive(v) => self.inert.tcp_keepalive = v,
            ConfigChange::Maxmemory(v) => self.inert.maxmemory = v,
            ConfigChange::MaxmemoryPolicy(v) => self.inert.maxmemory_policy = v,
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&mut self) {
        self.stats = ServerStats::default();
    }

    // ---- internals ----

    /// Does this client need to authenticate (Redis's `authRequired`)?
    pub(crate) fn auth_required(&self, c: &Client) -> bool {
        self.config.requirepass.is_some() && !c.authenticated
    }

    /// Redis's `processInputBuffer` for one client.
    fn process_input(&mut self, id: ClientId) -> u32 {
        let Some(c) = self.clients.get_mut(&id) else {
            return 0;
        };
        let mut parser = std::mem::take(&mut c.parser);
        let mut out = std::mem::take(&mut c.out);
        let mut commands = 0;
        while let Some(c) = self.clients.get(&id) {
            if c.blocked.is_some() || c.close_after_reply.is_some() {
                break;
            }
            if self.busy_until.is_some_and(|t| t > self.now) {
                // DEBUG SLEEP: the rest of the input runs once the sleep is over, at that time.
                if parser.pending_len() > 0 && !self.resume_after_busy.contains(&id) {
                    self.resume_after_busy.push(id);
                }
                break;
            }
            let auth_required = self.auth_required(c);
            match parser.next_command(auth_required) {
                Ok(None) => break,
                Ok(Some(_)) => {
                    commands += 1;
                    self.execute(id, &parser, &mut out);
                }
                Err(e) => {
                    out.extend_from_slice(e.reply_line().as_bytes());
                    self.stats.total_error_replies += 1;
                    parser.clear();
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.close_after_reply = Some(CloseReason::ProtocolError);
                    }
                    break;
                }
            }
        }
        if let Some(c) = self.clients.get_mut(&id) {
            // Anything written to the client meanwhile (e.g. a message it published to itself
            // in RESP3) went to the placeholder buffer: append it.
            let extra = std::mem::replace(&mut c.out, out);
            c.out.extend_from_slice(&extra);
            c.parser = parser;
        }
        commands
    }

    fn process_unblocked(&mut self) {
        while let Some(id) = self.unblocked.pop() {
            self.process_input(id);
            if self.clients.contains_key(&id) {
                self.outputs.push_back(Output::Wake { client: id });
            }
        }
    }

    /// Remove a client from its blocking queues.
    pub(crate) fn unblock(&mut self, id: ClientId) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let Some(b) = c.blocked.take() else {
            return;
        };
        for k in b.keys {
            let key = (b.db, k);
            if let Some(q) = self.blocking.get_mut(&key) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.blocking.remove(&key);
                }
            }
        }
    }

    pub(crate) fn block(
        &mut self,
        id: ClientId,
        db: usize,
        keys: Vec<Vec<u8>>,
        deadline: Option<Duration>,
    ) {
        for k in &keys {
            let q = self.blocking.entry((db, k.clone())).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        if deadline.is_some() {
            self.timers_changed = true;
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.blocked = Some(Blocked { db, keys, deadline });
        }
    }

    /// Free a client: unsubscribe, unblock, remove. `reason` Some: tell the shell to drop it.
    pub(crate) fn free_client(&mut self, id: ClientId, reason: Option<CloseReason>) {
        if !self.clients.contains_key(&id) {
            return;
        }
        self.unblock(id);
        let Some(c) = self.clients.remove(&id) else {
            return;
        };
        self.stats.closed_connections += 1;
        for ch in &c.channels {
            if let Some(v) = self.channels.get_mut(ch) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.channels.remove(ch);
                }
            }
        }
        for p in &c.patterns {
            if let Some(v) = self.patterns.get_mut(p) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.patterns.remove(p);
                }
            }
        }
        if let Some(reason) = reason {
            let idle_secs = self.now.as_secs().saturating_sub(c.last_interaction_secs);
            self.outputs.push_back(Output::Close {
                client: id,
                reason,
                idle_secs,
            });
        }
    }
}

#[cfg(test)]
mod tests;
