//! The registry: every operation of the API, each behind the one permission check.
//!
//! Handlers call one method here per request, passing the [`Caller`]. Each method first asks
//! `Registry::authorize` (the only enforcement point), then runs a pure planner
//! ([`crate::plan`]) through the engine for a write, or a pure query ([`query`]) over
//! the state for a read, and shapes the REST answer. Nothing outside this module reaches the
//! state.

pub mod associations;
pub mod audit;
mod bodies;
pub mod console;
mod engine;
mod fields;
pub mod keys;
pub mod query;
pub mod semver;

use std::sync::Arc;

use bytes::Bytes;
use covenant_core::api::{
    self, CompatibilityCheckResponse, CompatibilityFinding, ConfigUpdateRequest, ContextId,
    RegisterSchemaRequest, RegisterSchemaResponse, SchemaReference, SubjectVersion,
};
use covenant_core::compat::{Budget, Incompatibility};
use covenant_core::contract::{Metadata, RuleSet};
use covenant_core::ids::{
    CompatibilityLevel, ContextName, Mode, QualifiedSubject, SchemaId, Version, VersionSpec,
};
use covenant_core::schema::{ParseOptions, SchemaType};
use uuid::Uuid;

use crate::access::{Authorizer, Caller, Open, Operation, Resource};
use crate::error::{Error, Result};
use crate::metrics::{CheckSource, Metrics, Outcome, Verdict};
use crate::persist::{Actor, Scope, StoredConfig, StoredReference};
use crate::plan::{self, register::Register};
use crate::settings::Settings;
use crate::state::{Pair, State};
use crate::store::EventLog;
use engine::Engine;
use query::{Deleted, Page, SubjectFilter, VersionView};

/// The registry: the engine, and who may do what.
pub struct Registry {
    engine: Engine,
    authorizer: Box<dyn Authorizer>,
    audit: audit::Audit,
    kms: crate::kms::Kms,
    bodies: bodies::Bodies,
    fields: Arc<fields::FieldIndex>,
}

impl Registry {
    /// Opens a registry on a log: loads the newest snapshot, then replays the tail into memory.
    /// Every caller may do everything (no authentication configured).
    pub async fn open(log: Arc<dyn EventLog>, settings: Settings) -> Result<Registry> {
        Ok(Registry {
            engine: Engine::open(log, settings).await?,
            authorizer: Box::new(Open),
            audit: audit::Audit::default(),
            kms: crate::kms::Kms::default(),
            bodies: bodies::Bodies::default(),
            fields: Arc::default(),
        })
    }

    /// The registry with `authorizer` deciding who may do what.
    pub fn with_authorizer(mut self, authorizer: Box<dyn Authorizer>) -> Registry {
        self.authorizer = authorizer;
        self
    }

    /// The registry with these KMS drivers for shared KEKs.
    pub fn with_kms(mut self, kms: crate::kms::Kms) -> Registry {
        self.kms = kms;
        self
    }

    /// Keeps the state in step with the log for the life of the server.
    pub async fn follow(self: Arc<Self>) {
        self.engine.follow().await
    }

    /// At a clean stop, stores a snapshot if the next start would otherwise replay much of the
    /// log (`Engine::snapshot_at_stop`: when the tail is a sixty-fourth of the log or more).
    pub async fn snapshot_at_stop(&self) {
        let started = std::time::Instant::now();
        match self.engine.snapshot_at_stop().await {
            Ok(false) => {}
            Ok(true) => tracing::info!(
                offset = self.engine.last_snapshot(),
                millis = started.elapsed().as_millis() as u64,
                "snapshot stored at stop"
            ),
            Err(error) => tracing::warn!(%error, "cannot store a snapshot at stop"),
        }
    }

