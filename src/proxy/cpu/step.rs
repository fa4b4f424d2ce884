//! One proxy's training step on the CPU: the forward pass keeping what the backward pass needs, the
//! backward pass written out layer by layer, gradient clipping and AdamW, over one flat buffer of
//! weights laid out as [`ProxyModel::parameters`](super::super::model::ProxyModel::parameters) lists
//! them (embedding; per block: attention norm, qkv, output, feed-forward norm, gate-up, down; final
//! norm; head).

use anyhow::{Result, bail};

use super::attention;
use super::kernels::{
    cross_entropy, cross_entropy_with_grad, matmul, rms_norm, rms_norm_backward, swiglu,
    swiglu_backward,
};
use super::rope::{RopeTables, rope};
use super::workspace::{Workspace, heads};
use crate::proxy::model::{NORM_EPSILON, ProxyShape};

/// AdamW's settings: burn's `AdamW` (epsilon 1e-5, decoupled decay on every weight), so the CPU step
/// follows the same path as training in burn.
#[derive(Debug, Clone, Copy)]
pub struct AdamW {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    pub clip_norm: f32,
}

/// One proxy's weights with their gradients and AdamW moments.
pub struct CpuProxy {
    shape: ProxyShape,
    /// Where each parameter starts in `weights`, and one past the last.
    offsets: Vec<usize>,
    pub weights: Vec<f32>,
    grads: Vec<f32>,
    moment_1: Vec<f32>,
    moment_2: Vec<f32>,
    time: i32,
    rope: RopeTables,
    workspace: Option<Workspace>,
}

/// Parameter numbers in the flat buffer.
const EMBEDDING: usize = 0;
const ATTENTION_NORM: usize = 0;
const QKV: usize = 1;
const OUTPUT: usize = 2;
const FFN_NORM: usize = 3;
const GATE_UP: usize = 4;
const DOWN: usize = 5;
const PER_BLOCK: usize = 6;

/// The number of parameter `which` of block `layer`.
fn block_parameter(layer: usize, which: usize) -> usize {
    1 + layer * PER_BLOCK + which
}

/// Splits rows of `length + 1` token ids into inputs and targets, refusing ids outside the vocabulary.
fn inputs_and_targets(rows: &[u32], width: usize, vocab: usize) -> Result<(Vec<u32>, Vec<u32>)> {
    if let Some(bad) = rows.iter().find(|&&t| t as usize >= vocab) {
        bail!(
            "token id {bad} is outside the proxy's vocabulary of {vocab}: re-tokenize the corpus"
        );
    }
    let inputs = rows
        .chunks_exact(width)
        .flat_map(|r| &r[..width - 1])
        .copied()
        .collect();
    let targets = rows
        .chunks_exact(width)
        .flat_map(|r| &r[1..])
        .copied()
        .collect();
    Ok((inputs, targets))
}

impl CpuProxy {
    /// A proxy of `shape` with the given parameters (in [`ProxyModel::parameters`] order), as read from
    /// a burn model.
    ///
    /// [`ProxyModel::parameters`]: crate::proxy::model::ProxyModel::parameters
    pub fn new(shape: &ProxyShape, parameters: Vec<Vec<f32>>) -> Self {
        let mut offsets = vec![0];
        for p in &parameters {
            offsets.push(offsets.last().copied().unwrap_or(0) + p.len());
        }
        let weights: Vec<f32> = parameters.into_iter().flatten().collect();
        let n = weights.len();
        Self {
            shape: shape.clone(),
            offsets,
            weights,
            grads: vec![0.0; n],
            moment_1: vec![0.0; n],
            moment_2: vec![0.0; n],
            time: 0,
            rope: RopeTables::new(
                shape.context,
                shape.d_model / shape.heads,
                shape.rope_theta as f64,
            ),
            workspace: None,
        }
    }

