//! The tag that says a PaymentIntent is the one of a hold's own Checkout Session.
//!
//! Checkout creates the session's PaymentIntent with `payment_intent_data[metadata]`: the hold's
//! id and this tag, an HMAC of the id under a key of the shop's (its webhook signing secret, with a
//! purpose of its own in the MAC). PaymentIntent events do not name their session, and another
//! integration on the same Stripe account may put a hold's id in a PaymentIntent's metadata: only
//! a PaymentIntent with the right tag, or the one the hold's session named, pays the hold.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The metadata key of the tag.
pub const METADATA_KEY: &str = "caisse_tag";

/// The tag of `hold_id` under `key`: 32 hex digits.
pub fn intent_tag(key: &[u8], hold_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"caisse payment_intent of hold ");
    mac.update(hold_id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// Whether `tag` is `hold_id`'s, compared in constant time.
pub fn is_hold_tag(key: &[u8], hold_id: &str, tag: &str) -> bool {
    intent_tag(key, hold_id)
        .as_bytes()
        .ct_eq(tag.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_the_holds_under_the_key() {
        let tag = intent_tag(b"key", "hold_1");
        assert_eq!(tag.len(), 32);
        assert!(is_hold_tag(b"key", "hold_1", &tag));
        assert!(!is_hold_tag(b"key", "hold_2", &tag));
        assert!(!is_hold_tag(b"other key", "hold_1", &tag));
        assert!(!is_hold_tag(b"key", "hold_1", ""));
    }
}
