//! The migration chain the rule tests and the interop tests share: three major versions of one
//! record, each later one with JSONata UPGRADE and DOWNGRADE rules from its predecessor.

use covenant_client::api::{ConfigSettings, ConfigUpdateRequest, RegisterSchemaRequest};
use covenant_client::Client;
use serde_json::json;

pub const V1: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"name","type":"string"},{"name":"size","type":"int"}]}"#;
pub const V2: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"name","type":"string"},{"name":"height","type":"int"}]}"#;
pub const V3: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"name","type":"string"},{"name":"heightMm","type":"long"}]}"#;

/// Registers v1 → v2 → v3 of `subject` across major versions, each later one with the
/// JSONata UPGRADE and DOWNGRADE rules from its predecessor; the ids of the three.
pub async fn register_chain(client: &Client, subject: &str) -> Vec<i32> {
    client
        .set_config(
            Some(subject),
            &ConfigUpdateRequest {
                settings: ConfigSettings {
                    compatibility_group: Some("application.major.version".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("config");
    let mut ids = Vec::new();
    for (major, schema, rules) in [
        (1, V1, json!(null)),
        (
            2,
            V2,
            json!({"migrationRules": [
            {"name": "sizeToHeight", "kind": "TRANSFORM", "mode": "UPGRADE", "type": "JSONATA",
             "expr": r#"{"name": name, "height": size}"#},
            {"name": "heightToSize", "kind": "TRANSFORM", "mode": "DOWNGRADE", "type": "JSONATA",
             "expr": r#"{"name": name, "size": height}"#}]}),
        ),
        (
            3,
            V3,
            json!({"migrationRules": [
            {"name": "toMm", "kind": "TRANSFORM", "mode": "UPGRADE", "type": "JSONATA",
             "expr": r#"{"name": name, "heightMm": height * 10}"#},
            {"name": "fromMm", "kind": "TRANSFORM", "mode": "DOWNGRADE", "type": "JSONATA",
             "expr": r#"{"name": name, "height": $floor(heightMm / 10)}"#}]}),
        ),
    ] {
        let registered = client
            .register(
                subject,
                &RegisterSchemaRequest {
                    schema: Some(schema.into()),
                    metadata: Some(
                        json!({"properties": {"application.major.version": major.to_string()}}),
                    ),
                    rule_set: (!rules.is_null()).then_some(rules),
                    ..Default::default()
                },
                false,
            )
            .await
            .unwrap_or_else(|e| panic!("v{major}: {e}"));
        ids.push(registered.id);
    }
    ids
}
