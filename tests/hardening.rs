//! Issue 10: regressions of the hardening findings, against the real binary. Each test names
//! its finding. (`COVENANT_TEST_BINARY=old/covenant COVENANT_TEST_STORE=sled` runs them against
//! an earlier build, where they fail.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{record, Options, Server};
use serde_json::{json, Value};

/// Finding 1: ids and versions are exhausted with a clear error, never wrapped.
#[test]
fn ids_and_versions_never_wrap() {
    let server = Server::start();
    assert_eq!(server.put("/mode", &json!({"mode": "IMPORT"})).0, 200);
    let a = record("A", &["a:int"]);
    let (status, body) = server.post(
        "/subjects/a/versions",
        &json!({"schema": a, "id": 2147483647, "version": 2147483647}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.put("/mode", &json!({"mode": "READWRITE"})).0, 200);
    // No id is left: a new schema is refused, twice, with the same clear error.
    for subject in ["b", "c"] {
        let (status, body) = server.register(subject, &record("B", &["b:long"]));
        assert_eq!(
            (status, body["error_code"].as_i64()),
            (422, Some(42205)),
            "{body}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("no schema id is left"), "{message}");
    }
    // Nothing was corrupted: the imported schema is where it was, and no other subject exists.
    let (status, body) = server.get("/subjects/a/versions/2147483647");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 2147483647);
    assert_eq!(server.get("/subjects").1, json!(["a"]));
    assert_eq!(server.get("/schemas/ids/-2147483648").0, 404);
    // The same content still has its id, and no version is left in `a` for another one.
    assert_eq!(server.register("d", &a).1["id"], 2147483647);
    server.put("/config/a", &json!({"compatibility": "NONE"}));
    let (status, body) = server.register("a", &record("A2", &["x:int"]));
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (422, Some(42205)),
        "{body}"
    );
}

/// Finding 5: a reference to version -1 is stored with the version it resolved to, so the
/// referenced version is protected and the schema reads back.
#[test]
fn references_to_latest_keep_the_version_they_resolved_to() {
    let server = Server::start();
    let z = r#"{"type":"record","name":"Z","fields":[{"name":"z","type":"int"}]}"#;
    server.register_ok("zz", z);
    server.put("/config/zz", &json!({"compatibility": "NONE"}));
    let z2 = r#"{"type":"record","name":"Z","fields":[{"name":"z","type":"long"}]}"#;
    assert_eq!(server.register("zz", z2).0, 200);
    let w = r#"{"type":"record","name":"W","fields":[{"name":"z","type":"Z"}]}"#;
    let request =
        json!({"schema": w, "references": [{"name": "Z", "subject": "zz", "version": -1}]});
    let (status, body) = server.post("/subjects/ww/versions", &request);
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().expect("an id");
    assert_eq!(
        body["references"],
        json!([{"name": "Z", "subject": "zz", "version": 2}])
    );
    assert_eq!(
        server.get(&format!("/schemas/ids/{id}")).1["references"][0]["version"],
        2
    );
    assert_eq!(
        server.get("/subjects/zz/versions/2/referencedby").1,
        json!([id])
    );
    // The version it resolved to cannot be deleted; a later version does not move the reference.
    let (status, body) = server.delete("/subjects/zz/versions/2");
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (422, Some(42206)),
        "{body}"
    );
    let (status, body) = server.get(&format!("/schemas/ids/{id}?format=resolved"));
    assert_eq!(status, 200, "{body}");
    // Registering or looking up with -1 again finds the same version and id.
    assert_eq!(server.post("/subjects/ww/versions", &request).1["id"], id);
    let (status, body) = server.post("/subjects/ww", &request);
    assert_eq!((status, body["id"].as_i64()), (200, Some(id)), "{body}");
}

