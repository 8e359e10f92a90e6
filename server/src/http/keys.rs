//! `/dek-registry/v1`: thin handlers over `Registry`'s DEK-registry methods.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use covenant_core::api::{CreateDekRequest, CreateKekRequest, UpdateKekRequest};

use super::params::{self, caller, Params};
use super::{json, AppState};
use crate::error::{Error, Result};
use crate::kms::DekAlgorithm;
use crate::registry::keys::DekVersion;

type Data = web::Data<AppState>;
type Reply = Result<HttpResponse>;

/// Registers the DEK registry's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(
        resource("/dek-registry/v1/keks")
            .get(list_keks)
            .post(create_kek),
    )
    .service(
        resource("/dek-registry/v1/keks/{name}")
            .get(get_kek)
            .put(update_kek)
            .delete(delete_kek),
    )
    .service(resource("/dek-registry/v1/keks/{name}/undelete").post(undelete_kek))
    .service(resource("/dek-registry/v1/keks/{name}/test").post(test_kek))
    .service(
        resource("/dek-registry/v1/keks/{name}/deks")
            .get(list_deks)
            .post(create_dek),
    )
    .service(
        resource("/dek-registry/v1/keks/{name}/deks/{subject}")
            .get(get_dek)
            .post(create_dek)
            .delete(delete_dek),
    )
    .service(resource("/dek-registry/v1/keks/{name}/deks/{subject}/undelete").post(undelete_dek))
    .service(
        resource("/dek-registry/v1/keks/{name}/deks/{subject}/versions").get(list_dek_versions),
    )
    .service(
        resource("/dek-registry/v1/keks/{name}/deks/{subject}/versions/{version}")
            .get(get_dek)
            .delete(delete_dek),
    )
    .service(
        resource("/dek-registry/v1/keks/{name}/deks/{subject}/versions/{version}/undelete")
            .post(undelete_dek),
    );
}

fn segment(req: &HttpRequest, name: &str) -> Result<String> {
    Ok(params::segment(req, name)?.unwrap_or_default())
}

fn algorithm(params: &Params) -> Result<DekAlgorithm> {
    match params.get("algorithm") {
        None | Some("") => Ok(DekAlgorithm::Aes256Gcm),
        Some(name) => name.parse().map_err(|e: String| Error::BadRequest(e)),
    }
}

/// The `{version}` segment: `latest` or -1, or a version from 1.
fn version(req: &HttpRequest) -> Result<Option<DekVersion>> {
    let Some(raw) = params::segment(req, "version")? else {
        return Ok(None);
    };
    match raw.as_str() {
        "latest" | "-1" => Ok(Some(DekVersion::Latest)),
        other => match other.parse::<i32>() {
            Ok(v) if v >= 1 => Ok(Some(DekVersion::Number(v))),
            _ => Err(Error::Core(covenant_core::Error::InvalidVersion(raw))),
        },
    }
}

fn no_content() -> HttpResponse {
    HttpResponse::build(StatusCode::NO_CONTENT).finish()
}

async fn list_keks(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    let prefixes = params.all("subjectPrefix");
    Ok(json(&data.registry.list_keks(
        &caller(&req),
        &prefixes,
        params.flag("deleted")?,
        params.page()?,
    )))
}

async fn get_kek(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.get_kek(
        &caller(&req),
        &segment(&req, "name")?,
        params.flag("deleted")?,
    )?))
}

async fn create_kek(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let request: CreateKekRequest = params::json_body(payload, &data.body).await?;
    let kek = data
        .registry
        .create_kek(&caller(&req), &request, params.flag("testSharing")?)
        .await?;
    Ok(json(&kek))
}

async fn update_kek(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let request: UpdateKekRequest = params::json_body(payload, &data.body).await?;
    let kek = data
        .registry
        .update_kek(
            &caller(&req),
            &segment(&req, "name")?,
            &request,
            params.flag("testSharing")?,
        )
        .await?;
    Ok(json(&kek))
}

async fn delete_kek(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    data.registry
        .delete_kek(
            &caller(&req),
            &segment(&req, "name")?,
            params.flag("permanent")?,
        )
        .await?;
    Ok(no_content())
}

async fn undelete_kek(req: HttpRequest, data: Data) -> Reply {
    data.registry
        .undelete_kek(&caller(&req), &segment(&req, "name")?)
        .await?;
    Ok(no_content())
}

async fn test_kek(req: HttpRequest, data: Data) -> Reply {
    Ok(json(
        &data
            .registry
            .test_kek(&caller(&req), &segment(&req, "name")?)?,
    ))
}

async fn list_deks(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.list_dek_subjects(
        &caller(&req),
        &segment(&req, "name")?,
        params.flag("deleted")?,
        params.page()?,
    )?))
}

async fn create_dek(req: HttpRequest, data: Data, payload: web::Payload) -> Reply {
    let params = Params::of(&req);
    let mut request: CreateDekRequest = params::json_body(payload, &data.body).await?;
    // The path's subject, when it names one, is the DEK's.
    let subject = match params::segment(&req, "subject")? {
        Some(subject) => subject,
        None => request.subject.clone().unwrap_or_default(),
    };
    request.subject = Some(subject.clone());
    let dek = data
        .registry
        .create_dek(
            &caller(&req),
            &segment(&req, "name")?,
            &subject,
            &request,
            params.flag("rewrap")?,
        )
        .await?;
    Ok(json(&dek))
}

async fn get_dek(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    // Without a version, Confluent answers version 1.
    let version = version(&req)?.unwrap_or(DekVersion::Number(1));
    Ok(json(&data.registry.get_dek(
        &caller(&req),
        &segment(&req, "name")?,
        &segment(&req, "subject")?,
        version,
        algorithm(&params)?,
        params.flag("deleted")?,
    )?))
}

async fn list_dek_versions(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    Ok(json(&data.registry.list_dek_versions(
        &caller(&req),
        &segment(&req, "name")?,
        &segment(&req, "subject")?,
        algorithm(&params)?,
        params.flag("deleted")?,
        params.page()?,
    )?))
}

async fn delete_dek(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    data.registry
        .delete_dek(
            &caller(&req),
            &segment(&req, "name")?,
            &segment(&req, "subject")?,
            version(&req)?,
            algorithm(&params)?,
            params.flag("permanent")?,
        )
        .await?;
    Ok(no_content())
}

async fn undelete_dek(req: HttpRequest, data: Data) -> Reply {
    let params = Params::of(&req);
    data.registry
        .undelete_dek(
            &caller(&req),
            &segment(&req, "name")?,
            &segment(&req, "subject")?,
            version(&req)?,
            algorithm(&params)?,
        )
        .await?;
    Ok(no_content())
}
