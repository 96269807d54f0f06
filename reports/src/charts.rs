//! The report's charts as SVG text, drawn with plotters' SVG backend: titles,
//! axes with units, and a colour key above each plot (never over the data).
//! One series per protocol, in a fixed colour each.

use crate::summary::Summary;
use plotters::prelude::*;

const SIZE: (u32, u32) = (760, 420);

/// The file names of the charts, in the order the report shows them.
pub const FILES: [&str; 10] = [
    "timelines.svg",
    "failures-over-time.svg",
    "orders-latency.svg",
    "orders-consistency.svg",
    "latency-cdf.svg",
    "consistency-cdf.svg",
    "intensity.svg",
    "intensity-latency.svg",
    "messages.svg",
    "resources.svg",
];

/// (file name, SVG) of every chart, in the order the report shows them.
pub fn all(s: &Summary, provenance: &crate::Provenance) -> Vec<(String, String)> {
    let charts = [
        over_time(s, &provenance.timelines),
        failures_over_time(&provenance.failures),
        orders_cdf(s, "Latency per order, by scenario (CDF over orders)", "order latency (ms, log)", |g| {
            &g.latency_hist
        }),
        orders_cdf(
            s,
            "Time to consistency per order, by scenario (CDF over orders)",
            "submission to last write (ms, log)",
            |g| &g.ttc_hist,
        ),
        cdf(
            s,
            "End-to-end latency per protocol (CDF over seeds)",
            "median order latency of a seed (ms)",
            |g| &g.seed_latency_p50,
        ),
        cdf(
            s,
            "Time to consistency per protocol (CDF over seeds)",
            "p99 time to consistency of a seed (ms)",
            |g| &g.seed_ttc_p99,
        ),
        intensity(s),
        intensity_latency(s),
        messages(s),
        resources(s),
    ];
    FILES.iter().map(|f| f.to_string()).zip(charts).collect()
}

/// Sixteen colours, so that every fault kind (there are more than ten) has
/// its own in a run over time.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 16] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(0, 0, 128),
        RGBColor(128, 0, 0),
        RGBColor(0, 128, 128),
        RGBColor(128, 128, 0),
        RGBColor(255, 215, 0),
        RGBColor(112, 128, 144),
    ];
    C[i % C.len()]
}

/// Renders with `draw`; a drawing error becomes a chart that says so.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>) -> String {
    svg_sized(SIZE, draw)
}

fn svg_sized(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|()| draw(&root));
        if let Err(e) = drawn {
            let _ = root.draw_text(
                &format!("chart failed: {e}"),
                &("sans-serif", 16).into_font().color(&RED),
                (20, 20),
            );
        }
        let _ = root.present();
    }
    out
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A titled chart on `root` over `x` × `y`, its axes labelled with units;
/// `x_names`, if any, label the middle of each whole x step (categories)
/// instead of numbers.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
    x_names: &[String],
) -> Result<Chart<'a, 'b>, String> {
    let mut builder = ChartBuilder::on(root);
    if !title.is_empty() {
        builder.caption(title, ("sans-serif", 20));
    }
    let mut chart = builder
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    // Ticks every half step; the names go on the middles.
    let name = |x: &f64| match (x.fract() - 0.5).abs() < 1e-6 {
        true => x_names.get(x.floor() as usize).cloned().unwrap_or_default(),
        false => String::new(),
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc).y_desc(y_desc).label_style(("sans-serif", 13));
    if !x_names.is_empty() {
        mesh.x_labels(2 * x_names.len() + 1).x_label_formatter(&name);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    Ok(chart)
}

type Area<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;

/// The title, and under it the colour key — one entry per protocol, a line
/// or a box — above the plot, never over the data (wrapping to a second row
/// when the names do not fit); returns the area left for the plot.
fn keyed<'b>(root: &Area<'b>, title: &str, protocols: &[String], boxes: bool) -> Result<Area<'b>, String> {
    let entries: Vec<Key> = (protocols.iter().enumerate())
        .map(|(i, p)| Key { name: p.clone(), colour: colour(i).to_rgba(), boxed: boxes })
        .collect();
    keyed_with(root, title, &entries)
}

