//! The scenario file format (TOML) and the built-in catalogue.
//!
//! A scenario is a workload, a fault model or an explicit fault plan, a fault
//! window and a settle deadline. Errors name the file, the line and the field.

use faultline_protocols::check::{Cause, Coverage, Invariant, Violation};
use faultline_protocols::reconcile::{self, ReconcileConfig};
use faultline_protocols::shop::gateway::GatewayConfig;
use faultline_protocols::workflow::{builtin, Workflow};
use faultline_protocols::workload::{Workload, WorkloadSpec};
use faultline_protocols::{Protocol, ProtocolRef, Registry, Topology};
use faultline_sim::broker::BrokerConfig;
use faultline_sim::{Fault, FaultModel, FaultPlan, ReplicationConfig, TimedFault, WorldConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A parsed, validated scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The workflow its orders go through: a built-in's name (`faultline
    /// list workflows`) or a workflow file's path; the shop unless it says.
    #[serde(default = "default_workflow", skip_serializing_if = "is_default_workflow")]
    pub workflow: String,
    /// The workflow `workflow` names, read and checked when the scenario
    /// was, and the hash of its file's text if it came from a file.
    #[serde(skip)]
    pub resolved_workflow: Option<(Arc<Workflow>, Option<String>)>,
    /// `workflow` came from `--workflow`, not from the file: printed
    /// commands must say it again.
    #[serde(skip)]
    pub workflow_flag: bool,
    /// Faults act during the first `fault_window_ms` of the run.
    #[serde(default)]
    pub fault_window_ms: u64,
    /// After the window, how long every order has to settle.
    pub settle_ms: u64,
    /// Bound on each node's clock drift (0.1: timers up to 10% fast or slow).
    #[serde(default)]
    pub clock_skew: f64,
    /// Base one-way message latency range, in ms.
    #[serde(default = "default_latency")]
    pub latency_ms: (u64, u64),
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// An explicit workload (a shrunk counterexample's); when present it
    /// replaces the one drawn from `workload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_workload: Option<Workload>,
    /// The seed this scenario is about (a counterexample's): `run` starts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How every store replicates, and how fast a dead primary is replaced.
    #[serde(default)]
    pub replication: ReplicationConfig,
    /// How message brokers deliver: visibility timeout, reordering across keys.
    /// Takes effect for protocols that use a broker.
    #[serde(default)]
    pub broker: BrokerConfig,
    /// How the payment gateway's callbacks misbehave.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The fault model plans are drawn from, per seed.
    #[serde(default)]
    pub faults: FaultModel,
    /// An explicit fault plan; when present it replaces the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<TimedFault>>,
    /// Add PCT-style change points to every drawn plan (see `crate::pct`), as
    /// `--pct` does. An explicit plan is the whole plan: nothing is added.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pct: bool,
    /// Fault points in protocol code, armed: name → how many times each
    /// crashes its node when reached (see `faultline list fault-points`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub crash_points: BTreeMap<String, u32>,
    /// Run the reconciler beside every protocol, so configured
    /// (`--reconcile` runs it on any scenario, with its defaults if this is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileConfig>,
    /// Per protocol, the violations this scenario is known to cause and why. A
    /// protocol not listed is expected to keep every invariant.
    #[serde(default)]
    pub expect: BTreeMap<String, Expectation>,
    /// Coverage facts the runs must show, somewhere in their seeds — under
    /// `all` for every protocol, or under a protocol's name for that one — or
    /// the scenario no longer exercises what it is for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub require: BTreeMap<String, Vec<Coverage>>,
    /// Where it was loaded from; not part of the file.
    #[serde(skip)]
    pub origin: Option<Origin>,
}

/// Where a loaded scenario came from, carried into every record of its runs
/// so a printed command can name it and a report can show its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// How a command line names it: the catalogue name, or the file's path.
    pub arg: String,
    /// The text it was parsed from, and that text's hash.
    pub text: std::sync::Arc<str>,
    pub hash: String,
}

