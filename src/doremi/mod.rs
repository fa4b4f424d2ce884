//! The doremi stage: domain weights by DoReMi (Xie et al. 2023), `WORK/doremi/weights.json`.
//!
//! A reference proxy is trained on a reference mixture (natural, uniform or weights from a file); then a
//! same-shape proxy is trained from uniform weights with Group DRO against it ([`dro`]), and the round's
//! answer is the mean of the domain weights over its steps. With `rounds > 1` the answer becomes the next
//! round's reference mixture until the weights move less than [`CONVERGED`]. `weights.json` keeps every
//! round's reference, answer, validation losses and the whole step-by-step trajectory; `remix manifest`
//! reads it directly. The folder is finished by a `_done.json` marker.

pub mod dro;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::Device;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::progress::Progress;
use crate::core::workdir::{DoneMarker, StageFolder, write_json};
use crate::data::tokens::TokensIndex;
use crate::proxy::data::{MixtureSampler, validation_sets};
use crate::proxy::device::ProxyDevice;
use crate::proxy::eval::validation_losses;
use crate::proxy::model::ProxyModel;
use crate::proxy::train::train_proxies;
use crate::regmix::train::ProxyRunConfig;
use crate::regmix::weights::read_weights_file;
use dro::{DroSettings, train_dro};

/// Rounds stop when no weight moves more than this from the round's reference.
pub const CONVERGED: f64 = 1e-3;

/// The mixture the reference proxy trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// Token-proportional.
    Natural,
    /// Equal weight per training domain.
    Uniform,
    /// Weights read from a file (`fit/optimum.json`, another `weights.json`, `{domain: weight}`).
    File(PathBuf),
}

impl std::str::FromStr for Reference {
    type Err = std::convert::Infallible;

    /// `natural`, `uniform`, or any other text as the path of a weights file.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "natural" => Reference::Natural,
            "uniform" => Reference::Uniform,
            path => Reference::File(PathBuf::from(path)),
        })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Natural => f.write_str("natural"),
            Reference::Uniform => f.write_str("uniform"),
            Reference::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How DoReMi reweights: a pipeline config's `[doremi]` section and `remix doremi`'s flags, one type
/// with its defaults (the proxy it trains is [`DoremiConfig::proxy`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct DoremiSettings {
    /// The reference mixture: `natural` (token-proportional), `uniform`, or a weights file
    /// (fit/optimum.json, a weights.json, or {"<domain>": weight}). Default natural, the paper's.
    #[serde(with = "crate::core::text_form")]
    #[schemars(with = "String")]
    #[arg(long, default_value_t = DoremiSettings::default().reference)]
    pub reference: Reference,
    /// Rounds at most; each round's weights are the next round's reference, until they move less than
    /// 1e-3. Default 1, as in the paper's main results.
    #[arg(long, default_value_t = DoremiSettings::default().rounds)]
    pub rounds: usize,
    /// Exponentiated-gradient step size. Default 1, DoReMi's.
    #[arg(long, default_value_t = DoremiSettings::default().eta)]
    pub eta: f64,
    /// Smoothing towards uniform weights. Default 1e-3, DoReMi's.
    #[arg(long, default_value_t = DoremiSettings::default().smoothing)]
    pub smoothing: f64,
}

impl Default for DoremiSettings {
    fn default() -> Self {
        Self {
            reference: Reference::Natural,
            rounds: 1,
            eta: 1.0,
            smoothing: 1e-3,
        }
    }
}

/// Everything that decides the result of the doremi stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoremiConfig {
    /// The shape and training settings of both the reference and the DoReMi proxy, and the seed.
    pub proxy: ProxyRunConfig,
    #[serde(flatten)]
    pub settings: DoremiSettings,
}

/// `doremi/weights.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoremiWeights {
    /// Always `doremi`.
    pub method: String,
    /// The answer: the last round's mean weights, summing to 1.
    pub domains: Vec<DomainWeight>,
    /// Whether the last round moved the weights less than `tolerance` (always false for one round
    /// whose answer is far from its reference).
    pub converged: bool,
    pub tolerance: f64,
    pub config: DoremiConfig,
    pub rounds: Vec<DoremiRound>,
    /// Where the proxies trained ([`crate::proxy::device::ProxyDevice::label`]); absent in files
    /// written before remix recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainWeight {
    pub domain: String,
    pub weight: f64,
}

/// One round: reference mixture in, DoReMi weights out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoremiRound {
    /// The reference mixture, in the order of `domains`.
    pub reference_weights: Vec<f64>,
    /// The mean DoReMi weights over the round's steps.
    pub weights: Vec<f64>,
    /// The largest absolute change from the reference mixture.
    pub change: f64,
    /// Validation loss per domain of the reference proxy and of the DoReMi proxy.
    pub reference_losses: BTreeMap<String, f64>,
    pub proxy_losses: BTreeMap<String, f64>,
    /// Per-domain excess loss at the last step.
    pub final_excess: Vec<f64>,
    /// The weights after every step.
    pub trajectory: Vec<Vec<f64>>,
}

