//! `caisse doctor`: serve's configuration checked against the world, one line per check (`ok` or
//! `FAIL` and why), exit 1 when any fails. The checks live in the shop (`caisse_shop::doctor`).

use std::path::Path;

use caisse_shop::config::Mode;

use super::{init_logs, load, Result};

pub async fn doctor(file: Option<&Path>) -> Result<()> {
    let config = load(file, Mode::Serve, |_| {}, None)?;
    init_logs(config.log_format);
    let checks = caisse_shop::doctor::run(&config, caisse_shop::store::unix_now()).await;
    let mut failed = Vec::new();
    for check in &checks {
        match &check.outcome {
            Ok(why) => say!("ok    {:<17} {why}", check.name),
            Err(why) => {
                say!("FAIL  {:<17} {why}", check.name);
                failed.push(check.name);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{} check(s) failed: {}", failed.len(), failed.join(", ")).into())
    }
}
