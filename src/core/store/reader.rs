//! Parquet's [`ChunkReader`] over an object ([`ObjectReader`]): the column chunks of a row group fetched
//! in one round of range requests, or in the background ahead of their read ([`ReadAhead`]); and
//! [`Source`], a local file or an object, which every corpus read hands to parquet.

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bytes::{Buf, Bytes};
use parquet::file::reader::{ChunkReader, Length};

use super::{StoreObject, block_on, runtime};

/// Bytes read ahead of a `get_read` outside the prefetched ranges (a footer or a page header).
const READ_AHEAD: u64 = 64 << 10;

/// Byte ranges of an object being fetched in the background, so the next row group arrives while
/// this one decodes; [`ObjectReader::take`] waits for them.
pub struct ReadAhead {
    ranges: Vec<Range<u64>>,
    task: Option<tokio::task::JoinHandle<object_store::Result<Vec<Bytes>>>>,
}

impl ReadAhead {
    /// Starts fetching `ranges` (clamped to the object) on the store's runtime.
    pub fn start(object: Arc<StoreObject>, ranges: &[Range<u64>]) -> Result<Self> {
        let ranges: Vec<Range<u64>> = ranges
            .iter()
            .map(|r| r.start.min(object.size)..r.end.min(object.size))
            .filter(|r| !r.is_empty())
            .collect();
        if ranges.is_empty() {
            return Ok(Self { ranges, task: None });
        }
        let fetch = ranges.clone();
        let task = runtime()?
            .spawn(async move { object.store.get_ranges(&object.location, &fetch).await });
        Ok(Self {
            ranges,
            task: Some(task),
        })
    }

    /// The ranges being fetched.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }
}

/// A [`ChunkReader`] over one object: the ranges prefetched, and anything else fetched on demand.
pub struct ObjectReader {
    object: Arc<StoreObject>,
    /// Prefetched ranges, by start offset.
    held: Vec<(u64, Bytes)>,
}

impl ObjectReader {
    pub fn new(object: Arc<StoreObject>) -> Self {
        Self {
            object,
            held: Vec::new(),
        }
    }

    /// Fetches `ranges` in one call (object_store merges close ranges and fetches the rest
    /// concurrently) and keeps them for the reads that follow. Errors name the object and the ranges.
    pub fn prefetch(self, ranges: &[Range<u64>]) -> Result<Self> {
        let started = ReadAhead::start(self.object.clone(), ranges)?;
        self.take(started)
    }

    /// Keeps the ranges a [`ReadAhead`] fetched (waiting for them), for the reads that follow.
    /// Errors name the object and the ranges.
    pub fn take(mut self, started: ReadAhead) -> Result<Self> {
        let ReadAhead { ranges, task } = started;
        let Some(task) = task else {
            return Ok(self);
        };
        let object = &self.object;
        let fetched = block_on(task)?
            .map_err(|e| anyhow!("the read-ahead of {} stopped: {e}", object.url))?
            .with_context(|| {
                let shown: Vec<String> = ranges
                    .iter()
                    .map(|r| format!("{}..{}", r.start, r.end))
                    .collect();
                format!(
                    "cannot read bytes {} of {} (after the retries [corpus.store] allows)",
                    shown.join(", "),
                    object.url
                )
            })?;
        self.held
            .extend(ranges.iter().map(|r| r.start).zip(fetched));
        Ok(self)
    }

    /// The held bytes from `start` on, when a prefetched range covers `start..start + length`.
    fn held(&self, start: u64, length: u64) -> Option<Bytes> {
        self.held.iter().find_map(|(at, bytes)| {
            let end = at + bytes.len() as u64;
            (start >= *at && start + length <= end)
                .then(|| bytes.slice((start - at) as usize..(end - at) as usize))
        })
    }
}

impl Length for ObjectReader {
    fn len(&self) -> u64 {
        self.object.size
    }
}

fn parquet_error(e: anyhow::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(format!("{e:#}"))
}

impl ChunkReader for ObjectReader {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        if let Some(bytes) = self.held(start, 0).filter(|b| !b.is_empty()) {
            return Ok(bytes.reader());
        }
        let end = (start + READ_AHEAD).min(self.object.size);
        Ok(self
            .object
            .fetch(start..end)
            .map_err(parquet_error)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        if let Some(bytes) = self.held(start, length as u64) {
            return Ok(bytes.slice(..length));
        }
        self.object
            .fetch(start..start + length as u64)
            .map_err(parquet_error)
    }
}

/// A reader over a local file or an object: what parquet's readers are given for a corpus file.
pub enum Source {
    Local(std::fs::File),
    Object(ObjectReader),
}

impl Length for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Local(file) => file.len(),
            Source::Object(object) => object.len(),
        }
    }
}

impl ChunkReader for Source {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            Source::Local(file) => Box::new(file.get_read(start)?),
            Source::Object(object) => Box::new(object.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            Source::Local(file) => file.get_bytes(start, length),
            Source::Object(object) => object.get_bytes(start, length),
        }
    }
}
