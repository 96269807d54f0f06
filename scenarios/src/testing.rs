//! The library API for a team's own tests: from a `#[test]` in any crate, run a
//! protocol over scenarios (catalogue names, files, or built in code) and a
//! seed range, assert that nothing unexpected broke — a failure shows, per
//! failing seed, the commands that replay and shrink it — or, for a known bug,
//! that it is caught, and shrink what caught it.
//!
//! ```no_run
//! # use faultline_protocols::{builtin::saga::Saga, Registry};
//! # use faultline_scenarios::testing::Check;
//! let registry = Registry::builtin(); // a team adds its protocol: `.with(&MINE)`
//! Check::new(&registry, &Saga).catalogue().seeds(0..50).run().assert_ok();
//! ```
//!
//! Builder methods panic on bad input with the reason: they are for tests.

use crate::outcome::{RunOutcome, Summary, Verdict};
use crate::runner::{self, Variant};
use crate::scenario::{Expectation, Scenario, CATALOG};
use crate::shrink::{self, Shrunk};
use faultline_protocols::check::{Cause, Coverage, Invariant};
use faultline_protocols::mutant::Mutant;
use faultline_protocols::{ProtocolRef, Registry};
use std::fmt::Write;
use std::ops::Range;
use std::sync::OnceLock;

/// What to run: one protocol (maybe with a known bug), scenarios, seeds.
pub struct Check {
    registry: Registry,
    variant: Variant,
    /// (how a command line names it, the scenario).
    scenarios: Vec<(String, Scenario)>,
    seeds: Range<u64>,
    jobs: usize,
    program: String,
}

impl Check {
    /// `protocol` must be in `registry`: scenarios are validated against it.
    pub fn new(registry: &Registry, protocol: ProtocolRef) -> Check {
        if let Err(e) = registry.get(protocol.name()) {
            panic!("register the protocol before checking it: {e}");
        }
        Check {
            registry: registry.clone(),
            variant: Variant::from(protocol),
            scenarios: Vec::new(),
            seeds: 0..100,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            program: "faultline".into(),
        }
    }

    /// Every catalogue scenario on a workflow the protocol can run
    /// ([`faultline_protocols::Protocol::supports`]).
    pub fn catalogue(mut self) -> Check {
        for (name, _) in CATALOG {
            let s = Scenario::load(name, &self.registry).unwrap_or_else(|e| panic!("{e}"));
            if self.variant.protocol.supports(&s.workflow()).is_ok() {
                self.scenarios.push((name.to_string(), s));
            }
        }
        self
    }

    /// A catalogue name or a scenario file.
    pub fn scenario(mut self, arg: &str) -> Check {
        let s = Scenario::load(arg, &self.registry).unwrap_or_else(|e| panic!("{e}"));
        self.scenarios.push((arg.to_string(), s));
        self
    }

    /// A scenario built in code. Its failures print commands that run a copy
    /// of it written to a file in the temporary directory.
    pub fn with_scenario(mut self, scenario: Scenario) -> Check {
        self.scenarios.push((String::new(), scenario));
        self
    }

    pub fn seeds(mut self, seeds: Range<u64>) -> Check {
        self.seeds = seeds;
        self
    }

    /// Worker threads (default: every core). Results do not depend on it.
    pub fn jobs(mut self, jobs: usize) -> Check {
        self.jobs = jobs.max(1);
        self
    }

    /// Switches on a known bug in the protocol: nothing it breaks is "expected".
    pub fn mutant(mut self, m: Mutant) -> Check {
        let v =
            Variant::new(&self.registry, self.variant.protocol, Some(m)).unwrap_or_else(|e| panic!("{e}"));
        self.variant = Variant { swarm: self.variant.swarm, reconcile: self.variant.reconcile, ..v };
        self
    }

    /// Swarm testing: each seed draws its own fault model from the scenario's.
    pub fn swarm(mut self) -> Check {
        self.variant.swarm = true;
        self
    }

