//! The fitted laws' parameters that sit on the bounds their meaning imposes ([`OnBound`]): a loss
//! floor at zero (the laws fit it as a logarithm, so a fit that wanted it negative comes back near
//! zero) and the target's shares summing to one ([`super::law::combine`]). `remix fit` reports every
//! one (`report.json`, the report's law table) and still chooses by cross-validation: on the
//! known-mixture benchmark, passing over a power law whose floor sat at zero under a domain the target
//! draws on chose the exponential law on 2 of 5 seeds, 0.20-0.24 from the truth where the power law was
//! 0.02-0.03 (README).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::regressor::Fitted;
use super::target::Target;

/// A floor below this (nats) is at its bound of zero: a language model's loss floor (the text's
/// entropy) is a nat or more, so a fit that puts it under a thousandth of a nat wanted it negative.
pub const FLOOR_AT_ZERO: f64 = 1e-3;
/// A target share above this is one the law's answer leans on.
pub const MIN_SHARE: f64 = 1e-3;
/// Shares whose sum is within this of one are at the sum's bound.
pub const SUM_AT_CAP: f64 = 1e-6;

/// Which bounded parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bounded {
    /// A law's loss floor (`e` of the power law, `exp(c)` of the exponential ones), bounded below by 0.
    Floor,
    /// The sum of the target's shares `a`, bounded above by 1.
    ShareSum,
}

/// One fitted parameter on its bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnBound {
    pub parameter: Bounded,
    /// The domain whose law holds it: a training domain (the per-domain laws) or a target domain
    /// (`log_linear`); absent for the shares' sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub value: f64,
    pub bound: f64,
    /// Whether the law's prediction leans on it: a floor at zero in a law the target draws on (a share
    /// above [`MIN_SHARE`], or any `log_linear` target law), which wanted a loss floor below zero to
    /// fit the runs.
    pub target_leans_on_it: bool,
}

impl OnBound {
    /// The bound in words, as the report and the logs say it.
    pub fn describe(&self) -> String {
        match (self.parameter, &self.domain) {
            (Bounded::Floor, Some(domain)) => format!(
                "the loss floor of `{domain}`'s law is {:.2e}, on its bound {} (the fit wanted it below zero){}",
                self.value,
                self.bound,
                if self.target_leans_on_it {
                    ", and the target leans on that law"
                } else {
                    ""
                }
            ),
            (Bounded::Floor, None) => format!("a loss floor is {:.2e}, on its bound 0", self.value),
            (Bounded::ShareSum, _) => format!(
                "the target's shares of the training domains sum to {:.6}, on their bound {} (the \
                 target's loss moves at least as much as the domains' it is made of)",
                self.value, self.bound
            ),
        }
    }
}

fn floor(domain: &str, value: f64, target_leans_on_it: bool) -> Option<OnBound> {
    (value < FLOOR_AT_ZERO).then(|| OnBound {
        parameter: Bounded::Floor,
        domain: Some(domain.to_string()),
        value,
        bound: 0.0,
        target_leans_on_it,
    })
}

fn share_sum(a: &[f64]) -> Option<OnBound> {
    let sum: f64 = a.iter().sum();
    (sum >= 1.0 - SUM_AT_CAP).then_some(OnBound {
        parameter: Bounded::ShareSum,
        domain: None,
        value: sum,
        bound: 1.0,
        target_leans_on_it: false,
    })
}

impl Fitted {
    /// The parameters of a fitted law on their bounds, with `domains` naming the regressor's inputs
    /// (the training domains) and `target` the target domains; empty for the other regressors, which
    /// have no parameters with a physical meaning.
    pub fn bounds(&self, domains: &[String], target: &Target) -> Vec<OnBound> {
        let name = |j: usize| domains.get(j).map_or("?", String::as_str);
        let mut out = Vec::new();
        match self {
            Fitted::PowerLaw(mix) => {
                for (j, (law, a)) in mix.laws.iter().zip(&mix.a).enumerate() {
                    out.extend(floor(name(j), law.e, *a > MIN_SHARE));
                }
                out.extend(share_sum(&mix.a));
            }
            Fitted::MixingLaw(mix) => {
                for (j, (law, a)) in mix.laws.iter().zip(&mix.a).enumerate() {
                    out.extend(floor(name(j), law.c.exp(), *a > MIN_SHARE));
                }
                out.extend(share_sum(&mix.a));
            }
            Fitted::LogLinear(laws) => {
                for (m, law) in laws.laws.iter().enumerate() {
                    let domain = target.domains().get(m).map_or("?", String::as_str);
                    out.extend(floor(domain, law.c.exp(), true));
                }
            }
            Fitted::Linear { .. } | Fitted::Gbdt(_) | Fitted::Forest(_) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::fit::metrics::random_mixtures;
    use crate::regmix::fit::power_law::{PowerLaw, PowerMixingLaw};

    /// Losses made by power laws whose floor is below zero: the fit brings the floor back to its bound
    /// near zero (not negative), and the bound is reported, with whether the target leans on it.
    #[test]
    fn a_floor_that_wanted_to_be_negative_is_on_its_bound_and_flagged() {
        let truth = |e: f64, own: usize| {
            let mut t = vec![0.02; 3];
            t[own] = 1.0;
            PowerLaw {
                e,
                k: 6.0,
                alpha: 0.15,
                eps: 0.01,
                t,
            }
        };
        let laws = [truth(-3.0, 0), truth(2.0, 1), truth(2.0, 2)];
        let x = random_mixtures(40, 3, 9);
        let losses: Vec<Vec<f64>> = (x.iter())
            .map(|w| laws.iter().map(|l| l.predict(w)).collect())
            .collect();
        assert!(losses.iter().flatten().all(|&l| l > 0.5), "{losses:?}");
        // The target is domain 0's loss: it leans on the law whose floor was negative.
        let y: Vec<f64> = losses.iter().map(|l| l[0]).collect();
        let fit = PowerMixingLaw::fit(&x, &losses, &y, 3).unwrap();
        assert!(fit.laws.iter().all(|l| l.e >= 0.0), "{fit:?}");
        let model = Fitted::PowerLaw(fit);
        let domains: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let target = Target::weighted(vec![("a".into(), 1.0)]).unwrap();
        let bounds = model.bounds(&domains, &target);
        let floor = bounds
            .iter()
            .find(|b| b.parameter == Bounded::Floor && b.domain.as_deref() == Some("a"))
            .unwrap_or_else(|| panic!("{bounds:?} {model:?}"));
        assert!(
            floor.target_leans_on_it && floor.value < FLOOR_AT_ZERO,
            "{floor:?}"
        );
        assert!(floor.describe().contains("wanted it below zero"));
        // The positive floors are found, not bounded.
        assert!(
            !bounds.iter().any(|b| b.domain.as_deref() == Some("b")),
            "{bounds:?}"
        );
    }
}
