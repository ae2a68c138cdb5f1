//! Named operators over HTTP: signing in by email, owners and staff (a staff member's refund is
//! a 403 that reaches no Stripe), the audit trail naming each, the operators page, sessions that
//! end with their operator, and TOTP codes (required, checked, used once, rate limited).

use caisse_shop::config;
use caisse_shop::domain::status::OperatorRole;
use caisse_shop::domain::totp;
use caisse_shop::operators;
use caisse_shop::store::unix_now;
use reqwest::header::LOCATION;
use serde_json::json;

use crate::admin::{client, cookie_value, field, login_form, post_form, with_dashboard};
use crate::support::{scalar, text, wait_for, TestApp, LOOSE};

pub(crate) const OWNER: &str = "owner@shop.example";
pub(crate) const STAFF: &str = "staff@shop.example";
pub(crate) const OWNER_PW: &str = "owner's long passphrase";
pub(crate) const STAFF_PW: &str = "staff's long passphrase";

pub(crate) async fn add(app: &TestApp, email: &str, role: OperatorRole, password: &str) {
    operators::add(
        &app.store,
        email,
        role,
        password.into(),
        "cli:admin",
        unix_now(),
    )
    .await
    .unwrap();
}

/// One sign-in attempt with the form's fields, from the client network `from` (the app trusts
/// 127.0.0.1 as a proxy, so each test picks its own budget).
async fn attempt(app: &TestApp, from: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let c = client();
    let (csrf, cookie) = login_form(app, &c).await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    c.post(app.url("/admin/login"))
        .header("cookie", cookie)
        .header("x-forwarded-for", from)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The session cookie and CSRF token of a successful sign-in.
async fn session(app: &TestApp, r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 303, "signed in");
    let set = cookie_value(r.headers(), "caisse_admin").expect("a session cookie");
    let cookie = set.split(';').next().unwrap().to_string();
    let html = get(app, "/admin/alerts", &cookie)
        .await
        .text()
        .await
        .unwrap();
    (cookie, field(&html, "csrf"))
}

