//! The background jobs every server runs beside its HTTP listener: the hold reconciler, the outbox
//! worker, the stock settle and retention. Each is safe with any number of instances running it at once.

use tokio::task::JoinHandle;

use crate::app::App;

/// Starts the jobs; abort the handles to stop them.
pub fn spawn(app: &App) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(crate::holds::reconciler::run(app.clone())),
        tokio::spawn(crate::outbox::run(app.clone())),
        tokio::spawn(crate::stock_settle::run(app.clone())),
        tokio::spawn(crate::retention::run(app.clone())),
    ]
}
