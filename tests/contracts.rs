//! Black-box tests of data contracts in the registry: the DEK registry, associations, and the
//! metadata and rule sets a registration merges, against the real `covenant` binary.

mod common;

use common::{encode, record, Options, Server};
use serde_json::{json, Value};

/// The local KMS secret the servers of these tests wrap shared KEKs' DEKs with.
const SECRET: &str = "covenant-contracts-test-secret";

fn with_kms() -> Options {
    Options {
        env: vec![("COVENANT_LOCAL_KMS_SECRET".into(), SECRET.into())],
        ..Options::default()
    }
}

/// Asserts a Confluent-shaped error.
#[track_caller]
fn refused(reply: (u16, Value), status: u16, code: i64) -> String {
    let (got, body) = reply;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    body["message"].as_str().unwrap_or_default().to_string()
}

#[track_caller]
fn ok(reply: (u16, Value)) -> Value {
    let (status, body) = reply;
    assert_eq!(status, 200, "{body}");
    body
}

fn kek(name: &str, shared: bool) -> Value {
    json!({
        "name": name,
        "kmsType": if shared { "local-kms" } else { "aws-kms" },
        "kmsKeyId": format!("arn:aws:kms:eu-west-1:123456789012:key/{name}"),
        "kmsProps": {"region": "eu-west-1"},
        "doc": "orders keys",
        "shared": shared,
    })
}

/// Base64 of 16 bytes, a wrapped key as a client's KMS would make it.
const WRAPPED: &str = "AAECAwQFBgcICQoLDA0ODw==";

#[test]
fn keks_are_created_read_updated_and_deleted_as_confluent_does() {
    let server = Server::start();
    let created = ok(server.post("/dek-registry/v1/keks", &kek("orders", false)));
    assert_eq!(created["name"], "orders");
    assert_eq!(created["kmsType"], "aws-kms");
    assert_eq!(created["kmsProps"]["region"], "eu-west-1");
    assert_eq!(created["shared"], false);
    assert!(created["ts"].as_i64().unwrap_or(0) > 0, "{created}");
    // A live KEK is never created over, the same or not (as Confluent).
    refused(
        server.post("/dek-registry/v1/keks", &kek("orders", false)),
        409,
        40971,
    );
    let mut other = kek("orders", false);
    other["kmsKeyId"] = json!("arn:aws:kms:eu-west-1:123456789012:key/another");
    refused(server.post("/dek-registry/v1/keks", &other), 409, 40971);
    // Names, key ids and types are checked.
    let mut bad = kek("or ders", false);
    refused(server.post("/dek-registry/v1/keks", &bad), 422, 42271);
    bad = kek("fine", false);
    bad["kmsKeyId"] = Value::Null;
    refused(server.post("/dek-registry/v1/keks", &bad), 422, 42271);
    refused(server.get("/dek-registry/v1/keks/missing"), 404, 40470);

    assert_eq!(ok(server.get("/dek-registry/v1/keks")), json!(["orders"]));
    let read = ok(server.get("/dek-registry/v1/keks/orders"));
    assert_eq!(read, created);

    // An update changes the properties, the doc and sharing, never the KMS key.
    let updated = ok(server.put(
        "/dek-registry/v1/keks/orders",
        &json!({"kmsProps": {"region": "eu-west-2"}, "doc": "moved", "shared": false}),
    ));
    assert_eq!(updated["kmsProps"]["region"], "eu-west-2");
    assert_eq!(updated["doc"], "moved");
    assert_eq!(updated["kmsKeyId"], created["kmsKeyId"]);
    refused(
        server.put("/dek-registry/v1/keks/missing", &json!({"doc": "x"})),
        404,
        40470,
    );

    // Soft delete hides it; a permanent delete needs the soft one first.
    refused(
        server.delete("/dek-registry/v1/keks/orders?permanent=true"),
        404,
        40471,
    );
    assert_eq!(server.delete("/dek-registry/v1/keks/orders").0, 204);
    refused(server.get("/dek-registry/v1/keks/orders"), 404, 40470);
    assert_eq!(ok(server.get("/dek-registry/v1/keks")), json!([]));
    assert_eq!(
        ok(server.get("/dek-registry/v1/keks?deleted=true")),
        json!(["orders"])
    );
    let deleted = ok(server.get("/dek-registry/v1/keks/orders?deleted=true"));
    assert_eq!(deleted["deleted"], true);
    // Undeleted, then deleted for good.
    assert_eq!(
        server
            .post("/dek-registry/v1/keks/orders/undelete", &json!({}))
            .0,
        204
    );
    ok(server.get("/dek-registry/v1/keks/orders"));
    assert_eq!(server.delete("/dek-registry/v1/keks/orders").0, 204);
    assert_eq!(
        server
            .delete("/dek-registry/v1/keks/orders?permanent=true")
            .0,
        204
    );
    refused(
        server.get("/dek-registry/v1/keks/orders?deleted=true"),
        404,
        40470,
    );
    refused(
        server.post("/dek-registry/v1/keks/orders/undelete", &json!({})),
        404,
        40470,
    );
}

