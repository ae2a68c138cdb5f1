//! The hold/order state machine (DESIGN.md 1.5) as pure decisions: given where a hold stands and
//! what Stripe just said, what must happen. Fulfilment and releases ask here, then do it in one
//! transaction; events may come in any order and any number of times, and every decision below is
//! safe to take again.

use super::status::{AlertKind, HoldStatus};

/// Where a hold stands, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Stock set aside, waiting for the payment (`active`, or `awaiting_payment` once the
    /// session completed and a delayed payment such as a SEPA debit is under way).
    Active,
    /// Stock given back (payment failed, session expired or cancelled).
    Released,
    /// Turned into an order.
    Converted,
}

impl From<HoldStatus> for HoldState {
    fn from(status: HoldStatus) -> HoldState {
        match status {
            HoldStatus::Active | HoldStatus::AwaitingPayment => HoldState::Active,
            HoldStatus::Released => HoldState::Released,
            HoldStatus::Converted => HoldState::Converted,
        }
    }
}

/// What Stripe's event means for a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The money is in: `payment_intent.succeeded`, a paid `checkout.session.completed`,
    /// `checkout.session.async_payment_succeeded`.
    Paid,
    /// The payment will not come through this hold: expiry, cancellation, failure (by policy).
    Release,
}

/// What to do about a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Create the order from the hold's reserved stock.
    FulfilFromHold,
    /// The hold was released before the payment arrived: create the order, taking its stock again
    /// from what is free if it is still there.
    FulfilAfterRelease,
    /// The order exists: nothing to do.
    AlreadyFulfilled,
    /// Give the hold's stock back.
    Release,
    /// A release that comes after the order: the order stands, the release changes nothing.
    KeepOrder,
    /// Already released: nothing to do.
    AlreadyReleased,
}

/// The one place that says what a signal does to a hold.
pub fn decide(state: HoldState, order_exists: bool, signal: Signal) -> Decision {
    match (signal, order_exists, state) {
        (Signal::Paid, true, _) | (Signal::Paid, false, HoldState::Converted) => {
            Decision::AlreadyFulfilled
        }
        (Signal::Paid, false, HoldState::Active) => Decision::FulfilFromHold,
        (Signal::Paid, false, HoldState::Released) => Decision::FulfilAfterRelease,
        (Signal::Release, true, _) | (Signal::Release, false, HoldState::Converted) => {
            Decision::KeepOrder
        }
        (Signal::Release, false, HoldState::Active) => Decision::Release,
        (Signal::Release, false, HoldState::Released) => Decision::AlreadyReleased,
    }
}

/// Why an order cannot simply be shipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attention {
    /// Stripe collected another amount or currency than the hold priced.
    AmountMismatch,
    /// Paid after its hold was released, and the stock was sold to someone else meanwhile.
    PaidWithoutStock,
}

impl Attention {
    pub fn as_str(self) -> &'static str {
        match self {
            Attention::AmountMismatch => "amount_mismatch",
            Attention::PaidWithoutStock => "paid_without_stock",
        }
    }
}

impl From<Attention> for AlertKind {
    fn from(a: Attention) -> AlertKind {
        match a {
            Attention::AmountMismatch => AlertKind::AmountMismatch,
            Attention::PaidWithoutStock => AlertKind::PaidWithoutStock,
        }
    }
}

/// The status a new order gets: `paid`, or `needs_attention` with the reason. A payment without
/// stock outranks a mismatch: it is the one an operator must act on first (ship or refund).
pub fn order_status(amount_matches: bool, stock_taken: bool) -> Option<Attention> {
    if !stock_taken {
        Some(Attention::PaidWithoutStock)
    } else if !amount_matches {
        Some(Attention::AmountMismatch)
    } else {
        None
    }
}

/// True when Stripe collected exactly what the hold priced (currency compared case-insensitively,
/// as Stripe writes it lowercase).
pub fn amount_matches(held: (i64, &str), received: (i64, &str)) -> bool {
    held.0 == received.0 && held.1.eq_ignore_ascii_case(received.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [HoldState; 3] = [HoldState::Active, HoldState::Released, HoldState::Converted];

    #[test]
    fn every_state_and_signal_has_one_decision() {
        use Decision::*;
        let table = [
            (HoldState::Active, false, Signal::Paid, FulfilFromHold),
            (HoldState::Released, false, Signal::Paid, FulfilAfterRelease),
            (HoldState::Converted, false, Signal::Paid, AlreadyFulfilled),
            (HoldState::Active, false, Signal::Release, Release),
            (HoldState::Released, false, Signal::Release, AlreadyReleased),
            (HoldState::Converted, false, Signal::Release, KeepOrder),
        ];
        for (state, order, signal, expected) in table {
            assert_eq!(
                decide(state, order, signal),
                expected,
                "{state:?} {signal:?}"
            );
        }
        for state in STATES {
            assert_eq!(decide(state, true, Signal::Paid), AlreadyFulfilled);
            assert_eq!(decide(state, true, Signal::Release), KeepOrder);
        }
    }

    /// Replays every sequence of up to five signals on a model hold: at most one order, and a
    /// release never undoes it.
    #[test]
    fn no_sequence_makes_two_orders_or_undoes_one() {
        for len in 0..=5u32 {
            for bits in 0..(1u32 << len) {
                let (mut state, mut orders) = (HoldState::Active, 0);
                for i in 0..len {
                    let signal = if bits & (1 << i) != 0 {
                        Signal::Paid
                    } else {
                        Signal::Release
                    };
                    match decide(state, orders > 0, signal) {
                        Decision::FulfilFromHold | Decision::FulfilAfterRelease => {
                            orders += 1;
                            state = HoldState::Converted;
                        }
                        Decision::Release => state = HoldState::Released,
                        Decision::AlreadyFulfilled
                        | Decision::KeepOrder
                        | Decision::AlreadyReleased => {}
                    }
                    assert!(orders <= 1);
                    if orders == 1 {
                        assert_eq!(state, HoldState::Converted);
                    }
                }
                let paid = (0..len).any(|i| bits & (1 << i) != 0);
                assert_eq!(orders == 1, paid, "{len} {bits:b}");
            }
        }
    }

    #[test]
    fn attention_reasons() {
        assert_eq!(order_status(true, true), None);
        assert_eq!(order_status(false, true), Some(Attention::AmountMismatch));
        assert_eq!(order_status(true, false), Some(Attention::PaidWithoutStock));
        assert_eq!(
            order_status(false, false),
            Some(Attention::PaidWithoutStock)
        );
        assert!(amount_matches((5000, "eur"), (5000, "EUR")));
        assert!(!amount_matches((5000, "eur"), (4999, "eur")));
        assert!(!amount_matches((5000, "eur"), (5000, "usd")));
    }
}
