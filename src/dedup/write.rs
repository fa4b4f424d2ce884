//! Pass 3 of dedup: splitting each row group into the survivors of each domain.
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

use super::DROPPED_FOLDER;
use super::index::{DocIndex, DocLocation, Fate};
use crate::corpus::Corpus;
use crate::domain::file_stem;
use crate::progress::Progress;

/// Rows per read batch when writing.
const WRITE_BATCH_ROWS: usize = 4096;

#[allow(clippy::too_many_arguments)]
pub(super) fn write_outputs(
    corpus: &Corpus,
    index: &DocIndex,
    fates: &[Fate],
    survivors: &[u32],
    domain_names: &[String],
    staging: &Path,
    write_dropped: bool,
    quiet: bool,
) -> Result<()> {
    let mut units = Vec::new();
    for (f, file) in corpus.files.iter().enumerate() {
        let mut first_row = 0;
        for (g, rows) in file.row_group_rows().into_iter().enumerate() {
            units.push((f, g, first_row, rows));
            first_row += rows;
        }
    }
    let progress = Progress::new(corpus.rows(), "rows", quiet);
    progress.set_message("writing");
    let mut first_doc = vec![u32::MAX; domain_names.len()];
    let mut kept_per_domain = vec![0u64; domain_names.len()];
    for (d, &domain) in index.domains.iter().enumerate() {
        first_doc[domain as usize] = first_doc[domain as usize].min(d as u32);
        kept_per_domain[domain as usize] += u64::from(fates[d] == Fate::Kept);
    }
    let split = Split {
        first_doc,
        kept_per_domain,
        corpus,
        index,
        fates,
        survivors,
        domain_names,
        staging,
        write_dropped,
    };
    units
        .into_par_iter()
        .try_for_each(|(f, g, first_row, rows)| {
            split.write_row_group(f, g, first_row, rows)?;
            progress.inc(rows);
            Ok::<_, anyhow::Error>(())
        })?;
    progress.finish();
    Ok(())
}

struct Split<'a> {
    /// Per domain, its first document and how many survive.
    first_doc: Vec<u32>,
    kept_per_domain: Vec<u64>,
    corpus: &'a Corpus,
    index: &'a DocIndex,
    fates: &'a [Fate],
    survivors: &'a [u32],
    domain_names: &'a [String],
    staging: &'a Path,
    write_dropped: bool,
}

impl Split<'_> {
    fn write_row_group(&self, f: usize, g: usize, first_row: u64, rows: u64) -> Result<()> {
        let file = &self.corpus.files[f];
        let at = |row| DocLocation {
            file: f as u32,
            row,
        };
        let lo = self.index.locations.partition_point(|l| *l < at(first_row));
        let hi = self
            .index
            .locations
            .partition_point(|l| *l < at(first_row + rows));
        if lo == hi {
            return Ok(());
        }
        let text_column = &self.corpus.config.text_column;
        let schema = file.arrow_metadata().schema().clone();
        let dropped_schema = with_audit_columns(&schema);
        let part = format!("part-{f:05}-{g:05}.parquet");

        let mut kept: BTreeMap<u32, PartWriter> = BTreeMap::new();
        let mut dropped: BTreeMap<u32, PartWriter> = BTreeMap::new();
        // A part for each domain with survivors here; a domain with none anywhere gets one empty part
        // (in the row group of its first document), so that it stays as an empty domain.
        for d in lo..hi {
            let domain = self.index.domains[d];
            let stem = file_stem(&self.domain_names[domain as usize]);
            let empty_domain_here = self.first_doc[domain as usize] == d as u32
                && self.kept_per_domain[domain as usize] == 0;
            if (self.fates[d] == Fate::Kept || empty_domain_here) && !kept.contains_key(&domain) {
                let path = self.staging.join(&stem).join(&part);
                kept.insert(domain, PartWriter::create(path, schema.clone())?);
            }
            if self.write_dropped && self.fates[d] != Fate::Kept && !dropped.contains_key(&domain) {
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
            while doc < hi && self.index.locations[doc].row < end {
                here.push(((self.index.locations[doc].row - row) as usize, doc));
                doc += 1;
            }
            row = end;
            for (&domain, writer) in &mut kept {
                let mask = mask(batch.num_rows(), &here, |d| {
                    self.index.domains[d] == domain && self.fates[d] == Fate::Kept
                });
                writer.write(&conform(filter_record_batch(&batch, &mask)?, &schema)?)?;
            }
            for (&domain, writer) in &mut dropped {
                let is_dropped =
                    |d: usize| self.index.domains[d] == domain && self.fates[d] != Fate::Kept;
                let picked: Vec<usize> = here
                    .iter()
                    .map(|&(_, d)| d)
                    .filter(|&d| is_dropped(d))
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
        Ok(())
    }

    /// `path#row` of a document, the id used in the audit columns.
    fn doc_id(&self, d: u32) -> String {
        let location = self.index.locations[d as usize];
        format!(
            "{}#{}",
            self.corpus.files[location.file as usize].path.display(),
            location.row
        )
    }

    fn add_audit_columns(
        &self,
        rows: RecordBatch,
        docs: &[usize],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let mut reason = Vec::with_capacity(docs.len());
        let mut twin = Vec::with_capacity(docs.len());
        let mut kept = Vec::with_capacity(docs.len());
        for &d in docs {
            let (why, matched) = match self.fates[d] {
                Fate::Exact { twin } => ("exact", twin),
                Fate::Near { twin } => ("near_duplicate", twin),
                Fate::Kept => unreachable!("only dropped documents are audited"),
            };
            reason.push(why);
            twin.push(self.doc_id(matched));
            kept.push(self.doc_id(self.survivors[d]));
        }
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
