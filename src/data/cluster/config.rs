//! The cluster stage's settings ([`ClusterConfig`], the `[cluster]` section), each default with its
//! reason.

use std::path::PathBuf;

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::corpus::config::CorpusConfig;

/// The number of clusters: one `k`, or a list to choose from by silhouette on the sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ClusterCount {
    One(usize),
    Choose(Vec<usize>),
}

impl ClusterCount {
    /// The counts to try, in the order given.
    pub fn candidates(&self) -> Vec<usize> {
        match self {
            ClusterCount::One(k) => vec![*k],
            ClusterCount::Choose(ks) => ks.clone(),
        }
    }
}

/// What k-means clusters documents by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Features {
    /// Hashed word uni- and bigram TF-IDF projected to `dims` ([`super::features`]): needs nothing
    /// but the text.
    #[default]
    Tfidf,
    /// An embedding column the corpus already has (`column:NAME`, a dot path): a list of floats per
    /// row, as teams store the vectors of an embedding model beside the text (CLIMB clusters such
    /// embeddings). Each is L2-normalised, so k-means on them is spherical k-means, as on TF-IDF.
    Column(String),
}

impl Features {
    /// The embedding column, for `column:NAME`.
    pub fn column(&self) -> Option<&str> {
        match self {
            Features::Tfidf => None,
            Features::Column(name) => Some(name),
        }
    }
}

impl std::str::FromStr for Features {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "tfidf" => Ok(Features::Tfidf),
            Some(("column", name)) if !name.is_empty() => Ok(Features::Column(name.to_string())),
            _ => Err(format!(
                "`{s}` is not a feature source: use `tfidf` (hashed TF-IDF of the text) or `column:NAME` (an \
                 embedding column, a list of floats per row)"
            )),
        }
    }
}

impl std::fmt::Display for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Features::Tfidf => write!(f, "tfidf"),
            Features::Column(name) => write!(f, "column:{name}"),
        }
    }
}

/// Cluster settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    pub corpus: CorpusConfig,
    /// Clusters per clustered group: `k = 16`, or `k = [8, 16, 24]` to take the count with the best
    /// silhouette on the sample. Default 16: the scale of CLIMB's final ~20 clusters and Olmix's 24
    /// DCLM topics, and few enough domains for a proxy search of a few hundred runs.
    pub k: ClusterCount,
    /// What documents are clustered by: `tfidf` (default: needs nothing but the text) or
    /// `column:NAME`, an embedding column (a list of float32 or float64 per row, all of one length).
    #[serde(with = "crate::core::text_form")]
    #[schemars(with = "String")]
    pub features: Features,
    /// Dimensions of the projected TF-IDF vectors k-means runs on. Default 1,024: the projection adds
    /// noise of about `1 / sqrt(dims)` to each cosine, and text documents of one source agree by only a
    /// few hundredths more than documents of two (measured on the bundled sources: at 256 dimensions
    /// the clusters recovered them at ARI 0.48-0.65, at 1,024 at 0.88-0.92; bench/README.md); the
    /// sample takes 4 KiB a document (f32), 400 MiB at the default `sample_documents`, twice that while its vectors are
    /// gathered. With `features = "column:NAME"` the embeddings' own length is used and this is ignored.
    pub dims: usize,
    /// Documents k-means is fitted on, per clustered group, picked by a seeded hash of their text.
    /// Default 100,000: CLIMB-scale topics are stable well below that, and the sample's vectors take
    /// 400 MiB at the default `dims` (800 MiB while they are gathered). Embeddings take their length x
    /// 4 bytes a document: lower it for long ones (4,096 values: 1.6 GiB at the default).
    pub sample_documents: usize,
    /// Sampled documents the silhouette is computed on (all pairs: the cost grows with its square).
    /// Default 5,000: 12.5 million pairs, seconds per candidate `k`.
    pub silhouette_documents: usize,
    /// k-means restarts from a new k-means++ seeding; the lowest inertia wins. Default 3.
    pub restarts: usize,
    /// k-means iterations per restart at most. Default 100: TF-IDF k-means settles in tens.
    pub max_iterations: u64,
    /// Cluster only these domains, each into its own `k` topics named `<domain>/cNN-...`, and keep the
    /// others as they are (Olmix's source -> topic layout). Default empty: cluster every domain
    /// together into topic domains `cNN-...`.
    pub within: Vec<String>,
    /// Assign the documents to the clusters of an earlier `cluster/clusters.json` (its centroids,
    /// IDF and names) instead of fitting new ones, so cluster names stay the same across corpus
    /// updates. Default none.
    pub centroids_from: Option<PathBuf>,
    /// Domains never clustered: the evaluation-only targets (`[tokenize] eval_only`), kept as they are.
    pub eval_only: Vec<String>,
    /// Seed of the sample, the projection and k-means. Default 1.
    pub seed: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            corpus: CorpusConfig::default(),
            k: ClusterCount::One(16),
            features: Features::Tfidf,
            dims: 1024,
            sample_documents: 100_000,
            silhouette_documents: 5_000,
            restarts: 3,
            max_iterations: 100,
            within: Vec::new(),
            centroids_from: None,
            eval_only: Vec::new(),
            seed: 1,
        }
    }
}

