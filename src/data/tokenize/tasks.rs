//! The tokenize stage as array tasks, over a shared work directory: the same token stream per domain
//! and the same validation split as the one-process [`super::run`], for any task count.
//!
//! With `[executor] tasks = { tokenize = N }` the stage runs as three phases, each reading what the
//! one before it wrote in `WORK/tokenize-tasks/`:
//!
//! 1. **hashes** (N tasks): task `i` computes the split hash of every document of its row groups
//!    ([`crate::data::corpus::Corpus::task_units`]) and writes, per domain, the hashes sorted
//!    (`hashes/<i>/<stem>.u64`, little-endian) and `meta.json` (its domains in order of first appearance
//!    and their counts).
//! 2. **split** (1 task): per domain, the `k`-th smallest hash over every task (a merge of the sorted
//!    files that stops at `k`, memory bounded by the task count) is the validation threshold, the one the
//!    one-process run takes from the whole domain; written to `split.json`.
//! 3. **encode** (N tasks): task `i` encodes its row groups in corpus order into `encode/<i>/`, one
//!    training and one validation shard per domain, and `written.json`.
//!
//! The stage itself then assembles `tokens/`: each domain's training shards stay one file per task
//! (`<stem>.<i>-of-<N>.bin/.idx`, listed in task order as the domain's `parts` in `index.json`, so the
//! stream read across them is the one-process stream), and its validation shards are joined into one
//! `<stem>.val.bin/.idx`, byte-identical to the one-process file. A domain no task has training documents
//! for gets an empty `<stem>.bin/.idx`, as one process writes it.

use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{
    Input, TokenizeConfig, Written, check, encode, load_tokenizer, make_index,
    measure_unigram_entropies, open_input, split_hashes, thresholds, write_tokens,
};
use crate::core::domain::file_stem;
use crate::core::tasks::TaskSlice;
use crate::core::workdir::{WorkDir, read_json, write_atomic, write_dir};
use crate::data::tokens::read::TokenShard;
use crate::data::tokens::write::{ShardWriter, TokenDtype, shard_path};
use crate::data::tokens::{TokenPart, TokensIndex};

/// The folder of the phases' files inside the work directory.
pub const TASKS_FOLDER: &str = "tokenize-tasks";

/// `WORK/tokenize-tasks/`.
pub fn tasks_dir(work: &WorkDir) -> PathBuf {
    work.root().join(TASKS_FOLDER)
}

/// `hashes/<i>/meta.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct HashMeta {
    /// Its domains, the dedup report's first, then in order of first appearance.
    domains: Vec<String>,
    /// Documents per domain (the length of its hash file).
    documents: Vec<u64>,
}

/// `split.json`: every domain in output order and its validation threshold.
#[derive(Debug, Serialize, Deserialize)]
struct Split {
    domains: Vec<String>,
    thresholds: Vec<Option<u64>>,
}

fn task_dir(dir: &Path, phase: &str, task: TaskSlice) -> PathBuf {
    dir.join(phase).join(task.file_name())
}

/// Phase 1, task `task`: the split hashes of its row groups.
pub fn hashes(
    input_path: &Path,
    config: &TokenizeConfig,
    dir: &Path,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    check(config)?;
    let input = open_input(input_path, &config.corpus)?;
    let units = input.corpus.task_units(task.index, task.count);
    let (domains, mut hashes) = split_hashes(&input, &units, config, &input.domains, quiet)?;
    write_dir(&task_dir(dir, "hashes", task), |out| {
        let mut meta = HashMeta::default();
        for domain in &domains {
            let mut values = hashes.remove(domain).unwrap_or_default();
            values.sort_unstable();
            let bytes: Vec<u8> = values.iter().flat_map(|h| h.to_le_bytes()).collect();
            write_atomic(&out.join(format!("{}.u64", file_stem(domain))), &bytes)?;
            meta.domains.push(domain.clone());
            meta.documents.push(values.len() as u64);
        }
        write_atomic(&out.join("meta.json"), &serde_json::to_vec(&meta)?)
    })
}

/// `path`, which the tokenize `phase` phase writes.
fn read_phase<T: serde::de::DeserializeOwned>(path: &Path, phase: &str) -> Result<T> {
    read_json(
        path,
        &format!("the tokenize {phase} phase has not finished; run it first"),
    )
}

