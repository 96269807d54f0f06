//! The `faultline` binary: exit codes, bad input, JSON output, replay.

use faultline_protocols::check::Invariant::*;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn cli_list_shows_scenarios_protocols_invariants() {
    let o = faultline(&["list"]);
    assert!(o.status.success());
    let t = text(&o);
    for want in
        ["calm", "flaky-network", "crash-restart", "saga", NoDoubleCharge.name(), LegalTransitions.name()]
    {
        assert!(t.contains(want), "{want} missing from:\n{t}");
    }
}

#[test]
fn cli_bad_input_exits_2_with_a_clear_message() {
    let o = faultline(&["run", "calm", "--protocol", "paxos"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("valid protocols: saga, tcc"), "{}", text(&o));

    let o = faultline(&["run", "no-such-scenario", "--protocol", "saga"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("crash-restart"), "lists the catalogue: {}", text(&o));

    let bad = temp("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\nsettle_ms = 100\n[workload]\norders = -3\n").unwrap();
    let o = faultline(&["run", bad.to_str().unwrap(), "--protocol", "saga"]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("bad.toml") && t.contains("line 4") && t.contains("orders"), "{t}");

    let o = faultline(&["run", "calm"]);
    assert_eq!(o.status.code(), Some(2), "missing --protocol");
}

#[test]
fn cli_run_writes_one_json_line_per_seed_and_repeats_exactly() {
    let (a, b) = (temp("a.jsonl"), temp("b.jsonl"));
    for (path, jobs) in [(&a, "1"), (&b, "2")] {
        let o = faultline(&[
            "run",
            "crash-restart",
            "-p",
            "saga",
            "--seeds",
            "20",
            "--jobs",
            jobs,
            "--json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("20 seeds, 0 failing"));
    }
    let a = std::fs::read_to_string(a).unwrap();
    assert_eq!(a, std::fs::read_to_string(b).unwrap(), "same bytes across --jobs");
    assert_eq!(a.lines().count(), 21, "the scenario's text, then a line per seed");
    let text: serde_json::Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(text["scenario_text"]["name"], "crash-restart");
    let first: serde_json::Value = serde_json::from_str(a.lines().nth(1).unwrap()).unwrap();
    for field in ["scenario", "protocol", "seed", "trace_hash", "violations", "metrics"] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    for field in [
        "orders_submitted",
        "orders_completed",
        "orders_cancelled",
        "messages_sent",
        "retries",
        "compensations",
        "sim_ms",
        "latency_ms",
    ] {
        assert!(first["metrics"].get(field).is_some(), "metrics.{field} missing");
    }
}

#[test]
fn cli_violations_exit_1_and_print_the_replay_command() {
    // A scenario from a file, under a name of its own, with a known bug on.
    let f = temp("mine.toml");
    let flaky = faultline_scenarios::scenario::catalogue_text("flaky-network").unwrap();
    std::fs::write(&f, flaky.replacen("name = \"flaky-network\"", "name = \"mine\"", 1)).unwrap();
    let path = f.to_str().unwrap();
    let o = faultline(&["run", path, "-p", "saga", "--mutant", "saga-log-unsynced", "--seeds", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains(EventualSettlement.name()), "{t}");
    let replay = format!("faultline replay {path} --protocol saga --mutant saga-log-unsynced --seed 0");
    assert!(t.contains(&replay), "the command names the file: {t}");
    // Plain text in a pipe; colour when forced, and never under NO_COLOR.
    assert!(!t.contains('\u{1b}'), "no escape codes in a pipe: {t}");
    let run = ["run", path, "-p", "saga", "--mutant", "saga-log-unsynced", "--seeds", "1"];
    let coloured = |env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_faultline"));
        c.args(run).env_remove("NO_COLOR").envs(env.iter().copied());
        String::from_utf8_lossy(&c.output().unwrap().stdout).contains("\u{1b}[")
    };
    assert!(coloured(&[("CLICOLOR_FORCE", "1")]), "CLICOLOR_FORCE colours the verdicts");
    assert!(!coloured(&[("NO_COLOR", "1")]), "NO_COLOR keeps them plain");
}

#[test]
fn cli_replay_prints_a_timeline_with_crashes_and_partitions() {
    let o = faultline(&["replay", "crash-restart", "-p", "saga", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("CRASH") && t.contains("RESTART"), "crashes shown");
    assert!(t.contains("no invariant violated"));
    let o = faultline(&["replay", "flaky-network", "-p", "saga", "--seed", "1"]);
    assert!(text(&o).contains("PARTITION"), "partitions shown");
    let o = faultline(&["replay", "flaky-network", "-p", "saga", "--seed", "1", "--json", "-"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["events"].as_array().unwrap().len() > 100);
}

#[test]
fn cli_protocol_all_prints_a_side_by_side_table() {
    let o = faultline(&["run", "crash-restart", "-p", "all", "--seeds", "6"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    let table = t.split("side by side").nth(1).expect("a comparison table");
    for p in ["saga", "tcc", "outbox", "2pc"] {
        assert!(table.lines().any(|l| l.trim_start().starts_with(p)), "{p} row missing:\n{table}");
    }
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "tables fit 100 columns, not {widest}:\n{table}");
    let o = faultline(&["run", "calm", "-p", "saga,nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("valid protocols: saga, tcc, outbox, 2pc, or all"), "{}", text(&o));
}

#[test]
fn cli_shrink_writes_a_minimal_counterexample_that_reproduces_deterministically() {
    let out = temp("shrunk.toml");
    let args = |out: &str| {
        let args = ["shrink", "callback-chaos", "-p", "saga", "--mutant", "payment-no-idempotency-key"];
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--seed", "3", "--json", "-", "--out", out].map(String::from));
        v
    };
    let run = |out: &std::path::Path| {
        let a = args(out.to_str().unwrap());
        faultline(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&out);
    // Like `run` on a failing seed: the counterexample breaks an invariant.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["invariant"], NoDoubleCharge.name());
    assert_eq!(doc["reproduces"], true);
    assert_eq!(doc["orders_before"], 20);
    assert!(doc["orders_after"].as_u64().unwrap() <= 3, "{doc}");
    assert!(doc["faults_after"].as_u64().unwrap() <= 3, "{doc}");
    assert!(doc["sim_ms_after"].as_u64().unwrap() <= doc["sim_ms_before"].as_u64().unwrap());
    // The file stands on its own: `run FILE --seeds 1` starts at its seed and breaks the same invariant.
    let file = out.to_str().unwrap();
    let r = faultline(&["run", file, "-p", "saga", "--mutant", "payment-no-idempotency-key", "--seeds", "1"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    assert!(text(&r).contains("seed 3: no-double-charge"), "{}", text(&r));
    // Same input, same minimal file.
    let again = temp("shrunk-again.toml");
    assert_eq!(run(&again).status.code(), Some(1));
    let body = |p: &std::path::Path| {
        let t = std::fs::read_to_string(p).unwrap();
        t.lines().filter(|l| !l.starts_with("# Reproduce")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(body(&out), body(&again), "only the path in the header differs");
    // Its story, as a sequence diagram with the violated order's messages marked.
    let mutant = ["-p", "saga", "--mutant", "payment-no-idempotency-key", "--seed", "3"];
    let view = |v: &str| faultline(&[&["replay", file][..], &mutant, &["--view", v]].concat());
    let r = view("sequence");
    let t = text(&r);
    assert!(t.contains("» marks the messages of order "), "{t}");
    assert!(t.contains("gw-charge-async") && t.contains('▶') && t.contains('»'), "{t}");
    assert!(t.matches("MUTANT").count() == 0 && t.contains("mutant payment-no-idempotency-key"), "{t}");
    let r = view("nodes");
    assert!(text(&r).contains("── gateway (") && text(&r).contains("── payment ("), "{}", text(&r));
    // Following the violated order: its messages only, stores included, on one screen.
    let order = t.split("» marks the messages of order ").nth(1).unwrap().split_whitespace().next().unwrap();
    let follow = |o: &str| {
        faultline(&[&["replay", file][..], &mutant, &["--view", "sequence", "--order", o]].concat())
    };
    let r = follow(order);
    let t = text(&r);
    let rows: Vec<&str> = t.lines().filter(|l| l.contains('│')).collect();
    let header = t.lines().find(|l| l.contains("gateway")).unwrap();
    assert!(header.matches("-db").count() >= 3 && t.contains("txn #"), "the stores' lifelines are in: {t}");
    assert!(rows.iter().all(|l| l.starts_with('»')), "every row is the order's: {t}");
    // One screen: at most 40 rows (answered requests, late replies and retry
    // loops folded), lifelines within 130 columns.
    assert!(rows.len() <= 40, "{} rows: {t}", rows.len());
    // How far the lifelines reach: to the last lifeline or arrowhead mark.
    let wide = |l: &&str| l.chars().enumerate().filter(|(_, c)| "│▶✗⌛!".contains(*c)).last().unwrap().0 + 1;
    assert!(rows.iter().map(wide).max().unwrap() <= 130, "{t}");
    let r = follow("4242");
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r).contains("no order 4242 in this run"), "{}", text(&r));
    let r = faultline(&[
        "replay",
        file,
        "-p",
        "saga",
        "--seed",
        "3",
        "--view",
        "sequence",
        "--nodes",
        "payment,nope",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r).contains("unknown node \"nope\""), "{}", text(&r));
    // A seed that does not fail has nothing to shrink.
    let o = faultline(&["shrink", "calm", "-p", "saga", "--seed", "0", "--out", file]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nothing to shrink"), "{}", text(&o));
}

#[test]
fn cli_a_scenario_whose_required_coverage_never_shows_exits_1() {
    let file = temp("uncovered.toml");
    let text_of = |require: &str| {
        format!("name = \"u\"\nsettle_ms = 30000\n[workload]\norders = 5\n[require]\n{require}\n")
    };
    std::fs::write(&file, text_of("all = [\"order-completed\", \"failover-lost-writes\"]")).unwrap();
    let o = faultline(&["run", file.to_str().unwrap(), "-p", "saga", "--seeds", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("UNCOVERED") && t.contains("failover-lost-writes"), "{t}");
    assert!(t.contains("coverage (seeds): order-completed 3"), "{t}");
    std::fs::write(&file, text_of("all = [\"order-completed\"]")).unwrap();
    let o = faultline(&["run", file.to_str().unwrap(), "-p", "saga", "--seeds", "3"]);
    assert_eq!(o.status.code(), Some(0), "covered: {}", text(&o));
    let o = faultline(&["list", "coverage"]);
    assert!(text(&o).lines().any(|l| l.starts_with("failover-lost-writes ")), "{}", text(&o));
}

#[test]
fn cli_report_never_opens_a_path_named_in_a_record() {
    let (dir, secret) = (temp("records"), temp("secret.toml"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&secret, "name = \"secret\"\nsettle_ms = 1\n# TOP-SECRET-CONTENTS\n").unwrap();
    let line = |scenario: &str| {
        format!(
            "{{\"scenario\":{scenario:?},\"protocol\":\"saga\",\"seed\":0,\"verdict\":\"pass\",\"violations\":[],\"metrics\":{{}}}}\n"
        )
    };
    let input = dir.join("hostile.jsonl");
    let lines = [line(secret.to_str().unwrap()), line("/etc/passwd"), line("/dev/zero"), line("calm")];
    std::fs::write(&input, lines.concat()).unwrap();
    let out = dir.join("report");
    let o = faultline(&["report", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for file in ["report.html", "report.md"] {
        let written = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(
            !written.contains("TOP-SECRET") && !written.contains("root:"),
            "{file} embeds a file a record named"
        );
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("primary crashes") || html.contains("calm"),
        "the catalogue's own text is still embedded"
    );
}

#[test]
fn cli_outputs_never_touch_other_files_or_follow_links() {
    let dir = temp("outputs");
    std::fs::create_dir_all(&dir).unwrap();
    let (keep, victim, link) = (dir.join("keep.partial"), dir.join("victim.txt"), dir.join("link.jsonl"));
    std::fs::write(&keep, "mine").unwrap();
    std::fs::write(&victim, "precious").unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let json = dir.join("keep.jsonl");
    let o = faultline(&["run", "calm", "-p", "saga", "--seeds", "2", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine", "an unrelated .partial survives");
    assert_eq!(std::fs::read_to_string(&json).unwrap().lines().count(), 3, "a text line and two runs");
    let o = faultline(&["run", "calm", "-p", "saga", "--seeds", "2", "--json", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "never written through the link");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is not replaced");
    let o = faultline(&["run", "calm", "-p", "saga", "--seeds", "1", "--json", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2), "a device is not replaced: {}", text(&o));
    let o = faultline(&["run", "calm", "-p", "saga", "--seeds", "2", "--json", "-"]);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("{\"scenario\"")).count(), 2, "- is standard output");
    assert!(
        stdout.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "nothing but JSON lines on standard output: {stdout}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2 seeds, 0 failing"),
        "the text goes to standard error"
    );
}

#[test]
fn cli_a_reader_that_goes_away_is_no_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "calm", "-p", "all", "--seeds", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader closes at once
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cli_check_determinism_runs_each_seed_again() {
    let o = faultline(&["run", "failover-semisync", "-p", "2pc", "--seeds", "4", "--check-determinism"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("every seed ran twice more with the same trace"), "{}", text(&o));
}

#[test]
fn cli_every_printed_command_reproduces_its_seed_at_its_intensity() {
    let json = temp("intense.jsonl");
    let args = ["run", "flaky-network", "-p", "saga", "--mutant", "saga-log-unsynced", "--swarm"];
    let o = faultline(
        &[&args[..], &["--intensity", "2", "--seeds", "6", "--json", json.to_str().unwrap()]].concat(),
    );
    assert_eq!(o.status.code(), Some(1), "the bug is caught: {}", text(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l.get("seed").is_some())
        .collect();
    assert!(lines.iter().all(|l| l["intensity"] == 2.0), "records carry the intensity");
    let out = text(&o);
    let replays: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("replay: ")).collect();
    assert!(!replays.is_empty(), "{out}");
    for cmd in replays {
        assert!(cmd.contains("--intensity 2") && cmd.contains("--swarm"), "{cmd}");
        let words: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let o = faultline(&[&words[..], &["--json", "-"]].concat());
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let seed = doc["outcome"]["seed"].as_u64().unwrap();
        let line = lines.iter().find(|l| l["seed"] == seed).unwrap();
        assert_eq!(doc["outcome"]["trace_hash"], line["trace_hash"], "{cmd}");
    }
    let o = faultline(&["run", "calm", "-p", "saga", "--intensity", "nan"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = faultline(&["run", "calm", "-p", "saga", "--intensity", "1e12"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn cli_refund_race_refunds_in_every_protocol_and_reconcile_heals_failover_async() {
    let json = temp("refund-race.jsonl");
    let o = faultline(&[
        "run",
        "refund-race",
        "--protocol",
        "all",
        "--seeds",
        "20",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = std::fs::read_to_string(&json).unwrap();
    for p in ["saga", "tcc", "outbox", "2pc"] {
        let refunds: u64 = lines
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["protocol"] == p)
            .map(|r| r["metrics"]["refunds"].as_u64().unwrap_or(0))
            .sum();
        assert!(refunds > 0, "{p} refunds on refund-race");
    }

    let o = faultline(&["run", "failover-async", "--protocol", "all", "--reconcile", "--seeds", "30"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("saga +reconcile") && t.contains("heal p99"), "{t}");
    assert!(t.contains("reconciler:") && t.contains("left for a person; time to heal"), "{t}");
    // A failing seed's command carries the flag, so it replays what ran.
    assert!(!t.contains("failing seeds:") || t.contains("--reconcile"), "{t}");
}

#[test]
fn cli_a_targeted_message_fault_finds_its_message_or_says_it_did_not() {
    let file = temp("targeted.toml");
    let plan = |from: &str, to: &str, label: &str, nth: u32, action: &str| {
        format!(
            "[[plan]]\nat_ms = 0\nkind = \"message\"\nfrom = \"{from}\"\nto = \"{to}\"\nlabel = \"{label}\"\nnth = {nth}\naction = \"{action}\"\n"
        )
    };
    let scenario = [
        "name = \"targeted\"\nsettle_ms = 30000\nfault_window_ms = 5000\n[workload]\norders = 4\narrival_ms = 1000\n".to_string(),
        plan("client", "coordinator", "place-order", 2, "drop"),
        plan("coordinator", "payment", "pay-charge", 1, "duplicate"),
        plan("coordinator", "payment", "no-such-label", 1, "drop"),
    ]
    .concat();
    std::fs::write(&file, scenario).unwrap();
    let json = temp("targeted.jsonl");
    let o = faultline(&[
        "run",
        file.to_str().unwrap(),
        "-p",
        "saga",
        "--seeds",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = std::fs::read_to_string(&json).unwrap();
    let runs: Vec<serde_json::Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &serde_json::Value| r["seed"].is_u64())
        .collect();
    assert_eq!(runs.len(), 3);
    for r in &runs {
        assert_eq!(r["metrics"]["faults"]["targeted"], 2, "both real messages were found: {r}");
        assert_eq!(r["metrics"]["faults"]["targeted-missed"], 1, "the third says it found nothing: {r}");
        assert!(r["coverage"].as_array().unwrap().iter().any(|c| c == "message-dropped"), "{r}");
    }
    let o = faultline(&["replay", file.to_str().unwrap(), "-p", "saga", "--seed", "0"]);
    let t = text(&o);
    assert!(t.contains("place-order #2: Drop") && t.contains("DROPPED (Targeted)"), "{t}");

    // A crash placed between two steps of a handler: the inventory dies as
    // its store answers the first transaction, and comes back 500 ms later.
    let crash = plan("inventory-db", "inventory", "txn-ok", 1, "crash-receiver") + "ms = 500\n";
    let head = "name = \"t\"\nsettle_ms = 30000\nfault_window_ms = 5000\n[workload]\norders = 4\narrival_ms = 1000\n";
    std::fs::write(&file, format!("{head}{crash}")).unwrap();
    let o = faultline(&[
        "run",
        file.to_str().unwrap(),
        "-p",
        "all",
        "--seeds",
        "5",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for l in std::fs::read_to_string(&json).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(l).unwrap();
        if r["seed"].is_u64() {
            let faults = &r["metrics"]["faults"];
            assert!(faults["targeted"] == 1 && faults["crash"] == 1 && faults["restart"] == 1, "{r}");
        }
    }

    std::fs::write(
        &file,
        plan("client", "coordinator", "place-order", 0, "drop")
            .replace("[[plan]]", "name = \"t\"\nsettle_ms = 30000\nfault_window_ms = 5000\n[[plan]]"),
    )
    .unwrap();
    let o = faultline(&["run", file.to_str().unwrap(), "-p", "saga"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nth counts from 1"), "{}", text(&o));
}

#[test]
fn cli_bench_detect_shrinks_and_reruns_each_catch_and_signatures_count_distinct_failures() {
    let json = temp("detect.json");
    let file = json.to_str().unwrap();
    let mutant = "tcc-try-check-then-act";
    let args =
        ["bench", "detect", "--on", "check-then-act", "--starts", "2", "--budget", "5", "--mutant", mutant];
    let o = faultline(&[&args[..], &["--json", file]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let row = &rows[0];
    assert_eq!(row["plain"]["median_seeds"], 1, "{row}");
    assert_eq!(row["reproduces"], true, "{row}");
    assert!(row["shrunk_size"]["orders"] == 1 && row["pct"]["median_seeds"].is_u64(), "{row}");
    let o = faultline(&["bench", "detect", "--mutant", "no-such-bug"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Three failing seeds of one placed race: one failure, told apart from none.
    let sig = temp("signatures.json");
    let args = ["bench", "signatures", "--on", "check-then-act", "--seeds", "3", "--mutant", mutant];
    let o = faultline(&[&args[..], &["--json", sig.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    let row = t.lines().find(|l| l.starts_with("check-then-act")).expect(&t);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..3], ["3", "1"], "3 failing runs, 1 distinct signature: {t}");
    let doc = std::fs::read_to_string(&sig).unwrap();
    assert!(doc.contains("eventual-settlement at ") && doc.contains(" after targeted"), "{doc}");
}

/// The shop's workflow file with its stock and payment steps swapped.
fn shop_paid_first() -> std::path::PathBuf {
    let (stock, payment) =
        ("name = \"stock\"\noperation = \"deduct-stock\"", "name = \"payment\"\noperation = \"charge\"");
    let text = include_str!("../../../protocols/workflows/shop.toml")
        .replacen(stock, "SWAP", 1)
        .replacen(payment, stock, 1)
        .replacen("SWAP", payment, 1)
        .replacen("name = \"shop\"", "name = \"shop-paid-first\"", 1);
    let f = temp("shop-paid-first.toml");
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn cli_workflow_from_a_file_runs_every_protocol_and_printed_commands_carry_it() {
    let pf = shop_paid_first();
    let pf = pf.to_str().unwrap();
    // Every engine, on a workflow written only in a file.
    let o =
        faultline(&["run", "crash-restart", "-p", "all", "--workflow", pf, "--seeds", "20", "--json", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = String::from_utf8_lossy(&o.stdout).to_string();
    let runs: Vec<serde_json::Value> =
        lines.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(runs.len(), 80);
    assert!(runs.iter().all(|r| r["workflow"] == "shop-paid-first" && r["workflow_flag"] == pf));
    let header = faultline(&["run", "calm", "-p", "saga", "--workflow", pf, "--seeds", "1"]);
    assert!(text(&header).contains("workflow: shop-paid-first — payment → stock → ship (pivot)"));
    // A failure's printed replay repeats the flag, and replays it.
    let bug = ["--mutant", "stock-check-off-by-one", "--workflow", pf];
    let o = faultline(&[&["run", "everything", "-p", "saga", "--seeds", "5"][..], &bug[..]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want =
        format!("replay everything --protocol saga --mutant stock-check-off-by-one --workflow {pf} --seed");
    assert!(text(&o).contains(&want), "{}", text(&o));
    let seed = text(&o).split(&want).nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let replay =
        faultline(&[&["replay", "everything", "-p", "saga", "--seed", &seed][..], &bug[..]].concat());
    assert_eq!(replay.status.code(), Some(1), "{}", text(&replay));
}

#[test]
fn cli_a_bad_workflow_file_exits_2_with_one_line_naming_file_line_field_and_rule() {
    let pf = shop_paid_first();
    let text_of = |f: &std::path::Path| std::fs::read_to_string(f).unwrap();
    let cases = [
        // (change, what the one line must say)
        (
            ("at = \"points\"\nkey", "at = \"loyalty\"\nkey"),
            ":46: quantity \"points\": at: unknown participant \"loyalty\"",
        ),
        (("[[step]]\nname = \"payment\"\noperation = \"charge\"\n", ""), "0 steps at payment"),
        (
            ("initial = \"stock\"", "initial = \"stock\"\ncache = { sync_ms = 100 }"),
            "quantity stock: a cache stands in front of a participant the workflow declares, not the shop's inventory",
        ),
    ];
    for ((from, to), want) in cases {
        let bad = temp("bad-workflow.toml");
        std::fs::write(&bad, text_of(&pf).replacen(from, to, 1)).unwrap();
        for cmd in ["run", "sweep"] {
            let mut args = vec![cmd, "calm", "--workflow", bad.to_str().unwrap()];
            args.extend(if cmd == "run" { ["-p", "saga"] } else { ["--out", "unused"] });
            let o = faultline(&args);
            assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
            let t = text(&o);
            assert!(t.contains("bad-workflow.toml") && t.contains(want), "{cmd}: {t}");
            assert_eq!(t.trim().lines().count(), 1, "one line: {t}");
        }
    }
    let o = faultline(&["replay", "calm", "-p", "saga", "--seed", "0", "--workflow", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(
            "no workflow \"nope\": not a file, and not built in (shop, payment-first, marketplace, cached-flash-sale)"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn cli_list_workflows_shows_each_with_what_engines_derive_from_its_operations() {
    let o = faultline(&["list", "workflows"]);
    assert!(o.status.success());
    let t = text(&o);
    for want in [
        "shop ",
        "steps: stock → payment → ship (pivot) → points → notify; customers may cancel until ship",
        "stock[sku] at inventory (drawn from stock, never negative)",
        "charge at payment: charge order.amount at gateway; undo: refund it at gateway",
        "hold: authorize order.amount at gateway; confirm: capture the authorization; release: void the authorization",
        "notify at notification: add 1 to notifications; undo: none: it cannot be undone",
        "cached-flash-sale ",
        "stock[sku] at warehouse (drawn from stock, never negative, in a cache in front of warehouse-db: taken there first, synced every 1000 ms, memory only)",
    ] {
        assert!(t.contains(want), "{want:?} missing from:\n{t}");
    }
}

#[test]
fn cli_declared_participants_are_fault_targets_and_the_reconciler_refuses_books_it_cannot_judge() {
    use faultline_protocols::Registry;
    use faultline_scenarios::scenario::Scenario;
    let registry = Registry::builtin();
    // Where a scenario crashes the shop's services and stores, it crashes the
    // declared participants and their stores too.
    let rush = Scenario::load("marketplace-rush", &registry).unwrap();
    for t in ["coupons", "coupons-db", "wallets", "wallets-db", "sellers", "sellers-db"] {
        assert!(rush.faults.targets.iter().any(|x| x == t), "{t}: {:?}", rush.faults.targets);
    }
    // A cache in front of a declared participant's store crashes with it.
    let crash =
        Scenario::load("crash-restart", &registry).unwrap().with_workflow("cached-flash-sale").unwrap();
    for t in ["warehouse", "warehouse-db", "warehouse-cache"] {
        assert!(crash.faults.targets.iter().any(|x| x == t), "{t}: {:?}", crash.faults.targets);
    }
    let failover =
        Scenario::load("failover-async", &registry).unwrap().with_workflow("payment-first").unwrap();
    assert!(failover.faults.failover_targets.iter().any(|x| x == "sms-db"), "{:?}", failover.faults);
    // self-healing tests the reconciler, which judges the shop's books only.
    let o = faultline(&["run", "self-healing", "-p", "saga", "--workflow", "payment-first", "--seeds", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("scenario self-healing runs the reconciler"), "{}", text(&o));
    assert_eq!(text(&o).trim().lines().count(), 1, "{}", text(&o));
}
