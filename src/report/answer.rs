//! The answer first: what a run chose, how sure it is, and what to do when it is weak.
//!
//! [`warnings`] looks at a finished choice (the manifest, the fit's report, DoReMi's weights) for the
//! signs that the answer is weak, each with what to do; the manifest stage writes them into the
//! manifest's evidence (`method.evidence.warnings`). [`Answer::of`] reads a manifest back into the
//! block `remix run` ends its summary with and the report opens with: the chosen weights beside the
//! natural and uniform mixtures, the predicted target loss of each, the validation verdict, and the
//! warnings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::doremi::DoremiWeights;
use crate::manifest::Manifest;
use crate::regmix::fit::FitReport;
use crate::regmix::simulate::{Optimum, Proposer};

/// A weight within this share of its epoch cap counts as at the cap.
pub const NEAR_CAP: f64 = 0.05;
/// Below this cross-validated Spearman rho, the fit's ranking of mixtures is too weak to trust.
pub const RHO_FLOOR: f64 = 0.5;
/// Fewer finished runs per training domain than this is too few for a regression (RegMix trained
/// about 30 per domain: 512 proxies over 17 Pile domains).
pub const RUNS_PER_DOMAIN: f64 = 10.0;
/// Proxies whose best target loss is within this share of an untrained model's (ln of the
/// vocabulary) barely learned: their losses rank mixtures by noise.
pub const UNTRAINED_MARGIN: f64 = 0.05;

/// A target loss whose sampling error is at least this share of the spread of the target loss
/// between runs was measured too coarsely to rank them: a different sample of the target's text could
/// reorder them.
pub const NOISE_SHARE: f64 = 0.25;
/// A chosen mixture predicted to beat the natural one by less than this (nats), or by less than the
/// target's sampling error where known, is no better than natural as far as the fit can tell.
pub const NO_GAIN: f64 = 1e-3;
/// The sampling proposer's answer is a mean of its `top_k` best feasible candidates; with fewer than
/// this many times `top_k` feasible, it is a mean over little of the space.
pub const FEASIBLE_PER_TOP_K: usize = 10;

/// A sign that the answer is weak, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub warning: String,
    pub todo: String,
}

/// What [`warnings`] looks at: the manifest about to be written and the artifacts behind it.
pub struct Evidence<'a> {
    pub manifest: &'a Manifest,
    /// `[manifest] max_epochs`.
    pub max_epochs: f64,
    /// The fit's report, when RegMix ran.
    pub fit: Option<&'a FitReport>,
    /// RegMix's optimum, when RegMix ran.
    pub optimum: Option<&'a Optimum>,
    /// Whether the manifest's weights are RegMix's optimum (not DoReMi's).
    pub chosen_by_regmix: bool,
    /// The tokens the target was scored on per run and the target's held-out tokens, when RegMix ran.
    pub target_tokens: Option<(u64, u64)>,
    /// DoReMi's weights, when it ran.
    pub doremi: Option<&'a DoremiWeights>,
}

