//! Command table and command implementations (Redis 7.0 arities and error texts).
//!
//! [`Engine::execute`] follows `processCommand`: look up (unknown command / unknown
//! subcommand), check arity, check authentication, refuse writes when read-only, restrict
//! RESP2 subscribers, then run the command and count it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{CONFIG_PARAMS, glob_match};
use crate::engine::{ClientId, CloseReason, Engine, Output};
use crate::keyspace::Value;
use crate::resp::{ReplyWriter, RequestParser, parse_i64_strict};

const WRITE: u8 = 1;
const NOAUTH: u8 = 2;
const PUBSUB_OK: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Get,
    Set,
    Ping,
    Echo,
    Auth,
    Hello,
    Select,
    Quit,
    Reset,
    Incr,
    IncrBy,
    Decr,
    DecrBy,
    Del,
    Exists,
    Expire,
    PExpire,
    Persist,
    Ttl,
    PTtl,
    Type,
    Keys,
    MGet,
    MSet,
    DbSize,
    FlushDb,
    FlushAll,
    Info,
    Debug,
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
    Publish,
    BLPop,
    LPush,
    RPush,
    LPop,
    RPop,
    LLen,
    ReplicaOf,
    Role,
    Multi,
    Exec,
    Discard,
    ConfigGet,
    ConfigSet,
    ConfigResetStat,
    ConfigRewrite,
    ConfigHelp,
    ClientList,
    ClientKill,
    ClientSetName,
    ClientGetName,
    ClientId,
    ClientInfo,
    ClientSetInfo,
    ClientHelp,
    Command,
    CommandCount,
    CommandDocs,
    CommandInfo,
    CommandList,
    FaultLatency,
    FaultRefuse,
    FaultKillAll,
    FaultRestart,
    FaultReadonly,
    FaultStatus,
    FaultHelp,
    Container,
}

struct Spec {
    name: &'static str,
    fullname: &'static str,
    arity: i32,
    flags: u8,
    cmd: Cmd,
    subs: &'static [Self],
}

const fn s(name: &'static str, arity: i32, flags: u8, cmd: Cmd) -> Spec {
    Spec {
        name,
        fullname: name,
        arity,
        flags,
        cmd,
        subs: &[],
    }
}

const fn sub(name: &'static str, fullname: &'static str, arity: i32, flags: u8, cmd: Cmd) -> Spec {
    Spec {
        name,
        fullname,
        arity,
        flags,
        cmd,
        subs: &[],
    }
}

const fn container(name: &'static str, subs: &'static [Spec]) -> Spec {
    Spec {
        name,
        fullname: name,
        arity: -2,
        flags: 0,
        cmd: Cmd::Container,
        subs,
    }
}

static CONFIG_SUBS: [Spec; 5] = [
    sub("get", "config|get", -3, 0, Cmd::ConfigGet),
    sub("set", "config|set", -4, 0, Cmd::ConfigSet),
    sub("resetstat", "config|resetstat", 2, 0, Cmd::ConfigResetStat),
    sub("rewrite", "config|rewrite", 2, 0, Cmd::ConfigRewrite),
    sub("help", "config|help", 2, 0, Cmd::ConfigHelp),
];

static CLIENT_SUBS: [Spec; 8] = [
    sub("list", "client|list", -2, 0, Cmd::ClientList),
    sub("kill", "client|kill", -3, 0, Cmd::ClientKill),
    sub("setname", "client|setname", 3, 0, Cmd::ClientSetName),
    sub("getname", "client|getname", 2, 0, Cmd::ClientGetName),
    sub("id", "client|id", 2, 0, Cmd::ClientId),
    sub("info", "client|info", 2, 0, Cmd::ClientInfo),
    sub("setinfo", "client|setinfo", 4, 0, Cmd::ClientSetInfo),
    sub("help", "client|help", 2, 0, Cmd::ClientHelp),
];

static COMMAND_SUBS: [Spec; 4] = [
    sub("count", "command|count", 2, 0, Cmd::CommandCount),
    sub("docs", "command|docs", -2, 0, Cmd::CommandDocs),
    sub("info", "command|info", -2, 0, Cmd::CommandInfo),
    sub("list", "command|list", -2, 0, Cmd::CommandList),
];

/// Hot commands first: lookup is a linear case-insensitive scan.
static COMMANDS: [Spec; 46] = [
    s("get", 2, 0, Cmd::Get),
    s("set", -3, WRITE, Cmd::Set),
    s("ping", -1, PUBSUB_OK, Cmd::Ping),
    s("incr", 2, WRITE, Cmd::Incr),
    s("del", -2, WRITE, Cmd::Del),
    s("mget", -2, 0, Cmd::MGet),
    s("mset", -3, WRITE, Cmd::MSet),
    s("echo", 2, 0, Cmd::Echo),
    s("auth", -2, NOAUTH, Cmd::Auth),
    s("hello", -1, NOAUTH, Cmd::Hello),
    s("select", 2, 0, Cmd::Select),
    s("quit", -1, NOAUTH | PUBSUB_OK, Cmd::Quit),
    s("reset", 1, NOAUTH | PUBSUB_OK, Cmd::Reset),
    s("incrby", 3, WRITE, Cmd::IncrBy),
    s("decr", 2, WRITE, Cmd::Decr),
    s("decrby", 3, WRITE, Cmd::DecrBy),
    s("exists", -2, 0, Cmd::Exists),
    s("expire", -3, WRITE, Cmd::Expire),
    s("pexpire", -3, WRITE, Cmd::PExpire),
    s("persist", 2, WRITE, Cmd::Persist),
    s("ttl", 2, 0, Cmd::Ttl),
    s("pttl", 2, 0, Cmd::PTtl),
    s("type", 2, 0, Cmd::Type),
    s("keys", 2, 0, Cmd::Keys),
    s("dbsize", 1, 0, Cmd::DbSize),
    s("flushdb", -1, WRITE, Cmd::FlushDb),
    s("flushall", -1, WRITE, Cmd::FlushAll),
    s("info", -1, 0, Cmd::Info),
    s("debug", -2, 0, Cmd::Debug),
    s("subscribe", -2, PUBSUB_OK, Cmd::Subscribe),
    s("unsubscribe", -1, PUBSUB_OK, Cmd::Unsubscribe),
    s("psubscribe", -2, PUBSUB_OK, Cmd::PSubscribe),
    s("punsubscribe", -1, PUBSUB_OK, Cmd::PUnsubscribe),
    s("publish", 3, 0, Cmd::Publish),
    s("blpop", -3, WRITE, Cmd::BLPop),
    s("lpush", -3, WRITE, Cmd::LPush),
    s("rpush", -3, WRITE, Cmd::RPush),
    s("lpop", -2, WRITE, Cmd::LPop),
    s("rpop", -2, WRITE, Cmd::RPop),
    s("llen", 2, 0, Cmd::LLen),
    s("multi", 1, 0, Cmd::Multi),
    s("exec", 1, 0, Cmd::Exec),
    s("discard", 1, 0, Cmd::Discard),
    s("replicaof", 3, 0, Cmd::ReplicaOf),
    s("slaveof", 3, 0, Cmd::ReplicaOf),
    s("role", 1, 0, Cmd::Role),
];

static CONTAINERS: [Spec; 3] = [
    container("config", &CONFIG_SUBS),
    container("client", &CLIENT_SUBS),
    // COMMAND alone is valid (arity -1): it lists commands.
    Spec {
        name: "command",
        fullname: "command",
        arity: -1,
        flags: 0,
        cmd: Cmd::Command,
        subs: &COMMAND_SUBS,
    },
];

/// The fake-only admin commands (`src/fault.rs`), looked up only with
/// `ServerConfig::enable_fault_commands`; not listed by COMMAND. No flag: they run on a
/// read-only server (so `FAULT READONLY off` works) and need AUTH like any other command.
static FAULT_SUBS: [Spec; 7] = [
    sub("latency", "fault|latency", 3, 0, Cmd::FaultLatency),
    sub("refuse", "fault|refuse", -3, 0, Cmd::FaultRefuse),
    sub("killall", "fault|killall", 2, 0, Cmd::FaultKillAll),
    sub("restart", "fault|restart", 2, 0, Cmd::FaultRestart),
    sub("readonly", "fault|readonly", 3, 0, Cmd::FaultReadonly),
    sub("status", "fault|status", 2, 0, Cmd::FaultStatus),
    sub("help", "fault|help", 2, 0, Cmd::FaultHelp),
];

