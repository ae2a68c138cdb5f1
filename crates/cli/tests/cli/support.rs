//! Runs the real `caisse` binary with a clean environment.

use std::process::{Command, Output};

pub const SK: &str = "sk_test_CLISECRETKEYVALUE0123456789";
pub const PK: &str = "pk_test_CLIPUBLISHABLE0123456789";
pub const WH: &str = "whsec_CLI_WEBHOOK_SECRET_VALUE_0123456789";

/// `caisse` with only `vars` set (plus PATH), in `dir`.
pub fn caisse(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caisse"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

pub fn run(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    caisse(dir, args, vars).output().expect("run caisse")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