/// The signs of a weak answer in `evidence`, each with what to do.
pub fn warnings(evidence: &Evidence) -> Vec<Warning> {
    let mut out = Vec::new();
    let manifest = evidence.manifest;
    let mut warn = |warning: String, todo: &str| {
        out.push(Warning {
            warning,
            todo: todo.into(),
        })
    };
    let regmix = evidence.optimum.filter(|_| evidence.chosen_by_regmix);
    for domain in &manifest.domains {
        let cap =
            evidence.max_epochs * domain.tokens_available as f64 / manifest.train_tokens as f64;
        // What the same search gives the domain without caps (RegMix's answers only).
        let uncapped = regmix.and_then(|o| {
            let d = o.domains.iter().find(|d| d.domain == domain.domain)?;
            Some((d.uncapped?, o.predicted_loss_uncapped?, o.predicted_loss))
        });
        let near = domain.weight > 0.0 && domain.weight >= cap * (1.0 - NEAR_CAP);
        let binds = uncapped.is_some_and(|(weight, _, _)| weight > cap);
        if cap >= 1.0 || !(near || binds) {
            continue;
        }
        let (place, why) = if domain.weight > cap * (1.0 + 1e-9) {
            (
                "is beyond",
                "the run repeats it more often than the cap allows",
            )
        } else if near {
            (
                "sits at",
                "the repetition limit, not the fit, set its weight",
            )
        } else {
            (
                "is limited by",
                "the search would give it more than the cap allows, and its mean of capped candidates \
                 stays below the cap",
            )
        };
        let uncapped = uncapped.map_or(String::new(), |(weight, loss, capped)| {
            format!(
                "; without caps the search gives it {weight:.4} (predicted target loss {loss:.4} against \
                 {capped:.4} under the caps)"
            )
        });
        warn(
            format!(
                "`{}` {place} its epoch cap: weight {:.4} against at most {:.4} ({} epochs of its {} \
                 tokens); {why}{uncapped}",
                domain.domain, domain.weight, cap, evidence.max_epochs, domain.tokens_available
            ),
            "add data for it, raise [manifest] max_epochs, or lower [manifest] train_tokens",
        );
    }
    if let Some(fit) = evidence.fit {
        let untrained = (manifest.tokenizer.vocab_size.max(2) as f64).ln();
        let best = fit
            .out_of_fold
            .iter()
            .min_by(|a, b| a.measured.total_cmp(&b.measured));
        if let Some(best) = best
            && best.measured >= untrained * (1.0 - UNTRAINED_MARGIN)
        {
            warn(
                format!(
                    "the proxies barely learned: their best target loss {:.3} is within {:.0}% of an untrained \
                     model's ln({}) = {untrained:.3}, so their losses rank mixtures mostly by noise",
                    best.measured,
                    UNTRAINED_MARGIN * 100.0,
                    manifest.tokenizer.vocab_size
                ),
                "train the proxies longer ([proxy.train] train_tokens) or with a smaller vocabulary",
            );
        }
        if let Some(score) = fit.regressors.iter().find(|r| r.regressor == fit.chosen)
            && (score.spearman.is_nan() || score.spearman < RHO_FLOOR)
        {
            warn(
                format!(
                    "the fit ranks runs weakly: cross-validated Spearman rho {:.2} for {} (below {RHO_FLOOR})",
                    score.spearman,
                    fit.chosen.name()
                ),
                "train more proxies ([regmix.sample] candidates) or longer, and check the fit's scatter in the report",
            );
        }
        if let (Some(error), Some((scored, held_out))) = (&fit.target_error, evidence.target_tokens)
            && error.standard_error >= NOISE_SHARE * error.spread
        {
            warn(
                format!(
                    "the target loss was measured on {scored} tokens of {held_out} held out: its sampling error \
                     {:.4} is {:.0}% of its spread between runs ({:.4}), so the runs' order may reflect these \
                     tokens rather than the target domain",
                    error.standard_error,
                    100.0 * error.standard_error / error.spread,
                    error.spread
                ),
                "score on more of the target: raise [proxy.train] val_sequences, or hold out more text \
                 ([tokenize] val_fraction)",
            );
        }
        let per_domain = fit.runs as f64 / fit.domains.len().max(1) as f64;
        if per_domain < RUNS_PER_DOMAIN {
            warn(
                format!(
                    "{} runs for {} {} ({per_domain:.1} per domain; RegMix used about 30)",
                    fit.runs,
                    fit.domains.len(),
                    if fit.frozen.is_some() {
                        "dimensions searched (the free domains and the frozen block)"
                    } else {
                        "training domains"
                    }
                ),
                if fit.frozen.is_some() {
                    "raise [reuse] candidates to at least 10 per dimension searched"
                } else {
                    "raise [regmix.sample] candidates to at least 10 per domain"
                },
            );
        }
        if let (Some(predicted), Some(best)) = (regmix.map(|o| o.predicted_loss), best)
            && predicted > best.measured
        {
            warn(
                format!(
                    "the chosen mixture's predicted target loss {predicted:.4} is worse than run {}'s measured {:.4}",
                    best.run_id, best.measured
                ),
                "the regression misses the best region: compare that run's mixture, and train more proxies near it",
            );
        }
    }
    if let Some(optimum) = regmix {
        if optimum.proposer == Proposer::Sample
            && optimum.feasible_candidates < FEASIBLE_PER_TOP_K * optimum.config.top_k
        {
            warn(
                format!(
                    "only {} of the {} simulated candidates obeyed the epoch caps, so the answer is a mean \
                     over few mixtures",
                    optimum.feasible_candidates, optimum.config.candidates
                ),
                "leave the caps more room (a lower [manifest] train_tokens or a higher max_epochs), or let \
                 the exact proposer solve a convex model ([regmix.simulate] proposer = \"exact\" with ols, \
                 ridge, log_linear, mixing_law or power_law)",
            );
        }
        let noise = evidence
            .fit
            .and_then(|f| f.target_error.as_ref())
            .map_or(NO_GAIN, |e| e.standard_error.max(NO_GAIN));
        if let Some(natural) = optimum.predicted_loss_natural
            && natural - optimum.predicted_loss < noise
        {
            warn(
                format!(
                    "the fit predicts no gain over the natural mixture: {:.4} chosen against {natural:.4} \
                     natural, a difference below {noise:.4}",
                    optimum.predicted_loss
                ),
                "the proxies do not separate the mixtures: train them longer or on more of the target \
                 before trusting a departure from natural",
            );
        }
    }
    if let Some(doremi) = evidence.doremi {
        let distance = evidence.optimum.map(|optimum| {
            doremi
                .domains
                .iter()
                .map(|d| {
                    let r = optimum
                        .domains
                        .iter()
                        .find(|o| o.domain == d.domain)
                        .map_or(0.0, |o| o.weight);
                    (d.weight - r).abs()
                })
                .sum::<f64>()
        });
        let apart = distance.map_or(String::new(), |l1| {
            format!("; its weights are L1 {l1:.3} from RegMix's")
        });
        if !doremi.converged {
            warn(
                format!(
                    "DoReMi did not converge: its last of {} round(s) still moved the weights more than {}{apart}",
                    doremi.rounds.len(),
                    doremi.tolerance
                ),
                "raise [doremi] rounds, or read its weights as a direction rather than an answer",
            );
        }
    }
    out
}

