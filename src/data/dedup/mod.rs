//! The dedup stage: exact and MinHash near-duplicate removal across the whole corpus.
//!
//! Reads the corpus ([`crate::data::corpus`]) and writes `WORK/dedup/<domain>/part-*.parquet` (the surviving
//! rows with every original column), `WORK/dedup/stats.json` ([`DedupReport`]) and the `_done.json`
//! marker; with `write_dropped`, `WORK/dedup/_dropped/<domain>/part-*.parquet` holds the dropped rows
//! with the reason, the twin each matched and the survivor of its cluster, for audit.
//!
//! Three streaming passes, each over row groups on rayon's workers:
//! 1. hash: every document's normalised text ([`normalize`]) gets a 128-bit XXH3 exact hash and a
//!    MinHash signature cut into LSH band keys ([`minhash`]); only those go into the [`index`]
//!    (148 bytes per document with the defaults), never the text.
//! 2. verify (optional): the documents in candidate pairs are read again, and a pair is kept only when
//!    the true Jaccard similarity of its shingle sets reaches the threshold.
//! 3. write: each row group is read whole and split into the survivors of each domain.
//!
//! Between passes 1 and 3 the index is clustered: exact duplicates first, then candidate pairs joined
//! by union-find. In every cluster the survivor is the document whose domain comes first in the
//! priority list, then the first in corpus order (file, row), so the result is deterministic. The
//! output is staged in a temporary folder and renamed into place, so a failed run leaves the previous
//! result (or nothing) and never a half-written one.

mod config;
pub mod index;
pub mod minhash;
pub mod normalize;
pub mod records;
mod report;
mod task_files;
pub mod tasks;
pub(crate) mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

use crate::core::progress::Progress;
use crate::core::workdir::{DoneMarker, StageFolder, WorkDir, write_dir, write_json};
use crate::data::corpus::config::CorpusConfig;
use crate::data::corpus::{Corpus, DocBatch, SkipCounts};
pub use config::DedupConfig;
use index::{Clusters, DocIndex, DocLocation, Fate};
use minhash::{MinHasher, jaccard};
pub use report::{CrossDomain, DedupReport, DomainDedup, REPORT_FILE};
use report::{assemble_report, empty_domain_counts, make_report};
pub use write::DROPPED_FOLDER;
use write::{Decisions, Dropped};

/// What pass 1 keeps of one batch.
struct BatchSketch {
    file: u32,
    domain_names: Vec<String>,
    rows: Vec<(u64, u32)>,
    exact: Vec<u128>,
    band_keys: Vec<u64>,
    skips: Vec<SkipCounts>,
    rows_without_domain: u64,
}

