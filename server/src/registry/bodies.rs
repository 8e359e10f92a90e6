//! Prepared response bodies: `GET /schemas/ids/{id}` (and by GUID) and `GET
//! /subjects/{s}/versions/{v}` serialised once and answered from here while they are hot.
//!
//! A body is a pure function of what it shows (the schema record, and for a version the
//! subject, the version, its time and its deleted flag), so an entry is never invalidated: it
//! is looked up by a hash of its address and used only if it was made from exactly the record
//! (the same allocation) and version state that the state holds now; anything else is
//! serialised again and replaces it. Bodies are weighed by their length and kept under a bound,
//! so memory does not hold a second, escaped copy of every schema text.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::state::{SchemaRecord, VersionState};

/// How many bytes of prepared bodies are kept: 32 MiB.
pub const BODIES_BYTES: u64 = 32 * 1024 * 1024;

/// What a body was made from, checked on every hit.
struct Made {
    record: Arc<SchemaRecord>,
    /// For a version body: the subject (qualified), the version, its time and deleted flag.
    version: Option<(String, i32, i64, bool)>,
    body: Bytes,
}

#[derive(Clone)]
struct ByLength;

impl Weighter<u64, Arc<Made>> for ByLength {
    fn weight(&self, _key: &u64, made: &Arc<Made>) -> u64 {
        made.body.len() as u64 + 128
    }
}

/// The prepared bodies.
pub struct Bodies {
    cache: Cache<u64, Arc<Made>, ByLength>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Bodies {
    fn default() -> Bodies {
        Bodies {
            cache: Cache::with_weighter(4096, BODIES_BYTES, ByLength),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl Bodies {
    fn key(&self, parts: impl Hash) -> u64 {
        self.hasher.hash_one(parts)
    }

    /// The body under `key` if it was made from `record` and `version`, else `make`'s, kept.
    fn get_or_make(
        &self,
        key: u64,
        record: &Arc<SchemaRecord>,
        version: Option<(&str, i32, i64, bool)>,
        make: impl FnOnce() -> Bytes,
    ) -> Bytes {
        if let Some(made) = self.cache.get(&key) {
            let same_version = match (&made.version, version) {
                (None, None) => true,
                (Some((s, v, ts, deleted)), Some((subject, version, at, gone))) => {
                    s == subject && *v == version && *ts == at && *deleted == gone
                }
                _ => false,
            };
            if same_version && Arc::ptr_eq(&made.record, record) {
                return made.body.clone();
            }
        }
        let body = make();
        self.cache.insert(
            key,
            Arc::new(Made {
                record: Arc::clone(record),
                version: version.map(|(s, v, ts, deleted)| (s.to_string(), v, ts, deleted)),
                body: body.clone(),
            }),
        );
        body
    }

    /// The `GET /schemas/ids/{id}` body of `record` in `context`.
    pub fn schema(
        &self,
        context: &str,
        record: &Arc<SchemaRecord>,
        make: impl FnOnce() -> Bytes,
    ) -> Bytes {
        let key = self.key((0u8, context, record.id.get()));
        self.get_or_make(key, record, None, make)
    }

    /// The `GET /subjects/{s}/versions/{v}` body of `subject` (qualified) at `version`.
    pub fn version(
        &self,
        subject: &str,
        version: i32,
        entry: &VersionState,
        record: &Arc<SchemaRecord>,
        make: impl FnOnce() -> Bytes,
    ) -> Bytes {
        let key = self.key((1u8, subject, version));
        let made_from = Some((subject, version, entry.ts, entry.deleted));
        self.get_or_make(key, record, made_from, make)
    }
}
