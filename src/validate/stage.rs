//! The validate stage of `remix run` (`[validate]`, before the manifest): do the proxies' rankings hold
//! at a larger scale?
//!
//! It trains one model `model_scale` times the proxy's non-embedding parameters (on `token_scale` times
//! its tokens) on each of: the chosen mixture (the manifest's), DoReMi's weights when that stage ran, the
//! natural and the uniform mixture, and `holdout` candidates drawn from the same prior as the proxies'
//! but with another seed, so the fit never saw them. Then:
//!
//! - **rank transfer**: Spearman's rho between the fit's predicted target loss and the larger models'
//!   measured target loss over every validated mixture, with a two-sided permutation p-value and a
//!   bootstrap 95% interval (n is small: a dozen mixtures);
//! - whether the chosen mixture's model beat the natural and the uniform mixtures';
//! - **the proxy ladder** (`ladder = [1, 4, 16]`): the holdout candidates trained at each scale, the
//!   pairwise rho between scales, and the smallest scale whose ranking agrees with the largest one's at
//!   rho >= 0.9: the proxy size this corpus needs (Olmix reports 1M-parameter proxies rank poorly and
//!   15M ones well).
//!
//! It runs before the manifest stage and validates the manifest that stage will write (built in memory
//! from the same weights and settings). Writes `validate/results.json` ([`super::report::ValidationReport`]) only;
//! the manifest stage folds it into the manifest's evidence (`method.evidence.validation`) before the
//! exports are written.

use std::path::Path;

use anyhow::{Context, Result};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::report::{
    ChosenBeats, LADDER_AGREEMENT, Ladder, RankTransfer, ValidateConfig, ValidationReport,
};
use super::{Candidate, mixture, target_of, train_candidates};
use crate::core::workdir::write_json;
use crate::data::tokens::TokensIndex;
use crate::manifest::Manifest;
use crate::proxy::device::ProxyDevice;
use crate::regmix::fit::Target;
use crate::regmix::fit::metrics::spearman;
use crate::regmix::sample::SampleConfig;
use crate::regmix::train::ProxyRunConfig;

/// The `[validate]` section of a pipeline config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ValidateSection {
    /// Non-embedding parameters of the validation models relative to the proxy. Default 4: big enough
    /// to test the ranking, small enough to train beside the proxies.
    pub model_scale: f64,
    /// Training tokens relative to the proxy's. Default: `model_scale`.
    pub token_scale: Option<f64>,
    /// Candidates drawn from the proxies' prior but never fitted on. Default 8: with the four named
    /// mixtures, a dozen points for the rank correlation.
    pub holdout: usize,
    /// Scales of the proxy ladder (each trains the holdout candidates), e.g. `[1, 4, 16]`. Default none.
    pub ladder: Vec<f64>,
    /// Domains whose (weighted) loss decides, as `[regmix.fit] target` gives them. Default: the fit's
    /// target.
    pub target: Target,
}

impl Default for ValidateSection {
    fn default() -> Self {
        Self {
            model_scale: 4.0,
            token_scale: None,
            holdout: 8,
            ladder: Vec::new(),
            target: Target::default(),
        }
    }
}

impl ValidateSection {
    /// The settings `validate/results.json` records for the proxy these mixtures were chosen with; an
    /// empty `target` becomes `fit_target` (the pipeline's `[regmix.fit] target`; `remix validate`
    /// passes none, which leaves the evaluation-only domains).
    pub fn config(&self, proxy: ProxyRunConfig, fit_target: &Target) -> ValidateConfig {
        ValidateConfig {
            proxy,
            model_scale: self.model_scale,
            token_scale: self.token_scale,
            target: if self.target.is_empty() {
                fit_target.clone()
            } else {
                self.target.clone()
            },
        }
    }
}

/// Where the stage reads and writes, and the manifest it validates.
pub struct StagePaths<'a> {
    pub tokens: &'a Path,
    pub fit_model: &'a Path,
    /// The manifest the manifest stage will write, built in memory.
    pub chosen: &'a Manifest,
    /// DoReMi's weights, when that stage ran.
    pub doremi: Option<&'a Path>,
    pub out_dir: &'a Path,
}

