//! The fixed-size binary records the dedup phases hand each other through the work directory.
//!
//! Every file is a plain sequence of little-endian records with no header (the phase that reads it
//! knows the type from the file name); a file's length is a whole number of records, or the reader
//! refuses it, naming the file. Files are written under a temporary name by the task that owns them
//! and renamed into place with the task's folder ([`crate::core::workdir::replace_dir`]).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A fixed-size record.
pub trait Record: Sized {
    /// Bytes per record.
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    /// Decodes one record from exactly [`Self::SIZE`] bytes.
    fn get(bytes: &[u8]) -> Self;
}

/// One document in one LSH band: `band-<b>-<p>.bin` of a signatures task (36 bytes on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandRecord {
    /// The band's key (the band's MinHash values hashed), or the exact hash's low half without MinHash.
    pub key: u64,
    /// The 128-bit exact hash of the normalised text, high then low half.
    pub exact: (u64, u64),
    /// The document's corpus-wide row ([`crate::data::corpus::Corpus::row_offsets`]).
    pub row: u64,
    /// Its domain: an index into the writing task's domain list until read, the global one after.
    pub domain: u32,
}

/// A document of a signatures task's row groups: `docs.bin` (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocRecord {
    pub row: u64,
    /// Index into the task's domain list.
    pub domain: u32,
}

/// A candidate pair `a < b` (corpus-wide rows) with the global domains of both: `pairs.bin` of a
/// buckets task (24 bytes). Ordered by `(a, b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PairRecord {
    pub a: u64,
    pub b: u64,
    pub domain_a: u32,
    pub domain_b: u32,
}

/// An exact duplicate `row` of `twin`, the first of its copies by priority and corpus order, with
/// their global domains: `exact.bin` of a buckets task (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExactRecord {
    pub row: u64,
    pub twin: u64,
    pub domain: u32,
    pub twin_domain: u32,
}

/// A dropped document with its twin and its cluster's survivor: `drops/<task>.bin` of the clusters
/// task, one file per filter task (25 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropRecord {
    pub row: u64,
    pub twin: u64,
    pub survivor: u64,
    /// An exact copy (else a near-duplicate).
    pub exact: bool,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

impl Record for BandRecord {
    const SIZE: usize = 36;
    fn put(&self, out: &mut Vec<u8>) {
        for word in [self.key, self.exact.0, self.exact.1, self.row] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.domain.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        Self {
            key: u64_at(b, 0),
            exact: (u64_at(b, 8), u64_at(b, 16)),
            row: u64_at(b, 24),
            domain: u32_at(b, 32),
        }
    }
}

impl Record for DocRecord {
    const SIZE: usize = 12;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.row.to_le_bytes());
        out.extend_from_slice(&self.domain.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        Self {
            row: u64_at(b, 0),
            domain: u32_at(b, 8),
        }
    }
}

/// Two rows and two domains, the layout of both [`PairRecord`] and [`ExactRecord`].
fn put_two(out: &mut Vec<u8>, rows: [u64; 2], domains: [u32; 2]) {
    for row in rows {
        out.extend_from_slice(&row.to_le_bytes());
    }
    for domain in domains {
        out.extend_from_slice(&domain.to_le_bytes());
    }
}

impl Record for PairRecord {
    const SIZE: usize = 24;
    fn put(&self, out: &mut Vec<u8>) {
        put_two(out, [self.a, self.b], [self.domain_a, self.domain_b]);
    }
    fn get(b: &[u8]) -> Self {
        Self {
            a: u64_at(b, 0),
            b: u64_at(b, 8),
            domain_a: u32_at(b, 16),
            domain_b: u32_at(b, 20),
        }
    }
}