/// Runs the dedup stage on the corpus at `paths` into `work`.
pub fn run(
    paths: &[PathBuf],
    config: &DedupConfig,
    work: &WorkDir,
    quiet: bool,
) -> Result<DedupReport> {
    check(config)?;
    let corpus = Corpus::open(paths, &config.corpus)?;
    let out_dir = work.stage_dir(StageFolder::Dedup);
    DoneMarker::clear(&out_dir)?;
    let hasher = MinHasher::new(&config.minhash, config.seed);

    let started = Instant::now();
    let progress = Progress::new(corpus.rows(), "docs", quiet);
    progress.set_message("hashing");
    let sketches = corpus.par_map(&progress, |batch| sketch(batch, config, &hasher))?;
    progress.finish();
    let (index, domain_names, skips, rows_without_domain) =
        build_index(sketches, config.minhash.bands);
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        documents = index.len(),
        seconds,
        documents_per_second = index.len() as f64 / seconds,
        "hash pass: exact hashes and MinHash signatures"
    );

    let priority = priority_ranks(&config.priority, &domain_names)?;
    let rank = |d: u32| (priority[index.domains[d as usize] as usize], d);

    let mut fates = if config.exact {
        index.exact_fates(&rank)
    } else {
        vec![Fate::Kept; index.len()]
    };
    let mut clusters = Clusters::new(index.len());
    let (candidate_pairs, verified_pairs) = if config.near {
        near_duplicates(
            &corpus,
            &index,
            &hasher,
            config,
            &rank,
            &mut fates,
            &mut clusters,
            quiet,
        )?
    } else {
        (0, None)
    };
    let survivors: Vec<u32> = (0..index.len() as u32)
        .map(|d| match fates[d as usize] {
            Fate::Exact { twin } => clusters.find(twin),
            _ => clusters.find(d),
        })
        .collect();

    let report = make_report(
        &index,
        &fates,
        &survivors,
        &domain_names,
        &skips,
        rows_without_domain,
        candidate_pairs,
        verified_pairs,
        config,
    );
    for domain in report.domains.iter().filter(|d| d.kept == 0) {
        tracing::warn!(
            "domain `{}` has no documents left after dedup ({} in): it is kept as an empty domain",
            domain.domain,
            domain.documents_in
        );
    }

    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "clustering done; writing"
    );
    let dropped: Vec<(u32, Dropped)> = fates
        .iter()
        .enumerate()
        .filter_map(|(d, fate)| {
            let (exact, twin) = match *fate {
                Fate::Kept => return None,
                Fate::Exact { twin } => (true, twin),
                Fate::Near { twin } => (false, twin),
            };
            let survivor = index.locations[survivors[d] as usize];
            let twin = index.locations[twin as usize];
            Some((
                d as u32,
                Dropped {
                    exact,
                    twin,
                    survivor,
                },
            ))
        })
        .collect();
    let mut empty_domain_at = vec![None; domain_names.len()];
    for (&domain, &location) in index.domains.iter().zip(&index.locations) {
        let slot = &mut empty_domain_at[domain as usize];
        if slot.is_none() && report.domains[domain as usize].kept == 0 {
            *slot = Some(location);
        }
    }
    let decisions = Decisions {
        locations: &index.locations,
        domains: &index.domains,
        dropped: &dropped,
        empty_domain_at: &empty_domain_at,
    };
    write_dir(&out_dir, |staging| {
        write::write_outputs(
            &corpus,
            &corpus.units(),
            &decisions,
            &domain_names,
            staging,
            config.write_dropped,
            quiet,
        )?;
        write_json(&staging.join(REPORT_FILE), &report)
    })?;
    DoneMarker::new(StageFolder::Dedup, config, &corpus.paths())?
        .with_count("documents_in", report.documents_in)
        .with_count("kept", report.kept)
        .write(&out_dir)?;
    Ok(report)
}

/// The dedup stage's output at `dir` opened as a corpus, each domain by its name in `stats.json`, and
/// every domain of the report in order (empty ones too); `None` when `dir` holds no `stats.json`.
/// Errors: a `stats.json` that is not a dedup report, or a dedup that kept nothing.
pub fn open_output(dir: &Path, config: &CorpusConfig) -> Result<Option<(Corpus, Vec<String>)>> {
    if !dir.join(REPORT_FILE).exists() {
        return Ok(None);
    }
    let report = DedupReport::read(dir).map_err(|e| {
        anyhow::anyhow!(
            "{} has a stats.json that is not a dedup report ({e:#}): run `remix dedup` again",
            dir.display()
        )
    })?;
    if report.kept == 0 {
        bail!(
            "every document of {} was dropped by dedup: nothing to read",
            dir.display()
        );
    }
    let folders: Vec<(PathBuf, String)> = report
        .domains
        .iter()
        .map(|d| (dir.join(&d.file_stem), d.domain.clone()))
        .filter(|(folder, _)| folder.is_dir())
        .collect();
    let config = CorpusConfig {
        text_column: report.config.corpus.text_column.clone(),
        ..config.clone()
    };
    let corpus = Corpus::open_named(&folders, &config)?;
    Ok(Some((
        corpus,
        report.domains.iter().map(|d| d.domain.clone()).collect(),
    )))
}

