//! Table-driven tests of the planners: each write's rules, decided against a state built by
//! applying events, with no log and no server.

use covenant_core::ids::{
    CompatibilityLevel, ContextName, Mode, QualifiedSubject, SchemaId, Version, VersionSpec,
};
use covenant_core::ErrorCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::register::{Register, Registered};
use super::*;
use crate::persist::{Record, Scope, StoredReference};

/// A state and the settings the planners read, advanced by applying what they decide.
struct World {
    state: State,
    settings: Settings,
}

fn subject(name: &str) -> QualifiedSubject {
    QualifiedSubject::parse(name).expect("a valid subject")
}

fn v(n: i64) -> Version {
    Version::new(n).expect("in range")
}

fn id(n: i64) -> SchemaId {
    SchemaId::new(n).expect("in range")
}

fn record(name: &str, fields: &[(&str, &str)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind}))
        .collect();
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

/// The input of a plain registration.
fn input<'a>(subject: &'a QualifiedSubject, text: &'a str) -> Register<'a> {
    Register {
        subject,
        schema_type: covenant_core::schema::SchemaType::Avro,
        text,
        references: &[],
        metadata: None,
        rule_set: None,
        id: None,
        version: None,
        normalize: None,
        guid: Uuid::new_v4(),
        semver: None,
    }
}

impl World {
    fn new() -> World {
        World {
            state: State::default(),
            settings: Settings::default(),
        }
    }

    /// Applies a decision's event, if any, and returns its answer.
    fn take<T: Clone>(&mut self, decision: Result<Decision<T>>) -> Result<T> {
        let decision = decision?;
        if let Some(event) = decision.event() {
            let offset = self.state.head();
            let record = Record::new(
                event.clone(),
                self.state.tip(),
                crate::persist::Actor::of(&crate::access::Caller::default()),
            );
            let hash =
                crate::persist::RecordHash::of(&crate::persist::encode(&record).expect("encodes"));
            self.state.apply(offset, &record, hash);
        }
        Ok(decision.answer().clone())
    }

    fn plan_register(&self, input: &Register<'_>) -> Result<Decision<Registered>> {
        register::register(&self.state, &self.settings, input)
    }

    fn register_input(&mut self, input: &Register<'_>) -> Result<Registered> {
        let decision = self.plan_register(input);
        self.take(decision)
    }

    fn register(&mut self, name: &str, text: &str) -> Result<Registered> {
        let subject = subject(name);
        self.register_input(&input(&subject, text))
    }

    fn config(&mut self, scope: Scope, config: StoredConfig) {
        let decision = config::set(&self.state, &scope, &config);
        self.take(decision).expect("config set");
    }

    fn level(&mut self, name: &str, level: CompatibilityLevel) {
        self.config(
            Scope::Subject(subject(name)),
            StoredConfig {
                compatibility: Some(level),
                ..StoredConfig::default()
            },
        );
    }

    fn mode(&mut self, scope: Scope, mode: Mode, force: bool) -> Result<Mode> {
        let decision = mode::set(&self.state, &scope, mode, force);
        self.take(decision)
    }

    fn delete_version(&mut self, name: &str, version: i64, permanent: bool) -> Result<Version> {
        let decision = delete::version(
            &self.state,
            &subject(name),
            VersionSpec::Number(v(version)),
            permanent,
        );
        self.take(decision)
    }

    fn delete_subject(&mut self, name: &str, permanent: bool) -> Result<Vec<Version>> {
        let decision = delete::subject(&self.state, &subject(name), permanent);
        self.take(decision)
    }
}

fn code<T: std::fmt::Debug>(result: Result<T>) -> ErrorCode {
    result.expect_err("an error").code()
}

const A1: &str = r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#;

