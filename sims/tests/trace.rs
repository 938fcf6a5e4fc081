//! The trace lets an engineer follow one request and one connection through a run, and its
//! hash is the hash of its lines.

use serde_json::Value;
use sims::RunOptions;
use sims::trace::hash_lines;

#[test]
fn the_trace_follows_an_eof_request_and_its_connection() {
    let inc = sims::incidents::by_name("stale-eof").unwrap();
    let buggy = inc.scenarios(3).remove(0);
    let run = sims::run_with(&buggy, sims::CorePoolFactory, &inc.run_options(true)).unwrap();
    let lines: Vec<Value> = run
        .trace
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        run.report.trace_hash,
        format!("{:016x}", hash_lines(run.trace.iter().map(String::as_str)))
    );
    // Lines are in the order things ran: turmoil runs one host after the other for each tick,
    // so time never goes backwards within a host (across hosts, by less than a tick).
    let tick_us = buggy.tick_ms * 1000;
    let mut last: std::collections::BTreeMap<String, u64> = Default::default();
    let mut latest = 0;
    for v in &lines {
        let (host, t) = (v["host"].as_str().unwrap(), v["t_us"].as_u64().unwrap());
        let prev = last.insert(host.to_owned(), t).unwrap_or(0);
        assert!(t >= prev, "{host} went back in time: {v}");
        assert!(t + tick_us >= latest, "more than a tick out of order: {v}");
        latest = latest.max(t);
    }
    // The first request that failed: its start, its connection, the error, its end.
    let failed = lines
        .iter()
        .find(|v| v["event"] == "request.end" && v["outcome"] == "eof")
        .expect("an EOF request");
    let req = failed["req"].as_str().unwrap();
    let of_req: Vec<&str> = lines
        .iter()
        .filter(|v| v["req"] == req)
        .map(|v| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        of_req,
        [
            "request.start",
            "request.conn",
            "request.cmd_error",
            "request.end"
        ],
        "{req}"
    );
    let conn = lines
        .iter()
        .find(|v| v["req"] == req && v["event"] == "request.conn")
        .unwrap()["conn"]
        .as_u64()
        .unwrap();
    let of_conn: Vec<String> = lines
        .iter()
        .filter(|v| v["conn"] == conn && v["event"].as_str().unwrap().starts_with("pool."))
        .map(|v| {
            format!(
                "{} {}",
                v["event"].as_str().unwrap(),
                v["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        of_conn,
        ["pool.connect ", "pool.close Broken"],
        "conn {conn}"
    );
    assert!(lines.iter().any(
        |v| v["event"] == "server.event" && v["what"].as_str().unwrap().starts_with("idle gap")
    ));
    assert_eq!(lines.last().unwrap()["event"], "run.end");
    // Without keep_trace the lines are not kept but the hash is the same.
    let again = sims::run_with(&buggy, sims::CorePoolFactory, &RunOptions::default()).unwrap();
    assert!(again.trace.is_empty());
    assert_eq!(again.report.trace_hash, run.report.trace_hash);
}
