//! The token index, `tokens/index.json`: what the tokenize stage records about the token shards.
//!
//! Later stages read per-domain token counts from it: the natural (token-proportional) mixture, the
//! prior of candidate sampling, and the epoch caps that say how often a domain may be repeated.

use std::path::Path;

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `tokens/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokensIndex {
    /// SHA-256 of the tokenizer file.
    pub tokenizer_sha256: String,
    pub vocab_size: u64,
    /// Megatron dtype name of the shards (`uint16` or `int32`).
    pub dtype: String,
    /// The end-of-document token id appended to every document.
    pub eod_id: u64,
    pub domains: Vec<TokenDomain>,
}

/// One domain's shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenDomain {
    /// The domain name from the data.
    pub domain: String,
    /// The safe stem of its shard files (`<stem>.bin/.idx`, `<stem>.val.bin/.idx`).
    pub file_stem: String,
    /// Training documents and tokens (end-of-document tokens included).
    pub documents: u64,
    pub tokens: u64,
    /// Held-out validation documents and tokens.
    pub val_documents: u64,
    pub val_tokens: u64,
    /// Evaluated only: never sampled for training.
    pub eval_only: bool,
}

impl TokensIndex {
    /// Reads `index.json` from a tokens folder (or the file itself).
    pub fn read(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("index.json")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).with_context(|| {
            format!(
                "cannot read the token index {} (run `remix tokenize` first)",
                file.display()
            )
        })?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a remix token index", file.display()))
    }

    /// The domains proxies train on (every one but the evaluation-only ones), in index order.
    pub fn training_domains(&self) -> impl Iterator<Item = &TokenDomain> + Clone {
        self.domains.iter().filter(|d| !d.eval_only)
    }

    /// The names of [`Self::training_domains`].
    pub fn training_names(&self) -> Vec<String> {
        self.training_domains().map(|d| d.domain.clone()).collect()
    }

    /// The natural mixture: each training domain's share of the training tokens, in index order.
    pub fn natural_weights(&self) -> Vec<f64> {
        let training = self.training_domains();
        let total: u64 = training.clone().map(|d| d.tokens).sum();
        training
            .map(|d| d.tokens as f64 / total.max(1) as f64)
            .collect()
    }

    /// Training tokens of a domain, if the index has it.
    pub fn training_tokens(&self, domain: &str) -> Option<u64> {
        self.training_domains()
            .find(|d| d.domain == domain)
            .map(|d| d.tokens)
    }
}
