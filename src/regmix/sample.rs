//! `remix sample`: the candidate mixtures that proxy runs train on (RegMix's generator).
//!
//! Reads the training domains and their token counts from `tokens/index.json` and writes
//! `mixtures.parquet`: one row per candidate, `mixture_id` then one `w_<domain>` column per training
//! domain (evaluation-only domains are never sampled). The first two rows are always the natural
//! (token-proportional) mixture and the uniform one (under the epoch caps when a domain is too small for
//! it); the rest are Dirichlet draws from
//! [`crate::regmix::mixture`] (prior = token shares ^ temperature, strength log-uniform), each rejected when it
//! would repeat a domain more than `max_epochs` times in `train_tokens` proxy tokens, or when it lies
//! within `min_distance` (L1) of a candidate already kept. The same seed gives the same file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use rand::SeedableRng;
use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::DEFAULT_SEED;
use crate::core::workdir::write_atomic_with;
use crate::data::tokens::TokensIndex;
use crate::regmix::frozen::{FrozenBlock, Reduction, frozen_block_entry};
use crate::regmix::mixture::{DEFAULT_MAX_EPOCHS, SamplingConfig, caps_for, draw, l1, within_caps};
use crate::regmix::spread::{SPREAD_POOL, spread};

/// Candidate generation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Sampled candidates, besides the natural and uniform mixtures. Default 512: RegMix's count for 17
    /// domains (about 30 runs per domain).
    pub candidates: usize,
    pub seed: u64,
    pub sampling: SamplingConfig,
    /// Most times a domain may be repeated in one proxy run. Default 4, the usual limit of useful
    /// repetition (RegMix allowed 15).
    pub max_epochs: f64,
    /// Tokens each proxy trains on, for the epoch caps. Default none (no caps).
    pub train_tokens: Option<u64>,
    /// A candidate closer than this (L1 distance) to one already kept is drawn again. Default 0.01: far
    /// below the spacing of 512 candidates, so only true near-repeats go.
    pub min_distance: f64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self {
            candidates: 512,
            seed: DEFAULT_SEED,
            sampling: SamplingConfig::default(),
            max_epochs: DEFAULT_MAX_EPOCHS,
            train_tokens: None,
            min_distance: 0.01,
        }
    }
}

/// The sampled mixtures.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixtures {
    pub domains: Vec<String>,
    /// (mixture id, weights in `domains` order).
    pub rows: Vec<(String, Vec<f64>)>,
    /// Under mixture reuse, the domains every row keeps in fixed proportions
    /// ([`crate::regmix::frozen`]); written into the file's metadata.
    pub frozen: Option<FrozenBlock>,
}

/// Draws the candidates for the training domains of a token index.
pub fn sample(index: &TokensIndex, config: &SampleConfig) -> Result<Mixtures> {
    let training: Vec<_> = index.training_domains().collect();
    if training.is_empty() {
        bail!("the token index has no training domains (every domain is evaluation-only)");
    }
    if let [only] = training.as_slice() {
        bail!(
            "`{}` is the only training domain: every mixture puts all its weight on it, so there is no \
             mixture to choose and no proxy to train. Add training domains (or un-mark evaluation-only ones), \
             or write its manifest directly: remix manifest --weights FILE holding {{\"{}\": 1}}",
            only.domain,
            only.domain
        );
    }
    let domains: Vec<String> = training.iter().map(|d| d.domain.clone()).collect();
    let tokens: Vec<u64> = training.iter().map(|d| d.tokens).collect();
    let caps = caps_for(&tokens, config.train_tokens, config.max_epochs);
    let rows = draw_rows(&domains, &tokens, &caps, None, config, false)?;
    Ok(Mixtures {
        domains,
        rows,
        frozen: None,
    })
}

/// Rows [`sample_reused`] writes before its candidates: natural, uniform and the old mixture.
pub const FIXED_ROWS_REUSED: usize = 3;

