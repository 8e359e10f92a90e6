//! The options every command that talks to a registry shares, and the client they build.

use clap::Args;
use covenant_client::{Auth, Client};

use crate::error::{CliError, Result};

/// The registry URL when neither `--registry` nor COVENANT_REGISTRY gives one.
pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8081";

/// Where the registry is and how to authenticate. Credentials come from flags or the
/// environment and are never printed.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Registry URL (also COVENANT_REGISTRY).
    #[arg(
        long,
        env = "COVENANT_REGISTRY",
        default_value = DEFAULT_REGISTRY
    )]
    pub registry: String,
    /// Basic-auth user (also COVENANT_USER).
    #[arg(long, env = "COVENANT_USER")]
    pub user: Option<String>,
    /// Basic-auth password (also COVENANT_PASSWORD).
    #[arg(long, env = "COVENANT_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Bearer token (also COVENANT_TOKEN).
    #[arg(long, env = "COVENANT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl RegistryArgs {
    /// A client for the registry.
    pub fn client(&self) -> Result<Client> {
        let auth = match (&self.user, &self.password, &self.token) {
            (_, _, Some(token)) => Auth::Bearer(token.clone()),
            (Some(user), password, None) => Auth::Basic {
                username: user.clone(),
                password: password.clone().unwrap_or_default(),
            },
            (None, Some(_), None) => {
                return Err(CliError(
                    "a password was given without a user (--user or COVENANT_USER)".into(),
                ))
            }
            (None, None, None) => Auth::None,
        };
        Ok(Client::builder(&self.registry).auth(auth).build()?)
    }
}
