//! Issue 4: interop with a real third-party client. Bytes produced by confluent-kafka's Python
//! serializers (Avro, JSON Schema, Protobuf) decode with this crate to the same values, and bytes
//! from this crate decode with confluent-kafka's deserializers, both through the real registry.
//!
//! Needs a Python with `confluent-kafka[avro,json,protobuf,schemaregistry]`, named by
//! `COVENANT_INTEROP_PYTHON` (scripts/test creates one). Without it the test says so and passes,
//! unless `COVENANT_REQUIRE_INTEROP=1` (set by scripts/test and CI), when it fails.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::serde::json::{JsonDeserializer, JsonSerializer};
use covenant_client::serde::protobuf::{ProtobufDeserializer, ProtobufSerializer};
use covenant_client::{Client, SerializerConfig};
use covenant_core::protobuf::ProtobufSchema;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as ProtoValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const AVRO_SCHEMA: &str = r#"{"type":"record","name":"Reading","namespace":"interop","fields":[{"name":"id","type":"long"},{"name":"sensor","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"value","type":["null","double"],"default":null}]}"#;
const JSON_SCHEMA: &str = r#"{"title":"Reading","type":"object","properties":{"id":{"type":"integer"},"sensor":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}},"required":["id","sensor"]}"#;
const ORDER_PROTO: &str = "syntax = \"proto3\";\npackage interop;\nimport \"google/protobuf/timestamp.proto\";\nmessage Order {\n  string id = 1;\n  int32 quantity = 2;\n  repeated Line lines = 3;\n  google.protobuf.Timestamp placed = 4;\n  message Line {\n    string sku = 1;\n    int64 count = 2;\n  }\n}\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    id: i64,
    sensor: String,
    tags: Vec<String>,
    value: Option<f64>,
}

fn interop_python() -> Option<String> {
    match std::env::var("COVENANT_INTEROP_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var("COVENANT_REQUIRE_INTEROP").as_deref() == Ok("1") => {
            panic!("COVENANT_REQUIRE_INTEROP=1 but COVENANT_INTEROP_PYTHON names no Python")
        }
        _ => {
            eprintln!("skipping the confluent-kafka interop test: COVENANT_INTEROP_PYTHON is not set (scripts/test sets it)");
            None
        }
    }
}

