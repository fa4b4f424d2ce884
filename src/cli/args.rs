//! Arguments several subcommands share, declared once with their defaults taken from the settings types
//! ([`CorpusConfig`]), so a flag and a config key cannot drift apart.

use clap::Args;

use crate::data::corpus::config::{CorpusConfig, DomainFrom};

/// How to read a corpus: `--domain-from` and `--text-column` (`remix stats`, `dedup`, `tokenize`,
/// `tokenizer train`).
#[derive(Debug, Clone, Args)]
pub struct CorpusReadArgs {
    /// Where each row's domain comes from: `folder` (corpus/<domain>/*.parquet) or `column:DOT.PATH`.
    #[arg(long, default_value_t = DomainFrom::default())]
    pub domain_from: DomainFrom,

    /// The column that holds the document text.
    #[arg(long, default_value_t = CorpusConfig::default().text_column)]
    pub text_column: String,
}

impl CorpusReadArgs {
    /// The corpus settings these flags give, the rest at their defaults.
    pub fn config(self) -> CorpusConfig {
        CorpusConfig {
            text_column: self.text_column,
            domain_from: self.domain_from,
            ..Default::default()
        }
    }
}
