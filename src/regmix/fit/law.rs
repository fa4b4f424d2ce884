//! Mixing laws: a loss as the exponential of a linear function of the mixture weights, plus a floor,
//! `L(w) = exp(c) + exp(t . w)` (Ye et al. 2024, "Data Mixing Laws"; Olmix, allenai 2026, fits the same
//! form). Fitted with a Huber loss, so a few noisy proxies do not pull the law, by L-BFGS (argmin) from
//! [`STARTS`] seeded starting points; the best start is chosen by (loss, start index), so the result
//! does not depend on the thread count.
//!
//! [`MixingLaw`] is Ye et al.'s per-domain form: one law per training domain's own validation loss,
//! and the target's loss as a non-negative combination of them, `sum_j a_j L_j(w) + b`. Each law is
//! convex in `w` and the `a_j` are non-negative, so the sum is convex: `super::super::simulate`
//! minimises it exactly. The `a_j` read as how much the target looks like domain j, and are fitted to
//! that question: the target's measured loss against the domains' measured losses, run by run
//! ([`combine`]), not against the laws' predictions, where a domain the target never saw picks up
//! weight to make up for the other laws' misfit (on the known-mixture benchmark 0.04 of `a` on a
//! distractor, which the optimum turned into 0.03 of weight that cost 0.009 nats on proxies trained
//! with it; fitted on the measured losses, `a` was 0.514 / 0.306 / 0.214 for a target made 0.5 / 0.3 /
//! 0.2 of three domains, and 0 on the distractors).

use anyhow::{Context, Result, bail};
use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::shares::combine;
use super::target::Target;

/// The Huber loss's switch from squared to absolute error, in nats: Olmix's 0.02, about the run-to-run
/// noise of a small proxy's validation loss.
pub const HUBER_DELTA: f64 = 0.02;
/// Starting points per law: enough that the best of them is stable from seed to seed on the
/// known-mixture benchmark, few enough to fit a law per domain in well under a second.
pub const STARTS: usize = 16;
/// L-BFGS iterations per start and its memory.
const ITERATIONS: u64 = 300;
const MEMORY: usize = 7;
/// Exponents are capped here before `exp`, so a wild step of the line search cannot overflow.
pub(super) const MAX_EXPONENT: f64 = 50.0;

/// One law `exp(c) + exp(t . w)`: `t` has one coefficient per training domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Law {
    pub c: f64,
    pub t: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Law {
    pub fn predict(&self, w: &[f64]) -> f64 {
        self.c.min(MAX_EXPONENT).exp() + dot(&self.t, w).min(MAX_EXPONENT).exp()
    }

    /// The law of `y` over mixtures `x` (rows of weights), from [`STARTS`] starts seeded by `seed`.
    /// Errors: fewer than 2 rows, a non-positive loss, or no start that converged to a finite loss.
    pub fn fit(x: &[Vec<f64>], y: &[f64], seed: u64) -> Result<Law> {
        if x.len() < 2 || x.len() != y.len() {
            bail!("a mixing law needs at least 2 runs");
        }
        if let Some(bad) = y.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            bail!("a mixing law fits positive losses; got {bad}");
        }
        let dims = x[0].len();
        let min = y.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        let start = |rng: &mut rand::rngs::StdRng| {
            // A floor below the smallest loss, and the rest of the mean loss in the exponential.
            let floor = min * rng.random_range(0.05..0.95);
            let rest = (mean - floor).max(1e-6).ln();
            let mut init = vec![floor.ln()];
            init.extend((0..dims).map(|_| rest + rng.random_range(-0.5..0.5)));
            init
        };
        match best_of_starts(seed, &Huber { x, y }, start) {
            Some(p) => Ok(Law {
                c: p[0],
                t: p[1..].to_vec(),
            }),
            None => bail!("no start of the mixing-law fit converged"),
        }
    }
}

/// Olmix's regressor: one law per target domain's loss, `L_m(w) = exp(c_m) + exp(t_m . w)`, and the
/// target loss their weighted sum `sum_m weights[m] * L_m(w)` (the target's weights, Olmix's
/// `obj_weights`). A sum of convex laws with non-negative weights is convex, so the exact proposer
/// minimises it as it is. With one target domain it is a single law, whose optimum alone is a vertex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "TargetLawsSpec")]
pub struct TargetLaws {
    /// One law per target domain, in the target's order.
    pub laws: Vec<Law>,
    /// Each target domain's weight in the objective (sum 1), in the same order.
    pub weights: Vec<f64>,
}

/// `TargetLaws` as stored: the current form, or a single law as `fit/model.json` held it when the
/// regressor fitted one law on the weighted target loss (read as one law of weight 1).
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum TargetLawsSpec {
    /// A law per target domain and each one's weight in the objective.
    PerTarget { laws: Vec<Law>, weights: Vec<f64> },
    /// One law on the target loss (read as weight 1).
    One(Law),
}

