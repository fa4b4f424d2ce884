//! Training one proxy: an explicit loop, then the per-domain validation losses.
//!
//! AdamW (beta 0.9 / 0.95, weight decay 0.1), gradient clipping at norm 1.0, a linear warmup then a
//! cosine decay to a tenth of the peak whose period is exactly the run's total steps (a schedule that
//! has not ended at the last step wastes the run). The token budget sets the steps:
//! `train_tokens / (batch_size * context)`. At the end every domain's fixed validation sequences
//! ([`super::data::validation_sets`]) are scored without gradients.

use anyhow::{Result, bail};
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// AdamW with these settings and gradient clipping.
    pub fn optimizer(&self) -> ModuleOptimizer {
        AdamWConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.95)
            .with_weight_decay(self.weight_decay)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(self.clip_norm)))
            .init()
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

/// What one proxy run produced.
#[derive(Debug, Clone)]
pub struct TrainedProxy {
    /// The trained model, without gradients.
    pub model: ProxyModel,
    pub steps: usize,
    pub tokens_trained: u64,
    /// Mean training loss of the last step.
    pub final_train_loss: f64,
    /// (domain, validation loss) for every domain with validation sequences.
    pub val_losses: Vec<(String, f64)>,
}

/// Token rows as an Int tensor.
pub(crate) fn rows_tensor(tokens: &[u32], rows: usize, device: &Device) -> Tensor<2, Int> {
    let width = tokens.len() / rows.max(1);
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(ids, [rows, width]), device)
}

/// Trains a proxy of `shape` on batches from `sampler` and scores it on `validation`.
pub fn train_proxy(
    shape: &ProxyShape,
    config: &TrainConfig,
    sampler: &mut MixtureSampler,
    validation: &[ValidationSet],
    device: &Device,
    seed: u64,
    mut on_step: impl FnMut(usize, usize, f64),
) -> Result<TrainedProxy> {
    if shape.d_model % shape.heads != 0 {
        bail!(
            "d_model {} is not a multiple of heads {}",
            shape.d_model,
            shape.heads
        );
    }
    device.seed(seed);
    let train_device = device.clone().autodiff();
    let mut model: ProxyModel = shape.init(&train_device);
    let mut optimizer = config.optimizer();
    let steps = config.steps(shape.context);
    let mut last_loss = f64::NAN;
    for step in 0..steps {
        let batch = sampler.next_batch(config.batch_size);
        let rows = rows_tensor(&batch.tokens, config.batch_size, &train_device);
        let loss = next_token_loss(&model, rows);
        last_loss = loss.clone().into_scalar::<f32>() as f64;
        if !last_loss.is_finite() {
            bail!("the training loss became {last_loss} at step {step}: lower the learning rate");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.learning_rate_at(step, steps), model, grads);
        on_step(step, steps, last_loss);
    }
    let model = model.valid();
    let val_losses = validation
        .iter()
        .map(|set| {
            (
                set.domain.clone(),
                validation_loss(&model, set, config.batch_size, device),
            )
        })
        .collect();
    Ok(TrainedProxy {
        model,
        steps,
        tokens_trained: (steps * config.batch_size * shape.context) as u64,
        final_train_loss: last_loss,
        val_losses,
    })
}

/// Mean next-token loss over a domain's validation sequences (every target counted once).
pub fn validation_loss(
    model: &ProxyModel,
    set: &ValidationSet,
    batch_size: usize,
    device: &Device,
) -> f64 {
    let width = set.tokens.len() / set.sequences.max(1);
    let mut total = 0.0;
    for chunk in set.tokens.chunks(width * batch_size.max(1)) {
        let rows = chunk.len() / width;
        let loss =
            next_token_loss(model, rows_tensor(chunk, rows, device)).into_scalar::<f32>() as f64;
        total += loss * rows as f64;
    }
    total / set.sequences.max(1) as f64
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
