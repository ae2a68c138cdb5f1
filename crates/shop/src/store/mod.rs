//! The store: one type over SQLite and PostgreSQL, chosen by the scheme of `DATABASE_URL`.
//!
//! Every query is written once, in SQL both databases accept (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`). The pool's reads run on either backend through [`on_conn!`], which expands the
//! same sqlx code for each arm of the enum; a transaction's statements run through [`statement`]
//! (`Tx::run`, `row`, …), on SQLite in process on the writer's connection. Every write is a unit of work, [`Store::write`] (see [`unit_of_work`]): on
//! SQLite its transaction queues for the file's one writer and run in a savepoint of its `BEGIN IMMEDIATE` (group commit, see
//! [`sqlite_writer`]), so a transaction that reads then writes holds the write lock from its start
//! and never fails half-way with `SQLITE_BUSY`; on PostgreSQL the conditional `UPDATE … WHERE` and `SELECT … FOR
//! UPDATE` statements of the submodules make each check-and-write one step.

mod admin;
mod alert_notices;
mod alerts;
mod audit;
mod backup;
mod catalog;
mod dashboard;
mod disputes;
mod error;
mod export;
mod fulfilment;
mod hold_cancel;
mod hold_keys;
mod holds;
mod operators;
mod orders;
mod outbox;
#[cfg(test)]
mod query_plans;
mod readiness;
mod retention;
mod shipping;
mod shop_database;
#[cfg(test)]
mod sqlite_checks;
mod sqlite_files;
mod sqlite_writer;
mod statement;
mod status_columns;
mod stock;
mod stock_settle;
mod stripe_requests;
mod unit_of_work;
mod webhook_events;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, SqlitePool, Transaction};

pub use admin::{AdminSession, NewAdminSession, ADMIN};
pub use alert_notices::PendingAlert;
pub use alerts::{Alert, NewAlert, Severity};
pub use audit::{AuditEntry, AuditRecord};
pub use backup::BackupError;
pub use catalog::Product;
pub use dashboard::{
    AuditFilter, DayRevenue, EventDetail, EventListRow, OrderRow, OrderSearch, Overview, Revenue,
    PAGE,
};
pub use error::{ConstraintKind, StoreError};
pub use export::{ExportFilter, ExportRow};
pub use fulfilment::OrderDelivery;
pub use holds::{Hold, HoldItem, HoldLink, HoldReference, NewHold, OpenHolds, Owner, Shortage};
pub use operators::{OperatorCredentials, OperatorRow, Removal};
pub use orders::{NewOrder, NewPayment, OrderLine, OrderSummary, PaymentRow};
pub use outbox::OutboxRow;
pub use readiness::{WriteProbe, PROBE_TIMEOUT};
pub use retention::Pruned;
pub use shipping::OrderShipping;
pub use shop_database::Missing;
use shop_database::{inspect_file, not_a_shop, FileState};
pub use sqlite_writer::{SqliteWriter, WriterTurn};
pub use statement::{Arg, Column, TxRow};
pub use stock::{BelowHeld, ProductStock, StockRefusal};
pub use stock_settle::STOCK_NOW;
pub use stripe_requests::StripeRequestRow;
use unit_of_work::Durability;
pub use unit_of_work::{forbid_network_in_transaction, in_transaction, Outage, OutageAlarm};
pub use webhook_events::{Claim, EventRow, NewEvent};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A pool on one of the two databases. Cheap to clone. On SQLite, reads use the pool and every
/// write transaction goes through the file's one [`SqliteWriter`] (group commit).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool, Arc<SqliteWriter>),
    Postgres(PgPool),
}

