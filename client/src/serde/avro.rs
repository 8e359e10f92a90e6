//! Avro serializer and deserializer: `apache_avro::types::Value` or any serde type, validated
//! against the writer schema, framed with its id. The deserializer resolves old data into a
//! reader schema when one is given (Avro schema resolution).

use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use covenant_core::api::{RegisterSchemaRequest, SchemaReference, SchemaString};
use self_cell::self_cell;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::pipeline::{Format, Hook, Local, Reading, Step, Target, Writing};
use super::{resolve_references, SerializerConfig};
use crate::error::{Error, Result};
use crate::rest::Client;

/// A parsed schema with the named types of its references.
#[derive(Clone, Debug)]
pub struct AvroSchema {
    schema: Schema,
    references: Vec<Schema>,
}

impl AvroSchema {
    /// Parses `text`; `references` are the texts of the schemas it names, dependencies first.
    pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema> {
        let (schema, references) = Schema::parse_str_with_list(text, references)
            .map_err(|e| Error::Schema(format!("cannot parse the Avro schema: {e}")))?;
        Ok(AvroSchema { schema, references })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The full name of a named root type (for the record subject strategies).
    pub fn full_name(&self) -> Option<String> {
        match &self.schema {
            Schema::Record(record) => Some(record.name.fullname(None)),
            Schema::Enum(e) => Some(e.name.fullname(None)),
            Schema::Fixed(f) => Some(f.name.fullname(None)),
            _ => None,
        }
    }

    fn all(&self) -> Vec<&Schema> {
        let mut all = Vec::with_capacity(self.references.len() + 1);
        all.extend(self.references.iter());
        all.push(&self.schema);
        all
    }
}

/// Parses a registered schema, fetching what it references.
async fn fetch_schema(client: &Client, registered: &SchemaString) -> Result<AvroSchema> {
    let references = resolve_references(client, &registered.references).await?;
    let texts: Vec<String> = references.into_iter().map(|(_, text)| text).collect();
    AvroSchema::parse(&registered.schema, &texts)
}

/// What encoding with one schema needs, prepared once: the datum writer, and the named types
/// (root and references) that serde values resolve against.
struct Prepared<'a> {
    writer: GenericDatumWriter<'a>,
    names: ResolvedSchema<'a>,
}

self_cell!(
    /// A writer built once per schema id and reused for every event.
    pub struct Encoder {
        owner: AvroSchema,
        #[covariant]
        dependent: Prepared,
    }
);

impl Encoder {
    fn build(schema: AvroSchema) -> Result<Encoder> {
        Encoder::try_new(schema, |schema| {
            let prepare = || {
                Ok(Prepared {
                    writer: GenericDatumWriter::builder(&schema.schema)
                        .schemata(schema.all())?
                        .build()?,
                    names: ResolvedSchema::new_with_schemata(schema.all())?,
                })
            };
            prepare().map_err(|e: apache_avro::Error| {
                Error::Schema(format!("cannot prepare the Avro writer: {e}"))
            })
        })
    }
}

/// The Avro steps of the pipeline.
pub(crate) struct AvroFormat;

impl Format for AvroFormat {
    type Value = Value;
    type Prepared = Encoder;
    const ENCODE_VALIDATES: bool = true;

    fn prepare<'a>(
        &'a self,
        client: &'a Client,
        _id: i32,
        schema: &'a SchemaString,
        _local_key: &'a str,
    ) -> Step<'a, Encoder> {
        Box::pin(async move { Encoder::build(fetch_schema(client, schema).await?) })
    }

    fn validate(&self, encoder: &Encoder, id: i32, value: &Value) -> Result<()> {
        let schema = encoder.borrow_owner();
        if value.validate_with_names(&schema.schema, encoder.borrow_dependent().names.get_names()) {
            Ok(())
        } else {
            Err(validation_error(
                id,
                schema,
                value,
                "the value does not fit the schema",
            ))
        }
    }

    fn rule_schema(
        &self,
        encoder: &Encoder,
        _: &SchemaString,
    ) -> Result<Arc<crate::rules::values::AvroRules>> {
        let schema = encoder.borrow_owner();
        Ok(Arc::new(crate::rules::values::AvroRules::new(
            &schema.schema,
            &schema.references,
        )))
    }

    fn encode(&self, encoder: &Encoder, id: i32, value: &Value, out: &mut Vec<u8>) -> Result<()> {
        encode_into(out, id, encoder, value)
    }
}

