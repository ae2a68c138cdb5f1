//! A unit of work's statements, written once and run on either database in one trip each way.
//!
//! On PostgreSQL a statement is a network round trip whatever the client does, and runs through
//! sqlx. On SQLite it is a few microseconds of work in process, and the round trip is the
//! client's: through sqlx every statement would be a message to the connection's worker thread
//! and an answer back, two thread switches and a wake-up through the async scheduler — 35 to 50
//! µs each on a loaded machine, ten times SQLite's own work, paid while the file's one writer
//! turn is held (issue 23). So on SQLite the statements of a transaction run synchronously, on
//! the task that holds the writer's turn, on the connection the writer owns
//! ([`super::sqlite_writer`]), prepared once and cached: a transaction's turn is one trip to
//! the writer and one back, whatever its number of statements.
//!
//! The SQL is the same for both (`$1` placeholders, which SQLite binds by their number, as sqlx
//! does); arguments are [`Arg`]s, typed so that a null still tells PostgreSQL its type; rows
//! decode through [`TxRow`], for tuples of columns and for the store's row structs (declared
//! with [`tx_row!`], which also derives sqlx's `FromRow` for the pool's reads).

use rusqlite::types::{FromSql, ToSql, ToSqlOutput, ValueRef};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use super::{ConstraintKind, StoreError, Tx};

/// One argument of a statement. A null keeps its type: PostgreSQL infers a parameter's type from
/// what is bound, and an untyped null fits no column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bool(Option<bool>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<&i64> for Arg<'_> {
    fn from(v: &i64) -> Self {
        Arg::Int(Some(*v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(Some(v))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

/// The arguments of a statement, each converted by [`Arg::from`].
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::store::statement::Arg::from($arg)),*][..]
    };
}
pub(crate) use args;

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Arg::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Bool(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(v.into())),
            Arg::Int(None) | Arg::Text(None) | Arg::Bool(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
        })
    }
}

/// A row a statement returns, decoded on either database.
pub trait TxRow: Sized {
    fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error>;
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// A column both databases decode into the same Rust type.
pub trait Column: FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> {}
impl<T: FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>> Column for T {}

macro_rules! tuple_rows {
    ($(($($t:ident $i:tt),+))+) => {$(
        impl<$($t: Column),+> TxRow for ($($t,)+) {
            fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
                Ok(($(row.try_get::<$t, _>($i)?,)+))
            }

            fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $t>($i)?,)+))
            }
        }
    )+};
}

tuple_rows! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Declares a row struct: the struct itself, sqlx's `FromRow` (for the pool's reads) and
/// [`TxRow`], each field read from the column of its name.
macro_rules! tx_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)+
        }

        impl $crate::store::statement::TxRow for $name {
            fn from_pg(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                <$name as sqlx::FromRow<sqlx::postgres::PgRow>>::from_row(row)
            }

            fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut position = 0..;
                Ok($name {
                    $($field: $crate::store::statement::column::<$ty>(
                        row,
                        position.next().unwrap_or_default(),
                        stringify!($field),
                    )?,)+
                })
            }
        }
    };
}
pub(crate) use tx_row;

/// The column `name` of an SQLite row, looked for first at `position` (its place in the struct,
/// which is where the store's `SELECT`s put it): a name search per field would compare every
/// column's name, hundreds of comparisons for a hold.
#[doc(hidden)]
pub fn column<T: FromSql>(
    row: &rusqlite::Row<'_>,
    position: usize,
    name: &str,
) -> rusqlite::Result<T> {
    let statement = row.as_ref();
    let index = match statement.column_name(position) {
        Ok(found) if found.eq_ignore_ascii_case(name) => position,
        _ => statement.column_index(name)?,
    };
    row.get(index)
}

fn pg_query<'q>(sql: &'q str, args: &'q [Arg<'q>]) -> Query<'q, Postgres, PgArguments> {
    args.iter().fold(sqlx::query(sql), |q, arg| match *arg {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
    })
}

/// Runs one statement on SQLite's writer connection: prepared once (the connection's cache),
/// each `$n` bound to `args[n - 1]`, every row handed to `each`. Returns the rows changed.
fn on_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    mut each: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<u64> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(index);
        let arg = args.get(number - 1).ok_or_else(|| {
            rusqlite::Error::InvalidParameterName(format!("${number} of {} arguments", args.len()))
        })?;
        statement.raw_bind_parameter(index, arg)?;
    }
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(conn.changes())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        let message = e.to_string();
        let rusqlite::Error::SqliteFailure(failure, _) = &e else {
            return StoreError::Database { message };
        };
        let kind = match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ConstraintKind::Unique
            }
            ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
            code if code & 0xff == ffi::SQLITE_CONSTRAINT => ConstraintKind::Other,
            code => {
                let message = super::error::sqlite_message(code, message);
                return if super::error::is_transient_code(&code.to_string(), true) {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Database { message }
                };
            }
        };
        StoreError::Constraint { kind, message }
    }
}

