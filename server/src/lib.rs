//! Covenant's registry server: the Confluent Schema Registry REST API over a durable log of
//! contract events.
//!
//! [`serve`] opens the store named by the config, replays its log into memory
//! ([`registry::Registry`]) and serves HTTP ([`http`]) until SIGTERM or Ctrl-C.

pub mod access;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod http;
pub mod kms;
pub mod metrics;
pub mod persist;
pub mod plan;
pub mod registry;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
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
    /// The auth file or the TLS files could not be loaded.
    #[error("{0}")]
    Config(String),
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
    let mut registry = registry::Registry::open(log, config.registry.clone())
        .await
        .map_err(|e| ServeError::Store(e.to_string()))?
        .with_kms(kms::Kms::with_local(
            config.local_kms_secret.as_deref(),
            config.local_kms_key_ids.as_deref(),
        ));
    tracing::info!(
        store = %registry.store_description(),
        records = registry.head(),
        millis = started.elapsed().as_millis() as u64,
        "log replayed"
    );
    let authenticator = match &config.auth {
        Some(settings) => {
            let authenticator =
                Arc::new(auth::Authenticator::load(settings.clone()).map_err(ServeError::Config)?);
            authenticator.refresh_keys().await;
            registry = registry.with_authorizer(authenticator.authorizer());
            Some(authenticator)
        }
        None => None,
    };
    let tls = match &config.tls {
        Some(files) => Some(Arc::new(
            tls::Tls::load(files.clone()).map_err(ServeError::Config)?,
        )),
        None => None,
    };
    let listener = std::net::TcpListener::bind(&config.listen).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {scheme}://{address}")?;
        stdout.flush()?;
    }
    tracing::info!(%address, %scheme, "serving");
    if !address.ip().is_loopback() {
        if tls.is_none() {
            tracing::warn!(%address, "serving plain HTTP on a non-loopback address: credentials and schemas cross the network in the clear; set tls_cert and tls_key");
        }
        if authenticator.is_none() {
            tracing::warn!(%address, "no auth file: anyone who can reach {address} may register, delete and reconfigure every contract; set auth_file");
        }
    }

    if !config.metrics {
        registry.metrics().disable();
    }
    let registry = Arc::new(registry);
    // Follow the log (other nodes' writes on a shared store) and store snapshots as it grows.
    actix_web::rt::spawn(Arc::clone(&registry).follow());
    if let Some(authenticator) = &authenticator {
        actix_web::rt::spawn(Arc::clone(authenticator).maintain());
    }
    if let Some(tls) = &tls {
        let tls = Arc::clone(tls);
        actix_web::rt::spawn(async move {
            loop {
                tokio::time::sleep(watch::INTERVAL).await;
                tls.reload_if_changed();
            }
        });
    }
    let data = web::Data::new(http::AppState {
        registry: Arc::clone(&registry),
        body: http::BodyLimits {
            max_bytes: config.max_body_bytes,
            timeout: config.body_timeout,
        },
        auth: authenticator,
        rates: http::auth::RequestRates::new(config.rate_limits),
        console: config.ui.then(|| Arc::new(console::Console::default())),
    });
    let ui = config.ui;
    let metrics_data = data.clone();
    let sources = http::limits::Sources::new(config.max_connections_per_source);
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(http::auth::authenticate))
            .wrap(from_fn(http::refuse_bad_escapes))
            .wrap(from_fn(http::limit_sources))
            .wrap(from_fn(http::observe))
            .configure(http::configure)
            .configure(|cfg| {
                // After the API's routes: the routes serializers call are tried first.
                if ui {
                    console::configure(cfg);
                }
            })
            .default_service(web::to(http::no_route))
    })
    .on_connect(move |connection, extensions| sources.on_connect(connection, extensions))
    .workers(workers)
    .max_connections(config.max_connections.div_ceil(workers))
    .client_request_timeout(config.body_timeout)
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .shutdown_timeout(10);
    let server = match &tls {
        Some(tls) => {
            server.listen_rustls_0_23(listener, tls.server_config().map_err(ServeError::Config)?)?
        }
        None => server.listen(listener)?,
    };
    let main = server.run();
    match &config.metrics_listen {
        None => main.await?,
        Some(address) => {
            let metrics = serve_metrics(address, metrics_data)?;
            let (main, metrics) = futures_util::future::join(main, metrics).await;
            main?;
            metrics?;
        }
    }
    registry.snapshot_at_stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `GET /metrics` alone on a second address (plain HTTP, the same authentication),
/// so that a scraper can reach it on an internal interface.
fn serve_metrics(
    address: &str,
    data: web::Data<http::AppState>,
) -> Result<actix_web::dev::Server, ServeError> {
    let listener = std::net::TcpListener::bind(address).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {address} for metrics: {e}"),
        )
    })?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "serving metrics");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(http::auth::authenticate))
            .wrap(from_fn(http::observe))
            .configure(http::configure_metrics)
            .default_service(web::to(http::no_route))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?;
    Ok(server.run())
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
