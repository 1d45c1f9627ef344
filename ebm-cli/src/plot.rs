//! The two pictures of a 2-D run, drawn with plotters' bitmap backend and
//! an embedded font (Hack, from `epaint_default_fonts`: no system font is
//! needed):
//!
//! - `density.png`: the model density p(x) ∝ exp(−E(x)) on the data's range
//!   (±10 %, widened to equal scales on both axes), one grid point per pixel,
//!   coloured from dark blue (low) through teal to yellow (the maximum), with
//!   up to 2000 data points overlaid in white. The colour scale is p / max p
//!   (linear), or with `plot_log` log₁₀(p / max p) over [`LOG_DECADES`]
//!   decades, which shows weak modes a linear scale hides. A colour bar says
//!   which. The title gives the data, model, estimator, steps and held-out
//!   NLL.
//! - `samples.png`: the data (left, blue) next to the model's samples (right,
//!   red), each panel labelled, on the same axes.
//!
//! Both have axes with ticks and equal scales on x₁ and x₂.

use crate::error::{CliError, Result};
use ebm_core::{Energy, EnergyExt};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// The plotting window: (x0, x1, y0, y1).
pub type Bounds = (f64, f64, f64, f64);

/// Decades of density shown by the log colour scale.
pub const LOG_DECADES: f64 = 4.0;

/// The font family every text uses (registered from embedded bytes).
const FONT: &str = "sans-serif";

/// What the pictures' titles say about the run.
#[derive(Debug, Clone, Default)]
pub struct Caption {
    /// The data set's name or file name.
    pub data: String,
    /// The model string.
    pub model: String,
    /// The estimator.
    pub estimator: String,
    /// Updates done.
    pub steps: usize,
    /// Held-out NLL in nats, where computed.
    pub nll: Option<f64>,
}

impl Caption {
    /// One line: data | model | estimator | steps | held-out NLL.
    pub fn line(&self) -> String {
        let nll = self.nll.map_or_else(|| "NLL n/a".into(), |v| format!("held-out NLL {v:.3}"));
        format!("{} | {} | {} | {} steps | {nll}", self.data, self.model, self.estimator, self.steps)
    }
}

/// How density values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourScale {
    /// t = p / max p.
    #[default]
    Linear,
    /// t = 1 + log₁₀(p / max p) / [`LOG_DECADES`], clamped to [0, 1].
    Log,
}

impl ColourScale {
    /// The colour position t ∈ [0, 1] of a point with energy `e`, where
    /// `e_min` is the grid's lowest energy (p / max p = exp(e_min − e)).
    pub fn t(self, e: f32, e_min: f32) -> f64 {
        if !e.is_finite() {
            return 0.0;
        }
        let log_ratio = -(e as f64 - e_min as f64); // ln(p / max p) ≤ 0
        match self {
            ColourScale::Linear => log_ratio.exp(),
            ColourScale::Log => (1.0 + log_ratio / (LOG_DECADES * std::f64::consts::LN_10)).clamp(0.0, 1.0),
        }
    }
}

/// Registers the embedded font once per process.
fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file. Were it not, the first
        // text drawn would fail with a `CliError::Plot` naming the picture.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::HACK_REGULAR);
    });
}

/// The data's range with a 10 % margin (2-D, row-major points).
pub fn bounds(points: &[f32]) -> Bounds {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in points.chunks_exact(2) {
        x0 = x0.min(p[0] as f64);
        x1 = x1.max(p[0] as f64);
        y0 = y0.min(p[1] as f64);
        y1 = y1.max(p[1] as f64);
    }
    if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
        return (-4.0, 4.0, -4.0, 4.0);
    }
    let (mx, my) = (0.1 * (x1 - x0).max(1e-3), 0.1 * (y1 - y0).max(1e-3));
    (x0 - mx, x1 + mx, y0 - my, y1 + my)
}

/// `b` widened about its centre so that one pixel is the same length on
/// both axes in a `w × h` pixel plot (equal aspect).
pub fn equal_aspect(b: Bounds, w: u32, h: u32) -> Bounds {
    let (x0, x1, y0, y1) = b;
    let unit = ((x1 - x0) / w as f64).max((y1 - y0) / h as f64);
    let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
    let (hw, hh) = (0.5 * unit * w as f64, 0.5 * unit * h as f64);
    (cx - hw, cx + hw, cy - hh, cy + hh)
}