/// Errors: a threshold outside 0..=1, or a zero band, row or n-gram count.
fn check(config: &DedupConfig) -> Result<()> {
    if !(0.0..=1.0).contains(&config.threshold) {
        bail!(
            "--threshold must be between 0 and 1, not {}",
            config.threshold
        );
    }
    if config.minhash.bands == 0 || config.minhash.rows == 0 || config.minhash.ngram == 0 {
        bail!("--bands, --rows and --ngram must all be at least 1");
    }
    Ok(())
}

/// Near-duplicates among the documents still kept: LSH candidates, optionally verified, joined by
/// union-find; every non-root member is dropped with its best match as twin. Returns the candidate
/// and verified pair counts.
#[allow(clippy::too_many_arguments)]
fn near_duplicates(
    corpus: &Corpus,
    index: &DocIndex,
    hasher: &MinHasher,
    config: &DedupConfig,
    rank: &impl Fn(u32) -> (u32, u32),
    fates: &mut [Fate],
    clusters: &mut Clusters,
    quiet: bool,
) -> Result<(u64, Option<u64>)> {
    let alive: Vec<bool> = fates.iter().map(|f| *f == Fate::Kept).collect();
    let pairs = index.candidate_pairs(&alive, config.full_bucket);
    let candidate_pairs = pairs.len() as u64;
    let (scored, verified_pairs): (Vec<(u32, u32, f64)>, _) = if config.verify {
        let kept = verify(corpus, index, hasher, config, pairs, quiet)?;
        let verified = Some(kept.len() as u64);
        (kept, verified)
    } else {
        (pairs.into_iter().map(|(a, b)| (a, b, 1.0)).collect(), None)
    };
    tracing::info!(
        candidate_pairs,
        ?verified_pairs,
        "clustered near-duplicates"
    );
    for (doc, twin) in cluster_pairs(&scored, rank, clusters) {
        fates[doc as usize] = Fate::Near { twin };
    }
    Ok((candidate_pairs, verified_pairs))
}

/// Joins the scored pairs `(a, b, similarity)` in `clusters` and returns each document that is not its
/// cluster's root (the survivor) with its best match as twin: the highest similarity, then the
/// lowest-ranked partner. The result does not depend on the order of the pairs.
fn cluster_pairs(
    scored: &[(u32, u32, f64)],
    rank: &impl Fn(u32) -> (u32, u32),
    clusters: &mut Clusters,
) -> Vec<(u32, u32)> {
    let mut best: HashMap<u32, (f64, (u32, u32), u32)> = HashMap::new();
    for &(a, b, similarity) in scored {
        clusters.union(a, b, rank);
        for (doc, partner) in [(a, b), (b, a)] {
            let candidate = (similarity, rank(partner), partner);
            best.entry(doc)
                .and_modify(|current| {
                    if candidate.0 > current.0
                        || (candidate.0 == current.0 && candidate.1 < current.1)
                    {
                        *current = candidate;
                    }
                })
                .or_insert(candidate);
        }
    }
    let mut dropped: Vec<(u32, u32)> = best
        .into_iter()
        .filter(|&(doc, _)| clusters.find(doc) != doc)
        .map(|(doc, (_, _, partner))| (doc, partner))
        .collect();
    dropped.sort_unstable();
    dropped
}

fn sketch(batch: &DocBatch, config: &DedupConfig, hasher: &MinHasher) -> Result<BatchSketch> {
    let bands = config.minhash.bands;
    let mut out = BatchSketch {
        file: batch.file as u32,
        domain_names: batch.domains().to_vec(),
        rows: Vec::with_capacity(batch.len()),
        exact: Vec::with_capacity(batch.len()),
        band_keys: Vec::with_capacity(batch.len() * bands),
        skips: batch.skips().to_vec(),
        rows_without_domain: batch.rows_without_domain(),
    };
    let mut normalized = String::new();
    let mut signature = vec![0u64; config.minhash.hashes()];
    for (row, key, text) in batch.docs() {
        config.normalization.apply(text, &mut normalized);
        out.rows.push((batch.first_row + row as u64, key));
        out.exact.push(xxh3_128(normalized.as_bytes()));
        if config.near {
            hasher.signature(&normalized, &mut signature);
            hasher.band_keys(&signature, &mut out.band_keys);
        } else {
            out.band_keys.extend(std::iter::repeat_n(0, bands));
        }
    }
    Ok(out)
}

