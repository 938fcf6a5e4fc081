//! proptest strategies for scenarios: arbitrary ones ([`scenario`]) and the environment around
//! a given one ([`environment`]), for `poolsim fuzz` and for your own proptest.
//!
//! Every scenario a strategy here generates passes [`Scenario::validate`] (the strategies build
//! valid values, and a last `prop_filter` makes sure of it).
//!
//! Shrinking is designed in, not left to chance: a failing case should come back small and
//! readable. Durations are drawn as `lo + k × grain + fine` ([`round_ms`]): proptest shrinks
//! `k` toward 0 and `fine` toward 0, so a duration shrinks toward the range's round lower
//! bound and, on its way, to round multiples of the grain. Values near a threshold (an idle
//! gap near the server's `timeout`, [`near_ms`]) shrink toward the threshold itself. Lists
//! (tiers, timeline events, faults) shrink toward fewer elements, counts (users, tiers,
//! instances) toward 1, rates toward their lower bound, optional knobs toward "not set" (the
//! profile's value), and seeds toward 0.
//!
//! # Using the strategies in your own proptest
//!
//! ```no_run
//! use proptest::prelude::*;
//! use sims::strategy::{EnvBounds, environment};
//!
//! // The deployment: take a built-in run, or read your own file with Scenario::from_toml.
//! let incident = sims::incidents::by_name("stale-eof").unwrap();
//! let mine = incident.scenarios(1).into_iter().find(|s| s.name == "client-idle-timeout").unwrap();
//! // What the deployment does not control, and how far it may vary.
//! let bounds = EnvBounds::around(&mine);
//! proptest!(ProptestConfig::with_cases(8), |(case in environment(&mine, &bounds))| {
//!     let run = sims::run(&case).unwrap();
//!     prop_assert!(run.report.invariant_violations.is_empty(), "{:?}", run.report.invariant_violations);
//!     prop_assert_eq!(run.report.errors.eof, 0, "{}", case.to_toml());
//! });
//! ```
//!
//! `sims/tests/strategy.rs` is the same example as a test that runs; `docs/fuzzing.md` says
//! which bounds each built-in fix claims to hold in ([`crate::claims`]).

use crate::client::{ClientOverrides, ClientSpec, RetryOverrides};
use crate::knobs::{
    CheckHowSpec, CheckWhenSpec, Exhausted, FairnessSpec, Overrides, ReuseSpec, ScopeSpec, Setting,
};
use crate::scenario::{
    Arrivals, Clients, Command, Dist, Event, Expectation, Load, MixEntry, PoolSpec, Retry,
    Scenario, Server, Tier,
};
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Just, Strategy};
use serde::{Deserialize, Serialize};

/// A duration in `[lo, hi]` ms that shrinks toward `lo`, through round multiples of `grain`
/// above it: drawn as `lo + k × grain + fine` with `fine < grain`, `k` and `fine` each
/// shrinking toward 0.
///
/// # Panics
/// When `lo > hi` or `grain == 0` (a bug of the caller).
pub fn round_ms(lo: u64, hi: u64, grain: u64) -> BoxedStrategy<u64> {
    assert!(lo <= hi && grain > 0, "round_ms({lo}, {hi}, {grain})");
    let steps = (hi - lo) / grain;
    (0..=steps, 0..grain)
        .prop_map(move |(k, fine)| (lo + k * grain + fine).min(hi))
        .boxed()
}

/// A value near `center`: `center ± offset` clamped to `[lo, hi]`, the offset at most
/// `spread`, small offsets drawn more often (a third of the draws within `spread / 64`), and
/// shrinking toward the offset 0: the threshold itself.
pub fn near_ms(center: u64, spread: u64, lo: u64, hi: u64) -> BoxedStrategy<u64> {
    let spread = spread.max(1);
    let magnitude = prop_oneof![
        0..=(spread / 64).max(1),
        0..=(spread / 8).max(1),
        0..=spread
    ];
    (magnitude, any::<bool>())
        .prop_map(move |(m, below)| {
            let v = if below {
                center.saturating_sub(m)
            } else {
                center.saturating_add(m)
            };
            v.clamp(lo, hi)
        })
        .boxed()
}

/// An inclusive range of whole numbers (`min..=max`), as claims write their bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Smallest value (where shrinking goes).
    pub min: u64,
    /// Largest value.
    pub max: u64,
}

impl Span {
    /// `min..=max`.
    ///
    /// # Panics
    /// When `min > max`.
    #[must_use]
    pub const fn new(min: u64, max: u64) -> Self {
        assert!(min <= max, "Span: min above max");
        Self { min, max }
    }

    /// Exactly `v`.
    #[must_use]
    pub const fn exactly(v: u64) -> Self {
        Self { min: v, max: v }
    }

    /// Whether `v` is inside.
    #[must_use]
    pub const fn contains(&self, v: u64) -> bool {
        self.min <= v && v <= self.max
    }

    fn round(self, grain: u64) -> BoxedStrategy<u64> {
        round_ms(self.min, self.max, grain)
    }
}

/// An inclusive range of rates (`min..=max`, per second).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Lowest rate (where shrinking goes).
    pub min: f64,
    /// Highest rate.
    pub max: f64,
}

impl Rate {
    /// A rate drawn in whole requests per second, shrinking toward `min`.
    fn strategy(self) -> BoxedStrategy<f64> {
        let lo = self.min.max(0.0).round() as u64;
        let hi = (self.max.round() as u64).max(lo);
        round_ms(lo, hi, 50).prop_map(|r| r as f64).boxed()
    }
}

/// A fault the environment may inject (server side: a deployment does not control it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`Event::Restart`], refusing connections for up to [`FaultBounds::restart_down_ms`].
    Restart,
    /// [`Event::KillAllClients`].
    KillAllClients,
    /// [`Event::RefuseConnections`] on, then off after up to [`FaultBounds::refuse_ms`].
    RefuseConnections,
    /// A [`Event::Latency`] spike: commands take up to [`FaultBounds::spike_latency_ms`] for
    /// up to [`FaultBounds::spike_ms`].
    LatencySpike,
    /// A [`Event::Stall`]: the server hangs, nothing closed, for up to
    /// [`FaultBounds::stall_ms`].
    Stall,
    /// `CONFIG SET timeout N` ([`Event::ConfigSet`]) mid-run, `N` within
    /// [`FaultBounds::config_timeout_secs`]: the server's idle timeout changes for every
    /// client from then on (a connection already idle longer is closed at the next cron).
    ConfigSetTimeout,
    /// `CONFIG SET maxclients N` ([`Event::ConfigSet`]) mid-run, `N` within
    /// [`FaultBounds::config_maxclients`]: later connects beyond `N` are refused with
    /// `max number of clients reached` (the clients already connected stay, as in Redis).
    ConfigSetMaxclients,
}

