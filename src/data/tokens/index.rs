//! The token index, `tokens/index.json`: what the tokenize stage records about the token shards.
//!
//! Later stages read per-domain token counts from it: the natural (token-proportional) mixture, the
//! prior of candidate sampling, and the epoch caps that say how often a domain may be repeated.

use std::path::{Path, PathBuf};

use super::digest::ContentDigest;
use super::write::TokenDtype;
use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `tokens/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokensIndex {
    /// SHA-256 of the tokenizer file.
    pub tokenizer_sha256: String,
    pub vocab_size: u64,
    /// The shards' token type (`uint16` or `int32`).
    pub dtype: TokenDtype,
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
    /// The unigram entropy of the validation shard (nats per token, [`super::unigram`]): the loss of a
    /// model that knows only its token frequencies, which a proxy must beat to have learned more.
    /// Absent in an index an older remix wrote, and for an empty shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_unigram_entropy: Option<f64>,
    /// The UTF-8 bytes of the held-out documents' text, for losses in bits per byte (which compare
    /// across tokenizers). Absent where the text was not seen (`remix tokens import`, older indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bytes: Option<u64>,
    /// The digest of its documents, training and validation together ([`ContentDigest`]): equal
    /// for the same documents in any order or task count. Absent in an index an older remix wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ContentDigest>,
    /// The files of the training tokens when they are not `<stem>.bin/.idx` in the tokens folder, in
    /// stream order: Megatron prefixes brought in by `remix tokens import`, or the shards of the tokenize
    /// stage's tasks (`<stem>.<i>-of-<N>`, [`crate::data::tokenize::tasks`]). Empty for one shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<TokenPart>,
}

/// One file of a domain's training tokens ([`TokenDomain::parts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenPart {
    /// Megatron prefix (`PREFIX.bin` + `PREFIX.idx`): absolute, or relative to the tokens folder.
    pub prefix: String,
    /// Documents read from the start of the file (the rest, if any, were held out for validation)
    /// and the tokens they hold.
    pub documents: u64,
    pub tokens: u64,
}

impl TokenDomain {
    /// The files of the domain's training tokens, with the documents read from each.
    pub fn training_parts(&self, tokens_dir: &Path) -> Vec<ShardPart> {
        if self.parts.is_empty() {
            return vec![ShardPart {
                prefix: tokens_dir.join(&self.file_stem),
                documents: None,
            }];
        }
        self.parts
            .iter()
            .map(|p| ShardPart {
                prefix: tokens_dir.join(&p.prefix),
                documents: Some(p.documents),
            })
            .collect()
    }

    /// The training tokens per file, as [`Self::training_parts`].
    pub fn part_tokens(&self) -> Vec<u64> {
        if self.parts.is_empty() {
            vec![self.tokens]
        } else {
            self.parts.iter().map(|p| p.tokens).collect()
        }
    }

    /// A loss in nats per token on the validation shard as bits per byte of its text; `None` without
    /// [`Self::val_bytes`].
    pub fn bits_per_byte(&self, nats_per_token: f64) -> Option<f64> {
        let bytes = self.val_bytes.filter(|&b| b > 0)?;
        Some(nats_per_token * self.val_tokens as f64 / (bytes as f64 * std::f64::consts::LN_2))
    }

    /// The Megatron prefix of the validation shard, `<stem>.val` in the tokens folder.
    pub fn validation_prefix(&self, tokens_dir: &Path) -> PathBuf {
        tokens_dir.join(format!("{}.val", self.file_stem))
    }
}

/// One file of a domain's stream: a Megatron prefix and how many of its documents to read (all of them
/// when `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPart {
    pub prefix: PathBuf,
    pub documents: Option<u64>,
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
