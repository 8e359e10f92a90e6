//! The engine under the registry: the log, the state folded from it, and the loop that keeps
//! them in step. It opens (snapshot, then tail), follows the log, catches up, commits planned
//! writes and stores snapshots; it knows nothing of the operations themselves.
//!
//! A write is planned against the state at the log head, then its event is appended at exactly
//! that offset. If another writer appended first (a shared log), the engine catches up and plans
//! again, so no decision is ever made against a history it has not seen.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::persist::snapshot::{self, Snapshot};
use crate::persist::{Actor, Record, Stored};
use crate::plan::Decision;
use crate::settings::Settings;
use crate::state::State;
use crate::store::{EventLog, StoreError};

/// How many records a catch-up reads at a time.
const CATCH_UP_BATCH: usize = 1000;

/// The log and its fold.
pub struct Engine {
    log: Arc<dyn EventLog>,
    state: RwLock<State>,
    writer: tokio::sync::Mutex<()>,
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

impl Engine {
    /// Opens a log: loads the newest snapshot, then replays the tail into memory.
    pub async fn open(log: Arc<dyn EventLog>, settings: Settings) -> Result<Engine> {
        let started = std::time::Instant::now();
        let metrics = Arc::new(Metrics::new());
        let cluster_id = log.cluster_id().await?;
        let (state, last_snapshot) = match log.load_snapshot(snapshot::FORMAT).await? {
            Some((offset, bytes)) => {
                match Snapshot::read(offset, &bytes).and_then(State::from_snapshot) {
                    Ok(state) => {
                        tracing::info!(offset, "starting from the snapshot at offset {offset}");
                        metrics.snapshot_taken();
                        (state, offset)
                    }
                    Err(reason) => {
                        tracing::warn!(
                            offset,
                            %reason,
                            "ignoring the snapshot at offset {offset}; replaying the whole log"
                        );
                        (State::default(), 0)
                    }
                }
            }
            None => (State::default(), 0),
        };
        let engine = Engine {
            log,
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
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
        let at_head = if records == head.records {
            Some(tip)
        } else if head.records == 0 {
            None
        } else {
            self.log
                .read(head.records - 1, 1)
                .await?
                .first()
                .map(|stored| stored.hash)
        };
        match at_head {
            Some(hash) if head.records > 0 && hash != head.hash => Err(Error::Store(format!(
                "the log {describe} does not match its durable head: record {} hashes to {hash}, but {} was acknowledged there, so the record was changed. Restore the store from a backup, or run `covenant log verify --store URL`",
                head.records - 1,
                head.hash
            ))),
            _ => Ok(()),
        }
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

    /// Stores a snapshot when the log has grown by the configured interval since the last one.
    pub async fn snapshot_if_due(&self) -> Result<()> {
        let head = self.state.read().head();
        if head < self.last_snapshot.load(Ordering::Relaxed) + self.settings.snapshot_interval {
            return Ok(());
        }
        let snapshot = self.state.read().to_snapshot();
        let offset = snapshot.head;
        let bytes = snapshot.to_bytes();
        self.log
            .save_snapshot(offset, snapshot::FORMAT, &bytes)
            .await?;
        self.last_snapshot.store(offset, Ordering::Relaxed);
        self.metrics.snapshot_taken();
        tracing::info!(offset, bytes = bytes.len(), "snapshot stored");
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

    /// Runs a write by `actor`: plan against the head, append, apply; re-plan if the log moved.
    pub async fn commit<T>(
        &self,
        actor: &Actor,
        mut plan: impl FnMut(&State) -> Result<Decision<T>>,
    ) -> Result<T> {
        let _writer = self.writer.lock().await;
        loop {
            self.catch_up().await?;
            let (offset, tip, decision) = {
                let _span = tracing::info_span!("plan").entered();
                let state = self.state.read();
                (state.head(), state.tip(), plan(&state)?)
            };
            let (event, answer) = match decision {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Append(event, answer) => (event, answer),
            };
            let record = Record::new(*event, tip, actor.clone());
            let appended = self
                .log
                .append(offset, &record)
                .instrument(tracing::info_span!("append", offset))
                .await;
            match appended {
                Ok(hash) => {
                    let _span = tracing::info_span!("apply", records = 1).entered();
                    let mut state = self.state.write();
                    // The follower may have read this record back from a shared log already.
                    if state.head() == offset {
                        state.apply(offset, &record, hash);
                        self.metrics.applied(1, 0, None);
                    }
                    return Ok(answer);
                }
                Err(StoreError::Conflict { .. }) => {
                    self.metrics.commit_retry();
                    continue;
                }
                Err(error) => return Err(Error::from(error)),
            }
        }
    }
}
