//! How each format's values meet the rules: as CEL values (`message`), walked field by field
//! (CEL_FIELD, ENCRYPT), and as JSON (JSONata, the dead-letter queue, migrations).
//!
//! Walks follow Confluent's: Avro fields through unions (the branch the value is in), arrays
//! and maps; JSON Schema properties through `$ref` (local), `allOf` (every branch), `oneOf`
//! (the first that fits), `anyOf` (every one that fits) and `items`; every Protobuf field of a
//! message, nested messages walked with their own descriptor (Confluent's Python client walks
//! them with the parent's), unset `oneof` members and unset optional fields skipped.

use std::collections::HashMap;
use std::sync::Arc;

use ::cel::objects::{Key, Map as CelMap};
use ::cel::Value as Cel;
use apache_avro::schema::{Name, RecordSchema, Schema as AvroSchema};
use apache_avro::types::Value as Avro;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value as Proto,
};
use serde_json::{Map, Number, Value as Json};

use super::field::{Field, FieldType, Scalar};
use super::Failure;

/// What field rules do at each field a walk reaches.
pub(crate) trait Visitor {
    /// Whether the rule selects this field (by its tags).
    fn wants(&self, field: &Field<'_>) -> bool;
    /// Whether the visit reads the containing message (CEL_FIELD's `message`).
    fn needs_message(&self) -> bool;
    /// Visits a selected field's value (`message` is the containing record, when asked for).
    fn visit(
        &mut self,
        field: &Field<'_>,
        message: Option<&Cel>,
        value: &mut Scalar,
    ) -> Result<(), Failure>;
}

/// A format's values, as rules see them.
pub(crate) trait RuleValue: Clone + Send + Sync + 'static {
    /// What a walk needs of the schema the value is shaped by.
    type Schema: Send + Sync;
    /// The value as CEL's `message`.
    fn to_cel(&self) -> Cel;
    /// The value as CEL's `message` with only the top-level `fields` an expression reads (the
    /// others are never looked at, so they are not converted).
    fn to_cel_fields(&self, fields: &[String]) -> Cel {
        let _ = fields;
        self.to_cel()
    }
    /// The value as JSON.
    fn to_json(&self) -> Json;
    /// A value of `schema` (and of the kind of `like`) from JSON: a JSONata or CEL
    /// transform's result.
    fn from_json(json: Json, like: &Self, schema: &Self::Schema) -> Result<Self, String>;
    /// Walks the fields `schema` declares.
    fn walk(&mut self, schema: &Self::Schema, visitor: &mut dyn Visitor) -> Result<(), Failure>;
}

fn cel_map(entries: impl Iterator<Item = (String, Cel)>) -> Cel {
    let map: HashMap<Key, Cel> = entries
        .map(|(key, value)| (Key::String(Arc::new(key)), value))
        .collect();
    Cel::Map(CelMap { map: Arc::new(map) })
}

