//! The `caisse` binary driven from outside: exit codes, messages, what it prints and logs.

mod admin;
mod browser;
mod cdp;
mod config_errors;
mod config_table;
mod operations;
mod processes;
mod recovery;
mod secrets;
mod support;
