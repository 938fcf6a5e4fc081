//! A fake Redis Sentinel 7.0: a pure engine, no I/O, no clock (Redis 7.0.15 `sentinel.c`).
//!
//! It has two faces, both driven by the caller with `now`:
//!
//! - **Clients** connect to it as to a Redis server ([`Sentinel::accept`],
//!   [`Sentinel::handle_read`], [`Sentinel::take_output`], [`Sentinel::handle_closed`]) and
//!   send `SENTINEL MASTERS | MASTER | REPLICAS | SLAVES | SENTINELS | GET-MASTER-ADDR-BY-NAME |
//!   FAILOVER | MYID`, `PING`, `INFO`, `ROLE`, `HELLO`, `CLIENT SETNAME | GETNAME | ID |
//!   SETINFO`, `SUBSCRIBE` / `PSUBSCRIBE` (its events, `+switch-master` among them, are
//!   published to them), with Redis's reply bytes. Anything else, `QUIT` included (Sentinel
//!   7.0 has no QUIT), gets Redis's unknown-command error.
//! - **Monitoring**: it asks the caller to send `PING` and `INFO` to the instances it watches
//!   ([`SentinelOutput::Ping`], [`SentinelOutput::Info`]); the caller reports what came back
//!   ([`Sentinel::handle_ping_reply`], [`Sentinel::handle_ping_lost`],
//!   [`Sentinel::handle_info`]). From those it decides, as Sentinel 7 does: subjectively down
//!   after `down-after-milliseconds` without a valid PING reply (`+sdown`), objectively down
//!   (`+odown`), the failover (`+try-failover`, leader election, replica selection, the
//!   promotion transaction as a [`SentinelOutput::Send`], `+promoted-slave`, other replicas
//!   reconfigured, `+failover-end`, `+switch-master`), and the conversion of an old master
//!   that comes back reporting `role:master` (`+convert-to-slave`).
//!
//! # Calling contract
//!
//! Every input carries `now` (time never goes backwards; an earlier `now` counts as the latest
//! seen). Call [`Sentinel::handle_timeout`] at [`Sentinel::poll_timeout`] (the Sentinel timer,
//! every [`SentinelConfig::tick_ms`]); an early call does nothing harmful. After every input,
//! drain [`Sentinel::poll_output`] until `None`.
//!
//! # Deliberate simplifications (see `docs/fake-redis.md`)
//!
//! - **One Sentinel.** The quorum is one and this Sentinel always wins its own election (a
//!   single Sentinel votes for itself): `o_down` follows `s_down` at once, and the failover
//!   starts in the same timer tick. There are no other Sentinels, no hello messages, no
//!   `is-master-down-by-addr` exchange, no TILT mode, no scripts, no config file.
//! - **Replicas are configured**, not discovered from the master's `INFO` (as if Sentinel had
//!   learned them already). `INFO` replies are reported as a role ([`Reported`]), not parsed.
//! - **No random delays**: Redis adds up to 1 s at random to the failover start time (it only
//!   moves the retry guard of `2 * failover-timeout`) and runs its timer at a randomised `hz`;
//!   the fake takes the offset from its configuration ([`SentinelTiming`], 0 by default) and
//!   uses a fixed tick. Every period and delay of `sentinel.c` is configuration there, with
//!   Redis's values as defaults.
//! - **One request in flight per kind**: Redis keeps sending `INFO` each tick while it is
//!   stale (up to 100 pending commands per link); the fake sends one `INFO` per instance and
//!   sends the next only after a reply or after one INFO period. `PING` follows Redis's rules:
//!   at once on a new link, then another once the last is older than half the ping period and
//!   no reply came for a whole period; on a closed link (reported by
//!   [`Sentinel::handle_ping_lost`]) one attempt per ping period, as Redis's reconnections.
//! - **Replica selection** keeps Redis's filters that the inputs can express (not down, a
//!   valid PING reply within 5 s, an INFO reply within 5 s while the master is down (30 s
//!   otherwise), priority not 0) and its order (priority, then offset, which the fake does not
//!   have, then run id, which it replaces by the address).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::glob_match;
use crate::resp::{ReplyWriter, RequestParser, parse_i64_strict};

/// A client's id on the Sentinel: assigned from 1 upwards, never reused.
pub type SentinelClientId = u64;

/// A host and port as Sentinel names them (not resolved).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    /// Host or IP, as configured or as given in `REPLICAOF`.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Addr {
    /// `host:port`.
    #[must_use]
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One monitored master (`sentinel monitor <name> <ip> <port> <quorum>` and its options).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MonitorConfig {
    /// The master's name (`mymaster`).
    pub name: String,
    /// Its address.
    pub addr: Addr,
    /// Its replicas with their `replica-priority` (100 is Redis's default; 0 is never
    /// promoted).
    pub replicas: Vec<(Addr, u32)>,
    /// `down-after-milliseconds` (Redis default 30000).
    pub down_after_ms: u64,
    /// `failover-timeout` (Redis default 180000).
    pub failover_timeout_ms: u64,
    /// `parallel-syncs` (Redis default 1).
    pub parallel_syncs: u32,
}

impl MonitorConfig {
    /// `name` at `addr` with `replicas` (priority 100 each) and Redis's default times.
    #[must_use]
    pub fn new(name: impl Into<String>, addr: Addr, replicas: Vec<Addr>) -> Self {
        Self {
            name: name.into(),
            addr,
            replicas: replicas.into_iter().map(|a| (a, 100)).collect(),
            down_after_ms: 30_000,
            failover_timeout_ms: 180_000,
            parallel_syncs: 1,
        }
    }
}

/// Sentinel's fixed periods and delays (constants in `sentinel.c`), configurable here; the
/// defaults are Redis's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SentinelTiming {
    /// `SENTINEL_PING_PERIOD` (1000): the longest time between PINGs to an instance (shorter
    /// when `down-after-milliseconds` is).
    pub ping_period_ms: u64,
    /// `SENTINEL_INFO_PERIOD` (10000): INFO to masters and replicas.
    pub info_period_ms: u64,
    /// INFO to a replica while its master is `o_down` or failing over, or while the replica
    /// reports its link to the master down (1000).
    pub info_period_fast_ms: u64,
    /// `SENTINEL_PUBLISH_PERIOD * 4` (8000): how long an instance Sentinel knows as a replica
    /// must have reported `role:master` before it is converted back (`+convert-to-slave`).
    pub convert_wait_ms: u64,
    /// `SENTINEL_SLAVE_RECONF_TIMEOUT` (10000): a replica sent `SLAVEOF <new master>` during
    /// a failover that has not reported it within this counts as reconfigured.
    pub replica_reconf_timeout_ms: u64,
    /// Added to a failover's start time (Redis: a random 0..`SENTINEL_MAX_DESYNC` = 1000 ms,
    /// to desynchronise Sentinels). With one Sentinel it only moves the retry guard (`2 *
    /// failover-timeout` from the start); 0 by default, no randomness here: a simulation that
    /// wants Redis's spread draws it from its own seed.
    pub failover_start_delay_ms: u64,
}

impl Default for SentinelTiming {
    fn default() -> Self {
        Self {
            ping_period_ms: 1000,
            info_period_ms: 10_000,
            info_period_fast_ms: 1000,
            convert_wait_ms: 8000,
            replica_reconf_timeout_ms: 10_000,
            failover_start_delay_ms: 0,
        }
    }
}

