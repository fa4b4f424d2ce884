//! Mixture tables: the candidates of `mixtures.parquet`, a runs table, or RegMix's mixture CSV, read as
//! their identifying column (`index`, else `run_id`, else `mixture_id`) and one weight column per domain
//! (`w_<domain>` or `train_<domain>`). `remix predict` scores them, the train stage trains them, and
//! `remix runs merge` orders its rows by them.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::regmix::frozen::{FrozenBlock, frozen_block_of};
use crate::regmix::runs::regmix::read_csv;

/// Columns that identify a row, in order of preference.
const ID_COLUMNS: [&str; 3] = ["index", "run_id", "mixture_id"];

/// Mixtures read from a file: an optional id column and, per weight column, the domain and values.
pub struct MixtureFile {
    pub id: Option<(String, Vec<String>)>,
    pub weights: Vec<(String, Vec<f64>)>,
    /// The frozen block of a reuse search's candidates ([`crate::regmix::frozen`]), from the Parquet
    /// metadata.
    pub frozen: Option<FrozenBlock>,
}

/// Reads mixtures from Parquet or CSV.
pub fn read_mixtures(path: &Path) -> Result<MixtureFile> {
    let mut frozen = None;
    let (header, columns): TextColumns = if is_parquet(path)? {
        let (columns, block) = read_parquet_columns(path)?;
        frozen = block;
        columns
    } else {
        let (header, rows) = read_csv(path)?;
        let columns = (0..header.len())
            .map(|c| rows.iter().map(|r| Some(r[c].clone())).collect())
            .collect();
        (header, columns)
    };
    let id = ID_COLUMNS.iter().find_map(|name| {
        let c = header.iter().position(|h| h == name)?;
        Some((
            name.to_string(),
            columns[c]
                .iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect(),
        ))
    });
    let mut weights = Vec::new();
    for (c, name) in header.iter().enumerate() {
        let Some(domain) = name
            .strip_prefix("w_")
            .or_else(|| name.strip_prefix("train_"))
        else {
            continue;
        };
        let values = columns[c]
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.as_deref()
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|w| w.is_finite())
                    .ok_or_else(|| {
                        anyhow!(
                            "{} row {}: column {name} holds `{}`, not a weight",
                            path.display(),
                            row + 1,
                            v.as_deref().unwrap_or("null")
                        )
                    })
            })
            .collect::<Result<Vec<f64>>>()?;
        weights.push((domain.to_string(), values));
    }
    if weights.is_empty() {
        bail!(
            "{} has no weight columns (w_<domain> or train_<domain>); its columns are: {}",
            path.display(),
            header.join(", ")
        );
    }
    Ok(MixtureFile {
        id,
        weights,
        frozen,
    })
}

fn is_parquet(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(std::io::Read::read_exact(&mut file, &mut magic).is_ok() && &magic == b"PAR1")
}

/// A header and, per column, its cells as text.
type TextColumns = (Vec<String>, Vec<Vec<Option<String>>>);

fn read_parquet_columns(path: &Path) -> Result<(TextColumns, Option<FrozenBlock>)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path)?)
        .map_err(|e| anyhow!("{} is not a readable Parquet file ({e})", path.display()))?;
    let frozen = frozen_block_of(builder.metadata().file_metadata(), path)?;
    let reader = builder.build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let Some(first) = batches.first() else {
        bail!("{} holds no rows", path.display())
    };
    let batch = arrow::compute::concat_batches(&first.schema(), &batches)?;
    let header: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let columns = batch
        .columns()
        .iter()
        .map(|column| -> Result<Vec<Option<String>>> {
            if let Ok(floats) = cast(column, &DataType::Float64) {
                if floats.null_count() == column.null_count() {
                    let floats = floats.as_primitive::<Float64Type>();
                    if column.data_type().is_numeric() {
                        return Ok(floats.iter().map(|v| v.map(|v| v.to_string())).collect());
                    }
                }
            }
            let strings = cast(column, &DataType::Utf8)?;
            Ok(strings
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(String::from))
                .collect())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(((header, columns), frozen))
}
