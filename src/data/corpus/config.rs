//! Settings, with every default in one place and the reason for it beside it (the nanoGPT habit).
//!
//! Each stage's settings are a plain struct that serialises to JSON: the JSON is hashed into the
//! stage's `_done.json` marker, so a changed setting re-runs the stage, and is what a pipeline config
//! file will hold.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the domain of a corpus row comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainFrom {
    /// The folder a file sits in: `corpus/<domain>/*.parquet`.
    #[default]
    Folder,
    /// A column, addressed with a dot path into nested structs (`meta.pile_set_name`).
    Column(String),
}

impl FromStr for DomainFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "folder" => Ok(DomainFrom::Folder),
            Some(("column", path)) if !path.is_empty() => Ok(DomainFrom::Column(path.to_string())),
            _ => Err(format!(
                "`{s}` is not a domain source: use `folder` (corpus/<domain>/*.parquet) or `column:DOT.PATH` \
                 (for example column:meta.pile_set_name)"
            )),
        }
    }
}

impl fmt::Display for DomainFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainFrom::Folder => write!(f, "folder"),
            DomainFrom::Column(path) => write!(f, "column:{path}"),
        }
    }
}

/// How to read a corpus: shared by every stage that reads Parquet text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusConfig {
    /// The text column. Default `text`: the name FineWeb, The Pile, SlimPajama, Dolma and RedPajama use.
    pub text_column: String,
    /// Where each row's domain comes from. Default `folder`: the layout most mixture work starts from,
    /// one folder per source.
    pub domain_from: DomainFrom,
    /// Bytes of text decoded at once per worker. Default 64 MiB: large enough that per-batch overhead
    /// vanishes, small enough that two workers plus Parquet's page buffers stay far under 1 GiB even
    /// when single documents are megabytes long.
    pub batch_bytes: u64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            text_column: "text".into(),
            domain_from: DomainFrom::Folder,
            batch_bytes: 64 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_from_parses_and_prints() {
        assert_eq!("folder".parse::<DomainFrom>().unwrap(), DomainFrom::Folder);
        let column: DomainFrom = "column:meta.pile_set_name".parse().unwrap();
        assert_eq!(column, DomainFrom::Column("meta.pile_set_name".into()));
        assert_eq!(column.to_string(), "column:meta.pile_set_name");
        assert!("column:".parse::<DomainFrom>().is_err());
        assert!(
            "meta.domain"
                .parse::<DomainFrom>()
                .unwrap_err()
                .contains("column:DOT.PATH")
        );
    }
}
