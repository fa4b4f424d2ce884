//! `remix tokens import`: token files a team already has, brought into a work directory in place of
//! the dedup and tokenize stages.
//!
//! Two kinds of files are read where they are, never copied:
//! - Megatron indexed datasets (`PREFIX.bin` + `PREFIX.idx`), as Megatron-LM's `preprocess_data.py` and
//!   megatron-core's `IndexedDatasetBuilder` write them; documents come from the `.idx`.
//! - raw token files (`.npy` as OLMo-core and dolma write them: no header, `uint16` or `uint32`
//!   little-endian), documents ending with the end-of-document token. remix scans them for the
//!   document ends and writes a Megatron `.idx` for each in `WORK/tokens/<stem>.<k>.idx`, with
//!   `<stem>.<k>.bin` a symbolic link to the file, so Megatron's reader (and every export) reads it as
//!   a Megatron prefix. `uint32` tokens are stored as Megatron's `int32` (the same bytes for ids under
//!   2^31, which is checked).
//!
//! Every file is checked as the proxies will read it: its index against its size (a truncated `.bin`
//! is refused), one dtype across the domain's files (and the run's, which `tokens/index.json` records
//! once), every token id under the vocabulary, and the end-of-document token: given, the tokenizer's,
//! or the one every document of the first file ends with. Files of one domain whose documents end in
//! different tokens were tokenized with different vocabularies, and are refused.
//!
//! Validation is held out by document as Megatron's `--split` does: a domain's last documents (its last
//! file's tail), `val_fraction` of them (at least one), copied into `WORK/tokens/<stem>.val.bin/.idx`;
//! the training stream is every document before them ([`crate::data::tokens::TokenPart`]). An evaluation-only
//! domain is copied whole into its validation shard. The Megatron, NeoX and OLMo-core exports name the
//! files, which their trainers read whole: the main run trains on the held-out tail too, which was only
//! ever the proxies' yardstick (and a domain's weight is split over its files by their training tokens,
//! so its last file's share is low by at most its held-out share). The native formats written from the
//! shards hold the training documents.

mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{TokenizeConfig, load_tokenizer};
use crate::core::domain::file_stem;
use crate::core::progress::Progress;
use crate::core::workdir::{DoneMarker, StageFolder, WorkDir, write_dir, write_json};
use crate::data::tokens::write::{ShardWriter, TokenDtype};
use crate::data::tokens::{ContentDigest, TokenDomain, TokenPart, TokensIndex};
use files::{Imported, check_vocabulary, inferred_eod, one_dtype, open_megatron, open_numpy, scan};
use rayon::prelude::*;

/// What to import (`remix tokens import`, or `[tokens.import]` in a pipeline config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// Megatron prefixes (`PREFIX.bin` + `PREFIX.idx`) per domain, in stream order.
    pub megatron: BTreeMap<String, Vec<PathBuf>>,
    /// Raw token files per domain (no header; documents end with the end-of-document token), in stream
    /// order.
    pub numpy: BTreeMap<String, Vec<PathBuf>>,
    /// The token type of the raw files: `uint16` or `uint32`. Required with `numpy`.
    pub dtype: Option<String>,
    /// The end-of-document token id. Default: the tokenizer's, else the token every document of the first
    /// Megatron file ends with. Required with `numpy` and no tokenizer.
    pub eod_token_id: Option<u64>,
    /// The vocabulary size. Default: the tokenizer's, else the largest token id plus one.
    pub vocab_size: Option<u64>,
    /// The HuggingFace `tokenizer.json` the files were written with: its vocabulary and end-of-document
    /// token, and the text the `hf` and `torchtitan` exports decode. Default none.
    pub tokenizer: Option<PathBuf>,
    /// Domains held out whole for evaluation, never trained on. Default none.
    pub eval_only: Vec<String>,
    /// Share of each domain's documents held out for validation, from its end. Default 0.01, at least
    /// one document, as `remix tokenize`.
    pub val_fraction: f64,
    /// Documents held out per domain, instead of a fraction. Default none.
    pub val_documents: Option<u64>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            megatron: BTreeMap::new(),
            numpy: BTreeMap::new(),
            dtype: None,
            eod_token_id: None,
            vocab_size: None,
            tokenizer: None,
            eval_only: Vec::new(),
            val_fraction: TokenizeConfig::default().val_fraction,
            val_documents: None,
        }
    }
}