impl SentinelTiming {
    fn ping_period(&self) -> Duration {
        Duration::from_millis(self.ping_period_ms)
    }
    fn info_period(&self) -> Duration {
        Duration::from_millis(self.info_period_ms)
    }
}

/// The Sentinel's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SentinelConfig {
    /// Monitored masters (`SENTINEL MASTERS` lists them by name).
    pub masters: Vec<MonitorConfig>,
    /// Periods and delays.
    pub timing: SentinelTiming,
    /// Its run id (`SENTINEL MYID`), 40 characters.
    pub myid: String,
    /// Its port (INFO `tcp_port`; Redis's default 26379).
    pub port: u16,
    /// The timer period (Redis: 1000 / hz with hz about 10).
    pub tick_ms: u64,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        Self {
            masters: Vec::new(),
            timing: SentinelTiming::default(),
            myid: "0".repeat(40),
            port: 26379,
            tick_ms: 100,
        }
    }
}

/// What an instance said its role was, from its `INFO replication` (`role`, `master_host`,
/// `master_port`, `master_link_status`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reported {
    /// `role:master`.
    Master,
    /// `role:slave` replicating from `master`; `link_up` is `master_link_status:up` (the
    /// fake-redis replica never links up: report what the simulated server says, or `true`
    /// to model a replica that finished its sync).
    Replica {
        /// `master_host:master_port`.
        master: Addr,
        /// `master_link_status:up`.
        link_up: bool,
    },
}

/// Effects for the caller, drained with [`Sentinel::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SentinelOutput {
    /// Send `PING` to this instance; report a valid reply with [`Sentinel::handle_ping_reply`],
    /// no connection (refused, reset, EOF) with [`Sentinel::handle_ping_lost`], and nothing at
    /// all for an instance that hangs.
    Ping {
        /// The instance.
        to: Addr,
    },
    /// Send `INFO` to this instance; report its role with [`Sentinel::handle_info`].
    Info {
        /// The instance.
        to: Addr,
    },
    /// Send these commands to this instance, in order, on one connection (the replies are
    /// ignored, as Sentinel ignores them): the reconfiguration transaction `MULTI; SLAVEOF
    /// host port | NO ONE; CONFIG REWRITE; CLIENT KILL TYPE normal; CLIENT KILL TYPE pubsub;
    /// EXEC`.
    Send {
        /// The instance.
        to: Addr,
        /// The commands, each as its arguments.
        commands: Vec<Vec<String>>,
    },
    /// An event, published on the channel of its name to the Sentinel's subscribers (done
    /// already by the engine; this output is for observing it).
    Event {
        /// The channel, e.g. `+switch-master`.
        channel: String,
        /// The payload, e.g. `mymaster 10.0.0.1 6379 10.0.0.2 6379`.
        message: String,
    },
    /// A client has output to write (an event it subscribed to).
    Wake {
        /// The client.
        client: SentinelClientId,
    },
}

/// The failover state (`sentinelFailoverStateStr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailoverState {
    /// `wait_start`: the election.
    WaitStart,
    /// `select_slave`.
    SelectSlave,
    /// `send_slaveof_noone`.
    SendSlaveofNoone,
    /// `wait_promotion`: waiting for the chosen replica to report `role:master`.
    WaitPromotion,
    /// `reconf_slaves`: the other replicas are sent `SLAVEOF <new master>`.
    ReconfSlaves,
    /// `update_config`: done; the switch follows in the same tick.
    UpdateConfig,
}

impl FailoverState {
    fn as_str(self) -> &'static str {
        match self {
            Self::WaitStart => "wait_start",
            Self::SelectSlave => "select_slave",
            Self::SendSlaveofNoone => "send_slaveof_noone",
            Self::WaitPromotion => "wait_promotion",
            Self::ReconfSlaves => "reconf_slaves",
            Self::UpdateConfig => "update_config",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Reconf {
    None,
    Sent(Duration),
    InProgress,
    Done,
}

/// One watched instance (`sentinelRedisInstance` and its link).
#[derive(Clone, Debug, Hash)]
struct Instance {
    addr: Addr,
    priority: u32,
    /// When the oldest unanswered PING was sent (`act_ping_time`).
    act_ping: Option<Duration>,
    /// The link was just created: PING at the next tick (`sentinelReconnectInstance` sends
    /// one as soon as it connects).
    ping_asap: bool,
    /// The last PING found no connection (refused, reset, EOF): Redis's `link->disconnected`.
    /// Down is then counted from the last valid reply, and PINGs (Redis: reconnection
    /// attempts) go out once per ping period.
    disconnected: bool,
    last_ping: Option<Duration>,
    last_pong: Duration,
    last_avail: Duration,
    info_refresh: Option<Duration>,
    info_sent: Option<Duration>,
    role_reported_master: bool,
    role_reported_time: Duration,
    /// In `s_down` since (the flag).
    s_down: Option<Duration>,
    /// The last time it entered `s_down` (`s_down_since_time`, never cleared).
    s_down_since_time: Option<Duration>,
    reported_master: Option<Addr>,
    link_up: bool,
    /// Its last INFO said `role:slave` with the master link down (Redis:
    /// `master_link_down_since_time != 0`): INFO every second.
    link_down_reported: bool,
    promoted: bool,
    reconf: Reconf,
}

impl Instance {
    /// `createSentinelRedisInstance` + `createInstanceLink`: all link times start at `now`,
    /// `act_ping_time` included (a new instance that never answers goes down after
    /// `down-after-milliseconds`).
    fn new(addr: Addr, priority: u32, master: bool, now: Duration) -> Self {
        Self {
            addr,
            priority,
            act_ping: Some(now),
            ping_asap: true,
            disconnected: false,
            last_ping: None,
            last_pong: now,
            last_avail: now,
            info_refresh: None,
            info_sent: None,
            role_reported_master: master,
            role_reported_time: now,
            s_down: None,
            s_down_since_time: None,
            reported_master: None,
            link_up: false,
            link_down_reported: false,
            promoted: false,
            reconf: Reconf::None,
        }
    }

    fn no_down_for(&self, now: Duration, d: Duration) -> bool {
        self.s_down_since_time
            .is_none_or(|t| now.saturating_sub(t) > d)
    }
}

#[derive(Clone, Debug, Hash)]
struct Master {
    name: String,
    inst: Instance,
    replicas: Vec<Instance>,
    down_after: Duration,
    failover_timeout: Duration,
    parallel_syncs: u32,
    o_down: Option<Duration>,
    failover: Option<FailoverState>,
    force_failover: bool,
    failover_epoch: u64,
    config_epoch: u64,
    failover_start_time: Option<Duration>,
    failover_state_change_time: Duration,
    promoted: Option<usize>,
}

impl Master {
    /// INFO period of the master (`master`) or of replica `r`: Redis's 10 s, but 1 s for a
    /// replica while the master is o_down or failing over or while the replica reports its
    /// master link down.
    fn info_period(&self, t: &SentinelTiming, replica: Option<&Instance>) -> Duration {
        let fast = replica.is_some_and(|r| {
            self.o_down.is_some() || self.failover.is_some() || r.link_down_reported
        });
        if fast {
            Duration::from_millis(t.info_period_fast_ms)
        } else {
            t.info_period()
        }
    }

    fn ping_period(&self, t: &SentinelTiming) -> Duration {
        self.down_after.min(t.ping_period())
    }

    /// `sentinelGetCurrentMasterAddress`: the promoted replica once it reported `role:master`.
    fn current_addr(&self) -> &Addr {
        match (self.failover, self.promoted) {
            (Some(s), Some(i)) if s >= FailoverState::ReconfSlaves => &self.replicas[i].addr,
            _ => &self.inst.addr,
        }
    }

    fn event_id(&self) -> String {
        format!(
            "master {} {} {}",
            self.name, self.inst.addr.host, self.inst.addr.port
        )
    }

    fn replica_event_id(&self, i: usize) -> String {
        let r = &self.replicas[i].addr;
        format!(
            "slave {r} {} {} @ {} {} {}",
            r.host, r.port, self.name, self.inst.addr.host, self.inst.addr.port
        )
    }

    /// `sentinelMasterLooksSane`.
    fn looks_sane(&self, now: Duration, t: &SentinelTiming) -> bool {
        self.inst.role_reported_master
            && self.inst.s_down.is_none()
            && self.o_down.is_none()
            && self
                .inst
                .info_refresh
                .is_some_and(|at| now.saturating_sub(at) < t.info_period() * 2)
    }
}

#[derive(Clone, Debug, Default, Hash)]
struct Client {
    parser: RequestParser,
    out: Vec<u8>,
    resp: u8,
    name: Option<Vec<u8>>,
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    close_after_reply: bool,
}

impl Client {
    fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }
    fn writer(&self) -> ReplyWriter {
        ReplyWriter { resp: self.resp }
    }
}

/// The fake Sentinel. See the module docs for the calling contract. `Clone` copies the whole
/// state (the simulator's explorer forks worlds).
#[derive(Clone, Debug, Hash)]
pub struct Sentinel {
    config: SentinelConfig,
    masters: BTreeMap<String, Master>,
    current_epoch: u64,
    clients: BTreeMap<SentinelClientId, Client>,
    next_client: SentinelClientId,
    outputs: VecDeque<SentinelOutput>,
    now: Duration,
    next_tick: Duration,
}

/// `Err` of a client command: the error line without `-` and CRLF.
type CmdResult = Result<(), String>;

impl Sentinel {
    /// Feeds everything that decides what the Sentinel does next to `h`: its configuration,
    /// every master's and instance's state, its clients and their buffers, the outputs not
    /// yet drained, its clock and its next tick. Two Sentinels with one key behave alike:
    /// an explorer's visited set (poolsim's `sims::explore`) merges them.
    pub fn hash_state_key(&self, h: &mut impl std::hash::Hasher) {
        std::hash::Hash::hash(self, h);
    }

