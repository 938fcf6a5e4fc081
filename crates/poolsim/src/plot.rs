//! The SVG plot of a replay: one band per incident, its runs in a grid of at most
//! [`GRID_COLS`] columns (the buggy one first, reading left to right then down), so that a
//! panel reads at 100 % however many runs an incident has. Each run has four stacked charts
//! sharing the time axis: connections (the pools' connections, those in use, the server's
//! clients), waiters queued in the pools, the latency of the requests ending, and errors so
//! far. Vertical dashed markers show the scenario's timeline events (idle gap, restart, load
//! change, ...) and, with a Sentinel, its `+sdown`, `+switch-master` and `+convert-to-slave`
//! (read from the run's trace), labelled in the top chart. A [`Window`] (`--from`/`--to`) zooms every chart
//! to a span of simulated time.

use crate::replay::Replayed;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sims::report::fmt_num;
use sims::{Report, Scenario};

/// Width of one run's panel, pixels.
const PANEL_W: u32 = 520;
/// Height of one run's panel, pixels.
const ROW_H: u32 = 700;
/// Most runs side by side; more wrap to the next row.
pub(crate) const GRID_COLS: usize = 3;
/// Height of an incident's title line.
const TITLE_H: u32 = 42;

const POOL: RGBColor = RGBColor(31, 119, 180);
const IN_USE: RGBColor = RGBColor(44, 160, 44);
const SERVER: RGBColor = RGBColor(214, 39, 40);
const WAITERS: RGBColor = RGBColor(255, 127, 14);
const ERRORS: RGBColor = RGBColor(40, 40, 40);
const MARKER: RGBColor = RGBColor(120, 120, 120);
/// Labels of the Sentinel's events (their lines are dashed like the scenario's).
const SENTINEL: RGBColor = RGBColor(150, 60, 150);
const LATENCY: RGBColor = RGBColor(148, 103, 189);
const LATENCY_P50: RGBColor = RGBColor(190, 170, 220);

/// A span of simulated time to plot, in seconds (`--from`/`--to`); `None` ends: the run's.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    pub(crate) from: Option<f64>,
    pub(crate) to: Option<f64>,
}

impl Window {
    /// The x range for a run that ends at `t_end` seconds.
    fn range(self, t_end: f64) -> (f64, f64) {
        let from = self.from.unwrap_or(0.0);
        let to = self.to.unwrap_or(t_end);
        // An empty or reversed window is refused by the command line; keep the axis valid.
        (from, to.max(from + 0.001))
    }
}

/// Grid rows an incident with `runs` runs takes.
fn grid_rows(runs: usize) -> u32 {
    runs.max(1).div_ceil(GRID_COLS) as u32
}

/// The plot's size in pixels: [`GRID_COLS`] panels wide (fewer when no incident has that many
/// runs), each incident a title and its grid rows.
pub(crate) fn size(replayed: &[Replayed]) -> (u32, u32) {
    let cols = replayed
        .iter()
        .map(|r| r.runs.len().min(GRID_COLS))
        .max()
        .unwrap_or(1)
        .max(1) as u32;
    let h: u32 = replayed
        .iter()
        .map(|r| TITLE_H + grid_rows(r.runs.len()) * ROW_H)
        .sum();
    (cols * PANEL_W, h.max(TITLE_H + ROW_H))
}