/// Where faults may fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultWindow {
    /// Anywhere in the load (`0..duration_ms`).
    Anywhere,
    /// Inside the scenario's first idle gap, once the service is idle: from the first
    /// tier's deadline after the gap's start (every request sent before the gap has ended by
    /// then) to the gap's end (a fault while nobody sends: what a pool's checks exist to
    /// survive; a command in flight when the server goes is lost whatever the pool checks).
    /// Without a gap longer than that deadline, no fault is drawn.
    DuringIdleGaps,
}

/// Which faults, how many, where and how large.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultBounds {
    /// The kinds drawn from (empty: no faults).
    pub kinds: Vec<FaultKind>,
    /// At most this many faults per case.
    pub max: usize,
    /// Where they fall.
    pub window: FaultWindow,
    /// Time a restarted server refuses connections.
    pub restart_down_ms: Span,
    /// Time connections are refused.
    pub refuse_ms: Span,
    /// Command latency during a spike.
    pub spike_latency_ms: Span,
    /// Length of a spike.
    pub spike_ms: Span,
    /// Length of a stall.
    #[serde(default = "default_stall_ms")]
    pub stall_ms: Span,
    /// The value of a `CONFIG SET timeout` ([`FaultKind::ConfigSetTimeout`]), seconds. A
    /// claim that assumes something of the server's timeout draws it within its own
    /// [`EnvBounds::server_timeout_secs`].
    #[serde(default = "default_config_timeout_secs")]
    pub config_timeout_secs: Span,
    /// The value of a `CONFIG SET maxclients` ([`FaultKind::ConfigSetMaxclients`]). A claim
    /// that assumes the server has room for its pools draws it within that room.
    #[serde(default = "default_config_maxclients")]
    pub config_maxclients: Span,
}

fn default_stall_ms() -> Span {
    Span::new(100, 10_000)
}

fn default_config_timeout_secs() -> Span {
    Span::new(1, 300)
}

fn default_config_maxclients() -> Span {
    Span::new(1, 10_000)
}

impl FaultBounds {
    /// No faults.
    #[must_use]
    pub fn none() -> Self {
        Self {
            kinds: Vec::new(),
            max: 0,
            window: FaultWindow::Anywhere,
            restart_down_ms: Span::exactly(0),
            refuse_ms: Span::new(1, 1),
            spike_latency_ms: Span::exactly(0),
            spike_ms: Span::new(1, 1),
            stall_ms: Span::new(1, 1),
            config_timeout_secs: default_config_timeout_secs(),
            config_maxclients: default_config_maxclients(),
        }
    }

    /// Up to `max` faults of `kinds` in `window`, with moderate sizes (down and refusals up to
    /// 1 s, spikes to 100 ms for up to 1 s, stalls of 100 ms to 10 s, `CONFIG SET timeout` 1
    /// to 300 s, `CONFIG SET maxclients` 1 to 10,000: a claim narrows the last two to what it
    /// assumes with [`FaultBounds::with_config`]).
    #[must_use]
    pub fn some(kinds: &[FaultKind], max: usize, window: FaultWindow) -> Self {
        Self {
            kinds: kinds.to_vec(),
            max,
            window,
            restart_down_ms: Span::new(0, 1_000),
            refuse_ms: Span::new(10, 1_000),
            spike_latency_ms: Span::new(1, 100),
            spike_ms: Span::new(10, 1_000),
            stall_ms: default_stall_ms(),
            config_timeout_secs: default_config_timeout_secs(),
            config_maxclients: default_config_maxclients(),
        }
    }

    /// The same, with `CONFIG SET timeout` drawn within `timeout_secs` and `CONFIG SET
    /// maxclients` within `maxclients`.
    #[must_use]
    pub fn with_config(mut self, timeout_secs: Span, maxclients: Span) -> Self {
        self.config_timeout_secs = timeout_secs;
        self.config_maxclients = maxclients;
        self
    }
}

/// How far the environment around a scenario may vary: everything the deployment does not
/// control. `None` keeps the scenario's own value. The pool, the tiers, their deadlines and
/// the command mix are never varied: they are the deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvBounds {
    /// One-way link latency as a multiple of the scenario's tick (`tick_ms × k`; turmoil
    /// cannot deliver faster than a tick).
    pub link_latency_ticks: Span,
    /// The server's `timeout` in seconds; `None` keeps the scenario's.
    pub server_timeout_secs: Option<Span>,
    /// Whether `timeout 0` (never close idle clients) may be drawn as well.
    pub server_timeout_off: bool,
    /// The server's `hz`.
    pub hz: Span,
    /// The server's `maxclients`; `None` keeps the scenario's.
    pub maxclients: Option<Span>,
    /// Time the server takes per command.
    pub command_latency_ms: Span,
    /// Time from accept to the first reply.
    pub connect_latency_ms: Span,
    /// Closed loop: the users (the scenario's `load` events scale with them).
    pub users: Option<Span>,
    /// Closed loop: the mean think time (the distribution's kind is kept).
    pub think_mean_ms: Option<Span>,
    /// Open loop: the mean arrival rate.
    pub rate_per_sec: Option<Rate>,
    /// Open loop: bursts may replace the arrival process (burst rate = rate × `factor`).
    pub bursts: Option<BurstBounds>,
    /// The mean hold time (the distribution's kind is kept); `None` keeps it.
    pub hold_mean_ms: Option<Span>,
    /// Load before the first idle gap (or the whole load when there is none).
    pub load_ms: Span,
    /// The length of the scenario's idle gaps (or of the gap added with `add_gap`); `None`
    /// keeps them.
    pub idle_gap_ms: Option<Span>,
    /// Whether a scenario without a gap may get one (at a drawn instant).
    pub add_gap: bool,
    /// Load after the first idle gap.
    pub after_gap_ms: Span,
    /// Faults.
    pub faults: FaultBounds,
}

/// Bursts of the open-loop arrivals.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BurstBounds {
    /// Burst rate over the base rate, in tenths (`20` = 2.0×).
    pub factor_tenths: Span,
    /// Length of a burst.
    pub burst_ms: Span,
    /// Period of bursts (at least `burst_ms`).
    pub every_ms: Span,
}

