//! The operator's everyday commands: register, get, subjects, versions, config, mode, delete.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use covenant_client::api::{
    ConfigSettings, ConfigUpdateRequest, RegisterSchemaRequest, SchemaReference,
};
use covenant_client::VersionSpec;
use covenant_core::schema::SchemaType;
use serde::Serialize;

use crate::check::{parse_reference, type_of, TypeArg};
use crate::error::{fail, CliError, Result};
use crate::registry::RegistryArgs;

/// Plain text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Plain text.
    Text,
    /// JSON.
    Json,
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| CliError(e.to_string()))?
    );
    Ok(())
}

pub(crate) fn version_spec(raw: &str) -> Result<VersionSpec> {
    Ok(raw.parse()?)
}

/// Reads a schema file and its references into a registration request.
pub fn request_for(
    file: &PathBuf,
    schema_type: Option<TypeArg>,
    references: &[String],
) -> Result<(SchemaType, RegisterSchemaRequest)> {
    let schema_type = type_of(file, schema_type)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError(format!("cannot read {}: {e}", file.display())))?;
    let mut refs = Vec::new();
    for raw in references {
        let reference = parse_reference(raw)?;
        match (reference.subject, reference.version) {
            (Some(subject), Some(version)) => refs.push(SchemaReference {
                name: reference.name,
                subject,
                version,
            }),
            _ => {
                return fail(format!(
                    "--reference `{raw}` must be NAME=SUBJECT:VERSION here"
                ))
            }
        }
    }
    Ok((
        schema_type,
        RegisterSchemaRequest {
            schema: Some(text),
            schema_type: schema_type.member(),
            references: (!refs.is_empty()).then_some(refs),
            ..RegisterSchemaRequest::default()
        },
    ))
}

/// `covenant register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject to register under.
    #[arg(long)]
    subject: String,
    /// The schema type; inferred from the extension when absent.
    #[arg(long = "type", value_enum)]
    schema_type: Option<TypeArg>,
    /// A reference: NAME=SUBJECT:VERSION.
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    references: Vec<String>,
    /// Ask the registry to normalize the schema.
    #[arg(long)]
    normalize: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// The schema file.
    file: PathBuf,
}

pub async fn register(args: RegisterArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let (_, request) = request_for(&args.file, args.schema_type, &args.references)?;
    let response = client
        .register(&args.subject, &request, args.normalize)
        .await?;
    match args.output {
        Output::Json => print_json(&response)?,
        Output::Text => println!(
            "registered {} as version {} of {} (id {})",
            args.file.display(),
            response
                .version
                .map_or_else(|| "?".into(), |v| v.to_string()),
            args.subject,
            response.id
        ),
    }
    Ok(0)
}

/// `covenant get`: a schema by id, or a version of a subject.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// A schema id.
    #[arg(long, conflicts_with = "subject")]
    id: Option<i32>,
    /// A subject.
    #[arg(long, required_unless_present = "id")]
    subject: Option<String>,
    /// The subject's version (default latest).
    #[arg(long, default_value = "latest")]
    version: String,
    /// Include soft-deleted versions.
    #[arg(long)]
    deleted: bool,
    /// Print the schema text (text) or the whole registry answer (json).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn get(args: GetArgs) -> Result<u8> {
    let client = args.registry.client()?;
    if let Some(id) = args.id {
        let schema = client.schema_by_id(id, None).await?;
        match args.output {
            Output::Json => print_json(&*schema)?,
            Output::Text => println!("{}", pretty(&schema.schema)),
        }
        return Ok(0);
    }
    let subject = args.subject.as_deref().unwrap_or_default();
    let schema = client
        .version(subject, version_spec(&args.version)?, args.deleted)
        .await?;
    match args.output {
        Output::Json => print_json(&*schema)?,
        Output::Text => println!("{}", pretty(&schema.schema)),
    }
    Ok(0)
}

/// Pretty-prints JSON schema texts; Protobuf text as is.
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.trim_end().to_string())
}

/// `covenant subjects`.
#[derive(Debug, Args)]
pub struct SubjectsArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Only subjects starting with this prefix.
    #[arg(long)]
    prefix: Option<String>,
    /// Include soft-deleted subjects.
    #[arg(long)]
    deleted: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn subjects(args: SubjectsArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let subjects = client
        .subjects(args.prefix.as_deref(), args.deleted)
        .await?;
    match args.output {
        Output::Json => print_json(&subjects)?,
        Output::Text => subjects.iter().for_each(|s| println!("{s}")),
    }
    Ok(0)
}

/// `covenant versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Include soft-deleted versions.
    #[arg(long)]
    deleted: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// The subject.
    subject: String,
}

