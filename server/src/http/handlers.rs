//! Thin handlers: read the request, call one registry or query function, shape the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use covenant_core::api::{
    ConfigUpdateRequest, ContextId, ModeBody, RegisterSchemaRequest, ServerVersion,
};
use covenant_core::ids::{ContextName, QualifiedSubject};
use covenant_core::schema::supported_types;
use serde_json::json;

use super::params::{self, Params};
use super::{bytes_response, json, AppState};
use crate::error::{Error, Result};
use crate::queries::{self, SubjectFilter};

type Data = web::Data<AppState>;
type Reply = Result<HttpResponse>;

// ----------------------------------------------------------------------------- root and metadata

pub async fn root() -> HttpResponse {
    json(&json!({}))
}

/// 200 once the node is in step with its log; 503 while it cannot reach it.
pub async fn ready(data: Data) -> Reply {
    if data.registry.is_ready() {
        Ok(json(
            &json!({"ready": true, "head": data.registry.state().head()}),
        ))
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

pub async fn associations(req: HttpRequest) -> Reply {
    Err(Error::AssociationNotFound(
        req.path().trim_start_matches("/associations").to_string(),
    ))
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

fn id_param(req: &HttpRequest) -> Result<i32> {
    let raw = params::segment(req, "id").unwrap_or_default();
    raw.parse().map_err(|_| Error::SchemaNotFound(raw))
}

pub async fn schema_by_id(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let context = id_context(&req, &params)?;
    let id = id_param(&req)?;
    let state = data.registry.state();
    let record = queries::schema_by_id(&state, &context, id)?;
    let rendered = queries::render(&state, &context, record, params.get("format"))?;
    let fetch_max_id = params.flag("fetchMaxId")?;
    if rendered.is_none() && !fetch_max_id {
        // The common case: the body prepared at registration.
        return Ok(bytes_response(StatusCode::OK, record.id_body.clone()));
    }
    let mut body = record.schema_string();
    if let Some(text) = rendered {
        body.schema = text;
    }
    if fetch_max_id {
        body.max_id = state.context(&context).map(|c| c.max_id);
    }
    Ok(json(&body))
}

pub async fn raw_schema_by_id(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let context = id_context(&req, &params)?;
    let id = id_param(&req)?;
    let state = data.registry.state();
    let record = queries::schema_by_id(&state, &context, id)?;
    let text = queries::render(&state, &context, record, params.get("format"))?
        .unwrap_or_else(|| record.schema.clone());
    Ok(bytes_response(StatusCode::OK, Bytes::from(text)))
}

pub async fn schema_id_subjects(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let context = id_context(&req, &params)?;
    let id = id_param(&req)?;
    let state = data.registry.state();
    let subjects = queries::id_subjects(&state, &context, id, params.flag("deleted")?, None)?;
    Ok(json(&params.page(subjects)?))
}

pub async fn schema_id_versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let context = id_context(&req, &params)?;
    let id = id_param(&req)?;
    let state = data.registry.state();
    let versions = queries::id_versions(&state, &context, id, params.flag("deleted")?, None)?;
    Ok(json(&params.page(versions)?))
}

pub async fn schema_by_guid(req: HttpRequest, data: Data) -> Reply {
    let guid = params::segment(&req, "guid").unwrap_or_default();
    let state = data.registry.state();
    match state.schema_by_guid(&guid) {
        Some((context, record)) if queries::schema_by_id(&state, context, record.id).is_ok() => {
            Ok(bytes_response(StatusCode::OK, record.id_body.clone()))
        }
        _ => Err(Error::SchemaNotFound(guid)),
    }
}

pub async fn schema_guid_ids(req: HttpRequest, data: Data) -> Reply {
    let guid = params::segment(&req, "guid").unwrap_or_default();
    let state = data.registry.state();
    match state.schema_by_guid(&guid) {
        Some((context, record)) => Ok(json(&[ContextId {
            context: context.to_string(),
            id: record.id,
        }])),
        None => Err(Error::SchemaNotFound(guid)),
    }
}

pub async fn list_schemas(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let filter = SubjectFilter::new(None, params.get("subjectPrefix"))?;
    let state = data.registry.state();
    let schemas = queries::list_schemas(
        &state,
        &filter,
        params.flag("deleted")?,
        params.flag("latestOnly")?,
    );
    Ok(json(&params.page(schemas)?))
}

// ----------------------------------------------------------------------------- subjects and versions

pub async fn list_subjects(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let url_context = match params::segment(&req, "context") {
        Some(_) => Some(params::context(&req)?),
        None => None,
    };
    let filter = SubjectFilter::new(url_context, params.get("subjectPrefix"))?;
    let state = data.registry.state();
    let subjects = queries::list_subjects(
        &state,
        &filter,
        params.flag("deleted")?,
        params.flag("deletedOnly")?,
    );
    Ok(json(&params.page(subjects)?))
}

pub async fn list_versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let state = data.registry.state();
    let versions = queries::list_versions(
        &state,
        &subject,
        params.flag("deleted")?,
        params.flag("deletedOnly")?,
        params.flag("deletedAsNegative")?,
    )?;
    Ok(json(&params.page(versions)?))
}

pub async fn get_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let version = params::version(&req)?;
    let state = data.registry.state();
    let mut schema = queries::get_version(&state, &subject, version, params.flag("deleted")?)?;
    if let Some(record) = state.schema(subject.context(), schema.id) {
        if let Some(text) =
            queries::render(&state, subject.context(), record, params.get("format"))?
        {
            schema.schema = text;
        }
    }
    Ok(json(&schema))
}

