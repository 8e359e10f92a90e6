//! Parsing Avro schema JSON into the arena model, with the validation Avro's Java parser does
//! (names, duplicate definitions, union rules, and defaults that fit their types).

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use serde_json::{Map, Value};

use super::{AvroSchema, Field, Name, Named, Node, NodeId, Primitive, Props};
use crate::error::{Error, Result};

/// Keys that are part of a type's definition; every other key is kept as an extra attribute.
const SCHEMA_RESERVED: &[&str] = &[
    "doc",
    "fields",
    "items",
    "name",
    "namespace",
    "size",
    "symbols",
    "values",
    "type",
    "aliases",
];
const FIELD_RESERVED: &[&str] = &["default", "doc", "name", "order", "type", "aliases"];

/// How deeply a default value may nest while it is checked against its type.
const MAX_DEFAULT_DEPTH: usize = 64;

/// Parser switches.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Reject field defaults that do not fit the field's type (on for new registrations).
    pub validate_defaults: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            validate_defaults: true,
        }
    }
}

pub(super) fn parse(text: &str, references: &[&str], options: ParseOptions) -> Result<AvroSchema> {
    parse_value(&read_json(text)?, references, options)
}

/// [`parse`] of a text already read as JSON (`json`); the references are texts.
pub(super) fn parse_value(
    json: &Value,
    references: &[&str],
    options: ParseOptions,
) -> Result<AvroSchema> {
    let mut parser = Parser {
        nodes: Vec::new(),
        names: HashMap::new(),
    };
    let mut external = HashSet::new();
    for (index, reference) in references.iter().enumerate() {
        let json =
            read_json(reference).map_err(|e| invalid(format!("reference {}: {e}", index + 1)))?;
        let start = parser.nodes.len();
        parser
            .parse(&json, None)
            .map_err(|e| invalid(format!("reference {}: {}", index + 1, message(&e))))?;
        external
            .extend((start..parser.nodes.len()).filter(|id| parser.nodes[*id].named().is_some()));
    }
    let root = parser.parse(json, None)?;
    if options.validate_defaults {
        parser.validate_defaults()?;
    }
    Ok(AvroSchema {
        nodes: parser.nodes,
        root,
        external,
    })
}

/// A schema text read as JSON, or why it is not a schema at all.
pub(super) fn read_json(text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Err(invalid("empty schema"));
    }
    serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON: {e}")))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidSchema(message.into())
}

fn message(error: &Error) -> String {
    match error {
        Error::InvalidSchema(message) => message.clone(),
        other => other.to_string(),
    }
}

struct Parser {
    nodes: Vec<Node>,
    names: HashMap<String, NodeId>,
}

impl Parser {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn parse(&mut self, json: &Value, namespace: Option<&str>) -> Result<NodeId> {
        match json {
            Value::String(name) => self.parse_name(name, namespace),
            Value::Array(branches) => self.parse_union(branches, namespace),
            Value::Object(map) => self.parse_object(map, namespace),
            other => Err(invalid(format!(
                "a schema must be a type name, an object or an array (a union), not {other}"
            ))),
        }
    }

    fn parse_name(&mut self, name: &str, namespace: Option<&str>) -> Result<NodeId> {
        if let Some(kind) = Primitive::from_name(name) {
            return Ok(self.push(Node::Primitive {
                kind,
                props: Vec::new(),
            }));
        }
        self.lookup(name, namespace)
            .ok_or_else(|| invalid(format!("undefined name: \"{name}\"")))
    }

    fn lookup(&self, name: &str, namespace: Option<&str>) -> Option<NodeId> {
        if !name.contains('.') {
            if let Some(ns) = namespace {
                if let Some(id) = self.names.get(&format!("{ns}.{name}")) {
                    return Some(*id);
                }
            }
        }
        self.names.get(name).copied()
    }

