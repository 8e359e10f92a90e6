//! Issue 4: the client crate against the real registry binary: REST calls and their errors,
//! caching, and the serializers/deserializers of each format end to end.

mod common;

use apache_avro::types::Value as AvroValue;
use common::Server;
use covenant_client::api::{ConfigUpdateRequest, RegisterSchemaRequest};
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::serde::json::{JsonDeserializer, JsonSerializer};
use covenant_client::serde::protobuf::{ProtobufDeserializer, ProtobufSerializer};
use covenant_client::{Client, Error, SerializerConfig, SubjectNameStrategy, VersionSpec};
use covenant_core::protobuf::ProtobufSchema;
use covenant_core::schema::ResolvedReference;
use prost_reflect::{DynamicMessage, ReflectMessage, Value as ProtoValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

const USER_V1: &str = r#"{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#;
const USER_V2: &str = r#"{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"},{"name":"plan","type":"string","default":"free"}]}"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: i64,
    email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserV2 {
    id: i64,
    email: String,
    plan: String,
}

#[test]
fn rest_calls_keep_the_registry_error_codes() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let request = RegisterSchemaRequest {
            schema: Some(USER_V1.into()),
            ..Default::default()
        };
        let registered = client.register("users-value", &request, false).await.expect("registers");
        assert_eq!(registered.version, Some(1));
        assert_eq!(client.subjects(None, false).await.expect("subjects"), vec!["users-value"]);
        let version = client.version("users-value", VersionSpec::Latest, false).await.expect("latest");
        assert_eq!(version.id, registered.id);
        let error = client.versions("nobody", false).await.expect_err("unknown subject");
        assert_eq!(error.code(), Some(covenant_core::ErrorCode::SubjectNotFound));
        assert!(error.is_not_found());
        let bad = RegisterSchemaRequest {
            schema: Some(r#"{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"string"}]}"#.into()),
            ..Default::default()
        };
        let error = client.register("users-value", &bad, false).await.expect_err("incompatible");
        assert!(matches!(error, Error::Registry { status: 409, error_code: 409, .. }), "{error}");
        let verdict = client.check_compatibility("users-value", None, &bad, true).await.expect("checks");
        assert!(!verdict.is_compatible);
        client
            .set_config(Some("users-value"), &ConfigUpdateRequest { compatibility: Some("FULL".into()), ..Default::default() })
            .await
            .expect("config");
        assert_eq!(client.config(Some("users-value"), false).await.expect("config").compatibility_level.as_deref(), Some("FULL"));
        assert_eq!(client.id_subjects(registered.id, false).await.expect("subjects"), vec!["users-value"]);
        assert!(client.latest_with_metadata("users-value", &[("owner", "nobody")]).await.expect_err("no match").is_not_found());
        assert_eq!(client.schema_types().await.expect("types"), vec!["JSON", "PROTOBUF", "AVRO"]);
        assert_eq!(client.set_mode(Some("users-value"), "READONLY", false).await.expect("mode"), "READONLY");
        assert_eq!(client.delete_mode(Some("users-value")).await.expect("mode"), "READONLY");
    });
    // The blocking facade works without a runtime of the caller's.
    let blocking =
        covenant_client::blocking::Client::new(Client::new(&server.url).expect("client"))
            .expect("blocking");
    assert_eq!(blocking.subjects().expect("subjects"), vec!["users-value"]);
}

#[test]
fn a_steady_state_producer_makes_no_http_call_per_event() {
    let mut server = Server::start();
    let rt = runtime();
    let client = Client::new(&server.url).expect("client");
    let serializer =
        AvroSerializer::new(client.clone(), USER_V1, vec![], SerializerConfig::default())
            .expect("serializer");
    let deserializer = AvroDeserializer::new(client, None).expect("deserializer");
    let user = User {
        id: 1,
        email: "a@example.com".into(),
    };
    let bytes = rt
        .block_on(serializer.serialize_serde("users", &user))
        .expect("serializes");
    assert_eq!(
        rt.block_on(deserializer.deserialize_into::<User>(&bytes))
            .expect("deserializes"),
        user
    );
    // With the registry gone, cached schemas keep both sides working.
    server.kill();
    for id in 0..100 {
        let user = User {
            id,
            email: format!("{id}@example.com"),
        };
        let bytes = rt
            .block_on(serializer.serialize_serde("users", &user))
            .expect("serializes from cache");
        assert_eq!(
            rt.block_on(deserializer.deserialize_into::<User>(&bytes))
                .expect("from cache"),
            user
        );
    }
}

