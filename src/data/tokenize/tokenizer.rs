//! Loading the tokenizer the shards are written with (a HuggingFace `tokenizer.json`), with its SHA-256
//! (the manifest's tokenizer identity) and its end-of-document token.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::core::workdir::hex;

/// End-of-document tokens remix recognises when none is given, in order of preference.
pub const KNOWN_EOD_TOKENS: &[&str] = &[
    "<|endoftext|>",
    "</s>",
    "<|end_of_text|>",
    "<eos>",
    "<|eos|>",
];

/// A loaded tokenizer with what the shards need from it.
pub struct LoadedTokenizer {
    pub tokenizer: Tokenizer,
    pub sha256: String,
    pub vocab_size: usize,
    pub eod_id: u32,
}

/// Loads `tokenizer.json` and finds its end-of-document token.
pub fn load_tokenizer(path: &Path, eod_token: Option<&str>) -> Result<LoadedTokenizer> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the tokenizer {}: give a HuggingFace tokenizer.json (or train one with \
             `remix tokenizer train`)",
            path.display()
        )
    })?;
    let tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a HuggingFace tokenizer.json ({e}): give the tokenizer.json of a tokenizers \
             model, or train one with `remix tokenizer train`",
            path.display()
        )
    })?;
    let eod_id = match eod_token {
        Some(token) => tokenizer.token_to_id(token).ok_or_else(|| {
            anyhow::anyhow!("the tokenizer {} has no token `{token}`: pass an --eod-token it has", path.display())
        })?,
        None => KNOWN_EOD_TOKENS
            .iter()
            .find_map(|t| tokenizer.token_to_id(t))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the tokenizer {} has none of the end-of-document tokens remix knows ({}): pass \
                     --eod-token with the token that ends a document",
                    path.display(),
                    KNOWN_EOD_TOKENS.join(", ")
                )
            })?,
    };
    Ok(LoadedTokenizer {
        vocab_size: tokenizer.get_vocab_size(true),
        sha256: hex(&Sha256::digest(&bytes)),
        tokenizer,
        eod_id,
    })
}
