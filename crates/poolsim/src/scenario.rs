//! `poolsim scenario`: the scenario file as a person writes it. `new` prints the commented
//! template of a whole deployment; `show INCIDENT/RUN` prints a built-in scenario as a file.

use crate::usage_error;
use sims::Scenario;
use std::process::ExitCode;

/// `poolsim scenario new`: the template (every field, its comment and its default).
pub(crate) fn new() -> ExitCode {
    print!("{}", sims::scenario::TEMPLATE);
    ExitCode::SUCCESS
}

/// The built-in scenario `incident/run` for `seed` (the incident's default seed when `None`),
/// or a one-line error naming what exists.
pub(crate) fn built_in(which: &str, seed: Option<u64>) -> Result<Scenario, String> {
    let names = || {
        sims::incidents::ALL
            .iter()
            .flat_map(|i| {
                i.scenarios(i.default_seed)
                    .into_iter()
                    .map(move |s| format!("{}/{}", i.name, s.name))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((inc, run)) = which.split_once('/') else {
        return Err(format!(
            "'{which}' is not INCIDENT/RUN; built-in runs: {}",
            names()
        ));
    };
    let Some(incident) = sims::incidents::by_name(inc) else {
        return Err(format!(
            "unknown incident '{inc}'; built-in runs: {}",
            names()
        ));
    };
    incident
        .scenarios(seed.unwrap_or(incident.default_seed))
        .into_iter()
        .find(|s| s.name == run)
        .ok_or_else(|| format!("no run '{run}' in {inc}; built-in runs: {}", names()))
}

/// `poolsim scenario show INCIDENT/RUN [--seed N] [--json]`.
pub(crate) fn show(which: &str, seed: Option<u64>, json: bool) -> ExitCode {
    match built_in(which, seed) {
        Err(e) => usage_error(&e),
        Ok(s) => {
            if json {
                println!("{}", s.to_json());
            } else {
                print!("{}", s.to_toml());
            }
            ExitCode::SUCCESS
        }
    }
}
