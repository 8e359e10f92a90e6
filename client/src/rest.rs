//! The typed REST client for every endpoint the registry offers, with basic or bearer auth,
//! timeouts, retries with backoff for idempotent calls, and caches so that a steady-state
//! producer or consumer makes no HTTP call per event.

use std::sync::Arc;
use std::time::Duration;

use covenant_core::api::{
    CompatibilityCheckResponse, Config, ConfigUpdateRequest, ModeBody, RegisterSchemaRequest,
    RegisterSchemaResponse, Schema, SchemaString, SubjectVersion,
};
use covenant_core::ids::VersionSpec;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::BoundedCache;
use crate::error::{Error, Result};

/// Characters escaped in a path segment: everything but unreserved characters and `:`
/// (contexts are written `:.ctx:subject`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Credentials sent with every request.
#[derive(Clone, Default)]
pub enum Auth {
    /// None.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User name (or API key).
        username: String,
        /// Password (or API secret).
        password: String,
    },
    /// A bearer token: an API key, or a JWT from an identity provider.
    Bearer(String),
    /// A bearer token asked for before every request, from a function that keeps it fresh
    /// (for example one that refreshes an OAuth token before it expires). An error ends the
    /// request with [`Error::Config`] carrying the function's message.
    BearerFrom(TokenSource),
}

/// A function giving the bearer token for the next request.
pub type TokenSource = Arc<dyn Fn() -> std::result::Result<String, String> + Send + Sync>;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never appear in logs or errors.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::BearerFrom(_) => f.write_str("BearerFrom(***)"),
        }
    }
}

/// How idempotent calls are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first pause; each retry doubles it.
    pub initial_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    url: String,
    auth: Auth,
    /// Extra CA certificates to trust, PEM.
    ca: Vec<Vec<u8>>,
    /// A client certificate chain and its key, PEM, for mTLS.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    timeout: Duration,
    retry: RetryPolicy,
    cache_capacity: usize,
    latest_ttl: Duration,
    client_id: Option<String>,
    traceparent: Option<TraceSource>,
}

/// Gives the W3C `traceparent` of the caller's current span, if there is one.
pub type TraceSource = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("ca", &self.ca.len())
            .field("client_certificate", &self.identity.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Trusts the CA certificate(s) in `pem` besides the system's roots (a registry whose
    /// certificate a private CA signed).
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca.push(pem.into());
        self
    }

    /// Presents a client certificate (mTLS): the chain and its private key, PEM.
    pub fn client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// Credentials.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retry policy for idempotent calls.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Entries per cache (default 1000).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a subject's latest version is cached (default 60 s).
    pub fn latest_ttl(mut self, ttl: Duration) -> Self {
        self.latest_ttl = ttl;
        self
    }

    /// Names this client to the registry (`X-Client-Id`), which keeps which client reads which
    /// schema (`covenant_schema_last_read_timestamp_seconds`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Propagates the caller's trace: `source` is asked on every request for the W3C
    /// `traceparent` of the current span (from the application's tracing, e.g. OpenTelemetry's
    /// propagator), and the registry's spans become its children.
    pub fn traceparent(
        mut self,
        source: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.traceparent = Some(Arc::new(source));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let base = self.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "registry URL `{}` must start with http:// or https://",
                self.url
            )));
        }
        let mut http = reqwest::Client::builder().timeout(self.timeout);
        for pem in &self.ca {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("the CA certificate is not PEM: {e}")))?;
            if certificates.is_empty() {
                return Err(Error::Config("the CA file holds no certificate".into()));
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        if let Some((certificate, key)) = &self.identity {
            let mut pem = certificate.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Config(format!(
                    "the client certificate and key are not a PEM chain and key: {e}"
                ))
            })?;
            http = http.identity(identity);
        }
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                retry: self.retry,
                client_id: self.client_id,
                traceparent: self.traceparent,
                by_id: BoundedCache::new(self.cache_capacity, None),
                by_guid: BoundedCache::new(self.cache_capacity, None),
                registered: BoundedCache::new(self.cache_capacity, None),
                latest: BoundedCache::new(self.cache_capacity, Some(self.latest_ttl)),
                versions: BoundedCache::new(self.cache_capacity, None),
            }),
        })
    }
}

