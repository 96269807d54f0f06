//! faultline-scenarios: scenario files, the runner, and the `faultline` CLI.
//!
//! - [`scenario`] — the TOML format, its validation, the built-in catalogue.
//! - [`runner`] — one seed → [`outcome::RunOutcome`]; many seeds in parallel.
//! - [`outcome`] — the per-seed record (a JSON line) and the summary.
//! - [`timeline`] — a trace rendered as a readable timeline for `replay`.
//! - [`shrink`] — a failing seed cut down to a minimal, replayable scenario file.
//! - [`pct`] — PCT-style change points: one order's message held back, at random.
//! - [`signature`] — what makes two failures the same: invariant, step, first fault.
//! - [`output`] — every file written whole, never through a link or over a device.
//! - [`zoo`] — where each mutant is hunted, and the detection benchmark.
//! - [`cli`] — the command line, one module per subcommand, over any registry.
//! - [`testing`] — the library API for a team's own `#[test]`s.

pub mod bounds;
pub mod cli;
pub mod outcome;
pub mod output;
pub mod over_time;
pub mod pct;
pub mod perf;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod signature;
pub mod testing;
pub mod timeline;
pub mod zoo;
