//! Authentication, authorization, TLS, rate limits and the audit trail, against the real binary:
//! every built-in role and grant shape over HTTP and HTTPS, client certificates (mTLS), JWTs
//! signed by a test key whose JWKS comes from a file and from a local URL, Karapace's auth file
//! unchanged, the auth file reloaded under load, rate limits, and the audit trail after writes
//! by several principals.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::auth::{
    audit_sequence, avro, check_audit, hash_password, new_key, user_entry, write_file, Cred, Http,
    Pki,
};
use common::{binary, Options, Server};
use serde_json::{json, Value};

fn start(dir: &Path, auth: &str, extra: &[&str]) -> Server {
    common::auth::start_with_auth(dir, auth, extra)
}

/// Every built-in role and every grant shape, each answer checked, over plain HTTP.
#[test]
fn roles_and_grants_decide_every_endpoint() {
    roles_and_grants(false);
}

/// The same over HTTPS.
#[test]
fn roles_and_grants_decide_every_endpoint_over_https() {
    roles_and_grants(true);
}

fn roles_and_grants(tls: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("s3cret");
    let (key, key_entry) = new_key("ci", "payments");
    let mut auth = String::new();
    for (name, roles) in [
        ("root", vec!["admin"]),
        ("dev", vec!["developer"]),
        ("viewer", vec!["readonly"]),
        ("pay", vec!["payments"]),
        ("carol", vec![]),
        ("ops", vec![]),
        ("nobody", vec![]),
    ] {
        auth.push_str(&user_entry(name, &hash, &roles));
    }
    auth.push_str(&key_entry);
    auth.push_str(
        r#"
[[grants]]
role = "payments"
operations = ["read", "write"]
subjects = ["payments-*"]

[[grants]]
principal = "carol"
operations = ["*"]
contexts = [".staging"]

[[grants]]
principal = "ops"
operations = ["read", "config", "mode"]
global = true
"#,
    );
    let pki = Pki::new(dir.path(), "roles");
    pki.issue("server", "registry", true);
    let cert = dir.path().join("server.pem").display().to_string();
    let key_file = dir.path().join("server.key").display().to_string();
    let tls_args = ["--tls-cert", cert.as_str(), "--tls-key", key_file.as_str()];
    let server = start(dir.path(), &auth, if tls { &tls_args[..] } else { &[] });
    let http = if tls {
        assert!(server.url.starts_with("https://"));
        pki.client(&server.url, None)
    } else {
        Http::plain(&server.url)
    };
    let root = Cred::Basic("root", "s3cret");
    let dev = Cred::Basic("dev", "s3cret");
    let viewer = Cred::Basic("viewer", "s3cret");
    let pay = Cred::Basic("pay", "s3cret");
    let carol = Cred::Basic("carol", "s3cret");
    let ops = Cred::Basic("ops", "s3cret");
    let nobody = Cred::Basic("nobody", "s3cret");

    // Without credentials, or with wrong ones: 401 in the Confluent shape with a challenge.
    for cred in [
        Cred::None,
        Cred::Basic("root", "wrong"),
        Cred::Basic("ghost", "s3cret"),
        Cred::Basic("", ""),
        Cred::Bearer("cvk_not-a-key"),
        Cred::Bearer("a.b.c"),
    ] {
        for path in [
            "/subjects",
            "/schemas/ids/1",
            "/config",
            "/",
            "/schemas/types",
        ] {
            let reply = http.get(path, cred);
            assert_eq!(reply.status, 401, "{path}: {}", reply.body);
            assert_eq!(
                reply.body,
                json!({"error_code": 401, "message": "Unauthorized"})
            );
            let challenges: Vec<&str> = reply
                .headers
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().expect("ascii"))
                .collect();
            assert!(
                challenges.contains(&"Basic realm=\"Covenant\""),
                "{challenges:?}"
            );
        }
    }
    let reply = http.call("DELETE", "/subjects/x", Cred::None, None);
    assert_eq!(
        (reply.status, reply.body["error_code"].clone()),
        (401, json!(401))
    );
    // Health needs no credentials.
    assert_eq!(http.get("/health/live", Cred::None).status, 200);
    assert_eq!(http.get("/health/ready", Cred::None).status, 200);
    // No credential reaches the log.
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(!log.contains("s3cret") && !log.contains("wrong") && !log.contains(&key));

    // The admin does everything.
    assert_eq!(
        http.register("orders-value", &avro("Order"), root).status,
        200
    );
    let payments_id = http.register("payments-value", &avro("Payment"), root).body["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        http.register(":.staging:orders-value", &avro("StagedOrder"), root)
            .status,
        200
    );
    assert_eq!(
        http.call(
            "PUT",
            "/config",
            root,
            Some(&json!({"compatibility": "FULL"}))
        )
        .status,
        200
    );
    assert_eq!(
        http.call(
            "PUT",
            "/config",
            root,
            Some(&json!({"compatibility": "BACKWARD"}))
        )
        .status,
        200
    );

    // developer: registers, deletes and configures subjects; reads everything; no global
    // config, no mode, no import, no admin.
    assert_eq!(http.register("dev-value", &avro("Dev"), dev).status, 200);
    assert_eq!(
        http.call(
            "PUT",
            "/config/dev-value",
            dev,
            Some(&json!({"compatibility": "NONE"}))
        )
        .status,
        200
    );
    assert_eq!(http.get("/config", dev).status, 200);
    assert_eq!(http.get("/subjects/orders-value/versions", dev).status, 200);
    let denied = http.call(
        "PUT",
        "/config",
        dev,
        Some(&json!({"compatibility": "NONE"})),
    );
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["error_code"], 40301);
    assert_eq!(
        denied.body["message"],
        "User is denied operation Config on the global config and mode"
    );
    assert_eq!(
        http.call(
            "PUT",
            "/mode/dev-value",
            dev,
            Some(&json!({"mode": "READONLY"}))
        )
        .status,
        403
    );
    assert_eq!(http.get("/covenant/v1/audit", dev).status, 403);
    assert_eq!(
        http.call("DELETE", "/subjects/dev-value", dev, None).status,
        200
    );

    // readonly: reads everything, writes nothing.
    assert_eq!(
        http.get("/subjects", viewer).body.as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        http.get("/subjects/orders-value/versions/1", viewer).status,
        200
    );
    let denied = http.register("orders-value", &avro("Order"), viewer);
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.body["message"],
        "User is denied operation Write on Subject: orders-value"
    );
    assert_eq!(
        http.call("DELETE", "/subjects/orders-value", viewer, None)
            .status,
        403
    );

    // A role of one's own: read and write on payments-*; lists show only those subjects.
    assert_eq!(
        http.register("payments-refunds", &avro("Refund"), pay)
            .status,
        200
    );
    assert_eq!(
        http.get("/subjects", pay).body,
        json!(["payments-refunds", "payments-value"])
    );
    let schemas: Vec<String> = http
        .get("/schemas", pay)
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["subject"].as_str().expect("subject").to_string())
        .collect();
    assert_eq!(schemas, ["payments-refunds", "payments-value"]);
    assert_eq!(
        http.get(&format!("/schemas/ids/{payments_id}"), pay).status,
        200
    );
    let other = http.get("/schemas/ids/1", pay);
    assert_eq!(
        (other.status, other.body["error_code"].clone()),
        (404, json!(40403))
    );
    assert_eq!(
        http.register("orders-value", &avro("Order"), pay).status,
        403
    );
    assert_eq!(
        http.call("DELETE", "/subjects/payments-value", pay, None)
            .status,
        403
    );
    // A denied read says 403 whether or not the subject exists: the answer reveals nothing.
    let existing = http.get("/subjects/orders-value/versions", pay);
    let missing = http.get("/subjects/no-such-subject/versions", pay);
    assert_eq!((existing.status, missing.status), (403, 403));
    // The same role through an API key.
    let bearer = Cred::Bearer(&key);
    assert_eq!(
        http.register("payments-ci", &avro("Ci"), bearer).status,
        200
    );
    assert_eq!(
        http.register("orders-value", &avro("Order"), bearer).status,
        403
    );

    // A principal's grant on a whole context: its subjects, its config and mode.
    assert_eq!(
        http.register(":.staging:carol-value", &avro("Carol"), carol)
            .status,
        200
    );
    assert_eq!(
        http.call(
            "PUT",
            "/config/:.staging:",
            carol,
            Some(&json!({"compatibility": "NONE"}))
        )
        .status,
        200
    );
    assert_eq!(
        http.call(
            "PUT",
            "/mode/:.staging:carol-value",
            carol,
            Some(&json!({"mode": "READONLY"}))
        )
        .status,
        200
    );
    assert_eq!(
        http.get("/subjects", carol).body,
        json!([":.staging:carol-value", ":.staging:orders-value"])
    );
    assert_eq!(http.get("/contexts", carol).body, json!([".staging"]));
    assert_eq!(
        http.register("carol-value", &avro("Carol"), carol).status,
        403
    );
    assert_eq!(http.get("/config", carol).status, 403);

    // Global config and mode only.
    assert_eq!(
        http.call("PUT", "/mode", ops, Some(&json!({"mode": "READONLY"})))
            .status,
        200
    );
    assert_eq!(
        http.call("PUT", "/mode", ops, Some(&json!({"mode": "READWRITE"})))
            .status,
        200
    );
    assert_eq!(http.get("/subjects", ops).body, json!([]));
    assert_eq!(http.register("ops-value", &avro("Ops"), ops).status, 403);

    // Authenticated without any grant: empty lists, 403 for named resources, IMPORT and admin
    // only for the admin.
    assert_eq!(http.get("/subjects", nobody).body, json!([]));
    assert_eq!(http.get("/schemas", nobody).body, json!([]));
    assert_eq!(
        http.get("/subjects/orders-value/versions", nobody).status,
        403
    );
    assert_eq!(http.get("/", nobody).status, 200);
    assert_eq!(http.get("/schemas/types", nobody).status, 200);
    let import = json!({"schema": avro("Imported"), "id": 500, "version": 1});
    assert_eq!(
        http.call(
            "PUT",
            "/mode/imported-value",
            root,
            Some(&json!({"mode": "IMPORT"}))
        )
        .status,
        200
    );
    assert_eq!(
        http.call(
            "POST",
            "/subjects/imported-value/versions",
            dev,
            Some(&import)
        )
        .status,
        403
    );
    assert_eq!(
        http.call(
            "POST",
            "/subjects/imported-value/versions",
            root,
            Some(&import)
        )
        .status,
        200
    );
    assert_eq!(http.get("/covenant/v1/audit", root).status, 200);
}

