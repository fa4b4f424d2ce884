//! `remix tokenizer train`: a small byte-level BPE tokenizer for proxy models.
//!
//! Proxies of a million parameters want a small vocabulary (4096 to 16384): with GPT-2's 50257 tokens
//! the embedding alone would be 13M parameters at width 256. The tokenizer is trained with the
//! HuggingFace `tokenizers` crate on a deterministic sample of the corpus (documents whose seeded hash
//! falls under the sampling rate), with GPT-2's byte-level pre-tokenizer, so that any text encodes
//! without unknown tokens, and `<|endoftext|>` as the end-of-document token.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    TokenizerImpl,
};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::core::progress::Progress;
use crate::core::workdir::write_atomic;
use crate::data::corpus::Corpus;
use crate::data::corpus::config::CorpusConfig;
use crate::data::tokenize::tokenizer::prefix;

/// Tokenizer training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenizerTrainConfig {
    pub corpus: CorpusConfig,
    /// Vocabulary size, special tokens included. Default 8192: the middle of the useful range for 1M
    /// proxies (4096 to 16384).
    pub vocab_size: usize,
    /// Bytes of text to train on, sampled across the corpus. Default 64 MiB: BPE merges for a vocabulary
    /// this small are stable long before that, and training stays within a minute.
    pub sample_bytes: u64,
    /// A pair must occur this often to be merged. Default 2.
    pub min_frequency: u64,
    /// The end-of-document token, added as a special token. Default `<|endoftext|>` (GPT-2's).
    pub eod_token: String,
    /// Seed of the document sample. Default 1.
    pub seed: u64,
}

impl Default for TokenizerTrainConfig {
    fn default() -> Self {
        Self {
            corpus: CorpusConfig::default(),
            vocab_size: 8192,
            sample_bytes: 64 << 20,
            min_frequency: 2,
            eod_token: "<|endoftext|>".into(),
            seed: 1,
        }
    }
}

/// What training produced.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainedTokenizer {
    pub path: PathBuf,
    pub vocab_size: usize,
    pub sample_documents: u64,
    pub sample_bytes: u64,
}

type BpeTokenizer = TokenizerImpl<
    BPE,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// Bytes of one sampled document the tokenizer trains on. BPE merges follow word frequencies, which a
/// document's first MiB shows; whole, a document of 100 MB took the trainer 67 s and 10 GB of memory.
pub const TRAIN_DOCUMENT_BYTES: usize = 1 << 20;

/// Trains a byte-level BPE tokenizer on a sample of the corpus (each document to its first
/// [`TRAIN_DOCUMENT_BYTES`]) and writes it to `output`.
pub fn train(
    paths: &[PathBuf],
    config: &TokenizerTrainConfig,
    output: &Path,
    quiet: bool,
) -> Result<TrainedTokenizer> {
    let floor = ByteLevel::alphabet().len() + 1;
    if config.vocab_size < floor {
        bail!(
            "--vocab-size must be at least {floor} (the 256 byte symbols and the end-of-document token)"
        );
    }
    let corpus = Corpus::open(paths, &config.corpus)?;
    let rate = (config.sample_bytes as f64 / corpus.text_bytes().max(1) as f64).min(1.0);
    let cut = if rate >= 1.0 {
        u64::MAX
    } else {
        (rate * u64::MAX as f64) as u64
    };
    let progress = Progress::new(corpus.rows(), "docs", quiet);
    progress.set_message("sampling");
    let sample: Vec<String> = corpus
        .par_map(&progress, |batch| {
            Ok(batch
                .docs()
                .filter(|(_, _, text)| xxh3_64_with_seed(text.as_bytes(), config.seed) <= cut)
                .map(|(_, _, text)| prefix(text, TRAIN_DOCUMENT_BYTES).0.to_string())
                .collect::<Vec<_>>())
        })?
        .into_iter()
        .flatten()
        .collect();
    progress.finish();
    let sample_bytes: u64 = sample.iter().map(|t| t.len() as u64).sum();
    tracing::info!(
        documents = sample.len(),
        bytes = sample_bytes,
        "training the tokenizer"
    );

    let mut tokenizer: BpeTokenizer = TokenizerImpl::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer.with_post_processor(Some(ByteLevel::new(false, false, true)));
    let mut trainer = BpeTrainer::builder()
        .vocab_size(config.vocab_size)
        .min_frequency(config.min_frequency)
        .special_tokens(vec![AddedToken::from(config.eod_token.clone(), true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build();
    tokenizer
        .train(&mut trainer, sample.iter())
        .map_err(|e| anyhow::anyhow!("tokenizer training failed: {e}"))?;
    let json = tokenizer
        .to_string(true)
        .map_err(|e| anyhow::anyhow!("cannot serialise the tokenizer: {e}"))?;
    write_atomic(output, json.as_bytes())
        .with_context(|| format!("cannot write the tokenizer to {}", output.display()))?;
    Ok(TrainedTokenizer {
        path: output.to_path_buf(),
        vocab_size: tokenizer.get_vocab_size(true),
        sample_documents: sample.len() as u64,
        sample_bytes,
    })
}
