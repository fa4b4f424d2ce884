//! Reading and writing `runs.parquet`.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{
    ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::run::{FINISHED, Run, RunsTable};
use crate::core::workdir::write_atomic_with;
use crate::regmix::frozen::{frozen_block_entry, frozen_block_of};

/// The prefix of a loss's standard-error column (`se_<domain>`, beside `loss_<domain>`).
const LOSS_ERROR: &str = "se_";

/// Writes the table atomically (temporary file, then rename).
pub fn write_runs(table: &RunsTable, path: &Path) -> Result<()> {
    let runs = &table.runs;
    let text = |f: &dyn Fn(&Run) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(runs.iter().map(f)))
    };
    let mut columns: Vec<(String, ArrayRef)> = vec![
        ("run_id".into(), text(&|r| Some(r.run_id.clone()))),
        (
            "seed".into(),
            Arc::new(UInt64Array::from_iter(runs.iter().map(|r| r.seed))),
        ),
        (
            "proxy_config_hash".into(),
            text(&|r| r.proxy_config_hash.clone()),
        ),
    ];
    if runs.iter().any(|r| r.round.is_some()) {
        columns.push((
            "round".into(),
            Arc::new(UInt32Array::from_iter(runs.iter().map(|r| r.round))),
        ));
    }
    for (i, domain) in table.domains.iter().enumerate() {
        columns.push((
            format!("w_{domain}"),
            Arc::new(Float64Array::from_iter_values(
                runs.iter().map(|r| r.weights[i]),
            )),
        ));
    }
    columns.push((
        "tokens_trained".into(),
        Arc::new(UInt64Array::from_iter(
            runs.iter().map(|r| r.tokens_trained),
        )),
    ));
    columns.push((
        "wall_time_s".into(),
        Arc::new(Float64Array::from_iter(runs.iter().map(|r| r.wall_time_s))),
    ));
    columns.push(("device".into(), text(&|r| r.device.clone())));
    for (i, domain) in table.loss_domains.iter().enumerate() {
        columns.push((
            format!("loss_{domain}"),
            Arc::new(Float64Array::from_iter(runs.iter().map(|r| r.losses[i]))),
        ));
    }
    for (i, domain) in table.loss_domains.iter().enumerate() {
        columns.push((
            format!("{LOSS_ERROR}{domain}"),
            Arc::new(Float64Array::from_iter(
                runs.iter().map(|r| r.loss_errors[i]),
            )),
        ));
    }
    columns.push(("status".into(), text(&|r| Some(r.status.clone()))));
    let batch = RecordBatch::try_from_iter(columns)?;
    write_atomic_with(path, |file| {
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
        if let Some(block) = &table.frozen {
            writer.append_key_value_metadata(frozen_block_entry(block)?);
        }
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    })
}

