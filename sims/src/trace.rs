//! The run's trace: one JSON object per line, `{"t_us":..,"host":..,"event":..,...}`, in the
//! order things happened in the simulation, and its FNV-1a hash.
//!
//! Events (see `docs/replaying.md` for every field): `request.start`, `request.conn` (the
//! connection a request got), `request.retry`, `request.end` (outcome, latency),
//! `request.late` (a handler that finished after its caller gave up), `pool.connect`,
//! `pool.check`, `pool.reject`, `pool.close`, `pool.connect_failed`, `server.event`
//! (timeline events), the server's side (`server.accept`, `server.reject`, `server.refuse`,
//! `server.close` with its reason, who decided it and the idle seconds), `run.violation`,
//! `run.end`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

/// The trace being written, shared by every host of a run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    inner: Arc<Mutex<Lines>>,
}

#[derive(Clone, Debug)]
struct Lines {
    keep: bool,
    lines: Vec<String>,
    count: usize,
    hash: u64,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            keep: false,
            lines: Vec::new(),
            count: 0,
            hash: FNV_OFFSET,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a over the lines, each followed by `\n` (what [`Trace::hash`] computes as it goes).
#[must_use]
pub fn hash_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> u64 {
    lines.into_iter().fold(FNV_OFFSET, |h, line| {
        fnv1a(fnv1a(h, line.as_bytes()), b"\n")
    })
}

impl Trace {
    /// A trace that keeps its lines (`keep`) or only hashes them.
    #[must_use]
    pub fn new(keep: bool) -> Self {
        let t = Self::default();
        t.lock().keep = keep;
        t
    }

    /// A copy that shares nothing with this one: what one writes, the other does not see
    /// (the explorer's fork of a world).
    #[must_use]
    pub fn fork(&self) -> Self {
        Self {
            inner: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // A panic while tracing is a bug already being reported; keep what was written.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts an event at `t_us` microseconds of simulated time on `host`.
    pub fn event(&self, t_us: u64, host: &str, event: &str) -> EventBuilder<'_> {
        let mut line = String::with_capacity(128);
        line.push_str("{\"t_us\":");
        push_u64(&mut line, t_us);
        line.push_str(",\"host\":");
        push_str(&mut line, host);
        line.push_str(",\"event\":");
        push_str(&mut line, event);
        EventBuilder { trace: self, line }
    }

    /// Lines written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// The hash of every line written so far ([`hash_lines`] of them).
    #[must_use]
    pub fn hash(&self) -> u64 {
        self.lock().hash
    }

    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lines kept so far, taken out (empty unless the trace keeps its lines).
    #[must_use]
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().lines)
    }
}

/// One event being built; recorded by [`EventBuilder::write`].
#[must_use = "call write() to record the event"]
pub struct EventBuilder<'a> {
    trace: &'a Trace,
    line: String,
}

impl EventBuilder<'_> {
    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        push_key(&mut self.line, key);
        push_str(&mut self.line, value);
        self
    }

    /// A request's id as its label (`p3/17`: the first tier's pod, then its counter), what
    /// `.str(key, &label)` would write, without building the label.
    pub fn req(mut self, key: &str, id: u64) -> Self {
        push_key(&mut self.line, key);
        self.line.push_str("\"p");
        push_u64(&mut self.line, id >> 40);
        self.line.push('/');
        push_u64(&mut self.line, id & ((1 << 40) - 1));
        self.line.push('"');
        self
    }

    /// An integer field.
    pub fn num(mut self, key: &str, value: u64) -> Self {
        push_key(&mut self.line, key);
        push_u64(&mut self.line, value);
        self
    }

    /// Records the event.
    pub fn write(mut self) {
        self.line.push('}');
        let line = std::mem::take(&mut self.line);
        let mut t = self.trace.lock();
        t.hash = fnv1a(fnv1a(t.hash, line.as_bytes()), b"\n");
        t.count += 1;
        if t.keep {
            t.lines.push(line);
        }
    }
}

/// Appends `,"key":` (keys are the trace's own names: no escaping needed).
fn push_key(out: &mut String, key: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
}

/// Appends `v` in decimal (what `write!` does, without the formatting machinery: every
/// event has a time and most have numbers).
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends `s` as a JSON string.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Nothing to escape: the usual case.
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_json_lines() {
        let t = Trace::new(true);
        t.event(1500, "app-0", "request.end")
            .str("req", "app-0/1")
            .str("detail", "a \"quoted\"\nline")
            .num("latency_us", 42)
            .write();
        let hash = t.hash();
        let lines = t.take();
        assert_eq!(hash, hash_lines(lines.iter().map(String::as_str)));
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["t_us"], 1500);
        assert_eq!(v["host"], "app-0");
        assert_eq!(v["detail"], "a \"quoted\"\nline");
        assert_eq!(v["latency_us"], 42);
        assert_ne!(hash_lines(["a"]), hash_lines(["b"]));
        // Control characters alone (no quote, no backslash, no space) are escaped too.
        let t = Trace::new(true);
        t.event(0, "h", "e")
            .str("detail", "two\nlines\tand\u{1}")
            .write();
        let line = t.take().remove(0);
        assert!(line.contains(r#""two\nlines\tand\u0001""#), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["detail"], "two\nlines\tand\u{1}");
        let t = Trace::new(true);
        t.event(0, "h", "e").str("detail", "\n").write();
        assert!(t.take()[0].ends_with(r#""detail":"\n"}"#));
        // A lone quote, a lone backslash, and a space beside a newline (escaped text keeps its
        // spaces as they are).
        let t = Trace::new(true);
        t.event(0, "h", "e")
            .str("q", "\"")
            .str("b", "\\")
            .str("s", "a b\n")
            .write();
        let line = t.take().remove(0);
        assert!(
            line.ends_with(r#""q":"\"","b":"\\","s":"a b\n"}"#),
            "{line}"
        );
    }

    #[test]
    fn a_fork_starts_where_its_trace_was_and_then_goes_its_own_way() {
        let t = Trace::new(true);
        assert!(t.is_empty());
        t.event(1, "h", "a").write();
        t.event(2, "h", "b").write();
        assert_eq!((t.len(), t.is_empty()), (2, false));
        // The explorer forks a world with its trace: the fork has the lines, count and hash
        // written so far, and what either writes next the other does not see.
        let f = t.fork();
        assert_eq!((f.len(), f.hash()), (2, t.hash()));
        f.event(3, "h", "c").write();
        assert_eq!((t.len(), f.len()), (2, 3));
        assert_ne!(t.hash(), f.hash());
        let (tl, fl) = (t.take(), f.take());
        assert_eq!(tl.len(), 2);
        assert_eq!(fl[..2], tl[..]);
        assert_eq!(f.hash(), hash_lines(fl.iter().map(String::as_str)));
        // A trace that only hashes keeps nothing, in a fork too.
        let h = Trace::new(false);
        h.event(1, "h", "a").write();
        let hf = h.fork();
        hf.event(2, "h", "b").write();
        assert_eq!((hf.len(), hf.take().len()), (2, 0));
    }

    #[test]
    fn numbers_and_plain_strings_are_written_as_format_would() {
        for v in [0, 7, 10, 1_000_000, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        let t = Trace::new(true);
        t.event(0, "h", "e").req("req", (3 << 40) | 17).write();
        assert_eq!(
            t.take()[0],
            r#"{"t_us":0,"host":"h","event":"e","req":"p3/17"}"#
        );
        let mut s = String::new();
        push_str(&mut s, "app-0:1024");
        assert_eq!(s, "\"app-0:1024\"");
    }
}
