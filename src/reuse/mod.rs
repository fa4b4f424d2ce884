//! Mixture reuse: when the domains change, search only what changed (Olmix, allenai 2026: over five
//! updates of a real corpus, reuse matched a full recomputation with 74% less compute).
//!
//! [`plan`] compares an old manifest's domains with the current token index by content digest
//! ([`compare`]), and freezes the unchanged domains (less those `reopen` names) at their old relative
//! weights as one [`FrozenBlock`]. The sample stage then draws candidates in the reduced space (the
//! free domains and the block, [`crate::regmix::frozen::Reduction`]) and writes them expanded, with the block in
//! `mixtures.parquet`'s metadata; the runs table carries it on; the fit works in the reduced space
//! and records the block in `fit/model.json`; the simulation expands its optimum back over every
//! domain. When domains were only removed, the answer needs no proxy: the old mixture renormalised
//! over what is left ([`ReusePlan::removal_only`]).
//!
//! The sample stage writes the plan as `WORK/reuse/plan.json` ([`ReusePlan`]); `remix sample --reuse`
//! writes it beside the mixtures.

mod compare;

pub use compare::{Changed, Changes, Kept, MatchedBy, Side, Split, compare};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::workdir::{hex, write_json};
use crate::data::tokens::TokensIndex;
use crate::manifest::Manifest;
use crate::regmix::frozen::FrozenBlock;

/// Proxies per free dimension of the reduced space: RegMix trained 512 proxies for 17 domains, about
/// 30 per domain (Liu et al. 2024, "RegMix", section 3).
pub const PROXIES_PER_DIMENSION: usize = 30;
/// The fewest candidates a reuse search samples: below this a 5-fold fit has under 4 runs a fold.
pub const MIN_CANDIDATES: usize = 16;

/// `[reuse]` (and `remix sample --reuse`): the mixture an earlier search chose, reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReuseConfig {
    /// The earlier search's manifest (`mixtures/<name>.json`).
    pub from: PathBuf,
    /// Unchanged domains to search again instead of freezing them (Olmix's partial reuse).
    #[serde(default)]
    pub reopen: Vec<String>,
    /// Candidates to sample. Default [`default_candidates`] of the free dimensions.
    #[serde(default)]
    pub candidates: Option<usize>,
}

/// The default candidate count for `free` free dimensions (free domains; with the block's total
/// weight, the reduced simplex has exactly that many): `max(16, 30 x free)`, after RegMix's ~30 runs
/// per domain ([`PROXIES_PER_DIMENSION`], [`MIN_CANDIDATES`]).
pub fn default_candidates(free: usize) -> usize {
    (PROXIES_PER_DIMENSION * free).max(MIN_CANDIDATES)
}

/// A domain's weight in the old mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OldWeight {
    pub domain: String,
    pub weight: f64,
}

/// `reuse/plan.json`: what changed, and what is frozen and searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReusePlan {
    pub tool_version: String,
    /// The old manifest: its path, the SHA-256 of its bytes and its name.
    pub from: String,
    pub from_sha256: String,
    pub from_name: String,
    /// The old mixture, as the old manifest has it.
    pub old_weights: Vec<OldWeight>,
    pub changes: Changes,
    /// Unchanged domains searched again (`reopen`).
    pub reopened: Vec<String>,
    /// The frozen domains and their ratios (after only removals: the whole answer).
    pub block: FrozenBlock,
    /// The domains searched beside the block, in index order.
    pub free: Vec<String>,
    /// Candidates sampled (besides the fixed rows).
    pub candidates: usize,
    /// When domains were only removed: the answer, the old mixture renormalised over what is left
    /// (every current training domain, in index order). No proxy trains.
    pub removal_only: Option<Vec<OldWeight>>,
    /// What the plan noticed and decided, as said in the log.
    pub notes: Vec<String>,
}

/// Reads an old manifest. Errors: unreadable, or not a remix manifest.
pub fn read_old_manifest(path: &Path) -> Result<(Manifest, String)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the manifest to reuse, {}", path.display()))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a remix manifest ({e}): [reuse] from takes the mixtures/<name>.json an earlier \
             `remix run` or `remix manifest` wrote",
            path.display()
        )
    })?;
    Ok((manifest, hex(&Sha256::digest(&bytes))))
}

