//! The manifest stage: the chosen weights (RegMix's optimum or DoReMi's) as `WORK/mixtures/<name>.json`,
//! with the validate stage's results in its evidence when that stage ran, and its exports for the
//! trainers `[manifest] exports` names.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::validate::Validate;
use crate::core::workdir::read_json;
use crate::data::tokens::TokensIndex;
use crate::doremi::DoremiWeights;
use crate::manifest;
use crate::manifest::WeightsFrom;
use crate::manifest::evidence::{ProxyLearning, Warning};
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::proxy::data::validation_sequences;
use crate::regmix::fit::FitReport;
use crate::regmix::simulate::Optimum;
use crate::report::learning::proxy_learning;
use crate::report::warnings;
use crate::validate::ValidationReport;

pub struct Manifest;

/// The manifest and its exports as they are on disk, the manifest first. Errors: an unreadable folder.
pub fn manifest_files(cx: &Context) -> Result<Vec<PathBuf>> {
    let dir = cx.path("mixtures");
    let prefix = format!("{}.", cx.config.manifest.name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                && *p != cx.manifest_path()
        })
        .collect();
    files.sort();
    files.insert(0, cx.manifest_path());
    Ok(files)
}

/// The signs that the manifest's answer is weak ([`warnings::warnings`]) and, when RegMix ran, how far the
/// proxies got on the target ([`proxy_learning`]), from the artifacts of the stages that ran. Errors:
/// an artifact of an enabled stage that cannot be read.
fn warnings(
    cx: &Context,
    manifest: &manifest::Manifest,
) -> Result<(Vec<Warning>, Option<ProxyLearning>)> {
    let config = cx.config;
    let (fit, optimum) = if config.regmix.is_some() && cx.removal_only()?.is_none() {
        let fit: FitReport = read_json(&cx.path("fit/report.json"), "the fit stage writes it")?;
        let optimum: Optimum =
            read_json(&cx.path("fit/optimum.json"), "the simulate stage writes it")?;
        (Some(fit), Some(optimum))
    } else {
        (None, None)
    };
    let doremi: Option<DoremiWeights> = match config.doremi {
        Some(_) => Some(read_json(
            &cx.path("doremi/weights.json"),
            "the doremi stage writes it",
        )?),
        None => None,
    };
    // The token index, read once: the target's scored tokens and its unigram entropy.
    let index = match &fit {
        Some(_) => Some(TokensIndex::read(&cx.tokens_dir())?),
        None => None,
    };
    let (learning, target_tokens) = match (&fit, &index) {
        (Some(fit), Some(index)) => (
            proxy_learning(fit, index),
            Some(target_tokens(cx, index, fit.config.target.domains())),
        ),
        _ => (None, None),
    };
    let warnings = warnings::warnings(&warnings::Evidence {
        manifest,
        max_epochs: config.manifest.max_epochs,
        fit: fit.as_ref(),
        optimum: optimum.as_ref(),
        chosen_by_regmix: config.weights_from()? == WeightsFrom::Regmix,
        target_tokens,
        doremi: doremi.as_ref(),
        learning: learning.as_ref(),
    });
    Ok((warnings, learning))
}

/// The tokens each run's target loss was scored on (its validation sequences, summed over the target
/// domains) and the target domains' held-out tokens, from the token index.
fn target_tokens(cx: &Context, index: &TokensIndex, target: &[String]) -> (u64, u64) {
    let proxy = &cx.config.proxy;
    let (mut scored, mut held_out) = (0, 0);
    for domain in index.domains.iter().filter(|d| target.contains(&d.domain)) {
        let sequences =
            validation_sequences(domain.val_tokens, proxy.context, proxy.train.val_sequences);
        scored += (sequences * proxy.context) as u64;
        held_out += domain.val_tokens;
    }
    (scored, held_out)
}

impl StageSpec for Manifest {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Manifest
    }

    fn enabled(&self, _config: &PipelineConfig) -> bool {
        true
    }

    /// The tokens, the stage whose weights it writes, and the validation of those weights.
    fn reads(&self, config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        let weights = match config.weights_from()? {
            WeightsFrom::Doremi => PipelineStage::Doremi,
            WeightsFrom::Regmix => PipelineStage::Simulate,
        };
        let mut reads = vec![PipelineStage::Tokenize, weights, PipelineStage::Validate];
        // Under reuse, the plan (and after only removals, the answer) comes from the sample stage.
        if config.reuse.is_some() {
            reads.insert(1, PipelineStage::Sample);
        }
        Ok(reads)
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.manifest_path()]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(json!({ "manifest": cx.config.manifest, "seed": cx.config.seed }))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        let mut manifest = cx.build_manifest()?;
        let removal_only = cx.removal_only()?.is_some();
        if let Some(plan) = cx.reuse_plan()? {
            manifest.method.evidence["reuse"] = json!({
                "from": plan.from,
                "from_sha256": plan.from_sha256,
                "from_name": plan.from_name,
                "changes": plan.changes,
                "reopened": plan.reopened,
                "frozen": plan.block,
                "searched": plan.free,
                "candidates": if removal_only { 0 } else { plan.candidates },
                "removal_only": removal_only,
            });
        }
        if Validate.enabled(cx.config) && !removal_only {
            let results = cx.path("validate/results.json");
            let report: ValidationReport =
                read_json(&results, "the validate stage writes it before the manifest")?;
            manifest.method.evidence["validation"] = report.manifest_evidence();
        }
        let (warnings, learning) = warnings(cx, &manifest)?;
        for w in &warnings {
            tracing::warn!("{} (what to do: {})", w.warning, w.todo);
        }
        manifest.method.evidence["warnings"] = serde_json::to_value(warnings)?;
        if let Some(learning) = learning {
            manifest.method.evidence["proxy_learning"] = serde_json::to_value(learning)?;
        }
        manifest::write(&manifest, &cx.manifest_path(), &cx.config.manifest.exports)?;
        Ok(())
    }
}
