//! Read-only queries over the state, answering the list and lookup endpoints. Pure functions of
//! the state; the registry calls them under its one permission check.

use std::sync::Arc;

use covenant_core::ids::{
    ContextName, QualifiedSubject, SchemaId, Version, VersionSpec, DEFAULT_CONTEXT,
};

use crate::error::{Error, Result};
use crate::state::{SchemaRecord, State, VersionState};

/// `offset` and `limit` of a list request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Items to skip.
    pub offset: usize,
    /// Items to return at most; `None` for all.
    pub limit: Option<usize>,
}

impl Page {
    /// The items of `items` on this page.
    pub fn of<T>(self, items: impl Iterator<Item = T>) -> Vec<T> {
        let rest = items.skip(self.offset);
        match self.limit {
            Some(limit) => rest.take(limit).collect(),
            None => rest.collect(),
        }
    }
}

/// Which contexts a `subjectPrefix` selects, and the name prefix inside them.
#[derive(Clone, Debug)]
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

    /// Every subject of every context.
    pub fn everything() -> SubjectFilter {
        SubjectFilter {
            context: None,
            prefix: String::new(),
        }
    }

    fn admits(&self, context: &ContextName, name: &str) -> bool {
        self.context.as_ref().is_none_or(|c| c == context) && name.starts_with(&self.prefix)
    }
}

/// Which versions a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Include soft-deleted ones (`deleted=true`).
    pub include: bool,
    /// Only soft-deleted ones (`deletedOnly=true`).
    pub only: bool,
}

/// `GET /subjects`: subjects by context then name.
pub fn subjects<'s>(
    state: &'s State,
    filter: &'s SubjectFilter,
    deleted: Deleted,
) -> impl Iterator<Item = QualifiedSubject> + 's {
    state.contexts().flat_map(move |(context_name, context)| {
        context.subjects.iter().filter_map(move |(name, subject)| {
            if !filter.admits(context_name, name) {
                return None;
            }
            let listed = if deleted.only {
                subject.versions.values().any(|v| v.deleted)
            } else if deleted.include {
                subject.has_versions()
            } else {
                subject.has_live_versions()
            };
            listed.then(|| QualifiedSubject::new(context_name.clone(), &**name))
        })
    })
}

/// `GET /subjects/{s}/versions`: (version, soft-deleted).
pub fn versions(
    state: &State,
    subject: &QualifiedSubject,
    deleted: Deleted,
) -> Result<Vec<(Version, bool)>> {
    let subject_state = state.existing_subject(subject, deleted.include || deleted.only)?;
    Ok(subject_state
        .versions
        .iter()
        .filter(|(_, v)| {
            if deleted.only {
                v.deleted
            } else {
                deleted.include || !v.deleted
            }
        })
        .map(|(n, v)| (*n, v.deleted))
        .collect())
}

/// One version of a subject, with its schema.
#[derive(Clone, Debug)]
pub struct VersionView {
    /// The subject.
    pub subject: QualifiedSubject,
    /// The version.
    pub version: Version,
    /// Its state.
    pub entry: VersionState,
    /// Its schema.
    pub record: Arc<SchemaRecord>,
}

/// `GET /subjects/{s}/versions/{v}`.
pub fn version(
    state: &State,
    subject: &QualifiedSubject,
    spec: VersionSpec,
    deleted: bool,
) -> Result<VersionView> {
    let (version, entry) = state.version(subject, spec, deleted)?;
    Ok(VersionView {
        subject: subject.clone(),
        version,
        entry,
        record: Arc::clone(state.stored(subject.context(), entry.id)?),
    })
}

/// A schema by id that some stored version still uses.
pub fn schema_by_id<'a>(
    state: &'a State,
    context: &ContextName,
    id: SchemaId,
) -> Result<&'a Arc<SchemaRecord>> {
    let in_use = state.context(context).is_some_and(|c| c.is_in_use(id));
    match state.schema(context, id) {
        Some(record) if in_use => Ok(record),
        _ => Err(Error::SchemaNotFound(id.to_string())),
    }
}

/// `GET /schemas/ids/{id}/versions`: the (subject, version) pairs using the id.
pub fn id_versions(
    state: &State,
    context: &ContextName,
    id: SchemaId,
    deleted: bool,
) -> Result<Vec<(QualifiedSubject, Version)>> {
    schema_by_id(state, context, id)?;
    Ok(state
        .usages(context, id, deleted)
        .into_iter()
        .map(|(subject, version, _)| (subject, version))
        .collect())
}

/// `GET /schemas/ids/{id}/subjects`.
pub fn id_subjects(
    state: &State,
    context: &ContextName,
    id: SchemaId,
    deleted: bool,
) -> Result<Vec<QualifiedSubject>> {
    let mut subjects: Vec<QualifiedSubject> = id_versions(state, context, id, deleted)?
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    subjects.dedup();
    Ok(subjects)
}

/// `GET /schemas`: versions of every admitted subject, by subject then version.
pub fn schemas<'s>(
    state: &'s State,
    filter: &'s SubjectFilter,
    deleted: bool,
    latest_only: bool,
) -> impl Iterator<Item = VersionView> + 's {
    state.contexts().flat_map(move |(context_name, context)| {
        context
            .subjects
            .iter()
            .filter(move |(name, _)| filter.admits(context_name, name))
            .flat_map(move |(name, subject)| {
                let qualified = QualifiedSubject::new(context_name.clone(), &**name);
                let versions: Vec<(Version, &VersionState)> = if latest_only {
                    subject.visible(deleted).next_back().into_iter().collect()
                } else {
                    subject.visible(deleted).collect()
                };
                versions.into_iter().filter_map(move |(version, entry)| {
                    Some(VersionView {
                        subject: qualified.clone(),
                        version,
                        entry: *entry,
                        record: Arc::clone(context.schemas.get(&entry.id)?),
                    })
                })
            })
    })
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
        if !name.is_default() && context.has_subjects() {
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
) -> Result<VersionView> {
    let subject_state = state.existing_subject(subject, deleted)?;
    for (version, entry) in subject_state.visible(deleted).rev() {
        let record = state.stored(subject.context(), entry.id)?;
        let properties = record.metadata().and_then(|m| m.get("properties"));
        let matches = pairs.iter().all(|(key, value)| {
            properties
                .and_then(|p| p.get(*key))
                .and_then(|v| v.as_str())
                .is_some_and(|v| v == *value)
        });
        if matches {
            return Ok(VersionView {
                subject: subject.clone(),
                version,
                entry: *entry,
                record: Arc::clone(record),
            });
        }
    }
    Err(Error::SchemaNotFound(format!(
        "with metadata {pairs:?} in subject '{}'",
        subject.qualified()
    )))
}
