//! Thin handlers: read the request, call one registry or query function, shape the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use covenant_core::api::{ConfigUpdateRequest, ModeBody, RegisterSchemaRequest, ServerVersion};
use covenant_core::ids::{ContextName, QualifiedSubject, SchemaId};
use covenant_core::schema::supported_types;
use serde_json::json;

use super::params::{self, caller, Params};
use super::{bytes_response, json, AppState};
use crate::error::{Error, Result};
use crate::registry::query::SubjectFilter;
use crate::work;
use std::sync::Arc;

type Data = web::Data<AppState>;

/// The default and largest page of `GET /schemas` and `referencedby`, as Confluent's
/// `schema.search.default.limit` and `schema.search.max.limit`.
const SCHEMA_SEARCH_LIMIT: usize = 1000;
type Reply = Result<HttpResponse>;

// ----------------------------------------------------------------------------- root and metadata

pub async fn root() -> HttpResponse {
    json(&json!({}))
}

/// 200 once the node is in step with its log; 503 while it cannot reach it.
pub async fn ready(data: Data) -> Reply {
    if data.registry.is_ready() {
        Ok(json(&json!({"ready": true, "head": data.registry.head()})))
    } else {
        Err(Error::NotReady(
            "not ready: the node cannot reach its log".into(),
        ))
    }
}

pub async fn metadata_id(data: Data) -> HttpResponse {
    json(&json!({
        "scope": {
            "path": [],
            "clusters": {
                "kafka-cluster": data.registry.cluster_id(),
                "schema-registry-cluster": data.registry.cluster_id(),
            }
        }
    }))
}

pub async fn metadata_version() -> HttpResponse {
    json(&ServerVersion {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit_id: option_env!("COVENANT_COMMIT")
            .unwrap_or("unknown")
            .to_string(),
    })
}

// ----------------------------------------------------------------------------- schemas

pub async fn schema_types() -> HttpResponse {
    let types: Vec<&str> = supported_types().iter().map(|t| t.as_str()).collect();
    json(&types)
}

/// The context a schema-id request searches: the URL prefix, else the `subject` parameter's.
fn id_context(req: &HttpRequest, params: &Params) -> Result<ContextName> {
    let url_context = params::context(req)?;
    match params.get("subject") {
        Some(subject) if !subject.is_empty() => {
            Ok(QualifiedSubject::parse_in(&url_context, subject)?
                .context()
                .clone())
        }
        _ => Ok(url_context),
    }
}

/// The `{id}` segment: anything but an id in range names no schema.
fn id_param(req: &HttpRequest) -> Result<SchemaId> {
    let raw = params::segment(req, "id")?.unwrap_or_default();
    raw.parse::<i64>()
        .ok()
        .and_then(SchemaId::new)
        .ok_or(Error::SchemaNotFound(raw))
}

pub async fn schema_by_id(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let context = id_context(&req, &params)?;
    let id = id_param(&req)?;
    let body = data.registry.schema_by_id(
        &caller(&req),
        &context,
        id,
        params.get("format"),
        params.flag("fetchMaxId")?,
    )?;
    data.registry.metrics().read_id(req.headers(), &context, id);
    Ok(bytes_response(StatusCode::OK, body))
}

pub async fn raw_schema_by_id(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let text = data.registry.raw_schema_by_id(
        &caller(&req),
        &id_context(&req, &params)?,
        id_param(&req)?,
        params.get("format"),
    )?;
    Ok(bytes_response(StatusCode::OK, Bytes::from(text)))
}

pub async fn schema_id_subjects(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subjects = data.registry.id_subjects(
        &caller(&req),
        &id_context(&req, &params)?,
        id_param(&req)?,
        params.flag("deleted")?,
        params.page()?,
    )?;
    Ok(json(&subjects))
}

pub async fn schema_id_versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let versions = data.registry.id_versions(
        &caller(&req),
        &id_context(&req, &params)?,
        id_param(&req)?,
        params.flag("deleted")?,
        params.page()?,
    )?;
    Ok(json(&versions))
}

pub async fn schema_by_guid(req: HttpRequest, data: Data) -> Reply {
    let guid = params::segment(&req, "guid")?.unwrap_or_default();
    let body = data.registry.schema_by_guid(&caller(&req), &guid)?;
    Ok(bytes_response(StatusCode::OK, body))
}

pub async fn schema_guid_ids(req: HttpRequest, data: Data) -> Reply {
    let guid = params::segment(&req, "guid")?.unwrap_or_default();
    Ok(json(&data.registry.guid_ids(&caller(&req), &guid)?))
}

