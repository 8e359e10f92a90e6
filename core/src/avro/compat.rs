//! Avro reader/writer compatibility: can a reader with one schema decode data written with another?
//!
//! The rules are the Avro specification's schema resolution, decided case for case as Avro's Java
//! `SchemaCompatibility` decides them (the checker Confluent's registry runs): names compare by
//! simple name or a reader alias, fields by name or a reader field alias, unions branch by branch,
//! and recursion through named types terminates by assuming compatibility for a pair already under
//! check. Every problem is collected, not only the first, each with a path into the reader schema.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet};
use std::rc::Rc;

use super::{AvroSchema, Node, NodeId, Primitive};
use crate::compat::{Budget, Incompatibility};

/// Checks that `reader` can read data written with `writer`.
///
/// `reader_is_new` says which of the two is the candidate schema, so that messages and fragments
/// speak of "new" and "old" correctly in both directions. The work is near-linear in the sizes
/// of the schemas (fields, symbols and union branches are looked up, not scanned) and spends
/// `budget`; when it runs out the check stops early, and the caller must not use the result.
pub fn check(
    reader: &AvroSchema,
    writer: &AvroSchema,
    reader_is_new: bool,
    budget: &Budget,
) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader,
        writer,
        reader_is_new,
        memo: HashMap::new(),
        fields: HashMap::new(),
        unions: HashMap::new(),
        budget,
    };
    let mut location = Vec::new();
    let found = checker.compat(reader.root(), writer.root(), &mut location);
    if budget.is_exhausted() {
        return Vec::new();
    }
    let mut fragments = Fragments::default();
    found
        .iter()
        .map(|f| checker.render(f, &mut fragments))
        .collect()
}

/// The fragments of the nodes a check reports, each rendered once however often it is named.
#[derive(Default)]
struct Fragments {
    reader: HashMap<NodeId, String>,
    writer: HashMap<NodeId, String>,
}

/// A reader union's branches by what a writer type must have to resolve to them: named branches
/// by simple name and by alias, the others by type name.
struct UnionIndex {
    by_name: HashMap<String, Vec<usize>>,
    by_type: HashMap<&'static str, Vec<usize>>,
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
    memo: HashMap<(NodeId, NodeId), Option<Rc<[Found]>>>,
    /// Writer records' fields by name.
    fields: HashMap<NodeId, HashMap<&'a str, usize>>,
    /// Reader unions' branches.
    unions: HashMap<NodeId, UnionIndex>,
    budget: &'a Budget,
}

