//! The engine, without a registry: every mode × kind × action of every rule type, run on JSON
//! values (walks of the other formats are tested in `values`' own tests).

use std::sync::Mutex;

use serde_json::{json, Value as Json};

use super::encrypt::{Cipher, DekAlgorithm, KeyRequest, KeyRing};
use super::values::JsonRules;
use super::*;

const SCHEMA: &str = r#"{"type":"object","properties":{
    "name":{"type":"string","confluent:tags":["PII"]},
    "age":{"type":"integer"},
    "ssn":{"type":"string"}}}"#;

fn event() -> Json {
    json!({"name": "alice", "age": 30, "ssn": "123"})
}

#[derive(Default)]
struct Letters(Mutex<Vec<DeadLetter>>);

impl DeadLetterQueue for Letters {
    fn send(&self, letter: DeadLetter) {
        self.0.lock().expect("lock").push(letter);
    }
}

struct Setup {
    letters: Arc<Letters>,
    config: RuleConfig,
    keys: KeyRing,
}

fn setup() -> Setup {
    let letters = Arc::new(Letters::default());
    let config = RuleConfig::default().dead_letter_queue(letters.clone());
    let keys = KeyRing::default();
    let key = DekAlgorithm::Aes256Gcm.generate().expect("key");
    keys.insert(
        &KeyRequest {
            kek: "kek1".into(),
            subject: "orders-value".into(),
            algorithm: DekAlgorithm::Aes256Gcm,
            version: None,
            rule: String::new(),
        },
        1,
        i64::MAX / 2,
        Cipher::new(DekAlgorithm::Aes256Gcm, &key).expect("cipher"),
    );
    Setup {
        letters,
        config,
        keys,
    }
}

fn compile(setup: &Setup, rule_set: Json, metadata: Option<Json>) -> Arc<CompiledRules> {
    CompiledRules::compile(
        &setup.config,
        Some(&rule_set),
        metadata.as_ref(),
        Side::Both,
    )
    .expect("compiles")
    .expect("has rules")
}

fn run(
    setup: &Setup,
    rules: &CompiledRules,
    migration: bool,
    mode: Mode,
    value: &mut Json,
) -> Result<(), Stop> {
    let schema = JsonRules::new(serde_json::from_str(SCHEMA).expect("schema"));
    let phase = if migration {
        &rules.migration
    } else {
        &rules.domain
    };
    let event = Event {
        topic: "orders",
        subject: Some("orders-value"),
        is_key: false,
        payload: None,
    };
    run_value(rules, phase, mode, value, &schema, &setup.keys, &event)
}

