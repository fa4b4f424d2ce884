//! Reading the weights a manifest is built from.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use super::document::Method;
use crate::core::workdir::read_json;
use crate::doremi::DoremiWeights;
use crate::regmix::fit::FitReport;
use crate::regmix::simulate::Optimum;
use crate::regmix::weights::read_weights_file;

/// Weights read from a file, with how they were chosen.
#[derive(Debug, Clone)]
pub struct WeightsSource {
    pub path: String,
    pub weights: BTreeMap<String, f64>,
    pub method: Method,
}

/// Reads `fit/optimum.json`, `doremi/weights.json`, a `{"domains": [{"domain", "weight"}]}` file or a
/// `{domain: weight}` object ([`read_weights_file`]), with how its weights were chosen: RegMix's evidence
/// for an optimum, DoReMi's for DoReMi weights, `given` for any other file.
pub fn read_weights(path: &Path) -> Result<WeightsSource> {
    let shown = path.display().to_string();
    let (value, weights) = read_weights_file(path)?;
    // What the file says it is decides how it is read: an optimum (its `model` and `predicted_loss`) or
    // DoReMi's weights (`method: doremi`) that do not parse is an error, never weights "given".
    let is_optimum = value.get("model").is_some() && value.get("predicted_loss").is_some();
    let is_doremi = value.get("method").and_then(Value::as_str) == Some("doremi");
    let is_reuse = value.get("method").and_then(Value::as_str) == Some("reuse");
    let damaged = |what: &str, e: serde_json::Error| {
        anyhow::anyhow!(
            "{shown} looks like {what} but is not the file remix writes ({e}): from another version, or \
             edited; write it again with this remix"
        )
    };
    let method = if is_optimum {
        let optimum: Optimum =
            serde_json::from_value(value).map_err(|e| damaged("an optimum", e))?;
        regmix_method(path, &optimum)?
    } else if is_doremi {
        let doremi: DoremiWeights =
            serde_json::from_value(value).map_err(|e| damaged("DoReMi's weights", e))?;
        doremi_method(&shown, &doremi)
    } else if is_reuse {
        // Mixture reuse after domains were only removed: the old mixture renormalised.
        let mut evidence = value;
        if let Some(object) = evidence.as_object_mut() {
            object.remove("domains");
            object.remove("method");
        }
        Method {
            kind: "reuse".into(),
            source: shown.clone(),
            evidence,
        }
    } else {
        tracing::info!(weights = %shown, "neither an optimum nor DoReMi's weights: the method is `given`");
        given(&shown)
    };
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
            "reference": weights.config.settings.reference,
            "eta": weights.config.settings.eta,
            "smoothing": weights.config.settings.smoothing,
            "steps_per_round": weights.config.proxy.train.steps(weights.config.proxy.shape.context),
            "proxy": weights.config.proxy,
            "converged": weights.converged,
            "device": weights.device,
            "rounds": rounds,
        }),
    }
}

/// How many runs of the runs table at `path` trained on each device (its `device` column), e.g.
/// `{"cpu": 26}`; null when the table is not there (a fit copied without its runs). Errors: a table
/// that is there and cannot be read.
fn proxy_devices(path: &Path) -> Result<Value> {
    if !path.exists() {
        tracing::info!(runs = %path.display(), "the fit's runs table is not there: no proxy devices in the evidence");
        return Ok(Value::Null);
    }
    let table = crate::regmix::runs::read_runs(path)?;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for run in &table.runs {
        let device = run.device.clone().unwrap_or_else(|| "unknown".into());
        *counts.entry(device).or_default() += 1;
    }
    Ok(json!(counts))
}

/// RegMix evidence: the optimum's predictions, and the fit's cross-validated scores when its report
/// sits beside the model (a model copied alone has none, which is logged). Errors: a report or runs
/// table that is there and cannot be read.
fn regmix_method(path: &Path, optimum: &Optimum) -> Result<Method> {
    let report_path = Path::new(&optimum.model).with_file_name("report.json");
    let fit = if report_path.exists() {
        let report: FitReport = read_json(&report_path, "run remix fit again, or remove it")?;
        Some(json!({
            "report": report_path.display().to_string(),
            "runs": report.runs,
            "proxy_devices": proxy_devices(Path::new(&report.runs_table))?,
            "chosen": report.chosen,
            "regressors": report.regressors,
        }))
    } else {
        tracing::info!(report = %report_path.display(), "no fit report beside the model: no fit evidence in the manifest");
        None
    };
    Ok(Method {
        kind: "regmix".into(),
        source: path.display().to_string(),
        evidence: json!({
            "model": optimum.model,
            "target": optimum.target,
            "predicted_loss": optimum.predicted_loss,
            "predicted_loss_natural": optimum.predicted_loss_natural,
            "predicted_loss_uniform": optimum.predicted_loss_uniform,
            "predicted_loss_uncapped": optimum.predicted_loss_uncapped,
            "feasible_candidates": optimum.feasible_candidates,
            "top_k": optimum.config.top_k,
            "simulate_seed": optimum.config.seed,
            "fit": fit,
            "intervals": optimum.intervals,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that says it is an optimum or DoReMi's weights is read as one or refused; other weights
    /// are `given`.
    #[test]
    fn a_damaged_optimum_or_doremi_file_is_refused_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.json");
        let cases = [
            (
                json!({"model": "m.json", "predicted_loss": 1.0, "domains": [{"domain": "a", "weight": 1.0}]}),
                "an optimum",
            ),
            (
                json!({"method": "doremi", "domains": [{"domain": "a", "weight": 1.0}]}),
                "DoReMi's weights",
            ),
        ];
        for (value, what) in cases {
            std::fs::write(&path, value.to_string()).unwrap();
            let error = read_weights(&path).unwrap_err().to_string();
            assert!(error.contains(what) && error.contains("w.json"), "{error}");
        }
        std::fs::write(&path, json!({"a": 0.5, "b": 0.5}).to_string()).unwrap();
        assert_eq!(read_weights(&path).unwrap().method.kind, "given");
    }
    use crate::regmix::simulate::{OptimumDomain, SimulateConfig};

    /// A fit report beside the model is evidence, read or refused; none there is no evidence, said in
    /// the log, never a silent `null` for a file that is there but damaged.
    #[test]
    fn the_fit_report_is_evidence_when_there_and_an_error_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let optimum = Optimum {
            tool_version: "test".into(),
            model: dir.path().join("model.json").display().to_string(),
            target: crate::regmix::fit::Target::equal(vec!["speeches".into()]),
            config: SimulateConfig::default(),
            prior: "uniform".into(),
            domains: vec![OptimumDomain {
                domain: "web".into(),
                weight: 1.0,
                natural: None,
                cap: 1.0,
                uncapped: None,
            }],
            predicted_loss: 3.0,
            predicted_loss_natural: None,
            predicted_loss_uniform: 3.5,
            predicted_loss_uncapped: None,
            proposer: crate::regmix::simulate::Proposer::Sample,
            optimality_gap: None,
            predicted_loss_sampled: None,
            feasible_candidates: 10,
            intervals: None,
        };
        let path = dir.path().join("optimum.json");
        std::fs::write(&path, serde_json::to_vec(&optimum).unwrap()).unwrap();
        let source = read_weights(&path).unwrap();
        assert_eq!(source.method.kind, "regmix");
        assert!(source.method.evidence["fit"].is_null());
        std::fs::write(dir.path().join("report.json"), "{ damaged").unwrap();
        let error = format!("{:#}", read_weights(&path).unwrap_err());
        assert!(
            error.contains("report.json") && error.contains("run remix fit again"),
            "{error}"
        );
    }
}
