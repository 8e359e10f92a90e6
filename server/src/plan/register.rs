//! `POST /subjects/{s}/versions`: may this schema become the subject's next version, under
//! which id, and is it the one already there?

use covenant_core::compat::{self, Budget, Group, Incompatibility};
use covenant_core::ids::{CompatibilityLevel, Mode, QualifiedSubject, SchemaId, Version};
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, SchemaType};
use serde_json::Value;
use uuid::Uuid;

use super::{level, Decision};
use crate::error::{Error, Result};
use crate::persist::{Event, SchemaRegistered, StoredConfig, StoredReference};
use crate::settings::Settings;
use crate::state::{property, ContentKey, SchemaRecord, State};

/// A registration request, read from the REST body at the edge.
#[derive(Clone, Debug)]
pub struct Register<'a> {
    /// The subject.
    pub subject: &'a QualifiedSubject,
    /// The format.
    pub schema_type: SchemaType,
    /// The schema text as given.
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
}

impl Registered {
    fn existing(record: &SchemaRecord, version: Version, ts: i64) -> Registered {
        Registered {
            id: record.id,
            version,
            guid: record.guid,
            schema_type: record.schema_type,
            schema: record.schema.clone(),
            references: record.references.clone(),
            metadata: record.metadata.clone(),
            rule_set: record.rule_set.clone(),
            ts: Some(ts),
        }
    }
}

/// Decides a registration.
pub fn register(
    state: &State,
    settings: &Settings,
    input: &Register<'_>,
) -> Result<Decision<Registered>> {
    let subject = input.subject;
    // As Confluent reads a request: a negative id is no id, and a version of 0 or below is no
    // version.
    let importing = input.id.is_some_and(|id| id >= 0);
    let given_version = input.version.filter(|v| *v > 0);
    check_mode(state.effective_mode(subject), importing, subject)?;
    let config = state.effective_config(subject);
    let normalize = input.normalize.or(config.normalize).unwrap_or(false);
    let context = subject.context();
    let references = state.pin_references(context, input.references)?;
    let input = &Register {
        references: &references,
        ..input.clone()
    };
    let parsed = state.parse(
        context,
        input.schema_type,
        input.text,
        input.references,
        ParseOptions {
            normalize,
            strict: !importing,
            max_elements: Some(settings.max_schema_elements),
        },
    )?;
    let canonical = parsed.canonical().to_string();
    let subject_state = state.subject(subject);

    // The same schema already live in the subject: answer with it, write nothing (unless an
    // explicit version asks for another one).
    if let Some(subject_state) = subject_state {
        let existing = subject_state
            .visible(false)
            .rev()
            .find_map(|(version, entry)| {
                let record = state.schema(context, entry.id)?;
                let version_fits = importing
                    || given_version.is_none_or(|given| i64::from(version.get()) == given);
                (version_fits && same_schema(record, input, &canonical))
                    .then_some((version, entry, record))
            });
        if let Some((version, entry, record)) = existing {
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

    let next_version = || match subject_state.and_then(|s| s.max_version) {
        None => Ok(Version::FIRST),
        Some(max) => max.next().ok_or_else(|| Error::VersionsExhausted {
            subject: subject.qualified(),
        }),
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

    if !importing {
        let level = level(&config, settings);
        let budget = Budget::new(settings.max_check_work);
        let problems = check_history(
            state,
            subject,
            &parsed,
            level,
            &config,
            input.metadata,
            &budget,
        )?;
        if !problems.is_empty() {
            return Err(Error::Incompatible {
                subject: subject.qualified(),
                details: details(&problems, level),
                legacy_code: settings.legacy_incompatible_code,
            });
        }
        // Outside IMPORT mode a version may be given only as the next one (Confluent's rule).
        if given_version.is_some_and(|given| given != i64::from(version.get())) {
            return Err(Error::InvalidSchema(
                "Version is not one more than previous version".into(),
            ));
        }
    }

    let key = ContentKey::new(
        input.schema_type,
        &canonical,
        input.references,
        input.metadata,
        input.rule_set,
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
        schema_type: input.schema_type,
        schema: canonical.clone(),
        references: input.references.to_vec(),
        metadata: input.metadata.cloned(),
        rule_set: input.rule_set.cloned(),
    };
    let answer = Registered {
        id,
        version,
        guid,
        schema_type: input.schema_type,
        schema: canonical,
        references: input.references.to_vec(),
        metadata: input.metadata.cloned(),
        rule_set: input.rule_set.cloned(),
        ts: None,
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

/// Whether a stored schema is the one a request describes (with `canonical` its canonical
/// text). Metadata and rules count only when given.
pub fn same_schema(record: &SchemaRecord, input: &Register<'_>, canonical: &str) -> bool {
    record.schema_type == input.schema_type
        && record.schema == canonical
        && record.references == input.references
        && input
            .metadata
            .is_none_or(|m| record.metadata.as_ref() == Some(m))
        && input
            .rule_set
            .is_none_or(|r| record.rule_set.as_ref() == Some(r))
}

/// Checks a candidate against the subject's live history under `level`, in the candidate's
/// compatibility group (registration semantics).
/// Runs out of `budget` with [`Error::CheckTooLarge`].
pub fn check_history(
    state: &State,
    subject: &QualifiedSubject,
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
        state.history(subject)?,
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

fn details(problems: &[Incompatibility], level: CompatibilityLevel) -> String {
    let mut parts: Vec<String> = problems.iter().map(Incompatibility::message).collect();
    parts.push(summary(level));
    parts.join(", ")
}
