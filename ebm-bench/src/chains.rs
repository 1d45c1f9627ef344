//! Langevin chains of a few rows of a large batch, drawn exactly as
//! `ebm_core::langevin` draws them for those rows of the whole batch: chain
//! b's normal for coordinate i at step k is `rng::normal(seed, first_step +
//! k, b·d + i)` and MALA's accept uniform `rng::uniform(seed,
//! accept_stream(first_step + k), b)`. Since chains do not interact, these
//! are the reference's chains for those rows at any batch size, at the cost
//! of the rows alone (`gpu_check` checks the GPU's chains of a batch of
//! 65 537 against them).
//!
//! Each run of consecutive rows is a share of the batch that the reference
//! itself moves ([`langevin::ula_chains_at`], [`langevin::mala_chains_at`])
//! with the noise of its global chains ([`NoiseAt::from_chain`]); the tests
//! below check that with every row the result is the reference's, bit for
//! bit.

use ebm_core::langevin::{self, NoiseAt};
use ebm_core::prelude::*;
use ebm_core::{check_len, Chains, PerSample, Real, Result};
use std::ops::Range;

/// A Langevin run of chains that are rows `rows` of a full batch (the
/// chains themselves row-major, one per entry of `rows`): `steps` steps of
/// size `eps`, with the noise the whole batch draws at `at`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'r, T> {
    /// The chains' rows in the full batch.
    pub rows: &'r [usize],
    /// The step size.
    pub eps: T,
    /// The number of steps.
    pub steps: usize,
    /// The whole batch's noise.
    pub at: NoiseAt,
}

impl<T: Real> Rows<'_, T> {
    /// The runs of consecutive rows: which chains each is, and their noise
    /// (global chains from the run's first row on).
    fn runs(&self) -> impl Iterator<Item = (Range<usize>, NoiseAt)> + '_ {
        let mut end = 0;
        self.rows.chunk_by(|&a, &b| b == a + 1).map(move |run| {
            let chains = end..end + run.len();
            end = chains.end;
            (chains, self.at.from_chain(run[0] as u64))
        })
    }

    /// ULA on the chains `x`.
    pub fn ula<E: Model<T> + ?Sized>(&self, model: &E, x: &mut [T]) -> Result<()> {
        let d = model.dim();
        check_len("x", x, self.rows.len() * d)?;
        for (j, at) in self.runs() {
            langevin::ula_chains_at(model, Chains::new(&mut x[j.start * d..j.end * d], d)?, self.eps, self.steps, at)?;
        }
        Ok(())
    }

    /// MALA on the chains `x`; `accepts[j]` counts chain j's accepted moves.
    pub fn mala<E: Model<T> + ?Sized>(&self, model: &E, x: &mut [T], accepts: &mut [u32]) -> Result<()> {
        let d = model.dim();
        check_len("x", x, self.rows.len() * d)?;
        check_len("accepts", accepts, self.rows.len())?;
        for (j, at) in self.runs() {
            let chains = Chains::new(&mut x[j.start * d..j.end * d], d)?;
            let accepts = PerSample::for_chains("accepts", &chains, &mut accepts[j])?;
            langevin::mala_chains_at(model, chains, self.eps, self.steps, at, accepts)?;
        }
        Ok(())
    }
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
        let (b, d, k) = (37, 3, 9);
        let at = NoiseAt::new(77, (1u64 << 32) - 3);
        let x0: Vec<f32> = crate::normal_batch(5, b, d);
        let all: Vec<usize> = (0..b).collect();
        // Rows 4, 5 and 30 alone: the same chains as in the whole batch.
        let rows = [4usize, 5, 30];
        let pick = |x: &[f32]| -> Vec<f32> { rows.iter().flat_map(|&r| x[r * d..(r + 1) * d].to_vec()).collect() };
        let mut want = x0.clone();
        langevin::ula(&m, &mut want, 0.3, k, at.seed, at.first_step).unwrap();
        let mut got = x0.clone();
        Rows { rows: &all, eps: 0.3, steps: k, at }.ula(&m, &mut got).unwrap();
        assert_eq!(got, want);
        let mut sub = pick(&x0);
        Rows { rows: &rows, eps: 0.3, steps: k, at }.ula(&m, &mut sub).unwrap();
        assert_eq!(sub, pick(&want));

        let (mut want, mut acc_want) = (x0.clone(), vec![1u32; b]);
        let rate = langevin::mala(&m, &mut want, 1.0, k, at.seed, at.first_step, &mut acc_want).unwrap();
        assert!(rate > 0.05 && rate < 0.95, "both outcomes exercised: {rate}");
        let (mut got, mut acc) = (x0.clone(), vec![1u32; b]);
        Rows { rows: &all, eps: 1.0, steps: k, at }.mala(&m, &mut got, &mut acc).unwrap();
        assert_eq!((got, acc), (want.clone(), acc_want.clone()));
        let (mut sub, mut acc) = (pick(&x0), vec![1u32; rows.len()]);
        Rows { rows: &rows, eps: 1.0, steps: k, at }.mala(&m, &mut sub, &mut acc).unwrap();
        assert_eq!(sub, pick(&want));
        assert_eq!(acc, rows.map(|r| acc_want[r]));
    }
}
