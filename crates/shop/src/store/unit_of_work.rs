//! The unit of work: [`Store::write`] is the only way to write the database.
//!
//! Its closure receives the transaction and nothing else. Everything a write needs from outside
//! (a policy, a value read from Stripe) is computed before and captured as plain data; everything
//! that must reach the network because of a write (an email, a refund) is an outbox row the
//! closure writes, sent by a worker after the commit. So a Stripe, SMTP or Redis call cannot wait
//! inside a transaction: the writer of an SQLite file, or a row lock on PostgreSQL, is never held
//! across one. [`in_transaction`] lets the network clients check it: they refuse to run inside a
//! unit of work (and a debug build panics), so a violation fails the first test that takes the
//! path rather than a shop under load.
//!
//! It commits when the closure returns `Ok` and rolls back when it returns `Err`. Either way it
//! returns only once what the caller saw is durable (but for [`Store::write_provisional`]'s
//! commit, which asks not to wait): on SQLite, a transaction may have read what
//! earlier members of its group wrote (see [`super::sqlite_writer`]), so a rollback waits for that
//! group's commit too, and fails as transient if the group is lost.
//!
//! Errors are classified once, in [`StoreError`]: transient ones (the database is down, busy, full,
//! or a time-out passed) answer 503 with `Retry-After` and raise at most one alert per outage
//! ([`OutageAlarm`], kept by the callers that answer); anything else is permanent.

use std::sync::atomic::{AtomicI64, Ordering};

use super::{Store, StoreError, Tx};

tokio::task_local! {
    static IN_TRANSACTION: ();
}

/// True inside the closure of a [`Store::write`] (on that task).
pub fn in_transaction() -> bool {
    IN_TRANSACTION.try_with(|_| ()).is_ok()
}

/// What a network client calls before it sends: an error (and in a debug build a panic) inside a
/// unit of work.
pub fn forbid_network_in_transaction(what: &str) -> Result<(), String> {
    if in_transaction() {
        debug_assert!(false, "{what} called inside a database transaction");
        return Err(format!(
            "{what} refused: it was called inside a database transaction"
        ));
    }
    Ok(())
}

/// When a committed unit of work is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Durability {
    /// Once its commit is durable: what a promise rests on (a webhook's 2xx, a checkout's 201).
    BeforeAnswer,
    /// Once every later write sees it; durable with the first durable commit after it.
    WithNextDurableWrite,
}

impl Store {
    /// Runs `work` in one write transaction: commit on `Ok`, roll back on `Err`, and answer only
    /// once what `work` saw is durable.
    pub async fn write<T, E>(&self, work: impl AsyncFnOnce(&mut Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + std::fmt::Display,
    {
        self.unit(Durability::BeforeAnswer, work).await
    }

    /// Runs `work` like [`Store::write`], but a commit is answered once every later write sees
    /// it, without waiting for it to be durable: it becomes durable with the first durable commit
    /// after it, since SQLite's WAL and PostgreSQL's log are written and synced in order (on
    /// SQLite it is committed with its group; on PostgreSQL with `synchronous_commit = off`).
    /// Until then a crash, or on SQLite a failed group commit, can still take it back.
    ///
    /// For a write that nobody outside the process learns of before a durable write that depends
    /// on it and checks that it is still there: the checkout's hold, which only its Stripe call
    /// follows before the session is recorded on the hold's row (durably) and the 201 leaves. It
    /// takes one commit's wait off every checkout.
    pub async fn write_provisional<T, E>(
        &self,
        work: impl AsyncFnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + std::fmt::Display,
    {
        self.unit(Durability::WithNextDurableWrite, work).await
    }

    async fn unit<T, E>(
        &self,
        durability: Durability,
        work: impl AsyncFnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + std::fmt::Display,
    {
        let mut tx = self.begin(durability).await?;
        match IN_TRANSACTION.scope((), work(&mut tx)).await {
            Ok(value) => {
                tx.commit(durability).await?;
                Ok(value)
            }
            Err(e) => match tx.rollback().await {
                Ok(()) => Err(e),
                // The transaction is lost (its group with it, on SQLite): a transient failure.
                // SQLite may have ended it because of `work`'s own error (a full disk does, and
                // takes the savepoint with it), when the rollback's error says only "no such
                // savepoint": the cause is told too.
                Err(lost) => {
                    let lost = match lost {
                        StoreError::Unavailable(why) => why,
                        other => other.to_string(),
                    };
                    Err(StoreError::Unavailable(format!(
                        "{lost}; the transaction had failed with: {e}"
                    ))
                    .into())
                }
            },
        }
    }
}

/// At most one alert per database outage: the first transient failure seen by its owner starts an
/// outage, and the first success after it ends it. The alert is raised when
/// the database answers again (during the outage it could not be written), with a dedup key per
/// hour of the outage's start, so that several instances that saw one outage raise one alert.
#[derive(Debug, Default)]
pub struct OutageAlarm {
    /// Unix time the current outage started; 0 when there is none.
    since: AtomicI64,
    /// Transient failures seen in the current outage.
    failures: AtomicI64,
}

/// An outage that has ended: when it started, and how many writes it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    pub since: i64,
    pub failures: i64,
}

impl OutageAlarm {
    /// Counts a transient failure of the database now.
    pub fn failed(&self, now: i64) {
        let _ = self
            .since
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
        self.failures.fetch_add(1, Ordering::SeqCst);
    }

    /// The outage that a success ends, if one was under way.
    pub fn recovered(&self) -> Option<Outage> {
        // Every successful delivery asks: a read, not a write, when nothing failed.
        if self.since.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let since = self.since.swap(0, Ordering::SeqCst);
        let failures = self.failures.swap(0, Ordering::SeqCst);
        (since != 0).then_some(Outage { since, failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once_with_its_start_and_its_failures() {
        let alarm = OutageAlarm::default();
        assert_eq!(alarm.recovered(), None, "no outage without a failure");
        alarm.failed(1_000);
        alarm.failed(1_005);
        alarm.failed(1_009);
        assert_eq!(
            alarm.recovered(),
            Some(Outage {
                since: 1_000,
                failures: 3
            })
        );
        assert_eq!(alarm.recovered(), None, "told once");
        alarm.failed(2_000);
        assert_eq!(
            alarm.recovered(),
            Some(Outage {
                since: 2_000,
                failures: 1
            }),
            "a later outage is a new one"
        );
    }
}