/// The plot as an SVG document.
pub(crate) fn svg(replayed: &[Replayed], window: Window) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(replayed)).into_drawing_area();
        // Drawing into a string cannot fail for I/O reasons; a plotters error here would be a
        // layout bug, and the SVG would still be written as far as it got.
        let _ = draw(&root, replayed, window);
        let _ = root.present();
    }
    out
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    replayed: &[Replayed],
    window: Window,
) -> DrawResult {
    root.fill(&WHITE)?;
    let heights: Vec<u32> = replayed
        .iter()
        .map(|r| TITLE_H + grid_rows(r.runs.len()) * ROW_H)
        .collect();
    let mut rest = root.clone();
    for (r, h) in replayed.iter().zip(heights) {
        let (band, below) = rest.split_vertically(h);
        rest = below;
        let (title, body) = band.split_vertically(TITLE_H);
        title.draw_text(
            &format!("{} (seed {})", r.incident.name, r.seed),
            &("sans-serif", 17)
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK),
            (10, 4),
        )?;
        let zoom = match (window.from, window.to) {
            (None, None) => String::new(),
            (f, t) => format!(
                "  [{} s to {}]",
                fmt_num(f.unwrap_or(0.0)),
                t.map_or("the end".to_owned(), |t| format!("{} s", fmt_num(t)))
            ),
        };
        title.draw_text(
            &format!("{}{zoom}", r.incident.summary),
            &("sans-serif", 11).into_font().color(&RGBColor(60, 60, 60)),
            (10, 24),
        )?;
        // A grid of GRID_COLS columns of PANEL_W: runs line up across incidents.
        let rows = grid_rows(r.runs.len());
        let (w, _) = body.dim_in_pixel();
        let (left, _) = body.split_horizontally((GRID_COLS as u32 * PANEL_W).min(w));
        let cells = left.split_evenly((rows as usize, GRID_COLS));
        for ((area, s), run) in cells.iter().zip(&r.scenarios).zip(&r.runs) {
            run_panel(area, s, run, window)?;
        }
    }
    Ok(())
}

/// The status of a run in a few words: `reproduced`, `held`, `NOT reproduced`, ...
fn status(report: &Report) -> String {
    let word = report
        .verdict
        .split_once(':')
        .map_or(report.verdict.as_str(), |(w, _)| w);
    let mark = if report.expectation_met {
        ""
    } else {
        " (FAILED)"
    };
    format!("{word}{mark}")
}

/// p50 and p99 latency (ms) of the requests that ended in each sample interval, read off the
/// trace's `request.end` lines: `(interval start s, p50, p99)`.
fn latency_by_interval(trace: &[String], sample_ms: u64) -> Vec<(f64, f64, f64)> {
    let mut by: std::collections::BTreeMap<u64, Vec<u64>> = std::collections::BTreeMap::new();
    for line in trace.iter().filter(|l| l.contains("\"request.end\"")) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(t), Some(l)) = (v["t_us"].as_u64(), v["latency_us"].as_u64()) {
            by.entry(t / 1000 / sample_ms).or_default().push(l);
        }
    }
    by.into_iter()
        .map(|(k, mut ls)| {
            ls.sort_unstable();
            let q = |p: f64| ls[((ls.len() as f64 * p).ceil() as usize).clamp(1, ls.len()) - 1];
            let ms = |us: u64| us as f64 / 1000.0;
            ((k * sample_ms) as f64 / 1000.0, ms(q(0.5)), ms(q(0.99)))
        })
        .collect()
}

/// Reads one value off a timeline sample.
type SampleValue = fn(&sims::report::Sample) -> u64;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A chart over `area` with the time axis `x` (seconds) and `0..ymax`.
fn chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    (x0, x1): (f64, f64),
    ymax: f64,
    x_desc: bool,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 12))
        .x_label_area_size(if x_desc { 30 } else { 18 })
        .y_label_area_size(44)
        .build_cartesian_2d(x0..x1, 0.0..ymax)?;
    let mut mesh = c.configure_mesh();
    mesh.light_line_style(WHITE)
        .label_style(("sans-serif", 10))
        .y_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 {
                fmt_num(v.round())
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|v| fmt_num(*v));
    if x_desc {
        mesh.x_desc("simulated time (s)");
    }
    mesh.draw()?;
    Ok(c)
}

