//! What validation writes, `validate/results.json` ([`ValidationReport`]): the settings, each mixture's
//! validation losses, and in a pipeline the rank transfer, whether the chosen mixture won, and the proxy
//! ladder.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::proxy::model::ProxyShape;
use crate::regmix::train::ProxyRunConfig;

/// Settings of `remix validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidateConfig {
    /// The proxy the mixtures were chosen with; the validation model is this one scaled up.
    pub proxy: ProxyRunConfig,
    /// Non-embedding parameters relative to the proxy. Default 4.
    pub model_scale: f64,
    /// Training tokens relative to the proxy's. Default: `model_scale` (tokens grow with parameters, as
    /// compute-optimal training scales them).
    #[serde(default)]
    pub token_scale: Option<f64>,
    /// Domains whose mean validation loss decides. Default: the evaluation-only domains.
    pub target: crate::regmix::fit::Target,
}

/// `validate/results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationReport {
    pub config: ValidateConfig,
    /// The model every mixture trained.
    pub shape: ProxyShape,
    pub non_embedding_params: usize,
    pub train_tokens: u64,
    pub target: crate::regmix::fit::Target,
    /// One per mixture, in the order given.
    pub results: Vec<MixtureResult>,
    /// Spearman rho between the fit's predicted and the measured target losses (pipeline stage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_transfer: Option<RankTransfer>,
    /// Whether the chosen mixture's model beat the natural and the uniform mixtures' (pipeline stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_beats: Option<ChosenBeats>,
    /// The proxy ladder: the holdout candidates trained at each scale (pipeline stage, with `ladder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Ladder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MixtureResult {
    /// `natural`, `uniform` or the file's name without extension.
    pub name: String,
    /// Where the weights came from.
    pub source: String,
    /// Weights per training domain.
    pub weights: BTreeMap<String, f64>,
    /// Validation loss on the target (the weighted sum over its domains, [`crate::regmix::fit::Target`]).
    pub target_loss: f64,
    /// The fit's prediction of the proxies' target loss for this mixture (pipeline stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_target_loss: Option<f64>,
    pub losses: BTreeMap<String, f64>,
}

/// Spearman's rho between predicted and measured target losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RankTransfer {
    pub rho: f64,
    /// Two-sided permutation p-value (10,000 seeded permutations).
    pub p_value: f64,
    /// Bootstrap 95% interval of rho (2,000 seeded resamples of the mixtures).
    pub interval: [f64; 2],
    /// Mixtures compared.
    pub mixtures: usize,
}

/// The chosen mixture's validation model against the natural and uniform mixtures'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChosenBeats {
    pub natural: bool,
    pub uniform: bool,
}

/// The proxy ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ladder {
    /// Scales relative to the proxy, ascending.
    pub scales: Vec<f64>,
    /// The holdout candidates' names, in the order of the losses.
    pub candidates: Vec<String>,
    /// `target_losses[s][c]`: candidate `c`'s target loss at scale `s`.
    pub target_losses: Vec<Vec<f64>>,
    /// `rho[s][t]`: Spearman's rho between the candidates' losses at scales `s` and `t`.
    pub rho: Vec<Vec<f64>>,
    /// The smallest scale whose ranking agrees with the largest one's at rho >= 0.9.
    pub recommended_scale: f64,
}

impl ValidationReport {
    /// What the manifest's evidence says of this validation (`method.evidence.validation`): the
    /// validation model's scale and size, the target, each mixture's target loss, the rank transfer,
    /// whether the chosen mixture won, and the ladder's recommended proxy scale.
    pub fn manifest_evidence(&self) -> serde_json::Value {
        let target_losses: BTreeMap<&str, f64> = self
            .results
            .iter()
            .map(|r| (r.name.as_str(), r.target_loss))
            .collect();
        serde_json::json!({
            "model_scale": self.config.model_scale,
            "non_embedding_params": self.non_embedding_params,
            "target": self.target,
            "target_losses": target_losses,
            "rank_transfer": self.rank_transfer,
            "chosen_beats": self.chosen_beats,
            "recommended_proxy_scale": self.ladder.as_ref().map(|l| l.recommended_scale),
        })
    }
}

/// Agreement with the largest scale that makes a scale enough.
pub const LADDER_AGREEMENT: f64 = 0.9;
