//! `covenant check`: may these schema files become the next versions of their subjects?
//!
//! Online, the registry decides (the same check as a registration) and the findings come from
//! the same `covenant_core` engine run on the subject's history. Offline (`--against DIR` or
//! `--against git:REF`) the earlier versions come from files and the engine runs locally, so CI
//! and the registry can never disagree.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, ValueEnum};
use covenant_client::api::{RegisterSchemaRequest, SchemaReference};
use covenant_client::{Client, Version};
use covenant_core::compat::{self, PreviousVersion};
use covenant_core::ids::CompatibilityLevel;
use covenant_core::json::Policy;
use covenant_core::schema::{ParseOptions, ParsedSchema, ResolvedReference, SchemaType};

use crate::error::{fail, CliError, Result};
use crate::manifest::{self, Manifest};
use crate::registry::RegistryArgs;
use crate::report::{self, Finding, Format, Outcome};

/// Flags of `covenant check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject FILE would become a version of.
    #[arg(long)]
    subject: Option<String>,
    /// The schema type; inferred from the extension (.avsc, .json, .proto) when absent.
    #[arg(long = "type", value_enum)]
    schema_type: Option<TypeArg>,
    /// A reference: NAME=SUBJECT:VERSION (online), or NAME=FILE (offline).
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    references: Vec<String>,
    /// A metadata property the version would be registered with, KEY=VALUE (repeatable); it
    /// selects the version's compatibility group when the subject has one.
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Check offline against earlier versions: a directory holding the earlier tree, or git:REF.
    #[arg(long, value_name = "DIR|git:REF")]
    against: Option<String>,
    /// The level of an offline check (default BACKWARD, or the manifest's).
    #[arg(long)]
    level: Option<String>,
    /// Fail when a change needs a larger semantic-version bump than this (online, against
    /// Covenant): patch, minor or major.
    #[arg(long, value_name = "patch|minor|major")]
    max_bump: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// The manifest used when no FILE is given.
    #[arg(long, default_value = "covenant.toml")]
    manifest: PathBuf,
    /// The schema file to check; without it, every schema of the manifest is checked.
    file: Option<PathBuf>,
}

/// `--type` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeArg {
    /// Apache Avro.
    Avro,
    /// JSON Schema.
    Json,
    /// Protocol Buffers.
    Protobuf,
}

impl From<TypeArg> for SchemaType {
    fn from(value: TypeArg) -> Self {
        match value {
            TypeArg::Avro => SchemaType::Avro,
            TypeArg::Json => SchemaType::Json,
            TypeArg::Protobuf => SchemaType::Protobuf,
        }
    }
}

/// One schema file to check.
struct Target {
    file: PathBuf,
    subject: String,
    schema_type: SchemaType,
    level: Option<String>,
    references: Vec<manifest::Reference>,
    metadata: std::collections::BTreeMap<String, String>,
}

/// Infers a type from a file's extension.
pub fn type_of(file: &Path, given: Option<TypeArg>) -> Result<SchemaType> {
    if let Some(given) = given {
        return Ok(given.into());
    }
    match file.extension().and_then(|e| e.to_str()) {
        Some("avsc") | Some("avro") => Ok(SchemaType::Avro),
        Some("json") => Ok(SchemaType::Json),
        Some("proto") => Ok(SchemaType::Protobuf),
        _ => fail(format!(
            "cannot tell the schema type of {} from its extension: pass --type avro|json|protobuf",
            file.display()
        )),
    }
}

