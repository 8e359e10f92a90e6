//! Issue 13: data-contract rules run by covenant-client's serializers and deserializers through
//! the real registry: CEL and CEL_FIELD in all three formats, actions and the dead-letter
//! queue, field and payload encryption with the DEK registry and the local KMS, DEK rotation,
//! and rules that cannot compile failing before any event is written.

mod common;

use std::sync::{Arc, Mutex};

use apache_avro::types::Value as Avro;
use common::migrations::V1;
use common::Server;
use covenant_client::api::RegisterSchemaRequest;
use covenant_client::rules::{DeadLetter, RuleConfig};
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::serde::json::{JsonDeserializer, JsonSerializer};
use covenant_client::serde::protobuf::{ProtobufDeserializer, ProtobufSerializer};
use covenant_client::{Client, Error, SerializerConfig};
use covenant_core::protobuf::ProtobufSchema;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value as ProtoValue};
use serde_json::{json, Value};

const SECRET: &str = "rules-test-secret";

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"acme","fields":[
  {"name":"id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"card","type":"string","confluent:tags":["PII"]},
  {"name":"email","type":["null","string"],"default":null,"confluent:tags":["PII"]},
  {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
     {"name":"sku","type":"string"},{"name":"secret","type":"string","confluent:tags":["PII"]}]}}}]}"#;

const ORDER_JSON: &str = r#"{"title":"Order","type":"object","properties":{
  "id":{"type":"string"},
  "amount":{"type":"number"},
  "card":{"type":"string","confluent:tags":["PII"]},
  "lines":{"type":"array","items":{"type":"object","properties":{
     "sku":{"type":"string"},"secret":{"type":"string","confluent:tags":["PII"]}}}}}}"#;

const ORDER_PROTO: &str = r#"syntax = "proto3";
package acme;
import "confluent/meta.proto";
message Order {
  string id = 1;
  double amount = 2;
  string card = 3 [(confluent.field_meta).tags = "PII"];
  repeated Line lines = 4;
  message Line {
    string sku = 1;
    string secret = 2 [(confluent.field_meta).tags = "PII"];
  }
}
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(rules: RuleConfig) -> SerializerConfig {
    SerializerConfig {
        auto_register: false,
        use_latest_version: true,
        rules,
        ..SerializerConfig::default()
    }
}

async fn register(
    client: &Client,
    subject: &str,
    schema: &str,
    kind: Option<&str>,
    rule_set: Value,
) {
    client
        .register(
            subject,
            &RegisterSchemaRequest {
                schema: Some(schema.into()),
                schema_type: kind.map(str::to_string),
                rule_set: Some(rule_set),
                ..Default::default()
            },
            false,
        )
        .await
        .expect("registers");
}

fn order(amount: f64, card: &str) -> Avro {
    Avro::Record(vec![
        ("id".into(), Avro::String("o-1".into())),
        ("amount".into(), Avro::Double(amount)),
        ("card".into(), Avro::String(card.into())),
        (
            "email".into(),
            Avro::Union(1, Box::new(Avro::String("a@b.c".into()))),
        ),
        (
            "lines".into(),
            Avro::Array(vec![Avro::Record(vec![
                ("sku".into(), Avro::String("sku-1".into())),
                ("secret".into(), Avro::String("line-secret".into())),
            ])]),
        ),
    ])
}

