//! Avro schemas: a parsed model, its canonical and normalized text forms, and the
//! reader/writer compatibility check (see `compat`).
//!
//! The model is an arena of nodes so that recursive and shared named types are plain
//! indices. Named types that come from schema references live in the same arena and are
//! marked, so the canonical text of a schema names them rather than inlining them.

mod compat;
mod parse;

use foldhash::{HashSet, HashSetExt};

use serde_json::{Map, Value};

pub use compat::check as check_compatibility;
pub use parse::ParseOptions;

use crate::error::Result;

/// Index of a node in an [`AvroSchema`]'s arena.
pub type NodeId = usize;

/// Extra attributes on a type or field (`logicalType`, `connect.name`, ...), in the order given.
pub type Props = Vec<(String, Value)>;

/// The eight primitive types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `null`
    Null,
    /// `boolean`
    Boolean,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `bytes`
    Bytes,
    /// `string`
    String,
}

impl Primitive {
    /// The type's name in a schema.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Null => "null",
            Primitive::Boolean => "boolean",
            Primitive::Int => "int",
            Primitive::Long => "long",
            Primitive::Float => "float",
            Primitive::Double => "double",
            Primitive::Bytes => "bytes",
            Primitive::String => "string",
        }
    }

    fn from_name(name: &str) -> Option<Primitive> {
        Some(match name {
            "null" => Primitive::Null,
            "boolean" => Primitive::Boolean,
            "int" => Primitive::Int,
            "long" => Primitive::Long,
            "float" => Primitive::Float,
            "double" => Primitive::Double,
            "bytes" => Primitive::Bytes,
            "string" => Primitive::String,
            _ => return None,
        })
    }
}

/// A full name: simple name plus optional namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    /// The simple name.
    pub name: String,
    /// The namespace, `None` for the null namespace.
    pub namespace: Option<String>,
}

impl Name {
    /// `namespace.name`, or `name` in the null namespace.
    pub fn fullname(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The name as written where `enclosing` is the current namespace.
    fn relative_to(&self, enclosing: Option<&str>) -> String {
        if self.namespace.as_deref() == enclosing {
            self.name.clone()
        } else {
            self.fullname()
        }
    }
}

/// A record field.
#[derive(Clone, Debug)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The field's type.
    pub schema: NodeId,
    /// Documentation.
    pub doc: Option<String>,
    /// The default value, if any.
    pub default: Option<Value>,
    /// `ascending` (absent), `descending` or `ignore`.
    pub order: Option<String>,
    /// Alternative names a reader accepts for this field.
    pub aliases: Vec<String>,
    /// Extra attributes.
    pub props: Props,
}

impl Field {
    /// The writer's field this (reader's) field reads: by name, else by one of its aliases.
    pub fn matching<'w>(&self, writer_fields: &'w [Field]) -> Option<&'w Field> {
        writer_fields
            .iter()
            .find(|f| f.name == self.name)
            .or_else(|| {
                self.aliases
                    .iter()
                    .find_map(|alias| writer_fields.iter().find(|f| &f.name == alias))
            })
    }
}

/// A named type's common parts.
#[derive(Clone, Debug)]
pub struct Named {
    /// The full name.
    pub name: Name,
    /// Documentation.
    pub doc: Option<String>,
    /// Alternative full names a reader accepts.
    pub aliases: Vec<String>,
    /// Extra attributes.
    pub props: Props,
}

/// One node of the schema graph.
#[derive(Clone, Debug)]
pub enum Node {
    /// A primitive, possibly with a logical type in its props.
    Primitive {
        /// Which primitive.
        kind: Primitive,
        /// Extra attributes.
        props: Props,
    },
    /// A record (or the legacy `error`).
    Record {
        /// Name, doc, aliases, props.
        named: Named,
        /// The fields, in order.
        fields: Vec<Field>,
        /// Declared as `error` rather than `record`.
        is_error: bool,
    },
    /// An enum.
    Enum {
        /// Name, doc, aliases, props.
        named: Named,
        /// The symbols, in order.
        symbols: Vec<String>,
        /// The symbol a reader uses for an unknown writer symbol.
        default: Option<String>,
    },
    /// A fixed-size byte string.
    Fixed {
        /// Name, doc, aliases, props.
        named: Named,
        /// Size in bytes.
        size: u64,
    },
    /// An array.
    Array {
        /// Item type.
        items: NodeId,
        /// Extra attributes.
        props: Props,
    },
    /// A map with string keys.
    Map {
        /// Value type.
        values: NodeId,
        /// Extra attributes.
        props: Props,
    },
    /// A union.
    Union {
        /// The branches, in order.
        branches: Vec<NodeId>,
    },
}

