//! `caisse dev` in headless Chromium, as a newcomer meets it, for a shop that ships to France and
//! Belgium: buy in the storefront with an address and the demo catalog's shipping rate (a
//! declined card, then 4242), see the order number and the shipping line, give up on a second
//! checkout, then sign in to the dashboard with the printed password, find the order with its
//! PaymentIntent and events, see the declined payment's alert resolved by the payment after all,
//! mark the order shipped and refund it. A wrong password sees nothing,
//! a form without its CSRF token is refused, and no page logs a JavaScript error.
//!
//! Needs Chromium (Debian's `chromium`). Without it the test says SKIPPED loudly, unless
//! `CAISSE_TEST_BROWSER` is set (as `.ci/run` does): then a missing browser is a failure.
//! Screenshots of every step are kept in `CAISSE_SCREENSHOT_DIR` (default: the test's target
//! tmp dir, `screenshots/`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::cdp::{chromium, Browser};
use crate::support::{caisse, free_port_pair, Running};

/// `caisse dev` on a free port; the printed dashboard password.
fn start_dev(dir: &std::path::Path) -> (Running, String, String) {
    let port = free_port_pair();
    let mut child = caisse(
        dir,
        &["dev", "--listen", &format!("127.0.0.1:{port}")],
        &[("CAISSE_SHIPPING_COUNTRIES", "FR,BE")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start caisse dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    // Reads every line, so that the pipe never fills; hands over the password line.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("password for this run: ").nth(1) {
                let _ = tx.send(rest.trim_end_matches(')').to_string());
            }
        }
    });
    let password = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("caisse dev printed no dashboard password");
    (Running(child), format!("http://127.0.0.1:{port}"), password)
}

