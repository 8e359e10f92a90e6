//! The compatibility engine: which earlier versions a level compares against, in which
//! direction, and the incompatibilities found, as data.

use std::borrow::{Borrow, Cow};

use crate::avro;
use crate::ids::{CompatibilityLevel, Version};
use crate::json::{self, Policy};
use crate::protobuf;
use crate::schema::{ParsedSchema, SchemaModel};

/// How much work a compatibility check may do, in comparison steps: a check stops early when
/// it runs out, and the caller reports that instead of a verdict. Checks are near-linear in
/// the sizes of the schemas, so only pathological inputs (thousands of `anyOf` branches against
/// thousands) come near a sensible limit.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: std::cell::Cell<u64>,
}

impl Budget {
    /// A budget of `limit` steps.
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: std::cell::Cell::new(0),
        }
    }

    /// No limit (offline checks of files the user owns).
    pub fn unlimited() -> Budget {
        Budget::new(u64::MAX)
    }

    /// Spends `steps`; false once the budget is exhausted.
    pub fn spend(&self, steps: u64) -> bool {
        let used = self.used.get().saturating_add(steps);
        self.used.set(used);
        used <= self.limit
    }

    /// Whether more was asked for than the limit.
    pub fn is_exhausted(&self) -> bool {
        self.used.get() > self.limit
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The steps spent so far.
    pub fn used(&self) -> u64 {
        self.used.get()
    }
}

/// One reason a schema is incompatible: what kind of problem, where, and what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incompatibility {
    /// The kind, in the format's vocabulary (`TYPE_MISMATCH`, `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`, ...).
    pub kind: String,
    /// A JSON-pointer-like path into the schema (`/fields/2/type`).
    pub path: String,
    /// What is wrong, in a sentence.
    pub description: String,
    /// Short detail (`reader type: STRING not compatible with writer type: INT`).
    pub additional_info: String,
    /// The old schema's fragment at the path.
    pub old_fragment: Option<String>,
    /// The new schema's fragment at the path.
    pub new_fragment: Option<String>,
    /// What to change to fix it, when there is an obvious fix.
    pub hint: Option<String>,
    /// The earlier version the new schema failed against.
    pub version: Option<Version>,
}

/// The vocabulary of a diff-based format (JSON Schema, Protobuf): how a kind is described,
/// given (kind, path, update side, original side), and its hint.
pub(crate) struct Wording {
    pub describe: fn(&str, &str, &str, &str) -> String,
    pub hint: fn(&str) -> Option<String>,
}

impl Incompatibility {
    /// One from a diff's difference between `original` and `update` fragments; `update_is_new`
    /// says which side is the candidate, so that messages speak of "new" and "old" correctly.
    pub(crate) fn from_difference(
        kind: &str,
        path: String,
        (original, update): (Option<String>, Option<String>),
        update_is_new: bool,
        wording: &Wording,
    ) -> Incompatibility {
        let (update_side, original_side, old_fragment, new_fragment) = if update_is_new {
            ("new", "old", original, update)
        } else {
            ("old", "new", update, original)
        };
        Incompatibility {
            kind: kind.to_string(),
            description: (wording.describe)(kind, &path, update_side, original_side),
            path,
            additional_info: String::new(),
            old_fragment,
            new_fragment,
            hint: (wording.hint)(kind),
            version: None,
        }
    }

