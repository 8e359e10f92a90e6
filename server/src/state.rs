//! The registry's state: a fold of the event log, held in memory and read by every request.
//!
//! [`State::apply`] is the only thing that changes it, one record at a time in log order, so a
//! node that replays the same log ends in the same state. Everything else here is a query.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use covenant_core::api::{SchemaReference, SchemaString};
use covenant_core::ids::{ContextName, Mode, QualifiedSubject, VersionSpec};
use covenant_core::schema::{ParseOptions, ParsedSchema, ResolvedReference, SchemaType};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::event::{Event, Record, SchemaRegistered, Scope, StoredConfig};

/// How deep a chain of references may go.
const MAX_REFERENCE_DEPTH: usize = 32;

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
    pub id: i32,
    /// The GUID.
    pub guid: String,
    /// The format.
    pub schema_type: SchemaType,
    /// The canonical text.
    pub schema: String,
    /// References, as registered.
    pub references: Vec<SchemaReference>,
    /// Metadata, as registered.
    pub metadata: Option<Value>,
    /// Rule set, as registered.
    pub rule_set: Option<Value>,
    /// The `GET /schemas/ids/{id}` body, prepared once.
    pub id_body: Bytes,
    parsed: OnceLock<std::result::Result<Arc<ParsedSchema>, String>>,
}

impl SchemaRecord {
    /// The `GET /schemas/ids/{id}` body (`id_body` holds it serialised).
    pub fn schema_string(&self) -> SchemaString {
        SchemaString {
            schema_type: self.schema_type.member(),
            schema: self.schema.clone(),
            references: self.references.clone(),
            metadata: self.metadata.clone(),
            rule_set: self.rule_set.clone(),
            max_id: None,
            guid: Some(self.guid.clone()),
        }
    }
}

/// One version of a subject.
#[derive(Clone, Copy, Debug)]
pub struct VersionState {
    /// The schema id.
    pub id: i32,
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
    pub versions: BTreeMap<i32, VersionState>,
    /// The highest version ever used: versions are never reused.
    pub max_version: i32,
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
    ) -> impl DoubleEndedIterator<Item = (i32, &VersionState)> + '_ {
        self.versions
            .iter()
            .filter(move |(_, v)| include_deleted || !v.deleted)
            .map(|(n, v)| (*n, v))
    }
}

/// One context: its own id space, subjects, config and mode.
#[derive(Debug, Default)]
pub struct ContextState {
    /// Config and mode set on the context.
    pub settings: ScopeSettings,
    /// Every schema ever registered in the context, by id.
    pub schemas: BTreeMap<i32, Arc<SchemaRecord>>,
    by_content: HashMap<String, i32>,
    /// How many stored versions (soft-deleted included) use each id.
    usage: HashMap<i32, u32>,
    /// Subjects by name (within the context).
    pub subjects: BTreeMap<String, SubjectState>,
    /// The highest id ever used.
    pub max_id: i32,
}

impl ContextState {
    /// The id of a schema with this exact content, if one was ever registered.
    pub fn id_of(&self, key: &ContentKey) -> Option<i32> {
        self.by_content.get(&key.0).copied()
    }

    /// Whether some stored version (soft-deleted included) uses the id.
    pub fn is_in_use(&self, id: i32) -> bool {
        self.usage.get(&id).is_some_and(|n| *n > 0)
    }

