//! Untrusted scenario files: every hand-broken fixture in tests/broken exits 2
//! with one precise line (file, line where there is one, field, rule);
//! FIFOs, devices, directories and oversized files are refused unread; and a
//! property feeds arbitrary and mutated files to the parser and the runner.

use faultline_protocols::check::Invariant;
use faultline_protocols::Registry;
use faultline_scenarios::runner;
use faultline_scenarios::scenario::{Scenario, CATALOG};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary, killing it if it takes more than 20 s: bad input must never hang.
fn faultline(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faultline");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("faultline {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// Exit 2, nothing on standard output, and one line on standard error that
/// names `origin` and contains `want`.
fn refused(o: &Output, origin: &str, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{origin}: {err}");
    assert!(o.stdout.is_empty(), "{origin}: nothing runs: {}", String::from_utf8_lossy(&o.stdout));
    let line = err.strip_suffix('\n').unwrap_or(&err);
    assert!(!line.contains('\n'), "{origin}: one line, not:\n{err}");
    assert!(line.starts_with("error: ") && line.contains(origin), "{origin}: names the file: {line}");
    assert!(line.contains(want), "{origin}: says {want:?}: {line}");
}

#[test]
fn every_hand_broken_scenario_exits_2_with_one_precise_line() {
    let files = fixtures();
    assert!(files.len() >= 50, "at least fifty fixtures, found {}", files.len());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let first = String::from_utf8_lossy(&bytes).lines().next().unwrap_or("").to_string();
        let want = first.strip_prefix("# expect: ").unwrap_or_else(|| panic!("{f:?}: no `# expect:` line"));
        let path = f.to_str().unwrap();
        refused(&faultline(&["run", path, "-p", "saga", "--seeds", "1"]), path, want);
    }
}

#[test]
fn what_is_not_a_small_regular_file_is_refused_unread() {
    let dir = std::env::temp_dir().join(format!("faultline-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.toml");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let big = dir.join("big.toml");
    std::fs::write(&big, format!("name = \"big\"\nsettle_ms = 9000\n#{}\n", "x".repeat(5 << 20))).unwrap();
    for (path, want) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (dir.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "at most"),
    ] {
        refused(&faultline(&["run", path, "-p", "saga"]), path, want);
    }
}

#[test]
fn out_of_range_flags_exit_2() {
    for (args, want) in [
        (&["--seeds", "18446744073709551615"][..], "--seeds"),
        (&["--seeds", "5", "--first-seed", "18446744073709551614"], "--first-seed"),
        (&["--jobs", "0"], "--jobs"),
        (&["--jobs", "100000000"], "--jobs"),
        (&["--intensity", "inf"], "--intensity"),
        (&["--intensity=-1"], "--intensity"),
    ] {
        let o = faultline(&[&["run", "calm", "-p", "saga"], args].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let o = faultline(&["sweep", "calm", "--out", "/tmp/never", "--intensity", "0,nan"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Values that break naive parsers and arithmetic.
const EXTREMES: [&str; 18] = [
    "0",
    "1",
    "-1",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "1e-300",
    "3600000",
    "3600001",
    "60000",
    "[]",
    "\"x\"",
];

/// `text` with its `n`th number replaced by `value`.
fn replace_number(text: &str, n: usize, value: &str) -> String {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'-')
        {
            let end = (i..bytes.len())
                .find(|j| !(bytes[*j].is_ascii_digit() || bytes[*j] == b'.'))
                .unwrap_or(bytes.len());
            starts.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    match starts.get(n % starts.len().max(1)) {
        Some((a, b)) => format!("{}{value}{}", &text[..*a], &text[*b..]),
        None => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text: an error or a scenario, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = Scenario::parse(&text, "fuzz.toml", &Registry::builtin());
    }
}

/// A catalogue scenario with one number made extreme, or one line gone or
/// doubled: refused with one line naming the file, or accepted — and then
/// within bounds, and one seed of it runs to the end without a panic. Both
/// outcomes must actually happen, or the property tests nothing.
#[test]
fn mutated_scenarios_are_refused_in_one_line_or_run() {
    use proptest::test_runner::{Config, TestRunner};
    let config = Config { cases: 160, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(Default::default()),
    );
    let (refused, ran) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let registry = Registry::builtin();
    let strategy = (0..CATALOG.len(), 0usize..200, 0..EXTREMES.len() + 2, any::<u64>());
    runner
        .run(&strategy, |(which, n, value, random)| {
            let (_, text) = CATALOG[which];
            let lines: Vec<&str> = text.lines().collect();
            let mutated = match value {
                v if v < EXTREMES.len() => replace_number(text, n, EXTREMES[v]),
                v if v == EXTREMES.len() => replace_number(text, n, &random.to_string()),
                _ => {
                    let mut l = lines.clone();
                    let i = n % l.len();
                    if random % 2 == 0 {
                        l.remove(i);
                    } else {
                        l.insert(i, lines[i]);
                    }
                    l.join("\n")
                }
            };
            match Scenario::parse(&mutated, "fuzz.toml", &registry) {
                Err(e) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(e.starts_with("fuzz.toml"), "{e}");
                    prop_assert!(!e.contains('\n'), "one line: {e}");
                }
                Ok(s) => {
                    prop_assert!(faultline_scenarios::bounds::check(&s).is_ok());
                    // Run it when it is small enough for a test; its bounds keep any run finite.
                    if s.workload.orders <= 60 && s.fault_window_ms + s.settle_ms <= 120_000 {
                        ran.set(ran.get() + 1);
                        let p = registry.all()[random as usize % registry.all().len()];
                        let (o, _) = runner::run_seed(&s, p, random % 1000, false);
                        let panicked = o.violations.iter().any(|v| v.invariant == Invariant::NoPanic);
                        prop_assert!(!panicked, "{mutated}\npanicked: {:?}", o.violations);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!("mutated scenarios: {} refused, {} run", refused.get(), ran.get());
    assert!(refused.get() >= 20 && ran.get() >= 20, "refused {}, ran {}", refused.get(), ran.get());
}
