//! `caisse orders ship | deliver | export`: fulfilment from the command line, and the orders as
//! CSV for accounting.

use std::path::Path;

use anyhow::Context;
use caisse_shop::config::{ConfigError, Mode};

use super::{open_store, tool_app, tool_config, Failure, Result};
use caisse_shop::store::Missing;

/// `caisse orders ship`: marks the order shipped and sends its shipping email now (one outbox
/// pass, which may send other due messages too — a refund to Stripe — so it reads the server's
/// configuration, keys included; a running server's worker would send it too, never twice).
pub async fn orders_ship(
    file: Option<&Path>,
    number: i64,
    shipment: &caisse_shop::orders::Shipment<'_>,
) -> Result<()> {
    let app = tool_app(file).await?;
    let now = caisse_shop::store::unix_now();
    let notify = !app.mailer.is_off();
    let order =
        caisse_shop::orders::ship(&app.store, number, shipment, notify, "cli:orders-ship", now)
            .await
            .map_err(anyhow::Error::from)?;
    say!(
        "order #{} marked shipped: {} {}",
        order.number,
        shipment.carrier,
        shipment.tracking_code
    );
    if notify {
        let r = caisse_shop::outbox::run_once(&app, caisse_shop::store::unix_now())
            .await
            .map_err(anyhow::Error::from)?;
        say!(
            "shipping email: {}",
            if r.sent > 0 {
                "sent"
            } else {
                "queued (the server's outbox worker retries it)"
            }
        );
    } else {
        say!("mail is off (no SMTP_URL or CAISSE_MAIL_DIR): no shipping email");
    }
    Ok(())
}

/// `caisse orders deliver`: the database is all it needs.
pub async fn orders_deliver(file: Option<&Path>, number: i64) -> Result<()> {
    let config = tool_config(file, Mode::Tool)?;
    let store = open_store(&config, Missing::Refuse).await?;
    let order = caisse_shop::orders::deliver(
        &store,
        number,
        "cli:orders-deliver",
        caisse_shop::store::unix_now(),
    )
    .await
    .map_err(anyhow::Error::from)?;
    say!("order #{} marked delivered", order.number);
    Ok(())
}

/// `caisse orders export`: CSV of the orders, streamed to FILE (stdout with `-`).
pub async fn orders_export(
    file: Option<&Path>,
    from: Option<&str>,
    to: Option<&str>,
    status: Option<&str>,
    path: &Path,
) -> Result<()> {
    use caisse_shop::orders::export;
    let problem = |variable: &str, problem: String| {
        Failure::Config(vec![ConfigError {
            variable: variable.into(),
            problem,
        }])
    };
    let config = tool_config(file, Mode::Tool)?;
    // Days are the shop's (`CAISSE_TIME_ZONE`), as the dashboard shows them.
    let zone = &config.time_zone;
    let asked = export::Asked {
        from,
        to,
        status,
        fulfilment: None,
    };
    let filter =
        export::filter(asked, zone).map_err(|(part, why)| problem(&format!("--{part}"), why))?;
    let store = open_store(&config, Missing::Refuse).await?;
    let mut out: Box<dyn std::io::Write> = if path == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ))
    };
    let mut failed = None;
    let rows = export::export(&store, &filter, |chunk| {
        let written = out.write_all(&chunk);
        let ok = written.is_ok();
        failed = written.err();
        std::future::ready(ok)
    })
    .await
    .map_err(anyhow::Error::from)?;
    if let Some(e) = failed {
        return Err(anyhow::Error::from(e)
            .context("cannot write the export")
            .into());
    }
    out.flush().context("cannot write the export")?;
    if path != Path::new("-") {
        say!("{rows} orders written to {}", path.display());
    }
    Ok(())
}
