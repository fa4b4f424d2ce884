//! The search sections: the sampled candidates (`mixtures.parquet`), the proxy runs (`runs/`), the fit and
//! the optimum (`fit/`). Each returns `None` when its stage has not run.

use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use super::inputs::{read_json, read_parquet};
use crate::regmix::fit::{FitReport, read_model};
use crate::regmix::simulate::Optimum;
use crate::report::charts::{bars, bars_with_intervals, scatter};
use crate::report::html::{charts, section, table};

/// The values of weight column `c` of every batch as f64 (cast from any numeric type). Errors: a column
/// that is not numeric, or a null weight: the file is not what `remix sample` wrote.
fn weight_column(path: &Path, batches: &[RecordBatch], c: usize, name: &str) -> Result<Vec<f64>> {
    let mut values = Vec::new();
    for batch in batches {
        let column = batch.column(c);
        let floats = cast(column, &DataType::Float64)
            .ok()
            .filter(|f| f.null_count() == 0 && column.data_type().is_numeric())
            .with_context(|| {
                format!(
                    "{}: column {name} holds {} values or nulls, not weights: run the sample stage again",
                    path.display(),
                    column.data_type()
                )
            })?;
        values.extend_from_slice(floats.as_primitive::<Float64Type>().values());
    }
    Ok(values)
}

pub fn candidates(work: &Path) -> Result<Option<String>> {
    let path = work.join("mixtures.parquet");
    if !path.exists() {
        return Ok(None);
    }
    let batches = read_parquet(&path)?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    let mut rows = Vec::new();
    let (mut labels, mut natural, mut mean) = (Vec::new(), Vec::new(), Vec::new());
    let mut count = 0;
    for (c, field) in schema.fields().iter().enumerate() {
        let Some(domain) = field.name().strip_prefix("w_") else {
            continue;
        };
        let values = weight_column(&path, &batches, c, field.name())?;
        count = values.len();
        let sampled = &values[2.min(values.len())..];
        let avg = sampled.iter().sum::<f64>() / sampled.len().max(1) as f64;
        let (low, high) = sampled
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
        rows.push(vec![
            domain.to_string(),
            format!("{:.4}", values.first().copied().unwrap_or(0.0)),
            format!("{low:.4}"),
            format!("{avg:.4}"),
            format!("{high:.4}"),
        ]);
        labels.push(domain.to_string());
        natural.push(values.first().copied().unwrap_or(0.0));
        mean.push(avg);
    }
    let chart = bars(
        "Candidate weights",
        &labels,
        &[("natural", natural), ("mean of candidates", mean)],
        "weight",
    )?;
    let body = table(&["domain", "natural", "min", "mean", "max"], &rows) + &charts(&[chart]);
    Ok(Some(section(
        "candidates",
        "Candidate mixtures",
        &format!("{count} mixtures (natural, uniform and sampled)"),
        &body,
    )))
}

pub fn runs(work: &Path) -> Result<Option<String>> {
    let path = work.join("runs/runs.parquet");
    if !path.exists() {
        return Ok(None);
    }
    let table_data = crate::regmix::runs::read_runs(&path)?;
    let rows: Vec<Vec<String>> = table_data
        .loss_domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let losses: Vec<f64> = table_data.runs.iter().filter_map(|r| r.losses[i]).collect();
            let mean = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            let (low, high) = losses
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            vec![
                d.clone(),
                losses.len().to_string(),
                format!("{low:.4}"),
                format!("{mean:.4}"),
                format!("{high:.4}"),
            ]
        })
        .collect();
    let body = table(&["validation loss of", "runs", "min", "mean", "max"], &rows);
    let note = format!(
        "{} runs over {} training domains",
        table_data.runs.len(),
        table_data.domains.len()
    );
    Ok(Some(section("runs", "Proxy runs", &note, &body)))
}

