//! The dashboard over HTTP: no hash, no dashboard; sign-in, its rate limit and its cookie; CSRF
//! on every form; the actions and their audit; keyset pages.

use caisse_shop::config;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::support::{cart, raw, scalar, wait_for, TestApp, LOOSE};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn with_dashboard() -> TestApp {
    let hash = caisse_shop::admin::hash_password(PASSWORD).unwrap();
    let mut extra = LOOSE.to_vec();
    extra.push((config::ADMIN_PASSWORD_HASH, &hash));
    TestApp::spawn_with(&extra).await
}

/// A browser that does not follow redirects, so that each answer can be looked at.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.to_string())
}

/// The value of `<input name="{name}" value="…">` in a page.
pub(crate) fn field(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The sign-in form's token and its cookie.
pub(crate) async fn login_form(app: &TestApp, c: &reqwest::Client) -> (String, String) {
    let r = c.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set = cookie_value(r.headers(), "caisse_admin_login").expect("a login cookie");
    let cookie = set.split(';').next().unwrap().to_string();
    let html = r.text().await.unwrap();
    (field(&html, "csrf"), cookie)
}

async fn try_password(app: &TestApp, c: &reqwest::Client, password: &str) -> reqwest::Response {
    let (csrf, cookie) = login_form(app, c).await;
    c.post(app.url("/admin/login"))
        .header("cookie", cookie)
        .form(&[("csrf", csrf.as_str()), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// A signed-in session: its cookie and its CSRF token.
pub(crate) async fn sign_in(app: &TestApp) -> (String, String) {
    let c = client();
    let r = try_password(app, &c, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let session = cookie_value(r.headers(), "caisse_admin").expect("a session cookie");
    let cookie = session.split(';').next().unwrap().to_string();
    let page = c
        .get(app.url("/admin/alerts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    (cookie, field(&html, "csrf"))
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn raise_alert(app: &TestApp, key: &str) -> i64 {
    raw(
        &app.store,
        &format!(
            "INSERT INTO alerts (kind, severity, message, dedup_key, created_at) \
             VALUES ('payment_failed', 'warning', 'A card was declined', '{key}', 1)"
        ),
    )
    .await
    .unwrap();
    scalar(
        &app.store,
        &format!("SELECT id FROM alerts WHERE dedup_key = '{key}'"),
    )
    .await
}

#[tokio::test]
async fn without_a_password_hash_there_is_no_dashboard() {
    let app = TestApp::spawn().await;
    for path in [
        "/admin",
        "/admin/login",
        "/admin/orders",
        "/admin/assets/admin.css",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let r = client()
        .post(app.url("/admin/login"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_page_without_a_session_sends_to_sign_in_and_a_wrong_password_gets_nothing() {
    let app = with_dashboard().await;
    let c = client();
    for path in ["/admin", "/admin/orders", "/admin/events", "/admin/audit"] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()[LOCATION], "/admin/login");
    }
    // A forged session cookie is no session.
    let r = c
        .get(app.url("/admin/orders"))
        .header("cookie", "caisse_admin=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let r = try_password(&app, &c, "hunter2").await;
    assert_eq!(r.status(), 401);
    assert!(cookie_value(r.headers(), "caisse_admin").is_none());
    assert!(r.text().await.unwrap().contains("Wrong password"));

    // The sign-in form only counts with its own token (double submit): no cross-site sign-in.
    let r = c
        .post(app.url("/admin/login"))
        .form(&[("csrf", "x"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(cookie_value(r.headers(), "caisse_admin").is_none());
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM admin_sessions").await,
        0
    );
}

#[tokio::test]
async fn sign_in_is_rate_limited_before_the_password_is_checked() {
    let app = with_dashboard().await;
    let c = client();
    for _ in 0..5 {
        assert_eq!(try_password(&app, &c, "wrong").await.status(), 401);
    }
    // The sixth try is refused even with the right password: guessing costs time, not CPU.
    let r = try_password(&app, &c, PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(cookie_value(r.headers(), "caisse_admin").is_none());
}

#[tokio::test]
async fn a_session_is_a_strict_http_only_cookie_kept_hashed_and_signing_out_ends_it() {
    let app = with_dashboard().await;
    let c = client();
    let r = try_password(&app, &c, PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/admin");
    let set = cookie_value(r.headers(), "caisse_admin").unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=43200",
    ] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "http: no Secure flag ({set})");
    let token = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("caisse_admin=");
    let stored = scalar(
        &app.store,
        &format!(
            "SELECT COUNT(*) FROM admin_sessions WHERE token_hash = '{}'",
            caisse_shop::admin::token_hash(token)
        ),
    )
    .await;
    assert_eq!(stored, 1, "the database keeps the token's hash");
    assert_eq!(
        scalar(
            &app.store,
            &format!("SELECT COUNT(*) FROM admin_sessions WHERE token_hash = '{token}'")
        )
        .await,
        0
    );
    let cookie = format!("caisse_admin={token}");
    let page = c
        .get(app.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let csrf = field(&page.text().await.unwrap(), "csrf");

    let r = post_form(&app, "/admin/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let r = c
        .get(app.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the cookie no longer opens anything");
    let audited = scalar(
        &app.store,
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin' AND action IN ('admin.signed_in', 'admin.signed_out')",
    )
    .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing_and_with_it_the_action_is_audited() {
    let app = with_dashboard().await;
    let id = raise_alert(&app, "declined-1").await;
    let (cookie, csrf) = sign_in(&app).await;
    let path = format!("/admin/alerts/{id}/ack");
    for fields in [vec![], vec![("csrf", "forged")]] {
        let r = post_form(&app, &path, &cookie, &fields).await;
        assert_eq!(r.status(), 403);
    }
    // Another session's token is not this one's.
    let (_, other_csrf) = sign_in(&app).await;
    let r = post_form(&app, &path, &cookie, &[("csrf", &other_csrf)]).await;
    assert_eq!(r.status(), 403);
    let open = format!("SELECT COUNT(*) FROM alerts WHERE id = {id} AND acknowledged_at IS NULL");
    assert_eq!(scalar(&app.store, &open).await, 1);

    let r = post_form(&app, &path, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(scalar(&app.store, &open).await, 0);
    let audited = scalar(
        &app.store,
        &format!(
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin' AND action = 'alert.acknowledged' \
             AND entity_type = 'alert' AND entity_id = '{id}'"
        ),
    )
    .await;
    assert_eq!(audited, 1);
    // Twice is refused, and not audited twice.
    let r = post_form(&app, &path, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn a_refund_from_the_dashboard_goes_through_stripe_once_per_form_and_is_recorded() {
    let app = with_dashboard().await;
    let number = app
        .paid_order(
            json!({"items": [{"product_id": "tee-classic", "quantity": 2}], "email": "ada@example.com"}),
        )
        .await;
    let (cookie, csrf) = sign_in(&app).await;

    // The order page shows it with its PaymentIntent and its calls to Stripe.
    let page = client()
        .get(app.url(&format!("/admin/orders/{number}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("pi_"), "{page}");
    assert!(page.contains("/v1/checkout/sessions"), "{page}");
    let token = field(&page, "token");

    let path = format!("/admin/orders/{number}/refund");
    let bad = post_form(
        &app,
        &path,
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "12.345")],
    )
    .await;
    assert_eq!(bad.status(), 422, "three decimals in EUR");
    let too_much = post_form(
        &app,
        &path,
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "500")],
    )
    .await;
    assert_eq!(too_much.status(), 422);
    // The same form sent twice (a double click): one refund at Stripe.
    for _ in 0..2 {
        let r = post_form(
            &app,
            &path,
            &cookie,
            &[("csrf", &csrf), ("token", &token), ("amount", "10")],
        )
        .await;
        assert_eq!(r.status(), 303);
    }
    let refunded = format!(
        "SELECT amount_refunded FROM payments WHERE order_id = (SELECT id FROM orders WHERE number = {number})"
    );
    let store = app.store.clone();
    wait_for(10, "charge.refunded to be recorded", || {
        let (store, sql) = (store.clone(), refunded.clone());
        async move { (scalar(&store, &sql).await == 1000).then_some(()) }
    })
    .await;
    let events = app.stripe_get("/v1/events?type=charge.refunded").await;
    assert_eq!(
        events["data"].as_array().map(Vec::len),
        Some(1),
        "one refund at Stripe: {events}"
    );
    app.app.stripe_log.flush().await;
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(DISTINCT idempotency_key) FROM stripe_requests WHERE path = '/v1/refunds'"
        )
        .await,
        1
    );
    let audited = scalar(
        &app.store,
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin' AND action = 'refund.requested'",
    )
    .await;
    assert_eq!(audited, 1, "one refund, audited once");
    // The same form with another amount is not a second refund, and says so.
    let changed = post_form(
        &app,
        &path,
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "5")],
    )
    .await;
    assert_eq!(changed.status(), 422);
    assert!(changed
        .text()
        .await
        .unwrap()
        .contains("reload the order page"));
    // Only a token the dashboard made names a refund: not any 43 characters, not one for
    // another order.
    let nonce_only = token.split('.').next().unwrap().to_string();
    let other_mac = format!("{}.{}", "b".repeat(43), token.split('.').nth(1).unwrap());
    for forged in [
        "",
        "x",
        &"a".repeat(5000),
        &"a".repeat(43),
        &nonce_only,
        &other_mac,
    ] {
        let r = post_form(
            &app,
            &path,
            &cookie,
            &[("csrf", &csrf), ("token", forged), ("amount", "1")],
        )
        .await;
        assert_eq!(r.status(), 422, "token {forged:.10}");
    }
    let r = post_form(
        &app,
        "/admin/orders/abc/refund",
        &cookie,
        &[("csrf", &csrf), ("token", &token)],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // The Stripe request carries the order as its subject, so the order page lists it.
    app.app.stripe_log.flush().await;
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM stripe_requests WHERE path = '/v1/refunds' \
             AND subject = (SELECT id FROM orders)"
        )
        .await,
        3,
        "the form twice, then with another amount"
    );
}

#[tokio::test]
async fn every_list_pages_by_keyset_and_filters() {
    let app = with_dashboard().await;
    for i in 0..60 {
        raw(
            &app.store,
            &format!(
                "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, message) \
                 VALUES ({}, 'system:test', 'test.row', 'thing', 'id{}', 'row {i}')",
                1_700_000_000 + i,
                i % 2
            ),
        )
        .await
        .unwrap();
    }
    // A hold on the pages too: every list's row type must read its rows as the store writes them.
    let (status, held, _) = app.checkout(cart(&[("mug-enamel", 1)]), &[]).await;
    assert_eq!(status, 201, "{held}");
    let (cookie, _) = sign_in(&app).await;
    let get = |path: String| {
        let cookie = cookie.clone();
        let url = app.url(&path);
        async move {
            let r = client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let rows = |html: &str| html.matches("data-testid=\"audit-row\"").count();
    let first = get("/admin/audit?actor=system:test".into()).await;
    assert_eq!(rows(&first), 50);
    let next = first
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("before="))
        .expect("a next page link")
        .replace("&#38;", "&");
    let second = get(next).await;
    assert_eq!(rows(&second), 10);
    assert!(
        second.contains("row 0<"),
        "the oldest row is on the last page"
    );
    assert!(!second.contains("before="), "no page after the last");
    let filtered =
        get("/admin/audit?entity_type=thing&entity_id=id1&from=2023-11-14&to=2023-11-14".into())
            .await;
    assert_eq!(rows(&filtered), 30);
    for page in [
        "/admin",
        "/admin/orders?q=%23999",
        "/admin/orders?q=pi_nothing",
        "/admin/holds",
        "/admin/holds?status=active",
        "/admin/events?status=failed&type=payment_intent.succeeded",
        "/admin/stripe-requests",
        "/admin/alerts?all=1",
    ] {
        get(page.into()).await;
    }
    let holds = get("/admin/holds?status=active".into()).await;
    assert!(holds.contains(held["hold_id"].as_str().unwrap()), "{holds}");
}

#[tokio::test]
async fn the_storefront_origin_may_call_the_api_but_never_the_dashboard() {
    let hash = caisse_shop::admin::hash_password(PASSWORD).unwrap();
    let mut extra = LOOSE.to_vec();
    extra.push((config::ADMIN_PASSWORD_HASH, &hash));
    extra.push((config::CORS_ORIGINS, "http://shop.example"));
    let app = TestApp::spawn_with(&extra).await;
    let c = client();
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let api = c
        .get(app.url("/api/products"))
        .header("origin", "http://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&api).as_deref(), Some("http://shop.example"));
    let preflight = c
        .request(reqwest::Method::OPTIONS, app.url("/api/checkout"))
        .header("origin", "http://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&preflight).as_deref(), Some("http://shop.example"));
    for path in ["/admin/login", "/admin", "/admin/orders/1"] {
        let r = c
            .get(app.url(path))
            .header("origin", "http://shop.example")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed(&r), None, "{path}");
    }
    let preflight = c
        .request(reqwest::Method::OPTIONS, app.url("/admin/orders/1/refund"))
        .header("origin", "http://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&preflight), None);
    assert!(preflight
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}

/// A new password (a new hash, the instance restarted with it) ends the sessions signed in with
/// the old one; a session of the new one works.
#[tokio::test]
async fn sessions_signed_in_before_a_password_change_are_refused() {
    let before = with_dashboard().await;
    let (old_session, _) = sign_in(&before).await;
    let db = before._db.clone();
    before.stop().await;

    let new_hash = caisse_shop::admin::hash_password("a brand new passphrase").unwrap();
    let mut extra = LOOSE.to_vec();
    extra.push((config::ADMIN_PASSWORD_HASH, &new_hash));
    let after = TestApp::spawn_on(db, &extra).await;
    let page = client()
        .get(after.url("/admin/alerts"))
        .header("cookie", &old_session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303, "sent to sign in");
    assert_eq!(page.headers()[LOCATION], "/admin/login");
    let r = try_password(&after, &client(), "a brand new passphrase").await;
    assert_eq!(r.status(), 303);
    let session = cookie_value(r.headers(), "caisse_admin").unwrap();
    let cookie = session.split(';').next().unwrap().to_string();
    let page = client()
        .get(after.url("/admin/alerts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    after.stop().await;
}
