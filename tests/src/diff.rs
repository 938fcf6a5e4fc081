//! The differential harness: one case = one request sent on a fresh connection to a fresh real
//! `redis-server` and a fresh fake; the replies are compared (byte for byte unless the case says
//! otherwise), then how the connection ends.
//!
//! After the expected replies, a case either expects the server to close the connection (both
//! must then read EOF with nothing more written) or to keep it open; an open connection is
//! checked with a trailing `PING`, whose reply must match too (this catches extra replies and a
//! connection left in a different state).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::resp::{self, Value};
use crate::servers::{FakeServer, RealRedis, fake_config};
use crate::wire::{End, Wire, encode, show};

/// In a request, replaced by the port of the case's master (see [`Case::with_master`]).
pub const MASTER_PORT: &str = "$MASTER_PORT";

/// The password every `Setup::Auth` server is started with.
pub const PASSWORD: &str = "s3cret";

/// How long one server gets to produce a case's replies, and then its EOF.
const REPLY_DEADLINE: Duration = Duration::from_secs(3);

/// How both servers are configured before the request is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Defaults (no password, timeout 0, maxclients 10000).
    Plain,
    /// `requirepass s3cret`.
    Auth,
}

/// The bytes of a request.
#[derive(Clone, Copy)]
pub enum Req {
    /// One command per line, arguments split on whitespace, each sent as a RESP multibulk.
    Cmds(&'static str),
    /// Exact bytes (inline commands, malformed input).
    Raw(&'static [u8]),
    /// Bytes built at run time (large inputs).
    Gen(fn() -> Vec<u8>),
}

impl Req {
    /// The bytes to send.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Cmds(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .flat_map(|l| encode(&l.split_whitespace().collect::<Vec<_>>()))
                .collect(),
            Self::Raw(b) => b.to_vec(),
            Self::Gen(f) => f(),
        }
    }
}

/// What the server does with the connection after the expected replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Stays open (checked with a trailing PING).
    Open,
    /// Closes it: the next read is EOF with nothing more written.
    Close,
}

/// How the replies are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// Byte for byte.
    Exact,
    /// Same RESP types and aggregate lengths, map keys equal; strings and numbers may differ.
    Shape,
    /// INFO text: the same section headers in the same order, and for each named section the
    /// same set of field names. Non-INFO replies are compared byte for byte.
    InfoFields(&'static [&'static str]),
    /// INFO text: the named fields are present in both with equal values (deterministic
    /// counters). Non-INFO replies are compared byte for byte.
    InfoValues(&'static [&'static str]),
    /// CLIENT LIST text: the same number of lines, each with the same keys in the same order.
    /// Other replies are compared byte for byte.
    ClientListKeys,
    /// Flat name/value arrays (or maps) compared as sets of pairs (CONFIG GET with several
    /// names: Redis orders them by its dict iteration).
    UnorderedPairs,
    /// A `ROLE` reply: the role, and a replica's master host and port, byte for byte; the
    /// replication state and offsets, and a master's replica list, by type only (a real
    /// replica's link state moves with its sync: `connect`, `connecting`, `sync`,
    /// `connected`; the fake's never does). Other replies are compared byte for byte.
    Role,
    /// A documented behaviour difference: each server must give exactly its own expected
    /// reply (the real one keeps the row honest against Redis, the fake one pins the fake's
    /// deliberate choice).
    Each {
        /// What real Redis 7.0 answers.
        real: &'static [u8],
        /// What the fake answers instead.
        fake: &'static [u8],
    },
}

/// One differential case: a row of the table.
#[derive(Clone)]
pub struct Case {
    /// Unique name, used in reports and in the DIFFERENCES table.
    pub name: &'static str,
    /// Server configuration.
    pub setup: Setup,
    /// The request bytes, sent in one write.
    pub req: Req,
    /// How many replies to wait for.
    pub replies: usize,
    /// What happens to the connection after them.
    pub then: Then,
    /// How replies are compared.
    pub cmp: Cmp,
    /// How the first reply is compared, when it differs from `cmp` (e.g. a HELLO 3 map by
    /// shape, then exact replies).
    pub first: Option<Cmp>,
    /// Send the request in pieces of this many bytes, 2 ms apart (exercises partial reads);
    /// `None` sends it in one write.
    pub chunk: Option<usize>,
    /// Start a third server, a real `redis-server`, as the master both servers are made
    /// replicas of: its port replaces [`MASTER_PORT`] in the request, the same for both.
    pub master: bool,
}

