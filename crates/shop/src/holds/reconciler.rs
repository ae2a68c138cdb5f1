//! The reconciler: settles holds whose events never came, so that none stays open for ever.
//!
//! It looks at open holds (`active`, `awaiting_payment`) past their expiry, asks Stripe to expire
//! each session **first** (one idempotency key per hold) and acts on what Stripe says:
//! - expired → the stock goes back;
//! - complete and paid → the order, through the same fulfilment as the webhooks (the customer paid
//!   at the last second, or the webhook was lost);
//! - complete and unpaid (a SEPA debit under way) → `awaiting_payment`, checked again later; a
//!   payment that failed meanwhile releases the hold;
//! - unknown to Stripe (404: a sandbox restarted, a session deleted) → the stock goes back, with an
//!   audit entry and a warning alert;
//! - no answer → checked again later.
//!
//! Every hold it takes gets a next check time, with back-off, in a conditional update that only
//! one instance wins: several instances can reconcile at once, and however many holds cannot be
//! settled now, they go to the back of the queue instead of starving the others.
//!
//! A pass works on [`AT_ONCE`] holds side by side, so that one slow Stripe answer does not hold the
//! others back, and a scheduled pass starts no hold after its deadline (the sweep interval): the
//! holds it did not start stay due for the next pass, and one pass never runs into the next.

use crate::domain::status::AlertKind;
use caisse_stripe::objects::CheckoutSession;
use futures_util::stream::{self, StreamExt};

use crate::app::App;
use crate::domain::local_time::local_time;
use crate::holds::release::{self, Purpose, Verdict};
use crate::orders::{self, Fulfilment, Paid};
use crate::store::{Hold, NewAlert, Severity, StoreError};

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub released: usize,
    /// Paid sessions turned into orders here.
    pub fulfilled: usize,
    /// Complete sessions whose delayed payment is still under way.
    pub awaiting: usize,
    /// Sessions Stripe does not know (released, with an alert).
    pub missing: usize,
    /// Holds a webhook or another instance settled first.
    pub settled_elsewhere: usize,
    /// Holds left for a later check (Stripe unreachable or undecided, or the pass's deadline
    /// came before they were started).
    pub deferred: usize,
}

/// How many holds one pass looks at.
const BATCH: i64 = 200;

/// How many holds a pass settles side by side.
pub const AT_ONCE: usize = 8;

/// Seconds until a hold's next check: a minute, doubling, at most an hour.
fn next_check(checks: i64) -> i64 {
    (60i64 << checks.clamp(0, 6)).min(3600)
}

/// When holds are looked at: on their schedule (the servers' passes), or all of them now
/// (`caisse reconcile`, after an outage was fixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Scheduled,
    Everything,
}

/// What became of one hold in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    Released,
    Fulfilled,
    Awaiting,
    Missing,
    Elsewhere,
    /// Left for a later pass: Stripe did not answer, or the pass's deadline came before it started.
    Deferred,
    /// Another instance claimed it.
    NotTaken,
}

impl Report {
    fn add(&mut self, s: Settled) {
        match s {
            Settled::Released => self.released += 1,
            Settled::Fulfilled => self.fulfilled += 1,
            Settled::Awaiting => self.awaiting += 1,
            Settled::Missing => self.missing += 1,
            Settled::Elsewhere => self.settled_elsewhere += 1,
            Settled::Deferred => self.deferred += 1,
            Settled::NotTaken => {}
        }
    }
}

