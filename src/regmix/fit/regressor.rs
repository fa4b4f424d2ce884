//! The regressors `remix fit` compares, behind one type that fits, predicts and serialises.

use anyhow::{Result, anyhow};
use linfa::prelude::*;
use linfa_elasticnet::ElasticNet;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::forest::{self, ForestParams};
use super::gbdt::{Gbdt, GbdtParams};
use super::law::{MixingLaw, TargetLaws};
use super::power_law::PowerMixingLaw;
use super::target::Target;

/// Ridge penalty (linfa's `penalty`, on the mean squared error). 1e-3 keeps the fit stable when some
/// domains are nearly collinear and barely moves a well-posed least-squares solution.
pub const RIDGE_PENALTY: f64 = 1e-3;

/// Which regressor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum RegressorKind {
    /// Ordinary least squares on the weights (linfa-linear). Weights sum to 1, so the intercept is
    /// folded into the coefficients.
    Ols,
    /// Ridge regression (linfa-elasticnet with l1_ratio 0).
    Ridge,
    /// Gradient-boosted trees with RegMix's LightGBM setting ([`super::gbdt`]).
    Gbdt,
    /// A random forest: 500 trees on bootstrap samples, a third of the features per split
    /// ([`super::forest`]).
    Forest,
    /// Olmix's regressor: a mixing law `exp(c) + exp(t . w)` per target domain's loss, the prediction
    /// their weighted sum ([`super::law::TargetLaws`]). With one target domain its optimum alone is a
    /// single domain; the simulation's KL term moves it inside.
    LogLinear,
    /// Ye et al.'s per-domain mixing law: a law per training domain's own loss, the target a
    /// non-negative combination of them ([`super::law::MixingLaw`]); needs every training domain's
    /// loss in the runs table.
    MixingLaw,
    /// The per-domain form with a power law per domain in the data it effectively sees,
    /// `e + k * (t . w + eps)^(-alpha)` ([`super::power_law`]); needs every training domain's loss.
    PowerLaw,
}

impl RegressorKind {
    /// The regressors `remix fit` compares unless told: all seven, in order of preference, which decides
    /// a cross-validation tie ([`super::Selection`]). The order is each one's distance to the truth when
    /// fitted alone on the known-mixture benchmark (`bench/known_mix.sh`, README; L1 over 5 seeds, best
    /// proposer): the power law 0.03, the exponential mixing law 0.20, the forest and gbdt 0.4-0.6, the
    /// single log-linear law 0.6, ridge and least squares 0.99 (a vertex). Cross-validation alone once
    /// chose the exponential law by a regret 0.001 smaller, within the measurement's noise, and its
    /// answer was 0.24 from the truth where the power law's was 0.02.
    /// One that cannot fit the runs table ([`RegressorKind::cannot_fit`]) is skipped, logged.
    pub const DEFAULT: [RegressorKind; 7] = [
        RegressorKind::PowerLaw,
        RegressorKind::MixingLaw,
        RegressorKind::Forest,
        RegressorKind::Gbdt,
        RegressorKind::LogLinear,
        RegressorKind::Ridge,
        RegressorKind::Ols,
    ];

    /// Why `self` cannot be fitted to `rows` whatever its settings (the data it reads is absent), or
    /// `None`. Only the mixing law has such a need: every training domain's own validation loss, which
    /// runs imported from published losses often lack.
    pub fn cannot_fit(self, rows: Rows) -> Option<String> {
        (matches!(self, RegressorKind::MixingLaw | RegressorKind::PowerLaw)
            && rows.domain_losses.iter().flatten().any(|l| !l.is_finite()))
        .then(|| {
            format!(
                "{} fits a law to each training domain's own validation loss, and the runs table \
                 lacks some (loss_<domain> columns)",
                self.name()
            )
        })
    }

    /// Whether it is a mixing law, whose optimum the proposer `auto` solves exactly. A linear model is
    /// convex too, but its exact optimum is a vertex of the capped simplex (all weight on the domains of
    /// least coefficient), so `auto` samples it as RegMix does.
    pub fn is_law(self) -> bool {
        matches!(
            self,
            RegressorKind::LogLinear | RegressorKind::MixingLaw | RegressorKind::PowerLaw
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            RegressorKind::Ols => "ols",
            RegressorKind::Ridge => "ridge",
            RegressorKind::Gbdt => "gbdt",
            RegressorKind::Forest => "forest",
            RegressorKind::LogLinear => "log_linear",
            RegressorKind::MixingLaw => "mixing_law",
            RegressorKind::PowerLaw => "power_law",
        }
    }
}

