//! The server's error type: every failure a request can meet, each classified once by
//! [`Error::code`] into the shared [`ErrorCode`] table. Only the HTTP layer turns it into a body.

use covenant_core::ids::{SchemaId, Version};
use covenant_core::ErrorCode;

use crate::access::Operation;
use crate::store::StoreError;

/// A request's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input caught by `core` (version, level, mode, subject, schema type).
    #[error("{0}")]
    Core(#[from] covenant_core::Error),
    /// 40401.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40401 for a context.
    #[error("Context '{0}' not found.")]
    ContextNotFound(String),
    /// 40402.
    #[error("Version {version} not found in subject '{subject}'.")]
    VersionNotFound {
        /// The subject.
        subject: String,
        /// The version asked for.
        version: String,
    },
    /// 40403 by id or GUID.
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    /// 40403 for a lookup under a subject.
    #[error("Schema not found under subject '{0}'")]
    SchemaNotInSubject(String),
    /// 40404.
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 40406.
    #[error("Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: Version,
    },
    /// 40407.
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: Version,
    },
    /// 40408.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    NoSubjectConfig(String),
    /// 40409.
    #[error("Subject '{0}' does not have subject-level mode configured")]
    NoSubjectMode(String),
    /// 40410.
    #[error("Association for '{0}' not found.")]
    AssociationNotFound(String),
    /// 409 or 40901.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{details}]")]
    Incompatible {
        /// The subject.
        subject: String,
        /// The incompatibility messages and the summary, joined.
        details: String,
        /// Answer 409 (deployed clients) rather than 40901.
        legacy_code: bool,
        /// The level checked, and the kinds of incompatibility found (for the metrics).
        level: covenant_core::ids::CompatibilityLevel,
        /// The kinds of incompatibility found, once each.
        kinds: Vec<String>,
    },
    /// 42201.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 42205.
    #[error("{0}")]
    OperationNotPermitted(String),
    /// 42210: a rule set that breaks Confluent's rules for rule sets.
    #[error("{0}")]
    InvalidRuleSet(String),
    /// 42206.
    #[error("One or more references exist to the schema {{subject={subject}, version={version}}}: referenced by schema ids {}", ids_list(ids))]
    ReferenceExists {
        /// The referenced subject.
        subject: String,
        /// The referenced version.
        version: Version,
        /// The ids that reference it.
        ids: Vec<SchemaId>,
    },
    /// 42207.
    #[error("The ID of an imported schema does not match the existing ID: the schema already has id {existing}, the request gives {given}")]
    IdMismatch {
        /// The id the content already has.
        existing: SchemaId,
        /// The id the request gave.
        given: i64,
    },
    /// 42209.
    #[error(
        "Register operation failed because schema is too large: {size} bytes, the limit is {limit}"
    )]
    SchemaTooLarge {
        /// The schema's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// 42205: no id is left in the context's id space.
    #[error(
        "no schema id is left in context {context}: ids end at 2147483647 and are never reused"
    )]
    IdsExhausted {
        /// The context.
        context: String,
    },
    /// 42205: no version number is left in the subject.
    #[error("no version is left in subject '{subject}': versions end at 2147483647 and are never reused")]
    VersionsExhausted {
        /// The subject.
        subject: String,
    },
    /// 40470.
    #[error("Key '{0}' not found")]
    KeyNotFound(String),
    /// 40471.
    #[error("Key '{0}' was not deleted first before being permanently deleted")]
    KeyNotSoftDeleted(String),
    /// 40472.
    #[error("Key '{0}' must be undeleted first")]
    KeySoftDeleted(String),
    /// 40971.
    #[error("Key '{0}' already exists; use a different value")]
    KeyExists(String),
    /// 40972.
    #[error("A maximum of {0} keys already exist")]
    TooManyKeys(usize),
    /// 40370: the KMS refused access.
    #[error("{0}")]
    KmsAccessDenied(String),
    /// 42271.
    #[error("Invalid or missing value for field '{0}' of key")]
    InvalidKey(String),
    /// 42272.
    #[error("One or more references exist to the key '{0}'")]
    KeyReferenceExists(String),
    /// 50070.
    #[error("{0}")]
    DekGeneration(String),
    /// 42212.
    #[error(
        "The association specified an invalid value for property: '{property}', detail: {detail}"
    )]
    InvalidAssociation {
        /// The property.
        property: String,
        /// What is wrong with it.
        detail: String,
    },
    /// 40903.
    #[error(
        "An association of type '{association_type}' already exists for resource '{resource}'"
    )]
    AssociationForResourceExists {
        /// The association type.
        association_type: String,
        /// The resource name.
        resource: String,
    },
    /// 42206: a STRONG association for a subject other schemas reference.
    #[error("One or more references exist to the schema {0}.")]
    AssociationReferenced(String),
    /// 40904.
    #[error("An association already exists for subject '{0}'")]
    AssociationForSubjectExists(String),
    /// 40905.
    #[error("A strong association already exists for subject '{0}'")]
    StrongAssociationExists(String),
    /// 40907.
    #[error("No active (non-deleted) version exists for subject '{0}'")]
    NoActiveSubjectVersion(String),
    /// 40902 (Confluent's message; its server defines the code but never raises it).
    #[error("A maximum of {0} associations already exist")]
    TooManyAssociations(usize),
    /// 40908 (Confluent's message, with its double space).
    #[error("The association of type  '{association_type}' is frozen for subject '{subject}'")]
    AssociationFrozen {
        /// The association type.
        association_type: String,
        /// The subject.
        subject: String,
    },
    /// 401: no valid credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// 429/42901: the caller is over a rate limit.
    #[error("{0}")]
    RateLimited(String),
    /// 40301: the caller may not do this.
    #[error("User is denied operation {operation:?} on {resource}")]
    Forbidden {
        /// The operation.
        operation: Operation,
        /// What it was asked for.
        resource: String,
    },
    /// 422: a compatibility check would take more steps than the configured budget.
    #[error("the compatibility check needs more than {limit} comparison steps (max_check_work): the schemas are too large or too deeply combined to compare within the limit; raise max_check_work to allow it")]
    CheckTooLarge {
        /// The budget.
        limit: u64,
    },
    /// 42211.
    #[error("The specified context '{0}' is not empty.")]
    ContextNotEmpty(String),
    /// 400: the body is not JSON, or a query value is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 422: the body is JSON of the wrong shape.
    #[error("{0}")]
    UnprocessableEntity(String),
    /// 408: the request body did not arrive in time (Confluent's wording).
    #[error("Timeout while reading from inputStream")]
    RequestTimeout,
    /// 429: the source has too many connections open.
    #[error("too many connections from {0}: close some, or raise max_connections_per_source")]
    TooManyConnections(String),
    /// 413.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// 404 for an unknown path.
    #[error("HTTP 404 Not Found: no endpoint {0}")]
    NoRoute(String),
    /// 405.
    #[error("HTTP 405 Method Not Allowed: {0}")]
    MethodNotAllowed(String),
    /// 503: not caught up with the log yet.
    #[error("{0}")]
    NotReady(String),
    /// 50001.
    #[error("Error in the backend data store: {0}")]
    Store(String),
    /// 500.
    #[error("Internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The error code and HTTP status this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        use Error::*;
        match self {
            Core(e) => e.code(),
            SubjectNotFound(_) | ContextNotFound(_) => ErrorCode::SubjectNotFound,
            VersionNotFound { .. } => ErrorCode::VersionNotFound,
            SchemaNotFound(_) | SchemaNotInSubject(_) => ErrorCode::SchemaNotFound,
            SubjectSoftDeleted(_) => ErrorCode::SubjectSoftDeleted,
            SubjectNotSoftDeleted(_) => ErrorCode::SubjectNotSoftDeleted,
            VersionSoftDeleted { .. } => ErrorCode::VersionSoftDeleted,
            VersionNotSoftDeleted { .. } => ErrorCode::VersionNotSoftDeleted,
            NoSubjectConfig(_) => ErrorCode::SubjectLevelCompatibilityNotConfigured,
            NoSubjectMode(_) => ErrorCode::SubjectLevelModeNotConfigured,
            AssociationNotFound(_) => ErrorCode::AssociationNotFound,
            Incompatible {
                legacy_code: true, ..
            } => ErrorCode::IncompatibleSchemaLegacy,
            Incompatible { .. } => ErrorCode::IncompatibleSchema,
            InvalidSchema(_) => ErrorCode::InvalidSchema,
            InvalidRuleSet(_) => ErrorCode::InvalidRuleSet,
            OperationNotPermitted(_) | IdsExhausted { .. } | VersionsExhausted { .. } => {
                ErrorCode::OperationNotPermitted
            }
            Forbidden { .. } => ErrorCode::Forbidden,
            Unauthorized => ErrorCode::Unauthorized,
            KeyNotFound(_) => ErrorCode::KeyNotFound,
            KeyNotSoftDeleted(_) => ErrorCode::KeyNotSoftDeleted,
            KeySoftDeleted(_) => ErrorCode::KeySoftDeleted,
            KeyExists(_) => ErrorCode::KeyExists,
            TooManyKeys(_) => ErrorCode::TooManyKeys,
            KmsAccessDenied(_) => ErrorCode::KmsAccessDenied,
            InvalidKey(_) => ErrorCode::InvalidKey,
            KeyReferenceExists(_) => ErrorCode::KeyReferenceExists,
            DekGeneration(_) => ErrorCode::DekGenerationFailed,
            InvalidAssociation { .. } => ErrorCode::InvalidAssociation,
            AssociationForResourceExists { .. } => ErrorCode::AssociationForResourceExists,
            AssociationForSubjectExists(_) => ErrorCode::AssociationForSubjectExists,
            AssociationReferenced(_) => ErrorCode::ReferenceExists,
            StrongAssociationExists(_) => ErrorCode::StrongAssociationExists,
            NoActiveSubjectVersion(_) => ErrorCode::NoActiveSubjectVersion,
            AssociationFrozen { .. } => ErrorCode::AssociationFrozen,
            TooManyAssociations(_) => ErrorCode::TooManyAssociations,
            RateLimited(_) => ErrorCode::TooManyRequests,
            ReferenceExists { .. } => ErrorCode::ReferenceExists,
            IdMismatch { .. } => ErrorCode::IdDoesNotMatch,
            SchemaTooLarge { .. } => ErrorCode::SchemaTooLarge,
            ContextNotEmpty(_) => ErrorCode::ContextNotEmpty,
            BadRequest(_) => ErrorCode::BadRequest,
            UnprocessableEntity(_) | CheckTooLarge { .. } => ErrorCode::UnprocessableEntity,
            PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            RequestTimeout => ErrorCode::RequestTimeout,
            TooManyConnections(_) => ErrorCode::TooManyRequests,
            NoRoute(_) => ErrorCode::NotFound,
            MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            NotReady(_) => ErrorCode::ServiceUnavailable,
            Store(_) => ErrorCode::StoreError,
            Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        // The backend's detail goes to the log; the response names the failure only.
        tracing::error!(%error, "store failure");
        match error {
            StoreError::Conflict { .. } => Error::Store("the write lost a race; retry".into()),
            StoreError::Backend(_) | StoreError::Config(_) => {
                Error::Store("the store is unavailable; the write was not applied".into())
            }
            StoreError::Damaged(message) => Error::Store(message),
            StoreError::Corrupt { offset, reason } => Error::Store(format!(
                "the log is unreadable at offset {offset}: {reason}"
            )),
        }
    }
}

/// `[1, 2]`, as the 42206 message lists ids.
fn ids_list(ids: &[SchemaId]) -> String {
    let ids: Vec<String> = ids.iter().map(SchemaId::to_string).collect();
    format!("[{}]", ids.join(", "))
}

/// The server's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
