//! The HTTP surface: the route table, responses in the Confluent media type, and the one place
//! where an [`Error`] becomes a `{"error_code", "message"}` body.

mod associations;
pub mod auth;
mod doc;
mod handlers;
mod keys;
pub mod limits;
pub(crate) mod params;
mod semver;

pub use params::BodyLimits;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use covenant_core::api::ErrorMessage;
use serde::Serialize;

use crate::error::Error;
use crate::registry::Registry;

/// The media type every response carries.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What handlers share.
pub struct AppState {
    /// The registry.
    pub registry: Arc<Registry>,
    /// How much of a request body is read, and for how long.
    pub body: params::BodyLimits,
    /// Who callers are (`None`: no authentication, everyone may do everything).
    pub auth: Option<Arc<crate::auth::Authenticator>>,
    /// Request-rate limits.
    pub rates: Option<auth::RequestRates>,
    /// The web console's sessions (`None`: no console).
    pub console: Option<Arc<crate::console::Console>>,
}

/// Registers every route on an actix app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for resource in table().0 {
        cfg.service(resource.inner);
    }
}

/// The OpenAPI 3.1 document of every route the server answers.
pub fn openapi() -> serde_json::Value {
    let table = table();
    doc::openapi(table.0.iter().flat_map(|resource| {
        resource.ops.iter().map(|(method, doc)| doc::Documented {
            path: &resource.path,
            method,
            doc,
        })
    }))
}

/// The route table: each path with its handlers and their documentation, in matching order.
fn table() -> Table {
    use doc::{op, Kind};
    use handlers::*;
    use serde_json::json;
    let mut t = Table(Vec::new());
    // actix tries resources in order, one pattern after another: the routes every serializer
    // calls come first, the context-prefixed copies last.
    context_routes(&mut t, "");
    let empty = json!({"type": "object", "maxProperties": 0});
    t.add(
        resource("/")
            .get(root, op("root", "An empty object (a liveness probe for Confluent clients)").tag("Node").ok_inline(empty.clone()))
            .post(root, op("rootPost", "An empty object").tag("Node").ok_inline(empty.clone())),
    )
    .add(resource("/health/live").get(root, op("live", "200 while the process serves").tag("Node").ok_inline(empty)))
    .add(resource("/health/ready").get(ready, op("ready", "200 once the node is in step with its log").tag("Node")
        .ok_inline(json!({"type": "object", "required": ["ready", "head"], "properties": {"ready": {"type": "boolean"}, "head": {"type": "integer", "minimum": 0}}}))
        .error(503, &[503])))
    .add(resource("/metrics").get(metrics, op("metrics", "Metrics in the Prometheus text format").tag("Node").ok_metrics()))
    .add(resource("/openapi.json").get(openapi_json, op("openapi", "This document").tag("Node").ok_spec()))
    .add(resource("/v1/metadata/id").get(metadata_id, op("metadataId", "The cluster ids").tag("Node").ok_inline(json!({
        "type": "object", "required": ["scope"],
        "properties": {"scope": {"type": "object", "properties": {"path": {"type": "array"}, "clusters": {"type": "object", "additionalProperties": {"type": "string"}}}}}
    }))))
    .add(resource("/v1/metadata/version").get(metadata_version, op("metadataVersion", "The server's version").tag("Node").ok::<covenant_core::api::ServerVersion>()))
    .add(resource("/contexts").get(list_contexts, op("listContexts", "The contexts").tag("Contexts")
        .query("contextPrefix", Kind::Text, "Only contexts starting with this").paged()
        .ok::<Vec<String>>()))
    .add(resource("/contexts/{context}").delete(delete_context, op("deleteContext", "Deletes an empty context").tag("Contexts").write()
        .no_content().error(404, &[40401]).error(422, &[42211])));
    associations::routes(&mut t);
    t.add(resource("/schemas/types").get(schema_types, op("schemaTypes", "The formats").ok::<Vec<String>>()))
    .add(resource("/schemas/guids/{guid}").get(schema_by_guid, op("schemaByGuid", "A schema by its GUID").ok::<covenant_core::api::SchemaString>().error(404, &[40403])))
    .add(resource("/schemas/guids/{guid}/ids").get(schema_guid_ids, op("schemaGuidIds", "The ids of a GUID in each context").ok::<Vec<covenant_core::api::ContextId>>().error(404, &[40403])))
    .add(resource("/schemas").get(list_schemas, op("listSchemas", "Schemas, one entry per subject version")
        .query("subjectPrefix", Kind::Text, "Only subjects starting with this")
        .flag("deleted", "Include soft-deleted versions")
        .flag("latestOnly", "Only each subject's latest version")
        .paged()
        .ok::<Vec<covenant_core::api::Schema>>()))
    .add(resource("/covenant/v1/audit").get(audit, op("audit", "A page of the audit trail (the log of contract events)").tag("Audit")
        .query("subject", Kind::Text, "Only entries of subjects starting with this")
        .query("principal", Kind::Text, "Only entries by this principal")
        .query("action", Kind::Repeated, "Only these actions (repeated or comma-separated)")
        .query("since", Kind::Text, "Entries at or after: RFC 3339, ms since the epoch, or a span before now (15m, 24h, 7d)")
        .query("until", Kind::Text, "Entries before: as `since`")
        .query("from", Kind::Int, "The log offset to start at")
        .query("limit", Kind::Int, "Entries at most (1 to 1000, default 100)")
        .ok::<covenant_core::api::AuditPage>()));
    semver::routes(&mut t);
    keys::routes(&mut t);
    context_routes(&mut t, "/contexts/{context}");
    t
}

