//! Identifiers validated once at the edge: contexts, subjects, versions, levels and modes.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use crate::error::{Error, Result};

/// The name of the default context.
pub const DEFAULT_CONTEXT: &str = ".";
/// The context whose config and mode sit above every other context.
pub const GLOBAL_CONTEXT: &str = ".__GLOBAL";
/// The longest subject name accepted, in bytes.
pub const MAX_SUBJECT_LEN: usize = 1024;

/// A context: an id space of its own with its own subjects, config and mode. Always starts with `.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextName(Arc<str>);

/// The default context's name, shared: every schema and subject of most registries is in it.
static DEFAULT_CONTEXT_NAME: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(DEFAULT_CONTEXT));

impl ContextName {
    /// The default context `.`.
    pub fn default_context() -> Self {
        ContextName(Arc::clone(&DEFAULT_CONTEXT_NAME))
    }

    /// Whether this is the default context.
    pub fn is_default(&self) -> bool {
        &*self.0 == DEFAULT_CONTEXT
    }

    /// Whether this is the special `.__GLOBAL` context.
    pub fn is_global(&self) -> bool {
        &*self.0 == GLOBAL_CONTEXT
    }

    /// The name, with its leading dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a context name; a missing leading dot is added, as Confluent does.
    pub fn parse(raw: &str) -> Result<Self> {
        let name = if raw.starts_with('.') {
            raw.to_string()
        } else {
            format!(".{raw}")
        };
        if name.contains(':') || name.contains('/') || name.chars().any(char::is_control) {
            return Err(Error::InvalidSubject(
                raw.to_string(),
                "a context name may not contain `:`, `/` or control characters",
            ));
        }
        if name.len() > 256 {
            return Err(Error::InvalidSubject(
                raw.to_string(),
                "a context name may be at most 256 bytes long",
            ));
        }
        if name == DEFAULT_CONTEXT {
            return Ok(ContextName::default_context());
        }
        Ok(ContextName(Arc::from(name)))
    }
}

impl FromStr for ContextName {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        ContextName::parse(raw)
    }
}

impl fmt::Display for ContextName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subject within a context, parsed from the plain (`orders-value`) or qualified
/// (`:.staging:orders-value`) form. An empty name addresses the context itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedSubject {
    context: ContextName,
    name: String,
}

impl QualifiedSubject {
    /// Parses a subject as it appears in a path or a request, in the default context unless qualified.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::parse_in(&ContextName::default_context(), raw)
    }

    /// Parses a subject that appears under a `/contexts/{ctx}/` prefix; a qualified subject keeps its own context.
    pub fn parse_in(context: &ContextName, raw: &str) -> Result<Self> {
        let (context, name) = match split_qualified(raw) {
            Some((ctx, name)) => (ContextName::parse(ctx)?, name.to_string()),
            None => (context.clone(), raw.to_string()),
        };
        if name.chars().any(char::is_control) {
            return Err(Error::InvalidSubject(
                raw.to_string(),
                "a subject name may not contain control characters",
            ));
        }
        if name.len() > MAX_SUBJECT_LEN {
            return Err(Error::InvalidSubject(
                raw.to_string(),
                "a subject name may be at most 1024 bytes long",
            ));
        }
        Ok(QualifiedSubject { context, name })
    }

    /// A subject in the given context.
    pub fn new(context: ContextName, name: impl Into<String>) -> Self {
        QualifiedSubject {
            context,
            name: name.into(),
        }
    }

    /// The context the subject lives in.
    pub fn context(&self) -> &ContextName {
        &self.context
    }

    /// The subject's name inside its context.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this addresses a context (`:.ctx:`) rather than a subject.
    pub fn is_context_only(&self) -> bool {
        self.name.is_empty()
    }

    /// The name as the API shows it: plain in the default context, `:.ctx:name` elsewhere.
    pub fn qualified(&self) -> String {
        if self.context.is_default() {
            self.name.clone()
        } else {
            format!(":{}:{}", self.context, self.name)
        }
    }
}

impl FromStr for QualifiedSubject {
    type Err = Error;

    /// Parses the plain or qualified form, in the default context unless qualified.
    fn from_str(raw: &str) -> Result<Self> {
        QualifiedSubject::parse(raw)
    }
}

impl fmt::Display for QualifiedSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