pub async fn list_schemas(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let filter = SubjectFilter::new(None, params.get("subjectPrefix"))?;
    let schemas = data.registry.list_schemas(
        &caller(&req),
        &filter,
        params.flag("deleted")?,
        params.flag("latestOnly")?,
        params.page_limited(Some(SCHEMA_SEARCH_LIMIT))?,
    );
    Ok(json(&schemas))
}

// ----------------------------------------------------------------------------- subjects and versions

pub async fn list_subjects(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let url_context = match params::segment(&req, "context")? {
        Some(_) => Some(params::context(&req)?),
        None => None,
    };
    let filter = SubjectFilter::new(url_context, params.get("subjectPrefix"))?;
    let subjects =
        data.registry
            .list_subjects(&caller(&req), &filter, params.deleted()?, params.page()?);
    Ok(json(&subjects))
}

pub async fn list_versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let versions = data.registry.list_versions(
        &caller(&req),
        &params::subject(&req)?,
        params.deleted()?,
        params.flag("deletedAsNegative")?,
        params.page()?,
    )?;
    Ok(json(&versions))
}

pub async fn get_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let (version, body) = data.registry.get_version_body(
        &caller(&req),
        &subject,
        params::version(&req)?,
        params.flag("deleted")?,
        params.get("format"),
    )?;
    data.registry
        .metrics()
        .read_version(req.headers(), &subject, version);
    Ok(bytes_response(StatusCode::OK, body))
}

/// `GET /metrics`, in the Prometheus text format.
pub async fn metrics(req: HttpRequest, data: Data) -> Reply {
    let page = data.registry.metrics_page(&caller(&req))?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(page))
}

pub async fn raw_schema_by_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let text = data.registry.raw_schema_by_version(
        &caller(&req),
        &params::subject(&req)?,
        params::version(&req)?,
        params.flag("deleted")?,
        params.get("format"),
    )?;
    Ok(bytes_response(StatusCode::OK, Bytes::from(text)))
}

pub async fn referenced_by(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let ids = data.registry.referenced_by(
        &caller(&req),
        &params::subject(&req)?,
        params::version(&req)?,
        params.flag("deleted")?,
        params.page_limited(Some(SCHEMA_SEARCH_LIMIT))?,
    )?;
    Ok(json(&ids))
}

pub async fn latest_with_metadata(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let keys = params.all("key");
    let values = params.all("value");
    if keys.len() != values.len() {
        return Err(Error::BadRequest(format!(
            "{} `key` parameters but {} `value` parameters: they pair by position",
            keys.len(),
            values.len()
        )));
    }
    let pairs: Vec<(&str, &str)> = keys.into_iter().zip(values).collect();
    let schema = data.registry.latest_with_metadata(
        &caller(&req),
        &subject,
        &pairs,
        params.flag("deleted")?,
    )?;
    Ok(json(&schema))
}

pub async fn register(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let request: RegisterSchemaRequest = params::json_body(payload, &data.body).await?;
    let response = data
        .registry
        .register(
            &caller(&req),
            &subject,
            &request,
            params.opt_flag("normalize")?,
        )
        .await?;
    Ok(json(&response))
}

pub async fn tag_version(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let subject = params::subject(&req)?;
    let version = params::version(&req)?;
    let request: covenant_core::api::TagSchemaRequest =
        params::json_body(payload, &data.body).await?;
    let response = data
        .registry
        .tag_version(&caller(&req), &subject, version, &request)
        .await?;
    Ok(json(&response))
}

pub async fn lookup(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let request: RegisterSchemaRequest = params::json_body(payload, &data.body).await?;
    let schema = data.registry.lookup(
        &caller(&req),
        &subject,
        &request,
        params.opt_flag("normalize")?,
        params.flag("deleted")?,
    )?;
    Ok(json(&schema))
}

pub async fn delete_subject(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let versions = data
        .registry
        .delete_subject(
            &caller(&req),
            &params::subject(&req)?,
            params.flag("permanent")?,
        )
        .await?;
    Ok(json(&versions))
}

pub async fn delete_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let deleted = data
        .registry
        .delete_version(
            &caller(&req),
            &params::subject(&req)?,
            params::version(&req)?,
            params.flag("permanent")?,
        )
        .await?;
    Ok(json(&deleted))
}

// ----------------------------------------------------------------------------- compatibility

async fn check(req: HttpRequest, data: Data, payload: web::Payload, with_version: bool) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let version = if with_version {
        Some(params::version(&req)?)
    } else {
        None
    };
    let (normalize, verbose) = (params.opt_flag("normalize")?, params.flag("verbose")?);
    let request: RegisterSchemaRequest = params::json_body(payload, &data.body).await?;
    let (registry, caller) = (Arc::clone(&data.registry), caller(&req));
    let response = work::run(async move {
        registry.check_compatibility(&caller, &subject, version, &request, normalize, verbose)
    })
    .await?;
    Ok(json(&response))
}

