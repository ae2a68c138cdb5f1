//! The shop's rules as plain types and functions, with no I/O: money, the catalog's product rules,
//! IP ranges, cart validation, how a time reads in the shop's zone, shipping rates and the hold/order state machine. Everything here is tested exhaustively without
//! a database.

pub mod cart;
pub mod email;
pub mod intent_tag;
pub mod ip_range;
pub mod lifecycle;
pub mod local_time;
pub mod money;
pub mod product;
pub mod rate;
pub mod shipping;
pub mod status;
pub mod text;
pub mod totp;
