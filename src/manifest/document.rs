//! The manifest document, `mixtures/<name>.json` ([`Manifest`], schema in `schemas/manifest.schema.json`),
//! and the settings that shape it ([`ManifestConfig`], a pipeline config's `[manifest]`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::format::Format;
use crate::data::tokens::ContentDigest;
use crate::data::tokens::write::TokenDtype;
use crate::regmix::mixture::DEFAULT_MAX_EPOCHS;

/// The settings of a manifest: `remix manifest`'s flags, and a pipeline config's `[manifest]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestConfig {
    pub name: String,
    /// `regmix` (the simulated optimum) or `doremi`, in a pipeline. Default: regmix when `[regmix]` is
    /// there. `remix manifest` reads the weights file it is given.
    #[serde(default)]
    pub from: Option<WeightsFrom>,
    /// Tokens the real run trains on.
    pub train_tokens: u64,
    /// Most times a domain may be repeated. Default [`DEFAULT_MAX_EPOCHS`] (4).
    #[serde(default = "max_epochs")]
    pub max_epochs: f64,
    /// Allow domains repeated more than `max_epochs` (with a warning) instead of failing. Default off.
    #[serde(default)]
    pub allow_repeat: bool,
    /// Tokens per training sequence of the real run: the length of the fixed-length token samples the
    /// `mosaic` export writes. Default [`DEFAULT_SEQUENCE_LENGTH`] (2048).
    #[serde(default = "default_sequence_length")]
    pub sequence_length: u64,
    /// Trainer formats: megatron, neox, olmo-core, mosaic, hf, nanotron, litgpt, torchtitan.
    #[serde(default)]
    pub exports: Vec<Format>,
}

fn max_epochs() -> f64 {
    DEFAULT_MAX_EPOCHS
}

/// Where a pipeline's manifest takes its weights from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeightsFrom {
    /// RegMix's simulated optimum (`fit/optimum.json`).
    Regmix,
    /// DoReMi's weights (`doremi/weights.json`).
    Doremi,
}

impl std::fmt::Display for WeightsFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightsFrom::Regmix => "regmix",
            WeightsFrom::Doremi => "doremi",
        })
    }
}

/// The default [`ManifestConfig::sequence_length`]: a common pre-training context (OLMo, LLaMA 2 use
/// 4096; 2048 also divides it).
pub const DEFAULT_SEQUENCE_LENGTH: u64 = 2048;

fn default_sequence_length() -> u64 {
    DEFAULT_SEQUENCE_LENGTH
}

/// `mixtures/<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Manifest {
    pub name: String,
    pub remix_version: String,
    /// What the weights count: always `tokens`; exports convert where a trainer counts documents.
    pub weights_count: String,
    pub train_tokens: u64,
    pub seed: u64,
    /// Tokens per training sequence of the real run ([`ManifestConfig::sequence_length`]).
    #[serde(default = "default_sequence_length")]
    pub sequence_length: u64,
    pub tokenizer: ManifestTokenizer,
    /// The folder holding the shards (absolute).
    pub tokens_dir: String,
    pub domains: Vec<ManifestDomain>,
    pub method: Method,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestTokenizer {
    pub sha256: String,
    pub vocab_size: u64,
    pub eod_id: u64,
    /// The shards' token type (`uint16` or `int32`).
    pub dtype: TokenDtype,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestDomain {
    pub domain: String,
    /// Share of the training tokens.
    pub weight: f64,
    /// Training documents and tokens in the shards.
    pub documents_available: u64,
    pub tokens_available: u64,
    /// Tokens the run takes from this domain (the weights times the budget, summing to it exactly).
    pub tokens_requested: u64,
    /// Times the domain is repeated: requested / available.
    pub epochs: f64,
    /// The training shards, in stream order: one for shards remix tokenized, every file for tokens
    /// brought in by `remix tokens import`.
    pub shards: Vec<ManifestShard>,
    /// Megatron prefix of the validation shard.
    pub val_prefix: String,
    /// The content digest of its documents, from `tokens/index.json` ([`ContentDigest`]): what
    /// mixture reuse matches domains by. Absent in a manifest an older remix wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ContentDigest>,
}

/// One training shard of a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestShard {
    /// Megatron prefix (`.bin`/`.idx` without the extension), absolute.
    pub prefix: String,
    /// Training documents read from the start of the file, and their tokens: the whole file, except
    /// where `remix tokens import` held its last documents out for validation.
    pub documents: u64,
    pub tokens: u64,
}

impl ManifestDomain {
    /// Each shard's share of the domain's tokens (they sum to 1; equal shares when it has none).
    pub fn shard_shares(&self) -> Vec<f64> {
        let total: u64 = self.shards.iter().map(|s| s.tokens).sum();
        self.shards
            .iter()
            .map(|s| {
                if total == 0 {
                    1.0 / self.shards.len() as f64
                } else {
                    s.tokens as f64 / total as f64
                }
            })
            .collect()
    }
}

/// How the weights were chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Method {
    /// `regmix` (an optimum from `remix simulate`), `doremi` (`remix doremi`'s weights.json), `reuse`
    /// (an earlier manifest's mixture renormalised after domains were only removed) or `given` (weights
    /// from elsewhere).
    pub kind: String,
    /// The weights file.
    pub source: String,
    /// What supports the choice: for RegMix the target, the predicted losses of the optimum, the
    /// natural and the uniform mixtures, and the fit's cross-validated quality when its report is beside
    /// the model; for DoReMi its settings, reference and each round's change and losses; under mixture
    /// reuse, `reuse`: the old manifest, what changed, the frozen block and what was searched; the
    /// warnings and the proxies' learning, typed ([`super::evidence::EvidenceSchema`]).
    #[schemars(with = "Option<super::evidence::EvidenceSchema>")]
    pub evidence: serde_json::Value,
}