/// Imports the token files of `config` into `work/tokens`. Errors (the tokens folder is left as it was): a
/// source inside the tokens folder, a prefix without
/// `.idx` or `.bin`, a truncated file, dtypes that disagree, token ids outside the vocabulary, files of
/// a domain ending documents with different tokens, a domain with no document for validation.
pub fn run(config: &ImportConfig, work: &WorkDir, quiet: bool) -> Result<TokensIndex> {
    check(config)?;
    let tokenizer = config
        .tokenizer
        .as_deref()
        .map(|path| load_tokenizer(path, None))
        .transpose()?;
    let out_dir = work.stage_dir(StageFolder::Tokens);
    refuse_sources_inside(config, &out_dir)?;
    let mut done = None;
    write_dir(&out_dir, |staging| {
        let numpy_dtype = config.dtype.as_deref().map(parse_dtype).transpose()?;
        // Every domain's files, opened and scanned.
        let mut domains: BTreeMap<&str, Vec<Imported>> = BTreeMap::new();
        for (domain, prefixes) in &config.megatron {
            let files = prefixes
                .iter()
                .map(|p| open_megatron(p))
                .collect::<Result<Vec<_>>>()?;
            domains.insert(domain, files);
        }
        for (domain, paths) in &config.numpy {
            let dtype = numpy_dtype.context("numpy files need --dtype uint16|uint32")?;
            let eod = config
                .eod_token_id
                .or(tokenizer.as_ref().map(|t| u64::from(t.eod_id)))
                .context(
                    "raw token files are split into documents at the end-of-document token: pass \
                     --eod-token-id (or --tokenizer)",
                )?;
            let files = paths
                .iter()
                .enumerate()
                .map(|(k, path)| {
                    let prefix = format!("{}.{k}", file_stem(domain));
                    open_numpy(path, dtype, eod, &staging.join(&prefix), prefix)
                })
                .collect::<Result<Vec<_>>>()?;
            domains.insert(domain, files);
        }
        // Raw files were scanned as their documents were found; Megatron files are scanned here.
        let unscanned = |f: &&mut Imported| f.last_tokens.is_empty();
        let progress = Progress::new(
            domains
                .values_mut()
                .flatten()
                .filter(unscanned)
                .map(|f| f.shard.tokens())
                .sum(),
            "tokens",
            quiet,
        );
        progress.set_message("scanning");
        for file in domains.values_mut().flatten().filter(unscanned) {
            scan(file, &progress);
        }
        progress.finish();

        let dtype = one_dtype(&domains)?;
        let eod = match (config.eod_token_id, &tokenizer) {
            (Some(id), _) => id,
            (None, Some(t)) => u64::from(t.eod_id),
            (None, None) => inferred_eod(&domains)?,
        };
        let max_id = domains
            .values()
            .flatten()
            .map(|f| f.max_id)
            .max()
            .unwrap_or(0);
        let vocab_size = match (config.vocab_size, &tokenizer) {
            (Some(v), Some(t)) if v != t.vocab_size as u64 => bail!(
                "--vocab-size {v} disagrees with the tokenizer's {}: give one of them",
                t.vocab_size
            ),
            (Some(v), _) => v,
            (None, Some(t)) => t.vocab_size as u64,
            (None, None) => {
                tracing::info!(
                    vocab_size = max_id as u64 + 1,
                    "no tokenizer or --vocab-size: the vocabulary is the largest token id plus one"
                );
                max_id as u64 + 1
            }
        };
        if eod >= vocab_size {
            bail!("the end-of-document id {eod} is outside the vocabulary of {vocab_size} tokens");
        }
        let mut index = TokensIndex {
            tokenizer_sha256: tokenizer
                .as_ref()
                .map(|t| t.sha256.clone())
                .unwrap_or_default(),
            vocab_size,
            dtype,
            eod_id: eod,
            domains: Vec::new(),
        };
        let mut inputs = Vec::new();
        for (domain, files) in &domains {
            check_vocabulary(domain, files, vocab_size, eod)?;
            let eval_only = config.eval_only.iter().any(|d| d == domain);
            index
                .domains
                .push(split(domain, files, eval_only, config, dtype, staging)?);
            inputs.extend(files.iter().flat_map(|f| f.inputs.iter().cloned()));
        }
        inputs.extend(config.tokenizer.iter().cloned());
        write_json(&staging.join("index.json"), &index)?;
        // The old folder stays, marker included, until the new one is complete.
        DoneMarker::clear(&out_dir)?;
        done = Some((index, inputs));
        Ok(())
    })?;
    let (index, inputs) = done.context("the tokens folder was written")?;
    super::write_marker(&index, config, &inputs, &out_dir)?;
    Ok(index)
}

/// Refuses files inside the tokens folder the import replaces (`remix tokenize`'s own shards there
/// would be deleted with it).
fn refuse_sources_inside(config: &ImportConfig, out_dir: &Path) -> Result<()> {
    let Ok(out_dir) = out_dir.canonicalize() else {
        return Ok(());
    };
    for path in config
        .megatron
        .values()
        .chain(config.numpy.values())
        .flatten()
    {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if parent.canonicalize().is_ok_and(|p| p.starts_with(&out_dir)) {
            bail!(
                "{} is inside {}, which the import replaces: move the files out of the work directory's tokens \
                 folder first (or import into another work directory)",
                path.display(),
                out_dir.display()
            );
        }
    }
    Ok(())
}

