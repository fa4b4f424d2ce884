//! Power mixing laws: each training domain's loss as a power law in the data it effectively sees,
//!
//! `L_j(w) = e_j + k_j * (t_j . w + eps_j)^(-alpha_j)`, with `t_jj = 1` and `t_ji >= 0`,
//!
//! and the target's loss a non-negative combination `sum_j a_j L_j(w) + b`, `a` fitted on the measured
//! losses as in Ye et al.'s per-domain form ([`super::law::MixingLaw`], [`super::law::combine`]). A domain's loss falls as a power of its data (Kaplan et
//! al. 2020, "Scaling Laws for Neural Language Models"; BiMix, Ge et al. 2024, fits
//! `r_j^(-alpha_j)` in the domain's own proportion `r_j`), and another domain's data counts as a
//! fraction `t_ji` of it (Hernandez et al. 2021, "Scaling Laws for Transfer": effective data
//! transferred). `eps_j` keeps a domain's loss finite where it has no weight.
//!
//! Why beside the exponential form: the exponential's marginal value of a domain decays by a constant
//! factor per unit of weight, the power law's by a power, and small proxies' losses follow the power:
//! on the known-mixture benchmark (README) it fitted the 40 runs with half the exponential form's
//! residual and placed the optimum nearer the target's measured composition. Each `L_j` is convex in
//! `w` (a negative power of a positive affine function), so the combination is convex and the exact
//! proposer minimises it ([`super::super::solve`]). Fitted like the exponential laws: a Huber loss,
//! multi-start L-BFGS, the best start chosen by (loss, start index).
//!
//! Every parameter is physical by construction: the floor `e`, the scale `k`, the exponent `alpha`, `eps`
//! and the transfers `t` are fitted as logarithms, so none can go below zero (a loss floor under zero
//! is not a loss), and the target's shares `a` are non-negative with a sum of at most 1
//! ([`super::law::combine`]). A floor the data would push below zero comes back near zero, and
//! [`PowerMixingLaw::bounds`] reports it.

use anyhow::{Result, bail};
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::law::{MAX_EXPONENT, Objective, best_of_starts, combine, huber};

/// The smallest `eps` a fit may reach (`ln`): keeps `t . w + eps` positive where a domain has no
/// weight, so the law stays finite on every mixture the simulation draws.
const MIN_LN_EPS: f64 = -30.0;

/// One domain's power law `e + k * (t . w + eps)^(-alpha)`; `t` has one entry per training domain,
/// 1 at the domain's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PowerLaw {
    pub e: f64,
    pub k: f64,
    pub alpha: f64,
    pub eps: f64,
    pub t: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl PowerLaw {
    pub fn predict(&self, w: &[f64]) -> f64 {
        self.e + self.k * (dot(&self.t, w) + self.eps).powf(-self.alpha)
    }

    /// The gradient of [`PowerLaw::predict`] in `w`: `-alpha * k * u^(-alpha-1) * t`, `u = t . w + eps`.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let u = dot(&self.t, w) + self.eps;
        let scale = -self.alpha * self.k * u.powf(-self.alpha - 1.0);
        self.t.iter().map(|t| scale * t).collect()
    }

    /// The law of domain `own`'s loss `y` over mixtures `x`. Errors: fewer than 2 rows, a non-positive
    /// or non-finite loss, or no start that converged.
    pub fn fit(x: &[Vec<f64>], y: &[f64], own: usize, seed: u64) -> Result<PowerLaw> {
        if x.len() < 2 || x.len() != y.len() {
            bail!("a power mixing law needs at least 2 runs");
        }
        if let Some(bad) = y.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            bail!("a power mixing law fits positive losses; got {bad}");
        }
        let dims = x[0].len();
        let min = y.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        let mean_own = x.iter().map(|w| w[own]).sum::<f64>() / x.len() as f64;
        let problem = DomainLaw { x, y, own };
        let start = |rng: &mut rand::rngs::StdRng| {
            // A floor below the smallest loss, a gentle exponent, little transfer, and the scale that
            // puts the mean mixture's prediction at the mean loss.
            let e = min * rng.random_range(0.5..0.95);
            let alpha: f64 = rng.random_range(0.1..1.0);
            let ln_eps: f64 = rng.random_range(-7.0..-2.0);
            let ln_t: Vec<f64> = (1..dims).map(|_| rng.random_range(-7.0..-1.0)).collect();
            let u = mean_own + ln_eps.exp();
            let mut p = vec![
                e.ln(),
                ((mean - e).max(1e-6) * u.powf(alpha)).ln(),
                alpha.ln(),
                ln_eps,
            ];
            p.extend(ln_t);
            p
        };
        let Some(p) = best_of_starts(seed, &problem, start) else {
            bail!("no start of the power mixing-law fit converged");
        };
        let (e, k, alpha, eps, t) = problem.unpack(&p);
        Ok(PowerLaw {
            e,
            k,
            alpha,
            eps,
            t,
        })
    }
}

