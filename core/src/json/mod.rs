//! JSON Schema: parsing and validation (drafts 4, 6, 7, 2019-09 and 2020-12, `$ref` to other
//! subjects resolved from references, never from the network), canonical and normalized text,
//! instance validation for serializers, and compatibility (see `compat`).

mod compat;
mod model;

use std::sync::OnceLock;

use jsonschema::{Draft, Registry};

pub use compat::{check as check_compatibility, diff, Difference, Policy};
pub use jsonschema::Validator;
pub use model::Model;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::schema::ResolvedReference;

/// The base URI of a schema without `$id`, which relative `$ref`s and reference names resolve against.
const DEFAULT_BASE: &str = "json-schema:///";

/// A parsed, validated JSON Schema with its references.
#[derive(Clone, Debug)]
pub struct JsonSchema {
    value: Value,
    draft: Draft,
    /// Referenced documents: (reference name, document), dependencies first.
    references: Vec<(String, Value)>,
    /// The diff's view of the schema, built on first use.
    model: OnceLock<Model>,
}

impl JsonSchema {
    /// Parses and validates a schema; `references` map `$ref` names to referenced schema texts.
    pub fn parse(text: &str, references: &[ResolvedReference<'_>]) -> Result<JsonSchema> {
        let value = read(text)?;
        let draft = draft_of(&value)?;
        check_against_meta_schema(&value, draft)?;
        let mut documents = Vec::with_capacity(references.len());
        for reference in references {
            let document = read(reference.schema).map_err(|e| {
                Error::InvalidSchema(format!("reference `{}`: {}", reference.name, message(&e)))
            })?;
            documents.push((reference.name.to_string(), document));
        }
        let schema = JsonSchema {
            value,
            draft,
            references: documents,
            model: OnceLock::new(),
        };
        // Building a validator resolves every `$ref` and compiles every pattern.
        schema.validator()?;
        Ok(schema)
    }

    /// The schema document.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The draft it is read with.
    pub fn draft(&self) -> Draft {
        self.draft
    }

    /// The referenced documents, by reference name.
    pub fn references(&self) -> &[(String, Value)] {
        &self.references
    }

    /// A referenced document by the name a `$ref` uses (ignoring any `#fragment`).
    pub fn referenced(&self, name: &str) -> Option<&Value> {
        let name = name.split('#').next().unwrap_or(name);
        self.references
            .iter()
            .find(|(reference, _)| reference == name || resolve(&self.base(), reference) == name)
            .map(|(_, document)| document)
    }

    /// The schema as the diff sees it, references resolved.
    pub fn model(&self) -> &Model {
        self.model
            .get_or_init(|| model::load(&self.value, self.draft, &self.references))
    }

    /// The canonical text: compact JSON, keys in the order given.
    pub fn canonical(&self) -> String {
        self.value.to_string()
    }

    /// The normalized text: compact JSON with keys sorted at every level.
    pub fn normalized(&self) -> String {
        sorted(&self.value).to_string()
    }

    /// A validator for instances (the serializers validate every event with it).
    pub fn validator(&self) -> Result<Validator> {
        let base = self.base();
        let mut builder = Registry::new().draft(self.draft);
        for (name, document) in &self.references {
            let mut uris = vec![resolve(&base, name)];
            if resolve(DEFAULT_BASE, name) != uris[0] {
                uris.push(resolve(DEFAULT_BASE, name));
            }
            for uri in uris {
                builder = builder
                    .add(&uri, document.clone())
                    .map_err(|e| Error::InvalidSchema(format!("reference `{name}`: {e}")))?;
            }
        }
        let registry = builder
            .prepare()
            .map_err(|e| Error::InvalidSchema(format!("cannot resolve references: {e}")))?;
        jsonschema::options()
            .with_draft(self.draft)
            .should_validate_formats(false)
            .with_registry(&registry)
            .build(&self.value)
            .map_err(|e| Error::InvalidSchema(build_error(&e.to_string())))
    }

    fn base(&self) -> String {
        self.value
            .get("$id")
            .or_else(|| self.value.get("id"))
            .and_then(Value::as_str)
            .filter(|id| id.contains(':'))
            .map_or_else(|| DEFAULT_BASE.to_string(), str::to_string)
    }
}

/// The validator's build error in the user's terms: a `$ref` it could not resolve is a
/// reference missing from the request, not a missing feature of the library.
fn build_error(message: &str) -> String {
    if message.contains("resolve-http")
        || message.contains("custom resolver")
        || message.contains("Failed to retrieve")
    {
        let target = message
            .split('`')
            .nth(1)
            .filter(|uri| uri.contains(':') || uri.contains('/'))
            .map_or_else(String::new, |uri| format!(" `{uri}`"));
        return format!(
            "the $ref{target} is not among the schema's references: a JSON Schema refers to another subject through `references` (the reference's name is the $ref URL); schemas are never fetched from the network"
        );
    }
    message.to_string()
}

fn read(text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Err(Error::InvalidSchema("empty schema".into()));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::InvalidSchema(format!("not valid JSON: {e}")))?;
    match value {
        Value::Object(_) | Value::Bool(_) => Ok(value),
        other => Err(Error::InvalidSchema(format!(
            "a JSON Schema must be an object or a boolean, not {other}"
        ))),
    }
}

