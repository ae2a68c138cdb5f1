//! The `Idempotency-Key`s of holds: a key belongs to its client (the signed-in customer, or for
//! guests the client network: `idempotency_scope`) for 24 hours; the lookups a repeated checkout
//! makes, and the writes that free a key.

use super::holds::COLUMNS;
use super::statement::args;
use super::{Hold, StoreError, Tx};

impl Tx {
    /// Frees a key whose 24 hours are over, so that the client may use it again.
    pub async fn retire_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        before: i64,
    ) -> Result<(), StoreError> {
        self.run(
            "UPDATE holds SET idempotency_key = NULL \
             WHERE idempotency_scope = $1 AND idempotency_key = $2 AND created_at <= $3",
            args![scope, key, before],
        )
        .await?;
        Ok(())
    }

    /// Frees the key of a checkout that failed before reaching Stripe, so a retry with the same
    /// key starts afresh instead of replaying the failure.
    pub async fn clear_hold_idempotency_key(&mut self, hold_id: &str) -> Result<(), StoreError> {
        self.run(
            "UPDATE holds SET idempotency_key = NULL WHERE id = $1",
            args![hold_id],
        )
        .await?;
        Ok(())
    }

    /// Makes the transactions of one client's key run one after the other, from before the
    /// key's lookup: on PostgreSQL a second request with the key would otherwise miss the first's
    /// uncommitted hold, then wait for it on the owner's or the product's lock, and be refused
    /// for the caps or the stock the first one took instead of answered with its checkout.
    pub async fn lock_idempotency_key(&mut self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.lock_name(&format!("idempotency_key:{scope}:{key}"))
            .await
    }

    /// The hold a client made with `key` since `since` (keys live 24 hours).
    pub async fn hold_by_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        since: i64,
    ) -> Result<Option<Hold>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM holds WHERE idempotency_scope = $1 AND idempotency_key = $2 AND created_at > $3"
        );
        self.row(&sql, args![scope, key, since]).await
    }

    /// The newest hold `customer_id` made with `key` since `since`, from whichever network: a
    /// guest that kept its cookie and moved from Wi-Fi to 4G retries from another scope.
    pub async fn customer_hold_by_key(
        &mut self,
        customer_id: &str,
        key: &str,
        since: i64,
    ) -> Result<Option<Hold>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM holds WHERE customer_id = $1 AND idempotency_key = $2 AND created_at > $3 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        self.row(&sql, args![customer_id, key, since]).await
    }
}
