//! The embedded store of releases before the file log: a sled database whose `records` tree
//! holds the records keyed by big-endian offset. It is only read, once, to migrate it.

use std::fs;
use std::path::Path;

use super::{file, StoreError};
use crate::persist::Stored;

fn backend(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {error}"))
}

/// Moves the sled database in `dir` into the file log in the same directory: every record is
/// read and checked, written to the new log with its head, and the sled files are moved to
/// `dir/sled-migrated/` (kept, not deleted).
pub fn migrate(dir: &Path) -> Result<(), StoreError> {
    let (records, cluster_id) = {
        let db = sled::Config::new().path(dir).open().map_err(|e| {
            backend(
                &format!("cannot open the sled database at {}", dir.display()),
                e,
            )
        })?;
        let tree = db
            .open_tree("records")
            .map_err(|e| backend("cannot open the records tree", e))?;
        let mut records = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|e| backend("cannot read the sled log", e))?;
            let offset = <[u8; 8]>::try_from(key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    offset: records.len() as u64,
                    reason: format!("a sled record key of {} bytes", key.len()),
                })?;
            if offset != records.len() as u64 {
                return Err(StoreError::Corrupt {
                    offset: records.len() as u64,
                    reason: format!(
                        "the sled log skips from offset {} to {offset}",
                        records.len()
                    ),
                });
            }
            // Every record must read before anything is written.
            Stored::read(offset, &value)?;
            records.push(value.to_vec());
        }
        let cluster_id = db
            .get(b"cluster_id")
            .map_err(|e| backend("cannot read the cluster id", e))?
            .map(|id| String::from_utf8_lossy(&id).into_owned());
        (records, cluster_id)
    };
    file::create(dir, &records, cluster_id.as_deref())?;
    let kept = dir.join("sled-migrated");
    fs::create_dir_all(&kept).map_err(|e| backend("cannot keep the sled files", e))?;
    for entry in fs::read_dir(dir)
        .map_err(|e| backend("cannot list the store", e))?
        .flatten()
    {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "db" || name == "conf" || name == "blobs" || name.starts_with("snap.") {
            fs::rename(entry.path(), kept.join(&*name))
                .map_err(|e| backend("cannot move the sled files aside", e))?;
        }
    }
    tracing::warn!(
        store = %dir.display(),
        records = records.len(),
        "migrated the sled database to the file log; the sled files are kept in sled-migrated/"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::{EventLog, FileLog};

    /// A sled store as releases before the file log wrote it (the records of
    /// `fixtures/storage/v1-full.jsonl`) opens as a file log with the same records, cluster id
    /// and a durable head, and the sled files are kept aside.
    #[tokio::test]
    async fn a_sled_store_is_migrated_with_its_records_and_cluster_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data");
        let lines: Vec<&str> = include_str!("../../../fixtures/storage/v1-full.jsonl")
            .lines()
            .filter(|l| !l.is_empty())
            .collect();
        {
            // No background flusher: its thread holds the database (and its file lock) for a
            // moment after the drop, which made the migration below fail now and then.
            let db = sled::Config::new()
                .path(&path)
                .flush_every_ms(None)
                .open()
                .expect("sled opens");
            let tree = db.open_tree("records").expect("tree");
            for (offset, line) in lines.iter().enumerate() {
                tree.insert((offset as u64).to_be_bytes(), line.as_bytes())
                    .expect("insert");
            }
            db.insert(b"cluster_id", b"cluster-from-sled".as_slice())
                .expect("insert");
            db.flush().expect("flush");
        }
        let log =
            super::super::file::open_migrating(path.to_str().expect("utf-8")).expect("migrates");
        assert_eq!(log.cluster_id().await.expect("id"), "cluster-from-sled");
        let records = log.read(0, 1000).await.expect("reads");
        assert_eq!(records.len(), lines.len());
        let head = log.durable_head().await.expect("head");
        assert_eq!(head.records, lines.len() as u64);
        assert_eq!(Some(head.hash), records.last().map(|r| r.hash));
        assert!(path.join("sled-migrated").join("db").exists());
        assert!(!path.join("db").exists());
        drop(log);
        // The next open is an ordinary one.
        let again = FileLog::open(&path).expect("reopens");
        assert_eq!(again.read(0, 1000).await.expect("reads").len(), lines.len());
    }
}
