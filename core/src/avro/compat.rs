//! Avro reader/writer compatibility: can a reader with one schema decode data written with another?
//!
//! The rules are the Avro specification's schema resolution, decided case for case as Avro's Java
//! `SchemaCompatibility` decides them (the checker Confluent's registry runs): names compare by
//! simple name or a reader alias, fields by name or a reader field alias, unions branch by branch,
//! and recursion through named types terminates by assuming compatibility for a pair already under
//! check. Every problem is collected, not only the first, each with a path into the reader schema.

use std::collections::{BTreeSet, HashMap};

use super::{AvroSchema, Node, NodeId, Primitive};
use crate::compat::Incompatibility;

/// Checks that `reader` can read data written with `writer`.
///
/// `reader_is_new` says which of the two is the candidate schema, so that messages and fragments
/// speak of "new" and "old" correctly in both directions.
pub fn check(
    reader: &AvroSchema,
    writer: &AvroSchema,
    reader_is_new: bool,
) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader,
        writer,
        reader_is_new,
        memo: HashMap::new(),
    };
    let mut location = Vec::new();
    let found = checker.compat(reader.root(), writer.root(), &mut location);
    found.iter().map(|f| checker.render(f)).collect()
}

/// A problem as the checker finds it. Probes (does this union branch fit?) find and discard
/// many; only those reported are rendered into an [`Incompatibility`], with fragments.
#[derive(Clone, Debug)]
struct Found {
    kind: &'static str,
    r: NodeId,
    w: NodeId,
    path: String,
    additional_info: String,
}

struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    reader_is_new: bool,
    /// `None` while a pair is being checked (recursion: assume compatible), then its result.
    memo: HashMap<(NodeId, NodeId), Option<Vec<Found>>>,
}

