//! The tokenize stage: documents to Megatron token shards, with a held-out validation split.
//!
//! Reads `WORK/dedup` (or any corpus) and writes, per domain, `WORK/tokens/<stem>.bin/.idx` (training
//! documents) and `WORK/tokens/<stem>.val.bin/.idx` (held-out documents), in Megatron's indexed
//! dataset layout ([`crate::data::tokens::write`]), plus `WORK/tokens/index.json` ([`crate::data::tokens::TokensIndex`]) and the
//! `_done.json` marker. Every document gets the end-of-document token appended.
//!
//! Two passes. The first hashes every document (XXH3 with the split seed) and picks, per domain, the
//! documents with the smallest hashes as the validation split: a deterministic choice that depends on
//! the text only, never on file order or threads. The second encodes documents in corpus order with
//! the HuggingFace `tokenizers` crate (`encode_batch_fast`, parallel over the documents of a chunk) and
//! streams the ids into the shards, so memory is bounded by a chunk of text, never by the corpus.
//! The whole folder is assembled under a temporary name and renamed into place.
//!
//! An evaluation-only domain goes entirely to its validation shards: proxies report its loss but never
//! train on it. [`train`] trains a small byte-level BPE tokenizer for proxies.

mod config;
pub mod import;
pub mod tasks;
mod tokenizer;
pub mod train;

pub use config::TokenizeConfig;
pub use tokenizer::{KNOWN_EOD_TOKENS, LoadedTokenizer, TokenSample, load_tokenizer, sample};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::core::domain::file_stem;
use crate::core::progress::Progress;
use crate::core::workdir::{DoneMarker, StageFolder, WorkDir, write_dir, write_json};
use crate::data::corpus::Corpus;
use crate::data::corpus::config::CorpusConfig;
use crate::data::tokens::write::{ShardWriter, TokenDtype, shard_path};
use crate::data::tokens::{ContentDigest, TokenDomain, TokensIndex, unigram};

/// Text encoded per call of the tokenizer: enough documents to keep every thread busy, small enough
/// that the encodings (tens of bytes per token) stay in the hundreds of megabytes.
const CHUNK_BYTES: usize = 8 << 20;

/// The input: a corpus opened for reading, and the domains in output order.
struct Input {
    corpus: Corpus,
    /// Domain names in output order; for a dedup or cluster folder, every domain it wrote (empty ones
    /// too).
    domains: Vec<String>,
}

/// Opens the cluster stage's output, the dedup stage's, or a corpus, by what `input` holds.
fn open_input(input: &Path, config: &CorpusConfig) -> Result<Input> {
    let written = match crate::data::cluster::open_output(input, config)? {
        Some(found) => Some(found),
        None => crate::data::dedup::open_output(input, config)?,
    };
    Ok(match written {
        Some((corpus, domains)) => Input { corpus, domains },
        None => Input {
            corpus: Corpus::open(&[input.to_path_buf()], config)?,
            domains: Vec::new(),
        },
    })
}

/// One domain's pair of shard writers.
struct DomainShards {
    train: ShardWriter,
    val: ShardWriter,
    val_threshold: Option<u64>,
    oversized: u64,
    /// Bytes of the held-out documents' text.
    val_bytes: u64,
}

/// What the encoding pass wrote for one domain.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Written {
    documents: u64,
    tokens: u64,
    val_documents: u64,
    val_tokens: u64,
    /// Bytes of the held-out documents' text.
    #[serde(default)]
    val_bytes: u64,
    /// Training and validation documents together.
    #[serde(default)]
    digest: ContentDigest,
}

impl Written {
    fn add(&mut self, other: &Written) {
        self.documents += other.documents;
        self.tokens += other.tokens;
        self.val_documents += other.val_documents;
        self.val_tokens += other.val_tokens;
        self.val_bytes += other.val_bytes;
        self.digest += other.digest;
    }
}

/// Errors: a validation fraction outside `0..1`.
fn check(config: &TokenizeConfig) -> Result<()> {
    if !(0.0..1.0).contains(&config.val_fraction) {
        bail!(
            "--val-fraction must be at least 0 and below 1, not {}",
            config.val_fraction
        );
    }
    Ok(())
}