/// The routes that exist both at the root and under a `/contexts/{context}` prefix.
fn context_routes(t: &mut Table, prefix: &str) {
    use covenant_core::api::{
        CompatibilityCheckResponse, Config, ConfigUpdateRequest, ModeBody, RegisterSchemaRequest,
        RegisterSchemaResponse, Schema, SchemaString, SubjectVersion, TagSchemaRequest,
    };
    use doc::{op, Kind};
    use handlers::*;
    let at = |path: &str| resource(&format!("{prefix}{path}"));
    const SCHEMA_404: &[u32] = &[40403];
    const SUBJECT_404: &[u32] = &[40401];
    const VERSION_404: &[u32] = &[40401, 40402];
    const SCHEMA_422: &[u32] = &[42201, 42202, 42205, 42208, 42209, 42210, 422];
    let id_query = |d: doc::Doc| {
        d.query(
            "subject",
            Kind::Text,
            "A subject whose context the id is looked up in",
        )
    };
    let format = "`resolved` (Avro: references inlined) or `serialized` (Protobuf: a base64 FileDescriptorProto), `ignore_extensions`";
    t.add(at("/schemas/ids/{id}").get(schema_by_id, id_query(op("getSchemaById", "A schema by its id"))
        .query("format", Kind::Text, format)
        .flag("fetchMaxId", "Also answer the highest id")
        .ok::<SchemaString>().error(404, SCHEMA_404).error(422, &[422])))
    .add(at("/schemas/ids/{id}/schema").get(raw_schema_by_id, id_query(op("getSchemaTextById", "A schema's text by its id"))
        .query("format", Kind::Text, format)
        .ok_schema_text().error(404, SCHEMA_404).error(422, &[422])))
    .add(at("/schemas/ids/{id}/subjects").get(schema_id_subjects, id_query(op("getSubjectsById", "The subjects using a schema id"))
        .flag("deleted", "Include soft-deleted versions").paged()
        .ok::<Vec<String>>().error(404, SCHEMA_404)))
    .add(at("/schemas/ids/{id}/versions").get(schema_id_versions, id_query(op("getVersionsById", "The subject versions using a schema id"))
        .flag("deleted", "Include soft-deleted versions").paged()
        .ok::<Vec<SubjectVersion>>().error(404, SCHEMA_404)))
    .add(at("/subjects").get(list_subjects, op("listSubjects", "The subjects").tag("Subjects")
        .query("subjectPrefix", Kind::Text, "Only subjects starting with this")
        .flag("deleted", "Include soft-deleted subjects")
        .flag("deletedOnly", "Only soft-deleted subjects").paged()
        .ok::<Vec<String>>()))
    .add(at("/subjects/{subject}")
        .post(lookup, op("lookUpSchema", "Whether a schema is registered under a subject, and as which version").tag("Subjects")
            .flag("normalize", "Normalize the schema first").flag("deleted", "Also find soft-deleted versions")
            .body::<RegisterSchemaRequest>()
            .ok::<Schema>().error(404, &[40401, 40403]).error(422, SCHEMA_422))
        .delete(delete_subject, op("deleteSubject", "Deletes a subject (soft, or permanently after a soft delete)").tag("Subjects").write()
            .flag("permanent", "Delete permanently")
            .ok::<Vec<i32>>().error(404, &[40401, 40404, 40405]).error(422, &[42205, 42206])))
    .add(at("/subjects/{subject}/metadata").get(latest_with_metadata, op("latestWithMetadata", "The latest version whose metadata has these properties").tag("Subjects")
        .query("key", Kind::Repeated, "A metadata property name, paired by position with `value`")
        .query("value", Kind::Repeated, "The value of the `key` at the same position")
        .flag("deleted", "Include soft-deleted versions")
        .ok::<Schema>().error(404, &[40401, 40403])))
    .add(at("/subjects/{subject}/versions")
        .get(list_versions, op("listVersions", "The versions of a subject").tag("Subjects")
            .flag("deleted", "Include soft-deleted versions").flag("deletedOnly", "Only soft-deleted versions")
            .flag("deletedAsNegative", "Soft-deleted versions as negative numbers").paged()
            .ok::<Vec<i32>>().error(404, SUBJECT_404))
        .post(register, op("registerSchema", "Registers a schema as the next version of a subject (or answers the version it already is)").tag("Subjects").write()
            .flag("normalize", "Normalize the schema first")
            .body::<RegisterSchemaRequest>()
            .ok::<RegisterSchemaResponse>()
            .error(409, &[409, 40901]).error(404, &[40401]).error(422, &[42201, 42205, 42207, 42208, 42209, 42210, 422])
            .link("GetSchemaById", "getSchemaById", &[("id", "$response.body#/id")])
            .link("GetVersion", "getVersion", &[("subject", "$request.path.subject"), ("version", "$response.body#/version")])
            .link("ListVersions", "listVersions", &[("subject", "$request.path.subject")])
            .link("DeleteVersion", "deleteVersion", &[("subject", "$request.path.subject"), ("version", "$response.body#/version")])))
    .add(at("/subjects/{subject}/versions/{version}")
        .get(get_version, op("getVersion", "A version of a subject").tag("Subjects")
            .flag("deleted", "Also find a soft-deleted version").query("format", Kind::Text, format)
            .ok::<Schema>().error(404, VERSION_404).error(422, &[42202, 422]))
        .delete(delete_version, op("deleteVersion", "Deletes a version (soft, or permanently after a soft delete)").tag("Subjects").write()
            .flag("permanent", "Delete permanently")
            .ok::<i32>().error(404, &[40401, 40402, 40406, 40407]).error(422, &[42202, 42205, 42206])))
    .add(at("/subjects/{subject}/versions/{version}/schema").get(raw_schema_by_version, op("getVersionSchemaText", "A version's schema text").tag("Subjects")
        .flag("deleted", "Also find a soft-deleted version").query("format", Kind::Text, format)
        .ok_schema_text().error(404, VERSION_404).error(422, &[42202, 422])))
    .add(at("/subjects/{subject}/versions/{version}/referencedby").get(referenced_by, op("referencedBy", "The ids of the schemas that reference a version").tag("Subjects")
        .flag("deleted", "Include soft-deleted referrers").paged()
        .ok::<Vec<i32>>().error(404, VERSION_404).error(422, &[42202])))
    .add(at("/subjects/{subject}/versions/{version}/tags").post(tag_version, op("tagVersion", "Registers a new version with schema tags added or removed").tag("Subjects").write()
        .body::<TagSchemaRequest>()
        .ok::<RegisterSchemaResponse>().error(404, VERSION_404).error(409, &[409, 40901]).error(422, &[42201, 42202, 42205, 42210, 422])))
    .add(at("/compatibility/subjects/{subject}/versions").post(check_all, op("checkCompatibility", "Checks a schema against the versions a registration would be checked against").tag("Compatibility")
        .flag("normalize", "Normalize the schema first").flag("verbose", "Say why it is incompatible")
        .body::<RegisterSchemaRequest>()
        .ok::<CompatibilityCheckResponse>().error(404, &[40401]).error(422, SCHEMA_422)))
    .add(at("/compatibility/subjects/{subject}/versions/{version}").post(check_version, op("checkCompatibilityWithVersion", "Checks a schema against one version").tag("Compatibility")
        .flag("normalize", "Normalize the schema first").flag("verbose", "Say why it is incompatible")
        .body::<RegisterSchemaRequest>()
        .ok::<CompatibilityCheckResponse>().error(404, VERSION_404).error(422, SCHEMA_422)));
    for (path, scope) in [("/config", "Global"), ("/config/{subject}", "Subject")] {
        let (get, put, delete) = if scope == "Global" {
            ("getConfig", "setConfig", "deleteConfig")
        } else {
            (
                "getSubjectConfig",
                "setSubjectConfig",
                "deleteSubjectConfig",
            )
        };
        t.add(at(path)
            .get(get_config, op(get, "The compatibility config (the subject's own, or with defaultToGlobal the one in force)").tag("Config")
                .flag("defaultToGlobal", "Answer the config in force when the subject has none")
                .ok::<Config>().error(404, &[40401, 40408]))
            .put(put_config, op(put, "Sets the compatibility config").tag("Config").write()
                .body::<ConfigUpdateRequest>()
                .ok::<ConfigUpdateRequest>().error(422, &[42203, 42208, 42210, 422]))
            .delete(delete_config, op(delete, "Removes the config, answering what it was").tag("Config").write()
                .ok::<Config>().error(404, &[40401, 40408])));
    }
    for (path, scope) in [("/mode", "Global"), ("/mode/{subject}", "Subject")] {
        let (get, put, delete) = if scope == "Global" {
            ("getMode", "setMode", "deleteMode")
        } else {
            ("getSubjectMode", "setSubjectMode", "deleteSubjectMode")
        };
        t.add(
            at(path)
                .get(
                    get_mode,
                    op(
                        get,
                        "The mode (the subject's own, or with defaultToGlobal the one in force)",
                    )
                    .tag("Mode")
                    .flag(
                        "defaultToGlobal",
                        "Answer the mode in force when the subject has none",
                    )
                    .ok::<ModeBody>()
                    .error(404, &[40401, 40409]),
                )
                .put(
                    put_mode,
                    op(put, "Sets the mode")
                        .tag("Mode")
                        .write()
                        .flag("force", "Set IMPORT even though schemas exist")
                        .body::<ModeBody>()
                        .ok::<ModeBody>()
                        .error(422, &[42204, 42205, 42208, 422]),
                )
                .delete(
                    delete_mode,
                    op(delete, "Removes the mode, answering what it was")
                        .tag("Mode")
                        .write()
                        .ok::<ModeBody>()
                        .error(404, &[40401, 40409]),
                ),
        );
    }
}

