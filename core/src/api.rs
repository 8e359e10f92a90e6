//! The REST JSON types of the Confluent Schema Registry API, shared by server and client.
//!
//! Property names are exact (`schemaType`, `compatibilityLevel`, `error_code`, ...). Optional
//! members are omitted when absent, as Confluent omits them: `schemaType` for Avro, empty
//! `references`, unset config keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reading request members as Confluent's Jackson binding reads them: a string member also takes
/// a number or a boolean (as its text), an integer member a number with a fraction (truncated) or
/// a numeric string, and `null` is absent.
pub mod lenient {
    use serde::de::{Deserializer, Error};
    use serde::Deserialize;
    use serde_json::Value;

    fn string_of<E: Error>(value: Value) -> Result<Option<String>, E> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text)),
            Value::Number(number) => Ok(Some(number.to_string())),
            Value::Bool(flag) => Ok(Some(flag.to_string())),
            Value::Array(_) => Err(E::custom("expected a string, found an array")),
            Value::Object(_) => Err(E::custom("expected a string, found an object")),
        }
    }

    fn int_of<E: Error>(value: Value) -> Result<Option<i32>, E> {
        let number = match value {
            Value::Null => return Ok(None),
            Value::Number(number) => number,
            Value::String(text) => text
                .trim()
                .parse::<serde_json::Number>()
                .map_err(|_| E::custom(format!("`{text}` is not an integer")))?,
            Value::Bool(_) => return Err(E::custom("expected an integer, found a boolean")),
            Value::Array(_) => return Err(E::custom("expected an integer, found an array")),
            Value::Object(_) => return Err(E::custom("expected an integer, found an object")),
        };
        let whole = match (number.as_i64(), number.as_f64()) {
            (Some(whole), _) => whole,
            (None, Some(float)) if float.is_finite() && float.abs() < 1e18 => float.trunc() as i64,
            _ => i64::MAX,
        };
        i32::try_from(whole).map(Some).map_err(|_| {
            E::custom(format!(
                "numeric value ({number}) out of range of int (-2147483648 - 2147483647)"
            ))
        })
    }

    /// An optional string member.
    pub fn opt_string<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        string_of(Value::deserialize(deserializer)?)
    }

    /// A required string member.
    pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        string_of(Value::deserialize(deserializer)?)?
            .ok_or_else(|| D::Error::custom("expected a string, found null"))
    }

    /// An optional integer member (in `int` range).
    pub fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        Ok(int_of(Value::deserialize(deserializer)?)?.map(i64::from))
    }

    /// An optional integer member (in `int` range), as an `i32`.
    pub fn opt_int32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
        int_of(Value::deserialize(deserializer)?)
    }

    /// A required integer member (in `int` range).
    pub fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        int_of(Value::deserialize(deserializer)?)?
            .ok_or_else(|| D::Error::custom("expected an integer, found null"))
    }
}

/// The JSON Schemas of members whose accepted values serde's types do not say (OpenAPI spec).
pub mod spec {
    use schemars::{json_schema, Schema, SchemaGenerator};

