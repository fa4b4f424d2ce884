//! The frozen block of mixture reuse: domains whose weights keep their old proportions, searched as
//! one entry of a reduced mixture space (Olmix, allenai 2026, `partial_mixture_reuse`).
//!
//! A full mixture over the training domains `w` maps to the reduced space as the free domains' weights
//! (in the full order), then the block's total `sum_{d in block} w_d`; a reduced mixture expands back
//! as `w_d = W_block * ratio_d`. The block's own loss, where a per-domain loss is needed (the
//! mixing law fits one law per entry), is the ratio-weighted mean of its domains' losses: the loss
//! of a model on the block's data in its frozen proportions.

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The name the frozen block has among the reduced domains (in `fit/model.json` and the fit's
/// report). Parenthesised so that it cannot be a domain's name taken from data (refused if it is).
pub const BLOCK_NAME: &str = "(frozen)";

/// Domains frozen at their old relative weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FrozenBlock {
    /// The block's domains, as the current token index names them.
    pub domains: Vec<String>,
    /// Each domain's share of the block (the old mixture's weights renormalised), summing to 1.
    pub ratios: Vec<f64>,
}

/// A frozen block placed among a full list of training domains: the maps between full and reduced
/// mixtures.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    full: Vec<String>,
    /// Indices into `full` of the free domains, in order.
    free: Vec<usize>,
    /// Indices into `full` of the block's domains, with their ratios.
    block: Vec<(usize, f64)>,
}

impl Reduction {
    /// Places `block` among the training domains `full`. Errors: a block domain `full` lacks, a domain
    /// named [`BLOCK_NAME`], ratios that are not a mixture.
    pub fn new(full: &[String], block: &FrozenBlock) -> Result<Self> {
        if full.iter().any(|d| d == BLOCK_NAME) {
            bail!(
                "a domain is named `{BLOCK_NAME}`, the frozen block's name under reuse: rename it"
            );
        }
        let sum: f64 = block.ratios.iter().sum();
        if block.domains.len() != block.ratios.len()
            || block.domains.is_empty()
            || (sum - 1.0).abs() > 1e-9
            || block.ratios.iter().any(|r| !(*r >= 0.0))
        {
            bail!(
                "the frozen block is not a mixture: {} domains, {} ratios summing to {sum}",
                block.domains.len(),
                block.ratios.len()
            );
        }
        let mut placed = Vec::with_capacity(block.domains.len());
        for (domain, &ratio) in block.domains.iter().zip(&block.ratios) {
            let Some(i) = full.iter().position(|d| d == domain) else {
                bail!(
                    "the frozen block's domain `{domain}` is not a training domain ({})",
                    full.join(", ")
                );
            };
            placed.push((i, ratio));
        }
        let free = (0..full.len())
            .filter(|i| !placed.iter().any(|(j, _)| j == i))
            .collect();
        Ok(Self {
            full: full.to_vec(),
            free,
            block: placed,
        })
    }

    /// The reduced domains: the free ones, then [`BLOCK_NAME`].
    pub fn names(&self) -> Vec<String> {
        self.free
            .iter()
            .map(|&i| self.full[i].clone())
            .chain([BLOCK_NAME.to_string()])
            .collect()
    }

    /// Entries of the reduced space (free domains and the block).
    pub fn dims(&self) -> usize {
        self.free.len() + 1
    }

    /// A full mixture (in `full` order) in the reduced space: the block's weights summed.
    pub fn reduce(&self, full: &[f64]) -> Vec<f64> {
        self.free_then(full, self.block.iter().map(|&(i, _)| full[i]).sum())
    }

    /// The free domains' entries of `full`, then `block`: the reduced space's order.
    fn free_then<T: Copy>(&self, full: &[T], block: T) -> Vec<T> {
        self.free.iter().map(|&i| full[i]).chain([block]).collect()
    }

    /// Per-domain values (losses) in the reduced space: the block's is the ratio-weighted mean.
    pub fn reduce_losses(&self, full: &[f64]) -> Vec<f64> {
        self.free_then(full, self.block.iter().map(|&(i, r)| r * full[i]).sum())
    }

