//! Opening the files `remix tokens import` reads: a Megatron prefix whole, or a raw token file with its
//! documents found by their end-of-document token and a Megatron index written for it; then the checks
//! every file of a domain must pass (one dtype, one end-of-document token, ids under the vocabulary).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::core::progress::Progress;
use crate::data::tokens::read::{TokenShard, decode};
use crate::data::tokens::write::{TokenDtype, shard_path, write_index};

/// Tokens scanned per task: large enough to amortise the task, small enough to spread a file over
/// every thread.
const SCAN_TOKENS: usize = 1 << 22;

/// One file of a domain, opened whole.
pub(super) struct Imported {
    /// The prefix as `index.json` records it: absolute, or relative to the tokens folder.
    pub(super) prefix: String,
    /// The user's file errors name: the `.bin`, or the raw token file.
    pub(super) source: PathBuf,
    /// The files it reads (for the completion marker).
    pub(super) inputs: Vec<PathBuf>,
    pub(super) shard: TokenShard,
    /// The largest token id, and how many documents end with each token (empty until scanned).
    pub(super) max_id: u32,
    pub(super) last_tokens: BTreeMap<u32, u64>,
}

/// Opens a Megatron prefix whole, by its absolute path.
pub(super) fn open_megatron(prefix: &Path) -> Result<Imported> {
    let idx = shard_path(prefix, "idx");
    let bin = shard_path(prefix, "bin");
    for file in [&idx, &bin] {
        if !file.is_file() {
            bail!(
                "{} does not exist: a Megatron prefix names PREFIX.bin and PREFIX.idx (give the path without \
                 the extension, as Megatron's --data-path does)",
                file.display()
            );
        }
    }
    // The folder resolved, the name kept: the files may be links (a Hugging Face hub snapshot's are).
    let folder = prefix
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = folder
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", folder.display()))?;
    let absolute = folder.join(prefix.file_name().unwrap_or_default());
    let shard = TokenShard::open(&absolute)?;
    Ok(Imported {
        prefix: absolute.display().to_string(),
        source: shard_path(&absolute, "bin"),
        inputs: vec![shard_path(&absolute, "bin"), shard_path(&absolute, "idx")],
        shard,
        max_id: 0,
        last_tokens: BTreeMap::new(),
    })
}