#[test]
fn deks_of_a_client_side_kek_keep_the_wrapped_key_they_are_given() {
    let server = Server::start();
    ok(server.post("/dek-registry/v1/keks", &kek("payments", false)));
    // A KEK the registry cannot use needs the client's wrapped key.
    refused(
        server.post(
            "/dek-registry/v1/keks/payments/deks",
            &json!({"subject": "payments-value", "algorithm": "AES256_GCM"}),
        ),
        422,
        42271,
    );
    let dek = ok(server.post(
        "/dek-registry/v1/keks/payments/deks",
        &json!({"subject": "payments-value", "algorithm": "AES256_GCM", "encryptedKeyMaterial": WRAPPED}),
    ));
    assert_eq!(dek["kekName"], "payments");
    assert_eq!(dek["subject"], "payments-value");
    assert_eq!(dek["version"], 1);
    assert_eq!(dek["algorithm"], "AES256_GCM");
    assert_eq!(dek["encryptedKeyMaterial"], WRAPPED);
    assert!(dek.get("keyMaterial").is_none(), "{dek}");
    // A second version, at the subject's path.
    let second = ok(server.post(
        "/dek-registry/v1/keks/payments/deks/payments-value",
        &json!({"version": 2, "algorithm": "AES256_GCM", "encryptedKeyMaterial": "AQID"}),
    ));
    assert_eq!(second["version"], 2);
    refused(
        server.post(
            "/dek-registry/v1/keks/payments/deks/payments-value",
            &json!({"version": 2, "algorithm": "AES256_GCM", "encryptedKeyMaterial": "BAUG"}),
        ),
        409,
        40971,
    );
    // Reads: version 1 without a version, latest, by number; other algorithms are apart.
    let base = "/dek-registry/v1/keks/payments/deks/payments-value";
    assert_eq!(ok(server.get(base))["version"], 1);
    assert_eq!(
        ok(server.get(&format!("{base}/versions/latest")))["version"],
        2
    );
    assert_eq!(ok(server.get(&format!("{base}/versions/-1")))["version"], 2);
    assert_eq!(
        ok(server.get(&format!("{base}/versions/1")))["encryptedKeyMaterial"],
        WRAPPED
    );
    assert_eq!(ok(server.get(&format!("{base}/versions"))), json!([1, 2]));
    refused(
        server.get(&format!("{base}/versions/1?algorithm=AES128_GCM")),
        404,
        40470,
    );
    assert_eq!(
        ok(server.get(&format!("{base}/versions?algorithm=AES256_SIV"))),
        json!([])
    );
    assert_eq!(server.get(&format!("{base}?algorithm=DES")).0, 400);
    refused(server.get(&format!("{base}/versions/abc")), 422, 42202);
    refused(
        server.get("/dek-registry/v1/keks/payments/deks/other-value"),
        404,
        40470,
    );
    refused(
        server.get("/dek-registry/v1/keks/missing/deks/payments-value"),
        404,
        40470,
    );
    assert_eq!(
        ok(server.get("/dek-registry/v1/keks/payments/deks")),
        json!(["payments-value"])
    );

    // A KEK with live DEKs cannot be deleted.
    refused(server.delete("/dek-registry/v1/keks/payments"), 422, 42272);
    // Soft-deleting version 2 leaves version 1 the latest.
    assert_eq!(server.delete(&format!("{base}/versions/2")).0, 204);
    assert_eq!(
        ok(server.get(&format!("{base}/versions/latest")))["version"],
        1
    );
    assert_eq!(ok(server.get(&format!("{base}/versions"))), json!([1]));
    assert_eq!(
        ok(server.get(&format!("{base}/versions?deleted=true"))),
        json!([1, 2])
    );
    assert_eq!(
        ok(server.get(&format!("{base}/versions/2?deleted=true")))["deleted"],
        true
    );
    assert_eq!(
        server
            .post(&format!("{base}/versions/2/undelete"), &json!({}))
            .0,
        204
    );
    // All versions at once, soft then permanently; then the KEK can go.
    refused(server.delete(&format!("{base}?permanent=true")), 404, 40471);
    assert_eq!(server.delete(base).0, 204);
    assert_eq!(
        ok(server.get("/dek-registry/v1/keks/payments/deks")),
        json!([])
    );
    assert_eq!(server.delete(&format!("{base}?permanent=true")).0, 204);
    assert_eq!(
        ok(server.get("/dek-registry/v1/keks/payments/deks?deleted=true")),
        json!([])
    );
    assert_eq!(server.delete("/dek-registry/v1/keks/payments").0, 204);
}