    fn release(&mut self, id: i32) {
        if let Some(n) = self.usage.get_mut(&id) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The identity of a schema's content: type, canonical text, references, metadata and rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentKey(String);

impl ContentKey {
    /// The key of a schema's content.
    pub fn new(
        schema_type: SchemaType,
        schema: &str,
        references: &[SchemaReference],
        metadata: Option<&Value>,
        rule_set: Option<&Value>,
    ) -> ContentKey {
        let references = serde_json::to_string(references).unwrap_or_default();
        let metadata = metadata.map(Value::to_string).unwrap_or_default();
        let rule_set = rule_set.map(Value::to_string).unwrap_or_default();
        ContentKey(format!(
            "{}\u{0}{schema}\u{0}{references}\u{0}{metadata}\u{0}{rule_set}",
            schema_type.as_str()
        ))
    }
}

/// The whole registry state.
#[derive(Debug, Default)]
pub struct State {
    head: u64,
    global: ScopeSettings,
    contexts: BTreeMap<ContextName, ContextState>,
    guids: HashMap<String, (ContextName, i32)>,
}

impl State {
    /// The offset of the next record: every record before it has been applied.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Applies the record at `offset` (which must be the head).
    pub fn apply(&mut self, offset: u64, record: &Record) {
        debug_assert_eq!(offset, self.head, "records are applied in log order");
        self.head = offset + 1;
        match &record.event {
            Event::SchemaRegistered(registered) => self.apply_registered(registered, record.ts),
            Event::VersionDeleted {
                subject,
                version,
                permanent,
            } => {
                if let Some((context, name)) = self.locate(subject) {
                    let Some(context) = self.contexts.get_mut(&context) else {
                        return;
                    };
                    let Some(state) = context.subjects.get_mut(&name) else {
                        return;
                    };
                    if *permanent {
                        if let Some(removed) = state.versions.remove(version) {
                            context.release(removed.id);
                        }
                    } else if let Some(entry) = state.versions.get_mut(version) {
                        entry.deleted = true;
                    }
                }
            }
            Event::SubjectDeleted { subject, permanent } => {
                if let Some((context, name)) = self.locate(subject) {
                    let Some(context) = self.contexts.get_mut(&context) else {
                        return;
                    };
                    let Some(state) = context.subjects.get_mut(&name) else {
                        return;
                    };
                    if *permanent {
                        let removed: Vec<i32> = state
                            .versions
                            .values()
                            .filter(|v| v.deleted)
                            .map(|v| v.id)
                            .collect();
                        state.versions.retain(|_, v| !v.deleted);
                        state.settings = ScopeSettings::default();
                        for id in removed {
                            context.release(id);
                        }
                    } else {
                        for entry in state.versions.values_mut() {
                            entry.deleted = true;
                        }
                    }
                }
            }
            Event::ConfigSet { scope, config } => {
                if let Some(settings) = self.settings_mut(scope) {
                    settings.config = Some(config.clone());
                }
            }
            Event::ConfigDeleted { scope } => {
                if let Some(settings) = self.settings_mut(scope) {
                    settings.config = None;
                }
            }
            Event::ModeSet { scope, mode } => {
                if let Some(settings) = self.settings_mut(scope) {
                    settings.mode = mode.parse().ok();
                }
            }
            Event::ModeDeleted { scope } => {
                if let Some(settings) = self.settings_mut(scope) {
                    settings.mode = None;
                }
            }
        }
    }

    fn apply_registered(&mut self, registered: &SchemaRegistered, ts: i64) {
        let Ok(subject) = QualifiedSubject::parse(&registered.subject) else {
            tracing::warn!(subject = %registered.subject, "skipping a record with an invalid subject");
            return;
        };
        let context = self.contexts.entry(subject.context().clone()).or_default();
        if !context.schemas.contains_key(&registered.id) {
            insert_schema(
                &mut self.guids,
                subject.context(),
                context,
                registered.clone(),
            );
        }
        context.max_id = context.max_id.max(registered.id);
        let entry = context
            .subjects
            .entry(subject.name().to_string())
            .or_default();
        entry.max_version = entry.max_version.max(registered.version);
        let previous = entry.versions.insert(
            registered.version,
            VersionState {
                id: registered.id,
                deleted: false,
                ts,
            },
        );
        *context.usage.entry(registered.id).or_default() += 1;
        if let Some(previous) = previous {
            context.release(previous.id);
        }
    }

    fn locate(&self, raw: &str) -> Option<(ContextName, String)> {
        let subject = QualifiedSubject::parse(raw).ok()?;
        Some((subject.context().clone(), subject.name().to_string()))
    }

    fn settings_mut(&mut self, scope: &Scope) -> Option<&mut ScopeSettings> {
        match scope {
            Scope::Global => Some(&mut self.global),
            Scope::Context(name) => {
                let name = ContextName::parse(name).ok()?;
                Some(&mut self.contexts.entry(name).or_default().settings)
            }
            Scope::Subject(raw) => {
                let subject = QualifiedSubject::parse(raw).ok()?;
                let context = self.contexts.entry(subject.context().clone()).or_default();
                Some(
                    &mut context
                        .subjects
                        .entry(subject.name().to_string())
                        .or_default()
                        .settings,
                )
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
            Scope::Context(name) => {
                let name = ContextName::parse(name).ok()?;
                self.contexts.get(&name).map(|c| &c.settings)
            }
            Scope::Subject(raw) => {
                let subject = QualifiedSubject::parse(raw).ok()?;
                self.subject(&subject).map(|s| &s.settings)
            }
        }
    }

    /// The scopes a subject's settings resolve through, nearest first.
    pub fn resolution_chain(subject: &QualifiedSubject) -> Vec<Scope> {
        let mut chain = Vec::with_capacity(3);
        if !subject.is_context_only() {
            chain.push(Scope::Subject(subject.qualified()));
        }
        if !subject.context().is_default() && !subject.context().is_global() {
            chain.push(Scope::Context(subject.context().as_str().to_string()));
        }
        chain.push(Scope::Global);
        chain
    }

    /// The config that applies to a subject, key by key: subject, then context, then global.
    pub fn effective_config(&self, subject: &QualifiedSubject) -> StoredConfig {
        let mut merged = StoredConfig::default();
        for scope in Self::resolution_chain(subject) {
            if let Some(config) = self.settings(&scope).and_then(|s| s.config.as_ref()) {
                merge_missing(&mut merged, config);
            }
        }
        merged
    }

    /// The mode that applies to a subject: subject, then context, then global, then READWRITE.
    pub fn effective_mode(&self, subject: &QualifiedSubject) -> Mode {
        Self::resolution_chain(subject)
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
    ) -> Result<(i32, VersionState)> {
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
    pub fn schema(&self, context: &ContextName, id: i32) -> Option<&Arc<SchemaRecord>> {
        self.contexts.get(context)?.schemas.get(&id)
    }

    /// A schema by GUID.
    pub fn schema_by_guid(&self, guid: &str) -> Option<(&ContextName, &Arc<SchemaRecord>)> {
        let (context, id) = self.guids.get(guid)?;
        Some((context, self.schema(context, *id)?))
    }

    /// The (subject, version, state) triples that use schema `id` in `context`.
    pub fn usages(
        &self,
        context: &ContextName,
        id: i32,
        include_deleted: bool,
    ) -> Vec<(QualifiedSubject, i32, VersionState)> {
        let Some(ctx) = self.contexts.get(context) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, subject) in &ctx.subjects {
            for (version, state) in subject.visible(include_deleted) {
                if state.id == id {
                    out.push((
                        QualifiedSubject::new(context.clone(), name.clone()),
                        version,
                        *state,
                    ));
                }
            }
        }
        out
    }

    /// Resolves references made from `context`, returning the whole closure, dependencies first.
    pub fn resolve_references(
        &self,
        context: &ContextName,
        references: &[SchemaReference],
    ) -> Result<Vec<(String, Arc<SchemaRecord>)>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.collect_references(context, references, 0, &mut seen, &mut out)?;
        Ok(out)
    }

    fn collect_references(
        &self,
        context: &ContextName,
        references: &[SchemaReference],
        depth: usize,
        seen: &mut BTreeSet<(ContextName, i32)>,
        out: &mut Vec<(String, Arc<SchemaRecord>)>,
    ) -> Result<()> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(Error::InvalidSchema(format!(
                "references nest deeper than {MAX_REFERENCE_DEPTH} levels"
            )));
        }
        for reference in references {
            let subject = QualifiedSubject::parse_in(context, &reference.subject).map_err(|e| {
                Error::InvalidSchema(format!("invalid reference `{}`: {e}", reference.name))
            })?;
            let spec = if reference.version == -1 {
                VersionSpec::Latest
            } else if reference.version >= 1 {
                VersionSpec::Number(reference.version)
            } else {
                return Err(Error::InvalidSchema(format!(
                    "invalid reference `{}`: version {} is not a valid version",
                    reference.name, reference.version
                )));
            };
            let (_, version) = self.version(&subject, spec, false).map_err(|_| {
                Error::InvalidSchema(format!(
                    "invalid reference `{}`: subject `{}` has no version {}",
                    reference.name,
                    subject.qualified(),
                    spec
                ))
            })?;
            let record = self
                .schema(subject.context(), version.id)
                .ok_or_else(|| Error::Internal(format!("schema {} is missing", version.id)))?;
            if !seen.insert((subject.context().clone(), version.id)) {
                continue;
            }
            self.collect_references(subject.context(), &record.references, depth + 1, seen, out)?;
            out.push((reference.name.clone(), Arc::clone(record)));
        }
        Ok(())
    }

