//! `remix predict`: score mixtures with a fitted model.
//!
//! Input: a remix mixtures or runs table (Parquet or CSV, `w_<domain>` columns) or a RegMix mixture
//! CSV (`train_<domain>` columns, optional `index`). Output: a CSV with the input's identifying
//! column (`index`, else `run_id`, else `mixture_id`) when it has one, then `prediction`, rows in
//! input order. Each row's weights are divided by their sum (they are proportions). A model domain
//! missing from the input is an error that lists them; a domain the
//! model does not know is an error unless extra domains are allowed.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::fit::read_model;
use crate::runs::regmix::read_csv;
use crate::workdir::write_atomic_with;

/// Columns that identify a row, in order of preference.
const ID_COLUMNS: [&str; 3] = ["index", "run_id", "mixture_id"];

/// Mixtures read from a file: an optional id column and, per weight column, the domain and values.
pub struct MixtureFile {
    pub id: Option<(String, Vec<String>)>,
    pub weights: Vec<(String, Vec<f64>)>,
}

/// Reads mixtures from Parquet or CSV.
pub fn read_mixtures(path: &Path) -> Result<MixtureFile> {
    let (header, columns): TextColumns = if is_parquet(path)? {
        read_parquet_columns(path)?
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
    Ok(MixtureFile { id, weights })
}

fn is_parquet(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(std::io::Read::read_exact(&mut file, &mut magic).is_ok() && &magic == b"PAR1")
}

/// A header and, per column, its cells as text.
type TextColumns = (Vec<String>, Vec<Vec<Option<String>>>);

fn read_parquet_columns(path: &Path) -> Result<TextColumns> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path)?)
        .map_err(|e| anyhow!("{} is not a readable Parquet file ({e})", path.display()))?
        .build()?;
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
    Ok((header, columns))
}

/// Scores the mixtures in `input` with the model at `model_path` and writes `output` (CSV).
/// Returns the number of rows scored.
pub fn run(model_path: &Path, input: &Path, output: &Path, ignore_extra: bool) -> Result<usize> {
    let model = read_model(model_path)?;
    let file = read_mixtures(input)?;
    let missing: Vec<&str> = model
        .domains
        .iter()
        .filter(|d| !file.weights.iter().any(|(w, _)| w == *d))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks weights for {} domain(s) the model was fitted on: {}",
            input.display(),
            missing.len(),
            missing.join(", ")
        );
    }
    let extra: Vec<&str> = file
        .weights
        .iter()
        .map(|(d, _)| d.as_str())
        .filter(|d| !model.domains.iter().any(|m| m == d))
        .collect();
    if !extra.is_empty() && !ignore_extra {
        bail!(
            "{} has weights for domain(s) the model does not know: {}. Pass --ignore-extra to score without them.",
            input.display(),
            extra.join(", ")
        );
    }
    let rows = file.weights[0].1.len();
    let x: Vec<Vec<f64>> = (0..rows)
        .map(|r| {
            model
                .domains
                .iter()
                .map(|d| {
                    file.weights
                        .iter()
                        .find(|(w, _)| w == d)
                        .map_or(0.0, |(_, v)| v[r])
                })
                .collect()
        })
        .collect();
    // Weights are proportions, as in the runs table the model was fitted on: each row is divided by its
    // sum, so published weights rounded to a few decimals score as the mixtures they stand for.
    let mut x = x;
    for (r, row) in x.iter_mut().enumerate() {
        let sum: f64 = row.iter().sum();
        if sum.is_nan() || sum <= 0.0 {
            bail!(
                "{} row {}: the weights of the model's domains sum to {sum}; a mixture needs a positive sum",
                input.display(),
                r + 1
            );
        }
        row.iter_mut().for_each(|w| *w /= sum);
    }
    let predictions = model.model.predict(&x);
    write_atomic_with(output, |out| {
        let mut out = std::io::BufWriter::new(out);
        match &file.id {
            Some((name, _)) => writeln!(out, "{name},prediction")?,
            None => writeln!(out, "prediction")?,
        }
        for (r, p) in predictions.iter().enumerate() {
            match &file.id {
                Some((_, ids)) => writeln!(out, "{},{p}", csv_cell(&ids[r]))?,
                None => writeln!(out, "{p}")?,
            }
        }
        out.flush()?;
        Ok(())
    })?;
    Ok(rows)
}

fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}
