//! The embedded log (`file://PATH`): an append-only file of checksummed frames, a durable head
//! kept in a file of its own, and snapshots as files, all in one directory that one process at a
//! time may hold.
//!
//! - `log`: frames of `[length: u32 LE][crc32: u32 LE][record bytes]`, one per record, in
//!   order. An append writes its frame and `fdatasync`s the file before anything else happens.
//! - `head`: the durable head, in two 128-byte slots written alternately (each with a sequence
//!   number and a checksum), so that a torn write of one leaves the other: how many records are
//!   durable, how many bytes of `log` they take, and the hash of the last. It is written and
//!   synced after the log and before the append is acknowledged.
//! - `snapshots/<format>-<offset>.snap`, `cluster_id`, and `LOCK`, held while the store is open.
//!
//! Opening checks the log against its head. Bytes after the last record the head vouches for
//! are an append that was never acknowledged: a torn frame there is cut off, complete frames
//! are kept (they were durable; only the acknowledgement was lost). A record the head vouches
//! for that is missing, damaged or changed stops the store from opening, with a message that
//! says what is missing and how to recover; a shorter history is never served.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{DurableHead, Encoded, EventLog, SnapshotReader, SnapshotWrite, StoreError};
use crate::persist::{RecordHash, Stored};

/// The largest frame accepted: far above the largest record the server writes (the schema
/// limit is 8 MiB by default), far below what a damaged length field would claim.
const MAX_FRAME: u64 = 256 * 1024 * 1024;
const FRAME_HEADER: u64 = 8;
const SLOT: usize = 128;
const HEAD_MAGIC: &[u8; 4] = b"CVHD";
const HEAD_VERSION: u32 = 1;

/// An embedded log in a directory.
pub struct FileLog {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
    cluster_id: String,
    _lock: File,
}

struct Inner {
    log: File,
    head_file: File,
    /// Where each record's frame starts.
    positions: Vec<u64>,
    /// The byte length of the log.
    end: u64,
    head: DurableHead,
    /// The sequence number of the head slot written last.
    seq: u64,
}

/// What a scan of the log found.
pub struct Scan {
    /// The start of each complete frame with a good checksum, in order.
    pub positions: Vec<u64>,
    /// The byte length of those frames.
    pub end: u64,
    /// The byte length of the file.
    pub length: u64,
    /// What stopped the scan before the end of the file, if anything.
    pub stopped: Option<String>,
}

/// The durable head as read from its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadSlot {
    /// The slot's sequence number.
    pub seq: u64,
    /// The head.
    pub head: DurableHead,
    /// The byte length of the log the head covers.
    pub end: u64,
}

fn io_error(what: impl std::fmt::Display, error: io::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {error}"))
}