impl EnvBounds {
    /// A neutral environment around `s`: its own values kept where they describe the
    /// deployment, and modest variation elsewhere (links up to 3 ticks, `hz` 1 to 100,
    /// command and connect latency up to 5 ms, the load ±50 %, load phases from 1 s to the
    /// scenario's own, gaps from 1 s to twice the scenario's, no faults). Claims write their
    /// own ([`crate::claims`]).
    #[must_use]
    pub fn around(s: &Scenario) -> Self {
        let gap = first_gap(s).map(|(_, len)| len);
        let (users, think, rate) = match &s.load.clients {
            Clients::Closed { users, think } => (
                Some(Span::new(
                    u64::from(*users / 2).max(1),
                    u64::from(*users + *users / 2).max(1),
                )),
                Some(Span::new(
                    (think.mean_ms() / 2.0) as u64,
                    (think.mean_ms() * 1.5) as u64,
                )),
                None,
            ),
            Clients::Open { arrivals } => {
                let r = open_rate(arrivals, s.duration_ms);
                (
                    None,
                    None,
                    Some(Rate {
                        min: r / 2.0,
                        max: r * 1.5,
                    }),
                )
            }
        };
        let before = gap.map_or(s.duration_ms, |_| first_gap(s).map_or(0, |(at, _)| at));
        let after = gap.map_or(1_000, |len| {
            s.duration_ms
                .saturating_sub(first_gap(s).map_or(0, |(at, _)| at) + len)
        });
        Self {
            link_latency_ticks: Span::new(1, 3),
            server_timeout_secs: None,
            server_timeout_off: false,
            hz: Span::new(1, 100),
            maxclients: None,
            command_latency_ms: Span::new(0, 5),
            connect_latency_ms: Span::new(0, 5),
            users,
            think_mean_ms: think,
            rate_per_sec: rate,
            bursts: None,
            hold_mean_ms: None,
            load_ms: Span::new(1_000.min(before.max(1)), before.max(1)),
            idle_gap_ms: gap.map(|g| Span::new(1_000.min(g), 2 * g)),
            add_gap: false,
            after_gap_ms: Span::new(1_000.min(after.max(1)), after.max(1)),
            faults: FaultBounds::none(),
        }
    }
}

/// The rate the fuzzer varies around: a process's base or final rate, a script's requests
/// over the run.
fn open_rate(a: &Arrivals, duration_ms: u64) -> f64 {
    match *a {
        Arrivals::Constant { rate_per_sec } | Arrivals::Poisson { rate_per_sec } => rate_per_sec,
        Arrivals::Bursts { base_per_sec, .. } => base_per_sec,
        Arrivals::Ramp { to_per_sec, .. } => to_per_sec,
        Arrivals::At { .. } => a.mean_rate(duration_ms),
    }
}

/// The first idle gap: `(at_ms, duration_ms)`.
fn first_gap(s: &Scenario) -> Option<(u64, u64)> {
    s.timeline.iter().find_map(|e| match *e {
        Event::IdleGap { at_ms, duration_ms } => Some((at_ms, duration_ms)),
        _ => None,
    })
}

/// Lengths an idle gap is worth trying near: the server's `timeout` first, then each
/// Redis-facing pool's idle timeout and keepalive interval (times its idle connections when
/// one connection is pinged per interval), without repeats, in that order.
#[must_use]
pub fn thresholds_ms(s: &Scenario) -> Vec<u64> {
    let mut t = Vec::new();
    if s.server.timeout_secs > 0 {
        t.push(s.server.timeout_secs * 1000);
    }
    for tier in s.tiers.iter().filter(|t| t.calls.is_none()) {
        let Ok(c) = tier.pool.config() else { continue };
        if let Some(d) = c.idle_timeout {
            t.push(d.as_millis() as u64);
        }
        if let Some(k) = c.keepalive {
            let i = k.interval.as_millis() as u64;
            t.push(i);
            if k.scope == pool_core::KeepaliveScope::OnePerInterval {
                let idle = u64::from(c.max_idle.unwrap_or(1).max(1));
                t.push(i * idle);
            }
        }
    }
    let mut seen = Vec::new();
    t.retain(|x| {
        let new = !seen.contains(x);
        seen.push(*x);
        new
    });
    t
}

/// An idle gap's length as drawn: near the case's `which`-th threshold ([`thresholds_ms`] of
/// the case, its drawn server `timeout` included), `by` ms below or above it; or anywhere.
#[derive(Clone, Copy, Debug)]
enum GapDraw {
    Near { which: usize, below: bool, by: u64 },
    Anywhere(u64),
}

impl GapDraw {
    /// The length for case `s` (its server already drawn), within `span`.
    fn resolve(self, s: &Scenario, span: Span) -> u64 {
        match self {
            Self::Anywhere(v) => v,
            Self::Near { which, below, by } => {
                let t = thresholds_ms(s);
                if t.is_empty() {
                    return span.min;
                }
                let at = t[which % t.len()];
                let v = if below {
                    at.saturating_sub(by)
                } else {
                    at.saturating_add(by)
                };
                v.clamp(span.min, span.max)
            }
        }
    }
}

/// What the environment strategy draws, applied to the scenario by [`Drawn::apply`].
#[derive(Clone, Debug)]
struct Drawn {
    seed: u64,
    link_ticks: u64,
    timeout_secs: Option<u64>,
    hz: u64,
    maxclients: Option<u64>,
    command_ms: u64,
    connect_ms: u64,
    users: Option<u64>,
    think_ms: Option<u64>,
    rate: Option<f64>,
    burst: Option<(u64, u64, u64)>,
    hold_ms: Option<u64>,
    load_ms: u64,
    gap: Option<(u64, GapDraw)>,
    after_ms: u64,
    faults: Vec<(FaultKind, u64, u64)>,
}

