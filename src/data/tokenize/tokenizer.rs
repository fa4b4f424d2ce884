//! Loading the tokenizer the shards are written with (a HuggingFace `tokenizer.json`), with its SHA-256
//! (the manifest's tokenizer identity) and its end-of-document token.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::core::progress::Progress;
use crate::core::workdir::hex;
use crate::data::corpus::Corpus;

/// End-of-document tokens remix recognises when none is given, in order of preference.
pub const KNOWN_EOD_TOKENS: &[&str] = &[
    "<|endoftext|>",
    "</s>",
    "<|end_of_text|>",
    "<eos>",
    "<|eos|>",
];

/// Unknown-token names remix looks for (WordPiece's, SentencePiece's and others'): a byte-level BPE has
/// none, as it can spell any text.
pub const KNOWN_UNK_TOKENS: &[&str] = &["<unk>", "[UNK]", "<|unk|>", "<UNK>"];

/// The most of a corpus sample's tokens that may be the unknown token: a tokenizer that spells more
/// of the text as `<unk>` does not cover it, and proxies on such tokens learn nothing about its domains.
pub const MAX_UNKNOWN_SHARE: f64 = 0.05;

/// A loaded tokenizer with what the shards need from it.
pub struct LoadedTokenizer {
    pub tokenizer: Tokenizer,
    pub sha256: String,
    pub vocab_size: usize,
    pub eod_id: u32,
    /// Its unknown token, where it has one of [`KNOWN_UNK_TOKENS`].
    pub unk: Option<(String, u32)>,
}

/// What a tokenizer makes of a sample of a corpus: up to [`SAMPLE_DOCUMENTS`] documents from the first
/// row group of each of the first [`SAMPLE_FILES`] files, each to its first [`SAMPLE_DOCUMENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenSample {
    pub documents: usize,
    /// Bytes of text.
    pub bytes: usize,
    /// Tokens, an end-of-document token per document included (as the shards hold them).
    pub tokens: usize,
    /// Of them, the unknown token.
    pub unknown: usize,
}

/// Files and documents per file [`sample`] reads: enough to see each domain's text in a corpus of one
/// folder per domain, a second's tokenizing.
pub const SAMPLE_FILES: usize = 32;
pub const SAMPLE_DOCUMENTS: usize = 64;
/// Bytes of a sampled document that are tokenized: its bytes per token and unknown tokens show in a
/// prefix, and a document of hundreds of MB (which the encoding pass skips past
/// `--max-document-bytes`) would otherwise take minutes and many GiB to tokenize whole.
pub const SAMPLE_DOCUMENT_BYTES: usize = 64 << 10;

/// `text` cut to at most `bytes` bytes, at a character boundary, and whether it is whole.
pub fn prefix(text: &str, bytes: usize) -> (&str, bool) {
    if text.len() <= bytes {
        return (text, true);
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], false)
}

impl TokenSample {
    pub fn bytes_per_token(&self) -> f64 {
        self.bytes as f64 / self.tokens.max(1) as f64
    }

    /// Errors: more than [`MAX_UNKNOWN_SHARE`] of the tokens unknown, naming the tokenizer at `path`.
    pub fn check_unknown(&self, tokenizer: &LoadedTokenizer, path: &Path) -> Result<()> {
        let share = self.unknown as f64 / self.tokens.max(1) as f64;
        if let Some((name, _)) = &tokenizer.unk
            && share > MAX_UNKNOWN_SHARE
        {
            anyhow::bail!(
                "{:.1}% of the tokens the tokenizer {} makes of {} sampled documents are its unknown token \
                 `{name}`: it does not cover this text, and proxies trained on it would learn nothing about \
                 the domains. Give the tokenizer.json your training run uses, or train one on the corpus \
                 with `remix tokenizer train`",
                100.0 * share,
                path.display(),
                self.documents
            );
        }
        Ok(())
    }
}

/// Tokenizes a sample of `corpus` ([`TokenSample`]). Errors: an unreadable file, a tokenizer failure,
/// a corpus whose first row groups hold no text.
pub fn sample(corpus: &Corpus, tokenizer: &LoadedTokenizer) -> Result<TokenSample> {
    let mut units = corpus.units();
    units.dedup_by_key(|(file, _)| *file);
    units.truncate(SAMPLE_FILES);
    let unk = tokenizer.unk.as_ref().map(|(_, id)| *id);
    let mut out = TokenSample {
        documents: 0,
        bytes: 0,
        tokens: 0,
        unknown: 0,
    };
    corpus.for_each_batch_units(&units, &Progress::hidden(), |batch| {
        let (texts, whole): (Vec<&str>, Vec<bool>) = batch
            .docs()
            .take(SAMPLE_DOCUMENTS)
            .map(|(_, _, text)| prefix(text, SAMPLE_DOCUMENT_BYTES))
            .unzip();
        let encodings = tokenizer
            .tokenizer
            .encode_batch_fast(texts.clone(), false)
            .map_err(|e| anyhow::anyhow!("the tokenizer failed: {e}"))?;
        out.documents += texts.len();
        out.bytes += texts.iter().map(|t| t.len()).sum::<usize>();
        for (e, whole) in encodings.iter().zip(whole) {
            // A document's end-of-document token counts where the document was read to its end.
            out.tokens += e.get_ids().len() + usize::from(whole);
            out.unknown += e.get_ids().iter().filter(|&&id| Some(id) == unk).count();
        }
        Ok(())
    })?;
    if out.tokens == 0 {
        anyhow::bail!("the corpus's first row groups hold no text to tokenize");
    }
    Ok(out)
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
    let unk = KNOWN_UNK_TOKENS
        .iter()
        .find_map(|t| Some((t.to_string(), tokenizer.token_to_id(t)?)));
    Ok(LoadedTokenizer {
        unk,
        vocab_size: tokenizer.get_vocab_size(true),
        sha256: hex(&Sha256::digest(&bytes)),
        tokenizer,
        eod_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_a_character_boundary() {
        assert_eq!(prefix("short", 64), ("short", true));
        assert_eq!(prefix("abcdef", 3), ("abc", false));
        // "é" is two bytes: a cut inside it moves back before it.
        assert_eq!(prefix("aéb", 2), ("a", false));
        assert_eq!(prefix("aéb", 3), ("aé", false));
    }
}
