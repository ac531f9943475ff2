//! Integration tests of the catalog: the HTTP API through the router (no socket) on SQLite
//! and on Postgres, and the Python Confluent client against a served catalog.

mod governance;
mod hostile;
mod ops;
mod outage;
mod probe;
mod python;
mod registry;
mod security;
mod serving;
mod support;
