//! The shop's integration tests: one binary, real servers on random ports, real databases.
//!
//! Every test gets its own database: a fresh SQLite file, or, when `CAISSE_TEST_POSTGRES_URL` is
//! set (as `.ci/run` does), a fresh PostgreSQL database created on that server. The same tests
//! thus run against both backends.

mod admin;
mod admin_currencies;
mod alert_grouping;
mod alert_notices;
mod backup;
mod bad_input;
mod cancel_limits;
mod catalog;
mod checkout;
mod disputes;
mod doctor;
mod email;
mod export;
mod finished_events;
mod foreign_intent;
mod fulfilment;
mod group_commit;
mod holds;
mod http_basics;
mod internal_failures;
mod key_races;
mod lifecycle;
mod networks;
mod openapi;
mod operators;
mod postgres_down;
mod postgres_tls;
mod products;
mod ratelimits;
mod readiness;
mod redis_outages;
mod replay_pages;
mod retention;
mod server_side;
mod shipping;
mod stock_settle;
mod store_constraints;
mod stripe_refusals;
mod stripe_trigger;
mod support;
mod unexpected_events;
mod unit_of_work;
mod webhook_bodies;
mod webhooks;
mod words_for_people;
