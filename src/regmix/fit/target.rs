//! The fit's target: the evaluated domains whose validation loss the mixture should lower, each with
//! its weight in the objective (Olmix's `obj_weights`). In a config, `target = ["a", "b"]` weighs them
//! equally and `target = { a = 0.7, b = 0.3 }` as given; on the command line, `--target a,b` or
//! `--target a=0.7,b=0.3`. Weights are normalised to sum to 1; the target loss of a run is the weighted
//! sum of its domains' losses.

use std::collections::BTreeMap;
use std::str::FromStr;

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Evaluated domains and the weight of each one's loss (normalised to sum to 1). Serialised as a list
/// of names when the weights are equal (as before weights existed), else as a table of weights.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "Spec", into = "Spec")]
pub struct Target {
    domains: Vec<String>,
    weights: Vec<f64>,
}

/// A target as written.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum Spec {
    /// Domains weighed equally.
    Domains(Vec<String>),
    /// Each domain's weight in the objective (non-negative, not all zero).
    Weighted(BTreeMap<String, f64>),
}

impl TryFrom<Spec> for Target {
    type Error = anyhow::Error;

    fn try_from(spec: Spec) -> Result<Self> {
        match spec {
            Spec::Domains(domains) => Ok(Self::equal(domains)),
            Spec::Weighted(weights) => Self::weighted(weights.into_iter().collect()),
        }
    }
}

impl From<Target> for Spec {
    fn from(target: Target) -> Self {
        if target.is_equal() {
            Spec::Domains(target.domains)
        } else {
            Spec::Weighted(target.domains.into_iter().zip(target.weights).collect())
        }
    }
}

impl JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Spec::json_schema(generator)
    }
}

impl Target {
    /// `domains`, weighed equally (none: an empty target, which a fit refuses).
    pub fn equal(domains: Vec<String>) -> Self {
        let weights = vec![1.0 / domains.len().max(1) as f64; domains.len()];
        Self { domains, weights }
    }

    /// The domains with their weights, normalised. Errors: a weight that is negative or not finite,
    /// all weights zero, a domain named twice.
    pub fn weighted(pairs: Vec<(String, f64)>) -> Result<Self> {
        for (i, (domain, weight)) in pairs.iter().enumerate() {
            if !(weight.is_finite() && *weight >= 0.0) {
                bail!("target weight of `{domain}` is {weight}: weights must be 0 or more");
            }
            if pairs[..i].iter().any(|(d, _)| d == domain) {
                bail!("target names `{domain}` twice");
            }
        }
        let total: f64 = pairs.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            bail!("the target's weights are all zero: give at least one domain a positive weight");
        }
        // A domain of weight 0 does not count: it is left out of the objective.
        let (domains, weights) = pairs
            .into_iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(d, w)| (d, w / total))
            .unzip();
        Ok(Self { domains, weights })
    }

    /// The target's domains, in objective order.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// Each domain's weight, in [`Self::domains`] order; they sum to 1.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Whether every domain weighs the same (a plain list of domains).
    pub fn is_equal(&self) -> bool {
        self.weights.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-12)
    }

    /// `a, b` for equal weights, `0.70 a + 0.30 b` otherwise.
    pub fn label(&self) -> String {
        if self.is_equal() {
            return self.domains.join(", ");
        }
        self.domains
            .iter()
            .zip(&self.weights)
            .map(|(d, w)| format!("{w:.2} {d}"))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// The target loss from each domain's loss, in [`Self::domains`] order: their weighted sum.
    pub fn combine(&self, losses: &[f64]) -> f64 {
        losses.iter().zip(&self.weights).map(|(l, w)| l * w).sum()
    }

    /// The standard error of the target loss from each domain's (the domains' sampling errors taken
    /// as independent): `sqrt(sum w_i^2 se_i^2)`.
    pub fn combine_errors(&self, errors: &[f64]) -> f64 {
        errors
            .iter()
            .zip(&self.weights)
            .map(|(e, w)| (e * w).powi(2))
            .sum::<f64>()
            .sqrt()
    }
}

impl FromStr for Target {
    type Err = anyhow::Error;

    /// `a,b` (equal weights) or `a=0.7,b=0.3`.
    fn from_str(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if !parts.iter().any(|p| p.contains('=')) {
            return Ok(Self::equal(parts.into_iter().map(String::from).collect()));
        }
        let pairs = parts
            .into_iter()
            .map(|part| {
                let Some((domain, weight)) = part.split_once('=') else {
                    bail!(
                        "`{part}` has no weight: give every domain one (a=0.7,b=0.3) or none (a,b)"
                    );
                };
                let weight: f64 = weight.trim().parse().map_err(|_| {
                    anyhow::anyhow!("`{part}`: the weight after `=` is not a number")
                })?;
                Ok((domain.trim().to_string(), weight))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::weighted(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_tables_read_and_write_as_before() {
        let plain: Target = serde_json::from_str(r#"["a", "b"]"#).unwrap();
        assert_eq!(plain.weights(), [0.5, 0.5]);
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"["a","b"]"#);
        assert_eq!(plain.label(), "a, b");
        let weighted: Target =
            toml::from_str::<toml::Table>("t = { a = 3.0, b = 1.0 }").unwrap()["t"]
                .clone()
                .try_into()
                .unwrap();
        assert_eq!(weighted.weights(), [0.75, 0.25]);
        assert_eq!(weighted.label(), "0.75 a + 0.25 b");
        assert_eq!(weighted.combine(&[2.0, 4.0]), 2.5);
        let back: Target =
            serde_json::from_str(&serde_json::to_string(&weighted).unwrap()).unwrap();
        assert_eq!(back, weighted);
        assert_eq!("a=0.75,b=0.25".parse::<Target>().unwrap(), weighted);
        assert_eq!("a,b".parse::<Target>().unwrap(), plain);
    }

    #[test]
    fn bad_weights_are_refused() {
        for (text, expected) in [
            ("a=-1,b=1", "weights must be 0 or more"),
            ("a=0,b=0", "all zero"),
            ("a=1,a=2", "twice"),
            ("a=1,b", "has no weight"),
            ("a=x", "not a number"),
        ] {
            let error = text.parse::<Target>().unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let error = serde_json::from_str::<Target>(r#"{"a": -1.0}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("weights must be 0 or more"), "{error}");
    }
}
