//! `poolsim audit`: is this deployment safe from each incident, and if not, what breaks it and
//! what fixes it.
//!
//! For each incident (stale-eof, explosion, cascade) the audit first does the arithmetic the
//! configuration allows (fleet connections against `maxclients`, pool wait against the
//! callers' deadline, keepalive and idle intervals against the server's `timeout`, `max_size`
//! against the stated traffic by Little's law), then simulates: the deployment at its stated
//! traffic, then a search over what the deployment does not control (an idle gap's length, a
//! server restart, a load multiplier, Redis's latency) for the smallest trigger that shows the
//! incident's signature, each probe over several seeds and, near the threshold, at the
//! simulation's resolution. A vulnerable verdict comes with the trigger, a configuration change
//! that fixes it (verified by a run at the same trigger) and scenario files for both.
//! `safe` means no probe showed the signature, and the verdict says what range was searched.
//! docs/audit.md.

use crate::knobs::{CheckHowSpec, CheckWhenSpec, Exhausted, Overrides, Setting};
use crate::report::Metrics;
use crate::scenario::{Check, Clients, Event, Expectation, Outcome, Scenario};
use pool_core::{CheckWhen, Config, KeepaliveScope, WhenExhausted};
use serde::Serialize;

/// Seeds every probe runs with: a signature in any of them counts.
pub const SEEDS: [u64; 3] = [1, 2, 3];

/// The incidents, in order.
pub const INCIDENTS: [&str; 3] = ["stale-eof", "explosion", "cascade"];

/// One incident's verdict (the JSON names are a contract).
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// `stale-eof`, `explosion` or `cascade`.
    pub incident: String,
    /// `vulnerable` or `safe`.
    pub verdict: String,
    /// How the audit knows: the arithmetic, then what the simulation showed and searched.
    pub reasons: Vec<String>,
    /// The smallest trigger found (`null` when safe).
    pub trigger: Option<Trigger>,
    /// The change that fixes it, verified at the trigger (`null` when safe).
    pub fix: Option<Fix>,
    /// Commands that replay the trigger and the fix.
    pub replay: Vec<String>,
}

/// What shows the incident.
#[derive(Clone, Debug, Serialize)]
pub struct Trigger {
    /// `stated_traffic`, `idle_gap`, `restart`, `load_multiplier` or `redis_latency`.
    pub kind: String,
    /// The trigger's size: gap ms, multiplier, latency ms (0 for stated traffic and restarts).
    pub value: f64,
    /// What `value` is in: `ms`, `x`.
    pub unit: String,
    /// The seeds whose run showed the signature.
    pub seeds: Vec<u64>,
    /// What the runs showed.
    pub shown: String,
    /// The scenario file written for it.
    pub file: String,
}

/// A configuration change that fixes the incident at its trigger.
#[derive(Clone, Debug, Serialize)]
pub struct Fix {
    /// What it changes, in words.
    pub change: String,
    /// The pool knobs set on every Redis-facing tier (scenario file names).
    pub overrides: serde_json::Value,
    /// Whether every seed at the trigger ran without the signature.
    pub holds: bool,
    /// What the runs at the trigger showed.
    pub shown: String,
    /// The scenario file written for it.
    pub file: String,
}

/// The whole audit.
#[derive(Clone, Debug, Serialize)]
pub struct Audit {
    /// The deployment file.
    pub file: String,
    /// One per incident.
    pub verdicts: Vec<Verdict>,
}

/// Where to write scenario files and how to name the command that runs them.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory for the trigger and fix files.
    pub out_dir: std::path::PathBuf,
    /// `poolsim` as the user runs it (`poolsim`, or `cargo run --release -p poolsim --`).
    pub poolsim: String,
    /// Threads for the probes' seeds.
    pub jobs: usize,
    /// The engine the probes run on ([`crate::Engine::Fast`] searches tens of times faster;
    /// the replay commands then name it).
    pub engine: crate::Engine,
}

/// How the probes run: threads and engine.
#[derive(Clone, Copy, Debug)]
struct Jobs {
    n: usize,
    engine: crate::Engine,
}

/// The Redis-facing tiers with their resolved configuration.
fn redis_tiers(s: &Scenario) -> Vec<(usize, Config)> {
    s.tiers
        .iter()
        .enumerate()
        .filter(|(_, t)| t.calls.is_none())
        .filter_map(|(i, t)| t.pool.config().ok().map(|c| (i, c)))
        .collect()
}

