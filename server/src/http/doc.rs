//! The OpenAPI 3.1 description of the API, generated from the route table: every route is
//! registered together with its [`Doc`] (query parameters, request and response types, error
//! statuses with their error codes), so the spec served at `/openapi.json` names exactly the
//! paths and methods the server answers. Request and response schemas come from the REST types
//! themselves (`schemars` derives on `covenant_core::api`), so they follow their serde names.
//!
//! Every operation also documents the errors any request may get: 400 (a path whose escapes are
//! not UTF-8, a bad query value), 401 and 403 when authentication is on, 429 under rate limits,
//! 500 for an internal failure; writes add 50001 (the store failed), body-carrying operations
//! 408 and 413.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Makes the schema of a type, registering the types it uses as components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a reference to its component.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a query parameter takes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `true` or `false`.
    Flag,
    /// An integer.
    Int,
    /// Text.
    Text,
    /// Text, repeatable.
    Repeated,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// A query parameter.
#[derive(Clone, Debug)]
pub struct Query {
    name: &'static str,
    kind: Kind,
    description: &'static str,
}

/// The success response.
#[derive(Clone, Debug)]
enum Success {
    /// JSON of a type.
    Json(u16, SchemaFn),
    /// JSON with an inline schema.
    Inline(u16, Value),
    /// A schema's own text (a JSON document for Avro and JSON Schema, `.proto` text for
    /// Protobuf), in the registry's media type as Confluent serves it.
    SchemaText,
    /// Prometheus text.
    Metrics,
    /// The spec itself.
    Spec,
    /// No body.
    NoContent,
}

/// A link from the success response to another operation (for stateful testing and readers).
#[derive(Clone, Debug)]
struct Link {
    name: &'static str,
    operation: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

/// The documentation of one operation.
#[derive(Clone, Debug)]
pub struct Doc {
    id: &'static str,
    summary: &'static str,
    tag: &'static str,
    query: Vec<Query>,
    body: Option<SchemaFn>,
    success: Success,
    errors: Vec<(u16, &'static [u32])>,
    links: Vec<Link>,
    write: bool,
}

/// The documentation of an operation `id` (its `operationId`), summed up in a line.
pub fn op(id: &'static str, summary: &'static str) -> Doc {
    Doc {
        id,
        summary,
        tag: "Schemas",
        query: Vec::new(),
        body: None,
        success: Success::Inline(200, json!({})),
        errors: Vec::new(),
        links: Vec::new(),
        write: false,
    }
}

impl Doc {
    /// The group it is listed under.
    pub fn tag(mut self, tag: &'static str) -> Doc {
        self.tag = tag;
        self
    }

    /// A query parameter.
    pub fn query(mut self, name: &'static str, kind: Kind, description: &'static str) -> Doc {
        self.query.push(Query {
            name,
            kind,
            description,
        });
        self
    }

    /// A boolean query parameter.
    pub fn flag(self, name: &'static str, description: &'static str) -> Doc {
        self.query(name, Kind::Flag, description)
    }

    /// `offset` and `limit`.
    pub fn paged(self) -> Doc {
        self.query("offset", Kind::Int, "Entries to skip").query(
            "limit",
            Kind::Int,
            "Entries at most (0 or less: all, or the default)",
        )
    }

    /// The JSON request body.
    pub fn body<T: JsonSchema>(mut self) -> Doc {
        self.body = Some(schema::<T>);
        self.errors.push((408, &[408]));
        self.errors.push((413, &[413]));
        self
    }

    /// A 200 JSON response of type `T`.
    pub fn ok<T: JsonSchema>(mut self) -> Doc {
        self.success = Success::Json(200, schema::<T>);
        self
    }

    /// A 200 JSON response with an inline schema.
    pub fn ok_inline(mut self, schema: Value) -> Doc {
        self.success = Success::Inline(200, schema);
        self
    }

    /// A JSON response with `status` and an inline schema.
    pub fn ok_inline_with(mut self, status: u16, schema: Value) -> Doc {
        self.success = Success::Inline(status, schema);
        self
    }

    /// A 200 response carrying a schema's text.
    pub fn ok_schema_text(mut self) -> Doc {
        self.success = Success::SchemaText;
        self
    }

    /// The Prometheus page.
    pub fn ok_metrics(mut self) -> Doc {
        self.success = Success::Metrics;
        self
    }

    /// The OpenAPI document.
    pub fn ok_spec(mut self) -> Doc {
        self.success = Success::Spec;
        self
    }

    /// A 204 without a body.
    pub fn no_content(mut self) -> Doc {
        self.success = Success::NoContent;
        self
    }

    /// An error status and the error codes it carries.
    pub fn error(mut self, status: u16, codes: &'static [u32]) -> Doc {
        self.errors.push((status, codes));
        self
    }

    /// Uses the KMS (a shared KEK's DEK is made or opened by the registry): the KMS may deny
    /// access (403/40370), have no driver here (422) or fail (500/50070).
    pub fn kms(self) -> Doc {
        self.error(403, &[40370])
            .error(422, &[422])
            .error(500, &[50070])
    }

