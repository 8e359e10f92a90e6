//! The engine under the registry: the log, the state folded from it, and the loop that keeps
//! them in step. It opens (snapshot, then tail), follows the log, catches up, commits planned
//! writes and stores snapshots; it knows nothing of the operations themselves.
//!
//! A write is planned against the state at the log head, then its event is appended at exactly
//! that offset. If another writer appended first (a shared log), the engine catches up and plans
//! again, so no decision is ever made against a history it has not seen.
//!
//! Writes are committed in groups. Planning happens one write at a time on the *working* state:
//! the durable state with every write planned since applied to it, so each decision is made
//! against exactly the history before it, planned or stored. The planned records queue up, and
//! while one group is being made durable the next one gathers; whoever waits first takes the
//! whole queue to the log as one append (one flush, one transaction). Reads see only the
//! *published* state, which moves to the working state of a group once that group is durable;
//! the persistent maps of [`State`] make the copy cheap. Every write, and every answer or error
//! that was decided on planned records, is returned only once what it saw is durable. A group
//! that fails fails each of its writes (and those planned on top of it) with the store's error,
//! or has them planned again when the log had moved (another node appended first).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::persist::snapshot::{self, Snapshot};
use crate::persist::{Actor, Record, Stored};
use crate::plan::Decision;
use crate::settings::Settings;
use crate::state::State;
use crate::store::{Encoded, EventLog, StoreError};

/// How many records a catch-up reads at a time.
const CATCH_UP_BATCH: usize = 1000;

/// How many ended epochs are remembered (a waiting write looks up how its epoch ended).
const EPOCHS_KEPT: usize = 1024;

/// The state writes are planned on, and the epoch it belongs to.
struct Planner {
    /// The published state with every planned record applied.
    working: State,
    /// Bumped when a group fails: the working state is then reset to the published one.
    epoch: u64,
}

/// Planned records waiting for the log, in offset order.
#[derive(Default)]
struct Queue {
    records: Vec<(u64, Record)>,
    encoded: Vec<Encoded>,
    /// The working state just after the last queued record: what is published once it is durable.
    after: Option<State>,
}

/// How far this node's own writes are durable, and how epochs ended.
struct Progress {
    epoch: u64,
    /// Every record below this offset is durable (this node's groups, and the records it read).
    durable: u64,
    /// Why each of the last epochs ended: `(epoch, first offset of the failed group, failure)`.
    ends: VecDeque<(u64, u64, Failure)>,
}

#[derive(Clone)]
enum Failure {
    /// The log had moved: plan again.
    Conflict,
    /// The store failed: the writes fail.
    Store(String),
}

/// What a write waits for: everything below `until`, planned in `epoch`, to be durable.
#[derive(Clone, Copy)]
struct Ticket {
    epoch: u64,
    until: u64,
    /// Whether the write queued a record of its own (else it only read planned records).
    own: bool,
}

enum Settled {
    Durable,
    Replan,
    Failed(Error),
}

impl Progress {
    fn settle(&self, ticket: Ticket) -> Option<Settled> {
        if ticket.epoch == self.epoch {
            return (self.durable >= ticket.until).then_some(Settled::Durable);
        }
        let Some((_, start, failure)) = self.ends.iter().find(|(e, ..)| *e == ticket.epoch) else {
            // Forgotten: many groups failed since. Planning again is always safe.
            return Some(Settled::Replan);
        };
        Some(if ticket.until <= *start {
            Settled::Durable
        } else {
            match failure {
                Failure::Store(message) if ticket.own => {
                    Settled::Failed(Error::Store(message.clone()))
                }
                _ => Settled::Replan,
            }
        })
    }
}

/// The log and its fold.
pub struct Engine {
    log: Arc<dyn EventLog>,
    /// The published state: durable records only. Every read sees this.
    state: RwLock<State>,
    planner: tokio::sync::Mutex<Planner>,
    queue: Mutex<Queue>,
    /// Held by whoever takes the queue to the log.
    flusher: tokio::sync::Mutex<()>,
    progress: Mutex<Progress>,
    settings: Settings,
    cluster_id: String,
    /// Whether the last catch-up with the log succeeded.
    in_sync: AtomicBool,
    /// The offset of the last snapshot stored or loaded.
    last_snapshot: AtomicU64,
    /// Whether the start-up replay is over (records applied after it are other nodes').
    opened: AtomicBool,
    metrics: Arc<Metrics>,
}