impl ClusterConfig {
    /// Errors: a key of `[cluster]` in a pipeline config that the stage takes from the rest of the
    /// config (a value here would be ignored).
    pub fn check_pipeline_keys(&self) -> Result<()> {
        let defaults = ClusterConfig::default();
        let taken = [
            (
                "corpus",
                self.corpus != defaults.corpus,
                "the corpus is read as [corpus] says",
            ),
            (
                "eval_only",
                !self.eval_only.is_empty(),
                "the targets are [tokenize] eval_only",
            ),
            (
                "seed",
                self.seed != defaults.seed,
                "the stage uses the top-level `seed`",
            ),
        ];
        match taken.iter().find(|(_, set, _)| *set) {
            Some((key, _, why)) => {
                bail!("[cluster] {key} is not a pipeline setting ({why}): remove it")
            }
            None => Ok(()),
        }
    }

    /// Errors: a setting no clustering can use, named as in the config.
    pub fn check(&self) -> Result<()> {
        let ks = self.k.candidates();
        if ks.is_empty() {
            bail!(
                "[cluster] k is an empty list: give a number of clusters, or a list to choose from"
            );
        }
        if let Some(bad) = ks.iter().find(|&&k| k < 2) {
            bail!("[cluster] k = {bad}: a clustering needs at least 2 clusters");
        }
        if let Some(bad) = ks.iter().find(|&&k| k > 999) {
            bail!(
                "[cluster] k = {bad}: at most 999 clusters per group (names run c00-c99, or c000-c998 above 100)"
            );
        }
        if self.dims < 2 {
            bail!(
                "[cluster] dims = {}: project to at least 2 dimensions",
                self.dims
            );
        }
        if self.sample_documents < 2 {
            bail!(
                "[cluster] sample_documents = {}: k-means needs at least 2 documents",
                self.sample_documents
            );
        }
        let largest = ks.iter().copied().max().unwrap_or(2);
        if ks.len() > 1 && self.silhouette_documents <= largest {
            bail!(
                "[cluster] silhouette_documents = {}: choosing k among {ks:?} needs more documents than the \
                 largest k",
                self.silhouette_documents
            );
        }
        let twice = self
            .within
            .iter()
            .enumerate()
            .find_map(|(i, d)| self.within[..i].contains(d).then_some(d));
        if let Some(twice) = twice {
            bail!("[cluster] within names `{twice}` twice");
        }
        if self.restarts == 0 || self.max_iterations == 0 {
            bail!("[cluster] restarts and max_iterations must be at least 1");
        }
        if let Some(both) = self.within.iter().find(|d| self.eval_only.contains(d)) {
            bail!(
                "[cluster] within names `{both}`, which [tokenize] eval_only keeps as a target: a target is \
                 never clustered; remove it from one of the two"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_parse_and_print() {
        let column: ClusterConfig = toml::from_str("features = \"column:meta.emb\"").unwrap();
        assert_eq!(column.features, Features::Column("meta.emb".into()));
        assert_eq!(column.features.to_string(), "column:meta.emb");
        assert_eq!(ClusterConfig::default().features.to_string(), "tfidf");
        let bad = toml::from_str::<ClusterConfig>("features = \"embedding\"").unwrap_err();
        assert!(bad.to_string().contains("column:NAME"), "{bad}");
        assert!("column:".parse::<Features>().is_err());
    }

    #[test]
    fn keys_the_pipeline_sets_are_refused_in_its_cluster_section() {
        for (toml, expected) in [
            ("seed = 9", "[cluster] seed is not a pipeline setting"),
            ("eval_only = [\"code\"]", "[cluster] eval_only is not"),
            (
                "[corpus]\ntext_column = \"body\"",
                "[cluster] corpus is not",
            ),
        ] {
            let config: ClusterConfig = toml::from_str(toml).unwrap();
            let error = config.check_pipeline_keys().unwrap_err().to_string();
            assert!(error.contains(expected), "{toml}: {error}");
        }
        let fine: ClusterConfig = toml::from_str("k = 4\nseed = 1").unwrap();
        fine.check_pipeline_keys().unwrap();
    }

    #[test]
    fn k_is_a_number_or_a_list() {
        let one: ClusterConfig = toml::from_str("k = 8").unwrap();
        assert_eq!(one.k.candidates(), [8]);
        let list: ClusterConfig = toml::from_str("k = [4, 8]").unwrap();
        assert_eq!(list.k.candidates(), [4, 8]);
        list.check().unwrap();
        let bad: ClusterConfig = toml::from_str("k = 1").unwrap();
        assert!(bad.check().unwrap_err().to_string().contains("at least 2"));
        let target = ClusterConfig {
            within: vec!["web".into()],
            eval_only: vec!["web".into()],
            ..Default::default()
        };
        assert!(
            target
                .check()
                .unwrap_err()
                .to_string()
                .contains("eval_only")
        );
    }
}
