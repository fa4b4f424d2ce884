//! One function per report section; each returns `None` when its stage has not run.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::de::DeserializeOwned;

use super::charts::{bars, lines, log_histograms, scatter};
use super::html::{section, table};
use crate::dedup::DedupReport;
use crate::doremi::DoremiWeights;
use crate::fit::FitReport;
use crate::manifest::Manifest;
use crate::simulate::Optimum;
use crate::stats::StatsReport;
use crate::tokens::TokensIndex;
use crate::validate::ValidationReport;

/// Reads a JSON artifact, or `None` when the file is absent.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is not what remix wrote there: run its stage again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn charts(svgs: &[String]) -> String {
    format!("<div class=\"charts\">{}</div>", svgs.concat())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub fn stats(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<StatsReport>(&work.join("stats/stats.json"))? else {
        return Ok(None);
    };
    // In a pipeline, stats runs before tokenize: the training tokens come from the token index.
    let index = read_json::<TokensIndex>(&work.join("tokens/index.json"))?;
    let tokens_of = |domain: &str| {
        index
            .as_ref()
            .and_then(|i| i.domains.iter().find(|t| t.domain == domain))
            .map(|t| t.tokens)
    };
    let rows: Vec<Vec<String>> = report
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents.to_string(),
                format!("{:.2}", d.bytes as f64 / 1e6),
                pct(d.share_bytes),
                d.words.to_string(),
                format!("{:.0}", d.len_median),
                format!("{:.0}", d.len_p90),
                d.tokens
                    .or_else(|| tokens_of(&d.domain))
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                d.skipped.total().to_string(),
            ]
        })
        .collect();
    let labels: Vec<String> = report.domains.iter().map(|d| d.domain.clone()).collect();
    let chart = bars(
        "Share of the corpus (bytes)",
        &labels,
        &[(
            "bytes",
            report.domains.iter().map(|d| d.share_bytes).collect(),
        )],
        "share",
    )?;
    let body = table(
        &[
            "domain",
            "docs",
            "MB",
            "share",
            "words",
            "median bytes",
            "p90 bytes",
            "tokens",
            "skipped",
        ],
        &rows,
    ) + &charts(&[chart]);
    // Each domain's documents by length, as shares of the domain, on a log scale.
    let series: Vec<(&str, Vec<(f64, f64)>)> = report
        .domains
        .iter()
        .filter(|d| d.documents > 0 && !d.length_histogram.is_empty())
        .map(|d| {
            let bins = d
                .length_histogram
                .iter()
                .map(|b| {
                    (
                        (b.min_bytes as f64).log2(),
                        b.documents as f64 / d.documents as f64,
                    )
                })
                .collect();
            (d.domain.as_str(), bins)
        })
        .collect();
    let body = if series.is_empty() {
        body
    } else {
        body + &charts(&[log_histograms(
            "Document length per domain",
            &series,
            "document length (bytes, log scale)",
            "share of the domain's documents",
        )?])
    };
    Ok(Some(section(
        "stats",
        "Corpus statistics",
        &format!("{} rows in {} files", report.rows, report.files.len()),
        &body,
    )))
}

