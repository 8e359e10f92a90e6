//! Field-level (`ENCRYPT`) and payload (`ENCRYPT_PAYLOAD`) encryption, interoperable with
//! Confluent's clients byte for byte:
//!
//! - A DEK's key material is the serialized Tink key proto: `AesGcmKey` (`1A <len> <key>`) for
//!   AES128_GCM / AES256_GCM, `AesSivKey` (`12 40 <64-byte key>`) for AES256_SIV. Ciphertexts
//!   are Tink RAW (no key prefix) with empty associated data: AES-GCM `nonce(12) ‖ ct ‖
//!   tag(16)`, AES-SIV (RFC 5297, one empty associated-data component) `siv(16) ‖ ct`.
//! - With `encrypt.dek.expiry.days` > 0, DEKs rotate: each ciphertext starts with `00` and the
//!   DEK's version (4 bytes, big-endian), and a writer whose latest DEK is older than the expiry
//!   registers the next version.
//! - Encrypted strings are stored as base64 (standard, padded); bytes as the raw ciphertext.
//! - DEKs come from the registry's DEK registry, created there when missing (the key made here
//!   and wrapped by the KEK's KMS, unless the KEK is shared, when the registry makes it), and
//!   are kept in a key ring; the KEK is registered (not shared) on first use by a writer.
//! - The local KMS (`local-kms`) wraps keys with AES-128-GCM under HKDF-SHA256 of a secret
//!   (salt of 32 zero bytes, empty info, 16 bytes), as Confluent's clients do; the secret is
//!   the `secret` rule parameter or the `LOCAL_SECRET` environment variable.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use covenant_core::api::{CreateDekRequest, CreateKekRequest, Dek, Kek};
use covenant_core::contract::{Metadata, Rule};
use parking_lot::RwLock;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::field::{Field, FieldType, Scalar, TagPatterns};
use super::values::Visitor;
use super::{Compiled, Failure, Mode, RuleConfig, RuleError};
use crate::rest::Client;

/// A DEK's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DekAlgorithm {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM (the default).
    Aes256Gcm,
    /// AES-256-SIV: deterministic, so equal values encrypt equally (joins, lookups).
    Aes256Siv,
}

impl DekAlgorithm {
    /// The name the DEK registry uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DekAlgorithm::Aes128Gcm => "AES128_GCM",
            DekAlgorithm::Aes256Gcm => "AES256_GCM",
            DekAlgorithm::Aes256Siv => "AES256_SIV",
        }
    }

    /// Reads the name.
    pub fn parse(name: &str) -> Option<DekAlgorithm> {
        match name {
            "AES128_GCM" => Some(DekAlgorithm::Aes128Gcm),
            "AES256_GCM" => Some(DekAlgorithm::Aes256Gcm),
            "AES256_SIV" => Some(DekAlgorithm::Aes256Siv),
            _ => None,
        }
    }

    /// The serialized Tink key proto of a new random key.
    pub fn generate(self) -> Result<Vec<u8>, String> {
        let (tag, length) = match self {
            DekAlgorithm::Aes128Gcm => (0x1a, 16),
            DekAlgorithm::Aes256Gcm => (0x1a, 32),
            DekAlgorithm::Aes256Siv => (0x12, 64),
        };
        let mut key = vec![0u8; length];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| "no randomness for a new key".to_string())?;
        let mut proto = Vec::with_capacity(length + 2);
        proto.push(tag);
        proto.push(length as u8);
        proto.extend_from_slice(&key);
        Ok(proto)
    }
}

