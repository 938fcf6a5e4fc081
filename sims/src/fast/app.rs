//! The request path on the fast engine: the load generator (`request::load`'s streams and
//! rules, step for step), the first tier's requests with their deadline, each tier's
//! handlers (the Redis work on a pool, or the call to the next tier), and the calls between
//! tiers (one connection per caller and callee pod, opened by the first call).

use super::pools::PoolRt;
use super::{Ev, LAST, TIMER, World};
use crate::adapter::{CmdError, GetError, Reply};
use crate::client::ClientBehaviour;
use crate::report::ErrorKind;
use crate::request::load::{OpenArrivals, USER_STREAM, gap_end, later, next_load_change, users_at};
use crate::request::{BACKOFF_STREAM, outcome_name, pick_command, req_id, req_label};
use crate::rng::Rng;
use crate::scenario::{Clients, Command, Retry, ScenarioError};
use pool::redis::resp::Value;
use pool_core::{ConnId, ConnectError, RejectReason};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// One pod.
#[derive(Clone, Debug, Hash)]
pub(super) struct Pod {
    pub(super) tier: usize,
    pub(super) host: String,
    /// Its index over every pod of every tier (request ids of the first tier carry it).
    global: u32,
    /// Its pools (indices into the world's pools).
    pools: Vec<usize>,
    /// Round-robin over pools for requests from another tier.
    rr: usize,
    /// Requests this pod's load sent.
    sent: u64,
    /// Its calls to the next tier: one link per callee pod, picked round-robin.
    links: Vec<usize>,
    next_link: usize,
    next_port: u16,
}

impl Pod {
    /// The next ephemeral port (1024..=65535, wrapping).
    pub(super) fn next_port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p == u16::MAX { 1024 } else { p + 1 };
        p
    }
}

/// A caller pod's connection to a callee pod.
#[derive(Clone, Debug, Hash)]
struct Link {
    callee: usize,
    state: LinkState,
    /// Calls waiting for the connection: (request id, handler).
    queued: Vec<(u64, usize)>,
    /// Calls sent, waiting for their answer.
    pending: BTreeMap<u64, usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum LinkState {
    Down,
    Connecting,
    Up,
}

/// A closed-loop user.
#[derive(Clone, Debug, Hash)]
struct User {
    u: u32,
    pod: usize,
    pool_index: usize,
    rng: Rng,
    began: u64,
    done: bool,
}

/// A first-tier pod's open-loop arrivals.
#[derive(Clone, Debug, Hash)]
struct Arrival {
    pod: usize,
    times: OpenArrivals,
    pool_rr: usize,
    generating: bool,
    outstanding: u64,
}

/// Who waits for a first-tier request.
#[derive(Clone, Copy, Debug, Hash)]
enum Owner {
    User(usize),
    Arrivals(usize),
    /// The exhaustive explorer started it (`fast::explore`).
    Explorer,
}

/// A request of the first tier, as its sender sees it.
#[derive(Clone, Debug, Hash)]
struct Top {
    id: u64,
    pod: usize,
    start: u64,
    ended: bool,
    owner: Owner,
}

/// Where a handler's outcome goes.
#[derive(Clone, Copy, Debug, Hash)]
enum Done {
    Top(usize),
    Rpc(usize),
}

#[derive(Clone, Copy, Debug, Hash)]
enum HState {
    Calling(usize),
    Waiting {
        asked: u64,
    },
    Running {
        conn: ConnId,
        tcp: usize,
        step: u8,
    },
    /// Holding its connection (`None`: closed under it by a `drop_all` client, which goes on
    /// holding without it).
    Holding {
        conn: Option<ConnId>,
    },
    /// Sleeping a retry's back-off, holding the connection it will dial again in place
    /// (redis-py #3874), if any.
    BackingOff {
        held: Option<ConnId>,
    },
    /// Dialing its held connection again in place, on connection `tcp`.
    Reconnecting {
        conn: ConnId,
        tcp: usize,
    },
    Finished,
}

/// [`Handler::pool`] of a handler in a tier that calls the next one (it has no pool).
const NO_POOL: usize = usize::MAX;

/// A request's handler in one tier.
#[derive(Clone, Debug, Hash)]
struct Handler {
    id: u64,
    pod: usize,
    deadline: u64,
    done: Done,
    /// Its pool (an index into the world's pools), or [`NO_POOL`] in a calling tier.
    pool: usize,
    command: Command,
    hold_us: u64,
    attempt: u32,
    /// The stream of its retries' back-offs (made at the first retry).
    backoff: Option<Rng>,
    state: HState,
}

/// The request path's state.
#[derive(Clone, Debug, Default)]
pub(super) struct App {
    pub(super) pods: Vec<Pod>,
    links: Vec<Link>,
    users: Vec<User>,
    arrivals: Vec<Arrival>,
    tops: Vec<Top>,
    handlers: Vec<Handler>,
    /// Each tier's client library (`Tier::client`), resolved.
    clients: Vec<Option<ClientBehaviour>>,
}

/// The explorer's key: everything but the tiers' client libraries, which are the
/// scenario's and never change during a run.
impl std::hash::Hash for App {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Destructured, so that a new field has to be placed here or left out on purpose.
        let Self {
            pods,
            links,
            users,
            arrivals,
            tops,
            handlers,
            clients: _,
        } = self;
        pods.hash(h);
        links.hash(h);
        users.hash(h);
        arrivals.hash(h);
        tops.hash(h);
        handlers.hash(h);
    }
}

