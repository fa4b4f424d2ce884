//! Reading Megatron indexed datasets (`.bin` + `.idx`), memory-mapped: one domain's training or
//! validation tokens, held in one file or many.
//!
//! The index is read as Megatron-LM's `IndexedDataset` reads it (magic `MMIDIDX\0\0`, version 1, dtype
//! code, sequence lengths and byte pointers, document indices into the sequences), so shards written by
//! megatron-core's `IndexedDatasetBuilder` (several sequences per document) open as well as the ones
//! [`crate::data::tokens::write`] writes (one sequence per document). A document is the tokens of its
//! sequences, which must lie back to back in `.bin` as every Megatron builder writes them. Anything else
//! (another magic or version, a dtype remix does not read, counts or pointers that disagree with the file
//! sizes) is refused with a message naming the file.
//!
//! A domain's stream is its parts one after another, each cut to its first documents when the rest were
//! held out for validation ([`ShardPart`]); token positions and document numbers run across the parts.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use memmap2::Mmap;

use crate::data::tokens::write::{MAGIC, TokenDtype, shard_path};
use crate::data::tokens::{ShardPart, TokenDomain};

/// What a Megatron `.idx` says: the dtype and where each document starts, in tokens.
pub struct IndexFile {
    pub dtype: TokenDtype,
    /// Start of each document in tokens from the start of `.bin`, plus the end of the last.
    pub starts: Vec<u64>,
}

impl IndexFile {
    /// Reads and checks `<prefix>.idx`.
    pub fn read(prefix: &Path) -> Result<Self> {
        let idx_path = shard_path(prefix, "idx");
        let idx = fs::read(&idx_path).with_context(|| {
            format!(
                "cannot read the Megatron index {} (a prefix names `PREFIX.bin` and `PREFIX.idx`)",
                idx_path.display()
            )
        })?;
        Self::parse(&idx).map_err(|why| {
            anyhow::anyhow!(
                "{} is not a Megatron index remix reads ({why}): write it with Megatron-LM's \
                 preprocess_data.py or megatron-core's IndexedDatasetBuilder, or run `remix tokenize`",
                idx_path.display()
            )
        })
    }

    fn parse(idx: &[u8]) -> std::result::Result<Self, String> {
        if idx.len() < 34 || &idx[..9] != MAGIC {
            return Err("no MMIDIDX header".into());
        }
        let u64_at = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().unwrap_or_default());
        if u64_at(9) != 1 {
            return Err("version is not 1".into());
        }
        let dtype = match idx[17] {
            8 => TokenDtype::U16,
            4 => TokenDtype::I32,
            code => {
                return Err(format!(
                    "token dtype code {code}: remix reads uint16 (8) and int32 (4) tokens"
                ));
            }
        };
        let (sequences, documents) = (u64_at(18), u64_at(26));
        let expected = 34u128 + sequences as u128 * 12 + documents as u128 * 8;
        if documents == 0 || expected != idx.len() as u128 {
            return Err(format!(
                "{sequences} sequences and {documents} document indices do not fit its {} bytes",
                idx.len()
            ));
        }
        let (sequences, documents) = (sequences as usize, documents as usize);
        let lengths_at = 34;
        let pointers_at = lengths_at + 4 * sequences;
        let documents_at = pointers_at + 8 * sequences;
        let width = dtype.bytes() as u64;
        // Token start of each sequence; the pointers must say the same in bytes.
        let mut sequence_starts = Vec::with_capacity(sequences + 1);
        let mut total = 0u64;
        for s in 0..sequences {
            let at = lengths_at + 4 * s;
            let length = i32::from_le_bytes(idx[at..at + 4].try_into().unwrap_or_default());
            if length < 0 {
                return Err(format!("sequence {s} has the negative length {length}"));
            }
            let pointer = u64_at(pointers_at + 8 * s);
            if pointer != total * width {
                return Err(format!(
                    "sequence {s} starts at byte {pointer}, not right after the one before it (byte {}): \
                     its sequences are not back to back",
                    total * width
                ));
            }
            sequence_starts.push(total);
            total += length as u64;
        }
        sequence_starts.push(total);
        let mut starts = Vec::with_capacity(documents);
        let mut previous = 0u64;
        for d in 0..documents {
            let index = u64_at(documents_at + 8 * d);
            if (d == 0 && index != 0) || index < previous || index > sequences as u64 {
                return Err(format!(
                    "document index {d} is {index}: document indices run from 0 up to the {sequences} sequences"
                ));
            }
            previous = index;
            starts.push(sequence_starts[index as usize]);
        }
        if previous != sequences as u64 {
            return Err(format!(
                "its last document ends at sequence {previous} of {sequences}: sequences after the last \
                 document belong to none"
            ));
        }
        Ok(Self { dtype, starts })
    }

    /// Documents in the file.
    pub fn documents(&self) -> usize {
        self.starts.len() - 1
    }

    /// Tokens in the file.
    pub fn tokens(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }
}

