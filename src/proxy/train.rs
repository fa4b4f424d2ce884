//! Training proxies, P at once (stacked, [`super::model::ProxyModel`]), on the device given: on the CPU
//! through remix's own step ([`super::cpu`]), elsewhere through burn's autodiff ([`super::autodiff`]).
//!
//! AdamW (beta 0.9 / 0.95, weight decay 0.1), gradient clipping at norm 1.0 (per proxy), a linear
//! warmup then a cosine decay to a tenth of the peak whose period is exactly the run's total steps (a
//! schedule that has not ended at the last step wastes the run). The token budget sets the steps:
//! `train_tokens / (batch_size * context)`. At the end every domain's fixed validation sequences
//! ([`super::data::validation_sets`]) are scored without gradients.

use anyhow::{Result, bail};
use burn::prelude::*;

use super::autodiff::train_proxies_in_burn;
use super::data::{MixtureSampler, ValidationSet};
use super::memory::{MIB, step_bytes};
use super::model::ProxyShape;
use super::settings::{TrainConfig, TrainedProxies};

/// Trains one proxy per sampler: every proxy starts from `seed`'s weights, proxy p trains on batches
/// from `samplers[p]` with its own AdamW state and its own gradient clipping, so each ends where it
/// would have trained alone. On the CPU through remix's own step ([`super::cpu`]); elsewhere stacked in
/// burn ([`super::autodiff`]). `on_step(step, steps, mean loss)`.
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
        crate::core::panic::quietly(|| {
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
                    step_bytes(shape, config) as f64 / MIB
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
