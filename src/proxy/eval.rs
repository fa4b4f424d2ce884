//! Scoring proxies: each stacked model's mean next-token loss over a domain's fixed validation sequences
//! ([`super::data::validation_sets`]), without gradients, and the small tensor helpers both training
//! loops share.

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::TensorData;

use super::data::ValidationSet;
use super::model::{ProxyModel, next_token_loss};

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
