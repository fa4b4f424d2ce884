//! Training batches drawn by mixture weight, and the fixed validation sequences.
//!
//! A training row is `context + 1` consecutive tokens of one domain's stream (its documents
//! concatenated, end-of-document tokens between them, so sequences are packed across document
//! boundaries): the first `context` are the input, the last `context` the targets. Each row's domain is
//! drawn with probability equal to its weight, and its start uniformly over the stream (wrapping at the
//! end), from a generator seeded per proxy, so a run is reproducible. A domain of weight 0 is never
//! opened. Validation takes, per domain, consecutive windows from the start of its held-out shard with a
//! stride of `context` (every token is a target once), the same for every proxy, so losses compare
//! across runs; evaluation-only domains are validated the same way and never trained on.

use std::path::Path;

use anyhow::{Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::tokens::TokensIndex;
use crate::data::tokens::read::TokenShard;

/// A batch of training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `rows * (context + 1)` token ids, row after row.
    pub tokens: Vec<u32>,
    /// Index into [`MixtureSampler::domains`] of each row.
    pub row_domains: Vec<usize>,
}

struct ActiveDomain {
    cumulative: f64,
    domain: usize,
    shard: TokenShard,
}

/// Draws training rows from the domains of a mixture.
pub struct MixtureSampler {
    names: Vec<String>,
    /// The domains of positive weight, with their cumulative probability; the others are never opened.
    active: Vec<ActiveDomain>,
    context: usize,
    rng: StdRng,
    /// Where the next stratified batch starts its round over the domains.
    turn: usize,
}

impl MixtureSampler {
    /// A sampler over the training domains of `index` (shards in `tokens_dir`) with `weights` in index
    /// order of its training domains.
    pub fn new(
        tokens_dir: &Path,
        index: &TokensIndex,
        weights: &[f64],
        context: usize,
        seed: u64,
    ) -> Result<Self> {
        let training: Vec<_> = index.training_domains().collect();
        if weights.len() != training.len() {
            bail!(
                "{} weights for {} training domains",
                weights.len(),
                training.len()
            );
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            bail!("mixture weights must be finite, non-negative and not all zero: {weights:?}");
        }
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let mut active = Vec::new();
        for (d, (domain, &weight)) in training.iter().zip(weights).enumerate() {
            if weight == 0.0 {
                continue;
            }
            let shard = TokenShard::training(domain, tokens_dir)?;
            if shard.tokens() == 0 {
                bail!(
                    "domain `{}` has weight {weight} but no training tokens",
                    domain.domain
                );
            }
            running += weight / total;
            active.push(ActiveDomain {
                cumulative: running,
                domain: d,
                shard,
            });
        }
        Ok(Self {
            names: training.iter().map(|d| d.domain.clone()).collect(),
            active,
            context,
            rng: StdRng::seed_from_u64(seed),
            turn: 0,
        })
    }

    /// The training domains, in weight order.
    pub fn domains(&self) -> &[String] {
        &self.names
    }

    /// The next `rows` training rows.
    pub fn next_batch(&mut self, rows: usize) -> Batch {
        let width = self.context + 1;
        let mut tokens = vec![0u32; rows * width];
        let mut row_domains = Vec::with_capacity(rows);
        for row in tokens.chunks_exact_mut(width) {
            let u: f64 = self.rng.random();
            // Rounding can leave the last cumulative value a hair under 1: then the last domain.
            let position = self
                .active
                .iter()
                .position(|a| u < a.cumulative)
                .unwrap_or(self.active.len() - 1);
            row_domains.push(self.read_row(position, row));
        }
        Batch {
            tokens,
            row_domains,
        }
    }

    /// The next `rows` rows taken from the domains of positive weight in turn, whatever their weight:
    /// every batch of at least that many rows holds every domain (DoReMi's batches).
    pub fn next_stratified_batch(&mut self, rows: usize) -> Batch {
        let width = self.context + 1;
        let mut tokens = vec![0u32; rows * width];
        let mut row_domains = Vec::with_capacity(rows);
        for row in tokens.chunks_exact_mut(width) {
            let position = self.turn % self.active.len();
            self.turn += 1;
            row_domains.push(self.read_row(position, row));
        }
        Batch {
            tokens,
            row_domains,
        }
    }

    /// Fills `row` from a uniform start in the `position`-th active domain; returns its domain index.
    fn read_row(&mut self, position: usize, row: &mut [u32]) -> usize {
        let ActiveDomain { domain, shard, .. } = &self.active[position];
        let start = self.rng.random_range(0..shard.tokens());
        read_wrapping(shard, start, row);
        *domain
    }
}

/// Reads `out.len()` tokens from `start`, wrapping at the end of the shard.
fn read_wrapping(shard: &TokenShard, start: u64, out: &mut [u32]) {
    let total = shard.tokens();
    let mut filled = 0;
    let mut at = start;
    while filled < out.len() {
        let n = ((total - at) as usize).min(out.len() - filled);
        shard.read(at, &mut out[filled..filled + n]);
        filled += n;
        at = (at + n as u64) % total;
    }
}

/// One domain's validation sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationSet {
    pub domain: String,
    pub eval_only: bool,
    /// `sequences * (context + 1)` token ids.
    pub tokens: Vec<u32>,
    pub sequences: usize,
}

/// How many validation sequences a held-out shard of `tokens` tokens gives: windows of `context + 1`
/// tokens with stride `context`, at most `max_sequences`.
pub fn validation_sequences(tokens: u64, context: usize, max_sequences: usize) -> usize {
    (tokens.saturating_sub(1) as usize / context.max(1)).min(max_sequences)
}

