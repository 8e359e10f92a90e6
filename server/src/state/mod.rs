//! The registry's state: a fold of the event log, held in memory and read by every request.
//!
//! [`State::apply`] is the only thing that changes it, one record at a time in log order, so a
//! node that replays the same log ends in the same state. Everything else here is a query.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod checks;
pub mod keys;
mod parsed;
pub mod text;

pub use checks::PairKey;
pub use parsed::ParseKey;
pub use text::Text;

use bytes::Bytes;
use covenant_core::api::{self, SchemaString};
use covenant_core::compat::{Budget, EarlierVersion, Incompatibility};
use covenant_core::ids::{
    CompatibilityLevel, ContextName, Mode, QualifiedSubject, SchemaId, Version, VersionSpec,
};
use covenant_core::json::Policy;
use covenant_core::references::{self, Found, ReferenceError};
use covenant_core::schema::{ParseOptions, ParsedSchema, ResolvedReference, SchemaType};
use covenant_core::semver::Verdict;
use imbl::OrdMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::persist::snapshot::{self, stream, Snapshot, StoredVersion};
use crate::persist::{
    Event, Record, RecordHash, SchemaRegistered, Scope, StoredConfig, StoredReference, StoredSemver,
};

/// Config and mode set at one scope.
#[derive(Clone, Debug, Default)]
pub struct ScopeSettings {
    /// The config set here, if any.
    pub config: Option<StoredConfig>,
    /// The mode set here, if any.
    pub mode: Option<Mode>,
}

/// One schema (one id in a context), shared by every version that uses it.
#[derive(Debug)]
pub struct SchemaRecord {
    /// The id in its context.
    pub id: SchemaId,
    /// The GUID.
    pub guid: Uuid,
    /// The format.
    pub schema_type: SchemaType,
    /// The canonical text (packed: [`Text`]).
    text: Text,
    /// References, metadata and rules: most schemas have none, so they take one pointer.
    contract: Option<Box<Contract>>,
    /// The digest of the content (its identity).
    content: ContentKey,
}

/// What a schema has beyond its text: references, metadata and rules, as registered.
#[derive(Debug)]
struct Contract {
    references: Vec<StoredReference>,
    metadata: Option<Value>,
    rule_set: Option<Value>,
}

impl SchemaRecord {
    fn new(registered: SchemaRegistered) -> SchemaRecord {
        let meta = stream::SchemaMeta {
            id: registered.id,
            guid: registered.guid,
            schema_type: registered.schema_type,
            references: registered.references,
            metadata: registered.metadata,
            rule_set: registered.rule_set,
        };
        SchemaRecord::from_plain(meta, &registered.schema)
    }

    /// A schema from its parts and its text as it is: the content digest is taken of the text
    /// before it is packed.
    fn from_plain(meta: stream::SchemaMeta, text: &str) -> SchemaRecord {
        let content = ContentKey::new(
            meta.schema_type,
            text,
            &meta.references,
            meta.metadata.as_ref(),
            meta.rule_set.as_ref(),
        );
        SchemaRecord::restored(meta, content, Text::new(text))
    }

    /// A schema from its parts, its content digest and its text as held (a format 6
    /// snapshot's).
    fn restored(meta: stream::SchemaMeta, content: ContentKey, text: Text) -> SchemaRecord {
        let contract =
            (!meta.references.is_empty() || meta.metadata.is_some() || meta.rule_set.is_some())
                .then(|| {
                    Box::new(Contract {
                        references: meta.references,
                        metadata: meta.metadata,
                        rule_set: meta.rule_set,
                    })
                });
        SchemaRecord {
            id: meta.id,
            guid: meta.guid,
            schema_type: meta.schema_type,
            text,
            contract,
            content,
        }
    }

    /// The canonical text.
    pub fn schema(&self) -> Cow<'_, str> {
        self.text.get()
    }

    /// The canonical text as held.
    pub fn text(&self) -> &Text {
        &self.text
    }

    /// References, as registered.
    pub fn references(&self) -> &[StoredReference] {
        self.contract.as_ref().map_or(&[], |c| &c.references)
    }

    /// Metadata, as registered.
    pub fn metadata(&self) -> Option<&Value> {
        self.contract.as_ref().and_then(|c| c.metadata.as_ref())
    }

    /// Rule set, as registered.
    pub fn rule_set(&self) -> Option<&Value> {
        self.contract.as_ref().and_then(|c| c.rule_set.as_ref())
    }

    /// The references in the REST shape.
    pub fn api_references(&self) -> Vec<api::SchemaReference> {
        self.references()
            .iter()
            .map(|r| api::SchemaReference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            })
            .collect()
    }

    /// The `GET /schemas/ids/{id}` body, serialised.
    pub fn id_body(&self) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&self.schema_string()).expect("a schema body always serializes"),
        )
    }

    /// The `GET /schemas/ids/{id}` body.
    pub fn schema_string(&self) -> SchemaString {
        SchemaString {
            schema_type: self.schema_type.member(),
            schema: self.schema().into_owned(),
            references: self.api_references(),
            metadata: self.metadata().cloned(),
            rule_set: self.rule_set().cloned(),
            max_id: None,
            guid: Some(self.guid.to_string()),
        }
    }

    /// The value of a metadata property (`metadata.properties[key]`), as text.
    pub fn property(&self, key: &str) -> Option<Cow<'_, str>> {
        property(self.metadata(), key)
    }

    #[cfg(test)]
    fn to_snapshot(&self) -> snapshot::Schema {
        snapshot::Schema {
            subject: String::new(),
            version: 0,
            id: self.id,
            guid: self.guid,
            schema_type: self.schema_type,
            schema: self.schema().into_owned(),
            references: self.references().to_vec(),
            metadata: self.metadata().cloned(),
            rule_set: self.rule_set().cloned(),
        }
    }
}

/// One version of a subject.
#[derive(Clone, Copy, Debug)]
pub struct VersionState {
    /// The schema id.
    pub id: SchemaId,
    /// Soft-deleted.
    pub deleted: bool,
    /// Registration time, milliseconds since the epoch.
    pub ts: i64,
}

/// A subject: its versions, its own config and mode.
#[derive(Clone, Debug, Default)]
pub struct SubjectState {
    /// Config and mode set on the subject.
    pub settings: ScopeSettings,
    /// Versions still stored (soft-deleted included, permanently deleted removed).
    pub versions: OrdMap<Version, VersionState>,
    /// The highest version ever used: versions are never reused.
    pub max_version: Option<Version>,
    /// Semantic versions, as their registrations recorded them (versions registered before
    /// format 5 have none).
    pub semvers: OrdMap<Version, Arc<StoredSemver>>,
}

impl SubjectState {
    /// Whether any version is stored (soft-deleted included).
    pub fn has_versions(&self) -> bool {
        !self.versions.is_empty()
    }

    /// Whether any version is live (not soft-deleted).
    pub fn has_live_versions(&self) -> bool {
        self.versions.values().any(|v| !v.deleted)
    }

    /// Versions visible under the `deleted` flag, oldest first.
    pub fn visible(
        &self,
        include_deleted: bool,
    ) -> impl DoubleEndedIterator<Item = (Version, &VersionState)> + '_ {
        self.versions
            .iter()
            .filter(move |(_, v)| include_deleted || !v.deleted)
            .map(|(n, v)| (*n, v))
    }
}

