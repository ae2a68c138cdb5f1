//! The cancel endpoint's claim on a hold (`holds.cancel_requested_at`): one cancel per hold asks
//! Stripe to expire its session, whatever the number of requests, requests at once, or
//! instances; the others answer from the database.

use super::statement::args;
use super::Tx;
use crate::store::StoreError;

impl Tx {
    /// Claims the hold's one call to Stripe for its cancel; false when another cancel has it (or
    /// had it and succeeded).
    pub async fn claim_hold_cancel(&mut self, hold_id: &str, now: i64) -> Result<bool, StoreError> {
        let rows = self
            .run(
                "UPDATE holds SET cancel_requested_at = $1 \
             WHERE id = $2 AND cancel_requested_at IS NULL",
                args![now, hold_id],
            )
            .await?;
        Ok(rows == 1)
    }

    /// Gives the claim back when Stripe did not answer, so that the customer's retry asks again.
    pub async fn drop_hold_cancel(&mut self, hold_id: &str) -> Result<(), StoreError> {
        self.run(
            "UPDATE holds SET cancel_requested_at = NULL WHERE id = $1",
            args![hold_id],
        )
        .await?;
        Ok(())
    }
}