/// Opens the embedded log at `path`, migrating a sled database an earlier release left there.
pub fn open_migrating(path: &str) -> Result<FileLog, StoreError> {
    if path.is_empty() {
        return Err(StoreError::Config(
            "the embedded store needs a directory: file://PATH".into(),
        ));
    }
    let dir = Path::new(path);
    if !dir.join("log").exists() && dir.join("db").exists() && dir.join("conf").exists() {
        super::sled_log::migrate(dir)?;
    }
    FileLog::open(dir)
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir`, checking it against its durable head.
    pub fn open(dir: &Path) -> Result<FileLog, StoreError> {
        fs::create_dir_all(dir.join("snapshots")).map_err(|e| {
            io_error(
                format!("cannot create the store directory {}", dir.display()),
                e,
            )
        })?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| io_error("cannot open the store's lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Config(format!(
                    "the store {} is in use by another process",
                    dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error("cannot lock the store", e)),
        }
        let log_path = dir.join("log");
        let head_path = dir.join("head");
        let fresh = !log_path.exists();
        if fresh && dir.join("cluster_id").exists() {
            return Err(StoreError::Damaged(format!(
                "the store {} was used before (it has a cluster id) but its log, the file `log`, is missing. The registry will not start empty in its place: restore the store from a backup.",
                dir.display()
            )));
        }
        let log = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| io_error(format!("cannot open {}", log_path.display()), e))?;
        if fresh && !head_path.exists() {
            write_new_file(&head_path, &encode_slot(1, DurableHead::EMPTY, 0))?;
            sync_dir(dir)?;
        }
        let head_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&head_path)
            .map_err(|_| {
                StoreError::Damaged(format!(
                    "the store {} has a log but no durable head (the file `head` is missing), so nothing vouches for how many records it should hold. If the log is known to be complete, `covenant log repair --store file://{}` rebuilds the head from it after verifying the whole chain; otherwise restore the store from a backup.",
                    dir.display(),
                    dir.display()
                ))
            })?;
        let slot = read_head(&head_file)?.ok_or_else(|| {
            StoreError::Damaged(format!(
                "the durable head of the store {} is unreadable (both copies in `head` fail their checksum), so nothing vouches for how many records the log should hold. If the log is known to be complete, `covenant log repair --store file://{}` rebuilds the head after verifying the whole chain; otherwise restore the store from a backup.",
                dir.display(),
                dir.display()
            ))
        })?;
        let scan = scan(&log)?;
        let (positions, end, head, seq) = reconcile(dir, &log, scan, slot)?;
        let mut inner = Inner {
            log,
            head_file,
            positions,
            end,
            head,
            seq,
        };
        if inner.seq != slot.seq {
            // The head moved (kept records past it, or cut a torn tail): make that durable.
            write_head(&mut inner)?;
        }
        let cluster_id = cluster_id(dir)?;
        Ok(FileLog {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(inner)),
            cluster_id,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A snapshot file's bytes after its CRC-32, checked as they are read: reaching the end of a
/// file whose bytes do not match is an error, so a damaged snapshot is never taken whole.
struct Checked {
    input: BufReader<File>,
    expected: u32,
    hasher: crc32fast::Hasher,
    path: PathBuf,
}

impl Read for Checked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let read = self.input.read(out)?;
        self.hasher.update(&out[..read]);
        if read == 0 && !out.is_empty() && self.hasher.clone().finalize() != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the snapshot {} fails its checksum", self.path.display()),
            ));
        }
        Ok(read)
    }
}

/// Checks a scan against the durable head; returns the frames to keep, the log's length, the
/// head and its sequence number (moved on if the head had to be advanced).
fn reconcile(
    dir: &Path,
    log: &File,
    scan: Scan,
    slot: HeadSlot,
) -> Result<(Vec<u64>, u64, DurableHead, u64), StoreError> {
    let held = scan.positions.len() as u64;
    let vouched = slot.head.records;
    if held < vouched {
        let why = scan
            .stopped
            .clone()
            .unwrap_or_else(|| format!("the file ends after {} bytes", scan.length));
        return Err(StoreError::Damaged(format!(
            "the log of the store {dir} is damaged: its durable head vouches for {vouched} records, but only records 0 to {last_good} can be read ({why}), so the acknowledged records {held} to {last} are missing or damaged. The registry will not start on a shorter history: restore the store from a backup (or `covenant export` from a healthy node), or run `covenant log verify --store file://{dir}` for details.",
            dir = dir.display(),
            last_good = held.saturating_sub(1),
            last = vouched - 1,
        )));
    }
    if vouched > 0 {
        let index = (vouched - 1) as usize;
        let bytes = read_frame(log, scan.positions[index])?;
        let hash = RecordHash::of(&bytes);
        if hash != slot.head.hash {
            return Err(StoreError::Damaged(format!(
                "the log of the store {} does not match its durable head: record {} hashes to {hash}, but the head recorded {} when it was acknowledged, so the record was changed. Restore the store from a backup, or run `covenant log verify --store file://{}`.",
                dir.display(),
                index,
                slot.head.hash,
                dir.display()
            )));
        }
    }
    let mut head = slot.head;
    let mut seq = slot.seq;
    if held > vouched {
        // Complete, checksummed records after the head: durable, never acknowledged.
        let last = (held - 1) as usize;
        head = DurableHead {
            records: held,
            hash: RecordHash::of(&read_frame(log, scan.positions[last])?),
        };
        seq += 1;
        tracing::warn!(
            store = %dir.display(),
            kept = held - vouched,
            "records past the durable head were written but not acknowledged before the last stop; they are kept"
        );
    }
    if scan.end < scan.length {
        log.set_len(scan.end)
            .and_then(|()| log.sync_data())
            .map_err(|e| io_error("cannot cut the unfinished write at the log's tail", e))?;
        seq = seq.max(slot.seq + 1);
        tracing::warn!(
            store = %dir.display(),
            bytes = scan.length - scan.end,
            reason = scan.stopped.as_deref().unwrap_or(""),
            "cut an unfinished write at the log's tail (it was never acknowledged)"
        );
    }
    Ok((scan.positions, scan.end, head, seq))
}