#[test]
fn avro_round_trip_reader_schema_and_validation() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let v1 = AvroSerializer::new(client.clone(), USER_V1, vec![], SerializerConfig::default())
            .expect("v1");
        let old_event = v1
            .serialize_serde(
                "users",
                &User {
                    id: 7,
                    email: "old@example.com".into(),
                },
            )
            .await
            .expect("v1 event");
        assert_eq!(old_event[0], 0, "magic byte");
        // The producer moves to v2 (compatible: a field with a default).
        let v2 = AvroSerializer::new(client.clone(), USER_V2, vec![], SerializerConfig::default())
            .expect("v2");
        let new_event = v2
            .serialize_serde(
                "users",
                &UserV2 {
                    id: 8,
                    email: "new@example.com".into(),
                    plan: "pro".into(),
                },
            )
            .await
            .expect("v2 event");
        assert_ne!(old_event[1..5], new_event[1..5], "a new schema id");
        // A consumer with the v2 reader schema reads both: the old event gets the default.
        let reader = AvroDeserializer::new(client.clone(), Some(USER_V2)).expect("reader");
        let old: UserV2 = reader
            .deserialize_into(&old_event)
            .await
            .expect("old event");
        assert_eq!(
            old,
            UserV2 {
                id: 7,
                email: "old@example.com".into(),
                plan: "free".into()
            }
        );
        let new: UserV2 = reader
            .deserialize_into(&new_event)
            .await
            .expect("new event");
        assert_eq!(new.plan, "pro");
        // A value that does not fit is refused before any byte is produced.
        let bad = AvroValue::Record(vec![
            ("id".into(), AvroValue::Long(1)),
            ("email".into(), AvroValue::Boolean(true)),
        ]);
        match v1.serialize("users", &bad).await {
            Err(Error::Validation { path, reason, .. }) => {
                assert_eq!(path, "/email");
                assert!(reason.contains("expected string"), "{reason}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
        // Malformed payloads are errors, never panics.
        for payload in [
            &b""[..],
            &[7, 0, 0, 0, 1][..],
            &[0, 0][..],
            &[0, 0, 0, 0, 99, 1, 2][..],
        ] {
            assert!(reader.deserialize(payload).await.is_err(), "{payload:?}");
        }
        // The record-name strategy uses the record's full name.
        let config = SerializerConfig {
            subject_name_strategy: SubjectNameStrategy::RecordName,
            ..Default::default()
        };
        let by_record =
            AvroSerializer::new(client.clone(), USER_V1, vec![], config).expect("serializer");
        by_record
            .serialize_serde(
                "anything",
                &User {
                    id: 1,
                    email: "x".into(),
                },
            )
            .await
            .expect("serializes");
        assert!(client
            .subjects(None, false)
            .await
            .expect("subjects")
            .contains(&"acme.User".to_string()));
        // Without auto-registration an unknown schema is an error naming the subject.
        let config = SerializerConfig {
            auto_register: false,
            ..Default::default()
        };
        let strict = AvroSerializer::new(
            client.clone(),
            r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}"#,
            vec![],
            config,
        )
        .expect("serializer");
        let error = strict
            .serialize(
                "other",
                &AvroValue::Record(vec![("x".into(), AvroValue::Int(1))]),
            )
            .await
            .expect_err("not registered");
        assert!(error.is_not_found(), "{error}");
        // use_latest_version writes with the subject's latest schema.
        let config = SerializerConfig {
            use_latest_version: true,
            auto_register: false,
            ..Default::default()
        };
        let latest =
            AvroSerializer::new(client.clone(), USER_V2, vec![], config).expect("serializer");
        let bytes = latest
            .serialize_serde(
                "users",
                &UserV2 {
                    id: 9,
                    email: "l@example.com".into(),
                    plan: "team".into(),
                },
            )
            .await
            .expect("serializes");
        assert_eq!(bytes[1..5], new_event[1..5]);
    });
}

