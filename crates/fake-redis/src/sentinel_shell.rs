//! The Sentinel's async shell on turmoil: [`FakeSentinel`] serves the [`Sentinel`] engine's
//! clients on a listener and carries out its monitoring over simulated TCP.
//!
//! - **Clients** (`SENTINEL GET-MASTER-ADDR-BY-NAME`, `SUBSCRIBE +switch-master`, ...): one
//!   task per connection moves bytes between the socket and the engine, as the server's shell
//!   does.
//! - **Monitoring**: the engine asks for a `PING`, an `INFO` or a reconfiguration transaction
//!   to an instance ([`SentinelOutput`]); one link task per instance keeps a connection to it
//!   (opened on demand, as Redis's instance link), writes the command and reads its reply,
//!   and reports the outcome: a `+PONG` (or `-LOADING` / `-MASTERDOWN`) as a valid reply, a
//!   refused or closed connection as lost, and nothing while the instance does not answer (a
//!   stalled server's reply comes when the stall ends). `INFO replication`'s `role`,
//!   `master_host` and `master_port` become a [`Reported`] role; `master_link_status` is
//!   reported `up`, because fake-redis replicas do not replicate data and a simulated replica
//!   is taken to be in sync (docs/fake-redis.md).
//! - **The timer** calls [`Sentinel::handle_timeout`] at [`Sentinel::poll_timeout`].
//!
//! Jobs for one instance run in order on its link, one at a time: Redis pipelines PINGs and
//! INFOs on one link, and the engine sends at most one of each kind in flight.
//!
//! Events the engine publishes (`+sdown`, `+switch-master`, ...) are also given to an observer
//! ([`FakeSentinel::set_event_observer`]) and kept ([`FakeSentinel::events`]).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::sentinel::{Addr, Reported, Sentinel, SentinelClientId, SentinelConfig, SentinelOutput};

/// Told of every event the Sentinel publishes: `(engine time, channel, message)`.
pub type EventObserver = Arc<dyn Fn(Duration, &str, &str) + Send + Sync>;

/// One piece of work for an instance's link.
#[derive(Debug)]
enum Job {
    Ping,
    Info,
    Send(Vec<Vec<String>>),
}

struct State {
    engine: Sentinel,
    /// Wake-up signal of each client connection task.
    conns: BTreeMap<SentinelClientId, Arc<Notify>>,
    /// The job queue of each instance's link task.
    links: BTreeMap<Addr, mpsc::UnboundedSender<Job>>,
    /// (tokio instant, engine time) at the start of `serve`.
    clock: Option<(Instant, Duration)>,
    observer: Option<EventObserver>,
    /// Every event published so far.
    events: Vec<(Duration, String, String)>,
    /// Links created outside the shell's runtime (a caller's `with_engine`): their tasks are
    /// started by the timer at its next tick.
    unstarted: Vec<(Addr, mpsc::UnboundedReceiver<Job>)>,
}

impl State {
    fn now(&self) -> Duration {
        self.clock
            .map_or_else(|| self.engine.now(), crate::shell::clock_now)
    }

    fn instant_at(&self, t: Duration) -> Instant {
        crate::shell::clock_instant(self.clock, t)
    }
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Carries out the engine's outputs: jobs to the instances' links (a link task is started on
/// first use), wake-ups to client tasks, events to the observer.
fn dispatch(shared: &Arc<Shared>, st: &mut State) {
    while let Some(o) = st.engine.poll_output() {
        let (to, job) = match o {
            SentinelOutput::Ping { to } => (to, Job::Ping),
            SentinelOutput::Info { to } => (to, Job::Info),
            SentinelOutput::Send { to, commands } => (to, Job::Send(commands)),
            SentinelOutput::Wake { client } => {
                if let Some(n) = st.conns.get(&client) {
                    n.notify_one();
                }
                continue;
            }
            SentinelOutput::Event { channel, message } => {
                let now = st.now();
                if let Some(o) = &st.observer {
                    o(now, &channel, &message);
                }
                st.events.push((now, channel, message));
                continue;
            }
        };
        if !st.links.contains_key(&to) {
            let (tx, rx) = mpsc::unbounded_channel();
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(link_task(Arc::clone(shared), to.clone(), rx));
            } else {
                st.unstarted.push((to.clone(), rx));
            }
            st.links.insert(to.clone(), tx);
        }
        // The receiver lives as long as the shell's runtime.
        let _ = st.links[&to].send(job);
    }
}

/// A fake Redis Sentinel served on turmoil: a cheap, cloneable handle around the pure
/// [`Sentinel`] engine (`Arc` inside). Keep a clone to read its view from outside the
/// simulation ([`master_addr`](Self::master_addr), [`events`](Self::events)).
#[derive(Clone)]
pub struct FakeSentinel {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeSentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSentinel").finish_non_exhaustive()
    }
}

