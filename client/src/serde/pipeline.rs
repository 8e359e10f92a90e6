//! The one serializer pipeline every format runs through.
//!
//! Writing: resolve the writer schema for the topic (subject name strategy, then auto-register,
//! lookup, use-latest or a fixed id) → prepare what encoding with it needs and compile its
//! rules (once per writer) → run the write rules → validate the value → run the write hooks →
//! encode → run the payload rules → frame. Reading: read the frame → fetch the writer schema
//! (once per id or GUID) → prepare the decoder → run the payload rules → decode → migrate (when
//! the reader follows a version) → run the read rules and the read hooks. A format supplies
//! only its own steps (`Format`); caching, time to live and the order of steps live here, once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use covenant_core::api::{RegisterSchemaRequest, SchemaString};
use covenant_core::wire::{self, SchemaRef};

use super::{writer_of, SerializerConfig, WriterResolver};
use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::rest::Client;
use crate::rules::{self, CompiledRules, Mode, RuleConfig, RuleValue, Stop};

/// A boxed future, for the async steps of a format.
pub(crate) type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What one event is written with: the schema id, the registered schema (with its metadata
/// and rule set) and what the format prepared for it.
pub struct Target<P> {
    /// The writer schema's id.
    pub id: i32,
    /// The subject the schema is registered under.
    pub subject: Arc<str>,
    /// The registered writer schema, metadata and rule set included.
    pub schema: Arc<SchemaString>,
    /// What the format prepared for encoding with it.
    pub prepared: Arc<P>,
}

impl<P> Clone for Target<P> {
    fn clone(&self) -> Self {
        Target {
            id: self.id,
            subject: Arc::clone(&self.subject),
            schema: Arc::clone(&self.schema),
            prepared: Arc::clone(&self.prepared),
        }
    }
}

/// A schema's rules, compiled, with what walks of its values need.
pub(crate) struct Bound<V: RuleValue> {
    pub compiled: Arc<CompiledRules>,
    pub schema: Arc<V::Schema>,
    /// The subject the schema is registered under (the DEK subject of encryption rules).
    pub subject: Option<String>,
}

/// Fetches the keys a run of rules asked for, and runs them again, until they pass, fail, or
/// have asked for more keys than a rule set can need.
async fn with_keys<T>(
    client: &Client,
    config: &RuleConfig,
    keys: &rules::encrypt::KeyRing,
    compiled: &CompiledRules,
    mode: Mode,
    mut run: impl FnMut() -> std::result::Result<T, Stop>,
) -> Result<T> {
    for _ in 0..16 {
        match run() {
            Ok(done) => return Ok(done),
            Err(Stop::NeedKey(request)) => {
                let Some((rule, encryption)) = compiled.encryption_rule(&request) else {
                    return Err(Stop::NeedKey(request).into());
                };
                keys.fetch(client, config, encryption, &request, mode)
                    .await
                    .map_err(|reason| {
                        Error::Rule(Box::new(rules::encrypt::key_error(rule, mode, reason)))
                    })?;
            }
            Err(stop) => return Err(stop.into()),
        }
    }
    Err(Error::Config(
        "the rules asked for more than 16 keys for one event".into(),
    ))
}

/// The local schema a serializer writes for one kind of value: a key telling kinds apart
/// (empty for formats with one local schema; the message name for Protobuf), the type's full
/// name for the record subject strategies, and the registration request.
pub(crate) struct Local {
    pub key: String,
    pub record_name: Option<String>,
    pub request: RegisterSchemaRequest,
}

/// Where an event is in the pipeline, for hooks.
pub struct HookContext<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The subject of the writer schema (`None` when reading: only the id is known).
    pub subject: Option<&'a str>,
    /// The writer schema, with its metadata and rule set.
    pub schema: &'a SchemaString,
    /// Whether the event is a record key.
    pub is_key: bool,
}