impl<'a> Checker<'a> {
    fn compat(&mut self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> Vec<Found> {
        match self.memo.get(&(r, w)) {
            Some(None) => return Vec::new(),
            Some(Some(done)) => return done.to_vec(),
            None => {}
        }
        if !self.budget.spend(1) {
            return Vec::new();
        }
        self.memo.insert((r, w), None);
        let result = self.compute(r, w, location);
        self.memo.insert((r, w), Some(Rc::from(result.as_slice())));
        result
    }

    /// Whether `r` reads `w` without problems (a probe: nothing is kept but the verdict).
    fn reads(&mut self, r: NodeId, w: NodeId, location: &mut Vec<String>) -> bool {
        self.compat(r, w, location).is_empty()
    }

    /// The branches of reader union `r` that writer type `w` could resolve to, in order: the
    /// same kind with a matching name (or alias), or a type `w` promotes to.
    fn candidates(&mut self, r: NodeId, w: NodeId) -> Vec<NodeId> {
        let reader = self.reader;
        let Node::Union { branches } = reader.node(r) else {
            return Vec::new();
        };
        let index = self.unions.entry(r).or_insert_with(|| {
            let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
            let mut by_type: HashMap<&'static str, Vec<usize>> = HashMap::new();
            for (position, branch) in branches.iter().enumerate() {
                let node = reader.node(*branch);
                match node.named() {
                    Some(named) => {
                        by_name
                            .entry(named.name.name.clone())
                            .or_default()
                            .push(position);
                        for alias in &named.aliases {
                            by_name
                                .entry(format!("alias:{alias}"))
                                .or_default()
                                .push(position);
                        }
                    }
                    None => by_type.entry(node.type_name()).or_default().push(position),
                }
            }
            UnionIndex { by_name, by_type }
        });
        let writer = self.writer.node(w);
        let mut positions: Vec<usize> = match writer.named() {
            Some(named) => index
                .by_name
                .get(&named.name.name)
                .into_iter()
                .chain(
                    index
                        .by_name
                        .get(&format!("alias:{}", named.name.fullname())),
                )
                .flatten()
                .copied()
                .collect(),
            None => {
                let promotions: Vec<&'static str> = match writer {
                    Node::Primitive {
                        kind: Primitive::Int,
                        ..
                    } => vec!["INT", "LONG", "FLOAT", "DOUBLE"],
                    Node::Primitive {
                        kind: Primitive::Long,
                        ..
                    } => vec!["LONG", "FLOAT", "DOUBLE"],
                    Node::Primitive {
                        kind: Primitive::Float,
                        ..
                    } => vec!["FLOAT", "DOUBLE"],
                    Node::Primitive {
                        kind: Primitive::String,
                        ..
                    } => vec!["STRING", "BYTES"],
                    Node::Primitive {
                        kind: Primitive::Bytes,
                        ..
                    } => vec!["BYTES", "STRING"],
                    other => vec![other.type_name()],
                };
                promotions
                    .iter()
                    .filter_map(|name| index.by_type.get(name))
                    .flatten()
                    .copied()
                    .collect()
            }
        };
        positions.sort_unstable();
        positions.dedup();
        positions.into_iter().map(|p| branches[p]).collect()
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
                    self.budget.spend((rsyms.len() + wsyms.len()) as u64 / 64);
                    let known: HashSet<&String> = rsyms.iter().collect();
                    let missing: BTreeSet<&String> =
                        wsyms.iter().filter(|s| !known.contains(s)).collect();
                    let has_usable_default = rdefault.as_ref().is_some_and(|d| known.contains(d));
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
        if let Node::Union { .. } = reader {
            for branch in self.candidates(r, w) {
                if self.reads(branch, w, location) {
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
        let (reader, writer) = (self.reader, self.writer);
        let (
            Node::Record {
                fields: rfields, ..
            },
            Node::Record {
                fields: wfields, ..
            },
        ) = (reader.node(r), writer.node(w))
        else {
            return Vec::new();
        };
        let by_name = self.fields.entry(w).or_insert_with(|| {
            let mut by_name = HashMap::with_capacity(wfields.len());
            for (position, field) in wfields.iter().enumerate() {
                by_name.entry(field.name.as_str()).or_insert(position);
            }
            by_name
        });
        // By name, else by one of the reader field's aliases (as `Field::matching`).
        let matched: Vec<Option<&'a super::Field>> = rfields
            .iter()
            .map(|rfield| {
                by_name
                    .get(rfield.name.as_str())
                    .or_else(|| rfield.aliases.iter().find_map(|a| by_name.get(a.as_str())))
                    .map(|position| &wfields[*position])
            })
            .collect();
        let mut result = Vec::new();
        location.push("fields".into());
        for (index, rfield) in rfields.iter().enumerate() {
            location.push(index.to_string());
            match matched[index] {
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
    fn render(&self, found: &Found, fragments: &mut Fragments) -> Incompatibility {
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
        let reader_fragment = fragments
            .reader
            .entry(r)
            .or_insert_with(|| self.reader.fragment(r))
            .clone();
        let writer_fragment = fragments
            .writer
            .entry(w)
            .or_insert_with(|| self.writer.fragment(w))
            .clone();
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
        check(&schema(reader), &schema(writer), true, &Budget::unlimited())
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
        let found = check(&schema(added), &schema(R1), true, &Budget::unlimited());
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
        let found = check(&schema(added), &schema(R1), false, &Budget::unlimited());
        assert!(
            found[0].description.contains("in the old schema"),
            "{}",
            found[0].description
        );
    }
}
