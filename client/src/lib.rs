//! Covenant's client crate: what a producer or consumer links to put events on any broker safely.
//!
//! - [`Client`]: an async REST client for every registry endpoint, with basic or bearer auth,
//!   timeouts, retries for idempotent calls, and bounded caches so that a steady-state producer
//!   makes no HTTP call per event. `blocking::Client` wraps it for code without a runtime
//!   (feature `blocking`).
//! - [`serde`]: serializers and deserializers for Avro, JSON Schema and Protobuf in the Confluent
//!   wire format, validating every event against its registered contract.
#![warn(missing_docs)]

mod cache;
mod error;
mod rest;
pub mod rules;
pub mod serde;

#[cfg(feature = "blocking")]
pub mod blocking;

pub use error::{Error, Result};
pub use rest::{segment, Auth, Client, ClientBuilder, RetryPolicy, TokenSource, TraceSource};
pub use serde::{SerializerConfig, SubjectNameStrategy};

pub use covenant_core::api;
pub use covenant_core::ids::{Version, VersionSpec};
pub use covenant_core::semver;
