//! The team's known bug is caught, shrunk to a small story that reproduces,
//! and reported with commands for the team's own binary.

use faultline_example_custom::{registry, ParallelSaga, EARLY_CANCEL};
use faultline_scenarios::testing::Check;

const COMMAND: &str = "cargo run -p faultline-example-custom --";

#[test]
fn the_early_cancel_bug_is_caught_and_shrunk() {
    let check = || Check::new(&registry(), &ParallelSaga).scenario("scarce-stock").seeds(0..20).jobs(2);
    let report = check().mutant(EARLY_CANCEL).command(COMMAND).run();
    let caught = report.first_catch().expect("the bug is caught within 20 scarce-stock seeds");
    let broken = caught.outcome.broken();
    assert!(broken.iter().any(|i| EARLY_CANCEL.breaks.contains(i)), "{broken:?}");

    let seed = caught.outcome.seed;
    let [replay, shrink] = report.commands(&caught);
    let flags =
        format!("scarce-stock --protocol parallel-saga --mutant parallel-saga-early-cancel --seed {seed}");
    assert_eq!(replay, format!("{COMMAND} replay {flags}"));
    assert_eq!(shrink, format!("{COMMAND} shrink {flags}"));

    let shrunk = report.shrink(&caught).expect("a caught failure shrinks");
    assert!(EARLY_CANCEL.breaks.contains(&shrunk.invariant));
    assert!(shrunk.after.orders < shrunk.before.orders, "{} orders left", shrunk.after.orders);
    assert!(shrunk.after.orders <= 2, "a cancelled order and at most one that took the stock");
    // The shrunk scenario stands alone and still breaks, at its seed.
    let again = Check::new(&registry(), &ParallelSaga)
        .with_scenario(shrunk.scenario.clone())
        .seeds(seed..seed + 1)
        .mutant(EARLY_CANCEL)
        .command(env!("CARGO_BIN_EXE_faultline-example-custom"))
        .run();
    let caught = again.first_catch().expect("the shrunk scenario reproduces");
    // The scenario was built in code: its printed replay command runs a saved
    // copy, and the team's binary reproduces the failure from it.
    let [replay, _] = again.commands(&caught);
    let words: Vec<&str> = replay.split_whitespace().collect();
    let out = std::process::Command::new(words[0]).args(&words[1..]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{replay}\n{text}");
    assert!(text.contains(shrunk.invariant.name()), "{text}");

    // Without the bug, the same seeds keep every invariant.
    check().run().assert_ok();
}

#[test]
fn the_bug_is_hunted_like_the_built_ins() {
    // Its hunting ground comes with it: `bench detect` and the zoo find it.
    let hunts = faultline_scenarios::zoo::hunts(&registry());
    let mine: Vec<_> = hunts.iter().filter(|h| h.1.name() == "parallel-saga").collect();
    assert!(mine.iter().any(|h| (h.0, h.2) == (EARLY_CANCEL, "scarce-stock")), "its own bug");
    // And the reconciler's bugs, which run beside any protocol, are hunted beside it too.
    for m in faultline_protocols::mutant::HARNESS {
        assert!(mine.iter().any(|h| h.0 == m), "{}", m.name);
    }
    // The declared participants' bugs are hunted on the marketplace, which
    // this protocol does not run (`Protocol::supports`).
    assert_eq!(mine.len(), 1 + faultline_protocols::mutant::HARNESS.len());
}

#[test]
fn a_failing_check_names_the_commands_that_replay_and_shrink_it() {
    let report = Check::new(&registry(), &ParallelSaga)
        .scenario("scarce-stock")
        .seeds(0..5)
        .jobs(2)
        .mutant(EARLY_CANCEL)
        .command(COMMAND)
        .run();
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report.assert_ok()))
        .expect_err("the bug breaks invariants");
    let message = message.downcast_ref::<String>().expect("a message");
    assert!(message.contains("broke an invariant they should keep"), "{message}");
    assert!(
        message.contains(&format!("replay: {COMMAND} replay scarce-stock --protocol parallel-saga")),
        "{message}"
    );
    assert!(
        message.contains(&format!("shrink: {COMMAND} shrink scarce-stock --protocol parallel-saga")),
        "{message}"
    );
}

#[test]
fn the_teams_binary_lists_five_protocols_name_first() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-example-custom"))
        .args(["list", "protocols"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<_> = text.lines().map(|l| l.split_whitespace().next().unwrap_or("")).collect();
    assert_eq!(names, ["saga", "tcc", "outbox", "2pc", "parallel-saga"]);
}

/// The team's own invariant, added in this crate only: every run of the shop
/// judges it, the team's binary lists it, and it fires on the built-in bug
/// that keeps a returned order's points.
#[test]
fn the_teams_own_invariant_is_judged_listed_and_fires() {
    use faultline_example_custom::loyalty::POINTS_ONLY_FOR_PAID_ORDERS;
    use faultline_protocols::check::Invariant;
    let registry = registry();
    let mine = Invariant::parse(POINTS_ONLY_FOR_PAID_ORDERS.name).expect("registered by registry()");
    let tcc = registry.get("tcc").unwrap();
    let clean = Check::new(&registry, tcc).scenario("refund-race").seeds(0..10).jobs(2).run();
    assert!(clean.runs.iter().all(|r| r.outcomes.iter().all(|o| !o.broken().contains(&mine))));
    let buggy = Check::new(&registry, tcc)
        .scenario("refund-race")
        .seeds(0..10)
        .jobs(2)
        .mutant(faultline_protocols::mutant::RETURN_KEEPS_POINTS)
        .run();
    let fired = buggy.runs.iter().flat_map(|r| &r.outcomes).filter(|o| o.broken().contains(&mine)).count();
    assert!(fired > 0, "a returned order's points kept: the team's invariant fires");
    // A scenario names it like any other invariant.
    use faultline_scenarios::scenario::Scenario;
    let calm = faultline_scenarios::scenario::catalogue_text("calm").unwrap();
    let expecting = format!(
        "{calm}\n[expect.tcc]\ncauses = [\"failover-lost-writes\"]\nviolations = [\"points-only-for-paid-orders\"]\nwhy = \"a test\"\n"
    );
    let s = Scenario::parse(&expecting, "team.toml", &registry).expect("the team's invariant parses by name");
    assert!(format!("{:?}", s.expect).contains("points-only-for-paid-orders"), "{:?}", s.expect);
    // And requires the team's coverage fact by name: refund-race takes points back.
    let requiring = calm.replace("[require]\n", "[require]\ntcc = [\"points-taken-back\"]\n");
    let s = Scenario::parse(&requiring, "team.toml", &registry).expect("the team's fact parses by name");
    let fact = faultline_protocols::check::Coverage::parse("points-taken-back").unwrap();
    assert!(s.required(tcc).contains(&fact), "{:?}", s.required(tcc));
    let seen = clean.runs.iter().flat_map(|r| &r.outcomes).filter(|o| o.coverage.contains(&fact)).count();
    assert!(seen > 0, "refund-race takes some order's points back");
    let typo = expecting.replace("points-only-for-paid-orders", "points-only-for-paid-order");
    let e = Scenario::parse(&typo, "team.toml", &registry).unwrap_err();
    assert!(e.contains("points-only-for-paid-orders"), "the error lists it among the invariants: {e}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-example-custom"))
        .args(["list", "invariants"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("points-only-for-paid-orders") && text.contains("(the team's own, on shop)"),
        "{text}"
    );
}