fn field<'a>(record: &'a Avro, name: &str) -> &'a Avro {
    match record {
        Avro::Record(fields) => &fields.iter().find(|(n, _)| n == name).expect("field").1,
        _ => panic!("not a record"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn cel_conditions_and_field_transforms_in_avro_with_actions() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        register(
            &client,
            "orders-value",
            ORDER,
            None,
            json!({"domainRules": [
                {"name": "positiveAmount", "kind": "CONDITION", "mode": "WRITE", "type": "CEL",
                 "expr": "message.amount > 0.0", "doc": "amounts are positive"},
                {"name": "mask", "kind": "TRANSFORM", "mode": "WRITE", "type": "CEL_FIELD", "tags": ["PII"],
                 "expr": "typeName == 'STRING' ; 'XXXX' + value.substring(value.size() - 2)"}
            ]}),
        )
        .await;
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(RuleConfig::default())).expect("writer");
        let error = writer.serialize("orders", &order(-5.0, "4111111111111111")).await.expect_err("refused");
        match &error {
            Error::Rule(rule) => {
                assert_eq!(rule.rule, "positiveAmount");
                assert_eq!(rule.expr.as_deref(), Some("message.amount > 0.0"));
                assert_eq!(rule.reason, "amounts are positive");
            }
            other => panic!("expected a rule error, got {other}"),
        }
        let bytes = writer.serialize("orders", &order(12.5, "4111111111111111")).await.expect("written");
        assert!(!contains(&bytes, b"4111111111111111"));
        let reader = AvroDeserializer::new(client.clone(), None).expect("reader");
        let read = reader.deserialize(&bytes).await.expect("read");
        assert_eq!(field(&read, "card"), &Avro::String("XXXX11".into()));
        // Through the union and into the array's records.
        assert_eq!(field(&read, "email"), &Avro::Union(1, Box::new(Avro::String("XXXX.c".into()))));
        let Avro::Array(lines) = field(&read, "lines") else { panic!("lines") };
        assert_eq!(field(&lines[0], "secret"), &Avro::String("XXXXet".into()));
        assert_eq!(field(&lines[0], "sku"), &Avro::String("sku-1".into()), "untagged");

        // The same condition with onFailure DLQ: the event goes to the application's queue.
        register(
            &client,
            "dlq-value",
            ORDER,
            None,
            json!({"domainRules": [{"name": "positiveAmount", "kind": "CONDITION", "mode": "WRITE",
                "type": "CEL", "expr": "message.amount > 0.0", "onFailure": "DLQ"}]}),
        )
        .await;
        let letters: Arc<Mutex<Vec<DeadLetter>>> = Arc::default();
        let sink = Arc::clone(&letters);
        let queue = move |letter: DeadLetter| sink.lock().expect("lock").push(letter);
        let rules = RuleConfig::default().dead_letter_queue(Arc::new(queue));
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(rules)).expect("writer");
        let error = writer.serialize("dlq", &order(-1.0, "4111")).await.expect_err("refused");
        assert!(matches!(&error, Error::Rule(r) if r.dead_lettered), "{error}");
        let letters = letters.lock().expect("lock").clone();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].topic, "dlq");
        assert_eq!(letters[0].subject.as_deref(), Some("dlq-value"));
        assert_eq!(letters[0].value.as_ref().map(|v| v["amount"].clone()), Some(json!(-1.0)));
        // With rules turned off, the client writes what it is given.
        let off = AvroSerializer::new(client.clone(), ORDER, vec![], config(RuleConfig::disabled())).expect("writer");
        off.serialize("orders", &order(-5.0, "4111")).await.expect("no rules run");
    });
}

#[test]
fn a_rule_that_cannot_compile_fails_before_any_event_naming_it() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        register(
            &client,
            "broken-value",
            ORDER,
            None,
            json!({"domainRules": [{"name": "broken", "kind": "CONDITION", "mode": "WRITE", "type": "CEL",
                "expr": "message.amount >"}]}),
        )
        .await;
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(RuleConfig::default())).expect("writer");
        let error = writer.warm_up("broken").await.expect_err("does not compile");
        let text = error.to_string();
        assert!(text.contains("broken") && text.contains("not a CEL expression"), "{text}");
        let error = writer.serialize("broken", &order(1.0, "4111")).await.expect_err("refused");
        assert!(error.to_string().contains("broken"), "{error}");
    });
}