/// A registry client. Cheap to clone; clones share connections and caches.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    retry: RetryPolicy,
    client_id: Option<String>,
    traceparent: Option<TraceSource>,
    /// (context subject hint, id) → schema.
    by_id: BoundedCache<(String, i32), Arc<SchemaString>>,
    /// guid → schema (a GUID, like an id, always names the same schema).
    by_guid: BoundedCache<String, Arc<SchemaString>>,
    /// (subject, request JSON) → registration or lookup answer.
    registered: BoundedCache<(String, String), RegisterSchemaResponse>,
    /// subject → latest version, with a time to live.
    latest: BoundedCache<String, Arc<Schema>>,
    /// (subject, version) → that version, which never changes.
    versions: BoundedCache<(String, i32), Arc<Schema>>,
}

/// Whether a call may be repeated safely.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    Yes,
    No,
}

impl Client {
    /// A builder for a registry at `url`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            auth: Auth::None,
            ca: Vec::new(),
            identity: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            cache_capacity: 1000,
            latest_ttl: Duration::from_secs(60),
            client_id: None,
            traceparent: None,
        }
    }

    /// A client with default settings.
    pub fn new(url: impl Into<String>) -> Result<Client> {
        Client::builder(url).build()
    }

    /// The registry's base URL.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<T> {
        let url = format!("{}{path}", self.inner.base);
        let body = match body {
            Some(body) => Some(
                serde_json::to_vec(body)
                    .map_err(|e| Error::Codec(format!("cannot encode the request: {e}")))?,
            ),
            None => None,
        };
        let attempts = if retry == Retry::Yes {
            self.inner.retry.max_retries + 1
        } else {
            1
        };
        let mut backoff = self.inner.retry.initial_backoff;
        let mut attempt = 1;
        // One id for the call, its retries included, so the registry's log shows them together.
        let request_id = request_id();
        loop {
            match self.send(&method, &url, body.as_deref(), &request_id).await {
                Err(error) if error.is_transient() && attempt < attempts => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.inner.retry.max_backoff);
                    attempt += 1;
                }
                result => {
                    let text = result?;
                    return serde_json::from_str(&text).map_err(|e| Error::Protocol {
                        url,
                        reason: format!("{e}: {}", shorten(&text)),
                    });
                }
            }
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        request_id: &str,
    ) -> Result<String> {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header("Accept", MEDIA_TYPE)
            .header("X-Request-Id", request_id);
        if let Some(id) = &self.inner.client_id {
            request = request.header("X-Client-Id", id);
        }
        if let Some(traceparent) = self.inner.traceparent.as_ref().and_then(|source| source()) {
            request = request.header("traceparent", traceparent);
        }
        request = match &self.inner.auth {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::BearerFrom(source) => request.bearer_auth(
                source().map_err(|e| Error::Config(format!("cannot get a bearer token: {e}")))?,
            ),
        };
        if let Some(body) = body {
            request = request
                .header("Content-Type", MEDIA_TYPE)
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| Error::Transport {
            url: url.to_string(),
            reason: describe_transport(&e),
        })?;
        let status = response.status().as_u16();
        let answered_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.map_err(|e| Error::Transport {
            url: url.to_string(),
            reason: describe_transport(&e),
        })?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error_code: u32,
            message: String,
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(Error::Registry {
                status,
                error_code: body.error_code,
                message: body.message,
                request_id: answered_id,
            }),
            Err(_) => Err(Error::Registry {
                status,
                error_code: u32::from(status),
                message: shorten(&text),
                request_id: answered_id,
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call::<(), T>(Method::GET, path, None, Retry::Yes)
            .await
    }

    // ----------------------------------------------------------------------------- schemas

    /// `POST /subjects/{s}/versions`: registers (or finds) a schema. Registration is idempotent
    /// (the same schema returns the same id and version), so it is retried and cached.
    pub async fn register(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<RegisterSchemaResponse> {
        let key = (
            format!("register:{subject}:{normalize}"),
            request_key(request)?,
        );
        if let Some(found) = self.inner.registered.get(&key) {
            return Ok(found);
        }
        let path = format!(
            "/subjects/{}/versions{}",
            segment(subject),
            if normalize { "?normalize=true" } else { "" }
        );
        let response: RegisterSchemaResponse = self
            .call(Method::POST, &path, Some(request), Retry::Yes)
            .await?;
        self.inner.registered.insert(key, response.clone());
        Ok(response)
    }

    /// `POST /subjects/{s}`: the version of `subject` holding this schema.
    pub async fn lookup(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<Schema> {
        let path = format!(
            "/subjects/{}?normalize={normalize}&deleted={deleted}",
            segment(subject)
        );
        self.call(Method::POST, &path, Some(request), Retry::Yes)
            .await
    }

    /// `POST /subjects/{s}` with caching of the (id, version) found, for serializers.
    pub async fn lookup_id(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<RegisterSchemaResponse> {
        let key = (
            format!("lookup:{subject}:{normalize}"),
            request_key(request)?,
        );
        if let Some(found) = self.inner.registered.get(&key) {
            return Ok(found);
        }
        let schema = self.lookup(subject, request, normalize, false).await?;
        let response = RegisterSchemaResponse {
            id: schema.id,
            version: Some(schema.version),
            guid: schema.guid,
            schema_type: schema.schema_type,
            references: schema.references,
            metadata: schema.metadata,
            rule_set: schema.rule_set,
            schema: Some(schema.schema),
            ts: schema.ts,
        };
        self.inner.registered.insert(key, response.clone());
        Ok(response)
    }

    /// `GET /schemas/ids/{id}` (cached). `subject` scopes the lookup to that subject's context.
    pub async fn schema_by_id(&self, id: i32, subject: Option<&str>) -> Result<Arc<SchemaString>> {
        let scope = subject.map(context_hint).unwrap_or_default();
        let key = (scope, id);
        if let Some(found) = self.inner.by_id.get(&key) {
            return Ok(found);
        }
        let path = match subject {
            Some(subject) => format!("/schemas/ids/{id}?subject={}", segment(subject)),
            None => format!("/schemas/ids/{id}"),
        };
        let schema: Arc<SchemaString> = Arc::new(self.get(&path).await?);
        self.inner.by_id.insert(key, schema.clone());
        Ok(schema)
    }

    /// `GET /schemas/ids/{id}?format=...` (not cached).
    pub async fn schema_by_id_formatted(&self, id: i32, format: &str) -> Result<SchemaString> {
        self.get(&format!("/schemas/ids/{id}?format={}", segment(format)))
            .await
    }

    /// `GET /schemas/guids/{guid}` (cached).
    pub async fn schema_by_guid(&self, guid: &str) -> Result<Arc<SchemaString>> {
        if let Some(found) = self.inner.by_guid.get(guid) {
            return Ok(found);
        }
        let schema: Arc<SchemaString> = Arc::new(
            self.get(&format!("/schemas/guids/{}", segment(guid)))
                .await?,
        );
        self.inner.by_guid.insert(guid.to_string(), schema.clone());
        Ok(schema)
    }

    /// `GET /schemas/ids/{id}/versions`.
    pub async fn id_versions(&self, id: i32) -> Result<Vec<SubjectVersion>> {
        self.get(&format!("/schemas/ids/{id}/versions")).await
    }

    /// `GET /schemas/ids/{id}/subjects`.
    pub async fn id_subjects(&self, id: i32, deleted: bool) -> Result<Vec<String>> {
        self.get(&format!("/schemas/ids/{id}/subjects?deleted={deleted}"))
            .await
    }

    /// `GET /subjects/{s}/metadata`: the latest version whose metadata holds every pair.
    pub async fn latest_with_metadata(
        &self,
        subject: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Schema> {
        let mut path = format!("/subjects/{}/metadata?", segment(subject));
        for (key, value) in pairs {
            path.push_str(&format!("key={}&value={}&", segment(key), segment(value)));
        }
        self.get(path.trim_end_matches(['&', '?'])).await
    }

    /// `DELETE /contexts/{ctx}` (an empty context).
    pub async fn delete_context(&self, context: &str) -> Result<()> {
        let url = format!("{}/contexts/{}", self.inner.base, segment(context));
        self.send(&Method::DELETE, &url, None, &request_id())
            .await
            .map(|_| ())
    }

    /// `GET /schemas/types`.
    pub async fn schema_types(&self) -> Result<Vec<String>> {
        self.get("/schemas/types").await
    }

    /// `GET /schemas` with filters.
    pub async fn schemas(
        &self,
        subject_prefix: Option<&str>,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<Schema>> {
        let mut path = format!("/schemas?deleted={deleted}&latestOnly={latest_only}");
        if let Some(prefix) = subject_prefix {
            path.push_str(&format!("&subjectPrefix={}", segment(prefix)));
        }
        self.get(&path).await
    }

    // ----------------------------------------------------------------------------- subjects

    /// `GET /subjects`.
    pub async fn subjects(
        &self,
        subject_prefix: Option<&str>,
        deleted: bool,
    ) -> Result<Vec<String>> {
        let mut path = format!("/subjects?deleted={deleted}");
        if let Some(prefix) = subject_prefix {
            path.push_str(&format!("&subjectPrefix={}", segment(prefix)));
        }
        self.get(&path).await
    }

    // ----------------------------------------------------------------------------- DEK registry

    /// `GET /dek-registry/v1/keks`: the KEK names.
    pub async fn kek_names(&self, deleted: bool) -> Result<Vec<String>> {
        self.get(&format!("/dek-registry/v1/keks?deleted={deleted}"))
            .await
    }

    /// `GET /dek-registry/v1/keks/{name}`.
    pub async fn kek(&self, name: &str, deleted: bool) -> Result<covenant_core::api::Kek> {
        self.get(&format!(
            "/dek-registry/v1/keks/{}?deleted={deleted}",
            segment(name)
        ))
        .await
    }

    /// `POST /dek-registry/v1/keks`.
    pub async fn create_kek(
        &self,
        request: &covenant_core::api::CreateKekRequest,
    ) -> Result<covenant_core::api::Kek> {
        self.call(
            Method::POST,
            "/dek-registry/v1/keks",
            Some(request),
            Retry::No,
        )
        .await
    }

    /// `DELETE /dek-registry/v1/keks/{name}`.
    pub async fn delete_kek(&self, name: &str, permanent: bool) -> Result<()> {
        let url = format!(
            "{}/dek-registry/v1/keks/{}?permanent={permanent}",
            self.inner.base,
            segment(name)
        );
        self.send(&Method::DELETE, &url, None, &request_id())
            .await
            .map(|_| ())
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks`: the subjects with DEKs under a KEK.
    pub async fn dek_subjects(&self, kek: &str, deleted: bool) -> Result<Vec<String>> {
        self.get(&format!(
            "/dek-registry/v1/keks/{}/deks?deleted={deleted}",
            segment(kek)
        ))
        .await
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks/{subject}/versions`.
    pub async fn dek_versions(
        &self,
        kek: &str,
        subject: &str,
        algorithm: &str,
        deleted: bool,
    ) -> Result<Vec<i32>> {
        self.get(&format!(
            "/dek-registry/v1/keks/{}/deks/{}/versions?algorithm={algorithm}&deleted={deleted}",
            segment(kek),
            segment(subject)
        ))
        .await
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}`.
    pub async fn dek(
        &self,
        kek: &str,
        subject: &str,
        version: i32,
        algorithm: &str,
        deleted: bool,
    ) -> Result<covenant_core::api::Dek> {
        self.get(&format!(
            "/dek-registry/v1/keks/{}/deks/{}/versions/{version}?algorithm={algorithm}&deleted={deleted}",
            segment(kek),
            segment(subject)
        ))
        .await
    }

    /// `POST /dek-registry/v1/keks/{kek}/deks/{subject}`.
    pub async fn create_dek(
        &self,
        kek: &str,
        subject: &str,
        request: &covenant_core::api::CreateDekRequest,
    ) -> Result<covenant_core::api::Dek> {
        self.call(
            Method::POST,
            &format!(
                "/dek-registry/v1/keks/{}/deks/{}",
                segment(kek),
                segment(subject)
            ),
            Some(request),
            Retry::No,
        )
        .await
    }

    // ----------------------------------------------------------------------------- associations

    /// `GET /associations/resources/{namespace}/{name}` (`-` for any).
    /// One page of at most `limit` (the server caps it at 1,000) from `offset`.
    pub async fn associations(
        &self,
        namespace: &str,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<covenant_core::api::Association>> {
        self.get(&format!(
            "/associations/resources/{}/{}?offset={offset}&limit={limit}",
            segment(namespace),
            segment(name)
        ))
        .await
    }

    /// `POST /associations`.
    pub async fn create_association(
        &self,
        request: &covenant_core::api::AssociationCreateOrUpdateRequest,
    ) -> Result<covenant_core::api::AssociationResponse> {
        self.call(Method::POST, "/associations", Some(request), Retry::No)
            .await
    }

    /// `GET /covenant/v1/subjects/{s}/versions`: each version with its semantic version
    /// (Covenant only; other registries answer 404).
    pub async fn semvers(
        &self,
        subject: &str,
        deleted: bool,
    ) -> Result<Vec<covenant_core::api::VersionSemver>> {
        self.get(&format!(
            "/covenant/v1/subjects/{}/versions?deleted={deleted}",
            segment(subject)
        ))
        .await
    }

    /// `GET /covenant/v1/subjects/{s}/semver?requirement=R`: the newest live version whose
    /// semantic version matches `requirement` (`^2`, `~2.3`, `>=1.4, <2`).
    pub async fn resolve_semver(
        &self,
        subject: &str,
        requirement: &str,
    ) -> Result<covenant_core::api::VersionSemver> {
        let requirement = utf8_percent_encode(requirement, NON_ALPHANUMERIC).to_string();
        self.get(&format!(
            "/covenant/v1/subjects/{}/semver?requirement={requirement}",
            segment(subject)
        ))
        .await
    }

    /// `POST /covenant/v1/subjects/{s}/semver`: the semantic version registering `request`
    /// would give, without registering it.
    pub async fn preview_semver(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
    ) -> Result<covenant_core::api::VersionSemver> {
        let path = format!("/covenant/v1/subjects/{}/semver", segment(subject));
        self.call(Method::POST, &path, Some(request), Retry::No)
            .await
    }

    /// `GET /covenant/v1/audit`: one page of the audit trail. `query` holds the filters as
    /// (name, value) pairs: `subject`, `principal`, `action`, `since`, `until`, `from`, `limit`.
    pub async fn audit(&self, query: &[(&str, String)]) -> Result<covenant_core::api::AuditPage> {
        let mut path = String::from("/covenant/v1/audit");
        for (i, (name, value)) in query.iter().enumerate() {
            path.push(if i == 0 { '?' } else { '&' });
            path.push_str(name);
            path.push('=');
            path.push_str(&segment(value));
        }
        self.get(&path).await
    }

    /// `GET /subjects/{s}/versions`.
    pub async fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>> {
        self.get(&format!(
            "/subjects/{}/versions?deleted={deleted}",
            segment(subject)
        ))
        .await
    }

    /// `GET /subjects/{s}/versions/{v}`. Numbered versions are cached; `latest` is not.
    pub async fn version(
        &self,
        subject: &str,
        version: VersionSpec,
        deleted: bool,
    ) -> Result<Arc<Schema>> {
        if let (VersionSpec::Number(n), false) = (version, deleted) {
            if let Some(found) = self.inner.versions.get(&(subject.to_string(), n.get())) {
                return Ok(found);
            }
        }
        let schema: Arc<Schema> = Arc::new(
            self.get(&format!(
                "/subjects/{}/versions/{version}?deleted={deleted}",
                segment(subject)
            ))
            .await?,
        );
        if !deleted && schema.deleted != Some(true) {
            self.inner
                .versions
                .insert((subject.to_string(), schema.version), schema.clone());
        }
        Ok(schema)
    }

    /// The latest version of a subject, cached for the configured time to live.
    pub async fn latest(&self, subject: &str) -> Result<Arc<Schema>> {
        if let Some(found) = self.inner.latest.get(&subject.to_string()) {
            return Ok(found);
        }
        let schema = self.version(subject, VersionSpec::Latest, false).await?;
        self.inner
            .latest
            .insert(subject.to_string(), schema.clone());
        Ok(schema)
    }

    /// `GET /subjects/{s}/versions/{v}/referencedby`.
    pub async fn referenced_by(&self, subject: &str, version: VersionSpec) -> Result<Vec<i32>> {
        self.get(&format!(
            "/subjects/{}/versions/{version}/referencedby",
            segment(subject)
        ))
        .await
    }

    /// `DELETE /subjects/{s}`: the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}?permanent={permanent}", segment(subject));
        let deleted = self
            .call::<(), Vec<i32>>(Method::DELETE, &path, None, Retry::No)
            .await?;
        self.forget_subjects();
        Ok(deleted)
    }

    /// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionSpec,
        permanent: bool,
    ) -> Result<i32> {
        let path = format!(
            "/subjects/{}/versions/{version}?permanent={permanent}",
            segment(subject)
        );
        let deleted = self
            .call::<(), i32>(Method::DELETE, &path, None, Retry::No)
            .await?;
        self.forget_subjects();
        Ok(deleted)
    }

    fn forget_subjects(&self) {
        // Deletes change what `latest` and lookups answer; start afresh.
        self.inner.latest.clear();
        self.inner.registered.clear();
        self.inner.versions.clear();
    }

    // ----------------------------------------------------------------------------- compatibility

    /// `POST /compatibility/subjects/{s}/versions[/{v}]?verbose=true`.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        version: Option<VersionSpec>,
        request: &RegisterSchemaRequest,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse> {
        let path = match version {
            Some(version) => format!(
                "/compatibility/subjects/{}/versions/{version}?verbose={verbose}",
                segment(subject)
            ),
            None => format!(
                "/compatibility/subjects/{}/versions?verbose={verbose}",
                segment(subject)
            ),
        };
        self.call(Method::POST, &path, Some(request), Retry::Yes)
            .await
    }

    // ----------------------------------------------------------------------------- config and mode

    /// `GET /config[/{s}]`.
    pub async fn config(&self, subject: Option<&str>, default_to_global: bool) -> Result<Config> {
        self.get(&format!(
            "{}?defaultToGlobal={default_to_global}",
            scope_path("/config", subject)
        ))
        .await
    }

    /// `PUT /config[/{s}]`.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        request: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest> {
        self.call(
            Method::PUT,
            &scope_path("/config", subject),
            Some(request),
            Retry::Yes,
        )
        .await
    }

    /// `DELETE /config[/{s}]`: the config removed.
    pub async fn delete_config(&self, subject: Option<&str>) -> Result<Config> {
        self.call::<(), Config>(
            Method::DELETE,
            &scope_path("/config", subject),
            None,
            Retry::No,
        )
        .await
    }

    /// `GET /mode[/{s}]`.
    pub async fn mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<String> {
        let body: ModeBody = self
            .get(&format!(
                "{}?defaultToGlobal={default_to_global}",
                scope_path("/mode", subject)
            ))
            .await?;
        Ok(body.mode)
    }

    /// `PUT /mode[/{s}]`.
    pub async fn set_mode(&self, subject: Option<&str>, mode: &str, force: bool) -> Result<String> {
        let path = format!("{}?force={force}", scope_path("/mode", subject));
        let body: ModeBody = self
            .call(
                Method::PUT,
                &path,
                Some(&ModeBody {
                    mode: mode.to_string(),
                }),
                Retry::Yes,
            )
            .await?;
        Ok(body.mode)
    }

    /// `DELETE /mode[/{s}]`: the mode removed.
    pub async fn delete_mode(&self, subject: Option<&str>) -> Result<String> {
        let body: ModeBody = self
            .call::<(), ModeBody>(
                Method::DELETE,
                &scope_path("/mode", subject),
                None,
                Retry::No,
            )
            .await?;
        Ok(body.mode)
    }

    // ----------------------------------------------------------------------------- server

    /// `GET /contexts`.
    pub async fn contexts(&self) -> Result<Vec<String>> {
        self.get("/contexts").await
    }

    /// `GET /v1/metadata/version`.
    pub async fn server_version(&self) -> Result<covenant_core::api::ServerVersion> {
        self.get("/v1/metadata/version").await
    }

    /// The texts of every schema `references` names, transitively, dependencies first, as
    /// (reference name, schema text) pairs: what `covenant_core` needs to parse a schema.
    pub async fn reference_texts(
        &self,
        references: &[covenant_core::api::SchemaReference],
    ) -> Result<Vec<(String, String)>> {
        crate::serde::resolve_references(self, references).await
    }

    /// Seeds the id cache, so that a known schema needs no HTTP call (benchmarks, fixed ids).
    pub fn cache_schema(&self, id: i32, schema: SchemaString) {
        self.inner
            .by_id
            .insert((String::new(), id), Arc::new(schema));
    }
}

/// A cache key for a registration request.
fn request_key(request: &RegisterSchemaRequest) -> Result<String> {
    serde_json::to_string(request).map_err(|e| Error::Codec(e.to_string()))
}

/// The context part of a qualified subject, which scopes schema ids.
fn context_hint(subject: &str) -> String {
    match subject.strip_prefix(":.") {
        Some(rest) => rest.split(':').next().unwrap_or_default().to_string(),
        None => String::new(),
    }
}

fn scope_path(base: &str, subject: Option<&str>) -> String {
    match subject {
        Some(subject) => format!("{base}/{}", segment(subject)),
        None => base.to_string(),
    }
}

/// Percent-encodes a path segment (subjects may hold `/`).
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out
}

fn describe_transport(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the request timed out".to_string()
    } else if error.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        text
    }
}

/// A new request id: 16 random hex digits (from the standard library's randomly keyed hasher,
/// so the crate needs no random-number dependency) and a per-process counter.
fn request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    });
    format!(
        "covenant-client-{prefix:016x}-{:x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded_but_contexts_stay_readable() {
        assert_eq!(segment("team/orders-value"), "team%2Forders-value");
        assert_eq!(segment(":.staging:orders"), ":.staging:orders");
        assert_eq!(segment("a b"), "a%20b");
    }

    #[test]
    fn credentials_never_print() {
        let auth = Auth::Basic {
            username: "me".into(),
            password: "secret".into(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
    }

    #[test]
    fn rejects_urls_without_a_scheme() {
        assert!(matches!(
            Client::new("localhost:8081"),
            Err(Error::Config(_))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_registry_is_a_transport_error_after_retries() {
        let client = Client::builder("http://127.0.0.1:9")
            .retry(RetryPolicy {
                max_retries: 2,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
            })
            .build()
            .expect("client");
        let error = client.subjects(None, false).await.expect_err("unreachable");
        assert!(matches!(error, Error::Transport { .. }), "{error}");
        assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
    }
}