/// Parses `--reference NAME=SUBJECT:VERSION` (or `NAME=FILE`).
pub fn parse_reference(raw: &str) -> Result<manifest::Reference> {
    let (name, target) = raw.split_once('=').ok_or_else(|| {
        CliError(format!(
            "--reference `{raw}` is not NAME=SUBJECT:VERSION or NAME=FILE"
        ))
    })?;
    if let Some((subject, version)) = target.rsplit_once(':') {
        if let Ok(version) = version.parse::<i32>() {
            return Ok(manifest::Reference {
                name: name.to_string(),
                subject: Some(subject.to_string()),
                version: Some(version),
                file: None,
            });
        }
    }
    if Path::new(target).exists() {
        return Ok(manifest::Reference {
            name: name.to_string(),
            subject: None,
            version: None,
            file: Some(PathBuf::from(target)),
        });
    }
    fail(format!(
        "--reference `{raw}`: `{target}` is neither SUBJECT:VERSION nor an existing file"
    ))
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file)
        .map_err(|e| CliError(format!("cannot read {}: {e}", file.display())))
}

/// Runs the command; the exit code is 0 (all compatible), 1 (some incompatible) or 2 (errors).
pub async fn run(args: CheckArgs) -> Result<u8> {
    let mut registry = args.registry.clone();
    let targets = match &args.file {
        Some(file) => {
            let subject = match &args.subject {
                Some(subject) => subject.clone(),
                None if args.against.is_some() => file.display().to_string(),
                None => {
                    return fail(
                        "--subject is required with a FILE (or list the file in covenant.toml)",
                    )
                }
            };
            let references = args
                .references
                .iter()
                .map(|r| parse_reference(r))
                .collect::<Result<Vec<_>>>()?;
            let metadata = args
                .metadata
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| CliError(format!("--metadata `{pair}` is not KEY=VALUE")))
                })
                .collect::<Result<_>>()?;
            vec![Target {
                schema_type: type_of(file, args.schema_type)?,
                file: file.clone(),
                subject,
                level: None,
                references,
                metadata,
            }]
        }
        None => {
            let manifest = Manifest::load(&args.manifest)?;
            if let (Some(url), Err(_)) = (&manifest.registry, std::env::var("COVENANT_REGISTRY")) {
                if registry.registry == crate::registry::DEFAULT_REGISTRY {
                    registry.registry = url.clone();
                }
            }
            manifest
                .schemas
                .into_iter()
                .map(|entry| {
                    Ok(Target {
                        schema_type: match &entry.schema_type {
                            Some(name) => name.parse().map_err(|e: covenant_core::Error| {
                                CliError(format!("{}: {e}", entry.file.display()))
                            })?,
                            None => type_of(&entry.file, None)?,
                        },
                        file: entry.file,
                        subject: entry.subject,
                        level: entry.level,
                        references: entry.references,
                        metadata: entry.metadata,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };

    let max_bump: Option<covenant_client::semver::Bump> = match &args.max_bump {
        None => None,
        Some(_) if args.against.is_some() => {
            return fail("--max-bump needs an online check against Covenant (no --against)")
        }
        Some(raw) => Some(
            raw.parse()
                .map_err(|e: String| CliError(format!("--max-bump {e}")))?,
        ),
    };
    let client = if args.against.is_none() {
        Some(registry.client()?)
    } else {
        None
    };
    let mut outcomes = Vec::new();
    for target in &targets {
        let level = args.level.clone().or_else(|| target.level.clone());
        let outcome = match (&args.against, &client) {
            (Some(against), _) => check_offline(target, against, level.as_deref()),
            (None, Some(client)) => check_online(client, target).await,
            (None, None) => unreachable!("a client exists for online checks"),
        };
        let outcome = outcome.map(|mut outcome| {
            if let (Some(max), Some(semver)) = (max_bump, &outcome.semver) {
                let needed: Option<covenant_client::semver::Bump> =
                    semver.bump.as_deref().and_then(|b| b.parse().ok());
                if let Some(needed) = needed.filter(|needed| *needed > max) {
                    outcome.bump_exceeds = Some(format!(
                        "the change needs a {needed} bump ({}), more than --max-bump {max}",
                        semver.version
                    ));
                }
            }
            outcome
        });
        outcomes.push(outcome.unwrap_or_else(|error| {
            Outcome::error(
                target.file.display().to_string(),
                &target.subject,
                target.schema_type,
                error.to_string(),
            )
        }));
    }
    print!("{}", report::render(&outcomes, args.format));
    Ok(report::exit_code(&outcomes))
}

async fn check_online(client: &Client, target: &Target) -> Result<Outcome> {
    let text = read(&target.file)?;
    let mut references = Vec::new();
    for reference in &target.references {
        match (&reference.subject, reference.version) {
            (Some(subject), Some(version)) => references.push(SchemaReference {
                name: reference.name.clone(),
                subject: subject.clone(),
                version,
            }),
            _ => {
                return fail(format!(
                    "reference `{}` needs a subject and a version for an online check",
                    reference.name
                ))
            }
        }
    }
    let request = RegisterSchemaRequest {
        schema: Some(text.clone()),
        schema_type: target.schema_type.member(),
        references: (!references.is_empty()).then(|| references.clone()),
        metadata: (!target.metadata.is_empty())
            .then(|| serde_json::json!({ "properties": target.metadata })),
        ..RegisterSchemaRequest::default()
    };
    let verdict = client
        .check_compatibility(&target.subject, None, &request, true)
        .await?;
    let config = client.config(Some(&target.subject), true).await?;
    let level = config
        .compatibility_level
        .clone()
        .unwrap_or_else(|| "BACKWARD".into());
    let mut outcome = Outcome::new(
        target.file.display().to_string(),
        &target.subject,
        target.schema_type,
        &level,
        "registry",
    );
    if verdict.is_compatible {
        // The version it would get, where the registry numbers versions (Covenant).
        outcome.semver = match client.preview_semver(&target.subject, &request).await {
            Ok(preview) => preview.semver,
            Err(_) => None,
        };
        return Ok(outcome);
    }
    outcome.compatible = false;
    // Covenant says where and why as data, from the same check a registration runs (history,
    // level and compatibility group). Another registry gives messages only.
    outcome.findings = match verdict.findings.filter(|f| !f.is_empty()) {
        Some(findings) => findings
            .iter()
            .map(|f| Finding::from_registry(f, &text, target.schema_type))
            .collect(),
        None => verdict
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter(|m| !m.starts_with("{validateFields"))
            .map(|message| Finding::message(&message))
            .collect(),
    };
    Ok(outcome)
}

fn check_offline(target: &Target, against: &str, level: Option<&str>) -> Result<Outcome> {
    let text = read(&target.file)?;
    let level: CompatibilityLevel = level.unwrap_or("BACKWARD").parse()?;
    let mut references = Vec::new();
    for reference in &target.references {
        match &reference.file {
            Some(file) => references.push((reference.name.clone(), read(file)?)),
            None => {
                return fail(format!(
                    "reference `{}` needs a file for an offline check",
                    reference.name
                ))
            }
        }
    }
    let resolved: Vec<ResolvedReference<'_>> = references
        .iter()
        .map(|(name, schema)| ResolvedReference { name, schema })
        .collect();
    // The new schema is held to what registration requires; earlier versions are read as
    // the registry reads stored ones.
    let new = ParsedSchema::parse(
        target.schema_type,
        &text,
        &resolved,
        ParseOptions::default(),
    )
    .map_err(|e| CliError(format!("{}: {e}", target.file.display())))?;
    let earlier = earlier_versions(&target.file, against)?;
    let mut history = Vec::new();
    for (index, (origin, text)) in earlier.iter().enumerate() {
        history.push(PreviousVersion {
            version: Version::try_from(i32::try_from(index + 1).unwrap_or(i32::MAX))?,
            schema: crate::diff::parse(target.schema_type, text, &references, origin)?,
        });
    }
    history.reverse();
    let problems = compat::check(level, &new, &history, Policy::Strict);
    let mut outcome = Outcome::new(
        target.file.display().to_string(),
        &target.subject,
        target.schema_type,
        level.as_str(),
        against,
    );
    outcome.compatible = problems.is_empty();
    outcome.findings = problems
        .iter()
        .map(|p| Finding::from_incompatibility(p, &text, target.schema_type))
        .collect();
    Ok(outcome)
}

/// The earlier versions of `file`, oldest first, as (origin, text). None: a new schema.
fn earlier_versions(file: &Path, against: &str) -> Result<Vec<(String, String)>> {
    if let Some(reference) = against.strip_prefix("git:") {
        return Ok(git_show(reference, file)?.into_iter().collect());
    }
    let dir = Path::new(against);
    if !dir.is_dir() {
        return fail(format!(
            "--against {against}: no such directory (use DIR or git:REF)"
        ));
    }
    let relative = if file.is_absolute() {
        file.file_name().map(PathBuf::from).unwrap_or_default()
    } else {
        file.to_path_buf()
    };
    let candidates = [
        dir.join(&relative),
        dir.join(file.file_name().unwrap_or_default()),
    ];
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(vec![(candidate.display().to_string(), read(&candidate)?)]);
        }
        if candidate.is_dir() {
            // A directory of versions, oldest first by natural order of names.
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&candidate)
                .map_err(|e| CliError(format!("cannot list {}: {e}", candidate.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file())
                .collect();
            entries.sort_by_key(|path| natural_key(&path.display().to_string()));
            return entries
                .iter()
                .map(|path| Ok((path.display().to_string(), read(path)?)))
                .collect();
        }
    }
    Ok(Vec::new())
}

fn natural_key(text: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let word: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_ascii_digit())).collect();
        let number: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
        key.push((word, number.parse().unwrap_or(0)));
    }
    key
}