impl Checker<'_> {
    fn compat(&mut self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> Vec<Found> {
        match self.memo.get(&(r, w)) {
            Some(None) => return Vec::new(),
            Some(Some(done)) => return done.clone(),
            None => {}
        }
        self.memo.insert((r, w), None);
        let result = self.compute(r, w, location);
        self.memo.insert((r, w), Some(result.clone()));
        result
    }

    fn compute(&mut self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> Vec<Found> {
        let reader = self.reader.node(r);
        let writer = self.writer.node(w);
        let mut result = Vec::new();
        if reader.type_name() == writer.type_name() {
            match (reader, writer) {
                (Node::Primitive { .. }, Node::Primitive { .. }) => {}
                (Node::Array { items: ri, .. }, Node::Array { items: wi, .. }) => {
                    location.push("items".into());
                    result.extend(self.compat(*ri, *wi, location));
                    location.pop();
                }
                (Node::Map { values: rv, .. }, Node::Map { values: wv, .. }) => {
                    location.push("values".into());
                    result.extend(self.compat(*rv, *wv, location));
                    location.pop();
                }
                (Node::Fixed { size: rs, .. }, Node::Fixed { size: ws, .. }) => {
                    result.extend(self.check_names(r, w, location));
                    if rs != ws {
                        location.push("size".into());
                        result.push(self.problem(
                            "FIXED_SIZE_MISMATCH",
                            r,
                            w,
                            location,
                            format!("expected: {ws}, found: {rs}"),
                        ));
                        location.pop();
                    }
                }
                (
                    Node::Enum {
                        symbols: rsyms,
                        default: rdefault,
                        ..
                    },
                    Node::Enum { symbols: wsyms, .. },
                ) => {
                    result.extend(self.check_names(r, w, location));
                    let missing: BTreeSet<&String> =
                        wsyms.iter().filter(|s| !rsyms.contains(s)).collect();
                    let has_usable_default = rdefault.as_ref().is_some_and(|d| rsyms.contains(d));
                    if !missing.is_empty() && !has_usable_default {
                        location.push("symbols".into());
                        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                        result.push(self.problem(
                            "MISSING_ENUM_SYMBOLS",
                            r,
                            w,
                            location,
                            format!("[{}]", list.join(", ")),
                        ));
                        location.pop();
                    }
                }
                (Node::Record { .. }, Node::Record { .. }) => {
                    result.extend(self.check_names(r, w, location));
                    result.extend(self.check_fields(r, w, location));
                }
                (Node::Union { .. }, Node::Union { branches }) => {
                    for (index, branch) in branches.iter().enumerate() {
                        location.push(index.to_string());
                        if !self.compat(r, *branch, location).is_empty() {
                            let info = format!(
                                "reader union lacking writer type: {}",
                                self.writer.node(*branch).type_name()
                            );
                            result.push(self.problem(
                                "MISSING_UNION_BRANCH",
                                r,
                                *branch,
                                location,
                                info,
                            ));
                        }
                        location.pop();
                    }
                }
                _ => unreachable!("nodes with the same type name have the same shape"),
            }
            return result;
        }

        // The types differ. A writer union resolves branch by branch.
        if let Node::Union { branches } = writer {
            for (index, branch) in branches.iter().enumerate() {
                location.push(index.to_string());
                result.extend(self.compat(r, *branch, location));
                location.pop();
            }
            return result;
        }

        let promotable = match (reader, writer) {
            (Node::Primitive { kind: rk, .. }, Node::Primitive { kind: wk, .. }) => matches!(
                (rk, wk),
                (Primitive::Long, Primitive::Int)
                    | (Primitive::Float, Primitive::Int | Primitive::Long)
                    | (
                        Primitive::Double,
                        Primitive::Int | Primitive::Long | Primitive::Float
                    )
                    | (Primitive::Bytes, Primitive::String)
                    | (Primitive::String, Primitive::Bytes)
            ),
            _ => false,
        };
        if promotable {
            return result;
        }
        if let Node::Union { branches } = reader {
            for branch in branches {
                if self.compat(*branch, w, location).is_empty() {
                    return result;
                }
            }
            let info = format!("reader union lacking writer type: {}", writer.type_name());
            result.push(self.problem("MISSING_UNION_BRANCH", r, w, location, info));
            return result;
        }
        let info = format!(
            "reader type: {} not compatible with writer type: {}",
            reader.type_name(),
            writer.type_name()
        );
        result.push(self.problem("TYPE_MISMATCH", r, w, location, info));
        result
    }

    /// Records, enums and fixed types match by simple name, or by a reader alias of the writer's full name.
    fn check_names(&self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> Vec<Found> {
        let (Some(reader), Some(writer)) =
            (self.reader.node(r).named(), self.writer.node(w).named())
        else {
            return Vec::new();
        };
        let writer_full = writer.name.fullname();
        if reader.name.name == writer.name.name || reader.aliases.contains(&writer_full) {
            return Vec::new();
        }
        location.push("name".into());
        let problem = self.problem(
            "NAME_MISMATCH",
            r,
            w,
            location,
            format!("expected: {writer_full}"),
        );
        location.pop();
        vec![problem]
    }

    fn check_fields(&mut self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> Vec<Found> {
        let (
            Node::Record {
                fields: rfields, ..
            },
            Node::Record {
                fields: wfields, ..
            },
        ) = (self.reader.node(r), self.writer.node(w))
        else {
            return Vec::new();
        };
        let mut result = Vec::new();
        location.push("fields".into());
        for (index, rfield) in rfields.iter().enumerate() {
            location.push(index.to_string());
            match rfield.matching(wfields) {
                Some(wfield) => {
                    location.push("type".into());
                    result.extend(self.compat(rfield.schema, wfield.schema, location));
                    location.pop();
                }
                None if rfield.default.is_some() => {}
                None => {
                    let enum_default = matches!(
                        self.reader.node(rfield.schema),
                        Node::Enum {
                            default: Some(_),
                            ..
                        }
                    );
                    if enum_default {
                        // Avro's Java checker resolves such a field against the whole writer record.
                        location.push("type".into());
                        result.extend(self.compat(rfield.schema, w, location));
                        location.pop();
                    } else {
                        result.push(self.problem(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            rfield.schema,
                            w,
                            location,
                            rfield.name.clone(),
                        ));
                    }
                }
            }
            location.pop();
        }
        location.pop();
        result
    }

    fn problem(
        &self,
        kind: &'static str,
        r: NodeId,
        w: NodeId,
        location: &[String],
        additional_info: String,
    ) -> Found {
        Found {
            kind,
            r,
            w,
            path: format!("/{}", location.join("/")),
            additional_info,
        }
    }

    /// The message, hint and fragments of a reported problem.
    fn render(&self, found: &Found) -> Incompatibility {
        let Found {
            kind,
            r,
            w,
            ref path,
            ref additional_info,
        } = *found;
        let (reader_side, writer_side) = if self.reader_is_new {
            ("new", "old")
        } else {
            ("old", "new")
        };
        let description = match kind {
            "READER_FIELD_MISSING_DEFAULT_VALUE" => format!(
                "The field '{additional_info}' at path '{path}' in the {reader_side} schema has no default value and is missing in the {writer_side} schema"
            ),
            "TYPE_MISMATCH" => format!(
                "The type (path '{path}') of a field in the {reader_side} schema does not match with the {writer_side} schema"
            ),
            "NAME_MISMATCH" => format!(
                "The name of the schema has changed (path '{path}') in the {reader_side} schema"
            ),
            "FIXED_SIZE_MISMATCH" => format!(
                "The size of FIXED type field at path '{path}' in the {reader_side} schema does not match with the {writer_side} schema"
            ),
            "MISSING_ENUM_SYMBOLS" => format!(
                "The {reader_side} schema is missing enum symbols '{additional_info}' at path '{path}' in the {writer_side} schema"
            ),
            _ => format!(
                "The {reader_side} schema is missing a type inside a union field at path '{path}' in the {writer_side} schema"
            ),
        };
        let hint = match kind {
            "TYPE_MISMATCH" => Some(
                "Avro resolves only int→long→float→double and string↔bytes; keep the old type or add a new field".to_string(),
            ),
            "NAME_MISMATCH" => Some(format!(
                "keep the name, or list the {writer_side} name in the {reader_side} type's aliases"
            )),
            "MISSING_ENUM_SYMBOLS" => Some(format!(
                "keep the symbols, or give the {reader_side} enum a default symbol"
            )),
            "MISSING_UNION_BRANCH" => Some(format!(
                "add the missing branch to the {reader_side} union"
            )),
            "FIXED_SIZE_MISMATCH" => Some("a fixed type's size cannot change".to_string()),
            "READER_FIELD_MISSING_DEFAULT_VALUE" if self.reader_is_new => {
                Some(format!("add a default to field `{additional_info}`"))
            }
            "READER_FIELD_MISSING_DEFAULT_VALUE" => Some(format!(
                "keep field `{additional_info}`: the old schema reads it and has no default for it"
            )),
            _ => None,
        };
        let reader_fragment = self.reader.fragment(r);
        let writer_fragment = self.writer.fragment(w);
        let (new_fragment, old_fragment) = if self.reader_is_new {
            (reader_fragment, writer_fragment)
        } else {
            (writer_fragment, reader_fragment)
        };
        Incompatibility {
            kind: kind.to_string(),
            path: path.clone(),
            description,
            additional_info: additional_info.clone(),
            old_fragment: Some(old_fragment),
            new_fragment: Some(new_fragment),
            hint,
            version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::ParseOptions;

    fn schema(text: &str) -> AvroSchema {
        AvroSchema::parse(text, &[], ParseOptions::default()).expect("valid schema")
    }

    /// Can `reader` read data written with `writer`? Returns the kinds and paths found.
    fn reads(reader: &str, writer: &str) -> Vec<(String, String)> {
        check(&schema(reader), &schema(writer), true)
            .into_iter()
            .map(|i| (i.kind, i.path))
            .collect()
    }

    fn ok(reader: &str, writer: &str) {
        assert_eq!(
            reads(reader, writer),
            vec![],
            "{reader} should read {writer}"
        );
    }

    fn bad(reader: &str, writer: &str, kind: &str, path: &str) {
        let found = reads(reader, writer);
        assert!(
            found.iter().any(|(k, p)| k == kind && p == path),
            "{reader} reading {writer}: expected {kind} at {path}, got {found:?}"
        );
    }

    const R1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;

    #[test]
    fn promotions() {
        ok(r#""long""#, r#""int""#);
        ok(r#""double""#, r#""float""#);
        ok(r#""string""#, r#""bytes""#);
        ok(r#""bytes""#, r#""string""#);
        bad(r#""int""#, r#""long""#, "TYPE_MISMATCH", "/");
        bad(r#""float""#, r#""double""#, "TYPE_MISMATCH", "/");
    }

    #[test]
    fn fields() {
        // A new reader field needs a default.
        let added = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#;
        bad(added, R1, "READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1");
        let with_default = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#;
        ok(with_default, R1);
        // Removing a field is fine for the reader.
        ok(R1, added);
        // A changed field type is reported at the field's type.
        let changed = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
        bad(changed, R1, "TYPE_MISMATCH", "/fields/0/type");
        // A reader alias matches a renamed writer field.
        let renamed =
            r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","aliases":["a"]}]}"#;
        ok(renamed, R1);
    }

    #[test]
    fn names_and_aliases() {
        let other = r#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#;
        bad(other, R1, "NAME_MISMATCH", "/name");
        let aliased =
            r#"{"type":"record","name":"S","aliases":["R"],"fields":[{"name":"a","type":"int"}]}"#;
        ok(aliased, R1);
        // Namespaces are not compared, only simple names.
        let namespaced = r#"{"type":"record","name":"x.R","fields":[{"name":"a","type":"int"}]}"#;
        ok(namespaced, R1);
    }

    #[test]
    fn enums_and_fixed() {
        let ab = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let abc = r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#;
        ok(abc, ab);
        bad(ab, abc, "MISSING_ENUM_SYMBOLS", "/symbols");
        let ab_default = r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#;
        ok(ab_default, abc);
        bad(
            r#"{"type":"fixed","name":"F","size":4}"#,
            r#"{"type":"fixed","name":"F","size":8}"#,
            "FIXED_SIZE_MISMATCH",
            "/size",
        );
    }

    #[test]
    fn unions() {
        ok(r#"["null","int"]"#, r#""int""#);
        ok(r#"["null","long"]"#, r#""int""#);
        bad(
            r#"["null","string"]"#,
            r#""int""#,
            "MISSING_UNION_BRANCH",
            "/",
        );
        ok(r#""long""#, r#"["int"]"#);
        bad(r#""int""#, r#"["int","string"]"#, "TYPE_MISMATCH", "/1");
        bad(
            r#"["int"]"#,
            r#"["int","string"]"#,
            "MISSING_UNION_BRANCH",
            "/1",
        );
        ok(r#"["int","string"]"#, r#"["string","int"]"#);
        ok(r#"[]"#, r#"[]"#);
    }

    #[test]
    fn recursion_terminates() {
        let list = r#"{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}"#;
        let list_long = r#"{"type":"record","name":"L","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","L"]}]}"#;
        ok(list, list);
        ok(list_long, list);
        bad(list, list_long, "TYPE_MISMATCH", "/fields/0/type");
    }

    #[test]
    fn messages_name_the_sides_and_fragments() {
        let added = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"email","type":"string"}]}"#;
        let found = check(&schema(added), &schema(R1), true);
        assert_eq!(found.len(), 1);
        let problem = &found[0];
        assert!(
            problem.description.contains("in the new schema"),
            "{}",
            problem.description
        );
        assert_eq!(
            problem.hint.as_deref(),
            Some("add a default to field `email`")
        );
        assert_eq!(problem.new_fragment.as_deref(), Some(r#""string""#));
        // The same pair seen forward: the old schema is the reader.
        let found = check(&schema(added), &schema(R1), false);
        assert!(
            found[0].description.contains("in the old schema"),
            "{}",
            found[0].description
        );
    }
}