    /// Parses a text against references resolved in `context`.
    pub fn parse(
        &self,
        context: &ContextName,
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
        options: ParseOptions,
    ) -> Result<ParsedSchema> {
        let resolved = self.resolve_references(context, references)?;
        let refs: Vec<ResolvedReference<'_>> = resolved
            .iter()
            .map(|(name, record)| ResolvedReference {
                name,
                schema: &record.schema,
            })
            .collect();
        ParsedSchema::parse(schema_type, text, &refs, options).map_err(|e| match e {
            covenant_core::Error::InvalidSchema(message) => Error::InvalidSchema(message),
            other => Error::Core(other),
        })
    }

    /// A stored schema's parsed form, parsed on first use and kept.
    pub fn parsed(
        &self,
        context: &ContextName,
        record: &SchemaRecord,
    ) -> Result<Arc<ParsedSchema>> {
        record
            .parsed
            .get_or_init(|| {
                self.parse(
                    context,
                    record.schema_type,
                    &record.schema,
                    &record.references,
                    ParseOptions {
                        normalize: false,
                        strict: false,
                    },
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| {
                Error::Internal(format!("stored schema {} no longer parses: {e}", record.id))
            })
    }

    /// Ids of the schemas whose stored versions reference `subject` version `version`.
    pub fn referenced_by(&self, subject: &QualifiedSubject, version: i32) -> Vec<i32> {
        self.referrers(subject)
            .remove(&version)
            .map(|ids| ids.into_iter().collect())
            .unwrap_or_default()
    }

    /// For each version of `subject` that a stored version's schema references, the ids of
    /// those schemas.
    pub fn referrers(&self, subject: &QualifiedSubject) -> BTreeMap<i32, BTreeSet<i32>> {
        let mut found: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
        for (context_name, context) in &self.contexts {
            for (id, record) in &context.schemas {
                if !context.is_in_use(*id) {
                    continue;
                }
                for reference in &record.references {
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
}

/// Fills the keys `into` lacks from `from`.
fn merge_missing(into: &mut StoredConfig, from: &StoredConfig) {
    if into.compatibility.is_none() {
        into.compatibility.clone_from(&from.compatibility);
    }
    into.settings.fill_from(&from.settings);
}

/// Adds a schema to `context` under its id, with its content key and its guid.
fn insert_schema(
    guids: &mut HashMap<String, (ContextName, i32)>,
    context_name: &ContextName,
    context: &mut ContextState,
    registered: SchemaRegistered,
) {
    let schema_type = registered.schema_type.parse().unwrap_or(SchemaType::Avro);
    let key = ContentKey::new(
        schema_type,
        &registered.schema,
        &registered.references,
        registered.metadata.as_ref(),
        registered.rule_set.as_ref(),
    );
    context.by_content.insert(key.0, registered.id);
    guids.insert(
        registered.guid.clone(),
        (context_name.clone(), registered.id),
    );
    let mut record = SchemaRecord {
        id: registered.id,
        guid: registered.guid.clone(),
        schema_type,
        id_body: Bytes::new(),
        schema: registered.schema,
        references: registered.references,
        metadata: registered.metadata,
        rule_set: registered.rule_set,
        parsed: OnceLock::new(),
    };
    record.id_body = Bytes::from(serde_json::to_vec(&record.schema_string()).unwrap_or_default());
    context.schemas.insert(record.id, Arc::new(record));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(text: &str) -> State {
        let mut state = State::default();
        for (offset, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let record: Record = serde_json::from_str(line).expect("record");
            state.apply(offset as u64, &record);
        }
        state
    }

    #[test]
    fn folds_the_pinned_v1_log() {
        let state = replay(include_str!("../../fixtures/storage/v1.jsonl"));
        assert_eq!(state.head(), 8);
        let orders = QualifiedSubject::parse("orders-value").expect("valid");
        let subject = state.existing_subject(&orders, false).expect("exists");
        let live: Vec<i32> = subject.visible(false).map(|(n, _)| n).collect();
        assert_eq!(live, vec![2]);
        assert_eq!(
            state.effective_config(&orders).compatibility.as_deref(),
            Some("FULL")
        );
        assert_eq!(state.effective_mode(&orders), Mode::ReadWrite);
        let payments = QualifiedSubject::parse(":.staging:payments-value").expect("valid");
        assert!(state.existing_subject(&payments, false).is_err());
        assert!(state.existing_subject(&payments, true).is_ok());
        // Each context has its own id space: id 1 exists in both.
        let staging = ContextName::parse(".staging").expect("valid");
        assert_eq!(
            state.schema(&staging, 1).expect("exists").schema,
            "\"string\""
        );
        assert!(state
            .schema(&ContextName::default_context(), 1)
            .expect("exists")
            .schema
            .contains("Order"));
    }

    #[test]
    fn resolution_chain_goes_subject_context_global() {
        let subject = QualifiedSubject::parse(":.ctx:s").expect("valid");
        assert_eq!(
            State::resolution_chain(&subject),
            vec![
                Scope::Subject(":.ctx:s".into()),
                Scope::Context(".ctx".into()),
                Scope::Global
            ]
        );
        let plain = QualifiedSubject::parse("s").expect("valid");
        assert_eq!(
            State::resolution_chain(&plain),
            vec![Scope::Subject("s".into()), Scope::Global]
        );
    }
}

/// The folded state as a document, so that a node can start from it and read only the log's tail.
pub mod snapshot {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// The snapshot format this build writes and reads.
    pub const FORMAT: u32 = 1;

    /// The whole state at one offset.
    #[derive(Debug, Serialize, Deserialize)]
    pub struct Snapshot {
        /// Format version.
        pub format: u32,
        /// Every record before this offset is folded in.
        pub head: u64,
        global: Settings,
        contexts: Vec<Context>,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Settings {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<StoredConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Context {
        name: String,
        settings: Settings,
        max_id: i32,
        schemas: Vec<SchemaRegistered>,
        subjects: Vec<Subject>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Subject {
        name: String,
        settings: Settings,
        max_version: i32,
        /// (version, id, soft-deleted, registration time)
        versions: Vec<(i32, i32, bool, i64)>,
    }

    fn settings_out(settings: &ScopeSettings) -> Settings {
        Settings {
            config: settings.config.clone(),
            mode: settings.mode.map(|m| m.as_str().to_string()),
        }
    }

    fn settings_in(settings: Settings) -> ScopeSettings {
        ScopeSettings {
            config: settings.config,
            mode: settings.mode.and_then(|m| m.parse().ok()),
        }
    }

    impl State {
        /// The state as a snapshot.
        pub fn to_snapshot(&self) -> Snapshot {
            let contexts = self
                .contexts
                .iter()
                .map(|(name, context)| Context {
                    name: name.as_str().to_string(),
                    settings: settings_out(&context.settings),
                    max_id: context.max_id,
                    schemas: context
                        .schemas
                        .values()
                        .map(|record| SchemaRegistered {
                            subject: String::new(),
                            version: 0,
                            id: record.id,
                            guid: record.guid.clone(),
                            schema_type: record.schema_type.as_str().to_string(),
                            schema: record.schema.clone(),
                            references: record.references.clone(),
                            metadata: record.metadata.clone(),
                            rule_set: record.rule_set.clone(),
                        })
                        .collect(),
                    subjects: context
                        .subjects
                        .iter()
                        .map(|(name, subject)| Subject {
                            name: name.clone(),
                            settings: settings_out(&subject.settings),
                            max_version: subject.max_version,
                            versions: subject
                                .versions
                                .iter()
                                .map(|(n, v)| (*n, v.id, v.deleted, v.ts))
                                .collect(),
                        })
                        .collect(),
                })
                .collect();
            Snapshot {
                format: FORMAT,
                head: self.head,
                global: settings_out(&self.global),
                contexts,
            }
        }

        /// The state a snapshot holds.
        pub fn from_snapshot(snapshot: Snapshot) -> State {
            let mut state = State {
                head: snapshot.head,
                global: settings_in(snapshot.global),
                ..State::default()
            };
            for context in snapshot.contexts {
                let Ok(name) = ContextName::parse(&context.name) else {
                    continue;
                };
                let mut folded = ContextState {
                    settings: settings_in(context.settings),
                    max_id: context.max_id,
                    ..ContextState::default()
                };
                for schema in context.schemas {
                    insert_schema(&mut state.guids, &name, &mut folded, schema);
                }
                for subject in context.subjects {
                    let mut versions = BTreeMap::new();
                    for (version, id, deleted, ts) in subject.versions {
                        *folded.usage.entry(id).or_default() += 1;
                        versions.insert(version, VersionState { id, deleted, ts });
                    }
                    folded.subjects.insert(
                        subject.name,
                        SubjectState {
                            settings: settings_in(subject.settings),
                            versions,
                            max_version: subject.max_version,
                        },
                    );
                }
                state.contexts.insert(name, folded);
            }
            state
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn records() -> Vec<Record> {
            include_str!("../../fixtures/storage/v1.jsonl")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("record"))
                .collect()
        }

        /// A snapshot taken at any offset, plus the tail, gives the state a full replay gives.
        #[test]
        fn snapshot_then_tail_equals_full_replay() {
            let records = records();
            let mut full = State::default();
            for (offset, record) in records.iter().enumerate() {
                full.apply(offset as u64, record);
            }
            let expected = serde_json::to_value(full.to_snapshot()).expect("json");
            for cut in 0..=records.len() {
                let mut prefix = State::default();
                for (offset, record) in records.iter().enumerate().take(cut) {
                    prefix.apply(offset as u64, record);
                }
                let text = serde_json::to_string(&prefix.to_snapshot()).expect("json");
                let mut restored =
                    State::from_snapshot(serde_json::from_str(&text).expect("snapshot"));
                for (offset, record) in records.iter().enumerate().skip(cut) {
                    restored.apply(offset as u64, record);
                }
                assert_eq!(
                    serde_json::to_value(restored.to_snapshot()).expect("json"),
                    expected,
                    "cut at {cut}"
                );
            }
        }
    }
}
