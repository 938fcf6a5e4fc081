//! The fast engine's world as a state machine, for the exhaustive explorer
//! ([`crate::explore`]).
//!
//! The world is the fast engine's own (the pools' `pool_core::Pool`s, the
//! `fake_redis::Engine`, the connections' client and server sides, the request path, the
//! tally and its checks); only the scheduler differs. A fast run takes events in time order
//! with fixed link latencies; here every choice the real system could make is a [`Move`]:
//!
//! - **deliver** the next message of any connection, in either direction (each direction is
//!   a FIFO queue: TCP keeps order within a connection, nothing orders two connections, and a
//!   message may wait across any number of timers: links have no latency bound);
//! - **fire** one of the timers due at the earliest pending instant (time moves to it; two
//!   timers at one instant fire in either order): the server's cron, the pools' timers, the
//!   manager's bounds on connects and checks, read timeouts, holds, back-offs, deadlines;
//! - **start** a first-tier request (up to the explorer's bound);
//! - apply one of the **environment**'s actions (each at most once): a restart, killing
//!   every client, `CONFIG SET`, refusing connections, ... (scenario timeline events, at the
//!   instant the explorer picks).
//!
//! After every move the tally checks every invariant, as after every step of a run.
//!
//! A move is one event and what the world does at once because of it (the driver's and the
//! shells' immediate reactions, `run_soon`): the granularity of a task step in the async
//! shells. [`Node::fork`] copies a world so that each branch goes on alone.

use super::{Ev, World};
use crate::runner::RunOptions;
use crate::scenario::{Event, Scenario, ScenarioError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A bug planted in the world's shells, to prove the explorer catches it
/// (`sims/tests/explore.rs`). Never set in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// The server forgets to count a connection it refuses at `maxclients` (the client sees
    /// `max number of clients reached`; `rejected_connections` does not move).
    UncountedRefusal,
    /// The pool's driver reports every checkout check passed without looking: a pool that
    /// hands out a connection the server closed.
    CheckWithoutLooking,
    /// The server panics where it would refuse a connection at `maxclients`: a bug in the
    /// code under test that only some interleavings reach.
    PanicOnRefusal,
}

/// One direction of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Client to server on Redis connection `.0`.
    ToServer(usize),
    /// Server to client on Redis connection `.0`.
    ToClient(usize),
    /// Caller to callee on tier link `.0`.
    RpcForth(usize),
    /// Callee to caller on tier link `.0`.
    RpcBack(usize),
}

/// A branch of the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    /// Deliver the next message of a channel.
    Deliver(Channel),
    /// Fire the `.0`-th timer due at the earliest pending instant (in scheduling order).
    Fire(usize),
    /// Start a first-tier request on pod `.0`.
    Start(usize),
    /// Apply environment action `.0`.
    Env(usize),
}

fn channel(ev: &Ev) -> Option<Channel> {
    Some(match *ev {
        Ev::SynToServer(c) | Ev::DataToServer(c, _) | Ev::FinToServer(c) => Channel::ToServer(c),
        Ev::SynAckToClient(c) | Ev::DataToClient(c, _) | Ev::FinToClient(c) => Channel::ToClient(c),
        Ev::RpcSyn(l) | Ev::RpcRequest(l, _) => Channel::RpcForth(l),
        Ev::RpcSynAck(l) | Ev::RpcAnswer(l, _, _) => Channel::RpcBack(l),
        _ => return None,
    })
}

/// A world the explorer drives, with its budgets.
pub(crate) struct Node<'a> {
    world: World<'a>,
    /// First-tier requests started.
    pub(crate) started: u32,
    /// Environment actions used (bit `k`).
    pub(crate) env_used: u64,
}

impl<'a> World<'a> {
    fn fork(&self) -> Self {
        let shared = Arc::new(self.shared.fork());
        let mut tally = self.tally.clone();
        tally.shared = Arc::clone(&shared);
        Self {
            s: self.s,
            tick_us: self.tick_us,
            link_us: self.link_us,
            now: self.now,
            queue: self.queue.clone(),
            events: self.events,
            soon: self.soon.clone(),
            tally,
            timeline: self.timeline.clone(),
            servers: self.servers.clone(),
            sentinel: self.sentinel.clone(),
            watch: self.watch.clone(),
            tcps: self.tcps.clone(),
            link_tcps: self.link_tcps.clone(),
            pools: self.pools.clone(),
            app: self.app.clone(),
            shared,
            plant: self.plant,
        }
    }