    /// The parameters, in [`ProxyModel::parameters`] order.
    ///
    /// [`ProxyModel::parameters`]: crate::proxy::model::ProxyModel::parameters
    pub fn parameters(&self) -> Vec<&[f32]> {
        self.offsets
            .windows(2)
            .map(|w| &self.weights[w[0]..w[1]])
            .collect()
    }

    fn final_norm(&self) -> usize {
        1 + self.shape.layers * PER_BLOCK
    }

    fn head(&self) -> usize {
        2 + self.shape.layers * PER_BLOCK
    }

    fn range(&self, parameter: usize) -> std::ops::Range<usize> {
        self.offsets[parameter]..self.offsets[parameter + 1]
    }

    fn workspace(&mut self, sequences: usize, length: usize) -> Workspace {
        match self.workspace.take() {
            Some(w) if w.rows == sequences * length && w.length == length => w,
            _ => Workspace::new(&self.shape, sequences, length),
        }
    }

    /// Each sequence's mean next-token loss (`sequences` rows of `length + 1` token ids), without
    /// gradients: `[sequences]`.
    pub fn sequence_losses(&mut self, rows: &[u32], sequences: usize) -> Result<Vec<f32>> {
        let width = rows.len() / sequences.max(1);
        let (inputs, targets) = inputs_and_targets(rows, width, self.shape.vocab_size)?;
        let mut w = self.workspace(sequences, width - 1);
        self.forward(&inputs, sequences, &mut w);
        let losses = cross_entropy(&w.logits, self.shape.vocab_size, &targets);
        self.workspace = Some(w);
        Ok(losses
            .chunks(width - 1)
            .map(|l| l.iter().sum::<f32>() / l.len() as f32)
            .collect())
    }

    /// One training step on `rows`: forward, backward, clipping, AdamW at `learning_rate`. Returns the
    /// batch's mean loss before the update.
    pub fn step(
        &mut self,
        rows: &[u32],
        sequences: usize,
        learning_rate: f32,
        adamw: &AdamW,
    ) -> Result<f32> {
        let loss = self.gradients(rows, sequences)?;
        self.update(learning_rate, adamw);
        Ok(loss)
    }

    /// The mean loss of `rows` and, in [`Self::gradient`], its gradient with respect to every weight.
    pub fn gradients(&mut self, rows: &[u32], sequences: usize) -> Result<f32> {
        let width = rows.len() / sequences.max(1);
        let (inputs, targets) = inputs_and_targets(rows, width, self.shape.vocab_size)?;
        let mut w = self.workspace(sequences, width - 1);
        self.forward(&inputs, sequences, &mut w);
        let losses = cross_entropy_with_grad(&mut w.logits, self.shape.vocab_size, &targets);
        self.backward(&inputs, sequences, &mut w);
        self.workspace = Some(w);
        Ok(losses.iter().sum::<f32>() / losses.len() as f32)
    }

    /// The last computed gradient of a parameter (numbered in [`Self::parameters`] order).
    pub fn gradient(&self, parameter: usize) -> &[f32] {
        &self.grads[self.range(parameter)]
    }

