//! How `covenant check` reports: for people (`human`, coloured on a terminal), for tools
//! (`json`), for CI test reports (`junit`) and as GitHub annotations on the schema file's line
//! (`github`).

use std::io::IsTerminal;

use clap::ValueEnum;
use covenant_core::api::CompatibilityFinding;
use covenant_core::compat::Incompatibility;
use covenant_core::locate::locate;
use covenant_core::schema::SchemaType;
use serde::Serialize;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable text, coloured on a terminal.
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML, for CI test reports.
    Junit,
    /// GitHub Actions workflow commands (`::error file=...,line=...::`).
    Github,
}

/// One finding: what is wrong, where, and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The kind (`READER_FIELD_MISSING_DEFAULT_VALUE`, ...).
    pub kind: String,
    /// The path into the schema.
    pub path: String,
    /// What is wrong.
    pub description: String,
    /// The old fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// What to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The earlier version it failed against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The line of the schema file the path points at, when it can be found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Finding {
    /// A finding from the engine, located in the file's text.
    pub fn from_incompatibility(
        problem: &Incompatibility,
        text: &str,
        schema_type: SchemaType,
    ) -> Finding {
        Finding {
            kind: problem.kind.clone(),
            path: problem.path.clone(),
            description: problem.description.clone(),
            old: problem.old_fragment.clone(),
            new: problem.new_fragment.clone(),
            hint: problem.hint.clone(),
            version: problem.version.map(|v| v.get()),
            line: locate(text, schema_type, &problem.path),
        }
    }

    /// A finding the registry reported as data (Covenant's verbose compatibility answer),
    /// located in the file's text.
    pub fn from_registry(
        finding: &CompatibilityFinding,
        text: &str,
        schema_type: SchemaType,
    ) -> Finding {
        Finding {
            kind: finding.kind.clone(),
            path: finding.path.clone(),
            description: finding.description.clone(),
            old: finding.old_fragment.clone(),
            new: finding.new_fragment.clone(),
            hint: finding.hint.clone(),
            version: finding.version,
            line: locate(text, schema_type, &finding.path),
        }
    }

    /// A finding that only has the registry's message.
    pub fn message(message: &str) -> Finding {
        Finding {
            kind: "INCOMPATIBLE".into(),
            path: "/".into(),
            description: message.to_string(),
            old: None,
            new: None,
            hint: None,
            version: None,
            line: None,
        }
    }
}

/// The result for one schema file.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The file.
    pub file: String,
    /// The subject.
    pub subject: String,
    /// The schema type.
    #[serde(rename = "type")]
    pub schema_type: String,
    /// The level applied.
    pub level: String,
    /// What it was checked against: `registry`, a directory or `git:REF`.
    pub against: String,
    /// The verdict.
    pub compatible: bool,
    /// Why not.
    pub findings: Vec<Finding>,
    /// What prevented the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The semantic version the change would get (online, against Covenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semver: Option<covenant_client::api::SemverInfo>,
    /// The bump the change needs beyond `--max-bump`, which fails the check.
    #[serde(rename = "bumpExceeds", skip_serializing_if = "Option::is_none")]
    pub bump_exceeds: Option<String>,
}

impl Outcome {
    /// A compatible outcome, to be filled in.
    pub fn new(
        file: String,
        subject: &str,
        schema_type: SchemaType,
        level: &str,
        against: &str,
    ) -> Outcome {
        Outcome {
            file,
            subject: subject.to_string(),
            schema_type: schema_type.to_string(),
            level: level.to_string(),
            against: against.to_string(),
            compatible: true,
            findings: Vec::new(),
            error: None,
            semver: None,
            bump_exceeds: None,
        }
    }

    /// A check that could not run.
    pub fn error(file: String, subject: &str, schema_type: SchemaType, error: String) -> Outcome {
        Outcome {
            compatible: false,
            error: Some(error),
            ..Outcome::new(file, subject, schema_type, "", "")
        }
    }
}

/// 0: all compatible; 1: some incompatible; 2: some check could not run.
pub fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes.iter().any(|o| o.error.is_some()) {
        2
    } else if outcomes
        .iter()
        .any(|o| !o.compatible || o.bump_exceeds.is_some())
    {
        1
    } else {
        0
    }
}

/// Renders every outcome in one format.
pub fn render(outcomes: &[Outcome], format: Format) -> String {
    match format {
        Format::Human => human(
            outcomes,
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        ),
        Format::Json => json(outcomes),
        Format::Junit => junit(outcomes),
        Format::Github => github(outcomes),
    }
}

