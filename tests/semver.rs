//! Black-box tests of semantic contract versions: decided at registration, recorded in the
//! log, served under /covenant/v1 without touching any Confluent answer, resolved from a
//! requirement, and used by `covenant check`, `versions`, `changelog`, `export` and `import`.

mod common;

use std::process::Command;

use common::{binary, Server};
use serde_json::{json, Value};

fn avro(fields: &[Value], doc: Option<&str>) -> String {
    let mut schema = json!({"type": "record", "name": "User", "fields": fields});
    if let Some(doc) = doc {
        schema["doc"] = json!(doc);
    }
    schema.to_string()
}

fn id() -> Value {
    json!({"name": "id", "type": "long"})
}

fn email() -> Value {
    json!({"name": "email", "type": "string", "default": ""})
}

#[track_caller]
fn ok(reply: (u16, Value)) -> Value {
    assert_eq!(reply.0, 200, "{}", reply.1);
    reply.1
}

/// Registers the history every test here starts from: 1.0.0, a field with a default (1.1.0),
/// a doc (1.1.1), then under NONE a breaking type change (2.0.0).
fn history(server: &Server) {
    server.register_ok("users-value", &avro(&[id()], None));
    server.register_ok("users-value", &avro(&[id(), email()], None));
    server.register_ok("users-value", &avro(&[id(), email()], Some("a user")));
    ok(server.put("/config/users-value", &json!({"compatibility": "NONE"})));
    server.register_ok(
        "users-value",
        &avro(&[json!({"name": "id", "type": "string"}), email()], None),
    );
}

fn semvers(server: &Server) -> Vec<(i64, String, Option<String>)> {
    ok(server.get("/covenant/v1/subjects/users-value/versions"))
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().expect("version"),
                v["semver"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["semver"]["bump"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn versions_get_semantic_versions_from_what_changed() {
    let dir = tempfile::tempdir().expect("dir");
    let store = common::test_store(dir.path());
    let mut server = Server::spawn(&store, &common::Options::default(), dir.path());
    history(&server);
    let expected = vec![
        (1, "1.0.0".to_string(), None),
        (2, "1.1.0".to_string(), Some("minor".to_string())),
        (3, "1.1.1".to_string(), Some("patch".to_string())),
        (4, "2.0.0".to_string(), Some("major".to_string())),
    ];
    assert_eq!(semvers(&server), expected);
    let listed = ok(server.get("/covenant/v1/subjects/users-value/versions"));
    assert_eq!(listed[1]["semver"]["against"], 1);
    assert!(
        listed[1]["semver"]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("FIELD_ADDED")),
        "{listed}"
    );
    // No Confluent answer carries it.
    for path in [
        "/subjects/users-value/versions/2",
        "/subjects/users-value/versions/latest",
        "/schemas/ids/2",
    ] {
        let body = ok(server.get(path));
        assert!(body.get("semver").is_none(), "{path}: {body}");
    }
    // Re-registering an existing version changes nothing.
    server.register_ok("users-value", &avro(&[id(), email()], None));
    assert_eq!(semvers(&server), expected);
    // Recorded, not recomputed: the same after a restart.
    server.kill();
    let server = Server::spawn(&store, &common::Options::default(), dir.path());
    assert_eq!(semvers(&server), expected);
    // Unknown subjects are 404/40401.
    let (status, body) = server.get("/covenant/v1/subjects/nothing/versions");
    assert_eq!((status, body["error_code"].clone()), (404, json!(40401)));
}

#[test]
fn requirements_resolve_to_the_newest_matching_version() {
    let server = Server::start();
    history(&server);
    let resolve = |requirement: &str| {
        server.get(&format!(
            "/covenant/v1/subjects/users-value/semver?requirement={}",
            common::encode(requirement)
        ))
    };
    for (requirement, version) in [
        ("^1", 3),
        ("~1.1", 3),
        (">=1.0.0, <1.1.0", 1),
        ("=1.1.0", 2),
        ("^2", 4),
        ("*", 4),
    ] {
        let body = ok(resolve(requirement));
        assert_eq!(body["version"], version, "{requirement}: {body}");
    }
    let (status, body) = resolve("^3");
    assert_eq!(
        (status, body["error_code"].clone()),
        (404, json!(40402)),
        "{body}"
    );
    let (status, body) = resolve("one");
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(422)),
        "{body}"
    );
    // A soft-deleted version is not resolved.
    assert_eq!(server.delete("/subjects/users-value/versions/3").0, 200);
    assert_eq!(ok(resolve("^1"))["version"], 2);
}