/// The environment around `base`: `base`'s pools, tiers, deadlines and command mix kept,
/// everything within `bounds` drawn (seed, link and server latency, the server's `timeout`,
/// `hz` and `maxclients`, users or arrival rate and bursts, think and hold times, the load's
/// phases, idle gap lengths, faults and their instants).
///
/// Idle gaps are drawn half the time near a threshold of the scenario ([`thresholds_ms`]:
/// the server's timeout, the pool's idle timeout and keepalive), within 3 s of it and most
/// often within 50 ms, and otherwise anywhere in the bounds; near-threshold gaps shrink toward
/// the threshold, others toward the bounds' round lower end.
///
/// Each case is named after `base`, with [`Expectation::default`] (nothing asserted: a
/// fuzzer checks its claim on the run, [`crate::claims::Claim::check`]).
pub fn environment(base: &Scenario, bounds: &EnvBounds) -> BoxedStrategy<Scenario> {
    let b = bounds.clone();
    let seed = any::<u64>();
    let link = b.link_latency_ticks.round(1);
    let timeout = match b.server_timeout_secs {
        None => Just(None).boxed(),
        Some(span) if b.server_timeout_off => {
            prop_oneof![9 => span.round(10).prop_map(Some), 1 => Just(Some(0))].boxed()
        }
        Some(span) => span.round(10).prop_map(Some).boxed(),
    };
    let hz =
        prop_oneof![Just(10u64), b.hz.round(10)].prop_map(move |h| h.clamp(b.hz.min, b.hz.max));
    let maxclients = opt(b.maxclients.map(|s| s.round(100)));
    let server = (
        timeout,
        hz,
        maxclients,
        b.command_latency_ms.round(5),
        b.connect_latency_ms.round(5),
    );
    let users = opt(b.users.map(|s| s.round(10)));
    let think = opt(b.think_mean_ms.map(|s| s.round(10)));
    let rate = opt(b.rate_per_sec.map(Rate::strategy));
    let burst = match b.bursts {
        None => Just(None).boxed(),
        Some(bb) => prop_oneof![
            Just(None),
            (
                bb.factor_tenths.round(5),
                bb.burst_ms.round(50),
                bb.every_ms.round(500)
            )
                .prop_map(Some)
        ]
        .boxed(),
    };
    let hold = opt(b.hold_mean_ms.map(|s| s.round(5)));
    let load = (users, think, rate, burst, hold);
    let has_gap = first_gap(base).is_some();
    // The thresholds with the scenario's own timeout; a drawn timeout adds its own below.
    let gap_len = gap_strategy(base, &b);
    let gap = if has_gap {
        gap_len.prop_map(|len| Some((0, len))).boxed()
    } else if b.add_gap {
        prop_oneof![
            Just(None),
            (0u64..=1000, gap_len).prop_map(|(p, len)| Some((p, len)))
        ]
        .boxed()
    } else {
        Just(None).boxed()
    };
    let phases = (b.load_ms.round(1_000), gap, b.after_gap_ms.round(1_000));
    let fault = fault_strategy(&b.faults);
    let faults = proptest::collection::vec(fault, 0..=b.faults.max);
    let base = base.clone();
    let bounds2 = b.clone();
    (seed, link, server, load, phases, faults)
        .prop_map(
            move |(seed, link_ticks, server, load, phases, faults)| Drawn {
                seed,
                link_ticks,
                timeout_secs: server.0,
                hz: server.1,
                maxclients: server.2,
                command_ms: server.3,
                connect_ms: server.4,
                users: load.0,
                think_ms: load.1,
                rate: load.2,
                burst: load.3,
                hold_ms: load.4,
                load_ms: phases.0,
                gap: phases.1,
                after_ms: phases.2,
                faults,
            },
        )
        .prop_map(move |d| d.apply(&base, &bounds2))
        .prop_filter("passes Scenario::validate", |s| s.validate().is_ok())
        .boxed()
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: Option<BoxedStrategy<T>>,
) -> BoxedStrategy<Option<T>> {
    match s {
        None => Just(None).boxed(),
        Some(s) => s.prop_map(Some).boxed(),
    }
}

fn gap_span(base: &Scenario, b: &EnvBounds) -> Span {
    b.idle_gap_ms
        .or_else(|| first_gap(base).map(|(_, len)| Span::exactly(len)))
        .unwrap_or(Span::new(1_000, 10_000))
}

/// A gap length: half the draws near a threshold of the case (its server `timeout` first,
/// shrinking to it: within 47 ms a third of the time, 375 ms another third, 3 s the rest), the
/// other half anywhere in the bounds (shrinking to whole seconds and the lower bound).
fn gap_strategy(base: &Scenario, b: &EnvBounds) -> BoxedStrategy<GapDraw> {
    let near = (
        0usize..8,
        prop_oneof![0u64..=47, 0u64..=375, 0u64..=3_000],
        any::<bool>(),
    )
        .prop_map(|(which, by, below)| GapDraw::Near { which, below, by });
    prop_oneof![
        near,
        gap_span(base, b).round(1_000).prop_map(GapDraw::Anywhere)
    ]
    .boxed()
}

fn fault_strategy(f: &FaultBounds) -> BoxedStrategy<(FaultKind, u64, u64)> {
    if f.kinds.is_empty() {
        // Never drawn (max is 0 then), but the type needs a strategy.
        return Just((FaultKind::KillAllClients, 0, 0)).boxed();
    }
    let f2 = f.clone();
    (
        proptest::sample::select(f.kinds.clone()),
        0u64..=1000,
        0u64..=1000,
    )
        .prop_map(move |(k, at_permille, size_permille)| {
            let span = match k {
                FaultKind::Restart => f2.restart_down_ms,
                FaultKind::RefuseConnections => f2.refuse_ms,
                FaultKind::LatencySpike => f2.spike_ms,
                FaultKind::Stall => f2.stall_ms,
                FaultKind::ConfigSetTimeout => f2.config_timeout_secs,
                FaultKind::ConfigSetMaxclients => f2.config_maxclients,
                FaultKind::KillAllClients => Span::exactly(0),
            };
            (
                k,
                at_permille,
                span.min + (span.max - span.min) * size_permille / 1000,
            )
        })
        .boxed()
}

/// `t` (an instant of the scenario's old timeline) on the new one: piecewise linear over
/// `[0, gap start]`, the gap, and what follows.
fn remap(t: u64, old: (u64, u64, u64), new: (u64, u64, u64)) -> u64 {
    let scale = |x: u64, from: u64, to: u64| {
        if from == 0 {
            0
        } else {
            (u128::from(x) * u128::from(to) / u128::from(from)) as u64
        }
    };
    let (ob, og, oa) = old;
    let (nb, ng, na) = new;
    if t < ob {
        scale(t, ob, nb)
    } else if t < ob + og {
        nb + scale(t - ob, og, ng)
    } else {
        nb + ng + scale(t - ob - og, oa.max(1), na)
    }
}

fn with_mean(d: Dist, mean: u64) -> Dist {
    match d {
        Dist::Fixed { .. } => Dist::Fixed { ms: mean },
        Dist::Uniform { .. } => Dist::Uniform {
            min_ms: mean / 2,
            max_ms: mean + mean / 2,
        },
        Dist::Exponential { .. } => Dist::Exponential { mean_ms: mean },
    }
}

