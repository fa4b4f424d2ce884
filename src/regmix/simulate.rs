//! `remix simulate`: search the mixture space with a fitted model (RegMix's final step).
//!
//! Draws `candidates` fresh mixtures from the Dirichlet prior ([`crate::regmix::mixture`]), drops those that
//! repeat a domain more than `max_epochs` times given its tokens and the planned training tokens,
//! scores the rest with the model, averages the `top_k` with the lowest predicted loss, and makes the
//! average obey every constraint (minimum weight, epoch caps, a sum of exactly 1), which RegMix's own
//! script does not do. The predicted loss of the optimum is reported beside the natural
//! (token-proportional) and uniform mixtures. Writes `optimum.json` ([`Optimum`]).
//!
//! Candidates are drawn in fixed chunks, each from its own generator seeded by (seed, chunk), so the
//! result depends on the seed and never on the number of threads.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::DEFAULT_SEED;
use crate::core::workdir::{read_json, write_json};
use crate::data::tokens::TokensIndex;
use crate::regmix::bootstrap::{DEFAULT_RESAMPLES, Intervals, Search, bootstrap};
use crate::regmix::fit::{FitModel, FitReport, Fitted, read_model};
use crate::regmix::mixture::{
    DEFAULT_MAX_EPOCHS, SamplingConfig, caps_for, draw, enforce, epoch_caps, prior, within_caps,
};
use crate::regmix::runs::read_runs;
use crate::regmix::solve::solve;

/// Candidates per chunk: one generator and one scoring batch each.
const CHUNK: usize = 16_384;

/// Settings of `remix simulate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SimulateConfig {
    /// Candidates drawn. RegMix scores 100,000+; the default 1,000,000 takes seconds.
    pub candidates: usize,
    /// Best candidates averaged. RegMix: 128, which smooths the regression's noise.
    pub top_k: usize,
    pub seed: u64,
    pub sampling: SamplingConfig,
    /// Most times a domain may be repeated. 4: the usual limit before repetition hurts (RegMix used 15).
    pub max_epochs: f64,
    /// Tokens the real run will train on; with token counts, this sets the epoch caps.
    pub train_tokens: Option<u64>,
    /// How the optimum is found: `auto` (the default: exact for a mixing law, sample otherwise, as
    /// Olmix and RegMix do for their own regressors), `sample` (RegMix's mean of the best drawn
    /// candidates) or `exact` (the convex problem [`crate::regmix::solve`] solves, for linear models
    /// and mixing laws).
    pub proposer: Proposer,
    /// The exact proposer's pull toward the prior, `kl_reg * KL(w || prior)` added to the predicted
    /// loss (nats). Default [`DEFAULT_KL_REG`].
    pub kl_reg: f64,
    /// Resamples of the runs for the answer's intervals ([`crate::regmix::bootstrap`]): the fit and
    /// this search repeated on each; 0 for none. Read from the fit's report beside the model, which
    /// names the runs table. Default [`DEFAULT_RESAMPLES`].
    pub bootstrap: usize,
}

/// How `remix simulate` finds the optimum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Proposer {
    /// `exact` for a mixing law (log_linear, mixing_law, power_law), else `sample`.
    #[default]
    Auto,
    /// The convex problem, solved to a certified gap ([`crate::regmix::solve`]).
    Exact,
    /// RegMix's: the mean of the `top_k` best of `candidates` drawn mixtures.
    Sample,
}

/// The exact proposer's KL weight, in nats. On the known-mixture benchmark (`bench/known_mix.sh`, 5 seeds,
/// the README's table) the power law's answer was L1 0.034 from the truth at 0, 0.033 at 0.01 and 0.043
/// at Olmix's 0.05 (the exponential mixing law's 0.204, 0.205, 0.210); a single law (log_linear) needs
/// the pull to leave a vertex. 0.01 costs the per-domain laws nothing measurable and keeps a one-law
/// answer inside the simplex.
pub const DEFAULT_KL_REG: f64 = 0.01;

impl Default for SimulateConfig {
    fn default() -> Self {
        Self {
            candidates: 1_000_000,
            top_k: 128,
            seed: DEFAULT_SEED,
            sampling: SamplingConfig::default(),
            max_epochs: DEFAULT_MAX_EPOCHS,
            train_tokens: None,
            proposer: Proposer::Auto,
            kl_reg: DEFAULT_KL_REG,
            bootstrap: DEFAULT_RESAMPLES,
        }
    }
}

/// One domain of the optimum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OptimumDomain {
    pub domain: String,
    pub weight: f64,
    /// Token-proportional weight, when token counts were given.
    pub natural: Option<f64>,
    /// The most weight the epoch cap allows (1 without token counts).
    pub cap: f64,
    /// The weight the same search gives it without epoch caps, when some cap is below 1: how far the
    /// caps moved the answer.
    pub uncapped: Option<f64>,
}

