//! The assignment pass: every document of a clustered group goes to its nearest centroid, every other
//! document stays in its domain, and each row group is split into one part per output domain with every
//! column kept (`<out>/<domain stem>/part-<file>-<row group>.parquet`, the dedup stage's writer), so
//! parts are written in parallel and their names and content do not depend on scheduling or task count.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Result, bail};
use ndarray::Array2;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::Features;
use super::embedding::{Doc, Vectorizer};
use super::features::Projection;
use super::fit::{Groups, location};
use super::model::ClustersFile;
use crate::core::progress::Progress;
use crate::data::corpus::{Corpus, SkipCounts};
use crate::data::dedup::index::DocLocation;
use crate::data::dedup::write::{Decisions, write_outputs};

/// Documents kept per cluster as examples, and as its nearest documents.
const SHOWN_DOCUMENTS: usize = 3;

/// A model ready to assign: the clusters and each group's IDF.
pub struct Model {
    pub file: ClustersFile,
    /// Per group, `SLOTS` values; empty for embeddings.
    pub idf: Vec<Vec<f32>>,
}

impl Model {
    /// What turns a document into the vector its nearest centroid is found for.
    pub fn vectorizer(&self) -> Vectorizer<'_> {
        match &self.file.features {
            Features::Column(name) => Vectorizer::Column {
                name: name.clone(),
                dims: self.file.dims,
            },
            Features::Tfidf => Vectorizer::Tfidf {
                projection: Projection::new(self.file.dims, self.file.seed),
                idf: &self.idf,
            },
        }
    }
}

/// A document shown in `clusters.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShownDoc {
    pub file: u32,
    pub row: u64,
    /// Squared distance to the centroid (0 for a kept domain).
    pub distance: f32,
    /// `path#row`.
    pub id: String,
}

/// What an assignment writes per output domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainCounts {
    pub documents: u64,
    pub bytes: u64,
    /// The first documents in corpus order.
    pub examples: Vec<ShownDoc>,
    /// The documents nearest the centroid.
    pub nearest: Vec<ShownDoc>,
}

/// The counts of one assignment (a task, or the whole corpus), by output domain name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssignCounts {
    pub domains: BTreeMap<String, DomainCounts>,
    pub skipped: SkipCounts,
}

impl AssignCounts {
    /// Adds `other`'s counts; the shown documents stay the first and the nearest over both.
    pub fn merge(&mut self, other: AssignCounts) {
        self.skipped.add(&other.skipped);
        for (name, theirs) in other.domains {
            let mine = self.domains.entry(name).or_default();
            mine.documents += theirs.documents;
            mine.bytes += theirs.bytes;
            mine.examples.extend(theirs.examples);
            mine.examples.sort_by_key(|d| (d.file, d.row));
            mine.examples.truncate(SHOWN_DOCUMENTS);
            mine.nearest.extend(theirs.nearest);
            prune_nearest(&mut mine.nearest);
        }
    }
}

