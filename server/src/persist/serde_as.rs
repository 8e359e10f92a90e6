//! Serde helpers that store domain types as the text or number the API uses for them.

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// A value stored as its `Display` text and read back with `FromStr`.
pub mod text {
    use super::*;

    pub fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let raw = Cow::<str>::deserialize(deserializer)?;
        raw.parse().map_err(D::Error::custom)
    }
}

/// An optional value stored as its text (use with `default` and `skip_serializing_if`).
pub mod opt_text {
    use super::*;

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        match Option::<Cow<str>>::deserialize(deserializer)? {
            Some(raw) => raw.parse().map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

/// A `SchemaId` or `Version` stored as its number.
pub mod number {
    use super::*;

    pub fn serialize<T: Copy + Into<i32>, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32((*value).into())
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: TryFrom<i32>,
        T::Error: Display,
        D: Deserializer<'de>,
    {
        T::try_from(i32::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}