#[test]
fn registration_assigns_ids_and_versions_and_recognises_what_is_there() {
    let mut world = World::new();
    let first = world.register("s", A1).expect("registers");
    assert_eq!((first.id, first.version), (id(1), v(1)));
    // The same schema again: the same version, and nothing is appended.
    let again = world
        .plan_register(&input(&subject("s"), A1))
        .expect("plans");
    assert!(again.event().is_none());
    assert_eq!(again.answer().id, id(1));
    // The same schema under another subject: the same id, that subject's first version.
    let other = world.register("t", A1).expect("registers");
    assert_eq!((other.id, other.version), (id(1), v(1)));
    // A new schema: the next id and version.
    world.level("s", CompatibilityLevel::None);
    let second = world
        .register("s", &record("A", &[("x", "int"), ("y", "string")]))
        .expect("registers");
    assert_eq!((second.id, second.version), (id(2), v(2)));
    // Versions are never reused, even after a permanent delete.
    world.delete_version("s", 2, false).expect("soft delete");
    world
        .delete_version("s", 2, true)
        .expect("permanent delete");
    let third = world
        .register("s", &record("A", &[("x", "int"), ("z", "long")]))
        .expect("registers");
    assert_eq!(third.version, v(3));
}

#[test]
fn modes_gate_registrations() {
    let s = subject("s");
    /// (mode set on the subject, id given, version given, expected error)
    type Case = (Option<Mode>, Option<i64>, Option<i64>, Option<ErrorCode>);
    let cases: &[Case] = &[
        (None, None, None, None),
        (
            Some(Mode::ReadOnly),
            None,
            None,
            Some(ErrorCode::OperationNotPermitted),
        ),
        (
            Some(Mode::ReadOnly),
            Some(5),
            Some(1),
            Some(ErrorCode::OperationNotPermitted),
        ),
        (
            None,
            Some(5),
            Some(1),
            Some(ErrorCode::OperationNotPermitted),
        ),
        (
            Some(Mode::Import),
            None,
            None,
            Some(ErrorCode::OperationNotPermitted),
        ),
        (Some(Mode::Import), Some(5), Some(3), None),
        (Some(Mode::Import), Some(5), None, None),
        (
            Some(Mode::Import),
            Some(5),
            Some(0),
            Some(ErrorCode::InvalidVersion),
        ),
        (
            Some(Mode::Import),
            Some(0),
            Some(1),
            Some(ErrorCode::UnprocessableEntity),
        ),
        (
            Some(Mode::Import),
            Some(1 << 31),
            Some(1),
            Some(ErrorCode::UnprocessableEntity),
        ),
    ];
    for (mode, given_id, given_version, expected) in cases {
        let mut world = World::new();
        if let Some(mode) = mode {
            world
                .mode(Scope::Subject(s.clone()), *mode, false)
                .expect("mode set");
        }
        let mut request = input(&s, A1);
        request.id = *given_id;
        request.version = *given_version;
        let result = world.register_input(&request);
        match expected {
            None => {
                let registered = result.expect("registers");
                if let Some(given) = given_id {
                    assert_eq!(registered.id.get() as i64, *given);
                }
                if let Some(given) = given_version {
                    assert_eq!(registered.version.get() as i64, *given);
                }
            }
            Some(expected) => assert_eq!(
                code(result),
                *expected,
                "mode {mode:?}, id {given_id:?}, version {given_version:?}"
            ),
        }
    }
}

