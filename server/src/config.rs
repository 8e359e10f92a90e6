//! Server configuration: a raw, partial form read from a TOML file, `COVENANT_*` variables and
//! flags, layered defaults < file < environment < flags, then validated once into [`Config`].
//!
//! | key (TOML) | variable | default | meaning |
//! | --- | --- | --- | --- |
//! | `listen` | `COVENANT_LISTEN` | `127.0.0.1:8081` | address to bind; port 0 picks a free port |
//! | `store` | `COVENANT_STORE` | `file://./covenant-data` | the log's store URL |
//! | `default_compatibility` | `COVENANT_DEFAULT_COMPATIBILITY` | `BACKWARD` | level when none is configured |
//! | `incompatible_error_code` | `COVENANT_INCOMPATIBLE_ERROR_CODE` | `409` | `409` (deployed clients) or `40901` (Confluent since late 2025) |
//! | `max_body_bytes` | `COVENANT_MAX_BODY_BYTES` | `16777216` | largest request body (413 beyond) |
//! | `max_schema_bytes` | `COVENANT_MAX_SCHEMA_BYTES` | `1048576` | largest schema text (42209 beyond) |
//! | `max_schema_elements` | `COVENANT_MAX_SCHEMA_ELEMENTS` | `50000` | largest schema in elements: JSON values of an Avro or JSON Schema document, 8 per Protobuf declaration (42209 beyond) |
//! | `workers` | `COVENANT_WORKERS` | CPU cores | HTTP worker threads |
//! | `snapshot_interval` | `COVENANT_SNAPSHOT_INTERVAL` | `1000` | records between stored snapshots of the state, at least (and at least a quarter of the last snapshot's offset, so snapshots cost a constant amount per record as the registry grows) |
//! | `poll_interval_ms` | `COVENANT_POLL_INTERVAL_MS` | `1000` | how often a node polls a shared log besides its notifications |
//! | `body_timeout_ms` | `COVENANT_BODY_TIMEOUT_MS` | `5000` | how long a request body may take to arrive (408 beyond); headers have the same limit |
//! | `max_connections` | `COVENANT_MAX_CONNECTIONS` | `10000` | open connections at most, in total |
//! | `max_check_work` | `COVENANT_MAX_CHECK_WORK` | `20000000` | comparison steps one compatibility check may take (422 beyond) |
//! | `max_keys` | `COVENANT_MAX_KEYS` | `20000` | KEKs at most, and DEKs at most, in the DEK registry (Confluent's `dek.registry.max.keys`; 409/40972 beyond) |
//! | `max_associations` | `COVENANT_MAX_ASSOCIATIONS` | `100000` | associations at most (409/40902 beyond) |
//! | `max_connections_per_source` | `COVENANT_MAX_CONNECTIONS_PER_SOURCE` | `256` | open connections at most from one address (0: no limit; raise it behind a proxy) |
//! | `auth_file` | `COVENANT_AUTH_FILE` | none | users, API keys, roles and grants (Covenant TOML or Karapace JSON); without it every caller may do everything |
//! | `auth_cache_seconds` | `COVENANT_AUTH_CACHE_SECONDS` | `60` | how long a verified credential is trusted before it is checked again |
//! | `auth_failures_per_minute` | `COVENANT_AUTH_FAILURES_PER_MINUTE` | `30` | failed authentications allowed per source address (429 beyond) |
//! | `tls_cert`, `tls_key` | `COVENANT_TLS_CERT`, `COVENANT_TLS_KEY` | none | PEM certificate chain and key: serve HTTPS |
//! | `tls_client_ca` | `COVENANT_TLS_CLIENT_CA` | none | PEM CA whose client certificates authenticate callers (mTLS) |
//! | `tls_client_auth` | `COVENANT_TLS_CLIENT_AUTH` | `required` | `required` or `optional` client certificates with `tls_client_ca` |
//! | `local_kms_secret` | `COVENANT_LOCAL_KMS_SECRET` | none | the secret of the local KMS (`local-kms`) with which the DEK registry makes and unwraps DEKs of shared KEKs; never logged |
//! | `local_kms_key_ids` | `COVENANT_LOCAL_KMS_KEY_IDS` (comma-separated) | any | the KEK key ids (`kmsKeyId`) the local KMS may wrap and unwrap DEKs under; a shared KEK of another id is refused with 403/40370, as a cloud KMS refuses a key it has not been granted |
//! | `rate_limit_reads`, `rate_limit_writes` | `COVENANT_RATE_LIMIT_READS`, `COVENANT_RATE_LIMIT_WRITES` | none | requests a second per principal (per address for anonymous callers); 429 beyond |
//! | `metrics` | `COVENANT_METRICS` | `true` | keep and serve metrics (`false`: no `/metrics`, nothing counted) |
//! | `ui` | `COVENANT_UI` | `true` | serve the web console at `/ui/` (`false`, or `serve --no-ui`: no console) |
//! | `metrics_listen` | `COVENANT_METRICS_LISTEN` | none | serve `GET /metrics` (only) on this address too, plain HTTP, outside authentication |
//! | `log_format` | `COVENANT_LOG_FORMAT` | `text` | `text` or `json` (one object per line) |
//! | `otlp_endpoint` | `COVENANT_OTLP_ENDPOINT` | none | an OTLP/HTTP collector (`http://host:4318`): traces are exported there as JSON to `/v1/traces` |

