//! The log's records: every change to the registry is one [`Record`], and the registry's state
//! is their fold (see [`crate::state`]). The log is also the audit trail.
//!
//! Format 1 (`fixtures/storage/v1.jsonl`, `fixtures/storage/v1-full.jsonl`) is what the first
//! releases wrote; its bytes are kept exactly. Format 2 (`fixtures/storage/v2.jsonl`) adds
//! `prev`, the hash of the record before, so that the log is a hash chain: a record that was
//! changed, lost or reordered breaks the chain at the first record after it. Format 3
//! (`fixtures/storage/v3.jsonl`) adds `actor`: the principal, how it authenticated and where the
//! request came from, so that the log is the audit trail; records of formats 1 and 2 read as
//! written by an anonymous caller. Format 4 (`fixtures/storage/v4.jsonl`) adds the DEK
//! registry's and the associations' events, and batches of events written as one. Format 5
//! (`fixtures/storage/v5.jsonl`) adds a registration's semantic version (`semver`), decided once
//! when the version is registered; registrations of earlier formats have none.

use std::collections::BTreeMap;
use std::net::IpAddr;

use covenant_core::ids::{
    CompatibilityLevel, ContextName, Mode, QualifiedSubject, SchemaId, Version,
};
use covenant_core::json::Policy;
use covenant_core::schema::SchemaType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::hash::RecordHash;
use super::serde_as::{number, opt_text, text};
use crate::access::{AuthMethod, Caller};
use crate::kms::DekAlgorithm;
use crate::store::StoreError;

/// The newest record format this build writes and reads.
pub const FORMAT_VERSION: u32 = 5;

/// Who made a change (format 3 on).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The principal; absent for an anonymous caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// How it authenticated.
    #[serde(with = "text")]
    pub method: AuthMethod,
    /// The address the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
}

impl Actor {
    /// The actor of a request's caller.
    pub fn of(caller: &Caller) -> Actor {
        Actor {
            principal: caller.identity.name.clone(),
            method: caller.identity.method,
            source: caller.source,
        }
    }
}

/// The `actor` member as stored: an object from format 3 on; formats 1 and 2 declared a
/// string that no release ever wrote, read here if a hand-made log has it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredActor {
    /// Format 3.
    Actor(Actor),
    /// Formats 1 and 2: a name.
    Name(String),
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Format version of this record.
    pub v: u32,
    /// When the change was accepted, in milliseconds since the epoch.
    pub ts: i64,
    /// The hash of the record before (format 2 on; the first record chains to
    /// [`RecordHash::GENESIS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<RecordHash>,
    /// Who made the change (format 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<StoredActor>,
    /// What changed.
    pub event: Event,
}

impl Record {
    /// A record of `event` by `actor` following the record whose hash is `prev`, stamped with
    /// the current time.
    pub fn new(event: Event, prev: RecordHash, actor: Actor) -> Record {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Record {
            v: FORMAT_VERSION,
            ts,
            prev: Some(prev),
            actor: Some(StoredActor::Actor(actor)),
            event,
        }
    }
}

/// A record as read back from a log: its offset, the record, and the hash of its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// Where it is in the log.
    pub offset: u64,
    /// The record.
    pub record: Record,
    /// The SHA-256 of its stored bytes.
    pub hash: RecordHash,
}

impl Stored {
    /// Reads the record stored at `offset` as `bytes`.
    pub fn read(offset: u64, bytes: &[u8]) -> Result<Stored, StoreError> {
        Ok(Stored {
            offset,
            record: decode(offset, bytes)?,
            hash: RecordHash::of(bytes),
        })
    }