pub async fn versions(args: VersionsArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let versions = client.versions(&args.subject, args.deleted).await?;
    // Beside each version its semantic version, where the registry keeps them (a registry
    // without Covenant's endpoints has none).
    let mut semvers: std::collections::BTreeMap<i32, covenant_core::api::VersionSemver> = client
        .semvers(&args.subject, args.deleted)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.version, v))
        .collect();
    match args.output {
        Output::Json => {
            let listed: Vec<VersionLine> = versions
                .iter()
                .map(|&version| {
                    let known = semvers.remove(&version);
                    VersionLine {
                        version,
                        id: known.as_ref().map(|v| v.id),
                        deleted: known.as_ref().is_some_and(|v| v.deleted),
                        semver: known.and_then(|v| v.semver),
                    }
                })
                .collect();
            print_json(&listed)?
        }
        Output::Text => {
            for v in &versions {
                match semvers.get(v).and_then(|known| known.semver.as_ref()) {
                    Some(semver) => println!("{v}\t{}", semver.version),
                    None => println!("{v}"),
                }
            }
        }
    }
    Ok(0)
}

/// One version in `covenant versions --output json`.
#[derive(serde::Serialize)]
struct VersionLine {
    version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    semver: Option<covenant_core::api::SemverInfo>,
}

/// `covenant config`: shows the config, or changes it when a setting is given.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// A subject (or `:.ctx:` for a context); the global config when absent.
    #[arg(long)]
    subject: Option<String>,
    /// Set the compatibility level.
    #[arg(long)]
    level: Option<String>,
    /// Set normalization on or off.
    #[arg(long)]
    normalize: Option<bool>,
    /// Set the JSON Schema policy (STRICT or LENIENT).
    #[arg(long)]
    policy: Option<String>,
    /// Remove the config at this scope.
    #[arg(long, conflicts_with_all = ["level", "normalize", "policy"])]
    delete: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn config(args: ConfigArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let subject = args.subject.as_deref();
    if args.delete {
        let previous = client.delete_config(subject).await?;
        match args.output {
            Output::Json => print_json(&previous)?,
            Output::Text => println!(
                "removed {}",
                previous.compatibility_level.unwrap_or_default()
            ),
        }
        return Ok(0);
    }
    if args.level.is_some() || args.normalize.is_some() || args.policy.is_some() {
        let request = ConfigUpdateRequest {
            compatibility: args.level.clone(),
            settings: ConfigSettings {
                normalize: args.normalize,
                compatibility_policy: args.policy.clone(),
                ..ConfigSettings::default()
            },
        };
        let set = client.set_config(subject, &request).await?;
        match args.output {
            Output::Json => print_json(&set)?,
            Output::Text => println!("{}", set.compatibility.unwrap_or_default()),
        }
        return Ok(0);
    }
    let config = client.config(subject, subject.is_some()).await?;
    match args.output {
        Output::Json => print_json(&config)?,
        Output::Text => println!("{}", config.compatibility_level.unwrap_or_default()),
    }
    Ok(0)
}

/// `covenant mode`: shows the mode, or sets it when MODE is given.
#[derive(Debug, Args)]
pub struct ModeArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// A subject; the global mode when absent.
    #[arg(long)]
    subject: Option<String>,
    /// Switch to IMPORT even though subjects exist.
    #[arg(long)]
    force: bool,
    /// Remove the mode at this scope.
    #[arg(long, conflicts_with = "mode")]
    delete: bool,
    /// READWRITE, READONLY or IMPORT.
    mode: Option<String>,
}

pub async fn mode(args: ModeArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let subject = args.subject.as_deref();
    let mode = if args.delete {
        client.delete_mode(subject).await?
    } else if let Some(mode) = &args.mode {
        client.set_mode(subject, mode, args.force).await?
    } else {
        client.mode(subject, subject.is_some()).await?
    };
    println!("{mode}");
    Ok(0)
}

/// `covenant delete`: a version, or a whole subject.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject.
    #[arg(long)]
    subject: String,
    /// One version (a whole subject when absent).
    #[arg(long)]
    version: Option<String>,
    /// Delete for good (after a soft delete).
    #[arg(long)]
    permanent: bool,
}

pub async fn delete(args: DeleteArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let how = if args.permanent {
        "permanently deleted"
    } else {
        "soft-deleted"
    };
    match &args.version {
        Some(version) => {
            let deleted = client
                .delete_version(&args.subject, version_spec(version)?, args.permanent)
                .await?;
            println!("{how} version {deleted} of {}", args.subject);
        }
        None => {
            let deleted = client.delete_subject(&args.subject, args.permanent).await?;
            let list: Vec<String> = deleted.iter().map(i32::to_string).collect();
            println!("{how} {} (versions {})", args.subject, list.join(", "));
        }
    }
    Ok(0)
}
