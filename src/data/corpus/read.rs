//! Decoding one row group into document batches.
//!
//! The fast path is parquet's Arrow reader, projected to the text and domain columns and sized so a
//! batch holds about [`CorpusConfig::batch_bytes`] of text. Arrow rejects a whole batch when one string
//! is not valid UTF-8; a corpus with a few broken rows must still be read, so on any Arrow error the row
//! group is read again through parquet's untyped column reader, which hands the text over as raw
//! bytes for [`DocBatch`] to classify row by row.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::RowGroupReader;
use parquet::file::serialized_reader::SerializedRowGroupReader;

use super::batch::DocBatch;
use super::files::{CorpusFile, shown};
use crate::data::corpus::config::{CorpusConfig, DomainFrom};

impl CorpusFile {
    /// Streams row group `group` with every column, in batches of `batch_rows`; rows are in file
    /// order. Text that is not valid UTF-8 does not fail the read: from the first batch that holds
    /// some, the text column comes as Binary.
    pub fn read_full_row_group(
        &self,
        group: usize,
        text_column: &str,
        batch_rows: usize,
        each: &mut dyn FnMut(arrow::array::RecordBatch) -> Result<()>,
    ) -> Result<()> {
        read_full_row_group(self, group, text_column, batch_rows, each)
    }
}

/// Largest batch in rows, whatever the document size: bounds per-row bookkeeping.
const MAX_BATCH_ROWS: usize = 65_536;

pub(super) fn read_row_group(
    file_index: usize,
    file: &CorpusFile,
    group: usize,
    config: &CorpusConfig,
    sink: &mut dyn FnMut(DocBatch) -> Result<()>,
) -> Result<()> {
    let meta = file.metadata.metadata().row_group(group);
    let rows = meta.num_rows().max(0) as usize;
    if rows == 0 {
        return Ok(());
    }
    // The extra column (embeddings) counts too: 4,096 floats a row outweigh a short text.
    let text_bytes = std::iter::once(file.text_leaf)
        .chain(file.extra_leaf)
        .map(|leaf| meta.column(leaf).uncompressed_size().max(0) as u64)
        .sum::<u64>()
        .max(1);
    let bytes_per_row = (text_bytes / rows as u64).max(1);
    let batch_rows = ((config.batch_bytes / bytes_per_row) as usize).clamp(1, MAX_BATCH_ROWS);

    let descr = file.metadata.metadata().file_metadata().schema_descr_ptr();
    let source = file.source(group, &file.read_ranges(group))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, file.metadata.clone())
        .with_row_groups(vec![group])
        .with_projection(ProjectionMask::leaves(&descr, file.read_leaves()))
        .with_batch_size(batch_rows)
        .build()
        .with_context(|| format!("cannot read row group {group} of {}", shown(&file.path)))?;

    let first_row: u64 = (0..group)
        .map(|g| file.metadata.metadata().row_group(g).num_rows().max(0) as u64)
        .sum();
    let mut done = 0usize;
    for batch in reader {
        match batch {
            Ok(batch) => {
                let text = column(&batch, &config.text_column)?;
                let (names, keys) = domains_of(file, &batch, config)?;
                let extra = extra_of(file, &batch, config)?;
                let docs = DocBatch::new(
                    file_index,
                    group,
                    first_row + done as u64,
                    &text,
                    names,
                    keys,
                )
                .ok_or_else(|| {
                    anyhow!(
                        "unexpected text type {} in {}",
                        text.data_type(),
                        shown(&file.path)
                    )
                })?
                .with_extra(extra);
                done += batch.num_rows();
                sink(docs)?;
            }
            Err(arrow_error) => {
                let docs = read_raw(file_index, file, group, config, done, first_row).map_err(|_| {
                    // A codec parquet-rs lacks (LZO) is the writer's choice, not damage.
                    let message = arrow_error.to_string();
                    let hint = if message.contains("Disabled feature") || message.contains("LZO") {
                        "It uses a compression codec remix cannot read: write it again with snappy, zstd, \
                         gzip, lz4 or brotli (for example pyarrow's `compression=\"zstd\"`)."
                    } else {
                        "The file is probably corrupt: export it again, or remove it from the corpus."
                    };
                    anyhow!(
                        "cannot decode row group {group} (rows {first_row}..{}) of {}: {arrow_error}. {hint}",
                        first_row + rows as u64,
                        shown(&file.path)
                    )
                })?;
                return sink(docs);
            }
        }
    }
    Ok(())
}