fn python(python: &str, command: &str, url: &str, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/interop.py");
    let output = Command::new(python)
        .arg(script)
        .args([command, url])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "interop.py {command} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_hex(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read_to_string(path)
        .expect("payload file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

fn write_hex(path: &Path, payloads: &[Vec<u8>]) {
    let text: String = payloads
        .iter()
        .map(|p| p.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(path, text).expect("write payloads");
}

fn schema_id(payload: &[u8]) -> i32 {
    i32::from_be_bytes(payload[1..5].try_into().expect("an id"))
}

fn order_to_json(message: &DynamicMessage) -> Value {
    let field = |name: &str| message.get_field_by_name(name).expect("field").into_owned();
    let lines = match field("lines") {
        ProtoValue::List(lines) => lines
            .iter()
            .map(|line| {
                let line = line.as_message().expect("a Line");
                let get = |name: &str| line.get_field_by_name(name).expect("field").into_owned();
                json!({"sku": get("sku").as_str().expect("sku"), "count": get("count").as_i64().expect("count")})
            })
            .collect::<Vec<_>>(),
        other => panic!("lines is {other:?}"),
    };
    let placed = field("placed");
    let seconds = placed
        .as_message()
        .and_then(|t| t.get_field_by_name("seconds"))
        .and_then(|s| s.as_i64())
        .unwrap_or(0);
    json!({
        "id": field("id").as_str().expect("id"),
        "quantity": field("quantity").as_i32().expect("quantity"),
        "lines": lines,
        "placed_seconds": seconds,
    })
}

fn order_from_json(descriptor: &MessageDescriptor, value: &Value) -> DynamicMessage {
    let mut order = DynamicMessage::new(descriptor.clone());
    order.set_field_by_name(
        "id",
        ProtoValue::String(value["id"].as_str().expect("id").into()),
    );
    order.set_field_by_name(
        "quantity",
        ProtoValue::I32(value["quantity"].as_i64().expect("quantity") as i32),
    );
    let line_descriptor = descriptor.get_field_by_name("lines").expect("lines").kind();
    let line_descriptor = line_descriptor.as_message().expect("message kind").clone();
    let lines = value["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| {
            let mut message = DynamicMessage::new(line_descriptor.clone());
            message.set_field_by_name(
                "sku",
                ProtoValue::String(line["sku"].as_str().expect("sku").into()),
            );
            message.set_field_by_name(
                "count",
                ProtoValue::I64(line["count"].as_i64().expect("count")),
            );
            ProtoValue::Message(message)
        })
        .collect();
    order.set_field_by_name("lines", ProtoValue::List(lines));
    let timestamp = descriptor
        .get_field_by_name("placed")
        .expect("placed")
        .kind();
    let mut placed = DynamicMessage::new(timestamp.as_message().expect("Timestamp").clone());
    placed.set_field_by_name(
        "seconds",
        ProtoValue::I64(value["placed_seconds"].as_i64().expect("seconds")),
    );
    order.set_field_by_name("placed", ProtoValue::Message(placed));
    order
}

#[test]
fn confluent_kafka_python_interop() {
    let Some(python_bin) = interop_python() else {
        return;
    };
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let readings = vec![
        Reading {
            id: 1,
            sensor: "boiler".into(),
            tags: vec!["hot".into(), "basement".into()],
            value: Some(81.5),
        },
        Reading {
            id: 2,
            sensor: "attic".into(),
            tags: vec![],
            value: None,
        },
    ];
    let json_values = vec![
        json!({"id": 1, "sensor": "boiler", "tags": ["hot"]}),
        json!({"id": 2, "sensor": "attic"}),
    ];
    let orders = vec![
        json!({"id": "o-1", "quantity": 3, "lines": [{"sku": "A-1", "count": 2}, {"sku": "B-7", "count": 1}], "placed_seconds": 1764000000}),
        json!({"id": "o-2", "quantity": 0, "lines": [], "placed_seconds": 0}),
    ];
    let expected = json!({"avro": readings, "json": json_values, "proto": orders});
    std::fs::write(dir.path().join("expected.json"), expected.to_string()).expect("expected.json");

    // Python produces; Rust reads.
    python(&python_bin, "produce", &server.url, dir.path());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = Client::new(&server.url).expect("client");
    let order_schema = ProtobufSchema::parse(ORDER_PROTO, &[]).expect("compiles");
    let order_descriptor = order_schema
        .pool()
        .get_message_by_name("interop.Order")
        .expect("Order");
    let (python_avro, python_json, python_proto) = (
        read_hex(&dir.path().join("python-avro.hex")),
        read_hex(&dir.path().join("python-json.hex")),
        read_hex(&dir.path().join("python-proto.hex")),
    );
    runtime.block_on(async {
        let avro = AvroDeserializer::new(client.clone(), None).expect("deserializer");
        for (payload, expected) in python_avro.iter().zip(&readings) {
            assert_eq!(
                &avro
                    .deserialize_into::<Reading>(payload)
                    .await
                    .expect("python avro"),
                expected
            );
        }
        let json = JsonDeserializer::new(client.clone(), None).expect("deserializer");
        for (payload, expected) in python_json.iter().zip(&json_values) {
            assert_eq!(
                &json.deserialize(payload).await.expect("python json"),
                expected
            );
        }
        let proto = ProtobufDeserializer::new(client.clone());
        for (payload, expected) in python_proto.iter().zip(&orders) {
            let message = proto.deserialize(payload).await.expect("python protobuf");
            assert_eq!(message.descriptor().full_name(), "interop.Order");
            assert_eq!(&order_to_json(&message), expected);
        }

        // Rust produces (the same schemas: the same ids as Python's registrations); Python reads.
        let avro = AvroSerializer::new(
            client.clone(),
            AVRO_SCHEMA,
            vec![],
            SerializerConfig::default(),
        )
        .expect("serializer");
        let mut payloads = Vec::new();
        for reading in &readings {
            payloads.push(
                avro.serialize_serde("interop-avro", reading)
                    .await
                    .expect("avro"),
            );
        }
        assert_eq!(
            schema_id(&payloads[0]),
            schema_id(&python_avro[0]),
            "one Avro schema, one id"
        );
        write_hex(&dir.path().join("rust-avro.hex"), &payloads);
        let json = JsonSerializer::new(
            client.clone(),
            JSON_SCHEMA,
            vec![],
            SerializerConfig::default(),
        )
        .expect("serializer");
        let mut payloads = Vec::new();
        for value in &json_values {
            payloads.push(json.serialize("interop-json", value).await.expect("json"));
        }
        write_hex(&dir.path().join("rust-json.hex"), &payloads);
        let proto = ProtobufSerializer::new(client.clone(), SerializerConfig::default());
        let mut payloads = Vec::new();
        for order in &orders {
            payloads.push(
                proto
                    .serialize("interop-proto", &order_from_json(&order_descriptor, order))
                    .await
                    .expect("protobuf"),
            );
        }
        assert_eq!(
            schema_id(&payloads[0]),
            schema_id(&python_proto[0]),
            ".proto text and Python's serialized descriptor are one schema"
        );
        write_hex(&dir.path().join("rust-proto.hex"), &payloads);
    });
    python(&python_bin, "consume", &server.url, dir.path());
}

/// Whether a third-party client named by `variable` is set up; under
/// `COVENANT_REQUIRE_INTEROP=1` it must be.
fn interop_tool(variable: &str, what: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("COVENANT_REQUIRE_INTEROP").as_deref() == Ok("1") => {
            panic!("COVENANT_REQUIRE_INTEROP=1 but {variable} is not set ({what})")
        }
        _ => {
            eprintln!("skipping {what}: {variable} is not set (scripts/test sets it)");
            None
        }
    }
}

/// Real third-party clients with credentials, over HTTP and HTTPS with a private CA:
/// confluent-kafka and python-schema-registry-client (Python), kafkajs and
/// @confluentinc/schemaregistry (Node), schema_registry_converter (Rust). Each registers and
/// reads as a user whose grant covers `team-*`, gets 401 with a wrong password and 403 writing
/// outside its grant.
#[test]
fn third_party_clients_with_credentials() {
    use common::auth::{hash_password, user_entry, Pki};
    let python = interop_python();
    let node = interop_tool(
        "COVENANT_INTEROP_NODE",
        "the Node clients (kafkajs, @confluentinc/schemaregistry)",
    );
    let rust = interop_tool("COVENANT_INTEROP_RUST", "schema_registry_converter");
    if python.is_none() && node.is_none() && rust.is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path(), "interop");
    pki.issue("server", "registry", true);
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "{}[[grants]]\nrole = \"team\"\noperations = [\"read\", \"write\", \"config\"]\nsubjects = [\"team-*\"]\n",
            user_entry("team", &hash_password("team-pw"), &["team"])
        ),
    )
    .expect("auth file");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let common_args = vec![
        "--auth-file".to_string(),
        path("auth.toml"),
        // Each client's wrong-password checks are failed attempts, by design.
        "--auth-failures-per-minute".to_string(),
        "1000".to_string(),
    ];
    let http = Server::start_with(common::Options {
        args: common_args.clone(),
        ..common::Options::default()
    });
    let mut tls_args = common_args;
    tls_args.extend([
        "--tls-cert".into(),
        path("server.pem"),
        "--tls-key".into(),
        path("server.key"),
    ]);
    let https = Server::start_with(common::Options {
        args: tls_args,
        ..common::Options::default()
    });
    let ca = path("interop-ca.pem");
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    let mut runs: Vec<(&str, Command)> = Vec::new();
    if let Some(python) = &python {
        let mut command = Command::new(python);
        command.arg(interop.join("auth_clients.py"));
        runs.push(("Python clients", command));
    }
    if let Some(node) = &node {
        let mut command = Command::new(node);
        command.arg(interop.join("node/auth_clients.mjs"));
        runs.push(("Node clients", command));
    }
    if let Some(rust) = &rust {
        runs.push(("schema_registry_converter", Command::new(rust)));
    }
    for (what, mut command) in runs {
        let output = command
            .args([&http.url, &https.url, &ca])
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{what} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.lines().filter(|l| l.starts_with("ok")).count() >= 4,
            "{what}:\n{stdout}"
        );
        eprintln!("{what}:\n{stdout}");
    }
}

