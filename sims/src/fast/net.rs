//! Connections between a pool and the server: the client's side does what
//! `pool::redis::RedisManager` and `RedisConnection` do, the server's side what the fake's
//! shell (`fake_redis::shell`) does around the engine.

use super::{Ev, NET, Soon, TIMER, World};
use fake_redis::engine::MAXCLIENTS_REPLY;
use fake_redis::{Admission, ClientId, Drain};
use pool::redis::resp::{self, Value};
use pool_core::{ConnId, ConnectError};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The manager's bound on a connect plus its handshake (`ours.rs`: 5 s).
pub(super) const CONNECT_BOUND_US: u64 = 5_000_000;
/// The manager's bound on a PING check (`RedisManager::check_timeout`: 1 s).
const CHECK_BOUND_US: u64 = 1_000_000;

/// The server's side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum SrvSide {
    /// The SYN has not arrived.
    NotYet,
    /// Served as this client.
    Open(ClientId),
    /// Closed (refused, rejected, closed by either side).
    Gone,
}

/// The client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum CliSide {
    Connecting,
    Open,
    /// Dropped by the client (the pool closed it, or its connect failed).
    Closed,
}

/// What the client waits for on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Op {
    /// The connect's `AUTH`.
    Auth,
    /// The connect's `PING`.
    ConnectPing,
    /// A PING check.
    Check,
    /// A command of handler `.0`.
    Cmd(usize),
    /// A Sentinel link's job: `.0` replies still to read (`topo`).
    Link(u8),
    /// A pool's `SENTINEL GET-MASTER-ADDR-BY-NAME` before its connect (`topo`).
    Discover,
    /// A subscription's `SUBSCRIBE +switch-master` confirmation (`topo`).
    Subscribe,
    /// A subscription's next message (`topo`).
    Message,
}

/// Why a client operation failed (the manager's `RedisError`, as far as the pool and the
/// request path tell them apart).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Failure {
    /// EOF where a reply was expected.
    Closed,
    /// An error reply.
    Server(String),
    /// The bound of the operation passed.
    TimedOut(u64),
    /// The reply could not be parsed, or was not the one expected.
    Protocol(String),
}

impl Failure {
    /// `RedisError`'s text, as `pool.connect_failed` traces it.
    pub(super) fn connect_text(&self) -> String {
        match self {
            Self::Closed => "the server closed the connection".to_owned(),
            Self::Server(m) if m.contains("max number of clients reached") => {
                "max number of clients reached".to_owned()
            }
            Self::Server(m) => format!("handshake failed: {m}"),
            Self::TimedOut(us) => format!("timed out after {:?}", Duration::from_micros(*us)),
            Self::Protocol(m) => m.clone(),
        }
    }

    fn connect_error(&self) -> ConnectError {
        match self {
            Self::Server(m) if m.contains("max number of clients reached") => {
                ConnectError::MaxClients
            }
            Self::Server(_) => ConnectError::Handshake,
            Self::TimedOut(_) => ConnectError::TimedOut,
            Self::Closed | Self::Protocol(_) => ConnectError::Other,
        }
    }
}

/// One TCP connection to a Redis server: a pool's, or a Sentinel's link to an instance.
#[derive(Clone, Debug, Hash)]
pub(super) struct Tcp {
    /// The pool, or [`NO_POOL`] for a Sentinel link.
    pub(super) pool: usize,
    pub(super) conn: ConnId,
    /// The server (an index into the world's servers).
    pub(super) server: usize,
    /// The Sentinel link it carries (`topo`), if it is one.
    pub(super) link: Option<usize>,
    /// A pool's client's subscription to the Sentinel's `+switch-master` (`topo`).
    pub(super) sub: bool,
    /// The handler whose retry dials its connection again in place (redis-py #3874): the
    /// connect is the handler's, not the pool's (`app`).
    pub(super) reconnect: Option<usize>,
    pub(super) port: u16,
    pub(super) srv: SrvSide,
    /// Bytes arrived at the server, not read by its shell yet.
    inbox: Vec<u8>,
    /// The shell has a write scheduled (it reads nothing meanwhile).
    srv_busy: bool,
    /// What the scheduled write carries, and whether the engine closes after it.
    pending_write: Vec<u8>,
    close_after_write: Option<fake_redis::CloseReason>,
    /// The first reply waits for the end of the simulated handshake.
    handshake_until: Option<u64>,
    /// The client's FIN arrived while the shell was busy (waiting to write): the shell sees
    /// it when it next reads, after the write.
    fin_pending: bool,
    pub(super) cli: CliSide,
    /// Bytes arrived at the client, not consumed.
    rx: Vec<u8>,
    /// The server's FIN arrived.
    eof: bool,
    pub(super) op: Option<Op>,
    op_seq: u64,
}

