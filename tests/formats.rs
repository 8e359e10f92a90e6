//! Issue 3: JSON Schema and Protobuf through the real binary: registration, references across
//! subjects, the renderings clients ask for, normalization and compatibility.

mod common;

use common::Server;
use serde_json::{json, Value};

fn register(server: &Server, subject: &str, body: Value) -> (u16, Value) {
    server.post(&format!("/subjects/{subject}/versions"), &body)
}

#[test]
fn all_three_types_are_listed() {
    let server = Server::start();
    assert_eq!(
        server.get("/schemas/types").1,
        json!(["JSON", "PROTOBUF", "AVRO"])
    );
}

#[test]
fn json_schema_with_references_across_subjects() {
    let server = Server::start();
    let address = json!({"type": "object", "properties": {"street": {"type": "string"}}, "required": ["street"]});
    let (status, body) = register(
        &server,
        "address",
        json!({"schema": address.to_string(), "schemaType": "JSON"}),
    );
    assert_eq!(status, 200, "{body}");
    let person = json!({"type": "object", "properties": {"name": {"type": "string"}, "home": {"$ref": "address.json"}}});
    let references = json!([{"name": "address.json", "subject": "address", "version": 1}]);
    let (status, body) = register(
        &server,
        "person",
        json!({"schema": person.to_string(), "schemaType": "JSON", "references": references}),
    );
    assert_eq!(status, 200, "{body}");
    let person_id = body["id"].as_i64().expect("id");
    let (_, latest) = server.get("/subjects/person/versions/latest");
    assert_eq!(latest["schemaType"], "JSON");
    assert_eq!(latest["references"], references);
    // An unresolvable $ref is refused, naming it; no network fetch is attempted.
    let (status, body) = register(
        &server,
        "person2",
        json!({"schema": person.to_string(), "schemaType": "JSON"}),
    );
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("address.json"),
        "{body}"
    );
    // A change inside the referenced schema is caught through the reference.
    server.put("/config/address", &json!({"compatibility": "NONE"}));
    let address_v2 = json!({"type": "object", "properties": {"street": {"type": "integer"}}, "required": ["street"]});
    register(
        &server,
        "address",
        json!({"schema": address_v2.to_string(), "schemaType": "JSON"}),
    );
    let (_, verdict) = server.post(
        "/compatibility/subjects/person/versions/latest?verbose=true",
        &json!({"schema": person.to_string(), "schemaType": "JSON", "references": [{"name": "address.json", "subject": "address", "version": 2}]}),
    );
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    assert!(
        verdict["messages"][0]
            .as_str()
            .expect("message")
            .contains("#/properties/home/properties/street"),
        "{verdict}"
    );
    // The referenced version is protected.
    assert_eq!(
        server.delete("/subjects/address/versions/1").1["error_code"],
        42206
    );
    assert_eq!(
        server.get("/subjects/address/versions/1/referencedby").1,
        json!([person_id])
    );
}

