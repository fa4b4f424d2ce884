//! Scoring proxies: each stacked model's mean next-token loss over a domain's fixed validation sequences
//! ([`super::data::validation_sets`]), without gradients, and the small tensor helpers both training
//! loops share.

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::TensorData;

use super::data::ValidationSet;
use super::model::{ProxyModel, token_losses};

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

/// A proxy's loss on one domain's validation sequences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationLoss {
    /// Mean next-token loss over the sequences (nats per token; every target counted once).
    pub loss: f64,
    /// Its sampling error: the standard deviation of the per-sequence mean losses over the square
    /// root of their count (nats; the sequence is the unit, since a sequence's tokens are not
    /// independent). NaN with one sequence.
    pub standard_error: f64,
}

impl ValidationLoss {
    /// The mean and standard error of per-sequence mean losses.
    pub fn of_sequences(losses: &[f64]) -> ValidationLoss {
        let n = losses.len().max(1) as f64;
        let loss = losses.iter().sum::<f64>() / n;
        let variance = losses.iter().map(|l| (l - loss).powi(2)).sum::<f64>() / (n - 1.0);
        ValidationLoss {
            loss,
            standard_error: (variance / n).sqrt(),
        }
    }
}

/// Each stacked model's loss over a domain's validation sequences (every model reads the same
/// sequences).
pub fn validation_losses(
    model: &ProxyModel,
    set: &ValidationSet,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<ValidationLoss>> {
    let models = model.models();
    validation_losses_with(set, batch_size, models, |chunk, rows| {
        let one = rows_tensor(chunk, 1, rows, device);
        let losses = token_losses(model, one.repeat_dim(0, models));
        host_values(losses.mean_dim(2).reshape([models * rows]))
    })
}

/// Each of `models` models' loss over a domain's validation sequences, given `score(rows,
/// sequences)`, the models' mean loss of each of a chunk of at most `batch_size` sequences
/// (`[models, sequences]`, model-major).
pub(crate) fn validation_losses_with(
    set: &ValidationSet,
    batch_size: usize,
    models: usize,
    mut score: impl FnMut(&[u32], usize) -> Result<Vec<f64>>,
) -> Result<Vec<ValidationLoss>> {
    let width = set.tokens.len() / set.sequences.max(1);
    let mut per_sequence = vec![Vec::with_capacity(set.sequences); models];
    for chunk in set.tokens.chunks(width * batch_size.max(1)) {
        let rows = chunk.len() / width;
        let losses = score(chunk, rows)?;
        if losses.len() != models * rows {
            anyhow::bail!(
                "scoring {rows} sequences on {models} models gave {} losses, not {}",
                losses.len(),
                models * rows
            );
        }
        for (model, losses) in per_sequence.iter_mut().zip(losses.chunks(rows)) {
            model.extend_from_slice(losses);
        }
    }
    Ok(per_sequence
        .iter()
        .map(|losses| ValidationLoss::of_sequences(losses))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_error_is_the_spread_of_sequence_losses_over_root_n() {
        let l = ValidationLoss::of_sequences(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(l.loss, 2.5);
        // Sample variance 5/3, over 4 sequences.
        assert!((l.standard_error - (5.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
        assert!(ValidationLoss::of_sequences(&[2.0]).standard_error.is_nan());
    }

    /// Chunked scoring keeps each model's sequences together, in order.
    #[test]
    fn chunks_are_scored_per_model() {
        let set = ValidationSet {
            domain: "d".into(),
            eval_only: false,
            tokens: (0..5 * 3).collect(),
            sequences: 5,
        };
        // Model m's loss of a sequence is its first token id plus 100 m.
        let losses = validation_losses_with(&set, 2, 2, |chunk, rows| {
            Ok((0..2)
                .flat_map(|m| chunk.chunks(3).map(move |s| s[0] as f64 + 100.0 * m as f64))
                .take(2 * rows)
                .collect())
        })
        .unwrap();
        assert_eq!(losses[0].loss, 6.0);
        assert_eq!(losses[1].loss, 106.0);
        assert_eq!(losses[0].standard_error, losses[1].standard_error);
    }
}