    /// An integer member read leniently: a number in `int` range (a fraction is truncated) or a
    /// numeric string.
    pub fn int(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [
            {"type": "number", "minimum": -2147483648i64, "maximum": 2147483647i64},
            {"type": "string", "pattern": "^ *-?(0|[1-9][0-9]{0,8}) *$"},
        ]})
    }

    /// An optional integer member read leniently.
    pub fn opt_int(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [
            {"type": "number", "minimum": -2147483648i64, "maximum": 2147483647i64},
            {"type": "string", "pattern": "^ *-?(0|[1-9][0-9]{0,8}) *$"},
            {"type": "null"},
        ]})
    }

    /// A string member read leniently (a number or boolean is taken as its text).
    pub fn string(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean"]})
    }

    /// An optional string member read leniently.
    pub fn opt_string(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean", "null"]})
    }

    /// A schema format.
    pub fn schema_type(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"enum": ["AVRO", "JSON", "PROTOBUF"]}, {"type": "null"}]})
    }

    /// A compatibility level.
    pub fn level(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"enum": [
            "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
            "FULL_TRANSITIVE",
        ]}, {"type": "null"}]})
    }

    /// A compatibility policy.
    pub fn policy(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"enum": ["STRICT", "LENIENT"]}, {"type": "null"}]})
    }

    /// A mode.
    pub fn mode(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"enum": ["READWRITE", "READONLY", "IMPORT", "FORWARD"]})
    }

    /// A DEK algorithm.
    pub fn algorithm(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"enum": ["AES128_GCM", "AES256_GCM", "AES256_SIV"]}, {"type": "null"}]})
    }

    /// A name that must be given: one to 255 characters, no control characters.
    pub fn name(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,255}$"})
    }

    /// An object, or null.
    pub fn opt_object(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["object", "null"]})
    }

    /// A boolean, or null.
    pub fn opt_bool(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["boolean", "null"]})
    }

    /// String-valued properties, or null.
    pub fn opt_properties(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["object", "null"], "additionalProperties": {"type": "string"}})
    }

    /// A string, or null.
    pub fn opt_text(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"]})
    }

    /// What a schema tag is on.
    pub fn entity_type(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"enum": ["sr_record", "sr_field"]})
    }
}

/// A reference from one schema to a version of another subject.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct SchemaReference {
    /// Avro full name, Protobuf import path or JSON Schema `$ref` URL.
    #[serde(deserialize_with = "lenient::string")]
    #[schemars(schema_with = "spec::string")]
    pub name: String,
    /// The referenced subject.
    #[serde(deserialize_with = "lenient::string")]
    #[schemars(schema_with = "spec::string")]
    pub subject: String,
    /// The referenced version.
    #[serde(deserialize_with = "lenient::int")]
    #[schemars(schema_with = "spec::int")]
    pub version: i32,
}

/// `POST /subjects/{s}/versions`, `POST /subjects/{s}`, `POST /compatibility/...`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSchemaRequest {
    /// The schema text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    #[schemars(schema_with = "spec::opt_string")]
    pub schema: Option<String>,
    /// `AVRO` (default), `JSON` or `PROTOBUF`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    #[schemars(schema_with = "spec::schema_type")]
    pub schema_type: Option<String>,
    /// References to other subjects' versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<SchemaReference>>,
    /// Data-contract metadata, stored and returned as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub metadata: Option<Value>,
    /// Data-contract rules, stored and returned as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rule_set: Option<Value>,
    /// Explicit id (IMPORT mode).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    #[schemars(schema_with = "spec::opt_int")]
    pub id: Option<i64>,
    /// Explicit version: in IMPORT mode any, otherwise the next version.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    #[schemars(schema_with = "spec::opt_int")]
    pub version: Option<i64>,
    /// Covenant: in IMPORT mode, the semantic version the version had where it was exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemverInfo>,
}

/// The answer to a registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSchemaResponse {
    /// The schema id.
    pub id: i32,
    /// The version in the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The schema's GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Omitted for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// References, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Metadata as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub metadata: Option<Value>,
    /// Rule set as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rule_set: Option<Value>,
    /// The stored (canonical) schema text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Registration time, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// A schema as one version of a subject (`GET /subjects/{s}/versions/{v}`, lookup, `GET /schemas`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The subject, qualified outside the default context.
    pub subject: String,
    /// The version.
    pub version: i32,
    /// The schema id.
    pub id: i32,
    /// The schema's GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Omitted for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// References, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Metadata as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub metadata: Option<Value>,
    /// Rule set as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rule_set: Option<Value>,
    /// The schema text.
    pub schema: String,
    /// Registration time, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Present (true) for a soft-deleted version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// A schema by id (`GET /schemas/ids/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaString {
    /// Omitted for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// The schema text.
    pub schema: String,
    /// References, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Metadata as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub metadata: Option<Value>,
    /// Rule set as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rule_set: Option<Value>,
    /// The highest id in the context (`fetchMaxId=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_id: Option<i32>,
    /// The schema's GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
}