use std::collections::HashMap;

use covenant_core::ids::CompatibilityLevel;
use serde::Deserialize;

use crate::settings::Settings;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// The default store.
pub const DEFAULT_STORE: &str = "file://./covenant-data";

/// A `true`/`false` variable (any case, spaces trimmed); absent is `None`.
fn bool_var(vars: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ConfigError> {
    match vars.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(ConfigError(format!("{name}={v}: expected true or false"))),
    }
}

/// Configuration as given, every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to bind.
    pub listen: Option<String>,
    /// Store URL.
    pub store: Option<String>,
    /// Level when none is configured.
    pub default_compatibility: Option<String>,
    /// 409 or 40901.
    pub incompatible_error_code: Option<u32>,
    /// Largest request body.
    pub max_body_bytes: Option<usize>,
    /// Largest schema text.
    pub max_schema_bytes: Option<usize>,
    /// HTTP worker threads.
    pub workers: Option<usize>,
    /// Records between snapshots.
    pub snapshot_interval: Option<u64>,
    /// Polling interval of a shared log, in milliseconds.
    pub poll_interval_ms: Option<u64>,
    /// How long a request body may take to arrive, in milliseconds.
    pub body_timeout_ms: Option<u64>,
    /// Open connections at most.
    pub max_connections: Option<usize>,
    /// Open connections at most from one source address (0: no limit).
    pub max_connections_per_source: Option<usize>,
    /// Comparison steps one compatibility check may take.
    pub max_check_work: Option<u64>,
    /// The most elements a schema may have.
    pub max_schema_elements: Option<usize>,
    /// KEKs (and DEKs) at most.
    pub max_keys: Option<usize>,
    /// Associations at most.
    pub max_associations: Option<usize>,
    /// The auth file.
    pub auth_file: Option<String>,
    /// Seconds a verified credential is trusted.
    pub auth_cache_seconds: Option<u64>,
    /// Failed authentications per source and minute.
    pub auth_failures_per_minute: Option<u32>,
    /// PEM certificate chain.
    pub tls_cert: Option<String>,
    /// PEM private key.
    pub tls_key: Option<String>,
    /// PEM client CA.
    pub tls_client_ca: Option<String>,
    /// `required` or `optional`.
    pub tls_client_auth: Option<String>,
    /// Reads a second per principal.
    pub rate_limit_reads: Option<f64>,
    /// Writes a second per principal.
    pub rate_limit_writes: Option<f64>,
    /// The local KMS's secret.
    pub local_kms_secret: Option<SecretText>,
    /// The key ids the local KMS may use.
    pub local_kms_key_ids: Option<Vec<String>>,
    /// A second address serving `/metrics`.
    pub metrics_listen: Option<String>,
    /// Keep and serve metrics.
    pub metrics: Option<bool>,
    /// Serve the web console.
    pub ui: Option<bool>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// The OTLP/HTTP collector.
    pub otlp_endpoint: Option<String>,
}