/// [`Tcp::pool`] of a Sentinel link's connection.
pub(super) const NO_POOL: usize = usize::MAX;

/// [`Tcp::server`] of a connection to the Sentinel (a pool's discovery, `topo`).
pub(super) const SENTINEL: usize = usize::MAX;

impl World<'_> {
    pub(super) fn tcp(&mut self, c: usize) -> Option<&mut Tcp> {
        self.tcps.get_mut(c).and_then(Option::as_mut)
    }

    /// `{pod}:{port}` of a connection (`sentinel:{port}` for a Sentinel link), as the trace
    /// names addresses.
    pub(super) fn addr_of(&self, c: usize) -> String {
        match self.tcps.get(c).and_then(Option::as_ref) {
            Some(t) if t.link.is_some() => format!("{}:{}", crate::world::SENTINEL_HOST, t.port),
            Some(t) => format!("{}:{}", self.app.pods[self.pools[t.pool].pod].host, t.port),
            None => String::new(),
        }
    }

    /// The peer address the engine records (CLIENT LIST `addr`).
    fn peer_of(&self, c: usize) -> SocketAddr {
        let Some(t) = self.tcps.get(c).and_then(Option::as_ref) else {
            return SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        };
        if t.link.is_some() {
            return SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)), t.port);
        }
        let pod = self.pools[t.pool].pod;
        let ip = Ipv4Addr::new(10, 1, (pod >> 8) as u8, (pod & 0xff) as u8);
        SocketAddr::new(IpAddr::V4(ip), t.port)
    }

    /// The pool asked for a connection: SYN to the server, the manager's bound armed (or,
    /// for a client that asks Sentinel first, SYN to the Sentinel: `topo`).
    pub(super) fn open_tcp(&mut self, pool: usize, conn: ConnId) -> usize {
        if self.pools[pool].discovery.is_some() {
            return self.open_discovery(pool, conn);
        }
        self.open_redis_tcp(pool, conn, 0)
    }

    /// A pool's connection to server `server`: SYN sent, the manager's 5 s bound armed.
    pub(super) fn open_redis_tcp(&mut self, pool: usize, conn: ConnId, server: usize) -> usize {
        let pod = self.pools[pool].pod;
        let port = self.app.pods[pod].next_port();
        let c = self.new_tcp(pool, conn, server, None, port);
        let seq = self.begin_op(c, None);
        self.after(CONNECT_BOUND_US, Ev::OpTimeout(c, seq));
        c
    }

    /// A new connection to server `server` from `port`: its SYN sent.
    pub(super) fn new_tcp(
        &mut self,
        pool: usize,
        conn: ConnId,
        server: usize,
        link: Option<usize>,
        port: u16,
    ) -> usize {
        let c = self.tcps.len();
        if link.is_some() {
            self.link_tcps.insert(c);
        }
        self.tcps.push(Some(Tcp {
            pool,
            conn,
            server,
            link,
            sub: false,
            reconnect: None,
            port,
            srv: SrvSide::NotYet,
            inbox: Vec::new(),
            srv_busy: false,
            pending_write: Vec::new(),
            close_after_write: None,
            handshake_until: None,
            fin_pending: false,
            cli: CliSide::Connecting,
            rx: Vec::new(),
            eof: false,
            op: None,
            op_seq: 0,
        }));
        self.send(Ev::SynToServer(c));
        c
    }

    pub(super) fn begin_op(&mut self, c: usize, op: Option<Op>) -> u64 {
        let Some(t) = self.tcp(c) else { return 0 };
        t.op_seq += 1;
        t.op = op;
        t.op_seq
    }

    /// Writes a command on the connection (the client side).
    pub(super) fn write_cmd(&mut self, c: usize, args: &[&[u8]]) {
        let mut bytes = Vec::with_capacity(32);
        resp::encode_command(&mut bytes, args);
        self.send(Ev::DataToServer(c, bytes));
    }

    /// The client drops the connection: FIN to the server.
    pub(super) fn close_tcp(&mut self, c: usize) {
        let Some(t) = self.tcp(c) else { return };
        let was = t.cli;
        t.cli = CliSide::Closed;
        t.op = None;
        t.op_seq += 1;
        if was == CliSide::Open {
            self.send(Ev::FinToServer(c));
        }
        self.maybe_free(c);
    }

    pub(super) fn maybe_free(&mut self, c: usize) {
        if let Some(t) = self.tcps.get(c).and_then(Option::as_ref) {
            if t.cli == CliSide::Closed && t.srv == SrvSide::Gone && !t.srv_busy {
                self.tcps[c] = None;
            }
        }
    }

    // ---- the server's side ----

    pub(super) fn syn_to_server(&mut self, c: usize) {
        let Some(t) = self.tcps.get(c).and_then(Option::as_ref) else {
            return;
        };
        if t.srv != SrvSide::NotYet {
            return;
        }
        if t.cli == CliSide::Closed {
            // The client gave up on this connect before its SYN arrived (a hang held it): the
            // server never accepts it, as turmoil's listener skips a SYN whose connect was
            // dropped (and a kernel answers the late SYN-ACK with a reset).
            if let Some(t) = self.tcp(c) {
                t.srv = SrvSide::Gone;
            }
            self.maybe_free(c);
            return;
        }
        let i = t.server;
        if i == SENTINEL {
            self.sentinel_accept(c);
            return;
        }
        let now = Duration::from_micros(self.now);
        let peer = self.peer_of(c);
        let local = SocketAddr::new(super::topo::server_ip(i), crate::runner::REDIS_PORT);
        let sv = &mut self.servers[i];
        // The planted bugs below act where the server would refuse the connection.
        let at_limit = sv.engine.connected_clients() >= sv.engine.config().maxclients;
        assert!(
            !(at_limit && self.plant == Some(super::explore::Plant::PanicOnRefusal)),
            "planted: the server panicked refusing a connection at maxclients"
        );
        let planted = at_limit && self.plant == Some(super::explore::Plant::UncountedRefusal);
        let admission = if planted {
            // Planted: a server that forgets to count a refused connection. It takes the
            // connection past its limit for a moment (counting no refusal) and the shell
            // answers the refusal's text and closes it, as such a server looks from outside.
            let n = sv.engine.config().maxclients;
            let _ = sv.engine.config_set("maxclients", &(n + 1).to_string());
            if let Admission::Accepted(id) = sv.engine.accept(now, peer, local) {
                sv.engine.handle_closed(now, id);
            }
            let _ = sv.engine.config_set("maxclients", &n.to_string());
            while sv.engine.poll_output().is_some() {}
            Admission::Rejected
        } else {
            sv.engine.accept(now, peer, local)
        };
        let addr = self.addr_of(c);
        let host = self.servers[i].host.clone();
        let t_us = self.now;
        match admission {
            Admission::Accepted(id) => {
                self.servers[i].by_client.insert(id, c);
                let hs = self.servers[i].connect_latency_us;
                let now_us = self.now;
                if let Some(t) = self.tcp(c) {
                    t.srv = SrvSide::Open(id);
                    t.handshake_until = (hs > 0).then_some(now_us + hs);
                }
                self.trace()
                    .event(t_us, &host, "server.accept")
                    .num("client", id)
                    .str("addr", &addr)
                    .write();
                // turmoil's connect returns when the SYN is accepted: no second hop.
                self.at(self.now, NET, Ev::SynAckToClient(c));
            }
            Admission::Rejected => {
                if let Some(t) = self.tcp(c) {
                    t.srv = SrvSide::Gone;
                }
                self.trace()
                    .event(t_us, &host, "server.reject")
                    .str("addr", &addr)
                    .str("reason", "max number of clients reached")
                    .write();
                self.at(self.now, NET, Ev::SynAckToClient(c));
                self.send(Ev::DataToClient(c, MAXCLIENTS_REPLY.to_vec()));
                self.send(Ev::FinToClient(c));
            }
            Admission::Refused => {
                if let Some(t) = self.tcp(c) {
                    t.srv = SrvSide::Gone;
                }
                self.trace()
                    .event(t_us, &host, "server.refuse")
                    .str("addr", &addr)
                    .write();
                self.at(self.now, NET, Ev::SynAckToClient(c));
                self.send(Ev::FinToClient(c));
            }
        }
        self.server_outputs(i);
    }

    pub(super) fn data_to_server(&mut self, c: usize, bytes: &[u8]) {
        let Some(t) = self.tcp(c) else { return };
        if !matches!(t.srv, SrvSide::Open(_)) {
            // The server closed it: nobody reads (the client sees the FIN).
            return;
        }
        if t.server == SENTINEL {
            self.sentinel_read(c, bytes);
            return;
        }
        t.inbox.extend_from_slice(bytes);
        if !t.srv_busy {
            self.server_read(c);
        }
    }

    /// The shell reads what arrived, the engine executes it, the reply is written after the
    /// handshake and the command latency.
    fn server_read(&mut self, c: usize) {
        let Some(i) = self.tcps.get(c).and_then(Option::as_ref).map(|t| t.server) else {
            return;
        };
        if let Some(b) = self.servers[i].engine.busy_until() {
            // A stall (or DEBUG SLEEP): the shell holds what it read until the server runs
            // again and reads nothing more meanwhile (a FIN waits too), as `fake_redis`'s
            // shell does. An empty scheduled write resumes it.
            let at = self.ceil_ms(u64::try_from(b.as_micros()).unwrap_or(u64::MAX));
            let Some(t) = self.tcp(c) else { return };
            if !matches!(t.srv, SrvSide::Open(_)) {
                return;
            }
            t.srv_busy = true;
            self.at(at, TIMER, Ev::ServerWrite(c));
            return;
        }
        let Some(t) = self.tcp(c) else { return };
        let SrvSide::Open(id) = t.srv else { return };
        let input = std::mem::take(&mut t.inbox);
        let now = Duration::from_micros(self.now);
        let engine = &mut self.servers[i].engine;
        let n = engine.handle_read(now, id, &input).commands;
        let mut out = Vec::new();
        let drain = engine.take_output(id, &mut out);
        let latency = engine.reply_latency();
        let busy_until = engine
            .busy_until()
            .map(|b| u64::try_from(b.as_micros()).unwrap_or(u64::MAX));
        self.server_outputs(i);
        let close_after = match drain {
            Drain::Gone => return,
            Drain::Open => None,
            Drain::CloseAfterWrite(r) => Some(r),
        };
        if out.is_empty() && close_after.is_none() {
            return;
        }
        let mut at = self.now;
        let Some(t) = self.tcp(c) else { return };
        if !out.is_empty() {
            if let Some(h) = t.handshake_until.take() {
                at = at.max(h);
            }
            if let Some(b) = busy_until {
                // A stall (or DEBUG SLEEP) began after the engine produced this: the shell
                // writes nothing before it ends (as `fake_redis`'s shell does).
                at = at.max(b);
            }
            if n > 0 {
                at += u64::try_from((latency * n).as_micros()).unwrap_or(u64::MAX);
            }
        }
        t.srv_busy = true;
        t.pending_write = out;
        t.close_after_write = close_after;
        if close_after.is_some() {
            // The engine forgot the client already.
            t.srv = SrvSide::Gone;
            self.servers[i].by_client.remove(&id);
        }
        let at = self.ceil_ms(at);
        if at == self.now {
            // Nothing to wait for: the shell writes at once.
            self.server_write(c);
        } else {
            self.at(at, TIMER, Ev::ServerWrite(c));
        }
    }

    pub(super) fn server_write(&mut self, c: usize) {
        let Some(t) = self.tcp(c) else { return };
        t.srv_busy = false;
        let bytes = std::mem::take(&mut t.pending_write);
        let close = t.close_after_write.take();
        let srv = t.srv;
        let i = t.server;
        let more = !t.inbox.is_empty();
        match (srv, close) {
            (SrvSide::Open(id), None) => {
                if !bytes.is_empty() {
                    let now = Duration::from_micros(self.now);
                    self.servers[i].engine.handle_wrote(now, id, bytes.len());
                    self.send(Ev::DataToClient(c, bytes));
                }
                if more {
                    self.server_read(c);
                }
                if self.tcp(c).is_some_and(|t| t.fin_pending && !t.srv_busy) {
                    self.fin_to_server(c);
                }
            }
            (_, Some(reason)) => {
                // QUIT, a protocol error: the reply, then the close.
                if !bytes.is_empty() {
                    self.send(Ev::DataToClient(c, bytes));
                }
                self.send(Ev::FinToClient(c));
                let addr = self.addr_of(c);
                self.trace()
                    .event(self.now, &self.servers[i].host, "server.close")
                    .str("addr", &addr)
                    .str("reason", &reason.to_string())
                    .str("by", "server")
                    .write();
                self.maybe_free(c);
            }
            // The engine dropped the client meanwhile: nothing is written.
            _ => self.maybe_free(c),
        }
    }

    pub(super) fn fin_to_server(&mut self, c: usize) {
        let Some(t) = self.tcp(c) else { return };
        let SrvSide::Open(id) = t.srv else { return };
        if t.server == SENTINEL {
            self.sentinel_closed(c);
            return;
        }
        if t.srv_busy {
            // The shell is waiting to write (the handshake, the command latency): it reads
            // nothing, so it sees the EOF after its write, as `serve_conn` does.
            t.fin_pending = true;
            return;
        }
        t.srv = SrvSide::Gone;
        t.inbox.clear();
        let i = t.server;
        self.servers[i].by_client.remove(&id);
        let now = Duration::from_micros(self.now);
        self.servers[i].engine.handle_closed(now, id);
        let addr = self.addr_of(c);
        self.trace()
            .event(self.now, &self.servers[i].host, "server.close")
            .num("client", id)
            .str("addr", &addr)
            .str("reason", "client closed connection")
            .str("by", "client")
            .write();
        self.server_outputs(i);
        self.maybe_free(c);
    }

    /// Carries out what server `i`'s engine asked for: closes (idle timeout, kill, restart).
    pub(super) fn server_outputs(&mut self, i: usize) {
        while let Some(out) = self.servers[i].engine.poll_output() {
            match out {
                fake_redis::Output::Close {
                    client,
                    reason,
                    idle_secs,
                } => {
                    let Some(c) = self.servers[i].by_client.remove(&client) else {
                        continue;
                    };
                    if let Some(t) = self.tcp(c) {
                        t.srv = SrvSide::Gone;
                        t.inbox.clear();
                    }
                    self.send(Ev::FinToClient(c));
                    let addr = self.addr_of(c);
                    let reason = reason.to_string();
                    let mut e = self
                        .trace()
                        .event(self.now, &self.servers[i].host, "server.close")
                        .num("client", client)
                        .str("addr", &addr)
                        .str("reason", &reason)
                        .str("by", "server");
                    if reason == "idle timeout" {
                        e = e.num("idle_s", idle_secs);
                    }
                    e.write();
                    self.maybe_free(c);
                }
                fake_redis::Output::Wake { client } => {
                    // Pub/sub and BLPOP: not used by the request path; served like a read.
                    if let Some(&c) = self.servers[i].by_client.get(&client) {
                        if self.tcp(c).is_some_and(|t| !t.srv_busy) {
                            self.server_read(c);
                        }
                    }
                }
            }
        }
    }

    // ---- the client's side ----

    pub(super) fn syn_ack_to_client(&mut self, c: usize) {
        let password = self.s.server.requirepass.clone();
        let Some(t) = self.tcp(c) else { return };
        match t.cli {
            CliSide::Closed => {
                // The pool gave up on this connect (its connect timeout): drop it.
                self.send(Ev::FinToServer(c));
                return;
            }
            CliSide::Open => return,
            CliSide::Connecting => t.cli = CliSide::Open,
        }
        if let Some(l) = t.link {
            // A Sentinel link: no handshake (the Sentinel has no password for it).
            self.link_connected(l, c);
            return;
        }
        if t.server == SENTINEL && t.sub {
            self.subscription_connected(c);
            return;
        }
        if t.server == SENTINEL {
            // A discovery: the question at once, no handshake (`discover_master`).
            self.discovery_connected(c);
            return;
        }
        // The connect's handshake, within the same 5 s bound (the op sequence is kept).
        match password {
            Some(p) => {
                if let Some(t) = self.tcp(c) {
                    t.op = Some(Op::Auth);
                }
                self.write_cmd(c, &[b"AUTH", p.as_bytes()]);
            }
            None => {
                if let Some(t) = self.tcp(c) {
                    t.op = Some(Op::ConnectPing);
                }
                self.write_cmd(c, &[b"PING"]);
            }
        }
        self.try_complete(c);
    }

    pub(super) fn data_to_client(&mut self, c: usize, bytes: &[u8]) {
        let Some(t) = self.tcp(c) else { return };
        if t.cli == CliSide::Closed {
            return;
        }
        t.rx.extend_from_slice(bytes);
        self.try_complete(c);
    }

    pub(super) fn fin_to_client(&mut self, c: usize) {
        let Some(t) = self.tcp(c) else { return };
        t.eof = true;
        if t.cli == CliSide::Closed {
            self.maybe_free(c);
            return;
        }
        self.try_complete(c);
    }

    /// Completes the waiting operation if its reply (or EOF) is there.
    pub(super) fn try_complete(&mut self, c: usize) {
        let Some(t) = self.tcp(c) else { return };
        let Some(op) = t.op else { return };
        if t.cli != CliSide::Open {
            return;
        }
        let result = match resp::parse(&t.rx) {
            Ok(Some((v, n))) => {
                t.rx.drain(..n);
                match v {
                    Value::Error(m) => Err(Failure::Server(m)),
                    v => Ok(v),
                }
            }
            Ok(None) if t.eof => Err(Failure::Closed),
            Ok(None) => return,
            Err(e) => Err(Failure::Protocol(e.to_string())),
        };
        t.op = None;
        t.op_seq += 1;
        self.op_done(c, op, result);
    }

    /// Whether operation `seq` on connection `c` still waits (its bound would act).
    pub(super) fn op_pending(&self, c: usize, seq: u64) -> bool {
        self.tcps
            .get(c)
            .and_then(Option::as_ref)
            .is_some_and(|t| t.op_seq == seq && t.cli != CliSide::Closed)
    }

    pub(super) fn op_timeout(&mut self, c: usize, seq: u64) {
        let Some(t) = self.tcp(c) else { return };
        if t.op_seq != seq || t.cli == CliSide::Closed {
            return;
        }
        let op = t.op.take();
        t.op_seq += 1;
        let server = t.server;
        if server == SENTINEL {
            // A discovery's bound (connect and answer): `DISCOVERY_TIMEOUT`.
            self.discovery_failed(c, "Sentinel did not answer in time");
            return;
        }
        match op {
            // Still connecting, or in the connect's handshake.
            None | Some(Op::Auth | Op::ConnectPing) => {
                let bound = self
                    .tcps
                    .get(c)
                    .and_then(Option::as_ref)
                    .and_then(|t| t.reconnect)
                    .map_or(CONNECT_BOUND_US, |h| self.reconnect_bound_us(h));
                self.connect_failed(c, &Failure::TimedOut(bound));
            }
            Some(Op::Check) => self.check_finished(c, false),
            // A Sentinel link and a subscription arm no bound: they wait as long as it takes.
            // A discovery's bound is handled above.
            Some(Op::Link(_) | Op::Discover | Op::Subscribe | Op::Message) => {}
            // The client's read timeout (only a client with one arms it).
            Some(Op::Cmd(h)) => {
                let us = self.read_timeout_us(h).unwrap_or(0);
                self.command_done(h, Err(Failure::TimedOut(us)));
            }
        }
    }

    fn op_done(&mut self, c: usize, op: Op, result: Result<Value, Failure>) {
        match op {
            Op::Auth => match result {
                Ok(_) => {
                    if let Some(t) = self.tcp(c) {
                        t.op = Some(Op::ConnectPing);
                    }
                    self.write_cmd(c, &[b"PING"]);
                    self.try_complete(c);
                }
                Err(f) => self.connect_failed(c, &f),
            },
            Op::ConnectPing => match result {
                Ok(Value::Simple(s)) if s == "PONG" => {
                    if let Some(t) = self.tcp(c) {
                        t.op_seq += 1;
                        let (pool, conn, server) = (t.pool, t.conn, t.server);
                        if let Some(h) = t.reconnect {
                            self.reconnected(h, c);
                            return;
                        }
                        if let Some(moved) = self.moved_during_connect(pool, server) {
                            self.connect_failed(c, &Failure::Protocol(moved));
                            return;
                        }
                        self.feed(pool, pool_core::Input::Connected { conn });
                    }
                }
                Ok(other) => {
                    self.connect_failed(c, &Failure::Protocol(format!("PING answered {other:?}")));
                }
                Err(f) => self.connect_failed(c, &f),
            },
            Op::Check => {
                let ok = matches!(&result, Ok(Value::Simple(s)) if s == "PONG");
                self.check_finished(c, ok);
            }
            Op::Cmd(h) => self.command_done(h, result),
            Op::Link(left) => self.link_reply(c, left, result),
            Op::Discover => self.discovery_answered(c, result),
            Op::Subscribe | Op::Message => self.subscription_read(c, op, result),
        }
    }

    pub(super) fn connect_failed(&mut self, c: usize, f: &Failure) {
        let Some(t) = self.tcp(c) else { return };
        let (pool, conn) = (t.pool, t.conn);
        if let Some(h) = t.reconnect {
            self.close_tcp(c);
            self.reconnect_failed(h, f);
            return;
        }
        let error = f.connect_error();
        if error == ConnectError::MaxClients {
            self.shared
                .refusals_seen
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let label = self.pools[pool].label.clone();
        self.trace()
            .event(self.now, &label, "pool.connect_failed")
            .str("error", &f.connect_text())
            .write();
        self.close_tcp(c);
        self.pools[pool].last_connect_error = Some(error);
        self.pools[pool].last_connect_text = Some(f.connect_text());
        self.feed(pool, pool_core::Input::ConnectFailed { conn, error });
    }

    /// A check the pool asked for: a peek answers now, a PING after its round trip.
    pub(super) fn start_check(&mut self, c: usize, how: pool_core::CheckHow) {
        if self.plant == Some(super::explore::Plant::CheckWithoutLooking) {
            // Planted: the driver reports every check passed without looking.
            self.check_finished(c, true);
            return;
        }
        match how {
            pool_core::CheckHow::Peek => {
                let alive = self
                    .tcp(c)
                    .is_some_and(|t| t.cli == CliSide::Open && t.rx.is_empty() && !t.eof);
                self.check_finished(c, alive);
            }
            pool_core::CheckHow::Ping => {
                let usable = self
                    .tcp(c)
                    .is_some_and(|t| t.cli == CliSide::Open && t.rx.is_empty());
                if !usable {
                    self.check_finished(c, false);
                    return;
                }
                let seq = self.begin_op(c, Some(Op::Check));
                self.write_cmd(c, &[b"PING"]);
                self.after(CHECK_BOUND_US, Ev::OpTimeout(c, seq));
                self.try_complete(c);
            }
        }
    }

    fn check_finished(&mut self, c: usize, passed: bool) {
        let Some(t) = self.tcp(c) else { return };
        let (pool, conn) = (t.pool, t.conn);
        self.soon.push_back(Soon::CheckDone(pool, conn, passed));
    }

    /// A request's command on its connection.
    pub(super) fn start_command(&mut self, c: usize, h: usize, args: &[&[u8]]) {
        let broken = self
            .tcp(c)
            .is_none_or(|t| t.cli != CliSide::Open || !t.rx.is_empty());
        if broken {
            // Unread bytes or a dropped socket: as `RedisConnection` with a failed read.
            self.soon.push_back(Soon::CmdFailed(
                h,
                Failure::Protocol("the connection is broken".to_owned()),
            ));
            return;
        }
        let seq = self.begin_op(c, Some(Op::Cmd(h)));
        self.write_cmd(c, args);
        if let Some(us) = self.read_timeout_us(h) {
            self.after(us, Ev::OpTimeout(c, seq));
        }
        self.try_complete(c);
    }
}
