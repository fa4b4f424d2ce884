//! A proxy's settings: its model and device ([`ProxySection`], the config's `[proxy]` section and the
//! flags of `remix train`) and its training ([`TrainConfig`], `[proxy.train]`): the token budget that sets
//! the steps, AdamW (beta 0.9 / 0.95, weight decay 0.1), gradient clipping at norm 1.0 (per proxy), and a
//! linear warmup then a cosine decay to a tenth of the peak whose period is exactly the run's total
//! steps (a schedule that has not ended at the last step wastes the run); and what training P proxies
//! together gives back ([`TrainedProxies`]).

use burn::optim::{AdamWConfig, ModuleOptimizer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cpu::step::AdamW;
use super::device::DeviceChoice;
use super::eval::ValidationLoss;
use super::model::ProxyModel;
use super::shape::ProxyShape;

/// The proxy model and its training, shared by RegMix's runs and DoReMi.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProxySection {
    /// `auto` (the CPU), `cpu` or `wgpu`.
    #[serde(with = "crate::core::text_form")]
    #[schemars(with = "String")]
    pub device: DeviceChoice,
    /// Proxies trained together in one stack (the same results as one by one); 0: as many as fit on
    /// wgpu, one at a time on the CPU (see `remix train --help`).
    pub parallel: usize,
    /// RegMix's 1M proxy by default: 2 layers, width 256, 8 heads, SwiGLU 512, context 512.
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub ffn_hidden: usize,
    pub context: usize,
    pub train: TrainConfig,
}

impl Default for ProxySection {
    fn default() -> Self {
        let shape = ProxyShape::regmix_1m(0);
        Self {
            device: DeviceChoice::Auto,
            parallel: 0,
            layers: shape.layers,
            d_model: shape.d_model,
            heads: shape.heads,
            ffn_hidden: shape.ffn_hidden,
            context: shape.context,
            train: TrainConfig::default(),
        }
    }
}

impl ProxySection {
    /// The proxy's shape for a tokenizer's vocabulary (`tokens/index.json`). Errors: a shape that cannot
    /// train ([`ProxyShape::checked`]).
    pub fn shape(&self, vocab_size: usize) -> anyhow::Result<ProxyShape> {
        ProxyShape::checked(
            vocab_size,
            self.layers,
            self.d_model,
            self.heads,
            self.ffn_hidden,
            self.context,
        )
    }
}

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
    /// clipping is per model, before the step ([`super::autodiff::clip_per_model`]), not burn's per-tensor clipping.
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

    /// The warmup of a run of `steps`: `warmup_steps`, at most a tenth of the run (so a short proxy
    /// run still spends most of its steps decaying), at least one step. `remix run` logs when it is
    /// less than `warmup_steps`.
    pub fn warmup(&self, steps: usize) -> usize {
        self.warmup_steps.min(steps / 10).max(1)
    }

    /// The learning rate of `step` (0-based) in a run of `steps`.
    pub fn learning_rate_at(&self, step: usize, steps: usize) -> f64 {
        let warmup = self.warmup(steps);
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
    pub val_losses: Vec<Vec<(String, ValidationLoss)>>,
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
