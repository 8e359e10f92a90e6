//! Issue 5: every `covenant` command, run as a process against a real running registry: exit
//! codes, outputs, offline checks against a directory and a git ref, and export/import.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Server;
use serde_json::{json, Value};

const USER_V1: &str = "{\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [\n    {\"name\": \"id\", \"type\": \"long\"}\n  ]\n}\n";
const USER_BREAKING: &str = "{\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [\n    {\"name\": \"id\", \"type\": \"long\"},\n    {\"name\": \"email\", \"type\": \"string\"}\n  ]\n}\n";
const USER_OK: &str = "{\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [\n    {\"name\": \"id\", \"type\": \"long\"},\n    {\"name\": \"email\", \"type\": \"string\", \"default\": \"\"}\n  ]\n}\n";
const ORDER_V1: &str = "syntax = \"proto3\";\npackage shop;\n\nmessage Order {\n  string id = 1;\n  int32 quantity = 2;\n}\n";
const ORDER_BREAKING: &str = "syntax = \"proto3\";\npackage shop;\n\nmessage Order {\n  string id = 1;\n  string quantity = 2;\n}\n";

/// Runs `covenant` in `dir` against `registry`.
fn covenant(dir: &Path, registry: &str, args: &[&str]) -> Output {
    Command::new(common::binary())
        .args(args)
        .current_dir(dir)
        .env("COVENANT_REGISTRY", registry)
        .env("NO_COLOR", "1")
        .env_remove("COVENANT_USER")
        .env_remove("COVENANT_PASSWORD")
        .env_remove("COVENANT_TOKEN")
        .output()
        .expect("covenant runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dirs");
    }
    std::fs::write(path, text).expect("write");
}

