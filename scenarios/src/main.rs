//! The `faultline` binary: the command line over the protocols faultline ships.
//! A team's own binary is this file with its protocol added to the registry.

use faultline_protocols::Registry;
use std::process::ExitCode;

fn main() -> ExitCode {
    faultline_scenarios::cli::main(Registry::builtin())
}
