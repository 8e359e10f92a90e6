//! Key management for the DEK registry: the DEK algorithms and key formats Confluent's clients
//! use (a serialized Tink key proto), and the KMS drivers that wrap and unwrap DEKs for shared
//! KEKs. Covenant ships the local KMS (`local-kms`), the construction Confluent's clients use for
//! `local-kms://` keys: AES-128-GCM under a key derived by HKDF-SHA256 from a secret, here the
//! server's `local_kms_secret`. Cloud KMS drivers plug in behind [`KmsDriver`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// A DEK's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DekAlgorithm {
    /// AES-128 in GCM mode.
    Aes128Gcm,
    /// AES-256 in GCM mode (the default).
    Aes256Gcm,
    /// AES-256 in SIV mode (deterministic).
    Aes256Siv,
}

impl DekAlgorithm {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DekAlgorithm::Aes128Gcm => "AES128_GCM",
            DekAlgorithm::Aes256Gcm => "AES256_GCM",
            DekAlgorithm::Aes256Siv => "AES256_SIV",
        }
    }

    /// A new key: the serialized Tink key proto Confluent's clients read (`AesGcmKey` with the
    /// key in field 3, `AesSivKey` with a 64-byte key in field 2).
    pub fn generate(self, random: &dyn SecureRandom) -> Result<Vec<u8>, KmsError> {
        let (tag, length) = match self {
            DekAlgorithm::Aes128Gcm => (0x1a, 16),
            DekAlgorithm::Aes256Gcm => (0x1a, 32),
            DekAlgorithm::Aes256Siv => (0x12, 64),
        };
        let mut key = vec![0u8; length];
        random
            .fill(&mut key)
            .map_err(|_| KmsError::Failed("no randomness for a new key".into()))?;
        let mut proto = Vec::with_capacity(length + 2);
        proto.push(tag);
        proto.push(length as u8);
        proto.extend_from_slice(&key);
        Ok(proto)
    }
}

impl FromStr for DekAlgorithm {
    type Err = String;

    fn from_str(name: &str) -> Result<DekAlgorithm, String> {
        match name {
            "AES128_GCM" => Ok(DekAlgorithm::Aes128Gcm),
            "AES256_GCM" => Ok(DekAlgorithm::Aes256Gcm),
            "AES256_SIV" => Ok(DekAlgorithm::Aes256Siv),
            other => Err(format!(
                "unknown DEK algorithm `{other}` (expected AES128_GCM, AES256_GCM or AES256_SIV)"
            )),
        }
    }
}

impl fmt::Display for DekAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a KMS could not wrap or unwrap a key.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The KMS refused access (403/40370).
    #[error("{0}")]
    AccessDenied(String),
    /// Anything else (500/50070).
    #[error("{0}")]
    Failed(String),
    /// The registry has no driver for the KEK's KMS type (422): the request, not the registry,
    /// is what cannot be served.
    #[error("{0}")]
    Unsupported(String),
}

