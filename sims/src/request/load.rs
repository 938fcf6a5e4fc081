//! The load generator, run in every pod of the first tier.
//!
//! Closed loop: user `u` lives in pod `u % pods` and uses that pod's pool
//! `(u / pods) % pools_per_instance`; it sends a request, waits for its outcome (at most the
//! tier's deadline), thinks, and goes again; a `load` event changes how many users are active
//! (users `0..n`). Open loop: each pod draws arrivals at `rate / pods` (times the current
//! `rate_factor`, [`OpenArrivals`]) and sends each as its own task, whatever the system does;
//! a script's instants are dealt to the pods in turn. An `idle_gap` stops both (but not a
//! script). Everything random comes from the scenario's seed ([`crate::rng`]). A wait for an
//! idle gap's end or a load change must end later than now ([`later`]): one that did not
//! would loop with simulated time standing still, so it fails the run instead.

use super::{Pod, req_id, request};
use crate::adapter::PoolUnderTest;
use crate::rng::Rng;
use crate::scenario::{Arrivals, Clients, Event, Scenario};
use crate::world::sim_now_us;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Stream ids: users and pods draw from separate streams.
pub(crate) const USER_STREAM: u64 = 1 << 50;
pub(crate) const POD_STREAM: u64 = 2 << 50;

/// The end of the idle gap `t_ms` falls in, if any.
pub(crate) fn gap_end(s: &Scenario, t_ms: u64) -> Option<u64> {
    s.timeline.iter().find_map(|e| match *e {
        Event::IdleGap { at_ms, duration_ms } if at_ms <= t_ms && t_ms < at_ms + duration_ms => {
            Some(at_ms + duration_ms)
        }
        _ => None,
    })
}

/// `end`, an instant (ms) the load generator waits for from `t_ms`, which must be later:
/// a wait that ends at once would loop without simulated time moving, and hang the run
/// instead of failing it. Panics (the run fails, naming the wait) otherwise.
pub(crate) fn later(t_ms: u64, end: u64, what: &str) -> u64 {
    assert!(
        end > t_ms,
        "load generator: {what} at {t_ms} ms ends at {end} ms, not later (no progress)"
    );
    end
}

/// The value the last `load` event at or before `t_ms` gives with `pick` (`initial` before any).
fn last_load<T: Copy>(
    s: &Scenario,
    t_ms: u64,
    initial: T,
    pick: impl Fn(&Event) -> Option<T>,
) -> T {
    let mut value = initial;
    let mut at = 0;
    for e in &s.timeline {
        if let (Event::Load { at_ms, .. }, Some(v)) = (e, pick(e)) {
            if *at_ms <= t_ms && *at_ms >= at {
                value = v;
                at = *at_ms;
            }
        }
    }
    value
}

/// Active closed-loop users at `t_ms`: the last `load` event's `users`, or the initial count.
pub(crate) fn users_at(s: &Scenario, initial: u32, t_ms: u64) -> u32 {
    last_load(s, t_ms, initial, |e| match *e {
        Event::Load { users, .. } => users,
        _ => None,
    })
}

/// The open-loop rate multiplier at `t_ms`.
pub(crate) fn factor_at(s: &Scenario, t_ms: u64) -> f64 {
    last_load(s, t_ms, 1.0, |e| match *e {
        Event::Load { rate_factor, .. } => rate_factor,
        _ => None,
    })
}

/// The first `load` event after `t_ms`.
pub(crate) fn next_load_change(s: &Scenario, t_ms: u64) -> Option<u64> {
    s.timeline
        .iter()
        .filter_map(|e| match *e {
            Event::Load { at_ms, .. } if at_ms > t_ms => Some(at_ms),
            _ => None,
        })
        .min()
}

