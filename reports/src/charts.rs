//! The report's charts as SVG text, drawn with plotters' SVG backend: titles,
//! axes with units, and a colour key above each plot (never over the data).
//! One series per protocol, in a fixed colour each.

use crate::summary::Summary;
use plotters::prelude::*;

const SIZE: (u32, u32) = (760, 420);

/// The file names of the charts, in the order the report shows them.
pub const FILES: [&str; 8] = [
    "timelines.svg",
    "orders-latency.svg",
    "orders-consistency.svg",
    "latency-cdf.svg",
    "consistency-cdf.svg",
    "intensity.svg",
    "intensity-latency.svg",
    "messages.svg",
];

/// (file name, SVG) of every chart, in the order the report shows them.
pub fn all(
    s: &Summary,
    timelines: &std::collections::BTreeMap<String, Vec<crate::Timeline>>,
) -> Vec<(String, String)> {
    let charts = [
        over_time(s, timelines),
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
        intensity(s, Measure::Completed),
        intensity(s, Measure::Latency),
        messages(s),
    ];
    FILES.iter().map(|f| f.to_string()).zip(charts).collect()
}

fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
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
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| e.to_string())?;
    let width = root.dim_in_pixel().0 as i32;
    let (key, body) = root.split_vertically(48);
    let (mut x, mut y) = (60, 12);
    for (i, p) in protocols.iter().enumerate() {
        let w = 44 + 8 * p.chars().count() as i32;
        if x + w > width && x > 60 {
            (x, y) = (60, y + 22);
        }
        let c = colour(i);
        let drawn = match boxes {
            true => key.draw(&Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled())),
            false => key.draw(&PathElement::new(vec![(x, y), (x + 26, y)], c.stroke_width(3))),
        };
        drawn.map_err(|e| e.to_string())?;
        key.draw_text(p, &("sans-serif", 14).into_font().color(&BLACK), (x + 32, y - 8))
            .map_err(|e| e.to_string())?;
        x += w;
    }
    Ok(body)
}

