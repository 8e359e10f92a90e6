//! `POST /subjects/{s}/versions`: may this schema become the subject's next version, under
//! which id, and is it the one already there?

use std::borrow::Cow;

use std::sync::Arc;

use covenant_core::compat::{self, Budget, Group, Incompatibility};
use covenant_core::contract::{Metadata, RuleSet};
use covenant_core::ids::{CompatibilityLevel, Mode, QualifiedSubject, SchemaId, Version};
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, SchemaType};
use serde_json::Value;
use uuid::Uuid;

use super::{level, Decision};
use crate::error::{Error, Result};
use crate::persist::{Event, SchemaRegistered, StoredConfig, StoredReference};
use crate::settings::Settings;
use crate::state::{property, ContentKey, ParseKey, SchemaRecord, State, VersionState};

/// A registration request, read from the REST body at the edge.
#[derive(Clone, Debug)]
pub struct Register<'a> {
    /// The subject.
    pub subject: &'a QualifiedSubject,
    /// The format.
    pub schema_type: SchemaType,
    /// The schema text as given; empty for a new version of the previous schema with a new
    /// contract.
    pub text: &'a str,
    /// References as given.
    pub references: &'a [StoredReference],
    /// Metadata as given.
    pub metadata: Option<&'a Value>,
    /// Rule set as given.
    pub rule_set: Option<&'a Value>,
    /// An explicit id (IMPORT mode), as given.
    pub id: Option<i64>,
    /// An explicit version (IMPORT mode), as given.
    pub version: Option<i64>,
    /// The `normalize` query parameter.
    pub normalize: Option<bool>,
    /// The GUID a new schema gets.
    pub guid: Uuid,
    /// In IMPORT mode, the semantic version the exported version had.
    pub semver: Option<&'a crate::persist::StoredSemver>,
}

/// What a registration answers: the version (new or existing) and its schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    /// The schema id.
    pub id: SchemaId,
    /// The version in the subject.
    pub version: Version,
    /// The schema's GUID.
    pub guid: Uuid,
    /// The format.
    pub schema_type: SchemaType,
    /// The canonical text.
    pub schema: String,
    /// References.
    pub references: Vec<StoredReference>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Rule set.
    pub rule_set: Option<Value>,
    /// Registration time of an existing version (a new one is stamped when appended).
    pub ts: Option<i64>,
    /// The level a new version was checked at (`None`: an existing version or an import).
    pub checked: Option<CompatibilityLevel>,
}

impl Registered {
    fn existing(record: &SchemaRecord, version: Version, ts: i64) -> Registered {
        Registered {
            id: record.id,
            version,
            guid: record.guid,
            schema_type: record.schema_type,
            schema: record.schema().into_owned(),
            references: record.references().to_vec(),
            metadata: record.metadata().cloned(),
            rule_set: record.rule_set().cloned(),
            ts: Some(ts),
            checked: None,
        }
    }
}

/// A schema version as a candidate is compared with stored ones: its content and contract.
#[derive(Clone, Copy, Debug)]
pub struct Content<'a> {
    /// The format.
    pub schema_type: SchemaType,
    /// The canonical text.
    pub canonical: &'a str,
    /// References, pinned to the versions they resolve to.
    pub references: &'a [StoredReference],
    /// Metadata in its normal form.
    pub metadata: Option<&'a Value>,
    /// Rule set in its normal form.
    pub rule_set: Option<&'a Value>,
}