/// A write transaction on either database. Dropped without [`Tx::commit`], it rolls back.
/// On SQLite it is a savepoint in the writer's group ([`WriterTurn`]).
pub enum Tx {
    Sqlite(WriterTurn),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs the same code on whichever pool `$store` holds, with `$c` bound to an executor of that
/// backend. A unit of work's statements go through [`statement`] instead.
macro_rules! on_conn {
    (pool $store:expr, |$c:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool, _) => {
                let $c = pool;
                $body
            }
            $crate::store::Store::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// What every PostgreSQL write transaction sets besides its durability (see [`POSTGRES_BEGIN`]).
macro_rules! postgres_limits {
    () => {
        "SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '15s'"
    };
}

/// How every PostgreSQL write transaction begins: `BEGIN` and what the transaction sets for
/// itself (`SET LOCAL`, so that it holds on a pooled server connection behind PgBouncer too),
/// sent together as one simple query, one round trip:
/// - `synchronous_commit = on`: a 2xx is a promise, so the commit is durable before it is
///   answered, whatever the server's or the database's default;
/// - `lock_timeout`: a row lock held too long (a stuck session) fails this transaction as
///   transient — a webhook answers 503 and Stripe retries — instead of piling up connections;
/// - `statement_timeout`: no statement runs past the request time limit's order of magnitude.
pub const POSTGRES_BEGIN: &str = concat!(
    "BEGIN; SET LOCAL synchronous_commit = on; ",
    postgres_limits!()
);

/// How a [`Store::write_provisional`] begins on PostgreSQL: its commit does not wait for the
/// log's flush, which the next durable commit's flush covers.
const POSTGRES_BEGIN_PROVISIONAL: &str = concat!(
    "BEGIN; SET LOCAL synchronous_commit = off; ",
    postgres_limits!()
);

/// Sets SQLite's process-wide options, once per process, before its first connection, then
/// registers caisse's VFS ([`sqlite_files`]), which starts SQLite. Memory statistics off: they put
/// a global mutex around every allocation SQLite makes, a lock and an unlock that were 8 % of a
/// webhook's CPU (perf, issue 23), for figures caisse never reads. The savepoints' sub-journals in
/// memory up to [`SUB_JOURNAL_IN_MEMORY`]. Refused (and harmless) once SQLite has started, as its
/// documentation says of every `sqlite3_config`.
fn sqlite_process_options() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: start-up options with an int argument, as SQLite documents them; called
        // before this process opens any SQLite connection (the store opens them all).
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                SUB_JOURNAL_IN_MEMORY,
            );
        }
        sqlite_files::register();
    });
}

/// How large a savepoint's sub-journal grows in memory, in one buffer, before SQLite moves it to
/// a temporary file. Every transaction of the writer is a savepoint (group commit), which keeps
/// the first version of each page it changes: an effect changes about 30 (120 KiB), past SQLite's
/// default of 64 KiB, and the file's writes were a quarter of an effect's CPU. `temp_store =
/// memory` keeps it in memory too, but in 1 KiB chunks, five allocations and five frees per page:
/// 7 % of the CPU (perf, issue 23). A larger journal (a big catalog import) spills to a file in
/// SQLite's temporary directory, as do sorts past its cache (`SQLITE_TMPDIR`, else `TMPDIR`, else
/// `/var/tmp` or `/tmp`; the systemd unit gives a private one), written in pieces by
/// [`sqlite_files`]: SQLite's unix files alone cut the spill's one large write short.
const SUB_JOURNAL_IN_MEMORY: std::ffi::c_int = 1 << 20;

/// One run of the SQLite migrations. SQLite changes a table's constraints by rebuilding it, which
/// needs foreign keys off (a PRAGMA that is ignored inside the migration's transaction). The
/// connection is detached afterwards, so the pool never gets it back in that state.
async fn migrate_sqlite(pool: &SqlitePool, migrator: &Migrator) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut conn)
        .await?;
    let result = migrator.run(&mut conn).await;
    let checked: Result<Vec<(String,)>, sqlx::Error> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&mut conn)
            .await;
    let _ = sqlx::Connection::close(conn).await;
    result?;
    if let Some((table,)) = checked?.into_iter().next() {
        return Err(StoreError::Migration(format!(
            "a migration left rows of {table} without their parent"
        )));
    }
    Ok(())
}

