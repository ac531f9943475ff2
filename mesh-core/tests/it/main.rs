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
//! - [`encode`]: validating and encoding arbitrary values, and the depth bound.
//! - [`schema`]: the schema parser and its limits.
//! - [`compat`]: our compatibility checker against apache-avro's on mutated schema pairs.
//! - [`contract`]: domain contracts in TOML.
//! - [`table`]: table columns, Delta evolution and the Arrow mapping.
//!
//! Shared parts: [`model`] (a model of Avro schemas and their text), [`arb`] (strategies),
//! [`mutate`] (schema changes), [`support`] (case counts, stacks, allocation meter).
//!
//! Known bugs found by these targets are reproduced by `#[ignore]`d tests named `bug_*`,
//! each ignored with the reason; the properties step around exactly those cases, with a
//! comment that names the test.

// jemalloc counts what each thread allocates: `support::allocated_by` reads it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod arb;
mod compat;
mod contract;
mod decode;
mod encode;
mod model;
mod mutate;
mod schema;
mod scratch;
mod support;
mod table;
mod wire;