struct Part {
    bin_path: PathBuf,
    /// The part's first token and first document in the stream.
    first_token: u64,
    first_document: usize,
    bin: Option<Mmap>,
}

/// One domain's tokens: its parts opened, their documents numbered across them.
pub struct TokenShard {
    dtype: TokenDtype,
    parts: Vec<Part>,
    /// Start of each document in the stream's tokens, plus the total at the end.
    starts: Vec<u64>,
}

impl TokenShard {
    /// Opens `<prefix>.idx` and maps `<prefix>.bin`: every document of one file.
    pub fn open(prefix: &Path) -> Result<Self> {
        Self::open_parts(&[ShardPart {
            prefix: prefix.to_path_buf(),
            documents: None,
        }])
    }

    /// Opens a domain's training tokens ([`TokenDomain::training_parts`]).
    pub fn training(domain: &TokenDomain, tokens_dir: &Path) -> Result<Self> {
        Self::open_parts(&domain.training_parts(tokens_dir))
    }

    /// Opens a domain's held-out validation shard ([`TokenDomain::validation_prefix`]).
    pub fn validation(domain: &TokenDomain, tokens_dir: &Path) -> Result<Self> {
        Self::open(&domain.validation_prefix(tokens_dir))
    }

    /// Opens the parts of one domain's stream, in order. Errors: an unreadable or invalid index, a
    /// `.bin` whose size disagrees with it (truncated, or from another run), parts of different dtypes,
    /// a part cut to more documents than it has.
    pub fn open_parts(parts: &[ShardPart]) -> Result<Self> {
        let mut opened: Vec<Part> = Vec::with_capacity(parts.len());
        let mut starts = vec![0u64];
        let mut dtype = None;
        for part in parts {
            let index = IndexFile::read(&part.prefix)?;
            let bin_path = shard_path(&part.prefix, "bin");
            match dtype {
                None => dtype = Some(index.dtype),
                Some(first) if first != index.dtype => bail!(
                    "{} holds {} tokens but {} holds {}: the files of one domain share one dtype; \
                     write them with the same tokenizer and dtype",
                    bin_path.display(),
                    index.dtype.name(),
                    opened[0].bin_path.display(),
                    first.name()
                ),
                Some(_) => {}
            }
            let file = fs::File::open(&bin_path)
                .with_context(|| format!("cannot open {}", bin_path.display()))?;
            let size = file
                .metadata()
                .with_context(|| format!("cannot read {}", bin_path.display()))?
                .len();
            let width = index.dtype.bytes() as u64;
            if size != index.tokens() * width {
                bail!(
                    "{} holds {size} bytes but its index describes {} tokens of {width} bytes ({} bytes): the file \
                     is {} or from another run; write it again (`remix tokenize`, or your Megatron preprocessing)",
                    bin_path.display(),
                    index.tokens(),
                    index.tokens() * width,
                    if size < index.tokens() * width {
                        "truncated"
                    } else {
                        "longer than its index"
                    }
                );
            }
            let documents = match part.documents {
                None => index.documents(),
                Some(n) if n as usize <= index.documents() => n as usize,
                Some(n) => bail!(
                    "{} has {} documents, not the {n} the token index counts: the file changed since \
                     `remix tokens import`; import again",
                    shard_path(&part.prefix, "idx").display(),
                    index.documents()
                ),
            };
            let first_token = starts.last().copied().unwrap_or(0);
            let first_document = starts.len() - 1;
            starts.extend(index.starts[1..=documents].iter().map(|s| first_token + s));
            // An empty file cannot be mapped; an empty shard needs no map.
            // SAFETY: the file is opened read-only; remix never writes a shard in place (it renames
            // finished files over old ones). Imported files belong to the user: one truncated while
            // mapped faults the reader (SIGBUS), as it does Megatron's own memory-mapped reader; the
            // README says not to rewrite token files while remix reads them.
            let bin = if size == 0 {
                None
            } else {
                Some(
                    unsafe { Mmap::map(&file) }
                        .with_context(|| format!("cannot map {}", bin_path.display()))?,
                )
            };
            opened.push(Part {
                bin_path,
                first_token,
                first_document,
                bin,
            });
        }
        Ok(Self {
            dtype: dtype.unwrap_or(TokenDtype::U16),
            parts: opened,
            starts,
        })
    }