/// A step every event passes: on write after validation and before encoding, on read after
/// decoding. Data-contract rules (conditions, transforms, encryption) run here.
pub trait Hook<V>: Send + Sync {
    /// Called for each event written; may change the value or refuse it.
    fn on_write(&self, context: &HookContext<'_>, value: &mut V) -> Result<()>;
    /// Called for each event read; may change the value or refuse it.
    fn on_read(&self, context: &HookContext<'_>, value: &mut V) -> Result<()>;
}

/// A format's own steps.
pub(crate) trait Format: Send + Sync + 'static {
    /// The values it writes.
    type Value: RuleValue;
    /// What encoding with one writer schema (and one local kind) needs, prepared once.
    type Prepared: Send + Sync + 'static;
    /// Whether [`Format::encode`] refuses a value that does not fit, so that a separate
    /// validation pass is needed only when a hook runs between the two.
    const ENCODE_VALIDATES: bool;
    /// Prepares encoding with a registered writer schema for the local kind `local_key`.
    fn prepare<'a>(
        &'a self,
        client: &'a Client,
        id: i32,
        schema: &'a SchemaString,
        local_key: &'a str,
    ) -> Step<'a, Self::Prepared>;
    /// Checks that `value` fits the writer schema.
    fn validate(&self, prepared: &Self::Prepared, id: i32, value: &Self::Value) -> Result<()>;
    /// What rules need to walk values of the writer schema.
    fn rule_schema(
        &self,
        prepared: &Self::Prepared,
        schema: &SchemaString,
    ) -> Result<Arc<<Self::Value as RuleValue>::Schema>>;
    /// Appends what comes between the header and the payload (Protobuf's message indexes),
    /// outside what payload rules (ENCRYPT_PAYLOAD) see.
    fn frame(&self, _prepared: &Self::Prepared, _out: &mut Vec<u8>) {}
    /// Appends the encoding of `value` (already validated) to `out`.
    fn encode(
        &self,
        prepared: &Self::Prepared,
        id: i32,
        value: &Self::Value,
        out: &mut Vec<u8>,
    ) -> Result<()>;
}

/// The write half of the pipeline for one format.
pub(crate) struct Writing<F: Format> {
    pub format: F,
    resolver: WriterResolver,
    /// (writer id, local key) → prepared.
    prepared: BoundedCache<(i32, String), Arc<F::Prepared>>,
    /// (topic, local key) → target: the one lookup a steady-state event makes. Under
    /// `use_latest_version` entries expire with the latest cache, so a new version is picked up.
    by_topic: BoundedCache<(String, String), Target<F::Prepared>>,
    hooks: Vec<Arc<dyn Hook<F::Value>>>,
    /// The size of the last event, to allocate its successor in one go.
    last_size: AtomicUsize,
    /// Writer id → its rules (`None`: none run here).
    rules: BoundedCache<i32, Option<Arc<Bound<F::Value>>>>,
    keys: rules::encrypt::KeyRing,
}

impl<F: Format> Writing<F> {
    pub fn new(format: F, client: Client, config: SerializerConfig) -> Writing<F> {
        let ttl = config
            .follows_registry()
            .then_some(config.latest_cache_ttl)
            .flatten();
        Writing {
            format,
            by_topic: BoundedCache::new(1000, ttl),
            resolver: WriterResolver::new(client, config),
            prepared: BoundedCache::new(256, None),
            hooks: Vec::new(),
            last_size: AtomicUsize::new(64),
            rules: BoundedCache::new(256, None),
            keys: rules::encrypt::KeyRing::default(),
        }
    }