    fn forward(&self, inputs: &[u32], sequences: usize, w: &mut Workspace) {
        let s = &self.shape;
        let (n, d, f, v) = (w.rows, s.d_model, s.ffn_hidden, s.vocab_size);
        let epsilon = NORM_EPSILON as f32;
        let heads = heads(s, sequences, w.length);
        let query_scale = 1.0 / (heads.head_dim as f32).sqrt();
        let table = &self.weights[self.range(EMBEDDING)];
        for (row, &token) in w.x.chunks_exact_mut(d).zip(inputs) {
            row.copy_from_slice(&table[token as usize * d..(token as usize + 1) * d]);
        }
        for (layer, a) in w.blocks.iter_mut().enumerate() {
            let p = |which| &self.weights[self.range(block_parameter(layer, which))];
            a.x_in.copy_from_slice(&w.x);
            rms_norm(
                &a.x_in,
                p(ATTENTION_NORM),
                epsilon,
                &mut a.normed_1,
                &mut a.inverse_rms_1,
            );
            matmul(
                &mut a.qkv,
                &a.normed_1,
                false,
                p(QKV),
                false,
                (n, d, 3 * d),
                false,
            );
            rope(
                &mut a.qkv,
                3 * d,
                d,
                w.length,
                &self.rope,
                query_scale,
                false,
            );
            attention::forward(heads, &a.qkv, &mut a.probabilities, &mut a.attended);
            a.x_mid.copy_from_slice(&a.x_in);
            matmul(
                &mut a.x_mid,
                &a.attended,
                false,
                p(OUTPUT),
                false,
                (n, d, d),
                true,
            );
            rms_norm(
                &a.x_mid,
                p(FFN_NORM),
                epsilon,
                &mut a.normed_2,
                &mut a.inverse_rms_2,
            );
            matmul(
                &mut a.gate_up,
                &a.normed_2,
                false,
                p(GATE_UP),
                false,
                (n, d, 2 * f),
                false,
            );
            swiglu(&a.gate_up, f, &mut a.hidden);
            w.x.copy_from_slice(&a.x_mid);
            matmul(&mut w.x, &a.hidden, false, p(DOWN), false, (n, f, d), true);
        }
        let final_norm = &self.weights[self.range(self.final_norm())];
        rms_norm(&w.x, final_norm, epsilon, &mut w.normed, &mut w.inverse_rms);
        let head = &self.weights[self.range(self.head())];
        matmul(
            &mut w.logits,
            &w.normed,
            false,
            head,
            false,
            (n, d, v),
            false,
        );
    }

    /// Fills `grads` from the gradient of the mean loss that `w.logits` holds.
    fn backward(&mut self, inputs: &[u32], sequences: usize, w: &mut Workspace) {
        let s = self.shape.clone();
        let (n, d, f, v) = (w.rows, s.d_model, s.ffn_hidden, s.vocab_size);
        let heads = heads(&s, sequences, w.length);
        let query_scale = 1.0 / (heads.head_dim as f32).sqrt();
        let ranges: Vec<_> = (0..self.offsets.len() - 1).map(|p| self.range(p)).collect();
        let (head, final_norm) = (
            ranges[self.head()].clone(),
            ranges[self.final_norm()].clone(),
        );
        let (weights, grads) = (&self.weights, &mut self.grads);

        matmul(
            &mut grads[head.clone()],
            &w.normed,
            true,
            &w.logits,
            false,
            (d, n, v),
            false,
        );
        matmul(
            &mut w.d_normed,
            &w.logits,
            false,
            &weights[head],
            true,
            (n, v, d),
            false,
        );
        w.d_x.fill(0.0);
        rms_norm_backward(
            &w.x,
            &weights[final_norm.clone()],
            &w.inverse_rms,
            &w.d_normed,
            &mut w.d_x,
            &mut grads[final_norm],
        );
        for (layer, a) in w.blocks.iter().enumerate().rev() {
            let r = |which: usize| ranges[block_parameter(layer, which)].clone();
            // x_out = x_mid + silu(gate) * up @ down
            matmul(
                &mut grads[r(DOWN)],
                &a.hidden,
                true,
                &w.d_x,
                false,
                (f, n, d),
                false,
            );
            matmul(
                &mut w.d_hidden,
                &w.d_x,
                false,
                &weights[r(DOWN)],
                true,
                (n, d, f),
                false,
            );
            swiglu_backward(&a.gate_up, f, &w.d_hidden, &mut w.d_gate_up);
            let gate_up = r(GATE_UP);
            matmul(
                &mut grads[gate_up.clone()],
                &a.normed_2,
                true,
                &w.d_gate_up,
                false,
                (d, n, 2 * f),
                false,
            );
            matmul(
                &mut w.d_normed,
                &w.d_gate_up,
                false,
                &weights[gate_up],
                true,
                (n, 2 * f, d),
                false,
            );
            rms_norm_backward(
                &a.x_mid,
                &weights[r(FFN_NORM)],
                &a.inverse_rms_2,
                &w.d_normed,
                &mut w.d_x,
                &mut grads[r(FFN_NORM)],
            );
            // x_mid = x_in + attention(rms_norm(x_in)) @ output
            matmul(
                &mut grads[r(OUTPUT)],
                &a.attended,
                true,
                &w.d_x,
                false,
                (d, n, d),
                false,
            );
            matmul(
                &mut w.d_attended,
                &w.d_x,
                false,
                &weights[r(OUTPUT)],
                true,
                (n, d, d),
                false,
            );
            attention::backward(heads, &a.qkv, &a.probabilities, &w.d_attended, &mut w.d_qkv);
            rope(
                &mut w.d_qkv,
                3 * d,
                d,
                w.length,
                &self.rope,
                query_scale,
                true,
            );
            matmul(
                &mut grads[r(QKV)],
                &a.normed_1,
                true,
                &w.d_qkv,
                false,
                (d, n, 3 * d),
                false,
            );
            matmul(
                &mut w.d_normed,
                &w.d_qkv,
                false,
                &weights[r(QKV)],
                true,
                (n, 3 * d, d),
                false,
            );
            rms_norm_backward(
                &a.x_in,
                &weights[r(ATTENTION_NORM)],
                &a.inverse_rms_1,
                &w.d_normed,
                &mut w.d_x,
                &mut grads[r(ATTENTION_NORM)],
            );
        }
        let table = &mut grads[ranges[EMBEDDING].clone()];
        table.fill(0.0);
        for (row, &token) in w.d_x.chunks_exact(d).zip(inputs) {
            let start = token as usize * d;
            for (g, dx) in table[start..start + d].iter_mut().zip(row) {
                *g += dx;
            }
        }
    }

