//! What the cluster stage writes about its clusters: `cluster/clusters.json` ([`ClustersFile`]) and each
//! group's IDF (`cluster/idf-NN.bin`), which together are the model a later run assigns to
//! (`centroids_from`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::Features;
use super::features::SLOTS;
use crate::core::workdir::{read_json, write_atomic};
use crate::data::corpus::SkipCounts;

/// The file name of the clusters' description in the cluster folder.
pub const CLUSTERS_FILE: &str = "clusters.json";

/// `cluster/clusters.json`: the clusters of every clustered group and the domains kept as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClustersFile {
    /// What the documents were clustered by: `tfidf`, or `column:NAME` (an embedding column).
    #[serde(default, with = "crate::core::text_form")]
    #[schemars(with = "String")]
    pub features: Features,
    /// Dimensions of the vectors the centroids live in: the projected TF-IDF's `dims`, or the
    /// embeddings' length.
    pub dims: usize,
    /// Seed of the projection (and of the sample and k-means when fitted here).
    pub seed: u64,
    /// Where the centroids came from: `fitted`, or the `clusters.json` they were read from.
    pub centroids_from: String,
    /// One per clustered group: the whole corpus, or each `within` domain.
    pub groups: Vec<GroupModel>,
    /// Domains kept as they are (targets, and domains outside `within`).
    pub kept: Vec<KeptDomain>,
    /// Rows skipped by the reader (null, empty or invalid UTF-8 text), over the corpus.
    pub skipped: SkipCounts,
}

/// The clusters of one group of domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupModel {
    /// The domain clustered into topics (`within`); none when the whole corpus is one group.
    pub source: Option<String>,
    /// The group's IDF, `SLOTS` little-endian f32, in the same folder; none for embeddings.
    pub idf_file: Option<String>,
    /// Documents in the group's sample (k-means was fitted on these).
    pub sample_documents: u64,
    /// The silhouette of each candidate `k` on the silhouette subsample (cosine geometry: Euclidean on
    /// unit vectors), in the order tried; the chosen `k` is the highest.
    pub silhouette: Vec<KScore>,
    /// The clusters, largest in the sample first; their names are the domains they become.
    pub clusters: Vec<ClusterInfo>,
    /// Sampled documents on their first two principal components, for the report's picture.
    #[serde(default)]
    pub map: Vec<super::picture::MapPoint>,
}

/// A candidate cluster count and its silhouette.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KScore {
    pub k: usize,
    /// Mean silhouette; none when it cannot be computed (a subsample no larger than `k`).
    pub silhouette: Option<f64>,
    /// Documents the score was computed on.
    pub documents: u64,
}

impl std::fmt::Display for KScore {
    /// `k = 16: 0.012`, or `k = 16: -` without a score.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.silhouette {
            Some(score) => write!(f, "k = {}: {score:.3}", self.k),
            None => write!(f, "k = {}: -", self.k),
        }
    }
}

/// One cluster: a topic domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterInfo {
    /// The domain name: `cNN-term-term-term`, under its source as `source/cNN-...` with `within`.
    pub name: String,
    /// Its most distinctive words (class-based TF-IDF over the clusters' sampled documents), best first.
    pub top_terms: Vec<String>,
    /// Sampled documents in it.
    pub sample_documents: u64,
    /// Documents assigned to it, over the corpus.
    pub documents: u64,
    /// Bytes of their text.
    pub bytes: u64,
    /// Its first documents in corpus order, as `path#row`.
    pub examples: Vec<String>,
    /// The documents nearest its centroid, nearest first, as `path#row`.
    pub nearest: Vec<String>,
    /// The centroid, `dims` values.
    pub centroid: Vec<f32>,
}

/// A domain the stage kept as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeptDomain {
    pub domain: String,
    pub documents: u64,
    pub bytes: u64,
}

impl ClustersFile {
    /// Reads `clusters.json` at `path`. Errors: a missing or unreadable file.
    pub fn read(path: &Path) -> Result<Self> {
        read_json(
            path,
            "run `remix cluster` first, or point centroids_from at a cluster/clusters.json",
        )
    }
}

/// Writes an IDF vector (`SLOTS` values) as little-endian f32.
pub fn write_idf(path: &Path, idf: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = idf.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_atomic(path, &bytes)
}

/// Reads an IDF vector written by [`write_idf`]. Errors: a missing file, or one of the wrong size.
pub fn read_idf(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (the IDF beside clusters.json; copy the whole cluster folder)",
            path.display()
        )
    })?;
    if bytes.len() != SLOTS * 4 {
        bail!(
            "{} holds {} bytes, not the {} of an IDF vector: the file is damaged; run `remix cluster` again",
            path.display(),
            bytes.len(),
            SLOTS * 4
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