    /// A message on one of the Sentinel's links to the instances (its PINGs, INFOs and
    /// reconfiguration, and their replies): not a branch. The explorer delivers each in the
    /// move that sent it (`Node::flush_links`), so the Sentinel sees its instances as a
    /// zero-latency link shows them; its timer, the pools' connections (to the servers and
    /// to the Sentinel) and the environment's actions stay branches.
    fn on_link(&self, ev: &Ev) -> bool {
        channel(ev).is_some_and(|ch| {
            let c = match ch {
                Channel::ToServer(c) | Channel::ToClient(c) => c,
                Channel::RpcForth(_) | Channel::RpcBack(_) => return false,
            };
            self.link_tcps.contains(&c)
        })
    }

    /// Delivers every message pending on a Sentinel link by now, in the order sent, with
    /// what each causes at once (see `on_link`).
    fn flush_links(&mut self) {
        loop {
            let now = self.now;
            let found = self
                .queue
                .at
                .range(..=(now, u8::MAX))
                .find_map(|(&key, list)| {
                    list.iter().position(|e| self.on_link(e)).map(|i| (key, i))
                });
            let Some((key, i)) = found else { return };
            let Some(ev) = take(&mut self.queue, key, i) else {
                return;
            };
            self.events += 1;
            self.handle(ev);
            self.run_soon();
        }
    }

    /// A timer event that would do nothing if fired (its request ended, its timer was
    /// re-armed, its operation finished): dropped rather than explored as a branch.
    fn stale(&self, t: u64, ev: &Ev) -> bool {
        match *ev {
            // A second timeline wake-up for an instant already applied (an environment
            // action applies the timeline at once and schedules its next event again).
            Ev::Timeline => self.timeline.next_due_ms().is_none_or(|ms| ms * 1000 > t),
            Ev::TopDeadline(top) => self.top_ended(top),
            Ev::PoolTimer(p, generation) => self.pools[p].timer_gen() != generation,
            Ev::OpTimeout(c, seq) => !self.op_pending(c, seq),
            _ => false,
        }
    }
}

impl<'a> Node<'a> {
    /// The world of `s` (already scaled down) at time zero: no load generator (the explorer
    /// starts requests), the pools' first timers handled (warm connects asked for), the
    /// servers' crons and the Sentinel's timer armed, followers subscribed.
    pub(crate) fn new(
        s: &'a Scenario,
        keep_trace: bool,
        plant: Option<Plant>,
    ) -> Result<Self, ScenarioError> {
        s.validate()?;
        super::explorable(s)?;
        let opts = RunOptions {
            keep_trace,
            ..RunOptions::default()
        };
        let mut world = World::new(s, &opts)?;
        world.plant = plant;
        // Nothing the explorer checks reads a latency histogram.
        world.shared.requests().record_histograms = false;
        // Messages are not timed: each is delivered when the explorer picks it. Timers keep
        // whole milliseconds.
        world.tick_us = 1000;
        world.link_us = 0;
        world.drop_generators();
        world.schedule_crons();
        world.schedule_timeline();
        world.sentinel_start();
        world.subscribe_followers();
        for p in 0..world.pools.len() {
            world.feed(p, pool_core::Input::Timeout);
        }
        world.run_soon();
        world.flush_links();
        world.observe(0);
        Ok(Self {
            world,
            started: 0,
            env_used: 0,
        })
    }

    /// An independent copy.
    pub(crate) fn fork(&self) -> Self {
        Self {
            world: self.world.fork(),
            started: self.started,
            env_used: self.env_used,
        }
    }

    /// Simulated time, µs.
    pub(crate) fn now_us(&self) -> u64 {
        self.world.now
    }

    /// The first tier's pods.
    pub(crate) fn first_tier_pods(&self) -> Vec<usize> {
        self.world.first_tier_pods()
    }

