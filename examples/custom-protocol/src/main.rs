//! The team's own `faultline`: the shipped command line, with the parallel
//! Saga in its registry. `cargo run -p faultline-example-custom -- list protocols`.

use std::process::ExitCode;

fn main() -> ExitCode {
    faultline_scenarios::cli::main(faultline_example_custom::registry())
}