/// The identity of a schema's content: the SHA-256 of its type, canonical text, references,
/// metadata and rules (a digest, so the index does not hold a second copy of every text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// The key of a schema's content.
    pub fn new(
        schema_type: SchemaType,
        schema: &str,
        references: &[StoredReference],
        metadata: Option<&Value>,
        rule_set: Option<&Value>,
    ) -> ContentKey {
        let references = serde_json::to_string(references).expect("references serialize");
        let metadata = metadata.map(Value::to_string).unwrap_or_default();
        let rule_set = rule_set.map(Value::to_string).unwrap_or_default();
        let mut digest = Sha256::new();
        for part in [
            schema_type.as_str(),
            schema,
            &references,
            &metadata,
            &rule_set,
        ] {
            // Each part with its length first, so no two different contents hash the same input.
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        ContentKey(digest.finalize().into())
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// One context: its own id space, subjects, config and mode.
#[derive(Clone, Debug, Default)]
pub struct ContextState {
    /// Config and mode set on the context.
    pub settings: ScopeSettings,
    /// Every schema ever registered in the context, by id.
    pub schemas: OrdMap<SchemaId, Arc<SchemaRecord>>,
    by_content: OrdMap<ContentKey, SchemaId>,
    /// The stored versions (soft-deleted included) using each id.
    users: OrdMap<SchemaId, Users>,
    /// Subjects by name (within the context); the name is shared with the ids' users.
    pub subjects: OrdMap<Arc<str>, SubjectState>,
    /// The highest id ever used.
    pub max_id: Option<SchemaId>,
}

impl ContextState {
    /// The id of a schema with this exact content, if one was ever registered.
    pub fn id_of(&self, key: &ContentKey) -> Option<SchemaId> {
        self.by_content.get(key).copied()
    }

    /// Whether some stored version (soft-deleted included) uses the id.
    pub fn is_in_use(&self, id: SchemaId) -> bool {
        self.users.contains_key(&id)
    }

    /// Whether any subject of the context has versions (soft-deleted included).
    pub fn has_subjects(&self) -> bool {
        self.subjects.values().any(SubjectState::has_versions)
    }

    fn insert_schema(&mut self, record: SchemaRecord) -> Arc<SchemaRecord> {
        let record = Arc::new(record);
        self.by_content.insert(record.content, record.id);
        self.schemas.insert(record.id, Arc::clone(&record));
        record
    }

    fn use_id(&mut self, id: SchemaId, subject: &Arc<str>, version: Version) {
        match self.users.get_mut(&id) {
            Some(users) => users.add(subject, version),
            None => {
                self.users
                    .insert(id, Users::One(Arc::clone(subject), version));
            }
        }
    }

    fn release(&mut self, id: SchemaId, subject: &str, version: Version) {
        if let Some(users) = self.users.get_mut(&id) {
            if users.remove(subject, version) {
                self.users.remove(&id);
            }
        }
    }

    /// The name of a subject as the state holds it (shared), or a new one.
    fn subject_name(&self, name: &str) -> Arc<str> {
        match self.subjects.get_key_value(name) {
            Some((held, _)) => Arc::clone(held),
            None => Arc::from(name),
        }
    }
}

/// The stored versions using one id, as (subject name, version), sorted. Nearly every id has
/// one, held inline; the names are the subject map's own.
#[derive(Clone, Debug)]
enum Users {
    One(Arc<str>, Version),
    Many(Arc<[(Arc<str>, Version)]>),
}

impl Users {
    fn iter(&self) -> impl Iterator<Item = (&str, Version)> + '_ {
        let (one, many) = match self {
            Users::One(name, version) => (Some((&**name, *version)), None),
            Users::Many(users) => (None, Some(users.iter().map(|(n, v)| (&**n, *v)))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    fn to_vec(&self) -> Vec<(Arc<str>, Version)> {
        match self {
            Users::One(name, version) => vec![(Arc::clone(name), *version)],
            Users::Many(users) => users.to_vec(),
        }
    }

    fn add(&mut self, subject: &Arc<str>, version: Version) {
        let mut users = self.to_vec();
        let key = (&**subject, version);
        if let Err(at) = users.binary_search_by(|(n, v)| (&**n, *v).cmp(&key)) {
            users.insert(at, (Arc::clone(subject), version));
            *self = Users::Many(users.into());
        }
    }

    /// Removes a user; true when none is left.
    fn remove(&mut self, subject: &str, version: Version) -> bool {
        let mut users = self.to_vec();
        users.retain(|(n, v)| !(&**n == subject && *v == version));
        match users.len() {
            0 => true,
            1 => {
                let (name, version) = users.remove(0);
                *self = Users::One(name, version);
                false
            }
            _ => {
                *self = Users::Many(users.into());
                false
            }
        }
    }
}

/// A candidate against a stored schema: what the check memo names a check by, besides the
/// directions and the policy.
pub struct Pair<'a> {
    /// The key of the candidate's parse.
    pub candidate: ParseKey,
    /// The candidate, parsed.
    pub new: &'a ParsedSchema,
    /// The stored schema's context.
    pub context: &'a ContextName,
    /// The stored schema.
    pub old: &'a SchemaRecord,
}

/// How stored schemas are parsed: as stored (they were normalized, if at all, when registered)
/// and without the checks only new registrations must pass.
const STORED: ParseOptions = ParseOptions {
    normalize: false,
    strict: false,
    max_elements: None,
};

/// The whole registry state. Its maps are persistent (`imbl`'s B-trees, whose nodes are dense
/// where its hash tries' are mostly empty slots at this size): a clone shares them and costs a
/// few reference counts, and a change to the clone copies only the paths it changes. The engine
/// plans writes on such a copy while reads go on from the durable state.
#[derive(Clone, Debug, Default)]
pub struct State {
    head: u64,
    /// The hash of the record at `head - 1`: what the next record must chain to.
    tip: RecordHash,
    global: ScopeSettings,
    contexts: OrdMap<ContextName, ContextState>,
    guids: OrdMap<Uuid, (ContextName, SchemaId)>,
    /// Parsed forms of stored schemas, kept under a bound and shared by every clone.
    parsed: Arc<parsed::ParsedCache>,
    /// Compatibility checks and semantic-version verdicts already made, under a bound and
    /// shared by every clone.
    checks: Arc<checks::CheckMemo>,
    /// The DEK registry.
    keys: keys::Keys,
    /// Associations of resources with subjects.
    associations: keys::Associations,
}

impl State {
    /// The offset of the next record: every record before it has been applied.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The hash of the last record applied ([`RecordHash::GENESIS`] before the first).
    pub fn tip(&self) -> RecordHash {
        self.tip
    }

    /// Applies the record at `offset` (which must be the head), whose stored bytes hash to
    /// `hash`.
    pub fn apply(&mut self, offset: u64, record: &Record, hash: RecordHash) {
        debug_assert_eq!(offset, self.head, "records are applied in log order");
        self.head = offset + 1;
        self.tip = hash;
        self.apply_event(&record.event, record.ts);
    }

    /// The DEK registry.
    pub fn keys(&self) -> &keys::Keys {
        &self.keys
    }

    /// The associations.
    pub fn associations(&self) -> &keys::Associations {
        &self.associations
    }

    fn apply_event(&mut self, event: &Event, ts: i64) {
        match event {
            Event::SchemaRegistered(registered) => self.apply_registered(registered, ts),
            Event::VersionDeleted {
                subject,
                version,
                permanent,
            } => {
                let Some(context) = self.contexts.get_mut(subject.context()) else {
                    return;
                };
                let Some(state) = context.subjects.get_mut(subject.name()) else {
                    return;
                };
                if *permanent {
                    if let Some(removed) = state.versions.remove(version) {
                        context.release(removed.id, subject.name(), *version);
                    }
                } else if let Some(entry) = state.versions.get_mut(version) {
                    entry.deleted = true;
                }
            }
            Event::SubjectDeleted { subject, permanent } => {
                let Some(context) = self.contexts.get_mut(subject.context()) else {
                    return;
                };
                let Some(state) = context.subjects.get_mut(subject.name()) else {
                    return;
                };
                if *permanent {
                    let removed: Vec<(Version, SchemaId)> = state
                        .versions
                        .iter()
                        .filter(|(_, v)| v.deleted)
                        .map(|(n, v)| (*n, v.id))
                        .collect();
                    for (version, _) in &removed {
                        state.versions.remove(version);
                    }
                    state.settings = ScopeSettings::default();
                    for (version, id) in removed {
                        context.release(id, subject.name(), version);
                    }
                } else {
                    let live: Vec<Version> = state
                        .versions
                        .iter()
                        .filter(|(_, v)| !v.deleted)
                        .map(|(n, _)| *n)
                        .collect();
                    for version in live {
                        if let Some(entry) = state.versions.get_mut(&version) {
                            entry.deleted = true;
                        }
                    }
                }
            }
            Event::ConfigSet { scope, config } => {
                self.settings_mut(scope).config = Some(config.clone());
            }
            Event::ConfigDeleted { scope } => self.settings_mut(scope).config = None,
            Event::ModeSet { scope, mode } => self.settings_mut(scope).mode = Some(*mode),
            Event::ModeDeleted { scope } => self.settings_mut(scope).mode = None,
            Event::KekCreated { kek } | Event::KekUpdated { kek } => self.keys.kek_set(kek, ts),
            Event::KekDeleted { name, permanent } => self.keys.kek_deleted(name, *permanent, ts),
            Event::KekUndeleted { name } => self.keys.kek_undeleted(name, ts),
            Event::DekCreated { dek } => self.keys.dek_created(dek, ts),
            Event::DekDeleted {
                kek,
                subject,
                algorithm,
                version,
                permanent,
            } => self
                .keys
                .dek_deleted(kek, subject, *algorithm, *version, *permanent, ts),
            Event::DekUndeleted {
                kek,
                subject,
                algorithm,
                version,
            } => self
                .keys
                .dek_undeleted(kek, subject, *algorithm, *version, ts),
            Event::AssociationSet { association } => self.associations.set(association, ts),
            Event::AssociationDeleted {
                resource_id,
                association_type,
            } => self.associations.delete(resource_id, association_type),
            Event::Batch { events } => {
                for event in events {
                    self.apply_event(event, ts);
                }
            }
        }
    }

    fn apply_registered(&mut self, registered: &SchemaRegistered, ts: i64) {
        let subject = &registered.subject;
        let known = self
            .contexts
            .get(subject.context())
            .is_some_and(|c| c.schemas.contains_key(&registered.id));
        if !known {
            // Releases before 0.2 stored a reference to `-1` as given; it names the latest
            // version at the time, which the fold reaches again at this point of the log.
            let mut registered = registered.clone();
            if let Ok(pinned) = self.pin_references(subject.context(), &registered.references) {
                registered.references = pinned;
            }
            self.guids
                .insert(registered.guid, (subject.context().clone(), registered.id));
            self.contexts
                .entry(subject.context().clone())
                .or_default()
                .insert_schema(SchemaRecord::new(registered));
        }
        let context = self.contexts.entry(subject.context().clone()).or_default();
        context.max_id = context.max_id.max(Some(registered.id));
        let name = context.subject_name(subject.name());
        let entry = context.subjects.entry(Arc::clone(&name)).or_default();
        entry.max_version = entry.max_version.max(Some(registered.version));
        let previous = entry.versions.insert(
            registered.version,
            VersionState {
                id: registered.id,
                deleted: false,
                ts,
            },
        );
        match &registered.semver {
            Some(semver) => {
                entry
                    .semvers
                    .insert(registered.version, Arc::new(semver.clone()));
            }
            None => {
                entry.semvers.remove(&registered.version);
            }
        }
        if let Some(previous) = previous {
            context.release(previous.id, subject.name(), registered.version);
        }
        context.use_id(registered.id, &name, registered.version);
    }

    fn settings_mut(&mut self, scope: &Scope) -> &mut ScopeSettings {
        match scope {
            Scope::Global => &mut self.global,
            Scope::Context(name) => &mut self.contexts.entry(name.clone()).or_default().settings,
            Scope::Subject(subject) => {
                &mut self
                    .contexts
                    .entry(subject.context().clone())
                    .or_default()
                    .subjects
                    .entry(Arc::from(subject.name()))
                    .or_default()
                    .settings
            }
        }
    }

    // ----------------------------------------------------------------------------- queries

    /// A context, if anything was ever registered or configured in it.
    pub fn context(&self, name: &ContextName) -> Option<&ContextState> {
        self.contexts.get(name)
    }

    /// Every context, in name order.
    pub fn contexts(&self) -> impl Iterator<Item = (&ContextName, &ContextState)> {
        self.contexts.iter()
    }

    /// The settings at a scope.
    pub fn settings(&self, scope: &Scope) -> Option<&ScopeSettings> {
        match scope {
            Scope::Global => Some(&self.global),
            Scope::Context(name) => self.contexts.get(name).map(|c| &c.settings),
            Scope::Subject(subject) => self.subject(subject).map(|s| &s.settings),
        }
    }

    /// The config that applies to a subject, key by key: subject, then context, then global.
    pub fn effective_config(&self, subject: &QualifiedSubject) -> StoredConfig {
        let mut merged = StoredConfig::default();
        for scope in Scope::chain(subject) {
            if let Some(config) = self.settings(&scope).and_then(|s| s.config.as_ref()) {
                merged.fill_from(config);
            }
        }
        merged
    }

    /// The mode that applies to a subject: subject, then context, then global, then READWRITE.
    pub fn effective_mode(&self, subject: &QualifiedSubject) -> Mode {
        Scope::chain(subject)
            .iter()
            .find_map(|scope| self.settings(scope).and_then(|s| s.mode))
            .unwrap_or(Mode::ReadWrite)
    }

    /// A subject's entry, whether or not it has versions.
    pub fn subject(&self, subject: &QualifiedSubject) -> Option<&SubjectState> {
        self.contexts
            .get(subject.context())?
            .subjects
            .get(subject.name())
    }

    /// Whether the scope holds any subject with versions (soft-deleted included).
    pub fn scope_has_subjects(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Global => self.contexts.values().any(ContextState::has_subjects),
            Scope::Context(name) => self.context(name).is_some_and(ContextState::has_subjects),
            Scope::Subject(subject) => self
                .subject(subject)
                .is_some_and(SubjectState::has_versions),
        }
    }

    /// A subject that has versions visible under `include_deleted`, or 40401.
    pub fn existing_subject(
        &self,
        subject: &QualifiedSubject,
        include_deleted: bool,
    ) -> Result<&SubjectState> {
        match self.subject(subject) {
            Some(state) if state.has_live_versions() => Ok(state),
            Some(state) if include_deleted && state.has_versions() => Ok(state),
            _ => Err(Error::SubjectNotFound(subject.qualified())),
        }
    }

    /// Resolves a version of an existing subject: 40401, 40402 as Confluent answers.
    pub fn version(
        &self,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<(Version, VersionState)> {
        let state = self.existing_subject(subject, include_deleted)?;
        let found = match spec {
            VersionSpec::Latest => state.visible(include_deleted).next_back(),
            VersionSpec::Number(n) => state
                .versions
                .get(&n)
                .filter(|v| include_deleted || !v.deleted)
                .map(|v| (n, v)),
        };
        found
            .map(|(n, v)| (n, *v))
            .ok_or_else(|| Error::VersionNotFound {
                subject: subject.qualified(),
                version: spec.to_string(),
            })
    }

    /// A schema by id in a context.
    pub fn schema(&self, context: &ContextName, id: SchemaId) -> Option<&Arc<SchemaRecord>> {
        self.contexts.get(context)?.schemas.get(&id)
    }

    /// The schema a stored version uses; its absence is a broken invariant, reported as such.
    pub fn stored(&self, context: &ContextName, id: SchemaId) -> Result<&Arc<SchemaRecord>> {
        self.schema(context, id).ok_or_else(|| {
            Error::Internal(format!("schema {id} is missing from context {context}"))
        })
    }

    /// A schema by GUID.
    pub fn schema_by_guid(&self, guid: &Uuid) -> Option<(&ContextName, &Arc<SchemaRecord>)> {
        let (context, id) = self.guids.get(guid)?;
        Some((context, self.schema(context, *id)?))
    }

    /// The (subject, version, state) triples that use schema `id` in `context`.
    pub fn usages(
        &self,
        context: &ContextName,
        id: SchemaId,
        include_deleted: bool,
    ) -> Vec<(QualifiedSubject, Version, VersionState)> {
        let Some(ctx) = self.contexts.get(context) else {
            return Vec::new();
        };
        let Some(users) = ctx.users.get(&id) else {
            return Vec::new();
        };
        users
            .iter()
            .filter_map(|(name, version)| {
                let state = ctx.subjects.get(name)?.versions.get(&version)?;
                (include_deleted || !state.deleted).then(|| {
                    (
                        QualifiedSubject::new(context.clone(), name),
                        version,
                        *state,
                    )
                })
            })
            .collect()
    }

    /// The references as they are stored: a `-1` (latest) resolved to the version it names now,
    /// as Confluent stores it, so that the schema keeps the version it was checked against and
    /// that version stays protected from deletion.
    pub fn pin_references(
        &self,
        context: &ContextName,
        references: &[StoredReference],
    ) -> Result<Vec<StoredReference>> {
        references
            .iter()
            .map(|reference| {
                if reference.version != -1 {
                    return Ok(reference.clone());
                }
                let subject =
                    QualifiedSubject::parse_in(context, &reference.subject).map_err(|e| {
                        Error::InvalidSchema(format!("invalid reference `{}`: {e}", reference.name))
                    })?;
                let (version, _) =
                    self.version(&subject, VersionSpec::Latest, false)
                        .map_err(|_| {
                            Error::InvalidSchema(format!(
                                "invalid reference `{}`: subject `{}` has no version",
                                reference.name,
                                subject.qualified()
                            ))
                        })?;
                Ok(StoredReference {
                    version: version.get(),
                    ..reference.clone()
                })
            })
            .collect()
    }

    /// Resolves references made from `context`, returning the whole closure, dependencies first.
    pub fn resolve_references(
        &self,
        context: &ContextName,
        references: &[StoredReference],
    ) -> Result<Vec<(String, Arc<SchemaRecord>)>> {
        let roots: Vec<api::SchemaReference> = references
            .iter()
            .map(|r| api::SchemaReference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            })
            .collect();
        references::closure(context, &roots, |context, reference, spec| {
            let subject = QualifiedSubject::parse_in(context, &reference.subject).map_err(|e| {
                Error::InvalidSchema(format!("invalid reference `{}`: {e}", reference.name))
            })?;
            let (_, version) = self.version(&subject, spec, false).map_err(|_| {
                Error::InvalidSchema(format!(
                    "invalid reference `{}`: subject `{}` has no version {}",
                    reference.name,
                    subject.qualified(),
                    spec
                ))
            })?;
            let record = self.stored(subject.context(), version.id)?;
            Ok(Found {
                key: (subject.context().clone(), version.id),
                scope: subject.context().clone(),
                references: record.api_references(),
                value: Arc::clone(record),
            })
        })
    }

    /// Parses a text against references resolved in `context`, through the cache of parsed
    /// schemas (a text parsed before with the same options and references is not parsed again).
    pub fn parse(
        &self,
        context: &ContextName,
        schema_type: SchemaType,
        text: &str,
        references: &[StoredReference],
        options: ParseOptions,
    ) -> Result<Arc<ParsedSchema>> {
        self.parse_keyed(context, schema_type, text, references, options)
            .map(|(_, parsed)| parsed)
    }

    /// [`State::parse`], with the key of the parse (what names it in the check memo).
    pub fn parse_keyed(
        &self,
        context: &ContextName,
        schema_type: SchemaType,
        text: &str,
        references: &[StoredReference],
        options: ParseOptions,
    ) -> Result<(ParseKey, Arc<ParsedSchema>)> {
        let resolved = self.resolve_references(context, references)?;
        let key = parsed::ParseKey::new(
            schema_type,
            text,
            options,
            resolved
                .iter()
                .map(|(name, record)| (name.as_str(), record.content)),
        );
        let parsed = self
            .parsed
            .get_or_parse(key, options.strict, text.len(), || {
                let texts: Vec<Cow<'_, str>> =
                    resolved.iter().map(|(_, record)| record.schema()).collect();
                let refs: Vec<ResolvedReference<'_>> = resolved
                    .iter()
                    .zip(&texts)
                    .map(|((name, _), text)| ResolvedReference { name, schema: text })
                    .collect();
                ParsedSchema::parse(schema_type, text, &refs, options).map_err(|e| match e {
                    covenant_core::Error::InvalidSchema(message) => Error::InvalidSchema(message),
                    other => Error::Core(other),
                })
            })?;
        Ok((key, parsed))
    }

    /// The key of a stored schema's parse ([`State::parsed`]), without parsing it.
    pub fn parsed_key(&self, context: &ContextName, record: &SchemaRecord) -> Result<ParseKey> {
        let resolved = self.resolve_references(context, record.references())?;
        Ok(parsed::ParseKey::new(
            record.schema_type,
            &record.schema(),
            STORED,
            resolved
                .iter()
                .map(|(name, record)| (name.as_str(), record.content)),
        ))
    }

    /// The memo's key of checking `pair` in `directions` (backward, forward) under `policy`.
    fn pair_key(
        &self,
        pair: &Pair<'_>,
        (backward, forward): (bool, bool),
        policy: Policy,
    ) -> Result<PairKey> {
        Ok(PairKey {
            new: pair.candidate,
            old: self.parsed_key(pair.context, pair.old)?,
            backward,
            forward,
            policy,
        })
    }

    /// What [`compat::check_pair`](covenant_core::compat::check_pair) finds for `pair` in
    /// `directions` (backward, forward), from the memo when the pair was checked before.
    pub fn check_pair(
        &self,
        pair: &Pair<'_>,
        directions: (bool, bool),
        policy: Policy,
        budget: &Budget,
    ) -> Result<Vec<Incompatibility>> {
        let key = self.pair_key(pair, directions, policy)?;
        self.checks.pair(key, || {
            let old = self.parsed(pair.context, pair.old)?;
            let (backward, forward) = directions;
            let found = covenant_core::compat::check_pair(
                pair.new, &old, backward, forward, policy, budget,
            );
            Ok((found, !budget.is_exhausted()))
        })
    }

    /// The semantic-version verdict from `pair`'s stored schema to its candidate under `level`
    /// ([`covenant_core::semver::classify`]), from the memo when the pair was judged before;
    /// its check comes from the check memo (a registration has just made it).
    pub fn classify(
        &self,
        pair: &Pair<'_>,
        level: CompatibilityLevel,
        policy: Policy,
        budget_limit: u64,
    ) -> Result<Verdict> {
        let directions = covenant_core::semver::directions(level);
        let key = self.pair_key(pair, directions, policy)?;
        self.checks.verdict(key, || {
            let budget = Budget::new(budget_limit);
            let problems = self.check_pair(pair, directions, policy, &budget)?;
            let old = self.parsed(pair.context, pair.old)?;
            let exhausted = budget.is_exhausted();
            let verdict = covenant_core::semver::classify_checked(
                &old,
                pair.new,
                &problems,
                exhausted,
                directions.0,
            );
            Ok((verdict, !exhausted))
        })
    }

    /// A stored schema's parsed form (from the cache when it is there).
    pub fn parsed(
        &self,
        context: &ContextName,
        record: &SchemaRecord,
    ) -> Result<Arc<ParsedSchema>> {
        self.parse(
            context,
            record.schema_type,
            &record.schema(),
            record.references(),
            STORED,
        )
        .map_err(|e| Error::Internal(format!("stored schema {} no longer parses: {e}", record.id)))
    }

    /// Ids of the schemas whose stored versions reference `subject` version `version`.
    pub fn referenced_by(&self, subject: &QualifiedSubject, version: Version) -> Vec<SchemaId> {
        self.referrers(subject)
            .remove(&version.get())
            .map(|ids| ids.into_iter().collect())
            .unwrap_or_default()
    }

    /// For each version number of `subject` that a stored version's schema references, the
    /// ids of those schemas.
    pub fn referrers(&self, subject: &QualifiedSubject) -> BTreeMap<i32, BTreeSet<SchemaId>> {
        let mut found: BTreeMap<i32, BTreeSet<SchemaId>> = BTreeMap::new();
        for (context_name, context) in &self.contexts {
            for (id, record) in &context.schemas {
                if !context.is_in_use(*id) {
                    continue;
                }
                for reference in record.references() {
                    if QualifiedSubject::parse_in(context_name, &reference.subject)
                        .is_ok_and(|s| &s == subject)
                    {
                        found.entry(reference.version).or_default().insert(*id);
                    }
                }
            }
        }
        found
    }

    // ----------------------------------------------------------------------------- snapshots

    /// The state as a format 4 document (what tests compare states by, and the format the
    /// pinned fixtures of formats 1 to 4 are checked against).
    #[cfg(test)]
    pub fn to_snapshot(&self) -> Snapshot {
        let contexts = self
            .contexts
            .iter()
            .map(|(name, context)| snapshot::Context {
                name: name.as_str().to_string(),
                settings: settings_out(&context.settings),
                max_id: context.max_id.map_or(0, SchemaId::get),
                schemas: context.schemas.values().map(|r| r.to_snapshot()).collect(),
                subjects: context
                    .subjects
                    .iter()
                    .map(|(name, subject)| subject_out(name, subject))
                    .collect(),
            })
            .collect();
        let header = self.snapshot_header();
        Snapshot {
            format: snapshot::DOCUMENT,
            head: header.head,
            tip: Some(header.tip),
            global: header.global,
            contexts,
            keks: header.keks,
            deks: header.deks,
            associations: header.associations,
        }
    }

    /// Writes the state as a snapshot in this build's format (5), straight from the state: no
    /// copy of it is made, and `out` sees one frame at a time.
    pub fn write_snapshot(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut writer = stream::Writer::new(out, &self.snapshot_header())?;
        for (name, context) in &self.contexts {
            writer.context(&stream::ContextHead {
                name: name.as_str().to_string(),
                settings: settings_out(&context.settings),
                max_id: context.max_id.map_or(0, SchemaId::get),
            })?;
            for record in context.schemas.values() {
                let meta = stream::SchemaMeta {
                    id: record.id,
                    guid: record.guid,
                    schema_type: record.schema_type,
                    references: record.references().to_vec(),
                    metadata: record.metadata().cloned(),
                    rule_set: record.rule_set().cloned(),
                };
                writer.schema(&meta, record.content.as_bytes(), record.text.stored())?;
            }
            for (name, subject) in &context.subjects {
                writer.subject(&subject_out(name, subject))?;
            }
        }
        writer.finish()?;
        Ok(())
    }

    /// The snapshot [`State::write_snapshot`] writes, in memory.
    #[cfg(test)]
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut bytes).expect("writing to memory");
        bytes
    }

    fn snapshot_header(&self) -> stream::Header {
        stream::Header {
            head: self.head,
            tip: self.tip,
            global: settings_out(&self.global),
            keks: self
                .keys
                .keks
                .values()
                .map(|e| snapshot::Kek {
                    kek: e.kek.clone(),
                    ts: e.ts,
                })
                .collect(),
            deks: self
                .keys
                .deks
                .values()
                .map(|e| snapshot::Dek {
                    dek: e.dek.clone(),
                    ts: e.ts,
                })
                .collect(),
            associations: self
                .associations
                .entries
                .values()
                .map(|e| snapshot::Association {
                    association: e.association.clone(),
                    create_ts: e.create_ts,
                    update_ts: e.update_ts,
                })
                .collect(),
        }
    }

    /// The state a format 1 to 4 snapshot holds. A snapshot names contexts, ids and versions
    /// the log put there; one it cannot hold (an invalid name, an id out of range) is refused,
    /// so the node replays the log instead.
    pub fn from_snapshot(snapshot: Snapshot) -> std::result::Result<State, String> {
        let mut restore = Restore::new(stream::Header {
            head: snapshot.head,
            tip: snapshot.tip.unwrap_or_default(),
            global: snapshot.global,
            keks: snapshot.keks,
            deks: snapshot.deks,
            associations: snapshot.associations,
        });
        for context in snapshot.contexts {
            restore.context(stream::ContextHead {
                name: context.name,
                settings: context.settings,
                max_id: context.max_id,
            })?;
            for schema in context.schemas {
                let meta = stream::SchemaMeta {
                    id: schema.id,
                    guid: schema.guid,
                    schema_type: schema.schema_type,
                    references: schema.references,
                    metadata: schema.metadata,
                    rule_set: schema.rule_set,
                };
                restore.schema(SchemaRecord::from_plain(meta, &schema.schema))?;
            }
            for subject in context.subjects {
                let (name, subject) = subject_in(subject)?;
                restore.subject(name, subject)?;
            }
        }
        Ok(restore.finish())
    }

    /// The state a format 5 or 6 snapshot stored at `offset` holds, read frame by frame;
    /// refused (with the reason) as [`State::from_snapshot`] refuses, and when the stream is
    /// damaged, cut short or fails the store's checksum.
    ///
    /// The frames are read, checked and made into records and subjects on a thread of their
    /// own while this one folds them into the maps: the two halves cost about the same, and
    /// most of either is the kernel handing over fresh memory, which two threads get twice as
    /// fast.
    pub fn from_snapshot_stream(
        input: impl std::io::Read + Send,
        format: u32,
        offset: u64,
    ) -> std::result::Result<State, String> {
        let (mut reader, header) = stream::Reader::open(input, format, offset)?;
        let mut restore = Restore::new(header);
        let (send, receive) = std::sync::mpsc::sync_channel::<Restored>(16);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(RESTORE_BATCH);
                let failed = loop {
                    let frame = match reader.next_frame() {
                        Ok(stream::Frame::End) => break None,
                        Ok(frame) => frame,
                        Err(reason) => break Some(reason),
                    };
                    match Ready::of(frame) {
                        Ok(ready) => batch.push(ready),
                        Err(reason) => break Some(reason),
                    }
                    if batch.len() == RESTORE_BATCH
                        && send
                            .send(Restored::Batch(std::mem::take(&mut batch)))
                            .is_err()
                    {
                        // The folding side stopped (it refused something): so does this one.
                        return;
                    }
                };
                let _ = send.send(Restored::Batch(batch));
                let _ = send.send(match failed {
                    None => Restored::End,
                    Some(reason) => Restored::Failed(reason),
                });
            });
            loop {
                match receive.recv() {
                    Ok(Restored::Batch(batch)) => {
                        for ready in batch {
                            match ready {
                                Ready::Context(context) => restore.context(context)?,
                                Ready::Schema(record) => restore.schema(record)?,
                                Ready::Subject(name, subject) => restore.subject(name, subject)?,
                            }
                        }
                    }
                    Ok(Restored::End) => return Ok(restore.finish()),
                    Ok(Restored::Failed(reason)) => return Err(reason),
                    Err(_) => return Err("the snapshot's reading thread stopped".into()),
                }
            }
        })
    }
}