#[test]
fn imports_keep_ids_and_refuse_overwrites() {
    let s = subject("s");
    let mut world = World::new();
    world
        .mode(Scope::Global, Mode::Import, false)
        .expect("empty registry");
    let import = |id: i64, version: i64, text: &'static str| {
        let mut request = input(&s, text);
        request.id = Some(id);
        request.version = Some(version);
        request
    };
    world.register_input(&import(7, 1, A1)).expect("imports");
    let b = record("B", &[("y", "int")]);
    // Another schema at an existing version, or under an existing id: refused.
    let mut at_version = input(&s, &b);
    at_version.id = Some(8);
    at_version.version = Some(1);
    assert_eq!(
        code(world.register_input(&at_version)),
        ErrorCode::OperationNotPermitted
    );
    let mut at_id = input(&s, &b);
    at_id.id = Some(7);
    at_id.version = Some(2);
    assert_eq!(
        code(world.register_input(&at_id)),
        ErrorCode::OperationNotPermitted
    );
    // The same content under another id: 42207.
    assert_eq!(
        code(world.register_input(&import(9, 2, A1))),
        ErrorCode::IdDoesNotMatch
    );
    // The same content with its own id: answered, not appended.
    let again = world.plan_register(&import(7, 1, A1)).expect("plans");
    assert!(again.event().is_none());
    // IMPORT needs an empty scope unless forced.
    let mut other = World::new();
    other.register("s", A1).expect("registers");
    assert_eq!(
        code(other.mode(Scope::Global, Mode::Import, false)),
        ErrorCode::OperationNotPermitted
    );
    other
        .mode(Scope::Global, Mode::Import, true)
        .expect("forced");
    assert_eq!(
        code(other.mode(Scope::Subject(s.clone()), Mode::Forward, false)),
        ErrorCode::InvalidMode
    );
}

#[test]
fn compatibility_follows_the_level_and_the_group() {
    let a = record("R", &[("a", "int")]);
    let ab = json!({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}).to_string();
    let b_only =
        json!({"type":"record","name":"R","fields":[{"name":"b","type":"string","default":""}]})
            .to_string();
    let string_a = record("R", &[("a", "string")]);
    // (level, history, candidate, compatible)
    let cases = [
        (
            CompatibilityLevel::Backward,
            vec![a.clone()],
            string_a.clone(),
            false,
        ),
        (
            CompatibilityLevel::None,
            vec![a.clone()],
            string_a.clone(),
            true,
        ),
        (
            CompatibilityLevel::Backward,
            vec![a.clone()],
            ab.clone(),
            true,
        ),
        (
            CompatibilityLevel::Forward,
            vec![a.clone(), ab.clone()],
            b_only.clone(),
            false,
        ),
        (
            CompatibilityLevel::Backward,
            vec![a.clone(), ab.clone()],
            b_only.clone(),
            true,
        ),
        (
            CompatibilityLevel::FullTransitive,
            vec![a.clone(), ab.clone()],
            b_only.clone(),
            false,
        ),
    ];
    for (level, history, candidate, compatible) in cases {
        let mut world = World::new();
        world.level("s", CompatibilityLevel::None);
        for text in &history {
            world.register("s", text).expect("history registers");
        }
        world.level("s", level);
        let result = world.register("s", &candidate);
        assert_eq!(
            result.is_ok(),
            compatible,
            "{level} {history:?} -> {candidate}: {result:?}"
        );
        if !compatible {
            assert_eq!(code(result), ErrorCode::IncompatibleSchemaLegacy);
        }
    }

    // With a compatibility group, versions are compared within their group value only.
    let mut world = World::new();
    world.config(
        Scope::Subject(subject("g")),
        StoredConfig {
            compatibility: Some(CompatibilityLevel::Backward),
            compatibility_group: Some("major".into()),
            ..StoredConfig::default()
        },
    );
    let major = |n: &str| json!({"properties": {"major": n}});
    let (one, two) = (major("1"), major("2"));
    let g = subject("g");
    let mut first = input(&g, &a);
    first.metadata = Some(&one);
    world.register_input(&first).expect("first");
    let mut breaking_in_new_group = input(&g, &string_a);
    breaking_in_new_group.metadata = Some(&two);
    world
        .register_input(&breaking_in_new_group)
        .expect("a new group value starts a new history");
    let string_b = record("R", &[("a", "long")]);
    let mut breaking_in_same_group = input(&g, &string_b);
    breaking_in_same_group.metadata = Some(&two);
    assert_eq!(
        code(world.register_input(&breaking_in_same_group)),
        ErrorCode::IncompatibleSchemaLegacy
    );
}

