//! Mixture weights files, as a user or an earlier stage gives them: any JSON with `{"domains":
//! [{"domain", "weight"}]}` (`fit/optimum.json`, `doremi/weights.json`) or a `{domain: weight}` object.
//! The manifest stage reads its weights through [`read_weights_file`], and so does DoReMi's reference
//! mixture.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct DomainWeight {
    domain: String,
    weight: f64,
}

#[derive(Deserialize)]
struct DomainList {
    domains: Vec<DomainWeight>,
}

/// Reads a weights file: any JSON with `{"domains": [{"domain", "weight"}]}` (`fit/optimum.json`,
/// `doremi/weights.json`) or a `{domain: weight}` object; returns the JSON and the weights by domain.
/// Weights must be finite, non-negative and sum to 1 within 1e-3; they are rescaled to sum to 1. Errors:
/// an unreadable file, not JSON, no weights in either form, a bad weight, a domain twice, a bad sum.
pub fn read_weights_file(path: &Path) -> Result<(Value, BTreeMap<String, f64>)> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the weights file {shown}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{shown} is not JSON"))?;
    let pairs: Vec<(String, f64)> = if let Ok(list) =
        serde_json::from_value::<DomainList>(value.clone())
    {
        list.domains
            .into_iter()
            .map(|d| (d.domain, d.weight))
            .collect()
    } else if let Ok(map) = serde_json::from_value::<BTreeMap<String, f64>>(value.clone()) {
        map.into_iter().collect()
    } else {
        bail!(
            "{shown} holds no weights remix can read: give fit/optimum.json, {{\"domains\": [{{\"domain\": ..., \
                 \"weight\": ...}}]}} or {{\"<domain>\": <weight>, ...}}"
        );
    };
    let mut weights = BTreeMap::new();
    for (domain, weight) in pairs {
        if !weight.is_finite() || weight < 0.0 {
            bail!(
                "{shown}: the weight of `{domain}` is {weight}; weights must be finite and non-negative"
            );
        }
        if weights.insert(domain.clone(), weight).is_some() {
            bail!("{shown}: the domain `{domain}` appears twice");
        }
    }
    let sum: f64 = weights.values().sum();
    if (sum - 1.0).abs() > 1e-3 {
        bail!("{shown}: the weights sum to {sum}, not 1; give weights that sum to 1");
    }
    weights.values_mut().for_each(|w| *w /= sum);
    Ok((value, weights))
}