    fn parse_union(&mut self, branches: &[Value], namespace: Option<&str>) -> Result<NodeId> {
        let mut ids = Vec::with_capacity(branches.len());
        let mut seen = HashSet::new();
        for branch in branches {
            let id = self.parse(branch, namespace)?;
            let node = &self.nodes[id];
            if matches!(node, Node::Union { .. }) {
                return Err(invalid("a union may not immediately contain another union"));
            }
            let key = node.branch_key();
            if !seen.insert(key.clone()) {
                return Err(invalid(format!("duplicate in union: {key}")));
            }
            ids.push(id);
        }
        Ok(self.push(Node::Union { branches: ids }))
    }

    fn parse_object(
        &mut self,
        map: &Map<String, Value>,
        namespace: Option<&str>,
    ) -> Result<NodeId> {
        let type_name = match map.get("type") {
            Some(Value::String(type_name)) => type_name.as_str(),
            // `{"type": {...}}` and `{"type": [...]}` wrap a schema.
            Some(inner @ (Value::Object(_) | Value::Array(_))) => {
                return self.parse(inner, namespace)
            }
            Some(other) => return Err(invalid(format!("\"type\" must be a string, not {other}"))),
            None => {
                return Err(invalid(format!(
                    "no \"type\" in {}",
                    Value::Object(map.clone())
                )))
            }
        };
        match type_name {
            "record" | "error" => self.parse_record(map, namespace, type_name == "error"),
            "enum" => self.parse_enum(map, namespace),
            "fixed" => self.parse_fixed(map, namespace),
            "array" => {
                let items = map
                    .get("items")
                    .ok_or_else(|| invalid("an array needs \"items\""))?;
                let items = self.parse(items, namespace)?;
                let props = props(map, SCHEMA_RESERVED);
                Ok(self.push(Node::Array { items, props }))
            }
            "map" => {
                let values = map
                    .get("values")
                    .ok_or_else(|| invalid("a map needs \"values\""))?;
                let values = self.parse(values, namespace)?;
                let props = props(map, SCHEMA_RESERVED);
                Ok(self.push(Node::Map { values, props }))
            }
            other => match Primitive::from_name(other) {
                Some(kind) => {
                    let props = props(map, SCHEMA_RESERVED);
                    Ok(self.push(Node::Primitive { kind, props }))
                }
                None => self
                    .lookup(other, namespace)
                    .ok_or_else(|| invalid(format!("type not supported: {other}"))),
            },
        }
    }

    fn named(
        &mut self,
        map: &Map<String, Value>,
        namespace: Option<&str>,
        kind: &str,
    ) -> Result<Named> {
        let raw = match map.get("name") {
            Some(Value::String(name)) => name.as_str(),
            Some(other) => {
                return Err(invalid(format!(
                    "the name of a {kind} must be a string, not {other}"
                )))
            }
            None => return Err(invalid(format!("a {kind} needs a \"name\""))),
        };
        let name = match raw.rsplit_once('.') {
            Some((ns, simple)) => Name {
                name: simple.to_string(),
                namespace: Some(ns.to_string()),
            },
            None => {
                let ns = match map.get("namespace") {
                    Some(Value::String(ns)) if ns.is_empty() => None,
                    Some(Value::String(ns)) => Some(ns.clone()),
                    Some(Value::Null) | None => namespace.map(str::to_string),
                    Some(other) => {
                        return Err(invalid(format!(
                            "a namespace must be a string, not {other}"
                        )))
                    }
                };
                Name {
                    name: raw.to_string(),
                    namespace: ns,
                }
            }
        };
        validate_name(&name.name)?;
        if let Some(ns) = &name.namespace {
            for part in ns.split('.') {
                validate_name(part).map_err(|_| invalid(format!("invalid namespace: \"{ns}\"")))?;
            }
        }
        if Primitive::from_name(&name.fullname()).is_some() {
            return Err(invalid(format!(
                "can't redefine primitive type: {}",
                name.name
            )));
        }
        let doc = string_attr(map, "doc")?;
        let aliases = aliases(map, name.namespace.as_deref(), true)?;
        Ok(Named {
            name,
            doc,
            aliases,
            props: props(map, SCHEMA_RESERVED),
        })
    }

