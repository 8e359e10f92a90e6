//! The audit trail, read from the log itself: who wrote each record, when, from where, and what
//! it changed (for config and mode changes, the value before and after).
//!
//! Ordinary reads never touch the store; the audit trail is not an ordinary read. It is served
//! from an index of the log kept in memory apart from the registry's state: the first audit
//! request reads the log once from the store, each later one reads only the records appended
//! since, so every node of a shared log answers the same history, and a node that never serves
//! the audit trail (or the console's subject page) never holds it. The index re-checks the hash
//! chain as it reads, so a record changed in the store after the node replayed it is reported,
//! not listed.

use std::collections::HashMap;
use std::sync::Arc;

use covenant_core::api::{AuditEntry, AuditPage};
use covenant_core::ids::Mode;
use serde_json::Value;

use super::engine::Engine;
use crate::error::{Error, Result};
use crate::persist::{Actor, Event, RecordHash, Scope, Stored, StoredActor, StoredConfig};

/// Records read from the store at a time.
const BATCH: usize = 1000;

/// The largest page.
pub const MAX_LIMIT: usize = 1000;

/// What an audit request asks for.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Entries about subjects whose qualified name starts with this.
    pub subject_prefix: Option<String>,
    /// Entries by this principal (`anonymous` for callers without one).
    pub principal: Option<String>,
    /// Entries of these actions (all when empty).
    pub actions: Vec<String>,
    /// Entries at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Entries before this time (ms since the epoch).
    pub until: Option<i64>,
    /// The first offset to look at.
    pub from: u64,
    /// Entries at most.
    pub limit: usize,
}

/// One record of the index.
struct Entry {
    offset: u64,
    ts: i64,
    actor: Option<Arc<StoredActor>>,
    action: &'static str,
    scope: Option<&'static str>,
    subject: Option<String>,
    context: Option<String>,
    version: Option<i32>,
    id: Option<i32>,
    schema_type: Option<&'static str>,
    kek: Option<String>,
    resource: Option<String>,
    permanent: Option<bool>,
    change: Option<Box<(Value, Value)>>,
    hash: RecordHash,
}

#[derive(Default)]
struct Index {
    entries: Vec<Entry>,
    next: u64,
    tip: RecordHash,
    configs: HashMap<Scope, StoredConfig>,
    modes: HashMap<Scope, Mode>,
    actors: HashMap<StoredActor, Arc<StoredActor>>,
    /// The entries of each subject's registrations, by qualified subject (what the console's
    /// timeline reads without a scan).
    registrations: HashMap<String, Vec<u32>>,
}

/// The audit index of a registry's log.
#[derive(Default)]
pub struct Audit {
    index: tokio::sync::Mutex<Index>,
}

fn scope_fields(scope: &Scope) -> (&'static str, Option<String>, Option<String>) {
    match scope {
        Scope::Global => ("global", None, None),
        Scope::Context(context) => ("context", None, Some(context.to_string())),
        Scope::Subject(subject) => ("subject", Some(subject.qualified()), None),
    }
}

fn config_json(config: Option<&StoredConfig>) -> Value {
    config.map_or(Value::Null, |c| {
        serde_json::to_value(c).unwrap_or(Value::Null)
    })
}

impl Index {
    fn add(&mut self, stored: &Stored) -> Result<()> {
        if stored.offset != self.next {
            return Err(Error::Store(format!(
                "the log returned offset {} where {} was expected",
                stored.offset, self.next
            )));
        }
        stored.check_link(self.tip)?;
        let actor = stored.record.actor.as_ref().map(|actor| {
            Arc::clone(
                self.actors
                    .entry(actor.clone())
                    .or_insert_with(|| Arc::new(actor.clone())),
            )
        });
        let template = Entry {
            offset: stored.offset,
            ts: stored.record.ts,
            actor,
            action: "",
            scope: None,
            subject: None,
            context: None,
            version: None,
            id: None,
            schema_type: None,
            kek: None,
            resource: None,
            permanent: None,
            change: None,
            hash: stored.hash,
        };
        self.add_event(&stored.record.event, &template);
        self.next += 1;
        self.tip = stored.hash;
        Ok(())
    }

