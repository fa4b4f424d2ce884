//! Pass 3 of dedup, and the cluster stage's writer: splitting each row group into one part per output domain.
//!
//! Every row group is read whole (all columns), filtered to its surviving rows per domain and written
//! to `<staging>/<domain stem>/part-<file>-<row group>.parquet`, so parts are written in parallel and
//! their names (and content) do not depend on scheduling. A domain present in a row group gets its
//! part even when nothing survives, so a domain that dedups to nothing stays as an empty domain.
//!
//! A row with invalid UTF-8 text is never a survivor, but Arrow rejects its whole batch; such a row
//! group is read with the text as bytes, and the survivors are cast back to the column's string type.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

use super::index::DocLocation;
use crate::core::domain::file_stem;
use crate::core::progress::Progress;
use crate::data::corpus::Corpus;

/// The folder inside `dedup/` that holds the dropped rows when asked for.
pub const DROPPED_FOLDER: &str = "_dropped";

/// Rows per read batch when writing.
const WRITE_BATCH_ROWS: usize = 4096;

/// Why one document was dropped, for the writer: the document it matched and its cluster's survivor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// An exact copy (else a near-duplicate).
    pub exact: bool,
    pub twin: DocLocation,
    pub survivor: DocLocation,
}

/// What the writer needs of the documents in the row groups it writes.
pub(crate) struct Decisions<'a> {
    /// The documents, in corpus order (at least those of the row groups written).
    pub locations: &'a [DocLocation],
    /// Each document's index into the domain list.
    pub domains: &'a [u32],
    /// The dropped documents: (position in `locations`, why), sorted by position.
    pub dropped: &'a [(u32, Dropped)],
    /// Per domain with no survivor anywhere, its first document: its row group gets the domain's one
    /// empty part, so that the domain stays as an empty domain.
    pub empty_domain_at: &'a [Option<DocLocation>],
}

impl Decisions<'_> {
    fn dropped(&self, d: usize) -> Option<Dropped> {
        self.dropped
            .binary_search_by_key(&(d as u32), |&(position, _)| position)
            .ok()
            .map(|i| self.dropped[i].1)
    }
}

/// Writes the survivors (and with `write_dropped` the dropped rows) of the row groups `units` into
/// `staging`, one part per domain and row group.
pub(crate) fn write_outputs(
    corpus: &Corpus,
    units: &[(usize, usize)],
    decisions: &Decisions,
    domain_names: &[String],
    staging: &Path,
    write_dropped: bool,
    quiet: bool,
) -> Result<()> {
    let progress = Progress::new(corpus.units_rows(units), "rows", quiet);
    progress.set_message("writing");
    let split = Split {
        corpus,
        decisions,
        domain_names,
        staging,
        write_dropped,
    };
    units.par_iter().try_for_each(|&(f, g)| {
        let rows = split.write_row_group(f, g)?;
        progress.inc(rows);
        Ok::<_, anyhow::Error>(())
    })?;
    progress.finish();
    Ok(())
}

struct Split<'a> {
    corpus: &'a Corpus,
    decisions: &'a Decisions<'a>,
    domain_names: &'a [String],
    staging: &'a Path,
    write_dropped: bool,
}