impl Origin {
    fn new(arg: &str, text: &str) -> Origin {
        let hash = faultline_reports::record::content_hash(text.as_bytes());
        Origin { arg: arg.to_string(), text: text.into(), hash }
    }
}

/// A known, explained failure. A violation is *expected* only when this run
/// shows one of `causes` touching that very violation's subject (the checker's
/// evidence), and its invariant is among `violations` when they are given.
/// Anything else fails: a new bug cannot hide behind a known one's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// What in a run may excuse a violation (see `faultline list causes`).
    pub causes: Vec<Cause>,
    /// If not empty, only these invariants may be excused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Invariant>,
    pub why: String,
}

impl Expectation {
    /// Whether this run's evidence excuses `v`.
    pub fn excuses(&self, v: &Violation) -> bool {
        let caused = v.evidence.as_ref().is_some_and(|e| self.causes.contains(&e.cause));
        caused && (self.violations.is_empty() || self.violations.contains(&v.invariant))
    }
}

/// The workflow `arg` names: a built-in, else a file (its errors say file,
/// line, field and rule), which the engines must be able to run; with the
/// hash of the file's text.
fn resolve_workflow(arg: &str) -> Result<(Arc<Workflow>, Option<String>), String> {
    if let Some(w) = builtin::named(arg) {
        return Ok((w, None));
    }
    let max = faultline_protocols::workflow::file::MAX_BYTES as u64;
    let text = read_bounded(arg, max, "workflow", || {
        let names: Vec<_> = builtin::all().iter().map(|w| w.name.as_str()).collect();
        format!("no workflow {arg:?}: not a file, and not built in ({})", names.join(", "))
    })?;
    let w = faultline_protocols::workflow::file::parse(arg, &text).map_err(|e| e.to_string())?;
    faultline_protocols::shop::runs_on_the_shop(&w).map_err(|e| format!("{arg}: {e}"))?;
    Ok((Arc::new(w), Some(faultline_reports::record::content_hash(text.as_bytes()))))
}

/// The workflow `arg` names — a built-in's name or a file — read and checked
/// as `--workflow` reads it.
pub fn workflow_named(arg: &str) -> Result<Arc<Workflow>, String> {
    resolve_workflow(arg).map(|(w, _)| w)
}

/// `faults` extended to the participants `w` declares beside the shop's: a
/// scenario that crashes, pauses or cuts off the shop's services does the
/// same to the declared ones, and to their stores where it names the shop's.
fn cover_declared(faults: &FaultModel, w: &Workflow) -> FaultModel {
    use faultline_protocols::shop::Service;
    let mut faults = faults.clone();
    let declared: Vec<_> = w.participants.iter().filter(|p| Service::named(&p.name).is_none()).collect();
    let shop = |t: &str| Service::named(t).is_some();
    let shop_db = |t: &str| t.strip_suffix("-db").is_some_and(shop);
    let (nodes, dbs) = (faults.targets.iter().any(|t| shop(t)), faults.targets.iter().any(|t| shop_db(t)));
    let failover = faults.failover_targets.iter().any(|t| shop_db(t));
    for p in declared {
        let db = format!("{}-db", p.name);
        if nodes && !faults.targets.contains(&p.name) {
            faults.targets.push(p.name.clone());
        }
        // A cache in front of its store is one more node to crash.
        let cache = faultline_protocols::shop::cached::node_name(&p.name);
        let cached = w.quantities.iter().any(|q| q.at == p.name && q.cache.is_some());
        if nodes && cached && !faults.targets.contains(&cache) {
            faults.targets.push(cache);
        }
        if dbs && !faults.targets.contains(&db) {
            faults.targets.push(db.clone());
        }
        if failover && !faults.failover_targets.contains(&db) {
            faults.failover_targets.push(db);
        }
    }
    faults
}

/// A scenario's hash combined with its workflow file's, if it has one:
/// records of runs on different workflow texts do not mix either.
fn with_text_hash(hash: &str, workflow: &Option<String>) -> String {
    match workflow {
        None => hash.to_string(),
        Some(file) => faultline_reports::record::content_hash(format!("{hash}+{file}").as_bytes()),
    }
}

