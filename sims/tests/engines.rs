//! The two engines agree: every built-in run shows the same signature on turmoil and on the
//! fast engine (its expectation met on both, the signature figures within a stated
//! tolerance), the fast engine's reports agree with the oracle's reading of its traces, and
//! its runs meet their expectations over a seed sweep. docs/architecture.md lists what each
//! engine models that the other does not; docs/performance.md the measured differences.

mod common;

use common::{both, differences};
use sims::{Engine, RunOptions, Scenario, run_on};

fn both_engines(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    let mut bad = Vec::new();
    for s in incident.scenarios(incident.default_seed) {
        assert!(sims::fast::supports(&s).is_ok(), "{}", s.name);
        let (t, f) = both(&s);
        for (e, r) in [("turmoil", &t), ("fast", &f)] {
            if !r.expectation_met {
                bad.push(format!("{}: {e}: {}", s.name, r.verdict));
            }
        }
        for d in differences(&t, &f) {
            bad.push(format!("{}: {d}", s.name));
        }
    }
    assert!(
        bad.is_empty(),
        "the engines disagree:\n  {}\nreplay: cargo run --release -p sims --example engines {}",
        bad.join("\n  "),
        incident.name
    );
}

#[test]
fn stale_eof_shows_the_same_signature_on_both_engines() {
    both_engines("stale-eof");
}

#[test]
fn explosion_shows_the_same_signature_on_both_engines() {
    both_engines("explosion");
}

#[test]
fn cascade_shows_the_same_signature_on_both_engines() {
    both_engines("cascade");
}

/// A failover run's signature: the common figures, READONLY errors, and the topology's
/// figures (switches, the first one's instant, split-brain writes, lost slots).
fn failover_figures(r: &sims::Run) -> Vec<(&'static str, f64)> {
    let mut f = common::figures(&r.report);
    f.push(("errors.readonly", r.report.errors.readonly as f64));
    for m in [
        "failovers",
        "first_switch_ms",
        "split_brain_writes",
        "retries_to_old_master",
        "leaked_slots",
    ] {
        f.push((m, r.metrics.get(m)));
    }
    f
}

