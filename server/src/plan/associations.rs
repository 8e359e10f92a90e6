//! The associations API's writes (Confluent 2025: `/associations`): a resource (a topic) bound
//! to a subject per association type (key, value), STRONG (the topic owns the subject, frozen
//! to its one schema) or WEAK (the subject is only referred to). The checks are Confluent's
//! `AssociationCreateOrUpdateRequest.validate` and `createOrUpdateAssociation`, in its order.

use std::collections::{BTreeMap, BTreeSet};

use covenant_core::api::RegisterSchemaRequest;
use covenant_core::ids::{Mode, QualifiedSubject};
use uuid::Uuid;

use super::Decision;
use crate::error::{Error, Result};
use crate::persist::{Event, Lifecycle, StoredAssociation};
use crate::settings::Settings;
use crate::state::keys::AssociationEntry;
use crate::state::State;

/// The only resource type.
pub const TOPIC: &str = "topic";

fn invalid(property: &str, detail: impl Into<String>) -> Error {
    Error::InvalidAssociation {
        property: property.to_string(),
        detail: detail.into(),
    }
}

/// Confluent's `RestValidation.checkName`.
pub fn check_name(name: Option<&str>, property: &str) -> Result<()> {
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(property, "cannot be null or empty"))?;
    if name.chars().count() > 256 {
        return Err(invalid(property, "exceeds max length of 256"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(invalid(property, format!("illegal character '{c}'")));
    }
    Ok(())
}

/// One association of a request, with Confluent's defaults applied.
#[derive(Clone, Debug)]
pub struct Info {
    /// The subject as given (or defaulted).
    pub subject: Option<String>,
    /// `key` or `value`.
    pub association_type: String,
    /// As given (or defaulted).
    pub lifecycle: Option<Lifecycle>,
    /// As given (or defaulted).
    pub frozen: Option<bool>,
    /// A schema to register with it.
    pub schema: Option<RegisterSchemaRequest>,
    /// Normalize the schema.
    pub normalize: bool,
}

/// A create-or-update request, validated.
#[derive(Clone, Debug)]
pub struct Request {
    /// The resource's name.
    pub resource_name: String,
    /// The resource's namespace.
    pub resource_namespace: String,
    /// The resource's id.
    pub resource_id: String,
    /// `topic`.
    pub resource_type: String,
    /// The associations.
    pub infos: Vec<Info>,
}

impl Request {
    /// `:.<namespace>:<name>-<type>`, the subject a STRONG association uses.
    pub fn default_subject(&self, association_type: &str) -> String {
        format!(
            ":.{}:{}-{association_type}",
            self.resource_namespace, self.resource_name
        )
    }
}

/// Confluent's `applyDefaults`.
fn apply_defaults(info: &mut Info, is_create: bool) -> Result<()> {
    if !is_create && info.schema.is_some() {
        return Err(invalid("schema", "cannot be provided when adding an association to an existing topic; an association with a schema must be created with the topic"));
    }
    if info.schema.is_some() {
        if info.lifecycle == Some(Lifecycle::Weak) {
            return Err(invalid(
                "lifecycle",
                "cannot be WEAK when schema is provided",
            ));
        }
        if info.frozen == Some(false) {
            return Err(invalid(
                "frozen",
                "cannot be false when a schema is provided",
            ));
        }
        info.lifecycle = Some(Lifecycle::Strong);
    } else if info.lifecycle.is_none() {
        info.lifecycle = Some(Lifecycle::Weak);
    }
    let desired = info.lifecycle == Some(Lifecycle::Strong);
    if let Some(frozen) = info.frozen {
        if frozen != desired {
            return Err(invalid(
                "frozen",
                format!(
                    "association with lifecycle of {} cannot be frozen={frozen}",
                    info.lifecycle.map_or("null", Lifecycle::as_str)
                ),
            ));
        }
    }
    info.frozen = Some(desired);
    Ok(())
}

/// Confluent's `AssociationCreateOrUpdateRequest.validate`.
pub fn validate(request: &mut Request, is_create: bool) -> Result<()> {
    for info in &mut request.infos {
        if let Some(subject) = &info.subject {
            if subject.is_empty() || subject.chars().any(char::is_control) {
                return Err(invalid("subject", "must not be empty"));
            }
        }
        if is_create {
            apply_defaults(info, true)?;
        }
        if info.association_type.is_empty() {
            info.association_type = "value".into();
        } else if info.association_type != "key" && info.association_type != "value" {
            return Err(invalid(
                "associationType",
                "must be either 'key' or 'value'",
            ));
        }
        if info.lifecycle == Some(Lifecycle::Weak) {
            if info.schema.is_some() {
                return Err(invalid(
                    "lifecycle",
                    "cannot be WEAK when schema is provided",
                ));
            }
            if info.frozen == Some(true) {
                return Err(invalid(
                    "frozen",
                    "association with lifecycle of WEAK cannot be frozen",
                ));
            }
            if is_create && info.subject.is_none() {
                return Err(invalid("subject", "must be provided for WEAK associations"));
            }
        }
    }
    for i in 0..request.infos.len() {
        let default = request.default_subject(&request.infos[i].association_type);
        let info = &mut request.infos[i];
        if is_create {
            let subject = info.subject.get_or_insert_with(|| default.clone()).clone();
            if info.frozen == Some(true) && subject != default {
                return Err(invalid(
                    "subject",
                    format!("frozen associations must use subject '{default}'"),
                ));
            }
            if info.lifecycle == Some(Lifecycle::Weak) && subject == default {
                return Err(invalid(
                    "subject",
                    format!("WEAK associations cannot use subject '{default}'"),
                ));
            }
        }
    }
    Ok(())
}

fn parse_subject(subject: &str) -> Result<QualifiedSubject> {
    QualifiedSubject::parse(subject).map_err(|_| invalid("subject", "must not be empty"))
}

/// What the checks leave for the writes: the existing association per type, and the types
/// whose association is already as asked.
#[derive(Debug, Default)]
pub struct Checked {
    /// Stored associations of the resource, by type.
    pub existing: BTreeMap<String, AssociationEntry>,
    /// Types left as they are.
    pub unchanged: BTreeSet<String>,
}

/// The checks of `createOrUpdateAssociation` that need the state, before any schema is
/// registered. `looks_up(subject, schema)` says whether a schema request is a version of a
/// subject already.
pub fn check(
    state: &State,
    request: &mut Request,
    is_create: bool,
    settings: &Settings,
    looks_up: &dyn Fn(&QualifiedSubject, &RegisterSchemaRequest, bool) -> bool,
) -> Result<Checked> {
    for info in &request.infos {
        if let Some(subject) = &info.subject {
            let qualified = parse_subject(subject)?;
            if state.effective_mode(&qualified) == Mode::ReadOnly {
                return Err(Error::OperationNotPermitted(format!(
                    "Subject {} in context {} is in read-only mode",
                    qualified.name(),
                    qualified.context()
                )));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for info in &request.infos {
        if !seen.insert(info.association_type.clone()) {
            return Err(invalid(
                "associationType",
                format!(
                    "may only appear once per request, but '{}' appears more than once",
                    info.association_type
                ),
            ));
        }
    }
    let existing: BTreeMap<String, AssociationEntry> = state
        .associations()
        .of_resource(&request.resource_id)
        .filter(|e| e.association.resource_type == request.resource_type)
        .filter(|e| seen.contains(&e.association.association_type))
        .map(|e| (e.association.association_type.clone(), e.clone()))
        .collect();
    let mut unchanged = BTreeSet::new();
    let defaults: Vec<String> = request
        .infos
        .iter()
        .map(|i| request.default_subject(&i.association_type))
        .collect();
    for (info, default) in request.infos.iter_mut().zip(&defaults) {
        let association = existing.get(&info.association_type).map(|e| &e.association);
        if association.is_none() && !is_create {
            apply_defaults(info, false)?;
        }
        if info.subject.is_none() {
            info.subject = Some(match association {
                Some(a) => a.subject.qualified(),
                None if info.lifecycle == Some(Lifecycle::Strong) => default.clone(),
                None => return Err(invalid("subject", "must be provided for WEAK associations")),
            });
        }
        let subject = info.subject.clone().unwrap_or_default();
        let qualified = parse_subject(&subject)?;
        let lifecycle = info
            .lifecycle
            .or(association.map(|a| a.lifecycle))
            .ok_or_else(|| invalid("lifecycle", "lifecycle must be set"))?;
        if lifecycle == Lifecycle::Weak {
            if info.schema.is_some() {
                return Err(invalid(
                    "lifecycle",
                    "cannot be WEAK when schema is provided",
                ));
            }
            if &subject == default {
                return Err(invalid(
                    "subject",
                    format!("WEAK associations cannot use subject '{default}'"),
                ));
            }
        }
        let is_frozen = association.map_or(info.frozen == Some(true), |a| a.frozen);
        let requested = info.frozen.unwrap_or(is_frozen);
        if requested != (lifecycle == Lifecycle::Strong) {
            return Err(invalid(
                "frozen",
                format!("association with lifecycle of {lifecycle} cannot be frozen={requested}"),
            ));
        }
        if is_frozen && &subject != default {
            return Err(invalid(
                "subject",
                format!("frozen associations must use subject '{default}'"),
            ));
        }
        let Some(association) = association else {
            let importing = state.effective_mode(&qualified) == Mode::Import;
            if !is_create && lifecycle == Lifecycle::Strong && !importing {
                return Err(invalid("lifecycle", "cannot be STRONG when creating an association; STRONG associations must be created with the topic"));
            }
            if info.frozen == Some(true) && !importing {
                if is_create && info.schema.is_none() {
                    return Err(invalid(
                        "schema",
                        "schema must be provided when creating a frozen association",
                    ));
                }
                if let Some(subject_state) = state.subject(&qualified) {
                    let live: Vec<_> = subject_state.visible(false).collect();
                    if let Some((latest, _)) = live.last() {
                        let fits = info.schema.as_ref().is_some_and(|schema| {
                            latest.get() == 1 && looks_up(&qualified, schema, info.normalize)
                        });
                        if !fits {
                            return Err(invalid("frozen", "cannot create a frozen association when schemas already exist in the subject"));
                        }
                    }
                }
            }
            continue;
        };
        let equivalent = association.subject == qualified
            && association.association_type == info.association_type
            && info.lifecycle.is_none_or(|l| l == association.lifecycle)
            && info.frozen.is_none_or(|f| f == association.frozen);
        if equivalent {
            if is_create {
                if let Some(schema) = &info.schema {
                    if !looks_up(&qualified, schema, info.normalize) {
                        return Err(Error::AssociationForResourceExists {
                            association_type: association.association_type.clone(),
                            resource: association.resource_name.clone(),
                        });
                    }
                }
            }
            unchanged.insert(info.association_type.clone());
            continue;
        }
        if is_create {
            return Err(Error::AssociationForResourceExists {
                association_type: association.association_type.clone(),
                resource: association.resource_name.clone(),
            });
        }
        if info.lifecycle.is_none() && info.schema.is_none() {
            return Err(invalid(
                "lifecycle",
                "at least lifecycle or schema must be provided for update",
            ));
        }
        if association.subject != qualified {
            return Err(invalid(
                "subject",
                format!(
                    "subject of association cannot be changed from '{}' to '{subject}'",
                    association.subject.qualified()
                ),
            ));
        }
        if association.lifecycle == Lifecycle::Strong
            && info.lifecycle == Some(Lifecycle::Weak)
            && &association.subject.qualified() == default
        {
            return Err(invalid(
                "lifecycle",
                format!("cannot change to WEAK when subject matches default format '{default}'"),
            ));
        }
        if info.frozen.is_some_and(|f| f != association.frozen) {
            return Err(invalid(
                "frozen",
                "frozen attribute of association cannot be changed",
            ));
        }
        if association.frozen {
            return Err(Error::AssociationFrozen {
                association_type: association.association_type.clone(),
                subject: association.subject.qualified(),
            });
        }
    }
    // One lifecycle per resource.
    let mut lifecycles: BTreeMap<String, Lifecycle> = state
        .associations()
        .of_resource(&request.resource_id)
        .filter(|e| e.association.resource_type == request.resource_type)
        .map(|e| {
            (
                e.association.association_type.clone(),
                e.association.lifecycle,
            )
        })
        .collect();
    for info in &request.infos {
        if let Some(lifecycle) = info
            .lifecycle
            .or(lifecycles.get(&info.association_type).copied())
        {
            lifecycles.insert(info.association_type.clone(), lifecycle);
        }
    }
    if lifecycles.values().collect::<BTreeSet<_>>().len() > 1 {
        let detail: Vec<String> = lifecycles.iter().map(|(t, l)| format!("{t}={l}")).collect();
        return Err(invalid(
            "lifecycle",
            format!(
                "all associations for a resource must have the same lifecycle, but got {}",
                detail.join(", ")
            ),
        ));
    }
    for info in &request.infos {
        let subject = info.subject.clone().unwrap_or_default();
        let qualified = parse_subject(&subject)?;
        if info.schema.is_some() && state.effective_mode(&qualified) == Mode::Import {
            return Err(invalid(
                "schema",
                format!("cannot be provided while subject '{subject}' is in IMPORT mode"),
            ));
        }
        let has_live = state
            .subject(&qualified)
            .is_some_and(|s| s.visible(false).next().is_some());
        if info.schema.is_none() && !has_live {
            return Err(Error::NoActiveSubjectVersion(subject));
        }
        let association = existing.get(&info.association_type).map(|e| &e.association);
        let others: Vec<&AssociationEntry> = state
            .associations()
            .of_subject(&qualified)
            .filter(|e| {
                association.is_none_or(|a| {
                    !(e.association.resource_id == a.resource_id
                        && e.association.resource_type == a.resource_type
                        && e.association.association_type == a.association_type)
                })
            })
            .collect();
        let lifecycle = info
            .lifecycle
            .or(association.map(|a| a.lifecycle))
            .ok_or_else(|| invalid("lifecycle", "lifecycle must be set"))?;
        match lifecycle {
            Lifecycle::Strong => {
                if !others.is_empty() {
                    return Err(Error::AssociationForSubjectExists(subject));
                }
                let referenced = state.subject(&qualified).is_some_and(|s| {
                    s.visible(true)
                        .any(|(version, _)| !state.referenced_by(&qualified, version).is_empty())
                });
                let referenced_here = request.infos.iter().any(|other| {
                    other.schema.as_ref().is_some_and(|schema| {
                        schema
                            .references
                            .iter()
                            .flatten()
                            .any(|r| r.subject == subject)
                    })
                });
                if referenced || referenced_here {
                    return Err(Error::AssociationReferenced(subject));
                }
            }
            Lifecycle::Weak => {
                if info.frozen == Some(true) {
                    return Err(invalid(
                        "frozen",
                        "association with lifecycle of WEAK cannot be frozen",
                    ));
                }
                if others
                    .iter()
                    .any(|e| e.association.lifecycle == Lifecycle::Strong)
                {
                    return Err(Error::StrongAssociationExists(subject));
                }
            }
        }
    }
    // Room for the associations the request adds.
    let added = request
        .infos
        .iter()
        .filter(|info| !existing.contains_key(&info.association_type))
        .count();
    if added > 0 && state.associations().entries.len() + added > settings.max_associations {
        return Err(Error::TooManyAssociations(settings.max_associations));
    }
    Ok(Checked {
        existing,
        unchanged,
    })
}

/// The associations the request leaves, and the event that writes them (after the checks,
/// and after the request's schemas are registered).
pub fn write(
    state: &State,
    request: &Request,
    is_create: bool,
    guids: &[Uuid],
    settings: &Settings,
    looks_up: &dyn Fn(&QualifiedSubject, &RegisterSchemaRequest, bool) -> bool,
) -> Result<Decision<Vec<StoredAssociation>>> {
    let mut request = request.clone();
    let checked = check(state, &mut request, is_create, settings, looks_up)?;
    let mut events = Vec::new();
    let mut written = Vec::new();
    for (info, guid) in request.infos.iter().zip(guids) {
        let existing = checked
            .existing
            .get(&info.association_type)
            .map(|e| &e.association);
        if checked.unchanged.contains(&info.association_type) {
            if let Some(existing) = existing {
                written.push(existing.clone());
            }
            continue;
        }
        let association = StoredAssociation {
            subject: parse_subject(info.subject.as_deref().unwrap_or_default())?,
            guid: existing.map_or(*guid, |a| a.guid),
            resource_name: request.resource_name.clone(),
            resource_namespace: request.resource_namespace.clone(),
            resource_id: request.resource_id.clone(),
            resource_type: request.resource_type.clone(),
            association_type: info.association_type.clone(),
            lifecycle: info
                .lifecycle
                .or(existing.map(|a| a.lifecycle))
                .unwrap_or(Lifecycle::Weak),
            frozen: info.frozen.or(existing.map(|a| a.frozen)).unwrap_or(false),
        };
        events.push(Event::AssociationSet {
            association: association.clone(),
        });
        written.push(association);
    }
    Ok(match events.len() {
        0 => Decision::Answer(written),
        1 => Decision::append(events.remove(0), written),
        _ => Decision::append(Event::Batch { events }, written),
    })
}

/// `DELETE /associations/resources/{id}`: frozen ones only with `cascade`, which also deletes
/// (soft, then permanently) a STRONG association's subject.
pub fn delete(
    state: &State,
    resource_id: &str,
    resource_type: &str,
    types: &[String],
    cascade: bool,
) -> Result<Decision<()>> {
    let selected: Vec<&AssociationEntry> = state
        .associations()
        .of_resource(resource_id)
        .filter(|e| e.association.resource_type == resource_type)
        .filter(|e| types.is_empty() || types.contains(&e.association.association_type))
        .collect();
    if selected.is_empty() {
        return Err(Error::AssociationNotFound(resource_id.to_string()));
    }
    for entry in &selected {
        let a = &entry.association;
        if state.effective_mode(&a.subject) == Mode::ReadOnly {
            return Err(Error::OperationNotPermitted(format!(
                "Subject {} in context {} is in read-only mode",
                a.subject.name(),
                a.subject.context()
            )));
        }
        if !cascade && a.frozen {
            return Err(Error::AssociationFrozen {
                association_type: a.association_type.clone(),
                subject: a.subject.qualified(),
            });
        }
    }
    let mut events = Vec::new();
    for entry in selected {
        let a = &entry.association;
        events.push(Event::AssociationDeleted {
            resource_id: a.resource_id.clone(),
            association_type: a.association_type.clone(),
        });
        let has_versions = state.subject(&a.subject).is_some_and(|s| s.has_versions());
        if cascade
            && a.lifecycle == Lifecycle::Strong
            && state.effective_mode(&a.subject) != Mode::Import
            && has_versions
        {
            events.push(Event::SubjectDeleted {
                subject: a.subject.clone(),
                permanent: false,
            });
            events.push(Event::SubjectDeleted {
                subject: a.subject.clone(),
                permanent: true,
            });
        }
    }
    Ok(if events.len() == 1 {
        Decision::append(events.remove(0), ())
    } else {
        Decision::append(Event::Batch { events }, ())
    })
}
