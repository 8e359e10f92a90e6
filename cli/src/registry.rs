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
    /// Bearer token: an API key or a JWT (also COVENANT_TOKEN).
    #[arg(long, env = "COVENANT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust for an https registry (also COVENANT_CA).
    #[arg(long, env = "COVENANT_CA")]
    pub ca: Option<std::path::PathBuf>,
    /// A PEM client certificate chain, for a registry that authenticates by certificate
    /// (also COVENANT_CERT; needs --key).
    #[arg(long, env = "COVENANT_CERT")]
    pub cert: Option<std::path::PathBuf>,
    /// The PEM private key of --cert (also COVENANT_KEY).
    #[arg(long, env = "COVENANT_KEY")]
    pub key: Option<std::path::PathBuf>,
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
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| CliError(format!("cannot read the {what} {}: {e}", path.display())))
        };
        let mut builder = Client::builder(&self.registry).auth(auth);
        if let Some(ca) = &self.ca {
            builder = builder.ca_certificate(read(ca, "CA file")?);
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                builder = builder
                    .client_certificate(read(cert, "client certificate")?, read(key, "client key")?)
            }
            (None, None) => {}
            _ => {
                return Err(CliError(
                    "--cert and --key go together (or COVENANT_CERT and COVENANT_KEY)".into(),
                ))
            }
        }
        Ok(builder.build()?)
    }
}
