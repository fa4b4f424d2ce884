//! How sure the answer is: the whole search (fit and simulation) repeated on runs drawn with replacement
//! from the runs table, the nonparametric bootstrap of Efron (1979) over proxy runs. Each resample refits
//! the chosen regressor and finds its optimum under the same caps; the spread of those optima is the
//! interval of each weight ([`Intervals`], in `fit/optimum.json`), and each resample's model also says
//! whether the chosen mixture beats the natural one and the best measured run.
//!
//! Only the runs are resampled: the target's sampling error within a run (its validation sequences)
//! is not, so the intervals are a lower bound on the uncertainty where that error is large against
//! the spread between runs (the answer's warnings say when it is).

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::regmix::fit::{FitModel, FitReport, Fitted, samples};
use crate::regmix::runs::RunsTable;

/// Resamples when the config does not say: enough for a 90% interval's ends to settle to about a
/// hundredth of weight on the known-mixture benchmark, few enough that the search, refitted each time,
/// adds seconds to a pipeline, not minutes.
pub const DEFAULT_RESAMPLES: usize = 40;
/// The central share of the resampled weights an interval covers.
pub const LEVEL: f64 = 0.9;
/// An interval wider than this (in weight) is too wide to ship a weight to four decimals: the answer
/// block warns.
pub const WIDE: f64 = 0.2;

/// One domain's interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WeightInterval {
    pub domain: String,
    /// The [`LEVEL`] interval's ends and the median of the resampled optima's weights.
    pub low: f64,
    pub median: f64,
    pub high: f64,
}

/// How sure the answer is: each weight's interval over the search repeated on resampled runs, and how
/// often the resampled models predict the chosen mixture to win.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Intervals {
    /// Resamples of the runs whose refit and search succeeded: the intervals are over these.
    pub resamples: usize,
    /// Resamples whose refit or search failed (a least-squares fit on runs drawn with repeats can be
    /// singular), left out and logged.
    #[serde(default)]
    pub failed: usize,
    /// The central share each interval covers.
    pub level: f64,
    pub domains: Vec<WeightInterval>,
    /// The share of resampled models that predict the chosen mixture below the natural one.
    pub beats_natural: Option<f64>,
    /// The share that predict it below the best measured run's mixture, and that run.
    pub beats_best_run: f64,
    pub best_run: String,
    /// Whether the best run's mixture is within the real run's epoch caps: where it is not, the real
    /// run cannot use it, and the chosen mixture need not beat it.
    pub best_run_within_caps: bool,
}

impl Intervals {
    /// The widest interval, with its domain.
    pub fn widest(&self) -> Option<&WeightInterval> {
        self.domains
            .iter()
            .max_by(|a, b| (a.high - a.low).total_cmp(&(b.high - b.low)))
    }
}

/// The search whose answer is bootstrapped: the fitted model and its answer, with each domain's
/// natural weight and epoch cap (all over the model's domains), and the search itself, `find`: the
/// optimum weights of a model (`remix simulate`'s, with the settings of the answer).
pub struct Search<'a, F> {
    pub model: &'a FitModel,
    pub chosen: &'a [f64],
    pub natural: Option<&'a [f64]>,
    pub caps: &'a [f64],
    pub find: F,
    /// Resamples, and the seed that draws them.
    pub resamples: usize,
    pub seed: u64,
}

/// The bootstrap of `search` (its model fitted on `table` as `report` says), with `search.resamples`
/// draws seeded by `search.seed`: the same result for the same seed whatever the thread count. A resample whose refit or search fails is left out, counted and logged; `None` (logged)
/// when every one fails. Errors: a runs table the fit would refuse.
pub fn bootstrap<F>(
    table: &RunsTable,
    report: &FitReport,
    search: &Search<F>,
) -> Result<Option<Intervals>>
where
    F: Fn(&FitModel) -> Result<Vec<f64>> + Sync,
{
    let Search {
        model,
        chosen,
        natural,
        caps,
        resamples,
        seed,
        ..
    } = *search;
    let all = samples(table.as_fitted()?.as_ref(), &report.config.target)?;
    let n = all.y.len();
    let best = (0..n)
        .min_by(|&a, &b| all.y[a].total_cmp(&all.y[b]))
        .context("the fit has no runs")?;
    // The best run's mixture over every training domain (the table's own weights, before reduction).
    let best_id = &all.run_ids[best];
    let best_weights = table
        .runs
        .iter()
        .find(|r| &r.run_id == best_id)
        .map(|r| r.weights.clone())
        .context("the best run is in the runs table")?;
    let outcomes: Vec<Result<Draw>> = (0..resamples)
        .into_par_iter()
        .map(|b| -> Result<Draw> {
            let mut rng = rand::rngs::StdRng::seed_from_u64(
                seed ^ (b as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let resampled = Fitted::fit(
                model.cv.regressor,
                all.select(&rows).rows(),
                report.config.seed,
            )?;
            let refitted = FitModel {
                model: resampled,
                ..model.clone()
            };
            let weights = (search.find)(&refitted)?;
            let mut rows = vec![chosen.to_vec(), best_weights.clone()];
            rows.extend(natural.map(<[f64]>::to_vec));
            let predicted = refitted.predict(&rows)?;
            Ok((
                weights,
                predicted[0] < predicted[1],
                natural.map(|_| predicted[0] < predicted[2]),
            ))
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    if let Some(Err(first)) = outcomes.iter().find(|o| o.is_err()) {
        tracing::warn!(
            "bootstrap: {failed} of {resamples} resamples of the {n} runs left out, their refit or search \
             failing (the first: {first:#})"
        );
    }
    let draws: Vec<Draw> = outcomes.into_iter().filter_map(Result::ok).collect();
    if draws.is_empty() {
        tracing::warn!("bootstrap: no resample could be refitted, so the answer has no intervals");
        return Ok(None);
    }
    let share = |yes: usize| yes as f64 / draws.len() as f64;
    let domains = (model.domains.iter().enumerate())
        .map(|(i, domain)| {
            let mut w: Vec<f64> = draws.iter().map(|(weights, ..)| weights[i]).collect();
            w.sort_by(f64::total_cmp);
            WeightInterval {
                domain: domain.clone(),
                low: quantile(&w, (1.0 - LEVEL) / 2.0),
                median: quantile(&w, 0.5),
                high: quantile(&w, (1.0 + LEVEL) / 2.0),
            }
        })
        .collect();
    Ok(Some(Intervals {
        resamples: draws.len(),
        failed,
        level: LEVEL,
        domains,
        beats_natural: natural.map(|_| share(draws.iter().filter(|d| d.2 == Some(true)).count())),
        beats_best_run: share(draws.iter().filter(|d| d.1).count()),
        best_run: best_id.clone(),
        best_run_within_caps: (best_weights.iter().zip(caps)).all(|(w, cap)| *w <= cap + 1e-9),
    }))
}

/// One resample's optimum, and whether its model predicts the chosen mixture below the best run's and
/// the natural one.
type Draw = (Vec<f64>, bool, Option<bool>);

/// The `q` quantile of sorted `values`, linearly interpolated (NumPy's default); NaN when empty.
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let at = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (at - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.05), 0.2);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
