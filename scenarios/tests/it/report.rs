//! `faultline sweep` and `faultline report` end to end: a tiny sweep's report
//! has every protocol, scenario and chart, the answer first, and well-formed
//! SVGs. (That a real browser renders it is `tests/browser.rs`.)

#[path = "../support/sweep.rs"]
mod sweep;
use sweep::{dir, faultline, tiny_sweep};

#[test]
fn report_a_tiny_sweep_has_every_protocol_scenario_and_chart() {
    let out = tiny_sweep("tables");
    let runs = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    let count = runs.lines().filter(|l| l.contains("\"seed\"")).count();
    assert_eq!(count, 2 * 4 * 2 * 3, "scenarios × protocols × intensities × seeds");
    assert_eq!(runs.lines().filter(|l| l.starts_with("{\"scenario_text\"")).count(), 2, "and their texts");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in ["saga", "tcc", "outbox", "2pc", "calm", "crash-restart"] {
        assert!(html.contains(want) && md.contains(want), "{want} missing");
    }
    for chart in faultline_reports::charts::FILES {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{chart}: {e}"));
        assert!(md.contains(&format!("({chart})")), "{chart} linked from report.md");
    }
    assert_eq!(html.matches("<svg").count(), faultline_reports::charts::FILES.len());
    // A run over time for every scenario and protocol, its fault windows shaded,
    // with orders in flight and mid-write below.
    let over_time = std::fs::read_to_string(out.join("timelines.svg")).unwrap();
    for panel in ["calm · saga · seed 0", "crash-restart · 2pc · seed 0", "orders in flight", "mid-write"]
    {
        assert!(over_time.contains(panel), "{panel} missing from the run over time");
    }
    assert!(over_time.contains("crash") && over_time.contains("opacity=\"0.25"), "crash windows shaded");
    let failures = std::fs::read_to_string(out.join("failures-over-time.svg")).unwrap();
    assert!(failures.contains("no failing runs in this report"), "nothing failed, and it says so");
    // What each protocol holds per order: TCC and 2PC reserve stock, only 2PC locks rows.
    let resources = std::fs::read_to_string(out.join("resources.svg")).unwrap();
    for panel in ["Stock reserved", "Money on hold", "Row locks held"] {
        assert!(resources.contains(panel), "{panel} missing from the resources chart");
    }
    // Latency against intensity, a panel per scenario.
    let latency = std::fs::read_to_string(out.join("intensity-latency.svg")).unwrap();
    assert!(latency.contains("\ncalm\n") && latency.contains("\ncrash-restart\n"), "{latency}");
    // With intensity 0 in the sweep, completion is against the same seeds without faults.
    let completion = std::fs::read_to_string(out.join("intensity.svg")).unwrap();
    assert!(completion.contains("completed / completed at intensity 0"), "normalised completion");
    // Distributions over orders: every run carries its orders' latencies, bucketed.
    let first_run = runs.lines().find(|l| l.contains("\"seed\"")).unwrap();
    assert!(first_run.contains("\"latency_hist\":{"), "{first_run}");
    let orders = std::fs::read_to_string(out.join("orders-latency.svg")).unwrap();
    assert!(
        orders.contains("calm") && orders.contains("crash-restart") && orders.contains("share of orders")
    );
    // The answer first: the decision table, then a sentence per protocol, before anything else.
    let at = |text: &str, what: &str| text.find(what).unwrap_or_else(|| panic!("{what} missing"));
    assert!(at(&html, "The answer") < at(&html, "Verdicts"), "the decision table opens the report");
    assert!(at(&md, "## The answer") < at(&md, "## Verdicts"));
    for p in ["saga", "tcc", "outbox", "2pc"] {
        let sentence = format!("<li>{p} held every invariant on all 2 scenarios");
        assert!(html.contains(&sentence), "{sentence} in {html}");
        assert!(md.contains(&format!("| {p} | held all, on 2 scenarios |")), "{md}");
    }
    assert!(!out.join("runs.partial").exists() && !out.join("report.html.partial").exists());
    // The same report from the JSON lines alone (the tables; the provenance names the command).
    let again = dir("again");
    let o = faultline(&["report", out.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert!(o.status.success());
    let md2 = std::fs::read_to_string(again.join("report.md")).unwrap();
    let body = |m: &str| m.lines().filter(|l| !l.starts_with("Made by")).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&md), body(&md2));
    // The runs over time too: `report` runs the same seeds again from the texts in the lines.
    let again_over_time = std::fs::read_to_string(again.join("timelines.svg")).unwrap();
    assert_eq!(over_time, again_over_time, "report draws the sweep's runs over time");
    // Bad input names the line.
    let bad = again.join("bad.jsonl");
    std::fs::write(&bad, "{}\nnope\n").unwrap();
    let o = faultline(&["report", bad.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.jsonl, line 2"));
}

/// A sweep that fails: the first failing seed of each failure class gets a
/// run over time, named for its invariant and mutant — from the sweep and,
/// the same, from `report` over its lines.
#[test]
fn report_draws_the_first_failing_seed_of_each_class_over_time() {
    let out = dir("failures");
    let o = faultline(&[
        "sweep",
        "scarce-stock",
        "-p",
        "tcc",
        "--mutant",
        "tcc-no-empty-rollback",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let failures = std::fs::read_to_string(out.join("failures-over-time.svg")).unwrap();
    assert!(failures.contains("scarce-stock · tcc (tcc-no-empty-rollback) · seed 0"), "{failures}");
    assert!(failures.contains("first stock-conservation"), "{failures}");
    let again = dir("failures-again");
    let o = faultline(&["report", out.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(failures, std::fs::read_to_string(again.join("failures-over-time.svg")).unwrap());
}