    /// Checks that this record follows the record whose hash is `tip`.
    pub fn check_link(&self, tip: RecordHash) -> Result<(), StoreError> {
        match self.record.prev {
            Some(prev) if prev != tip => Err(StoreError::Corrupt {
                offset: self.offset,
                reason: format!(
                    "the hash chain is broken: the record says the record before it hashes to {prev}, but that record hashes to {tip} (a record was changed, lost or put in the wrong place)"
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Where a config or mode applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredScope", into = "StoredScope")]
pub enum Scope {
    /// Above every context (`/config`, `:.__GLOBAL:`, and the default context itself).
    Global,
    /// A whole context (`:.ctx:`).
    Context(ContextName),
    /// One subject (`orders-value`, `:.ctx:orders-value`).
    Subject(QualifiedSubject),
}

/// A scope as stored: `{"kind":"global"}`, `{"kind":"context","name":".ctx"}`,
/// `{"kind":"subject","name":":.ctx:s"}`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "name",
    rename_all = "snake_case",
    deny_unknown_fields
)]
enum StoredScope {
    Global,
    Context(String),
    Subject(String),
}

impl TryFrom<StoredScope> for Scope {
    type Error = covenant_core::Error;

    fn try_from(stored: StoredScope) -> Result<Scope, Self::Error> {
        Ok(match stored {
            StoredScope::Global => Scope::Global,
            StoredScope::Context(name) => Scope::Context(name.parse()?),
            StoredScope::Subject(name) => Scope::Subject(name.parse()?),
        })
    }
}

impl From<Scope> for StoredScope {
    fn from(scope: Scope) -> StoredScope {
        match scope {
            Scope::Global => StoredScope::Global,
            Scope::Context(name) => StoredScope::Context(name.as_str().to_string()),
            Scope::Subject(subject) => StoredScope::Subject(subject.qualified()),
        }
    }
}

impl Scope {
    /// The scope of a (possibly context-only) subject: the subject, its context, or global for
    /// the default and `.__GLOBAL` contexts.
    pub fn of(subject: &QualifiedSubject) -> Scope {
        if !subject.is_context_only() {
            Scope::Subject(subject.clone())
        } else if subject.context().is_default() || subject.context().is_global() {
            Scope::Global
        } else {
            Scope::Context(subject.context().clone())
        }
    }

    /// The scopes a subject's settings resolve through, nearest first: subject, context
    /// (outside the default context), global.
    pub fn chain(subject: &QualifiedSubject) -> Vec<Scope> {
        let mut chain = Vec::with_capacity(3);
        if !subject.is_context_only() {
            chain.push(Scope::Subject(subject.clone()));
        }
        if !subject.context().is_default() && !subject.context().is_global() {
            chain.push(Scope::Context(subject.context().clone()));
        }
        chain.push(Scope::Global);
        chain
    }

    /// The subject whose settings resolve like this scope's (`:.ctx:` for a context).
    pub fn subject(&self) -> QualifiedSubject {
        match self {
            Scope::Global => QualifiedSubject::new(ContextName::default_context(), ""),
            Scope::Context(context) => QualifiedSubject::new(context.clone(), ""),
            Scope::Subject(subject) => subject.clone(),
        }
    }

    /// The name errors use: the subject, `:.ctx:` for a context, empty for global.
    pub fn name(&self) -> String {
        match self {
            Scope::Global => String::new(),
            Scope::Context(context) => format!(":{context}:"),
            Scope::Subject(subject) => subject.qualified(),
        }
    }
}

/// A config as stored: the level and the other keys, each optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoredConfig {
    /// The compatibility level.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub compatibility: Option<CompatibilityLevel>,
    /// Normalize schemas before comparing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Validate field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_fields: Option<bool>,
    /// Validate rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_rules: Option<bool>,
    /// Compare only versions with the same value of this metadata property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_group: Option<String>,
    /// STRICT or LENIENT (JSON Schema).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub compatibility_policy: Option<Policy>,
    /// Metadata new versions start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_metadata: Option<Value>,
    /// Metadata that overrides what new versions carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_metadata: Option<Value>,
    /// Rules new versions start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_rule_set: Option<Value>,
    /// Rules that override what new versions carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_rule_set: Option<Value>,
    /// Another subject this one is an alias of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl StoredConfig {
    /// Takes each key this config lacks from `lower` (a subject's config over its context's,
    /// an update over the stored config).
    pub fn fill_from(&mut self, lower: &StoredConfig) {
        fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(value);
            }
        }
        fill(&mut self.compatibility, &lower.compatibility);
        fill(&mut self.normalize, &lower.normalize);
        fill(&mut self.validate_fields, &lower.validate_fields);
        fill(&mut self.validate_rules, &lower.validate_rules);
        fill(&mut self.compatibility_group, &lower.compatibility_group);
        fill(&mut self.compatibility_policy, &lower.compatibility_policy);
        fill(&mut self.default_metadata, &lower.default_metadata);
        fill(&mut self.override_metadata, &lower.override_metadata);
        fill(&mut self.default_rule_set, &lower.default_rule_set);
        fill(&mut self.override_rule_set, &lower.override_rule_set);
        fill(&mut self.alias, &lower.alias);
    }
}

/// A reference as stored: the name the schema uses, the subject as the request named it
/// (resolved in the schema's context), and the version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredReference {
    /// Avro full name, Protobuf import path or JSON Schema `$ref` URL.
    pub name: String,
    /// The referenced subject.
    pub subject: String,
    /// The referenced version.
    pub version: i32,
}

