//! Training proxies, P at once (stacked, [`ProxyModel`]): an explicit loop, then the per-domain
//! validation losses.
//!
//! AdamW (beta 0.9 / 0.95, weight decay 0.1), gradient clipping at norm 1.0 (per proxy), a linear
//! warmup then a cosine decay to a tenth of the peak whose period is exactly the run's total steps (a
//! schedule that has not ended at the last step wastes the run). The token budget sets the steps:
//! `train_tokens / (batch_size * context)`. At the end every domain's fixed validation sequences
//! ([`super::data::validation_sets`]) are scored without gradients.

use anyhow::{Result, bail};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cpu::step::AdamW;
use super::data::{MixtureSampler, ValidationSet};
use super::model::{ProxyModel, ProxyShape, next_token_loss};

/// Training settings of a proxy, RegMix's where it published them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Tokens each proxy trains on. Default 1M tokens: enough for the loss to separate mixtures on the
    /// bundled corpus in CPU minutes; RegMix used ~1B on a GPU.
    pub train_tokens: u64,
    /// Sequences per step. Default 16.
    pub batch_size: usize,
    /// Peak learning rate. RegMix: 4e-4 (for 1B tokens); small budgets want more, so default 1e-3.
    pub learning_rate: f64,
    /// Warmup steps. RegMix: 100; capped at a tenth of the run.
    pub warmup_steps: usize,
    /// AdamW weight decay. RegMix: 0.1.
    pub weight_decay: f32,
    /// Gradient clipping norm. RegMix: 1.0.
    pub clip_norm: f32,
    /// Validation sequences per domain. Default 64.
    pub val_sequences: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            train_tokens: 1_000_000,
            batch_size: 16,
            learning_rate: 1e-3,
            warmup_steps: 100,
            weight_decay: 0.1,
            clip_norm: 1.0,
            val_sequences: 64,
        }
    }
}

impl TrainConfig {
    /// AdamW with these settings; elementwise, so each stacked model keeps its own state. Gradient
    /// clipping is per model, before the step ([`clip_per_model`]), not burn's per-tensor clipping.
    pub fn optimizer(&self) -> ModuleOptimizer {
        let adamw = self.adamw();
        AdamWConfig::new()
            .with_beta_1(adamw.beta_1)
            .with_beta_2(adamw.beta_2)
            .with_epsilon(adamw.epsilon)
            .with_weight_decay(adamw.weight_decay)
            .init()
    }

    /// The optimizer's settings for the CPU step ([`super::cpu`]): the same as [`Self::optimizer`]'s.
    pub fn adamw(&self) -> AdamW {
        AdamW {
            beta_1: 0.9,
            beta_2: 0.95,
            // burn's AdamW default.
            epsilon: 1e-5,
            weight_decay: self.weight_decay,
            clip_norm: self.clip_norm,
        }
    }

    pub fn steps(&self, context: usize) -> usize {
        (self.train_tokens as usize / (self.batch_size * context).max(1)).max(1)
    }

    /// The learning rate of `step` (0-based) in a run of `steps`.
    pub fn learning_rate_at(&self, step: usize, steps: usize) -> f64 {
        let warmup = self.warmup_steps.min(steps / 10).max(1);
        if step < warmup {
            return self.learning_rate * (step + 1) as f64 / warmup as f64;
        }
        let progress = (step - warmup) as f64 / (steps - warmup).max(1) as f64;
        let floor = self.learning_rate / 10.0;
        floor
            + (self.learning_rate - floor)
                * 0.5
                * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
    }
}

/// What training P proxies together produced.
#[derive(Debug, Clone)]
pub struct TrainedProxies {
    /// The trained models (stacked), without gradients.
    pub model: ProxyModel,
    pub steps: usize,
    /// Tokens each proxy trained on.
    pub tokens_trained: u64,
    /// Each proxy's mean training loss of the last step.
    pub final_train_loss: Vec<f64>,
    /// Each proxy's (domain, validation loss) for every domain with validation sequences.
    pub val_losses: Vec<Vec<(String, f64)>>,
}

/// Token rows as an Int tensor `[models, rows, width]`: model p reads the p-th block of `rows` rows.
pub(crate) fn rows_tensor(
    tokens: &[u32],
    models: usize,
    rows: usize,
    device: &Device,
) -> Tensor<3, Int> {
    let width = tokens.len() / (models * rows).max(1);
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(ids, [models, rows, width]), device)
}

/// Trains one proxy per sampler: every proxy starts from `seed`'s weights, proxy p trains on batches
/// from `samplers[p]` with its own AdamW state and its own gradient clipping, so each ends where it
/// would have trained alone. On the CPU through remix's own step ([`super::cpu`]); elsewhere stacked in
/// burn ([`train_proxies_in_burn`]). `on_step(step, steps, mean loss)`.
pub fn train_proxies(
    shape: &ProxyShape,
    config: &TrainConfig,
    samplers: &mut [MixtureSampler],
    validation: &[ValidationSet],
    device: &Device,
    seed: u64,
    on_step: impl FnMut(usize, usize, f64),
) -> Result<TrainedProxies> {
    if samplers.is_empty() {
        bail!("no proxies to train: give at least one mixture");
    }
    if *device == Device::flex() {
        super::cpu::train_proxies(shape, config, samplers, validation, seed, on_step)
    } else {
        let models = samplers.len();
        // burn's wgpu runtime panics when an allocation fails (out of memory, or a buffer past the
        // device's binding limit): an error that names the fix instead.
        super::device::quietly(|| {
            train_proxies_in_burn(shape, config, samplers, validation, device, seed, on_step)
        })
        .unwrap_or_else(|panic| {
            let lower = panic.to_lowercase();
            let allocation = ["alloc", "memory", "buffer", "limit"]
                .iter()
                .any(|word| lower.contains(word));
            let fix = if allocation && models > 1 {
                format!(
                    ". The device ran out of memory or a buffer passed its limit: stack fewer proxies, \
                     --parallel {} (or [proxy] parallel in the config); each proxy needs about {:.0} MiB",
                    models / 2,
                    super::stage::step_bytes(shape, config) as f64 / super::stage::MIB
                )
            } else {
                String::new()
            };
            Err(anyhow::anyhow!(
                "training a stack of {models} proxies on {device:?} failed: {panic}{fix}"
            ))
        })
    }
}