    fn add_event(&mut self, event: &Event, template: &Entry) {
        let mut entry = template.shallow();
        entry.action = event.kind();
        match event {
            Event::SchemaRegistered(registered) => {
                entry.subject = Some(registered.subject.qualified());
                entry.version = Some(registered.version.get());
                entry.id = Some(registered.id.get());
                entry.schema_type = Some(registered.schema_type.as_str());
            }
            Event::VersionDeleted {
                subject,
                version,
                permanent,
            } => {
                entry.subject = Some(subject.qualified());
                entry.version = Some(version.get());
                entry.permanent = Some(*permanent);
            }
            Event::SubjectDeleted { subject, permanent } => {
                entry.subject = Some(subject.qualified());
                entry.permanent = Some(*permanent);
            }
            Event::ConfigSet { scope, config } => {
                let before = config_json(self.configs.get(scope));
                self.configs.insert(scope.clone(), config.clone());
                entry.change = Some(Box::new((before, config_json(Some(config)))));
                self.set_scope(&mut entry, scope);
            }
            Event::ConfigDeleted { scope } => {
                let before = config_json(self.configs.remove(scope).as_ref());
                entry.change = Some(Box::new((before, Value::Null)));
                self.set_scope(&mut entry, scope);
            }
            Event::ModeSet { scope, mode } => {
                let before = self
                    .modes
                    .insert(scope.clone(), *mode)
                    .map_or(Value::Null, |m| Value::from(m.as_str()));
                entry.change = Some(Box::new((before, Value::from(mode.as_str()))));
                self.set_scope(&mut entry, scope);
            }
            Event::ModeDeleted { scope } => {
                let before = self
                    .modes
                    .remove(scope)
                    .map_or(Value::Null, |m| Value::from(m.as_str()));
                entry.change = Some(Box::new((before, Value::Null)));
                self.set_scope(&mut entry, scope);
            }
            Event::KekCreated { kek } | Event::KekUpdated { kek } => {
                entry.kek = Some(kek.name.clone());
            }
            Event::KekDeleted { name, permanent } => {
                entry.kek = Some(name.clone());
                entry.permanent = Some(*permanent);
            }
            Event::KekUndeleted { name } => entry.kek = Some(name.clone()),
            Event::DekCreated { dek } => {
                entry.kek = Some(dek.kek.clone());
                entry.subject = Some(dek.subject.clone());
                entry.version = Some(dek.version);
            }
            Event::DekDeleted {
                kek,
                subject,
                version,
                permanent,
                ..
            } => {
                entry.kek = Some(kek.clone());
                entry.subject = Some(subject.clone());
                entry.version = *version;
                entry.permanent = Some(*permanent);
            }
            Event::DekUndeleted {
                kek,
                subject,
                version,
                ..
            } => {
                entry.kek = Some(kek.clone());
                entry.subject = Some(subject.clone());
                entry.version = *version;
            }
            Event::AssociationSet { association } => {
                entry.subject = Some(association.subject.qualified());
                entry.resource = Some(association.resource_id.clone());
            }
            Event::AssociationDeleted { resource_id, .. } => {
                entry.resource = Some(resource_id.clone());
            }
            Event::Batch { events } => {
                for event in events {
                    self.add_event(event, template);
                }
                return;
            }
        }
        if entry.action == "schema_registered" {
            if let Some(subject) = &entry.subject {
                let at = self.entries.len() as u32;
                self.registrations
                    .entry(subject.clone())
                    .or_default()
                    .push(at);
            }
        }
        self.entries.push(entry);
    }

    fn set_scope(&self, entry: &mut Entry, scope: &Scope) {
        let (kind, subject, context) = scope_fields(scope);
        entry.scope = Some(kind);
        entry.subject = subject;
        entry.context = context;
    }
}