impl From<&Schema> for SchemaString {
    /// The by-id view of a subject's version (the same registered schema).
    fn from(version: &Schema) -> SchemaString {
        SchemaString {
            schema_type: version.schema_type.clone(),
            schema: version.schema.clone(),
            references: version.references.clone(),
            metadata: version.metadata.clone(),
            rule_set: version.rule_set.clone(),
            max_id: None,
            guid: version.guid.clone(),
        }
    }
}

/// A (subject, version) pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: String,
    /// The version.
    pub version: i32,
}

/// A (context, id) pair (`GET /schemas/guids/{guid}/ids`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContextId {
    /// The context.
    pub context: String,
    /// The id in that context.
    pub id: i32,
}

/// The answer to a compatibility check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompatibilityCheckResponse {
    /// The verdict.
    pub is_compatible: bool,
    /// With `verbose=true`: one message per incompatibility, then a summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    /// With `verbose=true`, Covenant's addition: each incompatibility as structured data (the
    /// same ones `messages` words). Confluent's clients ignore members they do not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<CompatibilityFinding>>,
}

/// One incompatibility of a compatibility check, as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompatibilityFinding {
    /// The kind, in the format's vocabulary (`TYPE_MISMATCH`, ...).
    pub kind: String,
    /// A JSON-pointer-like path into the schema (`/fields/2/type`).
    pub path: String,
    /// What is wrong, in a sentence.
    pub description: String,
    /// Short detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
    /// The old schema's fragment at the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_fragment: Option<String>,
    /// The new schema's fragment at the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_fragment: Option<String>,
    /// The earlier version the candidate failed against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// What to change to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Config keys other than the level, shared by the GET and PUT shapes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSettings {
    /// Normalize schemas before comparing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Validate field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_fields: Option<bool>,
    /// Validate rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_rules: Option<bool>,
    /// Compare only versions with the same value of this metadata property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_group: Option<String>,
    /// `STRICT` (default) or `LENIENT` (JSON Schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::policy")]
    pub compatibility_policy: Option<String>,
    /// Metadata applied to new versions that carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub default_metadata: Option<Value>,
    /// Metadata that overrides what new versions carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub override_metadata: Option<Value>,
    /// Rules applied to new versions that carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub default_rule_set: Option<Value>,
    /// Rules that override what new versions carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub override_rule_set: Option<Value>,
    /// Another subject this one is an alias of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl ConfigSettings {
    /// Takes each setting this one lacks from `lower` (a subject's settings over its context's,
    /// an update over the stored config).
    pub fn fill_from(&mut self, lower: &ConfigSettings) {
        fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(value);
            }
        }
        fill(&mut self.normalize, &lower.normalize);
        fill(&mut self.validate_fields, &lower.validate_fields);
        fill(&mut self.validate_rules, &lower.validate_rules);
        fill(&mut self.compatibility_group, &lower.compatibility_group);
        fill(&mut self.compatibility_policy, &lower.compatibility_policy);
        fill(&mut self.default_metadata, &lower.default_metadata);
        fill(&mut self.override_metadata, &lower.override_metadata);
        fill(&mut self.default_rule_set, &lower.default_rule_set);
        fill(&mut self.override_rule_set, &lower.override_rule_set);
        fill(&mut self.alias, &lower.alias);
    }
}

/// `GET /config` and `GET /config/{s}`: the level is `compatibilityLevel`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The compatibility level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::level")]
    pub compatibility_level: Option<String>,
    /// The other keys.
    #[serde(flatten)]
    pub settings: ConfigSettings,
}

/// `PUT /config` and `PUT /config/{s}`, request and echo: the level is `compatibility`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigUpdateRequest {
    /// The compatibility level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::level")]
    pub compatibility: Option<String>,
    /// The other keys.
    #[serde(flatten)]
    pub settings: ConfigSettings,
}

