//! A real browser renders the report: headless Chromium takes a screenshot of
//! a tiny sweep's report.html, which must be neither blank nor colourless, with
//! the decision table at the top. Its own harness (libtest-mimic), so that on
//! a machine without Chromium the test is reported *ignored*, not "ok";
//! `.ci/run` installs Chromium and sets FAULTLINE_REQUIRE_BROWSER, under which
//! a missing browser fails instead.

#[path = "support/sweep.rs"]
mod sweep;

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::Command;
use sweep::tiny_sweep;

fn main() {
    let args = Arguments::from_args();
    let found = browser();
    let required = std::env::var_os("FAULTLINE_REQUIRE_BROWSER").is_some();
    let ignored = found.is_none() && !required;
    let trial = Trial::test("report_renders_in_a_real_browser", move || match &found {
        Some(b) => renders(b),
        None => {
            Err("no chromium on PATH (FAULTLINE_REQUIRE_BROWSER is set, or the test was asked for)".into())
        }
    })
    .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit();
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

fn renders(browser: &Path) -> Result<(), Failed> {
    let out = tiny_sweep("browser");
    let png = out.join("report.png");
    screenshot(browser, &out.join("report.html"), &png, &out.join("profile"));
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
    // The run over time and the per-scenario distributions render, not blank, in colour.
    for chart in ["timelines.svg", "orders-latency.svg", "resources.svg"] {
        let png = out.join(format!("{chart}.png"));
        screenshot(browser, &out.join(chart), &png, &out.join("profile"));
        let (bytes, px) = pixels(&png);
        let white = bytes.chunks(px).filter(|p| p[..3].iter().all(|c| *c > 250)).count();
        let tinted = bytes.chunks(px).filter(|p| tinted(p)).count();
        let total = bytes.len() / px;
        assert!(white < total * 98 / 100, "{chart} renders blank");
        assert!(tinted > 500, "{chart} has no colour ({tinted} tinted pixels)");
    }
    Ok(())
}

/// A PNG's pixel bytes and bytes per pixel.
fn pixels(png: &Path) -> (Vec<u8>, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (buf, info.color_type.samples())
}