fn secs(ms: f64) -> String {
    crate::report::fmt_num((ms / 100.0).round() / 10.0) + " s"
}

/// The requests per second the first tier offers at its stated traffic (closed loop: users
/// over their cycle, estimated with the think time and the round trip).
fn offered_rps(s: &Scenario, hold_ms: f64) -> f64 {
    match &s.load.clients {
        // A process's highest rate; a script's requests over the run.
        Clients::Open { arrivals } => match arrivals {
            crate::scenario::Arrivals::At { .. } => arrivals.mean_rate(s.duration_ms),
            _ => crate::request::load::max_rate(arrivals),
        },
        Clients::Closed { users, think } => {
            let most = s.timeline.iter().fold(*users, |m, e| match e {
                Event::Load { users: Some(u), .. } => m.max(*u),
                _ => m,
            });
            f64::from(most) * 1000.0 / (think.mean_ms() + hold_ms).max(1.0)
        }
    }
}

/// Mean time a request holds its connection: its round trips plus the hold.
fn hold_estimate_ms(s: &Scenario) -> f64 {
    let total: f64 = s
        .load
        .mix
        .iter()
        .map(|m| f64::from(m.weight))
        .sum::<f64>()
        .max(1.0);
    let trips: f64 = s
        .load
        .mix
        .iter()
        .map(|m| f64::from(m.weight) * f64::from(m.command.round_trips()))
        .sum::<f64>()
        / total;
    let rtt = 2.0 * s.link_latency_ms as f64 + s.server.command_latency_ms as f64;
    trips * rtt + s.load.hold.mean_ms()
}