/// Runs the validate stage.
pub fn run(
    paths: &StagePaths,
    section: &ValidateSection,
    proxy: &ProxyRunConfig,
    sample: &SampleConfig,
    fit_target: &Target,
    device: &ProxyDevice,
    quiet: bool,
) -> Result<ValidationReport> {
    let index = TokensIndex::read(paths.tokens)?;
    let config = section.config(proxy.clone(), fit_target);
    let target = target_of(&index, &config)?;
    let model = crate::regmix::fit::read_model(paths.fit_model)?;

    let named = |name: &str, spec: &Path| -> Result<Candidate> {
        let (_, weights) = mixture(&spec.display().to_string(), &index)?;
        Ok(Candidate {
            name: name.into(),
            source: spec.display().to_string(),
            weights,
        })
    };
    let mut candidates = vec![chosen(paths.chosen, &index)?];
    if let Some(doremi) = paths.doremi {
        candidates.push(named("doremi", doremi)?);
    }
    for builtin in ["natural", "uniform"] {
        let (name, weights) = mixture(builtin, &index)?;
        candidates.push(Candidate {
            source: name.clone(),
            name,
            weights,
        });
    }
    let holdout = holdout_candidates(&index, sample, model.frozen.as_ref(), section.holdout)?;
    candidates.extend(holdout.iter().cloned());

    let trained = train_candidates(
        paths.tokens,
        &index,
        candidates,
        &config,
        &target,
        &device.device,
        quiet,
    )?;
    let mut results = trained.results;
    for result in &mut results {
        let row: Vec<f64> = model
            .domains
            .iter()
            .map(|d| result.weights.get(d).copied().unwrap_or(0.0))
            .collect();
        result.predicted_target_loss = model.predict(&[row])?.first().copied();
    }
    let predicted: Vec<f64> = results
        .iter()
        .filter_map(|r| r.predicted_target_loss)
        .collect();
    let measured: Vec<f64> = results.iter().map(|r| r.target_loss).collect();
    // Undefined when either side is constant (every prediction equal): then there is none to report.
    let rank_transfer = Some(rank_transfer(&predicted, &measured, proxy.seed))
        .filter(|t| t.rho.is_finite() && t.interval.iter().all(|x| x.is_finite()));
    if rank_transfer.is_none() {
        tracing::warn!(
            "no rank transfer: the fit predicts the same loss for every validated mixture, or the validation \
             models measured the same loss for all"
        );
    }
    let loss_of = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.target_loss)
    };
    let chosen = loss_of("chosen").unwrap_or(f64::NAN);
    let chosen_beats = ChosenBeats {
        natural: loss_of("natural").is_some_and(|l| chosen < l),
        uniform: loss_of("uniform").is_some_and(|l| chosen < l),
    };

    let ladder = if section.ladder.is_empty() {
        None
    } else {
        Some(ladder(
            paths.tokens,
            &index,
            &config,
            &section.ladder,
            &holdout,
            &target,
            device,
            quiet,
        )?)
    };
    let report = ValidationReport {
        config,
        non_embedding_params: trained.shape.non_embedding_params(),
        shape: trained.shape,
        train_tokens: trained.train_tokens,
        target,
        results,
        rank_transfer,
        chosen_beats: Some(chosen_beats),
        ladder,
    };
    write_json(&paths.out_dir.join("results.json"), &report)?;
    Ok(report)
}

/// The manifest's mixture, in the index's training-domain order; its source is the weights file the
/// manifest is built from. Errors: a manifest that does not weigh exactly the training domains.
fn chosen(manifest: &Manifest, index: &TokensIndex) -> Result<Candidate> {
    let weights = index
        .training_domains()
        .map(|d| {
            manifest
                .domains
                .iter()
                .find(|m| m.domain == d.domain)
                .map(|m| m.weight)
                .with_context(|| {
                    format!(
                        "the manifest has no weight for training domain `{}`",
                        d.domain
                    )
                })
        })
        .collect::<Result<_>>()?;
    Ok(Candidate {
        name: "chosen".into(),
        source: manifest.method.source.clone(),
        weights,
    })
}