/// `max_keys` bounds the KEKs and, apart, the DEKs (Confluent's `dek.registry.max.keys`), the
/// soft-deleted ones included; a DEK under a soft-deleted KEK is undeleted only after its KEK.
#[test]
fn keys_are_bounded_and_a_deleted_kek_is_undeleted_first() {
    let server = Server::start_with(Options {
        env: vec![("COVENANT_MAX_KEYS".into(), "2".into())],
        ..Options::default()
    });
    ok(server.post("/dek-registry/v1/keks", &kek("orders", false)));
    ok(server.post("/dek-registry/v1/keks", &kek("payments", false)));
    let message = refused(
        server.post("/dek-registry/v1/keks", &kek("refunds", false)),
        409,
        40972,
    );
    assert_eq!(message, "A maximum of 2 keys already exist");
    // DEKs are counted apart from KEKs.
    let dek = |subject: &str| json!({"subject": subject, "algorithm": "AES256_GCM", "encryptedKeyMaterial": WRAPPED});
    for subject in ["a-value", "b-value"] {
        ok(server.post("/dek-registry/v1/keks/orders/deks", &dek(subject)));
    }
    refused(
        server.post("/dek-registry/v1/keks/orders/deks", &dek("c-value")),
        409,
        40972,
    );
    // A create over an existing DEK would add nothing: at the limit it is answered as over
    // any existing key (40971), not as over the limit.
    refused(
        server.post("/dek-registry/v1/keks/orders/deks", &dek("a-value")),
        409,
        40971,
    );
    // Soft-deleted keys are kept, so they still count; a permanent delete makes room.
    assert_eq!(
        server.delete("/dek-registry/v1/keks/orders/deks/b-value").0,
        204
    );
    refused(
        server.post("/dek-registry/v1/keks/orders/deks", &dek("c-value")),
        409,
        40972,
    );
    assert_eq!(
        server
            .delete("/dek-registry/v1/keks/orders/deks/b-value?permanent=true")
            .0,
        204
    );
    ok(server.post("/dek-registry/v1/keks/orders/deks", &dek("c-value")));

    // A DEK under a soft-deleted KEK is undeleted only once the KEK is (404/40472).
    for subject in ["a-value", "c-value"] {
        let path = format!("/dek-registry/v1/keks/orders/deks/{subject}");
        assert_eq!(server.delete(&path).0, 204);
    }
    assert_eq!(server.delete("/dek-registry/v1/keks/orders").0, 204);
    for path in [
        "/dek-registry/v1/keks/orders/deks/a-value/undelete",
        "/dek-registry/v1/keks/orders/deks/a-value/versions/1/undelete",
    ] {
        let message = refused(server.post(path, &json!({})), 404, 40472);
        assert_eq!(message, "Key 'orders' must be undeleted first");
    }
    assert_eq!(
        server
            .post("/dek-registry/v1/keks/orders/undelete", &json!({}))
            .0,
        204
    );
    assert_eq!(
        server
            .post(
                "/dek-registry/v1/keks/orders/deks/a-value/undelete",
                &json!({})
            )
            .0,
        204
    );
    assert_eq!(
        ok(server.get("/dek-registry/v1/keks/orders/deks")),
        json!(["a-value"])
    );
}

