//! SQLite's one writer, with group commit.
//!
//! SQLite has one writer per file, and a durable commit costs an fsync of the WAL. Every write
//! transaction of this process on a file therefore goes through one [`SqliteWriter`]: one
//! connection, a first-come-first-served queue of transactions, and **group commit**.
//!
//! - A transaction waits for its turn, then runs in its own `SAVEPOINT` inside an outer
//!   `BEGIN IMMEDIATE` that the writer keeps open while transactions are queued.
//! - Its commit releases the savepoint into the outer transaction. If another transaction is
//!   waiting (and the group is not full), the turn passes on and the committer waits. The last one
//!   of the group commits the outer transaction: one fsync for all of them.
//! - Each committer is answered only after that `COMMIT` is durable. A crash before it loses the
//!   whole group, none of which was answered, so every caller (a webhook: Stripe) retries. The
//!   one exception asks for it: a provisional commit ([`WriterTurn::commit_provisional`]) is
//!   answered as soon as its savepoint is released into the group.
//! - A transaction that fails or is dropped rolls back to its savepoint, so one failure undoes only
//!   itself. If SQLite lost the outer transaction (an I/O error, a full disk), every member of the
//!   group is told its commit failed, as a transient error.
//! - A member sees what earlier members of its group wrote, before that is durable. A caller that
//!   gives up a transaction and answers from what it read (the loser of a race) ends it with
//!   [`WriterTurn::rollback`], which waits for the group's commit like a committer.
//!
//! - **A turn is one trip.** The connection is opened by sqlx, and the same SQLite handle is
//!   also driven in process through rusqlite ([`super::statement`]): a transaction's
//!   statements, its `SAVEPOINT` and its `RELEASE` run synchronously on the task that holds the
//!   turn, prepared once and cached, with no await between them, so a turn cannot be cut off
//!   half-way by a caller that gives up. Only what may wait — connecting, `BEGIN IMMEDIATE`
//!   (other processes' locks), `COMMIT` (the fsync) — goes through sqlx's worker thread, on a task
//!   of its own.
//!
//! Waiting here rather than in SQLite's busy handler is also what makes writers fair: the busy
//! handler sleeps 1, 2, 5 … 100 ms and serves whoever polls at the right moment (p99 in the
//! hundreds of milliseconds under load). Other processes on the same file still meet the busy
//! handler. Reads never come here: they use the pool, and see a group once it is committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::StoreError;

/// At most this many transactions share one commit, so that the first of a long queue is not
/// kept waiting for all the others.
const MAX_GROUP: usize = 64;

/// The writer of one SQLite file, shared by every `Store` of this process on that file.
pub struct SqliteWriter {
    options: SqliteConnectOptions,
    state: Arc<Mutex<WriterState>>,
    /// Transactions waiting for their turn: while there is one, a committer leaves the group open.
    waiting: AtomicUsize,
    busy_timeout: Duration,
}

#[derive(Default)]
struct WriterState {
    /// The same SQLite connection as `conn`, driven in process (see [`super::statement`]):
    /// declared first, so that its cached statements are finalised before `conn` closes.
    sqlite: Option<rusqlite::Connection>,
    conn: Option<SqliteConnection>,
    /// The outer `BEGIN IMMEDIATE` is open.
    open: bool,
    /// Committed savepoints waiting for the outer commit, each with whom to tell.
    group: Vec<oneshot::Sender<Result<(), String>>>,
    /// The last turn ended without releasing or rolling back its savepoint (its future was
    /// dropped mid-statement); the next turn rolls it back first.
    dirty: bool,
}

/// A transaction's turn at the writer: the connection, inside this transaction's savepoint.
/// Dropped without [`WriterTurn::commit`], the savepoint is rolled back.
pub struct WriterTurn {
    writer: Arc<SqliteWriter>,
    state: Option<OwnedMutexGuard<WriterState>>,
    in_savepoint: bool,
    since: Instant,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter")
            .field("file", &self.options.get_filename())
            .finish_non_exhaustive()
    }
}

impl SqliteWriter {
    /// The writer of the file `options` name, made on first use and shared while any store holds it.
    pub fn for_file(options: &SqliteConnectOptions, busy_timeout: Duration) -> Arc<SqliteWriter> {
        use std::collections::HashMap;
        use std::sync::{OnceLock, Weak};
        static WRITERS: OnceLock<
            std::sync::Mutex<HashMap<std::path::PathBuf, Weak<SqliteWriter>>>,
        > = OnceLock::new();
        let file = options.get_filename().to_path_buf();
        let mut writers = WRITERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        writers.retain(|_, w| w.strong_count() > 0);
        if let Some(writer) = writers.get(&file).and_then(Weak::upgrade) {
            return writer;
        }
        let writer = Arc::new(SqliteWriter {
            options: options.clone(),
            state: Arc::default(),
            waiting: AtomicUsize::new(0),
            busy_timeout,
        });
        writers.insert(file, Arc::downgrade(&writer));
        writer
    }

