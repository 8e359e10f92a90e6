//! `covenant export` and `covenant import`: every subject, version, id, config and mode, to a JSON
//! file or a directory, and back into a registry in IMPORT mode with ids and versions preserved.
//! This is the migration path from any Confluent-compatible registry, and a backup and restore.
//!
//! A directory holds `registry.json` (global and context settings) and one
//! `subjects/<percent-encoded subject>.json` per subject; a `.json` path holds everything.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use covenant_client::api::{
    Association, AssociationCreateOrUpdateInfo, AssociationCreateOrUpdateRequest, Config,
    ConfigUpdateRequest, CreateDekRequest, CreateKekRequest, Dek, Kek, RegisterSchemaRequest,
    Schema, SemverInfo,
};
use covenant_client::{segment, Client, Version, VersionSpec};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::error::{fail, CliError, Result};
use crate::registry::RegistryArgs;

const FORMAT: &str = "covenant-export";

/// The export format this build writes: 2 adds the DEK registry and the associations.
const VERSION: u32 = 2;

/// The DEK algorithms, each listed apart by the DEK registry.
const ALGORITHMS: [&str; 3] = ["AES128_GCM", "AES256_GCM", "AES256_SIV"];

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
    /// The DEK registry's KEKs, soft-deleted ones included (version 2 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keks: Vec<Kek>,
    /// Their DEKs, wrapped as stored (version 2 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deks: Vec<Dek>,
    /// Associations of resources with subjects (version 2 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Association>,
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
    /// Covenant's semantic versions, by version (version 2 on; absent for other registries).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub semvers: BTreeMap<i32, SemverInfo>,
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
        let semvers = optional(client.semvers(&subject, true))
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.semver.map(|s| (v.version, s)))
            .collect();
        exported.push(SubjectExport {
            config: optional(client.config(Some(&subject), false)).await?,
            mode: optional(client.mode(Some(&subject), false)).await?,
            subject,
            versions,
            semvers,
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
    // The DEK registry and the associations: a registry without them (Confluent's community
    // edition, Karapace) answers 404, and has none.
    let mut keks = Vec::new();
    let mut deks = Vec::new();
    for name in optional(client.kek_names(true)).await?.unwrap_or_default() {
        keks.push(client.kek(&name, true).await?);
        for subject in client.dek_subjects(&name, true).await? {
            for algorithm in ALGORITHMS {
                for version in client
                    .dek_versions(&name, &subject, algorithm, true)
                    .await?
                {
                    let mut dek = client
                        .dek(&name, &subject, version, algorithm, true)
                        .await?;
                    // The key itself never leaves the registry in an export.
                    dek.key_material = None;
                    deks.push(dek);
                }
            }
        }
    }
    let mut associations = Vec::new();
    const PAGE: usize = 1000;
    while let Some(page) = optional(client.associations("-", "-", associations.len(), PAGE)).await?
    {
        let last = page.len() < PAGE;
        associations.extend(page);
        if last {
            break;
        }
    }
    Ok(Export {
        format: FORMAT.into(),
        version: VERSION,
        source: client.url().to_string(),
        config: optional(client.config(None, false)).await?,
        mode: optional(client.mode(None, false)).await?,
        contexts,
        subjects: exported,
        keks,
        deks,
        associations,
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
        keks: data.keks.clone(),
        deks: data.deks.clone(),
        associations: data.associations.clone(),
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
    if export.version == 0 || export.version > VERSION {
        return fail(format!(
            "{}: export version {} (this build reads 1 to {VERSION}; upgrade Covenant)",
            from.display(),
            export.version
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
    let mut versions: Vec<(&str, &Schema, Option<&SemverInfo>)> = data
        .subjects
        .iter()
        .flat_map(|s| {
            s.versions
                .iter()
                .map(move |v| (s.subject.as_str(), v, s.semvers.get(&v.version)))
        })
        .collect();
    versions.sort_by(|a, b| (a.1.id, a.0, a.1.version).cmp(&(b.1.id, b.0, b.1.version)));
    let bar = progress(versions.len(), "import");
    for (subject, version, semver) in &versions {
        bar.set_message(format!("{subject} v{}", version.version));
        let request = RegisterSchemaRequest {
            schema: Some(version.schema.clone()),
            schema_type: version.schema_type.clone(),
            references: (!version.references.is_empty()).then(|| version.references.clone()),
            metadata: version.metadata.clone(),
            rule_set: version.rule_set.clone(),
            id: Some(i64::from(version.id)),
            version: Some(i64::from(version.version)),
            semver: semver.cloned(),
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
    for (subject, version, _) in versions
        .iter()
        .rev()
        .filter(|(_, v, _)| v.deleted == Some(true))
    {
        client
            .delete_version(
                subject,
                VersionSpec::Number(Version::try_from(version.version)?),
                false,
            )
            .await?;
    }
    // Associations while the registry is still in IMPORT mode, where a STRONG (frozen) one is
    // created over the subject its topic already owns, without registering a schema.
    let mut resources: Vec<(&str, Vec<&Association>)> = Vec::new();
    for association in &data.associations {
        match resources
            .iter_mut()
            .find(|(id, _)| *id == association.resource_id)
        {
            Some((_, list)) => list.push(association),
            None => resources.push((&association.resource_id, vec![association])),
        }
    }
    for (_, list) in resources {
        let first = list[0];
        let infos = list
            .iter()
            .map(|association| AssociationCreateOrUpdateInfo {
                subject: Some(association.subject.clone()),
                association_type: Some(association.association_type.clone()),
                lifecycle: Some(association.lifecycle.clone()),
                frozen: association.frozen,
                schema: None,
                normalize: None,
            })
            .collect();
        client
            .create_association(&AssociationCreateOrUpdateRequest {
                resource_name: Some(first.resource_name.clone()),
                resource_namespace: Some(first.resource_namespace.clone()),
                resource_id: Some(first.resource_id.clone()),
                resource_type: Some(first.resource_type.clone()),
                associations: Some(infos),
            })
            .await
            .map_err(|e| {
                CliError(format!(
                    "cannot import the associations of {}: {}",
                    first.resource_name,
                    CliError::from(e)
                ))
            })?;
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
    // KEKs live first, then their DEKs (as stored: wrapped, soft-deleted or not), then the KEKs
    // that were soft-deleted.
    for kek in &data.keks {
        client
            .create_kek(&CreateKekRequest {
                name: Some(kek.name.clone()),
                kms_type: Some(kek.kms_type.clone()),
                kms_key_id: Some(kek.kms_key_id.clone()),
                kms_props: Some(kek.kms_props.clone()),
                doc: kek.doc.clone(),
                shared: kek.shared,
                deleted: false,
            })
            .await
            .map_err(|e| {
                CliError(format!(
                    "cannot import KEK {}: {}",
                    kek.name,
                    CliError::from(e)
                ))
            })?;
    }
    for dek in &data.deks {
        client
            .create_dek(
                &dek.kek_name,
                &dek.subject,
                &CreateDekRequest {
                    subject: Some(dek.subject.clone()),
                    version: Some(i64::from(dek.version)),
                    algorithm: Some(dek.algorithm.clone()),
                    encrypted_key_material: dek.encrypted_key_material.clone(),
                    deleted: dek.deleted == Some(true),
                },
            )
            .await
            .map_err(|e| {
                CliError(format!(
                    "cannot import DEK {} v{} of {}: {}",
                    dek.subject,
                    dek.version,
                    dek.kek_name,
                    CliError::from(e)
                ))
            })?;
    }
    for kek in data.keks.iter().filter(|k| k.deleted == Some(true)) {
        client.delete_kek(&kek.name, false).await?;
    }
    client.set_mode(None, &final_mode, true).await?;
    Ok(versions.len())
}
