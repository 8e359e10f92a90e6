//! The event log behind a small trait, and its backends.
//!
//! A log is a totally ordered sequence of [`Record`]s at offsets 0, 1, 2, ... An append names
//! the offset it expects to write at (the head it validated against); if another writer got
//! there first the append fails with [`StoreError::Conflict`] and the writer catches up and
//! re-validates. A successful append is durable before it returns.

mod memory;
mod postgres;
mod sled_log;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::persist::Record;

pub use memory::MemoryLog;
pub use postgres::PgLog;
pub use sled_log::SledLog;

/// A failure of the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended at the expected offset first.
    #[error("the log moved on: expected to append at offset {expected}, the head is at {head}")]
    Conflict {
        /// The offset the writer validated against.
        expected: u64,
        /// The actual head.
        head: u64,
    },
    /// The backend failed (I/O, connection, ...).
    #[error("{0}")]
    Backend(String),
    /// A stored record could not be read.
    #[error("corrupt record at offset {offset}: {reason}")]
    Corrupt {
        /// Where.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// The store URL is not understood.
    #[error("{0}")]
    Config(String),
}

/// The durable, totally ordered log of contract events.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends `record` at `offset`, which must be the current head. Durable on return.
    async fn append(&self, offset: u64, record: &Record) -> Result<(), StoreError>;

    /// Up to `limit` records from `from` (inclusive), in order, with their offsets.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<(u64, Record)>, StoreError>;

    /// A stable identifier of this registry's data, created with the store.
    async fn cluster_id(&self) -> Result<String, StoreError>;

    /// A short description for logs (`sled:///var/lib/covenant`).
    fn describe(&self) -> String;

    /// Returns when the log may have grown, or after `timeout`.
    async fn changed(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    /// The newest snapshot in `format`, as (offset, bytes).
    async fn load_snapshot(&self, format: u32) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// Stores a snapshot of the state folded up to `offset`.
    async fn save_snapshot(&self, offset: u64, format: u32, state: &[u8])
        -> Result<(), StoreError>;
}

/// How many snapshots of each format a store keeps: the newest, and the one before in case a
/// node is still loading it.
pub const SNAPSHOTS_KEPT: usize = 2;

/// Opens the log a store URL names: `sled://PATH`, `postgres://USER@HOST/DB[?schema=NAME]` or
/// `memory://` (nothing kept).
pub async fn open(url: &str) -> Result<Arc<dyn EventLog>, StoreError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        StoreError::Config(format!(
            "store `{url}` is not a URL: expected sled://PATH, postgres://USER@HOST/DB or memory://"
        ))
    })?;
    match scheme {
        "sled" => Ok(Arc::new(SledLog::open(rest)?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgLog::open(url).await?)),
        "memory" if rest.is_empty() => Ok(Arc::new(MemoryLog::new())),
        "memory" => Err(StoreError::Config(format!(
            "store `{url}`: memory:// takes no path"
        ))),
        other => Err(StoreError::Config(format!(
            "unknown store scheme `{other}` in `{url}`: expected sled://PATH, postgres://USER@HOST/DB or memory://"
        ))),
    }
}

/// Whether a store keeps nothing across restarts.
pub fn is_ephemeral(url: &str) -> bool {
    url.starts_with("memory://")
}

/// Drops all but the newest [`SNAPSHOTS_KEPT`] snapshots of `format` from a map keyed by
/// (format, offset); other formats are left alone.
fn prune(snapshots: &mut std::collections::BTreeMap<(u32, u64), Vec<u8>>, format: u32) {
    let old: Vec<(u32, u64)> = snapshots
        .range((format, 0)..=(format, u64::MAX))
        .rev()
        .skip(SNAPSHOTS_KEPT)
        .map(|(key, _)| *key)
        .collect();
    for key in old {
        snapshots.remove(&key);
    }
}

pub(crate) use crate::persist::{decode, encode};

#[cfg(test)]
pub(crate) mod suite {
    //! The storage test suite, written once and run against every backend.

    use super::*;
    use crate::persist::{Event, Scope, StoredConfig};

    /// A distinct record per label.
    fn mode(label: &str) -> Record {
        Record::now(Event::ConfigSet {
            scope: Scope::Global,
            config: StoredConfig {
                compatibility_group: Some(label.to_string()),
                ..StoredConfig::default()
            },
        })
    }

    pub async fn appends_in_order_and_reads_back(log: &dyn EventLog) {
        for offset in 0..5 {
            log.append(offset, &mode(&format!("M{offset}")))
                .await
                .expect("append");
        }
        let all = log.read(0, 100).await.expect("read");
        assert_eq!(all.len(), 5);
        for (index, (offset, record)) in all.iter().enumerate() {
            assert_eq!(*offset, index as u64);
            assert_eq!(record.event, mode(&format!("M{index}")).event);
        }
        let tail = log.read(3, 1).await.expect("read");
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].0, 3);
        assert!(log.read(5, 10).await.expect("read").is_empty());
    }

    pub async fn refuses_an_append_at_a_stale_offset(log: &dyn EventLog) {
        log.append(0, &mode("A")).await.expect("append");
        match log.append(0, &mode("B")).await {
            Err(StoreError::Conflict {
                expected: 0,
                head: 1,
            }) => {}
            other => panic!("expected a conflict, got {other:?}"),
        }
        match log.append(5, &mode("C")).await {
            Err(StoreError::Conflict {
                expected: 5,
                head: 1,
            }) => {}
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(log.read(0, 10).await.expect("read").len(), 1);
    }

    pub async fn keeps_the_latest_snapshots(log: &dyn EventLog) {
        assert_eq!(log.load_snapshot(1).await.expect("load"), None);
        log.save_snapshot(10, 1, b"ten").await.expect("save");
        log.save_snapshot(20, 1, b"twenty").await.expect("save");
        log.save_snapshot(30, 2, b"other format")
            .await
            .expect("save");
        assert_eq!(
            log.load_snapshot(1).await.expect("load"),
            Some((20, b"twenty".to_vec()))
        );
        assert_eq!(
            log.load_snapshot(2).await.expect("load"),
            Some((30, b"other format".to_vec()))
        );
    }

    /// Snapshots are kept per format: a build writing format 2 does not prune the format 1
    /// snapshots an older build sharing the store still reads, and two formats at one offset
    /// are both kept.
    pub async fn prunes_snapshots_per_format(log: &dyn EventLog) {
        log.save_snapshot(100, 7, b"seven at 100")
            .await
            .expect("save");
        log.save_snapshot(100, 8, b"eight at 100")
            .await
            .expect("save");
        for offset in [200, 300, 400] {
            log.save_snapshot(offset, 8, format!("eight at {offset}").as_bytes())
                .await
                .expect("save");
        }
        assert_eq!(
            log.load_snapshot(7).await.expect("load"),
            Some((100, b"seven at 100".to_vec()))
        );
        assert_eq!(
            log.load_snapshot(8).await.expect("load"),
            Some((400, b"eight at 400".to_vec()))
        );
    }

    pub async fn keeps_its_cluster_id(log: &dyn EventLog) -> String {
        let first = log.cluster_id().await.expect("cluster id");
        assert!(!first.is_empty());
        assert_eq!(log.cluster_id().await.expect("cluster id"), first);
        first
    }
}
