//! Issue 24's methods, payment errors, 3-D Secure and limits through Stripe's official Python SDK
//! (`sdk/check_limits_errors.py`): prices and products listed and retrieved, a session's metadata
//! updated, `last_payment_error` as Stripe gives it, 3-D Secure on the hosted page, 100 line
//! items, three-decimal currencies and the opt-in test-mode rate limit.

use std::path::Path;

use serde_json::{json, Value};

use crate::official_sdk::{run_sdk, venv};
use crate::support::fast_options;

#[tokio::test(flavor = "multi_thread")]
async fn methods_errors_3ds_and_limits_as_the_python_sdk_sees_them() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let limited = caisse_sandbox::start(caisse_sandbox::SandboxOptions {
        rate_limit: true,
        ..fast_options(None, Vec::new())
    })
    .await
    .unwrap();
    let (sandbox, s) = run_sdk(
        &python,
        "check_limits_errors.py",
        &[("RATE_LIMITED_API_BASE", Path::new(limited.url()))],
    )
    .await;
    std::fs::write("/tmp/i24b-summary.json", s.to_string()).unwrap();
    sandbox.stop().await.unwrap();
    limited.stop().await.unwrap();
}
