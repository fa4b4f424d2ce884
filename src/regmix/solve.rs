//! The exact proposer of `remix simulate` (Olmix's): the mixture that minimises a convex fitted model
//! plus a pull toward the prior,
//!
//! `F(w) = model(w) + kl_reg * KL(w || prior)` over `{w >= 0, sum w = 1, w <= caps}`,
//!
//! for the models that are convex in the weights: linear ones (ols, ridge) and the mixing laws (each
//! `exp(c) + exp(t . w)` and each `e + k (t . w + eps)^(-alpha)` is convex, and the per-domain forms sum
//! them with non-negative `a`). Solved by
//! proximal mirror descent in the KL geometry (exponentiated gradient on the model, the KL term taken
//! exactly; each step's projection onto the capped simplex is exact, [`project`]) with a backtracking
//! step, until the Frank-Wolfe gap, an upper bound on `F(w) - min F` for a convex `F`, is below
//! [`GAP_TOLERANCE`], or no step lowers `F` in floating point. The gap is reported with the answer.

use anyhow::{Result, bail};

use crate::regmix::fit::Fitted;

/// Stop when the Frank-Wolfe gap is below this (nats of predicted loss): far below any difference a
/// proxy can measure.
pub const GAP_TOLERANCE: f64 = 1e-7;
/// Iterations at most; the benchmark's problems converge in a few hundred.
const ITERATIONS: usize = 100_000;

/// The exact proposer's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub weights: Vec<f64>,
    /// The Frank-Wolfe gap at `weights`: `F(weights) - min F` is at most this.
    pub gap: f64,
    pub iterations: usize,
}

/// The model's gradient with respect to the weights, where it is convex in them; `None` for the tree
/// ensembles (piecewise constant: no gradient, not convex).
pub fn convex_gradient(model: &Fitted, w: &[f64]) -> Option<Vec<f64>> {
    match model {
        Fitted::Linear { coefficients, .. } => Some(coefficients.clone()),
        Fitted::LogLinear(laws) => Some(laws.gradient(w)),
        Fitted::MixingLaw(mix) => Some(mix.gradient(w)),
        Fitted::PowerLaw(mix) => Some(mix.gradient(w)),
        Fitted::Gbdt(_) | Fitted::Forest(_) => None,
    }
}

/// `sum_d w_d ln(w_d / p_d)`, with `0 ln 0 = 0`.
fn kl(w: &[f64], p: &[f64]) -> f64 {
    w.iter()
        .zip(p)
        .filter(|(w, _)| **w > 0.0)
        .map(|(w, p)| w * (w / p).ln())
        .sum()
}

/// The KL projection of a positive vector `v` onto `{sum w = 1, 0 <= w <= caps}`: `w = min(caps, z v)`
/// with the `z` that makes the sum 1 (bisection on `ln z`; the sum is increasing in `z`).
pub fn project(v: &[f64], caps: &[f64]) -> Vec<f64> {
    let sum = |z: f64| -> f64 { v.iter().zip(caps).map(|(v, c)| (z * v).min(*c)).sum() };
    let total: f64 = v.iter().sum();
    let (mut lo, mut hi) = ((1.0 / total).ln(), (1.0 / total).ln());
    while sum(lo.exp()) > 1.0 {
        lo -= 1.0;
    }
    while sum(hi.exp()) < 1.0 && hi < 700.0 {
        hi += 1.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sum(mid.exp()) < 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let z = hi.exp();
    let mut w: Vec<f64> = v.iter().zip(caps).map(|(v, c)| (z * v).min(*c)).collect();
    // The bisection leaves the sum within 1e-15 or so; put the rest on an uncapped domain.
    let rest = 1.0 - w.iter().sum::<f64>();
    if let Some(d) =
        (0..w.len()).find(|&d| w[d] + rest < caps[d] && w[d] + rest >= 0.0 && v[d] > 0.0)
    {
        w[d] += rest;
    }
    w
}

/// The vertex of the capped simplex that minimises `g . s`: the domains by increasing `g`, each filled
/// up to its cap until the weight is spent.
fn linear_minimiser(g: &[f64], caps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..g.len()).collect();
    order.sort_by(|&a, &b| g[a].total_cmp(&g[b]).then(a.cmp(&b)));
    let mut s = vec![0.0; g.len()];
    let mut left = 1.0;
    for d in order {
        s[d] = caps[d].min(left);
        left -= s[d];
    }
    s
}

