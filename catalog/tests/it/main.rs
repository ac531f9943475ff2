//! Integration tests of the catalog: the HTTP API through the router (no socket), on a
//! SQLite file per test.

mod governance;
mod registry;
mod support;