    /// A Sentinel monitoring `config.masters`, its clock at zero.
    #[must_use]
    pub fn new(config: SentinelConfig) -> Self {
        let now = Duration::ZERO;
        let masters = config
            .masters
            .iter()
            .map(|m| {
                let master = Master {
                    name: m.name.clone(),
                    inst: Instance::new(m.addr.clone(), 100, true, now),
                    replicas: m
                        .replicas
                        .iter()
                        .map(|(a, p)| Instance::new(a.clone(), *p, false, now))
                        .collect(),
                    down_after: Duration::from_millis(m.down_after_ms),
                    failover_timeout: Duration::from_millis(m.failover_timeout_ms),
                    parallel_syncs: m.parallel_syncs.max(1),
                    o_down: None,
                    failover: None,
                    force_failover: false,
                    failover_epoch: 0,
                    config_epoch: 0,
                    failover_start_time: None,
                    failover_state_change_time: now,
                    promoted: None,
                };
                (m.name.clone(), master)
            })
            .collect();
        Self {
            config,
            masters,
            current_epoch: 0,
            clients: BTreeMap::new(),
            next_client: 1,
            outputs: VecDeque::new(),
            now,
            next_tick: Duration::ZERO,
        }
    }

    // ---- getters ----

    /// The address clients are given for `name` now (`GET-MASTER-ADDR-BY-NAME`): the promoted
    /// replica from the moment it reported `role:master`, before `+switch-master`.
    #[must_use]
    pub fn master_addr(&self, name: &str) -> Option<Addr> {
        self.masters.get(name).map(|m| m.current_addr().clone())
    }

    /// The master's address as `SENTINEL MASTERS` reports it (changes at `+switch-master`).
    #[must_use]
    pub fn configured_master_addr(&self, name: &str) -> Option<Addr> {
        self.masters.get(name).map(|m| m.inst.addr.clone())
    }

    /// The failover state of `name`, `None` when no failover is in progress.
    #[must_use]
    pub fn failover_state(&self, name: &str) -> Option<FailoverState> {
        self.masters.get(name).and_then(|m| m.failover)
    }

    /// Is the master `name` subjectively / objectively down?
    #[must_use]
    pub fn master_down(&self, name: &str) -> (bool, bool) {
        self.masters.get(name).map_or((false, false), |m| {
            (m.inst.s_down.is_some(), m.o_down.is_some())
        })
    }

    /// The replicas of `name`, in the order `SENTINEL REPLICAS` lists them.
    #[must_use]
    pub fn replicas(&self, name: &str) -> Vec<Addr> {
        self.masters
            .get(name)
            .map(|m| m.replicas.iter().map(|r| r.addr.clone()).collect())
            .unwrap_or_default()
    }

    /// Clients connected now.
    #[must_use]
    pub fn connected_clients(&self) -> u64 {
        self.clients.len() as u64
    }

    /// The latest `now` seen.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.now
    }

    /// When to call [`handle_timeout`](Self::handle_timeout): the next timer tick.
    #[must_use]
    pub fn poll_timeout(&self) -> Duration {
        self.next_tick
    }

