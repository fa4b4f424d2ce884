//! Rounds of proxies that close in on the optimum (CLIMB, Diao et al. 2025: each round's proxies are
//! drawn near the predicted best of every run so far, so the later proxies are spent where the answer is).
//!
//! Round 1 is the sampled candidates (`mixtures.parquet`, [`crate::regmix::sample`]). After round r, every
//! run so far is fitted ([`crate::regmix::fit::fit`]) and searched ([`crate::regmix::simulate::optimum`])
//! with the pipeline's own fit and simulate settings, and round r+1 is made of: the optimum itself (under
//! the proxies' epoch caps), then draws from a Dirichlet centred on it (concentration
//! `concentration * growth^(r-1)` times `optimum + floor`, renormalised), then a share drawn from the
//! original prior, so the fit stays global. Every candidate obeys the proxies' epoch caps and lies at
//! least `[regmix.sample] min_distance` (L1) from every run so far.
//!
//! Writes, for each round r after the first, into `WORK/runs/rounds/`: `round-<r>.parquet` (its
//! candidates, as `remix sample` writes them) and `round-<r>.json` ([`Proposal`]). A proposal is reused
//! while the runs it was fitted on and its settings are unchanged; otherwise it is made again and the
//! runs of that round and later ones leave the runs table.

use anyhow::{Context as _, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::workdir::config_hash;
use crate::data::tokens::TokensIndex;
use crate::regmix::fit::{FitConfig, RegressorKind, fit};
use crate::regmix::mixture::{SamplingConfig, caps_for, draw, enforce, l1, prior, within_caps};
use crate::regmix::runs::RunsTable;
use crate::regmix::sample::{Mixtures, SampleConfig};
use crate::regmix::simulate::{SimulateConfig, domain_tokens, optimum};

/// `[regmix.rounds]`: the proxies of the search in rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundsConfig {
    /// Proxies per round, in order (e.g. `[24, 8, 8]`). The first round's are `remix sample`'s
    /// candidates, beside its natural and uniform rows; so with rounds, `[regmix.sample] candidates`
    /// is not set (the budget is stated once, here). At most [`MAX_ROUNDS`] rounds.
    pub candidates: Vec<usize>,
    /// Dirichlet concentration of round 2 around the optimum. Default [`DEFAULT_CONCENTRATION`].
    #[serde(default = "default_concentration")]
    pub concentration: f64,
    /// Factor on the concentration per later round. Default [`DEFAULT_GROWTH`].
    #[serde(default = "default_growth")]
    pub growth: f64,
    /// Weight added to every domain of the optimum before it centres the Dirichlet (the optimum has
    /// exact zeros). Default [`DEFAULT_FLOOR`].
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// Share of each later round drawn from the original prior. Default [`DEFAULT_PRIOR_SHARE`].
    #[serde(default = "default_prior_share")]
    pub prior_share: f64,
}

/// Round 2's concentration: 30 spreads a weight of 0.5 by about 0.09 (the standard deviation of a
/// Dirichlet component is `sqrt(p (1 - p) / (s + 1))`), the size of a one-shot answer's error per
/// domain on the known-mixture benchmark (L1 0.18 over five domains), so round 2 covers the region the
/// answer is uncertain in.
pub const DEFAULT_CONCENTRATION: f64 = 30.0;
/// Doubling the concentration per round narrows each round's spread by about 1/sqrt(2), as a better
/// fit near the optimum allows.
pub const DEFAULT_GROWTH: f64 = 2.0;
/// 0.02: a domain the optimum leaves out still gets about 2% in the local draws, so the next fit sees
/// whether a little of it helps, without spending proxies far from the optimum.
pub const DEFAULT_FLOOR: f64 = 0.02;
/// A quarter of each later round from the original prior keeps runs all over the simplex, so the fit
/// that proposes the next round is not fitted to one neighbourhood only.
pub const DEFAULT_PRIOR_SHARE: f64 = 0.25;

fn default_concentration() -> f64 {
    DEFAULT_CONCENTRATION
}
fn default_growth() -> f64 {
    DEFAULT_GROWTH
}
fn default_floor() -> f64 {
    DEFAULT_FLOOR
}
fn default_prior_share() -> f64 {
    DEFAULT_PRIOR_SHARE
}

/// At most 8 rounds: split into tasks, each later round is two steps of the train stage (a proposal,
/// then its proxies; two Slurm jobs), named from a fixed list; CLIMB searched in 3.
pub const MAX_ROUNDS: usize = 8;

/// Mixes the round into the seed of its draws.
const ROUND_SEED: u64 = 0x5EED_0F_40_D5;

