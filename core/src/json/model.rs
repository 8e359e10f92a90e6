//! The model the JSON Schema diff works on: each schema document classified the way Confluent's
//! loader classifies it (a string, number, object, array, enum, const, combined, not, reference,
//! empty, true or false schema), because many compatibility verdicts depend on that classification.
//!
//! Keywords are read in the loader's order: `enum`, `allOf`/`anyOf`/`oneOf`, `not`, `const`,
//! `type`, then whatever type-specific keywords are left. One result stands alone; several form a
//! synthetic `allOf`. `$ref` short-circuits (draft 7 and earlier) or joins its siblings in an
//! `allOf` (2019-09 and later).

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use jsonschema::Draft;
use serde_json::{Map, Value};

/// Index of a node in a [`Model`].
pub type NodeId = usize;

/// Keywords every node may carry that the diff compares.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub default: Option<Value>,
    /// Kafka Connect's `connect.type`, which Confluent treats specially for `bytes`.
    pub connect_type: Option<String>,
}

/// `allOf`, `anyOf` or `oneOf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    All,
    Any,
    One,
}

impl Criterion {
    pub fn keyword(self) -> &'static str {
        match self {
            Criterion::All => "allOf",
            Criterion::Any => "anyOf",
            Criterion::One => "oneOf",
        }
    }
}

/// Whether additional properties or items are allowed, and against which schema.
#[derive(Clone, Copy, Debug)]
pub struct Additional {
    pub permits: bool,
    pub schema: Option<NodeId>,
}

