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
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            normalize: false,
            strict: true,
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
        match schema_type {
            SchemaType::Avro => {
                let texts: Vec<&str> = references.iter().map(|r| r.schema).collect();
                let schema = AvroSchema::parse(
                    text,
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
            },
        )
        .expect("valid");
        assert_eq!(plain.canonical(), text);
        assert!(normalized.canonical().contains(r#""name":"n.R""#));
    }
}
