//! Scenario-level tests of the runner and the CLI, one module per area.

mod broken;
mod catalogue;
mod cli;
mod determinism;
mod expectations;
mod mutants;
mod printed;
mod reconcile;
mod regressions;
mod report;
mod resume;
mod scale;
