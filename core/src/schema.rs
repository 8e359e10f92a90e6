//! Schema types and parsing into a [`ParsedSchema`] with its canonical text.
//!
//! The canonical text is what identity is decided on: two registrations whose canonical texts,
//! types and references are equal are the same schema and get the same id.

use std::fmt;
use std::str::FromStr;

use crate::avro::{self, AvroSchema};
use crate::error::{Error, Result};
use crate::json::JsonSchema;
use crate::protobuf::ProtobufSchema;

/// The three schema formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    /// Apache Avro.
    Avro,
    /// JSON Schema.
    Json,
    /// Protocol Buffers.
    Protobuf,
}

impl SchemaType {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    /// The `schemaType` member of request and response bodies: omitted for AVRO.
    pub fn member(self) -> Option<String> {
        (self != SchemaType::Avro).then(|| self.as_str().to_string())
    }

    /// The type named in a request, AVRO when absent.
    pub fn from_request(raw: Option<&str>) -> Result<SchemaType> {
        raw.map_or(Ok(SchemaType::Avro), str::parse)
    }
}

impl FromStr for SchemaType {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        match raw.to_ascii_uppercase().as_str() {
            "AVRO" => Ok(SchemaType::Avro),
            "JSON" => Ok(SchemaType::Json),
            "PROTOBUF" => Ok(SchemaType::Protobuf),
            _ => Err(Error::InvalidSchemaType(raw.to_string())),
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A referenced schema, resolved by the caller: the reference's name and the referenced text.
#[derive(Clone, Copy, Debug)]
pub struct ResolvedReference<'a> {
    /// The name the referring schema uses (Avro full name, import path, `$ref` URL).
    pub name: &'a str,
    /// The referenced schema's text.
    pub schema: &'a str,
}

/// Parsing switches.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Use the normalized text as the canonical text (`normalize=true`).
    pub normalize: bool,
    /// Validate what only new registrations must satisfy (Avro field defaults); off for
    /// schemas already stored and for imports.
    pub strict: bool,
    /// The most elements the schema may have (see [`elements`]); `None` for no limit (schemas
    /// already stored).
    pub max_elements: Option<usize>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            normalize: false,
            strict: true,
            max_elements: None,
        }
    }
}

/// The parsed model of one format.
#[derive(Clone, Debug)]
pub enum SchemaModel {
    /// An Avro schema.
    Avro(AvroSchema),
    /// A JSON Schema.
    Json(JsonSchema),
    /// A Protobuf file.
    Protobuf(ProtobufSchema),
}

/// A parsed, validated schema with its canonical text.
#[derive(Clone, Debug)]
pub struct ParsedSchema {
    model: SchemaModel,
    canonical: String,
}

impl ParsedSchema {
    /// Parses and validates `text` as a schema of `schema_type`. `references` hold the whole
    /// reference closure, dependencies before the schemas that use them.
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        references: &[ResolvedReference<'_>],
        options: ParseOptions,
    ) -> Result<ParsedSchema> {
        let too_complex = |counted: usize| match options.max_elements {
            Some(limit) if counted > limit => Err(Error::SchemaTooComplex { limit }),
            _ => Ok(()),
        };
        if schema_type != SchemaType::Avro {
            if let Some(limit) = options.max_elements {
                too_complex(elements(schema_type, text, limit))?;
            }
        }
        match schema_type {
            SchemaType::Avro => {
                // Read once: the elements are counted on the JSON the parser then reads.
                let json = AvroSchema::read_json(text)?;
                if let Some(limit) = options.max_elements {
                    too_complex(json_values(&json, limit))?;
                }
                let texts: Vec<&str> = references.iter().map(|r| r.schema).collect();
                let schema = AvroSchema::parse_value(
                    &json,
                    &texts,
                    avro::ParseOptions {
                        validate_defaults: options.strict,
                    },
                )?;
                let canonical = if options.normalize {
                    schema.normalized()
                } else {
                    schema.canonical()
                };
                Ok(ParsedSchema {
                    model: SchemaModel::Avro(schema),
                    canonical,
                })
            }
            SchemaType::Json => {
                let schema = JsonSchema::parse(text, references)?;
                let canonical = if options.normalize {
                    schema.normalized()
                } else {
                    schema.canonical()
                };
                Ok(ParsedSchema {
                    model: SchemaModel::Json(schema),
                    canonical,
                })
            }
            SchemaType::Protobuf => {
                let schema = ProtobufSchema::parse(text, references)?;
                let canonical = if options.normalize {
                    schema.normalized()
                } else {
                    schema.canonical()
                };
                Ok(ParsedSchema {
                    model: SchemaModel::Protobuf(schema),
                    canonical,
                })
            }
        }
    }

    /// The schema's type.
    pub fn schema_type(&self) -> SchemaType {
        match self.model {
            SchemaModel::Avro(_) => SchemaType::Avro,
            SchemaModel::Json(_) => SchemaType::Json,
            SchemaModel::Protobuf(_) => SchemaType::Protobuf,
        }
    }

    /// The canonical text: what is stored, returned and compared.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The format's model.
    pub fn model(&self) -> &SchemaModel {
        &self.model
    }

