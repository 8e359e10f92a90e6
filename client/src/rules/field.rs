//! What field rules (CEL_FIELD, ENCRYPT) see of a field: its names, its type, its tags and its
//! value as a scalar; and which fields a rule selects.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

/// A field's type, as Confluent's executors name it (`typeName` in CEL_FIELD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A record (Avro), an object with properties (JSON Schema), a message (Protobuf).
    Record,
    /// An enum (or a JSON Schema `enum`/`const`).
    Enum,
    /// An array.
    Array,
    /// A map (or a JSON object without properties).
    Map,
    /// A union or combination.
    Combined,
    /// An Avro fixed.
    Fixed,
    /// A string.
    String,
    /// Bytes.
    Bytes,
    /// A 32-bit integer (and every JSON Schema `integer`).
    Int,
    /// A 64-bit integer.
    Long,
    /// A 32-bit float.
    Float,
    /// A 64-bit float (and every JSON Schema `number`).
    Double,
    /// A boolean.
    Boolean,
    /// Null.
    Null,
}

impl FieldType {
    /// The name Confluent's executors bind as `typeName`.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Record => "RECORD",
            FieldType::Enum => "ENUM",
            FieldType::Array => "ARRAY",
            FieldType::Map => "MAP",
            FieldType::Combined => "COMBINED",
            FieldType::Fixed => "FIXED",
            FieldType::String => "STRING",
            FieldType::Bytes => "BYTES",
            FieldType::Int => "INT",
            FieldType::Long => "LONG",
            FieldType::Float => "FLOAT",
            FieldType::Double => "DOUBLE",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Null => "NULL",
        }
    }

    /// Whether CEL_FIELD evaluates fields of this type (Confluent's `is_primitive`).
    pub fn is_primitive(self) -> bool {
        matches!(
            self,
            FieldType::Int
                | FieldType::Long
                | FieldType::Float
                | FieldType::Double
                | FieldType::Boolean
                | FieldType::Null
                | FieldType::String
                | FieldType::Bytes
        )
    }
}

/// A field's value as field rules read and write it.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (Protobuf `uint32`/`uint64`/`fixed*`).
    Uint(u64),
    /// A float.
    Float(f64),
    /// Text (also an enum's symbol).
    String(String),
    /// Bytes (also an Avro fixed).
    Bytes(Vec<u8>),
}

impl Scalar {
    /// What kind of scalar it is, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) => "an integer",
            Scalar::Uint(_) => "an unsigned integer",
            Scalar::Float(_) => "a float",
            Scalar::String(_) => "a string",
            Scalar::Bytes(_) => "bytes",
        }
    }
}

/// A field being visited.
pub struct Field<'a> {
    /// The name the schema's metadata tags are matched against: `<record full name>.<field>`
    /// (Avro), `$.<path>` (JSON Schema), the field's full name (Protobuf).
    pub full_name: &'a str,
    /// The field's own name.
    pub name: &'a str,
    /// Its type (for a union, array or map, the type of the value reached).
    pub field_type: FieldType,
    /// The tags written in the schema on the field.
    pub inline_tags: &'a [String],
}

/// Tags by field name pattern (`metadata.tags`), compiled once per schema.
#[derive(Default)]
pub struct TagPatterns {
    patterns: Vec<(Regex, Vec<String>)>,
}

impl TagPatterns {
    /// Compiles the patterns of a schema's metadata.
    pub fn new(tags: &BTreeMap<String, BTreeSet<String>>) -> TagPatterns {
        TagPatterns {
            patterns: tags
                .iter()
                .filter_map(|(pattern, tags)| {
                    Some((wildcard(pattern)?, tags.iter().cloned().collect()))
                })
                .collect(),
        }
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The tags of a field: its inline tags and those of every pattern its full name matches.
    pub fn tags_of(&self, field: &Field<'_>) -> BTreeSet<String> {
        let mut tags: BTreeSet<String> = field.inline_tags.iter().cloned().collect();
        for (pattern, extra) in &self.patterns {
            if pattern.is_match(field.full_name) {
                tags.extend(extra.iter().cloned());
            }
        }
        tags
    }

    /// Whether a rule with `rule_tags` selects the field: an untagged rule selects every
    /// field, a tagged one the fields sharing a tag with it.
    pub fn selects(&self, rule_tags: &BTreeSet<String>, field: &Field<'_>) -> bool {
        if rule_tags.is_empty() {
            return true;
        }
        if field.inline_tags.iter().any(|tag| rule_tags.contains(tag)) {
            return true;
        }
        self.patterns.iter().any(|(pattern, tags)| {
            tags.iter().any(|tag| rule_tags.contains(tag)) && pattern.is_match(field.full_name)
        })
    }
}

/// Confluent's wildcard patterns as an anchored regex: `**` any run of characters, `*` a run
/// without `.`, `?` one character other than `.`; everything else literal.
pub fn wildcard(pattern: &str) -> Option<Regex> {
    let pattern = pattern.replace("**.*", "**");
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push('^');
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^.]*"),
            '?' => out.push_str("[^.]"),
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0u8; 4]))),
        }
    }
    out.push('$');
    Regex::new(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(text: &str, pattern: &str) -> bool {
        wildcard(pattern).expect("pattern").is_match(text)
    }

    #[test]
    fn wildcards_match_as_confluents_clients_do() {
        // The cases of Confluent's wildcard matcher tests.
        assert!(!matches("alice.bob.eve", "a*"));
        assert!(matches("alice.bob.eve", "a**"));
        assert!(!matches("alice.bob.eve", "alice.bob*"));
        assert!(matches("alice.bob.eve", "alice.bob**"));
        assert!(matches("", "*"));
        assert!(!matches("", "?"));
        assert!(matches("acme.User.ssn", "**.ssn"));
        assert!(matches("acme.User.ssn", "acme.User.*"));
        assert!(!matches("acme.User.address.zip", "acme.User.*"));
        assert!(matches("a+b", "a+b"), "regex characters are literal");
        assert!(!matches("aab", "a+b"));
    }

    #[test]
    fn rules_select_fields_by_inline_or_pattern_tags() {
        let mut tags = BTreeMap::new();
        tags.insert("**.ssn".to_string(), BTreeSet::from(["PII".to_string()]));
        let patterns = TagPatterns::new(&tags);
        let inline = vec!["GDPR".to_string()];
        let ssn = Field {
            full_name: "acme.User.ssn",
            name: "ssn",
            field_type: FieldType::String,
            inline_tags: &[],
        };
        let email = Field {
            full_name: "acme.User.email",
            name: "email",
            field_type: FieldType::String,
            inline_tags: &inline,
        };
        let pii = BTreeSet::from(["PII".to_string()]);
        assert!(patterns.selects(&pii, &ssn));
        assert!(!patterns.selects(&pii, &email));
        assert!(patterns.selects(&BTreeSet::from(["GDPR".to_string()]), &email));
        assert!(
            patterns.selects(&BTreeSet::new(), &email),
            "untagged rules select all"
        );
        assert_eq!(
            patterns.tags_of(&ssn).into_iter().collect::<Vec<_>>(),
            ["PII"]
        );
    }
}
