//! Which databases are a shop's: caisse's first migration, recognised by its checksum (another
//! program may keep sqlx's migrations table too), and what opening one that is not does
//! ([`Missing`]): serve, dev and the tools that set a shop up make it one; every other tool
//! refuses it and leaves it exactly as it was (a SQLite file is read read-only first).

use sqlx::migrate::Migrator;

use super::{none_without_migrations, on_conn, Store, StoreError, SQLITE_MIGRATIONS};

/// What opening a database does when it is not a shop's yet: no SQLite file there, or a database
/// (an empty file, another program's, a new PostgreSQL database) with no migration of caisse's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Makes it one (serve, dev, and the tools that set a shop up, which migrate it).
    Create,
    /// Refuses: a tool that reads or acts on a shop's data would otherwise work on a new, empty
    /// database (a mistyped path, the wrong folder), or migrate another program's, and report
    /// success.
    Refuse,
}

impl Store {
    /// Whether caisse's first migration is applied here, by its checksum: another program's
    /// database may keep sqlx's migrations table too.
    pub(super) async fn is_a_shop(&self) -> Result<bool, StoreError> {
        let (version, checksum) = first_migration(self.migrator());
        let found: Option<Vec<u8>> = on_conn!(pool self, |c| {
            sqlx::query_scalar(
                "SELECT checksum FROM _sqlx_migrations WHERE version = $1 AND success = TRUE",
            )
            .bind(version)
            .fetch_optional(c)
            .await
        })
        .or_else(none_without_migrations)?;
        Ok(found.as_deref() == Some(checksum))
    }
}

pub(super) fn not_a_shop(what: &str) -> StoreError {
    StoreError::Config(format!(
        "{what} has no migration of caisse's: it is not a shop's database (`caisse migrate` makes \
         it one)"
    ))
}

/// The version and checksum of a migrator's first migration: what makes a database caisse's.
fn first_migration(migrator: &Migrator) -> (i64, &[u8]) {
    migrator
        .iter()
        .next()
        .map_or((0, &[][..]), |m| (m.version, &m.checksum[..]))
}

/// What an existing SQLite file holds, as [`inspect_file`] reads it.
pub(super) enum FileState {
    /// caisse's first migration, by its checksum ([`Store::is_a_shop`]).
    Shop,
    /// No table at all (an empty file): a shop can be made of it.
    Empty,
    /// Tables, but not caisse's migrations (another program's, sqlx's table of its own included).
    Foreign,
    /// Not a database SQLite opens (a directory, a text file, a damaged database).
    Unreadable(String),
}

/// Reads what an existing SQLite file holds without writing anything (not even the journal mode
/// that the pool's connections set).
pub(super) fn inspect_file(file: &std::path::Path) -> FileState {
    use rusqlite::OpenFlags;
    let read = || -> rusqlite::Result<FileState> {
        let conn = rusqlite::Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get(0),
        )?;
        if tables == 0 {
            return Ok(FileState::Empty);
        }
        let (version, checksum) = first_migration(&SQLITE_MIGRATIONS);
        let found = conn.query_row(
            "SELECT checksum FROM _sqlx_migrations WHERE version = ?1 AND success = TRUE",
            [version],
            |row| row.get::<_, Vec<u8>>(0),
        );
        Ok(match found {
            Ok(found) if found == checksum => FileState::Shop,
            _ => FileState::Foreign,
        })
    };
    read().unwrap_or_else(|e| FileState::Unreadable(e.to_string()))
}