/// Runs DoReMi on the shards of `tokens_dir` and writes `out_dir/weights.json` and its marker.
pub fn run_doremi(
    tokens_dir: &Path,
    out_dir: &Path,
    config: &DoremiConfig,
    proxy_device: &ProxyDevice,
    quiet: bool,
) -> Result<DoremiWeights> {
    let device = &proxy_device.device;
    let index = TokensIndex::read(tokens_dir)?;
    let names = index.training_names();
    if names.len() < 2 {
        bail!(
            "DoReMi weighs domains against each other; {} has {} training domain(s)",
            tokens_dir.display(),
            names.len()
        );
    }
    if let Some(empty) = index.training_domains().find(|d| d.tokens == 0) {
        bail!(
            "domain `{}` has no training tokens: DoReMi samples every domain in every batch; tokenize \
             it with --eval-only or drop it",
            empty.domain
        );
    }
    if config.proxy.train.batch_size < names.len() {
        tracing::warn!(
            batch = config.proxy.train.batch_size,
            domains = names.len(),
            "batches are smaller than the domain count: some domains miss each batch and keep their last excess loss"
        );
    }
    let mut reference = match &config.settings.reference {
        Reference::Natural => index.natural_weights(),
        Reference::Uniform => vec![1.0 / names.len() as f64; names.len()],
        Reference::File(path) => weights_in_order(path, &names)?,
    };
    let validation = validation_sets(
        tokens_dir,
        &index,
        config.proxy.shape.context,
        config.proxy.train.val_sequences,
    )?;
    std::fs::create_dir_all(out_dir)?;
    DoneMarker::clear(out_dir)?;

    let steps = config.proxy.train.steps(config.proxy.shape.context) as u64;
    let rounds_max = config.settings.rounds.max(1);
    let progress = Progress::new(2 * steps * rounds_max as u64, "steps", quiet);
    let settings = DroSettings {
        eta: config.settings.eta,
        smoothing: config.settings.smoothing,
    };
    let seed = config.proxy.seed;
    let mut rounds = Vec::new();
    let mut converged = false;
    for round in 0..rounds_max {
        progress.set_message("reference proxy");
        let mut sampler = MixtureSampler::new(
            tokens_dir,
            &index,
            &reference,
            config.proxy.shape.context,
            seed,
        )?;
        let trained = train_proxies(
            &config.proxy.shape,
            &config.proxy.train,
            std::slice::from_mut(&mut sampler),
            &validation,
            device,
            seed,
            |_, _, _| progress.inc(1),
        )?;
        progress.set_message("DoReMi proxy");
        let uniform = vec![1.0; names.len()];
        let mut sampler = MixtureSampler::new(
            tokens_dir,
            &index,
            &uniform,
            config.proxy.shape.context,
            seed.wrapping_add(1),
        )?;
        let result = train_dro(
            &config.proxy,
            settings,
            &mut sampler,
            &trained.model,
            device,
            |_, _| progress.inc(1),
        )?;
        let change = result
            .weights
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        tracing::info!(round, change, "DoReMi round finished");
        rounds.push(DoremiRound {
            reference_weights: reference.clone(),
            weights: result.weights.clone(),
            change,
            reference_losses: losses(&trained.model, &validation, config, device)?,
            proxy_losses: losses(&result.model, &validation, config, device)?,
            final_excess: result.final_excess,
            trajectory: result.trajectory,
        });
        reference = result.weights;
        if change < CONVERGED {
            converged = true;
            break;
        }
    }
    progress.finish();
    let weights = DoremiWeights {
        method: "doremi".into(),
        domains: names
            .iter()
            .zip(&reference)
            .map(|(domain, &weight)| DomainWeight {
                domain: domain.clone(),
                weight,
            })
            .collect(),
        converged,
        tolerance: CONVERGED,
        config: config.clone(),
        rounds,
        device: Some(proxy_device.label()),
    };
    write_json(&out_dir.join("weights.json"), &weights)?;
    let mut inputs = vec![tokens_dir.join("index.json")];
    if let Reference::File(path) = &config.settings.reference {
        inputs.push(path.clone());
    }
    DoneMarker::new(StageFolder::Doremi, config, &inputs)?
        .with_count("rounds", weights.rounds.len())
        .with_count("domains", names.len())
        .write(out_dir)?;
    Ok(weights)
}

fn losses(
    model: &ProxyModel,
    validation: &[crate::proxy::data::ValidationSet],
    config: &DoremiConfig,
    device: &Device,
) -> Result<BTreeMap<String, f64>> {
    validation
        .iter()
        .map(|set| {
            let losses = validation_losses(model, set, config.proxy.train.batch_size, device)?;
            Ok((set.domain.clone(), losses[0].loss))
        })
        .collect()
}

/// The weights of a file, in the order of `names`; every training domain must be there.
fn weights_in_order(path: &Path, names: &[String]) -> Result<Vec<f64>> {
    let (_, weights) = read_weights_file(path)?;
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !weights.contains_key(*n))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = weights
        .keys()
        .filter(|k| !names.contains(k))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        bail!(
            "the reference weights in {} do not match the training domains: missing {}, unknown {}",
            path.display(),
            if missing.is_empty() {
                "none".into()
            } else {
                missing.join(", ")
            },
            if extra.is_empty() {
                "none".into()
            } else {
                extra.join(", ")
            }
        );
    }
    let weights: Vec<f64> = names.iter().map(|n| weights[n]).collect();
    if weights.iter().sum::<f64>() <= 0.0 {
        bail!("the reference weights in {} are all zero", path.display());
    }
    Ok(weights)
}
