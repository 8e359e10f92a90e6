//! The registry service: every operation of the API, as domain functions over the state and the log.
//!
//! A write validates against the state at the log head, then appends its event at exactly that
//! offset. If another writer appended first (a shared log), the node catches up and validates
//! again, so no decision is ever made against a history it has not seen. Reads are served from
//! the in-memory state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use covenant_core::api::{
    self, CompatibilityCheckResponse, ConfigUpdateRequest, RegisterSchemaRequest,
    RegisterSchemaResponse, SchemaReference,
};
use covenant_core::compat::{self, Incompatibility, PreviousVersion};
use covenant_core::ids::{CompatibilityLevel, ContextName, Mode, QualifiedSubject, VersionSpec};
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, ParsedSchema, SchemaType};
use parking_lot::{RwLock, RwLockReadGuard};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::event::{Event, Record, SchemaRegistered, Scope, StoredConfig, FORMAT_VERSION};
use crate::state::snapshot;
use crate::state::{ContentKey, SchemaRecord, State, VersionState};
use crate::store::{EventLog, StoreError};

/// How many records a catch-up reads at a time.
const CATCH_UP_BATCH: usize = 1000;

/// Registry-wide settings from the server config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The level when none is configured anywhere.
    pub default_compatibility: CompatibilityLevel,
    /// Answer an incompatible registration with error code 409 (true) or 40901.
    pub legacy_incompatible_code: bool,
    /// The largest schema text accepted, in bytes.
    pub max_schema_bytes: usize,
    /// A snapshot of the state is stored every this many records.
    pub snapshot_interval: u64,
    /// How often a node polls a shared log when no notification arrives.
    pub poll_interval: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_compatibility: CompatibilityLevel::Backward,
            legacy_incompatible_code: true,
            max_schema_bytes: 1024 * 1024,
            snapshot_interval: 1000,
            poll_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// What a planned write decided.
enum Decision<T> {
    /// Nothing to write: answer with this.
    Answer(T),
    /// Append this event, then answer with this.
    Append(Box<Event>, T),
}

fn append<T>(event: Event, answer: T) -> Decision<T> {
    Decision::Append(Box::new(event), answer)
}

/// The registry: the log, the state folded from it, and the operations.
pub struct Registry {
    log: Arc<dyn EventLog>,
    state: RwLock<State>,
    writer: tokio::sync::Mutex<()>,
    settings: Settings,
    cluster_id: String,
    /// Whether the last catch-up with the log succeeded.
    in_sync: AtomicBool,
    /// The offset of the last snapshot stored or loaded.
    last_snapshot: AtomicU64,
}

impl Registry {
    /// Opens a registry on a log: loads the newest snapshot, then replays the tail into memory.
    pub async fn open(log: Arc<dyn EventLog>, settings: Settings) -> Result<Registry> {
        let cluster_id = log.cluster_id().await?;
        let (state, last_snapshot) = match log.load_snapshot(snapshot::FORMAT).await? {
            Some((offset, bytes)) => match serde_json::from_slice::<snapshot::Snapshot>(&bytes) {
                Ok(snapshot) if snapshot.head == offset => {
                    tracing::info!(offset, "starting from the snapshot at offset {offset}");
                    (State::from_snapshot(snapshot), offset)
                }
                _ => {
                    tracing::warn!(
                        offset,
                        "ignoring an unreadable snapshot; replaying the whole log"
                    );
                    (State::default(), 0)
                }
            },
            None => (State::default(), 0),
        };
        let registry = Registry {
            log,
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
            settings,
            cluster_id,
            in_sync: AtomicBool::new(false),
            last_snapshot: AtomicU64::new(last_snapshot),
        };
        registry.catch_up().await?;
        Ok(registry)
    }

    /// Keeps the state in step with the log: wakes on the store's notifications (or polls),
    /// catches up, and stores snapshots as the log grows. Runs until the process ends.
    pub async fn follow(self: Arc<Self>) {
        loop {
            self.log.changed(self.settings.poll_interval).await;
            if let Err(error) = self.catch_up().await {
                tracing::warn!(%error, "cannot catch up with the log; reads are served from memory");
                continue;
            }
            if let Err(error) = self.snapshot_if_due().await {
                tracing::warn!(%error, "cannot store a snapshot");
            }
        }
    }