    /// Waits for this transaction's turn and opens its savepoint.
    pub async fn begin(self: &Arc<Self>) -> Result<WriterTurn, StoreError> {
        let waiting = Waiting::new(self.clone());
        let state = tokio::time::timeout(self.busy_timeout, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Unavailable("no turn to write the database in 30 s".into()))?;
        waiting.served();
        let mut turn = WriterTurn {
            writer: self.clone(),
            state: Some(state),
            in_savepoint: false,
            since: Instant::now(),
        };
        // Inside an open group (the usual case under load) a turn needs no await to start: its
        // savepoint is opened here, in process.
        if turn.state().open && turn.state().sqlite.is_some() {
            turn.open_savepoint()?;
            return Ok(turn);
        }
        // Connecting and `BEGIN IMMEDIATE` await (the latter on other processes' locks), on a
        // task of their own: a caller dropped half-way (a reset connection, a request time-out)
        // must never leave the connection in a state the writer does not know of. A turn nobody
        // receives is ended by its `Drop`.
        let (give, take) = oneshot::channel();
        tokio::spawn(async move {
            let opened = turn.open().await;
            let _ = give.send((turn, opened));
        });
        let (turn, opened) = take
            .await
            .map_err(|_| StoreError::Unavailable("the database writer's task ended".into()))?;
        opened?;
        Ok(turn)
    }

    /// Transactions waiting for their turn now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Closes the connection (at shutdown). A later transaction opens a new one.
    pub async fn close(&self) {
        let mut state = self.state.clone().lock_owned().await;
        let _ = clean(&mut state);
        flush(&mut state).await;
        state.sqlite = None;
        if let Some(conn) = state.conn.take() {
            let _ = conn.close().await;
        }
    }

    /// When nobody else will take a turn, a group left open must still be committed.
    fn flush_later(self: &Arc<Self>, state: Option<OwnedMutexGuard<WriterState>>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let lock = self.state.clone();
        runtime.spawn(async move {
            let mut state = match state {
                Some(state) => state,
                None => lock.lock_owned().await,
            };
            let _ = clean(&mut state);
            flush(&mut state).await;
        });
    }
}

impl WriterTurn {
    fn state(&mut self) -> &mut WriterState {
        self.state.as_mut().expect("a turn holds the writer")
    }

    async fn open(&mut self) -> Result<(), StoreError> {
        let writer = self.writer.clone();
        let state = self.state();
        // A failure here is already told to the group it ended; this turn starts a new one.
        let _ = clean(state);
        if state.conn.is_none() {
            let mut conn = writer.options.connect().await?;
            let sqlite = {
                let mut handle = conn.lock_handle().await?;
                // SAFETY: the handle stays open as long as `conn`, which `WriterState` drops
                // after `sqlite` (field order, and `close`). The two are never used at once:
                // only the holder of the writer's turn uses either, and it awaits each sqlx
                // call before its next statement, so sqlx's worker thread is idle whenever
                // `sqlite` runs (the channel between them orders their memory accesses).
                unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }
                    .map_err(StoreError::from)?
            };
            sqlite.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            state.sqlite = Some(sqlite);
            state.conn = Some(conn);
        }
        if !state.open {
            let conn = state.conn.as_mut().expect("connected above");
            if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                // Found inside a transaction the writer did not open: whatever it holds is
                // nobody's (its members were told), so it is rolled back and begun again.
                if !e.to_string().contains("within a transaction") {
                    return Err(e.into());
                }
                fail_group(state, &e.to_string());
                let conn = state.conn.as_mut().expect("connected above");
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            }
            state.open = true;
        }
        self.open_savepoint()
    }

    /// Opens this transaction's savepoint in the writer's open transaction.
    fn open_savepoint(&mut self) -> Result<(), StoreError> {
        let state = self.state();
        let opened = clean(state).and_then(|()| execute(state, "SAVEPOINT caisse_tx"));
        if let Err(e) = opened {
            fail_group(state, &e.to_string());
            return Err(e.into());
        }
        self.in_savepoint = true;
        Ok(())
    }

    /// The writer's connection, inside this transaction's savepoint, for its statements
    /// ([`super::statement`]).
    pub fn sqlite(&mut self) -> &rusqlite::Connection {
        self.state()
            .sqlite
            .as_ref()
            .expect("a turn holds the connected writer")
    }

    /// Commits this transaction with its group; returns once that commit is durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        let group = self.settle(true)?;
        group.durable().await
    }

    /// Commits this transaction with its group, and returns at once: every later turn sees it,
    /// the pool's readers once the group commits, and it is durable with the group (see
    /// `Store::write_provisional`). If the group's commit fails, it is undone after this answer.
    pub fn commit_provisional(self) -> Result<(), StoreError> {
        self.settle(true).map(drop)
    }

    /// Rolls this transaction back, then waits until what it read of earlier members of its group
    /// is durable: a caller that answers from those reads (a lost race) answers nothing that a
    /// failed group commit could take back.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.settle(false)?.durable().await
    }

    /// Releases (`keep`) or rolls back this transaction's savepoint, joins its group (a rollback
    /// only when there is a group whose writes it may have read) and hands the turn on. The
    /// group's commit is made by this member, on a task of its own, when nobody else is queued
    /// or the group is full; the [`Group`] returned tells when it is durable.
    fn settle(mut self, keep: bool) -> Result<Group, StoreError> {
        let mut state = self.state.take().expect("a turn holds the writer");
        self.in_savepoint = false;
        self.end_turn();
        let ended = if keep {
            execute(&mut state, "RELEASE caisse_tx")
        } else {
            state.dirty = true;
            clean(&mut state)
        };
        if let Err(e) = ended {
            // SQLite lost the outer transaction (or the connection): the group with it.
            fail_group(&mut state, &e.to_string());
            return Err(StoreError::Unavailable(format!(
                "the group commit failed: {e}"
            )));
        }
        if !keep && state.group.is_empty() {
            return Ok(Group(None));
        }
        let (told, outcome) = oneshot::channel();
        state.group.push(told);
        if self.writer.waiting.load(Ordering::SeqCst) == 0 || state.group.len() >= MAX_GROUP {
            tokio::spawn(async move { flush(&mut state).await });
        } else {
            // The next turn holds the group open, and its last member commits it.
            drop(state);
        }
        Ok(Group(Some(outcome)))
    }

    fn end_turn(&self) {
        metrics::histogram!("caisse_db_write_turn_seconds", "db" => "sqlite")
            .record(self.since.elapsed().as_secs_f64());
    }
}