/// The domains in output order, and each one's split hashes.
type SplitHashes = (Vec<String>, HashMap<String, Vec<u64>>);

/// Pass 1 over the row groups `units`: the split hash of every document, per domain, and the domains in
/// order of first appearance after `known` (the dedup report's, which come first).
fn split_hashes(
    input: &Input,
    units: &[(usize, usize)],
    config: &TokenizeConfig,
    known: &[String],
    quiet: bool,
) -> Result<SplitHashes> {
    let progress = Progress::new(input.corpus.units_rows(units), "docs", quiet);
    progress.set_message("splitting");
    let hashes = input.corpus.par_map_units(units, &progress, |batch| {
        let names: Vec<String> = batch.domains().to_vec();
        Ok(batch
            .docs()
            .map(|(_, key, text)| {
                (
                    names[key as usize].clone(),
                    xxh3_64_with_seed(text.as_bytes(), config.seed),
                )
            })
            .collect::<Vec<_>>())
    })?;
    progress.finish();
    let mut domains = known.to_vec();
    let mut per_domain: HashMap<String, Vec<u64>> = HashMap::new();
    for (domain, hash) in hashes.into_iter().flatten() {
        if !per_domain.contains_key(&domain) && !domains.contains(&domain) {
            domains.push(domain.clone());
        }
        per_domain.entry(domain).or_default().push(hash);
    }
    Ok((domains, per_domain))
}

/// Each domain's validation threshold (`u64::MAX` for an evaluation-only domain: all of it), from its
/// document count and `kth(domain, k)`, the `k`-th smallest split hash of the domain (1-based). Errors:
/// an `eval_only` name the input lacks, or a training domain with documents but none held out.
fn thresholds(
    domains: &[String],
    documents: &HashMap<String, u64>,
    config: &TokenizeConfig,
    mut kth: impl FnMut(&str, u64) -> Result<u64>,
) -> Result<Vec<Option<u64>>> {
    for name in &config.eval_only {
        if !domains.contains(name) {
            bail!(
                "--eval-only names the domain `{name}`, which the input does not have. Its domains are: {}",
                domains.join(", ")
            );
        }
    }
    // Every proxy is scored on each domain's held-out documents: a training domain with documents but
    // none held out would stop `remix train` after the tokens are written; refuse it here.
    let mut unscored = Vec::new();
    let mut out = Vec::with_capacity(domains.len());
    for domain in domains {
        let n = documents.get(domain).copied().unwrap_or(0);
        if config.eval_only.contains(domain) {
            out.push(Some(u64::MAX));
            continue;
        }
        match held_out(n, config) {
            0 => {
                if n > 0 {
                    unscored.push(format!(
                        "`{domain}` ({n} document{})",
                        if n == 1 { "" } else { "s" }
                    ));
                }
                out.push(None);
            }
            k => out.push(Some(kth(domain, k)?)),
        }
    }
    if !unscored.is_empty() {
        bail!(
            "no document of {} would be held out for validation, and every proxy is scored on each domain's \
             held-out documents. A domain needs at least 2 documents (one to train on, one to hold out) and a \
             positive --val-fraction or --val-documents: add documents to it, merge it into another domain, or \
             mark it --eval-only (`[tokenize] eval_only` in a pipeline config)",
            unscored.join(", ")
        );
    }
    Ok(out)
}

