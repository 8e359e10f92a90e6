//! Protobuf compatibility: Confluent's rules over descriptors.
//!
//! `diff(original, update)` walks both files: messages and enums matched by name in each scope,
//! fields by tag, oneofs by name, with field types compared by kind (scalar, message, map), scalar
//! wire groups, labels, and message types followed into referenced files. Each finding is a
//! [`Difference`]; the compatible kinds are Confluent's `COMPATIBLE_CHANGES`. BACKWARD compares
//! (original = old, update = new), FORWARD the reverse.

use foldhash::{HashMap, HashMapExt};

use prost_reflect::{
    Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor, Syntax,
};

use super::ProtobufSchema;
use crate::compat::{Budget, Incompatibility, Wording};

/// A change between two Protobuf schemas, as Confluent's diff names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The kind (`FIELD_KIND_CHANGED`, ...).
    pub kind: &'static str,
    /// `#/Message/Nested/<tag>`.
    pub path: String,
    /// The original side's declaration at the path, when there is one.
    pub original: Option<String>,
    /// The updated side's declaration at the path, when there is one.
    pub update: Option<String>,
}

impl Difference {
    /// Whether the change keeps the schemas compatible.
    pub fn is_compatible(&self) -> bool {
        COMPATIBLE.contains(&self.kind)
    }
}

/// Confluent's `SchemaDiff.COMPATIBLE_CHANGES` (since PR #3004, a package change is incompatible).
const COMPATIBLE: &[&str] = &[
    "MESSAGE_ADDED",
    "MESSAGE_MOVED",
    "ENUM_ADDED",
    "ENUM_REMOVED",
    "ENUM_CONST_ADDED",
    "ENUM_CONST_CHANGED",
    "ENUM_CONST_REMOVED",
    "FIELD_ADDED",
    "FIELD_REMOVED",
    "FIELD_NAME_CHANGED",
    "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
    "ONEOF_ADDED",
    "ONEOF_REMOVED",
    "ONEOF_FIELD_ADDED",
];

/// The incompatibilities of `update` against `original`; `update_is_new` says which side is the candidate.
pub fn check(
    original: &ProtobufSchema,
    update: &ProtobufSchema,
    update_is_new: bool,
    budget: &Budget,
) -> Vec<Incompatibility> {
    let wording = Wording { describe, hint };
    let differences = differences(original, update, budget);
    if budget.is_exhausted() {
        return Vec::new();
    }
    differences
        .into_iter()
        .filter(|d| !d.is_compatible())
        .map(|d| {
            Incompatibility::from_difference(
                d.kind,
                d.path,
                (d.original, d.update),
                update_is_new,
                &wording,
            )
        })
        .collect()
}

/// Every difference between two schemas, compatible ones included, in a stable order.
pub fn diff(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<Difference> {
    differences(original, update, &Budget::unlimited())
}

fn differences(
    original: &ProtobufSchema,
    update: &ProtobufSchema,
    budget: &Budget,
) -> Vec<Difference> {
    let mut ctx = Context {
        path: Vec::new(),
        stack: Vec::new(),
        diffs: Vec::new(),
        budget,
    };
    let (original_file, update_file) = (original.file(), update.file());
    if original_file.package_name() != update_file.package_name() {
        ctx.add(
            "PACKAGE_CHANGED",
            Some(format!("package {};", original_file.package_name())),
            Some(format!("package {};", update_file.package_name())),
        );
    }
    let original_messages: Vec<MessageDescriptor> = original_file.messages().collect();
    let update_messages: Vec<MessageDescriptor> = update_file.messages().collect();
    let original_enums: Vec<EnumDescriptor> = original_file.enums().collect();
    let update_enums: Vec<EnumDescriptor> = update_file.enums().collect();
    ctx.compare_types(
        &original_messages,
        &original_enums,
        &update_messages,
        &update_enums,
    );
    ctx.diffs
}

struct Context<'b> {
    path: Vec<String>,
    /// Original-side messages being compared: the recursion guard.
    stack: Vec<String>,
    diffs: Vec<Difference>,
    budget: &'b Budget,
}

/// The kind of a field's type, as the diff classifies it.
#[derive(Clone)]
enum TypeKind {
    Scalar(ScalarGroup),
    Message(MessageDescriptor),
    Map(Box<TypeKind>, Box<TypeKind>),
}