fn default_workflow() -> String {
    builtin::DEFAULT.to_string()
}

fn is_default_workflow(name: &String) -> bool {
    name == builtin::DEFAULT
}

fn default_latency() -> (u64, u64) {
    (1, 5)
}

/// The catalogue, compiled in so the CLI works from any directory.
pub const CATALOG: [(&str, &str); 19] = [
    ("calm", include_str!("../catalog/calm.toml")),
    ("scarce-stock", include_str!("../catalog/scarce-stock.toml")),
    ("flaky-network", include_str!("../catalog/flaky-network.toml")),
    ("slow-network", include_str!("../catalog/slow-network.toml")),
    ("crash-restart", include_str!("../catalog/crash-restart.toml")),
    ("partition-heal", include_str!("../catalog/partition-heal.toml")),
    ("flash-sale", include_str!("../catalog/flash-sale.toml")),
    ("multi-line-flash-sale", include_str!("../catalog/multi-line-flash-sale.toml")),
    ("disk-faults", include_str!("../catalog/disk-faults.toml")),
    ("callback-chaos", include_str!("../catalog/callback-chaos.toml")),
    ("refund-race", include_str!("../catalog/refund-race.toml")),
    ("check-then-act", include_str!("../catalog/check-then-act.toml")),
    ("failover-async", include_str!("../catalog/failover-async.toml")),
    ("failover-semisync", include_str!("../catalog/failover-semisync.toml")),
    ("self-healing", include_str!("../catalog/self-healing.toml")),
    ("everything", include_str!("../catalog/everything.toml")),
    ("pay-then-stock", include_str!("../catalog/pay-then-stock.toml")),
    ("marketplace-rush", include_str!("../catalog/marketplace-rush.toml")),
    ("cached-flash-sale", include_str!("../catalog/cached-flash-sale.toml")),
];

/// The largest scenario file read: a shrunk counterexample of a flash sale is
/// well under this; anything larger is not a scenario.
pub const MAX_FILE: u64 = 4 << 20;

/// Opens an input file the user named, refusing what is not a regular file:
/// opened without blocking (a FIFO would wait for a writer), then checked by
/// the handle itself, so what is checked is what is read. Returns the file and
/// its size; a directory, FIFO or device is an `InvalidInput` error.
pub fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let why = "not a regular file (a directory, FIFO or device)";
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    }
    Ok((file, meta.len()))
}

/// The text of the scenario file `arg`, refusing what is not a small regular file.
fn read_file(arg: &str) -> Result<String, String> {
    read_bounded(arg, MAX_FILE, "scenario", || {
        let names: Vec<_> = CATALOG.iter().map(|(n, _)| *n).collect();
        format!("no scenario {arg:?}: not a file, and not in the catalogue ({})", names.join(", "))
    })
}

/// The text of the `what` file `arg`: a regular file of at most `max`
/// bytes, UTF-8; `missing` says what to do when there is no such file.
fn read_bounded(arg: &str, max: u64, what: &str, missing: impl FnOnce() -> String) -> Result<String, String> {
    use std::io::Read;
    let (file, len) = match open_regular(Path::new(arg)) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(format!("{arg}: {e}")),
    };
    if len > max {
        return Err(format!("{arg}: {len} bytes; a {what} file is at most {max}"));
    }
    let mut bytes = Vec::new();
    // The file may grow after the check: read no more than allowed.
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("{arg}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("{arg}: larger than {max} bytes; not a {what} file"));
    }
    String::from_utf8(bytes).map_err(|e| format!("{arg}: not UTF-8 text: {e}"))
}

/// The text of a catalogue scenario, by name; `None` for any other name.
pub fn catalogue_text(name: &str) -> Option<&'static str> {
    CATALOG.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