/// Splits `:.ctx:name` into (`.ctx`, `name`); `None` for a plain subject.
fn split_qualified(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.strip_prefix(':')?;
    if !rest.starts_with('.') {
        return None;
    }
    let end = rest.find(':')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// A schema id within a context: an integer in `[1, 2^31-1]`.
///
/// Ids are handed out in increasing order and never reused; [`SchemaId::next`] refuses to go
/// past the largest one instead of wrapping, so an exhausted id space is an error, never a
/// duplicate id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(i32);

impl SchemaId {
    /// The first id of a context.
    pub const FIRST: SchemaId = SchemaId(1);
    /// The largest id there is.
    pub const MAX: SchemaId = SchemaId(i32::MAX);

    /// An id from a number, if it is in range.
    pub fn new(raw: i64) -> Option<SchemaId> {
        i32::try_from(raw).ok().filter(|n| *n >= 1).map(SchemaId)
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }

    /// The id after this one, or `None` when this is the largest.
    pub fn next(self) -> Option<SchemaId> {
        self.0.checked_add(1).map(SchemaId)
    }
}

impl TryFrom<i32> for SchemaId {
    type Error = Error;

    fn try_from(raw: i32) -> Result<Self> {
        SchemaId::new(raw.into()).ok_or_else(|| Error::InvalidSchemaId(raw.to_string()))
    }
}

impl From<SchemaId> for i32 {
    fn from(id: SchemaId) -> i32 {
        id.0
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A version of a subject: an integer in `[1, 2^31-1]`. Versions are never reused, and
/// [`Version::next`] refuses to wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(i32);

impl Version {
    /// The first version of a subject.
    pub const FIRST: Version = Version(1);
    /// The largest version there is.
    pub const MAX: Version = Version(i32::MAX);

    /// A version from a number, if it is in range.
    pub fn new(raw: i64) -> Option<Version> {
        i32::try_from(raw).ok().filter(|n| *n >= 1).map(Version)
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }

    /// The version after this one, or `None` when this is the largest.
    pub fn next(self) -> Option<Version> {
        self.0.checked_add(1).map(Version)
    }
}

impl TryFrom<i32> for Version {
    type Error = Error;

    fn try_from(raw: i32) -> Result<Self> {
        Version::new(raw.into()).ok_or_else(|| Error::InvalidVersion(raw.to_string()))
    }
}

impl From<Version> for i32 {
    fn from(version: Version) -> i32 {
        version.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A version as a path segment names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSpec {
    /// `latest` or `-1`.
    Latest,
    /// A version number in `[1, 2^31-1]`.
    Number(Version),
}

impl VersionSpec {
    /// The version a schema reference names: `-1` is the latest version; anything else must be
    /// a version number. (A reference is stored with the version it resolved to, so `-1` only
    /// appears in requests.)
    pub fn of_reference(raw: i32) -> Result<VersionSpec> {
        if raw == -1 {
            return Ok(VersionSpec::Latest);
        }
        Version::try_from(raw).map(VersionSpec::Number)
    }
}

impl FromStr for VersionSpec {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        if raw.eq_ignore_ascii_case("latest") || raw == "-1" {
            return Ok(VersionSpec::Latest);
        }
        raw.parse::<i64>()
            .ok()
            .and_then(Version::new)
            .map(VersionSpec::Number)
            .ok_or_else(|| Error::InvalidVersion(raw.to_string()))
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The seven compatibility levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompatibilityLevel {
    /// No check.
    None,
    /// The new schema reads data written with the latest version.
    Backward,
    /// The new schema reads data written with every version.
    BackwardTransitive,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every version reads data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullTransitive,
}

impl CompatibilityLevel {
    /// Every level, in the order Confluent's documentation lists them.
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
        CompatibilityLevel::None,
    ];

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether every version is checked rather than the latest only.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Whether the new schema must read data written with the old ones.
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Backward
                | CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Whether the old schemas must read data written with the new one.
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Forward
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }
}

impl FromStr for CompatibilityLevel {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        Ok(match raw.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return Err(Error::InvalidCompatibilityLevel(raw.to_string())),
        })
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registry mode: which writes are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Normal operation.
    ReadWrite,
    /// No writes.
    ReadOnly,
    /// Writes carry explicit ids and versions; no compatibility check (migrations).
    Import,
    /// Global only; accepted for API parity, behaves as IMPORT for writes carrying ids.
    Forward,
}

impl Mode {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
            Mode::Forward => "FORWARD",
        }
    }
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        Ok(match raw.to_ascii_uppercase().as_str() {
            "READWRITE" => Mode::ReadWrite,
            "READONLY" | "READONLY_OVERRIDE" => Mode::ReadOnly,
            "IMPORT" => Mode::Import,
            "FORWARD" => Mode::Forward,
            _ => return Err(Error::InvalidMode(raw.to_string())),
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_qualified_subjects() {
        let plain = QualifiedSubject::parse("orders-value").expect("valid");
        assert!(plain.context().is_default());
        assert_eq!(plain.name(), "orders-value");
        assert_eq!(plain.qualified(), "orders-value");

        let qualified = QualifiedSubject::parse(":.staging:orders-value").expect("valid");
        assert_eq!(qualified.context().as_str(), ".staging");
        assert_eq!(qualified.name(), "orders-value");
        assert_eq!(qualified.qualified(), ":.staging:orders-value");

        let default_qualified = QualifiedSubject::parse(":.:orders").expect("valid");
        assert_eq!(
            default_qualified,
            QualifiedSubject::parse("orders").expect("valid")
        );

        let context_only = QualifiedSubject::parse(":.staging:").expect("valid");
        assert!(context_only.is_context_only());

        let slash = QualifiedSubject::parse("team/orders-value").expect("valid");
        assert_eq!(slash.name(), "team/orders-value");
        // A leading colon without a dot is an ordinary name.
        assert_eq!(
            QualifiedSubject::parse(":x:y").expect("valid").name(),
            ":x:y"
        );
    }

    #[test]
    fn context_prefix_applies_unless_qualified() {
        let ctx = ContextName::parse("ctx").expect("valid");
        assert_eq!(ctx.as_str(), ".ctx");
        let s = QualifiedSubject::parse_in(&ctx, "a").expect("valid");
        assert_eq!(s.qualified(), ":.ctx:a");
        let s = QualifiedSubject::parse_in(&ctx, ":.other:a").expect("valid");
        assert_eq!(s.qualified(), ":.other:a");
    }

    #[test]
    fn invalid_subjects() {
        assert!(QualifiedSubject::parse("a\u{1}b").is_err());
        assert!(QualifiedSubject::parse(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!("latest".parse::<VersionSpec>(), Ok(VersionSpec::Latest));
        assert_eq!("-1".parse::<VersionSpec>(), Ok(VersionSpec::Latest));
        assert_eq!(
            "7".parse::<VersionSpec>(),
            Ok(VersionSpec::Number(Version::new(7).expect("in range")))
        );
        assert_eq!(
            "2147483647".parse::<VersionSpec>(),
            Ok(VersionSpec::Number(Version::MAX))
        );
        for bad in ["0", "-2", "invalid", "2147483648", "", "1.5"] {
            assert!(bad.parse::<VersionSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_versions_never_wrap() {
        assert_eq!(SchemaId::MAX.next(), None);
        assert_eq!(Version::MAX.next(), None);
        assert_eq!(SchemaId::FIRST.next(), SchemaId::new(2));
        assert_eq!(SchemaId::new(0), None);
        assert_eq!(SchemaId::new(-5), None);
        assert_eq!(SchemaId::new(i64::from(i32::MAX) + 1), None);
        assert_eq!(Version::new(0), None);
        assert!(SchemaId::try_from(0).is_err());
    }

    #[test]
    fn reference_versions() {
        assert_eq!(VersionSpec::of_reference(-1), Ok(VersionSpec::Latest));
        assert_eq!(
            VersionSpec::of_reference(3),
            Ok(VersionSpec::Number(Version::new(3).expect("in range")))
        );
        for bad in [0, -2, i32::MIN] {
            assert!(VersionSpec::of_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn levels_and_modes_parse_case_insensitively() {
        assert_eq!(
            "full_transitive".parse::<CompatibilityLevel>(),
            Ok(CompatibilityLevel::FullTransitive)
        );
        assert!("NOT_A_LEVEL".parse::<CompatibilityLevel>().is_err());
        assert_eq!("import".parse::<Mode>(), Ok(Mode::Import));
        assert!("WRITEONLY".parse::<Mode>().is_err());
    }
}
