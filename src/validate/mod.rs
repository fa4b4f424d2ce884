//! `remix validate`: does the chosen mixture beat the alternatives on a larger model?
//!
//! A mixture chosen with 1M-parameter proxies is only worth it if it still wins at a larger scale. For
//! each mixture (a manifest, any weights file, or the built-in `natural` and `uniform`) this trains one
//! model `model_scale` times the proxy's non-embedding parameters (width and feed-forward width times
//! the square root of the scale) on `model_scale` times its tokens, from the same seed and on the same
//! validation windows, and reports each model's validation loss per domain and on the target domains.
//! Writes `validate/results.json` ([`ValidationReport`]).
//!
//! In a pipeline (`[validate]`, before the manifest) [`stage`] validates the chosen mixture, DoReMi's,
//! the natural and uniform ones and `holdout` candidates the fit never saw, and measures the rank
//! transfer (does the fit's ranking of mixtures hold at the larger scale?) and, with `ladder`, how the
//! ranking changes with scale.

mod report;
pub mod stage;

pub use report::{
    ChosenBeats, LADDER_AGREEMENT, Ladder, MixtureResult, RankTransfer, ValidateConfig,
    ValidationReport,
};

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use burn::prelude::Device;

use crate::core::progress::Progress;
use crate::core::workdir::write_json;
use crate::data::tokens::TokensIndex;
use crate::proxy::data::{MixtureSampler, validation_sets};
use crate::proxy::model::ProxyShape;
use crate::proxy::train::train_proxies;
use crate::regmix::fit::Target;

/// The proxy scaled by `scale` in non-embedding parameters: width and feed-forward width grow by
/// `sqrt(scale)`, the width rounded to a multiple of twice the heads (even head widths for rotary).
pub fn scaled_shape(base: &ProxyShape, scale: f64) -> ProxyShape {
    let factor = scale.max(0.0).sqrt();
    let step = 2 * base.heads.max(1);
    let d_model = ((base.d_model as f64 * factor / step as f64).round() as usize).max(1) * step;
    let ffn_hidden = ((base.ffn_hidden as f64 * factor).round() as usize).max(1);
    ProxyShape {
        d_model,
        ffn_hidden,
        ..base.clone()
    }
}

/// Reads a mixture: `natural`, `uniform` or a weights file (manifest, optimum, DoReMi weights, ...).
pub fn mixture(spec: &str, index: &TokensIndex) -> Result<(String, Vec<f64>)> {
    let training: Vec<_> = index.training_domains().collect();
    match spec {
        "natural" => Ok(("natural".into(), index.natural_weights())),
        "uniform" => Ok((
            "uniform".into(),
            vec![1.0 / training.len().max(1) as f64; training.len()],
        )),
        path => {
            let path = Path::new(path);
            let source = crate::manifest::read_weights(path)?;
            let names: Vec<&str> = training.iter().map(|d| d.domain.as_str()).collect();
            let unknown: Vec<&str> = source
                .weights
                .keys()
                .map(String::as_str)
                .filter(|k| !names.contains(k))
                .collect();
            if !unknown.is_empty() {
                bail!(
                    "{} weighs domains the tokens index has no training shards for: {} (training domains: {})",
                    path.display(),
                    unknown.join(", "),
                    names.join(", ")
                );
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            let weights = names
                .iter()
                .map(|n| source.weights.get(*n).copied().unwrap_or(0.0))
                .collect();
            Ok((name, weights))
        }
    }
}

/// One mixture to validate: its name, where it came from, and its weights per training domain.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub source: String,
    pub weights: Vec<f64>,
}

/// The target: `config.target`, or the evaluation-only domains of `index` weighed equally.
pub fn target_of(index: &TokensIndex, config: &ValidateConfig) -> Result<Target> {
    if !config.target.is_empty() {
        return Ok(config.target.clone());
    }
    let eval: Vec<String> = index
        .domains
        .iter()
        .filter(|d| d.eval_only)
        .map(|d| d.domain.clone())
        .collect();
    if eval.is_empty() {
        bail!(
            "no --target given and the tokens index has no evaluation-only domain: name the target domain(s)"
        );
    }
    Ok(Target::equal(eval))
}

/// A scale-up of the proxy: the model `model_scale` times its non-embedding parameters, trained on
/// `token_scale` (default `model_scale`) times its tokens.
pub struct Trained {
    pub shape: ProxyShape,
    pub train_tokens: u64,
    pub results: Vec<MixtureResult>,
}

