//! Password hashes: argon2id for Covenant's own auth file, and the PBKDF2 and scrypt hashes of
//! Karapace's `registry_authfile`, verified exactly as Karapace computes them so that its files
//! are accepted unchanged. Every comparison is constant-time.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// A stored password hash.
#[derive(Clone)]
pub enum StoredHash {
    /// A PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    Argon2(String),
    /// Karapace: PBKDF2-HMAC or scrypt over the UTF-8 password and salt, base64 of the key.
    Karapace {
        /// The algorithm.
        algorithm: KarapaceAlgorithm,
        /// The salt, used as its UTF-8 bytes (Karapace does not decode it).
        salt: String,
        /// Standard padded base64 of the derived key.
        hash: String,
    },
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredHash::Argon2(_) => f.write_str("Argon2(***)"),
            StoredHash::Karapace { algorithm, .. } => write!(f, "Karapace({algorithm:?}, ***)"),
        }
    }
}

/// The hash algorithms of a Karapace auth file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KarapaceAlgorithm {
    /// PBKDF2-HMAC-SHA1, 5000 rounds, 20 bytes.
    Sha1,
    /// PBKDF2-HMAC-SHA256, 5000 rounds, 32 bytes.
    Sha256,
    /// PBKDF2-HMAC-SHA512, 5000 rounds, 64 bytes.
    Sha512,
    /// scrypt with N = 16384, r = 8, p = 1, 64 bytes.
    Scrypt,
}

impl KarapaceAlgorithm {
    /// Reads Karapace's name for it (`sha1`, `sha256`, `sha512`, `scrypt`; case-sensitive).
    pub fn parse(name: &str) -> Option<KarapaceAlgorithm> {
        Some(match name {
            "sha1" => KarapaceAlgorithm::Sha1,
            "sha256" => KarapaceAlgorithm::Sha256,
            "sha512" => KarapaceAlgorithm::Sha512,
            "scrypt" => KarapaceAlgorithm::Scrypt,
            _ => return None,
        })
    }

    /// Whether a password hashed so is cheap to guess by brute force (PBKDF2 with 5000 rounds).
    pub fn is_weak(self) -> bool {
        !matches!(self, KarapaceAlgorithm::Scrypt)
    }
}

/// The rounds Karapace uses for PBKDF2.
const KARAPACE_PBKDF2_ROUNDS: u32 = 5000;

/// Karapace's `hash_password`: the base64 of the key derived from `password` and `salt`.
pub fn karapace_hash(algorithm: KarapaceAlgorithm, salt: &str, password: &str) -> String {
    let password = password.as_bytes();
    let salt = salt.as_bytes();
    let key = match algorithm {
        KarapaceAlgorithm::Sha1 => {
            pbkdf2::pbkdf2_hmac_array::<sha1::Sha1, 20>(password, salt, KARAPACE_PBKDF2_ROUNDS)
                .to_vec()
        }
        KarapaceAlgorithm::Sha256 => {
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password, salt, KARAPACE_PBKDF2_ROUNDS)
                .to_vec()
        }
        KarapaceAlgorithm::Sha512 => {
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 64>(password, salt, KARAPACE_PBKDF2_ROUNDS)
                .to_vec()
        }
        KarapaceAlgorithm::Scrypt => {
            let mut key = [0u8; 64];
            let params =
                scrypt::Params::new(14, 8, 1).expect("Karapace's scrypt parameters are valid");
            scrypt::scrypt(password, salt, &params, &mut key)
                .expect("a 64-byte scrypt key is a valid length");
            key.to_vec()
        }
    };
    base64::engine::general_purpose::STANDARD.encode(key)
}

