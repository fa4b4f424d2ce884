//! The rows a fit reads from a runs table ([`samples`]: weights, target loss, each domain's loss) and
//! how precisely the target was measured ([`TargetError`]).

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::regressor::Rows;
use super::target::Target;
use crate::regmix::runs::{RunsTable, WEIGHT_SUM_TOLERANCE};

/// How precisely the runs' target loss was measured, beside how much it differs between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetError {
    /// The median over runs of the target loss's standard error over its validation sequences (nats;
    /// for several targets, of their weighted sum, the domains taken as independent).
    pub standard_error: f64,
    /// The standard deviation of the measured target loss across runs (nats).
    pub spread: f64,
}

impl TargetError {
    /// From each run's target standard error (`None` where unknown: then there is no estimate) and
    /// the measured target losses.
    pub fn of(errors: &[Option<f64>], measured: &[f64]) -> Option<TargetError> {
        let errors: Vec<f64> = errors.iter().copied().collect::<Option<_>>()?;
        if errors.is_empty() || measured.len() < 2 {
            return None;
        }
        let median = super::metrics::median(&errors);
        let n = measured.len() as f64;
        let mean = measured.iter().sum::<f64>() / n;
        let variance = measured.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Some(TargetError {
            standard_error: median,
            spread: variance.sqrt(),
        })
    }
}

/// The training rows of a fit: weights, target and run ids.
pub struct Samples {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
    pub run_ids: Vec<String>,
    /// Each run's target standard error, where the runs table has it.
    pub errors: Vec<Option<f64>>,
    /// Each run's validation loss on every training domain (NaN where the table has none).
    pub domain_losses: Vec<Vec<f64>>,
    /// The target whose weighted loss `y` is, and each run's loss on each of its domains.
    pub target: Target,
    pub target_losses: Vec<Vec<f64>>,
}

impl Samples {
    /// The runs at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Samples {
        Samples {
            x: rows.iter().map(|&r| self.x[r].clone()).collect(),
            y: rows.iter().map(|&r| self.y[r]).collect(),
            run_ids: rows.iter().map(|&r| self.run_ids[r].clone()).collect(),
            errors: rows.iter().map(|&r| self.errors[r]).collect(),
            domain_losses: rows
                .iter()
                .map(|&r| self.domain_losses[r].clone())
                .collect(),
            target: self.target.clone(),
            target_losses: rows
                .iter()
                .map(|&r| self.target_losses[r].clone())
                .collect(),
        }
    }

    /// All runs as regressor rows.
    pub fn rows(&self) -> Rows<'_> {
        Rows {
            x: &self.x,
            y: &self.y,
            target: &self.target,
            target_losses: &self.target_losses,
            domain_losses: &self.domain_losses,
        }
    }
}

/// Extracts the finished runs and their target loss (the target's weighted sum of domain losses),
/// refusing runs with missing or non-finite losses and weights that do not sum to 1.
pub fn samples(table: &RunsTable, target: &Target) -> Result<Samples> {
    if target.is_empty() {
        bail!(
            "no target given: pass --target DOMAIN (one of: {})",
            table.loss_domains.join(", ")
        );
    }
    let columns = target
        .domains()
        .iter()
        .map(|t| table.loss_index(t))
        .collect::<Result<Vec<_>>>()?;
    let mut problems = Vec::new();
    let mut out = Samples {
        x: Vec::new(),
        y: Vec::new(),
        run_ids: Vec::new(),
        errors: Vec::new(),
        domain_losses: Vec::new(),
        target: target.clone(),
        target_losses: Vec::new(),
    };
    let own_loss: Vec<Option<usize>> = table
        .domains
        .iter()
        .map(|d| table.loss_domains.iter().position(|l| l == d))
        .collect();
    for (row, run) in table
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == crate::regmix::runs::FINISHED)
    {
        let sum: f64 = run.weights.iter().sum();
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            problems.push(format!(
                "run {} (row {row}): weights sum to {sum:.6}, not 1",
                run.run_id
            ));
            continue;
        }
        let mut losses = Vec::with_capacity(columns.len());
        for (&c, domain) in columns.iter().zip(target.domains()) {
            match run.losses[c] {
                Some(loss) if loss.is_finite() => losses.push(loss),
                other => problems.push(format!(
                    "run {} (row {row}): column loss_{domain} is {}",
                    run.run_id,
                    other.map_or("missing".to_string(), |l| l.to_string())
                )),
            }
        }
        out.x.push(run.weights.clone());
        out.y.push(target.combine(&losses));
        out.target_losses.push(losses);
        out.run_ids.push(run.run_id.clone());
        out.domain_losses.push(
            own_loss
                .iter()
                .map(|c| c.and_then(|c| run.losses[c]).unwrap_or(f64::NAN))
                .collect(),
        );
        let errors: Option<Vec<f64>> = columns.iter().map(|&c| run.loss_errors[c]).collect();
        out.errors.push(errors.map(|e| target.combine_errors(&e)));
    }
    if !problems.is_empty() {
        bail!(
            "the runs table has {} unusable value(s); fix or remove these runs:\n  {}",
            problems.len(),
            problems
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    if out.y.len() < 3 {
        bail!(
            "a fit needs at least 3 finished runs with the target loss; the runs table has {}",
            out.y.len()
        );
    }
    Ok(out)
}