/// A schema version registered under a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistered {
    /// The subject.
    #[serde(with = "text")]
    pub subject: QualifiedSubject,
    /// The new version.
    #[serde(with = "number")]
    pub version: Version,
    /// The schema id in the subject's context.
    #[serde(with = "number")]
    pub id: SchemaId,
    /// The schema's GUID.
    pub guid: Uuid,
    /// The format.
    #[serde(with = "text")]
    pub schema_type: SchemaType,
    /// The canonical schema text.
    pub schema: String,
    /// References to other subjects' versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<StoredReference>,
    /// Metadata, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Rule set, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
    /// The version's semantic version (format 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<StoredSemver>,
}

/// A version's semantic version as decided at its registration: never recomputed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSemver {
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// `major`, `minor` or `patch` against `against`; absent for a subject's first numbered
    /// version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bump: Option<String>,
    /// The version it was compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<i32>,
    /// Whether the registration gave the version explicitly (in its metadata).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explicit: bool,
    /// Why: one line per change that decided the bump.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A key-encryption key as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKek {
    /// Its name.
    pub name: String,
    /// The KMS type (normalized: `aws-kms`, `azure-kms`, `gcp-kms`, or as given).
    pub kms_type: String,
    /// The key's id in the KMS.
    pub kms_key_id: String,
    /// KMS properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kms_props: BTreeMap<String, String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Whether the registry may use it.
    pub shared: bool,
    /// Soft-deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A data-encryption key as stored: the key wrapped by its KEK, never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredDek {
    /// The KEK.
    pub kek: String,
    /// The subject.
    pub subject: String,
    /// The version.
    pub version: i32,
    /// The algorithm.
    #[serde(with = "text")]
    pub algorithm: DekAlgorithm,
    /// The key wrapped by the KEK, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_key_material: Option<String>,
    /// Soft-deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// An association of a resource with a subject, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredAssociation {
    /// The subject.
    #[serde(with = "text")]
    pub subject: QualifiedSubject,
    /// Its stable id.
    pub guid: Uuid,
    /// The resource's name (a topic).
    pub resource_name: String,
    /// The resource's namespace (a Kafka cluster id).
    pub resource_namespace: String,
    /// The resource's id.
    pub resource_id: String,
    /// `topic`.
    pub resource_type: String,
    /// `key` or `value`.
    pub association_type: String,
    /// STRONG or WEAK.
    #[serde(with = "text")]
    pub lifecycle: Lifecycle,
    /// Whether the subject's schema is frozen.
    pub frozen: bool,
}

/// How an association binds a subject to its resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lifecycle {
    /// The subject lives and dies with the resource.
    Strong,
    /// The subject is only referred to.
    Weak,
}

impl Lifecycle {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Strong => "STRONG",
            Lifecycle::Weak => "WEAK",
        }
    }
}

impl std::str::FromStr for Lifecycle {
    type Err = String;

    fn from_str(name: &str) -> Result<Lifecycle, String> {
        match name {
            "STRONG" => Ok(Lifecycle::Strong),
            "WEAK" => Ok(Lifecycle::Weak),
            other => Err(format!(
                "unknown lifecycle `{other}` (expected STRONG or WEAK)"
            )),
        }
    }
}

