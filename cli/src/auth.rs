//! `covenant auth hash-password` and `covenant auth new-key`: the entries of an auth file,
//! made without the secret ever being written to it.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use covenant_server::auth::{new_api_key, password};

use crate::error::{CliError, Result};

/// `covenant auth ...`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Hash a password with argon2id for a `[[users]]` entry. The password is read from the
    /// terminal without echo, or as the first line of standard input; it is never an argument.
    HashPassword(EntryArgs),
    /// Make a new API key: the key is printed once on standard error, the `[[api_keys]]` entry
    /// holding only its hash on standard output (`covenant auth new-key --name ci >> auth.toml`).
    NewKey(EntryArgs),
}

#[derive(Debug, Args)]
struct EntryArgs {
    /// The user or key name; with it, a whole auth-file entry is printed.
    #[arg(long)]
    name: Option<String>,
    /// Roles for the entry (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    role: Vec<String>,
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

fn roles_line(roles: &[String]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| toml_string(r)).collect();
    format!("roles = [{}]", roles.join(", "))
}

fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| CliError(format!("cannot read the password: {e}")))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| CliError(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(CliError("the passwords differ".into()));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Runs `covenant auth ...`.
pub fn run(args: AuthArgs) -> Result<u8> {
    match args.command {
        AuthCommand::HashPassword(entry) => {
            let password = read_password()?;
            if password.is_empty() {
                return Err(CliError("the password is empty".into()));
            }
            let hash = password::hash_password(&password).map_err(CliError)?;
            match entry.name {
                None => println!("{hash}"),
                Some(name) => {
                    println!("[[users]]");
                    println!("name = {}", toml_string(&name));
                    println!("password_hash = {}", toml_string(&hash));
                    println!("{}", roles_line(&entry.role));
                }
            }
        }
        AuthCommand::NewKey(entry) => {
            let name = entry.name.ok_or_else(|| {
                CliError("--name is required: the principal the key authenticates as".into())
            })?;
            let (key, hash) = new_api_key().map_err(CliError)?;
            eprintln!(
                "API key for `{name}` (shown once; send it as `Authorization: Bearer <key>`):"
            );
            eprintln!("{key}");
            println!("[[api_keys]]");
            println!("name = {}", toml_string(&name));
            println!("key_hash = {}", toml_string(&hash));
            println!("{}", roles_line(&entry.role));
        }
    }
    Ok(0)
}
