//! The `covenant` command: `serve` runs the registry.

mod serve;

use std::process::ExitCode;

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
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