    /// The pending messages and the earliest timers, as moves (drops stale timers first).
    /// Starts and environment actions are the explorer's to add.
    pub(crate) fn network_and_timer_moves(&mut self) -> Vec<Move> {
        let w = &mut self.world;
        // Drop stale timers.
        let keys: Vec<(u64, u8)> = w.queue.at.keys().copied().collect();
        for key in keys {
            let Some(list) = w.queue.at.get(&key) else {
                continue;
            };
            let keep: std::collections::VecDeque<Ev> = list
                .iter()
                .filter(|e| !w.stale(key.0, e))
                .cloned()
                .collect();
            if keep.is_empty() {
                w.queue.at.remove(&key);
            } else if keep.len() != list.len() {
                w.queue.at.insert(key, keep);
            }
        }
        let mut moves = Vec::new();
        let mut seen = BTreeSet::new();
        let mut earliest = None;
        let mut due = 0;
        for (&(t, _), list) in &w.queue.at {
            for ev in list {
                if w.on_link(ev) {
                    continue;
                }
                match channel(ev) {
                    Some(ch) => {
                        if seen.insert(ch) {
                            moves.push(Move::Deliver(ch));
                        }
                    }
                    None => match earliest {
                        None => {
                            earliest = Some(t);
                            due = 1;
                        }
                        Some(e) if e == t => due += 1,
                        Some(_) => {}
                    },
                }
            }
        }
        moves.extend((0..due).map(Move::Fire));
        moves
    }

    /// When the oldest pending message was sent, µs.
    pub(crate) fn oldest_message_us(&self) -> Option<u64> {
        self.world
            .queue
            .at
            .iter()
            .find(|(_, list)| list.iter().any(|e| channel(e).is_some()))
            .map(|(&(t, _), _)| t)
    }

    /// The instant of the earliest pending timer, µs.
    pub(crate) fn next_timer_us(&self) -> Option<u64> {
        self.world
            .queue
            .at
            .iter()
            .find(|(_, list)| list.iter().any(|e| channel(e).is_none()))
            .map(|(&(t, _), _)| t)
    }