fn principal_and_method(actor: Option<&StoredActor>) -> (Option<String>, String, Option<String>) {
    match actor {
        None => (None, "anonymous".into(), None),
        Some(StoredActor::Name(name)) => (Some(name.clone()), "unknown".into(), None),
        Some(StoredActor::Actor(Actor {
            principal,
            method,
            source,
        })) => (
            principal.clone(),
            method.as_str().to_string(),
            source.map(|s| s.to_string()),
        ),
    }
}

impl Entry {
    /// A copy of the fields every entry of one record shares.
    fn shallow(&self) -> Entry {
        Entry {
            offset: self.offset,
            ts: self.ts,
            actor: self.actor.clone(),
            action: self.action,
            scope: None,
            subject: None,
            context: None,
            version: None,
            id: None,
            schema_type: None,
            kek: None,
            resource: None,
            permanent: None,
            change: None,
            hash: self.hash,
        }
    }

    fn principal(&self) -> Option<&str> {
        match self.actor.as_deref() {
            Some(StoredActor::Actor(actor)) => actor.principal.as_deref(),
            Some(StoredActor::Name(name)) => Some(name),
            None => None,
        }
    }

    fn matches(&self, query: &AuditQuery) -> bool {
        if let Some(prefix) = &query.subject_prefix {
            if !self
                .subject
                .as_deref()
                .is_some_and(|s| s.starts_with(prefix.as_str()))
            {
                return false;
            }
        }
        if let Some(principal) = &query.principal {
            let matches = match self.principal() {
                Some(name) => name == principal,
                None => principal == "anonymous",
            };
            if !matches {
                return false;
            }
        }
        if !query.actions.is_empty() && !query.actions.iter().any(|a| a == self.action) {
            return false;
        }
        if query.since.is_some_and(|since| self.ts < since) {
            return false;
        }
        if query.until.is_some_and(|until| self.ts >= until) {
            return false;
        }
        true
    }

    fn to_api(&self) -> AuditEntry {
        let (principal, method, source) = principal_and_method(self.actor.as_deref());
        let (before, after) = match &self.change {
            Some(change) => (Some(change.0.clone()), Some(change.1.clone())),
            None => (None, None),
        };
        AuditEntry {
            offset: self.offset,
            ts: self.ts,
            time: rfc3339(self.ts),
            principal,
            method,
            source,
            action: self.action.to_string(),
            scope: self.scope.map(str::to_string),
            subject: self.subject.clone(),
            context: self.context.clone(),
            version: self.version,
            id: self.id,
            schema_type: self.schema_type.map(str::to_string),
            kek: self.kek.clone(),
            resource: self.resource.clone(),
            permanent: self.permanent,
            before,
            after,
            hash: self.hash.to_string(),
        }
    }
}

impl Audit {
    /// Brings the index up to `head` from the log.
    async fn up_to<'a>(
        &'a self,
        engine: &Engine,
        head: u64,
    ) -> Result<tokio::sync::MutexGuard<'a, Index>> {
        let mut index = self.index.lock().await;
        while index.next < head {
            let batch = engine.read_log(index.next, BATCH).await?;
            if batch.is_empty() {
                return Err(Error::Store(format!(
                    "the log ends at offset {} but the registry has replayed {head} records",
                    index.next
                )));
            }
            for stored in &batch {
                index.add(stored)?;
            }
        }
        Ok(index)
    }

    /// Who registered each version of `subject` (its qualified name), as far as `head`:
    /// version → principal (`None` for an anonymous caller).
    pub async fn registered_by(
        &self,
        engine: &Engine,
        head: u64,
        subject: &str,
    ) -> Result<Vec<(i32, Option<String>)>> {
        let index = self.up_to(engine, head).await?;
        Ok(index
            .registrations
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|at| index.entries.get(*at as usize))
            .filter(|entry| entry.offset < head)
            .filter_map(|entry| Some((entry.version?, entry.principal().map(str::to_string))))
            .collect())
    }

    /// A page of the audit trail: brings the index up to `head` from the log, then filters.
    pub async fn page(&self, engine: &Engine, head: u64, query: &AuditQuery) -> Result<AuditPage> {
        let index = self.up_to(engine, head).await?;
        let start = index
            .entries
            .partition_point(|entry| entry.offset < query.from);
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let mut entries = Vec::new();
        let mut next = None;
        for entry in index.entries[start..].iter().filter(|e| e.offset < head) {
            if !entry.matches(query) {
                continue;
            }
            // A page ends between records, never inside a batch.
            if entries.len() >= limit
                && entries
                    .last()
                    .is_none_or(|last: &AuditEntry| last.offset != entry.offset)
            {
                next = Some(entry.offset);
                break;
            }
            entries.push(entry.to_api());
        }
        Ok(AuditPage { entries, next })
    }
}