/// `GET/PUT /mode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModeBody {
    /// `READWRITE`, `READONLY`, `IMPORT` or `FORWARD`.
    #[schemars(schema_with = "spec::mode")]
    pub mode: String,
}

/// Every error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorMessage {
    /// The numeric error code.
    pub error_code: u32,
    /// What went wrong.
    pub message: String,
}

/// `GET /v1/metadata/version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// The server's version.
    pub version: String,
    /// The commit it was built from.
    pub commit_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_shapes_name_the_level_differently() {
        let get = Config {
            compatibility_level: Some("BACKWARD".into()),
            settings: ConfigSettings::default(),
        };
        assert_eq!(
            serde_json::to_string(&get).expect("serializes"),
            r#"{"compatibilityLevel":"BACKWARD"}"#
        );
        let put: ConfigUpdateRequest =
            serde_json::from_str(r#"{"compatibility":"FULL","normalize":true}"#).expect("parses");
        assert_eq!(put.compatibility.as_deref(), Some("FULL"));
        assert_eq!(put.settings.normalize, Some(true));
    }

    #[test]
    fn register_request_accepts_nulls_and_unknown_fields() {
        let request: RegisterSchemaRequest = serde_json::from_str(
            r#"{"schema":"\"int\"","schemaType":"AVRO","references":null,"metadata":null,"schemaTagsToAdd":[]}"#,
        )
        .expect("parses");
        assert_eq!(request.schema.as_deref(), Some("\"int\""));
        assert_eq!(request.references, None);
    }

    #[test]
    fn schema_omits_absent_members() {
        let schema = Schema {
            subject: "s".into(),
            version: 1,
            id: 7,
            guid: None,
            schema_type: None,
            references: Vec::new(),
            metadata: None,
            rule_set: None,
            schema: "\"int\"".into(),
            ts: None,
            deleted: None,
        };
        assert_eq!(
            serde_json::to_string(&schema).expect("serializes"),
            r#"{"subject":"s","version":1,"id":7,"schema":"\"int\""}"#
        );
    }
}

/// One entry of Covenant's audit trail (`GET /covenant/v1/audit`): a record of the log, who
/// wrote it and what it changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The record's offset in the log.
    pub offset: u64,
    /// When it was written, in milliseconds since the epoch.
    pub ts: i64,
    /// The same instant in RFC 3339 (UTC).
    pub time: String,
    /// The principal; absent for an anonymous caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// How it authenticated: `anonymous`, `basic`, `api_key`, `jwt`, `mtls` (`unknown` for a
    /// record of an earlier format naming someone).
    pub method: String,
    /// The address the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What happened: `schema_registered`, `version_deleted`, `subject_deleted`, `config_set`,
    /// `config_deleted`, `mode_set`, `mode_deleted`, `kek_created`, `kek_updated`,
    /// `kek_deleted`, `kek_undeleted`, `dek_created`, `dek_deleted`, `dek_undeleted`,
    /// `association_set`, `association_deleted` (the events of a batch are entries of their own
    /// with the batch's offset).
    pub action: String,
    /// For config and mode changes: `global`, `context` or `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The subject concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The context concerned, for a context's config or mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The version registered or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The schema id registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
    /// The format registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    /// The KEK concerned (DEK registry events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek: Option<String>,
    /// The resource concerned (association events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Whether a delete was permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent: Option<bool>,
    /// The config or mode before the change (`null` when there was none).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub before: Option<serde_json::Value>,
    /// The config or mode after the change (`null` once deleted).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<serde_json::Value>,
    /// The SHA-256 of the stored record, the link the next record's `prev` holds.
    pub hash: String,
}