#[test]
fn references_must_resolve_and_protect_what_they_use() {
    let mut world = World::new();
    let money = record("Money", &[("units", "long")]);
    world.register("money", &money).expect("registers");
    let order = record("Order", &[("amount", "Money")]);
    let s = subject("orders");
    let refs = [StoredReference {
        name: "Money".into(),
        subject: "money".into(),
        version: 1,
    }];
    let mut with_ref = input(&s, &order);
    with_ref.references = &refs;
    world.register_input(&with_ref).expect("resolves Money");
    // Missing subject, missing version, bad version: 42201.
    for (target, version) in [("nobody", 1), ("money", 9), ("money", 0)] {
        let bad = [StoredReference {
            name: "Money".into(),
            subject: target.into(),
            version,
        }];
        let mut request = input(&s, &order);
        request.references = &bad;
        assert_eq!(
            code(world.register_input(&request)),
            ErrorCode::InvalidSchema,
            "{target} {version}"
        );
    }
    // The referenced version cannot be deleted, softly or for good, nor its subject.
    assert_eq!(
        code(world.delete_version("money", 1, false)),
        ErrorCode::ReferenceExists
    );
    assert_eq!(
        code(world.delete_subject("money", false)),
        ErrorCode::ReferenceExists
    );
}

#[test]
fn deletes_go_soft_then_permanent() {
    let mut world = World::new();
    world.level("s", CompatibilityLevel::None);
    world.register("s", A1).expect("v1");
    world
        .register("s", &record("B", &[("y", "int")]))
        .expect("v2");
    // (operation, expected)
    assert_eq!(
        code(world.delete_version("s", 1, true)),
        ErrorCode::VersionNotSoftDeleted
    );
    assert_eq!(world.delete_version("s", 1, false).expect("soft"), v(1));
    assert_eq!(
        code(world.delete_version("s", 1, false)),
        ErrorCode::VersionSoftDeleted
    );
    assert_eq!(
        code(world.delete_version("s", 7, false)),
        ErrorCode::VersionNotFound
    );
    assert_eq!(
        code(world.delete_subject("s", true)),
        ErrorCode::SubjectNotSoftDeleted
    );
    assert_eq!(world.delete_subject("s", false).expect("soft"), vec![v(2)]);
    assert_eq!(
        code(world.delete_subject("s", false)),
        ErrorCode::SubjectSoftDeleted
    );
    assert_eq!(
        world.delete_subject("s", true).expect("permanent"),
        vec![v(1), v(2)]
    );
    assert_eq!(
        code(world.delete_subject("s", false)),
        ErrorCode::SubjectNotFound
    );
    assert_eq!(
        code(world.delete_subject("nobody", false)),
        ErrorCode::SubjectNotFound
    );
    // A permanent delete forgets the subject's config too.
    assert!(world
        .state
        .settings(&Scope::Subject(subject("s")))
        .is_none_or(|s| s.config.is_none()));
    // READONLY refuses deletes.
    world.register("r", A1).expect("registers");
    world
        .mode(Scope::Global, Mode::ReadOnly, false)
        .expect("mode");
    assert_eq!(
        code(world.delete_subject("r", false)),
        ErrorCode::OperationNotPermitted
    );
}

