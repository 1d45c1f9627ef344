//! ebm-estimators: training objectives, samplers, optimizers.