    /// Applies a move (`env` is the environment's action list, for [`Move::Env`]) and checks
    /// every invariant. Returns whether the move did what it names (a move the state does not
    /// offer is refused).
    ///
    /// A panic while the move is handled (in the pool, the server or the request path) is the
    /// state's `sim.panic` violation, as in a run on either engine, and not an unwind out of
    /// the search: a panic that only one interleaving reaches is a counterexample like any
    /// other, with its path. The world is not expanded after it. `panics` is the caller's
    /// watch, started once for a search or a replay (not once per move): it gives the panic's
    /// message and place.
    pub(crate) fn apply(&mut self, m: Move, env: &[Event], panics: &crate::panics::Watch) -> bool {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply_move(m, env))) {
            Ok(applied) => applied,
            Err(_) => {
                let p = panics.take().unwrap_or_else(|| "a panic".to_owned());
                let w = &mut self.world;
                w.tally
                    .violation("sim.panic", format!("a task panicked: {p}"), w.now / 1000);
                true
            }
        }
    }

    fn apply_move(&mut self, m: Move, env: &[Event]) -> bool {
        let w = &mut self.world;
        match m {
            Move::Deliver(ch) => {
                let found = w.queue.at.iter().find_map(|(&key, list)| {
                    list.iter()
                        .position(|e| channel(e) == Some(ch))
                        .map(|i| (key, i))
                });
                let Some((key, i)) = found else { return false };
                let Some(ev) = take(&mut w.queue, key, i) else {
                    return false;
                };
                w.events += 1;
                w.handle(ev);
            }
            Move::Fire(k) => {
                let Some(t) = self.next_timer_us() else {
                    return false;
                };
                let w = &mut self.world;
                let found = w
                    .queue
                    .at
                    .range((t, 0)..=(t, u8::MAX))
                    .flat_map(|(&key, list)| {
                        list.iter()
                            .enumerate()
                            .filter(|(_, e)| channel(e).is_none())
                            .map(move |(i, _)| (key, i))
                    })
                    .nth(k);
                let Some((key, i)) = found else { return false };
                let Some(ev) = take(&mut w.queue, key, i) else {
                    return false;
                };
                w.now = w.now.max(t);
                w.events += 1;
                w.handle(ev);
            }
            Move::Start(pod) => {
                self.started += 1;
                w.explorer_request(pod);
            }
            Move::Env(k) => {
                let Some(e) = env.get(k) else { return false };
                self.env_used |= 1 << k;
                let mut e = e.clone();
                e.set_at_ms(w.now / 1000);
                w.timeline.push_front(e);
                w.handle(Ev::Timeline);
            }
        }
        let w = &mut self.world;
        w.run_soon();
        w.flush_links();
        w.tally.step += 1;
        w.observe(w.now / 1000);
        true
    }

    /// The first invariant violated so far, if any.
    pub(crate) fn violation(&self) -> Option<&crate::report::Violation> {
        self.world.tally.violations.first()
    }

    /// Requests started and not ended.
    pub(crate) fn live_requests(&self) -> usize {
        self.world.shared.requests().live.len()
    }

    /// The figures a claim can bound at any instant: every error count, requests, successes,
    /// retries and the peaks (they only grow, so a bound broken once stays broken).
    pub(crate) fn metrics(&self) -> crate::report::Metrics {
        let mut m = crate::report::Metrics::default();
        let r = self.world.shared.requests();
        let e = &r.errors;
        m.set("requests", r.started as f64);
        m.set("succeeded", r.succeeded as f64);
        m.set("retries", r.retries as f64);
        m.set("errors.total", e.total() as f64);
        for (name, v) in [
            ("errors.eof", e.eof),
            ("errors.pool_timeout", e.pool_timeout),
            ("errors.too_many_connections", e.too_many_connections),
            ("errors.max_clients", e.max_clients),
            ("errors.deadline_exceeded", e.deadline_exceeded),
            ("errors.read_timeout", e.read_timeout),
            ("errors.readonly", e.readonly),
            ("errors.other", e.other),
        ] {
            m.set(name, v as f64);
        }
        m.set("retries_to_old_master", r.retries_to_old_master as f64);
        m.set("leaked_slots", r.leaked_slots as f64);
        for &(name, v) in &self.world.tally.extra_metrics {
            m.set(name, v);
        }
        let (pool, server) = self.world.tally.peaks();
        m.set("peak_pool_connections", pool as f64);
        m.set("peak_server_clients", server as f64);
        m
    }

    /// The canonical key of the state: everything that decides what can happen next (time,
    /// pending events, the server, both sides of every connection, the pools, the request
    /// path, the books' counts and the budgets), and nothing that only records (trace,
    /// histograms, samples). Two states with one key have the same futures.
    ///
    /// Hashed from the types (`Hash`), not written as text: the same parts as the text key
    /// it replaced (the search's states and transitions are unchanged), in about a quarter
    /// of the time (docs/performance.md).
    pub(crate) fn key(&self) -> u128 {
        use std::hash::Hash as _;
        let w = &self.world;
        let r = w.shared.requests();
        let mut h = KeyHasher::new();
        (w.now, self.started, self.env_used).hash(&mut h);
        hash_queue(w, &mut h);
        w.soon.hash(&mut h);
        for sv in &w.servers {
            sv.by_client.hash(&mut h);
            sv.connect_latency_us.hash(&mut h);
            sv.cron_at.hash(&mut h);
            sv.engine.hash_state_key(&mut h);
            (sv.hung, &sv.held).hash(&mut h);
        }
        if let Some(sn) = &w.sentinel {
            sn.hash_key(&mut h);
        }
        w.watch.hash_key(&mut h);
        w.tally.hash_key(&mut h);
        let mut words = Vec::new();
        let now = pool_core::Instant::from_nanos(w.now * 1000);
        for p in &w.pools {
            words.clear();
            p.pool.canonical_key(now, &mut words);
            words.hash(&mut h);
            p.hash_key(&mut h);
        }
        w.tcps.hash(&mut h);
        w.app.hash(&mut h);
        r.live.hash(&mut h);
        r.errors.hash(&mut h);
        (r.retries, r.succeeded).hash(&mut h);
        w.shared.refusals_seen.load(Ordering::Relaxed).hash(&mut h);
        w.timeline.next_due_ms().hash(&mut h);
        h.digest128()
    }

    /// The trace lines written since the last call (with `keep_trace`).
    pub(crate) fn take_trace(&self) -> Vec<String> {
        self.world.shared.trace.take()
    }
}

/// The key's hash: XXH3 with 128 bits, so that two different states share a key with a
/// probability far below anything a search reaches, and no seed, so that a search is the same
/// in every process. `Hash` feeds it small writes, which it buffers.
type KeyHasher = xxhash_rust::xxh3::Xxh3Default;