impl Record for ExactRecord {
    const SIZE: usize = 24;
    fn put(&self, out: &mut Vec<u8>) {
        put_two(out, [self.row, self.twin], [self.domain, self.twin_domain]);
    }
    fn get(b: &[u8]) -> Self {
        Self {
            row: u64_at(b, 0),
            twin: u64_at(b, 8),
            domain: u32_at(b, 16),
            twin_domain: u32_at(b, 20),
        }
    }
}

impl Record for DropRecord {
    const SIZE: usize = 25;
    fn put(&self, out: &mut Vec<u8>) {
        for word in [self.row, self.twin, self.survivor] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.push(u8::from(self.exact));
    }
    fn get(b: &[u8]) -> Self {
        Self {
            row: u64_at(b, 0),
            twin: u64_at(b, 8),
            survivor: u64_at(b, 16),
            exact: b[24] != 0,
        }
    }
}

/// Reads every record of `path`. Errors: the file is missing (its task has not run) or its length is
/// not a whole number of records (a truncated file).
pub fn read_all<R: Record>(path: &Path) -> Result<Vec<R>> {
    let bytes = fs::read(path).with_context(|| {
        format!(
            "cannot read {}: the dedup task that writes it has not finished (run the phase before)",
            path.display()
        )
    })?;
    if bytes.len() % R::SIZE != 0 {
        bail!(
            "{} holds {} bytes, not a whole number of {}-byte records: it is truncated; re-run the phase that \
             writes it",
            path.display(),
            bytes.len(),
            R::SIZE
        );
    }
    Ok(bytes.chunks_exact(R::SIZE).map(R::get).collect())
}

/// Appends records to a file through a buffer.
pub struct RecordWriter {
    path: PathBuf,
    out: BufWriter<fs::File>,
    buffer: Vec<u8>,
}

impl RecordWriter {
    pub fn create(path: PathBuf) -> Result<Self> {
        let file = fs::File::create(&path).with_context(|| {
            format!(
                "cannot create {} (is the disk full or read-only?)",
                path.display()
            )
        })?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            buffer: Vec::with_capacity(64),
        })
    }

    pub fn put(&mut self, record: &impl Record) -> Result<()> {
        self.buffer.clear();
        record.put(&mut self.buffer);
        self.out
            .write_all(&self.buffer)
            .with_context(|| format!("cannot write {} (is the disk full?)", self.path.display()))
    }

    /// Flushes and syncs the file.
    pub fn finish(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {} (is the disk full?)", self.path.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot sync {}", self.path.display()))
    }
}

/// Writes `records` to `path` (a new file).
pub fn write_all<'a, R: Record + 'a>(
    path: PathBuf,
    records: impl IntoIterator<Item = &'a R>,
) -> Result<()> {
    let mut writer = RecordWriter::create(path)?;
    for record in records {
        writer.put(record)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<R: Record + PartialEq + std::fmt::Debug + Copy>(record: R) {
        let mut bytes = Vec::new();
        record.put(&mut bytes);
        assert_eq!(bytes.len(), R::SIZE);
        assert_eq!(R::get(&bytes), record);
    }

    #[test]
    fn records_round_trip_and_truncation_is_refused() {
        round_trip(BandRecord {
            key: u64::MAX - 3,
            exact: (7, u64::MAX),
            row: 1 << 40,
            domain: 9,
        });
        round_trip(DocRecord { row: 5, domain: 2 });
        round_trip(PairRecord {
            a: 1,
            b: 2,
            domain_a: 3,
            domain_b: 4,
        });
        round_trip(ExactRecord {
            row: 10,
            twin: 3,
            domain: 1,
            twin_domain: 0,
        });
        round_trip(DropRecord {
            row: 8,
            twin: 1,
            survivor: 0,
            exact: true,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.bin");
        write_all(path.clone(), &[DocRecord { row: 1, domain: 0 }]).unwrap();
        assert_eq!(read_all::<DocRecord>(&path).unwrap().len(), 1);
        fs::write(&path, [0u8; 13]).unwrap();
        let err = read_all::<DocRecord>(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