/// The key bytes of a serialized Tink `AesGcmKey` / `AesSivKey`: field `version` (1) may be
/// present, `key_value` is field 3 (GCM) or 2 (SIV).
fn key_value(algorithm: DekAlgorithm, proto: &[u8]) -> Result<&[u8], String> {
    let (field, length) = match algorithm {
        DekAlgorithm::Aes128Gcm => (3, 16),
        DekAlgorithm::Aes256Gcm => (3, 32),
        DekAlgorithm::Aes256Siv => (2, 64),
    };
    let mut rest = proto;
    let mut found = None;
    while let Some((&tag, tail)) = rest.split_first() {
        let number = tag >> 3;
        match tag & 7 {
            0 => {
                // A varint (the key's version).
                let end = tail
                    .iter()
                    .position(|b| b & 0x80 == 0)
                    .ok_or("a truncated key")?;
                rest = &tail[end + 1..];
            }
            2 => {
                let (&len, tail) = tail.split_first().ok_or("a truncated key")?;
                if len & 0x80 != 0 || tail.len() < usize::from(len) {
                    return Err("a malformed key".into());
                }
                let (value, tail) = tail.split_at(usize::from(len));
                if number == field {
                    found = Some(value);
                }
                rest = tail;
            }
            _ => return Err("a malformed key".into()),
        }
    }
    match found {
        Some(value) if value.len() == length => Ok(value),
        Some(value) => Err(format!(
            "a {}-byte key for {} (expected {length})",
            value.len(),
            algorithm.as_str()
        )),
        None => Err(format!("no key in the {} key material", algorithm.as_str())),
    }
}

/// A DEK ready to use.
pub(crate) struct Cipher {
    algorithm: DekAlgorithm,
    gcm: Option<LessSafeKey>,
    siv: Option<Vec<u8>>,
}

impl Cipher {
    /// From a serialized Tink key proto.
    pub fn new(algorithm: DekAlgorithm, proto: &[u8]) -> Result<Cipher, String> {
        let key = key_value(algorithm, proto)?;
        Ok(match algorithm {
            DekAlgorithm::Aes128Gcm | DekAlgorithm::Aes256Gcm => {
                let which = if algorithm == DekAlgorithm::Aes128Gcm {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let unbound = UnboundKey::new(which, key).map_err(|_| "an unusable key")?;
                Cipher {
                    algorithm,
                    gcm: Some(LessSafeKey::new(unbound)),
                    siv: None,
                }
            }
            DekAlgorithm::Aes256Siv => Cipher {
                algorithm,
                gcm: None,
                siv: Some(key.to_vec()),
            },
        })
    }

    /// Encrypts with empty associated data.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        match (&self.gcm, &self.siv) {
            (Some(key), _) => gcm_seal(key, plaintext),
            (None, Some(key)) => {
                use aes_siv::KeyInit as _;
                let mut siv = aes_siv::siv::Aes256Siv::new_from_slice(key)
                    .map_err(|_| "an unusable AES-SIV key".to_string())?;
                siv.encrypt([&[][..]], plaintext)
                    .map_err(|_| "AES-SIV encryption failed".to_string())
            }
            (None, None) => Err("no key".into()),
        }
    }

    /// Decrypts what [`Cipher::encrypt`] made (or Confluent's clients).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        match (&self.gcm, &self.siv) {
            (Some(key), _) => gcm_open(key, ciphertext),
            (None, Some(key)) => {
                use aes_siv::KeyInit as _;
                let mut siv = aes_siv::siv::Aes256Siv::new_from_slice(key)
                    .map_err(|_| "an unusable AES-SIV key".to_string())?;
                siv.decrypt([&[][..]], ciphertext).map_err(|_| {
                    format!(
                        "the ciphertext does not decrypt with this {} key",
                        self.algorithm.as_str()
                    )
                })
            }
            (None, None) => Err("no key".into()),
        }
    }
}

fn gcm_seal(key: &LessSafeKey, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; 12];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "no randomness for a nonce".to_string())?;
    let mut out = Vec::with_capacity(12 + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut out[12..],
        )
        .map_err(|_| "AES-GCM encryption failed".to_string())?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn gcm_open(key: &LessSafeKey, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
    if ciphertext.len() < 12 + 16 {
        return Err(format!(
            "a {}-byte ciphertext is too short for AES-GCM",
            ciphertext.len()
        ));
    }
    let (nonce, sealed) = ciphertext.split_at(12);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "a bad nonce".to_string())?;
    let mut buffer = sealed.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buffer)
        .map_err(|_| "the ciphertext does not decrypt with this key".to_string())?;
    let length = plain.len();
    buffer.truncate(length);
    Ok(buffer)
}