    /// Next effect for the caller, if any. Drain until `None` after every input.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<SentinelOutput> {
        self.outputs.pop_front()
    }

    fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
    }

    // ---- monitoring inputs ----

    /// A valid reply to a PING sent to `addr` arrived (`+PONG`, or `-LOADING` / `-MASTERDOWN`,
    /// which Sentinel also counts as available). Clears the unanswered-PING clock.
    pub fn handle_ping_reply(&mut self, now: Duration, addr: &Addr) {
        self.advance(now);
        let now = self.now;
        self.for_instance(addr, |i| {
            i.act_ping = None;
            i.disconnected = false;
            i.last_pong = now;
            i.last_avail = now;
        });
    }

    /// The PING to `addr` found no connection (refused, reset, EOF): the instance is
    /// disconnected, as Redis's link is once its socket closes. Redis sent no PING on a closed
    /// link, so this PING does not start the unanswered-PING clock (an older unanswered one
    /// still counts); down is counted from the last valid reply (`sentinelCheckSubjectivelyDown`
    /// with `link->disconnected`): a process that died is down `down-after-milliseconds` after
    /// its last reply, one that hangs (no reply, no error: report nothing) after its first
    /// unanswered PING. The next PING (Redis: reconnection attempt) comes one ping period later.
    pub fn handle_ping_lost(&mut self, now: Duration, addr: &Addr) {
        self.advance(now);
        self.for_instance(addr, |i| {
            i.disconnected = true;
            if i.act_ping.is_some() && i.act_ping == i.last_ping {
                i.act_ping = None;
            }
        });
    }

    /// The INFO sent to `addr` was answered with this role.
    pub fn handle_info(&mut self, now: Duration, addr: &Addr, role: Reported) {
        self.advance(now);
        let now = self.now;
        let names: Vec<String> = self.masters.keys().cloned().collect();
        for name in names {
            let Some(m) = self.masters.get_mut(&name) else {
                continue;
            };
            if m.inst.addr == *addr {
                m.inst.info_refresh = Some(now);
                m.inst.info_sent = None;
                let master = matches!(role, Reported::Master);
                if master != m.inst.role_reported_master {
                    m.inst.role_reported_master = master;
                    m.inst.role_reported_time = now;
                }
            }
            if let Some(i) = m.replicas.iter().position(|r| r.addr == *addr) {
                self.replica_info(&name, i, &role);
            }
        }
    }

    /// `sentinelRefreshInstanceInfo` for a replica entry.
    fn replica_info(&mut self, name: &str, i: usize, role: &Reported) {
        let now = self.now;
        let timing = self.config.timing;
        let convert_wait = Duration::from_millis(timing.convert_wait_ms);
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let r = &mut m.replicas[i];
        r.info_refresh = Some(now);
        r.info_sent = None;
        let master = matches!(role, Reported::Master);
        if master != r.role_reported_master {
            r.role_reported_master = master;
            r.role_reported_time = now;
        }
        r.link_down_reported = matches!(role, Reported::Replica { link_up: false, .. });
        if let Reported::Replica { master, link_up } = role {
            r.reported_master = Some(master.clone());
            r.link_up = *link_up;
        }
        if master {
            if m.replicas[i].promoted && m.failover == Some(FailoverState::WaitPromotion) {
                m.config_epoch = m.failover_epoch;
                m.failover = Some(FailoverState::ReconfSlaves);
                m.failover_state_change_time = now;
                let id = m.replica_event_id(i);
                let mid = m.event_id();
                self.event("+promoted-slave", id);
                self.event("+failover-state-reconf-slaves", mid);
            } else if !m.replicas[i].promoted
                && m.looks_sane(now, &timing)
                && m.replicas[i].no_down_for(now, convert_wait)
                && now.saturating_sub(m.replicas[i].role_reported_time) > convert_wait
            {
                let to = m.replicas[i].addr.clone();
                let new = m.inst.addr.clone();
                let id = m.replica_event_id(i);
                self.send_slaveof(to, Some(&new));
                self.event("+convert-to-slave", id);
            }
            return;
        }
        // SRI_RECONF_SENT -> INPROG -> DONE, during a failover.
        if let (Some(p), Reported::Replica { master, link_up }) = (m.promoted, role) {
            let promoted = m.replicas[p].addr.clone();
            let r = &mut m.replicas[i];
            if matches!(r.reconf, Reconf::Sent(_)) && *master == promoted {
                r.reconf = Reconf::InProgress;
                let id = m.replica_event_id(i);
                self.event("+slave-reconf-inprog", id);
            }
            let Some(m) = self.masters.get_mut(name) else {
                return;
            };
            let r = &mut m.replicas[i];
            if r.reconf == Reconf::InProgress && *link_up {
                r.reconf = Reconf::Done;
                let id = m.replica_event_id(i);
                self.event("+slave-reconf-done", id);
            }
        }
    }

    fn for_instance(&mut self, addr: &Addr, mut f: impl FnMut(&mut Instance)) {
        for m in self.masters.values_mut() {
            if m.inst.addr == *addr {
                f(&mut m.inst);
            }
            for r in &mut m.replicas {
                if r.addr == *addr {
                    f(r);
                }
            }
        }
    }

    // ---- the timer ----

    /// The Sentinel timer (`sentinelTimer`): periodic PING / INFO, `s_down` / `o_down`, the
    /// failover state machine, the switch. Runs at most once per tick.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.advance(now);
        let now = self.now;
        if now < self.next_tick {
            return;
        }
        let tick = Duration::from_millis(self.config.tick_ms.max(1));
        self.next_tick = (self.next_tick + tick).max(now + tick / 2);
        let names: Vec<String> = self.masters.keys().cloned().collect();
        // Redis's order (sentinelHandleDictOfRedisInstances): the master's periodic commands,
        // down checks and failover step, then its replicas' (which thus already see an
        // o_down master: INFO every second).
        for name in names {
            self.periodic(&name, true);
            self.check_down(&name);
            self.failover_step(&name);
            self.periodic(&name, false);
            self.check_down_replicas(&name);
            if self.masters.get(&name).and_then(|m| m.failover) == Some(FailoverState::UpdateConfig)
            {
                self.switch_to_promoted(&name);
            }
        }
    }

    /// `sentinelSendPeriodicCommands` for the master and its replicas.
    fn periodic(&mut self, name: &str, master: bool) {
        let now = self.now;
        let timing = self.config.timing;
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let ping_period = m.ping_period(&timing);
        let periods: Vec<Duration> = if master {
            vec![m.info_period(&timing, None)]
        } else {
            m.replicas
                .iter()
                .map(|r| m.info_period(&timing, Some(r)))
                .collect()
        };
        let mut out = Vec::new();
        let insts: Vec<&mut Instance> = if master {
            vec![&mut m.inst]
        } else {
            m.replicas.iter_mut().collect()
        };
        for (inst, info_period) in insts.into_iter().zip(periods) {
            if inst
                .info_refresh
                .is_none_or(|t| now.saturating_sub(t) > info_period)
                && inst
                    .info_sent
                    .is_none_or(|t| now.saturating_sub(t) > info_period)
            {
                inst.info_sent = Some(now);
                out.push(SentinelOutput::Info {
                    to: inst.addr.clone(),
                });
            }
            let due = if inst.disconnected {
                // sentinelReconnectInstance: one attempt per ping period.
                inst.last_ping
                    .is_none_or(|t| now.saturating_sub(t) >= ping_period)
            } else {
                now.saturating_sub(inst.last_pong) > ping_period
                    && inst
                        .last_ping
                        .is_none_or(|t| now.saturating_sub(t) > ping_period / 2)
            };
            if inst.ping_asap || due {
                inst.ping_asap = false;
                inst.last_ping = Some(now);
                // While disconnected this stands for Redis's reconnection attempt, which
                // sends no PING until it connects: the unanswered-PING clock is not started
                // (a reply clears everything anyway).
                if inst.act_ping.is_none() && !inst.disconnected {
                    inst.act_ping = Some(now);
                }
                out.push(SentinelOutput::Ping {
                    to: inst.addr.clone(),
                });
            }
        }
        self.outputs.extend(out);
    }

    /// `sentinelCheckSubjectivelyDown` for the master of `name`, then
    /// `sentinelCheckObjectivelyDown` (quorum: this Sentinel alone).
    fn check_down(&mut self, name: &str) {
        self.check_down_of(name, true);
    }

    /// `sentinelCheckSubjectivelyDown` for the replicas of `name`.
    fn check_down_replicas(&mut self, name: &str) {
        self.check_down_of(name, false);
    }

    fn check_down_of(&mut self, name: &str, master: bool) {
        let now = self.now;
        let info_period = self.config.timing.info_period();
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let down_after = m.down_after;
        let mut events = Vec::new();
        let range = if master {
            0..1
        } else {
            1..m.replicas.len() + 1
        };
        for idx in range {
            let inst = if idx == 0 {
                &mut m.inst
            } else {
                &mut m.replicas[idx - 1]
            };
            let elapsed = match inst.act_ping {
                Some(t) => now.saturating_sub(t),
                None if inst.disconnected => now.saturating_sub(inst.last_avail),
                None => Duration::ZERO,
            };
            // A master that has reported `role:slave` for longer than down-after plus two INFO
            // periods is down too (demoted behind Sentinel's back, e.g. a plain REPLICAOF).
            let demoted = idx == 0
                && !inst.role_reported_master
                && now.saturating_sub(inst.role_reported_time) > down_after + info_period * 2;
            let down = elapsed > down_after || demoted;
            if down && inst.s_down.is_none() {
                inst.s_down = Some(now);
                inst.s_down_since_time = Some(now);
                events.push(("+sdown", idx));
            } else if !down && inst.s_down.is_some() {
                inst.s_down = None;
                events.push(("-sdown", idx));
            }
        }
        let mut odown = None;
        if master && m.inst.s_down.is_some() && m.o_down.is_none() {
            m.o_down = Some(now);
            odown = Some("+odown");
        } else if master && m.inst.s_down.is_none() && m.o_down.is_some() {
            m.o_down = None;
            odown = Some("-odown");
        }
        let ids: Vec<(&str, String)> = events
            .into_iter()
            .map(|(e, idx)| {
                (
                    e,
                    if idx == 0 {
                        m.event_id()
                    } else {
                        m.replica_event_id(idx - 1)
                    },
                )
            })
            .collect();
        let mid = m.event_id();
        for (e, id) in ids {
            self.event(e, id);
        }
        match odown {
            Some("+odown") => self.event("+odown", format!("{mid} #quorum 1/1")),
            Some(e) => self.event(e, mid),
            None => {}
        }
    }

    /// `sentinelStartFailoverIfNeeded` and `sentinelFailoverStateMachine`: one state per tick,
    /// as in Redis.
    fn failover_step(&mut self, name: &str) {
        let now = self.now;
        let timing = self.config.timing;
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        if m.failover.is_none() {
            let retry_ok = m
                .failover_start_time
                .is_none_or(|t| now.saturating_sub(t) >= m.failover_timeout * 2);
            if m.o_down.is_none() || !retry_ok {
                return;
            }
            self.start_failover(name);
        }
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let mid = m.event_id();
        match m.failover {
            None | Some(FailoverState::UpdateConfig) => {}
            Some(FailoverState::WaitStart) => {
                // A lone Sentinel wins its own election at once.
                let epoch = m.failover_epoch;
                m.failover = Some(FailoverState::SelectSlave);
                m.failover_state_change_time = now;
                let myid = self.config.myid.clone();
                self.event("+vote-for-leader", format!("{myid} {epoch}"));
                self.event("+elected-leader", mid.clone());
                self.event("+failover-state-select-slave", mid);
            }
            Some(FailoverState::SelectSlave) => match select_replica(m, now, &timing) {
                None => {
                    self.event("-failover-abort-no-good-slave", mid);
                    self.abort_failover(name);
                }
                Some(i) => {
                    m.replicas[i].promoted = true;
                    m.promoted = Some(i);
                    m.failover = Some(FailoverState::SendSlaveofNoone);
                    m.failover_state_change_time = now;
                    let id = m.replica_event_id(i);
                    self.event("+selected-slave", id.clone());
                    self.event("+failover-state-send-slaveof-noone", id);
                }
            },
            Some(FailoverState::SendSlaveofNoone) => {
                let Some(i) = m.promoted else { return };
                let to = m.replicas[i].addr.clone();
                let id = m.replica_event_id(i);
                m.failover = Some(FailoverState::WaitPromotion);
                m.failover_state_change_time = now;
                self.send_slaveof(to, None);
                self.event("+failover-state-wait-promotion", id);
            }
            Some(FailoverState::WaitPromotion) => {
                if now.saturating_sub(m.failover_state_change_time) > m.failover_timeout {
                    self.event("-failover-abort-slave-timeout", mid);
                    self.abort_failover(name);
                }
            }
            Some(FailoverState::ReconfSlaves) => self.reconf_next_replicas(name),
        }
    }

    /// `sentinelStartFailover`.
    fn start_failover(&mut self, name: &str) {
        let now = self.now;
        self.current_epoch += 1;
        let epoch = self.current_epoch;
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        m.failover = Some(FailoverState::WaitStart);
        m.failover_epoch = epoch;
        m.failover_start_time =
            Some(now + Duration::from_millis(self.config.timing.failover_start_delay_ms));
        m.failover_state_change_time = now;
        let mid = m.event_id();
        self.event("+new-epoch", epoch.to_string());
        self.event("+try-failover", mid);
    }

    /// `sentinelAbortFailover`.
    fn abort_failover(&mut self, name: &str) {
        let now = self.now;
        if let Some(m) = self.masters.get_mut(name) {
            m.failover = None;
            m.force_failover = false;
            m.failover_state_change_time = now;
            if let Some(i) = m.promoted.take() {
                m.replicas[i].promoted = false;
            }
            for r in &mut m.replicas {
                r.reconf = Reconf::None;
            }
        }
    }

    /// `sentinelFailoverReconfNextSlave` + `sentinelFailoverDetectEnd`.
    fn reconf_next_replicas(&mut self, name: &str) {
        let now = self.now;
        let reconf_timeout = Duration::from_millis(self.config.timing.replica_reconf_timeout_ms);
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let Some(p) = m.promoted else { return };
        let promoted = m.replicas[p].addr.clone();
        let mut events = Vec::new();
        let mut sends = Vec::new();
        // Sent too long ago without progress: counted as reconfigured.
        for (i, r) in m.replicas.iter_mut().enumerate() {
            if let Reconf::Sent(at) = r.reconf {
                if now.saturating_sub(at) > reconf_timeout {
                    r.reconf = Reconf::Done;
                    events.push(("-slave-reconf-sent-timeout", i));
                }
            }
        }
        let in_progress = m
            .replicas
            .iter()
            .filter(|r| matches!(r.reconf, Reconf::Sent(_) | Reconf::InProgress))
            .count();
        let mut budget = (m.parallel_syncs as usize).saturating_sub(in_progress);
        for (i, r) in m.replicas.iter_mut().enumerate() {
            if budget == 0 {
                break;
            }
            if r.promoted || r.reconf != Reconf::None || r.s_down.is_some() {
                continue;
            }
            r.reconf = Reconf::Sent(now);
            sends.push(r.addr.clone());
            events.push(("+slave-reconf-sent", i));
            budget -= 1;
        }
        let not_done = m
            .replicas
            .iter()
            .filter(|r| !r.promoted && r.reconf != Reconf::Done && r.s_down.is_none())
            .count();
        let timed_out = now.saturating_sub(m.failover_state_change_time) > m.failover_timeout;
        let mut end = Vec::new();
        if not_done == 0 || timed_out {
            if timed_out && not_done > 0 {
                end.push(("+failover-end-for-timeout", m.event_id()));
                for (i, r) in m.replicas.iter_mut().enumerate() {
                    if !r.promoted && matches!(r.reconf, Reconf::None) {
                        r.reconf = Reconf::Sent(now);
                        sends.push(r.addr.clone());
                        events.push(("+slave-reconf-sent-be", i));
                    }
                }
            }
            end.push(("+failover-end", m.event_id()));
            m.failover = Some(FailoverState::UpdateConfig);
            m.failover_state_change_time = now;
        }
        let ids: Vec<(&str, String)> = events
            .into_iter()
            .map(|(e, i)| (e, m.replica_event_id(i)))
            .collect();
        for to in sends {
            self.send_slaveof(to, Some(&promoted));
        }
        for (e, id) in ids.into_iter().chain(end) {
            self.event(e, id);
        }
    }

    /// `sentinelFailoverSwitchToPromotedSlave` + `sentinelResetMasterAndChangeAddress`: the
    /// master is now the promoted replica; the other replicas and the old master are its
    /// replicas, as fresh instances (the old master goes down on time if it does not answer).
    fn switch_to_promoted(&mut self, name: &str) {
        let now = self.now;
        let Some(m) = self.masters.get_mut(name) else {
            return;
        };
        let Some(p) = m.promoted else { return };
        let old = m.inst.addr.clone();
        let new = m.replicas[p].addr.clone();
        let mut replicas: Vec<Instance> = m
            .replicas
            .iter()
            .filter(|r| r.addr != new)
            .map(|r| Instance::new(r.addr.clone(), r.priority, false, now))
            .collect();
        if old != new {
            replicas.push(Instance::new(old.clone(), 100, false, now));
        }
        m.inst = Instance::new(new.clone(), 100, true, now);
        m.replicas = replicas;
        m.failover = None;
        m.force_failover = false;
        m.promoted = None;
        m.o_down = None;
        m.failover_state_change_time = now;
        let message = format!("{name} {} {} {} {}", old.host, old.port, new.host, new.port);
        self.event("+switch-master", message);
    }

    /// `sentinelSendSlaveOf`: the transaction, as a [`SentinelOutput::Send`].
    fn send_slaveof(&mut self, to: Addr, master: Option<&Addr>) {
        let slaveof = match master {
            None => vec!["SLAVEOF".into(), "NO".into(), "ONE".into()],
            Some(a) => vec!["SLAVEOF".into(), a.host.clone(), a.port.to_string()],
        };
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
        self.outputs.push_back(SentinelOutput::Send {
            to,
            commands: vec![
                s(&["MULTI"]),
                slaveof,
                s(&["CONFIG", "REWRITE"]),
                s(&["CLIENT", "KILL", "TYPE", "normal"]),
                s(&["CLIENT", "KILL", "TYPE", "pubsub"]),
                s(&["EXEC"]),
            ],
        });
    }

    /// `sentinelEvent`: published to subscribers of `channel` (and matching patterns), and
    /// reported as [`SentinelOutput::Event`].
    fn event(&mut self, channel: &str, message: String) {
        let ch = channel.as_bytes();
        for (id, c) in &mut self.clients {
            let w = c.writer();
            let mut hit = false;
            if c.channels.contains(ch) {
                w.push(&mut c.out, 3);
                w.bulk(&mut c.out, b"message");
                w.bulk(&mut c.out, ch);
                w.bulk(&mut c.out, message.as_bytes());
                hit = true;
            }
            for p in &c.patterns {
                if glob_match(p, ch, false) {
                    w.push(&mut c.out, 4);
                    w.bulk(&mut c.out, b"pmessage");
                    w.bulk(&mut c.out, p);
                    w.bulk(&mut c.out, ch);
                    w.bulk(&mut c.out, message.as_bytes());
                    hit = true;
                }
            }
            if hit {
                self.outputs.push_back(SentinelOutput::Wake { client: *id });
            }
        }
        self.outputs.push_back(SentinelOutput::Event {
            channel: channel.to_owned(),
            message,
        });
    }

    /// `SENTINEL FAILOVER <name>` from outside (an operator, a scenario's timeline): starts
    /// a failover of a healthy master as the command does. The error is the command's reply
    /// text (`ERR No such master with that name`, `INPROG ...`, `NOGOODSLAVE ...`).
    pub fn failover(&mut self, now: Duration, name: &str) -> Result<(), String> {
        self.advance(now);
        if !self.masters.contains_key(name) {
            return Err("ERR No such master with that name".into());
        }
        self.force_failover(now, name)
    }

    fn force_failover(&mut self, now: Duration, n: &str) -> Result<(), String> {
        let m = &self.masters[n];
        if m.failover.is_some() {
            return Err("INPROG Failover already in progress".into());
        }
        if select_replica(m, now, &self.config.timing).is_none() {
            return Err("NOGOODSLAVE No suitable replica to promote".into());
        }
        self.start_failover(n);
        if let Some(m) = self.masters.get_mut(n) {
            m.force_failover = true;
        }
        Ok(())
    }

    // ---- the client face ----

    /// A client connected.
    pub fn accept(&mut self, now: Duration) -> SentinelClientId {
        self.advance(now);
        let id = self.next_client;
        self.next_client += 1;
        self.clients.insert(
            id,
            Client {
                resp: 2,
                ..Client::default()
            },
        );
        id
    }

    /// The client went away.
    pub fn handle_closed(&mut self, now: Duration, client: SentinelClientId) {
        self.advance(now);
        self.clients.remove(&client);
    }

    /// Bytes arrived from `client`: every complete command is executed.
    pub fn handle_read(&mut self, now: Duration, client: SentinelClientId, bytes: &[u8]) {
        self.advance(now);
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        c.parser.feed(bytes);
        let mut parser = std::mem::take(&mut c.parser);
        loop {
            let Some(c) = self.clients.get_mut(&client) else {
                return;
            };
            if c.close_after_reply {
                break;
            }
            match parser.next_command(false) {
                Ok(None) => break,
                Ok(Some(_)) => {
                    let args: Vec<Vec<u8>> = parser.args().map(<[u8]>::to_vec).collect();
                    self.execute(client, &args);
                }
                Err(e) => {
                    c.out.extend_from_slice(e.reply_line().as_bytes());
                    c.close_after_reply = true;
                    break;
                }
            }
        }
        if let Some(c) = self.clients.get_mut(&client) {
            c.parser = parser;
        }
    }

    /// Take `client`'s pending output; `true`: close after writing it (a protocol error).
    /// `None`: no such client.
    pub fn take_output(&mut self, client: SentinelClientId, buf: &mut Vec<u8>) -> Option<bool> {
        let c = self.clients.get_mut(&client)?;
        buf.clear();
        std::mem::swap(buf, &mut c.out);
        let close = c.close_after_reply;
        if close {
            self.clients.remove(&client);
        }
        Some(close)
    }

    /// One command from a client (Sentinel mode's command table: unknown commands get Redis's
    /// unknown-command error).
    fn execute(&mut self, id: SentinelClientId, args: &[Vec<u8>]) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let w = c.writer();
        let mut out = std::mem::take(&mut c.out);
        let subscribed = c.subscribed() && c.resp == 2;
        let result = self.run(id, w, args, subscribed, &mut out);
        if let Err(msg) = result {
            w.error(&mut out, &msg);
        }
        if let Some(c) = self.clients.get_mut(&id) {
            let extra = std::mem::replace(&mut c.out, out);
            c.out.extend_from_slice(&extra);
        }
    }

    fn run(
        &mut self,
        id: SentinelClientId,
        w: ReplyWriter,
        args: &[Vec<u8>],
        subscribed: bool,
        out: &mut Vec<u8>,
    ) -> CmdResult {
        let name = args[0].to_ascii_lowercase();
        let argc = args.len();
        // (arity, allowed while subscribed in RESP2)
        let spec: Option<(i32, bool)> = match name.as_slice() {
            b"ping" => Some((-1, true)),
            b"sentinel" => Some((-2, false)),
            b"subscribe" | b"psubscribe" => Some((-2, true)),
            b"unsubscribe" | b"punsubscribe" => Some((-1, true)),
            b"info" => Some((-1, false)),
            b"role" => Some((1, false)),
            b"hello" => Some((-1, false)),
            b"client" => Some((-2, false)),
            _ => None,
        };
        let Some((arity, pubsub_ok)) = spec else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&args[0])
            );
            for a in &args[1..] {
                let _ = write!(msg, "'{}' ", String::from_utf8_lossy(a));
            }
            return Err(msg);
        };
        let lname = String::from_utf8_lossy(&name).into_owned();
        if (arity > 0 && arity as usize != argc) || argc < arity.unsigned_abs() as usize {
            return Err(format!(
                "ERR wrong number of arguments for '{lname}' command"
            ));
        }
        if subscribed && !pubsub_ok {
            return Err(format!(
                "ERR Can't execute '{lname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ));
        }
        match name.as_slice() {
            b"ping" => {
                if argc > 2 {
                    return Err("ERR wrong number of arguments for 'ping' command".into());
                }
                if subscribed {
                    w.array(out, 2);
                    w.bulk(out, b"pong");
                    w.bulk(out, args.get(1).map_or(&b""[..], |a| a));
                } else if argc == 2 {
                    w.bulk(out, &args[1]);
                } else {
                    out.extend_from_slice(b"+PONG\r\n");
                }
            }
            b"sentinel" => return self.cmd_sentinel(w, args, out),
            b"subscribe" | b"psubscribe" => {
                let pattern = name == b"psubscribe";
                let Some(c) = self.clients.get_mut(&id) else {
                    return Ok(());
                };
                for a in &args[1..] {
                    let set = if pattern {
                        &mut c.patterns
                    } else {
                        &mut c.channels
                    };
                    set.insert(a.clone());
                    let n = c.channels.len() + c.patterns.len();
                    w.push(out, 3);
                    w.bulk(out, if pattern { b"psubscribe" } else { b"subscribe" });
                    w.bulk(out, a);
                    w.int(out, n as i64);
                }
            }
            b"unsubscribe" | b"punsubscribe" => {
                let pattern = name == b"punsubscribe";
                let Some(c) = self.clients.get_mut(&id) else {
                    return Ok(());
                };
                let kind: &[u8] = if pattern {
                    b"punsubscribe"
                } else {
                    b"unsubscribe"
                };
                let names: Vec<Vec<u8>> = if argc > 1 {
                    args[1..].to_vec()
                } else if pattern {
                    c.patterns.iter().cloned().collect()
                } else {
                    c.channels.iter().cloned().collect()
                };
                if names.is_empty() {
                    w.push(out, 3);
                    w.bulk(out, kind);
                    w.null(out);
                    w.int(out, (c.channels.len() + c.patterns.len()) as i64);
                }
                for n in names {
                    if pattern {
                        c.patterns.remove(&n);
                    } else {
                        c.channels.remove(&n);
                    }
                    w.push(out, 3);
                    w.bulk(out, kind);
                    w.bulk(out, &n);
                    w.int(out, (c.channels.len() + c.patterns.len()) as i64);
                }
            }
            b"info" => {
                let text = self.info_string(args);
                w.verbatim(out, text.as_bytes());
            }
            b"role" => {
                // sentinelRoleCommand: "sentinel" and the monitored master names.
                w.array(out, 2);
                w.bulk(out, b"sentinel");
                w.array(out, self.masters.len());
                for n in self.masters.keys() {
                    w.bulk(out, n.as_bytes());
                }
            }
            b"hello" => return self.cmd_hello(id, args, out),
            b"client" => {
                let sub = args[1].to_ascii_lowercase();
                match (sub.as_slice(), argc) {
                    (b"setname", 3) => {
                        if let Some(c) = self.clients.get_mut(&id) {
                            c.name = (!args[2].is_empty()).then(|| args[2].clone());
                        }
                        w.ok(out);
                    }
                    (b"getname", 2) => match self.clients.get(&id).and_then(|c| c.name.clone()) {
                        Some(n) => w.bulk(out, &n),
                        None => w.null(out),
                    },
                    (b"id", 2) => w.int(out, id as i64),
                    // Accepted like the fake server does (clients send it on connect).
                    (b"setinfo", 4) => w.ok(out),
                    _ => {
                        return Err(format!(
                            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                            String::from_utf8_lossy(&args[1])
                        ));
                    }
                }
            }
            _ => unreachable!("every name of the table above has an arm"),
        }
        Ok(())
    }

    fn cmd_hello(
        &mut self,
        id: SentinelClientId,
        args: &[Vec<u8>],
        out: &mut Vec<u8>,
    ) -> CmdResult {
        let mut ver = self.clients.get(&id).map_or(2, |c| i64::from(c.resp));
        if args.len() >= 2 {
            ver = parse_i64_strict(&args[1])
                .ok_or("ERR Protocol version is not an integer or out of range")?;
        }
        if !(2..=3).contains(&ver) {
            return Err("NOPROTO unsupported protocol version".into());
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.resp = ver as u8;
        }
        // In Sentinel mode HELLO has no `role` field and `mode` is `sentinel`.
        let w = ReplyWriter { resp: ver as u8 };
        w.map(out, 6);
        w.bulk(out, b"server");
        w.bulk(out, b"redis");
        w.bulk(out, b"version");
        w.bulk(out, crate::REDIS_VERSION.as_bytes());
        w.bulk(out, b"proto");
        w.int(out, ver);
        w.bulk(out, b"id");
        w.int(out, id as i64);
        w.bulk(out, b"mode");
        w.bulk(out, b"sentinel");
        w.bulk(out, b"modules");
        w.array(out, 0);
        Ok(())
    }

    fn info_string(&self, args: &[Vec<u8>]) -> String {
        let want: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let all = want.is_empty()
            || want
                .iter()
                .any(|s| matches!(s.as_str(), "all" | "everything" | "default"));
        let has = |s: &str| all || want.iter().any(|w| w == s);
        let mut text = String::new();
        if has("server") {
            let _ = write!(
                text,
                "# Server\r\nredis_version:{}\r\nredis_mode:sentinel\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
                crate::REDIS_VERSION,
                self.config.port,
                self.now.as_secs()
            );
        }
        if has("sentinel") {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let _ = write!(
                text,
                "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n",
                self.masters.len()
            );
            for (i, m) in self.masters.values().enumerate() {
                let status = if m.o_down.is_some() {
                    "odown"
                } else if m.inst.s_down.is_some() {
                    "sdown"
                } else {
                    "ok"
                };
                let _ = write!(
                    text,
                    "master{i}:name={},status={status},address={},slaves={},sentinels=1\r\n",
                    m.name,
                    m.inst.addr,
                    m.replicas.len()
                );
            }
        }
        text
    }

    fn cmd_sentinel(&mut self, w: ReplyWriter, args: &[Vec<u8>], out: &mut Vec<u8>) -> CmdResult {
        let sub = args[1].to_ascii_lowercase();
        let argc = args.len();
        // Arity of each subcommand (Redis 7.0 command table), checked before the command.
        let arity: i32 = match sub.as_slice() {
            b"masters" | b"myid" => 2,
            b"master"
            | b"replicas"
            | b"slaves"
            | b"sentinels"
            | b"get-master-addr-by-name"
            | b"failover" => 3,
            _ => {
                return Err(format!(
                    "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
                    String::from_utf8_lossy(&args[1])
                ));
            }
        };
        if arity as usize != argc {
            return Err(format!(
                "ERR wrong number of arguments for 'sentinel|{}' command",
                String::from_utf8_lossy(&sub)
            ));
        }
        let now = self.now;
        let named = |s: &Self| -> Result<String, String> {
            let n = String::from_utf8_lossy(&args[2]).into_owned();
            if s.masters.contains_key(&n) {
                Ok(n)
            } else {
                Err("ERR No such master with that name".into())
            }
        };
        match sub.as_slice() {
            b"masters" => {
                w.array(out, self.masters.len());
                for m in self.masters.values() {
                    reply_instance(w, out, m, None, now);
                }
            }
            b"master" => {
                let n = named(self)?;
                reply_instance(w, out, &self.masters[&n], None, now);
            }
            b"replicas" | b"slaves" => {
                let n = named(self)?;
                let m = &self.masters[&n];
                w.array(out, m.replicas.len());
                for i in 0..m.replicas.len() {
                    reply_instance(w, out, m, Some(i), now);
                }
            }
            b"sentinels" => {
                named(self)?;
                w.array(out, 0);
            }
            b"myid" => w.bulk(out, self.config.myid.as_bytes()),
            b"get-master-addr-by-name" => {
                let n = String::from_utf8_lossy(&args[2]).into_owned();
                match self.masters.get(&n) {
                    None => w.null_array(out),
                    Some(m) => {
                        let a = m.current_addr();
                        w.array(out, 2);
                        w.bulk(out, a.host.as_bytes());
                        w.bulk(out, a.port.to_string().as_bytes());
                    }
                }
            }
            b"failover" => {
                let n = named(self)?;
                self.force_failover(now, &n)?;
                w.ok(out);
            }
            _ => unreachable!("arity table above lists every subcommand"),
        }
        Ok(())
    }
}

