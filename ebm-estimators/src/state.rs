//! Resumable training state: what an optimizer or an estimator carries from
//! one step to the next besides θ, as named flat f64 vectors, so that a run
//! stopped after N steps and resumed continues bit for bit.
//!
//! [`Resumable::save_state`] lists the entries; [`Resumable::load_state`]
//! puts them back and fails with a typed [`StateError`] when an entry is
//! missing, has the wrong length or is unexpected. The defaults are those of
//! a stateless object (no entries; loading accepts only an empty list).
//!
//! | object | entries |
//! | --- | --- |
//! | [`crate::Adam`] | `m`, `v` (empty before the first update), `t` \[1\] |
//! | [`crate::Sgd`] | `velocity` (empty before the first update), `t` \[1\] |
//! | [`crate::Pcd`] | `buffer` (capacity × d, empty before the first step) |
//! | [`crate::Nce`] | `c` \[1\] |
//! | [`crate::Lsd`] | `critic` (φ), `critic_opt.m`, `critic_opt.v`, `critic_opt.t` |
//! | [`crate::Trainer`] | `step` \[1\], `optimizer.*`, `estimator.*` |
//!
//! Step counts are stored as f64 (exact below 2⁵³). Values of type `T`
//! (f32 or f64) go through f64, which is lossless.

use thiserror::Error;

/// Named flat vectors, in a fixed order.
pub type State = Vec<(String, Vec<f64>)>;

/// A state that does not fit the object it is loaded into.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StateError {
    /// An entry the object needs is absent.
    #[error("training state lacks `{name}`")]
    Missing {
        /// The entry's name.
        name: String,
    },
    /// An entry of the wrong length.
    #[error("training state `{name}` has {got} values, expected {expected}")]
    Length {
        /// The entry's name.
        name: String,
        /// What the object needs (a description such as `1` or `0 or 40`).
        expected: String,
        /// The length found.
        got: usize,
    },
    /// Entries the object does not have (a state of another estimator or
    /// optimizer).
    #[error("training state has unexpected entries {names:?}")]
    Unexpected {
        /// Their names.
        names: Vec<String>,
    },
    /// An entry with a value out of its domain (a negative or fractional
    /// step count, a non-finite value).
    #[error("training state `{name}` is invalid: {reason}")]
    Invalid {
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// An object whose step-to-step state can be saved and restored.
pub trait Resumable {
    /// The state's entries (none by default).
    fn save_state(&self) -> State {
        Vec::new()
    }

    /// Restores a state written by [`Resumable::save_state`] of an object
    /// built with the same settings. On error the object may be partly
    /// restored and should be rebuilt.
    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> Result<(), StateError> {
        StateReader::new(state).finish()
    }
}

impl<R: Resumable + ?Sized> Resumable for Box<R> {
    fn save_state(&self) -> State {
        (**self).save_state()
    }
    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> Result<(), StateError> {
        (**self).load_state(state)
    }
}

/// Takes entries out of a state by name and reports what was left over.
#[derive(Debug)]
pub struct StateReader<'a> {
    entries: &'a [(String, Vec<f64>)],
    used: Vec<bool>,
}

impl<'a> StateReader<'a> {
    /// A reader of `entries`.
    pub fn new(entries: &'a [(String, Vec<f64>)]) -> Self {
        Self { entries, used: vec![false; entries.len()] }
    }

    /// The entry `name`; its length must be one of `lens` (any if empty).
    pub fn take(&mut self, name: &str, lens: &[usize]) -> Result<&'a [f64], StateError> {
        let i = self
            .entries
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| StateError::Missing { name: name.into() })?;
        self.used[i] = true;
        let v = &self.entries[i].1;
        if !lens.is_empty() && !lens.contains(&v.len()) {
            let expected = lens.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(" or ");
            return Err(StateError::Length { name: name.into(), expected, got: v.len() });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(StateError::Invalid { name: name.into(), reason: "non-finite value".into() });
        }
        Ok(v)
    }

    /// A step count stored as a one-element entry.
    pub fn take_count(&mut self, name: &str) -> Result<usize, StateError> {
        let v = self.take(name, &[1])?[0];
        if v < 0.0 || v.fract() != 0.0 || v > 2f64.powi(53) {
            return Err(StateError::Invalid { name: name.into(), reason: format!("{v} is not a step count") });
        }
        Ok(v as usize)
    }

    /// The entries named `prefix.NAME`, as `NAME`.
    pub fn take_prefixed(&mut self, prefix: &str) -> State {
        let p = format!("{prefix}.");
        let mut out = Vec::new();
        for (i, (n, v)) in self.entries.iter().enumerate() {
            if let Some(rest) = n.strip_prefix(&p) {
                self.used[i] = true;
                out.push((rest.to_string(), v.clone()));
            }
        }
        out
    }

    /// Fails with [`StateError::Unexpected`] if an entry was not taken.
    pub fn finish(self) -> Result<(), StateError> {
        let names: Vec<String> =
            self.entries.iter().zip(&self.used).filter(|(_, u)| !**u).map(|(e, _)| e.0.clone()).collect();
        if names.is_empty() {
            Ok(())
        } else {
            Err(StateError::Unexpected { names })
        }
    }
}

/// `state` with every name prefixed by `prefix.`.
pub fn prefixed(prefix: &str, state: State) -> State {
    state.into_iter().map(|(n, v)| (format!("{prefix}.{n}"), v)).collect()
}

/// Adds `prefix.` to the names inside an error of a nested object.
pub fn nest_error(prefix: &str, e: StateError) -> StateError {
    let p = |n: String| format!("{prefix}.{n}");
    match e {
        StateError::Missing { name } => StateError::Missing { name: p(name) },
        StateError::Length { name, expected, got } => StateError::Length { name: p(name), expected, got },
        StateError::Unexpected { names } => StateError::Unexpected { names: names.into_iter().map(p).collect() },
        StateError::Invalid { name, reason } => StateError::Invalid { name: p(name), reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_missing_length_and_unexpected() {
        let s: State = vec![
            ("a".into(), vec![1.0, 2.0]),
            ("t".into(), vec![3.0]),
            ("x.b".into(), vec![]),
            ("z".into(), vec![0.0]),
        ];
        let mut r = StateReader::new(&s);
        assert_eq!(r.take("a", &[2]).unwrap(), &[1.0, 2.0]);
        assert_eq!(r.take_count("t").unwrap(), 3);
        assert!(matches!(r.take("a", &[3]), Err(StateError::Length { .. })));
        assert!(matches!(r.take("q", &[]), Err(StateError::Missing { .. })));
        assert_eq!(r.take_prefixed("x"), vec![("b".to_string(), vec![])]);
        assert_eq!(r.finish(), Err(StateError::Unexpected { names: vec!["z".into()] }));
    }
}
