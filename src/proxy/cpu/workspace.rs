//! The buffers one CPU training step works in ([`Workspace`]): per block the activations the backward
//! pass needs, and the gradients of the activations, sized for one batch shape and reused from step to
//! step.

use super::attention::Heads;
use crate::proxy::model::ProxyShape;

/// A block's activations kept for the backward pass.
pub(super) struct BlockActivations {
    pub(super) x_in: Vec<f32>,
    pub(super) inverse_rms_1: Vec<f32>,
    pub(super) normed_1: Vec<f32>,
    /// Rotated, scaled queries; rotated keys; values.
    pub(super) qkv: Vec<f32>,
    pub(super) probabilities: Vec<f32>,
    pub(super) attended: Vec<f32>,
    pub(super) x_mid: Vec<f32>,
    pub(super) inverse_rms_2: Vec<f32>,
    pub(super) normed_2: Vec<f32>,
    pub(super) gate_up: Vec<f32>,
    pub(super) hidden: Vec<f32>,
}

/// Buffers for one batch shape, reused from step to step.
pub(super) struct Workspace {
    pub(super) rows: usize,
    pub(super) length: usize,
    pub(super) blocks: Vec<BlockActivations>,
    pub(super) x: Vec<f32>,
    pub(super) inverse_rms: Vec<f32>,
    pub(super) normed: Vec<f32>,
    pub(super) logits: Vec<f32>,
    pub(super) d_x: Vec<f32>,
    pub(super) d_normed: Vec<f32>,
    pub(super) d_qkv: Vec<f32>,
    pub(super) d_attended: Vec<f32>,
    pub(super) d_hidden: Vec<f32>,
    pub(super) d_gate_up: Vec<f32>,
}

impl Workspace {
    pub(super) fn new(shape: &ProxyShape, sequences: usize, length: usize) -> Self {
        let rows = sequences * length;
        let (d, f) = (shape.d_model, shape.ffn_hidden);
        let heads = heads(shape, sequences, length);
        let block = || BlockActivations {
            x_in: vec![0.0; rows * d],
            inverse_rms_1: vec![0.0; rows],
            normed_1: vec![0.0; rows * d],
            qkv: vec![0.0; rows * 3 * d],
            probabilities: vec![0.0; heads.probabilities_len()],
            attended: vec![0.0; rows * d],
            x_mid: vec![0.0; rows * d],
            inverse_rms_2: vec![0.0; rows],
            normed_2: vec![0.0; rows * d],
            gate_up: vec![0.0; rows * 2 * f],
            hidden: vec![0.0; rows * f],
        };
        Self {
            rows,
            length,
            blocks: (0..shape.layers).map(|_| block()).collect(),
            x: vec![0.0; rows * d],
            inverse_rms: vec![0.0; rows],
            normed: vec![0.0; rows * d],
            logits: vec![0.0; rows * shape.vocab_size],
            d_x: vec![0.0; rows * d],
            d_normed: vec![0.0; rows * d],
            d_qkv: vec![0.0; rows * 3 * d],
            d_attended: vec![0.0; rows * d],
            d_hidden: vec![0.0; rows * f],
            d_gate_up: vec![0.0; rows * 2 * f],
        }
    }
}

pub(super) fn heads(shape: &ProxyShape, sequences: usize, length: usize) -> Heads {
    Heads {
        sequences,
        length,
        heads: shape.heads,
        head_dim: shape.d_model / shape.heads,
    }
}
