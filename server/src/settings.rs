//! Registry-wide settings from the server's configuration, read by the planners and the engine.

use std::time::Duration;

use covenant_core::ids::CompatibilityLevel;

/// Registry-wide settings from the server config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The level when none is configured anywhere.
    pub default_compatibility: CompatibilityLevel,
    /// Answer an incompatible registration with error code 409 (true) or 40901.
    pub legacy_incompatible_code: bool,
    /// The largest schema text accepted, in bytes.
    pub max_schema_bytes: usize,
    /// A snapshot of the state is stored every this many records.
    pub snapshot_interval: u64,
    /// How often a node polls a shared log when no notification arrives.
    pub poll_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_compatibility: CompatibilityLevel::Backward,
            legacy_incompatible_code: true,
            max_schema_bytes: 1024 * 1024,
            snapshot_interval: 1000,
            poll_interval: Duration::from_secs(1),
        }
    }
}
