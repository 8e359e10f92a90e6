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

use covenant_core::wire::SchemaRef;

use super::{frame, prepared_for, resolve_references, SerializerConfig, WriterResolver};
use crate::cache::BoundedCache;
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
    struct Encoder {
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

/// Serializes Avro values for one local schema.
pub struct AvroSerializer {
    resolver: WriterResolver,
    local: RegisterSchemaRequest,
    record_name: Option<String>,
    encoders: BoundedCache<i32, Arc<Encoder>>,
    /// topic → (writer id, encoder): the one lookup a steady-state event makes.
    by_topic: BoundedCache<String, (i32, Arc<Encoder>)>,
    /// The size of the last event, to allocate its successor in one go.
    last_size: std::sync::atomic::AtomicUsize,
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
            resolver: WriterResolver::new(client, config),
            local: RegisterSchemaRequest {
                schema: Some(schema.to_string()),
                schema_type: None,
                references: (!references.is_empty()).then_some(references),
                ..RegisterSchemaRequest::default()
            },
            record_name,
            encoders: BoundedCache::new(64, None),
            by_topic: BoundedCache::new(1000, None),
            last_size: std::sync::atomic::AtomicUsize::new(64),
        })
    }

    async fn encoder(&self, topic: &str) -> Result<(i32, Arc<Encoder>)> {
        if let Some(found) = self.by_topic.get(topic) {
            return Ok(found);
        }
        let found = self.resolve_encoder(topic).await?;
        self.by_topic.insert(topic.to_string(), found.clone());
        Ok(found)
    }

    async fn resolve_encoder(&self, topic: &str) -> Result<(i32, Arc<Encoder>)> {
        let config = self.resolver.config();
        let subject = config.subject_name_strategy.subject(
            topic,
            config.is_key,
            self.record_name.as_deref(),
        )?;
        let writer = self.resolver.writer(&subject, &self.local).await?;
        if let Some(encoder) = self.encoders.get(&writer.id) {
            return Ok((writer.id, encoder));
        }
        let schema = fetch_schema(self.resolver.client(), &writer.schema).await?;
        let encoder = Arc::new(Encoder::build(schema)?);
        self.encoders.insert(writer.id, encoder.clone());
        Ok((writer.id, encoder))
    }

    /// Serializes an Avro value for `topic`.
    pub async fn serialize(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let (id, encoder) = self.encoder(topic).await?;
        self.encode_sized(id, &encoder, value)
    }

    fn encode_sized(&self, id: i32, encoder: &Encoder, value: &Value) -> Result<Vec<u8>> {
        use std::sync::atomic::Ordering;
        let out = encode_into(
            frame(id, self.last_size.load(Ordering::Relaxed)),
            id,
            encoder,
            value,
        )?;
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    /// Serializes a serde value for `topic`, resolving it into the writer schema first.
    pub async fn serialize_serde<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let (id, encoder) = self.encoder(topic).await?;
        let to_avro = || {
            apache_avro::to_value(value)
                .map_err(|e| Error::Codec(format!("cannot convert the value to Avro: {e}")))
        };
        let schema = encoder.borrow_owner();
        let names = encoder.borrow_dependent().names.get_names();
        let resolved = match to_avro()?.resolve_with_names(&schema.schema, names) {
            Ok(resolved) => resolved,
            // The conversion is repeated only to name what does not fit.
            Err(e) => return Err(validation_error(id, schema, &to_avro()?, &e.to_string())),
        };
        self.encode_sized(id, &encoder, &resolved)
    }
}

#[cfg(test)]
fn encode(id: i32, encoder: &Encoder, value: &Value) -> Result<Vec<u8>> {
    encode_into(frame(id, 64), id, encoder, value)
}

fn encode_into(mut out: Vec<u8>, id: i32, encoder: &Encoder, value: &Value) -> Result<Vec<u8>> {
    encoder
        .borrow_dependent()
        .writer
        .write_value_ref(&mut out, value)
        .map_err(|e| validation_error(id, encoder.borrow_owner(), value, &e.to_string()))?;
    Ok(out)
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
    struct Decoder {
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
    client: Client,
    reader: Option<AvroSchema>,
    decoders: BoundedCache<SchemaRef, Arc<Decoder>>,
}

impl AvroDeserializer {
    /// A deserializer; with a reader schema, every event resolves into it (old data gets defaults).
    pub fn new(client: Client, reader_schema: Option<&str>) -> Result<AvroDeserializer> {
        let reader = reader_schema
            .map(|text| AvroSchema::parse(text, &[]))
            .transpose()?;
        Ok(AvroDeserializer {
            client,
            reader,
            decoders: BoundedCache::new(64, None),
        })
    }

    /// Decodes a framed payload into a value.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value> {
        let (id, decoder, payload) = prepared_for(
            &self.client,
            &self.decoders,
            bytes,
            |registered| async move {
                let writer = fetch_schema(&self.client, &registered).await?;
                Ok(Arc::new(Decoder::build(DecoderSchemas {
                    writer,
                    reader: self.reader.clone(),
                })?))
            },
        )
        .await?;
        let mut cursor = payload;
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
        Ok(value)
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
