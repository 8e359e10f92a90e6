//! Protobuf schemas: compiled in memory with `protox` (imports resolved from references, the
//! well-known types built in), accepted as `.proto` text or as a base64 `FileDescriptorProto`,
//! printed back in a canonical text form (see [`print`]), and checked for compatibility (see
//! `compat`).

mod compat;
mod print;

use foldhash::{HashMap, HashMapExt};

use base64::Engine;
use prost::Message;
use prost_reflect::{DescriptorPool, FileDescriptor, MessageDescriptor};
use prost_types::FileDescriptorProto;
use protox::file::{File, FileResolver, GoogleFileResolver};

pub use compat::{check as check_compatibility, diff, Difference};

use crate::error::{Error, Result};
use crate::schema::ResolvedReference;

/// The name the schema being parsed gets among its imports.
const MAIN_FILE: &str = "schema.proto";
/// How deeply braces may nest in `.proto` text.
const MAX_NESTING: usize = 64;

/// Files every schema may import without registering them.
const BUILTIN: &[(&str, &str)] = &[
    (
        "confluent/meta.proto",
        include_str!("builtin/confluent/meta.proto"),
    ),
    (
        "confluent/type/decimal.proto",
        include_str!("builtin/confluent/type/decimal.proto"),
    ),
    (
        "google/type/date.proto",
        include_str!("builtin/google/type/date.proto"),
    ),
    (
        "google/type/dayofweek.proto",
        include_str!("builtin/google/type/dayofweek.proto"),
    ),
    (
        "google/type/decimal.proto",
        include_str!("builtin/google/type/decimal.proto"),
    ),
    (
        "google/type/latlng.proto",
        include_str!("builtin/google/type/latlng.proto"),
    ),
    (
        "google/type/money.proto",
        include_str!("builtin/google/type/money.proto"),
    ),
    (
        "google/type/month.proto",
        include_str!("builtin/google/type/month.proto"),
    ),
    (
        "google/type/timeofday.proto",
        include_str!("builtin/google/type/timeofday.proto"),
    ),
];

/// The canonical text of any compiled file (a client registering its own descriptors).
pub fn print_descriptor(file: &FileDescriptor) -> String {
    print::print_file(file, print::PrintOptions::default())
}

