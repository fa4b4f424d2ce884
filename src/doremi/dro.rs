//! One DoReMi round: a proxy trained with Group DRO against a fixed reference model.
//!
//! Every batch takes its rows from the training domains in turn (so each domain is in every batch of at
//! least that many rows: small batches that miss domains are what makes DoReMi collapse). Each step:
//! the per-domain excess loss is the mean over that domain's target tokens of max(proxy token loss -
//! reference token loss, 0); the domain weights move by an exponentiated-gradient step
//! `a <- a * exp(eta * excess)`, are renormalised and smoothed `a <- (1 - c) a + c / k`; the proxy's
//! loss is each domain's mean token loss weighted by `a`. A domain absent from a batch keeps its last
//! excess loss. The round's answer is the mean of `a` over all steps.

use anyhow::{Result, bail};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::proxy::autodiff::clip_per_model;
use crate::proxy::data::MixtureSampler;
use crate::proxy::eval::{host_values, rows_tensor};
use crate::proxy::model::{ProxyModel, token_losses};
use crate::regmix::train::ProxyRunConfig;

/// DoReMi's step settings (the paper's values are the defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DroSettings {
    /// Exponentiated-gradient step size. DoReMi: 1.
    pub eta: f64,
    /// Smoothing towards uniform. DoReMi: 1e-3.
    pub smoothing: f64,
}

/// What a round produced.
#[derive(Debug, Clone)]
pub struct DroRound {
    /// The mean of the domain weights over all steps, summing to 1.
    pub weights: Vec<f64>,
    /// The domain weights after each step.
    pub trajectory: Vec<Vec<f64>>,
    /// The per-domain excess loss of the last step.
    pub final_excess: Vec<f64>,
    pub model: ProxyModel,
}

/// One exponentiated-gradient step: `weights * exp(eta * excess)`, renormalised, then smoothed.
pub fn update_weights(weights: &[f64], excess: &[f64], settings: DroSettings) -> Vec<f64> {
    let k = weights.len() as f64;
    // In log space, shifted by the largest exponent, so large excess losses cannot overflow.
    let logs: Vec<f64> = weights
        .iter()
        .zip(excess)
        .map(|(w, e)| w.max(f64::MIN_POSITIVE).ln() + settings.eta * e)
        .collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let raw: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = raw.iter().sum();
    raw.iter()
        .map(|r| (1.0 - settings.smoothing) * r / total + settings.smoothing / k)
        .collect()
}

/// Trains a proxy of `proxy`'s shape and settings from uniform domain weights against `reference`.
pub fn train_dro(
    proxy: &ProxyRunConfig,
    settings: DroSettings,
    sampler: &mut MixtureSampler,
    reference: &ProxyModel,
    device: &Device,
    mut on_step: impl FnMut(usize, usize),
) -> Result<DroRound> {
    let (shape, config) = (&proxy.shape, &proxy.train);
    let domains = sampler.domains().len();
    let train_device = device.clone().autodiff();
    let mut model: ProxyModel = shape.init(proxy.seed, &train_device);
    let mut optimizer = config.optimizer();
    let steps = config.steps(shape.context);
    let length = shape.context;
    let mut weights = vec![1.0 / domains as f64; domains];
    let mut excess = vec![0.0; domains];
    let mut trajectory = Vec::with_capacity(steps);
    let mut sum = vec![0.0; domains];
    for step in 0..steps {
        let batch = sampler.next_stratified_batch(config.batch_size);
        let rows = config.batch_size;
        let proxy_tokens = token_losses(&model, rows_tensor(&batch.tokens, 1, rows, &train_device));
        let reference_tokens = token_losses(reference, rows_tensor(&batch.tokens, 1, rows, device));
        let proxy_values = host_values(proxy_tokens.clone().detach())?;
        let reference_values = host_values(reference_tokens)?;

        let mut excess_sum = vec![0.0; domains];
        let mut domain_rows = vec![0usize; domains];
        for (r, &d) in batch.row_domains.iter().enumerate() {
            let span = r * length..(r + 1) * length;
            excess_sum[d] += proxy_values[span.clone()]
                .iter()
                .zip(&reference_values[span])
                .map(|(p, q)| (p - q).max(0.0))
                .sum::<f64>();
            domain_rows[d] += 1;
        }
        for d in 0..domains {
            if domain_rows[d] > 0 {
                excess[d] = excess_sum[d] / (domain_rows[d] * length) as f64;
            }
        }
        weights = update_weights(&weights, &excess, settings);

        // Each row's mean token loss, weighted so that every domain's mean counts by its weight.
        let row_weights: Vec<f32> = batch
            .row_domains
            .iter()
            .map(|&d| (weights[d] / domain_rows[d] as f64) as f32)
            .collect();
        let row_weights =
            Tensor::<1>::from_data(TensorData::new(row_weights, [rows]), &train_device);
        let loss = (proxy_tokens.mean_dim(2).reshape([rows]) * row_weights).sum();
        let value = loss.clone().into_scalar::<f32>();
        if !value.is_finite() {
            bail!("the DoReMi proxy's loss became {value} at step {step}: lower the learning rate");
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_per_model(&model, &mut grads, config.clip_norm);
        model = optimizer.step(config.learning_rate_at(step, steps), model, grads);

        sum.iter_mut().zip(&weights).for_each(|(s, w)| *s += w);
        trajectory.push(weights.clone());
        on_step(step, steps);
    }
    let total: f64 = sum.iter().sum();
    Ok(DroRound {
        weights: sum.iter().map(|s| s / total).collect(),
        trajectory,
        final_excess: excess,
        model: model.valid(),
    })
}
