//! The HTTP surface: the route table, responses in the Confluent media type, and the one place
//! where an [`Error`] becomes a `{"error_code", "message"}` body.

mod associations;
pub mod auth;
mod handlers;
mod keys;
pub mod limits;
mod params;
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
}

/// Registers every route on an actix app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.service(resource("/").get(root).post(root))
        .service(resource("/health/live").get(root))
        .service(resource("/health/ready").get(ready))
        .service(resource("/v1/metadata/id").get(metadata_id))
        .service(resource("/v1/metadata/version").get(metadata_version))
        .service(resource("/contexts").get(list_contexts))
        .service(resource("/contexts/{context}").delete(delete_context))
        .configure(associations::configure)
        .service(resource("/schemas/types").get(schema_types))
        .service(resource("/schemas/guids/{guid}").get(schema_by_guid))
        .service(resource("/schemas/guids/{guid}/ids").get(schema_guid_ids))
        .service(resource("/schemas").get(list_schemas))
        .service(resource("/covenant/v1/audit").get(audit))
        .configure(semver::configure)
        .configure(keys::configure)
        .service(context_routes(web::scope("/contexts/{context}")))
        .service(context_routes(web::scope("")));
}

/// The routes that exist both at the root and under a `/contexts/{context}` prefix.
fn context_routes(scope: actix_web::Scope) -> actix_web::Scope {
    use handlers::*;
    scope
        .service(resource("/schemas/ids/{id}").get(schema_by_id))
        .service(resource("/schemas/ids/{id}/schema").get(raw_schema_by_id))
        .service(resource("/schemas/ids/{id}/subjects").get(schema_id_subjects))
        .service(resource("/schemas/ids/{id}/versions").get(schema_id_versions))
        .service(resource("/subjects").get(list_subjects))
        .service(
            resource("/subjects/{subject}")
                .post(lookup)
                .delete(delete_subject),
        )
        .service(resource("/subjects/{subject}/metadata").get(latest_with_metadata))
        .service(
            resource("/subjects/{subject}/versions")
                .get(list_versions)
                .post(register),
        )
        .service(
            resource("/subjects/{subject}/versions/{version}")
                .get(get_version)
                .delete(delete_version),
        )
        .service(
            resource("/subjects/{subject}/versions/{version}/schema").get(raw_schema_by_version),
        )
        .service(resource("/subjects/{subject}/versions/{version}/referencedby").get(referenced_by))
        .service(resource("/subjects/{subject}/versions/{version}/tags").post(tag_version))
        .service(resource("/compatibility/subjects/{subject}/versions").post(check_all))
        .service(
            resource("/compatibility/subjects/{subject}/versions/{version}").post(check_version),
        )
        .service(
            resource("/config")
                .get(get_config)
                .put(put_config)
                .delete(delete_config),
        )
        .service(
            resource("/config/{subject}")
                .get(get_config)
                .put(put_config)
                .delete(delete_config),
        )
        .service(
            resource("/mode")
                .get(get_mode)
                .put(put_mode)
                .delete(delete_mode),
        )
        .service(
            resource("/mode/{subject}")
                .get(get_mode)
                .put(put_mode)
                .delete(delete_mode),
        )
}

/// A resource whose other methods answer 405 in the Confluent shape.
fn resource(path: &str) -> Resource {
    Resource(web::resource(path).default_service(web::to(method_not_allowed)))
}

/// A thin builder over `actix_web::Resource` to keep the route table one line per path.
struct Resource(actix_web::Resource);

macro_rules! method {
    ($name:ident, $route:path) => {
        fn $name<F, Args>(self, handler: F) -> Self
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            Resource(self.0.route($route().to(handler)))
        }
    };
}

impl Resource {
    method!(get, web::get);
    method!(post, web::post);
    method!(put, web::put);
    method!(delete, web::delete);
}

impl actix_web::dev::HttpServiceFactory for Resource {
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.0.register(config)
    }
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::MethodNotAllowed(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
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

/// Logs each request with its status and latency.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !tracing::enabled!(target: "covenant::request", tracing::Level::INFO) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let response = next.call(req).await?;
    tracing::info!(
        target: "covenant::request",
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
    Ok(response)
}

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
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = ErrorMessage {
            error_code: self.code().code(),
            message: self.to_string(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        bytes_response(status, Bytes::from(bytes))
    }
}