impl From<TargetLawsSpec> for TargetLaws {
    fn from(spec: TargetLawsSpec) -> Self {
        match spec {
            TargetLawsSpec::PerTarget { laws, weights } => Self { laws, weights },
            TargetLawsSpec::One(law) => Self {
                laws: vec![law],
                weights: vec![1.0],
            },
        }
    }
}

impl TargetLaws {
    pub fn predict(&self, w: &[f64]) -> f64 {
        self.laws
            .iter()
            .zip(&self.weights)
            .map(|(law, weight)| weight * law.predict(w))
            .sum()
    }

    /// The gradient of [`Self::predict`] in `w`.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        weighted_gradient(&self.laws, &self.weights, w)
    }

    /// A law per column of `target_losses` (per run, each of `target`'s domains' loss, in its
    /// order), weighed by the target's weights; law `m` is seeded `seed + m`, so a one-domain target
    /// fits as a single law would. Errors: a law that cannot be fitted, naming its domain.
    pub fn fit(
        x: &[Vec<f64>],
        target_losses: &[Vec<f64>],
        target: &Target,
        seed: u64,
    ) -> Result<TargetLaws> {
        let laws = (target.domains().iter().enumerate())
            .map(|(m, domain)| {
                let column: Vec<f64> = target_losses.iter().map(|row| row[m]).collect();
                Law::fit(x, &column, seed.wrapping_add(m as u64))
                    .with_context(|| format!("the law of loss_{domain}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TargetLaws {
            laws,
            weights: target.weights().to_vec(),
        })
    }
}

/// The gradient in `w` of `sum_k weights[k] * laws[k].predict(w)`: each law's is `exp(t . w) t`, the
/// exponent capped as [`Law::predict`] caps it.
fn weighted_gradient(laws: &[Law], weights: &[f64], w: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; w.len()];
    for (law, weight) in laws.iter().zip(weights) {
        let scale = weight * dot(&law.t, w).min(MAX_EXPONENT).exp();
        g.iter_mut().zip(&law.t).for_each(|(g, t)| *g += scale * t);
    }
    g
}

/// The parameters of the lowest cost that L-BFGS reaches from [`STARTS`] starting points `start(rng)`,
/// each start's generator seeded by `seed` and its index; ties go to the lower index, so the result does
/// not depend on the thread count. `None` when no start reached a finite cost.
pub(super) fn best_of_starts<P: Objective + Clone + Sync>(
    seed: u64,
    problem: &P,
    start: impl Fn(&mut rand::rngs::StdRng) -> Vec<f64> + Sync,
) -> Option<Vec<f64>> {
    let fits: Vec<(f64, usize, Vec<f64>)> = (0..STARTS)
        .into_par_iter()
        .filter_map(|index| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(
                seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let init = start(&mut rng);
            let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY);
            let result = Executor::new(Argmin(problem.clone()), solver)
                .configure(|state| state.param(init).max_iters(ITERATIONS))
                .run()
                .ok()?;
            let state = result.state;
            let cost = state.best_cost;
            let param = state.best_param?;
            cost.is_finite().then_some((cost, index, param))
        })
        .collect();
    fits.into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, _, p)| p)
}

/// The Huber loss of a residual `r` (nats) and its slope: squared within [`HUBER_DELTA`], absolute beyond.
pub(super) fn huber(r: f64) -> (f64, f64) {
    let cost = if r.abs() <= HUBER_DELTA {
        0.5 * r * r
    } else {
        HUBER_DELTA * (r.abs() - 0.5 * HUBER_DELTA)
    };
    (cost, r.clamp(-HUBER_DELTA, HUBER_DELTA))
}

/// The mean Huber loss of a law's predictions against the measured losses: parameters `[c, t...]`.
#[derive(Clone)]
struct Huber<'a> {
    x: &'a [Vec<f64>],
    y: &'a [f64],
}

impl Objective for Huber<'_> {
    /// The mean loss and its gradient at `p`.
    fn evaluate(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let floor = p[0].min(MAX_EXPONENT).exp();
        let mut cost = 0.0;
        let mut grad = vec![0.0; p.len()];
        for (w, &y) in self.x.iter().zip(self.y) {
            let power = dot(&p[1..], w).min(MAX_EXPONENT).exp();
            let (c, slope) = huber(floor + power - y);
            cost += c;
            grad[0] += slope * floor;
            for (g, wd) in grad[1..].iter_mut().zip(w) {
                *g += slope * power * wd;
            }
        }
        let n = self.y.len() as f64;
        grad.iter_mut().for_each(|g| *g /= n);
        (cost / n, grad)
    }
}

