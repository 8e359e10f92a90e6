//! The bounded memo of compatibility checks and semantic-version verdicts, keyed by what they
//! depend on.
//!
//! A pair check is a pure function of the two parsed schemas, the directions and the JSON
//! Schema policy; a semantic-version verdict of those and the two canonical texts, which the
//! parsed schemas hold. Parsed schemas are named by their [`ParseKey`]s (the digest of
//! everything a parse depends on), so the key of a memo entry names its inputs exactly and a hit
//! is the answer the check would give. What this saves: the same candidate checked again by a
//! CI fleet is not checked again, a registration's check (made once while it is prepared, in
//! parallel with other requests) is not repeated while it is planned one write at a time, and
//! the semantic-version verdict reuses the registration's own check of the same pair.
//! Only complete answers are kept: a check that ran out of its budget is made again.

use std::sync::Arc;

use covenant_core::compat::Incompatibility;
use covenant_core::json::Policy;
use covenant_core::semver::Verdict;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::parsed::ParseKey;

/// How many findings and reasons each of the memo's tables keeps, all entries together (an
/// entry weighs one more than it holds). What it serves needs few entries: the candidates a CI
/// fleet repeats, and the registrations in flight between their preparation and their plan; at
/// 16,384 a bulk registration of 100,000 schemas held about 8 MB more than without it.
pub const CHECK_MEMO_WEIGHT: u64 = 4 * 1024;

/// What a pair check depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PairKey {
    /// The parse of the candidate (the reading side of a backward check).
    pub new: ParseKey,
    /// The parse of the earlier version.
    pub old: ParseKey,
    /// The new schema reads the old one's data.
    pub backward: bool,
    /// The old schema reads the new one's data.
    pub forward: bool,
    /// The JSON Schema policy.
    pub policy: Policy,
}

#[derive(Clone)]
struct ByLength;

impl Weighter<PairKey, Arc<Vec<Incompatibility>>> for ByLength {
    fn weight(&self, _key: &PairKey, value: &Arc<Vec<Incompatibility>>) -> u64 {
        value.len() as u64 + 1
    }
}

impl Weighter<PairKey, Arc<Verdict>> for ByLength {
    fn weight(&self, _key: &PairKey, value: &Arc<Verdict>) -> u64 {
        value.reasons.len() as u64 + 1
    }
}

/// Pair checks and verdicts by [`PairKey`].
pub struct CheckMemo {
    pairs: Cache<PairKey, Arc<Vec<Incompatibility>>, ByLength>,
    verdicts: Cache<PairKey, Arc<Verdict>, ByLength>,
}

impl std::fmt::Debug for CheckMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckMemo")
            .field("pairs", &self.pairs.len())
            .field("verdicts", &self.verdicts.len())
            .finish()
    }
}

impl Default for CheckMemo {
    fn default() -> CheckMemo {
        CheckMemo::new(CHECK_MEMO_WEIGHT)
    }
}

impl CheckMemo {
    /// A memo of at most `weight` findings and reasons (each of its two tables).
    pub fn new(weight: u64) -> CheckMemo {
        CheckMemo {
            pairs: Cache::with_weighter(1024, weight, ByLength),
            verdicts: Cache::with_weighter(1024, weight, ByLength),
        }
    }

    /// The findings of the pair `key`, made by `check` on a miss (which says whether it
    /// completed) and kept if it did. Findings carry no version: the caller sets it.
    pub fn pair<E>(
        &self,
        key: PairKey,
        check: impl FnOnce() -> Result<(Vec<Incompatibility>, bool), E>,
    ) -> Result<Vec<Incompatibility>, E> {
        remember(&self.pairs, key, check)
    }

    /// The verdict for the pair `key`, made by `classify` on a miss and kept if complete.
    pub fn verdict<E>(
        &self,
        key: PairKey,
        classify: impl FnOnce() -> Result<(Verdict, bool), E>,
    ) -> Result<Verdict, E> {
        remember(&self.verdicts, key, classify)
    }
}

/// The value under `key` in `table`, or what `make` makes (and whether it is complete), kept
/// if it is.
fn remember<V: Clone, E>(
    table: &Cache<PairKey, Arc<V>, ByLength>,
    key: PairKey,
    make: impl FnOnce() -> Result<(V, bool), E>,
) -> Result<V, E>
where
    ByLength: Weighter<PairKey, Arc<V>>,
{
    if let Some(found) = table.get(&key) {
        return Ok(found.as_ref().clone());
    }
    let (made, complete) = make()?;
    if complete {
        table.insert(key, Arc::new(made.clone()));
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use covenant_core::schema::SchemaType;

    fn key(text: &str) -> ParseKey {
        ParseKey::new(
            SchemaType::Avro,
            text,
            covenant_core::schema::ParseOptions::default(),
            std::iter::empty(),
        )
    }

    fn pair(new: &str, old: &str, backward: bool) -> PairKey {
        PairKey {
            new: key(new),
            old: key(old),
            backward,
            forward: false,
            policy: Policy::Strict,
        }
    }

    #[test]
    fn a_complete_check_is_made_once_an_incomplete_one_every_time() {
        let memo = CheckMemo::default();
        let calls = Cell::new(0);
        let check = |complete: bool| {
            calls.set(calls.get() + 1);
            Ok::<_, ()>((Vec::new(), complete))
        };
        for _ in 0..3 {
            memo.pair(pair("a", "b", true), || check(true))
                .expect("check");
        }
        assert_eq!(calls.get(), 1);
        for _ in 0..3 {
            memo.pair(pair("a", "c", true), || check(false))
                .expect("check");
        }
        assert_eq!(calls.get(), 4);
        // Another direction, another pair or the pair the other way round is another check.
        memo.pair(pair("a", "b", false), || check(true))
            .expect("check");
        memo.pair(pair("b", "a", true), || check(true))
            .expect("check");
        assert_eq!(calls.get(), 6);
    }

    #[test]
    fn errors_are_not_kept() {
        let memo = CheckMemo::default();
        let calls = Cell::new(0);
        for _ in 0..2 {
            let result = memo.verdict(pair("a", "b", true), || {
                calls.set(calls.get() + 1);
                Err::<(Verdict, bool), _>("no")
            });
            assert_eq!(result, Err("no"));
        }
        assert_eq!(calls.get(), 2);
    }
}