fn perr<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> CliError + '_ {
    move |e| CliError::Plot { path: path.to_path_buf(), message: format!("{e:?}") }
}

/// A perceptual-ish colour ramp (dark blue → teal → yellow) at t ∈ [0, 1].
pub fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let i = STOPS.iter().position(|s| s.0 >= t).unwrap_or(4).max(1);
    let (ta, ca) = STOPS[i - 1];
    let (tb, cb) = STOPS[i];
    let u = (t - ta) / (tb - ta);
    let c = |k: usize| (ca[k] + u * (cb[k] - ca[k])).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// Energies of an `nx × ny` grid of pixel centres over `b` (row 0 at the
/// top, y decreasing).
pub fn grid_energies(model: &dyn Energy<f32>, b: Bounds, nx: usize, ny: usize) -> Result<Vec<f32>> {
    let (x0, x1, y0, y1) = b;
    let mut pts = Vec::with_capacity(nx * ny * 2);
    for r in 0..ny {
        let y = y1 - (r as f64 + 0.5) / ny as f64 * (y1 - y0);
        for c in 0..nx {
            let x = x0 + (c as f64 + 0.5) / nx as f64 * (x1 - x0);
            pts.push(x as f32);
            pts.push(y as f32);
        }
    }
    let mut e = vec![0f32; nx * ny];
    for (pc, ec) in pts.chunks(2 * 8192).zip(e.chunks_mut(8192)) {
        model.energy(pc, ec)?;
    }
    Ok(e)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Layout of one panel: margin and label areas, in pixels.
const MARGIN: u32 = 10;
const X_LABELS: u32 = 32;
const Y_LABELS: u32 = 48;

/// A panel with a title, axes x₁ and x₂ with ticks, and equal scales,
/// covering at least `b`; returns the chart and its window.
fn panel<'a>(area: &Area<'a>, title: &str, b: Bounds, path: &Path) -> Result<(Chart<'a>, Bounds)> {
    let area = area.titled(title, (FONT, 14)).map_err(perr(path))?;
    let (w, h) = area.dim_in_pixel();
    let (pw, ph) = (w.saturating_sub(2 * MARGIN + Y_LABELS).max(1), h.saturating_sub(2 * MARGIN + X_LABELS).max(1));
    let wb = equal_aspect(b, pw, ph);
    let mut chart = ChartBuilder::on(&area)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(wb.0..wb.1, wb.2..wb.3)
        .map_err(perr(path))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x1")
        .y_desc("x2")
        .label_style((FONT, 12))
        .draw()
        .map_err(perr(path))?;
    Ok((chart, wb))
}

/// The points of `pts` (every `step`-th) inside the window `wb`.
fn inside(pts: &[f32], step: usize, wb: Bounds) -> impl Iterator<Item = (f64, f64)> + '_ {
    pts.chunks_exact(2)
        .step_by(step.max(1))
        .map(|p| (p[0] as f64, p[1] as f64))
        .filter(move |&(x, y)| x >= wb.0 && x <= wb.1 && y >= wb.2 && y <= wb.3)
}

/// Writes `density.png` (see the module docs).
pub fn density(
    path: &Path,
    model: &dyn Energy<f32>,
    data: &[f32],
    caption: &Caption,
    scale: ColourScale,
) -> Result<()> {
    fonts();
    let full = BitMapBackend::new(path, (600, 520)).into_drawing_area();
    full.fill(&WHITE).map_err(perr(path))?;
    let root = full.titled(&caption.line(), (FONT, 13)).map_err(perr(path))?;
    let (main, bar) = root.split_horizontally(520);
    let (mut chart, wb) = panel(&main, "model density", bounds(data), path)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (nx, ny) = ((xr.end - xr.start).max(1) as usize, (yr.end - yr.start).max(1) as usize);
    let e = grid_energies(model, wb, nx, ny)?;
    let e_min = e.iter().copied().filter(|v| v.is_finite()).fold(f32::INFINITY, f32::min);
    for (i, &v) in e.iter().enumerate() {
        // The plotting area's pixel range is in backend pixels, which are
        // the untitled root's own coordinates.
        let px = (xr.start + (i % nx) as i32, yr.start + (i / nx) as i32);
        full.draw_pixel(px, &ramp(scale.t(v, e_min))).map_err(perr(path))?;
    }
    let step = (data.len() / 2).div_ceil(2000);
    chart
        .draw_series(inside(data, step, wb).map(|p| Circle::new(p, 1, WHITE.mix(0.6).filled())))
        .map_err(perr(path))?;
    colour_bar(&bar, scale, path)?;
    full.present().map_err(perr(path))?;
    Ok(())
}