/// `anonymous = "read"`: callers without credentials read everything and write nothing;
/// callers with wrong credentials still get 401.
#[test]
fn anonymous_readers() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("pw");
    let auth = format!(
        "anonymous = \"read\"\n{}",
        user_entry("writer", &hash, &["developer"])
    );
    let server = start(dir.path(), &auth, &[]);
    let http = Http::plain(&server.url);
    assert_eq!(
        http.register("s-value", &avro("S"), Cred::Basic("writer", "pw"))
            .status,
        200
    );
    assert_eq!(http.get("/subjects", Cred::None).body, json!(["s-value"]));
    assert_eq!(http.get("/schemas/ids/1", Cred::None).status, 200);
    assert_eq!(http.register("s-value", &avro("S"), Cred::None).status, 403);
    assert_eq!(
        http.get("/subjects", Cred::Basic("writer", "nope")).status,
        401
    );
}

/// Karapace's own test auth file, unchanged, with Karapace's semantics: Write implies Read,
/// patterns match from the start, `Config:` is the global config, Write on `.*` is an admin.
#[test]
fn karapace_auth_file_unchanged() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("karapace.auth.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/auth/karapace.auth.json"),
        &file,
    )
    .expect("copy");
    let server = Server::start_with(Options {
        args: vec!["--auth-file".into(), file.display().to_string()],
        ..Options::default()
    });
    let http = Http::plain(&server.url);
    let admin = Cred::Basic("admin", "admin");
    let aladdin = Cred::Basic("aladdin", "opensesame");
    let reader = Cred::Basic("reader", "secret");
    assert_eq!(http.get("/subjects", Cred::None).status, 401);
    assert_eq!(
        http.get("/subjects", Cred::Basic("aladdin", "secret"))
            .status,
        401
    );
    assert_eq!(http.register("cave-1", &avro("Cave"), aladdin).status, 200);
    assert_eq!(
        http.register("carpet-1", &avro("Carpet"), aladdin).status,
        403
    );
    assert_eq!(
        http.register("carpet-1", &avro("Carpet"), admin).status,
        200
    );
    assert_eq!(
        http.register("carpet-2", &avro("Carpet"), reader).status,
        403
    );
    assert_eq!(
        http.get("/subjects", admin).body,
        json!(["carpet-1", "cave-1"])
    );
    assert_eq!(http.get("/subjects", aladdin).body, json!(["cave-1"]));
    assert_eq!(http.get("/subjects", reader).body, json!(["carpet-1"]));
    assert_eq!(http.get("/subjects/carpet-1/versions", reader).status, 200);
    assert_eq!(http.get("/subjects/cave-1/versions", reader).status, 403);
    // The id only a cave subject uses is not found for the carpet reader.
    assert_eq!(http.get("/schemas/ids/1", reader).status, 404);
    assert_eq!(http.get("/schemas/ids/2", reader).status, 200);
    assert_eq!(http.get("/config", aladdin).status, 403);
    assert_eq!(http.get("/config", admin).status, 200);
    assert_eq!(
        http.call(
            "PUT",
            "/config/cave-1",
            aladdin,
            Some(&json!({"compatibility": "NONE"}))
        )
        .status,
        200
    );
    assert_eq!(http.get("/covenant/v1/audit", aladdin).status, 403);
    assert_eq!(http.get("/covenant/v1/audit", admin).status, 200);
    // The weak PBKDF2 hashes are named in a warning.
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(
        log.contains("aladdin, reader") && log.contains("PBKDF2"),
        "{log}"
    );
}

