//! Who is asking, and may they: the caller of a request, the operation and the resource it
//! touches, and the one decision the registry asks for before every operation.

use std::net::IpAddr;

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
}

/// The caller of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The authenticated principal; `None` for an anonymous caller.
    pub principal: Option<String>,
    /// Where the request came from.
    pub source: Option<IpAddr>,
}

impl Caller {
    /// An anonymous caller from `source`.
    pub fn anonymous(source: Option<IpAddr>) -> Caller {
        Caller {
            principal: None,
            source,
        }
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
