//! What can go wrong in the store, sorted by what the caller should do about it.

/// A store failure. `Constraint` is the database refusing to break an invariant (a caller bug or a
/// lost race, never retried); `Unavailable` is transient (retry, or answer 503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("constraint {kind:?} refused the write: {message}")]
    Constraint {
        kind: ConstraintKind,
        message: String,
    },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {message}")]
    Database { message: String },
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Config(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    Check,
    ForeignKey,
    NotNull,
    Other,
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Constraint {
                kind: ConstraintKind::Unique,
                ..
            }
        )
    }

    pub fn is_check_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Constraint {
                kind: ConstraintKind::Check,
                ..
            }
        )
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match e {
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                let kind = match db.kind() {
                    ErrorKind::UniqueViolation => ConstraintKind::Unique,
                    ErrorKind::CheckViolation => ConstraintKind::Check,
                    ErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
                    ErrorKind::NotNullViolation => ConstraintKind::NotNull,
                    _ => {
                        let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                        let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                        let message = match (sqlite, code.parse()) {
                            (true, Ok(extended)) => sqlite_message(extended, message),
                            _ => message,
                        };
                        return if is_transient_code(&code, sqlite) {
                            StoreError::Unavailable(message)
                        } else {
                            StoreError::Database { message }
                        };
                    }
                };
                StoreError::Constraint { kind, message }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Configuration(c) => StoreError::Config(c.to_string()),
            other => StoreError::Database {
                message: other.to_string(),
            },
        }
    }
}

/// Database error codes worth a retry: the same statement may succeed once the database is back,
/// has room, or is less busy.
/// - SQLite (primary code of an extended one): `BUSY` and `LOCKED` (with every extended code),
///   `NOMEM`, the `IOERR` family, `FULL`.
/// - PostgreSQL: connection exceptions (class 08), serialization failures and deadlocks,
///   insufficient resources (class 53: disk full, out of memory, too many connections), the
///   server shutting down or starting (57P01–57P03), caisse's own `lock_timeout` (55P03) and
///   `statement_timeout` (57014), and I/O errors (58030).
pub(super) fn is_transient_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        return code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 13));
    }
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "55P03" | "57014" | "58030"
        )
}

/// SQLite's message for an error, and what to do about it when its words alone do not say:
/// SQLite answers "disk I/O error" when it finds no writable temporary directory (a large
/// transaction's journal, a big sort), whatever the disk holding the database.
pub(super) fn sqlite_message(extended_code: i32, message: String) -> String {
    // SQLITE_IOERR_GETTEMPPATH.
    if extended_code == 6410 {
        return format!(
            "{message}: SQLite found no writable temporary directory \
             (set SQLITE_TMPDIR or TMPDIR to one)"
        );
    }
    message
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::{is_transient_code, StoreError};

    /// An outside probe ran a large import with every temporary directory read-only and read
    /// only "disk I/O error".
    #[test]
    fn no_writable_temporary_directory_is_said_in_words() {
        let failure = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(6410), None);
        let told = StoreError::from(failure);
        assert!(told.is_transient());
        assert!(
            told.to_string()
                .contains("no writable temporary directory (set SQLITE_TMPDIR or TMPDIR"),
            "{told}"
        );
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(13), None);
        assert!(!StoreError::from(full).to_string().contains("TMPDIR"));
    }

    #[test]
    fn outages_and_time_outs_are_transient_and_bugs_are_not() {
        // SQLite: BUSY_SNAPSHOT, LOCKED_SHAREDCACHE, IOERR_FSYNC, FULL, NOMEM.
        for code in ["5", "517", "262", "1034", "13", "7", "10"] {
            assert!(is_transient_code(code, true), "{code}");
        }
        // PostgreSQL: connection failure, admin shutdown, cannot connect now, disk full.
        for code in [
            "08006", "08001", "57P01", "57P03", "53100", "53300", "40001", "55P03",
        ] {
            assert!(is_transient_code(code, false), "{code}");
        }
        // A syntax error, an undefined table, a unique violation; SQLite's generic error and
        // constraint.
        for code in ["42601", "42P01", "23505", ""] {
            assert!(!is_transient_code(code, false), "{code}");
        }
        for code in ["1", "19", "2067", ""] {
            assert!(!is_transient_code(code, true), "{code}");
        }
    }
}
