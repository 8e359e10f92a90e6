//! What the web console reads that the Confluent API has no call for: the subject list with
//! each subject's format, level, mode and semantic version; a subject's timeline with who
//! registered each version and where each setting comes from; the semantic diff of two
//! versions with a verdict per direction; the field search. Each method asks the same
//! permission check as the REST API (`Registry::authorize`, or for lists the same decision per
//! subject); the console's own code never reaches the state.

use std::collections::BTreeMap;

use covenant_core::compat::{check_pair, Budget, Incompatibility};
use covenant_core::diff::Change;
use covenant_core::ids::{
    CompatibilityLevel, ContextName, Mode, QualifiedSubject, SchemaId, Version, VersionSpec,
};
use covenant_core::schema::SchemaType;
use serde_json::Value;

use super::Registry;
use crate::access::{Caller, Operation, Resource};
use crate::error::{Error, Result};
use crate::persist::{Scope, StoredConfig, StoredReference};
use crate::state::State;

/// Which subjects the subject list shows.
#[derive(Clone, Debug, Default)]
pub struct SubjectsQuery {
    /// Only this context.
    pub context: Option<ContextName>,
    /// Only subjects whose latest version has this format.
    pub schema_type: Option<SchemaType>,
    /// Also subjects whose every version is soft-deleted.
    pub deleted: bool,
    /// Only subjects whose name contains this (case-insensitive).
    pub name: String,
    /// Rows to skip.
    pub offset: usize,
    /// Rows at most.
    pub limit: usize,
}

/// One row of the subject list.
#[derive(Clone, Debug)]
pub struct SubjectRow {
    /// The subject.
    pub subject: QualifiedSubject,
    /// The format of its latest version.
    pub schema_type: SchemaType,
    /// Live versions.
    pub live: usize,
    /// Soft-deleted versions.
    pub deleted: usize,
    /// Its latest version (the latest live one, else the latest soft-deleted one).
    pub latest: Version,
    /// The latest version's schema id.
    pub id: SchemaId,
    /// The latest version's semantic version, if it has one.
    pub semver: Option<String>,
    /// The compatibility level in force.
    pub level: CompatibilityLevel,
    /// The mode in force.
    pub mode: Mode,
}

/// A page of the subject list.
#[derive(Clone, Debug, Default)]
pub struct SubjectsPage {
    /// The rows of the page.
    pub rows: Vec<SubjectRow>,
    /// Rows matching the query in all.
    pub total: usize,
    /// Every context holding a subject the caller may read (for the filter).
    pub contexts: Vec<String>,
}

/// A version on a subject's timeline.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    /// The version.
    pub version: Version,
    /// Its schema id.
    pub id: SchemaId,
    /// Its format.
    pub schema_type: SchemaType,
    /// When it was registered (ms since the epoch).
    pub ts: i64,
    /// Whether it is soft-deleted.
    pub deleted: bool,
    /// Its semantic version and the bump that gave it.
    pub semver: Option<(String, Option<String>)>,
    /// Who registered it, from the log (`None`: anonymous, or not found).
    pub principal: Option<String>,
}

/// Where a setting in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The subject's own config or mode.
    Subject,
    /// Its context's.
    Context,
    /// The global one.
    Global,
    /// The server's configuration (nothing set in the registry).
    Server,
}

impl Source {
    /// How the console names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Subject => "subject",
            Source::Context => "context",
            Source::Global => "global",
            Source::Server => "server default",
        }
    }

    fn of(scope: &Scope) -> Source {
        match scope {
            Scope::Subject(_) => Source::Subject,
            Scope::Context(_) => Source::Context,
            Scope::Global => Source::Global,
        }
    }
}

