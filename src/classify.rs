//! Outcome classification.