/// Reads the rest of a row group (from row `skip` on) with the text as raw bytes.
fn read_raw(
    file_index: usize,
    file: &CorpusFile,
    group: usize,
    config: &CorpusConfig,
    skip: usize,
    first_row: u64,
) -> Result<DocBatch> {
    let text = read_text_bytes(file, group)?;
    let text = text.slice(skip, text.len() - skip.min(text.len()));

    // The domain and extra columns hold no text, so the Arrow reader is safe for them.
    let leaves: Vec<usize> = file
        .domain_leaf
        .into_iter()
        .chain(file.extra_leaf)
        .collect();
    let others = if leaves.is_empty() {
        RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()))
    } else {
        let descr = file.metadata.metadata().file_metadata().schema_descr_ptr();
        let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(
            file.source(group, &file.chunk_ranges(group, leaves.iter().copied()))?,
            file.metadata.clone(),
        )
        .with_row_groups(vec![group])
        .with_projection(ProjectionMask::leaves(&descr, leaves))
        .build()?
        .collect::<Result<Vec<_>, _>>()?;
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
        batch.slice(skip, batch.num_rows() - skip)
    };
    let (names, keys) = domains_of(file, &others, config)?;
    let extra = extra_of(file, &others, config)?;
    Ok(DocBatch::new(
        file_index,
        group,
        first_row + skip as u64,
        &text,
        names,
        keys,
    )
    .ok_or_else(|| anyhow!("unexpected text type"))?
    .with_extra(extra))
}

/// The extra column of a batch, when the corpus reads one and the file has it.
fn extra_of(
    file: &CorpusFile,
    batch: &RecordBatch,
    config: &CorpusConfig,
) -> Result<Option<ArrayRef>> {
    match (&config.extra_column, file.extra_leaf) {
        (Some(dot_path), Some(_)) => column(batch, dot_path).map(Some),
        _ => Ok(None),
    }
}

/// The text column of a whole row group as raw bytes (a [`BinaryArray`](arrow::array::BinaryArray)),
/// whether or not it is valid UTF-8.
pub(crate) fn read_text_bytes(file: &CorpusFile, group: usize) -> Result<ArrayRef> {
    let source = file.source(group, &file.chunk_ranges(group, [file.text_leaf]))?;
    // The footer is already read: the row group's reader is built from it, not from a second read.
    let row_group = SerializedRowGroupReader::new(
        Arc::new(source),
        file.metadata.metadata().row_group(group),
        None,
        Arc::new(ReaderProperties::builder().build()),
    )?;
    let max_def = row_group
        .metadata()
        .schema_descr()
        .column(file.text_leaf)
        .max_def_level();
    let ColumnReader::ByteArrayColumnReader(mut column_reader) =
        row_group.get_column_reader(file.text_leaf)?
    else {
        bail!("the text column is not a byte array");
    };
    let mut text = BinaryBuilder::new();
    let (mut defs, mut values) = (Vec::new(), Vec::<ByteArray>::new());
    loop {
        defs.clear();
        values.clear();
        let (records, _, _) =
            column_reader.read_records(4096, Some(&mut defs), None, &mut values)?;
        if records == 0 {
            break;
        }
        if max_def == 0 {
            values.iter().for_each(|v| text.append_value(v.data()));
        } else {
            let mut value = values.iter();
            for &def in &defs {
                match (def == max_def).then(|| value.next()).flatten() {
                    Some(v) => text.append_value(v.data()),
                    None => text.append_null(),
                }
            }
        }
    }
    Ok(Arc::new(text.finish()))
}

/// The column at a dot path, looking through structs; an exact top-level name wins.
fn column(batch: &RecordBatch, dot_path: &str) -> Result<ArrayRef> {
    fn find(columns: &[ArrayRef], names: Vec<&str>, dot_path: &str) -> Option<ArrayRef> {
        if let Some(i) = names.iter().position(|n| *n == dot_path) {
            return Some(columns[i].clone());
        }
        let (head, rest) = dot_path.split_once('.')?;
        let i = names.iter().position(|n| *n == head)?;
        let inner = columns[i].as_struct_opt()?;
        let found = find(inner.columns(), inner.column_names(), rest)?;
        // A null struct makes its children null too.
        match inner.nulls() {
            Some(nulls) if nulls.null_count() > 0 => {
                let merged = arrow::buffer::NullBuffer::union(Some(nulls), found.nulls());
                Some(arrow::array::make_array(
                    found.to_data().into_builder().nulls(merged).build().ok()?,
                ))
            }
            _ => Some(found),
        }
    }
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    find(batch.columns(), names, dot_path)
        .ok_or_else(|| anyhow!("column `{dot_path}` missing from a batch"))
}