/// A subject as its console page shows it.
#[derive(Clone, Debug)]
pub struct SubjectView {
    /// The subject.
    pub subject: QualifiedSubject,
    /// Every version, soft-deleted ones included, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Each config key in force: (key, value, where it comes from).
    pub config: Vec<(&'static str, String, Source)>,
    /// The mode in force and where it comes from.
    pub mode: (Mode, Source),
    /// The latest version's metadata and rule set.
    pub metadata: Option<Value>,
    /// The latest version's rule set.
    pub rule_set: Option<Value>,
    /// What the latest version references.
    pub references: Vec<StoredReference>,
    /// The subject versions whose schemas reference a version of this subject: (referrer,
    /// its version, the version of this subject it references).
    pub referrers: Vec<(QualifiedSubject, Version, i32)>,
}

/// One side of a diff.
#[derive(Clone, Debug)]
pub struct DiffSide {
    /// The version.
    pub version: Version,
    /// Its schema id.
    pub id: SchemaId,
    /// Its format.
    pub schema_type: SchemaType,
    /// Its text as stored.
    pub text: String,
    /// Its semantic version.
    pub semver: Option<String>,
}

/// Two versions compared: every change, and what breaks in each direction.
#[derive(Clone, Debug)]
pub struct DiffView {
    /// The older side (or the one given first).
    pub old: DiffSide,
    /// The newer side.
    pub new: DiffSide,
    /// Every change from old to new.
    pub changes: Vec<Change>,
    /// Problems when the new schema reads data written with the old (BACKWARD).
    pub backward: Vec<Incompatibility>,
    /// Problems when the old schema reads data written with the new (FORWARD).
    pub forward: Vec<Incompatibility>,
    /// The subject's level in force.
    pub level: CompatibilityLevel,
}

/// A field search hit: the newest version of a subject that declares a matching field.
#[derive(Clone, Debug)]
pub struct FieldHit {
    /// The subject.
    pub subject: QualifiedSubject,
    /// The newest version declaring the field.
    pub version: Version,
    /// Its format.
    pub schema_type: SchemaType,
    /// The field's name.
    pub field: String,
    /// The path that reaches it.
    pub path: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl Registry {
    /// Whether `caller` may do `operation` on `resource` (what the console shows actions by;
    /// the action itself is checked again when it runs).
    pub fn permits(&self, caller: &Caller, operation: Operation, resource: Resource<'_>) -> bool {
        self.authorizer.permits(caller, operation, resource)
    }

    /// The subject list: the subjects the caller may read that match `query`.
    pub fn console_subjects(&self, caller: &Caller, query: &SubjectsQuery) -> SubjectsPage {
        let state = self.engine.state();
        let needle = query.name.to_lowercase();
        let mut page = SubjectsPage::default();
        let mut contexts = std::collections::BTreeSet::new();
        for (context_name, context) in state.contexts() {
            for (name, subject_state) in &context.subjects {
                if !subject_state.has_versions()
                    || (!query.deleted && !subject_state.has_live_versions())
                {
                    continue;
                }
                let subject = QualifiedSubject::new(context_name.clone(), &**name);
                if !self.may_read(caller, &subject) {
                    continue;
                }
                contexts.insert(context_name.to_string());
                if query.context.as_ref().is_some_and(|c| c != context_name)
                    || (!needle.is_empty() && !name.to_lowercase().contains(&needle))
                {
                    continue;
                }
                let latest = subject_state
                    .versions
                    .iter()
                    .rev()
                    .find(|(_, v)| !v.deleted)
                    .or_else(|| subject_state.versions.iter().next_back());
                let Some((version, entry)) = latest else {
                    continue;
                };
                let Some(record) = context.schemas.get(&entry.id) else {
                    continue;
                };
                if query.schema_type.is_some_and(|t| t != record.schema_type) {
                    continue;
                }
                page.total += 1;
                if page.total <= query.offset || page.rows.len() >= query.limit {
                    continue;
                }
                let deleted = subject_state
                    .versions
                    .values()
                    .filter(|v| v.deleted)
                    .count();
                page.rows.push(SubjectRow {
                    schema_type: record.schema_type,
                    live: subject_state.versions.len() - deleted,
                    deleted,
                    latest: *version,
                    id: entry.id,
                    semver: subject_state
                        .semvers
                        .get(version)
                        .map(|s| s.version.clone()),
                    level: level_in_force(&state, &subject, self.settings().default_compatibility),
                    mode: state.effective_mode(&subject),
                    subject,
                });
            }
        }
        page.contexts = contexts.into_iter().collect();
        page
    }

    /// A subject's console page: its timeline, settings in force, contract and references.
    pub async fn console_subject(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
    ) -> Result<SubjectView> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        // A subject that does not exist costs no read of the audit trail.
        self.engine.state().existing_subject(subject, true)?;
        let principals = self.registered_by(subject).await?;
        let state = self.engine.state();
        let subject_state = state.existing_subject(subject, true)?;
        let context = subject.context();
        let mut timeline = Vec::new();
        for (version, entry) in &subject_state.versions {
            let record = state.stored(context, entry.id)?;
            timeline.push(TimelineEntry {
                version: *version,
                id: entry.id,
                schema_type: record.schema_type,
                ts: entry.ts,
                deleted: entry.deleted,
                semver: subject_state
                    .semvers
                    .get(version)
                    .map(|s| (s.version.clone(), s.bump.clone())),
                principal: principals.get(&version.get()).cloned().flatten(),
            });
        }
        let latest = subject_state
            .versions
            .iter()
            .rev()
            .find(|(_, v)| !v.deleted)
            .or_else(|| subject_state.versions.iter().next_back())
            .map(|(_, entry)| entry.id);
        let record = match latest {
            Some(id) => Some(state.stored(context, id)?),
            None => None,
        };
        // Schema ids are per context: each referring schema is looked up in its own, and only
        // the referring subjects the caller may read are named.
        let mut referrers = Vec::new();
        for (context_name, context_state) in state.contexts() {
            for (id, record) in &context_state.schemas {
                for reference in record.references() {
                    if !QualifiedSubject::parse_in(context_name, &reference.subject)
                        .is_ok_and(|s| &s == subject)
                    {
                        continue;
                    }
                    for (user, user_version, _) in state.usages(context_name, *id, true) {
                        if self.may_read(caller, &user) {
                            referrers.push((user, user_version, reference.version));
                        }
                    }
                }
            }
        }
        referrers.sort_by_key(|(subject, version, referenced)| {
            (subject.qualified(), *version, *referenced)
        });
        referrers.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        Ok(SubjectView {
            subject: subject.clone(),
            timeline,
            config: config_sources(&state, subject, self.settings().default_compatibility),
            mode: mode_source(&state, subject),
            metadata: record.and_then(|r| r.metadata().cloned()),
            rule_set: record.and_then(|r| r.rule_set().cloned()),
            references: record.map(|r| r.references().to_vec()).unwrap_or_default(),
            referrers,
        })
    }

