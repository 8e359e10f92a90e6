//! Associations of resources (topics) with subjects: the REST operations over
//! [`crate::plan::associations`]. A STRONG association is created with the schema its topic
//! owns, which is registered first (as Confluent does, outside the association's own write).

use covenant_core::api::{
    self, AssociationCreateOrUpdateRequest, AssociationInfo, AssociationResponse,
    RegisterSchemaRequest,
};
use covenant_core::ids::QualifiedSubject;
use serde_json::{json, Value};
use uuid::Uuid;

use super::query::Page;
use super::Registry;
use crate::access::{Caller, Operation, Resource};
use crate::error::{Error, Result};
use crate::persist::{Actor, Lifecycle, StoredAssociation};
use crate::plan::associations::{self as plan, Info, Request};
use crate::plan::{self as planners, Decision};
use crate::state::keys::AssociationEntry;
use crate::state::State;

/// Which associations a read lists.
#[derive(Clone, Debug, Default)]
pub struct AssociationFilter {
    /// The resource type (default `topic`).
    pub resource_type: Option<String>,
    /// The association types (all when empty).
    pub association_types: Vec<String>,
    /// The lifecycle.
    pub lifecycle: Option<Lifecycle>,
}

impl AssociationFilter {
    fn admits(&self, association: &StoredAssociation) -> bool {
        association.resource_type == self.resource_type.as_deref().unwrap_or(plan::TOPIC)
            && (self.association_types.is_empty()
                || self
                    .association_types
                    .contains(&association.association_type))
            && self.lifecycle.is_none_or(|l| l == association.lifecycle)
    }
}

fn association_json(entry: &AssociationEntry) -> api::Association {
    let a = &entry.association;
    let default_frozen = a.lifecycle == Lifecycle::Strong;
    api::Association {
        subject: a.subject.qualified(),
        guid: a.guid.to_string(),
        resource_name: a.resource_name.clone(),
        resource_namespace: a.resource_namespace.clone(),
        resource_id: a.resource_id.clone(),
        resource_type: a.resource_type.clone(),
        association_type: a.association_type.clone(),
        lifecycle: a.lifecycle.to_string(),
        frozen: (a.frozen != default_frozen).then_some(a.frozen),
        create_ts: entry.create_ts,
        update_ts: entry.update_ts,
    }
}

fn sorted(mut list: Vec<api::Association>) -> Vec<api::Association> {
    list.sort_by(|a, b| {
        (
            &a.resource_name,
            &a.resource_namespace,
            &a.resource_id,
            &a.association_type,
        )
            .cmp(&(
                &b.resource_name,
                &b.resource_namespace,
                &b.resource_id,
                &b.association_type,
            ))
    });
    list
}

/// Reads a request's lifecycle.
fn lifecycle(value: Option<&str>) -> Result<Option<Lifecycle>> {
    value
        .map(|l| {
            l.parse().map_err(|_| Error::InvalidAssociation {
                property: "lifecycle".into(),
                detail: "must be either 'STRONG' or 'WEAK'".into(),
            })
        })
        .transpose()
}

/// The plan's form of a REST request, with Confluent's request-level checks.
fn request_of(
    body: &AssociationCreateOrUpdateRequest,
    is_create: bool,
    dry_run: bool,
) -> Result<Request> {
    plan::check_name(body.resource_name.as_deref(), "resourceName")?;
    plan::check_name(body.resource_namespace.as_deref(), "resourceNamespace")?;
    let resource_id = body.resource_id.clone().unwrap_or_default();
    if !dry_run && resource_id.is_empty() {
        return Err(Error::InvalidAssociation {
            property: "resourceId".into(),
            detail: "cannot be null or empty".into(),
        });
    }
    let resource_type = match body.resource_type.as_deref() {
        None | Some("") => plan::TOPIC.to_string(),
        Some(plan::TOPIC) => plan::TOPIC.to_string(),
        Some(_) => {
            return Err(Error::InvalidAssociation {
                property: "resourceType".into(),
                detail: "must be 'topic'".into(),
            })
        }
    };
    let infos = body.associations.clone().unwrap_or_default();
    if infos.is_empty() {
        return Err(Error::InvalidAssociation {
            property: "associations".into(),
            detail: "cannot be null or empty".into(),
        });
    }
    let mut request = Request {
        resource_name: body.resource_name.clone().unwrap_or_default(),
        resource_namespace: body.resource_namespace.clone().unwrap_or_default(),
        resource_id,
        resource_type,
        infos: infos
            .into_iter()
            .map(|info| {
                Ok(Info {
                    subject: info.subject,
                    association_type: info.association_type.unwrap_or_default(),
                    lifecycle: lifecycle(info.lifecycle.as_deref())?,
                    frozen: info.frozen,
                    schema: info.schema,
                    normalize: info.normalize.unwrap_or(false),
                })
            })
            .collect::<Result<_>>()?,
    };
    plan::validate(&mut request, is_create)?;
    Ok(request)
}

