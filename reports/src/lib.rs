//! faultline-reports: turns the JSON lines of runs into a report a design
//! review can read — one self-contained HTML file (inline SVG charts, inline
//! CSS, no scripts, no fetches) and a Markdown summary with SVG files beside it.
//! A pure function of its input: the same lines give the same bytes.
//!
//! - [`record`] — one run as the report reads it (a subset of a JSON line).
//! - [`summary`] — runs grouped per scenario, protocol and fault intensity.
//! - [`decision`] — the answer first: one row and one sentence per protocol.
//! - [`hist`] — mergeable per-order latency histograms.
//! - [`charts`] — the SVG charts, drawn with plotters.
//! - [`render`] — the HTML and Markdown documents.

pub mod charts;
pub mod decision;
pub mod hist;
pub mod record;
pub mod render;
pub mod summary;

pub use record::Record;

/// What produced the report, printed in it so it can be regenerated.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub command: String,
    pub version: String,
    /// (name, text) of every scenario file the runs came from.
    pub scenarios: Vec<(String, String)>,
    /// Shrunk counterexamples, by violation class: (scenario, protocol as
    /// tables label it, mutant, invariant) → the minimal run's sequence diagram.
    pub counterexamples: std::collections::BTreeMap<(String, String, Option<String>, String), String>,
    /// A run over time per scenario (one seed, every protocol), for the
    /// Jepsen-style chart: scenario → its runs.
    pub timelines: std::collections::BTreeMap<String, Vec<Timeline>>,
    /// The first failing seed of each failure class, over time: (scenario, run).
    pub failures: Vec<(String, Timeline)>,
}

/// One run over simulated time: each order's submission and latency, and
/// the fault windows — what the run-over-time chart draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub protocol: String,
    pub seed: u64,
    /// What the run stands for: the first seed, or the failures it is the
    /// first of ("first eventual-settlement").
    pub label: String,
    /// (submitted at, s; latency, ms — `None` if it never finished).
    pub orders: Vec<(f64, Option<f64>)>,
    /// Per order, its first to its last write in any service (s): while it
    /// lasts, two services can disagree about the order.
    pub inconsistent: Vec<(f64, f64)>,
    /// (fault kind, from s, to s).
    pub faults: Vec<(String, f64, f64)>,
    /// Where the fault window ends, s.
    pub window_s: f64,
}

/// A built report: the two documents and the charts the Markdown links to.
pub struct Report {
    pub html: String,
    pub markdown: String,
    /// (file name, SVG text) for every chart.
    pub charts: Vec<(String, String)>,
}

/// Builds the report from run records.
pub fn build(records: &[Record], provenance: &Provenance) -> Report {
    build_from(&summary::Summary::of(records), provenance)
}

