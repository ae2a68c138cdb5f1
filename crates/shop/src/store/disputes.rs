//! What happens to a payment after it: its dispute's state on the order, and a refund Stripe
//! failed after accepting it, which lowers the recorded refund back (and a fully refunded order
//! is paid again).

use super::statement::args;
use super::{PaymentRow, StoreError, Tx};
use crate::domain::status::{DisputeStatus, OrderStatus, PaymentStatus};

impl Tx {
    pub async fn set_order_dispute(
        &mut self,
        order_id: &str,
        dispute: DisputeStatus,
        now: i64,
    ) -> Result<(), StoreError> {
        self.run(
            "UPDATE orders SET dispute = $1, updated_at = $2 WHERE id = $3",
            args![dispute, now, order_id],
        )
        .await?;
        Ok(())
    }

    /// Takes `amount` off the payment's refunded amount (never below zero); the payment is
    /// `succeeded` again and a `refunded` order `paid`; `failed_at` (the failure event's Stripe
    /// `created`) is kept, so that an older `charge.refunded` cannot raise it back. Returns the new
    /// refunded amount.
    pub async fn lower_refund(
        &mut self,
        payment: &PaymentRow,
        amount: i64,
        failed_at: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        let refunded = (payment.amount_refunded - amount).max(0);
        self.run(
            "UPDATE payments SET amount_refunded = $1, status = $2, \
                 refund_failed_at = CASE WHEN refund_failed_at IS NULL OR refund_failed_at < $4 \
                 THEN $4 ELSE refund_failed_at END WHERE id = $3",
            args![refunded, PaymentStatus::Succeeded, &payment.id, failed_at],
        )
        .await?;
        self.run(
            "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
            args![
                OrderStatus::Paid,
                now,
                &payment.order_id,
                OrderStatus::Refunded
            ],
        )
        .await?;
        Ok(refunded)
    }
}

impl Tx {
    /// When Stripe last failed one of the payment's refunds, if ever.
    pub async fn refund_failed_at(&mut self, payment_id: &str) -> Result<Option<i64>, StoreError> {
        self.value(
            "SELECT refund_failed_at FROM payments WHERE id = $1",
            args![payment_id],
        )
        .await
    }
}