impl App {
    /// Every load generator has ended (closed users past the load, open pods with no
    /// request outstanding).
    pub(super) fn generators_done(&self) -> bool {
        self.users.iter().all(|u| u.done)
            && self
                .arrivals
                .iter()
                .all(|a| !a.generating && a.outstanding == 0)
    }
}

impl World<'_> {
    /// Pods, pools, links, users and arrival processes of the scenario.
    pub(super) fn build(&mut self) -> Result<(), ScenarioError> {
        let s = self.s;
        let mut global = 0u32;
        let mut first_pod_of_tier = Vec::new();
        for (t, tier) in s.tiers.iter().enumerate() {
            let client = match &tier.client {
                Some(spec) => Some(spec.behaviour().map_err(|e| ScenarioError::Invalid {
                    field: format!("tiers[{t}].client"),
                    why: e.to_string(),
                })?),
                None => None,
            };
            self.app.clients.push(client);
            first_pod_of_tier.push(self.app.pods.len());
            for i in 0..tier.instances {
                let host = format!("{}-{i}", tier.name);
                let pod = self.app.pods.len();
                let mut pools = Vec::new();
                if tier.calls.is_none() {
                    let config = tier.pool.config().map_err(|e| ScenarioError::Invalid {
                        field: format!("tiers[{t}].pool"),
                        why: e,
                    })?;
                    for index in 0..tier.pools_per_instance {
                        let label = if tier.pools_per_instance > 1 {
                            format!("{host}#{index}")
                        } else {
                            host.clone()
                        };
                        let core = pool_core::Pool::new(config.clone()).map_err(|e| {
                            ScenarioError::Invalid {
                                field: format!("tiers[{t}].pool"),
                                why: e.to_string(),
                            }
                        })?;
                        pools.push(self.pools.len());
                        let mut rt = PoolRt::new(label, pod, core);
                        rt.discovery = super::topo::Discovery::of(
                            s,
                            self.app.clients.last().and_then(Option::as_ref),
                        );
                        self.pools.push(rt);
                    }
                }
                self.app.pods.push(Pod {
                    tier: t,
                    host,
                    global,
                    pools,
                    rr: 0,
                    sent: 0,
                    links: Vec::new(),
                    next_link: 0,
                    next_port: 49_152,
                });
                global += 1;
            }
        }
        for (t, tier) in s.tiers.iter().enumerate() {
            let Some(next) = &tier.calls else { continue };
            let callee_tier = s.tiers.iter().position(|o| &o.name == next).unwrap_or(t);
            for caller in first_pod_of_tier[t]..first_pod_of_tier[t] + tier.instances as usize {
                for k in 0..s.tiers[callee_tier].instances as usize {
                    let link = self.app.links.len();
                    self.app.links.push(Link {
                        callee: first_pod_of_tier[callee_tier] + k,
                        state: LinkState::Down,
                        queued: Vec::new(),
                        pending: BTreeMap::new(),
                    });
                    self.app.pods[caller].links.push(link);
                }
            }
        }
        let first = &s.tiers[0];
        let pods = first.instances;
        let pools = first.pools_per_instance as usize;
        match &s.load.clients {
            Clients::Closed { users, .. } => {
                let most = s.timeline.iter().fold(*users, |m, e| match *e {
                    crate::scenario::Event::Load { users: Some(u), .. } => m.max(u),
                    _ => m,
                });
                for index in 0..pods {
                    for u in (index..most).step_by(pods as usize) {
                        self.app.users.push(User {
                            u,
                            pod: index as usize,
                            pool_index: (u / pods) as usize % pools,
                            rng: Rng::stream(s.seed, USER_STREAM | u64::from(u)),
                            began: 0,
                            done: false,
                        });
                    }
                }
            }
            Clients::Open { arrivals } => {
                for index in 0..pods {
                    let global = self.app.pods[index as usize].global;
                    self.app.arrivals.push(Arrival {
                        pod: index as usize,
                        times: OpenArrivals::new(s, arrivals, global, index, 0),
                        pool_rr: 0,
                        generating: true,
                        outstanding: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// Time zero: the clients' `+switch-master` subscriptions, the pools' warm connects,
    /// every user, every pod's first arrival.
    pub(super) fn app_start(&mut self) {
        self.subscribe_followers();
        for p in 0..self.pools.len() {
            self.feed(p, pool_core::Input::Timeout);
        }
        for u in 0..self.app.users.len() {
            self.at(0, TIMER, Ev::UserWake(u));
        }
        for a in 0..self.app.arrivals.len() {
            self.next_arrival(a);
        }
    }

    /// The pools whose client follows Sentinel's `+switch-master` subscribe (go-redis).
    pub(super) fn subscribe_followers(&mut self) {
        for p in 0..self.pools.len() {
            if self.pools[p].discovery.as_ref().is_some_and(|d| d.follow) {
                self.subscribe(p);
            }
        }
    }

    // ---- the load ----

    pub(super) fn user_wake(&mut self, k: usize) {
        let s = self.s;
        let Clients::Closed { users, .. } = s.load.clients else {
            return;
        };
        let t = self.now / 1000;
        if t >= s.duration_ms {
            self.app.users[k].done = true;
            return;
        }
        if let Some(end) = gap_end(s, t) {
            let end = later(t, end, "an idle gap");
            self.at(self.ceil_ms(end * 1000), TIMER, Ev::UserWake(k));
            return;
        }
        let u = self.app.users[k].u;
        if u >= users_at(s, users, t) {
            let wake = next_load_change(s, t)
                .map_or(s.duration_ms, |w| later(t, w, "a load change"))
                .min(s.duration_ms);
            self.at(self.ceil_ms(wake * 1000), TIMER, Ev::UserWake(k));
            return;
        }
        self.app.users[k].began = self.now;
        let (pod, pool_index) = (self.app.users[k].pod, self.app.users[k].pool_index);
        self.start_top(pod, pool_index, Owner::User(k));
    }

    /// A user's request ended: think, then go again.
    fn user_next(&mut self, k: usize) {
        let s = self.s;
        let Clients::Closed { think, .. } = s.load.clients else {
            return;
        };
        let think_us =
            u64::try_from(self.app.users[k].rng.sample(&think).as_micros()).unwrap_or(u64::MAX);
        let mut wake = self.now;
        if think_us > 0 {
            // Thinking stops at the end of the load.
            let until = (self.now + think_us).min(s.duration_ms * 1000);
            if until > self.now {
                wake = self.ceil_ms(until);
            }
        }
        if wake == self.app.users[k].began {
            // A user never sends twice in the same millisecond.
            wake = self.ceil_ms(wake + 1000);
        }
        self.at(wake, TIMER, Ev::UserWake(k));
    }

    /// Computes pod `a`'s next arrival and schedules it, or ends its generator.
    fn next_arrival(&mut self, a: usize) {
        let s = self.s;
        let Clients::Open { arrivals } = &s.load.clients else {
            return;
        };
        let found = self.app.arrivals[a].times.next(s, arrivals);
        match found {
            Some(t_us) => {
                let t = self.ceil_ms(t_us).max(self.now);
                self.at(t, TIMER, Ev::Arrival(a));
            }
            None => self.app.arrivals[a].generating = false,
        }
    }

    pub(super) fn arrival(&mut self, a: usize) {
        let pools = self.s.tiers[0].pools_per_instance as usize;
        let g = &mut self.app.arrivals[a];
        let pool_index = g.pool_rr % pools;
        g.pool_rr += 1;
        g.outstanding += 1;
        let pod = g.pod;
        self.start_top(pod, pool_index, Owner::Arrivals(a));
        self.next_arrival(a);
    }

    // ---- first-tier requests ----

    /// The explorer starts a first-tier request on `pod` (its first pool).
    pub(super) fn explorer_request(&mut self, pod: usize) {
        self.start_top(pod, 0, Owner::Explorer);
    }

    /// Forgets the load generators: the explorer starts the requests.
    pub(super) fn drop_generators(&mut self) {
        self.app.users.clear();
        self.app.arrivals.clear();
    }

    /// Whether first-tier request `top` has ended.
    pub(super) fn top_ended(&self, top: usize) -> bool {
        self.app.tops.get(top).is_none_or(|t| t.ended)
    }

    /// The first tier's pods.
    pub(super) fn first_tier_pods(&self) -> Vec<usize> {
        (0..self.app.pods.len())
            .filter(|&p| self.app.pods[p].tier == 0)
            .collect()
    }

    fn start_top(&mut self, pod: usize, pool_index: usize, owner: Owner) {
        let p = &mut self.app.pods[pod];
        let id = req_id(p.global, p.sent);
        p.sent += 1;
        self.shared.requests().start(id, self.now);
        self.trace()
            .event(self.now, &self.app.pods[pod].host, "request.start")
            .req("req", id)
            .write();
        let top = self.app.tops.len();
        self.app.tops.push(Top {
            id,
            pod,
            start: self.now,
            ended: false,
            owner,
        });
        let deadline = self.now + self.s.tiers[0].deadline_ms * 1000;
        let t = self.ceil_ms(deadline);
        self.at(t, LAST, Ev::TopDeadline(top));
        self.spawn_handler(pod, id, Some(pool_index), Done::Top(top));
    }

    fn end_top(&mut self, top: usize, r: Result<(), ErrorKind>) {
        let t = &mut self.app.tops[top];
        if t.ended {
            return;
        }
        t.ended = true;
        let (id, start, owner, pod) = (t.id, t.start, t.owner, t.pod);
        self.shared.requests().end(id, self.now, r);
        self.trace()
            .event(self.now, &self.app.pods[pod].host, "request.end")
            .req("req", id)
            .str("outcome", outcome_name(r))
            .num("latency_us", self.now - start)
            .write();
        match owner {
            Owner::User(k) => self.user_next(k),
            Owner::Arrivals(a) => self.app.arrivals[a].outstanding -= 1,
            Owner::Explorer => {}
        }
    }

    pub(super) fn top_deadline(&mut self, top: usize) {
        self.end_top(top, Err(ErrorKind::DeadlineExceeded));
    }

    // ---- handlers ----

    fn spawn_handler(&mut self, pod: usize, id: u64, pool_hint: Option<usize>, done: Done) {
        self.shared.handlers.fetch_add(1, Ordering::Relaxed);
        let s = self.s;
        let tier = self.app.pods[pod].tier;
        let deadline = self.now + s.tiers[tier].deadline_ms * 1000;
        let h = self.app.handlers.len();
        let mut rng = Rng::stream(s.seed, id);
        let command = pick_command(s, &mut rng);
        let hold_us = u64::try_from(rng.sample(&s.load.hold).as_micros()).unwrap_or(u64::MAX);
        let p = &mut self.app.pods[pod];
        let pool = if p.pools.is_empty() {
            NO_POOL
        } else {
            let i = pool_hint.unwrap_or_else(|| {
                let i = p.rr;
                p.rr += 1;
                i
            });
            p.pools[i % p.pools.len()]
        };
        self.app.handlers.push(Handler {
            id,
            pod,
            deadline,
            done,
            pool,
            command,
            hold_us,
            attempt: 0,
            backoff: None,
            state: HState::Finished,
        });
        if pool == NO_POOL {
            self.call(h);
        } else {
            self.app.handlers[h].state = HState::Waiting { asked: self.now };
            self.acquire(pool, h, deadline);
        }
    }

    pub(super) fn granted(&mut self, h: usize, conn: ConnId) {
        let hd = &self.app.handlers[h];
        let HState::Waiting { asked } = hd.state else {
            // Cannot happen: a grant goes to a waiting request.
            let p = hd.pool;
            self.release(p, conn, true);
            return;
        };
        let (p, id) = (hd.pool, hd.id);
        if self.stale_conn(p, conn) {
            // A connection to an address the client no longer takes for the master's: closed,
            // and another asked for (not a failure, not a retry; the wait counted is the next
            // one's), as `request::Pod::redis_work` does.
            let label = self.pools[p].label.clone();
            self.trace()
                .event(self.now, &label, "request.drop_stale")
                .req("req", id)
                .num("conn", conn.0)
                .write();
            self.release(p, conn, false);
            let deadline = self.app.handlers[h].deadline;
            self.app.handlers[h].state = HState::Waiting { asked: self.now };
            self.acquire(p, h, deadline);
            return;
        }
        let wait_us = self.now - asked;
        self.shared.requests().record_wait(wait_us);
        let Some(tcp) = self.tcp_of(p, conn) else {
            self.release(p, conn, false);
            self.handler_finish(h, Err(ErrorKind::Other));
            return;
        };
        let addr = self.addr_of(tcp);
        self.trace()
            .event(self.now, &self.pools[p].label, "request.conn")
            .req("req", id)
            .num("conn", conn.0)
            .str("addr", &addr)
            .num("wait_us", wait_us)
            .write();
        self.app.handlers[h].state = HState::Running { conn, tcp, step: 0 };
        self.send_step(h);
    }

    pub(super) fn rejected(&mut self, h: usize, reason: RejectReason) {
        let hd = &self.app.handlers[h];
        let HState::Waiting { asked } = hd.state else {
            return;
        };
        let (p, id) = (hd.pool, hd.id);
        let wait_us = self.now - asked;
        self.shared.requests().record_wait(wait_us);
        let e = match reason {
            RejectReason::PoolTimeout => GetError::PoolTimeout,
            RejectReason::TooManyConnections => GetError::TooManyConnections,
            RejectReason::DeadlineExceeded => GetError::DeadlineExceeded,
            RejectReason::QueueFull => GetError::QueueFull,
            RejectReason::ConnectFailed => match self.pools[p].last_connect_error {
                Some(ConnectError::MaxClients) => GetError::MaxClients,
                // The manager's words for the last failure, as turmoil's pool reports them.
                _ => GetError::ConnectFailed(
                    self.pools[p].last_connect_text.clone().unwrap_or_default(),
                ),
            },
            other => GetError::Other(format!("{other:?}")),
        };
        let class = crate::request::client::class_of_get(&e);
        let again = self.retry_after(h, class, false);
        let label = self.pools[p].label.clone();
        let mut ev = self
            .trace()
            .event(
                self.now,
                &label,
                crate::request::client::failure_event(again, "request.pool_error"),
            )
            .req("req", id)
            .str("error", &e.describe())
            .num("wait_us", wait_us);
        if let Some(ms) = again {
            ev = ev.num("backoff_ms", ms);
        }
        ev.write();
        match again {
            Some(ms) => self.retry(h, ms, None),
            None => self.handler_finish(h, Err(e.kind())),
        }
    }

    /// The client's decision after an error of `class` on handler `h` (`None`: no client,
    /// or no retry left for it): the back-off in ms.
    fn retry_after(
        &mut self,
        h: usize,
        class: Option<crate::client::ErrorClass>,
        disconnected: bool,
    ) -> Option<u64> {
        let hd = &mut self.app.handlers[h];
        let b = self.app.clients[self.app.pods[hd.pod].tier].as_ref()?;
        let seed = self.s.seed;
        let rng = hd
            .backoff
            .get_or_insert_with(|| Rng::stream(seed, BACKOFF_STREAM | hd.id));
        crate::request::client::retry_after(b, class, disconnected, hd.attempt, rng)
    }

    /// Handler `h` tries again after `ms` of back-off, holding `held` to dial it again in
    /// place (redis-py #3874) or asking the pool again.
    fn retry(&mut self, h: usize, ms: u64, held: Option<ConnId>) {
        self.app.handlers[h].attempt += 1;
        self.shared.requests().retries += 1;
        self.app.handlers[h].state = HState::BackingOff { held };
        if ms == 0 {
            self.backoff_done(h);
        } else {
            self.after(ms * 1000, Ev::BackoffDone(h));
        }
    }

    /// A retry's back-off is over: back to the pool, or the held connection dialed again.
    pub(super) fn backoff_done(&mut self, h: usize) {
        let hd = &mut self.app.handlers[h];
        let HState::BackingOff { held } = hd.state else {
            return;
        };
        if let Some(conn) = held {
            self.reconnect_in_place(h, conn);
            return;
        }
        hd.state = HState::Waiting { asked: self.now };
        let (p, deadline) = (hd.pool, hd.deadline);
        self.acquire(p, h, deadline);
    }

    /// The bound on a retry's reconnect: the client's connect timeout when it has one, else
    /// the manager's 5 s (`CorePool::reconnect_in_place`).
    pub(super) fn reconnect_bound_us(&self, h: usize) -> u64 {
        let tier = self.app.pods[self.app.handlers[h].pod].tier;
        self.app.clients[tier]
            .as_ref()
            .and_then(|b| b.connect_timeout_ms)
            .map_or(super::net::CONNECT_BOUND_US, |ms| {
                (ms * 1000).min(super::net::CONNECT_BOUND_US)
            })
    }

    /// Handler `h`'s retry dials its connection `conn` again, to the address it had, without
    /// asking Sentinel (redis-py #3874; `request::Pod::reconnect`).
    fn reconnect_in_place(&mut self, h: usize, conn: ConnId) {
        let p = self.app.handlers[h].pool;
        let server = self
            .tcp_of(p, conn)
            .and_then(|c| self.tcps.get(c).and_then(Option::as_ref).map(|t| t.server))
            .unwrap_or(0);
        let pod = self.pools[p].pod;
        let port = self.app.pods[pod].next_port();
        let c = self.new_tcp(p, conn, server, None, port);
        if let Some(t) = self.tcp(c) {
            t.reconnect = Some(h);
        }
        self.app.handlers[h].state = HState::Reconnecting { conn, tcp: c };
        let seq = self.begin_op(c, None);
        let bound = self.reconnect_bound_us(h);
        self.after(bound, Ev::OpTimeout(c, seq));
    }

    /// The retry's connect `c` completed: the held connection is the new socket (the old one
    /// dropped), and the command runs again on it.
    pub(super) fn reconnected(&mut self, h: usize, c: usize) {
        let HState::Reconnecting { conn, tcp } = self.app.handlers[h].state else {
            self.close_tcp(c);
            return;
        };
        debug_assert_eq!(tcp, c);
        let (p, id) = (self.app.handlers[h].pool, self.app.handlers[h].id);
        if let Some(old) = self.pools[p].tcp_of.insert(conn.0, c) {
            self.close_tcp(old);
        }
        let old_master = self.stale_conn(p, conn);
        if old_master {
            self.shared.requests().retries_to_old_master += 1;
        }
        let addr = self
            .tcps
            .get(c)
            .and_then(Option::as_ref)
            .and_then(|t| self.servers.get(t.server))
            .map(|s| format!("{}:{}", s.host, crate::runner::REDIS_PORT))
            .unwrap_or_default();
        let label = self.pools[p].label.clone();
        self.trace()
            .event(self.now, &label, "request.reconnect")
            .req("req", id)
            .num("conn", conn.0)
            .str("addr", &addr)
            .str("old_master", if old_master { "yes" } else { "no" })
            .write();
        self.app.handlers[h].state = HState::Running {
            conn,
            tcp: c,
            step: 0,
        };
        self.send_step(h);
    }

    /// The retry's connect failed with `f`: a connection error to the retry policy.
    pub(super) fn reconnect_failed(&mut self, h: usize, f: &super::net::Failure) {
        let HState::Reconnecting { conn, .. } = self.app.handlers[h].state else {
            return;
        };
        let (p, id) = (self.app.handlers[h].pool, self.app.handlers[h].id);
        let addr = self
            .tcp_of(p, conn)
            .and_then(|c| self.tcps.get(c).and_then(Option::as_ref))
            .and_then(|t| self.servers.get(t.server))
            .map(|s| format!("{}:{}", s.host, crate::runner::REDIS_PORT))
            .unwrap_or_default();
        let e = match f {
            super::net::Failure::TimedOut(us) => CmdError::Timeout(us / 1000),
            super::net::Failure::Server(m) if m.contains("max number of clients reached") => {
                CmdError::MaxClients
            }
            other => CmdError::Other(format!(
                "connect to {addr} failed: {}",
                other.connect_text()
            )),
        };
        let again = self.retry_after(h, Some(crate::client::ErrorClass::Connection), true);
        let error = match &e {
            CmdError::Timeout(ms) => format!("connect timed out after {ms} ms"),
            other => other.describe(),
        };
        self.trace_cmd_failure(
            p,
            id,
            conn,
            &error,
            again.is_some(),
            again,
            Some("reconnect"),
        );
        match again {
            Some(ms) => self.retry(h, ms, Some(conn)),
            None => {
                self.give_back(h, p, conn, false);
                self.handler_finish(h, Err(e.kind()));
            }
        }
    }

    /// Traces a failed command of request `id` on pool `p`'s `conn` (`at`: where, when not the
    /// command itself): `request.retry` when the client tries again (with its `backoff` in
    /// ms when a client library drew one), else `request.cmd_error`; as
    /// `request::Pod::trace_cmd_failure` does.
    #[allow(clippy::too_many_arguments)]
    fn trace_cmd_failure(
        &self,
        p: usize,
        id: u64,
        conn: ConnId,
        error: &str,
        again: bool,
        backoff: Option<u64>,
        at: Option<&str>,
    ) {
        let label = &self.pools[p].label;
        let mut ev = self
            .trace()
            .event(
                self.now,
                label,
                crate::request::client::failure_event(again.then_some(0), "request.cmd_error"),
            )
            .req("req", id)
            .num("conn", conn.0)
            .str("error", error);
        if let Some(at) = at {
            ev = ev.str("at", at);
        }
        if let Some(ms) = backoff {
            ev = ev.num("backoff_ms", ms);
        }
        ev.write();
    }

    /// Pool `p`'s `drop_all` client learned of another master: every command in flight on a
    /// connection to the old one fails (the client closed it), and a holder goes on without
    /// its connection (`request.drop_stale` at `hold`), as the turmoil shell's address
    /// watches do.
    pub(super) fn drop_in_use(&mut self, p: usize) {
        for h in 0..self.app.handlers.len() {
            if self.app.handlers[h].pool != p {
                continue;
            }
            match self.app.handlers[h].state {
                HState::Running { conn, .. } if self.stale_conn(p, conn) => {
                    let e = CmdError::Closed(crate::request::MOVED_ERROR.to_owned());
                    self.command_failed(h, conn, &e);
                }
                HState::Holding { conn: Some(conn) } if self.stale_conn(p, conn) => {
                    let id = self.app.handlers[h].id;
                    let label = self.pools[p].label.clone();
                    self.trace()
                        .event(self.now, &label, "request.drop_stale")
                        .req("req", id)
                        .num("conn", conn.0)
                        .str("at", "hold")
                        .write();
                    self.release(p, conn, false);
                    self.app.handlers[h].state = HState::Holding { conn: None };
                }
                _ => {}
            }
        }
    }

    /// Handler `h`'s request id.
    pub(super) fn handler_id(&self, h: usize) -> u64 {
        self.app.handlers[h].id
    }

    /// The client's read timeout of handler `h`'s tier, in µs.
    pub(super) fn read_timeout_us(&self, h: usize) -> Option<u64> {
        let tier = self.app.pods[self.app.handlers[h].pod].tier;
        self.app.clients[tier]
            .as_ref()
            .and_then(|b| b.read_timeout_ms)
            .map(|ms| ms * 1000)
    }

    /// Sends the handler's current command.
    fn send_step(&mut self, h: usize) {
        let hd = &self.app.handlers[h];
        let HState::Running { tcp, step, .. } = hd.state else {
            return;
        };
        let tag = hd.id.to_string();
        let key = format!("req:{tag}");
        match (hd.command, step) {
            (Command::SetGet, 0) => {
                self.start_command(tcp, h, &[b"SET", key.as_bytes(), tag.as_bytes()]);
            }
            (Command::SetGet, _) => self.start_command(tcp, h, &[b"GET", key.as_bytes()]),
            (Command::Echo, _) => self.start_command(tcp, h, &[b"ECHO", tag.as_bytes()]),
            (Command::Ping, _) => self.start_command(tcp, h, &[b"PING"]),
        }
    }

    /// A command's reply (or failure) reached its handler.
    pub(super) fn command_done(&mut self, h: usize, result: Result<Value, super::net::Failure>) {
        let hd = &self.app.handlers[h];
        let HState::Running { conn, tcp, step } = hd.state else {
            return;
        };
        let (id, command, p) = (hd.id, hd.command, hd.pool);
        let tag = id.to_string();
        let v = match result {
            Ok(v) => v,
            Err(f) => {
                let e = match f {
                    super::net::Failure::Closed => CmdError::Closed("EOF".to_owned()),
                    super::net::Failure::Server(m)
                        if m.contains("max number of clients reached") =>
                    {
                        CmdError::MaxClients
                    }
                    super::net::Failure::Server(m) => CmdError::Server(m),
                    // Only a client's read timeout times a command out.
                    super::net::Failure::TimedOut(us) => CmdError::Timeout(us / 1000),
                    super::net::Failure::Protocol(m) => CmdError::Other(m),
                };
                self.command_failed(h, conn, &e);
                return;
            }
        };
        let got = match v {
            Value::Simple(s) => Reply::Simple(s),
            Value::Bulk(b) => Reply::Bulk(Some(b)),
            Value::Nil => Reply::Bulk(None),
            Value::Int(i) => Reply::Int(i),
            other => Reply::Other(format!("{other:?}")),
        };
        let matches = match (command, step, &got) {
            (Command::SetGet, 0, Reply::Simple(s)) => s == "OK",
            (Command::SetGet | Command::Echo, _, Reply::Bulk(Some(b))) => b == tag.as_bytes(),
            (Command::Ping, _, Reply::Simple(s)) => s == "PONG",
            _ => false,
        };
        if !matches {
            // The same words as the turmoil runner's check (`request::run_command`).
            let what = match (command, step) {
                (Command::SetGet, 0) => "SET".to_owned(),
                (Command::SetGet, _) => format!("GET req:{tag} (expected {tag})"),
                (Command::Echo, _) => format!("ECHO {tag}"),
                (Command::Ping, _) => "PING".to_owned(),
            };
            let shown = match &got {
                Reply::Bulk(Some(b)) => format!("\"{}\"", String::from_utf8_lossy(b)),
                other => format!("{other:?}"),
            };
            self.shared.requests().violations.push((
                "e2e.reply_matches".to_owned(),
                format!("request {} sent {what} and read {shown}", req_label(id)),
                self.now,
            ));
        }
        if command == Command::SetGet && step == 0 {
            self.app.handlers[h].state = HState::Running { conn, tcp, step: 1 };
            self.send_step(h);
            return;
        }
        let hold = self.app.handlers[h].hold_us;
        if hold > 0 {
            self.app.handlers[h].state = HState::Holding { conn: Some(conn) };
            self.after(hold, Ev::HoldDone(h));
        } else {
            self.give_back(h, p, conn, true);
            self.handler_finish(h, Ok(()));
        }
    }

    fn command_failed(&mut self, h: usize, conn: ConnId, e: &CmdError) {
        let hd = &self.app.handlers[h];
        let (p, id, attempt) = (hd.pool, hd.id, hd.attempt);
        let tier = self.app.pods[hd.pod].tier;
        let (again, closes) = match self.app.clients[tier].as_ref() {
            Some(b) => {
                let (class, closes) = crate::request::client::class_of_cmd(b, e);
                let closes = closes || e.breaks_connection();
                (self.retry_after(h, class, closes), closes)
            }
            None => {
                let again = (attempt == 0
                    && self.s.tiers[tier].retry == Retry::OnceOnConnectionError
                    && matches!(e, CmdError::Closed(_)))
                .then_some(0);
                (again, e.breaks_connection())
            }
        };
        // redis-py's retry keeps the connection and dials it again to the same address;
        // otherwise the connection goes back (`request::Pod::redis_work`).
        let in_place = again.is_some()
            && closes
            && self.app.clients[tier]
                .as_ref()
                .is_some_and(|b| b.retry_reconnects_to_old_address);
        if !in_place {
            self.give_back(h, p, conn, !closes);
        }
        let has_client = self.app.clients[tier].is_some();
        let backoff = again.filter(|_| has_client);
        self.trace_cmd_failure(p, id, conn, &e.describe(), again.is_some(), backoff, None);
        match again {
            Some(ms) => self.retry(h, ms, in_place.then_some(conn)),
            None => self.handler_finish(h, Err(e.kind())),
        }
    }

    pub(super) fn hold_done(&mut self, h: usize) {
        let HState::Holding { conn } = self.app.handlers[h].state else {
            return;
        };
        let p = self.app.handlers[h].pool;
        if let Some(conn) = conn {
            self.give_back(h, p, conn, true);
        }
        self.handler_finish(h, Ok(()));
    }

    fn handler_finish(&mut self, h: usize, r: Result<(), ErrorKind>) {
        let hd = &mut self.app.handlers[h];
        if matches!(hd.state, HState::Finished) {
            return;
        }
        hd.state = HState::Finished;
        let (id, pod, deadline) = (hd.id, hd.pod, hd.deadline);
        if self.now > deadline {
            let host = self.app.pods[pod].host.clone();
            self.trace()
                .event(self.now, &host, "request.late")
                .req("req", id)
                .str("outcome", outcome_name(r))
                .write();
        }
        self.shared.handlers.fetch_sub(1, Ordering::Relaxed);
        self.soon.push_back(super::Soon::HandlerDone(h, r));
    }

    /// A handler's outcome goes to whoever waits for it.
    pub(super) fn handler_done(&mut self, h: usize, r: Result<(), ErrorKind>) {
        let (id, done) = (self.app.handlers[h].id, self.app.handlers[h].done);
        match done {
            Done::Top(top) => self.end_top(top, r),
            Done::Rpc(link) => self.send(Ev::RpcAnswer(link, id, r)),
        }
    }

    // ---- calls between tiers ----

    fn call(&mut self, h: usize) {
        let (pod, id, deadline) = {
            let hd = &self.app.handlers[h];
            (hd.pod, hd.id, hd.deadline)
        };
        let p = &mut self.app.pods[pod];
        let k = p.next_link % p.links.len();
        p.next_link = k + 1;
        let link = p.links[k];
        self.app.handlers[h].state = HState::Calling(link);
        let t = self.ceil_ms(deadline);
        self.at(t, LAST, Ev::CallDeadline(h));
        let l = &mut self.app.links[link];
        match l.state {
            LinkState::Up => {
                l.pending.insert(id, h);
                self.send(Ev::RpcRequest(link, id));
            }
            LinkState::Down => {
                l.state = LinkState::Connecting;
                l.queued.push((id, h));
                self.send(Ev::RpcSyn(link));
            }
            LinkState::Connecting => l.queued.push((id, h)),
        }
    }

    pub(super) fn rpc_syn(&mut self, link: usize) {
        // turmoil completes a connect when the SYN reaches a host with a listener, and wakes
        // the caller when its host is stepped: a callee tier's pods come after their callers
        // in turmoil's host order (the server's host comes first), so the caller learns it one
        // step later.
        let t = self.now + self.tick_us;
        self.at(t, super::NET, Ev::RpcSynAck(link));
    }

    pub(super) fn rpc_syn_ack(&mut self, link: usize) {
        let l = &mut self.app.links[link];
        l.state = LinkState::Up;
        let queued = std::mem::take(&mut l.queued);
        for (id, h) in queued {
            self.app.links[link].pending.insert(id, h);
            self.send(Ev::RpcRequest(link, id));
        }
    }

    pub(super) fn rpc_request(&mut self, link: usize, id: u64) {
        let callee = self.app.links[link].callee;
        self.spawn_handler(callee, id, None, Done::Rpc(link));
    }

    pub(super) fn rpc_answer(&mut self, link: usize, id: u64, r: Result<(), ErrorKind>) {
        if let Some(h) = self.app.links[link].pending.remove(&id) {
            self.handler_finish(h, r);
        }
    }

    pub(super) fn call_deadline(&mut self, h: usize) {
        let HState::Calling(link) = self.app.handlers[h].state else {
            return;
        };
        let id = self.app.handlers[h].id;
        let l = &mut self.app.links[link];
        l.pending.remove(&id);
        l.queued.retain(|&(q, _)| q != id);
        self.handler_finish(h, Err(ErrorKind::DeadlineExceeded));
    }
}
