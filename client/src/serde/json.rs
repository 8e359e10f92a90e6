//! JSON Schema serializer and deserializer: every value is validated against the schema before
//! it is written, and against the reader's schema (or the writer's) when it is read.

use std::sync::Arc;

use covenant_core::api::{RegisterSchemaRequest, SchemaReference, SchemaString};
use covenant_core::json::JsonSchema;
use covenant_core::json::Validator;
use covenant_core::schema::ResolvedReference;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use covenant_core::wire::SchemaRef;

use super::{frame, prepared_for, resolve_references, writer_of, SerializerConfig, WriterResolver};
use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::rest::Client;

/// Compiles a registered schema (fetching its references) into a validator.
async fn fetch_validator(client: &Client, registered: &SchemaString) -> Result<Validator> {
    let references = resolve_references(client, &registered.references).await?;
    let resolved: Vec<ResolvedReference<'_>> = references
        .iter()
        .map(|(name, text)| ResolvedReference { name, schema: text })
        .collect();
    let schema = JsonSchema::parse(&registered.schema, &resolved)?;
    Ok(schema.validator()?)
}

/// Validates `value`; `schema` names the schema in the error (formatted only on failure).
fn validate(validator: &Validator, value: &Value, schema: impl FnOnce() -> String) -> Result<()> {
    match validator.validate(value) {
        Ok(()) => Ok(()),
        Err(error) => {
            let path = error.instance_path().to_string();
            Err(Error::Validation {
                schema: schema(),
                path: if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                },
                reason: error.to_string(),
            })
        }
    }
}

/// Serializes JSON values for one local schema.
pub struct JsonSerializer {
    resolver: WriterResolver,
    local: RegisterSchemaRequest,
    title: Option<String>,
    validators: BoundedCache<i32, Arc<Validator>>,
    /// topic → (writer id, validator): the one lookup a steady-state event makes.
    by_topic: BoundedCache<String, (i32, Arc<Validator>)>,
}

impl JsonSerializer {
    /// A serializer validating against and registering `schema`.
    pub fn new(
        client: Client,
        schema: &str,
        references: Vec<SchemaReference>,
        config: SerializerConfig,
    ) -> Result<JsonSerializer> {
        let parsed: Value =
            serde_json::from_str(schema).map_err(|e| Error::Schema(format!("not JSON: {e}")))?;
        let title = parsed
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(JsonSerializer {
            resolver: WriterResolver::new(client, config),
            local: RegisterSchemaRequest {
                schema: Some(schema.to_string()),
                schema_type: Some("JSON".into()),
                references: (!references.is_empty()).then_some(references),
                ..RegisterSchemaRequest::default()
            },
            title,
            validators: BoundedCache::new(64, None),
            by_topic: BoundedCache::new(1000, None),
        })
    }

    /// Validates and serializes a JSON value for `topic`.
    pub async fn serialize(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let (id, validator) = match self.by_topic.get(topic) {
            Some(found) => found,
            None => {
                let found = self.resolve_validator(topic).await?;
                self.by_topic.insert(topic.to_string(), found.clone());
                found
            }
        };
        validate(&validator, value, || format!("id {id}"))?;
        let mut out = frame(id, 64);
        serde_json::to_writer(&mut out, value).map_err(|e| Error::Codec(e.to_string()))?;
        Ok(out)
    }

    async fn resolve_validator(&self, topic: &str) -> Result<(i32, Arc<Validator>)> {
        let config = self.resolver.config();
        let subject =
            config
                .subject_name_strategy
                .subject(topic, config.is_key, self.title.as_deref())?;
        let writer = self.resolver.writer(&subject, &self.local).await?;
        if let Some(validator) = self.validators.get(&writer.id) {
            return Ok((writer.id, validator));
        }
        let validator = Arc::new(fetch_validator(self.resolver.client(), &writer.schema).await?);
        self.validators.insert(writer.id, validator.clone());
        Ok((writer.id, validator))
    }

    /// Validates and serializes a serde value for `topic`.
    pub async fn serialize_serde<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let value = serde_json::to_value(value).map_err(|e| Error::Codec(e.to_string()))?;
        self.serialize(topic, &value).await
    }
}

/// Deserializes JSON payloads, validating each.
pub struct JsonDeserializer {
    client: Client,
    reader: Option<Arc<Validator>>,
    validators: BoundedCache<SchemaRef, Arc<Validator>>,
}

impl JsonDeserializer {
    /// A deserializer; with a reader schema every value is validated against it, otherwise
    /// against the schema it was written with.
    pub fn new(client: Client, reader_schema: Option<&str>) -> Result<JsonDeserializer> {
        let reader = match reader_schema {
            Some(text) => Some(Arc::new(JsonSchema::parse(text, &[])?.validator()?)),
            None => None,
        };
        Ok(JsonDeserializer {
            client,
            reader,
            validators: BoundedCache::new(64, None),
        })
    }

    /// Decodes and validates a framed payload.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value> {
        let (id, validator, payload) = match &self.reader {
            // The writer's schema must exist even when the reader's validates.
            Some(reader) => {
                let (id, payload) = covenant_core::wire::read_header(bytes)?;
                writer_of(&self.client, id).await?;
                (id, reader.clone(), payload)
            }
            None => {
                prepared_for(
                    &self.client,
                    &self.validators,
                    bytes,
                    |registered| async move {
                        Ok(Arc::new(fetch_validator(&self.client, &registered).await?))
                    },
                )
                .await?
            }
        };
        let value: Value = serde_json::from_slice(payload).map_err(|e| {
            Error::Codec(format!(
                "the payload written with schema {id} is not JSON: {e}"
            ))
        })?;
        validate(&validator, &value, || match self.reader {
            Some(_) => "the reader schema".to_string(),
            None => format!("id {id}"),
        })?;
        Ok(value)
    }

    /// Decodes and validates a framed payload into a serde type.
    pub async fn deserialize_into<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let value = self.deserialize(bytes).await?;
        serde_json::from_value(value).map_err(|e| Error::Codec(e.to_string()))
    }
}