fn run_panel(area: &Area<'_>, s: &Scenario, run: &sims::Run, window: Window) -> DrawResult {
    let r = &run.report;
    let sentinel = sentinel_events(&run.trace);
    let area = area.margin(4, 4, 6, 6);
    let (head, body) = area.split_vertically(84);
    head.draw_text(
        &r.scenario,
        &("sans-serif", 15)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
        (4, 2),
    )?;
    head.draw_text(
        &format!("{}: {}", status(r), r.profile),
        &("sans-serif", 11).into_font().color(&if r.expectation_met {
            RGBColor(60, 60, 60)
        } else {
            SERVER
        }),
        (4, 22),
    )?;
    head.draw_text(
        &format!(
            "{} of {} requests failed, p99 {} ms, peak {} server clients",
            r.errors.total(),
            r.requests,
            fmt_num(r.latency_ms.p99),
            r.peak_server_clients
        ),
        &("sans-serif", 11).into_font().color(&RGBColor(60, 60, 60)),
        (4, 38),
    )?;
    // The legend, once, above the panels (inside them it would hide the incident).
    let rows: [&[(&str, RGBColor)]; 2] = [
        &[
            ("server clients", SERVER),
            ("pool connections", POOL),
            ("in use", IN_USE),
        ],
        &[
            ("waiters", WAITERS),
            ("latency p99", LATENCY),
            ("latency p50", LATENCY_P50),
        ],
    ];
    for (k, row) in rows.iter().enumerate() {
        let y = 58 + 13 * k as i32;
        for (j, (label, color)) in row.iter().enumerate() {
            let x = 4 + 130 * j as i32;
            head.draw(&PathElement::new(
                vec![(x, y), (x + 14, y)],
                color.stroke_width(3),
            ))?;
            head.draw_text(
                label,
                &("sans-serif", 10).into_font().color(&RGBColor(60, 60, 60)),
                (x + 18, y - 5),
            )?;
        }
    }
    let (_, h) = body.dim_in_pixel();
    let (top, rest) = body.split_vertically(h * 34 / 100);
    let (waiters_area, rest) = rest.split_vertically(h * 20 / 100);
    let (latency_area, errors_area) = rest.split_vertically(h * 22 / 100);
    let t_end = r
        .timeline
        .last()
        .map_or(1.0, |x| x.t_ms as f64 / 1000.0)
        .max(1.0);
    let x = window.range(t_end);
    let (x0, x1) = x;
    let t = |ms: u64| ms as f64 / 1000.0;
    // The samples inside the window (all of them without one).
    let samples: Vec<sims::report::Sample> = r
        .timeline
        .iter()
        .filter(|p| (x0..=x1).contains(&t(p.t_ms)))
        .copied()
        .collect();
    let samples = &samples;

    // Connections.
    let ymax = samples
        .iter()
        .map(|x| x.pool_connections.max(x.server_clients).max(x.in_use))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.25;
    let mut c = chart(&top, "connections", x, ymax, false)?;
    if s.server.maxclients < 10_000 && (s.server.maxclients as f64) <= ymax {
        let m = s.server.maxclients as f64;
        c.draw_series(std::iter::once(PathElement::new(
            vec![(x0, m), (x1, m)],
            SERVER.mix(0.5).stroke_width(1),
        )))?;
        c.draw_series(std::iter::once(Text::new(
            format!("maxclients {}", s.server.maxclients),
            (x0, m),
            ("sans-serif", 10).into_font().color(&SERVER),
        )))?;
    }
    let series: [(RGBColor, SampleValue); 3] = [
        (SERVER, |x| x.server_clients),
        (POOL, |x| x.pool_connections),
        (IN_USE, |x| x.in_use),
    ];
    for (color, f) in series {
        c.draw_series(LineSeries::new(
            samples.iter().map(|p| (t(p.t_ms), f(p) as f64)),
            color.stroke_width(2),
        ))?;
    }
    markers(&mut c, s, &sentinel, ymax, true)?;

    // Waiters.
    let wmax = samples.iter().map(|x| x.waiters).max().unwrap_or(0).max(1) as f64 * 1.15;
    let mut c = chart(&waiters_area, "waiters queued in the pools", x, wmax, false)?;
    c.draw_series(
        AreaSeries::new(
            samples.iter().map(|p| (t(p.t_ms), p.waiters as f64)),
            0.0,
            WAITERS.mix(0.35),
        )
        .border_style(WAITERS.stroke_width(2)),
    )?;
    markers(&mut c, s, &sentinel, wmax, false)?;

    // Latency of the requests ending in each interval, with the first tier's deadline.
    let lat: Vec<(f64, f64, f64)> = latency_by_interval(&run.trace, s.sample_ms)
        .into_iter()
        .filter(|p| (x0..=x1).contains(&(p.0 + s.sample_ms as f64 / 2000.0)))
        .collect();
    let deadline = s.tiers.first().map_or(0, |t| t.deadline_ms) as f64;
    let lmax_seen = lat.iter().map(|x| x.2).fold(0.0, f64::max).max(1.0);
    let lmax = if lmax_seen > deadline * 0.5 {
        lmax_seen.max(deadline) * 1.2
    } else {
        lmax_seen * 1.25
    };
    let mut c = chart(
        &latency_area,
        "latency of requests ending (ms)",
        x,
        lmax,
        false,
    )?;
    if deadline <= lmax {
        c.draw_series(std::iter::once(PathElement::new(
            vec![(x0, deadline), (x1, deadline)],
            MARKER.stroke_width(1),
        )))?;
        c.draw_series(std::iter::once(Text::new(
            format!("deadline {} ms", fmt_num(deadline)),
            (x0, deadline),
            ("sans-serif", 10).into_font().color(&MARKER),
        )))?;
    }
    // One line per stretch of consecutive intervals with requests: no line across an idle gap.
    let step = s.sample_ms as f64 / 1000.0;
    let mut stretches: Vec<Vec<(f64, f64, f64)>> = Vec::new();
    for &x in &lat {
        match stretches.last_mut() {
            Some(cur) if cur.last().is_some_and(|p| x.0 - p.0 <= step * 1.5) => cur.push(x),
            _ => stretches.push(vec![x]),
        }
    }
    for (color, k) in [(LATENCY_P50, 1usize), (LATENCY, 2)] {
        for st in &stretches {
            let pts: Vec<(f64, f64)> = st
                .iter()
                .map(|x| (x.0 + step / 2.0, if k == 2 { x.2 } else { x.1 }))
                .collect();
            if pts.len() == 1 {
                c.draw_series(std::iter::once(Circle::new(pts[0], 2, color.filled())))?;
            } else {
                c.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
            }
        }
    }
    markers(&mut c, s, &sentinel, lmax, false)?;

    // Errors so far.
    let emax = samples.iter().map(|x| x.errors).max().unwrap_or(0).max(1) as f64 * 1.2;
    let mut c = chart(&errors_area, "failed requests so far", x, emax, true)?;
    c.draw_series(LineSeries::new(
        samples.iter().map(|p| (t(p.t_ms), p.errors as f64)),
        ERRORS.stroke_width(2),
    ))?;
    markers(&mut c, s, &sentinel, emax, false)?;
    let first = run.metrics.get("first_error_ms") / 1000.0;
    if r.errors.total() > 0 && (x0..=x1).contains(&first) {
        let span = x1 - x0;
        let kinds = error_kinds(r);
        let text = format!("first error at {} s: {kinds}", fmt_num(first));
        // Right-aligned when the first error is in the right half.
        let right = first > x0 + span / 2.0;
        let x = if right {
            first - span * 0.02
        } else {
            first + span * 0.02
        };
        let pos = if right {
            Pos::new(HPos::Right, VPos::Top)
        } else {
            Pos::new(HPos::Left, VPos::Top)
        };
        c.draw_series(std::iter::once(Text::new(
            text,
            (x, emax * 0.95),
            ("sans-serif", 10).into_font().color(&SERVER).pos(pos),
        )))?;
    }
    Ok(())
}

