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

use super::{frame, resolve_references, writer_of, SerializerConfig, WriterResolver};
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

/// Serializes Protobuf messages.
pub struct ProtobufSerializer {
    resolver: WriterResolver,
    /// File name → the references its registration carries.
    dependencies: BoundedCache<String, Vec<SchemaReference>>,
    /// Writer id → the compiled writer schema (for `use_latest_version`/`use_schema_id`).
    writers: BoundedCache<i32, Arc<ProtobufSchema>>,
}

impl ProtobufSerializer {
    /// A serializer under `config`.
    pub fn new(client: Client, config: SerializerConfig) -> ProtobufSerializer {
        ProtobufSerializer {
            resolver: WriterResolver::new(client, config),
            dependencies: BoundedCache::new(256, None),
            writers: BoundedCache::new(64, None),
        }
    }

    /// Registers the files `file` imports (depth first) and returns its references.
    fn references<'a>(
        &'a self,
        file: &'a FileDescriptor,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<SchemaReference>>> + 'a>>
    {
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
                let config = self.resolver.config();
                let client = self.resolver.client();
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
        let file = descriptor.parent_file();
        let config = self.resolver.config();
        let subject = config.subject_name_strategy.subject(
            topic,
            config.is_key,
            Some(descriptor.full_name()),
        )?;
        let references = self.references(&file).await?;
        let local = RegisterSchemaRequest {
            schema: Some(protobuf::print_descriptor(&file)),
            schema_type: Some("PROTOBUF".into()),
            references: (!references.is_empty()).then_some(references),
            ..RegisterSchemaRequest::default()
        };
        let writer = self.resolver.writer(&subject, &local).await?;
        let indexes = if config.use_latest_version || config.use_schema_id.is_some() {
            // Writing with another registered version: the message must exist there.
            let schema = match self.writers.get(&writer.id) {
                Some(schema) => schema,
                None => {
                    let schema =
                        Arc::new(fetch_schema(self.resolver.client(), &writer.schema).await?);
                    self.writers.insert(writer.id, schema.clone());
                    schema
                }
            };
            let target = schema
                .pool()
                .get_message_by_name(descriptor.full_name())
                .ok_or_else(|| Error::Validation {
                    schema: format!("id {}", writer.id),
                    path: "/".into(),
                    reason: format!(
                        "message {} is not in the registered schema",
                        descriptor.full_name()
                    ),
                })?;
            protobuf::message_indexes(&target)
        } else {
            protobuf::message_indexes(&descriptor)
        };
        let body = message.encode_to_vec();
        let mut out = frame(writer.id, body.len() + 4);
        wire::write_message_indexes(&indexes, &mut out);
        out.extend_from_slice(&body);
        Ok(out)
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
    client: Client,
    schemas: BoundedCache<i32, Arc<ProtobufSchema>>,
}

impl ProtobufDeserializer {
    /// A deserializer.
    pub fn new(client: Client) -> ProtobufDeserializer {
        ProtobufDeserializer {
            client,
            schemas: BoundedCache::new(64, None),
        }
    }

    /// Decodes a framed payload into a dynamic message of the writer's type.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<DynamicMessage> {
        let (id, registered, payload) = writer_of(&self.client, bytes).await?;
        let (indexes, body) = wire::read_message_indexes(payload)?;
        let schema = match (id >= 0).then(|| self.schemas.get(&id)).flatten() {
            Some(schema) => schema,
            None => {
                let schema = Arc::new(fetch_schema(&self.client, &registered).await?);
                if id >= 0 {
                    self.schemas.insert(id, schema.clone());
                }
                schema
            }
        };
        let descriptor = protobuf::message_at(schema.file(), &indexes).ok_or_else(|| {
            Error::Wire(format!(
                "schema {id} has no message at index path {indexes:?}"
            ))
        })?;
        DynamicMessage::decode(descriptor, body).map_err(|e| {
            Error::Codec(format!(
                "cannot decode the Protobuf payload written with schema {id}: {e}"
            ))
        })
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