#[test]
fn json_schema_round_trip_and_validation() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let schema = json!({"title": "Order", "type": "object", "properties": {"id": {"type": "integer"}, "total": {"type": "number", "minimum": 0}}, "required": ["id"]});
        let serializer = JsonSerializer::new(client.clone(), &schema.to_string(), vec![], SerializerConfig::default()).expect("serializer");
        let deserializer = JsonDeserializer::new(client.clone(), None).expect("deserializer");
        let order = json!({"id": 1, "total": 9.5});
        let bytes = serializer.serialize("orders", &order).await.expect("serializes");
        assert_eq!(&bytes[5..], order.to_string().as_bytes());
        assert_eq!(deserializer.deserialize(&bytes).await.expect("deserializes"), order);
        match serializer.serialize("orders", &json!({"id": 1, "total": -3})).await {
            Err(Error::Validation { path, reason, .. }) => {
                assert_eq!(path, "/total");
                assert!(reason.contains("minimum") || reason.contains("less than"), "{reason}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
        // A consumer with a stricter reader schema refuses what it cannot accept.
        let reader_schema = json!({"type": "object", "required": ["id", "currency"]}).to_string();
        let reader = JsonDeserializer::new(client.clone(), Some(&reader_schema)).expect("reader");
        assert!(matches!(reader.deserialize(&bytes).await, Err(Error::Validation { .. })));
    });
}

#[test]
fn protobuf_round_trip_with_an_imported_file() {
    let server = Server::start();
    let money = "syntax = \"proto3\";\npackage shop.common;\nmessage Money { string currency = 1; int64 units = 2; }\n";
    let order = "syntax = \"proto3\";\npackage shop;\nimport \"shop/common/money.proto\";\nmessage Order { string id = 1; shop.common.Money total = 2; repeated string items = 3; }\nmessage Refund { string order_id = 1; }\n";
    let schema = ProtobufSchema::parse(
        order,
        &[ResolvedReference {
            name: "shop/common/money.proto",
            schema: money,
        }],
    )
    .expect("compiles");
    let pool = schema.pool().clone();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let serializer = ProtobufSerializer::new(client.clone(), SerializerConfig::default());
        let deserializer = ProtobufDeserializer::new(client.clone());
        let refund_descriptor = pool.get_message_by_name("shop.Refund").expect("Refund");
        let mut refund = DynamicMessage::new(refund_descriptor);
        refund.set_field_by_name("order_id", ProtoValue::String("o-1".into()));
        let bytes = serializer
            .serialize("refunds", &refund)
            .await
            .expect("serializes");
        // Refund is the second top-level message: indexes [1] = count 1, index 1 (zig-zag 2, 2).
        assert_eq!(&bytes[5..7], &[2, 2]);
        let back = deserializer
            .deserialize(&bytes)
            .await
            .expect("deserializes");
        assert_eq!(back.descriptor().full_name(), "shop.Refund");
        assert_eq!(
            back.get_field_by_name("order_id").expect("field").as_str(),
            Some("o-1")
        );
        // The imported file was registered under its import path, and referenced.
        let subjects = client.subjects(None, false).await.expect("subjects");
        assert!(
            subjects.contains(&"shop/common/money.proto".to_string()),
            "{subjects:?}"
        );
        let latest = client
            .version("refunds-value", VersionSpec::Latest, false)
            .await
            .expect("latest");
        assert_eq!(latest.references[0].name, "shop/common/money.proto");
        // The first message is written with the single byte 0.
        let mut order_message =
            DynamicMessage::new(pool.get_message_by_name("shop.Order").expect("Order"));
        order_message.set_field_by_name("id", ProtoValue::String("o-2".into()));
        let bytes = serializer
            .serialize("orders", &order_message)
            .await
            .expect("serializes");
        assert_eq!(bytes[5], 0);
        let back = deserializer
            .deserialize(&bytes)
            .await
            .expect("deserializes");
        assert_eq!(back.descriptor().full_name(), "shop.Order");
        assert_eq!(
            prost::Message::encode_to_vec(&back),
            prost::Message::encode_to_vec(&order_message)
        );
        // Two message types from different files on one topic (TopicName): each event is
        // framed with its own file's id and decodes as its own type.
        client
            .set_config(
                Some("mixed-value"),
                &ConfigUpdateRequest {
                    compatibility: Some("NONE".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("config");
        let mut money_message = DynamicMessage::new(
            pool.get_message_by_name("shop.common.Money")
                .expect("Money"),
        );
        money_message.set_field_by_name("currency", ProtoValue::String("EUR".into()));
        for (message, name) in [
            (&refund, "shop.Refund"),
            (&money_message, "shop.common.Money"),
            (&refund, "shop.Refund"),
        ] {
            let bytes = serializer
                .serialize("mixed", message)
                .await
                .expect("serializes");
            let back = deserializer
                .deserialize(&bytes)
                .await
                .expect("deserializes");
            assert_eq!(back.descriptor().full_name(), name);
            assert_eq!(
                prost::Message::encode_to_vec(&back),
                prost::Message::encode_to_vec(message)
            );
        }
        assert_eq!(
            client
                .versions("mixed-value", false)
                .await
                .expect("versions"),
            vec![1, 2]
        );
    });
}

/// Payloads framed with the schema's GUID (magic byte 1) decode like id-framed ones, and the
/// GUID's schema is fetched once.
#[test]
fn guid_framed_payloads_decode() {
    let mut server = Server::start();
    let rt = runtime();
    let client = Client::new(&server.url).expect("client");
    let avro = AvroSerializer::new(client.clone(), USER_V1, vec![], SerializerConfig::default())
        .expect("serializer");
    let json_schema = json!({"title": "Ping", "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let json_serializer = JsonSerializer::new(
        client.clone(),
        &json_schema.to_string(),
        vec![],
        SerializerConfig::default(),
    )
    .expect("serializer");
    let user = User {
        id: 7,
        email: "g@example.com".into(),
    };
    let ping = json!({"n": 3});
    let (avro_bytes, json_bytes) = rt.block_on(async {
        (
            avro.serialize_serde("users", &user)
                .await
                .expect("serializes"),
            json_serializer
                .serialize("pings", &ping)
                .await
                .expect("serializes"),
        )
    });
    let guid_frame = |bytes: &[u8]| {
        let id = i32::from_be_bytes(bytes[1..5].try_into().expect("id"));
        let guid = server.get(&format!("/schemas/ids/{id}")).1["guid"]
            .as_str()
            .expect("guid")
            .replace('-', "");
        let mut framed = vec![1u8];
        framed
            .extend((0..16).map(|i| u8::from_str_radix(&guid[2 * i..2 * i + 2], 16).expect("hex")));
        framed.extend_from_slice(&bytes[5..]);
        framed
    };
    let (avro_guid, json_guid) = (guid_frame(&avro_bytes), guid_frame(&json_bytes));
    let avro_reader = AvroDeserializer::new(client.clone(), None).expect("deserializer");
    let json_reader = JsonDeserializer::new(client, None).expect("deserializer");
    let decode = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            assert_eq!(
                avro_reader
                    .deserialize_into::<User>(&avro_guid)
                    .await
                    .expect("avro"),
                user
            );
            assert_eq!(
                json_reader.deserialize(&json_guid).await.expect("json"),
                ping
            );
        })
    };
    decode(&rt);
    // Cached: the registry is no longer needed.
    server.kill();
    decode(&rt);
}

