//! Authentication: who a request's caller is, from its `Authorization` header (HTTP basic
//! against the auth file's users, a bearer API key, a bearer JWT from the configured OpenID
//! Connect provider) or its client certificate, and the [`Policy`] that decides what each
//! principal may do (see [`crate::access`] for the decision's one entry point).
//!
//! The auth file is watched and reloaded when it changes; a file that does not load keeps the
//! previous policy in force. Verified credentials are cached by the SHA-256 of the header for a
//! short time, so a password hash is computed once per credential rather than once per request;
//! failed attempts are limited per source address. No credential or token is ever logged or
//! echoed.

pub mod jwt;
pub mod password;
pub mod policy;
pub mod rate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use sha2::Digest;

use crate::access::{AuthMethod, Authorizer, Caller, Identity, Operation, Resource};
use crate::watch::Stamp;
pub use policy::{Anonymous, FileFormat, Policy};

/// The most verified credentials kept.
const CACHE_CAPACITY: usize = 10_000;

/// How authentication is configured.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthSettings {
    /// The auth file.
    pub file: PathBuf,
    /// How long a verified credential is trusted without checking it again.
    pub cache_ttl: Duration,
    /// Failed attempts allowed per source address and minute (the burst too).
    pub failures_per_minute: u32,
}

/// Why a request was not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no valid credentials.
    Unauthorized,
    /// 429: too many failed attempts from the source; retry after this long.
    TooManyFailures(Duration),
}

struct Loaded {
    policy: Policy,
    jwt: Option<Arc<jwt::Verifier>>,
}

struct Cached {
    identity: Arc<Identity>,
    until: Instant,
}

/// The authenticator: the policy in force, the credential cache and the failure limits.
pub struct Authenticator {
    settings: AuthSettings,
    loaded: RwLock<Arc<Loaded>>,
    /// Bumped at every reload; part of every cache key, so a reload forgets every credential.
    generation: AtomicU64,
    stamps: Mutex<Vec<Stamp>>,
    cache: RwLock<HashMap<[u8; 32], Cached>>,
    /// Failed attempts per source address and claimed user name (a password guessed at).
    failures_by_user: rate::Buckets<(IpAddr, String)>,
    /// Failed attempts per source address, whatever they claimed (ten times the above).
    failures_by_source: rate::Buckets<IpAddr>,
    /// Password hashes being computed at once, at most one per CPU.
    hashing: tokio::sync::Semaphore,
    http: reqwest::Client,
    wake: tokio::sync::Notify,
}

fn load(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
    let policy =
        Policy::parse(&text).map_err(|e| format!("the auth file {}: {e}", path.display()))?;
    let jwt = match &policy.oidc {
        Some(settings) => Some(Arc::new(
            jwt::Verifier::new(settings.clone())
                .map_err(|e| format!("the auth file {}: {e}", path.display()))?,
        )),
        None => None,
    };
    Ok(Loaded { policy, jwt })
}

fn watched(path: &Path, loaded: &Loaded) -> Vec<PathBuf> {
    let mut paths = vec![path.to_path_buf()];
    if let Some(file) = loaded
        .policy
        .oidc
        .as_ref()
        .and_then(|o| o.jwks_file.clone())
    {
        paths.push(file);
    }
    paths
}

fn log_loaded(path: &Path, loaded: &Loaded) {
    tracing::info!(file = %path.display(), "auth file loaded: {}", loaded.policy.summary());
    if !loaded.policy.weak_users.is_empty() {
        tracing::warn!(
            users = %loaded.policy.weak_users.join(", "),
            "these users' passwords are hashed with PBKDF2 (Karapace sha1/sha256/sha512), which is cheap to brute-force: rehash them, with scrypt in the Karapace file or with `covenant auth hash-password` (argon2id) in a Covenant auth file"
        );
    }
}

impl Authenticator {
    /// Loads the auth file; a file that does not load is an error.
    pub fn load(settings: AuthSettings) -> Result<Authenticator, String> {
        let loaded = load(&settings.file)?;
        log_loaded(&settings.file, &loaded);
        let stamps = Stamp::of_all(&watched(&settings.file, &loaded));
        let failures_per_minute = f64::from(settings.failures_per_minute.max(1));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Authenticator {
            failures_by_user: rate::Buckets::new(failures_per_minute / 60.0, failures_per_minute),
            failures_by_source: rate::Buckets::new(
                10.0 * failures_per_minute / 60.0,
                10.0 * failures_per_minute,
            ),
            settings,
            loaded: RwLock::new(Arc::new(loaded)),
            generation: AtomicU64::new(0),
            stamps: Mutex::new(stamps),
            cache: RwLock::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            http,
            wake: tokio::sync::Notify::new(),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.loaded.read())
    }