/// The message-index path of a message in its file, as the wire format carries it: the index
/// among top-level messages, then among each parent's nested messages. Map-entry types are
/// not counted, as Confluent's Java serdes do not count them, so the path does not depend on
/// where a map field sits among nested declarations.
pub fn message_indexes(message: &MessageDescriptor) -> Vec<i32> {
    let mut path = Vec::new();
    let mut current = message.clone();
    loop {
        let siblings: Vec<MessageDescriptor> = match current.parent_message() {
            Some(parent) => parent.child_messages().collect(),
            None => current.parent_file().messages().collect(),
        };
        let index = siblings
            .iter()
            .filter(|m| !m.is_map_entry())
            .position(|m| m.full_name() == current.full_name())
            .unwrap_or(0);
        path.push(index as i32);
        match current.parent_message() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    path.reverse();
    path
}

/// The message a message-index path names in a file.
pub fn message_at(file: &FileDescriptor, indexes: &[i32]) -> Option<MessageDescriptor> {
    let mut candidates: Vec<MessageDescriptor> =
        file.messages().filter(|m| !m.is_map_entry()).collect();
    let mut found = None;
    for index in indexes {
        let message = candidates.get(usize::try_from(*index).ok()?)?.clone();
        candidates = message
            .child_messages()
            .filter(|m| !m.is_map_entry())
            .collect();
        found = Some(message);
    }
    found
}

/// Whether an import path is built in (a well-known type), so never a registered reference.
pub fn is_builtin(name: &str) -> bool {
    name.starts_with("google/protobuf/") || BUILTIN.iter().any(|(builtin, _)| *builtin == name)
}

/// A compiled Protobuf schema.
#[derive(Clone, Debug)]
pub struct ProtobufSchema {
    file: FileDescriptor,
}

impl ProtobufSchema {
    /// Compiles `text` (`.proto` source or base64 `FileDescriptorProto`) with its references
    /// (import path → text), dependencies first.
    /// References to the built-in files (`google/protobuf/*.proto`, ...) are skipped: those are
    /// always the built-in copies, whatever a client lists.
    pub fn parse(text: &str, references: &[ResolvedReference<'_>]) -> Result<ProtobufSchema> {
        let mut files = HashMap::new();
        for reference in references.iter().filter(|r| !is_builtin(r.name)) {
            let file = source_file(reference.name, reference.schema).map_err(|e| {
                Error::InvalidSchema(format!("reference `{}`: {}", reference.name, message(&e)))
            })?;
            files.insert(reference.name.to_string(), file);
        }
        let main = if files.contains_key(MAIN_FILE) {
            format!("{MAIN_FILE}.main")
        } else {
            MAIN_FILE.to_string()
        };
        files.insert(main.clone(), source_file(&main, text)?);
        let resolver = Resolver { files };
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(false);
        compiler
            .open_file(&main)
            .map_err(|e| Error::InvalidSchema(compile_error(&e)))?;
        let pool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(&main)
            .ok_or_else(|| Error::InvalidSchema("the schema did not compile to a file".into()))?;
        Ok(ProtobufSchema { file })
    }

    /// The compiled file.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    /// The pool holding the file and everything it imports.
    pub fn pool(&self) -> &DescriptorPool {
        self.file.parent_pool()
    }

    /// The canonical `.proto` text.
    pub fn canonical(&self) -> String {
        print_descriptor(&self.file)
    }

    /// The normalized text: imports, options and declarations sorted.
    pub fn normalized(&self) -> String {
        print::print_file(
            &self.file,
            print::PrintOptions {
                normalized: true,
                ignore_extensions: false,
            },
        )
    }

    /// The canonical text without custom options and extensions (`format=ignore_extensions`).
    pub fn without_extensions(&self) -> String {
        print::print_file(
            &self.file,
            print::PrintOptions {
                normalized: false,
                ignore_extensions: true,
            },
        )
    }

    /// The base64 `FileDescriptorProto` (`format=serialized`), custom options included (the
    /// file is compiled without source information). Encoded from the descriptor, not from
    /// prost-types' `FileDescriptorProto`, whose option messages drop extensions such as
    /// `(confluent.field_meta)`, the field tags Confluent's clients read.
    pub fn serialized(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.file.encode_to_vec())
    }

    /// The import paths of the file's direct dependencies.
    pub fn imports(&self) -> Vec<String> {
        self.file.file_descriptor_proto().dependency.clone()
    }

    /// Top-level messages, in declaration order.
    pub fn messages(&self) -> impl Iterator<Item = MessageDescriptor> + '_ {
        self.file.messages()
    }
}

/// Reads one file: `.proto` text, or failing that a base64 `FileDescriptorProto`.
fn source_file(name: &str, text: &str) -> Result<File> {
    if let Some(depth) = nesting_exceeds(text) {
        return Err(Error::InvalidSchema(format!(
            "{name}: declarations nest {depth} levels deep; the limit is {MAX_NESTING}"
        )));
    }
    match File::from_source(name, text) {
        Ok(file) => Ok(file),
        Err(parse_error) => match descriptor_bytes(text) {
            Some(mut bytes) if FileDescriptorProto::decode(bytes.as_slice()).is_ok() => {
                // Renamed by appending field 1 (`name`): the last value of a field wins. Decoded
                // from the bytes, not through prost-types, so custom options (the field tags
                // in `(confluent.field_meta)`) are kept.
                let mut field = Vec::with_capacity(name.len() + 6);
                field.push(0x0a);
                prost::encoding::encode_varint(name.len() as u64, &mut field);
                field.extend_from_slice(name.as_bytes());
                bytes.extend_from_slice(&field);
                File::decode_file_descriptor_proto(bytes.as_slice())
                    .map_err(|e| Error::InvalidSchema(format!("{name}: {e}")))
            }
            _ => Err(Error::InvalidSchema(compile_error(&parse_error))),
        },
    }
}

/// The declarations of a base64 `FileDescriptorProto` (messages, fields, enums, values,
/// oneofs), 0 when the text is not one.
pub(crate) fn descriptor_entries(text: &str) -> usize {
    fn messages(list: &[prost_types::DescriptorProto]) -> usize {
        list.iter()
            .map(|m| {
                1 + m.field.len()
                    + m.oneof_decl.len()
                    + m.enum_type.iter().map(|e| 1 + e.value.len()).sum::<usize>()
                    + messages(&m.nested_type)
            })
            .sum()
    }
    decode_descriptor(text).map_or(0, |file| {
        messages(&file.message_type)
            + file
                .enum_type
                .iter()
                .map(|e| 1 + e.value.len())
                .sum::<usize>()
    })
}