impl Split<'_> {
    /// Writes row group `g` of file `f`; returns its rows.
    fn write_row_group(&self, f: usize, g: usize) -> Result<u64> {
        let file = &self.corpus.files[f];
        let group_rows = file.row_group_rows();
        let first_row: u64 = group_rows[..g].iter().sum();
        let rows = group_rows[g];
        let decisions = self.decisions;
        let locations = decisions.locations;
        let at = |row| DocLocation {
            file: f as u32,
            row,
        };
        let lo = locations.partition_point(|l| *l < at(first_row));
        let hi = locations.partition_point(|l| *l < at(first_row + rows));
        if lo == hi {
            return Ok(rows);
        }
        let text_column = &self.corpus.config.text_column;
        let schema = file.arrow_metadata().schema().clone();
        let dropped_schema = with_audit_columns(&schema);
        let part = format!("part-{f:05}-{g:05}.parquet");

        let fates: Vec<Option<Dropped>> = (lo..hi).map(|d| decisions.dropped(d)).collect();
        let fate = |d: usize| fates[d - lo];
        let mut kept: BTreeMap<u32, PartWriter> = BTreeMap::new();
        let mut dropped: BTreeMap<u32, PartWriter> = BTreeMap::new();
        // A part for each domain with survivors here; a domain with none anywhere gets one empty part
        // (in the row group of its first document).
        for (d, (&domain, &location)) in decisions.domains[lo..hi]
            .iter()
            .zip(&locations[lo..hi])
            .enumerate()
        {
            let d = lo + d;
            let stem = file_stem(&self.domain_names[domain as usize]);
            let empty_domain_here = decisions.empty_domain_at[domain as usize] == Some(location);
            if (fate(d).is_none() || empty_domain_here) && !kept.contains_key(&domain) {
                let path = self.staging.join(&stem).join(&part);
                kept.insert(domain, PartWriter::create(path, schema.clone())?);
            }
            if self.write_dropped && fate(d).is_some() && !dropped.contains_key(&domain) {
                let path = self.staging.join(DROPPED_FOLDER).join(&stem).join(&part);
                dropped.insert(domain, PartWriter::create(path, dropped_schema.clone())?);
            }
        }

        let mut doc = lo;
        let mut row = first_row;
        file.read_full_row_group(g, text_column, WRITE_BATCH_ROWS, &mut |batch| {
            let end = row + batch.num_rows() as u64;
            // This batch's documents: (position in batch, document).
            let mut here = Vec::new();
            while doc < hi && locations[doc].row < end {
                here.push(((locations[doc].row - row) as usize, doc));
                doc += 1;
            }
            row = end;
            for (&domain, writer) in &mut kept {
                let mask = mask(batch.num_rows(), &here, |d| {
                    decisions.domains[d] == domain && fate(d).is_none()
                });
                writer.write(&conform(filter_record_batch(&batch, &mask)?, &schema)?)?;
            }
            for (&domain, writer) in &mut dropped {
                let is_dropped = |d: usize| decisions.domains[d] == domain && fate(d).is_some();
                let picked: Vec<Dropped> = here
                    .iter()
                    .filter(|&&(_, d)| is_dropped(d))
                    .filter_map(|&(_, d)| fate(d))
                    .collect();
                let rows = conform(
                    filter_record_batch(&batch, &mask(batch.num_rows(), &here, is_dropped))?,
                    &schema,
                )?;
                writer.write(&self.add_audit_columns(rows, &picked, &dropped_schema)?)?;
            }
            Ok(())
        })?;
        for writer in kept.into_values().chain(dropped.into_values()) {
            writer.finish()?;
        }
        Ok(rows)
    }

    /// `path#row` of a document, the id used in the audit columns.
    fn doc_id(&self, location: DocLocation) -> String {
        format!(
            "{}#{}",
            self.corpus.files[location.file as usize].path.display(),
            location.row
        )
    }

    fn add_audit_columns(
        &self,
        rows: RecordBatch,
        docs: &[Dropped],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let reason: Vec<&str> = docs
            .iter()
            .map(|d| if d.exact { "exact" } else { "near_duplicate" })
            .collect();
        let twin: Vec<String> = docs.iter().map(|d| self.doc_id(d.twin)).collect();
        let kept: Vec<String> = docs.iter().map(|d| self.doc_id(d.survivor)).collect();
        let mut columns = rows.columns().to_vec();
        columns.push(Arc::new(StringArray::from(reason)) as ArrayRef);
        columns.push(Arc::new(StringArray::from(twin)) as ArrayRef);
        columns.push(Arc::new(StringArray::from(kept)) as ArrayRef);
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

/// A mask over a batch's rows: true where a document is there and `keep` says so.
fn mask(rows: usize, here: &[(usize, usize)], keep: impl Fn(usize) -> bool) -> BooleanArray {
    let mut mask = vec![false; rows];
    for &(position, d) in here {
        mask[position] = keep(d);
    }
    BooleanArray::from(mask)
}

/// The batch in the file's own schema: a text column that had to be read as bytes (because some row
/// held invalid UTF-8, never a surviving one) is cast back to its string type, which validates it.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn with_audit_columns(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for name in ["remix_reason", "remix_twin", "remix_kept"] {
        fields.push(Field::new(name, DataType::Utf8, false));
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A Parquet part written under a temporary name and renamed when finished.
struct PartWriter {
    path: PathBuf,
    tmp: PathBuf,
    writer: ArrowWriter<fs::File>,
}

impl PartWriter {
    fn create(path: PathBuf, schema: SchemaRef) -> Result<Self> {
        let parent = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).with_context(|| {
            format!(
                "cannot create {} (is the disk full or read-only?)",
                parent.display()
            )
        })?;
        let tmp = path.with_extension("parquet.tmp");
        let file = fs::File::create(&tmp).with_context(|| {
            format!(
                "cannot create {} (is the disk full or read-only?)",
                tmp.display()
            )
        })?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(properties))?;
        Ok(Self { path, tmp, writer })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 {
            self.writer.write(batch).with_context(|| {
                format!("cannot write {} (is the disk full?)", self.tmp.display())
            })?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        let file = self
            .writer
            .into_inner()
            .with_context(|| format!("cannot finish {} (is the disk full?)", self.tmp.display()))?;
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("cannot rename {} into place", self.tmp.display()))
    }
}