/// Joins the batch sketches (in corpus order) into the index, with domains numbered in order of
/// first appearance.
fn build_index(
    sketches: Vec<BatchSketch>,
    bands: usize,
) -> (DocIndex, Vec<String>, Vec<SkipCounts>, u64) {
    let mut index = DocIndex {
        bands,
        ..Default::default()
    };
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut skips: Vec<SkipCounts> = Vec::new();
    let mut rows_without_domain = 0;
    // Reserve exactly, and free each sketch as it is copied: the peak stays near one copy of the index.
    let documents: usize = sketches.iter().map(|s| s.rows.len()).sum();
    index.locations.reserve_exact(documents);
    index.domains.reserve_exact(documents);
    index.exact.reserve_exact(documents);
    index.band_keys.reserve_exact(documents * bands);
    for sketch in sketches {
        let global: Vec<u32> = sketch
            .domain_names
            .iter()
            .map(|name| {
                *ids.entry(name.clone()).or_insert_with(|| {
                    names.push(name.clone());
                    skips.push(SkipCounts::default());
                    names.len() as u32 - 1
                })
            })
            .collect();
        for (key, counts) in sketch.skips.iter().enumerate() {
            skips[global[key] as usize].add(counts);
        }
        rows_without_domain += sketch.rows_without_domain;
        for &(row, key) in &sketch.rows {
            index.locations.push(DocLocation {
                file: sketch.file,
                row,
            });
            index.domains.push(global[key as usize]);
        }
        index.exact.extend(sketch.exact);
        index.band_keys.extend(sketch.band_keys);
    }
    (index, names, skips, rows_without_domain)
}

/// Each domain's place in the priority order: listed domains first, the rest in corpus order.
fn priority_ranks(priority: &[String], domains: &[String]) -> Result<Vec<u32>> {
    for name in priority {
        if !domains.contains(name) {
            bail!(
                "--priority names the domain `{name}`, which the corpus does not have. Its domains are: {}",
                domains.join(", ")
            );
        }
    }
    Ok(domains
        .iter()
        .enumerate()
        .map(|(i, d)| match priority.iter().position(|p| p == d) {
            Some(p) => p as u32,
            None => (priority.len() + i) as u32,
        })
        .collect())
}

/// Pass 2: the true Jaccard of every candidate pair; returns the pairs at or above the threshold.
fn verify(
    corpus: &Corpus,
    index: &DocIndex,
    hasher: &MinHasher,
    config: &DedupConfig,
    pairs: Vec<(u32, u32)>,
    quiet: bool,
) -> Result<Vec<(u32, u32, f64)>> {
    let mut needed = vec![false; index.len()];
    for &(a, b) in &pairs {
        needed[a as usize] = true;
        needed[b as usize] = true;
    }
    let progress = Progress::new(corpus.rows(), "docs", quiet);
    progress.set_message("verifying");
    let found = corpus.par_map(&progress, |batch| {
        let mut normalized = String::new();
        let mut sets = Vec::new();
        for (row, _, text) in batch.docs() {
            let location = DocLocation {
                file: batch.file as u32,
                row: batch.first_row + row as u64,
            };
            if let Some(doc) = index.find(location).filter(|&d| needed[d as usize]) {
                config.normalization.apply(text, &mut normalized);
                sets.push((doc, hasher.shingle_set(&normalized)));
            }
        }
        Ok(sets)
    })?;
    progress.finish();
    let mut shingles: Vec<Vec<u64>> = vec![Vec::new(); index.len()];
    for (doc, set) in found.into_iter().flatten() {
        shingles[doc as usize] = set;
    }
    Ok(pairs
        .into_par_iter()
        .filter_map(|(a, b)| {
            let similarity = jaccard(&shingles[a as usize], &shingles[b as usize]);
            (similarity >= config.threshold).then_some((a, b, similarity))
        })
        .collect())
}