/// A boxed future, for KMS drivers that call out.
pub type KmsFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// A KMS that wraps and unwraps DEKs under KEKs of one type (`local-kms`, `aws-kms`, ...).
pub trait KmsDriver: Send + Sync {
    /// The KEKs' `kmsType` it serves.
    fn kms_type(&self) -> &str;
    /// Encrypts a DEK's key material under the KEK `key_id`.
    fn wrap<'a>(&'a self, kek: &'a Kek, plaintext: &'a [u8]) -> KmsFuture<'a>;
    /// Decrypts what [`KmsDriver::wrap`] made.
    fn unwrap<'a>(&'a self, kek: &'a Kek, ciphertext: &'a [u8]) -> KmsFuture<'a>;
}

/// The local KMS: AES-128-GCM under HKDF-SHA256 of a secret. The key id does not enter the
/// construction (as in Confluent's clients).
pub struct LocalKms {
    key: LessSafeKey,
}

impl fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKms { .. }")
    }
}

impl LocalKms {
    /// The KMS of a secret.
    pub fn new(secret: &str) -> LocalKms {
        struct Len16;
        impl ring::hkdf::KeyType for Len16 {
            fn len(&self) -> usize {
                16
            }
        }
        let prk =
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[0u8; 32]).extract(secret.as_bytes());
        let mut key = [0u8; 16];
        // Expanding 16 bytes of SHA-256 cannot fail.
        if let Ok(okm) = prk.expand(&[b""], Len16) {
            let _ = okm.fill(&mut key);
        }
        let unbound = UnboundKey::new(&aead::AES_128_GCM, &key);
        LocalKms {
            key: LessSafeKey::new(unbound.unwrap_or_else(|_| {
                // A 16-byte key is always an AES-128 key.
                unreachable_key()
            })),
        }
    }
}

#[allow(clippy::unwrap_used)]
fn unreachable_key() -> UnboundKey {
    UnboundKey::new(&aead::AES_128_GCM, &[0u8; 16]).unwrap()
}

impl KmsDriver for LocalKms {
    fn kms_type(&self) -> &str {
        "local-kms"
    }

    fn wrap<'a>(&'a self, _: &'a Kek, plaintext: &'a [u8]) -> KmsFuture<'a> {
        Box::pin(async move { gcm_seal(&self.key, plaintext) })
    }

    fn unwrap<'a>(&'a self, _: &'a Kek, ciphertext: &'a [u8]) -> KmsFuture<'a> {
        Box::pin(async move {
            gcm_open(&self.key, ciphertext)
                .map_err(|_| "the local KMS cannot unwrap the DEK: is the secret the one it was wrapped with?".to_string())
        })
    }
}

/// A DEK a rule needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyRequest {
    pub kek: String,
    pub subject: String,
    pub algorithm: DekAlgorithm,
    /// `None`: the latest (for writing).
    pub version: Option<i32>,
    /// The rule, for errors.
    pub rule: String,
}

impl fmt::Display for KeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DEK of KEK `{}` for subject `{}` ({}, ",
            self.kek,
            self.subject,
            self.algorithm.as_str()
        )?;
        match self.version {
            Some(v) => write!(f, "version {v})"),
            None => f.write_str("latest)"),
        }
    }
}

type RingKey = (String, String, DekAlgorithm, i32);

struct Held {
    version: i32,
    /// When the registry wrote it (ms), for expiry.
    ts: i64,
    cipher: Arc<Cipher>,
}

/// The DEKs a client holds, by (KEK, subject, algorithm, version); `-1` is the latest.
#[derive(Default)]
pub(crate) struct KeyRing {
    keys: RwLock<HashMap<RingKey, Arc<Held>>>,
    keks: RwLock<HashMap<String, Kek>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn expired(ts: i64, expiry_days: u32) -> bool {
    expiry_days > 0 && (now_ms() - ts) as f64 / 86_400_000.0 > f64::from(expiry_days)
}

impl KeyRing {
    fn get(&self, request: &KeyRequest) -> Option<Arc<Held>> {
        self.keys
            .read()
            .get(&(
                request.kek.clone(),
                request.subject.clone(),
                request.algorithm,
                request.version.unwrap_or(-1),
            ))
            .cloned()
    }