/// HTTPS with the test CA; client certificates authenticate (their subject is the principal);
/// a replaced certificate is served to new connections without dropping the open ones.
#[test]
fn https_and_client_certificates() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path(), "first");
    pki.issue("server", "registry", true);
    let bot = pki.issue("bot", "ci-bot", false);
    let stranger = pki.issue("stranger", "stranger", false);
    let hash = hash_password("pw");
    let auth = format!(
        "{}[[principals]]\nname = \"CN=ci-bot,O=Acme\"\nroles = [\"developer\"]\n",
        user_entry("alice", &hash, &["readonly"])
    );
    let file = dir.path().join("auth.toml");
    write_file(&file, &auth);
    let path = |name: &str| dir.path().join(name).display().to_string();
    let server = Server::start_with(Options {
        args: vec![
            "--auth-file".into(),
            file.display().to_string(),
            "--tls-cert".into(),
            path("server.pem"),
            "--tls-key".into(),
            path("server.key"),
            "--tls-client-ca".into(),
            path("first-ca.pem"),
            "--tls-client-auth".into(),
            "optional".into(),
        ],
        ..Options::default()
    });
    assert!(server.url.starts_with("https://"), "{}", server.url);
    // Plain HTTP to the TLS port gets nowhere.
    let plain = Http::plain(&server.url.replace("https://", "http://"));
    assert!(plain
        .try_call("GET", "/subjects", Cred::None, None)
        .map_or(true, |reply| reply.status >= 400));

    let bot_http = pki.client(&server.url, Some(&bot));
    assert_eq!(
        bot_http
            .register("bot-value", &avro("Bot"), Cred::None)
            .status,
        200
    );
    assert_eq!(
        bot_http.get("/subjects", Cred::None).body,
        json!(["bot-value"])
    );
    // A certificate the CA signed for someone without a grant authenticates, and may do nothing.
    let stranger_http = pki.client(&server.url, Some(&stranger));
    assert_eq!(stranger_http.get("/subjects", Cred::None).body, json!([]));
    assert_eq!(
        stranger_http
            .register("x-value", &avro("X"), Cred::None)
            .status,
        403
    );
    // Without a certificate (optional): basic auth over TLS, or 401.
    let anonymous_http = pki.client(&server.url, None);
    assert_eq!(anonymous_http.get("/subjects", Cred::None).status, 401);
    assert_eq!(
        anonymous_http
            .get("/subjects", Cred::Basic("alice", "pw"))
            .body,
        json!(["bot-value"])
    );
    // A certificate from another CA is refused in the handshake.
    let other = Pki::new(dir.path(), "other");
    let foreign = other.issue("foreign", "ci-bot", false);
    let foreign_http = Http::with(
        &server.url,
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(
                reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA"),
            )
            .identity(
                reqwest::Identity::from_pem(format!("{}\n{}", foreign.0, foreign.1).as_bytes())
                    .expect("identity"),
            ),
    );
    assert!(foreign_http
        .try_call("GET", "/subjects", Cred::None, None)
        .is_err());

    // The audit trail is the admin's alone.
    let audit = anonymous_http.get("/covenant/v1/audit", Cred::Basic("alice", "pw"));
    assert_eq!(audit.status, 403);

    // Replace the server certificate with one from a new CA: new connections get it, an open
    // connection keeps working throughout.
    let keep_alive = pki.client(&server.url, Some(&bot));
    assert_eq!(keep_alive.get("/subjects", Cred::None).status, 200);
    let second = Pki::new(dir.path(), "second");
    let (cert, key) = second.issue("server-next", "registry", true);
    write_file(&dir.path().join("server.key"), &key);
    write_file(&dir.path().join("server.pem"), &cert);
    let deadline = Instant::now() + Duration::from_secs(15);
    let new_http = second.client(&server.url, None);
    loop {
        assert_eq!(
            keep_alive.get("/subjects", Cred::None).status,
            200,
            "the open connection keeps working"
        );
        if new_http
            .try_call("GET", "/subjects", Cred::Basic("alice", "pw"), None)
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Clients trusting only the first CA now fail to connect anew.
    let old_only = pki.client(&server.url, Some(&bot));
    assert!(old_only
        .try_call("GET", "/subjects", Cred::None, None)
        .is_err());
}