impl Tx {
    /// Runs a statement; the number of rows it changed.
    pub async fn run(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(turn) => Ok(on_sqlite(turn.sqlite(), sql, args, |_| Ok(()))?),
            Tx::Postgres(tx) => Ok(pg_query(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
        }
    }

    /// The rows a statement returns.
    pub async fn rows<T: TxRow>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Tx::Sqlite(turn) => {
                let mut out = Vec::new();
                on_sqlite(turn.sqlite(), sql, args, |row| {
                    out.push(T::from_sqlite(row)?);
                    Ok(())
                })?;
                Ok(out)
            }
            Tx::Postgres(tx) => {
                let rows = pg_query(sql, args).fetch_all(&mut **tx).await?;
                Ok(rows.iter().map(T::from_pg).collect::<Result<_, _>>()?)
            }
        }
    }

    /// The first row a statement returns, if any (the statement runs to its end either way).
    pub async fn row<T: TxRow>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, StoreError> {
        match self {
            Tx::Sqlite(turn) => {
                let mut first = None;
                on_sqlite(turn.sqlite(), sql, args, |row| {
                    if first.is_none() {
                        first = Some(T::from_sqlite(row)?);
                    }
                    Ok(())
                })?;
                Ok(first)
            }
            Tx::Postgres(tx) => match pg_query(sql, args).fetch_optional(&mut **tx).await? {
                Some(row) => Ok(Some(T::from_pg(&row)?)),
                None => Ok(None),
            },
        }
    }

    /// The first row a statement returns; an error if there is none.
    pub async fn one<T: TxRow>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<T, StoreError> {
        self.row(sql, args)
            .await?
            .ok_or_else(|| StoreError::Database {
                message: format!("no row returned by: {sql}"),
            })
    }

    /// The one value of the first row (`RETURNING number`, `SELECT COUNT(*)`); an error if there
    /// is no row.
    pub async fn value<T: Column>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<T, StoreError> {
        Ok(self.one::<(T,)>(sql, args).await?.0)
    }

    /// The one value of the first row, if there is a row.
    pub async fn opt_value<T: Column>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.row::<(T,)>(sql, args).await?.map(|(value,)| value))
    }

    /// The first column of every row.
    pub async fn values<T: Column>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.rows::<(T,)>(sql, args).await?;
        Ok(rows.into_iter().map(|(value,)| value).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    tx_row! {
        #[derive(Debug, PartialEq)]
        struct Pair {
            name: String,
            n: i64,
        }
    }

    fn rows<T: TxRow>(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> Vec<T> {
        let mut out = Vec::new();
        on_sqlite(conn, sql, args, |row| {
            out.push(T::from_sqlite(row)?);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn placeholders_bind_by_their_number_as_on_postgresql() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        // `$2` before `$1`, and `$1` twice: SQLite numbers parameters by first appearance.
        let got: Vec<(String, i64, i64)> = rows(&conn, "SELECT $2, $1, $1 + 1", args![7, "seven"]);
        assert_eq!(got, vec![("seven".to_string(), 7, 8)]);
        let missing = on_sqlite(&conn, "SELECT $3", args![1], |_| Ok(()));
        assert!(
            missing.is_err(),
            "a placeholder past the arguments is an error"
        );
    }

    #[test]
    fn a_row_struct_reads_its_columns_by_name_whatever_their_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let in_order: Vec<Pair> = rows(&conn, "SELECT 'a' AS name, 1 AS n", &[]);
        let swapped: Vec<Pair> = rows(&conn, "SELECT 2 AS n, 'b' AS name", &[]);
        assert_eq!(
            (in_order, swapped),
            (
                vec![Pair {
                    name: "a".into(),
                    n: 1
                }],
                vec![Pair {
                    name: "b".into(),
                    n: 2
                }]
            )
        );
    }

    #[test]
    fn typed_nulls_and_booleans_reach_sqlite_as_its_values() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let got: Vec<(Option<String>, Option<i64>, bool)> = rows(
            &conn,
            "SELECT $1, $2, $3",
            args![None::<&str>, None::<i64>, true],
        );
        assert_eq!(got, vec![(None, None, true)]);
    }
}