impl StoredHash {
    /// Reads an argon2 PHC string, refusing anything else.
    pub fn argon2(phc: &str) -> Result<StoredHash, String> {
        let parsed = PasswordHash::new(phc).map_err(|e| {
            format!("not an argon2 PHC string (`covenant auth hash-password` prints one): {e}")
        })?;
        match parsed.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" => Ok(StoredHash::Argon2(phc.to_string())),
            other => Err(format!(
                "the hash uses `{other}`; Covenant's auth file takes argon2id hashes (`covenant auth hash-password`)"
            )),
        }
    }

    /// Whether `password` is the one this hash was made from. Runs in time independent of where
    /// the password differs.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            StoredHash::Argon2(phc) => match PasswordHash::new(phc) {
                Ok(parsed) => Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            },
            StoredHash::Karapace {
                algorithm,
                salt,
                hash,
            } => {
                let computed = karapace_hash(*algorithm, salt, password);
                computed.as_bytes().ct_eq(hash.as_bytes()).into()
            }
        }
    }
}

/// An argon2id hash of `password` with a random salt and the argon2 crate's default cost
/// (19 MiB, two passes, one lane: OWASP's recommended minimum), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Karapace's own test users and README example, and vectors computed with Python's
    /// hashlib using Karapace's exact formula.
    #[test]
    fn karapace_hashes_match_karapace() {
        use KarapaceAlgorithm::*;
        let vectors = [
            (Scrypt, "adminsalt", "admin", "AG7+ttm/skHjqEZ90yzEkgjy75yaqoucNnQPIP2S++1rYOPXEtm4+AF7WdDGj+J0sIPFdYC9nXYsvkB1xYDYkw=="),
            (Sha512, "salt", "opensesame", "uofa7Uw+IolY0GDeCQApTVAUPlBthFYPFQ+QN+kKtXBzSwddiyLrNnIC2UQcA5X+hCL/mHNNqEMA30oIM4oqxA=="),
            (Sha1, "third-salt", "secret", "SeUTCvKCE8rj6lHFkyFkhopktuY="),
            (Sha512, "iuLouaExTeg9ypqTxqP-dw", "secret", "R6ghYSXdLGsq6hkQcg8wT4xkD4QToxBhlp7NerTnyB077M+mD2qiN7ZxXCDb4aE+5lExu5P11UpMPYAcVYxSQA=="),
            (Sha1, "covenant-salt", "hunter2", "X0zo1pFbCliKV1v5dZgn0azxtmM="),
            (Sha256, "covenant-salt", "hunter2", "aINYUvFKxWZlM3/X2fWHVYesA2x31SY02bs/HRn+EW4="),
            (Sha512, "covenant-salt", "hunter2", "E0LnTdlKc02iao6oedlLL2KMhFblk1bE/TlbWZXJm0KkI8fIDMxRWti/Kyau/oAJTEx72CkoZZK9BhcmNp75RQ=="),
            (Scrypt, "covenant-salt", "hunter2", "c6cdIgGtPRwHIBn/ReyIcLL2S3GlHzRPmjLr9UAmp5os0GCsltuHl18dlYLQqSVM1avgL4CvUHKfkxJ3KTfyYg=="),
            (Sha256, "s", "pa:ss", "g/7fpY+oOaFqYrgjFOYWwAc1sSjS6iRYNJ/IdTQCg24="),
            (Sha256, "sälz", "pässwörd", "/Eqx8nT2hFHXrbLXftbJB4OHUdv3L7o+zoKlSSFuxEI="),
            (Sha256, "", "x", "n5aiVGxHJPpmH7UXEn+tzb3GN6NAy0ps10cLyeCbX9M="),
        ];
        for (algorithm, salt, password, expected) in vectors {
            assert_eq!(
                karapace_hash(algorithm, salt, password),
                expected,
                "{algorithm:?} {salt}"
            );
            let stored = StoredHash::Karapace {
                algorithm,
                salt: salt.to_string(),
                hash: expected.to_string(),
            };
            assert!(stored.verify(password));
            assert!(!stored.verify(&format!("{password}x")));
        }
    }

    #[test]
    fn argon2_round_trip() {
        let phc = hash_password("correct horse").expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let stored = StoredHash::argon2(&phc).expect("reads");
        assert!(stored.verify("correct horse"));
        assert!(!stored.verify("correct horsf"));
        assert!(!stored.verify(""));
        assert!(StoredHash::argon2("plain-text-password").is_err());
        assert!(StoredHash::argon2("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert_eq!(format!("{stored:?}"), "Argon2(***)");
    }
}