pub fn dedup(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<DedupReport>(&work.join("dedup/stats.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = report
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents_in.to_string(),
                d.kept.to_string(),
                d.dropped_exact.to_string(),
                d.dropped_near.to_string(),
                pct(if d.documents_in == 0 {
                    0.0
                } else {
                    1.0 - d.kept as f64 / d.documents_in as f64
                }),
            ]
        })
        .collect();
    let names: Vec<String> = report.domains.iter().map(|d| d.domain.clone()).collect();
    let mut matrix = Vec::new();
    for from in &names {
        let mut row = vec![from.clone()];
        for to in &names {
            let n: u64 = report
                .cross_domain
                .iter()
                .filter(|c| &c.dropped_from == from && &c.kept_in == to)
                .map(|c| c.documents)
                .sum();
            row.push(n.to_string());
        }
        matrix.push(row);
    }
    let mut header = vec!["dropped from \\ kept in"];
    header.extend(names.iter().map(String::as_str));
    let chart = bars(
        "Documents kept and dropped",
        &names,
        &[
            (
                "kept",
                report.domains.iter().map(|d| d.kept as f64).collect(),
            ),
            (
                "exact",
                report
                    .domains
                    .iter()
                    .map(|d| d.dropped_exact as f64)
                    .collect(),
            ),
            (
                "near",
                report
                    .domains
                    .iter()
                    .map(|d| d.dropped_near as f64)
                    .collect(),
            ),
        ],
        "documents",
    )?;
    let note = format!(
        "{} in, {} kept; {} candidate pairs{}; MinHash {}-grams, {} bands x {} rows",
        report.documents_in,
        report.kept,
        report.candidate_pairs,
        report
            .verified_pairs
            .map(|v| format!(", {v} verified"))
            .unwrap_or_default(),
        report.config.minhash.ngram,
        report.config.minhash.bands,
        report.config.minhash.rows
    );
    let body = table(&["domain", "in", "kept", "exact", "near", "dropped"], &rows)
        + "<h3>Cross-domain duplicates</h3>"
        + &table(&header, &matrix)
        + &charts(&[chart]);
    Ok(Some(section("dedup", "Deduplication", &note, &body)))
}