    /// A write: the store may fail (50001).
    pub fn write(mut self) -> Doc {
        self.write = true;
        self
    }

    /// A link to `operation`, its parameters filled from the response (`$response.body#/id`)
    /// or the request (`$request.path.subject`).
    pub fn link(
        mut self,
        name: &'static str,
        operation: &'static str,
        parameters: &'static [(&'static str, &'static str)],
    ) -> Doc {
        self.links.push(Link {
            name,
            operation,
            parameters,
        });
        self
    }
}

/// One route of the table, as the spec sees it.
pub struct Documented<'a> {
    /// The actix path template (`/subjects/{subject}`).
    pub path: &'a str,
    /// `get`, `post`, ...
    pub method: &'static str,
    /// Its documentation.
    pub doc: &'a Doc,
}

/// Characters no subject or context name may hold (Unicode's control characters).
const NO_CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// What a path parameter of `path` is, and the errors a bad value of it gets.
fn path_parameter(path: &str, name: &str) -> (Value, &'static str, Option<(u16, u32)>) {
    let keys = path.starts_with("/dek-registry/");
    let associations = path.starts_with("/associations/");
    match name {
        "id" if associations => (json!({"type": "string"}), "A resource id", None),
        "subject" if keys => (
            json!({"type": "string"}),
            "A subject name",
            Some((422, 42271)),
        ),
        "version" if keys => (
            json!({"type": "string", "pattern": "^(latest|-1|[1-9][0-9]{0,8})$"}),
            "A DEK version: 1 or more, `latest` or `-1` (the latest)",
            Some((422, 42202)),
        ),
        _ => {
            let (schema, description) = parameter(name);
            let error = match name {
                "subject" => Some((422, 42208)),
                "version" => Some((422, 42202)),
                "context" => Some((400, 400)),
                _ => None,
            };
            (schema, description, error)
        }
    }
}

fn parameter(name: &str) -> (Value, &'static str) {
    match name {
        "id" => (
            json!({"type": "integer", "format": "int32"}),
            "A schema id (a resource id in the associations API)",
        ),
        "version" => (
            json!({"type": "string", "pattern": "^(latest|-1|[1-9][0-9]{0,8})$"}),
            "A version: 1 to 2147483647, `latest` or `-1` (the latest)",
        ),
        "subject" => (
            json!({"type": "string", "pattern": format!("^[^:{NO_CONTROL}][^{NO_CONTROL}]{{0,200}}$")}),
            "A subject name (a qualified `:.context:name` is also taken)",
        ),
        "context" => (
            json!({"type": "string", "pattern": format!("^[^:/{NO_CONTROL}]{{1,200}}$")}),
            "A context (`.staging`; the leading dot may be left out)",
        ),
        "guid" => (json!({"type": "string", "format": "uuid"}), "A schema GUID"),
        "name" => (
            json!({"type": "string"}),
            "A KEK name (a resource name in the associations API)",
        ),
        "namespace" => (json!({"type": "string"}), "A resource namespace"),
        _ => (json!({"type": "string"}), "A path segment"),
    }
}

fn query_schema(kind: Kind) -> Value {
    match kind {
        // As the registry reads flags: any case, and empty meaning unset.
        Kind::Flag => json!({"anyOf": [
            {"type": "boolean"},
            {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])?$"},
        ]}),
        // Empty means unset.
        Kind::Int => json!({"anyOf": [
            {"type": "integer", "format": "int64"},
            {"type": "string", "maxLength": 0},
        ]}),
        Kind::Text => json!({"type": "string"}),
        Kind::Repeated => json!({"type": "array", "items": {"type": "string"}}),
        // Empty means unset.
        Kind::OneOf(words) => {
            let mut words: Vec<&str> = words.to_vec();
            words.push("");
            json!({"type": "string", "enum": words})
        }
    }
}

/// The media type of every JSON body the registry sends and takes.
const MEDIA: &str = super::CONTENT_TYPE;

/// The media types a request body is accepted in.
const REQUEST_MEDIA: [&str; 3] = [
    MEDIA,
    "application/vnd.schemaregistry+json",
    "application/json",
];

/// Builds the OpenAPI 3.1 document of `routes`.
pub fn openapi<'a>(routes: impl IntoIterator<Item = Documented<'a>>) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let error_schema = schema::<covenant_core::api::ErrorMessage>(&mut generator).to_value();
    let mut paths: Map<String, Value> = Map::new();
    for route in routes {
        let path = route.path.to_string();
        let item = paths
            .entry(path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object");
        item.insert(
            route.method.to_string(),
            operation(&path, route.doc, &mut generator, &error_schema),
        );
    }
    let components: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Covenant",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A schema registry and data-contract governance service: the Confluent Schema Registry REST API (schemas, subjects, compatibility, config, mode, contexts, the DEK registry, associations) and Covenant's own endpoints (audit trail, semantic versions, metrics). Every error body is {\"error_code\", \"message\"}; the error codes each status carries are listed per response.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "A user of the auth file, or an API key as user and secret"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key or a JWT"},
            },
        },
        "security": [{}, {"basic": []}, {"bearer": []}],
    })
}