/// What a regressor is fitted on: per run, the mixture weights `x`, the target loss `y` (the target's
/// weighted sum of `target_losses`), each target domain's loss in `target`'s order (the per-target
/// laws read it), and each training domain's own validation loss (NaN where the runs table has none;
/// only the per-domain laws read it).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a [Vec<f64>],
    pub y: &'a [f64],
    pub target: &'a Target,
    pub target_losses: &'a [Vec<f64>],
    pub domain_losses: &'a [Vec<f64>],
}

/// A fitted regressor, self-contained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitted {
    /// `prediction = intercept + sum_i coefficients[i] * weight[i]`.
    Linear {
        intercept: f64,
        coefficients: Vec<f64>,
    },
    Gbdt(Gbdt),
    /// A random forest, stored as trees whose leaf values are divided by their count (base 0), so it
    /// predicts as a booster does.
    Forest(Gbdt),
    LogLinear(TargetLaws),
    MixingLaw(MixingLaw),
    PowerLaw(PowerMixingLaw),
}

impl Fitted {
    /// Fits `kind` to `rows`; `seed` seeds the laws' starting points. Errors: a fit that fails, or a
    /// mixing law without every training domain's loss.
    pub fn fit(kind: RegressorKind, rows: Rows, seed: u64) -> Result<Self> {
        let Rows { x, y, .. } = rows;
        let features = x.first().map_or(0, Vec::len);
        match kind {
            RegressorKind::LogLinear => Ok(Fitted::LogLinear(TargetLaws::fit(
                x,
                rows.target_losses,
                rows.target,
                seed,
            )?)),
            RegressorKind::MixingLaw | RegressorKind::PowerLaw => {
                if let Some(why) = kind.cannot_fit(rows) {
                    anyhow::bail!("{why}: choose another --regressor");
                }
                let losses = rows.domain_losses;
                Ok(if kind == RegressorKind::MixingLaw {
                    Fitted::MixingLaw(MixingLaw::fit(x, losses, y, seed)?)
                } else {
                    Fitted::PowerLaw(PowerMixingLaw::fit(x, losses, y, seed)?)
                })
            }
            RegressorKind::Gbdt => Ok(Fitted::Gbdt(Gbdt::fit(x, y, &GbdtParams::default()))),
            RegressorKind::Forest => {
                Ok(Fitted::Forest(forest::fit(x, y, &ForestParams::default())))
            }
            RegressorKind::Ols => {
                // Columns that are zero in every run carry no information and make the system singular.
                let used: Vec<usize> = (0..features)
                    .filter(|&f| x.iter().any(|row| row[f] != 0.0))
                    .collect();
                let records = Array2::from_shape_fn((x.len(), used.len()), |(r, c)| x[r][used[c]]);
                let dataset = Dataset::new(records, Array1::from(y.to_vec()));
                let model = LinearRegression::new()
                    .with_intercept(false)
                    .fit(&dataset)
                    .map_err(|e| anyhow!("least squares failed: {e}"))?;
                let mut coefficients = vec![0.0; features];
                for (c, &f) in used.iter().enumerate() {
                    coefficients[f] = model.params()[c];
                }
                Ok(Fitted::Linear {
                    intercept: 0.0,
                    coefficients,
                })
            }
            RegressorKind::Ridge => {
                let records = Array2::from_shape_fn((x.len(), features), |(r, c)| x[r][c]);
                let dataset = Dataset::new(records, Array1::from(y.to_vec()));
                let model = ElasticNet::ridge()
                    .penalty(RIDGE_PENALTY)
                    .max_iterations(10_000)
                    .fit(&dataset)
                    .map_err(|e| anyhow!("ridge regression failed: {e}"))?;
                Ok(Fitted::Linear {
                    intercept: model.intercept(),
                    coefficients: model.hyperplane().to_vec(),
                })
            }
        }
    }

    pub fn predict(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        match self {
            Fitted::Linear {
                intercept,
                coefficients,
            } => rows
                .iter()
                .map(|row| {
                    intercept
                        + row
                            .iter()
                            .zip(coefficients)
                            .map(|(w, c)| w * c)
                            .sum::<f64>()
                })
                .collect(),
            Fitted::Gbdt(trees) | Fitted::Forest(trees) => trees.predict(rows),
            Fitted::LogLinear(law) => rows.iter().map(|w| law.predict(w)).collect(),
            Fitted::MixingLaw(law) => rows.iter().map(|w| law.predict(w)).collect(),
            Fitted::PowerLaw(law) => rows.iter().map(|w| law.predict(w)).collect(),
        }
    }
}
