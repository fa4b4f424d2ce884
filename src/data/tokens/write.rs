//! Megatron-LM indexed datasets (`.bin` + `.idx`), written byte-exact so that the main pre-training
//! run can read the very same files.
//!
//! `.bin` is the tokens of every document concatenated, little-endian. `.idx`, little-endian and
//! unpadded: the 9-byte magic `MMIDIDX\0\0`, u64 version 1, u8 dtype code, u64 sequence count S, u64
//! document count D = S + 1, i32[S] sequence lengths, i64[S] byte offsets into `.bin`, i64[D] document
//! indices 0..=S (one sequence per document).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::digest::ContentDigest;

pub const MAGIC: &[u8; 9] = b"MMIDIDX\0\0";

/// The token type of a shard, named as Megatron and numpy name it (`uint16`, `int32`) in
/// `tokens/index.json` and the manifest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum TokenDtype {
    #[serde(rename = "uint16")]
    U16,
    #[serde(rename = "int32")]
    I32,
}

impl std::fmt::Display for TokenDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl TokenDtype {
    /// Megatron's choice: uint16 when the vocabulary is under 65500, else int32.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size < 65_500 {
            Self::U16
        } else {
            Self::I32
        }
    }

    /// Megatron's dtype code.
    pub fn code(self) -> u8 {
        match self {
            Self::U16 => 8,
            Self::I32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::U16 => "uint16",
            Self::I32 => "int32",
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Self::U16 => 2,
            Self::I32 => 4,
        }
    }
}

/// Writes one indexed dataset: `.bin` streamed to a temporary file, `.idx` written at the end, both
/// renamed into place by [`ShardWriter::finish`]. Memory: 4 bytes per document for the lengths.
pub struct ShardWriter {
    prefix: PathBuf,
    dtype: TokenDtype,
    bin: BufWriter<fs::File>,
    lengths: Vec<i32>,
    tokens: u64,
    digest: ContentDigest,
    scratch: Vec<u8>,
}

impl ShardWriter {
    /// Starts `<prefix>.bin` and `<prefix>.idx` (under temporary names).
    pub fn create(prefix: &Path, dtype: TokenDtype) -> Result<Self> {
        let tmp = tmp_path(prefix, "bin");
        let file = fs::File::create(&tmp).with_context(|| {
            format!(
                "cannot create {} (is the disk full or read-only?)",
                tmp.display()
            )
        })?;
        Ok(Self {
            prefix: prefix.to_path_buf(),
            dtype,
            bin: BufWriter::with_capacity(1 << 20, file),
            lengths: Vec::new(),
            tokens: 0,
            digest: ContentDigest::default(),
            scratch: Vec::new(),
        })
    }

    /// Appends one document.
    pub fn push(&mut self, ids: &[u32]) -> Result<()> {
        let Ok(length) = i32::try_from(ids.len()) else {
            bail!(
                "a document of {} tokens does not fit Megatron's i32 length",
                ids.len()
            );
        };
        self.scratch.clear();
        match self.dtype {
            TokenDtype::U16 => {
                for &id in ids {
                    let Ok(id) = u16::try_from(id) else {
                        bail!("token id {id} does not fit uint16 shards");
                    };
                    self.scratch.extend_from_slice(&id.to_le_bytes());
                }
            }
            TokenDtype::I32 => {
                for &id in ids {
                    self.scratch.extend_from_slice(&(id as i32).to_le_bytes());
                }
            }
        }
        self.bin
            .write_all(&self.scratch)
            .map_err(|e| self.io_error(e))?;
        self.digest.push(&self.scratch);
        self.lengths.push(length);
        self.tokens += ids.len() as u64;
        Ok(())
    }

    pub fn documents(&self) -> u64 {
        self.lengths.len() as u64
    }

    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// The content digest of the documents pushed so far ([`ContentDigest`]).
    pub fn digest(&self) -> ContentDigest {
        self.digest
    }

    fn io_error(&self, e: std::io::Error) -> anyhow::Error {
        anyhow::Error::new(e).context(format!(
            "cannot write {} (is the disk full?)",
            tmp_path(&self.prefix, "bin").display()
        ))
    }

    /// Writes the `.idx` and renames both files into place.
    pub fn finish(self) -> Result<()> {
        let bin_tmp = tmp_path(&self.prefix, "bin");
        let flushed = self
            .bin
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|bin| bin.sync_all());
        flushed
            .with_context(|| format!("cannot write {} (is the disk full?)", bin_tmp.display()))?;
        let idx_tmp = tmp_path(&self.prefix, "idx");
        write_index(&idx_tmp, self.dtype, &self.lengths)?;
        for ext in ["bin", "idx"] {
            let to = shard_path(&self.prefix, ext);
            fs::rename(tmp_path(&self.prefix, ext), &to)
                .with_context(|| format!("cannot move {} into place", to.display()))?;
        }
        Ok(())
    }
}

/// Writes a Megatron `.idx` at `path` for documents of `lengths` tokens stored back to back, one
/// sequence per document. Errors: the file cannot be written.
pub fn write_index(path: &Path, dtype: TokenDtype, lengths: &[i32]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut idx = BufWriter::new(fs::File::create(path)?);
        let sequences = lengths.len() as u64;
        idx.write_all(MAGIC)?;
        idx.write_all(&1u64.to_le_bytes())?;
        idx.write_all(&[dtype.code()])?;
        idx.write_all(&sequences.to_le_bytes())?;
        idx.write_all(&(sequences + 1).to_le_bytes())?;
        for length in lengths {
            idx.write_all(&length.to_le_bytes())?;
        }
        let mut offset = 0i64;
        for length in lengths {
            idx.write_all(&offset.to_le_bytes())?;
            offset += *length as i64 * dtype.bytes() as i64;
        }
        for document in 0..=sequences as i64 {
            idx.write_all(&document.to_le_bytes())?;
        }
        idx.into_inner()?.sync_all()
    };
    write().with_context(|| format!("cannot write {} (is the disk full?)", path.display()))
}

/// `<prefix>.<ext>` (the prefix may itself hold dots: `web.val`).
pub fn shard_path(prefix: &Path, ext: &str) -> PathBuf {
    let mut path = prefix.as_os_str().to_owned();
    path.push(".");
    path.push(ext);
    PathBuf::from(path)
}

/// `<prefix>.<ext>.tmp`.
fn tmp_path(prefix: &Path, ext: &str) -> PathBuf {
    shard_path(prefix, &format!("{ext}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_layout() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("web.val");
        let mut writer = ShardWriter::create(&prefix, TokenDtype::U16).unwrap();
        writer.push(&[5, 6, 0]).unwrap();
        writer.push(&[7, 0]).unwrap();
        writer.finish().unwrap();
        let bin = fs::read(dir.path().join("web.val.bin")).unwrap();
        assert_eq!(bin, [5, 0, 6, 0, 0, 0, 7, 0, 0, 0]);
        let idx = fs::read(dir.path().join("web.val.idx")).unwrap();
        assert_eq!(idx.len(), 9 + 8 + 1 + 8 + 8 + 2 * 4 + 2 * 8 + 3 * 8);
        assert_eq!(&idx[..9], MAGIC);
        assert_eq!(idx[17], 8);
        assert!(
            TokenDtype::for_vocab(65_499) == TokenDtype::U16
                && TokenDtype::for_vocab(65_500) == TokenDtype::I32
        );
    }
}
