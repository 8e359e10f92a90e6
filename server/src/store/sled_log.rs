//! The embedded log on sled: one tree of records keyed by big-endian offset, flushed to disk
//! before an append returns.

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{decode, encode, EventLog, StoreError};
use crate::persist::Record;

/// A log in a sled database directory.
pub struct SledLog {
    path: String,
    db: sled::Db,
    records: sled::Tree,
    snapshots: sled::Tree,
    /// Serialises appends so that the head check and the insert are one step.
    append_lock: Mutex<()>,
}

impl SledLog {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &str) -> Result<SledLog, StoreError> {
        if path.is_empty() {
            return Err(StoreError::Config("sled:// needs a directory path".into()));
        }
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|e| backend(&format!("cannot open sled database at {path}"), e))?;
        let records = db
            .open_tree("records")
            .map_err(|e| backend("cannot open the records tree", e))?;
        let snapshots = db
            .open_tree("snapshots")
            .map_err(|e| backend("cannot open the snapshots tree", e))?;
        Ok(SledLog {
            path: path.to_string(),
            db,
            records,
            snapshots,
            append_lock: Mutex::new(()),
        })
    }

    fn head(&self) -> Result<u64, StoreError> {
        match self
            .records
            .last()
            .map_err(|e| backend("cannot read the log head", e))?
        {
            Some((key, _)) => Ok(offset_of(&key)? + 1),
            None => Ok(0),
        }
    }
}

fn backend(what: &str, error: sled::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {error}"))
}

fn offset_of(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        offset: 0,
        reason: format!("a record key of {} bytes", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[async_trait]
impl EventLog for SledLog {
    async fn append(&self, offset: u64, record: &Record) -> Result<(), StoreError> {
        let bytes = encode(record)?;
        {
            let _guard = self.append_lock.lock();
            let head = self.head()?;
            if head != offset {
                return Err(StoreError::Conflict {
                    expected: offset,
                    head,
                });
            }
            self.records
                .insert(offset.to_be_bytes(), bytes)
                .map_err(|e| backend("cannot write the record", e))?;
        }
        // Durable before the caller acknowledges the write.
        self.db
            .flush_async()
            .await
            .map_err(|e| backend("cannot flush the log to disk", e))?;
        Ok(())
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<(u64, Record)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.records.range(from.to_be_bytes()..).take(limit) {
            let (key, value) = entry.map_err(|e| backend("cannot read the log", e))?;
            let offset = offset_of(&key)?;
            if offset != from + out.len() as u64 {
                return Err(StoreError::Corrupt {
                    offset,
                    reason: format!("expected offset {}", from + out.len() as u64),
                });
            }
            out.push((offset, decode(offset, &value)?));
        }
        Ok(out)
    }

    async fn cluster_id(&self) -> Result<String, StoreError> {
        const KEY: &[u8] = b"cluster_id";
        let candidate = uuid::Uuid::new_v4().to_string();
        // Only the first writer's id sticks.
        let _ = self
            .db
            .compare_and_swap(KEY, None as Option<&[u8]>, Some(candidate.as_bytes()))
            .map_err(|e| backend("cannot store the cluster id", e))?;
        self.db
            .flush_async()
            .await
            .map_err(|e| backend("cannot flush the cluster id", e))?;
        let stored = self
            .db
            .get(KEY)
            .map_err(|e| backend("cannot read the cluster id", e))?
            .ok_or_else(|| StoreError::Backend("the cluster id vanished".into()))?;
        Ok(String::from_utf8_lossy(&stored).into_owned())
    }

    fn describe(&self) -> String {
        format!("sled://{}", self.path)
    }

    async fn load_snapshot(&self, format: u32) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        // Keys: format (4 bytes) then offset (8 bytes), big-endian, so the last key of a format is the newest.
        let prefix = format.to_be_bytes();
        match self
            .snapshots
            .scan_prefix(prefix)
            .next_back()
            .transpose()
            .map_err(|e| backend("cannot read a snapshot", e))?
        {
            Some((key, value)) => Ok(Some((offset_of(&key[4..])?, value.to_vec()))),
            None => Ok(None),
        }
    }

    async fn save_snapshot(
        &self,
        offset: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let mut key = format.to_be_bytes().to_vec();
        key.extend_from_slice(&offset.to_be_bytes());
        self.snapshots
            .insert(&key, state)
            .map_err(|e| backend("cannot store a snapshot", e))?;
        // Keep the newest of the format.
        let keys: Vec<sled::IVec> = self
            .snapshots
            .scan_prefix(format.to_be_bytes())
            .keys()
            .filter_map(|k| k.ok())
            .collect();
        for old in keys.iter().rev().skip(super::SNAPSHOTS_KEPT) {
            let _ = self.snapshots.remove(old);
        }
        self.db
            .flush_async()
            .await
            .map_err(|e| backend("cannot flush a snapshot", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    fn temp() -> (tempfile::TempDir, SledLog) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db");
        let log = SledLog::open(path.to_str().expect("utf-8 path")).expect("opens");
        (dir, log)
    }

    #[tokio::test]
    async fn appends_in_order_and_reads_back() {
        let (_dir, log) = temp();
        suite::appends_in_order_and_reads_back(&log).await;
    }

    #[tokio::test]
    async fn refuses_an_append_at_a_stale_offset() {
        let (_dir, log) = temp();
        suite::refuses_an_append_at_a_stale_offset(&log).await;
    }

    #[tokio::test]
    async fn keeps_the_latest_snapshots_per_format() {
        let (_dir, log) = temp();
        suite::keeps_the_latest_snapshots(&log).await;
        suite::prunes_snapshots_per_format(&log).await;
    }

    #[tokio::test]
    async fn keeps_its_cluster_id_across_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db");
        let path = path.to_str().expect("utf-8 path");
        let first = {
            let log = SledLog::open(path).expect("opens");
            suite::keeps_its_cluster_id(&log).await
        };
        let log = SledLog::open(path).expect("reopens");
        assert_eq!(log.cluster_id().await.expect("cluster id"), first);
    }
}
