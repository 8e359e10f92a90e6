//! Data-contract rules in the serializer pipeline: the rule set a registered schema carries
//! (`ruleSet`), compiled once per schema and run on every event, as Confluent's serdes run it.
//!
//! - Domain rules run on write (in order) and on read (in reverse order); migration rules run
//!   on read along the chain of versions between the writer and the reader's target version;
//!   encoding rules run on the encoded payload (after encoding on write, before decoding on
//!   read).
//! - Types: `CEL` (a condition or transform of the whole message), `CEL_FIELD` (per field, by
//!   tags), `JSONATA` (transforms, usually migrations), `ENCRYPT` (field-level encryption) and
//!   `ENCRYPT_PAYLOAD` (the whole encoded payload).
//! - Actions: `NONE`, `ERROR` (the default on failure), `DLQ` (hands the event to the
//!   application's [`DeadLetterQueue`], then fails it), or an action the application registers.
//! - A rule that cannot compile (a CEL or JSONata syntax error, an unknown type, bad
//!   parameters) fails when the writer schema is first resolved, for every event written with
//!   it; `warm_up` on a serializer resolves it up front.

mod cel;
pub mod encrypt;
pub mod field;
mod jsonata;
pub(crate) mod values;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use covenant_core::contract::{ExecutionEnvironment, Metadata, Rule, RuleKind, RuleMode, RuleSet};

use crate::error::Error;

pub use encrypt::{DekAlgorithm, KmsDriver, LocalKms};
pub use field::{Field, FieldType, Scalar};
pub(crate) use values::RuleValue;

/// The direction an event is moving in, which decides which rules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Serializing.
    Write,
    /// Deserializing.
    Read,
    /// Migrating to a newer version.
    Upgrade,
    /// Migrating to an older version.
    Downgrade,
}

impl Mode {
    /// The name Confluent uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Write => "WRITE",
            Mode::Read => "READ",
            Mode::Upgrade => "UPGRADE",
            Mode::Downgrade => "DOWNGRADE",
        }
    }

    /// Whether a rule of `mode` runs when events move this way.
    fn runs(self, mode: RuleMode) -> bool {
        match mode {
            RuleMode::WriteRead => matches!(self, Mode::Write | Mode::Read),
            RuleMode::UpDown => matches!(self, Mode::Upgrade | Mode::Downgrade),
            RuleMode::Write => self == Mode::Write,
            RuleMode::Read => self == Mode::Read,
            RuleMode::Upgrade => self == Mode::Upgrade,
            RuleMode::Downgrade => self == Mode::Downgrade,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule that failed (or whose action refused the event).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    /// The rule's name (or `#<index>` in its phase when it has none).
    pub rule: String,
    /// Its type (`CEL`, `ENCRYPT`, ...).
    pub rule_type: String,
    /// The direction the event was moving in.
    pub mode: Mode,
    /// The field (full name) the rule failed on, for field rules.
    pub field: Option<String>,
    /// The rule's expression.
    pub expr: Option<String>,
    /// What went wrong: the rule's `doc` for a failed condition, else the reason.
    pub reason: String,
    /// Whether the event was handed to the dead-letter queue before it was refused.
    pub dead_lettered: bool,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule `{}` ({} on {})",
            self.rule, self.rule_type, self.mode
        )?;
        if let Some(field) = &self.field {
            write!(f, " at field `{field}`")?;
        }
        if let Some(expr) = &self.expr {
            write!(f, " with expression `{expr}`")?;
        }
        write!(f, ": {}", self.reason)?;
        if self.dead_lettered {
            f.write_str(" (sent to the dead-letter queue)")?;
        }
        Ok(())
    }
}

/// Why a rule did not pass, inside the engine.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A condition was false (on `field`, for field conditions).
    Condition { field: Option<String> },
    /// The rule could not run: the reason, and the field when it was a field rule.
    Failed {
        field: Option<String>,
        reason: String,
    },
    /// An encryption rule needs a key the key ring does not hold yet; the async driver
    /// fetches (or creates) it and runs the rules again.
    NeedKey(encrypt::KeyRequest),
}