/// A secret as given in the configuration: its `Debug` never shows it.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A configuration problem, naming the key and the value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl RawConfig {
    /// Reads a TOML config file's text.
    pub fn from_toml(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("config file {origin}: {e}")))
    }

    /// Reads `COVENANT_*` variables.
    pub fn from_env(vars: &HashMap<String, String>) -> Result<RawConfig, ConfigError> {
        fn number<T: std::str::FromStr>(
            vars: &HashMap<String, String>,
            name: &str,
        ) -> Result<Option<T>, ConfigError> {
            match vars.get(name) {
                None => Ok(None),
                Some(raw) => raw
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ConfigError(format!("{name}={raw} is not a valid number"))),
            }
        }
        Ok(RawConfig {
            listen: vars.get("COVENANT_LISTEN").cloned(),
            store: vars.get("COVENANT_STORE").cloned(),
            default_compatibility: vars.get("COVENANT_DEFAULT_COMPATIBILITY").cloned(),
            incompatible_error_code: number(vars, "COVENANT_INCOMPATIBLE_ERROR_CODE")?,
            max_body_bytes: number(vars, "COVENANT_MAX_BODY_BYTES")?,
            max_schema_bytes: number(vars, "COVENANT_MAX_SCHEMA_BYTES")?,
            workers: number(vars, "COVENANT_WORKERS")?,
            snapshot_interval: number(vars, "COVENANT_SNAPSHOT_INTERVAL")?,
            poll_interval_ms: number(vars, "COVENANT_POLL_INTERVAL_MS")?,
            body_timeout_ms: number(vars, "COVENANT_BODY_TIMEOUT_MS")?,
            max_connections: number(vars, "COVENANT_MAX_CONNECTIONS")?,
            max_connections_per_source: number(vars, "COVENANT_MAX_CONNECTIONS_PER_SOURCE")?,
            max_check_work: number(vars, "COVENANT_MAX_CHECK_WORK")?,
            max_schema_elements: number(vars, "COVENANT_MAX_SCHEMA_ELEMENTS")?,
            max_keys: number(vars, "COVENANT_MAX_KEYS")?,
            max_associations: number(vars, "COVENANT_MAX_ASSOCIATIONS")?,
            auth_file: vars.get("COVENANT_AUTH_FILE").cloned(),
            auth_cache_seconds: number(vars, "COVENANT_AUTH_CACHE_SECONDS")?,
            auth_failures_per_minute: number(vars, "COVENANT_AUTH_FAILURES_PER_MINUTE")?,
            tls_cert: vars.get("COVENANT_TLS_CERT").cloned(),
            tls_key: vars.get("COVENANT_TLS_KEY").cloned(),
            tls_client_ca: vars.get("COVENANT_TLS_CLIENT_CA").cloned(),
            tls_client_auth: vars.get("COVENANT_TLS_CLIENT_AUTH").cloned(),
            rate_limit_reads: number(vars, "COVENANT_RATE_LIMIT_READS")?,
            rate_limit_writes: number(vars, "COVENANT_RATE_LIMIT_WRITES")?,
            local_kms_secret: vars
                .get("COVENANT_LOCAL_KMS_SECRET")
                .cloned()
                .map(SecretText),
            local_kms_key_ids: vars.get("COVENANT_LOCAL_KMS_KEY_IDS").map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            metrics_listen: vars.get("COVENANT_METRICS_LISTEN").cloned(),
            metrics: bool_var(vars, "COVENANT_METRICS")?,
            ui: bool_var(vars, "COVENANT_UI")?,
            log_format: vars.get("COVENANT_LOG_FORMAT").cloned(),
            otlp_endpoint: vars.get("COVENANT_OTLP_ENDPOINT").cloned(),
        })
    }

    /// This configuration with every key `higher` sets taking precedence.
    pub fn overlay(self, higher: RawConfig) -> RawConfig {
        RawConfig {
            listen: higher.listen.or(self.listen),
            store: higher.store.or(self.store),
            default_compatibility: higher.default_compatibility.or(self.default_compatibility),
            incompatible_error_code: higher
                .incompatible_error_code
                .or(self.incompatible_error_code),
            max_body_bytes: higher.max_body_bytes.or(self.max_body_bytes),
            max_schema_bytes: higher.max_schema_bytes.or(self.max_schema_bytes),
            workers: higher.workers.or(self.workers),
            snapshot_interval: higher.snapshot_interval.or(self.snapshot_interval),
            poll_interval_ms: higher.poll_interval_ms.or(self.poll_interval_ms),
            body_timeout_ms: higher.body_timeout_ms.or(self.body_timeout_ms),
            max_connections: higher.max_connections.or(self.max_connections),
            max_connections_per_source: higher
                .max_connections_per_source
                .or(self.max_connections_per_source),
            max_check_work: higher.max_check_work.or(self.max_check_work),
            max_schema_elements: higher.max_schema_elements.or(self.max_schema_elements),
            max_keys: higher.max_keys.or(self.max_keys),
            max_associations: higher.max_associations.or(self.max_associations),
            auth_file: higher.auth_file.or(self.auth_file),
            auth_cache_seconds: higher.auth_cache_seconds.or(self.auth_cache_seconds),
            auth_failures_per_minute: higher
                .auth_failures_per_minute
                .or(self.auth_failures_per_minute),
            tls_cert: higher.tls_cert.or(self.tls_cert),
            tls_key: higher.tls_key.or(self.tls_key),
            tls_client_ca: higher.tls_client_ca.or(self.tls_client_ca),
            tls_client_auth: higher.tls_client_auth.or(self.tls_client_auth),
            rate_limit_reads: higher.rate_limit_reads.or(self.rate_limit_reads),
            rate_limit_writes: higher.rate_limit_writes.or(self.rate_limit_writes),
            local_kms_secret: higher.local_kms_secret.or(self.local_kms_secret),
            local_kms_key_ids: higher.local_kms_key_ids.or(self.local_kms_key_ids),
            metrics_listen: higher.metrics_listen.or(self.metrics_listen),
            metrics: higher.metrics.or(self.metrics),
            ui: higher.ui.or(self.ui),
            log_format: higher.log_format.or(self.log_format),
            otlp_endpoint: higher.otlp_endpoint.or(self.otlp_endpoint),
        }
    }

    /// Validates into a [`Config`].
    pub fn build(self) -> Result<Config, ConfigError> {
        let default_compatibility = match &self.default_compatibility {
            None => CompatibilityLevel::Backward,
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError(format!("default_compatibility: {e}")))?,
        };
        let legacy_incompatible_code = match self.incompatible_error_code {
            None | Some(409) => true,
            Some(40901) => false,
            Some(other) => {
                return Err(ConfigError(format!(
                    "incompatible_error_code = {other}: expected 409 or 40901"
                )))
            }
        };
        let max_body_bytes = self.max_body_bytes.unwrap_or(16 * 1024 * 1024);
        let max_schema_bytes = self
            .max_schema_bytes
            .unwrap_or(crate::settings::DEFAULT_MAX_SCHEMA_BYTES);
        if max_body_bytes == 0 || max_schema_bytes == 0 {
            return Err(ConfigError(
                "max_body_bytes and max_schema_bytes must be positive".into(),
            ));
        }
        if self.workers == Some(0) {
            return Err(ConfigError("workers must be at least 1".into()));
        }
        if self.snapshot_interval == Some(0)
            || self.poll_interval_ms == Some(0)
            || self.body_timeout_ms == Some(0)
            || self.max_connections == Some(0)
            || self.max_check_work == Some(0)
            || self.max_schema_elements == Some(0)
            || self.max_keys == Some(0)
            || self.max_associations == Some(0)
        {
            return Err(ConfigError(
                "snapshot_interval, poll_interval_ms, body_timeout_ms, max_connections, max_check_work, max_schema_elements, max_keys and max_associations must be positive".into(),
            ));
        }
        let auth = self
            .auth_file
            .as_ref()
            .map(|file| crate::auth::AuthSettings {
                file: file.into(),
                cache_ttl: std::time::Duration::from_secs(self.auth_cache_seconds.unwrap_or(60)),
                failures_per_minute: self.auth_failures_per_minute.unwrap_or(30),
            });
        if self.auth_failures_per_minute == Some(0) {
            return Err(ConfigError(
                "auth_failures_per_minute must be positive".into(),
            ));
        }
        let client_auth = match self.tls_client_auth.as_deref() {
            None | Some("required") => crate::tls::ClientAuth::Required,
            Some("optional") => crate::tls::ClientAuth::Optional,
            Some(other) => {
                return Err(ConfigError(format!(
                    "tls_client_auth = {other}: expected required or optional"
                )))
            }
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.into(),
                key: key.into(),
                client_ca: self.tls_client_ca.as_ref().map(Into::into),
                client_auth,
            }),
            (None, None) if self.tls_client_ca.is_some() => {
                return Err(ConfigError(
                    "tls_client_ca needs tls_cert and tls_key: client certificates are checked only over TLS".into(),
                ))
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "tls_cert and tls_key go together: give both or neither".into(),
                ))
            }
        };
        for (name, rate) in [
            ("rate_limit_reads", self.rate_limit_reads),
            ("rate_limit_writes", self.rate_limit_writes),
        ] {
            if rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                return Err(ConfigError(format!(
                    "{name} must be a positive number of requests a second"
                )));
            }
        }
        if self
            .local_kms_secret
            .as_ref()
            .is_some_and(|s| s.0.is_empty())
        {
            return Err(ConfigError("local_kms_secret must not be empty".into()));
        }
        if self
            .local_kms_key_ids
            .as_ref()
            .is_some_and(|ids| ids.is_empty())
        {
            return Err(ConfigError(
                "local_kms_key_ids must name at least one key id (leave it out to allow any)"
                    .into(),
            ));
        }
        let telemetry = crate::telemetry::Telemetry {
            log_format: match self.log_format.as_deref() {
                None | Some("text") => crate::telemetry::LogFormat::Text,
                Some("json") => crate::telemetry::LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "log_format = {other}: expected text or json"
                    )))
                }
            },
            otlp_endpoint: match &self.otlp_endpoint {
                None => None,
                Some(raw) => Some(crate::telemetry::traces_url(raw).map_err(ConfigError)?),
            },
        };
        Ok(Config {
            auth,
            tls,
            telemetry,
            metrics: self.metrics.unwrap_or(true),
            ui: self.ui.unwrap_or(true),
            metrics_listen: self.metrics_listen,
            local_kms_secret: self.local_kms_secret.map(|s| s.0),
            local_kms_key_ids: self.local_kms_key_ids,
            rate_limits: RateLimits {
                reads: self.rate_limit_reads,
                writes: self.rate_limit_writes,
            },
            listen: self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            store: self.store.unwrap_or_else(|| DEFAULT_STORE.to_string()),
            max_body_bytes,
            body_timeout: std::time::Duration::from_millis(self.body_timeout_ms.unwrap_or(5000)),
            max_connections: self.max_connections.unwrap_or(10_000),
            max_connections_per_source: self.max_connections_per_source.unwrap_or(256),
            workers: self.workers,
            registry: Settings {
                default_compatibility,
                legacy_incompatible_code,
                max_schema_bytes,
                snapshot_interval: self.snapshot_interval.unwrap_or(1000),
                poll_interval: std::time::Duration::from_millis(
                    self.poll_interval_ms.unwrap_or(1000),
                ),
                max_check_work: self
                    .max_check_work
                    .unwrap_or(crate::settings::DEFAULT_MAX_CHECK_WORK),
                max_schema_elements: self
                    .max_schema_elements
                    .unwrap_or(crate::settings::DEFAULT_MAX_SCHEMA_ELEMENTS),
                max_keys: self.max_keys.unwrap_or(crate::settings::DEFAULT_MAX_KEYS),
                max_associations: self
                    .max_associations
                    .unwrap_or(crate::settings::DEFAULT_MAX_ASSOCIATIONS),
            },
        })
    }
}