/// Pass 2 over the row groups `units`: encodes in corpus order and streams each domain's documents
/// into `dir/<stem>.bin/.idx` (training) and `dir/<stem>.val.bin/.idx` (held out, by `thresholds`).
#[allow(clippy::too_many_arguments)]
fn encode(
    input: &Input,
    units: &[(usize, usize)],
    loaded: &LoadedTokenizer,
    domains: &[String],
    thresholds: &[Option<u64>],
    config: &TokenizeConfig,
    dir: &Path,
    quiet: bool,
) -> Result<Vec<Written>> {
    let dtype = TokenDtype::for_vocab(loaded.vocab_size);
    let mut shards: HashMap<String, DomainShards> = HashMap::new();
    for (domain, &val_threshold) in domains.iter().zip(thresholds) {
        let prefix = dir.join(file_stem(domain));
        shards.insert(
            domain.clone(),
            DomainShards {
                train: ShardWriter::create(&prefix, dtype)?,
                val: ShardWriter::create(&shard_path(&prefix, "val"), dtype)?,
                val_threshold,
                oversized: 0,
                val_bytes: 0,
            },
        );
    }
    let corpus = &input.corpus;
    let progress = Progress::new(corpus.units_rows(units), "docs", quiet);
    progress.set_message("tokenizing");
    corpus.for_each_batch_units(units, &progress, |batch| {
        let names: Vec<String> = batch.domains().to_vec();
        let mut pending: Vec<(usize, &str)> = Vec::new();
        let mut pending_bytes = 0;
        for (row, key, text) in batch.docs() {
            let domain = &names[key as usize];
            if text.len() as u64 > config.max_document_bytes {
                tracing::warn!(
                    "skipping a document of {} MB in domain `{domain}` (file {}, row {}): longer than \
                     the --max-document-bytes limit of {} MB",
                    text.len() >> 20,
                    corpus.files[batch.file].path.display(),
                    batch.first_row + row as u64,
                    config.max_document_bytes >> 20
                );
                if let Some(s) = shards.get_mut(domain) {
                    s.oversized += 1;
                }
                continue;
            }
            pending.push((key as usize, text));
            pending_bytes += text.len();
            if pending_bytes >= CHUNK_BYTES {
                encode_chunk(loaded, &pending, &names, &mut shards, config.seed)?;
                pending.clear();
                pending_bytes = 0;
            }
        }
        encode_chunk(loaded, &pending, &names, &mut shards, config.seed)
    })?;
    progress.finish();
    let mut written = Vec::with_capacity(domains.len());
    for domain in domains {
        let Some(s) = shards.remove(domain) else {
            continue;
        };
        if s.oversized > 0 {
            tracing::warn!(
                "domain `{domain}`: {} oversized documents skipped",
                s.oversized
            );
        }
        written.push(Written {
            documents: s.train.documents(),
            tokens: s.train.tokens(),
            val_documents: s.val.documents(),
            val_tokens: s.val.tokens(),
            val_bytes: s.val_bytes,
            digest: s.train.digest() + s.val.digest(),
        });
        s.train.finish()?;
        s.val.finish()?;
    }
    Ok(written)
}

/// The token index of `domains` with what was written for each.
fn make_index(
    loaded: &LoadedTokenizer,
    domains: &[String],
    written: &[Written],
    config: &TokenizeConfig,
) -> TokensIndex {
    TokensIndex {
        tokenizer_sha256: loaded.sha256.clone(),
        vocab_size: loaded.vocab_size as u64,
        dtype: TokenDtype::for_vocab(loaded.vocab_size),
        eod_id: loaded.eod_id as u64,
        domains: domains
            .iter()
            .zip(written)
            .map(|(domain, w)| TokenDomain {
                domain: domain.clone(),
                file_stem: file_stem(domain),
                documents: w.documents,
                tokens: w.tokens,
                val_documents: w.val_documents,
                val_tokens: w.val_tokens,
                eval_only: config.eval_only.contains(domain),
                val_unigram_entropy: None,
                val_bytes: Some(w.val_bytes),
                digest: Some(w.digest),
                parts: Vec::new(),
            })
            .collect(),
    }
}

/// Assembles the tokens folder in a staging folder with `fill`, which returns the index; writes
/// `index.json`, moves the folder into place and writes the marker. Nothing is left half-written.
fn write_tokens(
    work: &WorkDir,
    config: &TokenizeConfig,
    inputs: &[PathBuf],
    fill: impl FnOnce(&Path) -> Result<TokensIndex>,
) -> Result<TokensIndex> {
    let out_dir = work.stage_dir(StageFolder::Tokens);
    DoneMarker::clear(&out_dir)?;
    let mut index = None;
    write_dir(&out_dir, |staging| {
        let filled = fill(staging)?;
        write_json(&staging.join("index.json"), &filled)?;
        index = Some(filled);
        Ok(())
    })?;
    let index = index.context("the tokens folder was written")?;
    write_marker(&index, config, inputs, &out_dir)?;
    Ok(index)
}