    /// Clips the gradient to `clip_norm` (one norm over every weight) and takes an AdamW step.
    fn update(&mut self, learning_rate: f32, adamw: &AdamW) {
        let norm = self
            .grads
            .iter()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt() as f32;
        let clip = (adamw.clip_norm / (norm + 1e-6)).min(1.0);
        self.time += 1;
        let correction_1 = 1.0 - adamw.beta_1.powi(self.time);
        let correction_2 = 1.0 - adamw.beta_2.powi(self.time);
        let decay = 1.0 - learning_rate * adamw.weight_decay;
        let chunk = 1 << 14;
        use rayon::prelude::*;
        self.weights
            .par_chunks_mut(chunk)
            .zip(self.grads.par_chunks(chunk))
            .zip(self.moment_1.par_chunks_mut(chunk))
            .zip(self.moment_2.par_chunks_mut(chunk))
            .for_each(|(((weights, grads), moment_1), moment_2)| {
                let step = AdamWStep {
                    clip,
                    learning_rate,
                    decay,
                    correction_1,
                    correction_2,
                };
                adamw_chunk(weights, grads, moment_1, moment_2, adamw, &step)
            });
    }
}

/// One AdamW step's scalars, beside the optimiser's settings.
struct AdamWStep {
    clip: f32,
    learning_rate: f32,
    decay: f32,
    correction_1: f32,
    correction_2: f32,
}

super::lanes::vectorised! {
    /// AdamW on one chunk of the weights, their gradients and moments.
    fn adamw_chunk(
        weights: &mut [f32],
        grads: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
        adamw: &AdamW,
        step: &AdamWStep,
    ) {
        for (((w, &g), m), v) in weights.iter_mut().zip(grads).zip(moment_1).zip(moment_2) {
            let g = g * step.clip;
            *m = adamw.beta_1 * *m + (1.0 - adamw.beta_1) * g;
            *v = adamw.beta_2 * *v + (1.0 - adamw.beta_2) * g * g;
            let update = (*m / step.correction_1) / ((*v / step.correction_2).sqrt() + adamw.epsilon);
            *w = *w * step.decay - step.learning_rate * update;
        }
    }
}
