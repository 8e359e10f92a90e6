//! `covenant rules test`: runs a subject's data-contract rules on sample events, through the
//! client's own serializer and deserializer, so CI sees what producers and consumers will.
//!
//! Each line of the events file is one event as JSON. It is serialized with the subject's
//! version (WRITE rules run) and the bytes deserialized again (READ rules run). Exit 0 when
//! every event passes, 1 when one does not (each failure names the event, the rule, the field
//! and the expression), 2 on a usage, file or registry error. Encryption rules are skipped
//! unless `--encryption` is given, since they register KEKs and DEKs in the registry.

use std::path::PathBuf;

use clap::Args;
use covenant_client::rules::{RuleConfig, RuleOverride};
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::serde::json::{JsonDeserializer, JsonSerializer};
use covenant_client::serde::protobuf::{ProtobufDeserializer, ProtobufSerializer};
use covenant_client::{Error, SerializerConfig, VersionSpec};
use covenant_core::protobuf::ProtobufSchema;
use covenant_core::schema::ResolvedReference;
use prost_reflect::DynamicMessage;
use serde_json::Value;

use crate::error::{fail, CliError, Result};
use crate::registry::RegistryArgs;

/// `covenant rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// Run a subject's rules on sample events (one JSON event per line).
    Test(TestArgs),
}

/// `covenant rules test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject whose rules run.
    #[arg(long)]
    subject: String,
    /// The version whose rules run [default: latest].
    #[arg(long)]
    version: Option<String>,
    /// For Protobuf: the message type of the events [default: the file's first message].
    #[arg(long)]
    message: Option<String>,
    /// Also run ENCRYPT and ENCRYPT_PAYLOAD rules (they register KEKs and DEKs).
    #[arg(long)]
    encryption: bool,
    /// An executor parameter, `name=value` (`secret=...` for the local KMS; repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// The events: one JSON value per line (`-` for standard input).
    events: PathBuf,
}

/// Runs `covenant rules ...`.
pub async fn run(args: RulesArgs) -> Result<u8> {
    match args.command {
        RulesCommand::Test(args) => test(args).await,
    }
}

/// One per run of the command, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Writer {
    Avro(AvroSerializer, AvroDeserializer),
    Json(JsonSerializer, JsonDeserializer),
    Protobuf(
        ProtobufSerializer,
        ProtobufDeserializer,
        prost_reflect::MessageDescriptor,
    ),
}

async fn test(args: TestArgs) -> Result<u8> {
    let client = args.registry.client()?;
    let spec = match &args.version {
        None => VersionSpec::Latest,
        Some(text) => text
            .parse()
            .map_err(|_| CliError(format!("`{text}` is not a version")))?,
    };
    let version = client.version(&args.subject, spec, false).await?;
    if version.rule_set.is_none() {
        eprintln!(
            "covenant: {} version {} has no rule set: events are only checked against the schema",
            args.subject, version.version
        );
    }
    let mut rules = RuleConfig::default();
    for param in &args.params {
        let Some((name, value)) = param.split_once('=') else {
            return fail(format!("--param `{param}` is not NAME=VALUE"));
        };
        rules = rules.param(name, value);
    }
    if !args.encryption {
        for kind in ["ENCRYPT", "ENCRYPT_PAYLOAD"] {
            rules = rules.override_type(
                kind,
                RuleOverride {
                    disabled: Some(true),
                    ..RuleOverride::default()
                },
            );
        }
    }
    // The serializer writes with this version's id; its topic is the subject's (topic-value).
    let (topic, is_key) = match (
        args.subject.strip_suffix("-value"),
        args.subject.strip_suffix("-key"),
    ) {
        (Some(topic), _) => (topic.to_string(), false),
        (_, Some(topic)) => (topic.to_string(), true),
        _ => (args.subject.clone(), false),
    };
    let config = SerializerConfig {
        auto_register: false,
        use_schema_id: Some(version.id),
        is_key,
        rules: rules.clone(),
        ..SerializerConfig::default()
    };
    let schema_type = version.schema_type.as_deref().unwrap_or("AVRO");
    let writer = match schema_type {
        "AVRO" => Writer::Avro(
            AvroSerializer::new(
                client.clone(),
                &version.schema,
                version.references.clone(),
                config,
            )?,
            AvroDeserializer::new(args.registry.client()?, None)?.with_rules(rules),
        ),
        "JSON" => Writer::Json(
            JsonSerializer::new(
                client.clone(),
                &version.schema,
                version.references.clone(),
                config,
            )?,
            JsonDeserializer::new(args.registry.client()?, None)?.with_rules(rules),
        ),
        "PROTOBUF" => {
            let references =
                covenant_client::serde::reference_texts(&client, &version.references).await?;
            let resolved: Vec<ResolvedReference<'_>> = references
                .iter()
                .map(|(name, text)| ResolvedReference { name, schema: text })
                .collect();
            let compiled = ProtobufSchema::parse(&version.schema, &resolved)?;
            let descriptor = match &args.message {
                Some(name) => compiled
                    .pool()
                    .get_message_by_name(name)
                    .ok_or_else(|| CliError(format!("the schema has no message `{name}`")))?,
                None => compiled
                    .file()
                    .messages()
                    .next()
                    .ok_or_else(|| CliError("the schema declares no message".into()))?,
            };
            Writer::Protobuf(
                ProtobufSerializer::new(client.clone(), config),
                ProtobufDeserializer::new(args.registry.client()?).with_rules(rules),
                descriptor,
            )
        }
        other => return fail(format!("unknown schema type {other}")),
    };
    let text = if args.events.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(&args.events)
            .map_err(|e| CliError(format!("cannot read {}: {e}", args.events.display())))?
    };
    let mut events = 0usize;
    let mut failed = 0usize;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let event: Value = serde_json::from_str(line).map_err(|e| {
            CliError(format!(
                "{} line {number} is not JSON: {e}",
                args.events.display()
            ))
        })?;
        events += 1;
        let outcome = match &writer {
            Writer::Avro(write, read) => match write.serialize_json(&topic, &event).await {
                Ok(bytes) => read.deserialize(&bytes).await.map(|_| ()),
                Err(e) => Err(e),
            },
            Writer::Json(write, read) => match write.serialize(&topic, &event).await {
                Ok(bytes) => read.deserialize(&bytes).await.map(|_| ()),
                Err(e) => Err(e),
            },
            Writer::Protobuf(write, read, descriptor) => {
                match DynamicMessage::deserialize(descriptor.clone(), event.clone()) {
                    Err(e) => Err(Error::Validation {
                        schema: format!("id {}", version.id),
                        path: "/".into(),
                        reason: format!("not a {}: {e}", descriptor.full_name()),
                    }),
                    Ok(message) => match write.serialize(&topic, &message).await {
                        Ok(bytes) => read.deserialize(&bytes).await.map(|_| ()),
                        Err(e) => Err(e),
                    },
                }
            }
        };
        match outcome {
            Ok(()) => {}
            Err(Error::Rule(error)) => {
                failed += 1;
                println!("event {events} (line {number}): {error}");
            }
            Err(error @ (Error::Validation { .. } | Error::Codec(_))) => {
                failed += 1;
                println!("event {events} (line {number}): {error}");
            }
            Err(other) => return Err(other.into()),
        }
    }
    if failed == 0 {
        println!(
            "{events} event(s) pass the rules of {} version {}",
            args.subject, version.version
        );
        Ok(0)
    } else {
        println!(
            "{failed} of {events} event(s) fail the rules of {} version {}",
            args.subject, version.version
        );
        Ok(1)
    }
}
