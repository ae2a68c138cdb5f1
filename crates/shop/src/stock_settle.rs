//! The settle worker: every second, the units of paid holds are taken out of their products'
//! `stock_on_hand` and `stock_reserved` ([`crate::store::Tx::settle_sales`], which says why a
//! payment does not do it itself). Any number of instances may run it at once: a hold is settled
//! by the conditional update that clears its mark, once.

use std::time::Duration;

use crate::app::App;

/// How often a server settles. Reads take unsettled sales off, so this bounds only how many a
/// read has to count.
const INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(app: App) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = app.store.settle_all_sales(crate::store::unix_now()).await {
            tracing::warn!(error = %e, "stock settle failed; retried in a second");
        }
    }
}
