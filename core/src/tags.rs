//! Schema tags (`confluent:tags`) written into a schema's text, as Confluent's
//! `POST /subjects/{s}/versions/{v}/tags` does: on an Avro record or field object, on a JSON
//! Schema node. Pure: text in, text out.

use serde_json::{Map, Value};

/// The member tags are kept in.
pub const TAGS: &str = "confluent:tags";

/// What a tag is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityType {
    /// A record (Avro) or an object node (JSON Schema): `sr_record`.
    Record,
    /// A field: `sr_field`.
    Field,
}

impl EntityType {
    /// Reads Confluent's name for it.
    pub fn parse(name: &str) -> Option<EntityType> {
        match name {
            "sr_record" => Some(EntityType::Record),
            "sr_field" => Some(EntityType::Field),
            _ => None,
        }
    }
}

/// Tags for one entity of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityTags {
    /// The entity's path, without a leading `.`: `[namespace.]Record` or
    /// `[namespace.]Record.field` in Avro, `object.property[.…]` in JSON Schema.
    pub path: String,
    /// Record or field.
    pub entity: EntityType,
    /// The tags.
    pub tags: Vec<String>,
}

/// Why tags could not be applied.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The path names nothing in the schema.
    #[error("No matching path '{0}' found in the schema")]
    NoMatch(String),
    /// The schema text is not JSON.
    #[error("the schema is not JSON: {0}")]
    NotJson(String),
}

/// Adds then removes tags in an Avro schema's text.
pub fn avro(text: &str, add: &[EntityTags], remove: &[EntityTags]) -> Result<String, TagError> {
    let mut root: Value =
        serde_json::from_str(text).map_err(|e| TagError::NotJson(e.to_string()))?;
    for (tags, adding) in add
        .iter()
        .map(|t| (t, true))
        .chain(remove.iter().map(|t| (t, false)))
    {
        let node =
            avro_entity(&mut root, tags).ok_or_else(|| TagError::NoMatch(tags.path.clone()))?;
        edit(node, &tags.tags, adding);
    }
    Ok(root.to_string())
}

/// Adds then removes tags in a JSON Schema's text.
pub fn json(text: &str, add: &[EntityTags], remove: &[EntityTags]) -> Result<String, TagError> {
    let mut root: Value =
        serde_json::from_str(text).map_err(|e| TagError::NotJson(e.to_string()))?;
    for (tags, adding) in add
        .iter()
        .map(|t| (t, true))
        .chain(remove.iter().map(|t| (t, false)))
    {
        let node = json_entity(&mut root, &tags.path)
            .ok_or_else(|| TagError::NoMatch(tags.path.clone()))?;
        edit(node, &tags.tags, adding);
    }
    Ok(root.to_string())
}

/// Unites (or takes away) `tags` with the node's `confluent:tags`, in insertion order; an
/// empty list is removed.
fn edit(node: &mut Map<String, Value>, tags: &[String], adding: bool) {
    let mut current: Vec<String> = node
        .get(TAGS)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for tag in tags {
        if adding {
            if !current.contains(tag) {
                current.push(tag.clone());
            }
        } else {
            current.retain(|t| t != tag);
        }
    }
    if current.is_empty() {
        node.remove(TAGS);
    } else {
        node.insert(
            TAGS.into(),
            Value::Array(current.into_iter().map(Value::String).collect()),
        );
    }
}

/// The Avro record (or field) a path names, searched breadth-first through unions, fields,
/// array items, map values and nested types. A path without a namespace matches a record of
/// that name in any namespace.
fn avro_entity<'v>(root: &'v mut Value, tags: &EntityTags) -> Option<&'v mut Map<String, Value>> {
    let (record_path, field) = match tags.entity {
        EntityType::Record => (tags.path.as_str(), None),
        EntityType::Field => {
            let (record, field) = tags.path.rsplit_once('.')?;
            (record, Some(field))
        }
    };
    let location = find_record(root, record_path)?;
    let record = walk(root, &location)?.as_object_mut()?;
    match field {
        None => Some(record),
        Some(field) => record
            .get_mut("fields")?
            .as_array_mut()?
            .iter_mut()
            .find(|f| f.get("name").and_then(Value::as_str) == Some(field))?
            .as_object_mut(),
    }
}

