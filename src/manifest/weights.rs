//! Reading the weights a manifest is built from.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Method;
use crate::doremi::DoremiWeights;
use crate::fit::FitReport;
use crate::simulate::Optimum;

/// Weights read from a file, with how they were chosen.
#[derive(Debug, Clone)]
pub struct WeightsSource {
    pub path: String,
    pub weights: BTreeMap<String, f64>,
    pub method: Method,
}

#[derive(Deserialize)]
struct DomainWeight {
    domain: String,
    weight: f64,
}

#[derive(Deserialize)]
struct DomainList {
    domains: Vec<DomainWeight>,
}

/// Reads `fit/optimum.json`, a `{"domains": [{"domain", "weight"}]}` file or a `{domain: weight}` object.
/// Weights must be finite, non-negative and sum to 1 within 1e-3; they are rescaled to sum to 1.
pub fn read_weights(path: &Path) -> Result<WeightsSource> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the weights file {shown}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{shown} is not JSON"))?;
    let (pairs, method) = if let Ok(optimum) = serde_json::from_value::<Optimum>(value.clone()) {
        let pairs = optimum
            .domains
            .iter()
            .map(|d| (d.domain.clone(), d.weight))
            .collect();
        (pairs, regmix_method(path, &optimum))
    } else if let Ok(doremi) = serde_json::from_value::<DoremiWeights>(value.clone()) {
        let pairs = doremi
            .domains
            .iter()
            .map(|d| (d.domain.clone(), d.weight))
            .collect();
        (pairs, doremi_method(&shown, &doremi))
    } else if let Ok(list) = serde_json::from_value::<DomainList>(value.clone()) {
        (
            list.domains
                .into_iter()
                .map(|d| (d.domain, d.weight))
                .collect(),
            given(&shown),
        )
    } else if let Ok(map) = serde_json::from_value::<BTreeMap<String, f64>>(value) {
        (map.into_iter().collect::<Vec<_>>(), given(&shown))
    } else {
        bail!(
            "{shown} holds no weights remix can read: give fit/optimum.json, {{\"domains\": [{{\"domain\": ..., \
             \"weight\": ...}}]}} or {{\"<domain>\": <weight>, ...}}"
        );
    };
    let mut weights = BTreeMap::new();
    for (domain, weight) in pairs {
        if !weight.is_finite() || weight < 0.0 {
            bail!(
                "{shown}: the weight of `{domain}` is {weight}; weights must be finite and non-negative"
            );
        }
        if weights.insert(domain.clone(), weight).is_some() {
            bail!("{shown}: the domain `{domain}` appears twice");
        }
    }
    let sum: f64 = weights.values().sum();
    if (sum - 1.0).abs() > 1e-3 {
        bail!("{shown}: the weights sum to {sum}, not 1; give weights that sum to 1");
    }
    weights.values_mut().for_each(|w| *w /= sum);
    Ok(WeightsSource {
        path: shown,
        weights,
        method,
    })
}

fn given(path: &str) -> Method {
    Method {
        kind: "given".into(),
        source: path.into(),
        evidence: Value::Null,
    }
}

/// DoReMi evidence: its settings, the reference, and each round's change and losses.
fn doremi_method(path: &str, weights: &DoremiWeights) -> Method {
    let rounds: Vec<Value> = weights
        .rounds
        .iter()
        .map(|r| {
            json!({
                "reference_weights": r.reference_weights,
                "change": r.change,
                "reference_losses": r.reference_losses,
                "proxy_losses": r.proxy_losses,
            })
        })
        .collect();
    Method {
        kind: "doremi".into(),
        source: path.into(),
        evidence: json!({
            "reference": weights.config.reference,
            "eta": weights.config.eta,
            "smoothing": weights.config.smoothing,
            "steps_per_round": weights.config.proxy.train.steps(weights.config.proxy.shape.context),
            "proxy": weights.config.proxy,
            "converged": weights.converged,
            "device": weights.device,
            "rounds": rounds,
        }),
    }
}

/// How many runs of the runs table at `path` trained on each device (its `device` column), e.g.
/// `{"cpu": 26}`; null when the table cannot be read.
fn proxy_devices(path: &Path) -> Value {
    let Ok(table) = crate::runs::read_runs(path) else {
        return Value::Null;
    };
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for run in &table.runs {
        let device = run.device.clone().unwrap_or_else(|| "unknown".into());
        *counts.entry(device).or_default() += 1;
    }
    json!(counts)
}

/// RegMix evidence: the optimum's predictions, and the fit's cross-validated scores when its report
/// sits beside the model.
fn regmix_method(path: &Path, optimum: &Optimum) -> Method {
    let report_path = Path::new(&optimum.model).with_file_name("report.json");
    let fit = std::fs::read(&report_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<FitReport>(&bytes).ok())
        .map(|report| {
            json!({
                "report": report_path.display().to_string(),
                "runs": report.runs,
                "proxy_devices": proxy_devices(Path::new(&report.runs_table)),
                "chosen": report.chosen,
                "regressors": report.regressors,
            })
        });
    Method {
        kind: "regmix".into(),
        source: path.display().to_string(),
        evidence: json!({
            "model": optimum.model,
            "target": optimum.target,
            "predicted_loss": optimum.predicted_loss,
            "predicted_loss_natural": optimum.predicted_loss_natural,
            "predicted_loss_uniform": optimum.predicted_loss_uniform,
            "feasible_candidates": optimum.feasible_candidates,
            "top_k": optimum.config.top_k,
            "simulate_seed": optimum.config.seed,
            "fit": fit,
        }),
    }
}