/// The routes of the metrics listener.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/metrics")
            .get(
                handlers::metrics,
                doc::op("metrics", "Metrics").ok_metrics(),
            )
            .finish()
            .inner,
    );
}

/// The route table under construction.
struct Table(Vec<Resource>);

impl Table {
    fn add(&mut self, resource: Resource) -> &mut Table {
        self.0.push(resource.finish());
        self
    }
}

/// `GET /openapi.json`.
async fn openapi_json() -> HttpResponse {
    static SPEC: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body =
        SPEC.get_or_init(|| Bytes::from(serde_json::to_vec_pretty(&openapi()).unwrap_or_default()));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

/// A resource whose other methods answer 405 in the Confluent shape (once finished).
fn resource(path: &str) -> Resource {
    Resource {
        path: path.to_string(),
        inner: web::resource(path),
        ops: Vec::new(),
    }
}

/// A path, its handlers, and their documentation.
struct Resource {
    path: String,
    inner: actix_web::Resource,
    ops: Vec<(&'static str, doc::Doc)>,
}

macro_rules! method {
    ($name:ident, $route:path) => {
        fn $name<F, Args>(mut self, handler: F, doc: doc::Doc) -> Self
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            self.inner = self.inner.route($route().to(handler));
            self.ops.push((stringify!($name), doc));
            self
        }
    };
}

impl Resource {
    /// The resource with its other methods answering 405 and an `Allow` header naming its own
    /// (RFC 9110).
    fn finish(mut self) -> Resource {
        let allow = self
            .ops
            .iter()
            .map(|(method, _)| method.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(", ");
        self.inner = self.inner.default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move {
                let mut response = method_not_allowed(req).error_response();
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }));
        self
    }

    method!(get, web::get);
    method!(post, web::post);
    method!(put, web::put);
    method!(delete, web::delete);
}

