//! First-order optimizers over a flat parameter buffer, learning-rate
//! schedules and gradient-norm clipping.
//!
//! - [`Sgd`]: v ← μv + (g + λθ); θ ← θ − η·v (or θ − η(g + λθ + μv) with
//!   Nesterov), λ a coupled L2 weight decay.
//! - [`Adam`] (Kingma & Ba 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
//!   θ ← θ − η[m̂/(√v̂ + ε) + λθ] with bias-corrected m̂, v̂ and *decoupled*
//!   weight decay λ (AdamW, Loshchilov & Hutter 2019).
//!
//! η at update t (0-based) is `lr · schedule.factor(t)`. Optimizer state is
//! kept in f64 whatever the parameter type.

use crate::error::{config, Result};
use crate::state::{Resumable, State, StateError, StateReader};
use ebm_core::Real;

/// A learning-rate schedule: the factor multiplying the base rate at update t.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// 1.
    #[default]
    Constant,
    /// γᵗ.
    Exponential {
        /// Per-update decay γ ∈ (0, 1].
        gamma: f64,
    },
    /// Cosine from 1 down to `final_factor` over `total_steps`, then flat.
    Cosine {
        /// Updates over which to decay.
        total_steps: usize,
        /// The factor reached at the end.
        final_factor: f64,
    },
}

impl Schedule {
    /// The factor at update `t`.
    pub fn factor(&self, t: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Exponential { gamma } => gamma.powf(t as f64),
            Schedule::Cosine { total_steps, final_factor } => {
                let p = (t as f64 / total_steps.max(1) as f64).min(1.0);
                final_factor + (1.0 - final_factor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }
}

/// An optimizer updating parameters in place from their gradient.
/// Its moments and update count are saved and restored through the
/// [`Resumable`] supertrait.
pub trait Optimizer<T: Real>: Resumable + Send {
    /// The optimizer's name.
    fn name(&self) -> &'static str;

    /// One update θ ← θ − step(g). The state sizes itself on the first call.
    ///
    /// Errors: [`crate::EstError::Config`] if the hyper-parameters are invalid
    /// or the length differs from the first call.
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()>;

    /// Updates done so far.
    fn updates(&self) -> usize;

    /// The learning rate the next update will use.
    fn current_lr(&self) -> f64;

    /// The number of parameters the state is sized for (`None` before the
    /// first update).
    fn state_len(&self) -> Option<usize> {
        None
    }
}

impl<T: Real, O: Optimizer<T> + ?Sized> Optimizer<T> for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()> {
        (**self).step(params, grad)
    }
    fn updates(&self) -> usize {
        (**self).updates()
    }
    fn current_lr(&self) -> f64 {
        (**self).current_lr()
    }
    fn state_len(&self) -> Option<usize> {
        (**self).state_len()
    }
}

/// The [`Optimizer`] methods of an optimizer with fields `lr`, `schedule`,
/// `t` (updates done) and the per-parameter state vector `$state`.
macro_rules! clock_methods {
    ($state:ident) => {
        fn updates(&self) -> usize {
            self.t
        }

        fn current_lr(&self) -> f64 {
            self.lr * self.schedule.factor(self.t)
        }

        fn state_len(&self) -> Option<usize> {
            (!self.$state.is_empty()).then_some(self.$state.len())
        }
    };
}

fn check_state(state: &mut Vec<f64>, n: usize, grad_len: usize) -> Result<()> {
    if n != grad_len {
        return config(format!("optimizer: {n} parameters but {grad_len} gradient entries"));
    }
    if state.is_empty() {
        state.resize(n, 0.0);
    } else if state.len() != n {
        return config(format!("optimizer: state sized for {} parameters, got {n}", state.len()));
    }
    Ok(())
}

fn positive(what: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return config(format!("{what} must be positive and finite, got {v}"));
    }
    Ok(())
}

/// Stochastic gradient descent with momentum.
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd {
    /// Base learning rate η.
    pub lr: f64,
    /// Momentum μ ∈ [0, 1).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Coupled L2 weight decay λ.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    velocity: Vec<f64>,
    t: usize,
}

impl Sgd {
    /// SGD with rate `lr` and momentum `momentum`.
    pub fn new(lr: f64, momentum: f64) -> Self {
        Self {
            lr,
            momentum,
            nesterov: false,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            velocity: Vec::new(),
            t: 0,
        }
    }