/// Reads every frame of a log, checking lengths and checksums, until the end of the file or
/// the first frame that is incomplete or fails its checksum.
pub fn scan(log: &File) -> Result<Scan, StoreError> {
    let length = log
        .metadata()
        .map_err(|e| io_error("cannot read the log's size", e))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, log);
    let mut positions = Vec::new();
    let mut position = 0u64;
    let mut payload = Vec::new();
    let mut stopped = None;
    while position < length {
        let mut header = [0u8; FRAME_HEADER as usize];
        if length - position < FRAME_HEADER {
            stopped = Some(format!("an incomplete frame header at byte {position}"));
            break;
        }
        read_exact(&mut reader, &mut header)?;
        let size = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if size == 0 || size > MAX_FRAME || position + FRAME_HEADER + size > length {
            stopped = Some(format!(
                "the frame of record {} at byte {position} claims {size} bytes, which the file does not hold",
                positions.len()
            ));
            break;
        }
        payload.resize(size as usize, 0);
        read_exact(&mut reader, &mut payload)?;
        if crc32fast::hash(&payload) != crc {
            stopped = Some(format!(
                "record {} at byte {position} fails its checksum",
                positions.len()
            ));
            break;
        }
        positions.push(position);
        position += FRAME_HEADER + size;
    }
    Ok(Scan {
        positions,
        end: position,
        length,
        stopped,
    })
}

/// Reads the next bytes of a log being scanned in order.
fn read_exact(reader: &mut BufReader<&File>, out: &mut [u8]) -> Result<(), StoreError> {
    reader
        .read_exact(out)
        .map_err(|e| io_error("cannot read the log", e))
}

/// The record bytes of the frame at `position`.
fn read_frame(log: &File, position: u64) -> Result<Vec<u8>, StoreError> {
    let mut header = [0u8; FRAME_HEADER as usize];
    log.read_exact_at(&mut header, position)
        .map_err(|e| io_error("cannot read the log", e))?;
    let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut payload = vec![0u8; size];
    log.read_exact_at(&mut payload, position + FRAME_HEADER)
        .map_err(|e| io_error("cannot read the log", e))?;
    if crc32fast::hash(&payload) != crc {
        return Err(StoreError::Damaged(format!(
            "the record at byte {position} of the log no longer passes its checksum (the file changed under the running server)"
        )));
    }
    Ok(payload)
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + FRAME_HEADER as usize);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

fn encode_slot(seq: u64, head: DurableHead, end: u64) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[0..4].copy_from_slice(HEAD_MAGIC);
    slot[4..8].copy_from_slice(&HEAD_VERSION.to_le_bytes());
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    slot[16..24].copy_from_slice(&head.records.to_le_bytes());
    slot[24..32].copy_from_slice(&end.to_le_bytes());
    slot[32..64].copy_from_slice(head.hash.as_bytes());
    let crc = crc32fast::hash(&slot[0..64]);
    slot[64..68].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode_slot(slot: &[u8]) -> Option<HeadSlot> {
    if slot.len() < SLOT || &slot[0..4] != HEAD_MAGIC {
        return None;
    }
    let word = |range: std::ops::Range<usize>| -> Option<u64> {
        Some(u64::from_le_bytes(slot[range].try_into().ok()?))
    };
    let crc = u32::from_le_bytes(slot[64..68].try_into().ok()?);
    if crc32fast::hash(&slot[0..64]) != crc {
        return None;
    }
    if u32::from_le_bytes(slot[4..8].try_into().ok()?) != HEAD_VERSION {
        return None;
    }
    let hash: [u8; 32] = slot[32..64].try_into().ok()?;
    Some(HeadSlot {
        seq: word(8..16)?,
        head: DurableHead {
            records: word(16..24)?,
            hash: RecordHash::from_bytes(hash),
        },
        end: word(24..32)?,
    })
}