fn human(outcomes: &[Outcome], color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for outcome in outcomes {
        if let Some(error) = &outcome.error {
            out.push_str(&format!(
                "{} {} → {}: {error}\n",
                paint("31", "!"),
                outcome.file,
                outcome.subject
            ));
            continue;
        }
        if outcome.compatible {
            let ok = outcome.bump_exceeds.is_none();
            out.push_str(&format!(
                "{} {} → {}: compatible ({}, against {})\n",
                if ok {
                    paint("32", "✓")
                } else {
                    paint("31", "✗")
                },
                outcome.file,
                outcome.subject,
                outcome.level,
                outcome.against
            ));
            if let Some(semver) = &outcome.semver {
                out.push_str(&format!(
                    "    would be {} — {}: {}\n",
                    semver.version,
                    semver.bump.as_deref().unwrap_or("first version"),
                    semver.reasons.join("; ")
                ));
            }
            if let Some(exceeds) = &outcome.bump_exceeds {
                out.push_str(&format!("    {} {exceeds}\n", paint("31", "bump:")));
            }
            continue;
        }
        out.push_str(&format!(
            "{} {} → {}: incompatible ({}, against {})\n",
            paint("31", "✗"),
            outcome.file,
            outcome.subject,
            outcome.level,
            outcome.against
        ));
        for finding in &outcome.findings {
            let mut heading = format!("{} at {}", paint("1", &finding.kind), finding.path);
            if let Some(line) = finding.line {
                heading.push_str(&format!(" (line {line})"));
            }
            if let Some(version) = finding.version {
                heading.push_str(&format!(", against version {version}"));
            }
            out.push_str(&format!("    {heading}\n      {}\n", finding.description));
            if let Some(old) = &finding.old {
                out.push_str(&format!("      old: {old}\n"));
            }
            if let Some(new) = &finding.new {
                out.push_str(&format!("      new: {new}\n"));
            }
            if let Some(hint) = &finding.hint {
                out.push_str(&format!("      {} {hint}\n", paint("33", "hint:")));
            }
        }
    }
    let compatible = outcomes
        .iter()
        .filter(|o| o.compatible && o.bump_exceeds.is_none())
        .count();
    let errors = outcomes.iter().filter(|o| o.error.is_some()).count();
    let incompatible = outcomes.len() - compatible - errors;
    out.push_str(&format!(
        "{} checked: {compatible} compatible, {incompatible} incompatible{}\n",
        plural(outcomes.len(), "schema"),
        if errors > 0 {
            format!(", {errors} could not be checked")
        } else {
            String::new()
        }
    ));
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn json(outcomes: &[Outcome]) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        compatible: bool,
        results: &'a [Outcome],
    }
    let report = Report {
        compatible: exit_code(outcomes) == 0,
        results: outcomes,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

fn junit(outcomes: &[Outcome]) -> String {
    let failures = outcomes
        .iter()
        .filter(|o| !o.compatible && o.error.is_none())
        .count();
    let errors = outcomes.iter().filter(|o| o.error.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"covenant\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n  <testsuite name=\"covenant check\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        outcomes.len(),
        outcomes.len()
    ));
    for outcome in outcomes {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml(&outcome.subject),
            xml(&outcome.file)
        ));
        if let Some(error) = &outcome.error {
            out.push_str(&format!(
                ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                xml(error)
            ));
        } else if outcome.compatible {
            out.push_str("/>\n");
        } else {
            let details: Vec<String> = outcome
                .findings
                .iter()
                .map(|f| {
                    let mut line = format!("{} at {}: {}", f.kind, f.path, f.description);
                    if let Some(hint) = &f.hint {
                        line.push_str(&format!(" (hint: {hint})"));
                    }
                    line
                })
                .collect();
            out.push_str(&format!(
                ">\n      <failure type=\"incompatible\" message=\"incompatible with {} ({})\">{}</failure>\n    </testcase>\n",
                xml(&outcome.subject),
                xml(&outcome.level),
                xml(&details.join("\n"))
            ));
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn github(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        if let Some(error) = &outcome.error {
            out.push_str(&format!(
                "::error file={}::{}\n",
                property(&outcome.file),
                data(error)
            ));
            continue;
        }
        for finding in &outcome.findings {
            let mut properties = format!("file={}", property(&outcome.file));
            if let Some(line) = finding.line {
                properties.push_str(&format!(",line={line}"));
            }
            properties.push_str(&format!(
                ",title={}",
                property(&format!("{} ({})", finding.kind, outcome.subject))
            ));
            let mut message = format!(
                "{} at {}: {}",
                finding.kind, finding.path, finding.description
            );
            if let Some(hint) = &finding.hint {
                message.push_str(&format!(" Hint: {hint}"));
            }
            out.push_str(&format!("::error {properties}::{}\n", data(&message)));
        }
    }
    out
}

/// Escapes a workflow-command message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_their_text() {
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
    }
}