/// Draws the candidates of a reuse search: in the reduced space of `reduction` (the free domains and
/// the frozen block), each expanded over every training domain. Besides the natural and uniform rows
/// (of the reduced space) comes `previous`, the old mixture (the block alone, under its cap).
/// `config.candidates` is the plan's count.
///
/// A reuse search has few candidates in few dimensions, where RegMix's sparse draws (made for 17
/// domains) land on a face or a vertex of the simplex by chance: with `spread_out`, the candidates
/// are a [`spread`] selection from [`SPREAD_POOL`] times as many draws of the same sampler (validation
/// holdouts are drawn without it, so they do not repeat the candidates' corners). Errors: as
/// [`sample`].
pub fn sample_reused(
    index: &TokensIndex,
    config: &SampleConfig,
    block: &FrozenBlock,
    spread_out: bool,
) -> Result<Mixtures> {
    let domains = index.training_names();
    let reduction = Reduction::new(&domains, block)?;
    let tokens: Vec<u64> = index.training_domains().map(|d| d.tokens).collect();
    let caps = caps_for(
        &reduction.cap_tokens(&tokens),
        config.train_tokens,
        config.max_epochs,
    );
    let mut previous = vec![0.0; reduction.dims()];
    previous[reduction.dims() - 1] = 1.0;
    let previous = crate::regmix::mixture::enforce(&previous, &caps, 0.0)?;
    let rows = draw_rows(
        &reduction.names(),
        &reduction.sum_tokens(&tokens),
        &caps,
        Some(previous),
        config,
        spread_out,
    )?;
    Ok(Mixtures {
        domains,
        rows: rows
            .into_iter()
            .map(|(id, w)| (id, reduction.expand(&w)))
            .collect(),
        frozen: Some(block.clone()),
    })
}