    /// Holds a DEK (version `version`, written at `ts`), also as the latest when the request
    /// is for the latest.
    pub fn insert(&self, request: &KeyRequest, version: i32, ts: i64, cipher: Cipher) {
        let held = Arc::new(Held {
            version,
            ts,
            cipher: Arc::new(cipher),
        });
        let mut keys = self.keys.write();
        let key = |version| {
            (
                request.kek.clone(),
                request.subject.clone(),
                request.algorithm,
                version,
            )
        };
        keys.insert(key(version), Arc::clone(&held));
        if request.version.is_none() {
            keys.insert(key(-1), held);
        }
    }

    /// Whether the ring holds what the request asks for (fresh, for the latest).
    pub fn holds(&self, request: &KeyRequest, expiry_days: u32) -> bool {
        self.get(request)
            .is_some_and(|held| request.version.is_some() || !expired(held.ts, expiry_days))
    }

    /// Fetches (or, for a writer, creates) the DEK a rule asked for.
    pub async fn fetch(
        &self,
        client: &Client,
        config: &RuleConfig,
        rule: &EncryptRule,
        request: &KeyRequest,
        mode: Mode,
    ) -> Result<(), String> {
        let reading = mode == Mode::Read;
        let kek = self.kek(client, rule, reading).await?;
        let version = request.version.unwrap_or(-1);
        let found = match client
            .dek(
                &kek.name,
                &request.subject,
                version,
                request.algorithm.as_str(),
                reading,
            )
            .await
        {
            Ok(dek) if dek.encrypted_key_material.is_some() || dek.key_material.is_some() => {
                Some(dek)
            }
            Ok(_) => None,
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                return Err(format!(
                    "could not get the DEK of KEK `{}` for subject `{}`: {e}",
                    kek.name, request.subject
                ))
            }
        };
        let stale = found.as_ref().is_some_and(|dek| {
            !reading && request.version.is_none() && expired(dek.ts, rule.expiry_days)
        });
        let dek = match found {
            Some(dek) if !stale => dek,
            previous => {
                if reading {
                    return Err(format!(
                        "no DEK of KEK `{}` for subject `{}` ({})",
                        kek.name,
                        request.subject,
                        request
                            .version
                            .map_or("latest".to_string(), |v| format!("version {v}"))
                    ));
                }
                let next = previous.as_ref().map_or(1, |d| d.version + 1);
                match self.create(client, config, &kek, request, next).await {
                    Ok(dek) => dek,
                    // Rotation failed: the expired DEK still encrypts (as Confluent's clients do).
                    Err(e) => match previous {
                        Some(previous) => previous,
                        None => return Err(e),
                    },
                }
            }
        };
        let material = match (&dek.key_material, &dek.encrypted_key_material) {
            (Some(plain), _) => STANDARD
                .decode(plain)
                .map_err(|_| "the DEK's key material is not base64".to_string())?,
            (None, Some(wrapped)) => {
                let wrapped = STANDARD
                    .decode(wrapped)
                    .map_err(|_| "the DEK's encrypted key material is not base64".to_string())?;
                driver(config, &kek)?.unwrap(&kek, &wrapped).await?
            }
            (None, None) => return Err("the DEK has no key material".into()),
        };
        let cipher = Cipher::new(request.algorithm, &material)?;
        self.insert(request, dek.version, dek.ts, cipher);
        Ok(())
    }

