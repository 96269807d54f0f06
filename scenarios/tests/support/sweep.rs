//! A tiny sweep for the report tests: two scenarios, every protocol, two
//! intensities, three seeds, into a fresh directory.

use std::path::PathBuf;
use std::process::Command;

pub fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline")
}

pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn tiny_sweep(name: &str) -> PathBuf {
    let out = dir(name);
    let o = faultline(&[
        "sweep",
        "calm",
        "crash-restart",
        "--seeds",
        "3",
        "--intensity",
        "0,1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}