pub(crate) async fn sign_in_as(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let r = attempt(app, "10.9.0.1", &[("email", email), ("password", password)]).await;
    session(app, r).await
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn with_operators() -> TestApp {
    let mut extra = LOOSE.to_vec();
    extra.push((config::TRUSTED_PROXIES, "127.0.0.1"));
    let app = TestApp::spawn_with(&extra).await;
    add(&app, OWNER, OperatorRole::Owner, OWNER_PW).await;
    add(&app, STAFF, OperatorRole::Staff, STAFF_PW).await;
    app
}

async fn paid_order(app: &TestApp) -> i64 {
    app.paid_order(
        json!({"items": [{"product_id": "tee-classic", "quantity": 1}], "email": "ada@example.com"}),
    )
    .await
}

async fn refund_calls(app: &TestApp) -> i64 {
    scalar(
        &app.store,
        "SELECT COUNT(*) FROM stripe_requests WHERE path = '/v1/refunds'",
    )
    .await
}

/// Without CAISSE_ADMIN_PASSWORD_HASH, a named operator is enough for the dashboard to exist; a
/// staff member's refund is refused before anything happens, an owner's goes to Stripe, and the
/// audit trail names each.
#[tokio::test]
async fn a_staff_members_refund_is_refused_and_an_owners_goes_through_each_audited_by_name() {
    let app = with_operators().await;
    let number = paid_order(&app).await;
    let path = format!("/admin/orders/{number}/refund");

    let (staff, staff_csrf) = sign_in_as(&app, STAFF, STAFF_PW).await;
    let page = get(&app, &format!("/admin/orders/{number}"), &staff).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("A refund needs an owner"), "{html}");
    assert!(
        !html.contains("data-testid=\"refund-form\""),
        "no form for staff"
    );
    assert!(html.contains(STAFF), "the header names who is signed in");
    let refused = post_form(
        &app,
        &path,
        &staff,
        &[("csrf", &staff_csrf), ("token", "x.y"), ("amount", "")],
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("This needs an owner"));
    // Its confirmation step too: no page that says a refund will be made.
    let confirm = post_form(
        &app,
        &format!("{path}/confirm"),
        &staff,
        &[("csrf", &staff_csrf), ("token", "x.y"), ("amount", "1.00")],
    )
    .await;
    assert_eq!(confirm.status(), 403);
    // The staff member's pages and their other actions still work.
    assert_eq!(get(&app, "/admin/orders", &staff).await.status(), 200);
    assert_eq!(get(&app, "/admin/users", &staff).await.status(), 403);

    let (owner, owner_csrf) = sign_in_as(&app, OWNER, OWNER_PW).await;
    let html = get(&app, &format!("/admin/orders/{number}"), &owner)
        .await
        .text()
        .await
        .unwrap();
    let token = field(&html, "token");
    assert_eq!(
        refund_calls(&app).await,
        0,
        "the staff refund reached no Stripe"
    );
    let done = post_form(
        &app,
        &path,
        &owner,
        &[("csrf", &owner_csrf), ("token", &token), ("amount", "")],
    )
    .await;
    assert_eq!(done.status(), 303);
    // The trace is written in batches after the call: once the owner's refund is in it, the staff
    // member's, sent before it, would be too.
    let traced = &app;
    wait_for(10, "the owner's refund in the trace", || async move {
        (refund_calls(traced).await >= 1).then_some(())
    })
    .await;
    assert_eq!(
        refund_calls(&app).await,
        1,
        "one call to Stripe: the owner's"
    );

    let audited = |actor: &'static str, action: &'static str| {
        let store = app.store.clone();
        async move {
            scalar(
                &store,
                &format!(
                    "SELECT COUNT(*) FROM audit_log WHERE actor = '{actor}' AND action = '{action}'"
                ),
            )
            .await
        }
    };
    assert_eq!(
        audited("admin:owner@shop.example", "refund.requested").await,
        1
    );
    assert_eq!(
        audited("admin:staff@shop.example", "refund.requested").await,
        0
    );
    assert_eq!(
        audited("admin:staff@shop.example", "admin.signed_in").await,
        1
    );
    assert_eq!(
        audited("admin:owner@shop.example", "admin.signed_in").await,
        1
    );
    assert_eq!(audited("cli:admin", "operator.added").await, 2);
    app.stop().await;
}