/// [`train_proxies`] with burn's autodiff, the proxies stacked ([`ProxyModel`]).
fn train_proxies_in_burn(
    shape: &ProxyShape,
    config: &TrainConfig,
    samplers: &mut [MixtureSampler],
    validation: &[ValidationSet],
    device: &Device,
    seed: u64,
    mut on_step: impl FnMut(usize, usize, f64),
) -> Result<TrainedProxies> {
    let models = samplers.len();
    let train_device = device.clone().autodiff();
    let mut model = shape.init_stacked(&vec![seed; models], &train_device);
    let mut optimizer = config.optimizer();
    let steps = config.steps(shape.context);
    let mut last_losses = vec![f64::NAN; models];
    let mut tokens = Vec::new();
    for step in 0..steps {
        tokens.clear();
        for sampler in samplers.iter_mut() {
            tokens.extend_from_slice(&sampler.next_batch(config.batch_size).tokens);
        }
        let rows = rows_tensor(&tokens, models, config.batch_size, &train_device);
        let losses = next_token_loss(&model, rows);
        last_losses = host_values(losses.clone().detach())?;
        if let Some((p, loss)) = last_losses.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            bail!(
                "the training loss of proxy {p} became {loss} at step {step}: lower the learning rate"
            );
        }
        let mut grads = GradientsParams::from_grads(losses.sum().backward(), &model);
        clip_per_model(&model, &mut grads, config.clip_norm);
        model = optimizer.step(config.learning_rate_at(step, steps), model, grads);
        on_step(step, steps, last_losses.iter().sum::<f64>() / models as f64);
    }
    let model = model.valid();
    let mut val_losses = vec![Vec::new(); models];
    for set in validation {
        let losses = validation_losses(&model, set, config.batch_size, device)?;
        for (p, loss) in losses.into_iter().enumerate() {
            val_losses[p].push((set.domain.clone(), loss));
        }
    }
    Ok(TrainedProxies {
        model,
        steps,
        tokens_trained: (steps * config.batch_size * shape.context) as u64,
        final_train_loss: last_losses,
        val_losses,
    })
}

/// Scales each model's gradients so that their norm over all its weights is at most `max_norm`
/// (PyTorch's `clip_grad_norm_`, one norm per stacked model).
pub(crate) fn clip_per_model(model: &ProxyModel, grads: &mut GradientsParams, max_norm: f32) {
    let parameters = model.parameters();
    let squares = parameters
        .iter()
        .filter_map(|p| grads.get::<3>(p.id))
        .map(|g| g.square().sum_dim(2).sum_dim(1))
        .reduce(|a, b| a + b);
    let Some(squares) = squares else { return };
    let scale = (squares.sqrt() + 1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    for p in parameters {
        if let Some(g) = grads.remove::<3>(p.id) {
            grads.register(p.id, g * scale.clone());
        }
    }
}

/// Reads a small tensor back to the host.
pub(crate) fn host_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f64>> {
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read values back from the device: {e:?}"))?;
    Ok(values.into_iter().map(f64::from).collect())
}

/// Each stacked model's mean next-token loss over a domain's validation sequences (every target
/// counted once; every model reads the same sequences).
pub fn validation_losses(
    model: &ProxyModel,
    set: &ValidationSet,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f64>> {
    let models = model.models();
    validation_losses_with(set, batch_size, models, |chunk, rows| {
        let one = rows_tensor(chunk, 1, rows, device);
        host_values(next_token_loss(model, one.repeat_dim(0, models)))
    })
}

/// Each of `models` models' mean loss over a domain's validation sequences, given `score(rows,
/// sequences)`, the models' mean losses over a chunk of at most `batch_size` sequences.
pub(crate) fn validation_losses_with(
    set: &ValidationSet,
    batch_size: usize,
    models: usize,
    mut score: impl FnMut(&[u32], usize) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let width = set.tokens.len() / set.sequences.max(1);
    let mut totals = vec![0.0; models];
    for chunk in set.tokens.chunks(width * batch_size.max(1)) {
        let rows = chunk.len() / width;
        for (total, loss) in totals.iter_mut().zip(score(chunk, rows)?) {
            *total += loss * rows as f64;
        }
    }
    Ok(totals
        .into_iter()
        .map(|t| t / set.sequences.max(1) as f64)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_ends_at_the_floor_on_the_last_step() {
        let config = TrainConfig {
            warmup_steps: 10,
            learning_rate: 1.0,
            ..Default::default()
        };
        let steps = 200;
        assert!((config.learning_rate_at(0, steps) - 0.1).abs() < 1e-12);
        assert!((config.learning_rate_at(9, steps) - 1.0).abs() < 1e-12);
        assert!((config.learning_rate_at(10, steps) - 1.0).abs() < 1e-12);
        assert!((config.learning_rate_at(steps - 1, steps) - 0.1).abs() < 1e-3);
        assert!(config.learning_rate_at(100, steps) < config.learning_rate_at(50, steps));
    }
}