/// One rule of each type that passes (and, for transforms, changes the event) and one that
/// fails.
fn rule(rule_type: &str, kind: &str, passes: bool) -> Json {
    let (expr, tags, params) = match (rule_type, kind, passes) {
        ("CEL", "CONDITION", true) => ("message.age > 18", json!([]), json!({})),
        ("CEL", "CONDITION", false) => ("message.age > 40", json!([]), json!({})),
        ("CEL", "TRANSFORM", true) => (
            r#"{"name": message.name, "age": message.age + 1, "ssn": message.ssn}"#,
            json!([]),
            json!({}),
        ),
        ("CEL", "TRANSFORM", false) => ("message.missing + 1", json!([]), json!({})),
        ("CEL_FIELD", "CONDITION", true) => ("value.size() > 2", json!(["PII"]), json!({})),
        ("CEL_FIELD", "CONDITION", false) => ("value.size() > 9", json!(["PII"]), json!({})),
        ("CEL_FIELD", "TRANSFORM", true) => (r#"value + "!""#, json!(["PII"]), json!({})),
        ("CEL_FIELD", "TRANSFORM", false) => ("value + 1", json!(["PII"]), json!({})),
        ("JSONATA", "TRANSFORM", true) => {
            (r#"$merge([$, {"age": age + 1}])"#, json!([]), json!({}))
        }
        ("JSONATA", "TRANSFORM", false) => ("$nosuchfunction(age)", json!([]), json!({})),
        ("ENCRYPT", "TRANSFORM", true) => ("", json!(["PII"]), json!({"encrypt.kek.name": "kek1"})),
        // An integer cannot be encrypted.
        ("ENCRYPT", "TRANSFORM", false) => ("", json!([]), json!({"encrypt.kek.name": "kek1"})),
        _ => unreachable_rule(),
    };
    let mut rule =
        json!({"name": "r", "kind": kind, "type": rule_type, "tags": tags, "params": params});
    if !expr.is_empty() {
        rule["expr"] = json!(expr);
    }
    rule
}

#[allow(clippy::panic)]
fn unreachable_rule() -> (&'static str, Json, Json) {
    panic!("no such rule in the table")
}

/// What a run did.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The event went on, changed or not.
    Passed { changed: bool },
    /// The event was refused (and dead-lettered, or not).
    Refused { dead_lettered: bool },
}

#[test]
fn every_mode_kind_and_action_of_every_domain_rule_type() {
    let types = [
        ("CEL", vec!["CONDITION", "TRANSFORM"]),
        ("CEL_FIELD", vec!["CONDITION", "TRANSFORM"]),
        ("JSONATA", vec!["TRANSFORM"]),
        ("ENCRYPT", vec!["TRANSFORM"]),
    ];
    let mut cases = 0;
    for (rule_type, kinds) in types {
        for kind in kinds {
            for rule_mode in ["WRITE", "READ", "WRITEREAD"] {
                for mode in [Mode::Write, Mode::Read] {
                    // ENCRYPT on read decrypts: its write half is what the table checks.
                    if rule_type == "ENCRYPT" && mode == Mode::Read {
                        continue;
                    }
                    for passes in [true, false] {
                        for action in ["NONE", "ERROR", "DLQ"] {
                            let setup = setup();
                            let mut rule = rule(rule_type, kind, passes);
                            rule["mode"] = json!(rule_mode);
                            rule[if passes { "onSuccess" } else { "onFailure" }] = json!(action);
                            let rules = compile(&setup, json!({"domainRules": [rule]}), None);
                            let mut value = event();
                            let outcome = run(&setup, &rules, false, mode, &mut value);
                            let runs = match rule_mode {
                                "WRITE" => mode == Mode::Write,
                                "READ" => mode == Mode::Read,
                                _ => true,
                            };
                            let seen = match outcome {
                                Ok(()) => Seen::Passed {
                                    changed: value != event(),
                                },
                                Err(Stop::Refused(error)) => {
                                    assert_eq!(error.rule, "r");
                                    assert_eq!(error.mode, mode);
                                    Seen::Refused {
                                        dead_lettered: error.dead_lettered,
                                    }
                                }
                                Err(Stop::NeedKey(request)) => panic!("asked for {request}"),
                            };
                            let transforms = kind == "TRANSFORM";
                            let expected = if !runs {
                                Seen::Passed { changed: false }
                            } else {
                                match (passes, action) {
                                    (_, "ERROR") => Seen::Refused {
                                        dead_lettered: false,
                                    },
                                    (_, "DLQ") => Seen::Refused {
                                        dead_lettered: true,
                                    },
                                    (true, _) => Seen::Passed {
                                        changed: transforms,
                                    },
                                    // A failure let through leaves the event as it was.
                                    (false, _) => Seen::Passed { changed: false },
                                }
                            };
                            let context = format!(
                                "{rule_type} {kind} mode {rule_mode} on {mode}, passes {passes}, action {action}"
                            );
                            assert_eq!(seen, expected, "{context}");
                            let letters = setup.letters.0.lock().expect("lock");
                            let dead = matches!(
                                expected,
                                Seen::Refused {
                                    dead_lettered: true
                                }
                            );
                            assert_eq!(letters.len(), usize::from(dead), "{context}");
                            if dead {
                                assert_eq!(letters[0].topic, "orders");
                                assert_eq!(letters[0].value, Some(event()), "{context}");
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    // Five domain (type, kind) pairs on both directions, ENCRYPT's on write.
    assert_eq!(cases, 5 * 3 * 2 * 2 * 3 + 3 * 2 * 3);
}

#[test]
fn every_migration_mode_and_action() {
    let upgrade = json!({"name": "up", "kind": "TRANSFORM", "type": "JSONATA",
        "expr": r#"{"name": name, "age": age, "social": ssn}"#});
    for rule_mode in ["UPGRADE", "DOWNGRADE", "UPDOWN", "WRITEREAD"] {
        for mode in [Mode::Upgrade, Mode::Downgrade] {
            let setup = setup();
            let mut rule = upgrade.clone();
            rule["mode"] = json!(rule_mode);
            let rules = compile(&setup, json!({"migrationRules": [rule]}), None);
            let mut value = event();
            run(&setup, &rules, true, mode, &mut value)
                .map_err(Error::from)
                .expect("runs");
            let runs = match rule_mode {
                "UPGRADE" => mode == Mode::Upgrade,
                "DOWNGRADE" => mode == Mode::Downgrade,
                "UPDOWN" => true,
                _ => false,
            };
            let expected = if runs {
                json!({"name": "alice", "age": 30, "social": "123"})
            } else {
                event()
            };
            assert_eq!(value, expected, "{rule_mode} on {mode}");
        }
    }
    // A failing migration under each action.
    for (action, refused) in [("NONE", false), ("ERROR", true), ("DLQ", true)] {
        let setup = setup();
        let rule = json!({"name": "bad", "kind": "TRANSFORM", "type": "JSONATA", "mode": "UPGRADE",
            "expr": "$nosuchfunction()", "onFailure": action});
        let rules = compile(&setup, json!({"migrationRules": [rule]}), None);
        let mut value = event();
        let outcome = run(&setup, &rules, true, Mode::Upgrade, &mut value);
        assert_eq!(outcome.is_err(), refused, "{action}");
        assert_eq!(value, event());
    }
}

#[test]
fn actions_split_per_direction_and_overrides_win() {
    let setup = setup();
    let rule = json!({"name": "c", "kind": "CONDITION", "type": "CEL", "mode": "WRITEREAD",
        "expr": "message.age > 40", "onFailure": "ERROR,NONE"});
    let rules = compile(&setup, json!({"domainRules": [rule.clone()]}), None);
    assert!(run(&setup, &rules, false, Mode::Write, &mut event()).is_err());
    assert!(run(&setup, &rules, false, Mode::Read, &mut event()).is_ok());
    // An override turns every CEL rule off.
    let config = setup.config.clone().override_type(
        "CEL",
        RuleOverride {
            disabled: Some(true),
            ..RuleOverride::default()
        },
    );
    assert!(CompiledRules::compile(
        &config,
        Some(&json!({"domainRules": [rule.clone()]})),
        None,
        Side::Both
    )
    .expect("compiles")
    .is_none());
    // A disabled rule does not run; enableAt elsewhere turns the set off.
    let mut disabled = rule.clone();
    disabled["disabled"] = json!(true);
    assert!(CompiledRules::compile(
        &setup.config,
        Some(&json!({"domainRules": [disabled]})),
        None,
        Side::Both
    )
    .expect("compiles")
    .is_none());
    let elsewhere = json!({"domainRules": [rule.clone()], "enableAt": "SERVER"});
    assert!(
        CompiledRules::compile(&setup.config, Some(&elsewhere), None, Side::Both)
            .expect("compiles")
            .is_none()
    );
    let here = json!({"domainRules": [rule], "enableAt": "CLIENT"});
    assert!(
        CompiledRules::compile(&setup.config, Some(&here), None, Side::Both)
            .expect("compiles")
            .is_some()
    );
}

#[test]
fn rules_that_cannot_compile_fail_at_once_naming_the_rule() {
    let setup = setup();
    for (rule, needle) in [
        (
            json!({"name": "syntax", "type": "CEL", "kind": "CONDITION", "expr": "message.age >"}),
            "not a CEL expression",
        ),
        (
            json!({"name": "jsonata", "type": "JSONATA", "expr": "$merge([$,"}),
            "not a JSONata expression",
        ),
        (
            json!({"name": "unknown", "type": "NOPE", "expr": "x"}),
            "no executor for rule type `NOPE`",
        ),
        (
            json!({"name": "nokek", "type": "ENCRYPT", "tags": ["PII"]}),
            "no encrypt.kek.name",
        ),
        (
            json!({"name": "alg", "type": "ENCRYPT", "params": {"encrypt.kek.name": "k", "encrypt.dek.algorithm": "DES"}}),
            "unknown encrypt.dek.algorithm",
        ),
        (
            json!({"name": "days", "type": "ENCRYPT", "params": {"encrypt.kek.name": "k", "encrypt.dek.expiry.days": "-1"}}),
            "negative",
        ),
        (
            json!({"name": "action", "type": "CEL", "kind": "CONDITION", "expr": "true", "onFailure": "PAGE"}),
            "no rule action `PAGE`",
        ),
    ] {
        let error = CompiledRules::compile(
            &setup.config,
            Some(&json!({"domainRules": [rule]})),
            None,
            Side::Both,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains(needle), "{error}");
        assert!(error.contains("rule `"), "{error}");
    }
    // DLQ without a queue.
    let error = CompiledRules::compile(
        &RuleConfig::default(),
        Some(&json!({"domainRules": [{"name": "d", "type": "CEL", "kind": "CONDITION", "expr": "true", "onFailure": "DLQ"}]})),
        None,
        Side::Both,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(error.contains("dead-letter queue"), "{error}");
}

#[test]
fn each_side_compiles_only_the_rules_it_runs() {
    // A writer's rule that a reader cannot run (a broken expression, a DLQ the reader has no
    // queue for) does not stop the reader, and the other way round.
    let config = RuleConfig::default();
    let write_only = json!({"domainRules": [{"name": "w", "type": "CEL", "kind": "CONDITION",
        "mode": "WRITE", "expr": "message.x >", "onFailure": "DLQ"}]});
    let compile = |rules: &Json, side| CompiledRules::compile(&config, Some(rules), None, side);
    assert!(compile(&write_only, Side::Reader)
        .expect("a reader ignores it")
        .is_none());
    assert!(compile(&write_only, Side::Writer).is_err());
    let read_only = json!({"domainRules": [{"name": "r", "type": "NOPE", "mode": "READ"}]});
    assert!(compile(&read_only, Side::Writer)
        .expect("a writer ignores it")
        .is_none());
    assert!(compile(&read_only, Side::Reader).is_err());
    let migration = json!({"migrationRules": [{"name": "m", "type": "JSONATA", "mode": "UPGRADE", "expr": "$"}]});
    assert!(compile(&migration, Side::Writer)
        .expect("compiles")
        .is_none());
    assert!(compile(&migration, Side::Reader)
        .expect("compiles")
        .is_some());
}

#[test]
fn errors_name_the_rule_the_field_and_the_expression() {
    let setup = setup();
    let rule = json!({"name": "short-names", "kind": "CONDITION", "type": "CEL_FIELD", "mode": "WRITE",
        "tags": ["PII"], "expr": "value.size() < 3", "doc": "names are short"});
    let rules = compile(&setup, json!({"domainRules": [rule]}), None);
    match run(&setup, &rules, false, Mode::Write, &mut event()) {
        Err(Stop::Refused(error)) => {
            assert_eq!(error.field.as_deref(), Some("$.name"));
            assert_eq!(error.expr.as_deref(), Some("value.size() < 3"));
            let text = error.to_string();
            assert!(
                text.contains("short-names") && text.contains("names are short"),
                "{text}"
            );
        }
        _ => panic!("expected a refusal"),
    }
}

#[test]
fn guards_metadata_tags_and_cel_field_variables() {
    let setup = setup();
    // The guard is false: the condition passes without being evaluated.
    let guarded = json!({"name": "g", "kind": "CONDITION", "type": "CEL", "expr": "message.age > 99 ; false"});
    let rules = compile(&setup, json!({"domainRules": [guarded]}), None);
    assert!(run(&setup, &rules, false, Mode::Write, &mut event()).is_ok());
    // Tags from metadata patterns select fields, and the variables are bound.
    let rule = json!({"name": "v", "kind": "TRANSFORM", "type": "CEL_FIELD", "tags": ["SECRET"],
        "expr": r#"name + ":" + typeName + ":" + fullName + ":" + string(tags.size()) + ":" + string(message.age)"#});
    let rules = compile(
        &setup,
        json!({"domainRules": [rule]}),
        Some(json!({"tags": {"$.ssn": ["SECRET"]}})),
    );
    let mut value = event();
    run(&setup, &rules, false, Mode::Write, &mut value)
        .map_err(Error::from)
        .expect("runs");
    assert_eq!(value["ssn"], json!("ssn:STRING:$.ssn:1:30"));
    assert_eq!(value["name"], json!("alice"), "not tagged SECRET");
}

#[test]
fn encryption_round_trips_and_asks_for_keys_it_lacks() {
    let setup = setup();
    let rule = json!({"name": "enc", "type": "ENCRYPT", "tags": ["PII"],
        "params": {"encrypt.kek.name": "kek1"}});
    let rules = compile(&setup, json!({"domainRules": [rule]}), None);
    let mut value = event();
    run(&setup, &rules, false, Mode::Write, &mut value)
        .map_err(Error::from)
        .expect("encrypts");
    assert_ne!(value["name"], json!("alice"));
    assert_eq!(value["age"], json!(30));
    let mut read = value.clone();
    run(&setup, &rules, false, Mode::Read, &mut read)
        .map_err(Error::from)
        .expect("decrypts");
    assert_eq!(read, event());
    // A reader without the key asks for version 1 (no rotation, so no version prefix).
    let fresh = Setup {
        keys: KeyRing::default(),
        ..setup
    };
    let mut read = value.clone();
    match run(&fresh, &rules, false, Mode::Read, &mut read) {
        Err(Stop::NeedKey(request)) => {
            assert_eq!(request.version, Some(1));
            assert_eq!(request.subject, "orders-value");
        }
        _ => panic!("expected a key request"),
    }
    assert_eq!(read, value, "nothing changed while the key is missing");
}

#[test]
#[ignore]
fn cost_breakdown() {
    use apache_avro::types::Value as Avro;
    use std::time::Instant;
    let record = Avro::Record(
        (0..20)
            .map(|i| {
                let field = match i % 5 {
                    0 => Avro::Long(31 + i as i64),
                    1 => Avro::String(format!("value-{i}")),
                    2 => Avro::Double(0.5),
                    3 => Avro::Boolean(true),
                    _ => Avro::Int(i),
                };
                (format!("f{i}"), field)
            })
            .collect(),
    );
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(record.clone());
    }
    eprintln!("clone {:?}/event", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(record.to_cel());
    }
    eprintln!("to_cel {:?}/event", t.elapsed() / n);
    let cel = cel::Cel::compile("message.f0 >= 0").expect("compiles");
    let rule: Rule = covenant_core::contract::RuleSet::from_json(
        "r",
        &json!({"domainRules": [{"kind": "CONDITION", "type": "CEL", "expr": "message.f0 >= 0"}]}),
    )
    .expect("rules")
    .domain_rules
    .remove(0);
    let schema = values::AvroRules::new(&apache_avro::Schema::Null, &[]);
    let mut v = record.clone();
    let t = Instant::now();
    for _ in 0..n {
        cel.message(&rule, &mut v, &schema)
            .map_err(|_| ())
            .expect("passes");
    }
    eprintln!("condition {:?}/event", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        let mut context = ::cel::Context::with_env(std::sync::Arc::new(::cel::Env::stdlib()));
        std::hint::black_box(&mut context);
    }
    eprintln!("fresh stdlib env {:?}/event", t.elapsed() / n);
}