impl Content<'_> {
    /// Whether a stored schema has exactly this content (Confluent's MD5 identity: text,
    /// references, metadata and rules; an empty metadata object is not an absent one).
    pub fn is(&self, record: &SchemaRecord) -> bool {
        record.schema_type == self.schema_type
            && record.text().is(self.canonical)
            && record.references() == self.references
            && record.metadata() == self.metadata
            && record.rule_set() == self.rule_set
    }

    /// Confluent's `canLookup`: the same schema as `record` (stored as `version`), where the
    /// metadata may differ by the `confluent:version` property the registry writes.
    pub fn can_look_up(&self, record: &SchemaRecord, version: Version) -> bool {
        if record.schema_type != self.schema_type
            || !record.text().is(self.canonical)
            || record.references() != self.references
            || record.rule_set() != self.rule_set
        {
            return false;
        }
        let mine = metadata(self.metadata);
        let theirs = metadata(record.metadata());
        let version_of = |m: &Option<Metadata>| {
            m.as_ref()
                .and_then(|m| m.property(Metadata::CONFLUENT_VERSION))
                .map(str::to_string)
        };
        match (version_of(&mine), version_of(&theirs)) {
            (None, Some(_)) => mine.unwrap_or_default() == without_version(theirs),
            (Some(given), None) => {
                given == version.to_string() && without_version(mine) == theirs.unwrap_or_default()
            }
            _ => mine == theirs,
        }
    }
}

fn metadata(value: Option<&Value>) -> Option<Metadata> {
    value.and_then(|v| Metadata::from_json("metadata", v).ok())
}

fn rule_set(value: Option<&Value>) -> Option<RuleSet> {
    value.and_then(|v| RuleSet::from_json("ruleSet", v).ok())
}

fn without_version(metadata: Option<Metadata>) -> Metadata {
    let mut metadata = metadata.unwrap_or_default();
    metadata.properties.remove(Metadata::CONFLUENT_VERSION);
    metadata
}

/// Whether a config carries defaults or overrides for the data contract.
pub fn has_defaults_or_overrides(config: &StoredConfig) -> bool {
    config.default_metadata.is_some()
        || config.override_metadata.is_some()
        || config.default_rule_set.is_some()
        || config.override_rule_set.is_some()
}

/// The metadata and rule set a new version gets (Confluent's `maybeSetMetadataRuleSet`): the
/// config's defaults, then the version's own (or, when it has none, the previous version's),
/// then the config's overrides. With `new_version`, `confluent:version` is written when the
/// request gave a version or the merged metadata already has the property.
pub fn contract_of(
    config: &StoredConfig,
    own_metadata: Option<&Value>,
    own_rule_set: Option<&Value>,
    previous: Option<&SchemaRecord>,
    new_version: Option<(Version, bool)>,
) -> (Option<Value>, Option<Value>) {
    let specific = own_metadata.or_else(|| previous.and_then(|p| p.metadata()));
    let mut merged_metadata = Metadata::merge(
        Metadata::merge(
            metadata(config.default_metadata.as_ref()).as_ref(),
            metadata(specific).as_ref(),
        )
        .as_ref(),
        metadata(config.override_metadata.as_ref()).as_ref(),
    );
    let specific = own_rule_set.or_else(|| previous.and_then(|p| p.rule_set()));
    let merged_rules = RuleSet::merge(
        RuleSet::merge(
            rule_set(config.default_rule_set.as_ref()).as_ref(),
            rule_set(specific).as_ref(),
        )
        .as_ref(),
        rule_set(config.override_rule_set.as_ref()).as_ref(),
    );
    if let Some((version, version_given)) = new_version {
        let has_version = merged_metadata
            .as_ref()
            .is_some_and(|m| m.property(Metadata::CONFLUENT_VERSION).is_some());
        if version_given || has_version {
            merged_metadata
                .get_or_insert_with(Metadata::default)
                .properties
                .insert(
                    Metadata::CONFLUENT_VERSION.to_string(),
                    Some(version.to_string()),
                );
        }
    }
    (
        merged_metadata.map(|m| m.to_json()),
        merged_rules.map(|r| r.to_json()),
    )
}

/// The live version a lookup finds for `content` in a subject: one with exactly this content,
/// else the newest one it can look up (Confluent's `lookUpSchemaUnderSubject`, steps 1 and 2).
pub fn find_version<'s>(
    state: &'s State,
    subject: &QualifiedSubject,
    content: &Content<'_>,
    include_deleted: bool,
    latest_only: bool,
) -> Option<(Version, &'s VersionState, &'s Arc<SchemaRecord>)> {
    let subject_state = state.subject(subject)?;
    let context = subject.context();
    let candidates: Vec<(Version, &VersionState, &Arc<SchemaRecord>)> = subject_state
        .visible(include_deleted)
        .rev()
        .take(if latest_only { 1 } else { usize::MAX })
        .filter_map(|(version, entry)| {
            state
                .schema(context, entry.id)
                .map(|record| (version, entry, record))
        })
        .collect();
    candidates
        .iter()
        .find(|(_, _, record)| content.is(record))
        .or_else(|| {
            candidates
                .iter()
                .find(|(version, _, record)| content.can_look_up(record, *version))
        })
        .copied()
}

