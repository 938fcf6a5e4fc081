//! Every file of `sims/regressions/` (failures `poolsim fuzz` found, shrunk and kept, and the
//! counterexamples `poolsim explore --write` wrote, `explore-*.toml`) replayed
//! on turmoil as `poolsim run FILE` does, with its expected outcome: a claim failure's file
//! must say "reproduced" (its `expect` is the broken claim); an invariant failure's file must
//! violate the invariant its `# Failure (...)` line names; a harness false alarm since fixed
//! (`# Failure (fixed)`) must run clean. docs/fuzzing.md tells each story.

use sims::{CorePoolFactory, RunOptions, Scenario};

#[test]
fn every_regression_file_replays_with_its_expected_outcome() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression files in {}",
        dir.display()
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let failure = text
            .lines()
            .find_map(|l| l.strip_prefix("# Failure ("))
            .unwrap_or_else(|| panic!("{}: no '# Failure (' line", f.display()));
        let run = sims::run_with(&s, CorePoolFactory, &RunOptions::default()).unwrap();
        if failure.starts_with("fixed)") {
            assert!(
                run.report.invariant_violations.is_empty(),
                "{}: fixed, yet: {:?}",
                f.display(),
                run.report.invariant_violations
            );
        } else if failure.starts_with("claim)") {
            assert!(
                run.report.expectation_met && run.report.verdict.starts_with("reproduced"),
                "{}: {}",
                f.display(),
                run.report.verdict
            );
        } else {
            // "safety): server.idle_timeout at ..."
            let invariant = failure
                .split_once("): ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap();
            assert!(
                run.report
                    .invariant_violations
                    .iter()
                    .any(|v| v.invariant == invariant),
                "{}: expected {invariant}, got {:?}",
                f.display(),
                run.report.invariant_violations
            );
        }
    }
}