/// `optimum.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Optimum {
    pub tool_version: String,
    pub model: String,
    pub target: crate::regmix::fit::Target,
    pub config: SimulateConfig,
    /// Where the prior came from: `tokens` (token shares) or `uniform` (no token counts given).
    pub prior: String,
    pub domains: Vec<OptimumDomain>,
    /// Predicted target loss of the optimum, the natural mixture (with token counts) and the uniform one.
    pub predicted_loss: f64,
    pub predicted_loss_natural: Option<f64>,
    pub predicted_loss_uniform: f64,
    /// Predicted target loss of the uncapped answer, when some cap is below 1.
    pub predicted_loss_uncapped: Option<f64>,
    /// The proposer that found the optimum (`exact` or `sample`).
    pub proposer: Proposer,
    /// The exact proposer's certified gap: the objective at the optimum (before the minimum weight)
    /// is at most this above its minimum.
    pub optimality_gap: Option<f64>,
    /// With the exact proposer: the predicted target loss of the sampling proposer's answer on the
    /// same fit, for comparison.
    pub predicted_loss_sampled: Option<f64>,
    /// Candidates that obeyed the constraints and were scored.
    pub feasible_candidates: usize,
    /// How sure the answer is: each weight's interval over the search repeated on resampled runs, and
    /// how often the chosen mixture beats natural and the best run ([`crate::regmix::bootstrap`]).
    /// Absent with `bootstrap = 0` or without the fit's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Intervals>,
}

/// Reads the model at `model_path` and the token counts of its domains from the token index at
/// `tokens` (without one: no caps, a uniform prior), finds the [`optimum`] and writes it to `output`.
pub fn run(
    model_path: &Path,
    tokens: Option<&Path>,
    config: &SimulateConfig,
    output: &Path,
) -> Result<Optimum> {
    let model = read_model(model_path)?;
    let counts = match tokens {
        None => None,
        Some(path) => Some(
            domain_tokens(&TokensIndex::read(path)?, &model.domains)
                .map_err(|e| anyhow::anyhow!("the token index {} {e}", path.display()))?,
        ),
    };
    let mut result = optimum(
        &model,
        &model_path.display().to_string(),
        counts.as_deref(),
        config,
    )?;
    if config.bootstrap > 0 {
        let report_path = model_path.with_file_name("report.json");
        if report_path.is_file() {
            let report: FitReport =
                read_json(&report_path, "`remix fit` writes it beside the model")?;
            let table = read_runs(Path::new(&report.runs_table)).with_context(|| {
                format!(
                    "the fit report {} names this runs table",
                    report_path.display()
                )
            })?;
            let weights = |o: &Optimum| o.domains.iter().map(|d| d.weight).collect::<Vec<_>>();
            let chosen = weights(&result);
            let natural: Option<Vec<f64>> = result.domains.iter().map(|d| d.natural).collect();
            let caps: Vec<f64> = result.domains.iter().map(|d| d.cap).collect();
            let search = Search {
                model: &model,
                chosen: &chosen,
                natural: natural.as_deref(),
                caps: &caps,
                find: |m: &FitModel| {
                    Ok(weights(&optimum(
                        m,
                        "bootstrap",
                        counts.as_deref(),
                        config,
                    )?))
                },
                resamples: config.bootstrap,
                seed: config.seed,
            };
            result.intervals = bootstrap(&table, &report, &search)
                .context("the answer's intervals (set --bootstrap 0 to go without)")?;
        } else {
            tracing::warn!(
                "no fit report beside {}: the answer has no intervals (the bootstrap resamples the runs it names)",
                model_path.display()
            );
        }
    }
    write_json(output, &result)?;
    Ok(result)
}

/// The training tokens of each of `domains` in `index`. Errors ("has no training tokens for: ..."): a
/// domain without training tokens there.
pub fn domain_tokens(index: &TokensIndex, domains: &[String]) -> Result<Vec<u64>> {
    let missing: Vec<&str> = domains
        .iter()
        .filter(|d| index.training_tokens(d).is_none())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!("has no training tokens for: {}", missing.join(", "));
    }
    Ok(domains
        .iter()
        .map(|d| index.training_tokens(d).unwrap_or(0))
        .collect())
}