/// The search in rounds (`runs/rounds/`, [`crate::regmix::rounds`]): per round its proxies and their
/// best measured target loss, and the optimum each later round centred on; `None` without rounds.
pub fn rounds(work: &Path) -> Result<Option<String>> {
    let proposals = crate::regmix::rounds::files::read_proposals(&work.join("runs/rounds"))?;
    let (Some(first), Some(optimum)) = (
        proposals.first(),
        read_json::<Optimum>(&work.join("fit/optimum.json"))?,
    ) else {
        return Ok(None);
    };
    let runs = crate::regmix::runs::read_runs(&work.join("runs/runs.parquet"))?;
    let samples = crate::regmix::fit::samples(&runs, &optimum.target)?;
    let round_of = |id: &str| {
        runs.runs
            .iter()
            .find(|r| r.run_id == id)
            .map_or(1, |r| r.round.unwrap_or(1))
    };
    let rows: Vec<Vec<String>> =
        (1..=proposals.len() as u32 + 1)
            .map(|round| {
                let losses: Vec<f64> = samples
                    .run_ids
                    .iter()
                    .zip(&samples.y)
                    .filter(|(id, _)| round_of(id) == round)
                    .map(|(_, &y)| y)
                    .collect();
                let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
                let proposal = proposals.iter().find(|p| p.round == round);
                vec![
                round.to_string(),
                losses.len().to_string(),
                if losses.is_empty() { "-".into() } else { format!("{best:.4}") },
                proposal.map_or("sampled from the prior".into(), |p| {
                    format!(
                        "around the optimum of {} runs ({}, predicted {:.4}), concentration {:.0}",
                        p.runs_fitted,
                        p.regressor.name(),
                        p.predicted_loss,
                        p.concentration
                    )
                }),
            ]
            })
            .collect();
    let names: Vec<String> = proposals
        .iter()
        .map(|p| format!("after round {}", p.round - 1))
        .chain(std::iter::once("final".to_string()))
        .collect();
    let mut series: Vec<(&str, Vec<f64>)> = proposals
        .iter()
        .zip(&names)
        .map(|(p, name)| (name.as_str(), p.optimum.clone()))
        .collect();
    series.push((
        names.last().map_or("final", String::as_str),
        optimum.domains.iter().map(|d| d.weight).collect(),
    ));
    let chart = bars(
        "The optimum over the rounds",
        &first.domains,
        &series,
        "weight",
    )?;
    let body = table(
        &[
            "round",
            "proxies",
            "best measured target loss",
            "candidates",
        ],
        &rows,
    ) + &charts(&[chart]);
    let note = format!(
        "{} rounds; each later round drew its candidates around the optimum of every run before it",
        proposals.len() + 1
    );
    Ok(Some(section("rounds", "Search rounds", &note, &body)))
}

