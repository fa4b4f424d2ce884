//! `remix fit`: learn how the mixture drives the loss, from a runs table.
//!
//! The target is one evaluated domain's validation loss, or a weighted sum over several ([`Target`]). Each regressor
//! ([`RegressorKind`]: least squares, ridge, gradient-boosted trees, a random forest, the mixing laws) is
//! scored by k-fold cross-validation on the runs alone: every run is predicted by a model that never saw
//! it, and the pooled out-of-fold predictions give Spearman's rho, Pearson's r, the mean absolute error
//! and the regret of the run each fold's model would pick. The default model is the one of least regret,
//! refitted on every run. Nothing is ever scored on data it was fitted or tuned on (RegMix's notebook
//! early-stops on its test set; we do not).
//!
//! Artifacts, in the output folder (`WORK/fit/` in a pipeline):
//! - `model.json`: the chosen regressor, self-contained ([`FitModel`]), for `remix predict` and
//!   `remix simulate`;
//! - `report.json`: every regressor's cross-validated scores and the chosen one's out-of-fold
//!   predictions ([`FitReport`]);
//! - `_done.json`.

pub mod bounds;
pub mod forest;
pub mod gbdt;
pub mod law;
pub mod metrics;
pub mod power_law;
mod reduce;
mod regressor;
mod samples;
mod select;
mod shares;
mod target;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use regressor::{Fitted, RegressorKind, Rows};
pub use samples::{Samples, TargetError, samples};
pub use select::{RegressorScore, Selection};
pub use target::Target;

use crate::core::DEFAULT_SEED;
use crate::core::workdir::{DoneMarker, StageFolder, write_atomic, write_json};
use crate::regmix::frozen::FrozenBlock;
use crate::regmix::runs::{RunsTable, read_runs};

/// Settings of `remix fit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Evaluated domains whose validation loss is the target, weighed equally (a list) or as given (a
    /// table of weights, [`Target`]).
    pub target: Target,
    /// Cross-validation folds. Default 5: each model sees 80% of the runs, and 512 runs give
    /// folds of about 100, enough for a stable rank correlation.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Regressors to compare, in order of preference (ties in `select` go to the earlier one); the
    /// best by `select` is kept.
    pub regressors: Vec<RegressorKind>,
    /// What "best" means among the cross-validated regressors. Default [`Selection::Regret`]: on the
    /// known-mixture benchmark (README) rho once chose a forest 0.68 from the truth where regret chose a
    /// mixing law.
    pub select: Selection,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            target: Target::default(),
            folds: 5,
            seed: DEFAULT_SEED,
            regressors: RegressorKind::DEFAULT.to_vec(),
            select: Selection::default(),
        }
    }
}

/// A regressor `remix fit` left out because the runs table lacks what it reads
/// ([`RegressorKind::cannot_fit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    pub regressor: RegressorKind,
    pub reason: String,
}

/// One run's measured target and its out-of-fold prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutOfFold {
    pub run_id: String,
    pub measured: f64,
    pub predicted: f64,
}

/// `model.json`: everything `remix predict` and `remix simulate` need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FitModel {
    pub tool_version: String,
    /// The training domains, in the runs table's order: the order [`FitModel::predict`] reads
    /// weights in.
    pub domains: Vec<String>,
    /// Under mixture reuse, the domains kept in fixed proportions: the regressor reads the reduced
    /// weights ([`crate::regmix::frozen::Reduction`]: the free domains, then the block's total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FrozenBlock>,
    /// The evaluated domains whose (weighted) loss is predicted.
    pub target: Target,
    /// The chosen regressor's cross-validated scores.
    pub cv: RegressorScore,
    pub model: Fitted,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FitReport {
    pub tool_version: String,
    pub runs_table: String,
    /// Runs used (finished, with every target loss).
    pub runs: usize,
    pub config: FitConfig,
    /// The regressor's inputs: the training domains, or under reuse the free ones and
    /// [`crate::regmix::frozen::BLOCK_NAME`].
    pub domains: Vec<String>,
    /// Under mixture reuse, the frozen block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FrozenBlock>,
    /// Every fitted regressor's cross-validated scores, the chosen one first, then best first.
    pub regressors: Vec<RegressorScore>,
    /// Regrets within this of the least counted as ties under [`Selection::Regret`] (nats; the
    /// target's standard error, 0 where unknown).
    #[serde(default)]
    pub regret_tolerance: f64,
    /// The regressors of the config that could not fit this runs table, with why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    pub chosen: RegressorKind,
    /// The chosen regressor's out-of-fold predictions, in runs-table order.
    pub out_of_fold: Vec<OutOfFold>,
    /// How precisely the target was measured, when the runs table has the losses' standard errors.
    #[serde(default)]
    pub target_error: Option<TargetError>,
    /// The chosen law's parameters on the bounds their meaning imposes ([`bounds::OnBound`]).
    #[serde(default)]
    pub bounds: Vec<bounds::OnBound>,
}

/// The fold of each of `n` runs for `folds` folds (at least 2, at most `n`), shuffled by `seed`.
pub fn fold_assignment(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let folds = folds.clamp(2, n.max(2));
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    let mut fold_of = vec![0; n];
    for (i, &row) in order.iter().enumerate() {
        fold_of[row] = i % folds;
    }
    fold_of
}