fn decode_descriptor(text: &str) -> Option<FileDescriptorProto> {
    FileDescriptorProto::decode(descriptor_bytes(text)?.as_slice()).ok()
}

/// The bytes of a base64 `FileDescriptorProto` (standard or URL-safe alphabet).
fn descriptor_bytes(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.contains(|c: char| c.is_whitespace() || c == '{' || c == ';') {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(trimmed))
        .ok()
}

/// The nesting depth if it exceeds the limit, counting braces outside strings and comments.
fn nesting_exceeds(text: &str) -> Option<usize> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some(next) = chars.next() {
                    if next == '\\' {
                        chars.next();
                    } else if next == c || next == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for next in chars.by_ref() {
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            '{' | '[' | '(' | '<' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' | ']' | ')' | '>' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (deepest > MAX_NESTING).then_some(deepest)
}

fn compile_error(error: &protox::Error) -> String {
    // protox's Display names the file, line and column of a parse or type error.
    let text = error.to_string();
    text.replace(&format!("{MAIN_FILE}:"), "")
        .trim()
        .to_string()
}

fn message(error: &Error) -> String {
    match error {
        Error::InvalidSchema(message) => message.clone(),
        other => other.to_string(),
    }
}

struct Resolver {
    files: HashMap<String, File>,
}

