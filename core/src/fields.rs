//! The fields a schema declares, by name, with the path that reaches each and the tags it
//! carries: what the console's field search indexes and what its schema page marks.
//!
//! Read from the text alone (no references resolved, nothing compiled), so that indexing every
//! stored schema costs a JSON parse (Avro, JSON Schema) or a token scan (Protobuf) each:
//! - Avro: every record's `fields`, found through field types, unions, `items` and `values`;
//!   the path is the JSON pointer of the field object (`/fields/2/type/1/fields/0`).
//! - JSON Schema: every member of `properties` (and `patternProperties` is not a name), found
//!   through `properties`, `items`/`prefixItems`, `additionalProperties`, `definitions`/`$defs`
//!   and `allOf`/`anyOf`/`oneOf`/`not`/`if`/`then`/`else`; the path is the pointer of the
//!   property's schema (`/properties/customer/properties/id`).
//! - Protobuf: every field of every message, nested ones and `oneof` members included, map
//!   fields too; the path is `#/Outer/Inner/<tag>` (what [`crate::locate`] finds).
//!
//! Tags are `confluent:tags` of an Avro field or a JSON Schema property, and the `tags` of a
//! Protobuf field's `(confluent.field_meta)` option.

use serde_json::Value;

use crate::schema::SchemaType;

/// A field a schema declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name as written.
    pub name: String,
    /// The path that reaches it (a JSON pointer, or `#/Message/<tag>` for Protobuf).
    pub path: String,
    /// The tags it carries.
    pub tags: Vec<String>,
}

/// How deep nested declarations are followed (texts are bounded, this bounds the recursion).
const MAX_DEPTH: usize = 64;
/// Fields listed at most for one text.
pub const MAX_FIELDS: usize = 10_000;
/// Bytes of names and paths listed at most for one text: a path repeats its ancestors' names,
/// so a deep text of long names would otherwise list far more than its own size.
pub const MAX_BYTES: usize = 4 << 20;

/// The fields found so far, within [`MAX_FIELDS`] and [`MAX_BYTES`].
struct Found {
    fields: Vec<Field>,
    bytes: usize,
}

impl Found {
    fn full(&self) -> bool {
        self.fields.len() >= MAX_FIELDS || self.bytes >= MAX_BYTES
    }

    fn push(&mut self, field: Field) {
        if self.full() {
            return;
        }
        self.bytes += field.name.len() + field.path.len();
        self.fields.push(field);
    }
}

/// Every field `text` declares, in document order, up to [`MAX_FIELDS`] (and [`MAX_BYTES`] of
/// names and paths); nothing for a text that does not read as its format.
pub fn fields(schema_type: SchemaType, text: &str) -> Vec<Field> {
    let mut out = Found {
        fields: Vec::new(),
        bytes: 0,
    };
    match schema_type {
        SchemaType::Avro => {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                avro(&value, "", 0, &mut out);
            }
        }
        SchemaType::Json => {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                json(&value, "", 0, &mut out);
            }
        }
        SchemaType::Protobuf => protobuf(text, &mut out),
    }
    out.fields
}

/// Escapes a member name as a JSON-pointer segment.
fn segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn string_tags(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn avro(value: &Value, path: &str, depth: usize, out: &mut Found) {
    if depth > MAX_DEPTH || out.full() {
        return;
    }
    match value {
        Value::Array(branches) => {
            for (index, branch) in branches.iter().enumerate() {
                avro(branch, &format!("{path}/{index}"), depth + 1, out);
            }
        }
        Value::Object(object) => match object.get("type") {
            Some(Value::String(kind)) if kind == "record" || kind == "error" => {
                let Some(Value::Array(fields)) = object.get("fields") else {
                    return;
                };
                for (index, field) in fields.iter().enumerate() {
                    let field_path = format!("{path}/fields/{index}");
                    if let Some(name) = field.get("name").and_then(Value::as_str) {
                        out.push(Field {
                            name: name.to_string(),
                            path: field_path.clone(),
                            tags: string_tags(field.get("confluent:tags")),
                        });
                    }
                    if let Some(kind) = field.get("type") {
                        avro(kind, &format!("{field_path}/type"), depth + 1, out);
                    }
                }
            }
            Some(Value::String(kind)) if kind == "array" => {
                if let Some(items) = object.get("items") {
                    avro(items, &format!("{path}/items"), depth + 1, out);
                }
            }
            Some(Value::String(kind)) if kind == "map" => {
                if let Some(values) = object.get("values") {
                    avro(values, &format!("{path}/values"), depth + 1, out);
                }
            }
            // `{"type": {"type": "record", ...}}`: a schema wrapped once more.
            Some(inner @ (Value::Object(_) | Value::Array(_))) => {
                avro(inner, &format!("{path}/type"), depth + 1, out);
            }
            _ => {}
        },
        _ => {}
    }
}

fn json(value: &Value, path: &str, depth: usize, out: &mut Found) {
    if depth > MAX_DEPTH || out.full() {
        return;
    }
    let Value::Object(object) = value else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get("properties") {
        for (name, property) in properties {
            let property_path = format!("{path}/properties/{}", segment(name));
            out.push(Field {
                name: name.clone(),
                path: property_path.clone(),
                tags: string_tags(property.get("confluent:tags")),
            });
            json(property, &property_path, depth + 1, out);
        }
    }
    for key in ["items", "additionalProperties", "not", "if", "then", "else"] {
        match object.get(key) {
            Some(child @ Value::Object(_)) => {
                json(child, &format!("{path}/{key}"), depth + 1, out);
            }
            Some(Value::Array(children)) if key == "items" => {
                for (index, child) in children.iter().enumerate() {
                    json(child, &format!("{path}/{key}/{index}"), depth + 1, out);
                }
            }
            _ => {}
        }
    }
    for key in ["prefixItems", "allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = object.get(key) {
            for (index, child) in children.iter().enumerate() {
                json(child, &format!("{path}/{key}/{index}"), depth + 1, out);
            }
        }
    }
    for key in ["definitions", "$defs"] {
        if let Some(Value::Object(definitions)) = object.get(key) {
            for (name, child) in definitions {
                json(
                    child,
                    &format!("{path}/{key}/{}", segment(name)),
                    depth + 1,
                    out,
                );
            }
        }
    }
}

