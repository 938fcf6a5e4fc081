//! The server's invariants, checked after every simulation step.
//!
//! - `server.maxclients`: connected clients <= `maxclients`. Lowering `maxclients` never
//!   disconnects anybody (Redis 7.0), so while the count is above a lowered limit it must not
//!   grow.
//! - `server.idle_timeout`: with `timeout N`, no client the timeout applies to is idle more
//!   than `N + 1 + L` whole seconds: Redis closes after *more than* N seconds (`N + 1` in whole
//!   seconds), and `L` is how long its cron may take to reach a client: `clientsCron` visits
//!   `numclients / hz` clients per call but at least 5 (all, below 5), counting `numclients`
//!   at each call, so when many clients time out together each call closes some and the next
//!   visits fewer; a full rotation takes at most `ceil(peak / 5) + 1` calls, `peak` being the
//!   most clients connected so far, and `L` is that many calls at `hz` in whole seconds, at
//!   least 1 (`N + 2` up to 45 clients at `hz 10`, as before). The poolsim fuzzer found the old
//!   fixed `N + 2` firing on a correct server: 163 clients timing out together at `hz 2`
//!   (`sims/regressions/`, docs/fuzzing.md). For 2 s after `timeout` is changed the check
//!   waits for a rotation; during a stall of the scenario's timeline (the server's event loop
//!   blocked: no cron runs, as in Redis) and for 2 s after its planned end it does not apply
//!   (the fuzzer found it firing on a stalled server given `timeout 1` by a CONFIG SET). A
//!   cron frozen otherwise (`sims/tests/checkers.rs` plants one) still fires it.
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
    /// Connections the server received since the run started, accepted or refused
    /// (`total_connections_received` plus `rejected_connections`, across restarts).
    pub(crate) connects: u64,
}

impl ServerView {
    /// Adds `o`'s figures (several servers read as one).
    pub(crate) fn add(&mut self, o: &Self) {
        self.clients += o.clients;
        self.commands += o.commands;
        self.rejected += o.rejected;
        self.idle_closes += o.idle_closes;
        self.connects += o.connects;
    }
}

/// A counter that survives resets: a value below the last one seen means the counter was
/// reset (a restart), and counting goes on from it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Accumulated {
    last: u64,
    total: u64,
}

impl Accumulated {
    /// The total counted so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Reads the counter's value `v`; returns the total counted so far.
    pub(crate) fn update(&mut self, v: u64) -> u64 {
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
#[derive(Clone, Debug)]
pub(crate) struct Checker {
    prev_clients: u64,
    /// The most clients connected at one step so far (bounds the cron's rotation).
    peak_clients: u64,
    timeout_secs: u64,
    /// Simulated ms until which the idle check waits (after a `timeout` change or a stall).
    idle_grace_until_ms: u64,
    /// The planned end of the scenario's latest stall (ms).
    stall_end_ms: u64,
    commands: Accumulated,
    rejected: Accumulated,
    idle_closes: Accumulated,
    accepted: Accumulated,
}

impl Checker {
    pub(crate) fn new(timeout_secs: u64) -> Self {
        Self {
            prev_clients: 0,
            peak_clients: 0,
            timeout_secs,
            idle_grace_until_ms: 0,
            stall_end_ms: 0,
            commands: Accumulated::default(),
            rejected: Accumulated::default(),
            idle_closes: Accumulated::default(),
            accepted: Accumulated::default(),
        }
    }

    /// The scenario stalls the server (its timeline's `stall`) at `t_ms`: a stalled
    /// server runs no cron (Redis's event loop is blocked, as in `DEBUG SLEEP`), so nobody is
    /// closed for idling while the stall lasts, and the cron needs a rotation after it: the
    /// idle check waits until 2 s after the stall's planned end. (Only the scenario's own
    /// stalls: a cron frozen by anything else is what the check is for.)
    /// A stall during a stall extends it (the fake's `Engine::stall`, as a second `DEBUG
    /// SLEEP` would).
    pub(crate) fn stalled(&mut self, t_ms: u64, duration_ms: u64) {
        self.stall_end_ms = self.stall_end_ms.max(t_ms).saturating_add(duration_ms);
        self.idle_grace_until_ms = self
            .idle_grace_until_ms
            .max(self.stall_end_ms.saturating_add(2_000));
    }

    /// Reads the server's engine and checks it at simulated `t_ms`; `refusals_seen` is what the
    /// clients saw. `Err((invariant, detail))` on the first violation.
    pub(crate) fn check_engine(
        &mut self,
        e: &Engine,
        t_ms: u64,
        refusals_seen: u64,
    ) -> Result<ServerView, (&'static str, String)> {
        let hz = u64::from(e.config().hz.max(1));
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
            connects: self.accepted.update(stats.total_connections_received) + self.rejected.total,
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
        self.peak_clients = self.peak_clients.max(clients);
        if timeout > 0 && t_ms >= self.idle_grace_until_ms {
            let lag = cron_lag_secs(self.peak_clients, hz);
            if let Some((id, idle)) = idlest.filter(|&(_, idle)| idle > timeout + 1 + lag) {
                return Err((
                    "server.idle_timeout",
                    format!(
                        "client id={id} idle {idle} s with timeout {timeout} (the cron reaches \
                         every client within {lag} s at hz {hz} with up to {} clients)",
                        self.peak_clients
                    ),
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

/// Whole seconds `clientsCron` may take to reach every client (see the module docs): at most
/// `ceil(peak / 5) + 1` calls, `hz` calls a second, at least 1 s.
fn cron_lag_secs(peak_clients: u64, hz: u64) -> u64 {
    (peak_clients.div_ceil(5) + 1).div_ceil(hz.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several servers read as one (a topology's replicas, summed by the runner's watch)
    /// sum every figure. No built-in run has a replica refuse or idle-close a client, so
    /// only this test reads those two sums.
    #[test]
    fn views_add_up_figure_by_figure() {
        let mut v = ServerView {
            clients: 1,
            commands: 20,
            rejected: 300,
            idle_closes: 4_000,
            connects: 50_000,
        };
        v.add(&ServerView {
            clients: 6,
            commands: 70,
            rejected: 800,
            idle_closes: 9_000,
            connects: 10_000,
        });
        let got = (v.clients, v.commands, v.rejected, v.idle_closes, v.connects);
        assert_eq!(got, (7, 90, 1_100, 13_000, 60_000));
    }

    #[test]
    fn the_cron_lag_is_a_second_for_few_clients_and_grows_with_them() {
        assert_eq!(cron_lag_secs(0, 10), 1);
        assert_eq!(cron_lag_secs(6, 10), 1);
        assert_eq!(cron_lag_secs(45, 10), 1);
        assert_eq!(cron_lag_secs(50, 10), 2);
        assert_eq!(cron_lag_secs(300, 10), 7);
        assert_eq!(cron_lag_secs(163, 2), 17);
    }

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
