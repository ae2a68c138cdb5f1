//! The states of caisse's records, one enum each, with the one mapping to the text the database
//! stores (and its `CHECK` constraints list). Rust code compares these, never strings.

/// An enum whose variants are stored as text: `as_str` and `FromStr` are the one mapping.
macro_rules! stored_as_text {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(text: &str) -> Result<$name, UnknownStatus> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownStatus {
                        what: stringify!($name),
                        text: text.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A text the database holds that no variant names (a row written by a newer caisse, or by hand).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{text}`")]
pub struct UnknownStatus {
    pub what: &'static str,
    pub text: String,
}

stored_as_text! {
    /// Where a hold stands.
    pub enum HoldStatus {
        /// Stock set aside while the customer pays on Stripe's page.
        Active = "active",
        /// The session completed and a delayed payment (SEPA debit) is under way.
        AwaitingPayment = "awaiting_payment",
        /// Stock given back (payment failed, session expired or cancelled).
        Released = "released",
        /// Turned into an order.
        Converted = "converted",
    }
}

impl HoldStatus {
    /// Still holding stock, and so still a checkout a customer can pay.
    pub fn is_open(self) -> bool {
        matches!(self, HoldStatus::Active | HoldStatus::AwaitingPayment)
    }
}

stored_as_text! {
    /// An order's payment state.
    pub enum OrderStatus {
        Paid = "paid",
        /// Paid, but it cannot simply be shipped (see `orders.attention_reason`).
        NeedsAttention = "needs_attention",
        Refunded = "refunded",
    }
}

stored_as_text! {
    /// Where an order's parcel is: `unfulfilled` → `shipped` → `delivered`.
    pub enum FulfilmentStatus {
        Unfulfilled = "unfulfilled",
        Shipped = "shipped",
        Delivered = "delivered",
    }
}

stored_as_text! {
    /// Where a dispute (chargeback) of an order's payment stands.
    pub enum DisputeStatus {
        Open = "open",
        Won = "won",
        Lost = "lost",
    }
}

stored_as_text! {
    /// A payment's state: refunded once Stripe has given all of it back.
    pub enum PaymentStatus {
        Succeeded = "succeeded",
        Refunded = "refunded",
    }
}

stored_as_text! {
    /// What became of a webhook event in the inbox.
    pub enum EventStatus {
        /// Claimed, its effect not committed (only seen while a transaction runs, or after a
        /// crash that a redelivery will finish).
        Received = "received",
        Processed = "processed",
        Ignored = "ignored",
        /// The last attempt failed; Stripe delivers it again.
        Failed = "failed",
    }
}

impl EventStatus {
    /// A state that never changes again: a redelivery is a duplicate.
    pub fn is_final(self) -> bool {
        matches!(self, EventStatus::Processed | EventStatus::Ignored)
    }
}

stored_as_text! {
    /// An outbox message's state.
    pub enum OutboxStatus {
        Pending = "pending",
        Sent = "sent",
        /// Gave up (a permanent error, or the last attempt): an alert says so.
        Failed = "failed",
    }
}

stored_as_text! {
    /// What an outbox message is; its dedup key starts with it.
    pub enum OutboxKind {
        /// The order confirmation email; one per order.
        OrderConfirmation = "order_confirmation",
        /// A refund to ask Stripe for (a payment that arrived after its stock was sold).
        StripeRefund = "stripe_refund",
        /// The email telling the customer their order shipped; one per order.
        ShippingNotice = "shipping_notice",
        /// The email telling the customer Stripe refunded them; one per refunded total reached.
        RefundNotice = "refund_notice",
        /// An email to the operators about critical alerts (one, or a digest).
        AlertEmail = "alert_email",
        /// One critical alert posted to `CAISSE_ALERT_WEBHOOK_URL`.
        AlertWebhook = "alert_webhook",
    }
}

impl OutboxKind {
    /// The message's unique key: one message of this kind per `subject` (an order id).
    pub fn key(self, subject: &str) -> String {
        format!("{}:{subject}", self.as_str())
    }
}

stored_as_text! {
    /// What an alert is about; operators read it on the dashboard until they acknowledge it.
    pub enum AlertKind {
        /// A payment failed (one per PaymentIntent).
        PaymentFailed = "payment_failed",
        /// Stripe collected another amount or currency than the hold priced.
        AmountMismatch = "amount_mismatch",
        /// Paid after its hold was released, and the stock was gone.
        PaidWithoutStock = "paid_without_stock",
        /// The products' Stripe Prices disagree with the catalog; the checkout was refused.
        PriceMismatch = "price_mismatch",
        /// An event of the other Stripe mode reached this endpoint.
        LivemodeMismatch = "livemode_mismatch",
        /// A burst of bad webhook signatures: a wrong secret or endpoint.
        SignatureFailures = "signature_failures",
        /// A signed event whose object caisse cannot read.
        EventUnparseable = "event_unparseable",
        /// An event whose effect fails for a reason that will not pass by itself.
        WebhookFailed = "webhook_failed",
        /// The database was unavailable (one per outage).
        DatabaseUnavailable = "database_unavailable",
        /// Stripe does not know a hold's Checkout Session.
        SessionMissing = "session_missing",
        /// A confirmation email was given up.
        EmailFailed = "email_failed",
        /// A refund was given up: caisse's request for it, or Stripe failed it after accepting
        /// it (`refund.failed`), which lowers the recorded refund back.
        RefundFailed = "refund_failed",
        /// A customer disputed a payment (`charge.dispute.created`): evidence is due by a date.
        DisputeOpened = "dispute_opened",
        /// A dispute was closed lost: the money went back to the customer.
        DisputeLost = "dispute_lost",
        /// Stripe refused to open a Checkout Session for a product (one per product and code).
        StripeRefused = "stripe_refused",
        /// Redis failed or was slow: the rate limit was kept per instance (one per outage).
        RedisUnavailable = "redis_unavailable",
        /// A PaymentIntent names a hold in its metadata but is not its session's: ignored.
        ForeignPaymentIntent = "foreign_payment_intent",
        /// A product's available stock fell to its low-stock threshold (one per crossing).
        LowStock = "low_stock",
        /// An alert email or webhook was given up (a warning, so that it is not itself sent).
        AlertDeliveryFailed = "alert_delivery_failed",
        /// A request failed on caisse's side (a 500 no other alert covers): one per route and hour.
        InternalError = "internal_error",
    }
}

stored_as_text! {
    /// What a dashboard operator may do.
    pub enum OperatorRole {
        /// Everything: refunds, stock and prices, and the operators themselves.
        Owner = "owner",
        /// Every page, shipping, acknowledging alerts and resending emails; no money or stock.
        Staff = "staff",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_itself_and_nothing_else_reads() {
        for s in HoldStatus::ALL {
            assert_eq!(s.as_str().parse::<HoldStatus>(), Ok(*s));
        }
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(*s));
        }
        for s in FulfilmentStatus::ALL {
            assert_eq!(s.as_str().parse::<FulfilmentStatus>(), Ok(*s));
        }
        for s in EventStatus::ALL {
            assert_eq!(s.as_str().parse::<EventStatus>(), Ok(*s));
        }
        for s in OutboxKind::ALL {
            assert_eq!(s.as_str().parse::<OutboxKind>(), Ok(*s));
        }
        for s in AlertKind::ALL {
            assert_eq!(s.as_str().parse::<AlertKind>(), Ok(*s));
        }
        for s in OperatorRole::ALL {
            assert_eq!(s.as_str().parse::<OperatorRole>(), Ok(*s));
        }
        assert!("Active".parse::<HoldStatus>().is_err());
        assert!("".parse::<EventStatus>().is_err());
    }
}
