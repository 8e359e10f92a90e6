//! The contract events: the registry's persisted format and its audit trail.
//!
//! Every change to the registry is one [`Record`] appended to the log. The registry's state is
//! a fold of the records in order (see [`crate::state`]). The JSON shape here is persisted: a
//! change to it needs a new `v` and a reader for the old one (`fixtures/storage/v1.jsonl` pins it).

use covenant_core::api::{ConfigSettings, SchemaReference};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version written into every record.
pub const FORMAT_VERSION: u32 = 1;

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version of this record.
    pub v: u32,
    /// When the change was accepted, in milliseconds since the epoch.
    pub ts: i64,
    /// Who made the change, once authentication exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What changed.
    pub event: Event,
}

impl Record {
    /// A record of `event` stamped with the current time.
    pub fn now(event: Event) -> Record {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Record {
            v: FORMAT_VERSION,
            ts,
            actor: None,
            event,
        }
    }
}

/// Where a config or mode applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Scope {
    /// Above every context (`/config`, `:.__GLOBAL:`, and the default context itself).
    Global,
    /// A whole context (`:.ctx:`).
    Context(String),
    /// One subject, qualified (`orders-value`, `:.ctx:orders-value`).
    Subject(String),
}

/// A config as stored: the level plus the other keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    /// The compatibility level name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// The other keys, as the API names them.
    #[serde(default, flatten)]
    pub settings: ConfigSettings,
}

/// A schema version registered under a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaRegistered {
    /// The qualified subject.
    pub subject: String,
    /// The new version.
    pub version: i32,
    /// The schema id in the subject's context.
    pub id: i32,
    /// The schema's GUID.
    pub guid: String,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    /// The canonical schema text.
    pub schema: String,
    /// References to other subjects' versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Metadata, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Rule set, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
}

/// Everything that can change in a registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new version of a subject.
    SchemaRegistered(SchemaRegistered),
    /// One version soft-deleted, or (permanent) removed.
    VersionDeleted {
        /// The qualified subject.
        subject: String,
        /// The version.
        version: i32,
        /// Removed for good rather than soft-deleted.
        permanent: bool,
    },
    /// All versions of a subject soft-deleted, or (permanent) all soft-deleted ones removed.
    SubjectDeleted {
        /// The qualified subject.
        subject: String,
        /// Removed for good rather than soft-deleted.
        permanent: bool,
    },
    /// A config set (merged into the scope's existing config).
    ConfigSet {
        /// Where it applies.
        scope: Scope,
        /// The config after the change.
        config: StoredConfig,
    },
    /// A config removed.
    ConfigDeleted {
        /// Where it applied.
        scope: Scope,
    },
    /// A mode set.
    ModeSet {
        /// Where it applies.
        scope: Scope,
        /// The mode's name.
        mode: String,
    },
    /// A mode removed.
    ModeDeleted {
        /// Where it applied.
        scope: Scope,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The persisted format of version 1, pinned: every record a released build wrote must still read.
    #[test]
    fn reads_the_pinned_v1_log() {
        let text = include_str!("../../fixtures/storage/v1.jsonl");
        let records: Vec<Record> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("a v1 record parses"))
            .collect();
        assert_eq!(records.len(), 8);
        assert!(records.iter().all(|r| r.v == 1));
        match &records[0].event {
            Event::SchemaRegistered(registered) => {
                assert_eq!(registered.subject, "orders-value");
                assert_eq!(registered.id, 1);
                assert_eq!(registered.version, 1);
            }
            other => panic!("unexpected first event {other:?}"),
        }
        // Writing a record and reading it back gives the same record.
        for record in &records {
            let text = serde_json::to_string(record).expect("serializes");
            let back: Record = serde_json::from_str(&text).expect("parses");
            assert_eq!(&back, record);
        }
    }
}
