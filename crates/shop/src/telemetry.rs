//! Metrics: one Prometheus recorder per process, installed on first use, so that tests running
//! several servers in one process share it instead of fighting over the global slot.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
