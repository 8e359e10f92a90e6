//! The client's error type: the registry's answers keep their `error_code` and message; transport,
//! encoding and validation failures say what failed and where.

use covenant_core::ErrorCode;

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered with an error body.
    #[error("registry error {error_code} (HTTP {status}): {message}{}", request(.request_id))]
    Registry {
        /// The HTTP status.
        status: u16,
        /// The registry's numeric `error_code`.
        error_code: u32,
        /// The registry's message.
        message: String,
        /// The id of the request, as the registry logged it (`X-Request-Id`).
        request_id: Option<String>,
    },
    /// The registry could not be reached, or the request timed out.
    #[error("cannot reach the registry at {url}: {reason}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry answered something that is not the expected JSON.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The client was configured wrongly.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A schema could not be parsed.
    #[error("invalid schema: {0}")]
    Schema(String),
    /// A payload is not in the Confluent wire format.
    #[error("not a Confluent wire-format payload: {0}")]
    Wire(String),
    /// A value does not fit its schema; nothing was sent.
    #[error("the value does not match schema {schema}: at {path}: {reason}")]
    Validation {
        /// Which schema (id or subject).
        schema: String,
        /// Where in the value (`/address/zip`).
        path: String,
        /// Which rule it broke.
        reason: String,
    },
    /// A value could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
    /// A data-contract rule refused the event (or could not run on it).
    #[error("{0}")]
    Rule(Box<crate::rules::RuleError>),
}

impl Error {
    /// The registry error code, when the registry answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Registry { error_code, .. } => ErrorCode::from_code(*error_code),
            _ => None,
        }
    }

    /// Whether the registry said the thing asked for does not exist (any 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Registry { status: 404, .. })
    }

    /// Whether retrying the same request may succeed (transport failures and 5xx answers).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Registry { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl From<covenant_core::Error> for Error {
    fn from(error: covenant_core::Error) -> Self {
        match error {
            covenant_core::Error::Wire(reason) => Error::Wire(reason),
            other => Error::Schema(other.to_string()),
        }
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn request(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}