/// Issue 9: a `use_latest_version` producer picks up a newer latest version once its cache's
/// time to live has passed (it used to keep the first one for its whole life).
#[test]
fn use_latest_version_picks_up_a_new_version_after_its_ttl() {
    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let register = |schema: &'static str| {
            let client = client.clone();
            async move {
                let request = RegisterSchemaRequest {
                    schema: Some(schema.into()),
                    ..Default::default()
                };
                client
                    .register("users-value", &request, false)
                    .await
                    .expect("registers")
                    .id
            }
        };
        let first = register(USER_V1).await;
        let ttl = std::time::Duration::from_millis(300);
        let config = SerializerConfig {
            use_latest_version: true,
            auto_register: false,
            latest_cache_ttl: Some(ttl),
            ..Default::default()
        };
        let serializer =
            AvroSerializer::new(client.clone(), USER_V2, vec![], config).expect("serializer");
        let user = User {
            id: 1,
            email: "a@example.com".into(),
        };
        let id_of = |bytes: Vec<u8>| i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        assert_eq!(
            id_of(
                serializer
                    .serialize_serde("users", &user)
                    .await
                    .expect("v1")
            ),
            first
        );
        let second = register(USER_V2).await;
        assert_ne!(first, second);
        // Within the time to live the serializer keeps writing with what it found.
        assert_eq!(
            id_of(
                serializer
                    .serialize_serde("users", &user)
                    .await
                    .expect("cached")
            ),
            first
        );
        tokio::time::sleep(ttl * 2).await;
        assert_eq!(
            id_of(
                serializer
                    .serialize_serde("users", &user)
                    .await
                    .expect("refreshed")
            ),
            second,
            "after the time to live the new latest version is used"
        );
    });
}

