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
pub(super) fn routes(t: &mut super::Table) {
    use super::doc::{op, Kind};
    use super::resource;
    use covenant_core::api::{Association, AssociationResponse};
    let filtered = |d: super::doc::Doc| {
        d.query(
            "resourceType",
            Kind::Text,
            "Only associations of this resource type (`topic`)",
        )
        .query(
            "associationType",
            Kind::Repeated,
            "Only these association types (`key`, `value`)",
        )
        .query(
            "lifecycle",
            Kind::OneOf(&["STRONG", "WEAK"]),
            "Only `STRONG` or `WEAK` associations",
        )
        .paged()
    };
    const INVALID: &[u32] = &[42212, 422];
    const CONFLICT: &[u32] = &[40902, 40903, 40904, 40905, 40907, 40908];
    // A create or an upsert: a request body of associations, answered with the resource's.
    let writes = |d: super::doc::Doc| {
        d.tag("Associations")
            .write()
            .flag("dryRun", "Check only, change nothing")
            .body::<AssociationCreateOrUpdateRequest>()
            .ok::<AssociationResponse>()
            .error(404, &[40401, 40410])
            .error(409, CONFLICT)
            .error(422, INVALID)
    };
    let multi = serde_json::json!({"type": "object"});
    t.add(resource("/associations").post(
        create,
        writes(op(
            "createAssociations",
            "Associates a resource with subjects",
        )),
    ))
    .add(
        resource("/associations:batchGet").post(
            batch_get,
            op("batchGetAssociations", "Associations of several resources")
                .tag("Associations")
                .flag("includeSchemas", "Include each subject's latest schema")
                .body::<serde_json::Map<String, Value>>()
                .ok_inline_with(207, multi.clone())
                .error(422, INVALID),
        ),
    )
    .add(
        resource("/associations:batchMutate").post(
            batch_mutate,
            op(
                "batchMutateAssociations",
                "Several association changes, each answered on its own",
            )
            .tag("Associations")
            .write()
            .flag("dryRun", "Check only, change nothing")
            .body::<serde_json::Map<String, Value>>()
            .ok_inline_with(207, multi)
            .error(422, INVALID),
        ),
    )
    .add(
        resource("/associations/subjects/{subject}").get(
            by_subject,
            filtered(
                op("associationsOfSubject", "The associations of a subject").tag("Associations"),
            )
            .ok::<Vec<Association>>()
            .error(422, INVALID),
        ),
    )
    .add(
        resource("/associations/resources/{id}")
            .get(
                by_id,
                filtered(
                    op(
                        "associationsOfResource",
                        "The associations of a resource, by id",
                    )
                    .tag("Associations"),
                )
                .ok::<Vec<Association>>()
                .error(422, INVALID),
            )
            .put(
                upsert,
                writes(op(
                    "upsertAssociations",
                    "Creates or updates a resource's associations",
                )),
            )
            .delete(
                delete,
                op("deleteAssociations", "Deletes a resource's associations")
                    .tag("Associations")
                    .write()
                    .query("resourceType", Kind::Text, "The resource type (`topic`)")
                    .query(
                        "associationType",
                        Kind::Repeated,
                        "Only these association types",
                    )
                    .flag(
                        "cascadeLifecycle",
                        "Also delete the subjects of STRONG associations",
                    )
                    .flag("dryRun", "Check only, change nothing")
                    .no_content()
                    .error(404, &[40410])
                    .error(409, CONFLICT)
                    .error(422, INVALID),
            ),
    )
    .add(
        resource("/associations/resources/{namespace}/{name}").get(
            by_name,
            filtered(
                op(
                    "associationsOfResourceName",
                    "The associations of a resource, by namespace and name",
                )
                .tag("Associations"),
            )
            .ok::<Vec<Association>>()
            .error(422, INVALID),
        ),
    );
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