    fn define(&mut self, named: &Named, node: Node) -> Result<NodeId> {
        let fullname = named.name.fullname();
        if self.names.contains_key(&fullname) {
            return Err(invalid(format!("can't redefine: {fullname}")));
        }
        let id = self.push(node);
        self.names.insert(fullname, id);
        Ok(id)
    }

    fn parse_record(
        &mut self,
        map: &Map<String, Value>,
        namespace: Option<&str>,
        is_error: bool,
    ) -> Result<NodeId> {
        let named = self.named(map, namespace, "record")?;
        let fields_json = match map.get("fields") {
            Some(Value::Array(fields)) => fields,
            Some(_) => {
                return Err(invalid(format!(
                    "the fields of record {} must be an array",
                    named.name.fullname()
                )))
            }
            None => {
                return Err(invalid(format!(
                    "record {} has no fields",
                    named.name.fullname()
                )))
            }
        };
        // Define the name before the fields so that they can refer to the record itself.
        let id = self.define(
            &named,
            Node::Record {
                named: named.clone(),
                fields: Vec::new(),
                is_error,
            },
        )?;
        let record_ns = named.name.namespace.clone();
        let mut fields = Vec::with_capacity(fields_json.len());
        let mut seen = HashSet::new();
        for field_json in fields_json {
            let field_map = field_json.as_object().ok_or_else(|| {
                invalid(format!(
                    "a field of record {} must be an object",
                    named.name.fullname()
                ))
            })?;
            let name = match field_map.get("name") {
                Some(Value::String(name)) => name.clone(),
                _ => {
                    return Err(invalid(format!(
                        "a field of record {} has no name",
                        named.name.fullname()
                    )))
                }
            };
            validate_name(&name)?;
            if !seen.insert(name.clone()) {
                return Err(invalid(format!(
                    "duplicate field {name} in record {}",
                    named.name.fullname()
                )));
            }
            let type_json = field_map
                .get("type")
                .ok_or_else(|| invalid(format!("field {name} has no type")))?;
            let schema = self.parse(type_json, record_ns.as_deref())?;
            let order = match field_map.get("order") {
                None | Some(Value::Null) => None,
                Some(Value::String(order)) => match order.as_str() {
                    "ascending" => None,
                    "descending" | "ignore" => Some(order.clone()),
                    _ => return Err(invalid(format!("field {name}: invalid order \"{order}\""))),
                },
                Some(other) => return Err(invalid(format!("field {name}: invalid order {other}"))),
            };
            fields.push(Field {
                doc: string_attr(field_map, "doc")?,
                default: field_map.get("default").cloned(),
                order,
                aliases: aliases(field_map, None, false)?,
                props: props(field_map, FIELD_RESERVED),
                name,
                schema,
            });
        }
        if let Node::Record { fields: slot, .. } = &mut self.nodes[id] {
            *slot = fields;
        }
        Ok(id)
    }

