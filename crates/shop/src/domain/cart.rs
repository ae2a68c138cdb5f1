//! Cart validation (issue 4).
