//! The target's shares of the training domains in Ye et al.'s per-domain mixing laws
//! ([`super::law::MixingLaw`], [`super::power_law::PowerMixingLaw`]): the target's measured loss as a
//! combination of the domains' measured losses, run by run, with the shares non-negative and summing to
//! at most one.

/// The target's loss `y` as `sum_j a_j L_j + b` over the runs' measured domain losses `L` (rows: runs),
/// `a >= 0` and `sum_j a_j <= 1`: how much the target looks like each training domain, read from what
/// the proxies measured. The shares are bounded as Ye et al.'s implicit form has them (the target's
/// text as a mixture of the domains' own, shares on the simplex), with the intercept `b` left free for
/// the part of the target no training domain covers; a target whose loss moves more than any
/// domain's would otherwise get shares above one, which are not shares.
pub fn combine(domain_losses: &[Vec<f64>], y: &[f64]) -> (Vec<f64>, f64) {
    capped_least_squares(domain_losses, y, 1.0)
}

/// Sweeps of coordinate descent in [`capped_least_squares`]: converged to 1e-12 on the benchmark's
/// 5-domain fits well before this.
const NNLS_SWEEPS: usize = 5000;
/// Bisection steps on the sum's multiplier in [`capped_least_squares`]: each halves the interval, so 60
/// reach a double's precision from any starting width.
const SUM_BISECTIONS: usize = 60;

/// `min || y - F a - b ||^2` over `a >= 0`, `sum a <= cap` and a free intercept `b`, by coordinate
/// descent on the centred columns (exact for each coordinate; the problem is convex, so it converges to
/// the optimum). Where the sum of the fit without the cap is above
/// the cap, the constraint binds, and the solution is the non-negative fit penalised by `lambda * sum
/// a` at the multiplier `lambda` where the sum meets the cap; the penalised fit's sum falls as
/// `lambda` grows (as a lasso's l1 norm does), so `lambda` is found by bisection, and the answer is
/// the one on the feasible side.
pub fn capped_least_squares(features: &[Vec<f64>], y: &[f64], cap: f64) -> (Vec<f64>, f64) {
    let centred = Centred::new(features, y);
    let free = centred.solve(0.0);
    if free.0.iter().sum::<f64>() <= cap {
        return free;
    }
    // At `hi` every coordinate's correlation with the centred target is below the penalty: a = 0.
    let (mut lo, mut hi) = (0.0, centred.max_correlation().max(1e-300));
    let mut best = centred.solve(hi);
    for _ in 0..SUM_BISECTIONS {
        let mid = 0.5 * (lo + hi);
        let fit = centred.solve(mid);
        if fit.0.iter().sum::<f64>() <= cap {
            hi = mid;
            best = fit;
        } else {
            lo = mid;
        }
    }
    best
}

/// A least-squares problem with its columns and target centred (the intercept taken out).
struct Centred<'a> {
    features: &'a [Vec<f64>],
    means: Vec<f64>,
    y_mean: f64,
    centred: Vec<Vec<f64>>,
    norms: Vec<f64>,
    y: Vec<f64>,
}

impl<'a> Centred<'a> {
    fn new(features: &'a [Vec<f64>], y: &[f64]) -> Self {
        let n = y.len().max(1) as f64;
        let k = features.first().map_or(0, Vec::len);
        let means: Vec<f64> = (0..k)
            .map(|j| features.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let y_mean = y.iter().sum::<f64>() / n;
        let centred: Vec<Vec<f64>> = features
            .iter()
            .map(|r| r.iter().zip(&means).map(|(v, m)| v - m).collect())
            .collect();
        let norms: Vec<f64> = (0..k)
            .map(|j| centred.iter().map(|r| r[j] * r[j]).sum())
            .collect();
        Centred {
            features,
            means,
            y_mean,
            centred,
            norms,
            y: y.iter().map(|v| v - y_mean).collect(),
        }
    }

    /// The largest correlation of a column with the centred target: the penalty above which every
    /// coefficient is 0.
    fn max_correlation(&self) -> f64 {
        let k = self.features.first().map_or(0, Vec::len);
        (0..k)
            .map(|j| {
                (self.centred.iter().zip(&self.y))
                    .map(|(r, e)| r[j] * e)
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    }

    /// `min 1/2 || y - F a - b ||^2 + lambda * sum a` over `a >= 0`, by exact coordinate steps.
    fn solve(&self, lambda: f64) -> (Vec<f64>, f64) {
        let k = self.norms.len();
        let mut a = vec![0.0; k];
        let mut residual = self.y.clone();
        for _ in 0..NNLS_SWEEPS {
            let mut moved = 0.0f64;
            for j in 0..k {
                if self.norms[j] <= 1e-300 {
                    continue;
                }
                let correlation: f64 = (self.centred.iter().zip(&residual))
                    .map(|(r, e)| r[j] * e)
                    .sum();
                let next = (a[j] + (correlation - lambda) / self.norms[j]).max(0.0);
                let step = next - a[j];
                if step != 0.0 {
                    for (e, r) in residual.iter_mut().zip(&self.centred) {
                        *e -= step * r[j];
                    }
                    a[j] = next;
                    moved = moved.max(step.abs());
                }
            }
            if moved < 1e-12 {
                break;
            }
        }
        let b = self.y_mean - a.iter().zip(&self.means).map(|(a, m)| a * m).sum::<f64>();
        (a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::fit::metrics::random_mixtures;

    /// The non-negative fit finds the combination that made the target, and zero where a column
    /// does not enter it.
    #[test]
    fn nonnegative_least_squares_finds_the_mix() {
        // Three of four mixture weights: not collinear with the intercept.
        let features: Vec<Vec<f64>> = random_mixtures(30, 4, 2)
            .into_iter()
            .map(|w| w[..3].iter().map(|v| 3.0 + v).collect())
            .collect();
        let y: Vec<f64> = features
            .iter()
            .map(|r| 0.6 * r[0] + 0.4 * r[1] + 0.5)
            .collect();
        let (a, b) = capped_least_squares(&features, &y, f64::INFINITY);
        assert!(
            (a[0] - 0.6).abs() < 1e-6 && (a[1] - 0.4).abs() < 1e-6,
            "{a:?}"
        );
        assert!(a[2].abs() < 1e-6, "{a:?}");
        assert!((b - 0.5).abs() < 1e-5, "{b}");
        // Within the cap, the capped fit is the same; a target that moves 1.5 times as much as a
        // domain gets a share of 1, on the bound, not 1.5.
        let (capped, _) = capped_least_squares(&features, &y, 1.0);
        assert!((capped[0] - 0.6).abs() < 1e-6 && (capped[1] - 0.4).abs() < 1e-6);
        let steep: Vec<f64> = features.iter().map(|r| 1.5 * r[0] + 0.2 * r[1]).collect();
        let (free, _) = capped_least_squares(&features, &steep, f64::INFINITY);
        assert!(free.iter().sum::<f64>() > 1.6, "{free:?}");
        let (capped, _) = capped_least_squares(&features, &steep, 1.0);
        let sum: f64 = capped.iter().sum();
        assert!(sum <= 1.0 && sum > 1.0 - 1e-9, "{capped:?}");
        assert!(capped[0] > 0.9, "{capped:?}");
    }
}
