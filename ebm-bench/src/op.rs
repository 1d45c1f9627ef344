//! What the summary needs of a benched operation: its criterion group, its
//! FLOP model, and the twin it is compared with.

use crate::MlpShape;

/// A benched operation (a primitive or an estimator step).
pub trait BenchOp: Copy {
    /// The criterion group.
    fn group_name(self) -> &'static str;
    /// Modelled FLOPs of one call on `b` samples of `shape`, where the op
    /// documents a model.
    fn flops(self, shape: MlpShape, b: usize) -> Option<f64>;
    /// The group of the twin this op is compared with, and what the
    /// comparison is called.
    fn twin(self) -> Option<(&'static str, &'static str)> {
        None
    }
}
