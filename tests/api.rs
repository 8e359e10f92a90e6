//! Black-box tests of the REST API: the real `covenant` binary, real HTTP.

mod common;

use common::{encode, record, Options, Server};
use serde_json::{json, Value};

const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;

fn v2() -> String {
    record("User", &["id:long", "email:string=\"\""])
}

#[test]
fn health_metadata_and_types() {
    let server = Server::start();
    assert_eq!(server.get("/"), (200, json!({})));
    assert_eq!(server.post("/", &json!({"a": 1})), (200, json!({})));
    let (status, body) = server.get("/v1/metadata/id");
    assert_eq!(status, 200);
    assert!(
        body["scope"]["clusters"]["schema-registry-cluster"].is_string(),
        "{body}"
    );
    let (status, body) = server.get("/v1/metadata/version");
    assert_eq!(status, 200);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let (status, body) = server.get("/schemas/types");
    assert_eq!(status, 200);
    assert!(body.as_array().expect("a list").contains(&json!("AVRO")));
}

#[test]
fn same_schema_same_id_whatever_its_formatting() {
    let server = Server::start();
    let compact = server.register_ok("a-value", V1);
    // Pretty-printed, keys reordered: the same schema.
    let pretty = "{\n  \"fields\": [ {\"type\": \"long\", \"name\": \"id\"} ],\n  \"name\": \"User\",\n  \"type\": \"record\"\n}";
    let (status, body) = server.register("a-value", pretty);
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_i64(), Some(compact));
    assert_eq!(
        body["version"], 1,
        "no new version for a schema already in the subject"
    );
    // Under another subject: same id, version 1 there.
    let (status, body) = server.register("b-value", pretty);
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_i64(), Some(compact));
    assert_eq!(body["version"], 1);
    // The stored text is the canonical form, and Avro responses omit schemaType.
    let (_, by_id) = server.get(&format!("/schemas/ids/{compact}"));
    assert_eq!(by_id["schema"], V1);
    assert!(by_id.get("schemaType").is_none(), "{by_id}");
    assert_eq!(server.get("/subjects/a-value/versions"), (200, json!([1])));
    let (_, subjects) = server.get(&format!("/schemas/ids/{compact}/subjects"));
    assert_eq!(subjects, json!(["a-value", "b-value"]));
    let (_, versions) = server.get(&format!("/schemas/ids/{compact}/versions"));
    assert_eq!(
        versions,
        json!([{"subject": "a-value", "version": 1}, {"subject": "b-value", "version": 1}])
    );
}

/// Bodies are read straight into their request type when they can be, and through a JSON value
/// otherwise: the answers are the same either way. A repeated member counts once, its last
/// value (as Jackson reads it in Confluent's registry), and a body that is not an object is
/// refused however it is spelled.
#[test]
fn request_bodies_read_the_same_on_either_path() {
    let server = Server::start();
    let json = [("Content-Type", "application/vnd.schemaregistry.v1+json")];
    let repeated = format!(
        r#"{{"schema": "\"string\"", "schema": {}}}"#,
        serde_json::to_string(V1).expect("json")
    );
    let (status, body, _) = server.raw(
        "POST",
        "/subjects/repeated/versions",
        &json,
        Some(repeated.into_bytes()),
    );
    assert_eq!(status, 200, "{body}");
    let (_, latest) = server.get("/subjects/repeated/versions/latest");
    assert_eq!(latest["schema"], V1);
    for (spelled, status, code, says) in [
        ("[]", 400, 400, "must be a JSON object, not an array"),
        ("  \"a\"", 400, 400, "must be a JSON object, not a string"),
        ("null", 422, 422, "the request body is empty"),
        ("   ", 422, 422, "the request body is empty"),
        (r#"{"schema": 1}"#, 422, 42201, "Invalid schema"),
        (
            r#"{"schema": "\"int\"", "extra": 1} trailing"#,
            400,
            400,
            "not valid JSON: trailing characters",
        ),
    ] {
        let (got, body, _) = server.raw(
            "POST",
            "/subjects/shapes/versions",
            &json,
            Some(spelled.as_bytes().to_vec()),
        );
        assert_eq!(got, status, "{spelled}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(body["error_code"], code, "{spelled}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(says)),
            "{spelled}: {body}"
        );
    }
}

