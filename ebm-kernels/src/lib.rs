//! ebm-kernels: fused CubeCL kernels on wgpu.
pub use cubecl;
