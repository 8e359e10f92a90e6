//! Write decisions as pure functions: each takes the state at the log's head, the registry's
//! settings and a typed input, and returns what to append (and what to answer), or why not.
//! The registry's engine runs them against the head and appends; nothing here does I/O.

pub mod associations;
pub mod config;
pub mod context;
pub mod delete;
pub mod keys;
pub mod mode;
pub mod register;
pub mod semver;

#[cfg(test)]
mod tests;

use covenant_core::ids::{CompatibilityLevel, Mode, QualifiedSubject, Version};

use crate::error::{Error, Result};
use crate::persist::{Event, StoredConfig};
use crate::settings::Settings;
use crate::state::State;

/// What a planned write decided.
#[derive(Debug)]
pub enum Decision<T> {
    /// Nothing to write: answer with this.
    Answer(T),
    /// Append this event, then answer with this.
    Append(Box<Event>, T),
}

impl<T> Decision<T> {
    /// Append `event`, then answer `answer`.
    pub fn append(event: Event, answer: T) -> Decision<T> {
        Decision::Append(Box::new(event), answer)
    }

    /// The event to append, if any.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Decision::Answer(_) => None,
            Decision::Append(event, _) => Some(event),
        }
    }

    /// The answer.
    pub fn answer(&self) -> &T {
        match self {
            Decision::Answer(answer) | Decision::Append(_, answer) => answer,
        }
    }
}

/// Refuses an operation addressed to a context rather than a subject.
pub fn require_subject(subject: &QualifiedSubject) -> Result<()> {
    if subject.is_context_only() {
        return Err(Error::Core(covenant_core::Error::InvalidSubject(
            subject.qualified(),
            "a subject name may not be empty",
        )));
    }
    Ok(())
}

/// Refuses a write to a subject in READONLY mode.
pub fn refuse_in_read_only(state: &State, subject: &QualifiedSubject) -> Result<()> {
    if state.effective_mode(subject) == Mode::ReadOnly {
        return Err(Error::OperationNotPermitted(format!(
            "Subject {} is in read-only mode",
            subject.qualified()
        )));
    }
    Ok(())
}

/// Refuses to delete a version another stored schema references.
pub fn refuse_if_referenced(
    state: &State,
    subject: &QualifiedSubject,
    version: Version,
) -> Result<()> {
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

/// The level a config selects, or the registry's default.
pub fn level(config: &StoredConfig, settings: &Settings) -> CompatibilityLevel {
    config
        .compatibility
        .unwrap_or(settings.default_compatibility)
}
