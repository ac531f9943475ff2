//! The reference scenarios of the data mesh (work in progress: see `nab`).

#![warn(missing_docs)]

pub mod domains;
pub mod error;
pub mod job;
pub mod measure;
pub mod music;
pub mod nab;
pub mod progress;
pub mod serve;
pub mod threat;

pub use error::{Error, Result};