#[test]
fn config_updates_merge_and_deletes_answer_what_was_there() {
    let mut world = World::new();
    let scope = Scope::Subject(subject("s"));
    world.config(
        scope.clone(),
        StoredConfig {
            compatibility: Some(CompatibilityLevel::Full),
            normalize: Some(true),
            ..StoredConfig::default()
        },
    );
    world.config(
        scope.clone(),
        StoredConfig {
            compatibility_group: Some("major".into()),
            ..StoredConfig::default()
        },
    );
    let merged = world.state.effective_config(&subject("s"));
    assert_eq!(merged.compatibility, Some(CompatibilityLevel::Full));
    assert_eq!(merged.normalize, Some(true));
    assert_eq!(merged.compatibility_group.as_deref(), Some("major"));
    let decision = config::delete(&world.state, &world.settings, &scope);
    let removed = world.take(decision).expect("deleted");
    assert_eq!(removed.compatibility, Some(CompatibilityLevel::Full));
    let missing = config::delete(&world.state, &world.settings, &scope);
    assert_eq!(code(missing), ErrorCode::SubjectNotFound);
    // Global always has a config: deleting it answers the default level.
    let global = config::delete(&world.state, &world.settings, &Scope::Global).expect("plans");
    assert_eq!(
        global.answer().compatibility,
        Some(CompatibilityLevel::Backward)
    );
    assert_eq!(
        code(mode::delete(&world.state, &scope)),
        ErrorCode::SubjectNotFound
    );
}

#[test]
fn contexts_are_deleted_only_when_empty() {
    let mut world = World::new();
    let staging = ContextName::parse(".staging").expect("valid");
    assert_eq!(
        code(context::delete(&world.state, &staging)),
        ErrorCode::SubjectNotFound
    );
    world.register(":.staging:s", A1).expect("registers");
    assert_eq!(
        code(context::delete(&world.state, &staging)),
        ErrorCode::ContextNotEmpty
    );
    let mut empty = World::new();
    let scope = Scope::Context(staging.clone());
    empty.config(
        scope.clone(),
        StoredConfig {
            compatibility: Some(CompatibilityLevel::None),
            ..StoredConfig::default()
        },
    );
    empty.mode(scope, Mode::ReadOnly, false).expect("mode");
    // Config first, then mode, then nothing left to do.
    let steps: Vec<bool> = (0..3)
        .map(|_| {
            let decision = context::delete(&empty.state, &staging);
            empty.take(decision).expect("a step")
        })
        .collect();
    assert_eq!(steps, vec![true, true, false]);
}

fn rules(names: &[&str]) -> Value {
    let rules: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "true"}))
        .collect();
    json!({ "domainRules": rules })
}