/// The validation sequences of every domain: up to `max_sequences` windows of `context + 1` tokens with
/// stride `context` from the start of each held-out shard.
pub fn validation_sets(
    tokens_dir: &Path,
    index: &TokensIndex,
    context: usize,
    max_sequences: usize,
) -> Result<Vec<ValidationSet>> {
    let mut sets = Vec::new();
    let mut short = Vec::new();
    for domain in &index.domains {
        let shard = TokenShard::validation(domain, tokens_dir)?;
        let available = shard.tokens() as usize;
        if available < context + 1 {
            short.push(format!("`{}` ({available} tokens)", domain.domain));
            continue;
        }
        let sequences = validation_sequences(available as u64, context, max_sequences);
        let mut tokens = vec![0u32; sequences * (context + 1)];
        for (s, row) in tokens.chunks_exact_mut(context + 1).enumerate() {
            shard.read((s * context) as u64, row);
        }
        sets.push(ValidationSet {
            domain: domain.domain.clone(),
            eval_only: domain.eval_only,
            tokens,
            sequences,
        });
    }
    if !short.is_empty() {
        bail!(
            "the validation shards of {} hold less than one sequence of {} tokens: tokenize again with a larger \
             --val-fraction or --val-documents, or train with a shorter context",
            short.join(", "),
            context + 1
        );
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokens::TokenDomain;
    use crate::data::tokens::write::{ShardWriter, TokenDtype};

    /// Shards for `web` (ids 1000..) and `code` (ids 2000..) and an evaluation-only `target` (3000..).
    fn fixture(dir: &Path) -> TokensIndex {
        let mut domains = Vec::new();
        for (name, base, eval_only) in [
            ("web", 1000u32, false),
            ("code", 2000, false),
            ("target", 3000, true),
        ] {
            let write = |prefix: &Path, docs: usize| {
                let mut w = ShardWriter::create(prefix, TokenDtype::U16).unwrap();
                for d in 0..docs as u32 {
                    w.push(&[base + 2 * d, base + 2 * d + 1, 0]).unwrap();
                }
                w.finish().unwrap();
            };
            let train_docs = if eval_only { 0 } else { 50 };
            write(&dir.join(name), train_docs);
            write(&dir.join(format!("{name}.val")), 10);
            domains.push(TokenDomain {
                domain: name.into(),
                file_stem: name.into(),
                documents: train_docs as u64,
                tokens: 3 * train_docs as u64,
                val_documents: 10,
                val_tokens: 30,
                eval_only,
                val_unigram_entropy: None,
                val_bytes: None,
                digest: None,
                parts: Vec::new(),
            });
        }
        TokensIndex {
            tokenizer_sha256: String::new(),
            vocab_size: 4096,
            dtype: TokenDtype::U16,
            eod_id: 0,
            domains,
        }
    }

    #[test]
    fn rows_follow_the_weights_and_are_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let index = fixture(dir.path());
        let mut sampler = MixtureSampler::new(dir.path(), &index, &[0.8, 0.2], 8, 3).unwrap();
        let batch = sampler.next_batch(4000);
        let web = batch.row_domains.iter().filter(|&&d| d == 0).count() as f64 / 4000.0;
        assert!((web - 0.8).abs() < 0.03, "{web}");
        for (row, &domain) in batch.tokens.chunks_exact(9).zip(&batch.row_domains) {
            let base = [1000, 2000][domain];
            assert!(
                row.iter()
                    .all(|&t| t == 0 || (base..base + 100).contains(&t)),
                "{row:?} from domain {domain}"
            );
            // Consecutive non-EOD tokens of a document are consecutive ids.
            for pair in row.windows(2) {
                if pair[0] != 0 && pair[0] % 2 == 0 {
                    assert_eq!(pair[1], pair[0] + 1, "{row:?}");
                }
            }
        }
        let again = MixtureSampler::new(dir.path(), &index, &[0.8, 0.2], 8, 3)
            .unwrap()
            .next_batch(4000);
        assert_eq!(batch, again, "same seed, same batches");
    }

    #[test]
    fn a_zero_weight_domain_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let index = fixture(dir.path());
        std::fs::remove_file(dir.path().join("code.bin")).unwrap();
        let mut sampler = MixtureSampler::new(dir.path(), &index, &[1.0, 0.0], 8, 1).unwrap();
        assert!(sampler.next_batch(100).row_domains.iter().all(|&d| d == 0));
        assert!(MixtureSampler::new(dir.path(), &index, &[0.5, 0.5], 8, 1).is_err());
    }

    #[test]
    fn validation_windows_are_fixed_and_cover_each_target_once() {
        let dir = tempfile::tempdir().unwrap();
        let index = fixture(dir.path());
        let sets = validation_sets(dir.path(), &index, 4, 100).unwrap();
        assert_eq!(sets.len(), 3);
        let target = sets.iter().find(|s| s.domain == "target").unwrap();
        assert!(target.eval_only);
        assert_eq!(
            target.sequences, 7,
            "30 tokens, stride 4: (30 - 1) / 4 windows"
        );
        assert_eq!(&target.tokens[..5], &[3000, 3001, 0, 3002, 3003]);
        assert_eq!(&target.tokens[5..10], &[3003, 0, 3004, 3005, 0]);
        let err = validation_sets(dir.path(), &index, 64, 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--val-documents"), "{err}");
    }
}