/// `3 eof`, `100 max_clients, 24 other`: the error kinds of a run with their counts.
fn error_kinds(r: &Report) -> String {
    let e = &r.errors;
    let kinds = [
        ("eof", e.eof),
        ("pool_timeout", e.pool_timeout),
        ("too_many_connections", e.too_many_connections),
        ("max_clients", e.max_clients),
        ("deadline_exceeded", e.deadline_exceeded),
        ("read_timeout", e.read_timeout),
        ("readonly", e.readonly),
        ("other", e.other),
    ];
    kinds
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A dashed vertical line at `x`.
fn dashed(c: &mut Chart<'_, '_>, x: f64, ymax: f64) -> DrawResult {
    let steps = 24;
    c.draw_series((0..steps).step_by(2).map(|k| {
        let y0 = ymax * k as f64 / steps as f64;
        let y1 = ymax * (k + 1) as f64 / steps as f64;
        PathElement::new(vec![(x, y0), (x, y1)], MARKER.stroke_width(1))
    }))?;
    Ok(())
}

/// The Sentinel's events that change who the master is, from a run's trace
/// (`sentinel.event` lines): the master seen down (`+sdown`), the switch (`+switch-master`)
/// and the old master converted to a replica (`+convert-to-slave`), as (seconds, label).
fn sentinel_events(trace: &[String]) -> Vec<(f64, String)> {
    trace
        .iter()
        .filter(|l| l.contains("\"sentinel.event\""))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let channel = v.get("channel")?.as_str()?;
            let message = v.get("message")?.as_str().unwrap_or("");
            let keep = match channel {
                "+sdown" => message.starts_with("master "),
                "+switch-master" | "+convert-to-slave" => true,
                _ => false,
            };
            let t = v.get("t_us")?.as_u64()? as f64 / 1e6;
            keep.then(|| (t, format!("sentinel {channel}")))
        })
        .collect()
}

