//! The auth file, read into a [`Policy`]: who the users, API keys and other principals are,
//! which roles they have, and what each role and principal may do.
//!
//! Two formats are read. Covenant's own is TOML:
//!
//! ```toml
//! anonymous = "off"                  # off (default) | read | full
//!
//! [[users]]                           # HTTP basic
//! name = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # covenant auth hash-password
//! roles = ["developer"]
//!
//! [[api_keys]]                        # Authorization: Bearer <key>
//! name = "ci"
//! key_hash = "sha256:..."             # covenant auth new-key
//! roles = ["payments-writer"]
//!
//! [[principals]]                      # client certificates and JWT subjects
//! name = "CN=billing,O=Acme"
//! roles = ["readonly"]
//!
//! [[grants]]                          # what a role (or one principal) may do
//! role = "payments-writer"            # or principal = "alice"
//! operations = ["read", "write"]      # read write delete config mode import admin, or "*"
//! subjects = ["payments-*"]           # globs; or subject_regex = "..."
//! contexts = ["."]                    # optional; "." is the default context, "*" every one
//! global = false                      # the global config and mode
//! ```
//!
//! Karapace's `registry_authfile` JSON is read unchanged: its users, with PBKDF2 or scrypt
//! hashes, and its permissions, `Read` or `Write` on a regular expression matched from the
//! start of `Subject:<subject>` or `Config:` (`Write` implies `Read`; Write on `.*` covers the
//! administrative operations too, which are matched as `Admin:`).

use std::collections::{BTreeSet, HashMap};

use covenant_core::ids::ContextName;
#[cfg(test)]
use covenant_core::ids::QualifiedSubject;
use regex::Regex;
use serde::Deserialize;

use super::password::{KarapaceAlgorithm, StoredHash};
use crate::access::{AuthMethod, Identity};
use crate::access::{Operation, Resource};
use crate::persist::Scope;

/// The roles every policy has.
pub const BUILT_IN_ROLES: [&str; 3] = ["admin", "developer", "readonly"];

/// Which callers without credentials are let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Anonymous {
    /// None: a request without credentials gets 401.
    #[default]
    Off,
    /// As the `readonly` role.
    Read,
    /// As the `admin` role.
    Full,
}

/// Where a policy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Covenant's TOML.
    Covenant,
    /// Karapace's `registry_authfile` JSON.
    Karapace,
}

/// A set of operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Operations(u8);

impl Operations {
    const ALL: Operations = Operations(0x7f);

    fn bit(operation: Operation) -> u8 {
        1 << match operation {
            Operation::Read => 0,
            Operation::Write => 1,
            Operation::Delete => 2,
            Operation::Config => 3,
            Operation::Mode => 4,
            Operation::Import => 5,
            Operation::Admin => 6,
        }
    }

    fn of(operations: &[Operation]) -> Operations {
        Operations(operations.iter().fold(0, |bits, op| bits | Self::bit(*op)))
    }

    fn contains(self, operation: Operation) -> bool {
        self.0 & Self::bit(operation) != 0
    }

    fn parse(names: &[String]) -> Result<Operations, String> {
        let mut bits = 0;
        for name in names {
            bits |= match name.to_ascii_lowercase().as_str() {
                "*" | "all" => Operations::ALL.0,
                "read" => Self::bit(Operation::Read),
                "write" => Self::bit(Operation::Write),
                "delete" => Self::bit(Operation::Delete),
                "config" => Self::bit(Operation::Config),
                "mode" => Self::bit(Operation::Mode),
                "import" => Self::bit(Operation::Import),
                "admin" => Self::bit(Operation::Admin),
                _ => {
                    return Err(format!(
                        "unknown operation `{name}`: expected read, write, delete, config, mode, import, admin or *"
                    ))
                }
            };
        }
        if bits == 0 {
            return Err("a grant needs at least one operation".into());
        }
        Ok(Operations(bits))
    }
}

/// A subject-name pattern: `*` any run of characters, `?` one character.
#[derive(Clone, Debug)]
struct Glob(Regex);

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let mut regex = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => regex.push_str(".*"),
                '?' => regex.push('.'),
                c => regex.push_str(&regex::escape(&c.to_string())),
            }
        }
        regex.push('$');
        Regex::new(&regex)
            .map(Glob)
            .map_err(|e| format!("subject pattern `{pattern}`: {e}"))
    }
}