/// Finding 6: metadata and rule sets are read as Confluent binds them; a `version` outside
/// IMPORT mode must be the next one; an IMPORT registration without a version gets the next.
#[test]
fn contract_fields_and_versions_are_validated_as_confluent_does() {
    let server = Server::start();
    let schema = record("M", &["a:int"]);
    // (metadata or rule set, HTTP status, error_code)
    let cases = [
        (json!({"metadata": "x"}), 400, 400),
        (json!({"metadata": []}), 400, 400),
        (json!({"metadata": {"properties": {"a": {}}}}), 400, 400),
        (json!({"metadata": {"tags": {"f": "PII"}}}), 400, 400),
        (json!({"ruleSet": "x"}), 400, 400),
        (
            json!({"ruleSet": {"domainRules": [{"name": "r", "type": "CEL", "kind": "FOO"}]}}),
            400,
            400,
        ),
    ];
    for (member, status, code) in cases {
        let mut request = json!({"schema": schema});
        for (key, value) in member.as_object().expect("an object") {
            request[key] = value.clone();
        }
        let (got, body) = server.post("/subjects/m/versions", &request);
        assert_eq!(
            (got, body["error_code"].as_i64()),
            (status, Some(code)),
            "{member}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("metadata") || m.contains("ruleSet")),
            "{body}"
        );
    }
    // Scalars are read as their text, as Jackson reads them.
    let (status, body) = server.post(
        "/subjects/m/versions",
        &json!({"schema": schema, "metadata": {"properties": {"a": 1, "b": true}}, "ruleSet": {"domainRules": [{"name": "r", "type": "CEL", "expr": 5}]}}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["metadata"],
        json!({"properties": {"a": "1", "b": "true"}})
    );
    assert_eq!(body["ruleSet"]["domainRules"][0]["expr"], "5");
    assert_eq!(body["ruleSet"]["domainRules"][0]["kind"], "TRANSFORM");

    // Outside IMPORT mode a version must be the next one.
    server.put("/config/v", &json!({"compatibility": "NONE"}));
    let (status, body) = server.post(
        "/subjects/v/versions",
        &json!({"schema": schema, "version": 5}),
    );
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (422, Some(42201)),
        "{body}"
    );
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Version is not one more than previous version"));
    let (status, body) = server.post(
        "/subjects/v/versions",
        &json!({"schema": schema, "version": 1}),
    );
    assert_eq!((status, body["version"].as_i64()), (200, Some(1)), "{body}");
    let (status, body) = server.post(
        "/subjects/v/versions",
        &json!({"schema": record("M", &["b:int"]), "version": 3}),
    );
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (422, Some(42201)),
        "{body}"
    );
    // 0 and -1 mean no version; a negative id means no id.
    assert_eq!(
        server
            .post(
                "/subjects/v/versions",
                &json!({"schema": record("M", &["c:int"]), "version": 0})
            )
            .1["version"],
        2
    );
    assert_eq!(
        server
            .post(
                "/subjects/v/versions",
                &json!({"schema": record("M", &["d:int"]), "version": -1, "id": -1})
            )
            .1["version"],
        3
    );

    // IMPORT with an id and no version: the next version, as Confluent does.
    server.put("/mode/imp", &json!({"mode": "IMPORT"}));
    let imported = record("Imported", &["i:int"]);
    let (status, body) = server.post(
        "/subjects/imp/versions",
        &json!({"schema": imported, "id": 999}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["id"].as_i64(), body["version"].as_i64()),
        (Some(999), Some(1))
    );
    // Out of range or of the wrong type: 400 naming the member.
    let (status, body) = server.post(
        "/subjects/imp/versions",
        &json!({"schema": imported, "id": 2147483648u64}),
    );
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (400, Some(400)),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`id`"),
        "{body}"
    );
}