#[test]
fn check_online_exit_codes_and_messages() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "user.avsc", USER_V1);
    write(dir.path(), "user-breaking.avsc", USER_BREAKING);
    write(dir.path(), "user-ok.avsc", USER_OK);
    let run = |args: &[&str]| covenant(dir.path(), &server.url, args);

    // A subject with no versions accepts anything.
    let output = run(&["check", "--subject", "users-value", "user.avsc"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        run(&["register", "--subject", "users-value", "user.avsc"])
            .status
            .code(),
        Some(0)
    );

    let output = run(&["check", "--subject", "users-value", "user-ok.avsc"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output)
            .contains("✓ user-ok.avsc → users-value: compatible (BACKWARD, against registry)"),
        "{}",
        stdout(&output)
    );

    let output = run(&["check", "--subject", "users-value", "user-breaking.avsc"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains(
            "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1 (line 6), against version 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("hint: add a default to field `email`"),
        "{text}"
    );
    assert!(text.contains("new: \"string\""), "{text}");

    // GitHub annotations land on the line of the schema file.
    let output = run(&[
        "check",
        "--subject",
        "users-value",
        "--format",
        "github",
        "user-breaking.avsc",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("::error file=user-breaking.avsc,line=6,title=READER_FIELD_MISSING_DEFAULT_VALUE (users-value)::"), "{}", stdout(&output));

    // JUnit for CI test reports.
    let output = run(&[
        "check",
        "--subject",
        "users-value",
        "--format",
        "junit",
        "user-breaking.avsc",
    ]);
    let xml = stdout(&output);
    assert!(
        xml.contains("<testcase classname=\"users-value\" name=\"user-breaking.avsc\">"),
        "{xml}"
    );
    assert!(xml.contains("<failure type=\"incompatible\""), "{xml}");

    // JSON output, snapshot-tested.
    let output = run(&[
        "check",
        "--subject",
        "users-value",
        "--format",
        "json",
        "user-breaking.avsc",
    ]);
    insta::assert_snapshot!("check_json_incompatible", stdout(&output));

    // Errors read as sentences and exit with 2.
    let output = run(&["check", "--subject", "users-value", "missing.avsc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("cannot read missing.avsc"),
        "{}",
        stdout(&output)
    );
    let output = covenant(
        dir.path(),
        "http://127.0.0.1:1",
        &[
            "check",
            "--subject",
            "users-value",
            "--user",
            "me",
            "--password",
            "hunter2",
            "user.avsc",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("cannot reach the registry at http://127.0.0.1:1"),
        "{}",
        stdout(&output)
    );
    assert!(
        !stdout(&output).contains("hunter2") && !stderr(&output).contains("hunter2"),
        "credentials are never echoed"
    );
    let output = run(&["check", "user.avsc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--subject is required"),
        "{}",
        stderr(&output)
    );
    let output = run(&["check", "--subject", "x", "schema.txt"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn manifest_checks_every_schema_and_reports_all_findings() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "schemas/user.avsc", USER_V1);
    write(dir.path(), "schemas/order.proto", ORDER_V1);
    write(
        dir.path(),
        "covenant.toml",
        "[[schema]]\nfile = \"schemas/user.avsc\"\nsubject = \"users-value\"\n\n[[schema]]\nfile = \"schemas/order.proto\"\nsubject = \"orders-value\"\n",
    );
    let run = |args: &[&str]| covenant(dir.path(), &server.url, args);
    assert_eq!(
        run(&["register", "--subject", "users-value", "schemas/user.avsc"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&[
            "register",
            "--subject",
            "orders-value",
            "schemas/order.proto"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(run(&["check"]).status.code(), Some(0));
    // Break both: both are reported.
    write(dir.path(), "schemas/user.avsc", USER_BREAKING);
    write(dir.path(), "schemas/order.proto", ORDER_BREAKING);
    let output = run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{text}"
    );
    assert!(
        text.contains("FIELD_SCALAR_KIND_CHANGED at #/Order/2 (line 6)"),
        "{text}"
    );
    assert!(
        text.contains("2 schemas checked: 0 compatible, 2 incompatible"),
        "{text}"
    );
    // A bad manifest line is named.
    write(
        dir.path(),
        "bad.toml",
        "[[schema]]\nfile = \"schemas/user.avsc\"\nsubjet = \"users-value\"\n",
    );
    let output = run(&["check", "--manifest", "bad.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("line 3") && stderr(&output).contains("subjet"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn offline_checks_against_a_directory_and_a_git_ref() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| covenant(dir.path(), "http://127.0.0.1:1", args);
    // A directory holding the earlier tree.
    write(dir.path(), "old/schemas/user.avsc", USER_V1);
    write(dir.path(), "schemas/user.avsc", USER_BREAKING);
    let output = run(&[
        "check",
        "--against",
        "old",
        "--subject",
        "users-value",
        "schemas/user.avsc",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("against old"),
        "{}",
        stdout(&output)
    );
    // FORWARD: the old schema reads the new one's data, which is fine here.
    let output = run(&[
        "check",
        "--against",
        "old",
        "--level",
        "FORWARD",
        "--subject",
        "users-value",
        "schemas/user.avsc",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // A directory of several earlier versions, checked transitively.
    write(dir.path(), "history/user.avsc/v1.avsc", USER_V1);
    write(dir.path(), "history/user.avsc/v2.avsc", USER_OK);
    write(dir.path(), "user.avsc", USER_OK);
    let output = run(&[
        "check",
        "--against",
        "history",
        "--level",
        "FULL_TRANSITIVE",
        "--subject",
        "u",
        "user.avsc",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // A git ref.
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    write(dir.path(), "schemas/order.proto", ORDER_V1);
    write(dir.path(), "covenant.toml", "[[schema]]\nfile = \"schemas/order.proto\"\nsubject = \"orders-value\"\nlevel = \"BACKWARD\"\n");
    git(&["add", "schemas/order.proto", "covenant.toml"]);
    git(&["commit", "-qm", "v1"]);
    assert_eq!(
        run(&["check", "--against", "git:HEAD"]).status.code(),
        Some(0)
    );
    write(dir.path(), "schemas/order.proto", ORDER_BREAKING);
    let output = run(&["check", "--against", "git:HEAD", "--format", "github"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("::error file=schemas/order.proto,line=6"),
        "{}",
        stdout(&output)
    );
    // A file the ref does not have is a new schema.
    write(dir.path(), "new.proto", ORDER_V1);
    assert_eq!(
        run(&[
            "check",
            "--against",
            "git:HEAD",
            "--subject",
            "n",
            "new.proto"
        ])
        .status
        .code(),
        Some(0)
    );
}

#[test]
fn operator_commands() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "user.avsc", USER_V1);
    write(dir.path(), "user-ok.avsc", USER_OK);
    let run = |args: &[&str]| covenant(dir.path(), &server.url, args);
    let output = run(&["register", "--subject", "users-value", "user.avsc"]);
    assert_eq!(
        stdout(&output).trim(),
        "registered user.avsc as version 1 of users-value (id 1)"
    );
    let output = run(&[
        "register",
        "--subject",
        "users-value",
        "--output",
        "json",
        "user-ok.avsc",
    ]);
    let body: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(
        (body["id"].clone(), body["version"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(stdout(&run(&["subjects"])).trim(), "users-value");
    // Each version with its semantic version beside it, in text and in JSON.
    assert_eq!(
        stdout(&run(&["versions", "users-value"])).trim(),
        "1\t1.0.0\n2\t1.1.0"
    );
    let listed: Value = serde_json::from_str(&stdout(&run(&[
        "versions",
        "--output",
        "json",
        "users-value",
    ])))
    .expect("json");
    let pairs: Vec<(Value, Value)> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| (v["version"].clone(), v["semver"]["version"].clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![(json!(1), json!("1.0.0")), (json!(2), json!("1.1.0"))]
    );
    let output = run(&["get", "--id", "1"]);
    assert!(
        stdout(&output).contains("\"name\": \"User\""),
        "{}",
        stdout(&output)
    );
    let output = run(&[
        "get",
        "--subject",
        "users-value",
        "--version",
        "1",
        "--output",
        "json",
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&output)).expect("json")["id"],
        1
    );
    assert_eq!(stdout(&run(&["config"])).trim(), "BACKWARD");
    assert_eq!(
        stdout(&run(&[
            "config",
            "--subject",
            "users-value",
            "--level",
            "full"
        ]))
        .trim(),
        "FULL"
    );
    assert_eq!(
        stdout(&run(&["config", "--subject", "users-value"])).trim(),
        "FULL"
    );
    assert_eq!(
        stdout(&run(&["mode", "--subject", "users-value", "READONLY"])).trim(),
        "READONLY"
    );
    let output = run(&["delete", "--subject", "users-value", "--version", "2"]);
    assert_eq!(output.status.code(), Some(2), "read-only");
    assert!(
        stderr(&output).contains("read-only mode"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&run(&["mode", "--subject", "users-value", "--delete"])).trim(),
        "READONLY"
    );
    let output = run(&["delete", "--subject", "users-value", "--version", "2"]);
    assert_eq!(
        stdout(&output).trim(),
        "soft-deleted version 2 of users-value"
    );
    let output = run(&[
        "diff",
        "--subject",
        "users-value",
        "--from",
        "1",
        "user-ok.avsc",
    ]);
    assert!(
        stdout(&output).contains("FIELD_ADDED_WITH_DEFAULT at /fields/1 (compatible)"),
        "{}",
        stdout(&output)
    );
    let output = run(&["diff", "user.avsc", "user-ok.avsc", "--output", "json"]);
    let changes: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(changes[0]["kind"], "FIELD_ADDED_WITH_DEFAULT");
    // An unknown subject is a sentence, exit 2.
    let output = run(&["versions", "nobody"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Subject 'nobody' not found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn export_then_import_reproduces_ids_versions_configs_and_modes() {
    let source = Server::start();
    let target = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    // Give the source some history: two subjects, a soft delete, a reference, configs, modes, a context.
    source.put("/config", &json!({"compatibility": "NONE"}));
    source.register_ok("a-value", r#""string""#);
    source.register_ok(
        "b-value",
        r#"{"type":"record","name":"B","fields":[{"name":"x","type":"int"}]}"#,
    );
    source.register_ok("a-value", r#""long""#);
    source.register_ok("a-value", r#""int""#);
    source.delete("/subjects/a-value/versions/2");
    let (_, referrer) = source.post(
        "/subjects/c-value/versions",
        &json!({"schema": r#"{"type":"record","name":"C","fields":[{"name":"b","type":"B"}]}"#, "references": [{"name": "B", "subject": "b-value", "version": 1}]}),
    );
    assert!(referrer["id"].is_i64(), "{referrer}");
    source.register_ok(":.staging:a-value", r#""bytes""#);
    source.put("/config/b-value", &json!({"compatibility": "FULL"}));
    source.put("/mode/c-value", &json!({"mode": "READONLY"}));
    source.put("/config/:.staging:", &json!({"compatibility": "FORWARD"}));

    for (name, to) in [("file", "backup.json"), ("directory", "backup")] {
        let output = covenant(dir.path(), &source.url, &["export", "--to", to]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "export to a {name}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("exported 4 subjects (6 versions)"),
            "{}",
            stderr(&output)
        );
    }
    let output = covenant(dir.path(), &target.url, &["import", "--from", "backup"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The target now exports exactly what the source exported (but for the source URL).
    let output = covenant(dir.path(), &target.url, &["export", "--to", "again.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Registration times and GUIDs are the target's own; everything else is the same.
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir.path().join(name)).expect("read");
        common::comparable_export(serde_json::from_str(&text).expect("json"))
    };
    assert_eq!(read("backup.json"), read("again.json"));
    assert_eq!(
        target.get("/subjects/a-value/versions/3").1["id"],
        source.get("/subjects/a-value/versions/3").1["id"]
    );
    assert_eq!(target.get("/mode/c-value").1["mode"], "READONLY");
    // Importing into a registry that already has subjects needs --force.
    let output = covenant(
        dir.path(),
        &target.url,
        &["import", "--from", "backup.json"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
}

/// Issue 9: online, `covenant check` reports the registry's own findings, so on a subject with a
/// compatibility group they name only the versions of the candidate's group, and the verdict is
/// the one a registration gets.
#[test]
fn online_findings_are_the_registrys_within_a_compatibility_group() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| covenant(dir.path(), &server.url, args);
    let (status, _) = server.put(
        "/config/grouped-value",
        &json!({"compatibility": "FULL_TRANSITIVE", "compatibilityGroup": "major"}),
    );
    assert_eq!(status, 200);
    let register = |schema: &str, major: &str| {
        server.post(
            "/subjects/grouped-value/versions",
            &json!({"schema": schema, "metadata": {"properties": {"major": major}}}),
        )
    };
    // Group 1: versions 1 and 2. Group 2 starts afresh with version 3 (id long → string).
    let long_id = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
    let long_id_name = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":""}]}"#;
    let string_id = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"string"}]}"#;
    assert_eq!(register(long_id, "1").0, 200);
    assert_eq!(register(long_id_name, "1").0, 200);
    assert_eq!(register(string_id, "2").0, 200);

    // A group-2 candidate that breaks the group-1 versions but not version 3.
    let candidate = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"string"},{"name":"tag","type":"string","default":"x"}]}"#;
    write(dir.path(), "user.avsc", candidate);
    let output = run(&[
        "check",
        "--subject",
        "grouped-value",
        "--metadata",
        "major=2",
        "--format",
        "json",
        "user.avsc",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    // A group-2 candidate that breaks version 3: the findings name version 3 only.
    let breaking = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"int"}]}"#;
    write(dir.path(), "breaking.avsc", breaking);
    let output = run(&[
        "check",
        "--subject",
        "grouped-value",
        "--metadata",
        "major=2",
        "--format",
        "json",
        "breaking.avsc",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output)).expect("json");
    let findings = report["results"][0]["findings"]
        .as_array()
        .expect("findings")
        .clone();
    assert!(!findings.is_empty());
    assert!(
        findings.iter().all(|f| f["version"] == json!(3)),
        "only the group's version is named: {findings:?}"
    );
    // The registry's verdict on the same request, with its findings as data.
    let (status, verdict) = server.post(
        "/compatibility/subjects/grouped-value/versions?verbose=true",
        &json!({"schema": breaking, "metadata": {"properties": {"major": "2"}}}),
    );
    assert_eq!(status, 200);
    assert_eq!(verdict["is_compatible"], json!(false));
    let kinds: Vec<&Value> = verdict["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| &f["kind"])
        .collect();
    let reported: Vec<&Value> = findings.iter().map(|f| &f["kind"]).collect();
    assert_eq!(kinds, reported);
    // And a registration of it is refused the same way.
    let (status, _) = register(breaking, "2");
    assert_eq!(status, 409);
}