impl RoundsConfig {
    /// Errors, naming the key: no round, an empty round, a concentration that is not positive, a
    /// growth under 1, a negative floor, a prior share outside [0, 1].
    pub fn check(&self) -> Result<()> {
        if self.candidates.len() > MAX_ROUNDS {
            bail!(
                "[regmix.rounds] candidates = {:?}: at most {MAX_ROUNDS} rounds; spend the proxies in fewer, \
                 larger rounds",
                self.candidates
            );
        }
        if self.candidates.is_empty() || self.candidates.contains(&0) {
            bail!(
                "[regmix.rounds] candidates = {:?}: give the proxies of each round, every one at least 1 \
                 (e.g. [24, 8, 8])",
                self.candidates
            );
        }
        if !(self.concentration > 0.0 && self.concentration.is_finite()) {
            bail!(
                "[regmix.rounds] concentration = {}: it must be positive (default {DEFAULT_CONCENTRATION})",
                self.concentration
            );
        }
        if !(self.growth >= 1.0 && self.growth.is_finite()) {
            bail!(
                "[regmix.rounds] growth = {}: it must be at least 1 (default {DEFAULT_GROWTH})",
                self.growth
            );
        }
        if !(self.floor >= 0.0 && self.floor.is_finite()) {
            bail!(
                "[regmix.rounds] floor = {}: it must be 0 or more (default {DEFAULT_FLOOR})",
                self.floor
            );
        }
        if !(0.0..=1.0).contains(&self.prior_share) {
            bail!(
                "[regmix.rounds] prior_share = {}: it must lie in [0, 1] (default {DEFAULT_PRIOR_SHARE})",
                self.prior_share
            );
        }
        Ok(())
    }

    /// The Dirichlet concentration of `round` (2 and later).
    pub fn concentration_of(&self, round: u32) -> f64 {
        self.concentration * self.growth.powi(round.saturating_sub(2) as i32)
    }
}

/// `WORK/runs/rounds/round-<r>.json`: what a later round's candidates were proposed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Proposal {
    pub tool_version: String,
    pub round: u32,
    /// Hash of the settings and of the runs fitted (ids, weights, losses): the proposal is made again
    /// when it changes.
    pub basis: String,
    /// Finished runs the fit saw.
    pub runs_fitted: usize,
    /// The regressor the fit chose, and its cross-validated Spearman rho.
    pub regressor: RegressorKind,
    pub cv_spearman: f64,
    /// The training domains, in the order of `optimum`.
    pub domains: Vec<String>,
    /// The optimum of that fit (under the real run's caps): the centre of this round's candidates.
    pub optimum: Vec<f64>,
    /// The fit's predicted target loss at the optimum (nats).
    pub predicted_loss: f64,
    /// This round's Dirichlet concentration.
    pub concentration: f64,
    /// Candidates drawn around the optimum (the optimum itself included) and from the prior.
    pub near_optimum: usize,
    pub from_prior: usize,
}

impl Proposal {
    /// Candidates the proposal drew: near the optimum and from the prior.
    pub fn candidates(&self) -> usize {
        self.near_optimum + self.from_prior
    }
}

/// What every round needs besides the runs: the domains and their tokens, and the settings.
pub struct Search<'a> {
    pub domains: Vec<String>,
    /// Training tokens per domain, in `domains` order.
    pub tokens: Vec<u64>,
    pub sample: &'a SampleConfig,
    pub fit: &'a FitConfig,
    pub simulate: &'a SimulateConfig,
    pub rounds: &'a RoundsConfig,
}

impl<'a> Search<'a> {
    /// The search over the training domains of `index`.
    pub fn new(
        index: &TokensIndex,
        sample: &'a SampleConfig,
        fit: &'a FitConfig,
        simulate: &'a SimulateConfig,
        rounds: &'a RoundsConfig,
    ) -> Result<Self> {
        let domains = index.training_names();
        let tokens =
            domain_tokens(index, &domains).map_err(|e| anyhow::anyhow!("the token index {e}"))?;
        Ok(Self {
            domains,
            tokens,
            sample,
            fit,
            simulate,
            rounds,
        })
    }

    /// The hash that decides whether round `round`'s proposal still holds: the settings, and the runs
    /// of `table` it is fitted on (every run of an earlier round; a run without a round is round 1's).
    fn basis(&self, table: &RunsTable, round: u32) -> Result<String> {
        let runs: Vec<_> = table
            .runs
            .iter()
            .filter(|r| r.round.unwrap_or(1) < round)
            .map(|r| (&r.run_id, &r.weights, &r.losses, &r.status))
            .collect();
        config_hash(&serde_json::json!({
            "round": round,
            "sample": self.sample,
            "fit": self.fit,
            "simulate": self.simulate,
            "rounds": self.rounds,
            "runs": runs,
        }))
    }

