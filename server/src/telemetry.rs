//! Logs and traces: the subscriber (text or JSON lines on standard error, and spans exported
//! over OTLP/HTTP when a collector is configured), request ids, and the request span that is
//! the parent of every span and log line a request causes.
//!
//! The spans are `request` (one per HTTP request, a child of the caller's W3C `traceparent`),
//! `plan`, `append` and `apply` (a write through the engine) and `check` (a compatibility
//! check). Without a collector the spans only carry the request id and trace id into the logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the request span's fields.
    Json,
}

/// Logs and traces, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// The log format.
    pub log_format: LogFormat,
    /// Where spans are exported (the collector's `/v1/traces` URL); `None`: nowhere.
    pub otlp_endpoint: Option<url::Url>,
}

/// The `/v1/traces` URL of a collector given as its base URL (`http://host:4318`), as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is; a URL already ending in `/v1/traces` is kept.
pub fn traces_url(raw: &str) -> Result<url::Url, String> {
    let url =
        url::Url::parse(raw.trim()).map_err(|e| format!("otlp_endpoint is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("otlp_endpoint must be an http:// or https:// URL".into());
    }
    if url.path().ends_with("/v1/traces") {
        return Ok(url);
    }
    let mut url = url;
    let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// Flushes the log lines and the exported spans when dropped (at the end of `covenant serve`).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    _logs: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("covenant: cannot flush the last spans: {error}");
            }
        }
    }
}

/// Installs the process's subscriber: logs filtered by `filter` (an `EnvFilter` directive such
/// as `info`) to standard error, and spans to the collector when one is configured.
pub fn init(telemetry: &Telemetry, filter: &str) -> Result<TelemetryGuard, String> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Lines are written by a thread of their own, buffered and flushed whenever it has caught
    // up, so that a request never waits on standard error; never lossy (a full queue makes the
    // logging thread wait rather than drop a line).
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("covenant-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let logs = match telemetry.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    let (provider, traces) = match &telemetry.otlp_endpoint {
        None => (None, None),
        Some(url) => {
            let provider = tracer_provider(url)?;
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("covenant"))
                .boxed();
            (Some(provider), Some(layer))
        }
    };
    EXPORTING.get_or_init(|| provider.is_some());
    // Each layer filters on its own: the log level does not decide which spans are exported.
    let logs = logs.with_filter(tracing_subscriber::EnvFilter::new(filter));
    let traces = traces.map(|layer| {
        layer.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("covenant_server", tracing::Level::INFO),
        )
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    Ok(TelemetryGuard {
        provider,
        _logs: guard,
    })
}

fn tracer_provider(url: &url::Url) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithHttpConfig;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter's HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Exporter(client))
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url.as_str())
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("covenant")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The HTTP client of the OTLP exporter: the registry's own reqwest, blocking, since the batch
/// span processor exports from a thread of its own outside the async runtime.
#[derive(Debug)]
struct Exporter(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Exporter {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (head, body) = request.into_parts();
        let response = self
            .0
            .request(head.method, head.uri.to_string())
            .headers(head.headers)
            .body(body.to_vec())
            .send()?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response.bytes()?;
        Ok(answer.body(body)?)
    }
}

/// Whether spans are exported (then a request's span links to the caller's trace).
static EXPORTING: OnceLock<bool> = OnceLock::new();

fn exporting() -> bool {
    EXPORTING.get().copied().unwrap_or(false)
}

/// The id of a request: the caller's when it is 1 to 128 visible ASCII characters without
/// quotes or backslashes (so it can be logged and echoed as it is), else a new one: a random
/// prefix fixed for the process and a counter, unique across nodes and cheap to make.
pub fn request_id(given: Option<&str>) -> String {
    if let Some(given) = given {
        let sane = !given.is_empty()
            && given.len() <= 128
            && given
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if sane {
            return given.to_string();
        }
    }
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        // A fixed prefix only makes ids collide across nodes, never within one.
        let _ = getrandom::fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    format!("{prefix}-{:08x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One header of a request, for the W3C propagator.
struct Header<'a>(Option<&'a str>);

impl Extractor for Header<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The span of one request. Its `trace_id` is the caller's (from `traceparent`) when it sent a
/// valid one; when spans are exported the span is also a child of the caller's span.
/// A `read`'s span is a debug span unless spans are exported (reads are most requests).
pub fn request_span(request_id: &str, method: &str, traceparent: Option<&str>, read: bool) -> Span {
    // The logs need only the ids (the request's log line has the rest); the route, method and
    // status are recorded for the exported span alone.
    macro_rules! span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "request",
                request_id,
                trace_id = Empty,
                otel.kind = Empty,
                http.request.method = Empty,
                http.route = Empty,
                http.response.status_code = Empty,
            )
        };
    }
    let span = if read && !exporting() {
        span!(tracing::Level::DEBUG)
    } else {
        span!(tracing::Level::INFO)
    };
    if exporting() && !span.is_disabled() {
        span.record("otel.kind", "server");
        span.record("http.request.method", method);
    }
    if traceparent.is_some() && !span.is_disabled() {
        let context = TraceContextPropagator::new().extract(&Header(traceparent));
        let remote = context.span().span_context().clone();
        if remote.is_valid() {
            span.record("trace_id", tracing::field::display(remote.trace_id()));
            if exporting() {
                let _ = span.set_parent(context);
            }
        }
    }
    span
}

/// Records the route template and status on the request span once the response is known;
/// an exported span is named `METHOD route` (OpenTelemetry's HTTP server span name).
pub fn end_request_span(span: &Span, method: &str, route: Option<&str>, status: u16) {
    if span.is_disabled() || !exporting() {
        return;
    }
    let route = route.unwrap_or("unmatched");
    span.record("http.route", route);
    span.record("http.response.status_code", i64::from(status));
    // The span has started by now, so its name is changed on the OpenTelemetry span itself
    // (recording `otel.name` only names a span that has not started).
    span.context()
        .span()
        .update_name(format!("{method} {route}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensible_request_id_is_kept_and_anything_else_replaced() {
        assert_eq!(request_id(Some("abc-123")), "abc-123");
        for bad in ["", "has space", "quote\"", &"x".repeat(129), "é"] {
            let id = request_id(Some(bad));
            assert_ne!(id, bad);
            assert!(id.len() > 9 && id.is_ascii(), "{id}");
        }
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn the_traces_url_is_the_collector_base_plus_v1_traces() {
        let url = |raw: &str| traces_url(raw).map(|u| u.to_string());
        assert_eq!(
            url("http://collector:4318").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        assert_eq!(
            url("http://collector:4318/otlp/").as_deref(),
            Ok("http://collector:4318/otlp/v1/traces")
        );
        assert_eq!(
            url("https://c/v1/traces").as_deref(),
            Ok("https://c/v1/traces")
        );
        assert!(traces_url("ftp://c").is_err());
        assert!(traces_url("not a url").is_err());
    }
}
