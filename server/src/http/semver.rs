//! `/covenant/v1/subjects/{subject}/...`: semantic versions, thin handlers over `Registry`.

use actix_web::{web, HttpRequest};
use covenant_core::api::RegisterSchemaRequest;

use super::params::{self, caller, Params};
use super::{json, AppState};
use crate::error::{Error, Result};

type Data = web::Data<AppState>;
type Reply = Result<actix_web::HttpResponse>;

/// Registers the routes.
pub(super) fn routes(t: &mut super::Table) {
    use super::doc::{op, Kind};
    use super::resource;
    use covenant_core::api::VersionSemver;
    t.add(
        resource("/covenant/v1/subjects/{subject}/versions").get(
            versions,
            op(
                "semanticVersions",
                "Every version of a subject with its semantic version",
            )
            .tag("Semantic versions")
            .flag("deleted", "Include soft-deleted versions")
            .ok::<Vec<VersionSemver>>()
            .error(404, &[40401]),
        ),
    )
    .add(
        resource("/covenant/v1/subjects/{subject}/semver")
            .get(
                resolve,
                op(
                    "resolveSemanticVersion",
                    "The highest version matching a semver requirement",
                )
                .tag("Semantic versions")
                .query(
                    "requirement",
                    Kind::Text,
                    "A semver requirement (`^2`, `~2.3`, `>=1.4, <2`)",
                )
                .flag("deleted", "Include soft-deleted versions")
                .ok::<VersionSemver>()
                .error(404, &[40401, 40402])
                .error(422, &[422]),
            )
            .post(
                preview,
                op(
                    "previewSemanticVersion",
                    "The semantic version a registration of this schema would get",
                )
                .tag("Semantic versions")
                .body::<RegisterSchemaRequest>()
                .ok::<VersionSemver>()
                .error(404, &[40401])
                .error(409, &[409, 40901])
                .error(422, &[42201, 42205, 42208, 42209, 42210, 422]),
            ),
    );
}

/// `GET /covenant/v1/subjects/{s}/versions[?deleted=true]`.
async fn versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    Ok(json(&data.registry.subject_semvers(
        &caller(&req),
        &subject,
        params.flag("deleted")?,
    )?))
}

/// `GET /covenant/v1/subjects/{s}/semver?requirement=^2`.
async fn resolve(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let subject = params::subject(&req)?;
    let requirement = params
        .get("requirement")
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            Error::UnprocessableEntity(
                "the query parameter `requirement` is needed (`^2`, `~2.3`, `>=1.4, <2`)".into(),
            )
        })?
        .to_string();
    Ok(json(&data.registry.resolve_semver(
        &caller(&req),
        &subject,
        &requirement,
    )?))
}

/// `POST /covenant/v1/subjects/{s}/semver`: what registering the body would give.
async fn preview(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let subject = params::subject(&req)?;
    let request: RegisterSchemaRequest = params::json_body(payload, &data.body).await?;
    Ok(json(&data.registry.preview_semver(
        &caller(&req),
        &subject,
        &request,
    )?))
}