fn method_not_allowed(req: HttpRequest) -> Error {
    Error::MethodNotAllowed(format!("{} {}", req.method(), req.path()))
}

/// The answer for a path no route matches.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::NoRoute(format!("{} {}", req.method(), req.path())))
}

/// Answers 429 and closes a connection its source opened past the per-source limit, before the
/// request's body is read.
pub async fn limit_sources(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let over = req
        .conn_data::<limits::Connection>()
        .is_some_and(|connection| connection.over_limit);
    if over {
        let peer = req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let mut response = Error::TooManyConnections(peer).error_response();
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Refuses a path whose percent-escapes do not decode to UTF-8 (`%ff`): the router would decode
/// them lossily, so that `%fe`, `%ff` and `%c0` would all name `\u{fffd}`.
pub async fn refuse_bad_escapes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let path = req.uri().path();
    if path.contains('%')
        && percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .is_err()
    {
        let error = Error::BadRequest(format!(
            "the path `{path}` has percent-escapes that are not valid UTF-8"
        ));
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The outermost layer of every request: gives it a request id (the caller's `X-Request-Id`
/// when it is a sensible one, else a new one) echoed in the response, runs it in a `request`
/// span (a child of the caller's W3C `traceparent` when traces are exported) so that every log
/// line it causes carries the id, counts it in the HTTP metrics by route template, and logs it
/// with its status and latency.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = crate::telemetry::request_id(
        req.headers()
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok()),
    );
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|data| Arc::clone(data.registry.metrics()));
    if let Some(metrics) = &metrics {
        metrics.request_started();
    }
    let method = req.method().clone();
    // A read (GET) that succeeds is logged at debug, and its span is a debug span unless traces
    // are exported; everything else (writes, refusals, failures) at info. The reads a fleet of
    // serializers sends would otherwise cost more in log lines and spans than in answers.
    let read = method == actix_web::http::Method::GET;
    let span = crate::telemetry::request_span(
        &request_id,
        method.as_str(),
        req.headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok()),
        read,
    );
    let result = tracing::Instrument::instrument(next.call(req), span.clone()).await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            if let Some(metrics) = &metrics {
                metrics.request_ended(None, method.as_str(), 500, started.elapsed());
            }
            return Err(error);
        }
    };
    let status = response.status().as_u16();
    let route = response.request().match_pattern();
    if let Some(metrics) = &metrics {
        metrics.request_ended(route.as_deref(), method.as_str(), status, started.elapsed());
    }
    crate::telemetry::end_request_span(&span, method.as_str(), route.as_deref(), status);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let quiet = read && status < 400;
    let logged = if quiet {
        tracing::enabled!(target: "covenant::request", tracing::Level::DEBUG)
    } else {
        tracing::enabled!(target: "covenant::request", tracing::Level::INFO)
    };
    if logged {
        let _entered = span.enter();
        let path = response.request().path();
        let route = route.as_deref().unwrap_or("unmatched");
        let micros = started.elapsed().as_micros() as u64;
        // The line names the request id itself when the request ran without a span.
        let request_id = span.is_disabled().then_some(request_id.as_str());
        let error = response
            .response()
            .extensions()
            .get::<ErrorText>()
            .map(|text| text.0.clone());
        if status >= 500 {
            tracing::error!(target: "covenant::request", request_id, %method, path, route, status, micros, error, "request failed");
        } else if quiet {
            tracing::debug!(target: "covenant::request", request_id, %method, path, route, status, micros);
        } else {
            tracing::info!(target: "covenant::request", request_id, %method, path, route, status, micros);
        }
    }
    Ok(response)
}