/// A token of `.proto` text (comments dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Text(String),
    Symbol(char),
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            i += 2;
            while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
        } else if b == b'"' || b == b'\'' {
            let quote = b;
            i += 1;
            let mut value = String::new();
            let start = i;
            while i < bytes.len() && bytes[i] != quote {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if let Some(raw) = text.get(start..i.min(bytes.len())) {
                value.push_str(raw);
            }
            out.push(Token::Text(value));
            i += 1;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push(Token::Word(&text[start..i]));
        } else {
            // One character, whole (the text is UTF-8: step over a multi-byte one).
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(Token::Symbol(c));
            i += c.len_utf8();
        }
    }
    out
}

/// What a `{` opened.
enum Block {
    Message(String),
    Oneof,
    Other,
}

fn protobuf(text: &str, out: &mut Found) {
    let tokens = tokens(text);
    let mut blocks: Vec<Block> = Vec::new();
    let mut statement: Vec<&Token<'_>> = Vec::new();
    // Braces of an option's aggregate value (`= { tags: "PII" }`): part of the statement.
    let mut value_depth = 0usize;
    let path = |blocks: &[Block]| {
        let mut path = String::from("#");
        for block in blocks {
            if let Block::Message(name) = block {
                path.push('/');
                path.push_str(name);
            }
        }
        path
    };
    let in_message = |blocks: &[Block]| {
        matches!(
            blocks.iter().rev().find(|b| !matches!(b, Block::Oneof)),
            Some(Block::Message(_))
        )
    };
    for token in &tokens {
        if value_depth > 0 {
            match token {
                Token::Symbol('{') => value_depth += 1,
                Token::Symbol('}') => value_depth -= 1,
                _ => {}
            }
            keep(&mut statement, token);
            continue;
        }
        // An aggregate value: after `=` in a field's `[...]` options, or in an `option`.
        let aggregate = |statement: &[&Token<'_>]| {
            let open = statement
                .iter()
                .filter(|t| matches!(t, Token::Symbol('[')))
                .count();
            let closed = statement
                .iter()
                .filter(|t| matches!(t, Token::Symbol(']')))
                .count();
            (open > closed || matches!(statement.first(), Some(Token::Word("option"))))
                && statement.iter().any(|t| matches!(t, Token::Symbol('=')))
        };
        match token {
            Token::Symbol('{') if aggregate(&statement) => {
                value_depth = 1;
                keep(&mut statement, token);
            }
            Token::Symbol('{') => {
                if blocks.len() >= MAX_DEPTH || out.full() {
                    return;
                }
                // A proto2 group is a field and a message of its own.
                let group = statement
                    .iter()
                    .position(|t| matches!(t, Token::Word("group")));
                if let (Some(at), true) = (group, in_message(&blocks)) {
                    if let Some(field) = proto_field(&statement, &path(&blocks)) {
                        out.push(field);
                    }
                    if let Some(Token::Word(name)) = statement.get(at + 1) {
                        blocks.push(Block::Message((*name).to_string()));
                        statement.clear();
                        continue;
                    }
                }
                blocks.push(match statement.as_slice() {
                    [Token::Word("message"), Token::Word(name), ..] => {
                        Block::Message((*name).to_string())
                    }
                    [Token::Word("oneof"), ..] if in_message(&blocks) => Block::Oneof,
                    _ => Block::Other,
                });
                statement.clear();
            }
            Token::Symbol('}') => {
                blocks.pop();
                statement.clear();
            }
            Token::Symbol(';') => {
                if in_message(&blocks) {
                    if let Some(field) = proto_field(&statement, &path(&blocks)) {
                        out.push(field);
                    }
                }
                statement.clear();
            }
            _ => keep(&mut statement, token),
        }
    }
}

