//! What the dedup stage reports, `dedup/stats.json` ([`DedupReport`]): documents in, kept and dropped
//! (exact and near) per domain, and the cross-domain matrix of dropped documents and their survivors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::DedupConfig;
use super::index::{self, DocIndex, Fate};
use crate::core::domain::file_stem;
use crate::data::corpus::SkipCounts;

/// The dedup report file name inside `dedup/`.
pub const REPORT_FILE: &str = "stats.json";

/// `dedup/stats.json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DedupReport {
    pub documents_in: u64,
    pub kept: u64,
    pub dropped_exact: u64,
    pub dropped_near: u64,
    /// Rows whose domain value was null (not deduplicated, not written).
    pub rows_without_domain: u64,
    /// Candidate pairs from LSH (after exact duplicates were removed).
    pub candidate_pairs: u64,
    /// Candidate pairs whose true Jaccard reached the threshold (with `verify`).
    pub verified_pairs: Option<u64>,
    /// Bytes of index held per document, whatever its length.
    pub index_bytes_per_document: u64,
    pub domains: Vec<DomainDedup>,
    /// Documents dropped from one domain because their twin survived in another (or the same) domain.
    pub cross_domain: Vec<CrossDomain>,
    pub config: DedupConfig,
}

/// One domain's counts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DomainDedup {
    pub domain: String,
    /// The folder of its output: `dedup/<file_stem>/`.
    pub file_stem: String,
    /// Usable documents read (rows with null, empty or invalid text are in `skipped`).
    pub documents_in: u64,
    pub kept: u64,
    pub dropped_exact: u64,
    pub dropped_near: u64,
    pub skipped: SkipCounts,
}

/// A cell of the cross-domain duplicate matrix.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CrossDomain {
    /// The domain the dropped documents came from.
    pub dropped_from: String,
    /// The domain where the survivor of their cluster is.
    pub kept_in: String,
    pub documents: u64,
}

impl DedupReport {
    /// Reads `dedup/stats.json` from a dedup folder.
    pub fn read(dedup_dir: &Path) -> Result<Self> {
        let path = dedup_dir.join(REPORT_FILE);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a remix dedup report", path.display()))
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn make_report(
    index: &DocIndex,
    fates: &[Fate],
    survivors: &[u32],
    domain_names: &[String],
    skips: &[SkipCounts],
    rows_without_domain: u64,
    candidate_pairs: u64,
    verified_pairs: Option<u64>,
    config: &DedupConfig,
) -> DedupReport {
    let mut domains = empty_domain_counts(domain_names, skips);
    let mut cross: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for (doc, fate) in fates.iter().enumerate() {
        let domain = index.domains[doc];
        let counts = &mut domains[domain as usize];
        counts.documents_in += 1;
        match fate {
            Fate::Kept => counts.kept += 1,
            Fate::Exact { .. } => counts.dropped_exact += 1,
            Fate::Near { .. } => counts.dropped_near += 1,
        }
        if *fate != Fate::Kept {
            let kept_in = index.domains[survivors[doc] as usize];
            *cross.entry((domain, kept_in)).or_default() += 1;
        }
    }
    assemble_report(
        domains,
        cross,
        domain_names,
        rows_without_domain,
        candidate_pairs,
        verified_pairs,
        config,
    )
}

/// Each domain's counts at zero, its skipped rows filled in.
pub(super) fn empty_domain_counts(
    domain_names: &[String],
    skips: &[SkipCounts],
) -> Vec<DomainDedup> {
    domain_names
        .iter()
        .zip(skips)
        .map(|(name, skipped)| DomainDedup {
            domain: name.clone(),
            file_stem: file_stem(name),
            documents_in: 0,
            kept: 0,
            dropped_exact: 0,
            dropped_near: 0,
            skipped: *skipped,
        })
        .collect()
}

/// The report from the per-domain counts and the cross-domain matrix (domain indices, dropped from
/// and kept in).
pub(super) fn assemble_report(
    domains: Vec<DomainDedup>,
    cross: BTreeMap<(u32, u32), u64>,
    domain_names: &[String],
    rows_without_domain: u64,
    candidate_pairs: u64,
    verified_pairs: Option<u64>,
    config: &DedupConfig,
) -> DedupReport {
    let sum = |f: fn(&DomainDedup) -> u64| domains.iter().map(f).sum::<u64>();
    DedupReport {
        documents_in: sum(|d| d.documents_in),
        kept: sum(|d| d.kept),
        dropped_exact: sum(|d| d.dropped_exact),
        dropped_near: sum(|d| d.dropped_near),
        rows_without_domain,
        candidate_pairs,
        verified_pairs,
        index_bytes_per_document: index::bytes_per_document(config.minhash.bands) as u64,
        cross_domain: cross
            .into_iter()
            .map(|((from, to), documents)| CrossDomain {
                dropped_from: domain_names[from as usize].clone(),
                kept_in: domain_names[to as usize].clone(),
                documents,
            })
            .collect(),
        domains,
        config: config.clone(),
    }
}
