//! `covenant log verify` and `covenant log repair`: check a store's hash chain and durable head
//! from outside the server, and rebuild a lost head of a file store.

use clap::{Args, Subcommand};
use covenant_server::store;

use crate::error::{CliError, Result};

/// `covenant log ...`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Walk the whole log: every record reads, links to the one before, and the log ends where
    /// its durable head says. Exit 0 when it does, 1 at the first bad record.
    Verify(StoreArg),
    /// Rebuild the durable head of a file store from its log, after verifying the whole chain
    /// (for a head that was lost or damaged while the log is complete). The server must be stopped.
    Repair(StoreArg),
}

#[derive(Debug, Args)]
struct StoreArg {
    /// The store: file://PATH or postgres://USER@HOST/DB[?schema=NAME].
    #[arg(long, env = "COVENANT_STORE")]
    store: String,
}

/// Runs `covenant log ...`.
pub async fn run(args: LogArgs) -> Result<u8> {
    match args.command {
        LogCommand::Verify(StoreArg { store }) => {
            let report = store::verify(&store)
                .await
                .map_err(|e| CliError(format!("cannot verify {store}: {e}")))?;
            let chained = match report.chained_from {
                Some(0) => "every record is chained".to_string(),
                Some(first) => format!(
                    "records 0 to {} are format 1 (before the chain), every record from {first} is chained",
                    first - 1
                ),
                None => "no record is chained yet (format 1 only)".to_string(),
            };
            match report.problem {
                None => {
                    println!(
                        "{store}: {} records verified; {chained}; the durable head ({} records, last {}) matches",
                        report.good, report.head.records, report.head.hash
                    );
                    Ok(0)
                }
                Some(problem) => {
                    println!(
                        "{store}: {} records verified before the first problem ({chained})",
                        report.good
                    );
                    println!("{store}: BAD {problem}");
                    Ok(1)
                }
            }
        }
        LogCommand::Repair(StoreArg { store }) => {
            let head = store::repair(&store)
                .map_err(|e| CliError(format!("cannot repair {store}: {e}")))?;
            println!(
                "{store}: the log verified; the durable head now vouches for {} records (last {})",
                head.records, head.hash
            );
            Ok(0)
        }
    }
}
