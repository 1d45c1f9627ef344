//! Divergence while still finite: a training loss or a parameter that has
//! exploded without (yet) overflowing. `ebm_estimators::train` stops on
//! non-finite values; these bounds stop a run earlier, when its numbers
//! have left any range a fit can be in. A run that crosses one stops like
//! a non-finite one: exit code 2, `metrics.json` says `diverged` with the
//! cause, and the checkpoint on disk stays the last one written before.
//!
//! # The bounds
//!
//! - **Loss**: |L_t| > 10⁸ · max(1, |L₀|), with L₀ the loss of the run's
//!   first step (kept across resumes). A healthy run's loss settles within
//!   a few orders of magnitude of its first value: score-matching losses
//!   scale as 1/s² with the data scale s, so data at s = 10⁻³ gives losses
//!   near 10⁶, and contrastive losses (CD, PCD) are differences of
//!   energies of order 1 at the start. A loss 10⁸ times its start means the
//!   updates feed on themselves — typically an energy running off to −∞ on
//!   its own negative samples (CD with a large learning rate: |L| passes
//!   10⁸ within ~20 steps at `--lr 1`), or a step too large for the
//!   curvature.
//! - **Parameters**: max |θᵢ| ≥ 2²⁴ ≈ 1.7·10⁷. Beyond it f32, the
//!   precision the models train in, spaces its values 2 or more apart: no
//!   update smaller than 1 can change such a parameter, so training can no
//!   longer move it, and energies built from it carry no digit below the
//!   units.

/// The loss bound's factor over max(1, |L₀|).
pub const LOSS_FACTOR: f64 = 1e8;
/// The parameter bound, 2²⁴.
pub const PARAM_BOUND: f64 = 16_777_216.0;

/// The bounds of one run (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The loss of the run's first step, once known.
    first_loss: Option<f64>,
}

impl Bounds {
    /// Bounds for a run whose first step's loss is `first_loss` (None when
    /// the run has not done a step yet: the next loss checked is L₀).
    pub fn new(first_loss: Option<f64>) -> Self {
        Self { first_loss }
    }

    /// The loss bound, once L₀ is known.
    pub fn loss_bound(&self) -> Option<f64> {
        self.first_loss.map(|l0| LOSS_FACTOR * l0.abs().max(1.0))
    }

    /// Checks step `t`'s loss and the parameters after it; the cause when a
    /// bound is crossed.
    pub fn check(&mut self, loss: f64, params: &[f32]) -> Option<String> {
        let bound = LOSS_FACTOR * self.first_loss.get_or_insert(loss).abs().max(1.0);
        if loss.abs() > bound {
            return Some(format!(
                "loss {loss:.3e} is beyond the bound 1e8 · max(1, |first loss|) = {bound:.3e} (exploding while still finite)"
            ));
        }
        let (i, big) =
            params.iter().enumerate().fold((0, 0f32), |m, (i, v)| if v.abs() > m.1 { (i, v.abs()) } else { m });
        if big as f64 >= PARAM_BOUND {
            return Some(format!(
                "parameter {i} reached |θ| = {big:.3e} ≥ 2^24, where f32 can no longer resolve an update below 1 (exploding while still finite)"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_relative_to_the_first_loss_and_absolute_for_parameters() {
        let mut b = Bounds::new(None);
        assert_eq!(b.check(0.003, &[0.5]), None);
        assert_eq!(b.loss_bound(), Some(1e8));
        assert_eq!(b.check(-9.9e7, &[1e7]), None);
        assert!(b.check(-1.01e8, &[0.0]).unwrap().contains("loss"));
        assert!(b.check(1.0, &[0.0, -16_777_216.0]).unwrap().contains("parameter 1"));
        // A large first loss scales the bound.
        let mut big = Bounds::new(Some(-2e6));
        assert_eq!(big.check(1e14, &[]), None);
        assert!(big.check(3e14, &[]).is_some());
    }
}
