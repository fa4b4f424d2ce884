//! The dedup stage's settings ([`DedupConfig`], the `[dedup]` section), each default with its reason.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::minhash::MinHashConfig;
use super::normalize::Normalization;
use crate::data::corpus::config::CorpusConfig;

/// Dedup settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DedupConfig {
    pub corpus: CorpusConfig,
    pub normalization: Normalization,
    /// Drop exact duplicates (same normalised text). Default on.
    pub exact: bool,
    /// Drop MinHash near-duplicates. Default on.
    pub near: bool,
    pub minhash: MinHashConfig,
    /// Compute the true Jaccard similarity of every candidate pair and keep only pairs at or above
    /// `threshold`. Default off, as in the reference pipelines: LSH alone already keeps few pairs far
    /// below the threshold, and verification costs a second read of the candidates.
    pub verify: bool,
    /// Jaccard threshold of `verify`. Default 0.8, the usual near-duplicate cut.
    pub threshold: f64,
    /// Domains in the order their copies are kept: a duplicate found in two domains survives in the
    /// one listed first. Unlisted domains follow in corpus order. Default empty (corpus order).
    pub priority: Vec<String>,
    /// Seed of the MinHash functions. Default 1.
    pub seed: u64,
    /// LSH buckets up to this size give every pair as a candidate; larger ones (boilerplate shared by
    /// thousands of documents) link each member to the first and the previous one. Default 64.
    pub full_bucket: usize,
    /// Also write the dropped rows to `dedup/_dropped/`. Default off.
    pub write_dropped: bool,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            corpus: CorpusConfig::default(),
            normalization: Normalization::default(),
            exact: true,
            near: true,
            minhash: MinHashConfig::default(),
            verify: false,
            threshold: 0.8,
            priority: Vec::new(),
            seed: 1,
            full_bucket: 64,
            write_dropped: false,
        }
    }
}
