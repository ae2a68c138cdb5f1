//! The sandbox's one source of randomness: the thread-local generator of `rand`, behind the three
//! questions the sandbox asks it (an id's random part, a chaos coin toss, a chaos delay), so that
//! nothing else reaches for a generator of its own.

use rand::distributions::Alphanumeric;
use rand::Rng;

/// `len` random ASCII letters and digits.
pub fn alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// True with probability `p`; `p` at or below 0 (or NaN) is never, above 1 always.
pub fn chance(p: f64) -> bool {
    // `gen_bool` panics outside 0..=1, and a chaos share comes from a control call's JSON.
    p > 0.0 && rand::thread_rng().gen_bool(p.min(1.0))
}

/// A whole number from 0 to `max`, both included.
pub fn up_to(max: u64) -> u64 {
    rand::thread_rng().gen_range(0..=max)
}
