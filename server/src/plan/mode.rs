//! `PUT /mode[/{s}]` and `DELETE /mode[/{s}]`.

use covenant_core::ids::Mode;

use super::Decision;
use crate::error::{Error, Result};
use crate::persist::{Event, Scope};
use crate::state::State;

/// Decides a mode change. FORWARD exists only globally; IMPORT needs an empty scope unless
/// `force`.
pub fn set(state: &State, scope: &Scope, mode: Mode, force: bool) -> Result<Decision<Mode>> {
    if mode == Mode::Forward && *scope != Scope::Global {
        return Err(Error::Core(covenant_core::Error::InvalidMode(
            "FORWARD (forward mode is only supported on the global level)".into(),
        )));
    }
    if mode == Mode::Import && !force && state.scope_has_subjects(scope) {
        return Err(Error::OperationNotPermitted(
            "Cannot import since found existing subjects: set force=true to switch anyway".into(),
        ));
    }
    Ok(Decision::append(
        Event::ModeSet {
            scope: scope.clone(),
            mode,
        },
        mode,
    ))
}

/// Decides a mode removal; answers the mode removed (READWRITE for a global scope with none).
pub fn delete(state: &State, scope: &Scope) -> Result<Decision<Mode>> {
    let previous = match (scope, state.settings(scope).and_then(|s| s.mode)) {
        (_, Some(mode)) => mode,
        (Scope::Global, None) => Mode::ReadWrite,
        (_, None) => return Err(Error::SubjectNotFound(scope.name())),
    };
    Ok(Decision::append(
        Event::ModeDeleted {
            scope: scope.clone(),
        },
        previous,
    ))
}
