//! Issue 2: an acknowledged write survives `kill -9`. The test kills the server repeatedly in the
//! middle of a stream of concurrent registrations, restarts it on the same store, and checks that
//! every acknowledged registration is there with the same id and version.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Options, Server};
use serde_json::json;

const ROUNDS: u64 = 25;
const WRITERS: usize = 3;

#[derive(Clone, Debug)]
struct Ack {
    subject: String,
    version: i64,
    id: i64,
    schema: String,
}

fn verify(server: &Server, acks: &[Ack]) {
    let mut ids = std::collections::HashMap::new();
    for ack in acks {
        let (status, body) = server.get(&format!(
            "/subjects/{}/versions/{}",
            ack.subject, ack.version
        ));
        assert_eq!(
            status, 200,
            "acknowledged {ack:?} is missing after a crash: {body}"
        );
        assert_eq!(
            body["id"].as_i64(),
            Some(ack.id),
            "{ack:?} came back as {body}"
        );
        assert_eq!(
            body["schema"].as_str(),
            Some(ack.schema.as_str()),
            "{ack:?}"
        );
        // One schema, one id.
        if let Some(previous) = ids.insert(ack.schema.clone(), ack.id) {
            assert_eq!(previous, ack.id, "the same schema has two ids");
        }
    }
    let distinct: std::collections::HashSet<i64> = ids.values().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "two schemas share an id");
}

fn pseudo_random(seed: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (seed.wrapping_mul(6364136223846793005).wrapping_add(nanos)) >> 11
}

#[test]
fn acknowledged_registrations_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::test_store(dir.path());
    let counter = Arc::new(AtomicU64::new(0));
    let mut acknowledged: Vec<Ack> = Vec::new();
    let mut last_round: Vec<Ack> = Vec::new();
    for round in 0..ROUNDS {
        let mut server = Server::spawn(&store, &Options::default(), dir.path());
        // What the last round acknowledged right before the kill is what a crash would lose.
        verify(&server, &last_round);
        if round == 0 {
            assert_eq!(
                server.put("/config", &json!({"compatibility": "NONE"})).0,
                200
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (url, stop, acks, counter) =
                    (server.url.clone(), stop.clone(), acks.clone(), counter.clone());
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .expect("client");
                    while !stop.load(Ordering::Relaxed) {
                        let k = counter.fetch_add(1, Ordering::Relaxed);
                        let subject = format!("durable-{}", k % 7);
                        let schema = format!(
                            r#"{{"type":"record","name":"R","fields":[{{"name":"f{k}","type":"int"}}]}}"#
                        );
                        let response = client
                            .post(format!("{url}/subjects/{subject}/versions"))
                            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                            .body(json!({ "schema": schema }).to_string())
                            .send();
                        let Ok(response) = response else { break };
                        if response.status().as_u16() != 200 {
                            break;
                        }
                        let Ok(body) = response.json::<serde_json::Value>() else { break };
                        acks.lock().expect("acks").push(Ack {
                            subject,
                            version: body["version"].as_i64().expect("version"),
                            id: body["id"].as_i64().expect("id"),
                            schema,
                        });
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(40 + pseudo_random(round) % 260));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().expect("writer thread");
        }
        last_round = acks.lock().expect("acks").drain(..).collect();
        acknowledged.extend(last_round.iter().cloned());
    }
    let server = Server::spawn(&store, &Options::default(), dir.path());
    verify(&server, &acknowledged);
    assert!(
        acknowledged.len() as u64 > ROUNDS * 5,
        "too few registrations were acknowledged to prove anything: {}",
        acknowledged.len()
    );
    eprintln!(
        "{} acknowledged registrations survived {ROUNDS} kill -9 restarts",
        acknowledged.len()
    );
}