pub fn fit(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<FitReport>(&work.join("fit/report.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = report
        .regressors
        .iter()
        .map(|r| {
            vec![
                r.regressor.name().to_string(),
                format!("{:.4}", r.spearman),
                format!("{:.4}", r.pearson),
                format!("{:.4}", r.mean_absolute_error),
                r.regret.map_or("-".into(), |g| format!("{g:.4}")),
            ]
        })
        .collect();
    let points: Vec<(f64, f64)> = report
        .out_of_fold
        .iter()
        .map(|o| (o.measured, o.predicted))
        .collect();
    let chart = scatter(
        "Cross-validated prediction",
        &points,
        "measured loss",
        "predicted loss",
    )?;
    let skipped: String = report
        .skipped
        .iter()
        .map(|s| format!("; {} skipped ({})", s.regressor.name(), s.reason))
        .collect();
    let note = format!(
        "{} runs; chosen regressor {} (best cross-validated {}); target {}{skipped}",
        report.runs,
        report.chosen.name(),
        match report.config.select {
            crate::regmix::fit::Selection::Spearman => "Spearman rho".to_string(),
            crate::regmix::fit::Selection::Regret => {
                let ties = if report.regret_tolerance > 0.0 {
                    format!(
                        "regrets within {:.4} nats, the target's standard error",
                        report.regret_tolerance
                    )
                } else {
                    "equal regrets (the runs table has no standard errors)".to_string()
                };
                format!(
                    "regret: the held-out run it predicts best is nearest the fold's best; {ties} are \
                     ties that go to the earlier regressor"
                )
            }
        },
        report.config.target.label()
    );
    let mut body = table(
        &["regressor", "Spearman rho", "Pearson r", "MAE", "regret"],
        &rows,
    ) + &charts(&[chart]);
    let model = work.join("fit/model.json");
    if model.exists() {
        let model = read_model(&model)?;
        body.push_str(&super::laws::law_table(
            &model.model,
            &report.domains,
            &model.target,
        ));
    }
    // RegMix's picture: per training domain, every proxy's weight on it against its target loss.
    let runs = work.join("runs/runs.parquet");
    if runs.exists() {
        let samples = crate::regmix::fit::samples(
            &crate::regmix::runs::read_runs(&runs)?,
            &report.config.target,
        )?;
        let per_domain = report
            .domains
            .iter()
            .enumerate()
            .map(|(d, domain)| {
                let pairs: Vec<(f64, f64)> = samples
                    .x
                    .iter()
                    .zip(&samples.y)
                    .map(|(weights, &loss)| (weights[d], loss))
                    .collect();
                crate::report::charts::points(domain, &pairs, "weight", "target loss")
            })
            .collect::<Result<Vec<_>>>()?;
        body.push_str(&format!(
            "<h3>Weight against target loss, per domain</h3><p>Each point is one proxy run: its weight on the \
             domain and its loss on {}.</p>{}",
            report.config.target.label(),
            charts(&per_domain)
        ));
    }
    Ok(Some(section("fit", "Regression fit", &note, &body)))
}

pub fn optimum(work: &Path) -> Result<Option<String>> {
    let Some(optimum) = read_json::<Optimum>(&work.join("fit/optimum.json"))? else {
        return Ok(None);
    };
    let labels: Vec<String> = optimum.domains.iter().map(|d| d.domain.clone()).collect();
    let uniform = 1.0 / labels.len().max(1) as f64;
    let mut series = vec![(
        "optimum",
        optimum.domains.iter().map(|d| d.weight).collect::<Vec<_>>(),
    )];
    if optimum.domains.iter().all(|d| d.natural.is_some()) {
        series.push((
            "natural",
            optimum
                .domains
                .iter()
                .map(|d| d.natural.unwrap_or(0.0))
                .collect(),
        ));
    }
    series.push(("uniform", vec![uniform; labels.len()]));
    // The whiskers: each weight's interval over resampled runs (crate::regmix::bootstrap).
    let intervals: Vec<(f64, f64)> = (optimum.intervals.iter())
        .flat_map(|i| i.domains.iter().map(|d| (d.low, d.high)))
        .collect();
    let chart = bars_with_intervals("Chosen weights", &labels, &series, "weight", &intervals)?;
    let weights: Vec<Vec<String>> = optimum
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                format!("{:.4}", d.weight),
                d.natural.map(|n| format!("{n:.4}")).unwrap_or("-".into()),
                format!("{uniform:.4}"),
                format!("{:.4}", d.cap),
                d.uncapped.map(|u| format!("{u:.4}")).unwrap_or("-".into()),
            ]
        })
        .collect();
    let mut rows = vec![
        vec!["optimum".into(), format!("{:.4}", optimum.predicted_loss)],
        vec![
            "natural".into(),
            optimum
                .predicted_loss_natural
                .map(|l| format!("{l:.4}"))
                .unwrap_or("-".into()),
        ],
        vec![
            "uniform".into(),
            format!("{:.4}", optimum.predicted_loss_uniform),
        ],
    ];
    if let Some(uncapped) = optimum.predicted_loss_uncapped {
        rows.push(vec!["uncapped".into(), format!("{uncapped:.4}")]);
    }
    let how = match optimum.proposer {
        crate::regmix::simulate::Proposer::Exact => format!(
            "the exact optimum of the fit (certified gap {:.1e})",
            optimum.optimality_gap.unwrap_or(f64::NAN)
        ),
        _ => format!(
            "mean of the best {} of {} feasible candidates",
            optimum.config.top_k, optimum.feasible_candidates
        ),
    };
    let note = format!("{how}; target {}", optimum.target.label());
    let body = table(&["mixture", "predicted loss"], &rows)
        + &charts(&[chart])
        + &table(
            &["domain", "optimum", "natural", "uniform", "cap", "uncapped"],
            &weights,
        );
    Ok(Some(section("optimum", "Chosen mixture", &note, &body)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float32Array, StringArray};
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn write(path: &Path, column: ArrayRef) {
        let batch = RecordBatch::try_from_iter([("w_web", column)]).unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// A weight column of another numeric type is cast; one of text is an error naming the column,
    /// never a panic on a file from disk.
    #[test]
    fn candidate_weights_are_cast_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixtures.parquet");
        write(&path, Arc::new(Float32Array::from(vec![0.5, 1.0])));
        assert!(candidates(dir.path()).unwrap().is_some());
        write(&path, Arc::new(StringArray::from(vec!["0.5", "1.0"])));
        let error = format!("{:#}", candidates(dir.path()).unwrap_err());
        assert!(error.contains("column w_web holds Utf8 values"), "{error}");
    }
}