impl Drawn {
    fn apply(&self, base: &Scenario, b: &EnvBounds) -> Scenario {
        let mut s = base.clone();
        s.seed = self.seed;
        s.expect = Expectation::default();
        s.link_latency_ms = s.tick_ms * self.link_ticks.max(1);
        if let Some(t) = self.timeout_secs {
            s.server.timeout_secs = t;
        }
        s.server.hz = self.hz as u32;
        if let Some(m) = self.maxclients {
            s.server.maxclients = m.max(1);
        }
        s.server.command_latency_ms = self.command_ms;
        s.server.connect_latency_ms = self.connect_ms;
        match &mut s.load.clients {
            Clients::Closed { users, think } => {
                if let Some(u) = self.users {
                    let old = (*users).max(1);
                    let new = u.max(1) as u32;
                    *users = new;
                    for e in &mut s.timeline {
                        if let Event::Load { users: Some(x), .. } = e {
                            *x = ((u64::from(*x) * u64::from(new)) / u64::from(old)).max(1) as u32;
                        }
                    }
                }
                if let Some(m) = self.think_ms {
                    *think = with_mean(*think, m);
                }
            }
            Clients::Open { arrivals } => {
                if let Some(r) = self.rate {
                    *arrivals = match (self.burst, arrivals.clone()) {
                        (Some((f, burst_ms, every_ms)), _) => Arrivals::Bursts {
                            base_per_sec: r,
                            burst_per_sec: r * f as f64 / 10.0,
                            burst_ms,
                            every_ms: every_ms.max(burst_ms).max(1),
                        },
                        (None, Arrivals::Constant { .. }) => Arrivals::Constant { rate_per_sec: r },
                        (
                            None,
                            Arrivals::Ramp {
                                from_per_sec,
                                to_per_sec,
                                over_ms,
                            },
                        ) => {
                            let k = r / to_per_sec.max(1e-9);
                            Arrivals::Ramp {
                                from_per_sec: from_per_sec * k,
                                to_per_sec: r,
                                over_ms,
                            }
                        }
                        // Poisson stays Poisson; a script (`at`) becomes Poisson at the drawn
                        // rate: the fuzzer varies the load around a script's mean.
                        (None, _) => Arrivals::Poisson { rate_per_sec: r },
                    };
                }
            }
        }
        if let Some(h) = self.hold_ms {
            s.load.hold = with_mean(s.load.hold, h);
        }
        // The timeline: the load's phases around the first gap, other events remapped.
        let span = gap_span(base, b);
        let drawn_gap = self.gap.map(|(phase, g)| (phase, g.resolve(&s, span)));
        let old_gap = first_gap(base);
        let (old, new) = match (old_gap, drawn_gap) {
            (Some((at, len)), Some((_, new_len))) => {
                let after = base.duration_ms.saturating_sub(at + len);
                ((at, len, after), (self.load_ms, new_len, self.after_ms))
            }
            (Some((at, len)), None) => {
                let after = base.duration_ms.saturating_sub(at + len);
                ((at, len, after), (self.load_ms, len, self.after_ms))
            }
            (None, Some((phase, len))) => {
                // A gap added at `phase` per mille of the load.
                let at = (self.load_ms * phase / 1001).max(1);
                ((base.duration_ms, 0, 0), (at, len, self.load_ms - at))
            }
            (None, None) => ((base.duration_ms, 0, 0), (self.load_ms, 0, 0)),
        };
        let mut timeline: Vec<Event> = Vec::new();
        let mut gap_done = false;
        for e in &base.timeline {
            let mut e = e.clone();
            match &mut e {
                Event::IdleGap { at_ms, duration_ms } if !gap_done => {
                    gap_done = true;
                    *at_ms = new.0;
                    *duration_ms = new.1;
                }
                Event::IdleGap { at_ms, duration_ms } => {
                    let end = remap(*at_ms + *duration_ms, old, new);
                    *at_ms = remap(*at_ms, old, new);
                    *duration_ms = end.saturating_sub(*at_ms).max(1);
                }
                other => set_at(other, remap(other.at_ms(), old, new)),
            }
            timeline.push(e);
        }
        if old_gap.is_none() && new.1 > 0 {
            timeline.push(Event::IdleGap {
                at_ms: new.0,
                duration_ms: new.1,
            });
        }
        s.duration_ms = (new.0 + new.1 + new.2).max(1);
        // Faults.
        let gaps: Vec<(u64, u64)> = timeline
            .iter()
            .filter_map(|e| match *e {
                Event::IdleGap { at_ms, duration_ms } => Some((at_ms, duration_ms)),
                _ => None,
            })
            .collect();
        for &(kind, at_permille, size) in &self.faults {
            let at = match b.faults.window {
                FaultWindow::Anywhere => s.duration_ms * at_permille / 1001,
                FaultWindow::DuringIdleGaps => {
                    // Once every request sent before the gap has ended: its caller's
                    // deadline after the gap's start at the latest.
                    let settle = s.tiers.first().map_or(0, |t| t.deadline_ms);
                    match gaps.first() {
                        Some(&(g, len)) if len > settle => {
                            g + settle + (len - settle) * at_permille / 1001
                        }
                        _ => continue,
                    }
                }
            };
            match kind {
                FaultKind::Restart => timeline.push(Event::Restart {
                    at_ms: at,
                    down_ms: size,
                }),
                FaultKind::KillAllClients => timeline.push(Event::KillAllClients { at_ms: at }),
                FaultKind::RefuseConnections => {
                    timeline.push(Event::RefuseConnections {
                        at_ms: at,
                        on: true,
                    });
                    let off = at + size.max(1);
                    if off < s.duration_ms {
                        timeline.push(Event::RefuseConnections {
                            at_ms: off,
                            on: false,
                        });
                    }
                }
                FaultKind::LatencySpike => {
                    let latency = b.faults.spike_latency_ms.min
                        + (b.faults.spike_latency_ms.max - b.faults.spike_latency_ms.min)
                            * at_permille
                            / 1000;
                    timeline.push(Event::Latency {
                        at_ms: at,
                        command_latency_ms: Some(latency),
                        connect_latency_ms: None,
                        duration_ms: Some(size.max(1)),
                    });
                }
                FaultKind::Stall => timeline.push(Event::Stall {
                    at_ms: at,
                    duration_ms: size.max(1),
                }),
                FaultKind::ConfigSetTimeout => timeline.push(Event::ConfigSet {
                    at_ms: at,
                    name: "timeout".to_owned(),
                    value: size.to_string(),
                }),
                FaultKind::ConfigSetMaxclients => timeline.push(Event::ConfigSet {
                    at_ms: at,
                    name: "maxclients".to_owned(),
                    value: size.max(1).to_string(),
                }),
            }
        }
        timeline.retain(|e| e.at_ms() < s.duration_ms);
        // Stable: events at the same instant keep their order.
        timeline.sort_by_key(Event::at_ms);
        s.timeline = timeline;
        s
    }
}

fn set_at(e: &mut Event, t: u64) {
    match e {
        Event::IdleGap { at_ms, .. }
        | Event::Load { at_ms, .. }
        | Event::Restart { at_ms, .. }
        | Event::KillAllClients { at_ms }
        | Event::ConfigSet { at_ms, .. }
        | Event::RefuseConnections { at_ms, .. }
        | Event::ReadOnly { at_ms, .. }
        | Event::Latency { at_ms, .. }
        | Event::ReplicaOf { at_ms, .. }
        | Event::Stall { at_ms, .. }
        | Event::Hang { at_ms, .. }
        | Event::SentinelFailover { at_ms } => *at_ms = t,
    }
}

