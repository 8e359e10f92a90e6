//! The event log behind a small trait, and its backends.
//!
//! A log is a totally ordered sequence of [`Record`]s at offsets 0, 1, 2, ... An append names
//! the offset it expects to write at (the head it validated against); if another writer got
//! there first the append fails with [`StoreError::Conflict`] and the writer catches up and
//! re-validates. A successful append is durable before it returns, and so is the log's
//! *durable head* (how many records there are, and the hash of the last), kept where a damaged
//! or truncated tail cannot take it along: a store that holds fewer records than its head
//! vouches for refuses to open rather than serve a shorter history.

mod file;
mod memory;
mod postgres;
mod sled_log;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::persist::{Record, RecordHash, Stored};

pub use file::FileLog;
pub use memory::MemoryLog;
pub use postgres::PgLog;

/// How many records a log holds that were durably appended, and the hash of the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurableHead {
    /// The number of records (the offset of the next one).
    pub records: u64,
    /// The hash of the record at `records - 1` ([`RecordHash::GENESIS`] for an empty log).
    pub hash: RecordHash,
}

impl DurableHead {
    /// The head of an empty log.
    pub const EMPTY: DurableHead = DurableHead {
        records: 0,
        hash: RecordHash::GENESIS,
    };
}

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
    /// The store is damaged in a way that loses acknowledged records; it will not be served.
    #[error("{0}")]
    Damaged(String),
    /// The store URL is not understood.
    #[error("{0}")]
    Config(String),
}

/// A record encoded as the log stores it, with the hash of those bytes (what the next record
/// chains to). The engine encodes a record once, when it plans it, so it can plan the next one
/// on top before either is stored.
#[derive(Clone, Debug)]
pub struct Encoded {
    bytes: Vec<u8>,
    hash: RecordHash,
}

impl Encoded {
    /// Encodes a record.
    pub fn new(record: &Record) -> Result<Encoded, StoreError> {
        let bytes = encode(record)?;
        let hash = RecordHash::of(&bytes);
        Ok(Encoded { bytes, hash })
    }

    /// The bytes stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their hash.
    pub fn hash(&self) -> RecordHash {
        self.hash
    }
}

/// The durable, totally ordered log of contract events.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends `records` (at least one) at `offset`, which must be the current head, as one
    /// write: on return all of them are durable, with the durable head moved past the last;
    /// on an error none of them is acknowledged. Several writes planned one after another go
    /// down together this way (group commit): one flush, or one transaction.
    async fn append(&self, offset: u64, records: &[Encoded]) -> Result<(), StoreError>;

    /// Up to `limit` records from `from` (inclusive), in order, with their offsets and hashes.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<Stored>, StoreError>;

    /// The durable head, as the store keeps it apart from the records.
    async fn durable_head(&self) -> Result<DurableHead, StoreError>;

    /// A stable identifier of this registry's data, created with the store.
    async fn cluster_id(&self) -> Result<String, StoreError>;

    /// A short description for logs (`sled:///var/lib/covenant`).
    fn describe(&self) -> String;

    /// Returns when the log may have grown, or after `timeout`.
    async fn changed(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    /// The newest snapshot in `format`, as its offset and a reader of its bytes. The reader
    /// checks the store's checksum as it goes: damage is an error from `read` (at the latest
    /// when the end is reached), never bytes passed off as the snapshot's.
    async fn load_snapshot(&self, format: u32)
        -> Result<Option<(u64, SnapshotReader)>, StoreError>;

    /// Stores a snapshot of the state folded up to `offset`.
    async fn save_snapshot(&self, offset: u64, format: u32, state: &[u8])
        -> Result<(), StoreError>;

    /// Stores a snapshot that `write` writes. A store that can take it as it is written (the
    /// file store) never holds it whole; the others collect it, on a blocking thread, and
    /// store the bytes.
    async fn save_snapshot_with(
        &self,
        offset: u64,
        format: u32,
        write: SnapshotWrite,
    ) -> Result<(), StoreError> {
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            write(&mut bytes).map(|()| bytes)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
        .map_err(|e| StoreError::Backend(format!("cannot write a snapshot: {e}")))?;
        self.save_snapshot(offset, format, &bytes).await
    }
}

/// A snapshot's bytes, read as they are needed (a snapshot can be as large as every schema
/// text together).
pub type SnapshotReader = Box<dyn std::io::Read + Send>;

/// What writes a snapshot's bytes, on a blocking thread.
pub type SnapshotWrite =
    Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static>;

/// Reads a whole snapshot (tests and small stores).
pub fn read_snapshot(mut reader: SnapshotReader) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// How many snapshots of each format a store keeps: the newest, and the one before in case a
/// node is still loading it.
pub const SNAPSHOTS_KEPT: usize = 2;

