//! Seed sweeps: every seed of a range, every run of an incident (or one scenario file's run),
//! in parallel over threads, then a summary that does not depend on how the seeds were split.
//!
//! A sweep is a list of [`Outcome`]s, one per (seed, run). [`Summary::of`] sorts them and
//! computes the summary from them alone, so the outcomes of shards (`--shard K/N`: every N-th
//! seed) merged with [`merge`] give exactly the summary of one sweep over all the seeds.

use crate::report::Metrics;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A range of seeds, `A..B` inclusive of both ends, as `poolsim sweep --seeds 1..1000` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    /// First seed.
    pub first: u64,
    /// Last seed (inclusive).
    pub last: u64,
}

impl std::str::FromStr for Seeds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad seed range '{s}'; A..B with A <= B, both inclusive (1..1000)");
        let (a, b) = s.split_once("..").ok_or_else(bad)?;
        let first: u64 = a.trim().parse().map_err(|_| bad())?;
        let last: u64 = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

/// `K/N`: the K-th of N shards (K from 1), every N-th seed starting at the K-th.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, 1..=`of`.
    pub index: u64,
    /// How many shards.
    pub of: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad shard '{s}'; K/N with 1 <= K <= N (2/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let of: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || of == 0 || index > of {
            return Err(bad());
        }
        Ok(Self { index, of })
    }
}

impl Seeds {
    /// The seeds of the range that belong to `shard` (all of them without one), in order.
    #[must_use]
    pub fn of_shard(&self, shard: Option<Shard>) -> Vec<u64> {
        let (skip, step) = shard.map_or((0, 1), |s| (s.index - 1, s.of));
        (self.first..=self.last)
            .skip(skip as usize)
            .step_by(step as usize)
            .collect()
    }
}

/// One run of one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The run's position in its incident (0: the buggy one).
    pub index: usize,
    /// The run's name.
    pub scenario: String,
    /// Whether it met its expectation.
    pub met: bool,
    /// Its verdict line.
    pub verdict: String,
    /// Its signature figures: the metrics its checks name, plus `requests` and
    /// `errors.total`.
    pub figures: BTreeMap<String, f64>,
}