impl Node {
    /// The type's name as Avro's Java implementation prints it in messages (`RECORD`, `INT`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Primitive { kind, .. } => match kind {
                Primitive::Null => "NULL",
                Primitive::Boolean => "BOOLEAN",
                Primitive::Int => "INT",
                Primitive::Long => "LONG",
                Primitive::Float => "FLOAT",
                Primitive::Double => "DOUBLE",
                Primitive::Bytes => "BYTES",
                Primitive::String => "STRING",
            },
            Node::Record { .. } => "RECORD",
            Node::Enum { .. } => "ENUM",
            Node::Fixed { .. } => "FIXED",
            Node::Array { .. } => "ARRAY",
            Node::Map { .. } => "MAP",
            Node::Union { .. } => "UNION",
        }
    }

    /// What identifies the node among a union's branches: a named type's full name, otherwise
    /// its type name.
    pub fn branch_key(&self) -> String {
        match self.named() {
            Some(named) => named.name.fullname(),
            None => self.type_name().to_string(),
        }
    }

    /// The name of a named type.
    pub fn named(&self) -> Option<&Named> {
        match self {
            Node::Record { named, .. } | Node::Enum { named, .. } | Node::Fixed { named, .. } => {
                Some(named)
            }
            _ => None,
        }
    }
}

/// A parsed Avro schema with the named types of its references.
#[derive(Clone, Debug)]
pub struct AvroSchema {
    nodes: Vec<Node>,
    root: NodeId,
    /// Named types defined by references: the canonical text names them instead of inlining.
    external: HashSet<NodeId>,
}

impl AvroSchema {
    /// Parses a schema; `references` are the texts of the referenced schemas, dependencies first.
    pub fn parse(text: &str, references: &[&str], options: ParseOptions) -> Result<AvroSchema> {
        parse::parse(text, references, options)
    }

    /// Reads a schema text as JSON, with the error [`AvroSchema::parse`] gives when it does
    /// not read.
    pub fn read_json(text: &str) -> Result<serde_json::Value> {
        parse::read_json(text)
    }

    /// [`AvroSchema::parse`] of a text already read as JSON (by [`AvroSchema::read_json`]).
    pub fn parse_value(
        json: &serde_json::Value,
        references: &[&str],
        options: ParseOptions,
    ) -> Result<AvroSchema> {
        parse::parse_value(json, references, options)
    }

    /// The root node.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The canonical text: compact JSON in a fixed attribute order, keeping every attribute.
    /// Two texts that differ only in white space or attribute order have the same canonical text.
    pub fn canonical(&self) -> String {
        self.to_json(self.root, false).to_string()
    }

    /// The normalized text (`normalize=true`): the canonical text with every name fully
    /// qualified (no `namespace` attributes), aliases and extra attributes sorted.
    pub fn normalized(&self) -> String {
        self.to_json(self.root, true).to_string()
    }

    /// The canonical text with the named types of references inlined (`format=resolved`).
    pub fn resolved(&self) -> String {
        Writer::new(self, false, HashSet::new())
            .write(self.root, None)
            .to_string()
    }

    /// A short JSON rendering of one node, for messages.
    pub fn fragment(&self, id: NodeId) -> String {
        crate::shorten(
            Writer::new(self, false, HashSet::new())
                .write(id, None)
                .to_string(),
        )
    }

    fn to_json(&self, id: NodeId, normalized: bool) -> Value {
        Writer::new(self, normalized, self.external.clone()).write(id, None)
    }
}

/// Writes nodes as JSON, inlining each named type once and naming it afterwards.
struct Writer<'a> {
    schema: &'a AvroSchema,
    normalized: bool,
    known: HashSet<NodeId>,
}