/// A KMS that wraps DEKs under a KEK.
pub trait KmsDriver: Send + Sync {
    /// Encrypts `plaintext` (a DEK) under the KEK `key_id` with `props`.
    fn wrap(
        &self,
        key_id: &str,
        props: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError>;
    /// Decrypts what [`KmsDriver::wrap`] made.
    fn unwrap(
        &self,
        key_id: &str,
        props: &BTreeMap<String, String>,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, KmsError>;
}

/// The local KMS: AES-128-GCM (12-byte IV, 16-byte tag, no associated data) under
/// `HKDF-SHA256(secret, salt = 32 zero bytes, info = "", 16 bytes)`. The key id does not enter
/// the construction (as in Confluent's clients); it only decides, when the operator lists the
/// ids the secret may serve, whether the KMS serves the KEK at all.
pub struct LocalKms {
    key: LessSafeKey,
    random: SystemRandom,
    allowed: Option<std::collections::BTreeSet<String>>,
}

impl LocalKms {
    /// The local KMS of `secret`.
    pub fn new(secret: &str) -> LocalKms {
        struct Len16;
        impl ring::hkdf::KeyType for Len16 {
            fn len(&self) -> usize {
                16
            }
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[0u8; 32]);
        let mut key = [0u8; 16];
        salt.extract(secret.as_bytes())
            .expand(&[], Len16)
            .and_then(|okm| okm.fill(&mut key))
            .expect("16 bytes is a valid HKDF-SHA256 length");
        LocalKms {
            key: LessSafeKey::new(
                UnboundKey::new(&aead::AES_128_GCM, &key).expect("a 16-byte AES key"),
            ),
            random: SystemRandom::new(),
            allowed: None,
        }
    }

    /// This KMS serving only the KEKs whose key id is one of `ids` (others: access denied).
    pub fn only_for(mut self, ids: impl IntoIterator<Item = String>) -> LocalKms {
        self.allowed = Some(ids.into_iter().collect());
        self
    }

    fn permit(&self, key_id: &str) -> Result<(), KmsError> {
        match &self.allowed {
            Some(ids) if !ids.contains(key_id) => Err(KmsError::AccessDenied(format!(
                "the local KMS may not use the key `{key_id}`: it is not one of the server's local_kms_key_ids"
            ))),
            _ => Ok(()),
        }
    }
}

impl KmsDriver for LocalKms {
    fn wrap(
        &self,
        key_id: &str,
        _props: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        self.permit(key_id)?;
        let mut iv = [0u8; 12];
        self.random
            .fill(&mut iv)
            .map_err(|_| KmsError::Failed("no randomness for an IV".into()))?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut sealed)
            .map_err(|_| KmsError::Failed("AES-GCM encryption failed".into()))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(
        &self,
        key_id: &str,
        _props: &BTreeMap<String, String>,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        self.permit(key_id)?;
        if ciphertext.len() < 12 + 16 {
            return Err(KmsError::Failed("the wrapped key is too short".into()));
        }
        let (iv, sealed) = ciphertext.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(iv)
            .map_err(|_| KmsError::Failed("a bad IV".into()))?;
        let mut buffer = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut buffer)
            .map_err(|_| {
                KmsError::Failed(
                    "the wrapped key does not decrypt under the local KMS secret".into(),
                )
            })?;
        Ok(plain.to_vec())
    }
}

/// The KMS drivers a registry has, by KMS type.
#[derive(Default)]
pub struct Kms {
    drivers: BTreeMap<String, Box<dyn KmsDriver>>,
}

impl Kms {
    /// The drivers of the server's configuration: the local KMS when a secret is given, serving
    /// only the KEKs of `key_ids` when they are given.
    pub fn with_local(secret: Option<&str>, key_ids: Option<&[String]>) -> Kms {
        let mut drivers: BTreeMap<String, Box<dyn KmsDriver>> = BTreeMap::new();
        if let Some(secret) = secret {
            let mut local = LocalKms::new(secret);
            if let Some(ids) = key_ids {
                local = local.only_for(ids.iter().cloned());
            }
            drivers.insert("local-kms".into(), Box::new(local));
        }
        Kms { drivers }
    }

    /// Adds a driver for a KMS type.
    pub fn with_driver(mut self, kms_type: &str, driver: Box<dyn KmsDriver>) -> Kms {
        self.drivers.insert(kms_type.to_string(), driver);
        self
    }

    fn driver(&self, kms_type: &str) -> Result<&dyn KmsDriver, KmsError> {
        self.drivers.get(kms_type).map(|d| &**d).ok_or_else(|| {
            if kms_type == "local-kms" {
                KmsError::Failed(
                    "the local KMS has no secret: set local_kms_secret in the server's configuration".to_string(),
                )
            } else {
                KmsError::Unsupported(format!("this registry has no driver for the KMS `{kms_type}`; DEKs under a shared KEK of that KMS must be made by the clients"))
            }
        })
    }