static FAULT: Spec = container("fault", &FAULT_SUBS);

fn lookup(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .chain(CONTAINERS.iter())
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The command (or subcommand) `args` name, for EXEC replaying a queued command: it was
/// looked up, arity-checked and authorised when it was queued.
fn resolve(args: &RequestParser, fault_enabled: bool) -> Option<&'static Spec> {
    let name = args.arg(0);
    let spec = lookup(name)
        .or_else(|| (fault_enabled && name.eq_ignore_ascii_case(b"fault")).then_some(&FAULT))?;
    if spec.subs.is_empty() || args.argc() < 2 {
        return Some(spec);
    }
    spec.subs
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(args.arg(1)))
}

/// Names of every top-level command the fake implements (COMMAND LIST).
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().chain(CONTAINERS.iter()).map(|s| s.name)
}

/// `%.Ns` of a C string: at most `n` bytes, stopping at a NUL.
fn c_str(b: &[u8], n: usize) -> &[u8] {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len()).min(n);
    &b[..end]
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ERR_NOT_INT: &str = "ERR value is not an integer or out of range";
const ERR_SYNTAX: &str = "ERR syntax error";
const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Redis's `getLongDoubleFromObject` for timeouts: a float without spaces, not NaN.
fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

impl Engine {
    pub(crate) fn err(&mut self, w: ReplyWriter, out: &mut Vec<u8>, msg: &str) {
        self.stats.total_error_replies += 1;
        w.error(out, msg);
    }

    /// Redis's `rejectCommand*`: a command refused before it runs (unknown, arity, NOAUTH,
    /// READONLY, pub/sub context) marks an open transaction dirty, so its EXEC answers
    /// `-EXECABORT`; a refused EXEC itself aborts the transaction with the reason
    /// (`execCommandAbort`: `EXECABORT Transaction discarded because of: <error without its
    /// -ERR>`).
    fn reject(&mut self, id: ClientId, w: ReplyWriter, out: &mut Vec<u8>, msg: &[u8], exec: bool) {
        self.stats.total_error_replies += 1;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if exec {
            c.multi = None;
            let reason = msg.strip_prefix(b"ERR ").unwrap_or(msg);
            let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
            text.extend_from_slice(reason);
            w.error_bytes(out, &text);
        } else {
            if let Some(m) = c.multi.as_mut() {
                m.dirty = true;
            }
            w.error_bytes(out, msg);
        }
    }