/// `sentinelSelectSlave`: the best replica to promote, if any.
fn select_replica(m: &Master, now: Duration, t: &SentinelTiming) -> Option<usize> {
    let info_validity = if m.inst.s_down.is_some() {
        t.ping_period() * 5
    } else {
        t.info_period() * 3
    };
    m.replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.s_down.is_none()
                && now.saturating_sub(r.last_avail) <= t.ping_period() * 5
                && r.priority != 0
                && r.info_refresh
                    .is_some_and(|t| now.saturating_sub(t) <= info_validity)
        })
        .min_by(|(_, a), (_, b)| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.addr.to_string().cmp(&b.addr.to_string()))
        })
        .map(|(i, _)| i)
}

/// `addReplySentinelRedisInstance`: the master (`replica` None) or one of its replicas, as a
/// flat array (RESP2) or a map (RESP3) of name/value pairs, values as bulk strings.
fn reply_instance(
    w: ReplyWriter,
    out: &mut Vec<u8>,
    m: &Master,
    replica: Option<usize>,
    now: Duration,
) {
    let inst = replica.map_or(&m.inst, |i| &m.replicas[i]);
    let is_master = replica.is_none();
    let ms = |d: Duration| (d.as_millis() as u64).to_string();
    let since = |t: Duration| ms(now.saturating_sub(t));
    let mut f: Vec<(&str, String)> = Vec::new();
    let name = if is_master {
        m.name.clone()
    } else {
        inst.addr.to_string()
    };
    f.push(("name", name));
    f.push(("ip", inst.addr.host.clone()));
    f.push(("port", inst.addr.port.to_string()));
    f.push(("runid", String::new()));
    let mut flags = Vec::new();
    if inst.s_down.is_some() {
        flags.push("s_down");
    }
    if is_master && m.o_down.is_some() {
        flags.push("o_down");
    }
    flags.push(if is_master { "master" } else { "slave" });
    if inst.disconnected {
        flags.push("disconnected");
    }
    if is_master && m.failover.is_some() {
        flags.push("failover_in_progress");
    }
    if inst.promoted {
        flags.push("promoted");
    }
    match inst.reconf {
        Reconf::Sent(_) => flags.push("reconf_sent"),
        Reconf::InProgress => flags.push("reconf_inprog"),
        Reconf::Done => flags.push("reconf_done"),
        Reconf::None => {}
    }
    if is_master && m.force_failover {
        flags.push("force_failover");
    }
    f.push(("flags", flags.join(",")));
    f.push(("link-pending-commands", "0".into()));
    f.push(("link-refcount", "1".into()));
    if let (true, Some(s)) = (is_master, m.failover) {
        f.push(("failover-state", s.as_str().into()));
    }
    f.push(("last-ping-sent", inst.act_ping.map_or("0".into(), since)));
    f.push(("last-ok-ping-reply", since(inst.last_avail)));
    f.push(("last-ping-reply", since(inst.last_pong)));
    if let Some(t) = inst.s_down {
        f.push(("s-down-time", since(t)));
    }
    if let (true, Some(t)) = (is_master, m.o_down) {
        f.push(("o-down-time", since(t)));
    }
    f.push(("down-after-milliseconds", ms(m.down_after)));
    f.push(("info-refresh", inst.info_refresh.map_or("0".into(), since)));
    f.push((
        "role-reported",
        if inst.role_reported_master {
            "master"
        } else {
            "slave"
        }
        .into(),
    ));
    f.push(("role-reported-time", since(inst.role_reported_time)));
    if is_master {
        f.push(("config-epoch", m.config_epoch.to_string()));
        f.push(("num-slaves", m.replicas.len().to_string()));
        f.push(("num-other-sentinels", "0".into()));
        f.push(("quorum", "1".into()));
        f.push(("failover-timeout", ms(m.failover_timeout)));
        f.push(("parallel-syncs", m.parallel_syncs.to_string()));
    } else {
        f.push(("master-link-down-time", "0".into()));
        f.push((
            "master-link-status",
            if inst.link_up { "ok" } else { "err" }.into(),
        ));
        let (host, port) = inst
            .reported_master
            .as_ref()
            .map_or(("?".to_owned(), "0".to_owned()), |a| {
                (a.host.clone(), a.port.to_string())
            });
        f.push(("master-host", host));
        f.push(("master-port", port));
        f.push(("slave-priority", inst.priority.to_string()));
        f.push(("slave-repl-offset", "0".into()));
        f.push(("replica-announced", "1".into()));
    }
    w.map(out, f.len());
    for (k, v) in f {
        w.bulk(out, k.as_bytes());
        w.bulk(out, v.as_bytes());
    }
}

#[cfg(test)]
mod tests;