/// The mixture `model` (named `model_label` in the result) predicts best, under the epoch caps that
/// `counts` (training tokens per model domain) and `config.train_tokens` set, by `config.proposer`;
/// with the natural, uniform and uncapped mixtures' predictions beside it. Errors: caps that cannot
/// sum to 1, no candidate within them for the sampling proposer, a solver failure.
pub fn optimum(
    model: &FitModel,
    model_label: &str,
    counts: Option<&[u64]>,
    config: &SimulateConfig,
) -> Result<Optimum> {
    let reduction = model.reduction()?;
    // Under reuse the search runs in the reduced space: the block's cap is its tightest domain's,
    // its prior share its domains' tokens together.
    let (dims, cap_counts, prior_counts) = match (&reduction, counts) {
        (Some(r), Some(c)) => (r.dims(), Some(r.cap_tokens(c)), Some(r.sum_tokens(c))),
        (Some(r), None) => (r.dims(), None, None),
        (None, c) => (
            model.domains.len(),
            c.map(<[u64]>::to_vec),
            c.map(<[u64]>::to_vec),
        ),
    };
    let caps = match (&cap_counts, config.train_tokens) {
        (Some(counts), Some(train)) => epoch_caps(counts, train, config.max_epochs),
        (None, Some(_)) => bail!(
            "--train-tokens needs --tokens: the epoch caps come from each domain's token count"
        ),
        _ => vec![1.0; dims],
    };
    if caps.iter().sum::<f64>() < 1.0 {
        let available: u64 = counts.unwrap_or_default().iter().sum();
        bail!(
            "{} tokens repeated at most {} times cannot supply {} training tokens: lower --train-tokens or raise --max-epochs",
            available,
            config.max_epochs,
            config.train_tokens.unwrap_or(0)
        );
    }
    let token_shares: Vec<f64> = match &prior_counts {
        Some(c) => c.iter().map(|&t| t as f64).collect(),
        None => vec![1.0; dims],
    };
    let prior = prior(&token_shares, config.sampling.temperature);
    let proposer = match config.proposer {
        Proposer::Auto if model.cv.regressor.is_law() => Proposer::Exact,
        Proposer::Auto => Proposer::Sample,
        chosen => chosen,
    };
    let exact = proposer == Proposer::Exact;
    // The sampling proposer's answer; the exact proposer reports it beside its own, and needs none.
    let (top, feasible) = best_candidates(&model.model, &prior, &caps, config, dims);
    if top.is_empty() && !exact {
        bail!(
            "none of the {} candidates obeyed the epoch caps: raise --max-epochs or -n, or use the exact \
             proposer (--proposer exact, with a regressor convex in the weights)",
            config.candidates
        );
    }
    let sampled = (!top.is_empty()).then(|| mean_of(&top, dims));
    // Where some cap binds, the same search without caps too (for sampling: the same draws, all
    // feasible), to show what the caps cost.
    let no_caps = caps.iter().any(|&c| c < 1.0).then(|| vec![1.0; dims]);
    let (answer, gap, uncapped) = if exact {
        let solution = solve(&model.model, &prior, &caps, config.kl_reg)?;
        let uncapped = match &no_caps {
            Some(no_caps) => Some(solve(&model.model, &prior, no_caps, config.kl_reg)?.weights),
            None => None,
        };
        (solution.weights, Some(solution.gap), uncapped)
    } else {
        let uncapped = no_caps.map(|no_caps| {
            let (top, _) = best_candidates(&model.model, &prior, &no_caps, config, dims);
            mean_of(&top, dims)
        });
        (sampled.clone().unwrap_or_default(), None, uncapped)
    };
    let optimum = enforce(&answer, &caps, config.sampling.min_weight)?;
    debug_assert!(within_caps(&optimum, &caps));

    if let Some(r) = &reduction
        && caps[dims - 1] < 1.0
        && optimum[dims - 1] >= caps[dims - 1] - 1e-9
    {
        tracing::warn!(
            "the frozen block's total weight is capped at {:.4}: at its old proportions its tightest domain \
             would repeat more than {} times in {} training tokens",
            caps[dims - 1],
            config.max_epochs,
            config.train_tokens.unwrap_or(0)
        );
        debug_assert_eq!(r.dims(), dims);
    }

    // Reported over every training domain: a reduced mixture expanded, a full one reduced to predict.
    let full = |w: &[f64]| match &reduction {
        Some(r) => r.expand(w),
        None => w.to_vec(),
    };
    let reduce = |w: &[f64]| match &reduction {
        Some(r) => r.reduce(w),
        None => w.to_vec(),
    };
    let domain_caps = match (counts, config.train_tokens) {
        (Some(counts), Some(train)) => epoch_caps(counts, train, config.max_epochs),
        _ => vec![1.0; model.domains.len()],
    };
    let natural = counts.map(|c| {
        let total: u64 = c.iter().sum();
        c.iter()
            .map(|&t| t as f64 / total.max(1) as f64)
            .collect::<Vec<_>>()
    });
    let n = model.domains.len();
    let uniform = vec![1.0 / n as f64; n];
    let predict = |w: &[f64]| model.model.predict(&[w.to_vec()])[0];
    let optimum_full = full(&optimum);
    let uncapped_full = uncapped.as_deref().map(full);
    let result = Optimum {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_label.to_string(),
        target: model.target.clone(),
        config: config.clone(),
        prior: if counts.is_some() {
            "tokens"
        } else {
            "uniform"
        }
        .to_string(),
        domains: model
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| OptimumDomain {
                domain: d.clone(),
                weight: optimum_full[i],
                natural: natural.as_ref().map(|n| n[i]),
                cap: domain_caps[i],
                uncapped: uncapped_full.as_ref().map(|u| u[i]),
            })
            .collect(),
        predicted_loss: predict(&optimum),
        predicted_loss_uncapped: uncapped.as_deref().map(predict),
        proposer,
        optimality_gap: gap,
        predicted_loss_sampled: match (exact, &sampled) {
            (true, Some(sampled)) => Some(predict(&enforce(
                sampled,
                &caps,
                config.sampling.min_weight,
            )?)),
            _ => None,
        },
        predicted_loss_natural: natural.as_deref().map(|n| predict(&reduce(n))),
        predicted_loss_uniform: predict(&reduce(&uniform)),
        feasible_candidates: feasible,
        intervals: None,
    };
    Ok(result)
}

