//! The state machine under every interleaving (DESIGN.md 2.3): random orders, duplicates and
//! concurrency of the events of several holds, with sales elsewhere eating the free stock, all
//! sent at once as signed deliveries; then the invariants: one order per paid hold, stock
//! conserved and never negative, one confirmation email per shipped order, releases never undo an
//! order, every event processed or ignored.

use caisse_shop::domain::status::{HoldStatus, OrderStatus};
use futures_util::future::join_all;
use proptest::prelude::*;
use serde_json::json;

use crate::support::{cart, count, event, intent_metadata, raw, scalar, with_intent_tag, TestApp};

#[derive(Clone, Copy, Debug)]
enum Step {
    IntentSucceeded,
    SessionPaid,
    IntentFailed,
    SessionExpired,
    IntentCanceled,
}

/// One hold's script: its quantity and the events it receives (each 1 to 3 times).
#[derive(Clone, Debug)]
struct Script {
    quantity: i64,
    steps: Vec<(Step, usize)>,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::IntentSucceeded),
        Just(Step::SessionPaid),
        Just(Step::IntentFailed),
        Just(Step::SessionExpired),
        Just(Step::IntentCanceled),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (1..=3i64, prop::collection::vec((step(), 1..=3usize), 0..=4))
        .prop_map(|(quantity, steps)| Script { quantity, steps })
}

/// The events of one step for a hold, as Stripe would send them.
fn event_for(step: Step, hold: &serde_json::Value, pi: &str) -> serde_json::Value {
    let (hold_id, session) = (&hold["hold_id"], &hold["checkout_session_id"]);
    let amount = hold["amount_total"].clone();
    let intent = |status: &str| {
        json!({"id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
               "currency": "eur", "status": status, "metadata": intent_metadata(hold)})
    };
    let session_obj = |status: &str, payment_status: &str| {
        json!({"id": session, "object": "checkout.session", "status": status,
               "payment_status": payment_status, "amount_total": amount, "currency": "eur",
               "payment_intent": pi, "metadata": {"hold_id": hold_id}})
    };
    match step {
        Step::IntentSucceeded => event("payment_intent.succeeded", intent("succeeded")),
        Step::SessionPaid => event(
            "checkout.session.completed",
            session_obj("complete", "paid"),
        ),
        Step::IntentFailed => event(
            "payment_intent.payment_failed",
            intent("requires_payment_method"),
        ),
        Step::SessionExpired => event("checkout.session.expired", session_obj("expired", "unpaid")),
        Step::IntentCanceled => event("payment_intent.canceled", intent("canceled")),
    }
}

async fn run(scripts: Vec<Script>, outside_sales: usize, seed: u64) {
    let app = TestApp::spawn().await;
    app.sandbox.set_forward_to(None);
    let initial: i64 = scripts.iter().map(|s| s.quantity).sum::<i64>();
    raw(
        &app.store,
        &format!("UPDATE products SET stock_on_hand = {initial} WHERE id = 'mug-enamel'"),
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    let mut holds = Vec::new();
    for (i, s) in scripts.iter().enumerate() {
        let (status, held, _) = app.checkout(cart(&[("mug-enamel", s.quantity)]), &[]).await;
        assert_eq!(status, 201, "{held}");
        let held = with_intent_tag(&app.store, held).await;
        let pi = format!("pi_prop_{seed}_{i}");
        for (step, copies) in &s.steps {
            let e = event_for(*step, &held, &pi);
            deliveries.extend(std::iter::repeat_n(e, *copies));
        }
        holds.push(held);
    }
    // A deterministic shuffle from the case's seed, then everything at once.
    let mut order: Vec<usize> = (0..deliveries.len()).collect();
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    // In waves: each wave's deliveries at once, and between waves a sale elsewhere (another
    // channel) takes a free unit if there is one — the stock a released hold gave back.
    let waves = 1 + (seed % 3) as usize;
    let per_wave = order.len().div_ceil(waves).max(1);
    let mut sold = 0i64;
    for (n, wave) in order.chunks(per_wave).enumerate() {
        let barrier = tokio::sync::Barrier::new(wave.len());
        let answers = join_all(wave.iter().map(|&i| {
            let (barrier, e, app) = (&barrier, &deliveries[i], &app);
            async move {
                barrier.wait().await;
                app.deliver(e).await
            }
        }))
        .await;
        for (status, answer) in &answers {
            assert_eq!(*status, 200, "{answer}");
        }
        if n < outside_sales {
            sold += raw(
                &app.store,
                "UPDATE products SET stock_on_hand = stock_on_hand - 1 \
                 WHERE id = 'mug-enamel' AND stock_on_hand - stock_reserved >= 1",
            )
            .await
            .unwrap() as i64;
        }
    }

    // One order per hold that received a paid event, and none for the others.
    let mut took_stock = 0;
    let mut active = 0;
    for (held, s) in holds.iter().zip(&scripts) {
        let paid = s
            .steps
            .iter()
            .any(|(st, _)| matches!(st, Step::IntentSucceeded | Step::SessionPaid));
        let hold_id = held["hold_id"].as_str().unwrap();
        let order = app.store.order_for_hold(hold_id).await.unwrap();
        let hold = app.store.hold(hold_id).await.unwrap().unwrap();
        assert_eq!(order.is_some(), paid, "{hold_id}: {s:?}");
        match &order {
            Some(o) => {
                assert_eq!(
                    hold.status,
                    HoldStatus::Converted,
                    "a release never undoes an order"
                );
                if o.attention_reason.as_deref() != Some("paid_without_stock") {
                    assert_eq!(o.status, OrderStatus::Paid);
                    took_stock += s.quantity;
                }
            }
            None if hold.status == HoldStatus::Active => active += s.quantity,
            None => assert_eq!(hold.status, HoldStatus::Released),
        }
    }
    let (on_hand, reserved) = app.product_stock("mug-enamel").await;
    assert_eq!(on_hand, initial - sold - took_stock, "stock conserved");
    assert_eq!(reserved, active, "only open holds hold stock");
    assert!(on_hand >= reserved && reserved >= 0);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'order_confirmation'"
        )
        .await,
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM orders WHERE status = 'paid'"
        )
        .await,
        "one email per shipped order"
    );
    let distinct: std::collections::BTreeSet<&str> = deliveries
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        count(&app.store, "webhook_events").await,
        distinct.len() as i64
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM webhook_events WHERE status NOT IN ('processed', 'ignored')"
        )
        .await,
        0
    );
    app.stop().await;
}

proptest! {
    // Each case is a real server, a database and up to ~50 concurrent deliveries.
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_of_any_events_keeps_the_invariants(
        scripts in prop::collection::vec(script(), 1..=4),
        outside_sales in 0..=2usize,
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(scripts, outside_sales, seed));
    }
}
