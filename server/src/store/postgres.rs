//! The shared log on PostgreSQL, for several registry nodes serving one deployment.
//!
//! Every node reads and writes; there is no leader. An append inserts the record at exactly the
//! offset the node validated against, in one transaction that also notifies the other nodes
//! (`pg_notify`); if another node took that offset first, the insert finds nothing to do and the
//! node catches up and validates again. A listener connection per node wakes the registry on
//! each notification; the registry also polls, so a lost notification only delays a node.
//!
//! URL: `postgres://USER@HOST:PORT/DB?schema=NAME` (`schema` is Covenant's own parameter: the
//! PostgreSQL schema holding the tables, default `covenant`; every other parameter goes to the
//! driver). The tables are created and migrated by the binary itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{Mutex, Notify};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use super::{DurableHead, Encoded, EventLog, SnapshotReader, StoreError};
use crate::persist::Stored;

/// Schema migrations, applied in order; each runs once.
const MIGRATIONS: &[&str] = &[
    // 1: the log, metadata, snapshots.
    "CREATE TABLE IF NOT EXISTS {schema}.log (
        position BIGINT PRIMARY KEY,
        record JSONB NOT NULL,
        appended_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS {schema}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS {schema}.snapshots (
        position BIGINT PRIMARY KEY,
        format INT NOT NULL,
        state BYTEA NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );",
    // 2: records as the exact text that was appended. JSONB reorders object keys (and
    // normalises numbers), so metadata read back differed from what the writing node held.
    "ALTER TABLE {schema}.log ALTER COLUMN record TYPE TEXT USING record::text;",
    // 3: snapshots keyed by (format, position), as on every backend, so that builds writing
    // different formats into one database neither collide nor prune each other's.
    "ALTER TABLE {schema}.snapshots DROP CONSTRAINT snapshots_pkey;
     ALTER TABLE {schema}.snapshots ADD PRIMARY KEY (format, position);",
    // 4: the durable head (records and the hash of the last one), moved in the same transaction
    // as every append, so that a log whose tail was deleted or changed in the database does not
    // open. An existing log vouches for what it holds when the migration runs.
    "INSERT INTO {schema}.meta (key, value)
     SELECT 'head', (max(position) + 1)::text || ':' || encode(sha256(convert_to(
         (SELECT record FROM {schema}.log ORDER BY position DESC LIMIT 1), 'UTF8')), 'hex')
     FROM {schema}.log HAVING count(*) > 0
     ON CONFLICT (key) DO NOTHING;",
];

/// The durable head as the meta table keeps it: `records:hash`.
fn head_value(head: DurableHead) -> String {
    format!("{}:{}", head.records, head.hash)
}

fn parse_head(value: &str) -> Result<DurableHead, StoreError> {
    let damaged = || {
        StoreError::Damaged(format!(
            "the durable head in the meta table is unreadable (`{value}`): nothing vouches for how many records the log should hold"
        ))
    };
    let (records, hash) = value.split_once(':').ok_or_else(damaged)?;
    Ok(DurableHead {
        records: records.parse().map_err(|_| damaged())?,
        hash: hash.parse().map_err(|_| damaged())?,
    })
}

/// A log in a PostgreSQL schema.
pub struct PgLog {
    config: Config,
    schema: String,
    description: String,
    connection: Mutex<Option<Client>>,
    changed: Arc<Notify>,
    listening: AtomicBool,
}

/// Connections are driven on a runtime of their own, so they outlive whichever task opened them.
fn driver() -> &'static tokio::runtime::Handle {
    static DRIVER: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("covenant-postgres".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for PostgreSQL connections");
                let _ = sender.send(runtime.handle().clone());
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("a thread for PostgreSQL connections");
        receiver.recv().expect("the PostgreSQL runtime starts")
    })
}

fn backend(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {error}"))
}

impl PgLog {
    /// Connects, creates the schema and tables if needed, and applies migrations.
    pub async fn open(url: &str) -> Result<PgLog, StoreError> {
        let (driver_url, schema) = split_schema(url)?;
        let config: Config = driver_url
            .parse()
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL `{url}`: {e}")))?;
        let log = PgLog {
            config,
            description: format!("postgres://{}/{schema}", host_of(&driver_url)),
            schema,
            connection: Mutex::new(None),
            changed: Arc::new(Notify::new()),
            listening: AtomicBool::new(false),
        };
        log.migrate().await?;
        Ok(log)
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }

