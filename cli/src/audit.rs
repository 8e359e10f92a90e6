//! `covenant audit`: the registry's audit trail (who changed which contract, when, from where),
//! as a table or as JSON lines.

use clap::{Args, ValueEnum};
use covenant_client::api::AuditEntry;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::registry::RegistryArgs;

/// How entries are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON object per line.
    Json,
}

/// `covenant audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Entries about subjects starting with this.
    #[arg(long)]
    subject: Option<String>,
    /// Entries by this principal (`anonymous` for callers without one).
    #[arg(long)]
    actor: Option<String>,
    /// Entries of these actions (schema_registered, version_deleted, subject_deleted,
    /// config_set, config_deleted, mode_set, mode_deleted; repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    action: Vec<String>,
    /// Entries from this time on: RFC 3339, milliseconds since the epoch, or a span back from
    /// now (`15m`, `24h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Entries before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Entries at most [default: all].
    #[arg(long)]
    limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn change(entry: &AuditEntry) -> String {
    fn show(value: Option<&Value>) -> String {
        match value {
            None | Some(Value::Null) => "-".into(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(map)) if map.len() == 1 && map.contains_key("compatibility") => {
                map["compatibility"].as_str().unwrap_or("?").to_string()
            }
            Some(other) => other.to_string(),
        }
    }
    if entry.before.is_none() && entry.after.is_none() {
        return String::new();
    }
    format!(
        "{} -> {}",
        show(entry.before.as_ref()),
        show(entry.after.as_ref())
    )
}

fn target(entry: &AuditEntry) -> String {
    if let Some(subject) = &entry.subject {
        let mut out = subject.clone();
        if let Some(version) = entry.version {
            out.push_str(&format!(" v{version}"));
        }
        if let Some(id) = entry.id {
            out.push_str(&format!(" id {id}"));
        }
        if entry.permanent == Some(true) {
            out.push_str(" (permanent)");
        }
        out
    } else if let Some(context) = &entry.context {
        format!("context {context}")
    } else if entry.scope.as_deref() == Some("global") {
        "(global)".into()
    } else {
        String::new()
    }
}

/// Runs `covenant audit`.
pub async fn run(args: AuditArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(subject) = &args.subject {
        query.push(("subject", subject.clone()));
    }
    if let Some(actor) = &args.actor {
        query.push(("principal", actor.clone()));
    }
    if !args.action.is_empty() {
        query.push(("action", args.action.join(",")));
    }
    if let Some(since) = &args.since {
        query.push(("since", since.clone()));
    }
    if let Some(until) = &args.until {
        query.push(("until", until.clone()));
    }
    let mut entries = Vec::new();
    let mut from = 0u64;
    loop {
        let remaining = args.limit.map(|l| l.saturating_sub(entries.len()));
        if remaining == Some(0) {
            break;
        }
        let mut page_query = query.clone();
        page_query.push(("from", from.to_string()));
        page_query.push(("limit", remaining.unwrap_or(1000).min(1000).to_string()));
        let page = client.audit(&page_query).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => from = next,
            None => break,
        }
    }
    match args.format {
        Format::Json => {
            for entry in &entries {
                println!(
                    "{}",
                    serde_json::to_string(entry).map_err(|e| CliError(e.to_string()))?
                );
            }
        }
        Format::Table => {
            let rows: Vec<[String; 7]> = entries
                .iter()
                .map(|e| {
                    [
                        e.offset.to_string(),
                        e.time.clone(),
                        e.principal.clone().unwrap_or_else(|| "(anonymous)".into()),
                        format!(
                            "{}{}",
                            e.method,
                            e.source
                                .as_deref()
                                .map(|s| format!(" {s}"))
                                .unwrap_or_default()
                        ),
                        e.action.clone(),
                        target(e),
                        change(e),
                    ]
                })
                .collect();
            let header = [
                "OFFSET",
                "TIME",
                "PRINCIPAL",
                "VIA",
                "ACTION",
                "TARGET",
                "CHANGE",
            ];
            let mut widths = header.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: Vec<&str>| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", padded.join("  ").trim_end());
            };
            line(header.to_vec());
            for row in &rows {
                line(row.iter().map(String::as_str).collect());
            }
        }
    }
    Ok(0)
}
