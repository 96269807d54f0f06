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
