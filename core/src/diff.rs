//! Semantic differences between two schemas of one format: what changed, where, and whether
//! each change keeps readers of the old data (backward) working. The CLI's `diff` shows these.

use foldhash::{HashSet, HashSetExt};

use serde_json::Value;

use crate::avro::{AvroSchema, Node, NodeId};
use crate::compat::{check_pair, Budget, Incompatibility};
use crate::json::{self, Policy};
use crate::protobuf;
use crate::schema::{ParsedSchema, SchemaModel};

/// One change between an old and a new schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The kind (`FIELD_ADDED`, `TYPE_MISMATCH`, `PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL`, ...).
    pub kind: String,
    /// Where, as a path into the schema.
    pub path: String,
    /// The old fragment, if any.
    pub old: Option<String>,
    /// The new fragment, if any.
    pub new: Option<String>,
    /// Whether the change keeps the new schema able to read old data.
    pub backward_compatible: bool,
}

/// Every difference from `old` to `new`, compatible changes included.
pub fn diff(old: &ParsedSchema, new: &ParsedSchema) -> Vec<Change> {
    diff_checked(old, new, None)
}

/// [`diff`] given, when the caller has it, what the backward check of the pair found (`new`
/// reading `old`, the whole check, not one cut short by a budget): an Avro diff then does not
/// run that check again.
pub fn diff_checked(
    old: &ParsedSchema,
    new: &ParsedSchema,
    backward: Option<&[Incompatibility]>,
) -> Vec<Change> {
    match (old.model(), new.model()) {
        (SchemaModel::Avro(o), SchemaModel::Avro(n)) => match backward {
            Some(incompatible) => avro_changes(o, n, incompatible),
            None => {
                let incompatible =
                    check_pair(new, old, true, false, Policy::Strict, &Budget::unlimited());
                avro_changes(o, n, &incompatible)
            }
        },
        (SchemaModel::Json(o), SchemaModel::Json(n)) => {
            json::diff(o.model(), n.model(), Policy::Strict)
                .into_iter()
                .map(|d| Change {
                    backward_compatible: d.is_compatible(Policy::Strict),
                    kind: d.kind.to_string(),
                    path: d.path,
                    old: d.original,
                    new: d.update,
                })
                .collect()
        }
        (SchemaModel::Protobuf(o), SchemaModel::Protobuf(n)) => protobuf::diff(o, n)
            .into_iter()
            .map(|d| Change {
                backward_compatible: d.is_compatible(),
                kind: d.kind.to_string(),
                path: d.path,
                old: d.original,
                new: d.update,
            })
            .collect(),
        _ => vec![Change {
            kind: "SCHEMA_TYPE_CHANGED".into(),
            path: "/".into(),
            old: Some(old.schema_type().to_string()),
            new: Some(new.schema_type().to_string()),
            backward_compatible: false,
        }],
    }
}

/// Avro: a structural walk (fields by name, symbols, sizes, union branches) marked with the
/// reader/writer verdict, plus any incompatibility the walk did not itself name.
fn avro_changes(
    old: &AvroSchema,
    new: &AvroSchema,
    incompatible: &[Incompatibility],
) -> Vec<Change> {
    let mut walker = AvroWalker {
        old,
        new,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    walker.walk(old.root(), new.root(), String::new());
    let mut out = walker.out;
    // Removals are located in the old schema; everything else in the new one, as the checker's
    // paths are (the new schema is the reader).
    let removal = |kind: &str| kind == "FIELD_REMOVED" || kind == "UNION_BRANCH_REMOVED";
    for change in &mut out {
        change.backward_compatible = if change.kind == "FIELD_REMOVED" {
            true
        } else if change.kind == "UNION_BRANCH_REMOVED" {
            !incompatible
                .iter()
                .any(|p| p.kind == "MISSING_UNION_BRANCH")
        } else {
            !incompatible
                .iter()
                .any(|p| p.path.starts_with(&change.path))
        };
    }
    let extra: Vec<Change> = incompatible
        .iter()
        .filter(|problem| {
            !out.iter().any(|c| {
                !removal(&c.kind) && !c.backward_compatible && problem.path.starts_with(&c.path)
            })
        })
        .map(|problem| Change {
            kind: problem.kind.clone(),
            path: problem.path.clone(),
            old: problem.old_fragment.clone(),
            new: problem.new_fragment.clone(),
            backward_compatible: false,
        })
        .collect();
    out.extend(extra);
    out
}

struct AvroWalker<'a> {
    old: &'a AvroSchema,
    new: &'a AvroSchema,
    seen: HashSet<(NodeId, NodeId)>,
    out: Vec<Change>,
}

