//! Protobuf serializer and deserializer for `prost-reflect` dynamic messages and generated types.
//! The serializer registers the message's file (and the files it imports, each under its import
//! path as subject) and writes the message-index path before the payload.

use std::sync::Arc;

use covenant_core::api::{RegisterSchemaRequest, SchemaReference, SchemaString};
use covenant_core::protobuf::{self, ProtobufSchema};
use covenant_core::schema::ResolvedReference;
use covenant_core::wire;
use prost::Message;
use prost_reflect::{DynamicMessage, FileDescriptor, ReflectMessage};

use super::pipeline::{Format, Hook, Local, Reading, Step, Writing};
use super::{resolve_references, SerializerConfig};
use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::rest::Client;

/// Compiles a registered schema, fetching what it imports.
async fn fetch_schema(client: &Client, registered: &SchemaString) -> Result<ProtobufSchema> {
    let references = resolve_references(client, &registered.references).await?;
    let resolved: Vec<ResolvedReference<'_>> = references
        .iter()
        .map(|(name, text)| ResolvedReference { name, schema: text })
        .collect();
    Ok(ProtobufSchema::parse(&registered.schema, &resolved)?)
}

/// The writer's message a serializer frames events of one message type with.
pub struct Framing {
    /// The message index path of the type in the writer schema.
    indexes: Arc<[i32]>,
    /// What rules need to walk messages of the writer schema.
    rules: Arc<crate::rules::values::ProtoRules>,
}

/// The Protobuf steps of the pipeline. The local kind is the message's full name.
pub(crate) struct ProtobufFormat;

impl Format for ProtobufFormat {
    type Value = DynamicMessage;
    type Prepared = Framing;
    const ENCODE_VALIDATES: bool = true;

    fn prepare<'a>(
        &'a self,
        client: &'a Client,
        id: i32,
        schema: &'a SchemaString,
        message: &'a str,
    ) -> Step<'a, Framing> {
        Box::pin(async move {
            // The message must exist in the writer schema (which differs from the local one
            // under use_latest_version or use_schema_id).
            let compiled = fetch_schema(client, schema).await?;
            let target = compiled
                .pool()
                .get_message_by_name(message)
                .ok_or_else(|| Error::Validation {
                    schema: format!("id {id}"),
                    path: "/".into(),
                    reason: format!("message {message} is not in the registered schema"),
                })?;
            Ok(Framing {
                indexes: protobuf::message_indexes(&target).into(),
                rules: Arc::new(crate::rules::values::ProtoRules::new(
                    compiled.file(),
                    &schema.schema,
                )),
            })
        })
    }

    fn validate(&self, _: &Framing, _: i32, _: &DynamicMessage) -> Result<()> {
        // A dynamic message always fits its own descriptor, and the framing was found by the
        // message's full name.
        Ok(())
    }

    fn rule_schema(
        &self,
        framing: &Framing,
        _: &SchemaString,
    ) -> Result<Arc<crate::rules::values::ProtoRules>> {
        Ok(Arc::clone(&framing.rules))
    }

    fn frame(&self, framing: &Framing, out: &mut Vec<u8>) {
        wire::write_message_indexes(&framing.indexes, out);
    }

    fn encode(
        &self,
        _: &Framing,
        _: i32,
        message: &DynamicMessage,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        message
            .encode(out)
            .map_err(|e| Error::Codec(format!("cannot encode the Protobuf message: {e}")))
    }
}

/// Serializes Protobuf messages.
pub struct ProtobufSerializer {
    pipeline: Writing<ProtobufFormat>,
    /// File name → the references its registration carries.
    dependencies: BoundedCache<String, Vec<SchemaReference>>,
}

impl ProtobufSerializer {
    /// A serializer under `config`.
    pub fn new(client: Client, config: SerializerConfig) -> ProtobufSerializer {
        ProtobufSerializer {
            pipeline: Writing::new(ProtobufFormat, client, config),
            dependencies: BoundedCache::new(256, None),
        }
    }

    /// Adds a hook every event passes before encoding.
    pub fn with_hook(mut self, hook: Arc<dyn Hook<DynamicMessage>>) -> Self {
        self.pipeline.add_hook(hook);
        self
    }

    /// Registers the files `file` imports (depth first) and returns its references.
    fn references<'a>(&'a self, file: &'a FileDescriptor) -> Step<'a, Vec<SchemaReference>> {
        Box::pin(async move {
            if let Some(found) = self.dependencies.get(&file.name().to_string()) {
                return Ok(found);
            }
            let mut references = Vec::new();
            for dependency in file.dependencies() {
                if protobuf::is_builtin(dependency.name()) {
                    continue;
                }
                let nested = self.references(&dependency).await?;
                let request = RegisterSchemaRequest {
                    schema: Some(protobuf::print_descriptor(&dependency)),
                    schema_type: Some("PROTOBUF".into()),
                    references: (!nested.is_empty()).then_some(nested),
                    ..RegisterSchemaRequest::default()
                };
                let config = self.pipeline.config();
                let client = self.pipeline.client();
                // Dependencies are subjects named after their import path.
                let response = if config.auto_register {
                    client
                        .register(dependency.name(), &request, config.normalize)
                        .await?
                } else {
                    client
                        .lookup_id(dependency.name(), &request, config.normalize)
                        .await?
                };
                references.push(SchemaReference {
                    name: dependency.name().to_string(),
                    subject: dependency.name().to_string(),
                    version: response.version.unwrap_or(-1),
                });
            }
            self.dependencies
                .insert(file.name().to_string(), references.clone());
            Ok(references)
        })
    }