fn rule_names(rule_set: &Option<Value>) -> Vec<String> {
    rule_set
        .as_ref()
        .and_then(|r| r["domainRules"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_new_version_merges_defaults_its_own_or_the_previous_contract_and_overrides() {
    let mut world = World::new();
    // Defaults from the global config, overrides from the context's, one more from the subject's:
    // each key resolves subject, then context, then global.
    world.config(
        Scope::Global,
        StoredConfig {
            default_metadata: Some(json!({"properties": {"owner": "platform", "tier": "bronze"}})),
            default_rule_set: Some(rules(&["fromDefault"])),
            ..StoredConfig::default()
        },
    );
    world.config(
        Scope::Context(ContextName::parse(".team").expect("context")),
        StoredConfig {
            override_metadata: Some(json!({"properties": {"tier": "gold"}})),
            ..StoredConfig::default()
        },
    );
    world.config(
        Scope::Subject(subject(":.team:orders")),
        StoredConfig {
            override_rule_set: Some(rules(&["fromOverride"])),
            ..StoredConfig::default()
        },
    );
    let orders = subject(":.team:orders");
    let text = record("Order", &[("id", "long")]);
    let own_metadata = json!({"properties": {"owner": "payments"}});
    let own_rules = rules(&["mine"]);
    let mut first = input(&orders, &text);
    first.metadata = Some(&own_metadata);
    first.rule_set = Some(&own_rules);
    let v1 = world.register_input(&first).expect("registers");
    let properties = &v1.metadata.as_ref().expect("metadata")["properties"];
    assert_eq!(
        properties["owner"], "payments",
        "the request's own beats the default"
    );
    assert_eq!(properties["tier"], "gold", "the override beats everything");
    assert!(properties.get("confluent:version").is_none());
    assert_eq!(
        rule_names(&v1.rule_set),
        ["fromDefault", "mine", "fromOverride"]
    );

    // The same request again is the same version, found through the merge.
    let again = world.register_input(&first).expect("registers");
    assert_eq!((again.id, again.version), (v1.id, v1.version));

    // A version without a contract of its own carries the previous one's.
    let text2 = json!({"type": "record", "name": "Order", "fields": [
        {"name": "id", "type": "long"}, {"name": "note", "type": "string", "default": ""}]})
    .to_string();
    let second = input(&orders, &text2);
    let v2 = world.register_input(&second).expect("registers");
    assert_eq!(v2.version, v(2));
    assert_eq!(
        v2.metadata.as_ref().expect("metadata")["properties"]["owner"],
        "payments"
    );
    assert_eq!(
        rule_names(&v2.rule_set),
        ["fromDefault", "mine", "fromOverride"]
    );

    // Another subject gets only the global defaults.
    let plain = world.register("plain", &text).expect("registers");
    assert_eq!(
        plain
            .metadata
            .as_ref()
            .map(|m| m["properties"]["owner"].clone()),
        Some(json!("platform"))
    );
}

#[test]
fn contract_of_writes_the_version_only_when_asked() {
    let config = StoredConfig::default();
    let own = json!({"properties": {"a": "1"}});
    let (metadata, _) = register::contract_of(&config, Some(&own), None, None, Some((v(3), false)));
    assert!(metadata.expect("metadata")["properties"]
        .get("confluent:version")
        .is_none());
    let (metadata, _) = register::contract_of(&config, Some(&own), None, None, Some((v(3), true)));
    assert_eq!(
        metadata.expect("metadata")["properties"]["confluent:version"],
        "3"
    );
    let asked = json!({"properties": {"confluent:version": "1"}});
    let (metadata, _) =
        register::contract_of(&config, Some(&asked), None, None, Some((v(4), false)));
    assert_eq!(
        metadata.expect("metadata")["properties"]["confluent:version"],
        "4"
    );
    // Nothing in, nothing out.
    assert_eq!(
        register::contract_of(&config, None, None, None, None),
        (None, None)
    );
}

/// A log written before semantic versions: its versions keep none, and the first version
/// registered after the upgrade starts the subject's numbering at 1.0.0, saying why.
#[test]
fn versions_from_before_semantic_versions_keep_none() {
    let mut world = World::new();
    for (offset, line) in include_str!("../../../fixtures/storage/v4.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let stored = crate::persist::Stored::read(offset as u64, line.as_bytes()).expect("reads");
        world
            .state
            .apply(stored.offset, &stored.record, stored.hash);
    }
    let orders = subject("orders-value");
    let before: Vec<Version> = world
        .state
        .subject(&orders)
        .expect("orders")
        .visible(false)
        .map(|(v, _)| v)
        .collect();
    assert!(!before.is_empty());
    assert!(world
        .state
        .subject(&orders)
        .expect("orders")
        .semvers
        .is_empty());
    let (_, entry) = world
        .state
        .subject(&orders)
        .expect("orders")
        .visible(false)
        .next_back()
        .expect("a live version");
    let latest = world
        .state
        .stored(orders.context(), entry.id)
        .expect("stored")
        .schema()
        .into_owned();
    let mut next: Value = serde_json::from_str(&latest).expect("json");
    next["fields"]
        .as_array_mut()
        .expect("fields")
        .push(json!({"name": "note", "type": "string", "default": ""}));
    let text = next.to_string();
    let registered = world.register("orders-value", &text).expect("registers");
    let semver = world
        .state
        .subject(&orders)
        .expect("orders")
        .semvers
        .get(&registered.version)
        .cloned()
        .expect("a semantic version");
    assert_eq!(semver.version, "1.0.0");
    assert!(
        semver.reasons[0].contains("before semantic versions"),
        "{semver:?}"
    );
    // The earlier versions are unchanged.
    for version in before {
        assert!(!world
            .state
            .subject(&orders)
            .expect("orders")
            .semvers
            .contains_key(&version));
    }
}