/// A smooth objective over a parameter vector, minimised by [`best_of_starts`].
pub(super) trait Objective {
    /// The cost at `p` and its gradient (the same length as `p`).
    fn evaluate(&self, p: &[f64]) -> (f64, Vec<f64>);
}

/// An [`Objective`] as argmin's cost function and gradient.
#[derive(Clone)]
struct Argmin<P>(P);

impl<P: Objective> CostFunction for Argmin<P> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.0.evaluate(p).0)
    }
}

impl<P: Objective> Gradient for Argmin<P> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.0.evaluate(p).1)
    }
}

/// Ye et al.'s per-domain mixing law: `prediction = b + sum_j a[j] * laws[j](w)`, one law per training
/// domain's own validation loss, `a >= 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MixingLaw {
    pub laws: Vec<Law>,
    pub a: Vec<f64>,
    pub b: f64,
}

impl MixingLaw {
    pub fn predict(&self, w: &[f64]) -> f64 {
        self.b
            + self
                .laws
                .iter()
                .zip(&self.a)
                .map(|(law, a)| a * law.predict(w))
                .sum::<f64>()
    }

    /// The gradient of [`Self::predict`] in `w` (`b` is constant).
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        weighted_gradient(&self.laws, &self.a, w)
    }

    /// Fits a law to each column of `domain_losses` (per run, each training domain's validation loss,
    /// in the order of the weights), and the target `y` as a non-negative combination of those
    /// losses ([`combine`]). Errors: a law that cannot be fitted.
    pub fn fit(
        x: &[Vec<f64>],
        domain_losses: &[Vec<f64>],
        y: &[f64],
        seed: u64,
    ) -> Result<MixingLaw> {
        let dims = x.first().map_or(0, Vec::len);
        let laws = (0..dims)
            .map(|j| {
                let column: Vec<f64> = domain_losses.iter().map(|row| row[j]).collect();
                Law::fit(x, &column, seed.wrapping_add(j as u64))
            })
            .collect::<Result<Vec<_>>>()?;
        let (a, b) = combine(domain_losses, y);
        Ok(MixingLaw { laws, a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::fit::metrics::random_mixtures;

    /// A law is recovered from its own noiseless values, the same whatever the thread count.
    #[test]
    fn a_law_recovers_its_parameters() {
        let truth = Law {
            c: 1.2,
            t: vec![0.4, 1.1, -0.3],
        };
        let x = random_mixtures(40, 3, 1);
        let y: Vec<f64> = x.iter().map(|w| truth.predict(w)).collect();
        let law = Law::fit(&x, &y, 7).unwrap();
        for w in &x {
            assert!((law.predict(w) - truth.predict(w)).abs() < 1e-3);
        }
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| Law::fit(&x, &y, 7).unwrap());
        assert_eq!(one_thread, law);
    }

    /// Two targets get a law each, recovered from their own values; the prediction is their weighted
    /// sum, its gradient matches finite differences, and a stored single law still reads.
    #[test]
    fn a_law_per_target_domain() {
        let truths = [
            Law {
                c: 0.9,
                t: vec![0.2, 1.0, -0.4],
            },
            Law {
                c: 1.1,
                t: vec![-0.5, 0.6, 0.8],
            },
        ];
        let x = random_mixtures(40, 3, 3);
        let losses: Vec<Vec<f64>> = (x.iter())
            .map(|w| truths.iter().map(|law| law.predict(w)).collect())
            .collect();
        let target = Target::weighted(vec![("a".into(), 0.7), ("b".into(), 0.3)]).unwrap();
        let laws = TargetLaws::fit(&x, &losses, &target, 5).unwrap();
        let w = [0.2, 0.3, 0.5];
        let expected = 0.7 * truths[0].predict(&w) + 0.3 * truths[1].predict(&w);
        assert!((laws.predict(&w) - expected).abs() < 1e-3, "{laws:?}");
        let gradient = laws.gradient(&w);
        for d in 0..3 {
            let mut up = w;
            up[d] += 1e-6;
            let numeric = (laws.predict(&up) - laws.predict(&w)) / 1e-6;
            assert!(
                (gradient[d] - numeric).abs() < 1e-4,
                "{d}: {gradient:?} {numeric}"
            );
        }
        let old: TargetLaws = serde_json::from_str(r#"{"c": 0.5, "t": [1.0, 2.0, 3.0]}"#).unwrap();
        assert_eq!(old.weights, [1.0]);
        assert_eq!(old.laws[0].t, [1.0, 2.0, 3.0]);
        let back: TargetLaws =
            serde_json::from_str(&serde_json::to_string(&laws).unwrap()).unwrap();
        assert_eq!(back, laws);
    }
}
