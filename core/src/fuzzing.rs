//! The entry points the fuzz targets (`fuzz/`) drive, kept here so that every input a fuzzer
//! ever found is replayed as a unit test (`fuzz/regressions/<target>/`). Each must return
//! without panicking, whatever the bytes; errors are fine.

use crate::compat::{self, Budget};
use crate::schema::{ParseOptions, ParsedSchema, SchemaType};

/// The registry's defaults, so that fuzzing explores what a request can reach.
fn options() -> ParseOptions {
    ParseOptions {
        normalize: false,
        strict: true,
        max_elements: Some(50_000),
    }
}

/// Parses the bytes as a schema of `schema_type`, then its canonical and normalized texts.
pub fn parse(schema_type: SchemaType, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for normalize in [false, true] {
        let options = ParseOptions {
            normalize,
            ..options()
        };
        if let Ok(parsed) = ParsedSchema::parse(schema_type, text, &[], options) {
            let again = ParsedSchema::parse(schema_type, parsed.canonical(), &[], options);
            assert!(
                again.is_ok(),
                "the canonical text of a valid schema parses: {:?}",
                again.err()
            );
            for format in ["resolved", "serialized", "ignore_extensions"] {
                let _ = parsed.formatted(format);
            }
        }
    }
}

/// The first byte picks the format, the rest is two schemas split at the first NUL; both are
/// checked against each other in both directions, within a budget.
pub fn compat_pair(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let schema_type = match selector % 3 {
        0 => SchemaType::Avro,
        1 => SchemaType::Json,
        _ => SchemaType::Protobuf,
    };
    let Some(split) = rest.iter().position(|b| *b == 0) else {
        return;
    };
    let (Ok(old), Ok(new)) = (
        std::str::from_utf8(&rest[..split]),
        std::str::from_utf8(&rest[split + 1..]),
    ) else {
        return;
    };
    let (Ok(old), Ok(new)) = (
        ParsedSchema::parse(schema_type, old, &[], options()),
        ParsedSchema::parse(schema_type, new, &[], options()),
    ) else {
        return;
    };
    for policy in [crate::json::Policy::Strict, crate::json::Policy::Lenient] {
        let budget = Budget::new(1_000_000);
        for problem in compat::check_pair(&new, &old, true, true, policy, &budget) {
            let _ = problem.message();
        }
        // A schema is compatible with itself.
        let budget = Budget::new(1_000_000);
        let itself = compat::check_pair(&new, &new, true, true, policy, &budget);
        assert!(
            budget.is_exhausted() || itself.is_empty(),
            "a schema is compatible with itself: {itself:?}"
        );
    }
    let _ = crate::diff::diff(&old, &new);
}

/// The bytes as a wire-format payload: header, then Protobuf message indexes.
pub fn wire(data: &[u8]) {
    if let Ok((schema_ref, payload)) = crate::wire::read_header(data) {
        let _ = schema_ref.to_string();
        let _ = crate::wire::read_message_indexes(payload);
    }
    let _ = crate::wire::read_message_indexes(data);
}

/// The bytes as what a request carries: identifiers from the path, and a JSON body of the
/// registration, config and data-contract shapes.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::ids::QualifiedSubject::parse(text);
    let _ = crate::ids::ContextName::parse(text);
    let _ = text.parse::<crate::ids::VersionSpec>();
    let _ = text.parse::<crate::ids::CompatibilityLevel>();
    let _ = text.parse::<crate::ids::Mode>();
    let _ = text.parse::<crate::json::Policy>();
    let _ = serde_json::from_str::<crate::api::RegisterSchemaRequest>(text);
    let _ = serde_json::from_str::<crate::api::ConfigUpdateRequest>(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(metadata) = crate::contract::Metadata::from_json("metadata", &value) {
            // What is written is a normal form: it reads back to itself (empty texts, which
            // Confluent's `NON_EMPTY` serialization leaves out, are dropped on the first write).
            let written = metadata.to_json();
            let again = crate::contract::Metadata::from_json("metadata", &written)
                .expect("written metadata reads back");
            assert_eq!(
                again.to_json(),
                written,
                "metadata reads back its normal form"
            );
        }
        if let Ok(rules) = crate::contract::RuleSet::from_json("ruleSet", &value) {
            let _ = rules.validate();
            let written = rules.to_json();
            let again = crate::contract::RuleSet::from_json("ruleSet", &written)
                .expect("a written rule set reads back");
            assert_eq!(
                again.to_json(),
                written,
                "a rule set reads back its normal form"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input a fuzzer found (and every seed kept), replayed.
    #[test]
    fn replays_the_fuzz_regressions() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        /// A target's name and entry point.
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 6] = [
            ("parse_avro", |d| parse(SchemaType::Avro, d)),
            ("parse_json", |d| parse(SchemaType::Json, d)),
            ("parse_protobuf", |d| parse(SchemaType::Protobuf, d)),
            ("compat_pairs", compat_pair),
            ("wire", wire),
            ("request_params", request),
        ];
        let mut replayed = 0;
        for (target, run) in targets {
            let Ok(entries) = std::fs::read_dir(root.join(target)) else {
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("a regression input");
                run(&data);
                replayed += 1;
            }
        }
        assert!(
            replayed > 0,
            "the regression inputs are under fuzz/regressions"
        );
    }
}
