//! Issue 10: damage to the embedded store is detected, never served as a shorter history.
//!
//! The test writes a store through the real binary, then, on copies of it, flips bytes,
//! truncates, deletes and tears files, and starts the server on each copy. Every case must end
//! one of two ways: the server refuses to start and says what is wrong, or it starts with every
//! acknowledged registration there (a tail that was never acknowledged may be cut off). A
//! server that starts with an acknowledged registration missing is a silent loss, and fails the
//! test. `covenant log verify` must report each damage the server refuses, and `covenant log
//! repair` must bring back a store whose head alone was lost.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Options, Server};
use serde_json::json;

const REGISTRATIONS: usize = 120;

#[derive(Debug)]
struct Ack {
    subject: String,
    version: i64,
    id: i64,
}

/// What a damaged copy did.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Refused to start, saying why.
    Refused,
    /// Started with every acknowledged registration.
    Intact,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn flip(path: &Path, at: u64, count: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    for i in 0..count {
        let index = (at as usize + i).min(bytes.len() - 1);
        bytes[index] ^= 0xA5;
    }
    std::fs::write(path, bytes).expect("write");
}

fn truncate(path: &Path, length: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    file.set_len(length).expect("truncate");
}

fn log_verify(store: &str) -> (i32, String) {
    let output = Command::new(common::binary())
        .args(["log", "verify", "--store", store])
        .output()
        .expect("covenant log verify runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Starts a server on the damaged copy and classifies what happened.
fn start_on(dir: &Path, acks: &[Ack], case: &str) -> Outcome {
    let store = format!("file://{}", dir.display());
    let logs = tempfile::tempdir().expect("dir");
    match Server::try_spawn(&store, &Options::default(), logs.path()) {
        Err(log) => {
            assert!(
                log.contains("damaged")
                    || log.contains("missing")
                    || log.contains("does not match")
                    || log.contains("unreadable")
                    || log.contains("broken"),
                "{case}: refused without saying what is wrong:\n{log}"
            );
            let (code, report) = log_verify(&store);
            assert_eq!(
                code, 1,
                "{case}: verify must report the damage the server refused:\n{report}"
            );
            Outcome::Refused
        }
        Ok(server) => {
            for ack in acks {
                let (status, body) = server.get(&format!(
                    "/subjects/{}/versions/{}",
                    ack.subject, ack.version
                ));
                assert_eq!(status, 200, "{case}: SILENT LOSS of {ack:?}: {body}");
                assert_eq!(
                    body["id"].as_i64(),
                    Some(ack.id),
                    "{case}: {ack:?} came back as {body}"
                );
            }
            // The next registration does not reuse an acknowledged id.
            let max = acks.iter().map(|a| a.id).max().unwrap_or(0);
            let id = server.register_ok(
                "after-damage",
                r#"{"type":"fixed","name":"AfterDamage","size":3}"#,
            );
            assert!(
                id > max,
                "{case}: a new schema got id {id}, at or below the acknowledged {max}"
            );
            Outcome::Intact
        }
    }
}

#[test]
fn damage_is_refused_or_repaired_never_a_silent_loss() {
    let work = tempfile::tempdir().expect("dir");
    let original: PathBuf = work.path().join("original");
    let store = format!("file://{}", original.display());
    let mut acks = Vec::new();
    {
        let logs = tempfile::tempdir().expect("dir");
        let mut server = Server::spawn(&store, &Options::default(), logs.path());
        server.put("/config", &json!({"compatibility": "NONE"}));
        for n in 0..REGISTRATIONS {
            let subject = format!("damage-{}", n % 7);
            let schema = json!({"type": "record", "name": "R", "fields": [{"name": format!("f{n}"), "type": "int"}]}).to_string();
            let (status, body) = server.register(&subject, &schema);
            assert_eq!(status, 200, "{body}");
            acks.push(Ack {
                subject,
                version: body["version"].as_i64().expect("version"),
                id: body["id"].as_i64().expect("id"),
            });
        }
        assert!(server.terminate().success());
    }
    let (code, report) = log_verify(&store);
    assert_eq!(code, 0, "a healthy store verifies:\n{report}");
    assert!(
        report.contains(&format!("{} records verified", REGISTRATIONS + 1)),
        "{report}"
    );

    let log_len = std::fs::metadata(original.join("log")).expect("log").len();
    // (case, damage) — each applied to a fresh copy of the store.
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(String, Damage)> = vec![
        (
            "flip 8 bytes 16 from the end".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), log_len - 16, 8)),
        ),
        (
            "flip 8 bytes 200 from the end".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), log_len - 200, 8)),
        ),
        (
            "flip 8 bytes 2000 from the end".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), log_len - 2000, 8)),
        ),
        (
            "flip 8 bytes in the middle".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), log_len / 2, 8)),
        ),
        (
            "flip 8 bytes near the start".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), 10, 8)),
        ),
        (
            "flip a frame length".into(),
            Box::new(move |d: &Path| flip(&d.join("log"), 0, 2)),
        ),
        (
            "truncate the last byte".into(),
            Box::new(move |d: &Path| truncate(&d.join("log"), log_len - 1)),
        ),
        (
            "truncate 300 bytes".into(),
            Box::new(move |d: &Path| truncate(&d.join("log"), log_len - 300)),
        ),
        (
            "truncate to half".into(),
            Box::new(move |d: &Path| truncate(&d.join("log"), log_len / 2)),
        ),
        (
            "truncate to nothing".into(),
            Box::new(move |d: &Path| truncate(&d.join("log"), 0)),
        ),
        (
            "delete the log".into(),
            Box::new(move |d: &Path| std::fs::remove_file(d.join("log")).expect("rm")),
        ),
        (
            "delete the head".into(),
            Box::new(move |d: &Path| std::fs::remove_file(d.join("head")).expect("rm")),
        ),
        (
            "damage both head copies".into(),
            Box::new(move |d: &Path| {
                flip(&d.join("head"), 20, 4);
                flip(&d.join("head"), 148, 4)
            }),
        ),
        (
            "damage one head copy".into(),
            Box::new(move |d: &Path| {
                flip(&d.join("head"), 20, 4);
                flip(&d.join("head"), 148, 0)
            }),
        ),
        (
            "a torn write after the last record".into(),
            Box::new(move |d: &Path| {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(d.join("log"))
                    .expect("open");
                file.write_all(&[0x40, 0x00, 0x00, 0x00, 1, 2, 3, 4, b'{', b'"'])
                    .expect("write");
            }),
        ),
        (
            "an edited record (same length, checksum redone)".into(),
            Box::new(move |d: &Path| {
                // A deliberate edit: change a digit of the last record and fix its frame checksum.
                let path = d.join("log");
                let mut bytes = std::fs::read(&path).expect("read");
                let mut start = 0usize;
                let mut last = 0usize;
                while start < bytes.len() {
                    last = start;
                    let size =
                        u32::from_le_bytes(bytes[start..start + 4].try_into().expect("4")) as usize;
                    start += 8 + size;
                }
                let size =
                    u32::from_le_bytes(bytes[last..last + 4].try_into().expect("4")) as usize;
                let payload = &mut bytes[last + 8..last + 8 + size];
                let ts = payload
                    .windows(5)
                    .position(|w| w == b"\"ts\":")
                    .expect("a ts")
                    + 6;
                payload[ts] = if payload[ts] == b'9' { b'8' } else { b'9' };
                let crc = crc32(payload);
                bytes[last + 4..last + 8].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&path, bytes).expect("write");
            }),
        ),
    ];
    let mut refused = 0;
    let mut intact = 0;
    for (index, (case, damage)) in cases.iter().enumerate() {
        let copy = work.path().join(format!("copy-{index}"));
        copy_dir(&original, &copy);
        damage(&copy);
        let outcome = start_on(&copy, &acks, case);
        eprintln!("damage case {case:?}: {outcome:?}");
        match outcome {
            Outcome::Refused => refused += 1,
            Outcome::Intact => intact += 1,
        }
    }
    eprintln!("damage experiment: {} cases, {refused} refused at start, {intact} started with every acknowledged record, 0 silent losses", cases.len());
    assert_eq!(refused + intact, cases.len());
    assert!(refused >= 10, "most damage must be refused: {refused}");

    // A lost head, with the log complete: repair rebuilds it and the store serves everything.
    let copy = work.path().join("repaired");
    copy_dir(&original, &copy);
    std::fs::remove_file(copy.join("head")).expect("rm");
    let repaired = format!("file://{}", copy.display());
    let output = Command::new(common::binary())
        .args(["log", "repair", "--store", &repaired])
        .output()
        .expect("covenant log repair runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(start_on(&copy, &acks, "repaired head"), Outcome::Intact);
}

/// CRC-32 (IEEE), as the log's frames use, to forge an edit the checksum cannot catch.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