/// A page of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// The entries, oldest first.
    pub entries: Vec<AuditEntry>,
    /// The `from` offset of the next page, absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// A member that is there, `null` included (`Some(Value::Null)`), as opposed to absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// The entity a schema tag is attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaEntity {
    /// `[namespace.]Record[.field]` (Avro), `object.property` (JSON Schema); a leading `.` is
    /// ignored.
    pub entity_path: String,
    /// `sr_record` or `sr_field`.
    #[schemars(schema_with = "spec::entity_type")]
    pub entity_type: String,
}

/// Tags for one entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaTags {
    /// The entity.
    pub schema_entity: SchemaEntity,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `POST /subjects/{s}/versions/{v}/tags`: a new version of a schema with tags added and
/// removed, and its metadata or rules changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagSchemaRequest {
    /// The version the new one must get (the next one).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    #[schemars(schema_with = "spec::opt_int")]
    pub new_version: Option<i64>,
    /// Tags to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_to_add: Option<Vec<SchemaTags>>,
    /// Tags to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_to_remove: Option<Vec<SchemaTags>>,
    /// Metadata replacing the version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub metadata: Option<Value>,
    /// A rule set replacing the version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rule_set: Option<Value>,
    /// Rules merged into the previous version's (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "spec::opt_object")]
    pub rules_to_merge: Option<Value>,
    /// Names of rules to take out of the previous version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_to_remove: Option<Vec<String>>,
}

/// A key-encryption key of the DEK registry (`/dek-registry/v1/keks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kek {
    /// Its name.
    pub name: String,
    /// The KMS: `aws-kms`, `azure-kms`, `gcp-kms`, `hcvault`, `local-kms`.
    pub kms_type: String,
    /// The key's id in the KMS.
    pub kms_key_id: String,
    /// KMS properties (keys sorted; `{}` when none).
    #[serde(default)]
    pub kms_props: std::collections::BTreeMap<String, String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Whether the registry may use the KEK itself (to generate and unwrap DEKs).
    #[serde(default)]
    pub shared: bool,
    /// When it was last written, in milliseconds since the epoch.
    #[serde(default)]
    pub ts: i64,
    /// Present (true) only when soft-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// `POST /dek-registry/v1/keks`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKekRequest {
    /// Its name.
    #[serde(default)]
    #[schemars(required, schema_with = "spec::name")]
    pub name: Option<String>,
    /// The KMS type.
    #[serde(default)]
    #[schemars(required, schema_with = "spec::name")]
    pub kms_type: Option<String>,
    /// The key's id in the KMS.
    #[serde(default)]
    #[schemars(required, schema_with = "spec::name")]
    pub kms_key_id: Option<String>,
    /// KMS properties.
    #[serde(default)]
    pub kms_props: Option<std::collections::BTreeMap<String, String>>,
    /// A description.
    #[serde(default)]
    pub doc: Option<String>,
    /// Whether the registry may use the KEK.
    #[serde(default)]
    pub shared: bool,
    /// Create it soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// `PUT /dek-registry/v1/keks/{name}`: each member absent leaves the value as it is; an
/// explicit `null` clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateKekRequest {
    /// New KMS properties.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "spec::opt_properties")]
    pub kms_props: Option<Value>,
    /// A new description.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "spec::opt_text")]
    pub doc: Option<Value>,
    /// Whether the registry may use it.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "spec::opt_bool")]
    pub shared: Option<Value>,
}