#[test]
fn explicit_versions_groups_and_previews() {
    let server = Server::start();
    server.register_ok("users-value", &avro(&[id()], None));
    // An explicit version lower than the change needs is refused; a higher one is taken.
    let v2 = avro(&[id(), email()], None);
    let (status, body) = server.post(
        "/subjects/users-value/versions",
        &json!({"schema": v2, "metadata": {"properties": {"covenant:semver": "1.0.1"}}}),
    );
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(422)),
        "{body}"
    );
    let (status, body) = server.post(
        "/subjects/users-value/versions",
        &json!({"schema": v2, "metadata": {"properties": {"covenant:semver": "not-a-version"}}}),
    );
    assert_eq!(status, 422, "{body}");
    ok(server.post(
        "/subjects/users-value/versions",
        &json!({"schema": v2, "metadata": {"properties": {"covenant:semver": "1.5.0"}}}),
    ));
    let listed = ok(server.get("/covenant/v1/subjects/users-value/versions"));
    assert_eq!(listed[1]["semver"]["version"], "1.5.0");
    assert_eq!(listed[1]["semver"]["explicit"], true);
    // A preview says what a registration would get, and writes nothing.
    let v3 = avro(
        &[
            id(),
            email(),
            json!({"name": "n", "type": "int", "default": 0}),
        ],
        None,
    );
    let preview = ok(server.post(
        "/covenant/v1/subjects/users-value/semver",
        &json!({"schema": v3}),
    ));
    assert_eq!(preview["semver"]["version"], "1.6.0", "{preview}");
    assert_eq!(preview["version"], 3);
    assert_eq!(
        ok(server.get("/subjects/users-value/versions")),
        json!([1, 2])
    );
    // A new compatibility-group value starts a new major line.
    ok(server.put(
        "/config/users-value",
        &json!({"compatibilityGroup": "application.major.version"}),
    ));
    ok(server.post(
        "/subjects/users-value/versions",
        &json!({"schema": avro(&[json!({"name": "id", "type": "string"})], None),
                "metadata": {"properties": {"application.major.version": "2"}}}),
    ));
    let listed = ok(server.get("/covenant/v1/subjects/users-value/versions"));
    assert_eq!(listed[2]["semver"]["version"], "2.0.0", "{listed}");
    assert_eq!(listed[2]["semver"]["bump"], "major");
}