/// Compares the manifest at `config.from` with `index` and plans the reuse. Errors: a manifest that is
/// not remix's, another tokenizer, nothing unchanged to reuse, `reopen` naming a domain that is not
/// unchanged, a block whose old weights are all zero.
pub fn plan(config: &ReuseConfig, index: &TokensIndex) -> Result<ReusePlan> {
    let path = &config.from;
    let (old, sha256) = read_old_manifest(path)?;
    let t = &old.tokenizer;
    let other_tokenizer = t.vocab_size != index.vocab_size
        || t.eod_id != index.eod_id
        || t.dtype != index.dtype
        || (!t.sha256.is_empty()
            && !index.tokenizer_sha256.is_empty()
            && t.sha256 != index.tokenizer_sha256);
    if other_tokenizer {
        bail!(
            "{} was chosen over tokens of another tokenizer (vocabulary {}, end-of-document {}, {}, sha256 {}) \
             than the token index's (vocabulary {}, end-of-document {}, {}, sha256 {}): its weights do not \
             carry over. Tokenize with the old tokenizer, or remove [reuse] to search from scratch",
            path.display(),
            t.vocab_size,
            t.eod_id,
            t.dtype,
            short(&t.sha256),
            index.vocab_size,
            index.eod_id,
            index.dtype,
            short(&index.tokenizer_sha256)
        );
    }
    let old_sides: Vec<Side> = old
        .domains
        .iter()
        .map(|d| Side {
            domain: d.domain.clone(),
            digest: d.digest,
            tokens: d.tokens_available,
            documents: d.documents_available,
        })
        .collect();
    let new_sides: Vec<Side> = index
        .training_domains()
        .map(|d| Side {
            domain: d.domain.clone(),
            digest: d.digest,
            tokens: d.tokens,
            documents: d.documents,
        })
        .collect();
    let changes = compare(&old_sides, &new_sides);
    let mut notes = Vec::new();
    if changes.matched_by == MatchedBy::NameAndTokens {
        notes.push(format!(
            "{} or the token index has no content digests (written by an older remix): domains are matched \
             by name and training token count, so a domain revised to the same token count counts as unchanged",
            path.display()
        ));
    }
    if changes.unchanged.is_empty() {
        bail!(
            "nothing to reuse: no domain of {} is unchanged in the token index.\n{}\nRemove [reuse] to search \
             every domain",
            path.display(),
            changes.describe()
        );
    }
    let unchanged: Vec<&str> = changes.unchanged.iter().map(|k| k.new.as_str()).collect();
    for name in &config.reopen {
        if !unchanged.contains(&name.as_str()) {
            bail!(
                "[reuse] reopen names `{name}`, which is not an unchanged domain (unchanged: {}); added, changed \
                 and split domains are searched already",
                unchanged.join(", ")
            );
        }
    }
    if !changes.added.is_empty() {
        for c in changes
            .changed
            .iter()
            .filter(|c| c.new_documents < c.old_documents)
        {
            notes.push(format!(
                "`{}` lost {} documents while {} were added: cross-domain deduplication against an added \
                 domain removes documents from the older one, which changes it; it is searched again",
                c.domain,
                c.old_documents - c.new_documents,
                changes.added.join(", ")
            ));
        }
    }
    let old_weight = |name: &str| {
        old.domains
            .iter()
            .find(|d| d.domain == name)
            .map_or(0.0, |d| d.weight)
    };
    let frozen: Vec<&Kept> = changes
        .unchanged
        .iter()
        .filter(|k| !config.reopen.contains(&k.new))
        .collect();
    let total: f64 = frozen.iter().map(|k| old_weight(&k.old)).sum();
    if frozen.is_empty() {
        bail!(
            "[reuse] reopen names every unchanged domain ({}): nothing is frozen, so nothing is reused. Remove \
             [reuse] to search every domain",
            unchanged.join(", ")
        );
    }
    if !(total > 0.0) {
        bail!(
            "the unchanged domains ({}) all had weight 0 in {}: there are no proportions to freeze. Reopen them \
             ([reuse] reopen) or remove [reuse]",
            unchanged.join(", "),
            path.display()
        );
    }
    let block = FrozenBlock {
        domains: frozen.iter().map(|k| k.new.clone()).collect(),
        ratios: frozen.iter().map(|k| old_weight(&k.old) / total).collect(),
    };
    let free: Vec<String> = index
        .training_names()
        .into_iter()
        .filter(|d| !block.domains.contains(d))
        .collect();
    let removal_only = (changes.only_removed() && config.reopen.is_empty()).then(|| {
        index
            .training_names()
            .into_iter()
            .map(|d| OldWeight {
                weight: block
                    .domains
                    .iter()
                    .position(|b| *b == d)
                    .map_or(0.0, |i| block.ratios[i]),
                domain: d,
            })
            .collect::<Vec<_>>()
    });
    if removal_only.is_some() {
        notes.push(format!(
            "domains were only removed ({}): the answer is the old mixture renormalised over what is left, \
             and no proxy trains",
            if changes.removed.is_empty() {
                "none".to_string()
            } else {
                changes.removed.join(", ")
            }
        ));
    }
    let candidates = config
        .candidates
        .unwrap_or_else(|| default_candidates(free.len()));
    Ok(ReusePlan {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        from: path.display().to_string(),
        from_sha256: sha256,
        from_name: old.name.clone(),
        old_weights: old
            .domains
            .iter()
            .map(|d| OldWeight {
                domain: d.domain.clone(),
                weight: d.weight,
            })
            .collect(),
        changes,
        reopened: config.reopen.clone(),
        block,
        free,
        candidates,
        removal_only,
        notes,
    })
}

