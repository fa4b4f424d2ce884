//! Mixtures: candidate sampling (RegMix's Dirichlet prior) and the constraints a mixture must obey.
//!
//! Shared by `remix simulate` (and by candidate generation for proxy runs). A candidate is drawn from
//! Dirichlet(prior x strength), where the prior is each domain's token share raised to a temperature
//! and renormalised, and the strength is drawn log-uniformly from a range: small strengths give
//! spiky mixtures, large ones mixtures near the prior. Weights under a minimum are set to 0. A
//! domain may be repeated at most `max_epochs` times: with `train_tokens` planned and `tokens[d]`
//! available, its weight is capped at `max_epochs * tokens[d] / train_tokens`.

use anyhow::{Result, bail};
use rand::Rng;
use rand_distr::{Distribution, Gamma};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most times a domain may be repeated, unless set: 4 epochs. Up to about 4, repeated tokens are
/// worth almost as much as new ones; beyond, their value falls fast (Muennighoff et al. 2023, "Scaling
/// Data-Constrained Language Models"). The default of every epoch cap: candidates, simulation, proxy
/// training and the manifest.
pub const DEFAULT_MAX_EPOCHS: f64 = 4.0;

/// How candidates are drawn, with RegMix's published settings as defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Exponent on token shares in the prior. RegMix: 0.5, which lifts small domains.
    pub temperature: f64,
    /// Range of the Dirichlet strength, sampled log-uniformly. RegMix: 0.1 to 5.
    pub strength_min: f64,
    pub strength_max: f64,
    /// Weights below this are set to 0. RegMix: 2e-4.
    pub min_weight: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            strength_min: 0.1,
            strength_max: 5.0,
            min_weight: 2e-4,
        }
    }
}

/// L1 distance between two mixtures over the same domains (2 at most between two mixtures): how
/// candidates are kept apart (`min_distance`) and spread.
pub fn l1(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// The prior: shares of `tokens` raised to `temperature`, renormalised. Uniform when no domain has tokens.
pub fn prior(tokens: &[f64], temperature: f64) -> Vec<f64> {
    let powered: Vec<f64> = tokens
        .iter()
        .map(|&t| if t > 0.0 { t.powf(temperature) } else { 0.0 })
        .collect();
    let sum: f64 = powered.iter().sum();
    if sum > 0.0 {
        powered.iter().map(|p| p / sum).collect()
    } else {
        vec![1.0 / tokens.len() as f64; tokens.len()]
    }
}

/// Draws one candidate into `out`. Returns false when the draw is degenerate (every weight zero).
pub fn draw(rng: &mut impl Rng, prior: &[f64], config: &SamplingConfig, out: &mut [f64]) -> bool {
    let (low, high) = (config.strength_min.ln(), config.strength_max.ln());
    let strength = (low + (high - low) * rng.random::<f64>()).exp();
    let mut sum = 0.0;
    for (w, &p) in out.iter_mut().zip(prior) {
        *w = match Gamma::new(p * strength, 1.0) {
            Ok(gamma) if p > 0.0 => gamma.sample(rng),
            _ => 0.0,
        };
        sum += *w;
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return false;
    }
    out.iter_mut().for_each(|w| *w /= sum);
    drop_small(out, config.min_weight)
}

/// Sets weights under `min_weight` to 0 and renormalises; false if nothing is left.
fn drop_small(weights: &mut [f64], min_weight: f64) -> bool {
    weights
        .iter_mut()
        .filter(|w| **w < min_weight)
        .for_each(|w| *w = 0.0);
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return false;
    }
    weights.iter_mut().for_each(|w| *w /= sum);
    true
}

/// [`epoch_caps`] for a budget of `train_tokens` when there is one; without one, no caps (1 each).
pub fn caps_for(tokens: &[u64], train_tokens: Option<u64>, max_epochs: f64) -> Vec<f64> {
    match train_tokens {
        Some(train) => epoch_caps(tokens, train, max_epochs),
        None => vec![1.0; tokens.len()],
    }
}

/// The most weight each domain may take without being repeated more than `max_epochs` times.
pub fn epoch_caps(tokens: &[u64], train_tokens: u64, max_epochs: f64) -> Vec<f64> {
    tokens
        .iter()
        .map(|&t| (max_epochs * t as f64 / train_tokens.max(1) as f64).min(1.0))
        .collect()
}