/// Finding 7: Avro defaults, invalid escapes, GET /schemas pages, messages in the user's terms.
#[test]
fn lower_severity_findings() {
    let server = Server::start();
    // An enum default that is not a symbol, a default of the wrong type: refused (42201).
    for schema in [
        r#"{"type":"record","name":"E","fields":[{"name":"e","type":{"type":"enum","name":"S","symbols":["A","B"]},"default":"Z"}]}"#,
        r#"{"type":"enum","name":"S","symbols":["A","B"],"default":"Z"}"#,
        r#"{"type":"record","name":"E","fields":[{"name":"i","type":"int","default":"five"}]}"#,
        r#"{"type":"record","name":"E","fields":[{"name":"i","type":"int","default":5.5}]}"#,
        r#"{"type":"record","name":"E","fields":[{"name":"u","type":["null","int"],"default":"five"}]}"#,
    ] {
        let (status, body) = server.register("defaults", schema);
        assert_eq!(
            (status, body["error_code"].as_i64()),
            (422, Some(42201)),
            "{schema}: {body}"
        );
    }
    // A union default that fits a branch other than the first: valid in Avro 1.12 (the
    // specification and Java parser Confluent 8 runs), so accepted.
    let later_branch =
        r#"{"type":"record","name":"E","fields":[{"name":"u","type":["null","int"],"default":5}]}"#;
    assert_eq!(server.register("defaults", later_branch).0, 200);

    // Invalid UTF-8 escapes are refused instead of all naming U+FFFD.
    for path in [
        "/subjects/%fe/versions",
        "/subjects/%ff/versions",
        "/subjects/%c0/versions",
    ] {
        let (status, text, _) = server.raw("GET", path, &[], None);
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            (status, body["error_code"].as_i64()),
            (400, Some(400)),
            "{path}: {text}"
        );
    }
    let (status, text, _) = server.raw(
        "POST",
        "/subjects/%ff/versions",
        &[("Content-Type", "application/json")],
        Some(br#"{"schema":"\"int\""}"#.to_vec()),
    );
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        server.get("/subjects").1,
        json!(["defaults"]),
        "nothing registered under U+FFFD"
    );

    // GET /schemas pages by default at Confluent's 1000, and limit=10 is a page.
    server.put("/config", &json!({"compatibility": "NONE"}));
    for n in 0..1010 {
        let (status, body) = server.post(
            &format!("/subjects/page-{}/versions", n % 3),
            &json!({"schema": record("P", &[&format!("f{n}:int")])}),
        );
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        server.get("/schemas").1.as_array().map(Vec::len),
        Some(1000)
    );
    assert_eq!(
        server.get("/schemas?limit=5000").1.as_array().map(Vec::len),
        Some(1000)
    );
    assert_eq!(
        server.get("/schemas?limit=10").1.as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(
        server
            .get("/schemas?offset=1000&limit=100")
            .1
            .as_array()
            .map(Vec::len),
        Some(11)
    );

    // Messages say what is wrong in the user's terms.
    let (_, text, _) = server.raw(
        "POST",
        "/subjects/s/versions",
        &[("Content-Type", "application/json")],
        Some(b"[1, 2]".to_vec()),
    );
    assert!(
        !text.contains("struct") && !text.contains("RegisterSchemaRequest"),
        "{text}"
    );
    assert!(text.contains("JSON object"), "{text}");
    let remote = json!({"schemaType": "JSON", "schema": r#"{"type":"object","properties":{"a":{"$ref":"https://example.com/a.json"}}}"#});
    let (status, body) = server.post("/subjects/remote/versions", &remote);
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains("resolve-http") && message.contains("references"),
        "{message}"
    );
}

/// Finding 7: an idle server stops promptly on SIGTERM.
fn union_of_fixed(branches: usize) -> String {
    let union: Vec<Value> = (0..branches)
        .map(|i| json!({"type": "fixed", "name": format!("F{i}"), "size": 4}))
        .collect();
    json!({"type": "record", "name": "U", "fields": [{"name": "u", "type": union}]}).to_string()
}

/// The most resident memory the process has had (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .expect("VmHWM")
}