impl std::fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can change in a registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A new version of a subject.
    SchemaRegistered(SchemaRegistered),
    /// One version soft-deleted, or (permanent) removed.
    VersionDeleted {
        /// The subject.
        #[serde(with = "text")]
        subject: QualifiedSubject,
        /// The version.
        #[serde(with = "number")]
        version: Version,
        /// Removed for good rather than soft-deleted.
        permanent: bool,
    },
    /// All versions of a subject soft-deleted, or (permanent) all soft-deleted ones removed.
    SubjectDeleted {
        /// The subject.
        #[serde(with = "text")]
        subject: QualifiedSubject,
        /// Removed for good rather than soft-deleted.
        permanent: bool,
    },
    /// A config set: the scope's whole config after the change.
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
        /// The mode.
        #[serde(with = "text")]
        mode: Mode,
    },
    /// A mode removed.
    ModeDeleted {
        /// Where it applied.
        scope: Scope,
    },
    /// A KEK created (or, over a soft-deleted one, created anew).
    KekCreated {
        /// The KEK.
        kek: StoredKek,
    },
    /// A KEK's properties, description or sharing changed: the KEK after the change.
    KekUpdated {
        /// The KEK.
        kek: StoredKek,
    },
    /// A KEK soft-deleted, or (permanent) removed.
    KekDeleted {
        /// Its name.
        name: String,
        /// Removed for good.
        permanent: bool,
    },
    /// A soft-deleted KEK restored.
    KekUndeleted {
        /// Its name.
        name: String,
    },
    /// A DEK created (or, over a soft-deleted one, created anew).
    DekCreated {
        /// The DEK.
        dek: StoredDek,
    },
    /// One version (or every version) of a subject's DEK soft-deleted, or removed.
    DekDeleted {
        /// The KEK.
        kek: String,
        /// The subject.
        subject: String,
        /// The algorithm.
        #[serde(with = "text")]
        algorithm: DekAlgorithm,
        /// The version; every version when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i32>,
        /// Removed for good.
        permanent: bool,
    },
    /// One version (or every version) of a subject's DEK restored.
    DekUndeleted {
        /// The KEK.
        kek: String,
        /// The subject.
        subject: String,
        /// The algorithm.
        #[serde(with = "text")]
        algorithm: DekAlgorithm,
        /// The version; every version when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i32>,
    },
    /// An association created or changed: the association after the change.
    AssociationSet {
        /// The association.
        association: StoredAssociation,
    },
    /// An association removed.
    AssociationDeleted {
        /// The resource's id.
        resource_id: String,
        /// The association type.
        association_type: String,
    },
    /// Several changes made as one (the associations of one request, a cascading delete of a
    /// resource's associations with their subjects): applied in order, all or none. A schema a
    /// STRONG association is created with is registered by its own record just before.
    Batch {
        /// The changes.
        events: Vec<Event>,
    },
}

impl Event {
    /// The first record format that has this kind of event.
    pub fn since_format(&self) -> u32 {
        match self {
            Event::SchemaRegistered(registered) if registered.semver.is_some() => 5,
            Event::SchemaRegistered(_)
            | Event::VersionDeleted { .. }
            | Event::SubjectDeleted { .. }
            | Event::ConfigSet { .. }
            | Event::ConfigDeleted { .. }
            | Event::ModeSet { .. }
            | Event::ModeDeleted { .. } => 1,
            _ => 4,
        }
    }

    /// The event's name in the log and the audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SchemaRegistered(_) => "schema_registered",
            Event::VersionDeleted { .. } => "version_deleted",
            Event::SubjectDeleted { .. } => "subject_deleted",
            Event::ConfigSet { .. } => "config_set",
            Event::ConfigDeleted { .. } => "config_deleted",
            Event::ModeSet { .. } => "mode_set",
            Event::ModeDeleted { .. } => "mode_deleted",
            Event::KekCreated { .. } => "kek_created",
            Event::KekUpdated { .. } => "kek_updated",
            Event::KekDeleted { .. } => "kek_deleted",
            Event::KekUndeleted { .. } => "kek_undeleted",
            Event::DekCreated { .. } => "dek_created",
            Event::DekDeleted { .. } => "dek_deleted",
            Event::DekUndeleted { .. } => "dek_undeleted",
            Event::AssociationSet { .. } => "association_set",
            Event::AssociationDeleted { .. } => "association_deleted",
            Event::Batch { .. } => "batch",
        }
    }
}

/// The bytes a record is stored as.
pub fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