/// With client certificates required, a connection without one is refused in the handshake.
#[test]
fn required_client_certificates() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path(), "ca");
    pki.issue("server", "registry", true);
    let bot = pki.issue("bot", "ci-bot", false);
    let path = |name: &str| dir.path().join(name).display().to_string();
    write_file(
        &dir.path().join("auth.toml"),
        "[[principals]]\nname = \"CN=ci-bot,O=Acme\"\nroles = [\"admin\"]\n",
    );
    let server = Server::start_with(Options {
        args: vec![
            "--auth-file".into(),
            path("auth.toml"),
            "--tls-cert".into(),
            path("server.pem"),
            "--tls-key".into(),
            path("server.key"),
            "--tls-client-ca".into(),
            path("ca-ca.pem"),
        ],
        ..Options::default()
    });
    assert!(pki
        .client(&server.url, None)
        .try_call("GET", "/subjects", Cred::None, None)
        .is_err());
    let bot_http = pki.client(&server.url, Some(&bot));
    assert_eq!(
        bot_http.register("s-value", &avro("S"), Cred::None).status,
        200
    );
    let audit = bot_http.get("/covenant/v1/audit", Cred::None);
    assert_eq!(audit.status, 200);
    let entry = &audit.body["entries"][0];
    assert_eq!(entry["principal"], "CN=ci-bot,O=Acme");
    assert_eq!(entry["method"], "mtls");
    assert_eq!(entry["source"], "127.0.0.1");
}

/// An ES256 test key, its JWKS, and tokens signed with it.
struct Signer {
    key: jsonwebtoken::EncodingKey,
    jwks: Value,
}

impl Signer {
    fn new(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        }]});
        Signer {
            key: jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())
                .expect("encoding key"),
            jwks,
        }
    }

    fn token(&self, kid: &str, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("signed")
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn claims(sub: &str, roles: &[&str], exp: u64, aud: &str) -> Value {
    json!({"iss": "https://idp.test", "aud": aud, "sub": sub, "exp": exp,
           "realm_access": {"roles": roles}})
}

/// Serves `body` to every GET on a local port until the returned flag is set; counts requests.
fn serve_jwks(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            counter.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, hits)
}

fn oidc_section(source: &str) -> String {
    format!(
        "[oidc]\nissuer = \"https://idp.test\"\naudience = \"covenant\"\n{source}\nroles_claim = \"realm_access.roles\"\n"
    )
}

