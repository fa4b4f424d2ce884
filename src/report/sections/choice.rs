//! The answer's sections: DoReMi's weights (`doremi/`), the manifests (`mixtures/`) and the validation at a
//! larger scale (`validate/`). Each returns `None` when its stage has not run.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Result;

use super::inputs::read_json;
use crate::doremi::DoremiWeights;
use crate::manifest::Manifest;
use crate::report::charts::{bars, lines};
use crate::report::html::{charts, section, table};
use crate::validate::ValidationReport;

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
        doremi.config.settings.eta,
        doremi.config.settings.smoothing
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

/// The manifests in `WORK/mixtures/`, by file name: every `*.json` there that is one (the exports'
/// JSON files beside them are not).
pub(super) fn manifests_in(work: &Path) -> Vec<Manifest> {
    let Ok(entries) = fs::read_dir(work.join("mixtures")) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| read_json::<Manifest>(path).ok().flatten())
        .collect()
}

pub fn manifests(work: &Path) -> Result<Option<String>> {
    let mut body = String::new();
    for manifest in manifests_in(work) {
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
            crate::report::html::escape(&manifest.name),
            crate::report::html::escape(&manifest.method.kind),
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
        body.push_str(&charts(&[crate::report::charts::points(
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
        let chart = crate::report::charts::points(
            "Holdout candidates",
            &pairs,
            &format!("target loss at {}", scales[0]),
            &format!("target loss at {}", scales[scales.len() - 1]),
        )?;
        body.push_str(&format!(
            "<h3>Proxy ladder</h3><p>Smallest scale whose ranking of the {} holdout candidates agrees with the \
             largest scale's at rho >= {}: <b>{}x</b>.</p>{}{}",
            ladder.candidates.len(),
            crate::validate::LADDER_AGREEMENT,
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
        report.target.label()
    );
    Ok(Some(section(
        "validate",
        "Validation at a larger scale",
        &note,
        &body,
    )))
}