/// Opens the log a store URL names: `file://PATH` (embedded; `sled://PATH` is the name earlier
/// releases used, and a sled database found there is migrated), `postgres://USER@HOST/DB[?schema=NAME]`
/// or `memory://` (nothing kept).
pub async fn open(url: &str) -> Result<Arc<dyn EventLog>, StoreError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        StoreError::Config(format!(
            "store `{url}` is not a URL: expected file://PATH, postgres://USER@HOST/DB or memory://"
        ))
    })?;
    match scheme {
        "file" | "sled" => Ok(Arc::new(file::open_migrating(rest)?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgLog::open(url).await?)),
        "memory" if rest.is_empty() => Ok(Arc::new(MemoryLog::new())),
        "memory" => Err(StoreError::Config(format!(
            "store `{url}`: memory:// takes no path"
        ))),
        other => Err(StoreError::Config(format!(
            "unknown store scheme `{other}` in `{url}`: expected file://PATH, postgres://USER@HOST/DB or memory://"
        ))),
    }
}

/// What `covenant log verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Records that read and chain correctly, from offset 0.
    pub good: u64,
    /// The first record of format 2 or later (from there on every record is chained).
    pub chained_from: Option<u64>,
    /// The durable head the store keeps.
    pub head: DurableHead,
    /// The first problem, if any: where, and what.
    pub problem: Option<String>,
}

/// Walks a whole log: every record must read, link to the record before it, and the log must
/// end where its durable head says. Reads only; a file store is read while a server may hold it.
pub async fn verify(url: &str) -> Result<Verification, StoreError> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match scheme {
        "file" | "sled" => file::verify(std::path::Path::new(rest)),
        "postgres" | "postgresql" => {
            let log = PgLog::open(url).await?;
            let head = log.durable_head().await?;
            let mut check = ChainCheck::new(head);
            let mut from = 0;
            loop {
                let batch = match log.read(from, 1000).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        check.fail(from, error.to_string());
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                from += batch.len() as u64;
                if !batch.into_iter().all(|stored| check.next(stored)) {
                    break;
                }
            }
            Ok(check.finish())
        }
        _ => Err(StoreError::Config(format!(
            "`covenant log verify` works on file:// and postgres:// stores, not `{url}`"
        ))),
    }
}

/// The checks of [`verify`], record by record.
pub(crate) struct ChainCheck {
    head: DurableHead,
    tip: RecordHash,
    good: u64,
    chained_from: Option<u64>,
    problem: Option<String>,
}

impl ChainCheck {
    pub(crate) fn new(head: DurableHead) -> ChainCheck {
        ChainCheck {
            head,
            tip: RecordHash::GENESIS,
            good: 0,
            chained_from: None,
            problem: None,
        }
    }

    /// Checks the next record; false once a problem is found.
    pub(crate) fn next(&mut self, stored: Stored) -> bool {
        if let Err(error) = stored.check_link(self.tip) {
            self.fail(stored.offset, error.to_string());
            return false;
        }
        if stored.record.v >= 2 && self.chained_from.is_none() {
            self.chained_from = Some(stored.offset);
        }
        self.tip = stored.hash;
        self.good += 1;
        true
    }

    pub(crate) fn fail(&mut self, offset: u64, reason: String) {
        self.problem = Some(format!("record {offset}: {reason}"));
    }

    pub(crate) fn finish(mut self) -> Verification {
        if self.problem.is_none() {
            if self.good < self.head.records {
                self.problem = Some(format!(
                    "the log ends after {} records, but its durable head vouches for {}: records {} to {} are missing",
                    self.good,
                    self.head.records,
                    self.good,
                    self.head.records - 1
                ));
            } else if self.head.records > 0
                && self.good == self.head.records
                && self.tip != self.head.hash
            {
                self.problem = Some(format!(
                    "record {} hashes to {}, but the durable head recorded {} when it was acknowledged",
                    self.good - 1,
                    self.tip,
                    self.head.hash
                ));
            }
        }
        Verification {
            good: self.good,
            chained_from: self.chained_from,
            head: self.head,
            problem: self.problem,
        }
    }
}

