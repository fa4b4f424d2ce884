//! The sample in two dimensions for the report: its first two principal components (PCA by power
//! iteration with deflation, seeded), each point with its cluster.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Points drawn: enough to show each cluster's spread, few enough for a light SVG.
pub const MAP_POINTS: usize = 1_500;
/// Power iterations per component: the leading eigenvectors of a text sample's covariance settle in
/// tens.
const ITERATIONS: usize = 100;
/// Squared change of a unit vector below which its power iteration has settled (a picture needs
/// no more).
const SETTLED: f64 = 1e-12;

/// One sampled document on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MapPoint {
    pub x: f32,
    pub y: f32,
    /// Its cluster (index into the group's clusters).
    pub cluster: u32,
}

/// The first two principal-component coordinates of `points` (`n x dims`), with `labels`.
///
/// Power iteration runs on the smaller of the covariance (`dims x dims`) and the Gram matrix of the
/// centred points (`n x n`), each formed by one matrix product, so an iteration costs `min(n, dims)^2`
/// instead of two passes over the points. The Gram matrix's unit eigenvector `u` with eigenvalue `l`
/// gives the coordinates `u * sqrt(l)`, what the covariance's eigenvector gives by projection.
pub fn map(points: ArrayView2<f32>, labels: &[usize], seed: u64) -> Vec<MapPoint> {
    let n = points.nrows();
    if n < 3 {
        return Vec::new();
    }
    let data: Array2<f64> = points.mapv(f64::from);
    let mean: Array1<f64> = data
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(data.ncols()));
    let centred = &data - &mean;
    let by_covariance = centred.ncols() <= n;
    let matrix = if by_covariance {
        centred.t().dot(&centred)
    } else {
        centred.dot(&centred.t())
    };
    let components = leading_eigenvectors(&matrix, seed);
    let coordinates = |v: &Array1<f64>| -> Array1<f64> {
        if by_covariance {
            centred.dot(v)
        } else {
            v * v.dot(&matrix.dot(v)).max(0.0).sqrt()
        }
    };
    let (xs, ys) = (coordinates(&components[0]), coordinates(&components[1]));
    (0..n)
        .map(|i| MapPoint {
            x: xs[i] as f32,
            y: ys[i] as f32,
            cluster: labels[i] as u32,
        })
        .collect()
}

/// The two leading unit eigenvectors of a symmetric positive semi-definite `matrix`, by power
/// iteration with deflation from a seeded start; each stops once it moves less than [`SETTLED`].
fn leading_eigenvectors(matrix: &Array2<f64>, seed: u64) -> Vec<Array1<f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut components: Vec<Array1<f64>> = Vec::new();
    for _ in 0..2 {
        let mut v: Array1<f64> = (0..matrix.ncols())
            .map(|_| rng.random::<f64>() - 0.5)
            .collect();
        for _ in 0..ITERATIONS {
            let mut next = matrix.dot(&v);
            for c in &components {
                let along = next.dot(c);
                next.scaled_add(-along, c);
            }
            let norm = next.dot(&next).sqrt();
            if norm == 0.0 {
                // No spread left in any direction: the component is zero.
                v = next;
                break;
            }
            next /= norm;
            let moved = (&next - &v).mapv(|x| x * x).sum();
            v = next;
            if moved < SETTLED {
                break;
            }
        }
        components.push(v);
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Points spread along one axis come out spread along x, and the two groups stay apart.
    #[test]
    fn the_first_component_follows_the_widest_spread() {
        // Fewer points than dimensions: the Gram matrix's path.
        let wide = Array2::from_shape_fn((4, 6), |(i, j)| {
            if j == 0 {
                3.0 * (i / 2) as f32
            } else {
                0.01 * ((i + j) % 3) as f32
            }
        });
        let gram = map(wide.view(), &[0, 0, 1, 1], 1);
        assert!((gram[0].x - gram[2].x).abs() > 2.9, "{gram:?}");
        assert!((gram[0].x - gram[1].x).abs() < 0.1, "{gram:?}");
        let points = array![
            [0.0f32, 0.0, 0.1],
            [0.1, 0.0, 0.0],
            [0.0, 0.1, 0.0],
            [5.0, 0.0, 0.1],
            [5.1, 0.1, 0.0],
            [5.0, 0.0, 0.0],
        ];
        let map = map(points.view(), &[0, 0, 0, 1, 1, 1], 1);
        let spread = |f: fn(&MapPoint) -> f32| {
            let v: Vec<f32> = map.iter().map(f).collect();
            v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)
        };
        assert!(spread(|p| p.x) > 4.5 && spread(|p| p.y) < 0.5, "{map:?}");
        assert!((map[0].x - map[3].x).abs() > 4.5);
        assert_eq!(map[4].cluster, 1);
    }
}