/// Frames handed from the reading thread to the folding one at a time.
const RESTORE_BATCH: usize = 256;

/// What the reading thread hands over.
enum Restored {
    Batch(Vec<Ready>),
    End,
    Failed(String),
}

/// A snapshot frame made into what the state holds.
enum Ready {
    Context(stream::ContextHead),
    Schema(SchemaRecord),
    Subject(Arc<str>, SubjectState),
}

impl Ready {
    fn of(frame: stream::Frame<'_>) -> std::result::Result<Ready, String> {
        Ok(match frame {
            stream::Frame::Context(context) => Ready::Context(context),
            stream::Frame::Schema(meta, body) => Ready::Schema(match (body.content, body.text) {
                // Format 6: the digest and the text as held.
                (Some(content), stored) => {
                    SchemaRecord::restored(meta, ContentKey(content), Text::from_stored(stored)?)
                }
                // Format 5: the text as it is, and no digest.
                (None, text::Stored::Plain(text)) => SchemaRecord::from_plain(meta, text),
                (None, text::Stored::Lz4 { .. }) => {
                    return Err("a packed text without its content digest".into())
                }
            }),
            stream::Frame::Subject(subject) => {
                let (name, subject) = subject_in(subject)?;
                Ready::Subject(name, subject)
            }
            stream::Frame::End => return Err("an end frame is not a frame to restore".into()),
        })
    }
}

