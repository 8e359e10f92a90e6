//! Who is asking, and may they: the caller of a request, the operation and the resource it
//! touches, and the one decision the registry asks for before every operation.

use std::net::IpAddr;
use std::sync::Arc;

use covenant_core::ids::{ContextName, QualifiedSubject};

use crate::persist::Scope;

/// What an operation does, for permission checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read schemas, subjects, versions, config and mode.
    Read,
    /// Register versions.
    Write,
    /// Delete versions and subjects.
    Delete,
    /// Change a config.
    Config,
    /// Change a mode.
    Mode,
    /// Register with explicit ids (IMPORT mode).
    Import,
    /// Administer the registry (contexts, the audit trail).
    Admin,
}

/// What an operation touches.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// A subject.
    Subject(&'a QualifiedSubject),
    /// The config or mode at a scope.
    Scope(&'a Scope),
    /// A whole context.
    Context(&'a ContextName),
    /// The registry as a whole (`/contexts`, metadata).
    Registry,
    /// A key-encryption key of the DEK registry (its DEKs are the subjects').
    Kek(&'a str),
}

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// It did not: no credentials (or no authentication configured).
    Anonymous,
    /// HTTP basic: a user of the auth file.
    Basic,
    /// `Authorization: Bearer` with an API key of the auth file.
    ApiKey,
    /// `Authorization: Bearer` with a JWT from the configured OpenID Connect provider.
    Jwt,
    /// A client certificate the server's client CA vouches for.
    Mtls,
}

impl AuthMethod {
    /// The name the log and the audit trail use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::Basic => "basic",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Mtls => "mtls",
        }
    }

    /// Reads [`AuthMethod::as_str`] back.
    pub fn parse(name: &str) -> Option<AuthMethod> {
        Some(match name {
            "anonymous" => AuthMethod::Anonymous,
            "basic" => AuthMethod::Basic,
            "api_key" => AuthMethod::ApiKey,
            "jwt" => AuthMethod::Jwt,
            "mtls" => AuthMethod::Mtls,
            _ => return None,
        })
    }
}

impl std::str::FromStr for AuthMethod {
    type Err = String;

    fn from_str(name: &str) -> Result<AuthMethod, String> {
        AuthMethod::parse(name).ok_or_else(|| format!("unknown authentication method `{name}`"))
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a caller proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The principal: a user or API key name, a JWT's principal claim, a certificate's
    /// subject; `None` for an anonymous caller.
    pub name: Option<String>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// Its roles.
    pub roles: Vec<String>,
}

impl Identity {
    /// No one in particular.
    pub fn anonymous() -> Identity {
        Identity {
            name: None,
            method: AuthMethod::Anonymous,
            roles: Vec::new(),
        }
    }
}

/// The caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who it is.
    pub identity: Arc<Identity>,
    /// Where the request came from.
    pub source: Option<IpAddr>,
}

impl Default for Caller {
    fn default() -> Caller {
        Caller::anonymous(None)
    }
}

impl Caller {
    /// An anonymous caller from `source`.
    pub fn anonymous(source: Option<IpAddr>) -> Caller {
        static ANONYMOUS: std::sync::LazyLock<Arc<Identity>> =
            std::sync::LazyLock::new(|| Arc::new(Identity::anonymous()));
        Caller {
            identity: Arc::clone(&ANONYMOUS),
            source,
        }
    }

    /// The principal's name, if the caller has one.
    pub fn principal(&self) -> Option<&str> {
        self.identity.name.as_deref()
    }
}

/// Decides whether a caller may perform an operation on a resource.
pub trait Authorizer: Send + Sync {
    /// Whether `caller` may do `operation` on `resource`.
    fn permits(&self, caller: &Caller, operation: Operation, resource: Resource<'_>) -> bool;

    /// Whether every caller may do everything, so that per-item checks can be skipped.
    fn is_open(&self) -> bool {
        false
    }
}

/// Every caller may do everything: the registry without authentication configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Open;

impl Authorizer for Open {
    fn permits(&self, _caller: &Caller, _operation: Operation, _resource: Resource<'_>) -> bool {
        true
    }

    fn is_open(&self) -> bool {
        true
    }
}
