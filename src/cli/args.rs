//! Arguments several subcommands share, declared once with their defaults taken from the settings types
//! ([`CorpusConfig`]), so a flag and a config key cannot drift apart.

use std::path::PathBuf;

use clap::Args;

use crate::core::store::StoreConfig;
use crate::data::corpus::config::{CorpusConfig, DomainFrom};

/// A corpus to read: `--corpus` with how to read it (`remix stats`, `dedup`, `tokenizer train`).
#[derive(Debug, Clone, Args)]
pub struct CorpusArgs {
    /// Parquet files, folders of them (searched recursively), or glob patterns.
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,

    #[command(flatten)]
    pub read: CorpusReadArgs,
}

impl CorpusArgs {
    /// The corpus paths and the settings to read them with.
    pub fn into_parts(self) -> (Vec<PathBuf>, CorpusConfig) {
        (self.corpus, self.read.config())
    }
}

/// How to read a corpus: `--domain-from` and `--text-column` (`remix stats`, `dedup`, `tokenize`,
/// `tokenizer train`).
#[derive(Debug, Clone, Args)]
pub struct CorpusReadArgs {
    /// Where each row's domain comes from: `folder` (corpus/<domain>/*.parquet), `column:DOT.PATH` (a
    /// string column, nested structs by dots) or `hive:KEY` (a Hive partition folder, corpus/KEY=<domain>/).
    #[arg(long, default_value_t = DomainFrom::default())]
    pub domain_from: DomainFrom,

    /// The column that holds the document text.
    #[arg(long, default_value_t = CorpusConfig::default().text_column)]
    pub text_column: String,

    /// For a corpus in an object store (s3://, gs://, az://): retries of a request that failed
    /// transiently, with exponential backoff.
    #[arg(long, default_value_t = StoreConfig::default().retries)]
    pub store_retries: usize,

    /// For a corpus in an object store: seconds from a request's first try after which no retry starts.
    #[arg(long, default_value_t = StoreConfig::default().retry_timeout_s)]
    pub store_retry_timeout_s: u64,
}

impl CorpusReadArgs {
    /// The corpus settings these flags give, the rest at their defaults; sets the object store limits
    /// of the process ([`crate::core::store::configure`]).
    pub fn config(self) -> CorpusConfig {
        crate::core::store::configure(&StoreConfig {
            retries: self.store_retries,
            retry_timeout_s: self.store_retry_timeout_s,
        });
        CorpusConfig {
            text_column: self.text_column,
            domain_from: self.domain_from,
            ..Default::default()
        }
    }
}

/// `--json`, for every command that prints a result: the result as JSON on stdout in place of the
/// table, for scripts.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonArg {
    /// Print the result as JSON on stdout instead of the table.
    #[arg(long = "json")]
    pub enabled: bool,
}

impl JsonArg {
    /// With `--json`, prints `value` as pretty JSON and returns true, so the caller prints nothing
    /// else; without it, returns false. Errors: a value serde cannot write as JSON.
    pub fn print<T: serde::Serialize + ?Sized>(self, value: &T) -> anyhow::Result<bool> {
        if self.enabled {
            println!("{}", serde_json::to_string_pretty(value)?);
        }
        Ok(self.enabled)
    }
}