/// Rebuilds the durable head of a file store from its log after verifying the whole chain (for
/// a head that is lost or damaged while the log is known to be complete). The store must not
/// be in use.
pub fn repair(url: &str) -> Result<DurableHead, StoreError> {
    match url.split_once("://") {
        Some(("file" | "sled", path)) => file::repair(std::path::Path::new(path)),
        _ => Err(StoreError::Config(format!(
            "`covenant log repair` works on file:// stores, not `{url}`: a PostgreSQL log keeps its head in the same transaction as every record"
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

pub(crate) use crate::persist::encode;

#[cfg(test)]
pub(crate) mod suite {
    //! The storage test suite, written once and run against every backend.

    use super::*;
    use crate::persist::{Event, RecordHash, Scope, StoredConfig};

    /// Appends one record; returns its hash.
    pub async fn append_one(
        log: &dyn EventLog,
        offset: u64,
        record: &Record,
    ) -> Result<RecordHash, StoreError> {
        let encoded = Encoded::new(record)?;
        log.append(offset, std::slice::from_ref(&encoded)).await?;
        Ok(encoded.hash())
    }

    /// A distinct record per label, chained to `prev`.
    fn mode(label: &str, prev: RecordHash) -> Record {
        Record::new(
            Event::ConfigSet {
                scope: Scope::Global,
                config: StoredConfig {
                    compatibility_group: Some(label.to_string()),
                    ..StoredConfig::default()
                },
            },
            prev,
            crate::persist::Actor::of(&crate::access::Caller::default()),
        )
    }

    pub async fn appends_in_order_and_reads_back(log: &dyn EventLog) {
        let start = log.durable_head().await.expect("head");
        let mut tip = start.hash;
        let mut written = Vec::new();
        for index in 0..5 {
            let record = mode(&format!("M{index}"), tip);
            let offset = start.records + index;
            let hash = append_one(log, offset, &record).await.expect("append");
            assert_eq!(hash, RecordHash::of(&encode(&record).expect("encodes")));
            assert_eq!(
                log.durable_head().await.expect("head"),
                DurableHead {
                    records: offset + 1,
                    hash
                }
            );
            tip = hash;
            written.push((record, hash));
        }
        let all = log.read(start.records, 100).await.expect("read");
        assert_eq!(all.len(), 5);
        let mut tip = start.hash;
        for (index, stored) in all.iter().enumerate() {
            assert_eq!(stored.offset, start.records + index as u64);
            assert_eq!(stored.record.event, written[index].0.event);
            assert_eq!(stored.hash, written[index].1);
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
        }
        let tail = log.read(start.records + 3, 1).await.expect("read");
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].offset, start.records + 3);
        assert!(log
            .read(start.records + 5, 10)
            .await
            .expect("read")
            .is_empty());
    }

    pub async fn refuses_an_append_at_a_stale_offset(log: &dyn EventLog) {
        let first = append_one(log, 0, &mode("A", RecordHash::GENESIS))
            .await
            .expect("append");
        match append_one(log, 0, &mode("B", RecordHash::GENESIS)).await {
            Err(StoreError::Conflict {
                expected: 0,
                head: 1,
            }) => {}
            other => panic!("expected a conflict, got {other:?}"),
        }
        match append_one(log, 5, &mode("C", first)).await {
            Err(StoreError::Conflict {
                expected: 5,
                head: 1,
            }) => {}
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(log.read(0, 10).await.expect("read").len(), 1);
        assert_eq!(log.durable_head().await.expect("head").records, 1);
    }

    /// Several records appended as one write land in order, chained, with the durable head
    /// past the last; a batch at a stale offset lands not at all.
    pub async fn appends_a_batch_whole(log: &dyn EventLog) {
        let start = log.durable_head().await.expect("head");
        let mut tip = start.hash;
        let batch: Vec<Encoded> = (0..4)
            .map(|index| {
                let encoded = Encoded::new(&mode(&format!("B{index}"), tip)).expect("encodes");
                tip = encoded.hash();
                encoded
            })
            .collect();
        log.append(start.records, &batch).await.expect("append");
        assert_eq!(
            log.durable_head().await.expect("head"),
            DurableHead {
                records: start.records + 4,
                hash: tip
            }
        );
        let read = log.read(start.records, 10).await.expect("read");
        assert_eq!(read.len(), 4);
        let mut tip = start.hash;
        for (stored, encoded) in read.iter().zip(&batch) {
            assert_eq!(stored.hash, encoded.hash());
            stored.check_link(tip).expect("chained");
            tip = stored.hash;
        }
        let stale = [Encoded::new(&mode("late", start.hash)).expect("encodes")];
        match log.append(start.records, &stale).await {
            Err(StoreError::Conflict { expected, head })
                if expected == start.records && head == start.records + 4 => {}
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            log.read(start.records, 10).await.expect("read").len(),
            4,
            "nothing of a refused batch is stored"
        );
    }

    /// The newest snapshot of a format, as (offset, bytes).
    async fn newest(log: &dyn EventLog, format: u32) -> Option<(u64, Vec<u8>)> {
        let (offset, reader) = log.load_snapshot(format).await.expect("load")?;
        Some((
            offset,
            super::read_snapshot(reader).expect("an intact snapshot"),
        ))
    }

    pub async fn keeps_the_latest_snapshots(log: &dyn EventLog) {
        assert_eq!(newest(log, 1).await, None);
        log.save_snapshot(10, 1, b"ten").await.expect("save");
        log.save_snapshot(20, 1, b"twenty").await.expect("save");
        log.save_snapshot(30, 2, b"other format")
            .await
            .expect("save");
        assert_eq!(newest(log, 1).await, Some((20, b"twenty".to_vec())));
        assert_eq!(newest(log, 2).await, Some((30, b"other format".to_vec())));
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
        assert_eq!(newest(log, 7).await, Some((100, b"seven at 100".to_vec())));
        assert_eq!(newest(log, 8).await, Some((400, b"eight at 400".to_vec())));
    }

    pub async fn keeps_its_cluster_id(log: &dyn EventLog) -> String {
        let first = log.cluster_id().await.expect("cluster id");
        assert!(!first.is_empty());
        assert_eq!(log.cluster_id().await.expect("cluster id"), first);
        first
    }
}
