//! Where `caisse sandbox` and `caisse webhook sign` take their webhook signing secrets from: the
//! command line (which `ps` and shell history show), a file (`--webhook-secret-file`), or the
//! `STRIPE_WEBHOOK_SECRET` variable that `serve` reads (comma-separated, for a rotation). Exactly
//! one of the first two, else the variable.

use std::path::{Path, PathBuf};

use caisse_shop::config::{ConfigError, WEBHOOK_SECRET};

/// The flag that names a file of secrets, shared by both commands.
#[derive(clap::Args)]
pub struct SecretFile {
    /// Read the signing secrets from this file (one per line, or comma-separated) instead of an
    /// argument, which `ps` shows. Without either, STRIPE_WEBHOOK_SECRET is read.
    #[arg(long = "webhook-secret-file")]
    pub path: Option<PathBuf>,
}

/// The secrets given `given` on the command line as `flag`, or `file`, or the environment.
pub fn resolve(
    flag: &str,
    given: Vec<String>,
    file: Option<&Path>,
) -> Result<Vec<String>, ConfigError> {
    let problem = |variable: &str, problem: String| ConfigError {
        variable: variable.into(),
        problem,
    };
    let secrets = match (given.is_empty(), file) {
        (false, Some(_)) => {
            return Err(problem(
                flag,
                "give the secrets once: as arguments or --webhook-secret-file, not both".into(),
            ))
        }
        (false, None) => given,
        (true, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                problem(
                    "--webhook-secret-file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            split(&text)
        }
        (true, None) => split(&std::env::var(WEBHOOK_SECRET).unwrap_or_default()),
    };
    if secrets.is_empty() {
        return Err(problem(
            flag,
            format!("no signing secret: give {flag}, --webhook-secret-file or {WEBHOOK_SECRET}"),
        ));
    }
    Ok(secrets)
}

fn split(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
