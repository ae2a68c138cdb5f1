//! The `caisse` binary driven from outside: exit codes, messages, what it prints and logs.

mod admin;
mod browser;
mod bursts;
mod cdp;
mod config_errors;
mod config_table;
mod deploy_unit;
mod env_example;
mod operations;
mod operators;
mod orders;
mod outbox_kills;
mod processes;
mod readme_postgres;
mod readme_typescript;
mod readme_webhooks;
mod recovery;
mod secrets;
mod stripe_setup;
mod support;