impl Scenario {
    /// A catalogue name, or a path to a scenario file, validated against the
    /// protocols of `registry` (their names, their nodes). A file must be a
    /// regular file of at most [`MAX_FILE`] bytes: a FIFO, a device or a
    /// directory is refused before anything is read.
    pub fn load(arg: &str, registry: &Registry) -> Result<Scenario, String> {
        if let Some((name, text)) = CATALOG.iter().find(|(n, _)| *n == arg) {
            let s = Scenario::parse(text, &format!("catalog/{name}.toml"), registry)?;
            return Ok(Scenario { origin: Some(Origin::new(arg, text)), ..s });
        }
        let text = read_file(arg)?;
        let s = Scenario::parse(&text, arg, registry)?;
        let mut origin = Origin::new(arg, &text);
        let workflow_hash = s.resolved_workflow.as_ref().and_then(|(_, h)| h.clone());
        origin.hash = with_text_hash(&origin.hash, &workflow_hash);
        Ok(Scenario { origin: Some(origin), ..s })
    }

    /// Parses and validates against the protocols of `registry`; `origin`
    /// names the file in errors.
    pub fn parse(text: &str, origin: &str, registry: &Registry) -> Result<Scenario, String> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        let at = |field: &str, msg: String| {
            // The line of the field's last named part (`plan.3` → the first `[[plan]]`).
            let key = field
                .split('.')
                .rev()
                .map(|p| p.split(' ').next().unwrap_or(p))
                .find(|p| p.chars().next().is_some_and(|c| !c.is_ascii_digit()));
            let line = key.and_then(|k| line_of(text, k)).map(|l| format!(", line {l}")).unwrap_or_default();
            format!("{origin}{line}: {field}: {msg}")
        };
        let doc: toml::Value = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        crate::bounds::pairs(&doc).map_err(|b| at(&b.field, b.rule))?;
        crate::bounds::check(&s).map_err(|b| at(&b.field, b.rule))?;
        // Names and descriptions reach terminals, file names and reports.
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if s.name.is_empty() || s.name.len() > 64 || !s.name.chars().all(name_ok) || s.name.starts_with('.') {
            let msg = format!("{:?}: 1 to 64 of A-Z a-z 0-9 - _ . (not first)", s.name);
            return Err(at("name", msg));
        }
        if s.description.len() > 500 || s.description.chars().any(char::is_control) {
            return Err(at(
                "description",
                "at most 500 characters, on one line, no control characters".into(),
            ));
        }
        let resolved = resolve_workflow(&s.workflow).map_err(|e| at("workflow", e))?;
        s.faults = cover_declared(&s.faults, &resolved.0);
        s.reconciler_fits(&resolved.0).map_err(|e| at("reconcile", e))?;
        s.resolved_workflow = Some(resolved);
        s.workload.validate().map_err(|e| at("workload", e))?;
        if let Some(w) = &mut s.explicit_workload {
            w.normalize();
            w.validate().map_err(|e| at("explicit_workload", e))?;
        }
        for point in s.crash_points.keys() {
            let points = registry.crash_points();
            if !points.iter().any(|p| p.name == point) {
                let names: Vec<_> = points.iter().map(|p| p.name).collect();
                return Err(at(
                    "crash_points",
                    format!("unknown crash point {point:?}; crash points: {}", names.join(", ")),
                ));
            }
        }
        if !s.crash_points.is_empty() && s.fault_window_ms == 0 {
            let msg = "crash points fire only during the fault window, and fault_window_ms is 0".to_string();
            return Err(at("crash_points", msg));
        }
        let needs_targets = s.faults.crash_rate_per_min > 0.0
            || s.faults.pause_rate_per_min > 0.0
            || s.faults.partition_rate_per_min > 0.0
            || s.faults.link_cut_rate_per_min > 0.0
            || s.faults.slow_node_rate_per_min > 0.0;
        if needs_targets && s.faults.targets.is_empty() {
            let msg = "crashes, pauses, partitions, link cuts or slow nodes need `targets`";
            return Err(at("faults", msg.into()));
        }
        for (protocol, e) in &s.expect {
            registry.get(protocol).map_err(|err| at("expect", err.to_string()))?;
            if e.violations.contains(&Invariant::NoPanic) {
                return Err(at("violations", "a panic is never expected".into()));
            }
            if e.causes.is_empty() {
                let causes: Vec<_> = Cause::ALL.iter().map(|c| c.name()).collect();
                let msg = format!(
                    "expect.{protocol}: name the causes that excuse a violation ({})",
                    causes.join(", ")
                );
                return Err(at("causes", msg));
            }
            if e.why.trim().is_empty() {
                return Err(at("why", format!("expect.{protocol}: say why the violations are expected")));
            }
        }
        for key in s.require.keys().filter(|k| *k != "all") {
            registry.get(key).map_err(|err| at("require", format!("{err}, or all")))?;
        }
        // Names are checked against every protocol's deployment together: a
        // scenario may name the coordinator, which only some protocols have.
        let Topology { mut nodes, stores, replicated } =
            Topology::union(registry.all(), &s.workflow(), &s.replication);
        nodes.push(reconcile::NODE.to_string()); // a target when the reconciler runs
        for store in s.replication.stores.keys() {
            if !stores.contains(store) {
                let msg = format!("unknown store {store:?}; stores are: {}", stores.join(", "));
                return Err(at("replication.stores", msg));
            }
        }
        for t in &s.faults.targets {
            if !nodes.contains(t) {
                let msg = format!("unknown node {t:?}; nodes are: {}", nodes.join(", "));
                return Err(at("targets", msg));
            }
        }
        for t in &s.faults.failover_targets {
            if !replicated.contains(t) {
                let msg = match replicated.is_empty() {
                    true => format!("{t:?}: replication is off, so no store can fail over"),
                    false => format!("{t:?} is not a store; stores are: {}", replicated.join(", ")),
                };
                return Err(at("failover_targets", msg));
            }
        }
        if let Some(plan) = &s.plan {
            let plan = FaultPlan { events: plan.clone() };
            plan.validate(&nodes, &replicated).map_err(|e| at("plan", e))?;
        }
        Ok(s)
    }

    /// The workflow its orders go through.
    pub fn workflow(&self) -> Arc<Workflow> {
        match &self.resolved_workflow {
            Some((w, _)) => w.clone(),
            None => builtin::named(&self.workflow).expect("a scenario not parsed names a built-in"),
        }
    }

    /// This scenario with its orders going through the workflow `arg` (a
    /// built-in's name or a file), as `--workflow` asks: printed commands
    /// carry the flag, and the workflow's text is part of the scenario's hash.
    pub fn with_workflow(self, arg: &str) -> Result<Scenario, String> {
        let w = resolve_workflow(arg).map_err(|e| format!("--workflow: {e}"))?;
        self.reconciler_fits(&w.0).map_err(|e| format!("--workflow {arg}: {e}"))?;
        let origin = self.origin.clone().map(|o| Origin { hash: with_text_hash(&o.hash, &w.1), ..o });
        Ok(Scenario {
            faults: cover_declared(&self.faults, &w.0),
            workflow: arg.to_string(),
            resolved_workflow: Some(w),
            workflow_flag: true,
            origin,
            ..self
        })
    }

    /// An error if the scenario runs the reconciler (`[reconcile]`: it is what
    /// the scenario tests) and `w`'s books are not ones it can judge.
    pub fn reconciler_fits(&self, w: &Workflow) -> Result<(), String> {
        match (&self.reconcile, reconcile::supports(w)) {
            (Some(_), Err(e)) => Err(format!("scenario {} runs the reconciler, and {e}", self.name)),
            _ => Ok(()),
        }
    }

    /// What `protocol` is known to break here, and by what cause (usually nothing).
    pub fn expectation(&self, protocol: &dyn Protocol) -> Option<&Expectation> {
        self.expect.get(protocol.name())
    }

    /// The coverage facts `protocol`'s runs must show.
    pub fn required(&self, protocol: &dyn Protocol) -> Vec<Coverage> {
        let mut facts: Vec<Coverage> =
            ["all", protocol.name()].iter().filter_map(|k| self.require.get(*k)).flatten().copied().collect();
        facts.sort_unstable();
        facts.dedup();
        facts
    }

    /// The same scenario with its fault rates (and the gateway's callback
    /// misbehaviour) scaled by `factor`: 0 is calm, 2 twice as rough.
    pub fn scaled(&self, factor: f64) -> Scenario {
        let mut s = self.clone();
        s.faults = self.faults.scaled(factor);
        let g = &mut s.gateway;
        g.callback_loss_rate = (g.callback_loss_rate * factor).min(1.0);
        g.callback_dup_rate = (g.callback_dup_rate * factor).min(1.0);
        s
    }

    /// The workload of one seed: the explicit one, or one drawn from the spec.
    pub fn workload_for(&self, seed: u64) -> Workload {
        self.explicit_workload.clone().unwrap_or_else(|| self.workload.generate(seed))
    }

    /// The fault plan of one seed for `protocol`: the explicit plan, or one drawn
    /// from the model. Faults aimed at nodes this protocol does not deploy (an
    /// outbox has no coordinator, an orchestrator no broker) do not apply to it.
    pub fn plan_for(&self, seed: u64, protocol: ProtocolRef) -> FaultPlan {
        self.plan_with(seed, protocol, &self.faults)
    }

    /// Whether runs get PCT-style change points: asked for (`--pct`) or set
    /// here, and only on a drawn plan — an explicit plan is the whole plan.
    pub fn pct_on(&self, asked: bool) -> bool {
        (asked || self.pct) && self.plan.is_none()
    }

    /// The reconciler's config when it runs: always with `[reconcile]`, and
    /// with `--reconcile` (`forced`) on any scenario, with the defaults.
    /// `None` where the workflow's books are not ones the reconciler can
    /// judge ([`reconcile::supports`]): the run header says so.
    pub fn reconciles(&self, forced: bool) -> Option<ReconcileConfig> {
        reconcile::supports(&self.workflow()).ok()?;
        match &self.reconcile {
            Some(config) => Some(config.clone()),
            None => forced.then(ReconcileConfig::default),
        }
    }

    /// The reconciler's own faults, when it runs and the model targets it:
    /// its crashes and pauses, from a stream of their own, so every other
    /// fault of the seed is the same with the reconciler or without.
    pub fn reconciler_faults(&self, seed: u64, model: &FaultModel) -> Vec<TimedFault> {
        if self.plan.is_some() || !model.targets.iter().any(|t| t == reconcile::NODE) {
            return vec![];
        }
        let only = FaultModel {
            crash_rate_per_min: model.crash_rate_per_min,
            restart_after_ms: model.restart_after_ms,
            pause_rate_per_min: model.pause_rate_per_min,
            pause_ms: model.pause_ms,
            targets: vec![reconcile::NODE.to_string()],
            ..FaultModel::default()
        };
        only.generate(seed ^ 0x7265_636f_6e63_696c, self.fault_window_ms).events
    }

    /// A seed's own fault model in swarm mode (see [`FaultModel::swarm`]); an
    /// explicit plan has no model to draw from, so swarm leaves it as it is.
    pub fn swarm_model(&self, seed: u64) -> Option<FaultModel> {
        self.plan.is_none().then(|| self.faults.swarm(seed))
    }

    /// The plan of one seed for `protocol`, drawn from `model` unless the
    /// scenario has an explicit plan.
    pub fn plan_with(&self, seed: u64, protocol: ProtocolRef, model: &FaultModel) -> FaultPlan {
        let Topology { nodes, replicated, .. } =
            faultline_protocols::topology(protocol, &self.workflow(), &self.replication);
        match &self.plan {
            Some(events) => {
                let mut events = events.clone();
                events.retain(|e| {
                    e.fault.nodes().iter().all(|n| nodes.iter().any(|x| x == n))
                        && !matches!(&e.fault, Fault::Failover { store } if !replicated.contains(store))
                });
                FaultPlan { events }
            }
            None => {
                let mut model = model.clone();
                model.targets.retain(|t| nodes.contains(t));
                model.failover_targets.retain(|t| replicated.contains(t));
                model.generate(seed, self.fault_window_ms)
            }
        }
    }

    pub fn world_config(&self, record: bool) -> WorldConfig {
        let (lo, hi) = self.latency_ms;
        let replication = self.replication.clone();
        let (clock_skew, broker) = (self.clock_skew, self.broker.clone());
        WorldConfig {
            latency_us: (lo * 1000, hi * 1000),
            record,
            replication,
            clock_skew,
            broker,
            ..WorldConfig::default()
        }
    }
}

