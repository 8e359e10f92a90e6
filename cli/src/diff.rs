//! `covenant diff`: the semantic differences between two registered versions, between a
//! registered version and a file, or between two files.

use std::path::PathBuf;

use clap::Args;
use covenant_client::{Client, Version, VersionSpec};
use covenant_core::diff::{diff, Change};
use covenant_core::schema::{ParseOptions, ParsedSchema, ResolvedReference, SchemaType};
use serde::Serialize;

use crate::check::{type_of, TypeArg};
use crate::error::{fail, CliError, Result};
use crate::ops::{version_spec, Output};
use crate::registry::RegistryArgs;

/// Flags of `covenant diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject whose versions are compared.
    #[arg(long)]
    subject: Option<String>,
    /// The old version (default: the one before --to, or the latest when a FILE is given).
    #[arg(long)]
    from: Option<String>,
    /// The new version (default latest).
    #[arg(long)]
    to: Option<String>,
    /// The schema type of files; inferred from the extension when absent.
    #[arg(long = "type", value_enum)]
    schema_type: Option<TypeArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// A new schema file (compared with --from of --subject), or OLD NEW files.
    files: Vec<PathBuf>,
}

#[derive(Serialize)]
struct ChangeOut<'a> {
    kind: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<&'a str>,
    backward_compatible: bool,
}

/// Parses a schema as the registry parses stored versions (lenient about Avro defaults);
/// errors name `origin`.
pub(crate) fn parse(
    schema_type: SchemaType,
    text: &str,
    references: &[(String, String)],
    origin: &str,
) -> Result<ParsedSchema> {
    let resolved: Vec<ResolvedReference<'_>> = references
        .iter()
        .map(|(name, schema)| ResolvedReference { name, schema })
        .collect();
    ParsedSchema::parse(
        schema_type,
        text,
        &resolved,
        ParseOptions {
            normalize: false,
            strict: false,
            max_elements: None,
        },
    )
    .map_err(|e| CliError(format!("{origin}: {e}")))
}

fn read(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file)
        .map_err(|e| CliError(format!("cannot read {}: {e}", file.display())))
}

/// A registered version, parsed: (type, schema, origin, version number).
async fn registered(
    client: &Client,
    subject: &str,
    version: VersionSpec,
) -> Result<(SchemaType, ParsedSchema, String, i32)> {
    let schema = client.version(subject, version, false).await?;
    let schema_type: SchemaType = schema.schema_type.as_deref().unwrap_or("AVRO").parse()?;
    let references = client.reference_texts(&schema.references).await?;
    let origin = format!("{subject} version {}", schema.version);
    Ok((
        schema_type,
        parse(schema_type, &schema.schema, &references, &origin)?,
        origin,
        schema.version,
    ))
}

pub async fn run(args: DiffArgs) -> Result<u8> {
    let (old, new, old_origin, new_origin) = match (args.files.as_slice(), &args.subject) {
        ([old, new], None) => {
            let schema_type = type_of(new, args.schema_type)?;
            (
                parse(schema_type, &read(old)?, &[], &old.display().to_string())?,
                parse(schema_type, &read(new)?, &[], &new.display().to_string())?,
                old.display().to_string(),
                new.display().to_string(),
            )
        }
        ([file], Some(subject)) => {
            let client = args.registry.client()?;
            let from = version_spec(args.from.as_deref().unwrap_or("latest"))?;
            let (schema_type, old, origin, _) = registered(&client, subject, from).await?;
            let new = parse(schema_type, &read(file)?, &[], &file.display().to_string())?;
            (old, new, origin, file.display().to_string())
        }
        ([], Some(subject)) => {
            let client = args.registry.client()?;
            let to = version_spec(args.to.as_deref().unwrap_or("latest"))?;
            let (_, new, new_origin, to_number) = registered(&client, subject, to).await?;
            let from = match &args.from {
                Some(from) => version_spec(from)?,
                None => {
                    let versions = client.versions(subject, false).await?;
                    match versions.iter().rev().find(|v| **v < to_number) {
                        Some(v) => VersionSpec::Number(Version::try_from(*v)?),
                        None => {
                            return fail(format!(
                                "{subject} has no version before {to_number} to compare with"
                            ))
                        }
                    }
                }
            };
            let (_, old, old_origin, _) = registered(&client, subject, from).await?;
            (old, new, old_origin, new_origin)
        }
        _ => {
            return fail(
                "give --subject (two versions), --subject and a FILE, or two files OLD NEW",
            )
        }
    };
    let changes = diff(&old, &new);
    print(&changes, &old_origin, &new_origin, args.output)?;
    Ok(0)
}

fn print(changes: &[Change], old: &str, new: &str, output: Output) -> Result<()> {
    match output {
        Output::Json => {
            let out: Vec<ChangeOut<'_>> = changes
                .iter()
                .map(|c| ChangeOut {
                    kind: &c.kind,
                    path: &c.path,
                    old: c.old.as_deref(),
                    new: c.new.as_deref(),
                    backward_compatible: c.backward_compatible,
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| CliError(e.to_string()))?
            );
        }
        Output::Text => {
            let summary = match changes.len() {
                0 => "no differences".to_string(),
                1 => "1 difference".to_string(),
                n => format!("{n} differences"),
            };
            println!("{old} → {new}: {summary}");
            for change in changes {
                let verdict = if change.backward_compatible {
                    "compatible"
                } else {
                    "breaks readers of old data"
                };
                println!("  {} at {} ({verdict})", change.kind, change.path);
                if let Some(old) = &change.old {
                    println!("      old: {old}");
                }
                if let Some(new) = &change.new {
                    println!("      new: {new}");
                }
            }
        }
    }
    Ok(())
}
