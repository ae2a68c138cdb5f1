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
                        // SQLITE_BUSY / SQLITE_LOCKED, PostgreSQL serialization, deadlock,
                        // admin shutdown, too-many-connections, and caisse's own lock_timeout
                        // (55P03) and statement_timeout (57014): worth a retry.
                        if matches!(
                            code.as_str(),
                            "5" | "6"
                                | "517"
                                | "40001"
                                | "40P01"
                                | "57P01"
                                | "53300"
                                | "55P03"
                                | "57014"
                        ) {
                            return StoreError::Unavailable(message);
                        }
                        return StoreError::Database { message };
                    }
                };
                StoreError::Constraint { kind, message }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Configuration(c) => StoreError::Config(c.to_string()),
            other => StoreError::Database {
                message: other.to_string(),
            },
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}