/// Data contracts with Confluent's own serdes and rule executors: confluent-kafka (Python) and
/// @confluentinc/schemaregistry (Node) run CEL and CEL_FIELD rules, JSONata migrations across a
/// major version, and field-level encryption whose KEKs and DEKs live in Covenant's DEK registry
/// (a client-side KEK, and a shared KEK whose DEKs the registry's local KMS makes); each
/// language decrypts what the other encrypted. Needs the rule extras scripts/test installs.
#[test]
fn data_contracts_with_confluent_clients() {
    let python = interop_python();
    let node = interop_tool(
        "COVENANT_INTEROP_NODE",
        "the Node clients (@confluentinc/schemaregistry)",
    );
    let (Some(python), Some(node)) = (python, node) else {
        return;
    };
    let secret = "covenant-interop-server-secret";
    let server = Server::start_with(common::Options {
        env: vec![("COVENANT_LOCAL_KMS_SECRET".into(), secret.into())],
        ..common::Options::default()
    });
    let dir = tempfile::tempdir().expect("dir");
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    let work = dir.path().display().to_string();
    let steps: [(&str, &str, Vec<String>); 3] = [
        (
            "confluent-kafka, producing",
            python.as_str(),
            vec![
                interop.join("contracts.py").display().to_string(),
                server.url.clone(),
                work.clone(),
                "produce".into(),
            ],
        ),
        (
            "@confluentinc/schemaregistry",
            node.as_str(),
            vec![
                interop.join("node/contracts.mjs").display().to_string(),
                server.url.clone(),
                work.clone(),
                "all".into(),
            ],
        ),
        (
            "confluent-kafka, consuming",
            python.as_str(),
            vec![
                interop.join("contracts.py").display().to_string(),
                server.url.clone(),
                work.clone(),
                "consume".into(),
            ],
        ),
    ];
    for (what, program, args) in steps {
        let output = Command::new(program)
            .args(&args)
            .env("COVENANT_INTEROP_SERVER_SECRET", secret)
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{what} failed:\n{stdout}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        assert!(
            !stdout.contains("FAIL") && stdout.lines().any(|l| l.starts_with("ok")),
            "{what}:\n{stdout}"
        );
        eprintln!("{what}:\n{stdout}");
    }
    // Covenant's own client: it decrypts what both of them encrypted, and what it encrypts
    // decrypts in both.
    rust_encryption_both_ways(&server, dir.path());
    for (what, program, script) in [
        (
            "confluent-kafka, consuming Rust's",
            python.as_str(),
            "contracts.py",
        ),
        (
            "@confluentinc/schemaregistry, consuming Rust's",
            node.as_str(),
            "node/contracts.mjs",
        ),
    ] {
        let output = Command::new(program)
            .arg(interop.join(script))
            .args([
                server.url.as_str(),
                work.as_str(),
                "consume",
                "--from",
                "rs",
            ])
            .env("COVENANT_INTEROP_SERVER_SECRET", secret)
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && !stdout.contains("FAIL"),
            "{what} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stdout
                .lines()
                .filter(|l| l.starts_with("ok") && l.contains("Rust"))
                .count(),
            2,
            "{what} decrypted both Rust payloads:\n{stdout}"
        );
        eprintln!("{what}:\n{stdout}");
    }
}