/// The rows over `domains` holding `tokens` each, under `caps`: natural, uniform, `previous` when
/// given, then `config.candidates` Dirichlet draws, or with `spread_out` the [`spread`] selection of
/// up to [`SPREAD_POOL`] times as many. Errors: caps that cannot sum to 1, too few draws within the
/// caps, a spread selection whose candidates cannot keep `min_distance` apart.
fn draw_rows(
    domains: &[String],
    tokens: &[u64],
    caps: &[f64],
    previous: Option<Vec<f64>>,
    config: &SampleConfig,
    spread_out: bool,
) -> Result<Vec<(String, Vec<f64>)>> {
    let total: u64 = tokens.iter().sum();
    if total == 0 {
        bail!("the training domains of the token index hold no tokens");
    }
    if caps.iter().sum::<f64>() < 1.0 {
        bail!(
            "{total} tokens repeated at most {} times cannot supply {} tokens per proxy: lower \
             --train-tokens or raise --max-epochs",
            config.max_epochs,
            config.train_tokens.unwrap_or(0)
        );
    }
    let natural: Vec<f64> = tokens.iter().map(|&t| t as f64 / total as f64).collect();
    // The natural mixture is always within the caps (they sum to at least 1); the uniform one is not when
    // a domain is small, and `remix train` would refuse it: it becomes the uniform mixture under the caps
    // (the excess moved to the domains with room, in proportion to their weight).
    let mut uniform = vec![1.0 / domains.len() as f64; domains.len()];
    if !within_caps(&uniform, caps) {
        uniform = crate::regmix::mixture::enforce(&uniform, caps, 0.0)?;
        tracing::info!(
            "the uniform mixture would repeat a domain more than {} times in {} proxy tokens: the uniform row is \
             capped at {}",
            config.max_epochs,
            config.train_tokens.unwrap_or(0),
            domains
                .iter()
                .zip(&uniform)
                .map(|(d, w)| format!("{d} {w:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut rows = vec![
        ("natural".to_string(), natural),
        ("uniform".to_string(), uniform),
    ];
    rows.extend(previous.map(|p| ("previous".to_string(), p)));

    let shares: Vec<f64> = tokens.iter().map(|&t| t as f64).collect();
    let prior = crate::regmix::mixture::prior(&shares, config.sampling.temperature);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut weights = vec![0.0; domains.len()];
    let wanted = if spread_out {
        SPREAD_POOL * config.candidates
    } else {
        config.candidates
    };
    let max_draws = 1000 * config.candidates.max(1);
    let fixed = rows.len();
    let (mut kept, mut draws) = (0, 0);
    while kept < wanted {
        draws += 1;
        if draws > max_draws {
            // A spread pool needs only as many draws as candidates to choose from.
            if spread_out && kept >= config.candidates {
                break;
            }
            bail!(
                "only {kept} of {} candidates found in {max_draws} draws: the epoch caps or \
                 --min-distance leave too little room; raise --max-epochs, lower --train-tokens or \
                 --min-distance",
                config.candidates
            );
        }
        if !draw(&mut rng, &prior, &config.sampling, &mut weights) || !within_caps(&weights, caps) {
            continue;
        }
        // A spread pool may hold near-repeats (the selection passes them over): only the fixed rows
        // are checked here, the selection's rows below.
        let checked = if spread_out {
            &rows[..fixed]
        } else {
            &rows[..]
        };
        let near = checked
            .iter()
            .any(|(_, other)| l1(other, &weights) < config.min_distance);
        if near {
            continue;
        }
        kept += 1;
        rows.push((format!("cand-{kept:05}"), weights.clone()));
    }
    if spread_out {
        let pool = rows.split_off(fixed);
        let (chosen, distances) = spread(&rows, pool, config.candidates);
        if let Some(i) = distances.iter().position(|&d| d < config.min_distance) {
            bail!(
                "only {i} of {} candidates lie --min-distance {} apart within the epoch caps: raise \
                     --max-epochs, lower --train-tokens, --min-distance or the candidates",
                config.candidates,
                config.min_distance
            );
        }
        rows.extend(
            chosen
                .into_iter()
                .enumerate()
                .map(|(i, (_, w))| (format!("cand-{:05}", i + 1), w)),
        );
    }
    tracing::info!(
        candidates = rows.len() - fixed,
        draws,
        spread = spread_out,
        "sampled candidate mixtures"
    );
    Ok(rows)
}

/// Writes `mixtures.parquet` (through a temporary file).
pub fn write(mixtures: &Mixtures, path: &Path) -> Result<()> {
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "mixture_id".into(),
        Arc::new(StringArray::from_iter_values(
            mixtures.rows.iter().map(|(id, _)| id),
        )),
    )];
    for (d, domain) in mixtures.domains.iter().enumerate() {
        columns.push((
            format!("w_{domain}"),
            Arc::new(Float64Array::from_iter_values(
                mixtures.rows.iter().map(|(_, w)| w[d]),
            )),
        ));
    }
    let batch = RecordBatch::try_from_iter(columns)?;
    write_atomic_with(path, |file| {
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
        if let Some(block) = &mixtures.frozen {
            writer.append_key_value_metadata(frozen_block_entry(block)?);
        }
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    })
    .with_context(|| format!("cannot write the mixtures to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokens::TokenDomain;
    use crate::regmix::mixture::epoch_caps;

    fn index(tokens: &[(&str, u64, bool)]) -> TokensIndex {
        TokensIndex {
            tokenizer_sha256: String::new(),
            vocab_size: 4096,
            dtype: crate::data::tokens::write::TokenDtype::U16,
            eod_id: 0,
            domains: tokens
                .iter()
                .map(|&(domain, tokens, eval_only)| TokenDomain {
                    domain: domain.into(),
                    file_stem: domain.into(),
                    documents: 1,
                    tokens,
                    val_documents: 1,
                    val_tokens: 1,
                    eval_only,
                    val_unigram_entropy: None,
                    val_bytes: None,
                    digest: None,
                    parts: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn natural_uniform_then_capped_distinct_candidates() {
        let index = index(&[
            ("web", 9_000, false),
            ("code", 1_000, false),
            ("target", 500, true),
        ]);
        let config = SampleConfig {
            candidates: 50,
            train_tokens: Some(4_000),
            max_epochs: 2.0,
            ..Default::default()
        };
        let mixtures = sample(&index, &config).unwrap();
        assert_eq!(mixtures.domains, ["web", "code"]);
        assert_eq!(mixtures.rows.len(), 52);
        assert_eq!(mixtures.rows[0], ("natural".to_string(), vec![0.9, 0.1]));
        assert_eq!(mixtures.rows[1].1, vec![0.5, 0.5]);
        for (_, w) in &mixtures.rows[2..] {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(
                w[1] <= 0.5 + 1e-12,
                "code capped at 2 epochs of 1000 tokens in 4000: {w:?}"
            );
        }
        assert_eq!(
            mixtures,
            sample(&index, &config).unwrap(),
            "same seed, same candidates"
        );
        let other = sample(&index, &SampleConfig { seed: 1, ..config }).unwrap();
        assert_ne!(mixtures.rows[2], other.rows[2]);
    }

    /// A reuse search's candidates are spread, so they start at the corners of the reduced simplex
    /// whatever the seed: validation's holdouts (another seed) are drawn as they come, or they would
    /// begin with the candidates' corners.
    #[test]
    fn reuse_candidates_spread_from_the_corners_and_holdouts_are_drawn_as_they_come() {
        let index = index(&[
            ("web", 50_000, false),
            ("books", 30_000, false),
            ("code", 10_000, false),
            ("math", 10_000, false),
            ("target", 500, true),
        ]);
        let block = FrozenBlock {
            domains: vec!["web".into(), "books".into()],
            ratios: vec![0.6, 0.4],
        };
        let config = SampleConfig {
            candidates: 10,
            ..Default::default()
        };
        let drawn = |config: &SampleConfig, spread_out| {
            sample_reused(&index, config, &block, spread_out)
                .unwrap()
                .rows
                .split_off(FIXED_ROWS_REUSED)
                .into_iter()
                .map(|(_, w)| w)
                .collect::<Vec<_>>()
        };
        let candidates = drawn(&config, true);
        assert_eq!(candidates.len(), 10);
        let other_seed = SampleConfig {
            seed: config.seed ^ 1,
            ..config.clone()
        };
        // The first two rows, in either order (their distances tie).
        let first_two = |rows: &[Vec<f64>]| {
            let mut two = rows[..2].to_vec();
            two.sort_by(|a, b| a.partial_cmp(b).unwrap());
            two
        };
        let corners = [vec![0.0, 0.0, 0.0, 1.0], vec![0.0, 0.0, 1.0, 0.0]];
        assert_eq!(
            first_two(&candidates),
            corners,
            "the corners farthest from the fixed rows"
        );
        assert_eq!(
            first_two(&drawn(&other_seed, true)),
            corners,
            "with any seed"
        );
        let holdouts = drawn(&other_seed, false);
        assert_ne!(first_two(&holdouts), corners);
        // The block keeps its frozen proportions (web 0.6 : books 0.4) in every row.
        for w in candidates.iter().chain(&holdouts) {
            assert!((w[0] * 0.4 - w[1] * 0.6).abs() < 1e-9, "{w:?}");
        }
    }

    /// Two domains hold at most 1 / 0.005 candidates 0.01 apart (L1 is twice the step in one weight):
    /// a spread selection of more stops with the error, not with near-repeats.
    #[test]
    fn a_spread_selection_keeps_the_minimum_distance_or_says_why_not() {
        let domains = ["web".to_string(), "code".to_string()];
        let config = |candidates| SampleConfig {
            candidates,
            ..Default::default()
        };
        let draw = |candidates| {
            draw_rows(
                &domains,
                &[500, 500],
                &[1.0, 1.0],
                None,
                &config(candidates),
                true,
            )
        };
        let rows = draw(20).unwrap();
        assert_eq!(rows.len(), 22);
        // The natural and uniform rows are one mixture here; each candidate keeps its distance.
        for (i, (_, a)) in rows.iter().enumerate().skip(2) {
            for (_, b) in &rows[..i] {
                assert!(l1(a, b) >= 0.01, "{a:?} {b:?}");
            }
        }
        let error = draw(300).unwrap_err().to_string();
        assert!(
            error.contains("of 300 candidates lie --min-distance 0.01 apart"),
            "{error}"
        );
    }

    /// A domain too small for its uniform share: the uniform row is capped, so `remix train` with the
    /// same settings takes every row.
    #[test]
    fn the_uniform_row_obeys_the_epoch_caps() {
        let index = index(&[
            ("web", 90_000, false),
            ("code", 9_000, false),
            ("tiny", 100, false),
        ]);
        let config = SampleConfig {
            candidates: 10,
            train_tokens: Some(10_000),
            max_epochs: DEFAULT_MAX_EPOCHS,
            ..Default::default()
        };
        let mixtures = sample(&index, &config).unwrap();
        let uniform = &mixtures.rows[1].1;
        assert_eq!(mixtures.rows[1].0, "uniform");
        assert_eq!(uniform.iter().sum::<f64>(), 1.0);
        assert!(
            uniform[2] <= 0.04,
            "tiny: 4 epochs of 100 tokens in 10,000: {uniform:?}"
        );
        // The excess goes to the others in proportion to their (equal) weights: still uniform among them.
        assert!((uniform[2] - 0.04).abs() < 1e-12, "{uniform:?}");
        assert!((uniform[0] - uniform[1]).abs() < 1e-12, "{uniform:?}");
        let caps = epoch_caps(&[90_000, 9_000, 100], 10_000, 4.0);
        for (id, w) in &mixtures.rows {
            assert!(within_caps(w, &caps), "{id}: {w:?}");
        }
    }
}