/// Which contexts a grant covers.
#[derive(Clone, Debug)]
enum Contexts {
    /// Every context (the default without `contexts`, or `"*"`).
    Any,
    /// These.
    Named(Vec<ContextName>),
}

impl Contexts {
    fn contains(&self, context: &ContextName) -> bool {
        match self {
            Contexts::Any => true,
            Contexts::Named(names) => names.contains(context),
        }
    }
}

/// One grant: operations on resources.
#[derive(Clone, Debug)]
pub struct Grant {
    operations: Operations,
    /// Subject-name patterns (globs and a regex); empty when the grant names none.
    subjects: Vec<Glob>,
    subject_regex: Option<Regex>,
    /// The contexts named, if any.
    contexts: Option<Contexts>,
    /// The global config and mode, and the registry as a whole.
    global: bool,
    /// KEK-name patterns.
    keks: Vec<Glob>,
}

impl Grant {
    fn names_subjects(&self) -> bool {
        !self.subjects.is_empty() || self.subject_regex.is_some()
    }

    fn matches_name(&self, name: &str) -> bool {
        self.subjects.iter().any(|glob| glob.0.is_match(name))
            || self
                .subject_regex
                .as_ref()
                .is_some_and(|r| r.is_match(name))
    }

    /// Whether the grant covers `resource`:
    /// - a subject (and its config and mode) when its name matches the subject patterns and its
    ///   context is among the grant's contexts (every context when none are named), or, for a
    ///   grant naming contexts and no subject patterns, when it is in one of them;
    /// - a context's config and mode, and the context itself, when the grant names the context
    ///   and no subject patterns;
    /// - the global config and mode and the registry as a whole when the grant is `global`;
    /// - a KEK when its name matches the grant's `keks` patterns, or the grant is `global`.
    fn covers(&self, resource: Resource<'_>) -> bool {
        match resource {
            Resource::Subject(subject) | Resource::Scope(Scope::Subject(subject)) => {
                let in_context = self
                    .contexts
                    .as_ref()
                    .is_none_or(|contexts| contexts.contains(subject.context()));
                in_context
                    && if self.names_subjects() {
                        self.matches_name(subject.name())
                    } else {
                        self.contexts.is_some()
                    }
            }
            Resource::Scope(Scope::Context(context)) | Resource::Context(context) => {
                !self.names_subjects()
                    && self
                        .contexts
                        .as_ref()
                        .is_some_and(|contexts| contexts.contains(context))
            }
            Resource::Scope(Scope::Global) | Resource::Registry => self.global,
            Resource::Kek(name) => {
                self.global || self.keks.iter().any(|glob| glob.0.is_match(name))
            }
        }
    }

    fn permits(&self, operation: Operation, resource: Resource<'_>) -> bool {
        self.operations.contains(operation) && self.covers(resource)
    }

    fn built_in(role: &str) -> Vec<Grant> {
        let everywhere = |operations: &[Operation], global: bool| Grant {
            operations: Operations::of(operations),
            subjects: Vec::new(),
            subject_regex: None,
            contexts: Some(Contexts::Any),
            global,
            keks: Vec::new(),
        };
        let all_subjects = |operations: &[Operation]| Grant {
            operations: Operations::of(operations),
            subjects: vec![Glob::new("*").expect("a valid glob")],
            subject_regex: None,
            contexts: None,
            global: false,
            keks: Vec::new(),
        };
        let all_keks = |operations: &[Operation]| Grant {
            operations: Operations::of(operations),
            subjects: Vec::new(),
            subject_regex: None,
            contexts: None,
            global: false,
            keks: vec![Glob::new("*").expect("a valid glob")],
        };
        use Operation::*;
        match role {
            "admin" => vec![Grant {
                operations: Operations::ALL,
                ..everywhere(&[], true)
            }],
            // Registers, deletes and configures subjects, creates KEKs (clients encrypting fields
            // register theirs); reads everything else.
            "developer" => vec![
                all_subjects(&[Read, Write, Delete, Config]),
                all_keks(&[Read, Write]),
                everywhere(&[Read], true),
            ],
            "readonly" => vec![everywhere(&[Read], true)],
            _ => Vec::new(),
        }
    }
}

/// A user of HTTP basic authentication.
#[derive(Clone, Debug)]
pub struct User {
    /// The stored password hash.
    pub hash: StoredHash,
    /// The user's roles.
    pub roles: Vec<String>,
}