/// The mean Huber loss of one domain's power law; parameters
/// `[ln e, ln k, ln alpha, ln eps, ln t_i for every domain i but the own]`.
#[derive(Clone)]
struct DomainLaw<'a> {
    x: &'a [Vec<f64>],
    y: &'a [f64],
    own: usize,
}

impl DomainLaw<'_> {
    /// `e`, `k`, `alpha`, `eps` and the full transfer vector `t` (1 at the own domain) of parameters
    /// `p`.
    fn unpack(&self, p: &[f64]) -> (f64, f64, f64, f64, Vec<f64>) {
        let mut t: Vec<f64> = p[4..].iter().map(|v| v.min(MAX_EXPONENT).exp()).collect();
        t.insert(self.own, 1.0);
        (
            p[0].min(MAX_EXPONENT).exp(),
            p[1].min(MAX_EXPONENT).exp(),
            p[2].min(MAX_EXPONENT).exp(),
            p[3].clamp(MIN_LN_EPS, MAX_EXPONENT).exp(),
            t,
        )
    }
}

impl Objective for DomainLaw<'_> {
    /// The mean loss and its gradient at `p`.
    fn evaluate(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let (e, _, alpha, eps, t) = self.unpack(p);
        let mut cost = 0.0;
        let mut grad = vec![0.0; p.len()];
        for (w, &y) in self.x.iter().zip(self.y) {
            let u = dot(&t, w) + eps;
            let term = (p[1] - alpha * u.ln()).min(MAX_EXPONENT).exp();
            let (c, slope) = huber(e + term - y);
            cost += c;
            // d term / d u, times the chain to each log-parameter.
            let du = -alpha * term / u;
            grad[0] += slope * e;
            grad[1] += slope * term;
            grad[2] += slope * term * -u.ln() * alpha;
            grad[3] += slope * du * eps;
            let others = (0..w.len()).filter(|&i| i != self.own);
            for (g, i) in grad[4..].iter_mut().zip(others) {
                *g += slope * du * t[i] * w[i];
            }
        }
        let n = self.y.len() as f64;
        grad.iter_mut().for_each(|g| *g /= n);
        (cost / n, grad)
    }
}

/// The per-domain power laws and their combination: `prediction = b + sum_j a[j] * laws[j](w)`,
/// `a >= 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PowerMixingLaw {
    pub laws: Vec<PowerLaw>,
    pub a: Vec<f64>,
    pub b: f64,
}

impl PowerMixingLaw {
    pub fn predict(&self, w: &[f64]) -> f64 {
        self.b
            + self
                .laws
                .iter()
                .zip(&self.a)
                .map(|(law, a)| a * law.predict(w))
                .sum::<f64>()
    }