/// Tokens of one statement kept at most: a declaration's name and number come first, and the
/// checks made on each `{` and `;` then cost a bounded amount.
const MAX_STATEMENT: usize = 256;

fn keep<'t>(statement: &mut Vec<&'t Token<'t>>, token: &'t Token<'t>) {
    if statement.len() < MAX_STATEMENT {
        statement.push(token);
    }
}

/// A field number as `.proto` writes it: decimal, `0x` hexadecimal or `0` octal.
fn parse_tag(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else if text.chars().all(|c| c.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// A field declaration (`[label] type name = tag [options]`), if the statement is one.
fn proto_field(statement: &[&Token<'_>], path: &str) -> Option<Field> {
    let first = match statement.first()? {
        Token::Word(word) => *word,
        _ => return None,
    };
    if matches!(
        first,
        "option" | "reserved" | "extensions" | "import" | "package" | "syntax" | "edition"
    ) {
        return None;
    }
    let equals = statement
        .iter()
        .position(|t| matches!(t, Token::Symbol('=')))?;
    let name = match statement.get(equals.checked_sub(1)?)? {
        Token::Word(name) => *name,
        _ => return None,
    };
    let tag = match statement.get(equals + 1)? {
        Token::Word(tag) => parse_tag(tag)?,
        _ => return None,
    };
    // `(confluent.field_meta).tags = "PII"` or `(confluent.field_meta) = { tags: "PII" }`.
    let mut tags = Vec::new();
    let mut after_tags = false;
    let mut in_meta = false;
    for token in &statement[equals + 2..] {
        match token {
            Token::Word(word) if word.ends_with("field_meta") => in_meta = true,
            Token::Word(word) if in_meta && (*word == "tags" || *word == ".tags") => {
                after_tags = true
            }
            Token::Text(value) if after_tags => tags.push(value.clone()),
            Token::Symbol('=' | ':' | '[' | ',' | ')' | '(') => {}
            Token::Symbol(']') => after_tags = false,
            _ => after_tags = false,
        }
    }
    Some(Field {
        name: name.to_string(),
        path: format!("{path}/{tag}"),
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::locate;

    fn names(found: &[Field]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|f| (f.name.as_str(), f.path.as_str()))
            .collect()
    }

    #[test]
    fn avro_fields_through_unions_arrays_and_maps() {
        let text = r#"{"type":"record","name":"Order","fields":[
            {"name":"customer_id","type":"string","confluent:tags":["PII"]},
            {"name":"address","type":["null",{"type":"record","name":"Address","fields":[{"name":"street","type":"string"}]}]},
            {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"}]}}},
            {"name":"extra","type":{"type":"map","values":{"type":"record","name":"Extra","fields":[{"name":"k","type":"int"}]}}}
        ]}"#;
        let found = fields(SchemaType::Avro, text);
        assert_eq!(
            names(&found),
            [
                ("customer_id", "/fields/0"),
                ("address", "/fields/1"),
                ("street", "/fields/1/type/1/fields/0"),
                ("lines", "/fields/2"),
                ("sku", "/fields/2/type/items/fields/0"),
                ("extra", "/fields/3"),
                ("k", "/fields/3/type/values/fields/0"),
            ]
        );
        assert_eq!(found[0].tags, ["PII"]);
        assert!(found[1].tags.is_empty());
        // Every path points at a line of the text.
        for field in &found {
            assert!(
                locate(text, SchemaType::Avro, &field.path).is_some(),
                "{field:?}"
            );
        }
        assert!(fields(SchemaType::Avro, "not json").is_empty());
        assert!(fields(SchemaType::Avro, "\"string\"").is_empty());
    }

    #[test]
    fn json_schema_properties_everywhere() {
        let text = r##"{"type":"object","properties":{
            "customer_id":{"type":"string","confluent:tags":["PII","GDPR"]},
            "a/b":{"type":"object","properties":{"inner":{"type":"integer"}}},
            "list":{"type":"array","items":{"type":"object","properties":{"sku":{}}}}
          },
          "$defs":{"Money":{"type":"object","properties":{"amount":{"type":"number"}}}},
          "oneOf":[{"properties":{"choice":{}}}]}"##;
        let found = fields(SchemaType::Json, text);
        assert_eq!(
            names(&found),
            [
                ("customer_id", "/properties/customer_id"),
                ("a/b", "/properties/a~1b"),
                ("inner", "/properties/a~1b/properties/inner"),
                ("list", "/properties/list"),
                ("sku", "/properties/list/items/properties/sku"),
                ("choice", "/oneOf/0/properties/choice"),
                ("amount", "/$defs/Money/properties/amount"),
            ]
        );
        assert_eq!(found[0].tags, ["PII", "GDPR"]);
    }

    #[test]
    fn protobuf_fields_of_nested_messages_oneofs_and_maps() {
        let text = r#"syntax = "proto3";
package shop;
import "confluent/meta.proto";
// message Commented { string no = 1; }
message Order {
  option (confluent.message_meta) = { doc: "x; y" };
  string customer_id = 1 [(confluent.field_meta).tags = "PII"];
  map<string, int64> counts = 2;
  oneof pick {
    string code = 3;
    int32 number = 4 [(confluent.field_meta) = { tags: "PII", tags: "GDPR" }];
  }
  message Line {
    repeated string sku = 1; /* string gone = 9; */
  }
  enum Kind { KIND_UNSPECIFIED = 0; BIG = 1; }
  reserved 7, 8;
  Line line = 5;
}
service S { rpc Get(Order) returns (Order); }
"#;
        let found = fields(SchemaType::Protobuf, text);
        assert_eq!(
            names(&found),
            [
                ("customer_id", "#/Order/1"),
                ("counts", "#/Order/2"),
                ("code", "#/Order/3"),
                ("number", "#/Order/4"),
                ("sku", "#/Order/Line/1"),
                ("line", "#/Order/5"),
            ]
        );
        assert_eq!(found[0].tags, ["PII"]);
        assert_eq!(found[3].tags, ["PII", "GDPR"]);
        assert_eq!(locate(text, SchemaType::Protobuf, &found[0].path), Some(7));
        assert_eq!(locate(text, SchemaType::Protobuf, &found[4].path), Some(14));
    }

    #[test]
    fn protobuf_groups_and_field_numbers_in_other_bases() {
        let text = "syntax = \"proto2\";\nmessage M {\n  optional group G = 1 {\n    required string url = 2;\n  }\n  optional int32 x = 0x10;\n  optional int32 y = 010;\n  optional int32 z = 3 [default = 1];\n}\n";
        let found = fields(SchemaType::Protobuf, text);
        assert_eq!(
            names(&found),
            [
                ("G", "#/M/1"),
                ("url", "#/M/G/2"),
                ("x", "#/M/16"),
                ("y", "#/M/8"),
                ("z", "#/M/3"),
            ]
        );
    }

    #[test]
    fn deep_texts_of_long_names_are_listed_within_a_budget() {
        // Nested properties with long names, then many leaves: each leaf's path repeats every
        // ancestor's name.
        let name = "n".repeat(8_000);
        let mut text = String::new();
        for _ in 0..50 {
            text.push_str(&format!("{{\"properties\":{{\"{name}\":"));
        }
        text.push_str("{\"properties\":{");
        let leaves: Vec<String> = (0..20_000).map(|i| format!("\"l{i}\":{{}}")).collect();
        text.push_str(&leaves.join(","));
        text.push_str("}}");
        for _ in 0..50 {
            text.push_str("}}");
        }
        let found = fields(SchemaType::Json, &text);
        let bytes: usize = found.iter().map(|f| f.name.len() + f.path.len()).sum();
        assert!(found.len() <= MAX_FIELDS);
        assert!(bytes <= MAX_BYTES + 2 * text.len(), "{bytes}");
        assert!(!found.is_empty());
    }

    #[test]
    fn hostile_text_neither_panics_nor_recurses_without_bound() {
        let deep = "[".repeat(10_000);
        assert!(fields(SchemaType::Avro, &deep).is_empty());
        let nested = "message A { ".repeat(1_000);
        assert!(fields(SchemaType::Protobuf, &nested).is_empty());
        // A statement of a million aggregate braces is read in linear time.
        let braces = format!(
            "message M {{ int32 x = 1 [(o) = {}]; }}",
            "{} ".repeat(500_000)
        );
        assert_eq!(fields(SchemaType::Protobuf, &braces).len(), 1);
        for text in [
            "\"",
            "message",
            "{ = ; }",
            "message M { int32 = 1; }",
            "é = 1;",
            "'",
        ] {
            let _ = fields(SchemaType::Protobuf, text);
        }
        let mut avro = String::new();
        for _ in 0..200 {
            avro.push_str(r#"{"type":"record","name":"R","fields":[{"name":"f","type":"#);
        }
        avro.push_str("\"int\"");
        for _ in 0..200 {
            avro.push_str("}]}");
        }
        // serde_json refuses nesting past 128; whatever it reads is bounded by MAX_DEPTH.
        assert!(fields(SchemaType::Avro, &avro).len() <= MAX_DEPTH);
    }
}