impl Failure {
    pub(crate) fn failed(reason: impl Into<String>) -> Failure {
        Failure::Failed {
            field: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at(self, field: &str) -> Failure {
        match self {
            Failure::Failed {
                field: None,
                reason,
            } => Failure::Failed {
                field: Some(field.to_string()),
                reason,
            },
            Failure::Condition { field: None } => Failure::Condition {
                field: Some(field.to_string()),
            },
            other => other,
        }
    }
}

/// What a dead-letter queue receives: the event a rule refused, and why.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The topic.
    pub topic: String,
    /// The subject of the schema whose rule refused it.
    pub subject: Option<String>,
    /// Whether it is a record key.
    pub is_key: bool,
    /// The rule that refused it and why.
    pub error: RuleError,
    /// On write, the value as JSON; on read, `None` (the payload is in `payload`).
    pub value: Option<serde_json::Value>,
    /// On read, the framed payload as it came from the broker.
    pub payload: Option<Vec<u8>>,
}

/// Where the `DLQ` action sends refused events; the application produces them to its
/// dead-letter topic (the crate does not own a producer).
pub trait DeadLetterQueue: Send + Sync {
    /// Takes one refused event. Errors are the application's to handle: the event is refused
    /// either way.
    fn send(&self, letter: DeadLetter);
}

impl<F: Fn(DeadLetter) + Send + Sync> DeadLetterQueue for F {
    fn send(&self, letter: DeadLetter) {
        self(letter)
    }
}

/// An action the application registers by name, for `onSuccess` / `onFailure`.
pub trait RuleAction: Send + Sync {
    /// Runs after a rule; `error` is `None` after a success. Returning an error refuses the
    /// event.
    fn run(&self, rule: &Rule, mode: Mode, error: Option<&RuleError>) -> Result<(), String>;
}

/// What the application overrides of every rule of one type (Confluent's `RuleOverride`).
#[derive(Clone, Debug, Default)]
pub struct RuleOverride {
    /// Replaces the rules' `onSuccess`.
    pub on_success: Option<String>,
    /// Replaces the rules' `onFailure`.
    pub on_failure: Option<String>,
    /// Replaces the rules' `disabled`.
    pub disabled: Option<bool>,
}

/// How a client runs rules: where it runs (`enableAt` is matched against it), the executors'
/// configuration (the local KMS secret, alternate KEKs), KMS drivers, actions, overrides and
/// the dead-letter queue.
#[derive(Clone)]
pub struct RuleConfig {
    pub(crate) environment: ExecutionEnvironment,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) kms: Vec<Arc<dyn KmsDriver>>,
    pub(crate) actions: HashMap<String, Arc<dyn RuleAction>>,
    pub(crate) overrides: HashMap<String, RuleOverride>,
    pub(crate) dlq: Option<Arc<dyn DeadLetterQueue>>,
    pub(crate) enabled: bool,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            environment: ExecutionEnvironment::Client,
            params: BTreeMap::new(),
            kms: Vec::new(),
            actions: HashMap::new(),
            overrides: HashMap::new(),
            dlq: None,
            enabled: true,
        }
    }
}