/// Reads the record stored at `offset`. A record from a newer format, or one whose content this
/// build does not understand, is an error naming the offset and what is wrong.
pub fn decode(offset: u64, bytes: &[u8]) -> Result<Record, StoreError> {
    match serde_json::from_slice::<Record>(bytes) {
        Ok(record) if record.v == 0 || record.v > FORMAT_VERSION => Err(newer(offset, record.v)),
        Ok(record) if record.v == 1 && record.prev.is_some() => Err(StoreError::Corrupt {
            offset,
            reason: "a format 1 record carries no `prev`".into(),
        }),
        Ok(record) if record.v >= 2 && record.prev.is_none() => Err(StoreError::Corrupt {
            offset,
            reason: format!("a format {} record must carry `prev`", record.v),
        }),
        Ok(record) if record.v >= 3 && !matches!(record.actor, Some(StoredActor::Actor(_))) => {
            Err(StoreError::Corrupt {
                offset,
                reason: format!(
                    "a format {} record must carry `actor` as an object with `method`",
                    record.v
                ),
            })
        }
        Ok(record) if record.event.since_format() > record.v => Err(StoreError::Corrupt {
            offset,
            reason: format!(
                "a format {} record cannot hold a `{}` event (format {} on)",
                record.v,
                record.event.kind(),
                record.event.since_format()
            ),
        }),
        Ok(record) if record.v < 3 && matches!(record.actor, Some(StoredActor::Actor(_))) => {
            Err(StoreError::Corrupt {
                offset,
                reason: format!("a format {} record carries no actor object", record.v),
            })
        }
        Ok(record) => Ok(record),
        Err(error) => {
            // Say "newer format" rather than "unknown field" when that is the reason.
            #[derive(Deserialize)]
            struct Header {
                v: u32,
            }
            match serde_json::from_slice::<Header>(bytes) {
                Ok(header) if header.v > FORMAT_VERSION => Err(newer(offset, header.v)),
                _ => Err(StoreError::Corrupt {
                    offset,
                    reason: format!("the record cannot be read: {error}"),
                }),
            }
        }
    }
}

