//! `PUT /config[/{s}]` and `DELETE /config[/{s}]`.

use super::Decision;
use crate::error::{Error, Result};
use crate::persist::{Event, Scope, StoredConfig};
use crate::settings::Settings;
use crate::state::State;

/// Decides a config update: the keys `update` sets replace the scope's, the others stay.
/// Answers the scope's config after the change.
pub fn set(state: &State, scope: &Scope, update: &StoredConfig) -> Result<Decision<StoredConfig>> {
    let mut config = update.clone();
    if let Some(existing) = state.settings(scope).and_then(|s| s.config.as_ref()) {
        config.fill_from(existing);
    }
    Ok(Decision::append(
        Event::ConfigSet {
            scope: scope.clone(),
            config: config.clone(),
        },
        config,
    ))
}

/// Decides a config removal; answers the config removed (the default level for a global scope
/// that had none).
pub fn delete(state: &State, settings: &Settings, scope: &Scope) -> Result<Decision<StoredConfig>> {
    let own = state.settings(scope).and_then(|s| s.config.clone());
    let previous = match (scope, own) {
        (_, Some(own)) => own,
        (Scope::Global, None) => StoredConfig {
            compatibility: Some(settings.default_compatibility),
            ..StoredConfig::default()
        },
        (_, None) => return Err(Error::SubjectNotFound(scope.name())),
    };
    Ok(Decision::append(
        Event::ConfigDeleted {
            scope: scope.clone(),
        },
        previous,
    ))
}
