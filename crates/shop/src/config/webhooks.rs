//! Webhooks: the signature's timestamp tolerance (DESIGN.md 1.2), the policies of 1.5 and the
//! alarm on bad signatures.

use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    REFUND_UNFULFILLABLE, RELEASE_ON_PAYMENT_FAILURE, SIGNATURE_ALERT_THRESHOLD,
    SIGNATURE_ALERT_WINDOW, WEBHOOK_TOLERANCE,
};

/// What webhooks do beyond DESIGN.md's fixed rules: the policies of 1.5 and the signature alarm.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub release_on_payment_failure: bool,
    pub refund_unfulfillable: bool,
    pub signature_alert_threshold: u32,
    pub signature_alert_window: Duration,
}

pub(super) fn webhook_settings(r: &mut Reader<'_>) -> WebhookConfig {
    let release_on_payment_failure = r.flag(RELEASE_ON_PAYMENT_FAILURE);
    let refund_unfulfillable = r.flag(REFUND_UNFULFILLABLE);
    let threshold = r.number::<u32>(SIGNATURE_ALERT_THRESHOLD);
    if threshold == 0 {
        r.fail(SIGNATURE_ALERT_THRESHOLD, "must be at least 1");
    }
    let window = r.number::<u64>(SIGNATURE_ALERT_WINDOW);
    if !(1..=86_400).contains(&window) {
        r.fail(SIGNATURE_ALERT_WINDOW, "must be 1 to 86400 seconds");
    }
    WebhookConfig {
        release_on_payment_failure,
        refund_unfulfillable,
        signature_alert_threshold: threshold,
        signature_alert_window: Duration::from_secs(window),
    }
}

/// The signature timestamp tolerance, both ways: never 0, at most 10 minutes.
pub(super) fn tolerance(r: &mut Reader<'_>) -> Duration {
    let tolerance = r.number::<u64>(WEBHOOK_TOLERANCE);
    if tolerance == 0 {
        r.fail(
            WEBHOOK_TOLERANCE,
            "must be at least 1 second (0 would accept replays forever)",
        );
    } else if tolerance > 600 {
        r.fail(
            WEBHOOK_TOLERANCE,
            "must be at most 600 seconds (a longer window lets a captured delivery be replayed longer)",
        );
    }
    Duration::from_secs(tolerance)
}