    /// A new DEK wrapped under a KEK: (the key, the wrapped key in base64).
    pub fn new_dek(
        &self,
        kms_type: &str,
        key_id: &str,
        props: &BTreeMap<String, String>,
        algorithm: DekAlgorithm,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let driver = self.driver(kms_type)?;
        let key = algorithm.generate(&SystemRandom::new())?;
        let wrapped = driver.wrap(key_id, props, &key)?;
        Ok((
            key,
            base64::engine::general_purpose::STANDARD.encode(wrapped),
        ))
    }

    /// The DEK inside base64 `wrapped`, in base64.
    pub fn unwrap(
        &self,
        kms_type: &str,
        key_id: &str,
        props: &BTreeMap<String, String>,
        wrapped: &str,
    ) -> Result<String, KmsError> {
        let driver = self.driver(kms_type)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(wrapped)
            .map_err(|_| KmsError::Failed("the wrapped key is not base64".into()))?;
        let key = driver.unwrap(key_id, props, &bytes)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(key))
    }

    /// Wraps base64 `key` anew (a rewrap).
    pub fn wrap(
        &self,
        kms_type: &str,
        key_id: &str,
        props: &BTreeMap<String, String>,
        key: &str,
    ) -> Result<String, KmsError> {
        let driver = self.driver(kms_type)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| KmsError::Failed("the key is not base64".into()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(driver.wrap(key_id, props, &bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listed key ids confine the local KMS: others are denied both ways, with the id named
    /// and the secret never.
    #[test]
    fn the_local_kms_serves_only_the_key_ids_it_is_given() {
        let props = BTreeMap::new();
        let open = Kms::with_local(Some("s3cret"), None);
        let (_, wrapped) = open
            .new_dek(
                "local-kms",
                "local-kms://other",
                &props,
                DekAlgorithm::Aes128Gcm,
            )
            .expect("any id without a list");
        let confined = Kms::with_local(Some("s3cret"), Some(&["local-kms://granted".into()]));
        assert!(confined
            .new_dek(
                "local-kms",
                "local-kms://granted",
                &props,
                DekAlgorithm::Aes128Gcm
            )
            .is_ok());
        for result in [
            confined
                .new_dek(
                    "local-kms",
                    "local-kms://other",
                    &props,
                    DekAlgorithm::Aes128Gcm,
                )
                .map(|_| ()),
            confined
                .unwrap("local-kms", "local-kms://other", &props, &wrapped)
                .map(|_| ()),
        ] {
            match result {
                Err(KmsError::AccessDenied(reason)) => {
                    assert!(reason.contains("local-kms://other"), "{reason}");
                    assert!(!reason.contains("s3cret"), "{reason}");
                }
                other => panic!("expected a denial, got {other:?}"),
            }
        }
    }

    /// Confluent's local KMS: the derived key is HKDF-SHA256 of the secret with a zero salt.
    /// Cross-checked with Python's `cryptography` HKDF (salt None → 32 zero bytes, info b"").
    #[test]
    fn local_kms_round_trips_and_depends_only_on_the_secret() {
        let kms = Kms::with_local(Some("mysecret"), None);
        let props = BTreeMap::new();
        let (key, wrapped) = kms
            .new_dek("local-kms", "ignored-id", &props, DekAlgorithm::Aes256Gcm)
            .expect("made");
        assert_eq!(key.len(), 34);
        assert_eq!(&key[..2], &[0x1a, 0x20]);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&wrapped)
            .expect("b64");
        assert_eq!(raw.len(), 12 + 34 + 16);
        let unwrapped = kms
            .unwrap("local-kms", "another-id", &props, &wrapped)
            .expect("unwraps with any key id");
        assert_eq!(
            unwrapped,
            base64::engine::general_purpose::STANDARD.encode(&key)
        );
        let other = Kms::with_local(Some("othersecret"), None);
        assert!(other.unwrap("local-kms", "x", &props, &wrapped).is_err());
        assert!(Kms::with_local(None, None)
            .new_dek("local-kms", "x", &props, DekAlgorithm::Aes128Gcm)
            .is_err());
        let siv = DekAlgorithm::Aes256Siv
            .generate(&SystemRandom::new())
            .expect("key");
        assert_eq!((siv.len(), siv[0], siv[1]), (66, 0x12, 0x40));
    }
}