    /// Serializes a dynamic message for `topic`.
    pub async fn serialize(&self, topic: &str, message: &DynamicMessage) -> Result<Vec<u8>> {
        let descriptor = message.descriptor();
        let name = descriptor.full_name();
        let target = self
            .pipeline
            .target(topic, name, async {
                let file = descriptor.parent_file();
                let references = self.references(&file).await?;
                Ok(Local {
                    key: name.to_string(),
                    record_name: Some(name.to_string()),
                    request: RegisterSchemaRequest {
                        schema: Some(protobuf::print_descriptor(&file)),
                        schema_type: Some("PROTOBUF".into()),
                        references: (!references.is_empty()).then_some(references),
                        ..RegisterSchemaRequest::default()
                    },
                })
            })
            .await?;
        self.pipeline.write(topic, &target, message).await
    }

    /// Serializes a generated message for `topic`.
    pub async fn serialize_message<M: ReflectMessage>(
        &self,
        topic: &str,
        message: &M,
    ) -> Result<Vec<u8>> {
        let dynamic = message.transcode_to_dynamic();
        self.serialize(topic, &dynamic).await
    }
}

/// Deserializes Protobuf payloads.
pub struct ProtobufDeserializer {
    pipeline: Reading<ProtobufSchema, DynamicMessage>,
}

impl ProtobufDeserializer {
    /// A deserializer.
    pub fn new(client: Client) -> ProtobufDeserializer {
        ProtobufDeserializer {
            pipeline: Reading::new(client),
        }
    }

    /// Refuses events whose writer schema is not a version of `subject` with a semantic
    /// version matching `requirement` (`^2`, `~2.3`; Covenant only), checked once per writer.
    pub fn require_version(mut self, subject: &str, requirement: &str) -> Result<Self> {
        self.pipeline.require_version(subject, requirement)?;
        Ok(self)
    }

    /// Adds a hook every event passes after decoding.
    pub fn with_hook(mut self, hook: Arc<dyn Hook<DynamicMessage>>) -> Self {
        self.pipeline.add_hook(hook);
        self
    }

    /// How the writer schemas' data-contract rules run on read (on by default).
    pub fn with_rules(mut self, config: crate::rules::RuleConfig) -> Self {
        self.pipeline.set_rules(config);
        self
    }

    /// Reads every event as `target` (Confluent's `use.latest.version` /
    /// `use.latest.with.metadata`): an event of another version of the subject goes through
    /// the UPGRADE (or DOWNGRADE) rules of each version between (on its JSON mapping) and is
    /// read as the message of the same name in the target.
    pub fn with_migration(mut self, target: super::MigrationTarget) -> Self {
        self.pipeline.set_migration(target);
        self
    }

    /// Decodes a framed payload into a dynamic message of the writer's type.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<DynamicMessage> {
        let client = self.pipeline.client();
        let (id, registered, schema, payload) = self
            .pipeline
            .writer(bytes, |registered| async move {
                fetch_schema(client, &registered).await
            })
            .await?;
        let (indexes, body) = wire::read_message_indexes(payload)?;
        let descriptor = protobuf::message_at(schema.file(), &indexes).ok_or_else(|| {
            Error::Wire(format!(
                "schema {id} has no message at index path {indexes:?}"
            ))
        })?;
        let walk = || {
            Ok(Arc::new(crate::rules::values::ProtoRules::new(
                schema.file(),
                &registered.schema,
            )))
        };
        let body = self
            .pipeline
            .open_payload(id, &registered, body, bytes, walk)
            .await?;
        let message = DynamicMessage::decode(descriptor, &body[..]).map_err(|e| {
            Error::Codec(format!(
                "cannot decode the Protobuf payload written with schema {id}: {e}"
            ))
        })?;
        if let Some(plan) = self.pipeline.migration(id, &registered).await? {
            use crate::rules::RuleValue as _;
            let json = self
                .pipeline
                .migrate(&plan, message.to_json(), bytes)
                .await?;
            let target = fetch_schema(client, &plan.target).await?;
            let name = message.descriptor().full_name().to_string();
            let descriptor = target.pool().get_message_by_name(&name).ok_or_else(|| {
                Error::Schema(format!(
                    "the migration target (id {}) has no message {name}",
                    plan.target_id
                ))
            })?;
            let migrated =
                crate::rules::values::proto_from_json(json, &descriptor).map_err(|reason| {
                    Error::Validation {
                        schema: format!("id {} (the migration target)", plan.target_id),
                        path: "/".into(),
                        reason,
                    }
                })?;
            let target_ref = wire::SchemaRef::Id(plan.target_id);
            let target_walk = || {
                Ok(Arc::new(crate::rules::values::ProtoRules::new(
                    target.file(),
                    &plan.target.schema,
                )))
            };
            return self
                .pipeline
                .finish(target_ref, &plan.target, migrated, bytes, target_walk)
                .await;
        }
        self.pipeline
            .finish(id, &registered, message, bytes, walk)
            .await
    }

    /// Decodes a framed payload into a generated message (the reader's own type; fields it
    /// does not know are skipped).
    pub async fn deserialize_into<M: Message + Default>(&self, bytes: &[u8]) -> Result<M> {
        let (_, payload) = wire::read_header(bytes)?;
        let (_, body) = wire::read_message_indexes(payload)?;
        M::decode(body)
            .map_err(|e| Error::Codec(format!("cannot decode the Protobuf payload: {e}")))
    }
}
