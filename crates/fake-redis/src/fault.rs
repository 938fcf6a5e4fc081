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
    "REFUSE on [<milliseconds>]|off",
    "    Accept new connections and close them at once, writing nothing (for <milliseconds>).",
    "KILLALL",
    "    Close every other client, writing nothing. Returns how many.",
    "RESTART",
    "    Lose keyspace, clients and stats, keep config; closes this client after +OK.",
    "READONLY on|off",
    "    Answer write commands with -READONLY.",
    "STATUS",
    "    Show the faults in effect.",
];

const ERR_REFUSE: &str = "ERR FAULT REFUSE takes on, on <milliseconds>, or off";

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

    /// FAULT READONLY on|off.
    pub(crate) fn fault_readonly(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        match on_off(p.arg(2)) {
            Some(on) => {
                self.readonly = on;
                w.ok(out);
            }
            None => self.err(w, out, "ERR FAULT READONLY takes on or off"),
        }
    }

    /// FAULT REFUSE on [ms] | off. With a duration the fault ends by itself, so a one-shot
    /// client (which cannot connect to turn it off) can use it.
    pub(crate) fn fault_refuse(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let ms = match p.argc() {
            3 => None,
            4 => match parse_i64_strict(p.arg(3)).filter(|ms| (1..=LATENCY_MS_MAX).contains(ms)) {
                Some(ms) => Some(ms as u64),
                None => {
                    let msg = format!(
                        "ERR FAULT REFUSE on takes a duration in milliseconds between 1 and {LATENCY_MS_MAX}"
                    );
                    return self.err(w, out, &msg);
                }
            },
            _ => return self.err(w, out, ERR_REFUSE),
        };
        match (on_off(p.arg(2)), ms) {
            (Some(true), None) => {
                self.refuse = true;
                self.refuse_until = None;
            }
            (Some(true), Some(ms)) => {
                self.refuse = false;
                self.refuse_until = Some(self.now + Duration::from_millis(ms));
            }
            (Some(false), None) => {
                self.refuse = false;
                self.refuse_until = None;
            }
            _ => return self.err(w, out, ERR_REFUSE),
        }
        w.ok(out);
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
        let refuse = match self.refuse_until.filter(|t| *t > self.now) {
            Some(t) if !self.refuse => format!("on ({} ms left)", (t - self.now).as_millis()),
            _ => on_off_text(self.refuse).to_owned(),
        };
        let text = format!(
            "latency_ms:{}\r\nrefuse_connections:{refuse}\r\nreadonly:{}\r\n",
            self.reply_latency.as_millis(),
            on_off_text(self.readonly),
        );
        w.bulk(out, text.as_bytes());
    }
}