    fn channel(&self) -> String {
        format!("covenant_{}", self.schema)
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let config = self.config.clone();
        driver()
            .spawn(async move {
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(%error, "PostgreSQL connection closed");
                    }
                });
                Ok::<_, tokio_postgres::Error>(client)
            })
            .await
            .map_err(|e| backend("cannot start a PostgreSQL connection", e))?
            .map_err(|e| backend("cannot connect to PostgreSQL", e))
    }

    /// Runs `work` on the node's connection, reconnecting first if it was lost. A failure drops
    /// the connection, so the next call starts afresh (the node recovers by itself).
    async fn with_client<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(
            &'c mut Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
        >,
    {
        let mut guard = self.connection.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        let client = guard.as_mut().expect("connected just above");
        let result = work(client).await;
        if let Err(StoreError::Backend(_)) = &result {
            *guard = None;
        }
        result
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let schema = self.schema.clone();
        let migrations_table = self.table("schema_migrations");
        self.with_client(move |client| {
            Box::pin(async move {
                let transaction = client.transaction().await.map_err(|e| backend("cannot start the migration", e))?;
                // One node migrates at a time.
                transaction
                    .execute("SELECT pg_advisory_xact_lock(hashtext('covenant-migrations'))", &[])
                    .await
                    .map_err(|e| backend("cannot lock for the migration", e))?;
                transaction
                    .batch_execute(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {schema};
                         CREATE TABLE IF NOT EXISTS {migrations_table} (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
                    ))
                    .await
                    .map_err(|e| backend("cannot create the schema", e))?;
                let applied: i32 = transaction
                    .query_one(&format!("SELECT coalesce(max(version), 0) FROM {migrations_table}"), &[])
                    .await
                    .map_err(|e| backend("cannot read the migration version", e))?
                    .get(0);
                for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
                    transaction
                        .batch_execute(&migration.replace("{schema}", &schema))
                        .await
                        .map_err(|e| backend(&format!("migration {} failed", index + 1), e))?;
                    transaction
                        .execute(&format!("INSERT INTO {migrations_table} (version) VALUES ($1)"), &[&(index as i32 + 1)])
                        .await
                        .map_err(|e| backend("cannot record the migration", e))?;
                }
                transaction.commit().await.map_err(|e| backend("cannot commit the migration", e))
            })
        })
        .await
    }

    /// Starts the listener that wakes the registry when another node appends.
    fn listen(&self) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let config = self.config.clone();
        let channel = self.channel();
        let changed = Arc::clone(&self.changed);
        driver().spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match config.connect(NoTls).await {
                    Ok((client, mut connection)) => {
                        let mut messages =
                            futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                        let listening = async {
                            // The connection must be driven while LISTEN runs.
                            let statement = format!("LISTEN {channel}");
                            let listen = client.batch_execute(&statement);
                            tokio::pin!(listen);
                            loop {
                                tokio::select! {
                                    result = &mut listen => { result?; break; }
                                    message = messages.next() => match message {
                                        Some(Ok(_)) => {}
                                        Some(Err(error)) => return Err(error),
                                        None => return Ok(()),
                                    },
                                }
                            }
                            backoff = Duration::from_millis(100);
                            // Anything appended while disconnected: catch up now.
                            changed.notify_waiters();
                            while let Some(message) = messages.next().await {
                                if let AsyncMessage::Notification(_) = message? {
                                    changed.notify_waiters();
                                }
                            }
                            Ok(())
                        };
                        if let Err(error) = listening.await {
                            tracing::warn!(%error, "PostgreSQL listener lost its connection");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "PostgreSQL listener cannot connect"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// Takes Covenant's `schema` parameter out of a PostgreSQL URL.
fn split_schema(url: &str) -> Result<(String, String), StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut schema = "covenant".to_string();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", value)) => schema = value.to_string(),
            _ => rest.push(pair),
        }
    }
    let valid = !schema.is_empty()
        && schema.len() <= 48
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(StoreError::Config(format!(
            "schema `{schema}` in `{url}`: use lowercase letters, digits and underscores (at most 48)"
        )));
    }
    let driver_url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((driver_url, schema))
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    rest.split(['?']).next().unwrap_or_default().to_string()
}