fn covenant(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(args)
        .output()
        .expect("covenant runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn the_cli_shows_gates_and_writes_release_notes() {
    let server = Server::start();
    history(&server);
    let url = server.url.as_str();
    let (code, out, err) = covenant(&["versions", "--registry", url, "users-value"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\t1.0.0\n2\t1.1.0\n3\t1.1.1\n4\t2.0.0\n");

    let (code, out, err) = covenant(&[
        "changelog",
        "--registry",
        url,
        "--format",
        "json",
        "users-value",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut entries: Value = serde_json::from_str(&out).expect("json");
    for entry in entries.as_array_mut().expect("entries") {
        entry.as_object_mut().expect("object").remove("ts");
    }
    assert_eq!(
        entries,
        json!([
            {"version": 4, "semver": "2.0.0", "bump": "major", "against": 3, "id": 4, "changes": ["TYPE_MISMATCH at /fields/0/type"]},
            {"version": 3, "semver": "1.1.1", "bump": "patch", "against": 2, "id": 3, "changes": ["DOC_CHANGED at /doc"]},
            {"version": 2, "semver": "1.1.0", "bump": "minor", "against": 1, "id": 2, "changes": ["FIELD_ADDED_WITH_DEFAULT at /fields/1"]},
            {"version": 1, "semver": "1.0.0", "bump": null, "against": null, "id": 1, "changes": ["the subject's first version"]},
        ])
    );
    let (code, out, _) = covenant(&["changelog", "--registry", url, "--from", "3", "users-value"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("# users-value\n\n## 2.0.0 (version 4)\n"),
        "{out}"
    );
    assert!(
        out.contains("## 1.1.1 (version 3)") && !out.contains("version 2)"),
        "{out}"
    );

    // `check` says what a change would get, and `--max-bump` gates on it.
    ok(server.put("/config/users-value", &json!({"compatibility": "BACKWARD"})));
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("user.avsc");
    std::fs::write(
        &file,
        avro(
            &[
                json!({"name": "id", "type": "string"}),
                email(),
                json!({"name": "age", "type": "int", "default": 0}),
            ],
            None,
        ),
    )
    .expect("file");
    let file = file.display().to_string();
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--registry", url, "--subject", "users-value"];
        args.extend_from_slice(extra);
        args.push(&file);
        covenant(&args)
    };
    let (code, out, err) = check(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would be 2.1.0 — minor: FIELD_ADDED_WITH_DEFAULT at /fields/2"),
        "{out}"
    );
    let (code, out, _) = check(&["--max-bump", "minor", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        report["results"][0]["semver"]["version"], "2.1.0",
        "{report}"
    );
    let (code, out, _) = check(&["--max-bump", "patch"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("needs a minor bump (2.1.0), more than --max-bump patch"),
        "{out}"
    );
    // Nothing was registered by any of it.
    assert_eq!(
        ok(server.get("/subjects/users-value/versions")),
        json!([1, 2, 3, 4])
    );
}

/// The JSON each of the three commands prints, with registration times taken out (they are
/// the only values that change from run to run).
fn without_times(mut value: Value) -> String {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("ts");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    serde_json::to_string_pretty(&value).expect("json") + "\n"
}

#[test]
fn the_cli_json_output_matches_its_snapshots() {
    let server = Server::start();
    history(&server);
    let url = server.url.as_str();
    // `covenant COMMAND --registry URL ARGS...` (words split on spaces), run in `dir`; its exit
    // code and the JSON it printed.
    let json_of = |command: &str, args: &str, dir: Option<&std::path::Path>| -> (i32, Value) {
        let mut run = Command::new(binary());
        run.args([command, "--registry", url]).args(args.split(' '));
        if let Some(dir) = dir {
            run.current_dir(dir);
        }
        let output = run.output().expect("covenant runs");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&output.stderr)));
        (output.status.code().unwrap_or(-1), value)
    };
    for (name, command, args) in [
        ("versions_json", "versions", "--output json users-value"),
        ("changelog_json", "changelog", "--format json users-value"),
        (
            "changelog_json_from_3",
            "changelog",
            "--format json --from 3 users-value",
        ),
    ] {
        let (code, printed) = json_of(command, args, None);
        assert_eq!(code, 0, "{command} {args}");
        insta::assert_snapshot!(name, without_times(printed));
    }

    // `check`: a compatible change within --max-bump, the same over it, and a break.
    ok(server.put("/config/users-value", &json!({"compatibility": "BACKWARD"})));
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("user-minor.avsc"),
        avro(
            &[
                json!({"name": "id", "type": "string"}),
                email(),
                json!({"name": "age", "type": "int", "default": 0}),
            ],
            None,
        ),
    )
    .expect("file");
    std::fs::write(
        dir.path().join("user-breaking.avsc"),
        avro(
            &[
                json!({"name": "id", "type": "string"}),
                email(),
                json!({"name": "age", "type": "int"}),
            ],
            None,
        ),
    )
    .expect("file");
    let check = |extra: &str, file: &str| {
        json_of(
            "check",
            &format!("--subject users-value {extra}--format json {file}"),
            Some(dir.path()),
        )
    };
    let (code, report) = check("--max-bump minor ", "user-minor.avsc");
    assert_eq!(code, 0, "{report}");
    insta::assert_snapshot!("check_json_minor", without_times(report));
    let (code, report) = check("--max-bump patch ", "user-minor.avsc");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!("check_json_over_max_bump", without_times(report));
    let (code, report) = check("", "user-breaking.avsc");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!("check_json_breaking", without_times(report));
}

#[test]
fn export_and_import_keep_the_recorded_versions() {
    let source = Server::start();
    history(&source);
    let dir = tempfile::tempdir().expect("dir");
    let exported = common::export_of(&source.url, dir.path(), "export.json");
    assert_eq!(
        exported["subjects"][0]["semvers"]["4"]["version"], "2.0.0",
        "{exported}"
    );
    let target = Server::start();
    common::import_into(&target.url, &dir.path().join("export.json"));
    assert_eq!(semvers(&target), semvers(&source));
}

#[test]
fn the_client_pins_its_writer_and_refuses_writers_outside_a_requirement() {
    use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
    use covenant_client::{Client, SerializerConfig};
    let server = Server::start();
    history(&server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(&server.url).expect("client");
    // The local schema is ignored: the writer is the newest 1.x, version 3 (id 3).
    let local = avro(&[id()], None);
    let pinned = AvroSerializer::new(
        client.clone(),
        &local,
        vec![],
        SerializerConfig {
            auto_register: false,
            ..SerializerConfig::default()
        }
        .use_version_req("^1"),
    )
    .expect("serializer");
    #[derive(serde::Serialize)]
    struct User {
        id: i64,
        email: String,
    }
    let record = User {
        id: 7,
        email: "a@example.com".into(),
    };
    let bytes = rt
        .block_on(pinned.serialize_serde("users", &record))
        .expect("serializes");
    assert_eq!(&bytes[1..5], &3i32.to_be_bytes());
    // A reader that requires 1.x reads it; one that requires ^2 refuses it, saying why.
    let ones = AvroDeserializer::new(client.clone(), None)
        .expect("deserializer")
        .require_version("users-value", "^1")
        .expect("requirement");
    rt.block_on(ones.deserialize(&bytes))
        .expect("1.1.1 is within ^1");
    let twos = AvroDeserializer::new(client.clone(), None)
        .expect("deserializer")
        .require_version("users-value", "^2")
        .expect("requirement");
    let error = rt.block_on(twos.deserialize(&bytes)).expect_err("refused");
    assert!(
        error.to_string().contains("1.1.1") && error.to_string().contains("^2"),
        "{error}"
    );
    assert!(AvroDeserializer::new(client.clone(), None)
        .expect("deserializer")
        .require_version("users-value", "two")
        .is_err());
    // No version matches: the serializer says so.
    let none = AvroSerializer::new(
        client,
        &local,
        vec![],
        SerializerConfig::default().use_version_req("^5"),
    )
    .expect("serializer");
    let error = rt
        .block_on(none.serialize_serde("users", &record))
        .expect_err("nothing matches");
    assert!(error.to_string().contains("40402"), "{error}");
}
