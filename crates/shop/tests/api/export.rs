//! The orders export over HTTP (`GET /admin/orders.csv`, signed in): the issue's columns, a
//! shipped order's address, shipping and total in major units, refunds, and the filters, which
//! the orders list applies too.

use caisse_sandbox::shipping::Entered;
use caisse_shop::config;
use serde_json::json;

use crate::admin::{client, sign_in, PASSWORD};
use crate::support::{raw, TestApp, LOOSE};

const HEADER: &str = "number,created_at,status,fulfilment,email,name,phone,shipping_line1,shipping_line2,shipping_postal_code,shipping_city,shipping_country,items,subtotal,shipping,total,refunded,currency,payment_intent,dispute";

/// The CSV's records, as a spreadsheet or a CSV reader reads them.
fn records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn header(text: &str) -> String {
    records(text)[0].join(",")
}

async fn csv(app: &TestApp, cookie: &str, query: &str) -> (u16, String) {
    let r = client()
        .get(app.url(&format!("/admin/orders.csv{query}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// A shop with the dashboard and shipping to France and Belgium (the address columns).
async fn shop_that_ships() -> TestApp {
    let hash = caisse_shop::admin::hash_password(PASSWORD).unwrap();
    let mut extra = LOOSE.to_vec();
    extra.extend_from_slice(&[
        (config::ADMIN_PASSWORD_HASH, hash.as_str()),
        (config::SHIPPING_COUNTRIES, "FR,BE"),
    ]);
    TestApp::spawn_with(&extra).await
}

#[tokio::test]
async fn the_csv_has_the_issue_s_columns_and_a_shipped_order_s_figures() {
    let app = shop_that_ships().await;
    let ixelles = Entered {
        shipping_name: "Ada Lovelace".into(),
        shipping_line1: "3 place Flagey".into(),
        shipping_line2: "Boîte 2".into(),
        shipping_postal_code: "1050".into(),
        shipping_city: "Ixelles".into(),
        shipping_country: "BE".into(),
        ..Entered::default()
    };
    app.paid_order_with(
        json!({"items": [{"product_id": "mug-enamel", "quantity": 2}, {"product_id": "sticker-pack", "quantity": 1}], "email": "ada@example.com"}),
        &ixelles,
    )
    .await;
    // Without a session: the sign-in page, not the file.
    let (status, _) = csv(&app, "", "").await;
    assert_eq!(status, 303);

    let (cookie, _) = sign_in(&app).await;
    let (status, text) = csv(&app, &cookie, "").await;
    assert_eq!(status, 200, "{text}");
    // Every cell quoted: a spreadsheet that splits on `;` keeps each whole.
    assert!(text.starts_with("\"number\",\"created_at\","), "{text}");
    let all = records(&text);
    assert_eq!(header(&text), HEADER);
    assert_eq!(all.len(), 2, "{text}");
    let row = all[1].join(",");
    let fields: Vec<&str> = all[1].iter().map(String::as_str).collect();
    assert_eq!(fields[0], "1");
    assert!(fields[1].ends_with('Z') && fields[1].contains('T'), "{row}");
    assert_eq!(&fields[2..4], ["paid", "unfulfilled"]);
    assert_eq!(fields[4], "ada@example.com");
    assert_eq!(
        &fields[7..12],
        ["3 place Flagey", "Boîte 2", "1050", "Ixelles", "BE"]
    );
    assert_eq!(fields[12], "mug-enamel×2; sticker-pack×1");
    // 2 × 12.00 + 4.00 = 28.00, under the free threshold: 4.90 shipping.
    assert_eq!(&fields[13..18], ["28.00", "4.90", "32.90", "0.00", "EUR"]);
    assert!(fields[18].starts_with("pi_"), "{row}");

    // Filters: another status, a range that ends before today, a bad date.
    let (_, refunded) = csv(&app, &cookie, "?status=refunded").await;
    assert_eq!(records(&refunded).len(), 1, "{refunded}");
    let (_, old) = csv(&app, &cookie, "?to=2020-01-01").await;
    assert_eq!(records(&old).len(), 1, "{old}");
    let (_, today) = csv(&app, &cookie, "?from=2020-01-01&fulfilment=unfulfilled").await;
    assert_eq!(records(&today).len(), 2);
    let (status, _) = csv(&app, &cookie, "?from=yesterday").await;
    assert_eq!(status, 400);

    // The orders list filters the same way, and links the export of what it shows.
    let list = |query: &'static str| {
        let cookie = cookie.clone();
        let url = app.url(&format!("/admin/orders{query}"));
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let rows = |html: &str| html.matches("data-testid=\"order-row\"").count();
    assert_eq!(rows(&list("?status=refunded").await), 0);
    assert_eq!(rows(&list("?fulfilment=shipped").await), 0);
    assert_eq!(rows(&list("?to=2020-01-01").await), 0);
    let shown = list("?status=paid&fulfilment=unfulfilled&from=2020-01-01").await;
    // (askama writes `&` as `&#38;`.)
    assert_eq!(rows(&shown), 1, "{shown}");
    assert!(
        shown.contains(
            "/admin/orders.csv?status=paid&#38;fulfilment=unfulfilled&#38;from=2020-01-01"
        ),
        "{shown}"
    );
    // A filter that cannot be is refused in words by the list as by the export, never ignored
    // (a mistyped date showed every order as if it were the ones asked for).
    for (query, words) in [
        ("?from=2026-02-30", "`2026-02-30` is not a date"),
        (
            "?status=bogus",
            "no order status `bogus` (paid, needs_attention, refunded)",
        ),
        ("?fulfilment=lost", "no fulfilment status `lost`"),
        (
            "?from=2026-12-06&to=2026-12-01",
            "`2026-12-01` is not after `2026-12-06`",
        ),
    ] {
        let page = list(query).await;
        assert!(page.contains(words), "{query}: {page}");
        assert_eq!(rows(&page), 0, "{query}");
        let (status, body) = csv(&app, &cookie, query).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(words), "{query}: {body}");
    }

    // A refund shows in major units.
    raw(&app.store, "UPDATE payments SET amount_refunded = 500")
        .await
        .unwrap();
    let (_, after) = csv(&app, &cookie, "").await;
    assert!(after.contains("\"32.90\",\"5.00\",\"EUR\","), "{after}");
    app.stop().await;
}

/// A name typed on Stripe's page cannot become a formula in a spreadsheet that splits on `;`
/// (Excel in French and other locales) any more than in one that splits on `,`.
#[tokio::test]
async fn a_customer_s_text_is_no_formula_whatever_the_separator() {
    let app = shop_that_ships().await;
    let typed = Entered {
        shipping_name: "x;=1+1;y".into(),
        shipping_city: "x;\"-2+3;y".into(),
        shipping_line1: "1 rue;@SUM(A1)".into(),
        shipping_postal_code: "75002".into(),
        shipping_country: "FR".into(),
        ..Entered::default()
    };
    app.paid_order_with(
        json!({"items": [{"product_id": "sticker-pack", "quantity": 1}]}),
        &typed,
    )
    .await;
    let (cookie, _) = sign_in(&app).await;
    let (status, text) = csv(&app, &cookie, "").await;
    assert_eq!(status, 200, "{text}");
    for separator in [b',', b';', b'\t'] {
        let cells: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(separator)
            .from_reader(text.as_bytes())
            .records()
            .flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert!(
            cells.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
            "split on {}: {cells:?}",
            separator as char
        );
    }
    app.stop().await;
}
