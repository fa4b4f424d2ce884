//! Training proxies on the CPU with remix's own training step.
//!
//! burn defines the proxy ([`ProxyModel`]), initialises it, trains it on GPUs (wgpu) and scores it; on
//! the CPU its flex backend ran the default proxy at about a quarter of PyTorch's tokens per second on
//! the same machine (`remix bench train` against `bench/train_pytorch.py`), its matrix products in
//! AVX2 kernels and its autodiff graph one unfused pass per operation. So on the CPU the step is
//! written out here: the same model, forward and backward, with every matrix product in the `gemm`
//! crate (AVX-512 where the CPU has it), the elementwise work fused into one pass per layer part
//! ([`kernels`]), attention one task per sequence and head ([`attention`]), and the same clipping and
//! AdamW as the burn loop ([`step`]). The weights start from burn's initialisation and go back into a
//! [`ProxyModel`] at the end, and tests hold the two paths to the same losses and the same trained
//! weights.

mod attention;
pub mod kernels;
mod lanes;
pub mod rope;
pub mod step;
mod workspace;

use anyhow::{Result, bail};

use super::data::{MixtureSampler, ValidationSet};
use super::eval::validation_losses_with;
use super::model::ProxyShape;
use super::settings::{TrainConfig, TrainedProxies};
use step::CpuProxy;

/// [`super::train::train_proxies`] on the CPU: the same proxies, batches, schedule and optimizer,
/// through [`CpuProxy`], one proxy after another at each step. `samplers` is not empty (the caller
/// checks).
pub(crate) fn train_proxies(
    shape: &ProxyShape,
    config: &TrainConfig,
    samplers: &mut [MixtureSampler],
    validation: &[ValidationSet],
    seed: u64,
    mut on_step: impl FnMut(usize, usize, f64),
) -> Result<TrainedProxies> {
    let models = samplers.len();
    let device = burn::tensor::Device::flex();
    let model = shape.init_stacked(&vec![seed; models], &device);
    let mut proxies: Vec<CpuProxy> = model
        .host_parameters()?
        .into_iter()
        .map(|parameters| CpuProxy::new(shape, parameters))
        .collect();
    let adamw = config.adamw();
    let steps = config.steps(shape.context);
    let mut last_losses = vec![f64::NAN; models];
    for step in 0..steps {
        let learning_rate = config.learning_rate_at(step, steps) as f32;
        for (p, (proxy, sampler)) in proxies.iter_mut().zip(samplers.iter_mut()).enumerate() {
            let batch = sampler.next_batch(config.batch_size);
            let loss = proxy.step(&batch.tokens, config.batch_size, learning_rate, &adamw)?;
            if !loss.is_finite() {
                bail!(
                    "the training loss of proxy {p} became {loss} at step {step}: lower the learning rate"
                );
            }
            last_losses[p] = f64::from(loss);
        }
        on_step(step, steps, last_losses.iter().sum::<f64>() / models as f64);
    }
    let mut val_losses = vec![Vec::new(); models];
    for set in validation {
        let losses = validation_losses_with(set, config.batch_size, models, |rows, sequences| {
            let mut losses = Vec::with_capacity(models * sequences);
            for proxy in proxies.iter_mut() {
                losses.extend(
                    proxy
                        .sequence_losses(rows, sequences)?
                        .into_iter()
                        .map(f64::from),
                );
            }
            Ok(losses)
        })?;
        for (p, loss) in losses.into_iter().enumerate() {
            val_losses[p].push((set.domain.clone(), loss));
        }
    }
    let parameters: Vec<Vec<&[f32]>> = proxies.iter().map(CpuProxy::parameters).collect();
    Ok(TrainedProxies {
        model: model.with_host_parameters(&parameters),
        steps,
        tokens_trained: (steps * config.batch_size * shape.context) as u64,
        final_train_loss: last_losses,
        val_losses,
    })
}

#[cfg(test)]
mod tests {
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    use super::*;
    use crate::proxy::autodiff::clip_per_model;
    use crate::proxy::eval::{host_values, rows_tensor};
    use crate::proxy::model::{ProxyModel, next_token_loss, test_rng, test_shape as tiny};

