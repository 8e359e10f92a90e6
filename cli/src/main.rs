//! The `covenant` command: `serve` runs the registry; `check` gates schema changes in CI; the
//! other commands are what operators reach for daily. Exit codes: 0 success (compatible),
//! 1 incompatible, 2 usage, network or registry errors.

mod audit;
mod auth;
mod changelog;
mod check;
mod diff;
mod error;
mod log;
mod manifest;
mod ops;
mod registry;
mod report;
mod rules;
mod serve;
mod transfer;

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Covenant: a schema registry and data-contract governance service.
#[derive(Debug, Parser)]
#[command(name = "covenant", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry (Confluent Schema Registry REST API).
    Serve(Box<serve::ServeArgs>),
    /// Check schema files against their subjects (the registry, a directory, or a git ref).
    Check(check::CheckArgs),
    /// Register a schema file under a subject.
    Register(ops::RegisterArgs),
    /// Show a schema by id, or a version of a subject.
    Get(ops::GetArgs),
    /// List subjects.
    Subjects(ops::SubjectsArgs),
    /// List a subject's versions.
    Versions(ops::VersionsArgs),
    /// Show the semantic differences between two schemas.
    Diff(diff::DiffArgs),
    /// Show or change the compatibility config (global, context or subject).
    Config(ops::ConfigArgs),
    /// Show or change the mode (READWRITE, READONLY, IMPORT).
    Mode(ops::ModeArgs),
    /// Delete a version or a subject (soft, or --permanent).
    Delete(ops::DeleteArgs),
    /// Export every subject, version, id, config and mode to a file or directory.
    Export(transfer::ExportArgs),
    /// Import an export into a registry, keeping ids and versions.
    Import(transfer::ImportArgs),
    /// Verify a store's log (hash chain and durable head), or repair a file store's head.
    Log(log::LogArgs),
    /// Make auth-file entries: argon2id password hashes and API keys.
    Auth(auth::AuthArgs),
    /// Show the audit trail: who changed which contract, when and from where.
    Audit(audit::AuditArgs),
    /// Release notes of a subject from its semantic versions and the changes they record.
    Changelog(changelog::ChangelogArgs),
    /// Run a subject's data-contract rules on sample events (`rules test`).
    Rules(rules::RulesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Serve(args) => return serve::run(*args),
        Command::Auth(args) => {
            return match auth::run(args) {
                Ok(code) => ExitCode::from(code),
                Err(error) => {
                    eprintln!("covenant: {error}");
                    ExitCode::from(2)
                }
            }
        }
        command => Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("covenant: cannot start: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) | Command::Auth(_) => unreachable!("handled above"),
            Command::Check(args) => check::run(args).await,
            Command::Register(args) => ops::register(args).await,
            Command::Get(args) => ops::get(args).await,
            Command::Subjects(args) => ops::subjects(args).await,
            Command::Versions(args) => ops::versions(args).await,
            Command::Diff(args) => diff::run(args).await,
            Command::Config(args) => ops::config(args).await,
            Command::Mode(args) => ops::mode(args).await,
            Command::Delete(args) => ops::delete(args).await,
            Command::Export(args) => transfer::export(args).await,
            Command::Import(args) => transfer::import(args).await,
            Command::Log(args) => log::run(args).await,
            Command::Audit(args) => audit::run(args).await,
            Command::Changelog(args) => changelog::run(args).await,
            Command::Rules(args) => rules::run(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("covenant: {error}");
            ExitCode::from(2)
        }
    }
}