    /// Round `round`'s proposal from the runs of `table` (every earlier round's): fits them, finds the
    /// optimum, draws the candidates. Errors: the fit's or the search's, or too few candidates found
    /// within the caps and away from the runs so far.
    pub fn propose(&self, table: &RunsTable, round: u32) -> Result<(Proposal, Mixtures)> {
        let n = self.rounds.candidates[round as usize - 1];
        let (model, report) = fit(table, "the runs so far", self.fit)
            .with_context(|| format!("fitting the runs before round {round}"))?;
        let best = optimum(&model, "the runs so far", Some(&self.tokens), self.simulate)
            .with_context(|| format!("searching the fit of the runs before round {round}"))?;
        let centre_weights: Vec<f64> = best.domains.iter().map(|d| d.weight).collect();
        let caps = caps_for(
            &self.tokens,
            self.sample.train_tokens,
            self.sample.max_epochs,
        );
        let mut taken: Vec<Vec<f64>> = table.runs.iter().map(|r| r.weights.clone()).collect();
        let far = |taken: &[Vec<f64>], w: &[f64]| {
            taken
                .iter()
                .all(|other| l1(other, w) >= self.sample.min_distance)
        };
        let from_prior = (self.rounds.prior_share * n as f64).round() as usize;
        let near = n - from_prior;
        let mut rows: Vec<(String, Vec<f64>)> = Vec::with_capacity(n);
        // The optimum itself, measured: under the proxies' caps, which may be tighter than the run's.
        let at_optimum = enforce(&centre_weights, &caps, self.sample.sampling.min_weight)?;
        if near > 0 && far(&taken, &at_optimum) {
            taken.push(at_optimum.clone());
            rows.push((format!("r{round}-optimum"), at_optimum));
        } else {
            tracing::info!(
                round,
                "the optimum lies within min_distance of a run so far: round {round} draws around it only"
            );
        }
        let floor = self.rounds.floor;
        let total: f64 = centre_weights.iter().map(|w| w + floor).sum();
        let centre: Vec<f64> = centre_weights.iter().map(|w| (w + floor) / total).collect();
        let concentration = self.rounds.concentration_of(round);
        let local = SamplingConfig {
            strength_min: concentration,
            strength_max: concentration,
            ..self.sample.sampling.clone()
        };
        let shares: Vec<f64> = self.tokens.iter().map(|&t| t as f64).collect();
        let original = prior(&shares, self.sample.sampling.temperature);
        let mut rng = StdRng::seed_from_u64(
            self.sample.seed ^ ROUND_SEED ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut weights = vec![0.0; self.tokens.len()];
        for (count, centre, sampling, label) in [
            (near, &centre, &local, "near the optimum"),
            (n, &original, &self.sample.sampling, "from the prior"),
        ] {
            let max_draws = 1000 * n;
            let mut draws = 0;
            while rows.len() < count {
                draws += 1;
                if draws > max_draws {
                    bail!(
                        "round {round}: only {} of {count} candidates {label} found in {max_draws} draws that \
                         obey the proxies' epoch caps and lie [regmix.sample] min_distance = {} from every run \
                         so far: lower min_distance or the round's candidates, or raise max_epochs",
                        rows.len(),
                        self.sample.min_distance
                    );
                }
                if draw(&mut rng, centre, sampling, &mut weights)
                    && within_caps(&weights, &caps)
                    && far(&taken, &weights)
                {
                    taken.push(weights.clone());
                    rows.push((format!("r{round}-{:05}", rows.len()), weights.clone()));
                }
            }
        }
        let proposal = Proposal {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            round,
            basis: self.basis(table, round)?,
            runs_fitted: report.runs,
            regressor: model.cv.regressor,
            cv_spearman: model.cv.spearman,
            domains: self.domains.clone(),
            optimum: centre_weights,
            predicted_loss: best.predicted_loss,
            concentration,
            near_optimum: near,
            from_prior,
        };
        let mixtures = Mixtures {
            domains: self.domains.clone(),
            rows,
            frozen: None,
        };
        Ok((proposal, mixtures))
    }
}

pub mod files;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::mixture::epoch_caps;
    use crate::regmix::runs::{FINISHED, Run};