/// The whole-system arrival rate at `t_ms`, before the factor.
pub(crate) fn rate_at(a: &Arrivals, t_ms: u64) -> f64 {
    match *a {
        Arrivals::Constant { rate_per_sec } | Arrivals::Poisson { rate_per_sec } => rate_per_sec,
        Arrivals::Bursts {
            base_per_sec,
            burst_per_sec,
            burst_ms,
            every_ms,
        } => {
            if t_ms % every_ms < burst_ms {
                burst_per_sec
            } else {
                base_per_sec
            }
        }
        Arrivals::Ramp {
            from_per_sec,
            to_per_sec,
            over_ms,
        } => {
            let f = if over_ms == 0 {
                1.0
            } else {
                (t_ms as f64 / over_ms as f64).min(1.0)
            };
            from_per_sec + (to_per_sec - from_per_sec) * f
        }
        // A script has instants, not a rate (`OpenArrivals` deals them).
        Arrivals::At { .. } => 0.0,
    }
}

/// The highest whole-system rate the process reaches.
pub(crate) fn max_rate(a: &Arrivals) -> f64 {
    match *a {
        Arrivals::Constant { rate_per_sec } | Arrivals::Poisson { rate_per_sec } => rate_per_sec,
        Arrivals::Bursts {
            base_per_sec,
            burst_per_sec,
            ..
        } => base_per_sec.max(burst_per_sec),
        Arrivals::Ramp {
            from_per_sec,
            to_per_sec,
            ..
        } => from_per_sec.max(to_per_sec),
        Arrivals::At { .. } => 0.0,
    }
}

/// The highest open-loop rate factor of the timeline (at least the initial 1).
pub(crate) fn max_factor(s: &Scenario) -> f64 {
    s.timeline.iter().fold(1.0, |m: f64, e| match *e {
        Event::Load {
            rate_factor: Some(f),
            ..
        } => m.max(f),
        _ => m,
    })
}

fn now_ms() -> u64 {
    sim_now_us() / 1000
}

async fn sleep_until_ms(t_ms: u64) {
    let now = sim_now_us();
    let at = t_ms * 1000;
    if at > now {
        tokio::time::sleep(Duration::from_micros(at - now)).await;
    }
}

