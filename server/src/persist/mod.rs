//! The persisted formats: the log's records and the state's snapshots.
//!
//! These are the store's own types, apart from the REST types in `core::api`, so that an API
//! change is never a storage change. They carry domain types (`QualifiedSubject`, `SchemaId`,
//! `Mode`, ...) and convert to the stored JSON through serde, so the stored bytes stay exactly
//! what earlier builds wrote while the code stays typed. A record this build cannot read (an
//! unknown event, mode, level or type, a newer format) is an error that names its offset; it is
//! never guessed at. Every format version ever written is pinned by a fixture under
//! `fixtures/storage/`.

pub mod hash;
pub mod record;
mod serde_as;
pub mod snapshot;

pub use hash::RecordHash;
pub use record::{
    decode, encode, Actor, Event, Lifecycle, Record, SchemaRegistered, Scope, Stored, StoredActor,
    StoredAssociation, StoredConfig, StoredDek, StoredKek, StoredReference, StoredSemver,
    FORMAT_VERSION,
};