    setters! {
        /// Sets the schedule.
        with_schedule(schedule: Schedule);
    }
}

impl<T: Real> Optimizer<T> for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()> {
        positive("SGD learning rate", self.lr)?;
        if !(0.0..1.0).contains(&self.momentum) || self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return config(format!("SGD momentum {} / weight decay {} out of range", self.momentum, self.weight_decay));
        }
        check_state(&mut self.velocity, params.len(), grad.len())?;
        let lr = self.lr * self.schedule.factor(self.t);
        for ((p, &g), v) in params.iter_mut().zip(grad).zip(self.velocity.iter_mut()) {
            let g = g.to_f64() + self.weight_decay * p.to_f64();
            *v = self.momentum * *v + g;
            let d = if self.nesterov { g + self.momentum * *v } else { *v };
            *p = T::from_f64(p.to_f64() - lr * d);
        }
        self.t += 1;
        Ok(())
    }

    clock_methods!(velocity);
}

/// Entries `velocity`, `t` (see [`crate::state`]).
impl Resumable for Sgd {
    fn save_state(&self) -> State {
        vec![("velocity".into(), self.velocity.clone()), ("t".into(), vec![self.t as f64])]
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), StateError> {
        let mut r = StateReader::new(state);
        let velocity = r.take("velocity", &[])?.to_vec();
        let t = r.take_count("t")?;
        r.finish()?;
        (self.velocity, self.t) = (velocity, t);
        Ok(())
    }
}

/// Adam with optional decoupled weight decay (AdamW).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// Base learning rate η.
    pub lr: f64,
    /// First-moment decay β₁.
    pub beta1: f64,
    /// Second-moment decay β₂.
    pub beta2: f64,
    /// ε of the denominator.
    pub eps: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    m: Vec<f64>,
    v: Vec<f64>,
    t: usize,
}

impl Adam {
    /// Adam with rate `lr`, β = (0.9, 0.999), ε = 1e-8.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
        }
    }

    /// Sets the moment decays.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    setters! {
        /// Sets the decoupled weight decay (AdamW).
        with_weight_decay(weight_decay: f64);
        /// Sets the schedule.
        with_schedule(schedule: Schedule);
    }
}

impl<T: Real> Optimizer<T> for Adam {
    fn name(&self) -> &'static str {
        if self.weight_decay > 0.0 {
            "adamw"
        } else {
            "adam"
        }
    }

    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()> {
        positive("Adam learning rate", self.lr)?;
        positive("Adam ε", self.eps)?;
        if !(0.0..1.0).contains(&self.beta1)
            || !(0.0..1.0).contains(&self.beta2)
            || self.weight_decay.is_nan()
            || self.weight_decay < 0.0
        {
            return config(format!(
                "Adam β = ({}, {}) / weight decay {} out of range",
                self.beta1, self.beta2, self.weight_decay
            ));
        }
        check_state(&mut self.m, params.len(), grad.len())?;
        check_state(&mut self.v, params.len(), grad.len())?;
        let lr = self.lr * self.schedule.factor(self.t);
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t as i32);
        let c2 = 1.0 - self.beta2.powi(self.t as i32);
        for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(self.m.iter_mut()).zip(self.v.iter_mut()) {
            let g = g.to_f64();
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let upd = (*m / c1) / ((*v / c2).sqrt() + self.eps) + self.weight_decay * p.to_f64();
            *p = T::from_f64(p.to_f64() - lr * upd);
        }
        Ok(())
    }

    clock_methods!(m);
}

/// Entries `m`, `v` (equal lengths), `t` (see [`crate::state`]).
impl Resumable for Adam {
    fn save_state(&self) -> State {
        vec![("m".into(), self.m.clone()), ("v".into(), self.v.clone()), ("t".into(), vec![self.t as f64])]
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), StateError> {
        let mut r = StateReader::new(state);
        let m = r.take("m", &[])?.to_vec();
        let v = r.take("v", &[m.len()])?.to_vec();
        let t = r.take_count("t")?;
        r.finish()?;
        if let Some(i) = v.iter().position(|&x| x < 0.0) {
            return Err(StateError::Invalid {
                name: "v".into(),
                reason: format!("negative second moment at index {i}"),
            });
        }
        (self.m, self.v, self.t) = (m, v, t);
        Ok(())
    }
}

