//! `caisse backup FILE`: a consistent copy of the SQLite database, taken while caisse serves.
//!
//! SQLite's `VACUUM INTO` reads the database in one read transaction (a snapshot, in WAL mode, that
//! writers do not wait for) and writes a compact, self-contained copy: every transaction committed
//! before it started is in it, none that committed after. PostgreSQL has its own tools.

use std::path::Path;

use super::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: caisse backup never overwrites a file")]
    Exists(String),
    #[error(
        "the database is PostgreSQL: back it up with pg_dump (pg_dump -Fc -f caisse.dump \"$DATABASE_URL\"), or your provider's snapshots"
    )]
    Postgres,
    #[error("cannot create {0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Writes a copy of the SQLite database to `path`, which must not exist yet.
    pub async fn backup_to(&self, path: &Path) -> Result<(), BackupError> {
        let Store::Sqlite(pool, _) = self else {
            return Err(BackupError::Postgres);
        };
        let shown = path.display().to_string();
        // Created here, exclusively, so that two backups or another program cannot race for the
        // name; `VACUUM INTO` accepts an empty file.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(shown))
            }
            Err(e) => return Err(BackupError::Io(shown, e)),
        }
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(path.to_string_lossy().into_owned())
            .execute(pool)
            .await;
        if let Err(e) = copied {
            // No half-written copy left behind to be mistaken for a backup.
            let _ = std::fs::remove_file(path);
            return Err(StoreError::from(e).into());
        }
        Ok(())
    }
}
