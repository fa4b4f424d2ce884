//! The CPU training step's building blocks, each a forward and a backward over row-major `f32` rows:
//! matrix products through the `gemm` crate (AVX-512 or AVX2 microkernels picked at run time), and
//! fused elementwise passes (RMSNorm, SwiGLU, softmax cross-entropy; rotary embeddings in [`super::rope`]) that read and
//! write each activation once, spread over the cores with rayon and compiled for the widest vector
//! instructions the CPU has ([`super::lanes`]).

use rayon::prelude::*;

use super::lanes::{self, vectorised};

/// Rows per rayon task in the elementwise passes: enough work per task to amortise scheduling.
pub(super) const ROWS_PER_TASK: usize = 64;

/// A matrix operand: a pointer with its row and column strides, so a transposed matrix, a head's columns
/// of a wider row, or a block of a batch are read in place.
#[derive(Clone, Copy)]
pub struct View {
    pub ptr: *const f32,
    pub row_stride: isize,
    pub col_stride: isize,
}

impl View {
    /// `data` as a row-major `[rows, cols]` matrix, or its transpose when `transposed` (the matrix seen is
    /// then `[cols, rows]`).
    pub fn dense(data: &[f32], cols: usize, transposed: bool) -> Self {
        let (row_stride, col_stride) = if transposed {
            (1, cols as isize)
        } else {
            (cols as isize, 1)
        };
        Self {
            ptr: data.as_ptr(),
            row_stride,
            col_stride,
        }
    }
}

/// `out[m, n] (+)= a[m, k] · b[k, n]`, `out` row-major with `out_stride` floats per row.
///
/// # Safety
/// Every element the shapes and strides address must lie inside the operands' allocations, and `out`
/// must not overlap `a` or `b` nor be written by another thread meanwhile.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_raw(
    out: *mut f32,
    out_stride: usize,
    a: View,
    b: View,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
    threads: bool,
) {
    let parallelism = if threads && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller guarantees the operands cover every addressed element.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            out_stride as isize,
            accumulate,
            a.ptr,
            a.col_stride,
            a.row_stride,
            b.ptr,
            b.col_stride,
            b.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `out[m, n] (+)= op(a) · op(b)` over dense row-major buffers, where `op(a)` is `a` (`[m, k]`) or, with
/// `a_transposed`, the transpose of `a` stored as `[k, m]`; likewise `b` (`[k, n]`, or `[n, k]`
/// transposed). Uses every core.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    b_transposed: bool,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(out.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    let a = View::dense(a, if a_transposed { m } else { k }, a_transposed);
    let b = View::dense(b, if b_transposed { k } else { n }, b_transposed);
    // SAFETY: the lengths were checked against the dense shapes, and `out` is a unique borrow.
    unsafe { gemm_raw(out.as_mut_ptr(), n, a, b, (m, k, n), accumulate, true) }
}

/// A pointer that rayon tasks may share, for tasks that write disjoint parts of one buffer.
/// (Closures call [`SharedMut::ptr`] rather than read the field, so they capture the wrapper.)
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32);
// SAFETY: only handed to tasks that write disjoint elements.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// A read-only pointer that rayon tasks may share.
#[derive(Clone, Copy)]
pub struct Shared(pub *const f32);
// SAFETY: read-only while shared.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    pub fn ptr(self) -> *const f32 {
        self.0
    }
}

/// `e^x` in single precision, branch-free so loops over it vectorise: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2`, a degree-6 polynomial for `e^r`, and `2^n` built from its exponent bits.
/// Relative error below 3e-7 on `[-80, 80]` (tested); inputs below -87 give about 1e-38, as softmax wants.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5 * 2^23 (no call to `roundf`, which baseline x86-64
    // lacks as an instruction and which stops the loop from vectorising).
    const ROUNDER: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_452 + r * 0.001_388_889)))));
    // `shifted` holds n in its low mantissa bits, offset by the rounder's own bits: 2^n's exponent field
    // without a float-to-integer conversion, whose saturation (and the overflow check of a test build)
    // would keep the loop scalar.
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(exponent << 23)
}

/// RMSNorm: `y = x / sqrt(mean(x^2) + eps) * gain` per row of `width`; keeps each row's inverse RMS for
/// the backward pass.
pub fn rms_norm(x: &[f32], gain: &[f32], epsilon: f32, y: &mut [f32], inverse_rms: &mut [f32]) {
    let width = gain.len();
    y.par_chunks_mut(width * ROWS_PER_TASK)
        .zip(inverse_rms.par_chunks_mut(ROWS_PER_TASK))
        .zip(x.par_chunks(width * ROWS_PER_TASK))
        .for_each(|((y, inverse_rms), x)| rms_norm_rows(x, gain, epsilon, y, inverse_rms));
}

