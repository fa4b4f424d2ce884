//! `remix predict`: score mixtures with a fitted model.
//!
//! Input: a remix mixtures or runs table (Parquet or CSV, `w_<domain>` columns) or a RegMix mixture
//! CSV (`train_<domain>` columns, optional `index`). Output: a CSV with the input's identifying
//! column (`index`, else `run_id`, else `mixture_id`) when it has one, then `prediction`, rows in
//! input order. Each row's weights are divided by their sum (they are proportions). A model domain
//! missing from the input is an error that lists them; a domain the
//! model does not know is an error unless extra domains are allowed.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::core::workdir::write_atomic_with;
use crate::regmix::fit::read_model;
use crate::regmix::mixture_table::read_mixtures;

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
    let predictions = model.predict(&x)?;
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
