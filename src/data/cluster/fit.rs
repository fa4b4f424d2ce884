//! Fitting the clusters of one group on its sample: the sample picked by a seeded hash of each
//! document's text (the `sample_documents` smallest hashes, so the same documents whatever the read
//! order or thread count), IDF from every document of the group, k-means with linfa-clustering
//! (k-means++ seeding, restarts, seeded), `k` chosen by silhouette when a list is given; the names are
//! in [`super::names`].

use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use linfa::DatasetBase;
use linfa::prelude::{Fit, Predict};
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::{Array1, Array2, Axis};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::config::ClusterConfig;
use super::distance::FastL2;
use super::embedding::{Doc, Vectorizer, described, embedding, lengths_differ};
use super::features::{SLOTS, slot_counts};
use super::model::KScore;
use crate::core::progress::Progress;
use crate::data::corpus::{Corpus, DocBatch};
use crate::data::dedup::index::DocLocation;

/// k-means stops when the centroids move less than this (linfa's default).
const TOLERANCE: f32 = 1e-4;
/// Slots in fewer documents than this weigh nothing.
const MIN_DOCUMENT_FREQUENCY: u32 = 2;

/// The domains clustered together: every domain but the targets, or each `within` domain alone.
pub struct Groups {
    pub sources: Vec<Option<String>>,
    within: Vec<String>,
    eval_only: Vec<String>,
}

impl Groups {
    pub fn new(config: &ClusterConfig) -> Self {
        let sources = if config.within.is_empty() {
            vec![None]
        } else {
            config.within.iter().cloned().map(Some).collect()
        };
        Self {
            sources,
            within: config.within.clone(),
            eval_only: config.eval_only.clone(),
        }
    }

    /// The group a domain's documents are clustered in; `None` for a domain kept as it is.
    pub fn of(&self, domain: &str) -> Option<usize> {
        if self.within.is_empty() {
            (!self.eval_only.iter().any(|d| d == domain)).then_some(0)
        } else {
            self.within.iter().position(|d| d == domain)
        }
    }
}

/// What the first pass learns of each group.
pub struct Scan {
    /// Per group: the sample, sorted by location.
    pub samples: Vec<Vec<DocLocation>>,
    /// Per group: the sample's locations in hash order (a seeded random order).
    pub hash_order: Vec<Vec<DocLocation>>,
    /// Per group: documents in the group.
    pub documents: Vec<u64>,
    /// Per group: smoothed IDF, `SLOTS` values.
    pub idf: Vec<Vec<f32>>,
    /// Every domain name the corpus has.
    pub domains: Vec<String>,
    /// The embeddings' length, with `features = "column:NAME"`.
    pub dims: Option<usize>,
}

