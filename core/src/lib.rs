//! Covenant's core: what the server, the client and the CLI share.
//!
//! Schema parsing and canonical forms ([`schema`], [`avro`]), the compatibility engine
//! ([`compat`]), identifiers ([`ids`]), the Confluent wire format ([`wire`]), the REST JSON
//! types ([`api`]) and the error-code table ([`error`]). Everything here is pure: it takes
//! text and returns values, with no I/O, no HTTP and no storage.
#![warn(missing_docs)]

pub mod api;
pub mod avro;
pub mod compat;
pub mod contract;
pub mod diff;
pub mod error;
pub mod fields;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod json;
pub mod locate;
pub mod protobuf;
pub mod references;
pub mod schema;
pub mod semver;
pub mod tags;
pub mod wire;

pub use error::{Error, ErrorCode, Result};

/// Shortens a fragment shown in a message to at most 240 bytes (on a character boundary).
pub(crate) fn shorten(mut text: String) -> String {
    const LIMIT: usize = 240;
    if text.len() > LIMIT {
        let mut cut = LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}