/// Limits of [`scenario`]: small by default, so that a case costs milliseconds to a few
/// tenths of a second on turmoil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioBounds {
    /// Most tiers (a chain: each calls the next, the last talks to Redis).
    pub max_tiers: usize,
    /// Most closed-loop users.
    pub max_users: u32,
    /// Highest open-loop rate per second.
    pub max_rate_per_sec: u64,
    /// Longest load.
    pub max_duration_ms: u64,
    /// Most timeline events.
    pub max_events: usize,
}

impl Default for ScenarioBounds {
    /// Up to 3 tiers, 20 users or 300 requests a second, 5 s of load, 4 events.
    fn default() -> Self {
        Self {
            max_tiers: 3,
            max_users: 20,
            max_rate_per_sec: 300,
            max_duration_ms: 5_000,
            max_events: 4,
        }
    }
}

fn setting<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<Setting<T>>> {
    prop::option::of(prop_oneof![
        value.prop_map(Setting::Value),
        Just(Setting::Off)
    ])
    .boxed()
}

/// Overrides of a pool's knobs, each one unset (the profile's value) or drawn within its
/// valid range; shrinks toward no overrides. Combinations `pool_core::Config::validate`
/// refuses (`min_idle` above `max_size`, jitter without a lifetime) are repaired by
/// [`pool_spec`], not filtered.
pub fn overrides() -> BoxedStrategy<Overrides> {
    let sizes = (
        prop::option::of((1u32..=16).prop_map(Setting::Value)),
        prop::option::of(0u32..=2),
        setting(1u32..=16),
        prop::option::of(prop_oneof![
            Just(Exhausted::Wait),
            Just(Exhausted::FailFast)
        ]),
        prop::option::of(round_ms(10, 5_000, 10).prop_map(Setting::Value)),
        setting(1u32..=64),
    );
    let timers = (
        setting(round_ms(100, 60_000, 100)),
        setting(round_ms(1_000, 60_000, 1_000)),
        prop::option::of(prop_oneof![
            Just(CheckWhenSpec::Never),
            Just(CheckWhenSpec::Always),
            Just(CheckWhenSpec::IfIdle)
        ]),
        prop::option::of(round_ms(1, 10_000, 100)),
        prop::option::of(prop_oneof![
            Just(CheckHowSpec::Peek),
            Just(CheckHowSpec::Ping)
        ]),
        setting(round_ms(100, 60_000, 100)),
        prop::option::of(prop_oneof![
            Just(ScopeSpec::EveryIdle),
            Just(ScopeSpec::OnePerInterval)
        ]),
    );
    let connects = (
        setting(1u32..=8),
        prop::option::of(round_ms(10, 5_000, 10).prop_map(Setting::Value)),
        prop::option::of(round_ms(10, 1_000, 10).prop_map(Setting::Value)),
        prop::option::of(prop_oneof![Just(ReuseSpec::Lifo), Just(ReuseSpec::Fifo)]),
        prop::option::of(prop_oneof![
            Just(FairnessSpec::StrictFifo),
            Just(FairnessSpec::Barging)
        ]),
        prop::option::of(any::<bool>()),
    );
    (sizes, timers, connects)
        .prop_map(|(sz, tm, cn)| Overrides {
            max_size: sz.0,
            min_idle: sz.1,
            max_idle: sz.2,
            when_exhausted: sz.3,
            pool_timeout_ms: sz.4,
            max_waiters: sz.5,
            idle_timeout_ms: tm.0,
            max_lifetime_ms: tm.1,
            lifetime_jitter_ms: None,
            seed: None,
            check_on_checkout: tm.2,
            check_if_idle_for_ms: tm.3,
            check_how: tm.4,
            keepalive_interval_ms: tm.5,
            keepalive_scope: tm.6,
            max_concurrent_connects: cn.0,
            connect_timeout_ms: cn.1,
            connect_backoff_initial_ms: cn.2,
            connect_backoff_max_ms: None,
            reuse: cn.3,
            fairness: cn.4,
            honour_deadlines: cn.5,
        })
        .boxed()
}

/// A pool: any `pool_core::Profile` (shrinking toward the first, `radix-v2`) with
/// [`overrides`], repaired so that its configuration validates. A pool that would wait
/// forever gets a pool timeout (so that every generated run drains).
pub fn pool_spec() -> BoxedStrategy<PoolSpec> {
    let profiles: Vec<&'static str> = pool_core::Profile::ALL.iter().map(|p| p.name()).collect();
    (0..profiles.len(), overrides())
        .prop_map(move |(i, o)| repair(PoolSpec::profile(profiles[i]).with(o)))
        .boxed()
}

fn repair(mut p: PoolSpec) -> PoolSpec {
    if p.config().is_err() {
        p.overrides.min_idle = None;
    }
    if p.config().is_err() {
        p.overrides.max_idle = None;
    }
    if p.config().is_err() {
        p.overrides = Overrides::default();
    }
    if let Ok(c) = p.config() {
        if matches!(
            c.when_exhausted,
            pool_core::WhenExhausted::Wait { timeout: None }
        ) {
            p.overrides.pool_timeout_ms = Some(Setting::Value(2_000));
        }
    }
    p
}

fn dist(max_mean_ms: u64) -> BoxedStrategy<Dist> {
    prop_oneof![
        round_ms(0, max_mean_ms, 10).prop_map(|ms| Dist::Fixed { ms }),
        (round_ms(0, max_mean_ms, 10), round_ms(0, max_mean_ms, 10)).prop_map(|(a, b)| {
            Dist::Uniform {
                min_ms: a.min(b),
                max_ms: a.max(b),
            }
        }),
        round_ms(1, max_mean_ms.max(1), 10).prop_map(|mean_ms| Dist::Exponential { mean_ms }),
    ]
    .boxed()
}

fn arrivals(max_rate: u64) -> BoxedStrategy<Arrivals> {
    let rate = round_ms(1, max_rate.max(1), 10).prop_map(|r| r as f64);
    prop_oneof![
        rate.clone()
            .prop_map(|rate_per_sec| Arrivals::Poisson { rate_per_sec }),
        rate.clone()
            .prop_map(|rate_per_sec| Arrivals::Constant { rate_per_sec }),
        (
            rate.clone(),
            1u64..=4,
            round_ms(10, 500, 10),
            round_ms(500, 2_000, 100)
        )
            .prop_map(|(r, f, burst_ms, every_ms)| Arrivals::Bursts {
                base_per_sec: r,
                burst_per_sec: r * f as f64,
                burst_ms,
                every_ms,
            }),
        (rate.clone(), rate, round_ms(100, 5_000, 100)).prop_map(|(a, b, over_ms)| {
            Arrivals::Ramp {
                from_per_sec: a,
                to_per_sec: b,
                over_ms,
            }
        }),
    ]
    .boxed()
}

