//! Euclidean distance for linfa's k-means on f32 vectors ([`FastL2`]), the same metric as linfa's
//! `L2Dist` (its reduced form the squared distance) summed in eight independent lanes, which the
//! compiler turns into SIMD: linfa's own sums one element at a time through `ndarray-stats`, and that
//! one loop was most of the cluster stage's fit (measured on 13,798 documents at 1,024 dimensions).

use linfa_nn::distance::Distance;
use ndarray::{ArrayView, Dimension};

/// Lanes summed independently.
const LANES: usize = 8;

/// Euclidean distance on f32, linfa's `Distance` (reduced distance: the squared distance).
#[derive(Debug, Clone, Copy, Default)]
pub struct FastL2;

impl Distance<f32> for FastL2 {
    fn distance<D: Dimension>(&self, a: ArrayView<f32, D>, b: ArrayView<f32, D>) -> f32 {
        self.rdistance(a, b).sqrt()
    }

    #[inline]
    fn rdistance<D: Dimension>(&self, a: ArrayView<f32, D>, b: ArrayView<f32, D>) -> f32 {
        assert_eq!(a.shape(), b.shape(), "points of different dimensions");
        match (a.as_slice_memory_order(), b.as_slice_memory_order()) {
            (Some(x), Some(y)) if a.strides() == b.strides() => squared_distance(x, y),
            _ => a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum(),
        }
    }

    #[inline]
    fn rdist_to_dist(&self, rdist: f32) -> f32 {
        rdist.sqrt()
    }

    #[inline]
    fn dist_to_rdist(&self, dist: f32) -> f32 {
        dist * dist
    }
}

/// `sum (x_i - y_i)^2` over two slices of one length.
pub fn squared_distance(x: &[f32], y: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (xs, x_rest) = x.as_chunks::<LANES>();
    let (ys, y_rest) = y.as_chunks::<LANES>();
    for (a, b) in xs.iter().zip(ys) {
        for l in 0..LANES {
            let d = a[l] - b[l];
            lanes[l] += d * d;
        }
    }
    let rest: f32 = x_rest
        .iter()
        .zip(y_rest)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    lanes.iter().sum::<f32>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn equals_the_plain_sum() {
        let points = Array2::from_shape_fn((2, 37), |(i, j)| (i * 37 + j) as f32 * 0.1 - 1.5);
        let plain: f32 = points
            .row(0)
            .iter()
            .zip(points.row(1))
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        let fast = FastL2.rdistance(points.row(0), points.row(1));
        assert!((fast - plain).abs() <= 1e-4 * plain, "{fast} {plain}");
        assert!((FastL2.distance(points.row(0), points.row(1)) - plain.sqrt()).abs() < 1e-4);
        // A column view is not contiguous: the plain path.
        let columns = FastL2.rdistance(points.column(0), points.column(1));
        assert!((columns - 2.0 * 0.01).abs() < 1e-5, "{columns}");
    }
}
