//! Vector-width helpers for the CPU step's fused passes: [`vectorised!`] defines a pass compiled for the
//! widest instruction set the machine has (AVX-512 or AVX2 on x86-64, chosen at run time), and [`sum`],
//! [`max`], [`dot`] and [`fold`] reduce a row in a fixed order of [`LANES`] partial results, which the
//! compiler can keep in vector registers.
//!
//! The results are the same bits on every machine and instruction set: elementwise operations are
//! exact whatever the vector width (Rust never fuses a multiply and an add on its own), and a
//! reduction's order is fixed here, not by the hardware.

/// Partial results per reduction: two AVX2 registers or one AVX-512 register of `f32`.
pub const LANES: usize = 16;

/// Defines a function whose body is compiled three times, for AVX-512, for AVX2 and for the x86-64
/// baseline (or once, elsewhere), and runs the widest one this CPU has (`is_x86_feature_detected!`,
/// cached by the standard library). The body is an `#[inline(always)]` function inlined into each
/// `#[target_feature]` copy, so its loops, and the `#[inline(always)]` helpers of this module they call,
/// are vectorised for that copy's instruction set: the way the `multiversion` crate does it, for the
/// handful of passes here.
macro_rules! vectorised {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the feature the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use vectorised;

/// `x`'s sum: [`LANES`] running sums over the full chunks, added pairwise, then the tail in order.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    fold(x, 0.0, |acc, v| acc + v, |a, b| a + b)
}

/// `x`'s largest value (negative infinity for an empty row).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    fold(x, f32::NEG_INFINITY, f32::max, f32::max)
}

/// The dot product of `a` and `b` (the shorter's length), summed as [`sum`] does.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (a, b) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            acc[l] += a[l] * b[l];
        }
    }
    let mut total = combine(acc, |a, b| a + b);
    for (a, b) in a_tail.iter().zip(b_tail) {
        total += a * b;
    }
    total
}

/// `x` folded by `step` into [`LANES`] partial results from `start`, merged by `merge` pairwise, then
/// the tail stepped in order: a reduction in a fixed order the compiler can vectorise.
#[inline(always)]
pub fn fold(
    x: &[f32],
    start: f32,
    step: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut acc = [start; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for l in 0..LANES {
            acc[l] = step(acc[l], chunk[l]);
        }
    }
    let mut total = combine(acc, &merge);
    for &v in tail {
        total = step(total, v);
    }
    total
}

/// The [`LANES`] partial results merged pairwise (halves, then quarters, ...).
#[inline(always)]
fn combine(mut acc: [f32; LANES], merge: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] = merge(acc[l], acc[l + width]);
        }
        width /= 2;
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    vectorised! {
        fn wide(x: &[f32], y: &[f32]) -> [f32; 3] {
            [sum(x), max(x), dot(x, y)]
        }
    }

    #[test]
    fn reductions_match_plain_loops_on_every_length() {
        for n in [0, 1, 7, 16, 17, 40, 129] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25)
                .collect();
            let y: Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.5).collect();
            // Quarter steps: every partial sum is exact, so any order gives the same value.
            assert_eq!(sum(&x), x.iter().sum::<f32>(), "n = {n}");
            assert_eq!(
                dot(&x, &y),
                x.iter().zip(&y).map(|(a, b)| a * b).sum::<f32>()
            );
            assert_eq!(max(&x), x.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        }
    }

    #[test]
    fn the_vectorised_copy_gives_the_same_bits() {
        // Values whose sums round: a different order of additions would show in the last bits.
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let y: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.11).cos()).collect();
        for n in [5, 16, 333, 1000] {
            let baseline = [sum(&x[..n]), max(&x[..n]), dot(&x[..n], &y[..n])];
            assert_eq!(
                wide(&x[..n], &y[..n]).map(f32::to_bits),
                baseline.map(f32::to_bits)
            );
        }
    }
}
