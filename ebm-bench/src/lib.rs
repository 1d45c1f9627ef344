//! ebm-bench: support code for the criterion benches.