/// An API key's holder.
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// The principal it authenticates as.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// A Karapace permission entry.
#[derive(Clone, Debug)]
struct AclEntry {
    username: String,
    write: bool,
    resource: Regex,
}

/// Settings for bearer JWTs from an OpenID Connect provider.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud` (one of them).
    #[serde(deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// A JWKS document on disk (reloaded with the auth file).
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// A JWKS URL (https, or http on a loopback address), fetched only from here.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim naming the principal (default `sub`).
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// A dotted path to the claim listing the principal's roles (`realm_access.roles`); an
    /// array of strings or one space-separated string.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Accepted signature algorithms (default RS256, RS384, RS512, PS256, PS384, PS512, ES256,
    /// ES384, EdDSA).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// How often the JWKS URL is fetched again, in seconds (default 300).
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u64,
}

fn default_principal_claim() -> String {
    "sub".into()
}
fn default_leeway() -> u64 {
    30
}
fn default_refresh() -> u64 {
    300
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => one.split(',').map(|s| s.trim().to_string()).collect(),
        OneOrMany::Many(many) => many,
    })
}

/// Who may authenticate and what each principal may do.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The file's format.
    pub format: FileFormat,
    /// Basic-auth users by name.
    users: HashMap<String, User>,
    /// API keys by the SHA-256 of the key.
    keys: HashMap<[u8; 32], ApiKey>,
    /// Roles of principals authenticated elsewhere (certificates, JWTs).
    bindings: HashMap<String, Vec<String>>,
    /// Each role's grants (the built-in ones included).
    roles: HashMap<String, Vec<Grant>>,
    /// Grants made to one principal.
    grants: HashMap<String, Vec<Grant>>,
    /// Karapace's permissions, in file order.
    acl: Vec<AclEntry>,
    /// Callers without credentials.
    pub anonymous: Anonymous,
    /// Bearer JWTs.
    pub oidc: Option<OidcSettings>,
    /// A hash verified for unknown users, so that a wrong name costs what a wrong password does.
    dummy: StoredHash,
    /// Users whose hashes are cheap to brute-force (Karapace PBKDF2), to be rehashed.
    pub weak_users: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    anonymous: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    api_keys: Vec<RawKey>,
    #[serde(default)]
    principals: Vec<RawBinding>,
    #[serde(default)]
    grants: Vec<RawGrant>,
    #[serde(default)]
    oidc: Option<OidcSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password_hash: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    key_hash: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    name: String,
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    role: Option<String>,
    operations: Vec<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    subject_regex: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<String>>,
    #[serde(default)]
    global: bool,
    #[serde(default)]
    keks: Vec<String>,
}

#[derive(Deserialize)]
struct KarapaceFile {
    users: Vec<KarapaceUser>,
    permissions: Vec<KarapacePermission>,
}

#[derive(Deserialize)]
struct KarapaceUser {
    username: String,
    algorithm: String,
    salt: String,
    password_hash: String,
}

#[derive(Deserialize)]
struct KarapacePermission {
    username: String,
    operation: String,
    resource: String,
}

/// The prefix of an API key's stored hash.
pub const KEY_HASH_PREFIX: &str = "sha256:";

/// The SHA-256 of an API key.
pub fn key_digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

impl Policy {
    /// Reads an auth file: Karapace's JSON when it is a JSON object, Covenant's TOML otherwise.
    pub fn parse(text: &str) -> Result<Policy, String> {
        if text.trim_start().starts_with('{') {
            Policy::karapace(text)
        } else {
            Policy::covenant(text)
        }
    }

    fn empty(format: FileFormat) -> Policy {
        let roles = BUILT_IN_ROLES
            .iter()
            .map(|name| (name.to_string(), Grant::built_in(name)))
            .collect();
        Policy {
            format,
            users: HashMap::new(),
            keys: HashMap::new(),
            bindings: HashMap::new(),
            roles,
            grants: HashMap::new(),
            acl: Vec::new(),
            anonymous: Anonymous::Off,
            oidc: None,
            dummy: StoredHash::Karapace {
                algorithm: KarapaceAlgorithm::Sha512,
                salt: "covenant".into(),
                hash: String::new(),
            },
            weak_users: Vec::new(),
        }
    }

