//! Training a stack of proxies with burn's autodiff, on any device burn drives (wgpu on a GPU or on
//! lavapipe): an explicit loop over the steps, each proxy with its own batches, its own gradient
//! clipping and its own AdamW state, then every domain's validation losses ([`super::eval`]).

use anyhow::{Result, bail};
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::data::{MixtureSampler, ValidationSet};
use super::eval::{host_values, rows_tensor, validation_losses};
use super::model::{ProxyModel, ProxyShape, next_token_loss};
use super::settings::{TrainConfig, TrainedProxies};

/// [`super::train::train_proxies`] with burn's autodiff, the proxies stacked ([`ProxyModel`]).
pub(crate) fn train_proxies_in_burn(
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