    fn rounds() -> RoundsConfig {
        RoundsConfig {
            candidates: vec![12, 8, 8],
            concentration: DEFAULT_CONCENTRATION,
            growth: DEFAULT_GROWTH,
            floor: DEFAULT_FLOOR,
            prior_share: DEFAULT_PRIOR_SHARE,
        }
    }

    /// Runs whose target loss is a convex bowl with its minimum at (0.6, 0.3, 0.1), none of them near a
    /// vertex (where a linear fit's optimum lies).
    fn table() -> RunsTable {
        let best = [0.6, 0.3, 0.1];
        let mut rng = StdRng::seed_from_u64(3);
        let config = SamplingConfig::default();
        let mut runs = Vec::new();
        let mut w = vec![0.0; 3];
        while runs.len() < 14 {
            if !draw(&mut rng, &[1.0 / 3.0; 3], &config, &mut w) || w.iter().any(|&x| x > 0.9) {
                continue;
            }
            let loss = 3.0
                + w.iter()
                    .zip(best)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>();
            runs.push(Run {
                run_id: format!("cand-{:05}", runs.len()),
                seed: Some(0),
                round: Some(1),
                proxy_config_hash: None,
                weights: w.clone(),
                tokens_trained: None,
                wall_time_s: None,
                device: None,
                losses: vec![Some(loss)],
                loss_errors: vec![None],
                status: FINISHED.into(),
            });
        }
        RunsTable {
            domains: vec!["a".into(), "b".into(), "c".into()],
            loss_domains: vec!["t".into()],
            runs,
            frozen: None,
        }
    }

    #[test]
    fn proposes_near_the_optimum_within_the_caps_and_deterministically() {
        let sample = SampleConfig {
            train_tokens: Some(1000),
            ..SampleConfig::default()
        };
        let fit = FitConfig {
            target: crate::regmix::fit::Target::equal(vec!["t".into()]),
            regressors: vec![RegressorKind::Ols],
            ..FitConfig::default()
        };
        let simulate = SimulateConfig {
            candidates: 20_000,
            ..SimulateConfig::default()
        };
        let rounds = rounds();
        let search = Search {
            domains: vec!["a".into(), "b".into(), "c".into()],
            // Domain c can take at most 4 * 100 / 1000 = 0.4 of a proxy.
            tokens: vec![1000, 1000, 100],
            sample: &sample,
            fit: &fit,
            simulate: &simulate,
            rounds: &rounds,
        };
        let table = table();
        let (proposal, mixtures) = search.propose(&table, 2).unwrap();
        assert_eq!(mixtures.rows.len(), 8);
        assert_eq!((proposal.near_optimum, proposal.from_prior), (6, 2));
        assert_eq!(mixtures.rows[0].0, "r2-optimum");
        let caps = epoch_caps(&search.tokens, 1000, sample.max_epochs);
        for (_, w) in &mixtures.rows {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(within_caps(w, &caps), "{w:?}");
        }
        // The local draws sit nearer the optimum than the prior's.
        let l1 = |w: &[f64]| {
            w.iter()
                .zip(&proposal.optimum)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
        };
        let near: f64 = mixtures.rows[..6].iter().map(|(_, w)| l1(w)).sum::<f64>() / 6.0;
        assert!(near < 0.35, "mean L1 to the optimum {near}");
        assert_eq!(
            search.propose(&table, 2).unwrap().1,
            mixtures,
            "deterministic"
        );
        // Round 3 draws tighter, and the basis changes with the runs.
        assert!(rounds.concentration_of(3) > proposal.concentration);
        let mut changed = table.clone();
        changed.runs[0].losses[0] = Some(9.0);
        assert_ne!(search.basis(&changed, 2).unwrap(), proposal.basis);
    }

    #[test]
    fn refuses_bad_settings_naming_the_key() {
        let bad = [
            RoundsConfig {
                candidates: vec![],
                ..rounds()
            },
            RoundsConfig {
                candidates: vec![8, 0],
                ..rounds()
            },
            RoundsConfig {
                concentration: 0.0,
                ..rounds()
            },
            RoundsConfig {
                growth: 0.5,
                ..rounds()
            },
            RoundsConfig {
                floor: -1.0,
                ..rounds()
            },
            RoundsConfig {
                prior_share: 1.5,
                ..rounds()
            },
            RoundsConfig {
                candidates: vec![4; MAX_ROUNDS + 1],
                ..rounds()
            },
        ];
        for config in bad {
            let error = config.check().unwrap_err().to_string();
            assert!(error.contains("[regmix.rounds]"), "{error}");
        }
        rounds().check().unwrap();
    }
}
