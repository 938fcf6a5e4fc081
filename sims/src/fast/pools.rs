//! The pools: each a `pool_core::Pool`, fed and drained as `crates/pool`'s driver does it
//! (`core.rs` and `pool.rs` there): connects, checks, grants, rejects, closes, its timer.

use super::{Ev, Soon, TIMER, World};
use pool_core::{ConnId, ConnectError, Input, Instant, Output, Pool};
use std::collections::BTreeMap;

/// One pool of one pod.
#[derive(Clone, Debug)]
pub(super) struct PoolRt {
    pub(super) label: String,
    pub(super) pod: usize,
    pub(super) pool: Pool,
    next_req: u64,
    /// Request id -> the handler that asked.
    waiting: BTreeMap<u64, usize>,
    /// Connection -> its TCP connection.
    pub(super) tcp_of: BTreeMap<u64, usize>,
    timer_at: Option<u64>,
    timer_gen: u64,
    pub(super) last_connect_error: Option<ConnectError>,
    /// Its text, as the manager's error says it (a rejection's `connect failed: ...`; not in
    /// the explorer's key: it only words the trace).
    pub(super) last_connect_text: Option<String>,
    /// Fed since the tally last checked its invariants.
    pub(super) dirty: bool,
    /// What its knobs allow of failed connects (`pool.connect_rate`). Steps are the
    /// instants of events: nothing changes between them, so a counted second is 1 s (plus
    /// the millisecond the step's instant is rounded down by).
    pub(super) connect_limit: Option<crate::runner::ConnectLimit>,
    /// What its client knows of the master when it asks Sentinel for it (`topo`); `None`:
    /// it connects to the scenario's server.
    pub(super) discovery: Option<super::topo::Discovery>,
}

impl PoolRt {
    /// Hashes the driver's state beside the pool's canonical key (the explorer's key).
    pub(super) fn hash_key(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash as _;
        self.next_req.hash(h);
        self.waiting.hash(h);
        self.tcp_of.hash(h);
        self.timer_at.hash(h);
        self.timer_gen.hash(h);
        self.last_connect_error.hash(h);
        self.discovery.hash(h);
    }

    /// The generation of its armed timer (an older timer event is stale).
    pub(super) fn timer_gen(&self) -> u64 {
        self.timer_gen
    }

    pub(super) fn new(label: String, pod: usize, pool: Pool) -> Self {
        Self {
            label,
            pod,
            next_req: 0,
            waiting: BTreeMap::new(),
            tcp_of: BTreeMap::new(),
            timer_at: None,
            timer_gen: 0,
            last_connect_error: None,
            last_connect_text: None,
            discovery: None,
            dirty: true,
            connect_limit: crate::runner::ConnectLimit::of(pool.config(), 1),
            pool,
        }
    }
}

impl World<'_> {
    fn instant(&self) -> Instant {
        Instant::from_nanos(self.now * 1000)
    }

    /// Handler `h` asks pool `p` for a connection, with its deadline.
    pub(super) fn acquire(&mut self, p: usize, h: usize, deadline_us: u64) {
        let rt = &mut self.pools[p];
        let req = rt.next_req;
        rt.next_req += 1;
        rt.waiting.insert(req, h);
        self.feed(
            p,
            Input::Acquire {
                req: pool_core::ReqId(req),
                deadline: Some(Instant::from_nanos(deadline_us * 1000)),
            },
        );
    }

    /// Feeds one input and carries out every output.
    pub(super) fn feed(&mut self, p: usize, input: Input) {
        let now = self.instant();
        let rt = &mut self.pools[p];
        rt.dirty = true;
        if let Err(e) = rt.pool.handle(now, input) {
            let label = rt.label.clone();
            self.tally.violation(
                "fast.driver",
                format!("{label}: pool-core refused {input}: {e}"),
                self.now / 1000,
            );
            return;
        }
        let mut outs = Vec::new();
        while let Some(o) = self.pools[p].pool.poll_output() {
            outs.push(o);
        }
        for o in outs {
            self.apply_output(p, o);
        }
        self.arm_pool_timer(p);
    }

    fn apply_output(&mut self, p: usize, o: Output) {
        crate::pools::ours::trace_output(self.trace(), self.now, &self.pools[p].label, &o);
        match o {
            Output::Connect { conn } => {
                let c = self.open_tcp(p, conn);
                self.pools[p].tcp_of.insert(conn.0, c);
            }
            Output::Check { conn, how } => match self.pools[p].tcp_of.get(&conn.0).copied() {
                Some(c) => self.start_check(c, how),
                None => self.soon.push_back(Soon::CheckDone(p, conn, false)),
            },
            Output::Grant { req, conn } => {
                if let Some(h) = self.pools[p].waiting.remove(&req.0) {
                    self.soon.push_back(Soon::Grant(h, conn));
                }
            }
            Output::Reject { req, reason } => {
                if let Some(h) = self.pools[p].waiting.remove(&req.0) {
                    self.soon.push_back(Soon::Reject(h, reason));
                }
            }
            Output::Close { conn, .. } => {
                if let Some(c) = self.pools[p].tcp_of.remove(&conn.0) {
                    self.close_tcp(c);
                }
            }
        }
    }

    /// The TCP connection of a pool's connection.
    pub(super) fn tcp_of(&self, p: usize, conn: ConnId) -> Option<usize> {
        self.pools[p].tcp_of.get(&conn.0).copied()
    }

    fn arm_pool_timer(&mut self, p: usize) {
        let Some(at) = self.pools[p].pool.poll_timeout() else {
            self.pools[p].timer_at = None;
            return;
        };
        let t = self.ceil_ms(at.as_nanos() / 1000).max(self.now);
        let rt = &mut self.pools[p];
        if rt.timer_at == Some(t) {
            return;
        }
        rt.timer_gen += 1;
        rt.timer_at = Some(t);
        let generation = rt.timer_gen;
        self.at(t, TIMER, Ev::PoolTimer(p, generation));
    }

    pub(super) fn pool_timer(&mut self, p: usize, generation: u64) {
        if self.pools[p].timer_gen != generation {
            return;
        }
        self.pools[p].timer_at = None;
        self.feed(p, Input::Timeout);
    }

    /// Gives a connection back.
    pub(super) fn release(&mut self, p: usize, conn: ConnId, healthy: bool) {
        let outcome = if healthy {
            pool_core::ReleaseOutcome::Healthy
        } else {
            pool_core::ReleaseOutcome::Broken
        };
        self.feed(p, Input::Release { conn, outcome });
    }
}
