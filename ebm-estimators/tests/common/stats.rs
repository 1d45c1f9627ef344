//! Two-sided statistical checks with their power checks: each returns a
//! statistic in standard units, so a test asserts `< bound` for the true
//! answer and `> k · bound` for a deliberately wrong one.

/// |k − np| / √(np(1 − p)): the z-score of `k` successes in `n` Bernoulli(p)
/// trials (infinite when p ∈ {0, 1} and k ≠ np).
pub fn binomial_z(k: usize, n: usize, p: f64) -> f64 {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let dev = (k as f64 - mean).abs();
    if sd == 0.0 {
        return if dev == 0.0 { 0.0 } else { f64::INFINITY };
    }
    dev / sd
}

/// √n · sup |F_n − F|: the Kolmogorov–Smirnov statistic of `xs` against the
/// CDF `cdf`. Under the null its law tends to Kolmogorov's, with
/// P(> 1.95) ≈ 0.001.
pub fn ks_sqrt_n(xs: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let d = v.iter().enumerate().fold(0.0f64, |d, (i, &x)| {
        let f = cdf(x);
        d.max(f - i as f64 / n).max((i + 1) as f64 / n - f)
    });
    d * n.sqrt()
}

/// The Kolmogorov–Smirnov bound used with [`ks_sqrt_n`] (level ≈ 0.001).
pub const KS_BOUND: f64 = 1.95;

/// Φ((x − mean)/sd), with erfc from Numerical Recipes' Chebyshev fit
/// (relative error < 1.2e-7, far below a KS resolution of 1/√n).
pub fn normal_cdf(x: f64, mean: f64, sd: f64) -> f64 {
    let z = (x - mean) / (sd * std::f64::consts::SQRT_2);
    let t = 1.0 / (1.0 + 0.5 * z.abs());
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Sample mean and standard error of the mean.
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}