    /// The `.bin` of the first part: the file errors name.
    pub fn path(&self) -> &Path {
        self.parts
            .first()
            .map(|p| p.bin_path.as_path())
            .unwrap_or(Path::new(""))
    }

    /// The dtype of the tokens in `.bin`.
    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    pub fn documents(&self) -> usize {
        self.starts.len() - 1
    }

    /// Tokens in the stream: every document, end-of-document tokens included.
    pub fn tokens(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The part holding token `at` (the last part holding any token at or before it).
    fn part_at(&self, at: u64) -> usize {
        self.parts
            .partition_point(|p| p.first_token <= at)
            .saturating_sub(1)
    }

    /// Bytes of tokens `start..start + count` within part `p` (which must hold them).
    fn part_bytes(&self, p: usize, start: u64, count: u64) -> &[u8] {
        let part = &self.parts[p];
        let Some(bin) = &part.bin else { return &[] };
        let width = self.dtype.bytes() as u64;
        let from = (start - part.first_token) * width;
        &bin[from as usize..(from + count * width) as usize]
    }

    /// The end (exclusive, in stream tokens) of part `p`'s documents.
    fn part_end(&self, p: usize) -> u64 {
        self.parts
            .get(p + 1)
            .map(|next| next.first_token)
            .unwrap_or_else(|| self.tokens())
    }

    /// Tokens `start..start + count` of the stream as they are stored: little-endian in the shard's
    /// [`Self::dtype`] (the layout MDS and litdata store too). Borrowed from the map unless the range
    /// spans two files.
    pub fn token_bytes(&self, start: u64, count: u64) -> Cow<'_, [u8]> {
        let p = self.part_at(start);
        if start + count <= self.part_end(p) {
            return Cow::Borrowed(self.part_bytes(p, start, count));
        }
        let mut out = Vec::with_capacity(count as usize * self.dtype.bytes());
        let (mut at, end) = (start, start + count);
        while at < end {
            let p = self.part_at(at);
            let n = self.part_end(p).min(end) - at;
            out.extend_from_slice(self.part_bytes(p, at, n));
            at += n;
        }
        Cow::Owned(out)
    }

    /// Every token of the stream, as [`Self::token_bytes`], one slice per file.
    pub fn file_bytes(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.parts.len()).map(|p| {
            let start = self.parts[p].first_token;
            self.part_bytes(p, start, self.part_end(p) - start)
        })
    }

    /// The stored bytes of document `i` ([`Self::token_bytes`]; a document lies in one file).
    pub fn document_bytes(&self, i: usize) -> &[u8] {
        let (start, end) = (self.starts[i], self.starts[i + 1]);
        let p = self
            .parts
            .partition_point(|p| p.first_document <= i)
            .saturating_sub(1);
        self.part_bytes(p, start, end - start)
    }

    /// Token `start..start + out.len()` of the stream into `out`.
    pub fn read(&self, start: u64, out: &mut [u32]) {
        let bytes = self.token_bytes(start, out.len() as u64);
        decode(self.dtype, &bytes, out);
    }

    /// The tokens of document `i`.
    pub fn document(&self, i: usize) -> Vec<u32> {
        let bytes = self.document_bytes(i);
        let mut out = vec![0; bytes.len() / self.dtype.bytes()];
        decode(self.dtype, bytes, &mut out);
        out
    }
}

