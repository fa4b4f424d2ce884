//! The sample in two dimensions for the report: its first two principal components (PCA by power
//! iteration with deflation on the centred vectors, seeded), each point with its cluster.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Points drawn: enough to show each cluster's spread, few enough for a light SVG.
pub const MAP_POINTS: usize = 1_500;
/// Power iterations per component: the leading eigenvectors of a text sample's covariance settle in
/// tens.
const ITERATIONS: usize = 100;

/// One sampled document on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MapPoint {
    pub x: f32,
    pub y: f32,
    /// Its cluster (index into the group's clusters).
    pub cluster: u32,
}

/// The first two principal-component coordinates of `points` (`n x dims`), with `labels`.
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
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut components: Vec<Array1<f64>> = Vec::new();
    for _ in 0..2 {
        let mut v: Array1<f64> = (0..centred.ncols())
            .map(|_| rng.random::<f64>() - 0.5)
            .collect();
        for _ in 0..ITERATIONS {
            v = centred.t().dot(&centred.dot(&v));
            for c in &components {
                let along = v.dot(c);
                v.scaled_add(-along, c);
            }
            let norm = v.dot(&v).sqrt();
            if norm == 0.0 {
                break;
            }
            v /= norm;
        }
        components.push(v);
    }
    let xs = centred.dot(&components[0]);
    let ys = centred.dot(&components[1]);
    (0..n)
        .map(|i| MapPoint {
            x: xs[i] as f32,
            y: ys[i] as f32,
            cluster: labels[i] as u32,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Points spread along one axis come out spread along x, and the two groups stay apart.
    #[test]
    fn the_first_component_follows_the_widest_spread() {
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
