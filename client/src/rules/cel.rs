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

/// A compiled CEL rule.
pub(crate) struct Cel {
    guard: Option<Program>,
    program: Program,
    uses_message: bool,
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
        let uses_message = program.references().has_variable("message")
            || guard
                .as_ref()
                .is_some_and(|g| g.references().has_variable("message"));
        Ok(Cel {
            guard,
            program,
            uses_message,
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

    /// Runs a message-level rule.
    pub fn message<V: RuleValue>(
        &self,
        rule: &Rule,
        value: &mut V,
        schema: &V::Schema,
    ) -> Result<(), Failure> {
        let message = value.to_cel();
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
fn truthy(value: &CelValue) -> bool {
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
        let tags: Vec<CelValue> = self
            .tags
            .tags_of(field)
            .into_iter()
            .map(|t| CelValue::String(Arc::new(t)))
            .collect();
        let result = self.cel.evaluate(|context| {
            context.add_variable_from_value("value", scalar_to_cel(value));
            context.add_variable_from_value("fullName", field.full_name);
            context.add_variable_from_value("name", field.name);
            context.add_variable_from_value("typeName", field.field_type.name());
            context.add_variable_from_value("tags", CelValue::List(Arc::new(tags)));
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