/// Reads a runs table, checking its columns.
pub fn read_runs(path: &Path) -> Result<RunsTable> {
    let file = fs::File::open(path)
        .with_context(|| format!("cannot open the runs table {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        anyhow!(
            "{} is not a readable Parquet runs table ({e})",
            path.display()
        )
    })?;
    let frozen = frozen_block_of(builder.metadata().file_metadata(), path)?;
    let reader = builder.build()?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Some(first) = batches.first() else {
        bail!("the runs table {} holds no rows", path.display())
    };
    let batch = arrow::compute::concat_batches(&first.schema(), &batches)?;
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let column = |name: &str| batch.column_by_name(name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            anyhow!(
                "the runs table {} has no `{name}` column; its columns are: {}",
                path.display(),
                names.join(", ")
            )
        })
    };
    let strings = |array: &ArrayRef| -> Result<Vec<Option<String>>> {
        let array = cast(array, &DataType::Utf8)?;
        Ok(array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(String::from))
            .collect())
    };
    let floats = |name: &str, array: &ArrayRef| -> Result<Vec<Option<f64>>> {
        let array = cast(array, &DataType::Float64)
            .with_context(|| format!("column `{name}` is not numeric"))?;
        Ok(array.as_primitive::<Float64Type>().iter().collect())
    };
    let ints = |array: &ArrayRef| -> Result<Vec<Option<u64>>> {
        let array = cast(array, &DataType::UInt64)?;
        Ok(array.as_primitive::<UInt64Type>().iter().collect())
    };

    let domains: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix("w_"))
        .map(String::from)
        .collect();
    let loss_domains: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix("loss_"))
        .map(String::from)
        .collect();
    if domains.is_empty() {
        bail!(
            "the runs table {} has no weight columns (w_<domain>); its columns are: {}",
            path.display(),
            names.join(", ")
        );
    }
    let rows = batch.num_rows();
    let run_ids = strings(required("run_id")?)?;
    let optional_strings = |name: &str| {
        column(name)
            .map(strings)
            .transpose()
            .map(|v| v.unwrap_or_else(|| vec![None; rows]))
    };
    let weights = domains
        .iter()
        .map(|d| floats(&format!("w_{d}"), required(&format!("w_{d}"))?))
        .collect::<Result<Vec<_>>>()?;
    let losses = loss_domains
        .iter()
        .map(|d| floats(&format!("loss_{d}"), required(&format!("loss_{d}"))?))
        .collect::<Result<Vec<_>>>()?;
    // Optional: tables from before the column, and imported published runs, have none.
    let loss_errors = loss_domains
        .iter()
        .map(|d| {
            let name = format!("{LOSS_ERROR}{d}");
            column(&name)
                .map(|a| floats(&name, a))
                .transpose()
                .map(|v| v.unwrap_or_else(|| vec![None; rows]))
        })
        .collect::<Result<Vec<_>>>()?;
    let seeds = column("seed")
        .map(ints)
        .transpose()?
        .unwrap_or_else(|| vec![None; rows]);
    let rounds = match column("round").map(ints).transpose()? {
        Some(rounds) => rounds
            .into_iter()
            .map(|r| r.map(u32::try_from).transpose())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!(
                    "column `round` of {} holds a round past 2^32",
                    path.display()
                )
            })?,
        None => vec![None; rows],
    };
    let tokens = column("tokens_trained")
        .map(ints)
        .transpose()?
        .unwrap_or_else(|| vec![None; rows]);
    let wall = column("wall_time_s")
        .map(|a| floats("wall_time_s", a))
        .transpose()?
        .unwrap_or_else(|| vec![None; rows]);
    let (hashes, devices, status) = (
        optional_strings("proxy_config_hash")?,
        optional_strings("device")?,
        optional_strings("status")?,
    );

    let mut runs = Vec::with_capacity(rows);
    for row in 0..rows {
        let run_id = run_ids[row].clone().unwrap_or_else(|| format!("row-{row}"));
        let weights = weights
            .iter()
            .zip(&domains)
            .map(|(w, d)| {
                w[row].filter(|v| v.is_finite()).ok_or_else(|| {
                    anyhow!(
                        "run {run_id} (row {row}) of {} has no valid weight in column w_{d}",
                        path.display()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        runs.push(Run {
            run_id,
            seed: seeds[row],
            round: rounds[row],
            proxy_config_hash: hashes[row].clone(),
            weights,
            tokens_trained: tokens[row],
            wall_time_s: wall[row],
            device: devices[row].clone(),
            losses: losses.iter().map(|l| l[row]).collect(),
            loss_errors: loss_errors.iter().map(|l| l[row]).collect(),
            status: status[row].clone().unwrap_or_else(|| FINISHED.into()),
        });
    }
    Ok(RunsTable {
        domains,
        loss_domains,
        runs,
        frozen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let table = RunsTable {
            domains: vec!["web".into(), "code".into()],
            loss_domains: vec!["web".into()],
            runs: vec![Run {
                run_id: "r1".into(),
                seed: Some(7),
                round: None,
                proxy_config_hash: Some("abc".into()),
                weights: vec![0.25, 0.75],
                tokens_trained: Some(1000),
                wall_time_s: Some(1.5),
                device: Some("cpu".into()),
                losses: vec![Some(3.5)],
                loss_errors: vec![Some(0.02)],
                status: FINISHED.into(),
            }],
            frozen: Some(crate::regmix::frozen::FrozenBlock {
                domains: vec!["code".into()],
                ratios: vec![1.0],
            }),
        };
        let path = dir.path().join("runs.parquet");
        write_runs(&table, &path).unwrap();
        assert_eq!(read_runs(&path).unwrap(), table);
    }
}