    /// `sequences` rows of `width` token ids, varied by `salt`.
    fn rows(sequences: usize, width: usize, salt: u32) -> Vec<u32> {
        (0..(sequences * width) as u32)
            .map(|i| (i * 7 + salt * 13 + i * i % 11) % 50)
            .collect()
    }

    fn assert_close(what: &str, ours: &[f32], burn: &[f32]) {
        assert_eq!(ours.len(), burn.len(), "{what}");
        let scale = burn.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(burn).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale + 1e-6,
                "{what}[{i}]: {a} here, {b} in burn (largest {scale})"
            );
        }
    }

    fn burn_gradients(model: &ProxyModel, rows: &[u32], sequences: usize) -> (f32, Vec<Vec<f32>>) {
        let device = Device::flex().autodiff();
        let loss = next_token_loss(model, rows_tensor(rows, 1, sequences, &device));
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), model);
        let each = model
            .parameters()
            .iter()
            .map(|p| {
                let g = grads.get::<3>(p.id).expect("every weight has a gradient");
                host_values(g)
                    .unwrap()
                    .into_iter()
                    .map(|v| v as f32)
                    .collect()
            })
            .collect();
        (value, each)
    }

    /// The written-out backward pass computes what burn's autodiff computes, for every weight, on full
    /// sequences and on sequences shorter than the context.
    #[test]
    fn gradients_match_burn_autodiff() {
        let _rng = test_rng();
        let model = tiny().init(5, &Device::flex().autodiff());
        let parameters = model.valid().host_parameters().unwrap().remove(0);
        let mut proxy = CpuProxy::new(&tiny(), parameters);
        for (sequences, width) in [(3, 13), (2, 8)] {
            let batch = rows(sequences, width, width as u32);
            let (burn_loss, burn_grads) = burn_gradients(&model, &batch, sequences);
            let loss = proxy.gradients(&batch, sequences).unwrap();
            assert!(
                (loss - burn_loss).abs() < 1e-5,
                "loss {loss} vs {burn_loss}"
            );
            for (i, burn_grad) in burn_grads.iter().enumerate() {
                assert_close(
                    &format!("gradient of parameter {i}"),
                    proxy.gradient(i),
                    burn_grad,
                );
            }
            let scored = proxy.sequence_losses(&batch, sequences).unwrap();
            let scored = scored.iter().sum::<f32>() / sequences as f32;
            assert!((scored - burn_loss).abs() < 1e-5, "{scored} vs {burn_loss}");
        }
    }

    /// Steps of clipping and AdamW land on the weights burn's loop lands on.
    #[test]
    fn training_steps_match_the_burn_loop() {
        let _rng = test_rng();
        let device = Device::flex().autodiff();
        let config = TrainConfig {
            clip_norm: 0.5,
            ..TrainConfig::default()
        };
        let mut model = tiny().init(9, &device);
        let parameters = model.valid().host_parameters().unwrap().remove(0);
        let mut proxy = CpuProxy::new(&tiny(), parameters);
        let mut optimizer = config.optimizer();
        let adamw = config.adamw();
        for step in 0..4 {
            let batch = rows(2, 13, step);
            let learning_rate = 1e-2 / (step + 1) as f64;
            let loss = next_token_loss(&model, rows_tensor(&batch, 1, 2, &device));
            let burn_loss = loss.clone().into_scalar::<f32>();
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            clip_per_model(&model, &mut grads, config.clip_norm);
            model = optimizer.step(learning_rate, model, grads);
            let ours = proxy.step(&batch, 2, learning_rate as f32, &adamw).unwrap();
            assert!(
                (ours - burn_loss).abs() < 1e-4,
                "step {step}: {ours} vs {burn_loss}"
            );
        }
        let trained = model.valid().host_parameters().unwrap().remove(0);
        for (i, (ours, burn)) in proxy.parameters().iter().zip(&trained).enumerate() {
            assert_close(&format!("parameter {i} after 4 steps"), ours, burn);
        }
    }
}