#[async_trait]
impl EventLog for PgLog {
    async fn append(&self, offset: u64, records: &[Encoded]) -> Result<(), StoreError> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let texts = records
            .iter()
            .map(|r| {
                std::str::from_utf8(r.bytes())
                    .map(str::to_string)
                    .map_err(|e| backend("cannot encode the record", e))
            })
            .collect::<Result<Vec<String>, StoreError>>()?;
        let head = head_value(DurableHead {
            records: offset + records.len() as u64,
            hash: last.hash(),
        });
        let (log, meta, channel) = (self.table("log"), self.table("meta"), self.channel());
        let position = offset as i64;
        let inserted = self
            .with_client(move |client| {
                Box::pin(async move {
                    let transaction = client
                        .transaction()
                        .await
                        .map_err(|e| backend("cannot start the append", e))?;
                    // Insert only at the head: a stale node finds the offset taken (or a gap) and inserts nothing.
                    let inserted = transaction
                        .execute(
                            &format!(
                                "INSERT INTO {log} (position, record)
                                 SELECT $1, $2
                                 WHERE (SELECT coalesce(max(position) + 1, 0) FROM {log}) = $1
                                 ON CONFLICT (position) DO NOTHING"
                            ),
                            &[&position, &texts[0]],
                        )
                        .await
                        .map_err(|e| backend("cannot append to the log", e))?;
                    if inserted == 1 {
                        if texts.len() > 1 {
                            // The rest of a batch follows the first record: with the head's
                            // row taken by this transaction, no other node can write past it.
                            let positions: Vec<i64> =
                                (1..texts.len() as i64).map(|i| position + i).collect();
                            transaction
                                .execute(
                                    &format!(
                                        "INSERT INTO {log} (position, record)
                                         SELECT * FROM unnest($1::bigint[], $2::text[])"
                                    ),
                                    &[&positions, &&texts[1..]],
                                )
                                .await
                                .map_err(|e| backend("cannot append to the log", e))?;
                        }
                        transaction
                            .execute(
                                &format!(
                                    "INSERT INTO {meta} (key, value) VALUES ('head', $1)
                                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                                ),
                                &[&head],
                            )
                            .await
                            .map_err(|e| backend("cannot move the durable head", e))?;
                        transaction
                            .execute(
                                "SELECT pg_notify($1, $2)",
                                &[&channel, &position.to_string()],
                            )
                            .await
                            .map_err(|e| backend("cannot notify the other nodes", e))?;
                    }
                    transaction
                        .commit()
                        .await
                        .map_err(|e| backend("cannot commit the append", e))?;
                    Ok(inserted == 1)
                })
            })
            .await?;
        if inserted {
            return Ok(());
        }
        let log = self.table("log");
        let head = self
            .with_client(move |client| {
                Box::pin(async move {
                    let row = client
                        .query_one(
                            &format!("SELECT coalesce(max(position) + 1, 0) FROM {log}"),
                            &[],
                        )
                        .await
                        .map_err(|e| backend("cannot read the log head", e))?;
                    Ok(row.get::<_, i64>(0) as u64)
                })
            })
            .await?;
        Err(StoreError::Conflict {
            expected: offset,
            head,
        })
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let log = self.table("log");
        let rows = self
            .with_client(move |client| {
                Box::pin(async move {
                    client
                        .query(
                            &format!("SELECT position, record FROM {log} WHERE position >= $1 ORDER BY position LIMIT $2"),
                            &[&(from as i64), &(limit as i64)],
                        )
                        .await
                        .map_err(|e| backend("cannot read the log", e))
                })
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let offset = row.get::<_, i64>(0) as u64;
            if offset != from + out.len() as u64 {
                return Err(StoreError::Corrupt {
                    offset,
                    reason: format!("expected offset {}", from + out.len() as u64),
                });
            }
            let text: String = row.get(1);
            out.push(Stored::read(offset, text.as_bytes())?);
        }
        Ok(out)
    }

    async fn durable_head(&self) -> Result<DurableHead, StoreError> {
        let meta = self.table("meta");
        let value: Option<String> = self
            .with_client(move |client| {
                Box::pin(async move {
                    let row = client
                        .query_opt(&format!("SELECT value FROM {meta} WHERE key = 'head'"), &[])
                        .await
                        .map_err(|e| backend("cannot read the durable head", e))?;
                    Ok(row.map(|row| row.get(0)))
                })
            })
            .await?;
        match value {
            None => Ok(DurableHead::EMPTY),
            Some(value) => parse_head(&value),
        }
    }

