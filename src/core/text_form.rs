//! Serde for a closed set written as text in the config and on the command line (`folder`,
//! `column:meta.pile_set_name`, `cpu`, `natural`): read through the type's `FromStr`, so the config
//! refuses what the flag refuses with the same message, and written through its `Display`. Use as
//! `#[serde(with = "crate::core::text_form")] #[schemars(with = "String")]`.

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serializer, de::Error};

pub fn serialize<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(D::Error::custom)
}
