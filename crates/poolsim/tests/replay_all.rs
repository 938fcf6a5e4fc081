//! `poolsim replay all` is pinned: its whole text output (seed, tables, verdicts, timelines)
//! and its JSON (one document per incident) are `insta` snapshots
//! (`tests/snapshots/replay_all__*.snap`), so a change in any number or any line of the
//! output is a diff someone has to read and accept.

use assert_cmd::Command;

fn replay_all(args: &[&str]) -> String {
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .args(["replay", "all"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stderr, "",
        "nothing on stderr when every run meets its expectation"
    );
    stdout
}

#[test]
fn replay_all_text_is_pinned() {
    insta::assert_snapshot!("text", replay_all(&[]));
}

#[test]
fn replay_all_json_is_pinned() {
    let out = replay_all(&["--json"]);
    // One document per incident, one per line: pinned pretty-printed, so a diff names the
    // field.
    let docs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), sims::incidents::ALL.len());
    for doc in docs {
        let name = format!("json-{}", doc["incident"].as_str().unwrap());
        insta::assert_snapshot!(name, serde_json::to_string_pretty(&doc).unwrap());
    }
}
