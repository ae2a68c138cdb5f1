//! The hook that writes every exchange with Stripe into `stripe_requests` (DESIGN.md 1.6).

use std::future::Future;
use std::pin::Pin;

use caisse_stripe::{RequestHook, RequestRecord};

use crate::store::{unix_now, Store};

pub struct StripeLog {
    pub store: Store,
}

impl RequestHook for StripeLog {
    fn record(&self, record: RequestRecord) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            metrics::counter!(
                "caisse_stripe_requests_total",
                "method" => record.method.clone(),
                "status" => record.status.map(|s| s.to_string()).unwrap_or_else(|| "none".into())
            )
            .increment(1);
            // A lost trace must not fail the payment it traces: log it and go on.
            if let Err(e) = self.store.record_stripe_request(&record, unix_now()).await {
                tracing::warn!(error = %e, path = %record.path, "could not record a Stripe request");
            }
        })
    }
}