/// A step from a JSON value to one inside it.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn walk<'v>(mut value: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    for step in steps {
        value = match step {
            Step::Key(key) => value.get_mut(key)?,
            Step::Index(index) => value.get_mut(*index)?,
        };
    }
    Some(value)
}

fn find_record(root: &Value, wanted: &str) -> Option<Vec<Step>> {
    let (wanted_namespace, wanted_name) = match wanted.rsplit_once('.') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, wanted),
    };
    let mut queue = std::collections::VecDeque::new();
    queue.push_back((root, Vec::<Step>::new(), String::new()));
    while let Some((value, path, namespace)) = queue.pop_front() {
        match value {
            Value::Array(branches) => {
                for (i, branch) in branches.iter().enumerate() {
                    let mut next = path.clone();
                    next.push(Step::Index(i));
                    queue.push_back((branch, next, namespace.clone()));
                }
            }
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str);
                let name = map.get("name").and_then(Value::as_str);
                let own_namespace = match (map.get("namespace").and_then(Value::as_str), name) {
                    (Some(ns), _) => ns.to_string(),
                    (None, Some(name)) if name.contains('.') => name
                        .rsplit_once('.')
                        .map(|(ns, _)| ns.to_string())
                        .unwrap_or_default(),
                    _ => namespace.clone(),
                };
                if kind == Some("record") {
                    if let Some(name) = name {
                        let short = name.rsplit('.').next().unwrap_or(name);
                        let namespace_fits = match wanted_namespace {
                            None => true,
                            Some(ns) => ns == own_namespace,
                        };
                        if short == wanted_name && namespace_fits {
                            return Some(path);
                        }
                    }
                    if let Some(fields) = map.get("fields").and_then(Value::as_array) {
                        for (i, field) in fields.iter().enumerate() {
                            let mut next = path.clone();
                            next.extend([
                                Step::Key("fields".into()),
                                Step::Index(i),
                                Step::Key("type".into()),
                            ]);
                            queue.push_back((field.get("type")?, next, own_namespace.clone()));
                        }
                    }
                }
                for key in ["items", "values"] {
                    if let Some(inner) = map.get(key) {
                        let mut next = path.clone();
                        next.push(Step::Key(key.into()));
                        queue.push_back((inner, next, own_namespace.clone()));
                    }
                }
                if kind != Some("record") {
                    if let Some(inner @ (Value::Object(_) | Value::Array(_))) = map.get("type") {
                        let mut next = path.clone();
                        next.push(Step::Key("type".into()));
                        queue.push_back((inner, next, own_namespace.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The JSON Schema node a path names: `object` is the current object node, then each token
/// is a property (names with dots are matched by joining tokens), or `array` (its `items`),
/// `definitions`/`$defs` and a name, `anyof`/`allof`/`oneof` and an index, `not`, or
/// `if`/`then`/`else`.
fn json_entity<'v>(root: &'v mut Value, path: &str) -> Option<&'v mut Map<String, Value>> {
    let tokens: Vec<&str> = path.split('.').collect();
    let mut steps = Vec::new();
    let mut node: &Value = root;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        match token {
            "object" => {}
            "array" => {
                node = node.get("items")?;
                steps.push(Step::Key("items".into()));
            }
            "not" | "if" | "then" | "else" => {
                node = node.get(token)?;
                steps.push(Step::Key(token.into()));
            }
            "anyof" | "allof" | "oneof" => {
                let key = match token {
                    "anyof" => "anyOf",
                    "allof" => "allOf",
                    _ => "oneOf",
                };
                i += 1;
                let index: usize = tokens.get(i)?.parse().ok()?;
                node = node.get(key)?.get(index)?;
                steps.extend([Step::Key(key.into()), Step::Index(index)]);
            }
            "definitions" | "$defs" => {
                i += 1;
                let name = *tokens.get(i)?;
                node = node.get(token)?.get(name)?;
                steps.extend([Step::Key(token.into()), Step::Key(name.into())]);
            }
            _ => {
                // A property, possibly with dots in its name: the longest run of tokens that
                // names one.
                let properties = node.get("properties")?.as_object()?;
                let mut matched = None;
                for end in (i..tokens.len()).rev() {
                    let name = tokens[i..=end].join(".");
                    if properties.contains_key(&name) {
                        matched = Some((name, end));
                        break;
                    }
                }
                let (name, end) = matched?;
                node = properties.get(&name)?;
                steps.extend([Step::Key("properties".into()), Step::Key(name)]);
                i = end;
            }
        }
        i += 1;
    }
    walk(root, &steps)?.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(path: &str, entity: EntityType, tags: &[&str]) -> EntityTags {
        EntityTags {
            path: path.into(),
            entity,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn avro_records_and_fields() {
        let schema = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"card","type":{"type":"record","name":"Card","fields":[{"name":"number","type":"string","confluent:tags":["OLD"]}]}},{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"}]}}}]}"#;
        let out = avro(
            schema,
            &[
                tags("shop.Order", EntityType::Record, &["ORDER"]),
                tags("Card.number", EntityType::Field, &["PII", "OLD"]),
                tags("shop.Line.sku", EntityType::Field, &["SKU"]),
            ],
            &[tags("Card.number", EntityType::Field, &["OLD"])],
        )
        .expect("applies");
        let value: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["confluent:tags"], serde_json::json!(["ORDER"]));
        assert_eq!(
            value["fields"][1]["type"]["fields"][0]["confluent:tags"],
            serde_json::json!(["PII"])
        );
        assert_eq!(
            value["fields"][2]["type"]["items"]["fields"][0]["confluent:tags"],
            serde_json::json!(["SKU"])
        );
        let cleared = avro(
            &out,
            &[],
            &[tags("shop.Order", EntityType::Record, &["ORDER"])],
        )
        .expect("applies");
        assert!(!cleared.contains("ORDER"));
        assert_eq!(
            avro(
                schema,
                &[tags("other.Order", EntityType::Record, &["X"])],
                &[]
            ),
            Err(TagError::NoMatch("other.Order".into()))
        );
        assert_eq!(
            avro(
                schema,
                &[tags("Order.nope", EntityType::Field, &["X"])],
                &[]
            ),
            Err(TagError::NoMatch("Order.nope".into()))
        );
    }

    #[test]
    fn json_nodes() {
        let schema = r#"{"type":"object","properties":{"ssn":{"type":"string"},"a.b":{"type":"integer"},"list":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}}},"$defs":{"Money":{"type":"object","properties":{"units":{"type":"integer"}}}}}"#;
        let out = json(
            schema,
            &[
                tags("object.ssn", EntityType::Field, &["PII"]),
                tags("object.a.b", EntityType::Field, &["DOTTED"]),
                tags("object.list.array.object.x", EntityType::Field, &["DEEP"]),
                tags(
                    "object.$defs.Money.object.units",
                    EntityType::Field,
                    &["MONEY"],
                ),
                tags("object", EntityType::Record, &["ROOT"]),
            ],
            &[],
        )
        .expect("applies");
        let value: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            value["properties"]["ssn"]["confluent:tags"],
            serde_json::json!(["PII"])
        );
        assert_eq!(
            value["properties"]["a.b"]["confluent:tags"],
            serde_json::json!(["DOTTED"])
        );
        assert_eq!(
            value["properties"]["list"]["items"]["properties"]["x"]["confluent:tags"],
            serde_json::json!(["DEEP"])
        );
        assert_eq!(
            value["$defs"]["Money"]["properties"]["units"]["confluent:tags"],
            serde_json::json!(["MONEY"])
        );
        assert_eq!(value["confluent:tags"], serde_json::json!(["ROOT"]));
        assert!(json(
            schema,
            &[tags("object.missing", EntityType::Field, &["X"])],
            &[]
        )
        .is_err());
    }
}
