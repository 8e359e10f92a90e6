//! Semantic contract versions: how much a change between two versions of a subject bumps its
//! `major.minor.patch`, decided from the compatibility engine's verdict and its typed diff.
//!
//! - **major**: the change breaks readers or writers in a direction the subject's level checks
//!   (`BACKWARD`: the new schema reading old data; `FORWARD`: the old schema reading new data;
//!   `FULL` and `NONE`: both), or the schemas are of different formats;
//! - **minor**: it is compatible in those directions and the diff names at least one change (an
//!   addition, a widening, a promotion; a removal where the level allows it);
//! - **patch**: nothing a reader or writer can observe changed (documentation, attributes,
//!   formatting, or only the metadata and rules of the same schema).
//!
//! The registry also bumps major when a version starts a new compatibility-group value; that
//! decision needs the subject's history and is made there.

use std::fmt;

use crate::compat::{check_pair, Budget, Incompatibility};
use crate::ids::CompatibilityLevel;
use crate::json::Policy;
use crate::schema::ParsedSchema;

pub use semver::{Version as SemVer, VersionReq};

/// How much a change bumps the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    /// Nothing observable changed.
    Patch,
    /// A compatible change.
    Minor,
    /// A breaking change.
    Major,
}

impl Bump {
    /// `patch`, `minor` or `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }

    /// The version after `base` with this bump.
    pub fn apply(self, base: &SemVer) -> SemVer {
        match self {
            Bump::Patch => SemVer::new(base.major, base.minor, base.patch + 1),
            Bump::Minor => SemVer::new(base.major, base.minor + 1, 0),
            Bump::Major => SemVer::new(base.major + 1, 0, 0),
        }
    }

