//! Shared harness of the black-box tests: start the real `covenant` binary on a free port with
//! its own store, and talk HTTP to it.
#![allow(dead_code)]

pub mod auth;
pub mod migrations;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The `covenant` binary Cargo built for these tests, or `COVENANT_TEST_BINARY` (to run a
/// test against another build, an earlier release say, to see it fail there).
pub fn binary() -> PathBuf {
    std::env::var_os("COVENANT_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_covenant")))
}

/// A running registry process.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The store URL it serves.
    pub store: String,
    /// Its standard error, for diagnosis.
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
    client: reqwest::blocking::Client,
}

/// How to start a server.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Store URL; a fresh sled store in a temp dir when absent.
    pub store: Option<String>,
}

/// A fresh store for one test: an embedded sled store in `dir`, or, when
/// `COVENANT_TEST_STORE=postgres`, a schema of its own in the PostgreSQL at `TEST_DATABASE_URL`
/// (default `postgres://postgres@127.0.0.1:5432/test`). The same suite runs against both.
pub fn test_store(dir: &Path) -> String {
    let kind = std::env::var("COVENANT_TEST_STORE").unwrap_or_default();
    if kind == "postgres" {
        let base = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        postgres_schema(&base, "covenant_bb")
    } else if kind == "sled" {
        // The embedded store's name in releases before the file log.
        format!("sled://{}", dir.join("data").display())
    } else {
        format!("file://{}", dir.join("data").display())
    }
}

/// A name no other test or test run uses: the process id and the time in nanoseconds.
pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", std::process::id())
}

/// The PostgreSQL store URL `base` with a fresh schema of its own, `{prefix}_{unique}`.
pub fn postgres_schema(base: &str, prefix: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}schema={prefix}_{}", unique())
}

impl Server {
    /// A fresh registry on its own store.
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    /// A registry with options.
    pub fn start_with(options: Options) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = options
            .store
            .clone()
            .unwrap_or_else(|| test_store(dir.path()));
        let mut server = Server::spawn(&store, &options, dir.path());
        server._dir = Some(dir);
        server
    }

    /// A registry on a given store, with its log in `log_dir`.
    pub fn spawn(store: &str, options: &Options, log_dir: &Path) -> Server {
        match Server::try_spawn(store, options, log_dir) {
            Ok(server) => server,
            Err(log) => panic!("the server did not start; log:\n{log}"),
        }
    }

    /// A registry on a given store, or what it logged when it would not start.
    pub fn try_spawn(store: &str, options: &Options, log_dir: &Path) -> Result<Server, String> {
        let log = log_dir.join(format!(
            "server-{}.log",
            std::process::id() as u64 * 1000 + rand_suffix()
        ));
        let stderr = File::create(&log).expect("log file");
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--store")
            .arg(store)
            .args(&options.args)
            .env("RUST_LOG", "warn")
            .env_remove("COVENANT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("covenant starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read first line");
        let url = match first.trim().strip_prefix("listening on ") {
            Some(url) => url.to_string(),
            None => {
                let _ = child.wait();
                return Err(format!(
                    "(first line {first:?})\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        };
        Ok(Server {
            child: Some(child),
            url,
            store: store.to_string(),
            log,
            _dir: None,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        })
    }

    /// Sends SIGKILL and waits for the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
        child.wait().expect("the server exits")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A request; returns the status and the body as JSON (or a JSON string for non-JSON bodies).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{}", self.url, path))
            .header("Accept", "application/vnd.schemaregistry.v1+json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .body(body.to_string());
        }
        let response = request.send().expect("request sent");
        decode(response)
    }

    /// A request with a raw body and headers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, String, Option<String>) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{}", self.url, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().expect("request sent");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        (status, response.text().expect("body"), content_type)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None)
    }

    /// Registers a schema (Avro unless `schema_type` says otherwise) and returns the response.
    pub fn register(&self, subject: &str, schema: &str) -> (u16, Value) {
        self.post(
            &format!("/subjects/{}/versions", encode(subject)),
            &serde_json::json!({ "schema": schema }),
        )
    }

    /// Registers and asserts success, returning the id.
    pub fn register_ok(&self, subject: &str, schema: &str) -> i64 {
        let (status, body) = self.register(subject, schema);
        assert_eq!(status, 200, "registering under {subject}: {body}");
        body["id"].as_i64().expect("an id")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn decode(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Percent-encodes a path segment (a subject may hold `/`).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An Avro record schema with the given fields (`name:type` pairs; a trailing `=default` adds a default).
pub fn record(name: &str, fields: &[&str]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|spec| {
            let (field, rest) = spec.split_once(':').expect("name:type");
            let (kind, default) = match rest.split_once('=') {
                Some((kind, default)) => (kind, Some(default)),
                None => (rest, None),
            };
            let mut value = serde_json::json!({ "name": field, "type": kind });
            if let Some(default) = default {
                value["default"] =
                    serde_json::from_str(default).unwrap_or(Value::String(default.into()));
            }
            value
        })
        .collect();
    serde_json::json!({ "type": "record", "name": name, "fields": fields }).to_string()
}

/// An export without what legitimately differs between registries: the source URL, and each
/// version's registration time and GUID.
pub fn comparable_export(mut export: Value) -> Value {
    export["source"] = Value::Null;
    if let Some(subjects) = export["subjects"].as_array_mut() {
        for subject in subjects {
            if let Some(versions) = subject["versions"].as_array_mut() {
                for version in versions {
                    if let Some(object) = version.as_object_mut() {
                        object.remove("ts");
                        object.remove("guid");
                    }
                }
            }
        }
    }
    export
}

/// Runs `covenant export` against a registry and reads the file back.
pub fn export_of(url: &str, dir: &Path, name: &str) -> Value {
    let output = Command::new(binary())
        .args(["export", "--registry", url, "--to"])
        .arg(dir.join(name))
        .output()
        .expect("covenant export runs");
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(dir.join(name)).expect("export file");
    comparable_export(serde_json::from_str(&text).expect("json"))
}

/// Runs `covenant import`.
pub fn import_into(url: &str, from: &Path) {
    let output = Command::new(binary())
        .args(["import", "--registry", url, "--from"])
        .arg(from)
        .output()
        .expect("covenant import runs");
    assert!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
