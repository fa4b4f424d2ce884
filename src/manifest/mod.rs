//! `remix manifest`: the chosen mixture as a file a trainer reads.
//!
//! Reads a weights file (`fit/optimum.json` from `remix simulate`, or any JSON holding
//! `domains: [{domain, weight}]` or a `{domain: weight}` object) and the token index, and writes
//! `mixtures/<name>.json` ([`Manifest`], schema in `schemas/manifest.schema.json`): per domain the
//! weight (counting tokens, summing to exactly 1), tokens available and requested (summing to exactly
//! the training budget), epochs, and shard prefixes; the tokenizer's identity; the method and the evidence
//! behind the choice. [`export`] renders it in each trainer's own syntax.

pub mod document;
pub mod evidence;
pub mod export;
pub mod format;
pub mod native;
pub mod weights;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::core::workdir::{write_atomic, write_json};
use crate::data::tokens::TokensIndex;
use crate::regmix::mixture::exact_sum_to_one;
pub use document::{
    DEFAULT_SEQUENCE_LENGTH, Manifest, ManifestConfig, ManifestDomain, ManifestShard,
    ManifestTokenizer, Method, WeightsFrom,
};
pub use weights::{WeightsSource, read_weights};

/// Builds the manifest for `weights` over the shards of `index` (in `tokens_dir`); `seed` is written
/// into the exports' samplers.
pub fn build(
    source: &WeightsSource,
    index: &TokensIndex,
    tokens_dir: &Path,
    config: &ManifestConfig,
    seed: u64,
) -> Result<Manifest> {
    if config.train_tokens == 0 {
        bail!("--train-tokens must be positive");
    }
    if config.sequence_length == 0 {
        bail!("--sequence-length must be positive");
    }
    let training: Vec<_> = index.training_domains().collect();
    let names: Vec<&str> = training.iter().map(|d| d.domain.as_str()).collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|d| !source.weights.contains_key(*d))
        .collect();
    let extra: Vec<&str> = source
        .weights
        .keys()
        .map(String::as_str)
        .filter(|d| !names.contains(d))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        bail!(
            "the weights in {} do not match the token index's training domains: missing {}; not in the index {}. \
             Give one weight per training domain ({}).",
            source.path,
            list_or_none(&missing),
            list_or_none(&extra),
            names.join(", ")
        );
    }
    let mut weights: Vec<f64> = names.iter().map(|d| source.weights[*d]).collect();
    let caps = vec![1.0; weights.len()];
    exact_sum_to_one(&mut weights, &caps);
    let requested = allocate(&weights, config.train_tokens);
    let tokens_dir = tokens_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the tokens folder {}", tokens_dir.display()))?;

    let mut domains = Vec::with_capacity(training.len());
    let mut too_repeated = Vec::new();
    for ((domain, &weight), &tokens_requested) in training.iter().zip(&weights).zip(&requested) {
        let epochs = if tokens_requested == 0 {
            0.0
        } else if domain.tokens == 0 {
            f64::INFINITY
        } else {
            tokens_requested as f64 / domain.tokens as f64
        };
        if epochs > config.max_epochs {
            too_repeated.push(format!(
                "`{}` {:.2} epochs ({} tokens requested of {} available, {:.2}x the limit)",
                domain.domain,
                epochs,
                tokens_requested,
                domain.tokens,
                epochs / config.max_epochs
            ));
        }
        let shards = domain
            .training_parts(&tokens_dir)
            .into_iter()
            .zip(domain.part_tokens())
            .map(|(part, tokens)| ManifestShard {
                prefix: part.prefix.display().to_string(),
                documents: part.documents.unwrap_or(domain.documents),
                tokens,
            })
            .collect();
        domains.push(ManifestDomain {
            domain: domain.domain.clone(),
            weight,
            documents_available: domain.documents,
            tokens_available: domain.tokens,
            tokens_requested,
            epochs: if epochs.is_finite() { epochs } else { f64::MAX },
            shards,
            val_prefix: domain.validation_prefix(&tokens_dir).display().to_string(),
            digest: domain.digest,
        });
    }
    if !too_repeated.is_empty() {
        let message = format!(
            "domains repeated more than --max-epochs {}: {}",
            config.max_epochs,
            too_repeated.join("; ")
        );
        if !config.allow_repeat {
            bail!("{message}. Lower --train-tokens, raise --max-epochs, or pass --allow-repeat.");
        }
        tracing::warn!("{message}");
    }
    Ok(Manifest {
        name: config.name.clone(),
        remix_version: env!("CARGO_PKG_VERSION").to_string(),
        weights_count: "tokens".into(),
        train_tokens: config.train_tokens,
        seed,
        sequence_length: config.sequence_length,
        tokenizer: ManifestTokenizer {
            sha256: index.tokenizer_sha256.clone(),
            vocab_size: index.vocab_size,
            eod_id: index.eod_id,
            dtype: index.dtype,
        },
        tokens_dir: tokens_dir.display().to_string(),
        domains,
        method: source.method.clone(),
    })
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Splits `total` in proportion to `weights` (summing to 1) into integers that sum to `total` exactly
/// (largest remainder; ties to the earlier domain).
pub fn allocate(weights: &[f64], total: u64) -> Vec<u64> {
    let exact: Vec<f64> = weights.iter().map(|w| w * total as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let assigned: u64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = total.saturating_sub(assigned);
    for &i in order.iter().cycle().take(order.len().max(1) * 2) {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// Writes the exports' native data first ([`native::export`]), then the manifest (atomically) and each
/// export beside it as `<name>.<format suffix>`, so a failure writes no manifest; returns the paths
/// written, the manifest first.
pub fn write(manifest: &Manifest, path: &Path, formats: &[export::Format]) -> Result<Vec<PathBuf>> {
    let mut formats = formats.to_vec();
    formats.dedup();
    native::export(manifest, &formats)?;
    write_json(path, manifest)?;
    let mut written = vec![path.to_path_buf()];
    let dir = path.parent().unwrap_or(Path::new(""));
    for format in formats {
        for file in export::render(manifest, format) {
            let export_path = dir.join(format!("{}.{}", manifest.name, file.suffix));
            write_atomic(&export_path, file.text.as_bytes())?;
            written.push(export_path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sums_exactly() {
        let weights = [0.1 + 0.2, 0.7 - 0.0000001, 0.0000001];
        let counts = allocate(&weights, 1_000_003);
        assert_eq!(counts.iter().sum::<u64>(), 1_000_003);
        assert_eq!(allocate(&[1.0 / 3.0; 3], 10), vec![4, 3, 3]);
        assert_eq!(allocate(&[0.5, 0.5, 0.0], 7)[2], 0);
    }
}