fn check_tokens(http: &Http, signer: &Signer, kid: &str) {
    let developer = signer.token(
        kid,
        claims("svc-orders", &["developer"], now() + 600, "covenant"),
    );
    assert_eq!(
        http.register("jwt-value", &avro("Jwt"), Cred::Bearer(&developer))
            .status,
        200
    );
    let reader = signer.token(
        kid,
        claims("svc-read", &["readonly"], now() + 600, "covenant"),
    );
    assert_eq!(
        http.get("/subjects", Cred::Bearer(&reader)).body,
        json!(["jwt-value"])
    );
    assert_eq!(
        http.register("jwt-value", &avro("Jwt"), Cred::Bearer(&reader))
            .status,
        403
    );
    let no_roles = signer.token(kid, claims("svc-none", &[], now() + 600, "covenant"));
    assert_eq!(
        http.get("/subjects", Cred::Bearer(&no_roles)).body,
        json!([])
    );
    for (what, token) in [
        (
            "expired",
            signer.token(
                kid,
                claims("svc-orders", &["admin"], now() - 3600, "covenant"),
            ),
        ),
        (
            "for another audience",
            signer.token(kid, claims("svc-orders", &["admin"], now() + 600, "other")),
        ),
        (
            "signed by another key",
            Signer::new(kid).token(
                kid,
                claims("svc-orders", &["admin"], now() + 600, "covenant"),
            ),
        ),
        (
            "with an unknown kid",
            signer.token(
                "unknown",
                claims("svc-orders", &["admin"], now() + 600, "covenant"),
            ),
        ),
    ] {
        let reply = http.get("/subjects", Cred::Bearer(&token));
        assert_eq!(reply.status, 401, "a token {what}: {}", reply.body);
    }
    // Tampered claims break the signature.
    let mut parts: Vec<String> = developer.split('.').map(str::to_string).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims("svc-orders", &["admin"], now() + 600, "covenant").to_string());
    assert_eq!(
        http.get("/subjects", Cred::Bearer(&parts.join("."))).status,
        401
    );
    // The audit trail names the token's subject.
    let admin = signer.token(
        kid,
        claims("svc-admin", &["admin"], now() + 600, "covenant"),
    );
    let audit = http.get("/covenant/v1/audit", Cred::Bearer(&admin));
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(audit.body["entries"][0]["principal"], "svc-orders");
    assert_eq!(audit.body["entries"][0]["method"], "jwt");
}

/// Bearer JWTs checked against a JWKS file, then against a JWKS served from a local URL.
#[test]
fn jwts_from_a_jwks_file_and_a_url() {
    let dir = tempfile::tempdir().expect("dir");
    let signer = Signer::new("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, signer.jwks.to_string()).expect("write");
    let server = start(
        dir.path(),
        &oidc_section(&format!("jwks_file = \"{}\"", jwks.display())),
        &[],
    );
    check_tokens(&Http::plain(&server.url), &signer, "k1");

    let (url, hits) = serve_jwks(signer.jwks.to_string());
    let other = tempfile::tempdir().expect("dir");
    let server = start(
        other.path(),
        &oidc_section(&format!("jwks_url = \"{url}\"")),
        &[],
    );
    check_tokens(&Http::plain(&server.url), &signer, "k1");
    assert!(hits.load(Ordering::SeqCst) >= 1);
}

/// The auth file changes under load: the user in force keeps working without one failed
/// request, a new user works within seconds, a broken file keeps the policy in force.
#[test]
fn auth_file_reloads_under_load() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("pw");
    let first = user_entry("steady", &hash, &["developer"]);
    let server = start(dir.path(), &first, &[]);
    let url = server.url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let (url, stop, done, failed) = (
                url.clone(),
                Arc::clone(&stop),
                Arc::clone(&done),
                Arc::clone(&failed),
            );
            std::thread::spawn(move || {
                let http = Http::plain(&url);
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let reply = if i % 4 == 0 {
                        http.register(
                            &format!("load-{n}-{i}"),
                            &avro("Load"),
                            Cred::Basic("steady", "pw"),
                        )
                    } else {
                        http.get("/subjects", Cred::Basic("steady", "pw"))
                    };
                    if reply.status != 200 {
                        failed.fetch_add(1, Ordering::SeqCst);
                        eprintln!("failed: {} {}", reply.status, reply.body);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
            })
        })
        .collect();
    let http = Http::plain(&server.url);
    let file = dir.path().join("auth.toml");
    let wait_for = |what: &str, probe: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !probe() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for round in 0..3 {
        let newcomer = format!("new{round}");
        write_file(
            &file,
            &format!("{first}{}", user_entry(&newcomer, &hash, &["readonly"])),
        );
        wait_for("the new user is let in", &|| {
            http.get("/subjects", Cred::Basic(&newcomer, "pw")).status == 200
        });
    }
    // A file that does not parse keeps the policy in force.
    write_file(&file, "[[users]\nthis is not toml");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(http.get("/subjects", Cred::Basic("new2", "pw")).status, 200);
    // Removing a user takes effect (the credential cache is forgotten at a reload).
    write_file(&file, &first);
    wait_for("the removed user is refused", &|| {
        http.get("/subjects", Cred::Basic("new2", "pw")).status == 401
    });
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().expect("worker");
    }
    assert!(
        done.load(Ordering::SeqCst) > 100,
        "{} requests",
        done.load(Ordering::SeqCst)
    );
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the reloads"
    );
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(log.contains("did not reload"), "{log}");
}

