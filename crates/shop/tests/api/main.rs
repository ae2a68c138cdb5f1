//! The shop's integration tests: one binary, real servers on random ports, real databases.
//!
//! Every test gets its own database: a fresh SQLite file, or, when `CAISSE_TEST_POSTGRES_URL` is
//! set (as `.ci/run` does), a fresh PostgreSQL database created on that server. The same tests
//! thus run against both backends.

mod admin;
mod alert_grouping;
mod bad_input;
mod cancel_limits;
mod catalog;
mod checkout;
mod email;
mod foreign_intent;
mod group_commit;
mod holds;
mod http_basics;
mod lifecycle;
mod openapi;
mod ratelimits;
mod readiness;
mod store_constraints;
mod support;
mod unit_of_work;
mod webhooks;