/// The client secret and key id of tests/interop/contracts.py (and the Node script).
const INTEROP_CLIENT_SECRET: &str = "covenant-interop-client-secret";
const INTEROP_KMS_KEY_ID: &str = "covenant-interop-key";
const PATIENT: &str = r#"{"type":"record","name":"Patient","namespace":"interop.contracts","fields":[{"name":"id","type":"string"},{"name":"ssn","type":"string","confluent:tags":["PII"]},{"name":"note","type":"string"}]}"#;

/// Decrypts the Python and Node payloads in `work`, and writes `rs-encrypted.json` (a KEK of
/// the client's and a shared one) in their format.
fn rust_encryption_both_ways(server: &Server, work: &Path) {
    use covenant_client::rules::RuleConfig;
    let rules = || RuleConfig::default().param("secret", INTEROP_CLIENT_SECRET);
    runtime().block_on(async {
        for (language, file) in [("Python", "py-encrypted.json"), ("Node", "js-encrypted.json")] {
            let text = std::fs::read_to_string(work.join(file)).expect("payload file");
            let entries: Value = serde_json::from_str(&text).expect("json");
            for kind in ["local", "shared"] {
                let entry = &entries[kind];
                let payload = hex_decode(entry["payload_hex"].as_str().expect("hex"));
                let plaintext = entry["plaintext"].as_str().expect("plaintext");
                assert!(!contains(&payload, plaintext.as_bytes()), "{language} {kind}: plaintext on the wire");
                // A fresh client and deserializer: nothing cached from the writer.
                let client = Client::new(&server.url).expect("client");
                let reader = AvroDeserializer::new(client, None).expect("reader").with_rules(rules());
                let value: Value = reader.deserialize_into(&payload).await.unwrap_or_else(|e| panic!("{language} {kind}: {e}"));
                assert_eq!(value, entry["expected"], "{language} {kind}");
                // Without the secret the field cannot be opened: the error names the rule.
                if kind == "local" {
                    let blind = AvroDeserializer::new(Client::new(&server.url).expect("client"), None)
                        .expect("reader")
                        .with_rules(RuleConfig::default().param("secret", "not-the-secret"));
                    let error = blind.deserialize(&payload).await.expect_err("wrong secret");
                    assert!(error.to_string().contains("encryptPii"), "{error}");
                }
                eprintln!("ok    Rust decrypts the {language} {kind} payload: {value}");
            }
        }
        let client = Client::new(&server.url).expect("client");
        let run = common::unique();
        let mut out = serde_json::Map::new();
        for (kind, shared) in [("local", false), ("shared", true)] {
            let kek = format!("rs-kek-{kind}-{run}");
            if shared {
                client
                    .create_kek(&covenant_client::api::CreateKekRequest {
                        name: Some(kek.clone()),
                        kms_type: Some("local-kms".into()),
                        kms_key_id: Some(INTEROP_KMS_KEY_ID.into()),
                        shared: true,
                        ..Default::default()
                    })
                    .await
                    .expect("shared kek");
            }
            let topic = format!("rs-encrypt-{kind}-{run}");
            let subject = format!("{topic}-value");
            let rule_set = json!({"domainRules": [{"name": "encryptPii", "kind": "TRANSFORM", "mode": "WRITEREAD",
                "type": "ENCRYPT", "tags": ["PII"], "params": {"encrypt.kek.name": kek,
                "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": INTEROP_KMS_KEY_ID}}]});
            client
                .register(&subject, &covenant_client::api::RegisterSchemaRequest {
                    schema: Some(PATIENT.into()),
                    rule_set: Some(rule_set),
                    ..Default::default()
                }, false)
                .await
                .expect("registers");
            let config = SerializerConfig {
                auto_register: false,
                use_latest_version: true,
                rules: rules(),
                ..SerializerConfig::default()
            };
            let writer = AvroSerializer::new(Client::new(&server.url).expect("client"), PATIENT, vec![], config).expect("writer");
            let sent = json!({"id": "r-1", "ssn": format!("rs-{kind}-999-12-3456"), "note": "visible"});
            let payload = writer.serialize_serde(&topic, &sent).await.expect("encrypts");
            assert!(!contains(&payload, sent["ssn"].as_str().expect("ssn").as_bytes()));
            assert!(contains(&payload, b"visible"));
            let dek = client.dek(&kek, &subject, 1, "AES256_GCM", false).await.expect("the DEK is registered");
            assert_eq!(dek.key_material.is_some(), shared, "only a shared KEK's DEK carries its key");
            out.insert(kind.into(), json!({
                "language": "rust", "topic": topic, "subject": subject, "kek": kek, "shared": shared,
                "secret": INTEROP_CLIENT_SECRET, "payload_hex": hex_encode(&payload),
                "plaintext": sent["ssn"], "expected": sent,
            }));
        }
        std::fs::write(work.join("rs-encrypted.json"), Value::Object(out).to_string()).expect("writes");
    });
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

const PERSON_AVRO: &str = r#"{"type":"record","name":"Person","namespace":"interop.cel","fields":[{"name":"name","type":"string","confluent:tags":["PII"]},{"name":"age","type":"int"},{"name":"amount","type":"double"},{"name":"email","type":"string","confluent:tags":["PII"]},{"name":"active","type":"boolean"}]}"#;
const PERSON_JSON: &str = r#"{"title":"Person","type":"object","properties":{"name":{"type":"string","confluent:tags":["PII"]},"age":{"type":"integer"},"amount":{"type":"number"},"email":{"type":"string","confluent:tags":["PII"]},"active":{"type":"boolean"}}}"#;
/// The file tests/interop/cel_table.py builds and tests/interop/node/cel_table.mjs embeds.
const PERSON_PROTO: &str = "syntax = \"proto3\";\npackage interop.cel;\nimport \"confluent/meta.proto\";\nmessage Person {\n  string name = 1 [(confluent.field_meta).tags = \"PII\"];\n  int32 age = 2;\n  double amount = 3;\n  string email = 4 [(confluent.field_meta).tags = \"PII\"];\n  bool active = 5;\n}\n";

/// CEL conditions on the record {name alice, age 30, amount 12.5, email alice@example.com,
/// active true}: (type, expression, whether it passes).
const CEL_TABLE: &[(&str, &str, bool)] = &[
    ("CEL", "message.age > 18", true),
    ("CEL", "message.age > 40", false),
    ("CEL", "message.name == 'alice'", true),
    ("CEL", "message.name.startsWith('b')", false),
    ("CEL", "message.email.endsWith('@example.com')", true),
    (
        "CEL",
        "message.email.contains('@') && message.age < 100",
        true,
    ),
    ("CEL", "message.amount >= 12.5", true),
    ("CEL", "message.amount < 10.0", false),
    ("CEL", "size(message.name) == 5", true),
    ("CEL", "message.name.size() > 10", false),
    ("CEL", "message.name.matches('^[a-z]+$')", true),
    ("CEL", "message.email.matches('^[0-9]+$')", false),
    ("CEL", "message.age % 2 == 0", true),
    ("CEL", "message.age in [10, 20, 30]", true),
    ("CEL", "message.name in ['bob', 'carol']", false),
    ("CEL", "has(message.email)", true),
    (
        "CEL",
        "message.age > 18 ? message.amount > 10.0 : false",
        true,
    ),
    ("CEL", "!(message.age > 18)", false),
    ("CEL", "message.age * 2 == 60", true),
    ("CEL", "message.age + 1 == 30", false),
    ("CEL", "double(message.age) > 29.5", true),
    ("CEL", "int(message.amount) == 12", true),
    ("CEL", "string(message.age) == '30'", true),
    ("CEL", "message.name + '!' == 'alice!'", true),
    ("CEL", "message.amount / 2.0 == 6.25", true),
    ("CEL", "message.age > 18 || message.name == 'x'", true),
    ("CEL", "message.age > 18 ; message.age < 20", false),
    ("CEL", "message.age < 18 ; false", true),
    ("CEL", "message.undefined_field > 1", false),
    ("CEL_FIELD", "value.size() > 3", true),
    ("CEL_FIELD", "value.contains('@')", false),
    ("CEL_FIELD", "typeName == 'STRING'", true),
    (
        "CEL_FIELD",
        "name == 'name' ? value == 'alice' : value.endsWith('.com')",
        true,
    ),
    (
        "CEL_FIELD",
        "fullName.endsWith('email') ? value.startsWith('bob') : true",
        false,
    ),
    ("CEL_FIELD", "value.matches('^[a-z@.]+$')", true),
    ("CEL_FIELD", "'PII' in tags", true),
    ("CEL_FIELD", "size(tags) == 0", false),
    ("CEL_FIELD", "name == 'email' ; value.size() < 5", false),
];

/// The cases @confluentinc/schemaregistry cannot evaluate, and so lets pass: message-level CEL
/// on Protobuf (its CEL environment has no registry, so `message.<field>` is an error: "Message
/// ... not found in registry"), `message.age + 1` (a JavaScript number is a CEL double, and
/// double + int has no overload) and a field the record does not have. Confluent's Python
/// client and Covenant's judge them (the first two by value, the last as a failed rule).
fn js_cannot_judge(topic: &str) -> bool {
    let index: usize = topic
        .rsplit('-')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or(usize::MAX);
    let message_level = CEL_TABLE
        .get(index)
        .is_some_and(|(kind, _, _)| *kind == "CEL");
    let evaluates_wrongly = CEL_TABLE.get(index).is_some_and(|(_, expr, _)| {
        *expr == "message.age + 1 == 30" || expr.contains("undefined_field")
    });
    (topic.starts_with("cel-protobuf-") && message_level) || evaluates_wrongly
}

/// Covenant's client and Confluent's Python and JavaScript clients give the same verdict for
/// every CEL and CEL_FIELD condition of the table, in Avro, JSON Schema and Protobuf (where the
/// JavaScript client cannot evaluate one, `js_cannot_judge`, it lets the event pass; that is
/// checked too).
#[test]
fn cel_verdicts_match_confluent_clients() {
    let python = interop_python();
    let node = interop_tool(
        "COVENANT_INTEROP_NODE",
        "the Node clients (@confluentinc/schemaregistry)",
    );
    let (Some(python), Some(node)) = (python, node) else {
        return;
    };
    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    let record = json!({"name": "alice", "age": 30, "amount": 12.5, "email": "alice@example.com", "active": true});
    let mut cases = Vec::new();
    let mut ours = std::collections::BTreeMap::new();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let person_proto = ProtobufSchema::parse(PERSON_PROTO, &[]).expect("parses");
        let person = person_proto.pool().get_message_by_name("interop.cel.Person").expect("Person");
        for (format, schema) in [("AVRO", PERSON_AVRO), ("JSON", PERSON_JSON), ("PROTOBUF", PERSON_PROTO)] {
            for (index, (rule_type, expr, passes)) in CEL_TABLE.iter().enumerate() {
                let topic = format!("cel-{}-{index}", format.to_lowercase());
                let mut rule = json!({"name": format!("c{index}"), "kind": "CONDITION", "mode": "WRITE",
                    "type": rule_type, "expr": expr});
                if *rule_type == "CEL_FIELD" {
                    rule["tags"] = json!(["PII"]);
                }
                client
                    .register(&format!("{topic}-value"), &covenant_client::api::RegisterSchemaRequest {
                        schema: Some(schema.into()),
                        schema_type: (format != "AVRO").then(|| format.to_string()),
                        rule_set: Some(json!({"domainRules": [rule]})),
                        ..Default::default()
                    }, false)
                    .await
                    .expect("registers");
                let config = || SerializerConfig {
                    auto_register: false,
                    use_latest_version: true,
                    ..SerializerConfig::default()
                };
                let result = match format {
                    "AVRO" => AvroSerializer::new(client.clone(), schema, vec![], config())
                        .expect("serializer")
                        .serialize_json(&topic, &record)
                        .await,
                    "JSON" => JsonSerializer::new(client.clone(), schema, vec![], config())
                        .expect("serializer")
                        .serialize(&topic, &record)
                        .await,
                    _ => {
                        let message = DynamicMessage::deserialize(person.clone(), record.clone()).expect("message");
                        ProtobufSerializer::new(client.clone(), config()).serialize(&topic, &message).await
                    }
                };
                let verdict = match result {
                    Ok(_) => "pass",
                    Err(covenant_client::Error::Rule(_)) => "fail",
                    Err(other) => panic!("{topic} `{expr}`: {other}"),
                };
                assert_eq!(verdict == "pass", *passes, "Covenant on {format} `{expr}`");
                ours.insert(topic.clone(), verdict);
                cases.push(json!({"topic": topic, "format": format, "schema": schema, "record": record}));
            }
        }
    });
    let path = dir.path().join("cases.json");
    std::fs::write(&path, Value::Array(cases).to_string()).expect("writes");
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    for (who, program, script) in [
        (
            "confluent-kafka",
            python.as_str(),
            interop.join("cel_table.py"),
        ),
        (
            "@confluentinc/schemaregistry",
            node.as_str(),
            interop.join("node/cel_table.mjs"),
        ),
    ] {
        let output = Command::new(program)
            .arg(&script)
            .arg(&server.url)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{who} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs: std::collections::BTreeMap<String, String> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("VERDICT "))
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                Some((parts.next()?.to_string(), parts.next()?.to_string()))
            })
            .collect();
        let mut differ = Vec::new();
        let mut known = 0;
        for (topic, verdict) in &ours {
            let got = theirs.get(topic).map(String::as_str);
            if who.starts_with('@') && js_cannot_judge(topic) {
                // @confluentinc/schemaregistry returns an evaluation error as a value, which is
                // truthy, so a condition passes: the event goes through unchecked (a guard that
                // is an error is not false, so its expression runs).
                if !topic.starts_with("cel-protobuf-") {
                    assert_eq!(
                        got,
                        Some("pass"),
                        "{who} on {topic}: its known divergence changed"
                    );
                }
                known += 1;
                continue;
            }
            if got != Some(*verdict) {
                let line = stdout
                    .lines()
                    .find(|l| l.contains(&format!(" {topic} ")))
                    .unwrap_or("no verdict");
                differ.push(format!("{topic}: Covenant {verdict}, {who} {line}"));
            }
        }
        assert!(
            differ.is_empty(),
            "{who} disagrees on {} of {}:\n{}",
            differ.len(),
            ours.len(),
            differ.join("\n")
        );
        eprintln!(
            "{who} agrees with Covenant on {} of {} verdicts ({known} it cannot evaluate)",
            ours.len() - known,
            ours.len()
        );
    }
}