pub async fn check_version(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    check(req, data, payload, true).await
}

pub async fn check_all(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    check(req, data, payload, false).await
}

// ----------------------------------------------------------------------------- config and mode

pub async fn get_config(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let config = data.registry.get_config(
        &caller(&req),
        &params::scope(&req)?,
        params.flag("defaultToGlobal")?,
    )?;
    Ok(json(&config))
}

pub async fn put_config(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let scope = params::scope(&req)?;
    let request: ConfigUpdateRequest = params::json_body(payload, &data.body).await?;
    let config = data
        .registry
        .set_config(&caller(&req), &scope, &request)
        .await?;
    Ok(json(&config))
}

pub async fn delete_config(req: HttpRequest, data: Data) -> Reply {
    let previous = data
        .registry
        .delete_config(&caller(&req), &params::scope(&req)?)
        .await?;
    Ok(json(&previous))
}

pub async fn get_mode(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let mode = data.registry.get_mode(
        &caller(&req),
        &params::scope(&req)?,
        params.flag("defaultToGlobal")?,
    )?;
    Ok(json(&ModeBody {
        mode: mode.to_string(),
    }))
}

pub async fn put_mode(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let scope = params::scope(&req)?;
    let request: ModeBody = params::json_body(payload, &data.body).await?;
    let mode = data
        .registry
        .set_mode(&caller(&req), &scope, &request.mode, params.flag("force")?)
        .await?;
    Ok(json(&ModeBody {
        mode: mode.to_string(),
    }))
}

pub async fn delete_mode(req: HttpRequest, data: Data) -> Reply {
    let previous = data
        .registry
        .delete_mode(&caller(&req), &params::scope(&req)?)
        .await?;
    Ok(json(&ModeBody {
        mode: previous.to_string(),
    }))
}

// ----------------------------------------------------------------------------- contexts

pub async fn list_contexts(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let contexts = data.registry.contexts(
        &caller(&req),
        params.get("contextPrefix").unwrap_or(""),
        params.page()?,
    )?;
    Ok(json(&contexts))
}

pub async fn delete_context(req: HttpRequest, data: Data) -> Reply {
    data.registry
        .delete_context(&caller(&req), &params::context(&req)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----------------------------------------------------------------------------- audit

/// `GET /covenant/v1/audit?subject=&principal=&action=&since=&until=&from=&limit=`.
pub async fn audit(req: HttpRequest, data: Data) -> Reply {
    use crate::registry::audit::{parse_time, AuditQuery, ACTIONS, MAX_LIMIT};
    let params = Params::of(&req);
    let now = crate::registry::audit::now_ms();
    let time = |name: &str| -> Result<Option<i64>> {
        match params.get(name) {
            None | Some("") => Ok(None),
            Some(raw) => parse_time(raw, now).map(Some).ok_or_else(|| {
                Error::BadRequest(format!(
                    "invalid value `{raw}` for query parameter `{name}`: expected an RFC 3339 time, milliseconds since the epoch, or a span such as 15m, 24h or 7d"
                ))
            }),
        }
    };
    let mut actions = Vec::new();
    for raw in params.all("action") {
        for action in raw.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if !ACTIONS.contains(&action) {
                return Err(Error::BadRequest(format!(
                    "invalid value `{action}` for query parameter `action`: expected one of {}",
                    ACTIONS.join(", ")
                )));
            }
            actions.push(action.to_string());
        }
    }
    let limit = match params.int("limit")? {
        None => 100,
        Some(n) if n >= 1 && n as u64 <= MAX_LIMIT as u64 => n as usize,
        Some(n) => {
            return Err(Error::BadRequest(format!(
                "invalid value `{n}` for query parameter `limit`: expected 1 to {MAX_LIMIT}"
            )))
        }
    };
    let from = match params.int("from")? {
        None => 0,
        Some(n) if n >= 0 => n as u64,
        Some(n) => {
            return Err(Error::BadRequest(format!(
                "invalid value `{n}` for query parameter `from`: expected an offset, 0 or more"
            )))
        }
    };
    let query = AuditQuery {
        subject_prefix: params
            .get("subject")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        principal: params
            .get("principal")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        actions,
        since: time("since")?,
        until: time("until")?,
        from,
        limit,
    };
    let page = data.registry.audit(&caller(&req), &query).await?;
    Ok(json(&page))
}
