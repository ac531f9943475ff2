//! The reference scenarios end to end on a local mesh (in-process broker, SQLite catalog,
//! Delta tables in a temporary directory), at test sizes.

mod music;
mod nab;
mod support;
mod threat;

// The process allocator: see the datamesh crate docs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