/// Request rates per principal and class, failed attempts per source; health is exempt.
#[test]
fn rate_limits() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("pw");
    let auth = format!(
        "{}{}",
        user_entry("a", &hash, &["developer"]),
        user_entry("b", &hash, &["developer"])
    );
    let server = start(
        dir.path(),
        &auth,
        &[
            "--rate-limit-reads",
            "5",
            // One write, then one every five seconds: the refusal below does not depend on how
            // fast this machine registers.
            "--rate-limit-writes",
            "0.2",
            "--auth-failures-per-minute",
            "4",
        ],
    );
    let http = Http::plain(&server.url);
    let a = Cred::Basic("a", "pw");
    let statuses: Vec<u16> = (0..12).map(|_| http.get("/subjects", a).status).collect();
    assert_eq!(&statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 7,
        "{statuses:?}"
    );
    let limited = http.get("/subjects", a);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error_code"], 42901);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    // Another principal has its own budget; writes have theirs; health is exempt.
    assert_eq!(http.get("/subjects", Cred::Basic("b", "pw")).status, 200);
    assert_eq!(http.register("w-1", &avro("W"), a).status, 200);
    assert_eq!(http.register("w-2", &avro("W"), a).status, 429);
    for _ in 0..20 {
        assert_eq!(http.get("/health/live", Cred::None).status, 200);
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(http.get("/subjects", a).status, 200);

    // Four failed guesses at c's password, then guesses at it wait, the right one too; a
    // credential verified before keeps working, and so do other users.
    // (The new file drops a and adds c; a's refusal shows the reload happened.)
    let auth_c = format!(
        "{}{}",
        user_entry("b", &hash, &["developer"]),
        user_entry("c", &hash, &["developer"])
    );
    write_file(&dir.path().join("auth.toml"), &auth_c);
    let deadline = Instant::now() + Duration::from_secs(15);
    while http.get("/subjects", a).status != 401 {
        assert!(
            Instant::now() < deadline,
            "the auth file was never reloaded"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(http.get("/subjects", Cred::Basic("c", "pw")).status, 200);
    let fresh = Http::plain(&server.url);
    for _ in 0..4 {
        assert_eq!(
            fresh.get("/subjects", Cred::Basic("c", "guess")).status,
            401
        );
    }
    let locked = fresh.get("/subjects", Cred::Basic("c", "another guess"));
    assert_eq!(locked.status, 429);
    assert_eq!(locked.body["error_code"], 42901);
    assert!(locked.headers.contains_key("retry-after"));
    assert_eq!(
        fresh.get("/subjects", Cred::Basic("c", "pw")).status,
        200,
        "verified before, so cached"
    );
    assert_eq!(fresh.get("/subjects", Cred::Basic("b", "pw")).status, 200);
}

/// The audit trail after a mixed sequence of writes by two principals: order, principals,
/// methods, before and after values, filters, pagination, and `covenant audit`.
#[test]
fn audit_trail_of_two_principals() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("pw");
    let (key, key_entry) = new_key("deployer", "developer");
    let auth = format!("{}{key_entry}", user_entry("alice", &hash, &["admin"]));
    let server = start(dir.path(), &auth, &[]);
    audit_sequence(&[&Http::plain(&server.url)], &key);
    let alice = Cred::Basic("alice", "pw");
    let http = Http::plain(&server.url);
    check_audit(&http, alice);

    // The CLI reads the same entries.
    let output = Command::new(binary())
        .args([
            "audit",
            "--registry",
            &server.url,
            "--user",
            "alice",
            "--format",
            "json",
        ])
        .env("COVENANT_PASSWORD", "pw")
        .output()
        .expect("covenant audit runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let all = http.get("/covenant/v1/audit?limit=1000", alice).body["entries"].clone();
    assert_eq!(Value::Array(lines), all);
    let output = Command::new(binary())
        .args([
            "audit",
            "--registry",
            &server.url,
            "--user",
            "alice",
            "--actor",
            "deployer",
            "--action",
            "config_set",
        ])
        .env("COVENANT_PASSWORD", "pw")
        .output()
        .expect("covenant audit runs");
    let table = String::from_utf8(output.stdout).expect("utf-8");
    assert!(table.starts_with("OFFSET"), "{table}");
    assert!(
        table.contains("deployer") && table.contains("FULL -> NONE"),
        "{table}"
    );
    assert!(!table.contains("alice"), "{table}");
    let output = Command::new(binary())
        .args(["audit", "--registry", &server.url, "--user", "alice"])
        .env("COVENANT_PASSWORD", "wrong")
        .output()
        .expect("covenant audit runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("wrong"));
}

/// The client crate and every CLI command over HTTPS: a private CA, a client certificate, a
/// token from a callback, basic credentials from the environment; secrets never echoed.
#[test]
fn client_crate_and_cli_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path(), "ca");
    pki.issue("server", "registry", true);
    let (cert, key_pem) = pki.issue("bot", "ci-bot", false);
    let hash = hash_password("pw");
    let (api_key, key_entry) = new_key("deployer", "developer");
    write_file(
        &dir.path().join("auth.toml"),
        &format!(
            "{}{key_entry}[[principals]]\nname = \"CN=ci-bot,O=Acme\"\nroles = [\"admin\"]\n",
            user_entry("alice", &hash, &["developer"])
        ),
    );
    let path = |name: &str| dir.path().join(name).display().to_string();
    let server = Server::start_with(Options {
        args: vec![
            "--auth-file".into(),
            path("auth.toml"),
            "--tls-cert".into(),
            path("server.pem"),
            "--tls-key".into(),
            path("server.key"),
            "--tls-client-ca".into(),
            path("ca-ca.pem"),
            "--tls-client-auth".into(),
            "optional".into(),
        ],
        ..Options::default()
    });

    // The async client: CA, a bearer token asked for per request, and a client certificate.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let token = api_key.clone();
    let client = covenant_client::Client::builder(&server.url)
        .ca_certificate(pki.ca_pem.clone())
        .auth(covenant_client::Auth::BearerFrom(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(token.clone())
        })))
        .build()
        .expect("client");
    let request = covenant_client::api::RegisterSchemaRequest {
        schema: Some(avro("Client")),
        ..Default::default()
    };
    let registered = runtime
        .block_on(client.register("client-value", &request, false))
        .expect("registered with the token");
    assert!(calls.load(Ordering::SeqCst) >= 1);
    let failing = covenant_client::Client::builder(&server.url)
        .ca_certificate(pki.ca_pem.clone())
        .auth(covenant_client::Auth::BearerFrom(Arc::new(|| {
            Err("the identity provider is down".to_string())
        })))
        .build()
        .expect("client");
    let error = runtime
        .block_on(failing.subjects(None, false))
        .expect_err("no token");
    assert!(
        error.to_string().contains("the identity provider is down"),
        "{error}"
    );
    let mtls = covenant_client::Client::builder(&server.url)
        .ca_certificate(pki.ca_pem.clone())
        .client_certificate(cert.clone(), key_pem.clone())
        .build()
        .expect("client");
    let page = runtime
        .block_on(mtls.audit(&[("principal", "deployer".to_string())]))
        .expect("the certificate's principal is an admin");
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].id, Some(registered.id));
    // The blocking client, with basic credentials and the CA.
    let blocking = covenant_client::blocking::Client::new(
        covenant_client::Client::builder(&server.url)
            .ca_certificate(pki.ca_pem.clone())
            .auth(covenant_client::Auth::Basic {
                username: "alice".into(),
                password: "pw".into(),
            })
            .build()
            .expect("client"),
    )
    .expect("blocking");
    assert_eq!(blocking.subjects().expect("subjects"), ["client-value"]);
    // A bad CA file is a clear error, not a panic.
    let bad = covenant_client::Client::builder(&server.url)
        .ca_certificate(b"not a certificate".to_vec())
        .build();
    assert!(bad.is_err());

    // The CLI: --ca with --user and a password from the environment, --token, --cert/--key.
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_remove("COVENANT_PASSWORD")
            .env_remove("COVENANT_TOKEN");
        for (k, v) in env {
            command.env(k, v);
        }
        let output = command.output().expect("covenant runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let ca = path("ca-ca.pem");
    let (code, out, err) = cli(
        &[
            "subjects",
            "--registry",
            &server.url,
            "--ca",
            &ca,
            "--user",
            "alice",
        ],
        &[("COVENANT_PASSWORD", "pw")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("client-value"), "{out}");
    let (code, out, err) = cli(
        &[
            "subjects",
            "--registry",
            &server.url,
            "--ca",
            &ca,
            "--token",
            &api_key,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("client-value"), "{out}");
    let (code, out, err) = cli(
        &[
            "audit",
            "--registry",
            &server.url,
            "--ca",
            &ca,
            "--cert",
            &path("bot.pem"),
            "--key",
            &path("bot.key"),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // Without the CA the certificate is not trusted; a wrong token is refused; neither echoes it.
    let (code, _, err) = cli(
        &["subjects", "--registry", &server.url, "--token", &api_key],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(!err.contains(&api_key), "{err}");
    let (code, _, err) = cli(
        &[
            "subjects",
            "--registry",
            &server.url,
            "--ca",
            &ca,
            "--token",
            "cvk_wrong-token",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("401") && !err.contains("cvk_wrong-token"),
        "{err}"
    );
    let (code, _, err) = cli(
        &[
            "subjects",
            "--registry",
            &server.url,
            "--ca",
            &ca,
            "--cert",
            &path("bot.pem"),
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("--cert and --key"), "{err}");
}

/// `/metrics` is behind the same permission check as the API: a caller with global read may
/// scrape it, on the main listener and on the metrics listener; no one else may.
#[test]
fn metrics_need_global_read() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("scrape-pw");
    let mut auth = String::new();
    for (name, roles) in [("prom", vec!["readonly"]), ("pay", vec!["payments"])] {
        auth.push_str(&user_entry(name, &hash, &roles));
    }
    auth.push_str(
        "\n[[grants]]\nrole = \"payments\"\noperations = [\"read\"]\nsubjects = [\"payments-*\"]\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = start(
        dir.path(),
        &auth,
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
    );
    let main = Http::plain(&server.url);
    let apart = Http::plain(&format!("http://127.0.0.1:{port}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while apart.try_call("GET", "/metrics", Cred::None, None).is_err() {
        assert!(std::time::Instant::now() < deadline, "no metrics listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    for http in [&main, &apart] {
        assert_eq!(http.get("/metrics", Cred::None).status, 401);
        assert_eq!(
            http.get("/metrics", Cred::Basic("pay", "scrape-pw")).status,
            403
        );
        let reply = http.get("/metrics", Cred::Basic("prom", "scrape-pw"));
        assert_eq!(reply.status, 200);
        assert!(reply
            .body
            .as_str()
            .is_some_and(|page| page.contains("covenant_http_requests_total")));
    }
}

/// The DEK registry, the associations and the semantic versions are behind the same check as
/// the rest: KEKs by the KEK grants (readonly reads them, developer writes them, a
/// subject-scoped role neither), DEKs and associations by their subjects, semantic versions as
/// reads of their subject.
#[test]
fn keys_associations_and_semantic_versions_follow_the_grants() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hash_password("grants-pw");
    let mut auth = String::new();
    for (name, roles) in [
        ("root", vec!["admin"]),
        ("dev", vec!["developer"]),
        ("viewer", vec!["readonly"]),
        ("pay", vec!["payments"]),
    ] {
        auth.push_str(&user_entry(name, &hash, &roles));
    }
    auth.push_str(
        "\n[[grants]]\nrole = \"payments\"\noperations = [\"read\", \"write\"]\nsubjects = [\"payments-*\"]\n",
    );
    let server = start(dir.path(), &auth, &[]);
    let http = Http::plain(&server.url);
    let as_user = |name: &'static str| Cred::Basic(name, "grants-pw");
    let (root, dev, viewer, pay) = (
        as_user("root"),
        as_user("dev"),
        as_user("viewer"),
        as_user("pay"),
    );
    for subject in ["payments-value", "orders-value"] {
        assert_eq!(http.register(subject, &avro("P"), root).status, 200);
    }
    let kek = |name: &str| json!({"name": name, "kmsType": "aws-kms", "kmsKeyId": format!("arn:aws:kms:eu:1:key/{name}")});
    let status = |method: &str, path: &str, cred: Cred<'_>, body: Option<&Value>| {
        http.call(method, path, cred, body).status
    };
    // KEKs.
    assert_eq!(
        status("POST", "/dek-registry/v1/keks", root, Some(&kek("k1"))),
        200
    );
    assert_eq!(
        status("POST", "/dek-registry/v1/keks", dev, Some(&kek("k2"))),
        200
    );
    assert_eq!(
        status("POST", "/dek-registry/v1/keks", viewer, Some(&kek("k3"))),
        403
    );
    assert_eq!(
        status("POST", "/dek-registry/v1/keks", pay, Some(&kek("k4"))),
        403
    );
    assert_eq!(status("GET", "/dek-registry/v1/keks/k1", viewer, None), 200);
    assert_eq!(status("GET", "/dek-registry/v1/keks/k1", pay, None), 403);
    assert_eq!(
        status("DELETE", "/dek-registry/v1/keks/k2", viewer, None),
        403
    );
    assert_eq!(
        status("GET", "/dek-registry/v1/keks/k1", Cred::None, None),
        401
    );
    // DEKs, by their subject.
    let dek = |subject: &str| json!({"subject": subject, "encryptedKeyMaterial": "AAECAwQFBgcICQoLDA0ODw=="});
    assert_eq!(
        status(
            "POST",
            "/dek-registry/v1/keks/k1/deks",
            pay,
            Some(&dek("payments-value"))
        ),
        200
    );
    assert_eq!(
        status(
            "POST",
            "/dek-registry/v1/keks/k1/deks",
            pay,
            Some(&dek("orders-value"))
        ),
        403
    );
    assert_eq!(
        status(
            "GET",
            "/dek-registry/v1/keks/k1/deks/payments-value",
            pay,
            None
        ),
        200
    );
    assert_eq!(
        status(
            "POST",
            "/dek-registry/v1/keks/k1/deks",
            viewer,
            Some(&dek("orders-value"))
        ),
        403
    );
    assert_eq!(
        status(
            "POST",
            "/dek-registry/v1/keks/k1/deks",
            root,
            Some(&dek("orders-value"))
        ),
        200
    );
    assert_eq!(
        status(
            "GET",
            "/dek-registry/v1/keks/k1/deks/orders-value",
            pay,
            None
        ),
        403
    );
    assert_eq!(
        status(
            "GET",
            "/dek-registry/v1/keks/k1/deks/orders-value",
            viewer,
            None
        ),
        200
    );
    // Associations, by their subjects.
    let association = |topic: &str, subject: &str| {
        json!({
            "resourceName": topic, "resourceNamespace": "lkc-1",
            "resourceId": format!("lkc-1:{topic}"), "resourceType": "topic",
            "associations": [{"subject": subject, "associationType": "value"}],
        })
    };
    assert_eq!(
        status(
            "POST",
            "/associations",
            pay,
            Some(&association("orders", "orders-value"))
        ),
        403
    );
    assert_eq!(
        status(
            "POST",
            "/associations",
            pay,
            Some(&association("payments", "payments-value"))
        ),
        200
    );
    assert_eq!(
        status("GET", "/associations/subjects/payments-value", pay, None),
        200
    );
    assert_eq!(
        status("GET", "/associations/subjects/orders-value", pay, None),
        403
    );
    assert_eq!(
        status(
            "POST",
            "/associations",
            viewer,
            Some(&association("orders", "orders-value"))
        ),
        403
    );
    // Semantic versions are reads of their subject.
    assert_eq!(
        status(
            "GET",
            "/covenant/v1/subjects/payments-value/versions",
            pay,
            None
        ),
        200
    );
    assert_eq!(
        status(
            "GET",
            "/covenant/v1/subjects/orders-value/versions",
            pay,
            None
        ),
        403
    );
    assert_eq!(
        status(
            "GET",
            "/covenant/v1/subjects/orders-value/versions",
            viewer,
            None
        ),
        200
    );
    let preview = json!({"schema": avro("P")});
    assert_eq!(
        status(
            "POST",
            "/covenant/v1/subjects/orders-value/semver",
            pay,
            Some(&preview)
        ),
        403
    );
    assert_eq!(
        status(
            "POST",
            "/covenant/v1/subjects/payments-value/semver",
            pay,
            Some(&preview)
        ),
        200
    );
}
