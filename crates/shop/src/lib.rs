//! caisse's shop: everything between a storefront's cart and a paid order.
//!
//! Data flows one way: HTTP → service → store, and webhook → inbox → fulfilment → store. The
//! [`domain`] module holds the rules as pure functions; [`store`] is the only code that speaks SQL.

pub mod admin;
pub mod app;
pub mod catalog;
pub mod checkout;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod email;
pub mod error;
pub mod failure_alarm;
pub mod finished_events;
pub mod holds;
pub mod http;
pub mod identity;
pub mod operators;
pub mod orders;
pub mod outbox;
pub mod password_checks;
pub mod products;
pub mod ratelimit;
pub mod replay;
pub mod retention;
pub mod secret;
pub mod signature_alarm;
pub mod stock_settle;
pub mod store;
pub mod stripe_log;
pub mod telemetry;
pub mod webhooks;
pub mod workers;

pub use app::App;
pub use config::Config;
pub use secret::Secret;
pub use store::Store;