    /// A reduced mixture as a full one: the block's weight spread by its ratios.
    pub fn expand(&self, reduced: &[f64]) -> Vec<f64> {
        let mut full = vec![0.0; self.full.len()];
        for (k, &i) in self.free.iter().enumerate() {
            full[i] = reduced[k];
        }
        let block = reduced[self.free.len()];
        for &(i, r) in &self.block {
            full[i] = block * r;
        }
        full
    }

    /// The reduced entries' tokens for the epoch caps, from each full domain's `tokens`: a free
    /// domain's own, and for the block the tokens it can supply in its proportions before its
    /// tightest domain runs out (`min tokens_d / ratio_d`), so that the block's cap
    /// `max_epochs * that / train_tokens` keeps every one of its domains within its own cap.
    pub fn cap_tokens(&self, tokens: &[u64]) -> Vec<u64> {
        let block = self
            .block
            .iter()
            .filter(|&&(_, r)| r > 0.0)
            .map(|&(i, r)| tokens[i] as f64 / r)
            .fold(f64::INFINITY, f64::min);
        self.free_then(tokens, block.min(u64::MAX as f64) as u64)
    }

    /// The reduced entries' tokens for the prior and the natural mixture: the block's is the sum of
    /// its domains'.
    pub fn sum_tokens(&self, tokens: &[u64]) -> Vec<u64> {
        self.free_then(tokens, self.block.iter().map(|&(i, _)| tokens[i]).sum())
    }
}

/// The Parquet key-value metadata key of the frozen block in `mixtures.parquet` and the runs table.
pub const FROZEN_BLOCK_KEY: &str = "remix.frozen_block";

/// The frozen block a Parquet file's metadata holds, if any. Errors: a value that is not a block.
pub fn frozen_block_of(
    metadata: &parquet::file::metadata::FileMetaData,
    path: &std::path::Path,
) -> Result<Option<FrozenBlock>> {
    let Some(value) = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == FROZEN_BLOCK_KEY))
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    serde_json::from_str(value).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "{}: its `{FROZEN_BLOCK_KEY}` metadata is not a frozen block ({e}): write the file again with remix",
            path.display()
        )
    })
}

/// The key-value metadata entry that records `block` in a Parquet file.
pub fn frozen_block_entry(block: &FrozenBlock) -> Result<parquet::file::metadata::KeyValue> {
    Ok(parquet::file::metadata::KeyValue::new(
        FROZEN_BLOCK_KEY.to_string(),
        serde_json::to_string(block)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reduce_and_expand_are_inverse_on_the_block_plane() {
        let full = names(&["web", "code", "books", "math"]);
        let block = FrozenBlock {
            domains: names(&["web", "books"]),
            ratios: vec![0.75, 0.25],
        };
        let r = Reduction::new(&full, &block).unwrap();
        assert_eq!(r.names(), ["code", "math", BLOCK_NAME]);
        let reduced = vec![0.2, 0.4, 0.4];
        let expanded = r.expand(&reduced);
        assert_eq!(expanded, vec![0.30000000000000004, 0.2, 0.1, 0.4]);
        let back = r.reduce(&expanded);
        for (a, b) in back.iter().zip(&reduced) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(r.reduce_losses(&[4.0, 1.0, 8.0, 2.0]), vec![1.0, 2.0, 5.0]);
        // web can give 1000 / 0.75, books 100 / 0.25 = 400: books binds.
        assert_eq!(r.cap_tokens(&[1000, 50, 100, 70]), vec![50, 70, 400]);
        assert_eq!(r.sum_tokens(&[1000, 50, 100, 70]), vec![50, 70, 1100]);
        let missing = FrozenBlock {
            domains: names(&["web", "pdfs"]),
            ratios: vec![0.5, 0.5],
        };
        assert!(Reduction::new(&full, &missing).is_err());
        let not_a_mixture = FrozenBlock {
            domains: names(&["web"]),
            ratios: vec![0.5],
        };
        assert!(Reduction::new(&full, &not_a_mixture).is_err());
    }
}