/// Runs the tokenize stage on `input` (a dedup folder or a corpus) into `work`.
pub fn run(
    input: &Path,
    tokenizer_path: &Path,
    config: &TokenizeConfig,
    work: &WorkDir,
    quiet: bool,
) -> Result<TokensIndex> {
    check(config)?;
    let loaded = load_tokenizer(tokenizer_path, config.eod_token.as_deref())?;
    let input = open_input(input, &config.corpus)?;
    sample(&input.corpus, &loaded)?.check_unknown(&loaded, tokenizer_path)?;
    DoneMarker::clear(&work.stage_dir(StageFolder::Tokens))?;
    let units = input.corpus.units();
    let (domains, mut hashes) = split_hashes(&input, &units, config, &input.domains, quiet)?;
    let counts = hashes
        .iter()
        .map(|(d, h)| (d.clone(), h.len() as u64))
        .collect();
    let thresholds = thresholds(&domains, &counts, config, |domain, k| {
        let hashes = hashes.get_mut(domain).context("counted above")?;
        hashes.sort_unstable();
        Ok(hashes[k as usize - 1])
    })?;
    drop(hashes);
    let mut inputs = input.corpus.paths();
    inputs.push(tokenizer_path.to_path_buf());
    write_tokens(work, config, &inputs, |staging| {
        let written = encode(
            &input,
            &units,
            &loaded,
            &domains,
            &thresholds,
            config,
            staging,
            quiet,
        )?;
        let mut index = make_index(&loaded, &domains, &written, config);
        measure_unigram_entropies(&mut index, staging)?;
        Ok(index)
    })
}

/// Measures every domain's [`TokenDomain::val_unigram_entropy`] from its validation shard in
/// `tokens_dir`. Errors: an unreadable shard.
pub(crate) fn measure_unigram_entropies(index: &mut TokensIndex, tokens_dir: &Path) -> Result<()> {
    for domain in &mut index.domains {
        unigram::measure(domain, tokens_dir)
            .with_context(|| format!("measuring `{}`'s unigram entropy", domain.domain))?;
    }
    Ok(())
}

/// Writes the tokens folder's completion marker: the settings, the inputs, and the documents and tokens
/// of every domain (training and held out).
pub(crate) fn write_marker(
    index: &TokensIndex,
    config: &impl Serialize,
    inputs: &[PathBuf],
    out_dir: &Path,
) -> Result<()> {
    let total = |f: fn(&TokenDomain) -> u64| index.domains.iter().map(f).sum::<u64>();
    DoneMarker::new(StageFolder::Tokens, config, inputs)?
        .with_count("documents", total(|d| d.documents + d.val_documents))
        .with_count("tokens", total(|d| d.tokens + d.val_tokens))
        .write(out_dir)
}

/// Documents a domain of `n` holds out for validation: `val_documents`, or `val_fraction` of them
/// (at least one when the fraction is positive), never all of them; 0 below two documents.
fn held_out(n: u64, config: &TokenizeConfig) -> u64 {
    if n < 2 {
        return 0;
    }
    let wanted = match config.val_documents {
        Some(count) => count,
        None => ((config.val_fraction * n as f64).round() as u64)
            .max(u64::from(config.val_fraction > 0.0)),
    };
    wanted.min(n - 1)
}

fn encode_chunk(
    loaded: &LoadedTokenizer,
    docs: &[(usize, &str)],
    names: &[String],
    shards: &mut HashMap<String, DomainShards>,
    seed: u64,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let texts: Vec<&str> = docs.iter().map(|(_, t)| *t).collect();
    let encodings = loaded
        .tokenizer
        .encode_batch_fast(texts, false)
        .map_err(|e| anyhow::anyhow!("the tokenizer failed: {e}"))?;
    let mut ids = Vec::new();
    for ((key, text), encoding) in docs.iter().zip(&encodings) {
        let Some(s) = shards.get_mut(&names[*key]) else {
            bail!("document of unexpected domain `{}`", names[*key]);
        };
        ids.clear();
        ids.extend_from_slice(encoding.get_ids());
        ids.push(loaded.eod_id);
        let to_val = s
            .val_threshold
            .is_some_and(|t| xxh3_64_with_seed(text.as_bytes(), seed) <= t);
        if to_val {
            s.val_bytes += text.len() as u64;
            s.val.push(&ids)?
        } else {
            s.train.push(&ids)?
        }
    }
    Ok(())
}