impl fmt::Debug for RuleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parameters may hold secrets: only their names are shown.
        f.debug_struct("RuleConfig")
            .field("environment", &self.environment)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("kms", &self.kms.len())
            .field("actions", &self.actions.keys().collect::<Vec<_>>())
            .field("overrides", &self.overrides.keys().collect::<Vec<_>>())
            .field("dlq", &self.dlq.is_some())
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl RuleConfig {
    /// Rules turned off: events pass with structural validation only.
    pub fn disabled() -> RuleConfig {
        RuleConfig {
            enabled: false,
            ..RuleConfig::default()
        }
    }

    /// The environment the client runs in (default `CLIENT`); a rule set whose `enableAt` is
    /// neither `ALL` nor this is skipped.
    pub fn environment(mut self, environment: ExecutionEnvironment) -> Self {
        self.environment = environment;
        self
    }

    /// An executor parameter (Confluent's `rule_conf`): `secret` for the local KMS,
    /// `encrypt.alternate.kms.key.ids`, a cloud KMS's credentials.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_string(), value.to_string());
        self
    }

    /// A KMS driver for KEKs of its type (the local KMS is built in).
    pub fn kms(mut self, driver: Arc<dyn KmsDriver>) -> Self {
        self.kms.push(driver);
        self
    }

    /// An action `onSuccess` / `onFailure` may name.
    pub fn action(mut self, name: &str, action: Arc<dyn RuleAction>) -> Self {
        self.actions.insert(name.to_string(), action);
        self
    }

    /// Overrides every rule of `rule_type`.
    pub fn override_type(mut self, rule_type: &str, with: RuleOverride) -> Self {
        self.overrides.insert(rule_type.to_string(), with);
        self
    }

    /// Where the `DLQ` action sends refused events.
    pub fn dead_letter_queue(mut self, queue: Arc<dyn DeadLetterQueue>) -> Self {
        self.dlq = Some(queue);
        self
    }
}

/// An action named by a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    None,
    Error,
    Dlq,
    Named(String),
}

impl Action {
    fn parse(name: &str) -> Action {
        match name {
            "NONE" => Action::None,
            "ERROR" => Action::Error,
            "DLQ" => Action::Dlq,
            other => Action::Named(other.to_string()),
        }
    }
}

/// The action for one direction: `"A,B"` on a WRITEREAD (UPDOWN) rule is A on write
/// (upgrade), B on read (downgrade).
fn action_for(rule: &Rule, configured: Option<&str>, mode: Mode, default: Action) -> Action {
    let Some(name) = configured.filter(|n| !n.is_empty()) else {
        return default;
    };
    if matches!(rule.mode, RuleMode::WriteRead | RuleMode::UpDown) {
        if let Some((first, second)) = name.split_once(',') {
            let part = match mode {
                Mode::Write | Mode::Upgrade => first,
                Mode::Read | Mode::Downgrade => second,
            };
            let part = part.trim();
            return if part.is_empty() {
                default
            } else {
                Action::parse(part)
            };
        }
    }
    Action::parse(name.trim())
}

/// What one rule runs.
pub(crate) enum Executor {
    Cel(cel::Cel),
    CelField(cel::Cel),
    Jsonata(jsonata::Jsonata),
    Encrypt(encrypt::EncryptRule),
    EncryptPayload(encrypt::EncryptRule),
}

impl Executor {
    fn is_field(&self) -> bool {
        matches!(self, Executor::CelField(_) | Executor::Encrypt(_))
    }
}

/// Which side of the pipeline compiles a rule set: a serializer compiles (and checks) only
/// the rules that run on write, a deserializer those that run on read, so that a reader is
/// never refused for a writer's rule (a WRITE rule's expression or action) and the other way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Writer,
    Reader,
    #[cfg(test)]
    Both,
}

impl Side {
    fn compiles(self, phase: covenant_core::contract::Phase, mode: RuleMode) -> bool {
        use covenant_core::contract::Phase;
        match (self, phase) {
            #[cfg(test)]
            (Side::Both, _) => true,
            (Side::Writer, Phase::Migration) => false,
            (Side::Reader, Phase::Migration) => {
                Mode::Upgrade.runs(mode) || Mode::Downgrade.runs(mode)
            }
            (Side::Writer, _) => Mode::Write.runs(mode),
            (Side::Reader, _) => Mode::Read.runs(mode),
        }
    }
}

/// One rule, compiled.
pub(crate) struct Compiled {
    pub rule: Rule,
    /// `name`, or `#<index>` when it has none.
    pub label: String,
    pub executor: Option<Executor>,
    disabled: bool,
    on_success: Option<String>,
    on_failure: Option<String>,
}