    /// The rules of a writer schema, compiled once per id.
    fn rules_of(&self, target: &Target<F::Prepared>) -> Result<Option<Arc<Bound<F::Value>>>> {
        if let Some(found) = self.rules.get(&target.id) {
            return Ok(found);
        }
        let config = &self.config().rules;
        let bound = match CompiledRules::compile(
            config,
            target.schema.rule_set.as_ref(),
            target.schema.metadata.as_ref(),
            rules::Side::Writer,
        )? {
            None => None,
            Some(compiled) => Some(Arc::new(Bound {
                compiled,
                schema: self.format.rule_schema(&target.prepared, &target.schema)?,
                subject: Some(target.subject.to_string()),
            })),
        };
        self.rules.insert(target.id, bound.clone());
        Ok(bound)
    }

    pub fn config(&self) -> &SerializerConfig {
        self.resolver.config()
    }

    pub fn client(&self) -> &Client {
        self.resolver.client()
    }

    pub fn add_hook(&mut self, hook: Arc<dyn Hook<F::Value>>) {
        self.hooks.push(hook);
    }

    /// The target for `topic`: from the per-topic cache, or resolved (writer, then prepared).
    /// `local` builds the local schema; it runs only on a cache miss.
    pub async fn target<L>(
        &self,
        topic: &str,
        local_key: &str,
        local: L,
    ) -> Result<Target<F::Prepared>>
    where
        L: Future<Output = Result<Local>>,
    {
        let key = (topic.to_string(), local_key.to_string());
        if let Some(found) = self.by_topic.get(&key) {
            return Ok(found);
        }
        let local = local.await?;
        let config = self.config();
        let subject = config.subject_name_strategy.subject(
            topic,
            config.is_key,
            local.record_name.as_deref(),
        )?;
        let writer = self.resolver.writer(&subject, &local.request).await?;
        let prepared_key = (writer.id, local.key.clone());
        let prepared = match self.prepared.get(&prepared_key) {
            Some(prepared) => prepared,
            None => {
                let prepared = Arc::new(
                    self.format
                        .prepare(self.client(), writer.id, &writer.schema, &local.key)
                        .await?,
                );
                self.prepared.insert(prepared_key, Arc::clone(&prepared));
                prepared
            }
        };
        let target = Target {
            id: writer.id,
            subject: subject.into(),
            schema: writer.schema,
            prepared,
        };
        // A rule that cannot compile fails here, before any event is written with it.
        self.rules_of(&target)?;
        self.by_topic.insert(key, target.clone());
        Ok(target)
    }

