//! Which schemas a schema's references bring in: the transitive closure, dependencies first,
//! each schema once, to a bounded depth. The registry and the client resolve references with
//! these same rules; only how a reference is looked up differs (the registry's state, or HTTP).

use std::collections::BTreeSet;

use crate::api::SchemaReference;
use crate::ids::VersionSpec;

/// How deep a chain of references may go.
pub const MAX_REFERENCE_DEPTH: usize = 32;

/// Why a closure could not be built, apart from the lookups' own failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// A reference names a version that is neither `-1` (latest) nor a version number.
    #[error("invalid reference `{name}`: version {version} is not a valid version")]
    InvalidVersion {
        /// The reference's name.
        name: String,
        /// The version it gives.
        version: i32,
    },
    /// The chain of references is deeper than [`MAX_REFERENCE_DEPTH`].
    #[error("references nest deeper than {MAX_REFERENCE_DEPTH} levels")]
    TooDeep,
}

/// What looking up one reference found.
#[derive(Clone, Debug)]
pub struct Found<K, C, T> {
    /// The identity of the schema found (a schema seen twice is included once).
    pub key: K,
    /// Where the found schema's own references are resolved (a context, say).
    pub scope: C,
    /// The found schema's own references.
    pub references: Vec<SchemaReference>,
    /// The found schema, as the caller wants it.
    pub value: T,
}

/// The closure of `roots`, resolved from `scope` by `lookup`: `(reference name, value)` pairs,
/// every schema after the schemas it references, each schema once. `lookup` gets the scope the
/// reference is made from, the reference, and the version it names.
pub fn closure<K, C, T, E>(
    scope: &C,
    roots: &[SchemaReference],
    mut lookup: impl FnMut(&C, &SchemaReference, VersionSpec) -> Result<Found<K, C, T>, E>,
) -> Result<Vec<(String, T)>, E>
where
    K: Ord,
    E: From<ReferenceError>,
{
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    walk(scope, roots, 0, &mut lookup, &mut seen, &mut out)?;
    Ok(out)
}

fn walk<K, C, T, E>(
    scope: &C,
    references: &[SchemaReference],
    depth: usize,
    lookup: &mut impl FnMut(&C, &SchemaReference, VersionSpec) -> Result<Found<K, C, T>, E>,
    seen: &mut BTreeSet<K>,
    out: &mut Vec<(String, T)>,
) -> Result<(), E>
where
    K: Ord,
    E: From<ReferenceError>,
{
    if depth > MAX_REFERENCE_DEPTH {
        return Err(ReferenceError::TooDeep.into());
    }
    for reference in references {
        let version = VersionSpec::of_reference(reference.version).map_err(|_| {
            ReferenceError::InvalidVersion {
                name: reference.name.clone(),
                version: reference.version,
            }
        })?;
        let found = lookup(scope, reference, version)?;
        if seen.contains(&found.key) {
            continue;
        }
        walk(
            &found.scope,
            &found.references,
            depth + 1,
            lookup,
            seen,
            out,
        )?;
        seen.insert(found.key);
        out.push((reference.name.clone(), found.value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Debug, PartialEq)]
    enum TestError {
        Rules(ReferenceError),
        Missing(String),
    }

    impl From<ReferenceError> for TestError {
        fn from(error: ReferenceError) -> Self {
            TestError::Rules(error)
        }
    }

    fn reference(name: &str, subject: &str, version: i32) -> SchemaReference {
        SchemaReference {
            name: name.into(),
            subject: subject.into(),
            version,
        }
    }

    /// subject → (latest version, references of each version).
    fn registry() -> HashMap<&'static str, Vec<SchemaReference>> {
        HashMap::from([
            ("a", vec![reference("B", "b", 1), reference("C", "c", -1)]),
            ("b", vec![reference("C", "c", 1)]),
            ("c", vec![]),
        ])
    }

    fn resolve(
        roots: &[SchemaReference],
        registry: &HashMap<&'static str, Vec<SchemaReference>>,
    ) -> Result<Vec<(String, String)>, TestError> {
        closure(&(), roots, |_, reference, version| {
            let references = registry
                .get(reference.subject.as_str())
                .ok_or_else(|| TestError::Missing(reference.subject.clone()))?;
            let number = match version {
                VersionSpec::Latest => 1,
                VersionSpec::Number(n) => n.get(),
            };
            Ok(Found {
                key: (reference.subject.clone(), number),
                scope: (),
                references: references.clone(),
                value: format!("{}@{number}", reference.subject),
            })
        })
    }

    #[test]
    fn dependencies_come_first_and_each_schema_once() {
        let found = resolve(&[reference("A", "a", 1)], &registry()).expect("resolves");
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        // c (through b), b, then a; the second path to c (latest = 1) is not repeated.
        assert_eq!(names, vec!["C", "B", "A"]);
        assert_eq!(found[0].1, "c@1");
    }

    #[test]
    fn versions_other_than_latest_or_a_number_are_refused() {
        for bad in [0, -2] {
            let error = resolve(&[reference("C", "c", bad)], &registry()).expect_err("refused");
            assert_eq!(
                error,
                TestError::Rules(ReferenceError::InvalidVersion {
                    name: "C".into(),
                    version: bad
                })
            );
        }
        let missing = resolve(&[reference("Z", "z", 1)], &registry()).expect_err("missing");
        assert_eq!(missing, TestError::Missing("z".into()));
    }

    #[test]
    fn a_cycle_stops_at_the_depth_limit() {
        let cyclic = HashMap::from([
            ("x", vec![reference("Y", "y", 1)]),
            ("y", vec![reference("X", "x", 1)]),
        ]);
        let error = resolve(&[reference("X", "x", 1)], &cyclic).expect_err("too deep");
        assert_eq!(error, TestError::Rules(ReferenceError::TooDeep));
    }
}