/// A JSONata migration chain v1 → v2 → v3 (and back) read by each side: events written by
/// Covenant's client at major version 1 (or 3) are read as version 3 (or 1) by confluent-kafka
/// and @confluentinc/schemaregistry, and theirs by Covenant's, each client applying the
/// UPGRADE (DOWNGRADE) rules of every version between.
#[test]
fn jsonata_migration_chain_with_confluent_clients() {
    use covenant_client::serde::MigrationTarget;
    let python = interop_python();
    let node = interop_tool(
        "COVENANT_INTEROP_NODE",
        "the Node clients (@confluentinc/schemaregistry)",
    );
    let (Some(python), Some(node)) = (python, node) else {
        return;
    };
    let server = Server::start();
    let subject = "chain-value";
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    let scripts = [
        (
            "confluent-kafka",
            python.clone(),
            interop.join("migration.py"),
        ),
        (
            "@confluentinc/schemaregistry",
            node.clone(),
            interop.join("node/migration.mjs"),
        ),
    ];
    let call = |program: &str, script: &Path, args: &[&str]| {
        let output = Command::new(program)
            .arg(script)
            .arg(&server.url)
            .arg(subject)
            .args(args)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{} {args:?}:\n{}\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let ids = common::migrations::register_chain(&client, subject).await;
        let writer = |id: i32| {
            AvroSerializer::new(
                client.clone(),
                common::migrations::V1,
                vec![],
                SerializerConfig {
                    auto_register: false,
                    use_schema_id: Some(id),
                    ..SerializerConfig::default()
                },
            )
            .expect("writer")
        };
        let ours_v1 = writer(ids[0])
            .serialize_json("chain", &json!({"name": "ada", "size": 17}))
            .await
            .expect("v1");
        let ours_v3 = writer(ids[2])
            .serialize_json("chain", &json!({"name": "bob", "heightMm": 1234}))
            .await
            .expect("v3");
        let reader = |target: MigrationTarget| {
            AvroDeserializer::new(Client::new(&server.url).expect("client"), None)
                .expect("reader")
                .with_migration(target)
        };
        let latest = reader(MigrationTarget::default());
        let major1 = reader(MigrationTarget {
            subject: None,
            metadata: Some(vec![("application.major.version".into(), "1".into())]),
        });
        for (who, program, script) in &scripts {
            // Theirs, read by them and by Covenant.
            let theirs_v1 = hex_decode(&call(
                program,
                script,
                &["write", "1", r#"{"name": "cy", "size": 5}"#],
            ));
            let theirs_v3 = hex_decode(&call(
                program,
                script,
                &["write", "3", r#"{"name": "di", "heightMm": 990}"#],
            ));
            let read: Value = latest
                .deserialize_into(&theirs_v1)
                .await
                .unwrap_or_else(|e| panic!("{who} v1: {e}"));
            assert_eq!(
                read,
                json!({"name": "cy", "heightMm": 50}),
                "Covenant reads {who}'s v1 as v3"
            );
            let read: Value = major1
                .deserialize_into(&theirs_v3)
                .await
                .unwrap_or_else(|e| panic!("{who} v3: {e}"));
            assert_eq!(
                read,
                json!({"name": "di", "size": 99}),
                "Covenant reads {who}'s v3 as v1"
            );
            // Covenant's, read by them.
            let read: Value = serde_json::from_str(&call(
                program,
                script,
                &["read", "latest", &hex_encode(&ours_v1)],
            ))
            .expect("json");
            assert_eq!(
                read,
                json!({"name": "ada", "heightMm": 170}),
                "{who} reads Covenant's v1 as v3"
            );
            let read: Value = serde_json::from_str(&call(
                program,
                script,
                &["read", "1", &hex_encode(&ours_v3)],
            ))
            .expect("json");
            assert_eq!(
                read,
                json!({"name": "bob", "size": 123}),
                "{who} reads Covenant's v3 as v1"
            );
            eprintln!("ok    {who}: v1 -> v3 and v3 -> v1 both ways");
        }
    });
}