/// The state of the newest snapshot this build can start from, and its offset: format 6, else
/// format 5 (an earlier build's stream), else a format 4 document (the next snapshot is written
/// in format 6). Formats are tried newest first and only until one reads (a PostgreSQL store
/// hands a snapshot over whole, so each is fetched only when needed). A snapshot that cannot be
/// read (damaged, cut short, not what its name says) is logged and skipped for the next
/// format; the log is then replayed from further back.
async fn load_snapshot(log: &dyn EventLog) -> Result<Option<(u64, State)>> {
    for format in snapshot::stream::READS
        .into_iter()
        .chain([snapshot::DOCUMENT])
    {
        let Some((offset, reader)) = log.load_snapshot(format).await? else {
            continue;
        };
        // Decoding reads the store (a file, for the embedded one): off the async threads.
        let decoded = tokio::task::spawn_blocking(move || {
            if format != snapshot::DOCUMENT {
                State::from_snapshot_stream(reader, format, offset)
            } else {
                let bytes = crate::store::read_snapshot(reader).map_err(|e| e.to_string())?;
                Snapshot::read(offset, &bytes).and_then(State::from_snapshot)
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("the snapshot task failed: {e}")))?;
        match decoded {
            Ok(state) => return Ok(Some((offset, state))),
            Err(reason) => tracing::warn!(
                offset,
                format,
                %reason,
                "ignoring the format {format} snapshot at offset {offset}"
            ),
        }
    }
    Ok(None)
}

impl Engine {
    /// Opens a log: loads the newest snapshot, then replays the tail into memory.
    pub async fn open(log: Arc<dyn EventLog>, settings: Settings) -> Result<Engine> {
        let started = std::time::Instant::now();
        let metrics = Arc::new(Metrics::new());
        let cluster_id = log.cluster_id().await?;
        let (state, last_snapshot) = match load_snapshot(log.as_ref()).await? {
            Some((offset, state)) => {
                tracing::info!(offset, "starting from the snapshot at offset {offset}");
                metrics.snapshot_taken();
                (state, offset)
            }
            None => (State::default(), 0),
        };
        let engine = Engine {
            log,
            planner: tokio::sync::Mutex::new(Planner {
                working: State::default(),
                epoch: 0,
            }),
            state: RwLock::new(state),
            queue: Mutex::new(Queue::default()),
            flusher: tokio::sync::Mutex::new(()),
            progress: Mutex::new(Progress {
                epoch: 0,
                durable: 0,
                ends: VecDeque::new(),
            }),
            settings,
            cluster_id,
            in_sync: AtomicBool::new(false),
            last_snapshot: AtomicU64::new(last_snapshot),
            opened: AtomicBool::new(false),
            metrics,
        };
        let head = engine.log.durable_head().await?;
        engine.catch_up().await?;
        engine.check_durable_head(head).await?;
        engine.opened.store(true, Ordering::Relaxed);
        engine.metrics.replayed(started.elapsed());
        Ok(engine)
    }

    /// Refuses to serve a log that holds fewer records than its durable head vouches for, or
    /// whose record at the head is not the one that was acknowledged.
    async fn check_durable_head(&self, head: crate::store::DurableHead) -> Result<()> {
        let (records, tip) = {
            let state = self.state.read();
            (state.head(), state.tip())
        };
        let describe = self.log.describe();
        if records < head.records {
            return Err(Error::Store(format!(
                "the log {describe} holds {records} records, but its durable head vouches for {}: records {records} to {} are missing. The registry will not serve a shorter history; restore the store from a backup, or run `covenant log verify --store URL` for details",
                head.records,
                head.records - 1
            )));
        }
        if head.records == 0 {
            return Ok(());
        }
        // The record at the head is read from the log even when a snapshot holds the state up
        // to it (as after a clean stop): the snapshot vouches for the state, not for the log,
        // and a log cut or changed at its end must be found before the next append goes on it.
        let Some(at_head) = self
            .log
            .read(head.records - 1, 1)
            .await?
            .first()
            .map(|stored| stored.hash)
        else {
            return Err(Error::Store(format!(
                "the log {describe} has no record {}, but its durable head vouches for {} records: records are missing. The registry will not serve a shorter history; restore the store from a backup, or run `covenant log verify --store URL` for details",
                head.records - 1,
                head.records
            )));
        };
        if at_head != head.hash {
            return Err(Error::Store(format!(
                "the log {describe} does not match its durable head: record {} hashes to {at_head}, but {} was acknowledged there, so the record was changed. Restore the store from a backup, or run `covenant log verify --store URL`",
                head.records - 1,
                head.hash
            )));
        }
        if records == head.records && tip != head.hash {
            return Err(Error::Store(format!(
                "the state of the log {describe} ends at a record hashing to {tip}, but {} was acknowledged at record {}: restore the store from a backup, or run `covenant log verify --store URL`",
                head.hash,
                head.records - 1
            )));
        }
        Ok(())
    }

    /// Keeps the state in step with the log: wakes on the store's notifications (or polls),
    /// catches up, and stores snapshots as the log grows. Runs until the process ends.
    pub async fn follow(&self) {
        loop {
            self.log.changed(self.settings.poll_interval).await;
            if let Err(error) = self.catch_up().await {
                tracing::warn!(%error, "cannot catch up with the log; reads are served from memory");
                continue;
            }
            if let Err(error) = self.snapshot_if_due().await {
                tracing::warn!(%error, "cannot store a snapshot");
            }
        }
    }

    /// Stores a snapshot when the log has grown since the last one by the configured interval
    /// and by a quarter of the last one's offset, whichever is more: a snapshot costs the size
    /// of the state, so spacing them in proportion keeps their cost per record constant however
    /// large the registry grows, and start-up replays a tail of at most a fifth of the log.
    pub async fn snapshot_if_due(&self) -> Result<()> {
        let head = self.state.read().head();
        let last = self.last_snapshot.load(Ordering::Relaxed);
        if head < last + self.settings.snapshot_interval.max(last / 4) {
            return Ok(());
        }
        self.store_snapshot().await
    }

    /// At a clean stop: stores a snapshot when the tail the next start would replay is at
    /// least a sixty-fourth of the log (replaying a record costs about ten times what writing
    /// a schema into a snapshot does, so past that the next start gains more than this stop
    /// spends). Returns whether it stored one.
    pub async fn snapshot_at_stop(&self) -> Result<bool> {
        let head = self.state.read().head();
        let tail = head - self.last_snapshot.load(Ordering::Relaxed).min(head);
        if tail == 0 || tail < head / 64 {
            return Ok(false);
        }
        self.store_snapshot().await?;
        Ok(true)
    }

    async fn store_snapshot(&self) -> Result<()> {
        // A clone shares the state's maps: the snapshot is written from it on a blocking
        // thread while writes go on (they never wait for a snapshot).
        let state = self.state.read().clone();
        let offset = state.head();
        self.log
            .save_snapshot_with(
                offset,
                snapshot::FORMAT,
                Box::new(move |out: &mut dyn std::io::Write| state.write_snapshot(out)),
            )
            .await?;
        self.last_snapshot.store(offset, Ordering::Relaxed);
        self.metrics.snapshot_taken();
        tracing::info!(offset, "snapshot stored");
        Ok(())
    }

    /// Whether the node is in step with its log (readiness).
    pub fn is_ready(&self) -> bool {
        self.in_sync.load(Ordering::Relaxed)
    }

    /// The state, for reading. Hold the guard briefly.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// A copy of the state, sharing its maps: for long reads (parsing, checking) that should
    /// not hold the lock a commit publishes under.
    pub fn state_copy(&self) -> State {
        self.state.read().clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The offset of the last snapshot stored or loaded (0 for none).
    pub fn last_snapshot(&self) -> u64 {
        self.last_snapshot.load(Ordering::Relaxed)
    }

    /// The registry's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The stable id of this registry's data.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The store, for logs.
    pub fn store_description(&self) -> String {
        self.log.describe()
    }

    /// Reads up to `limit` records from `offset` straight from the log (the audit trail).
    pub async fn read_log(&self, offset: u64, limit: usize) -> Result<Vec<Stored>> {
        Ok(self.log.read(offset, limit).await?)
    }

    /// Applies every record past the state's head. Returns how many were applied.
    pub async fn catch_up(&self) -> Result<usize> {
        let result = self.read_tail().await;
        self.in_sync.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    async fn read_tail(&self) -> Result<usize> {
        let mut applied = 0;
        loop {
            let head = self.state.read().head();
            let batch = self.log.read(head, CATCH_UP_BATCH).await?;
            if batch.is_empty() {
                return Ok(applied);
            }
            let _span = tracing::debug_span!("apply", records = batch.len()).entered();
            let mut state = self.state.write();
            let mut this_batch = 0;
            let mut oldest = None;
            for stored in &batch {
                if stored.offset != state.head() {
                    // Another task applied these meanwhile.
                    continue;
                }
                stored.check_link(state.tip())?;
                state.apply(stored.offset, &stored.record, stored.hash);
                oldest.get_or_insert(stored.record.ts);
                this_batch += 1;
            }
            drop(state);
            applied += this_batch;
            let foreign = if self.opened.load(Ordering::Relaxed) {
                this_batch as u64
            } else {
                0
            };
            self.metrics.applied(this_batch as u64, foreign, oldest);
        }
    }

    /// Runs a write by `actor`: plan against the head (the durable records and those planned
    /// before it), queue its record, and return once it is durable; plan again if the log moved.
    pub async fn commit<T>(
        &self,
        actor: &Actor,
        mut plan: impl FnMut(&State) -> Result<Decision<T>>,
    ) -> Result<T> {
        loop {
            let (ticket, outcome) = {
                let mut planner = self.planner.lock().await;
                let durable = self.progress.lock().durable;
                if planner.working.head() <= durable {
                    // Nothing planned is waiting: start from the log's head.
                    self.catch_up().await?;
                    let state = self.state.read();
                    self.progress.lock().durable = durable.max(state.head());
                    planner.working = state.clone();
                }
                let _span = tracing::info_span!("plan").entered();
                let epoch = planner.epoch;
                let offset = planner.working.head();
                let read_only = Ticket {
                    epoch,
                    until: offset,
                    own: false,
                };
                match plan(&planner.working) {
                    Err(error) => (read_only, Err(error)),
                    Ok(Decision::Answer(answer)) => (read_only, Ok(answer)),
                    Ok(Decision::Append(event, answer)) => {
                        let record = Record::new(*event, planner.working.tip(), actor.clone());
                        let encoded = Encoded::new(&record)?;
                        planner.working.apply(offset, &record, encoded.hash());
                        let mut queue = self.queue.lock();
                        queue.records.push((offset, record));
                        queue.encoded.push(encoded);
                        queue.after = Some(planner.working.clone());
                        let ticket = Ticket {
                            epoch,
                            until: offset + 1,
                            own: true,
                        };
                        (ticket, Ok(answer))
                    }
                }
            };
            match self.settle(ticket).await {
                Settled::Durable => return outcome,
                Settled::Replan => self.metrics.commit_retry(),
                Settled::Failed(error) => return Err(error),
            }
        }
    }

    /// Waits until what `ticket` saw is durable (taking the queue to the log when nobody else
    /// is), or its group failed.
    async fn settle(&self, ticket: Ticket) -> Settled {
        loop {
            if let Some(settled) = self.progress.lock().settle(ticket) {
                return settled;
            }
            let _flusher = self.flusher.lock().await;
            if let Some(settled) = self.progress.lock().settle(ticket) {
                return settled;
            }
            self.flush().await;
        }
    }

    /// Appends every queued record as one group; publishes its state, or ends the epoch.
    async fn flush(&self) {
        let (records, encoded, after) = {
            let mut queue = self.queue.lock();
            (
                std::mem::take(&mut queue.records),
                std::mem::take(&mut queue.encoded),
                queue.after.take(),
            )
        };
        let (Some(&(start, _)), Some(after)) = (records.first(), after) else {
            return;
        };
        let end = start + records.len() as u64;
        let appended = self
            .log
            .append(start, &encoded)
            .instrument(tracing::info_span!(
                "append",
                offset = start,
                records = records.len()
            ))
            .await;
        match appended {
            Ok(()) => {
                {
                    let _span = tracing::info_span!("apply", records = records.len()).entered();
                    let mut state = self.state.write();
                    if state.head() == start {
                        *state = after;
                    } else {
                        // A catch-up read some of these back from the log first.
                        for ((offset, record), encoded) in records.iter().zip(&encoded) {
                            if *offset == state.head() {
                                state.apply(*offset, record, encoded.hash());
                            }
                        }
                    }
                }
                self.metrics.applied(records.len() as u64, 0, None);
                let mut progress = self.progress.lock();
                progress.durable = progress.durable.max(end);
            }
            Err(error) => {
                let failure = match error {
                    StoreError::Conflict { .. } => Failure::Conflict,
                    other => match Error::from(other) {
                        Error::Store(message) => Failure::Store(message),
                        other => Failure::Store(other.to_string()),
                    },
                };
                // Whatever was planned on top of the failed group goes with it.
                let mut planner = self.planner.lock().await;
                *self.queue.lock() = Queue::default();
                let mut progress = self.progress.lock();
                let ended = progress.epoch;
                progress.ends.push_back((ended, start, failure));
                if progress.ends.len() > EPOCHS_KEPT {
                    progress.ends.pop_front();
                }
                progress.epoch += 1;
                planner.epoch = progress.epoch;
                planner.working = self.state.read().clone();
                progress.durable = progress.durable.max(planner.working.head());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::access::Caller;
    use crate::persist::{Event, RecordHash, Scope, StoredConfig};
    use crate::store::{DurableHead, MemoryLog};

    /// A memory log that counts appends, can be told to fail them, and can have another
    /// "node" append behind the engine's back.
    struct Flaky {
        inner: MemoryLog,
        appends: AtomicUsize,
        failing: AtomicBool,
        delay: Duration,
    }

    #[async_trait]
    impl EventLog for Flaky {
        async fn append(&self, offset: u64, records: &[Encoded]) -> Result<(), StoreError> {
            tokio::time::sleep(self.delay).await;
            self.appends.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::Backend("the disk is gone".into()));
            }
            self.inner.append(offset, records).await
        }
        async fn read(&self, from: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
            self.inner.read(from, limit).await
        }
        async fn durable_head(&self) -> Result<DurableHead, StoreError> {
            self.inner.durable_head().await
        }
        async fn cluster_id(&self) -> Result<String, StoreError> {
            self.inner.cluster_id().await
        }
        fn describe(&self) -> String {
            "flaky://".into()
        }
        async fn load_snapshot(
            &self,
            format: u32,
        ) -> Result<Option<(u64, crate::store::SnapshotReader)>, StoreError> {
            self.inner.load_snapshot(format).await
        }
        async fn save_snapshot(
            &self,
            offset: u64,
            format: u32,
            state: &[u8],
        ) -> Result<(), StoreError> {
            self.inner.save_snapshot(offset, format, state).await
        }
    }

    fn flaky(delay_ms: u64) -> Arc<Flaky> {
        Arc::new(Flaky {
            inner: MemoryLog::new(),
            appends: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            delay: Duration::from_millis(delay_ms),
        })
    }

    fn set_group(label: String) -> Event {
        Event::ConfigSet {
            scope: Scope::Global,
            config: StoredConfig {
                compatibility_group: Some(label),
                ..StoredConfig::default()
            },
        }
    }

    /// Appends `label` unless the global group already is `label`; answers the offset it
    /// planned at.
    async fn write(engine: &Engine, label: &str) -> Result<u64> {
        engine
            .commit(&Actor::of(&Caller::default()), |state| {
                let offset = state.head();
                let current = state
                    .settings(&Scope::Global)
                    .and_then(|s| s.config.as_ref())
                    .and_then(|c| c.compatibility_group.clone());
                Ok(if current.as_deref() == Some(label) {
                    Decision::Answer(offset)
                } else {
                    Decision::Append(Box::new(set_group(label.to_string())), offset)
                })
            })
            .await
    }

    /// A store an earlier build left with a format 4 document starts from it; the next
    /// snapshot is format 5, which the store after it starts from; a format 5 snapshot that
    /// does not decode is skipped for the document (and the tail replayed), never trusted.
    #[tokio::test]
    async fn starts_from_a_format_4_document_and_writes_format_5() {
        let log = flaky(0);
        let settings = Settings {
            snapshot_interval: 4,
            ..Settings::default()
        };
        let engine = Engine::open(log.clone(), settings.clone())
            .await
            .expect("opens");
        for i in 0..6 {
            write(&engine, &format!("g{i}")).await.expect("the write");
        }
        let document = engine.state_copy().to_snapshot().to_bytes();
        log.save_snapshot(6, snapshot::DOCUMENT, &document)
            .await
            .expect("saved");
        write(&engine, "g6").await.expect("the write");
        drop(engine);

        let engine = Engine::open(log.clone(), settings.clone())
            .await
            .expect("opens");
        assert_eq!(engine.last_snapshot(), 6, "started from the document");
        assert_eq!(engine.state().head(), 7, "and replayed the tail");
        let group = |engine: &Engine| {
            engine
                .state()
                .settings(&Scope::Global)
                .and_then(|s| s.config.as_ref())
                .and_then(|c| c.compatibility_group.clone())
        };
        assert_eq!(group(&engine).as_deref(), Some("g6"));
        write(&engine, "g7").await.expect("the write");
        write(&engine, "g8").await.expect("the write");
        write(&engine, "g9").await.expect("the write");
        engine.snapshot_if_due().await.expect("the snapshot");
        let (offset, _) = log
            .load_snapshot(snapshot::FORMAT)
            .await
            .expect("load")
            .expect("a snapshot in this build's format");
        assert_eq!(offset, 10);
        drop(engine);

        let engine = Engine::open(log.clone(), settings.clone())
            .await
            .expect("opens");
        assert_eq!(
            engine.last_snapshot(),
            10,
            "started from this build's format"
        );
        assert_eq!(group(&engine).as_deref(), Some("g9"));
        drop(engine);

        // A newer snapshot of this build's format that is not one: skipped for the document.
        write(
            &Engine::open(log.clone(), settings.clone())
                .await
                .expect("opens"),
            "g10",
        )
        .await
        .expect("the write");
        log.save_snapshot(
            11,
            snapshot::FORMAT,
            b"CVSNAP\0\x05 and then nothing sensible",
        )
        .await
        .expect("saved");
        let engine = Engine::open(log.clone(), settings).await.expect("opens");
        assert_eq!(engine.last_snapshot(), 6, "skipped the damaged one");
        assert_eq!(engine.state().head(), 11);
        assert_eq!(group(&engine).as_deref(), Some("g10"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_go_down_in_groups_in_order() {
        let log = flaky(5);
        let engine = Arc::new(
            Engine::open(log.clone(), Settings::default())
                .await
                .expect("the engine opens"),
        );
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move { write(&engine, &format!("g{i}")).await })
            })
            .collect();
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.push(task.await.expect("the task ran").expect("the write"));
        }
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            (0..64).collect::<Vec<u64>>(),
            "one offset each, no gap"
        );
        let appends = log.appends.load(Ordering::SeqCst);
        assert!(
            appends < 64,
            "64 writes in {appends} appends: they were grouped"
        );
        // Every acknowledged write is in the log, chained, and the published state is its fold.
        let stored = log.read(0, 100).await.expect("the log reads");
        assert_eq!(stored.len(), 64);
        let mut tip = RecordHash::GENESIS;
        for record in &stored {
            record.check_link(tip).expect("chained");
            tip = record.hash;
        }
        assert_eq!(engine.state().head(), 64);
        assert_eq!(engine.state().tip(), tip);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_fails_its_writes_and_leaves_no_trace() {
        let log = flaky(20);
        let engine = Arc::new(
            Engine::open(log.clone(), Settings::default())
                .await
                .expect("the engine opens"),
        );
        write(&engine, "before").await.expect("the write");
        log.failing.store(true, Ordering::SeqCst);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move { write(&engine, &format!("lost{i}")).await })
            })
            .collect();
        for task in tasks {
            match task.await.expect("the task ran") {
                Err(Error::Store(message)) => assert!(message.contains("not applied"), "{message}"),
                other => panic!("expected the store's error, got {other:?}"),
            }
        }
        // Nothing of the failed writes is visible, nor planned on.
        assert_eq!(engine.state().head(), 1);
        log.failing.store(false, Ordering::SeqCst);
        assert_eq!(write(&engine, "after").await.expect("the write"), 1);
        // A write that only reads answers from the durable state.
        assert_eq!(write(&engine, "after").await.expect("the write"), 2);
        assert_eq!(log.read(0, 10).await.expect("the log reads").len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_planned_behind_another_node_is_planned_again() {
        let log = flaky(50);
        let engine = Arc::new(
            Engine::open(log.clone(), Settings::default())
                .await
                .expect("the engine opens"),
        );
        write(&engine, "first").await.expect("the write");
        let tip = engine.state().tip();
        // The write is planned at offset 1; while its append is on the way, another node
        // appends at offset 1.
        let pending = {
            let engine = Arc::clone(&engine);
            tokio::spawn(async move { write(&engine, "mine").await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let foreign = Record::new(
            set_group("theirs".into()),
            tip,
            Actor::of(&Caller::default()),
        );
        log.inner
            .append(1, &[Encoded::new(&foreign).expect("encodes")])
            .await
            .expect("the other node appends");
        assert_eq!(
            pending.await.expect("the task ran").expect("the write"),
            2,
            "planned again after the other node's record"
        );
        let stored = log.read(0, 10).await.expect("the log reads");
        assert_eq!(stored.len(), 3);
        stored[2].check_link(stored[1].hash).expect("chained");
        assert_eq!(engine.state().head(), 3);
        assert_eq!(engine.metrics().commit_retries(), 1);
    }
}
