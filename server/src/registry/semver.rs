//! Semantic versions of a subject's versions: listed, resolved from a requirement, and
//! previewed for a registration. Nothing here changes a Confluent response.

use covenant_core::api::{RegisterSchemaRequest, SemverInfo, VersionSemver};
use covenant_core::ids::QualifiedSubject;
use covenant_core::semver::{SemVer, VersionReq};

use super::{Candidate, Purpose, Registry};
use crate::access::{Caller, Operation, Resource};
use crate::error::{Error, Result};
use crate::persist::{Event, StoredSemver};
use crate::plan::{self, Decision};

fn info(stored: &StoredSemver) -> SemverInfo {
    SemverInfo {
        version: stored.version.clone(),
        bump: stored.bump.clone(),
        against: stored.against,
        explicit: stored.explicit,
        reasons: stored.reasons.clone(),
    }
}

impl Registry {
    /// `GET /covenant/v1/subjects/{s}/versions`: every version with its semantic version.
    pub fn subject_semvers(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        deleted: bool,
    ) -> Result<Vec<VersionSemver>> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let state = self.engine.state();
        let subject_state = state
            .subject(subject)
            .filter(|s| s.visible(deleted).next().is_some())
            .ok_or_else(|| Error::SubjectNotFound(subject.qualified()))?;
        Ok(subject_state
            .visible(deleted)
            .map(|(version, entry)| VersionSemver {
                subject: subject.qualified(),
                version: version.get(),
                id: entry.id.get(),
                deleted: entry.deleted,
                ts: Some(entry.ts),
                semver: subject_state.semvers.get(&version).map(|s| info(s)),
            })
            .collect())
    }

    /// `GET /covenant/v1/subjects/{s}/semver?requirement=R`: the newest live version whose
    /// semantic version matches `R` (`^2`, `~2.3`, `>=1.4, <2`).
    pub fn resolve_semver(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        requirement: &str,
    ) -> Result<VersionSemver> {
        let requirement = VersionReq::parse(requirement).map_err(|e| {
            Error::UnprocessableEntity(format!("`{requirement}` is not a version requirement: {e}"))
        })?;
        let versions = self.subject_semvers(caller, subject, false)?;
        versions
            .into_iter()
            .filter(|v| {
                v.semver
                    .as_ref()
                    .and_then(|s| SemVer::parse(&s.version).ok())
                    .is_some_and(|s| requirement.matches(&s))
            })
            .max_by_key(|v| {
                v.semver
                    .as_ref()
                    .and_then(|s| SemVer::parse(&s.version).ok())
            })
            .ok_or_else(|| Error::VersionNotFound {
                subject: subject.qualified(),
                version: format!("matching {requirement}"),
            })
    }

    /// `POST /covenant/v1/subjects/{s}/semver`: the semantic version registering `request`
    /// would give, decided as the registration would decide it, without writing anything.
    pub fn preview_semver(
        &self,
        caller: &Caller,
        subject: &QualifiedSubject,
        request: &RegisterSchemaRequest,
    ) -> Result<VersionSemver> {
        self.authorize(caller, Operation::Read, Resource::Subject(subject))?;
        let candidate = Candidate::read(request, self.settings(), Purpose::Register)?;
        let input = candidate.input(subject, request, None);
        let state = self.engine.state();
        match plan::register::register(&state, self.settings(), &input)? {
            Decision::Append(event, answer) => {
                let semver = match *event {
                    Event::SchemaRegistered(registered) => registered.semver,
                    _ => None,
                };
                Ok(VersionSemver {
                    subject: subject.qualified(),
                    version: answer.version.get(),
                    id: answer.id.get(),
                    deleted: false,
                    ts: None,
                    semver: semver.as_ref().map(info),
                })
            }
            Decision::Answer(answer) => {
                // Already registered: its own semantic version.
                let semver = state
                    .subject(subject)
                    .and_then(|s| s.semvers.get(&answer.version))
                    .map(|s| info(s));
                Ok(VersionSemver {
                    subject: subject.qualified(),
                    version: answer.version.get(),
                    id: answer.id.get(),
                    deleted: false,
                    ts: answer.ts,
                    semver,
                })
            }
        }
    }
}
