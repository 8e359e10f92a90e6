//! Where expensive requests run: parsing and checking a schema can take a CPU for a while, so
//! registrations, lookups and compatibility checks run on a pool of their own, and the HTTP
//! workers stay free to answer the cheap reads (by id, latest, lists) meanwhile.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The pool for expensive requests: a multi-threaded runtime with one thread per CPU, started
/// on first use and kept for the life of the process.
fn pool() -> &'static tokio::runtime::Runtime {
    static POOL: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("covenant-work")
            .enable_all()
            .build()
            .expect("a runtime for expensive requests")
    })
}

/// Runs `work` on the pool and waits for it without holding the caller's thread.
pub async fn run<F, T>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    // The work runs under the request's span, on the pool's thread as on the caller's.
    pool()
        .spawn(tracing::Instrument::in_current_span(work))
        .await
        .map_err(|e| Error::Internal(format!("an expensive request failed: {e}")))?
}