/// Little-endian tokens of `dtype` into ids (`int32` bits as they are: the same ids as `uint32` under
/// 2^31, and an id above that, which only a mislabelled file holds, stays visible as one).
pub fn decode(dtype: TokenDtype, bytes: &[u8], out: &mut [u32]) {
    match dtype {
        TokenDtype::U16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = u16::from_le_bytes([c[0], c[1]]) as u32;
            }
        }
        TokenDtype::I32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokens::write::ShardWriter;

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
        let parts = [
            ShardPart {
                prefix: prefix.clone(),
                documents: Some(2),
            },
            ShardPart {
                prefix: dir.path().join("web-int32"),
                documents: None,
            },
        ];
        let mixed = TokenShard::open_parts(&parts).err().unwrap().to_string();
        assert!(mixed.contains("one dtype"), "{mixed}");
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

    /// A Megatron index with `lengths` sequences and `documents` document indices, uint16.
    fn index(lengths: &[i32], documents: &[i64]) -> Vec<u8> {
        let mut idx = MAGIC.to_vec();
        idx.extend_from_slice(&1u64.to_le_bytes());
        idx.push(8);
        idx.extend_from_slice(&(lengths.len() as u64).to_le_bytes());
        idx.extend_from_slice(&(documents.len() as u64).to_le_bytes());
        for l in lengths {
            idx.extend_from_slice(&l.to_le_bytes());
        }
        let mut pointer = 0i64;
        for l in lengths {
            idx.extend_from_slice(&pointer.to_le_bytes());
            pointer += 2 * *l as i64;
        }
        for d in documents {
            idx.extend_from_slice(&d.to_le_bytes());
        }
        idx
    }

    #[test]
    fn documents_of_several_sequences_and_streams_over_several_files() {
        let dir = tempfile::tempdir().unwrap();
        // a: documents [1 2 | 3 0] and [4 0] (the first two sequences long); b: [5 6 0].
        let a = dir.path().join("a");
        fs::write(shard_path(&a, "idx"), index(&[2, 2, 2], &[0, 2, 3])).unwrap();
        let tokens = |ids: &[u16]| ids.iter().flat_map(|t| t.to_le_bytes()).collect::<Vec<_>>();
        fs::write(shard_path(&a, "bin"), tokens(&[1, 2, 3, 0, 4, 0])).unwrap();
        let b = dir.path().join("b");
        let mut writer = ShardWriter::create(&b, TokenDtype::U16).unwrap();
        writer.push(&[5, 6, 0]).unwrap();
        writer.finish().unwrap();

        let one = TokenShard::open(&a).unwrap();
        assert_eq!((one.documents(), one.tokens()), (2, 6));
        assert_eq!(one.document(0), vec![1, 2, 3, 0]);

        // a cut to its first document, then b: the stream is [1 2 3 0 5 6 0].
        let stream = TokenShard::open_parts(&[
            ShardPart {
                prefix: a.clone(),
                documents: Some(1),
            },
            ShardPart {
                prefix: b.clone(),
                documents: None,
            },
        ])
        .unwrap();
        assert_eq!((stream.documents(), stream.tokens()), (2, 7));
        assert_eq!(stream.document(1), vec![5, 6, 0]);
        let mut window = [0; 4];
        stream.read(2, &mut window);
        assert_eq!(window, [3, 0, 5, 6], "a read across the two files");
        let files: Vec<usize> = stream.file_bytes().map(|b| b.len()).collect();
        assert_eq!(files, [8, 6]);

        let too_many = TokenShard::open_parts(&[ShardPart {
            prefix: b,
            documents: Some(2),
        }]);
        assert!(too_many.err().unwrap().to_string().contains("import again"));
        // Sequences that do not lie back to back, and sequences after the last document, are refused.
        let mut gapped = index(&[2, 2, 2], &[0, 2, 3]);
        gapped[34 + 12 + 8..34 + 12 + 16].copy_from_slice(&6i64.to_le_bytes());
        fs::write(shard_path(&a, "idx"), gapped).unwrap();
        let err = TokenShard::open(&a).err().unwrap().to_string();
        assert!(err.contains("back to back"), "{err}");
        fs::write(shard_path(&a, "idx"), index(&[2, 2, 2], &[0, 2])).unwrap();
        let err = TokenShard::open(&a).err().unwrap().to_string();
        assert!(err.contains("belong to none"), "{err}");
    }
}