    /// Runs the write rules, validates, runs the hooks, encodes and frames one event for
    /// `target`, then runs the payload rules on the encoding.
    pub async fn write(
        &self,
        topic: &str,
        target: &Target<F::Prepared>,
        value: &F::Value,
    ) -> Result<Vec<u8>> {
        let Some(bound) = self.rules_of(target)? else {
            return self.write_plain(topic, target, value);
        };
        let compiled = &bound.compiled;
        let config = &self.config().rules;
        let event = rules::Event {
            topic,
            subject: Some(&target.subject),
            is_key: self.config().is_key,
            payload: None,
        };
        if compiled.has(&compiled.domain, Mode::Write)
            && rules::only_conditions(&compiled.domain, Mode::Write)
            && !compiled.has(&compiled.encoding, Mode::Write)
        {
            // Conditions only: judged on the caller's value, no copy.
            rules::check_value(compiled, &compiled.domain, Mode::Write, value, &event)?;
            return self.write_plain(topic, target, value);
        }
        let value = if compiled.has(&compiled.domain, Mode::Write) {
            with_keys(
                self.client(),
                config,
                &self.keys,
                compiled,
                Mode::Write,
                || {
                    let mut changed = value.clone();
                    rules::run_value(
                        compiled,
                        &compiled.domain,
                        Mode::Write,
                        &mut changed,
                        &bound.schema,
                        &self.keys,
                        &event,
                    )?;
                    Ok(changed)
                },
            )
            .await?
        } else {
            value.clone()
        };
        if !compiled.has(&compiled.encoding, Mode::Write) {
            return self.write_plain(topic, target, &value);
        }
        self.format.validate(&target.prepared, target.id, &value)?;
        let value = self.run_hooks(topic, target, value)?;
        let mut payload = Vec::with_capacity(self.last_size.load(Ordering::Relaxed));
        self.format
            .encode(&target.prepared, target.id, &value, &mut payload)?;
        let payload = with_keys(
            self.client(),
            config,
            &self.keys,
            compiled,
            Mode::Write,
            || {
                let mut sealed = payload.clone();
                rules::run_payload(compiled, Mode::Write, &mut sealed, &self.keys, &event)?;
                Ok(sealed)
            },
        )
        .await?;
        let mut out = Vec::with_capacity(5 + 8 + payload.len());
        wire::write_header(target.id, &mut out);
        self.format.frame(&target.prepared, &mut out);
        out.extend_from_slice(&payload);
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    fn run_hooks(
        &self,
        topic: &str,
        target: &Target<F::Prepared>,
        mut value: F::Value,
    ) -> Result<F::Value> {
        let context = HookContext {
            topic,
            subject: Some(&target.subject),
            schema: &target.schema,
            is_key: self.config().is_key,
        };
        for hook in &self.hooks {
            hook.on_write(&context, &mut value)?;
        }
        Ok(value)
    }

    /// Validates, runs the hooks and encodes one event for `target`.
    fn write_plain(
        &self,
        topic: &str,
        target: &Target<F::Prepared>,
        value: &F::Value,
    ) -> Result<Vec<u8>> {
        if !F::ENCODE_VALIDATES || !self.hooks.is_empty() {
            self.format.validate(&target.prepared, target.id, value)?;
        }
        let mut out = Vec::with_capacity(5 + self.last_size.load(Ordering::Relaxed));
        wire::write_header(target.id, &mut out);
        self.format.frame(&target.prepared, &mut out);
        if self.hooks.is_empty() {
            self.format
                .encode(&target.prepared, target.id, value, &mut out)?;
        } else {
            let value = self.run_hooks(topic, target, value.clone())?;
            self.format
                .encode(&target.prepared, target.id, &value, &mut out)?;
        }
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }
}

/// The version a reader migrates events to: the subject's latest, or its latest whose
/// metadata holds every given pair (Confluent's `use.latest.with.metadata`, e.g.
/// `application.major.version=2`).
#[derive(Clone, Debug, Default)]
pub struct MigrationTarget {
    /// The subject (default: the first subject the writer schema is registered under).
    pub subject: Option<String>,
    /// Metadata pairs the target version must hold (`None`: the latest version).
    pub metadata: Option<Vec<(String, String)>>,
}

/// The migrations from a writer version to the target.
pub(crate) struct Migration {
    pub mode: Mode,
    /// The compiled rules of each later version, in the order they run.
    pub steps: Vec<Arc<CompiledRules>>,
    pub subject: String,
    /// The version events are read as.
    pub target: Arc<SchemaString>,
    pub target_id: i32,
}

/// The read half of the pipeline: the writer schema of each framed payload, prepared once per
/// id or GUID, and the read hooks.
pub(crate) struct Reading<P, V: RuleValue> {
    client: Client,
    prepared: BoundedCache<SchemaRef, (Arc<SchemaString>, Arc<P>)>,
    hooks: Vec<Arc<dyn Hook<V>>>,
    rule_config: RuleConfig,
    /// Writer → its rules (`None`: none run here).
    rules: BoundedCache<SchemaRef, Option<Arc<Bound<V>>>>,
    keys: rules::encrypt::KeyRing,
    /// The version events are migrated to, when the reader follows one.
    migrate_to: Option<MigrationTarget>,
    /// Writer → the migrations to the target (for the latest cache's time to live).
    plans: BoundedCache<SchemaRef, Option<Arc<Migration>>>,
    /// Events are read only when their writer is a version of this subject whose semantic
    /// version matches this requirement.
    required: Option<(String, covenant_core::semver::VersionReq)>,
}

impl<P: Send + Sync, V: RuleValue> Reading<P, V> {
    pub fn new(client: Client) -> Reading<P, V> {
        Reading {
            client,
            prepared: BoundedCache::new(64, None),
            hooks: Vec::new(),
            rule_config: RuleConfig::default(),
            rules: BoundedCache::new(64, None),
            keys: rules::encrypt::KeyRing::default(),
            migrate_to: None,
            plans: BoundedCache::new(64, Some(std::time::Duration::from_secs(60))),
            required: None,
        }
    }

