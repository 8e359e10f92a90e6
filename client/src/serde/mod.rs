//! Serializers and deserializers in the Confluent wire format: magic byte 0, the 4-byte
//! big-endian schema id, then the payload (Avro binary, JSON text, or for Protobuf the message
//! index path and the message). Reading also accepts the GUID frame (magic byte 1).
//!
//! Every serializer validates the value against its schema before any byte is produced, so an
//! event that does not fit its contract never reaches the broker.

pub mod avro;
pub mod json;
pub mod pipeline;
pub mod protobuf;

pub use pipeline::{Hook, HookContext, MigrationTarget};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use covenant_core::api::{RegisterSchemaRequest, Schema, SchemaReference, SchemaString};
use covenant_core::ids::VersionSpec;
use covenant_core::references::{self, Found, ReferenceError};
use covenant_core::wire::SchemaRef;

use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::rest::Client;

/// How a serializer names the subject of a topic's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (Confluent's default): one lineage per topic.
    #[default]
    TopicName,
    /// The record's (message's) fully qualified name: one lineage per type across topics.
    RecordName,
    /// `<topic>-<fully qualified name>`: several types per topic.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for `topic`; `record` is the type's full name (needed by the record strategies).
    pub fn subject(self, topic: &str, is_key: bool, record: Option<&str>) -> Result<String> {
        let suffix = if is_key { "key" } else { "value" };
        let record = || {
            record.ok_or_else(|| {
                Error::Config(format!(
                    "{self:?} needs a named record type, and this schema has none"
                ))
            })
        };
        Ok(match self {
            SubjectNameStrategy::TopicName => format!("{topic}-{suffix}"),
            SubjectNameStrategy::RecordName => record()?.to_string(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{}", record()?),
        })
    }
}

/// The knobs Confluent's serializers have.
#[derive(Clone, Debug)]
pub struct SerializerConfig {
    /// Register the schema when it is not registered yet (default true).
    pub auto_register: bool,
    /// Write with the subject's latest version instead of the local schema.
    pub use_latest_version: bool,
    /// Write with this schema id.
    pub use_schema_id: Option<i32>,
    /// Ask the registry to normalize the schema.
    pub normalize: bool,
    /// How subjects are named.
    pub subject_name_strategy: SubjectNameStrategy,
    /// Serializing keys rather than values.
    pub is_key: bool,
    /// With `use_latest_version`, how long the latest version found is used before the
    /// registry is asked again (Confluent's `latest.cache.ttl.sec`). `None` keeps it for the
    /// serializer's life. Default 60 s, so a producer picks up a new version within a minute.
    pub latest_cache_ttl: Option<Duration>,
    /// Metadata registered with the local schema (auto-register and lookup).
    pub metadata: Option<serde_json::Value>,
    /// Rule set registered with the local schema (auto-register and lookup).
    pub rule_set: Option<serde_json::Value>,
    /// Write with the subject's newest version whose semantic version matches this
    /// requirement (`^2`, `~2.3`, `>=1.4, <2`; Covenant only), instead of the local schema.
    /// Cached like `use_latest_version`, for `latest_cache_ttl`.
    pub use_version_req: Option<String>,
    /// How the data-contract rules of the writer schema run (on by default; see
    /// [`crate::rules`]).
    pub rules: crate::rules::RuleConfig,
}

impl SerializerConfig {
    /// Pins the writer schema to the newest version matching `requirement`.
    pub fn use_version_req(mut self, requirement: &str) -> Self {
        self.use_version_req = Some(requirement.to_string());
        self
    }

    /// Whether the writer is the registry's choice, asked again when the cache expires.
    pub(crate) fn follows_registry(&self) -> bool {
        self.use_latest_version || self.use_version_req.is_some()
    }
}

impl Default for SerializerConfig {
    fn default() -> Self {
        SerializerConfig {
            auto_register: true,
            use_latest_version: false,
            use_schema_id: None,
            normalize: false,
            subject_name_strategy: SubjectNameStrategy::TopicName,
            is_key: false,
            latest_cache_ttl: Some(Duration::from_secs(60)),
            metadata: None,
            rule_set: None,
            use_version_req: None,
            rules: crate::rules::RuleConfig::default(),
        }
    }
}

/// The schema a serializer writes with, once its id is known.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    pub id: i32,
    /// The registered schema (the local one unless `use_latest_version`/`use_schema_id`),
    /// with the metadata and rule set the registry holds for it.
    pub schema: Arc<SchemaString>,
}

/// Decides, per subject and local schema, which registered schema a serializer writes with,
/// and caches it (under `use_latest_version`, for the latest cache's time to live).
pub(crate) struct WriterResolver {
    client: Client,
    config: SerializerConfig,
    /// (subject, local schema text) → writer.
    writers: BoundedCache<(String, String), Writer>,
}

impl WriterResolver {
    pub fn new(client: Client, config: SerializerConfig) -> WriterResolver {
        let ttl = config
            .follows_registry()
            .then_some(config.latest_cache_ttl)
            .flatten();
        WriterResolver {
            client,
            config,
            writers: BoundedCache::new(1000, ttl),
        }
    }

