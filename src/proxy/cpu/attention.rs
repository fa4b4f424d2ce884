//! Causal multi-head attention over a `[rows, 3 width]` buffer of rotated queries (already scaled by
//! 1/sqrt(head width)), keys and values, one rayon task per (sequence, head): two products per head
//! through single-threaded gemm, the masked softmax in between. The probabilities are kept for the
//! backward pass.

use rayon::prelude::*;

use super::kernels::{Shared, SharedMut, View, exp_minus_max, gemm_raw};
use super::lanes::{self, vectorised};

/// The sizes attention runs over.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub sequences: usize,
    pub length: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Heads {
    fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Floats of the kept probabilities: `[sequences, heads, length, length]`.
    pub fn probabilities_len(&self) -> usize {
        self.sequences * self.heads * self.length * self.length
    }

    /// A column block of a `[rows, row_width]` buffer: sequence `s`, columns from `column`.
    fn block(&self, base: *const f32, row_width: usize, s: usize, column: usize) -> View {
        View {
            // SAFETY (of the offset): within the buffer whenever s < sequences and column < row_width.
            ptr: base.wrapping_add(s * self.length * row_width + column),
            row_stride: row_width as isize,
            col_stride: 1,
        }
    }

    fn transposed(view: View) -> View {
        View {
            ptr: view.ptr,
            row_stride: view.col_stride,
            col_stride: view.row_stride,
        }
    }
}

/// `out[rows, width]` = softmax(q k^T + causal mask) v per head; `probabilities` receives each head's
/// `[length, length]` softmax (zeros above the diagonal).
pub fn forward(shape: Heads, qkv: &[f32], probabilities: &mut [f32], out: &mut [f32]) {
    let (length, width) = (shape.length, shape.width());
    assert!(qkv.len() >= shape.sequences * length * 3 * width);
    assert!(out.len() >= shape.sequences * length * width);
    assert!(probabilities.len() >= shape.probabilities_len());
    let (qkv, out_ptr) = (Shared(qkv.as_ptr()), SharedMut(out.as_mut_ptr()));
    probabilities
        .par_chunks_mut(length * length)
        .take(shape.sequences * shape.heads)
        .enumerate()
        .for_each(|(task, scores)| {
            let (s, h) = (task / shape.heads, task % shape.heads);
            let column = h * shape.head_dim;
            let q = shape.block(qkv.ptr(), 3 * width, s, column);
            let k = Heads::transposed(shape.block(qkv.ptr(), 3 * width, s, width + column));
            let v = shape.block(qkv.ptr(), 3 * width, s, 2 * width + column);
            // SAFETY: the asserts above bound every block; `scores` is this task's own chunk.
            unsafe {
                gemm_raw(
                    scores.as_mut_ptr(),
                    length,
                    q,
                    k,
                    (length, shape.head_dim, length),
                    false,
                    false,
                );
            }
            causal_softmax(scores, length);
            // SAFETY: each (sequence, head) writes its own column block of `out`.
            unsafe {
                gemm_raw(
                    out_ptr.ptr().add(s * length * width + column),
                    width,
                    View::dense(scores, length, false),
                    v,
                    (length, length, shape.head_dim),
                    false,
                    false,
                );
            }
        });
}

/// The backward pass: `d_qkv` (`[rows, 3 width]`, overwritten) from `d_out` (`[rows, width]`), with
/// the queries' gradient still in rotated, scaled coordinates.
pub fn backward(
    shape: Heads,
    qkv: &[f32],
    probabilities: &[f32],
    d_out: &[f32],
    d_qkv: &mut [f32],
) {
    let (length, width) = (shape.length, shape.width());
    assert!(qkv.len() >= shape.sequences * length * 3 * width);
    assert!(d_qkv.len() >= shape.sequences * length * 3 * width);
    assert!(d_out.len() >= shape.sequences * length * width);
    assert!(probabilities.len() >= shape.probabilities_len());
    let (qkv, d_out, d_qkv) = (
        Shared(qkv.as_ptr()),
        Shared(d_out.as_ptr()),
        SharedMut(d_qkv.as_mut_ptr()),
    );
    probabilities
        .par_chunks(length * length)
        .take(shape.sequences * shape.heads)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; length * length],
            |d_scores, (task, p)| {
                let (s, h) = (task / shape.heads, task % shape.heads);
                let column = h * shape.head_dim;
                let q = shape.block(qkv.ptr(), 3 * width, s, column);
                let k = shape.block(qkv.ptr(), 3 * width, s, width + column);
                let v = shape.block(qkv.ptr(), 3 * width, s, 2 * width + column);
                let d_o = shape.block(d_out.ptr(), width, s, column);
                let target = |part: usize| {
                    (d_qkv.ptr()).wrapping_add(s * length * 3 * width + part * width + column)
                };
                let p_view = View::dense(p, length, false);
                let d_scores_view = View::dense(d_scores, length, false);
                // SAFETY: the asserts above bound every block; each (sequence, head) writes its own
                // column blocks of `d_qkv`, and `d_scores` is this task's scratch.
                unsafe {
                    // dV = P^T dO
                    gemm_raw(
                        target(2),
                        3 * width,
                        Heads::transposed(p_view),
                        d_o,
                        (length, length, shape.head_dim),
                        false,
                        false,
                    );
                    // dP = dO V^T
                    gemm_raw(
                        d_scores.as_mut_ptr(),
                        length,
                        d_o,
                        Heads::transposed(v),
                        (length, shape.head_dim, length),
                        false,
                        false,
                    );
                }
                // dS = P * (dP - rowsum(dP * P)); zero where masked, as P is.
                causal_softmax_backward(d_scores, p, length);
                // SAFETY: as above.
                unsafe {
                    // dQ = dS K
                    gemm_raw(
                        target(0),
                        3 * width,
                        d_scores_view,
                        k,
                        (length, length, shape.head_dim),
                        false,
                        false,
                    );
                    // dK = dS^T Q
                    gemm_raw(
                        target(1),
                        3 * width,
                        Heads::transposed(d_scores_view),
                        q,
                        (length, length, shape.head_dim),
                        false,
                        false,
                    );
                }
            },
        );
}

vectorised! {
    /// Each `length`-wide row `i` of `scores` becomes the softmax of its first `i + 1` entries, zeros
    /// after them (the causal mask).
    fn causal_softmax(scores: &mut [f32], length: usize) {
        for (i, row) in scores.chunks_exact_mut(length).enumerate() {
            let visible = &mut row[..=i];
            let (_, sum) = exp_minus_max(visible);
            let inverse = 1.0 / sum;
            visible.iter_mut().for_each(|v| *v *= inverse);
            row[i + 1..].fill(0.0);
        }
    }
}

vectorised! {
    /// The softmax's backward, row by row in place: `dS = P * (dP - rowsum(dP * P))`, zero where
    /// masked, as `P` (`p`) is.
    fn causal_softmax_backward(d_scores: &mut [f32], p: &[f32], length: usize) {
        for (i, (d_row, p_row)) in d_scores
            .chunks_exact_mut(length)
            .zip(p.chunks_exact(length))
            .enumerate()
        {
            let dot = lanes::dot(&d_row[..=i], &p_row[..=i]);
            for (d, p) in d_row[..=i].iter_mut().zip(&p_row[..=i]) {
                *d = p * (*d - dot);
            }
            d_row[i + 1..].fill(0.0);
        }
    }
}