/// `count` candidates from the proxies' prior and caps, drawn with another seed than theirs. Under
/// mixture reuse (`frozen`, the fit's block) from the reuse search's reduced prior, so that, like the
/// proxies, they keep the block's proportions and the fit predicts them where it was fitted.
fn holdout_candidates(
    index: &TokensIndex,
    sample: &SampleConfig,
    frozen: Option<&crate::regmix::frozen::FrozenBlock>,
    count: usize,
) -> Result<Vec<Candidate>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    // A seed of their own: the same prior and caps as the proxies' candidates, other draws.
    const HOLDOUT_SEED: u64 = 0x4011_D0D7;
    let config = SampleConfig {
        candidates: count,
        seed: sample.seed ^ HOLDOUT_SEED,
        ..sample.clone()
    };
    // The first rows are the natural and uniform mixtures (validated by name) and, under reuse, the
    // old mixture. Holdouts are draws as they come: a spread selection would pick the same vertices
    // and edges as the proxies' candidates, whatever the seed.
    let (drawn, fixed) = match frozen {
        Some(block) => (
            crate::regmix::sample::sample_reused(index, &config, block, false)?,
            crate::regmix::sample::FIXED_ROWS_REUSED,
        ),
        None => (crate::regmix::sample::sample(index, &config)?, 2),
    };
    Ok(drawn
        .rows
        .into_iter()
        .skip(fixed)
        .enumerate()
        .map(|(i, (_, weights))| Candidate {
            name: format!("holdout-{}", i + 1),
            source: "prior".into(),
            weights,
        })
        .collect())
}

/// Spearman's rho with a permutation p-value and a bootstrap interval, all seeded.
pub fn rank_transfer(predicted: &[f64], measured: &[f64], seed: u64) -> RankTransfer {
    let n = predicted.len().min(measured.len());
    let (predicted, measured) = (&predicted[..n], &measured[..n]);
    let rho = spearman(predicted, measured);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut shuffled = measured.to_vec();
    const PERMUTATIONS: usize = 10_000;
    let extreme = (0..PERMUTATIONS)
        .filter(|_| {
            shuffled.shuffle(&mut rng);
            spearman(predicted, &shuffled).abs() >= rho.abs() - 1e-12
        })
        .count();
    let mut rhos: Vec<f64> = (0..2000)
        .filter_map(|_| {
            let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..n.max(1))).collect();
            let a: Vec<f64> = picks.iter().map(|&i| predicted[i]).collect();
            let b: Vec<f64> = picks.iter().map(|&i| measured[i]).collect();
            let r = spearman(&a, &b);
            r.is_finite().then_some(r)
        })
        .collect();
    rhos.sort_by(f64::total_cmp);
    let at = |q: f64| {
        rhos.get(((rhos.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    RankTransfer {
        rho,
        p_value: (extreme + 1) as f64 / (PERMUTATIONS + 1) as f64,
        interval: [at(0.025), at(0.975)],
        mixtures: n,
    }
}

#[allow(clippy::too_many_arguments)]
fn ladder(
    tokens: &Path,
    index: &TokensIndex,
    config: &ValidateConfig,
    scales: &[f64],
    holdout: &[Candidate],
    target: &Target,
    device: &ProxyDevice,
    quiet: bool,
) -> Result<Ladder> {
    let mut scales = scales.to_vec();
    scales.sort_by(f64::total_cmp);
    scales.dedup();
    let mut target_losses = Vec::new();
    for &scale in &scales {
        let at_scale = ValidateConfig {
            model_scale: scale,
            token_scale: Some(scale),
            ..config.clone()
        };
        let trained = train_candidates(
            tokens,
            index,
            holdout.to_vec(),
            &at_scale,
            target,
            &device.device,
            quiet,
        )?;
        target_losses.push(
            trained
                .results
                .iter()
                .map(|r| r.target_loss)
                .collect::<Vec<_>>(),
        );
    }
    let rho: Vec<Vec<f64>> = target_losses
        .iter()
        .map(|a| target_losses.iter().map(|b| spearman(a, b)).collect())
        .collect();
    let last = scales.len() - 1;
    let recommended = (0..scales.len())
        .find(|&s| rho[s][last] >= LADDER_AGREEMENT)
        .unwrap_or(last);
    Ok(Ladder {
        recommended_scale: scales[recommended],
        scales,
        candidates: holdout.iter().map(|c| c.name.clone()).collect(),
        target_losses,
        rho,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_transfer_of_a_perfect_and_a_reversed_ranking() {
        let predicted: Vec<f64> = (0..12).map(f64::from).collect();
        let same: Vec<f64> = predicted.iter().map(|p| p * 2.0 + 1.0).collect();
        let perfect = rank_transfer(&predicted, &same, 0);
        assert_eq!(perfect.rho, 1.0);
        assert!(perfect.p_value < 0.001, "{perfect:?}");
        assert_eq!(perfect.interval, [1.0, 1.0]);
        let reversed: Vec<f64> = predicted.iter().map(|p| -p).collect();
        assert_eq!(rank_transfer(&predicted, &reversed, 0).rho, -1.0);
        assert_eq!(perfect, rank_transfer(&predicted, &same, 0), "seeded");
    }
}