/// Pass 1: picks each group's sample and counts its document frequencies. Errors: a `within` domain
/// the corpus does not have, a group without documents.
pub fn scan(corpus: &Corpus, groups: &Groups, config: &ClusterConfig, quiet: bool) -> Result<Scan> {
    let n = groups.sources.len();
    let slots = if config.features.column().is_some() {
        0
    } else {
        SLOTS
    };
    let df: Vec<Vec<AtomicU32>> = (0..n)
        .map(|_| (0..slots).map(|_| AtomicU32::new(0)).collect())
        .collect();
    let documents: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    let heaps: Vec<Mutex<BinaryHeap<(u64, DocLocation)>>> =
        (0..n).map(|_| Mutex::new(BinaryHeap::new())).collect();
    let domains = Mutex::new(std::collections::BTreeSet::new());
    let keep = config.sample_documents;
    let column = config.features.column();
    // The first embedding's length and where it was read: every other must have it.
    let first_length: Mutex<Option<(usize, String)>> = Mutex::new(None);

    let progress = Progress::new(corpus.rows(), "docs", quiet);
    progress.set_message("cluster: sample and IDF");
    corpus.par_map(&progress, |batch| {
        domains
            .lock()
            .map_err(poisoned)?
            .extend(batch.domains().iter().cloned());
        let group_of: Vec<Option<usize>> = batch.domains().iter().map(|d| groups.of(d)).collect();
        let mut candidates: Vec<Vec<(u64, DocLocation)>> = vec![Vec::new(); n];
        let mut scratch = Vec::new();
        let mut length: Option<(usize, String)> = None;
        for (row, key, text) in batch.docs() {
            let Some(g) = group_of[key as usize] else {
                continue;
            };
            documents[g].fetch_add(1, Ordering::Relaxed);
            match column {
                None => {
                    for (slot, _) in slot_counts(text) {
                        df[g][slot as usize].fetch_add(1, Ordering::Relaxed);
                    }
                }
                // Every embedding is checked here, before any fitting or writing.
                Some(name) => {
                    let found = embedding(corpus, batch, row, name, &mut scratch)?;
                    match &length {
                        None => length = Some((found, described(corpus, batch, row))),
                        Some((first, there)) if *first != found => {
                            let here = described(corpus, batch, row);
                            return Err(lengths_differ(name, (found, &here), (*first, there)));
                        }
                        Some(_) => {}
                    }
                }
            }
            candidates[g].push((
                xxh3_64_with_seed(text.as_bytes(), config.seed),
                location(batch, row),
            ));
        }
        if let Some((found, here)) = length {
            let mut first = first_length.lock().map_err(poisoned)?;
            match &*first {
                None => *first = Some((found, here)),
                Some((expected, there)) if *expected != found => {
                    let name = column.unwrap_or_default();
                    return Err(lengths_differ(name, (found, &here), (*expected, there)));
                }
                Some(_) => {}
            }
        }
        for (g, mut mine) in candidates.into_iter().enumerate() {
            mine.sort_unstable();
            mine.truncate(keep);
            let mut heap = heaps[g].lock().map_err(poisoned)?;
            for candidate in mine {
                if heap.len() < keep {
                    heap.push(candidate);
                } else if heap.peek().is_some_and(|top| candidate < *top) {
                    heap.pop();
                    heap.push(candidate);
                } else {
                    break;
                }
            }
        }
        Ok(())
    })?;
    progress.finish();

    let domains: Vec<String> = domains
        .into_inner()
        .map_err(poisoned)?
        .into_iter()
        .collect();
    for source in groups.sources.iter().flatten() {
        if !domains.contains(source) {
            bail!(
                "[cluster] within names `{source}`, which the corpus does not have; its domains are {}",
                domains.join(", ")
            );
        }
    }
    let mut scan = Scan {
        samples: Vec::new(),
        hash_order: Vec::new(),
        documents: documents
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .collect(),
        idf: Vec::new(),
        domains,
        dims: first_length
            .into_inner()
            .map_err(poisoned)?
            .map(|(found, _)| found),
    };
    for (g, heap) in heaps.into_iter().enumerate() {
        if scan.documents[g] == 0 {
            bail!(
                "[cluster] {}: no documents to cluster (every row was skipped, or every domain is a target)",
                group_name(&groups.sources[g])
            );
        }
        let mut by_hash = heap.into_inner().map_err(poisoned)?.into_sorted_vec();
        let hash_order: Vec<DocLocation> = by_hash.iter().map(|&(_, l)| l).collect();
        by_hash.sort_unstable_by_key(|&(_, l)| l);
        scan.samples
            .push(by_hash.into_iter().map(|(_, l)| l).collect());
        scan.hash_order.push(hash_order);
        if column.is_some() {
            // Embeddings need no IDF.
            scan.idf.push(Vec::new());
            continue;
        }
        let counts: Vec<u32> = df[g].iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let mut idf = super::features::idf(&counts, scan.documents[g]);
        // A word or pair in one document cannot make two documents alike: it only adds noise to the
        // projection (scikit-learn's `min_df = 2`).
        for (weight, &df) in idf.iter_mut().zip(&counts) {
            if df < MIN_DOCUMENT_FREQUENCY {
                *weight = 0.0;
            }
        }
        scan.idf.push(idf);
    }
    Ok(scan)
}

/// Pass 2: the projected vectors of each group's sample, rows in the sample's (location) order.
pub fn sample_vectors(
    corpus: &Corpus,
    groups: &Groups,
    scan: &Scan,
    vectorizer: &Vectorizer,
    quiet: bool,
) -> Result<Vec<Array2<f32>>> {
    let units = sample_units(corpus, scan);
    let dims = vectorizer.dims();
    let progress = Progress::new(corpus.units_rows(&units), "docs", quiet);
    progress.set_message("cluster: sample vectors");
    let rows = corpus.par_map_units(&units, &progress, |batch| {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for (row, key, text) in batch.docs() {
            let Some(g) = groups.of(&batch.domains()[key as usize]) else {
                continue;
            };
            let at = location(batch, row);
            if scan.samples[g].binary_search(&at).is_ok() {
                let mut vector = vec![0.0f32; dims];
                vectorizer.vector(
                    corpus,
                    Doc { batch, row, text },
                    g,
                    &mut vector,
                    &mut scratch,
                )?;
                out.push((g, at, vector));
            }
        }
        Ok(out)
    })?;
    progress.finish();
    let mut matrices: Vec<Array2<f32>> = scan
        .samples
        .iter()
        .map(|s| Array2::zeros((s.len(), dims)))
        .collect();
    let filled: usize = rows.iter().map(Vec::len).sum();
    let sampled: usize = scan.samples.iter().map(Vec::len).sum();
    if filled != sampled {
        bail!("internal: {filled} sample vectors computed for {sampled} sampled documents");
    }
    for (g, at, vector) in rows.into_iter().flatten() {
        let i = scan.samples[g]
            .binary_search(&at)
            .map_err(|_| anyhow::anyhow!("internal: sampled document {at:?} not in the sample"))?;
        matrices[g]
            .row_mut(i)
            .iter_mut()
            .zip(&vector)
            .for_each(|(m, &v)| *m = v);
    }
    Ok(matrices)
}