/// The explorer's key of whatever `feed` writes, for tests that pin what a part of the key
/// reads (the tally's, the watch's, the arrivals'): the same hasher as `Node::key`.
#[cfg(test)]
pub(crate) fn key_of(feed: impl FnOnce(&mut KeyHasher)) -> u128 {
    let mut h = KeyHasher::new();
    feed(&mut h);
    h.digest128()
}

/// The pending events, in the part of their order that decides the futures: each channel's
/// messages in their order with their instants (a delivery takes a channel's first), and the
/// timers as a set of (instant, class, event) (every timer due at the earliest instant is a
/// branch, in any order). How two channels' messages, or two timers, interleave in the
/// calendar's lists is not part of the state: two worlds that differ only there offer the
/// same moves to the same states. The Sentinel's links keep their whole order (they are
/// delivered in the calendar's order, not branched on: `flush_links`).
fn hash_queue(w: &World<'_>, h: &mut KeyHasher) {
    use std::hash::Hash as _;
    let mut links: Vec<(u64, &Ev)> = Vec::new();
    let mut messages: Vec<(Channel, u64, &Ev)> = Vec::new();
    let mut timers: Vec<(u64, u8, u64)> = Vec::new();
    for (&(t, prio), list) in &w.queue.at {
        for ev in list {
            match channel(ev) {
                Some(_) if w.on_link(ev) => links.push((t, ev)),
                Some(ch) => messages.push((ch, t, ev)),
                None => {
                    let mut one = KeyHasher::new();
                    ev.hash(&mut one);
                    timers.push((t, prio, one.digest()));
                }
            }
        }
    }
    // Stable: each channel's messages keep their order.
    messages.sort_by_key(|&(ch, _, _)| ch);
    timers.sort_unstable();
    links.hash(h);
    messages.hash(h);
    timers.hash(h);
}

fn take(q: &mut super::Queue, key: (u64, u8), i: usize) -> Option<Ev> {
    let list = q.at.get_mut(&key)?;
    let ev = list.remove(i)?;
    if list.is_empty() {
        q.at.remove(&key);
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::{Ev, NET, TIMER};
    use super::*;

    /// Two worlds whose calendars differ only in how two channels' messages, or two
    /// timers, interleave have one key; a channel's own order, a message's instant and
    /// which timers are pending are part of it.
    #[test]
    fn the_key_keeps_each_channels_order_and_the_set_of_timers() {
        let inst = crate::explore::builtin("stale-eof", "radix-v2", 1).unwrap();
        let root = Node::new(&inst.scenario, false, None).unwrap();
        let t = root.now_us() + 1000;
        let with = |evs: &[(u64, u8, Ev)]| {
            let mut n = root.fork();
            for (at, class, ev) in evs {
                n.world.queue.push(*at, *class, ev.clone());
            }
            n.key()
        };
        let a = |c: usize, b: &[u8]| Ev::DataToServer(c, b.to_vec());
        // Two connections' messages in either order: one state.
        assert_eq!(
            with(&[(t, NET, a(0, b"x")), (t, NET, a(1, b"y"))]),
            with(&[(t, NET, a(1, b"y")), (t, NET, a(0, b"x"))])
        );
        // One connection's two messages in either order: two states.
        assert_ne!(
            with(&[(t, NET, a(0, b"x")), (t, NET, a(0, b"y"))]),
            with(&[(t, NET, a(0, b"y")), (t, NET, a(0, b"x"))])
        );
        // The same message sent at another instant, or in the other direction.
        assert_ne!(
            with(&[(t, NET, a(0, b"x"))]),
            with(&[(t + 1000, NET, a(0, b"x"))])
        );
        assert_ne!(
            with(&[(t, NET, a(0, b"x"))]),
            with(&[(t, NET, Ev::DataToClient(0, b"x".to_vec()))])
        );
        // Two timers at one instant in either order: one state; another timer: another.
        let cron = Ev::ServerCron(0);
        let pool = Ev::PoolTimer(0, 7);
        assert_eq!(
            with(&[(t, TIMER, cron.clone()), (t, TIMER, pool.clone())]),
            with(&[(t, TIMER, pool.clone()), (t, TIMER, cron.clone())])
        );
        assert_ne!(
            with(&[(t, TIMER, cron.clone()), (t, TIMER, pool)]),
            with(&[(t, TIMER, cron), (t, TIMER, Ev::PoolTimer(0, 8))])
        );
    }
}