/// One entry of a colour key: a filled box or a line, and its name.
struct Key {
    name: String,
    colour: RGBAColor,
    boxed: bool,
}

/// As [`keyed`], with entries of any colour and shape.
fn keyed_with<'b>(root: &Area<'b>, title: &str, entries: &[Key]) -> Result<Area<'b>, String> {
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| e.to_string())?;
    let width = root.dim_in_pixel().0 as i32;
    let rows = {
        let (mut x, mut rows) = (60, 1);
        for k in entries {
            let w = 44 + 8 * k.name.chars().count() as i32;
            if x + w > width && x > 60 {
                (x, rows) = (60, rows + 1);
            }
            x += w;
        }
        rows
    };
    let (key, body) = root.split_vertically(26 + 22 * rows);
    let (mut x, mut y) = (60, 12);
    for k in entries {
        let w = 44 + 8 * k.name.chars().count() as i32;
        if x + w > width && x > 60 {
            (x, y) = (60, y + 22);
        }
        let drawn = match k.boxed {
            true => key.draw(&Rectangle::new([(x, y - 6), (x + 16, y + 6)], k.colour.filled())),
            false => key.draw(&PathElement::new(vec![(x, y), (x + 26, y)], k.colour.stroke_width(3))),
        };
        drawn.map_err(|e| e.to_string())?;
        key.draw_text(&k.name, &("sans-serif", 14).into_font().color(&BLACK), (x + 32, y - 8))
            .map_err(|e| e.to_string())?;
        x += w;
    }
    Ok(body)
}

/// `text` cut to `max` characters, an ellipsis saying so.
fn shortened(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => text.chars().take(max - 1).chain(['…']).collect(),
        false => text.to_string(),
    }
}

/// The fault kinds of some runs over time, in a fixed order, for shading.
fn fault_kinds<'t>(runs: impl Iterator<Item = &'t crate::Timeline>) -> Vec<String> {
    let mut k: Vec<String> = runs.flat_map(|t| t.faults.iter().map(|f| f.0.clone())).collect();
    k.sort_unstable();
    k.dedup();
    k
}

/// The key of a run-over-time chart: the fault kinds shaded, then the lines
/// of the lower panel.
fn over_time_key(kinds: &[String]) -> Vec<Key> {
    let mut key: Vec<Key> = (kinds.iter().enumerate())
        .map(|(i, k)| Key { name: k.clone(), colour: shade(i), boxed: true })
        .collect();
    key.extend([
        Key { name: "orders in flight".into(), colour: BLACK.to_rgba(), boxed: false },
        Key { name: "orders mid-write (services may disagree)".into(), colour: RED.to_rgba(), boxed: false },
        Key { name: "orders finished per s".into(), colour: FINISHED.to_rgba(), boxed: true },
    ]);
    key
}

fn shade(kind: usize) -> RGBAColor {
    colour(kind).mix(0.25)
}

/// A run over time (after Jepsen's latency plots), one row per scenario and
/// one panel per protocol: each scenario's first seed.
fn over_time(s: &Summary, timelines: &std::collections::BTreeMap<String, Vec<crate::Timeline>>) -> String {
    let rows: Vec<(&String, &Vec<crate::Timeline>)> =
        s.scenarios.iter().filter_map(|sc| Some((sc, timelines.get(sc)?))).collect();
    let cols = rows.iter().map(|(_, t)| t.len()).max().unwrap_or(1).max(1);
    let kinds = fault_kinds(rows.iter().flat_map(|(_, ts)| ts.iter()));
    let title = "A run over time: each order's latency at its submission, fault windows shaded";
    runs_over_time(title, &kinds, (rows.len(), cols), |r, c| {
        let (sc, ts) = rows.get(r)?;
        Some((sc.as_str(), ts.get(c)?))
    })
    .unwrap_or_else(|| empty_chart(title, "no runs over time in this report"))
}

/// The first failing seed of each failure class, over time: one panel each.
fn failures_over_time(failures: &[(String, crate::Timeline)]) -> String {
    let kinds = fault_kinds(failures.iter().map(|(_, t)| t));
    let title = "The first failing seed of each failure, over time";
    let cols = failures.len().clamp(1, 3);
    let rows = failures.len().div_ceil(cols);
    runs_over_time(title, &kinds, (rows, cols), |r, c| {
        let (sc, t) = failures.get(r * cols + c)?;
        Some((sc.as_str(), t))
    })
    .unwrap_or_else(|| empty_chart(title, "no failing runs in this report"))
}

