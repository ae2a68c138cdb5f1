//! The typed states of [`crate::domain::status`] as database columns: read and written as the
//! text their one mapping gives, on both backends. A text no variant names fails the read.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::status::{
    AlertKind, DisputeStatus, EventStatus, FulfilmentStatus, HoldStatus, OperatorRole, OrderStatus,
    OutboxKind, OutboxStatus, PaymentStatus,
};

macro_rules! text_columns {
    ($($t:ty),+) => {$(
        impl<DB: Database> Type<DB> for $t
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $t
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<$t, BoxDynError> {
                Ok(<&'r str as Decode<'r, DB>>::decode(value)?.parse::<$t>()?)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $t
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl rusqlite::types::FromSql for $t {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<$t> {
                value
                    .as_str()?
                    .parse::<$t>()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl From<$t> for super::statement::Arg<'static> {
            fn from(value: $t) -> Self {
                super::statement::Arg::Text(Some(value.as_str()))
            }
        }

        impl From<Option<$t>> for super::statement::Arg<'static> {
            fn from(value: Option<$t>) -> Self {
                super::statement::Arg::Text(value.map(<$t>::as_str))
            }
        }
    )+};
}

text_columns!(
    HoldStatus,
    OrderStatus,
    FulfilmentStatus,
    DisputeStatus,
    PaymentStatus,
    EventStatus,
    OutboxStatus,
    OutboxKind,
    AlertKind,
    OperatorRole
);
