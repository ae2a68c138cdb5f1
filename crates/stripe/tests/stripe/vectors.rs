//! The signature vectors from stripe-dotnet and async-stripe, verified with a fixed clock.

use std::time::Duration;

use caisse_stripe::signature::{sign, verify, SignatureError};
use serde_json::Value;

#[test]
fn every_external_vector_signs_and_verifies() {
    let vectors: Value = serde_json::from_slice(&crate::data("vectors.json")).unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let payload = crate::data(v["payload_file"].as_str().unwrap());
        let secret = v["secret"].as_str().unwrap();
        let t = v["timestamp"].as_i64().unwrap();
        let header = v["header"].as_str().unwrap();
        assert_eq!(
            sign(secret, t, &payload),
            v["v1"].as_str().unwrap(),
            "{}",
            v["payload_file"]
        );
        assert_eq!(
            verify(header, &payload, &[secret], Duration::from_secs(300), t),
            Ok(t)
        );
        // The same vector is stale for a real clock, and wrong with another secret.
        assert!(matches!(
            verify(
                header,
                &payload,
                &[secret],
                Duration::from_secs(300),
                t + 301
            ),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        assert_eq!(
            verify(
                header,
                &payload,
                &["whsec_other"],
                Duration::from_secs(300),
                t
            ),
            Err(SignatureError::NoMatch)
        );
        // One byte more (a re-serialised body, a trailing newline) breaks it.
        let mut longer = payload.clone();
        longer.push(b'\n');
        assert_eq!(
            verify(header, &longer, &[secret], Duration::from_secs(300), t),
            Err(SignatureError::NoMatch)
        );
    }
}