/// Every action an audit entry can name (what the `action` filter accepts).
pub const ACTIONS: [&str; 16] = [
    "schema_registered",
    "version_deleted",
    "subject_deleted",
    "config_set",
    "config_deleted",
    "mode_set",
    "mode_deleted",
    "kek_created",
    "kek_updated",
    "kek_deleted",
    "kek_undeleted",
    "dek_created",
    "dek_deleted",
    "dek_undeleted",
    "association_set",
    "association_deleted",
];

/// Now, in milliseconds since the epoch (what `parse_time`'s spans count back from).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds since the epoch as RFC 3339 in UTC, with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time.format(&format).unwrap_or_default()
}

/// A time in a query: RFC 3339, milliseconds since the epoch, or a span before now (`90s`,
/// `15m`, `24h`, `7d`).
pub fn parse_time(raw: &str, now_ms: i64) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(ms) = raw.parse::<i64>() {
        return Some(ms);
    }
    let span = |digits: &str, unit: i64| digits.parse::<i64>().ok().map(|n| now_ms - n * unit);
    if let Some(d) = raw.strip_suffix('s') {
        if let Some(ms) = span(d, 1000) {
            return Some(ms);
        }
    }
    if let Some(d) = raw.strip_suffix('m') {
        if let Some(ms) = span(d, 60_000) {
            return Some(ms);
        }
    }
    if let Some(d) = raw.strip_suffix('h') {
        if let Some(ms) = span(d, 3_600_000) {
            return Some(ms);
        }
    }
    if let Some(d) = raw.strip_suffix('d') {
        if let Some(ms) = span(d, 86_400_000) {
            return Some(ms);
        }
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(fixture: &str) -> Index {
        let mut index = Index::default();
        for (offset, line) in fixture.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let stored = Stored::read(offset as u64, line.as_bytes()).expect("reads");
            index.add(&stored).expect("indexes");
        }
        index
    }

    /// The pinned format-3 log: who did what, with the config and mode before and after.
    #[test]
    fn entries_of_the_pinned_v3_log() {
        let index = index_of(include_str!("../../../fixtures/storage/v3.jsonl"));
        let entries: Vec<AuditEntry> = index.entries.iter().map(Entry::to_api).collect();
        let summary: Vec<(Option<&str>, &str, &str)> = entries
            .iter()
            .map(|e| (e.principal.as_deref(), e.method.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (Some("alice"), "basic", "schema_registered"),
                (Some("alice"), "basic", "config_set"),
                (Some("ci"), "api_key", "config_set"),
                (Some("ci"), "api_key", "mode_set"),
                (Some("ci"), "api_key", "mode_deleted"),
                (Some("alice"), "basic", "schema_registered"),
                (Some("alice"), "basic", "version_deleted"),
                (Some("ci"), "api_key", "config_deleted"),
                (None, "anonymous", "schema_registered"),
                (None, "anonymous", "subject_deleted"),
            ]
        );
        assert_eq!(entries[1].before, Some(Value::Null));
        assert_eq!(
            entries[1].after,
            Some(serde_json::json!({"compatibility": "FULL"}))
        );
        assert_eq!(
            entries[2].before,
            Some(serde_json::json!({"compatibility": "FULL"}))
        );
        assert_eq!(
            entries[2].after,
            Some(serde_json::json!({"compatibility": "FULL_TRANSITIVE"}))
        );
        assert_eq!(entries[3].before, Some(Value::Null));
        assert_eq!(entries[3].after, Some(Value::from("READONLY")));
        assert_eq!(entries[4].before, Some(Value::from("READONLY")));
        assert_eq!(entries[0].source.as_deref(), Some("127.0.0.1"));
        assert_eq!(entries[0].id, Some(1));
        assert_eq!(entries[6].version, Some(1));
        assert_eq!(entries[6].permanent, Some(false));
        assert_eq!(entries[7].subject.as_deref(), Some("orders-value"));
        assert_eq!(entries[7].scope.as_deref(), Some("subject"));

        let query = |q: AuditQuery| -> Vec<u64> {
            index
                .entries
                .iter()
                .filter(|e| e.matches(&q))
                .map(|e| e.offset)
                .collect()
        };
        let by = |principal: &str| AuditQuery {
            principal: Some(principal.into()),
            ..AuditQuery::default()
        };
        assert_eq!(query(by("ci")), [2, 3, 4, 7]);
        assert_eq!(query(by("anonymous")), [8, 9]);
        assert_eq!(
            query(AuditQuery {
                subject_prefix: Some("click".into()),
                ..AuditQuery::default()
            }),
            [8, 9]
        );
        assert_eq!(
            query(AuditQuery {
                actions: vec!["config_set".into(), "config_deleted".into()],
                ..AuditQuery::default()
            }),
            [1, 2, 7]
        );
        let ts = index.entries[8].ts;
        assert_eq!(
            query(AuditQuery {
                since: Some(ts),
                ..AuditQuery::default()
            }),
            [8, 9]
        );
        assert_eq!(
            query(AuditQuery {
                until: Some(ts),
                ..AuditQuery::default()
            })
            .len(),
            8
        );
    }

    /// Records written before the actor existed read as anonymous; a record whose link does not
    /// hold is refused.
    #[test]
    fn earlier_formats_read_as_anonymous_and_the_chain_is_checked() {
        let index = index_of(include_str!("../../../fixtures/storage/v2.jsonl"));
        assert!(!index.entries.is_empty());
        for entry in &index.entries {
            let api = entry.to_api();
            assert_eq!((api.principal, api.method.as_str()), (None, "anonymous"));
        }
        let v1 = index_of(include_str!("../../../fixtures/storage/v1-full.jsonl"));
        assert!(v1.entries.iter().all(|e| e.principal().is_none()));

        let lines: Vec<&str> = include_str!("../../../fixtures/storage/v3.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let mut index = Index::default();
        index
            .add(&Stored::read(0, lines[0].as_bytes()).expect("reads"))
            .expect("first");
        let skipped = Stored::read(1, lines[2].as_bytes()).expect("reads");
        assert!(index.add(&skipped).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_629_971_123), "2025-12-01T22:59:31.123Z");
        let now = 1_000_000_000;
        assert_eq!(parse_time("1764629971123", now), Some(1_764_629_971_123));
        assert_eq!(parse_time("90s", now), Some(now - 90_000));
        assert_eq!(parse_time("15m", now), Some(now - 900_000));
        assert_eq!(parse_time("2h", now), Some(now - 7_200_000));
        assert_eq!(parse_time("7d", now), Some(now - 604_800_000));
        assert_eq!(
            parse_time("2025-12-01T22:59:31.123Z", now),
            Some(1_764_629_971_123)
        );
        assert_eq!(
            parse_time("2025-12-01T23:59:31.123+01:00", now),
            Some(1_764_629_971_123)
        );
        assert_eq!(parse_time("yesterday", now), None);
    }
}