/// A run over time (after Jepsen's latency plots), one row per scenario and
/// one panel per protocol: each order a point at its submission time and
/// its latency (log axis), red at the top if it never finished; the fault
/// windows shaded behind, one colour per kind, named in the key.
fn over_time(s: &Summary, timelines: &std::collections::BTreeMap<String, Vec<crate::Timeline>>) -> String {
    let rows: Vec<(&String, &Vec<crate::Timeline>)> =
        s.scenarios.iter().filter_map(|sc| Some((sc, timelines.get(sc)?))).collect();
    let cols = rows.iter().map(|(_, t)| t.len()).max().unwrap_or(1).max(1);
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = rows
            .iter()
            .flat_map(|(_, ts)| ts.iter().flat_map(|t| t.faults.iter().map(|f| f.0.as_str())))
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    let shade = |kind: &str| colour(kinds.iter().position(|k| *k == kind).unwrap_or(0)).mix(0.18);
    let (w, h) = (340u32, 230u32);
    let title = "A run over time: each order's latency at its submission, fault windows shaded";
    svg_sized((w * cols as u32, 84 + h * rows.len().max(1) as u32), |root| {
        let kind_names: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let body = keyed(root, title, &kind_names, true)?;
        if rows.is_empty() {
            return body
                .draw_text(
                    "no runs over time in this report",
                    &("sans-serif", 14).into_font().color(&BLACK),
                    (20, 20),
                )
                .map_err(|e| e.to_string());
        }
        let panels = body.split_evenly((rows.len(), cols));
        for (r, (sc, runs)) in rows.iter().enumerate() {
            for (c, t) in runs.iter().enumerate() {
                let area = &panels[r * cols + c];
                let end = t.orders.iter().map(|o| o.0).fold(t.window_s, f64::max).max(1.0) * 1.02;
                let top = t.orders.iter().filter_map(|o| o.1).fold(10.0, f64::max) * 2.0;
                let mut chart = ChartBuilder::on(area)
                    .caption(format!("{sc} · {} · seed {}", t.protocol, t.seed), ("sans-serif", 13))
                    .margin(6)
                    .x_label_area_size(28)
                    .y_label_area_size(42)
                    .build_cartesian_2d(0.0..end, (1.0..top).log_scale())
                    .map_err(|e| e.to_string())?;
                chart
                    .configure_mesh()
                    .x_desc("simulated s")
                    .y_desc("latency ms")
                    .x_labels(5)
                    .y_labels(4)
                    .label_style(("sans-serif", 10))
                    .draw()
                    .map_err(|e| e.to_string())?;
                let windows = t.faults.iter().map(|(k, from, to)| {
                    Rectangle::new([(*from, 1.0), (to.max(from + end * 0.004), top)], shade(k).filled())
                });
                chart.draw_series(windows).map_err(|e| e.to_string())?;
                let done = t
                    .orders
                    .iter()
                    .filter_map(|(at, l)| Some(Circle::new((*at, (*l)?.max(1.0)), 2, colour(0).filled())));
                chart.draw_series(done).map_err(|e| e.to_string())?;
                let stuck = t
                    .orders
                    .iter()
                    .filter(|o| o.1.is_none())
                    .map(|(at, _)| Cross::new((*at, top / 1.2), 4, RED.stroke_width(2)));
                chart.draw_series(stuck).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
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

#[derive(Clone, Copy, PartialEq)]
enum Measure {
    Completed,
    Latency,
}

fn intensity(s: &Summary, measure: Measure) -> String {
    let x_max = s.intensities.iter().copied().fold(0.0, f64::max).max(1.0) * 1.05;
    // Completion is measured against what the same seeds completed without
    // faults, where the report has intensity 0: orders the stock or a
    // customer's balance turned away are no cost of the faults.
    let baseline = s.intensities.contains(&0.0) && measure == Measure::Completed;
    let value = |series: &[crate::summary::IntensityPoint], pt: &crate::summary::IntensityPoint| match measure
    {
        Measure::Latency => Some(pt.2),
        Measure::Completed if !baseline => Some(pt.1),
        Measure::Completed => {
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
    let (title, y_desc, y_max) = match (measure, baseline) {
        (Measure::Completed, true) => (
            "Orders completed as fault intensity grows, against the same seeds without faults",
            "completed / completed at intensity 0",
            top.max(1.05),
        ),
        (Measure::Completed, false) => {
            ("Completed orders as fault intensity grows", "completed / submitted", 1.0)
        }
        (Measure::Latency, _) => {
            ("Latency as fault intensity grows", "median over seeds of p99 latency (ms)", top)
        }
    };
    svg(|root| {
        let axes = ("fault intensity (× the scenario's rates)", y_desc);
        let body = keyed(root, title, &s.protocols, false)?;
        let mut chart = frame(&body, "", (0.0..x_max, 0.0..y_max), axes, &[])?;
        // Mean over scenarios at each intensity.
        for (i, points) in lines.into_iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(points.into_iter().map(|pt| Circle::new(pt, 4, c.filled())))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn messages(s: &Summary) -> String {
    let n = s.scenarios.len().max(1);
    let y_max = max_of(s.groups.values().map(|g| g.messages_per_order));
    // Room for every scenario's name under its bars.
    let width = SIZE.0.max(110 * n as u32);
    svg_sized((width, SIZE.1), |root| {
        let axes = ("scenario", "messages sent per order");
        let body = keyed(root, "Messages per order", &s.protocols, true)?;
        let mut chart = frame(&body, "", (0.0..n as f64, 0.0..y_max), axes, &s.scenarios)?;
        let width = 0.8 / s.protocols.len().max(1) as f64;
        for (i, p) in s.protocols.iter().enumerate() {
            let c = colour(i);
            let bars: Vec<_> = s
                .scenarios
                .iter()
                .enumerate()
                .filter_map(|(k, sc)| {
                    let g = s.groups.get(&(sc.clone(), p.clone()))?;
                    let x0 = k as f64 + 0.1 + i as f64 * width;
                    Some(Rectangle::new([(x0, 0.0), (x0 + width * 0.9, g.messages_per_order)], c.filled()))
                })
                .collect();
            chart.draw_series(bars).map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}
