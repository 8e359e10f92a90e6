//! Per-event cost of data-contract rules in the client's serializer, on a 20-field Avro record,
//! all in one run against the real registry (the `covenant` binary this package builds, on a
//! temporary store; after the first event every lookup and key is cached, so no HTTP is timed):
//!
//! - no rules (the baseline),
//! - one CEL condition on the message,
//! - one CEL_FIELD transform over the three fields tagged PII,
//! - ENCRYPT of the three tagged fields (AES-256-GCM, local KMS).
//!
//!     cargo bench -p covenant-cli --bench rules
//!
//! Target: the CEL condition costs at most 2x plain serialization.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use apache_avro::types::Value;
use covenant_client::api::RegisterSchemaRequest;
use covenant_client::rules::RuleConfig;
use covenant_client::serde::avro::AvroSerializer;
use covenant_client::{Client, SerializerConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

const BATCH: usize = 1000;

fn schema_text() -> String {
    let fields: Vec<String> = (0..20)
        .map(|i| {
            let kind = ["long", "string", "double", "boolean", "int"][i % 5];
            // f1, f6 and f11 (strings) are PII.
            let tags = if matches!(i, 1 | 6 | 11) {
                r#","confluent:tags":["PII"]"#
            } else {
                ""
            };
            format!(r#"{{"name":"f{i}","type":"{kind}"{tags}}}"#)
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"Event","namespace":"bench","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn value(n: usize) -> Value {
    Value::Record(
        (0..20)
            .map(|i| {
                let field = match i % 5 {
                    0 => Value::Long(n as i64 * 31 + i as i64),
                    1 => Value::String(format!("value-{n}-{i}")),
                    2 => Value::Double(n as f64 * 0.5),
                    3 => Value::Boolean(n.is_multiple_of(2)),
                    _ => Value::Int(i),
                };
                (format!("f{i}"), field)
            })
            .collect(),
    )
}

struct Registry {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Registry {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_covenant"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("file://{}", dir.path().join("data").display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("covenant starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .expect("listening")
        .to_string();
    Registry {
        child,
        url,
        _dir: dir,
    }
}

fn bench(c: &mut Criterion) {
    let registry = start();
    let text = schema_text();
    let values: Vec<Value> = (0..BATCH).map(value).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(&registry.url).expect("client");
    let cases = [
        ("no rules (baseline)", json!(null)),
        (
            "one CEL condition",
            json!({"domainRules": [{"name": "nonNegative", "kind": "CONDITION", "mode": "WRITE",
                "type": "CEL", "expr": "message.f0 >= 0"}]}),
        ),
        (
            "CEL_FIELD transform of 3 tagged fields",
            json!({"domainRules": [{"name": "mark", "kind": "TRANSFORM", "mode": "WRITE",
                "type": "CEL_FIELD", "tags": ["PII"], "expr": "value + '*'"}]}),
        ),
        (
            "ENCRYPT of 3 tagged fields",
            json!({"domainRules": [{"name": "encrypt", "kind": "TRANSFORM", "mode": "WRITEREAD",
                "type": "ENCRYPT", "tags": ["PII"], "params": {"encrypt.kek.name": "bench",
                "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "bench"}}]}),
        ),
    ];
    let mut group = c.benchmark_group("rules-avro-20-fields");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (index, (name, rule_set)) in cases.into_iter().enumerate() {
        let topic = format!("bench{index}");
        let serializer = runtime.block_on(async {
            client
                .register(
                    &format!("{topic}-value"),
                    &RegisterSchemaRequest {
                        schema: Some(text.clone()),
                        rule_set: (!rule_set.is_null()).then_some(rule_set),
                        ..Default::default()
                    },
                    false,
                )
                .await
                .expect("registers");
            let config = SerializerConfig {
                auto_register: false,
                use_latest_version: true,
                latest_cache_ttl: None,
                rules: RuleConfig::default().param("secret", "bench-secret"),
                ..SerializerConfig::default()
            };
            let serializer =
                AvroSerializer::new(client.clone(), &text, vec![], config).expect("serializer");
            // The first event resolves the schema, compiles the rules and fetches the keys.
            serializer
                .serialize(&topic, &values[0])
                .await
                .expect("serializes");
            serializer
        });
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    for value in &values {
                        std::hint::black_box(
                            serializer
                                .serialize(&topic, value)
                                .await
                                .expect("serializes"),
                        );
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
