//! The `caisse` binary driven from outside: exit codes, messages, what it prints and logs.

mod admin;
mod browser;
mod cdp;
mod config_errors;
mod config_table;
mod deploy_unit;
mod env_example;
mod orders;
mod processes;
mod readme_typescript;
mod recovery;
mod secrets;
mod support;
