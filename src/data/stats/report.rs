//! What `remix stats` writes to `stats.json` ([`StatsReport`]): per domain its documents, bytes, words,
//! document lengths and skipped rows ([`DomainStats`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::corpus::SkipCounts;
use crate::data::corpus::config::CorpusConfig;
use crate::data::tokens::TokensIndex;

/// Statistics of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainStats {
    /// The domain name as it appears in the data.
    pub domain: String,
    /// The safe file stem later stages use for this domain's files.
    pub file_stem: String,
    /// Usable documents (non-null, non-empty, valid UTF-8 text).
    pub documents: u64,
    /// UTF-8 bytes of text in the usable documents.
    pub bytes: u64,
    /// This domain's share of all usable bytes in the corpus.
    pub share_bytes: f64,
    /// Whitespace-separated words.
    pub words: u64,
    /// Document length in bytes: mean, median, 90th and 99th percentile (interpolated), maximum.
    pub len_mean: f64,
    pub len_median: f64,
    pub len_p90: f64,
    pub len_p99: f64,
    pub len_max: u64,
    /// Document lengths on a log scale: each non-empty bin of `min_bytes` to `2 * min_bytes - 1` bytes
    /// (powers of two) and its documents, shortest first.
    #[serde(default)]
    pub length_histogram: Vec<LengthBin>,
    /// Rows skipped, by reason.
    pub skipped: SkipCounts,
    /// Training tokens (end-of-document tokens included), from a token index joined afterwards
    /// ([`StatsReport::join_tokens`]); null in `stats.json`, which the stage writes before tokenize.
    pub tokens: Option<u64>,
    /// Held-out validation tokens, from a token index joined afterwards; null in `stats.json`.
    pub val_tokens: Option<u64>,
}

/// One bin of [`DomainStats::length_histogram`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LengthBin {
    /// The bin's shortest length in bytes, a power of two; its longest is twice that, less one.
    pub min_bytes: u64,
    pub documents: u64,
}

/// What `remix stats` writes to `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatsReport {
    pub tool_version: String,
    /// How the corpus was read.
    pub corpus: CorpusConfig,
    /// The Parquet files read, in reading order.
    pub files: Vec<String>,
    /// Rows read, usable or not.
    pub rows: u64,
    /// Rows whose domain column was null: they belong to no domain and are skipped.
    pub rows_without_domain: u64,
    /// One entry per domain, sorted by name.
    pub domains: Vec<DomainStats>,
}

impl StatsReport {
    /// Adds each domain's training and validation tokens from `index` (a later stage's artifact, joined
    /// here rather than read by the stats stage). Domains the index does not list keep `None`.
    pub fn join_tokens(&mut self, index: &TokensIndex) {
        for domain in &mut self.domains {
            if let Some(t) = index.domains.iter().find(|t| t.domain == domain.domain) {
                domain.tokens = Some(t.tokens);
                domain.val_tokens = Some(t.val_tokens);
            }
        }
    }
}