#[test]
fn a_newcomer_buys_in_the_storefront_and_finds_the_order_in_the_dashboard() {
    let Some(chromium) = chromium() else {
        if std::env::var_os("CAISSE_TEST_BROWSER").is_some() {
            panic!("CAISSE_TEST_BROWSER is set but no Chromium was found (apt-get install chromium, or set CAISSE_CHROMIUM)");
        }
        eprintln!("\n*** SKIPPED: no Chromium on this machine; the browser test did not run (apt-get install chromium) ***\n");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_caisse, base, password) = start_dev(dir.path());
    let shots = std::env::var_os("CAISSE_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    let mut b = Browser::launch(&chromium, shots.clone());

    // The storefront: a product in the cart, Pay.
    b.goto(&format!("{base}/"));
    b.wait_until(
        "document.querySelector('[data-testid=\"add-tee-classic\"]:not([disabled])')",
        "the catalog",
    );
    b.click("[data-testid=\"add-tee-classic\"]");
    b.wait_until(
        "document.querySelector('[data-testid=\"cart-count\"]').textContent.trim() === '1'",
        "the cart to count 1",
    );
    b.fill("input[name=email]", "ada@example.com");
    b.screenshot("storefront-cart");
    b.click("[data-testid=\"checkout\"]");
    b.wait_until(
        "document.querySelector('input[name=card]')",
        "the hosted payment page",
    );
    b.screenshot("hosted-payment-page");
    // The page asks where to ship, and offers the catalog's rate.
    assert!(b.text().contains("Colissimo"), "{}", b.text());
    let address = |b: &mut Browser| {
        for (field, value) in [
            ("shipping_name", "Ada Lovelace"),
            ("shipping_line1", "12 rue de la Paix"),
            ("shipping_postal_code", "75002"),
            ("shipping_city", "Paris"),
            ("shipping_country", "FR"),
        ] {
            b.fill(&format!("input[name={field}]"), value);
        }
    };

    // A declined card first: the page says so and the session stays open.
    address(&mut b);
    b.fill("input[name=card]", "4000 0000 0000 0002");
    b.click("form:has(input[name=card]) button[type=submit]");
    b.wait_until(
        "document.querySelector('input[name=card]') && document.querySelector('[role=alert]')",
        "the decline",
    );
    b.screenshot("card-declined");
    // A customer reads the decline before trying another card; by then caisse has had its
    // webhook. (The sandbox delivers out of order, as Stripe: a decline that came after the
    // success would rightly raise no alert, and the dashboard step below looks for one.)
    b.wait_until(
        "(() => { const x = new XMLHttpRequest(); x.open('GET', '/_sandbox/deliveries', false); x.send(); \
         return JSON.parse(x.responseText).data.some(a => a.event_type === 'payment_intent.payment_failed' && a.status === 200); })()",
        "caisse to answer the decline's webhook",
    );

    // Then 4242: back to the shop, which polls until the order is confirmed.
    address(&mut b);
    b.fill("input[name=card]", "4242 4242 4242 4242");
    b.click("form:has(input[name=card]) button[type=submit]");
    let number = b.wait_until(
        "(document.querySelector('[data-testid=\"order-number\"]') || {}).textContent",
        "the order number",
    );
    let number = number.as_str().unwrap().trim().to_string();
    assert!(number.parse::<i64>().is_ok(), "order number {number:?}");
    assert!(b.text().contains(&format!("#{number}")), "{}", b.text());
    let shipping = b.wait_until(
        "(document.querySelector('[data-testid=\"shipping-line\"]') || {}).textContent",
        "the shipping line",
    );
    let shipping = shipping.as_str().unwrap_or_default();
    assert!(
        shipping.contains("Colissimo") && shipping.contains("12 rue de la Paix"),
        "{shipping}"
    );
    b.screenshot("order-confirmed");

    // A second checkout abandoned on the hosted page: the cancel page releases the hold.
    b.goto(&format!("{base}/"));
    b.wait_until(
        "document.querySelector('[data-testid=\"add-mug-enamel\"]:not([disabled])')",
        "the catalog again",
    );
    b.click("[data-testid=\"add-mug-enamel\"]");
    b.click("[data-testid=\"checkout\"]");
    b.wait_until(
        "document.querySelector('input[name=card]')",
        "the hosted page again",
    );
    b.click("a[href*='checkout=cancelled']");
    b.wait_until(
        "/cancelled/i.test((document.querySelector('[data-testid=\"order-status\"]') || {}).textContent || '')",
        "the cancel page",
    );
    b.screenshot("checkout-cancelled");

    // The dashboard: a wrong password sees nothing.
    b.goto(&format!("{base}/admin"));
    b.wait_until("location.pathname === '/admin/login'", "the sign-in page");
    b.fill("input[name=password]", "not-the-password");
    b.click("[data-testid=\"sign-in\"]");
    b.wait_until(
        "(document.querySelector('[data-testid=\"error\"]') || {}).textContent",
        "the refusal",
    );
    let refused = b.text();
    assert!(refused.contains("Wrong password"), "{refused}");
    assert!(!refused.contains("Orders") && !refused.contains(&format!("#{number}")));
    b.screenshot("sign-in-refused");
    b.goto(&format!("{base}/admin/orders"));
    b.wait_until(
        "location.pathname === '/admin/login'",
        "no way around the sign-in",
    );

    // The printed password opens it.
    b.fill("input[name=password]", &password);
    b.click("[data-testid=\"sign-in\"]");
    b.wait_until(
        "location.pathname === '/admin' && document.querySelector('[data-testid=\"open-alerts\"]')",
        "the overview",
    );
    b.screenshot("dashboard-overview");

    // The order, found from the list, with its PaymentIntent and the events that made it.
    b.goto(&format!("{base}/admin/orders"));
    b.click(&format!("a[href='/admin/orders/{number}']"));
    let pi = b.wait_until(
        "(document.querySelector('[data-testid=\"payment-intent\"]') || {}).textContent",
        "the order page",
    );
    let pi = pi.as_str().unwrap().trim().to_string();
    assert!(pi.starts_with("pi_"), "{pi}");
    let events = b.eval("document.querySelectorAll('[data-testid=\"order-event\"] a').length");
    assert!(events.as_u64().unwrap_or(0) >= 1, "{}", b.text());
    assert!(
        b.text().contains("order_confirmation"),
        "the order lists its confirmation email: {}",
        b.text()
    );
    b.screenshot("order-detail");

    // Shipped from the dashboard: carrier and tracking code.
    assert!(b.text().contains("12 rue de la Paix"), "{}", b.text());
    b.fill("[data-testid=\"ship-carrier\"]", "Colissimo");
    b.fill("[data-testid=\"ship-tracking\"]", "6A123");
    b.click("[data-testid=\"mark-shipped\"]");
    b.wait_until(
        "(document.querySelector('[data-testid=\"fulfilment\"]') || {}).textContent === 'shipped'",
        "the order marked shipped",
    );
    assert!(b.text().contains("Colissimo 6A123"), "{}", b.text());
    b.screenshot("order-shipped");
    b.goto(&format!("{base}/admin/orders?q={pi}"));
    let rows = b.eval("document.querySelectorAll('[data-testid=\"order-row\"]').length");
    assert_eq!(rows, json!(1), "searching by PaymentIntent: {}", b.text());
    b.click(&format!("a[href='/admin/orders/{number}']"));
    b.wait_until(
        "document.querySelector('[data-testid=\"order-event\"] a')",
        "the events",
    );
    b.click("[data-testid=\"order-event\"] a");
    b.wait_until(
        "(document.querySelector('[data-testid=\"payload\"]') || {}).textContent",
        "the payload",
    );
    assert!(
        b.text().contains(&pi),
        "the event's payload names the PaymentIntent"
    );
    b.screenshot("webhook-event");

    // The declined card's alert resolved itself when the second card paid: nothing to look at,
    // and it stays in the history.
    b.goto(&format!("{base}/admin/alerts"));
    let open = b.eval("document.querySelectorAll('[data-testid=\"alert-row\"] button').length");
    assert_eq!(open.as_u64(), Some(0), "no open alert: {}", b.text());
    b.goto(&format!("{base}/admin/alerts?all=1"));
    b.wait_until(
        "document.body.textContent.includes('acknowledged by system:fulfilment')",
        "the declined payment's alert, resolved",
    );
    b.screenshot("alert-resolved");

    // Forms without the session's CSRF token do nothing.
    for body in ["", "csrf=forged"] {
        let status = b.eval(&format!(
            "fetch('/admin/orders/{number}/refund', {{ method: 'POST', \
             headers: {{ 'content-type': 'application/x-www-form-urlencoded' }}, body: '{body}' }}).then(r => r.status)"
        ));
        assert_eq!(status, json!(403), "a POST with body {body:?}");
    }

    // A full refund through Stripe (the sandbox), shown once charge.refunded arrives.
    b.goto(&format!("{base}/admin/orders/{number}"));
    b.click("[data-testid=\"refund\"]");
    // The confirmation step: the amount as it will be refunded, and Stripe's reason.
    b.wait_until(
        "document.querySelector('[data-testid=\"refund-confirm\"]') !== null",
        "the refund's confirmation step",
    );
    b.eval(
        "document.querySelector('[data-testid=\"refund-reason\"]').value = 'requested_by_customer'",
    );
    b.click("[data-testid=\"refund-confirm\"]");
    b.wait_until(
        "(document.querySelector('[data-testid=\"notice\"]') || {}).textContent",
        "the refund request",
    );
    let total = b.eval("document.querySelector('.facts dd:nth-of-type(4)').textContent");
    let shown = b.wait_until(
        &format!(
            "(async () => {{ const t = await (await fetch('/admin/orders/{number}')).text(); \
             const d = new DOMParser().parseFromString(t, 'text/html'); \
             return d.querySelector('[data-testid=\"refunded\"]').textContent === {total} && d.querySelector('.status.refunded') !== null; }})()",
            total = total
        ),
        "the refund to be recorded",
    );
    assert_eq!(shown, json!(true));
    b.goto(&format!("{base}/admin/orders/{number}"));
    b.screenshot("order-refunded");

    // On a phone (390 × 844): no page scrolls sideways.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true }),
    );
    let order_page = format!("/admin/orders/{number}");
    for (path, name) in [
        ("/admin", "phone-overview"),
        ("/admin/orders", "phone-orders"),
        (order_page.as_str(), "phone-order"),
        ("/admin/products", "phone-products"),
        ("/admin/events", "phone-events"),
        ("/admin/audit", "phone-audit"),
        ("/admin/alerts?all=1", "phone-alerts"),
        ("/", "phone-storefront"),
    ] {
        b.goto(&format!("{base}{path}"));
        b.settle();
        let fits = b.eval("document.documentElement.scrollWidth <= window.innerWidth");
        b.screenshot(name);
        assert_eq!(
            fits,
            json!(true),
            "{path} scrolls sideways at 390 px: {} > {}",
            b.eval("document.documentElement.scrollWidth"),
            b.eval("window.innerWidth")
        );
    }

    b.settle();
    assert!(b.errors.is_empty(), "JavaScript errors: {:#?}", b.errors);
    eprintln!("screenshots in {}", shots.display());
}
