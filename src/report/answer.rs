//! The answer first: what a run chose, how sure it is, and what to do when it is weak.
//!
//! [`Answer::of`] reads a manifest back into the block `remix run` ends its summary with and the report
//! opens with: the chosen weights beside the natural and uniform mixtures with each weight's interval,
//! the predicted target loss of each, how far the proxies got, the validation verdict, and the
//! warnings the manifest stage wrote ([`super::warnings`]).

use serde::Serialize;
use serde_json::Value;

use crate::manifest::Manifest;
pub use crate::manifest::evidence::{ProxyLearning, Warning};
use crate::regmix::bootstrap::Intervals;

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
    /// How far the proxies got on the target, against an untrained model and the target's unigram
    /// entropy.
    pub proxy_learning: Option<ProxyLearning>,
    /// Each chosen weight's interval over resampled runs, and how often the answer wins.
    pub intervals: Option<Intervals>,
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
        let warnings = typed(manifest, evidence, "warnings").unwrap_or_default();
        let proxy_learning = typed(manifest, evidence, "proxy_learning");
        let intervals = typed(manifest, evidence, "intervals");
        Answer {
            name: manifest.name.clone(),
            method: manifest.method.kind.clone(),
            domains,
            predicted_loss,
            proxy_learning,
            intervals,
            validation,
            warnings,
        }
    }

    /// The interval of `domain`'s weight as `[low, high]`, or `-` without intervals.
    pub fn interval(&self, domain: &str) -> String {
        (self.intervals.as_ref())
            .and_then(|i| i.domains.iter().find(|d| d.domain == domain))
            .map_or("-".into(), |d| format!("[{:.3}, {:.3}]", d.low, d.high))
    }

    /// What the intervals say in one line: their level and resamples, and how often the chosen
    /// mixture beats natural and the best measured run; `None` without intervals.
    pub fn intervals_sentence(&self) -> Option<String> {
        let i = self.intervals.as_ref()?;
        let natural = i.beats_natural.map_or(String::new(), |p| {
            format!("natural in {:.0}% of them and ", p * 100.0)
        });
        let caps = if i.best_run_within_caps {
            ""
        } else {
            ", which the real run's epoch caps do not allow"
        };
        let failed = if i.failed > 0 {
            format!(" ({} more left out: their refit failed)", i.failed)
        } else {
            String::new()
        };
        Some(format!(
            "Intervals: {:.0}% of the search's answers over {} resamples of the runs{failed}; the chosen mixture is \
             predicted to beat {natural}run {}'s mixture (the best measured{caps}) in {:.0}%",
            i.level * 100.0,
            i.resamples,
            i.best_run,
            i.beats_best_run * 100.0
        ))
    }

    /// The answer as the lines `remix run` ends with.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Chosen mixture `{}` ({}):\n  {:<24} {:>8} {:>8} {:>8} {:>16}\n",
            self.name, self.method, "domain", "chosen", "natural", "uniform", "interval"
        );
        for d in &self.domains {
            out.push_str(&format!(
                "  {:<24} {:>8.4} {:>8.4} {:>8.4} {:>16}\n",
                d.domain,
                d.chosen,
                d.natural,
                d.uniform,
                self.interval(&d.domain)
            ));
        }
        if let Some(p) = &self.predicted_loss {
            let natural = p.natural.map_or("-".into(), |l| format!("{l:.4}"));
            out.push_str(&format!(
                "  {:<24} {:>8.4} {:>8} {:>8.4}\n",
                "predicted target loss", p.chosen, natural, p.uniform
            ));
        }
        if let Some(sentence) = self.intervals_sentence() {
            out.push_str(&format!("{sentence}\n"));
        }
        if let Some(learning) = &self.proxy_learning {
            out.push_str(&format!("{}\n", learning.sentence()));
            if let Some(refusal) = learning.refusal() {
                out.push_str(&format!("{refusal}\n"));
            }
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

/// The evidence's `key` read as `T`: `None` where it is absent, and where it cannot be read (said in
/// the log, naming the manifest).
fn typed<T: serde::de::DeserializeOwned>(
    manifest: &Manifest,
    evidence: &Value,
    key: &str,
) -> Option<T> {
    match &evidence[key] {
        Value::Null => None,
        value => serde_json::from_value(value.clone())
            .inspect_err(|e| {
                tracing::warn!(manifest = %manifest.name, "its evidence `{key}` cannot be read ({e}): not shown")
            })
            .ok(),
    }
}
