//! Reading a stage's artifacts for the report: absent means the stage has not run; present but
//! unreadable is an error that says to run the stage again.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::de::DeserializeOwned;

/// Reads a JSON artifact, or `None` when the file is absent.
pub(super) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    crate::core::workdir::read_json_if_present(
        path,
        "is not what remix wrote there: run its stage again",
    )
}

/// Reads every batch of a Parquet file.
pub(super) fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not Parquet", path.display()))?
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}
