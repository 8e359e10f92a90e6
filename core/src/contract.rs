//! Data contracts: a schema version's `metadata` (tags, properties, sensitive properties) and
//! `ruleSet` (migration, domain and encoding rules), read from JSON the way Confluent's
//! registry reads them, and written back in its normal form.
//!
//! Reading follows Confluent's Jackson binding: a string member also takes a number or a
//! boolean (as its text); unknown members are ignored; a wrong shape (an object where a string
//! belongs, a string where an object belongs) is refused with the member's path. Writing
//! follows Confluent's entities: maps and sets sorted, empty members left out, a rule's `kind`
//! and `mode` filled with their defaults (TRANSFORM, WRITEREAD). So two requests that differ
//! only in member order describe the same contract.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// A member of a data contract that does not have the shape Confluent's registry reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Where: `metadata.properties.owner`, `ruleSet.domainRules[0].kind`.
    pub path: String,
    /// What was expected and found.
    pub problem: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for ShapeError {}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(path: &str, expected: &str, found: &Value) -> ShapeError {
    ShapeError {
        path: path.to_string(),
        problem: format!("expected {expected}, found {}", kind_of(found)),
    }
}

/// A string as Jackson reads one: a string, or a number or boolean as its text.
fn text(path: &str, value: &Value) -> Result<String, ShapeError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(wrong(path, "a string", other)),
    }
}

fn optional_text(path: &str, value: Option<&Value>) -> Result<Option<String>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => text(path, value).map(Some),
    }
}

fn object<'a>(path: &str, value: &'a Value) -> Result<&'a Map<String, Value>, ShapeError> {
    value
        .as_object()
        .ok_or_else(|| wrong(path, "an object", value))
}

fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|value| !value.is_null())
}

fn text_set(path: &str, value: Option<&Value>) -> Result<BTreeSet<String>, ShapeError> {
    match value {
        None => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| text(&format!("{path}[{index}]"), item))
            .collect(),
        Some(other) => Err(wrong(path, "an array of strings", other)),
    }
}

fn text_map(
    path: &str,
    value: Option<&Value>,
) -> Result<BTreeMap<String, Option<String>>, ShapeError> {
    match value {
        None => Ok(BTreeMap::new()),
        Some(value) => object(path, value)?
            .iter()
            .map(|(key, item)| {
                let item = match item {
                    Value::Null => None,
                    item => Some(text(&format!("{path}.{key}"), item)?),
                };
                Ok((key.clone(), item))
            })
            .collect(),
    }
}

fn put(out: &mut Map<String, Value>, name: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    };
    if !empty {
        out.insert(name.to_string(), value);
    }
}

fn set_json(set: &BTreeSet<String>) -> Value {
    Value::Array(set.iter().cloned().map(Value::String).collect())
}

fn map_json(map: &BTreeMap<String, Option<String>>) -> Value {
    Value::Object(
        map.iter()
            .map(|(key, value)| {
                (
                    key.clone(),
                    value.clone().map_or(Value::Null, Value::String),
                )
            })
            .collect(),
    )
}

/// The `metadata` of a schema version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Tags by field path (`Order.card`, `**.ssn`): each path's set of tags.
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// Properties (`owner`, `application.major.version`, ...). A property may be null.
    pub properties: BTreeMap<String, Option<String>>,
    /// The names of properties whose values are secret.
    pub sensitive: BTreeSet<String>,
}

impl Metadata {
    /// The property the registry writes with the version number a registration got.
    pub const CONFLUENT_VERSION: &'static str = "confluent:version";

