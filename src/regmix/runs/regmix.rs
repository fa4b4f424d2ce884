//! Importing RegMix's published runs: a mixtures CSV (`index`, `train_<domain>` weights) and a losses
//! CSV (`index`, `metric/<domain>_val_loss`), joined on `index`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::run::{FINISHED, Run, RunsTable, WEIGHT_SUM_TOLERANCE};

/// A CSV as a header and rows of cells, with a message naming the file on failure.
pub(crate) fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("cannot read the header of {}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record =
            record.with_context(|| format!("{} line {}: not valid CSV", path.display(), i + 2))?;
        rows.push(record.iter().map(String::from).collect());
    }
    Ok((header, rows))
}

/// Digits after the decimal point in a number as written.
fn decimals(cell: &str) -> usize {
    cell.trim()
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

/// Reads the RegMix CSV pair into a runs table. Every problem (a run without a loss row, a missing
/// or non-numeric loss, weights that do not sum to 1, a duplicate index) is collected and reported
/// together with its row numbers (1 = the first data row). Weights are renormalised to sum to 1;
/// rows off by more than 1e-3, but within the rounding of their decimals, are named in a warning.
pub fn import(mixtures: &Path, losses: &Path) -> Result<RunsTable> {
    let (mix_header, mix_rows) = read_csv(mixtures)?;
    let (loss_header, loss_rows) = read_csv(losses)?;
    let index_of = |header: &[String], path: &Path| {
        header.iter().position(|h| h == "index").ok_or_else(|| {
            anyhow!(
                "{} has no `index` column; its columns are: {}",
                path.display(),
                header.join(", ")
            )
        })
    };
    let (mix_index, loss_index) = (
        index_of(&mix_header, mixtures)?,
        index_of(&loss_header, losses)?,
    );
    let weight_columns: Vec<(usize, String)> = mix_header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("train_").map(|d| (i, d.to_string())))
        .collect();
    let loss_columns: Vec<(usize, String)> = loss_header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.strip_prefix("metric/")?
                .strip_suffix("_val_loss")
                .map(|d| (i, d.to_string()))
        })
        .collect();
    if weight_columns.is_empty() {
        bail!(
            "{} has no `train_<domain>` weight columns; its columns are: {}",
            mixtures.display(),
            mix_header.join(", ")
        );
    }
    if loss_columns.is_empty() {
        bail!(
            "{} has no `metric/<domain>_val_loss` columns; its columns are: {}",
            losses.display(),
            loss_header.join(", ")
        );
    }

    let mut problems = Vec::new();
    let mut loss_by_index: BTreeMap<&str, (usize, &Vec<String>)> = BTreeMap::new();
    for (row, cells) in loss_rows.iter().enumerate() {
        if loss_by_index
            .insert(&cells[loss_index], (row + 1, cells))
            .is_some()
        {
            problems.push(format!(
                "{} row {}: duplicate index {}",
                losses.display(),
                row + 1,
                cells[loss_index]
            ));
        }
    }
    let mut seen = BTreeMap::new();
    let mut rounded = Vec::new();
    let mut runs = Vec::new();
    for (row, cells) in mix_rows.iter().enumerate() {
        let row = row + 1;
        let index = cells[mix_index].as_str();
        if let Some(first) = seen.insert(index, row) {
            problems.push(format!(
                "{} row {row}: duplicate index {index} (first at row {first})",
                mixtures.display()
            ));
            continue;
        }
        let mut weights = Vec::with_capacity(weight_columns.len());
        for (col, domain) in &weight_columns {
            match cells[*col].trim().parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => weights.push(w),
                _ => problems.push(format!(
                    "{} row {row} (index {index}): weight train_{domain} = `{}` is not a number >= 0",
                    mixtures.display(),
                    cells[*col]
                )),
            }
        }
        let sum: f64 = weights.iter().sum();
        let deviation = (sum - 1.0).abs();
        if weights.len() == weight_columns.len() && deviation > WEIGHT_SUM_TOLERANCE + 1e-12 {
            // RegMix publishes weights rounded to 3 decimals, so 17 of them may sum to 1 +- 0.0085:
            // that is rounding, renormalised with a warning. Beyond what rounding explains is an error.
            let decimals = weight_columns
                .iter()
                .map(|(c, _)| decimals(&cells[*c]))
                .max()
                .unwrap_or(0);
            let rounding = weight_columns.len() as f64 * 0.5 * 10f64.powi(-(decimals as i32));
            if deviation <= rounding + 1e-12 {
                rounded.push(row);
            } else {
                problems.push(format!(
                    "{} row {row} (index {index}): weights sum to {sum:.6}, not 1",
                    mixtures.display()
                ));
            }
        }
        weights.iter_mut().for_each(|w| *w /= sum);
        let Some((loss_row, loss_cells)) = loss_by_index.get(index) else {
            problems.push(format!(
                "{} row {row}: index {index} has no row in {}",
                mixtures.display(),
                losses.display()
            ));
            continue;
        };
        let mut run_losses = Vec::with_capacity(loss_columns.len());
        for (col, domain) in &loss_columns {
            match loss_cells[*col].trim().parse::<f64>() {
                Ok(l) if l.is_finite() => run_losses.push(Some(l)),
                _ => problems.push(format!(
                    "{} row {loss_row} (index {index}): loss metric/{domain}_val_loss = `{}` is missing or not a number",
                    losses.display(),
                    loss_cells[*col]
                )),
            }
        }
        runs.push(Run {
            run_id: format!("regmix-{index}"),
            seed: None,
            round: None,
            proxy_config_hash: None,
            weights,
            tokens_trained: None,
            wall_time_s: None,
            device: None,
            loss_errors: vec![None; run_losses.len()],
            losses: run_losses,
            status: FINISHED.into(),
        });
    }
    if !problems.is_empty() {
        let shown = problems.len().min(20);
        bail!(
            "cannot import the RegMix runs: {} problem(s); fix the rows below (or remove them) and run again:\n  {}{}",
            problems.len(),
            problems[..shown].join("\n  "),
            if problems.len() > shown {
                format!("\n  ... and {} more", problems.len() - shown)
            } else {
                String::new()
            }
        );
    }
    if !rounded.is_empty() {
        tracing::warn!(
            "{} row(s) of {} sum to 1 only within the rounding of their decimals; renormalised: rows {}",
            rounded.len(),
            mixtures.display(),
            rounded
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(RunsTable {
        domains: weight_columns.into_iter().map(|(_, d)| d).collect(),
        loss_domains: loss_columns.into_iter().map(|(_, d)| d).collect(),
        runs,
        frozen: None,
    })
}
