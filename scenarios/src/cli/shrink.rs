//! `faultline shrink`: a failing seed cut down to the smallest run that breaks
//! the same invariant, written as a scenario file that reproduces it. Exits 1
//! like `run` on a failing seed: the file it wrote breaks an invariant.

use super::{flags, flags_on, BadInput, Ctx, Internal, OneSeed};
use crate::output;
use crate::scenario::Scenario;
use crate::{runner, shrink as shrinker};
use anyhow::anyhow;
use faultline_reports::render::shell_word;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: OneSeed,
    /// Where to write the counterexample (default: built from the inputs).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the sizes before and after as one JSON object to FILE (`-`:
    /// standard output, instead of the progress).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub(super) fn shrink(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let Args { run, out, json } = a;
    let quiet = json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let (scenario, variant) = run.load(ctx)?;
    let (arg, seed) = (run.scenario.as_str(), run.seed);
    let out = out.unwrap_or_else(|| {
        let m = variant.mutant.map(|m| format!("-{}", m.name)).unwrap_or_default();
        PathBuf::from(format!("{}-{}{m}-seed{seed}.toml", scenario.name, variant.protocol.name()))
    });
    let wall = std::time::Instant::now();
    let program = &ctx.program;
    let show = |step: &str, s: shrinker::Size| {
        if !quiet {
            println!("  {step:<28} {} orders, {} faults", s.orders, s.faults);
        }
    };
    if !quiet {
        println!(
            "shrinking {} {} --seed {seed}",
            shell_word(arg),
            flags_on(&scenario, variant, run.how.intensity)
        );
    }
    let shrunk = shrinker::shrink(&scenario, variant, seed, show).map_err(|e| anyhow!(e))?;
    let text = format!(
        "# Written by `{program} shrink {} {} --seed {seed}`.\n# Reproduce: {program} run {} {} --seeds 1\n{}",
        shell_word(arg),
        flags_on(&scenario, variant, run.how.intensity),
        shell_word(&out.display().to_string()),
        // The file is the scenario at the run's intensity already.
        flags(variant, 1.0),
        shrinker::to_toml(&shrunk.scenario).map_err(|e| anyhow!("cannot encode the counterexample: {e}"))?
    );
    output::write_whole(&out, text.as_bytes())?;
    // The file must stand on its own: load it back and run it.
    let reloaded = Scenario::load(&out.display().to_string(), &ctx.registry).map_err(|e| anyhow!(e))?;
    let (o, _) = runner::run_seed(&reloaded, variant, seed, false);
    let reproduces = o.violations.iter().any(|v| v.invariant == shrunk.invariant);
    let (b, a) = (shrunk.before, shrunk.after);
    let wall_ms = wall.elapsed().as_millis() as u64;
    if let Some(path) = &json {
        let doc = serde_json::json!({
            "invariant": shrunk.invariant,
            "orders_before": b.orders, "orders_after": a.orders,
            "faults_before": b.faults, "faults_after": a.faults,
            "sim_ms_before": b.sim_ms, "sim_ms_after": a.sim_ms,
            "out": out.display().to_string(),
            "reproduces": reproduces, "runs": shrunk.runs, "wall_ms": wall_ms,
        });
        output::write_whole(path, format!("{doc}\n").as_bytes())?;
    }
    if let Some(m) = variant.mutant.filter(|m| !m.breaks.contains(&shrunk.invariant)).filter(|_| !quiet) {
        let known: Vec<_> = m.breaks.iter().map(|i| i.name()).collect();
        println!(
            "\nnote: {} is known to break {}; seed {seed} broke {} where nothing in the run excuses it, so that is what was shrunk",
            m.name,
            known.join(" / "),
            shrunk.invariant
        );
    }
    if !quiet {
        println!(
            "\n{}: {} → {} orders, {} → {} faults, {} → {} simulated ms ({} runs, {:.1} s)",
            shrunk.invariant,
            b.orders,
            a.orders,
            b.faults,
            a.faults,
            b.sim_ms,
            a.sim_ms,
            shrunk.runs,
            wall_ms as f64 / 1e3
        );
        println!(
            "wrote {} — {}",
            out.display(),
            if reproduces { "reproduces" } else { "DOES NOT reproduce" }
        );
        println!("  {program} run {} {} --seeds 1", out.display(), flags(variant, 1.0));
    }
    match reproduces {
        // A counterexample: like `run` on a failing seed, exit 1.
        true => Ok(false),
        false => Err(Internal(format!(
            "the counterexample {} does not break {} on seed {seed}: a faultline bug, please report it",
            out.display(),
            shrunk.invariant
        ))
        .into()),
    }
}
