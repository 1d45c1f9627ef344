//! Symbolic energies (being written).
