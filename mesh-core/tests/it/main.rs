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
//! Known bugs found by these targets are reproduced by `#[ignore]`d tests named `bug_*`,
//! each ignored with the reason (`cargo test ... -- --ignored bug_` shows them failing). The
//! properties step around those cases, with a comment that names the test: most by telling
//! the case apart exactly, a few (big-decimal and duration types) by leaving out the
//! schemas that have the type.

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
