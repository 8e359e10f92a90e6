//! Issue 6: several registry nodes on one PostgreSQL. Concurrent registrations of the same and
//! of conflicting schemas spread across three nodes leave one consistent history; a schema
//! registered on one node is readable on the others; a node killed mid-load loses no
//! acknowledged write; a new node starts from a snapshot; losing the database fails writes with
//! 50001 while reads keep serving, and the node recovers by itself.
//!
//! Needs the PostgreSQL at `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test).
//! Without it the tests say so and pass, unless `COVENANT_REQUIRE_POSTGRES=1` (scripts/test, CI).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Options, Server};
use covenant_core::compat::{check, PreviousVersion};
use covenant_core::ids::CompatibilityLevel;
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, ParsedSchema, SchemaType};
use serde_json::{json, Value};

fn database() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let reachable = TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok()
        || !url.contains("127.0.0.1:5432");
    if reachable {
        return Some(url);
    }
    if std::env::var("COVENANT_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("COVENANT_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at {url}");
    }
    eprintln!("skipping the PostgreSQL cluster tests: PostgreSQL is not reachable at {url}");
    None
}

fn unique_store(base: &str) -> String {
    common::postgres_schema(base, "covenant_cluster")
}

fn node(store: &str, dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--poll-interval-ms".to_string(), "200".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    Server::spawn(
        store,
        &Options {
            args,
            ..Options::default()
        },
        dir,
    )
}

fn record(name: &str, fields: &[(&str, &str, Option<Value>)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(field, kind, default)| {
            let mut value = json!({"name": field, "type": kind});
            if let Some(default) = default {
                value["default"] = default.clone();
            }
            value
        })
        .collect();
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

/// Waits until `probe` holds, or panics after a few seconds.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if probe() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The subject's versions as (version, id, schema), oldest first.
fn history(server: &Server, subject: &str) -> Vec<(i64, i64, String)> {
    let (_, versions) = server.get(&format!("/subjects/{subject}/versions"));
    versions
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_i64).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|version| {
            let (_, body) = server.get(&format!("/subjects/{subject}/versions/{version}"));
            (
                version,
                body["id"].as_i64().expect("id"),
                body["schema"].as_str().expect("schema").to_string(),
            )
        })
        .collect()
}