/// The draft a schema declares with `$schema`; draft 7 when it declares none, as Confluent reads it.
fn draft_of(value: &Value) -> Result<Draft> {
    let Some(declared) = value.get("$schema") else {
        return Ok(Draft::Draft7);
    };
    let uri = declared
        .as_str()
        .ok_or_else(|| Error::InvalidSchema(format!("$schema must be a string, not {declared}")))?;
    let normalized = uri
        .trim_end_matches('#')
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    match normalized {
        "json-schema.org/draft-04/schema" => Ok(Draft::Draft4),
        "json-schema.org/draft-06/schema" => Ok(Draft::Draft6),
        "json-schema.org/draft-07/schema" => Ok(Draft::Draft7),
        "json-schema.org/draft/2019-09/schema" => Ok(Draft::Draft201909),
        "json-schema.org/draft/2020-12/schema" => Ok(Draft::Draft202012),
        _ => Err(Error::InvalidSchema(format!(
            "unsupported $schema `{uri}`: drafts 4, 6, 7, 2019-09 and 2020-12 are supported"
        ))),
    }
}

fn check_against_meta_schema(value: &Value, draft: Draft) -> Result<()> {
    let result = match draft {
        Draft::Draft4 => jsonschema::draft4::meta::validate(value),
        Draft::Draft6 => jsonschema::draft6::meta::validate(value),
        Draft::Draft7 => jsonschema::draft7::meta::validate(value),
        Draft::Draft201909 => jsonschema::draft201909::meta::validate(value),
        _ => jsonschema::draft202012::meta::validate(value),
    };
    result.map_err(|e| {
        let path = e.instance_path().to_string();
        let at = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        Error::InvalidSchema(format!("{e} at {at}"))
    })
}

/// Resolves a reference name against a base URI (an absolute name stays as it is).
fn resolve(base: &str, name: &str) -> String {
    if name.contains(':') {
        return name.to_string();
    }
    match base.rfind('/') {
        Some(slash) => format!("{}{}", &base[..=slash], name.trim_start_matches("./")),
        None => name.to_string(),
    }
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn message(error: &Error) -> String {
    match error {
        Error::InvalidSchema(message) => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<JsonSchema> {
        JsonSchema::parse(text, &[])
    }

    #[test]
    fn accepts_every_supported_draft() {
        for uri in [
            "http://json-schema.org/draft-04/schema#",
            "http://json-schema.org/draft-06/schema#",
            "http://json-schema.org/draft-07/schema#",
            "https://json-schema.org/draft/2019-09/schema",
            "https://json-schema.org/draft/2020-12/schema",
        ] {
            let text =
                json!({"$schema": uri, "type": "object", "properties": {"a": {"type": "string"}}})
                    .to_string();
            parse(&text).unwrap_or_else(|e| panic!("{uri}: {e}"));
        }
        parse("true").expect("boolean schema");
        parse(r#"{"type":"integer"}"#).expect("no $schema means draft 7");
    }

    #[test]
    fn rejects_invalid_schemas_naming_the_problem() {
        let table = [
            ("{not json", "not valid JSON"),
            ("42", "an object or a boolean"),
            (r#"{"type": "strng"}"#, "strng"),
            (r#"{"minLength": -1}"#, "minLength"),
            (
                r#"{"$schema": "http://example.com/custom"}"#,
                "unsupported $schema",
            ),
            (r##"{"$ref": "other.json#/definitions/x"}"##, "other.json"),
            (r#"{"type": "string", "pattern": "(unclosed"}"#, "(unclosed"),
        ];
        for (text, expected) in table {
            let error = parse(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn references_resolve_from_the_registry_not_the_network() {
        let address =
            r#"{"type":"object","properties":{"street":{"type":"string"}},"required":["street"]}"#;
        let person = r#"{"type":"object","properties":{"home":{"$ref":"address.json"}}}"#;
        let references = [ResolvedReference {
            name: "address.json",
            schema: address,
        }];
        let schema = JsonSchema::parse(person, &references).expect("resolves");
        let validator = schema.validator().expect("validator");
        assert!(validator.is_valid(&json!({"home": {"street": "Main"}})));
        assert!(!validator.is_valid(&json!({"home": {}})));
        assert!(schema.referenced("address.json").is_some());
        // With an absolute $id, the relative name resolves against it.
        let with_id = r#"{"$id":"https://acme.com/schemas/person.json","type":"object","properties":{"home":{"$ref":"address.json"}}}"#;
        JsonSchema::parse(with_id, &references).expect("resolves against $id");
    }

    #[test]
    fn canonical_keeps_key_order_and_normalized_sorts() {
        let schema = parse("{\n  \"type\": \"object\",\n  \"additionalProperties\": false\n}")
            .expect("valid");
        assert_eq!(
            schema.canonical(),
            r#"{"type":"object","additionalProperties":false}"#
        );
        assert_eq!(
            schema.normalized(),
            r#"{"additionalProperties":false,"type":"object"}"#
        );
    }
}