/// Runs every scenario `build(seed)` returns for every seed, on `jobs` threads; `done` is
/// called after each run (for a progress bar). The outcomes come back sorted by seed and run.
pub fn run(
    seeds: &[u64],
    build: &(dyn Fn(u64) -> Vec<Scenario> + Sync),
    jobs: usize,
    engine: crate::Engine,
    done: &(dyn Fn(&Outcome) + Sync),
) -> Result<Vec<Outcome>, String> {
    let work: Vec<(u64, usize, Scenario)> = seeds
        .iter()
        .flat_map(|&seed| {
            build(seed)
                .into_iter()
                .enumerate()
                .map(move |(i, s)| (seed, i, s))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Outcome>> = Mutex::new(Vec::with_capacity(work.len()));
    let error: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((seed, index, s)) = work.get(k) else {
                        break;
                    };
                    match crate::run_on(engine, s, &crate::RunOptions::default()) {
                        Ok(r) => {
                            let o = outcome(*seed, *index, s, &r);
                            done(&o);
                            lock(&out).push(o);
                        }
                        Err(e) => {
                            lock(&error).get_or_insert(format!("{} seed {seed}: {e}", s.name));
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&error).take() {
        return Err(e);
    }
    let mut v = std::mem::take(&mut *lock(&out));
    v.sort_by_key(|o| (o.seed, o.index));
    Ok(v)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The outcome of `run` for `scenario`.
#[must_use]
pub fn outcome(seed: u64, index: usize, scenario: &Scenario, run: &crate::Run) -> Outcome {
    let mut figures = BTreeMap::new();
    let mut put = |name: &str, m: &Metrics| {
        figures.insert(name.to_owned(), m.get(name));
    };
    put("requests", &run.metrics);
    put("errors.total", &run.metrics);
    for c in &scenario.expect.checks {
        put(&c.metric, &run.metrics);
    }
    Outcome {
        seed,
        index,
        scenario: scenario.name.clone(),
        met: run.report.expectation_met,
        verdict: run.report.verdict.clone(),
        figures,
    }
}

/// Min, median and max of a figure over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median (the lower middle value for an even count).
    pub median: f64,
    /// Largest.
    pub max: f64,
}

/// One run name's results over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's name.
    pub scenario: String,
    /// Seeds run.
    pub runs: u64,
    /// Seeds whose run met its expectation.
    pub met: u64,
    /// Each signature figure's spread.
    pub figures: BTreeMap<String, Spread>,
    /// Seeds whose run did not meet its expectation.
    pub failing_seeds: Vec<u64>,
}

/// The summary of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Runs (seeds x runs per seed).
    pub runs: u64,
    /// Runs that met their expectation.
    pub met: u64,
    /// Per run name, in the incident's order.
    pub per_run: Vec<RunSummary>,
}

impl Summary {
    /// The summary of `outcomes` (any order, any split into shards).
    #[must_use]
    pub fn of(outcomes: &[Outcome]) -> Self {
        let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
        sorted.sort_by_key(|o| (o.index, o.seed));
        let mut per_run: Vec<RunSummary> = Vec::new();
        let mut values: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
        for o in sorted {
            if per_run.last().is_none_or(|r| r.scenario != o.scenario) {
                per_run.push(RunSummary {
                    scenario: o.scenario.clone(),
                    runs: 0,
                    met: 0,
                    figures: BTreeMap::new(),
                    failing_seeds: Vec::new(),
                });
                values.push(BTreeMap::new());
            }
            let (r, v) = (
                per_run.last_mut().expect("just pushed"),
                values.last_mut().expect("just pushed"),
            );
            r.runs += 1;
            if o.met {
                r.met += 1;
            } else {
                r.failing_seeds.push(o.seed);
            }
            for (k, x) in &o.figures {
                v.entry(k.clone()).or_default().push(*x);
            }
        }
        for (r, v) in per_run.iter_mut().zip(values) {
            r.figures = v
                .into_iter()
                .map(|(k, mut xs)| {
                    xs.sort_by(f64::total_cmp);
                    let spread = Spread {
                        min: xs[0],
                        median: xs[(xs.len() - 1) / 2],
                        max: xs[xs.len() - 1],
                    };
                    (k, spread)
                })
                .collect();
        }
        Self {
            runs: outcomes.len() as u64,
            met: outcomes.iter().filter(|o| o.met).count() as u64,
            per_run,
        }
    }
}

/// The `--json` document of a sweep (or of a shard of one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The incident's name or the scenario file's path.
    pub target: String,
    /// The seed range.
    pub seeds: Seeds,
    /// The shard this document covers (`None`: every seed of the range, or a merge).
    pub shard: Option<Shard>,
    /// The engine the runs ran on (`turmoil` when absent: documents from before the fast
    /// engine).
    #[serde(default)]
    pub engine: crate::Engine,
    /// The command that replays a seed, with `{seed}` for it.
    pub replay: String,
    /// Every run's outcome, sorted by seed and run.
    pub outcomes: Vec<Outcome>,
    /// The summary of `outcomes`.
    pub summary: Summary,
}

