//! `covenant export` and `covenant import`: every subject, version, id, config and mode, to a JSON
//! file or a directory, and back into a registry in IMPORT mode with ids and versions preserved.
//! This is the migration path from any Confluent-compatible registry, and a backup and restore.
//!
//! A directory holds `registry.json` (global and context settings) and one
//! `subjects/<percent-encoded subject>.json` per subject; a `.json` path holds everything.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use covenant_client::api::{Config, ConfigUpdateRequest, RegisterSchemaRequest, Schema};
use covenant_client::{segment, Client, Version, VersionSpec};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::error::{fail, CliError, Result};
use crate::registry::RegistryArgs;

const FORMAT: &str = "covenant-export";

/// Everything a registry holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Export {
    /// Always `covenant-export`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// The registry it came from.
    pub source: String,
    /// The global config.
    pub config: Option<Config>,
    /// The global mode.
    pub mode: Option<String>,
    /// Config and mode of non-default contexts.
    #[serde(default)]
    pub contexts: Vec<ContextExport>,
    /// Every subject, soft-deleted ones included.
    #[serde(default)]
    pub subjects: Vec<SubjectExport>,
}

/// A context's settings.
#[derive(Debug, Serialize, Deserialize)]
pub struct ContextExport {
    /// The context (`.staging`).
    pub context: String,
    /// Its config.
    pub config: Option<Config>,
    /// Its mode.
    pub mode: Option<String>,
}

/// A subject with its versions and settings.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubjectExport {
    /// The (qualified) subject.
    pub subject: String,
    /// Subject-level config.
    pub config: Option<Config>,
    /// Subject-level mode.
    pub mode: Option<String>,
    /// Every version, oldest first, soft-deleted ones marked.
    pub versions: Vec<Schema>,
}