/// The owners' page adds and removes operators; a removed operator's session ends at once; the
/// sign-in form tells no one whether an email exists.
#[tokio::test]
async fn owners_manage_operators_and_a_removed_operators_session_ends() {
    let app = with_operators().await;
    let (owner, csrf) = sign_in_as(&app, OWNER, OWNER_PW).await;
    let (staff, staff_csrf) = sign_in_as(&app, STAFF, STAFF_PW).await;
    let html = get(&app, "/admin/users", &owner)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("data-testid=\"operator-row\"").count(), 2);

    // Staff cannot add anyone, even with a valid form.
    let refused = post_form(
        &app,
        "/admin/users",
        &staff,
        &[
            ("csrf", &staff_csrf),
            ("email", "mallory@shop.example"),
            ("role", "owner"),
            ("password", "mallory's passphrase"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let short = post_form(
        &app,
        "/admin/users",
        &owner,
        &[
            ("csrf", &csrf),
            ("email", "bob@shop.example"),
            ("role", "staff"),
            ("password", "too short"),
        ],
    )
    .await;
    assert_eq!(short.status(), 422);
    let added = post_form(
        &app,
        "/admin/users",
        &owner,
        &[
            ("csrf", &csrf),
            ("email", "Bob@Shop.Example"),
            ("role", "staff"),
            ("password", "bob's long passphrase"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let again = post_form(
        &app,
        "/admin/users",
        &owner,
        &[
            ("csrf", &csrf),
            ("email", "bob@shop.example"),
            ("role", "owner"),
            ("password", "bob's long passphrase"),
        ],
    )
    .await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM admin_operators").await,
        3
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin:owner@shop.example' AND action = 'operator.added' AND entity_id = 'bob@shop.example'").await,
        1
    );
    sign_in_as(&app, "bob@shop.example", "bob's long passphrase").await;

    // An unknown email and a wrong password read the same.
    let unknown = attempt(
        &app,
        "10.9.1.1",
        &[("email", "nobody@shop.example"), ("password", OWNER_PW)],
    )
    .await;
    let wrong = attempt(
        &app,
        "10.9.1.1",
        &[("email", OWNER), ("password", "not the passphrase")],
    )
    .await;
    assert_eq!(
        (unknown.status().as_u16(), wrong.status().as_u16()),
        (401, 401)
    );
    let (unknown, wrong) = (unknown.text().await.unwrap(), wrong.text().await.unwrap());
    assert!(unknown.contains("Wrong password, or no operator with that email"));
    assert!(wrong.contains("Wrong password, or no operator with that email"));

    let removed = post_form(
        &app,
        "/admin/users/remove",
        &owner,
        &[("csrf", &csrf), ("email", STAFF)],
    )
    .await;
    assert_eq!(removed.status(), 303);
    let page = get(&app, "/admin/orders", &staff).await;
    assert_eq!(page.status(), 303, "the removed operator's session ended");
    assert_eq!(page.headers()[LOCATION], "/admin/login");
    let r = attempt(
        &app,
        "10.9.2.1",
        &[("email", STAFF), ("password", STAFF_PW)],
    )
    .await;
    assert_eq!(r.status(), 401);
    app.stop().await;
}

/// The last owner stays: removing them is refused in words, and two owners who remove each other
/// at once leave one (their rows are locked in turn).
#[tokio::test]
async fn the_last_owner_is_never_removed_even_by_two_owners_removing_each_other_at_once() {
    const SECOND: &str = "second@shop.example";
    const SECOND_PW: &str = "second owner's passphrase";
    let app = with_operators().await;
    add(&app, SECOND, OperatorRole::Owner, SECOND_PW).await;
    let (first, first_csrf) = sign_in_as(&app, OWNER, OWNER_PW).await;
    let (second, second_csrf) = sign_in_as(&app, SECOND, SECOND_PW).await;
    let remove = async |(cookie, csrf): (&str, &str), email: &str| {
        let form = [("csrf", csrf), ("email", email)];
        post_form(&app, "/admin/users/remove", cookie, &form).await
    };
    // At once: each removal locks the owners' rows, so the second finds itself the last (or its
    // session ended with its operator).
    tokio::join!(
        remove((&first, &first_csrf), SECOND),
        remove((&second, &second_csrf), OWNER),
    );
    let owners = "SELECT COUNT(*) FROM admin_operators WHERE role = 'owner'";
    assert_eq!(scalar(&app.store, owners).await, 1);

    let last = text(
        &app.store,
        "SELECT email FROM admin_operators WHERE role = 'owner'",
    )
    .await
    .unwrap();
    let session = if last == OWNER {
        (first.as_str(), first_csrf.as_str())
    } else {
        (second.as_str(), second_csrf.as_str())
    };
    let refused = remove(session, &last).await;
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("is the last owner"));
    assert_eq!(scalar(&app.store, owners).await, 1);
    // The staff member goes: only an owner is kept.
    assert_eq!(remove(session, STAFF).await.status(), 303);
    app.stop().await;
}

/// The secret inside the URI `caisse admin totp` prints.
fn secret_of(uri: &str) -> Vec<u8> {
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    totp::from_base32(secret).unwrap()
}

#[tokio::test]
async fn with_totp_a_code_is_required_checked_used_once_and_rate_limited() {
    let app = with_operators().await;
    let uri = operators::totp_on(&app.store, OWNER, "cli:admin", unix_now())
        .await
        .unwrap();
    assert!(
        uri.starts_with("otpauth://totp/caisse:owner%40shop.example?secret="),
        "{uri}"
    );
    let secret = secret_of(&uri);
    let now = unix_now();
    let step = totp::step_at(now);
    fn with(code: &str) -> Vec<(&str, &str)> {
        vec![("email", OWNER), ("password", OWNER_PW), ("code", code)]
    }

    let none = attempt(
        &app,
        "10.8.0.1",
        &[("email", OWNER), ("password", OWNER_PW)],
    )
    .await;
    assert_eq!(none.status(), 401);
    assert!(none
        .text()
        .await
        .unwrap()
        .contains("Enter the 6-digit code"));
    // A code of ten minutes ago is a wrong code.
    let old = totp::code(&secret, step - 20);
    let wrong = attempt(&app, "10.8.0.1", &with(&old)).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Wrong code"));
    // The right code with a wrong password is a wrong password.
    let fresh = totp::code(&secret, step);
    let r = attempt(
        &app,
        "10.8.0.2",
        &[
            ("email", OWNER),
            ("password", "not the passphrase"),
            ("code", &fresh),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Wrong password"));

    let ok = attempt(&app, "10.8.0.2", &with(&fresh)).await;
    session(&app, ok).await;
    let again = attempt(&app, "10.8.0.2", &with(&fresh)).await;
    assert_eq!(again.status(), 401, "a code signs in once");
    // The next step's code (a phone a little ahead) is fresh.
    let next = totp::code(&secret, step + 1);
    let ok = attempt(&app, "10.8.0.3", &with(&next)).await;
    session(&app, ok).await;

    // The sign-in budget counts codes: five wrong codes, then even a right one waits.
    let staff_secret = secret_of(
        &operators::totp_on(&app.store, STAFF, "cli:admin", unix_now())
            .await
            .unwrap(),
    );
    for _ in 0..5 {
        let r = attempt(
            &app,
            "10.8.1.1",
            &[("email", STAFF), ("password", STAFF_PW), ("code", "000000")],
        )
        .await;
        assert!(matches!(r.status().as_u16(), 401), "{}", r.status());
    }
    let right = totp::code(&staff_secret, totp::step_at(unix_now()));
    let limited = attempt(
        &app,
        "10.8.1.1",
        &[("email", STAFF), ("password", STAFF_PW), ("code", &right)],
    )
    .await;
    assert_eq!(limited.status(), 429);

    // One code sent twice at once signs in once.
    let once = |from: &'static str| {
        let (app, right) = (&app, right.clone());
        async move {
            attempt(
                app,
                from,
                &[("email", STAFF), ("password", STAFF_PW), ("code", &right)],
            )
            .await
            .status()
            .as_u16()
        }
    };
    let (a, b) = tokio::join!(once("10.8.2.1"), once("10.8.3.1"));
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(statuses, [303, 401]);

    // Turned off, the password alone signs in again.
    operators::totp_off(&app.store, OWNER, "cli:admin", unix_now())
        .await
        .unwrap();
    sign_in_as(&app, OWNER, OWNER_PW).await;
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM audit_log WHERE action IN ('operator.totp_on', 'operator.totp_off')").await,
        3
    );
    app.stop().await;
}

/// CAISSE_ADMIN_PASSWORD_HASH keeps working beside named operators: an empty email is its owner,
/// audited as `admin`, who may refund and manage operators.
#[tokio::test]
async fn the_configured_password_stays_an_owner_beside_named_operators() {
    let app = with_dashboard().await;
    add(&app, STAFF, OperatorRole::Staff, STAFF_PW).await;
    let (cookie, _) = crate::admin::sign_in(&app).await;
    let html = get(&app, "/admin/users", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(STAFF), "{html}");
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin' AND action = 'admin.signed_in'"
        )
        .await,
        1
    );
    app.stop().await;
}