/// A registered schema's rule set, compiled for one client.
pub(crate) struct CompiledRules {
    pub domain: Vec<Compiled>,
    pub migration: Vec<Compiled>,
    pub encoding: Vec<Compiled>,
    pub tags: field::TagPatterns,
    pub config: RuleConfig,
}

impl CompiledRules {
    /// Compiles the rule set of a registered schema; `None` when it has no rule that runs
    /// here. A rule that cannot compile is an error now, not on an event.
    pub fn compile(
        config: &RuleConfig,
        rule_set: Option<&serde_json::Value>,
        metadata: Option<&serde_json::Value>,
        side: Side,
    ) -> crate::Result<Option<Arc<CompiledRules>>> {
        let Some(raw) = rule_set.filter(|_| config.enabled) else {
            return Ok(None);
        };
        let rule_set = RuleSet::from_json("ruleSet", raw)
            .map_err(|e| Error::Config(format!("the schema's rule set: {e}")))?;
        let metadata = metadata
            .map(|m| Metadata::from_json("metadata", m))
            .transpose()
            .map_err(|e| Error::Config(format!("the schema's metadata: {e}")))?;
        let enabled_here = match rule_set.enable_at {
            None | Some(ExecutionEnvironment::All) => true,
            Some(environment) => environment == config.environment,
        };
        let compile = |phase: covenant_core::contract::Phase| -> crate::Result<Vec<Compiled>> {
            rule_set
                .rules(phase)
                .iter()
                .enumerate()
                .map(|(index, rule)| {
                    let relevant = side.compiles(phase, rule.mode);
                    compile_rule(
                        config,
                        index,
                        rule,
                        relevant,
                        enabled_here,
                        metadata.as_ref(),
                    )
                })
                .collect()
        };
        use covenant_core::contract::Phase;
        let compiled = CompiledRules {
            domain: compile(Phase::Domain)?,
            migration: compile(Phase::Migration)?,
            encoding: compile(Phase::Encoding)?,
            tags: metadata
                .as_ref()
                .map(|m| field::TagPatterns::new(&m.tags))
                .unwrap_or_default(),
            config: config.clone(),
        };
        let runs = |rules: &[Compiled]| rules.iter().any(|r| !r.disabled);
        if runs(&compiled.domain) || runs(&compiled.migration) || runs(&compiled.encoding) {
            Ok(Some(Arc::new(compiled)))
        } else {
            Ok(None)
        }
    }

    /// Whether any of the given phase's rules runs when events move in `mode`.
    pub fn has(&self, rules: &[Compiled], mode: Mode) -> bool {
        rules.iter().any(|r| !r.disabled && mode.runs(r.rule.mode))
    }

    /// The encryption rule that asked for a key.
    pub fn encryption_rule(
        &self,
        request: &encrypt::KeyRequest,
    ) -> Option<(&Compiled, &encrypt::EncryptRule)> {
        self.domain
            .iter()
            .chain(&self.encoding)
            .chain(&self.migration)
            .find_map(|compiled| match &compiled.executor {
                Some(Executor::Encrypt(e)) | Some(Executor::EncryptPayload(e))
                    if e.kek_name == request.kek && e.algorithm == request.algorithm =>
                {
                    Some((compiled, e))
                }
                _ => None,
            })
    }
}

