//! Compatibility-check cost for a 100-field schema in each format: the check of a new version
//! (one field added, compatible) against the previous one, next to the cost of parsing the same
//! schema text, measured in the same run as the baseline.
//!
//!     cargo bench -p covenant-core --bench compat

use covenant_core::compat::{check, PreviousVersion};
use covenant_core::ids::CompatibilityLevel;
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, ParsedSchema, SchemaType};
use criterion::{criterion_group, criterion_main, Criterion};

const FIELDS: usize = 100;

fn avro(fields: usize) -> String {
    let fields: Vec<String> = (0..fields)
        .map(|i| match i % 4 {
            0 => format!(r#"{{"name":"f{i}","type":"long","default":0}}"#),
            1 => format!(r#"{{"name":"f{i}","type":["null","string"],"default":null}}"#),
            2 => format!(r#"{{"name":"f{i}","type":{{"type":"array","items":"double"}},"default":[]}}"#),
            _ => format!(r#"{{"name":"f{i}","type":{{"type":"enum","name":"E{i}","symbols":["A","B","C"]}},"default":"A"}}"#),
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"Wide","namespace":"bench","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn json(fields: usize) -> String {
    let properties: Vec<String> = (0..fields)
        .map(|i| match i % 4 {
            0 => format!(r#""f{i}":{{"type":"integer","minimum":0}}"#),
            1 => format!(r#""f{i}":{{"type":["string","null"],"maxLength":64}}"#),
            2 => format!(r#""f{i}":{{"type":"array","items":{{"type":"number"}}}}"#),
            _ => format!(r#""f{i}":{{"enum":["A","B","C"]}}"#),
        })
        .collect();
    format!(
        r#"{{"type":"object","properties":{{{}}},"additionalProperties":false}}"#,
        properties.join(",")
    )
}

fn protobuf(fields: usize) -> String {
    let body: Vec<String> = (0..fields)
        .map(|i| match i % 4 {
            0 => format!("  int64 f{i} = {};", i + 1),
            1 => format!("  string f{i} = {};", i + 1),
            2 => format!("  repeated double f{i} = {};", i + 1),
            _ => format!("  Kind f{i} = {};", i + 1),
        })
        .collect();
    format!(
        "syntax = \"proto3\";\npackage bench;\nenum Kind {{ A = 0; B = 1; C = 2; }}\nmessage Wide {{\n{}\n}}\n",
        body.join("\n")
    )
}

fn parse(schema_type: SchemaType, text: &str) -> ParsedSchema {
    ParsedSchema::parse(schema_type, text, &[], ParseOptions::default()).expect("a valid schema")
}

fn bench(c: &mut Criterion) {
    let cases = [
        (SchemaType::Avro, avro(FIELDS), avro(FIELDS + 1)),
        (SchemaType::Json, json(FIELDS), json(FIELDS + 1)),
        (SchemaType::Protobuf, protobuf(FIELDS), protobuf(FIELDS + 1)),
    ];
    let mut group = c.benchmark_group("compat-100-fields");
    for (schema_type, old_text, new_text) in &cases {
        let (old, new) = (parse(*schema_type, old_text), parse(*schema_type, new_text));
        let previous = [PreviousVersion {
            version: covenant_core::ids::Version::FIRST,
            schema: &old,
        }];
        // Level FULL checks both directions.
        let problems = check(CompatibilityLevel::Full, &new, &previous, Policy::Strict);
        assert!(
            *schema_type == SchemaType::Json || problems.is_empty(),
            "{schema_type}: {problems:?}"
        );
        group.bench_function(format!("{schema_type} check FULL"), |b| {
            b.iter(|| check(CompatibilityLevel::Full, &new, &previous, Policy::Strict))
        });
        group.bench_function(format!("{schema_type} parse (baseline)"), |b| {
            b.iter(|| parse(*schema_type, new_text))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
