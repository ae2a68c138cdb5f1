//! Three-decimal currencies on the dashboard: amounts shown in thousandths (`5.120 KWD`, not
//! `51.20`), and a refund typed in major units becomes the right number of minor units, refused
//! when Stripe could not charge it (a last digit other than 0).

use crate::admin::{client, field, post_form, sign_in, with_dashboard};
use crate::support::{raw, scalar, wait_for};

#[tokio::test]
async fn a_dinar_order_is_shown_and_refunded_in_thousandths() {
    let app = with_dashboard().await;
    raw(
        &app.store,
        "UPDATE products SET unit_amount = 5120, currency = 'kwd' WHERE id = 'tote-bag'",
    )
    .await
    .unwrap();
    let number = app
        .paid_order(crate::support::cart(&[("tote-bag", 2)]))
        .await;
    let (cookie, csrf) = sign_in(&app).await;
    let page = client()
        .get(app.url(&format!("/admin/orders/{number}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("5.120 KWD") && page.contains("10.240 KWD"),
        "{page}"
    );
    let token = field(&page, "token");
    let path = format!("/admin/orders/{number}/refund");
    let unchargeable = post_form(
        &app,
        &path,
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "1.005")],
    )
    .await;
    assert_eq!(unchargeable.status(), 422, "Stripe charges dinars by tens");
    let r = post_form(
        &app,
        &path,
        &cookie,
        &[("csrf", &csrf), ("token", &token), ("amount", "2.56")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let store = app.store.clone();
    wait_for(10, "charge.refunded to be recorded", || {
        let store = store.clone();
        async move {
            let refunded = scalar(&store, "SELECT amount_refunded FROM payments").await;
            (refunded == 2560).then_some(())
        }
    })
    .await;
    app.stop().await;
}
