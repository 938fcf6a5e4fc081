//! `poolsim replay INCIDENT --pool P...`: every scenario of an incident with each pool, one
//! table across pools, each cell measured by its own run.
//!
//! Rows: the incident's scenarios (the buggy one first, then the fixes), each run with the
//! scenario's knobs mapped onto the pool (`Knobs::Mapped`), then `defaults`: the buggy
//! scenario with the pool's own defaults (`Knobs::CrateDefaults`; for `ours`, the
//! `recommended` profile). A cell says whether the run did what the scenario expects of it
//! (`reproduced` / `held`, or `NOT reproduced` / `NOT held`) with the errors it saw; `*`
//! marks a run where the pool lacks a knob of the scenario. Below the table, every finding
//! once per pool, with the rows it came from.

use crate::{Pools, ReplayArgs, usage_error};
use serde::Serialize;
use sims::pools::{Knobs, PoolChoice};
use sims::report::Finding;
use sims::run_pool;
use sims::scenario::Outcome;
use sims::{Report, RunOptions, Scenario};
use std::process::ExitCode;

/// One row of the table.
struct Row {
    name: String,
    scenario: Scenario,
    knobs: Knobs,
}

/// One cell.
#[derive(Serialize)]
struct Cell {
    pool: String,
    row: String,
    report: Report,
}

#[derive(Serialize)]
struct Document<'a> {
    incident: &'a str,
    seed: u64,
    cells: &'a [Cell],
}

fn cell_text(s: &Scenario, knobs: Knobs, r: &Report) -> String {
    let word = if !r.invariant_violations.is_empty() {
        "VIOLATION".to_owned()
    } else if knobs == Knobs::CrateDefaults {
        // The buggy load on the pool's defaults: does the incident happen at all?
        if r.expectation_met {
            "incident".to_owned()
        } else {
            "no incident".to_owned()
        }
    } else {
        match (s.expect.outcome, r.expectation_met, knobs) {
            (Outcome::Reproduces, true, _) => "reproduced".to_owned(),
            (Outcome::Reproduces, false, _) => "NOT reproduced".to_owned(),
            (Outcome::Holds, true, _) => "held".to_owned(),
            (Outcome::Holds, false, _) => "NOT held".to_owned(),
            (Outcome::Either, _, _) => "ran".to_owned(),
        }
    };
    let lacks = r.findings.iter().any(|f| f.code.starts_with("knob."));
    format!(
        "{word}{}: {}",
        if lacks { "*" } else { "" },
        r.errors.summary()
    )
}