/// Serializes Avro values for one local schema.
pub struct AvroSerializer {
    pipeline: Writing<AvroFormat>,
    local: RegisterSchemaRequest,
    record_name: Option<String>,
}

impl AvroSerializer {
    /// A serializer writing `schema` (with the given references) under `config`.
    pub fn new(
        client: Client,
        schema: &str,
        references: Vec<SchemaReference>,
        config: SerializerConfig,
    ) -> Result<AvroSerializer> {
        // Parse locally first: a schema that does not parse never reaches the registry. Named
        // types from references are only known to the registry, so parse leniently then.
        let record_name = match AvroSchema::parse(schema, &[]) {
            Ok(parsed) => parsed.full_name(),
            Err(error) if references.is_empty() => return Err(error),
            Err(_) => serde_json::from_str::<serde_json::Value>(schema)
                .ok()
                .and_then(|v| {
                    let name = v.get("name")?.as_str()?;
                    let namespace = v.get("namespace").and_then(|n| n.as_str());
                    Some(match namespace {
                        Some(namespace) if !namespace.is_empty() && !name.contains('.') => {
                            format!("{namespace}.{name}")
                        }
                        _ => name.to_string(),
                    })
                }),
        };
        Ok(AvroSerializer {
            pipeline: Writing::new(AvroFormat, client, config),
            local: RegisterSchemaRequest {
                schema: Some(schema.to_string()),
                schema_type: None,
                references: (!references.is_empty()).then_some(references),
                ..RegisterSchemaRequest::default()
            },
            record_name,
        })
    }

    /// Adds a hook every event passes after validation, before encoding.
    pub fn with_hook(mut self, hook: Arc<dyn Hook<Value>>) -> Self {
        self.pipeline.add_hook(hook);
        self
    }

    async fn target(&self, topic: &str) -> Result<Target<Encoder>> {
        self.pipeline
            .target(topic, "", async {
                Ok(Local {
                    key: String::new(),
                    record_name: self.record_name.clone(),
                    request: self.local.clone(),
                })
            })
            .await
    }

    /// Resolves the writer schema for `topic` and compiles its rules, so that a contract that
    /// cannot run (a rule that does not compile, a schema that is not registered) fails when
    /// the service starts rather than on its first event.
    pub async fn warm_up(&self, topic: &str) -> Result<()> {
        self.target(topic).await.map(|_| ())
    }

    /// Serializes an Avro value for `topic`.
    pub async fn serialize(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let target = self.target(topic).await?;
        self.pipeline.write(topic, &target, value).await
    }

    /// Serializes a JSON value for `topic`, read by the writer schema: integers into `int` or
    /// `long`, numbers into `float` or `double`, a union's value as the first branch it fits
    /// (plain, not `{"type": value}`), strings into `bytes`/`fixed` by code point, defaults for
    /// missing fields. What `covenant rules test` reads events with.
    pub async fn serialize_json(&self, topic: &str, value: &serde_json::Value) -> Result<Vec<u8>> {
        let target = self.target(topic).await?;
        let encoder = &target.prepared;
        let schema = encoder.borrow_owner();
        let names = encoder.borrow_dependent().names.get_names();
        let avro = crate::rules::values::avro_value_from_json(names, &schema.schema, value)
            .map_err(|reason| Error::Validation {
                schema: format!("id {}", target.id),
                path: "/".into(),
                reason,
            })?;
        self.pipeline.write(topic, &target, &avro).await
    }