/// A pooled PostgreSQL connection that sat idle this long is tested (one round trip) before it is
/// lent: a server restarted, or a proxy or firewall that dropped it while the shop was quiet,
/// then costs a reconnection instead of a failed request. sqlx tests every connection it lends,
/// which under load was one round trip more per transaction (a tenth of a webhook effect's) for
/// connections that were in use a moment before; one that dies in use fails its request either
/// way.
pub const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long a PostgreSQL request waits for a connection from the pool: a server that is down (or
/// refuses connections) is a 503 with `Retry-After` in 3 s, not after a load balancer's patience
/// ran out; a busy pool lends one within milliseconds (16 connections, transactions of a few ms).
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a connection waits for SQLite's write lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens the pool named by `url` (`sqlite://path`, `postgres://…`), creating a SQLite file
    /// that is not there.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::open(url, Missing::Create).await
    }

    /// Opens the pool named by `url`; `missing` says what a database that is not a shop's does.
    pub async fn open(url: &str, missing: Missing) -> Result<Store, StoreError> {
        let store = Store::open_pool(url, missing).await?;
        if missing == Missing::Refuse && !store.is_a_shop().await? {
            store.close().await;
            return Err(not_a_shop(&crate::secret::redact_url(url)));
        }
        Ok(store)
    }

    async fn open_pool(url: &str, missing: Missing) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            sqlite_process_options();
            if let Some(why) = unsupported_url(url) {
                return Err(StoreError::Config(format!("DATABASE_URL: {why}")));
            }
            let options = SqliteConnectOptions::from_str(url)?;
            let file = options.get_filename();
            if missing == Missing::Refuse && !file.exists() {
                return Err(StoreError::Config(format!(
                    "there is no SQLite database at {} (`caisse migrate` creates one; a shop's \
                     database is where `caisse serve` or `caisse dev` ran)",
                    file.display()
                )));
            }
            let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
            if folder.is_some_and(|f| !f.is_dir()) {
                return Err(StoreError::Config(format!(
                    "the folder of the SQLite database {} does not exist (caisse creates the file, \
                     not its folder)",
                    file.display()
                )));
            }
            // Read-only, before the pool's connections set the journal mode: a file that is not
            // a shop's is left exactly as it was, and is never made one by mistake.
            if file.exists() {
                let what = format!("the SQLite file {}", file.display());
                match inspect_file(file) {
                    FileState::Shop => {}
                    FileState::Empty if missing == Missing::Create => {}
                    FileState::Empty => return Err(not_a_shop(&what)),
                    FileState::Foreign => {
                        return Err(StoreError::Config(format!(
                            "{what} holds another program's tables, not a shop's: caisse keeps a \
                             database of its own (name another file in DATABASE_URL)"
                        )))
                    }
                    // serve and dev never refuse to start on what a read-only look could not
                    // tell: opening it for real says what is wrong, if anything.
                    FileState::Unreadable(_) if missing == Missing::Create => {}
                    FileState::Unreadable(why) => {
                        return Err(StoreError::Config(format!(
                            "{what} is not a SQLite database caisse can read ({why})"
                        )))
                    }
                }
            }
            let options = options
                .create_if_missing(missing == Missing::Create)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a webhook's commit is on disk before its 2xx leaves (DESIGN.md 1.3, 5).
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                // (The savepoints' sub-journals stay in memory: `SUB_JOURNAL_IN_MEMORY`.)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A file has no other end to hang up; sqlx's test of every lent connection was a
                // hop to its worker thread and back before each read.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await?;
            let writer = SqliteWriter::for_file(&options, SQLITE_BUSY_TIMEOUT);
            Ok(Store::Sqlite(pool, writer))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // No start-up `options`: PgBouncer in transaction mode refuses them. Each write
            // transaction sets what it needs itself (see `begin`).
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= POSTGRES_PING_AFTER_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Store::Postgres(pool))
        } else {
            Err(StoreError::Config(
                "DATABASE_URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Store::Sqlite(..) => &SQLITE_MIGRATIONS,
            Store::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies the pending migrations of this backend. Safe to run from several instances at once:
    /// sqlx takes an advisory lock on PostgreSQL; on SQLite, whose migrations take no lock, an
    /// instance that meets another's migration (the file locked, or a migration that fails
    /// because the other one applied it meanwhile: a table that already exists, an index that
    /// is already gone) tries again, and finds it applied.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = self.migrator();
        match self {
            Store::Sqlite(pool, _) => {
                let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
                let mut conflicts = 0;
                loop {
                    let before = self.applied_version().await.ok();
                    let Err(e) = migrate_sqlite(pool, migrator).await else {
                        return Ok(());
                    };
                    let why = e.to_string();
                    let locked = ["database is locked", "(code: 5)", "(code: 517)"]
                        .iter()
                        .any(|m| why.contains(m));
                    // Another instance applied a migration while this one ran it.
                    let after = self.applied_version().await.ok();
                    let raced = matches!((before, after), (Some(b), Some(a)) if a > b);
                    conflicts += usize::from(raced);
                    if !(locked || raced) || conflicts > 10 || std::time::Instant::now() > deadline
                    {
                        return Err(e);
                    }
                    let pause = 50 + rand::random::<u64>() % 200;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
            Store::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    /// True when the database answers and every migration this binary knows is applied.
    pub async fn is_ready(&self) -> Result<bool, StoreError> {
        let latest = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        Ok(self.applied_version().await? == Some(latest))
    }

    /// The latest migration applied; none before the first.
    async fn applied_version(&self) -> Result<Option<i64>, StoreError> {
        on_conn!(pool self, |c| {
            sqlx::query_scalar(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
            )
            .fetch_one(c)
            .await
        })
        .or_else(none_without_migrations)
    }

    /// Begins a write transaction: on SQLite a savepoint in the writer's group. Private: every
    /// write goes through [`Store::write`].
    async fn begin(&self, durability: Durability) -> Result<Tx, StoreError> {
        let asked = std::time::Instant::now();
        Ok(match self {
            // Where a write's time goes, for `caisse-bench` and operators: waiting for a
            // connection (and on SQLite for the writer's turn), holding the turn, committing.
            Store::Sqlite(_, writer) => {
                let turn = writer.begin().await?;
                metrics::histogram!("caisse_db_write_wait_seconds", "db" => "sqlite")
                    .record(asked.elapsed().as_secs_f64());
                Tx::Sqlite(turn)
            }
            Store::Postgres(pool) => {
                let tx = pool
                    .begin_with(match durability {
                        Durability::BeforeAnswer => POSTGRES_BEGIN,
                        Durability::WithNextDurableWrite => POSTGRES_BEGIN_PROVISIONAL,
                    })
                    .await?;
                metrics::histogram!("caisse_db_write_wait_seconds", "db" => "postgres")
                    .record(asked.elapsed().as_secs_f64());
                Tx::Postgres(tx)
            }
        })
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool, writer) => {
                writer.close().await;
                pool.close().await
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// Why a database URL that names a backend cannot be a shop's, if it cannot: an in-memory SQLite
/// database (the writer has its own connection, which would be another, empty database).
/// `config check` says it too, before any command tries.
pub fn unsupported_url(url: &str) -> Option<&'static str> {
    (url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory")))
        .then_some("an in-memory SQLite database is not supported; name a file")
}

/// A read of sqlx's migrations table on a database that has none: reachable but never migrated,
/// so nothing is found. Any other error is the database's, and says so.
fn none_without_migrations<T>(e: sqlx::Error) -> Result<Option<T>, StoreError> {
    match e {
        sqlx::Error::Database(db) if is_missing_table(db.code().as_deref(), db.message()) => {
            Ok(None)
        }
        other => Err(StoreError::from(other)),
    }
}

/// PostgreSQL's `undefined_table`, or SQLite's "no such table" (a generic error code 1).
fn is_missing_table(code: Option<&str>, message: &str) -> bool {
    code == Some("42P01") || (code == Some("1") && message.starts_with("no such table"))
}

impl Tx {
    /// `" FOR UPDATE"` on PostgreSQL; nothing on SQLite, whose `BEGIN IMMEDIATE` already holds
    /// the only write lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self {
            Tx::Sqlite(..) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Rolls back, and on SQLite waits for the group whose writes this transaction may have read
    /// (see [`WriterTurn::rollback`]): for a caller that answers from what it read.
    async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(turn) => turn.rollback().await,
            Tx::Postgres(tx) => Ok(tx.rollback().await?),
        }
    }

    async fn commit(self, durability: Durability) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(turn) => match durability {
                Durability::BeforeAnswer => turn.commit().await?,
                Durability::WithNextDurableWrite => turn.commit_provisional()?,
            },
            Tx::Postgres(tx) => {
                let committing = std::time::Instant::now();
                tx.commit().await?;
                metrics::histogram!("caisse_db_commit_seconds", "db" => "postgres")
                    .record(committing.elapsed().as_secs_f64());
            }
        }
        Ok(())
    }
}

/// Current unix time in seconds, the unit of every timestamp column.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
