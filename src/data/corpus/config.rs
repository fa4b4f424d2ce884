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
    /// A Hive partition key: the value of the nearest `KEY=VALUE` folder above a file
    /// (`corpus/source=web/lang=en/part-0.parquet` with key `source` is domain `web`), as Spark, Hive,
    /// DuckDB and pyarrow's `partition_cols` write a partitioned dataset; `%XX` escapes are decoded.
    Hive(String),
}

impl DomainFrom {
    /// The domain of a file at `path` under a Hive partition key: the value of the `key=VALUE`
    /// component nearest the file, `%XX` escapes decoded. `None` for the other sources, or when no
    /// component of the path names the key.
    pub fn hive_value(&self, path: &std::path::Path) -> Option<String> {
        let DomainFrom::Hive(key) = self else {
            return None;
        };
        path.parent()?.components().rev().find_map(|part| {
            let part = part.as_os_str().to_str()?;
            let (k, value) = part.split_once('=')?;
            (k == key && !value.is_empty()).then(|| percent_decoded(value))
        })
    }
}

/// `text` with Hive's `%XX` escapes decoded; an escape that is not two hex digits stays as it is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FromStr for DomainFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "folder" => Ok(DomainFrom::Folder),
            Some(("column", path)) if !path.is_empty() => Ok(DomainFrom::Column(path.to_string())),
            Some(("hive", key)) if !key.is_empty() => Ok(DomainFrom::Hive(key.to_string())),
            _ => Err(format!(
                "`{s}` is not a domain source: use `folder` (corpus/<domain>/*.parquet), `column:DOT.PATH` \
                 (for example column:meta.pile_set_name) or `hive:KEY` (corpus/KEY=<domain>/*.parquet)"
            )),
        }
    }
}

impl fmt::Display for DomainFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainFrom::Folder => write!(f, "folder"),
            DomainFrom::Column(path) => write!(f, "column:{path}"),
            DomainFrom::Hive(key) => write!(f, "hive:{key}"),
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
    /// A column read beside the text, for the stage that asks for it: the cluster stage's embedding
    /// column (`[cluster] features = "column:NAME"`, a dot path like the domain column's). Set by that
    /// stage, never by a config (not serialised: the stage's own settings name it). Default none.
    #[serde(skip)]
    #[schemars(skip)]
    pub extra_column: Option<String>,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            text_column: "text".into(),
            domain_from: DomainFrom::Folder,
            batch_bytes: 64 << 20,
            extra_column: None,
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
        let hive: DomainFrom = "hive:source".parse().unwrap();
        assert_eq!(hive, DomainFrom::Hive("source".into()));
        assert_eq!(hive.to_string(), "hive:source");
        assert!("hive:".parse::<DomainFrom>().is_err());
        assert!(
            "meta.domain"
                .parse::<DomainFrom>()
                .unwrap_err()
                .contains("column:DOT.PATH")
        );
    }

    #[test]
    fn a_hive_key_names_the_nearest_partition_folder() {
        use std::path::Path;
        let hive = DomainFrom::Hive("source".into());
        let at = |p: &str| hive.hive_value(Path::new(p));
        assert_eq!(
            at("c/source=web/lang=en/part-0.parquet").as_deref(),
            Some("web")
        );
        assert_eq!(
            at("c/source=old/x/source=new%2Fcode/part-0.parquet").as_deref(),
            Some("new/code")
        );
        assert_eq!(at("c/source=a%2/p.parquet").as_deref(), Some("a%2"));
        assert_eq!(at("c/lang=en/part-0.parquet"), None);
        assert_eq!(at("c/source=/part-0.parquet"), None);
        assert_eq!(
            at("source=web.parquet"),
            None,
            "the file's own name is not a partition"
        );
        assert_eq!(
            DomainFrom::Folder.hive_value(Path::new("source=x/p.parquet")),
            None
        );
    }
}