vectorised! {
    /// [`rms_norm`] over one task's rows.
    fn rms_norm_rows(x: &[f32], gain: &[f32], epsilon: f32, y: &mut [f32], inverse_rms: &mut [f32]) {
        let width = gain.len();
        for ((y, r), x) in y
            .chunks_exact_mut(width)
            .zip(inverse_rms.iter_mut())
            .zip(x.chunks_exact(width))
        {
            let mean_square = lanes::dot(x, x) / width as f32;
            *r = 1.0 / (mean_square + epsilon).sqrt();
            for ((y, x), g) in y.iter_mut().zip(x).zip(gain) {
                *y = x * *r * g;
            }
        }
    }
}

/// RMSNorm's backward: adds `dL/dx` to `dx` and writes `dL/dgain` to `dgain`, given `dy = dL/dy`.
pub fn rms_norm_backward(
    x: &[f32],
    gain: &[f32],
    inverse_rms: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dgain: &mut [f32],
) {
    let width = gain.len();
    let partial_gains: Vec<Vec<f32>> = dx
        .par_chunks_mut(width * ROWS_PER_TASK)
        .zip(x.par_chunks(width * ROWS_PER_TASK))
        .zip(dy.par_chunks(width * ROWS_PER_TASK))
        .zip(inverse_rms.par_chunks(ROWS_PER_TASK))
        .map(|(((dx, x), dy), inverse_rms)| {
            let mut dgain = vec![0.0f32; width];
            rms_norm_backward_rows(x, gain, inverse_rms, dy, dx, &mut dgain);
            dgain
        })
        .collect();
    dgain.fill(0.0);
    for partial in partial_gains {
        for (g, p) in dgain.iter_mut().zip(partial) {
            *g += p;
        }
    }
}

vectorised! {
    /// [`rms_norm_backward`] over one task's rows, adding their `dL/dgain` to `dgain`.
    fn rms_norm_backward_rows(
        x: &[f32],
        gain: &[f32],
        inverse_rms: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        dgain: &mut [f32],
    ) {
        let width = gain.len();
        let mut dy_gain = vec![0.0f32; width];
        for (((dx, x), dy), &r) in dx
            .chunks_exact_mut(width)
            .zip(x.chunks_exact(width))
            .zip(dy.chunks_exact(width))
            .zip(inverse_rms)
        {
            for (((dgain, dy_gain), (&dy, &x)), &g) in dgain
                .iter_mut()
                .zip(dy_gain.iter_mut())
                .zip(dy.iter().zip(x))
                .zip(gain)
            {
                *dgain += dy * x * r;
                *dy_gain = dy * g;
            }
            let correction = lanes::dot(&dy_gain, x) * r * r * r / width as f32;
            for ((dx, &dy_gain), &x) in dx.iter_mut().zip(&dy_gain).zip(x) {
                *dx += r * dy_gain - x * correction;
            }
        }
    }
}

/// SwiGLU: `out = silu(gate) * up` where each row of `gate_up` is `[gate | up]`, `hidden` each.
pub fn swiglu(gate_up: &[f32], hidden: usize, out: &mut [f32]) {
    out.par_chunks_mut(hidden * ROWS_PER_TASK)
        .zip(gate_up.par_chunks(2 * hidden * ROWS_PER_TASK))
        .for_each(|(out, gate_up)| swiglu_rows(gate_up, hidden, out));
}

vectorised! {
    /// [`swiglu`] over one task's rows.
    fn swiglu_rows(gate_up: &[f32], hidden: usize, out: &mut [f32]) {
        for (out, row) in out
            .chunks_exact_mut(hidden)
            .zip(gate_up.chunks_exact(2 * hidden))
        {
            let (gate, up) = row.split_at(hidden);
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + fast_exp(-g)) * u;
            }
        }
    }
}

/// SwiGLU's backward: `d_gate_up` (rows `[d gate | d up]`) from `d_out`.
pub fn swiglu_backward(gate_up: &[f32], hidden: usize, d_out: &[f32], d_gate_up: &mut [f32]) {
    d_gate_up
        .par_chunks_mut(2 * hidden * ROWS_PER_TASK)
        .zip(gate_up.par_chunks(2 * hidden * ROWS_PER_TASK))
        .zip(d_out.par_chunks(hidden * ROWS_PER_TASK))
        .for_each(|((d_gate_up, gate_up), d_out)| {
            swiglu_backward_rows(gate_up, hidden, d_out, d_gate_up)
        });
}

vectorised! {
    /// [`swiglu_backward`] over one task's rows.
    fn swiglu_backward_rows(gate_up: &[f32], hidden: usize, d_out: &[f32], d_gate_up: &mut [f32]) {
        for ((d_row, row), d_out) in d_gate_up
            .chunks_exact_mut(2 * hidden)
            .zip(gate_up.chunks_exact(2 * hidden))
            .zip(d_out.chunks_exact(hidden))
        {
            let (gate, up) = row.split_at(hidden);
            let (d_gate, d_up) = d_row.split_at_mut(hidden);
            for (((d_gate, d_up), &d_out), (&g, &u)) in d_gate
                .iter_mut()
                .zip(d_up.iter_mut())
                .zip(d_out)
                .zip(gate.iter().zip(up))
            {
                let sigmoid = 1.0 / (1.0 + fast_exp(-g));
                *d_up = d_out * (g * sigmoid);
                *d_gate = d_out * u * sigmoid * (1.0 + g * (1.0 - sigmoid));
            }
        }
    }
}