    /// The gradient of [`PowerMixingLaw::predict`] in `w`.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; w.len()];
        for (law, a) in self.laws.iter().zip(&self.a) {
            g.iter_mut()
                .zip(law.gradient(w))
                .for_each(|(g, d)| *g += a * d);
        }
        g
    }

    /// Fits a power law to each column of `domain_losses` (per run, each training domain's validation
    /// loss, in the order of the weights), and `y` as a non-negative combination of those losses
    /// ([`combine`]). Errors: a law that cannot be fitted.
    pub fn fit(
        x: &[Vec<f64>],
        domain_losses: &[Vec<f64>],
        y: &[f64],
        seed: u64,
    ) -> Result<PowerMixingLaw> {
        let dims = x.first().map_or(0, Vec::len);
        let laws = (0..dims)
            .map(|j| {
                let column: Vec<f64> = domain_losses.iter().map(|row| row[j]).collect();
                PowerLaw::fit(x, &column, j, seed.wrapping_add(j as u64))
            })
            .collect::<Result<Vec<_>>>()?;
        let (a, b) = combine(domain_losses, y);
        Ok(PowerMixingLaw { laws, a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::fit::metrics::random_mixtures;

    /// A power law is recovered from its own noiseless values, the same whatever the thread count.
    #[test]
    fn a_power_law_recovers_its_values() {
        let truth = PowerLaw {
            e: 3.0,
            k: 0.4,
            alpha: 0.5,
            eps: 0.01,
            t: vec![0.05, 1.0, 0.2],
        };
        let x = random_mixtures(40, 3, 1);
        let y: Vec<f64> = x.iter().map(|w| truth.predict(w)).collect();
        let law = PowerLaw::fit(&x, &y, 1, 7).unwrap();
        assert_eq!(law.t[1], 1.0);
        for w in &x {
            assert!((law.predict(w) - truth.predict(w)).abs() < 2e-3, "{law:?}");
        }
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| PowerLaw::fit(&x, &y, 1, 7).unwrap());
        assert_eq!(one_thread, law);
    }

    /// The analytic gradients (the fit's in the parameters, the solver's in the weights) match
    /// central differences.
    #[test]
    fn gradients_match_finite_differences() {
        let x = random_mixtures(12, 3, 3);
        let y: Vec<f64> = x
            .iter()
            .map(|w| 4.0 + 0.3 * (w[0] + 0.02).powf(-0.4))
            .collect();
        let objective = DomainLaw {
            x: &x,
            y: &y,
            own: 0,
        };
        let p = vec![3.5f64.ln(), -1.0, -0.7, -4.0, -3.0, -2.0];
        let (_, grad) = objective.evaluate(&p);
        for i in 0..p.len() {
            let h = 1e-6;
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (objective.evaluate(&up).0 - objective.evaluate(&down).0) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-6,
                "parameter {i}: {numeric} vs {}",
                grad[i]
            );
        }
        let law = PowerMixingLaw {
            laws: vec![
                PowerLaw {
                    e: 3.0,
                    k: 0.4,
                    alpha: 0.5,
                    eps: 0.01,
                    t: vec![1.0, 0.1, 0.0],
                },
                PowerLaw {
                    e: 2.0,
                    k: 0.2,
                    alpha: 0.8,
                    eps: 0.05,
                    t: vec![0.3, 1.0, 0.2],
                },
            ],
            a: vec![0.7, 0.4],
            b: 0.1,
        };
        let w = [0.5, 0.2, 0.3];
        let g = law.gradient(&w);
        for i in 0..3 {
            let h = 1e-6;
            let (mut up, mut down) = (w, w);
            up[i] += h;
            down[i] -= h;
            let numeric = (law.predict(&up) - law.predict(&down)) / (2.0 * h);
            assert!(
                (numeric - g[i]).abs() < 1e-6,
                "weight {i}: {numeric} vs {}",
                g[i]
            );
        }
    }

    /// On a target made of two domains' losses, the combination puts its weight on those two.
    #[test]
    fn the_combination_finds_the_domains_the_target_is_made_of() {
        let laws = [
            PowerLaw {
                e: 3.0,
                k: 0.5,
                alpha: 0.4,
                eps: 0.01,
                t: vec![1.0, 0.05, 0.05],
            },
            PowerLaw {
                e: 3.2,
                k: 0.4,
                alpha: 0.5,
                eps: 0.02,
                t: vec![0.05, 1.0, 0.05],
            },
            PowerLaw {
                e: 2.8,
                k: 0.6,
                alpha: 0.3,
                eps: 0.01,
                t: vec![0.05, 0.05, 1.0],
            },
        ];
        let x = random_mixtures(40, 3, 5);
        let losses: Vec<Vec<f64>> = x
            .iter()
            .map(|w| laws.iter().map(|l| l.predict(w)).collect())
            .collect();
        let y: Vec<f64> = losses.iter().map(|l| 0.6 * l[0] + 0.4 * l[2]).collect();
        let fit = PowerMixingLaw::fit(&x, &losses, &y, 11).unwrap();
        assert!(fit.a[1] < 0.02, "{:?}", fit.a);
        assert!(
            (fit.a[0] - 0.6).abs() < 0.05 && (fit.a[2] - 0.4).abs() < 0.05,
            "{:?}",
            fit.a
        );
    }
}