#[test]
fn json_schema_identity_normalization_and_policy() {
    let server = Server::start();
    let a =
        r#"{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false}"#;
    let pretty = "{\n  \"type\": \"object\",\n  \"properties\": { \"x\": { \"type\": \"string\" } },\n  \"additionalProperties\": false\n}";
    let reordered =
        r#"{"additionalProperties":false,"properties":{"x":{"type":"string"}},"type":"object"}"#;
    let id = register(&server, "j", json!({"schema": a, "schemaType": "JSON"})).1["id"].clone();
    // White space does not change identity; key order does unless normalize=true.
    assert_eq!(
        register(
            &server,
            "j",
            json!({"schema": pretty, "schemaType": "JSON"})
        )
        .1["id"],
        id
    );
    let (_, body) = server.post(
        "/subjects/j2/versions?normalize=true",
        &json!({"schema": a, "schemaType": "JSON"}),
    );
    let normalized_id = body["id"].clone();
    let (_, body) = server.post(
        "/subjects/j3/versions?normalize=true",
        &json!({"schema": reordered, "schemaType": "JSON"}),
    );
    assert_eq!(body["id"], normalized_id);
    // Adding an optional property to an open model: incompatible under STRICT, fine under LENIENT.
    let open_v1 = json!({"type": "object", "properties": {"a": {"type": "string"}}}).to_string();
    let open_v2 = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}).to_string();
    register(
        &server,
        "open",
        json!({"schema": open_v1, "schemaType": "JSON"}),
    );
    let (status, body) = register(
        &server,
        "open",
        json!({"schema": open_v2, "schemaType": "JSON"}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"),
        "{body}"
    );
    server.put("/config/open", &json!({"compatibilityPolicy": "LENIENT"}));
    assert_eq!(
        server.get("/config/open").1["compatibilityPolicy"],
        "LENIENT"
    );
    assert_eq!(
        register(
            &server,
            "open",
            json!({"schema": open_v2, "schemaType": "JSON"})
        )
        .0,
        200
    );
    assert_eq!(
        server
            .put("/config/open", &json!({"compatibilityPolicy": "SLOPPY"}))
            .1["error_code"],
        42203
    );
    // Invalid JSON Schemas are refused with the problem named.
    let (status, body) = register(
        &server,
        "bad",
        json!({"schema": r#"{"type": "strng"}"#, "schemaType": "JSON"}),
    );
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    assert!(
        body["message"].as_str().expect("message").contains("strng"),
        "{body}"
    );
}

const ADDRESS_PROTO: &str = "syntax = \"proto3\";\npackage geo;\n\nmessage Address {\n  string street = 1;\n  string city = 2;\n}\n";

fn person_proto() -> &'static str {
    "syntax = \"proto3\";\npackage people;\n\nimport \"geo/address.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\n// A person.\nmessage Person {\n  string name = 1;\n  geo.Address home = 2;\n  google.protobuf.Timestamp born = 3;\n}\n"
}

#[test]
fn protobuf_with_imports_across_subjects() {
    let server = Server::start();
    let (status, body) = register(
        &server,
        "geo%2Faddress.proto",
        json!({"schema": ADDRESS_PROTO, "schemaType": "PROTOBUF"}),
    );
    assert_eq!(status, 200, "{body}");
    let references =
        json!([{"name": "geo/address.proto", "subject": "geo/address.proto", "version": 1}]);
    let (status, body) = register(
        &server,
        "people-value",
        json!({"schema": person_proto(), "schemaType": "PROTOBUF", "references": references}),
    );
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().expect("id");
    // The stored text is the canonical print: comments gone, names qualified.
    let (_, latest) = server.get("/subjects/people-value/versions/latest");
    assert_eq!(latest["schemaType"], "PROTOBUF");
    let text = latest["schema"].as_str().expect("schema");
    assert!(!text.contains("A person"), "{text}");
    assert!(text.contains(".geo.Address home = 2;"), "{text}");
    // The serialized form (what confluent-kafka registers and reads back) gets the same id.
    let (_, serialized) = server.get(&format!("/schemas/ids/{id}?format=serialized"));
    let base64 = serialized["schema"].as_str().expect("base64").to_string();
    assert!(!base64.contains(' '), "{base64}");
    let (status, body) = register(
        &server,
        "people-copy",
        json!({"schema": base64, "schemaType": "PROTOBUF", "references": references}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"].as_i64(), Some(id));
    // A change in the imported file is caught through the reference.
    server.put(
        "/config/geo%2Faddress.proto",
        &json!({"compatibility": "NONE"}),
    );
    let address_v2 = ADDRESS_PROTO.replace("string city = 2;", "int64 city = 2;");
    register(
        &server,
        "geo%2Faddress.proto",
        json!({"schema": address_v2, "schemaType": "PROTOBUF"}),
    );
    let (_, verdict) = server.post(
        "/compatibility/subjects/people-value/versions/latest?verbose=true",
        &json!({"schema": person_proto(), "schemaType": "PROTOBUF", "references": [{"name": "geo/address.proto", "subject": "geo/address.proto", "version": 2}]}),
    );
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    let messages = verdict["messages"].to_string();
    assert!(
        messages.contains("FIELD_SCALAR_KIND_CHANGED") && messages.contains("#/Address/2"),
        "{messages}"
    );
    assert!(
        messages.contains("FIELD_NAMED_TYPE_CHANGED") && messages.contains("#/Person/2"),
        "{messages}"
    );
    // The imported version is protected; a missing import is named.
    assert_eq!(
        server.delete("/subjects/geo%2Faddress.proto/versions/1").1["error_code"],
        42206
    );
    let (status, body) = register(
        &server,
        "orphan",
        json!({"schema": person_proto(), "schemaType": "PROTOBUF"}),
    );
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("geo/address.proto"),
        "{body}"
    );
}

#[test]
fn protobuf_rules_renderings_and_errors() {
    let server = Server::start();
    let v1 = "syntax = \"proto3\";\nimport \"confluent/meta.proto\";\nmessage Order {\n  string id = 1 [(confluent.field_meta) = { doc: \"key\" }];\n  int32 quantity = 2;\n  extensions 100 to 200;\n}\n";
    let (status, body) = register(
        &server,
        "orders",
        json!({"schema": v1, "schemaType": "PROTOBUF"}),
    );
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().expect("id");
    let (_, plain) = server.get(&format!("/schemas/ids/{id}?format=ignore_extensions"));
    assert!(
        !plain["schema"]
            .as_str()
            .expect("text")
            .contains("extensions 100"),
        "{plain}"
    );
    // int32 -> int64 is wire compatible; int32 -> string is not.
    let v2 = v1.replace("int32 quantity", "int64 quantity");
    assert_eq!(
        register(
            &server,
            "orders",
            json!({"schema": v2, "schemaType": "PROTOBUF"})
        )
        .0,
        200
    );
    let v3 = v1.replace("int32 quantity", "string quantity");
    let (status, body) = register(
        &server,
        "orders",
        json!({"schema": v3, "schemaType": "PROTOBUF"}),
    );
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("FIELD_SCALAR_KIND_CHANGED") && message.contains("#/Order/2"),
        "{message}"
    );
    assert!(
        message.contains("oldSchema:'int64 quantity = 2;'"),
        "{message}"
    );
    // A located compiler error.
    let (status, body) = register(
        &server,
        "broken",
        json!({"schema": "syntax = \"proto3\";\nmessage M {\n  strin name = 1;\n}\n", "schemaType": "PROTOBUF"}),
    );
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    assert!(
        body["message"].as_str().expect("message").contains("strin"),
        "{body}"
    );
    // normalize=true: declaration order does not change identity.
    let a = "syntax = \"proto3\";\nmessage M { string a = 1; int32 b = 2; }\n";
    let b = "syntax = \"proto3\";\nmessage M { int32 b = 2; string a = 1; }\n";
    let (_, first) = server.post(
        "/subjects/n1/versions?normalize=true",
        &json!({"schema": a, "schemaType": "PROTOBUF"}),
    );
    let (_, second) = server.post(
        "/subjects/n2/versions?normalize=true",
        &json!({"schema": b, "schemaType": "PROTOBUF"}),
    );
    assert_eq!(first["id"], second["id"]);
}