    async fn kek(&self, client: &Client, rule: &EncryptRule, reading: bool) -> Result<Kek, String> {
        if let Some(kek) = self.keks.read().get(&rule.kek_name) {
            return Ok(kek.clone());
        }
        let kek = match client.kek(&rule.kek_name, false).await {
            Ok(kek) => kek,
            Err(e) if e.is_not_found() => {
                if reading {
                    return Err(format!("no KEK `{}` in the registry", rule.kek_name));
                }
                let (Some(kms_type), Some(kms_key_id)) = (&rule.kms_type, &rule.kms_key_id) else {
                    return Err(format!(
                        "no KEK `{}` in the registry, and the rule names no encrypt.kms.type and encrypt.kms.key.id to register it with",
                        rule.kek_name
                    ));
                };
                let request = CreateKekRequest {
                    name: Some(rule.kek_name.clone()),
                    kms_type: Some(kms_type.clone()),
                    kms_key_id: Some(kms_key_id.clone()),
                    shared: false,
                    ..CreateKekRequest::default()
                };
                match client.create_kek(&request).await {
                    Ok(kek) => kek,
                    Err(crate::Error::Registry { status: 409, .. }) => client
                        .kek(&rule.kek_name, false)
                        .await
                        .map_err(|e| format!("could not get KEK `{}`: {e}", rule.kek_name))?,
                    Err(e) => {
                        return Err(format!("could not register KEK `{}`: {e}", rule.kek_name))
                    }
                }
            }
            Err(e) => return Err(format!("could not get KEK `{}`: {e}", rule.kek_name)),
        };
        if let Some(kms_type) = rule.kms_type.as_ref().filter(|t| **t != kek.kms_type) {
            return Err(format!(
                "KEK `{}` has kms type `{}`, the rule says `{kms_type}`",
                kek.name, kek.kms_type
            ));
        }
        if let Some(key_id) = rule.kms_key_id.as_ref().filter(|k| **k != kek.kms_key_id) {
            return Err(format!(
                "KEK `{}` has kms key id `{}`, the rule says `{key_id}`",
                kek.name, kek.kms_key_id
            ));
        }
        self.keks.write().insert(rule.kek_name.clone(), kek.clone());
        Ok(kek)
    }

    async fn create(
        &self,
        client: &Client,
        config: &RuleConfig,
        kek: &Kek,
        request: &KeyRequest,
        version: i32,
    ) -> Result<Dek, String> {
        let wrapped = if kek.shared {
            // The registry makes the key for a shared KEK.
            None
        } else {
            let material = request.algorithm.generate()?;
            Some(STANDARD.encode(driver(config, kek)?.wrap(kek, &material).await?))
        };
        let body = CreateDekRequest {
            subject: Some(request.subject.clone()),
            version: Some(i64::from(version)),
            algorithm: Some(request.algorithm.as_str().to_string()),
            encrypted_key_material: wrapped,
            deleted: false,
        };
        match client.create_dek(&kek.name, &request.subject, &body).await {
            Ok(dek) => Ok(dek),
            // Another writer made it first: use theirs.
            Err(crate::Error::Registry { status: 409, .. }) => client
                .dek(
                    &kek.name,
                    &request.subject,
                    version,
                    request.algorithm.as_str(),
                    false,
                )
                .await
                .map_err(|e| format!("could not get the DEK another writer registered: {e}")),
            Err(e) => Err(format!(
                "could not register a DEK of KEK `{}` for subject `{}`: {e}",
                kek.name, request.subject
            )),
        }
    }
}

/// The KMS driver for a KEK: one the application added, else the local KMS with the
/// configured secret.
fn driver(config: &RuleConfig, kek: &Kek) -> Result<Arc<dyn KmsDriver>, String> {
    if let Some(found) = config.kms.iter().find(|d| d.kms_type() == kek.kms_type) {
        return Ok(Arc::clone(found));
    }
    if kek.kms_type == "local-kms" {
        let secret = config
            .params
            .get("secret")
            .cloned()
            .or_else(|| std::env::var("LOCAL_SECRET").ok())
            .ok_or("the local KMS needs a secret: the `secret` rule parameter or LOCAL_SECRET")?;
        return Ok(Arc::new(LocalKms::new(&secret)));
    }
    Err(format!(
        "no KMS driver for KEK `{}` of type `{}` (add one with RuleConfig::kms)",
        kek.name, kek.kms_type
    ))
}

