//! The signs that an answer is weak, each with what to do ([`warnings`]): from a finished choice (the
//! manifest, the fit's report, the optimum and its intervals, DoReMi's weights, the proxies' learning).
//! The manifest stage writes them into the manifest's evidence (`method.evidence.warnings`), and the
//! answer block shows them ([`super::answer`]).

use crate::doremi::DoremiWeights;
use crate::manifest::Manifest;
use crate::manifest::evidence::{ProxyLearning, Warning};
use crate::regmix::bootstrap;
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
    /// How far the proxies got on the target, when RegMix ran ([`super::learning::proxy_learning`]).
    pub learning: Option<&'a ProxyLearning>,
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
    if let Some(learning) = evidence.learning {
        if let (Some(false), Some(floor)) = (learning.learned, learning.unigram_entropy) {
            warn(
                format!(
                    "the proxies did not learn beyond the target's token frequencies: their median target \
                     loss {:.3} is not below the {floor:.3} nats/token of a model that knows only the \
                     target's unigram frequencies, so the runs' order says whose token frequencies resemble \
                     the target's, not what trains a model for it; this mixture is not an answer to ship",
                    learning.median_target_loss
                ),
                "train each proxy on more tokens ([proxy.train] train_tokens), on a GPU (--device), or with \
                 a smaller vocabulary; `remix plan` shows what each costs",
            );
        } else if learning.unigram_entropy.is_none()
            && learning.best_target_loss >= learning.untrained_loss * (1.0 - UNTRAINED_MARGIN)
        {
            warn(
                format!(
                    "the proxies barely learned: their best target loss {:.3} is within {:.0}% of an untrained \
                     model's ln V = {:.3}, so their losses rank mixtures mostly by noise",
                    learning.best_target_loss,
                    UNTRAINED_MARGIN * 100.0,
                    learning.untrained_loss
                ),
                "train the proxies longer ([proxy.train] train_tokens) or with a smaller vocabulary",
            );
        }
    }
    if let Some(fit) = evidence.fit {
        let best = fit
            .out_of_fold
            .iter()
            .min_by(|a, b| a.measured.total_cmp(&b.measured));
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
        // Compared at the proxies' budget: the best run may repeat a domain more than the real run's
        // epoch caps allow, so the search's answer without those caps is what it must not lose to, by
        // more than one run's sampling error (the best of many noisy runs is low by about that much).
        if let (Some(optimum), Some(best)) = (regmix, best) {
            let noise = fit.target_error.as_ref().map_or(0.0, |e| e.standard_error);
            let uncapped = optimum.predicted_loss_uncapped;
            if let Some((predicted, without_caps)) =
                worse_than_measured(optimum.predicted_loss, uncapped, best.measured, noise)
            {
                warn(
                    format!(
                        "the chosen mixture's predicted target loss{without_caps} {predicted:.4} is worse than \
                         run {}'s measured {:.4} (by more than one run's sampling error, {noise:.4})",
                        best.run_id, best.measured
                    ),
                    "the regression misses the best region: compare that run's mixture, and train more proxies near it",
                );
            }
        }
    }
    if let Some(intervals) = regmix.and_then(|o| o.intervals.as_ref())
        && let Some(widest) = intervals.widest()
        && widest.high - widest.low > bootstrap::WIDE
    {
        warn(
            format!(
                "the answer is uncertain: over {} resamples of the runs, `{}`'s weight ranges over [{:.3}, {:.3}] \
                 ({:.0}% interval, wider than {})",
                intervals.resamples,
                widest.domain,
                widest.low,
                widest.high,
                intervals.level * 100.0,
                bootstrap::WIDE
            ),
            "train more proxies ([regmix.sample] candidates) or longer ([proxy.train] train_tokens), and \
             read the weights to the interval's precision, not to four decimals",
        );
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

/// Whether the search's answer is predicted worse than the best measured run, compared at the proxies'
/// budget: the best run may repeat a domain more than the real run's epoch caps allow, so the search's
/// answer without those caps (`uncapped`, where they bind) is what must not lose to it, and by more than
/// `noise`, one run's sampling error (the best of many noisy runs is low by about that much). Returns the
/// prediction compared and how it was made.
pub fn worse_than_measured(
    predicted: f64,
    uncapped: Option<f64>,
    best_measured: f64,
    noise: f64,
) -> Option<(f64, &'static str)> {
    let (compared, how) = match uncapped {
        Some(uncapped) => (uncapped, " without the real run's epoch caps"),
        None => (predicted, ""),
    };
    (compared > best_measured + noise).then_some((compared, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_worse_than_a_run_only_beyond_its_noise_and_at_the_proxies_budget() {
        // Predicted 7.25 under the caps against a run measured 7.10: worse, by 0.15.
        assert_eq!(
            worse_than_measured(7.25, None, 7.10, 0.03),
            Some((7.25, ""))
        );
        // Within one run's sampling error: not worse.
        assert_eq!(worse_than_measured(7.12, None, 7.10, 0.03), None);
        // The caps cost the answer what the run had: compared without them, it is not worse.
        assert_eq!(worse_than_measured(7.25, Some(7.11), 7.10, 0.03), None);
        let (loss, how) = worse_than_measured(7.25, Some(7.2), 7.10, 0.03).unwrap();
        assert_eq!(loss, 7.2);
        assert!(how.contains("without the real run's epoch caps"));
    }
}
