//! Covenant's registry server: the Confluent Schema Registry REST API over a durable log of
//! contract events.
//!
//! [`serve`] opens the store named by the config, replays its log into memory
//! ([`registry::Registry`]) and serves HTTP ([`http`]) until SIGTERM or Ctrl-C.

pub mod access;
pub mod config;
pub mod error;
pub mod http;
pub mod persist;
pub mod plan;
pub mod registry;
pub mod settings;
pub mod state;
pub mod store;
pub mod work;

use std::io::Write;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

pub use config::{Config, RawConfig};
pub use error::{Error, Result};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened or replayed.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// The address could not be bound, or the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the registry until it is told to stop.
///
/// Prints `listening on http://ADDR` as the first line of standard output once the socket is
/// bound, so that scripts and tests can find a port chosen with `:0`.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    raise_file_limit(config.max_connections);
    if store::is_ephemeral(&config.store) {
        tracing::warn!(
            store = %config.store,
            "THE STORE IS IN MEMORY: nothing is kept, every schema is lost when the process stops"
        );
    }
    let log = store::open(&config.store)
        .await
        .map_err(|e| ServeError::Store(e.to_string()))?;
    let started = std::time::Instant::now();
    let registry = registry::Registry::open(log, config.registry.clone())
        .await
        .map_err(|e| ServeError::Store(e.to_string()))?;
    tracing::info!(
        store = %registry.store_description(),
        records = registry.head(),
        millis = started.elapsed().as_millis() as u64,
        "log replayed"
    );
    let listener = std::net::TcpListener::bind(&config.listen).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    let address = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{address}")?;
        stdout.flush()?;
    }
    tracing::info!(%address, "serving");

    let registry = Arc::new(registry);
    // Follow the log (other nodes' writes on a shared store) and store snapshots as it grows.
    actix_web::rt::spawn(Arc::clone(&registry).follow());
    let data = web::Data::new(http::AppState {
        registry,
        body: http::BodyLimits {
            max_bytes: config.max_body_bytes,
            timeout: config.body_timeout,
        },
    });
    let sources = http::limits::Sources::new(config.max_connections_per_source);
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(http::log_requests))
            .wrap(from_fn(http::refuse_bad_escapes))
            .wrap(from_fn(http::limit_sources))
            .configure(http::configure)
            .default_service(web::to(http::no_route))
    })
    .on_connect(move |connection, extensions| sources.on_connect(connection, extensions))
    .workers(workers)
    .max_connections(config.max_connections.div_ceil(workers))
    .client_request_timeout(config.body_timeout)
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .shutdown_timeout(10);
    server.listen(listener)?.run().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the soft limit on open files as far as the hard limit allows, so that the connection
/// limits, not the process's file limit, decide how many clients are served.
fn raise_file_limit(connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < connections as u64 + 64 => tracing::warn!(
            limit,
            connections,
            "the process may open only {limit} files, fewer than max_connections allows"
        ),
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

/// Runs [`serve`] on a new actix system, blocking until the server stops.
pub fn run(config: Config) -> Result<(), ServeError> {
    actix_web::rt::System::new().block_on(serve(config))
}