/// The arithmetic of each incident, from the configuration alone: (reasons, vulnerable?).
#[must_use]
pub fn arithmetic(s: &Scenario, incident: &str) -> (Vec<String>, bool) {
    let tiers = redis_tiers(s);
    let mut reasons = Vec::new();
    let mut bad = false;
    match incident {
        "stale-eof" => {
            let timeout = s.server.timeout_secs;
            for (i, c) in &tiers {
                let t = &s.tiers[*i];
                let checks = c.check_on_checkout.when != CheckWhen::Never;
                let name = &t.name;
                if checks {
                    reasons.push(format!(
                        "{name}: the pool checks connections on checkout ({:?}): a closed one is replaced",
                        c.check_on_checkout.how
                    ));
                    continue;
                }
                if timeout == 0 {
                    reasons.push(format!(
                        "{name}: server timeout 0 never closes idle connections, but the pool does not check on checkout: a restart or a dropped connection is read as EOF"
                    ));
                    bad = true;
                    continue;
                }
                let t_ms = timeout as f64 * 1000.0;
                let idle_ok = c
                    .idle_timeout
                    .is_some_and(|d| (d.as_millis() as f64) < t_ms);
                let keep_ok = c.keepalive.is_some_and(|k| {
                    let n = match k.scope {
                        KeepaliveScope::EveryIdle => 1.0,
                        KeepaliveScope::OnePerInterval => {
                            f64::from(c.max_idle.or(c.max_size).unwrap_or(u32::MAX))
                        }
                    };
                    k.interval.as_millis() as f64 * n < t_ms
                });
                if idle_ok {
                    reasons.push(format!(
                        "{name}: client idle timeout {} below the server's timeout {timeout} s",
                        secs(c.idle_timeout.map_or(0.0, |d| d.as_millis() as f64))
                    ));
                } else if keep_ok {
                    reasons.push(format!(
                        "{name}: keepalive touches every idle connection within the server's timeout {timeout} s"
                    ));
                } else {
                    if let Some(k) = c.keepalive {
                        let interval = k.interval.as_millis() as f64;
                        let n = c.max_idle.or(c.max_size);
                        let every = match (k.scope, n) {
                            (KeepaliveScope::EveryIdle, _) => Some(interval),
                            (KeepaliveScope::OnePerInterval, Some(n)) => {
                                Some(interval * f64::from(n))
                            }
                            (KeepaliveScope::OnePerInterval, None) => None,
                        };
                        reasons.push(format!(
                            "{name}: a keepalive PING every {} ({}) touches each idle connection only every {}, not within the server's timeout {timeout} s",
                            secs(interval),
                            if k.scope == KeepaliveScope::EveryIdle {
                                "every idle connection".to_owned()
                            } else {
                                format!(
                                    "one connection per interval through a pool of {}",
                                    n.map_or("unbounded".to_owned(), |n| n.to_string())
                                )
                            },
                            every.map_or("never (an unbounded pool)".to_owned(), secs)
                        ));
                    }
                    reasons.push(format!(
                        "{name}: no check on checkout and nothing closes or touches an idle connection before the server's timeout {timeout} s: an idle gap longer than it gives EOF"
                    ));
                    bad = true;
                }
            }
        }
        "explosion" => {
            let mut fleet: Option<u64> = Some(0);
            let mut parts = Vec::new();
            for (i, c) in &tiers {
                let t = &s.tiers[*i];
                let n = u64::from(t.instances) * u64::from(t.pools_per_instance);
                fleet = match (fleet, c.max_size) {
                    (Some(f), Some(m)) => Some(f + n * u64::from(m)),
                    _ => None,
                };
                parts.push(format!(
                    "{} x {} x {}",
                    t.instances,
                    t.pools_per_instance,
                    c.max_size.map_or("unbounded".to_owned(), |m| m.to_string())
                ));
                if let (WhenExhausted::FailFast, Some(m)) = (c.when_exhausted, c.max_size) {
                    reasons.push(format!(
                        "{}: the pool fails fast when exhausted: a burst above {m} concurrent requests per pool fails with Too many connections",
                        t.name
                    ));
                    bad = true;
                }
            }
            let max = s.server.maxclients;
            match fleet {
                None => {
                    reasons.push(format!(
                        "fleet connections {} = unbounded, against maxclients {max}: a burst opens a connection per concurrent request",
                        parts.join(" + ")
                    ));
                    bad = true;
                }
                Some(f) if f > max => {
                    reasons.push(format!(
                        "fleet connections {} = {f} > maxclients {max}: the pools can open more than the server admits",
                        parts.join(" + ")
                    ));
                    bad = true;
                }
                Some(f) => reasons.push(format!(
                    "fleet connections {} = {f} <= maxclients {max}",
                    parts.join(" + ")
                )),
            }
        }
        _ => {
            let hold = hold_estimate_ms(s);
            let rps = offered_rps(s, hold);
            let deadline = s.tiers.first().map_or(0, |t| t.deadline_ms) as f64;
            for (i, c) in &tiers {
                let t = &s.tiers[*i];
                let pools = f64::from(t.instances * t.pools_per_instance);
                let wait = c.pool_timeout().map(|d| d.as_millis() as f64);
                match (c.when_exhausted, wait) {
                    (WhenExhausted::FailFast, _) => {}
                    (_, w) if !c.honour_deadlines && w.is_none_or(|w| w >= deadline) => {
                        reasons.push(format!(
                            "{}: the pool waits {} and ignores deadlines, the callers give up after {}: a waiter outlives its caller and keeps its place (the cascade)",
                            t.name,
                            w.map_or("forever".to_owned(), secs),
                            secs(deadline)
                        ));
                        bad = true;
                    }
                    _ => reasons.push(format!(
                        "{}: the pool's wait ends by the callers' deadline ({})",
                        t.name,
                        if c.honour_deadlines {
                            "deadlines honoured".to_owned()
                        } else {
                            format!("pool timeout {}", secs(wait.unwrap_or(0.0)))
                        }
                    )),
                }
                if let Some(m) = c.max_size {
                    let a = rps / pools * hold / 1000.0;
                    if a >= f64::from(m) {
                        reasons.push(format!(
                            "{}: Little's law: {:.0} req/s per pool x {:.1} ms = {:.1} connections busy on average >= max_size {m}: the queue grows without bound at the stated traffic",
                            t.name,
                            rps / pools,
                            hold,
                            a
                        ));
                        bad = true;
                    } else {
                        reasons.push(format!(
                            "{}: Little's law: {:.0} req/s per pool x {:.1} ms = {:.1} connections busy on average, max_size {m} (utilisation {:.2})",
                            t.name,
                            rps / pools,
                            hold,
                            a,
                            a / f64::from(m)
                        ));
                    }
                }
            }
        }
    }
    (reasons, bad)
}