/// An encryption rule's parameters, read when it is compiled.
pub(crate) struct EncryptRule {
    pub kek_name: String,
    pub kms_type: Option<String>,
    pub kms_key_id: Option<String>,
    pub algorithm: DekAlgorithm,
    pub expiry_days: u32,
    label: String,
}

impl EncryptRule {
    /// Reads a rule's parameters; a parameter the rule does not set is read from the schema's
    /// metadata properties, as Confluent's clients read it.
    pub fn new(rule: &Rule, metadata: Option<&Metadata>) -> Result<EncryptRule, String> {
        let param = |name: &str| match rule.params.get(name) {
            Some(value) => value.clone(),
            None => metadata.and_then(|m| m.property(name)).map(str::to_string),
        };
        let kek_name = param("encrypt.kek.name").ok_or("no encrypt.kek.name parameter")?;
        if kek_name.is_empty() {
            return Err("an empty encrypt.kek.name".into());
        }
        let algorithm = match param("encrypt.dek.algorithm") {
            None => DekAlgorithm::Aes256Gcm,
            Some(name) => DekAlgorithm::parse(&name).ok_or_else(|| {
                format!(
                    "unknown encrypt.dek.algorithm `{name}` (AES128_GCM, AES256_GCM or AES256_SIV)"
                )
            })?,
        };
        let expiry_days = match param("encrypt.dek.expiry.days") {
            None => 0,
            Some(days) => {
                let days: i64 = days
                    .trim()
                    .parse()
                    .map_err(|_| format!("encrypt.dek.expiry.days `{days}` is not a number"))?;
                u32::try_from(days).map_err(|_| "a negative encrypt.dek.expiry.days".to_string())?
            }
        };
        Ok(EncryptRule {
            kek_name,
            kms_type: param("encrypt.kms.type"),
            kms_key_id: param("encrypt.kms.key.id"),
            algorithm,
            expiry_days,
            label: rule.name.clone().unwrap_or_default(),
        })
    }

    fn request(&self, subject: &str, version: Option<i32>) -> KeyRequest {
        KeyRequest {
            kek: self.kek_name.clone(),
            subject: subject.to_string(),
            algorithm: self.algorithm,
            version,
            rule: self.label.clone(),
        }
    }

    /// The DEK a writer encrypts with.
    pub fn latest_request(&self, subject: &str) -> KeyRequest {
        self.request(subject, None)
    }

    fn rotates(&self) -> bool {
        self.expiry_days > 0
    }

    /// Encrypts (write) or decrypts (read) bytes.
    fn apply(
        &self,
        mode: Mode,
        data: &[u8],
        keys: &KeyRing,
        subject: &str,
    ) -> Result<Vec<u8>, Failure> {
        match mode {
            Mode::Write => {
                let request = self.latest_request(subject);
                if !keys.holds(&request, self.expiry_days) {
                    return Err(Failure::NeedKey(request));
                }
                let held = keys
                    .get(&request)
                    .ok_or_else(|| Failure::NeedKey(request.clone()))?;
                let sealed = held.cipher.encrypt(data).map_err(Failure::failed)?;
                if self.rotates() {
                    let mut out = Vec::with_capacity(5 + sealed.len());
                    out.push(0);
                    out.extend_from_slice(&held.version.to_be_bytes());
                    out.extend_from_slice(&sealed);
                    Ok(out)
                } else {
                    Ok(sealed)
                }
            }
            Mode::Read => {
                let (version, sealed) = if self.rotates() {
                    if data.len() < 5 {
                        return Err(Failure::failed("no DEK version in the ciphertext"));
                    }
                    let mut version = [0u8; 4];
                    version.copy_from_slice(&data[1..5]);
                    (i32::from_be_bytes(version), &data[5..])
                } else {
                    (1, data)
                };
                let request = self.request(subject, Some(version));
                let held = keys.get(&request).ok_or(Failure::NeedKey(request))?;
                held.cipher.decrypt(sealed).map_err(Failure::failed)
            }
            other => Err(Failure::failed(format!(
                "encryption does not run on {other}"
            ))),
        }
    }