/// The median of each figure over `runs` (all with the same figure names).
fn medians(runs: &[Vec<(&'static str, f64)>]) -> Vec<(&'static str, f64)> {
    (0..runs[0].len())
        .map(|i| {
            let mut v: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
            v.sort_by(f64::total_cmp);
            (runs[0][i].0, v[v.len() / 2])
        })
        .collect()
}

/// Every failover run (replicas, a Sentinel, each client's discovery, the hang) meets its
/// expectation on both engines with the same signature, switches, split-brain writes,
/// retries to the old master and lost slots included.
///
/// `slot-leak-8.0` is compared by the medians of seeds 1 to 9: how many slots leak is decided
/// by which connections are checked out at the instant a pool learns the new master, a
/// same-instant race whose outcome moves from seed to seed on each engine (its "Too many
/// connections" span 281 to 1,379 on turmoil over seven seeds, 163 to 1,602 on the fast
/// engine), so one seed's figures are not a comparison.
#[test]
fn failover_shows_the_same_signature_on_both_engines() {
    let incident = sims::incidents::by_name("failover").unwrap();
    let mut bad = Vec::new();
    for s in incident.scenarios(incident.default_seed) {
        assert!(sims::fast::supports(&s).is_ok(), "{}", s.name);
        let seeds: Vec<u64> = if s.name == "slot-leak-8.0" {
            (1..=9).collect()
        } else {
            vec![s.seed]
        };
        let (mut t, mut f) = (Vec::new(), Vec::new());
        for seed in seeds {
            let mut s = s.clone();
            s.seed = seed;
            for (e, engine, out) in [
                ("turmoil", Engine::Turmoil, &mut t),
                ("fast", Engine::Fast, &mut f),
            ] {
                let r = run_on(engine, &s, &RunOptions::default()).unwrap();
                if !r.report.expectation_met {
                    bad.push(format!("{} seed {seed}: {e}: {}", s.name, r.report.verdict));
                }
                out.push(failover_figures(&r));
            }
        }
        for ((name, a), (_, b)) in medians(&t).into_iter().zip(medians(&f)) {
            if !common::close(a, b) {
                bad.push(format!("{}: {name} turmoil {a} fast {b}", s.name));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the engines disagree:\n  {}\nreplay: cargo run --release -p sims --example engines failover",
        bad.join("\n  ")
    );
}

#[test]
fn the_fast_engine_agrees_with_the_oracle() {
    for incident in sims::incidents::ALL {
        for seed in [incident.default_seed, 11] {
            for s in incident.scenarios(seed) {
                if sims::fast::supports(&s).is_err() {
                    continue; // one engine only (none today; the oracle test covers turmoil)
                }
                common::oracle_check(Engine::Fast, &s);
            }
        }
    }
}

/// Every built-in run meets its expectation on the fast engine for seeds 1..=20.
#[test]
fn every_built_in_run_holds_its_expectation_on_the_fast_engine_over_20_seeds() {
    let mut failed = Vec::new();
    for incident in sims::incidents::ALL {
        for seed in 1..=20 {
            for s in incident.scenarios(seed) {
                if sims::fast::supports(&s).is_err() {
                    continue; // one engine only (none today; tests/incidents.rs sweeps turmoil)
                }
                let r = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
                if !r.report.expectation_met {
                    failed.push(format!(
                        "{}/{} seed {seed}: {}; replay: cargo run --release -p poolsim -- \
                         replay {} --seed {seed} --engine fast",
                        incident.name, s.name, r.report.verdict, incident.name
                    ));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The worked examples of `examples/scenarios/` (events, latency spikes, load changes, server
/// timeouts) meet their expectation on both engines, with close figures.
#[test]
fn the_example_scenarios_agree_on_both_engines() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let s = Scenario::from_toml(&std::fs::read_to_string(f).unwrap()).unwrap();
        let (t, fast) = both(&s);
        for (e, r) in [("turmoil", &t), ("fast", &fast)] {
            if !r.expectation_met {
                bad.push(format!("{}: {e}: {}", f.display(), r.verdict));
            }
        }
        for d in differences(&t, &fast) {
            bad.push(format!("{}: {d}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Arbitrary scenarios (`sims::strategy::scenario`: up to 3 tiers, any profile and knob, a
/// client library or none, closed or open load, restarts, kills, CONFIG SET, refused
/// connections, latency, load and stall events), 100 of them from a fixed seed, on both
/// engines: every one violates the same invariants on both (usually none), and at least 90 %
/// show close signature figures. Measured: 97 of 100 close since stalls and clients joined
/// the strategy (98 of another 100 before). The others are overloaded scenarios where a race
/// moves (a 1,112 against 745 refused connects; 115 pool timeouts against 74). Adding stalls
/// found a third gap, fixed in the fake's shell: a client killed (or restarted) while its
/// reply waited for the handshake, a stall or the command latency was closed only when the
/// wait ended; it is now closed at once, as the fast engine did. The first comparison found
/// two modelling gaps, both fixed: the fake's shell reads a client's FIN only
/// after its pending write (the handshake's or the command's latency), so a client whose
/// connect timed out stays connected until then; and a caller learns that its connection to a
/// later tier is up one step after the SYN arrives (turmoil's host order)
/// (docs/architecture.md, "The two engines"). Why the fuzzer re-runs every shrunk failure on
/// turmoil.
#[test]
fn arbitrary_scenarios_agree_on_both_engines() {
    let strategy = sims::strategy::scenario(&sims::strategy::ScenarioBounds::default());
    arbitrary_scenarios_agree("arbitrary scenarios", &strategy, 7, 100, |r| {
        common::figures(&r.report)
    });
}

/// Arbitrary failover scenarios (`sims::strategy::failover_scenario`: the arbitrary
/// scenarios above with replicas and a Sentinel, a client pinned, asking Sentinel or
/// following `+switch-master`, sometimes with redis-py's retry in place, and a crash, a hang
/// or a planned failover), 40 from a fixed seed, on both engines: every one violates the same
/// invariants on both, and at least 90 % show close figures, the topology's included
/// (switches, the first one's instant, split-brain writes, retries to the old master, lost
/// slots). Measured: 38 of 40. In the two others the traces are the same until a
/// same-instant race after the hang or under overload moves which connection a request gets
/// (case 14: redis-py 8.0 then loses other slots, 761 requests against 636; case 37: 3,380
/// refused connects against 2,936).
#[test]
fn arbitrary_failover_scenarios_agree_on_both_engines() {
    let strategy = sims::strategy::failover_scenario(&sims::strategy::ScenarioBounds::default());
    arbitrary_scenarios_agree(
        "arbitrary failover scenarios",
        &strategy,
        11,
        40,
        failover_figures,
    );
}

/// Runs `n` scenarios drawn from `strategy` (seed `seed`) on both engines: each must violate
/// the same invariants on both, and at most a tenth may differ on a `figures` beyond
/// [`common::close`].
fn arbitrary_scenarios_agree(
    what: &str,
    strategy: &proptest::strategy::BoxedStrategy<Scenario>,
    seed: u8,
    n: usize,
    figures: fn(&sims::Run) -> Vec<(&'static str, f64)>,
) {
    let mut far = Vec::new();
    for (i, s) in drawn(strategy, seed, n).into_iter().enumerate() {
        let t = run_on(Engine::Turmoil, &s, &RunOptions::default()).unwrap();
        let f = run_on(Engine::Fast, &s, &RunOptions::default()).unwrap();
        let names = |r: &sims::Run| -> Vec<String> {
            r.report
                .invariant_violations
                .iter()
                .map(|v| v.invariant.clone())
                .collect()
        };
        assert_eq!(
            names(&t),
            names(&f),
            "case {i}: the engines violate different invariants:\n{}",
            s.to_toml()
        );
        let d: Vec<String> = figures(&t)
            .into_iter()
            .zip(figures(&f))
            .filter(|((_, a), (_, b))| !common::close(*a, *b))
            .map(|((name, a), (_, b))| format!("{name} turmoil {a} fast {b}"))
            .collect();
        if !d.is_empty() {
            far.push(format!("case {i}: {d:?}"));
        }
    }
    at_most_a_tenth_differ(what, n, &far);
}

/// Prints which of `n` cases of `what` differ (`far`), and requires at most a tenth to.
fn at_most_a_tenth_differ(what: &str, n: usize, far: &[String]) {
    eprintln!("{} of {n} {what} differ:\n{}", far.len(), far.join("\n"));
    assert!(
        far.len() * 10 <= n,
        "{} of {n} {what} differ:\n{}",
        far.len(),
        far.join("\n")
    );
}

/// `n` scenarios drawn from `strategy` by a generator seeded with `seed` (repeated): the same
/// draws in every process.
fn drawn(
    strategy: &proptest::strategy::BoxedStrategy<Scenario>,
    seed: u8,
    n: usize,
) -> Vec<Scenario> {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}