/// One timeline event at `permille` of the load (kinds in order of simplicity: idle gap,
/// kill all clients, restart, refuse connections, CONFIG SET timeout / maxclients, latency,
/// load change, stall). `Load` events are made to fit the load's kind by [`scenario`].
fn event() -> BoxedStrategy<(u64, Event)> {
    let permille = 0u64..=1000;
    let kind = prop_oneof![
        round_ms(100, 5_000, 100).prop_map(|d| Event::IdleGap {
            at_ms: 0,
            duration_ms: d
        }),
        Just(Event::KillAllClients { at_ms: 0 }),
        round_ms(0, 1_000, 100).prop_map(|down_ms| Event::Restart { at_ms: 0, down_ms }),
        any::<bool>().prop_map(|on| Event::RefuseConnections { at_ms: 0, on }),
        (0u64..=30).prop_map(|t| Event::ConfigSet {
            at_ms: 0,
            name: "timeout".to_owned(),
            value: t.to_string(),
        }),
        (1u64..=64).prop_map(|m| Event::ConfigSet {
            at_ms: 0,
            name: "maxclients".to_owned(),
            value: m.to_string(),
        }),
        (0u64..=50, prop::option::of(round_ms(10, 2_000, 10))).prop_map(|(ms, d)| {
            Event::Latency {
                at_ms: 0,
                command_latency_ms: Some(ms),
                connect_latency_ms: None,
                duration_ms: d,
            }
        }),
        (0u32..=20).prop_map(|u| Event::Load {
            at_ms: 0,
            users: Some(u),
            rate_factor: None,
        }),
        round_ms(10, 3_000, 10).prop_map(|d| Event::Stall {
            at_ms: 0,
            duration_ms: d
        }),
    ];
    (permille, kind).boxed()
}

/// A client library around the Redis-facing pool: a profile without Sentinel, with a read
/// timeout of 50 ms to 1 s, 0 to 2 retries and a back-off of at most 200 ms (so that a
/// handler stays within seconds). Shrinks toward redis-py 5 with a 50 ms timeout, no retry.
pub fn client_spec() -> BoxedStrategy<ClientSpec> {
    (
        proptest::sample::select(vec![
            "redis-py-5",
            "redis-py-7",
            "redis-py-8",
            "go-redis-v9.21",
            "go-redis-v9",
        ]),
        round_ms(50, 1_000, 10),
        0u32..=2,
        0u64..=50,
        0u64..=150,
    )
        .prop_map(|(profile, read_ms, attempts, base, extra)| {
            ClientSpec::profile(profile).with(ClientOverrides {
                read_timeout_ms: Some(Setting::Value(read_ms)),
                retry: RetryOverrides {
                    attempts: Some(attempts),
                    backoff_base_ms: Some(base),
                    backoff_cap_ms: Some(if base == 0 { 0 } else { base + extra }),
                    ..RetryOverrides::default()
                },
                ..ClientOverrides::default()
            })
        })
        .boxed()
}

/// An arbitrary scenario within `bounds`: 1 to `max_tiers` tiers in a chain (the last one
/// talks to Redis through any pool profile with [`overrides`], 1 or 2 pods and pools per pod,
/// with or without retry), closed-loop users or open-loop arrivals (Poisson, constant, bursts,
/// ramps) with think and hold times, a command mix, any server (`timeout`, `maxclients`,
/// `hz`, latencies), 1 ms ticks with 1 to 5 ms links, and a timeline of up to `max_events`
/// events (idle gaps, restarts, kill all clients, `CONFIG SET timeout`/`maxclients`, refused
/// connections, latency changes and spikes, load changes). Shrinks toward one tier, one user,
/// 500 ms of load, no events and the simplest pool (radix-v2 as it is).
pub fn scenario(bounds: &ScenarioBounds) -> BoxedStrategy<Scenario> {
    let b = *bounds;
    let tiers = (
        1..=b.max_tiers.max(1),
        proptest::collection::vec(round_ms(100, 5_000, 100), b.max_tiers.max(1)),
        pool_spec(),
        1u32..=2,
        1u32..=2,
        prop_oneof![Just(Retry::None), Just(Retry::OnceOnConnectionError)],
        prop::option::of(client_spec()),
    )
        .prop_map(|(n, deadlines, pool, instances, pools, retry, client)| {
            (0..n)
                .map(|i| {
                    let name = format!("t{i}");
                    let t = Tier::new(&name, PoolSpec::default(), deadlines[i]);
                    if i + 1 < n {
                        t.calling(&format!("t{}", i + 1))
                    } else {
                        Tier {
                            pool: pool.clone(),
                            instances,
                            pools_per_instance: pools,
                            // A tier with a client retries by the client's policy.
                            retry: if client.is_some() { Retry::None } else { retry },
                            client: client.clone(),
                            ..t
                        }
                    }
                })
                .collect::<Vec<Tier>>()
        });
    let clients = prop_oneof![
        (1..=b.max_users.max(1), dist(200))
            .prop_map(|(users, think)| Clients::Closed { users, think }),
        arrivals(b.max_rate_per_sec).prop_map(|arrivals| Clients::Open { arrivals }),
    ];
    let mix = prop_oneof![
        Just(vec![MixEntry {
            command: Command::SetGet,
            weight: 1
        }]),
        Just(vec![MixEntry {
            command: Command::Ping,
            weight: 1
        }]),
        (1u32..=3, 1u32..=3, 1u32..=3).prop_map(|(a, b, c)| vec![
            MixEntry {
                command: Command::SetGet,
                weight: a
            },
            MixEntry {
                command: Command::Echo,
                weight: b
            },
            MixEntry {
                command: Command::Ping,
                weight: c
            },
        ]),
    ];
    let load = (clients, mix, dist(20));
    let server = (
        prop_oneof![Just(0u64), 1u64..=30],
        prop_oneof![Just(10_000u64), 1u64..=64],
        prop_oneof![Just(10u32), 1u32..=100],
        0u64..=20,
        0u64..=20,
    );
    let timeline = proptest::collection::vec(event(), 0..=b.max_events);
    (
        any::<u64>(),
        round_ms(500, b.max_duration_ms.max(500), 500),
        1u64..=5,
        tiers,
        load,
        server,
        timeline,
    )
        .prop_map(
            move |(seed, duration_ms, link, tiers, load, server, events)| {
                let (clients, mix, hold) = load;
                let closed = matches!(clients, Clients::Closed { .. });
                let mut s = Scenario::new(
                    "arbitrary",
                    seed,
                    duration_ms,
                    tiers,
                    Load { clients, mix, hold },
                )
                .with_server(Server {
                    timeout_secs: server.0,
                    maxclients: server.1,
                    hz: server.2,
                    requirepass: None,
                    command_latency_ms: server.3,
                    connect_latency_ms: server.4,
                    topology: None,
                })
                .with_ticks(1, link)
                .with_sample_ms(250);
                for (permille, mut e) in events {
                    let at = duration_ms * permille / 1001;
                    if let Event::Load {
                        users, rate_factor, ..
                    } = &mut e
                    {
                        if !closed {
                            *rate_factor = Some(f64::from(users.unwrap_or(1)) / 10.0);
                            *users = None;
                        }
                    }
                    set_at(&mut e, at);
                    s.timeline.push(e);
                }
                s.timeline.sort_by_key(Event::at_ms);
                // A client's retries may keep a handler busy longer than the default drain
                // limit allows: give it what `Scenario::validate` asks for.
                if let Some(need) = s.min_drain_limit_ms() {
                    s.drain_limit_ms = s.drain_limit_ms.max(need);
                }
                s
            },
        )
        .prop_filter("passes Scenario::validate", |s| s.validate().is_ok())
        .boxed()
}

