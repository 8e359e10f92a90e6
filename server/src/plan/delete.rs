//! `DELETE /subjects/{s}` and `DELETE /subjects/{s}/versions/{v}`: soft deletes first, then
//! permanent ones, and never a version another schema still references.

use covenant_core::ids::{QualifiedSubject, Version, VersionSpec};

use super::{refuse_if_referenced, refuse_in_read_only, require_subject, Decision};
use crate::error::{Error, Result};
use crate::persist::Event;
use crate::state::State;

/// Decides a subject delete; answers the versions deleted.
pub fn subject(
    state: &State,
    subject: &QualifiedSubject,
    permanent: bool,
) -> Result<Decision<Vec<Version>>> {
    require_subject(subject)?;
    refuse_in_read_only(state, subject)?;
    let subject_state = state.existing_subject(subject, true)?;
    // A subject bound to a resource goes with its association (Confluent's 40904).
    if state.associations().of_subject(subject).next().is_some() {
        return Err(Error::AssociationForSubjectExists(subject.qualified()));
    }
    let live: Vec<Version> = subject_state.visible(false).map(|(n, _)| n).collect();
    if !permanent && live.is_empty() {
        return Err(Error::SubjectSoftDeleted(subject.qualified()));
    }
    if permanent && !live.is_empty() {
        return Err(Error::SubjectNotSoftDeleted(subject.qualified()));
    }
    let versions: Vec<Version> = subject_state.versions.keys().copied().collect();
    let referenced = state
        .referrers(subject)
        .into_iter()
        .find_map(|(number, ids)| {
            let version = Version::try_from(number).ok()?;
            subject_state
                .versions
                .contains_key(&version)
                .then_some((version, ids))
        });
    if let Some((version, ids)) = referenced {
        return Err(Error::ReferenceExists {
            subject: subject.qualified(),
            version,
            ids: ids.into_iter().collect(),
        });
    }
    let answer = if permanent { versions } else { live };
    Ok(Decision::append(
        Event::SubjectDeleted {
            subject: subject.clone(),
            permanent,
        },
        answer,
    ))
}

/// Decides a version delete; answers the version deleted.
pub fn version(
    state: &State,
    subject: &QualifiedSubject,
    spec: VersionSpec,
    permanent: bool,
) -> Result<Decision<Version>> {
    require_subject(subject)?;
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
    // An associated subject keeps an active version (Confluent fails here with a 500; the
    // reason is answered instead).
    if !permanent
        && state.associations().of_subject(subject).next().is_some()
        && subject_state.visible(false).all(|(n, _)| n == version)
    {
        return Err(Error::NoActiveSubjectVersion(subject.qualified()));
    }
    Ok(Decision::append(
        Event::VersionDeleted {
            subject: subject.clone(),
            version,
            permanent,
        },
        version,
    ))
}