    fn karapace(text: &str) -> Result<Policy, String> {
        let file: KarapaceFile = serde_json::from_str(text).map_err(|e| {
            format!("a Karapace auth file (JSON with `users` and `permissions`): {e}")
        })?;
        let mut policy = Policy::empty(FileFormat::Karapace);
        let mut weak = BTreeSet::new();
        for user in file.users {
            let algorithm = KarapaceAlgorithm::parse(&user.algorithm).ok_or_else(|| {
                format!(
                    "user `{}`: unknown algorithm `{}` (expected sha1, sha256, sha512 or scrypt)",
                    user.username, user.algorithm
                )
            })?;
            if algorithm.is_weak() {
                weak.insert(user.username.clone());
            }
            // As Karapace: a later entry for the same name replaces an earlier one.
            policy.users.insert(
                user.username,
                User {
                    hash: StoredHash::Karapace {
                        algorithm,
                        salt: user.salt,
                        hash: user.password_hash,
                    },
                    roles: Vec::new(),
                },
            );
        }
        for (index, permission) in file.permissions.into_iter().enumerate() {
            let write = match permission.operation.as_str() {
                "Read" => false,
                "Write" => true,
                other => {
                    return Err(format!(
                        "permission {index} (user `{}`): unknown operation `{other}` (expected Read or Write)",
                        permission.username
                    ))
                }
            };
            // Python's `re.match`: anchored at the start only.
            let resource = Regex::new(&format!("^(?:{})", permission.resource)).map_err(|e| {
                format!(
                    "permission {index} (user `{}`): the resource `{}` is not a regular expression Covenant can run (look-around and back-references are not supported): {e}",
                    permission.username, permission.resource
                )
            })?;
            policy.acl.push(AclEntry {
                username: permission.username,
                write,
                resource,
            });
        }
        policy.dummy = StoredHash::Karapace {
            algorithm: KarapaceAlgorithm::Sha512,
            salt: "covenant".into(),
            hash: String::new(),
        };
        policy.weak_users = weak.into_iter().collect();
        Ok(policy)
    }

    fn covenant(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut policy = Policy::empty(FileFormat::Covenant);
        policy.anonymous = match raw.anonymous.as_deref() {
            None | Some("off") => Anonymous::Off,
            Some("read") => Anonymous::Read,
            Some("full") => Anonymous::Full,
            Some(other) => {
                return Err(format!(
                    "anonymous = \"{other}\": expected \"off\", \"read\" or \"full\""
                ))
            }
        };
        for grant in raw.grants {
            let (who, compiled) = compile_grant(grant)?;
            match who {
                Who::Role(role) => policy.roles.entry(role).or_default().push(compiled),
                Who::Principal(name) => policy.grants.entry(name).or_default().push(compiled),
            }
        }
        let known_role = |policy: &Policy, owner: &str, roles: &[String]| {
            roles.iter().try_for_each(|role| {
                if policy.roles.contains_key(role) {
                    Ok(())
                } else {
                    Err(format!(
                        "{owner} has the role `{role}`, which is neither built in (admin, developer, readonly) nor given any grant"
                    ))
                }
            })
        };
        for user in raw.users {
            if user.name.is_empty() || user.name.contains(':') {
                return Err(format!(
                    "user `{}`: a user name is not empty and has no `:`",
                    user.name
                ));
            }
            known_role(&policy, &format!("user `{}`", user.name), &user.roles)?;
            let hash = StoredHash::argon2(&user.password_hash)
                .map_err(|e| format!("user `{}`: {e}", user.name))?;
            if policy
                .users
                .insert(
                    user.name.clone(),
                    User {
                        hash,
                        roles: user.roles,
                    },
                )
                .is_some()
            {
                return Err(format!("user `{}` is listed twice", user.name));
            }
        }
        for key in raw.api_keys {
            known_role(&policy, &format!("API key `{}`", key.name), &key.roles)?;
            let digest = key
                .key_hash
                .strip_prefix(KEY_HASH_PREFIX)
                .and_then(decode_hex32)
                .ok_or_else(|| {
                    format!(
                        "API key `{}`: key_hash must be `sha256:` and 64 hex digits (`covenant auth new-key` prints one)",
                        key.name
                    )
                })?;
            if policy
                .keys
                .insert(
                    digest,
                    ApiKey {
                        name: key.name.clone(),
                        roles: key.roles,
                    },
                )
                .is_some()
            {
                return Err(format!(
                    "API key `{}` has the hash of another key",
                    key.name
                ));
            }
        }
        for binding in raw.principals {
            known_role(
                &policy,
                &format!("principal `{}`", binding.name),
                &binding.roles,
            )?;
            policy
                .bindings
                .entry(binding.name)
                .or_default()
                .extend(binding.roles);
        }
        if let Some(oidc) = &raw.oidc {
            if oidc.jwks_file.is_none() == oidc.jwks_url.is_none() {
                return Err("[oidc] needs exactly one of jwks_file and jwks_url".into());
            }
            if let Some(url) = &oidc.jwks_url {
                super::jwt::check_jwks_url(url)?;
            }
            if oidc.audience.is_empty() {
                return Err("[oidc] audience must name at least one audience".into());
            }
            if let Some(algorithms) = &oidc.algorithms {
                for name in algorithms {
                    super::jwt::algorithm(name)?;
                }
            }
        }
        policy.oidc = raw.oidc;
        policy.dummy = StoredHash::Argon2(
            "$argon2id$v=19$m=19456,t=2,p=1$Y292ZW5hbnQtZHVtbXk$dGhpcy1pcy1ub3QtYS1yZWFsLWhhc2gtYXQtYWxs"
                .into(),
        );
        Ok(policy)
    }