    /// The least bump that takes `base` to `to` (`None` when `to` is not above `base`).
    pub fn between(base: &SemVer, to: &SemVer) -> Option<Bump> {
        if to <= base {
            None
        } else if to.major > base.major {
            Some(Bump::Major)
        } else if to.minor > base.minor {
            Some(Bump::Minor)
        } else {
            Some(Bump::Patch)
        }
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Bump {
    type Err = String;

    fn from_str(raw: &str) -> Result<Bump, String> {
        match raw.to_ascii_lowercase().as_str() {
            "patch" => Ok(Bump::Patch),
            "minor" => Ok(Bump::Minor),
            "major" => Ok(Bump::Major),
            _ => Err(format!("`{raw}`: expected patch, minor or major")),
        }
    }
}

/// A change's bump and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The bump.
    pub bump: Bump,
    /// What decided it, one line per change (the breaking ones for a major bump).
    pub reasons: Vec<String>,
}

/// The directions a level checks, as (backward, forward); `NONE` is judged as `FULL`, since
/// under it nothing stops a change that breaks either side.
pub fn directions(level: CompatibilityLevel) -> (bool, bool) {
    use CompatibilityLevel::*;
    match level {
        Backward | BackwardTransitive => (true, false),
        Forward | ForwardTransitive => (false, true),
        Full | FullTransitive | None => (true, true),
    }
}

/// The bump from `old` to `new` under `level`. A check that runs out of `budget` counts as
/// breaking: the version never claims more compatibility than was shown.
pub fn classify(
    old: &ParsedSchema,
    new: &ParsedSchema,
    level: CompatibilityLevel,
    policy: Policy,
    budget: &Budget,
) -> Verdict {
    if old.schema_type() != new.schema_type() {
        return classify_checked(old, new, &[], false, false);
    }
    let (backward, forward) = directions(level);
    let problems = check_pair(new, old, backward, forward, policy, budget);
    classify_checked(old, new, &problems, budget.is_exhausted(), backward)
}

/// [`classify`] given what [`check_pair`] found for the pair in the level's [`directions`]
/// (`exhausted`: the check ran out of its budget; `backward`: the directions include the
/// backward one), for a caller that has the check already.
pub fn classify_checked(
    old: &ParsedSchema,
    new: &ParsedSchema,
    problems: &[Incompatibility],
    exhausted: bool,
    backward: bool,
) -> Verdict {
    if old.schema_type() != new.schema_type() {
        return Verdict {
            bump: Bump::Major,
            reasons: vec![format!(
                "the format changed from {} to {}",
                old.schema_type(),
                new.schema_type()
            )],
        };
    }
    if exhausted {
        return Verdict {
            bump: Bump::Major,
            reasons: vec!["the change is too large to show compatible".into()],
        };
    }
    if !problems.is_empty() {
        let mut reasons: Vec<String> = problems
            .iter()
            .map(|p| format!("{} at {}", p.kind, display_path(&p.path)))
            .collect();
        reasons.dedup();
        return Verdict {
            bump: Bump::Major,
            reasons,
        };
    }
    if old.canonical() == new.canonical() {
        return Verdict {
            bump: Bump::Patch,
            reasons: vec!["the same schema: only its metadata or rules changed".into()],
        };
    }
    // Here the check found nothing: if it was a whole backward check, the diff's own backward
    // check would find nothing either.
    let changes = crate::diff::diff_checked(old, new, backward.then_some(&[][..]));
    let describe = |changes: &[&crate::diff::Change]| {
        let mut reasons: Vec<String> = changes
            .iter()
            .map(|change| format!("{} at {}", change.kind, display_path(&change.path)))
            .collect();
        reasons.dedup();
        reasons
    };
    let observable: Vec<&crate::diff::Change> = changes
        .iter()
        .filter(|change| !UNOBSERVABLE.contains(&change.kind.as_str()))
        .collect();
    if !observable.is_empty() {
        return Verdict {
            bump: Bump::Minor,
            reasons: describe(&observable),
        };
    }
    if changes.is_empty() && old.schema_type() == crate::schema::SchemaType::Protobuf {
        // The canonical texts differ but the diff names nothing: a change it does not itemize
        // (a compatible Protobuf scalar change, say). Never claimed as a patch.
        return Verdict {
            bump: Bump::Minor,
            reasons: vec!["the definitions changed compatibly".into()],
        };
    }
    let all: Vec<&crate::diff::Change> = changes.iter().collect();
    Verdict {
        bump: Bump::Patch,
        reasons: if all.is_empty() {
            vec!["nothing a reader or writer can observe changed (formatting)".into()]
        } else {
            describe(&all)
        },
    }
}

/// Diff kinds no reader or writer can observe: documentation and annotations.
const UNOBSERVABLE: &[&str] = &[
    "DOC_CHANGED",
    "ATTRIBUTES_CHANGED",
    "DESCRIPTION_CHANGED",
    "TITLE_CHANGED",
];

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// Reads an explicit version: `MAJOR.MINOR.PATCH`, without pre-release or build parts (the
/// registry orders versions by their numbers alone).
pub fn parse_explicit(raw: &str) -> Result<SemVer, String> {
    let version =
        SemVer::parse(raw.trim()).map_err(|e| format!("`{raw}` is not a semantic version: {e}"))?;
    if !version.pre.is_empty() || !version.build.is_empty() {
        return Err(format!(
            "`{raw}`: pre-release and build parts are not supported; give MAJOR.MINOR.PATCH"
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ParseOptions, SchemaType};

    fn parse(schema_type: SchemaType, text: &str) -> ParsedSchema {
        ParsedSchema::parse(schema_type, text, &[], ParseOptions::default())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// (what, old, new, level, expected bump)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        CompatibilityLevel,
        Bump,
    );

    /// What `level`'s check of `old` → `new` finds, unbounded.
    fn level_check(
        old: &ParsedSchema,
        new: &ParsedSchema,
        level: CompatibilityLevel,
    ) -> Vec<Incompatibility> {
        let (backward, forward) = directions(level);
        check_pair(
            new,
            old,
            backward,
            forward,
            Policy::Strict,
            &Budget::unlimited(),
        )
    }

    fn run(schema_type: SchemaType, cases: &[Case]) {
        for (what, old, new, level, expected) in cases {
            let (old, new) = (parse(schema_type, old), parse(schema_type, new));
            let verdict = classify(&old, &new, *level, Policy::Strict, &Budget::unlimited());
            assert_eq!(verdict.bump, *expected, "{what}: {verdict:?}");
            assert!(!verdict.reasons.is_empty(), "{what}: no reason");
            // The verdict given the level's check is the one the diff's own check gives.
            let problems = level_check(&old, &new, *level);
            let unaided = classify_checked(&old, &new, &problems, false, false);
            assert_eq!(verdict, unaided, "{what}");
        }
    }

    use CompatibilityLevel::{Backward, Forward, Full, None as NoCheck};

    const A1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;

    #[test]
    fn avro_bumps() {
        let cases: &[Case] = &[
            ("identical", A1, A1, Backward, Bump::Patch),
            ("reformatted", A1, "{\"fields\": [{\"type\": \"long\", \"name\": \"id\"}], \"name\": \"User\", \"type\": \"record\"}", Backward, Bump::Patch),
            ("doc added", A1, r#"{"type":"record","name":"User","doc":"a user","fields":[{"name":"id","type":"long"}]}"#, Backward, Bump::Patch),
            ("field doc added", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long","doc":"the id"}]}"#, Full, Bump::Patch),
            ("field with default added", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}"#, Full, Bump::Minor),
            ("optional field added", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}"#, Backward, Bump::Minor),
            ("field without default added, backward", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#, Backward, Bump::Major),
            ("field without default added, forward", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#, Forward, Bump::Minor),
            ("field without default added, none", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#, NoCheck, Bump::Major),
            ("int promoted to long", r#"{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}"#, r#"{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}"#, Backward, Bump::Minor),
            ("long narrowed to int", r#"{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}"#, r#"{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}"#, Backward, Bump::Major),
            ("enum symbol added, backward", r#"{"type":"enum","name":"E","symbols":["A"]}"#, r#"{"type":"enum","name":"E","symbols":["A","B"]}"#, Backward, Bump::Minor),
            ("enum symbol removed, backward", r#"{"type":"enum","name":"E","symbols":["A","B"]}"#, r#"{"type":"enum","name":"E","symbols":["A"]}"#, Backward, Bump::Major),
            ("field type changed", A1, r#"{"type":"record","name":"User","fields":[{"name":"id","type":"string"}]}"#, NoCheck, Bump::Major),
            ("field removed, backward", r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"x","type":"int"}]}"#, A1, Backward, Bump::Minor),
            ("field removed, full", r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"x","type":"int"}]}"#, A1, Full, Bump::Major),
            ("union branch added", r#"{"type":"record","name":"R","fields":[{"name":"v","type":["null","int"],"default":null}]}"#, r#"{"type":"record","name":"R","fields":[{"name":"v","type":["null","int","string"],"default":null}]}"#, Backward, Bump::Minor),
            ("record renamed", A1, r#"{"type":"record","name":"Person","fields":[{"name":"id","type":"long"}]}"#, Backward, Bump::Major),
        ];
        run(SchemaType::Avro, cases);
    }

    const J1: &str =
        r#"{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}"#;

    #[test]
    fn json_schema_bumps() {
        let cases: &[Case] = &[
            ("identical", J1, J1, Backward, Bump::Patch),
            ("reformatted", J1, "{\n \"additionalProperties\": false, \"properties\": {\"id\": {\"type\": \"integer\"}}, \"type\": \"object\"}", Backward, Bump::Patch),
            ("description added", J1, r#"{"type":"object","description":"a user","properties":{"id":{"type":"integer"}},"additionalProperties":false}"#, Backward, Bump::Patch),
            ("optional property added, closed model", J1, r#"{"type":"object","properties":{"id":{"type":"integer"},"email":{"type":"string"}},"additionalProperties":false}"#, Backward, Bump::Minor),
            ("required property added", J1, r#"{"type":"object","properties":{"id":{"type":"integer"},"email":{"type":"string"}},"required":["email"],"additionalProperties":false}"#, Backward, Bump::Major),
            ("required property added to an open model, forward", r#"{"type":"object","properties":{"id":{"type":"integer"}}}"#, r#"{"type":"object","properties":{"id":{"type":"integer"},"email":{"type":"string"}},"required":["email"]}"#, Forward, Bump::Minor),
            ("property added to a closed model, forward", J1, r#"{"type":"object","properties":{"id":{"type":"integer"},"email":{"type":"string"}},"additionalProperties":false}"#, Forward, Bump::Major),
            ("property type widened to number", J1, r#"{"type":"object","properties":{"id":{"type":"number"}},"additionalProperties":false}"#, Backward, Bump::Minor),
            ("property type narrowed", r#"{"type":"object","properties":{"id":{"type":"number"}},"additionalProperties":false}"#, J1, Backward, Bump::Major),
            ("maxLength added", r#"{"type":"string"}"#, r#"{"type":"string","maxLength":10}"#, Backward, Bump::Major),
            ("maxLength removed", r#"{"type":"string","maxLength":10}"#, r#"{"type":"string"}"#, Backward, Bump::Minor),
            ("maxLength raised", r#"{"type":"string","maxLength":10}"#, r#"{"type":"string","maxLength":20}"#, Backward, Bump::Minor),
            ("maxLength lowered", r#"{"type":"string","maxLength":20}"#, r#"{"type":"string","maxLength":10}"#, Backward, Bump::Major),
            ("enum value added", r#"{"enum":["a"]}"#, r#"{"enum":["a","b"]}"#, Backward, Bump::Minor),
            ("enum value removed, none", r#"{"enum":["a","b"]}"#, r#"{"enum":["a"]}"#, NoCheck, Bump::Major),
            ("type changed", r#"{"type":"string"}"#, r#"{"type":"integer"}"#, NoCheck, Bump::Major),
            ("minimum added, forward", r#"{"type":"integer"}"#, r#"{"type":"integer","minimum":0}"#, Forward, Bump::Minor),
        ];
        run(SchemaType::Json, cases);
    }

    const P1: &str = "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n}\n";

    #[test]
    fn protobuf_bumps() {
        let cases: &[Case] = &[
            ("identical", P1, P1, Backward, Bump::Patch),
            ("reformatted", P1, "syntax = \"proto3\"; package shop; message Order { int64 id = 1; }", Backward, Bump::Patch),
            ("comment added", P1, "syntax = \"proto3\";\npackage shop;\n// An order.\nmessage Order {\n  int64 id = 1;\n}\n", Full, Bump::Patch),
            ("field added", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n  string note = 2;\n}\n", Full, Bump::Minor),
            ("message type added", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n}\nmessage Item {\n  string sku = 1;\n}\n", Backward, Bump::Minor),
            ("field removed", "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n  string note = 2;\n}\n", P1, Backward, Bump::Minor),
            ("field renamed (same number)", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 order_id = 1;\n}\n", Backward, Bump::Minor),
            ("field type changed incompatibly", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  string id = 1;\n}\n", NoCheck, Bump::Major),
            ("int32 to int64", "syntax = \"proto3\";\nmessage M {\n  int32 n = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  int64 n = 1;\n}\n", Backward, Bump::Minor),
            ("package renamed", P1, "syntax = \"proto3\";\npackage store;\nmessage Order {\n  int64 id = 1;\n}\n", NoCheck, Bump::Major),
            ("message removed", "syntax = \"proto3\";\nmessage A {\n  int64 id = 1;\n}\nmessage B {\n  int64 id = 1;\n}\n", "syntax = \"proto3\";\nmessage A {\n  int64 id = 1;\n}\n", Backward, Bump::Major),
            ("enum value added", "syntax = \"proto3\";\nenum S {\n  S_UNKNOWN = 0;\n}\nmessage M {\n  S s = 1;\n}\n", "syntax = \"proto3\";\nenum S {\n  S_UNKNOWN = 0;\n  S_OK = 1;\n}\nmessage M {\n  S s = 1;\n}\n", Backward, Bump::Minor),
            ("oneof field added", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n  oneof pay {\n    string card = 2;\n  }\n}\n", Backward, Bump::Minor),
            ("field number changed", P1, "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 2;\n}\n", Backward, Bump::Minor),
            ("repeated to singular string", "syntax = \"proto3\";\nmessage M {\n  repeated string s = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  int64 s = 1;\n}\n", NoCheck, Bump::Major),
        ];
        run(SchemaType::Protobuf, cases);
    }

    #[test]
    fn versions_step_as_semver_does() {
        let base = SemVer::new(1, 4, 2);
        assert_eq!(Bump::Patch.apply(&base), SemVer::new(1, 4, 3));
        assert_eq!(Bump::Minor.apply(&base), SemVer::new(1, 5, 0));
        assert_eq!(Bump::Major.apply(&base), SemVer::new(2, 0, 0));
        assert_eq!(
            Bump::between(&base, &SemVer::new(1, 4, 9)),
            Some(Bump::Patch)
        );
        assert_eq!(
            Bump::between(&base, &SemVer::new(1, 6, 0)),
            Some(Bump::Minor)
        );
        assert_eq!(
            Bump::between(&base, &SemVer::new(3, 0, 0)),
            Some(Bump::Major)
        );
        assert_eq!(Bump::between(&base, &base), None);
        assert!(parse_explicit("2.0.0").is_ok());
        assert!(parse_explicit("2.0.0-rc.1").is_err());
        assert!(parse_explicit("two").is_err());
        assert_eq!("MINOR".parse::<Bump>(), Ok(Bump::Minor));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn record(fields: &[(String, &'static str, bool)]) -> String {
            let fields: Vec<serde_json::Value> = fields
                .iter()
                .map(|(name, kind, default)| {
                    let mut field = serde_json::json!({"name": name, "type": kind});
                    if *default {
                        field["default"] = match *kind {
                            "string" => serde_json::json!(""),
                            "boolean" => serde_json::json!(false),
                            _ => serde_json::json!(0),
                        };
                    }
                    field
                })
                .collect();
            serde_json::json!({"type": "record", "name": "R", "fields": fields}).to_string()
        }

        fn fields() -> impl Strategy<Value = Vec<(String, &'static str, bool)>> {
            proptest::collection::btree_map(
                "[a-e]",
                (
                    prop_oneof![Just("int"), Just("long"), Just("string"), Just("boolean")],
                    any::<bool>(),
                ),
                1..5,
            )
            .prop_map(|m| m.into_iter().map(|(k, (t, d))| (k, t, d)).collect())
        }

        /// Whether the bump of `old` → `new` is major exactly when `level`'s check breaks (and, for
        /// a change that does not break, at least a patch when the canonical texts differ).
        fn bump_follows_verdict(
            schema_type: SchemaType,
            old: &str,
            new: &str,
            level: usize,
        ) -> Result<(), TestCaseError> {
            let level = [Backward, Forward, Full, NoCheck][level];
            let (old, new) = (parse(schema_type, old), parse(schema_type, new));
            let verdict = classify(&old, &new, level, Policy::Strict, &Budget::unlimited());
            let breaks = !level_check(&old, &new, level).is_empty();
            prop_assert_eq!(verdict.bump == Bump::Major, breaks);
            if schema_type == SchemaType::Avro && old.canonical() != new.canonical() && !breaks {
                prop_assert!(verdict.bump >= Bump::Patch);
            }
            Ok(())
        }

        proptest! {
            /// A bump is never lower than the compatibility verdict implies: whatever the level
            /// refuses is major, whatever it admits is not.
            #[test]
            fn the_bump_follows_the_verdict(old in fields(), new in fields(), level in 0..4usize) {
                bump_follows_verdict(SchemaType::Avro, &record(&old), &record(&new), level)?;
            }

            /// The same for JSON Schema objects: a field's type, and whether it is required
            /// (a field without a default is required), change between the two.
            #[test]
            fn the_json_schema_bump_follows_the_verdict(old in fields(), new in fields(), level in 0..4usize, open in any::<bool>()) {
                bump_follows_verdict(SchemaType::Json, &object(&old, open), &object(&new, open), level)?;
            }

            /// The same for Protobuf messages: fields numbered in name order, so adding or
            /// removing one renumbers the others.
            #[test]
            fn the_protobuf_bump_follows_the_verdict(old in fields(), new in fields(), level in 0..4usize) {
                bump_follows_verdict(SchemaType::Protobuf, &message(&old), &message(&new), level)?;
            }
        }

        fn object(fields: &[(String, &'static str, bool)], open: bool) -> String {
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            for (name, kind, default) in fields {
                let kind = match *kind {
                    "int" | "long" => "integer",
                    other => other,
                };
                properties.insert(name.clone(), serde_json::json!({ "type": kind }));
                if !default {
                    required.push(name.clone());
                }
            }
            serde_json::json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": open,
            })
            .to_string()
        }

        fn message(fields: &[(String, &'static str, bool)]) -> String {
            let body: String = fields
                .iter()
                .enumerate()
                .map(|(i, (name, kind, _))| {
                    let kind = match *kind {
                        "int" => "int32",
                        "long" => "int64",
                        "boolean" => "bool",
                        other => other,
                    };
                    format!("  {kind} {name} = {};\n", i + 1)
                })
                .collect();
            format!("syntax = \"proto3\";\nmessage R {{\n{body}}}\n")
        }
    }
}
