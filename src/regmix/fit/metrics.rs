//! How well predictions rank and match measurements, and the few statistics the fits' reports share.

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    }
}

/// `n` mixtures of `dims` domains, each weight drawn from 0.01..1 and normalised: the runs the laws'
/// tests fit.
#[cfg(test)]
pub(crate) fn random_mixtures(n: usize, dims: usize, seed: u64) -> Vec<Vec<f64>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let raw: Vec<f64> = (0..dims).map(|_| rng.random_range(0.01..1.0)).collect();
            let sum: f64 = raw.iter().sum();
            raw.iter().map(|v| v / sum).collect()
        })
        .collect()
}

/// Ranks with ties averaged (1-based), as Spearman's rho needs.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson's correlation; 0 when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut var_a, mut var_b) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - mean_a) * (y - mean_b);
        var_a += (x - mean_a).powi(2);
        var_b += (y - mean_b).powi(2);
    }
    if var_a == 0.0 || var_b == 0.0 {
        0.0
    } else {
        cov / (var_a * var_b).sqrt()
    }
}

/// Spearman's rank correlation (Pearson's on tie-averaged ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

pub fn mean_absolute_error(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

/// Cross-validated regret: per fold (runs with the same `fold_of`), the measured value of the run with
/// the lowest prediction minus the fold's lowest measured value, averaged over the folds (in the
/// measurement's unit; ties in prediction go to the earlier run). 0 when every fold's pick is its best.
pub fn regret(measured: &[f64], predicted: &[f64], fold_of: &[usize]) -> f64 {
    let folds = fold_of.iter().max().map_or(0, |f| f + 1);
    let mut total = 0.0;
    let mut counted = 0;
    for fold in 0..folds {
        let rows: Vec<usize> = (0..measured.len())
            .filter(|&r| fold_of[r] == fold)
            .collect();
        let Some(&picked) = rows
            .iter()
            .min_by(|&&a, &&b| predicted[a].total_cmp(&predicted[b]).then(a.cmp(&b)))
        else {
            continue;
        };
        let best = rows
            .iter()
            .map(|&r| measured[r])
            .fold(f64::INFINITY, f64::min);
        total += measured[picked] - best;
        counted += 1;
    }
    total / counted.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 4.0, 9.0, 16.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // scipy.stats.pearsonr([1,2,3,4,5],[2,4,5,4,5]) = 0.7745966692414834
        assert!(
            (pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]) - 0.7745966692414834)
                .abs()
                < 1e-12
        );
        assert_eq!(mean_absolute_error(&[1.0, 2.0], &[2.0, 4.0]), 1.5);
        // Fold 0 picks row 1 (measured 3, best 1): regret 2; fold 1 picks its best: 0.
        let measured = [1.0, 3.0, 5.0, 2.0];
        let predicted = [0.5, 0.1, 0.3, 0.2];
        assert_eq!(regret(&measured, &predicted, &[0, 0, 1, 1]), 1.0);
        assert_eq!(regret(&measured, &measured, &[0, 0, 1, 1]), 0.0);
    }
}