/// A TOML error on one line: file, line, column, the key there, the message.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> String {
    let message = e.message().lines().next().unwrap_or("").trim();
    let Some(span) = e.span() else { return format!("{origin}: {message}") };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let here = text.lines().nth(line - 1).unwrap_or("");
    let key = here.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let key =
        key.map(|k| format!("{}: ", k.chars().filter(|c| !c.is_control()).take(64).collect::<String>()));
    format!("{origin}, line {line}, column {column}: {}{message}", key.unwrap_or_default())
}

/// The first line on which `field` is assigned (bare or quoted) or names a
/// table (`[field]`, `[[a.field]]`, `[field.b]`).
fn line_of(text: &str, field: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let key = l.split('=').next().unwrap_or("").trim();
            if key == field || key == format!("\"{field}\"") {
                return l.contains('=');
            }
            let Some(header) = l.strip_prefix('[') else { return false };
            let header = header.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            header.split('.').any(|part| part.trim().trim_matches('"') == field)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_protocols::builtin::saga::Saga;

    fn builtin() -> Registry {
        Registry::builtin()
    }

    #[test]
    fn the_catalogue_parses() {
        for (name, text) in CATALOG {
            let s = Scenario::parse(text, name, &builtin()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, name);
        }
    }

    #[test]
    fn every_catalogue_file_is_compiled_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".toml").to_string())
            .collect();
        files.sort();
        let mut names: Vec<String> = CATALOG.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(files, names);
    }

    #[test]
    fn a_syntax_or_type_error_names_file_line_and_field() {
        let text = "name = \"x\"\nsettle_ms = \"soon\"\n";
        let err = Scenario::parse(text, "bad.toml", &builtin()).unwrap_err();
        assert!(err.starts_with("bad.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("settle_ms"), "{err}");
        let err = Scenario::parse("name = \"x\"\nsettle_ms = 9000\nsettle_msx = 2\n", "f.toml", &builtin())
            .unwrap_err();
        assert!(err.contains("line 3") && err.contains("settle_msx"), "{err}");
    }

    #[test]
    fn a_semantic_error_names_file_line_and_field() {
        let text =
            "name = \"x\"\nsettle_ms = 9000\n[faults]\ncrash_rate_per_min = 1.0\ntargets = [\"nope\"]\n";
        let err = Scenario::parse(text, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("f.toml, line 5: targets: unknown node \"nope\""), "{err}");
        let text = "name = \"x\"\nsettle_ms = 9000\n[faults]\nloss_rate = 2.0\n";
        let err = Scenario::parse(text, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("line 4: faults.loss_rate: 2.0 is not a probability"), "{err}");
        let text = "name = \"x\"\nsettle_ms = 9000\nfault_window_ms = 10\n[[plan]]\nat_ms = 1\nkind = \"crash\"\nnode = \"zz\"\nrestart_after_ms = 5\n";
        let err = Scenario::parse(text, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("line 4: plan") && err.contains("\"zz\""), "{err}");
    }

    #[test]
    fn expectations_name_real_protocols_and_invariants_and_say_why() {
        let base = "name = \"x\"\nsettle_ms = 9000\n";
        let causes = "causes = [\"failover-lost-writes\"]\n";
        let ok = format!("{base}[expect.saga]\n{causes}violations = [\"agreement\"]\nwhy = \"because\"\n");
        let s = Scenario::parse(&ok, "f.toml", &builtin()).unwrap();
        let e = s.expectation(&Saga).unwrap();
        assert_eq!(
            (e.causes.as_slice(), e.violations.as_slice()),
            ([Cause::FailoverLostWrites].as_slice(), [Invariant::Agreement].as_slice())
        );
        let bad = format!("{base}[expect.saga]\nviolations = [\"agreement\"]\nwhy = \"x\"\n");
        let err = Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("causes"), "an expectation names its causes: {err}");
        let bad = format!("{base}[expect.saga]\ncauses = []\nwhy = \"x\"\n");
        assert!(Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err().contains("failover-lost-writes"));
        let bad = format!("{base}[expect.paxos]\n{causes}why = \"x\"\n");
        assert!(Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err().contains("valid protocols"));
        let bad = format!("{base}[expect.saga]\n{causes}violations = [\"no-such\"]\nwhy = \"x\"\n");
        let err = Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err();
        assert!(
            err.contains("f.toml")
                && err.contains("no-such")
                && err.contains(Invariant::NoDoubleCharge.name()),
            "{err}"
        );
        let bad = format!("{base}[expect.saga]\n{causes}violations = [\"no-panic\"]\nwhy = \"x\"\n");
        assert!(Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err().contains("never expected"));
        let bad = format!("{base}[expect.saga]\n{causes}violations = [\"agreement\"]\nwhy = \" \"\n");
        assert!(Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err().contains("say why"));
    }

    #[test]
    fn required_coverage_names_real_facts_and_protocols() {
        let base = "name = \"x\"\nsettle_ms = 9000\n";
        let ok = format!("{base}[require]\nall = [\"node-restarted\"]\nsaga = [\"callback-lost\"]\n");
        let s = Scenario::parse(&ok, "f.toml", &builtin()).unwrap();
        assert_eq!(s.required(&Saga), [Coverage::NodeRestarted, Coverage::CallbackLost]);
        let tcc = faultline_protocols::builtin::tcc::Tcc;
        assert_eq!(s.required(&tcc), [Coverage::NodeRestarted]);
        let bad = format!("{base}[require]\npaxos = [\"node-restarted\"]\n");
        let err = Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("line 3: require: unknown protocol \"paxos\""), "{err}");
        let bad = format!("{base}[require]\nall = [\"sometimes\"]\n");
        let err = Scenario::parse(&bad, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("sometimes") && err.contains("node-restarted"), "{err}");
    }

    #[test]
    fn names_and_descriptions_are_safe_to_print() {
        for bad in ["\"a\\u001b[31mred\"", "\"tick`tock\"", "\"../up\"", "\"\"", "\".hidden\""] {
            let text = format!("name = {bad}\nsettle_ms = 9000\n");
            let err = Scenario::parse(&text, "f.toml", &builtin()).unwrap_err();
            assert!(err.contains("line 1: name"), "{bad}: {err}");
        }
        let text = "name = \"ok\"\ndescription = \"two\\nlines\"\nsettle_ms = 9000\n";
        let err = Scenario::parse(text, "f.toml", &builtin()).unwrap_err();
        assert!(err.contains("line 2: description"), "{err}");
    }

    #[test]
    fn replication_can_differ_per_store() {
        let base = "name = \"x\"\nsettle_ms = 9000\n[replication]\nmode = \"async\"\n";
        let s = Scenario::parse(
            &format!("{base}[replication.stores]\npayment-db = \"semi-sync\"\n"),
            "f",
            &builtin(),
        )
        .unwrap();
        assert_eq!(s.replication.mode_of("payment-db"), faultline_sim::Replication::SemiSync);
        assert_eq!(s.replication.mode_of("order-db"), faultline_sim::Replication::Async);
        let err =
            Scenario::parse(&format!("{base}[replication.stores]\nnope-db = \"async\"\n"), "f", &builtin())
                .unwrap_err();
        assert!(err.contains("unknown store \"nope-db\""), "{err}");
    }

    #[test]
    fn unknown_scenario_lists_the_catalogue() {
        let err = Scenario::load("nope", &builtin()).unwrap_err();
        assert!(err.contains("calm") && err.contains("crash-restart"), "{err}");
    }
}