/// Scalars that are interchangeable on the wire. Enums count as general numbers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ScalarGroup {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Optional,
    Required,
    Repeated,
}

impl Context<'_> {
    fn path(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    fn add(&mut self, kind: &'static str, original: Option<String>, update: Option<String>) {
        self.diffs.push(Difference {
            kind,
            path: self.path(),
            original,
            update,
        });
    }

    fn compare_types(
        &mut self,
        original_messages: &[MessageDescriptor],
        original_enums: &[EnumDescriptor],
        update_messages: &[MessageDescriptor],
        update_enums: &[EnumDescriptor],
    ) {
        let original_messages: Vec<&MessageDescriptor> = original_messages
            .iter()
            .filter(|m| !m.is_map_entry())
            .collect();
        let update_messages: Vec<&MessageDescriptor> = update_messages
            .iter()
            .filter(|m| !m.is_map_entry())
            .collect();
        let mut names: Vec<&str> = original_messages
            .iter()
            .chain(update_messages.iter())
            .map(|m| m.name())
            .collect();
        names.sort_unstable();
        names.dedup();
        let position = |messages: &[&MessageDescriptor]| -> HashMap<String, usize> {
            let mut map = HashMap::with_capacity(messages.len());
            for (index, message) in messages.iter().enumerate() {
                map.entry(message.name().to_string()).or_insert(index);
            }
            map
        };
        let (original_positions, update_positions) =
            (position(&original_messages), position(&update_messages));
        for name in names {
            if !self.budget.spend(1) {
                return;
            }
            self.path.push(name.to_string());
            let original = original_positions.get(name).copied();
            let update = update_positions.get(name).copied();
            match (original, update) {
                (Some(o), None) => self.add(
                    "MESSAGE_REMOVED",
                    Some(message_head(original_messages[o])),
                    None,
                ),
                (None, Some(u)) => self.add(
                    "MESSAGE_ADDED",
                    None,
                    Some(message_head(update_messages[u])),
                ),
                (Some(o), Some(u)) => {
                    self.compare_message(original_messages[o], update_messages[u]);
                    if o != u {
                        self.add("MESSAGE_MOVED", None, None);
                    }
                }
                (None, None) => {}
            }
            self.path.pop();
        }
        let mut names: Vec<&str> = original_enums
            .iter()
            .chain(update_enums.iter())
            .map(|e| e.name())
            .collect();
        names.sort_unstable();
        names.dedup();
        let by_name = |enums: &[EnumDescriptor]| -> HashMap<String, EnumDescriptor> {
            let mut map = HashMap::with_capacity(enums.len());
            for e in enums {
                map.entry(e.name().to_string()).or_insert_with(|| e.clone());
            }
            map
        };
        let (original_by_name, update_by_name) = (by_name(original_enums), by_name(update_enums));
        for name in names {
            if !self.budget.spend(1) {
                return;
            }
            self.path.push(name.to_string());
            let original = original_by_name.get(name);
            let update = update_by_name.get(name);
            match (original, update) {
                (Some(_), None) => self.add("ENUM_REMOVED", None, None),
                (None, Some(_)) => self.add("ENUM_ADDED", None, None),
                (Some(o), Some(u)) => self.compare_enum(o, u),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn compare_enum(&mut self, original: &EnumDescriptor, update: &EnumDescriptor) {
        // With aliases, the last constant of a number wins, as in Confluent's map.
        let by_number = |e: &EnumDescriptor| {
            let mut map = std::collections::BTreeMap::new();
            for value in e.values() {
                map.insert(value.number(), value.name().to_string());
            }
            map
        };
        let (original, update) = (by_number(original), by_number(update));
        let mut numbers: Vec<i32> = original.keys().chain(update.keys()).copied().collect();
        numbers.sort_unstable();
        numbers.dedup();
        for number in numbers {
            self.path.push(number.to_string());
            match (original.get(&number), update.get(&number)) {
                (Some(_), None) => self.add("ENUM_CONST_REMOVED", None, None),
                (None, Some(_)) => self.add("ENUM_CONST_ADDED", None, None),
                (Some(o), Some(u)) if o != u => self.add(
                    "ENUM_CONST_CHANGED",
                    Some(format!("{o} = {number};")),
                    Some(format!("{u} = {number};")),
                ),
                _ => {}
            }
            self.path.pop();
        }
    }

    fn compare_message(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        if !self.budget.spend(1) {
            return;
        }
        let guarded = self.stack.iter().any(|name| name == original.full_name());
        if !guarded {
            self.stack.push(original.full_name().to_string());
            self.compare_fields(original, update);
            self.stack.pop();
        }
        let original_nested: Vec<MessageDescriptor> = original.child_messages().collect();
        let update_nested: Vec<MessageDescriptor> = update.child_messages().collect();
        let original_enums: Vec<EnumDescriptor> = original.child_enums().collect();
        let update_enums: Vec<EnumDescriptor> = update.child_enums().collect();
        self.compare_types(
            &original_nested,
            &original_enums,
            &update_nested,
            &update_enums,
        );
    }

    fn compare_fields(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let original_top: Vec<FieldDescriptor> = top_level_fields(original);
        let update_top: Vec<FieldDescriptor> = top_level_fields(update);
        let original_oneofs: Vec<OneofDescriptor> = real_oneofs(original);
        let update_oneofs: Vec<OneofDescriptor> = real_oneofs(update);
        let original_all: Vec<FieldDescriptor> = compared_fields(original);
        let update_all: Vec<FieldDescriptor> = compared_fields(update);
        if !self
            .budget
            .spend((original_all.len() + update_all.len()) as u64 / 16 + 1)
        {
            return;
        }
        // Lookups by tag (the first of a tag, as a scan finds it).
        let by_tag = |fields: &[FieldDescriptor]| -> HashMap<u32, FieldDescriptor> {
            let mut map = HashMap::with_capacity(fields.len());
            for field in fields {
                map.entry(field.number()).or_insert_with(|| field.clone());
            }
            map
        };
        let oneof_by_tag = |oneofs: &[OneofDescriptor]| -> HashMap<u32, String> {
            let mut map = HashMap::new();
            for oneof in oneofs {
                for field in oneof.fields() {
                    map.entry(field.number())
                        .or_insert_with(|| oneof.name().to_string());
                }
            }
            map
        };
        let mut original_top_by_tag = by_tag(&original_top);
        let update_top_by_tag = by_tag(&update_top);
        let original_all_by_tag = by_tag(&original_all);
        let update_all_by_tag = by_tag(&update_all);
        let (original_oneof_of, update_oneof_of) =
            (oneof_by_tag(&original_oneofs), oneof_by_tag(&update_oneofs));

        // (A) Fields that moved into a oneof, per updated oneof.
        for oneof in &update_oneofs {
            self.path.push(oneof.name().to_string());
            let mut groups: Vec<String> = Vec::new();
            let mut moved_from_top_level = 0;
            for field in oneof.fields() {
                let was_top_level = original_top_by_tag.remove(&field.number()).is_some();
                let group = if let Some(name) = original_oneof_of.get(&field.number()) {
                    Some(format!("oneof:{name}"))
                } else if was_top_level || original_all_by_tag.contains_key(&field.number()) {
                    moved_from_top_level += 1;
                    Some(format!("field:{}", field.number()))
                } else {
                    None
                };
                if let Some(group) = group {
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
            if groups.len() > 1 {
                let kind = if moved_from_top_level > 1 {
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
                } else {
                    "FIELD_MOVED_TO_EXISTING_ONEOF"
                };
                self.add(kind, None, Some(oneof_text(oneof)));
            }
            self.path.pop();
        }

        // (B) Oneofs by name.
        let oneof_by_name = |oneofs: &[OneofDescriptor]| -> HashMap<String, OneofDescriptor> {
            let mut map = HashMap::new();
            for oneof in oneofs {
                map.entry(oneof.name().to_string())
                    .or_insert_with(|| oneof.clone());
            }
            map
        };
        let (original_oneof_named, update_oneof_named) = (
            oneof_by_name(&original_oneofs),
            oneof_by_name(&update_oneofs),
        );
        let mut names: Vec<&String> = original_oneof_named
            .keys()
            .chain(update_oneof_named.keys())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            self.path.push(name.clone());
            match (original_oneof_named.get(name), update_oneof_named.get(name)) {
                (Some(o), None) => self.add("ONEOF_REMOVED", Some(oneof_text(o)), None),
                (None, Some(u)) => self.add("ONEOF_ADDED", None, Some(oneof_text(u))),
                (Some(o), Some(u)) => self.compare_oneof(o, u, &update_all_by_tag),
                (None, None) => {}
            }
            self.path.pop();
        }

        // (C) Top-level fields by tag (the original's, less those that moved into a oneof).
        let mut tags: Vec<u32> = original_top_by_tag
            .keys()
            .chain(update_top_by_tag.keys())
            .copied()
            .collect();
        tags.sort_unstable();
        tags.dedup();
        for tag in tags {
            self.path.push(tag.to_string());
            match (original_top_by_tag.get(&tag), update_top_by_tag.get(&tag)) {
                (Some(o), None) => {
                    let kind = if label(o) == Some(Label::Required) {
                        "REQUIRED_FIELD_REMOVED"
                    } else {
                        "FIELD_REMOVED"
                    };
                    self.add(kind, Some(field_text(o)), None);
                }
                (None, Some(u)) => {
                    let kind = if label(u) == Some(Label::Required) {
                        "REQUIRED_FIELD_ADDED"
                    } else {
                        "FIELD_ADDED"
                    };
                    self.add(kind, None, Some(field_text(u)));
                }
                (Some(o), Some(u)) => self.compare_field(o, u),
                (None, None) => {}
            }
            self.path.pop();
        }

        // (D) Fields whose oneof membership changed, compared by tag.
        let mut tags: Vec<u32> = original_all
            .iter()
            .map(FieldDescriptor::number)
            .filter(|tag| update_all_by_tag.contains_key(tag))
            .collect();
        tags.sort_unstable();
        for tag in tags {
            let original_oneof = original_oneof_of.get(&tag);
            let update_oneof = update_oneof_of.get(&tag);
            if original_oneof.is_none() && update_oneof.is_none() {
                continue;
            }
            if original_oneof.is_some() && original_oneof == update_oneof {
                continue;
            }
            let (Some(o), Some(u)) = (original_all_by_tag.get(&tag), update_all_by_tag.get(&tag))
            else {
                continue;
            };
            self.path.push(tag.to_string());
            self.compare_field(o, u);
            self.path.pop();
        }
    }

    fn compare_oneof(
        &mut self,
        original: &OneofDescriptor,
        update: &OneofDescriptor,
        update_all: &HashMap<u32, FieldDescriptor>,
    ) {
        let members = |oneof: &OneofDescriptor| -> HashMap<u32, FieldDescriptor> {
            let mut map = HashMap::new();
            for field in oneof.fields() {
                map.entry(field.number()).or_insert(field);
            }
            map
        };
        let (original_members, update_members) = (members(original), members(update));
        let mut tags: Vec<u32> = original_members
            .keys()
            .chain(update_members.keys())
            .copied()
            .collect();
        tags.sort_unstable();
        tags.dedup();
        for tag in tags {
            self.path.push(tag.to_string());
            let o = original_members.get(&tag).cloned();
            let u = update_members.get(&tag).cloned();
            match (o, u) {
                (Some(o), None) => {
                    // A member that moved elsewhere in the message is no loss.
                    if !update_all.contains_key(&tag) {
                        self.add("ONEOF_FIELD_REMOVED", Some(field_text(&o)), None);
                    }
                }
                (None, Some(u)) => self.add("ONEOF_FIELD_ADDED", None, Some(field_text(&u))),
                (Some(o), Some(u)) => self.compare_field(&o, &u),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn compare_field(&mut self, original: &FieldDescriptor, update: &FieldDescriptor) {
        if original.name() != update.name() {
            self.add(
                "FIELD_NAME_CHANGED",
                Some(field_text(original)),
                Some(field_text(update)),
            );
        }
        let before = self.diffs.len();
        self.compare_labels_and_types(
            label(original),
            label(update),
            &type_kind(original),
            &type_kind(update),
        );
        // Fragments for the type findings are the two declarations.
        for diff in &mut self.diffs[before..] {
            if diff.original.is_none() && diff.update.is_none() {
                diff.original = Some(field_text(original));
                diff.update = Some(field_text(update));
            }
        }
    }

    fn compare_labels_and_types(
        &mut self,
        original_label: Option<Label>,
        update_label: Option<Label>,
        original: &TypeKind,
        update: &TypeKind,
    ) {
        match (original, update) {
            (TypeKind::Scalar(a), TypeKind::Scalar(b)) => {
                if a != b {
                    self.add("FIELD_SCALAR_KIND_CHANGED", None, None);
                } else if let (Some(a_label), Some(b_label)) = (original_label, update_label) {
                    if a_label != b_label {
                        let kind = if *a == ScalarGroup::StringOrBytes {
                            "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
                        } else {
                            "FIELD_NUMERIC_LABEL_CHANGED"
                        };
                        self.add(kind, None, None);
                    }
                }
            }
            (TypeKind::Message(a), TypeKind::Message(b)) => self.compare_message_types(a, b),
            (TypeKind::Map(ak, av), TypeKind::Map(bk, bv)) => {
                self.compare_labels_and_types(None, None, ak, bk);
                self.compare_labels_and_types(None, None, av, bv);
            }
            _ => self.add("FIELD_KIND_CHANGED", None, None),
        }
    }

    fn compare_message_types(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let (original_local, update_local) = (local_name(original), local_name(update));
        if original_local != update_local {
            self.add("FIELD_NAMED_TYPE_CHANGED", None, None);
            return;
        }
        // Types of the schema's own file are compared by the structural walk.
        if is_root(original) && is_root(update) {
            return;
        }
        // Types from references and built-in files are compared here, with paths restarting at the type.
        let mut sub = Context {
            path: original_local.split('.').map(str::to_string).collect(),
            stack: self.stack.clone(),
            diffs: Vec::new(),
            budget: self.budget,
        };
        sub.compare_message(original, update);
        let incompatible = sub.diffs.iter().any(|d| !d.is_compatible());
        self.diffs.extend(sub.diffs);
        if incompatible {
            self.add("FIELD_NAMED_TYPE_CHANGED", None, None);
        }
    }
}

/// Fields outside real oneofs (proto3 `optional` fields included); groups are not compared.
fn top_level_fields(message: &MessageDescriptor) -> Vec<FieldDescriptor> {
    message
        .fields()
        .filter(|f| !is_group(f))
        .filter(|f| f.containing_oneof().is_none_or(|o| o.is_synthetic()))
        .collect()
}

/// Every compared field (groups excluded).
fn compared_fields(message: &MessageDescriptor) -> Vec<FieldDescriptor> {
    message.fields().filter(|f| !is_group(f)).collect()
}

fn real_oneofs(message: &MessageDescriptor) -> Vec<OneofDescriptor> {
    message
        .oneofs()
        .filter(|o| !o.is_synthetic() && o.fields().len() > 0)
        .collect()
}

fn is_group(field: &FieldDescriptor) -> bool {
    field.is_group()
}

fn is_root(message: &MessageDescriptor) -> bool {
    message.parent_file().name() == super::MAIN_FILE
        || message.parent_file().name() == format!("{}.main", super::MAIN_FILE)
}

/// The full name without the defining file's package: packages are not compared for field types.
fn local_name(message: &MessageDescriptor) -> String {
    let package = message.package_name();
    let full = message.full_name();
    if package.is_empty() {
        full.to_string()
    } else {
        full.strip_prefix(&format!("{package}."))
            .unwrap_or(full)
            .to_string()
    }
}

/// The label as Confluent reads it: none in a oneof or for a proto3 field without one.
fn label(field: &FieldDescriptor) -> Option<Label> {
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
        return None;
    }
    let proto3 = field.parent_file().syntax() == Syntax::Proto3;
    match field.cardinality() {
        Cardinality::Repeated => Some(Label::Repeated),
        Cardinality::Required => Some(Label::Required),
        Cardinality::Optional if !proto3 => Some(Label::Optional),
        Cardinality::Optional if field.field_descriptor_proto().proto3_optional() => {
            Some(Label::Optional)
        }
        Cardinality::Optional => None,
    }
}

fn type_kind(field: &FieldDescriptor) -> TypeKind {
    if field.is_map() {
        if let Kind::Message(entry) = field.kind() {
            return TypeKind::Map(
                Box::new(kind_of(&entry.map_entry_key_field().kind())),
                Box::new(kind_of(&entry.map_entry_value_field().kind())),
            );
        }
    }
    kind_of(&field.kind())
}

fn kind_of(kind: &Kind) -> TypeKind {
    TypeKind::Scalar(match kind {
        Kind::Message(message) => return TypeKind::Message(message.clone()),
        Kind::Enum(_) | Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool => {
            ScalarGroup::GeneralNumber
        }
        Kind::Sint32 | Kind::Sint64 => ScalarGroup::SignedNumber,
        Kind::String | Kind::Bytes => ScalarGroup::StringOrBytes,
        Kind::Fixed32 | Kind::Sfixed32 => ScalarGroup::Fixed32,
        Kind::Fixed64 | Kind::Sfixed64 => ScalarGroup::Fixed64,
        Kind::Float => ScalarGroup::Float,
        Kind::Double => ScalarGroup::Double,
    })
}

fn field_text(field: &FieldDescriptor) -> String {
    let type_name = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => format!(
                "map<{}, {}>",
                kind_name(&entry.map_entry_key_field().kind()),
                kind_name(&entry.map_entry_value_field().kind())
            ),
            other => kind_name(&other),
        }
    } else {
        kind_name(&field.kind())
    };
    let label = match label(field) {
        Some(Label::Repeated) if !field.is_map() => "repeated ",
        Some(Label::Required) => "required ",
        Some(Label::Optional) => "optional ",
        _ => "",
    };
    format!("{label}{type_name} {} = {};", field.name(), field.number())
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
    }
}

fn message_head(message: &MessageDescriptor) -> String {
    let fields: Vec<String> = message.fields().map(|f| field_text(&f)).collect();
    let text = format!("message {} {{ {} }}", message.name(), fields.join(" "));
    crate::shorten(text)
}

fn oneof_text(oneof: &OneofDescriptor) -> String {
    let fields: Vec<String> = oneof.fields().map(|f| field_text(&f)).collect();
    crate::shorten(format!("oneof {} {{ {} }}", oneof.name(), fields.join(" ")))
}

/// Confluent's description of an incompatible difference, with the sides named.
fn describe(kind: &str, path: &str, update_side: &str, original_side: &str) -> String {
    match kind {
        "PACKAGE_CHANGED" => format!("The package at '{path}' in the {update_side} schema does not match the package in the {original_side} schema"),
        "MESSAGE_REMOVED" => format!("The {update_side} schema is missing a MESSAGE type at path '{path}' in the {original_side} schema"),
        "FIELD_KIND_CHANGED" => format!("The type of a field at path '{path}' in the {update_side} schema does not match the {original_side} schema"),
        "FIELD_SCALAR_KIND_CHANGED" => format!("The kind of a SCALAR field at path '{path}' in the {update_side} schema does not match its kind in the {original_side} schema"),
        "FIELD_NAMED_TYPE_CHANGED" => format!("The type of a MESSAGE field at path '{path}' in the {update_side} schema does not match its type in the {original_side} schema"),
        "FIELD_NUMERIC_LABEL_CHANGED" => format!("The label for a NUMERIC field at path '{path}' in the {update_side} schema does not match its label in the {original_side} schema"),
        "REQUIRED_FIELD_ADDED" => format!("A required field at path '{path}' in the {update_side} schema is missing in the {original_side} schema"),
        "REQUIRED_FIELD_REMOVED" => format!("The {update_side} schema is missing a required field at path '{path}' in the {original_side} schema"),
        "ONEOF_FIELD_REMOVED" => format!("The {update_side} schema is missing a oneof field at path '{path}' in the {original_side} schema"),
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF" => format!("Multiple fields in the oneof at path '{path}' in the {update_side} schema are outside a oneof in the {original_side} schema"),
        "FIELD_MOVED_TO_EXISTING_ONEOF" => format!("A field in the oneof at path '{path}' in the {update_side} schema is outside an existing oneof in the {original_side} schema"),
        other => format!("{other} at path '{path}'"),
    }
}

fn hint(kind: &str) -> Option<String> {
    Some(
        match kind {
            "PACKAGE_CHANGED" => "keep the package: fully qualified type names (Any, gRPC services, JSON) change with it",
            "MESSAGE_REMOVED" => "keep the message: readers of the old schema resolve it by name and index",
            "FIELD_KIND_CHANGED" => "scalars, messages and maps do not read each other; add a new field with a new number instead",
            "FIELD_SCALAR_KIND_CHANGED" => "only int32/int64/uint32/uint64/bool/enum, sint32/sint64, string/bytes, fixed32/sfixed32 and fixed64/sfixed64 read each other; use a new field number",
            "FIELD_NAMED_TYPE_CHANGED" => "keep the field's message type, or make the change to that type compatible; use a new field number for a new type",
            "FIELD_NUMERIC_LABEL_CHANGED" => "a numeric field cannot change between optional and repeated; use a new field number",
            "REQUIRED_FIELD_ADDED" => "add the field as optional: data written without it cannot satisfy required",
            "REQUIRED_FIELD_REMOVED" => "keep the required field: readers of the old schema reject data without it",
            "ONEOF_FIELD_REMOVED" => "keep the oneof member (reserve its number if it is no longer written)",
            "MULTIPLE_FIELDS_MOVED_TO_ONEOF" => "moving several existing fields into one oneof loses data when more than one is set; add new fields instead",
            "FIELD_MOVED_TO_EXISTING_ONEOF" => "moving an existing field into an existing oneof loses data when both are set; add a new field instead",
            _ => return None,
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ResolvedReference;

    fn schema(text: &str) -> ProtobufSchema {
        ProtobufSchema::parse(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The differences of `compare(original, update)` as `KIND path` strings, sorted.
    fn changes(original: &str, update: &str) -> Vec<String> {
        let mut found: Vec<String> = diff(&schema(original), &schema(update))
            .into_iter()
            .map(|d| format!("{} {}", d.kind, d.path))
            .collect();
        found.sort();
        found
    }

    fn proto3(body: &str) -> String {
        format!("syntax = \"proto3\";\n{body}")
    }

    #[test]
    fn rule_families() {
        let table: &[(&str, &str, &[&str])] = &[
            // package
            (
                "package foo; message M { string s = 1; }",
                "package bar; message M { string s = 1; }",
                &["PACKAGE_CHANGED #/"],
            ),
            // fields by tag
            (
                "message M { string s = 1; }",
                "message M { string s = 2; }",
                &["FIELD_ADDED #/M/2", "FIELD_REMOVED #/M/1"],
            ),
            (
                "message M { int32 a = 2; }",
                "message M { string b = 2; }",
                &[
                    "FIELD_NAME_CHANGED #/M/2",
                    "FIELD_SCALAR_KIND_CHANGED #/M/2",
                ],
            ),
            (
                "message M { int32 a = 1; }",
                "message M { int64 a = 1; }",
                &[],
            ),
            (
                "message M { int32 a = 1; }",
                "message M { bool a = 1; }",
                &[],
            ),
            (
                "message M { sint32 a = 1; }",
                "message M { int32 a = 1; }",
                &["FIELD_SCALAR_KIND_CHANGED #/M/1"],
            ),
            (
                "message M { fixed32 a = 1; }",
                "message M { sfixed32 a = 1; }",
                &[],
            ),
            (
                "message M { string a = 1; }",
                "message M { bytes a = 1; }",
                &[],
            ),
            (
                "message M { float a = 1; }",
                "message M { double a = 1; }",
                &["FIELD_SCALAR_KIND_CHANGED #/M/1"],
            ),
            (
                "enum E { A = 0; } message M { int32 a = 1; }",
                "enum E { A = 0; } message M { E a = 1; }",
                &[],
            ),
            (
                "message N { } message M { int32 a = 1; }",
                "message N { } message M { N a = 1; }",
                &["FIELD_KIND_CHANGED #/M/1"],
            ),
            (
                "message M { map<string, int32> m = 1; }",
                "message M { map<string, string> m = 1; }",
                &["FIELD_SCALAR_KIND_CHANGED #/M/1"],
            ),
            // labels: only when both sides have one
            (
                "message M { optional int32 a = 1; }",
                "message M { repeated int32 a = 1; }",
                &["FIELD_NUMERIC_LABEL_CHANGED #/M/1"],
            ),
            (
                "message M { optional string a = 1; }",
                "message M { repeated string a = 1; }",
                &["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"],
            ),
            (
                "message M { int32 a = 1; }",
                "message M { repeated int32 a = 1; }",
                &[],
            ),
            // messages
            (
                "message A { } message B { }",
                "message B { } message A { }",
                &["MESSAGE_MOVED #/A", "MESSAGE_MOVED #/B"],
            ),
            (
                "message A { } message B { }",
                "message A { }",
                &["MESSAGE_REMOVED #/B"],
            ),
            (
                "message T2 { string s = 1; } message M { T2 f = 2; }",
                "message T3 { string s = 1; } message M { T3 f = 2; }",
                &[
                    "FIELD_NAMED_TYPE_CHANGED #/M/2",
                    "MESSAGE_ADDED #/T3",
                    "MESSAGE_REMOVED #/T2",
                ],
            ),
            // oneofs
            (
                "message M { string a = 1; string b = 2; }",
                "message M { oneof o { string a = 1; string b = 2; string c = 3; } }",
                &["MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/o", "ONEOF_ADDED #/M/o"],
            ),
            (
                "message M { string a = 1; string b = 2; }",
                "message M { string a = 1; oneof o { string b = 2; string c = 3; } }",
                &["ONEOF_ADDED #/M/o"],
            ),
            (
                "message M { string a = 1; oneof o { string b = 2; string c = 3; } }",
                "message M { oneof o { string a = 1; string b = 2; string c = 3; } }",
                &[
                    "FIELD_MOVED_TO_EXISTING_ONEOF #/M/o",
                    "ONEOF_FIELD_ADDED #/M/o/1",
                ],
            ),
            (
                "message M { oneof o { string b = 2; string c = 3; } }",
                "message M { oneof o { string b = 2; } }",
                &["ONEOF_FIELD_REMOVED #/M/o/3"],
            ),
            (
                "message M { oneof o { string b = 2; string c = 3; } }",
                "message M { string c = 3; oneof o { string b = 2; } }",
                &["FIELD_ADDED #/M/3"],
            ),
            // enums
            (
                "enum E { A = 0; B = 1; }",
                "enum E { A = 0; C = 1; D = 2; }",
                &["ENUM_CONST_ADDED #/E/2", "ENUM_CONST_CHANGED #/E/1"],
            ),
            (
                "enum E { A = 0; }",
                "enum F { A = 0; }",
                &["ENUM_ADDED #/F", "ENUM_REMOVED #/E"],
            ),
        ];
        for (original, update, expected) in table {
            let found = changes(&proto3(original), &proto3(update));
            let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            expected.sort();
            assert_eq!(found, expected, "{original}  =>  {update}");
        }
    }

    #[test]
    fn required_fields_in_proto2() {
        let original = "syntax = \"proto2\"; message M { optional string a = 1; }";
        let update =
            "syntax = \"proto2\"; message M { optional string a = 1; required string b = 2; }";
        assert_eq!(
            changes(original, update),
            vec!["REQUIRED_FIELD_ADDED #/M/2"]
        );
        assert_eq!(
            changes(update, original),
            vec!["REQUIRED_FIELD_REMOVED #/M/2"]
        );
    }

    #[test]
    fn changes_in_referenced_files_are_caught() {
        let v1 = "syntax = \"proto3\";\npackage geo;\nmessage Home { int32 id = 1; }";
        let v2 = "syntax = \"proto3\";\npackage geo;\nmessage Home { string id = 1; }";
        let main = "syntax = \"proto3\";\nimport \"geo.proto\";\nmessage M { geo.Home home = 1; }";
        let with = |dependency: &str| {
            ProtobufSchema::parse(
                main,
                &[ResolvedReference {
                    name: "geo.proto",
                    schema: dependency,
                }],
            )
            .expect("compiles")
        };
        let mut found: Vec<String> = diff(&with(v1), &with(v2))
            .into_iter()
            .map(|d| format!("{} {}", d.kind, d.path))
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                "FIELD_NAMED_TYPE_CHANGED #/M/1",
                "FIELD_SCALAR_KIND_CHANGED #/Home/1"
            ]
        );
        assert!(diff(&with(v1), &with(v1)).is_empty());
    }

    #[test]
    fn recursive_messages_terminate() {
        let text = proto3("message Node { Node next = 1; int32 v = 2; }");
        assert!(diff(&schema(&text), &schema(&text)).is_empty());
        let changed = proto3("message Node { Node next = 1; string v = 2; }");
        assert_eq!(
            changes(&text, &changed),
            vec!["FIELD_SCALAR_KIND_CHANGED #/Node/2"]
        );
    }

    #[test]
    fn incompatibilities_name_sides_and_fragments() {
        let old = schema(&proto3("message M { int32 a = 1; }"));
        let new = schema(&proto3("message M { string a = 1; }"));
        let found = check(&old, &new, true, &Budget::unlimited());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "FIELD_SCALAR_KIND_CHANGED");
        assert_eq!(found[0].path, "#/M/1");
        assert_eq!(found[0].old_fragment.as_deref(), Some("int32 a = 1;"));
        assert_eq!(found[0].new_fragment.as_deref(), Some("string a = 1;"));
        assert!(
            found[0].description.contains("in the new schema"),
            "{}",
            found[0].description
        );
    }
}
