//! The `caisse` binary driven from outside: exit codes, messages, what it prints and logs.

mod admin;
mod browser;
mod cdp;
mod config_errors;
mod config_table;
mod processes;
mod readme_postgres;
mod recovery;
mod secrets;
mod stripe_setup;
mod support;
