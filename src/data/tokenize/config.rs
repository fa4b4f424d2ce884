//! The tokenize stage's settings ([`TokenizeConfig`], the `[tokenize]` section), each default with its
//! reason.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::corpus::config::CorpusConfig;

/// Tokenize settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizeConfig {
    /// How to read the input when it is a corpus rather than a dedup folder.
    pub corpus: CorpusConfig,
    /// The end-of-document token. Default: the first of `<|endoftext|>`, `</s>`, `<|end_of_text|>`,
    /// `<eos>`, `<|eos|>` that the tokenizer has.
    pub eod_token: Option<String>,
    /// Share of each domain's documents held out for validation. Default 0.01, with at least one document
    /// when a domain has two or more: enough for a stable proxy loss on real domains, little data lost.
    pub val_fraction: f64,
    /// Documents held out per domain, instead of a fraction. Default none.
    pub val_documents: Option<u64>,
    /// Domains tokenized into validation shards only. Default none.
    pub eval_only: Vec<String>,
    /// Seed of the validation split's document hash. Default 1.
    pub seed: u64,
    /// Documents longer than this many bytes of text are skipped with a warning. Default 16 MiB:
    /// encoding holds ~30 bytes per byte of text, and a proxy learns nothing from a data dump.
    pub max_document_bytes: u64,
}

impl Default for TokenizeConfig {
    fn default() -> Self {
        Self {
            corpus: CorpusConfig::default(),
            eod_token: None,
            val_fraction: 0.01,
            val_documents: None,
            eval_only: Vec::new(),
            seed: 1,
            max_document_bytes: 16 << 20,
        }
    }
}