    fn parse_enum(&mut self, map: &Map<String, Value>, namespace: Option<&str>) -> Result<NodeId> {
        let named = self.named(map, namespace, "enum")?;
        let symbols_json = match map.get("symbols") {
            Some(Value::Array(symbols)) => symbols,
            _ => {
                return Err(invalid(format!(
                    "enum {} needs an array of \"symbols\"",
                    named.name.fullname()
                )))
            }
        };
        let mut symbols = Vec::with_capacity(symbols_json.len());
        let mut seen = HashSet::new();
        for symbol in symbols_json {
            let symbol = symbol.as_str().ok_or_else(|| {
                invalid(format!(
                    "enum {}: symbols must be strings",
                    named.name.fullname()
                ))
            })?;
            validate_name(symbol).map_err(|_| {
                invalid(format!(
                    "enum {}: invalid symbol \"{symbol}\"",
                    named.name.fullname()
                ))
            })?;
            if !seen.insert(symbol) {
                return Err(invalid(format!(
                    "enum {}: duplicate symbol {symbol}",
                    named.name.fullname()
                )));
            }
            symbols.push(symbol.to_string());
        }
        let default = match map.get("default") {
            None | Some(Value::Null) => None,
            Some(Value::String(default)) if symbols.contains(default) => Some(default.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "enum {}: the default {other} is not one of its symbols",
                    named.name.fullname()
                )))
            }
        };
        let mut named = named;
        named.props.retain(|(key, _)| key != "default");
        self.define(
            &named.clone(),
            Node::Enum {
                named,
                symbols,
                default,
            },
        )
    }

    fn parse_fixed(&mut self, map: &Map<String, Value>, namespace: Option<&str>) -> Result<NodeId> {
        let named = self.named(map, namespace, "fixed")?;
        let size = map
            .get("size")
            .and_then(Value::as_u64)
            .filter(|size| *size <= i32::MAX as u64)
            .ok_or_else(|| {
                invalid(format!(
                    "fixed {} needs a non-negative integer \"size\"",
                    named.name.fullname()
                ))
            })?;
        self.define(&named.clone(), Node::Fixed { named, size })
    }

    fn validate_defaults(&self) -> Result<()> {
        for node in &self.nodes {
            if let Node::Record { named, fields, .. } = node {
                for field in fields {
                    if let Some(default) = &field.default {
                        if !self.default_fits(field.schema, default, 0) {
                            return Err(invalid(format!(
                                "invalid default for field {} of record {}: {default} is not a {}",
                                field.name,
                                named.name.fullname(),
                                self.nodes[field.schema].type_name().to_ascii_lowercase()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a default value fits a type, as Avro's Java `isValidDefault` decides (1.12: a
    /// union's default may match any branch, as the 1.12 specification says), except that an
    /// enum's default must be one of its symbols.
    fn default_fits(&self, id: NodeId, value: &Value, depth: usize) -> bool {
        if depth > MAX_DEFAULT_DEPTH {
            return false;
        }
        match &self.nodes[id] {
            Node::Primitive { kind, .. } => match kind {
                Primitive::Null => value.is_null(),
                Primitive::Boolean => value.is_boolean(),
                Primitive::Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                Primitive::Long => value.as_i64().is_some(),
                Primitive::Float | Primitive::Double => value.is_number(),
                Primitive::Bytes | Primitive::String => value.is_string(),
            },
            // Avro's Java parser only asks for a string here, but a default that is not a symbol
            // cannot be decoded by any reader (Java fails when it needs it, apache-avro refuses
            // the schema), so it is refused up front.
            Node::Enum { symbols, .. } => value
                .as_str()
                .is_some_and(|symbol| symbols.iter().any(|s| s == symbol)),
            Node::Fixed { .. } => value.is_string(),
            Node::Array { items, .. } => value.as_array().is_some_and(|elements| {
                elements
                    .iter()
                    .all(|element| self.default_fits(*items, element, depth + 1))
            }),
            Node::Map { values, .. } => value.as_object().is_some_and(|entries| {
                entries
                    .values()
                    .all(|entry| self.default_fits(*values, entry, depth + 1))
            }),
            Node::Record { fields, .. } => value.as_object().is_some_and(|object| {
                fields.iter().all(|field| {
                    match object.get(&field.name).or(field.default.as_ref()) {
                        Some(field_value) => {
                            self.default_fits(field.schema, field_value, depth + 1)
                        }
                        None => false,
                    }
                })
            }),
            Node::Union { branches } => branches
                .iter()
                .any(|branch| self.default_fits(*branch, value, depth + 1)),
        }
    }
}

fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(invalid(format!("illegal name: \"{name}\"")))
    }
}

fn string_attr(map: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        // Java's parser ignores a non-text doc; keep it out of the model rather than failing.
        Some(_) => Ok(None),
    }
}

/// Reads `aliases`; for named types a simple alias lives in the type's namespace.
fn aliases(
    map: &Map<String, Value>,
    namespace: Option<&str>,
    qualify: bool,
) -> Result<Vec<String>> {
    match map.get("aliases") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(aliases)) => aliases
            .iter()
            .map(|alias| match alias.as_str() {
                Some(alias) if qualify && !alias.contains('.') => Ok(match namespace {
                    Some(ns) => format!("{ns}.{alias}"),
                    None => alias.to_string(),
                }),
                Some(alias) => Ok(alias.to_string()),
                None => Err(invalid(format!("aliases must be strings, not {alias}"))),
            })
            .collect(),
        Some(other) => Err(invalid(format!("aliases must be an array, not {other}"))),
    }
}

fn props(map: &Map<String, Value>, reserved: &[&str]) -> Props {
    map.iter()
        .filter(|(key, _)| !reserved.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        match AvroSchema::parse(text, &[], ParseOptions::default()) {
            Ok(_) => panic!("expected {text} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_invalid_schemas_with_a_reason() {
        let table = [
            (r#"{"type": "record", "name": "#, "not valid JSON"),
            (
                r#"{"type":"record","name":"Bad","fields":[{"name":"a","type":"no_such_type"}]}"#,
                "undefined name: \"no_such_type\"",
            ),
            (r#"{"type":"record","name":"R"}"#, "has no fields"),
            (
                r#"{"type":"record","name":"1R","fields":[]}"#,
                "illegal name",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "duplicate field a",
            ),
            (r#"["int","int"]"#, "duplicate in union: INT"),
            (r#"["int",["string"]]"#, "immediately contain another union"),
            (
                r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
                "duplicate symbol",
            ),
            (
                r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#,
                "not one of its symbols",
            ),
            (r#"{"type":"fixed","name":"F","size":-1}"#, "size"),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
                "invalid default for field a",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":4294967296}]}"#,
                "invalid default",
            ),
            (r#"{"type":"array"}"#, "needs \"items\""),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}"#,
                "can't redefine: R",
            ),
            ("", "empty schema"),
            ("42", "must be a type name"),
        ];
        for (text, expected) in table {
            let message = parse_err(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn accepts_unusual_but_valid_schemas() {
        for text in [
            r#"[]"#,
            r#"["null"]"#,
            r#""int""#,
            r#"{"type":{"type":"array","items":"int"}}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":["null","int"],"default":null}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":["int","null"],"default":null}]}"#,
            r#"{"type":"record","name":"R","namespace":"","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":"double","default":1}]}"#,
        ] {
            AvroSchema::parse(text, &[], ParseOptions::default())
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn names_resolve_in_the_enclosing_namespace_first() {
        let text = r#"{"type":"record","name":"R","namespace":"a","fields":[
            {"name":"x","type":{"type":"fixed","name":"F","size":1}},
            {"name":"y","type":"a.F"},
            {"name":"z","type":"F"}]}"#;
        let schema = AvroSchema::parse(text, &[], ParseOptions::default()).expect("valid");
        let Node::Record { fields, .. } = schema.node(schema.root()) else {
            panic!("a record")
        };
        assert_eq!(fields[0].schema, fields[1].schema);
        assert_eq!(fields[0].schema, fields[2].schema);
    }

    #[test]
    fn invalid_defaults_pass_when_validation_is_off() {
        let text =
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#;
        AvroSchema::parse(
            text,
            &[],
            ParseOptions {
                validate_defaults: false,
            },
        )
        .expect("accepted without default validation");
    }
}