fn empty_chart(title: &str, why: &str) -> String {
    svg(|root| {
        let body = keyed(root, title, &[], true)?;
        body.draw_text(why, &("sans-serif", 14).into_font().color(&BLACK), (20, 20))
            .map_err(|e| e.to_string())
    })
}

/// A grid of runs over time, `cell(row, column)` giving each panel's
/// scenario and run; `None` when the grid is empty.
fn runs_over_time<'t>(
    title: &str,
    kinds: &[String],
    (rows, cols): (usize, usize),
    cell: impl Fn(usize, usize) -> Option<(&'t str, &'t crate::Timeline)>,
) -> Option<String> {
    if rows == 0 || (0..rows).all(|r| (0..cols).all(|c| cell(r, c).is_none())) {
        return None;
    }
    let (w, h) = (360u32, 330u32);
    Some(svg_sized((w * cols as u32, 110 + h * rows as u32), |root| {
        let body = keyed_with(root, title, &over_time_key(kinds))?;
        let panels = body.split_evenly((rows, cols));
        for r in 0..rows {
            for c in 0..cols {
                if let Some((sc, t)) = cell(r, c) {
                    run_panel(&panels[r * cols + c], sc, t, kinds)?;
                }
            }
        }
        Ok(())
    }))
}

/// One run over time: above, each order's latency at its submission, the
/// fault windows shaded ([`latency_over_time`]); below, on the same time
/// axis, orders in flight, mid-write and finished ([`counts_over_time`]).
fn run_panel(area: &Area, sc: &str, t: &crate::Timeline, kinds: &[String]) -> Result<(), String> {
    let end =
        t.orders.iter().map(|o| o.0 + o.1.unwrap_or(0.0) / 1e3).fold(t.window_s, f64::max).max(1.0) * 1.02;
    let caption = format!("{sc} · {} · seed {}", t.protocol, t.seed);
    let area = area.titled(&caption, ("sans-serif", 13)).map_err(|e| e.to_string())?;
    let area = area.titled(&shortened(&t.label, 58), ("sans-serif", 11)).map_err(|e| e.to_string())?;
    let height = area.dim_in_pixel().1;
    let (upper, lower) = area.split_vertically(height * 3 / 5);
    latency_over_time(&upper, t, kinds, end)?;
    counts_over_time(&lower, t, end)
}

/// The bars of orders finished per second.
const FINISHED: RGBColor = RGBColor(150, 150, 150);