/// Settings errors, before any file is read.
fn check(config: &ImportConfig) -> Result<()> {
    if config.megatron.is_empty() && config.numpy.is_empty() {
        bail!("nothing to import: give --megatron DOMAIN=PREFIX or --numpy DOMAIN=FILE");
    }
    if let Some(domain) = config
        .megatron
        .keys()
        .find(|d| config.numpy.contains_key(*d))
    {
        bail!(
            "domain `{domain}` is given both Megatron prefixes and raw token files: a domain's files share one \
             format; write them as one of the two"
        );
    }
    for (domain, files) in config.megatron.iter().chain(&config.numpy) {
        if domain.is_empty() {
            bail!("a domain needs a name: --megatron DOMAIN=PREFIX");
        }
        if files.is_empty() {
            bail!("domain `{domain}` has no files");
        }
    }
    let known = |d: &String| config.megatron.contains_key(d) || config.numpy.contains_key(d);
    if let Some(unknown) = config.eval_only.iter().find(|d| !known(d)) {
        bail!("--eval-only `{unknown}` is not one of the imported domains");
    }
    if !(0.0..1.0).contains(&config.val_fraction) {
        bail!(
            "--val-fraction must be at least 0 and below 1, not {}",
            config.val_fraction
        );
    }
    if !config.numpy.is_empty() && config.dtype.is_none() {
        bail!("raw token files carry no dtype: pass --dtype uint16 or --dtype uint32");
    }
    Ok(())
}

fn parse_dtype(name: &str) -> Result<TokenDtype> {
    match name {
        "uint16" => Ok(TokenDtype::U16),
        "uint32" => Ok(TokenDtype::I32),
        other => bail!("--dtype {other}: remix reads uint16 and uint32 raw token files"),
    }
}

/// Holds the domain's last documents out into `<stem>.val` (all of them for an evaluation-only domain)
/// and records the rest as its training parts.
fn split(
    domain: &str,
    files: &[Imported],
    eval_only: bool,
    config: &ImportConfig,
    dtype: TokenDtype,
    staging: &Path,
) -> Result<TokenDomain> {
    let documents: u64 = files.iter().map(|f| f.shard.documents() as u64).sum();
    let held = if eval_only {
        documents
    } else {
        let wanted = match config.val_documents {
            Some(count) => count,
            None => ((config.val_fraction * documents as f64).round() as u64)
                .max(u64::from(config.val_fraction > 0.0)),
        };
        if documents < 2 || wanted == 0 {
            bail!(
                "domain `{domain}` has {documents} document(s) and {wanted} held out: a training domain needs at \
                 least one document for validation and one for training. Raise --val-fraction or \
                 --val-documents, mark it --eval-only, or leave it out"
            );
        }
        wanted.min(documents - 1)
    };
    let stem = file_stem(domain);
    let mut val = ShardWriter::create(&staging.join(format!("{stem}.val")), dtype)?;
    let mut parts = Vec::new();
    let mut before = 0u64;
    let mut digest = ContentDigest::default();
    for file in files {
        let n = file.shard.documents() as u64;
        let train = n.min((documents - held).saturating_sub(before));
        for d in train..n {
            val.push(&file.shard.document(d as usize))?;
        }
        if train > 0 {
            let (tokens, file_digest) = (0..train as usize)
                .into_par_iter()
                .map(|d| {
                    let bytes = file.shard.document_bytes(d);
                    (
                        bytes.len() as u64 / dtype.bytes() as u64,
                        ContentDigest::of_document(bytes),
                    )
                })
                .reduce(
                    || (0, ContentDigest::default()),
                    |a, b| (a.0 + b.0, a.1 + b.1),
                );
            digest += file_digest;
            parts.push(TokenPart {
                prefix: file.prefix.clone(),
                documents: train,
                tokens,
            });
        }
        before += n;
    }
    let (val_documents, val_tokens) = (val.documents(), val.tokens());
    digest += val.digest();
    val.finish()?;
    let mut domain = TokenDomain {
        domain: domain.to_string(),
        file_stem: stem,
        documents: parts.iter().map(|p| p.documents).sum(),
        tokens: parts.iter().map(|p| p.tokens).sum(),
        val_documents,
        val_tokens,
        eval_only,
        val_unigram_entropy: None,
        // Imported tokens come without their text.
        val_bytes: None,
        digest: Some(digest),
        parts,
    };
    crate::data::tokens::unigram::measure(&mut domain, staging)?;
    Ok(domain)
}