/// Generates this pod's share of the load; returns when it is done and every request it sent
/// has ended.
pub(crate) async fn generate<P: PoolUnderTest>(pod: Rc<Pod<P>>, global: u32, index: u32) {
    let s = pod.shared.scenario.clone();
    let tier = &s.tiers[0];
    let pods = tier.instances;
    let pools = tier.pools_per_instance as usize;
    let counter = Rc::new(Cell::new(0u64));
    let next_id = {
        let counter = Rc::clone(&counter);
        move || {
            let n = counter.get();
            counter.set(n + 1);
            req_id(global, n)
        }
    };
    match s.load.clients {
        Clients::Closed { users, think } => {
            let most = s.timeline.iter().fold(users, |m, e| match *e {
                Event::Load { users: Some(u), .. } => m.max(u),
                _ => m,
            });
            let mut tasks = Vec::new();
            for u in (index..most).step_by(pods as usize) {
                let pod = Rc::clone(&pod);
                let s = s.clone();
                let next_id = next_id.clone();
                let pool_index = (u / pods) as usize % pools;
                tasks.push(tokio::task::spawn_local(async move {
                    let mut rng = Rng::stream(s.seed, USER_STREAM | u64::from(u));
                    loop {
                        let t = now_ms();
                        if t >= s.duration_ms {
                            break;
                        }
                        if let Some(end) = gap_end(&s, t) {
                            sleep_until_ms(later(t, end, "an idle gap")).await;
                            continue;
                        }
                        if u >= users_at(&s, users, t) {
                            let wake = next_load_change(&s, t)
                                .map_or(s.duration_ms, |w| later(t, w, "a load change"));
                            sleep_until_ms(wake.min(s.duration_ms)).await;
                            continue;
                        }
                        let began = sim_now_us();
                        request(Rc::clone(&pod), next_id(), pool_index).await;
                        // Thinking past the end of the load is not waiting for anything: the
                        // user stops at duration_ms (a think time longer than the run must not
                        // keep the run from ending).
                        let think = rng.sample(&think);
                        if !think.is_zero() {
                            let until = sim_now_us() + think.as_micros() as u64;
                            sleep_until_us(until.min(s.duration_ms * 1000)).await;
                        }
                        if sim_now_us() == began {
                            // A user never sends twice in the same millisecond.
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }));
            }
            for t in tasks {
                // A user task's panic ends it alone (the join error read here says no more);
                // the runner's panic watch fails the run with it (`sim.panic`).
                let _ = t.await;
            }
        }
        Clients::Open { ref arrivals } => {
            let outstanding = Rc::new(Cell::new(0u64));
            let mut times = OpenArrivals::new(&s, arrivals, global, index, sim_now_us());
            let mut pool_rr = 0usize;
            while let Some(t_us) = times.next(&s, arrivals) {
                sleep_until_us(t_us).await;
                let id = next_id();
                let pool_index = pool_rr % pools;
                pool_rr += 1;
                let pod = Rc::clone(&pod);
                let outstanding2 = Rc::clone(&outstanding);
                outstanding.set(outstanding.get() + 1);
                tokio::task::spawn_local(async move {
                    request(pod, id, pool_index).await;
                    outstanding2.set(outstanding2.get() - 1);
                });
            }
            while outstanding.get() > 0 {
                tokio::time::sleep(Duration::from_millis(s.tick_ms)).await;
            }
        }
    }
}

/// One pod's open-loop arrivals: the instants of its requests, drawn from its own stream.
/// Both engines draw them here, so that they send the same requests at the same instants.
///
/// A process (constant, Poisson, bursts, ramp) gives this pod `rate / pods` times the current
/// `rate_factor`; Poisson rates that change over time are drawn by thinning (candidates at
/// the highest rate, each kept with probability rate(t) / highest), and an idle gap skips to
/// its end. A script ([`Arrivals::At`]) deals its instants to the pods in turn, exactly.
#[derive(Clone, Debug)]
pub(crate) struct OpenArrivals {
    /// The last instant drawn (µs), accumulated exactly.
    t_us: u64,
    rng: Rng,
    /// The highest rate this pod reaches (the thinning's candidate rate).
    highest: f64,
    constant: bool,
    /// This pod's index in the first tier, and the tier's pods.
    index: u32,
    pods: u32,
    /// A script's instants dealt to this pod so far.
    scripted: usize,
}

/// The explorer's key (`sims::fast::explore`): every field, the rate by its bits.
impl std::hash::Hash for OpenArrivals {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Self {
            t_us,
            rng,
            highest,
            constant,
            index,
            pods,
            scripted,
        } = self;
        t_us.hash(h);
        rng.hash(h);
        highest.to_bits().hash(h);
        constant.hash(h);
        index.hash(h);
        pods.hash(h);
        scripted.hash(h);
    }
}

impl OpenArrivals {
    /// The arrivals of the first tier's pod `index` (`global` over every tier's pods), from
    /// `start_us`.
    pub(crate) fn new(
        s: &Scenario,
        arrivals: &Arrivals,
        global: u32,
        index: u32,
        start_us: u64,
    ) -> Self {
        let pods = s.tiers[0].instances.max(1);
        Self {
            t_us: start_us,
            rng: Rng::stream(s.seed, POD_STREAM | u64::from(global)),
            highest: max_rate(arrivals) * max_factor(s) / f64::from(pods),
            constant: matches!(arrivals, Arrivals::Constant { .. }),
            index,
            pods,
            scripted: 0,
        }
    }

    /// The instant (µs) of this pod's next request; `None` once it sends no more (past
    /// `duration_ms`, a rate of zero to the end, the script's end).
    pub(crate) fn next(&mut self, s: &Scenario, arrivals: &Arrivals) -> Option<u64> {
        if let Arrivals::At { at_ms } = arrivals {
            let i = self.scripted * self.pods as usize + self.index as usize;
            let t_ms = *at_ms.get(i)?;
            self.scripted += 1;
            self.t_us = t_ms * 1000;
            return (t_ms < s.duration_ms).then_some(self.t_us);
        }
        let pods = f64::from(self.pods);
        loop {
            let t_ms = self.t_us / 1000;
            if self.constant {
                let rate = rate_at(arrivals, t_ms) * factor_at(s, t_ms) / pods;
                if rate <= 0.0 {
                    // Nothing arrives until the next load change.
                    self.t_us = later(t_ms, next_load_change(s, t_ms)?, "a load change") * 1000;
                    continue;
                }
                self.t_us += (1e6 / rate).round().max(1.0) as u64;
            } else {
                if self.highest <= 0.0 {
                    return None;
                }
                self.t_us += (self.rng.exponential(1.0 / self.highest) * 1e6)
                    .round()
                    .max(1.0) as u64;
                let t_ms = self.t_us / 1000;
                // A candidate past the end ends the process even when it would be thinned
                // away: with a rate of zero to the end (a load event with `rate_factor = 0`),
                // every candidate is, and the loop would never end.
                if t_ms >= s.duration_ms {
                    return None;
                }
                let rate = rate_at(arrivals, t_ms) * factor_at(s, t_ms) / pods;
                if self.rng.unit() * self.highest >= rate {
                    continue;
                }
            }
            let t_ms = self.t_us / 1000;
            if t_ms >= s.duration_ms {
                return None;
            }
            if let Some(end) = gap_end(s, t_ms) {
                self.t_us = later(t_ms, end, "an idle gap") * 1000;
                continue;
            }
            return Some(self.t_us);
        }
    }
}

async fn sleep_until_us(t_us: u64) {
    let now = sim_now_us();
    if t_us > now {
        tokio::time::sleep(Duration::from_micros(t_us - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    /// stale-eof's first run with open-loop `arrivals` from `pods` pods over `duration_ms`,
    /// and `timeline` as its only events.
    fn open(arrivals: Arrivals, pods: u32, duration_ms: u64, timeline: Vec<Event>) -> Scenario {
        let mut s = crate::incidents::by_name("stale-eof").unwrap().scenarios(1)[0].clone();
        s.tiers[0].instances = pods;
        s.duration_ms = duration_ms;
        s.load.clients = Clients::Open { arrivals };
        s.timeline = timeline;
        s
    }

    /// Every instant (µs) pod `index` draws, to the end.
    fn instants(s: &Scenario, index: u32) -> Vec<u64> {
        let Clients::Open { arrivals } = &s.load.clients else {
            unreachable!()
        };
        let mut a = OpenArrivals::new(s, arrivals, index, index, 0);
        std::iter::from_fn(|| a.next(s, arrivals)).collect()
    }

    /// Instants from `from` by `step` up to `to` (both µs, inclusive).
    fn every(from: u64, step: u64, to: u64) -> Vec<u64> {
        (from..=to).step_by(step as usize).collect()
    }

    fn load(at_ms: u64, rate_factor: f64) -> Event {
        Event::Load {
            at_ms,
            users: None,
            rate_factor: Some(rate_factor),
        }
    }

    #[test]
    fn constant_arrivals_are_exactly_a_pods_share_of_the_rate_times_the_factor() {
        let constant = Arrivals::Constant {
            rate_per_sec: 100.0,
        };
        // Two pods at 50/s each: every 20 ms, the same instants in both, none at the end.
        let s = open(constant.clone(), 2, 1_000, vec![]);
        assert_eq!(instants(&s, 0), every(20_000, 20_000, 980_000));
        assert_eq!(instants(&s, 1), instants(&s, 0));
        // Twice the rate from 500 ms: the step out of 500 ms is drawn at its rate.
        let s = open(constant.clone(), 2, 1_000, vec![load(500, 2.0)]);
        let mut want = every(20_000, 20_000, 500_000);
        want.extend(every(510_000, 10_000, 990_000));
        assert_eq!(instants(&s, 0), want);
        // Nothing from 300 ms to 600 ms (a factor of 0 waits for the next load event),
        // then the rate again; a factor of 0 to the end ends the pod's arrivals.
        let s = open(
            constant.clone(),
            2,
            1_000,
            vec![load(600, 1.0), load(300, 0.0)],
        );
        let mut want = every(20_000, 20_000, 300_000);
        want.extend(every(620_000, 20_000, 980_000));
        assert_eq!(instants(&s, 0), want);
        let s = open(constant.clone(), 1, 1_000, vec![load(300, 0.0)]);
        assert_eq!(instants(&s, 0), every(10_000, 10_000, 300_000));
        // An idle gap from 200 ms to 400 ms: its instants skip to its end and go on from
        // there.
        let gap = Event::IdleGap {
            at_ms: 200,
            duration_ms: 200,
        };
        let s = open(constant, 2, 1_000, vec![gap]);
        let mut want = every(20_000, 20_000, 180_000);
        want.extend(every(420_000, 20_000, 980_000));
        assert_eq!(instants(&s, 0), want);
    }

    #[test]
    fn poisson_arrivals_are_thinned_to_the_rate_and_its_factor() {
        // One pod, 1,000/s for 500 ms, then 3,000/s: about 500 then 1,500 arrivals (bounds of
        // five standard deviations), none in the idle gap, none past the end.
        let poisson = Arrivals::Poisson {
            rate_per_sec: 1_000.0,
        };
        let gap = Event::IdleGap {
            at_ms: 900,
            duration_ms: 50,
        };
        for seed in 1..=4 {
            let mut s = open(poisson.clone(), 1, 1_000, vec![load(500, 3.0), gap.clone()]);
            s.seed = seed;
            let t = instants(&s, 0);
            assert!(t.windows(2).all(|w| w[0] < w[1]), "seed {seed}");
            assert!(t.iter().all(|&t| t < 1_000_000), "seed {seed}");
            assert!(
                !t.iter().any(|t| (900_000..950_000).contains(t)),
                "seed {seed}"
            );
            let first = t.iter().filter(|&&t| t < 500_000).count();
            let late = t
                .iter()
                .filter(|&&t| (500_000..900_000).contains(&t))
                .count();
            assert!(
                (390..=610).contains(&first),
                "seed {seed}: {first} before 500 ms"
            );
            assert!(
                (1_040..=1_360).contains(&late),
                "seed {seed}: {late} from 500 to 900 ms"
            );
            // Another seed, other instants; the same seed, the same ones.
            assert_eq!(instants(&s, 0), t);
            s.seed += 100;
            assert_ne!(instants(&s, 0), t);
        }
        // Two pods share the rate: about 250 each in the first 500 ms, 750 in the next.
        let s = open(poisson.clone(), 2, 1_000, vec![load(500, 3.0)]);
        for pod in 0..2 {
            let t = instants(&s, pod);
            let first = t.iter().filter(|&&t| t < 500_000).count();
            let late = t.len() - first;
            assert!(
                (170..=330).contains(&first),
                "pod {pod}: {first} before 500 ms"
            );
            assert!((610..=890).contains(&late), "pod {pod}: {late} after");
        }
        // A rate of zero throughout sends nothing, and says so at once.
        let s = open(Arrivals::Poisson { rate_per_sec: 0.0 }, 1, 1_000, vec![]);
        assert_eq!(instants(&s, 0), Vec::<u64>::new());
    }

    #[test]
    #[should_panic(
        expected = "load generator: an idle gap at 300 ms ends at 300 ms, not later (no progress)"
    )]
    fn a_wait_that_ends_at_once_fails_instead_of_spinning() {
        assert_eq!(later(300, 301, "an idle gap"), 301);
        later(300, 300, "an idle gap");
    }

    #[test]
    fn a_script_is_dealt_to_the_pods_in_turn_up_to_the_end() {
        let at = Arrivals::At {
            at_ms: vec![0, 5, 5, 700, 1_999, 2_000],
        };
        let s = open(at, 2, 2_000, vec![load(0, 3.0)]);
        assert_eq!(instants(&s, 0), vec![0, 5_000, 1_999_000]);
        // Its third instant is the run's end: not sent.
        assert_eq!(instants(&s, 1), vec![5_000, 700_000]);
    }

    #[test]
    fn the_candidate_rate_is_the_highest_rate_times_the_highest_factor_over_the_pods() {
        let bursts = Arrivals::Bursts {
            base_per_sec: 10.0,
            burst_per_sec: 400.0,
            burst_ms: 100,
            every_ms: 1_000,
        };
        let s = open(
            bursts.clone(),
            4,
            1_000,
            vec![load(100, 2.5), load(200, 0.5)],
        );
        let a = OpenArrivals::new(&s, &bursts, 7, 3, 42);
        assert_eq!(a.highest, 400.0 * 2.5 / 4.0);
        assert_eq!((a.t_us, a.index, a.pods, a.scripted), (42, 3, 4, 0));
        assert!(!a.constant);
        // The next load change after an instant, if any.
        assert_eq!(next_load_change(&s, 0), Some(100));
        assert_eq!(next_load_change(&s, 100), Some(200));
        assert_eq!(next_load_change(&s, 200), None);
        // A ramp over no time is at its end at once.
        let ramp = Arrivals::Ramp {
            from_per_sec: 1.0,
            to_per_sec: 9.0,
            over_ms: 0,
        };
        assert_eq!(rate_at(&ramp, 0), 9.0);
        assert_eq!(max_rate(&ramp), 9.0);
        assert_eq!(max_rate(&bursts), 400.0);
    }

    #[test]
    fn the_explorers_key_reads_every_field_of_the_arrivals() {
        let key = |a: &OpenArrivals| crate::fast::explore::key_of(|h| a.hash(h));
        let poisson = Arrivals::Poisson {
            rate_per_sec: 100.0,
        };
        let s = open(poisson.clone(), 2, 1_000, vec![]);
        let a = OpenArrivals::new(&s, &poisson, 0, 0, 0);
        let changed: [fn(&mut OpenArrivals); 7] = [
            |a| a.t_us += 1,
            |a| {
                a.rng.unit();
            },
            |a| a.highest *= 2.0,
            |a| a.constant = true,
            |a| a.index += 1,
            |a| a.pods += 1,
            |a| a.scripted += 1,
        ];
        for (i, change) in changed.iter().enumerate() {
            let mut b = a.clone();
            change(&mut b);
            assert_ne!(key(&a), key(&b), "field {i}");
        }
        assert_eq!(key(&a), key(&a.clone()));
    }

    #[test]
    fn mean_rates_are_requests_per_second_over_the_run() {
        let at = Arrivals::At {
            at_ms: vec![0, 1, 2, 3],
        };
        assert_eq!(at.mean_rate(2_000), 2.0);
        assert_eq!(at.mean_rate(0), 4_000.0);
        assert_eq!(Arrivals::Poisson { rate_per_sec: 7.0 }.mean_rate(1), 7.0);
        let b = Arrivals::Bursts {
            base_per_sec: 10.0,
            burst_per_sec: 110.0,
            burst_ms: 250,
            every_ms: 1_000,
        };
        assert_eq!(b.mean_rate(5_000), 35.0);
        let r = Arrivals::Ramp {
            from_per_sec: 1.0,
            to_per_sec: 9.0,
            over_ms: 10,
        };
        // 10 ms at 5 on average, 4,990 ms at 9.
        assert!((r.mean_rate(5_000) - (10.0 * 5.0 + 4_990.0 * 9.0) / 5_000.0).abs() < 1e-9);
        // Half the ramp: from 1 to 5, 3 on average.
        assert!((r.mean_rate(5) - 3.0).abs() < 1e-9);
        assert_eq!(rate_at(&at, 0), 0.0);
        assert_eq!(max_rate(&at), 0.0);
    }

    #[test]
    fn rates_follow_bursts_and_ramps() {
        let b = Arrivals::Bursts {
            base_per_sec: 10.0,
            burst_per_sec: 100.0,
            burst_ms: 200,
            every_ms: 1000,
        };
        assert_eq!(rate_at(&b, 100), 100.0);
        assert_eq!(rate_at(&b, 199), 100.0);
        // A burst ends at `burst_ms` into each period.
        assert_eq!(rate_at(&b, 200), 10.0);
        assert_eq!(rate_at(&b, 500), 10.0);
        assert_eq!(rate_at(&b, 1100), 100.0);
        let r = Arrivals::Ramp {
            from_per_sec: 0.0,
            to_per_sec: 100.0,
            over_ms: 1000,
        };
        assert_eq!(rate_at(&r, 500), 50.0);
        assert_eq!(rate_at(&r, 5000), 100.0);
        // From a rate above zero, down.
        let r = Arrivals::Ramp {
            from_per_sec: 110.0,
            to_per_sec: 10.0,
            over_ms: 1000,
        };
        assert_eq!(rate_at(&r, 0), 110.0);
        assert_eq!(rate_at(&r, 250), 85.0);
        assert_eq!(rate_at(&r, 1000), 10.0);
    }
}