/// Dashed vertical lines at the scenario's timeline events and the Sentinel's (`sentinel`,
/// labelled lower so that both labels can be read), labelled when `labels`.
fn markers(
    c: &mut Chart<'_, '_>,
    s: &Scenario,
    sentinel: &[(f64, String)],
    ymax: f64,
    labels: bool,
) -> DrawResult {
    let range = c.x_range();
    let (lo, hi) = (range.start, range.end);
    for e in &s.timeline {
        if let sims::scenario::Event::IdleGap { at_ms, duration_ms } = e {
            let (g0, g1) = (
                (*at_ms as f64 / 1000.0).max(lo),
                ((at_ms + duration_ms) as f64 / 1000.0).min(hi),
            );
            if g0 < g1 {
                c.draw_series(std::iter::once(Rectangle::new(
                    [(g0, 0.0), (g1, ymax)],
                    MARKER.mix(0.12).filled(),
                )))?;
            }
        }
    }
    let end = s.duration_ms as f64 / 1000.0;
    let inside = |x: f64| (lo..=hi).contains(&x);
    if inside(end) {
        dashed(c, end, ymax)?;
    }
    if labels && inside(end) && end < lo + (hi - lo) * 0.9 {
        c.draw_series(std::iter::once(Text::new(
            " load ends",
            (end, ymax * 0.97),
            ("sans-serif", 10).into_font().color(&MARKER),
        )))?;
    }
    for e in &s.timeline {
        let x = e.at_ms() as f64 / 1000.0;
        if !inside(x) {
            continue;
        }
        dashed(c, x, ymax)?;
        if labels {
            c.draw_series(std::iter::once(Text::new(
                format!(" {}", e.label()),
                (x, ymax * 0.97),
                ("sans-serif", 10).into_font().color(&MARKER),
            )))?;
        }
    }
    for (i, (x, label)) in sentinel.iter().enumerate() {
        if !inside(*x) {
            continue;
        }
        dashed(c, *x, ymax)?;
        if labels {
            // Staggered: +sdown and +switch-master come about a second apart.
            let y = ymax * (0.88 - 0.08 * (i % 3) as f64);
            c.draw_series(std::iter::once(Text::new(
                format!(" {label}"),
                (*x, y),
                ("sans-serif", 10).into_font().color(&SENTINEL),
            )))?;
        }
    }
    Ok(())
}