    /// Runs the reconciler beside the protocol (`--reconcile`): a scenario's
    /// `[reconcile]`, else its defaults.
    pub fn reconcile(mut self) -> Check {
        self.variant.reconcile = true;
        self
    }

    /// On `scenario`, a violation is excused when the run shows one of
    /// `causes` touching its subject and its invariant is one of `only` (any,
    /// if empty), for the stated reason — the `[expect.PROTOCOL]` of a
    /// scenario file, kept in the team's own test.
    pub fn expect(mut self, scenario: &str, causes: &[Cause], only: &[Invariant], why: &str) -> Check {
        assert!(!causes.is_empty(), "name the causes that excuse a violation on {scenario}");
        assert!(!why.trim().is_empty(), "say why {scenario} is expected to break {only:?}");
        let name = self.variant.protocol.name().to_string();
        let found = self.scenarios.iter_mut().filter(|(arg, s)| arg == scenario || s.name == scenario);
        let mut any = false;
        for (_, s) in found {
            let e = Expectation { causes: causes.to_vec(), violations: only.to_vec(), why: why.to_string() };
            s.expect.insert(name.clone(), e);
            any = true;
        }
        assert!(any, "no scenario {scenario:?} added yet: add it before its expectation");
        self
    }

    /// The protocol's runs of `scenario` must show `facts` in some seed (a
    /// scenario file's `[require]`): that the path this test is for was taken.
    pub fn require(mut self, scenario: &str, facts: &[Coverage]) -> Check {
        let name = self.variant.protocol.name().to_string();
        let found = self.scenarios.iter_mut().filter(|(arg, s)| arg == scenario || s.name == scenario);
        let mut any = false;
        for (_, s) in found {
            s.require.entry(name.clone()).or_default().extend_from_slice(facts);
            any = true;
        }
        assert!(any, "no scenario {scenario:?} added yet: add it before what it must cover");
        self
    }

    /// How the printed commands call the team's binary, e.g.
    /// `cargo run -p my-shop-tests --` (default `faultline`).
    pub fn command(mut self, program: &str) -> Check {
        self.program = program.to_string();
        self
    }

    /// Runs every scenario over the seeds.
    pub fn run(self) -> Report {
        assert!(!self.scenarios.is_empty(), "no scenario to run: add one, or the catalogue");
        let runs = self
            .scenarios
            .iter()
            .map(|(arg, s)| {
                let outcomes = runner::run_seeds(s, self.variant, self.seeds.clone(), self.jobs, |_| {});
                ScenarioRun { arg: arg.clone(), saved: OnceLock::new(), scenario: s.clone(), outcomes }
            })
            .collect();
        Report { variant: self.variant, program: self.program, runs }
    }
}

/// One scenario's outcomes, in seed order.
pub struct ScenarioRun {
    arg: String,
    /// Where a scenario built in code was saved for the printed commands, once.
    saved: OnceLock<String>,
    pub scenario: Scenario,
    pub outcomes: Vec<RunOutcome>,
}

/// What a [`Check`] found.
pub struct Report {
    variant: Variant,
    program: String,
    pub runs: Vec<ScenarioRun>,
}

/// A seed that broke something it should not have.
pub struct Failure<'a> {
    pub scenario: &'a Scenario,
    pub outcome: &'a RunOutcome,
    run: &'a ScenarioRun,
}

