//! datatrove's tokenized files, written from a domain's token shard for the `nanotron` export.
//!
//! nanotron's `Nanoset` reads one folder per dataset through datatrove's `DatatroveFolderDataset`
//! (`datatrove/utils/dataset.py`, read there in datatrove 0.10, written here in Rust), which lists the
//! folder's `*.ds` files and cuts each into non-overlapping samples of `sequence_length + 1` tokens. The
//! layout is what datatrove's `DocumentTokenizer` (`pipeline/tokens/tokenizer.py`) writes, all
//! little-endian and headerless:
//!
//! - `<name>.ds`: the documents' tokens, concatenated, `u16` when the vocabulary fits (`token_size` 2),
//!   else `u32` (4); remix's `int32` tokens are non-negative, so their bytes are the same `u32`s.
//! - `<name>.ds.index`: one `u64` per document, its cumulative end offset in tokens (no leading 0), which
//!   the reader uses to reset positions at document boundaries.
//! - `<name>.ds.metadata`: `"{tokenizer}|{token_size}\n{tokens}\n{tokens humanized}"`, whose first line
//!   nanotron's config reads.
//!
//! A shard is one file, so every sample is cut within one domain's tokens in shard order.

use anyhow::Result;

use super::folder::FolderWriter;
use crate::data::tokens::read::TokenShard;

/// The file name datatrove's tokenizer gives rank 0's first file, without shuffling.
pub const FILE: &str = "00000_remix.ds";

/// The `.ds.index` bytes: each document's cumulative end offset in tokens, `u64` little-endian.
fn index_bytes(shard: &TokenShard) -> Vec<u8> {
    let width = shard.dtype().bytes() as u64;
    let mut end = 0u64;
    let mut bytes = Vec::with_capacity(shard.documents() * 8);
    for d in 0..shard.documents() {
        end += shard.document_bytes(d).len() as u64 / width;
        bytes.extend_from_slice(&end.to_le_bytes());
    }
    bytes
}

/// The `.ds.metadata` text: `tokenizer|token_size`, the token count, and the count to three significant
/// digits with a metric prefix, as datatrove writes it with `humanize.metric` (`12.0 T`, `1.23 MT`).
fn metadata(tokenizer: &str, token_size: usize, tokens: u64) -> String {
    let mut value = tokens as f64;
    let mut prefix = "";
    for next in ["k", "M", "G", "T", "P"] {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        prefix = next;
    }
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{tokenizer}|{token_size}\n{tokens}\n{value:.decimals$} {prefix}T")
}

/// Writes `shard` as one datatrove tokenized file (`.ds`, `.ds.index`, `.ds.metadata`) into `out`;
/// `tokenizer` names the tokenizer in the metadata.
pub fn write(shard: &TokenShard, tokenizer: &str, out: &FolderWriter) -> Result<()> {
    let token_size = shard.dtype().bytes();
    out.write_chunks(FILE, shard.file_bytes())?;
    out.write(&format!("{FILE}.index"), &index_bytes(shard))?;
    out.write(
        &format!("{FILE}.metadata"),
        metadata(tokenizer, token_size, shard.tokens()).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// datatrove's own metadata for 12 tokens of a 2-byte vocabulary is `gpt2|2\n12\n12.0 T`.
    #[test]
    fn metadata_reads_as_datatrove_writes_it() {
        assert_eq!(metadata("gpt2", 2, 12), "gpt2|2\n12\n12.0 T");
        assert_eq!(metadata("t", 2, 123_456), "t|2\n123456\n123 kT");
        assert_eq!(metadata("t", 4, 1_234_567), "t|4\n1234567\n1.23 MT");
    }
}