    /// Who registered each version of `subject`, read from the audit trail (the log): version
    /// → principal (`None` for an anonymous caller). Shown to whoever may read the subject: a
    /// contract's authors are part of its history, and principals are names, not secrets.
    async fn registered_by(
        &self,
        subject: &QualifiedSubject,
    ) -> Result<BTreeMap<i32, Option<String>>> {
        Ok(self
            .audit
            .registered_by(&self.engine, self.head(), &subject.qualified())
            .await?
            .into_iter()
            .collect())
    }

    /// Two versions of a subject compared both ways.
    pub fn console_diff(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        old: VersionSpec,
        new: VersionSpec,
    ) -> Result<DiffView> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state_copy();
        let context = subject.context();
        let config = state.effective_config(subject);
        let side = |spec: VersionSpec| -> Result<(DiffSide, _)> {
            let (version, entry) = state.version(subject, spec, true)?;
            let record = state.stored(context, entry.id)?;
            let parsed = state.parsed(context, record)?;
            let semver = state
                .subject(subject)
                .and_then(|s| s.semvers.get(&version))
                .map(|s| s.version.clone());
            Ok((
                DiffSide {
                    version,
                    id: entry.id,
                    schema_type: record.schema_type,
                    text: record.schema().into_owned(),
                    semver,
                },
                parsed,
            ))
        };
        let (old_side, old_parsed) = side(old)?;
        let (new_side, new_parsed) = side(new)?;
        let budget = Budget::new(self.settings().max_check_work);
        let policy = crate::plan::register::policy(&config);
        let backward = check_pair(&new_parsed, &old_parsed, true, false, policy, &budget);
        let forward = check_pair(&new_parsed, &old_parsed, false, true, policy, &budget);
        if budget.is_exhausted() {
            return Err(Error::CheckTooLarge {
                limit: budget.limit(),
            });
        }
        let changes = if old_side.schema_type == new_side.schema_type {
            covenant_core::diff::diff(&old_parsed, &new_parsed)
        } else {
            Vec::new()
        };
        Ok(DiffView {
            old: old_side,
            new: new_side,
            changes,
            backward,
            forward,
            level: crate::plan::level(&config, self.settings()),
        })
    }