impl Report {
    /// Every failing seed, scenario by scenario.
    pub fn failures(&self) -> Vec<Failure<'_>> {
        let each = self.runs.iter().flat_map(|r| {
            let fail = r.outcomes.iter().filter(|o| o.verdict == Verdict::Fail);
            fail.map(move |outcome| Failure { scenario: &r.scenario, outcome, run: r })
        });
        each.collect()
    }

    /// Seeds run, over all scenarios.
    pub fn seeds(&self) -> usize {
        self.runs.iter().map(|r| r.outcomes.len()).sum()
    }

    /// The commands that replay and shrink `f`, as this report's binary takes them.
    pub fn commands(&self, f: &Failure) -> [String; 2] {
        let arg = match f.run.arg.as_str() {
            "" => f.run.saved.get_or_init(|| save(f.scenario)).clone(),
            arg => arg.to_string(),
        };
        let mut flags = format!("--protocol {}", self.variant.protocol.name());
        if let Some(m) = self.variant.mutant {
            write!(flags, " --mutant {}", m.name).unwrap();
        }
        if self.variant.swarm {
            flags.push_str(" --swarm");
        }
        if self.variant.reconcile {
            flags.push_str(" --reconcile");
        }
        let seed = f.outcome.seed;
        ["replay", "shrink"].map(|cmd| format!("{} {cmd} {arg} {flags} --seed {seed}", self.program))
    }

    /// Per scenario, the required coverage facts no seed showed.
    pub fn uncovered(&self) -> Vec<(&str, Vec<Coverage>)> {
        let each = self.runs.iter().map(|r| {
            let missing = Summary::of(&r.outcomes).missing(&r.scenario.required(self.variant.protocol));
            (r.scenario.name.as_str(), missing)
        });
        each.filter(|(_, missing)| !missing.is_empty()).collect()
    }

    /// Panics, listing each failing seed (up to 10) with what broke and the
    /// commands that replay and shrink it, and each scenario whose required
    /// coverage never showed — unless there is none of either.
    pub fn assert_ok(&self) {
        let (failures, uncovered) = (self.failures(), self.uncovered());
        if failures.is_empty() && uncovered.is_empty() {
            return;
        }
        let mut msg = String::new();
        for (scenario, missing) in &uncovered {
            let names: Vec<_> = missing.iter().map(|f| f.name()).collect();
            writeln!(msg, "{scenario}: no seed showed {}, which it requires", names.join(", ")).unwrap();
        }
        writeln!(
            msg,
            "{} of {} seeds of {} broke an invariant they should keep:",
            failures.len(),
            self.seeds(),
            self.variant.protocol.name()
        )
        .unwrap();
        for f in failures.iter().take(10) {
            let v = &f.outcome.violations[0];
            let [replay, shrink] = self.commands(f);
            let broken: Vec<_> = f.outcome.broken().iter().map(|i| i.name()).collect();
            let (scenario, seed) = (&f.scenario.name, f.outcome.seed);
            writeln!(msg, "  {scenario} seed {seed}: {} — {}: {}", broken.join(", "), v.subject, v.detail)
                .unwrap();
            writeln!(msg, "    replay: {replay}\n    shrink: {shrink}").unwrap();
        }
        if failures.len() > 10 {
            writeln!(msg, "  … and {} more", failures.len() - 10).unwrap();
        }
        panic!("{msg}");
    }

    /// The first seed that broke one of the mutant's expected invariants: the
    /// known bug, caught. `None` without a mutant.
    pub fn first_catch(&self) -> Option<Failure<'_>> {
        let m = self.variant.mutant?;
        let caught = |f: &Failure| f.outcome.violations.iter().any(|v| m.breaks.contains(&v.invariant));
        self.failures().into_iter().find(caught)
    }

    /// Shrinks a failure to the smallest run that breaks the same invariant.
    pub fn shrink(&self, f: &Failure) -> Result<Shrunk, String> {
        shrink::shrink(f.scenario, self.variant, f.outcome.seed, |_, _| {})
    }
}

/// A scenario built in code, written where a command line can find it.
fn save(s: &Scenario) -> String {
    let kept = tempfile::Builder::new()
        .prefix(&format!("faultline-{}-", s.name))
        .suffix(".toml")
        .tempfile()
        .and_then(|mut f| {
            let text = shrink::to_toml(s).map_err(std::io::Error::other)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.keep().map_err(|e| e.error)
        });
    match kept {
        Ok((_, path)) => path.display().to_string(),
        Err(e) => format!("<scenario {} built in code; could not save it: {e}>", s.name),
    }
}