pub async fn raw_schema_by_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let version = params::version(&req)?;
    let state = data.registry.state();
    let schema = queries::get_version(&state, &subject, version, params.flag("deleted")?)?;
    let text = match state.schema(subject.context(), schema.id) {
        Some(record) => queries::render(&state, subject.context(), record, params.get("format"))?,
        None => None,
    };
    Ok(bytes_response(
        StatusCode::OK,
        Bytes::from(text.unwrap_or(schema.schema)),
    ))
}

pub async fn referenced_by(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let version = params::version(&req)?;
    let state = data.registry.state();
    let (version, _) = state.version(&subject, version, params.flag("deleted")?)?;
    Ok(json(&params.page(state.referenced_by(&subject, version))?))
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
    let state = data.registry.state();
    let schema = queries::latest_with_metadata(&state, &subject, &pairs, params.flag("deleted")?)?;
    Ok(json(&schema))
}

pub async fn register(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let request: RegisterSchemaRequest = params::json_body(payload, data.max_body_bytes).await?;
    let response = data
        .registry
        .register(&subject, &request, params.opt_flag("normalize")?)
        .await?;
    Ok(json(&response))
}

pub async fn lookup(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let request: RegisterSchemaRequest = params::json_body(payload, data.max_body_bytes).await?;
    let schema = data.registry.lookup(
        &subject,
        &request,
        params.opt_flag("normalize")?,
        params.flag("deleted")?,
    )?;
    Ok(json(&schema))
}

pub async fn delete_subject(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let versions = data
        .registry
        .delete_subject(&subject, params.flag("permanent")?)
        .await?;
    Ok(json(&versions))
}

pub async fn delete_version(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let version = params::version(&req)?;
    let deleted = data
        .registry
        .delete_version(&subject, version, params.flag("permanent")?)
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
    let request: RegisterSchemaRequest = params::json_body(payload, data.max_body_bytes).await?;
    let response = data.registry.check_compatibility(
        &subject,
        version,
        &request,
        params.opt_flag("normalize")?,
        params.flag("verbose")?,
    )?;
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
    let scope = params::scope(&req)?;
    let config = data
        .registry
        .get_config(&scope, params.flag("defaultToGlobal")?)?;
    Ok(json(&config))
}

pub async fn put_config(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let scope = params::scope(&req)?;
    let request: ConfigUpdateRequest = params::json_body(payload, data.max_body_bytes).await?;
    let config = data.registry.set_config(&scope, &request).await?;
    Ok(json(&config))
}

pub async fn delete_config(req: HttpRequest, data: Data) -> Reply {
    let scope = params::scope(&req)?;
    let previous = data.registry.delete_config(&scope).await?;
    Ok(json(&previous))
}

pub async fn get_mode(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let scope = params::scope(&req)?;
    let mode = data
        .registry
        .get_mode(&scope, params.flag("defaultToGlobal")?)?;
    Ok(json(&ModeBody {
        mode: mode.to_string(),
    }))
}

pub async fn put_mode(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let scope = params::scope(&req)?;
    let request: ModeBody = params::json_body(payload, data.max_body_bytes).await?;
    let mode = data
        .registry
        .set_mode(&scope, &request.mode, params.flag("force")?)
        .await?;
    Ok(json(&ModeBody {
        mode: mode.to_string(),
    }))
}

pub async fn delete_mode(req: HttpRequest, data: Data) -> Reply {
    let scope = params::scope(&req)?;
    let previous = data.registry.delete_mode(&scope).await?;
    Ok(json(&ModeBody {
        mode: previous.to_string(),
    }))
}

// ----------------------------------------------------------------------------- contexts

pub async fn list_contexts(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let state = data.registry.state();
    let prefix = params.get("contextPrefix").unwrap_or("");
    let contexts: Vec<String> = queries::contexts(&state)
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .collect();
    Ok(json(&params.page(contexts)?))
}

pub async fn delete_context(req: HttpRequest, data: Data) -> Reply {
    let context = params::context(&req)?;
    data.registry.delete_context(&context).await?;
    Ok(HttpResponse::NoContent().finish())
}
