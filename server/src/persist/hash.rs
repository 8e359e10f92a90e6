//! The hash chain's links: every record is identified by the SHA-256 of the exact bytes it is
//! stored as, and from format 2 on carries the hash of the record before it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The SHA-256 of a stored record's bytes, written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordHash([u8; 32]);

impl RecordHash {
    /// What the first record of a log chains to.
    pub const GENESIS: RecordHash = RecordHash([0; 32]);

    /// The hash of a stored record's bytes.
    pub fn of(bytes: &[u8]) -> RecordHash {
        RecordHash(Sha256::digest(bytes).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> RecordHash {
        RecordHash(bytes)
    }
}

impl Default for RecordHash {
    fn default() -> Self {
        RecordHash::GENESIS
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordHash({self})")
    }
}

impl FromStr for RecordHash {
    type Err = String;

    fn from_str(text: &str) -> Result<RecordHash, String> {
        let invalid = || format!("`{text}` is not a record hash (64 hex digits)");
        if text.len() != 64 || !text.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).map_err(|_| invalid())?;
        }
        Ok(RecordHash(bytes))
    }
}

impl TryFrom<String> for RecordHash {
    type Error = String;

    fn try_from(text: String) -> Result<RecordHash, String> {
        text.parse()
    }
}

impl From<RecordHash> for String {
    fn from(hash: RecordHash) -> String {
        hash.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_in_hex_and_read_back() {
        let hash = RecordHash::of(b"abc");
        assert_eq!(
            hash.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash.to_string().parse::<RecordHash>(), Ok(hash));
        assert!("xyz".parse::<RecordHash>().is_err());
        assert!("zz".repeat(32).parse::<RecordHash>().is_err());
        assert_eq!(RecordHash::GENESIS.to_string(), "0".repeat(64));
    }
}
