//! Runs that stop and carry on, and records that travel: a sweep killed with
//! SIGKILL and resumed has the same records as one never stopped; SIGINT stops
//! cleanly with exit 130; every command a sweep's report prints replays its
//! seed; `report` drops duplicates and refuses to mix what does not mix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The whole run lines of a file of runs, as a set (texts left out). A line
/// without its newline is one a kill cut off mid-write (the file is written
/// through a buffer, so a kill can land at any byte): not a record yet.
fn runs(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let whole = text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n'));
    whole.filter(|l| l.contains("\"seed\"")).map(str::to_string).collect()
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Starts `args`, waits until `file` has more than `lines` lines, then sends `signal`.
fn interrupt(args: &[&str], file: &Path, lines: usize, signal: i32) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..6000 {
        if lines_in(file) > lines {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, signal) };
    child.wait_with_output().unwrap()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

#[test]
fn a_sweep_killed_and_resumed_has_the_records_of_one_never_stopped() {
    let (whole, killed) = (dir("whole"), dir("killed"));
    let args = |out: &Path| {
        [
            "sweep",
            "crash-restart",
            "calm",
            "-p",
            "saga,tcc",
            "--seeds",
            "12",
            "--intensity",
            "1,2",
            "--jobs",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--out".to_string(), out.display().to_string()])
        .collect::<Vec<_>>()
    };
    let whole_args = args(&whole);
    let o = faultline(&whole_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.code().is_some(), "{}", text(&o));
    let want = runs(&whole.join("runs.jsonl"));
    assert_eq!(want.len(), 2 * 2 * 2 * 12);

    let killed_args = args(&killed);
    let killed_args: Vec<&str> = killed_args.iter().map(String::as_str).collect();
    let file = killed.join("runs.jsonl");
    // A report of an earlier sweep in the same place must not outlive it.
    std::fs::write(killed.join("report.html"), "an older sweep's").unwrap();
    let o = interrupt(&killed_args, &file, 20, SIGKILL);
    assert_eq!(o.status.code(), None, "killed by the signal");
    assert!(!killed.join("report.html").exists(), "no stale report beside the new runs");
    let part = runs(&file);
    assert!(part.len() < want.len(), "killed before the end: {} runs", part.len());
    assert!(part.is_subset(&want), "what a kill leaves is right as far as it goes");
    // A report of the cut file says so.
    let o =
        faultline(&["report", killed.to_str().unwrap(), "--out", killed.join("partial").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("holds {} of the {} runs", part.len(), want.len())), "{}", text(&o));
    // A line cut off mid-write, as a kill can leave one.
    let mut torn = std::fs::read_to_string(&file).unwrap();
    torn.push_str("{\"scenario\":\"calm\",\"proto");
    std::fs::write(&file, torn).unwrap();
    let resumed = [&killed_args[..], &["--resume"]].concat();
    let o = faultline(&resumed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already in"), "{}", text(&o));
    assert_eq!(runs(&file), want, "the same set of records");
    assert!(killed.join("report.html").exists());
    // Resuming what is complete runs nothing and changes nothing.
    let o = faultline(&resumed);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(runs(&file), want);
    // Resuming with other flags would mix two sweeps: refused, the file untouched.
    let fewer: Vec<&str> = resumed.iter().map(|a| if *a == "12" { "6" } else { a }).collect();
    let o = faultline(&fewer);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a run of this sweep"), "{}", text(&o));
    assert_eq!(runs(&file), want);
}

#[test]
fn an_interrupted_run_stops_cleanly_and_resumes() {
    let d = dir("sigint");
    let (whole, cut) = (d.join("whole.jsonl"), d.join("cut.jsonl"));
    let args = |f: &Path| {
        let f = f.display().to_string();
        ["run", "crash-restart", "-p", "saga", "--seeds", "300", "--jobs", "1", "--json", &f]
            .map(str::to_string)
            .to_vec()
    };
    let a = args(&whole);
    let o = faultline(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let b = args(&cut);
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let o = interrupt(&b, &cut, 10, SIGINT);
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("interrupted") && t.contains("--resume"), "{t}");
    assert!(t.contains("seeds, 0 failing"), "the summary so far: {t}");
    let part = runs(&cut);
    assert!(part.len() >= 10 && part.len() < 300, "{} runs", part.len());
    assert!(part.is_subset(&runs(&whole)));
    let o = faultline(&[&b[..], &["--resume"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("300 seeds, 0 failing"), "the summary covers the resumed seeds: {}", text(&o));
    assert_eq!(std::fs::read_to_string(&cut).unwrap(), std::fs::read_to_string(&whole).unwrap());
    // A file of another run is not carried on.
    let o = faultline(&[
        "run",
        "calm",
        "-p",
        "saga",
        "--seeds",
        "3",
        "--json",
        whole.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot resume"), "{}", text(&o));
}

#[test]
fn every_command_a_sweeps_report_prints_replays_its_seed() {
    let d = dir("replays");
    // A scenario from a file, under a name of its own: commands must name the file.
    let file = d.join("my flaky.toml");
    let flaky = faultline_scenarios::scenario::catalogue_text("flaky-network").unwrap();
    std::fs::write(&file, flaky.replacen("name = \"flaky-network\"", "name = \"mine\"", 1)).unwrap();
    let out = d.join("sweep");
    let o = faultline(&[
        "sweep",
        file.to_str().unwrap(),
        "-p",
        "saga",
        "--mutant",
        "saga-log-unsynced",
        "--swarm",
        "--intensity",
        "0,1,2",
        "--seeds",
        "6",
        "--first-seed",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "the bug is caught: {}", text(&o));
    let records: Vec<serde_json::Value> =
        runs(&out.join("runs.jsonl")).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3 * 6);
    assert!(records.iter().all(|r| r["seed"].as_u64().unwrap() >= 2), "--first-seed");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("name = &quot;mine&quot;"), "the scenario's text, carried in runs.jsonl");
    let commands: Vec<&str> =
        md.lines().filter(|l| l.starts_with("- **")).filter_map(|l| l.split('`').nth(1)).collect();
    assert!(commands.len() >= 2, "{md}");
    let mut intensities = BTreeSet::new();
    for cmd in commands {
        assert!(cmd.starts_with("faultline replay '") && cmd.contains("--swarm"), "{cmd}");
        // The quoted path is one word; the rest split on spaces.
        let (path, rest) = cmd["faultline replay '".len()..].split_once("' ").unwrap();
        let words: Vec<&str> = [&["replay", path][..], &rest.split(' ').collect::<Vec<_>>()].concat();
        let o = faultline(&[&words[..], &["--json", "-"]].concat());
        assert!(o.status.code() == Some(1), "{cmd}: {}", text(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (seed, intensity) = (&doc["outcome"]["seed"], &doc["outcome"]["intensity"]);
        intensities.insert(intensity.to_string());
        let record = records
            .iter()
            .find(|r| {
                r["seed"] == *seed
                    && r["intensity"].as_f64().unwrap_or(1.0) == intensity.as_f64().unwrap_or(1.0)
            })
            .unwrap();
        assert_eq!(doc["outcome"]["trace_hash"], record["trace_hash"], "{cmd}");
    }
    assert!(intensities.len() >= 2, "classes at more than one intensity: {intensities:?}");
}

#[test]
fn report_drops_duplicates_and_refuses_to_mix() {
    let d = dir("merge");
    let out = d.join("sweep");
    let o = faultline(&["sweep", "calm", "-p", "saga", "--seeds", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let runs_file = out.join("runs.jsonl");
    let report = d.join("report");
    let o = faultline(&[
        "report",
        out.to_str().unwrap(),
        runs_file.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("3 runs (3 duplicate lines dropped)"), "{}", text(&o));

    let original = std::fs::read_to_string(&runs_file).unwrap();
    let variant = |from: &str, to: &str, name: &str| {
        let f = d.join(name);
        let line = original.lines().find(|l| l.contains(from)).unwrap().replacen(from, to, 1);
        std::fs::write(&f, line + "\n").unwrap();
        f
    };
    let version = env!("CARGO_PKG_VERSION");
    let older = variant(&format!("\"version\":\"{version}\""), "\"version\":\"0.0.1\"", "older.jsonl");
    let both = [runs_file.to_str().unwrap(), older.to_str().unwrap()];
    let o = faultline(&["report", both[0], both[1], "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("mixed"), "{}", text(&o));
    let o = faultline(&["report", both[0], both[1], "--allow-mixed", "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let other = variant("\"scenario_hash\":\"", "\"scenario_hash\":\"0", "other.jsonl");
    let o = faultline(&["report", both[0], other.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "different scenario texts: {}", text(&o));
    let disagree = variant("\"trace_hash\":\"", "\"trace_hash\":\"f", "disagree.jsonl");
    let o = faultline(&["report", both[0], disagree.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("different trace hashes"), "{}", text(&o));
    let o = faultline(&["report", "/dev/zero", "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a device is not a file of runs: {}", text(&o));
}

/// `--shard K/N` slices a sweep with no overlap and no gap: three slices,
/// merged by `report`, are the whole sweep's runs, and its report but for the
/// line naming the command that made it. `run --shard` slices the same way.
#[test]
fn shards_merge_into_the_whole_sweep() {
    let d = dir("shards");
    let sweep = ["sweep", "calm", "crash-restart", "-p", "saga,tcc", "--seeds", "7", "--jobs", "2"];
    let at = |name: &str| d.join(name).to_str().unwrap().to_string();
    let o = faultline(&[&sweep[..], &["--out", &at("all")]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let mut slices = Vec::new();
    for k in 1..=3 {
        let o = faultline(
            &[&sweep[..], &["--out", &at(&format!("s{k}")), "--shard", &format!("{k}/3")]].concat(),
        );
        assert!(o.status.success(), "{}", text(&o));
        slices.push(runs(&d.join(format!("s{k}/runs.jsonl"))));
    }
    let whole = runs(&d.join("all/runs.jsonl"));
    assert_eq!(whole.len(), 2 * 2 * 7);
    assert!(slices.iter().all(|s| !s.is_empty() && s.len() <= 10), "a like share each: {slices:?}");
    assert_eq!(slices.iter().map(BTreeSet::len).sum::<usize>(), whole.len(), "no overlap");
    assert_eq!(slices.iter().flatten().cloned().collect::<BTreeSet<_>>(), whole, "no gap");
    let o = faultline(&["report", &at("s1"), &at("s2"), &at("s3"), "--out", &at("merged")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = faultline(&["report", &at("all"), "--out", &at("again")]);
    assert!(o.status.success(), "{}", text(&o));
    let body = |p: &str| {
        let t = std::fs::read_to_string(d.join(p)).unwrap();
        t.lines().filter(|l| !l.contains("report ") || !l.contains("--out")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(body("merged/report.md"), body("again/report.md"));
    assert_eq!(body("merged/report.html"), body("again/report.html"));
    // `run` deals (protocol, seed) the same way; a bad slice is refused.
    let run = ["run", "calm", "-p", "saga,tcc", "--seeds", "5", "--jobs", "1"];
    let mut seen = BTreeSet::new();
    for k in 1..=2 {
        let file = at(&format!("run{k}.jsonl"));
        let o = faultline(&[&run[..], &["--shard", &format!("{k}/2"), "--json", &file]].concat());
        assert!(o.status.success(), "{}", text(&o));
        for line in runs(Path::new(&file)) {
            assert!(seen.insert(line), "a run in two slices");
        }
    }
    assert_eq!(seen.len(), 10);
    for bad in ["0/2", "3/2", "1/0", "x"] {
        let o = faultline(&[&run[..], &["--shard", bad]].concat());
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("a shard is K/N"), "{}", text(&o));
    }
}
