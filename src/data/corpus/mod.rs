//! The corpus reader that every stage shares.
//!
//! A corpus is a set of Parquet files, given as files, folders (searched recursively for `*.parquet`)
//! or glob patterns, on local disk or in an object store (`s3://bucket/prefix/`, `gs://`, `az://`; see
//! [`crate::core::store`]), where a key prefix reads as a folder. Each row is a document: its text
//! comes from a string column (default `text`; Utf8, LargeUtf8, Utf8View, or binary holding UTF-8) and its domain from the folder the file sits in
//! (`corpus/<domain>/*.parquet`) or from a column addressed by a dot path into nested structs
//! (`meta.pile_set_name`), plain or dictionary-encoded.
//!
//! [`Corpus::open`] finds the files and checks every footer and schema up front, so that a bad file
//! fails the stage before any work is done, with a message naming the file and what to do.
//! [`Corpus::par_map`] then streams the corpus row group by row group on rayon's workers, decoding at
//! most [`CorpusConfig::batch_bytes`] of text per worker at a time, so memory is bounded by the batch
//! size and never by the corpus. Documents whose text is null, empty or not valid UTF-8 are counted per
//! domain with the reason ([`SkipCounts`]) and skipped; they are never fatal and never silent.

mod batch;
pub mod config;
mod discover;
mod files;
mod read;

use std::path::PathBuf;

use anyhow::Result;
use rayon::prelude::*;

pub use batch::{DocBatch, SkipCounts};
pub use files::CorpusFile;

use crate::core::progress::Progress;
use crate::data::corpus::config::{CorpusConfig, DomainFrom};

/// An opened corpus: its files in a fixed order, ready to stream.
#[derive(Debug)]
pub struct Corpus {
    pub config: CorpusConfig,
    pub files: Vec<CorpusFile>,
}