/// Issue 9: every serializer runs its hooks after validation and before encoding, with the
/// registered writer schema (metadata included) at hand, and every deserializer after decoding.
#[test]
fn hooks_run_between_validation_and_encoding_with_the_registered_contract() {
    use covenant_client::serde::{Hook, HookContext};
    use std::sync::Arc;

    /// Refuses emails without `@`, and records the owner the contract names.
    struct NoBadEmails(std::sync::Mutex<Vec<String>>);
    impl Hook<AvroValue> for NoBadEmails {
        fn on_write(
            &self,
            context: &HookContext<'_>,
            value: &mut AvroValue,
        ) -> covenant_client::Result<()> {
            let owner = context
                .schema
                .metadata
                .as_ref()
                .and_then(|m| m["properties"]["owner"].as_str())
                .unwrap_or("nobody")
                .to_string();
            self.0.lock().expect("lock").push(owner);
            if let AvroValue::Record(fields) = value {
                for (name, field) in fields.iter_mut() {
                    if let (true, AvroValue::String(text)) = (name == "email", field) {
                        if !text.contains('@') {
                            return Err(Error::Validation {
                                schema: "hook".into(),
                                path: "/email".into(),
                                reason: "not an email".into(),
                            });
                        }
                        *text = text.to_lowercase();
                    }
                }
            }
            Ok(())
        }
        fn on_read(
            &self,
            _: &HookContext<'_>,
            value: &mut AvroValue,
        ) -> covenant_client::Result<()> {
            if let AvroValue::Record(fields) = value {
                fields.push(("read".into(), AvroValue::Boolean(true)));
            }
            Ok(())
        }
    }

    let server = Server::start();
    runtime().block_on(async {
        let client = Client::new(&server.url).expect("client");
        let hook = Arc::new(NoBadEmails(std::sync::Mutex::new(Vec::new())));
        let config = SerializerConfig {
            metadata: Some(json!({"properties": {"owner": "team-a"}})),
            ..Default::default()
        };
        let serializer = AvroSerializer::new(client.clone(), USER_V1, vec![], config)
            .expect("serializer")
            .with_hook(hook.clone());
        // An event that does not fit the schema never reaches the hook.
        let invalid = AvroValue::Record(vec![("id".into(), AvroValue::String("x".into()))]);
        assert!(serializer.serialize("users", &invalid).await.is_err());
        assert!(
            hook.0.lock().expect("lock").is_empty(),
            "validation runs first"
        );
        let bad = User {
            id: 1,
            email: "nope".into(),
        };
        match serializer.serialize_serde("users", &bad).await {
            Err(Error::Validation { path, .. }) => assert_eq!(path, "/email"),
            other => panic!("the hook refuses it: {other:?}"),
        }
        let good = User {
            id: 2,
            email: "Ann@Example.com".into(),
        };
        let bytes = serializer
            .serialize_serde("users", &good)
            .await
            .expect("serializes");
        // The registered contract (auto-registered with its metadata) reached the hook.
        assert_eq!(
            hook.0.lock().expect("lock").last().map(String::as_str),
            Some("team-a")
        );
        let registered = client.latest("users-value").await.expect("latest");
        assert_eq!(
            registered.metadata,
            Some(json!({"properties": {"owner": "team-a"}}))
        );
        // The hook's change was encoded.
        let plain = AvroDeserializer::new(client.clone(), None).expect("deserializer");
        let read: User = plain.deserialize_into(&bytes).await.expect("reads");
        assert_eq!(read.email, "ann@example.com");
        let hooked = AvroDeserializer::new(client.clone(), None)
            .expect("deserializer")
            .with_hook(hook.clone());
        match hooked.deserialize(&bytes).await.expect("reads") {
            AvroValue::Record(fields) => assert!(fields.iter().any(|(name, _)| name == "read")),
            other => panic!("a record: {other:?}"),
        }
    });
}
