//! `caisse admin …`: the dashboard's password hash and its named operators — add one (the
//! password on standard input), remove one, list them, turn their second factor (TOTP) on or off.
//! Every change is audited as `cli:admin`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use caisse_shop::config::ConfigError;
use caisse_shop::domain::status::OperatorRole;
use caisse_shop::operators;
use caisse_shop::store::unix_now;

use super::{open_store, tool_config, Failure, Result};
use caisse_shop::config::Mode;
use caisse_shop::store::Missing;

/// Who the operators' changes made here are audited as.
const ACTOR: &str = "cli:admin";

/// The password: the one line of standard input (never an argument, which `ps` and shell history
/// keep), at least 12 characters.
fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (it will show as you type; or pipe it in): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    // A second line piped in would be silently ignored: refuse, so that a pasted block is not
    // half used. (At a terminal the first Enter ends the password; nothing more is awaited.)
    let mut rest = String::new();
    if !stdin.is_terminal() {
        let _ = stdin.lock().read_line(&mut rest);
    }
    if !rest.trim().is_empty() {
        return Err(anyhow::anyhow!(
            "one line only: the password is the first line of standard input, and more followed"
        )
        .into());
    }
    operators::check_password(&password)
        .map_err(|e| anyhow::anyhow!("{e} (read from standard input)"))?;
    Ok(password)
}

/// `caisse admin hash-password`: one line of standard input in, its argon2id PHC string out.
pub fn admin_hash_password(argument_given: bool) -> Result<()> {
    if argument_given {
        return Err(Failure::Config(vec![ConfigError {
            variable: "caisse admin hash-password".into(),
            problem: "takes no argument (one there is kept by ps and shell history); pipe the password on standard input".into(),
        }]));
    }
    let password = read_password()?;
    let hash = caisse_shop::admin::hash_password(&password).map_err(anyhow::Error::msg)?;
    say!("{hash}");
    Ok(())
}

/// `caisse admin add-user EMAIL --role owner|staff`, the password on standard input.
pub async fn admin_add_user(file: Option<&Path>, email: &str, role: OperatorRole) -> Result<()> {
    let password = read_password()?;
    let store = open_store(&tool_config(file, Mode::Tool)?, Missing::Create).await?;
    let email = operators::add(&store, email, role, password, ACTOR, unix_now())
        .await
        .map_err(anyhow::Error::from)?;
    say!("{email} can sign in to the dashboard as {role}");
    Ok(())
}

/// `caisse admin remove-user EMAIL`: their sessions end at once.
pub async fn admin_remove_user(file: Option<&Path>, email: &str) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    let store = open_store(&config, Missing::Refuse).await?;
    let hash_owner = config.admin_password_hash.is_some();
    let email = operators::remove(&store, email, hash_owner, ACTOR, unix_now())
        .await
        .map_err(anyhow::Error::from)?;
    say!("{email} removed; their sessions ended");
    Ok(())
}

/// `caisse admin list-users`: one line each, email, role and whether TOTP is on.
pub async fn admin_list_users(file: Option<&Path>) -> Result<()> {
    let store = open_store(&tool_config(file, Mode::Tool)?, Missing::Refuse).await?;
    let rows = store.operators().await.map_err(anyhow::Error::from)?;
    if rows.is_empty() {
        say!("no named operator (CAISSE_ADMIN_PASSWORD_HASH, when set, is the one owner)");
    }
    for u in rows {
        say!(
            "{}\t{}\t{}",
            u.email,
            u.role,
            if u.totp { "totp" } else { "password only" }
        );
    }
    Ok(())
}

/// `caisse admin totp EMAIL [--off]`: prints the `otpauth://` URI once (it holds the secret: add
/// it to an authenticator app, then clear the terminal).
pub async fn admin_totp(file: Option<&Path>, email: &str, off: bool) -> Result<()> {
    let store = open_store(&tool_config(file, Mode::Tool)?, Missing::Refuse).await?;
    if off {
        let email = operators::totp_off(&store, email, ACTOR, unix_now())
            .await
            .map_err(anyhow::Error::from)?;
        say!("{email} signs in with their password alone");
        return Ok(());
    }
    let uri = operators::totp_on(&store, email, ACTOR, unix_now())
        .await
        .map_err(anyhow::Error::from)?;
    eprintln!("Add this to the operator's authenticator app (it is shown once; any earlier one stops working); from now on the sign-in form asks for its 6-digit code:");
    say!("{uri}");
    Ok(())
}