/// The client libraries [`failover_scenario`] draws: pinned to an address (redis-py 7), asking
/// Sentinel on connect (redis-py 8.1, and 8.0 which loses a slot per switch), following
/// `+switch-master` (go-redis v9 `FailoverClient`).
pub const FAILOVER_CLIENTS: [&str; 4] = [
    "redis-py-7",
    "redis-py-8-sentinel",
    "redis-py-8.0-sentinel",
    "go-redis-v9-failover",
];

/// Arbitrary failover scenarios: [`scenario`]'s (tiers, pools, load, events), with a topology
/// (1 or 2 replicas and a Sentinel, `down-after` 1 to 5 s), the last tier's client one of
/// [`FAILOVER_CLIENTS`] (a third of the time with redis-py's `Retry(..., 3)` on connection and
/// timeout errors, whose reconnect dials the old address: redis-py #3874), and one failover
/// fault in the first half of the run: the master's crash (down 1 to 10 s), a hang of 1 to
/// 10 s, or `SENTINEL FAILOVER`. The run is 5 to 20 s longer than [`scenario`]'s, so that
/// Sentinel has time to act. What `sims/tests/engines.rs` compares the engines on.
pub fn failover_scenario(bounds: &ScenarioBounds) -> BoxedStrategy<Scenario> {
    let topology = (1u32..=2, round_ms(1_000, 5_000, 500));
    let client = (0..FAILOVER_CLIENTS.len(), 0u8..3);
    let fault = (0u8..3, 0u64..=500, round_ms(1_000, 10_000, 500));
    (
        scenario(bounds),
        topology,
        client,
        fault,
        round_ms(5_000, 20_000, 1_000),
    )
        .prop_map(
            |(mut s, (replicas, down_after_ms), (c, retry), (kind, permille, len), extra)| {
                s.name = "arbitrary-failover".to_owned();
                s.server.topology = Some(crate::scenario::Topology {
                    replicas,
                    sentinel: Some(crate::scenario::SentinelSpec {
                        down_after_ms,
                        ..crate::scenario::SentinelSpec::default()
                    }),
                });
                let mut spec = ClientSpec::profile(FAILOVER_CLIENTS[c]);
                if retry == 0 && FAILOVER_CLIENTS[c].starts_with("redis-py") {
                    spec = spec.with(ClientOverrides {
                        retry: RetryOverrides {
                            attempts: Some(3),
                            on: Some(
                                [
                                    crate::client::ErrorClass::Connection,
                                    crate::client::ErrorClass::Timeout,
                                ]
                                .into(),
                            ),
                            ..RetryOverrides::default()
                        },
                        ..ClientOverrides::default()
                    });
                }
                if let Some(last) = s.tiers.last_mut() {
                    last.client = Some(spec);
                    last.retry = Retry::None;
                }
                let at = s.duration_ms * permille / 1000;
                s.duration_ms += extra;
                s.timeline.push(match kind {
                    0 => Event::Restart {
                        at_ms: at,
                        down_ms: len,
                    },
                    1 => Event::Hang {
                        at_ms: at,
                        duration_ms: len,
                    },
                    _ => Event::SentinelFailover { at_ms: at },
                });
                s.timeline.sort_by_key(Event::at_ms);
                if let Some(need) = s.min_drain_limit_ms() {
                    s.drain_limit_ms = s.drain_limit_ms.max(need);
                }
                s
            },
        )
        .prop_filter("passes Scenario::validate", |s| s.validate().is_ok())
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// Simplifies a value tree as far as it goes, accepting every step (what a failure that
    /// fails everywhere shrinks to).
    fn fully_simplified<T: std::fmt::Debug>(s: &BoxedStrategy<T>, seed: u8) -> T {
        let mut runner = TestRunner::new_with_rng(
            proptest::test_runner::Config::default(),
            proptest::test_runner::TestRng::from_seed(
                proptest::test_runner::RngAlgorithm::ChaCha,
                &[seed; 32],
            ),
        );
        let mut tree = s.new_tree(&mut runner).unwrap();
        for _ in 0..10_000 {
            if !tree.simplify() {
                break;
            }
        }
        tree.current()
    }

    #[test]
    fn round_durations_shrink_to_the_lower_bound_and_stay_in_range() {
        let s = round_ms(1_000, 600_000, 1_000);
        for seed in 0..20 {
            assert_eq!(fully_simplified(&s, seed), 1_000);
        }
        let mut runner = TestRunner::deterministic();
        for _ in 0..1000 {
            let v = s.new_tree(&mut runner).unwrap().current();
            assert!((1_000..=600_000).contains(&v), "{v}");
        }
    }

    #[test]
    fn values_near_a_threshold_shrink_to_the_threshold() {
        let s = near_ms(300_000, 3_000, 1_000, 600_000);
        for seed in 0..20 {
            assert_eq!(fully_simplified(&s, seed), 300_000);
        }
    }

    #[test]
    fn arbitrary_scenarios_shrink_to_one_tier_and_no_events() {
        let s = scenario(&ScenarioBounds::default());
        for seed in 0..5 {
            let v = fully_simplified(&s, seed);
            assert_eq!(v.tiers.len(), 1, "{}", v.to_toml());
            assert!(v.timeline.is_empty(), "{}", v.to_toml());
            assert_eq!(v.duration_ms, 500);
            assert_eq!(v.seed, 0);
        }
    }

    #[test]
    fn gaps_are_remapped_piecewise() {
        let old = (20_000, 305_000, 20_000);
        let new = (1_000, 300_000, 5_000);
        assert_eq!(remap(0, old, new), 0);
        assert_eq!(remap(10_000, old, new), 500);
        assert_eq!(remap(20_000, old, new), 1_000);
        assert_eq!(remap(325_000, old, new), 301_000);
        assert_eq!(remap(335_000, old, new), 303_500);
    }
}