    async fn cluster_id(&self) -> Result<String, StoreError> {
        let meta = self.table("meta");
        let candidate = uuid::Uuid::new_v4().to_string();
        self.with_client(move |client| {
            Box::pin(async move {
                client
                    .execute(&format!("INSERT INTO {meta} (key, value) VALUES ('cluster_id', $1) ON CONFLICT (key) DO NOTHING"), &[&candidate])
                    .await
                    .map_err(|e| backend("cannot store the cluster id", e))?;
                let row = client
                    .query_one(&format!("SELECT value FROM {meta} WHERE key = 'cluster_id'"), &[])
                    .await
                    .map_err(|e| backend("cannot read the cluster id", e))?;
                Ok(row.get(0))
            })
        })
        .await
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn changed(&self, timeout: Duration) {
        self.listen();
        let _ = tokio::time::timeout(timeout, self.changed.notified()).await;
    }

    async fn load_snapshot(
        &self,
        format: u32,
    ) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let snapshots = self.table("snapshots");
        self.with_client(move |client| {
            Box::pin(async move {
                let row = client
                    .query_opt(&format!("SELECT position, state FROM {snapshots} WHERE format = $1 ORDER BY position DESC LIMIT 1"), &[&(format as i32)])
                    .await
                    .map_err(|e| backend("cannot read a snapshot", e))?;
                Ok(row.map(|row| {
                    let reader: SnapshotReader =
                        Box::new(std::io::Cursor::new(row.get::<_, Vec<u8>>(1)));
                    (row.get::<_, i64>(0) as u64, reader)
                }))
            })
        })
        .await
    }

    async fn save_snapshot(
        &self,
        offset: u64,
        format: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let snapshots = self.table("snapshots");
        let state = state.to_vec();
        self.with_client(move |client| {
            Box::pin(async move {
                let position = offset as i64;
                let format = format as i32;
                client
                    .execute(
                        &format!("INSERT INTO {snapshots} (position, format, state) VALUES ($1, $2, $3) ON CONFLICT (format, position) DO NOTHING"),
                        &[&position, &format, &state],
                    )
                    .await
                    .map_err(|e| backend("cannot store a snapshot", e))?;
                // Per format, the newest are kept (the one before in case a reader is loading it).
                client
                    .execute(
                        &format!("DELETE FROM {snapshots} WHERE format = $1 AND position < (SELECT min(position) FROM (SELECT position FROM {snapshots} WHERE format = $1 ORDER BY position DESC LIMIT $2) newest)"),
                        &[&format, &(super::SNAPSHOTS_KEPT as i64)],
                    )
                    .await
                    .map_err(|e| backend("cannot prune snapshots", e))?;
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    #[test]
    fn the_schema_parameter_is_covenants() {
        let (url, schema) =
            split_schema("postgres://postgres@127.0.0.1:5432/test?schema=reg_1&sslmode=disable")
                .expect("valid");
        assert_eq!(
            (url.as_str(), schema.as_str()),
            (
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "reg_1"
            )
        );
        let (url, schema) = split_schema("postgres://h/db").expect("valid");
        assert_eq!(
            (url.as_str(), schema.as_str()),
            ("postgres://h/db", "covenant")
        );
        assert!(split_schema("postgres://h/db?schema=Bad-Name").is_err());
        assert!(split_schema("postgres://h/db?schema=x;drop").is_err());
        assert_eq!(
            host_of("postgres://user:secret@db:5432/reg?x=1"),
            "db:5432/reg"
        );
    }

    /// The storage suite against the real PostgreSQL named by TEST_DATABASE_URL (CI sets it).
    async fn fresh() -> Option<PgLog> {
        let base = std::env::var("TEST_DATABASE_URL").ok()?;
        let schema = format!("covenant_test_{}", uuid::Uuid::new_v4().simple());
        let separator = if base.contains('?') { '&' } else { '?' };
        Some(
            PgLog::open(&format!("{base}{separator}schema={schema}"))
                .await
                .expect("opens"),
        )
    }

    #[tokio::test]
    async fn appends_in_order_and_reads_back() {
        if let Some(log) = fresh().await {
            suite::appends_in_order_and_reads_back(&log).await;
        }
    }

    #[tokio::test]
    async fn refuses_an_append_at_a_stale_offset() {
        if let Some(log) = fresh().await {
            suite::refuses_an_append_at_a_stale_offset(&log).await;
            suite::appends_a_batch_whole(&log).await;
        }
    }

    #[tokio::test]
    async fn keeps_its_cluster_id_and_snapshots() {
        if let Some(log) = fresh().await {
            suite::keeps_its_cluster_id(&log).await;
            suite::keeps_the_latest_snapshots(&log).await;
            suite::prunes_snapshots_per_format(&log).await;
        }
    }
}