    /// Serializes a serde value for `topic`, resolving it into the writer schema first.
    pub async fn serialize_serde<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let target = self.target(topic).await?;
        let encoder = &target.prepared;
        let to_avro = || {
            apache_avro::to_value(value)
                .map_err(|e| Error::Codec(format!("cannot convert the value to Avro: {e}")))
        };
        let schema = encoder.borrow_owner();
        let names = encoder.borrow_dependent().names.get_names();
        let resolved = match to_avro()?.resolve_with_names(&schema.schema, names) {
            Ok(resolved) => resolved,
            // The conversion is repeated only to name what does not fit.
            Err(e) => {
                return Err(validation_error(
                    target.id,
                    schema,
                    &to_avro()?,
                    &e.to_string(),
                ))
            }
        };
        self.pipeline.write(topic, &target, &resolved).await
    }
}

#[cfg(test)]
fn encode(id: i32, encoder: &Encoder, value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    covenant_core::wire::write_header(id, &mut out);
    encode_into(&mut out, id, encoder, value)?;
    Ok(out)
}

fn encode_into(out: &mut Vec<u8>, id: i32, encoder: &Encoder, value: &Value) -> Result<()> {
    encoder
        .borrow_dependent()
        .writer
        .write_value_ref(out, value)
        .map_err(|e| validation_error(id, encoder.borrow_owner(), value, &e.to_string()))?;
    Ok(())
}

/// A validation error naming the first place the value leaves the schema.
fn validation_error(id: i32, schema: &AvroSchema, value: &Value, fallback: &str) -> Error {
    let names = ResolvedSchema::new_with_schemata(schema.all()).ok();
    let found = names
        .as_ref()
        .and_then(|names| mismatch(value, &schema.schema, names.get_names(), String::new()));
    let (path, reason) = found.unwrap_or_else(|| ("/".to_string(), fallback.to_string()));
    Error::Validation {
        schema: format!("id {id}"),
        path: if path.is_empty() {
            "/".to_string()
        } else {
            path
        },
        reason,
    }
}

type Names<'s> = std::collections::HashMap<Name, &'s Schema>;

/// The first place `value` does not fit `schema`: (path, reason).
fn mismatch(
    value: &Value,
    schema: &Schema,
    names: &Names<'_>,
    path: String,
) -> Option<(String, String)> {
    let schema = match schema {
        Schema::Ref { name } => *names.get(name)?,
        other => other,
    };
    if value.validate_with_names(schema, names) {
        return None;
    }
    match (value, schema) {
        (Value::Record(fields), Schema::Record(record)) => {
            for field in &record.fields {
                match fields.iter().find(|(name, _)| *name == field.name) {
                    None if field.default.is_none() => {
                        return Some((
                            format!("{path}/{}", field.name),
                            "missing field (it has no default)".into(),
                        ))
                    }
                    None => {}
                    Some((_, inner)) => {
                        if let Some(found) = mismatch(
                            inner,
                            &field.schema,
                            names,
                            format!("{path}/{}", field.name),
                        ) {
                            return Some(found);
                        }
                    }
                }
            }
            for (name, _) in fields {
                if !record.fields.iter().any(|f| f.name == *name) {
                    return Some((
                        format!("{path}/{name}"),
                        format!(
                            "field `{name}` is not in record {}",
                            record.name.fullname(None)
                        ),
                    ));
                }
            }
            Some((path, "the record does not match".into()))
        }
        (Value::Array(items), Schema::Array(array)) => {
            items.iter().enumerate().find_map(|(index, item)| {
                mismatch(item, &array.items, names, format!("{path}/{index}"))
            })
        }
        (Value::Map(entries), Schema::Map(map)) => entries
            .iter()
            .find_map(|(key, item)| mismatch(item, &map.types, names, format!("{path}/{key}"))),
        (Value::Union(index, inner), Schema::Union(union)) => {
            match union.variants().get(*index as usize) {
                Some(branch) => mismatch(inner, branch, names, path),
                None => Some((path, format!("union branch {index} does not exist"))),
            }
        }
        (Value::Enum(_, symbol), Schema::Enum(e)) | (Value::String(symbol), Schema::Enum(e)) => {
            Some((
                path,
                format!(
                    "`{symbol}` is not a symbol of enum {} ({})",
                    e.name.fullname(None),
                    e.symbols.join(", ")
                ),
            ))
        }
        (value, schema) => Some((
            path,
            format!(
                "expected {}, found {}",
                schema_kind(schema),
                value_kind(value)
            ),
        )),
    }
}

