//! The files the dedup phases hand to each other in `WORK/dedup-tasks/`: each signatures task's
//! `meta.json` ([`SignatureMeta`]) and band files, the corpus-wide domain list merged from them
//! ([`Domains`]), and the clusters phase's `clusters.json` ([`ClusterPlan`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::config::DedupConfig;
use super::report::DedupReport;
use crate::core::tasks::TaskSlice;
use crate::core::workdir::read_json;
use crate::data::corpus::SkipCounts;

/// `signatures/<i>-of-<N>/meta.json`: what the filter and clusters phases need of a signatures task besides
/// its records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct SignatureMeta {
    /// The domains of its row groups, in order of first appearance.
    pub(super) domains: Vec<String>,
    /// Per domain: usable documents, skipped rows, and the corpus-wide row of its first document.
    pub(super) documents: Vec<u64>,
    pub(super) skipped: Vec<SkipCounts>,
    pub(super) first_row: Vec<Option<u64>>,
    pub(super) rows_without_domain: u64,
    /// The layout its band files were written in.
    pub(super) bands: usize,
    pub(super) partitions: usize,
}

/// `clusters.json`: the report, and per domain that keeps nothing the row of its first document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ClusterPlan {
    pub(super) report: DedupReport,
    pub(super) empty_domain_at: Vec<Option<u64>>,
}

/// Bands the signatures phase writes: the MinHash bands, or one band of exact hashes without them.
pub(super) fn bands(config: &DedupConfig) -> usize {
    if config.near { config.minhash.bands } else { 1 }
}

/// Key partitions per band, so that `tasks` buckets tasks all have work.
pub(super) fn partitions(config: &DedupConfig, tasks: usize) -> usize {
    tasks.div_ceil(bands(config)).max(1)
}

pub(super) fn task_dir(dir: &Path, phase: &str, task: TaskSlice) -> PathBuf {
    dir.join(phase).join(task.file_name())
}

pub(super) fn band_file(b: usize, p: usize) -> String {
    format!("band-{b:03}-{p:05}.bin")
}

/// Every signatures task's meta, in task order. Errors: a task that has not finished, or one written
/// for another task count or band layout.
pub(super) fn read_metas(
    config: &DedupConfig,
    dir: &Path,
    count: usize,
) -> Result<Vec<SignatureMeta>> {
    (0..count)
        .map(|i| {
            let path = task_dir(dir, "signatures", TaskSlice { index: i, count }).join("meta.json");
            let meta: SignatureMeta = read_json(
                &path,
                &format!("signatures task {i}/{count} has not finished; run that phase first"),
            )?;
            if (meta.bands, meta.partitions) != (bands(config), partitions(config, count)) {
                bail!(
                    "{} was written with other MinHash or task settings; run the signatures phase again",
                    path.display()
                );
            }
            Ok(meta)
        })
        .collect()
}

/// The corpus-wide domain list (first appearance in corpus order, as the one-process run numbers
/// them) and, per signatures task, its domain indices in that list.
pub(super) struct Domains {
    pub(super) names: Vec<String>,
    pub(super) skipped: Vec<SkipCounts>,
    pub(super) documents: Vec<u64>,
    pub(super) first_row: Vec<Option<u64>>,
    pub(super) rows_without_domain: u64,
    pub(super) maps: Vec<Vec<u32>>,
}

impl Domains {
    pub(super) fn merge(metas: &[SignatureMeta]) -> Self {
        let mut out = Domains {
            names: Vec::new(),
            skipped: Vec::new(),
            documents: Vec::new(),
            first_row: Vec::new(),
            rows_without_domain: 0,
            maps: Vec::new(),
        };
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for meta in metas {
            let mut map = Vec::with_capacity(meta.domains.len());
            for (d, name) in meta.domains.iter().enumerate() {
                let global = *ids.entry(name.as_str()).or_insert_with(|| {
                    out.names.push(name.clone());
                    out.skipped.push(SkipCounts::default());
                    out.documents.push(0);
                    out.first_row.push(None);
                    out.names.len() - 1
                });
                out.skipped[global].add(&meta.skipped[d]);
                out.documents[global] += meta.documents[d];
                if out.first_row[global].is_none() {
                    out.first_row[global] = meta.first_row[d];
                }
                map.push(global as u32);
            }
            out.rows_without_domain += meta.rows_without_domain;
            out.maps.push(map);
        }
        out
    }
}

pub(super) fn read_plan(dir: &Path) -> Result<ClusterPlan> {
    read_json(
        &dir.join("clusters").join("clusters.json"),
        "the clusters phase has not finished; run it first",
    )
}