impl FakeSentinel {
    /// A Sentinel with this configuration, watching nothing until served.
    #[must_use]
    pub fn new(config: SentinelConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    engine: Sentinel::new(config),
                    conns: BTreeMap::new(),
                    links: BTreeMap::new(),
                    clock: None,
                    observer: None,
                    events: Vec::new(),
                    unstarted: Vec::new(),
                }),
            }),
        }
    }

    /// Serves clients on a turmoil listener (inside a turmoil host) and monitors the
    /// configured instances from that host, until the host stops. Simulated time via
    /// `tokio::time`.
    pub async fn serve_turmoil(&self, listener: turmoil::net::TcpListener) -> io::Result<()> {
        let shared = Arc::clone(&self.shared);
        {
            let mut st = shared.lock();
            let clock = (Instant::now(), st.engine.now());
            st.clock = Some(clock);
            // Links from an earlier serve died with its runtime.
            st.links.clear();
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(timer_loop(Arc::clone(&shared)));
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    tasks.spawn(serve_client(Arc::clone(&shared), stream));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
            while tasks.try_join_next().is_some() {}
        }
    }

    /// Where the Sentinel says master `name` is now (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    #[must_use]
    pub fn master_addr(&self, name: &str) -> Option<Addr> {
        self.shared.lock().engine.master_addr(name)
    }

    /// Every event published so far: `(engine time, channel, message)`.
    #[must_use]
    pub fn events(&self) -> Vec<(Duration, String, String)> {
        self.shared.lock().events.clone()
    }

    /// The events published after the first `from` (a reader that keeps its place).
    #[must_use]
    pub fn events_since(&self, from: usize) -> Vec<(Duration, String, String)> {
        self.shared
            .lock()
            .events
            .get(from..)
            .map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// Be told of every event the Sentinel publishes, as it happens.
    pub fn set_event_observer(&self, observer: Option<EventObserver>) {
        self.shared.lock().observer = observer;
    }

    /// Runs `f` on the engine (a test hook, and `SENTINEL FAILOVER` from outside), with the
    /// shell's idea of `now` (a caller outside the simulated host should pass its own
    /// simulated time to the engine instead); its outputs are carried out afterwards (work
    /// for a new link waits for the timer's next tick when the caller is outside the shell's
    /// runtime).
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Sentinel, Duration) -> R) -> R {
        let mut st = self.shared.lock();
        let now = st.now();
        let r = f(&mut st.engine, now);
        dispatch(&self.shared, &mut st);
        r
    }
}

async fn timer_loop(shared: Arc<Shared>) {
    loop {
        let at = {
            let st = shared.lock();
            st.instant_at(st.engine.poll_timeout())
        };
        tokio::time::sleep_until(at).await;
        let mut st = shared.lock();
        for (to, rx) in std::mem::take(&mut st.unstarted) {
            tokio::spawn(link_task(Arc::clone(&shared), to, rx));
        }
        let now = st.now();
        st.engine.handle_timeout(now);
        dispatch(&shared, &mut st);
    }
}

async fn serve_client(shared: Arc<Shared>, stream: turmoil::net::TcpStream) {
    let signal = Arc::new(Notify::new());
    let id = {
        let mut st = shared.lock();
        let now = st.now();
        let id = st.engine.accept(now);
        st.conns.insert(id, Arc::clone(&signal));
        id
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut rbuf = vec![0u8; 4096];
    let mut out = Vec::new();
    loop {
        let close = {
            let mut st = shared.lock();
            st.engine.take_output(id, &mut out)
        };
        let Some(close) = close else { break };
        if !out.is_empty() && wr.write_all(&out).await.is_err() {
            break;
        }
        if close {
            break;
        }
        tokio::select! {
            biased;
            r = rd.read(&mut rbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut st = shared.lock();
                    let now = st.now();
                    st.engine.handle_read(now, id, &rbuf[..n]);
                    dispatch(&shared, &mut st);
                }
            },
            () = signal.notified() => {}
        }
    }
    let mut st = shared.lock();
    let now = st.now();
    st.engine.handle_closed(now, id);
    st.conns.remove(&id);
    dispatch(&shared, &mut st);
}

/// What one job's reply was.
enum Outcome {
    /// A reply came: its first line (without CRLF) and, for a bulk string, its payload.
    Reply(Vec<u8>, Vec<u8>),
    /// No connection, or it closed before the reply.
    Lost,
}