    /// Which callers without credentials are let in.
    pub fn anonymous(&self) -> Anonymous {
        self.current().policy.anonymous
    }

    /// The `WWW-Authenticate` challenges for a 401.
    pub fn challenges(&self) -> Vec<&'static str> {
        let loaded = self.current();
        let mut challenges = vec!["Basic realm=\"Covenant\""];
        if loaded.policy.format == FileFormat::Covenant {
            challenges.push("Bearer realm=\"Covenant\"");
        }
        challenges
    }

    /// Loads the auth file again if it (or its JWKS file) changed; a file that does not load is
    /// logged and the policy in force stays.
    pub fn reload_if_changed(&self) -> bool {
        let current = self.current();
        let now = Stamp::of_all(&watched(&self.settings.file, &current));
        {
            let mut stamps = self.stamps.lock();
            if *stamps == now {
                return false;
            }
            *stamps = now;
        }
        match load(&self.settings.file) {
            Ok(loaded) => {
                log_loaded(&self.settings.file, &loaded);
                *self.stamps.lock() = Stamp::of_all(&watched(&self.settings.file, &loaded));
                *self.loaded.write() = Arc::new(loaded);
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.cache.write().clear();
                self.wake.notify_one();
                true
            }
            Err(error) => {
                tracing::error!(%error, "the auth file did not reload; the policy in force stays");
                false
            }
        }
    }

    /// Watches the auth file and keeps the JWKS fresh, for the life of the server.
    pub async fn maintain(self: Arc<Self>) {
        loop {
            let jwt = self.current().jwt.clone();
            if let Some(verifier) = jwt.filter(|v| v.refresh_due()) {
                verifier.refresh(&self.http).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(crate::watch::INTERVAL) => {}
                _ = self.wake.notified() => {}
            }
            self.reload_if_changed();
        }
    }

    /// Fetches the JWKS now if one is configured by URL (start-up, tests).
    pub async fn refresh_keys(&self) {
        if let Some(verifier) = self.current().jwt.clone() {
            verifier.refresh(&self.http).await;
        }
    }

    /// Who the caller is: from the `Authorization` header when there is one, else the client
    /// certificate's principal, else anonymous if the policy lets anonymous callers in.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        certificate: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<Arc<Identity>, Refusal> {
        let loaded = self.current();
        let Some(header) = authorization else {
            let (name, method) = match certificate {
                Some(principal) => (Some(principal), AuthMethod::Mtls),
                None if loaded.policy.anonymous == Anonymous::Off => {
                    return Err(Refusal::Unauthorized)
                }
                None => (None, AuthMethod::Anonymous),
            };
            return Ok(Arc::new(Identity {
                name: name.map(str::to_string),
                method,
                roles: loaded.policy.roles_of(method, name, &[]),
            }));
        };
        // A credential verified a moment ago costs nothing to accept again, and is never
        // held back by other callers' failures.
        let key = self.cache_key(header);
        if let Some(identity) = self.cached(&key) {
            return Ok(identity);
        }
        let claimed = claimed_user(header);
        if let Some(source) = source {
            self.failures_by_source
                .check(&source)
                .map_err(Refusal::TooManyFailures)?;
            if let Some(user) = &claimed {
                self.failures_by_user
                    .check(&(source, user.clone()))
                    .map_err(Refusal::TooManyFailures)?;
            }
        }
        match self.verify(&loaded, header).await {
            Ok((identity, valid_for)) => {
                let identity = Arc::new(identity);
                self.remember(key, &identity, valid_for);
                Ok(identity)
            }
            Err(reason) => {
                tracing::info!(
                    source = %source.map(|s| s.to_string()).unwrap_or_default(),
                    %reason,
                    "authentication failed"
                );
                if let Some(source) = source {
                    let _ = self.failures_by_source.take(&source);
                    if let Some(user) = claimed {
                        let _ = self.failures_by_user.take(&(source, user));
                    }
                }
                Err(Refusal::Unauthorized)
            }
        }
    }

    fn cache_key(&self, header: &[u8]) -> [u8; 32] {
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.generation.load(Ordering::SeqCst).to_le_bytes());
        hasher.update(header);
        hasher.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<Identity>> {
        let cache = self.cache.read();
        cache
            .get(key)
            .filter(|entry| entry.until > Instant::now())
            .map(|entry| Arc::clone(&entry.identity))
    }

    fn remember(&self, key: [u8; 32], identity: &Arc<Identity>, valid_for: Duration) {
        let ttl = self.settings.cache_ttl.min(valid_for);
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.write();
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, entry| entry.until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                identity: Arc::clone(identity),
                until: now + ttl,
            },
        );
    }

    /// Checks the credentials of a header; the reason for a failure is for the log only and
    /// never holds the credentials.
    async fn verify(
        &self,
        loaded: &Arc<Loaded>,
        header: &[u8],
    ) -> Result<(Identity, Duration), String> {
        let header =
            std::str::from_utf8(header).map_err(|_| "the header is not UTF-8".to_string())?;
        let (scheme, value) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| "the header has no scheme".to_string())?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| "basic credentials that are not base64".to_string())?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| "basic credentials that are not UTF-8".to_string())?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| "basic credentials without `:`".to_string())?;
            let (hash, known) = match loaded.policy.user(user) {
                Some(found) => (found.hash.clone(), true),
                None => (loaded.policy.dummy_hash().clone(), false),
            };
            let password = password.to_string();
            let permit = self
                .hashing
                .acquire()
                .await
                .map_err(|_| "the server is stopping".to_string())?;
            let matches = tokio::task::spawn_blocking(move || hash.verify(&password))
                .await
                .map_err(|e| format!("the password check failed: {e}"))?;
            drop(permit);
            if !(known && matches) {
                return Err(if known {
                    "a wrong password for a basic-auth user".into()
                } else {
                    "basic credentials of an unknown user".into()
                });
            }
            let roles = loaded
                .policy
                .user(user)
                .map(|u| u.roles.clone())
                .unwrap_or_default();
            Ok((
                Identity {
                    name: Some(user.to_string()),
                    method: AuthMethod::Basic,
                    roles: loaded
                        .policy
                        .roles_of(AuthMethod::Basic, Some(user), &roles),
                },
                Duration::MAX,
            ))
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let looks_like_jwt = value.matches('.').count() == 2;
            if looks_like_jwt {
                if let Some(verifier) = &loaded.jwt {
                    let verified = verifier.verify(value).map_err(|e| e.to_string())?;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let valid_for = Duration::from_secs(verified.expires.saturating_sub(now));
                    let name = verified.principal;
                    let roles =
                        loaded
                            .policy
                            .roles_of(AuthMethod::Jwt, Some(&name), &verified.roles);
                    return Ok((
                        Identity {
                            name: Some(name),
                            method: AuthMethod::Jwt,
                            roles,
                        },
                        valid_for,
                    ));
                }
            }
            let digest = policy::key_digest(value);
            match loaded.policy.api_key(&digest) {
                Some(key) => Ok((
                    Identity {
                        name: Some(key.name.clone()),
                        method: AuthMethod::ApiKey,
                        roles: loaded.policy.roles_of(
                            AuthMethod::ApiKey,
                            Some(&key.name),
                            &key.roles,
                        ),
                    },
                    Duration::MAX,
                )),
                None if looks_like_jwt => Err("a bearer JWT, and no [oidc] is configured".into()),
                None => Err("an unknown API key".into()),
            }
        } else {
            Err("an authorization scheme other than Basic and Bearer".into())
        }
    }

    /// The authorizer deciding with the policy in force.
    pub fn authorizer(self: &Arc<Self>) -> Box<dyn Authorizer> {
        Box::new(PolicyAuthorizer(Arc::clone(self)))
    }
}

/// The user name a basic `Authorization` header claims, if it is one.
fn claimed_user(header: &[u8]) -> Option<String> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    decoded.split_once(':').map(|(user, _)| user.to_string())
}

/// Decides with the authenticator's policy in force.
struct PolicyAuthorizer(Arc<Authenticator>);

impl Authorizer for PolicyAuthorizer {
    fn permits(&self, caller: &Caller, operation: Operation, resource: Resource<'_>) -> bool {
        self.0
            .current()
            .policy
            .permits(&caller.identity, operation, resource)
    }
}

/// A new API key: `cvk_` and 32 random bytes in URL-safe base64, and the hash an auth file
/// stores for it.
pub fn new_api_key() -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let key = format!(
        "cvk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest = policy::key_digest(&key);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((key, format!("{}{hex}", policy::KEY_HASH_PREFIX)))
}