    /// The one permission check: may `caller` do `operation` on `resource`?
    fn authorize(
        &self,
        caller: &Caller,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Result<()> {
        if self.authorizer.permits(caller, operation, resource) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                operation,
                resource: describe(resource),
            })
        }
    }

    /// Whether `caller` may read `subject` (lists show only those).
    fn may_read(&self, caller: &Caller, subject: &QualifiedSubject) -> bool {
        self.authorizer.is_open()
            || self
                .authorizer
                .permits(caller, Operation::Read, Resource::Subject(subject))
    }

    // ----------------------------------------------------------------------------- node

    /// Whether the node is in step with its log (readiness).
    pub fn is_ready(&self) -> bool {
        self.engine.is_ready()
    }

    /// The log offset the state has reached.
    pub fn head(&self) -> u64 {
        self.engine.state().head()
    }

    /// The stable id of this registry's data.
    pub fn cluster_id(&self) -> &str {
        self.engine.cluster_id()
    }

    /// The store, for logs.
    pub fn store_description(&self) -> String {
        self.engine.store_description()
    }

    /// Catches up with the log now (tests and tools).
    pub async fn catch_up(&self) -> Result<usize> {
        self.engine.catch_up().await
    }

    /// Stores a snapshot if one is due.
    pub async fn snapshot_if_due(&self) -> Result<()> {
        self.engine.snapshot_if_due().await
    }

    fn settings(&self) -> &Settings {
        self.engine.settings()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.engine.metrics()
    }

    /// `GET /metrics`: the page, with the state's gauges read now.
    pub fn metrics_page(&self, caller: &Caller) -> Result<String> {
        if !self.metrics().is_enabled() {
            return Err(Error::NoRoute("GET /metrics (metrics = false)".into()));
        }
        self.authorize(caller, Operation::Read, Resource::Registry)?;
        let last_snapshot = self.engine.last_snapshot();
        Ok(self.metrics().encode(&self.engine.state(), last_snapshot))
    }

    // ----------------------------------------------------------------------------- schemas

    /// `GET /schemas/ids/{id}`: the body, prepared at registration in the common case.
    pub fn schema_by_id(
        &self,
        caller: &Caller,
        context: &ContextName,
        id: SchemaId,
        format: Option<&str>,
        fetch_max_id: bool,
    ) -> Result<Bytes> {
        let state = self.engine.state();
        let record = self.readable_schema(caller, &state, context, id)?;
        let rendered = query::render(&state, context, record, format)?;
        if rendered.is_none() && !fetch_max_id {
            return Ok(self
                .bodies
                .schema(context.as_str(), record, || record.id_body()));
        }
        let mut body = record.schema_string();
        if let Some(text) = rendered {
            body.schema = text;
        }
        if fetch_max_id {
            body.max_id = state
                .context(context)
                .and_then(|c| c.max_id)
                .map(SchemaId::get);
        }
        Ok(json_bytes(&body))
    }

    /// `GET /schemas/ids/{id}/schema`: the schema text alone.
    pub fn raw_schema_by_id(
        &self,
        caller: &Caller,
        context: &ContextName,
        id: SchemaId,
        format: Option<&str>,
    ) -> Result<String> {
        let state = self.engine.state();
        let record = self.readable_schema(caller, &state, context, id)?;
        Ok(query::render(&state, context, record, format)?
            .unwrap_or_else(|| record.schema().into_owned()))
    }

    /// A schema by id that some stored version uses and that the caller may read through one
    /// of the subjects using it.
    fn readable_schema<'s>(
        &self,
        caller: &Caller,
        state: &'s State,
        context: &ContextName,
        id: SchemaId,
    ) -> Result<&'s Arc<crate::state::SchemaRecord>> {
        let record = query::schema_by_id(state, context, id)?;
        let readable = self.authorizer.is_open()
            || state
                .usages(context, id, true)
                .iter()
                .any(|(subject, _, _)| self.may_read(caller, subject));
        if readable {
            Ok(record)
        } else {
            Err(Error::SchemaNotFound(id.to_string()))
        }
    }

    /// `GET /schemas/ids/{id}/subjects`.
    pub fn id_subjects(
        &self,
        caller: &Caller,
        context: &ContextName,
        id: SchemaId,
        deleted: bool,
        page: Page,
    ) -> Result<Vec<String>> {
        let state = self.engine.state();
        self.readable_schema(caller, &state, context, id)?;
        let subjects = query::id_subjects(&state, context, id, deleted)?;
        Ok(page.of(subjects
            .into_iter()
            .filter(|s| self.may_read(caller, s))
            .map(|s| s.qualified())))
    }

    /// `GET /schemas/ids/{id}/versions`.
    pub fn id_versions(
        &self,
        caller: &Caller,
        context: &ContextName,
        id: SchemaId,
        deleted: bool,
        page: Page,
    ) -> Result<Vec<SubjectVersion>> {
        let state = self.engine.state();
        self.readable_schema(caller, &state, context, id)?;
        let versions = query::id_versions(&state, context, id, deleted)?;
        Ok(page.of(versions
            .into_iter()
            .filter(|(s, _)| self.may_read(caller, s))
            .map(|(subject, version)| SubjectVersion {
                subject: subject.qualified(),
                version: version.get(),
            })))
    }

    /// `GET /schemas/guids/{guid}`.
    pub fn schema_by_guid(&self, caller: &Caller, guid: &str) -> Result<Bytes> {
        let state = self.engine.state();
        let not_found = || Error::SchemaNotFound(guid.to_string());
        let guid_value = Uuid::parse_str(guid).map_err(|_| not_found())?;
        let (context, record) = state.schema_by_guid(&guid_value).ok_or_else(not_found)?;
        let record = self
            .readable_schema(caller, &state, context, record.id)
            .map_err(|_| not_found())?;
        Ok(self
            .bodies
            .schema(context.as_str(), record, || record.id_body()))
    }

    /// `GET /schemas/guids/{guid}/ids`.
    pub fn guid_ids(&self, caller: &Caller, guid: &str) -> Result<Vec<ContextId>> {
        let state = self.engine.state();
        let not_found = || Error::SchemaNotFound(guid.to_string());
        let guid_value = Uuid::parse_str(guid).map_err(|_| not_found())?;
        let (context, record) = state.schema_by_guid(&guid_value).ok_or_else(not_found)?;
        let readable = state
            .usages(context, record.id, true)
            .iter()
            .any(|(subject, _, _)| self.may_read(caller, subject))
            || !state
                .context(context)
                .is_some_and(|c| c.is_in_use(record.id));
        if !readable {
            return Err(not_found());
        }
        Ok(vec![ContextId {
            context: context.to_string(),
            id: record.id.get(),
        }])
    }

    /// `GET /schemas`.
    pub fn list_schemas(
        &self,
        caller: &Caller,
        filter: &SubjectFilter,
        deleted: bool,
        latest_only: bool,
        page: Page,
    ) -> Vec<api::Schema> {
        let state = self.engine.state();
        page.of(query::schemas(&state, filter, deleted, latest_only)
            .filter(|view| self.may_read(caller, &view.subject))
            .map(|view| schema_object(&view)))
    }

    // ----------------------------------------------------------------------------- subjects and versions

    /// `GET /subjects`.
    pub fn list_subjects(
        &self,
        caller: &Caller,
        filter: &SubjectFilter,
        deleted: Deleted,
        page: Page,
    ) -> Vec<String> {
        let state = self.engine.state();
        page.of(query::subjects(&state, filter, deleted)
            .filter(|s| self.may_read(caller, s))
            .map(|s| s.qualified()))
    }

    /// `GET /subjects/{s}/versions`; with `negative`, soft-deleted versions are negated.
    pub fn list_versions(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        deleted: Deleted,
        negative: bool,
        page: Page,
    ) -> Result<Vec<i32>> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let versions = query::versions(&state, subject, deleted)?;
        Ok(page.of(versions.into_iter().map(|(version, soft_deleted)| {
            if negative && soft_deleted {
                -version.get()
            } else {
                version.get()
            }
        })))
    }

    /// `GET /subjects/{s}/versions/{v}`.
    pub fn get_version(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        deleted: bool,
        format: Option<&str>,
    ) -> Result<api::Schema> {
        let (view, rendered) = self.version_view(caller, subject, spec, deleted, format)?;
        let mut schema = schema_object(&view);
        if let Some(text) = rendered {
            schema.schema = text;
        }
        Ok(schema)
    }

    /// `GET /subjects/{s}/versions/{v}` as the response body (prepared once while it is hot),
    /// with the version it resolved to.
    pub fn get_version_body(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        deleted: bool,
        format: Option<&str>,
    ) -> Result<(Version, Bytes)> {
        let (view, rendered) = self.version_view(caller, subject, spec, deleted, format)?;
        let serialize = |schema: &api::Schema| {
            Bytes::from(serde_json::to_vec(schema).expect("a version body always serializes"))
        };
        if let Some(text) = rendered {
            let mut schema = schema_object(&view);
            schema.schema = text;
            return Ok((view.version, serialize(&schema)));
        }
        let body = self.bodies.version(
            &view.subject.qualified(),
            view.version.get(),
            &view.entry,
            &view.record,
            || serialize(&schema_object(&view)),
        );
        Ok((view.version, body))
    }

    /// The version a `GET /subjects/{s}/versions/{v}` names, and its text in `format` when a
    /// format other than the stored text is asked for.
    fn version_view(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        deleted: bool,
        format: Option<&str>,
    ) -> Result<(query::VersionView, Option<String>)> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let view = query::version(&state, subject, spec, deleted)?;
        let rendered = query::render(&state, subject.context(), &view.record, format)?;
        Ok((view, rendered))
    }

    /// `GET /subjects/{s}/versions/{v}/schema`.
    pub fn raw_schema_by_version(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        deleted: bool,
        format: Option<&str>,
    ) -> Result<String> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let view = query::version(&state, subject, spec, deleted)?;
        Ok(
            query::render(&state, subject.context(), &view.record, format)?
                .unwrap_or_else(|| view.record.schema().into_owned()),
        )
    }

    /// `GET /subjects/{s}/versions/{v}/referencedby`: ids of the schemas referencing it.
    pub fn referenced_by(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        deleted: bool,
        page: Page,
    ) -> Result<Vec<i32>> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let (version, _) = state.version(subject, spec, deleted)?;
        Ok(page.of(state
            .referenced_by(subject, version)
            .into_iter()
            .map(SchemaId::get)))
    }

    /// `GET /subjects/{s}/metadata`.
    pub fn latest_with_metadata(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        pairs: &[(&str, &str)],
        deleted: bool,
    ) -> Result<api::Schema> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let view = query::latest_with_metadata(&state, subject, pairs, deleted)?;
        Ok(schema_object(&view))
    }

    /// `POST /subjects/{s}`: is this schema registered under the subject?
    pub fn lookup(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
        include_deleted: bool,
    ) -> Result<api::Schema> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        // A copy (it shares the maps): parsing holds no lock that a commit would wait for.
        let state = self.engine.state_copy();
        state.existing_subject(subject, include_deleted)?;
        let mut candidate = Candidate::read(request, self.settings(), Purpose::Compare)?;
        candidate.references = state.pin_references(subject.context(), &candidate.references)?;
        let config = state.effective_config(subject);
        let normalize = normalize.or(config.normalize).unwrap_or(false);
        let parsed = state.parse(
            subject.context(),
            candidate.schema_type,
            candidate.text,
            &candidate.references,
            ParseOptions {
                normalize,
                strict: false,
                max_elements: Some(self.settings().max_schema_elements),
            },
        )?;
        let canonical = parsed.canonical().to_string();
        let content = plan::register::Content {
            schema_type: candidate.schema_type,
            canonical: &canonical,
            references: &candidate.references,
            metadata: candidate.metadata.as_ref(),
            rule_set: candidate.rule_set.as_ref(),
        };
        // Confluent's lookup: the request as given, then as a registration would complete it
        // (the latest version's metadata and rules when it has none, the config's defaults and
        // overrides), so that a lookup finds what registering the same request gave.
        let mut found =
            plan::register::find_version(&state, subject, &content, include_deleted, false);
        if found.is_none() {
            if let Some(latest) = plan::register::latest_live(&state, subject) {
                let (metadata, rule_set) = plan::register::contract_of(
                    &config,
                    candidate.metadata.as_ref(),
                    candidate.rule_set.as_ref(),
                    Some(latest),
                    None,
                );
                if metadata != candidate.metadata || rule_set != candidate.rule_set {
                    let completed = plan::register::Content {
                        metadata: metadata.as_ref(),
                        rule_set: rule_set.as_ref(),
                        ..content
                    };
                    found = plan::register::find_version(
                        &state,
                        subject,
                        &completed,
                        include_deleted,
                        false,
                    );
                }
            }
        }
        let found = found.map(|(version, entry, record)| {
            schema_object(&VersionView {
                subject: subject.clone(),
                version,
                entry: *entry,
                record: Arc::clone(record),
            })
        });
        found.ok_or_else(|| Error::SchemaNotInSubject(subject.qualified()))
    }

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`.
    pub fn check_compatibility(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        version: Option<VersionSpec>,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let _span = tracing::info_span!("check").entered();
        // A copy (it shares the maps): checking holds no lock that a commit would wait for.
        let state = self.engine.state_copy();
        let config = state.effective_config(subject);
        let level = plan::level(&config, self.settings());
        let count = |verdict: Verdict, problems: &[Incompatibility]| {
            self.metrics().check(
                SchemaType::from_request(request.schema_type.as_deref())
                    .unwrap_or(SchemaType::Avro),
                level,
                verdict,
                CheckSource::Check,
                plan::register::kinds(problems).iter().map(String::as_str),
            )
        };
        let compatible = || CompatibilityCheckResponse {
            is_compatible: true,
            messages: verbose.then(Vec::new),
            findings: verbose.then(Vec::new),
        };
        // The request is read (its format, contract members and text) before anything is
        // compared, so a malformed one is refused whatever it would be compared with.
        let candidate = Candidate::read(request, self.settings(), Purpose::Compare)?;
        // A named version must exist; `latest` of a subject with no versions is compatible.
        let against = match version {
            None => None,
            Some(VersionSpec::Latest) => match state.version(subject, VersionSpec::Latest, false) {
                Ok(found) => Some(found),
                Err(_) => return Ok(compatible()),
            },
            Some(spec) => Some(state.version(subject, spec, false)?),
        };
        let normalize = normalize.or(config.normalize).unwrap_or(false);
        let (parse_key, parsed) = match state.parse_keyed(
            subject.context(),
            candidate.schema_type,
            candidate.text,
            &candidate.references,
            ParseOptions {
                normalize,
                strict: true,
                max_elements: Some(self.settings().max_schema_elements),
            },
        ) {
            Ok(parsed) => parsed,
            Err(error) if verbose => {
                count(Verdict::Invalid, &[]);
                return Ok(CompatibilityCheckResponse {
                    is_compatible: false,
                    messages: Some(vec![error.to_string()]),
                    findings: Some(Vec::new()),
                });
            }
            Err(error) => return Err(error),
        };
        let budget = Budget::new(self.settings().max_check_work);
        let problems = match against {
            Some((version, entry)) => {
                let record = state.stored(subject.context(), entry.id)?;
                // compat::check_version, from the check memo when this pair was checked.
                let mut found = if level == CompatibilityLevel::None {
                    Vec::new()
                } else {
                    let pair = Pair {
                        candidate: parse_key,
                        new: &parsed,
                        context: subject.context(),
                        old: record,
                    };
                    state.check_pair(
                        &pair,
                        (level.checks_backward(), level.checks_forward()),
                        plan::register::policy(&config),
                        &budget,
                    )?
                };
                for problem in &mut found {
                    problem.version = Some(version);
                }
                if budget.is_exhausted() {
                    count(Verdict::Invalid, &[]);
                    return Err(Error::CheckTooLarge {
                        limit: budget.limit(),
                    });
                }
                found
            }
            // What a registration would check.
            None => plan::register::check_history(
                &state,
                subject,
                parse_key,
                &parsed,
                level,
                &config,
                candidate.metadata.as_ref(),
                &budget,
            )?,
        };
        if problems.is_empty() {
            count(Verdict::Compatible, &[]);
            return Ok(compatible());
        }
        count(Verdict::Incompatible, &problems);
        let mut messages: Vec<String> = problems.iter().map(Incompatibility::message).collect();
        messages.push(plan::register::summary(level));
        Ok(CompatibilityCheckResponse {
            is_compatible: false,
            messages: verbose.then_some(messages),
            findings: verbose.then(|| problems.iter().map(finding).collect()),
        })
    }

    /// `POST /subjects/{s}/versions`.
    pub async fn register(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
        normalize: Option<bool>,
    ) -> Result<RegisterSchemaResponse> {
        let operation = if request.id.is_some_and(|id| id >= 0) {
            Operation::Import
        } else {
            Operation::Write
        };
        self.authorize(caller, operation, Resource::Subject(subject))?;
        plan::require_subject(subject)?;
        let candidate = Candidate::read(request, self.settings(), Purpose::Register)?;
        let input = candidate.input(subject, request, normalize);
        let settings = self.settings();
        // Parsed here, in parallel with other requests, so that planning (one write at a time)
        // finds the parse in the cache.
        plan::register::prepare(&self.engine.state_copy(), settings, &input);
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::register::register(state, settings, &input)
            })
            .await;
        self.count_registration(candidate.schema_type, &result);
        let registered = result?;
        Ok(RegisterSchemaResponse {
            id: registered.id.get(),
            version: Some(registered.version.get()),
            guid: Some(registered.guid.to_string()),
            schema_type: registered.schema_type.member(),
            references: api_references(&registered.references),
            metadata: registered.metadata,
            rule_set: registered.rule_set,
            schema: Some(registered.schema),
            ts: registered.ts,
        })
    }

    /// Counts a registration and the check it made.
    fn count_registration(&self, format: SchemaType, result: &Result<plan::register::Registered>) {
        let metrics = self.metrics();
        match result {
            Ok(registered) => {
                let outcome = if registered.ts.is_some() {
                    Outcome::Existing
                } else {
                    Outcome::Created
                };
                metrics.registration(format, outcome);
                if let Some(level) = registered.checked {
                    metrics.check(
                        format,
                        level,
                        Verdict::Compatible,
                        CheckSource::Register,
                        [],
                    );
                }
            }
            Err(error) => {
                metrics.registration(format, Outcome::of_error(error));
                if let Error::Incompatible { level, kinds, .. } = error {
                    metrics.check(
                        format,
                        *level,
                        Verdict::Incompatible,
                        CheckSource::Register,
                        kinds.iter().map(String::as_str),
                    );
                }
            }
        }
    }

    /// `POST /subjects/{s}/versions/{v}/tags`: registers a new version of the schema at `spec`
    /// with tags added and removed and its metadata or rules changed, as Confluent's
    /// `modifySchemaTags` does (a registration like any other, with `confluent:version`).
    pub async fn tag_version(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        request: &api::TagSchemaRequest,
    ) -> Result<RegisterSchemaResponse> {
        self.authorize(caller, Operation::Write, Resource::Subject(subject))?;
        plan::require_subject(subject)?;
        // Decided against the log's head, not a follower's view that may lag it.
        self.engine.catch_up().await?;
        if (request.rules_to_merge.is_some() || request.rules_to_remove.is_some())
            && request.rule_set.is_some()
        {
            return Err(Error::InvalidRuleSet(
                "ruleSet should be omitted if specifying rulesToMerge or rulesToRemove".into(),
            ));
        }
        let read_rules =
            |name: &str, value: Option<&serde_json::Value>| -> Result<Option<RuleSet>> {
                match value {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(value) => {
                        let rules = RuleSet::from_json(name, value).map_err(|e| {
                            Error::BadRequest(format!(
                                "`{}` in the request body: {}",
                                e.path, e.problem
                            ))
                        })?;
                        rules.validate().map_err(Error::InvalidRuleSet)?;
                        Ok(Some(rules))
                    }
                }
            };
        let to_merge = read_rules("rulesToMerge", request.rules_to_merge.as_ref())?;
        let own_rules = read_rules("ruleSet", request.rule_set.as_ref())?;
        let entities =
            |list: &Option<Vec<api::SchemaTags>>| -> Result<Vec<covenant_core::tags::EntityTags>> {
                list.iter()
                    .flatten()
                    .map(|tags| {
                        let entity =
                            covenant_core::tags::EntityType::parse(&tags.schema_entity.entity_type)
                                .ok_or_else(|| {
                                    Error::BadRequest(format!(
                                        "entityType `{}`: expected sr_record or sr_field",
                                        tags.schema_entity.entity_type
                                    ))
                                })?;
                        Ok(covenant_core::tags::EntityTags {
                            path: tags
                                .schema_entity
                                .entity_path
                                .trim_start_matches('.')
                                .to_string(),
                            entity,
                            tags: tags.tags.clone(),
                        })
                    })
                    .collect()
            };
        let (add, remove) = (
            entities(&request.tags_to_add)?,
            entities(&request.tags_to_remove)?,
        );
        let registration = {
            let state = self.engine.state();
            let (_, entry) = state.version(subject, spec, false)?;
            let record = state.stored(subject.context(), entry.id)?;
            let text = if add.is_empty() && remove.is_empty() {
                record.schema().into_owned()
            } else {
                match record.schema_type {
                    SchemaType::Avro => covenant_core::tags::avro(&record.schema(), &add, &remove),
                    SchemaType::Json => covenant_core::tags::json(&record.schema(), &add, &remove),
                    SchemaType::Protobuf => {
                        return Err(Error::InvalidSchema(
                            "tags are added to Protobuf schemas as (confluent.field_meta) and (confluent.message_meta) options in the schema text; register a new version with them".into(),
                        ))
                    }
                }
                .map_err(|e| Error::InvalidSchema(e.to_string()))?
            };
            let mut metadata = match &request.metadata {
                None | Some(serde_json::Value::Null) => record
                    .metadata()
                    .and_then(|m| Metadata::from_json("metadata", m).ok())
                    .unwrap_or_default(),
                Some(value) => Metadata::from_json("metadata", value).map_err(|e| {
                    Error::BadRequest(format!("`{}` in the request body: {}", e.path, e.problem))
                })?,
            };
            metadata.properties.insert(
                Metadata::CONFLUENT_VERSION.to_string(),
                Some(request.new_version.unwrap_or(0).to_string()),
            );
            let rule_set = if to_merge.is_some() || request.rules_to_remove.is_some() {
                let base_spec = match request.new_version {
                    Some(new) if new > 1 => Version::new(new - 1)
                        .map(VersionSpec::Number)
                        .unwrap_or(VersionSpec::Latest),
                    _ => VersionSpec::Latest,
                };
                let base = state
                    .version(subject, base_spec, false)
                    .ok()
                    .and_then(|(_, entry)| state.schema(subject.context(), entry.id))
                    .and_then(|record| record.rule_set())
                    .and_then(|r| RuleSet::from_json("ruleSet", r).ok());
                let mut merged =
                    RuleSet::merge(base.as_ref(), to_merge.as_ref()).unwrap_or_default();
                if let Some(names) = &request.rules_to_remove {
                    merged = merged.without(names);
                }
                Some(merged.to_json())
            } else {
                own_rules.map(|r| r.to_json())
            };
            RegisterSchemaRequest {
                schema: Some(text),
                schema_type: record.schema_type.member(),
                references: Some(record.api_references()),
                metadata: Some(metadata.to_json()),
                rule_set,
                id: None,
                version: request.new_version,
                semver: None,
            }
        };
        self.register(caller, subject, &registration, Some(false))
            .await
    }

    // ----------------------------------------------------------------------------- deletes

    /// `DELETE /subjects/{s}`: the versions deleted.
    pub async fn delete_subject(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        permanent: bool,
    ) -> Result<Vec<i32>> {
        self.authorize(caller, Operation::Delete, Resource::Subject(subject))?;
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::delete::subject(state, subject, permanent)
            })
            .await;
        self.metrics()
            .delete(false, permanent, Outcome::of(&result));
        let versions = result?;
        Ok(versions.into_iter().map(Version::get).collect())
    }

    /// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
    pub async fn delete_version(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32> {
        self.authorize(caller, Operation::Delete, Resource::Subject(subject))?;
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::delete::version(state, subject, spec, permanent)
            })
            .await;
        self.metrics().delete(true, permanent, Outcome::of(&result));
        let version = result?;
        Ok(version.get())
    }

    // ----------------------------------------------------------------------------- config

    /// `GET /config[/{s}]`.
    pub fn get_config(
        &self,
        caller: &Caller,
        scope: &Scope,
        default_to_global: bool,
    ) -> Result<api::Config> {
        self.authorize(caller, Operation::Read, Resource::Scope(scope))?;
        let state = self.engine.state();
        let default_level = self.settings().default_compatibility;
        let own = state.settings(scope).and_then(|s| s.config.clone());
        let config = match (scope, own) {
            (Scope::Global, own) => {
                let mut config = own.unwrap_or_default();
                config.compatibility.get_or_insert(default_level);
                config
            }
            (_, Some(own)) if !default_to_global => own,
            (_, _) if default_to_global => {
                let mut config = state.effective_config(&scope.subject());
                config.compatibility.get_or_insert(default_level);
                config
            }
            (_, _) => return Err(Error::NoSubjectConfig(scope.name())),
        };
        let update = config_update(config);
        Ok(api::Config {
            compatibility_level: update.compatibility,
            settings: update.settings,
        })
    }

    /// `PUT /config[/{s}]`: the config after the change, in request shape.
    pub async fn set_config(
        &self,
        caller: &Caller,
        scope: &Scope,
        request: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest> {
        self.authorize(caller, Operation::Config, Resource::Scope(scope))?;
        let update = stored_config(request)?;
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::config::set(state, scope, &update)
            })
            .await;
        self.metrics()
            .setting_change(false, true, Outcome::of(&result));
        let config = result?;
        Ok(config_update(config))
    }

    /// `DELETE /config[/{s}]`: the config that was removed.
    pub async fn delete_config(&self, caller: &Caller, scope: &Scope) -> Result<api::Config> {
        self.authorize(caller, Operation::Config, Resource::Scope(scope))?;
        let settings = self.settings();
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::config::delete(state, settings, scope)
            })
            .await;
        self.metrics()
            .setting_change(false, false, Outcome::of(&result));
        let previous = result?;
        let update = config_update(previous);
        Ok(api::Config {
            compatibility_level: update.compatibility,
            settings: update.settings,
        })
    }

    // ----------------------------------------------------------------------------- mode

    /// `GET /mode[/{s}]`.
    pub fn get_mode(
        &self,
        caller: &Caller,
        scope: &Scope,
        default_to_global: bool,
    ) -> Result<Mode> {
        self.authorize(caller, Operation::Read, Resource::Scope(scope))?;
        let state = self.engine.state();
        let own = state.settings(scope).and_then(|s| s.mode);
        match (scope, own) {
            (Scope::Global, own) => Ok(own.unwrap_or(Mode::ReadWrite)),
            (_, Some(mode)) => Ok(mode),
            (_, None) if default_to_global => Ok(state.effective_mode(&scope.subject())),
            (_, None) => Err(Error::NoSubjectMode(scope.name())),
        }
    }

    /// `PUT /mode[/{s}]`.
    pub async fn set_mode(
        &self,
        caller: &Caller,
        scope: &Scope,
        mode: &str,
        force: bool,
    ) -> Result<Mode> {
        self.authorize(caller, Operation::Mode, Resource::Scope(scope))?;
        let mode: Mode = mode.parse()?;
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::mode::set(state, scope, mode, force)
            })
            .await;
        self.metrics()
            .setting_change(true, true, Outcome::of(&result));
        result
    }

    /// `DELETE /mode[/{s}]`: the mode that was removed.
    pub async fn delete_mode(&self, caller: &Caller, scope: &Scope) -> Result<Mode> {
        self.authorize(caller, Operation::Mode, Resource::Scope(scope))?;
        let result = self
            .engine
            .commit(&Actor::of(caller), |state| plan::mode::delete(state, scope))
            .await;
        self.metrics()
            .setting_change(true, false, Outcome::of(&result));
        result
    }

    // ----------------------------------------------------------------------------- audit

    /// `GET /covenant/v1/audit`: a page of the audit trail (the admin operation).
    pub async fn audit(
        &self,
        caller: &Caller,
        query: &audit::AuditQuery,
    ) -> Result<api::AuditPage> {
        self.authorize(caller, Operation::Admin, Resource::Registry)?;
        let head = self.head();
        self.audit.page(&self.engine, head, query).await
    }

    // ----------------------------------------------------------------------------- contexts

    /// `GET /contexts`: the default context and every context with subjects.
    pub fn contexts(&self, caller: &Caller, prefix: &str, page: Page) -> Result<Vec<String>> {
        let state = self.engine.state();
        let all = query::contexts(&state)
            .into_iter()
            .filter(|c| c.starts_with(prefix));
        if self.authorizer.is_open()
            || self
                .authorizer
                .permits(caller, Operation::Read, Resource::Registry)
        {
            return Ok(page.of(all));
        }
        // Only the contexts holding a subject the caller may read.
        let readable: std::collections::HashSet<String> =
            query::subjects(&state, &SubjectFilter::everything(), Deleted::default())
                .filter(|s| self.may_read(caller, s))
                .map(|s| s.context().to_string())
                .collect();
        Ok(page.of(all.filter(|c| readable.contains(c))))
    }

    /// `DELETE /contexts/{ctx}`: removes an empty context's config and mode.
    pub async fn delete_context(&self, caller: &Caller, context: &ContextName) -> Result<()> {
        self.authorize(caller, Operation::Admin, Resource::Context(context))?;
        while self
            .engine
            .commit(&Actor::of(caller), |state| {
                plan::context::delete(state, context)
            })
            .await?
        {}
        Ok(())
    }
}

/// A schema as a request gives it, read once at the edge.
struct Candidate<'r> {
    schema_type: SchemaType,
    text: &'r str,
    references: Vec<StoredReference>,
    /// The request's metadata in its normal form.
    metadata: Option<serde_json::Value>,
    /// The request's rule set in its normal form.
    rule_set: Option<serde_json::Value>,
    /// An import's semantic version.
    semver: Option<crate::persist::StoredSemver>,
}

/// A data-contract member of a request in its normal form, or the 400 Confluent answers for
/// one of the wrong shape.
fn contract_member<T>(
    value: Option<&serde_json::Value>,
    read: impl FnOnce(&serde_json::Value) -> std::result::Result<T, covenant_core::contract::ShapeError>,
    write: impl FnOnce(&T) -> serde_json::Value,
) -> Result<Option<serde_json::Value>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => read(value).map(|typed| Some(write(&typed))).map_err(|e| {
            Error::BadRequest(format!("`{}` in the request body: {}", e.path, e.problem))
        }),
    }
}

/// What a candidate schema is read for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A registration: the schema may be left out (a new version of the previous one with a
    /// new contract), and the rule set is validated.
    Register,
    /// A lookup or a compatibility check.
    Compare,
}

impl<'r> Candidate<'r> {
    fn read(
        request: &'r RegisterSchemaRequest,
        settings: &Settings,
        purpose: Purpose,
    ) -> Result<Candidate<'r>> {
        let text = match request.schema.as_deref() {
            Some(text) => text,
            None if purpose == Purpose::Register => "",
            None => return Err(Error::InvalidSchema("the request has no \"schema\"".into())),
        };
        if text.trim().is_empty() && purpose != Purpose::Register {
            return Err(Error::InvalidSchema("Empty schema".into()));
        }
        if text.len() > settings.max_schema_bytes {
            return Err(Error::SchemaTooLarge {
                size: text.len(),
                limit: settings.max_schema_bytes,
            });
        }
        let schema_type = SchemaType::from_request(request.schema_type.as_deref())?;
        let references = request
            .references
            .iter()
            .flatten()
            .map(|r| StoredReference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            })
            .collect();
        let semver = match &request.semver {
            None => None,
            Some(info) => {
                covenant_core::semver::parse_explicit(&info.version)
                    .map_err(Error::UnprocessableEntity)?;
                Some(crate::persist::StoredSemver {
                    version: info.version.clone(),
                    bump: info.bump.clone(),
                    against: info.against,
                    explicit: info.explicit,
                    reasons: info.reasons.clone(),
                })
            }
        };
        Ok(Candidate {
            schema_type,
            text,
            references,
            semver,
            metadata: contract_member(
                request.metadata.as_ref(),
                |v| Metadata::from_json("metadata", v),
                Metadata::to_json,
            )?,
            rule_set: match purpose {
                Purpose::Compare => contract_member(
                    request.rule_set.as_ref(),
                    |v| RuleSet::from_json("ruleSet", v),
                    RuleSet::to_json,
                )?,
                Purpose::Register => contract_member(
                    request.rule_set.as_ref(),
                    |v| RuleSet::from_json("ruleSet", v),
                    |rules| {
                        let mut rules = rules.clone();
                        rules.fill_encryption_defaults();
                        rules.to_json()
                    },
                )?
                .map(|normal| {
                    validated_rule_set(request.rule_set.as_ref().unwrap_or(&normal))?;
                    Ok::<_, Error>(normal)
                })
                .transpose()?,
            },
        })
    }

    fn input<'a>(
        &'a self,
        subject: &'a QualifiedSubject,
        request: &'a RegisterSchemaRequest,
        normalize: Option<bool>,
    ) -> Register<'a> {
        Register {
            subject,
            schema_type: self.schema_type,
            text: self.text,
            references: &self.references,
            metadata: self.metadata.as_ref(),
            rule_set: self.rule_set.as_ref(),
            id: request.id,
            version: request.version,
            normalize,
            guid: Uuid::new_v4(),
            semver: self.semver.as_ref(),
        }
    }
}

/// Confluent's checks of a rule set as the request gave it (422/42210 naming the problem).
fn validated_rule_set(given: &serde_json::Value) -> Result<()> {
    let rules = RuleSet::from_json("ruleSet", given)
        .map_err(|e| Error::BadRequest(format!("`{}`: {}", e.path, e.problem)))?;
    rules.validate().map_err(Error::InvalidRuleSet)
}

/// The stored form of a config update: the level and the policy are validated here.
fn stored_config(request: &ConfigUpdateRequest) -> Result<StoredConfig> {
    let settings = &request.settings;
    Ok(StoredConfig {
        compatibility: request
            .compatibility
            .as_deref()
            .map(str::parse::<CompatibilityLevel>)
            .transpose()?,
        normalize: settings.normalize,
        validate_fields: settings.validate_fields,
        validate_rules: settings.validate_rules,
        compatibility_group: settings.compatibility_group.clone(),
        compatibility_policy: settings
            .compatibility_policy
            .as_deref()
            .map(str::parse)
            .transpose()?,
        default_metadata: contract_member(
            settings.default_metadata.as_ref(),
            |v| Metadata::from_json("defaultMetadata", v),
            Metadata::to_json,
        )?,
        override_metadata: contract_member(
            settings.override_metadata.as_ref(),
            |v| Metadata::from_json("overrideMetadata", v),
            Metadata::to_json,
        )?,
        default_rule_set: contract_member(
            settings.default_rule_set.as_ref(),
            |v| RuleSet::from_json("defaultRuleSet", v),
            RuleSet::to_json,
        )?
        .map(|normal| {
            validated_rule_set(settings.default_rule_set.as_ref().unwrap_or(&normal))
                .map(|()| normal)
        })
        .transpose()?,
        override_rule_set: contract_member(
            settings.override_rule_set.as_ref(),
            |v| RuleSet::from_json("overrideRuleSet", v),
            RuleSet::to_json,
        )?
        .map(|normal| {
            validated_rule_set(settings.override_rule_set.as_ref().unwrap_or(&normal))
                .map(|()| normal)
        })
        .transpose()?,
        alias: settings.alias.clone(),
    })
}

/// A stored config in the REST shape of `PUT /config`.
fn config_update(config: StoredConfig) -> ConfigUpdateRequest {
    ConfigUpdateRequest {
        compatibility: config.compatibility.map(|l| l.to_string()),
        settings: api::ConfigSettings {
            normalize: config.normalize,
            validate_fields: config.validate_fields,
            validate_rules: config.validate_rules,
            compatibility_group: config.compatibility_group,
            compatibility_policy: config.compatibility_policy.map(|p| p.to_string()),
            default_metadata: config.default_metadata,
            override_metadata: config.override_metadata,
            default_rule_set: config.default_rule_set,
            override_rule_set: config.override_rule_set,
            alias: config.alias,
        },
    }
}

/// Stored references in the REST shape.
fn api_references(references: &[StoredReference]) -> Vec<SchemaReference> {
    references
        .iter()
        .map(|r| SchemaReference {
            name: r.name.clone(),
            subject: r.subject.clone(),
            version: r.version,
        })
        .collect()
}

/// The Schema object of one version.
fn schema_object(view: &VersionView) -> api::Schema {
    let record = &view.record;
    api::Schema {
        subject: view.subject.qualified(),
        version: view.version.get(),
        id: record.id.get(),
        guid: Some(record.guid.to_string()),
        schema_type: record.schema_type.member(),
        references: record.api_references(),
        metadata: record.metadata().cloned(),
        rule_set: record.rule_set().cloned(),
        schema: record.schema().into_owned(),
        ts: Some(view.entry.ts),
        deleted: view.entry.deleted.then_some(true),
    }
}

/// A finding in the REST shape of the verbose compatibility response.
fn finding(problem: &Incompatibility) -> CompatibilityFinding {
    CompatibilityFinding {
        kind: problem.kind.clone(),
        path: problem.path.clone(),
        description: problem.description.clone(),
        additional_info: (!problem.additional_info.is_empty())
            .then(|| problem.additional_info.clone()),
        old_fragment: problem.old_fragment.clone(),
        new_fragment: problem.new_fragment.clone(),
        version: problem.version.map(Version::get),
        hint: problem.hint.clone(),
    }
}

/// What a resource is called in a permission error (`Subject: orders-value`, as Confluent's
/// `User is denied operation Write on Subject: orders-value`).
fn describe(resource: Resource<'_>) -> String {
    match resource {
        Resource::Subject(subject) | Resource::Scope(Scope::Subject(subject)) => {
            format!("Subject: {}", subject.qualified())
        }
        Resource::Scope(Scope::Global) => "the global config and mode".to_string(),
        Resource::Scope(Scope::Context(context)) | Resource::Context(context) => {
            format!("Context: {context}")
        }
        Resource::Registry => "the registry".to_string(),
        Resource::Kek(name) => format!("Kek: {name}"),
    }
}

fn json_bytes<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("a response body always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryLog;

    /// A log with a record this build cannot read does not open: the error names the offset
    /// and the problem, and nothing is guessed.
    #[tokio::test]
    async fn replay_stops_at_an_unreadable_record() {
        let good = br#"{"v":1,"ts":1,"event":{"type":"mode_set","scope":{"kind":"global"},"mode":"READONLY"}}"#;
        let cases: [(&[u8], &str); 4] = [
            (br#"{"v":1,"ts":2,"event":{"type":"mode_set","scope":{"kind":"global"},"mode":"WRITEONLY"}}"#, "WRITEONLY"),
            (br#"{"v":1,"ts":2,"event":{"type":"schema_registered","subject":"s","version":1,"id":1,"guid":"0f8a4b4e-6f0e-4c43-9d3c-8a1d6f3b2a10","schema_type":"XML","schema":"x"}}"#, "XML"),
            (br#"{"v":1,"ts":2,"event":{"type":"subject_deleted","subject":"bad\u0001","permanent":false}}"#, "control characters"),
            (br#"{"v":7,"ts":2,"event":{"type":"subject_deleted","subject":"s","permanent":false}}"#, "format version 7"),
        ];
        for (bad, needle) in cases {
            let log = Arc::new(MemoryLog::with_records(vec![good.to_vec(), bad.to_vec()]));
            let error = match Registry::open(log, Settings::default()).await {
                Ok(_) => panic!("a log with {needle} opened"),
                Err(error) => error.to_string(),
            };
            assert!(error.contains("offset 1"), "{error}");
            assert!(error.contains(needle), "{error}");
        }
        let log = Arc::new(MemoryLog::with_records(vec![good.to_vec()]));
        let registry = Registry::open(log, Settings::default())
            .await
            .expect("opens");
        let mode = registry
            .get_mode(&Caller::default(), &Scope::Global, false)
            .expect("mode");
        assert_eq!(mode, Mode::ReadOnly);
    }
}