/// Minimises `model(w) + kl_reg * KL(w || prior)` over the simplex capped by `caps`. Errors: a model
/// that is not convex in the weights (the tree ensembles), caps that sum below 1, a prior with no
/// positive weight.
pub fn solve(model: &Fitted, prior: &[f64], caps: &[f64], kl_reg: f64) -> Result<Solution> {
    if caps.iter().sum::<f64>() < 1.0 - 1e-12 {
        bail!(
            "the epoch caps allow at most {:.4} of the mixture",
            caps.iter().sum::<f64>()
        );
    }
    if !prior.iter().any(|p| *p > 0.0) {
        bail!("the prior has no positive weight");
    }
    let objective = |w: &[f64]| model.predict(&[w.to_vec()])[0] + kl_reg * kl(w, prior);
    let smooth_gradient = |w: &[f64]| -> Result<Vec<f64>> {
        convex_gradient(model, w).ok_or_else(|| {
            anyhow::anyhow!(
                "the exact proposer needs a model convex in the weights (ols, ridge, log_linear, \
                 mixing_law, power_law); use the sampling proposer for tree ensembles"
            )
        })
    };
    let mut w = project(prior, caps);
    let mut value = objective(&w);
    let mut step = 1.0;
    let mut gap = f64::INFINITY;
    let mut iterations = 0;
    while iterations < ITERATIONS {
        let smooth = smooth_gradient(&w)?;
        // The whole objective's gradient, for the gap; the KL term's is ln(w / p) + 1.
        let g: Vec<f64> = smooth
            .iter()
            .zip(w.iter().zip(prior))
            .map(|(g, (w, p))| match kl_reg > 0.0 && *w > 0.0 {
                true => g + kl_reg * ((w / p).ln() + 1.0),
                false => *g,
            })
            .collect();
        let s = linear_minimiser(&g, caps);
        gap = g
            .iter()
            .zip(w.iter().zip(&s))
            .map(|(g, (w, s))| g * (w - s))
            .sum::<f64>();
        if gap <= GAP_TOLERANCE {
            break;
        }
        iterations += 1;
        // A proximal mirror-descent step: the model linearised, the KL term kept exactly, so
        // `ln v = (ln w - step g + step kl_reg ln p) / (1 + step kl_reg)`, then projected; the step is
        // halved until the objective decreases and grows after each success.
        let accepted = loop {
            let a = step * kl_reg;
            let logs: Vec<f64> = w
                .iter()
                .zip(smooth.iter().zip(prior))
                .map(|(w, (g, p))| (w.ln() - step * g + a * p.ln()) / (1.0 + a))
                .collect();
            let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let v: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
            let next = project(&v, caps);
            let next_value = objective(&next);
            // Ties within rounding count as progress, so a weight far below what shows in the
            // objective (a distractor at 1e-200) still moves to its optimum.
            if next_value <= value + 4.0 * f64::EPSILON * value.abs() {
                w = next;
                value = next_value;
                step *= 1.5;
                break true;
            }
            step *= 0.5;
            if step < 1e-15 {
                break false;
            }
        };
        if !accepted {
            // No step lowers the objective in floating point: as close as it gets.
            break;
        }
    }
    Ok(Solution {
        weights: w,
        gap,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::fit::law::{Law, MixingLaw};
    use crate::regmix::fit::power_law::{PowerLaw, PowerMixingLaw};

    /// The exhaustive grid's best point of `f` over the capped 3-simplex, step `h`.
    fn grid_minimum(f: impl Fn(&[f64]) -> f64, caps: &[f64], h: f64) -> (f64, Vec<f64>) {
        let n = (1.0 / h).round() as usize;
        let mut best = (f64::INFINITY, vec![]);
        for i in 0..=n {
            for j in 0..=(n - i) {
                let w = [i as f64 * h, j as f64 * h, (n - i - j) as f64 * h];
                if w.iter().zip(caps).all(|(w, c)| *w <= c + 1e-12) {
                    let v = f(&w);
                    if v < best.0 {
                        best = (v, w.to_vec());
                    }
                }
            }
        }
        best
    }

    /// On small problems the solver's value is at most the finest grid's, within its gap, and its
    /// answer is next to the grid's best point.
    #[test]
    fn the_solution_matches_a_fine_grid() {
        let mix = Fitted::MixingLaw(MixingLaw {
            laws: vec![
                Law {
                    c: 1.0,
                    t: vec![-1.0, 0.5, 0.8],
                },
                Law {
                    c: 1.1,
                    t: vec![0.7, -1.2, 0.4],
                },
                Law {
                    c: 0.9,
                    t: vec![0.3, 0.6, -0.9],
                },
            ],
            a: vec![0.5, 0.3, 0.2],
            b: 0.1,
        });
        let power = |e, k, alpha, eps, t: [f64; 3]| PowerLaw {
            e,
            k,
            alpha,
            eps,
            t: t.to_vec(),
        };
        let powers = Fitted::PowerLaw(PowerMixingLaw {
            laws: vec![
                power(3.0, 0.4, 0.5, 0.01, [1.0, 0.1, 0.0]),
                power(2.5, 0.3, 0.8, 0.05, [0.2, 1.0, 0.3]),
                power(2.8, 0.5, 0.3, 0.001, [0.0, 0.05, 1.0]),
            ],
            a: vec![0.6, 0.3, 0.1],
            b: 0.1,
        });
        let prior = [0.5, 0.3, 0.2];
        for ((caps, kl_reg), mix) in [
            ([1.0, 1.0, 1.0], 0.0),
            ([0.4, 1.0, 1.0], 0.0),
            ([1.0, 1.0, 1.0], 0.05),
        ]
        .into_iter()
        .flat_map(|case| [(case, &mix), (case, &powers)])
        {
            let solution = solve(mix, &prior, &caps, kl_reg).unwrap();
            let f = |w: &[f64]| mix.predict(&[w.to_vec()])[0] + kl_reg * kl(w, &prior);
            let (grid, at) = grid_minimum(f, &caps, 0.002);
            let value = f(&solution.weights);
            assert!(value <= grid + 1e-9, "{value} > grid {grid} at {at:?}");
            assert!(solution.gap <= GAP_TOLERANCE, "gap {}", solution.gap);
            let l1: f64 = solution
                .weights
                .iter()
                .zip(&at)
                .map(|(a, b)| (a - b).abs())
                .sum();
            assert!(
                l1 < 0.02,
                "{:?} against the grid's {at:?}",
                solution.weights
            );
            assert!(
                solution
                    .weights
                    .iter()
                    .zip(&caps)
                    .all(|(w, c)| *w <= c + 1e-12)
            );
            assert!((solution.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    /// A linear model fills the domains with the smallest coefficients up to their caps.
    #[test]
    fn a_linear_model_fills_the_best_domains_to_their_caps() {
        let linear = Fitted::Linear {
            intercept: 3.0,
            coefficients: vec![0.5, 0.1, 0.3],
        };
        let solution = solve(&linear, &[1.0 / 3.0; 3], &[1.0, 0.6, 1.0], 0.0).unwrap();
        let expected = [0.0, 0.6, 0.4];
        for (w, e) in solution.weights.iter().zip(expected) {
            assert!((w - e).abs() < 1e-6, "{:?}", solution.weights);
        }
    }
}