/// Requests a second per principal (per source address for anonymous callers), by class.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateLimits {
    /// Reads (GET, lookups, compatibility checks).
    pub reads: Option<f64>,
    /// Writes (registrations, deletes, config and mode changes).
    pub writes: Option<f64>,
}

/// The validated server configuration.
#[derive(Clone)]
pub struct Config {
    /// The local KMS's secret (never printed: `Debug` hides it).
    pub local_kms_secret: Option<String>,
    /// The key ids the local KMS may use (`None`: any).
    pub local_kms_key_ids: Option<Vec<String>>,
    /// Authentication and authorization; `None`: every caller may do everything.
    pub auth: Option<crate::auth::AuthSettings>,
    /// HTTPS; `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Logs and traces.
    pub telemetry: crate::telemetry::Telemetry,
    /// A second address serving `/metrics` only.
    pub metrics_listen: Option<String>,
    /// Keep and serve metrics.
    pub metrics: bool,
    /// Serve the web console at `/ui/`.
    pub ui: bool,
    /// Request rates.
    pub rate_limits: RateLimits,
    /// Address to bind.
    pub listen: String,
    /// Store URL.
    pub store: String,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How long a request body (and a request's head) may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections at most from one source address (0: no limit).
    pub max_connections_per_source: usize,
    /// HTTP worker threads (None = CPU cores).
    pub workers: Option<usize>,
    /// Registry settings.
    pub registry: Settings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field(
                "local_kms_secret",
                &self.local_kms_secret.as_ref().map(|_| "***"),
            )
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_kms_secret_is_never_printed() {
        let raw = RawConfig::from_toml("local_kms_secret = \"hunter2-kms\"\n", "t.toml")
            .expect("valid toml");
        assert!(!format!("{raw:?}").contains("hunter2-kms"));
        let config = raw.build().expect("builds");
        assert_eq!(config.local_kms_secret.as_deref(), Some("hunter2-kms"));
        assert!(!format!("{config:?}").contains("hunter2-kms"));
    }

    #[test]
    fn layers_file_env_and_flags_in_that_order() {
        let file = RawConfig::from_toml(
            "listen = \"0.0.0.0:9000\"\nstore = \"sled:///data\"\ndefault_compatibility = \"FULL\"\n",
            "test.toml",
        )
        .expect("valid toml");
        let env: HashMap<String, String> =
            [("COVENANT_STORE".to_string(), "sled:///env".to_string())].into();
        let env = RawConfig::from_env(&env).expect("valid env");
        let flags = RawConfig {
            listen: Some("127.0.0.1:0".into()),
            ..RawConfig::default()
        };
        let config = file.overlay(env).overlay(flags).build().expect("valid");
        assert_eq!(config.listen, "127.0.0.1:0");
        assert_eq!(config.store, "sled:///env");
        assert_eq!(
            config.registry.default_compatibility,
            CompatibilityLevel::Full
        );
        assert!(config.registry.legacy_incompatible_code);
    }

    #[test]
    fn rejects_bad_values_naming_them() {
        let unknown = RawConfig::from_toml("lisen = \"x\"", "c.toml").expect_err("unknown key");
        assert!(unknown.to_string().contains("lisen"), "{unknown}");
        let level = RawConfig {
            default_compatibility: Some("SIDEWAYS".into()),
            ..RawConfig::default()
        };
        assert!(level
            .build()
            .expect_err("bad level")
            .to_string()
            .contains("SIDEWAYS"));
        let code = RawConfig {
            incompatible_error_code: Some(500),
            ..RawConfig::default()
        };
        assert!(code.build().is_err());
        let env: HashMap<String, String> =
            [("COVENANT_WORKERS".to_string(), "many".to_string())].into();
        assert!(RawConfig::from_env(&env).is_err());
    }

    #[test]
    fn defaults() {
        let config = RawConfig::default().build().expect("valid");
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.store, DEFAULT_STORE);
        assert_eq!(
            config.registry.default_compatibility,
            CompatibilityLevel::Backward
        );
    }
}