    /// Reads metadata from JSON (`path` names it in errors).
    pub fn from_json(path: &str, value: &Value) -> Result<Metadata, ShapeError> {
        let map = object(path, value)?;
        let tags = match member(map, "tags") {
            None => BTreeMap::new(),
            Some(tags) => object(&format!("{path}.tags"), tags)?
                .iter()
                .map(|(key, values)| {
                    Ok((
                        key.clone(),
                        text_set(&format!("{path}.tags.{key}"), Some(values))?,
                    ))
                })
                .collect::<Result<_, ShapeError>>()?,
        };
        Ok(Metadata {
            tags,
            properties: text_map(&format!("{path}.properties"), member(map, "properties"))?,
            sensitive: text_set(&format!("{path}.sensitive"), member(map, "sensitive"))?,
        })
    }

    /// The normal form as JSON: sorted, empty members left out.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        put(
            &mut out,
            "tags",
            Value::Object(
                self.tags
                    .iter()
                    .map(|(key, values)| (key.clone(), set_json(values)))
                    .collect(),
            ),
        );
        put(&mut out, "properties", map_json(&self.properties));
        put(&mut out, "sensitive", set_json(&self.sensitive));
        Value::Object(out)
    }

    /// A property's value.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key)?.as_deref()
    }

    /// Confluent's merge: `newer`'s tags replace `older`'s per path, its properties override
    /// per key, the sensitive sets are united.
    pub fn merge(older: Option<&Metadata>, newer: Option<&Metadata>) -> Option<Metadata> {
        match (older, newer) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (Some(older), Some(newer)) => {
                let mut merged = older.clone();
                merged
                    .tags
                    .extend(newer.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
                    .properties
                    .extend(newer.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged.sensitive.extend(newer.sensitive.iter().cloned());
                Some(merged)
            }
        }
    }
}

/// What a rule does: check (CONDITION) or change (TRANSFORM) the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// Changes the data (the default).
    Transform,
    /// Checks the data.
    Condition,
}

/// When a rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleMode {
    /// Migrations from an older version to a newer one.
    Upgrade,
    /// Migrations from a newer version to an older one.
    Downgrade,
    /// Both migrations.
    UpDown,
    /// On write (serialization).
    Write,
    /// On read (deserialization).
    Read,
    /// On write and on read (the default).
    WriteRead,
}

impl RuleMode {
    /// The name Confluent uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMode::Upgrade => "UPGRADE",
            RuleMode::Downgrade => "DOWNGRADE",
            RuleMode::UpDown => "UPDOWN",
            RuleMode::Write => "WRITE",
            RuleMode::Read => "READ",
            RuleMode::WriteRead => "WRITEREAD",
        }
    }

    /// UPGRADE, DOWNGRADE or UPDOWN.
    pub fn is_migration(self) -> bool {
        matches!(
            self,
            RuleMode::Upgrade | RuleMode::Downgrade | RuleMode::UpDown
        )
    }

    fn parse(path: &str, value: &Value) -> Result<RuleMode, ShapeError> {
        let raw = text(path, value)?;
        Ok(match raw.as_str() {
            "UPGRADE" => RuleMode::Upgrade,
            "DOWNGRADE" => RuleMode::Downgrade,
            "UPDOWN" => RuleMode::UpDown,
            "WRITE" => RuleMode::Write,
            "READ" => RuleMode::Read,
            "WRITEREAD" => RuleMode::WriteRead,
            _ => {
                return Err(ShapeError {
                    path: path.to_string(),
                    problem: format!(
                        "`{raw}` is not one of UPGRADE, DOWNGRADE, UPDOWN, WRITE, READ, WRITEREAD"
                    ),
                })
            }
        })
    }
}

impl RuleKind {
    /// The name Confluent uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Transform => "TRANSFORM",
            RuleKind::Condition => "CONDITION",
        }
    }

    fn parse(path: &str, value: &Value) -> Result<RuleKind, ShapeError> {
        let raw = text(path, value)?;
        match raw.as_str() {
            "TRANSFORM" => Ok(RuleKind::Transform),
            "CONDITION" => Ok(RuleKind::Condition),
            _ => Err(ShapeError {
                path: path.to_string(),
                problem: format!("`{raw}` is not one of CONDITION, TRANSFORM"),
            }),
        }
    }
}