    /// The basic-auth user of this name.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The hash checked for a user that does not exist.
    pub fn dummy_hash(&self) -> &StoredHash {
        &self.dummy
    }

    /// The holder of an API key, by the key's SHA-256.
    pub fn api_key(&self, digest: &[u8; 32]) -> Option<&ApiKey> {
        self.keys.get(digest)
    }

    /// Roles bound to a principal authenticated outside the file (certificates, JWTs).
    pub fn bound_roles(&self, principal: &str) -> &[String] {
        self.bindings.get(principal).map_or(&[], Vec::as_slice)
    }

    /// How many users, API keys and grants the policy has, for the log.
    pub fn summary(&self) -> String {
        match self.format {
            FileFormat::Karapace => format!(
                "Karapace auth file: {} users, {} permissions",
                self.users.len(),
                self.acl.len()
            ),
            FileFormat::Covenant => format!(
                "{} users, {} API keys, {} roles, {} principal grants{}",
                self.users.len(),
                self.keys.len(),
                self.roles.len(),
                self.grants.values().map(Vec::len).sum::<usize>(),
                if self.oidc.is_some() { ", OIDC" } else { "" }
            ),
        }
    }

    /// Whether `identity` may do `operation` on `resource`.
    pub fn permits(
        &self,
        identity: &Identity,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        match self.format {
            FileFormat::Karapace => {
                let Some(name) = identity.name.as_deref() else {
                    return false;
                };
                let (write, target) = karapace_resource(operation, resource);
                self.acl.iter().any(|entry| {
                    entry.username == name
                        && (entry.write || !write)
                        && entry.resource.is_match(&target)
                })
            }
            FileFormat::Covenant => {
                let own = identity
                    .name
                    .as_deref()
                    .and_then(|name| self.grants.get(name))
                    .into_iter()
                    .flatten();
                let through_roles = identity
                    .roles
                    .iter()
                    .filter_map(|role| self.roles.get(role))
                    .flatten();
                own.chain(through_roles)
                    .any(|grant| grant.permits(operation, resource))
            }
        }
    }

    /// The roles of an identity authenticated by `method` as `name`, given those its
    /// credentials carry (a user's, a key's, a token's).
    pub fn roles_of(
        &self,
        method: AuthMethod,
        name: Option<&str>,
        carried: &[String],
    ) -> Vec<String> {
        let mut roles: Vec<String> = carried.to_vec();
        if let Some(name) = name {
            roles.extend(self.bound_roles(name).iter().cloned());
        }
        if method == AuthMethod::Anonymous {
            match self.anonymous {
                Anonymous::Off => {}
                Anonymous::Read => roles.push("readonly".into()),
                Anonymous::Full => roles.push("admin".into()),
            }
        }
        roles.sort();
        roles.dedup();
        roles
    }
}

enum Who {
    Role(String),
    Principal(String),
}

