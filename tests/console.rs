//! The web console at `/ui/`, against the real binary: sign-in and sessions, CSRF and origin
//! checks, the same permissions as the API (a readonly user sees no admin action and gets 403
//! when it forges one), the field search across formats, try a change against the REST
//! verdict, `--no-ui`; then the pages in headless Chromium (`tests/console/console.mjs`, driven
//! by playwright-core), which saves screenshots.
//!
//! The browser test needs Node, `tests/console/node_modules` and Chromium (`/usr/bin/chromium`,
//! or `COVENANT_CHROMIUM`); without them it is skipped, unless `COVENANT_REQUIRE_CONSOLE=1`
//! (set by scripts/test and CI), when it fails.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::auth::{hash_password, new_key, start_with_auth, user_entry, write_file};
use common::{Options, Server};
use serde_json::{json, Value};

/// A browser-like client: keeps the console's cookies, follows no redirect.
struct Browser {
    url: String,
    client: reqwest::blocking::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    body: String,
    location: Option<String>,
    set_cookies: Vec<String>,
    csp: Option<String>,
}

impl Browser {
    fn new(url: &str) -> Browser {
        Browser {
            url: url.to_string(),
            client: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn send(&mut self, request: reqwest::blocking::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("Cookie", cookie.join("; "))
        };
        let response = request.send().expect("request sent");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("location");
        let csp = header("content-security-policy");
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        Page {
            status: response.status().as_u16(),
            body: response.text().expect("body"),
            location,
            set_cookies,
            csp,
        }
    }

    fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.url));
        self.send(request)
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        self.send(request)
    }

    /// The CSRF token of the last page's forms.
    fn csrf(page: &Page) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = page.body.find(marker).expect("a form with a CSRF token") + marker.len();
        page.body[start..]
            .split('"')
            .next()
            .expect("token")
            .to_string()
    }

    fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/ui/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = Browser::csrf(&form);
        self.post(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("username", user),
                ("password", password),
                ("next", "/ui/"),
            ],
            None,
        )
    }
}

const ORDERS_V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"customer_id","type":"string","confluent:tags":["PII"]},{"name":"amount","type":"int"}]}"#;
const ORDERS_V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"customer_id","type":"string","confluent:tags":["PII"]},{"name":"amount","type":"int"},{"name":"note","type":"string","default":""}]}"#;
const ORDERS_V3: &str = r#"{"type":"record","name":"Order","fields":[{"name":"customer_id","type":"long"},{"name":"note","type":"string","default":""}]}"#;
const USERS_PROTO: &str = "syntax = \"proto3\";\npackage shop;\n\nmessage User {\n  string name = 1;\n  string customer_id = 2;\n}\n";
const PAYMENTS_JSON: &str = r#"{"type":"object","properties":{"payment":{"type":"object","properties":{"customer_id":{"type":"string"}}}}}"#;

/// The auth file's text: root (admin), dev (developer), viewer (readonly), all with the
/// password s3cret, and `extra` entries.
fn auth_text(without: &[&str], extra: &str) -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| hash_password("s3cret"));
    let mut auth = String::new();
    for (name, roles) in [
        ("root", vec!["admin"]),
        ("dev", vec!["developer"]),
        ("viewer", vec!["readonly"]),
    ] {
        if !without.contains(&name) {
            auth.push_str(&user_entry(name, hash, &roles));
        }
    }
    auth.push_str(extra);
    auth
}

fn register(url: &str, user: &str, subject: &str, body: Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/subjects/{subject}/versions"))
        .basic_auth(user, Some("s3cret"))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .expect("sent");
    let status = response.status().as_u16();
    assert_eq!(status, 200, "{}", response.text().unwrap_or_default());
}

fn rest(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::blocking::Client::new()
        .request(method, format!("{url}{path}"))
        .basic_auth("root", Some("s3cret"));
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
    }
    let response = request.send().expect("sent");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The data every test here reads: three formats, two principals, an incompatible pair.
