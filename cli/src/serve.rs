//! `covenant serve`: configuration layering (defaults < file < `COVENANT_*` < flags), logging, run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use covenant_server::RawConfig;

/// Flags of `covenant serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8081].
    #[arg(long)]
    listen: Option<String>,
    /// Where the log lives: file://PATH, postgres://USER@HOST/DB or memory:// [default: file://./covenant-data].
    #[arg(long)]
    store: Option<String>,
    /// A TOML config file (also COVENANT_CONFIG).
    #[arg(long, env = "COVENANT_CONFIG")]
    config: Option<PathBuf>,
    /// Compatibility level when none is configured [default: BACKWARD].
    #[arg(long)]
    default_compatibility: Option<String>,
    /// Error code of an incompatible registration: 409 (deployed clients) or 40901 [default: 409].
    #[arg(long)]
    incompatible_error_code: Option<u32>,
    /// Largest request body in bytes [default: 16777216].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Largest schema text in bytes [default: 1048576].
    #[arg(long)]
    max_schema_bytes: Option<usize>,
    /// HTTP worker threads [default: CPU cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Records between stored snapshots of the state [default: 1000].
    #[arg(long)]
    snapshot_interval: Option<u64>,
    /// How often a node polls a shared log besides its notifications, in ms [default: 1000].
    #[arg(long)]
    poll_interval_ms: Option<u64>,
    /// How long a request body may take to arrive, in ms (408 beyond) [default: 5000].
    #[arg(long)]
    body_timeout_ms: Option<u64>,
    /// Open connections at most [default: 10000].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Open connections at most from one address; 0 for no limit [default: 256].
    #[arg(long)]
    max_connections_per_source: Option<usize>,
    /// Comparison steps one compatibility check may take (422 beyond) [default: 20000000].
    #[arg(long)]
    max_check_work: Option<u64>,
    /// Largest schema in elements: JSON values of an Avro or JSON Schema document, 8 per
    /// Protobuf declaration (42209 beyond) [default: 50000].
    #[arg(long)]
    max_schema_elements: Option<usize>,
    /// KEKs at most, and DEKs at most, in the DEK registry (409/40972 beyond) [default: 20000].
    #[arg(long)]
    max_keys: Option<usize>,
    /// Associations at most (409/40902 beyond) [default: 100000].
    #[arg(long)]
    max_associations: Option<usize>,
    /// A KEK key id the local KMS may serve (repeatable; others get 403/40370) [default: any].
    #[arg(long = "local-kms-key-id")]
    local_kms_key_ids: Vec<String>,
    /// An auth file: Covenant TOML (users, API keys, roles, grants) or a Karapace
    /// registry_authfile (also COVENANT_AUTH_FILE). Without it every caller may do everything.
    #[arg(long)]
    auth_file: Option<String>,
    /// How long a verified credential is trusted before it is checked again, in s [default: 60].
    #[arg(long)]
    auth_cache_seconds: Option<u64>,
    /// Failed authentications allowed per source address and minute [default: 30].
    #[arg(long)]
    auth_failures_per_minute: Option<u32>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long)]
    tls_cert: Option<String>,
    /// PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: Option<String>,
    /// PEM CA whose client certificates authenticate callers (mTLS).
    #[arg(long)]
    tls_client_ca: Option<String>,
    /// With --tls-client-ca: `required` or `optional` client certificates [default: required].
    #[arg(long)]
    tls_client_auth: Option<String>,
    /// Reads a second per principal (per address for anonymous callers); 429 beyond.
    #[arg(long)]
    rate_limit_reads: Option<f64>,
    /// Writes a second per principal (per address for anonymous callers); 429 beyond.
    #[arg(long)]
    rate_limit_writes: Option<f64>,
    /// Also serve GET /metrics (only) on this address.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Keep no metrics and serve no /metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Serve no web console at /ui/.
    #[arg(long)]
    no_ui: bool,
    /// Log lines as `text` or `json` (one object per line) [default: text].
    #[arg(long)]
    log_format: Option<String>,
    /// Export traces to this OTLP/HTTP collector (`http://host:4318`).
    #[arg(long)]
    otlp_endpoint: Option<String>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match build_config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("covenant serve: {message}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match init_logging(&config.telemetry) {
        Ok(guard) => guard,
        Err(message) => {
            eprintln!("covenant serve: {message}");
            return ExitCode::from(2);
        }
    };
    match covenant_server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("covenant serve: {error}");
            ExitCode::FAILURE
        }
    }
}

fn build_config(args: ServeArgs) -> Result<covenant_server::Config, String> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            RawConfig::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?
        }
        None => RawConfig::default(),
    };
    let vars: HashMap<String, String> = std::env::vars().collect();
    let env = RawConfig::from_env(&vars).map_err(|e| e.to_string())?;
    let flags = RawConfig {
        listen: args.listen,
        store: args.store,
        default_compatibility: args.default_compatibility,
        incompatible_error_code: args.incompatible_error_code,
        max_body_bytes: args.max_body_bytes,
        max_schema_bytes: args.max_schema_bytes,
        workers: args.workers,
        snapshot_interval: args.snapshot_interval,
        poll_interval_ms: args.poll_interval_ms,
        body_timeout_ms: args.body_timeout_ms,
        max_connections: args.max_connections,
        max_connections_per_source: args.max_connections_per_source,
        max_check_work: args.max_check_work,
        max_schema_elements: args.max_schema_elements,
        max_keys: args.max_keys,
        max_associations: args.max_associations,
        local_kms_key_ids: (!args.local_kms_key_ids.is_empty()).then_some(args.local_kms_key_ids),
        auth_file: args.auth_file,
        auth_cache_seconds: args.auth_cache_seconds,
        auth_failures_per_minute: args.auth_failures_per_minute,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        tls_client_ca: args.tls_client_ca,
        tls_client_auth: args.tls_client_auth,
        rate_limit_reads: args.rate_limit_reads,
        rate_limit_writes: args.rate_limit_writes,
        // A secret is read from the config file or COVENANT_LOCAL_KMS_SECRET, never a flag
        // (flags show in the process list).
        local_kms_secret: None,
        metrics_listen: args.metrics_listen,
        metrics: args.no_metrics.then_some(false),
        ui: args.no_ui.then_some(false),
        log_format: args.log_format,
        otlp_endpoint: args.otlp_endpoint,
    };
    file.overlay(env)
        .overlay(flags)
        .build()
        .map_err(|e| e.to_string())
}

/// Logs go to standard error (standard output carries the `listening on` line), filtered by
/// `RUST_LOG` or `COVENANT_LOG` (default `info`), as text or JSON lines; spans go to the OTLP
/// collector when one is configured. The guard flushes the last spans when serving ends.
fn init_logging(
    telemetry: &covenant_server::telemetry::Telemetry,
) -> Result<covenant_server::telemetry::TelemetryGuard, String> {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("COVENANT_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    covenant_server::telemetry::init(telemetry, &filter)
}