/// The file's content at a git ref, or None when the file did not exist there.
fn git_show(reference: &str, file: &Path) -> Result<Option<(String, String)>> {
    let toplevel = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| CliError(format!("cannot run git: {e}")))?;
    if !toplevel.status.success() {
        return fail(format!(
            "--against git:{reference} needs a git repository: {}",
            String::from_utf8_lossy(&toplevel.stderr).trim()
        ));
    }
    let root = PathBuf::from(String::from_utf8_lossy(&toplevel.stdout).trim());
    let absolute = std::fs::canonicalize(file)
        .map_err(|e| CliError(format!("cannot read {}: {e}", file.display())))?;
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let relative = absolute.strip_prefix(&root).map_err(|_| {
        CliError(format!(
            "{} is outside the git repository {}",
            file.display(),
            root.display()
        ))
    })?;
    let spec = format!("{reference}:{}", relative.display());
    let output = Command::new("git")
        .args(["show", &spec])
        .current_dir(&root)
        .output()
        .map_err(|e| CliError(format!("cannot run git: {e}")))?;
    if output.status.success() {
        return Ok(Some((
            format!("git:{spec}"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("does not exist in") || stderr.contains("exists on disk, but not in") {
        return Ok(None);
    }
    fail(format!("git show {spec} failed: {}", stderr.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_in_both_forms() {
        let online = parse_reference("com.acme.Money=money-value:3").expect("valid");
        assert_eq!(
            (online.subject.as_deref(), online.version),
            (Some("money-value"), Some(3))
        );
        assert!(parse_reference("no-equals").is_err());
        assert!(parse_reference("N=/definitely/missing/file").is_err());
    }

    #[test]
    fn types_come_from_extensions() {
        assert_eq!(
            type_of(Path::new("a.avsc"), None).expect("avro"),
            SchemaType::Avro
        );
        assert_eq!(
            type_of(Path::new("a.proto"), None).expect("proto"),
            SchemaType::Protobuf
        );
        assert!(type_of(Path::new("a.txt"), None).is_err());
        assert_eq!(
            type_of(Path::new("a.txt"), Some(TypeArg::Json)).expect("json"),
            SchemaType::Json
        );
    }

    #[test]
    fn versions_sort_naturally() {
        let mut names = vec!["v10.avsc", "v2.avsc", "v1.avsc"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, vec!["v1.avsc", "v2.avsc", "v10.avsc"]);
    }
}