/// Whether a run shows the incident's signature, and what it showed.
fn signature(incident: &str, m: &Metrics) -> (bool, String) {
    match incident {
        "stale-eof" => {
            let eof = m.get("errors.eof");
            (eof > 0.0, format!("{eof} EOF errors"))
        }
        "explosion" => {
            let rejected = m.get("rejected_connections");
            let maxc = m.get("errors.max_clients");
            let tmc = m.get("errors.too_many_connections");
            (
                rejected > 0.0 || maxc > 0.0 || tmc > 0.0,
                format!(
                    "{rejected} connects refused by the server at maxclients, {maxc} requests failed with max number of clients reached, {tmc} with Too many connections, server peak {} clients",
                    m.get("peak_server_clients")
                ),
            )
        }
        _ => {
            let req = m.get("requests").max(1.0);
            let late = m.get("errors.deadline_exceeded") + m.get("errors.pool_timeout");
            (
                late / req > 0.01,
                format!(
                    "{late} of {req} requests missed their deadline or timed out in the pool, p99 {} ms, Redis at {} ops/s",
                    m.get("latency_ms.p99"),
                    crate::report::fmt_num(m.get("server_ops_per_sec"))
                ),
            )
        }
    }
}

/// A probe: the scenario over [`SEEDS`]: the seeds that showed the signature and the first
/// one's description (or the last seed's when none did).
fn probe(s: &Scenario, incident: &str, jobs: Jobs) -> Result<Probe, String> {
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let err = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.n.clamp(1, SEEDS.len()) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&seed) = SEEDS.get(k) else { break };
                    match crate::run_on(
                        jobs.engine,
                        &s.clone().with_seed(seed),
                        &crate::RunOptions::default(),
                    ) {
                        Ok(r) => {
                            let (shown, what) = signature(incident, &r.metrics);
                            let what = match r.report.invariant_violations.first() {
                                Some(v) => format!("{what}; invariant violated: {v}"),
                                None => what,
                            };
                            lock(&results).push((seed, shown, what, r.metrics));
                        }
                        Err(e) => {
                            lock(&err).get_or_insert(e.to_string());
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&err).take() {
        return Err(e);
    }
    let mut r = std::mem::take(&mut *lock(&results));
    r.sort_by_key(|x| x.0);
    let seeds: Vec<u64> = r.iter().filter(|x| x.1).map(|x| x.0).collect();
    let first = r.iter().find(|x| x.1).or(r.last());
    let what = first.map_or_else(String::new, |x| format!("seed {}: {}", x.0, x.2));
    let metrics = first.map(|x| x.3.clone()).unwrap_or_default();
    Ok((seeds, what, metrics))
}

/// The seeds that showed the signature, what the first of them (or the last seed) showed, and
/// that run's metrics.
type Probe = (Vec<u64>, String, Metrics);

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The deployment as a probe: its own seed ignored (probes run [`SEEDS`]), no expectation.
fn base(s: &Scenario) -> Scenario {
    let mut b = s.clone();
    b.expect = Expectation::default();
    b
}

/// The deployment with `ms` of load, then an idle gap of `gap_ms`, then `ms` of load again.
/// Idle-gap probes run at 10 ms ticks (and links) so that a gap of minutes is cheap; the
/// deployment's own timeline events are dropped (the gap is the event).
fn with_gap(s: &Scenario, gap_ms: u64) -> Scenario {
    let mut p = base(s);
    let phase = s.duration_ms.clamp(2_000, 10_000);
    p.tick_ms = p.tick_ms.max(10);
    p.link_latency_ms = p.link_latency_ms.max(p.tick_ms);
    p.sample_ms = p.sample_ms.max(1_000);
    p.timeline = vec![Event::IdleGap {
        at_ms: phase,
        duration_ms: gap_ms,
    }];
    p.duration_ms = phase + gap_ms + phase;
    p
}

/// The deployment with a server restart (every connection dropped) during a short pause.
fn with_restart(s: &Scenario) -> Scenario {
    let mut p = base(s);
    let phase = s.duration_ms.clamp(2_000, 10_000);
    p.timeline = vec![
        Event::IdleGap {
            at_ms: phase,
            duration_ms: 2_000,
        },
        Event::KillAllClients {
            at_ms: phase + 1_000,
        },
    ];
    p.duration_ms = phase + 2_000 + phase;
    p
}

