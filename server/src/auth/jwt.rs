//! Bearer JWTs from an OpenID Connect provider: the signing keys (a JWKS from a file, or from
//! the one configured URL, refreshed), and the checks of a token: signature with an accepted
//! algorithm, issuer, audience, expiry and not-before, then the principal and roles from its
//! claims.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use super::policy::OidcSettings;

/// The algorithms accepted when the settings name none: every asymmetric one (a shared-secret
/// HS256 key cannot come from a JWKS a provider publishes).
const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The shortest time between two fetches of the JWKS URL prompted by unknown key ids.
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Reads an algorithm name; symmetric ones are refused.
pub fn algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm: Algorithm = name
        .parse()
        .map_err(|_| format!("[oidc] unknown algorithm `{name}`"))?;
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(format!(
            "[oidc] algorithm `{name}` uses a shared secret; a provider's JWKS holds public keys (RS*, PS*, ES*, EdDSA)"
        ));
    }
    Ok(algorithm)
}

/// A JWKS URL must be https, or http to a loopback address.
pub fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("[oidc] jwks_url `{url}`: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "[oidc] jwks_url `{url}` must be https (http only to a loopback address)"
        )),
    }
}

/// Why a token was refused (for the log; the caller only ever sees 401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or its header cannot be read.
    #[error("not a readable JWT: {0}")]
    Malformed(String),
    /// No key of the JWKS signs with this token's key id and algorithm.
    #[error("no signing key for the token (kid {kid:?}, alg {alg:?})")]
    UnknownKey {
        /// The token's key id.
        kid: Option<String>,
        /// Its algorithm.
        alg: Algorithm,
    },
    /// The signature, the algorithm or a claim failed.
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// The principal claim is missing or not a string.
    #[error("the token has no string claim `{0}`")]
    NoPrincipal(String),
}

/// Who a valid token names, and until when it is valid.
#[derive(Debug)]
pub struct Verified {
    /// The principal claim.
    pub principal: String,
    /// The roles claim.
    pub roles: Vec<String>,
    /// `exp`, in seconds since the epoch.
    pub expires: u64,
}

/// Verifies tokens against the provider's keys.
pub struct Verifier {
    settings: OidcSettings,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Arc<JwkSet>>,
    last_fetch: Mutex<Option<Instant>>,
    /// An unknown key id was seen: fetch the URL again soon.
    refetch: std::sync::atomic::AtomicBool,
}

impl Verifier {
    /// A verifier for `settings`; a JWKS file is read now, a URL is fetched by
    /// [`Verifier::refresh`].
    pub fn new(settings: OidcSettings) -> Result<Verifier, String> {
        let algorithms = match &settings.algorithms {
            Some(names) => names
                .iter()
                .map(|name| algorithm(name))
                .collect::<Result<Vec<_>, _>>()?,
            None => DEFAULT_ALGORITHMS.to_vec(),
        };
        let keys = match &settings.jwks_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("[oidc] cannot read jwks_file {}: {e}", path.display()))?;
                parse_jwks(&text)
                    .map_err(|e| format!("[oidc] jwks_file {}: {e}", path.display()))?
            }
            None => JwkSet { keys: Vec::new() },
        };
        Ok(Verifier {
            settings,
            algorithms,
            keys: RwLock::new(Arc::new(keys)),
            last_fetch: Mutex::new(None),
            refetch: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The settings it verifies with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Whether the JWKS URL should be fetched now: never fetched, due, or an unknown key id
    /// was seen (at most once every 30 s).
    pub fn refresh_due(&self) -> bool {
        if self.settings.jwks_url.is_none() {
            return false;
        }
        match *self.last_fetch.lock() {
            None => true,
            Some(at) => {
                let since = at.elapsed();
                since >= Duration::from_secs(self.settings.refresh_seconds.max(1))
                    || (since >= MIN_REFETCH
                        && self.refetch.load(std::sync::atomic::Ordering::Relaxed))
            }
        }
    }

    /// Fetches the JWKS URL and keeps its keys; on failure the keys held stay in force.
    pub async fn refresh(&self, http: &reqwest::Client) {
        let Some(url) = self.settings.jwks_url.clone() else {
            return;
        };
        *self.last_fetch.lock() = Some(Instant::now());
        self.refetch
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let fetched = async {
            let response = http
                .get(&url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let text = response.text().await.map_err(|e| e.to_string())?;
            parse_jwks(&text)
        }
        .await;
        match fetched {
            Ok(keys) => {
                tracing::info!(url = %url, keys = keys.keys.len(), "JWKS fetched");
                *self.keys.write() = Arc::new(keys);
            }
            Err(error) => {
                tracing::warn!(url = %url, %error, "cannot fetch the JWKS; the keys held stay in force")
            }
        }
    }

    /// Checks a token and reads its principal and roles.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::Invalid(format!(
                "the algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let keys = Arc::clone(&self.keys.read());
        let candidates: Vec<&Jwk> = keys
            .keys
            .iter()
            .filter(|key| match (&header.kid, &key.common.key_id) {
                (Some(kid), Some(id)) => kid == id,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .filter(|key| {
                key.common
                    .key_algorithm
                    .is_none_or(|alg| format!("{alg:?}") == format!("{:?}", header.alg))
            })
            .collect();
        if candidates.is_empty() {
            self.refetch
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(TokenError::UnknownKey {
                kid: header.kid,
                alg: header.alg,
            });
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last_error = None;
        for key in candidates {
            let decoding = match DecodingKey::from_jwk(key) {
                Ok(decoding) => decoding,
                Err(e) => {
                    last_error = Some(e.to_string());
                    continue;
                }
            };
            match jsonwebtoken::decode::<Value>(token, &decoding, &validation) {
                Ok(data) => return self.identity(&data.claims),
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        Err(TokenError::Invalid(last_error.unwrap_or_default()))
    }

    fn identity(&self, claims: &Value) -> Result<Verified, TokenError> {
        let principal = claims
            .get(&self.settings.principal_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::NoPrincipal(self.settings.principal_claim.clone()))?
            .to_string();
        let roles = match &self.settings.roles_claim {
            None => Vec::new(),
            Some(path) => {
                let value = path
                    .split('.')
                    .try_fold(claims, |value, key| value.get(key));
                match value {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    Some(Value::String(list)) => {
                        list.split_whitespace().map(str::to_string).collect()
                    }
                    _ => Vec::new(),
                }
            }
        };
        let expires = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok(Verified {
            principal,
            roles,
            expires,
        })
    }
}

fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWKS has no keys".into());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_urls() {
        assert!(check_jwks_url("https://idp.example.com/certs").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:8080/certs").is_ok());
        assert!(check_jwks_url("http://localhost/certs").is_ok());
        assert!(check_jwks_url("http://[::1]:1/certs").is_ok());
        assert!(check_jwks_url("http://idp.example.com/certs").is_err());
        assert!(check_jwks_url("file:///etc/passwd").is_err());
        assert!(check_jwks_url("not a url").is_err());
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        assert!(algorithm("RS256").is_ok());
        assert!(algorithm("ES256").is_ok());
        assert!(algorithm("HS256").is_err());
        assert!(algorithm("none").is_err());
    }
}