#[test]
fn register_response_carries_the_current_fields() {
    let server = Server::start();
    let (status, body) = server.post(
        "/subjects/r/versions",
        &json!({"schema": V1, "schemaType": "AVRO", "references": [],
                "metadata": {"properties": {"owner": "team-a"}},
                "ruleSet": {"domainRules": [{"name": "r", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "true"}]}}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].is_i64());
    assert_eq!(body["version"], 1);
    assert!(body["guid"].is_string());
    assert_eq!(body["schema"], V1);
    assert_eq!(body["metadata"]["properties"]["owner"], "team-a");
    // Metadata and rules come back as given.
    let (_, latest) = server.get("/subjects/r/versions/latest");
    assert_eq!(
        latest["metadata"],
        json!({"properties": {"owner": "team-a"}})
    );
    assert_eq!(latest["ruleSet"]["domainRules"][0]["name"], "r");
    let (_, by_guid) = server.get(&format!(
        "/schemas/guids/{}",
        body["guid"].as_str().expect("guid")
    ));
    assert_eq!(by_guid["schema"], V1);
}

#[test]
fn versions_are_never_reused() {
    let server = Server::start();
    server.put("/config/v", &json!({"compatibility": "NONE"}));
    server.register_ok("v", V1);
    server.register_ok("v", &v2());
    assert_eq!(server.delete("/subjects/v/versions/2"), (200, json!(2)));
    assert_eq!(
        server.delete("/subjects/v/versions/2?permanent=true"),
        (200, json!(2))
    );
    let (_, body) = server.register("v", r#""string""#);
    assert_eq!(
        body["version"], 3,
        "version 2 was used once and is not reused"
    );
    // Delete the whole subject for good, register again: versions continue.
    server.delete("/subjects/v");
    server.delete("/subjects/v?permanent=true");
    assert_eq!(server.get("/subjects/v/versions").0, 404);
    let (_, body) = server.register("v", r#""int""#);
    assert_eq!(body["version"], 4);
}

#[test]
fn soft_and_permanent_deletes_with_listings() {
    let server = Server::start();
    server.register_ok("d", V1);
    server.register_ok("d", &v2());
    server.register_ok("other", V1);
    assert_eq!(
        server.delete("/subjects/d/versions/1?permanent=true").1["error_code"],
        40407
    );
    assert_eq!(server.delete("/subjects/d/versions/1"), (200, json!(1)));
    assert_eq!(
        server.delete("/subjects/d/versions/1").1["error_code"],
        40406
    );
    assert_eq!(server.get("/subjects/d/versions/1").1["error_code"], 40402);
    assert_eq!(
        server.get("/subjects/d/versions/1?deleted=true").1["version"],
        1
    );
    assert_eq!(
        server.get("/subjects/d/versions?deleted=true").1,
        json!([1, 2])
    );
    assert_eq!(
        server.get("/subjects/d/versions?deletedOnly=true").1,
        json!([1])
    );
    assert_eq!(
        server
            .get("/subjects/d/versions?deletedAsNegative=true&deleted=true")
            .1,
        json!([-1, 2])
    );
    assert_eq!(
        server.delete("/subjects/d?permanent=true").1["error_code"],
        40405
    );
    assert_eq!(server.delete("/subjects/d"), (200, json!([2])));
    assert_eq!(server.delete("/subjects/d").1["error_code"], 40404);
    assert_eq!(
        server.get("/subjects/d/versions/latest").1["error_code"],
        40401
    );
    assert_eq!(server.get("/subjects").1, json!(["other"]));
    assert_eq!(
        server.get("/subjects?deleted=true").1,
        json!(["d", "other"])
    );
    assert_eq!(server.get("/subjects?deletedOnly=true").1, json!(["d"]));
    // A soft-deleted subject's versions no longer count for compatibility.
    let incompatible = record("User", &["id:string"]);
    server.put("/config/d", &json!({"compatibility": "BACKWARD"}));
    assert_eq!(server.register("d", &incompatible).0, 200);
    server.delete("/subjects/d");
    assert_eq!(
        server.delete("/subjects/d?permanent=true"),
        (200, json!([1, 2, 3]))
    );
    assert_eq!(
        server.get("/subjects/d/versions?deleted=true").1["error_code"],
        40401
    );
    assert_eq!(server.delete("/subjects/never").1["error_code"], 40401);
    assert_eq!(
        server.delete("/subjects/other/versions/9").1["error_code"],
        40402
    );
}

#[test]
fn schema_by_id_disappears_only_when_no_version_uses_it() {
    let server = Server::start();
    let id = server.register_ok("x", V1);
    server.register_ok("y", V1);
    server.delete("/subjects/x");
    server.delete("/subjects/x?permanent=true");
    assert_eq!(server.get(&format!("/schemas/ids/{id}")).0, 200);
    server.delete("/subjects/y");
    // Soft-deleted versions still hold it.
    assert_eq!(server.get(&format!("/schemas/ids/{id}")).0, 200);
    server.delete("/subjects/y?permanent=true");
    assert_eq!(
        server.get(&format!("/schemas/ids/{id}")).1["error_code"],
        40403
    );
    // The same content registered again gets its old id back: ids are never reassigned.
    assert_eq!(server.register_ok("z", V1), id);
}

#[test]
fn lookup_under_a_subject() {
    let server = Server::start();
    let id = server.register_ok("l", V1);
    let (status, body) = server.post("/subjects/l", &json!({"schema": V1}));
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_i64(), Some(id));
    assert_eq!(body["version"], 1);
    assert_eq!(body["subject"], "l");
    assert_eq!(
        server.post("/subjects/l", &json!({"schema": "\"int\""})).1["error_code"],
        40403
    );
    assert_eq!(
        server.post("/subjects/nope", &json!({"schema": V1})).1["error_code"],
        40401
    );
    assert_eq!(
        server.post("/subjects/l", &json!({"schema": "{"})).1["error_code"],
        42201
    );
    server.delete("/subjects/l");
    assert_eq!(
        server.post("/subjects/l", &json!({"schema": V1})).1["error_code"],
        40401
    );
    assert_eq!(
        server
            .post("/subjects/l?deleted=true", &json!({"schema": V1}))
            .0,
        200
    );
}

#[test]
fn incompatible_registration_says_where_and_why() {
    let server = Server::start();
    server.register_ok("c", V1);
    let breaking = record("User", &["id:long", "email:string"]);
    let (status, body) = server.register("c", &breaking);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error_code"], 409);
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{message}"
    );
    assert!(message.contains("/fields/1"), "{message}");
    assert!(
        message.contains("add a default to field `email`"),
        "{message}"
    );
    assert!(message.contains("version:'1'"), "{message}");
    assert!(message.contains("compatibility: 'BACKWARD'"), "{message}");
    // verbose check: the same findings as a list
    let (status, body) = server.post(
        "/compatibility/subjects/c/versions/latest?verbose=true",
        &json!({"schema": breaking}),
    );
    assert_eq!(status, 200);
    assert_eq!(body["is_compatible"], false);
    let messages = body["messages"].as_array().expect("messages");
    assert!(
        messages[0].as_str().expect("text").contains("oldSchema:"),
        "{messages:?}"
    );
    // without verbose: no messages member
    let (_, body) = server.post(
        "/compatibility/subjects/c/versions/latest",
        &json!({"schema": breaking}),
    );
    assert_eq!(body, json!({"is_compatible": false}));
}

