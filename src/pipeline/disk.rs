//! The disk a run will fill, for `remix plan`: the token shards, counted from `tokens/index.json` when
//! tokenize has run, else estimated from the corpus (its text bytes, from the Parquet footers, over
//! the bytes per token the configured tokenizer makes of a sample of its documents); and the data
//! folders the manifest's exports write beside the shards (MDS, litdata and datatrove copy the
//! tokens; the `text` folder of `hf` and `torchtitan` holds the documents as text).

use anyhow::Result;
use serde::Serialize;

use super::config::PipelineConfig;
use super::context::Context;
use crate::data::corpus::Corpus;
use crate::data::tokenize::{LoadedTokenizer, sample};
use crate::data::tokens::TokensIndex;
use crate::data::tokens::write::TokenDtype;
use crate::manifest::format::Format;

/// Parquet's uncompressed size of a string column counts a 4-byte length before each value.
const LENGTH_PREFIX_BYTES: u64 = 4;

/// The disk a run will write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    /// Tokens the corpus makes (end-of-document tokens included).
    pub tokens: u64,
    /// How `tokens` was found: `counted` in the token index, or `estimated` from a sample.
    pub tokens_from: TokensFrom,
    /// Bytes of the token shards: `tokens` at the shards' token width.
    pub tokens_bytes: u64,
    /// Bytes of the exports' data folders; `None` when a text export's size is not known (tokens
    /// imported without a corpus to measure text by).
    pub exports_bytes: Option<u64>,
}

/// Where [`Disk::tokens`] came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokensFrom {
    /// Counted in `tokens/index.json`.
    Counted,
    /// The corpus's text bytes over the bytes per token of `documents` sampled documents, before
    /// deduplication (an upper bound where dedup removes documents).
    Estimated {
        documents: usize,
        bytes_per_token: f64,
    },
}

impl Disk {
    /// The estimate in a line.
    pub fn text(&self) -> String {
        let how = match &self.tokens_from {
            TokensFrom::Counted => "counted in the token index".to_string(),
            TokensFrom::Estimated {
                documents,
                bytes_per_token,
            } => format!(
                "estimated at {bytes_per_token:.2} bytes of text per token over {documents} sampled documents, \
                 before dedup"
            ),
        };
        let exports = match self.exports_bytes {
            Some(0) => String::new(),
            Some(bytes) => format!("; the exports' data about {} more", size(bytes)),
            None => "; the text export's size is not known before its text is decoded".into(),
        };
        format!(
            "Disk: token shards about {} ({} tokens, {how}){exports}\n",
            size(self.tokens_bytes),
            self.tokens
        )
    }
}

/// Bytes in GiB from one GiB up, else in MiB.
fn size(bytes: u64) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// The disk `config`'s run will fill, for a tokenizer of `vocab_size`; `corpus_tokenizer` is `[corpus]
/// tokenizer`, loaded. `None` for imported tokens before the import has counted them. Errors: an
/// unreadable index or corpus, a tokenizer that spells the corpus as its unknown token.
pub fn estimate(
    config: &PipelineConfig,
    vocab_size: usize,
    corpus_tokenizer: Option<&LoadedTokenizer>,
) -> Result<Option<Disk>> {
    let cx = Context::new(config);
    let index_path = cx.tokens_dir().join("index.json");
    let width = TokenDtype::for_vocab(vocab_size).bytes() as u64;
    // The corpus's text bytes and bytes per token, where there is a corpus to measure.
    let text = match (&config.corpus, corpus_tokenizer) {
        (Some(corpus), Some(tokenizer)) => {
            let opened = Corpus::open(&corpus.paths, &config.corpus_config())?;
            let bytes = opened
                .text_bytes()
                .saturating_sub(LENGTH_PREFIX_BYTES * opened.rows());
            let sampled = sample(&opened, tokenizer)?;
            sampled.check_unknown(tokenizer, &corpus.tokenizer)?;
            Some((bytes, (sampled.documents, sampled.bytes_per_token())))
        }
        _ => None,
    };
    // An index from another vocabulary is about to be replaced by tokenize.
    let index = match index_path.is_file() {
        true => Some(TokensIndex::read(&index_path)?)
            .filter(|i| config.corpus.is_none() || i.vocab_size as usize == vocab_size),
        false => None,
    };
    let (tokens, tokens_from) = match (index, &text) {
        (Some(index), _) => (
            index.domains.iter().map(|d| d.tokens + d.val_tokens).sum(),
            TokensFrom::Counted,
        ),
        (None, Some((bytes, (documents, bytes_per_token)))) => (
            (*bytes as f64 / bytes_per_token) as u64,
            TokensFrom::Estimated {
                documents: *documents,
                bytes_per_token: *bytes_per_token,
            },
        ),
        // Imported tokens before the import: nothing to count yet, no text to measure.
        (None, None) => return Ok(None),
    };
    let tokens_bytes = tokens * width;
    let mut kinds: Vec<&str> = config
        .manifest
        .exports
        .iter()
        .filter_map(|f| match f {
            Format::Mosaic => Some("mds"),
            Format::Litgpt => Some("litdata"),
            Format::Nanotron => Some("datatrove"),
            Format::Hf | Format::Torchtitan => Some("text"),
            Format::Megatron | Format::Neox | Format::OlmoCore => None,
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    let exports_bytes = kinds
        .iter()
        .map(|&kind| match (kind, &text) {
            ("text", Some((bytes, _))) => Some(*bytes),
            ("text", None) => None,
            _ => Some(tokens_bytes),
        })
        .sum();
    Ok(Some(Disk {
        tokens,
        tokens_from,
        tokens_bytes,
        exports_bytes,
    }))
}
