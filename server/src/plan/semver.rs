//! The semantic version a new version of a subject gets, decided once at its registration
//! (see `covenant_core::semver` for the bump of a change): against the newest live version in
//! the same compatibility group; a major bump takes the next major the subject has not used, so
//! that each major line belongs to one group and no number is given twice.

use std::collections::BTreeSet;

use covenant_core::ids::{CompatibilityLevel, QualifiedSubject};
use covenant_core::schema::ParsedSchema;
use covenant_core::semver::{self as bump, Bump, SemVer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::persist::{StoredConfig, StoredSemver};
use crate::state::{property, Pair, ParseKey, State};

/// The metadata property a registration names its own semantic version with.
pub const EXPLICIT: &str = "covenant:semver";

/// The semantic version of `parsed` as the next version of `subject`. `own_metadata` is the
/// request's (an explicit version is read from it, never from inherited metadata);
/// `merged_metadata` is what the version will carry (its compatibility-group value).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    state: &State,
    subject: &QualifiedSubject,
    parse_key: ParseKey,
    parsed: &ParsedSchema,
    level: CompatibilityLevel,
    config: &StoredConfig,
    own_metadata: Option<&Value>,
    merged_metadata: Option<&Value>,
    budget_limit: u64,
) -> Result<StoredSemver> {
    let subject_state = state.subject(subject);
    let used: BTreeSet<SemVer> = subject_state
        .into_iter()
        .flat_map(|s| s.semvers.values())
        .filter_map(|s| SemVer::parse(&s.version).ok())
        .collect();
    let next_major = used.iter().map(|v| v.major + 1).max().unwrap_or(1);
    let fresh_major = SemVer::new(next_major, 0, 0);
    let group_key = config.compatibility_group.as_deref();
    let group_of = |metadata: Option<&Value>| {
        group_key.and_then(|k| property(metadata, k).map(|v| v.into_owned()))
    };
    let group = group_of(merged_metadata);
    let live: Vec<_> = subject_state
        .map(|s| s.visible(false).rev().collect())
        .unwrap_or_default();
    let previous = live.iter().find(|(_, entry)| {
        group_key.is_none()
            || state
                .stored(subject.context(), entry.id)
                .is_ok_and(|record| group_of(record.metadata()) == group)
    });
    let (required, base, against, reasons): (Option<Bump>, Option<SemVer>, _, Vec<String>) =
        match previous {
            None if live.is_empty() => {
                (None, None, None, vec!["the subject's first version".into()])
            }
            None => (
                Some(Bump::Major),
                None,
                live.first().map(|(v, _)| v.get()),
                vec![format!(
                    "a new compatibility group: `{}` is {}",
                    group_key.unwrap_or_default(),
                    group.as_deref().unwrap_or("not set")
                )],
            ),
            Some((version, entry)) => {
                let semver = subject_state
                    .and_then(|s| s.semvers.get(version))
                    .and_then(|s| SemVer::parse(&s.version).ok());
                match semver {
                    None => (
                        None,
                        None,
                        None,
                        vec![format!(
                            "the subject's first semantic version: version {version} and those before it were registered before semantic versions"
                        )],
                    ),
                    Some(base) => {
                        let record = state.stored(subject.context(), entry.id)?;
                        let pair = Pair {
                            candidate: parse_key,
                            new: parsed,
                            context: subject.context(),
                            old: record,
                        };
                        let verdict = state.classify(
                            &pair,
                            level,
                            super::register::policy(config),
                            budget_limit,
                        )?;
                        (
                            Some(verdict.bump),
                            Some(base),
                            Some(version.get()),
                            verdict.reasons,
                        )
                    }
                }
            }
        };
    let computed = match (required, &base) {
        (Some(bump @ (Bump::Minor | Bump::Patch)), Some(base)) => {
            let mut next = bump.apply(base);
            while used.contains(&next) {
                next = Bump::Patch.apply(&next);
            }
            next
        }
        _ => fresh_major,
    };
    let explicit = match property(own_metadata, EXPLICIT) {
        None => None,
        Some(raw) => {
            let given = bump::parse_explicit(&raw).map_err(Error::UnprocessableEntity)?;
            if used.contains(&given) {
                return Err(Error::UnprocessableEntity(format!(
                    "{EXPLICIT} {given}: the subject already has a version {given}"
                )));
            }
            if given < computed {
                return Err(Error::UnprocessableEntity(format!(
                    "{EXPLICIT} {given} is lower than the change requires: {computed} ({})",
                    required.map_or("a new major line", Bump::as_str)
                )));
            }
            if base.as_ref().is_none_or(|b| b.major != given.major) && given.major < next_major {
                return Err(Error::UnprocessableEntity(format!(
                    "{EXPLICIT} {given}: a new major line needs a major not used yet ({next_major}.0.0 or above)"
                )));
            }
            Some(given)
        }
    };
    let mut reasons = reasons;
    if let Some(given) = &explicit {
        reasons.push(format!(
            "{given} as the registration asked ({EXPLICIT}); the change requires {computed}"
        ));
    }
    Ok(StoredSemver {
        version: explicit.unwrap_or(computed).to_string(),
        bump: required.map(|b| b.as_str().to_string()),
        against,
        explicit: property(own_metadata, EXPLICIT).is_some(),
        reasons,
    })
}