#[test]
fn incompatible_error_code_can_be_40901() {
    let server = Server::start_with(Options {
        args: vec!["--incompatible-error-code".into(), "40901".into()],
        ..Options::default()
    });
    server.register_ok("c", V1);
    let (status, body) = server.register("c", &record("User", &["id:string"]));
    assert_eq!(status, 409);
    assert_eq!(body["error_code"], 40901);
}

#[test]
fn transitive_levels_check_every_live_version() {
    let server = Server::start();
    server.put("/config/t", &json!({"compatibility": "NONE"}));
    server.register_ok("t", &record("R", &["a:int"]));
    server.register_ok("t", &record("R", &["b:int=0"]));
    let candidate = record("R", &["b:int=0", "a:int"]);
    // Against the latest only, `a` without a default is fine only if the latest has `a`.
    server.put("/config/t", &json!({"compatibility": "FORWARD"}));
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/t/versions",
                &json!({"schema": candidate})
            )
            .1["is_compatible"],
        true
    );
    server.put("/config/t", &json!({"compatibility": "BACKWARD"}));
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/t/versions",
                &json!({"schema": candidate})
            )
            .1["is_compatible"],
        false
    );
    server.put(
        "/config/t",
        &json!({"compatibility": "BACKWARD_TRANSITIVE"}),
    );
    let new_reads_v1_only = record("R", &["a:int", "c:int=1"]);
    // BACKWARD_TRANSITIVE: it must read v2 (no `a` there) as well.
    let (_, body) = server.post(
        "/compatibility/subjects/t/versions?verbose=true",
        &json!({"schema": new_reads_v1_only}),
    );
    assert_eq!(body["is_compatible"], false, "{body}");
    // The single-version endpoint never expands transitively: against v1 it is fine.
    let (_, body) = server.post(
        "/compatibility/subjects/t/versions/1",
        &json!({"schema": new_reads_v1_only}),
    );
    assert_eq!(body["is_compatible"], true, "{body}");
    // Soft-deleting v2 takes it out of the history.
    server.delete("/subjects/t/versions/2");
    assert_eq!(server.register("t", &new_reads_v1_only).0, 200);
}