fn compile_grant(raw: RawGrant) -> Result<(Who, Grant), String> {
    let who = match (raw.principal, raw.role) {
        (Some(principal), None) => Who::Principal(principal),
        (None, Some(role)) => {
            if BUILT_IN_ROLES.contains(&role.as_str()) {
                return Err(format!(
                    "a grant to the built-in role `{role}`: built-in roles are fixed; give the grant a role of your own"
                ));
            }
            Who::Role(role)
        }
        _ => return Err("a grant names exactly one of `principal` and `role`".into()),
    };
    let label = match &who {
        Who::Role(role) => format!("grant to role `{role}`"),
        Who::Principal(name) => format!("grant to `{name}`"),
    };
    let operations = Operations::parse(&raw.operations).map_err(|e| format!("{label}: {e}"))?;
    let subjects = raw
        .subjects
        .iter()
        .map(|pattern| Glob::new(pattern))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{label}: {e}"))?;
    let subject_regex = raw
        .subject_regex
        .as_deref()
        .map(|pattern| {
            Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("{label}: subject_regex `{pattern}`: {e}"))
        })
        .transpose()?;
    let contexts = raw
        .contexts
        .map(|names| {
            if names.iter().any(|name| name == "*") {
                return Ok(Contexts::Any);
            }
            names
                .iter()
                .map(|name| {
                    ContextName::parse(name).map_err(|e| format!("{label}: context `{name}`: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Contexts::Named)
        })
        .transpose()?;
    let keks = raw
        .keks
        .iter()
        .map(|pattern| Glob::new(pattern))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{label}: {e}"))?;
    let grant = Grant {
        operations,
        subjects,
        subject_regex,
        contexts,
        global: raw.global,
        keks,
    };
    if !grant.names_subjects() && grant.contexts.is_none() && !grant.global && grant.keks.is_empty()
    {
        return Err(format!(
            "{label}: a grant names what it covers: `subjects`, `subject_regex`, `contexts`, `keks` or `global = true`"
        ));
    }
    Ok((who, grant))
}

/// The operation Karapace checks (`true` for Write) and the resource string it matches.
fn karapace_resource(operation: Operation, resource: Resource<'_>) -> (bool, String) {
    let write = operation != Operation::Read;
    let target = match (operation, resource) {
        (Operation::Admin, _) => "Admin:".to_string(),
        (_, Resource::Subject(subject)) | (_, Resource::Scope(Scope::Subject(subject))) => {
            format!("Subject:{}", subject.qualified())
        }
        _ => "Config:".to_string(),
    };
    (write, target)
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether `subject` would be listed to `identity` under `policy` (used by tests).
#[cfg(test)]
fn may_read(policy: &Policy, identity: &Identity, subject: &str) -> bool {
    let subject = QualifiedSubject::parse(subject).expect("valid subject");
    policy.permits(identity, Operation::Read, Resource::Subject(&subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KARAPACE: &str = include_str!("../../../fixtures/auth/karapace.auth.json");

    fn user(name: &str, roles: &[&str]) -> Identity {
        Identity {
            name: Some(name.to_string()),
            method: AuthMethod::Basic,
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn subject(raw: &str) -> QualifiedSubject {
        QualifiedSubject::parse(raw).expect("valid subject")
    }

    #[test]
    fn karapace_semantics() {
        let policy = Policy::parse(KARAPACE).expect("Karapace's file reads");
        assert_eq!(policy.format, FileFormat::Karapace);
        assert_eq!(policy.weak_users, ["aladdin", "reader"]);
        assert!(policy.user("admin").expect("admin").hash.verify("admin"));
        assert!(policy
            .user("aladdin")
            .expect("aladdin")
            .hash
            .verify("opensesame"));
        let admin = user("admin", &[]);
        let aladdin = user("aladdin", &[]);
        let reader = user("reader", &[]);
        assert!(may_read(&policy, &admin, "anything"));
        assert!(may_read(&policy, &aladdin, "cave-x"));
        assert!(!may_read(&policy, &aladdin, "carpet-x"));
        assert!(may_read(&policy, &reader, "carpet-x"));
        assert!(!may_read(&policy, &reader, "cave-x"));
        let cave = subject("cave-1");
        let carpet = subject("carpet-1");
        // Write implies Read; Read grants nothing more.
        assert!(policy.permits(&aladdin, Operation::Write, Resource::Subject(&cave)));
        assert!(policy.permits(&aladdin, Operation::Delete, Resource::Subject(&cave)));
        assert!(!policy.permits(&reader, Operation::Write, Resource::Subject(&carpet)));
        // Config: is the global config; Write on .* is an admin.
        assert!(policy.permits(&admin, Operation::Config, Resource::Scope(&Scope::Global)));
        assert!(!policy.permits(&aladdin, Operation::Config, Resource::Scope(&Scope::Global)));
        assert!(!policy.permits(&aladdin, Operation::Read, Resource::Scope(&Scope::Global)));
        assert!(policy.permits(&admin, Operation::Admin, Resource::Registry));
        assert!(!policy.permits(&aladdin, Operation::Admin, Resource::Registry));
        // Matched from the start only, as Python's re.match.
        let anchored = r#"{"users":[],"permissions":[{"username":"u","operation":"Read","resource":"Subject:cave"}]}"#;
        let policy = Policy::parse(anchored).expect("reads");
        let u = user("u", &[]);
        assert!(may_read(&policy, &u, "caveman"));
        assert!(!may_read(&policy, &u, "the-cave"));
        let anonymous = Identity {
            name: None,
            method: AuthMethod::Anonymous,
            roles: vec![],
        };
        assert!(!may_read(&policy, &anonymous, "caveman"));
    }

    #[test]
    fn karapace_errors_name_the_entry() {
        for (text, needle) in [
            (r#"{"users":[]}"#, "permissions"),
            (
                r#"{"users":[{"username":"u","algorithm":"md5","salt":"s","password_hash":"x"}],"permissions":[]}"#,
                "md5",
            ),
            (
                r#"{"users":[],"permissions":[{"username":"u","operation":"Delete","resource":".*"}]}"#,
                "Delete",
            ),
            (
                r#"{"users":[],"permissions":[{"username":"u","operation":"Read","resource":"(?=x)"}]}"#,
                "look-around",
            ),
        ] {
            let error = Policy::parse(text).expect_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    fn covenant(text: &str) -> Policy {
        Policy::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn built_in_roles() {
        let policy = covenant("");
        let admin = user("a", &["admin"]);
        let developer = user("d", &["developer"]);
        let readonly = user("r", &["readonly"]);
        let nobody = user("n", &[]);
        let s = subject(":.staging:orders");
        let ctx = ContextName::parse(".staging").expect("valid");
        for op in [
            Operation::Read,
            Operation::Write,
            Operation::Delete,
            Operation::Config,
            Operation::Mode,
            Operation::Import,
            Operation::Admin,
        ] {
            assert!(policy.permits(&admin, op, Resource::Subject(&s)));
            assert!(policy.permits(&admin, op, Resource::Scope(&Scope::Global)));
            assert!(policy.permits(&admin, op, Resource::Context(&ctx)));
            assert!(!policy.permits(&nobody, op, Resource::Subject(&s)));
        }
        for op in [
            Operation::Read,
            Operation::Write,
            Operation::Delete,
            Operation::Config,
        ] {
            assert!(
                policy.permits(&developer, op, Resource::Subject(&s)),
                "{op:?}"
            );
        }
        for op in [Operation::Mode, Operation::Import, Operation::Admin] {
            assert!(
                !policy.permits(&developer, op, Resource::Subject(&s)),
                "{op:?}"
            );
        }
        assert!(policy.permits(&developer, Operation::Read, Resource::Scope(&Scope::Global)));
        assert!(!policy.permits(
            &developer,
            Operation::Config,
            Resource::Scope(&Scope::Global)
        ));
        assert!(!policy.permits(
            &developer,
            Operation::Config,
            Resource::Scope(&Scope::Context(ctx.clone()))
        ));
        assert!(policy.permits(&readonly, Operation::Read, Resource::Subject(&s)));
        assert!(policy.permits(&readonly, Operation::Read, Resource::Registry));
        assert!(!policy.permits(&readonly, Operation::Write, Resource::Subject(&s)));
    }

    #[test]
    fn grant_shapes() {
        let policy = covenant(
            r#"
            [[grants]]
            role = "payments"
            operations = ["read", "write"]
            subjects = ["payments-*", "ledger-?"]

            [[grants]]
            principal = "carol"
            operations = ["*"]
            contexts = [".staging"]

            [[grants]]
            principal = "dave"
            operations = ["read"]
            subject_regex = "(orders|returns)-value"
            contexts = ["."]

            [[grants]]
            principal = "ops"
            operations = ["mode", "config", "read"]
            global = true
            "#,
        );
        let payments = user("p", &["payments"]);
        assert!(policy.permits(
            &payments,
            Operation::Write,
            Resource::Subject(&subject("payments-value"))
        ));
        assert!(policy.permits(
            &payments,
            Operation::Write,
            Resource::Subject(&subject(":.other:payments-value"))
        ));
        assert!(policy.permits(
            &payments,
            Operation::Read,
            Resource::Subject(&subject("ledger-1"))
        ));
        assert!(!policy.permits(
            &payments,
            Operation::Read,
            Resource::Subject(&subject("ledger-10"))
        ));
        assert!(!policy.permits(
            &payments,
            Operation::Delete,
            Resource::Subject(&subject("payments-value"))
        ));
        assert!(!policy.permits(
            &payments,
            Operation::Read,
            Resource::Subject(&subject("orders-value"))
        ));
        assert!(!policy.permits(&payments, Operation::Read, Resource::Scope(&Scope::Global)));

        let carol = user("carol", &[]);
        let staging = ContextName::parse(".staging").expect("valid");
        assert!(policy.permits(
            &carol,
            Operation::Delete,
            Resource::Subject(&subject(":.staging:x"))
        ));
        assert!(policy.permits(
            &carol,
            Operation::Config,
            Resource::Scope(&Scope::Context(staging.clone()))
        ));
        assert!(policy.permits(&carol, Operation::Admin, Resource::Context(&staging)));
        assert!(!policy.permits(&carol, Operation::Read, Resource::Subject(&subject("x"))));
        assert!(!policy.permits(&carol, Operation::Read, Resource::Scope(&Scope::Global)));

        let dave = user("dave", &[]);
        assert!(policy.permits(
            &dave,
            Operation::Read,
            Resource::Subject(&subject("orders-value"))
        ));
        assert!(!policy.permits(
            &dave,
            Operation::Read,
            Resource::Subject(&subject("orders-value-x"))
        ));
        assert!(!policy.permits(
            &dave,
            Operation::Read,
            Resource::Subject(&subject(":.staging:orders-value"))
        ));

        let ops = user("ops", &[]);
        assert!(policy.permits(&ops, Operation::Mode, Resource::Scope(&Scope::Global)));
        assert!(!policy.permits(&ops, Operation::Read, Resource::Subject(&subject("x"))));
        // A grant to one principal is not a grant to another of the same role.
        let other = user("other", &[]);
        assert!(!policy.permits(
            &other,
            Operation::Read,
            Resource::Subject(&subject(":.staging:x"))
        ));
    }

    #[test]
    fn file_errors_name_the_problem() {
        for (text, needle) in [
            ("anonymous = \"sometimes\"", "sometimes"),
            ("[[users]]\nname = \"a\"\npassword_hash = \"hunter2\"", "argon2"),
            ("[[users]]\nname = \"a\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\nroles = [\"wizard\"]", "wizard"),
            ("[[grants]]\nrole = \"r\"\noperations = [\"fly\"]\nglobal = true", "fly"),
            ("[[grants]]\nrole = \"r\"\noperations = [\"read\"]", "names what it covers"),
            ("[[grants]]\nrole = \"admin\"\noperations = [\"read\"]\nglobal = true", "built-in"),
            ("[[grants]]\nprincipal = \"p\"\nrole = \"r\"\noperations = [\"read\"]\nglobal = true", "exactly one"),
            ("[[api_keys]]\nname = \"k\"\nkey_hash = \"md5:00\"", "sha256"),
            ("[oidc]\nissuer = \"i\"\naudience = \"a\"", "jwks"),
            ("[oidc]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"http://idp.example.com/certs\"", "https"),
            ("colour = \"blue\"", "colour"),
        ] {
            let error = Policy::parse(text).expect_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn anonymous_and_bindings() {
        let policy = covenant(
            "anonymous = \"read\"\n[[principals]]\nname = \"CN=ci\"\nroles = [\"developer\"]",
        );
        assert_eq!(
            policy.roles_of(AuthMethod::Anonymous, None, &[]),
            ["readonly"]
        );
        assert_eq!(
            policy.roles_of(AuthMethod::Mtls, Some("CN=ci"), &[]),
            ["developer"]
        );
        assert!(policy
            .roles_of(AuthMethod::Mtls, Some("CN=other"), &[])
            .is_empty());
    }
}
