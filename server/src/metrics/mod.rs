//! What `GET /metrics` exports, in the Prometheus text format: the HTTP surface, the registry's
//! operations, the log, the state's size, who reads which schema, and the process.
//!
//! Counters and histograms are updated as requests run; gauges of the state and the process are
//! read when the page is scraped, so they cost nothing between scrapes. Every label takes values
//! from a closed set (route templates, formats, levels, outcomes, incompatibility kinds) except
//! the client of the usage gauges, whose distinct values are bounded by [`MAX_USAGE_SERIES`].
//! The names are listed in README.md and used by `ops/grafana/covenant.json`; a test checks both.

mod hot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::HeaderMap;
use covenant_core::ids::{CompatibilityLevel, ContextName, QualifiedSubject, SchemaId, Version};
use covenant_core::schema::SchemaType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::State;

/// The most (subject, version, client) series of the usage gauges; reads past it are counted
/// in `covenant_usage_dropped_total` instead.
pub const MAX_USAGE_SERIES: usize = 10_000;

/// The media type of the page (the Prometheus text exposition format).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormatOutcome {
    format: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeleteLabels {
    target: String,
    permanent: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SettingLabels {
    setting: String,
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    format: String,
    level: String,
    verdict: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    format: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormatLabel {
    format: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UsageLabels {
    subject: String,
    version: String,
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// How a write ended, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new record was appended.
    Created,
    /// Nothing to append: the registry already held it (an existing version).
    Existing,
    /// Refused as incompatible.
    Incompatible,
    /// Refused as invalid input (a bad schema, a bad reference, a bad value).
    Invalid,
    /// Refused by the caller's permissions, the mode or a conflicting state.
    Refused,
    /// What was named does not exist.
    NotFound,
    /// Failed in the registry (the store, a limit).
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Existing => "existing",
            Outcome::Incompatible => "incompatible",
            Outcome::Invalid => "invalid",
            Outcome::Refused => "refused",
            Outcome::NotFound => "not_found",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a failed write.
    pub fn of_error(error: &crate::Error) -> Outcome {
        match error.code().http_status() {
            409 if matches!(error, crate::Error::Incompatible { .. }) => Outcome::Incompatible,
            404 => Outcome::NotFound,
            400 | 422 => Outcome::Invalid,
            401 | 403 | 409 | 429 => Outcome::Refused,
            _ => Outcome::Error,
        }
    }

    /// The outcome of a write's result.
    pub fn of<T>(result: &crate::Result<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Created,
            Err(error) => Outcome::of_error(error),
        }
    }
}

/// A compatibility verdict, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Compatible.
    Compatible,
    /// Incompatible.
    Incompatible,
    /// The candidate did not parse, or the check ran out of budget.
    Invalid,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Compatible => "compatible",
            Verdict::Incompatible => "incompatible",
            Verdict::Invalid => "invalid",
        }
    }
}

/// Where a compatibility check was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckSource {
    /// `POST /compatibility/...`.
    Check,
    /// A registration.
    Register,
}

/// The registry's metrics.
pub struct Metrics {
    /// Whether requests and reads are counted (`metrics = false` turns it off).
    enabled: std::sync::atomic::AtomicBool,
    registry: Registry,
    started: Instant,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, hot::LatencyHistogram>,
    http_in_flight: Gauge,
    registrations: Family<FormatOutcome, Counter>,
    deletes: Family<DeleteLabels, Counter>,
    setting_changes: Family<SettingLabels, Counter>,
    checks: Family<CheckLabels, Counter>,
    incompatibilities: Family<KindLabels, Counter>,
    head: Gauge,
    applied: Counter,
    retries: Counter,
    lag_records: Gauge,
    lag_seconds: FloatGauge,
    replay_seconds: FloatGauge,
    snapshot_age_records: Gauge,
    snapshot_age_seconds: FloatGauge,
    contexts: Gauge,
    subjects: Gauge,
    versions: Family<FormatLabel, Gauge>,
    schemas: Family<FormatLabel, Gauge>,
    last_read: Family<UsageLabels, FloatGauge>,
    usage_dropped: Counter,
    resident: Gauge,
    open_fds: Gauge,
    uptime: FloatGauge,
    /// When the last snapshot was stored or loaded (ms since the epoch; 0 for never).
    last_snapshot_ms: AtomicI64,
    usage: hot::Usage,
    /// This instance among the registries of the process (the workers' handles are per instance).
    id: u64,
}

