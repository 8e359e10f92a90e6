//! Read-only queries over the state, answering the list and lookup endpoints.

use std::sync::Arc;

use covenant_core::api::{self, SubjectVersion};
use covenant_core::ids::{ContextName, QualifiedSubject, VersionSpec, DEFAULT_CONTEXT};

use crate::error::{Error, Result};
use crate::registry::schema_object;
use crate::state::{SchemaRecord, State};

/// Which contexts a `subjectPrefix` selects, and the name prefix inside them.
pub struct SubjectFilter {
    context: Option<ContextName>,
    prefix: String,
}

impl SubjectFilter {
    /// Builds the filter from the URL's context prefix (if any) and the `subjectPrefix` parameter.
    /// Without either, every context is listed; `:*:` also means every context.
    pub fn new(
        url_context: Option<ContextName>,
        subject_prefix: Option<&str>,
    ) -> Result<SubjectFilter> {
        match subject_prefix {
            None | Some(":*:") => Ok(SubjectFilter {
                context: url_context,
                prefix: String::new(),
            }),
            Some(prefix) => {
                let default = url_context.unwrap_or_else(ContextName::default_context);
                let subject = QualifiedSubject::parse_in(&default, prefix)?;
                Ok(SubjectFilter {
                    context: Some(subject.context().clone()),
                    prefix: subject.name().to_string(),
                })
            }
        }
    }

    fn admits(&self, context: &ContextName, name: &str) -> bool {
        self.context.as_ref().is_none_or(|c| c == context) && name.starts_with(&self.prefix)
    }
}

/// `GET /subjects`: qualified names, sorted by context then name.
pub fn list_subjects(
    state: &State,
    filter: &SubjectFilter,
    deleted: bool,
    deleted_only: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (context_name, context) in state.contexts() {
        for (name, subject) in &context.subjects {
            if !filter.admits(context_name, name) {
                continue;
            }
            let live = subject.has_live_versions();
            let soft_deleted = subject.versions.values().any(|v| v.deleted);
            let listed = if deleted_only {
                soft_deleted
            } else if deleted {
                subject.has_versions()
            } else {
                live
            };
            if listed {
                out.push(QualifiedSubject::new(context_name.clone(), name.clone()).qualified());
            }
        }
    }
    out
}

/// `GET /subjects/{s}/versions`.
pub fn list_versions(
    state: &State,
    subject: &QualifiedSubject,
    deleted: bool,
    deleted_only: bool,
    deleted_as_negative: bool,
) -> Result<Vec<i32>> {
    let subject_state = state.existing_subject(subject, deleted || deleted_only)?;
    Ok(subject_state
        .versions
        .iter()
        .filter(|(_, v)| {
            if deleted_only {
                v.deleted
            } else {
                deleted || !v.deleted
            }
        })
        .map(|(n, v)| {
            if deleted_as_negative && v.deleted {
                -n
            } else {
                *n
            }
        })
        .collect())
}

/// `GET /subjects/{s}/versions/{v}`.
pub fn get_version(
    state: &State,
    subject: &QualifiedSubject,
    spec: VersionSpec,
    deleted: bool,
) -> Result<api::Schema> {
    let (version, entry) = state.version(subject, spec, deleted)?;
    let record = stored(state, subject.context(), entry.id)?;
    Ok(schema_object(subject, version, &entry, record))
}

/// A schema by id that some stored version still uses.
pub fn schema_by_id<'a>(
    state: &'a State,
    context: &ContextName,
    id: i32,
) -> Result<&'a Arc<SchemaRecord>> {
    let in_use = state.context(context).is_some_and(|c| c.is_in_use(id));
    match state.schema(context, id) {
        Some(record) if in_use => Ok(record),
        _ => Err(Error::SchemaNotFound(id.to_string())),
    }
}

fn stored<'a>(state: &'a State, context: &ContextName, id: i32) -> Result<&'a Arc<SchemaRecord>> {
    state
        .schema(context, id)
        .ok_or_else(|| Error::Internal(format!("schema {id} is missing from context {context}")))
}

/// `GET /schemas/ids/{id}/versions`.
pub fn id_versions(
    state: &State,
    context: &ContextName,
    id: i32,
    deleted: bool,
    subject_filter: Option<&str>,
) -> Result<Vec<SubjectVersion>> {
    schema_by_id(state, context, id)?;
    Ok(state
        .usages(context, id, deleted)
        .into_iter()
        .map(|(subject, version, _)| SubjectVersion {
            subject: subject.qualified(),
            version,
        })
        .filter(|sv| subject_filter.is_none_or(|s| sv.subject == s))
        .collect())
}

/// `GET /schemas/ids/{id}/subjects`.
pub fn id_subjects(
    state: &State,
    context: &ContextName,
    id: i32,
    deleted: bool,
    subject_filter: Option<&str>,
) -> Result<Vec<String>> {
    let mut subjects: Vec<String> = id_versions(state, context, id, deleted, subject_filter)?
        .into_iter()
        .map(|sv| sv.subject)
        .collect();
    subjects.dedup();
    Ok(subjects)
}

/// `GET /schemas`: versions of every admitted subject, by subject then version.
pub fn list_schemas(
    state: &State,
    filter: &SubjectFilter,
    deleted: bool,
    latest_only: bool,
) -> Vec<api::Schema> {
    let mut out = Vec::new();
    for (context_name, context) in state.contexts() {
        for (name, subject) in &context.subjects {
            if !filter.admits(context_name, name) {
                continue;
            }
            let qualified = QualifiedSubject::new(context_name.clone(), name.clone());
            let versions: Vec<_> = subject.visible(deleted).collect();
            let chosen = if latest_only {
                &versions[versions.len().saturating_sub(1)..]
            } else {
                &versions[..]
            };
            for (version, entry) in chosen {
                if let Some(record) = context.schemas.get(&entry.id) {
                    out.push(schema_object(&qualified, *version, entry, record));
                }
            }
        }
    }
    out
}

/// The schema text in the `format` a request asks for, when the type knows that format.
pub fn render(
    state: &State,
    context: &ContextName,
    record: &SchemaRecord,
    format: Option<&str>,
) -> Result<Option<String>> {
    match format {
        None | Some("") | Some("default") => Ok(None),
        Some(format) => Ok(state.parsed(context, record)?.formatted(format)),
    }
}

/// `GET /contexts`: the default context and every context with subjects.
pub fn contexts(state: &State) -> Vec<String> {
    let mut out = vec![DEFAULT_CONTEXT.to_string()];
    for (name, context) in state.contexts() {
        if !name.is_default() && context.subjects.values().any(|s| s.has_versions()) {
            out.push(name.to_string());
        }
    }
    out
}

/// `GET /subjects/{s}/metadata`: the latest version whose metadata properties hold every pair.
pub fn latest_with_metadata(
    state: &State,
    subject: &QualifiedSubject,
    pairs: &[(&str, &str)],
    deleted: bool,
) -> Result<api::Schema> {
    let subject_state = state.existing_subject(subject, deleted)?;
    for (version, entry) in subject_state.visible(deleted).rev() {
        let record = stored(state, subject.context(), entry.id)?;
        let properties = record.metadata.as_ref().and_then(|m| m.get("properties"));
        let matches = pairs.iter().all(|(key, value)| {
            properties
                .and_then(|p| p.get(*key))
                .and_then(|v| v.as_str())
                .is_some_and(|v| v == *value)
        });
        if matches {
            return Ok(schema_object(subject, version, entry, record));
        }
    }
    Err(Error::SchemaNotFound(format!(
        "with metadata {pairs:?} in subject '{}'",
        subject.qualified()
    )))
}