fn compile_rule(
    config: &RuleConfig,
    index: usize,
    rule: &Rule,
    relevant: bool,
    enabled_here: bool,
    metadata: Option<&Metadata>,
) -> crate::Result<Compiled> {
    let label = rule.name.clone().unwrap_or_else(|| format!("#{index}"));
    let overrides = rule
        .rule_type
        .as_deref()
        .and_then(|t| config.overrides.get(t));
    let disabled = !relevant
        || match overrides.and_then(|o| o.disabled) {
            Some(disabled) => disabled,
            None => !enabled_here || rule.disabled,
        };
    let on_success = overrides
        .and_then(|o| o.on_success.clone())
        .or_else(|| rule.on_success.clone());
    let on_failure = overrides
        .and_then(|o| o.on_failure.clone())
        .or_else(|| rule.on_failure.clone());
    let fail = |reason: String| {
        Error::Config(format!(
            "rule `{label}` ({}) cannot be compiled: {reason}",
            rule.rule_type.as_deref().unwrap_or("no type")
        ))
    };
    let executor = if disabled {
        None
    } else {
        let expr = || rule.expr.as_deref().unwrap_or("");
        let kind = rule.rule_type.as_deref().map(str::to_ascii_uppercase);
        Some(match kind.as_deref() {
            Some("CEL") => Executor::Cel(cel::Cel::compile(expr()).map_err(fail)?),
            Some("CEL_FIELD") => Executor::CelField(cel::Cel::compile(expr()).map_err(fail)?),
            Some("JSONATA") => Executor::Jsonata(jsonata::Jsonata::compile(expr()).map_err(fail)?),
            Some("ENCRYPT") => {
                Executor::Encrypt(encrypt::EncryptRule::new(rule, metadata).map_err(fail)?)
            }
            Some("ENCRYPT_PAYLOAD") => {
                Executor::EncryptPayload(encrypt::EncryptRule::new(rule, metadata).map_err(fail)?)
            }
            Some(other) => return Err(fail(format!("no executor for rule type `{other}`"))),
            None => return Err(fail("the rule has no type".into())),
        })
    };
    // Actions are checked now too: an unknown name would otherwise surface on an event.
    for name in [on_success.as_deref(), on_failure.as_deref()]
        .into_iter()
        .flatten()
        .filter(|_| !disabled)
    {
        for part in name.split(',') {
            let part = part.trim();
            if !part.is_empty()
                && !matches!(part, "NONE" | "ERROR" | "DLQ")
                && !config.actions.contains_key(part)
            {
                return Err(fail(format!("no rule action `{part}` is registered")));
            }
            if part == "DLQ" && config.dlq.is_none() {
                return Err(fail(
                    "the DLQ action needs a dead-letter queue (RuleConfig::dead_letter_queue)"
                        .into(),
                ));
            }
        }
    }
    Ok(Compiled {
        rule: rule.clone(),
        label,
        executor,
        disabled,
        on_success,
        on_failure,
    })
}

/// The event the rules run on, for errors and the dead-letter queue.
pub(crate) struct Event<'a> {
    pub topic: &'a str,
    pub subject: Option<&'a str>,
    pub is_key: bool,
    /// On read, the framed payload.
    pub payload: Option<&'a [u8]>,
}

/// What running rules produces: the rule error to report, or a key to fetch first.
pub(crate) enum Stop {
    Refused(Box<RuleError>),
    NeedKey(encrypt::KeyRequest),
}

impl From<Stop> for Error {
    fn from(stop: Stop) -> Error {
        match stop {
            Stop::Refused(error) => Error::Rule(error),
            Stop::NeedKey(request) => Error::Config(format!(
                "the key {request} was not fetched before the rules ran"
            )),
        }
    }
}

