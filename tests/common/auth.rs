//! Helpers of the authentication tests, shared with the cluster tests: an HTTP client that
//! sends credentials, auth-file entries made by the real binary, and the audit sequence.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use super::{binary, record, Options, Server};

/// Credentials for one request.
#[derive(Clone, Copy)]
pub enum Cred<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// An HTTP(S) client for a server under test.
pub struct Http {
    pub url: String,
    pub client: reqwest::blocking::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Http {
    pub fn plain(url: &str) -> Http {
        Http::with(url, reqwest::blocking::Client::builder())
    }

    pub fn with(url: &str, builder: reqwest::blocking::ClientBuilder) -> Http {
        Http {
            url: url.to_string(),
            client: builder
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        cred: Cred<'_>,
        body: Option<&Value>,
    ) -> reqwest::Result<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        request = match cred {
            Cred::None => request,
            Cred::Basic(user, password) => request.basic_auth(user, Some(password)),
            Cred::Bearer(token) => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .body(body.to_string());
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text()?;
        Ok(Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        })
    }

    pub fn call(&self, method: &str, path: &str, cred: Cred<'_>, body: Option<&Value>) -> Reply {
        self.try_call(method, path, cred, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str, cred: Cred<'_>) -> Reply {
        self.call("GET", path, cred, None)
    }

    pub fn register(&self, subject: &str, schema: &str, cred: Cred<'_>) -> Reply {
        self.call(
            "POST",
            &format!("/subjects/{}/versions", super::encode(subject)),
            cred,
            Some(&json!({ "schema": schema })),
        )
    }
}

/// An argon2id hash of `password`, made by `covenant auth hash-password` from standard input.
pub fn hash_password(password: &str) -> String {
    let mut child = Command::new(binary())
        .args(["auth", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("covenant auth runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password written");
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).expect("utf-8");
    let hash = hash.trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    // (A password of a few characters turns up in the random salt now and then; only a
    // longer one says whether the plain text leaked into the hash.)
    assert!(password.len() < 6 || !hash.contains(password), "{hash}");
    hash
}

/// A new API key and its auth-file entry, from `covenant auth new-key`.
pub fn new_key(name: &str, roles: &str) -> (String, String) {
    let output = Command::new(binary())
        .args(["auth", "new-key", "--name", name, "--role", roles])
        .output()
        .expect("covenant auth runs");
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    let key = stderr
        .lines()
        .find(|line| line.starts_with("cvk_"))
        .expect("the key on standard error")
        .to_string();
    let entry = String::from_utf8(output.stdout).expect("utf-8");
    assert!(!entry.contains(&key), "the entry holds the key itself");
    (key, entry)
}

/// A registry started with `auth` as its auth file (`auth.toml` in `dir`) and `extra` flags.
pub fn start_with_auth(dir: &Path, auth: &str, extra: &[&str]) -> Server {
    let file = dir.join("auth.toml");
    write_file(&file, auth);
    let mut args = vec!["--auth-file".to_string(), file.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start_with(Options {
        args,
        ..Options::default()
    })
}

pub fn user_entry(name: &str, hash: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "[[users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nroles = [{}]\n\n",
        roles.join(", ")
    )
}

pub fn write_file(path: &Path, text: &str) {
    // Written beside and renamed, as configuration tools do, so the server never reads half.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// A one-field Avro record.
pub fn avro(name: &str) -> String {
    record(name, &["id:long"])
}

/// The writes of the audit tests: alice (basic) and deployer (API key) interleaved, write `i`
/// sent to node `i % nodes.len()`, each acknowledged before the next is sent.
pub fn audit_sequence(nodes: &[&Http], key: &str) {
    let alice = Cred::Basic("alice", "pw");
    let deployer = Cred::Bearer(key);
    let writes: Vec<(&str, String, Cred<'_>, Option<Value>)> = vec![
        (
            "POST",
            "/subjects/orders-value/versions".into(),
            alice,
            Some(json!({"schema": avro("Order")})),
        ),
        (
            "PUT",
            "/config/orders-value".into(),
            deployer,
            Some(json!({"compatibility": "FULL"})),
        ),
        (
            "POST",
            "/subjects/orders-value/versions".into(),
            deployer,
            Some(json!({"schema": record("Order", &["id:long", "note:string=\"\""])})),
        ),
        (
            "PUT",
            "/config/orders-value".into(),
            deployer,
            Some(json!({"compatibility": "NONE"})),
        ),
        (
            "PUT",
            "/mode".into(),
            alice,
            Some(json!({"mode": "READONLY"})),
        ),
        (
            "PUT",
            "/mode".into(),
            alice,
            Some(json!({"mode": "READWRITE"})),
        ),
        (
            "POST",
            "/subjects/payments-value/versions".into(),
            deployer,
            Some(json!({"schema": avro("Payment")})),
        ),
        (
            "DELETE",
            "/subjects/orders-value/versions/1".into(),
            deployer,
            None,
        ),
        ("DELETE", "/subjects/payments-value".into(), alice, None),
        (
            "DELETE",
            "/subjects/payments-value?permanent=true".into(),
            alice,
            None,
        ),
    ];
    for (i, (method, path, cred, body)) in writes.iter().enumerate() {
        let node = nodes[i % nodes.len()];
        let reply = node.call(method, path, *cred, body.as_ref());
        assert_eq!(
            reply.status,
            200,
            "{method} {path} on node {}: {}",
            i % nodes.len(),
            reply.body
        );
    }
}

/// What the audit trail says after [`audit_sequence`].
pub fn check_audit(http: &Http, admin: Cred<'_>) {
    let page = http.get("/covenant/v1/audit", admin);
    assert_eq!(page.status, 200, "{}", page.body);
    let entries = page.body["entries"].as_array().expect("entries").clone();
    let summary: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap_or("-").to_string(),
                e["method"].as_str().expect("method").to_string(),
                e["action"].as_str().expect("action").to_string(),
                e["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = [
        ("alice", "basic", "schema_registered", "orders-value"),
        ("deployer", "api_key", "config_set", "orders-value"),
        ("deployer", "api_key", "schema_registered", "orders-value"),
        ("deployer", "api_key", "config_set", "orders-value"),
        ("alice", "basic", "mode_set", ""),
        ("alice", "basic", "mode_set", ""),
        ("deployer", "api_key", "schema_registered", "payments-value"),
        ("deployer", "api_key", "version_deleted", "orders-value"),
        ("alice", "basic", "subject_deleted", "payments-value"),
        ("alice", "basic", "subject_deleted", "payments-value"),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(summary, expected);
    assert!(page.body.get("next").is_none());
    let offsets: Vec<u64> = entries
        .iter()
        .map(|e| e["offset"].as_u64().expect("offset"))
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    assert_eq!(entries[0]["source"], "127.0.0.1");
    assert_eq!(entries[0]["version"], 1);
    assert_eq!(entries[0]["id"], 1);
    assert!(entries[0]["time"].as_str().expect("time").ends_with('Z'));
    assert_eq!(entries[1]["before"], Value::Null);
    assert_eq!(entries[1]["after"], json!({"compatibility": "FULL"}));
    assert_eq!(entries[3]["before"], json!({"compatibility": "FULL"}));
    assert_eq!(entries[3]["after"], json!({"compatibility": "NONE"}));
    assert_eq!(entries[4]["scope"], "global");
    assert_eq!(
        (entries[4]["before"].clone(), entries[4]["after"].clone()),
        (Value::Null, json!("READONLY"))
    );
    assert_eq!(
        (entries[5]["before"].clone(), entries[5]["after"].clone()),
        (json!("READONLY"), json!("READWRITE"))
    );
    assert_eq!(entries[8]["permanent"], false);
    assert_eq!(entries[9]["permanent"], true);
    // Each entry's hash is the link the next record holds; distinct for every record.
    let hashes: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| e["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(hashes.len(), entries.len());

    let select = |query: &str| -> Vec<u64> {
        let reply = http.get(&format!("/covenant/v1/audit?{query}"), admin);
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["offset"].as_u64().expect("offset"))
            .collect()
    };
    let at = |i: usize| offsets[i];
    assert_eq!(
        select("principal=deployer"),
        [at(1), at(2), at(3), at(6), at(7)]
    );
    assert_eq!(select("subject=pay"), [at(6), at(8), at(9)]);
    assert_eq!(
        select("action=mode_set,config_set"),
        [at(1), at(3), at(4), at(5)]
    );
    assert_eq!(
        select("action=mode_set&action=version_deleted"),
        [at(4), at(5), at(7)]
    );
    assert_eq!(select("principal=alice&subject=orders"), [at(0)]);
    assert_eq!(select("since=1h").len(), 10);
    assert_eq!(select("until=1h"), Vec::<u64>::new());
    let since = entries[6]["ts"].as_i64().expect("ts");
    // Entries written in the same millisecond share a timestamp: `since` starts at the first
    // entry stamped at or after it, which may come before entry 6.
    let first_at_since = entries
        .iter()
        .find(|e| e["ts"].as_i64().expect("ts") >= since)
        .and_then(|e| e["offset"].as_u64());
    assert_eq!(
        select(&format!("since={since}")).first(),
        first_at_since.as_ref()
    );
    assert!(first_at_since <= Some(at(6)));
    // Pages: `next` is where the following page starts; together they give every entry once.
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let reply = http.get(&format!("/covenant/v1/audit?limit=3&from={from}"), admin);
        let page = reply.body["entries"].as_array().expect("entries").clone();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|e| e["offset"].as_u64().expect("offset")));
        match reply.body["next"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(seen, offsets);
    for bad in [
        "limit=0",
        "limit=5000",
        "from=-1",
        "since=yesterday",
        "action=exploded",
    ] {
        let reply = http.get(&format!("/covenant/v1/audit?{bad}"), admin);
        assert_eq!(
            (reply.status, reply.body["error_code"].clone()),
            (400, json!(400)),
            "{bad}"
        );
    }
}

/// Test PKI: a CA, a server certificate for 127.0.0.1, and client certificates.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub ca_pem: String,
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        let ca_pem = cert.pem();
        std::fs::write(dir.join(format!("{name}-ca.pem")), &ca_pem).expect("write");
        Pki {
            dir: dir.to_path_buf(),
            ca: rcgen::Issuer::new(params, key),
            ca_pem,
        }
    }

    /// Writes `{file}.pem` and `{file}.key`; returns (certificate PEM, key PEM).
    pub fn issue(&self, file: &str, common_name: &str, server: bool) -> (String, String) {
        let names = if server {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        // Without the placeholder common name rcgen starts with, which would stay first.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("signed");
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        std::fs::write(self.dir.join(format!("{file}.pem")), &cert_pem).expect("write");
        std::fs::write(self.dir.join(format!("{file}.key")), &key_pem).expect("write");
        (cert_pem, key_pem)
    }

    pub fn client(&self, url: &str, identity: Option<&(String, String)>) -> Http {
        let mut builder = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA"),
            );
        if let Some((cert, key)) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).expect("identity"),
            );
        }
        Http::with(url, builder)
    }
}