#[test]
fn field_encryption_round_trips_in_every_format_with_the_dek_registry() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let encrypt = |kek: &str| {
            json!({"domainRules": [{"name": "encryptPii", "kind": "TRANSFORM", "mode": "WRITEREAD",
                "type": "ENCRYPT", "tags": ["PII"], "params": {"encrypt.kek.name": kek,
                "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "key1"}}]})
        };
        let rules = || RuleConfig::default().param("secret", SECRET);

        // Avro.
        register(&client, "pay-avro-value", ORDER, None, encrypt("kek-avro")).await;
        let writer =
            AvroSerializer::new(client.clone(), ORDER, vec![], config(rules())).expect("writer");
        let bytes = writer
            .serialize("pay-avro", &order(3.0, "4111111111111111"))
            .await
            .expect("encrypts");
        assert!(!contains(&bytes, b"4111111111111111") && !contains(&bytes, b"line-secret"));
        assert!(contains(&bytes, b"sku-1"), "untagged fields stay readable");
        let kek = client
            .kek("kek-avro", false)
            .await
            .expect("the writer registered the KEK");
        assert_eq!((kek.kms_type.as_str(), kek.shared), ("local-kms", false));
        let dek = client
            .dek("kek-avro", "pay-avro-value", 1, "AES256_GCM", false)
            .await
            .expect("the DEK");
        assert!(dek.encrypted_key_material.is_some() && dek.key_material.is_none());
        let reader = AvroDeserializer::new(Client::new(&server.url).expect("client"), None)
            .expect("reader")
            .with_rules(rules());
        let read = reader.deserialize(&bytes).await.expect("decrypts");
        assert_eq!(read, order(3.0, "4111111111111111"));
        // A reader without the secret cannot open it, and says which rule could not.
        let blind = AvroDeserializer::new(Client::new(&server.url).expect("client"), None)
            .expect("reader")
            .with_rules(RuleConfig::default().param("secret", "wrong"));
        let error = blind.deserialize(&bytes).await.expect_err("wrong secret");
        assert!(error.to_string().contains("encryptPii"), "{error}");

        // JSON Schema.
        register(
            &client,
            "pay-json-value",
            ORDER_JSON,
            Some("JSON"),
            encrypt("kek-json"),
        )
        .await;
        let writer = JsonSerializer::new(client.clone(), ORDER_JSON, vec![], config(rules()))
            .expect("writer");
        let sent = json!({"id": "o-1", "amount": 3.5, "card": "4111111111111111",
            "lines": [{"sku": "sku-1", "secret": "line-secret"}]});
        let bytes = writer.serialize("pay-json", &sent).await.expect("encrypts");
        assert!(!contains(&bytes, b"4111111111111111") && !contains(&bytes, b"line-secret"));
        let reader = JsonDeserializer::new(Client::new(&server.url).expect("client"), None)
            .expect("reader")
            .with_rules(rules());
        assert_eq!(reader.deserialize(&bytes).await.expect("decrypts"), sent);

        // Protobuf.
        register(
            &client,
            "pay-proto-value",
            ORDER_PROTO,
            Some("PROTOBUF"),
            encrypt("kek-proto"),
        )
        .await;
        let compiled = ProtobufSchema::parse(ORDER_PROTO, &[]).expect("parses");
        let descriptor = compiled
            .pool()
            .get_message_by_name("acme.Order")
            .expect("Order");
        let line_descriptor = compiled
            .pool()
            .get_message_by_name("acme.Order.Line")
            .expect("Line");
        let mut message = DynamicMessage::new(descriptor.clone());
        message.set_field_by_name("id", ProtoValue::String("o-1".into()));
        message.set_field_by_name("amount", ProtoValue::F64(3.0));
        message.set_field_by_name("card", ProtoValue::String("4111111111111111".into()));
        let mut line = DynamicMessage::new(line_descriptor);
        line.set_field_by_name("sku", ProtoValue::String("sku-1".into()));
        line.set_field_by_name("secret", ProtoValue::String("line-secret".into()));
        message.set_field_by_name("lines", ProtoValue::List(vec![ProtoValue::Message(line)]));
        let writer = ProtobufSerializer::new(client.clone(), config(rules()));
        let bytes = writer
            .serialize("pay-proto", &message)
            .await
            .expect("encrypts");
        assert!(!contains(&bytes, b"4111111111111111") && !contains(&bytes, b"line-secret"));
        let reader = ProtobufDeserializer::new(Client::new(&server.url).expect("client"))
            .with_rules(rules());
        let read = reader.deserialize(&bytes).await.expect("decrypts");
        assert_eq!(read.encode_to_vec(), message.encode_to_vec());
    });
}

#[test]
fn deterministic_payload_encryption_and_dek_rotation() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let rules = || RuleConfig::default().param("secret", SECRET);
        // AES-SIV on a field: equal values encrypt equally.
        register(
            &client,
            "siv-value",
            ORDER,
            None,
            json!({"domainRules": [{"name": "siv", "kind": "TRANSFORM", "type": "ENCRYPT", "tags": ["PII"],
                "params": {"encrypt.kek.name": "kek-siv", "encrypt.kms.type": "local-kms",
                "encrypt.kms.key.id": "k", "encrypt.dek.algorithm": "AES256_SIV"}}]}),
        )
        .await;
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(rules())).expect("writer");
        let one = writer.serialize("siv", &order(1.0, "4111")).await.expect("encrypts");
        let two = writer.serialize("siv", &order(1.0, "4111")).await.expect("encrypts");
        assert_eq!(one, two, "deterministic");
        let reader = AvroDeserializer::new(client.clone(), None).expect("reader").with_rules(rules());
        assert_eq!(reader.deserialize(&one).await.expect("decrypts"), order(1.0, "4111"));

        // The whole payload, with rotation on: the ciphertext names the DEK version.
        register(
            &client,
            "sealed-value",
            ORDER,
            None,
            json!({"encodingRules": [{"name": "seal", "kind": "TRANSFORM", "type": "ENCRYPT_PAYLOAD",
                "params": {"encrypt.kek.name": "kek-sealed", "encrypt.kms.type": "local-kms",
                "encrypt.kms.key.id": "k", "encrypt.dek.expiry.days": "1"}}]}),
        )
        .await;
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(rules())).expect("writer");
        let bytes = writer.serialize("sealed", &order(2.0, "4111")).await.expect("seals");
        assert!(!contains(&bytes, b"sku-1"), "nothing of the record is readable");
        assert_eq!(&bytes[5..10], &[0, 0, 0, 0, 1], "version 1 of the DEK");
        let reader = AvroDeserializer::new(client.clone(), None).expect("reader").with_rules(rules());
        assert_eq!(reader.deserialize(&bytes).await.expect("opens"), order(2.0, "4111"));
        // A DEK older than the expiry: the next writer registers version 2 and uses it, and
        // events of version 1 still open.
        let old = client.dek("kek-sealed", "sealed-value", 1, "AES256_GCM", false).await.expect("dek");
        client
            .create_dek(
                "kek-sealed",
                "sealed-value",
                &covenant_client::api::CreateDekRequest {
                    subject: Some("sealed-value".into()),
                    version: Some(2),
                    algorithm: Some("AES256_GCM".into()),
                    encrypted_key_material: old.encrypted_key_material.clone(),
                    deleted: false,
                },
            )
            .await
            .expect("a second version");
        let writer = AvroSerializer::new(client.clone(), ORDER, vec![], config(rules())).expect("writer");
        let newer = writer.serialize("sealed", &order(3.0, "4111")).await.expect("seals");
        assert_eq!(&newer[5..10], &[0, 0, 0, 0, 2], "the latest DEK");
        let reader = AvroDeserializer::new(client.clone(), None).expect("reader").with_rules(rules());
        assert_eq!(reader.deserialize(&bytes).await.expect("opens v1"), order(2.0, "4111"));
        assert_eq!(reader.deserialize(&newer).await.expect("opens v2"), order(3.0, "4111"));
    });
}

