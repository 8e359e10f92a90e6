//! The CLI's error: a sentence for the user, and the exit code it means.

use std::fmt;

/// A failure of a command: usage, network, registry or file errors (exit code 2).
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<covenant_client::Error> for CliError {
    fn from(error: covenant_client::Error) -> Self {
        CliError(match error {
            covenant_client::Error::Transport { url, reason } => {
                format!("cannot reach the registry at {url}: {reason}")
            }
            covenant_client::Error::Registry {
                error_code,
                message,
                ..
            } => {
                format!("the registry refused the request ({error_code}): {message}")
            }
            other => other.to_string(),
        })
    }
}

impl From<covenant_core::Error> for CliError {
    fn from(error: covenant_core::Error) -> Self {
        CliError(error.to_string())
    }
}

/// Shorthand for an error with a message.
pub fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(CliError(message.into()))
}

/// The CLI's result type.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