/// One domain of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerDomain {
    pub domain: String,
    pub chosen: f64,
    /// Token-proportional.
    pub natural: f64,
    pub uniform: f64,
}

/// The predicted target loss of the chosen, the natural and the uniform mixtures (RegMix's fit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predicted {
    pub chosen: f64,
    pub natural: Option<f64>,
    pub uniform: f64,
}

/// The validation at a larger scale, when it ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub beats_natural: bool,
    pub beats_uniform: bool,
    /// Spearman rho between the fit's predicted and the larger models' measured target losses.
    pub rank_transfer: Option<f64>,
}

impl Verdict {
    /// The verdict in one sentence, as the summary and the report say it.
    pub fn sentence(&self) -> String {
        let word = |yes: bool| if yes { "beats" } else { "does not beat" };
        let rho = self
            .rank_transfer
            .map_or(String::new(), |r| format!("; rank transfer rho {r:.2}"));
        format!(
            "Validation at a larger scale: the chosen mixture {} natural and {} uniform{rho}",
            word(self.beats_natural),
            word(self.beats_uniform)
        )
    }
}

/// The answer of a manifest, as `remix run` and the report show it first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub name: String,
    /// How the weights were chosen (`regmix`, `doremi`, `given`).
    pub method: String,
    pub domains: Vec<AnswerDomain>,
    pub predicted_loss: Option<Predicted>,
    pub validation: Option<Verdict>,
    pub warnings: Vec<Warning>,
}

impl Answer {
    /// The answer of `manifest`, from its domains and its evidence (RegMix's predictions, the
    /// validation, the warnings the manifest stage wrote). Parts the evidence lacks are `None`.
    pub fn of(manifest: &Manifest) -> Answer {
        let available: u64 = manifest.domains.iter().map(|d| d.tokens_available).sum();
        let n = manifest.domains.len().max(1) as f64;
        let domains = manifest
            .domains
            .iter()
            .map(|d| AnswerDomain {
                domain: d.domain.clone(),
                chosen: d.weight,
                natural: d.tokens_available as f64 / available.max(1) as f64,
                uniform: 1.0 / n,
            })
            .collect();
        let evidence = &manifest.method.evidence;
        let number = |v: &Value| v.as_f64();
        let predicted_loss = number(&evidence["predicted_loss"]).map(|chosen| Predicted {
            chosen,
            natural: number(&evidence["predicted_loss_natural"]),
            uniform: number(&evidence["predicted_loss_uniform"]).unwrap_or(f64::NAN),
        });
        let validation = &evidence["validation"];
        let validation = validation["chosen_beats"].is_object().then(|| Verdict {
            beats_natural: validation["chosen_beats"]["natural"].as_bool() == Some(true),
            beats_uniform: validation["chosen_beats"]["uniform"].as_bool() == Some(true),
            rank_transfer: number(&validation["rank_transfer"]["rho"]),
        });
        // A manifest from before warnings were recorded has none; one that cannot be read is said.
        let warnings = match &evidence["warnings"] {
            Value::Null => Vec::new(),
            value => serde_json::from_value(value.clone()).unwrap_or_else(|e| {
                tracing::warn!(manifest = %manifest.name, "its warnings cannot be read ({e}): none shown");
                Vec::new()
            }),
        };
        Answer {
            name: manifest.name.clone(),
            method: manifest.method.kind.clone(),
            domains,
            predicted_loss,
            validation,
            warnings,
        }
    }

    /// The answer as the lines `remix run` ends with.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Chosen mixture `{}` ({}):\n  {:<24} {:>8} {:>8} {:>8}\n",
            self.name, self.method, "domain", "chosen", "natural", "uniform"
        );
        for d in &self.domains {
            out.push_str(&format!(
                "  {:<24} {:>8.4} {:>8.4} {:>8.4}\n",
                d.domain, d.chosen, d.natural, d.uniform
            ));
        }
        if let Some(p) = &self.predicted_loss {
            let natural = p.natural.map_or("-".into(), |l| format!("{l:.4}"));
            out.push_str(&format!(
                "  {:<24} {:>8.4} {:>8} {:>8.4}\n",
                "predicted target loss", p.chosen, natural, p.uniform
            ));
        }
        if let Some(v) = &self.validation {
            out.push_str(&format!("{}\n", v.sentence()));
        }
        for w in &self.warnings {
            out.push_str(&format!(
                "warning: {}\n  what to do: {}\n",
                w.warning, w.todo
            ));
        }
        out
    }
}