    /// Redis counts hits and misses for read lookups (`lookupKeyRead*`), not write lookups.
    fn count_read(&mut self, hit: bool) {
        if hit {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
    }

    fn client_writer(&self, id: ClientId) -> ReplyWriter {
        self.clients
            .get(&id)
            .map_or(ReplyWriter { resp: 2 }, |c| c.writer())
    }

    fn current_db(&self, id: ClientId) -> usize {
        self.clients.get(&id).map_or(0, |c| c.db)
    }

    pub(crate) fn wake(&mut self, id: ClientId) {
        self.push_output(Output::Wake { client: id });
    }

    /// Execute the command the parser just returned, for client `id`, replying into `out`.
    pub(crate) fn execute(&mut self, id: ClientId, p: &RequestParser, out: &mut Vec<u8>) {
        let w = self.client_writer(id);
        let argc = p.argc();
        let name = p.arg(0);
        let fault = || {
            (self.config.enable_fault_commands && name.eq_ignore_ascii_case(b"fault"))
                .then_some(&FAULT)
        };
        // Without `enable_fault_commands`, FAULT is unknown, with Redis's own error text.
        let Some(mut spec) = lookup(name).or_else(fault) else {
            let mut args: Vec<u8> = Vec::new();
            let mut i = 1;
            while i < argc && args.len() < 128 {
                let room = 128 - args.len();
                args.push(b'\'');
                args.extend_from_slice(c_str(p.arg(i), room));
                args.extend_from_slice(b"' ");
                i += 1;
            }
            let mut msg = b"ERR unknown command '".to_vec();
            msg.extend_from_slice(c_str(name, 128));
            msg.extend_from_slice(b"', with args beginning with: ");
            msg.extend_from_slice(&args);
            return self.reject(id, w, out, &msg, false);
        };
        if !spec.subs.is_empty() && argc >= 2 {
            let subname = p.arg(1);
            match spec
                .subs
                .iter()
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(subname))
            {
                Some(s) => spec = s,
                None => {
                    let mut msg = b"ERR unknown subcommand '".to_vec();
                    msg.extend_from_slice(c_str(subname, 128));
                    msg.extend_from_slice(b"'. Try ");
                    msg.extend_from_slice(upper(name).as_bytes());
                    msg.extend_from_slice(b" HELP.");
                    return self.reject(id, w, out, &msg, false);
                }
            }
        }
        let (auth_required, subscribed, multi_write) = {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            c.last_cmd = spec.fullname;
            let subscribed = c.subscribed() && c.resp == 2;
            (
                self.config.requirepass.is_some() && !c.authenticated,
                subscribed,
                c.multi.as_ref().is_some_and(|m| m.write),
            )
        };
        let exec = spec.cmd == Cmd::Exec;
        let arity = spec.arity;
        if (arity > 0 && arity as usize != argc) || argc < arity.unsigned_abs() as usize {
            let msg = format!(
                "ERR wrong number of arguments for '{}' command",
                spec.fullname
            );
            return self.reject(id, w, out, msg.as_bytes(), exec);
        }
        if auth_required && spec.flags & NOAUTH == 0 {
            return self.reject(id, w, out, b"NOAUTH Authentication required.", exec);
        }
        // A replica refuses writes (`server.masterhost && repl_slave_ro`), and so does the
        // read-only fault. EXEC counts as a write when a write command is queued.
        let is_write = spec.flags & WRITE != 0 || (exec && multi_write);
        if self.rejects_writes() && is_write {
            let msg = b"READONLY You can't write against a read only replica.";
            return self.reject(id, w, out, msg, exec);
        }
        if subscribed && spec.flags & PUBSUB_OK == 0 {
            let msg = format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.fullname
            );
            return self.reject(id, w, out, msg.as_bytes(), exec);
        }
        if let Some(m) = self.clients.get_mut(&id).and_then(|c| c.multi.as_mut()) {
            if !matches!(
                spec.cmd,
                Cmd::Exec | Cmd::Discard | Cmd::Multi | Cmd::Quit | Cmd::Reset
            ) {
                // queueMultiCommand: nothing is kept once the transaction is dirty, but the
                // reply is +QUEUED all the same. Queued commands are not counted as processed.
                if !m.dirty {
                    m.queued.push(p.args().map(<[u8]>::to_vec).collect());
                    m.write |= spec.flags & WRITE != 0;
                }
                out.extend_from_slice(b"+QUEUED\r\n");
                return;
            }
        }
        self.run(spec.cmd, id, w, p, out);
        // Counted after the call, as Redis's call() does (INFO does not see itself).
        self.stats.total_commands_processed += 1;
        if spec.flags & WRITE != 0 {
            self.stats.write_commands_processed += 1;
        }
    }

    fn run(
        &mut self,
        cmd: Cmd,
        id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
    ) {
        let now = self.now;
        let argc = p.argc();
        match cmd {
            Cmd::Get => {
                let db = self.current_db(id);
                let mut expired = 0;
                let r = self.dbs[db].lookup(now, p.arg(1), &mut expired);
                let reply = match r {
                    None => Ok(None),
                    Some(e) => match &e.value {
                        Value::Str(v) => {
                            w.bulk(out, v);
                            Ok(Some(()))
                        }
                        Value::List(_) => Err(()),
                    },
                };
                self.stats.expired_keys += expired;
                match reply {
                    Ok(Some(())) => self.stats.keyspace_hits += 1,
                    Ok(None) => {
                        self.stats.keyspace_misses += 1;
                        w.null(out);
                    }
                    Err(()) => {
                        self.stats.keyspace_hits += 1;
                        self.err(w, out, ERR_WRONGTYPE);
                    }
                }
            }
            Cmd::Set => self.cmd_set(id, w, p, out),
            Cmd::Ping => {
                if argc > 2 {
                    return self.err(w, out, "ERR wrong number of arguments for 'ping' command");
                }
                let subscribed = self
                    .clients
                    .get(&id)
                    .is_some_and(|c| c.subscribed() && c.resp == 2);
                if subscribed {
                    w.array(out, 2);
                    w.bulk(out, b"pong");
                    w.bulk(out, if argc == 2 { p.arg(1) } else { b"" });
                } else if argc == 2 {
                    w.bulk(out, p.arg(1));
                } else {
                    out.extend_from_slice(b"+PONG\r\n");
                }
            }
            Cmd::Echo => w.bulk(out, p.arg(1)),
            Cmd::Auth => self.cmd_auth(id, w, p, out),
            Cmd::Hello => self.cmd_hello(id, w, p, out),
            Cmd::Select => {
                let Some(n) = parse_i64_strict(p.arg(1)).filter(|n| i32::try_from(*n).is_ok())
                else {
                    return self.err(w, out, ERR_NOT_INT);
                };
                if n < 0 || n >= self.dbs.len() as i64 {
                    return self.err(w, out, "ERR DB index is out of range");
                }
                if let Some(c) = self.clients.get_mut(&id) {
                    c.db = n as usize;
                }
                w.ok(out);
            }
            Cmd::Quit => {
                w.ok(out);
                if let Some(c) = self.clients.get_mut(&id) {
                    c.close_after_reply = Some(CloseReason::Quit);
                }
            }
            Cmd::Reset => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.multi = None;
                }
                self.unsubscribe_all(id, None, false);
                self.punsubscribe_all(id, None, false);
                let nopass = self.config.requirepass.is_none();
                if let Some(c) = self.clients.get_mut(&id) {
                    c.db = 0;
                    c.resp = 2;
                    c.name = None;
                    c.authenticated = nopass;
                }
                out.extend_from_slice(b"+RESET\r\n");
            }
            Cmd::Incr => self.incr_by(id, w, p.arg(1), 1, out),
            Cmd::Decr => self.incr_by(id, w, p.arg(1), -1, out),
            Cmd::IncrBy | Cmd::DecrBy => {
                let Some(mut by) = parse_i64_strict(p.arg(2)) else {
                    return self.err(w, out, ERR_NOT_INT);
                };
                if cmd == Cmd::DecrBy {
                    let Some(neg) = by.checked_neg() else {
                        return self.err(w, out, "ERR decrement would overflow");
                    };
                    by = neg;
                }
                self.incr_by(id, w, p.arg(1), by, out);
            }
            Cmd::Del => {
                let db = self.current_db(id);
                let mut expired = 0;
                let mut n = 0;
                for i in 1..argc {
                    if self.dbs[db].remove(now, p.arg(i), &mut expired) {
                        n += 1;
                    }
                }
                self.stats.expired_keys += expired;
                w.int(out, n);
            }
            Cmd::Exists => {
                let db = self.current_db(id);
                let mut expired = 0;
                let mut n = 0;
                for i in 1..argc {
                    let hit = self.dbs[db].exists(now, p.arg(i), &mut expired);
                    self.count_read(hit);
                    if hit {
                        n += 1;
                    }
                }
                self.stats.expired_keys += expired;
                w.int(out, n);
            }
            Cmd::Expire | Cmd::PExpire => self.cmd_expire(id, w, p, out, cmd == Cmd::Expire),
            Cmd::Persist => {
                let db = self.current_db(id);
                let mut expired = 0;
                let had = match self.dbs[db].lookup(now, p.arg(1), &mut expired) {
                    Some(e) => e.expire_at.is_some(),
                    None => false,
                };
                self.stats.expired_keys += expired;
                if had {
                    self.dbs[db].set_expire(p.arg(1), None);
                }
                w.int(out, i64::from(had));
            }
            Cmd::Ttl | Cmd::PTtl => {
                let db = self.current_db(id);
                let mut expired = 0;
                let r = self.dbs[db]
                    .lookup(now, p.arg(1), &mut expired)
                    .map(|e| e.expire_at);
                self.stats.expired_keys += expired;
                self.count_read(r.is_some());
                let v = match r {
                    None => -2,
                    Some(None) => -1,
                    Some(Some(at)) => {
                        let ms =
                            i64::try_from(at.saturating_sub(now).as_millis()).unwrap_or(i64::MAX);
                        if cmd == Cmd::Ttl {
                            ms.saturating_add(500) / 1000
                        } else {
                            ms
                        }
                    }
                };
                w.int(out, v);
            }
            Cmd::Type => {
                let db = self.current_db(id);
                let mut expired = 0;
                let t = self.dbs[db]
                    .lookup(now, p.arg(1), &mut expired)
                    .map_or("none", |e| e.value.type_name());
                self.stats.expired_keys += expired;
                self.count_read(t != "none");
                w.simple(out, t.as_bytes());
            }
            Cmd::Keys => {
                let db = self.current_db(id);
                let pat = p.arg(1);
                let keys: Vec<&Vec<u8>> = self.dbs[db]
                    .keys()
                    .filter(|(k, e)| {
                        !matches!(e.expire_at, Some(at) if at <= now) && glob_match(pat, k, false)
                    })
                    .map(|(k, _)| k)
                    .collect();
                w.array(out, keys.len());
                for k in keys {
                    w.bulk(out, k);
                }
            }
            Cmd::MGet => {
                let db = self.current_db(id);
                let mut expired = 0;
                w.array(out, argc - 1);
                let (mut hits, mut misses) = (0, 0);
                for i in 1..argc {
                    match self.dbs[db].lookup(now, p.arg(i), &mut expired) {
                        Some(e) => {
                            hits += 1;
                            match &e.value {
                                Value::Str(v) => w.bulk(out, v),
                                Value::List(_) => w.null(out),
                            }
                        }
                        None => {
                            misses += 1;
                            w.null(out);
                        }
                    }
                }
                self.stats.expired_keys += expired;
                self.stats.keyspace_hits += hits;
                self.stats.keyspace_misses += misses;
            }
            Cmd::MSet => {
                if argc % 2 == 0 {
                    return self.err(w, out, "ERR wrong number of arguments for 'mset' command");
                }
                let db = self.current_db(id);
                for i in (1..argc).step_by(2) {
                    self.dbs[db].set_str(p.arg(i), p.arg(i + 1), None, false);
                }
                w.ok(out);
            }
            Cmd::DbSize => {
                let db = self.current_db(id);
                w.int(out, self.dbs[db].len() as i64);
            }
            Cmd::FlushDb | Cmd::FlushAll => {
                if argc > 2
                    || (argc == 2
                        && !p.arg(1).eq_ignore_ascii_case(b"sync")
                        && !p.arg(1).eq_ignore_ascii_case(b"async"))
                {
                    return self.err(w, out, ERR_SYNTAX);
                }
                if cmd == Cmd::FlushAll {
                    for db in &mut self.dbs {
                        db.clear();
                    }
                } else {
                    let db = self.current_db(id);
                    self.dbs[db].clear();
                }
                w.ok(out);
            }
            Cmd::Info => {
                let text = self.info_string(p);
                w.verbatim(out, text.as_bytes());
            }
            Cmd::Debug => self.cmd_debug(w, p, out),
            Cmd::Subscribe => {
                for i in 1..argc {
                    let ch = p.arg(i);
                    let count = {
                        let Some(c) = self.clients.get_mut(&id) else {
                            return;
                        };
                        if c.channels.insert(ch.to_vec()) {
                            self.channels.entry(ch.to_vec()).or_default().push(id);
                        }
                        c.channels.len() + c.patterns.len()
                    };
                    w.push(out, 3);
                    w.bulk(out, b"subscribe");
                    w.bulk(out, ch);
                    w.int(out, count as i64);
                }
            }
            Cmd::PSubscribe => {
                for i in 1..argc {
                    let pat = p.arg(i);
                    let count = {
                        let Some(c) = self.clients.get_mut(&id) else {
                            return;
                        };
                        if c.patterns.insert(pat.to_vec()) {
                            self.patterns.entry(pat.to_vec()).or_default().push(id);
                        }
                        c.channels.len() + c.patterns.len()
                    };
                    w.push(out, 3);
                    w.bulk(out, b"psubscribe");
                    w.bulk(out, pat);
                    w.int(out, count as i64);
                }
            }
            Cmd::Unsubscribe => {
                if argc == 1 {
                    self.unsubscribe_all(id, Some(out), true);
                } else {
                    for i in 1..argc {
                        self.unsubscribe_one(id, p.arg(i), out);
                    }
                }
            }
            Cmd::PUnsubscribe => {
                if argc == 1 {
                    self.punsubscribe_all(id, Some(out), true);
                } else {
                    for i in 1..argc {
                        self.punsubscribe_one(id, p.arg(i), out);
                    }
                }
            }
            Cmd::Publish => {
                let n = self.publish(id, p.arg(1), p.arg(2), out);
                w.int(out, n);
            }
            Cmd::LPush | Cmd::RPush => self.cmd_push(id, w, p, out, cmd == Cmd::LPush),
            Cmd::LPop | Cmd::RPop => self.cmd_pop(id, w, p, out, cmd == Cmd::LPop),
            Cmd::LLen => {
                let db = self.current_db(id);
                let mut expired = 0;
                let r = match self.dbs[db].lookup(now, p.arg(1), &mut expired) {
                    None => Ok(0),
                    Some(e) => match &e.value {
                        Value::List(l) => Ok(l.len() as i64),
                        Value::Str(_) => Err(()),
                    },
                };
                self.stats.expired_keys += expired;
                self.count_read(!matches!(r, Ok(0)));
                match r {
                    Ok(n) => w.int(out, n),
                    Err(()) => self.err(w, out, ERR_WRONGTYPE),
                }
            }
            Cmd::BLPop => self.cmd_blpop(id, w, p, out),
            Cmd::ReplicaOf => self.cmd_replicaof(w, p, out),
            Cmd::Role => self.cmd_role(w, out),
            Cmd::Multi => match self.clients.get_mut(&id) {
                Some(c) if c.multi.is_some() => {
                    self.err(w, out, "ERR MULTI calls can not be nested")
                }
                Some(c) => {
                    c.multi = Some(crate::engine::Multi::default());
                    w.ok(out);
                }
                None => {}
            },
            Cmd::Discard => match self.clients.get_mut(&id) {
                Some(c) if c.multi.is_some() => {
                    c.multi = None;
                    w.ok(out);
                }
                _ => self.err(w, out, "ERR DISCARD without MULTI"),
            },
            Cmd::Exec => self.cmd_exec(id, w, out),
            Cmd::ConfigGet => self.cmd_config_get(w, p, out),
            Cmd::ConfigSet => self.cmd_config_set(w, p, out),
            Cmd::ConfigResetStat => {
                self.reset_stats();
                w.ok(out);
            }
            // Like a redis-server started without a configuration file (as the differential
            // suite starts it): Sentinel sends CONFIG REWRITE inside its MULTI and ignores the
            // reply.
            Cmd::ConfigRewrite => {
                self.err(w, out, "ERR The server is running without a config file")
            }
            Cmd::ConfigHelp => help(
                w,
                out,
                "CONFIG",
                &[
                    "GET <pattern>",
                    "    Return parameters matching the glob-like <pattern> and their values.",
                    "SET <directive> <value>",
                    "    Set the configuration <directive> to <value>.",
                    "RESETSTAT",
                    "    Reset statistics reported by the INFO command.",
                ],
            ),
            Cmd::ClientList => self.cmd_client_list(id, w, p, out),
            Cmd::ClientKill => self.cmd_client_kill(id, w, p, out),
            Cmd::ClientSetName => {
                let name = p.arg(2);
                if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    return self.err(
                        w,
                        out,
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                }
                if let Some(c) = self.clients.get_mut(&id) {
                    c.name = if name.is_empty() {
                        None
                    } else {
                        Some(name.to_vec())
                    };
                }
                w.ok(out);
            }
            Cmd::ClientGetName => match self.clients.get(&id).and_then(|c| c.name.as_ref()) {
                Some(n) => w.bulk(out, n),
                None => w.null(out),
            },
            Cmd::ClientId => w.int(out, id as i64),
            Cmd::ClientInfo => {
                let mut line = String::new();
                self.client_info_line(id, &mut line);
                w.verbatim(out, line.as_bytes());
            }
            Cmd::ClientSetInfo => {
                let attr = p.arg(2);
                let val = p.arg(3);
                let which = if attr.eq_ignore_ascii_case(b"lib-name") {
                    "lib-name"
                } else if attr.eq_ignore_ascii_case(b"lib-ver") {
                    "lib-ver"
                } else {
                    let msg = format!("ERR Unrecognized option '{}'", lossy(attr));
                    return self.err(w, out, &msg);
                };
                if val.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    let msg = format!(
                        "ERR {which} cannot contain spaces, newlines or special characters."
                    );
                    return self.err(w, out, &msg);
                }
                if let Some(c) = self.clients.get_mut(&id) {
                    let v = if val.is_empty() {
                        None
                    } else {
                        Some(val.to_vec())
                    };
                    if which == "lib-name" {
                        c.lib_name = v;
                    } else {
                        c.lib_ver = v;
                    }
                }
                w.ok(out);
            }
            Cmd::ClientHelp => help(
                w,
                out,
                "CLIENT",
                &[
                    "ID",
                    "    Return the ID of the current connection.",
                    "INFO",
                    "    Return information about the current client connection.",
                    "KILL <ip:port>",
                    "    Kill connection made from <ip:port>.",
                    "KILL <option> <value> [<option> <value> [...]]",
                    "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME.",
                    "LIST [options ...]",
                    "    Return information about client connections.",
                    "GETNAME",
                    "    Return the name of the current connection.",
                    "SETNAME <name>",
                    "    Assign the name <name> to the current connection.",
                    "SETINFO <option> <value>",
                    "    Set client meta attr (LIB-NAME, LIB-VER).",
                ],
            ),
            Cmd::Command => w.array(out, 0),
            Cmd::CommandCount => w.int(out, (COMMANDS.len() + CONTAINERS.len()) as i64),
            Cmd::CommandDocs => w.map(out, 0),
            Cmd::CommandInfo => {
                w.array(out, argc - 2);
                for _ in 2..argc {
                    w.null_array(out);
                }
            }
            Cmd::CommandList => {
                let n = COMMANDS.len() + CONTAINERS.len();
                w.array(out, n);
                for name in command_names() {
                    w.bulk(out, name.as_bytes());
                }
            }
            Cmd::FaultLatency => self.fault_latency(w, p, out),
            Cmd::FaultRefuse => self.fault_refuse(w, p, out),
            Cmd::FaultKillAll => self.fault_kill_all(id, w, out),
            Cmd::FaultRestart => self.fault_restart(id, w, out),
            Cmd::FaultReadonly => self.fault_readonly(w, p, out),
            Cmd::FaultStatus => self.fault_status(w, out),
            Cmd::FaultHelp => help(w, out, "FAULT", crate::fault::HELP),
            Cmd::Container => {
                // argc == 1 is caught by the arity check; argc >= 2 resolved to a subcommand.
                self.err(w, out, ERR_SYNTAX);
            }
        }
    }

    /// EXEC (multi.c `execCommand`): the queued commands run one after the other with no
    /// check but their own (nothing else runs in between: the engine is single-threaded, so
    /// a queued `SLAVEOF` and `CLIENT KILL` take effect together, as Sentinel relies on).
    fn cmd_exec(&mut self, id: ClientId, w: ReplyWriter, out: &mut Vec<u8>) {
        let Some(multi) = self.clients.get_mut(&id).and_then(|c| c.multi.take()) else {
            return self.err(w, out, "ERR EXEC without MULTI");
        };
        if multi.dirty {
            return self.err(
                w,
                out,
                "EXECABORT Transaction discarded because of previous errors.",
            );
        }
        w.array(out, multi.queued.len());
        self.in_exec = true;
        let fault_enabled = self.config.enable_fault_commands;
        for args in &multi.queued {
            let parser = RequestParser::from_args(args);
            // Queued commands were looked up when queued; the table does not change.
            let Some(spec) = resolve(&parser, fault_enabled) else {
                continue;
            };
            let Some(c) = self.clients.get_mut(&id) else {
                break;
            };
            c.last_cmd = spec.fullname;
            let w = c.writer();
            self.run(spec.cmd, id, w, &parser, out);
            self.stats.total_commands_processed += 1;
            if spec.flags & WRITE != 0 {
                self.stats.write_commands_processed += 1;
            }
        }
        self.in_exec = false;
        if let Some(c) = self.clients.get_mut(&id) {
            c.last_cmd = "exec";
        }
    }

    fn cmd_set(&mut self, id: ClientId, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let argc = p.argc();
        let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
        let mut expire: Option<(&[u8], bool)> = None; // (value, is_seconds)
        let mut absolute = false;
        let mut j = 3;
        while j < argc {
            let a = p.arg(j);
            let next = (j + 1 < argc).then(|| p.arg(j + 1));
            if a.eq_ignore_ascii_case(b"nx") && !xx {
                nx = true;
            } else if a.eq_ignore_ascii_case(b"xx") && !nx {
                xx = true;
            } else if a.eq_ignore_ascii_case(b"get") {
                get = true;
            } else if a.eq_ignore_ascii_case(b"keepttl") && expire.is_none() {
                keepttl = true;
            } else if (a.eq_ignore_ascii_case(b"ex")
                || a.eq_ignore_ascii_case(b"px")
                || a.eq_ignore_ascii_case(b"exat")
                || a.eq_ignore_ascii_case(b"pxat"))
                && !keepttl
                && expire.is_none()
                && next.is_some()
            {
                let secs = a.eq_ignore_ascii_case(b"ex") || a.eq_ignore_ascii_case(b"exat");
                absolute = a.len() == 4;
                expire = next.map(|v| (v, secs));
                j += 1;
            } else {
                return self.err(w, out, ERR_SYNTAX);
            }
            j += 1;
        }
        let now = self.now;
        let mut expire_at = None;
        if let Some((v, secs)) = expire {
            let Some(n) = parse_i64_strict(v) else {
                return self.err(w, out, ERR_NOT_INT);
            };
            let ms = if secs { n.checked_mul(1000) } else { Some(n) };
            let Some(ms) = ms.filter(|m| *m > 0) else {
                return self.err(w, out, "ERR invalid expire time in 'set' command");
            };
            // EXAT/PXAT are unix times: converted with the configured unix time at start.
            expire_at = Some(if absolute {
                let start = self.config.unix_time_at_start_ms;
                Duration::from_millis((ms as u64).saturating_sub(start))
            } else {
                now + Duration::from_millis(ms as u64)
            });
        }
        let db = self.current_db(id);
        let key = p.arg(1);
        let mut expired = 0;
        // found: None = no key, Some(true) = a string, Some(false) = another type. With GET
        // the old value is written straight into the reply (no copy).
        let mut wrongtype = false;
        let found = match self.dbs[db].lookup(now, key, &mut expired) {
            None => {
                if get {
                    w.null(out);
                }
                false
            }
            Some(e) => {
                match &e.value {
                    Value::Str(v) if get => w.bulk(out, v),
                    Value::Str(_) => {}
                    Value::List(_) => wrongtype = get,
                }
                true
            }
        };
        self.stats.expired_keys += expired;
        if get {
            self.count_read(found);
            if wrongtype {
                return self.err(w, out, ERR_WRONGTYPE);
            }
        }
        if (nx && found) || (xx && !found) {
            if !get {
                w.null(out);
            }
            return;
        }
        self.dbs[db].set_str(key, p.arg(2), expire_at, keepttl);
        if !get {
            w.ok(out);
        }
    }

    fn incr_by(&mut self, id: ClientId, w: ReplyWriter, key: &[u8], by: i64, out: &mut Vec<u8>) {
        let db = self.current_db(id);
        let now = self.now;
        let mut expired = 0;
        let cur = self.dbs[db]
            .lookup(now, key, &mut expired)
            .map(|e| match &e.value {
                Value::Str(v) => parse_i64_strict(v).ok_or(ERR_NOT_INT),
                Value::List(_) => Err(ERR_WRONGTYPE),
            });
        self.stats.expired_keys += expired;
        let cur = match cur {
            None => 0,
            Some(Ok(v)) => v,
            Some(Err(e)) => return self.err(w, out, e),
        };
        let Some(new) = cur.checked_add(by) else {
            return self.err(w, out, "ERR increment or decrement would overflow");
        };
        self.dbs[db].set_str(key, new.to_string().as_bytes(), None, true);
        w.int(out, new);
    }

    fn cmd_expire(
        &mut self,
        id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
        seconds: bool,
    ) {
        let name = if seconds { "expire" } else { "pexpire" };
        let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
        for j in 3..p.argc() {
            let a = p.arg(j);
            if a.eq_ignore_ascii_case(b"nx") {
                nx = true;
            } else if a.eq_ignore_ascii_case(b"xx") {
                xx = true;
            } else if a.eq_ignore_ascii_case(b"gt") {
                gt = true;
            } else if a.eq_ignore_ascii_case(b"lt") {
                lt = true;
            } else {
                let msg = format!("ERR Unsupported option {}", lossy(a));
                return self.err(w, out, &msg);
            }
        }
        if nx && (xx || gt || lt) {
            return self.err(
                w,
                out,
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            );
        }
        if gt && lt {
            return self.err(
                w,
                out,
                "ERR GT and LT options at the same time are not compatible",
            );
        }
        let Some(n) = parse_i64_strict(p.arg(2)) else {
            return self.err(w, out, ERR_NOT_INT);
        };
        let now = self.now;
        let now_ms = now.as_millis() as i64;
        // Redis's expireGenericCommand: the expire time is added to the *unix* time in ms, and
        // it is invalid when that overflows (`when > LLONG_MAX - basetime`). The fake keeps it
        // relative to its own clock afterwards.
        let base = i64::try_from(self.unix_ms(now)).unwrap_or(i64::MAX);
        let when = if seconds {
            n.checked_mul(1000)
        } else {
            Some(n)
        }
        .filter(|ms| ms.checked_add(base).is_some())
        .and_then(|ms| ms.checked_add(now_ms));
        let Some(when) = when else {
            let msg = format!("ERR invalid expire time in '{name}' command");
            return self.err(w, out, &msg);
        };
        let db = self.current_db(id);
        let key = p.arg(1);
        let mut expired = 0;
        let cur = self.dbs[db]
            .lookup(now, key, &mut expired)
            .map(|e| e.expire_at);
        self.stats.expired_keys += expired;
        let Some(cur) = cur else {
            return w.int(out, 0);
        };
        let cur_ms = cur.map(|d| d.as_millis() as i64);
        let ok = if nx {
            cur.is_none()
        } else if xx {
            cur.is_some()
        } else {
            true
        } && (!gt || cur_ms.is_some_and(|c| when > c))
            && (!lt || cur_ms.is_none_or(|c| when < c));
        if !ok {
            return w.int(out, 0);
        }
        if when <= now_ms {
            // In the past: delete (Redis counts it as a DEL, not an expiry).
            self.dbs[db].remove_existing(key);
        } else {
            self.dbs[db].set_expire(key, Some(Duration::from_millis(when as u64)));
        }
        w.int(out, 1);
    }

    fn cmd_auth(&mut self, id: ClientId, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let argc = p.argc();
        if argc > 3 {
            return self.err(w, out, ERR_SYNTAX);
        }
        let (user, pass) = if argc == 2 {
            if self.config.requirepass.is_none() {
                return self.err(w, out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            }
            (&b"default"[..], p.arg(1))
        } else {
            (p.arg(1), p.arg(2))
        };
        if self.check_password(user, pass) {
            if let Some(c) = self.clients.get_mut(&id) {
                c.authenticated = true;
            }
            w.ok(out);
        } else {
            self.err(
                w,
                out,
                "WRONGPASS invalid username-password pair or user is disabled.",
            );
        }
    }

    fn check_password(&self, user: &[u8], pass: &[u8]) -> bool {
        user == b"default"
            && match &self.config.requirepass {
                None => true, // nopass: any password
                Some(pw) => pw.as_bytes() == pass,
            }
    }

    fn cmd_hello(&mut self, id: ClientId, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let argc = p.argc();
        let mut ver = i64::from(w.resp);
        if argc >= 2 {
            match parse_i64_strict(p.arg(1)) {
                Some(v) => ver = v,
                None => {
                    return self.err(
                        w,
                        out,
                        "ERR Protocol version is not an integer or out of range",
                    );
                }
            }
        }
        let mut auth: Option<(&[u8], &[u8])> = None;
        let mut setname: Option<&[u8]> = None;
        let mut j = 2;
        while j < argc {
            let more = argc - j - 1;
            let opt = p.arg(j);
            if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
                auth = Some((p.arg(j + 1), p.arg(j + 2)));
                j += 3;
            } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
                setname = Some(p.arg(j + 1));
                j += 2;
            } else {
                let msg = format!("ERR Syntax error in HELLO option '{}'", lossy(opt));
                return self.err(w, out, &msg);
            }
        }
        if !(2..=3).contains(&ver) {
            return self.err(w, out, "NOPROTO unsupported protocol version");
        }
        if let Some((u, pw)) = auth {
            if !self.check_password(u, pw) {
                return self.err(
                    w,
                    out,
                    "WRONGPASS invalid username-password pair or user is disabled.",
                );
            }
            if let Some(c) = self.clients.get_mut(&id) {
                c.authenticated = true;
            }
        }
        let needs_auth = self.clients.get(&id).is_some_and(|c| self.auth_required(c));
        if needs_auth {
            return self.err(w, out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = setname {
            if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                return self.err(
                    w,
                    out,
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            if let Some(c) = self.clients.get_mut(&id) {
                c.name = if name.is_empty() {
                    None
                } else {
                    Some(name.to_vec())
                };
            }
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.resp = ver as u8;
        }
        let w = ReplyWriter { resp: ver as u8 };
        w.map(out, 7);
        w.bulk(out, b"server");
        w.bulk(out, b"redis");
        w.bulk(out, b"version");
        w.bulk(out, crate::REDIS_VERSION.as_bytes());
        w.bulk(out, b"proto");
        w.int(out, ver);
        w.bulk(out, b"id");
        w.int(out, id as i64);
        w.bulk(out, b"mode");
        w.bulk(out, b"standalone");
        w.bulk(out, b"role");
        w.bulk(
            out,
            if self.role.is_replica() {
                b"replica"
            } else {
                b"master"
            },
        );
        w.bulk(out, b"modules");
        w.array(out, 0);
    }

    fn cmd_debug(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let sub = p.arg(1);
        if sub.eq_ignore_ascii_case(b"sleep") && p.argc() == 3 {
            let secs = parse_f64(p.arg(2)).unwrap_or(0.0);
            let d = Duration::from_secs_f64(secs.clamp(0.0, 1e9));
            // The whole server stops for `d`: the shell waits before doing anything else.
            self.busy_until = Some(self.busy_until.unwrap_or(self.now).max(self.now) + d);
            self.set_timers_changed();
            w.ok(out);
        } else {
            let msg = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                lossy(c_str(sub, 128))
            );
            self.err(w, out, &msg);
        }
    }

    fn unsubscribe_one(&mut self, id: ClientId, ch: &[u8], out: &mut Vec<u8>) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let w = c.writer();
        if c.channels.remove(ch) {
            if let Some(v) = self.channels.get_mut(ch) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.channels.remove(ch);
                }
            }
        }
        let count = c.channels.len() + c.patterns.len();
        w.push(out, 3);
        w.bulk(out, b"unsubscribe");
        w.bulk(out, ch);
        w.int(out, count as i64);
    }

    fn punsubscribe_one(&mut self, id: ClientId, pat: &[u8], out: &mut Vec<u8>) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let w = c.writer();
        if c.patterns.remove(pat) {
            if let Some(v) = self.patterns.get_mut(pat) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.patterns.remove(pat);
                }
            }
        }
        let count = c.channels.len() + c.patterns.len();
        w.push(out, 3);
        w.bulk(out, b"punsubscribe");
        w.bulk(out, pat);
        w.int(out, count as i64);
    }

    fn unsubscribe_all(&mut self, id: ClientId, out: Option<&mut Vec<u8>>, notify: bool) {
        let chans: Vec<Vec<u8>> = self
            .clients
            .get(&id)
            .map(|c| c.channels.iter().cloned().collect())
            .unwrap_or_default();
        let mut scratch = Vec::new();
        let out = match out {
            Some(o) if notify => o,
            _ => &mut scratch,
        };
        if chans.is_empty() && notify {
            let w = self.client_writer(id);
            let n = self.clients.get(&id).map_or(0, |c| c.patterns.len());
            w.push(out, 3);
            w.bulk(out, b"unsubscribe");
            w.null(out);
            w.int(out, n as i64);
        }
        for ch in chans {
            self.unsubscribe_one(id, &ch, out);
        }
    }

    fn punsubscribe_all(&mut self, id: ClientId, out: Option<&mut Vec<u8>>, notify: bool) {
        let pats: Vec<Vec<u8>> = self
            .clients
            .get(&id)
            .map(|c| c.patterns.iter().cloned().collect())
            .unwrap_or_default();
        let mut scratch = Vec::new();
        let out = match out {
            Some(o) if notify => o,
            _ => &mut scratch,
        };
        if pats.is_empty() && notify {
            let w = self.client_writer(id);
            let n = self.clients.get(&id).map_or(0, |c| c.channels.len());
            w.push(out, 3);
            w.bulk(out, b"punsubscribe");
            w.null(out);
            w.int(out, n as i64);
        }
        for pat in pats {
            self.punsubscribe_one(id, &pat, out);
        }
    }

    /// Deliver a message; returns the number of receivers. `out` is the publisher's buffer.
    fn publish(&mut self, publisher: ClientId, ch: &[u8], msg: &[u8], out: &mut Vec<u8>) -> i64 {
        let mut targets: Vec<(ClientId, Option<Vec<u8>>)> = self
            .channels
            .get(ch)
            .map(|v| v.iter().map(|id| (*id, None)).collect())
            .unwrap_or_default();
        for (pat, ids) in &self.patterns {
            if glob_match(pat, ch, false) {
                targets.extend(ids.iter().map(|id| (*id, Some(pat.clone()))));
            }
        }
        for (target, pat) in &targets {
            let Some(c) = self.clients.get_mut(target) else {
                continue;
            };
            let w = c.writer();
            let buf = if *target == publisher {
                &mut *out
            } else {
                &mut c.out
            };
            match pat {
                None => {
                    w.push(buf, 3);
                    w.bulk(buf, b"message");
                }
                Some(pat) => {
                    w.push(buf, 4);
                    w.bulk(buf, b"pmessage");
                    w.bulk(buf, pat);
                }
            }
            w.bulk(buf, ch);
            w.bulk(buf, msg);
            if *target != publisher {
                self.wake(*target);
            }
        }
        targets.len() as i64
    }

    fn cmd_push(
        &mut self,
        id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
        left: bool,
    ) {
        let db = self.current_db(id);
        let now = self.now;
        let key = p.arg(1);
        let mut expired = 0;
        let len = match self.dbs[db].lookup(now, key, &mut expired) {
            Some(e) => match &mut e.value {
                Value::List(l) => {
                    for i in 2..p.argc() {
                        if left {
                            l.push_front(p.arg(i).to_vec());
                        } else {
                            l.push_back(p.arg(i).to_vec());
                        }
                    }
                    Some(l.len())
                }
                Value::Str(_) => None,
            },
            None => {
                let mut l = VecDeque::new();
                for i in 2..p.argc() {
                    if left {
                        l.push_front(p.arg(i).to_vec());
                    } else {
                        l.push_back(p.arg(i).to_vec());
                    }
                }
                let n = l.len();
                self.dbs[db].insert(key, Value::List(l));
                Some(n)
            }
        };
        self.stats.expired_keys += expired;
        let Some(len) = len else {
            return self.err(w, out, ERR_WRONGTYPE);
        };
        w.int(out, len as i64);
        self.serve_blocked(db, key);
    }

    /// Hand elements of `key` to clients blocked on it, first come first served.
    fn serve_blocked(&mut self, db: usize, key: &[u8]) {
        loop {
            let Some(&waiter) = self
                .blocking
                .get(&(db, key.to_vec()))
                .and_then(|q| q.front())
            else {
                return;
            };
            let mut expired = 0;
            let now = self.now;
            let elem = match self.dbs[db].lookup(now, key, &mut expired) {
                Some(e) => match &mut e.value {
                    Value::List(l) => l.pop_front().map(|v| (v, l.is_empty())),
                    Value::Str(_) => None,
                },
                None => None,
            };
            let Some((elem, now_empty)) = elem else {
                return;
            };
            if now_empty {
                self.dbs[db].remove_existing(key);
            }
            self.unblock(waiter);
            if let Some(c) = self.clients.get_mut(&waiter) {
                let w = c.writer();
                w.array(&mut c.out, 2);
                w.bulk(&mut c.out, key);
                w.bulk(&mut c.out, &elem);
            }
            self.unblocked.push(waiter);
        }
    }

    fn cmd_pop(
        &mut self,
        id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
        left: bool,
    ) {
        let argc = p.argc();
        if argc > 3 {
            let msg = format!(
                "ERR wrong number of arguments for '{}' command",
                if left { "lpop" } else { "rpop" }
            );
            return self.err(w, out, &msg);
        }
        let count = if argc == 3 {
            match parse_i64_strict(p.arg(2)) {
                Some(n) if n >= 0 => Some(n as usize),
                _ => return self.err(w, out, "ERR value is out of range, must be positive"),
            }
        } else {
            None
        };
        let db = self.current_db(id);
        let now = self.now;
        let key = p.arg(1);
        let mut expired = 0;
        let popped = match self.dbs[db].lookup(now, key, &mut expired) {
            None => Ok(None),
            Some(e) => match &mut e.value {
                Value::Str(_) => Err(()),
                Value::List(l) => {
                    let n = count.unwrap_or(1).min(l.len());
                    let items: Vec<Vec<u8>> = (0..n)
                        .filter_map(|_| if left { l.pop_front() } else { l.pop_back() })
                        .collect();
                    Ok(Some((items, l.is_empty())))
                }
            },
        };
        self.stats.expired_keys += expired;
        match popped {
            Err(()) => self.err(w, out, ERR_WRONGTYPE),
            Ok(None) => {
                if count.is_some() {
                    w.null_array(out);
                } else {
                    w.null(out);
                }
            }
            Ok(Some((items, empty))) => {
                if empty {
                    self.dbs[db].remove_existing(key);
                }
                if count.is_some() {
                    w.array(out, items.len());
                    for i in &items {
                        w.bulk(out, i);
                    }
                } else if let Some(i) = items.first() {
                    w.bulk(out, i);
                } else {
                    w.null(out);
                }
            }
        }
    }

    fn cmd_blpop(&mut self, id: ClientId, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let argc = p.argc();
        let Some(t) = parse_f64(p.arg(argc - 1)) else {
            return self.err(w, out, "ERR timeout is not a float or out of range");
        };
        if t < 0.0 {
            return self.err(w, out, "ERR timeout is negative");
        }
        let db = self.current_db(id);
        let now = self.now;
        for i in 1..argc - 1 {
            let key = p.arg(i);
            let mut expired = 0;
            let r = match self.dbs[db].lookup(now, key, &mut expired) {
                None => Ok(None),
                Some(e) => match &mut e.value {
                    Value::Str(_) => Err(()),
                    Value::List(l) => Ok(l.pop_front().map(|v| (v, l.is_empty()))),
                },
            };
            self.stats.expired_keys += expired;
            match r {
                Err(()) => return self.err(w, out, ERR_WRONGTYPE),
                Ok(None) => {}
                Ok(Some((v, empty))) => {
                    if empty {
                        self.dbs[db].remove_existing(key);
                    }
                    w.array(out, 2);
                    w.bulk(out, key);
                    w.bulk(out, &v);
                    return;
                }
            }
        }
        if self.in_exec {
            // Inside EXEC the client may not block (CLIENT_DENY_BLOCKING): as a timeout.
            return w.null_array(out);
        }
        let deadline = (t > 0.0).then(|| now + Duration::from_secs_f64(t.min(1e12)));
        let keys = (1..argc - 1).map(|i| p.arg(i).to_vec()).collect();
        self.block(id, db, keys, deadline);
    }

    fn cmd_config_get(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        // (name as replied, canonical name). Redis replies an exact (non-glob) name as the
        // client spelled it, and glob matches by their canonical name.
        let mut matched: Vec<(String, &'static str)> = Vec::new();
        for i in 2..p.argc() {
            let pat = p.arg(i);
            let is_glob = pat.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
            for name in CONFIG_PARAMS {
                let hit = if is_glob {
                    glob_match(pat, name.as_bytes(), true)
                } else {
                    pat.eq_ignore_ascii_case(name.as_bytes())
                };
                if hit && !matched.iter().any(|(_, n)| n == name) {
                    let shown = if is_glob {
                        (*name).to_owned()
                    } else {
                        lossy(pat)
                    };
                    matched.push((shown, name));
                }
            }
        }
        w.map(out, matched.len());
        for (shown, name) in matched {
            w.bulk(out, shown.as_bytes());
            let v = self.config_value(name);
            w.bulk(out, v.as_bytes());
        }
    }

    pub(crate) fn config_value(&self, name: &str) -> String {
        let c = &self.config;
        match name {
            "timeout" => c.timeout_secs.to_string(),
            "maxclients" => c.maxclients.to_string(),
            "requirepass" => c.requirepass.clone().unwrap_or_default(),
            "hz" => c.hz.to_string(),
            "bind" => c.bind.clone(),
            "port" => c.port.to_string(),
            "databases" => self.dbs.len().to_string(),
            "save" => self.inert.save.clone(),
            "appendonly" => if self.inert.appendonly { "yes" } else { "no" }.to_owned(),
            "tcp-keepalive" => self.inert.tcp_keepalive.to_string(),
            "maxmemory" => self.inert.maxmemory.to_string(),
            "maxmemory-policy" => self.inert.maxmemory_policy.clone(),
            "proto-max-bulk-len" => crate::resp::PROTO_MAX_BULK_LEN.to_string(),
            _ => String::new(),
        }
    }

    fn cmd_config_set(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let argc = p.argc();
        if argc % 2 == 1 {
            return self.err(w, out, ERR_SYNTAX);
        }
        let mut names: Vec<String> = Vec::new();
        let mut changes = Vec::new();
        for i in (2..argc).step_by(2) {
            let name = lossy(p.arg(i)).to_ascii_lowercase();
            if names.contains(&name) {
                let msg = format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                );
                return self.err(w, out, &msg);
            }
            match crate::config::parse_change(&name, p.arg(i + 1)) {
                Ok(c) => changes.push(c),
                Err(e) => return self.err(w, out, &e),
            }
            names.push(name);
        }
        for c in changes {
            self.apply_config(c);
        }
        w.ok(out);
    }

    pub(crate) fn client_info_line(&self, id: ClientId, line: &mut String) {
        let Some(c) = self.clients.get(&id) else {
            return;
        };
        let now = self.now.as_secs();
        let mut flags = String::new();
        if c.subscribed() {
            flags.push('P');
        }
        if c.multi.is_some() {
            flags.push('x');
        }
        if c.blocked.is_some() {
            flags.push('b');
        }
        if c.close_after_reply.is_some() {
            flags.push('c');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let name = c.name.as_deref().map(lossy).unwrap_or_default();
        let qbuf = c.parser.pending_len();
        let qbuf_free = c.parser.free_capacity();
        let omem = c.out.len();
        let _ = writeln!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            c.id,
            c.addr,
            c.laddr,
            c.id + 7,
            name,
            now.saturating_sub(c.created_secs),
            now.saturating_sub(c.last_interaction_secs),
            flags,
            c.db,
            c.channels.len(),
            c.patterns.len(),
            c.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            qbuf,
            qbuf_free,
            omem,
            qbuf + qbuf_free + omem + 1024,
            c.last_cmd,
            c.resp,
        );
    }

    fn cmd_client_list(
        &mut self,
        _id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
    ) {
        let argc = p.argc();
        let mut type_filter: Option<&[u8]> = None;
        let mut ids: Option<Vec<ClientId>> = None;
        if argc == 4 && p.arg(2).eq_ignore_ascii_case(b"type") {
            let t = p.arg(3);
            let known = [&b"normal"[..], b"master", b"replica", b"slave", b"pubsub"];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(t)) {
                let msg = format!("ERR Unknown client type '{}'", lossy(t));
                return self.err(w, out, &msg);
            }
            type_filter = Some(t);
        } else if argc > 3 && p.arg(2).eq_ignore_ascii_case(b"id") {
            let mut v = Vec::new();
            for i in 3..argc {
                match parse_i64_strict(p.arg(i)) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return self.err(w, out, "ERR Invalid client ID"),
                }
            }
            ids = Some(v);
        } else if argc != 2 {
            return self.err(w, out, ERR_SYNTAX);
        }
        let mut text = String::new();
        let list: Vec<ClientId> = match &ids {
            Some(v) => v
                .iter()
                .copied()
                .filter(|i| self.clients.contains_key(i))
                .collect(),
            None => self.clients.keys().copied().collect(),
        };
        for cid in list {
            if let Some(t) = type_filter {
                let is_pubsub = self.clients.get(&cid).is_some_and(|c| c.subscribed());
                let matches = if t.eq_ignore_ascii_case(b"pubsub") {
                    is_pubsub
                } else if t.eq_ignore_ascii_case(b"normal") {
                    !is_pubsub
                } else {
                    false
                };
                if !matches {
                    continue;
                }
            }
            self.client_info_line(cid, &mut text);
        }
        w.verbatim(out, text.as_bytes());
    }

    fn cmd_client_kill(
        &mut self,
        id: ClientId,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
    ) {
        let argc = p.argc();
        let mut addr: Option<&[u8]> = None;
        let mut laddr: Option<&[u8]> = None;
        let mut kill_id: Option<u64> = None;
        let mut ctype: Option<Vec<u8>> = None;
        let mut user: Option<&[u8]> = None;
        let mut skipme = true;
        let old_form = argc == 3;
        if old_form {
            addr = Some(p.arg(2));
            skipme = false;
        } else {
            let mut i = 2;
            while i < argc {
                let opt = p.arg(i);
                let more = i + 1 < argc;
                if !more {
                    return self.err(w, out, ERR_SYNTAX);
                }
                let val = p.arg(i + 1);
                if opt.eq_ignore_ascii_case(b"id") {
                    match parse_i64_strict(val) {
                        Some(n) if n >= 1 => kill_id = Some(n as u64),
                        _ => return self.err(w, out, "ERR client-id should be greater than 0"),
                    }
                } else if opt.eq_ignore_ascii_case(b"type") {
                    let t = val.to_ascii_lowercase();
                    if !matches!(
                        t.as_slice(),
                        b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
                    ) {
                        let msg = format!("ERR Unknown client type '{}'", lossy(val));
                        return self.err(w, out, &msg);
                    }
                    ctype = Some(t);
                } else if opt.eq_ignore_ascii_case(b"addr") {
                    addr = Some(val);
                } else if opt.eq_ignore_ascii_case(b"laddr") {
                    laddr = Some(val);
                } else if opt.eq_ignore_ascii_case(b"user") {
                    if val != b"default" {
                        let msg = format!("ERR No such user '{}'", lossy(val));
                        return self.err(w, out, &msg);
                    }
                    user = Some(val);
                } else if opt.eq_ignore_ascii_case(b"skipme") {
                    if val.eq_ignore_ascii_case(b"yes") {
                        skipme = true;
                    } else if val.eq_ignore_ascii_case(b"no") {
                        skipme = false;
                    } else {
                        return self.err(w, out, ERR_SYNTAX);
                    }
                } else {
                    return self.err(w, out, ERR_SYNTAX);
                }
                i += 2;
            }
        }
        let _ = user;
        let victims: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| addr.is_none_or(|a| c.addr.as_bytes() == a))
            .filter(|c| laddr.is_none_or(|a| c.laddr.as_bytes() == a))
            .filter(|c| kill_id.is_none_or(|k| c.id == k))
            .filter(|c| match ctype.as_deref() {
                None => true,
                Some(b"pubsub") => c.subscribed(),
                Some(b"normal") => !c.subscribed(),
                Some(_) => false,
            })
            .filter(|c| !(skipme && c.id == id))
            .map(|c| c.id)
            .collect();
        let killed = victims.len();
        for v in victims {
            if v == id {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.close_after_reply = Some(CloseReason::Killed);
                }
            } else {
                self.stats.killed_clients += 1;
                self.free_client(v, Some(CloseReason::Killed));
            }
        }
        if old_form {
            if killed == 0 {
                self.err(w, out, "ERR No such client");
            } else {
                w.ok(out);
            }
        } else {
            w.int(out, killed as i64);
        }
    }

    fn info_string(&self, p: &RequestParser) -> String {
        let mut want: Vec<String> = (1..p.argc())
            .map(|i| lossy(p.arg(i)).to_ascii_lowercase())
            .collect();
        if want.is_empty() {
            want.push("default".to_owned());
        }
        let all = want
            .iter()
            .any(|s| matches!(s.as_str(), "all" | "everything" | "default"));
        let has = |s: &str| all || want.iter().any(|w| w == s);
        let mut text = String::new();
        let mut sections = 0;
        let mut section = |text: &mut String, title: &str| {
            if sections > 0 {
                text.push_str("\r\n");
            }
            sections += 1;
            let _ = write!(text, "# {title}\r\n");
        };
        let now = self.now;
        let st = &self.stats;
        if has("server") {
            section(&mut text, "Server");
            let _ = write!(
                text,
                "redis_version:{v}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:fake-redis\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:tokio\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:1\r\nprocess_supervised:no\r\nrun_id:0000000000000000000000000000000000000000\r\ntcp_port:{port}\r\nserver_time_usec:{usec}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{days}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nlru_clock:0\r\nexecutable:fake-redis\r\nconfig_file:\r\nio_threads_active:0\r\n",
                v = crate::REDIS_VERSION,
                port = self.config.port,
                usec = u128::from(self.unix_ms(now)) * 1000,
                up = now.as_secs(),
                days = now.as_secs() / 86400,
                hz = self.config.hz,
            );
        }
        if has("clients") {
            section(&mut text, "Clients");
            let blocked = self
                .clients
                .values()
                .filter(|c| c.blocked.is_some())
                .count();
            let in_timeout = self
                .clients
                .values()
                .filter(|c| matches!(&c.blocked, Some(b) if b.deadline.is_some()))
                .count();
            let _ = write!(
                text,
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                self.clients.len(),
                self.config.maxclients,
                blocked,
                in_timeout,
            );
        }
        if has("memory") {
            section(&mut text, "Memory");
            let _ = write!(
                text,
                "used_memory:0\r\nused_memory_human:0B\r\nused_memory_rss:0\r\nused_memory_peak:0\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:libc\r\n",
                self.inert.maxmemory, self.inert.maxmemory_policy
            );
        }
        if has("persistence") {
            section(&mut text, "Persistence");
            let _ = write!(
                text,
                "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\n",
                u8::from(self.inert.appendonly)
            );
        }
        if has("stats") {
            section(&mut text, "Stats");
            let _ = write!(
                text,
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:0\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                st.total_connections_received,
                st.total_commands_processed,
                st.total_net_input_bytes,
                st.total_net_output_bytes,
                st.rejected_connections,
                st.expired_keys,
                st.keyspace_hits,
                st.keyspace_misses,
                self.channels.len(),
                self.patterns.len(),
                st.total_error_replies,
            );
        }
        if has("replication") {
            section(&mut text, "Replication");
            self.info_replication(&mut text);
        }
        if has("cpu") {
            section(&mut text, "CPU");
            text.push_str("used_cpu_sys:0.000000\r\nused_cpu_user:0.000000\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:0.000000\r\nused_cpu_user_main_thread:0.000000\r\n");
        }
        if has("modules") {
            section(&mut text, "Modules");
        }
        if has("errorstats") {
            section(&mut text, "Errorstats");
        }
        if has("cluster") {
            section(&mut text, "Cluster");
            text.push_str("cluster_enabled:0\r\n");
        }
        if has("keyspace") {
            section(&mut text, "Keyspace");
            for (i, db) in self.dbs.iter().enumerate() {
                if db.len() > 0 {
                    let _ = write!(
                        text,
                        "db{i}:keys={},expires={},avg_ttl={}\r\n",
                        db.len(),
                        db.volatile_len(),
                        db.avg_ttl_ms(now)
                    );
                }
            }
        }
        text
    }
}

pub(crate) fn help(w: ReplyWriter, out: &mut Vec<u8>, cmd: &str, lines: &[&str]) {
    w.array(out, lines.len() + 2);
    w.simple(
        out,
        format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for l in lines {
        w.simple(out, l.as_bytes());
    }
    w.simple(out, b"HELP");
    // Redis prints the HELP line and its description; one line is enough here.
}
