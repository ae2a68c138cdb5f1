//! The running application's shared state: configuration, store and metrics, handed to every
//! handler and worker.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;
use crate::telemetry;

/// Everything a request handler or a background job needs. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl App {
    pub fn new(config: Config, store: Store) -> App {
        App {
            config: Arc::new(config),
            store,
            metrics: telemetry::metrics_handle(),
        }
    }
}
