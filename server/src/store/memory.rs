//! A log held in memory only (`memory://`), for experiments and tests: nothing survives the
//! process, and the server says so loudly when it starts on one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{DurableHead, Encoded, EventLog, SnapshotReader, StoreError};
use crate::persist::{RecordHash, Stored};

/// The records (as the bytes a durable log would store) and the snapshots.
#[derive(Default)]
pub struct MemoryLog {
    inner: Mutex<Inner>,
    cluster_id: String,
}

#[derive(Default)]
struct Inner {
    records: Vec<Vec<u8>>,
    /// (format, offset) → bytes.
    snapshots: BTreeMap<(u32, u64), Vec<u8>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog {
            inner: Mutex::new(Inner::default()),
            cluster_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// A log holding these stored records as they are (to test what replay makes of them).
    #[cfg(test)]
    pub fn with_records(records: Vec<Vec<u8>>) -> MemoryLog {
        let log = MemoryLog::new();
        log.inner.lock().records = records;
        log
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, offset: u64, records: &[Encoded]) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        let head = inner.records.len() as u64;
        if head != offset {
            return Err(StoreError::Conflict {
                expected: offset,
                head,
            });
        }
        inner
            .records
            .extend(records.iter().map(|record| record.bytes().to_vec()));
        Ok(())
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let inner = self.inner.lock();
        let start = usize::try_from(from).unwrap_or(usize::MAX);
        inner
            .records
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(offset, bytes)| Stored::read(offset as u64, bytes))
            .collect()
    }

    async fn durable_head(&self) -> Result<DurableHead, StoreError> {
        let inner = self.inner.lock();
        Ok(DurableHead {
            records: inner.records.len() as u64,
            hash: inner
                .records
                .last()
                .map_or(RecordHash::GENESIS, |bytes| RecordHash::of(bytes)),
        })
    }

    async fn cluster_id(&self) -> Result<String, StoreError> {
        Ok(self.cluster_id.clone())
    }

    fn describe(&self) -> String {
        "memory://".to_string()
    }

    async fn load_snapshot(
        &self,
        format: u32,
    ) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let inner = self.inner.lock();
        Ok(inner
            .snapshots
            .range((format, 0)..=(format, u64::MAX))
            .next_back()
            .map(|((_, offset), bytes)| {
                let reader: SnapshotReader = Box::new(std::io::Cursor::new(bytes.clone()));
                (*offset, reader)
            }))
    }

    async fn save_snapshot(
        &self,
        offset: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        inner.snapshots.insert((format, offset), state.to_vec());
        super::prune(&mut inner.snapshots, format);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    #[tokio::test]
    async fn appends_in_order_and_reads_back() {
        suite::appends_in_order_and_reads_back(&MemoryLog::new()).await;
    }

    #[tokio::test]
    async fn refuses_an_append_at_a_stale_offset() {
        suite::refuses_an_append_at_a_stale_offset(&MemoryLog::new()).await;
        suite::appends_a_batch_whole(&MemoryLog::new()).await;
    }

    #[tokio::test]
    async fn keeps_the_latest_snapshots_per_format() {
        let log = MemoryLog::new();
        suite::keeps_the_latest_snapshots(&log).await;
        suite::prunes_snapshots_per_format(&log).await;
    }

    #[tokio::test]
    async fn keeps_its_cluster_id() {
        suite::keeps_its_cluster_id(&MemoryLog::new()).await;
    }
}