impl AvroWalker<'_> {
    fn push(&mut self, kind: &str, path: &str, old: Option<String>, new: Option<String>) {
        self.out.push(Change {
            kind: kind.to_string(),
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            old,
            new,
            backward_compatible: true,
        });
    }

    fn walk(&mut self, o: NodeId, n: NodeId, path: String) {
        if !self.seen.insert((o, n)) {
            return;
        }
        let (on, nn) = (self.old.node(o), self.new.node(n));
        if on.type_name() != nn.type_name() {
            self.push(
                "TYPE_CHANGED",
                &path,
                Some(self.old.fragment(o)),
                Some(self.new.fragment(n)),
            );
            return;
        }
        if let (Some(a), Some(b)) = (on.named(), nn.named()) {
            if a.name.fullname() != b.name.fullname() {
                self.push(
                    "NAME_CHANGED",
                    &format!("{path}/name"),
                    Some(a.name.fullname()),
                    Some(b.name.fullname()),
                );
            }
            if a.doc != b.doc {
                self.push(
                    "DOC_CHANGED",
                    &format!("{path}/doc"),
                    a.doc.clone(),
                    b.doc.clone(),
                );
            }
        }
        match (on, nn) {
            (Node::Record { fields: of, .. }, Node::Record { fields: nf, .. }) => {
                for (index, field) in nf.iter().enumerate() {
                    let field_path = format!("{path}/fields/{index}");
                    match field.matching(of) {
                        None => {
                            let kind = if field.default.is_some() {
                                "FIELD_ADDED_WITH_DEFAULT"
                            } else {
                                "FIELD_ADDED"
                            };
                            self.push(
                                kind,
                                &field_path,
                                None,
                                Some(format!(
                                    "{}: {}",
                                    field.name,
                                    self.new.fragment(field.schema)
                                )),
                            );
                        }
                        Some(previous) => {
                            if previous.name != field.name {
                                self.push(
                                    "FIELD_RENAMED",
                                    &field_path,
                                    Some(previous.name.clone()),
                                    Some(field.name.clone()),
                                );
                            }
                            if previous.default != field.default {
                                let show = |v: &Option<Value>| v.as_ref().map(Value::to_string);
                                self.push(
                                    "DEFAULT_CHANGED",
                                    &format!("{field_path}/default"),
                                    show(&previous.default),
                                    show(&field.default),
                                );
                            }
                            self.walk(previous.schema, field.schema, format!("{field_path}/type"));
                        }
                    }
                }
                for (index, field) in of.iter().enumerate() {
                    let still_there = nf
                        .iter()
                        .any(|f| f.name == field.name || f.aliases.contains(&field.name));
                    if !still_there {
                        self.push(
                            "FIELD_REMOVED",
                            &format!("{path}/fields/{index}"),
                            Some(format!(
                                "{}: {}",
                                field.name,
                                self.old.fragment(field.schema)
                            )),
                            None,
                        );
                    }
                }
            }
            (Node::Enum { symbols: os, .. }, Node::Enum { symbols: ns, .. }) => {
                for symbol in ns.iter().filter(|s| !os.contains(s)) {
                    self.push(
                        "ENUM_SYMBOL_ADDED",
                        &format!("{path}/symbols"),
                        None,
                        Some(symbol.clone()),
                    );
                }
                for symbol in os.iter().filter(|s| !ns.contains(s)) {
                    self.push(
                        "ENUM_SYMBOL_REMOVED",
                        &format!("{path}/symbols"),
                        Some(symbol.clone()),
                        None,
                    );
                }
            }
            (Node::Fixed { size: a, .. }, Node::Fixed { size: b, .. }) if a != b => {
                self.push(
                    "FIXED_SIZE_CHANGED",
                    &format!("{path}/size"),
                    Some(a.to_string()),
                    Some(b.to_string()),
                );
            }
            (Node::Array { items: a, .. }, Node::Array { items: b, .. }) => {
                self.walk(*a, *b, format!("{path}/items"))
            }
            (Node::Map { values: a, .. }, Node::Map { values: b, .. }) => {
                self.walk(*a, *b, format!("{path}/values"))
            }
            (Node::Union { branches: ob }, Node::Union { branches: nb }) => {
                let key = |schema: &AvroSchema, id: NodeId| schema.node(id).branch_key();
                for (index, branch) in nb.iter().enumerate() {
                    match ob
                        .iter()
                        .find(|b| key(self.old, **b) == key(self.new, *branch))
                    {
                        Some(previous) => self.walk(*previous, *branch, format!("{path}/{index}")),
                        None => self.push(
                            "UNION_BRANCH_ADDED",
                            &format!("{path}/{index}"),
                            None,
                            Some(self.new.fragment(*branch)),
                        ),
                    }
                }
                for (index, branch) in ob.iter().enumerate() {
                    if !nb
                        .iter()
                        .any(|b| key(self.new, *b) == key(self.old, *branch))
                    {
                        self.push(
                            "UNION_BRANCH_REMOVED",
                            &format!("{path}/{index}"),
                            Some(self.old.fragment(*branch)),
                            None,
                        );
                    }
                }
            }
            (Node::Primitive { kind: a, props: pa }, Node::Primitive { kind: b, props: pb })
                if a == b && pa != pb =>
            {
                self.push(
                    "ATTRIBUTES_CHANGED",
                    &path,
                    Some(self.old.fragment(o)),
                    Some(self.new.fragment(n)),
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ParseOptions, SchemaType};

    fn parse(schema_type: SchemaType, text: &str) -> ParsedSchema {
        ParsedSchema::parse(schema_type, text, &[], ParseOptions::default()).expect("valid")
    }

    fn kinds(changes: &[Change]) -> Vec<(String, String, bool)> {
        changes
            .iter()
            .map(|c| (c.kind.clone(), c.path.clone(), c.backward_compatible))
            .collect()
    }

    #[test]
    fn avro_fields_symbols_and_types() {
        let old = parse(
            SchemaType::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}}]}"#,
        );
        let new = parse(
            SchemaType::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"c","type":"string","default":""},{"name":"d","type":"int"}]}"#,
        );
        let found = kinds(&diff(&old, &new));
        assert!(
            found.contains(&("TYPE_CHANGED".into(), "/fields/0/type".into(), true)),
            "{found:?}"
        );
        assert!(
            found.contains(&("FIELD_ADDED_WITH_DEFAULT".into(), "/fields/2".into(), true)),
            "{found:?}"
        );
        assert!(
            found.contains(&("FIELD_ADDED".into(), "/fields/3".into(), false)),
            "{found:?}"
        );
        assert!(
            found.contains(&("FIELD_REMOVED".into(), "/fields/1".into(), true)),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "ENUM_SYMBOL_REMOVED".into(),
                "/fields/1/type/symbols".into(),
                false
            )),
            "{found:?}"
        );
    }

    #[test]
    fn json_and_protobuf_reuse_their_diffs() {
        let old = parse(
            SchemaType::Json,
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        );
        let new = parse(
            SchemaType::Json,
            r#"{"type":"object","properties":{"a":{"type":"string","maxLength":3}}}"#,
        );
        assert_eq!(
            kinds(&diff(&old, &new)),
            vec![(
                "MAX_LENGTH_ADDED".into(),
                "#/properties/a/maxLength".into(),
                false
            )]
        );
        let old = parse(
            SchemaType::Protobuf,
            "syntax = \"proto3\"; message M { int32 a = 1; }",
        );
        let new = parse(
            SchemaType::Protobuf,
            "syntax = \"proto3\"; message M { int32 a = 1; string b = 2; }",
        );
        assert_eq!(
            kinds(&diff(&old, &new)),
            vec![("FIELD_ADDED".into(), "#/M/2".into(), true)]
        );
    }
}
