//! `faultline sweep` and `faultline report` end to end: a tiny sweep's report
//! has every protocol, scenario and chart, its SVGs are well-formed, and a real
//! browser renders it (skipped, loudly, where no browser is installed — but
//! `.ci/run` installs one and sets FAULTLINE_REQUIRE_BROWSER, so CI cannot skip).

use std::path::{Path, PathBuf};
use std::process::Command;

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("run faultline")
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tiny_sweep(name: &str) -> PathBuf {
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
    for chart in
        ["latency-cdf.svg", "consistency-cdf.svg", "intensity.svg", "intensity-latency.svg", "messages.svg"]
    {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{chart}: {e}"));
        assert!(md.contains(&format!("({chart})")), "{chart} linked from report.md");
    }
    assert_eq!(html.matches("<svg").count(), 5);
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
    // Bad input names the line.
    let bad = again.join("bad.jsonl");
    std::fs::write(&bad, "{}\nnope\n").unwrap();
    let o = faultline(&["report", bad.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.jsonl, line 2"));
}

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        for d in std::env::split_paths(&path) {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn screenshot(browser: &Path, html: &Path, png: &Path, profile: &Path) {
    let url = format!("file://{}", html.display());
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-default-apps",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("start the browser");
    assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn report_renders_in_a_real_browser() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_BROWSER").is_none(),
            "FAULTLINE_REQUIRE_BROWSER is set but no chromium is installed"
        );
        eprintln!("SKIPPED: no chromium on PATH; .ci/run installs it");
        return;
    };
    let out = tiny_sweep("browser");
    let png = out.join("report.png");
    screenshot(&browser, &out.join("report.html"), &png, &out.join("profile"));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2400), "the size asked for");
    let bytes = &buf[..info.buffer_size()];
    let px = info.color_type.samples();
    let first = &bytes[..px];
    let different = bytes.chunks(px).filter(|p| *p != first).count();
    let share = different as f64 / (info.width * info.height) as f64;
    assert!(share > 0.02, "a blank page: only {:.2}% of pixels differ from the first", share * 100.0);
    // Coloured verdict cells and chart lines: more than grey text on white.
    let coloured =
        bytes.chunks(px).filter(|p| p.len() >= 3 && (p[0] as i32 - p[1] as i32).abs() > 40).count();
    assert!(coloured > 500, "no colour rendered ({coloured} pixels)");
    // The decision table is at the top: coloured verdict cells within the first 500 rows.
    let top = &bytes[..(500 * info.width) as usize * px];
    let tinted = |p: &[u8]| p.len() >= 3 && p[..3].iter().max().unwrap() - p[..3].iter().min().unwrap() > 15;
    let coloured_top = top.chunks(px).filter(|p| tinted(p)).count();
    assert!(coloured_top > 2000, "no decision table at the top ({coloured_top} tinted pixels)");
}