fn present_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A data-encryption key of the DEK registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dek {
    /// The KEK it is wrapped with.
    pub kek_name: String,
    /// The subject it encrypts fields of.
    pub subject: String,
    /// Its version.
    pub version: i32,
    /// `AES128_GCM`, `AES256_GCM` or `AES256_SIV`.
    pub algorithm: String,
    /// The key wrapped by the KEK, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_key_material: Option<String>,
    /// The key itself, base64, for a shared KEK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_material: Option<String>,
    /// When it was last written.
    #[serde(default)]
    pub ts: i64,
    /// Present (true) only when soft-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// `POST /dek-registry/v1/keks/{kek}/deks[/{subject}]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDekRequest {
    /// The subject (the path's, when it names one).
    #[serde(default)]
    pub subject: Option<String>,
    /// The version (default 1).
    #[serde(default, deserialize_with = "lenient::opt_int")]
    #[schemars(schema_with = "spec::opt_int")]
    pub version: Option<i64>,
    /// The algorithm (default `AES256_GCM`).
    #[serde(default)]
    #[schemars(schema_with = "spec::algorithm")]
    pub algorithm: Option<String>,
    /// The key wrapped by the KEK, base64; for a shared KEK the registry makes one if absent.
    #[serde(default)]
    pub encrypted_key_material: Option<String>,
    /// Create it soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// One association of a resource (a topic) with a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    /// The subject.
    pub subject: String,
    /// Its stable id.
    pub guid: String,
    /// The resource's name (the topic).
    pub resource_name: String,
    /// The resource's namespace (the Kafka cluster id).
    pub resource_namespace: String,
    /// The resource's id.
    pub resource_id: String,
    /// `topic`.
    pub resource_type: String,
    /// `key` or `value`.
    pub association_type: String,
    /// `STRONG` or `WEAK`.
    pub lifecycle: String,
    /// Present only when it differs from the lifecycle's default (STRONG: true, WEAK: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<bool>,
    /// When it was created.
    pub create_ts: i64,
    /// When it was last changed.
    pub update_ts: i64,
}

/// One association in a create-or-update request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationCreateOrUpdateInfo {
    /// The subject (default `:.<namespace>:<name>-<type>`).
    #[serde(default)]
    pub subject: Option<String>,
    /// `key` or `value` (default `value`).
    #[serde(default)]
    pub association_type: Option<String>,
    /// `STRONG` or `WEAK`.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// Whether the subject's schema is frozen.
    #[serde(default)]
    pub frozen: Option<bool>,
    /// A schema to register under the subject with the association.
    #[serde(default)]
    pub schema: Option<RegisterSchemaRequest>,
    /// Normalize the schema.
    #[serde(default)]
    pub normalize: Option<bool>,
}

/// `POST /associations`, `PUT /associations/resources/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationCreateOrUpdateRequest {
    /// The resource's name.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// The resource's namespace.
    #[serde(default)]
    pub resource_namespace: Option<String>,
    /// The resource's id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// `topic` (the default).
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The associations.
    #[serde(default)]
    pub associations: Option<Vec<AssociationCreateOrUpdateInfo>>,
}

/// One association as an answer lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationInfo {
    /// The subject.
    pub subject: String,
    /// `key` or `value`.
    pub association_type: String,
    /// `STRONG` or `WEAK`.
    pub lifecycle: String,
    /// Whether it is frozen.
    pub frozen: bool,
    /// The schema registered with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
}

/// The associations of one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationResponse {
    /// The resource's name.
    pub resource_name: String,
    /// The resource's namespace.
    pub resource_namespace: String,
    /// The resource's id.
    pub resource_id: String,
    /// `topic`.
    pub resource_type: String,
    /// Its associations.
    pub associations: Vec<AssociationInfo>,
}

/// A version's semantic version, as Covenant's endpoints answer it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SemverInfo {
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// `major`, `minor` or `patch`; absent for a subject's first numbered version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bump: Option<String>,
    /// The integer version it was compared with.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int32"
    )]
    #[schemars(schema_with = "spec::opt_int")]
    pub against: Option<i32>,
    /// Whether the registration named it (`covenant:semver` in its metadata).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explicit: bool,
    /// Why, one line per deciding change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// One version of a subject with its semantic version (`GET /covenant/v1/subjects/{s}/versions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionSemver {
    /// The subject.
    pub subject: String,
    /// The integer version.
    pub version: i32,
    /// The schema id.
    pub id: i32,
    /// Soft-deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Registration time, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Its semantic version; absent for versions registered before semantic versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemverInfo>,
}