    /// Reads every event as `target` (a version of the writer's subject), applying the
    /// migration rules of each version between the writer's and the target's.
    pub fn set_migration(&mut self, target: MigrationTarget) {
        self.migrate_to = Some(target);
    }

    /// The migrations an event of `schema_ref` goes through, when the reader follows a target
    /// version and the writer is another version of the subject.
    pub async fn migration(
        &self,
        schema_ref: SchemaRef,
        writer: &SchemaString,
    ) -> Result<Option<Arc<Migration>>> {
        let Some(target) = &self.migrate_to else {
            return Ok(None);
        };
        if let Some(found) = self.plans.get(&schema_ref) {
            return Ok(found);
        }
        let id = match schema_ref {
            SchemaRef::Id(id) => id,
            SchemaRef::Guid(_) => writer.max_id.unwrap_or(-1),
        };
        let mut versions = self.client.id_versions(id).await?;
        versions.sort_by(|a, b| a.subject.cmp(&b.subject));
        let found = match &target.subject {
            Some(subject) => versions.iter().find(|v| &v.subject == subject),
            None => versions.first(),
        };
        let Some(found) = found else {
            return Err(Error::Schema(format!(
                "schema {schema_ref} is not a version of {}: it cannot be migrated",
                target.subject.as_deref().unwrap_or("any subject")
            )));
        };
        let subject = found.subject.clone();
        let from = found.version;
        let latest = match &target.metadata {
            None => {
                self.client
                    .version(&subject, covenant_core::ids::VersionSpec::Latest, false)
                    .await?
            }
            Some(pairs) => {
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                Arc::new(self.client.latest_with_metadata(&subject, &pairs).await?)
            }
        };
        let to = latest.version;
        let plan = if from == to {
            None
        } else {
            let (low, high) = (from.min(to), from.max(to));
            let mode = if from < to {
                Mode::Upgrade
            } else {
                Mode::Downgrade
            };
            // Each step runs the migration rules of the later version of the pair.
            let mut steps = Vec::new();
            for version in low + 1..=high {
                let spec = covenant_core::ids::VersionSpec::of_reference(version)
                    .map_err(|_| Error::Schema(format!("version {version} of {subject}")))?;
                let later = self.client.version(&subject, spec, true).await?;
                if let Some(compiled) = CompiledRules::compile(
                    &self.rule_config,
                    later.rule_set.as_ref(),
                    later.metadata.as_ref(),
                    rules::Side::Reader,
                )? {
                    if compiled.has(&compiled.migration, mode) {
                        steps.push(compiled);
                    }
                }
            }
            if mode == Mode::Downgrade {
                steps.reverse();
            }
            Some(Arc::new(Migration {
                mode,
                steps,
                subject,
                target: Arc::new(SchemaString::from(latest.as_ref())),
                target_id: latest.id,
            }))
        };
        self.plans.insert(schema_ref, plan.clone());
        Ok(plan)
    }