/// The request-id header, in and out.
pub const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// A JSON response with status 200.
pub fn json<T: Serialize>(value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => bytes_response(StatusCode::OK, Bytes::from(body)),
        Err(e) => Error::Internal(format!("cannot encode the response: {e}")).error_response(),
    }
}

/// A prepared JSON body with a status.
pub fn bytes_response(status: StatusCode, body: Bytes) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .body(body)
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = ErrorMessage {
            error_code: self.code().code(),
            message: self.to_string(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = bytes_response(status, Bytes::from(bytes));
        if status.is_server_error() {
            // `observe` logs it with the request (its id, route and latency).
            response
                .extensions_mut()
                .insert(ErrorText(self.to_string()));
        }
        response
    }
}

/// The message of a server error, for the request's log line.
struct ErrorText(String);

#[cfg(test)]
mod tests {
    use covenant_core::error::ErrorCode;

    /// Every `error_code` the document lists under a status is one that travels with that
    /// status (Confluent's convention: 40470 with 404, 42271 with 422), so a client reading the
    /// document, or schemathesis checking answers against it, is never told the wrong pairing.
    #[test]
    fn the_documented_error_codes_travel_with_their_status() {
        let spec = super::openapi();
        let mut checked = 0;
        for (path, operations) in spec["paths"].as_object().expect("paths") {
            for (method, operation) in operations.as_object().expect("operations") {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let schema = &response["content"][super::CONTENT_TYPE]["schema"];
                    let Some(codes) = schema["properties"]["error_code"]["enum"].as_array() else {
                        continue;
                    };
                    for code in codes {
                        let code = code.as_u64().expect("a numeric code") as u32;
                        let travels_with = ErrorCode::from_code(code)
                            .map(ErrorCode::http_status)
                            .unwrap_or(code as u16);
                        assert_eq!(
                            travels_with.to_string(),
                            *status,
                            "{method} {path}: error_code {code} is listed under {status}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(
            checked > 300,
            "only {checked} codes were found in the document"
        );
    }
}