/// The deployment whose load is multiplied by `f` from a third of the run on (users for a
/// closed loop, the rate for an open one), on a probe of at most 4 s.
fn with_multiplier(s: &Scenario, f: f64) -> Scenario {
    let mut p = base(s);
    p.duration_ms = s.duration_ms.clamp(3_000, 4_000);
    let at = p.duration_ms / 3;
    p.timeline
        .retain(|e| e.at_ms() < p.duration_ms && !matches!(e, Event::Load { .. }));
    if (f - 1.0).abs() > 1e-9 {
        let event = match &s.load.clients {
            Clients::Closed { users, .. } => Event::Load {
                at_ms: at,
                users: Some((f64::from(*users) * f).round().max(1.0) as u32),
                rate_factor: None,
            },
            Clients::Open { .. } => Event::Load {
                at_ms: at,
                users: None,
                rate_factor: Some(f),
            },
        };
        p.timeline.push(event);
    }
    p
}

/// The deployment with Redis at `ms` per command from a third of the run on.
fn with_latency(s: &Scenario, ms: u64) -> Scenario {
    let mut p = with_multiplier(s, 1.0);
    let at = p.duration_ms / 3;
    p.timeline.push(Event::Latency {
        at_ms: at,
        command_latency_ms: Some(ms),
        connect_latency_ms: None,
        duration_ms: None,
    });
    p
}

/// The fix for `incident`, sized for the load `scale` times the stated one: what it changes
/// and the pool knobs it sets.
fn fix(s: &Scenario, incident: &str, scale: f64) -> (String, Overrides) {
    let tiers = redis_tiers(s);
    let pools_total: u64 = tiers
        .iter()
        .map(|(i, _)| u64::from(s.tiers[*i].instances * s.tiers[*i].pools_per_instance))
        .sum::<u64>()
        .max(1);
    let deadline = s.tiers.first().map_or(1_000, |t| t.deadline_ms);
    let budget = ((s.server.maxclients as f64 * 0.9) / pools_total as f64)
        .floor()
        .max(1.0) as u32;
    let (change, o) = match incident {
        "stale-eof" => {
            // A peek alone loses a race: a close the server sent within one link latency of
            // the checkout is still in flight, the peek sees nothing, the command reads EOF
            // (the audit's gap search finds exactly that window). A client idle timeout below
            // the server's closes the connection first.
            let t = s.server.timeout_secs * 1000;
            let idle = (t * 9 / 10 / 1000 * 1000).min(t.saturating_sub(1000));
            if t > 0 && idle > 0 {
                (
                    format!(
                        "close idle connections after {} on the client (below the server's timeout {} s) and check every connection on checkout with a peek (redis-py can_read, go-redis connCheck)",
                        secs(idle as f64),
                        s.server.timeout_secs
                    ),
                    Overrides {
                        idle_timeout_ms: Some(Setting::Value(idle)),
                        check_on_checkout: Some(CheckWhenSpec::Always),
                        check_how: Some(CheckHowSpec::Peek),
                        ..Overrides::default()
                    },
                )
            } else {
                (
                    "check every connection on checkout with a peek (redis-py can_read, go-redis connCheck): a connection the server closed is replaced instead of read as EOF".to_owned(),
                    Overrides {
                        check_on_checkout: Some(CheckWhenSpec::Always),
                        check_how: Some(CheckHowSpec::Peek),
                        ..Overrides::default()
                    },
                )
            }
        }
        "explosion" => (
            format!(
                "bound every pool to {budget} connections (90 % of maxclients {} over {pools_total} pools) and make it wait (at most half the deadline) instead of opening more or failing fast",
                s.server.maxclients
            ),
            Overrides {
                max_size: Some(Setting::Value(budget)),
                when_exhausted: Some(Exhausted::Wait),
                pool_timeout_ms: Some(Setting::Value((deadline / 2).max(1))),
                honour_deadlines: Some(true),
                ..Overrides::default()
            },
        ),
        _ => {
            let hold = hold_estimate_ms(s);
            let rps = offered_rps(s, hold) * scale;
            let size = crate::sizing::recommended_size(
                rps / pools_total as f64,
                hold.max(0.1),
                deadline as f64 / 10.0,
            )
            .min(budget);
            (
                format!(
                    "size every pool by Erlang C for {:.0} req/s per pool x {hold:.1} ms (p99 wait within a tenth of the {deadline} ms deadline): {size} connections, kept warm, waiting at most half the deadline with deadlines honoured",
                    rps / pools_total as f64
                ),
                Overrides {
                    max_size: Some(Setting::Value(size)),
                    min_idle: Some(size),
                    max_idle: Some(Setting::Value(size)),
                    when_exhausted: Some(Exhausted::Wait),
                    pool_timeout_ms: Some(Setting::Value((deadline / 2).max(1))),
                    honour_deadlines: Some(true),
                    ..Overrides::default()
                },
            )
        }
    };
    (change, o)
}

