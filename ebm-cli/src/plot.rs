//! The two pictures of a 2-D run, drawn with plotters' bitmap backend and
//! no text (so no system font is needed):
//!
//! - `density.png`: the model density exp(−E) on a 400×400 grid over the
//!   data's range (±10 %), normalised to its maximum and coloured from dark
//!   blue (0) through teal to yellow (max), with up to 2000 data points
//!   overlaid in white;
//! - `samples.png`: data (left, blue) next to model samples (right, red),
//!   on the same axes.

use crate::error::{CliError, Result};
use crate::model::DynModel;
use ebm_core::EnergyExt;
use plotters::prelude::*;
use std::path::Path;

/// The square plotting window: (x0, x1, y0, y1).
pub type Bounds = (f64, f64, f64, f64);

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

/// Energies of a `n × n` grid over `b` (row 0 at the top, y decreasing).
pub fn grid_energies(model: &DynModel, b: Bounds, n: usize) -> Result<Vec<f32>> {
    let (x0, x1, y0, y1) = b;
    let mut pts = Vec::with_capacity(n * n * 2);
    for r in 0..n {
        let y = y1 - (r as f64 + 0.5) / n as f64 * (y1 - y0);
        for c in 0..n {
            let x = x0 + (c as f64 + 0.5) / n as f64 * (x1 - x0);
            pts.push(x as f32);
            pts.push(y as f32);
        }
    }
    let mut e = vec![0f32; n * n];
    for (pc, ec) in pts.chunks(2 * 8192).zip(e.chunks_mut(8192)) {
        model.energy(pc, ec)?;
    }
    Ok(e)
}

fn to_pixel(b: Bounds, size: u32, x: f32, y: f32) -> Option<(i32, i32)> {
    let (x0, x1, y0, y1) = b;
    let px = ((x as f64 - x0) / (x1 - x0) * size as f64).floor();
    let py = ((y1 - y as f64) / (y1 - y0) * size as f64).floor();
    (px >= 0.0 && py >= 0.0 && px < size as f64 && py < size as f64).then_some((px as i32, py as i32))
}

/// Writes `density.png` (see the module docs).
pub fn density(path: &Path, model: &DynModel, data: &[f32]) -> Result<()> {
    const N: u32 = 400;
    let b = bounds(data);
    let e = grid_energies(model, b, N as usize)?;
    let emin = e.iter().copied().filter(|v| v.is_finite()).fold(f32::INFINITY, f32::min);
    let root = BitMapBackend::new(path, (N, N)).into_drawing_area();
    for (i, &v) in e.iter().enumerate() {
        let t = if v.is_finite() { (-(v - emin) as f64).exp() } else { 0.0 };
        root.draw_pixel(((i as u32 % N) as i32, (i as u32 / N) as i32), &ramp(t)).map_err(perr(path))?;
    }
    let step = (data.len() / 2).div_ceil(2000).max(1);
    for p in data.chunks_exact(2).step_by(step) {
        if let Some(px) = to_pixel(b, N, p[0], p[1]) {
            root.draw(&Circle::new(px, 1, WHITE.mix(0.6).filled())).map_err(perr(path))?;
        }
    }
    root.present().map_err(perr(path))?;
    Ok(())
}

/// Writes `samples.png` (see the module docs).
pub fn samples(path: &Path, data: &[f32], model_samples: &[f32]) -> Result<()> {
    const N: u32 = 400;
    let b = bounds(data);
    let root = BitMapBackend::new(path, (2 * N + 10, N)).into_drawing_area();
    root.fill(&WHITE).map_err(perr(path))?;
    let (left, right) = root.split_horizontally(N + 10);
    for (area, pts, color) in [(&left, data, BLUE), (&right, model_samples, RED)] {
        area.draw(&Rectangle::new([(0, 0), (N as i32 - 1, N as i32 - 1)], BLACK.stroke_width(1)))
            .map_err(perr(path))?;
        let step = (pts.len() / 2).div_ceil(3000).max(1);
        for p in pts.chunks_exact(2).step_by(step) {
            if let Some(px) = to_pixel(b, N, p[0], p[1]) {
                area.draw(&Circle::new(px, 1, color.mix(0.5).filled())).map_err(perr(path))?;
            }
        }
    }
    root.present().map_err(perr(path))?;
    Ok(())
}