#[test]
fn cel_in_json_and_protobuf() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let rule_set = json!({"domainRules": [
            {"name": "positive", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.amount > 0.0"},
            {"name": "cardDigits", "kind": "CONDITION", "mode": "WRITE", "type": "CEL_FIELD", "tags": ["PII"],
             "expr": "name != 'card' || value.matches('^[0-9]+$')"}
        ]});
        register(&client, "cj-value", ORDER_JSON, Some("JSON"), rule_set.clone()).await;
        let writer = JsonSerializer::new(client.clone(), ORDER_JSON, vec![], config(RuleConfig::default())).expect("writer");
        let good = json!({"id": "o", "amount": 1.5, "card": "4111", "lines": []});
        writer.serialize("cj", &good).await.expect("passes");
        let error = writer.serialize("cj", &json!({"id": "o", "amount": 1.5, "card": "41-11", "lines": []})).await.expect_err("refused");
        match &error {
            Error::Rule(rule) => {
                assert_eq!(rule.rule, "cardDigits");
                assert_eq!(rule.field.as_deref(), Some("$.card"));
            }
            other => panic!("{other}"),
        }
        writer.serialize("cj", &json!({"id": "o", "amount": -1, "card": "4111", "lines": []})).await.expect_err("negative");

        register(&client, "cp-value", ORDER_PROTO, Some("PROTOBUF"), rule_set).await;
        let compiled = ProtobufSchema::parse(ORDER_PROTO, &[]).expect("parses");
        let descriptor = compiled.pool().get_message_by_name("acme.Order").expect("Order");
        let message = |amount: f64, card: &str| {
            let mut m = DynamicMessage::new(descriptor.clone());
            m.set_field_by_name("amount", ProtoValue::F64(amount));
            m.set_field_by_name("card", ProtoValue::String(card.into()));
            m
        };
        let writer = ProtobufSerializer::new(client.clone(), config(RuleConfig::default()));
        writer.serialize("cp", &message(2.0, "4111")).await.expect("passes");
        let error = writer.serialize("cp", &message(2.0, "4x11")).await.expect_err("refused");
        assert!(matches!(&error, Error::Rule(r) if r.field.as_deref() == Some("acme.Order.card")), "{error}");
        writer.serialize("cp", &message(-2.0, "4111")).await.expect_err("negative");
        let reader = ProtobufDeserializer::new(client.clone());
        let bytes = writer.serialize("cp", &message(2.0, "4111")).await.expect("passes");
        let read = reader.deserialize(&bytes).await.expect("reads");
        assert_eq!(read.encode_to_vec(), message(2.0, "4111").encode_to_vec());
    });
}