    /// ENCRYPT_PAYLOAD on an encoded payload.
    pub fn payload(
        &self,
        mode: Mode,
        payload: &[u8],
        keys: &KeyRing,
        subject: &str,
    ) -> Result<Vec<u8>, Failure> {
        self.apply(mode, payload, keys, subject)
    }
}

/// ENCRYPT at each field it selects.
pub(crate) struct FieldVisitor<'a> {
    rule: &'a EncryptRule,
    compiled: &'a Compiled,
    tags: &'a TagPatterns,
    mode: Mode,
    keys: &'a KeyRing,
    subject: &'a str,
}

impl<'a> FieldVisitor<'a> {
    pub fn new(
        rule: &'a EncryptRule,
        compiled: &'a Compiled,
        tags: &'a TagPatterns,
        mode: Mode,
        keys: &'a KeyRing,
        subject: &'a str,
    ) -> FieldVisitor<'a> {
        FieldVisitor {
            rule,
            compiled,
            tags,
            mode,
            keys,
            subject,
        }
    }
}

impl Visitor for FieldVisitor<'_> {
    fn wants(&self, field: &Field<'_>) -> bool {
        self.tags.selects(&self.compiled.rule.tags, field)
    }

    fn needs_message(&self) -> bool {
        false
    }

    fn visit(
        &mut self,
        field: &Field<'_>,
        _: Option<&cel::Value>,
        value: &mut Scalar,
    ) -> Result<(), Failure> {
        if *value == Scalar::Null {
            return Ok(());
        }
        match (self.mode, field.field_type, &*value) {
            (Mode::Write, FieldType::String, Scalar::String(text)) => {
                let sealed =
                    self.rule
                        .apply(Mode::Write, text.as_bytes(), self.keys, self.subject)?;
                *value = Scalar::String(STANDARD.encode(sealed));
                Ok(())
            }
            (Mode::Write, FieldType::Bytes, Scalar::Bytes(bytes)) => {
                *value =
                    Scalar::Bytes(
                        self.rule
                            .apply(Mode::Write, bytes, self.keys, self.subject)?,
                    );
                Ok(())
            }
            (Mode::Write, other, _) => Err(Failure::failed(format!(
                "a {} field cannot be encrypted (only STRING and BYTES)",
                other.name()
            ))),
            (Mode::Read, FieldType::String, Scalar::String(text)) => {
                let sealed = STANDARD
                    .decode(text)
                    .map_err(|_| Failure::failed("the encrypted field is not base64"))?;
                let plain = self
                    .rule
                    .apply(Mode::Read, &sealed, self.keys, self.subject)?;
                *value = Scalar::String(
                    String::from_utf8(plain)
                        .map_err(|_| Failure::failed("the decrypted field is not UTF-8"))?,
                );
                Ok(())
            }
            (Mode::Read, FieldType::Bytes, Scalar::Bytes(bytes)) => {
                *value =
                    Scalar::Bytes(
                        self.rule
                            .apply(Mode::Read, bytes, self.keys, self.subject)?,
                    );
                Ok(())
            }
            // Other types are left as they are on read, as in Confluent's clients.
            (Mode::Read, _, _) => Ok(()),
            (other, _, _) => Err(Failure::failed(format!(
                "encryption does not run on {other}"
            ))),
        }
    }
}

