//! Reading a Megatron indexed dataset (`.bin` + `.idx`), memory-mapped.
//!
//! The layout is the one [`crate::tokenize::shard`] writes; this reader checks it (magic, version,
//! dtype, counts, offsets, file sizes) and refuses anything else with a message naming the file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use memmap2::Mmap;

use crate::tokenize::shard::{MAGIC, TokenDtype, shard_path};

/// One opened shard: its document boundaries and its tokens.
pub struct TokenShard {
    path: PathBuf,
    dtype: TokenDtype,
    /// Start of each document in tokens, plus the total at the end.
    starts: Vec<u64>,
    bin: Option<Mmap>,
}

impl TokenShard {
    /// Opens `<prefix>.idx` and maps `<prefix>.bin`.
    pub fn open(prefix: &Path) -> Result<Self> {
        let idx_path = shard_path(prefix, "idx");
        let bin_path = shard_path(prefix, "bin");
        let idx = fs::read(&idx_path)
            .with_context(|| format!("cannot read the token index {}", idx_path.display()))?;
        let bad = |what: &str| {
            anyhow::anyhow!(
                "{} is not a Megatron index ({what}): run `remix tokenize` again",
                idx_path.display()
            )
        };
        if idx.len() < 34 || &idx[..9] != MAGIC {
            return Err(bad("no MMIDIDX header"));
        }
        let u64_at = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().unwrap_or_default());
        if u64_at(9) != 1 {
            return Err(bad("version is not 1"));
        }
        let dtype = match idx[17] {
            8 => TokenDtype::U16,
            4 => TokenDtype::I32,
            code => {
                return Err(bad(&format!(
                    "token dtype code {code} is not uint16 (8) or int32 (4)"
                )));
            }
        };
        let sequences = u64_at(18) as usize;
        if u64_at(26) != sequences as u64 + 1
            || idx.len() != 34 + sequences * 12 + (sequences + 1) * 8
        {
            return Err(bad("counts do not match the file size"));
        }
        let mut starts = Vec::with_capacity(sequences + 1);
        let mut total = 0u64;
        for s in 0..sequences {
            let at = 34 + 4 * s;
            let length = i32::from_le_bytes(idx[at..at + 4].try_into().unwrap_or_default());
            if length < 0 {
                return Err(bad("a negative sequence length"));
            }
            starts.push(total);
            total += length as u64;
        }
        starts.push(total);
        let file = fs::File::open(&bin_path)
            .with_context(|| format!("cannot open {}", bin_path.display()))?;
        let size = file.metadata()?.len();
        if size != total * dtype.bytes() as u64 {
            bail!(
                "{} holds {size} bytes but its index describes {total} tokens of {} bytes: the shard is truncated \
                 or from another run; run `remix tokenize` again",
                bin_path.display(),
                dtype.bytes()
            );
        }
        // An empty file cannot be mapped; an empty shard needs no map.
        // SAFETY: the file is opened read-only; remix never writes a shard in place (it renames finished
        // files over old ones), so the mapping does not change under the reader.
        let bin = if size == 0 {
            None
        } else {
            Some(
                unsafe { Mmap::map(&file) }
                    .with_context(|| format!("cannot map {}", bin_path.display()))?,
            )
        };
        Ok(Self {
            path: bin_path,
            dtype,
            starts,
            bin,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dtype of the tokens in `.bin`.
    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    pub fn documents(&self) -> usize {
        self.starts.len() - 1
    }

    /// Tokens in the shard: every document, end-of-document tokens included.
    pub fn tokens(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Tokens `start..start + count` of the concatenated documents as they are stored: little-endian
    /// in the shard's [`Self::dtype`] (the layout MDS and litdata store too).
    pub fn token_bytes(&self, start: u64, count: u64) -> &[u8] {
        let Some(bin) = &self.bin else { return &[] };
        let width = self.dtype.bytes();
        &bin[start as usize * width..(start + count) as usize * width]
    }

    /// The stored bytes of document `i` ([`Self::token_bytes`]).
    pub fn document_bytes(&self, i: usize) -> &[u8] {
        let (start, end) = (self.starts[i], self.starts[i + 1]);
        self.token_bytes(start, end - start)
    }

    /// Token `start..start + out.len()` of the concatenated documents into `out`.
    pub fn read(&self, start: u64, out: &mut [u32]) {
        let bytes = self.token_bytes(start, out.len() as u64);
        match self.dtype {
            TokenDtype::U16 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = u16::from_le_bytes([c[0], c[1]]) as u32;
                }
            }
            TokenDtype::I32 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32;
                }
            }
        }
    }

    /// The tokens of document `i`.
    pub fn document(&self, i: usize) -> Vec<u32> {
        let (start, end) = (self.starts[i], self.starts[i + 1]);
        let mut out = vec![0; (end - start) as usize];
        self.read(start, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::shard::ShardWriter;

    #[test]
    fn reads_back_what_the_writer_wrote_and_refuses_truncation() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [TokenDtype::U16, TokenDtype::I32] {
            let prefix = dir.path().join(format!("web-{}", dtype.name()));
            let mut writer = ShardWriter::create(&prefix, dtype).unwrap();
            writer.push(&[5, 6, 0]).unwrap();
            writer.push(&[]).unwrap();
            writer.push(&[7, 65_000, 0]).unwrap();
            writer.finish().unwrap();
            let shard = TokenShard::open(&prefix).unwrap();
            assert_eq!((shard.documents(), shard.tokens()), (3, 6));
            assert_eq!(shard.document(2), vec![7, 65_000, 0]);
            assert!(shard.document(1).is_empty());
            let mut window = [0; 3];
            shard.read(1, &mut window);
            assert_eq!(window, [6, 0, 7]);
        }
        let prefix = dir.path().join("web-uint16");
        let bin = shard_path(&prefix, "bin");
        let bytes = fs::read(&bin).unwrap();
        fs::write(&bin, &bytes[..bytes.len() - 2]).unwrap();
        let err = TokenShard::open(&prefix).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
        fs::write(shard_path(&prefix, "idx"), b"not an index").unwrap();
        assert!(
            TokenShard::open(&prefix)
                .err()
                .unwrap()
                .to_string()
                .contains("not a Megatron index")
        );
    }
}