    /// The field search: subjects whose versions declare a field whose name contains `needle`
    /// (case-insensitive), each (subject, field) once at its newest version, from the newest
    /// schemas the caller may read; at most `limit` hits, and whether there were more.
    pub async fn search_fields(
        &self,
        caller: &Caller,
        needle: &str,
        limit: usize,
    ) -> Result<(Vec<FieldHit>, bool)> {
        let needle = needle.trim().to_lowercase();
        if needle.is_empty() {
            return Ok((Vec::new(), false));
        }
        let state = self.engine.state_copy();
        let index = std::sync::Arc::clone(&self.fields);
        let indexed = state.clone();
        let lower = needle.clone();
        let schemas = crate::work::run(async move { Ok(index.matching(&indexed, &lower)) }).await?;
        let mut hits: Vec<FieldHit> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut read = 0;
        for (context, id) in schemas {
            // The caller's live versions of the schema, newest first per subject.
            let mut users = state.usages(&context, id, false);
            users.retain(|(subject, _, _)| self.may_read(caller, subject));
            if users.is_empty() {
                continue;
            }
            if hits.len() >= limit || read >= super::fields::MAX_SCHEMAS {
                return Ok((hits, true));
            }
            read += 1;
            users.sort_by_key(|user| std::cmp::Reverse(user.1));
            let Some(record) = state.schema(&context, id) else {
                continue;
            };
            for field in covenant_core::fields::fields(record.schema_type, &record.schema()) {
                if !field.name.to_lowercase().contains(&needle) {
                    continue;
                }
                for (subject, version, _) in &users {
                    if !seen.insert((subject.clone(), field.path.clone())) {
                        continue;
                    }
                    hits.push(FieldHit {
                        subject: subject.clone(),
                        version: *version,
                        schema_type: record.schema_type,
                        field: field.name.clone(),
                        path: field.path.clone(),
                        tags: field.tags.clone(),
                    });
                }
            }
        }
        hits.sort_by(|a, b| {
            (a.subject.qualified(), &a.path).cmp(&(b.subject.qualified(), &b.path))
        });
        Ok((hits, false))
    }
}

/// The level in force for a subject: subject, then context, then global, then the server's.
fn level_in_force(
    state: &State,
    subject: &QualifiedSubject,
    default: CompatibilityLevel,
) -> CompatibilityLevel {
    Scope::chain(subject)
        .iter()
        .find_map(|scope| {
            state
                .settings(scope)
                .and_then(|s| s.config.as_ref())
                .and_then(|c| c.compatibility)
        })
        .unwrap_or(default)
}

/// Each config key in force for a subject, with where it comes from.
fn config_sources(
    state: &State,
    subject: &QualifiedSubject,
    default: CompatibilityLevel,
) -> Vec<(&'static str, String, Source)> {
    type Get = fn(&StoredConfig) -> Option<String>;
    fn json(value: &Option<Value>) -> Option<String> {
        value.as_ref().map(Value::to_string)
    }
    let keys: [(&'static str, Get); 11] = [
        ("compatibilityLevel", |c| {
            c.compatibility.map(|l| l.to_string())
        }),
        ("normalize", |c| c.normalize.map(|b| b.to_string())),
        ("validateFields", |c| {
            c.validate_fields.map(|b| b.to_string())
        }),
        ("validateRules", |c| c.validate_rules.map(|b| b.to_string())),
        ("compatibilityGroup", |c| c.compatibility_group.clone()),
        ("compatibilityPolicy", |c| {
            c.compatibility_policy.map(|p| p.to_string())
        }),
        ("defaultMetadata", |c| json(&c.default_metadata)),
        ("overrideMetadata", |c| json(&c.override_metadata)),
        ("defaultRuleSet", |c| json(&c.default_rule_set)),
        ("overrideRuleSet", |c| json(&c.override_rule_set)),
        ("alias", |c| c.alias.clone()),
    ];
    let chain = Scope::chain(subject);
    let mut out = Vec::new();
    for (key, get) in keys {
        let found = chain.iter().find_map(|scope| {
            state
                .settings(scope)
                .and_then(|s| s.config.as_ref())
                .and_then(get)
                .map(|value| (value, Source::of(scope)))
        });
        match found {
            Some((value, source)) => out.push((key, value, source)),
            None if key == "compatibilityLevel" => {
                out.push((key, default.to_string(), Source::Server))
            }
            None => {}
        }
    }
    out
}

/// The mode in force for a subject and where it comes from.
fn mode_source(state: &State, subject: &QualifiedSubject) -> (Mode, Source) {
    Scope::chain(subject)
        .iter()
        .find_map(|scope| {
            state
                .settings(scope)
                .and_then(|s| s.mode)
                .map(|mode| (mode, Source::of(scope)))
        })
        .unwrap_or((Mode::ReadWrite, Source::Server))
}