fn seed(url: &str) {
    register(url, "root", "orders-value", json!({ "schema": ORDERS_V1 }));
    register(url, "dev", "orders-value", json!({ "schema": ORDERS_V2 }));
    let (status, _) = rest(
        url,
        "PUT",
        "/config/orders-value",
        Some(json!({"compatibility": "NONE"})),
    );
    assert_eq!(status, 200);
    register(url, "dev", "orders-value", json!({ "schema": ORDERS_V3 }));
    let (status, _) = rest(
        url,
        "PUT",
        "/config/orders-value",
        Some(json!({"compatibility": "BACKWARD"})),
    );
    assert_eq!(status, 200);
    register(
        url,
        "root",
        "users-proto",
        json!({ "schemaType": "PROTOBUF", "schema": USERS_PROTO }),
    );
    register(
        url,
        "dev",
        "payments-json",
        json!({ "schemaType": "JSON", "schema": PAYMENTS_JSON }),
    );
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    start_with_entries(dir, extra, "")
}

fn start_with_entries(dir: &Path, extra: &[&str], entries: &str) -> Server {
    start_with_auth(dir, &auth_text(&[], entries), extra)
}

#[test]
fn sign_in_sessions_csrf_and_permissions() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, key_entry) = new_key("ci", "readonly");
    let server = start_with_entries(dir.path(), &[], &key_entry);
    seed(&server.url);
    let mut anonymous = Browser::new(&server.url);

    // Not signed in: every page sends the browser to the sign-in page, coming back after.
    let page = anonymous.get("/ui/subject?s=orders-value");
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("/ui/login?next=%2Fui%2Fsubject%3Fs%3Dorders-value")
    );
    // The assets and the sign-in page need no credentials; pages carry a strict CSP.
    assert_eq!(anonymous.get("/ui/assets/console.css").status, 200);
    assert_eq!(anonymous.get("/ui/assets/console.js").status, 200);
    assert_eq!(anonymous.get("/ui/assets/nothing.js").status, 404);
    let login = anonymous.get("/ui/login");
    assert_eq!(login.status, 200);
    let csp = login.csp.clone().expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!login.body.contains("<script>"), "no inline script");
    assert!(!login.body.contains(" style="), "no inline style");
    let nonce_cookie = login
        .set_cookies
        .iter()
        .find(|c| c.starts_with("covenant_csrf="))
        .expect("a CSRF nonce cookie");
    assert!(
        nonce_cookie.contains("HttpOnly") && nonce_cookie.contains("SameSite=Strict"),
        "{nonce_cookie}"
    );

    // Wrong credentials: 401, and the password is not echoed.
    let csrf = Browser::csrf(&login);
    let refused = anonymous.post(
        "/ui/login",
        &[
            ("csrf", &csrf),
            ("username", "viewer"),
            ("password", "not-the-password"),
        ],
        None,
    );
    assert_eq!(refused.status, 401);
    assert!(!refused.body.contains("not-the-password"));
    // No CSRF token: refused before the credentials are looked at.
    let forged = anonymous.post(
        "/ui/login",
        &[("username", "viewer"), ("password", "s3cret")],
        None,
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(!anonymous.cookies.contains_key("covenant_session"));

    // A readonly user: reads everything, is offered no admin action, and a forged one is 403.
    let mut viewer = Browser::new(&server.url);
    let signed = viewer.sign_in("viewer", "s3cret");
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/ui/"));
    let session = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("covenant_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attribute), "{session}");
    }
    let subject = viewer.get("/ui/subject?s=orders-value");
    assert_eq!(subject.status, 200);
    assert!(subject
        .body
        .contains("Signed in as <strong>viewer</strong>"));
    assert!(
        subject.body.contains("by root") && subject.body.contains("by dev"),
        "{}",
        subject.body
    );
    assert!(!subject.body.contains("Administration"));
    assert!(!subject.body.contains("/ui/confirm"));
    assert!(
        !subject.body.contains(">Audit<"),
        "no audit link for a readonly user"
    );
    let csrf = Browser::csrf(&subject);
    let forged = viewer.post(
        "/ui/admin",
        &[
            ("csrf", &csrf),
            ("s", "orders-value"),
            ("action", "delete-subject"),
        ],
        None,
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(
        rest(&server.url, "GET", "/subjects/orders-value/versions", None).1,
        json!([1, 2, 3])
    );
    assert_eq!(
        viewer
            .get("/ui/confirm?s=orders-value&action=level&value=NONE")
            .status,
        403
    );
    assert_eq!(viewer.get("/ui/audit").status, 403);
    // Try a change offers no Register button to a user who may not write.
    let try_page = viewer.get("/ui/try?s=orders-value");
    assert_eq!(try_page.status, 200);
    assert!(!try_page.body.contains(r#"value="register""#));

    // The admin: sees the actions; each needs the CSRF token and the same origin.
    let mut root = Browser::new(&server.url);
    assert_eq!(root.sign_in("root", "s3cret").status, 303);
    let subject = root.get("/ui/subject?s=orders-value");
    assert!(subject.body.contains("Administration"));
    let confirm = root.get("/ui/confirm?s=orders-value&action=level&value=FULL");
    assert_eq!(confirm.status, 200);
    assert!(confirm
        .body
        .contains("Set the compatibility level of orders-value to FULL?"));
    let csrf = Browser::csrf(&confirm);
    let fields = [
        ("csrf", csrf.as_str()),
        ("s", "orders-value"),
        ("action", "level"),
        ("value", "FULL"),
    ];
    let stale = root.post(
        "/ui/admin",
        &[
            ("csrf", "stale"),
            ("s", "orders-value"),
            ("action", "level"),
            ("value", "FULL"),
        ],
        None,
    );
    assert_eq!(stale.status, 403);
    let elsewhere = root.post("/ui/admin", &fields, Some("https://evil.example"));
    assert_eq!(elsewhere.status, 403);
    // A token from another browser (another nonce) does not pass either.
    let viewer_token = Browser::csrf(&viewer.get("/ui/"));
    let crossed = root.post(
        "/ui/admin",
        &[
            ("csrf", &viewer_token),
            ("s", "orders-value"),
            ("action", "level"),
            ("value", "FULL"),
        ],
        None,
    );
    assert_eq!(crossed.status, 403);
    assert_eq!(
        rest(&server.url, "GET", "/config/orders-value", None).1["compatibilityLevel"],
        "BACKWARD"
    );
    let same_origin = server.url.clone();
    let done = root.post("/ui/admin", &fields, Some(&same_origin));
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        rest(&server.url, "GET", "/config/orders-value", None).1["compatibilityLevel"],
        "FULL"
    );
    // The audit page shows both principals' writes, and the console's own change by root.
    let audit = root.get("/ui/audit?subject=orders-value");
    assert_eq!(audit.status, 200);
    assert!(
        audit.body.contains("<td>root</td>") && audit.body.contains("<td>dev</td>"),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("&quot;FULL&quot;"), "{}", audit.body);
    let by_dev = root.get("/ui/audit?principal=dev");
    assert!(!by_dev.body.contains("<td>root</td>"));

    // An Authorization header works without a session (API-style access to the pages).
    let page = reqwest::blocking::Client::new()
        .get(format!("{}/ui/", server.url))
        .basic_auth("viewer", Some("s3cret"))
        .send()
        .expect("sent");
    assert_eq!(page.status().as_u16(), 200);

    // An API key signs in through the token form.
    let mut ci = Browser::new(&server.url);
    let form = ci.get("/ui/login");
    let csrf = Browser::csrf(&form);
    let signed = ci.post("/ui/login", &[("csrf", &csrf), ("token", &key)], None);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(ci
        .get("/ui/")
        .body
        .contains("Signed in as <strong>ci</strong>"));
    let csrf = Browser::csrf(&ci.get("/ui/login"));
    let wrong = ci.post(
        "/ui/login",
        &[("csrf", &csrf), ("token", "cvk_not-a-key")],
        None,
    );
    assert_eq!(wrong.status, 401);

    // A user removed from the auth file is signed out by the reload: the session's
    // credentials are checked again on every request.
    assert_eq!(viewer.get("/ui/").status, 200);
    write_file(
        &dir.path().join("auth.toml"),
        &auth_text(&["viewer"], &key_entry),
    );
    let mut signed_out = false;
    for _ in 0..100 {
        if viewer.get("/ui/").status == 303 {
            signed_out = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(signed_out, "the removed user's session still opens pages");

    // Signing out ends the session: the cookie no longer opens a page.
    let session_cookie = root
        .cookies
        .get("covenant_session")
        .cloned()
        .expect("session");
    let csrf = Browser::csrf(&root.get("/ui/"));
    let out = root.post("/ui/logout", &[("csrf", &csrf)], None);
    assert_eq!(out.status, 303);
    root.cookies
        .insert("covenant_session".into(), session_cookie);
    assert_eq!(root.get("/ui/").status, 303);
}

#[test]
fn field_search_try_a_change_and_no_ui() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path(), &[]);
    seed(&server.url);
    let mut root = Browser::new(&server.url);
    assert_eq!(root.sign_in("root", "s3cret").status, 303);

    // The field search finds the field in all three formats, each hit linking to its line.
    let hits = root.get("/ui/?field=CUSTOMER_ID");
    assert_eq!(hits.status, 200);
    assert!(
        hits.body.contains("Fields matching “CUSTOMER_ID”: 3"),
        "{}",
        hits.body
    );
    for (subject, link) in [
        ("orders-value", "/ui/schema?s=orders-value&amp;v=3&amp;field=%2Ffields%2F0#field"),
        ("users-proto", "/ui/schema?s=users-proto&amp;v=1&amp;field=%23%2FUser%2F2#field"),
        ("payments-json", "/ui/schema?s=payments-json&amp;v=1&amp;field=%2Fproperties%2Fpayment%2Fproperties%2Fcustomer_id#field"),
    ] {
        assert!(hits.body.contains(link), "{subject}: {}", hits.body);
    }
    let schema = root.get("/ui/schema?s=users-proto&v=1&field=%23%2FUser%2F2");
    assert!(
        schema.body.contains(
            r#"<span id="field"></span><code>  <span class="t">string</span> customer_id"#
        ),
        "{}",
        schema.body
    );
    // Subject filters.
    let protobuf = root.get("/ui/?type=PROTOBUF");
    assert!(protobuf.body.contains("users-proto") && !protobuf.body.contains(">orders-value<"));
    let named = root.get("/ui/?q=PAY");
    assert!(named.body.contains("Subjects: 1"), "{}", named.body);

    // Try a change: the same verdict as the REST API, for an incompatible and a compatible one.
    let incompatible = r#"{"type":"record","name":"Order","fields":[{"name":"customer_id","type":"long"},{"name":"note","type":"int"}]}"#;
    let compatible = r#"{"type":"record","name":"Order","fields":[{"name":"customer_id","type":"long"},{"name":"note","type":"string","default":""},{"name":"extra","type":"int","default":0}]}"#;
    for (candidate, expected) in [(incompatible, false), (compatible, true)] {
        let (status, verdict) = rest(
            &server.url,
            "POST",
            "/compatibility/subjects/orders-value/versions?verbose=true",
            Some(json!({ "schema": candidate })),
        );
        assert_eq!(status, 200);
        assert_eq!(verdict["is_compatible"], expected, "{verdict}");
        let form = root.get("/ui/try?s=orders-value");
        let csrf = Browser::csrf(&form);
        let page = root.post(
            "/ui/try",
            &[
                ("csrf", &csrf),
                ("s", "orders-value"),
                ("schemaType", "AVRO"),
                ("schema", candidate),
                ("action", "check"),
            ],
            None,
        );
        assert_eq!(page.status, 200, "{}", page.body);
        let shown = if expected {
            "✓ compatible"
        } else {
            "✗ incompatible"
        };
        assert!(page.body.contains(shown), "{}", page.body);
        for finding in verdict["findings"].as_array().into_iter().flatten() {
            let kind = finding["kind"].as_str().expect("kind");
            assert!(page.body.contains(kind), "{kind} in {}", page.body);
        }
        if expected {
            assert!(
                page.body
                    .contains("semantic version <strong>2.1.0</strong>"),
                "{}",
                page.body
            );
        }
    }
    // Registering from there (the admin may write) makes the version.
    let form = root.get("/ui/try?s=orders-value");
    let csrf = Browser::csrf(&form);
    let page = root.post(
        "/ui/try",
        &[
            ("csrf", &csrf),
            ("s", "orders-value"),
            ("schemaType", "AVRO"),
            ("schema", compatible),
            ("action", "register"),
        ],
        None,
    );
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        rest(&server.url, "GET", "/subjects/orders-value/versions", None).1,
        json!([1, 2, 3, 4])
    );

    // Bad input is a page with the right status, never a 500.
    for (path, status) in [
        ("/ui/subject", 400),
        ("/ui/subject?s=missing", 404),
        ("/ui/schema?s=orders-value&v=99", 404),
        ("/ui/schema?s=orders-value&v=abc", 422),
        ("/ui/diff?s=orders-value&from=1&to=99", 404),
        ("/ui/?context=bad%01", 422),
        ("/ui/?type=XML", 422),
        ("/ui/audit?since=yesterday-ish", 400),
        ("/ui/confirm?s=orders-value&action=explode", 400),
        ("/ui/nowhere", 404),
    ] {
        let page = root.get(path);
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.body.contains("<!DOCTYPE html>"), "{path}");
    }

    // --no-ui: no console at all.
    let plain = Server::start_with(Options {
        args: vec!["--no-ui".into()],
        ..Options::default()
    });
    let (status, body) = plain.get("/ui/");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error_code"], 404);
}

