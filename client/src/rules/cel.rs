//! The `CEL` and `CEL_FIELD` executors, on the `cel` crate's interpreter.
//!
//! An expression may start with a guard: `guard ; expr` (split at the first `;`, as
//! Confluent's clients split it). When the guard is false the rule passes (a condition) or
//! leaves the value as it is (a transform).

use std::sync::{Arc, OnceLock};

use ::cel::{Context, Env, Program, Value as CelValue};
use covenant_core::contract::{Rule, RuleKind};

use super::field::{Field, Scalar, TagPatterns};
use super::values::{cel_to_json, cel_to_scalar, scalar_to_cel, RuleValue, Visitor};
use super::{Compiled, Failure};

/// The standard library and the strings extension, built once.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The extension only adds functions; it cannot clash with the standard library.
        let _ = env.add_extension(::cel::extensions::strings);
        Arc::new(env)
    })
}

/// The variables CEL_FIELD binds besides `message`.
const FIELD_VARIABLES: [&str; 5] = ["value", "name", "fullName", "typeName", "tags"];

/// A compiled CEL rule.
pub(crate) struct Cel {
    guard: Option<Program>,
    program: Program,
    uses_message: bool,
    /// Which of CEL_FIELD's variables the expression (or its guard) reads: `value`, `name`,
    /// `fullName`, `typeName`, `tags`; only those are bound.
    uses: [bool; 5],
    /// The fields of `message` the expression reads, when it only ever reads `message.<field>`
    /// (so only those are converted for it); `None` when it uses `message` otherwise.
    message_fields: Option<Vec<String>>,
}

/// The names after every `message.` in `source`, or `None` if `message` also appears without
/// a field after it (`size(message)`, `message["x"]`): then the whole message is converted.
fn selected_fields(source: &str) -> Option<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut fields = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("message") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "message".len()..];
        rest = after;
        if before.is_some_and(|c| ident(c) || c == '.') || after.starts_with(ident) {
            continue; // part of another name (`a_message`, `x.message`, `messages`)
        }
        let member = after.trim_start().strip_prefix('.')?.trim_start();
        let name: String = member.chars().take_while(|&c| ident(c)).collect();
        // `message.all(...)`, `message.size()`: a macro or method on the whole map.
        if name.is_empty() || member[name.len()..].trim_start().starts_with('(') {
            return None;
        }
        if !fields.contains(&name) {
            fields.push(name);
        }
    }
    Some(fields)
}

impl Cel {
    /// Compiles `expr` (with its guard, if any).
    pub fn compile(expr: &str) -> Result<Cel, String> {
        let (guard, body) = match expr.split_once(';') {
            Some((guard, body)) => (Some(guard), body),
            None => (None, expr),
        };
        let compile = |source: &str| {
            env()
                .compile(source)
                .map_err(|e| format!("`{}` is not a CEL expression: {e}", source.trim()))
        };
        let guard = guard
            .filter(|g| !g.trim().is_empty())
            .map(compile)
            .transpose()?;
        if body.trim().is_empty() {
            return Err("the rule has no expression".into());
        }
        let program = compile(body)?;
        let reads = |name: &str| {
            program.references().has_variable(name)
                || guard
                    .as_ref()
                    .is_some_and(|g| g.references().has_variable(name))
        };
        let uses_message = reads("message");
        let uses = FIELD_VARIABLES.map(reads);
        Ok(Cel {
            guard,
            program,
            uses_message,
            uses,
            message_fields: selected_fields(expr),
        })
    }

    /// Evaluates with `bind` adding the variables; `None` when the guard is false.
    fn evaluate(
        &self,
        bind: impl FnOnce(&mut Context<'_, '_>),
    ) -> Result<Option<CelValue>, Failure> {
        let mut context = Context::with_env(Arc::clone(env()));
        bind(&mut context);
        if let Some(guard) = &self.guard {
            let passed = guard
                .execute(&context)
                .map_err(|e| Failure::failed(format!("the guard failed: {e}")))?;
            if !truthy(&passed) {
                return Ok(None);
            }
        }
        self.program
            .execute(&context)
            .map(Some)
            .map_err(|e| Failure::failed(format!("the expression failed: {e}")))
    }

    /// Judges a message-level condition, without changing the value.
    pub fn condition<V: RuleValue>(&self, value: &V) -> Result<(), Failure> {
        let message = match &self.message_fields {
            Some(fields) => value.to_cel_fields(fields),
            None => value.to_cel(),
        };
        match self.evaluate(|context| {
            context.add_variable_from_value("message", message);
        })? {
            None => Ok(()),
            Some(result) if truthy(&result) => Ok(()),
            Some(_) => Err(Failure::Condition { field: None }),
        }
    }

