//! `covenant.toml`: which schema files map to which subjects, with their types, references and
//! (for offline checks) levels.
//!
//! ```toml
//! [[schema]]
//! file = "schemas/order.avsc"
//! subject = "orders-value"
//! level = "FULL"                      # optional, used by offline checks
//! references = [{ name = "com.acme.Money", subject = "money", version = 1, file = "schemas/money.avsc" }]
//! metadata = { "application.major.version" = "2" }   # optional: the version's metadata properties
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, Result};

/// The manifest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The registry, when the command line and environment name none.
    pub registry: Option<String>,
    /// The schemas.
    #[serde(default, rename = "schema")]
    pub schemas: Vec<Entry>,
}

/// One schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path, relative to the manifest.
    pub file: PathBuf,
    /// The subject it is registered under.
    pub subject: String,
    /// `avro`, `json` or `protobuf`; from the extension when absent.
    #[serde(rename = "type")]
    pub schema_type: Option<String>,
    /// The level offline checks apply (default BACKWARD).
    pub level: Option<String>,
    /// References to other subjects.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Metadata properties the version is registered with (they select its compatibility group).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A reference: online by subject and version, offline by file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The name the schema uses (Avro full name, import path, `$ref` URL).
    pub name: String,
    /// The referenced subject.
    pub subject: Option<String>,
    /// The referenced version.
    pub version: Option<i32>,
    /// The referenced schema as a file (offline checks).
    pub file: Option<PathBuf>,
}

impl Manifest {
    /// Reads a manifest; paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError(format!("cannot read the manifest {}: {e}", path.display())))?;
        let mut manifest: Manifest = toml::from_str(&text)
            .map_err(|e| CliError(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for entry in &mut manifest.schemas {
            entry.file = base.join(&entry.file);
            for reference in &mut entry.references {
                if let Some(file) = &reference.file {
                    reference.file = Some(base.join(file));
                }
            }
        }
        if manifest.schemas.is_empty() {
            return Err(CliError(format!(
                "{} lists no [[schema]] entries",
                path.display()
            )));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("covenant.toml");
        std::fs::write(&path, "[[schema]]\nfile = \"a.avsc\"\nsubjet = \"a\"\n").expect("write");
        let error = Manifest::load(&path).expect_err("bad key").to_string();
        assert!(
            error.contains("line 3") && error.contains("subjet"),
            "{error}"
        );
    }

    #[test]
    fn paths_are_relative_to_the_manifest() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("covenant.toml");
        std::fs::write(&path, "[[schema]]\nfile = \"s/a.avsc\"\nsubject = \"a\"\nreferences = [{ name = \"N\", file = \"s/n.avsc\" }]\n").expect("write");
        let manifest = Manifest::load(&path).expect("valid");
        assert_eq!(manifest.schemas[0].file, dir.path().join("s/a.avsc"));
        assert_eq!(
            manifest.schemas[0].references[0].file,
            Some(dir.path().join("s/n.avsc"))
        );
    }
}
