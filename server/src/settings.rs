//! Registry-wide settings from the server's configuration, read by the planners and the engine.

use std::time::Duration;

use covenant_core::ids::CompatibilityLevel;

/// The default of `max_check_work`: far more steps than checking the largest schema the default
/// size limit admits takes (a 100,000-field record against itself takes about 200,000), far
/// fewer than an `anyOf` of thousands of branches against another needs.
pub const DEFAULT_MAX_CHECK_WORK: u64 = 20_000_000;

/// The default of `max_schema_elements` (JSON values of an Avro or JSON Schema document, eight
/// per Protobuf declaration; see `covenant_core::schema::elements`): a schema of some 15,000
/// fields, which parses in tens of megabytes, so that the largest request stays far inside the
/// memory a small server has.
pub const DEFAULT_MAX_SCHEMA_ELEMENTS: usize = 50_000;

/// The default of `max_schema_bytes`: 1 MiB, the largest record Kafka takes by default, so the
/// largest schema a Confluent registry stores by default.
pub const DEFAULT_MAX_SCHEMA_BYTES: usize = 1024 * 1024;

/// The default of `max_keys`: Confluent's `dek.registry.max.keys`.
pub const DEFAULT_MAX_KEYS: usize = 20_000;

/// The default of `max_associations`: far more topics than one registry serves, few enough that
/// the associations stay a few tens of megabytes.
pub const DEFAULT_MAX_ASSOCIATIONS: usize = 100_000;

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
    /// The most comparison steps one compatibility check may take (`max_check_work`).
    pub max_check_work: u64,
    /// The most elements a schema in a request may have (`max_schema_elements`).
    pub max_schema_elements: usize,
    /// The most KEKs, and separately the most DEKs, the DEK registry keeps (`max_keys`).
    pub max_keys: usize,
    /// The most associations the registry keeps (`max_associations`).
    pub max_associations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_compatibility: CompatibilityLevel::Backward,
            legacy_incompatible_code: true,
            max_schema_bytes: DEFAULT_MAX_SCHEMA_BYTES,
            snapshot_interval: 1000,
            poll_interval: Duration::from_secs(1),
            max_check_work: DEFAULT_MAX_CHECK_WORK,
            max_schema_elements: DEFAULT_MAX_SCHEMA_ELEMENTS,
            max_keys: DEFAULT_MAX_KEYS,
            max_associations: DEFAULT_MAX_ASSOCIATIONS,
        }
    }
}