pub async fn reconcile(app: &App, now: i64, pass: Pass) -> Result<Report, StoreError> {
    let (due, deadline) = match pass {
        Pass::Scheduled => (
            now,
            Some(tokio::time::Instant::now() + app.config.checkout.sweep_interval),
        ),
        Pass::Everything => (i64::MAX / 2, None),
    };
    let holds = app.store.holds_to_check(now, due, BATCH).await?;
    let outcomes: Vec<Result<Settled, StoreError>> = stream::iter(holds)
        .map(|hold| async move {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Ok(Settled::Deferred);
            }
            settle(app, &hold, due, now).await
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let mut report = Report::default();
    for outcome in outcomes {
        report.add(outcome?);
    }
    metrics::gauge!("caisse_active_holds").set(app.store.active_hold_count().await? as f64);
    Ok(report)
}

/// One hold: claimed for this instance, its session expired at Stripe first, then settled by
/// what Stripe says.
async fn settle(app: &App, hold: &Hold, due: i64, now: i64) -> Result<Settled, StoreError> {
    if !app
        .store
        .claim_hold_check(hold, due, now + next_check(hold.checks))
        .await?
    {
        return Ok(Settled::NotTaken);
    }
    Ok(
        match release::expire_at_stripe(&app.stripe, hold, Purpose::Expire).await {
            Verdict::Expired if hold.checkout_session_id.is_none() => {
                // Its checkout never recorded a session (the process died between the two): no
                // URL was ever answered, so the client's retry with its key is a new checkout.
                let released = app
                    .store
                    .write(async |tx| {
                        // Unless its checkout, slower than the provisional expiry, recorded
                        // the session since it was read: that hold waits for its session's end.
                        let locked = tx.hold_for_update(&hold.id).await?;
                        if locked.is_none_or(|h| h.checkout_session_id.is_some()) {
                            return Ok(false);
                        }
                        let why = "its checkout ended without a Checkout Session";
                        release::release_freeing_key(tx, &hold.id, "expired", ACTOR, why, now).await
                    })
                    .await?;
                here(released, Settled::Released)
            }
            Verdict::Expired => {
                let why = format!(
                    "expired at {} without payment",
                    local_time(hold.expires_at, &app.config.time_zone)
                );
                here(
                    release::release(&app.store, hold, "expired", ACTOR, &why, now).await?,
                    Settled::Released,
                )
            }
            Verdict::Missing => {
                let released = release::release(
                    &app.store,
                    hold,
                    "session_missing",
                    ACTOR,
                    "Stripe does not know its Checkout Session",
                    now,
                )
                .await?;
                if released {
                    missing_alert(app, hold, now).await?;
                }
                here(released, Settled::Missing)
            }
            Verdict::Complete(session) => settle_complete(app, hold, &session, now).await?,
            Verdict::Unknown => Settled::Deferred,
        },
    )
}

const ACTOR: &str = "system:reconciler";

/// `what`, when this pass did it; else a webhook or another instance did first.
fn here(done_here: bool, what: Settled) -> Settled {
    if done_here {
        what
    } else {
        Settled::Elsewhere
    }
}

/// A complete session: fulfil it when paid; else look at its PaymentIntent.
async fn settle_complete(
    app: &App,
    hold: &Hold,
    session: &CheckoutSession,
    now: i64,
) -> Result<Settled, StoreError> {
    let email = session
        .email()
        .filter(|e| crate::domain::email::is_plausible(e))
        .map(str::to_string)
        .or(hold.email.clone());
    let currency = session.currency.clone().unwrap_or_default();
    let pi_id = session.payment_intent.clone();
    let mut amount = session.amount_total.unwrap_or(0);
    if !session.is_paid() {
        let Some(pi_id) = &pi_id else {
            return awaiting(app, hold, now).await;
        };
        let pi = match app.stripe.retrieve_payment_intent(pi_id).await {
            Ok(pi) => pi,
            Err(e) => {
                tracing::warn!(hold_id = %hold.id, error = %e, "cannot read the PaymentIntent of a complete session");
                return Ok(Settled::Deferred);
            }
        };
        match pi.status.as_str() {
            "succeeded" => amount = pi.amount_received.unwrap_or(pi.amount),
            "requires_payment_method" | "canceled" => {
                let why = format!("its delayed payment {pi_id} failed ({})", pi.status);
                app.store
                    .write(async |tx| {
                        release::raise_payment_failed(
                            tx,
                            hold,
                            Some(pi_id),
                            &why,
                            now,
                            &app.config.time_zone,
                        )
                        .await
                    })
                    .await?;
                return Ok(here(
                    release::release(&app.store, hold, "payment_failed", ACTOR, &why, now).await?,
                    Settled::Released,
                ));
            }
            _ => return awaiting(app, hold, now).await,
        }
    }
    let paid = Paid {
        payment_intent_id: pi_id.as_deref().unwrap_or(&session.id),
        checkout_session_id: Some(&session.id),
        amount,
        currency: &currency,
        email: email.as_deref(),
        session: Some(session),
    };
    let policy = orders::Policy::of(app);
    let result = app
        .store
        .write(async |tx| match tx.hold_for_update(&hold.id).await? {
            Some(locked) => orders::fulfil(tx, policy, &locked, &paid, ACTOR, now)
                .await
                .map(Some),
            None => Ok(None),
        })
        .await?;
    Ok(match result {
        Some(Fulfilment::Created(order)) => {
            tracing::info!(hold_id = %hold.id, number = order.number, "order created by the reconciler: its payment's webhooks never came");
            app.outbox_wake.notify_one();
            Settled::Fulfilled
        }
        Some(Fulfilment::AlreadyDone(_) | Fulfilment::PaymentTaken { .. }) => Settled::Elsewhere,
        None => Settled::NotTaken,
    })
}

async fn awaiting(app: &App, hold: &Hold, now: i64) -> Result<Settled, StoreError> {
    app.store
        .write(async |tx| tx.mark_awaiting_payment(&hold.id, now).await)
        .await?;
    Ok(Settled::Awaiting)
}

async fn missing_alert(app: &App, hold: &Hold, now: i64) -> Result<(), StoreError> {
    let alert = NewAlert {
        kind: AlertKind::SessionMissing,
        severity: Severity::Warning,
        message: format!(
            "Stripe does not know Checkout Session {} of hold {}: its stock was released",
            hold.checkout_session_id.as_deref().unwrap_or("-"),
            hold.id
        ),
        entity: Some(("hold", &hold.id)),
        dedup_key: format!("session_missing:{}", hold.id),
    };
    app.store.raise_alert(&alert, now).await.map(|_| ())
}

/// Reconciles every `interval` until the process stops.
pub async fn run(app: App) {
    let mut ticker = tokio::time::interval(app.config.checkout.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match reconcile(&app, crate::store::unix_now(), Pass::Scheduled).await {
            Ok(r) if r != Report::default() => tracing::info!(?r, "reconciled expired holds"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reconciliation failed; retrying at the next tick")
            }
        }
    }
}