fn progress(length: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    let style = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{msg}}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Runs a call that answers 404 when nothing is set.
async fn optional<T>(
    call: impl std::future::Future<Output = covenant_client::Result<T>>,
) -> Result<Option<T>> {
    match call.await {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Flags of `covenant export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// A `.json` file, or a directory.
    #[arg(long)]
    to: PathBuf,
}

pub async fn export(args: ExportArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let data = collect(&client).await?;
    write(&data, &args.to)?;
    let versions: usize = data.subjects.iter().map(|s| s.versions.len()).sum();
    eprintln!(
        "exported {} subjects ({versions} versions) from {} to {}",
        data.subjects.len(),
        args.registry.registry,
        args.to.display()
    );
    Ok(0)
}

/// Reads everything from a registry.
pub async fn collect(client: &Client) -> Result<Export> {
    let subjects = client.subjects(Some(":*:"), true).await?;
    let bar = progress(subjects.len(), "export");
    let mut exported = Vec::with_capacity(subjects.len());
    for subject in subjects {
        bar.set_message(subject.clone());
        let numbers = client.versions(&subject, true).await?;
        let mut versions = Vec::with_capacity(numbers.len());
        for number in numbers {
            versions.push(
                (*client
                    .version(
                        &subject,
                        VersionSpec::Number(Version::try_from(number)?),
                        true,
                    )
                    .await?)
                    .clone(),
            );
        }
        exported.push(SubjectExport {
            config: optional(client.config(Some(&subject), false)).await?,
            mode: optional(client.mode(Some(&subject), false)).await?,
            subject,
            versions,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut contexts = Vec::new();
    for context in optional(client.contexts()).await?.unwrap_or_default() {
        if context == "." {
            continue;
        }
        let scope = format!(":{context}:");
        let config = optional(client.config(Some(&scope), false)).await?;
        let mode = optional(client.mode(Some(&scope), false)).await?;
        if config.is_some() || mode.is_some() {
            contexts.push(ContextExport {
                context,
                config,
                mode,
            });
        }
    }
    Ok(Export {
        format: FORMAT.into(),
        version: 1,
        source: client.url().to_string(),
        config: optional(client.config(None, false)).await?,
        mode: optional(client.mode(None, false)).await?,
        contexts,
        subjects: exported,
    })
}

fn pretty<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| CliError(e.to_string()))
}

fn write(data: &Export, to: &Path) -> Result<()> {
    if to.extension().is_some_and(|e| e == "json") {
        return std::fs::write(to, pretty(data)?)
            .map_err(|e| CliError(format!("cannot write {}: {e}", to.display())));
    }
    let subjects_dir = to.join("subjects");
    std::fs::create_dir_all(&subjects_dir)
        .map_err(|e| CliError(format!("cannot create {}: {e}", subjects_dir.display())))?;
    let header = Export {
        format: data.format.clone(),
        version: data.version,
        source: data.source.clone(),
        config: data.config.clone(),
        mode: data.mode.clone(),
        contexts: Vec::new(),
        subjects: Vec::new(),
    };
    let mut header_value = serde_json::to_value(&header).map_err(|e| CliError(e.to_string()))?;
    header_value["contexts"] =
        serde_json::to_value(&data.contexts).map_err(|e| CliError(e.to_string()))?;
    std::fs::write(to.join("registry.json"), pretty(&header_value)?)
        .map_err(|e| CliError(format!("cannot write {}: {e}", to.display())))?;
    for subject in &data.subjects {
        let path = subjects_dir.join(format!("{}.json", segment(&subject.subject)));
        std::fs::write(&path, pretty(subject)?)
            .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn read(from: &Path) -> Result<Export> {
    let parse = |path: &Path| -> Result<serde_json::Value> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| CliError(format!("{}: not a covenant export: {e}", path.display())))
    };
    let value = if from.is_dir() {
        let mut header = parse(&from.join("registry.json"))?;
        let mut subjects = Vec::new();
        let dir = from.join("subjects");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| CliError(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        entries.sort();
        for entry in entries {
            subjects.push(parse(&entry)?);
        }
        header["subjects"] = serde_json::Value::Array(subjects);
        header
    } else {
        parse(from)?
    };
    let export: Export = serde_json::from_value(value)
        .map_err(|e| CliError(format!("{}: not a covenant export: {e}", from.display())))?;
    if export.format != FORMAT {
        return fail(format!(
            "{}: format `{}` is not {FORMAT}",
            from.display(),
            export.format
        ));
    }
    Ok(export)
}

/// Flags of `covenant import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// A `.json` file or a directory written by `covenant export`.
    #[arg(long)]
    from: PathBuf,
    /// Import even though the target already has subjects (ids must not collide).
    #[arg(long)]
    force: bool,
}

pub async fn import(args: ImportArgs) -> Result<u8> {
    let data = read(&args.from)?;
    let client = args.registry.client()?;
    let imported = apply(&client, &data, args.force).await?;
    eprintln!(
        "imported {imported} versions into {} with their ids",
        args.registry.registry
    );
    Ok(0)
}

fn update_request(config: &Config) -> ConfigUpdateRequest {
    ConfigUpdateRequest {
        compatibility: config.compatibility_level.clone(),
        settings: config.settings.clone(),
    }
}

/// Writes an export into a registry: IMPORT mode, versions by id with their ids and versions,
/// soft deletes, then configs and modes. Returns how many versions were written.
pub async fn apply(client: &Client, data: &Export, force: bool) -> Result<usize> {
    let previous_mode = client.mode(None, false).await?;
    if previous_mode != "IMPORT" {
        client.set_mode(None, "IMPORT", force).await.map_err(|e| {
            CliError(format!(
                "cannot switch {} to IMPORT mode ({e}); an import needs an empty registry, or --force",
                client.url()
            ))
        })?;
    }
    // Versions in id order: a schema's references were registered before it.
    let mut versions: Vec<(&str, &Schema)> = data
        .subjects
        .iter()
        .flat_map(|s| s.versions.iter().map(move |v| (s.subject.as_str(), v)))
        .collect();
    versions.sort_by(|a, b| (a.1.id, a.0, a.1.version).cmp(&(b.1.id, b.0, b.1.version)));
    let bar = progress(versions.len(), "import");
    for (subject, version) in &versions {
        bar.set_message(format!("{subject} v{}", version.version));
        let request = RegisterSchemaRequest {
            schema: Some(version.schema.clone()),
            schema_type: version.schema_type.clone(),
            references: (!version.references.is_empty()).then(|| version.references.clone()),
            metadata: version.metadata.clone(),
            rule_set: version.rule_set.clone(),
            id: Some(i64::from(version.id)),
            version: Some(i64::from(version.version)),
        };
        client
            .register(subject, &request, false)
            .await
            .map_err(|e| {
                CliError(format!(
                    "cannot import version {} of {subject} (id {}): {}",
                    version.version,
                    version.id,
                    CliError::from(e)
                ))
            })?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Soft deletes last, referrers before what they reference.
    for (subject, version) in versions
        .iter()
        .rev()
        .filter(|(_, v)| v.deleted == Some(true))
    {
        client
            .delete_version(
                subject,
                VersionSpec::Number(Version::try_from(version.version)?),
                false,
            )
            .await?;
    }
    for context in &data.contexts {
        let scope = format!(":{}:", context.context);
        if let Some(config) = &context.config {
            client
                .set_config(Some(&scope), &update_request(config))
                .await?;
        }
        if let Some(mode) = &context.mode {
            client.set_mode(Some(&scope), mode, true).await?;
        }
    }
    for subject in &data.subjects {
        if let Some(config) = &subject.config {
            client
                .set_config(Some(&subject.subject), &update_request(config))
                .await?;
        }
        if let Some(mode) = &subject.mode {
            client.set_mode(Some(&subject.subject), mode, true).await?;
        }
    }
    if let Some(config) = &data.config {
        client.set_config(None, &update_request(config)).await?;
    }
    let final_mode = data.mode.clone().unwrap_or(previous_mode);
    client.set_mode(None, &final_mode, true).await?;
    Ok(versions.len())
}
