//! Every number is pinned: for the default seed of every built-in run, the whole `Report` is
//! an `insta` snapshot (`tests/snapshots/pinned__<incident>-<scenario>.snap`), with the
//! `timeline` replaced by a digest (its length, an FNV-1a hash of its samples, the first and
//! last sample and each column's maximum). Any change of behaviour is a diff someone has to
//! read and accept (`cargo insta review`, or `INSTA_UPDATE=always` and `git diff`).
//!
//! The scenarios themselves and the fixes' claims are pinned too, as data
//! (`pinned__scenario-*.snap`, `pinned__claims-*.snap`).
//!
//! The same runs are checked against the oracle (`sims::oracle`): every figure it re-derives
//! from the trace must equal the report's (`tests/oracle.rs` sweeps other seeds).

mod common;

use common::timeline_digest;
use sims::oracle::{Steps, derive_steps, disagreements};
use sims::{CorePoolFactory, RunOptions, run_with};

fn pin(incident: &str) {
    let incident = sims::incidents::by_name(incident).unwrap();
    let opts = RunOptions {
        keep_trace: true,
        replay: incident.replay_command(incident.default_seed).replace(
            &format!("--seed {}", incident.default_seed),
            "--seed {seed}",
        ),
        ..sims::RunOptions::default()
    };
    for s in incident.scenarios(incident.default_seed) {
        let run = run_with(&s, CorePoolFactory, &opts).unwrap();
        let mut v = serde_json::to_value(&run.report).unwrap();
        let timeline = v.as_object_mut().unwrap().remove("timeline").unwrap();
        assert_eq!(
            timeline,
            serde_json::to_value(&run.report.timeline).unwrap()
        );
        v["timeline"] = timeline_digest(&run.report.timeline);
        insta::assert_snapshot!(
            format!("{}-{}", incident.name, s.name),
            serde_json::to_string_pretty(&v).unwrap()
        );
        let steps = Steps::of(&s, sims::Engine::Turmoil);
        let figures = derive_steps(run.trace.iter().map(String::as_str), steps).unwrap();
        let bad = disagreements(&run.report, run.metrics.get("retries") as u64, &figures);
        assert!(
            bad.is_empty(),
            "{}/{}: the report and the trace disagree:\n  {}",
            incident.name,
            s.name,
            bad.join("\n  ")
        );
    }
}

#[test]
fn stale_eof_is_pinned_and_agrees_with_the_oracle() {
    pin("stale-eof");
}

#[test]
fn explosion_is_pinned_and_agrees_with_the_oracle() {
    pin("explosion");
}

#[test]
fn cascade_is_pinned_and_agrees_with_the_oracle() {
    pin("cascade");
}

#[test]
fn failover_is_pinned_and_agrees_with_the_oracle() {
    pin("failover");
}

#[test]
fn hung_server_is_pinned_and_agrees_with_the_oracle() {
    pin("hung-server");
}

/// The built-in runs as data: every scenario at its incident's default seed, as the TOML a
/// scenario file holds (`tests/snapshots/pinned__scenario-<incident>-<scenario>.snap`), and
/// every fix's claims (`pinned__claims-<incident>.snap`). A knob that does not move the
/// default seed's report (a `maxclients` no run reaches, a retry count no request uses up) is
/// still part of the run: another seed, a fuzz case or the explorer reaches it, so changing
/// it is a diff to read like a report's.
#[test]
fn every_built_in_scenario_and_claim_is_pinned_as_data() {
    for incident in &sims::incidents::ALL {
        for s in incident.scenarios(incident.default_seed) {
            insta::assert_snapshot!(
                format!("scenario-{}-{}", incident.name, s.name),
                s.to_toml()
            );
        }
        insta::assert_snapshot!(
            format!("claims-{}", incident.name),
            serde_json::to_string_pretty(&incident.claims()).unwrap()
        );
    }
}

#[test]
fn every_incident_is_pinned() {
    // A new incident needs its own test above.
    let names: Vec<&str> = sims::incidents::ALL.iter().map(|i| i.name).collect();
    assert_eq!(
        names,
        [
            "stale-eof",
            "explosion",
            "cascade",
            "failover",
            "hung-server"
        ]
    );
}