    /// The one-line message used in 409 bodies and `verbose` output, in Confluent's
    /// `{errorType:'...', description:'...', ...}` shape extended with fragments and the version.
    pub fn message(&self) -> String {
        let mut out = format!(
            "{{errorType:'{}', description:'{}', additionalInfo:'{}'",
            self.kind, self.description, self.additional_info
        );
        if let Some(old) = &self.old_fragment {
            out.push_str(&format!(", oldSchema:'{old}'"));
        }
        if let Some(new) = &self.new_fragment {
            out.push_str(&format!(", newSchema:'{new}'"));
        }
        if let Some(version) = self.version {
            out.push_str(&format!(", version:'{version}'"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!(", hint:'{hint}'"));
        }
        out.push('}');
        out
    }
}

/// An earlier version of a subject. `S` is anything that lends a [`ParsedSchema`]: a
/// reference, an owned schema or the registry's shared `Arc`.
#[derive(Clone, Debug)]
pub struct PreviousVersion<S> {
    /// Its version number.
    pub version: Version,
    /// Its schema.
    pub schema: S,
}

/// An earlier version as a history check sees it: its number, the metadata property a
/// compatibility group is keyed on, and its schema, which is only produced (parsed, say) when
/// the check compares against this version.
pub trait EarlierVersion {
    /// What lends the parsed schema.
    type Schema: Borrow<ParsedSchema>;
    /// Why the schema could not be produced.
    type Error;
    /// The version number.
    fn version(&self) -> Version;
    /// The value of a metadata property (`metadata.properties[key]`) of this version.
    fn property(&self, key: &str) -> Option<Cow<'_, str>>;
    /// The parsed schema.
    fn schema(&self) -> Result<Self::Schema, Self::Error>;

    /// Checks `new` against this version ([`check_pair`] on [`EarlierVersion::schema`]). An
    /// implementation may answer from a memo of earlier checks of the same pair instead: the
    /// check is a pure function of the two parsed schemas, the directions and the policy.
    fn check(
        &self,
        new: &ParsedSchema,
        backward: bool,
        forward: bool,
        policy: Policy,
        budget: &Budget,
    ) -> Result<Vec<Incompatibility>, Self::Error> {
        let schema = self.schema()?;
        Ok(check_pair(
            new,
            schema.borrow(),
            backward,
            forward,
            policy,
            budget,
        ))
    }
}

impl<S: Borrow<ParsedSchema> + Clone> EarlierVersion for PreviousVersion<S> {
    type Schema = S;
    type Error = std::convert::Infallible;

    fn version(&self) -> Version {
        self.version
    }

    fn property(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }

    fn schema(&self) -> Result<S, Self::Error> {
        Ok(self.schema.clone())
    }
}

/// A subject's compatibility group: the metadata property named by the `compatibilityGroup`
/// config key, and the candidate's value of it. Only versions with the same value (both absent
/// counts as the same) are compared, as Confluent does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group<'a> {
    /// The metadata property.
    pub key: &'a str,
    /// The candidate's value of it.
    pub value: Option<&'a str>,
}