impl Case {
    /// Multibulk commands, one per line; expects one reply per line, connection stays open.
    pub fn cmds(name: &'static str, text: &'static str) -> Self {
        let replies = text.lines().filter(|l| !l.trim().is_empty()).count();
        Self {
            name,
            setup: Setup::Plain,
            req: Req::Cmds(text),
            replies,
            then: Then::Open,
            cmp: Cmp::Exact,
            first: None,
            chunk: None,
            master: false,
        }
    }

    /// Exact request bytes expecting `replies` replies.
    pub fn raw(name: &'static str, bytes: &'static [u8], replies: usize) -> Self {
        Self {
            req: Req::Raw(bytes),
            replies,
            ..Self::cmds(name, "")
        }
    }

    /// Generated request bytes expecting `replies` replies.
    pub fn generated(name: &'static str, f: fn() -> Vec<u8>, replies: usize) -> Self {
        Self {
            req: Req::Gen(f),
            replies,
            ..Self::cmds(name, "")
        }
    }

    /// Both servers run with `requirepass s3cret`.
    pub fn auth(self) -> Self {
        Self {
            setup: Setup::Auth,
            ..self
        }
    }

    /// The server closes the connection after the replies.
    pub fn closes(self) -> Self {
        Self {
            then: Then::Close,
            ..self
        }
    }

    /// Overrides the comparison.
    pub fn cmp(self, cmp: Cmp) -> Self {
        Self { cmp, ..self }
    }

    /// Compares the first reply with `cmp` (the others keep the case's comparison).
    pub fn first_by(self, cmp: Cmp) -> Self {
        Self {
            first: Some(cmp),
            ..self
        }
    }

    /// Sends the request `bytes` at a time, 2 ms apart.
    pub fn in_chunks_of(self, bytes: usize) -> Self {
        Self {
            chunk: Some(bytes.max(1)),
            ..self
        }
    }

    /// Starts a real master for the case; `$MASTER_PORT` in the request is its port.
    pub fn with_master(self) -> Self {
        Self {
            master: true,
            ..self
        }
    }