impl Default for Additional {
    fn default() -> Self {
        Additional {
            permits: true,
            schema: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ObjectNode {
    pub properties: Vec<(String, NodeId)>,
    pub required: Vec<String>,
    pub additional: Additional,
    pub pattern_properties: Vec<(String, NodeId)>,
    pub dependency_arrays: Vec<(String, Vec<String>)>,
    pub dependency_schemas: Vec<(String, NodeId)>,
    pub max_properties: Option<f64>,
    pub min_properties: Option<f64>,
    pub unevaluated: Option<NodeId>,
}

#[derive(Clone, Debug, Default)]
pub struct ArrayNode {
    pub all_items: Option<NodeId>,
    pub tuple: Option<Vec<NodeId>>,
    pub additional: Additional,
    pub max_items: Option<f64>,
    pub min_items: Option<f64>,
    pub unique_items: bool,
    pub max_contains: Option<f64>,
    pub min_contains: Option<f64>,
    pub unevaluated: Option<NodeId>,
}

#[derive(Clone, Debug, Default)]
pub struct NumberNode {
    pub integer: bool,
    pub maximum: Option<f64>,
    pub minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub multiple_of: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct StringNode {
    pub max_length: Option<f64>,
    pub min_length: Option<f64>,
    pub pattern: Option<String>,
}

/// A schema's class and its compared keywords.
#[derive(Clone, Debug)]
pub enum Kind {
    /// `{}` (or `true` when `is_true`): accepts anything.
    Empty,
    /// `false`: accepts nothing.
    False,
    String(StringNode),
    Number(NumberNode),
    Boolean,
    Null,
    Object(Box<ObjectNode>),
    Array(Box<ArrayNode>),
    Enum(Vec<Value>),
    Const(Value),
    Combined {
        criterion: Criterion,
        subschemas: Vec<NodeId>,
    },
    Not(NodeId),
    /// A `$ref`, resolved after loading; `None` when it points nowhere the registry knows.
    Ref {
        target: Option<NodeId>,
        raw: String,
    },
    Conditional,
}

impl Kind {
    /// The class name used to decide "same type" (every combined schema is one class).
    pub fn class(&self) -> &'static str {
        match self {
            Kind::Empty => "empty",
            Kind::False => "false",
            Kind::String(_) => "string",
            Kind::Number(_) => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
            Kind::Object(_) => "object",
            Kind::Array(_) => "array",
            Kind::Enum(_) => "enum",
            Kind::Const(_) => "const",
            Kind::Combined { .. } => "combined",
            Kind::Not(_) => "not",
            Kind::Ref { .. } => "ref",
            Kind::Conditional => "conditional",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub meta: Meta,
    /// Where the node's JSON is, to show it in messages.
    pub source: Source,
    /// Whether a `default` keyword is present.
    pub has_default: bool,
}

/// Where a node's JSON is: a (document, JSON pointer), narrowed to the keywords it was built
/// from when the node is one of several read from the same object.
#[derive(Clone, Debug)]
pub struct Source {
    document: usize,
    pointer: String,
    keys: Option<&'static [&'static str]>,
    type_name: Option<String>,
}

/// A schema document with the documents it references, as one graph the diff walks.
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: NodeId,
    documents: Vec<Arc<Value>>,
}

impl Model {
    /// A node's JSON, compact and shortened, for messages.
    pub fn fragment(&self, id: NodeId) -> String {
        crate::shorten(self.text(id))
    }

    /// A node's whole JSON, compact (identical branches of a combined schema count once).
    pub fn text(&self, id: NodeId) -> String {
        let source = &self.nodes[id].source;
        let Some(value) = self.documents.get(source.document).and_then(|d| {
            if source.pointer.is_empty() {
                Some(d.as_ref())
            } else {
                d.pointer(&source.pointer)
            }
        }) else {
            return String::new();
        };
        match (source.keys, value) {
            (Some(keys), Value::Object(map)) => {
                let mut part = Map::new();
                if let Some(type_name) = &source.type_name {
                    part.insert("type".to_string(), Value::String(type_name.clone()));
                }
                for key in keys {
                    if let Some(value) = map.get(*key) {
                        part.insert((*key).to_string(), value.clone());
                    }
                }
                Value::Object(part).to_string()
            }
            _ => value.to_string(),
        }
    }
}

/// Loads a document and its referenced documents (`(name, document)`).
pub fn load(root: &Value, draft: Draft, references: &[(String, Value)]) -> Model {
    let mut documents = vec![Document {
        name: String::new(),
        value: Arc::new(root.clone()),
    }];
    for (name, value) in references {
        documents.push(Document {
            name: name.clone(),
            value: Arc::new(value.clone()),
        });
    }
    let mut loader = Loader {
        documents,
        draft,
        nodes: Vec::new(),
        at_pointer: HashMap::new(),
        pending: Vec::new(),
    };
    let root = loader.load(0, String::new());
    // Resolve references, loading their targets on demand (which may add more references).
    while let Some((node, document, pointer)) = loader.pending.pop() {
        let target = match loader.at_pointer.get(&(document, pointer.clone())) {
            Some(id) => Some(*id),
            None if loader.lookup(document, &pointer).is_some() => {
                Some(loader.load(document, pointer))
            }
            None => None,
        };
        if let Kind::Ref { target: slot, .. } = &mut loader.nodes[node].kind {
            *slot = target;
        }
    }
    Model {
        nodes: loader.nodes,
        root,
        documents: loader.documents.into_iter().map(|d| d.value).collect(),
    }
}

struct Document {
    name: String,
    value: Arc<Value>,
}

struct Loader {
    documents: Vec<Document>,
    draft: Draft,
    nodes: Vec<Node>,
    /// Nodes by (document, JSON pointer), so references to one place share one node.
    at_pointer: HashMap<(usize, String), NodeId>,
    /// References to resolve: (ref node, document, pointer).
    pending: Vec<(NodeId, usize, String)>,
}

const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "dependencies",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
];
const ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "prefixItems",
    "unevaluatedItems",
    "minContains",
    "maxContains",
];

impl Loader {
    fn modern(&self) -> bool {
        matches!(self.draft, Draft::Draft201909 | Draft::Draft202012)
    }

    fn lookup(&self, document: usize, pointer: &str) -> Option<&Value> {
        let value = self.documents.get(document)?.value.as_ref();
        if pointer.is_empty() {
            Some(value)
        } else {
            value.pointer(pointer)
        }
    }

    fn push(&mut self, kind: Kind, meta: Meta, source: Source, has_default: bool) -> NodeId {
        self.nodes.push(Node {
            kind,
            meta,
            source,
            has_default,
        });
        self.nodes.len() - 1
    }

