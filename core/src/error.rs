//! The error-code table shared by server and client, and the core crate's error type.
//!
//! Confluent's REST API answers every failure with an HTTP status and a numeric
//! `error_code` that differ (HTTP 404 carries 40401, 40402, ...). [`ErrorCode`] is the one
//! place that pairs them; the server turns it into a response body, the client maps the
//! number back to the same variant.

use std::fmt;

/// Every error a Confluent-compatible registry reports, with its numeric code and HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the request could not be read (malformed JSON, bad query value).
    BadRequest,
    /// 401: credentials are missing or wrong.
    Unauthorized,
    /// 40301: the caller may not perform the operation.
    Forbidden,
    /// 404: no route for this path.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 408: the request (its body) did not arrive in time.
    RequestTimeout,
    /// 413: the request body is larger than the configured limit.
    PayloadTooLarge,
    /// 422: the request body is JSON of the wrong shape.
    UnprocessableEntity,
    /// 40401: the subject does not exist (also: unknown context, no subject-level config to delete).
    SubjectNotFound,
    /// 40402: the version does not exist in the subject.
    VersionNotFound,
    /// 40403: no schema with that id, or the schema is not registered under the subject.
    SchemaNotFound,
    /// 40404: the subject was soft-deleted; a permanent delete is needed.
    SubjectSoftDeleted,
    /// 40405: a permanent delete of a subject that was not soft-deleted first.
    SubjectNotSoftDeleted,
    /// 40406: the version was soft-deleted; a permanent delete is needed.
    VersionSoftDeleted,
    /// 40407: a permanent delete of a version that was not soft-deleted first.
    VersionNotSoftDeleted,
    /// 40408: the subject has no subject-level compatibility configured.
    SubjectLevelCompatibilityNotConfigured,
    /// 40409: the subject has no subject-level mode configured.
    SubjectLevelModeNotConfigured,
    /// 40410: association not found (associations API).
    AssociationNotFound,
    /// 409: incompatible schema, the code deployed clients expect.
    IncompatibleSchemaLegacy,
    /// 40901: incompatible schema, the code Confluent answers since late 2025.
    IncompatibleSchema,
    /// 42201: the schema (or one of its references) is invalid.
    InvalidSchema,
    /// 42202: the version id is not an integer in `[1, 2^31-1]`, `latest` or `-1`.
    InvalidVersion,
    /// 42203: unknown compatibility level.
    InvalidCompatibilityLevel,
    /// 42204: unknown mode.
    InvalidMode,
    /// 42205: the operation is not permitted (read-only mode, import rules, ...).
    OperationNotPermitted,
    /// 42206: the version is referenced by another schema.
    ReferenceExists,
    /// 42207: an imported schema's id does not match the existing id.
    IdDoesNotMatch,
    /// 42208: the subject name is not valid.
    InvalidSubject,
    /// 42209: the schema is larger than the configured limit.
    SchemaTooLarge,
    /// 42210: the rule set is invalid.
    InvalidRuleSet,
    /// 42211: the context is not empty.
    ContextNotEmpty,
    /// 42212: an association request has an invalid value.
    InvalidAssociation,
    /// 40902: too many associations.
    TooManyAssociations,
    /// 40903: an association of the type already exists for the resource.
    AssociationForResourceExists,
    /// 40904: an association already exists for the subject.
    AssociationForSubjectExists,
    /// 40905: a strong association already exists for the subject.
    StrongAssociationExists,
    /// 40907: the subject has no active (non-deleted) version.
    NoActiveSubjectVersion,
    /// 40908: the association is frozen.
    AssociationFrozen,
    /// 40470: the key (KEK or DEK) does not exist.
    KeyNotFound,
    /// 40471: the key was not soft-deleted before a permanent delete.
    KeyNotSoftDeleted,
    /// 40472: the KEK must be undeleted first.
    KeySoftDeleted,
    /// 40971: the key already exists.
    KeyExists,
    /// 40972: too many keys.
    TooManyKeys,
    /// 40370: the KMS denied access.
    KmsAccessDenied,
    /// 42271: a field of a key is invalid or missing.
    InvalidKey,
    /// 42272: DEKs still reference the KEK.
    KeyReferenceExists,
    /// 50070: a DEK could not be generated or unwrapped.
    DekGenerationFailed,
    /// 42901: too many requests (a rate limit or a connection limit).
    TooManyRequests,
    /// 500: an unexpected server error.
    Internal,
    /// 50001: the backend store failed.
    StoreError,
    /// 50002: the operation timed out.
    OperationTimeout,
    /// 50003: forwarding to the leader failed (kept for clients that know it).
    RequestForwardingFailed,
    /// 50004: leader not known (kept for clients that know it).
    UnknownLeader,
    /// 503: the node is not ready to serve (still catching up with the log).
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every variant, for tables and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnprocessableEntity,
        ErrorCode::SubjectNotFound,
        ErrorCode::VersionNotFound,
        ErrorCode::SchemaNotFound,
        ErrorCode::SubjectSoftDeleted,
        ErrorCode::SubjectNotSoftDeleted,
        ErrorCode::VersionSoftDeleted,
        ErrorCode::VersionNotSoftDeleted,
        ErrorCode::SubjectLevelCompatibilityNotConfigured,
        ErrorCode::SubjectLevelModeNotConfigured,
        ErrorCode::AssociationNotFound,
        ErrorCode::IncompatibleSchemaLegacy,
        ErrorCode::IncompatibleSchema,
        ErrorCode::InvalidSchema,
        ErrorCode::InvalidVersion,
        ErrorCode::InvalidCompatibilityLevel,
        ErrorCode::InvalidMode,
        ErrorCode::OperationNotPermitted,
        ErrorCode::ReferenceExists,
        ErrorCode::IdDoesNotMatch,
        ErrorCode::InvalidSubject,
        ErrorCode::SchemaTooLarge,
        ErrorCode::InvalidRuleSet,
        ErrorCode::ContextNotEmpty,
        ErrorCode::InvalidAssociation,
        ErrorCode::TooManyAssociations,
        ErrorCode::AssociationForResourceExists,
        ErrorCode::AssociationForSubjectExists,
        ErrorCode::StrongAssociationExists,
        ErrorCode::NoActiveSubjectVersion,
        ErrorCode::AssociationFrozen,
        ErrorCode::KeyNotFound,
        ErrorCode::KeyNotSoftDeleted,
        ErrorCode::KeySoftDeleted,
        ErrorCode::KeyExists,
        ErrorCode::TooManyKeys,
        ErrorCode::KmsAccessDenied,
        ErrorCode::InvalidKey,
        ErrorCode::KeyReferenceExists,
        ErrorCode::DekGenerationFailed,
        ErrorCode::TooManyRequests,
        ErrorCode::Internal,
        ErrorCode::StoreError,
        ErrorCode::OperationTimeout,
        ErrorCode::RequestForwardingFailed,
        ErrorCode::UnknownLeader,
        ErrorCode::ServiceUnavailable,
    ];

    /// The numeric `error_code` of the response body.
    pub fn code(self) -> u32 {
        use ErrorCode::*;
        match self {
            BadRequest => 400,
            Unauthorized => 401,
            Forbidden => 40301,
            NotFound => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            PayloadTooLarge => 413,
            UnprocessableEntity => 422,
            SubjectNotFound => 40401,
            VersionNotFound => 40402,
            SchemaNotFound => 40403,
            SubjectSoftDeleted => 40404,
            SubjectNotSoftDeleted => 40405,
            VersionSoftDeleted => 40406,
            VersionNotSoftDeleted => 40407,
            SubjectLevelCompatibilityNotConfigured => 40408,
            SubjectLevelModeNotConfigured => 40409,
            AssociationNotFound => 40410,
            IncompatibleSchemaLegacy => 409,
            IncompatibleSchema => 40901,
            InvalidSchema => 42201,
            InvalidVersion => 42202,
            InvalidCompatibilityLevel => 42203,
            InvalidMode => 42204,
            OperationNotPermitted => 42205,
            ReferenceExists => 42206,
            IdDoesNotMatch => 42207,
            InvalidSubject => 42208,
            SchemaTooLarge => 42209,
            InvalidRuleSet => 42210,
            ContextNotEmpty => 42211,
            InvalidAssociation => 42212,
            TooManyAssociations => 40902,
            AssociationForResourceExists => 40903,
            AssociationForSubjectExists => 40904,
            StrongAssociationExists => 40905,
            NoActiveSubjectVersion => 40907,
            AssociationFrozen => 40908,
            KeyNotFound => 40470,
            KeyNotSoftDeleted => 40471,
            KeySoftDeleted => 40472,
            KeyExists => 40971,
            TooManyKeys => 40972,
            KmsAccessDenied => 40370,
            InvalidKey => 42271,
            KeyReferenceExists => 42272,
            DekGenerationFailed => 50070,
            TooManyRequests => 42901,
            Internal => 500,
            StoreError => 50001,
            OperationTimeout => 50002,
            RequestForwardingFailed => 50003,
            UnknownLeader => 50004,
            ServiceUnavailable => 503,
        }
    }

    /// The HTTP status the code travels with.
    pub fn http_status(self) -> u16 {
        let code = self.code();
        if code >= 10_000 {
            (code / 100) as u16
        } else {
            code as u16
        }
    }

    /// The variant for a numeric `error_code`, as a client reads it back.
    pub fn from_code(code: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Malformed input given to `core`: a schema that does not parse, an identifier out of range.
///
/// Compatibility problems are not errors: they come back as data from [`crate::compat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The schema text is not a valid schema of its type.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// The schema type is not one of AVRO, JSON, PROTOBUF.
    #[error("invalid schema type `{0}`: valid types are AVRO, JSON and PROTOBUF")]
    InvalidSchemaType(String),
    /// A version string is not a valid version id.
    #[error("the specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    /// A schema id is not an integer in `[1, 2^31-1]`.
    #[error("the schema id {0} is not valid: ids are integers between 1 and 2^31-1")]
    InvalidSchemaId(String),
    /// A compatibility level name is not known.
    #[error("invalid compatibility level `{0}`. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibilityLevel(String),
    /// The schema has more elements than the registry accepts.
    #[error("Register operation failed because schema is too large: it has more than {limit} elements (the max_schema_elements limit)")]
    SchemaTooComplex {
        /// The limit.
        limit: usize,
    },
    /// A compatibility policy name is not known (or not implemented).
    #[error("invalid compatibility policy `{0}`. Valid values are STRICT and LENIENT (LOGICAL is not implemented)")]
    InvalidCompatibilityPolicy(String),
    /// A mode name is not known.
    #[error("invalid mode `{0}`. Valid values are READWRITE, READONLY, IMPORT and FORWARD")]
    InvalidMode(String),
    /// A subject or context name is not valid.
    #[error("the specified subject '{0}' is not valid: {1}")]
    InvalidSubject(String, &'static str),
    /// A wire-format payload is malformed.
    #[error("malformed payload: {0}")]
    Wire(String),
}

impl Error {
    /// The registry error code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidSchema(_) | Error::InvalidSchemaType(_) => ErrorCode::InvalidSchema,
            Error::SchemaTooComplex { .. } => ErrorCode::SchemaTooLarge,
            Error::InvalidVersion(_) => ErrorCode::InvalidVersion,
            Error::InvalidSchemaId(_) => ErrorCode::UnprocessableEntity,
            Error::InvalidCompatibilityLevel(_) | Error::InvalidCompatibilityPolicy(_) => {
                ErrorCode::InvalidCompatibilityLevel
            }
            Error::InvalidMode(_) => ErrorCode::InvalidMode,
            Error::InvalidSubject(..) => ErrorCode::InvalidSubject,
            Error::Wire(_) => ErrorCode::BadRequest,
        }
    }
}

/// `core`'s result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code), "{code:?}");
        }
    }

    #[test]
    fn http_status_follows_the_confluent_convention() {
        let table = [
            (ErrorCode::SubjectNotFound, 404),
            (ErrorCode::VersionNotFound, 404),
            (ErrorCode::SchemaNotFound, 404),
            (ErrorCode::IncompatibleSchemaLegacy, 409),
            (ErrorCode::IncompatibleSchema, 409),
            (ErrorCode::InvalidSchema, 422),
            (ErrorCode::InvalidVersion, 422),
            (ErrorCode::StoreError, 500),
            (ErrorCode::UnknownLeader, 500),
            (ErrorCode::BadRequest, 400),
            (ErrorCode::PayloadTooLarge, 413),
            (ErrorCode::Internal, 500),
        ];
        for (code, status) in table {
            assert_eq!(code.http_status(), status, "{code:?}");
        }
    }
}