fn newer(offset: u64, v: u32) -> StoreError {
    StoreError::Corrupt {
        offset,
        reason: format!(
            "the record has format version {v}, and this build reads versions 1 to {FORMAT_VERSION}: upgrade Covenant to read this log"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// Format 2, pinned: a chained log this build wrote reads back, each record links to the
    /// one before, and re-encoding gives the same bytes.
    #[test]
    fn reads_and_writes_the_pinned_v2_log() {
        let mut tip = RecordHash::GENESIS;
        for (offset, line) in lines(include_str!("../../../fixtures/storage/v2.jsonl"))
            .into_iter()
            .enumerate()
        {
            let stored = Stored::read(offset as u64, line.as_bytes()).expect("a v2 record reads");
            assert_eq!(stored.record.v, 2);
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
            let written =
                String::from_utf8(encode(&stored.record).expect("encodes")).expect("utf-8");
            assert_eq!(written, line, "record {offset}");
        }
    }

    /// Format 3, pinned: records carry who wrote them (a basic-auth user, an API key, an
    /// anonymous caller); they chain, read back, and re-encode to the same bytes.
    #[test]
    fn reads_and_writes_the_pinned_v3_log() {
        let mut tip = RecordHash::GENESIS;
        let mut methods = Vec::new();
        for (offset, line) in lines(include_str!("../../../fixtures/storage/v3.jsonl"))
            .into_iter()
            .enumerate()
        {
            let stored = Stored::read(offset as u64, line.as_bytes()).expect("a v3 record reads");
            assert_eq!(stored.record.v, 3);
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
            match &stored.record.actor {
                Some(StoredActor::Actor(actor)) => methods.push(actor.method),
                other => panic!("record {offset} has actor {other:?}"),
            }
            let written =
                String::from_utf8(encode(&stored.record).expect("encodes")).expect("utf-8");
            assert_eq!(written, line, "record {offset}");
        }
        assert!(methods.contains(&AuthMethod::Basic));
        assert!(methods.contains(&AuthMethod::ApiKey));
        assert!(methods.contains(&AuthMethod::Anonymous));
        for (bad, needle) in [
            (
                r#"{"v":3,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "must carry `actor`",
            ),
            (
                r#"{"v":3,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","actor":"alice","event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "must carry `actor`",
            ),
            (
                r#"{"v":2,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","actor":{"method":"basic"},"event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "no actor object",
            ),
            (
                r#"{"v":3,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","actor":{"method":"telepathy"},"event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "cannot be read",
            ),
        ] {
            let reason = corrupt(bad);
            assert!(reason.contains(needle), "{bad}: {reason}");
        }
    }

    /// Format 5, pinned: registrations with their semantic versions (first, minor, patch, an
    /// explicit major); every record chains, reads back and re-encodes to the same bytes, and a
    /// format 4 record holding a semantic version is refused.
    #[test]
    fn reads_and_writes_the_pinned_v5_log() {
        let mut tip = RecordHash::GENESIS;
        let mut versions = Vec::new();
        for (offset, line) in lines(include_str!("../../../fixtures/storage/v5.jsonl"))
            .into_iter()
            .enumerate()
        {
            let stored = Stored::read(offset as u64, line.as_bytes()).expect("a v5 record reads");
            assert_eq!(stored.record.v, 5);
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
            if let Event::SchemaRegistered(registered) = &stored.record.event {
                if let Some(semver) = &registered.semver {
                    versions.push(semver.version.clone());
                }
            }
            let written =
                String::from_utf8(encode(&stored.record).expect("encodes")).expect("utf-8");
            assert_eq!(written, line, "record {offset}");
        }
        assert_eq!(versions, ["1.0.0", "1.1.0", "1.1.1", "3.0.0", "1.0.0"]);
        let first = lines(include_str!("../../../fixtures/storage/v5.jsonl"))[0].replacen(
            "{\"v\":5,",
            "{\"v\":4,",
            1,
        );
        let reason = match decode(0, first.as_bytes()) {
            Err(StoreError::Corrupt { reason, .. }) => reason,
            other => panic!("a v4 record with a semver read: {other:?}"),
        };
        assert!(reason.contains("format 5"), "{reason}");
    }

    /// Format 4, pinned: the DEK registry's and the associations' events, and a batch; every
    /// record chains, reads back and re-encodes to the same bytes.
    #[test]
    fn reads_and_writes_the_pinned_v4_log() {
        let mut tip = RecordHash::GENESIS;
        let mut kinds = std::collections::BTreeSet::new();
        for (offset, line) in lines(include_str!("../../../fixtures/storage/v4.jsonl"))
            .into_iter()
            .enumerate()
        {
            let stored = Stored::read(offset as u64, line.as_bytes()).expect("a v4 record reads");
            assert_eq!(stored.record.v, 4);
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
            kinds.insert(stored.record.event.kind());
            if let Event::Batch { events } = &stored.record.event {
                kinds.extend(events.iter().map(Event::kind));
            }
            let written =
                String::from_utf8(encode(&stored.record).expect("encodes")).expect("utf-8");
            assert_eq!(written, line, "record {offset}");
        }
        for kind in [
            "kek_created",
            "kek_updated",
            "kek_deleted",
            "kek_undeleted",
            "dek_created",
            "dek_deleted",
            "dek_undeleted",
            "association_set",
            "association_deleted",
            "batch",
        ] {
            assert!(kinds.contains(kind), "the v4 fixture has no {kind}");
        }
        // Earlier formats cannot hold the new kinds.
        let early = r#"{"v":3,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","actor":{"method":"anonymous"},"event":{"type":"kek_undeleted","name":"k"}}"#;
        assert!(corrupt(early).contains("cannot hold a `kek_undeleted` event"));
    }

    #[test]
    fn a_broken_link_names_the_record() {
        let line = r#"{"v":2,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#;
        let stored = Stored::read(3, line.as_bytes()).expect("reads");
        stored
            .check_link(RecordHash::GENESIS)
            .expect("links to genesis");
        match stored.check_link(RecordHash::of(b"another")) {
            Err(StoreError::Corrupt { offset: 3, reason }) => {
                assert!(reason.contains("hash chain is broken"), "{reason}")
            }
            other => panic!("expected a broken chain, got {other:?}"),
        }
        for (bad, needle) in [
            (
                r#"{"v":2,"ts":1,"event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "must carry `prev`",
            ),
            (
                r#"{"v":1,"ts":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "no `prev`",
            ),
            (
                r#"{"v":2,"ts":1,"prev":"beef","event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
                "record hash",
            ),
        ] {
            let reason = corrupt(bad);
            assert!(reason.contains(needle), "{bad}: {reason}");
        }
    }

    /// Format 1, pinned: every record a released build wrote still reads, and what this build
    /// writes for the same record is byte for byte what the first release wrote.
    #[test]
    fn reads_and_writes_the_pinned_v1_logs() {
        for fixture in [
            include_str!("../../../fixtures/storage/v1.jsonl"),
            include_str!("../../../fixtures/storage/v1-full.jsonl"),
        ] {
            for (offset, line) in lines(fixture).into_iter().enumerate() {
                let record = decode(offset as u64, line.as_bytes()).expect("a v1 record reads");
                assert_eq!(record.v, 1);
                let written = String::from_utf8(encode(&record).expect("encodes")).expect("utf-8");
                // The hand-written fixture spells one empty reference list out; released builds
                // never wrote it (they omit empty lists).
                let expected = line.replace(",\"references\":[]", "");
                assert_eq!(written, expected, "record {offset}");
            }
        }
        let full = lines(include_str!("../../../fixtures/storage/v1-full.jsonl"));
        let kinds: std::collections::BTreeSet<String> = full
            .iter()
            .map(|line| {
                let value: Value = serde_json::from_str(line).expect("json");
                value["event"]["type"].as_str().expect("a type").to_string()
            })
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "config_deleted",
                "config_set",
                "mode_deleted",
                "mode_set",
                "schema_registered",
                "subject_deleted",
                "version_deleted"
            ],
            "the full fixture has every event kind"
        );
    }

    fn corrupt(line: &str) -> String {
        match decode(7, line.as_bytes()) {
            Err(StoreError::Corrupt { offset, reason }) => {
                assert_eq!(offset, 7);
                reason
            }
            other => panic!("expected a corrupt-record error for {line}, got {other:?}"),
        }
    }

    /// Replay never guesses: each unreadable record is an error that says what is wrong.
    #[test]
    fn unreadable_records_are_errors_naming_the_problem() {
        let registered = |schema_type: &str| {
            format!(
                r#"{{"v":1,"ts":1,"event":{{"type":"schema_registered","subject":"s","version":1,"id":1,"guid":"0f8a4b4e-6f0e-4c43-9d3c-8a1d6f3b2a10","schema_type":"{schema_type}","schema":"\"int\""}}}}"#
            )
        };
        assert!(decode(0, registered("AVRO").as_bytes()).is_ok());
        let cases = [
            (registered("XML"), "XML"),
            (
                r#"{"v":1,"ts":1,"event":{"type":"mode_set","scope":{"kind":"global"},"mode":"WRITEONLY"}}"#.to_string(),
                "WRITEONLY",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"config_set","scope":{"kind":"global"},"config":{"compatibility":"SIDEWAYS"}}}"#.to_string(),
                "SIDEWAYS",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"config_set","scope":{"kind":"global"},"config":{"compatibilityPolicy":"LOGICAL"}}}"#.to_string(),
                "LOGICAL",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"schema_exploded","subject":"s"}}"#.to_string(),
                "schema_exploded",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"version_deleted","subject":"s\u0001","version":1,"permanent":false}}"#.to_string(),
                "control characters",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"version_deleted","subject":"s","version":0,"permanent":false}}"#.to_string(),
                "version",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"mode_set","scope":{"kind":"galaxy"},"mode":"READONLY"}}"#.to_string(),
                "galaxy",
            ),
            (
                r#"{"v":1,"ts":1,"event":{"type":"mode_deleted","scope":{"kind":"global"},"extra":1}}"#.to_string(),
                "extra",
            ),
            (r#"{"v":1,"ts":1,"event":{"type":"mode_deleted""#.to_string(), "EOF"),
            ("not json".to_string(), "expected"),
        ];
        for (line, needle) in cases {
            let reason = corrupt(&line);
            assert!(reason.contains(needle), "{line}: {reason}");
        }
        for newer in [
            r#"{"v":9,"ts":1,"event":{"type":"mode_deleted","scope":{"kind":"global"}}}"#,
            r#"{"v":9,"ts":1,"chain":"x","event":{"type":"quantum_entangled"}}"#,
        ] {
            let reason = corrupt(newer);
            assert!(reason.contains("format version 9"), "{reason}");
        }
    }

    #[test]
    fn scopes_resolve_subject_context_global() {
        let subject = QualifiedSubject::parse(":.ctx:s").expect("valid");
        assert_eq!(
            Scope::chain(&subject),
            vec![
                Scope::Subject(subject.clone()),
                Scope::Context(ContextName::parse(".ctx").expect("valid")),
                Scope::Global
            ]
        );
        let plain = QualifiedSubject::parse("s").expect("valid");
        assert_eq!(
            Scope::chain(&plain),
            vec![Scope::Subject(plain.clone()), Scope::Global]
        );
        let json = serde_json::to_string(&Scope::Subject(subject)).expect("json");
        assert_eq!(json, r#"{"kind":"subject","name":":.ctx:s"}"#);
        assert_eq!(
            serde_json::to_string(&Scope::Global).expect("json"),
            r#"{"kind":"global"}"#
        );
    }
}