pub fn within_caps(weights: &[f64], caps: &[f64]) -> bool {
    weights.iter().zip(caps).all(|(w, c)| *w <= *c)
}

/// Makes `weights` obey the constraints exactly: weights under `min_weight` dropped, no weight above
/// its cap (the excess is moved to domains with room, in proportion to their weight), and a sum of
/// exactly 1 in floating point.
pub fn enforce(weights: &[f64], caps: &[f64], min_weight: f64) -> Result<Vec<f64>> {
    if caps.iter().sum::<f64>() < 1.0 - 1e-12 {
        bail!(
            "the epoch caps allow at most {:.4} of the mixture: there are not enough tokens",
            caps.iter().sum::<f64>()
        );
    }
    let mut w = weights.to_vec();
    if !drop_small(&mut w, min_weight) {
        bail!("every weight is below the minimum {min_weight}");
    }
    for _ in 0..w.len() + 1 {
        let excess: f64 = w.iter().zip(caps).map(|(w, c)| (w - c).max(0.0)).sum();
        if excess <= 0.0 {
            break;
        }
        w.iter_mut().zip(caps).for_each(|(w, c)| *w = w.min(*c));
        let room: f64 = w
            .iter()
            .zip(caps)
            .filter(|(w, c)| **w < **c && **w > 0.0)
            .map(|(w, _)| *w)
            .sum();
        if room <= 0.0 {
            // Only empty domains have room: spread the excess over them up to their caps.
            let open: Vec<usize> = (0..w.len()).filter(|&i| w[i] < caps[i]).collect();
            let share = excess / open.len().max(1) as f64;
            open.iter()
                .for_each(|&i| w[i] = (w[i] + share).min(caps[i]));
        } else {
            let scale = excess / room;
            w.iter_mut()
                .zip(caps)
                .filter(|(w, c)| **w < **c && **w > 0.0)
                .for_each(|(w, _)| *w += *w * scale);
        }
    }
    exact_sum_to_one(&mut w, caps);
    Ok(w)
}

/// Adjusts the weight with the most room so that the sum, added left to right, is exactly 1.0.
pub fn exact_sum_to_one(weights: &mut [f64], caps: &[f64]) {
    for _ in 0..8 {
        let sum: f64 = weights.iter().sum();
        if sum == 1.0 {
            return;
        }
        let Some(i) = (0..weights.len())
            .filter(|&i| weights[i] > 0.0)
            .max_by(|&a, &b| (caps[a] - weights[a]).total_cmp(&(caps[b] - weights[b])))
        else {
            return;
        };
        weights[i] += 1.0 - sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prior_follows_token_shares_with_temperature() {
        let p = prior(&[9.0, 1.0], 0.5);
        assert!((p[0] - 0.75).abs() < 1e-12 && (p[1] - 0.25).abs() < 1e-12);
        assert_eq!(prior(&[0.0, 0.0], 0.5), vec![0.5, 0.5]);
    }

    #[test]
    fn draws_are_mixtures_and_deterministic() {
        let config = SamplingConfig::default();
        let p = prior(&[5.0, 3.0, 1.0, 1.0], 0.5);
        let mut a = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let (mut x, mut y) = (vec![0.0; 4], vec![0.0; 4]);
            let ok = draw(&mut a, &p, &config, &mut x);
            assert_eq!(ok, draw(&mut b, &p, &config, &mut y));
            assert_eq!(x, y);
            if ok {
                assert!((x.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(x.iter().all(|w| *w == 0.0 || *w >= config.min_weight));
            }
        }
    }

    #[test]
    fn enforce_obeys_caps_minimum_and_exact_sum() {
        let caps = [0.2, 1.0, 0.5, 0.05];
        let w = enforce(&[0.6, 0.1, 0.29999, 0.00001], &caps, 2e-4).unwrap();
        assert_eq!(w.iter().sum::<f64>(), 1.0);
        assert!(within_caps(&w, &caps), "{w:?}");
        assert_eq!(w[3], 0.0);
        assert!(enforce(&[0.5, 0.5], &[0.3, 0.3], 0.0).is_err());
        let w = enforce(&[1.0, 0.0, 0.0], &[0.4, 0.4, 0.4], 0.0).unwrap();
        assert!(
            within_caps(&w, &[0.4, 0.4, 0.4]) && w.iter().sum::<f64>() == 1.0,
            "{w:?}"
        );
    }
}