/// A subject as a snapshot stores it, made into the state's.
fn subject_in(subject: snapshot::Subject) -> std::result::Result<(Arc<str>, SubjectState), String> {
    let versions = subject
        .versions
        .into_iter()
        .map(|StoredVersion(version, id, deleted, ts)| (version, VersionState { id, deleted, ts }))
        .collect();
    let semvers = subject
        .semvers
        .into_iter()
        .map(|snapshot::VersionSemver(version, mut semver)| {
            // Decoding grows a list by doubling (room for four reasons where most have one):
            // at a million versions that was 70 MB of empty room.
            semver.reasons.shrink_to_fit();
            (version, Arc::new(semver))
        })
        .collect();
    let max_version = optional(subject.max_version, Version::try_from, "max_version")?;
    let state = SubjectState {
        settings: settings_in(subject.settings),
        versions,
        semvers,
        max_version,
    };
    Ok((Arc::from(subject.name), state))
}

/// A subject as snapshots store it.
fn subject_out(name: &str, subject: &SubjectState) -> snapshot::Subject {
    snapshot::Subject {
        name: name.to_string(),
        settings: settings_out(&subject.settings),
        max_version: subject.max_version.map_or(0, Version::get),
        versions: subject
            .versions
            .iter()
            .map(|(n, v)| StoredVersion(*n, v.id, v.deleted, v.ts))
            .collect(),
        semvers: subject
            .semvers
            .iter()
            .filter(|(n, _)| subject.versions.contains_key(*n))
            .map(|(n, s)| snapshot::VersionSemver(*n, (**s).clone()))
            .collect(),
    }
}