/// The `k`-th smallest (1-based) of the sorted hash files `paths`, merged without loading them.
fn kth_smallest(paths: &[PathBuf], k: u64) -> Result<u64> {
    let mut readers = Vec::with_capacity(paths.len());
    let mut heap = BinaryHeap::new();
    let next = |reader: &mut BufReader<fs::File>, path: &Path| -> Result<Option<u64>> {
        let mut word = [0u8; 8];
        match reader.read_exact(&mut word) {
            Ok(()) => Ok(Some(u64::from_le_bytes(word))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    };
    for (i, path) in paths.iter().enumerate() {
        let file =
            fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut reader = BufReader::with_capacity(1 << 13, file);
        if let Some(h) = next(&mut reader, path)? {
            heap.push(std::cmp::Reverse((h, i)));
        }
        readers.push(reader);
    }
    let mut taken = 0;
    while let Some(std::cmp::Reverse((h, i))) = heap.pop() {
        taken += 1;
        if taken == k {
            return Ok(h);
        }
        if let Some(h) = next(&mut readers[i], &paths[i])? {
            heap.push(std::cmp::Reverse((h, i)));
        }
    }
    bail!("the hash files hold fewer than {k} hashes: run the tokenize hashes phase again")
}

/// Phase 2 (one task): each domain's validation threshold.
pub fn split(config: &TokenizeConfig, dir: &Path, count: usize) -> Result<()> {
    let mut domains: Vec<String> = Vec::new();
    let mut documents: HashMap<String, u64> = HashMap::new();
    let mut files: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for index in 0..count {
        let task = task_dir(dir, "hashes", TaskSlice { index, count });
        let meta: HashMeta = read_phase(&task.join("meta.json"), "hashes")?;
        for (domain, n) in meta.domains.iter().zip(&meta.documents) {
            if !domains.contains(domain) {
                domains.push(domain.clone());
            }
            *documents.entry(domain.clone()).or_default() += n;
            files
                .entry(domain.clone())
                .or_default()
                .push(task.join(format!("{}.u64", file_stem(domain))));
        }
    }
    let thresholds = thresholds(&domains, &documents, config, |domain, k| {
        kth_smallest(&files[domain], k)
    })?;
    write_atomic(
        &dir.join("split.json"),
        &serde_json::to_vec(&Split {
            domains,
            thresholds,
        })?,
    )
}

/// Phase 3, task `task`: its row groups encoded into `encode/<task>/`.
pub fn encode_task(
    input_path: &Path,
    tokenizer_path: &Path,
    config: &TokenizeConfig,
    dir: &Path,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    let loaded = load_tokenizer(tokenizer_path, config.eod_token.as_deref())?;
    let input: Input = open_input(input_path, &config.corpus)?;
    let split: Split = read_phase(&dir.join("split.json"), "split")?;
    let units = input.corpus.task_units(task.index, task.count);
    write_dir(&task_dir(dir, "encode", task), |out| {
        let written = encode(
            &input,
            &units,
            &loaded,
            &split.domains,
            &split.thresholds,
            config,
            out,
            quiet,
        )?;
        write_atomic(&out.join("written.json"), &serde_json::to_vec(&written)?)
    })
}

/// The stage after its phases: `tokens/` from the encode tasks' shards, `index.json` and the marker;
/// `tokenize-tasks/` is removed.
pub fn join(
    input_path: &Path,
    tokenizer_path: &Path,
    config: &TokenizeConfig,
    work: &WorkDir,
    count: usize,
) -> Result<TokensIndex> {
    let loaded = load_tokenizer(tokenizer_path, config.eod_token.as_deref())?;
    let input = open_input(input_path, &config.corpus)?;
    let dir = tasks_dir(work);
    let split: Split = read_phase(&dir.join("split.json"), "split")?;
    let dtype = TokenDtype::for_vocab(loaded.vocab_size);
    let tasks: Vec<TaskSlice> = (0..count).map(|index| TaskSlice { index, count }).collect();
    let written: Vec<Vec<Written>> = tasks
        .iter()
        .map(|&t| read_phase(&task_dir(&dir, "encode", t).join("written.json"), "encode"))
        .collect::<Result<_>>()?;
    let mut inputs = input.corpus.paths();
    inputs.push(tokenizer_path.to_path_buf());
    let index = write_tokens(work, config, &inputs, |staging| {
        let mut totals = vec![Written::default(); split.domains.len()];
        let mut parts: Vec<Vec<TokenPart>> = vec![Vec::new(); split.domains.len()];
        for (d, domain) in split.domains.iter().enumerate() {
            let stem = file_stem(domain);
            let mut val = ShardWriter::create(&staging.join(format!("{stem}.val")), dtype)?;
            for (task, written) in tasks.iter().zip(&written) {
                let w = written.get(d).copied().unwrap_or_default();
                let from = task_dir(&dir, "encode", *task).join(&stem);
                if w.documents > 0 {
                    let name = format!("{stem}.{}", task.file_name());
                    for ext in ["bin", "idx"] {
                        let (a, b) = (
                            shard_path(&from, ext),
                            staging.join(format!("{name}.{ext}")),
                        );
                        fs::rename(&a, &b).with_context(|| {
                            format!("cannot move {} to {}", a.display(), b.display())
                        })?;
                    }
                    parts[d].push(TokenPart {
                        prefix: name,
                        documents: w.documents,
                        tokens: w.tokens,
                    });
                }
                if w.val_documents > 0 {
                    let shard = TokenShard::open(&shard_path(&from, "val"))?;
                    for i in 0..shard.documents() {
                        val.push(&shard.document(i))?;
                    }
                }
                totals[d].add(&w);
            }
            val.finish()?;
            if parts[d].is_empty() {
                ShardWriter::create(&staging.join(&stem), dtype)?.finish()?;
            }
        }
        let mut index = make_index(&loaded, &split.domains, &totals, config);
        for (domain, parts) in index.domains.iter_mut().zip(parts) {
            domain.parts = parts;
        }
        measure_unigram_entropies(&mut index, staging)?;
        Ok(index)
    })?;
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(index)
}