/// What a read of a schema names: a schema id in a context, or a subject's version.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Read {
    Id(ContextName, SchemaId),
    Version(QualifiedSubject, Version),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct UsageKey {
    read: Read,
    client: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = registered(
            &mut registry,
            "covenant_http_requests",
            "HTTP requests by route template, method and status class",
            Family::<HttpLabels, Counter>::default(),
        );
        let http_duration = registered(
            &mut registry,
            "covenant_http_request_duration_seconds",
            "HTTP request latency by route template and method, from the request head to the response",
            Family::<RouteLabels, hot::LatencyHistogram>::default(),
        );
        let http_in_flight = registered(
            &mut registry,
            "covenant_http_requests_in_flight",
            "HTTP requests being served",
            Gauge::default(),
        );
        let registrations = registered(&mut registry, "covenant_registrations", "Schema registrations by format and outcome (created, existing, incompatible, invalid, refused, not_found, error)", Family::<FormatOutcome, Counter>::default());
        let deletes = registered(
            &mut registry,
            "covenant_deletes",
            "Deletes of subjects and versions by target, permanence and outcome",
            Family::<DeleteLabels, Counter>::default(),
        );
        let setting_changes = registered(
            &mut registry,
            "covenant_setting_changes",
            "Config and mode changes by setting (config, mode), action (set, delete) and outcome",
            Family::<SettingLabels, Counter>::default(),
        );
        let checks = registered(
            &mut registry,
            "covenant_compatibility_checks",
            "Compatibility checks by format, level, verdict and source (check, register)",
            Family::<CheckLabels, Counter>::default(),
        );
        let incompatibilities = registered(
            &mut registry,
            "covenant_incompatibilities",
            "Incompatibilities found, by format and kind",
            Family::<KindLabels, Counter>::default(),
        );
        let head = registered(
            &mut registry,
            "covenant_log_head_records",
            "Records of the log this node has applied (the offset of the next record)",
            Gauge::default(),
        );
        let applied = registered(
            &mut registry,
            "covenant_log_records_applied",
            "Records applied to the state since start (replay, own writes and other nodes' writes)",
            Counter::default(),
        );
        let retries = registered(
            &mut registry,
            "covenant_log_commit_retries",
            "Writes planned again because another node appended first",
            Counter::default(),
        );
        let lag_records = registered(
            &mut registry,
            "covenant_log_catch_up_lag_records",
            "Records the last catch-up with a shared log applied that this node had not written",
            Gauge::default(),
        );
        let lag_seconds = registered(
            &mut registry,
            "covenant_log_catch_up_lag_seconds",
            "How long after it was written the oldest record of the last catch-up was applied",
            FloatGauge::default(),
        );
        let replay_seconds = registered(
            &mut registry,
            "covenant_log_replay_duration_seconds",
            "How long loading the snapshot and replaying the log took at start",
            FloatGauge::default(),
        );
        let snapshot_age_records = registered(
            &mut registry,
            "covenant_snapshot_age_records",
            "Records applied since the last snapshot was stored or loaded",
            Gauge::default(),
        );
        let snapshot_age_seconds = registered(
            &mut registry,
            "covenant_snapshot_age_seconds",
            "Seconds since this node stored or loaded a snapshot (since start when it has none)",
            FloatGauge::default(),
        );
        let contexts = registered(
            &mut registry,
            "covenant_contexts",
            "Contexts with subjects or schemas",
            Gauge::default(),
        );
        let subjects = registered(
            &mut registry,
            "covenant_subjects",
            "Subjects with live versions",
            Gauge::default(),
        );
        let versions = registered(
            &mut registry,
            "covenant_versions",
            "Live (not soft-deleted) versions by format",
            Family::<FormatLabel, Gauge>::default(),
        );
        let schemas = registered(
            &mut registry,
            "covenant_schemas",
            "Schemas (distinct ids) stored, by format",
            Family::<FormatLabel, Gauge>::default(),
        );
        let last_read = registered(&mut registry, "covenant_schema_last_read_timestamp_seconds", "When a client last read a subject's version (by id or by version), by subject, version and client", Family::<UsageLabels, FloatGauge>::default());
        let usage_dropped = registered(&mut registry, "covenant_usage_dropped", "Reads not tracked in covenant_schema_last_read_timestamp_seconds because its series limit was reached", Counter::default());
        let resident = registered(
            &mut registry,
            "process_resident_memory_bytes",
            "Resident memory of the process",
            Gauge::default(),
        );
        let open_fds = registered(
            &mut registry,
            "process_open_fds",
            "Open file descriptors of the process",
            Gauge::default(),
        );
        let start_time = registered(
            &mut registry,
            "process_start_time_seconds",
            "When the process started, in seconds since the epoch",
            FloatGauge::default(),
        );
        start_time.set(unix_seconds(SystemTime::now()));
        let uptime = registered(
            &mut registry,
            "covenant_uptime_seconds",
            "Seconds since the registry started",
            FloatGauge::default(),
        );
        let build = registered(
            &mut registry,
            "covenant_build_info",
            "The running version (always 1)",
            Family::<BuildLabels, Gauge>::default(),
        );
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        Metrics {
            enabled: std::sync::atomic::AtomicBool::new(true),
            registry,
            started: Instant::now(),
            http_requests,
            http_duration,
            http_in_flight,
            registrations,
            deletes,
            setting_changes,
            checks,
            incompatibilities,
            head,
            applied,
            retries,
            lag_records,
            lag_seconds,
            replay_seconds,
            snapshot_age_records,
            snapshot_age_seconds,
            contexts,
            subjects,
            versions,
            schemas,
            last_read,
            usage_dropped,
            resident,
            open_fds,
            uptime,
            last_snapshot_ms: AtomicI64::new(0),
            usage: hot::Usage::default(),
            id: {
                static INSTANCES: AtomicU64 = AtomicU64::new(0);
                INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
        }
    }

    /// Stops counting requests and reads, and serving the page (`metrics = false`).
    pub fn disable(&self) {
        self.enabled
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether metrics are kept and served.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    // ----------------------------------------------------------------------------- HTTP

    /// A request starts.
    pub fn request_started(&self) {
        if self.is_enabled() {
            self.http_in_flight.inc();
        }
    }

    /// A request ended: `route` is the matched template (`None`: no route matched).
    pub fn request_ended(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        if !self.is_enabled() {
            return;
        }
        self.http_in_flight.dec();
        let route = route.unwrap_or("unmatched");
        let series = hot::route_series(self.id, route, method, |method| {
            let duration = self.http_duration.get_or_create_owned(&RouteLabels {
                route: route.to_string(),
                method: method.to_string(),
            });
            hot::RouteSeries::new(method, duration)
        });
        series.record(status, took, |class| {
            self.http_requests.get_or_create_owned(&HttpLabels {
                route: route.to_string(),
                method: series.method.to_string(),
                status: class.to_string(),
            })
        });
    }

    // ----------------------------------------------------------------------------- registry

    /// A registration ended.
    pub fn registration(&self, format: SchemaType, outcome: Outcome) {
        self.registrations
            .get_or_create(&FormatOutcome {
                format: format.as_str().to_string(),
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }

    /// A delete of a subject (`version: false`) or a version ended.
    pub fn delete(&self, version: bool, permanent: bool, outcome: Outcome) {
        self.deletes
            .get_or_create(&DeleteLabels {
                target: if version { "version" } else { "subject" }.to_string(),
                permanent: permanent.to_string(),
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }

    /// A config (`mode: false`) or mode change ended (`set: false` for a delete).
    pub fn setting_change(&self, mode: bool, set: bool, outcome: Outcome) {
        self.setting_changes
            .get_or_create(&SettingLabels {
                setting: if mode { "mode" } else { "config" }.to_string(),
                action: if set { "set" } else { "delete" }.to_string(),
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }

    /// A compatibility check ended, with the kinds of what it found.
    pub fn check<'k>(
        &self,
        format: SchemaType,
        level: CompatibilityLevel,
        verdict: Verdict,
        source: CheckSource,
        kinds: impl IntoIterator<Item = &'k str>,
    ) {
        let format = format.as_str().to_string();
        self.checks
            .get_or_create(&CheckLabels {
                format: format.clone(),
                level: level.as_str().to_string(),
                verdict: verdict.as_str().to_string(),
                source: match source {
                    CheckSource::Check => "check",
                    CheckSource::Register => "register",
                }
                .to_string(),
            })
            .inc();
        for kind in kinds {
            self.incompatibilities
                .get_or_create(&KindLabels {
                    format: format.clone(),
                    kind: kind.to_string(),
                })
                .inc();
        }
    }

    // ----------------------------------------------------------------------------- log

    /// Records were applied; `foreign` of them were read back from a shared log (written by
    /// other nodes), the oldest of those stamped `oldest_ts` (ms since the epoch).
    pub fn applied(&self, records: u64, foreign: u64, oldest_ts: Option<i64>) {
        self.applied.inc_by(records);
        if foreign > 0 {
            self.lag_records.set(foreign as i64);
            if let Some(ts) = oldest_ts {
                let now = unix_millis(SystemTime::now());
                self.lag_seconds.set((now - ts).max(0) as f64 / 1000.0);
            }
        }
    }

    /// A write is planned again because the log moved under it.
    pub fn commit_retry(&self) {
        self.retries.inc();
    }

    /// How many writes were planned again.
    #[cfg(test)]
    pub fn commit_retries(&self) -> u64 {
        self.retries.get()
    }

    /// The start-up replay took this long.
    pub fn replayed(&self, took: Duration) {
        self.replay_seconds.set(took.as_secs_f64());
    }

    /// A snapshot was stored or loaded now.
    pub fn snapshot_taken(&self) {
        self.last_snapshot_ms.store(
            unix_millis(SystemTime::now()),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    // ----------------------------------------------------------------------------- usage

    /// The client of a request with `headers` read schema `id` of `context`.
    pub fn read_id(&self, headers: &HeaderMap, context: &ContextName, id: SchemaId) {
        if self.is_enabled() {
            self.read(hot::ReadOf::Id(context, id), headers);
        }
    }

    /// The client of a request with `headers` read `version` of `subject`.
    pub fn read_version(&self, headers: &HeaderMap, subject: &QualifiedSubject, version: Version) {
        if self.is_enabled() {
            self.read(hot::ReadOf::Version(subject, version), headers);
        }
    }

    fn read(&self, read: hot::ReadOf<'_>, headers: &HeaderMap) {
        let now = unix_millis(SystemTime::now());
        if !self
            .usage
            .record(self.id, read, client_of(headers), now, MAX_USAGE_SERIES)
        {
            self.usage_dropped.inc();
        }
    }

    // ----------------------------------------------------------------------------- scrape

    /// The page: gauges read from `state` and the process, then every metric as text.
    pub fn encode(&self, state: &State, snapshot_offset: u64) -> String {
        self.observe_state(state, snapshot_offset);
        self.observe_usage(state);
        self.observe_process();
        let mut page = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut page, &self.registry);
        page
    }

    fn observe_state(&self, state: &State, snapshot_offset: u64) {
        self.head.set(state.head() as i64);
        self.snapshot_age_records
            .set(state.head().saturating_sub(snapshot_offset) as i64);
        let last = self
            .last_snapshot_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let age = if last == 0 {
            self.started.elapsed().as_secs_f64()
        } else {
            (unix_millis(SystemTime::now()) - last).max(0) as f64 / 1000.0
        };
        self.snapshot_age_seconds.set(age);
        let mut contexts = 0;
        let mut subjects = 0;
        let mut versions: HashMap<SchemaType, i64> = HashMap::new();
        let mut schemas: HashMap<SchemaType, i64> = HashMap::new();
        for (_, context) in state.contexts() {
            if context.schemas.is_empty() && context.subjects.is_empty() {
                continue;
            }
            contexts += 1;
            for record in context.schemas.values() {
                *schemas.entry(record.schema_type).or_default() += 1;
            }
            for subject in context.subjects.values() {
                let mut live = false;
                for version in subject.versions.values().filter(|v| !v.deleted) {
                    live = true;
                    if let Some(record) = context.schemas.get(&version.id) {
                        *versions.entry(record.schema_type).or_default() += 1;
                    }
                }
                subjects += i64::from(live);
            }
        }
        self.contexts.set(contexts);
        self.subjects.set(subjects);
        for format in [SchemaType::Avro, SchemaType::Json, SchemaType::Protobuf] {
            let label = FormatLabel {
                format: format.as_str().to_string(),
            };
            self.versions
                .get_or_create(&label)
                .set(versions.get(&format).copied().unwrap_or(0));
            self.schemas
                .get_or_create(&label)
                .set(schemas.get(&format).copied().unwrap_or(0));
        }
    }

    /// Resolves the reads recorded since start to (subject, version) series: a read by id
    /// counts for every live version that uses the id.
    fn observe_usage(&self, state: &State) {
        let reads = self.usage.merged();
        let mut latest: HashMap<UsageLabels, i64> = HashMap::new();
        for (key, at) in reads {
            let targets: Vec<(QualifiedSubject, Version)> = match &key.read {
                Read::Id(context, id) => state
                    .usages(context, *id, false)
                    .into_iter()
                    .map(|(subject, version, _)| (subject, version))
                    .collect(),
                Read::Version(subject, version) => vec![(subject.clone(), *version)],
            };
            for (subject, version) in targets {
                let labels = UsageLabels {
                    subject: subject.qualified(),
                    version: version.get().to_string(),
                    client: key.client.clone(),
                };
                let entry = latest.entry(labels).or_insert(at);
                *entry = (*entry).max(at);
            }
        }
        // Series of versions since deleted go; the rest are set to their last read.
        self.last_read.clear();
        for (labels, at) in latest {
            self.last_read
                .get_or_create(&labels)
                .set(at as f64 / 1000.0);
        }
    }

    fn observe_process(&self) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        if let Some(bytes) = resident_bytes() {
            self.resident.set(bytes);
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
    }
}

/// `metric`, registered under `name` with `help` (a handle to it is kept to update it).
fn registered<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Resident memory from `/proc/self/statm` (Linux), in bytes.
fn resident_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn unix_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Who a request comes from, for the usage gauges: the `X-Client-Id` header when sent, else
/// `Confluent-Client-Version`, else the `User-Agent`, else `unknown`, as sent (the usage series
/// keep 64 characters of its printable ASCII).
fn client_of(headers: &HeaderMap) -> &str {
    use actix_web::http::header::{HeaderName, USER_AGENT};
    const CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");
    const CLIENT_VERSION: HeaderName = HeaderName::from_static("confluent-client-version");
    [CLIENT_ID, CLIENT_VERSION, USER_AGENT]
        .iter()
        .find_map(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        })
        .unwrap_or("unknown")
}
