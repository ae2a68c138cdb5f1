//! caisse-stripe's integration tests: Stripe's own signature vectors and example objects, and the
//! client against a real HTTP server that fails on purpose.

mod client_retry;
mod fixtures;
mod vectors;

pub fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/stripe/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