impl Corpus {
    /// Finds the corpus files under `paths`, reads their footers and checks their columns.
    pub fn open(paths: &[PathBuf], config: &CorpusConfig) -> Result<Self> {
        let found = discover::discover(paths, &config.domain_from)?;
        let files = found
            .into_par_iter()
            .map(|found| files::open_file(found, config))
            .collect::<Result<Vec<_>>>()?;
        let corpus = Self {
            config: config.clone(),
            files,
        };
        if corpus.rows() == 0 {
            anyhow::bail!(
                "the corpus is empty: its {} Parquet file(s) hold no rows ({}). Point --corpus at files \
                 that contain documents.",
                corpus.files.len(),
                corpus
                    .files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(corpus)
    }

    /// Opens a stage's output folders whose domains are known by name (`(folder, domain)`, as the dedup
    /// and cluster stages write them, a folder per domain named by its file stem), so a domain's name
    /// comes from the stage that wrote it, never from decoding the folder's name. The domain is read
    /// from the folder whatever `config.domain_from` says.
    pub fn open_named(folders: &[(PathBuf, String)], config: &CorpusConfig) -> Result<Self> {
        let config = CorpusConfig {
            domain_from: DomainFrom::Folder,
            ..config.clone()
        };
        let mut found = Vec::new();
        for (folder, domain) in folders {
            for (path, _, object) in
                discover::discover(std::slice::from_ref(folder), &config.domain_from)?
            {
                found.push((path, Some(domain.clone()), object));
            }
        }
        let files = found
            .into_par_iter()
            .map(|found| files::open_file(found, &config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { config, files })
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(CorpusFile::rows).sum()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// Every row group of the corpus as `(file, row group)`, in corpus order: the units that tasks
    /// split and that [`Self::par_map_units`] reads.
    pub fn units(&self) -> Vec<(usize, usize)> {
        self.files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| {
                (0..file.metadata.metadata().num_row_groups()).map(move |g| (f, g))
            })
            .collect()
    }

    /// The row groups of task `index` of `count`: a contiguous run of [`Self::units`], cut where the
    /// corpus rows divide evenly (a unit goes to the task its first row falls in), so the tasks hold
    /// about equal rows and together every unit once, in corpus order. With more tasks than row
    /// groups, some tasks get none.
    pub fn task_units(&self, index: usize, count: usize) -> Vec<(usize, usize)> {
        self.unit_tasks(count)
            .into_iter()
            .filter(|&(_, _, task)| task == index)
            .map(|(unit, _, _)| unit)
            .collect()
    }

    /// The first corpus-wide row of each of `count` tasks' row groups ([`Self::task_units`]), then the
    /// corpus's row count: task `i` holds rows `starts[i]..starts[i + 1]` (empty for a task with none).
    pub fn task_row_starts(&self, count: usize) -> Vec<u64> {
        let units = self.unit_tasks(count);
        let total = units.last().map_or(0, |&((f, g), start, _)| {
            start + self.files[f].row_group_rows()[g]
        });
        let mut starts = vec![total; count + 1];
        for (_, start, task) in units {
            starts[task] = starts[task].min(start);
        }
        for task in (0..count).rev() {
            starts[task] = starts[task].min(starts[task + 1]);
        }
        starts
    }

    /// Each unit with its first corpus-wide row (counted by row group, as every row number of the
    /// tasks is) and the task of `count` it belongs to: the one its first row falls in when the rows
    /// divide evenly.
    fn unit_tasks(&self, count: usize) -> Vec<((usize, usize), u64, usize)> {
        let mut units = Vec::new();
        let mut start = 0u64;
        for (f, file) in self.files.iter().enumerate() {
            for (g, rows) in file.row_group_rows().into_iter().enumerate() {
                units.push(((f, g), start, 0));
                start += rows;
            }
        }
        let total = start.max(1) as u128;
        for unit in &mut units {
            let task = unit.1 as u128 * count as u128 / total;
            unit.2 = (task as usize).min(count.saturating_sub(1));
        }
        units
    }

    /// The corpus-wide number of each file's first row: a document's global row is
    /// `row_offsets()[file] + row`, the same order as (file, row).
    pub fn row_offsets(&self) -> Vec<u64> {
        let mut offsets = Vec::with_capacity(self.files.len());
        let mut at = 0;
        for file in &self.files {
            offsets.push(at);
            at += file.row_group_rows().iter().sum::<u64>();
        }
        offsets
    }

    /// Rows in the row groups `units`.
    pub fn units_rows(&self, units: &[(usize, usize)]) -> u64 {
        units
            .iter()
            .map(|&(f, g)| {
                self.files[f]
                    .metadata
                    .metadata()
                    .row_group(g)
                    .num_rows()
                    .max(0) as u64
            })
            .sum()
    }

    /// Streams every document batch of the corpus through `map` on rayon's workers and returns the
    /// results in corpus order (file, row group, batch), whatever order the workers finished in.
    pub fn par_map<T: Send>(
        &self,
        progress: &Progress,
        map: impl Fn(&DocBatch) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        self.par_map_units(&self.units(), progress, map)
    }

    /// [`Self::par_map`] over the row groups `units` only, results in the order of `units`.
    pub fn par_map_units<T: Send>(
        &self,
        units: &[(usize, usize)],
        progress: &Progress,
        map: impl Fn(&DocBatch) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let per_unit = units
            .par_iter()
            .enumerate()
            .map(|(i, &(f, g))| {
                self.read_ahead(units, i + 1);
                let mut out = Vec::new();
                read::read_row_group(
                    f,
                    &self.files[f],
                    g,
                    &self.config,
                    &mut |batch: DocBatch| {
                        progress.inc(batch.len() as u64);
                        out.push(map(&batch)?);
                        Ok(())
                    },
                )?;
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(per_unit.into_iter().flatten().collect())
    }
}

impl Corpus {
    /// Streams every document batch in corpus order on the calling thread, for stages whose output
    /// must be written in order (the work inside `each` may itself be parallel).
    pub fn for_each_batch(
        &self,
        progress: &Progress,
        each: impl FnMut(DocBatch) -> Result<()>,
    ) -> Result<()> {
        self.for_each_batch_units(&self.units(), progress, each)
    }

    /// [`Self::for_each_batch`] over the row groups `units` only, in their order.
    pub fn for_each_batch_units(
        &self,
        units: &[(usize, usize)],
        progress: &Progress,
        mut each: impl FnMut(DocBatch) -> Result<()>,
    ) -> Result<()> {
        for (i, &(f, g)) in units.iter().enumerate() {
            self.read_ahead(units, i + 1);
            read::read_row_group(
                f,
                &self.files[f],
                g,
                &self.config,
                &mut |batch: DocBatch| {
                    progress.inc(batch.len() as u64);
                    each(batch)
                },
            )?;
        }
        Ok(())
    }

    /// Starts fetching `units[next]` when it is a row group of an object (the next row group a reader
    /// of `units` in order will want); nothing past the end or for a local file.
    fn read_ahead(&self, units: &[(usize, usize)], next: usize) {
        if let Some(&(f, g)) = units.get(next) {
            self.files[f].read_ahead(g);
        }
    }

    /// Uncompressed bytes of text in the corpus, from the footers.
    pub fn text_bytes(&self) -> u64 {
        self.files.iter().map(CorpusFile::text_bytes).sum()
    }
}