/// The newest valid copy of the durable head, if either copy is valid.
pub fn read_head(file: &File) -> Result<Option<HeadSlot>, StoreError> {
    let mut bytes = Vec::new();
    let mut reader = file;
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| io_error("cannot read the durable head", e))?;
    let slots = [
        bytes.get(..SLOT).and_then(decode_slot),
        bytes.get(SLOT..2 * SLOT).and_then(decode_slot),
    ];
    Ok(slots.into_iter().flatten().max_by_key(|slot| slot.seq))
}

fn write_head(inner: &mut Inner) -> Result<(), StoreError> {
    let seq = inner.seq + 1;
    let slot = encode_slot(seq, inner.head, inner.end);
    let at = (seq % 2) * SLOT as u64;
    inner
        .head_file
        .write_all_at(&slot, at)
        .and_then(|()| inner.head_file.sync_data())
        .map_err(|e| io_error("cannot write the durable head", e))?;
    inner.seq = seq;
    Ok(())
}

/// Writes a new file atomically: a temporary file, synced, renamed into place.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = path.with_extension("tmp");
    let mut file = File::create(&temporary)
        .map_err(|e| io_error(format!("cannot create {}", temporary.display()), e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(format!("cannot write {}", temporary.display()), e))?;
    fs::rename(&temporary, path)
        .map_err(|e| io_error(format!("cannot rename {}", temporary.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(format!("cannot sync {}", dir.display()), e))
}

fn cluster_id(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join("cluster_id");
    match fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = uuid::Uuid::new_v4().to_string();
            write_new_file(&path, id.as_bytes())?;
            sync_dir(dir)?;
            Ok(id)
        }
    }
}

/// Walks the log in `dir` without taking the store's lock (appends only add frames after what
/// is read): every frame's checksum, every record's format and chain link, and the durable head.
pub fn verify(dir: &Path) -> Result<super::Verification, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Config(format!(
            "{} is not a store directory",
            dir.display()
        )));
    }
    let head = match File::open(dir.join("head")) {
        Ok(file) => read_head(&file)?.map(|slot| slot.head),
        Err(_) => None,
    };
    let log = match File::open(dir.join("log")) {
        Ok(log) => log,
        Err(error) => {
            return Ok(super::Verification {
                good: 0,
                chained_from: None,
                head: head.unwrap_or(DurableHead::EMPTY),
                problem: Some(format!(
                    "the log, {}, cannot be opened: {error}",
                    dir.join("log").display()
                )),
            })
        }
    };
    let scan = scan(&log)?;
    let mut check = super::ChainCheck::new(head.unwrap_or(DurableHead::EMPTY));
    for (offset, position) in scan.positions.iter().enumerate() {
        let stored = match read_frame(&log, *position)
            .and_then(|bytes| Stored::read(offset as u64, &bytes))
        {
            Ok(stored) => stored,
            Err(error) => {
                check.fail(offset as u64, error.to_string());
                return Ok(check.finish());
            }
        };
        if !check.next(stored) {
            return Ok(check.finish());
        }
    }
    if let Some(stopped) = &scan.stopped {
        let offset = scan.positions.len() as u64;
        if head.is_none_or(|head| offset < head.records) {
            check.fail(offset, stopped.clone());
            return Ok(check.finish());
        }
    }
    let mut verification = check.finish();
    if head.is_none() && verification.problem.is_none() {
        verification.problem = Some(
            "the durable head (the file `head`) is missing or unreadable; `covenant log repair` rebuilds it from this verified log".into(),
        );
    }
    Ok(verification)
}

/// Rebuilds the durable head of the store in `dir` from its log, after verifying every record
/// and the whole chain: for an operator who knows the log is complete but whose head is lost or
/// damaged. A torn tail is cut off first. Takes the store's lock. Returns the head written.
pub fn repair(dir: &Path) -> Result<DurableHead, StoreError> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|e| io_error("cannot open the store's lock file", e))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Config(format!(
            "the store {} is in use: stop the server first",
            dir.display()
        )));
    }
    rebuild_head(dir)
}