/// `s` with the knobs of `o` set on every Redis-facing pool (its other overrides kept).
fn apply(s: &Scenario, o: &Overrides) -> Scenario {
    let mut p = s.clone();
    for t in p.tiers.iter_mut().filter(|t| t.calls.is_none()) {
        let mut merged = serde_json::to_value(&t.pool.overrides).unwrap_or_default();
        if let (Some(m), serde_json::Value::Object(new)) = (
            merged.as_object_mut(),
            serde_json::to_value(o).unwrap_or_default(),
        ) {
            m.extend(new);
        }
        if let Ok(ov) = serde_json::from_value(merged) {
            t.pool.overrides = ov;
        }
    }
    p
}

/// What a trigger file asserts (the signature as the run that showed it had it), what a fix
/// file asserts (its absence), and the verdict's text.
fn checks(incident: &str, shown: &Metrics) -> (Vec<Check>, Vec<Check>, &'static str) {
    match incident {
        "stale-eof" => (
            vec![Check::min("errors.eof", 1.0)],
            vec![Check::eq("errors.eof", 0.0)],
            "{errors.eof} EOF errors in {requests} requests",
        ),
        "explosion" => {
            let metric = [
                "rejected_connections",
                "errors.max_clients",
                "errors.too_many_connections",
            ]
            .into_iter()
            .find(|m| shown.get(m) > 0.0)
            .unwrap_or("rejected_connections");
            (
                vec![Check::min(metric, 1.0)],
                vec![
                    Check::eq("rejected_connections", 0.0),
                    Check::eq("errors.max_clients", 0.0),
                    Check::eq("errors.too_many_connections", 0.0),
                ],
                "{rejected_connections} connects refused at maxclients, {errors.max_clients} max-clients and {errors.too_many_connections} too-many-connections errors, server peak {peak_server_clients}",
            )
        }
        _ => (
            vec![Check::min("error_fraction", 0.01)],
            vec![Check::max("error_fraction", 0.01)],
            "{errors.deadline_exceeded} deadline and {errors.pool_timeout} pool-timeout errors in {requests} requests, p99 {latency_ms.p99} ms",
        ),
    }
}

/// Writes `s` as `dir/name.toml` with the expectation; returns the path.
fn write(
    opts: &Options,
    s: &Scenario,
    name: &str,
    outcome: Outcome,
    checks: Vec<Check>,
    sig: &str,
    seed: u64,
) -> Result<String, String> {
    let mut f = s.clone().with_seed(seed);
    f.name = name.to_owned();
    f.expect = Expectation {
        outcome,
        checks,
        signature: sig.to_owned(),
    };
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.out_dir.display()))?;
    let path = opts.out_dir.join(format!("{name}.toml"));
    std::fs::write(&path, f.to_toml())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// A probe that showed the signature.
struct Hit {
    /// The trigger's size (gap ms, multiplier, latency ms; 0 when it has none).
    value: f64,
    scenario: Scenario,
    seeds: Vec<u64>,
    what: String,
    metrics: Metrics,
}

/// Probes `s`: a hit at `value` when a seed shows the signature; `None` with what it showed.
fn hit(s: Scenario, value: f64, incident: &str, jobs: Jobs) -> Result<Result<Hit, String>, String> {
    let (seeds, what, metrics) = probe(&s, incident, jobs)?;
    Ok(if seeds.is_empty() {
        Err(what)
    } else {
        Ok(Hit {
            value,
            scenario: s,
            seeds,
            what,
            metrics,
        })
    })
}

/// The smallest value in `(lo, hi.value]` that shows the signature, by bisection to
/// `resolution` (values rounded by `round`), knowing `lo` does not and `hi` does.
fn bisect(
    incident: &str,
    jobs: Jobs,
    mut lo: f64,
    mut hi: Hit,
    resolution: f64,
    make: &dyn Fn(f64) -> Scenario,
    round: &dyn Fn(f64) -> f64,
) -> Result<Hit, String> {
    while hi.value - lo > resolution {
        let mid = round((lo + hi.value) / 2.0);
        if mid <= lo || mid >= hi.value {
            break;
        }
        match hit(make(mid), mid, incident, jobs)? {
            Ok(h) => hi = h,
            Err(_) => lo = mid,
        }
    }
    Ok(hi)
}

