//! The sandbox driven from outside over HTTP: the API as a Stripe client sees it, the payment
//! flows and the exact signed webhooks each produces, delivery retries and chaos, and the official
//! Stripe SDK pointed at it.

mod api;
mod delivery;
mod flows;
mod limits_errors;
mod memory;
mod official_sdk;
mod refunds_capture;
mod support;
mod webhook_endpoints;