    /// The request bytes, with [`MASTER_PORT`] replaced by `master_port`.
    pub fn request(&self, master_port: u16) -> Vec<u8> {
        let bytes = self.req.bytes();
        let (from, to) = (MASTER_PORT.as_bytes(), master_port.to_string().into_bytes());
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(from) {
                // Keep `Req::Cmds` multibulks well formed: fix the length header before it.
                if let Some(hdr) = fix_bulk_header(&mut out, from.len(), to.len()) {
                    out.truncate(hdr.0);
                    out.extend_from_slice(hdr.1.as_bytes());
                }
                out.extend_from_slice(&to);
                i += from.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    /// Overrides the number of replies.
    pub fn replies(self, replies: usize) -> Self {
        Self { replies, ..self }
    }
}

/// When `out` ends with a bulk header `$<old_len>\r\n` for an argument that is exactly the
/// placeholder, returns where the header starts and the header for `new_len`.
fn fix_bulk_header(out: &mut [u8], old_len: usize, new_len: usize) -> Option<(usize, String)> {
    let want = format!("${old_len}\r\n");
    out.ends_with(want.as_bytes())
        .then(|| (out.len() - want.len(), format!("${new_len}\r\n")))
}

/// What one server did with a case's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The whole replies read (at most `case.replies`).
    pub replies: Vec<Vec<u8>>,
    /// How reading them ended.
    pub end: End,
    /// `Then::Close`: bytes written after the replies, and how that read ended.
    pub after_close: Option<(Vec<u8>, End)>,
    /// `Then::Open`: the reply to the trailing PING (raw bytes) or how waiting for it ended.
    pub trailer: Option<Result<Vec<u8>, End>>,
}

impl Observed {
    fn describe(&self) -> String {
        let mut s = String::new();
        for (i, r) in self.replies.iter().enumerate() {
            let _ = writeln!(s, "      reply {}: {}", i + 1, show(r));
        }
        let _ = writeln!(s, "      then: {:?}", self.end);
        if let Some((bytes, end)) = &self.after_close {
            let _ = writeln!(s, "      after the replies: {} then {:?}", show(bytes), end);
        }
        match &self.trailer {
            Some(Ok(r)) => {
                let _ = writeln!(s, "      trailing PING: {}", show(r));
            }
            Some(Err(end)) => {
                let _ = writeln!(s, "      trailing PING: no reply, {end:?}");
            }
            None => {}
        }
        s
    }
}

/// Sends the case's request to `addr` on a fresh connection and records what happens.
pub async fn observe(addr: std::net::SocketAddr, case: &Case, req: &[u8]) -> Observed {
    let mut wire = match Wire::connect(addr).await {
        Ok(w) => w,
        Err(e) => {
            return Observed {
                replies: vec![],
                end: End::Failed(e.kind()),
                after_close: None,
                trailer: None,
            };
        }
    };
    // A write can fail when the server closes early on a large bad request; the replies it
    // wrote before closing are still readable, so keep going.
    match case.chunk {
        None => {
            let _ = wire.send(req).await;
        }
        Some(n) => {
            for piece in req.chunks(n) {
                if wire.send(piece).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    let (replies, end) = wire.read_replies(case.replies, REPLY_DEADLINE).await;
    let mut seen = Observed {
        replies,
        end,
        after_close: None,
        trailer: None,
    };
    if seen.end != End::Complete {
        return seen;
    }
    match case.then {
        Then::Close => seen.after_close = Some(wire.read_to_eof(REPLY_DEADLINE).await),
        Then::Open => {
            let ping = encode(&["PING"]);
            seen.trailer = Some(match wire.send(&ping).await {
                Err(e) => Err(End::Failed(e.kind())),
                Ok(()) => {
                    let (mut r, end) = wire.read_replies(1, REPLY_DEADLINE).await;
                    if end == End::Complete {
                        Ok(r.remove(0))
                    } else {
                        Err(end)
                    }
                }
            });
        }
    }
    seen
}

/// Checks that the real server did what the table row says (else the row is wrong).
fn check_expectation(case: &Case, real: &Observed) -> Result<(), String> {
    if real.end != End::Complete {
        return Err(format!(
            "real redis-server gave {} of {} replies then {:?}",
            real.replies.len(),
            case.replies,
            real.end
        ));
    }
    match case.then {
        Then::Close => match &real.after_close {
            Some((b, End::Eof)) if b.is_empty() => Ok(()),
            other => Err(format!(
                "real redis-server did not close cleanly: {other:?}"
            )),
        },
        Then::Open => match &real.trailer {
            Some(Ok(_)) => Ok(()),
            other => Err(format!(
                "real redis-server did not answer the trailing PING: {other:?}"
            )),
        },
    }
}

/// Compares one reply of the fake with the real one under `cmp`.
pub fn compare_reply(cmp: Cmp, real: &[u8], fake: &[u8]) -> Result<(), String> {
    if let Cmp::Each {
        real: want_real,
        fake: want_fake,
    } = cmp
    {
        return if real == want_real && fake == want_fake {
            Ok(())
        } else {
            Err(format!(
                "documented difference not as expected: real {:?} (want {:?}), fake {:?} (want {:?})",
                String::from_utf8_lossy(real),
                String::from_utf8_lossy(want_real),
                String::from_utf8_lossy(fake),
                String::from_utf8_lossy(want_fake),
            ))
        };
    }
    if cmp == Cmp::Exact || real == fake {
        return if real == fake {
            Ok(())
        } else {
            Err("bytes differ".into())
        };
    }
    let r = resp::parse(real).map_err(|e| format!("real reply: {e}"))?;
    let f = resp::parse(fake).map_err(|e| format!("fake reply: {e}"))?;
    match cmp {
        Cmp::Exact | Cmp::Each { .. } => unreachable!("handled above"),
        Cmp::Role => same_role(&r, &f),
        Cmp::Shape => same_shape(&r, &f, "reply"),
        Cmp::InfoFields(sections) => match (r.text(), f.text()) {
            (Some(rt), Some(ft)) if r.kind() == f.kind() => same_info_fields(rt, ft, sections),
            _ => Err("bytes differ (not both INFO text of the same type)".into()),
        },
        Cmp::InfoValues(fields) => match (r.text(), f.text()) {
            (Some(rt), Some(ft)) if r.kind() == f.kind() => same_info_values(rt, ft, fields),
            _ => Err("bytes differ (not both INFO text of the same type)".into()),
        },
        Cmp::ClientListKeys => match (r.text(), f.text()) {
            (Some(rt), Some(ft)) if r.kind() == f.kind() => same_client_list_keys(rt, ft),
            _ => Err("bytes differ (not both CLIENT LIST text of the same type)".into()),
        },
        Cmp::UnorderedPairs => {
            let (rp, fp) = (pairs(&r)?, pairs(&f)?);
            if r.kind() != f.kind() {
                return Err(format!("types differ: {} vs {}", r.kind(), f.kind()));
            }
            if rp == fp {
                Ok(())
            } else {
                Err(format!("pairs differ: real {rp:?}, fake {fp:?}"))
            }
        }
    }
}

/// [`Cmp::Role`]: role (and a replica's host and port) exact, the rest by shape.
fn same_role(r: &Value, f: &Value) -> Result<(), String> {
    let role = |v: &Value| match v {
        Value::Array(Some(items)) => items.first().and_then(Value::text).map(<[u8]>::to_vec),
        _ => None,
    };
    let exact = match role(r).as_deref() {
        Some(b"master") => 1,
        Some(b"slave") => 3,
        _ => return Err("bytes differ (the real reply is not a ROLE reply)".into()),
    };
    same_shape(r, f, "ROLE")?;
    if let (Value::Array(Some(a)), Value::Array(Some(b))) = (r, f) {
        for (i, (x, y)) in a.iter().zip(b).take(exact).enumerate() {
            if x != y {
                return Err(format!("ROLE[{i}]: {x:?} vs {y:?}"));
            }
        }
    }
    Ok(())
}

fn same_shape(r: &Value, f: &Value, path: &str) -> Result<(), String> {
    if r.kind() != f.kind() {
        return Err(format!("{path}: type {} vs {}", r.kind(), f.kind()));
    }
    match (r, f) {
        (Value::Error(a), Value::Error(b)) if a != b => Err(format!(
            "{path}: error {:?} vs {:?}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        )),
        (Value::Array(Some(a)), Value::Array(Some(b)))
        | (Value::Set(a), Value::Set(b))
        | (Value::Push(a), Value::Push(b)) => {
            if a.len() != b.len() {
                return Err(format!("{path}: length {} vs {}", a.len(), b.len()));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_shape(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Map(a), Value::Map(b)) => {
            let keys = |m: &[(Value, Value)]| m.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
            if keys(a) != keys(b) {
                return Err(format!("{path}: map keys {:?} vs {:?}", keys(a), keys(b)));
            }
            for ((k, x), (_, y)) in a.iter().zip(b) {
                let name = k.text().map(String::from_utf8_lossy).unwrap_or_default();
                same_shape(x, y, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// INFO text as (section name lowercased, field names in order).
pub fn info_sections(text: &[u8]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in String::from_utf8_lossy(text).split("\r\n") {
        if let Some(name) = line.strip_prefix("# ") {
            out.push((name.trim().to_ascii_lowercase(), Vec::new()));
        } else if let Some((field, _)) = line.split_once(':') {
            if let Some((_, fields)) = out.last_mut() {
                fields.push(field.to_string());
            }
        }
    }
    out
}

fn same_info_fields(real: &[u8], fake: &[u8], sections: &[&str]) -> Result<(), String> {
    let (r, f) = (info_sections(real), info_sections(fake));
    let mut problems = Vec::new();
    // Every section header, in order (Redis prints a header even for an empty section).
    let headers =
        |s: &[(String, Vec<String>)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if headers(&r) != headers(&f) {
        problems.push(format!(
            "section headers {:?} vs {:?}",
            headers(&r),
            headers(&f)
        ));
    }
    for want in sections {
        let find = |s: &[(String, Vec<String>)]| {
            s.iter()
                .find(|(n, _)| n == want)
                .map(|(_, f)| f.iter().cloned().collect::<BTreeSet<_>>())
        };
        match (find(&r), find(&f)) {
            (None, None) => {}
            (Some(_), None) => problems.push(format!("section '{want}' missing in the fake")),
            (None, Some(_)) => problems.push(format!("section '{want}' only in the fake")),
            (Some(rf), Some(ff)) if rf != ff => problems.push(format!(
                "section '{want}': missing in fake {:?}, extra in fake {:?}",
                rf.difference(&ff).collect::<Vec<_>>(),
                ff.difference(&rf).collect::<Vec<_>>()
            )),
            _ => {}
        }
    }
    if !text_ends_ok(real, fake) {
        problems.push("line endings / final CRLF differ".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The value of `field` in INFO text.
pub fn info_value(text: &[u8], field: &str) -> Option<String> {
    String::from_utf8_lossy(text)
        .split("\r\n")
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_string))
}

fn same_info_values(real: &[u8], fake: &[u8], fields: &[&str]) -> Result<(), String> {
    let mut problems = Vec::new();
    for field in fields {
        let (r, f) = (info_value(real, field), info_value(fake, field));
        if r.is_none() {
            problems.push(format!("real INFO has no {field} (table row is wrong)"));
        } else if r != f {
            problems.push(format!("{field}: real {r:?}, fake {f:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn text_ends_ok(real: &[u8], fake: &[u8]) -> bool {
    real.ends_with(b"\r\n") == fake.ends_with(b"\r\n")
}

fn same_client_list_keys(real: &[u8], fake: &[u8]) -> Result<(), String> {
    let keys = |t: &[u8]| {
        String::from_utf8_lossy(t)
            .split_terminator('\n')
            .map(|l| {
                l.split(' ')
                    .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k).to_string())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let (r, f) = (keys(real), keys(fake));
    if r.len() != f.len() {
        return Err(format!("{} lines vs {} lines", r.len(), f.len()));
    }
    if real.ends_with(b"\n") != fake.ends_with(b"\n") {
        return Err("final newline differs".into());
    }
    for (i, (a, b)) in r.iter().zip(&f).enumerate() {
        if a != b {
            return Err(format!("line {}: keys {a:?} vs {b:?}", i + 1));
        }
    }
    Ok(())
}

/// Name/value pairs of a CONFIG GET reply.
type Pairs = BTreeSet<(Vec<u8>, Vec<u8>)>;

fn pairs(v: &Value) -> Result<Pairs, String> {
    let text = |x: &Value| x.text().map(<[u8]>::to_vec).ok_or("non-string in pairs");
    match v {
        Value::Array(Some(items)) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|c| Ok((text(&c[0])?, text(&c[1])?)))
            .collect(),
        Value::Map(m) => m.iter().map(|(k, x)| Ok((text(k)?, text(x)?))).collect(),
        other => Err(format!("not name/value pairs: {}", other.kind())),
    }
}

/// What the real server is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// The fake (the point of the suite).
    Fake,
    /// A second real redis-server: checks the table and the harness themselves (every exact
    /// case must pass; run with `POOLSIM_DIFF_AGAINST=real`).
    Real,
}

/// A running server of either kind, stopped on drop.
enum Running {
    Real(RealRedis),
    Fake(FakeServer),
}

impl Running {
    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Self::Real(r) => r.addr(),
            Self::Fake(f) => f.addr(),
        }
    }
}

async fn start_real(setup: Setup) -> Result<RealRedis, String> {
    tokio::task::spawn_blocking(move || match setup {
        Setup::Plain => RealRedis::start(&[]),
        Setup::Auth => RealRedis::start(&["--requirepass", PASSWORD]),
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot start redis-server: {e}"))
}

/// Runs one case against fresh servers. `Err` holds a report ready to print.
pub async fn run_case(case: &Case, against: Against) -> Result<(), String> {
    let setup = case.setup;
    // The master both servers are made replicas of (kept until the case ends). Port 0 when
    // the case has none: the request then has no placeholder.
    let master = if case.master {
        Some(
            start_real(Setup::Plain)
                .await
                .map_err(|e| format!("{}: the master: {e}", case.name))?,
        )
    } else {
        None
    };
    let master_port = master.as_ref().map_or(0, |m| m.addr().port());
    let real = start_real(setup)
        .await
        .map_err(|e| format!("{}: {e}", case.name))?;
    let fake = match against {
        Against::Real => Running::Real(start_real(setup).await?),
        Against::Fake => {
            let pass = (setup == Setup::Auth).then_some(PASSWORD);
            Running::Fake(
                FakeServer::start(fake_config(pass))
                    .await
                    .map_err(|e| format!("{}: cannot start the fake: {e}", case.name))?,
            )
        }
    };
    let req = case.request(master_port);
    let (r, f) = tokio::join!(
        observe(real.addr(), case, &req),
        observe(fake.addr(), case, &req)
    );
    drop(fake);
    drop(real);
    drop(master);
    let report = |why: String| {
        format!(
            "case {}: {why}\n    request: {}\n    real redis-server:\n{}    fake:\n{}",
            case.name,
            show(&req),
            r.describe(),
            f.describe()
        )
    };
    check_expectation(case, &r).map_err(|e| report(format!("TABLE ROW IS WRONG: {e}")))?;
    if f.replies.len() != r.replies.len() || f.end != r.end {
        return Err(report(format!(
            "fake gave {} replies then {:?}",
            f.replies.len(),
            f.end
        )));
    }
    for (i, (a, b)) in r.replies.iter().zip(&f.replies).enumerate() {
        let cmp = match case.first {
            Some(c) if i == 0 => c,
            _ => case.cmp,
        };
        compare_reply(cmp, a, b)
            .map_err(|e| report(format!("reply {} differs ({cmp:?}): {e}", i + 1)))?;
    }
    if f.after_close != r.after_close {
        return Err(report("the connection did not end the same way".into()));
    }
    if f.trailer != r.trailer {
        return Err(report("the trailing PING differs".into()));
    }
    Ok(())
}

/// Runs all cases, at most `parallel` at a time, and returns (name, result) in table order.
pub async fn run_all(
    cases: &[Case],
    against: Against,
    parallel: usize,
) -> Vec<(&'static str, Result<(), String>)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for case in cases.iter().cloned() {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let result = run_case(&case, against).await;
            (case.name, result)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("case task panicked"));
    }
    out
}

#[cfg(test)]
mod tests {
    //! The comparisons must catch planted differences, or a passing suite proves nothing.
    use super::*;

    fn bulk(text: &str) -> Vec<u8> {
        format!("${}\r\n{text}\r\n", text.len()).into_bytes()
    }

    fn info(version: &str, clients: &str) -> Vec<u8> {
        bulk(&format!(
            "# Server\r\nredis_version:{version}\r\n\r\n# Clients\r\nconnected_clients:{clients}\r\n"
        ))
    }

    #[test]
    fn exact_catches_one_byte() {
        assert!(compare_reply(Cmp::Exact, b"+OK\r\n", b"+OK\r\n").is_ok());
        assert!(compare_reply(Cmp::Exact, b"+OK\r\n", b"+Ok\r\n").is_err());
    }

    #[test]
    fn shape_ignores_values_but_not_types_keys_or_error_texts() {
        let real = b"%2\r\n$2\r\nid\r\n:4\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n";
        let other_values = b"%2\r\n$2\r\nid\r\n:2\r\n$7\r\nversion\r\n$3\r\n7.2\r\n";
        let other_type = b"%2\r\n$2\r\nid\r\n$1\r\n2\r\n$7\r\nversion\r\n$3\r\n7.2\r\n";
        let other_key = b"%2\r\n$2\r\nID\r\n:2\r\n$7\r\nversion\r\n$3\r\n7.2\r\n";
        assert!(compare_reply(Cmp::Shape, real, other_values).is_ok());
        assert!(compare_reply(Cmp::Shape, real, other_type).is_err());
        assert!(compare_reply(Cmp::Shape, real, other_key).is_err());
        assert!(compare_reply(Cmp::Shape, b"$-1\r\n", b"_\r\n").is_err());
        assert!(compare_reply(Cmp::Shape, b"-ERR a\r\n", b"-ERR b\r\n").is_err());
    }

    #[test]
    fn info_fields_catch_a_missing_field_or_section() {
        let cmp = Cmp::InfoFields(&["server", "clients"]);
        let real = info("7.0.15", "1");
        let missing_field = bulk("# Server\r\n\r\n# Clients\r\nconnected_clients:1\r\n");
        let missing_section = bulk("# Server\r\nredis_version:7.0.15\r\n");
        assert!(compare_reply(cmp, &real, &info("9.9.99", "7")).is_ok());
        assert!(compare_reply(cmp, &real, &missing_field).is_err());
        assert!(compare_reply(cmp, &real, &missing_section).is_err());
    }

    #[test]
    fn info_values_catch_a_wrong_counter() {
        let cmp = Cmp::InfoValues(&["connected_clients"]);
        let real = info("7.0.15", "1");
        assert!(compare_reply(cmp, &real, &info("9.9.99", "1")).is_ok());
        assert!(compare_reply(cmp, &real, &info("7.0.15", "2")).is_err());
    }

    #[test]
    fn client_list_keys_catch_reordered_or_missing_keys() {
        let real = b"$19\r\nid=3 addr=a name= \n\r\n";
        let other_values = b"$20\r\nid=9 addr=bb name= \n\r\n";
        let reordered = b"$19\r\naddr=a id=3 name= \n\r\n";
        let missing = b"$12\r\nid=3 addr=a\n\r\n";
        assert!(compare_reply(Cmp::ClientListKeys, real, other_values).is_ok());
        assert!(compare_reply(Cmp::ClientListKeys, real, reordered).is_err());
        assert!(compare_reply(Cmp::ClientListKeys, real, missing).is_err());
    }

    #[test]
    fn unordered_pairs_ignore_order_not_values() {
        let real = b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n";
        let swapped = b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n";
        let changed = b"*4\r\n$1\r\nb\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n1\r\n";
        assert!(compare_reply(Cmp::UnorderedPairs, real, swapped).is_ok());
        assert!(compare_reply(Cmp::UnorderedPairs, real, changed).is_err());
    }

    #[test]
    fn role_masks_state_and_offsets_but_not_role_host_or_port() {
        let slave = |host: &str, port: i64, state: &str, off: i64| {
            format!(
                "*5\r\n$5\r\nslave\r\n${}\r\n{host}\r\n:{port}\r\n${}\r\n{state}\r\n:{off}\r\n",
                host.len(),
                state.len()
            )
            .into_bytes()
        };
        let real = slave("127.0.0.1", 7000, "connecting", -1);
        assert!(compare_reply(Cmp::Role, &real, &slave("127.0.0.1", 7000, "connect", 0)).is_ok());
        assert!(compare_reply(Cmp::Role, &real, &slave("127.0.0.2", 7000, "connect", -1)).is_err());
        assert!(compare_reply(Cmp::Role, &real, &slave("127.0.0.1", 7001, "connect", -1)).is_err());
        let master = b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";
        assert!(compare_reply(Cmp::Role, master, b"*3\r\n$6\r\nmaster\r\n:42\r\n*0\r\n").is_ok());
        assert!(compare_reply(Cmp::Role, master, &real).is_err());
        assert!(compare_reply(Cmp::Role, b"+OK\r\n", b"+Ok\r\n").is_err());
    }

    #[test]
    fn master_port_placeholder_is_replaced_with_a_valid_bulk_length() {
        let case = Case::cmds("x", "REPLICAOF 127.0.0.1 $MASTER_PORT").with_master();
        assert_eq!(
            case.request(6390),
            b"*3\r\n$9\r\nREPLICAOF\r\n$9\r\n127.0.0.1\r\n$4\r\n6390\r\n"
        );
    }

    #[test]
    fn cmds_request_is_one_multibulk_per_line() {
        let case = Case::cmds("x", "SET k v\nGET k");
        assert_eq!(case.replies, 2);
        assert_eq!(
            case.req.bytes(),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
