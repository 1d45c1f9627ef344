//! The pictures of a 2-D run: titled, with text drawn (the embedded font),
//! a colour bar, and `--plot-log` stored in the run's settings and showing
//! more of the low-density region than the linear scale.

mod common;

use common::{config, ebm, ok, tmp};
use std::path::Path;

/// 20 steps on raw data: an MLP at its start varies over the data's range
/// (±6), so the density has the low-density region the log scale lifts.
fn train(out: &Path, extra: &[&str]) {
    let cfg = config(out.parent().unwrap(), "standardize = false\n");
    ok(ebm()
        .args(["train", "--data", "8gaussians", "--model", "mlp:16,16", "--steps", "20", "-q", "--config"])
        .arg(&cfg)
        .args(extra)
        .arg("--out")
        .arg(out));
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// Pixels of `img` in rows `rows` that are not white (text, lines, colour).
fn inked(img: &image::RgbImage, rows: std::ops::Range<u32>) -> usize {
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0 != [255, 255, 255])
        .count()
}

/// The mean green channel over the density panel's plotting area: the
/// ramp's green rises monotonically with the colour position t.
fn mean_green(img: &image::RgbImage) -> f64 {
    let (x0, x1, y0, y1) = (120, 480, 120, 420); // inside the plotting area
    let sum: u64 = (y0..y1).flat_map(|y| (x0..x1).map(move |x| img.get_pixel(x, y).0[1] as u64)).sum();
    sum as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

#[test]
fn pictures_are_titled_with_a_colour_bar_and_the_log_scale_is_kept() {
    let dir = tmp("plots");
    let (lin, log) = (dir.join("lin"), dir.join("log"));
    train(&lin, &[]);
    train(&log, &["--plot-log"]);
    let cfg = std::fs::read_to_string(log.join("config.toml")).unwrap();
    assert!(cfg.contains("plot_log = true"), "{cfg}");
    let (a, b) = (rgb(&lin.join("density.png")), rgb(&log.join("density.png")));
    assert_eq!(a.dimensions(), (600, 520));
    // The run's title line and the axis labels are drawn (text needs the
    // embedded font): ink in the top rows and under the plot.
    assert!(inked(&a, 0..16) > 200, "no title text");
    assert!(inked(&a, 490..520) > 200, "no x-axis labels");
    // The colour bar: the ramp's top (yellow) above its bottom (dark).
    let top = a.get_pixel(575, 70).0;
    let bottom = b.get_pixel(575, 470).0;
    assert!(top[0] > 200 && top[1] > 200 && top[2] < 100, "bar top {top:?}");
    assert!(bottom[0] < 100 && bottom[1] < 40, "bar bottom {bottom:?}");
    // The log scale lifts the low-density region towards the ramp's bright
    // end: t = 1 + log10(r)/4 exceeds t = r for every ratio r ≥ 10⁻⁴.
    let (ga, gb) = (mean_green(&a), mean_green(&b));
    assert!(gb > ga + 20.0, "mean green: linear {ga:.1}, log {gb:.1}");
    let s = rgb(&lin.join("samples.png"));
    assert_eq!(s.dimensions(), (900, 480));
    assert!(inked(&s, 0..16) > 200, "samples.png has no title");
    std::fs::remove_dir_all(&dir).unwrap();
}