    /// The text in a `format=` rendering the type knows: Avro `resolved`, Protobuf `serialized`
    /// and `ignore_extensions`. `None` for the default rendering (and for unknown formats, which
    /// are ignored as Confluent ignores them).
    pub fn formatted(&self, format: &str) -> Option<String> {
        match (&self.model, format) {
            (SchemaModel::Avro(schema), "resolved") => Some(schema.resolved()),
            (SchemaModel::Protobuf(schema), "serialized") => Some(schema.serialized()),
            (SchemaModel::Protobuf(schema), "ignore_extensions") => {
                Some(schema.without_extensions())
            }
            _ => None,
        }
    }
}

/// How much a protobuf declaration counts, against a JSON value: compiled descriptors take
/// about eight times the memory per declaration that the JSON formats take per value.
pub const PROTOBUF_DECLARATION_WEIGHT: usize = 8;

/// The size of a schema as its parsed form will be, counted cheaply before parsing it, up to
/// just past `limit`: for Avro and JSON Schema every JSON value of the document (objects,
/// arrays, strings, numbers, booleans, nulls); for Protobuf every declaration (a field, an enum
/// value, an option, a message, an enum: each `;` or `{` of the text, or each entry of a
/// base64 descriptor) times [`PROTOBUF_DECLARATION_WEIGHT`]. Text that does not read counts 0
/// (the parser then says what is wrong with it).
pub fn elements(schema_type: SchemaType, text: &str, limit: usize) -> usize {
    match schema_type {
        SchemaType::Avro | SchemaType::Json => {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(value) => json_values(&value, limit),
                Err(_) => 0,
            }
        }
        SchemaType::Protobuf => {
            let declarations = if text.contains(';') || text.contains('{') {
                text.bytes().filter(|b| *b == b';' || *b == b'{').count()
            } else {
                crate::protobuf::descriptor_entries(text)
            };
            declarations.saturating_mul(PROTOBUF_DECLARATION_WEIGHT)
        }
    }
}

/// The JSON values of a document, counted without recursion, stopping just past `limit`.
fn json_values(value: &serde_json::Value, limit: usize) -> usize {
    let mut pending = vec![value];
    let mut count = 0;
    while let Some(value) = pending.pop() {
        count += 1;
        if count > limit {
            break;
        }
        match value {
            serde_json::Value::Array(items) => pending.extend(items),
            serde_json::Value::Object(map) => {
                count += map.len();
                pending.extend(map.values());
            }
            _ => {}
        }
    }
    count
}

/// The schema types this build supports, in the order `GET /schemas/types` lists them.
pub fn supported_types() -> &'static [SchemaType] {
    &[SchemaType::Json, SchemaType::Protobuf, SchemaType::Avro]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_types_parse_case_insensitively_and_default_to_avro() {
        assert_eq!(SchemaType::from_request(None), Ok(SchemaType::Avro));
        assert_eq!(SchemaType::from_request(Some("json")), Ok(SchemaType::Json));
        assert!(SchemaType::from_request(Some("XML")).is_err());
    }

    #[test]
    fn schemas_over_the_element_limit_are_refused_before_parsing() {
        let record = |fields: usize| {
            let fields: Vec<String> = (0..fields)
                .map(|i| format!(r#"{{"name":"f{i}","type":"int"}}"#))
                .collect();
            format!(
                r#"{{"type":"record","name":"R","fields":[{}]}}"#,
                fields.join(",")
            )
        };
        let limited = ParseOptions {
            max_elements: Some(100),
            ..ParseOptions::default()
        };
        // 10 fields: 1 + 3 + 1 + 10 × 5 values; 30 fields: over 100.
        assert!(ParsedSchema::parse(SchemaType::Avro, &record(10), &[], limited).is_ok());
        assert_eq!(
            ParsedSchema::parse(SchemaType::Avro, &record(30), &[], limited).err(),
            Some(Error::SchemaTooComplex { limit: 100 })
        );
        let proto = |fields: usize| {
            let body: String = (1..=fields).map(|i| format!("int32 f{i} = {i};")).collect();
            format!("syntax = \"proto3\"; message M {{ {body} }}")
        };
        assert!(ParsedSchema::parse(SchemaType::Protobuf, &proto(5), &[], limited).is_ok());
        assert!(ParsedSchema::parse(SchemaType::Protobuf, &proto(20), &[], limited).is_err());
        assert!(
            ParsedSchema::parse(SchemaType::Avro, &record(30), &[], ParseOptions::default())
                .is_ok()
        );
    }

    #[test]
    fn normalize_switches_the_canonical_text() {
        let text =
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"}]}"#;
        let plain = ParsedSchema::parse(SchemaType::Avro, text, &[], ParseOptions::default())
            .expect("valid");
        let normalized = ParsedSchema::parse(
            SchemaType::Avro,
            text,
            &[],
            ParseOptions {
                normalize: true,
                strict: true,
                max_elements: None,
            },
        )
        .expect("valid");
        assert_eq!(plain.canonical(), text);
        assert!(normalized.canonical().contains(r#""name":"n.R""#));
    }
}