#[test]
fn compatibility_endpoint_edge_cases() {
    let server = Server::start();
    // `latest` of an unknown subject is compatible; an explicit version is 40401.
    assert_eq!(
        server.post(
            "/compatibility/subjects/none/versions/latest",
            &json!({"schema": V1})
        ),
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/none/versions/1",
                &json!({"schema": V1})
            )
            .1["error_code"],
        40401
    );
    server.register_ok("e", V1);
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/e/versions/7",
                &json!({"schema": V1})
            )
            .1["error_code"],
        40402
    );
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/e/versions/zero",
                &json!({"schema": V1})
            )
            .1["error_code"],
        42202
    );
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/e/versions/latest",
                &json!({"schema": "{"})
            )
            .1["error_code"],
        42201
    );
    let (status, body) = server.post(
        "/compatibility/subjects/e/versions/latest?verbose=true",
        &json!({"schema": "{"}),
    );
    assert_eq!(status, 200);
    assert_eq!(body["is_compatible"], false);
    assert!(
        body["messages"][0]
            .as_str()
            .expect("message")
            .contains("JSON"),
        "{body}"
    );
}

#[test]
fn config_levels_and_resolution() {
    let server = Server::start();
    assert_eq!(
        server.get("/config").1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    assert_eq!(server.get("/config/s").1["error_code"], 40408);
    assert_eq!(
        server.get("/config/s?defaultToGlobal=true").1["compatibilityLevel"],
        "BACKWARD"
    );
    // A subject with no schemas can be configured ahead of time.
    assert_eq!(
        server.put("/config/s", &json!({"compatibility": "full"})),
        (200, json!({"compatibility": "FULL"}))
    );
    assert_eq!(
        server.get("/config/s").1,
        json!({"compatibilityLevel": "FULL"})
    );
    // Keys merge: setting normalize keeps the level.
    assert_eq!(
        server.put("/config/s", &json!({"normalize": true})).1,
        json!({"compatibility": "FULL", "normalize": true})
    );
    assert_eq!(
        server.put("/config", &json!({"compatibility": "NOPE"})).1["error_code"],
        42203
    );
    assert_eq!(
        server.put("/config", &json!({"compatibility": "NONE"})).1,
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        server.get("/config/other?defaultToGlobal=true").1["compatibilityLevel"],
        "NONE"
    );
    assert_eq!(server.delete("/config/s").1["compatibilityLevel"], "FULL");
    assert_eq!(server.delete("/config/s").1["error_code"], 40401);
    assert_eq!(server.delete("/config").1["compatibilityLevel"], "NONE");
    assert_eq!(server.get("/config").1["compatibilityLevel"], "BACKWARD");
    // The level is enforced on registration.
    server.put("/config/strict", &json!({"compatibility": "FORWARD"}));
    server.register_ok("strict", &record("R", &["a:int", "b:int"]));
    assert_eq!(server.register("strict", &record("R", &["a:int"])).0, 409);
}

#[test]
fn modes_gate_writes_and_import_keeps_ids() {
    let server = Server::start();
    assert_eq!(server.get("/mode").1, json!({"mode": "READWRITE"}));
    assert_eq!(
        server.put("/mode", &json!({"mode": "SIDEWAYS"})).1["error_code"],
        42204
    );
    assert_eq!(
        server.put("/mode/s", &json!({"mode": "FORWARD"})).1["error_code"],
        42204
    );
    assert_eq!(server.get("/mode/s").1["error_code"], 40409);
    assert_eq!(
        server.get("/mode/s?defaultToGlobal=true").1,
        json!({"mode": "READWRITE"})
    );

    server.register_ok("ro", V1);
    assert_eq!(
        server.put("/mode/ro", &json!({"mode": "READONLY"})).1,
        json!({"mode": "READONLY"})
    );
    let (status, body) = server.register("ro", &v2());
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42205)),
        "{body}"
    );
    assert_eq!(server.delete("/subjects/ro").1["error_code"], 42205);
    assert_eq!(server.delete("/mode/ro").1, json!({"mode": "READONLY"}));
    assert_eq!(server.delete("/mode/ro").1["error_code"], 40401);

    // IMPORT needs an empty registry unless forced.
    assert_eq!(
        server.put("/mode", &json!({"mode": "IMPORT"})).1["error_code"],
        42205
    );
    assert_eq!(
        server.put("/mode?force=true", &json!({"mode": "IMPORT"})).1,
        json!({"mode": "IMPORT"})
    );
    let imported = record("Imported", &["a:int"]);
    let (status, body) = server.post(
        "/subjects/imp/versions",
        &json!({"schema": imported, "id": 100, "version": 7}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["id"].clone(), body["version"].clone()),
        (json!(100), json!(7))
    );
    // Content that already has an id keeps it: another id is refused.
    let (_, body) = server.post(
        "/subjects/imp4/versions",
        &json!({"schema": V1, "id": 55, "version": 1}),
    );
    assert_eq!(body["error_code"], 42207, "{body}");
    // An id taken by other content cannot be overwritten.
    let (_, body) = server.post(
        "/subjects/imp2/versions",
        &json!({"schema": "\"int\"", "id": 100, "version": 1}),
    );
    assert_eq!(body["error_code"], 42205, "{body}");
    // Without an id, IMPORT mode refuses.
    assert_eq!(server.register("imp3", "\"int\"").1["error_code"], 42205);
    // Back to READWRITE: new ids continue above the imported ones; an id needs IMPORT mode.
    server.put("/mode", &json!({"mode": "READWRITE"}));
    assert_eq!(server.register_ok("after", "\"string\""), 101);
    assert_eq!(
        server
            .post(
                "/subjects/x/versions",
                &json!({"schema": "\"long\"", "id": 5})
            )
            .1["error_code"],
        42205
    );
}