fn schema_kind(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed {} of {} bytes", f.name.fullname(None), f.size),
        Schema::Union(u) => format!(
            "one of [{}]",
            u.variants()
                .iter()
                .map(schema_kind)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => {
            let text = format!("{other:?}");
            text.split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        }
    }
}

fn value_kind(value: &Value) -> String {
    let text = format!("{value:?}");
    text.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

type ReaderOf<'a> = GenericDatumReader<'a>;

struct DecoderSchemas {
    writer: AvroSchema,
    reader: Option<AvroSchema>,
}

self_cell!(
    /// A reader for one (writer, reader) pair, built once.
    pub struct Decoder {
        owner: DecoderSchemas,
        #[covariant]
        dependent: ReaderOf,
    }
);

impl Decoder {
    fn build(schemas: DecoderSchemas) -> Result<Decoder> {
        Decoder::try_new(schemas, |schemas| {
            let builder = GenericDatumReader::builder(&schemas.writer.schema)
                .writer_schemata(schemas.writer.all())
                .map_err(|e| Error::Schema(format!("cannot prepare the Avro reader: {e}")))?;
            let reader = match &schemas.reader {
                Some(reader) => builder
                    .reader_schema(&reader.schema)
                    .reader_schemata(reader.all())
                    .and_then(|b| b.build()),
                None => builder.build(),
            };
            reader.map_err(|e| Error::Schema(format!("cannot prepare the Avro reader: {e}")))
        })
    }
}

/// Deserializes Avro payloads, optionally into a reader schema.
pub struct AvroDeserializer {
    pipeline: Reading<Decoder, Value>,
    reader: Option<AvroSchema>,
    migrating: bool,
    /// Target schema id → what reading JSON into it needs.
    targets: crate::cache::BoundedCache<i32, Arc<crate::rules::values::AvroRules>>,
}

impl AvroDeserializer {
    /// A deserializer; with a reader schema, every event resolves into it (old data gets defaults).
    pub fn new(client: Client, reader_schema: Option<&str>) -> Result<AvroDeserializer> {
        let reader = reader_schema
            .map(|text| AvroSchema::parse(text, &[]))
            .transpose()?;
        Ok(AvroDeserializer {
            pipeline: Reading::new(client),
            reader,
            migrating: false,
            targets: crate::cache::BoundedCache::new(64, None),
        })
    }

    /// Refuses events whose writer schema is not a version of `subject` with a semantic
    /// version matching `requirement` (`^2`, `~2.3`; Covenant only), checked once per writer.
    pub fn require_version(mut self, subject: &str, requirement: &str) -> Result<Self> {
        self.pipeline.require_version(subject, requirement)?;
        Ok(self)
    }

    /// Adds a hook every event passes after decoding.
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
    /// `use.latest.with.metadata`): an event of another version of the subject is decoded with
    /// its writer schema and goes through the UPGRADE (or DOWNGRADE) rules of each version
    /// between, then is read into the target. A reader schema given to `new` is not used then.
    pub fn with_migration(mut self, target: super::MigrationTarget) -> Self {
        self.pipeline.set_migration(target);
        self.migrating = true;
        self
    }

    /// Decodes a framed payload into a value.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value> {
        let client = self.pipeline.client();
        let (id, schema, decoder, payload) = self
            .pipeline
            .writer(bytes, |registered| async move {
                let writer = fetch_schema(client, &registered).await?;
                Decoder::build(DecoderSchemas {
                    writer,
                    reader: if self.migrating {
                        None
                    } else {
                        self.reader.clone()
                    },
                })
            })
            .await?;
        let walk = || {
            let schemas = decoder.borrow_owner();
            let shape = schemas.reader.as_ref().unwrap_or(&schemas.writer);
            Ok(Arc::new(crate::rules::values::AvroRules::new(
                &shape.schema,
                &shape.references,
            )))
        };
        let payload = self
            .pipeline
            .open_payload(id, &schema, payload, bytes, walk)
            .await?;
        let mut cursor = &payload[..];
        let value = decoder
            .borrow_dependent()
            .read_value(&mut cursor)
            .map_err(|e| {
                Error::Codec(format!(
                    "cannot decode the Avro payload written with schema {id}: {e}"
                ))
            })?;
        if !cursor.is_empty() {
            return Err(Error::Codec(format!(
                "{} bytes left after the Avro payload written with schema {id}",
                cursor.len()
            )));
        }
        if let Some(plan) = self.pipeline.migration(id, &schema).await? {
            use crate::rules::RuleValue as _;
            let target = match self.targets.get(&plan.target_id) {
                Some(found) => found,
                None => {
                    let parsed = fetch_schema(client, &plan.target).await?;
                    let rules = Arc::new(crate::rules::values::AvroRules::new(
                        &parsed.schema,
                        &parsed.references,
                    ));
                    self.targets.insert(plan.target_id, Arc::clone(&rules));
                    rules
                }
            };
            let json = self.pipeline.migrate(&plan, value.to_json(), bytes).await?;
            let migrated =
                Value::from_json(json, &value, &target).map_err(|reason| Error::Validation {
                    schema: format!("id {} (the migration target)", plan.target_id),
                    path: "/".into(),
                    reason,
                })?;
            let target_ref = covenant_core::wire::SchemaRef::Id(plan.target_id);
            return self
                .pipeline
                .finish(target_ref, &plan.target, migrated, bytes, || Ok(target))
                .await;
        }
        self.pipeline.finish(id, &schema, value, bytes, walk).await
    }

    /// Decodes a framed payload into a serde type.
    pub async fn deserialize_into<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let value = self.deserialize(bytes).await?;
        apache_avro::from_value(&value)
            .map_err(|e| Error::Codec(format!("cannot convert the Avro value: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"record","name":"User","namespace":"acme","fields":[
        {"name":"id","type":"long"},
        {"name":"email","type":"string"},
        {"name":"tags","type":{"type":"array","items":"string"}},
        {"name":"plan","type":{"type":"enum","name":"Plan","symbols":["FREE","PRO"]}}]}"#;

    fn encoder() -> Encoder {
        Encoder::build(AvroSchema::parse(SCHEMA, &[]).expect("schema")).expect("encoder")
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_with_its_path() {
        let bad = Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("email".into(), Value::Int(5)),
            ("tags".into(), Value::Array(vec![])),
            ("plan".into(), Value::Enum(0, "FREE".into())),
        ]);
        match encode(7, &encoder(), &bad) {
            Err(Error::Validation {
                schema,
                path,
                reason,
            }) => {
                assert_eq!(schema, "id 7");
                assert_eq!(path, "/email");
                assert!(reason.contains("expected string"), "{reason}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
        let nested = Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("email".into(), Value::String("a@b".into())),
            (
                "tags".into(),
                Value::Array(vec![Value::String("x".into()), Value::Long(3)]),
            ),
            ("plan".into(), Value::Enum(0, "FREE".into())),
        ]);
        match encode(7, &encoder(), &nested) {
            Err(Error::Validation { path, .. }) => assert_eq!(path, "/tags/1"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn frames_with_magic_byte_and_id() {
        let good = Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("email".into(), Value::String("a@b".into())),
            ("tags".into(), Value::Array(vec![])),
            ("plan".into(), Value::Enum(1, "PRO".into())),
        ]);
        let bytes = encode(258, &encoder(), &good).expect("encodes");
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 2]);
    }
}