impl<'a> Writer<'a> {
    fn new(schema: &'a AvroSchema, normalized: bool, known: HashSet<NodeId>) -> Self {
        Writer {
            schema,
            normalized,
            known,
        }
    }

    fn write(&mut self, id: NodeId, enclosing: Option<&str>) -> Value {
        let node = &self.schema.nodes[id];
        if let Some(named) = node.named() {
            if !self.known.insert(id) {
                return Value::String(if self.normalized {
                    named.name.fullname()
                } else {
                    named.name.relative_to(enclosing)
                });
            }
        }
        match node {
            Node::Primitive { kind, props } => {
                if props.is_empty() {
                    Value::String(kind.name().to_string())
                } else {
                    let mut map = Map::new();
                    map.insert("type".into(), kind.name().into());
                    self.props(&mut map, props);
                    Value::Object(map)
                }
            }
            Node::Record {
                named,
                fields,
                is_error,
            } => {
                let mut map = Map::new();
                map.insert(
                    "type".into(),
                    if *is_error { "error" } else { "record" }.into(),
                );
                self.name(&mut map, named, enclosing);
                let namespace = named.name.namespace.as_deref();
                let fields: Vec<Value> = fields.iter().map(|f| self.field(f, namespace)).collect();
                map.insert("fields".into(), Value::Array(fields));
                self.props(&mut map, &named.props);
                self.aliases(&mut map, named);
                Value::Object(map)
            }
            Node::Enum {
                named,
                symbols,
                default,
            } => {
                let mut map = Map::new();
                map.insert("type".into(), "enum".into());
                self.name(&mut map, named, enclosing);
                map.insert(
                    "symbols".into(),
                    Value::Array(symbols.iter().map(|s| Value::String(s.clone())).collect()),
                );
                self.props(&mut map, &named.props);
                if let Some(default) = default {
                    map.insert("default".into(), Value::String(default.clone()));
                }
                self.aliases(&mut map, named);
                Value::Object(map)
            }
            Node::Fixed { named, size } => {
                let mut map = Map::new();
                map.insert("type".into(), "fixed".into());
                self.name(&mut map, named, enclosing);
                map.insert("size".into(), Value::from(*size));
                self.props(&mut map, &named.props);
                self.aliases(&mut map, named);
                Value::Object(map)
            }
            Node::Array { items, props } => {
                let mut map = Map::new();
                map.insert("type".into(), "array".into());
                let items = self.write(*items, enclosing);
                map.insert("items".into(), items);
                self.props(&mut map, props);
                Value::Object(map)
            }
            Node::Map { values, props } => {
                let mut map = Map::new();
                map.insert("type".into(), "map".into());
                let values = self.write(*values, enclosing);
                map.insert("values".into(), values);
                self.props(&mut map, props);
                Value::Object(map)
            }
            Node::Union { branches } => Value::Array(
                branches
                    .iter()
                    .map(|branch| self.write(*branch, enclosing))
                    .collect(),
            ),
        }
    }

    fn name(&self, map: &mut Map<String, Value>, named: &Named, enclosing: Option<&str>) {
        if self.normalized {
            map.insert("name".into(), named.name.fullname().into());
        } else {
            map.insert("name".into(), named.name.name.clone().into());
            match (&named.name.namespace, enclosing) {
                (Some(ns), enclosing) if Some(ns.as_str()) != enclosing => {
                    map.insert("namespace".into(), ns.clone().into());
                }
                (None, Some(_)) => {
                    map.insert("namespace".into(), "".into());
                }
                _ => {}
            }
        }
        if let Some(doc) = &named.doc {
            map.insert("doc".into(), doc.clone().into());
        }
    }