/// A KMS that refuses a key answers 403/40370, whether the registry makes a DEK, opens one or
/// tests a KEK's sharing; here the local KMS serves only the key ids the operator lists.
#[test]
fn a_kms_that_refuses_the_key_is_a_403() {
    let mut options = with_kms();
    options.env.push((
        "COVENANT_LOCAL_KMS_KEY_IDS".into(),
        "local-kms://granted".into(),
    ));
    let server = Server::start_with(options);
    let shared = |name: &str, key_id: &str| {
        let mut kek = kek(name, true);
        kek["kmsKeyId"] = json!(key_id);
        kek
    };
    // A granted key works as before.
    ok(server.post(
        "/dek-registry/v1/keks?testSharing=true",
        &shared("granted", "local-kms://granted"),
    ));
    let made = ok(server.post(
        "/dek-registry/v1/keks/granted/deks",
        &json!({"subject": "orders-value"}),
    ));
    assert!(made["keyMaterial"].is_string(), "{made}");
    // Another is refused when its sharing is tested...
    let message = refused(
        server.post(
            "/dek-registry/v1/keks?testSharing=true",
            &shared("other", "local-kms://other"),
        ),
        403,
        40370,
    );
    assert!(message.contains("local-kms://other"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    assert_eq!(
        server.get("/dek-registry/v1/keks/other").0,
        404,
        "a refused test creates nothing"
    );
    // ...and, created untested, when a DEK is made under it: nothing is written.
    ok(server.post(
        "/dek-registry/v1/keks",
        &shared("other", "local-kms://other"),
    ));
    let message = refused(
        server.post(
            "/dek-registry/v1/keks/other/deks",
            &json!({"subject": "orders-value"}),
        ),
        403,
        40370,
    );
    assert!(message.contains("orders-value"), "{message}");
    refused(
        server.get("/dek-registry/v1/keks/other/deks/orders-value"),
        404,
        40470,
    );
    // Testing the KEK says so too.
    refused(
        server.post("/dek-registry/v1/keks/other/test", &json!({})),
        403,
        40370,
    );
}

/// `max_associations` bounds the associations (409/40902, the code and message Confluent
/// defines); an update of an existing one is answered at the limit.
#[test]
fn associations_are_bounded() {
    let server = Server::start_with(Options {
        env: vec![("COVENANT_MAX_ASSOCIATIONS".into(), "1".into())],
        ..Options::default()
    });
    server.register_ok("orders-value", &record("Order", &["id:long"]));
    server.register_ok("items-value", &record("Item", &["id:long"]));
    associate_orders(&server);
    let message = refused(
        server.post(
            "/associations",
            &association("items", json!([{"subject": "items-value"}])),
        ),
        409,
        40902,
    );
    assert_eq!(message, "A maximum of 1 associations already exist");
    // The same association again adds nothing; a delete makes room.
    associate_orders(&server);
    dissociate_orders(&server);
    ok(server.post(
        "/associations",
        &association("items", json!([{"subject": "items-value"}])),
    ));
}

#[test]
fn shared_keks_have_their_deks_made_and_unwrapped_by_the_registry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::test_store(dir.path());
    let mut server = Server::spawn(&store, &with_kms(), dir.path());
    // Sharing is tested on request.
    let created = ok(server.post(
        "/dek-registry/v1/keks?testSharing=true",
        &kek("shared", true),
    ));
    assert_eq!(created["shared"], true);
    let dek = ok(server.post(
        "/dek-registry/v1/keks/shared/deks",
        &json!({"subject": "cards-value", "algorithm": "AES256_SIV"}),
    ));
    let material = dek["keyMaterial"]
        .as_str()
        .expect("key material")
        .to_string();
    let wrapped = dek["encryptedKeyMaterial"]
        .as_str()
        .expect("wrapped material")
        .to_string();
    // AES256_SIV keys are 64 bytes (Tink's keyset wraps them); the wrapped form differs.
    assert_ne!(material, wrapped);
    let base = "/dek-registry/v1/keks/shared/deks/cards-value";
    let read = ok(server.get(&format!("{base}?algorithm=AES256_SIV")));
    assert_eq!(read["keyMaterial"], material.as_str());
    assert_eq!(read["encryptedKeyMaterial"], wrapped.as_str());
    let test = ok(server.post("/dek-registry/v1/keks/shared/test", &json!({})));
    assert_eq!(test["name"], "shared");

    // After a restart the registry unwraps the same key again; the plain key is nowhere in
    // the store's files.
    server.kill();
    let server = Server::spawn(&store, &with_kms(), dir.path());
    let read = ok(server.get(&format!("{base}/versions/1?algorithm=AES256_SIV")));
    assert_eq!(read["keyMaterial"], material.as_str());
    if store.starts_with("file://") {
        let root = std::path::PathBuf::from(store.trim_start_matches("file://"));
        for entry in walk(&root) {
            let bytes = std::fs::read(&entry).expect("store file");
            assert!(
                !contains(&bytes, material.as_bytes()),
                "{} holds the plain key",
                entry.display()
            );
        }
    }
    drop(server);

    // Without the local KMS secret, a shared KEK's DEK cannot be made, and it says why.
    let bare = Server::spawn(&store, &Options::default(), dir.path());
    let message = refused(
        bare.post(
            "/dek-registry/v1/keks/shared/deks",
            &json!({"subject": "other-value"}),
        ),
        500,
        50070,
    );
    assert!(message.contains("local"), "{message}");
    // Nor can its stored DEKs be unwrapped (Confluent answers the same).
    refused(
        bare.get(&format!("{base}?algorithm=AES256_SIV")),
        500,
        50070,
    );
    // A wrapped key it could not open is not kept, and a sharing test that fails changes
    // nothing.
    refused(
        bare.post(
            "/dek-registry/v1/keks/shared/deks/given-value",
            &json!({"encryptedKeyMaterial": wrapped}),
        ),
        500,
        50070,
    );
    assert_eq!(
        ok(bare.get("/dek-registry/v1/keks/shared/deks")),
        json!(["cards-value"])
    );
    refused(
        bare.put(
            "/dek-registry/v1/keks/shared?testSharing=true",
            &json!({"doc": "changed"}),
        ),
        500,
        50070,
    );
    assert_eq!(
        ok(bare.get("/dek-registry/v1/keks/shared"))["doc"],
        "orders keys"
    );
    // A shared KEK of a KMS the registry has no driver for: the request cannot be served, which
    // is the caller's to fix (422), not a failure of the registry (5xx).
    ok(bare.post(
        "/dek-registry/v1/keks",
        &json!({"name": "cloud", "kmsType": "aws-kms", "kmsKeyId": "arn:aws:kms:x", "shared": true}),
    ));
    let message = refused(
        bare.post(
            "/dek-registry/v1/keks/cloud/deks",
            &json!({"subject": "cloud-value"}),
        ),
        422,
        422,
    );
    assert!(
        message.contains("no driver for the KMS `aws-kms`"),
        "{message}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn association(name: &str, infos: Value) -> Value {
    json!({
        "resourceName": name,
        "resourceNamespace": "lkc-1",
        "resourceId": format!("id-{name}"),
        "resourceType": "topic",
        "associations": infos,
    })
}

/// A WEAK association of topic `orders` with `orders-value`.
fn associate_orders(server: &Server) {
    ok(server.post(
        "/associations",
        &association("orders", json!([{"subject": "orders-value"}])),
    ));
}

fn dissociate_orders(server: &Server) {
    assert_eq!(
        server
            .delete("/associations/resources/id-orders?resourceType=topic")
            .0,
        204
    );
}

#[test]
fn weak_and_strong_associations_follow_confluent() {
    let server = Server::start();
    let v1 = record("Order", &["id:long"]);
    server.register_ok("orders-value", &v1);
    // WEAK: an existing subject, named.
    let created = ok(server.post(
        "/associations",
        &association("orders", json!([{"subject": "orders-value"}])),
    ));
    let first = &created["associations"][0];
    assert_eq!(first["subject"], "orders-value", "{created}");
    assert_eq!(first["lifecycle"], "WEAK");
    assert_eq!(first["associationType"], "value");
    assert_eq!(first["frozen"], false);
    // Listed by subject, by resource id and by namespace and name.
    let by_subject = ok(server.get("/associations/subjects/orders-value"));
    assert_eq!(by_subject.as_array().map(Vec::len), Some(1), "{by_subject}");
    assert_eq!(by_subject[0]["resourceId"], "id-orders");
    assert!(by_subject[0]["guid"].is_string(), "{by_subject}");
    assert_eq!(
        ok(server.get("/associations/resources/id-orders"))[0]["subject"],
        "orders-value"
    );
    assert_eq!(
        ok(server.get("/associations/resources/lkc-1/orders"))[0]["subject"],
        "orders-value"
    );
    assert_eq!(
        ok(server.get("/associations/resources/lkc-1/nothing")),
        json!([])
    );
    assert_eq!(
        ok(server.get("/associations/subjects/orders-value?associationType=key")),
        json!([])
    );
    // A WEAK association needs a live subject, and never uses the topic's own subject name.
    refused(
        server.post(
            "/associations",
            &association("items", json!([{"subject": "missing-value"}])),
        ),
        409,
        40907,
    );
    refused(
        server.post(
            "/associations",
            &association(
                "items",
                json!([{"subject": ":.lkc-1:items-value", "lifecycle": "WEAK"}]),
            ),
        ),
        422,
        42212,
    );
    refused(
        server.post(
            "/associations",
            &association(
                "bad",
                json!([{"subject": "orders-value", "associationType": "both"}]),
            ),
        ),
        422,
        42212,
    );
    // The same resource again, with another subject: refused.
    server.register_ok("orders2-value", &v1);
    refused(
        server.post(
            "/associations",
            &association("orders", json!([{"subject": "orders2-value"}])),
        ),
        409,
        40903,
    );

    // STRONG: created with the topic, registering its schema under the topic's own subject.
    let strong = ok(server.post(
        "/associations",
        &association("payments", json!([{"schema": {"schema": v1}}])),
    ));
    let owned = ":.lkc-1:payments-value";
    assert_eq!(strong["associations"][0]["subject"], owned, "{strong}");
    assert_eq!(strong["associations"][0]["lifecycle"], "STRONG");
    assert_eq!(strong["associations"][0]["frozen"], true);
    let versions = ok(server.get(&format!("/subjects/{}/versions", encode(owned))));
    assert_eq!(versions, json!([1]));
    // A frozen subject takes no other association, and its topic's association is fixed.
    refused(
        server.post(
            "/associations",
            &association("mirror", json!([{"subject": owned}])),
        ),
        409,
        40905,
    );
    // Deleting the subject, or its last version, while it is associated: refused.
    refused(
        server.delete(&format!("/subjects/{}", encode(owned))),
        409,
        40904,
    );
    refused(
        server.delete(&format!("/subjects/{}/versions/1", encode(owned))),
        409,
        40907,
    );
    refused(server.delete("/subjects/orders-value"), 409, 40904);

    // Deleting a resource's associations: a frozen one only with cascade, which takes the
    // subject along.
    assert_eq!(server.delete("/associations/resources/id-orders").0, 204);
    assert_eq!(
        ok(server.get("/associations/subjects/orders-value")),
        json!([])
    );
    assert_eq!(server.delete("/subjects/orders-value").0, 200);
    refused(
        server.delete("/associations/resources/id-payments"),
        409,
        40908,
    );
    assert_eq!(
        server
            .delete("/associations/resources/id-payments?cascadeLifecycle=true")
            .0,
        204
    );
    refused(
        server.get(&format!("/subjects/{}/versions", encode(owned))),
        404,
        40401,
    );
    refused(
        server.delete("/associations/resources/id-nothing"),
        404,
        40410,
    );
}

#[test]
fn batch_association_calls_answer_per_resource() {
    let server = Server::start();
    let v1 = record("Order", &["id:long"]);
    server.register_ok("a-value", &v1);
    server.register_ok("b-value", &v1);
    let op = |subject: &str| json!([{"opType": "CREATE", "subject": subject}]);
    let (status, body) = server.post(
        "/associations:batchMutate",
        &json!({"requests": [
            association("a", op("a-value")),
            association("b", op("missing-value")),
        ]}),
    );
    assert_eq!(status, 207, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{body}");
    assert_eq!(
        results[0]["result"]["associations"][0]["subject"], "a-value",
        "{body}"
    );
    assert_eq!(results[1]["error"]["error_code"], 40907, "{body}");
    let (status, body) = server.post(
        "/associations:batchGet",
        &json!({"requests": [{"resourceId": "id-a"}, {"resourceId": "id-b"}, {"resourceName": "x"}]}),
    );
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        body["results"][0]["result"]["associations"][0]["subject"], "a-value",
        "{body}"
    );
    assert_eq!(
        body["results"][1]["result"]["associations"],
        json!([]),
        "{body}"
    );
    assert!(body["results"][2]["error"]["message"].is_string(), "{body}");
    refused(
        server.post("/associations:batchGet", &json!({"requests": []})),
        422,
        42212,
    );
}

#[test]
fn a_new_version_carries_over_defaults_its_predecessor_and_overrides() {
    let server = Server::start();
    let rule = |name: &str, expr: &str| json!({"name": name, "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": expr});
    // Defaults and overrides from the global config, one key from the subject's.
    ok(server.put(
        "/config",
        &json!({
            "defaultMetadata": {"properties": {"owner": "platform", "tier": "gold"}},
            "overrideMetadata": {"properties": {"tier": "platinum"}},
            "defaultRuleSet": {"domainRules": [rule("defaultRule", "true")]},
        }),
    ));
    ok(server.put(
        "/config/users-value",
        &json!({"overrideRuleSet": {"domainRules": [rule("overrideRule", "message.id > 0")]}}),
    ));
    let v1 = record("User", &["id:long"]);
    let first = ok(server.post(
        "/subjects/users-value/versions",
        &json!({"schema": v1, "metadata": {"properties": {"owner": "payments"}}}),
    ));
    let latest = ok(server.get("/subjects/users-value/versions/latest"));
    assert_eq!(latest["id"], first["id"]);
    let properties = &latest["metadata"]["properties"];
    assert_eq!(properties["owner"], "payments", "{latest}");
    assert_eq!(properties["tier"], "platinum", "{latest}");
    // Written only when the request or the merged metadata asks for it, as Confluent does.
    assert!(properties.get("confluent:version").is_none(), "{latest}");
    let names: Vec<&str> = latest["ruleSet"]["domainRules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["defaultRule", "overrideRule"], "{latest}");

    // Version 2 says nothing: it carries version 1's contract, with its own version number.
    let v2 = record("User", &["id:long", "name:string=\"\""]);
    ok(server.register("users-value", &v2));
    let second = ok(server.get("/subjects/users-value/versions/2"));
    assert_eq!(
        second["metadata"]["properties"]["owner"], "payments",
        "{second}"
    );
    assert_eq!(second["ruleSet"], latest["ruleSet"]);
    // Registering version 2's schema again answers version 2, and a lookup finds it.
    let again = ok(server.register("users-value", &v2));
    assert_eq!(again["version"], 2);
    let found = ok(server.post("/subjects/users-value", &json!({"schema": v2})));
    assert_eq!(found["version"], 2);

    // A rule set that Confluent would refuse is refused on registration and in a config.
    let bad = json!({"domainRules": [{"name": "9bad", "kind": "CONDITION", "type": "CEL", "mode": "WRITE"}]});
    refused(
        server.post(
            "/subjects/other-value/versions",
            &json!({"schema": v1, "ruleSet": bad}),
        ),
        422,
        42210,
    );
    refused(
        server.put("/config/other-value", &json!({"defaultRuleSet": bad})),
        422,
        42210,
    );
}

#[test]
fn tags_are_added_to_a_new_version_and_protobuf_is_refused() {
    let server = Server::start();
    let v1 = record("Card", &["number:string", "cvv:string"]);
    server.register_ok("cards-value", &v1);
    let tagged = ok(server.post(
        "/subjects/cards-value/versions/latest/tags",
        &json!({"newVersion": 2, "tagsToAdd": [{"schemaEntity": {"entityPath": "Card.number", "entityType": "sr_field"}, "tags": ["PII"]}]}),
    ));
    assert_eq!(tagged["version"], 2, "{tagged}");
    let latest = ok(server.get("/subjects/cards-value/versions/latest"));
    let schema: Value =
        serde_json::from_str(latest["schema"].as_str().expect("text")).expect("json");
    let number = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "number")
        .expect("number")
        .clone();
    assert_eq!(number["confluent:tags"], json!(["PII"]), "{schema}");

    let proto = r#"syntax = "proto3"; message Card { string number = 1; }"#;
    ok(server.post(
        "/subjects/pcards-value/versions",
        &json!({"schema": proto, "schemaType": "PROTOBUF"}),
    ));
    refused(
        server.post(
            "/subjects/pcards-value/versions/latest/tags",
            &json!({"tagsToAdd": [{"schemaEntity": {"entityPath": "Card.number", "entityType": "sr_field"}, "tags": ["PII"]}]}),
        ),
        422,
        42201,
    );
}

/// `ruleSet` with `rulesToMerge` (or `rulesToRemove`) on the tags endpoint is refused, as
/// Confluent refuses it, and nothing is registered.
#[test]
fn a_rule_set_with_rules_to_merge_is_refused() {
    let server = Server::start();
    server.register_ok("cards-value", &record("Card", &["number:string"]));
    let rules = json!({"domainRules": [{"name": "checkNumber", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "message.number != ''"}]});
    for extra in ["rulesToMerge", "rulesToRemove"] {
        let mut body = json!({"newVersion": 2, "ruleSet": rules});
        body[extra] = if extra == "rulesToMerge" {
            rules.clone()
        } else {
            json!(["checkNumber"])
        };
        let message = refused(
            server.post("/subjects/cards-value/versions/latest/tags", &body),
            422,
            42210,
        );
        assert_eq!(
            message,
            "ruleSet should be omitted if specifying rulesToMerge or rulesToRemove"
        );
    }
    assert_eq!(ok(server.get("/subjects/cards-value/versions")), json!([1]));
}

/// KEKs, DEKs and associations are in the audit trail like every other write: what was done,
/// to which key, subject or resource.
#[test]
fn key_and_association_writes_are_audited() {
    let server = Server::start();
    server.register_ok("orders-value", &record("Order", &["id:long"]));
    ok(server.post("/dek-registry/v1/keks", &kek("orders", false)));
    ok(server.post(
        "/dek-registry/v1/keks/orders/deks",
        &json!({"subject": "orders-value", "encryptedKeyMaterial": WRAPPED}),
    ));
    assert_eq!(
        server
            .delete("/dek-registry/v1/keks/orders/deks/orders-value")
            .0,
        204
    );
    assert_eq!(
        server
            .post(
                "/dek-registry/v1/keks/orders/deks/orders-value/undelete",
                &json!({})
            )
            .0,
        204
    );
    ok(server.put(
        "/dek-registry/v1/keks/orders",
        &json!({"kmsProps": {"region": "eu-central-1"}, "shared": false}),
    ));
    associate_orders(&server);
    dissociate_orders(&server);
    let page = ok(server.get("/covenant/v1/audit"));
    let entries = page["entries"].as_array().expect("entries");
    let rows: Vec<[&str; 4]> = entries
        .iter()
        .filter(|e| e["action"] != "schema_registered")
        .map(|e| ["action", "kek", "subject", "resource"].map(|k| e[k].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        rows,
        vec![
            ["kek_created", "orders", "", ""],
            ["dek_created", "orders", "orders-value", ""],
            ["dek_deleted", "orders", "orders-value", ""],
            ["dek_undeleted", "orders", "orders-value", ""],
            ["kek_updated", "orders", "", ""],
            ["association_set", "", "orders-value", "id-orders"],
            ["association_deleted", "", "", "id-orders"],
        ],
        "{page}"
    );
}

#[test]
fn keys_and_associations_survive_restarts_and_snapshots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::test_store(dir.path());
    let mut options = with_kms();
    options.args = vec!["--snapshot-interval".into(), "3".into()];
    let mut server = Server::spawn(&store, &options, dir.path());
    ok(server.post("/dek-registry/v1/keks", &kek("k1", true)));
    ok(server.post("/dek-registry/v1/keks", &kek("k2", false)));
    let dek = ok(server.post(
        "/dek-registry/v1/keks/k1/deks",
        &json!({"subject": "s-value"}),
    ));
    server.register_ok("s-value", &record("S", &["id:long"]));
    ok(server.post(
        "/associations",
        &association("s", json!([{"subject": "s-value"}])),
    ));
    assert_eq!(server.delete("/dek-registry/v1/keks/k2").0, 204);
    let before = (
        ok(server.get("/dek-registry/v1/keks?deleted=true")),
        ok(server.get("/dek-registry/v1/keks/k1/deks/s-value")),
        ok(server.get("/associations/subjects/s-value")),
    );
    server.kill();
    let server = Server::spawn(&store, &options, dir.path());
    let after = (
        ok(server.get("/dek-registry/v1/keks?deleted=true")),
        ok(server.get("/dek-registry/v1/keks/k1/deks/s-value")),
        ok(server.get("/associations/subjects/s-value")),
    );
    assert_eq!(before, after);
    assert_eq!(after.1["keyMaterial"], dek["keyMaterial"]);
    assert_eq!(after.0, json!(["k1", "k2"]));
}

#[test]
fn export_and_import_carry_keys_and_associations() {
    let source = Server::start_with(with_kms());
    ok(source.post("/dek-registry/v1/keks", &kek("shared", true)));
    ok(source.post("/dek-registry/v1/keks", &kek("client", false)));
    ok(source.post(
        "/dek-registry/v1/keks/client/deks",
        &json!({"subject": "c-value", "encryptedKeyMaterial": WRAPPED}),
    ));
    let dek = ok(source.post(
        "/dek-registry/v1/keks/shared/deks",
        &json!({"subject": "s-value", "algorithm": "AES128_GCM"}),
    ));
    ok(source.post("/dek-registry/v1/keks", &kek("gone", false)));
    assert_eq!(source.delete("/dek-registry/v1/keks/gone").0, 204);
    let v1 = record("S", &["id:long"]);
    source.register_ok("s-value", &v1);
    ok(source.post(
        "/associations",
        &association("s", json!([{"subject": "s-value"}])),
    ));
    ok(source.post(
        "/associations",
        &association("t", json!([{"schema": {"schema": v1}}])),
    ));

    let dir = tempfile::tempdir().expect("temp dir");
    let exported = common::export_of(&source.url, dir.path(), "export.json");
    let text = std::fs::read_to_string(dir.path().join("export.json")).expect("export");
    let material = dek["keyMaterial"].as_str().expect("key material");
    assert!(!text.contains(material), "the export holds a plain key");
    assert_eq!(exported["version"], 2);

    let target = Server::start_with(with_kms());
    common::import_into(&target.url, &dir.path().join("export.json"));
    let again = common::export_of(&target.url, dir.path(), "again.json");
    let strip = |mut export: Value| {
        for list in ["keks", "deks", "associations"] {
            for item in export[list].as_array_mut().into_iter().flatten() {
                if let Some(object) = item.as_object_mut() {
                    for key in ["ts", "guid", "createTs", "updateTs"] {
                        object.remove(key);
                    }
                }
            }
        }
        export
    };
    assert_eq!(strip(again), strip(exported));
    // The shared KEK's DEK unwraps to the same key in the target.
    let read = ok(target.get("/dek-registry/v1/keks/shared/deks/s-value?algorithm=AES128_GCM"));
    assert_eq!(read["keyMaterial"], material);
    let owned = ok(target.get("/associations/resources/id-t"));
    assert_eq!(owned[0]["lifecycle"], "STRONG", "{owned}");
}