/// The subject's newest live version's schema.
pub fn latest_live<'s>(
    state: &'s State,
    subject: &QualifiedSubject,
) -> Option<&'s Arc<SchemaRecord>> {
    let (_, entry) = state.subject(subject)?.visible(false).next_back()?;
    state.schema(subject.context(), entry.id)
}

/// Decides a registration.
/// What registering `input` parses: the format, the text (the previous version's for a
/// contract-only version), the references pinned, and the options.
fn what_to_parse<'a>(
    state: &'a State,
    settings: &Settings,
    input: &'a Register<'_>,
) -> Result<(SchemaType, Cow<'a, str>, Vec<StoredReference>, ParseOptions)> {
    let subject = input.subject;
    let importing = input.id.is_some_and(|id| id >= 0);
    let config = state.effective_config(subject);
    let options = ParseOptions {
        normalize: input.normalize.or(config.normalize).unwrap_or(false),
        strict: !importing,
        max_elements: Some(settings.max_schema_elements),
    };
    // A request without a schema makes a new version of the previous schema with a new
    // contract (Confluent's metadata- or rules-only version).
    if input.text.trim().is_empty() {
        let previous = if importing {
            None
        } else {
            latest_live(state, subject)
        };
        let previous = previous.ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
        return Ok((
            previous.schema_type,
            previous.schema(),
            previous.references().to_vec(),
            options,
        ));
    }
    Ok((
        input.schema_type,
        Cow::Borrowed(input.text),
        state.pin_references(subject.context(), input.references)?,
        options,
    ))
}

/// Plans the registration on the durable state and throws the plan away: what it parsed,
/// checked and judged stays in the state's caches (parsed schemas, the check memo), so the
/// registration itself, planned one write at a time against the head, finds them there and only
/// makes again what the writes planned meanwhile changed. Run before the commit, with other
/// writes free to go on; its answer and errors are left for the registration to decide.
pub fn prepare(state: &State, settings: &Settings, input: &Register<'_>) {
    let _ = register(state, settings, input);
}