/// Merges shard documents of one sweep into the document of one sweep over all their seeds.
/// They must have the same target and range, and no seed twice.
pub fn merge(docs: Vec<Document>) -> Result<Document, String> {
    let Some(first) = docs.first() else {
        return Err("nothing to merge".to_owned());
    };
    let (target, seeds, replay) = (first.target.clone(), first.seeds, first.replay.clone());
    let engine = first.engine;
    let mut outcomes = Vec::new();
    for d in docs {
        if d.target != target || d.seeds != seeds {
            return Err(format!(
                "cannot merge a sweep of {} seeds {}..{} with one of {} seeds {}..{}",
                d.target, d.seeds.first, d.seeds.last, target, seeds.first, seeds.last
            ));
        }
        if d.engine != engine {
            return Err(format!(
                "cannot merge a sweep run on {} with one run on {engine}",
                d.engine
            ));
        }
        outcomes.extend(d.outcomes);
    }
    outcomes.sort_by_key(|o| (o.seed, o.index));
    if let Some(w) = outcomes
        .windows(2)
        .find(|w| (w[0].seed, w[0].index) == (w[1].seed, w[1].index))
    {
        return Err(format!(
            "seed {} of {} is in two of the files (the same shard twice?)",
            w[0].seed, w[0].scenario
        ));
    }
    let summary = Summary::of(&outcomes);
    Ok(Document {
        target,
        seeds,
        shard: None,
        engine,
        replay,
        outcomes,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_shards_parse_and_split_the_seeds() {
        let s: Seeds = "1..10".parse().unwrap();
        assert_eq!(s.of_shard(None), (1..=10).collect::<Vec<_>>());
        let k: Shard = "2/4".parse().unwrap();
        assert_eq!(s.of_shard(Some(k)), vec![2, 6, 10]);
        let mut all: Vec<u64> = (1..=4)
            .flat_map(|i| s.of_shard(Some(Shard { index: i, of: 4 })))
            .collect();
        all.sort_unstable();
        assert_eq!(all, s.of_shard(None));
        assert!("5..1".parse::<Seeds>().is_err());
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Seeds>().is_err());
    }

    #[test]
    fn a_one_seed_range_and_the_last_shard_are_valid() {
        let s: Seeds = "7..7".parse().unwrap();
        assert_eq!(s.of_shard(None), vec![7]);
        let k: Shard = "4/4".parse().unwrap();
        assert_eq!(k, Shard { index: 4, of: 4 });
        let s: Seeds = "1..=8".parse().unwrap();
        assert_eq!(s.of_shard(Some(k)), vec![4, 8]);
    }

    fn o(seed: u64, index: usize, met: bool, x: f64) -> Outcome {
        Outcome {
            seed,
            index,
            scenario: format!("run{index}"),
            met,
            verdict: String::new(),
            figures: [("errors.total".to_owned(), x)].into_iter().collect(),
        }
    }

    #[test]
    fn the_summary_does_not_depend_on_the_order_or_the_split() {
        let all = vec![
            o(1, 0, true, 3.0),
            o(1, 1, true, 0.0),
            o(2, 0, false, 1.0),
            o(2, 1, true, 0.0),
            o(3, 0, true, 5.0),
            o(3, 1, true, 0.0),
        ];
        let s = Summary::of(&all);
        assert_eq!((s.runs, s.met), (6, 5));
        assert_eq!(s.per_run[0].failing_seeds, vec![2]);
        assert_eq!(
            s.per_run[0].figures["errors.total"],
            Spread {
                min: 1.0,
                median: 3.0,
                max: 5.0
            }
        );
        let mut rev = all.clone();
        rev.reverse();
        assert_eq!(Summary::of(&rev), s);
        let doc = |outcomes: Vec<Outcome>| Document {
            target: "t".into(),
            seeds: Seeds { first: 1, last: 3 },
            shard: None,
            engine: crate::Engine::Turmoil,
            replay: String::new(),
            summary: Summary::of(&outcomes),
            outcomes,
        };
        let merged = merge(vec![doc(all[2..].to_vec()), doc(all[..2].to_vec())]).unwrap();
        assert_eq!(merged.summary, s);
        assert_eq!(merged.outcomes, all);
        assert!(merge(vec![doc(all.clone()), doc(all[..2].to_vec())]).is_err());
    }

    #[test]
    fn each_run_counts_its_seeds_and_an_even_count_takes_the_lower_median() {
        let all = vec![
            o(1, 0, true, 4.0),
            o(1, 1, true, 0.0),
            o(2, 0, false, 1.0),
            o(2, 1, false, 0.0),
        ];
        let s = Summary::of(&all);
        let counts: Vec<(u64, u64)> = s.per_run.iter().map(|r| (r.runs, r.met)).collect();
        assert_eq!(counts, vec![(2, 1), (2, 1)]);
        assert_eq!(
            s.per_run[0].figures["errors.total"],
            Spread {
                min: 1.0,
                median: 1.0,
                max: 4.0
            }
        );
    }

    #[test]
    fn a_merge_refuses_another_target_or_another_range() {
        let doc = |target: &str, last: u64| Document {
            target: target.into(),
            seeds: Seeds { first: 1, last },
            shard: None,
            engine: crate::Engine::Turmoil,
            replay: String::new(),
            summary: Summary::of(&[]),
            outcomes: Vec::new(),
        };
        assert!(merge(vec![doc("a", 3), doc("a", 3)]).is_ok());
        let other_target = merge(vec![doc("a", 3), doc("b", 3)]).unwrap_err();
        assert!(
            other_target.contains("cannot merge a sweep of b"),
            "{other_target}"
        );
        assert!(merge(vec![doc("a", 3), doc("a", 4)]).is_err());
    }
}