/// Opens a raw token file: finds its documents (ends at `eod`) and writes a Megatron index for it at
/// `staged` (`.idx`, and `.bin` a link to the file).
pub(super) fn open_numpy(
    path: &Path,
    dtype: TokenDtype,
    eod: u64,
    staged: &Path,
    prefix: String,
) -> Result<Imported> {
    let absolute = path
        .canonicalize()
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let file =
        fs::File::open(&absolute).with_context(|| format!("cannot open {}", absolute.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot read {}", absolute.display()))?
        .len();
    let width = dtype.bytes() as u64;
    // SAFETY: mapped read-only for this scan; a file changed meanwhile gives a wrong index, which the
    // size check of every later open refuses.
    let map = if size == 0 {
        None
    } else {
        Some(
            unsafe { memmap2::Mmap::map(&file) }
                .with_context(|| format!("cannot map {}", absolute.display()))?,
        )
    };
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    if bytes.starts_with(b"\x93NUMPY") {
        bail!(
            "{} has a NumPy header: remix reads raw token files (numpy's tofile or np.memmap, as OLMo-core and \
             dolma write them); strip the header or write the tokens with tofile",
            absolute.display()
        );
    }
    if size % width != 0 {
        bail!(
            "{} holds {size} bytes, not a whole number of {}-byte tokens: the file is truncated, or its \
             dtype is not --dtype {}",
            absolute.display(),
            width,
            if dtype == TokenDtype::U16 {
                "uint16"
            } else {
                "uint32"
            }
        );
    }
    // Document ends (one past each end-of-document token) and the largest id, in parallel chunks:
    // the one pass over the file.
    let chunk_bytes = SCAN_TOKENS * width as usize;
    let (ends, max_ids): (Vec<Vec<u64>>, Vec<u32>) = bytes
        .par_chunks(chunk_bytes)
        .enumerate()
        .map(|(c, chunk)| {
            let first = (c * SCAN_TOKENS) as u64;
            let mut ids = vec![0u32; chunk.len() / width as usize];
            decode(dtype, chunk, &mut ids);
            let ends = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| u64::from(**id) == eod)
                .map(|(i, _)| first + i as u64 + 1)
                .collect();
            (ends, ids.into_iter().max().unwrap_or(0))
        })
        .unzip();
    let tokens = size / width;
    // Every end-of-document token ends a document; a last one without it ends on its last token.
    let mut last_tokens = BTreeMap::new();
    let ended: u64 = ends.iter().map(|e| e.len() as u64).sum();
    if ended > 0 {
        last_tokens.insert(eod as u32, ended);
    }
    if tokens > 0 && ends.last().and_then(|e| e.last()) != Some(&tokens) {
        let mut last = [0u32];
        decode(dtype, &bytes[bytes.len() - width as usize..], &mut last);
        *last_tokens.entry(last[0]).or_default() += 1;
    }
    let mut lengths = Vec::new();
    let mut start = 0u64;
    for end in ends
        .into_iter()
        .flatten()
        .chain((tokens > 0).then_some(tokens))
    {
        if end == start {
            continue;
        }
        let Ok(length) = i32::try_from(end - start) else {
            bail!(
                "{} has a document of {} tokens from token {start}, more than Megatron's i32 lengths hold: is \
                 --eod-token-id {eod} the token that ends its documents?",
                absolute.display(),
                end - start
            );
        };
        lengths.push(length);
        start = end;
    }
    write_index(&shard_path(staged, "idx"), dtype, &lengths)?;
    let link = shard_path(staged, "bin");
    std::os::unix::fs::symlink(&absolute, &link)
        .with_context(|| format!("cannot link {} to {}", link.display(), absolute.display()))?;
    drop(map);
    let shard = TokenShard::open(staged)?;
    Ok(Imported {
        prefix,
        source: absolute.clone(),
        inputs: vec![absolute],
        shard,
        max_id: max_ids.into_iter().max().unwrap_or(0),
        last_tokens,
    })
}

/// The largest token id of a file, and the last token of each of its documents.
pub(super) fn scan(file: &mut Imported, progress: &Progress) {
    let shard = &file.shard;
    let bytes = shard.token_bytes(0, shard.tokens());
    let dtype = shard.dtype();
    let width = dtype.bytes();
    file.max_id = bytes
        .par_chunks(SCAN_TOKENS * width)
        .map(|chunk| {
            let mut ids = vec![0u32; chunk.len() / width];
            decode(dtype, chunk, &mut ids);
            progress.inc(ids.len() as u64);
            ids.into_iter().max().unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    let mut last = [0u32];
    for d in 0..shard.documents() {
        let doc = shard.document_bytes(d);
        if doc.len() >= width {
            decode(dtype, &doc[doc.len() - width..], &mut last);
            *file.last_tokens.entry(last[0]).or_default() += 1;
        }
    }
}

/// The one dtype of every file.
pub(super) fn one_dtype(domains: &BTreeMap<&str, Vec<Imported>>) -> Result<TokenDtype> {
    let mut files = domains
        .iter()
        .flat_map(|(d, fs)| fs.iter().map(move |f| (d, f)));
    let Some((first_domain, first)) = files.next() else {
        bail!("nothing to import");
    };
    for (domain, file) in files {
        if file.shard.dtype() != first.shard.dtype() {
            let scope = if domain == first_domain {
                format!("domain `{domain}`'s files")
            } else {
                format!("the files of `{first_domain}` and `{domain}`")
            };
            bail!(
                "{scope} disagree on the token dtype: {} holds {} tokens, {} holds {}. A token index holds one \
                 dtype: write every file with the same tokenizer and dtype",
                first.source.display(),
                first.shard.dtype().name(),
                file.source.display(),
                file.shard.dtype().name()
            );
        }
    }
    Ok(first.shard.dtype())
}

/// The token every document of the first file ends with.
pub(super) fn inferred_eod(domains: &BTreeMap<&str, Vec<Imported>>) -> Result<u64> {
    let first = domains
        .values()
        .flatten()
        .find(|f| !f.last_tokens.is_empty());
    match first.map(|f| (f, f.last_tokens.iter().collect::<Vec<_>>())) {
        Some((_, ends)) if ends.len() == 1 => Ok(u64::from(*ends[0].0)),
        Some((file, ends)) => bail!(
            "the documents of {} end with {} different tokens (most often {}): pass --eod-token-id with the token \
             that ends a document, or --tokenizer",
            file.source.display(),
            ends.len(),
            ends.iter()
                .max_by_key(|(_, n)| **n)
                .map(|(id, n)| format!("{id}, {n} times"))
                .unwrap_or_default()
        ),
        None => bail!("no imported file holds a document: nothing to train on"),
    }
}

/// Token ids under the vocabulary, and the domain's files ending documents alike.
pub(super) fn check_vocabulary(
    domain: &str,
    files: &[Imported],
    vocab_size: u64,
    eod: u64,
) -> Result<()> {
    for file in files {
        if file.shard.dtype() == TokenDtype::I32 && file.max_id > i32::MAX as u32 {
            bail!(
                "{} holds token id {} (read as uint32), which Megatron's int32 tokens cannot hold: is its dtype \
                 right?",
                file.source.display(),
                file.max_id
            );
        }
        if u64::from(file.max_id) >= vocab_size {
            bail!(
                "{} holds token id {}, outside the vocabulary of {vocab_size} tokens: it was tokenized with another \
                 vocabulary (give the tokenizer it was written with, or --vocab-size)",
                file.source.display(),
                file.max_id
            );
        }
    }
    let ends_with_eod = |f: &Imported| {
        f.last_tokens.get(&(eod as u32)).copied().unwrap_or(0) as f64
            / f.last_tokens.values().sum::<u64>().max(1) as f64
    };
    let all = files.iter().find(|f| ends_with_eod(f) == 1.0);
    let none = files
        .iter()
        .find(|f| ends_with_eod(f) == 0.0 && !f.last_tokens.is_empty());
    if let (Some(all), Some(none)) = (all, none) {
        bail!(
            "domain `{domain}`'s files disagree on the vocabulary: every document of {} ends with the \
             end-of-document id {eod}, none of {}'s does. Its files were tokenized differently; re-tokenize them \
             with one tokenizer",
            all.source.display(),
            none.source.display()
        );
    }
    let documents: u64 = files.iter().flat_map(|f| f.last_tokens.values()).sum();
    let ended: u64 = files
        .iter()
        .filter_map(|f| f.last_tokens.get(&(eod as u32)))
        .sum();
    if ended < documents {
        tracing::warn!(
            "{} of {documents} documents of `{domain}` do not end with the end-of-document id {eod}: in the \
             proxies' stream they run into the next document",
            documents - ended
        );
    }
    Ok(())
}