#[test]
fn references_resolve_named_types_and_protect_what_they_use() {
    let server = Server::start();
    let address = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}"#;
    server.register_ok("address", address);
    let person = r#"{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"home","type":"Address"}]}"#;
    let references = json!([{"name": "com.acme.Address", "subject": "address", "version": 1}]);
    let (status, body) = server.post(
        "/subjects/person/versions",
        &json!({"schema": person, "references": references}),
    );
    assert_eq!(status, 200, "{body}");
    let person_id = body["id"].as_i64().expect("id");
    let (_, by_id) = server.get(&format!("/schemas/ids/{person_id}"));
    assert_eq!(by_id["references"], references);
    // Without the reference the name is unknown.
    assert_eq!(server.register("person2", person).1["error_code"], 42201);
    // A missing referenced version is named in the error.
    let (_, body) = server.post(
        "/subjects/person3/versions",
        &json!({"schema": person, "references": [{"name": "com.acme.Address", "subject": "address", "version": 9}]}),
    );
    assert_eq!(body["error_code"], 42201);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("address"),
        "{body}"
    );
    assert_eq!(
        server.get("/subjects/address/versions/1/referencedby").1,
        json!([person_id])
    );
    // The referenced version cannot be deleted, softly or for good.
    assert_eq!(
        server.delete("/subjects/address/versions/1").1["error_code"],
        42206
    );
    assert_eq!(server.delete("/subjects/address").1["error_code"], 42206);
    // Once the referrer is gone for good, it can.
    server.delete("/subjects/person");
    server.delete("/subjects/person?permanent=true");
    assert_eq!(server.delete("/subjects/address").0, 200);
    // A change in a referenced type is caught through the reference.
    server.register_ok("addr2", address);
    server.post("/subjects/person4/versions", &json!({"schema": person, "references": [{"name": "com.acme.Address", "subject": "addr2", "version": 1}]}));
    let address_v2 = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string"}]}"#;
    server.put("/config/addr2", &json!({"compatibility": "NONE"}));
    server.register_ok("addr2", address_v2);
    let (_, body) = server.post(
        "/compatibility/subjects/person4/versions/latest?verbose=true",
        &json!({"schema": person, "references": [{"name": "com.acme.Address", "subject": "addr2", "version": 2}]}),
    );
    assert_eq!(body["is_compatible"], false, "{body}");
    assert!(
        body["messages"][0].as_str().expect("text").contains("zip"),
        "{body}"
    );
}

