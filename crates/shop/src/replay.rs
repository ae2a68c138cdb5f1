//! Recovering what the endpoint missed (DESIGN.md 1.9): `caisse events replay` reads Stripe's
//! Events API and feeds every event through **the same inbox** as the endpoint, so an outage of
//! the webhook endpoint loses nothing. The events come over the authenticated API, so there is no
//! signature to check; each is recorded with source `replay`. Running it twice changes nothing:
//! the second time every event is a duplicate.

use caisse_stripe::client::{EventsQuery, RawEvent};
use caisse_stripe::StripeError;

use crate::app::App;
use crate::webhooks::{self, Outcome, Received, Source};

/// Stripe keeps events for 30 days.
pub const MAX_AGE_SECS: i64 = 30 * 86_400;

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub fetched: usize,
    pub processed: usize,
    pub duplicate: usize,
    pub ignored: usize,
    /// Events the inbox could not apply now (they stay `failed`; run the replay again).
    pub failed: usize,
}

/// Events asked for in one page: what a replay holds in memory at once.
pub const PAGE_SIZE: u32 = 100;

/// Replays the events created at or after `since` (of `types`, when given), applying each page of
/// [`PAGE_SIZE`] as soon as it is read, so that memory holds one page whatever the window.
pub async fn replay(app: &App, since: i64, types: &[String]) -> Result<Report, StripeError> {
    replay_in_pages(app, since, types, PAGE_SIZE).await
}

/// [`replay`] with pages of `page_size` events. Stripe lists newest first: pages come from the
/// newest to the oldest, and each page is applied oldest first. The inbox takes events in any
/// order (DESIGN.md 1.5: Stripe keeps none either), so the order across pages changes no outcome.
pub async fn replay_in_pages(
    app: &App,
    since: i64,
    types: &[String],
    page_size: u32,
) -> Result<Report, StripeError> {
    let mut query = EventsQuery {
        limit: Some(page_size),
        created_gte: Some(since),
        types: types.to_vec(),
        ..EventsQuery::default()
    };
    let mut report = Report::default();
    loop {
        let (mut page, has_more) = app.stripe.events_page(&query).await?;
        report.fetched += page.len();
        let next = page.last().map(|e| e.event.id.clone());
        page.reverse();
        for RawEvent { event, payload } in &page {
            match webhooks::receive(
                app,
                event,
                webhooks::typed_object(event),
                payload,
                Source::Replay,
            )
            .await
            {
                Ok(Received::Applied(Outcome::Processed(_))) => report.processed += 1,
                Ok(Received::Applied(Outcome::Ignored(_))) => report.ignored += 1,
                Ok(Received::Duplicate) => report.duplicate += 1,
                Err(e) => {
                    tracing::warn!(event = %event.id, error = %e, "replayed event failed");
                    report.failed += 1;
                }
            }
        }
        match (has_more, next) {
            (true, Some(last)) => query.starting_after = Some(last),
            _ => return Ok(report),
        }
    }
}

/// `1h`, `30m`, `3d`, `90s` ago, or an RFC 3339 time, as unix seconds; at most 30 days back.
pub fn parse_since(text: &str, now: i64) -> Result<i64, String> {
    let text = text.trim();
    let relative = text
        .strip_suffix(['s', 'm', 'h', 'd'])
        .and_then(|n| n.parse::<i64>().ok())
        .map(|n| {
            let unit = match text.as_bytes()[text.len() - 1] {
                b's' => 1,
                b'm' => 60,
                b'h' => 3600,
                _ => 86_400,
            };
            now - n.saturating_mul(unit)
        });
    let at = match relative {
        Some(at) => at,
        None => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .map_err(|_| {
                format!("`{text}` is neither a duration (1h, 30m, 3d) nor an RFC 3339 time")
            })?,
    };
    if at < now - MAX_AGE_SECS {
        return Err("Stripe keeps events for 30 days: --since cannot go further back".into());
    }
    if at > now {
        return Err("--since is in the future: there is nothing to replay yet".into());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = 1_800_000_000;
        assert_eq!(parse_since("1h", now), Ok(now - 3600));
        assert_eq!(parse_since("30m", now), Ok(now - 1800));
        assert_eq!(parse_since("3d", now), Ok(now - 3 * 86_400));
        assert_eq!(parse_since("2027-01-15T06:40:00Z", now), Ok(now - 4800));
        assert_eq!(
            parse_since("2027-01-15T08:40:00+01:00", now),
            Ok(now - 1200)
        );
        assert!(parse_since("31d", now).is_err());
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("-1h", now).is_err());
        assert!(
            parse_since("2027-02-01T00:00:00Z", now).is_err(),
            "in the future"
        );
    }
}