#[test]
fn three_nodes_keep_one_consistent_history() {
    let Some(database) = database() else { return };
    let store = unique_store(&database);
    let dir = tempfile::tempdir().expect("dir");
    let nodes: Vec<Server> = (0..3).map(|_| node(&store, dir.path(), &[])).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();

    // A schema registered on one node is readable on the others.
    let id = nodes[0].register_ok("shared", r#""string""#);
    for other in &nodes[1..] {
        eventually("the write to reach the other nodes", || {
            other.get(&format!("/schemas/ids/{id}")).0 == 200
        });
        assert_eq!(
            other.get("/subjects/shared/versions/1").1["id"].as_i64(),
            Some(id)
        );
    }

    // The same schema registered concurrently on every node: one id, one version.
    let same = record("Same", &[("a", "int", None)]);
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .map(|url| {
                let (url, same) = (url.clone(), same.clone());
                scope.spawn(move || {
                    reqwest::blocking::Client::new()
                        .post(format!("{url}/subjects/same/versions"))
                        .json(&json!({"schema": same}))
                        .send()
                        .expect("sent")
                        .json::<Value>()
                        .expect("json")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let ids: HashSet<i64> = answers
        .iter()
        .map(|a| a["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|a| a["version"] == 1), "{answers:?}");

    // Conflicting candidates raced on different nodes, round after round: each is compatible with
    // the latest version but not with the other, so exactly one may win each round.
    let base = record("Race", &[("id", "long", None)]);
    nodes[0].register_ok("race", &base);
    let mut accepted = 0;
    for round in 0..15 {
        let field = format!("f{round}");
        let as_int = record(
            "Race",
            &[("id", "long", None), (&field, "int", Some(json!(0)))],
        );
        let as_string = record(
            "Race",
            &[("id", "long", None), (&field, "string", Some(json!("")))],
        );
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = [
                (urls[round % 3].clone(), as_int),
                (urls[(round + 1) % 3].clone(), as_string),
            ]
            .into_iter()
            .map(|(url, schema)| {
                scope.spawn(move || {
                    reqwest::blocking::Client::new()
                        .post(format!("{url}/subjects/race/versions"))
                        .json(&json!({"schema": schema}))
                        .send()
                        .expect("sent")
                        .status()
                        .as_u16()
                })
            })
            .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: exactly one wins, {statuses:?}"
        );
        // The next round's candidates (a new field each) are compatible with whichever won.
        accepted += 1;
    }
    // Every version was accepted against the history before it, on every node.
    for server in &nodes {
        eventually("the nodes to converge", || {
            history(server, "race").len() == 1 + accepted
        });
    }
    let race = history(&nodes[1], "race");
    assert_eq!(race, history(&nodes[2], "race"));
    let parse = |text: &str| {
        ParsedSchema::parse(SchemaType::Avro, text, &[], ParseOptions::default()).expect("valid")
    };
    for pair in race.windows(2) {
        let (old, new) = (parse(&pair[0].2), parse(&pair[1].2));
        let problems = check(
            CompatibilityLevel::Backward,
            &new,
            &[PreviousVersion {
                version: covenant_core::ids::Version::new(pair[0].0).expect("a version"),
                schema: &old,
            }],
            Policy::Strict,
        );
        assert!(
            problems.is_empty(),
            "version {} was accepted against a history it did not see: {problems:?}",
            pair[1].0
        );
    }

    // Many distinct registrations spread across the nodes: unique ids, no version lost.
    nodes[0].put("/config/spread", &json!({"compatibility": "NONE"}));
    let acks = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for (writer, url) in urls.iter().enumerate() {
            let (url, acks) = (url.clone(), acks.clone());
            scope.spawn(move || {
                let client = reqwest::blocking::Client::new();
                for i in 0..20 {
                    let schema = record("Spread", &[(&format!("w{writer}_{i}"), "int", None)]);
                    let body: Value = client
                        .post(format!("{url}/subjects/spread/versions"))
                        .json(&json!({"schema": schema}))
                        .send()
                        .expect("sent")
                        .json()
                        .expect("json");
                    acks.lock().expect("acks").push((
                        body["version"].as_i64().expect("version"),
                        body["id"].as_i64().expect("id"),
                        schema,
                    ));
                }
            });
        }
    });
    let acks = acks.lock().expect("acks").clone();
    let ids: HashSet<i64> = acks.iter().map(|a| a.1).collect();
    let versions: HashSet<i64> = acks.iter().map(|a| a.0).collect();
    assert_eq!(
        (ids.len(), versions.len()),
        (60, 60),
        "unique ids and versions"
    );
    for server in &nodes {
        eventually("every node to hold every version", || {
            history(server, "spread").len() == 60
        });
        let by_version: HashMap<i64, (i64, String)> = history(server, "spread")
            .into_iter()
            .map(|(v, id, s)| (v, (id, s)))
            .collect();
        for (version, id, schema) in &acks {
            let (stored_id, stored) = &by_version[version];
            assert_eq!(stored_id, id);
            assert_eq!(parse(stored).canonical(), parse(schema).canonical());
        }
    }
}

#[test]
fn a_node_killed_mid_load_loses_no_acknowledged_write_and_new_nodes_start_from_a_snapshot() {
    let Some(database) = database() else { return };
    let store = unique_store(&database);
    let dir = tempfile::tempdir().expect("dir");
    let survivor = node(&store, dir.path(), &["--snapshot-interval", "20"]);
    let mut victim = node(&store, dir.path(), &["--snapshot-interval", "20"]);
    survivor.put("/config", &json!({"compatibility": "NONE"}));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let (url, stop, counter, acks) = (
                victim.url.clone(),
                stop.clone(),
                counter.clone(),
                acks.clone(),
            );
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("client");
                while !stop.load(Ordering::Relaxed) {
                    let k = counter.fetch_add(1, Ordering::Relaxed);
                    let schema = record("Load", &[(&format!("f{k}"), "int", None)]);
                    let Ok(response) = client
                        .post(format!("{url}/subjects/load-{}/versions", k % 4))
                        .json(&json!({"schema": schema}))
                        .send()
                    else {
                        break;
                    };
                    if !response.status().is_success() {
                        break;
                    }
                    let Ok(body) = response.json::<Value>() else {
                        break;
                    };
                    acks.lock().expect("acks").push((
                        k % 4,
                        body["version"].as_i64().expect("version"),
                        body["id"].as_i64().expect("id"),
                    ));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    victim.kill();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer");
    }
    let acks = acks.lock().expect("acks").clone();
    assert!(
        acks.len() > 20,
        "too few writes to prove anything: {}",
        acks.len()
    );
    for (subject, version, id) in &acks {
        eventually("the survivor to see the write", || {
            survivor
                .get(&format!("/subjects/load-{subject}/versions/{version}"))
                .1["id"]
                .as_i64()
                == Some(*id)
        });
    }
    // A node started now loads the newest snapshot, then only the tail.
    let mut with_log = Options {
        args: vec!["--poll-interval-ms".into(), "200".into()],
        ..Options::default()
    };
    with_log.env.push(("RUST_LOG".into(), "info".into()));
    let late = Server::spawn(&store, &with_log, dir.path());
    eventually("the late node to log its start", || {
        std::fs::read_to_string(&late.log)
            .unwrap_or_default()
            .contains("log replayed")
    });
    let text = std::fs::read_to_string(&late.log).unwrap_or_default();
    assert!(
        text.contains("starting from the snapshot at offset"),
        "{text}"
    );
    for (subject, version, id) in acks.iter().take(10) {
        assert_eq!(
            late.get(&format!("/subjects/load-{subject}/versions/{version}"))
                .1["id"]
                .as_i64(),
            Some(*id)
        );
    }
}

#[test]
fn a_registry_moves_from_the_embedded_store_to_postgres_and_back_with_its_ids() {
    let Some(database) = database() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let embedded = Server::spawn(
        &format!("file://{}", dir.path().join("a").display()),
        &Options::default(),
        dir.path(),
    );
    embedded.put("/config", &json!({"compatibility": "NONE"}));
    for (subject, schema) in [
        ("m-value", r#""string""#),
        ("m-value", r#""long""#),
        ("n-value", r#""int""#),
        ("m-value", r#""bytes""#),
    ] {
        embedded.register_ok(subject, schema);
    }
    embedded.delete("/subjects/m-value/versions/2");
    embedded.put("/config/n-value", &json!({"compatibility": "FULL"}));
    let original = common::export_of(&embedded.url, dir.path(), "embedded.json");

    let postgres = node(&unique_store(&database), dir.path(), &[]);
    common::import_into(&postgres.url, &dir.path().join("embedded.json"));
    assert_eq!(
        common::export_of(&postgres.url, dir.path(), "postgres.json"),
        original
    );

    let back = Server::spawn(
        &format!("file://{}", dir.path().join("b").display()),
        &Options::default(),
        dir.path(),
    );
    common::import_into(&back.url, &dir.path().join("postgres.json"));
    assert_eq!(
        common::export_of(&back.url, dir.path(), "back.json"),
        original
    );
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (flag, held) = (up.clone(), connections.clone());
        std::thread::spawn(move || loop {
            match listener.accept() {
                Ok((client, _)) if flag.load(Ordering::SeqCst) => {
                    client.set_nonblocking(false).expect("blocking");
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    held.lock().expect("held").extend([
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ]);
                    for (mut from, mut to) in [
                        (
                            client.try_clone().expect("clone"),
                            server.try_clone().expect("clone"),
                        ),
                        (server, client),
                    ] {
                        std::thread::spawn(move || {
                            let mut buffer = [0u8; 16384];
                            while let Ok(n) = from.read(&mut buffer) {
                                if n == 0 || to.write_all(&buffer[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
                Ok((client, _)) => drop(client),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        });
        Proxy {
            port,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().expect("held").drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[test]
fn losing_the_database_fails_writes_keeps_reads_and_recovers() {
    let Some(database) = database() else { return };
    if !database.contains("127.0.0.1:5432") {
        eprintln!("the outage test proxies 127.0.0.1:5432 only");
        return;
    }
    let proxy = Proxy::start("127.0.0.1:5432");
    let store =
        unique_store(&database.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port)));
    let dir = tempfile::tempdir().expect("dir");
    let server = node(&store, dir.path(), &[]);
    let id = server.register_ok("outage", r#""string""#);
    assert_eq!(server.get("/health/ready").0, 200);

    proxy.cut();
    let (status, body) = server.register("outage-2", r#""long""#);
    assert_eq!(
        (status, body["error_code"].clone()),
        (500, json!(50001)),
        "{body}"
    );
    // Reads keep serving from memory.
    assert_eq!(server.get(&format!("/schemas/ids/{id}")).0, 200);
    assert_eq!(
        server.get("/subjects/outage/versions/latest").1["id"].as_i64(),
        Some(id)
    );
    eventually("the node to report not ready", || {
        server.get("/health/ready").0 == 503
    });

    proxy.restore();
    eventually("the node to recover by itself", || {
        server.get("/health/ready").0 == 200
    });
    let (status, body) = server.register("outage-2", r#""long""#);
    assert_eq!(status, 200, "{body}");
}

/// Runs SQL against the test database (the tamper test's "attacker").
fn sql(base: &str, statement: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
            .batch_execute(statement)
            .await
            .expect("the statement runs");
    });
}

fn log_verify(store: &str) -> (i32, String) {
    let output = std::process::Command::new(common::binary())
        .args(["log", "verify", "--store", store])
        .output()
        .expect("covenant log verify runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Issue 10: on PostgreSQL the log is a hash chain with a durable head kept in the same
/// transaction as each append, so a record edited or deleted in the database is found by
/// `covenant log verify` and by a node reading the log; nothing is served as if it were intact.
#[test]
fn records_edited_or_deleted_in_the_database_are_found() {
    let Some(base) = database() else { return };
    let store = unique_store(&base);
    let schema = store
        .rsplit("schema=")
        .next()
        .expect("a schema")
        .to_string();
    let dir = tempfile::tempdir().expect("dir");
    {
        let mut server = node(&store, dir.path(), &[]);
        server.put("/config", &json!({"compatibility": "NONE"}));
        for n in 0..5 {
            server.register_ok("tamper", &record("T", &[(&format!("f{n}"), "int", None)]));
        }
        assert!(server.terminate().success());
    }
    let (code, report) = log_verify(&store);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("6 records verified"), "{report}");

    // The clean stop stored a snapshot of all six records: a node starts from it and checks
    // the log's last record against the durable head, and `covenant log verify` walks the
    // whole chain. Without the snapshot, a node replays the log and checks every link too.
    sql(&base, &format!("CREATE TABLE {schema}.saved_snapshots AS SELECT * FROM {schema}.snapshots; DELETE FROM {schema}.snapshots"));
    // An edit in the middle breaks the chain at the record after it.
    sql(&base, &format!("CREATE TABLE {schema}.saved AS SELECT * FROM {schema}.log; UPDATE {schema}.log SET record = replace(record, '\"ts\":', '\"ts\":1') WHERE position = 2"));
    let (code, report) = log_verify(&store);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("record 3") && report.contains("chain is broken"),
        "{report}"
    );
    let refused = Server::try_spawn(&store, &Options::default(), dir.path())
        .err()
        .expect("a node refuses the edited log");
    assert!(
        refused.contains("offset 3") && refused.contains("chain is broken"),
        "{refused}"
    );

    // An edit of the last record is found against the durable head, by a node that starts
    // from the snapshot as well.
    sql(
        &base,
        &format!("INSERT INTO {schema}.snapshots SELECT * FROM {schema}.saved_snapshots"),
    );
    sql(&base, &format!("UPDATE {schema}.log l SET record = s.record FROM {schema}.saved s WHERE l.position = s.position; UPDATE {schema}.log SET record = replace(record, '\"ts\":', '\"ts\":1') WHERE position = 5"));
    let (code, report) = log_verify(&store);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("durable head"), "{report}");
    let refused = Server::try_spawn(&store, &Options::default(), dir.path())
        .err()
        .expect("a node refuses the edited log");
    assert!(
        refused.contains("does not match its durable head"),
        "{refused}"
    );

    // A deleted tail is found: the head vouches for more records than there are.
    sql(&base, &format!("UPDATE {schema}.log l SET record = s.record FROM {schema}.saved s WHERE l.position = s.position; DELETE FROM {schema}.log WHERE position = 5"));
    let (code, report) = log_verify(&store);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("missing"), "{report}");
    let refused = Server::try_spawn(&store, &Options::default(), dir.path())
        .err()
        .expect("a node refuses the shortened log");
    assert!(refused.contains("missing"), "{refused}");

    // Put back, the log verifies and serves again.
    sql(
        &base,
        &format!("INSERT INTO {schema}.log SELECT * FROM {schema}.saved WHERE position = 5"),
    );
    let (code, report) = log_verify(&store);
    assert_eq!(code, 0, "{report}");
    let server = node(&store, dir.path(), &[]);
    assert_eq!(
        server.get("/subjects/tamper/versions").1,
        json!([1, 2, 3, 4, 5])
    );
}

/// Writes by two principals spread over three nodes: every node answers the same audit trail.
#[test]
fn every_node_answers_the_same_audit_trail() {
    use common::auth::{
        audit_sequence, check_audit, hash_password, new_key, user_entry, Cred, Http,
    };
    let Some(database) = database() else { return };
    let store = unique_store(&database);
    let dir = tempfile::tempdir().expect("dir");
    let (key, key_entry) = new_key("deployer", "developer");
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "{}{key_entry}",
            user_entry("alice", &hash_password("pw"), &["admin"])
        ),
    )
    .expect("auth file");
    let auth = auth.display().to_string();
    let nodes: Vec<Server> = (0..3)
        .map(|_| node(&store, dir.path(), &["--auth-file", &auth]))
        .collect();
    let clients: Vec<Http> = nodes.iter().map(|n| Http::plain(&n.url)).collect();
    let refs: Vec<&Http> = clients.iter().collect();
    audit_sequence(&refs, &key);
    let alice = Cred::Basic("alice", "pw");
    let mut pages = Vec::new();
    for client in &clients {
        eventually("every node has replayed the ten records", || {
            client.get("/health/ready", Cred::None).body["head"] == 10
        });
        check_audit(client, alice);
        pages.push(client.get("/covenant/v1/audit", alice).body);
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[1], pages[2]);
}

/// The DEK registry and associations on three nodes: concurrent creates of one KEK name and of
/// one DEK version leave one winner that every node serves; a shared KEK's DEK made on one node
/// unwraps to the same key on the others; an association made on one node guards its subject
/// on another.
#[test]
fn three_nodes_share_keys_and_associations() {
    let Some(base) = database() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let store = unique_store(&base);
    let nodes: Vec<Server> = (0..3)
        .map(|_| {
            Server::spawn(
                &store,
                &Options {
                    args: vec!["--poll-interval-ms".into(), "200".into()],
                    env: vec![("COVENANT_LOCAL_KMS_SECRET".into(), "cluster-secret".into())],
                    ..Options::default()
                },
                dir.path(),
            )
        })
        .collect();
    // One KEK name asked for with three different key ids at once: exactly one wins.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                scope.spawn(move || {
                    node.post(
                        "/dek-registry/v1/keks",
                        &json!({"name": "race", "kmsType": "local-kms", "kmsKeyId": format!("key-{i}"), "shared": true}),
                    )
                    .0
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let winner = nodes[0].call("GET", "/dek-registry/v1/keks/race", None);
    eventually("every node serves the one KEK", || {
        nodes
            .iter()
            .all(|n| n.get("/dek-registry/v1/keks/race") == winner)
    });
    // One DEK version from three nodes at once: one key, the same everywhere.
    std::thread::scope(|scope| {
        for node in &nodes {
            scope.spawn(move || {
                node.post(
                    "/dek-registry/v1/keks/race/deks",
                    &json!({"subject": "cards-value", "version": 1}),
                )
            });
        }
    });
    let path = "/dek-registry/v1/keks/race/deks/cards-value/versions/1";
    let (status, first) = nodes[0].get(path);
    assert_eq!(status, 200, "{first}");
    assert!(first["keyMaterial"].is_string(), "{first}");
    eventually("every node unwraps the same DEK", || {
        nodes.iter().all(|n| n.get(path) == (200, first.clone()))
    });
    // An association made on node 1 guards its subject on node 2.
    let schema = record("Card", &[("id", "long", None)]);
    assert_eq!(nodes[0].register("cards-value", &schema).0, 200);
    let (status, body) = nodes[1].post(
        "/associations",
        &json!({"resourceName": "cards", "resourceNamespace": "c1", "resourceId": "id-cards",
                "resourceType": "topic", "associations": [{"subject": "cards-value"}]}),
    );
    assert_eq!(status, 200, "{body}");
    eventually("node 3 knows the association", || {
        nodes[2].get("/associations/subjects/cards-value").1[0]["resourceId"] == "id-cards"
    });
    let (status, body) = nodes[2].delete("/subjects/cards-value");
    assert_eq!(
        (status, body["error_code"].clone()),
        (409, json!(40904)),
        "{body}"
    );
    // Every other DEK-registry and association write made on one node is what the others
    // serve: KEK update, DEK delete and undelete, association update, batch calls, deletes.
    let (status, body) = nodes[1].put(
        "/dek-registry/v1/keks/race",
        &json!({"doc": "moved", "shared": true}),
    );
    assert_eq!(status, 200, "{body}");
    eventually("every node serves the updated KEK", || {
        nodes
            .iter()
            .all(|n| n.get("/dek-registry/v1/keks/race").1["doc"] == "moved")
    });
    assert_eq!(nodes[2].delete(path).0, 204);
    eventually("every node hides the deleted DEK", || {
        nodes.iter().all(|n| n.get(path).0 == 404)
    });
    assert_eq!(
        nodes[0].post(&format!("{path}/undelete"), &json!({})).0,
        204
    );
    eventually("every node serves the restored DEK", || {
        nodes.iter().all(|n| {
            let (status, dek) = n.get(path);
            status == 200 && dek["keyMaterial"] == first["keyMaterial"]
        })
    });
    assert_eq!(nodes[0].register("other-value", &schema).0, 200);
    let (status, body) = nodes[0].post(
        "/associations:batchMutate",
        &json!({"requests": [{"resourceName": "other", "resourceNamespace": "c1",
            "resourceId": "id-other", "resourceType": "topic",
            "associations": [{"opType": "CREATE", "subject": "other-value"}]}]}),
    );
    assert_eq!(status, 207, "{body}");
    eventually("every node answers the batch get", || {
        nodes.iter().all(|n| {
            n.post(
                "/associations:batchGet",
                &json!({"requests": [{"resourceId": "id-other"}]}),
            )
            .1["results"][0]["result"]["associations"][0]["subject"]
                == "other-value"
        })
    });
    assert_eq!(nodes[1].delete("/associations/resources/id-other").0, 204);
    eventually("every node forgets the deleted association", || {
        nodes
            .iter()
            .all(|n| n.get("/associations/resources/id-other").1 == json!([]))
    });
    // Semantic versions are decided once, on the node that registered, and read everywhere.
    let v2 = record(
        "Card",
        &[("id", "long", None), ("note", "string", Some(json!("")))],
    );
    assert_eq!(nodes[2].register("cards-value", &v2).0, 200);
    let (status, semvers) = nodes[2].get("/covenant/v1/subjects/cards-value/versions");
    assert_eq!(status, 200, "{semvers}");
    assert_eq!(semvers[1]["semver"]["version"], "1.1.0", "{semvers}");
    eventually("every node serves the same semantic versions", || {
        nodes
            .iter()
            .all(|n| n.get("/covenant/v1/subjects/cards-value/versions") == (200, semvers.clone()))
    });
}

/// The metrics of a shared log: a node that reads another's writes reports how far behind it
/// was (records and seconds), and both report the same head.
#[test]
fn metrics_show_catch_up_lag_and_the_same_head_on_every_node() {
    let Some(base) = database() else { return };
    let store = unique_store(&base);
    let dir = tempfile::tempdir().expect("dir");
    let writer = node(&store, dir.path(), &[]);
    let reader = node(&store, dir.path(), &[]);
    for i in 0..3 {
        writer.register_ok(&format!("lag-{i}"), &record("Lag", &[("id", "long", None)]));
    }
    let gauge = |server: &Server, name: &str| -> f64 {
        let (_, page, _) = server.raw("GET", "/metrics", &[], None);
        page.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{page}"))
            .parse()
            .expect("a number")
    };
    eventually("the reader has applied the writer's records", || {
        gauge(&reader, "covenant_log_head_records") == gauge(&writer, "covenant_log_head_records")
    });
    assert_eq!(gauge(&writer, "covenant_log_head_records"), 3.0);
    assert!(gauge(&reader, "covenant_log_catch_up_lag_records") >= 1.0);
    let seconds = gauge(&reader, "covenant_log_catch_up_lag_seconds");
    assert!((0.0..10.0).contains(&seconds), "{seconds}");
    assert_eq!(gauge(&reader, "covenant_log_records_applied_total"), 3.0);
}
