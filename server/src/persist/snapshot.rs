//! The snapshot format: the folded state at one offset, so that a node starts from it and reads
//! only the log's tail. Format 1 is pinned by `fixtures/storage/snapshot-v1.json`; format 2
//! (`snapshot-v2.json`) adds `tip`, the hash of the last record folded in, so that the tail read
//! after it is checked against the chain. Format 3 (`snapshot-v3.json`) adds the DEK registry
//! (KEKs and DEKs) and the associations; format 4 (`snapshot-v4.json`) the subjects' semantic
//! versions.

use covenant_core::ids::{Mode, SchemaId, Version};
use covenant_core::schema::SchemaType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::hash::RecordHash;
use super::record::{
    StoredAssociation, StoredConfig, StoredDek, StoredKek, StoredReference, StoredSemver,
};
use super::serde_as::{number, opt_text, text};

/// The snapshot format this build writes and starts from.
pub const FORMAT: u32 = 4;

/// The formats this build reads.
pub const READS: [u32; 4] = [1, 2, 3, 4];

/// The whole state at one offset.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Format version.
    pub format: u32,
    /// Every record before this offset is folded in.
    pub head: u64,
    /// The hash of the record at `head - 1` (format 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<RecordHash>,
    /// Config and mode above every context.
    pub global: Settings,
    /// Every context, in name order.
    pub contexts: Vec<Context>,
    /// KEKs, by name (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keks: Vec<Kek>,
    /// DEKs, in key order (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deks: Vec<Dek>,
    /// Associations, by resource id and type (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Association>,
}

/// A KEK and the time of its last write.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kek {
    /// The KEK.
    pub kek: StoredKek,
    /// The time of its last write.
    pub ts: i64,
}

/// A DEK and the time of its last write.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dek {
    /// The DEK.
    pub dek: StoredDek,
    /// The time of its last write.
    pub ts: i64,
}

/// An association and its times.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Association {
    /// The association.
    pub association: StoredAssociation,
    /// When it was created.
    pub create_ts: i64,
    /// When it was last changed.
    pub update_ts: i64,
}

/// Config and mode set at one scope.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The config set here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StoredConfig>,
    /// The mode set here.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub mode: Option<Mode>,
}

/// One context.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Its name, with the leading dot.
    pub name: String,
    /// Its own config and mode.
    pub settings: Settings,
    /// The highest id ever used in it (0 before the first).
    pub max_id: i32,
    /// Every schema ever registered in it, by id.
    pub schemas: Vec<Schema>,
    /// Its subjects, in name order.
    pub subjects: Vec<Subject>,
}

/// One schema. Format 1 wrote these in the shape of a registration event, with an empty
/// subject and version 0, which are ignored.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Always empty.
    #[serde(default)]
    pub subject: String,
    /// Always 0.
    #[serde(default)]
    pub version: i32,
    /// The id.
    #[serde(with = "number")]
    pub id: SchemaId,
    /// The GUID.
    pub guid: Uuid,
    /// The format.
    #[serde(with = "text")]
    pub schema_type: SchemaType,
    /// The canonical text.
    pub schema: String,
    /// References.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<StoredReference>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Rule set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
}

/// One subject.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Its name inside the context.
    pub name: String,
    /// Its own config and mode.
    pub settings: Settings,
    /// The highest version ever used (0 before the first).
    pub max_version: i32,
    /// Stored versions: (version, id, soft-deleted, registration time).
    pub versions: Vec<StoredVersion>,
    /// The semantic versions of those that have one (format 4 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub semvers: Vec<VersionSemver>,
}

/// A version's semantic version, stored as `[version, {...}]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionSemver(#[serde(with = "number")] pub Version, pub StoredSemver);

/// One version of a subject, stored as `[version, id, deleted, ts]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion(
    #[serde(with = "number")] pub Version,
    #[serde(with = "number")] pub SchemaId,
    pub bool,
    pub i64,
);

impl Snapshot {
    /// Reads a snapshot stored at `offset`: `None` (with the reason) when it is not a snapshot
    /// of this format taken at that offset, which means it is ignored and the log replayed.
    pub fn read(offset: u64, bytes: &[u8]) -> Result<Snapshot, String> {
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !READS.contains(&snapshot.format) {
            return Err(format!(
                "it has format {}, and this build reads formats {READS:?}",
                snapshot.format
            ));
        }
        if snapshot.format >= 2 && snapshot.tip.is_none() {
            return Err(format!(
                "a format {} snapshot must carry `tip`",
                snapshot.format
            ));
        }
        if snapshot.head != offset {
            return Err(format!(
                "it says it was taken at offset {}, but is stored at {offset}",
                snapshot.head
            ));
        }
        Ok(snapshot)
    }

    /// The bytes it is stored as.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a snapshot always serializes")
    }
}