/// A candidate's predicted loss and weights.
type Scored = (f64, Vec<f64>);

/// The mean weights of the best candidates (RegMix averages its top k).
fn mean_of(top: &[Scored], dims: usize) -> Vec<f64> {
    let mut mean = vec![0.0; dims];
    for (_, weights) in top {
        mean.iter_mut()
            .zip(weights)
            .for_each(|(m, w)| *m += w / top.len() as f64);
    }
    mean
}

/// How many of the `config.candidates` candidates [`run`] draws obey the epoch caps, for domains
/// holding `tokens` training tokens each (drawn the same way, in this order; no fit needed): zero means
/// the simulation would find no mixture, which `remix run` refuses before any proxy trains.
pub fn feasible_candidates(tokens: &[u64], config: &SimulateConfig) -> usize {
    let dims = tokens.len();
    let caps = caps_for(tokens, config.train_tokens, config.max_epochs);
    let shares: Vec<f64> = tokens.iter().map(|&t| t as f64).collect();
    let prior = prior(&shares, config.sampling.temperature);
    (0..config.candidates.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| feasible_chunk(&prior, &caps, config, dims, chunk).len() / dims.max(1))
        .sum()
}

/// The candidates of chunk `chunk` (seeded by it) that obey `caps`, one row of `dims` after another.
fn feasible_chunk(
    prior: &[f64],
    caps: &[f64],
    config: &SimulateConfig,
    dims: usize,
    chunk: usize,
) -> Vec<f64> {
    let count = CHUNK.min(config.candidates - chunk * CHUNK);
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        config.seed ^ (chunk as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut flat = Vec::with_capacity(count * dims);
    let mut row = vec![0.0; dims];
    for _ in 0..count {
        if draw(&mut rng, prior, &config.sampling, &mut row) && within_caps(&row, caps) {
            flat.extend_from_slice(&row);
        }
    }
    flat
}

/// The `top_k` feasible candidates with their predicted loss, best first (ties keep drawing order),
/// and how many candidates were feasible.
fn best_candidates(
    model: &Fitted,
    prior: &[f64],
    caps: &[f64],
    config: &SimulateConfig,
    dims: usize,
) -> (Vec<Scored>, usize) {
    let chunks = config.candidates.div_ceil(CHUNK);
    let per_chunk: Vec<(Vec<Scored>, usize)> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let flat = feasible_chunk(prior, caps, config, dims, chunk);
            let scores = match model {
                Fitted::Gbdt(trees) | Fitted::Forest(trees) => trees.predict_flat(&flat, dims),
                linear => {
                    linear.predict(&flat.chunks(dims).map(<[f64]>::to_vec).collect::<Vec<_>>())
                }
            };
            // Only a chunk's own best can be among the overall best.
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            let best = order
                .iter()
                .take(config.top_k)
                .map(|&i| (scores[i], flat[i * dims..(i + 1) * dims].to_vec()));
            (best.collect::<Vec<_>>(), scores.len())
        })
        .collect();
    let feasible = per_chunk.iter().map(|(_, n)| n).sum();
    let mut best: Vec<Scored> = per_chunk.into_iter().flat_map(|(b, _)| b).collect();
    best.sort_by(|a, b| a.0.total_cmp(&b.0));
    best.truncate(config.top_k);
    (best, feasible)
}