    /// Loads the schema at `pointer` of `document`, or returns the node already loaded there.
    fn load(&mut self, document: usize, pointer: String) -> NodeId {
        if let Some(id) = self.at_pointer.get(&(document, pointer.clone())) {
            return *id;
        }
        let whole = Source::whole(document, &pointer);
        // Reserve the slot first so that a reference back to this pointer finds it.
        let id = self.push(Kind::Empty, Meta::default(), whole, false);
        self.at_pointer.insert((document, pointer.clone()), id);
        let text = Arc::clone(&self.documents[document].value);
        let value = if pointer.is_empty() {
            Some(text.as_ref())
        } else {
            text.pointer(&pointer)
        };
        let node = self.build(id, document, &pointer, value.unwrap_or(&Value::Bool(true)));
        self.nodes[id] = node;
        id
    }

    fn child(&mut self, document: usize, pointer: &str, segments: &[&str]) -> NodeId {
        let mut child = pointer.to_string();
        for segment in segments {
            child.push('/');
            child.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        self.load(document, child)
    }

    fn build(&mut self, id: NodeId, document: usize, pointer: &str, value: &Value) -> Node {
        let whole = || Source::whole(document, pointer);
        let map = match value {
            Value::Bool(true) => return node(Kind::Empty, Meta::default(), whole(), false),
            Value::Bool(false) => return node(Kind::False, Meta::default(), whole(), false),
            Value::Object(map) => map,
            _ => return node(Kind::Empty, Meta::default(), whole(), false),
        };
        let meta = self.meta(map);
        let has_default = map.contains_key("default");
        if let Some(Value::String(reference)) = map.get("$ref") {
            let has_siblings = map.keys().any(|k| {
                !matches!(
                    k.as_str(),
                    "$ref"
                        | "$id"
                        | "id"
                        | "title"
                        | "description"
                        | "default"
                        | "$comment"
                        | "$schema"
                        | "definitions"
                        | "$defs"
                )
            });
            if !(self.modern() && has_siblings) {
                let kind = self.reference(id, document, reference);
                return node(kind, meta, whole(), has_default);
            }
            // 2019-09 and later: the reference and its siblings all apply.
            let ref_node = self.push(Kind::Empty, Meta::default(), whole(), false);
            self.nodes[ref_node].kind = self.reference(ref_node, document, reference);
            let mut rest = map.clone();
            rest.remove("$ref");
            let siblings = self.extract(document, pointer, &rest);
            let mut subschemas = vec![ref_node];
            subschemas.extend(siblings);
            return node(
                Kind::Combined {
                    criterion: Criterion::All,
                    subschemas,
                },
                meta,
                whole(),
                has_default,
            );
        }
        let extracted = self.extract(document, pointer, map);
        match extracted.len() {
            0 => node(Kind::Empty, meta, whole(), has_default),
            1 => {
                let mut single = self.nodes[extracted[0]].clone();
                single.meta = meta;
                single.has_default = has_default;
                single.source = whole();
                single
            }
            _ => node(
                Kind::Combined {
                    criterion: Criterion::All,
                    subschemas: extracted,
                },
                meta,
                whole(),
                has_default,
            ),
        }
    }

    fn meta(&self, map: &Map<String, Value>) -> Meta {
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let id = match self.draft {
            Draft::Draft4 => text("id"),
            Draft::Draft201909 | Draft::Draft202012 => None,
            _ => text("$id"),
        };
        Meta {
            id,
            title: text("title"),
            description: text("description"),
            default: map.get("default").cloned(),
            connect_type: text("connect.type"),
        }
    }

    /// Runs the extractors in the loader's order; each result is a node of its own, whose
    /// fragment is the part of the object it was built from.
    fn extract(&mut self, document: usize, pointer: &str, map: &Map<String, Value>) -> Vec<NodeId> {
        let part = |keys: &'static [&'static str], type_name: Option<&str>| Source {
            document,
            pointer: pointer.to_string(),
            keys: Some(keys),
            type_name: type_name.map(str::to_string),
        };
        let mut out = Vec::new();
        if let Some(Value::Array(values)) = map.get("enum") {
            out.push(self.push(
                Kind::Enum(dedup(values)),
                Meta::default(),
                part(&["enum"], None),
                false,
            ));
        }
        for criterion in [Criterion::All, Criterion::Any, Criterion::One] {
            if let Some(Value::Array(items)) = map.get(criterion.keyword()) {
                let subschemas = (0..items.len())
                    .map(|i| self.child(document, pointer, &[criterion.keyword(), &i.to_string()]))
                    .collect();
                let fragment = part(criterion_keys(criterion), None);
                out.push(self.push(
                    Kind::Combined {
                        criterion,
                        subschemas,
                    },
                    Meta::default(),
                    fragment,
                    false,
                ));
            }
        }
        if map.contains_key("not") {
            let inner = self.child(document, pointer, &["not"]);
            out.push(self.push(
                Kind::Not(inner),
                Meta::default(),
                part(&["not"], None),
                false,
            ));
        }
        if self.draft != Draft::Draft4 {
            if let Some(value) = map.get("const") {
                out.push(self.push(
                    Kind::Const(value.clone()),
                    Meta::default(),
                    part(&["const"], None),
                    false,
                ));
            }
        }
        let mut consumed: Vec<&str> = Vec::new();
        match map.get("type") {
            Some(Value::String(type_name)) => {
                if let Some(kind) = self.typed(document, pointer, map, type_name) {
                    let fragment = part(keywords_of(type_name), Some(type_name));
                    out.push(self.push(kind, Meta::default(), fragment, false));
                    consumed.extend(keywords_of(type_name));
                }
            }
            Some(Value::Array(types)) => {
                let mut branches = Vec::new();
                for type_name in types.iter().filter_map(Value::as_str) {
                    if let Some(kind) = self.typed(document, pointer, map, type_name) {
                        let fragment = part(keywords_of(type_name), Some(type_name));
                        branches.push(self.push(kind, Meta::default(), fragment, false));
                        consumed.extend(keywords_of(type_name));
                    }
                }
                let fragment = part(&["type"], None);
                let kind = Kind::Combined {
                    criterion: Criterion::Any,
                    subschemas: branches,
                };
                out.push(self.push(kind, Meta::default(), fragment, false));
            }
            _ => {}
        }
        // Type-specific keywords without a matching `type` still constrain (the loader's sniffer).
        let present = |keywords: &[&str]| {
            keywords
                .iter()
                .any(|k| map.contains_key(*k) && !consumed.contains(k))
        };
        if present(ARRAY_KEYWORDS) {
            let kind = Kind::Array(Box::new(self.array(document, pointer, map)));
            out.push(self.push(kind, Meta::default(), part(ARRAY_KEYWORDS, None), false));
        }
        if present(OBJECT_KEYWORDS) {
            let kind = Kind::Object(Box::new(self.object(document, pointer, map)));
            out.push(self.push(kind, Meta::default(), part(OBJECT_KEYWORDS, None), false));
        }
        if present(NUMBER_KEYWORDS) {
            let kind = Kind::Number(self.number(map, false));
            out.push(self.push(kind, Meta::default(), part(NUMBER_KEYWORDS, None), false));
        }
        if present(STRING_KEYWORDS) {
            let kind = Kind::String(string(map));
            out.push(self.push(kind, Meta::default(), part(STRING_KEYWORDS, None), false));
        }
        const CONDITIONAL: &[&str] = &["if", "then", "else"];
        let conditional = CONDITIONAL;
        if self.draft != Draft::Draft4
            && self.draft != Draft::Draft6
            && conditional.iter().any(|k| map.contains_key(*k))
        {
            out.push(self.push(
                Kind::Conditional,
                Meta::default(),
                part(conditional, None),
                false,
            ));
        }
        out
    }