/// Runs the rules of one phase on a value, in order (or reversed, for READ and DOWNGRADE).
pub(crate) fn run_value<V: RuleValue>(
    rules: &CompiledRules,
    phase: &[Compiled],
    mode: Mode,
    value: &mut V,
    schema: &V::Schema,
    keys: &encrypt::KeyRing,
    event: &Event<'_>,
) -> Result<(), Stop> {
    let reversed = matches!(mode, Mode::Read | Mode::Downgrade);
    let order: Box<dyn Iterator<Item = (usize, &Compiled)>> = if reversed {
        Box::new(phase.iter().enumerate().rev())
    } else {
        Box::new(phase.iter().enumerate())
    };
    for (index, compiled) in order {
        if compiled.disabled || !mode.runs(compiled.rule.mode) {
            continue;
        }
        let Some(executor) = &compiled.executor else {
            continue;
        };
        // Two field transforms of one type with the same tags run once: the first declared.
        if executor.is_field() && duplicate(phase, index, compiled) {
            continue;
        }
        // Conditions leave the value as it is: only transforms need it kept.
        let before = (compiled.rule.kind == RuleKind::Transform).then(|| value.clone());
        let outcome = match executor {
            Executor::Cel(program) => program.message(&compiled.rule, value, schema),
            Executor::CelField(program) => {
                let mut visitor = cel::FieldVisitor::new(program, compiled, &rules.tags);
                value.walk(schema, &mut visitor)
            }
            Executor::Jsonata(expression) => {
                expression.transform(compiled.rule.kind, value, schema)
            }
            Executor::Encrypt(encryption) => {
                let mut visitor = encrypt::FieldVisitor::new(
                    encryption,
                    compiled,
                    &rules.tags,
                    mode,
                    keys,
                    event.subject.unwrap_or(""),
                );
                value.walk(schema, &mut visitor)
            }
            Executor::EncryptPayload(_) => Err(Failure::failed(
                "ENCRYPT_PAYLOAD runs on the encoded payload: list it in encodingRules",
            )),
        };
        // The dead-letter queue gets the event as it was before the rule.
        let passed = settle(rules, compiled, mode, outcome, event, || {
            before.as_ref().unwrap_or(value).to_json()
        })?;
        if let (Err(()), Some(before)) = (passed, before) {
            // A failure whose action lets the event pass leaves the value as it was before.
            *value = before;
        }
    }
    Ok(())
}

/// Whether every rule of `phase` that runs in `mode` is a message-level CEL condition, which
/// [`check_value`] judges without a copy of the value.
pub(crate) fn only_conditions(phase: &[Compiled], mode: Mode) -> bool {
    phase
        .iter()
        .filter(|r| !r.disabled && mode.runs(r.rule.mode))
        .all(|r| r.rule.kind == RuleKind::Condition && matches!(r.executor, Some(Executor::Cel(_))))
}

/// Runs a phase of message-level CEL conditions (see [`only_conditions`]) on a value.
pub(crate) fn check_value<V: RuleValue>(
    rules: &CompiledRules,
    phase: &[Compiled],
    mode: Mode,
    value: &V,
    event: &Event<'_>,
) -> Result<(), Stop> {
    let reversed = matches!(mode, Mode::Read | Mode::Downgrade);
    let order: Box<dyn Iterator<Item = &Compiled>> = if reversed {
        Box::new(phase.iter().rev())
    } else {
        Box::new(phase.iter())
    };
    for compiled in order {
        if compiled.disabled || !mode.runs(compiled.rule.mode) {
            continue;
        }
        let outcome = match &compiled.executor {
            Some(Executor::Cel(program)) => program.condition(value),
            _ => continue,
        };
        let _passed = settle(rules, compiled, mode, outcome, event, || value.to_json())?;
    }
    Ok(())
}

/// Runs the encoding rules on an encoded payload.
pub(crate) fn run_payload(
    rules: &CompiledRules,
    mode: Mode,
    payload: &mut Vec<u8>,
    keys: &encrypt::KeyRing,
    event: &Event<'_>,
) -> Result<(), Stop> {
    let reversed = mode == Mode::Read;
    let order: Box<dyn Iterator<Item = &Compiled>> = if reversed {
        Box::new(rules.encoding.iter().rev())
    } else {
        Box::new(rules.encoding.iter())
    };
    for compiled in order {
        if compiled.disabled || !mode.runs(compiled.rule.mode) {
            continue;
        }
        let outcome = match &compiled.executor {
            Some(Executor::EncryptPayload(encryption)) => encryption
                .payload(mode, payload, keys, event.subject.unwrap_or(""))
                .map(|new| *payload = new),
            Some(_) => Err(Failure::failed(
                "only ENCRYPT_PAYLOAD runs on the encoded payload",
            )),
            None => continue,
        };
        // A failure whose action lets the event pass leaves the payload as it was.
        let _passed = settle(rules, compiled, mode, outcome, event, || {
            serde_json::Value::Null
        })?;
    }
    Ok(())
}