    pub fn config(&self) -> &SerializerConfig {
        &self.config
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The writer for `subject`, given the local schema as a registration request. Serializers
    /// keep their own per-topic cache in front of this one.
    pub async fn writer(&self, subject: &str, local: &RegisterSchemaRequest) -> Result<Writer> {
        let key = (
            subject.to_string(),
            local.schema.clone().unwrap_or_default(),
        );
        if let Some(found) = self.writers.get(&key) {
            return Ok(found);
        }
        let local = &RegisterSchemaRequest {
            metadata: local
                .metadata
                .clone()
                .or_else(|| self.config.metadata.clone()),
            rule_set: local
                .rule_set
                .clone()
                .or_else(|| self.config.rule_set.clone()),
            ..local.clone()
        };
        let writer = if let Some(id) = self.config.use_schema_id {
            let schema = self.client.schema_by_id(id, Some(subject)).await?;
            Writer { id, schema }
        } else if let Some(requirement) = &self.config.use_version_req {
            let pinned = self.client.resolve_semver(subject, requirement).await?;
            let version = self
                .client
                .version(
                    subject,
                    VersionSpec::Number(covenant_core::ids::Version::try_from(pinned.version)?),
                    false,
                )
                .await?;
            Writer {
                id: version.id,
                schema: Arc::new(SchemaString::from(version.as_ref())),
            }
        } else if self.config.use_latest_version {
            // Asked afresh each time this cache expires (the client's own latest cache would
            // add its time to live on top).
            let latest = self
                .client
                .version(subject, VersionSpec::Latest, false)
                .await?;
            Writer {
                id: latest.id,
                schema: Arc::new(SchemaString::from(latest.as_ref())),
            }
        } else {
            let response = if self.config.auto_register {
                self.client
                    .register(subject, local, self.config.normalize)
                    .await?
            } else {
                self.client
                    .lookup_id(subject, local, self.config.normalize)
                    .await?
            };
            // What the registry holds: its canonical text, and the metadata and rules it
            // stored (which may come from the subject's config, not only from the request).
            let schema = Arc::new(SchemaString {
                schema_type: local.schema_type.clone().filter(|t| t != "AVRO"),
                schema: response
                    .schema
                    .clone()
                    .or_else(|| local.schema.clone())
                    .unwrap_or_default(),
                references: local.references.clone().unwrap_or_default(),
                metadata: response.metadata.clone().or_else(|| local.metadata.clone()),
                rule_set: response.rule_set.clone().or_else(|| local.rule_set.clone()),
                max_id: None,
                guid: response.guid.clone(),
            });
            Writer {
                id: response.id,
                schema,
            }
        };
        self.writers.insert(key, writer.clone());
        Ok(writer)
    }
}

/// The registered schema an id or GUID names (both cached by the client).
pub(crate) async fn writer_of(client: &Client, schema_ref: SchemaRef) -> Result<Arc<SchemaString>> {
    match schema_ref {
        SchemaRef::Id(id) => client.schema_by_id(id, None).await,
        SchemaRef::Guid(_) => client.schema_by_guid(&schema_ref.to_string()).await,
    }
}

/// The (name, text) of every schema `references` names, transitively, dependencies first:
/// what parsing a registered schema with references needs.
pub async fn reference_texts(
    client: &Client,
    references: &[SchemaReference],
) -> Result<Vec<(String, String)>> {
    resolve_references(client, references).await
}

/// The texts of every schema `references` names, transitively, dependencies first, by the
/// same rules the registry resolves them with (`covenant_core::references`): every version the
/// closure reaches is fetched (cached by the client), then core orders them.
pub(crate) async fn resolve_references(
    client: &Client,
    references: &[SchemaReference],
) -> Result<Vec<(String, String)>> {
    /// A registry cannot make a closure larger than this.
    const MAX_FETCHES: usize = 1000;
    let mut fetched: HashMap<(String, i32), Arc<Schema>> = HashMap::new();
    let mut pending: Vec<SchemaReference> = references.to_vec();
    while let Some(reference) = pending.pop() {
        let key = (reference.subject.clone(), reference.version);
        if fetched.contains_key(&key) {
            continue;
        }
        if fetched.len() >= MAX_FETCHES {
            return Err(Error::Schema(format!(
                "the references reach more than {MAX_FETCHES} schemas"
            )));
        }
        let version = VersionSpec::of_reference(reference.version).map_err(|_| {
            Error::Schema(
                ReferenceError::InvalidVersion {
                    name: reference.name.clone(),
                    version: reference.version,
                }
                .to_string(),
            )
        })?;
        let schema = client.version(&reference.subject, version, false).await?;
        pending.extend(schema.references.iter().cloned());
        fetched.insert(key, schema);
    }
    references::closure(&(), references, |_, reference, _| {
        let schema = fetched
            .get(&(reference.subject.clone(), reference.version))
            .ok_or_else(|| {
                Error::Schema(format!("reference `{}` was not fetched", reference.name))
            })?;
        Ok(Found {
            key: (schema.subject.clone(), schema.version),
            scope: (),
            references: schema.references.clone(),
            value: schema.schema.clone(),
        })
    })
}

impl From<ReferenceError> for Error {
    fn from(error: ReferenceError) -> Self {
        Error::Schema(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_name_strategies() {
        let record = Some("com.acme.Order");
        assert_eq!(
            SubjectNameStrategy::TopicName
                .subject("orders", false, record)
                .expect("ok"),
            "orders-value"
        );
        assert_eq!(
            SubjectNameStrategy::TopicName
                .subject("orders", true, record)
                .expect("ok"),
            "orders-key"
        );
        assert_eq!(
            SubjectNameStrategy::RecordName
                .subject("orders", false, record)
                .expect("ok"),
            "com.acme.Order"
        );
        assert_eq!(
            SubjectNameStrategy::TopicRecordName
                .subject("orders", false, record)
                .expect("ok"),
            "orders-com.acme.Order"
        );
        assert!(SubjectNameStrategy::RecordName
            .subject("orders", false, None)
            .is_err());
    }
}