/// Assigns the documents of the row groups `units` and writes their parts under `out`; returns the
/// counts per output domain.
pub fn assign(
    corpus: &Corpus,
    units: &[(usize, usize)],
    model: &Model,
    groups: &Groups,
    out: &Path,
    quiet: bool,
) -> Result<AssignCounts> {
    let file = &model.file;
    let vectorizer = model.vectorizer();
    let centroids: Vec<Array2<f32>> = file
        .groups
        .iter()
        .map(|g| {
            let flat: Vec<f32> = g.clusters.iter().flat_map(|c| c.centroid.clone()).collect();
            Array2::from_shape_vec((g.clusters.len(), file.dims), flat)
        })
        .collect::<Result<_, _>>()?;
    let names: Vec<Vec<&str>> = file
        .groups
        .iter()
        .map(|g| g.clusters.iter().map(|c| c.name.as_str()).collect())
        .collect();

    // Output domains: every cluster, then the kept domains as they are met.
    let folders = Mutex::new(
        names
            .iter()
            .flatten()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
    );
    let clusters: usize = names.iter().map(Vec::len).sum();
    let folder_of = |name: &str| -> Result<u32> {
        let mut folders = folders
            .lock()
            .map_err(|_| anyhow::anyhow!("a cluster worker panicked"))?;
        if let Some(c) = folders[..clusters].iter().position(|f| f == name) {
            bail!(
                "domain `{name}` is kept as it is, and cluster `{}` has the same name: the two would share a \
                 folder; rename the domain",
                folders[c]
            );
        }
        Ok(match folders.iter().position(|f| f == name) {
            Some(i) => i as u32,
            None => {
                folders.push(name.to_string());
                (folders.len() - 1) as u32
            }
        })
    };
    let offsets: Vec<u32> = names
        .iter()
        .scan(0u32, |start, n| {
            let here = *start;
            *start += n.len() as u32;
            Some(here)
        })
        .collect();

    let progress = Progress::new(corpus.units_rows(units), "docs", quiet);
    progress.set_message("cluster: assigning");
    let batches = corpus.par_map_units(units, &progress, |batch| {
        let mut counts = AssignCounts::default();
        for skips in batch.skips() {
            counts.skipped.add(skips);
        }
        let targets: Vec<(Option<usize>, u32)> = batch
            .domains()
            .iter()
            .map(|d| match groups.of(d) {
                Some(g) => Ok((Some(g), offsets[g])),
                None => folder_of(d).map(|f| (None, f)),
            })
            .collect::<Result<_>>()?;
        let mut placed = Vec::new();
        let mut vector = vec![0.0f32; file.dims];
        let mut scratch = Vec::new();
        for (row, key, text) in batch.docs() {
            let at = location(batch, row);
            let (group, base) = targets[key as usize];
            let (folder, name, distance) = match group {
                Some(g) => {
                    vectorizer.vector(
                        corpus,
                        Doc { batch, row, text },
                        g,
                        &mut vector,
                        &mut scratch,
                    )?;
                    let (c, distance) = nearest(&centroids[g], &vector);
                    (base + c as u32, names[g][c], distance)
                }
                None => (base, batch.domains()[key as usize].as_str(), 0.0),
            };
            placed.push((at, folder));
            let shown = ShownDoc {
                file: at.file,
                row: at.row,
                distance,
                id: format!(
                    "{}#{}",
                    corpus.files[at.file as usize].path.display(),
                    at.row
                ),
            };
            let domain = counts.domains.entry(name.to_string()).or_default();
            domain.documents += 1;
            domain.bytes += text.len() as u64;
            if domain.examples.len() < SHOWN_DOCUMENTS {
                domain.examples.push(shown.clone());
            }
            domain.nearest.push(shown);
            if domain.nearest.len() > 4 * SHOWN_DOCUMENTS {
                prune_nearest(&mut domain.nearest);
            }
        }
        for domain in counts.domains.values_mut() {
            prune_nearest(&mut domain.nearest);
        }
        Ok((placed, counts))
    })?;
    progress.finish();

    let mut total = AssignCounts::default();
    let mut placed: Vec<(DocLocation, u32)> = Vec::new();
    for (mine, counts) in batches {
        placed.extend(mine);
        total.merge(counts);
    }
    let (locations, domains): (Vec<DocLocation>, Vec<u32>) = placed.into_iter().unzip();
    let folders = folders
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a cluster worker panicked"))?;
    let empty_domain_at = vec![None; folders.len()];
    let decisions = Decisions {
        locations: &locations,
        domains: &domains,
        dropped: &[],
        empty_domain_at: &empty_domain_at,
    };
    write_outputs(corpus, units, &decisions, &folders, out, false, quiet)?;
    Ok(total)
}

/// Keeps the nearest [`SHOWN_DOCUMENTS`] (ties by corpus order).
fn prune_nearest(docs: &mut Vec<ShownDoc>) {
    docs.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then((a.file, a.row).cmp(&(b.file, b.row)))
    });
    docs.truncate(SHOWN_DOCUMENTS);
}

/// The nearest centroid (row of `centroids`) to `vector` by squared Euclidean distance, the first on
/// a tie, and the distance; summed as k-means' fit sums it ([`super::distance::squared_distance`]), so
/// a sampled document lands where the fit put it.
pub fn nearest(centroids: &Array2<f32>, vector: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, centroid) in centroids.rows().into_iter().enumerate() {
        let d = match centroid.as_slice() {
            Some(row) => super::distance::squared_distance(row, vector),
            None => centroid
                .iter()
                .zip(vector)
                .map(|(a, b)| (a - b) * (a - b))
                .sum(),
        };
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}