/// The subject page names only referrers the caller may read, each found in its own context
/// (schema ids are per context); the field search shows only what the caller may read; odd
/// sign-in targets and page numbers are answered, not failed.
#[test]
fn referrers_and_field_search_respect_permissions() {
    let dir = tempfile::tempdir().expect("dir");
    let grants = format!(
        "{}\n[[grants]]\nprincipal = \"limited\"\noperations = [\"read\"]\nsubjects = [\"shared-*\", \"public-*\"]\n",
        user_entry("limited", &hash_password("s3cret"), &[])
    );
    let server = start_with_entries(dir.path(), &[], &grants);
    let url = &server.url;
    let shared = r#"{"type":"record","name":"Shared","namespace":"x","fields":[{"name":"secret_field_of_shared","type":"long"}]}"#;
    let uses = |name: &str, field: &str| {
        format!(
            r#"{{"type":"record","name":"{name}","fields":[{{"name":"{field}","type":"x.Shared"}}]}}"#
        )
    };
    let reference =
        |subject: &str| json!([{ "name": "x.Shared", "subject": subject, "version": 1 }]);
    register(url, "root", "shared-types", json!({ "schema": shared }));
    register(
        url,
        "root",
        "public-orders",
        json!({ "schema": uses("Public", "visible_ref"), "references": reference("shared-types") }),
    );
    register(
        url,
        "root",
        "secret-orders",
        json!({ "schema": uses("Secret", "hidden_ref"), "references": reference("shared-types") }),
    );
    // Another context: its ids start again at 1, and its referrer names the default context's
    // subject in full.
    register(
        url,
        "root",
        ":.other:decoy",
        json!({ "schema": r#"{"type":"record","name":"Decoy","fields":[{"name":"d","type":"int"}]}"# }),
    );
    register(
        url,
        "root",
        ":.other:uses-shared",
        json!({ "schema": uses("Elsewhere", "far_ref"), "references": reference(":.:shared-types") }),
    );

    let mut root = Browser::new(url);
    assert_eq!(root.sign_in("root", "s3cret").status, 303);
    let page = root.get("/ui/subject?s=shared-types");
    for referrer in ["public-orders", "secret-orders", ":.other:uses-shared"] {
        assert!(
            page.body.contains(&format!(">{referrer} version 1<")),
            "{referrer}: {}",
            page.body
        );
    }
    assert!(!page.body.contains("decoy"), "{}", page.body);

    let mut limited = Browser::new(url);
    assert_eq!(limited.sign_in("limited", "s3cret").status, 303);
    let page = limited.get("/ui/subject?s=shared-types");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(">public-orders version 1<"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("secret-orders"), "{}", page.body);
    assert!(!page.body.contains("uses-shared"), "{}", page.body);
    assert_eq!(limited.get("/ui/subject?s=secret-orders").status, 403);
    // The field search: hidden_ref is only in a subject limited may not read.
    let hits = limited.get("/ui/?field=_ref");
    assert!(
        hits.body.contains("visible_ref") && !hits.body.contains("hidden_ref"),
        "{}",
        hits.body
    );
    let hits = root.get("/ui/?field=_ref");
    assert!(
        hits.body.contains("visible_ref")
            && hits.body.contains("hidden_ref")
            && hits.body.contains("far_ref"),
        "{}",
        hits.body
    );
    // The subject list shows only readable subjects.
    let list = limited.get("/ui/");
    assert!(list.body.contains("public-orders") && !list.body.contains("secret-orders"));

    // A sign-in target with control characters or another host returns to the subject list.
    for next in [
        "/ui/\r\nSet-Cookie:x",
        "/ui/ spaced",
        "//evil.example/ui/",
        "https://evil.example/ui/",
        "/ui/\u{7f}",
    ] {
        let mut browser = Browser::new(url);
        let form = browser.get("/ui/login");
        let csrf = Browser::csrf(&form);
        let signed = browser.post(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("username", "root"),
                ("password", "s3cret"),
                ("next", next),
            ],
            None,
        );
        assert_eq!(signed.status, 303, "{next}: {}", signed.body);
        assert_eq!(signed.location.as_deref(), Some("/ui/"), "{next}");
    }
    // Page numbers past the end, however large.
    for page in ["18446744073709551615", "99999999999999999999999", "0", "-1"] {
        assert_eq!(root.get(&format!("/ui/?page={page}")).status, 200, "{page}");
    }
}

/// The pages in a real browser (see the module's documentation).
#[test]
fn console_in_headless_chromium() {
    let required = std::env::var("COVENANT_REQUIRE_CONSOLE").as_deref() == Ok("1");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tests/console/console.mjs");
    let modules = root.join("tests/console/node_modules/playwright-core");
    let chromium =
        std::env::var("COVENANT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = std::env::var("COVENANT_INTEROP_NODE").unwrap_or_else(|_| "node".into());
    let ready = modules.exists()
        && Path::new(&chromium).exists()
        && Command::new(&node)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            !required,
            "COVENANT_REQUIRE_CONSOLE=1 but Node, tests/console/node_modules or {chromium} is missing"
        );
        eprintln!(
            "skipped: Node, playwright-core or Chromium is missing (scripts/test installs them)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path(), &[]);
    seed(&server.url);
    let screenshots = std::env::var("COVENANT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/console-screenshots"));
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let output = Command::new(&node)
        .arg(&script)
        .env("COVENANT_URL", &server.url)
        .env("COVENANT_CHROMIUM", &chromium)
        .env("COVENANT_SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "console.mjs failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    assert!(stdout.contains("all console checks passed"), "{stdout}");
    for name in [
        "subjects.png",
        "subject.png",
        "schema.png",
        "diff.png",
        "try.png",
        "audit.png",
    ] {
        let shot = screenshots.join(name);
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is {size} bytes", shot.display());
    }
}
