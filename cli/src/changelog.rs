//! `covenant changelog SUBJECT`: release notes of a subject from the semantic versions and the
//! reasons its registrations recorded.

use clap::{Args, ValueEnum};
use covenant_client::api::VersionSemver;
use serde::Serialize;

use crate::error::{fail, Result};
use crate::registry::RegistryArgs;

/// Flags of `covenant changelog`.
#[derive(Debug, Args)]
pub struct ChangelogArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Start at this integer version (inclusive).
    #[arg(long)]
    from: Option<i32>,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    format: ChangelogFormat,
    /// The subject.
    subject: String,
}

/// `--format` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChangelogFormat {
    /// Markdown release notes, newest first.
    Markdown,
    /// The entries as JSON, newest first.
    Json,
}

/// One entry of the changelog.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    version: i32,
    semver: Option<&'a str>,
    bump: Option<&'a str>,
    against: Option<i32>,
    id: i32,
    ts: Option<i64>,
    changes: Vec<&'a str>,
}

pub async fn run(args: ChangelogArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let versions: Vec<VersionSemver> = client.semvers(&args.subject, false).await.or_else(|e| {
        if matches!(
            e,
            covenant_client::Error::Registry {
                error_code: 404,
                ..
            }
        ) {
            fail(format!(
                "{} keeps no semantic versions (it is not Covenant, or too old)",
                args.registry.registry
            ))
        } else {
            Err(e.into())
        }
    })?;
    let entries: Vec<Entry<'_>> = versions
        .iter()
        .rev()
        .filter(|v| args.from.is_none_or(|from| v.version >= from))
        .map(|v| Entry {
            version: v.version,
            semver: v.semver.as_ref().map(|s| s.version.as_str()),
            bump: v.semver.as_ref().and_then(|s| s.bump.as_deref()),
            against: v.semver.as_ref().and_then(|s| s.against),
            id: v.id,
            ts: v.ts,
            changes: v
                .semver
                .as_ref()
                .map(|s| s.reasons.iter().map(String::as_str).collect())
                .unwrap_or_default(),
        })
        .collect();
    match args.format {
        ChangelogFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&entries)
                    .map_err(|e| crate::error::CliError(e.to_string()))?
            );
        }
        ChangelogFormat::Markdown => {
            println!("# {}\n", args.subject);
            for entry in &entries {
                let title = match entry.semver {
                    Some(semver) => format!("{semver} (version {})", entry.version),
                    None => format!("version {}", entry.version),
                };
                println!("## {title}\n");
                match (entry.bump, entry.against) {
                    (Some(bump), Some(against)) => {
                        println!(
                            "{} change from version {against}, schema id {}.\n",
                            capitalized(bump),
                            entry.id
                        )
                    }
                    _ => println!("Schema id {}.\n", entry.id),
                }
                if entry.semver.is_none() {
                    println!("- registered before semantic versions\n");
                }
                for change in &entry.changes {
                    println!("- {change}");
                }
                if !entry.changes.is_empty() {
                    println!();
                }
            }
        }
    }
    Ok(0)
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
