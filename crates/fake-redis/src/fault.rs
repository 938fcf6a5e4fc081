//! The fake-only `FAULT` admin commands: the fault controls of [`FakeRedis`](crate::FakeRedis)
//! for a client such as `redis-cli`, so an engineer who points a real application at the
//! binary can inject faults from outside it.
//!
//! They exist only with [`ServerConfig::enable_fault_commands`](crate::ServerConfig) (the
//! binary's `--enable-fault-commands`); otherwise `FAULT` is an unknown command and gets
//! Redis's own `unknown command` error, so the differential suite sees no difference. The
//! name cannot collide with a Redis command (Redis 7.0 has none called FAULT).
//!
//! The engine decides everything; the one fault it cannot carry out itself, the reply
//! latency, is a value the shell reads before writing each reply batch
//! ([`Engine::reply_latency`]).

use std::time::Duration;

use crate::ClientId;
use crate::engine::{CloseReason, Engine};
use crate::resp::{ReplyWriter, RequestParser, parse_i64_strict};

/// The longest latency FAULT LATENCY (and the binary's `--latency-ms`) accepts, in
/// milliseconds (one hour).
pub const LATENCY_MS_MAX: i64 = 3_600_000;

/// FAULT HELP, in the style of Redis's HELP replies.
pub(crate) const HELP: &[&str] = &[
    "LATENCY <milliseconds>",
    "    Delay each reply by <milliseconds> per command it answers (0: off).",
    "REFUSE on|off",
    "    Accept new connections and close them at once, writing nothing.",
    "KILLALL",
    "    Close every other client, writing nothing. Returns how many.",
    "RESTART",
    "    Lose keyspace, clients and stats, keep config; closes this client after +OK.",
    "READONLY on|off",
    "    Answer write commands with -READONLY.",
    "STATUS",
    "    Show the faults in effect.",
];

fn on_off(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        None
    }
}

fn on_off_text(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

impl Engine {
    /// FAULT LATENCY ms.
    pub(crate) fn fault_latency(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        match parse_i64_strict(p.arg(2)).filter(|ms| (0..=LATENCY_MS_MAX).contains(ms)) {
            Some(ms) => {
                self.reply_latency = Duration::from_millis(ms as u64);
                w.ok(out);
            }
            None => {
                let msg = format!(
                    "ERR FAULT LATENCY takes a whole number of milliseconds between 0 and {LATENCY_MS_MAX}"
                );
                self.err(w, out, &msg);
            }
        }
    }

    /// FAULT REFUSE on|off and FAULT READONLY on|off.
    pub(crate) fn fault_switch(
        &mut self,
        w: ReplyWriter,
        p: &RequestParser,
        out: &mut Vec<u8>,
        set: fn(&mut Self, bool),
    ) {
        match on_off(p.arg(2)) {
            Some(on) => {
                set(self, on);
                w.ok(out);
            }
            None => {
                let msg = format!(
                    "ERR FAULT {} takes on or off",
                    String::from_utf8_lossy(p.arg(1)).to_ascii_uppercase()
                );
                self.err(w, out, &msg);
            }
        }
    }

    /// FAULT KILLALL: every client but the sender, as the kill-all fault (`killed_clients`).
    pub(crate) fn fault_kill_all(&mut self, id: ClientId, w: ReplyWriter, out: &mut Vec<u8>) {
        let n = self.kill_clients_except(CloseReason::KillAll, Some(id));
        w.int(out, n as i64);
    }

    /// FAULT RESTART: the restart fault; the sender gets `+OK`, then its connection closes
    /// too, as every connection does when a server restarts.
    pub(crate) fn fault_restart(&mut self, id: ClientId, w: ReplyWriter, out: &mut Vec<u8>) {
        self.restart_except(Some(id));
        w.ok(out);
        if let Some(c) = self.clients.get_mut(&id) {
            c.close_after_reply = Some(CloseReason::Restart);
        }
    }

    /// FAULT STATUS: one `name:value` line per fault, like an INFO section.
    pub(crate) fn fault_status(&self, w: ReplyWriter, out: &mut Vec<u8>) {
        let text = format!(
            "latency_ms:{}\r\nrefuse_connections:{}\r\nreadonly:{}\r\n",
            self.reply_latency.as_millis(),
            on_off_text(self.refuse),
            on_off_text(self.readonly),
        );
        w.bulk(out, text.as_bytes());
    }
}