    fn field(&mut self, field: &Field, namespace: Option<&str>) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), field.name.clone().into());
        let schema = self.write(field.schema, namespace);
        map.insert("type".into(), schema);
        if let Some(doc) = &field.doc {
            map.insert("doc".into(), doc.clone().into());
        }
        if let Some(default) = &field.default {
            map.insert("default".into(), default.clone());
        }
        if let Some(order) = &field.order {
            map.insert("order".into(), order.clone().into());
        }
        if !field.aliases.is_empty() {
            let mut aliases = field.aliases.clone();
            if self.normalized {
                aliases.sort();
            }
            map.insert(
                "aliases".into(),
                Value::Array(aliases.into_iter().map(Value::String).collect()),
            );
        }
        self.props(&mut map, &field.props);
        Value::Object(map)
    }

    fn props(&self, map: &mut Map<String, Value>, props: &Props) {
        if self.normalized {
            let mut sorted: Vec<&(String, Value)> = props.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, value) in sorted {
                map.insert(key.clone(), value.clone());
            }
        } else {
            for (key, value) in props {
                map.insert(key.clone(), value.clone());
            }
        }
    }

    fn aliases(&self, map: &mut Map<String, Value>, named: &Named) {
        if named.aliases.is_empty() {
            return;
        }
        let namespace = named.name.namespace.as_deref();
        let mut aliases: Vec<String> = named
            .aliases
            .iter()
            .map(|alias| {
                if self.normalized {
                    alias.clone()
                } else {
                    relative_fullname(alias, namespace)
                }
            })
            .collect();
        if self.normalized {
            aliases.sort();
        }
        map.insert(
            "aliases".into(),
            Value::Array(aliases.into_iter().map(Value::String).collect()),
        );
    }
}

/// Writes a full name relative to a namespace: the simple name when it lives in that namespace.
fn relative_fullname(fullname: &str, namespace: Option<&str>) -> String {
    match (fullname.rsplit_once('.'), namespace) {
        (Some((ns, simple)), Some(current)) if ns == current => simple.to_string(),
        _ => fullname.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        AvroSchema::parse(text, &[], ParseOptions::default())
            .expect("valid schema")
            .canonical()
    }

    #[test]
    fn whitespace_and_attribute_order_do_not_change_the_canonical_form() {
        let compact = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let pretty = r#"{
            "fields": [ { "type": "int", "name": "a" } ],
            "name": "R",
            "type": "record"
        }"#;
        assert_eq!(canonical(compact), canonical(pretty));
        assert_eq!(canonical(compact), compact);
    }

    #[test]
    fn primitives_in_object_form_collapse_without_props() {
        assert_eq!(canonical(r#"{"type":"string"}"#), r#""string""#);
        assert_eq!(
            canonical(r#"{"type":"string","logicalType":"uuid"}"#),
            r#"{"type":"string","logicalType":"uuid"}"#
        );
    }

    #[test]
    fn named_types_are_inlined_once_and_namespaces_are_relative() {
        let text = r#"{"type":"record","name":"a.b.R","fields":[
            {"name":"x","type":{"type":"fixed","name":"F","size":4}},
            {"name":"y","type":"F"},
            {"name":"z","type":{"type":"enum","name":"other.E","symbols":["A"]}},
            {"name":"w","type":"other.E"}]}"#;
        assert_eq!(
            canonical(text),
            r#"{"type":"record","name":"R","namespace":"a.b","fields":[{"name":"x","type":{"type":"fixed","name":"F","size":4}},{"name":"y","type":"F"},{"name":"z","type":{"type":"enum","name":"E","namespace":"other","symbols":["A"]}},{"name":"w","type":"other.E"}]}"#
        );
        let schema = AvroSchema::parse(text, &[], ParseOptions::default()).expect("valid");
        assert!(schema.normalized().contains(r#""name":"a.b.F""#));
    }

    #[test]
    fn referenced_types_are_named_not_inlined() {
        let reference = r#"{"type":"record","name":"com.x.Address","fields":[{"name":"street","type":"string"}]}"#;
        let main = r#"{"type":"record","name":"com.x.Person","fields":[{"name":"home","type":"Address"}]}"#;
        let schema = AvroSchema::parse(main, &[reference], ParseOptions::default()).expect("valid");
        assert_eq!(
            schema.canonical(),
            r#"{"type":"record","name":"Person","namespace":"com.x","fields":[{"name":"home","type":"Address"}]}"#
        );
    }

    #[test]
    fn recursive_records_parse_and_print() {
        let text = r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}"#;
        assert_eq!(canonical(text), text);
    }
}
