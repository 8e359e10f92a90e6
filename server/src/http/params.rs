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

    /// `offset` and `limit` (-1 or absent = no limit).
    pub fn page(&self) -> Result<Page> {
        let offset = self.int("offset")?.unwrap_or(0).max(0) as usize;
        let limit = match self.int("limit")? {
            None => None,
            Some(n) if n < 0 => None,
            Some(n) => Some(n as usize),
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

/// The caller of a request. Without authentication every caller is anonymous.
pub fn caller(req: &HttpRequest) -> Caller {
    Caller::anonymous(req.peer_addr().map(|address| address.ip()))
}

/// A path segment, percent-decoded (the router keeps `%2F` encoded so that it never splits a path).
pub fn segment(req: &HttpRequest, name: &str) -> Option<String> {
    let raw = req.match_info().get(name)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The context from a `/contexts/{context}/` prefix, or the default context.
pub fn context(req: &HttpRequest) -> Result<ContextName> {
    match segment(req, "context") {
        None => Ok(ContextName::default_context()),
        Some(raw) => ContextName::parse(&raw)
            .map_err(|e| Error::BadRequest(format!("invalid context prefix `{raw}`: {e}"))),
    }
}

/// The `{subject}` segment, qualified by the context prefix if there is one.
pub fn subject(req: &HttpRequest) -> Result<QualifiedSubject> {
    let context = context(req)?;
    let raw = segment(req, "subject").unwrap_or_default();
    Ok(QualifiedSubject::parse_in(&context, &raw)?)
}

/// The `{version}` segment.
pub fn version(req: &HttpRequest) -> Result<VersionSpec> {
    let raw = segment(req, "version").unwrap_or_default();
    Ok(raw.parse()?)
}

/// The config/mode scope a path names: `/config` (global or the prefix's context) or `/config/{subject}`.
pub fn scope(req: &HttpRequest) -> Result<Scope> {
    let context = context(req)?;
    let subject = match segment(req, "subject") {
        Some(raw) => QualifiedSubject::parse_in(&context, &raw)?,
        None => QualifiedSubject::new(context, ""),
    };
    Ok(Scope::of(&subject))
}

/// Reads a JSON body of at most `limit` bytes.
pub async fn json_body<T: DeserializeOwned>(payload: web::Payload, limit: usize) -> Result<T> {
    let body = payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| Error::PayloadTooLarge { limit })?
        .map_err(|e| Error::BadRequest(format!("cannot read the request body: {e}")))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "the request body is empty: expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            Error::UnprocessableEntity(format!("the request body has the wrong shape: {e}"))
        } else {
            Error::BadRequest(format!("the request body is not valid JSON: {e}"))
        }
    })
}
