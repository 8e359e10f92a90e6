//! The bounded cache of parsed schemas, keyed by what a parse depends on.
//!
//! A parse is a pure function of the format, the text, the option that changes its result
//! (normalize) and the content of every schema its references resolve to; the key is the
//! SHA-256 of those, so a stored version and a candidate with the same text share one entry,
//! and the repeated compatibility checks and registrations a CI fleet sends parse a text once.
//! Keeping every parsed form for the life of the process instead held about ten times the
//! texts' size after a bulk registration (1.1 GB for 100,000 Avro schemas that a restarted
//! process did not need), so entries are weighed by the length of their text and kept under a
//! bound; the coldest go first (quick_cache's CLOCK-PRO). A miss parses again: only time is lost.
//! Only successful parses are kept. `strict` only adds checks (what new registrations must
//! satisfy), so an entry remembers whether they were made: a strict parse serves every request,
//! a lenient one only lenient requests. The element limit of a request is not part of the key:
//! a text that is cached was parsed within some limit already, and a hit costs no parsing.

use std::sync::Arc;

use covenant_core::schema::{ParseOptions, ParsedSchema, SchemaType};
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use sha2::{Digest, Sha256};

use super::ContentKey;

/// How much schema text the cached parsed forms may come from: 2 MiB (their parsed forms take
/// ten to fifty times that, depending on the format: tens of MB).
pub const PARSED_CACHE_TEXT_BYTES: u64 = 2 * 1024 * 1024;

/// What a parse depends on, digested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseKey([u8; 32]);

impl ParseKey {
    /// The key of parsing `text` as `schema_type` with `options`, its references resolving
    /// (in closure order) to schemas of these names and contents.
    pub fn new<'a>(
        schema_type: SchemaType,
        text: &str,
        options: ParseOptions,
        references: impl Iterator<Item = (&'a str, ContentKey)>,
    ) -> ParseKey {
        let mut digest = Sha256::new();
        digest.update(schema_type.as_str().as_bytes());
        digest.update([u8::from(options.normalize)]);
        digest.update((text.len() as u64).to_le_bytes());
        digest.update(text.as_bytes());
        for (name, content) in references {
            digest.update((name.len() as u64).to_le_bytes());
            digest.update(name.as_bytes());
            digest.update(content.as_bytes());
        }
        ParseKey(digest.finalize().into())
    }
}

#[derive(Clone)]
struct ByText;

/// A cached parse: its weight, whether it was strict, the parsed schema.
type Entry = (u64, bool, Arc<ParsedSchema>);

impl Weighter<ParseKey, Entry> for ByText {
    fn weight(&self, _key: &ParseKey, value: &Entry) -> u64 {
        value.0
    }
}

/// Parsed schemas by [`ParseKey`], under [`PARSED_CACHE_TEXT_BYTES`].
pub struct ParsedCache {
    cache: Cache<ParseKey, Entry, ByText>,
}

impl std::fmt::Debug for ParsedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCache")
            .field("entries", &self.cache.len())
            .field("text_bytes", &self.cache.weight())
            .finish()
    }
}

impl Default for ParsedCache {
    fn default() -> ParsedCache {
        ParsedCache::new(PARSED_CACHE_TEXT_BYTES)
    }
}

impl ParsedCache {
    /// A cache of parsed forms coming from at most `text_bytes` of schema text.
    pub fn new(text_bytes: u64) -> ParsedCache {
        ParsedCache {
            cache: Cache::with_weighter(1024, text_bytes, ByText),
        }
    }

    /// The parse under `key` (strict or not), made by `parse` on a miss and kept if it
    /// succeeded.
    pub fn get_or_parse<E>(
        &self,
        key: ParseKey,
        strict: bool,
        text_len: usize,
        parse: impl FnOnce() -> Result<ParsedSchema, E>,
    ) -> Result<Arc<ParsedSchema>, E> {
        if let Some((_, was_strict, parsed)) = self.cache.get(&key) {
            if was_strict || !strict {
                return Ok(parsed);
            }
        }
        let parsed = Arc::new(parse()?);
        let weight = text_len as u64 + 64;
        self.cache
            .insert(key, (weight, strict, Arc::clone(&parsed)));
        Ok(parsed)
    }
}