#[test]
fn contexts_have_their_own_id_spaces() {
    let server = Server::start();
    let default_id = server.register_ok("s", V1);
    server.register_ok("t", &v2());
    let (status, body) = server.register(":.staging:s", &v2());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 1, "each context counts from 1");
    assert_eq!(default_id, 1);
    // The context prefix form reaches the same subject.
    let (_, body) = server.get("/contexts/.staging/subjects/s/versions/1");
    assert_eq!(body["subject"], ":.staging:s");
    assert_eq!(body["schema"], v2());
    // Ids are looked up in the default context unless a subject or prefix says otherwise.
    assert_eq!(server.get("/schemas/ids/1").1["schema"], V1);
    assert_eq!(
        server.get("/schemas/ids/1?subject=:.staging:s").1["schema"],
        v2()
    );
    assert_eq!(
        server.get("/contexts/.staging/schemas/ids/1").1["schema"],
        v2()
    );
    assert_eq!(server.get("/subjects").1, json!(["s", "t", ":.staging:s"]));
    assert_eq!(
        server.get("/subjects?subjectPrefix=:.staging:").1,
        json!([":.staging:s"])
    );
    assert_eq!(
        server.get("/contexts/.staging/subjects").1,
        json!([":.staging:s"])
    );
    assert_eq!(server.get("/contexts").1, json!([".", ".staging"]));
    // Config per context.
    server.put("/config/:.staging:", &json!({"compatibility": "NONE"}));
    assert_eq!(
        server.get("/config/:.staging:s?defaultToGlobal=true").1["compatibilityLevel"],
        "NONE"
    );
    assert_eq!(
        server.get("/config/s?defaultToGlobal=true").1["compatibilityLevel"],
        "BACKWARD"
    );
    assert_eq!(
        server.get("/contexts/.staging/config").1["compatibilityLevel"],
        "NONE"
    );
    assert_eq!(server.delete("/contexts/.staging").1["error_code"], 42211);
    assert_eq!(server.get("/contexts/bad:ctx/subjects").0, 400);
}

#[test]
fn listing_schemas_with_filters_and_pages() {
    let server = Server::start();
    server.put("/config", &json!({"compatibility": "NONE"}));
    server.register_ok("orders-value", V1);
    server.register_ok("orders-value", &v2());
    server.register_ok("payments-value", "\"string\"");
    let (_, all) = server.get("/schemas");
    assert_eq!(all.as_array().expect("list").len(), 3);
    let (_, latest) = server.get("/schemas?latestOnly=true");
    let pairs: Vec<(String, i64)> = latest
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["subject"].as_str().unwrap_or_default().to_string(),
                s["version"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("orders-value".to_string(), 2),
            ("payments-value".to_string(), 1)
        ]
    );
    let (_, prefixed) = server.get("/schemas?subjectPrefix=pay");
    assert_eq!(prefixed.as_array().expect("list").len(), 1);
    assert_eq!(
        server.get("/subjects?offset=1&limit=1").1,
        json!(["payments-value"])
    );
    assert_eq!(server.get("/subjects?limit=abc").0, 400);
}