/// Builds the report from a summary streamed with [`summary::SummaryBuilder`].
pub fn build_from(s: &summary::Summary, provenance: &Provenance) -> Report {
    let charts = charts::all(s, provenance);
    Report {
        html: render::html(s, &charts, provenance),
        markdown: render::markdown(s, &charts, provenance),
        charts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two scenarios, two protocols: a pass, an expected violation, a failure.
    pub(crate) const LINES: &str = r#"{"scenario":"calm","protocol":"saga","seed":0,"verdict":"pass","violations":[],"metrics":{"orders_submitted":20,"orders_completed":9,"orders_cancelled":11,"cancelled_by":{"out-of-stock":8,"insufficient-funds":2,"faults":1},"messages_sent":800,"retries":0,"compensations":11,"latency_ms":{"p50":140.0,"p90":250.0,"p99":300.0,"max":310.0},"time_to_consistency_ms":{"p50":140.0,"p90":250.0,"p99":300.0,"max":310.0},"longest_inconsistency_ms":290.0}}
{"scenario":"calm","protocol":"tcc","seed":0,"verdict":"pass","violations":[],"metrics":{"orders_submitted":20,"orders_completed":9,"orders_cancelled":11,"cancelled_by":{"out-of-stock":11},"messages_sent":1000,"latency_ms":{"p50":230.0,"p90":260.0,"p99":280.0,"max":281.0},"time_to_consistency_ms":{"p99":280.0},"reserved_unit_s":1.5,"authorized_cent_s":3700.0}}
{"scenario":"failover-async","protocol":"saga","seed":7,"verdict":"expected","violations":[{"invariant":"agreement","subject":"order 3","detail":"order is completed but points awarded: false"}],"metrics":{"orders_submitted":20,"orders_completed":8,"orders_cancelled":12,"cancelled_by":{"out-of-stock":9,"customer":1,"faults":2},"messages_sent":1200,"latency_ms":{"p50":340.0,"p99":800.0},"time_to_consistency_ms":{"p99":800.0}}}
{"scenario":"failover-async","protocol":"tcc","seed":7,"mutant":"tcc-no-hang-guard","verdict":"fail","violations":[{"invariant":"eventual-settlement","subject":"sku 1","detail":"3 units still reserved"}],"metrics":{"orders_submitted":20,"orders_completed":7,"orders_cancelled":13,"messages_sent":1400,"latency_ms":{"p50":360.0,"p99":900.0},"time_to_consistency_ms":{"p99":900.0}}}
"#;

    fn report(lines: &str) -> Report {
        let records = record::parse(lines, "test.jsonl").unwrap();
        let p =
            Provenance { command: "faultline sweep".into(), version: "0.1.0".into(), ..Default::default() };
        build(&records, &p)
    }

    #[test]
    fn the_report_is_a_pure_function_of_its_input() {
        let (a, b) = (report(LINES), report(LINES));
        assert_eq!(a.html, b.html);
        assert_eq!(a.markdown, b.markdown);
    }

    #[test]
    fn golden() {
        let r = report(LINES);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report.md");
        if std::env::var("FAULTLINE_UPDATE_GOLDEN").is_ok() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &r.markdown).unwrap();
        }
        let want = std::fs::read_to_string(&path).expect("golden file (FAULTLINE_UPDATE_GOLDEN=1 writes it)");
        assert_eq!(
            r.markdown, want,
            "report.md changed; if on purpose, rerun with FAULTLINE_UPDATE_GOLDEN=1"
        );
    }

    #[test]
    fn verdicts_tables_and_violations_are_all_there() {
        let r = report(LINES);
        for want in
            ["pass (1 seeds)", "expected: 1 of 1 seeds", "fail: 1 of 1 seeds (eventual-settlement ×1)"]
        {
            assert!(r.html.contains(want), "{want} missing");
            assert!(r.markdown.contains(want), "{want} missing from the markdown");
        }
        assert!(r
            .html
            .contains("faultline replay failover-async --protocol tcc --mutant tcc-no-hang-guard --seed 7"));
        assert!(r
            .html
            .contains("faultline shrink failover-async --protocol tcc --mutant tcc-no-hang-guard --seed 7"));
        assert_eq!(r.charts.len(), charts::FILES.len());
        assert_eq!(r.html.matches("<svg").count(), charts::FILES.len(), "every chart inline");
        // Self-contained: no script, and nothing fetched (the SVG namespace URI is a name, not a fetch).
        assert!(!r.html.contains("<script"));
        for fetch in ["src=", "href=", "url(", "@import"] {
            assert!(!r.html.contains(fetch), "{fetch} in the report");
        }
    }

    #[test]
    fn printed_commands_carry_the_runs_intensity_and_swarm() {
        let line = r#"{"scenario":"calm","protocol":"saga","seed":4,"intensity":2.0,"swarm":{"loss_rate":0.1},"verdict":"fail","violations":[{"invariant":"agreement","subject":"order 1","detail":"x"}],"metrics":{}}"#;
        let r = report(line);
        assert!(
            r.markdown.contains("replay calm --protocol saga --intensity 2 --swarm --seed 4"),
            "{}",
            r.markdown
        );
        assert!(r.html.contains("shrink calm --protocol saga --intensity 2 --swarm --seed 4"));
    }

    #[test]
    fn the_report_names_the_workflow_and_commands_carry_its_flag_quoted() {
        let line = r#"{"scenario":"calm","protocol":"saga","seed":4,"workflow":"payment-first","workflow_flag":"my flows/pf.toml","verdict":"fail","violations":[{"invariant":"agreement","subject":"order 1","detail":"x"}],"metrics":{}}"#;
        let r = report(line);
        let want = "replay calm --protocol saga --workflow 'my flows/pf.toml' --seed 4";
        assert!(r.markdown.contains(want), "{}", r.markdown);
        assert!(r.markdown.contains("The protocols compared on the payment-first workflow."));
        assert!(r.html.contains("The protocols compared on the payment-first workflow."));
    }

    #[test]
    fn printed_commands_carry_pct_and_a_pct_run_is_not_the_plain_one() {
        let line = |pct: bool| {
            format!(
                r#"{{"scenario":"calm","protocol":"tcc","seed":4,"pct":{pct},"trace_hash":"{pct}","verdict":"fail","violations":[{{"invariant":"agreement","subject":"order 1","detail":"x"}}],"metrics":{{}}}}"#
            )
        };
        let r = report(&line(true));
        assert!(r.markdown.contains("replay calm --protocol tcc --pct --seed 4"), "{}", r.markdown);
        let record = |pct| serde_json::from_str::<crate::record::Record>(&line(pct)).unwrap();
        assert_ne!(record(true).key(), record(false).key(), "same seed, another run");
    }

    #[test]
    fn a_protocol_with_the_reconciler_is_a_row_of_its_own() {
        let with = r#"{"scenario":"failover-async","protocol":"saga","seed":2,"reconcile":true,"verdict":"fail","violations":[{"invariant":"repairs-justified","subject":"order 1","detail":"x"}],"metrics":{"repairs":3,"heal_ms_p99":20500.0,"at_risk_dollar_s":12.5}}"#;
        let without = r#"{"scenario":"failover-async","protocol":"saga","seed":2,"verdict":"pass","violations":[],"metrics":{}}"#;
        let r = report(&format!("{with}\n{without}"));
        assert!(r.markdown.contains("| saga +reconcile | 1 |"), "{}", r.markdown);
        assert!(r.markdown.contains("| saga | 1 |"), "{}", r.markdown);
        assert!(r.markdown.contains("| repairs | heal p99 ms | at risk $·s |"), "{}", r.markdown);
        assert!(r.markdown.contains("| 3 | 20500 | 12.5 |"), "{}", r.markdown);
        assert!(
            r.markdown.contains("replay failover-async --protocol saga --reconcile --seed 2"),
            "{}",
            r.markdown
        );
    }

    #[test]
    fn every_string_from_the_input_is_escaped() {
        let evil =
            LINES.replace("\"calm\"", "\"<script>alert(1)</script>\"").replace("order 3", "order <b>3</b>");
        let r = report(&evil);
        assert!(!r.html.contains("<script>"), "a scenario name injected a script");
        assert!(!r.html.contains("<b>3</b>"));
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!r.markdown.contains("<script>"));
    }

    #[test]
    fn every_chart_is_well_formed_svg_with_a_title_and_axes() {
        for (name, svg) in report(LINES).charts {
            let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(doc.root_element().tag_name().name(), "svg", "{name}");
            let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
            assert!(texts.len() > 5, "{name}: a title, axis labels and ticks: {texts:?}");
            assert!(!svg.contains("chart failed"), "{name}");
        }
    }

    #[test]
    fn a_shrunk_counterexample_is_shown_under_its_class() {
        let records = record::parse(LINES, "test.jsonl").unwrap();
        let mut p = Provenance::default();
        let key = (
            "failover-async".into(),
            "tcc (tcc-no-hang-guard)".into(),
            Some("tcc-no-hang-guard".into()),
            "eventual-settlement".into(),
        );
        p.counterexamples.insert(key, "» 1.0s │──▶│ stock-try <late>".into());
        let r = build(&records, &p);
        assert!(r.html.contains("shrunk counterexample: sequence diagram"));
        assert!(r.html.contains("stock-try &lt;late&gt;"), "escaped");
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = record::parse("{\"seed\":1}\nnot json\n", "runs.jsonl").unwrap_err();
        assert!(err.starts_with("runs.jsonl, line 2:"), "{err}");
        // A last line cut off mid-write is left out, and said to be.
        let mut n = 0;
        let read = record::read("{\"seed\":1}\n{\"seed\":2,\"ver".as_bytes(), "runs.jsonl", |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert!(read.torn && n == 1);
        // A line far too long is refused without being held whole.
        let long = format!("{{\"detail\":\"{}\"}}\n", "x".repeat(record::MAX_LINE));
        let err = record::parse(&long, "big.jsonl").unwrap_err();
        assert!(err.contains("longer than"), "{err}");
    }
}
