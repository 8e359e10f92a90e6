//! `DELETE /contexts/{ctx}`: an empty context loses its config and mode, one event at a time.

use covenant_core::ids::ContextName;

use super::Decision;
use crate::error::{Error, Result};
use crate::persist::{Event, Scope};
use crate::state::State;

/// Decides the next step of a context delete: remove its config, then its mode. Answers
/// whether a step was taken (the engine repeats until none is left).
pub fn delete(state: &State, context: &ContextName) -> Result<Decision<bool>> {
    let Some(ctx) = state.context(context) else {
        return Err(Error::ContextNotFound(context.to_string()));
    };
    if ctx.has_subjects() {
        return Err(Error::ContextNotEmpty(context.to_string()));
    }
    let scope = Scope::Context(context.clone());
    let event = if ctx.settings.config.is_some() {
        Some(Event::ConfigDeleted { scope })
    } else if ctx.settings.mode.is_some() {
        Some(Event::ModeDeleted { scope })
    } else {
        None
    };
    Ok(match event {
        Some(event) => Decision::append(event, true),
        None => Decision::Answer(false),
    })
}