/// A state rebuilt from a snapshot's parts, in the order every format stores them: the
/// header, then each context followed by its schemas and its subjects.
struct Restore {
    state: State,
    current: Option<(ContextName, ContextState)>,
    /// The current context's schemas and content index, and every context's GUIDs, inserted
    /// in key order once complete ([`fill_sorted`]): in key order an insert walks the path the
    /// last one did, in the snapshot's (id) order a random one (at a million schemas, most of
    /// the start-up).
    schemas: Vec<(SchemaId, Arc<SchemaRecord>)>,
    contents: Vec<(ContentKey, SchemaId)>,
    guids: Vec<(Uuid, ContextName, SchemaId)>,
    /// The current context's users of each id, in the same way (subjects come in name order).
    users: Vec<(SchemaId, Arc<str>, Version)>,
}

impl Restore {
    fn new(header: stream::Header) -> Restore {
        let mut state = State {
            head: header.head,
            tip: header.tip,
            global: settings_in(header.global),
            ..State::default()
        };
        for kek in header.keks {
            state.keys.kek_set(&kek.kek, kek.ts);
        }
        for dek in header.deks {
            state.keys.dek_created(&dek.dek, dek.ts);
        }
        for association in header.associations {
            state.associations.entries.insert(
                (
                    association.association.resource_id.clone(),
                    association.association.association_type.clone(),
                ),
                keys::AssociationEntry {
                    association: association.association,
                    create_ts: association.create_ts,
                    update_ts: association.update_ts,
                },
            );
        }
        Restore {
            state,
            current: None,
            schemas: Vec::new(),
            contents: Vec::new(),
            guids: Vec::new(),
            users: Vec::new(),
        }
    }

