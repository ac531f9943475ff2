//! The reference scenarios end to end on a local mesh (in-process broker, SQLite catalog,
//! Delta tables in a temporary directory), at test sizes.

mod music;
mod nab;
mod support;
mod threat;
