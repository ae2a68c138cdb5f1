//! The `caisse` binary driven from outside: exit codes, messages, what it prints and logs.

mod admin;
mod browser;
mod bursts;
mod cdp;
mod config_errors;
mod config_table;
mod outbox_kills;
mod processes;
mod recovery;
mod secrets;
mod support;