/// The Euclidean norm of `g`, accumulated in f64.
pub fn grad_norm<T: Real>(g: &[T]) -> f64 {
    g.iter().map(|&v| v.to_f64().powi(2)).sum::<f64>().sqrt()
}

/// Rescales `g` to norm `max_norm` if it is longer; returns the norm before
/// clipping.
pub fn clip_grad_norm<T: Real>(g: &mut [T], max_norm: f64) -> f64 {
    let n = grad_norm(g);
    if n > max_norm && n.is_finite() {
        let s = T::from_f64(max_norm / n);
        g.iter_mut().for_each(|v| *v *= s);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both optimizers minimise a badly scaled quadratic.
    #[test]
    fn optimizers_minimise_a_quadratic() {
        let scales = [1.0, 10.0, 0.1];
        let grad = |p: &[f64]| -> Vec<f64> { p.iter().zip(&scales).map(|(x, s)| s * (x - 1.0)).collect() };
        let mut sgd = Sgd::new(0.05, 0.9);
        let mut adam = Adam::new(0.05).with_schedule(Schedule::Cosine { total_steps: 3000, final_factor: 0.0 });
        let (mut a, mut b) = (vec![0.0f64; 3], vec![0.0f64; 3]);
        for _ in 0..3000 {
            let g = grad(&a);
            Optimizer::<f64>::step(&mut sgd, &mut a, &g).unwrap();
            let g = grad(&b);
            Optimizer::<f64>::step(&mut adam, &mut b, &g).unwrap();
        }
        for v in a.iter().chain(&b) {
            assert!((v - 1.0).abs() < 1e-4, "{a:?} {b:?}");
        }
    }

    #[test]
    fn adamw_decays_towards_zero_without_gradient() {
        let mut adam = Adam::new(0.1).with_weight_decay(0.5);
        let mut p = vec![1.0f64];
        Optimizer::<f64>::step(&mut adam, &mut p, &[0.0]).unwrap();
        assert!((p[0] - (1.0 - 0.1 * 0.5)).abs() < 1e-12);
    }

    #[test]
    fn clipping_and_schedules() {
        let mut g = vec![3.0f64, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((grad_norm(&g) - 1.0).abs() < 1e-12);
        let c = Schedule::Cosine { total_steps: 10, final_factor: 0.1 };
        assert!((c.factor(0) - 1.0).abs() < 1e-12 && (c.factor(10) - 0.1).abs() < 1e-12);
        assert!(Optimizer::<f64>::step(&mut Sgd::new(-1.0, 0.0), &mut [0.0], &[0.0]).is_err());
    }

    /// Runs `n` updates of `make()`, saves, loads into a fresh `make()` and
    /// runs `n` more on both: the two agree exactly. Returns the loaded one.
    fn resumed_matches<O: Optimizer<f64>>(make: impl Fn() -> O, n: usize) -> O {
        let g = |p: &[f64]| -> Vec<f64> { p.iter().map(|x| 3.0 * x - 1.0).collect() };
        let mut a = make();
        let mut p = vec![0.5f64, -2.0];
        for _ in 0..n {
            let gr = g(&p);
            a.step(&mut p, &gr).unwrap();
        }
        let mut b = make();
        b.load_state(&a.save_state()).unwrap();
        let mut q = p.clone();
        for _ in 0..n {
            let (gp, gq) = (g(&p), g(&q));
            a.step(&mut p, &gp).unwrap();
            b.step(&mut q, &gq).unwrap();
        }
        assert_eq!(p, q);
        b
    }

    /// Saving after a few updates and loading into a fresh optimizer
    /// continues exactly like the uninterrupted one.
    #[test]
    fn saved_state_continues_bit_for_bit() {
        let mut b = resumed_matches(|| Adam::new(0.1), 5);
        let s2 = resumed_matches(|| Sgd::new(0.1, 0.9), 3);
        assert_eq!(Optimizer::<f64>::updates(&s2), 6);
        assert!(matches!(b.load_state(&Sgd::new(0.1, 0.9).save_state()), Err(StateError::Missing { .. })));
        let bad = vec![("m".into(), vec![0.0]), ("v".into(), vec![0.0, 1.0]), ("t".into(), vec![1.0])];
        assert!(matches!(b.load_state(&bad), Err(StateError::Length { .. })));
    }
}
