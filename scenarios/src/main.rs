//! The `faultline` binary: the command line over the protocols faultline ships.
//! A team's own binary is this file with its protocol added to the registry.

use faultline_protocols::Registry;
use std::process::ExitCode;

// mimalloc: a fifth faster than the system allocator on a simulation's many
// small, short-lived allocations (measured with `bench perf`); the library
// leaves the choice to each binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    faultline_scenarios::cli::main(Registry::builtin())
}
