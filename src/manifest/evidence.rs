//! The typed parts of a manifest's evidence ([`super::Method::evidence`]): the signs that the answer is
//! weak ([`Warning`]) and whether the proxies learned more than the target's token frequencies
//! ([`ProxyLearning`]). The manifest stage writes them; the answer block and the report read them back
//! with these types, and the manifest's schema lists them ([`EvidenceSchema`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A sign that the answer is weak, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    pub warning: String,
    pub todo: String,
}

/// How far the proxies got on the target, against the two losses that mean they learned nothing
/// useful: an untrained model's `ln V` and the target's unigram entropy (a model that knows only its
/// token frequencies). Losses in nats per token of the proxies' tokenizer, and in bits per byte of
/// the target's text where its bytes are known (these compare across vocabularies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProxyLearning {
    /// The median target loss over the finished proxy runs.
    pub median_target_loss: f64,
    /// The lowest.
    pub best_target_loss: f64,
    /// `ln V` of the proxies' vocabulary: a uniform guess.
    pub untrained_loss: f64,
    /// The target's unigram entropy (the target's weighted sum over its domains' validation shards;
    /// [`crate::data::tokens::TokenDomain::val_unigram_entropy`]); absent in an index without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unigram_entropy: Option<f64>,
    /// The median target loss and the unigram entropy in bits per byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_bits_per_byte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unigram_bits_per_byte: Option<f64>,
    /// Whether the median proxy's target loss is below the unigram entropy: `false` means the runs'
    /// order says whose token frequencies resemble the target's, not what trains a model for it.
    /// Absent without the entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<bool>,
}

/// The schema of [`super::Method::evidence`]: the parts every manifest stage writes with a type; the
/// rest (the fit's and DoReMi's evidence, the validation, mixture reuse) is free-form. Null for weights
/// given without evidence.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct EvidenceSchema {
    /// The signs that the answer is weak, each with what to do.
    warnings: Option<Vec<Warning>>,
    /// Whether the proxies learned more than the target's token frequencies (RegMix's answers).
    proxy_learning: Option<ProxyLearning>,
    /// Each weight's interval over the search repeated on resampled runs (RegMix's answers).
    intervals: Option<crate::regmix::bootstrap::Intervals>,
}