#[test]
fn what_real_clients_send_is_understood() {
    let server = Server::start();
    // A subject with a slash, sent as %2F, is one subject.
    let subject = "team/orders-value";
    let (status, body) = server.post(
        &format!("/subjects/{}/versions", encode(subject)),
        &json!({"schema": V1, "schemaType": "AVRO", "references": []}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/subjects").1, json!([subject]));
    assert_eq!(
        server
            .get("/subjects/team%2Forders-value/versions/latest")
            .1["subject"],
        subject
    );
    // Python-style booleans.
    assert_eq!(server.get("/subjects?deleted=True").0, 200);
    assert_eq!(server.get("/subjects?deleted=False").0, 200);
    // No Accept header, Accept: */*, a Content-Type on a GET: all answered in the registry media type.
    for headers in [
        vec![],
        vec![("Accept", "*/*")],
        vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
    ] {
        let (status, _, content_type) = server.raw("GET", "/subjects", &headers, None);
        assert_eq!(status, 200);
        assert_eq!(
            content_type.as_deref(),
            Some("application/vnd.schemaregistry.v1+json")
        );
    }
    // A body sent as application/octet-stream or with no content type is read as JSON.
    let body = serde_json::to_vec(&json!({"schema": "\"int\""})).expect("json");
    let (status, _, _) = server.raw(
        "POST",
        "/subjects/raw/versions",
        &[("Content-Type", "application/octet-stream")],
        Some(body.clone()),
    );
    assert_eq!(status, 200);
    let (status, _, _) = server.raw("POST", "/subjects/raw2/versions", &[], Some(body));
    assert_eq!(status, 200);
    // confluent-kafka's serializers ask for a topic's associations: a topic without one has
    // none (Confluent 8 answers an empty list; earlier registries a 404, which clients read so).
    let (status, body) = server.get("/associations/resources/default/orders?resourceType=topic");
    assert_eq!(status, 200);
    assert_eq!(body, json!([]));
}

#[test]
fn bad_input_gets_confluent_errors_never_a_500() {
    let server = Server::start_with(Options {
        args: vec![
            "--max-body-bytes".into(),
            "65536".into(),
            "--max-schema-bytes".into(),
            "4096".into(),
        ],
        ..Options::default()
    });
    // (method, path, body, HTTP status, error_code)
    type Case = (&'static str, &'static str, Option<Vec<u8>>, u16, i64);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/subjects/s/versions",
            Some(b"{not json".to_vec()),
            400,
            400,
        ),
        // An empty body is 422 (Confluent's @NotNull body), a wrong shape 400 (its Jackson
        // mapping errors), and a number where a string belongs is read as its text (Jackson's
        // coercion), so `5` is then an invalid Avro schema.
        ("POST", "/subjects/s/versions", Some(b"".to_vec()), 422, 422),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schema": 5}"#.to_vec()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schema": {"type": "int"}}"#.to_vec()),
            400,
            400,
        ),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schemaType": "AVRO"}"#.to_vec()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schema": "\"int\"", "schemaType": "XML"}"#.to_vec()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schema": "{\"type\": \"record\"}"}"#.to_vec()),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/s/versions",
            Some(br#"{"schema": ""}"#.to_vec()),
            422,
            42201,
        ),
        ("GET", "/subjects/s/versions/0", None, 422, 42202),
        ("GET", "/subjects/s/versions/2147483648", None, 422, 42202),
        ("GET", "/subjects/s/versions/1.5", None, 422, 42202),
        (
            "PUT",
            "/config/s",
            Some(br#"{"compatibility": "SIDEWAYS"}"#.to_vec()),
            422,
            42203,
        ),
        (
            "PUT",
            "/mode/s",
            Some(br#"{"mode": "WRITEONLY"}"#.to_vec()),
            422,
            42204,
        ),
        ("PUT", "/mode/s", Some(br#"{}"#.to_vec()), 422, 422),
        ("GET", "/schemas/ids/abc", None, 404, 40403),
        ("GET", "/schemas/ids/-5", None, 404, 40403),
        ("GET", "/no/such/path", None, 404, 404),
        ("PATCH", "/subjects", None, 405, 405),
        ("GET", "/subjects?deleted=perhaps", None, 400, 400),
        ("GET", "/subjects/a%01b/versions", None, 422, 42208),
    ];
    for (method, path, body, status, code) in cases {
        let (got_status, text, _) = server.raw(
            method,
            path,
            &[("Content-Type", "application/json")],
            body.clone(),
        );
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            (got_status, parsed["error_code"].as_i64()),
            (status, Some(code)),
            "{method} {path} {body:?}: {text}"
        );
        assert!(
            parsed["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{text}"
        );
        let keys: Vec<&String> = parsed.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            vec!["error_code", "message"],
            "exactly the Confluent error shape"
        );
    }
    // Oversized body and oversized schema.
    let big = json!({"schema": format!("\"{}\"", "x".repeat(70_000))})
        .to_string()
        .into_bytes();
    let (status, text, _) = server.raw("POST", "/subjects/s/versions", &[], Some(big));
    assert_eq!(status, 413, "{text}");
    let large_schema = record(
        "Big",
        &(0..200)
            .map(|i| format!("field_{i}:string"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let (status, body) = server.register("s", &large_schema);
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42209)),
        "{body}"
    );
    // Deep nesting in the body and in the schema.
    let deep_body = format!(
        "{{\"schema\": \"int\", \"metadata\": {}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (status, _, _) = server.raw(
        "POST",
        "/subjects/s/versions",
        &[],
        Some(deep_body.into_bytes()),
    );
    assert_eq!(status, 400);
    let deep_schema = format!(
        "{}\"int\"{}",
        "{\"type\":\"array\",\"items\":".repeat(140),
        "}".repeat(140)
    );
    let (status, body) = server.register("s", &deep_schema);
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42201)),
        "{body}"
    );
    // The server is still healthy.
    assert_eq!(server.get("/").0, 200);
}