/// Out-of-fold predictions of `kind` for the folds of `fold_of` ([`fold_assignment`]).
pub fn cross_validate(
    kind: RegressorKind,
    samples: &Samples,
    fold_of: &[usize],
    seed: u64,
) -> Result<Vec<f64>> {
    let n = samples.y.len();
    let folds = fold_of.iter().max().map_or(0, |f| f + 1);
    let per_fold = (0..folds)
        .map(|fold| {
            let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| fold_of[r] != fold);
            let model = Fitted::fit(kind, samples.select(&train).rows(), seed)?;
            Ok(test
                .iter()
                .copied()
                .zip(model.predict(&samples.select(&test).x))
                .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>>>()?;
    let mut predictions = vec![0.0; n];
    for (row, p) in per_fold.into_iter().flatten() {
        predictions[row] = p;
    }
    Ok(predictions)
}

/// The cross-validated scores of `kind` from its out-of-fold `predicted` losses, the `measured` ones and
/// the folds they were held out in.
pub fn score(
    kind: RegressorKind,
    measured: &[f64],
    predicted: &[f64],
    fold_of: &[usize],
) -> RegressorScore {
    RegressorScore {
        regressor: kind,
        spearman: metrics::spearman(measured, predicted),
        pearson: metrics::pearson(measured, predicted),
        mean_absolute_error: metrics::mean_absolute_error(measured, predicted),
        regret: Some(metrics::regret(measured, predicted, fold_of)),
    }
}

/// Fits `table` (read from `runs_table`, named in the report) by every regressor of `config`,
/// cross-validated, and refits the best on every run. A regressor the table lacks data for is skipped,
/// logged and listed in the report. Errors: no target or regressor, too few usable runs, no regressor
/// that can fit, a fit that fails.
pub fn fit(
    table: &RunsTable,
    runs_table: &str,
    config: &FitConfig,
) -> Result<(FitModel, FitReport)> {
    let full = table;
    let fitted = table.as_fitted()?;
    let table = fitted.as_ref();
    let samples = samples(table, &config.target)?;
    if config.regressors.is_empty() {
        bail!("no regressor to fit: pass at least one --regressor");
    }
    let mut skipped = Vec::new();
    let mut usable = Vec::new();
    for &kind in &config.regressors {
        match kind.cannot_fit(samples.rows()) {
            Some(reason) => {
                tracing::warn!("fit: skipping {}: {reason}", kind.name());
                skipped.push(Skipped {
                    regressor: kind,
                    reason,
                });
            }
            None => usable.push(kind),
        }
    }
    if usable.is_empty() {
        bail!(
            "none of the regressors can fit this runs table:\n  {}\nadd another --regressor (ols, ridge, gbdt, forest, log_linear)",
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.regressor.name(), s.reason))
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    let fold_of = fold_assignment(samples.y.len(), config.folds, config.seed);
    let mut scores = Vec::new();
    let mut predictions = Vec::new();
    for &kind in &usable {
        let predicted = cross_validate(kind, &samples, &fold_of, config.seed)
            .with_context(|| format!("cross-validating {}", kind.name()))?;
        scores.push(score(kind, &samples.y, &predicted, &fold_of));
        predictions.push(predicted);
    }
    let target_error = TargetError::of(&samples.errors, &samples.y);
    let tolerance = target_error.as_ref().map_or(0.0, |e| e.standard_error);
    let order = select::rank(&scores, config.select, tolerance);
    let least = scores
        .iter()
        .map(select::regret_of)
        .fold(f64::INFINITY, f64::min);
    let chosen = &scores[order[0]];
    if config.select == Selection::Regret && select::regret_of(chosen) > least {
        tracing::info!(
            "fit: {} chosen, its cross-validated regret {:.4} within the target's standard error {tolerance:.4} of the least ({least:.4}), and earlier in the regressors' order of preference",
            chosen.regressor.name(),
            select::regret_of(chosen)
        );
    }
    let (best, best_predictions) = (scores[order[0]].clone(), &predictions[order[0]]);
    let model = Fitted::fit(best.regressor, samples.rows(), config.seed)?;
    let on_bounds = model.bounds(&table.domains, &config.target);
    for bound in &on_bounds {
        tracing::info!("fit: {} {}", best.regressor.name(), bound.describe());
    }
    let fit_model = FitModel {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        domains: full.domains.clone(),
        frozen: full.frozen.clone(),
        target: config.target.clone(),
        cv: best.clone(),
        model,
    };
    let report = FitReport {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        runs_table: runs_table.to_string(),
        runs: samples.y.len(),
        config: config.clone(),
        domains: table.domains.clone(),
        frozen: full.frozen.clone(),
        regressors: order.iter().map(|&i| scores[i].clone()).collect(),
        regret_tolerance: tolerance,
        skipped,
        chosen: best.regressor,
        out_of_fold: samples
            .run_ids
            .iter()
            .zip(samples.y.iter().zip(best_predictions))
            .map(|(id, (&measured, &predicted))| OutOfFold {
                run_id: id.clone(),
                measured,
                predicted,
            })
            .collect(),
        target_error,
        bounds: on_bounds,
    };
    Ok((fit_model, report))
}

/// Fits the runs table at `runs_path` ([`fit`]) and writes `model.json`, `report.json` and
/// `_done.json` to `out_dir`.
pub fn run(runs_path: &Path, config: &FitConfig, out_dir: &Path) -> Result<FitReport> {
    let table = read_runs(runs_path)?;
    let (fit_model, report) = fit(&table, &runs_path.display().to_string(), config)?;
    DoneMarker::clear(out_dir)?;
    write_atomic(
        &out_dir.join("model.json"),
        &serde_json::to_vec(&fit_model)?,
    )?;
    write_json(&out_dir.join("report.json"), &report)?;
    DoneMarker::new(StageFolder::Fit, config, &[PathBuf::from(runs_path)])?
        .with_count("runs", report.runs)
        .with_count("chosen", report.chosen.name())
        .write(out_dir)?;
    Ok(report)
}

/// Reads a `model.json`.
pub fn read_model(path: &Path) -> Result<FitModel> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a remix model.json (write one with `remix fit`)",
            path.display()
        )
    })
}