/// A batch's domain names and, for column domains, each row's index into them (`None`: null domain).
type BatchDomains = (Vec<String>, Option<Vec<Option<u32>>>);

/// The domain names of a batch and, for column domains, each row's index into them.
fn domains_of(
    file: &CorpusFile,
    batch: &RecordBatch,
    config: &CorpusConfig,
) -> Result<BatchDomains> {
    let DomainFrom::Column(dot_path) = &config.domain_from else {
        return Ok((vec![file.folder_domain.clone().unwrap_or_default()], None));
    };
    let array = column(batch, dot_path)?;
    let dictionary_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let as_dictionary = match array.data_type() {
        DataType::Dictionary(_, _) => cast(&array, &dictionary_type)?,
        _ => cast(&cast(&array, &DataType::Utf8)?, &dictionary_type)?,
    };
    let dictionary = as_dictionary.as_dictionary::<Int32Type>();
    let values = dictionary.values().as_string::<i32>();
    let names: Vec<String> = (0..values.len())
        .map(|i| values.value(i).to_string())
        .collect();
    let keys = dictionary
        .keys()
        .iter()
        .map(|k| k.filter(|&k| values.is_valid(k as usize)).map(|k| k as u32))
        .collect();
    Ok((names, Some(keys)))
}

/// Streams a whole row group with every column, in batches of `batch_rows`. When Arrow rejects a batch
/// (text that is not valid UTF-8), the rest of the row group comes with the text column as raw bytes
/// (Binary) instead, so the caller can still pick out the valid rows.
pub(crate) fn read_full_row_group(
    file: &CorpusFile,
    group: usize,
    text_column: &str,
    batch_rows: usize,
    each: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let columns = file.metadata.metadata().row_group(group).num_columns();
    let open = || file.source(group, &file.chunk_ranges(group, 0..columns));
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(open()?, file.metadata.clone())
        .with_row_groups(vec![group])
        .with_batch_size(batch_rows)
        .build()
        .with_context(|| format!("cannot read row group {group} of {}", shown(&file.path)))?;
    let mut done = 0;
    for batch in reader {
        match batch {
            Ok(batch) => {
                done += batch.num_rows();
                each(batch)?;
            }
            Err(arrow_error) => {
                let schema = file.metadata.schema();
                let text_index = schema.index_of(text_column).map_err(|_| {
                    anyhow!(
                        "cannot decode row group {group} of {}: {arrow_error}",
                        shown(&file.path)
                    )
                })?;
                let descr = file.metadata.metadata().file_metadata().schema_descr_ptr();
                let others: Vec<usize> = (0..schema.fields().len())
                    .filter(|&i| i != text_index)
                    .collect();
                let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    open()?,
                    file.metadata.clone(),
                )
                .with_row_groups(vec![group])
                .with_projection(ProjectionMask::roots(&descr, others.iter().copied()))
                .build()?
                .collect::<Result<Vec<_>, _>>()?;
                let projected =
                    arrow::compute::concat_batches(&Arc::new(schema.project(&others)?), &batches)?;
                let text = read_text_bytes(file, group)?;
                let mut columns = projected.columns().to_vec();
                columns.insert(text_index, text);
                let mut fields: Vec<arrow::datatypes::Field> = projected
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.insert(
                    text_index,
                    schema
                        .field(text_index)
                        .clone()
                        .with_data_type(DataType::Binary),
                );
                let whole = RecordBatch::try_new(
                    Arc::new(arrow::datatypes::Schema::new_with_metadata(
                        fields,
                        schema.metadata().clone(),
                    )),
                    columns,
                )?;
                let rest = whole.slice(done, whole.num_rows() - done);
                let mut start = 0;
                while start < rest.num_rows() {
                    let n = batch_rows.min(rest.num_rows() - start);
                    each(rest.slice(start, n))?;
                    start += n;
                }
                return Ok(());
            }
        }
    }
    Ok(())
}
