//! Scaffolding shared by mqid's tests, fuzz checks and benchmarks, written once: a counting
//! allocator, fuzz-corpus replay, the check that an error quotes no secret, raw MQTT packets,
//! configuration text, the Python peers' interpreter, and (feature `http`) a fake HTTP server.
//!
//! `publish = false`, and never a dependency of a production crate: only dev-dependencies, the
//! fuzz crates and the bench crate (behind `mqid`'s `dev-tools` feature) take it.

pub mod alloc;
pub mod config;
pub mod corpus;
#[cfg(feature = "http")]
pub mod http;
pub mod mqtt;
pub mod ports;
pub mod python;
pub mod secrets;

pub use secrets::assert_no_secret_quoted;