/// Whether an earlier-declared rule is a field transform of the same type, mode and tags.
fn duplicate(phase: &[Compiled], index: usize, rule: &Compiled) -> bool {
    let same = |other: &Compiled| {
        !rule.rule.tags.is_empty()
            && rule.rule.kind == RuleKind::Transform
            && other.rule.kind == rule.rule.kind
            && other.rule.mode == rule.rule.mode
            && other.rule.rule_type == rule.rule.rule_type
            && other.rule.tags == rule.rule.tags
    };
    phase[..index].iter().any(same)
}

/// Applies the rule's action to its outcome. `Ok(Ok(()))`: the event goes on with the rule's
/// result; `Ok(Err(()))`: the rule failed but its action lets the event pass unchanged;
/// `Err`: the event is refused (or a key must be fetched first).
fn settle(
    rules: &CompiledRules,
    compiled: &Compiled,
    mode: Mode,
    outcome: Result<(), Failure>,
    event: &Event<'_>,
    value_json: impl FnOnce() -> serde_json::Value,
) -> Result<Result<(), ()>, Stop> {
    let rule = &compiled.rule;
    let error = match outcome {
        Ok(()) => None,
        Err(Failure::NeedKey(request)) => return Err(Stop::NeedKey(request)),
        Err(Failure::Condition { field }) => Some(RuleError {
            rule: compiled.label.clone(),
            rule_type: rule.rule_type.clone().unwrap_or_default(),
            mode,
            field,
            expr: rule.expr.clone(),
            reason: match &rule.doc {
                Some(doc) if !doc.is_empty() => doc.clone(),
                _ => "the condition is false".to_string(),
            },
            dead_lettered: false,
        }),
        Err(Failure::Failed { field, reason }) => Some(RuleError {
            rule: compiled.label.clone(),
            rule_type: rule.rule_type.clone().unwrap_or_default(),
            mode,
            field,
            expr: rule.expr.clone(),
            reason,
            dead_lettered: false,
        }),
    };
    let action = match &error {
        None => action_for(rule, compiled.on_success.as_deref(), mode, Action::None),
        Some(_) => action_for(rule, compiled.on_failure.as_deref(), mode, Action::Error),
    };
    let refuse = |error: Option<RuleError>, reason: &str| {
        Box::new(error.unwrap_or_else(|| RuleError {
            rule: compiled.label.clone(),
            rule_type: rule.rule_type.clone().unwrap_or_default(),
            mode,
            field: None,
            expr: rule.expr.clone(),
            reason: reason.to_string(),
            dead_lettered: false,
        }))
    };
    match action {
        Action::None => Ok(if error.is_some() { Err(()) } else { Ok(()) }),
        Action::Error => Err(Stop::Refused(refuse(
            error,
            "the rule passed, and its onSuccess action is ERROR",
        ))),
        Action::Dlq => {
            let mut error = refuse(error, "the rule passed, and its onSuccess action is DLQ");
            error.dead_lettered = true;
            if let Some(queue) = &rules.config.dlq {
                queue.send(DeadLetter {
                    topic: event.topic.to_string(),
                    subject: event.subject.map(str::to_string),
                    is_key: event.is_key,
                    error: (*error).clone(),
                    value: event.payload.is_none().then(value_json),
                    payload: event.payload.map(<[u8]>::to_vec),
                });
            }
            Err(Stop::Refused(error))
        }
        Action::Named(name) => {
            let Some(custom) = rules.config.actions.get(&name) else {
                return Err(Stop::Refused(refuse(
                    error,
                    &format!("no rule action `{name}` is registered"),
                )));
            };
            match custom.run(rule, mode, error.as_ref()) {
                Ok(()) => Ok(if error.is_some() { Err(()) } else { Ok(()) }),
                Err(reason) => {
                    let mut refused = refuse(error, &reason);
                    refused.reason = reason;
                    Err(Stop::Refused(refused))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