    /// Runs a message-level rule.
    pub fn message<V: RuleValue>(
        &self,
        rule: &Rule,
        value: &mut V,
        schema: &V::Schema,
    ) -> Result<(), Failure> {
        let message = match &self.message_fields {
            Some(fields) => value.to_cel_fields(fields),
            None => value.to_cel(),
        };
        let Some(result) = self.evaluate(|context| {
            context.add_variable_from_value("message", message);
        })?
        else {
            return Ok(());
        };
        match rule.kind {
            // As Confluent's clients judge a message condition: by the result's truth.
            RuleKind::Condition if truthy(&result) => Ok(()),
            RuleKind::Condition => Err(Failure::Condition { field: None }),
            RuleKind::Transform => {
                let json = cel_to_json(&result).map_err(Failure::failed)?;
                *value = V::from_json(json, value, schema).map_err(|e| {
                    Failure::failed(format!("the transform's result is not a message: {e}"))
                })?;
                Ok(())
            }
        }
    }
}

/// CEL's truth as Confluent's clients read a result: false, zero, empty and null are false.
pub(crate) fn truthy(value: &CelValue) -> bool {
    match value {
        CelValue::Bool(b) => *b,
        CelValue::Int(i) => *i != 0,
        CelValue::UInt(u) => *u != 0,
        CelValue::Float(f) => *f != 0.0,
        CelValue::String(s) => !s.is_empty(),
        CelValue::Bytes(b) => !b.is_empty(),
        CelValue::List(l) => !l.is_empty(),
        CelValue::Map(m) => !m.map.is_empty(),
        CelValue::Null => false,
        _ => true,
    }
}

/// CEL_FIELD at each field it selects.
pub(crate) struct FieldVisitor<'a> {
    cel: &'a Cel,
    compiled: &'a Compiled,
    tags: &'a TagPatterns,
}

impl<'a> FieldVisitor<'a> {
    pub fn new(cel: &'a Cel, compiled: &'a Compiled, tags: &'a TagPatterns) -> FieldVisitor<'a> {
        FieldVisitor {
            cel,
            compiled,
            tags,
        }
    }
}

impl Visitor for FieldVisitor<'_> {
    fn wants(&self, field: &Field<'_>) -> bool {
        field.field_type.is_primitive() && self.tags.selects(&self.compiled.rule.tags, field)
    }

    fn needs_message(&self) -> bool {
        self.cel.uses_message
    }

    fn visit(
        &mut self,
        field: &Field<'_>,
        message: Option<&CelValue>,
        value: &mut Scalar,
    ) -> Result<(), Failure> {
        if *value == Scalar::Null {
            return Ok(());
        }
        let [value_used, name_used, full_name_used, type_used, tags_used] = self.cel.uses;
        let result = self.cel.evaluate(|context| {
            if value_used {
                context.add_variable_from_value("value", scalar_to_cel(value));
            }
            if full_name_used {
                context.add_variable_from_value("fullName", field.full_name);
            }
            if name_used {
                context.add_variable_from_value("name", field.name);
            }
            if type_used {
                context.add_variable_from_value("typeName", field.field_type.name());
            }
            if tags_used {
                let tags: Vec<CelValue> = self
                    .tags
                    .tags_of(field)
                    .into_iter()
                    .map(|t| CelValue::String(Arc::new(t)))
                    .collect();
                context.add_variable_from_value("tags", CelValue::List(Arc::new(tags)));
            }
            if let Some(message) = message {
                context.add_variable_from_value("message", message.clone());
            }
        })?;
        let Some(result) = result else {
            return Ok(());
        };
        match self.compiled.rule.kind {
            // A field condition fails only on `false`, as in Confluent's clients.
            RuleKind::Condition => match result {
                CelValue::Bool(false) => Err(Failure::Condition { field: None }),
                _ => Ok(()),
            },
            RuleKind::Transform => {
                *value = cel_to_scalar(result).map_err(Failure::failed)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::selected_fields;

    #[test]
    fn only_the_fields_an_expression_reads_are_converted() {
        let fields = |s: &str| selected_fields(s).map(|f| f.join(","));
        assert_eq!(fields("message.age > 18").as_deref(), Some("age"));
        assert_eq!(
            fields("message.a + message . b > message.a").as_deref(),
            Some("a,b")
        );
        assert_eq!(
            fields("has(message.email) ; message.email.size() > 1").as_deref(),
            Some("email")
        );
        assert_eq!(fields("size(message) > 1"), None);
        assert_eq!(fields("message['a'] == 1"), None);
        assert_eq!(fields("message.all(k, k != 'x')"), None);
        assert_eq!(fields("message.size() > 2"), None);
        assert_eq!(fields("messages.x == my_message.y").as_deref(), Some(""));
        assert_eq!(fields("true").as_deref(), Some(""));
    }
}