    fn context(&mut self, context: stream::ContextHead) -> std::result::Result<(), String> {
        self.close();
        let name = ContextName::parse(&context.name)
            .map_err(|e| format!("context `{}`: {e}", context.name))?;
        if self.state.contexts.contains_key(&name) {
            return Err(format!("context `{}` is stored twice", context.name));
        }
        let folded = ContextState {
            settings: settings_in(context.settings),
            max_id: optional(context.max_id, SchemaId::try_from, "max_id")?,
            ..ContextState::default()
        };
        self.current = Some((name, folded));
        Ok(())
    }

    /// The context being read (a field's borrow, so the other fields stay free).
    fn current(
        current: &mut Option<(ContextName, ContextState)>,
    ) -> std::result::Result<&mut (ContextName, ContextState), String> {
        current
            .as_mut()
            .ok_or_else(|| "a schema or subject comes before any context".to_string())
    }

    /// A schema of the current context.
    fn schema(&mut self, record: SchemaRecord) -> std::result::Result<(), String> {
        let (name, _) = Restore::current(&mut self.current)?;
        let name = name.clone();
        let (guid, id, content) = (record.guid, record.id, record.content);
        self.schemas.push((id, Arc::new(record)));
        self.contents.push((content, id));
        self.guids.push((guid, name, id));
        Ok(())
    }

    /// A subject of the current context.
    fn subject(
        &mut self,
        name: Arc<str>,
        subject: SubjectState,
    ) -> std::result::Result<(), String> {
        let (_, folded) = Restore::current(&mut self.current)?;
        for (version, entry) in &subject.versions {
            self.users.push((entry.id, Arc::clone(&name), *version));
        }
        folded.subjects.insert(name, subject);
        Ok(())
    }

    fn finish(mut self) -> State {
        self.close();
        let guids = self
            .guids
            .into_iter()
            .map(|(guid, context, id)| (guid, (context, id)))
            .collect();
        fill_sorted(&mut self.state.guids, guids);
        self.state
    }

    fn close(&mut self) {
        if let Some((name, mut context)) = self.current.take() {
            fill_sorted(&mut context.schemas, std::mem::take(&mut self.schemas));
            fill_sorted(&mut context.by_content, std::mem::take(&mut self.contents));
            self.users.sort_by_key(|(id, _, _)| *id);
            let mut users: Vec<(SchemaId, Users)> = Vec::new();
            for (id, subject, version) in self.users.drain(..) {
                match users.last_mut() {
                    Some((last, held)) if *last == id => held.add(&subject, version),
                    _ => users.push((id, Users::One(subject, version))),
                }
            }
            fill_sorted(&mut context.users, users);
            self.state.contexts.insert(name, context);
        }
    }
}

/// Inserts `entries` into an empty map so that its leaves end nearly full: sorted by key (a
/// stable sort, and of equal keys the last kept, as inserting them one by one would), then
/// every other entry, then the rest. A B-tree filled in key order splits each full leaf in
/// half and never returns to the left half, which stays half empty; the second pass fills
/// the gaps the first one left, still walking the tree in order.
fn fill_sorted<K: Ord + Clone, V: Clone>(map: &mut OrdMap<K, V>, mut entries: Vec<(K, V)>) {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    let mut second = Vec::with_capacity(entries.len() / 2);
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i % 2 == 0 {
            map.insert(key, value);
        } else {
            second.push((key, value));
        }
    }
    for (key, value) in second {
        map.insert(key, value);
    }
}

/// The value of a metadata property (`metadata.properties[key]`) as text: a string as it is,
/// any other JSON value as its JSON text.
pub fn property<'a>(metadata: Option<&'a Value>, key: &str) -> Option<Cow<'a, str>> {
    let value = metadata?.get("properties")?.get(key)?;
    Some(match value.as_str() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(value.to_string()),
    })
}

/// A live version of a subject as the history check sees it: parsed only when compared.
pub struct Earlier<'s> {
    state: &'s State,
    context: &'s ContextName,
    version: Version,
    record: &'s Arc<SchemaRecord>,
    /// The key of the candidate's parse (what its checks are remembered by).
    candidate: ParseKey,
}

impl EarlierVersion for Earlier<'_> {
    type Schema = Arc<ParsedSchema>;
    type Error = Error;

    fn version(&self) -> Version {
        self.version
    }

    fn property(&self, key: &str) -> Option<Cow<'_, str>> {
        self.record.property(key)
    }

    fn schema(&self) -> Result<Arc<ParsedSchema>> {
        self.state.parsed(self.context, self.record)
    }

    fn check(
        &self,
        new: &ParsedSchema,
        backward: bool,
        forward: bool,
        policy: Policy,
        budget: &Budget,
    ) -> Result<Vec<Incompatibility>> {
        let pair = Pair {
            candidate: self.candidate,
            new,
            context: self.context,
            old: self.record,
        };
        self.state
            .check_pair(&pair, (backward, forward), policy, budget)
    }
}

impl State {
    /// A subject's live versions, newest first, for the history check of the candidate whose
    /// parse is `candidate` (its checks are answered from the memo when made before).
    pub fn history<'s>(
        &'s self,
        subject: &'s QualifiedSubject,
        candidate: ParseKey,
    ) -> Result<Vec<Earlier<'s>>> {
        let Some(state) = self.subject(subject) else {
            return Ok(Vec::new());
        };
        state
            .visible(false)
            .rev()
            .map(|(version, entry)| {
                Ok(Earlier {
                    state: self,
                    context: subject.context(),
                    version,
                    record: self.stored(subject.context(), entry.id)?,
                    candidate,
                })
            })
            .collect()
    }
}

/// A number where 0 means none yet.
fn optional<T>(
    raw: i32,
    convert: impl FnOnce(i32) -> covenant_core::Result<T>,
    what: &str,
) -> std::result::Result<Option<T>, String> {
    if raw == 0 {
        return Ok(None);
    }
    convert(raw).map(Some).map_err(|e| format!("{what}: {e}"))
}

fn settings_out(settings: &ScopeSettings) -> snapshot::Settings {
    snapshot::Settings {
        config: settings.config.clone(),
        mode: settings.mode,
    }
}

fn settings_in(settings: snapshot::Settings) -> ScopeSettings {
    ScopeSettings {
        config: settings.config,
        mode: settings.mode,
    }
}

impl From<ReferenceError> for Error {
    fn from(error: ReferenceError) -> Self {
        Error::InvalidSchema(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::Stored;

    fn records(text: &str) -> Vec<Stored> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(offset, line)| Stored::read(offset as u64, line.as_bytes()).expect("record"))
            .collect()
    }

    fn replay(records: &[Stored]) -> State {
        let mut state = State::default();
        for stored in records {
            state.apply(stored.offset, &stored.record, stored.hash);
        }
        state
    }

    fn v(n: i64) -> Version {
        Version::new(n).expect("in range")
    }

    fn id(n: i64) -> SchemaId {
        SchemaId::new(n).expect("in range")
    }

    #[test]
    fn folds_the_pinned_v1_log() {
        let state = replay(&records(include_str!("../../../fixtures/storage/v1.jsonl")));
        assert_eq!(state.head(), 8);
        let orders = QualifiedSubject::parse("orders-value").expect("valid");
        let subject = state.existing_subject(&orders, false).expect("exists");
        let live: Vec<Version> = subject.visible(false).map(|(n, _)| n).collect();
        assert_eq!(live, vec![v(2)]);
        assert_eq!(
            state.effective_config(&orders).compatibility,
            Some(covenant_core::ids::CompatibilityLevel::Full)
        );
        assert_eq!(state.effective_mode(&orders), Mode::ReadWrite);
        let payments = QualifiedSubject::parse(":.staging:payments-value").expect("valid");
        assert!(state.existing_subject(&payments, false).is_err());
        assert!(state.existing_subject(&payments, true).is_ok());
        // Each context has its own id space: id 1 exists in both.
        let staging = ContextName::parse(".staging").expect("valid");
        assert_eq!(
            state.schema(&staging, id(1)).expect("exists").schema(),
            "\"string\""
        );
        assert!(state
            .schema(&ContextName::default_context(), id(1))
            .expect("exists")
            .schema()
            .contains("Order"));
    }