/// Softmax cross-entropy of each row of `logits` (`vocab` wide) against `targets`, fused with its
/// backward: returns the per-row losses (log-sum-exp minus the target's logit) and overwrites `logits`
/// with `d mean-loss / d logits` (the softmax minus the one-hot target, over the row count).
pub fn cross_entropy_with_grad(logits: &mut [f32], vocab: usize, targets: &[u32]) -> Vec<f32> {
    let scale = 1.0 / targets.len() as f32;
    let mut losses = vec![0.0f32; targets.len()];
    logits
        .par_chunks_mut(vocab * 8)
        .zip(losses.par_chunks_mut(8))
        .zip(targets.par_chunks(8))
        .for_each(|((logits, losses), targets)| {
            cross_entropy_rows(logits, vocab, targets, scale, losses)
        });
    losses
}

vectorised! {
    /// [`cross_entropy_with_grad`] over one task's rows, the gradient scaled by `scale`.
    fn cross_entropy_rows(logits: &mut [f32], vocab: usize, targets: &[u32], scale: f32, losses: &mut [f32]) {
        for ((row, loss), &target) in logits.chunks_exact_mut(vocab).zip(losses).zip(targets) {
            let target_logit = row[target as usize];
            let (max, sum) = exp_minus_max(row);
            *loss = max + sum.ln() - target_logit;
            let normalise = scale / sum;
            row.iter_mut().for_each(|v| *v *= normalise);
            row[target as usize] -= scale;
        }
    }
}

/// Softmax cross-entropy of each row of `logits` against `targets`, without gradients.
pub fn cross_entropy(logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<f32> {
    logits
        .par_chunks(vocab)
        .zip(targets.par_iter())
        .map(|(row, &target)| cross_entropy_row(row, target))
        .collect()
}

vectorised! {
    /// One row's softmax cross-entropy against `target`.
    fn cross_entropy_row(row: &[f32], target: u32) -> f32 {
        let max = lanes::max(row);
        let sum = lanes::fold(row, 0.0, |acc, v| acc + fast_exp(v - max), |a, b| a + b);
        max + sum.ln() - row[target as usize]
    }
}

/// Overwrites `row` with `exp(row - max(row))`, the unnormalised softmax, and returns the max and the
/// new row's sum (reduced in [`lanes`]' fixed order).
#[inline(always)]
pub fn exp_minus_max(row: &mut [f32]) -> (f32, f32) {
    let max = lanes::max(row);
    for v in row.iter_mut() {
        *v = fast_exp(*v - max);
    }
    (max, lanes::sum(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_matches_the_standard_library() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            let (fast, exact) = (fast_exp(x), x.exp());
            assert!(
                (fast - exact).abs() <= 3e-7 * exact,
                "e^{x}: {fast} vs {exact}"
            );
        }
        assert!(fast_exp(-1e9) < 1e-37);
    }

    #[test]
    fn matmul_reads_transposed_operands_in_place() {
        // a = [[1, 2, 3], [4, 5, 6]] (2x3), b = [[1, 0], [0, 1], [1, 1]] (3x2).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut out = [0.0; 4];
        matmul(&mut out, &a, false, &b, false, (2, 3, 2), false);
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // a^T stored as [3, 2], b^T stored as [2, 3]: the same product, accumulated onto the first.
        let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let b_t = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        matmul(&mut out, &a_t, true, &b_t, true, (2, 3, 2), true);
        assert_eq!(out, [8.0, 10.0, 20.0, 22.0]);
    }

    #[test]
    fn cross_entropy_gradient_is_softmax_minus_target() {
        let mut logits = vec![1.0, 2.0, 3.0, 0.5, 0.5, 0.5];
        let losses = cross_entropy(&logits, 3, &[2, 0]);
        let with_grad = cross_entropy_with_grad(&mut logits, 3, &[2, 0]);
        assert_eq!(losses, with_grad);
        let z: f32 = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        assert!((losses[0] - (z.ln() - 3.0)).abs() < 1e-6);
        assert!((losses[1] - 3.0f32.ln()).abs() < 1e-6);
        assert!((logits[2] - (3.0f32.exp() / z - 1.0) / 2.0).abs() < 1e-6);
        assert!((logits[3] - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-6);
        let row_sums = [logits[..3].iter().sum::<f32>(), logits[3..].iter().sum()];
        assert!(row_sums.iter().all(|s| s.abs() < 1e-6));
    }
}
