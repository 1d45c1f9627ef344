//! Langevin chains of a few rows of a large batch, drawn exactly as
//! `ebm_core::langevin` draws them for those rows of the whole batch: chain
//! b's normal for coordinate i at step k is `rng::normal(seed, first_step +
//! k, b·d + i)` and MALA's accept uniform `rng::uniform(seed,
//! accept_stream(first_step + k), b)`. Since chains do not interact, these
//! are the reference's chains for those rows at any batch size, at the cost
//! of the rows alone (`gpu_check` checks the GPU's chains of a batch of
//! 65 537 against them).
//!
//! The arithmetic is the reference's, operation for operation; the tests
//! below check that with every row the result is the reference's, bit for
//! bit.

use ebm_core::langevin::accept_stream;
use ebm_core::prelude::*;
use ebm_core::{check_len, rng, Real, Result};

/// `steps` ULA steps of the chains `x` (row-major, one chain per entry of
/// `rows`), which are rows `rows` of the full batch.
pub fn ula_rows<T: Real, E: Model<T> + ?Sized>(
    model: &E,
    x: &mut [T],
    rows: &[usize],
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
) -> Result<()> {
    let d = model.dim();
    check_len("x", x, rows.len() * d)?;
    let half_eps2 = eps * eps * T::from_f64(0.5);
    let (mut e, mut s) = (vec![T::zero(); rows.len()], vec![T::zero(); rows.len() * d]);
    let mut z = vec![T::zero(); d];
    for k in 0..steps as u64 {
        model.energy_score(x, &mut e, &mut s)?;
        for ((xr, sr), &row) in x.chunks_exact_mut(d).zip(s.chunks_exact(d)).zip(rows) {
            rng::fill_normal(seed, first_step + k, (row * d) as u64, &mut z);
            for i in 0..d {
                xr[i] += half_eps2 * sr[i] + eps * z[i];
            }
        }
    }
    Ok(())
}

/// `steps` MALA steps of the chains `x` (rows `rows` of the full batch);
/// `accepts[j]` counts chain j's accepted moves.
pub fn mala_rows<T: Real, E: Model<T> + ?Sized>(
    model: &E,
    x: &mut [T],
    rows: &[usize],
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
    accepts: &mut [u32],
) -> Result<()> {
    let d = model.dim();
    let n = rows.len();
    check_len("x", x, n * d)?;
    check_len("accepts", accepts, n)?;
    let half_eps2 = eps * eps * T::from_f64(0.5);
    let inv_2eps2 = T::one() / (T::from_f64(2.0) * eps * eps);
    let (mut e, mut s) = (vec![T::zero(); n], vec![T::zero(); n * d]);
    let (mut ep, mut sp, mut xp) = (vec![T::zero(); n], vec![T::zero(); n * d], vec![T::zero(); n * d]);
    model.energy_score(x, &mut e, &mut s)?;
    for k in 0..steps as u64 {
        let stream = first_step + k;
        for (j, &row) in rows.iter().enumerate() {
            let pr = &mut xp[j * d..(j + 1) * d];
            rng::fill_normal(seed, stream, (row * d) as u64, pr);
            for i in 0..d {
                pr[i] = x[j * d + i] + half_eps2 * s[j * d + i] + eps * pr[i];
            }
        }
        model.energy_score(&xp, &mut ep, &mut sp)?;
        for (j, &row) in rows.iter().enumerate() {
            let r = j * d..(j + 1) * d;
            let (xr, sr, pr, spr) = (&x[r.clone()], &s[r.clone()], &xp[r.clone()], &sp[r.clone()]);
            let (mut fwd, mut bwd) = (T::zero(), T::zero());
            for i in 0..d {
                let a = pr[i] - xr[i] - half_eps2 * sr[i];
                let c = xr[i] - pr[i] - half_eps2 * spr[i];
                fwd += a * a;
                bwd += c * c;
            }
            let log_alpha = e[j] - ep[j] + (fwd - bwd) * inv_2eps2;
            let u = T::from_f64(rng::uniform(seed, accept_stream(stream), row as u64) as f64);
            if u.ln() < log_alpha {
                accepts[j] += 1;
                x[r.clone()].copy_from_slice(&xp[r.clone()]);
                s[r.clone()].copy_from_slice(&sp[r]);
                e[j] = ep[j];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::langevin;
    use ebm_core::mlp::{Activation, Mlp};

    fn model() -> Mlp<f32> {
        let mut m = Mlp::<f32>::init(3, &[7, 5], Activation::Softplus, 4).unwrap();
        m.params_mut().iter_mut().for_each(|p| *p *= 4.0);
        m
    }

    #[test]
    fn every_row_is_the_reference_bit_for_bit_and_rows_stand_alone() {
        let m = model();
        let (b, d, k, seed, first) = (37, 3, 9, 77, (1u64 << 32) - 3);
        let x0: Vec<f32> = crate::normal_batch(5, b, d);
        let all: Vec<usize> = (0..b).collect();
        let mut want = x0.clone();
        langevin::ula(&m, &mut want, 0.3, k, seed, first).unwrap();
        let mut got = x0.clone();
        ula_rows(&m, &mut got, &all, 0.3, k, seed, first).unwrap();
        assert_eq!(got, want);
        // Rows 4 and 30 alone: the same chains as in the whole batch.
        let rows = [4usize, 30];
        let mut sub: Vec<f32> = rows.iter().flat_map(|&r| x0[r * d..(r + 1) * d].to_vec()).collect();
        ula_rows(&m, &mut sub, &rows, 0.3, k, seed, first).unwrap();
        assert_eq!(&sub[..d], &want[4 * d..5 * d]);
        assert_eq!(&sub[d..], &want[30 * d..31 * d]);

        let (mut want, mut acc_want) = (x0.clone(), vec![1u32; b]);
        let rate = langevin::mala(&m, &mut want, 1.0, k, seed, first, &mut acc_want).unwrap();
        assert!(rate > 0.05 && rate < 0.95, "both outcomes exercised: {rate}");
        let (mut got, mut acc) = (x0.clone(), vec![1u32; b]);
        mala_rows(&m, &mut got, &all, 1.0, k, seed, first, &mut acc).unwrap();
        assert_eq!((got, acc), (want.clone(), acc_want.clone()));
        let mut sub: Vec<f32> = rows.iter().flat_map(|&r| x0[r * d..(r + 1) * d].to_vec()).collect();
        let mut acc = vec![1u32; 2];
        mala_rows(&m, &mut sub, &rows, 1.0, k, seed, first, &mut acc).unwrap();
        assert_eq!(&sub[..d], &want[4 * d..5 * d]);
        assert_eq!(&sub[d..], &want[30 * d..31 * d]);
        assert_eq!(acc, vec![acc_want[4], acc_want[30]]);
    }
}
