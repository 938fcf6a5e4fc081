//! The fast engine (work in progress: delegates to turmoil until the discrete-event world
//! lands).

use crate::runner::{Run, RunOptions};
use crate::scenario::{Scenario, ScenarioError};

/// Runs `scenario` on the fast engine.
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Run, ScenarioError> {
    crate::runner::run_with(scenario, crate::CorePoolFactory, opts)
}