/// Finding 3: checks grew superlinearly and ran on the threads that serve reads. A schema over
/// the limits is refused before any work; the union the issue measured (4,000 `fixed` branches:
/// 15 s and 2.16 GB against itself) is checked within a bounded memory; and while two such
/// checks run, reads keep answering. The bounds are liveness and exhaustion bounds, far above
/// what the current build needs (`bench/hostile.py` measures that), far below the old build.
#[test]
fn checks_are_bounded_and_reads_keep_answering() {
    let server = Server::start();
    assert_eq!(
        server
            .put("/config", &json!({"compatibility": "FULL_TRANSITIVE"}))
            .0,
        200
    );
    let id = server.register_ok("small", r#""string""#);
    // The issue's 100,000-field record: over the default limits, refused without parsing.
    let fields: Vec<String> = (0..100_000).map(|i| format!("f{i}:int")).collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let huge = record("Big", &fields);
    let (status, body) = server.post(
        "/compatibility/subjects/big/versions",
        &json!({"schema": huge}),
    );
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (422, Some(42209)),
        "{body}"
    );
    // The union, registered and checked against itself.
    let union = union_of_fixed(4_000);
    server.register_ok("union", &union);
    let check = json!({"schema": union});
    let (status, body) = server.post(
        "/compatibility/subjects/union/versions?verbose=true",
        &check,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_compatible"], true, "{body}");
    let peak = peak_rss_mib(server.pid());
    assert!(
        peak < 1024,
        "the server reached {peak} MiB checking the union"
    );
    // Two such checks at once, and reads meanwhile, each given 5 s to answer (the old build
    // answered a read 408 after 8.6 s).
    let url = server.url.clone();
    let checks: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            let check = check.clone();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(format!("{url}/compatibility/subjects/union/versions"))
                    .json(&check)
                    .timeout(Duration::from_secs(60))
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let reader = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut reads = 0;
    while reads < 20 || checks.iter().any(|c| !c.is_finished()) {
        let answer = reader
            .get(format!("{url}/schemas/ids/{id}"))
            .send()
            .map(|r| r.status().as_u16());
        assert!(
            matches!(answer, Ok(200)),
            "a read during two checks: {answer:?}"
        );
        reads += 1;
        if reads > 2_000 {
            break;
        }
    }
    for check in checks {
        let answer = check.join().expect("thread");
        assert!(matches!(answer, Ok(200)), "a concurrent check: {answer:?}");
    }
    let peak = peak_rss_mib(server.pid());
    assert!(
        peak < 1024,
        "the server reached {peak} MiB during two checks"
    );
}

#[test]
fn sigterm_stops_an_idle_server_promptly() {
    let mut server = Server::start();
    server.register_ok("s", r#""int""#);
    let started = Instant::now();
    assert!(server.terminate().success());
    let took = started.elapsed();
    eprintln!("an idle server stopped {took:?} after SIGTERM");
    // The finding: an idle server took 2.1-2.7 s to exit (it waited out the follower's poll and
    // the workers' grace period). This build stops in about 0.3 s (actix's shutdown tick), so
    // the bound is five times that, and still under what the finding measured.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// Finding 4: a body that stops arriving is cut off with 408, and a source cannot hold more
/// than its share of connections open, so fresh clients keep being served.
#[test]
fn stalled_bodies_time_out_and_sources_are_capped() {
    let server = Server::start_with(Options {
        args: vec![
            "--body-timeout-ms".into(),
            "800".into(),
            "--max-connections-per-source".into(),
            "20".into(),
        ],
        ..Options::default()
    });
    let address = server.url.trim_start_matches("http://").to_string();
    let stall = || {
        let mut stream = TcpStream::connect(&address).expect("connects");
        stream
            .write_all(b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            .expect("writes");
        stream
    };
    // One stalled body: answered 408 in the Confluent shape once the timeout passes.
    let mut stalled = stall();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error_code":408"#), "{answer}");
    // Many stalled connections from one source: those past the cap are refused at once, and a
    // fresh client is still served meanwhile.
    let held: Vec<TcpStream> = (0..40).map(|_| stall()).collect();
    let (status, _) = server.get("/subjects");
    assert!(status == 200 || status == 429, "{status}");
    let mut refused = 0;
    for mut stream in held {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains(r#""error_code":42901"#), "{answer}");
            refused += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }
    assert!(
        refused >= 20,
        "connections past the per-source cap are refused ({refused})"
    );
    // Once they are gone, the source is served again.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.get("/subjects").0, 200);
}