impl Registry {
    fn may_read_association(&self, caller: &Caller, association: &StoredAssociation) -> bool {
        self.may_read(caller, &association.subject)
    }

    fn list_associations(
        &self,
        caller: &Caller,
        filter: &AssociationFilter,
        page: Page,
        selects: impl Fn(&StoredAssociation) -> bool,
    ) -> Vec<api::Association> {
        let state = self.engine.state();
        let list = state
            .associations()
            .entries
            .values()
            .filter(|e| selects(&e.association) && filter.admits(&e.association))
            .filter(|e| self.may_read_association(caller, &e.association))
            .map(association_json)
            .collect();
        page.of(sorted(list).into_iter())
    }

    /// `GET /associations/subjects/{subject}`.
    pub fn associations_of_subject(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        filter: &AssociationFilter,
        page: Page,
    ) -> Result<Vec<api::Association>> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        Ok(self.list_associations(caller, filter, page, |a| &a.subject == subject))
    }

    /// `GET /associations/resources/{namespace}/{name}` (`-` for any).
    pub fn associations_of_resource_name(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        filter: &AssociationFilter,
        page: Page,
    ) -> Vec<api::Association> {
        self.list_associations(caller, filter, page, |a| {
            (namespace == "-" || a.resource_namespace == namespace)
                && (name == "-" || a.resource_name == name)
        })
    }

    /// `GET /associations/resources/{id}`.
    pub fn associations_of_resource_id(
        &self,
        caller: &Caller,
        id: &str,
        filter: &AssociationFilter,
        page: Page,
    ) -> Vec<api::Association> {
        self.list_associations(caller, filter, page, |a| a.resource_id == id)
    }

    /// Whether registering `schema` under `subject` would answer an existing version.
    fn looks_up(
        &self,
        state: &State,
        subject: &QualifiedSubject,
        schema: &RegisterSchemaRequest,
        normalize: bool,
    ) -> bool {
        let Ok(candidate) =
            super::Candidate::read(schema, self.settings(), super::Purpose::Register)
        else {
            return false;
        };
        let input = candidate.input(subject, schema, Some(normalize));
        matches!(
            planners::register::register(state, self.settings(), &input),
            Ok(Decision::Answer(_))
        )
    }

    /// `POST /associations` (create) and `PUT /associations/resources/{id}` (create or update).
    pub async fn write_association(
        &self,
        caller: &Caller,
        body: &AssociationCreateOrUpdateRequest,
        is_create: bool,
        dry_run: bool,
    ) -> Result<AssociationResponse> {
        let mut request = request_of(body, is_create, dry_run)?;
        // The subjects the request names are authorized before anything about them is read;
        // those it leaves to the existing associations are authorized after the checks.
        for info in &request.infos {
            if let Some(subject) = &info.subject {
                let subject = QualifiedSubject::parse(subject)?;
                self.authorize(caller, Operation::Write, Resource::Subject(&subject))?;
            }
        }
        // The checks, against the log's head (they are made again at the write).
        self.engine.catch_up().await?;
        {
            let state = self.engine.state();
            let looks_up = |s: &QualifiedSubject, r: &RegisterSchemaRequest, n: bool| {
                self.looks_up(&state, s, r, n)
            };
            plan::check(&state, &mut request, is_create, self.settings(), &looks_up)?;
            for info in &request.infos {
                let subject = QualifiedSubject::parse(info.subject.as_deref().unwrap_or_default())?;
                self.authorize(caller, Operation::Write, Resource::Subject(&subject))?;
                // A schema must be one the subject takes (compatibility, validity).
                if let Some(schema) = &info.schema {
                    let candidate =
                        super::Candidate::read(schema, self.settings(), super::Purpose::Register)?;
                    let input = candidate.input(&subject, schema, Some(info.normalize));
                    planners::register::register(&state, self.settings(), &input)?;
                }
            }
        }
        let empty = || AssociationResponse {
            resource_name: request.resource_name.clone(),
            resource_namespace: request.resource_namespace.clone(),
            resource_id: request.resource_id.clone(),
            resource_type: request.resource_type.clone(),
            associations: Vec::new(),
        };
        if dry_run {
            return Ok(empty());
        }
        let mut schemas = std::collections::BTreeMap::new();
        for info in &request.infos {
            let Some(schema) = &info.schema else { continue };
            let subject = QualifiedSubject::parse(info.subject.as_deref().unwrap_or_default())?;
            if self.engine.state().effective_mode(&subject) == covenant_core::ids::Mode::Import {
                continue;
            }
            let registered = self
                .register(caller, &subject, schema, Some(info.normalize))
                .await?;
            let view = self.get_version(
                caller,
                &subject,
                covenant_core::ids::VersionSpec::Number(
                    covenant_core::ids::Version::new(registered.version.unwrap_or(1).into())
                        .unwrap_or(covenant_core::ids::Version::FIRST),
                ),
                false,
                None,
            )?;
            schemas.insert(info.association_type.clone(), view);
        }
        // The write checks again, and finds the schemas registered now as the subjects' versions.
        let guids: Vec<Uuid> = request.infos.iter().map(|_| Uuid::new_v4()).collect();
        let settings = self.settings();
        let written = self
            .engine
            .commit(&Actor::of(caller), |state| {
                let looks_up = |s: &QualifiedSubject, r: &RegisterSchemaRequest, n: bool| {
                    let Ok(candidate) =
                        super::Candidate::read(r, settings, super::Purpose::Register)
                    else {
                        return false;
                    };
                    let input = candidate.input(s, r, Some(n));
                    matches!(
                        planners::register::register(state, settings, &input),
                        Ok(Decision::Answer(_))
                    )
                };
                plan::write(state, &request, is_create, &guids, settings, &looks_up)
            })
            .await?;
        let mut response = empty();
        response.associations = written
            .into_iter()
            .map(|a| AssociationInfo {
                subject: a.subject.qualified(),
                schema: schemas.remove(&a.association_type),
                association_type: a.association_type,
                lifecycle: a.lifecycle.to_string(),
                frozen: a.frozen,
            })
            .collect();
        Ok(response)
    }

    /// `DELETE /associations/resources/{id}`.
    pub async fn delete_associations(
        &self,
        caller: &Caller,
        resource_id: &str,
        resource_type: &str,
        types: &[String],
        cascade: bool,
        dry_run: bool,
    ) -> Result<()> {
        // Decided against the log's head, not a follower's view that may lag it.
        self.engine.catch_up().await?;
        {
            let state = self.engine.state();
            for entry in state.associations().of_resource(resource_id) {
                self.authorize(
                    caller,
                    Operation::Delete,
                    Resource::Subject(&entry.association.subject),
                )?;
            }
            if dry_run {
                return plan::delete(&state, resource_id, resource_type, types, cascade)
                    .map(|_| ());
            }
        }
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::delete(state, resource_id, resource_type, types, cascade)
            })
            .await
    }

    /// `POST /associations:batchGet`: the associations of each resource asked for.
    pub fn batch_get_associations(
        &self,
        caller: &Caller,
        body: &Value,
        include_schemas: bool,
    ) -> Result<Value> {
        let requests = batch_requests(body)?;
        let mut results = Vec::new();
        for request in requests {
            let text = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_string);
            let (id, name, namespace) = (
                text("resourceId"),
                text("resourceName"),
                text("resourceNamespace"),
            );
            let filter = AssociationFilter {
                resource_type: text("resourceType"),
                association_types: request
                    .get("associationTypes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                lifecycle: text("lifecycle").and_then(|l| l.parse().ok()),
            };
            let found = match (&id, &name, &namespace) {
                (Some(id), _, _) => Ok(self.associations_of_resource_id(caller, id, &filter, Page::default())),
                (None, Some(name), Some(namespace)) => Ok(self.associations_of_resource_name(caller, namespace, name, &filter, Page::default())),
                (None, Some(_), None) => Err("property: resourceNamespace; detail: resourceNamespace is required when resourceName is specified"),
                (None, None, _) => Err("property: resourceId; detail: either resourceId or resourceName must be specified"),
            };
            results.push(match found {
                Err(message) => json!({"error": {"error_code": 500, "message": format!("Error while getting associations: {message}")}}),
                Ok(list) => {
                    let first = list.first();
                    let associations: Vec<Value> = list
                        .iter()
                        .map(|a| {
                            let mut info = json!({
                                "subject": a.subject,
                                "associationType": a.association_type,
                                "lifecycle": a.lifecycle,
                                "frozen": a.frozen.unwrap_or(a.lifecycle == "STRONG"),
                            });
                            if include_schemas {
                                if let Ok(subject) = QualifiedSubject::parse(&a.subject) {
                                    if let Ok(schema) = self.get_version(caller, &subject, covenant_core::ids::VersionSpec::Latest, false, None) {
                                        info["schema"] = serde_json::to_value(schema).unwrap_or(Value::Null);
                                    }
                                }
                            }
                            info
                        })
                        .collect();
                    json!({"result": {
                        "resourceName": first.map(|a| a.resource_name.clone()).or(name.clone()),
                        "resourceNamespace": first.map(|a| a.resource_namespace.clone()).or(namespace.clone()),
                        "resourceId": first.map(|a| a.resource_id.clone()).or(id.clone()),
                        "resourceType": first.map(|a| a.resource_type.clone()).unwrap_or_else(|| plan::TOPIC.into()),
                        "associations": associations,
                    }})
                }
            });
        }
        Ok(json!({ "results": results }))
    }

    /// `POST /associations:batchMutate`: each request's operations in order; each result holds
    /// the resource's associations after them, or the error that stopped them.
    pub async fn batch_mutate_associations(
        &self,
        caller: &Caller,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let requests = batch_requests(body)?;
        let mut results = Vec::new();
        for request in requests {
            let outcome = self.mutate_one(caller, request, dry_run).await;
            results.push(match outcome {
                Ok(result) => json!({ "result": result }),
                Err(error) => json!({"error": {"error_code": error.code().code(), "message": error.to_string()}}),
            });
        }
        Ok(json!({ "results": results }))
    }

    async fn mutate_one(&self, caller: &Caller, request: &Value, dry_run: bool) -> Result<Value> {
        let text = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_string);
        let ops = request
            .get("associations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let resource_type = text("resourceType").unwrap_or_else(|| plan::TOPIC.into());
        let mut i = 0;
        while i < ops.len() {
            let op_type = ops[i].get("opType").and_then(Value::as_str).unwrap_or("");
            match op_type {
                "CREATE" | "UPSERT" => {
                    // Adjacent operations of the same kind are one request.
                    let mut infos = Vec::new();
                    while i < ops.len()
                        && ops[i].get("opType").and_then(Value::as_str) == Some(op_type)
                    {
                        let info: api::AssociationCreateOrUpdateInfo =
                            serde_json::from_value(ops[i].clone()).map_err(|e| {
                                Error::BadRequest(format!("an association operation: {e}"))
                            })?;
                        infos.push(info);
                        i += 1;
                    }
                    let body = AssociationCreateOrUpdateRequest {
                        resource_name: text("resourceName"),
                        resource_namespace: text("resourceNamespace"),
                        resource_id: text("resourceId"),
                        resource_type: Some(resource_type.clone()),
                        associations: Some(infos),
                    };
                    self.write_association(caller, &body, op_type == "CREATE", dry_run)
                        .await?;
                }
                "DELETE" => {
                    let types: Vec<String> = ops[i]
                        .get("associationType")
                        .and_then(Value::as_str)
                        .map(|t| vec![t.to_string()])
                        .unwrap_or_default();
                    let cascade = ops[i]
                        .get("cascadeLifecycle")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let id = text("resourceId").unwrap_or_default();
                    self.delete_associations(caller, &id, &resource_type, &types, cascade, dry_run)
                        .await?;
                    i += 1;
                }
                other => {
                    return Err(Error::InvalidAssociation {
                        property: "opType".into(),
                        detail: format!(
                            "unknown operation '{other}' (expected CREATE, UPSERT or DELETE)"
                        ),
                    })
                }
            }
        }
        let id = text("resourceId").unwrap_or_default();
        let list = self.associations_of_resource_id(
            caller,
            &id,
            &AssociationFilter::default(),
            Page::default(),
        );
        Ok(json!({
            "resourceName": text("resourceName"),
            "resourceNamespace": text("resourceNamespace"),
            "resourceId": id,
            "resourceType": resource_type,
            "associations": list.iter().map(|a| json!({
                "subject": a.subject,
                "associationType": a.association_type,
                "lifecycle": a.lifecycle,
                "frozen": a.frozen.unwrap_or(a.lifecycle == "STRONG"),
            })).collect::<Vec<_>>(),
        }))
    }
}

/// The `requests` of a batch call: a non-empty array (42212 otherwise).
fn batch_requests(body: &Value) -> Result<&Vec<Value>> {
    body.get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::InvalidAssociation {
            property: "requests".into(),
            detail: "cannot be null or empty".into(),
        })
}