/// A rule error for a key that could not be fetched.
pub(crate) fn key_error(compiled: &Compiled, mode: Mode, reason: String) -> RuleError {
    RuleError {
        rule: compiled.label.clone(),
        rule_type: compiled.rule.rule_type.clone().unwrap_or_default(),
        mode,
        field: None,
        expr: None,
        reason,
        dead_lettered: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The vectors of Confluent's Python client tests (secret `mysecret`): its wrapped DEK
    /// unwraps with our local KMS to the key proto it holds.
    #[tokio::test]
    async fn confluents_local_kms_vector_unwraps() {
        let kms = LocalKms::new("mysecret");
        let kek = Kek {
            name: "kek1".into(),
            kms_type: "local-kms".into(),
            kms_key_id: "mykey".into(),
            kms_props: Default::default(),
            doc: None,
            shared: false,
            ts: 0,
            deleted: None,
        };
        let wrapped = STANDARD
            .decode("07V2ndh02DA73p+dTybwZFm7DKQSZN1tEwQh+FoX1DZLk4Yj2LLu4omYjp/84tAg3BYlkfGSz+zZacJHIE4=")
            .expect("base64");
        let plain = kms.unwrap(&kek, &wrapped).await.expect("unwraps");
        assert_eq!(
            plain,
            hex("1a2041e5234c24a6a4f85b1d8237e99a12df8722f0c21837556acd0ec7adde5869cf")
        );
        let rewrapped = kms.wrap(&kek, &plain).await.expect("wraps");
        assert_eq!(
            kms.unwrap(&kek, &rewrapped).await.expect("round trip"),
            plain
        );
        assert!(LocalKms::new("other").unwrap(&kek, &wrapped).await.is_err());
    }

    /// Confluent's Python client's AES-SIV vector (`test_avro_encryption_deterministic_f1_
    /// preserialized`): its DEK unwraps with the local KMS, its field decrypts, and encrypting
    /// the plaintext again gives the very same bytes.
    #[tokio::test]
    async fn confluents_aes_siv_vector_decrypts_and_reencrypts_identically() {
        let kek = Kek {
            name: "kek1-det-f1".into(),
            kms_type: "local-kms".into(),
            kms_key_id: "mykey".into(),
            kms_props: Default::default(),
            doc: None,
            shared: false,
            ts: 0,
            deleted: None,
        };
        let wrapped = STANDARD
            .decode("YSx3DTlAHrmpoDChquJMifmPntBzxgRVdMzgYL82rgWBKn7aUSnG+WIu9ozBNS3y2vXd++mBtK07w4/W/G6w0da39X9hfOVZsGnkSvry/QRht84V8yz3dqKxGMOK5A==")
            .expect("base64");
        let proto = LocalKms::new("mysecret")
            .unwrap(&kek, &wrapped)
            .await
            .expect("unwraps");
        assert_eq!(
            &proto[..2],
            &[0x12, 0x40],
            "an AesSivKey with a 64-byte key"
        );
        let cipher = Cipher::new(DekAlgorithm::Aes256Siv, &proto).expect("cipher");
        // The Avro string of the payload after its 5-byte header and length byte.
        let field = "D6YtxrlBnkTWW9N6Vbk3IInjWH81xmYh3k4d";
        let sealed = STANDARD.decode(field).expect("base64");
        assert_eq!(cipher.decrypt(&sealed).expect("decrypts"), b"hello world");
        assert_eq!(
            STANDARD.encode(cipher.encrypt(b"hello world").expect("seals")),
            field
        );
    }

    #[test]
    fn every_algorithm_round_trips_and_siv_is_deterministic() {
        for algorithm in [
            DekAlgorithm::Aes128Gcm,
            DekAlgorithm::Aes256Gcm,
            DekAlgorithm::Aes256Siv,
        ] {
            let key = algorithm.generate().expect("key");
            let cipher = Cipher::new(algorithm, &key).expect("cipher");
            let sealed = cipher.encrypt(b"hello world").expect("seals");
            assert_eq!(cipher.decrypt(&sealed).expect("opens"), b"hello world");
            let again = cipher.encrypt(b"hello world").expect("seals");
            assert_eq!(
                algorithm == DekAlgorithm::Aes256Siv,
                sealed == again,
                "{algorithm:?}"
            );
            let expected = match algorithm {
                DekAlgorithm::Aes256Siv => 16 + 11,
                _ => 12 + 11 + 16,
            };
            assert_eq!(sealed.len(), expected);
            let mut tampered = sealed.clone();
            tampered[sealed.len() - 1] ^= 1;
            assert!(cipher.decrypt(&tampered).is_err());
        }
        assert!(Cipher::new(DekAlgorithm::Aes256Gcm, &[0x1a, 0x02, 1, 2]).is_err());
        assert!(Cipher::new(DekAlgorithm::Aes256Siv, b"").is_err());
    }
}