    /// Runs the migrations on an event, as JSON.
    pub async fn migrate(
        &self,
        plan: &Migration,
        value: serde_json::Value,
        bytes: &[u8],
    ) -> Result<serde_json::Value> {
        let mut value = value;
        let walk = rules::values::JsonRules::new(serde_json::Value::Bool(true));
        for compiled in &plan.steps {
            let event = rules::Event {
                topic: "",
                subject: Some(&plan.subject),
                is_key: false,
                payload: Some(bytes),
            };
            value = with_keys(
                &self.client,
                &self.rule_config,
                &self.keys,
                compiled,
                plan.mode,
                || {
                    let mut changed = value.clone();
                    rules::run_value(
                        compiled,
                        &compiled.migration,
                        plan.mode,
                        &mut changed,
                        &walk,
                        &self.keys,
                        &event,
                    )?;
                    Ok(changed)
                },
            )
            .await?;
        }
        Ok(value)
    }

    /// How rules run on read.
    pub fn set_rules(&mut self, config: RuleConfig) {
        self.rule_config = config;
    }

    /// The rules of a writer schema, compiled once; `walk` builds what walks of the decoded
    /// values need.
    async fn rules_of(
        &self,
        schema_ref: SchemaRef,
        schema: &SchemaString,
        walk: impl FnOnce() -> Result<Arc<V::Schema>>,
    ) -> Result<Option<Arc<Bound<V>>>> {
        if let Some(found) = self.rules.get(&schema_ref) {
            return Ok(found);
        }
        let bound = match CompiledRules::compile(
            &self.rule_config,
            schema.rule_set.as_ref(),
            schema.metadata.as_ref(),
            rules::Side::Reader,
        )? {
            None => None,
            Some(compiled) => {
                // The payload names only the schema: its subject (which DEKs are kept under)
                // is the first that registered it.
                let id = match schema_ref {
                    SchemaRef::Id(id) => Some(id),
                    SchemaRef::Guid(_) => schema.max_id,
                };
                let subject = match id {
                    Some(id) => {
                        let mut versions = self.client.id_versions(id).await?;
                        versions.sort_by(|a, b| a.subject.cmp(&b.subject));
                        versions.into_iter().next().map(|v| v.subject)
                    }
                    None => None,
                };
                Some(Arc::new(Bound {
                    compiled,
                    schema: walk()?,
                    subject,
                }))
            }
        };
        self.rules.insert(schema_ref, bound.clone());
        Ok(bound)
    }

