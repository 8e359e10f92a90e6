//! Black-box tests of what an operator watches: `/metrics` after a scripted sequence (counters,
//! gauges and labels), the Grafana dashboard against the names served, request ids in and out
//! and in the log, JSON logs, the OpenAPI document, and spans exported over OTLP/HTTP to a
//! receiver the test runs, with their parents.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Options, Server};
use serde_json::{json, Value};

const RECORD_V1: &str =
    r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
const RECORD_V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}"#;
const RECORD_BREAKING: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}"#;

/// One sample of the page: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_page(page: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in page.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut parsed = BTreeMap::new();
        // Label values here never hold `",` (subjects and clients in this test are plain).
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
            parsed.insert(key.to_string(), value.trim_end_matches('"').to_string());
        }
        samples.push(Sample {
            name: name.to_string(),
            labels: parsed,
            value: value.parse().expect("a number"),
        });
    }
    samples
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    match found.as_slice() {
        [] => None,
        [one] => Some(one.value),
        many => Some(many.iter().map(|s| s.value).sum()),
    }
}

fn page(server: &Server) -> String {
    let (status, body, content_type) = server.raw("GET", "/metrics", &[], None);
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/plain")),
        "{content_type:?}"
    );
    body
}

#[test]
fn metrics_count_a_scripted_sequence() {
    let server = Server::start();
    let subject = "orders-value";
    assert_eq!(server.register(subject, RECORD_V1).0, 200);
    assert_eq!(server.register(subject, RECORD_V1).0, 200); // existing
    assert_eq!(server.register(subject, RECORD_BREAKING).0, 409);
    assert_eq!(server.register(subject, RECORD_V2).0, 200);
    assert_eq!(server.register("other", "{not json").0, 422);
    let check = |schema: &str| {
        server.post(
            &format!("/compatibility/subjects/{subject}/versions/latest"),
            &json!({ "schema": schema }),
        )
    };
    assert_eq!(check(RECORD_V2).1["is_compatible"], true);
    assert_eq!(check(RECORD_BREAKING).1["is_compatible"], false);
    assert_eq!(
        server
            .put(
                &format!("/config/{subject}"),
                &json!({"compatibility": "FULL"})
            )
            .0,
        200
    );
    assert_eq!(server.put("/mode", &json!({"mode": "READWRITE"})).0, 200);
    assert_eq!(server.delete(&format!("/config/{subject}")).0, 200);
    assert_eq!(
        server.delete(&format!("/subjects/{subject}/versions/2")).0,
        200
    );
    assert_eq!(server.delete("/subjects/absent").0, 404);
    // Reads by two clients: one names itself, one is known by its user agent.
    let id = server.get(&format!("/subjects/{subject}/versions/1")).1["id"].clone();
    for _ in 0..3 {
        let (status, _, _) = server.raw(
            "GET",
            &format!("/schemas/ids/{id}"),
            &[("X-Client-Id", "billing")],
            None,
        );
        assert_eq!(status, 200);
    }
    let (status, _, _) = server.raw(
        "GET",
        &format!("/subjects/{subject}/versions/1"),
        &[("User-Agent", "confluent-kafka-python/2.16.1")],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(server.get("/subjects/absent/versions").0, 404);
    // A made-up method is counted as `other`: a client cannot add series of its own.
    let (status, _, _) = server.raw("FROBNICATE", &format!("/schemas/ids/{id}"), &[], None);
    assert_eq!(status, 405);

    let text = page(&server);
    let samples = parse_page(&text);
    let get = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };

    // HTTP, by route template: never the raw subject.
    assert_eq!(
        get(
            "covenant_http_requests_total",
            &[
                ("route", "/subjects/{subject}/versions"),
                ("method", "POST"),
                ("status", "2xx")
            ]
        ),
        3.0
    );
    assert_eq!(
        get(
            "covenant_http_requests_total",
            &[
                ("route", "/subjects/{subject}/versions"),
                ("method", "POST"),
                ("status", "4xx")
            ]
        ),
        2.0
    );
    assert_eq!(
        get(
            "covenant_http_requests_total",
            &[("route", "/schemas/ids/{id}"), ("status", "2xx")]
        ),
        3.0
    );
    assert!(
        !samples.iter().any(|s| s
            .labels
            .get("route")
            .is_some_and(|r| r.contains("orders") || r.contains("absent"))),
        "a raw path in a route label:\n{text}"
    );
    assert_eq!(
        get(
            "covenant_http_requests_total",
            &[
                ("route", "/schemas/ids/{id}"),
                ("method", "other"),
                ("status", "4xx")
            ]
        ),
        1.0
    );
    assert!(!text.contains("FROBNICATE"), "{text}");
    // Latency buckets resolve below a millisecond.
    assert!(samples.iter().any(
        |s| s.name == "covenant_http_request_duration_seconds_bucket"
            && s.labels.get("le").map(String::as_str) == Some("0.0001")
    ));
    assert_eq!(
        get(
            "covenant_http_request_duration_seconds_count",
            &[("route", "/schemas/ids/{id}"), ("method", "GET")]
        ),
        3.0
    );
    // The scrape itself is in flight while the page is made.
    assert_eq!(get("covenant_http_requests_in_flight", &[]), 1.0);

    // Registry operations by format and outcome.
    let registrations = |outcome: &str| {
        get(
            "covenant_registrations_total",
            &[("format", "AVRO"), ("outcome", outcome)],
        )
    };
    assert_eq!(registrations("created"), 2.0);
    assert_eq!(registrations("existing"), 1.0);
    assert_eq!(registrations("incompatible"), 1.0);
    assert_eq!(registrations("invalid"), 1.0);
    let checks = |verdict: &str, source: &str| {
        get(
            "covenant_compatibility_checks_total",
            &[
                ("format", "AVRO"),
                ("level", "BACKWARD"),
                ("verdict", verdict),
                ("source", source),
            ],
        )
    };
    assert_eq!(checks("compatible", "register"), 2.0);
    assert_eq!(checks("incompatible", "register"), 1.0);
    assert_eq!(checks("compatible", "check"), 1.0);
    assert_eq!(checks("incompatible", "check"), 1.0);
    let kinds: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "covenant_incompatibilities_total")
        .collect();
    assert!(!kinds.is_empty(), "{text}");
    assert!(kinds
        .iter()
        .all(|s| s.labels["format"] == "AVRO" && !s.labels["kind"].is_empty()));
    assert_eq!(kinds.iter().map(|s| s.value).sum::<f64>(), 2.0);
    assert_eq!(
        get(
            "covenant_setting_changes_total",
            &[
                ("setting", "config"),
                ("action", "set"),
                ("outcome", "created")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(
            "covenant_setting_changes_total",
            &[
                ("setting", "config"),
                ("action", "delete"),
                ("outcome", "created")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(
            "covenant_setting_changes_total",
            &[("setting", "mode"), ("action", "set")]
        ),
        1.0
    );
    assert_eq!(
        get(
            "covenant_deletes_total",
            &[
                ("target", "version"),
                ("permanent", "false"),
                ("outcome", "created")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(
            "covenant_deletes_total",
            &[("target", "subject"), ("outcome", "not_found")]
        ),
        1.0
    );

    // The log and the state.
    let head = server.get("/health/ready").1["head"]
        .as_f64()
        .expect("head");
    assert_eq!(get("covenant_log_head_records", &[]), head);
    assert_eq!(get("covenant_log_records_applied_total", &[]), head);
    assert_eq!(get("covenant_log_commit_retries_total", &[]), 0.0);
    assert!(get("covenant_log_replay_duration_seconds", &[]) >= 0.0);
    assert_eq!(get("covenant_snapshot_age_records", &[]), head);
    assert_eq!(get("covenant_subjects", &[]), 1.0);
    assert_eq!(get("covenant_contexts", &[]), 1.0);
    assert_eq!(get("covenant_versions", &[("format", "AVRO")]), 1.0);
    assert_eq!(get("covenant_versions", &[("format", "JSON")]), 0.0);
    assert_eq!(get("covenant_schemas", &[("format", "AVRO")]), 2.0);

    // Who reads what: the last read per subject version and client.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let billing = get(
        "covenant_schema_last_read_timestamp_seconds",
        &[
            ("subject", subject),
            ("version", "1"),
            ("client", "billing"),
        ],
    );
    assert!((now - billing).abs() < 60.0, "{billing} vs {now}");
    get(
        "covenant_schema_last_read_timestamp_seconds",
        &[
            ("subject", subject),
            ("version", "1"),
            ("client", "confluent-kafka-python/2.16.1"),
        ],
    );
    assert!(!samples
        .iter()
        .any(|s| s.name == "covenant_schema_last_read_timestamp_seconds"
            && s.labels["version"] == "2"));

    // The process.
    assert!(get("process_resident_memory_bytes", &[]) > 1_000_000.0);
    assert!(get("process_open_fds", &[]) > 2.0);
    assert!(get("covenant_uptime_seconds", &[]) > 0.0);
    assert!(get("process_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(
        get(
            "covenant_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

/// The metric names the dashboard's queries use.
fn dashboard_names() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/grafana/covenant.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("json");
    let mut exprs = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "query", Value::String(text)) => out.push(text.clone()),
                        _ => walk(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    let name = regex_lite_names(&exprs.join(" "));
    assert!(!name.is_empty(), "the dashboard queries nothing");
    name
}

/// Tokens `covenant_...` and `process_...` in PromQL text.
fn regex_lite_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &text[i..];
        if starts_word && (rest.starts_with("covenant_") || rest.starts_with("process_")) {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.insert(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_dashboard_uses_exactly_the_names_served() {
    let server = Server::start();
    // Make every labelled family show at least one series.
    server.register_ok("s", RECORD_V1);
    let _ = server.get("/schemas/ids/1");
    assert_eq!(server.register("s", RECORD_BREAKING).0, 409);
    server.register_ok("s", RECORD_V2);
    assert_eq!(server.delete("/subjects/s/versions/2").0, 200);
    assert_eq!(
        server.put("/config/s", &json!({"compatibility": "FULL"})).0,
        200
    );
    let served: BTreeSet<String> = parse_page(&page(&server))
        .into_iter()
        .map(|s| s.name)
        .collect();
    let used = dashboard_names();
    let unknown: Vec<&String> = used
        .difference(&served)
        .filter(|n| {
            // Families that have no series until something happens are still declared.
            !page(&server).contains(&format!("# TYPE {} ", family(n)))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries names the server does not export: {unknown:?}"
    );
    // And every family the server exports is on the dashboard.
    let families: BTreeSet<String> = page(&server)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().expect("name").to_string())
        .collect();
    let used_families: BTreeSet<String> = used.iter().map(|n| family(n).to_string()).collect();
    let missing: Vec<&String> = families.difference(&used_families).collect();
    assert!(
        missing.is_empty(),
        "families missing from the dashboard: {missing:?}"
    );
}

/// The family of a series name (`x_total` → `x`, `x_bucket` → `x`).
fn family(name: &str) -> &str {
    for suffix in ["_total", "_bucket", "_sum", "_count", "_created"] {
        if let Some(base) = name.strip_suffix(suffix) {
            return base;
        }
    }
    name
}

#[test]
fn metrics_can_be_served_apart_or_turned_off() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = Server::start_with(Options {
        args: vec!["--metrics-listen".into(), format!("127.0.0.1:{port}")],
        ..Options::default()
    });
    server.register_ok("s", RECORD_V1);
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        match client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
        {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("the metrics listener does not answer: {e}"),
        }
    };
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().expect("body");
    assert!(
        text.contains("covenant_registrations_total{format=\"AVRO\",outcome=\"created\"} 1"),
        "{text}"
    );
    // Only the metrics: the API is not served there.
    let api = client
        .get(format!("http://127.0.0.1:{port}/subjects"))
        .send()
        .expect("answers");
    assert_eq!(api.status().as_u16(), 404);

    let off = Server::start_with(Options {
        args: vec!["--no-metrics".into()],
        ..Options::default()
    });
    off.register_ok("s", RECORD_V1);
    let (status, body) = off.get("/metrics");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error_code"], 404);
}

#[test]
fn a_request_id_goes_in_and_out_and_into_the_log() {
    let server = Server::start_with(Options {
        env: vec![("RUST_LOG".into(), "info".into())],
        ..Options::default()
    });
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{}/subjects/rid/versions", server.url))
        .header("X-Request-Id", "deploy-7f3a-42")
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(json!({ "schema": RECORD_V1 }).to_string())
        .send()
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], "deploy-7f3a-42");
    // Without one, or with one that cannot be echoed safely, the registry makes one.
    let mut made = BTreeSet::new();
    for given in [None, Some("has space"), Some("")] {
        let mut request = client.get(format!("{}/subjects/none/versions", server.url));
        if let Some(given) = given {
            request = request.header("X-Request-Id", given);
        }
        let response = request.send().expect("answers");
        assert_eq!(response.status().as_u16(), 404);
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(id.len() >= 10 && Some(id.as_str()) != given, "{id}");
        made.insert(id);
    }
    assert_eq!(made.len(), 3, "ids are unique: {made:?}");
    // Every log line of the request carries its id.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&server.log).expect("log");
        let line = log.lines().find(|l| l.contains("deploy-7f3a-42"));
        // Lines are written by a thread of their own: wait until every request's is there.
        if let Some(line) = line.filter(|_| made.iter().all(|id| log.contains(id.as_str()))) {
            assert!(
                line.contains("/subjects/rid/versions") && line.contains("status=200"),
                "{line}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with the request id:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_span() {
    let server = Server::start_with(Options {
        args: vec!["--log-format".into(), "json".into()],
        env: vec![("RUST_LOG".into(), "info".into())],
        ..Options::default()
    });
    let body = json!({ "schema": RECORD_V1 }).to_string().into_bytes();
    let (status, _, _) = server.raw(
        "POST",
        "/subjects/j/versions",
        &[
            ("X-Request-Id", "json-1"),
            ("Content-Type", "application/vnd.schemaregistry.v1+json"),
        ],
        Some(body),
    );
    assert_eq!(status, 200);
    // A read that fails runs without a span at info: its line names the id itself.
    let (status, _, _) = server.raw(
        "GET",
        "/subjects/none/versions",
        &[("X-Request-Id", "json-2")],
        None,
    );
    assert_eq!(status, 404);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&server.log).expect("log");
        let lines: Vec<Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let write = lines.iter().find(|l| l["span"]["request_id"] == "json-1");
        let read = lines.iter().find(|l| l["fields"]["request_id"] == "json-2");
        if let (Some(write), Some(read)) = (write, read) {
            assert_eq!(write["fields"]["status"], 200);
            assert_eq!(write["fields"]["route"], "/subjects/{subject}/versions");
            assert_eq!(write["level"], "INFO");
            assert_eq!(read["fields"]["status"], 404);
            assert_eq!(read["fields"]["path"], "/subjects/none/versions");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON lines for the requests:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_openapi_document_describes_the_served_routes() {
    let server = Server::start();
    let (status, body, content_type) = server.raw("GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let spec: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/subjects/{subject}/versions", "post"),
        ("/contexts/{context}/schemas/ids/{id}", "get"),
        ("/dek-registry/v1/keks/{name}/deks/{subject}", "delete"),
        ("/covenant/v1/audit", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    let register = &paths["/subjects/{subject}/versions"]["post"];
    assert_eq!(register["operationId"], "registerSchema");
    assert_eq!(
        register["responses"]["409"]["content"]["application/vnd.schemaregistry.v1+json"]["schema"]
            ["properties"]["error_code"]["enum"],
        json!([409, 40901])
    );
    let request = &register["requestBody"]["content"]["application/vnd.schemaregistry.v1+json"]
        ["schema"]["$ref"];
    assert_eq!(request, "#/components/schemas/RegisterSchemaRequest");
    assert!(
        spec["components"]["schemas"]["RegisterSchemaRequest"]["properties"]["schemaType"]
            .is_object()
    );
    // A method the spec does not list answers 405 with the methods it does.
    let (status, _, _) = server.raw("PATCH", "/subjects/s/versions", &[], None);
    assert_eq!(status, 405);
    let response = reqwest::blocking::Client::new()
        .request(
            reqwest::Method::PATCH,
            format!("{}/subjects/s/versions", server.url),
        )
        .send()
        .expect("answers");
    assert_eq!(response.headers()["allow"], "GET, POST");
    // Every documented path answers something other than "no route".
    for (path, item) in paths {
        let concrete = path
            .replace("{context}", ".c")
            .replace("{subject}", "s")
            .replace("{version}", "1")
            .replace("{id}", "1")
            .replace("{guid}", "00000000-0000-0000-0000-000000000000")
            .replace("{name}", "k")
            .replace("{namespace}", "n");
        for method in item.as_object().expect("item").keys() {
            let (status, body, _) = server.raw(&method.to_ascii_uppercase(), &concrete, &[], None);
            assert!(
                status != 405 && !body.contains("no endpoint"),
                "{method} {concrete}: {status} {body}"
            );
        }
    }
}

/// A tiny OTLP/HTTP receiver: answers 200 to every POST and keeps the JSON bodies.
fn otlp_receiver() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let kept = Arc::clone(&kept);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                        kept.lock().expect("lock").push(value);
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, bodies)
}

/// Every span received so far.
fn spans(bodies: &Mutex<Vec<Value>>) -> Vec<Value> {
    let mut spans = Vec::new();
    for body in bodies.lock().expect("lock").iter() {
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(
                resource["resource"]["attributes"]
                    .as_array()
                    .and_then(|a| a.iter().find(|kv| kv["key"] == "service.name"))
                    .map(|kv| kv["value"]["stringValue"].clone()),
                Some(json!("covenant"))
            );
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    spans
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

#[test]
fn spans_go_to_an_otlp_collector_as_children_of_the_callers_trace() {
    let (port, bodies) = otlp_receiver();
    let server = Server::start_with(Options {
        args: vec!["--otlp-endpoint".into(), format!("http://127.0.0.1:{port}")],
        env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
        ..Options::default()
    });
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{caller}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("X-Request-Id", "traced-1"),
        ("Content-Type", "application/vnd.schemaregistry.v1+json"),
    ];
    let body = json!({ "schema": RECORD_V1 }).to_string().into_bytes();
    let (status, _, _) = server.raw("POST", "/subjects/t/versions", &headers, Some(body.clone()));
    assert_eq!(status, 200);
    let (status, _, _) = server.raw(
        "POST",
        "/compatibility/subjects/t/versions/latest",
        &headers,
        Some(body),
    );
    assert_eq!(status, 200);
    // A request without a traceparent starts a trace of its own.
    assert_eq!(server.get("/subjects").0, 200);

    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = spans(&bodies);
        let names: BTreeSet<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
        let want = [
            "POST /subjects/{subject}/versions",
            "POST /compatibility/subjects/{subject}/versions/{version}",
            "GET /subjects",
            "plan",
            "append",
            "apply",
            "check",
        ];
        if want.iter().all(|n| names.contains(n)) {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans received: {names:?} (want {want:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let register = named("POST /subjects/{subject}/versions")[0];
    assert_eq!(register["traceId"], trace);
    assert_eq!(register["parentSpanId"], caller);
    assert_eq!(register["kind"], 2, "a server span");
    assert_eq!(
        attribute(register, "request_id").map(|v| v["stringValue"].clone()),
        Some(json!("traced-1"))
    );
    // OTLP/JSON writes 64-bit integers as strings.
    let status = attribute(register, "http.response.status_code").expect("status attribute");
    assert!(
        status["intValue"] == json!("200") || status["intValue"] == json!(200),
        "{status}"
    );
    for step in ["plan", "append", "apply"] {
        let all = named(step);
        let children: Vec<&&Value> = all
            .iter()
            .filter(|s| s["parentSpanId"] == register["spanId"])
            .collect();
        assert_eq!(
            children.len(),
            1,
            "{step} under the registration: {spans:#?}"
        );
        assert_eq!(children[0]["traceId"], trace);
    }
    let check_request = named("POST /compatibility/subjects/{subject}/versions/{version}")[0];
    assert_eq!(check_request["traceId"], trace);
    assert_eq!(check_request["parentSpanId"], caller);
    assert!(named("check")
        .iter()
        .any(|s| s["parentSpanId"] == check_request["spanId"]));
    let own = named("GET /subjects")[0];
    assert_ne!(own["traceId"], trace);
    assert!(own["parentSpanId"].as_str().unwrap_or_default().is_empty());
}

#[test]
fn the_client_propagates_the_trace_its_id_and_request_ids() {
    let (port, bodies) = otlp_receiver();
    let server = Server::start_with(Options {
        args: vec!["--otlp-endpoint".into(), format!("http://127.0.0.1:{port}")],
        env: vec![
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
            ("RUST_LOG".into(), "info".into()),
        ],
        ..Options::default()
    });
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let client = covenant_client::Client::builder(&server.url)
        .client_id("payments-service")
        .traceparent(move || Some(format!("00-{trace}-{parent}-01")))
        .build()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let id = server.register_ok("pay-value", RECORD_V1);
    runtime
        .block_on(client.schema_by_id(id as i32, None))
        .expect("schema");
    // A refusal carries the id the registry logged it under.
    let error = runtime
        .block_on(client.versions("absent", false))
        .expect_err("no such subject");
    let covenant_client::Error::Registry { request_id, .. } = &error else {
        panic!("{error}");
    };
    let request_id = request_id.clone().expect("a request id");
    assert!(request_id.starts_with("covenant-client-"), "{request_id}");
    assert!(error.to_string().contains(&request_id), "{error}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&server.log)
        .expect("log")
        .contains(&request_id)
    {
        assert!(
            Instant::now() < deadline,
            "the request id is not in the registry's log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The usage gauges name the client.
    let samples = parse_page(&page(&server));
    assert!(value(
        &samples,
        "covenant_schema_last_read_timestamp_seconds",
        &[("subject", "pay-value"), ("client", "payments-service")]
    )
    .is_some());
    // The registry's span of the read is a child of the caller's.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = spans(&bodies).into_iter().any(|s| {
            s["name"] == "GET /schemas/ids/{id}"
                && s["traceId"] == trace
                && s["parentSpanId"] == parent
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span of the read under the caller's trace"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