fn operation(path: &str, doc: &Doc, generator: &mut SchemaGenerator, error: &Value) -> Value {
    let in_context = path.starts_with("/contexts/{context}/");
    let id = if in_context {
        format!("{}InContext", doc.id)
    } else {
        doc.id.to_string()
    };
    let mut parameters: Vec<Value> = Vec::new();
    let mut path_errors: Vec<(u16, Vec<u32>)> = Vec::new();
    for segment in path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (schema, description, error) = path_parameter(path, name);
            if let Some((status, code)) = error {
                path_errors.push((status, vec![code]));
            }
            parameters.push(json!({
                "name": name, "in": "path", "required": true,
                "description": description, "schema": schema,
            }));
        }
    }
    for query in &doc.query {
        // A subject named in the query is checked as the path's are.
        let checked_subject = matches!(query.name, "subject" | "subjectPrefix")
            && !path.starts_with("/dek-registry/")
            && !path.starts_with("/covenant/v1/audit");
        if checked_subject {
            path_errors.push((422, vec![42208]));
        }
        let mut schema = query_schema(query.kind);
        if checked_subject {
            let subject =
                json!({"type": "string", "pattern": format!("^[^{NO_CONTROL}]{{0,200}}$")});
            schema = match query.kind {
                Kind::Repeated => json!({"type": "array", "items": subject}),
                _ => subject,
            };
        }
        let mut parameter = json!({
            "name": query.name, "in": "query", "required": false,
            "description": query.description, "schema": schema,
        });
        if matches!(query.kind, Kind::Repeated) {
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        parameters.push(parameter);
    }
    let mut responses = Map::new();
    let (status, success) = success(&doc.success, generator);
    let mut success = success;
    if !doc.links.is_empty() {
        let mut links = Map::new();
        for link in &doc.links {
            let target = if in_context {
                format!("{}InContext", link.operation)
            } else {
                link.operation.to_string()
            };
            let parameters: Map<String, Value> = link
                .parameters
                .iter()
                .map(|(name, from)| (name.to_string(), json!(from)))
                .collect();
            links.insert(
                link.name.to_string(),
                json!({"operationId": target, "parameters": parameters}),
            );
        }
        success["links"] = Value::Object(links);
    }
    responses.insert(status.to_string(), success);
    let mut errors: Vec<(u16, Vec<u32>)> = vec![
        (400, vec![400]),
        (401, vec![401]),
        (403, vec![40301]),
        (429, vec![42901]),
        (500, vec![500]),
    ];
    if doc.write {
        errors.push((500, vec![50001]));
    }
    errors.extend(path_errors);
    for (status, codes) in &doc.errors {
        errors.push((*status, codes.to_vec()));
    }
    errors.sort_by_key(|(status, _)| *status);
    let mut merged: Vec<(u16, Vec<u32>)> = Vec::new();
    for (status, codes) in errors {
        match merged.last_mut() {
            Some((last, all)) if *last == status => {
                for code in codes {
                    if !all.contains(&code) {
                        all.push(code);
                    }
                }
            }
            _ => merged.push((status, codes)),
        }
    }
    for (status, codes) in merged {
        let listed: Vec<String> = codes.iter().map(u32::to_string).collect();
        let mut schema = error.clone();
        if let Some(object) = schema.as_object_mut() {
            // The codes this status carries, as a constraint on `error_code`.
            object.insert("properties".into(), json!({"error_code": {"enum": codes}}));
        }
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("error_code {}", listed.join(", ")),
                "content": {MEDIA: {"schema": schema}},
            }),
        );
    }
    let mut operation = json!({
        "operationId": id,
        "summary": doc.summary,
        "tags": [doc.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = doc.body {
        let schema = body(generator).to_value();
        let content: Map<String, Value> = REQUEST_MEDIA
            .iter()
            .map(|media| (media.to_string(), json!({"schema": schema})))
            .collect();
        operation["requestBody"] = json!({"required": true, "content": content});
    }
    operation
}

fn success(success: &Success, generator: &mut SchemaGenerator) -> (u16, Value) {
    let json_body = |schema: Value| json!({"content": {MEDIA: {"schema": schema}}});
    let (status, mut value) = match success {
        Success::Json(status, schema) => (*status, json_body(schema(generator).to_value())),
        Success::Inline(status, schema) => (*status, json_body(schema.clone())),
        Success::SchemaText => (200, json_body(json!({}))),
        Success::Metrics => (
            200,
            json!({"content": {crate::metrics::CONTENT_TYPE: {"schema": {"type": "string"}}}}),
        ),
        Success::Spec => (
            200,
            json!({"content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
        Success::NoContent => (204, json!({})),
    };
    value["description"] = json!(match status {
        204 => "Done",
        207 => "One result per request entry",
        _ => "Success",
    });
    (status, value)
}