async fn link_task(shared: Arc<Shared>, to: Addr, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<turmoil::net::TcpStream> = None;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(job) = rx.recv().await {
        let commands: Vec<Vec<String>> = match &job {
            Job::Ping => vec![vec!["PING".into()]],
            Job::Info => vec![vec!["INFO".into(), "replication".into()]],
            Job::Send(c) => c.clone(),
        };
        let mut outcome = Outcome::Lost;
        if conn.is_none() {
            buf.clear();
            conn = turmoil::net::TcpStream::connect((to.host.as_str(), to.port))
                .await
                .ok();
        }
        if let Some(stream) = conn.as_mut() {
            let mut wire = Vec::new();
            for c in &commands {
                encode(&mut wire, c);
            }
            if stream.write_all(&wire).await.is_ok() {
                // Every command's reply, in order; the outcome is the last one's (PING and INFO
                // send one command; a transaction's replies are ignored, as Sentinel does).
                for _ in &commands {
                    match read_reply(stream, &mut buf).await {
                        Some(r) => outcome = Outcome::Reply(r.0, r.1),
                        None => {
                            outcome = Outcome::Lost;
                            break;
                        }
                    }
                }
            }
            if matches!(outcome, Outcome::Lost) {
                conn = None;
            }
        }
        let mut st = shared.lock();
        let now = st.now();
        match (&job, outcome) {
            (Job::Ping, Outcome::Reply(line, _)) => {
                let valid = line == b"+PONG"
                    || line.starts_with(b"-LOADING")
                    || line.starts_with(b"-MASTERDOWN");
                if valid {
                    st.engine.handle_ping_reply(now, &to);
                }
            }
            (Job::Ping, Outcome::Lost) => st.engine.handle_ping_lost(now, &to),
            (Job::Info, Outcome::Reply(_, body)) => {
                if let Some(role) = parse_role(&body) {
                    st.engine.handle_info(now, &to, role);
                }
            }
            // Redis reconnects a lost link at the next PING; the engine hears of it then.
            (Job::Info | Job::Send(_), _) => {}
        }
        dispatch(&shared, &mut st);
    }
}

/// `args` as a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, args: &[String]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

/// Reads one whole reply (more bytes are kept in `buf` for the next): its first line and,
/// for a bulk string, its payload. `None` on EOF or an error.
async fn read_reply(
    stream: &mut turmoil::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(n) = reply_len(buf) {
            let line_end = buf.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
            let line = buf[..line_end].to_vec();
            let body = if line.first() == Some(&b'$') && n >= line_end + 4 {
                buf[line_end + 2..n - 2].to_vec()
            } else {
                Vec::new()
            };
            buf.drain(..n);
            return Some((line, body));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The length of the first complete RESP2/RESP3 reply in `b`, if `b` holds one.
fn reply_len(b: &[u8]) -> Option<usize> {
    let eol = b.windows(2).position(|w| w == b"\r\n")?;
    let head = *b.first()?;
    let num = || {
        std::str::from_utf8(&b[1..eol])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    match head {
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Some(eol + 2);
            }
            let end = eol + 2 + usize::try_from(n).ok()? + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            if n < 0 {
                return Some(eol + 2);
            }
            let items = usize::try_from(n).ok()? * if matches!(head, b'%' | b'|') { 2 } else { 1 };
            let mut at = eol + 2;
            for _ in 0..items {
                at += reply_len(&b[at..])?;
            }
            Some(at)
        }
        _ => Some(eol + 2),
    }
}

/// `INFO replication`'s role as Sentinel reads it (`role`, `master_host`, `master_port`):
/// what a Sentinel link reports with [`Sentinel::handle_info`] (this shell's links, and the
/// links the simulator's fast engine carries by hand). `master_link_status` is taken as `up`
/// (the module's doc says why).
#[must_use]
pub fn parse_role(body: &[u8]) -> Option<Reported> {
    let text = std::str::from_utf8(body).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .map(str::trim)
    };
    match field("role")? {
        "master" => Some(Reported::Master),
        "slave" => Some(Reported::Replica {
            master: Addr::new(field("master_host")?, field("master_port")?.parse().ok()?),
            link_up: true,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lengths_cover_every_kind_and_wait_for_the_rest() {
        assert_eq!(reply_len(b"+PONG\r\n"), Some(7));
        assert_eq!(reply_len(b"+PO"), None);
        assert_eq!(reply_len(b"$5\r\nhello\r\n+OK\r\n"), Some(11));
        assert_eq!(reply_len(b"$5\r\nhel"), None);
        assert_eq!(reply_len(b"$-1\r\n"), Some(5));
        assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n:1\r\n"), Some(15));
        assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n"), None);
        assert_eq!(reply_len(b"-READONLY x\r\n"), Some(13));
    }

    #[test]
    fn the_role_is_read_from_info_replication() {
        assert_eq!(
            parse_role(b"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            Some(Reported::Master)
        );
        assert_eq!(
            parse_role(b"# Replication\r\nrole:slave\r\nmaster_host:redis\r\nmaster_port:6379\r\nmaster_link_status:down\r\n"),
            Some(Reported::Replica {
                master: Addr::new("redis", 6379),
                link_up: true
            })
        );
        assert_eq!(parse_role(b"# Server\r\n"), None);
    }
}