/// Where rules run (`enableAt`), matched by clients against their execution environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionEnvironment {
    /// Everywhere.
    All,
    /// In clients.
    Client,
    /// In gateways.
    Gateway,
    /// In the server.
    Server,
    /// Nowhere.
    None,
}

impl ExecutionEnvironment {
    /// The name Confluent uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionEnvironment::All => "ALL",
            ExecutionEnvironment::Client => "CLIENT",
            ExecutionEnvironment::Gateway => "GATEWAY",
            ExecutionEnvironment::Server => "SERVER",
            ExecutionEnvironment::None => "NONE",
        }
    }

    fn parse(path: &str, value: &Value) -> Result<ExecutionEnvironment, ShapeError> {
        let raw = text(path, value)?;
        Ok(match raw.as_str() {
            "ALL" => ExecutionEnvironment::All,
            "CLIENT" => ExecutionEnvironment::Client,
            "GATEWAY" => ExecutionEnvironment::Gateway,
            "SERVER" => ExecutionEnvironment::Server,
            "NONE" => ExecutionEnvironment::None,
            _ => {
                return Err(ShapeError {
                    path: path.to_string(),
                    problem: format!("`{raw}` is not one of ALL, CLIENT, GATEWAY, SERVER, NONE"),
                })
            }
        })
    }
}

/// One rule of a rule set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Its name, unique in its rule set.
    pub name: Option<String>,
    /// What it is for.
    pub doc: Option<String>,
    /// CONDITION or TRANSFORM.
    pub kind: RuleKind,
    /// When it runs.
    pub mode: RuleMode,
    /// The executor: `CEL`, `CEL_FIELD`, `JSONATA`, `ENCRYPT`, ...
    pub rule_type: Option<String>,
    /// The field tags it applies to.
    pub tags: BTreeSet<String>,
    /// Executor parameters.
    pub params: BTreeMap<String, Option<String>>,
    /// The expression.
    pub expr: Option<String>,
    /// The action on success (`NONE`, `ERROR`, `DLQ`; two comma-separated for WRITEREAD/UPDOWN).
    pub on_success: Option<String>,
    /// The action on failure.
    pub on_failure: Option<String>,
    /// Whether the rule is turned off.
    pub disabled: bool,
}

impl Rule {
    fn from_json(path: &str, value: &Value) -> Result<Rule, ShapeError> {
        let map = object(path, value)?;
        let field = |name: &str| format!("{path}.{name}");
        Ok(Rule {
            name: optional_text(&field("name"), member(map, "name"))?,
            doc: optional_text(&field("doc"), member(map, "doc"))?,
            kind: match member(map, "kind") {
                None => RuleKind::Transform,
                Some(kind) => RuleKind::parse(&field("kind"), kind)?,
            },
            mode: match member(map, "mode") {
                None => RuleMode::WriteRead,
                Some(mode) => RuleMode::parse(&field("mode"), mode)?,
            },
            rule_type: optional_text(&field("type"), member(map, "type"))?,
            tags: text_set(&field("tags"), member(map, "tags"))?,
            params: text_map(&field("params"), member(map, "params"))?,
            expr: optional_text(&field("expr"), member(map, "expr"))?,
            on_success: optional_text(&field("onSuccess"), member(map, "onSuccess"))?,
            on_failure: optional_text(&field("onFailure"), member(map, "onFailure"))?,
            disabled: match member(map, "disabled") {
                None => false,
                Some(Value::Bool(flag)) => *flag,
                Some(Value::String(text)) if text == "true" => true,
                Some(Value::String(text)) if text == "false" => false,
                Some(other) => return Err(wrong(&field("disabled"), "true or false", other)),
            },
        })
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        let text = |value: &Option<String>| value.clone().map_or(Value::Null, Value::String);
        put(&mut out, "name", text(&self.name));
        put(&mut out, "doc", text(&self.doc));
        out.insert("kind".into(), Value::String(self.kind.as_str().into()));
        out.insert("mode".into(), Value::String(self.mode.as_str().into()));
        put(&mut out, "type", text(&self.rule_type));
        put(&mut out, "tags", set_json(&self.tags));
        put(&mut out, "params", map_json(&self.params));
        put(&mut out, "expr", text(&self.expr));
        put(&mut out, "onSuccess", text(&self.on_success));
        put(&mut out, "onFailure", text(&self.on_failure));
        out.insert("disabled".into(), Value::Bool(self.disabled));
        Value::Object(out)
    }
}