/// `covenant rules test`: exit 0 when every event passes, 1 naming each failing event, rule,
/// field and expression, 2 for a line that is not JSON.
#[test]
fn the_rules_test_command_runs_a_subjects_rules_on_sample_events() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        register(
            &client,
            "ci-value",
            ORDER,
            None,
            json!({"domainRules": [
                {"name": "positiveAmount", "kind": "CONDITION", "mode": "WRITE", "type": "CEL",
                 "expr": "message.amount > 0.0"},
                {"name": "cardDigits", "kind": "CONDITION", "mode": "WRITEREAD", "type": "CEL_FIELD",
                 "tags": ["PII"], "expr": "name != 'card' || value.matches('^[0-9]+$')"},
                {"name": "encrypt", "kind": "TRANSFORM", "type": "ENCRYPT", "tags": ["PII"],
                 "params": {"encrypt.kek.name": "ci-kek", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"}}
            ]}),
        )
        .await;
    });
    let dir = tempfile::tempdir().expect("dir");
    let good = r#"{"id":"o-1","amount":5.0,"card":"4111","email":null,"lines":[]}"#;
    let negative = r#"{"id":"o-2","amount":-1.0,"card":"4111","email":null,"lines":[]}"#;
    let letters = r#"{"id":"o-3","amount":1.0,"card":"41x1","email":null,"lines":[]}"#;
    let run = |lines: &[&str], extra: &[&str]| {
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, lines.join("\n")).expect("writes");
        let output = std::process::Command::new(common::binary())
            .args([
                "rules",
                "test",
                "--registry",
                &server.url,
                "--subject",
                "ci-value",
            ])
            .args(extra)
            .arg(&path)
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = run(&[good, good], &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 event(s) pass"), "{stdout}");
    let (code, stdout, _) = run(&[good, negative, "", letters], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("event 2 (line 2): rule `positiveAmount`"),
        "{stdout}"
    );
    assert!(stdout.contains("message.amount > 0.0"), "{stdout}");
    assert!(
        stdout.contains("event 3 (line 4): rule `cardDigits`")
            && stdout.contains("at field `acme.Order.card`"),
        "{stdout}"
    );
    assert!(stdout.contains("2 of 3 event(s) fail"), "{stdout}");
    let (code, _, stderr) = run(&[good, "{not json"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("line 2 is not JSON"), "{stderr}");
    // Encryption runs only when asked, and then needs the KMS secret.
    let (code, stdout, _) = run(&[good], &["--encryption"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("rule `encrypt`") && stdout.contains("secret"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&[good], &["--encryption", "--param", "secret=s3cret"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "the secret is never echoed"
    );
}

#[test]
fn jsonata_migrations_along_a_chain_of_major_versions() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let ids = common::migrations::register_chain(&client, "people-value").await;
        let write = |id: i32| {
            AvroSerializer::new(
                client.clone(),
                V1,
                vec![],
                SerializerConfig {
                    auto_register: false,
                    use_schema_id: Some(id),
                    ..SerializerConfig::default()
                },
            )
            .expect("writer")
        };
        let v1_event = write(ids[0])
            .serialize_json("people", &json!({"name": "ada", "size": 17}))
            .await
            .expect("v1");
        let latest = AvroDeserializer::new(client.clone(), None)
            .expect("reader")
            .with_migration(covenant_client::serde::MigrationTarget::default());
        let read: Value = latest
            .deserialize_into(&v1_event)
            .await
            .expect("upgraded twice");
        assert_eq!(read, json!({"name": "ada", "heightMm": 170}));
        // The other way: a v3 event read as major version 1.
        let v3_event = write(ids[2])
            .serialize_json("people", &json!({"name": "bob", "heightMm": 1234}))
            .await
            .expect("v3");
        let major1 = AvroDeserializer::new(client.clone(), None)
            .expect("reader")
            .with_migration(covenant_client::serde::MigrationTarget {
                subject: None,
                metadata: Some(vec![("application.major.version".into(), "1".into())]),
            });
        let read: Value = major1
            .deserialize_into(&v3_event)
            .await
            .expect("downgraded twice");
        assert_eq!(read, json!({"name": "bob", "size": 123}));
        // An event of the target's own version is read as it is.
        let read: Value = latest
            .deserialize_into(&v3_event)
            .await
            .expect("as written");
        assert_eq!(read, json!({"name": "bob", "heightMm": 1234}));
    });
}
