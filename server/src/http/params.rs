//! Reading requests: path segments, query parameters and JSON bodies, each failure a Confluent error.

use actix_web::{web, HttpRequest};
use covenant_core::ids::{ContextName, QualifiedSubject, VersionSpec};
use serde::de::DeserializeOwned;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::persist::Scope;
use crate::registry::query::{Deleted, Page};

/// The query string, decoded.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads the query string of a request.
    pub fn of(req: &HttpRequest) -> Params {
        Params(
            form_urlencoded::parse(req.query_string().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter: `true`/`True`/`TRUE` or `false`, absent or empty meaning unset.
    pub fn opt_flag(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Error::BadRequest(format!(
                "invalid value `{v}` for query parameter `{name}`: expected true or false"
            ))),
        }
    }

    /// A boolean parameter that defaults to false.
    pub fn flag(&self, name: &str) -> Result<bool> {
        Ok(self.opt_flag(name)?.unwrap_or(false))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::BadRequest(format!(
                    "invalid value `{v}` for query parameter `{name}`: expected an integer"
                ))
            }),
        }
    }

    /// `offset` and `limit` of a list without a default limit: a `limit` of 0 or below (or
    /// none) lists everything.
    pub fn page(&self) -> Result<Page> {
        self.page_limited(None)
    }

    /// `offset` and `limit` of a list with a default and largest limit (`GET /schemas`): as
    /// Confluent's `normalizeLimit`, a `limit` of 0 or below, or above the largest, is the
    /// default, not clamped.
    pub fn page_limited(&self, default: Option<usize>) -> Result<Page> {
        let offset = self.int("offset")?.unwrap_or(0).max(0) as usize;
        let limit = match self.int("limit")? {
            Some(n) if n > 0 && default.is_none_or(|max| n as u64 <= max as u64) => {
                Some(n as usize)
            }
            _ => default,
        };
        Ok(Page { offset, limit })
    }

    /// `deleted` and `deletedOnly`.
    pub fn deleted(&self) -> Result<Deleted> {
        Ok(Deleted {
            include: self.flag("deleted")?,
            only: self.flag("deletedOnly")?,
        })
    }
}

/// The caller of a request, as the authentication middleware decided it; anonymous when no
/// authentication is configured (or the middleware did not run, which no grant lets through).
pub fn caller(req: &HttpRequest) -> Caller {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(|| Caller::anonymous(req.peer_addr().map(|address| address.ip())))
}

/// A path segment, percent-decoded (the router keeps `%2F` encoded so that it never splits a path).
/// A segment whose escapes do not decode to UTF-8 (`%ff`) is refused, never decoded lossily
/// (`http::refuse_bad_escapes` already refuses such paths as a whole).
pub fn segment(req: &HttpRequest, name: &str) -> Result<Option<String>> {
    let Some(raw) = req.match_info().get(name) else {
        return Ok(None);
    };
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|decoded| Some(decoded.into_owned()))
        .map_err(|_| {
            Error::BadRequest(format!(
                "the path segment `{raw}` is not valid UTF-8 once its escapes are decoded"
            ))
        })
}

/// The context from a `/contexts/{context}/` prefix, or the default context.
pub fn context(req: &HttpRequest) -> Result<ContextName> {
    match segment(req, "context")? {
        None => Ok(ContextName::default_context()),
        Some(raw) => ContextName::parse(&raw)
            .map_err(|e| Error::BadRequest(format!("invalid context prefix `{raw}`: {e}"))),
    }
}

/// The `{subject}` segment, qualified by the context prefix if there is one.
pub fn subject(req: &HttpRequest) -> Result<QualifiedSubject> {
    let context = context(req)?;
    let raw = segment(req, "subject")?.unwrap_or_default();
    Ok(QualifiedSubject::parse_in(&context, &raw)?)
}

/// The `{version}` segment.
pub fn version(req: &HttpRequest) -> Result<VersionSpec> {
    let raw = segment(req, "version")?.unwrap_or_default();
    Ok(raw.parse()?)
}

/// The config/mode scope a path names: `/config` (global or the prefix's context) or `/config/{subject}`.
pub fn scope(req: &HttpRequest) -> Result<Scope> {
    let context = context(req)?;
    let subject = match segment(req, "subject")? {
        Some(raw) => QualifiedSubject::parse_in(&context, &raw)?,
        None => QualifiedSubject::new(context, ""),
    };
    Ok(Scope::of(&subject))
}

/// Reads a JSON body of at most `limit` bytes.
///
/// As Confluent's registry answers: a body that is not JSON, or JSON of the wrong shape, is
/// 400 (naming the member); an empty or `null` body is 422; a body that stops arriving is cut
/// off after `timeout` with 408.
pub async fn json_body<T: DeserializeOwned>(
    payload: web::Payload,
    limits: &BodyLimits,
) -> Result<T> {
    let body = body(payload, limits).await?;
    // The common case, a well-formed object, is read straight into its type; only a body that
    // does not read is read again as a JSON value, to say what is wrong with it. (An object
    // that reads straight reads the same through a value: a repeated member, which the value
    // keeps the last of, fails here and is read through the value.)
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if object {
        if let Ok(read) = serde_json::from_slice::<T>(&body) {
            return Ok(read);
        }
    }
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::BadRequest(format!("the request body is not valid JSON: {e}")))?
    };
    match &value {
        serde_json::Value::Null => {
            return Err(Error::UnprocessableEntity(
                "the request body is empty: expected a JSON object".into(),
            ))
        }
        serde_json::Value::Object(_) => {}
        other => {
            return Err(Error::BadRequest(format!(
                "the request body must be a JSON object, not {}",
                match other {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    _ => "a boolean",
                }
            )))
        }
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let member = error.path().to_string();
        let reason = friendly(&error.into_inner().to_string());
        // A required member that is absent is what Confluent's validation answers with 422.
        if reason.starts_with("missing field") {
            return Error::UnprocessableEntity(format!(
                "the request body lacks a member: {reason}"
            ));
        }
        Error::BadRequest(if member == "." {
            format!("the request body is not what this endpoint takes: {reason}")
        } else {
            format!("`{member}` in the request body: {reason}")
        })
    })
}

/// A request body within `limits`: 413 past the size, 408 when it stops arriving.
pub async fn body(payload: web::Payload, limits: &BodyLimits) -> Result<bytes::Bytes> {
    let limit = limits.max_bytes;
    tokio::time::timeout(limits.timeout, payload.to_bytes_limited(limit))
        .await
        .map_err(|_| Error::RequestTimeout)?
        .map_err(|_| Error::PayloadTooLarge { limit })?
        .map_err(|e| Error::BadRequest(format!("cannot read the request body: {e}")))
}

/// How much of a request body is read, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// The largest body accepted.
    pub max_bytes: usize,
    /// How long the whole body may take to arrive.
    pub timeout: std::time::Duration,
}

/// serde's wording in the user's terms (no Rust type names).
fn friendly(message: &str) -> String {
    let mut out = message.to_string();
    if let Some(at) = out.find("expected struct ") {
        out.replace_range(at.., "expected an object");
    }
    for (rust, user) in [
        ("expected a sequence", "expected an array"),
        ("expected i32", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("invalid type: ", ""),
        ("sequence", "array"),
        ("map,", "object,"),
    ] {
        out = out.replace(rust, user);
    }
    out
}