/// The group a settled transaction joined (none: a rollback that read nothing of anyone's).
struct Group(Option<oneshot::Receiver<Result<(), String>>>);

impl Group {
    /// Waits until the group's commit is durable.
    async fn durable(self) -> Result<(), StoreError> {
        let Some(outcome) = self.0 else {
            return Ok(());
        };
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!(
                "the group commit failed: {e}"
            ))),
            Err(_) => Err(StoreError::Unavailable(
                "the group commit was abandoned".into(),
            )),
        }
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        self.end_turn();
        // Dropped inside its savepoint (an error returned early, a caller gone): undone now.
        state.dirty = self.in_savepoint;
        let _ = clean(&mut state);
        if self.writer.waiting.load(Ordering::SeqCst) == 0 {
            self.writer.flush_later(Some(state));
        }
    }
}

/// How many prepared statements the writer's connection keeps: every statement of caisse's
/// units of work, with room.
const STATEMENT_CACHE: usize = 256;

/// One of the writer's own statements, in process, prepared once (a turn runs two of them).
fn execute(state: &mut WriterState, sql: &str) -> rusqlite::Result<()> {
    match state.sqlite.as_ref() {
        Some(sqlite) => sqlite.prepare_cached(sql)?.execute([]).map(|_| ()),
        None => Err(rusqlite::Error::InvalidQuery),
    }
}

/// Rolls back the savepoint a turn left open. If that fails, SQLite lost the outer transaction,
/// and the group with it.
fn clean(state: &mut WriterState) -> rusqlite::Result<()> {
    if !std::mem::take(&mut state.dirty) || state.sqlite.is_none() {
        return Ok(());
    }
    let undone =
        execute(state, "ROLLBACK TO caisse_tx").and_then(|()| execute(state, "RELEASE caisse_tx"));
    if let Err(e) = &undone {
        fail_group(state, &e.to_string());
    }
    undone
}

/// Ends the outer transaction: commits the group (one fsync, through sqlx's worker thread, so
/// that the wait is not on an async worker), or rolls back an empty one, and tells every member.
async fn flush(state: &mut WriterState) {
    if !state.open {
        return;
    }
    if state.group.is_empty() {
        let _ = execute(state, "ROLLBACK");
        state.open = false;
        return;
    }
    let Some(conn) = state.conn.as_mut() else {
        return;
    };
    let group = std::mem::take(&mut state.group);
    let committing = Instant::now();
    let committed = sqlx::query("COMMIT").execute(&mut *conn).await;
    metrics::histogram!("caisse_db_commit_seconds", "db" => "sqlite")
        .record(committing.elapsed().as_secs_f64());
    metrics::histogram!("caisse_db_group_commit_size").record(group.len() as f64);
    match committed {
        Ok(_) => {
            state.open = false;
            for member in group {
                let _ = member.send(Ok(()));
            }
        }
        Err(e) => {
            state.group = group;
            fail_group(state, &e.to_string());
        }
    }
}

/// The outer transaction is lost or cannot commit: roll it back and tell every member.
fn fail_group(state: &mut WriterState, why: &str) {
    let _ = execute(state, "ROLLBACK");
    state.open = false;
    state.dirty = false;
    for member in std::mem::take(&mut state.group) {
        let _ = member.send(Err(why.to_string()));
    }
}

/// Counts a transaction waiting for its turn. Given up before its turn (its future dropped), it
/// makes sure a group left open for it is committed by someone.
struct Waiting {
    writer: Arc<SqliteWriter>,
    served: bool,
}

impl Waiting {
    fn new(writer: Arc<SqliteWriter>) -> Waiting {
        writer.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting {
            writer,
            served: false,
        }
    }

    fn served(mut self) {
        self.served = true;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let left = self.writer.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        if !self.served && left == 0 {
            self.writer.flush_later(None);
        }
    }
}