    /// Stores a snapshot when the log has grown by the configured interval since the last one.
    pub async fn snapshot_if_due(&self) -> Result<()> {
        let head = self.state.read().head();
        if head < self.last_snapshot.load(Ordering::Relaxed) + self.settings.snapshot_interval {
            return Ok(());
        }
        let snapshot = self.state.read().to_snapshot();
        let offset = snapshot.head;
        let bytes = serde_json::to_vec(&snapshot)
            .map_err(|e| Error::Internal(format!("cannot encode a snapshot: {e}")))?;
        self.log
            .save_snapshot(offset, snapshot::FORMAT, &bytes)
            .await?;
        self.last_snapshot.store(offset, Ordering::Relaxed);
        tracing::info!(offset, bytes = bytes.len(), "snapshot stored");
        Ok(())
    }

    /// Whether the node is in step with its log (readiness).
    pub fn is_ready(&self) -> bool {
        self.in_sync.load(Ordering::Relaxed)
    }

    /// The state, for reading. Hold the guard briefly.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// The registry's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The stable id of this registry's data.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The store, for logs.
    pub fn store_description(&self) -> String {
        self.log.describe()
    }

    /// Applies every record past the state's head. Returns how many were applied.
    pub async fn catch_up(&self) -> Result<usize> {
        let result = self.read_tail().await;
        self.in_sync.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    async fn read_tail(&self) -> Result<usize> {
        let mut applied = 0;
        loop {
            let head = self.state.read().head();
            let batch = self.log.read(head, CATCH_UP_BATCH).await?;
            if batch.is_empty() {
                return Ok(applied);
            }
            let mut state = self.state.write();
            for (offset, record) in &batch {
                if *offset != state.head() {
                    // Another task applied these meanwhile.
                    continue;
                }
                if record.v > FORMAT_VERSION {
                    return Err(Error::Store(format!(
                        "record {offset} has format version {}, newer than this build reads ({FORMAT_VERSION})",
                        record.v
                    )));
                }
                state.apply(*offset, record);
                applied += 1;
            }
        }
    }

    /// Runs a write: plan against the head, append, apply; re-plan if the log moved.
    async fn commit<T>(&self, mut plan: impl FnMut(&State) -> Result<Decision<T>>) -> Result<T> {
        let _writer = self.writer.lock().await;
        loop {
            self.catch_up().await?;
            let (offset, decision) = {
                let state = self.state.read();
                (state.head(), plan(&state)?)
            };
            let (event, answer) = match decision {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Append(event, answer) => (event, answer),
            };
            let record = Record::now(*event);
            match self.log.append(offset, &record).await {
                Ok(()) => {
                    let mut state = self.state.write();
                    // The follower may have read this record back from a shared log already.
                    if state.head() == offset {
                        state.apply(offset, &record);
                    }
                    return Ok(answer);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }

    // ----------------------------------------------------------------------------- registration

    /// `POST /subjects/{s}/versions`.
    pub async fn register(
        &self,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
    ) -> Result<RegisterSchemaResponse> {
        require_subject(subject)?;
        let text = schema_text(request, self.settings.max_schema_bytes)?;
        let schema_type = SchemaType::from_request(request.schema_type.as_deref())?;
        let references = request.references.clone().unwrap_or_default();
        let guid = uuid::Uuid::new_v4().to_string();
        self.commit(|state| {
            self.plan_register(
                state,
                subject,
                request,
                text,
                schema_type,
                &references,
                normalize,
                &guid,
            )
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_register(
        &self,
        state: &State,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
        text: &str,
        schema_type: SchemaType,
        references: &[SchemaReference],
        normalize: Option<bool>,
        guid: &str,
    ) -> Result<Decision<RegisterSchemaResponse>> {
        let mode = state.effective_mode(subject);
        let importing = request.id.is_some();
        match (mode, importing) {
            (Mode::ReadOnly, _) => {
                return Err(Error::OperationNotPermitted(format!(
                    "Subject {} is in read-only mode",
                    subject.qualified()
                )))
            }
            (Mode::Import | Mode::Forward, true) | (Mode::ReadWrite, false) => {}
            (_, true) => {
                return Err(Error::OperationNotPermitted(format!(
                    "Subject {} is not in import mode: a registration with an explicit id needs IMPORT mode",
                    subject.qualified()
                )))
            }
            (_, false) => {
                return Err(Error::OperationNotPermitted(format!(
                    "Subject {} is not in read-write mode: in IMPORT mode a registration must give its id and version",
                    subject.qualified()
                )))
            }
        }
        let config = state.effective_config(subject);
        let normalize = normalize.or(config.settings.normalize).unwrap_or(false);
        let context = subject.context();
        let parsed = state.parse(
            context,
            schema_type,
            text,
            references,
            ParseOptions {
                normalize,
                strict: !importing,
            },
        )?;
        let canonical = parsed.canonical().to_string();
        let subject_state = state.subject(subject);

        // The same schema already live in the subject: answer with it, write nothing.
        if let Some(subject_state) = subject_state {
            let existing = subject_state.visible(false).rev().find(|(_, v)| {
                state.schema(context, v.id).is_some_and(|record| {
                    same_schema(record, schema_type, &canonical, references, request)
                })
            });
            if let Some((version, entry)) = existing {
                if let Some(given) = request.id {
                    if i64::from(entry.id) != given {
                        return Err(Error::IdMismatch {
                            existing: entry.id,
                            given,
                        });
                    }
                }
                let record = state
                    .schema(context, entry.id)
                    .ok_or_else(|| Error::Internal(format!("schema {} is missing", entry.id)))?;
                return Ok(Decision::Answer(register_response(
                    record, version, entry.ts,
                )));
            }
        }

        let version = match request.version {
            Some(given) if importing => {
                let version = i32::try_from(given)
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| {
                        Error::Core(covenant_core::Error::InvalidVersion(given.to_string()))
                    })?;
                if subject_state.is_some_and(|s| s.versions.contains_key(&version)) {
                    return Err(Error::OperationNotPermitted(format!(
                        "Overwrite new schema in subject {} at version {version} is not permitted: the version exists with another schema",
                        subject.qualified()
                    )));
                }
                version
            }
            _ => subject_state.map_or(0, |s| s.max_version) + 1,
        };

        if !importing {
            let level = self.level(&config)?;
            let problems = self.check_history(
                state,
                subject,
                &parsed,
                level,
                &config,
                request.metadata.as_ref(),
            )?;
            if !problems.is_empty() {
                return Err(Error::Incompatible {
                    subject: subject.qualified(),
                    details: details(&problems, level),
                    legacy_code: self.settings.legacy_incompatible_code,
                });
            }
        }

        let key = ContentKey::new(
            schema_type,
            &canonical,
            references,
            request.metadata.as_ref(),
            request.rule_set.as_ref(),
        );
        let context_state = state.context(context);
        let existing_id = context_state.and_then(|c| c.id_of(&key));
        let (id, guid) = match (existing_id, request.id) {
            (Some(existing), Some(given)) if i64::from(existing) != given => {
                return Err(Error::IdMismatch { existing, given })
            }
            (Some(existing), _) => {
                let record = state
                    .schema(context, existing)
                    .ok_or_else(|| Error::Internal(format!("schema {existing} is missing")))?;
                (existing, record.guid.clone())
            }
            (None, Some(given)) => {
                let id = i32::try_from(given)
                    .ok()
                    .filter(|id| *id >= 1)
                    .ok_or_else(|| {
                        Error::UnprocessableEntity(format!("id {given} is not a valid schema id"))
                    })?;
                if state.schema(context, id).is_some() {
                    return Err(Error::OperationNotPermitted(format!(
                        "Overwrite new schema with id {id} in context {context} is not permitted."
                    )));
                }
                (id, guid.to_string())
            }
            (None, None) => (context_state.map_or(0, |c| c.max_id) + 1, guid.to_string()),
        };

        let registered = SchemaRegistered {
            subject: subject.qualified(),
            version,
            id,
            guid: guid.clone(),
            schema_type: schema_type.as_str().to_string(),
            schema: canonical.clone(),
            references: references.to_vec(),
            metadata: request.metadata.clone(),
            rule_set: request.rule_set.clone(),
        };
        let response = RegisterSchemaResponse {
            id,
            version: Some(version),
            guid: Some(guid),
            schema_type: schema_type.member(),
            references: references.to_vec(),
            metadata: request.metadata.clone(),
            rule_set: request.rule_set.clone(),
            schema: Some(canonical),
            ts: None,
        };
        Ok(append(Event::SchemaRegistered(registered), response))
    }

    fn level(&self, config: &StoredConfig) -> Result<CompatibilityLevel> {
        match &config.compatibility {
            Some(level) => Ok(level.parse()?),
            None => Ok(self.settings.default_compatibility),
        }
    }

    /// Checks a candidate against the subject's live history under `level` (registration semantics).
    fn check_history(
        &self,
        state: &State,
        subject: &QualifiedSubject,
        parsed: &ParsedSchema,
        level: CompatibilityLevel,
        config: &StoredConfig,
        metadata: Option<&Value>,
    ) -> Result<Vec<Incompatibility>> {
        if level == CompatibilityLevel::None {
            return Ok(Vec::new());
        }
        let Some(subject_state) = state.subject(subject) else {
            return Ok(Vec::new());
        };
        let group = config
            .settings
            .compatibility_group
            .as_deref()
            .map(|key| (key, group_value(metadata, key)));
        let mut history = Vec::new();
        for (version, entry) in subject_state.visible(false).rev() {
            let record = state
                .schema(subject.context(), entry.id)
                .ok_or_else(|| Error::Internal(format!("schema {} is missing", entry.id)))?;
            if let Some((key, value)) = &group {
                if group_value(record.metadata.as_ref(), key) != *value {
                    continue;
                }
            }
            history.push(PreviousVersion {
                version,
                schema: state.parsed(subject.context(), record)?,
            });
            if !level.is_transitive() {
                break;
            }
        }
        Ok(compat::check(level, parsed, &history, policy(config)))
    }

    // ----------------------------------------------------------------------------- compatibility and lookup

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`.
    pub fn check_compatibility(
        &self,
        subject: &QualifiedSubject,
        version: Option<VersionSpec>,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse> {
        let state = self.state.read();
        let config = state.effective_config(subject);
        let level = self.level(&config)?;
        let messages_if = |messages: Vec<String>| verbose.then_some(messages);
        // A named version must exist; `latest` of a subject with no versions is compatible.
        let against = match version {
            None => None,
            Some(VersionSpec::Latest) => match state.version(subject, VersionSpec::Latest, false) {
                Ok(found) => Some(found),
                Err(_) => {
                    return Ok(CompatibilityCheckResponse {
                        is_compatible: true,
                        messages: messages_if(Vec::new()),
                    })
                }
            },
            Some(spec) => Some(state.version(subject, spec, false)?),
        };
        let text = schema_text(request, self.settings.max_schema_bytes)?;
        let schema_type = SchemaType::from_request(request.schema_type.as_deref())?;
        let references = request.references.clone().unwrap_or_default();
        let normalize = normalize.or(config.settings.normalize).unwrap_or(false);
        let parsed = match state.parse(
            subject.context(),
            schema_type,
            text,
            &references,
            ParseOptions {
                normalize,
                strict: true,
            },
        ) {
            Ok(parsed) => parsed,
            Err(error) if verbose => {
                return Ok(CompatibilityCheckResponse {
                    is_compatible: false,
                    messages: Some(vec![error.to_string()]),
                })
            }
            Err(error) => return Err(error),
        };
        let problems = match against {
            // One named version, in the level's direction(s), never expanded transitively.
            Some((version, entry)) => {
                if level == CompatibilityLevel::None {
                    Vec::new()
                } else {
                    let record = state.schema(subject.context(), entry.id).ok_or_else(|| {
                        Error::Internal(format!("schema {} is missing", entry.id))
                    })?;
                    let old = state.parsed(subject.context(), record)?;
                    let mut found = compat::check_pair(
                        &parsed,
                        &old,
                        level.checks_backward(),
                        level.checks_forward(),
                        policy(&config),
                    );
                    for problem in &mut found {
                        problem.version = Some(version);
                    }
                    found
                }
            }
            // What a registration would check.
            None => self.check_history(
                &state,
                subject,
                &parsed,
                level,
                &config,
                request.metadata.as_ref(),
            )?,
        };
        let mut messages: Vec<String> = problems.iter().map(Incompatibility::message).collect();
        if !problems.is_empty() {
            messages.push(summary(level));
        }
        Ok(CompatibilityCheckResponse {
            is_compatible: problems.is_empty(),
            messages: messages_if(messages),
        })
    }

    /// `POST /subjects/{s}`: is this schema registered under the subject?
    pub fn lookup(
        &self,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
        include_deleted: bool,
    ) -> Result<api::Schema> {
        let state = self.state.read();
        let subject_state = state.existing_subject(subject, include_deleted)?;
        let text = schema_text(request, self.settings.max_schema_bytes)?;
        let schema_type = SchemaType::from_request(request.schema_type.as_deref())?;
        let references = request.references.clone().unwrap_or_default();
        let config = state.effective_config(subject);
        let normalize = normalize.or(config.settings.normalize).unwrap_or(false);
        let parsed = state.parse(
            subject.context(),
            schema_type,
            text,
            &references,
            ParseOptions {
                normalize,
                strict: false,
            },
        )?;
        let found = subject_state
            .visible(include_deleted)
            .rev()
            .find_map(|(version, entry)| {
                let record = state.schema(subject.context(), entry.id)?;
                same_schema(
                    record,
                    schema_type,
                    parsed.canonical(),
                    &references,
                    request,
                )
                .then(|| schema_object(subject, version, entry, record))
            });
        found.ok_or_else(|| Error::SchemaNotInSubject(subject.qualified()))
    }

    // ----------------------------------------------------------------------------- deletes

    /// `DELETE /subjects/{s}`: the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &QualifiedSubject,
        permanent: bool,
    ) -> Result<Vec<i32>> {
        require_subject(subject)?;
        self.commit(|state| {
            refuse_in_read_only(state, subject)?;
            let subject_state = state.existing_subject(subject, true)?;
            let live: Vec<i32> = subject_state.visible(false).map(|(n, _)| n).collect();
            if !permanent && live.is_empty() {
                return Err(Error::SubjectSoftDeleted(subject.qualified()));
            }
            if permanent && !live.is_empty() {
                return Err(Error::SubjectNotSoftDeleted(subject.qualified()));
            }
            let versions: Vec<i32> = subject_state.versions.keys().copied().collect();
            let referenced = state
                .referrers(subject)
                .into_iter()
                .find(|(version, _)| subject_state.versions.contains_key(version));
            if let Some((version, ids)) = referenced {
                return Err(Error::ReferenceExists {
                    subject: subject.qualified(),
                    version,
                    ids: ids.into_iter().collect(),
                });
            }
            let answer = if permanent { versions } else { live };
            Ok(append(
                Event::SubjectDeleted {
                    subject: subject.qualified(),
                    permanent,
                },
                answer,
            ))
        })
        .await
    }

    /// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
    pub async fn delete_version(
        &self,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32> {
        require_subject(subject)?;
        self.commit(|state| {
            refuse_in_read_only(state, subject)?;
            let subject_state = state.existing_subject(subject, true)?;
            let found = match spec {
                VersionSpec::Latest => subject_state.visible(permanent).next_back(),
                VersionSpec::Number(n) => subject_state.versions.get(&n).map(|v| (n, v)),
            };
            let (version, entry) = found.ok_or_else(|| Error::VersionNotFound {
                subject: subject.qualified(),
                version: spec.to_string(),
            })?;
            match (permanent, entry.deleted) {
                (false, true) => {
                    return Err(Error::VersionSoftDeleted {
                        subject: subject.qualified(),
                        version,
                    })
                }
                (true, false) => {
                    return Err(Error::VersionNotSoftDeleted {
                        subject: subject.qualified(),
                        version,
                    })
                }
                _ => {}
            }
            refuse_if_referenced(state, subject, version)?;
            Ok(append(
                Event::VersionDeleted {
                    subject: subject.qualified(),
                    version,
                    permanent,
                },
                version,
            ))
        })
        .await
    }

    // ----------------------------------------------------------------------------- config

    /// `GET /config[/{s}]`.
    pub fn get_config(&self, scope: &Scope, default_to_global: bool) -> Result<api::Config> {
        let state = self.state.read();
        let own = state.settings(scope).and_then(|s| s.config.clone());
        let config = match (scope, own) {
            (Scope::Global, own) => {
                let mut config = own.unwrap_or_default();
                config
                    .compatibility
                    .get_or_insert_with(|| self.settings.default_compatibility.to_string());
                config
            }
            (_, Some(own)) if !default_to_global => own,
            (_, _) if default_to_global => {
                let mut config = state.effective_config(&scope_subject(scope)?);
                config
                    .compatibility
                    .get_or_insert_with(|| self.settings.default_compatibility.to_string());
                config
            }
            (_, _) => return Err(Error::NoSubjectConfig(scope_name(scope))),
        };
        Ok(api::Config {
            compatibility_level: config.compatibility,
            settings: config.settings,
        })
    }

    /// `PUT /config[/{s}]`: the config after the change, in request shape.
    pub async fn set_config(
        &self,
        scope: &Scope,
        request: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest> {
        let level = match &request.compatibility {
            Some(level) => Some(level.parse::<CompatibilityLevel>()?.to_string()),
            None => None,
        };
        if let Some(policy) = &request.settings.compatibility_policy {
            if !["STRICT", "LENIENT", "LOGICAL"].contains(&policy.to_ascii_uppercase().as_str()) {
                return Err(Error::Core(
                    covenant_core::Error::InvalidCompatibilityLevel(format!(
                        "compatibilityPolicy {policy}"
                    )),
                ));
            }
        }
        self.commit(|state| {
            let mut config = state
                .settings(scope)
                .and_then(|s| s.config.clone())
                .unwrap_or_default();
            if let Some(level) = &level {
                config.compatibility = Some(level.clone());
            }
            let mut settings = request.settings.clone();
            settings.fill_from(&config.settings);
            config.settings = settings;
            let answer = ConfigUpdateRequest {
                compatibility: config.compatibility.clone(),
                settings: config.settings.clone(),
            };
            Ok(append(
                Event::ConfigSet {
                    scope: scope.clone(),
                    config,
                },
                answer,
            ))
        })
        .await
    }

    /// `DELETE /config[/{s}]`: the config that was removed.
    pub async fn delete_config(&self, scope: &Scope) -> Result<api::Config> {
        self.commit(|state| {
            let own = state.settings(scope).and_then(|s| s.config.clone());
            let previous = match (scope, own) {
                (_, Some(own)) => own,
                (Scope::Global, None) => StoredConfig {
                    compatibility: Some(self.settings.default_compatibility.to_string()),
                    ..StoredConfig::default()
                },
                (_, None) => return Err(Error::SubjectNotFound(scope_name(scope))),
            };
            let answer = api::Config {
                compatibility_level: previous.compatibility,
                settings: previous.settings,
            };
            Ok(append(
                Event::ConfigDeleted {
                    scope: scope.clone(),
                },
                answer,
            ))
        })
        .await
    }

    // ----------------------------------------------------------------------------- mode

    /// `GET /mode[/{s}]`.
    pub fn get_mode(&self, scope: &Scope, default_to_global: bool) -> Result<Mode> {
        let state = self.state.read();
        let own = state.settings(scope).and_then(|s| s.mode);
        match (scope, own) {
            (Scope::Global, own) => Ok(own.unwrap_or(Mode::ReadWrite)),
            (_, Some(mode)) => Ok(mode),
            (_, None) if default_to_global => Ok(state.effective_mode(&scope_subject(scope)?)),
            (_, None) => Err(Error::NoSubjectMode(scope_name(scope))),
        }
    }

    /// `PUT /mode[/{s}]`.
    pub async fn set_mode(&self, scope: &Scope, mode: &str, force: bool) -> Result<Mode> {
        let mode: Mode = mode.parse()?;
        if mode == Mode::Forward && *scope != Scope::Global {
            return Err(Error::Core(covenant_core::Error::InvalidMode(
                "FORWARD (forward mode is only supported on the global level)".into(),
            )));
        }
        self.commit(|state| {
            if mode == Mode::Import && !force && scope_has_subjects(state, scope) {
                return Err(Error::OperationNotPermitted(
                    "Cannot import since found existing subjects: set force=true to switch anyway"
                        .into(),
                ));
            }
            Ok(append(
                Event::ModeSet {
                    scope: scope.clone(),
                    mode: mode.as_str().to_string(),
                },
                mode,
            ))
        })
        .await
    }

    /// `DELETE /mode[/{s}]`: the mode that was removed.
    pub async fn delete_mode(&self, scope: &Scope) -> Result<Mode> {
        self.commit(|state| {
            let previous = match (scope, state.settings(scope).and_then(|s| s.mode)) {
                (_, Some(mode)) => mode,
                (Scope::Global, None) => Mode::ReadWrite,
                (_, None) => return Err(Error::SubjectNotFound(scope_name(scope))),
            };
            Ok(append(
                Event::ModeDeleted {
                    scope: scope.clone(),
                },
                previous,
            ))
        })
        .await
    }

    // ----------------------------------------------------------------------------- contexts

    /// `DELETE /contexts/{ctx}`: removes an empty context's config and mode.
    pub async fn delete_context(&self, context: &ContextName) -> Result<()> {
        let scope = Scope::Context(context.as_str().to_string());
        loop {
            let next = self
                .commit(|state| {
                    let Some(ctx) = state.context(context) else {
                        return Err(Error::ContextNotFound(context.to_string()));
                    };
                    if ctx.subjects.values().any(|s| s.has_versions()) {
                        return Err(Error::ContextNotEmpty(context.to_string()));
                    }
                    let event = if ctx.settings.config.is_some() {
                        Some(Event::ConfigDeleted {
                            scope: scope.clone(),
                        })
                    } else if ctx.settings.mode.is_some() {
                        Some(Event::ModeDeleted {
                            scope: scope.clone(),
                        })
                    } else {
                        None
                    };
                    Ok(match event {
                        Some(event) => append(event, true),
                        None => Decision::Answer(false),
                    })
                })
                .await?;
            if !next {
                return Ok(());
            }
        }
    }
}

// ----------------------------------------------------------------------------- helpers

/// Builds the Schema object of one version.
pub fn schema_object(
    subject: &QualifiedSubject,
    version: i32,
    entry: &VersionState,
    record: &SchemaRecord,
) -> api::Schema {
    api::Schema {
        subject: subject.qualified(),
        version,
        id: record.id,
        guid: Some(record.guid.clone()),
        schema_type: record.schema_type.member(),
        references: record.references.clone(),
        metadata: record.metadata.clone(),
        rule_set: record.rule_set.clone(),
        schema: record.schema.clone(),
        ts: Some(entry.ts),
        deleted: entry.deleted.then_some(true),
    }
}

fn register_response(record: &SchemaRecord, version: i32, ts: i64) -> RegisterSchemaResponse {
    RegisterSchemaResponse {
        id: record.id,
        version: Some(version),
        guid: Some(record.guid.clone()),
        schema_type: record.schema_type.member(),
        references: record.references.clone(),
        metadata: record.metadata.clone(),
        rule_set: record.rule_set.clone(),
        schema: Some(record.schema.clone()),
        ts: Some(ts),
    }
}

/// Whether a stored schema is the one a request describes. Metadata and rules count only when given.
fn same_schema(
    record: &SchemaRecord,
    schema_type: SchemaType,
    canonical: &str,
    references: &[SchemaReference],
    request: &RegisterSchemaRequest,
) -> bool {
    record.schema_type == schema_type
        && record.schema == canonical
        && record.references == references
        && request
            .metadata
            .as_ref()
            .is_none_or(|m| record.metadata.as_ref() == Some(m))
        && request
            .rule_set
            .as_ref()
            .is_none_or(|r| record.rule_set.as_ref() == Some(r))
}

fn schema_text(request: &RegisterSchemaRequest, limit: usize) -> Result<&str> {
    let text = request
        .schema
        .as_deref()
        .ok_or_else(|| Error::InvalidSchema("the request has no \"schema\"".into()))?;
    if text.trim().is_empty() {
        return Err(Error::InvalidSchema("Empty schema".into()));
    }
    if text.len() > limit {
        return Err(Error::SchemaTooLarge {
            size: text.len(),
            limit,
        });
    }
    Ok(text)
}

fn require_subject(subject: &QualifiedSubject) -> Result<()> {
    if subject.is_context_only() {
        return Err(Error::Core(covenant_core::Error::InvalidSubject(
            subject.qualified(),
            "a subject name may not be empty",
        )));
    }
    Ok(())
}

fn refuse_in_read_only(state: &State, subject: &QualifiedSubject) -> Result<()> {
    if state.effective_mode(subject) == Mode::ReadOnly {
        return Err(Error::OperationNotPermitted(format!(
            "Subject {} is in read-only mode",
            subject.qualified()
        )));
    }
    Ok(())
}

fn refuse_if_referenced(state: &State, subject: &QualifiedSubject, version: i32) -> Result<()> {
    let ids = state.referenced_by(subject, version);
    if ids.is_empty() {
        Ok(())
    } else {
        Err(Error::ReferenceExists {
            subject: subject.qualified(),
            version,
            ids,
        })
    }
}

/// The JSON Schema policy a config selects: LENIENT, or STRICT by default.
fn policy(config: &StoredConfig) -> Policy {
    Policy::from_setting(config.settings.compatibility_policy.as_deref())
}

/// The value of a compatibility-group property in a version's metadata.
fn group_value(metadata: Option<&Value>, key: &str) -> Option<String> {
    metadata?
        .get("properties")?
        .get(key)
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

/// The 409 details and verbose messages end with this summary, as Confluent's do.
fn summary(level: CompatibilityLevel) -> String {
    format!("{{validateFields: 'false', compatibility: '{level}'}}")
}

fn details(problems: &[Incompatibility], level: CompatibilityLevel) -> String {
    let mut parts: Vec<String> = problems.iter().map(Incompatibility::message).collect();
    parts.push(summary(level));
    parts.join(", ")
}

/// The subject a scope's settings resolve for.
fn scope_subject(scope: &Scope) -> Result<QualifiedSubject> {
    Ok(match scope {
        Scope::Global => QualifiedSubject::parse(":.:")?,
        Scope::Context(name) => QualifiedSubject::new(ContextName::parse(name)?, ""),
        Scope::Subject(raw) => QualifiedSubject::parse(raw)?,
    })
}

fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::Global => String::new(),
        Scope::Context(name) => format!(":{name}:"),
        Scope::Subject(raw) => raw.clone(),
    }
}

fn scope_has_subjects(state: &State, scope: &Scope) -> bool {
    match scope {
        Scope::Global => state
            .contexts()
            .any(|(_, c)| c.subjects.values().any(|s| s.has_versions())),
        Scope::Context(name) => ContextName::parse(name)
            .ok()
            .and_then(|name| state.context(&name))
            .is_some_and(|c| c.subjects.values().any(|s| s.has_versions())),
        Scope::Subject(raw) => QualifiedSubject::parse(raw)
            .ok()
            .and_then(|s| state.subject(&s).map(|s| s.has_versions()))
            .unwrap_or(false),
    }
}
