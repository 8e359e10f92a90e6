//! `/associations`: thin handlers over `Registry`'s association methods.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use covenant_core::api::AssociationCreateOrUpdateRequest;
use serde_json::Value;

use super::params::{self, caller, Params};
use super::{bytes_response, json, AppState};
use crate::error::{Error, Result};
use crate::registry::associations::AssociationFilter;

type Data = web::Data<AppState>;
type Reply = Result<HttpResponse>;

/// Registers the associations' routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource("/associations").post(create))
        .service(resource("/associations:batchGet").post(batch_get))
        .service(resource("/associations:batchMutate").post(batch_mutate))
        .service(resource("/associations/subjects/{subject}").get(by_subject))
        .service(
            resource("/associations/resources/{id}")
                .get(by_id)
                .put(upsert)
                .delete(delete),
        )
        .service(resource("/associations/resources/{namespace}/{name}").get(by_name));
}

fn filter(params: &Params) -> Result<AssociationFilter> {
    Ok(AssociationFilter {
        resource_type: params
            .get("resourceType")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        association_types: params
            .all("associationType")
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        lifecycle: match params.get("lifecycle") {
            None | Some("") => None,
            Some(raw) => Some(raw.parse().map_err(|e: String| Error::BadRequest(e))?),
        },
    })
}

fn multi_status(value: &Value) -> HttpResponse {
    bytes_response(
        StatusCode::MULTI_STATUS,
        bytes::Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

async fn by_subject(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.associations_of_subject(
        &caller(&req),
        &params::subject(&req)?,
        &filter(&params)?,
        params.page_limited(Some(1000))?,
    )?))
}

async fn by_name(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.associations_of_resource_name(
        &caller(&req),
        &params::segment(&req, "namespace")?.unwrap_or_default(),
        &params::segment(&req, "name")?.unwrap_or_default(),
        &filter(&params)?,
        params.page_limited(Some(1000))?,
    )))
}

async fn by_id(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.associations_of_resource_id(
        &caller(&req),
        &params::segment(&req, "id")?.unwrap_or_default(),
        &filter(&params)?,
        params.page_limited(Some(1000))?,
    )))
}

async fn create(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let body: AssociationCreateOrUpdateRequest = params::json_body(payload, &data.body).await?;
    let response = data
        .registry
        .write_association(&caller(&req), &body, true, params.flag("dryRun")?)
        .await?;
    Ok(json(&response))
}

async fn upsert(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let mut body: AssociationCreateOrUpdateRequest = params::json_body(payload, &data.body).await?;
    let id = params::segment(&req, "id")?.unwrap_or_default();
    match &body.resource_id {
        None => body.resource_id = Some(id),
        Some(given) if *given == id => {}
        Some(_) => {
            return Err(Error::InvalidAssociation {
                property: "resourceId".into(),
                detail: "Resource ID in the path parameter does not match the resource ID in the request body".into(),
            })
        }
    }
    let response = data
        .registry
        .write_association(&caller(&req), &body, false, params.flag("dryRun")?)
        .await?;
    Ok(json(&response))
}

async fn delete(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let filter = filter(&params)?;
    data.registry
        .delete_associations(
            &caller(&req),
            &params::segment(&req, "id")?.unwrap_or_default(),
            filter.resource_type.as_deref().unwrap_or("topic"),
            &filter.association_types,
            params.flag("cascadeLifecycle")?,
            params.flag("dryRun")?,
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

async fn batch_get(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let body: Value = params::json_body(payload, &data.body).await?;
    let value = data.registry.batch_get_associations(
        &caller(&req),
        &body,
        params.flag("includeSchemas")?,
    )?;
    Ok(multi_status(&value))
}

async fn batch_mutate(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let body: Value = params::json_body(payload, &data.body).await?;
    let value = data
        .registry
        .batch_mutate_associations(&caller(&req), &body, params.flag("dryRun")?)
        .await?;
    Ok(multi_status(&value))
}
