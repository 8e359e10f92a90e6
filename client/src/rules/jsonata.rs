//! The `JSONATA` executor (migrations, usually), on `jsonata-rs`.
//!
//! The value is handed to the expression as JSON (Avro's JSON form, Protobuf's JSON mapping)
//! and the result read back into the target schema. Each evaluation gets its own arena, is
//! limited in depth and time, and numbers pass through JSONata as doubles (integers beyond
//! 2^53 lose precision, as in JavaScript's JSONata).

use bumpalo::Bump;
use jsonata_rs::JsonAta;
use serde_json::Value as Json;

use super::values::RuleValue;
use super::Failure;

/// Nesting depth an evaluation may reach.
const MAX_DEPTH: usize = 500;
/// Milliseconds an evaluation may take.
const TIME_LIMIT_MS: usize = 1_000;

/// A JSONata expression, checked when the rule is compiled.
pub(crate) struct Jsonata {
    expr: String,
}

impl Jsonata {
    /// Checks that `expr` parses.
    pub fn compile(expr: &str) -> Result<Jsonata, String> {
        if expr.trim().is_empty() {
            return Err("the rule has no expression".into());
        }
        let arena = Bump::new();
        JsonAta::new(expr, &arena)
            .map_err(|e| format!("`{expr}` is not a JSONata expression: {e}"))?;
        Ok(Jsonata {
            expr: expr.to_string(),
        })
    }

    /// Evaluates the expression on JSON.
    pub fn evaluate(&self, input: &Json) -> Result<Json, Failure> {
        let arena = Bump::new();
        let expression = JsonAta::new(&self.expr, &arena)
            .map_err(|e| Failure::failed(format!("the expression does not parse: {e}")))?;
        let text = input.to_string();
        let result = expression
            .evaluate_timeboxed(Some(&text), Some(MAX_DEPTH), Some(TIME_LIMIT_MS))
            .map_err(|e| Failure::failed(format!("the expression failed: {e}")))?;
        if result.is_undefined() {
            return Err(Failure::failed("the expression's result is undefined"));
        }
        serde_json::from_str(&result.serialize(false))
            .map_err(|e| Failure::failed(format!("the expression's result is not JSON: {e}")))
    }

    /// A transform replaces the value with the expression's result, read back as `schema`; a
    /// condition passes when the result is true (or truthy: a non-empty string, a non-zero
    /// number, a non-empty array or object).
    pub fn transform<V: RuleValue>(
        &self,
        kind: covenant_core::contract::RuleKind,
        value: &mut V,
        schema: &V::Schema,
    ) -> Result<(), Failure> {
        let json = self.evaluate(&value.to_json())?;
        if kind == covenant_core::contract::RuleKind::Condition {
            let truthy = match &json {
                Json::Null => false,
                Json::Bool(b) => *b,
                Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Json::String(s) => !s.is_empty(),
                Json::Array(a) => !a.is_empty(),
                Json::Object(o) => !o.is_empty(),
            };
            return if truthy {
                Ok(())
            } else {
                Err(Failure::Condition { field: None })
            };
        }
        *value = V::from_json(json, value, schema)
            .map_err(|e| Failure::failed(format!("the result does not fit the schema: {e}")))?;
        Ok(())
    }
}