/// A fitted group: centroids (largest cluster in the sample first) and each sampled document's
/// cluster.
pub struct Fitted {
    pub centroids: Array2<f32>,
    pub labels: Vec<usize>,
    pub silhouette: Vec<KScore>,
}

/// k-means on one group's sample, for each candidate `k`; the best silhouette wins when there are
/// several. Errors: a `k` larger than the sample.
pub fn kmeans(
    vectors: &Array2<f32>,
    hash_order: &[usize],
    config: &ClusterConfig,
    source: &Option<String>,
) -> Result<Fitted> {
    let ks = config.k.candidates();
    let n = vectors.nrows();
    if let Some(&k) = ks.iter().find(|&&k| k > n) {
        bail!(
            "[cluster] k = {k}, but {} has {n} sampled document(s): lower k, or raise sample_documents \
             (now {}) if the corpus has more",
            group_name(source),
            config.sample_documents
        );
    }
    // The silhouette subsample: the first documents in hash order (a seeded random pick).
    let picked: Vec<usize> = hash_order
        .iter()
        .copied()
        .take(config.silhouette_documents)
        .collect();
    let subsample = vectors.select(Axis(0), &picked);
    let mut best = None;
    let mut best_score = f64::NEG_INFINITY;
    let mut scores = Vec::new();
    for &k in &ks {
        let rng = Xoshiro256Plus::seed_from_u64(config.seed);
        let model = KMeans::params_with(k, rng, FastL2)
            .init_method(KMeansInit::KMeansPlusPlus)
            .n_runs(config.restarts)
            .max_n_iterations(config.max_iterations)
            .tolerance(TOLERANCE)
            .fit(&DatasetBase::from(vectors.view()))
            .with_context(|| format!("k-means with k = {k} on {}", group_name(source)))?;
        let labels: Array1<usize> = model.predict(&subsample);
        let labels: Vec<usize> = labels.to_vec();
        let silhouette = (picked.len() > k)
            .then(|| super::silhouette::silhouette(subsample.view(), &labels, k))
            .flatten();
        tracing::info!(
            k,
            silhouette = silhouette.unwrap_or(f64::NAN),
            group = group_name(source),
            "k-means fitted"
        );
        scores.push(KScore {
            k,
            silhouette,
            documents: picked.len() as u64,
        });
        let score = silhouette.unwrap_or(f64::NEG_INFINITY);
        if best.is_none() || score > best_score {
            best_score = score;
            best = Some((model, k));
        }
    }
    if ks.len() > 1 && scores.iter().all(|s| s.silhouette.is_none()) {
        tracing::warn!(
            "{}: no silhouette could be computed for k = {ks:?} (too few documents, or one occupied cluster); \
             k = {} is used, the first given",
            group_name(source),
            ks[0]
        );
    }
    let Some((model, k)) = best else {
        bail!("[cluster] k lists no cluster count");
    };
    let raw: Array1<usize> = model.predict(vectors);
    // Largest cluster first; ties by k-means' own order.
    let mut sizes = vec![0usize; k];
    raw.iter().for_each(|&c| sizes[c] += 1);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(sizes[c]), c));
    let mut rank = vec![0; k];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new;
    }
    Ok(Fitted {
        centroids: model.centroids().select(Axis(0), &order),
        labels: raw.iter().map(|&c| rank[c]).collect(),
        silhouette: scores,
    })
}

/// `the corpus`, or `domain `web`` with `within`.
pub fn group_name(source: &Option<String>) -> String {
    match source {
        Some(source) => format!("domain `{source}`"),
        None => "the corpus".to_string(),
    }
}

/// A document's location from its batch and row within the batch.
pub fn location(batch: &DocBatch, row: usize) -> DocLocation {
    DocLocation {
        file: batch.file as u32,
        row: batch.first_row + row as u64,
    }
}

/// The row groups that hold a sampled document of any group, in corpus order: what the passes over
/// the sample read.
pub(super) fn sample_units(corpus: &Corpus, scan: &Scan) -> Vec<(usize, usize)> {
    let mut all: Vec<DocLocation> = scan.samples.iter().flatten().copied().collect();
    all.sort_unstable();
    units_with(corpus, &all)
}

/// The row groups that hold at least one of `locations` (sorted), in corpus order.
fn units_with(corpus: &Corpus, locations: &[DocLocation]) -> Vec<(usize, usize)> {
    let mut units = Vec::new();
    for (f, file) in corpus.files.iter().enumerate() {
        let mut start = 0u64;
        for (g, rows) in file.row_group_rows().into_iter().enumerate() {
            let from = DocLocation {
                file: f as u32,
                row: start,
            };
            let to = DocLocation {
                file: f as u32,
                row: start + rows,
            };
            let i = locations.partition_point(|l| *l < from);
            if locations.get(i).is_some_and(|l| *l < to) {
                units.push((f, g));
            }
            start += rows;
        }
    }
    units
}

pub(super) fn poisoned<T>(_: std::sync::PoisonError<T>) -> anyhow::Error {
    anyhow::anyhow!("a worker panicked while holding the cluster stage's shared counts")
}