fn rebuild_head(dir: &Path) -> Result<DurableHead, StoreError> {
    let log = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("log"))
        .map_err(|e| io_error("cannot open the log", e))?;
    let scan = scan(&log)?;
    let mut tip = RecordHash::GENESIS;
    for (offset, position) in scan.positions.iter().enumerate() {
        let stored = Stored::read(offset as u64, &read_frame(&log, *position)?)?;
        stored.check_link(tip)?;
        tip = stored.hash;
    }
    if scan.end < scan.length {
        log.set_len(scan.end)
            .and_then(|()| log.sync_data())
            .map_err(|e| io_error("cannot cut the log's tail", e))?;
    }
    let head = DurableHead {
        records: scan.positions.len() as u64,
        hash: tip,
    };
    let mut bytes = encode_slot(1, head, scan.end).to_vec();
    bytes.extend_from_slice(&[0u8; SLOT]);
    write_new_file(&dir.join("head"), &bytes)?;
    sync_dir(dir)?;
    Ok(head)
}

/// Writes a whole log from record bytes (the migration from sled), with its head.
pub fn create(dir: &Path, records: &[Vec<u8>], cluster_id: Option<&str>) -> Result<(), StoreError> {
    fs::create_dir_all(dir.join("snapshots"))
        .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
    let mut bytes = Vec::new();
    let mut tip = RecordHash::GENESIS;
    for record in records {
        bytes.extend_from_slice(&frame(record));
        tip = RecordHash::of(record);
    }
    let head = DurableHead {
        records: records.len() as u64,
        hash: tip,
    };
    write_new_file(&dir.join("log"), &bytes)?;
    let mut slots = encode_slot(1, head, bytes.len() as u64).to_vec();
    slots.extend_from_slice(&[0u8; SLOT]);
    write_new_file(&dir.join("head"), &slots)?;
    if let Some(id) = cluster_id {
        write_new_file(&dir.join("cluster_id"), id.as_bytes())?;
    }
    sync_dir(dir)
}

fn snapshot_name(format: u32, offset: u64) -> String {
    format!("{format:010}-{offset:020}.snap")
}

fn parse_snapshot_name(name: &str) -> Option<(u32, u64)> {
    let stem = name.strip_suffix(".snap")?;
    let (format, offset) = stem.split_once('-')?;
    Some((format.parse().ok()?, offset.parse().ok()?))
}