/// Trains one scaled-up model per candidate, in one stack (the same result as one after another,
/// faster), from the same seed and on the same validation windows.
pub fn train_candidates(
    tokens_dir: &Path,
    index: &TokensIndex,
    candidates: Vec<Candidate>,
    config: &ValidateConfig,
    target: &Target,
    device: &Device,
    quiet: bool,
) -> Result<Trained> {
    for (what, scale) in [
        ("--model-scale", Some(config.model_scale)),
        ("token_scale", config.token_scale),
    ] {
        if let Some(scale) = scale
            && !(scale.is_finite() && scale > 0.0)
        {
            bail!("{what} must be a positive number, not {scale}");
        }
    }
    let shape = scaled_shape(&config.proxy.shape, config.model_scale);
    shape.check()?;
    let mut train = config.proxy.train.clone();
    train.train_tokens = (train.train_tokens as f64
        * config.token_scale.unwrap_or(config.model_scale))
    .round() as u64;
    let validation = validation_sets(tokens_dir, index, shape.context, train.val_sequences)?;
    for t in target.domains() {
        if !validation.iter().any(|v| &v.domain == t) {
            bail!(
                "the target domain `{t}` has no validation sequences in {} (domains: {})",
                tokens_dir.display(),
                index
                    .domains
                    .iter()
                    .map(|d| d.domain.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let steps = train.steps(shape.context) as u64;
    let progress = Progress::new(steps, "steps", quiet);
    progress.set_message(format!(
        "{} mixtures at {}x, stacked",
        candidates.len(),
        config.model_scale
    ));
    let mut samplers = candidates
        .iter()
        .map(|c| {
            MixtureSampler::new(
                tokens_dir,
                index,
                &c.weights,
                shape.context,
                config.proxy.seed,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let trained = train_proxies(
        &shape,
        &train,
        &mut samplers,
        &validation,
        device,
        config.proxy.seed,
        |_, _, _| progress.inc(1),
    )?;
    progress.finish();
    let training_names: Vec<String> = index.training_names();
    let results = candidates
        .into_iter()
        .zip(trained.val_losses)
        .map(|(candidate, val_losses)| {
            let losses: BTreeMap<String, f64> =
                val_losses.into_iter().map(|(d, l)| (d, l.loss)).collect();
            let domain_losses: Vec<f64> = target
                .domains()
                .iter()
                .map(|t| losses.get(t).copied().unwrap_or(f64::NAN))
                .collect();
            let target_loss = target.combine(&domain_losses);
            tracing::info!(mixture = %candidate.name, target_loss, scale = config.model_scale, "validation model trained");
            MixtureResult {
                name: candidate.name,
                source: candidate.source,
                weights: training_names.iter().cloned().zip(candidate.weights).collect(),
                target_loss,
                predicted_target_loss: None,
                losses,
            }
        })
        .collect();
    Ok(Trained {
        shape,
        train_tokens: train.train_tokens,
        results,
    })
}

/// Trains one scaled-up model per mixture in `specs` and writes `out_dir/results.json`.
pub fn run(
    tokens_dir: &Path,
    specs: &[String],
    config: &ValidateConfig,
    out_dir: &Path,
    device: &Device,
    quiet: bool,
) -> Result<ValidationReport> {
    if specs.len() < 2 {
        bail!(
            "validation compares mixtures: give at least two (--mixture natural --mixture FILE ...)"
        );
    }
    let index = TokensIndex::read(tokens_dir)?;
    let target = target_of(&index, config)?;
    let candidates = specs
        .iter()
        .map(|s| {
            mixture(s, &index).map(|(name, weights)| Candidate {
                name,
                source: s.clone(),
                weights,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let trained = train_candidates(
        tokens_dir, &index, candidates, config, &target, device, quiet,
    )?;
    let report = ValidationReport {
        config: config.clone(),
        non_embedding_params: trained.shape.non_embedding_params(),
        shape: trained.shape,
        train_tokens: trained.train_tokens,
        target,
        results: trained.results,
        rank_transfer: None,
        chosen_beats: None,
        ladder: None,
    };
    write_json(&out_dir.join("results.json"), &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_by_four_quadruples_the_non_embedding_parameters() {
        let base = ProxyShape::regmix_1m(4096);
        let big = scaled_shape(&base, 4.0);
        assert_eq!((big.d_model, big.ffn_hidden), (512, 1024));
        let ratio = big.non_embedding_params() as f64 / base.non_embedding_params() as f64;
        assert!((ratio - 4.0).abs() < 0.01, "{ratio}");
        assert!(scaled_shape(&base, 2.0).check().is_ok());
    }
}