/// The one history check, shared by the registry and the CLI: picks the versions `level`
/// compares against from `history` (newest first, live versions only) — those in the
/// candidate's compatibility `group`, and of them the newest only unless the level is
/// transitive — and runs the engine against each, newest first.
pub fn check_history<H: EarlierVersion>(
    level: CompatibilityLevel,
    policy: Policy,
    new: &ParsedSchema,
    group: Option<Group<'_>>,
    history: impl IntoIterator<Item = H>,
    budget: &Budget,
) -> Result<Vec<Incompatibility>, H::Error> {
    if level == CompatibilityLevel::None {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let in_group =
        |earlier: &H| group.is_none_or(|g| earlier.property(g.key).as_deref() == g.value);
    for earlier in history.into_iter().filter(in_group) {
        let mut problems = earlier.check(
            new,
            level.checks_backward(),
            level.checks_forward(),
            policy,
            budget,
        )?;
        if budget.is_exhausted() {
            return Ok(Vec::new());
        }
        for problem in &mut problems {
            problem.version = Some(earlier.version());
        }
        found.extend(problems);
        if !level.is_transitive() {
            break;
        }
    }
    Ok(found)
}

/// Checks `new` against the earlier versions under `level`. `previous` is newest first and
/// holds only live (not soft-deleted) versions; non-transitive levels look at the first only.
pub fn check<S: Borrow<ParsedSchema> + Clone>(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[PreviousVersion<S>],
    policy: Policy,
) -> Vec<Incompatibility> {
    match check_history(
        level,
        policy,
        new,
        None,
        previous.iter().cloned(),
        &Budget::unlimited(),
    ) {
        Ok(found) => found,
        Err(never) => match never {},
    }
}

/// Checks `new` against one named version in the level's direction(s), never expanded
/// transitively (`POST /compatibility/subjects/{s}/versions/{v}`).
pub fn check_version(
    level: CompatibilityLevel,
    policy: Policy,
    new: &ParsedSchema,
    old: &ParsedSchema,
    version: Version,
    budget: &Budget,
) -> Vec<Incompatibility> {
    if level == CompatibilityLevel::None {
        return Vec::new();
    }
    let mut found = check_pair(
        new,
        old,
        level.checks_backward(),
        level.checks_forward(),
        policy,
        budget,
    );
    for problem in &mut found {
        problem.version = Some(version);
    }
    found
}

/// Checks one pair: `backward` = the new schema reads the old one's data, `forward` = the
/// old schema reads the new one's data. `policy` applies to JSON Schema only.
pub fn check_pair(
    new: &ParsedSchema,
    old: &ParsedSchema,
    backward: bool,
    forward: bool,
    policy: Policy,
    budget: &Budget,
) -> Vec<Incompatibility> {
    if new.schema_type() != old.schema_type() {
        return vec![Incompatibility {
            kind: "SCHEMA_TYPE_CHANGED".into(),
            path: "/".into(),
            description: format!(
                "Incompatible because of different schema type: the old schema is {} and the new one {}",
                old.schema_type(),
                new.schema_type()
            ),
            additional_info: format!("{} -> {}", old.schema_type(), new.schema_type()),
            old_fragment: None,
            new_fragment: None,
            hint: Some("a subject keeps one schema type; use a new subject".into()),
            version: None,
        }];
    }
    let mut found = Vec::new();
    match (new.model(), old.model()) {
        (SchemaModel::Avro(new), SchemaModel::Avro(old)) => {
            if backward {
                found.extend(avro::check_compatibility(new, old, true, budget));
            }
            if forward {
                found.extend(avro::check_compatibility(old, new, false, budget));
            }
        }
        (SchemaModel::Json(new), SchemaModel::Json(old)) => {
            let (new, old) = (new.model(), old.model());
            // Confluent compares (original, update): BACKWARD = (old, new), FORWARD = (new, old).
            if forward {
                found.extend(json::check_compatibility(new, old, false, policy, budget));
            }
            if backward {
                found.extend(json::check_compatibility(old, new, true, policy, budget));
            }
        }
        (SchemaModel::Protobuf(new), SchemaModel::Protobuf(old)) => {
            if forward {
                found.extend(protobuf::check_compatibility(new, old, false, budget));
            }
            if backward {
                found.extend(protobuf::check_compatibility(old, new, true, budget));
            }
        }
        _ => unreachable!("the schema types were compared above"),
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ParseOptions, SchemaType};

    fn avro(text: &str) -> ParsedSchema {
        ParsedSchema::parse(SchemaType::Avro, text, &[], ParseOptions::default()).expect("valid")
    }

    fn v(n: i64) -> Version {
        Version::new(n).expect("in range")
    }

    /// A version with a compatibility-group property, parsed only when compared.
    struct Grouped<'a> {
        version: i64,
        group: Option<&'a str>,
        schema: &'a ParsedSchema,
        parsed: &'a std::cell::Cell<usize>,
    }

    impl<'a> EarlierVersion for Grouped<'a> {
        type Schema = &'a ParsedSchema;
        type Error = ();
        fn version(&self) -> Version {
            v(self.version)
        }
        fn property(&self, key: &str) -> Option<Cow<'_, str>> {
            (key == "major")
                .then_some(self.group)
                .flatten()
                .map(Cow::Borrowed)
        }
        fn schema(&self) -> Result<&'a ParsedSchema, ()> {
            self.parsed.set(self.parsed.get() + 1);
            Ok(self.schema)
        }
    }

    #[test]
    fn history_is_filtered_by_group_and_only_compared_versions_are_parsed() {
        let (v1, v2, v3) = (avro(V1), avro(V2), avro(V3));
        let parsed = std::cell::Cell::new(0);
        // Newest first: version 3 is in group "2", versions 2 and 1 in group "1".
        let history = || {
            vec![
                Grouped {
                    version: 3,
                    group: Some("2"),
                    schema: &v3,
                    parsed: &parsed,
                },
                Grouped {
                    version: 2,
                    group: Some("1"),
                    schema: &v2,
                    parsed: &parsed,
                },
                Grouped {
                    version: 1,
                    group: Some("1"),
                    schema: &v1,
                    parsed: &parsed,
                },
            ]
        };
        // A group-1 candidate that drops `a` is checked against version 2 only (FORWARD breaks).
        let group = Some(Group {
            key: "major",
            value: Some("1"),
        });
        let found = check_history(
            CompatibilityLevel::Forward,
            Policy::Strict,
            &v3,
            group,
            history(),
            &Budget::unlimited(),
        )
        .expect("no error");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].version, Some(v(2)));
        assert_eq!(parsed.get(), 1, "only the compared version is parsed");
        // In group 2 it is compared with version 3 (itself): compatible.
        parsed.set(0);
        let group = Some(Group {
            key: "major",
            value: Some("2"),
        });
        assert!(check_history(
            CompatibilityLevel::FullTransitive,
            Policy::Strict,
            &v3,
            group,
            history(),
            &Budget::unlimited()
        )
        .expect("no error")
        .is_empty());
        assert_eq!(parsed.get(), 1);
        // A value no version has: nothing to compare with.
        let group = Some(Group {
            key: "major",
            value: Some("9"),
        });
        assert!(check_history(
            CompatibilityLevel::FullTransitive,
            Policy::Strict,
            &v1,
            group,
            history(),
            &Budget::unlimited()
        )
        .expect("no error")
        .is_empty());
        // Transitive without a group: all three, newest first.
        parsed.set(0);
        let found = check_history(
            CompatibilityLevel::ForwardTransitive,
            Policy::Strict,
            &v3,
            None,
            history(),
            &Budget::unlimited(),
        )
        .expect("no error");
        assert_eq!(
            found.iter().map(|p| p.version).collect::<Vec<_>>(),
            vec![Some(v(2)), Some(v(1))]
        );
        assert_eq!(parsed.get(), 3);
    }

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    const V2: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#;
    const V3: &str =
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string","default":""}]}"#;

    #[test]
    fn non_transitive_levels_look_at_the_latest_version_only() {
        let (v1, v2, v3) = (avro(V1), avro(V2), avro(V3));
        let history = [
            PreviousVersion {
                version: v(2),
                schema: &v2,
            },
            PreviousVersion {
                version: v(1),
                schema: &v1,
            },
        ];
        // V3 drops `a`, which V1 needs when it reads V3's data (forward).
        assert!(
            check(
                CompatibilityLevel::Forward,
                &v3,
                &history[..1],
                Policy::Strict
            )
            .len()
                == 1
        );
        assert!(check(CompatibilityLevel::Backward, &v3, &history, Policy::Strict).is_empty());
        assert!(check(
            CompatibilityLevel::BackwardTransitive,
            &v3,
            &history,
            Policy::Strict
        )
        .is_empty());
        let problems = check(
            CompatibilityLevel::FullTransitive,
            &v3,
            &history,
            Policy::Strict,
        );
        let versions: Vec<Option<Version>> = problems.iter().map(|p| p.version).collect();
        assert_eq!(versions, vec![Some(v(2)), Some(v(1))]);
        assert!(check(CompatibilityLevel::None, &v3, &history, Policy::Strict).is_empty());
    }

    #[test]
    fn messages_carry_kind_path_fragments_and_version() {
        let v1 = avro(V1);
        let new = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#);
        let problems = check(
            CompatibilityLevel::Backward,
            &new,
            &[PreviousVersion {
                version: v(1),
                schema: &v1,
            }],
            Policy::Strict,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message(),
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: STRING not compatible with writer type: INT', oldSchema:'\"int\"', newSchema:'\"string\"', version:'1', hint:'Avro resolves only int→long→float→double and string↔bytes; keep the old type or add a new field'}"
        );
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        /// A field type with a default value that fits it.
        fn field_type() -> impl Strategy<Value = (serde_json::Value, serde_json::Value)> {
            let leaf = prop_oneof![
                Just((json!("int"), json!(0))),
                Just((json!("long"), json!(0))),
                Just((json!("float"), json!(0.5))),
                Just((json!("double"), json!(1.5))),
                Just((json!("string"), json!("x"))),
                Just((json!("bytes"), json!(""))),
                Just((json!("boolean"), json!(true))),
                Just((json!(["null", "int"]), json!(null))),
                Just((json!(["null", "string", "long"]), json!(null))),
                Just((
                    json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
                    json!("A")
                )),
                Just((
                    json!({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}),
                    json!("A")
                )),
                Just((
                    json!({"type": "enum", "name": "E", "symbols": ["A"], "default": "A"}),
                    json!("A")
                )),
                Just((
                    json!({"type": "fixed", "name": "F", "size": 4}),
                    json!("abcd")
                )),
            ];
            leaf.prop_recursive(2, 8, 2, |inner| {
                prop_oneof![
                    inner
                        .clone()
                        .prop_map(|(t, _)| (json!({"type": "array", "items": t}), json!([]))),
                    inner.prop_map(|(t, _)| (json!({"type": "map", "values": t}), json!({}))),
                ]
            })
        }

        /// A record `R` over a small pool of field names, so that two schemas often share fields.
        fn record() -> impl Strategy<Value = String> {
            proptest::collection::vec((0usize..4, field_type(), any::<bool>()), 0..4).prop_map(
                |fields| {
                    let mut seen = std::collections::HashSet::new();
                    let fields: Vec<serde_json::Value> = fields
                        .into_iter()
                        .filter(|(name, _, _)| seen.insert(*name))
                        .map(|(name, (kind, default), with_default)| {
                            let field_name = ["a", "b", "c", "d"][name];
                            // Each field's named type gets a name of its own, so a record never redefines one.
                            let kind: serde_json::Value = serde_json::from_str(
                                &kind
                                    .to_string()
                                    .replace(
                                        r#""name":"E""#,
                                        &format!(r#""name":"E_{field_name}""#),
                                    )
                                    .replace(
                                        r#""name":"F""#,
                                        &format!(r#""name":"F_{field_name}""#),
                                    ),
                            )
                            .expect("still JSON");
                            let mut field = json!({"name": field_name, "type": kind});
                            if with_default {
                                field["default"] = default;
                            }
                            field
                        })
                        .collect();
                    json!({"type": "record", "name": "R", "fields": fields}).to_string()
                },
            )
        }

        fn verdict(new: &ParsedSchema, old: &ParsedSchema, level: CompatibilityLevel) -> bool {
            check(
                level,
                new,
                &[PreviousVersion {
                    version: v(1),
                    schema: old,
                }],
                Policy::Strict,
            )
            .is_empty()
        }

        use serde_json::json;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn a_schema_is_compatible_with_itself(text in record()) {
                let schema = avro(&text);
                for level in [CompatibilityLevel::Backward, CompatibilityLevel::Forward, CompatibilityLevel::FullTransitive] {
                    prop_assert!(verdict(&schema, &schema, level), "{text} under {level}");
                }
            }

            #[test]
            fn full_is_backward_and_forward(a in record(), b in record()) {
                let (a, b) = (avro(&a), avro(&b));
                let full = verdict(&a, &b, CompatibilityLevel::Full);
                let both = verdict(&a, &b, CompatibilityLevel::Backward) && verdict(&a, &b, CompatibilityLevel::Forward);
                prop_assert_eq!(full, both);
            }

            #[test]
            fn backward_of_a_b_is_forward_of_b_a(a in record(), b in record()) {
                let (a, b) = (avro(&a), avro(&b));
                prop_assert_eq!(
                    verdict(&a, &b, CompatibilityLevel::Backward),
                    verdict(&b, &a, CompatibilityLevel::Forward)
                );
            }

            #[test]
            fn canonical_text_is_a_fixed_point(text in record()) {
                let once = avro(&text);
                let twice = avro(once.canonical());
                prop_assert_eq!(once.canonical(), twice.canonical());
            }
        }
    }
}