/// Each order a point at its submission time and its latency (log axis), a
/// red cross at the top if it never finished; the fault windows shaded
/// behind, one colour per kind (a fault of the whole window a strip along
/// the top, so it does not shade the whole plot).
fn latency_over_time(area: &Area, t: &crate::Timeline, kinds: &[String], end: f64) -> Result<(), String> {
    let top = t.orders.iter().filter_map(|o| o.1).fold(10.0, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(18)
        .y_label_area_size(42)
        .build_cartesian_2d(0.0..end, (1.0..top).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .y_desc("latency ms")
        .x_labels(5)
        .y_labels(4)
        .label_style(("sans-serif", 10))
        .draw()
        .map_err(|e| e.to_string())?;
    let kind = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(0);
    let whole = |(_, from, to): &&(String, f64, f64)| *from <= 0.01 && *to >= t.window_s * 0.9;
    let windows = t.faults.iter().filter(|f| !whole(f)).map(|(k, from, to)| {
        Rectangle::new([(*from, 1.0), (to.max(from + end * 0.004), top)], shade(kind(k)).filled())
    });
    chart.draw_series(windows).map_err(|e| e.to_string())?;
    let strips = t.faults.iter().filter(whole).enumerate().map(|(i, (k, from, to))| {
        let (hi, lo) = (top / 1.4f64.powi(i as i32), top / 1.4f64.powi(i as i32 + 1));
        Rectangle::new([(*from, lo), (*to, hi)], colour(kind(k)).mix(0.6).filled())
    });
    chart.draw_series(strips).map_err(|e| e.to_string())?;
    let done =
        t.orders.iter().filter_map(|(at, l)| Some(Circle::new((*at, (*l)?.max(1.0)), 2, BLACK.filled())));
    chart.draw_series(done).map_err(|e| e.to_string())?;
    let stuck = (t.orders.iter().filter(|o| o.1.is_none()))
        .map(|(at, _)| Cross::new((*at, top / 1.2), 4, RED.stroke_width(2)));
    chart.draw_series(stuck).map_err(|e| e.to_string())?;
    Ok(())
}

/// Counts per bin of the time axis: orders in flight and mid-write (first
/// to last write in any service: the windows where services may disagree)
/// as lines, orders finished per second as bars.
fn counts_over_time(area: &Area, t: &crate::Timeline, end: f64) -> Result<(), String> {
    const BINS: usize = 60;
    let dt = end / BINS as f64;
    let mid = |i: usize| (i as f64 + 0.5) * dt;
    let finished_at = |(at, l): &(f64, Option<f64>)| l.map(|l| at + l / 1e3);
    let in_flight: Vec<(f64, f64)> = (0..BINS)
        .map(|i| {
            let t0 = mid(i);
            let n = t.orders.iter().filter(|o| o.0 <= t0 && finished_at(o).is_none_or(|f| f > t0)).count();
            (t0, n as f64)
        })
        .collect();
    let mid_write: Vec<(f64, f64)> = (0..BINS)
        .map(|i| (mid(i), t.inconsistent.iter().filter(|(a, b)| *a <= mid(i) && mid(i) < *b).count() as f64))
        .collect();
    let mut per_s = vec![0.0; BINS];
    for f in t.orders.iter().filter_map(finished_at) {
        per_s[((f / dt) as usize).min(BINS - 1)] += 1.0 / dt;
    }
    let y_max =
        (in_flight.iter().chain(&mid_write).map(|p| p.1)).chain(per_s.iter().copied()).fold(1.0, f64::max)
            * 1.1;
    let mut counts = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(42)
        .build_cartesian_2d(0.0..end, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    counts
        .configure_mesh()
        .x_desc("simulated s")
        .y_desc("orders")
        .x_labels(5)
        .y_labels(3)
        .label_style(("sans-serif", 10))
        .draw()
        .map_err(|e| e.to_string())?;
    let bars = (per_s.iter().enumerate())
        .filter(|(_, n)| **n > 0.0)
        .map(|(i, n)| Rectangle::new([(i as f64 * dt, 0.0), ((i as f64 + 0.9) * dt, *n)], FINISHED.filled()));
    counts.draw_series(bars).map_err(|e| e.to_string())?;
    counts.draw_series(LineSeries::new(in_flight, BLACK.stroke_width(2))).map_err(|e| e.to_string())?;
    counts.draw_series(LineSeries::new(mid_write, RED.stroke_width(2))).map_err(|e| e.to_string())?;
    Ok(())
}

/// One panel per scenario, each a CDF over every order of every seed on a
/// log axis, one line per protocol; the colour key sits in a strip above the
/// panels, never over the data.
fn orders_cdf(
    s: &Summary,
    title: &str,
    x_desc: &str,
    hist: fn(&crate::summary::Group) -> &crate::hist::LogHist,
) -> String {
    let n = s.scenarios.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let (w, h) = (400u32, 270u32);
    svg_sized((w * cols as u32, 84 + h * rows as u32), |root| {
        let body = keyed(root, title, &s.protocols, false)?;
        let panels = body.split_evenly((rows, cols));
        for (area, sc) in panels.iter().zip(&s.scenarios) {
            let lines: Vec<(usize, Vec<(f64, f64)>)> = (s.protocols.iter().enumerate())
                .filter_map(|(i, p)| Some((i, hist(s.groups.get(&(sc.clone(), p.clone()))?).cdf())))
                .filter(|(_, pts)| !pts.is_empty())
                .collect();
            let edges = || lines.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0));
            let lo = edges().fold(f64::INFINITY, f64::min).clamp(0.1, 1e9) / 1.5;
            let hi = edges().fold(0.0, f64::max).max(lo * 10.0) * 1.5;
            let mut chart = ChartBuilder::on(area)
                .caption(sc, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(42)
                .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("share of orders")
                .x_labels(5)
                .label_style(("sans-serif", 11))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, pts) in lines {
                // A step per bucket: the share of orders at or below its upper edge.
                let mut steps = vec![(pts[0].0 / 1.09, 0.0)];
                for w in pts.windows(2) {
                    steps.extend([w[0], (w[1].0, w[0].1)]);
                }
                steps.push(*pts.last().expect("non-empty"));
                chart
                    .draw_series(LineSeries::new(steps, colour(i).stroke_width(2)))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max).max(1.0) * 1.05
}

fn cdf(
    s: &Summary,
    title: &str,
    x_label: &str,
    samples: impl Fn(&crate::summary::Group) -> &Vec<f64>,
) -> String {
    let series: Vec<(String, Vec<f64>)> = s
        .protocols
        .iter()
        .map(|p| {
            let mut v: Vec<f64> =
                s.groups.iter().filter(|((_, q), _)| q == p).flat_map(|(_, g)| samples(g).clone()).collect();
            v.sort_by(f64::total_cmp);
            (p.clone(), v)
        })
        .collect();
    let x_max = max_of(series.iter().flat_map(|(_, v)| v.iter().copied()));
    svg(|root| {
        let body = keyed(root, title, &s.protocols, false)?;
        let mut chart = frame(&body, "", (0.0..x_max, 0.0..1.0), (x_label, "share of seeds"), &[])?;
        for (i, (_, v)) in series.iter().enumerate() {
            let n = v.len().max(1) as f64;
            let points: Vec<(f64, f64)> =
                v.iter().enumerate().map(|(k, x)| (*x, (k + 1) as f64 / n)).collect();
            let c = colour(i);
            chart.draw_series(LineSeries::new(points, c.stroke_width(2))).map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Completed orders as fault intensity grows, mean over scenarios — measured
/// against what the same seeds completed without faults, where the report
/// has intensity 0: orders the stock or a customer's balance turned away are
/// no cost of the faults.
fn intensity(s: &Summary) -> String {
    let x_max = s.intensities.iter().copied().fold(0.0, f64::max).max(1.0) * 1.05;
    let baseline = s.intensities.contains(&0.0);
    let value =
        |series: &[crate::summary::IntensityPoint], pt: &crate::summary::IntensityPoint| match baseline {
            false => Some(pt.1),
            true => {
                let calm = series.iter().find(|q| q.0 == 0.0).map(|q| q.1).filter(|c| *c > 0.0)?;
                Some(pt.1 / calm)
            }
        };
    let series = |p: &String, x: f64| -> Vec<f64> {
        (s.by_intensity.iter().filter(|((_, q), _)| q == p))
            .flat_map(|(_, v)| v.iter().filter(|pt| pt.0 == x).filter_map(|pt| value(v, pt)))
            .collect()
    };
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let lines: Vec<Vec<(f64, f64)>> = (s.protocols.iter())
        .map(|p| s.intensities.iter().filter_map(|x| Some((*x, mean(&series(p, *x))?))).collect())
        .collect();
    let top = max_of(lines.iter().flatten().map(|pt| pt.1));
    let (title, y_desc, y_max) = match baseline {
        true => (
            "Orders completed as fault intensity grows, against the same seeds without faults",
            "completed / completed at intensity 0",
            top.max(1.05),
        ),
        false => ("Completed orders as fault intensity grows", "completed / submitted", 1.0),
    };
    svg(|root| {
        let axes = ("fault intensity (× the scenario's rates)", y_desc);
        let body = keyed(root, title, &s.protocols, false)?;
        let mut chart = frame(&body, "", (0.0..x_max, 0.0..y_max), axes, &[])?;
        for (i, points) in lines.into_iter().enumerate() {
            lines_with_points(&mut chart, points, colour(i))?;
        }
        Ok(())
    })
}

/// p99 latency as fault intensity grows, one panel per scenario (medians
/// over seeds of each seed's p99), one line per protocol.
fn intensity_latency(s: &Summary) -> String {
    let x_max = s.intensities.iter().copied().fold(0.0, f64::max).max(1.0) * 1.05;
    let n = s.scenarios.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let title = "p99 latency as fault intensity grows, by scenario";
    svg_sized((400 * cols as u32, 84 + 270 * rows as u32), |root| {
        let body = keyed(root, title, &s.protocols, false)?;
        for (area, sc) in body.split_evenly((rows, cols)).iter().zip(&s.scenarios) {
            let lines: Vec<(usize, Vec<(f64, f64)>)> = (s.protocols.iter().enumerate())
                .filter_map(|(i, p)| {
                    let pts = s.by_intensity.get(&(sc.clone(), p.clone()))?;
                    Some((i, pts.iter().map(|pt| (pt.0, pt.2)).collect()))
                })
                .collect();
            let y_max = max_of(lines.iter().flat_map(|(_, v)| v.iter().map(|pt| pt.1)));
            let axes = ("fault intensity", "p99 latency (ms)");
            let mut chart = frame(area, sc, (0.0..x_max, 0.0..y_max), axes, &[])?;
            for (i, points) in lines {
                lines_with_points(&mut chart, points, colour(i))?;
            }
        }
        Ok(())
    })
}

fn lines_with_points(chart: &mut Chart, points: Vec<(f64, f64)>, c: RGBColor) -> Result<(), String> {
    chart.draw_series(LineSeries::new(points.clone(), c.stroke_width(2))).map_err(|e| e.to_string())?;
    chart
        .draw_series(points.into_iter().map(|pt| Circle::new(pt, 4, c.filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn messages(s: &Summary) -> String {
    let width = SIZE.0.max(110 * s.scenarios.len().max(1) as u32);
    svg_sized((width, SIZE.1), |root| {
        let body = keyed(root, "Messages per order", &s.protocols, true)?;
        grouped_bars(&body, s, "", "messages sent per order", |g| g.messages_per_order)
    })
}

/// What each protocol holds while an order is in flight, per order: stock
/// reserved (TCC's Try, 2PC's prepare), customers' money on hold (an
/// authorization before its capture), row locks (2PC) — one panel each.
fn resources(s: &Summary) -> String {
    let width = SIZE.0.max(110 * s.scenarios.len().max(1) as u32);
    let per_order = |x: f64, g: &crate::summary::Group| x / g.submitted.max(1) as f64;
    type Value = fn(&crate::summary::Group) -> f64;
    let panels: [(&str, &str, Value); 3] = [
        ("Stock reserved", "unit·s per order", |g| g.reserved_unit_s),
        ("Money on hold", "$·s per order", |g| g.held_dollar_s),
        ("Row locks held", "lock·s per order", |g| g.locked_s),
    ];
    svg_sized((width, 84 + 3 * 260), |root| {
        let body = keyed(root, "Resources held per order while it is in flight", &s.protocols, true)?;
        for (area, (title, unit, value)) in body.split_evenly((3, 1)).iter().zip(panels) {
            grouped_bars(area, s, title, unit, |g| per_order(value(g), g))?;
        }
        Ok(())
    })
}

/// Bars per scenario, one per protocol in its colour, on `area`.
fn grouped_bars(
    area: &Area,
    s: &Summary,
    title: &str,
    y_desc: &str,
    value: impl Fn(&crate::summary::Group) -> f64,
) -> Result<(), String> {
    let n = s.scenarios.len().max(1);
    let y_max = max_of(s.groups.values().map(&value));
    let mut chart = frame(area, title, (0.0..n as f64, 0.0..y_max), ("scenario", y_desc), &s.scenarios)?;
    let width = 0.8 / s.protocols.len().max(1) as f64;
    for (i, p) in s.protocols.iter().enumerate() {
        let c = colour(i);
        let bars: Vec<_> = (s.scenarios.iter().enumerate())
            .filter_map(|(k, sc)| {
                let g = s.groups.get(&(sc.clone(), p.clone()))?;
                let x0 = k as f64 + 0.1 + i as f64 * width;
                Some(Rectangle::new([(x0, 0.0), (x0 + width * 0.9, value(g))], c.filled()))
            })
            .collect();
        chart.draw_series(bars).map_err(|e| e.to_string())?;
    }
    Ok(())
}
