//! Rate limits on checkout creation, per customer and per client IP (DESIGN.md 1.7).

mod gcra;

pub use gcra::{decide, Decision, Rate};
