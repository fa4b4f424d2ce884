//! How `remix fit` chooses one regressor among the cross-validated ones ([`Selection`], [`rank`]): the
//! scores it compares ([`RegressorScore`]) and the order it reports them in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::regressor::RegressorKind;

/// Cross-validated quality of one regressor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegressorScore {
    pub regressor: RegressorKind,
    pub spearman: f64,
    pub pearson: f64,
    pub mean_absolute_error: f64,
    /// How much the answer loses, not only the ranking: per fold, the measured target loss of the
    /// held-out run the model predicts best minus the fold's best measured loss, averaged over the
    /// folds (nats; 0 = it always picks the best held-out run). `None` in fits from before it.
    #[serde(default)]
    pub regret: Option<f64>,
}

/// How the fit chooses among its cross-validated regressors.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The highest Spearman rho of the out-of-fold predictions: the best ranking of held-out runs
    /// (RegMix's criterion); ties go to the earlier regressor in `regressors`.
    Spearman,
    /// The lowest cross-validated regret ([`RegressorScore::regret`]): the best pick of a held-out run,
    /// which is what the answer needs. Regrets within the target's standard error of the least
    /// ([`super::TargetError::standard_error`], one run's error over its validation sequences; exact
    /// equality where the runs table has no standard errors) are ties: cross-validation on a few dozen
    /// runs does not resolve finer differences (README, known-mixture benchmark), and a tie goes to the
    /// earlier regressor in `regressors`, the order of preference.
    #[default]
    Regret,
}

/// `score`'s regret as [`rank`] compares it: a missing or NaN regret is infinite, so it ranks last (the
/// runs table's losses are finite, so neither is expected).
pub fn regret_of(score: &RegressorScore) -> f64 {
    score
        .regret
        .filter(|r| !r.is_nan())
        .unwrap_or(f64::INFINITY)
}

/// The order in which `scored` (one score per regressor, in the config's order of preference) is
/// reported: the chosen regressor first, then the rest best first by `select`. `tolerance` (nats) is the
/// regret difference below which [`Selection::Regret`] counts two regressors as tied. Returns the
/// permutation of `scored`'s indices.
pub fn rank(scored: &[RegressorScore], select: Selection, tolerance: f64) -> Vec<usize> {
    let regret = |i: usize| regret_of(&scored[i]);
    let rho = |i: usize| scored[i].spearman;
    let mut order: Vec<usize> = (0..scored.len()).collect();
    // Stable sorts: equal keys keep the config's order.
    match select {
        Selection::Spearman => order.sort_by(|&a, &b| rho(b).total_cmp(&rho(a))),
        Selection::Regret => {
            order.sort_by(|&a, &b| {
                regret(a)
                    .total_cmp(&regret(b))
                    .then(rho(b).total_cmp(&rho(a)))
            });
            if let Some(&least) = order.first() {
                let bound = regret(least) + tolerance.max(0.0);
                // The most preferred regressor among the tied ones leads.
                if let Some(pos) = order
                    .iter()
                    .enumerate()
                    .filter(|&(_, &i)| regret(i) <= bound)
                    .min_by_key(|&(_, &i)| i)
                    .map(|(pos, _)| pos)
                {
                    let chosen = order.remove(pos);
                    order.insert(0, chosen);
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(regressor: RegressorKind, spearman: f64, regret: f64) -> RegressorScore {
        RegressorScore {
            regressor,
            spearman,
            pearson: 0.0,
            mean_absolute_error: 0.0,
            regret: Some(regret),
        }
    }

    #[test]
    fn a_regret_within_the_tolerance_goes_to_the_preferred_regressor() {
        // The known-mixture benchmark's seed 4: the power law (preferred) 0.001 behind the exponential law.
        let scored = [
            score(RegressorKind::PowerLaw, 0.986, 0.001),
            score(RegressorKind::MixingLaw, 0.988, 0.0),
            score(RegressorKind::Forest, 0.95, 0.02),
        ];
        assert_eq!(rank(&scored, Selection::Regret, 0.004), [0, 1, 2]);
        // Without the tolerance, the least regret wins.
        assert_eq!(rank(&scored, Selection::Regret, 0.0), [1, 0, 2]);
        // A difference beyond the tolerance is not a tie.
        assert_eq!(rank(&scored, Selection::Regret, 0.0005), [1, 0, 2]);
    }

    #[test]
    fn an_exact_tie_goes_to_the_preferred_regressor_not_the_higher_rho() {
        let scored = [
            score(RegressorKind::PowerLaw, 0.978, 0.0),
            score(RegressorKind::MixingLaw, 0.995, 0.0),
        ];
        assert_eq!(rank(&scored, Selection::Regret, 0.0), [0, 1]);
        // By rho, the higher rho leads.
        assert_eq!(rank(&scored, Selection::Spearman, 0.0), [1, 0]);
    }

    #[test]
    fn the_rest_follow_by_regret_then_rho() {
        let scored = [
            score(RegressorKind::Ols, 0.5, 0.0),
            score(RegressorKind::Ridge, 0.6, 0.02),
            score(RegressorKind::Gbdt, 0.7, 0.02),
        ];
        assert_eq!(rank(&scored, Selection::Regret, 0.0), [0, 2, 1]);
        // Tied at the least regret, the preferred one leads and the other follows.
        let tied = [scored[1].clone(), scored[2].clone(), scored[0].clone()];
        assert_eq!(rank(&tied, Selection::Regret, 0.02), [0, 2, 1]);
        let missing = [
            RegressorScore {
                regret: None,
                ..score(RegressorKind::Ols, 0.9, 0.0)
            },
            score(RegressorKind::Ridge, 0.1, 0.5),
        ];
        assert_eq!(rank(&missing, Selection::Regret, 1.0), [1, 0]);
    }
}
