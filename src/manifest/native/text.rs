//! Documents as text, for the trainers that tokenize for themselves: HF `datasets` (the `hf` export) and
//! torchtitan, whose `HuggingFaceTextDataset` encodes each row's text with the run's tokenizer.
//!
//! Each training document of a domain's token shard is decoded with the tokenizer that wrote it (found
//! through the tokens folder's completion marker, which names it, and checked by its SHA-256) and
//! written, end-of-document token dropped, as one row of a Parquet column `text`, in shard order, in
//! parts of up to 64 MiB of text (`part-00000.parquet`, ...). These are the documents the proxies
//! trained on (the held-out validation documents are not in them). Decoding gives back the text that was
//! encoded for byte-level BPE tokenizers (GPT-2, Llama 3, the ones `remix tokenizer train` makes); a
//! tokenizer that normalises (lower-casing, Unicode forms) gives back the normalised text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::folder::FolderWriter;
use crate::core::workdir::DoneMarker;
use crate::data::tokenize::load_tokenizer;
use crate::data::tokens::read::TokenShard;
use crate::manifest::document::Manifest;

/// Bytes of text per Parquet part.
const PART_BYTES: usize = 1 << 26;

/// The tokenizer that wrote `manifest`'s shards: the `tokenizer.json` among the tokens folder's marked
/// inputs whose SHA-256 is the manifest's.
///
/// Errors when the marker is missing or names no such file (the tokenizer moved or changed since).
pub fn shards_tokenizer(manifest: &Manifest) -> Result<Tokenizer> {
    let tokens = Path::new(&manifest.tokens_dir);
    if manifest.tokenizer.sha256.is_empty() {
        bail!(
            "the tokens in {} were imported without their tokenizer, and the hf and torchtitan exports decode \
             the documents to text: import them again with --tokenizer (`tokenizer` in [tokens.import]), or \
             leave these exports out",
            tokens.display()
        );
    }
    let marker = DoneMarker::read(tokens)?.with_context(|| {
        format!(
            "{} has no completion marker naming its tokenizer, which the hf and torchtitan exports decode \
             the documents with: run `remix tokenize` again",
            tokens.display()
        )
    })?;
    for input in &marker.inputs {
        let path = PathBuf::from(&input.path);
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        if let Ok(loaded) = load_tokenizer(&path, None)
            && loaded.sha256 == manifest.tokenizer.sha256
        {
            return Ok(loaded.tokenizer);
        }
    }
    bail!(
        "the tokenizer that wrote {} (SHA-256 {}) is no longer where `remix tokenize` read it: the hf and \
         torchtitan exports decode the documents with it. Put it back, or tokenize again",
        tokens.display(),
        manifest.tokenizer.sha256
    )
}

/// Writes `shard`'s documents as text into `out`, decoded with `tokenizer`; `eod` is the
/// end-of-document id every document ends with.
pub fn write(
    shard: &TokenShard,
    tokenizer: &Tokenizer,
    eod: u32,
    out: &FolderWriter,
) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
    let documents = shard.documents();
    let mut first = 0;
    for part in 0.. {
        // The documents of this part: at most PART_BYTES of tokens (a document's text is about as long).
        let mut last = first;
        let mut bytes = 0;
        while last < documents && (last == first || bytes < PART_BYTES) {
            bytes += shard.document_bytes(last).len();
            last += 1;
        }
        let texts = (first..last)
            .into_par_iter()
            .map(|d| {
                let mut ids = shard.document(d);
                if ids.last() == Some(&eod) {
                    ids.pop();
                }
                tokenizer.decode(&ids, false).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot decode document {d} of {}: {e}",
                        shard.path().display()
                    )
                })
            })
            .collect::<Result<Vec<String>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(texts))])?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, schema.clone(), Some(properties))?;
        writer.write(&batch)?;
        writer.close()?;
        out.write(&format!("part-{part:05}.parquet"), &buffer)?;
        first = last;
        if first >= documents {
            break;
        }
    }
    Ok(())
}