/// The three phases of a rule set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `migrationRules`.
    Migration,
    /// `domainRules`.
    Domain,
    /// `encodingRules`.
    Encoding,
}

impl Phase {
    /// Every phase, in the order rules are listed and hashed.
    pub const ALL: [Phase; 3] = [Phase::Migration, Phase::Domain, Phase::Encoding];

    /// The member's name.
    pub fn member(self) -> &'static str {
        match self {
            Phase::Migration => "migrationRules",
            Phase::Domain => "domainRules",
            Phase::Encoding => "encodingRules",
        }
    }
}

/// A schema version's `ruleSet`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// Rules that move data between versions.
    pub migration_rules: Vec<Rule>,
    /// Rules on the data itself.
    pub domain_rules: Vec<Rule>,
    /// Rules on the encoded payload.
    pub encoding_rules: Vec<Rule>,
    /// Where the rules run.
    pub enable_at: Option<ExecutionEnvironment>,
}

impl RuleSet {
    /// Reads a rule set from JSON (`path` names it in errors).
    pub fn from_json(path: &str, value: &Value) -> Result<RuleSet, ShapeError> {
        let map = object(path, value)?;
        let rules = |phase: Phase| -> Result<Vec<Rule>, ShapeError> {
            let name = phase.member();
            match member(map, name) {
                None => Ok(Vec::new()),
                Some(Value::Array(rules)) => rules
                    .iter()
                    .enumerate()
                    .map(|(index, rule)| Rule::from_json(&format!("{path}.{name}[{index}]"), rule))
                    .collect(),
                Some(other) => Err(wrong(&format!("{path}.{name}"), "an array of rules", other)),
            }
        };
        Ok(RuleSet {
            migration_rules: rules(Phase::Migration)?,
            domain_rules: rules(Phase::Domain)?,
            encoding_rules: rules(Phase::Encoding)?,
            enable_at: member(map, "enableAt")
                .map(|value| ExecutionEnvironment::parse(&format!("{path}.enableAt"), value))
                .transpose()?,
        })
    }