/// Searches the triggers of `incident`: the kind and unit of the smallest one found;
/// `searched` gets a line per range tried without the signature.
fn search(
    s: &Scenario,
    incident: &str,
    jobs: Jobs,
    searched: &mut Vec<String>,
) -> Result<Option<(&'static str, &'static str, Hit)>, String> {
    // The stated traffic first.
    match hit(base(s), 0.0, incident, jobs)? {
        Ok(h) => return Ok(Some(("stated_traffic", "", h))),
        Err(what) => searched.push(format!("the stated traffic over seeds {SEEDS:?} ({what})")),
    }
    if incident == "stale-eof" {
        let timeout = s.server.timeout_secs;
        if timeout > 0 {
            // Idle gaps. None shorter than the timeout can close anything. Near the threshold
            // every whole second is probed (a close the cron sends just as the users come
            // back is a race a check on checkout can lose); then a long gap, and a bisection
            // between the two when only the long one shows it.
            let t_ms = timeout * 1000;
            for g in (t_ms.saturating_sub(1000)..=t_ms + 3000).step_by(1000) {
                if g == 0 {
                    continue;
                }
                if let Ok(h) = hit(with_gap(s, g), g as f64, incident, jobs)? {
                    let first = t_ms.saturating_sub(1000).max(1000);
                    if g > first {
                        let last = g - 1000;
                        searched.push(if last == first {
                            format!("an idle gap of {}", secs(first as f64))
                        } else {
                            format!(
                                "idle gaps from {} up to {} at 1 s steps",
                                secs(first as f64),
                                secs(last as f64)
                            )
                        });
                    }
                    return Ok(Some(("idle_gap", "ms", h)));
                }
            }
            let near = t_ms + 3000;
            let hi_ms = t_ms + 60_000;
            match hit(with_gap(s, hi_ms), hi_ms as f64, incident, jobs)? {
                Err(what) => searched.push(format!(
                    "idle gaps from {} to {} at 1 s steps, and {} (the server's timeout {timeout} s + 60 s) ({what})",
                    secs(t_ms.saturating_sub(1000) as f64),
                    secs(near as f64),
                    secs(hi_ms as f64)
                )),
                Ok(h) => {
                    let make = |g: f64| with_gap(s, g as u64);
                    let h = bisect(
                        incident,
                        jobs,
                        near as f64,
                        h,
                        1_000.0,
                        &make,
                        &|x| (x / 1000.0).round() * 1000.0,
                    )?;
                    searched.push(format!(
                        "idle gaps from {} to {} at 1 s steps",
                        secs(t_ms.saturating_sub(1000) as f64),
                        secs(near as f64)
                    ));
                    return Ok(Some(("idle_gap", "ms", h)));
                }
            }
        }
        return Ok(match hit(with_restart(s), 0.0, incident, jobs)? {
            Ok(h) => Some(("restart", "", h)),
            Err(what) => {
                searched.push(format!(
                    "a server restart (every connection dropped) during a pause ({what})"
                ));
                None
            }
        });
    }
    // Load multipliers, then Redis latency.
    let mut lo = 1.0;
    for f in [2.0, 4.0, 8.0, 16.0] {
        if let Ok(h) = hit(with_multiplier(s, f), f, incident, jobs)? {
            let make = |x: f64| with_multiplier(s, x);
            let h = bisect(incident, jobs, lo, h, 0.1, &make, &|x| {
                (x * 10.0).round() / 10.0
            })?;
            return Ok(Some(("load_multiplier", "x", h)));
        }
        lo = f;
    }
    searched.push("load multipliers from 1 to 16x".to_owned());
    let first = s.server.command_latency_ms as f64;
    let mut lo = first;
    for ms in [5.0, 20.0, 100.0] {
        if ms <= lo {
            continue;
        }
        if let Ok(h) = hit(with_latency(s, ms as u64), ms, incident, jobs)? {
            let make = |x: f64| with_latency(s, x as u64);
            let h = bisect(incident, jobs, lo, h, 1.0, &make, &f64::round)?;
            return Ok(Some(("redis_latency", "ms", h)));
        }
        lo = ms;
    }
    searched.push(format!("Redis latency from {first} to 100 ms per command"));
    Ok(None)
}

