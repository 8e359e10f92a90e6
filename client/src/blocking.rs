//! A blocking facade over the async [`crate::Client`], for code without an async runtime.
//! Each call runs on a small runtime the facade owns; do not use it from inside an async task.

use std::sync::Arc;

use covenant_core::api::{
    CompatibilityCheckResponse, Config, ConfigUpdateRequest, RegisterSchemaRequest,
    RegisterSchemaResponse, Schema, SchemaString,
};
use covenant_core::ids::VersionSpec;

use crate::error::{Error, Result};

/// A blocking registry client.
pub struct Client {
    inner: crate::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Wraps an async client.
    pub fn new(inner: crate::Client) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start a runtime: {e}")))?;
        Ok(Client { inner, runtime })
    }

    /// `POST /subjects/{s}/versions`.
    pub fn register(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<RegisterSchemaResponse> {
        self.runtime
            .block_on(self.inner.register(subject, request, normalize))
    }

    /// `GET /schemas/ids/{id}`.
    pub fn schema_by_id(&self, id: i32) -> Result<Arc<SchemaString>> {
        self.runtime.block_on(self.inner.schema_by_id(id, None))
    }

    /// `GET /subjects`.
    pub fn subjects(&self) -> Result<Vec<String>> {
        self.runtime.block_on(self.inner.subjects(None, false))
    }

    /// `GET /subjects/{s}/versions/{v}`.
    pub fn version(&self, subject: &str, version: VersionSpec) -> Result<Arc<Schema>> {
        self.runtime
            .block_on(self.inner.version(subject, version, false))
    }

    /// `POST /compatibility/subjects/{s}/versions?verbose=true`.
    pub fn check_compatibility(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
    ) -> Result<CompatibilityCheckResponse> {
        self.runtime
            .block_on(self.inner.check_compatibility(subject, None, request, true))
    }

    /// `GET /config[/{s}]`.
    pub fn config(&self, subject: Option<&str>) -> Result<Config> {
        self.runtime.block_on(self.inner.config(subject, true))
    }

    /// `PUT /config[/{s}]`.
    pub fn set_config(
        &self,
        subject: Option<&str>,
        request: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest> {
        self.runtime
            .block_on(self.inner.set_config(subject, request))
    }

    /// The async client underneath.
    pub fn inner(&self) -> &crate::Client {
        &self.inner
    }
}
