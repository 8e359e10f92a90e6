//! Protobuf serializer and deserializer for `prost-reflect` dynamic messages and generated types.
//! The serializer registers the message's file (and the files it imports, each under its import
//! path as subject) and writes the message-index path before the payload.

use std::sync::Arc;

use covenant_core::api::{RegisterSchemaRequest, SchemaReference, SchemaString};
use covenant_core::protobuf::{self, ProtobufSchema};
use covenant_core::schema::ResolvedReference;
use covenant_core::wire::{self, SchemaRef};
use prost::Message;
use prost_reflect::{DynamicMessage, FileDescriptor, ReflectMessage};

use super::{frame, prepared_for, resolve_references, SerializerConfig, WriterResolver};
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
    /// "topic NUL message full name" → (writer id, message index path): the one lookup a
    /// steady-state event makes.
    by_message: BoundedCache<String, (i32, Arc<[i32]>)>,
    /// The size of the last event, to allocate its successor in one go.
    last_size: std::sync::atomic::AtomicUsize,
}

impl ProtobufSerializer {
    /// A serializer under `config`.
    pub fn new(client: Client, config: SerializerConfig) -> ProtobufSerializer {
        ProtobufSerializer {
            resolver: WriterResolver::new(client, config),
            dependencies: BoundedCache::new(256, None),
            writers: BoundedCache::new(64, None),
            by_message: BoundedCache::new(1000, None),
            last_size: std::sync::atomic::AtomicUsize::new(64),
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
        use std::sync::atomic::Ordering;
        let descriptor = message.descriptor();
        let key = format!("{topic}\0{}", descriptor.full_name());
        let (id, indexes) = match self.by_message.get(&key) {
            Some(found) => found,
            None => {
                let found = self.resolve_framing(topic, &descriptor).await?;
                self.by_message.insert(key, found.clone());
                found
            }
        };
        let mut out = frame(id, self.last_size.load(Ordering::Relaxed));
        wire::write_message_indexes(&indexes, &mut out);
        message
            .encode(&mut out)
            .map_err(|e| Error::Codec(format!("cannot encode the Protobuf message: {e}")))?;
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    /// The writer id and message index path for `descriptor`'s messages on `topic`: registers
    /// (or looks up) its file, and with `use_latest_version`/`use_schema_id` finds the message
    /// in the registered schema.
    async fn resolve_framing(
        &self,
        topic: &str,
        descriptor: &prost_reflect::MessageDescriptor,
    ) -> Result<(i32, Arc<[i32]>)> {
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
            protobuf::message_indexes(descriptor)
        };
        Ok((writer.id, indexes.into()))
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
    schemas: BoundedCache<SchemaRef, Arc<ProtobufSchema>>,
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
        let (id, schema, payload) =
            prepared_for(&self.client, &self.schemas, bytes, |registered| async move {
                Ok(Arc::new(fetch_schema(&self.client, &registered).await?))
            })
            .await?;
        let (indexes, body) = wire::read_message_indexes(payload)?;
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