/// The (format, offset, path) of every snapshot file, oldest first.
fn snapshots(dir: &Path) -> Result<Vec<(u32, u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir.join("snapshots"))
        .map_err(|e| io_error("cannot list the snapshots", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some((format, offset)) = name.to_str().and_then(parse_snapshot_name) {
            found.push((format, offset, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

#[async_trait]
impl EventLog for FileLog {
    async fn append(&self, offset: u64, records: &[Encoded]) -> Result<(), StoreError> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let last_hash = last.hash();
        // One write of every frame, one fdatasync of the log, one of the head: a batch costs
        // what one record does.
        let mut framed = Vec::with_capacity(
            records
                .iter()
                .map(|r| r.bytes().len() + FRAME_HEADER as usize)
                .sum(),
        );
        let mut starts = Vec::with_capacity(records.len());
        for record in records {
            starts.push(framed.len() as u64);
            framed.extend_from_slice(&frame(record.bytes()));
        }
        let count = records.len() as u64;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut inner = inner.lock();
            let head = inner.positions.len() as u64;
            if head != offset {
                return Err(StoreError::Conflict {
                    expected: offset,
                    head,
                });
            }
            let position = inner.end;
            if let Err(e) = inner
                .log
                .write_all_at(&framed, position)
                .and_then(|()| inner.log.sync_data())
            {
                // Nothing was acknowledged: forget whatever part of the frames reached the file.
                let _ = inner.log.set_len(position);
                return Err(io_error("cannot write the records to the log", e));
            }
            let previous = inner.head;
            inner.positions.extend(starts.iter().map(|s| position + s));
            inner.end = position + framed.len() as u64;
            inner.head = DurableHead {
                records: head + count,
                hash: last_hash,
            };
            if let Err(error) = write_head(&mut inner) {
                // The records are durable but not vouched for; they are kept at the next open.
                let kept = inner.positions.len() - count as usize;
                inner.positions.truncate(kept);
                inner.end = position;
                inner.head = previous;
                let _ = inner.log.set_len(position);
                return Err(error);
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the append task failed: {e}")))?
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let (positions, log) = {
                let inner = inner.lock();
                let start = usize::try_from(from)
                    .unwrap_or(usize::MAX)
                    .min(inner.positions.len());
                let stop = start.saturating_add(limit).min(inner.positions.len());
                let log = inner
                    .log
                    .try_clone()
                    .map_err(|e| io_error("cannot read the log", e))?;
                (inner.positions[start..stop].to_vec(), log)
            };
            positions
                .iter()
                .enumerate()
                .map(|(index, position)| {
                    Stored::read(from + index as u64, &read_frame(&log, *position)?)
                })
                .collect()
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the read task failed: {e}")))?
    }

    async fn durable_head(&self) -> Result<DurableHead, StoreError> {
        Ok(self.inner.lock().head)
    }

    async fn cluster_id(&self) -> Result<String, StoreError> {
        Ok(self.cluster_id.clone())
    }

    fn describe(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    async fn load_snapshot(
        &self,
        format: u32,
    ) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let Some((_, offset, path)) = snapshots(&dir)?
                .into_iter()
                .rev()
                .find(|(found, _, _)| *found == format)
            else {
                return Ok(None);
            };
            let file = File::open(&path).map_err(|e| io_error("cannot open a snapshot", e))?;
            let mut input = BufReader::with_capacity(1 << 20, file);
            let mut crc = [0; 4];
            input
                .read_exact(&mut crc)
                .map_err(|e| io_error("cannot read a snapshot", e))?;
            let reader: SnapshotReader = Box::new(Checked {
                input,
                expected: u32::from_le_bytes(crc),
                hasher: crc32fast::Hasher::new(),
                path,
            });
            Ok(Some((offset, reader)))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }

    async fn save_snapshot(
        &self,
        offset: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let state = state.to_vec();
        self.save_snapshot_with(
            offset,
            format,
            Box::new(move |out: &mut dyn Write| out.write_all(&state)),
        )
        .await
    }

    /// Writes the snapshot into a temporary file as it comes (after room for its CRC-32, which
    /// is written last), syncs it, and renames it into place.
    async fn save_snapshot_with(
        &self,
        offset: u64,
        format: u32,
        write: SnapshotWrite,
    ) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let path = dir.join("snapshots").join(snapshot_name(format, offset));
            let temporary = path.with_extension("tmp");
            let file = File::create(&temporary)
                .map_err(|e| io_error(format!("cannot create {}", temporary.display()), e))?;
            let mut out = Summed {
                out: io::BufWriter::with_capacity(1 << 20, &file),
                hasher: crc32fast::Hasher::new(),
            };
            let written = out
                .out
                .write_all(&[0; 4])
                .and_then(|()| write(&mut out))
                .and_then(|()| out.out.flush());
            let crc = out.hasher.finalize();
            written
                .and_then(|()| file.write_all_at(&crc.to_le_bytes(), 0))
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    let _ = fs::remove_file(&temporary);
                    io_error(format!("cannot write {}", temporary.display()), e)
                })?;
            fs::rename(&temporary, &path)
                .map_err(|e| io_error(format!("cannot rename {}", temporary.display()), e))?;
            let kept: Vec<PathBuf> = snapshots(&dir)?
                .into_iter()
                .filter(|(found, _, _)| *found == format)
                .rev()
                .skip(super::SNAPSHOTS_KEPT)
                .map(|(_, _, path)| path)
                .collect();
            for old in kept {
                let _ = fs::remove_file(old);
            }
            sync_dir(&dir.join("snapshots"))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }
}

/// A writer that sums what goes through it (a snapshot's CRC-32).
struct Summed<W> {
    out: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.out.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    fn temp() -> (tempfile::TempDir, FileLog) {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = FileLog::open(&dir.path().join("store")).expect("opens");
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
        suite::appends_a_batch_whole(&log).await;
    }

    #[tokio::test]
    async fn keeps_the_latest_snapshots_per_format() {
        let (_dir, log) = temp();
        suite::keeps_the_latest_snapshots(&log).await;
        suite::prunes_snapshots_per_format(&log).await;
    }

    /// A snapshot file changed on disk fails its checksum when read to its end, whatever
    /// byte changed: it is never taken as the snapshot.
    #[tokio::test]
    async fn a_damaged_snapshot_fails_its_checksum_when_read() {
        let (dir, log) = temp();
        let body = b"a snapshot of some length, to damage in the middle".to_vec();
        log.save_snapshot(7, 5, &body).await.expect("save");
        let (_, reader) = log.load_snapshot(5).await.expect("load").expect("one");
        assert_eq!(super::super::read_snapshot(reader).expect("intact"), body);
        let path = dir.path().join("store/snapshots").join(snapshot_name(5, 7));
        let mut bytes = fs::read(&path).expect("read");
        bytes[20] ^= 0x20;
        fs::write(&path, &bytes).expect("write");
        let (offset, reader) = log.load_snapshot(5).await.expect("load").expect("one");
        assert_eq!(offset, 7);
        let error = super::super::read_snapshot(reader).expect_err("damaged");
        assert!(error.to_string().contains("fails its checksum"), "{error}");
    }

    /// A snapshot written as it comes reads back whole; one whose writer fails leaves no file
    /// behind (neither the snapshot nor its temporary), and the one before stays the newest.
    #[tokio::test]
    async fn a_streamed_snapshot_is_stored_whole_or_not_at_all() {
        let (dir, log) = temp();
        let write = |chunks: usize, fail: bool| -> SnapshotWrite {
            Box::new(move |out: &mut dyn Write| {
                for i in 0..chunks {
                    out.write_all(format!("chunk {i};").as_bytes())?;
                }
                if fail {
                    return Err(io::Error::other("the state could not be written"));
                }
                Ok(())
            })
        };
        log.save_snapshot_with(3, 5, write(100_000, false))
            .await
            .expect("saved");
        let error = log
            .save_snapshot_with(9, 5, write(10, true))
            .await
            .expect_err("the writer failed");
        assert!(
            error.to_string().contains("could not be written"),
            "{error}"
        );
        let names: Vec<String> = fs::read_dir(dir.path().join("store/snapshots"))
            .expect("listed")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [snapshot_name(5, 3)]);
        let (offset, reader) = log.load_snapshot(5).await.expect("load").expect("one");
        assert_eq!(offset, 3);
        let bytes = super::super::read_snapshot(reader).expect("intact");
        let expected: String = (0..100_000).map(|i| format!("chunk {i};")).collect();
        assert_eq!(bytes, expected.as_bytes());
    }

    #[tokio::test]
    async fn keeps_its_cluster_id_and_records_across_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store");
        let (first, head) = {
            let log = FileLog::open(&path).expect("opens");
            suite::appends_in_order_and_reads_back(&log).await;
            (
                suite::keeps_its_cluster_id(&log).await,
                log.durable_head().await.expect("head"),
            )
        };
        let log = FileLog::open(&path).expect("reopens");
        assert_eq!(log.cluster_id().await.expect("cluster id"), first);
        assert_eq!(log.durable_head().await.expect("head"), head);
        assert_eq!(
            log.read(0, 100).await.expect("reads").len() as u64,
            head.records
        );
    }

    #[test]
    fn a_second_process_cannot_open_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store");
        let _first = FileLog::open(&path).expect("opens");
        match FileLog::open(&path) {
            Err(StoreError::Config(message)) => assert!(message.contains("in use"), "{message}"),
            other => panic!("expected the store to be locked, got {}", other.is_ok()),
        }
    }

    #[test]
    fn head_slots_survive_a_torn_write_of_either() {
        let head = DurableHead {
            records: 7,
            hash: RecordHash::of(b"x"),
        };
        let newer = encode_slot(8, head, 700);
        let older = encode_slot(
            7,
            DurableHead {
                records: 6,
                hash: RecordHash::of(b"y"),
            },
            600,
        );
        let decoded = decode_slot(&newer).expect("valid");
        assert_eq!((decoded.seq, decoded.head, decoded.end), (8, head, 700));
        let mut torn = newer;
        torn[20] ^= 0xff;
        assert_eq!(decode_slot(&torn), None);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("head");
        let mut both = older.to_vec();
        both.extend_from_slice(&torn);
        fs::write(&path, &both).expect("write");
        let read = read_head(&File::open(&path).expect("open"))
            .expect("reads")
            .expect("one valid");
        assert_eq!(read.seq, 7);
    }
}
