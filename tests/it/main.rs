//! Integration tests of the umbrella crate: the local mesh and the first slice, on the
//! in-process broker and on a real one, and interop with clients nobody here wrote.

mod cli;
mod consumer;
mod crash;
mod faults;
mod interop;
mod portable;
mod producer;
mod s3;
mod slice;
mod support;
mod templates;

// The process allocator: see the datamesh crate docs.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: datamesh::Jemalloc = datamesh::Jemalloc;