/// A CEL result as JSON (for transforms that replace a message).
pub(crate) fn cel_to_json(value: &Cel) -> Result<Json, String> {
    Ok(match value {
        Cel::Null => Json::Null,
        Cel::Bool(b) => Json::Bool(*b),
        Cel::Int(i) => Json::from(*i),
        Cel::UInt(u) => Json::from(*u),
        Cel::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Cel::String(s) => Json::String(s.to_string()),
        Cel::Bytes(b) => Json::String(b.iter().map(|&byte| char::from(byte)).collect()),
        Cel::List(items) => Json::Array(items.iter().map(cel_to_json).collect::<Result<_, _>>()?),
        Cel::Map(map) => {
            let mut out = Map::new();
            for (key, value) in map.map.iter() {
                let key = match key {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                out.insert(key, cel_to_json(value)?);
            }
            Json::Object(out)
        }
        other => return Err(format!("a CEL {:?} has no JSON form", other.type_of())),
    })
}

/// A scalar as CEL sees it.
pub(crate) fn scalar_to_cel(value: &Scalar) -> Cel {
    match value {
        Scalar::Null => Cel::Null,
        Scalar::Bool(b) => Cel::Bool(*b),
        Scalar::Int(i) => Cel::Int(*i),
        Scalar::Uint(u) => Cel::UInt(*u),
        Scalar::Float(f) => Cel::Float(*f),
        Scalar::String(s) => Cel::String(Arc::new(s.clone())),
        Scalar::Bytes(b) => Cel::Bytes(Arc::new(b.clone())),
    }
}

/// A CEL result as a scalar (a CEL_FIELD transform's new value).
pub(crate) fn cel_to_scalar(value: Cel) -> Result<Scalar, String> {
    Ok(match value {
        Cel::Null => Scalar::Null,
        Cel::Bool(b) => Scalar::Bool(b),
        Cel::Int(i) => Scalar::Int(i),
        Cel::UInt(u) => Scalar::Uint(u),
        Cel::Float(f) => Scalar::Float(f),
        Cel::String(s) => Scalar::String(Arc::unwrap_or_clone(s)),
        Cel::Bytes(b) => Scalar::Bytes(Arc::unwrap_or_clone(b)),
        other => {
            return Err(format!(
                "the result is a CEL {:?}, not a field value",
                other.type_of()
            ))
        }
    })
}

fn mismatch(field_type: FieldType, value: &Scalar) -> Failure {
    Failure::failed(format!(
        "the rule made {} of a {} field",
        value.kind(),
        field_type.name()
    ))
}

// ---------------------------------------------------------------------------------------
// Avro

/// An Avro schema with its named types and the tags written on its fields.
pub(crate) struct AvroRules {
    schema: AvroSchema,
    names: HashMap<Name, AvroSchema>,
    /// Record name → field name → (`<record full name>.<field>`, inline tags).
    fields: HashMap<Name, HashMap<String, (String, Vec<String>)>>,
}

impl AvroRules {
    /// Collects what walks need from a parsed schema and the schemas it references.
    pub fn new(schema: &AvroSchema, references: &[AvroSchema]) -> AvroRules {
        let mut rules = AvroRules {
            schema: schema.clone(),
            names: HashMap::new(),
            fields: HashMap::new(),
        };
        for each in references.iter().chain(std::iter::once(schema)) {
            rules.collect(each, 0);
        }
        rules
    }

    fn collect(&mut self, schema: &AvroSchema, depth: usize) {
        if depth > 64 {
            return;
        }
        match schema {
            AvroSchema::Record(record) => {
                if self.names.contains_key(&record.name) {
                    return;
                }
                self.names.insert(record.name.clone(), schema.clone());
                let full = record.name.fullname(None);
                let fields = record
                    .fields
                    .iter()
                    .map(|field| {
                        let tags = field
                            .custom_attributes
                            .get(covenant_core::tags::TAGS)
                            .and_then(Json::as_array)
                            .map(|tags| {
                                tags.iter()
                                    .filter_map(|t| t.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (field.name.clone(), (format!("{full}.{}", field.name), tags))
                    })
                    .collect();
                self.fields.insert(record.name.clone(), fields);
                for field in &record.fields {
                    self.collect(&field.schema, depth + 1);
                }
            }
            AvroSchema::Enum(e) => {
                self.names.insert(e.name.clone(), schema.clone());
            }
            AvroSchema::Fixed(f) => {
                self.names.insert(f.name.clone(), schema.clone());
            }
            AvroSchema::Array(array) => self.collect(&array.items, depth + 1),
            AvroSchema::Map(map) => self.collect(&map.types, depth + 1),
            AvroSchema::Union(union) => {
                for variant in union.variants() {
                    self.collect(variant, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn resolve<'a>(&'a self, schema: &'a AvroSchema) -> &'a AvroSchema {
        match schema {
            AvroSchema::Ref { name } => self.names.get(name).unwrap_or(schema),
            other => other,
        }
    }
}

fn avro_type(schema: &AvroSchema) -> FieldType {
    match schema {
        AvroSchema::Record(_) => FieldType::Record,
        AvroSchema::Enum(_) => FieldType::Enum,
        AvroSchema::Array(_) => FieldType::Array,
        AvroSchema::Map(_) => FieldType::Map,
        AvroSchema::Union(_) => FieldType::Combined,
        AvroSchema::Fixed(_) | AvroSchema::Duration(_) => FieldType::Fixed,
        AvroSchema::String | AvroSchema::Uuid(_) => FieldType::String,
        AvroSchema::Bytes | AvroSchema::Decimal(_) | AvroSchema::BigDecimal => FieldType::Bytes,
        AvroSchema::Int | AvroSchema::Date | AvroSchema::TimeMillis => FieldType::Int,
        AvroSchema::Long
        | AvroSchema::TimeMicros
        | AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::TimestampNanos
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros
        | AvroSchema::LocalTimestampNanos => FieldType::Long,
        AvroSchema::Float => FieldType::Float,
        AvroSchema::Double => FieldType::Double,
        AvroSchema::Boolean => FieldType::Boolean,
        _ => FieldType::Null,
    }
}

fn avro_scalar(value: &mut Avro) -> Option<Scalar> {
    Some(match value {
        Avro::Null => Scalar::Null,
        Avro::Boolean(b) => Scalar::Bool(*b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Scalar::Int(i64::from(*i)),
        Avro::Long(i)
        | Avro::TimeMicros(i)
        | Avro::TimestampMillis(i)
        | Avro::TimestampMicros(i)
        | Avro::TimestampNanos(i)
        | Avro::LocalTimestampMillis(i)
        | Avro::LocalTimestampMicros(i)
        | Avro::LocalTimestampNanos(i) => Scalar::Int(*i),
        Avro::Float(f) => Scalar::Float(f64::from(*f)),
        Avro::Double(f) => Scalar::Float(*f),
        Avro::String(s) => Scalar::String(std::mem::take(s)),
        Avro::Enum(_, symbol) => Scalar::String(std::mem::take(symbol)),
        Avro::Bytes(b) | Avro::Fixed(_, b) => Scalar::Bytes(std::mem::take(b)),
        Avro::Uuid(u) => Scalar::String(u.to_string()),
        _ => return None,
    })
}

/// Puts a scalar back where `original` (emptied by [`avro_scalar`]) was, as `schema` says.
fn avro_from_scalar(
    schema: &AvroSchema,
    original: &Avro,
    value: Scalar,
    field_type: FieldType,
) -> Result<Avro, Failure> {
    let int = |value: &Scalar| match value {
        Scalar::Int(i) => Some(*i),
        Scalar::Uint(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    let out = match (schema, &value) {
        (_, Scalar::Null) if matches!(schema, AvroSchema::Null) => Avro::Null,
        (AvroSchema::Boolean, Scalar::Bool(b)) => Avro::Boolean(*b),
        (AvroSchema::String, Scalar::String(s)) => Avro::String(s.clone()),
        (AvroSchema::Uuid(_), Scalar::String(s)) => match original {
            Avro::Uuid(_) => Avro::Uuid(
                s.parse()
                    .map_err(|_| Failure::failed(format!("`{s}` is not a UUID")))?,
            ),
            _ => Avro::String(s.clone()),
        },
        (AvroSchema::Enum(e), Scalar::String(s)) => {
            let index = e
                .symbols
                .iter()
                .position(|symbol| symbol == s)
                .ok_or_else(|| {
                    Failure::failed(format!("`{s}` is not a symbol of enum {}", e.name))
                })?;
            Avro::Enum(index as u32, s.clone())
        }
        (AvroSchema::Bytes, Scalar::Bytes(b)) => Avro::Bytes(b.clone()),
        (AvroSchema::Fixed(f), Scalar::Bytes(b)) if b.len() == f.size => {
            Avro::Fixed(f.size, b.clone())
        }
        (AvroSchema::Float, Scalar::Float(f)) => Avro::Float(*f as f32),
        (AvroSchema::Double, Scalar::Float(f)) => Avro::Double(*f),
        (AvroSchema::Float, v) if int(v).is_some() => Avro::Float(int(v).unwrap_or(0) as f32),
        (AvroSchema::Double, v) if int(v).is_some() => Avro::Double(int(v).unwrap_or(0) as f64),
        (AvroSchema::Int | AvroSchema::Date | AvroSchema::TimeMillis, v) => {
            let i = int(v)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| mismatch(field_type, v))?;
            match original {
                Avro::Date(_) => Avro::Date(i),
                Avro::TimeMillis(_) => Avro::TimeMillis(i),
                _ => Avro::Int(i),
            }
        }
        (AvroSchema::Long, v)
        | (AvroSchema::TimeMicros, v)
        | (AvroSchema::TimestampMillis, v)
        | (AvroSchema::TimestampMicros, v)
        | (AvroSchema::TimestampNanos, v)
        | (AvroSchema::LocalTimestampMillis, v)
        | (AvroSchema::LocalTimestampMicros, v)
        | (AvroSchema::LocalTimestampNanos, v) => {
            let i = int(v).ok_or_else(|| mismatch(field_type, v))?;
            match original {
                Avro::TimeMicros(_) => Avro::TimeMicros(i),
                Avro::TimestampMillis(_) => Avro::TimestampMillis(i),
                Avro::TimestampMicros(_) => Avro::TimestampMicros(i),
                Avro::TimestampNanos(_) => Avro::TimestampNanos(i),
                Avro::LocalTimestampMillis(_) => Avro::LocalTimestampMillis(i),
                Avro::LocalTimestampMicros(_) => Avro::LocalTimestampMicros(i),
                Avro::LocalTimestampNanos(_) => Avro::LocalTimestampNanos(i),
                _ => Avro::Long(i),
            }
        }
        (_, v) => return Err(mismatch(field_type, v)),
    };
    Ok(out)
}

struct AvroField<'a> {
    full_name: &'a str,
    name: &'a str,
    tags: &'a [String],
}

fn walk_avro(
    rules: &AvroRules,
    schema: &AvroSchema,
    value: &mut Avro,
    field: Option<&AvroField<'_>>,
    message: Option<&Cel>,
    visitor: &mut dyn Visitor,
    depth: usize,
) -> Result<(), Failure> {
    if depth > 256 {
        return Err(Failure::failed("the value nests deeper than 256 levels"));
    }
    let schema = rules.resolve(schema);
    match (schema, &mut *value) {
        (AvroSchema::Union(union), Avro::Union(index, inner)) => {
            let Some(variant) = union.variants().get(*index as usize) else {
                return Ok(());
            };
            walk_avro(rules, variant, inner, field, message, visitor, depth + 1)
        }
        (AvroSchema::Array(array), Avro::Array(items)) => {
            for item in items {
                walk_avro(
                    rules,
                    &array.items,
                    item,
                    field,
                    message,
                    visitor,
                    depth + 1,
                )?;
            }
            Ok(())
        }
        (AvroSchema::Map(map), Avro::Map(values)) => {
            for item in values.values_mut() {
                walk_avro(rules, &map.types, item, field, message, visitor, depth + 1)?;
            }
            Ok(())
        }
        (AvroSchema::Record(record), Avro::Record(values)) => {
            walk_record(rules, record, values, visitor, depth)
        }
        (_, Avro::Record(_) | Avro::Array(_) | Avro::Map(_) | Avro::Union(..)) => Ok(()),
        (leaf, leaf_value) => {
            let Some(field) = field else { return Ok(()) };
            let info = Field {
                full_name: field.full_name,
                name: field.name,
                field_type: avro_type(leaf),
                inline_tags: field.tags,
            };
            if !visitor.wants(&info) {
                return Ok(());
            }
            let original = leaf_value.clone();
            let Some(mut scalar) = avro_scalar(leaf_value) else {
                return Ok(());
            };
            let result = visitor.visit(&info, message, &mut scalar);
            // The scalar was taken out of the value: put back what the visit left.
            let restored = avro_from_scalar(leaf, &original, scalar, info.field_type);
            match (result, restored) {
                (Ok(()), Ok(new)) => {
                    *leaf_value = new;
                    Ok(())
                }
                (Err(e), _) => {
                    *leaf_value = original;
                    Err(e.at(field.full_name))
                }
                (Ok(()), Err(e)) => {
                    *leaf_value = original;
                    Err(e.at(field.full_name))
                }
            }
        }
    }
}

fn walk_record(
    rules: &AvroRules,
    record: &RecordSchema,
    values: &mut [(String, Avro)],
    visitor: &mut dyn Visitor,
    depth: usize,
) -> Result<(), Failure> {
    let fields = rules.fields.get(&record.name);
    let message = if visitor.needs_message() {
        Some(avro_record_cel(values))
    } else {
        None
    };
    for (name, value) in values.iter_mut() {
        let Some(schema_field) = record.lookup.get(name).and_then(|&i| record.fields.get(i)) else {
            continue;
        };
        let (full_name, tags) = match fields.and_then(|f| f.get(name)) {
            Some((full, tags)) => (full.as_str(), tags.as_slice()),
            None => ("", &[][..]),
        };
        let field = AvroField {
            full_name,
            name,
            tags,
        };
        walk_avro(
            rules,
            &schema_field.schema,
            value,
            Some(&field),
            message.as_ref(),
            visitor,
            depth + 1,
        )?;
    }
    Ok(())
}

fn avro_record_cel(values: &[(String, Avro)]) -> Cel {
    cel_map(values.iter().map(|(k, v)| (k.clone(), avro_to_cel(v))))
}

fn avro_to_cel(value: &Avro) -> Cel {
    match value {
        Avro::Null => Cel::Null,
        Avro::Boolean(b) => Cel::Bool(*b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Cel::Int(i64::from(*i)),
        Avro::Long(i)
        | Avro::TimeMicros(i)
        | Avro::TimestampMillis(i)
        | Avro::TimestampMicros(i)
        | Avro::TimestampNanos(i)
        | Avro::LocalTimestampMillis(i)
        | Avro::LocalTimestampMicros(i)
        | Avro::LocalTimestampNanos(i) => Cel::Int(*i),
        Avro::Float(f) => Cel::Float(f64::from(*f)),
        Avro::Double(f) => Cel::Float(*f),
        Avro::String(s) | Avro::Enum(_, s) => Cel::String(Arc::new(s.clone())),
        Avro::Bytes(b) | Avro::Fixed(_, b) => Cel::Bytes(Arc::new(b.clone())),
        Avro::Uuid(u) => Cel::String(Arc::new(u.to_string())),
        Avro::Union(_, inner) => avro_to_cel(inner),
        Avro::Array(items) => Cel::List(Arc::new(items.iter().map(avro_to_cel).collect())),
        Avro::Map(map) => cel_map(map.iter().map(|(k, v)| (k.clone(), avro_to_cel(v)))),
        Avro::Record(fields) => avro_record_cel(fields),
        _ => Cel::Null,
    }
}

fn avro_to_json(value: &Avro) -> Json {
    match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(*b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Json::from(*i),
        Avro::Long(i)
        | Avro::TimeMicros(i)
        | Avro::TimestampMillis(i)
        | Avro::TimestampMicros(i)
        | Avro::TimestampNanos(i)
        | Avro::LocalTimestampMillis(i)
        | Avro::LocalTimestampMicros(i)
        | Avro::LocalTimestampNanos(i) => Json::from(*i),
        Avro::Float(f) => Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number),
        Avro::Double(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s.clone()),
        // Avro's JSON encoding: each byte as the code point of the same value.
        Avro::Bytes(b) | Avro::Fixed(_, b) => {
            Json::String(b.iter().map(|&byte| char::from(byte)).collect())
        }
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Union(_, inner) => avro_to_json(inner),
        Avro::Array(items) => Json::Array(items.iter().map(avro_to_json).collect()),
        Avro::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), avro_to_json(v)))
                .collect(),
        ),
        Avro::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), avro_to_json(v)))
                .collect(),
        ),
        _ => Json::Null,
    }
}

fn json_bytes(json: &Json) -> Option<Vec<u8>> {
    json.as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// A value of `schema` from JSON: records by field name (defaults for missing fields),
/// unions by the first branch the JSON fits.
/// Named Avro types by name.
pub(crate) trait AvroNames {
    /// The schema a name (a `Ref`) stands for.
    fn named(&self, name: &Name) -> Option<&AvroSchema>;
}

impl AvroNames for AvroRules {
    fn named(&self, name: &Name) -> Option<&AvroSchema> {
        self.names.get(name)
    }
}

impl AvroNames for HashMap<Name, &AvroSchema> {
    fn named(&self, name: &Name) -> Option<&AvroSchema> {
        self.get(name).copied()
    }
}

/// An Avro value of `schema` from JSON, read by the schema: integers into `int`/`long`,
/// numbers into `float`/`double`, strings into `bytes`/`fixed` by code point (Avro's JSON
/// encoding), a union's value as the first branch it fits, defaults for missing fields.
pub(crate) fn avro_value_from_json(
    names: &dyn AvroNames,
    schema: &AvroSchema,
    json: &Json,
) -> Result<Avro, String> {
    avro_from_json(names, schema, json, 0)
}

fn avro_from_json(
    rules: &dyn AvroNames,
    schema: &AvroSchema,
    json: &Json,
    depth: usize,
) -> Result<Avro, String> {
    if depth > 256 {
        return Err("the value nests deeper than 256 levels".into());
    }
    let schema = match schema {
        AvroSchema::Ref { name } => rules.named(name).unwrap_or(schema),
        other => other,
    };
    let wrong = || format!("{json} does not fit {}", avro_type(schema).name());
    Ok(match schema {
        AvroSchema::Null if json.is_null() => Avro::Null,
        AvroSchema::Boolean => Avro::Boolean(json.as_bool().ok_or_else(wrong)?),
        AvroSchema::Int => Avro::Int(
            json.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(wrong)?,
        ),
        AvroSchema::Date => Avro::Date(
            json.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(wrong)?,
        ),
        AvroSchema::TimeMillis => Avro::TimeMillis(
            json.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(wrong)?,
        ),
        AvroSchema::Long => Avro::Long(json.as_i64().ok_or_else(wrong)?),
        AvroSchema::TimeMicros => Avro::TimeMicros(json.as_i64().ok_or_else(wrong)?),
        AvroSchema::TimestampMillis => Avro::TimestampMillis(json.as_i64().ok_or_else(wrong)?),
        AvroSchema::TimestampMicros => Avro::TimestampMicros(json.as_i64().ok_or_else(wrong)?),
        AvroSchema::TimestampNanos => Avro::TimestampNanos(json.as_i64().ok_or_else(wrong)?),
        AvroSchema::LocalTimestampMillis => {
            Avro::LocalTimestampMillis(json.as_i64().ok_or_else(wrong)?)
        }
        AvroSchema::LocalTimestampMicros => {
            Avro::LocalTimestampMicros(json.as_i64().ok_or_else(wrong)?)
        }
        AvroSchema::LocalTimestampNanos => {
            Avro::LocalTimestampNanos(json.as_i64().ok_or_else(wrong)?)
        }
        AvroSchema::Float => Avro::Float(json.as_f64().ok_or_else(wrong)? as f32),
        AvroSchema::Double => Avro::Double(json.as_f64().ok_or_else(wrong)?),
        AvroSchema::String => Avro::String(json.as_str().ok_or_else(wrong)?.to_string()),
        AvroSchema::Uuid(_) => Avro::Uuid(
            json.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(wrong)?,
        ),
        AvroSchema::Bytes => Avro::Bytes(json_bytes(json).ok_or_else(wrong)?),
        AvroSchema::Fixed(f) => {
            let bytes = json_bytes(json)
                .filter(|b| b.len() == f.size)
                .ok_or_else(wrong)?;
            Avro::Fixed(f.size, bytes)
        }
        AvroSchema::Enum(e) => {
            let symbol = json.as_str().ok_or_else(wrong)?;
            let index = e
                .symbols
                .iter()
                .position(|s| s == symbol)
                .ok_or_else(wrong)?;
            Avro::Enum(index as u32, symbol.to_string())
        }
        AvroSchema::Array(array) => Avro::Array(
            json.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|item| avro_from_json(rules, &array.items, item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        AvroSchema::Map(map) => Avro::Map(
            json.as_object()
                .ok_or_else(wrong)?
                .iter()
                .map(|(k, v)| Ok((k.clone(), avro_from_json(rules, &map.types, v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        AvroSchema::Union(union) => {
            let mut last = wrong();
            for (index, variant) in union.variants().iter().enumerate() {
                match avro_from_json(rules, variant, json, depth + 1) {
                    Ok(value) => return Ok(Avro::Union(index as u32, Box::new(value))),
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
        AvroSchema::Record(record) => {
            let object = json.as_object().ok_or_else(wrong)?;
            let mut fields = Vec::with_capacity(record.fields.len());
            for field in &record.fields {
                let member = match object.get(&field.name) {
                    Some(member) => member,
                    None => field.default.as_ref().ok_or_else(|| {
                        format!(
                            "field `{}` of {} is missing and has no default",
                            field.name, record.name
                        )
                    })?,
                };
                fields.push((
                    field.name.clone(),
                    avro_from_json(rules, &field.schema, member, depth + 1)
                        .map_err(|e| format!("{}: {e}", field.name))?,
                ));
            }
            Avro::Record(fields)
        }
        _ => return Err(wrong()),
    })
}

impl RuleValue for Avro {
    type Schema = AvroRules;

    fn to_cel(&self) -> Cel {
        avro_to_cel(self)
    }

    fn to_cel_fields(&self, fields: &[String]) -> Cel {
        match self {
            Avro::Record(values) => cel_map(
                values
                    .iter()
                    .filter(|(name, _)| fields.contains(name))
                    .map(|(k, v)| (k.clone(), avro_to_cel(v))),
            ),
            other => avro_to_cel(other),
        }
    }

    fn to_json(&self) -> Json {
        avro_to_json(self)
    }

    fn from_json(json: Json, _: &Avro, schema: &AvroRules) -> Result<Avro, String> {
        avro_from_json(schema, &schema.schema, &json, 0)
    }

    fn walk(&mut self, schema: &AvroRules, visitor: &mut dyn Visitor) -> Result<(), Failure> {
        walk_avro(schema, &schema.schema, self, None, None, visitor, 0)
    }
}

// ---------------------------------------------------------------------------------------
// JSON Schema

/// A JSON Schema document, walked with its local `$ref`s.
pub(crate) struct JsonRules {
    root: Json,
}

impl JsonRules {
    /// Walks of values shaped by `root`.
    pub fn new(root: Json) -> JsonRules {
        JsonRules { root }
    }

    fn resolve<'a>(&'a self, reference: &str) -> Option<&'a Json> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(&self.root);
        }
        // Only local JSON pointers are followed (not `$id` anchors or other documents).
        self.root.pointer(pointer)
    }
}

fn json_type(schema: &Json) -> FieldType {
    let Some(object) = schema.as_object() else {
        return FieldType::Combined;
    };
    if object.contains_key("const") || object.contains_key("enum") {
        return FieldType::Enum;
    }
    match object.get("type").and_then(Json::as_str) {
        Some("object") => {
            if object
                .get("properties")
                .and_then(Json::as_object)
                .is_some_and(|p| !p.is_empty())
            {
                FieldType::Record
            } else {
                FieldType::Map
            }
        }
        Some("array") => FieldType::Array,
        Some("string") => FieldType::String,
        Some("integer") => FieldType::Int,
        Some("number") => FieldType::Double,
        Some("boolean") => FieldType::Boolean,
        Some("null") => FieldType::Null,
        _ if object.contains_key("properties") => FieldType::Record,
        _ => FieldType::Null,
    }
}

/// Whether `value` is of a JSON Schema type name.
fn json_is(value: &Json, type_name: &str) -> bool {
    match type_name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// A cheap structural fit, for choosing `oneOf` / `anyOf` branches: the `type`, `const`,
/// `enum` and `required` keywords.
fn json_fits(rules: &JsonRules, schema: &Json, value: &Json, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let Some(object) = schema.as_object() else {
        return schema.as_bool().unwrap_or(false);
    };
    if let Some(reference) = object.get("$ref").and_then(Json::as_str) {
        return rules
            .resolve(reference)
            .is_some_and(|target| json_fits(rules, target, value, depth + 1));
    }
    let typed = match object.get("type") {
        Some(Json::String(name)) => json_is(value, name),
        Some(Json::Array(names)) => names
            .iter()
            .filter_map(Json::as_str)
            .any(|n| json_is(value, n)),
        _ => true,
    };
    let constant = object.get("const").is_none_or(|c| c == value);
    let listed = object
        .get("enum")
        .and_then(Json::as_array)
        .is_none_or(|symbols| symbols.contains(value));
    let required = object
        .get("required")
        .and_then(Json::as_array)
        .is_none_or(|names| {
            names
                .iter()
                .filter_map(Json::as_str)
                .all(|name| value.get(name).is_some())
        });
    typed && constant && listed && (required || !value.is_object())
}

fn json_scalar(value: &mut Json) -> Option<Scalar> {
    Some(match value {
        Json::Null => Scalar::Null,
        Json::Bool(b) => Scalar::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Scalar::Int(i),
            (None, Some(u), _) => Scalar::Uint(u),
            (_, _, Some(f)) => Scalar::Float(f),
            _ => return None,
        },
        Json::String(s) => Scalar::String(std::mem::take(s)),
        _ => return None,
    })
}

fn json_from_scalar(field_type: FieldType, value: Scalar) -> Result<Json, Failure> {
    Ok(match (field_type, value) {
        (_, Scalar::Null) => Json::Null,
        (FieldType::String, Scalar::String(s)) => Json::String(s),
        (FieldType::Enum, Scalar::String(s)) => Json::String(s),
        (FieldType::Enum | FieldType::Int | FieldType::Double, Scalar::Int(i)) => Json::from(i),
        (FieldType::Enum | FieldType::Int | FieldType::Double, Scalar::Uint(u)) => Json::from(u),
        (FieldType::Enum | FieldType::Double, Scalar::Float(f)) => {
            Number::from_f64(f).map_or(Json::Null, Json::Number)
        }
        (FieldType::Int, Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Json::from(f as i64)
        }
        (FieldType::Enum | FieldType::Boolean, Scalar::Bool(b)) => Json::Bool(b),
        (field_type, other) => return Err(mismatch(field_type, &other)),
    })
}

#[allow(clippy::too_many_arguments)]
fn walk_json(
    rules: &JsonRules,
    schema: &Json,
    path: &str,
    value: &mut Json,
    field: Option<(&str, &[String])>,
    message: Option<&Cel>,
    visitor: &mut dyn Visitor,
    depth: usize,
) -> Result<(), Failure> {
    if depth > 256 {
        return Err(Failure::failed(
            "the schema or value nests deeper than 256 levels",
        ));
    }
    if value.is_null() {
        return Ok(());
    }
    let Some(object) = schema.as_object() else {
        return Ok(());
    };
    if let Some(Json::Array(types)) = object.get("type") {
        if let Some(first) = types
            .iter()
            .filter_map(Json::as_str)
            .find(|t| json_is(value, t))
        {
            let mut narrowed = object.clone();
            narrowed.insert("type".into(), Json::String(first.to_string()));
            return walk_json(
                rules,
                &Json::Object(narrowed),
                path,
                value,
                field,
                message,
                visitor,
                depth + 1,
            );
        }
    }
    let combined = ["allOf", "oneOf", "anyOf"]
        .into_iter()
        .find_map(|k| Some((k, object.get(k)?.as_array()?)));
    if let Some((keyword, branches)) = combined {
        for branch in branches {
            let applies = keyword == "allOf" || json_fits(rules, branch, value, 0);
            if applies {
                walk_json(
                    rules,
                    branch,
                    path,
                    value,
                    field,
                    message,
                    visitor,
                    depth + 1,
                )?;
                if keyword == "oneOf" {
                    break;
                }
            }
        }
        if value.is_object() && object.contains_key("properties") {
            walk_properties(rules, object, path, value, visitor, depth)?;
        }
        if let (Some(items), Json::Array(values)) = (object.get("items"), &mut *value) {
            for item in values {
                walk_json(rules, items, path, item, field, message, visitor, depth + 1)?;
            }
        }
        return Ok(());
    }
    if let Some(reference) = object.get("$ref").and_then(Json::as_str) {
        return match rules.resolve(reference) {
            Some(target) => walk_json(
                rules,
                target,
                path,
                value,
                field,
                message,
                visitor,
                depth + 1,
            ),
            None => Ok(()),
        };
    }
    if let (Some(items), Json::Array(values)) = (object.get("items"), &mut *value) {
        if items.is_object() {
            for item in values {
                walk_json(rules, items, path, item, field, message, visitor, depth + 1)?;
            }
        }
        return Ok(());
    }
    let field_type = json_type(schema);
    if field_type == FieldType::Record {
        if value.is_object() {
            walk_properties(rules, object, path, value, visitor, depth)?;
        }
        return Ok(());
    }
    if !matches!(
        field_type,
        FieldType::Enum
            | FieldType::String
            | FieldType::Int
            | FieldType::Double
            | FieldType::Boolean
    ) {
        return Ok(());
    }
    let Some((name, tags)) = field else {
        return Ok(());
    };
    let info = Field {
        full_name: path,
        name,
        field_type,
        inline_tags: tags,
    };
    if !visitor.wants(&info) {
        return Ok(());
    }
    let original = value.clone();
    let Some(mut scalar) = json_scalar(value) else {
        return Ok(());
    };
    let result = visitor
        .visit(&info, message, &mut scalar)
        .and_then(|()| json_from_scalar(field_type, scalar));
    match result {
        Ok(new) => {
            *value = new;
            Ok(())
        }
        Err(e) => {
            *value = original;
            Err(e.at(path))
        }
    }
}

fn walk_properties(
    rules: &JsonRules,
    schema: &Map<String, Json>,
    path: &str,
    value: &mut Json,
    visitor: &mut dyn Visitor,
    depth: usize,
) -> Result<(), Failure> {
    let Some(properties) = schema.get("properties").and_then(Json::as_object) else {
        return Ok(());
    };
    let message = if visitor.needs_message() {
        Some(json_to_cel(value))
    } else {
        None
    };
    let Json::Object(members) = value else {
        return Ok(());
    };
    for (name, property) in properties {
        if !property.is_object() {
            continue;
        }
        let Some(member) = members.get_mut(name) else {
            continue;
        };
        let tags: Vec<String> = property
            .get(covenant_core::tags::TAGS)
            .and_then(Json::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let full_name = format!("{path}.{name}");
        walk_json(
            rules,
            property,
            &full_name,
            member,
            Some((name, &tags)),
            message.as_ref(),
            visitor,
            depth + 1,
        )?;
    }
    Ok(())
}

pub(crate) fn json_to_cel(value: &Json) -> Cel {
    match value {
        Json::Null => Cel::Null,
        Json::Bool(b) => Cel::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cel::Int(i),
            (None, Some(u), _) => Cel::UInt(u),
            (_, _, Some(f)) => Cel::Float(f),
            _ => Cel::Null,
        },
        Json::String(s) => Cel::String(Arc::new(s.clone())),
        Json::Array(items) => Cel::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Json::Object(map) => cel_map(map.iter().map(|(k, v)| (k.clone(), json_to_cel(v)))),
    }
}

impl RuleValue for Json {
    type Schema = JsonRules;

    fn to_cel(&self) -> Cel {
        json_to_cel(self)
    }

    fn to_cel_fields(&self, fields: &[String]) -> Cel {
        match self {
            Json::Object(map) => cel_map(
                fields
                    .iter()
                    .filter_map(|name| Some((name.clone(), json_to_cel(map.get(name)?)))),
            ),
            other => json_to_cel(other),
        }
    }

    fn to_json(&self) -> Json {
        self.clone()
    }

    fn from_json(json: Json, _: &Json, _: &JsonRules) -> Result<Json, String> {
        Ok(json)
    }

    fn walk(&mut self, schema: &JsonRules, visitor: &mut dyn Visitor) -> Result<(), Failure> {
        let root = schema.root.clone();
        walk_json(schema, &root, "$", self, None, None, visitor, 0)
    }
}

// ---------------------------------------------------------------------------------------
// Protobuf

/// The tags written on a Protobuf schema's fields, by field full name.
pub(crate) struct ProtoRules {
    tags: HashMap<String, Vec<String>>,
}

impl ProtoRules {
    /// Reads the `(confluent.field_meta).tags` of the messages of `file` from its text.
    pub fn new(file: &prost_reflect::FileDescriptor, text: &str) -> ProtoRules {
        let by_path: HashMap<String, Vec<String>> =
            covenant_core::fields::fields(covenant_core::schema::SchemaType::Protobuf, text)
                .into_iter()
                .filter(|f| !f.tags.is_empty())
                .map(|f| (f.path, f.tags))
                .collect();
        let mut tags = HashMap::new();
        if !by_path.is_empty() {
            let package = file.package_name();
            for message in file.parent_pool().all_messages() {
                if message.parent_file() != *file {
                    continue;
                }
                let relative = message
                    .full_name()
                    .strip_prefix(package)
                    .map(|r| r.trim_start_matches('.'))
                    .unwrap_or(message.full_name())
                    .replace('.', "/");
                for field in message.fields() {
                    if let Some(found) = by_path.get(&format!("#/{relative}/{}", field.number())) {
                        tags.insert(field.full_name().to_string(), found.clone());
                    }
                }
            }
        }
        ProtoRules { tags }
    }
}

fn proto_type(field: &FieldDescriptor) -> FieldType {
    if field.is_map() {
        return FieldType::Map;
    }
    match field.kind() {
        Kind::Message(_) => FieldType::Record,
        Kind::Enum(_) => FieldType::Enum,
        Kind::String => FieldType::String,
        Kind::Bytes => FieldType::Bytes,
        Kind::Int32 | Kind::Sint32 | Kind::Uint32 | Kind::Fixed32 | Kind::Sfixed32 => {
            FieldType::Int
        }
        Kind::Int64 | Kind::Sint64 | Kind::Uint64 | Kind::Fixed64 | Kind::Sfixed64 => {
            FieldType::Long
        }
        Kind::Float => FieldType::Float,
        Kind::Double => FieldType::Double,
        Kind::Bool => FieldType::Boolean,
    }
}

fn proto_scalar(value: &mut Proto) -> Option<Scalar> {
    Some(match value {
        Proto::Bool(b) => Scalar::Bool(*b),
        Proto::I32(i) => Scalar::Int(i64::from(*i)),
        Proto::I64(i) => Scalar::Int(*i),
        Proto::U32(u) => Scalar::Uint(u64::from(*u)),
        Proto::U64(u) => Scalar::Uint(*u),
        Proto::F32(f) => Scalar::Float(f64::from(*f)),
        Proto::F64(f) => Scalar::Float(*f),
        Proto::String(s) => Scalar::String(std::mem::take(s)),
        Proto::Bytes(b) => Scalar::Bytes(b.to_vec()),
        Proto::EnumNumber(n) => Scalar::Int(i64::from(*n)),
        _ => return None,
    })
}

fn proto_from_scalar(field: &FieldDescriptor, value: Scalar) -> Result<Proto, Failure> {
    let field_type = proto_type(field);
    let int = |value: &Scalar| match value {
        Scalar::Int(i) => Some(*i),
        Scalar::Uint(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    let out = match (field.kind(), &value) {
        (Kind::Bool, Scalar::Bool(b)) => Proto::Bool(*b),
        (Kind::String, Scalar::String(s)) => Proto::String(s.clone()),
        (Kind::Bytes, Scalar::Bytes(b)) => Proto::Bytes(b.clone().into()),
        (Kind::Float, Scalar::Float(f)) => Proto::F32(*f as f32),
        (Kind::Double, Scalar::Float(f)) => Proto::F64(*f),
        (Kind::Int32 | Kind::Sint32 | Kind::Sfixed32, v) => Proto::I32(
            int(v)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| mismatch(field_type, v))?,
        ),
        (Kind::Int64 | Kind::Sint64 | Kind::Sfixed64, v) => {
            Proto::I64(int(v).ok_or_else(|| mismatch(field_type, v))?)
        }
        (Kind::Uint32 | Kind::Fixed32, v) => Proto::U32(
            int(v)
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| mismatch(field_type, v))?,
        ),
        (Kind::Uint64 | Kind::Fixed64, Scalar::Uint(u)) => Proto::U64(*u),
        (Kind::Uint64 | Kind::Fixed64, v) => Proto::U64(
            int(v)
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| mismatch(field_type, v))?,
        ),
        (Kind::Enum(_), v) => Proto::EnumNumber(
            int(v)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| mismatch(field_type, v))?,
        ),
        (_, v) => return Err(mismatch(field_type, v)),
    };
    Ok(out)
}

fn walk_proto(
    rules: &ProtoRules,
    message: &mut DynamicMessage,
    visitor: &mut dyn Visitor,
    depth: usize,
) -> Result<(), Failure> {
    if depth > 256 {
        return Err(Failure::failed("the message nests deeper than 256 levels"));
    }
    let containing = if visitor.needs_message() {
        Some(proto_to_cel(message))
    } else {
        None
    };
    let descriptor = message.descriptor();
    for field in descriptor.fields() {
        if field.supports_presence() && !message.has_field(&field) {
            continue;
        }
        let tags = rules
            .tags
            .get(field.full_name())
            .map_or(&[][..], Vec::as_slice);
        let info = Field {
            full_name: field.full_name(),
            name: field.name(),
            field_type: proto_type(&field),
            inline_tags: tags,
        };
        let value = message.get_field_mut(&field);
        match value {
            Proto::Message(nested) => walk_proto(rules, nested, visitor, depth + 1)?,
            Proto::List(items) => {
                for item in items.iter_mut() {
                    match item {
                        Proto::Message(nested) => walk_proto(rules, nested, visitor, depth + 1)?,
                        scalar => visit_proto(&field, &info, containing.as_ref(), scalar, visitor)?,
                    }
                }
            }
            Proto::Map(entries) => {
                for entry in entries.values_mut() {
                    match entry {
                        Proto::Message(nested) => walk_proto(rules, nested, visitor, depth + 1)?,
                        // Map values are of type MAP, as in Confluent's clients: CEL_FIELD skips
                        // them and ENCRYPT refuses them.
                        _ if visitor.wants(&info) => {
                            let mut scalar = Scalar::Null;
                            visitor
                                .visit(&info, containing.as_ref(), &mut scalar)
                                .map_err(|e| e.at(field.full_name()))?;
                        }
                        _ => {}
                    }
                }
            }
            scalar => visit_proto(&field, &info, containing.as_ref(), scalar, visitor)?,
        }
    }
    Ok(())
}

fn visit_proto(
    field: &FieldDescriptor,
    info: &Field<'_>,
    containing: Option<&Cel>,
    value: &mut Proto,
    visitor: &mut dyn Visitor,
) -> Result<(), Failure> {
    if !visitor.wants(info) {
        return Ok(());
    }
    let original = value.clone();
    let Some(mut scalar) = proto_scalar(value) else {
        return Ok(());
    };
    let result = visitor
        .visit(info, containing, &mut scalar)
        .and_then(|()| proto_from_scalar(field, scalar));
    match result {
        Ok(new) => {
            *value = new;
            Ok(())
        }
        Err(e) => {
            *value = original;
            Err(e.at(field.full_name()))
        }
    }
}

fn proto_value_to_cel(value: &Proto) -> Cel {
    match value {
        Proto::Bool(b) => Cel::Bool(*b),
        Proto::I32(i) => Cel::Int(i64::from(*i)),
        Proto::I64(i) => Cel::Int(*i),
        Proto::U32(u) => Cel::UInt(u64::from(*u)),
        Proto::U64(u) => Cel::UInt(*u),
        Proto::F32(f) => Cel::Float(f64::from(*f)),
        Proto::F64(f) => Cel::Float(*f),
        Proto::String(s) => Cel::String(Arc::new(s.clone())),
        Proto::Bytes(b) => Cel::Bytes(Arc::new(b.to_vec())),
        Proto::EnumNumber(n) => Cel::Int(i64::from(*n)),
        Proto::Message(m) => proto_to_cel(m),
        Proto::List(items) => Cel::List(Arc::new(items.iter().map(proto_value_to_cel).collect())),
        Proto::Map(entries) => {
            let map: HashMap<Key, Cel> = entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        MapKey::Bool(b) => Key::Bool(*b),
                        MapKey::I32(i) => Key::Int(i64::from(*i)),
                        MapKey::I64(i) => Key::Int(*i),
                        MapKey::U32(u) => Key::Uint(u64::from(*u)),
                        MapKey::U64(u) => Key::Uint(*u),
                        MapKey::String(s) => Key::String(Arc::new(s.clone())),
                    };
                    (key, proto_value_to_cel(v))
                })
                .collect();
            Cel::Map(CelMap { map: Arc::new(map) })
        }
    }
}

fn proto_to_cel(message: &DynamicMessage) -> Cel {
    proto_fields_cel(message, None)
}

fn proto_fields_cel(message: &DynamicMessage, only: Option<&[String]>) -> Cel {
    let descriptor = message.descriptor();
    cel_map(descriptor.fields().filter_map(|field| {
        if only.is_some_and(|names| !names.iter().any(|n| n == field.name())) {
            return None;
        }
        if field.containing_oneof().is_some() && !message.has_field(&field) {
            return None;
        }
        let value = if matches!(field.kind(), Kind::Message(_))
            && !field.is_list()
            && !field.is_map()
            && !message.has_field(&field)
        {
            Cel::Null
        } else {
            proto_value_to_cel(&message.get_field(&field))
        };
        Some((field.name().to_string(), value))
    }))
}

/// A message of `descriptor` from its JSON form (camel-case or field names).
pub(crate) fn proto_from_json(
    json: Json,
    descriptor: &prost_reflect::MessageDescriptor,
) -> Result<DynamicMessage, String> {
    DynamicMessage::deserialize(descriptor.clone(), json)
        .map_err(|e| format!("not a {}: {e}", descriptor.full_name()))
}

impl RuleValue for DynamicMessage {
    type Schema = ProtoRules;

    fn to_cel(&self) -> Cel {
        proto_to_cel(self)
    }

    fn to_cel_fields(&self, fields: &[String]) -> Cel {
        proto_fields_cel(self, Some(fields))
    }

    fn to_json(&self) -> Json {
        let options = prost_reflect::SerializeOptions::new().skip_default_fields(false);
        self.serialize_with_options(serde_json::value::Serializer, &options)
            .unwrap_or(Json::Null)
    }

    fn from_json(
        json: Json,
        like: &DynamicMessage,
        _: &ProtoRules,
    ) -> Result<DynamicMessage, String> {
        proto_from_json(json, &like.descriptor())
    }

    fn walk(&mut self, schema: &ProtoRules, visitor: &mut dyn Visitor) -> Result<(), Failure> {
        walk_proto(schema, self, visitor, 0)
    }
}
