//! Serializers and deserializers in the Confluent wire format: magic byte 0, the 4-byte
//! big-endian schema id, then the payload (Avro binary, JSON text, or for Protobuf the message
//! index path and the message). Reading also accepts the GUID frame (magic byte 1).
//!
//! Every serializer validates the value against its schema before any byte is produced, so an
//! event that does not fit its contract never reaches the broker.

pub mod avro;
pub mod json;
pub mod protobuf;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use covenant_core::api::{RegisterSchemaRequest, SchemaReference, SchemaString};
use covenant_core::ids::VersionSpec;
use covenant_core::wire::{self, SchemaRef};

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
        }
    }
}

/// The schema a serializer writes with, once its id is known.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    pub id: i32,
    /// The registered schema (the local one unless `use_latest_version`/`use_schema_id`).
    pub schema: Arc<SchemaString>,
}

/// Decides, per subject and local schema, which registered schema a serializer writes with,
/// and caches it.
pub(crate) struct WriterResolver {
    client: Client,
    config: SerializerConfig,
    /// (subject, local schema text) → writer.
    writers: BoundedCache<(String, String), Writer>,
}

impl WriterResolver {
    pub fn new(client: Client, config: SerializerConfig) -> WriterResolver {
        WriterResolver {
            client,
            config,
            writers: BoundedCache::new(1000, None),
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
        let writer = if let Some(id) = self.config.use_schema_id {
            let schema = self.client.schema_by_id(id, Some(subject)).await?;
            Writer { id, schema }
        } else if self.config.use_latest_version {
            let latest = self.client.latest(subject).await?;
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
            let schema = Arc::new(SchemaString {
                schema_type: local.schema_type.clone().filter(|t| t != "AVRO"),
                schema: response
                    .schema
                    .clone()
                    .or_else(|| local.schema.clone())
                    .unwrap_or_default(),
                references: local.references.clone().unwrap_or_default(),
                metadata: None,
                rule_set: None,
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

/// What a deserializer prepared for the schema a framed payload names: from `cache`, or
/// built once by `build` from the registered schema. Returns it with the payload after the
/// header.
pub(crate) async fn prepared_for<'b, T, F, Fut>(
    client: &Client,
    cache: &BoundedCache<SchemaRef, T>,
    bytes: &'b [u8],
    build: F,
) -> Result<(SchemaRef, T, &'b [u8])>
where
    T: Clone,
    F: FnOnce(Arc<SchemaString>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (schema_ref, payload) = wire::read_header(bytes)?;
    if let Some(found) = cache.get(&schema_ref) {
        return Ok((schema_ref, found, payload));
    }
    let prepared = build(writer_of(client, schema_ref).await?).await?;
    cache.insert(schema_ref, prepared.clone());
    Ok((schema_ref, prepared, payload))
}

/// The texts of every schema `references` names, transitively, dependencies first.
pub(crate) async fn resolve_references(
    client: &Client,
    references: &[SchemaReference],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    collect(client, references.to_vec(), &mut seen, &mut out, 0).await?;
    Ok(out)
}

type Collect<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

fn collect<'a>(
    client: &'a Client,
    references: Vec<SchemaReference>,
    seen: &'a mut HashSet<(String, i32)>,
    out: &'a mut Vec<(String, String)>,
    depth: usize,
) -> Collect<'a> {
    Box::pin(async move {
        if depth > 32 {
            return Err(Error::Schema(
                "references nest deeper than 32 levels".into(),
            ));
        }
        for reference in references {
            if !seen.insert((reference.subject.clone(), reference.version)) {
                continue;
            }
            let version = if reference.version < 1 {
                VersionSpec::Latest
            } else {
                VersionSpec::Number(reference.version)
            };
            let schema = client.version(&reference.subject, version, false).await?;
            collect(client, schema.references.clone(), seen, out, depth + 1).await?;
            out.push((reference.name.clone(), schema.schema.clone()));
        }
        Ok(())
    })
}

/// Frames a payload: the classic header, then the body.
pub(crate) fn frame(id: i32, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body_len);
    wire::write_header(id, &mut out);
    out
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