impl FileResolver for Resolver {
    fn open_file(&self, name: &str) -> std::result::Result<File, protox::Error> {
        if let Some(file) = self.files.get(name) {
            return Ok(file.clone());
        }
        if let Some((_, source)) = BUILTIN.iter().find(|(builtin, _)| *builtin == name) {
            return File::from_source(name, source);
        }
        GoogleFileResolver::new().open_file(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ProtobufSchema {
        ProtobufSchema::parse(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Printing and compiling again gives the same descriptor.
    fn round_trips(text: &str) {
        let schema = parse(text);
        let printed = schema.canonical();
        let again = parse(&printed);
        let a = comparable(schema.file().file_descriptor_proto());
        let b = comparable(again.file().file_descriptor_proto());
        assert_eq!(a, b, "printed:\n{printed}");
        assert_eq!(again.canonical(), printed, "printing is a fixed point");
    }

    /// A descriptor without source info, with map-entry types (whose position among nested
    /// types follows the map field, not a declaration) moved last.
    fn comparable(proto: &FileDescriptorProto) -> FileDescriptorProto {
        fn sort_entries(message: &mut prost_types::DescriptorProto) {
            message
                .nested_type
                .sort_by_key(|n| n.options.as_ref().is_some_and(|o| o.map_entry()));
            message.nested_type.iter_mut().for_each(sort_entries);
        }
        let mut proto = proto.clone();
        proto.source_code_info = None;
        proto.message_type.iter_mut().for_each(sort_entries);
        proto
    }

    #[test]
    fn canonical_text_round_trips() {
        round_trips(
            "syntax = \"proto3\";\npackage a.b;\nmessage M { string name = 1; int64 id = 2; }",
        );
        round_trips(
            r#"syntax = "proto3";
            package shop;
            import "google/protobuf/timestamp.proto";
            option java_package = "com.shop";
            option java_multiple_files = true;
            message Order {
              option deprecated = true;
              reserved 5, 8 to 10, 20 to max;
              reserved "legacy";
              enum Status { option allow_alias = true; UNKNOWN = 0; NEW = 1; FRESH = 1 [deprecated = true]; reserved 7; }
              message Line { string sku = 1; uint32 quantity = 2 [json_name = "qty"]; }
              string id = 1;
              repeated Line lines = 2 [packed = false];
              map<string, int64> totals = 3;
              oneof payment { string card = 4; string iban = 6; }
              optional string note = 7;
              google.protobuf.Timestamp created = 11;
              Status status = 12;
            }
            service Shop {
              rpc Place(Order) returns (Order);
              rpc Watch(stream Order) returns (stream Order) { option deprecated = true; }
            }"#,
        );
        round_trips(
            r#"syntax = "proto2";
            package legacy;
            message Old {
              required int32 a = 1 [default = 7];
              optional string b = 2 [default = "x\"y"];
              optional bytes c = 3 [default = "\001\377"];
              repeated group Item = 4 { optional int32 v = 5; }
              extensions 100 to 199;
            }
            extend Old { optional int32 extra = 100; }"#,
        );
        round_trips(
            r#"syntax = "proto3";
            import "google/protobuf/descriptor.proto";
            import "confluent/meta.proto";
            extend google.protobuf.FieldOptions { string label = 50001; }
            message M {
              string a = 1 [(label) = "x", (confluent.field_meta) = { doc: "d" params: { key: "k" value: "v" } }];
            }"#,
        );
    }

    #[test]
    fn comments_and_layout_do_not_change_the_canonical_text() {
        let a = parse("syntax = \"proto3\";\n// a comment\nmessage M {\n  string name = 1; /* trailing */\n}\n");
        let b = parse("syntax=\"proto3\";message M{string name=1;}");
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn a_serialized_descriptor_prints_like_its_text() {
        let text = parse("syntax = \"proto3\";\npackage p;\nmessage M { string name = 1; repeated int32 ids = 2; }");
        let from_descriptor = parse(&text.serialized());
        assert_eq!(from_descriptor.canonical(), text.canonical());
    }

    #[test]
    fn a_serialized_descriptor_keeps_custom_options() {
        // Confluent's clients read field tags from the serialized descriptor's options: a
        // serialization through prost-types' `FieldOptions` dropped them.
        let text = parse(
            "syntax = \"proto3\";\npackage p;\nimport \"confluent/meta.proto\";\nmessage M {\n  string ssn = 1 [(confluent.field_meta).tags = \"PII\"];\n}\n",
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.serialized())
            .expect("base64");
        assert!(
            bytes.windows(3).any(|w| w == b"PII"),
            "the tag is in the descriptor"
        );
        let from_descriptor = parse(&text.serialized());
        assert_eq!(from_descriptor.canonical(), text.canonical());
        assert!(from_descriptor
            .canonical()
            .contains("(confluent.field_meta)"));
    }

    #[test]
    fn invalid_files_are_located() {
        let error = ProtobufSchema::parse(
            "syntax = \"proto3\";\nmessage Broken {\n  string name = 1;\n",
            &[],
        )
        .expect_err("unterminated");
        assert!(error.to_string().contains("expected"), "{error}");
        let error =
            ProtobufSchema::parse("syntax = \"proto3\";\nmessage M { Missing m = 1; }", &[])
                .expect_err("unknown type");
        assert!(error.to_string().contains("Missing"), "{error}");
        let error = ProtobufSchema::parse("syntax = \"proto3\";\nmessage M { int32 a = 0; }", &[])
            .expect_err("field number 0");
        assert!(!error.to_string().is_empty());
        let deep = format!(
            "syntax = \"proto3\";{}{}",
            "message M {".repeat(100),
            "}".repeat(100)
        );
        let error = ProtobufSchema::parse(&deep, &[]).expect_err("too deep");
        assert!(error.to_string().contains("nest"), "{error}");
    }

    #[test]
    fn message_indexes_skip_map_entries_and_round_trip() {
        let schema = parse(
            "syntax = \"proto3\";\nmessage A { map<string, int32> m = 1; message B { message C {} } message D {} }\nmessage E {}",
        );
        let pool = schema.pool();
        for (name, expected) in [
            ("A", vec![0]),
            ("A.B", vec![0, 0]),
            ("A.B.C", vec![0, 0, 0]),
            ("A.D", vec![0, 1]),
            ("E", vec![1]),
        ] {
            let message = pool.get_message_by_name(name).expect("message");
            assert_eq!(message_indexes(&message), expected, "{name}");
            assert_eq!(
                message_at(schema.file(), &expected).map(|m| m.full_name().to_string()),
                Some(name.to_string())
            );
        }
        assert!(message_at(schema.file(), &[7]).is_none());
    }

    #[test]
    fn imports_resolve_from_references_and_builtins() {
        let address = "syntax = \"proto3\";\npackage geo;\nmessage Address { string street = 1; }";
        let person = "syntax = \"proto3\";\nimport \"geo/address.proto\";\nimport \"google/type/date.proto\";\nmessage Person { geo.Address home = 1; google.type.Date born = 2; }";
        let references = [ResolvedReference {
            name: "geo/address.proto",
            schema: address,
        }];
        let schema = ProtobufSchema::parse(person, &references).expect("compiles");
        assert_eq!(
            schema.imports(),
            vec!["geo/address.proto", "google/type/date.proto"]
        );
        let error = ProtobufSchema::parse(person, &[]).expect_err("missing import");
        assert!(error.to_string().contains("geo/address.proto"), "{error}");
        assert!(is_builtin("google/protobuf/timestamp.proto"));
        assert!(is_builtin("confluent/meta.proto"));
        assert!(!is_builtin("geo/address.proto"));
    }
}
