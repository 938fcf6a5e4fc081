//! The server's invariants, checked after every simulation step.
//!
//! - `server.maxclients`: connected clients <= `maxclients`. Lowering `maxclients` never
//!   disconnects anybody (Redis 7.0), so while the count is above a lowered limit it must not
//!   grow.
//! - `server.idle_timeout`: with `timeout N`, no client the timeout applies to is idle more
//!   than `N + 2` whole seconds: Redis closes after *more than* N seconds (`N + 1` in whole
//!   seconds) and its cron visits every client within about a second (one full rotation of
//!   `clientsCron`). For 2 s after `timeout` is changed the check waits for that rotation.
//! - `server.accounting`: accepted connections = open + closed (between counter resets: a
//!   restart resets both sides).
//! - `server.rejected_counted`: every `maxclients` refusal a client saw was counted in
//!   `rejected_connections` (at the end of the run the two are equal).
//!
//! The pools' own invariants (`pool_core::invariants::check`) and the end-to-end ones are
//! checked by the runner.

use fake_redis::Engine;

/// What the checker read off the server this step.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerView {
    pub(crate) clients: u64,
    /// Commands processed since the run started (across restarts).
    pub(crate) commands: u64,
    /// `rejected_connections` since the run started (across restarts).
    pub(crate) rejected: u64,
    /// Clients closed by the idle timeout since the run started.
    pub(crate) idle_closes: u64,
}

/// A counter that survives resets: a value below the last one seen means the counter was
/// reset (a restart), and counting goes on from it.
#[derive(Clone, Copy, Debug, Default)]
struct Accumulated {
    last: u64,
    total: u64,
}

impl Accumulated {
    fn update(&mut self, v: u64) -> u64 {
        if v >= self.last {
            self.total += v - self.last;
        } else {
            self.total += v;
        }
        self.last = v;
        self.total
    }
}

/// Server invariant state carried from step to step.
#[derive(Debug)]
pub(crate) struct Checker {
    prev_clients: u64,
    timeout_secs: u64,
    /// Simulated ms until which the idle check waits (after a `timeout` change).
    idle_grace_until_ms: u64,
    commands: Accumulated,
    rejected: Accumulated,
    idle_closes: Accumulated,
}

impl Checker {
    pub(crate) fn new(timeout_secs: u64) -> Self {
        Self {
            prev_clients: 0,
            timeout_secs,
            idle_grace_until_ms: 0,
            commands: Accumulated::default(),
            rejected: Accumulated::default(),
            idle_closes: Accumulated::default(),
        }
    }

    /// Reads the server and checks it at simulated `t_ms`; `refusals_seen` is what the
    /// clients saw. `Err((invariant, detail))` on the first violation.
    /// Reads the server's engine and checks it at simulated `t_ms`; `refusals_seen` is what the
    /// clients saw. `Err((invariant, detail))` on the first violation.
    pub(crate) fn check_engine(
        &mut self,
        e: &Engine,
        t_ms: u64,
        refusals_seen: u64,
    ) -> Result<ServerView, (&'static str, String)> {
        let (clients, stats, maxclients, timeout, idlest) = (
            e.connected_clients(),
            e.stats(),
            e.config().maxclients,
            e.config().timeout_secs,
            // O(clients): only when the timeout applies.
            if e.config().timeout_secs > 0 {
                e.idlest_client()
            } else {
                None
            },
        );
        if timeout != self.timeout_secs {
            self.timeout_secs = timeout;
            self.idle_grace_until_ms = t_ms + 2_000;
        }
        let view = ServerView {
            clients,
            commands: self.commands.update(stats.total_commands_processed),
            rejected: self.rejected.update(stats.rejected_connections),
            idle_closes: self.idle_closes.update(stats.timed_out_clients),
        };
        if clients > maxclients && clients > self.prev_clients {
            return Err((
                "server.maxclients",
                format!(
                    "{clients} clients connected with maxclients {maxclients} (was {})",
                    self.prev_clients
                ),
            ));
        }
        self.prev_clients = clients;
        if timeout > 0 && t_ms >= self.idle_grace_until_ms {
            if let Some((id, idle)) = idlest.filter(|&(_, idle)| idle > timeout + 2) {
                return Err((
                    "server.idle_timeout",
                    format!("client id={id} idle {idle} s with timeout {timeout}"),
                ));
            }
        }
        if stats.total_connections_received != clients + stats.closed_connections {
            return Err((
                "server.accounting",
                format!(
                    "accepted {} != open {clients} + closed {}",
                    stats.total_connections_received, stats.closed_connections
                ),
            ));
        }
        if refusals_seen > view.rejected {
            return Err((
                "server.rejected_counted",
                format!(
                    "clients saw {refusals_seen} maxclients refusals, the server counted {}",
                    view.rejected
                ),
            ));
        }
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulated_counters_survive_a_reset() {
        let mut a = Accumulated::default();
        assert_eq!(a.update(5), 5);
        assert_eq!(a.update(9), 9);
        assert_eq!(a.update(2), 11, "reset to 0, then 2 more");
        assert_eq!(a.update(3), 12);
    }

    #[test]
    fn an_unchanged_counter_adds_nothing() {
        let mut a = Accumulated::default();
        assert_eq!(a.update(0), 0);
        assert_eq!(a.update(5), 5);
        assert_eq!(a.update(5), 5, "the same value again is no reset");
        assert_eq!(a.update(0), 5, "a reset to 0");
        assert_eq!(a.update(0), 5);
    }
}
