//! Scenario-level tests of the runner and the CLI, one module per area.

mod catalogue;
mod cli;
mod determinism;
mod mutants;
mod report;