impl ReusePlan {
    /// What the plan found and decided, for the terminal: the changes, the frozen block, what is
    /// searched, the notes.
    pub fn summary(&self) -> String {
        let frozen = self
            .block
            .domains
            .iter()
            .zip(&self.block.ratios)
            .map(|(d, r)| format!("{d} {r:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        let searched = if self.removal_only.is_some() {
            "nothing: the old mixture renormalised is the answer, and no proxy trains".to_string()
        } else {
            format!(
                "{} and the frozen block's total weight, with {} candidates",
                self.free.join(", "),
                self.candidates
            )
        };
        let notes: String = self.notes.iter().map(|n| format!("\nnote: {n}")).collect();
        format!(
            "reusing {} ({}):\n{}\nfrozen at their old proportions: {frozen}\nsearched: {searched}{notes}",
            self.from,
            match self.changes.matched_by {
                MatchedBy::Digest => "matched by content digest",
                MatchedBy::NameAndTokens => "matched by name and token count",
            },
            self.changes.describe(),
        )
    }
}

/// The sample step of a reuse search: plans it ([`plan`]) and writes, into `reuse_dir`, `plan.json`
/// and, when domains were only removed, `weights.json` (the answer; a stale `mixtures` is removed);
/// otherwise the candidates of the reduced space to `mixtures` ([`crate::regmix::sample::sample_reused`],
/// `sample.candidates` set to the plan's). The plan is written last. Errors: as [`plan`], a sampling
/// or write failure.
pub fn sample(
    config: &ReuseConfig,
    index: &TokensIndex,
    sample: &mut crate::regmix::sample::SampleConfig,
    mixtures: &Path,
    reuse_dir: &Path,
) -> Result<ReusePlan> {
    let plan = plan(config, index)?;
    for note in &plan.notes {
        tracing::warn!("{note}");
    }
    let plan_path = reuse_dir.join("plan.json");
    for stale in [&plan_path, &reuse_dir.join("weights.json")] {
        if stale.exists() {
            std::fs::remove_file(stale)
                .with_context(|| format!("cannot remove the old {}", stale.display()))?;
        }
    }
    match &plan.removal_only {
        Some(weights) => {
            if mixtures.exists() {
                std::fs::remove_file(mixtures)
                    .with_context(|| format!("cannot remove the stale {}", mixtures.display()))?;
            }
            write_json(
                &reuse_dir.join("weights.json"),
                &serde_json::json!({
                    "method": "reuse",
                    "from": plan.from,
                    "domains": weights,
                }),
            )?;
        }
        None => {
            sample.candidates = plan.candidates;
            let mixtures_table =
                crate::regmix::sample::sample_reused(index, sample, &plan.block, true)?;
            crate::regmix::sample::write(&mixtures_table, mixtures)?;
        }
    }
    write_json(&plan_path, &plan)?;
    Ok(plan)
}

/// The first 12 hex digits of a SHA-256, or `none`.
fn short(sha: &str) -> &str {
    if sha.is_empty() {
        "none"
    } else {
        &sha[..sha.len().min(12)]
    }
}

/// `DIR/reuse/plan.json`: in the work directory, or beside `remix sample --reuse`'s mixtures.
pub fn plan_path(dir: &Path) -> PathBuf {
    dir.join("reuse").join("plan.json")
}