#[test]
fn state_survives_a_restart_and_sigterm_is_graceful() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::test_store(dir.path());
    let mut server = Server::spawn(&store, &Options::default(), dir.path());
    let id = server.register_ok("p", V1);
    server.register_ok("p", &v2());
    server.put("/config/p", &json!({"compatibility": "FULL"}));
    server.put("/mode/q", &json!({"mode": "READONLY"}));
    server.delete("/subjects/p/versions/1");
    // Metadata comes back as it was given, key order included, and the same content and
    // metadata find the same version after a restart.
    let with_metadata = json!({
        "schema": V1,
        "metadata": {"properties": {"owner": "team-a", "zeta": "1", "alpha": "2"}}
    });
    let (status, registered) = server.post("/subjects/m/versions", &with_metadata);
    assert_eq!(status, 200, "{registered}");
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let server = Server::spawn(&store, &Options::default(), dir.path());
    let (status, again) = server.post("/subjects/m/versions", &with_metadata);
    assert_eq!((status, &again["id"]), (200, &registered["id"]), "{again}");
    assert_eq!(server.get("/subjects/m/versions").1, json!([1]));
    let stored = server.get("/subjects/m/versions/1").1;
    let keys: Vec<&String> = stored["metadata"]["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    // Metadata is kept in Confluent's normal form (properties sorted), the same on every node
    // and across restarts.
    assert_eq!(keys, ["alpha", "owner", "zeta"], "{stored}");
    assert_eq!(server.get("/subjects/p/versions").1, json!([2]));
    assert_eq!(
        server.get("/subjects/p/versions/1?deleted=true").1["id"].as_i64(),
        Some(id)
    );
    assert_eq!(server.get("/config/p").1["compatibilityLevel"], "FULL");
    assert_eq!(server.get("/mode/q").1["mode"], "READONLY");
    let cluster = server.get("/v1/metadata/id").1;
    drop(server);
    let server = Server::spawn(&store, &Options::default(), dir.path());
    assert_eq!(
        server.get("/v1/metadata/id").1,
        cluster,
        "the cluster id is stable"
    );
}

#[test]
fn config_file_and_environment_layering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("covenant.toml");
    std::fs::write(
        &file,
        "default_compatibility = \"FULL\"\nincompatible_error_code = 40901\n",
    )
    .expect("write");
    let server = Server::start_with(Options {
        args: vec!["--config".into(), file.display().to_string()],
        env: vec![("COVENANT_DEFAULT_COMPATIBILITY".into(), "NONE".into())],
        ..Options::default()
    });
    // The environment beats the file.
    assert_eq!(server.get("/config").1["compatibilityLevel"], "NONE");
    server.put("/config/x", &json!({"compatibility": "BACKWARD"}));
    server.register_ok("x", V1);
    // The file's other key still applies.
    assert_eq!(
        server.register("x", &record("User", &["id:string"])).1["error_code"],
        40901
    );
    // A bad file is refused at start with a message naming it.
    std::fs::write(&file, "listen = 5\n").expect("write");
    let output = std::process::Command::new(common::binary())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("covenant.toml"), "{stderr}");
}

/// A clean stop stores a snapshot of what the last one left out, so the next start reads the
/// snapshot and replays nothing; a stop with nothing new stores none.
#[test]
fn a_clean_stop_stores_a_snapshot_so_the_next_start_replays_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::test_store(dir.path());
    // Snapshots only at stops: the interval is never reached while serving.
    let options = Options {
        env: vec![
            ("RUST_LOG".into(), "info".into()),
            ("COVENANT_SNAPSHOT_INTERVAL".into(), "1000000".into()),
        ],
        ..Options::default()
    };
    let mut server = Server::spawn(&store, &options, dir.path());
    let ids: Vec<i64> = (0..5)
        .map(|i| server.register_ok(&format!("stop-{i}"), V1))
        .collect();
    server.put("/config/stop-0", &json!({"compatibility": "NONE"}));
    assert!(server.terminate().success());
    let first = std::fs::read_to_string(&server.log).expect("log");
    assert!(first.contains("snapshot stored at stop"), "{first}");

    let mut server = Server::spawn(&store, &options, dir.path());
    for (i, id) in ids.iter().enumerate() {
        let (status, body) = server.get(&format!("/subjects/stop-{i}/versions/1"));
        assert_eq!((status, body["id"].as_i64()), (200, Some(*id)), "{body}");
    }
    assert_eq!(server.get("/config/stop-0").1["compatibilityLevel"], "NONE");
    assert!(server.terminate().success());
    // Read once the process has ended: its log is written by a thread of its own, so a line
    // logged before the listening line may not be in the file yet when that line is read.
    let second = std::fs::read_to_string(&server.log).expect("log");
    assert!(
        second.contains("starting from the snapshot at offset 6"),
        "the snapshot holds all six records: {second}"
    );
    assert!(
        !second.contains("snapshot stored at stop"),
        "nothing new, no snapshot: {second}"
    );
}