/// The colour bar beside the density: the ramp with ticks of p / max p, or
/// of log₁₀(p / max p) for the log scale.
fn colour_bar(area: &Area<'_>, scale: ColourScale, path: &Path) -> Result<()> {
    let (lo, top, desc) = match scale {
        ColourScale::Linear => (0.0, 1.0, "p / max p"),
        ColourScale::Log => (-LOG_DECADES, 0.0, "log10(p / max p)"),
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(MARGIN + X_LABELS)
        .margin_right(4)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..1.0, lo..top)
        .map_err(perr(path))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_desc(desc)
        .label_style((FONT, 11))
        .draw()
        .map_err(perr(path))?;
    let n = 100;
    chart
        .draw_series((0..n).map(|k| {
            let (a, b) = (lo + (top - lo) * k as f64 / n as f64, lo + (top - lo) * (k + 1) as f64 / n as f64);
            Rectangle::new([(0.0, a), (1.0, b)], ramp((k as f64 + 0.5) / n as f64).filled())
        }))
        .map_err(perr(path))?;
    Ok(())
}

/// Writes `samples.png` (see the module docs); `sampler` says how the
/// model's samples were drawn.
pub fn samples(path: &Path, data: &[f32], model_samples: &[f32], caption: &Caption, sampler: &str) -> Result<()> {
    fonts();
    let full = BitMapBackend::new(path, (900, 480)).into_drawing_area();
    full.fill(&WHITE).map_err(perr(path))?;
    let root = full.titled(&caption.line(), (FONT, 13)).map_err(perr(path))?;
    let (left, right) = root.split_horizontally(450);
    let b = bounds(data);
    let panels = [
        (&left, format!("data ({} points)", data.len() / 2), data, BLUE),
        (&right, format!("model samples ({}, {sampler})", model_samples.len() / 2), model_samples, RED),
    ];
    for (area, title, pts, color) in panels {
        let (mut chart, wb) = panel(area, &title, b, path)?;
        let step = (pts.len() / 2).div_ceil(3000);
        chart
            .draw_series(inside(pts, step, wb).map(|p| Circle::new(p, 1, color.mix(0.5).filled())))
            .map_err(perr(path))?;
    }
    full.present().map_err(perr(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_aspect_gives_equal_units_and_covers_the_bounds() {
        let b = (-1.0, 3.0, 10.0, 11.0);
        let (x0, x1, y0, y1) = equal_aspect(b, 400, 300);
        assert!(((x1 - x0) / 400.0 - (y1 - y0) / 300.0).abs() < 1e-12);
        assert!(x0 <= -1.0 && x1 >= 3.0 && y0 <= 10.0 && y1 >= 11.0);
        assert!((0.5 * (y0 + y1) - 10.5).abs() < 1e-12 && (0.5 * (x0 + x1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn colour_scales_map_density_ratios() {
        // p / max p = e^{-ln 10} = 0.1: linear 0.1, log 1 − 1/4.
        let e = std::f64::consts::LN_10 as f32;
        assert!((ColourScale::Linear.t(e, 0.0) - 0.1).abs() < 1e-6);
        assert!((ColourScale::Log.t(e, 0.0) - 0.75).abs() < 1e-6);
        assert_eq!(ColourScale::Log.t(100.0, 0.0), 0.0);
        assert_eq!(ColourScale::Linear.t(0.0, 0.0), 1.0);
        assert_eq!(ColourScale::Log.t(f32::NAN, 0.0), 0.0);
    }
}
