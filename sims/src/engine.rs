//! Which engine runs a scenario: turmoil (the full-fidelity default: real async pool, real
//! TCP between hosts, third-party crates) or the fast discrete-event engine ([`crate::fast`]:
//! pool-core and the fake-redis engine driven directly, for fuzzing, sweeps and searches).
//! `docs/architecture.md` lists what each models that the other does not.

use crate::report::Report;
use crate::runner::{Run, RunOptions};
use crate::scenario::{Scenario, ScenarioError};
use serde::{Deserialize, Serialize};

/// The engine that runs a scenario (`turmoil` or `fast` in files and JSON).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// turmoil with the async pool (`crates/pool`) and the fake's async shell: every
    /// scenario, every pool, the default of `replay` and `run`.
    #[default]
    Turmoil,
    /// The discrete-event engine of [`crate::fast`]: this project's pool profiles only,
    /// tens of times faster.
    Fast,
}

impl Engine {
    /// Both, turmoil first.
    pub const ALL: [Self; 2] = [Self::Turmoil, Self::Fast];

    /// What to append to a `poolsim` command so that it runs on this engine (nothing for
    /// the default).
    #[must_use]
    pub fn flag(self) -> &'static str {
        match self {
            Self::Turmoil => "",
            Self::Fast => " --engine fast",
        }
    }

    /// `turmoil` or `fast`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Turmoil => "turmoil",
            Self::Fast => "fast",
        }
    }

    /// Parses [`Engine::name`].
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine '{s}' (known: turmoil, fast)"))
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `scenario` on `engine` with this project's pool.
pub fn run_on(
    engine: Engine,
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<Run, ScenarioError> {
    match engine {
        Engine::Turmoil => crate::runner::run_with(scenario, crate::CorePoolFactory, opts),
        Engine::Fast => crate::fast::run(scenario, opts),
    }
}

/// The report only (a convenience for searches).
pub fn report_on(
    engine: Engine,
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<Report, ScenarioError> {
    run_on(engine, scenario, opts).map(|r| r.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the CLI's replay commands append and what `--engine` takes: each engine's name
    /// parses back to it, shows as itself, and only the fast one needs a flag.
    #[test]
    fn each_engine_has_a_name_that_parses_back_and_a_flag_for_its_replay() {
        assert_eq!(Engine::Turmoil.flag(), "");
        assert_eq!(Engine::Fast.flag(), " --engine fast");
        for (e, name) in [(Engine::Turmoil, "turmoil"), (Engine::Fast, "fast")] {
            assert_eq!(e.name(), name);
            assert_eq!(e.to_string(), name);
            assert_eq!(Engine::parse(name), Ok(e));
        }
        assert_eq!(
            Engine::parse("warp"),
            Err("unknown engine 'warp' (known: turmoil, fast)".to_owned())
        );
    }
}
