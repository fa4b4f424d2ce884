//! Rotary position embeddings (RoPE, Su et al. 2021, LLaMA's interleaved pairs) for the CPU step: the
//! angle tables, shared with the burn model, and the in-place rotation of queries and keys.

use rayon::prelude::*;

use super::kernels::ROWS_PER_TASK;
use super::lanes::vectorised;

/// Rotary tables for `length` positions: `[length, head_dim / 2]` cosines and sines, one angle per pair;
/// the burn model's tables ([`crate::proxy::model`]) are laid out from these.
pub struct RopeTables {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub pairs: usize,
}

impl RopeTables {
    /// LLaMA's interleaved pairs: pair i at position t turns by `t * theta^(-2i / head_dim)`.
    pub fn new(length: usize, head_dim: usize, theta: f64) -> Self {
        let pairs = head_dim / 2;
        let mut cos = Vec::with_capacity(length * pairs);
        let mut sin = Vec::with_capacity(length * pairs);
        for t in 0..length {
            for i in 0..pairs {
                let frequency = theta.powf(-2.0 * i as f64 / head_dim as f64);
                let (s, c) = (t as f64 * frequency).sin_cos();
                cos.push(c as f32);
                sin.push(s as f32);
            }
        }
        Self { cos, sin, pairs }
    }
}

/// Rotates the first `2 * width` columns of each row of `qkv` (`row_width` floats per row, rows of
/// `length` positions): the queries (`[0, width)`, also scaled by `query_scale`) and the keys
/// (`[width, 2 width)`), head by head. `inverse` applies the transposed rotation (the backward pass).
pub fn rope(
    qkv: &mut [f32],
    row_width: usize,
    width: usize,
    length: usize,
    tables: &RopeTables,
    query_scale: f32,
    inverse: bool,
) {
    let sign = if inverse { -1.0 } else { 1.0 };
    qkv.par_chunks_mut(row_width * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, rows)| {
            let first = task * ROWS_PER_TASK;
            rope_rows(
                rows,
                row_width,
                width,
                length,
                tables,
                first,
                query_scale,
                sign,
            )
        });
}

vectorised! {
    /// [`rope`] over one task's rows, the first at row `first` of the batch; `sign` -1 inverts.
    #[allow(clippy::too_many_arguments)]
    fn rope_rows(
        rows: &mut [f32],
        row_width: usize,
        width: usize,
        length: usize,
        tables: &RopeTables,
        first: usize,
        query_scale: f32,
        sign: f32,
    ) {
        let pairs = tables.pairs;
        for (i, row) in rows.chunks_exact_mut(row_width).enumerate() {
            let t = (first + i) % length;
            let (cos, sin) = (
                &tables.cos[t * pairs..(t + 1) * pairs],
                &tables.sin[t * pairs..(t + 1) * pairs],
            );
            for (part, scale) in [(0, query_scale), (1, 1.0)] {
                let columns = &mut row[part * width..(part + 1) * width];
                for head in columns.chunks_exact_mut(2 * pairs) {
                    for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
                        let (x0, x1) = (pair[0], pair[1]);
                        let s = sign * s;
                        pair[0] = (x0 * c - x1 * s) * scale;
                        pair[1] = (x1 * c + x0 * s) * scale;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_inverse_undoes_the_rotation() {
        let tables = RopeTables::new(4, 4, 10_000.0);
        let original: Vec<f32> = (0..4 * 12).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut rotated = original.clone();
        rope(&mut rotated, 12, 4, 4, &tables, 1.0, false);
        assert!(
            rotated[12..]
                .iter()
                .zip(&original[12..])
                .any(|(a, b)| (a - b).abs() > 1e-3)
        );
        rope(&mut rotated, 12, 4, 4, &tables, 1.0, true);
        for (a, b) in rotated.iter().zip(&original) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