    /// The payload after the payload rules (ENCRYPT_PAYLOAD) ran on it, if the writer has any.
    pub async fn open_payload<'b>(
        &self,
        schema_ref: SchemaRef,
        schema: &SchemaString,
        payload: &'b [u8],
        bytes: &[u8],
        walk: impl FnOnce() -> Result<Arc<V::Schema>>,
    ) -> Result<std::borrow::Cow<'b, [u8]>> {
        let Some(bound) = self.rules_of(schema_ref, schema, walk).await? else {
            return Ok(std::borrow::Cow::Borrowed(payload));
        };
        let compiled = &bound.compiled;
        if !compiled.has(&compiled.encoding, Mode::Read) {
            return Ok(std::borrow::Cow::Borrowed(payload));
        }
        let event = rules::Event {
            topic: "",
            subject: bound.subject.as_deref(),
            is_key: false,
            payload: Some(bytes),
        };
        let opened = with_keys(
            &self.client,
            &self.rule_config,
            &self.keys,
            compiled,
            Mode::Read,
            || {
                let mut opened = payload.to_vec();
                rules::run_payload(compiled, Mode::Read, &mut opened, &self.keys, &event)?;
                Ok(opened)
            },
        )
        .await?;
        Ok(std::borrow::Cow::Owned(opened))
    }

    /// Refuses events whose writer is not a version of `subject` with a semantic version
    /// matching `requirement` (checked once per writer schema).
    pub fn require_version(&mut self, subject: &str, requirement: &str) -> Result<()> {
        let parsed = covenant_core::semver::VersionReq::parse(requirement).map_err(|e| {
            crate::Error::Config(format!("`{requirement}` is not a version requirement: {e}"))
        })?;
        self.required = Some((subject.to_string(), parsed));
        Ok(())
    }

    async fn check_required(&self, schema_ref: SchemaRef, schema: &SchemaString) -> Result<()> {
        let Some((subject, requirement)) = &self.required else {
            return Ok(());
        };
        let id = match schema_ref {
            SchemaRef::Id(id) => id,
            SchemaRef::Guid(_) => schema.max_id.unwrap_or(-1),
        };
        let versions: Vec<i32> = self
            .client
            .id_versions(id)
            .await?
            .into_iter()
            .filter(|v| &v.subject == subject)
            .map(|v| v.version)
            .collect();
        let semvers = self.client.semvers(subject, true).await?;
        let matching = semvers.iter().any(|v| {
            versions.contains(&v.version)
                && v.semver.as_ref().is_some_and(|s| {
                    covenant_core::semver::SemVer::parse(&s.version)
                        .is_ok_and(|version| requirement.matches(&version))
                })
        });
        if matching {
            Ok(())
        } else {
            let found: Vec<String> = semvers
                .iter()
                .filter(|v| versions.contains(&v.version))
                .map(|v| {
                    v.semver.as_ref().map_or(
                        format!("version {} (no semantic version)", v.version),
                        |s| s.version.clone(),
                    )
                })
                .collect();
            Err(crate::Error::Schema(format!(
                "the event's writer schema {schema_ref} is {} of {subject}, outside the required {requirement}",
                if found.is_empty() {
                    "no version".to_string()
                } else {
                    found.join(", ")
                }
            )))
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn add_hook(&mut self, hook: Arc<dyn Hook<V>>) {
        self.hooks.push(hook);
    }

    /// The writer schema a framed payload names and what was prepared for it (built once by
    /// `build`), with the payload after the header.
    pub async fn writer<'b, B, Fut>(
        &self,
        bytes: &'b [u8],
        build: B,
    ) -> Result<(SchemaRef, Arc<SchemaString>, Arc<P>, &'b [u8])>
    where
        B: FnOnce(Arc<SchemaString>) -> Fut,
        Fut: Future<Output = Result<P>>,
    {
        let (schema_ref, payload) = wire::read_header(bytes)?;
        if let Some((schema, prepared)) = self.prepared.get(&schema_ref) {
            return Ok((schema_ref, schema, prepared, payload));
        }
        let schema = writer_of(&self.client, schema_ref).await?;
        self.check_required(schema_ref, &schema).await?;
        let prepared = Arc::new(build(Arc::clone(&schema)).await?);
        self.prepared
            .insert(schema_ref, (Arc::clone(&schema), Arc::clone(&prepared)));
        Ok((schema_ref, schema, prepared, payload))
    }

    /// Runs the read rules and the read hooks on a decoded value.
    pub async fn finish(
        &self,
        schema_ref: SchemaRef,
        schema: &SchemaString,
        mut value: V,
        bytes: &[u8],
        walk: impl FnOnce() -> Result<Arc<V::Schema>>,
    ) -> Result<V> {
        if let Some(bound) = self.rules_of(schema_ref, schema, walk).await? {
            let compiled = &bound.compiled;
            if compiled.has(&compiled.domain, Mode::Read) {
                let event = rules::Event {
                    topic: "",
                    subject: bound.subject.as_deref(),
                    is_key: false,
                    payload: Some(bytes),
                };
                value = with_keys(
                    &self.client,
                    &self.rule_config,
                    &self.keys,
                    compiled,
                    Mode::Read,
                    || {
                        let mut changed = value.clone();
                        rules::run_value(
                            compiled,
                            &compiled.domain,
                            Mode::Read,
                            &mut changed,
                            &bound.schema,
                            &self.keys,
                            &event,
                        )?;
                        Ok(changed)
                    },
                )
                .await?;
            }
        }
        let context = HookContext {
            topic: "",
            subject: None,
            schema,
            is_key: false,
        };
        for hook in &self.hooks {
            hook.on_read(&context, &mut value)?;
        }
        Ok(value)
    }
}