    /// The check memo answers what the engine answers, for each pair and direction apart, and
    /// the verdict it keeps is the one `classify` gives.
    #[test]
    fn memoized_checks_and_verdicts_are_the_engines() {
        use covenant_core::compat::check_pair;
        let state = replay(&records(include_str!("../../../fixtures/storage/v1.jsonl")));
        let orders = QualifiedSubject::parse("orders-value").expect("valid");
        let context = ContextName::default_context();
        let (_, entry) = state
            .subject(&orders)
            .and_then(|s| s.visible(false).next_back())
            .expect("a live version");
        let record = Arc::clone(state.stored(&context, entry.id).expect("stored"));
        let old = state.parsed(&context, &record).expect("parses");
        let options = ParseOptions {
            normalize: false,
            strict: true,
            max_elements: None,
        };
        // A record of another name with a required field: breaks both directions.
        let text = r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}"#;
        let (key, new) = state
            .parse_keyed(&context, SchemaType::Avro, text, &[], options)
            .expect("parses");
        let pair = Pair {
            candidate: key,
            new: &new,
            context: &context,
            old: &record,
        };
        for (backward, forward) in [(true, false), (false, true), (true, true), (true, false)] {
            for _ in 0..2 {
                let budget = Budget::unlimited();
                let memo = state
                    .check_pair(&pair, (backward, forward), Policy::Strict, &budget)
                    .expect("checks");
                let direct = check_pair(&new, &old, backward, forward, Policy::Strict, &budget);
                assert!(!direct.is_empty());
                assert_eq!(
                    format!("{memo:?}"),
                    format!("{direct:?}"),
                    "{backward} {forward}"
                );
            }
        }
        for level in [CompatibilityLevel::Backward, CompatibilityLevel::Full] {
            let memo = state
                .classify(&pair, level, Policy::Strict, 10_000_000)
                .expect("classifies");
            let direct = covenant_core::semver::classify(
                &old,
                &new,
                level,
                Policy::Strict,
                &Budget::unlimited(),
            );
            assert_eq!(memo, direct, "{level:?}");
            assert_eq!(
                state
                    .classify(&pair, level, Policy::Strict, 10_000_000)
                    .expect("classifies"),
                direct
            );
        }
    }

    /// The state as JSON, to compare two states.
    fn document(state: &State) -> Value {
        serde_json::from_slice(&state.to_snapshot().to_bytes()).expect("json")
    }

    /// A snapshot taken at any offset, plus the tail, gives the state a full replay gives.
    #[test]
    fn snapshot_then_tail_equals_full_replay() {
        for fixture in [
            include_str!("../../../fixtures/storage/v1.jsonl"),
            include_str!("../../../fixtures/storage/v1-full.jsonl"),
        ] {
            let records = records(fixture);
            let expected = document(&replay(&records));
            for cut in 0..=records.len() {
                let prefix = replay(&records[..cut]);
                let bytes = prefix.to_snapshot_bytes();
                let mut restored =
                    State::from_snapshot_stream(bytes.as_slice(), stream::FORMAT, cut as u64)
                        .expect("restores");
                let document_bytes = prefix.to_snapshot().to_bytes();
                let from_document = State::from_snapshot(
                    Snapshot::read(cut as u64, &document_bytes).expect("a format 4 document"),
                )
                .expect("restores");
                assert_eq!(document(&from_document), document(&prefix), "cut at {cut}");
                for stored in records.iter().skip(cut) {
                    restored.apply(stored.offset, &stored.record, stored.hash);
                }
                assert_eq!(document(&restored), expected, "cut at {cut}");
            }
        }
    }

    /// Format 1 snapshots, pinned: the one a released build stored for `v1-full.jsonl` reads
    /// back into the state a replay of that log gives, and this build writes it byte for byte.
    #[test]
    fn reads_and_writes_the_pinned_v1_snapshot() {
        let records = records(include_str!("../../../fixtures/storage/v1-full.jsonl"));
        let pinned = include_str!("../../../fixtures/storage/snapshot-v1.json").trim_end();
        let snapshot = Snapshot::read(records.len() as u64, pinned.as_bytes()).expect("reads");
        assert_eq!(snapshot.format, 1);
        let state = State::from_snapshot(snapshot).expect("restores");
        let replayed = replay(&records);
        // Format 1 did not keep the chain's tip; everything else is the same state.
        let without_tip = |state: &State| {
            let mut document = document(state);
            document["format"] = Value::Null;
            document.as_object_mut().expect("object").remove("tip");
            document
        };
        assert_eq!(without_tip(&state), without_tip(&replayed));
        // This build writes format 4: the same document with the tip.
        let written = document(&replayed);
        assert_eq!(written["format"], 4);
        assert_eq!(written["tip"], replayed.tip().to_string());
    }

    /// Format 2 snapshots, pinned: the one this build stores for `v2.jsonl` is read back into
    /// the state a replay gives, tip included, and written byte for byte.
    #[test]
    fn reads_and_writes_the_pinned_v2_snapshot() {
        let records = records(include_str!("../../../fixtures/storage/v2.jsonl"));
        let pinned = include_str!("../../../fixtures/storage/snapshot-v2.json").trim_end();
        let snapshot = Snapshot::read(records.len() as u64, pinned.as_bytes()).expect("reads");
        let state = State::from_snapshot(snapshot).expect("restores");
        let replayed = replay(&records);
        assert_eq!(state.tip(), replayed.tip());
        assert_eq!(document(&state), document(&replayed));
        // This build writes format 4, which without keys, associations or semantic versions is
        // format 2's bytes.
        assert_eq!(
            String::from_utf8(replayed.to_snapshot().to_bytes()).expect("utf-8"),
            pinned.replacen("\"format\":2", "\"format\":4", 1)
        );
    }

    /// Format 3 snapshots, pinned: the DEK registry and the associations of the first 19
    /// records of `v4.jsonl` (every format 4 event kind) are read back into the state a replay
    /// gives, and written byte for byte.
    #[test]
    fn reads_and_writes_the_pinned_v3_snapshot() {
        let all = records(include_str!("../../../fixtures/storage/v4.jsonl"));
        let records = &all[..19];
        let replayed = replay(records);
        let written = String::from_utf8(replayed.to_snapshot().to_bytes()).expect("utf-8");
        let pinned = include_str!("../../../fixtures/storage/snapshot-v3.json").trim_end();
        let snapshot = Snapshot::read(records.len() as u64, pinned.as_bytes()).expect("reads");
        assert_eq!(snapshot.format, 3);
        assert!(!snapshot.keks.is_empty() && !snapshot.deks.is_empty());
        assert_eq!(snapshot.associations.len(), 2);
        let state = State::from_snapshot(snapshot).expect("restores");
        assert_eq!(state.keys(), replayed.keys());
        assert_eq!(state.associations(), replayed.associations());
        assert_eq!(document(&state), document(&replayed));
        // Format 4 without semantic versions is format 3's bytes.
        assert_eq!(written, pinned.replacen("\"format\":3", "\"format\":4", 1));
        // The rest of the log folds on top of the restored state as on the replayed one.
        let (mut from_snapshot, mut from_log) = (state, replayed);
        for stored in &all[19..] {
            from_snapshot.apply(stored.offset, &stored.record, stored.hash);
            from_log.apply(stored.offset, &stored.record, stored.hash);
        }
        assert_eq!(document(&from_snapshot), document(&from_log));
        assert!(from_log.associations().entries.is_empty());
    }

    /// Format 4 snapshots, pinned: the semantic versions of `v5.jsonl`'s registrations (a
    /// soft-deleted version's included) are read back into the state a replay gives, and
    /// written byte for byte.
    #[test]
    fn reads_and_writes_the_pinned_v4_snapshot() {
        let records = records(include_str!("../../../fixtures/storage/v5.jsonl"));
        let replayed = replay(&records);
        let written = String::from_utf8(replayed.to_snapshot().to_bytes()).expect("utf-8");
        if std::env::var_os("COVENANT_WRITE_SNAPSHOT_FIXTURE").is_some() {
            std::fs::write(
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../fixtures/storage/snapshot-v4.json"
                ),
                format!("{written}\n"),
            )
            .expect("fixture written");
        }
        let pinned = include_str!("../../../fixtures/storage/snapshot-v4.json").trim_end();
        let snapshot = Snapshot::read(records.len() as u64, pinned.as_bytes()).expect("reads");
        assert_eq!(snapshot.format, 4);
        let state = State::from_snapshot(snapshot).expect("restores");
        let users = QualifiedSubject::parse("users-value").expect("subject");
        let semvers = |state: &State| -> Vec<String> {
            state
                .subject(&users)
                .expect("users")
                .semvers
                .values()
                .map(|s| s.version.clone())
                .collect()
        };
        assert_eq!(semvers(&state), ["1.0.0", "1.1.0", "1.1.1", "3.0.0"]);
        assert_eq!(semvers(&state), semvers(&replayed));
        assert_eq!(document(&state), document(&replayed));
        assert_eq!(written, pinned);
    }

    /// Stream snapshots, pinned: the format 6 stream this build writes for `v1-full.jsonl` (two
    /// contexts, references, metadata, soft and permanent deletes, configs and modes) is byte
    /// for byte the pinned one, and it and the pinned format 5 one an earlier build wrote read
    /// back into the state a replay gives; the DEK registry and associations (`v4.jsonl`) and
    /// semantic versions (`v5.jsonl`) go through it whole.
    #[test]
    fn reads_the_pinned_v5_and_v6_snapshots_and_writes_v6() {
        for (log, cut) in [
            (include_str!("../../../fixtures/storage/v4.jsonl"), 19),
            (
                include_str!("../../../fixtures/storage/v5.jsonl"),
                usize::MAX,
            ),
        ] {
            let all = records(log);
            let replayed = replay(&all[..cut.min(all.len())]);
            let restored = State::from_snapshot_stream(
                replayed.to_snapshot_bytes().as_slice(),
                stream::FORMAT,
                replayed.head(),
            )
            .expect("restores");
            assert_eq!(restored.keys(), replayed.keys());
            assert_eq!(restored.associations(), replayed.associations());
            assert_eq!(document(&restored), document(&replayed));
        }
        let replayed = replay(&records(include_str!(
            "../../../fixtures/storage/v1-full.jsonl"
        )));
        // Format 5, an earlier build's: read, never written.
        let pinned: &[u8] = include_bytes!("../../../fixtures/storage/snapshot-v5.bin");
        assert!(
            State::from_snapshot_stream(pinned, stream::FORMAT, replayed.head()).is_err(),
            "a format 5 stream is not read as format 6"
        );
        let state = State::from_snapshot_stream(pinned, 5, replayed.head())
            .expect("restores the format 5 fixture");
        assert_restored(&state, &replayed);
        // Format 6, this build's: written byte for byte as pinned, with texts both packed and
        // not.
        let written = replayed.to_snapshot_bytes();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/storage/snapshot-v6.bin"
        );
        if std::env::var_os("COVENANT_WRITE_SNAPSHOT_FIXTURE").is_some() {
            std::fs::write(path, &written).expect("fixture written");
        }
        let pinned: &[u8] = include_bytes!("../../../fixtures/storage/snapshot-v6.bin");
        assert_eq!(
            written, pinned,
            "this build writes the pinned format 6 bytes"
        );
        assert!(
            State::from_snapshot_stream(pinned, 5, replayed.head()).is_err(),
            "a format 6 stream is not read as format 5"
        );
        let state = State::from_snapshot_stream(pinned, stream::FORMAT, replayed.head())
            .expect("restores the format 6 fixture");
        assert_restored(&state, &replayed);
        let encodings: BTreeSet<bool> = state
            .contexts
            .values()
            .flat_map(|context| context.schemas.values())
            .map(|record| matches!(record.text().stored(), text::Stored::Lz4 { .. }))
            .collect();
        assert_eq!(
            encodings.len(),
            2,
            "the fixture holds packed and plain texts"
        );
    }

    /// Filling a map in two sorted passes gives the map inserting one by one gives, the last
    /// of equal keys winning, whatever order the entries come in.
    #[test]
    fn a_map_filled_sorted_is_the_map_inserted_one_by_one() {
        for len in [0usize, 1, 2, 15, 16, 17, 100, 1_000, 5_003] {
            // Keys out of order and repeated (a multiplicative walk modulo a prime).
            let entries: Vec<(u64, usize)> =
                (0..len).map(|i| ((i as u64 * 7_919) % 1_009, i)).collect();
            let mut one_by_one = OrdMap::new();
            for (key, value) in entries.clone() {
                one_by_one.insert(key, value);
            }
            let mut filled = OrdMap::new();
            fill_sorted(&mut filled, entries);
            assert_eq!(filled, one_by_one, "{len} entries");
        }
    }

    /// A restored state is the replayed one: the same tip, keys, associations, contexts,
    /// schemas (their texts and content digests) and subjects.
    fn assert_restored(state: &State, replayed: &State) {
        assert_eq!(state.tip(), replayed.tip());
        assert_eq!(state.keys(), replayed.keys());
        assert_eq!(state.associations(), replayed.associations());
        assert_eq!(document(state), document(replayed));
        assert_eq!(
            document(state)["contexts"].as_array().map(Vec::len),
            Some(2)
        );
        for (name, context) in &replayed.contexts {
            for (id, record) in &context.schemas {
                let restored = state.schema(name, *id).expect("restored");
                assert_eq!(restored.content, record.content, "{id}");
                assert_eq!(restored.schema(), record.schema(), "{id}");
            }
        }
    }

    /// A format 6 stream cut anywhere, or with any single byte changed in its framing, is
    /// refused with a reason, never restored as a smaller state.
    #[test]
    fn a_damaged_stream_is_refused() {
        let state = replay(&records(include_str!(
            "../../../fixtures/storage/v1-full.jsonl"
        )));
        let bytes = state.to_snapshot_bytes();
        let head = state.head();
        assert!(State::from_snapshot_stream(bytes.as_slice(), 6, head).is_ok());
        for cut in 0..bytes.len() {
            assert!(
                State::from_snapshot_stream(&bytes[..cut], 6, head).is_err(),
                "cut at {cut} of {}",
                bytes.len()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(State::from_snapshot_stream(longer.as_slice(), 6, head)
            .expect_err("bytes after the end")
            .contains("follow its end"));
        assert!(State::from_snapshot_stream(bytes.as_slice(), 6, head + 1)
            .expect_err("stored at another offset")
            .contains("offset"));
        let mut wrong_magic = bytes.clone();
        wrong_magic[7] = 4;
        assert!(State::from_snapshot_stream(wrong_magic.as_slice(), 6, head)
            .expect_err("not format 6")
            .contains("format 6"));
        // The end frame's count is the last 8 bytes: a frame dropped or added is noticed.
        let mut miscounted = bytes.clone();
        let at = miscounted.len() - 8;
        miscounted[at] ^= 1;
        assert!(State::from_snapshot_stream(miscounted.as_slice(), 6, head)
            .expect_err("miscounted")
            .contains("frames came before it"));
    }

    #[test]
    fn unreadable_snapshots_are_refused_with_the_reason() {
        let state = replay(&records(include_str!("../../../fixtures/storage/v1.jsonl")));
        let bytes = state.to_snapshot().to_bytes();
        assert!(Snapshot::read(7, &bytes)
            .expect_err("wrong offset")
            .contains("offset"));
        let text = String::from_utf8(bytes).expect("utf-8");
        let newer = text.replacen("\"format\":4", "\"format\":5", 1);
        assert!(Snapshot::read(8, newer.as_bytes())
            .expect_err("newer")
            .contains("format 5"));
        let no_tip = text.replacen(&format!(",\"tip\":\"{}\"", state.tip()), "", 1);
        assert!(Snapshot::read(8, no_tip.as_bytes())
            .expect_err("format 2 without a tip")
            .contains("tip"));
        let bad_mode = text.replacen("\"contexts\":[", "\"contexts\":[{\"name\":\".x\",\"settings\":{\"mode\":\"SIDEWAYS\"},\"max_id\":0,\"schemas\":[],\"subjects\":[]},", 1);
        assert!(Snapshot::read(8, bad_mode.as_bytes())
            .expect_err("bad mode")
            .contains("SIDEWAYS"));
    }
}
