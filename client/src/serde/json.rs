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

use super::pipeline::{Format, Hook, Local, Reading, Step, Target, Writing};
use super::{resolve_references, SerializerConfig};
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

/// The JSON Schema steps of the pipeline.
pub(crate) struct JsonFormat;

impl Format for JsonFormat {
    type Value = Value;
    type Prepared = Validator;
    const ENCODE_VALIDATES: bool = false;

    fn prepare<'a>(
        &'a self,
        client: &'a Client,
        _id: i32,
        schema: &'a SchemaString,
        _local_key: &'a str,
    ) -> Step<'a, Validator> {
        Box::pin(fetch_validator(client, schema))
    }

    fn validate(&self, validator: &Validator, id: i32, value: &Value) -> Result<()> {
        validate(validator, value, || format!("id {id}"))
    }

    fn rule_schema(
        &self,
        _: &Validator,
        schema: &SchemaString,
    ) -> Result<Arc<crate::rules::values::JsonRules>> {
        let root = serde_json::from_str(&schema.schema)
            .map_err(|e| Error::Schema(format!("not JSON: {e}")))?;
        Ok(Arc::new(crate::rules::values::JsonRules::new(root)))
    }

    fn encode(&self, _: &Validator, _: i32, value: &Value, out: &mut Vec<u8>) -> Result<()> {
        serde_json::to_writer(out, value).map_err(|e| Error::Codec(e.to_string()))
    }
}

/// Serializes JSON values for one local schema.
pub struct JsonSerializer {
    pipeline: Writing<JsonFormat>,
    local: RegisterSchemaRequest,
    title: Option<String>,
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
            pipeline: Writing::new(JsonFormat, client, config),
            local: RegisterSchemaRequest {
                schema: Some(schema.to_string()),
                schema_type: Some("JSON".into()),
                references: (!references.is_empty()).then_some(references),
                ..RegisterSchemaRequest::default()
            },
            title,
        })
    }

    /// Adds a hook every event passes after validation, before encoding.
    pub fn with_hook(mut self, hook: Arc<dyn Hook<Value>>) -> Self {
        self.pipeline.add_hook(hook);
        self
    }

    async fn target(&self, topic: &str) -> Result<Target<Validator>> {
        self.pipeline
            .target(topic, "", async {
                Ok(Local {
                    key: String::new(),
                    record_name: self.title.clone(),
                    request: self.local.clone(),
                })
            })
            .await
    }

    /// Resolves the writer schema for `topic` and compiles its rules, so that a contract that
    /// cannot run fails when the service starts rather than on its first event.
    pub async fn warm_up(&self, topic: &str) -> Result<()> {
        self.target(topic).await.map(|_| ())
    }

    /// Validates and serializes a JSON value for `topic`.
    pub async fn serialize(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let target = self.target(topic).await?;
        self.pipeline.write(topic, &target, value).await
    }

    /// Validates and serializes a serde value for `topic`.
    pub async fn serialize_serde<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let value = serde_json::to_value(value).map_err(|e| Error::Codec(e.to_string()))?;
        self.serialize(topic, &value).await
    }
}

/// Deserializes JSON payloads, validating each.
pub struct JsonDeserializer {
    pipeline: Reading<Validator, Value>,
    reader: Option<Arc<Validator>>,
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
            pipeline: Reading::new(client),
            reader,
        })
    }

    /// Refuses events whose writer schema is not a version of `subject` with a semantic
    /// version matching `requirement` (`^2`, `~2.3`; Covenant only), checked once per writer.
    pub fn require_version(mut self, subject: &str, requirement: &str) -> Result<Self> {
        self.pipeline.require_version(subject, requirement)?;
        Ok(self)
    }

    /// Adds a hook every event passes after decoding and validation.
    pub fn with_hook(mut self, hook: Arc<dyn Hook<Value>>) -> Self {
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
    /// the UPGRADE (or DOWNGRADE) rules of each version between.
    pub fn with_migration(mut self, target: super::MigrationTarget) -> Self {
        self.pipeline.set_migration(target);
        self
    }

    /// Decodes and validates a framed payload.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value> {
        let client = self.pipeline.client();
        // The writer's schema must exist (and is prepared) even when the reader's validates.
        let (id, schema, writer, payload) = self
            .pipeline
            .writer(bytes, |registered| async move {
                fetch_validator(client, &registered).await
            })
            .await?;
        let walk = || {
            let root = serde_json::from_str(&schema.schema)
                .map_err(|e| Error::Schema(format!("not JSON: {e}")))?;
            Ok(Arc::new(crate::rules::values::JsonRules::new(root)))
        };
        let payload = self
            .pipeline
            .open_payload(id, &schema, payload, bytes, walk)
            .await?;
        let value: Value = serde_json::from_slice(&payload).map_err(|e| {
            Error::Codec(format!(
                "the payload written with schema {id} is not JSON: {e}"
            ))
        })?;
        match &self.reader {
            Some(reader) => validate(reader, &value, || "the reader schema".to_string())?,
            None => validate(&writer, &value, || format!("id {id}"))?,
        }
        if let Some(plan) = self.pipeline.migration(id, &schema).await? {
            let migrated = self.pipeline.migrate(&plan, value, bytes).await?;
            let target_ref = covenant_core::wire::SchemaRef::Id(plan.target_id);
            let target_walk = || {
                let root = serde_json::from_str(&plan.target.schema)
                    .map_err(|e| Error::Schema(format!("not JSON: {e}")))?;
                Ok(Arc::new(crate::rules::values::JsonRules::new(root)))
            };
            return self
                .pipeline
                .finish(target_ref, &plan.target, migrated, bytes, target_walk)
                .await;
        }
        self.pipeline.finish(id, &schema, value, bytes, walk).await
    }

    /// Decodes and validates a framed payload into a serde type.
    pub async fn deserialize_into<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let value = self.deserialize(bytes).await?;
        serde_json::from_value(value).map_err(|e| Error::Codec(e.to_string()))
    }
}