    fn typed(
        &mut self,
        document: usize,
        pointer: &str,
        map: &Map<String, Value>,
        type_name: &str,
    ) -> Option<Kind> {
        Some(match type_name {
            "string" => Kind::String(string(map)),
            "integer" => Kind::Number(self.number(map, true)),
            "number" => Kind::Number(self.number(map, false)),
            "boolean" => Kind::Boolean,
            "null" => Kind::Null,
            "object" => Kind::Object(Box::new(self.object(document, pointer, map))),
            "array" => Kind::Array(Box::new(self.array(document, pointer, map))),
            _ => return None,
        })
    }

    fn number(&self, map: &Map<String, Value>, integer: bool) -> NumberNode {
        let number = |key: &str| map.get(key).and_then(Value::as_f64);
        NumberNode {
            integer,
            maximum: number("maximum"),
            minimum: number("minimum"),
            // Draft 4's boolean form is not compared.
            exclusive_maximum: number("exclusiveMaximum"),
            exclusive_minimum: number("exclusiveMinimum"),
            multiple_of: number("multipleOf"),
        }
    }

    fn object(&mut self, document: usize, pointer: &str, map: &Map<String, Value>) -> ObjectNode {
        let mut object = ObjectNode::default();
        if let Some(Value::Object(properties)) = map.get("properties") {
            for name in properties.keys() {
                let id = self.child(document, pointer, &["properties", name]);
                object.properties.push((name.clone(), id));
            }
        }
        if let Some(Value::Array(required)) = map.get("required") {
            object.required = required
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        object.additional = self.additional(document, pointer, map, "additionalProperties");
        if let Some(Value::Object(patterns)) = map.get("patternProperties") {
            for pattern in patterns.keys() {
                let id = self.child(document, pointer, &["patternProperties", pattern]);
                object.pattern_properties.push((pattern.clone(), id));
            }
        }
        let mut dependencies: Vec<(&str, &str)> = Vec::new();
        if let Some(Value::Object(map)) = map.get("dependencies") {
            dependencies.extend(map.keys().map(|k| ("dependencies", k.as_str())));
        }
        if self.modern() {
            if let Some(Value::Object(map)) = map.get("dependentRequired") {
                dependencies.extend(map.keys().map(|k| ("dependentRequired", k.as_str())));
            }
            if let Some(Value::Object(map)) = map.get("dependentSchemas") {
                dependencies.extend(map.keys().map(|k| ("dependentSchemas", k.as_str())));
            }
        }
        for (keyword, key) in dependencies {
            match map.get(keyword).and_then(|d| d.get(key)) {
                Some(Value::Array(names)) => object.dependency_arrays.push((
                    key.to_string(),
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                )),
                Some(_) => {
                    let id = self.child(document, pointer, &[keyword, key]);
                    object.dependency_schemas.push((key.to_string(), id));
                }
                None => {}
            }
        }
        object.max_properties = map.get("maxProperties").and_then(Value::as_f64);
        object.min_properties = map.get("minProperties").and_then(Value::as_f64);
        if self.modern() && map.contains_key("unevaluatedProperties") {
            object.unevaluated = Some(self.child(document, pointer, &["unevaluatedProperties"]));
        }
        object
    }

    fn array(&mut self, document: usize, pointer: &str, map: &Map<String, Value>) -> ArrayNode {
        let mut array = ArrayNode::default();
        let prefix = if self.draft == Draft::Draft202012 {
            map.get("prefixItems")
                .and_then(Value::as_array)
                .map(Vec::len)
        } else {
            None
        };
        match (prefix, map.get("items")) {
            (Some(count), items) => {
                array.tuple = Some(
                    (0..count)
                        .map(|i| self.child(document, pointer, &["prefixItems", &i.to_string()]))
                        .collect(),
                );
                // With prefixItems, `items` is the schema of the items after them.
                array.additional = match items {
                    None | Some(Value::Bool(true)) => Additional::default(),
                    Some(Value::Bool(false)) => Additional {
                        permits: false,
                        schema: None,
                    },
                    Some(_) => Additional {
                        permits: true,
                        schema: Some(self.child(document, pointer, &["items"])),
                    },
                };
            }
            (None, Some(Value::Array(items))) if self.draft != Draft::Draft202012 => {
                array.tuple = Some(
                    (0..items.len())
                        .map(|i| self.child(document, pointer, &["items", &i.to_string()]))
                        .collect(),
                );
            }
            (None, Some(_)) => array.all_items = Some(self.child(document, pointer, &["items"])),
            (None, None) => {}
        }
        if prefix.is_none() {
            array.additional = self.additional(document, pointer, map, "additionalItems");
        }
        let number = |key: &str| map.get(key).and_then(Value::as_f64);
        array.max_items = number("maxItems");
        array.min_items = number("minItems");
        array.unique_items = map
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        array.max_contains = number("maxContains");
        array.min_contains = number("minContains");
        if self.modern() && map.contains_key("unevaluatedItems") {
            array.unevaluated = Some(self.child(document, pointer, &["unevaluatedItems"]));
        }
        array
    }

    fn additional(
        &mut self,
        document: usize,
        pointer: &str,
        map: &Map<String, Value>,
        keyword: &str,
    ) -> Additional {
        match map.get(keyword) {
            None | Some(Value::Bool(true)) => Additional::default(),
            Some(Value::Bool(false)) => Additional {
                permits: false,
                schema: None,
            },
            Some(_) => Additional {
                permits: true,
                schema: Some(self.child(document, pointer, &[keyword])),
            },
        }
    }

    /// A reference for node `id`; its target is resolved once loading is done.
    fn reference(&mut self, id: NodeId, document: usize, reference: &str) -> Kind {
        if let Some((target_document, pointer)) = self.resolve(document, reference) {
            self.pending.push((id, target_document, pointer));
        }
        Kind::Ref {
            target: None,
            raw: reference.to_string(),
        }
    }

    /// The (document, JSON pointer) a `$ref` names, if the registry holds it.
    fn resolve(&self, document: usize, reference: &str) -> Option<(usize, String)> {
        let (location, fragment) = match reference.split_once('#') {
            Some((location, fragment)) => (location, fragment),
            None => (reference, ""),
        };
        let target = if location.is_empty() {
            document
        } else {
            self.documents.iter().position(|d| {
                !d.name.is_empty()
                    && (d.name == location
                        || location.ends_with(&format!("/{}", d.name.trim_start_matches("./")))
                        || d.name.ends_with(&format!("/{location}"))
                        || d.value.get("$id").and_then(Value::as_str) == Some(location))
            })?
        };
        let pointer = percent_decode(fragment);
        if pointer.is_empty() || pointer.starts_with('/') {
            return Some((target, pointer));
        }
        // A plain-name fragment: an `$anchor` (or draft 6/7 `$id: "#name"`) somewhere in the document.
        let pointer = find_anchor(&self.documents[target].value, &pointer, String::new())?;
        Some((target, pointer))
    }
}

fn node(kind: Kind, meta: Meta, source: Source, has_default: bool) -> Node {
    Node {
        kind,
        meta,
        source,
        has_default,
    }
}

impl Source {
    fn whole(document: usize, pointer: &str) -> Source {
        Source {
            document,
            pointer: pointer.to_string(),
            keys: None,
            type_name: None,
        }
    }
}

fn criterion_keys(criterion: Criterion) -> &'static [&'static str] {
    match criterion {
        Criterion::All => &["allOf"],
        Criterion::Any => &["anyOf"],
        Criterion::One => &["oneOf"],
    }
}

fn keywords_of(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "string" => STRING_KEYWORDS,
        "integer" | "number" => NUMBER_KEYWORDS,
        "object" => OBJECT_KEYWORDS,
        "array" => ARRAY_KEYWORDS,
        _ => &[],
    }
}

fn string(map: &Map<String, Value>) -> StringNode {
    StringNode {
        max_length: map.get("maxLength").and_then(Value::as_f64),
        min_length: map.get("minLength").and_then(Value::as_f64),
        pattern: map
            .get("pattern")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn dedup(values: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

fn find_anchor(value: &Value, name: &str, pointer: String) -> Option<String> {
    let map = value.as_object()?;
    let anchored = map.get("$anchor").and_then(Value::as_str) == Some(name)
        || map.get("$id").and_then(Value::as_str) == Some(&format!("#{name}"));
    if anchored {
        return Some(pointer);
    }
    for (key, child) in map {
        match child {
            Value::Object(_) => {
                if let Some(found) = find_anchor(
                    child,
                    name,
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                ) {
                    return Some(found);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Some(found) = find_anchor(item, name, format!("{pointer}/{key}/{index}"))
                    {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                out.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_handles_escapes_and_multibyte_text() {
        assert_eq!(percent_decode("/definitions/a%20b"), "/definitions/a b");
        assert_eq!(percent_decode("/%7Bx%7D"), "/{x}");
        // Not escapes: left as they are, never split inside a character.
        assert_eq!(percent_decode("#%aé"), "#%aé");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
