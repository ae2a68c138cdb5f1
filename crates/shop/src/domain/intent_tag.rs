//! The tag that says a PaymentIntent is the one of a hold's own Checkout Session.
//!
//! Checkout creates the session's PaymentIntent with `payment_intent_data[metadata]`: the hold's
//! id and this tag, 128 random bits made for the hold and kept on its row. PaymentIntent events
//! do not name their session, and another integration on the same Stripe account may put a
//! hold's id in a PaymentIntent's metadata: only a PaymentIntent with the hold's tag, or the one
//! the hold's session named, pays the hold.
//!
//! Random and stored rather than derived from a secret: every instance and every tool that
//! handles events (`caisse events replay` has no webhook secret) reads the same tag from the
//! database, and rotating a secret never orphans the PaymentIntents of open checkouts.

use rand::RngCore;
use subtle::ConstantTimeEq;

/// The metadata key of the tag.
pub const METADATA_KEY: &str = "caisse_tag";

/// A new hold's tag: 32 hex digits.
pub fn new_tag() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether a PaymentIntent's `presented` tag is the hold's `stored` one, compared in constant
/// time. A hold without a tag (made before tags) matches nothing.
pub fn matches(stored: Option<&str>, presented: &str) -> bool {
    stored.is_some_and(|s| !s.is_empty() && bool::from(s.as_bytes().ct_eq(presented.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_matches_only_its_hold() {
        let tag = new_tag();
        assert_eq!(tag.len(), 32);
        assert_ne!(tag, new_tag());
        assert!(matches(Some(&tag), &tag));
        assert!(!matches(Some(&tag), &new_tag()));
        assert!(!matches(Some(&tag), ""));
        assert!(!matches(None, &tag));
        assert!(!matches(Some(""), ""));
    }
}
