//! Every command faultline prints beside a failing verdict works: for every
//! mutant of the zoo, the `replay` and `shrink` commands that `run` and
//! `sweep` print for its first failing seed on `everything` exit 1, and the
//! shrunk file reproduces a failure on its own.

use faultline_protocols::Registry;
use faultline_scenarios::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-printed-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The words of a printed `faultline …` command, the binary's name dropped.
fn words(command: &str) -> Vec<String> {
    let mut w = command.split_whitespace().map(str::to_string);
    assert_eq!(w.next().as_deref(), Some("faultline"), "{command}");
    w.collect()
}

/// Runs a printed replay and shrink pair: both exit 1, and the file the
/// shrink wrote, run alone, fails too.
fn check(replay: &str, shrink: &str, out: &Path, (protocol, mutant): (&str, &str)) {
    let replayed = faultline(&words(replay).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(replayed.status.code(), Some(1), "{replay}\n{}", text(&replayed));
    let file = out.display().to_string();
    let mut args = words(shrink);
    args.extend(["--out".into(), file.clone(), "--json".into(), "-".into()]);
    let shrunk = faultline(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(shrunk.status.code(), Some(1), "{shrink}\n{}", text(&shrunk));
    let doc: serde_json::Value = serde_json::from_slice(&shrunk.stdout).unwrap();
    assert_eq!(doc["reproduces"], true, "{shrink}: {doc}");
    let again = faultline(&["run", &file, "-p", protocol, "--mutant", mutant, "--seeds", "1"]);
    assert_eq!(again.status.code(), Some(1), "{shrink} wrote {file}, which passes:\n{}", text(&again));
}

#[test]
fn printed_replay_and_shrink_commands_work_for_every_zoo_mutant_on_everything() {
    let registry = Registry::builtin();
    for (m, protocols) in registry.mutants() {
        let p = protocols[0].name();
        let d = dir(m.name);
        // A bug in a declared participant is hunted on its own ground, whose
        // workflow declares one, named again with `--workflow`: the printed
        // commands must carry the flag.
        let workflow = Scenario::load(m.hunt.scenario, &registry).unwrap().workflow().name.clone();
        let ground = if workflow == "shop" { "everything" } else { m.hunt.scenario };
        let hunt = [ground, "-p", p, "--mutant", m.name, "--seeds", "60", "--workflow", &workflow];
        // `run` prints each failing seed with its commands, in seed order.
        let o = faultline(&[&["run"][..], &hunt].concat());
        assert_eq!(o.status.code(), Some(1), "{} on {p}: no failing seed in 60\n{}", m.name, text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let printed =
            stdout.split("failing seeds:").nth(1).unwrap_or_else(|| panic!("no failing seeds:\n{stdout}"));
        let line = |kind: &str| {
            let prefix = format!("{kind}: ");
            let found = printed.lines().map(str::trim).find(|l| l.starts_with(&prefix));
            found.unwrap_or_else(|| panic!("no {kind} command printed:\n{printed}"))[prefix.len()..]
                .to_string()
        };
        check(&line("replay"), &line("shrink"), &d.join("run.toml"), (p, m.name));
        // `sweep` prints each violation class's first seed in its report.
        let out = d.join("sweep").display().to_string();
        let o = faultline(&[&["sweep"][..], &hunt, &["--out", &out]].concat());
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let html = std::fs::read_to_string(d.join("sweep/report.html")).unwrap();
        // A failing class's pair (an expected class's seed has only its replay).
        let mut pres =
            html.split("<pre>faultline replay ").skip(1).map(|p| p.split("</pre>").next().unwrap());
        let pre =
            pres.find(|p| p.contains("\nfaultline shrink ")).expect("a failing class with its commands");
        let (replay, shrink) = pre.split_once('\n').unwrap();
        check(&format!("faultline replay {replay}"), shrink, &d.join("sweep.toml"), (p, m.name));
        let _ = std::fs::remove_dir_all(&d);
    }
}