    /// The normal form as JSON: empty phases left out, rules with their defaults.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for phase in Phase::ALL {
            let rules = self.rules(phase).iter().map(Rule::to_json).collect();
            put(&mut out, phase.member(), Value::Array(rules));
        }
        if let Some(environment) = self.enable_at {
            out.insert(
                "enableAt".into(),
                Value::String(environment.as_str().into()),
            );
        }
        Value::Object(out)
    }

    /// The rules of a phase.
    pub fn rules(&self, phase: Phase) -> &[Rule] {
        match phase {
            Phase::Migration => &self.migration_rules,
            Phase::Domain => &self.domain_rules,
            Phase::Encoding => &self.encoding_rules,
        }
    }

    fn rules_mut(&mut self, phase: Phase) -> &mut Vec<Rule> {
        match phase {
            Phase::Migration => &mut self.migration_rules,
            Phase::Domain => &mut self.domain_rules,
            Phase::Encoding => &mut self.encoding_rules,
        }
    }

    /// Confluent's validation (`RuleSet.validate`): the message of the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for phase in Phase::ALL {
            for rule in self.rules(phase) {
                let name = validate_rule(rule)?;
                if !names.insert(name.to_string()) {
                    return Err(format!("Found rule with duplicate name '{name}'"));
                }
                match phase {
                    Phase::Migration if !rule.mode.is_migration() => {
                        return Err("Migration rules can only be UPGRADE, DOWNGRADE, UPDOWN".into())
                    }
                    Phase::Domain if rule.mode.is_migration() => {
                        return Err("Domain rules can only be WRITE, READ, WRITEREAD".into())
                    }
                    Phase::Encoding if rule.mode.is_migration() => {
                        return Err("Encoding rules can only be WRITE, READ, WRITEREAD".into())
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Confluent's merge: per phase, `newer`'s rules replace `older`'s of the same name (which
    /// move to the end, after the older rules kept); `enableAt` from `newer` when it has one.
    pub fn merge(older: Option<&RuleSet>, newer: Option<&RuleSet>) -> Option<RuleSet> {
        match (older, newer) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (Some(older), Some(newer)) => {
                let mut merged = RuleSet {
                    enable_at: newer.enable_at.or(older.enable_at),
                    ..RuleSet::default()
                };
                for phase in Phase::ALL {
                    let (old, new) = (older.rules(phase), newer.rules(phase));
                    let rules = if old.is_empty() {
                        new.to_vec()
                    } else if new.is_empty() {
                        old.to_vec()
                    } else {
                        let replaced: BTreeSet<&Option<String>> =
                            new.iter().map(|rule| &rule.name).collect();
                        old.iter()
                            .filter(|rule| !replaced.contains(&rule.name))
                            .chain(new)
                            .cloned()
                            .collect()
                    };
                    *merged.rules_mut(phase) = rules;
                }
                Some(merged)
            }
        }
    }

    /// What Confluent's DEK registry fills in on a registration (`EncryptionUpdateRequestHandler`):
    /// a domain rule with `encrypt.kms.key.id` but no `encrypt.kek.name` gets a KEK name made
    /// from the key id, and one whose key id is an AWS ARN gets `encrypt.kms.type` `aws-kms`.
    pub fn fill_encryption_defaults(&mut self) {
        for rule in &mut self.domain_rules {
            let Some(Some(key_id)) = rule.params.get("encrypt.kms.key.id").cloned() else {
                continue;
            };
            if !rule.params.contains_key("encrypt.kek.name") {
                let name: String = key_id
                    .strip_prefix("arn:")
                    .unwrap_or(&key_id)
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c == '_' || c == '-' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                rule.params.insert("encrypt.kek.name".into(), Some(name));
            }
            if !rule.params.contains_key("encrypt.kms.type") && key_id.starts_with("arn:") {
                rule.params
                    .insert("encrypt.kms.type".into(), Some("aws-kms".into()));
            }
        }
    }

    /// The rule set without the rules named in `names`.
    pub fn without(&self, names: &[String]) -> RuleSet {
        let mut kept = self.clone();
        for phase in Phase::ALL {
            kept.rules_mut(phase)
                .retain(|rule| rule.name.as_ref().is_none_or(|name| !names.contains(name)));
        }
        kept
    }
}

/// Confluent's `Rule.validate`: the rule's name, or the message of its first problem.
fn validate_rule(rule: &Rule) -> Result<&str, String> {
    let name = rule.name.as_deref().ok_or("Missing rule name")?;
    if name.is_empty() {
        return Err("Empty rule name".into());
    }
    if name.chars().count() > 256 {
        return Err("Rule name too long".into());
    }
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        if !(first.is_alphabetic() || first == '_') {
            return Err(format!("Illegal initial character in rule name: {name}"));
        }
    }
    if !chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("Illegal character in rule name: {name}"));
    }
    if rule.rule_type.as_deref().is_none_or(str::is_empty) {
        return Err("Missing rule type".into());
    }
    let both_ways = matches!(rule.mode, RuleMode::WriteRead | RuleMode::UpDown);
    for action in [&rule.on_success, &rule.on_failure].into_iter().flatten() {
        if action.contains(',') && !both_ways {
            return Err("Multiple actions only valid with WRITEREAD and UPDOWN".into());
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_reads_as_confluent_binds_it_and_writes_its_normal_form() {
        let read = Metadata::from_json(
            "metadata",
            &json!({"properties": {"zeta": "1", "alpha": 2, "flag": true, "none": null}, "tags": {"b": ["Y", "X", "X"]}, "sensitive": ["s"], "unknown": 1}),
        )
        .expect("reads");
        assert_eq!(read.property("alpha"), Some("2"));
        assert_eq!(read.property("none"), None);
        assert_eq!(
            read.to_json().to_string(),
            r#"{"tags":{"b":["X","Y"]},"properties":{"alpha":"2","flag":"true","none":null,"zeta":"1"},"sensitive":["s"]}"#
        );
        assert_eq!(
            Metadata::from_json("metadata", &json!({}))
                .expect("empty")
                .to_json(),
            json!({})
        );
        // (input, path named)
        for (bad, path) in [
            (json!("x"), "metadata"),
            (json!([]), "metadata"),
            (json!(5), "metadata"),
            (json!({"properties": {"a": {}}}), "metadata.properties.a"),
            (json!({"properties": {"a": []}}), "metadata.properties.a"),
            (json!({"properties": "x"}), "metadata.properties"),
            (json!({"tags": {"a": "x"}}), "metadata.tags.a"),
            (json!({"sensitive": {"a": 1}}), "metadata.sensitive"),
        ] {
            let error = Metadata::from_json("metadata", &bad).expect_err("refused");
            assert_eq!(error.path, path, "{bad}: {error}");
        }
    }

    #[test]
    fn rule_sets_read_coerced_with_defaults_and_validate_as_confluent_does() {
        let read = RuleSet::from_json(
            "ruleSet",
            &json!({"domainRules": [{"name": "checkId", "type": "CEL", "expr": 5, "mode": "WRITE", "kind": "CONDITION", "params": {"n": 1}}], "enableAt": "CLIENT"}),
        )
        .expect("reads");
        assert_eq!(read.domain_rules[0].expr.as_deref(), Some("5"));
        assert_eq!(
            read.to_json().to_string(),
            r#"{"domainRules":[{"name":"checkId","kind":"CONDITION","mode":"WRITE","type":"CEL","params":{"n":"1"},"expr":"5","disabled":false}],"enableAt":"CLIENT"}"#
        );
        let defaults =
            RuleSet::from_json("r", &json!({"domainRules": [{"name": "a", "type": "CEL"}]}))
                .expect("reads");
        assert_eq!(
            (defaults.domain_rules[0].kind, defaults.domain_rules[0].mode),
            (RuleKind::Transform, RuleMode::WriteRead)
        );
        for (bad, path) in [
            (
                json!({"domainRules": [{"kind": "FOO"}]}),
                "r.domainRules[0].kind",
            ),
            (
                json!({"domainRules": [{"mode": "SIDEWAYS"}]}),
                "r.domainRules[0].mode",
            ),
            (json!({"domainRules": {"name": "a"}}), "r.domainRules"),
            (
                json!({"domainRules": [{"disabled": "yes"}]}),
                "r.domainRules[0].disabled",
            ),
            (json!({"enableAt": "MARS"}), "r.enableAt"),
            (json!([]), "r"),
        ] {
            let error = RuleSet::from_json("r", &bad).expect_err("refused");
            assert_eq!(error.path, path, "{bad}: {error}");
        }
        let rule = |value: Value| RuleSet::from_json("r", &value).expect("reads").validate();
        let cases = [
            (
                json!({"domainRules": [{"type": "CEL"}]}),
                Err("Missing rule name".to_string()),
            ),
            (
                json!({"domainRules": [{"name": "", "type": "CEL"}]}),
                Err("Empty rule name".into()),
            ),
            (
                json!({"domainRules": [{"name": "a".repeat(257), "type": "CEL"}]}),
                Err("Rule name too long".into()),
            ),
            (
                json!({"domainRules": [{"name": "9a", "type": "CEL"}]}),
                Err("Illegal initial character in rule name: 9a".into()),
            ),
            (
                json!({"domainRules": [{"name": "a b", "type": "CEL"}]}),
                Err("Illegal character in rule name: a b".into()),
            ),
            (
                json!({"domainRules": [{"name": "a"}]}),
                Err("Missing rule type".into()),
            ),
            (
                json!({"domainRules": [{"name": "a", "type": "CEL", "mode": "WRITE", "onFailure": "ERROR,NONE"}]}),
                Err("Multiple actions only valid with WRITEREAD and UPDOWN".into()),
            ),
            (
                json!({"domainRules": [{"name": "a", "type": "CEL", "onFailure": "ERROR,NONE"}]}),
                Ok(()),
            ),
            (
                json!({"domainRules": [{"name": "a", "type": "CEL"}], "encodingRules": [{"name": "a", "type": "ENCRYPT_PAYLOAD"}]}),
                Err("Found rule with duplicate name 'a'".into()),
            ),
            (
                json!({"migrationRules": [{"name": "a", "type": "JSONATA", "mode": "WRITE"}]}),
                Err("Migration rules can only be UPGRADE, DOWNGRADE, UPDOWN".into()),
            ),
            (
                json!({"domainRules": [{"name": "a", "type": "CEL", "mode": "UPGRADE"}]}),
                Err("Domain rules can only be WRITE, READ, WRITEREAD".into()),
            ),
            (
                json!({"encodingRules": [{"name": "a", "type": "CEL", "mode": "UPDOWN"}]}),
                Err("Encoding rules can only be WRITE, READ, WRITEREAD".into()),
            ),
            (
                json!({"migrationRules": [{"name": "_up-1", "type": "JSONATA", "mode": "UPGRADE"}]}),
                Ok(()),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(rule(value.clone()), expected, "{value}");
        }
    }

    #[test]
    fn merges_follow_confluent() {
        let meta = |value: Value| Metadata::from_json("m", &value).expect("reads");
        let merged = Metadata::merge(
            Some(&meta(json!({"tags": {"a": ["X"], "b": ["Y"]}, "properties": {"p": "1", "q": "1"}, "sensitive": ["s"]}))),
            Some(&meta(json!({"tags": {"a": ["Z"]}, "properties": {"q": "2"}, "sensitive": ["t"]}))),
        )
        .expect("merged");
        assert_eq!(
            merged.to_json(),
            json!({"tags": {"a": ["Z"], "b": ["Y"]}, "properties": {"p": "1", "q": "2"}, "sensitive": ["s", "t"]})
        );
        let rules = |value: Value| RuleSet::from_json("r", &value).expect("reads");
        let merged = RuleSet::merge(
            Some(&rules(json!({"domainRules": [{"name": "a", "type": "CEL", "expr": "old"}, {"name": "b", "type": "CEL"}], "enableAt": "CLIENT"}))),
            Some(&rules(json!({"domainRules": [{"name": "a", "type": "CEL", "expr": "new"}, {"name": "c", "type": "CEL"}]}))),
        )
        .expect("merged");
        let names: Vec<_> = merged
            .domain_rules
            .iter()
            .map(|r| (r.name.clone().unwrap_or_default(), r.expr.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("b".into(), None),
                ("a".into(), Some("new".into())),
                ("c".into(), None)
            ]
        );
        assert_eq!(merged.enable_at, Some(ExecutionEnvironment::Client));
        assert_eq!(merged.without(&["a".into()]).domain_rules.len(), 2);
    }
}