pub fn register(
    state: &State,
    settings: &Settings,
    input: &Register<'_>,
) -> Result<Decision<Registered>> {
    let subject = input.subject;
    // As Confluent reads a request: a negative id is no id, and a version of 0 or below is no
    // version (but any version other than 0 asks for `confluent:version`).
    let importing = input.id.is_some_and(|id| id >= 0);
    let given_version = input.version.filter(|v| *v > 0);
    let version_given = input.version.is_some_and(|v| v != 0);
    check_mode(state.effective_mode(subject), importing, subject)?;
    let config = state.effective_config(subject);
    let context = subject.context();
    let subject_state = state.subject(subject);
    // In IMPORT mode a version is taken as given: nothing is inherited or merged.
    let previous = if importing {
        None
    } else {
        latest_live(state, subject)
    };
    let (schema_type, text, references, options) = what_to_parse(state, settings, input)?;
    // A subject a topic owns (a STRONG association) cannot be referenced.
    for reference in &references {
        if let Ok(referenced) = QualifiedSubject::parse_in(context, &reference.subject) {
            if state
                .associations()
                .of_subject(&referenced)
                .any(|e| e.association.lifecycle == crate::persist::Lifecycle::Strong)
            {
                return Err(Error::OperationNotPermitted(format!(
                    "Subject '{}' has a strong association and cannot be referenced",
                    reference.subject
                )));
            }
        }
    }
    let (parse_key, parsed) =
        state.parse_keyed(context, schema_type, &text, &references, options)?;
    let canonical = parsed.canonical().to_string();

    let next_version = match subject_state.and_then(|s| s.max_version) {
        None => Some(Version::FIRST),
        Some(max) => max.next(),
    };
    let own = Content {
        schema_type,
        canonical: &canonical,
        references: &references,
        metadata: input.metadata,
        rule_set: input.rule_set,
    };
    // The fast path of a plain re-registration: the request as given is a live version.
    if !importing && !has_defaults_or_overrides(&config) {
        let latest_only = input.version == Some(-1);
        if let Some((version, entry, record)) =
            find_version(state, subject, &own, false, latest_only)
        {
            let fits = match given_version {
                None => true,
                Some(given) => i64::from(version.get()) == given,
            };
            if fits
                && input
                    .id
                    .is_none_or(|id| id < 0 || id == i64::from(entry.id.get()))
            {
                return Ok(Decision::Answer(Registered::existing(
                    record, version, entry.ts,
                )));
            }
        }
    }
    let (merged_metadata, merged_rules) = if importing {
        (input.metadata.cloned(), input.rule_set.cloned())
    } else {
        contract_of(
            &config,
            input.metadata,
            input.rule_set,
            previous.map(|p| &**p),
            next_version.map(|v| (v, version_given)),
        )
    };
    let content = Content {
        metadata: merged_metadata.as_ref(),
        rule_set: merged_rules.as_ref(),
        ..own
    };

    // The same schema already live in the subject: answer with it, write nothing (unless an
    // explicit version asks for another one).
    if given_version.is_none() || importing {
        if let Some((version, entry, record)) = find_version(state, subject, &content, false, false)
        {
            if importing && !content.is(record) {
                // An import names its own contract; only an identical version is the same.
            } else {
                if let Some(given) = input.id.filter(|_| importing) {
                    if i64::from(entry.id.get()) != given {
                        return Err(Error::IdMismatch {
                            existing: entry.id,
                            given,
                        });
                    }
                }
                return Ok(Decision::Answer(Registered::existing(
                    record, version, entry.ts,
                )));
            }
        }
    }

    let next_version = || {
        next_version.ok_or_else(|| Error::VersionsExhausted {
            subject: subject.qualified(),
        })
    };
    let version = match input.version {
        Some(given) if importing => {
            let version = Version::new(given).ok_or_else(|| {
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
        _ => next_version()?,
    };

    let mut semver = input.semver.cloned().filter(|_| importing);
    let mut checked = None;
    if !importing {
        let level = level(&config, settings);
        checked = Some(level);
        let budget = Budget::new(settings.max_check_work);
        let problems = check_history(
            state,
            subject,
            parse_key,
            &parsed,
            level,
            &config,
            content.metadata,
            &budget,
        )?;
        if !problems.is_empty() {
            return Err(Error::Incompatible {
                subject: subject.qualified(),
                details: details(&problems, level),
                legacy_code: settings.legacy_incompatible_code,
                level,
                kinds: kinds(&problems),
            });
        }
        // Outside IMPORT mode a version may be given only as the next one (Confluent's rule).
        if given_version.is_some_and(|given| given != i64::from(version.get())) {
            return Err(Error::InvalidSchema(
                "Version is not one more than previous version".into(),
            ));
        }
        semver = Some(super::semver::decide(
            state,
            subject,
            parse_key,
            &parsed,
            level,
            &config,
            input.metadata,
            content.metadata,
            settings.max_check_work,
        )?);
    }

    let key = ContentKey::new(
        schema_type,
        &canonical,
        &references,
        content.metadata,
        content.rule_set,
    );
    let context_state = state.context(context);
    let existing_id = context_state.and_then(|c| c.id_of(&key));
    let (id, guid) = match (existing_id, input.id.filter(|_| importing)) {
        (Some(existing), Some(given)) if i64::from(existing.get()) != given => {
            return Err(Error::IdMismatch { existing, given })
        }
        (Some(existing), _) => (existing, state.stored(context, existing)?.guid),
        (None, Some(given)) => {
            let id = SchemaId::new(given).ok_or_else(|| {
                Error::UnprocessableEntity(format!("id {given} is not a valid schema id"))
            })?;
            if state.schema(context, id).is_some() {
                return Err(Error::OperationNotPermitted(format!(
                    "Overwrite new schema with id {id} in context {context} is not permitted."
                )));
            }
            (id, input.guid)
        }
        (None, None) => match context_state.and_then(|c| c.max_id) {
            None => (SchemaId::FIRST, input.guid),
            Some(max) => (
                max.next().ok_or_else(|| Error::IdsExhausted {
                    context: context.to_string(),
                })?,
                input.guid,
            ),
        },
    };

    let registered = SchemaRegistered {
        subject: subject.clone(),
        version,
        id,
        guid,
        schema_type,
        schema: canonical.clone(),
        references: references.clone(),
        metadata: merged_metadata.clone(),
        rule_set: merged_rules.clone(),
        semver,
    };
    let answer = Registered {
        id,
        version,
        guid,
        schema_type,
        schema: canonical,
        references,
        metadata: merged_metadata,
        rule_set: merged_rules,
        ts: None,
        checked,
    };
    Ok(Decision::append(
        Event::SchemaRegistered(registered),
        answer,
    ))
}

/// Which registrations a mode admits: READWRITE takes them without ids, IMPORT (and FORWARD)
/// only with ids, READONLY none.
fn check_mode(mode: Mode, importing: bool, subject: &QualifiedSubject) -> Result<()> {
    match (mode, importing) {
        (Mode::ReadOnly, _) => Err(Error::OperationNotPermitted(format!(
            "Subject {} is in read-only mode",
            subject.qualified()
        ))),
        (Mode::Import | Mode::Forward, true) | (Mode::ReadWrite, false) => Ok(()),
        (_, true) => Err(Error::OperationNotPermitted(format!(
            "Subject {} is not in import mode: a registration with an explicit id needs IMPORT mode",
            subject.qualified()
        ))),
        (_, false) => Err(Error::OperationNotPermitted(format!(
            "Subject {} is not in read-write mode: in IMPORT mode a registration must give its id and version",
            subject.qualified()
        ))),
    }
}

/// Checks a candidate against the subject's live history under `level`, in the candidate's
/// compatibility group (registration semantics).
/// Runs out of `budget` with [`Error::CheckTooLarge`]. `candidate` is the key of the
/// candidate's parse, by which the state's check memo remembers its checks.
#[allow(clippy::too_many_arguments)]
pub fn check_history(
    state: &State,
    subject: &QualifiedSubject,
    candidate: ParseKey,
    parsed: &covenant_core::schema::ParsedSchema,
    level: CompatibilityLevel,
    config: &StoredConfig,
    metadata: Option<&Value>,
    budget: &Budget,
) -> Result<Vec<Incompatibility>> {
    if level == CompatibilityLevel::None {
        return Ok(Vec::new());
    }
    let value = config
        .compatibility_group
        .as_deref()
        .map(|key| (key, property(metadata, key)));
    let group = value.as_ref().map(|(key, value)| Group {
        key,
        value: value.as_deref(),
    });
    let found = compat::check_history(
        level,
        policy(config),
        parsed,
        group,
        state.history(subject, candidate)?,
        budget,
    )?;
    if budget.is_exhausted() {
        return Err(Error::CheckTooLarge {
            limit: budget.limit(),
        });
    }
    Ok(found)
}

/// The JSON Schema policy a config selects: STRICT unless it says LENIENT.
pub fn policy(config: &StoredConfig) -> Policy {
    config.compatibility_policy.unwrap_or_default()
}

/// The 409 details and verbose messages end with this summary, as Confluent's do.
pub fn summary(level: CompatibilityLevel) -> String {
    format!("{{validateFields: 'false', compatibility: '{level}'}}")
}

/// The kinds of incompatibility among `problems`, once each, in the order first found.
pub fn kinds(problems: &[Incompatibility]) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    for problem in problems {
        if !kinds.contains(&problem.kind) {
            kinds.push(problem.kind.clone());
        }
    }
    kinds
}

fn details(problems: &[Incompatibility], level: CompatibilityLevel) -> String {
    let mut parts: Vec<String> = problems.iter().map(Incompatibility::message).collect();
    parts.push(summary(level));
    parts.join(", ")
}