pub fn tokens(work: &Path) -> Result<Option<String>> {
    let Some(index) = read_json::<TokensIndex>(&work.join("tokens/index.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = index
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents.to_string(),
                d.tokens.to_string(),
                d.val_documents.to_string(),
                d.val_tokens.to_string(),
                if d.eval_only {
                    "evaluation only".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let labels: Vec<String> = index.domains.iter().map(|d| d.domain.clone()).collect();
    let chart = bars(
        "Tokens per domain",
        &labels,
        &[
            (
                "training",
                index.domains.iter().map(|d| d.tokens as f64).collect(),
            ),
            (
                "validation",
                index.domains.iter().map(|d| d.val_tokens as f64).collect(),
            ),
        ],
        "tokens",
    )?;
    let note = format!(
        "vocabulary {}, {} shards, end-of-document id {}",
        index.vocab_size, index.dtype, index.eod_id
    );
    let body = table(
        &["domain", "docs", "tokens", "val docs", "val tokens", ""],
        &rows,
    ) + &charts(&[chart]);
    Ok(Some(section("tokens", "Tokens", &note, &body)))
}

/// Reads every batch of a Parquet file.
fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not Parquet", path.display()))?
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
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
        let values: Vec<f64> = batches
            .iter()
            .flat_map(|b| b.column(c).as_primitive::<Float64Type>().values().to_vec())
            .collect();
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
    let table_data = crate::runs::read_runs(&path)?;
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

pub fn fit(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<FitReport>(&work.join("fit/report.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = report
        .regressors
        .iter()
        .map(|r| {
            vec![
                format!("{:?}", r.regressor).to_lowercase(),
                format!("{:.4}", r.spearman),
                format!("{:.4}", r.pearson),
                format!("{:.4}", r.mean_absolute_error),
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
    let note = format!(
        "{} runs; chosen regressor {} (best cross-validated Spearman rho); target {}",
        report.runs,
        report.chosen.name(),
        report.config.target.join(", ")
    );
    let mut body =
        table(&["regressor", "Spearman rho", "Pearson r", "MAE"], &rows) + &charts(&[chart]);
    // RegMix's picture: per training domain, every proxy's weight on it against its target loss.
    let runs = work.join("runs/runs.parquet");
    if runs.exists() {
        let samples = crate::fit::samples(&crate::runs::read_runs(&runs)?, &report.config.target)?;
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
                super::charts::points(domain, &pairs, "weight", "target loss")
            })
            .collect::<Result<Vec<_>>>()?;
        body.push_str(&format!(
            "<h3>Weight against target loss, per domain</h3><p>Each point is one proxy run: its weight on the \
             domain and its loss on {}.</p>{}",
            report.config.target.join(", "),
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
    let chart = bars("Chosen weights", &labels, &series, "weight")?;
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
            ]
        })
        .collect();
    let rows = vec![
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
    let note = format!(
        "mean of the best {} of {} feasible candidates; target {}",
        optimum.config.top_k,
        optimum.feasible_candidates,
        optimum.target.join(", ")
    );
    let body = table(&["mixture", "predicted loss"], &rows)
        + &charts(&[chart])
        + &table(
            &["domain", "optimum", "natural", "uniform", "cap"],
            &weights,
        );
    Ok(Some(section("optimum", "Chosen mixture", &note, &body)))
}

pub fn doremi(work: &Path) -> Result<Option<String>> {
    let Some(doremi) = read_json::<DoremiWeights>(&work.join("doremi/weights.json"))? else {
        return Ok(None);
    };
    let labels: Vec<String> = doremi.domains.iter().map(|d| d.domain.clone()).collect();
    let mut svgs = Vec::new();
    for (round, record) in doremi.rounds.iter().enumerate() {
        let series: Vec<(&str, Vec<f64>)> = labels
            .iter()
            .enumerate()
            .map(|(d, name)| {
                let ys = record
                    .trajectory
                    .iter()
                    .map(|step| step.get(d).copied().unwrap_or(f64::NAN))
                    .collect();
                (name.as_str(), ys)
            })
            .collect();
        let title = format!("Round {}: domain weights per step", round + 1);
        svgs.push(lines(&title, &series, "step", "weight")?);
    }
    let first_reference = doremi.rounds.first().map(|r| r.reference_weights.clone());
    let mut series = vec![(
        "DoReMi",
        doremi.domains.iter().map(|d| d.weight).collect::<Vec<_>>(),
    )];
    if let Some(reference) = &first_reference {
        series.push(("reference", reference.clone()));
    }
    svgs.push(bars("DoReMi weights", &labels, &series, "weight")?);
    let last = doremi.rounds.last();
    let rows: Vec<Vec<String>> = doremi
        .domains
        .iter()
        .enumerate()
        .map(|(d, w)| {
            let loss = |losses: Option<&BTreeMap<String, f64>>| {
                losses
                    .and_then(|l| l.get(&w.domain))
                    .map(|l| format!("{l:.4}"))
                    .unwrap_or("-".into())
            };
            vec![
                w.domain.clone(),
                format!("{:.4}", w.weight),
                first_reference
                    .as_ref()
                    .and_then(|r| r.get(d))
                    .map(|r| format!("{r:.4}"))
                    .unwrap_or("-".into()),
                loss(last.map(|r| &r.reference_losses)),
                loss(last.map(|r| &r.proxy_losses)),
            ]
        })
        .collect();
    let note = format!(
        "{} round(s), {}converged (tolerance {}); eta {}, smoothing {}",
        doremi.rounds.len(),
        if doremi.converged { "" } else { "not " },
        doremi.tolerance,
        doremi.config.eta,
        doremi.config.smoothing
    );
    let body = charts(&svgs)
        + &table(
            &[
                "domain",
                "weight",
                "first reference",
                "reference loss",
                "DoReMi proxy loss",
            ],
            &rows,
        );
    Ok(Some(section("doremi", "DoReMi", &note, &body)))
}

pub fn manifests(work: &Path) -> Result<Option<String>> {
    let Ok(entries) = fs::read_dir(work.join("mixtures")) else {
        return Ok(None);
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut body = String::new();
    for path in paths {
        let Some(manifest) = read_json::<Manifest>(&path).ok().flatten() else {
            continue;
        };
        let rows: Vec<Vec<String>> = manifest
            .domains
            .iter()
            .map(|d| {
                vec![
                    d.domain.clone(),
                    format!("{:.4}", d.weight),
                    d.tokens_requested.to_string(),
                    d.tokens_available.to_string(),
                    format!("{:.2}", d.epochs),
                ]
            })
            .collect();
        body.push_str(&format!(
            "<h3>{} ({}, {} tokens)</h3>",
            super::html::escape(&manifest.name),
            super::html::escape(&manifest.method.kind),
            manifest.train_tokens
        ));
        body.push_str(&table(
            &[
                "domain",
                "weight",
                "tokens requested",
                "tokens available",
                "epochs",
            ],
            &rows,
        ));
    }
    if body.is_empty() {
        return Ok(None);
    }
    Ok(Some(section("manifests", "Manifests", "", &body)))
}

pub fn validate(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<ValidationReport>(&work.join("validate/results.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.predicted_target_loss
                    .map(|p| format!("{p:.4}"))
                    .unwrap_or_default(),
                format!("{:.4}", r.target_loss),
            ]
        })
        .collect();
    let mut body = table(
        &[
            "mixture",
            "predicted by the fit (proxies)",
            "measured (validation model)",
        ],
        &rows,
    );
    if let Some(t) = &report.rank_transfer {
        let pairs: Vec<(f64, f64)> = report
            .results
            .iter()
            .filter_map(|r| r.predicted_target_loss.map(|p| (p, r.target_loss)))
            .collect();
        body.push_str(&charts(&[super::charts::points(
            "Rank transfer",
            &pairs,
            "predicted by the fit",
            "measured, validation model",
        )?]));
        body.push_str(&format!(
            "<p><b>Rank transfer</b>: Spearman rho {:.3} between the fit's predictions and the validation models' \
             target losses over {} mixtures (permutation p = {:.4}; bootstrap 95% interval {:.3} to {:.3}).</p>",
            t.rho, t.mixtures, t.p_value, t.interval[0], t.interval[1]
        ));
    }
    if let Some(b) = &report.chosen_beats {
        let word = |yes: bool| if yes { "beats" } else { "does not beat" };
        body.push_str(&format!(
            "<p>The chosen mixture {} the natural mixture and {} the uniform one at this scale.</p>",
            word(b.natural),
            word(b.uniform)
        ));
    }
    if let Some(ladder) = &report.ladder {
        let scales: Vec<String> = ladder.scales.iter().map(|s| format!("{s}x")).collect();
        let mut header = vec!["rho".to_string()];
        header.extend(scales.iter().cloned());
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = ladder
            .rho
            .iter()
            .zip(&scales)
            .map(|(row, s)| {
                std::iter::once(s.clone())
                    .chain(row.iter().map(|r| format!("{r:.3}")))
                    .collect()
            })
            .collect();
        // The smallest scale's losses against the largest's: a ranking that transfers is monotone.
        let (first, last) = (
            &ladder.target_losses[0],
            &ladder.target_losses[scales.len() - 1],
        );
        let pairs: Vec<(f64, f64)> = first.iter().copied().zip(last.iter().copied()).collect();
        let chart = super::charts::points(
            "Holdout candidates",
            &pairs,
            &format!("target loss at {}", scales[0]),
            &format!("target loss at {}", scales[scales.len() - 1]),
        )?;
        body.push_str(&format!(
            "<h3>Proxy ladder</h3><p>Smallest scale whose ranking of the {} holdout candidates agrees with the \
             largest scale's at rho >= {}: <b>{}x</b>.</p>{}{}",
            ladder.candidates.len(),
            crate::validate::stage::LADDER_AGREEMENT,
            ladder.recommended_scale,
            table(&header, &rows),
            charts(&[chart])
        ));
    }
    let note = format!(
        "{} mixtures, each on a model of {} non-embedding parameters ({}x the proxy) trained on {} tokens; target {}",
        report.results.len(),
        report.non_embedding_params,
        report.config.model_scale,
        report.train_tokens,
        report.target.join(", ")
    );
    Ok(Some(section(
        "validate",
        "Validation at a larger scale",
        &note,
        &body,
    )))
}
