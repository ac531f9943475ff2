//! Property-based fuzzing of mesh-core: machine-found-bug protection for everything that
//! reads bytes, text or schemas from outside.
//!
//! Each module is one target. Its properties run a bounded number of random cases (the
//! default of each is in its `cases(...)` call) so that the whole binary runs in seconds in a
//! debug build; `PROPTEST_CASES` overrides every default, as `scripts/fuzz` does for long
//! runs. A failing case is printed in its minimal (shrunk) form.
//!
//! - [`wire`]: the Confluent framing.
//! - [`decode`]: Avro bodies against random schemas, our decoder against apache-avro's.
//! - [`encode`]: validating and encoding arbitrary values (apache-avro values and JSON).
//! - [`deep`]: the depth bound of every walk over a value.
//! - [`schema`]: the schema parser and its limits.
//! - [`compat`]: our compatibility checker against apache-avro's on mutated schema pairs.
//! - [`contract`]: domain contracts in TOML.
//! - [`table`]: table columns, Delta evolution and the Arrow mapping.
//!
//! Shared parts: [`model`] (a model of Avro schemas and their text), [`arb`] (strategies),
//! [`mutate`] (schema changes), [`support`] (case counts, stacks, allocation meter).
//!
//! Each bug these targets found is fixed and kept as a named regression test beside the
//! property that found it (its doc comment says which). A bug found and not yet fixed goes in
//! as an `#[ignore]`d test named `bug_*` with the reason, and the property steps around that
//! case only, with a comment naming the test; there are none today.

// jemalloc counts what each thread allocates: `support::allocated_by` reads it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod arb;
mod compat;
mod contract;
mod decode;
mod deep;
mod encode;
mod model;
mod mutate;
mod schema;
mod support;
mod table;
mod wire;