pub(crate) fn main(a: &ReplayArgs) -> ExitCode {
    if !a.profile.is_empty() {
        return usage_error("--pool and --profile do not combine; use --pool ours:<profile>");
    }
    if a.out.trace.is_some() || a.out.plot.is_some() || a.save_scenarios.is_some() {
        return usage_error(
            "--pool prints a table across pools (or --json); --trace, --plot and \
             --save-scenarios take one pool: drop --pool",
        );
    }
    if a.out.engine != sims::Engine::Turmoil {
        return usage_error(
            "--pool runs the real crates, on turmoil only; the fast engine runs this project's \
             pool: drop --engine fast",
        );
    }
    let pools = Pools::expand(&a.pool);
    let mut ours_failed = Vec::new();
    for (n, incident) in a.incident.incidents().into_iter().enumerate() {
        let seed = a.seed.unwrap_or(incident.default_seed);
        let scenarios = incident.scenarios(seed);
        let mut rows: Vec<Row> = scenarios
            .iter()
            .map(|s| Row {
                name: s.name.clone(),
                scenario: s.clone(),
                knobs: Knobs::Mapped,
            })
            .collect();
        rows.push(Row {
            name: "defaults".to_owned(),
            scenario: scenarios[0].clone(),
            knobs: Knobs::CrateDefaults,
        });
        let replay = format!(
            "cargo run --release -p poolsim -- replay {} --seed {seed}{}",
            incident.name,
            pools
                .iter()
                .map(|p| format!(" --pool {}", p.name()))
                .collect::<String>()
        );
        let opts = RunOptions {
            keep_trace: false,
            replay: replay.replace(&format!("--seed {seed}"), "--seed {seed}"),
            ..sims::RunOptions::default()
        };
        let mut cells: Vec<Cell> = Vec::new();
        for p in &pools {
            for row in &rows {
                let run = match run_pool(&row.scenario, p, row.knobs, &opts) {
                    Ok(r) => r,
                    Err(e) => {
                        return usage_error(&format!(
                            "{}/{} with {}: {e}",
                            incident.name,
                            row.name,
                            p.name()
                        ));
                    }
                };
                let is_ours = matches!(p, PoolChoice::Ours | PoolChoice::OursProfile(_));
                if is_ours && row.knobs == Knobs::Mapped && !run.report.expectation_met {
                    ours_failed.push(format!("{}/{} ({})", incident.name, row.name, p.name()));
                }
                cells.push(Cell {
                    pool: p.name(),
                    row: row.name.clone(),
                    report: run.report,
                });
            }
        }
        if a.out.json {
            let doc = Document {
                incident: incident.name,
                seed,
                cells: &cells,
            };
            // Plain data: serialization cannot fail.
            println!(
                "{}",
                serde_json::to_string(&doc).expect("a report serializes")
            );
            continue;
        }
        crate::rule_before(n);
        print_table(incident, seed, &rows, &pools, &cells);
        println!("\nreplay: {replay}");
    }
    if ours_failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "poolsim: ours missed its expectation in {}",
            ours_failed.join(", ")
        );
        ExitCode::FAILURE
    }
}

fn print_table(
    incident: &sims::incidents::Incident,
    seed: u64,
    rows: &[Row],
    pools: &[PoolChoice],
    cells: &[Cell],
) {
    let mut out = String::new();
    out.push_str(&format!("seed: {seed}\n"));
    out.push_str(&format!(
        "incident: {}: {}\nwrite-up: {}\n\n",
        incident.name, incident.summary, incident.writeup
    ));
    let cell = |p: &PoolChoice, row: &str| {
        cells
            .iter()
            .find(|c| c.pool == p.name() && c.row == row)
            .map(|c| &c.report)
    };
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["run".to_owned(), "expected".to_owned()];
    header.extend(pools.iter().map(PoolChoice::name));
    table.push(header);
    for row in rows {
        let mut line = vec![
            row.name.clone(),
            match (row.knobs, row.scenario.expect.outcome) {
                (Knobs::CrateDefaults, _) => "(buggy load)".to_owned(),
                (_, o) => sims::render::expected(o).to_owned(),
            },
        ];
        for p in pools {
            line.push(
                cell(p, &row.name)
                    .map_or_else(String::new, |r| cell_text(&row.scenario, row.knobs, r)),
            );
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &table {
        let cols: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cols.join("  ").trim_end());
        out.push('\n');
    }
    // Findings: once per pool and code, with the rows that reported it.
    for p in pools {
        let mut seen: Vec<(Finding, Vec<String>)> = Vec::new();
        for row in rows {
            let Some(r) = cell(p, &row.name) else {
                continue;
            };
            for f in &r.findings {
                match seen.iter_mut().find(|(g, _)| g.code == f.code) {
                    Some((_, rows)) => rows.push(row.name.clone()),
                    None => seen.push((f.clone(), vec![row.name.clone()])),
                }
            }
            for v in &r.invariant_violations {
                seen.push((
                    Finding::new(&format!("violation.{}", v.invariant), v.detail.clone()),
                    vec![row.name.clone()],
                ));
            }
        }
        if seen.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{} findings:\n", p.name()));
        for (f, rows) in &seen {
            out.push_str(&format!(
                "  {} [{}]\n    {}\n",
                f.code,
                rows.join(", "),
                f.detail
            ));
        }
    }
    print!("{out}");
}
