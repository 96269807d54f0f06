//! The payment gateway's callback anomalies, end to end under the Saga: a lost
//! callback is made up for by querying the gateway, a duplicated one changes
//! nothing, and either way every invariant holds.

use faultline_protocols::builtin::saga::Saga;
use faultline_protocols::run::{run, RunSpec};
use faultline_protocols::shop::gateway::GatewayConfig;
use faultline_protocols::workload::WorkloadSpec;
use faultline_protocols::ProtocolRef;
use faultline_sim::{EventKind, FaultPlan, WorldConfig};

/// The gateway misbehaves during the fault window (60 s, past every order),
/// like every other fault.
fn spec(seed: u64, gateway: GatewayConfig) -> RunSpec {
    RunSpec {
        seed,
        protocol: &Saga as ProtocolRef,
        workflow: faultline_protocols::workflow::builtin::shop(),
        workload: WorkloadSpec::default().generate(seed),
        plan: FaultPlan::default(),
        fault_window_ms: 60_000,
        settle_ms: 60_000,
        world: WorldConfig { record: true, ..WorldConfig::default() },
        gateway,
        crash_points: Default::default(),
        mutant: None,
        reconcile: None,
    }
}

/// How many messages with this label were sent (requests) in the run.
fn sent(r: &faultline_protocols::run::RunResult, label: &str) -> usize {
    let events = r.events.as_ref().expect("recorded");
    events.iter().filter(|e| matches!(&e.kind, EventKind::Send { msg, .. } if *msg == label)).count()
}

#[test]
fn gateway_lost_callbacks_are_made_up_for_by_queries() {
    for seed in 0..10 {
        let r = run(&spec(seed, GatewayConfig { callback_loss_rate: 1.0, ..GatewayConfig::default() }));
        assert!(r.violations.is_empty(), "seed {seed}: {:#?}", r.violations);
        let charges = sent(&r, "gw-charge-async");
        assert!(charges > 0);
        assert_eq!(r.counts["callback-lost"], charges as u64, "seed {seed}: every callback lost");
        assert_eq!(sent(&r, "pay-callback"), 0, "seed {seed}: none arrives");
        assert!(sent(&r, "gw-query") >= charges, "seed {seed}: each charge asked the gateway instead");
    }
}

#[test]
fn gateway_duplicated_late_callbacks_change_nothing() {
    let config =
        GatewayConfig { callback_dup_rate: 1.0, callback_delay_ms: (0, 1_000), ..GatewayConfig::default() };
    for seed in 0..10 {
        let r = run(&spec(seed, config.clone()));
        assert!(r.violations.is_empty(), "seed {seed}: {:#?}", r.violations);
        let charges = sent(&r, "gw-charge-async");
        assert_eq!(r.counts["callback-duplicated"], charges as u64, "seed {seed}");
        // The run stops once every order settled; some late copies are still
        // on their way then. Those that arrived include duplicates.
        assert!(sent(&r, "pay-callback") > charges, "seed {seed}: duplicates arrived");
    }
}

#[test]
fn gateway_prompt_callbacks_need_no_query() {
    let r = run(&spec(1, GatewayConfig::default()));
    assert!(r.violations.is_empty());
    assert!(sent(&r, "pay-callback") > 0);
    assert_eq!(sent(&r, "gw-query"), 0, "callbacks arrive within the wait");
}

#[test]
fn gateway_callbacks_behave_once_the_fault_window_heals() {
    let chaos = GatewayConfig { callback_loss_rate: 1.0, callback_dup_rate: 1.0, ..GatewayConfig::default() };
    let r = run(&RunSpec { fault_window_ms: 0, ..spec(2, chaos) });
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    assert_eq!(r.counts.get("callback-lost"), None, "no callback lost after the heal");
    assert_eq!(r.counts.get("callback-duplicated"), None, "none duplicated either");
    assert_eq!(sent(&r, "pay-callback"), sent(&r, "gw-charge-async"), "one prompt callback per charge");
}