/// Audits `deployment` for one incident.
pub fn audit_one(s: &Scenario, incident: &str, opts: &Options) -> Result<Verdict, String> {
    let (mut reasons, arithmetic_bad) = arithmetic(s, incident);
    let mut searched = Vec::new();
    let found = search(
        s,
        incident,
        Jobs {
            n: opts.jobs,
            engine: opts.engine,
        },
        &mut searched,
    )?;
    for line in &searched {
        reasons.push(format!("simulated: {line}: no {incident} signature"));
    }
    let Some((kind, unit, h)) = found else {
        if arithmetic_bad {
            reasons.push(
                "the arithmetic says it can happen, but no run of the search showed it: \
                 safe only within the range searched"
                    .to_owned(),
            );
        }
        return Ok(Verdict {
            incident: incident.to_owned(),
            verdict: "safe".to_owned(),
            reasons,
            trigger: None,
            fix: None,
            replay: Vec::new(),
        });
    };
    let value = h.value;
    let described = match kind {
        "stated_traffic" => "at the stated traffic".to_owned(),
        "idle_gap" => format!(
            "after an idle gap of {} (the shortest found, at 1 s resolution)",
            secs(value)
        ),
        "restart" => "after a server restart that drops every connection".to_owned(),
        "load_multiplier" => {
            format!("at {value}x the stated load (the smallest found, at 0.1x resolution)")
        }
        _ => {
            format!("with Redis at {value} ms per command (the smallest found, at 1 ms resolution)")
        }
    };
    reasons.push(format!("simulated: {described}: {}", h.what));
    let scale = if kind == "load_multiplier" {
        value
    } else {
        1.0
    };
    // The fix is sized for the trigger: its load, and Redis's latency at it.
    let mut at_trigger = s.clone();
    if kind == "redis_latency" {
        at_trigger.server.command_latency_ms = value as u64;
    }
    let (change, overrides) = fix(&at_trigger, incident, scale);
    let fixed_trigger = apply(&h.scenario, &overrides);
    let (bad_seeds, fixed_shown, _) = probe(
        &fixed_trigger,
        incident,
        Jobs {
            n: opts.jobs,
            engine: opts.engine,
        },
    )?;
    let holds = bad_seeds.is_empty();
    reasons.push(format!(
        "fix ({change}): {} at the same trigger over seeds {SEEDS:?} ({fixed_shown})",
        if holds { "holds" } else { "does NOT hold" }
    ));
    let (trigger_checks, fix_checks, sig) = checks(incident, &h.metrics);
    let seed = h.seeds[0];
    let tfile = write(
        opts,
        &h.scenario,
        &format!("{incident}-trigger"),
        Outcome::Reproduces,
        trigger_checks,
        sig,
        seed,
    )?;
    let ffile = write(
        opts,
        &fixed_trigger,
        &format!("{incident}-fix"),
        if holds {
            Outcome::Holds
        } else {
            Outcome::Either
        },
        if holds { fix_checks } else { vec![] },
        sig,
        seed,
    )?;
    Ok(Verdict {
        incident: incident.to_owned(),
        verdict: "vulnerable".to_owned(),
        reasons,
        trigger: Some(Trigger {
            kind: kind.to_owned(),
            value,
            unit: unit.to_owned(),
            seeds: h.seeds,
            shown: h.what,
            file: tfile.clone(),
        }),
        fix: Some(Fix {
            change,
            overrides: serde_json::to_value(&overrides).unwrap_or_default(),
            holds,
            shown: fixed_shown,
            file: ffile.clone(),
        }),
        replay: vec![
            format!("{} run {tfile}{}", opts.poolsim, opts.engine.flag()),
            format!("{} run {ffile}{}", opts.poolsim, opts.engine.flag()),
        ],
    })
}

/// Audits `deployment` (read from `file`) for every incident.
pub fn audit(file: &str, deployment: &Scenario, opts: &Options) -> Result<Audit, String> {
    let mut verdicts = Vec::new();
    for inc in INCIDENTS {
        verdicts.push(audit_one(deployment, inc, opts)?);
    }
    Ok(Audit {
        file: file.to_owned(),
        verdicts,
    })
}
