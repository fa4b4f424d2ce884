//! The cluster stage: documents into topic domains, for corpora that have none (a web crawl is one
//! domain; the mixture that matters is inside it) or to split named domains into their topics.
//!
//! Reads the corpus (or the dedup output) and writes `WORK/cluster/<domain>/part-*.parquet`, every
//! column kept, one folder per topic domain and per domain kept as it is, so tokenize and every later
//! stage see ordinary folder domains; `WORK/cluster/clusters.json` ([`ClustersFile`]: per cluster its
//! name, documents, bytes, top terms, first documents and those nearest its centroid; the sample's
//! silhouette per candidate `k`); each group's IDF as `idf-NN.bin`; and the `_done.json` marker.
//!
//! The method follows CLIMB (NVIDIA, 2025: k-means over document vectors, clusters as domains) with
//! hashed TF-IDF vectors in place of an embedding model ([`features`]):
//! 1. one pass over the corpus picks each group's sample (the `sample_documents` smallest seeded
//!    hashes of the text) and counts document frequencies for the IDF over every document to cluster;
//! 2. the sample's vectors are computed and k-means fitted on them (linfa-clustering; [`fit`]), `k`
//!    chosen by silhouette when a list is given; each cluster is named by its most distinctive words
//!    (class-based TF-IDF, BERTopic's habit), `c03-python-def-import`, or `web/c03-...` under its
//!    source with `within` (Olmix's source -> topic layout);
//! 3. one streaming pass assigns every document to its nearest centroid and writes the parts
//!    ([`assign`]); the corpus is never held whole.
//!
//! Targets (`[tokenize] eval_only`) are never clustered. On Slurm the fit runs as one task, the
//! assignment as N tasks over row groups, joined into the same files ([`tasks`]). The output is staged
//! and renamed into place, so a failed run leaves the previous result (or nothing).

pub mod assign;
pub mod config;
mod distance;
pub mod embedding;
pub mod features;
pub mod fit;
pub mod model;
pub mod names;
pub mod picture;
mod silhouette;
pub mod tasks;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::core::domain::file_stem;
use crate::core::workdir::{DoneMarker, StageFolder, WorkDir, write_dir, write_json};
use crate::data::corpus::Corpus;
use assign::{AssignCounts, Model};
pub use config::{ClusterConfig, ClusterCount, Features};
use embedding::Vectorizer;
use features::Projection;
use fit::Groups;
pub use model::{CLUSTERS_FILE, ClusterInfo, ClustersFile, GroupModel, KeptDomain};

/// Bytes of sample vectors above which the stage warns: half of the 2 GiB the stage aims to stay
/// under (the vectors are held twice while gathered).
const SAMPLE_WARN_BYTES: f64 = (1u64 << 30) as f64;

/// The corpus the stage reads: the dedup stage's output when `paths` is its folder (domains by their
/// names there), else the corpus at `paths`.
/// With `features = "column:NAME"` the embedding column is read beside the text.
pub fn open_corpus(paths: &[PathBuf], config: &ClusterConfig) -> Result<Corpus> {
    let read = crate::data::corpus::config::CorpusConfig {
        extra_column: config.features.column().map(str::to_string),
        ..config.corpus.clone()
    };
    if let [one] = paths
        && let Some((corpus, _)) = crate::data::dedup::open_output(one, &read)?
    {
        return Ok(corpus);
    }
    Corpus::open(paths, &read)
}

/// The cluster stage's output at `dir` opened as a corpus, each domain by its name in
/// `clusters.json` (topic domains with documents, then the kept domains), and those names in that order;
/// `None` when `dir` holds no `clusters.json`. Errors: an unreadable `clusters.json`, a domain's folder
/// missing.
pub fn open_output(
    dir: &Path,
    config: &crate::data::corpus::config::CorpusConfig,
) -> Result<Option<(Corpus, Vec<String>)>> {
    let path = dir.join(CLUSTERS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let file = ClustersFile::read(&path)?;
    let names: Vec<String> = file
        .groups
        .iter()
        .flat_map(|g| &g.clusters)
        .filter(|c| c.documents > 0)
        .map(|c| c.name.clone())
        .chain(file.kept.iter().map(|k| k.domain.clone()))
        .collect();
    let mut folders = Vec::new();
    for name in &names {
        let folder = dir.join(file_stem(name));
        if !folder.is_dir() {
            bail!(
                "{} is missing, though {} lists domain `{name}`: the cluster output is incomplete; run the \
                 cluster stage again",
                folder.display(),
                path.display()
            );
        }
        folders.push((folder, name.clone()));
    }
    Ok(Some((Corpus::open_named(&folders, config)?, names)))
}

/// Runs the cluster stage on the corpus at `paths` into `work`.
pub fn run(
    paths: &[PathBuf],
    config: &ClusterConfig,
    work: &WorkDir,
    quiet: bool,
) -> Result<ClustersFile> {
    config.check()?;
    let corpus = open_corpus(paths, config)?;
    let out_dir = work.stage_dir(StageFolder::Cluster);
    DoneMarker::clear(&out_dir)?;
    let model = model_for(&corpus, config, quiet)?;
    let groups = Groups::new(config);
    let mut result = None;
    write_dir(&out_dir, |staging| {
        let counts = assign::assign(&corpus, &corpus.units(), &model, &groups, staging, quiet)?;
        result = Some(finish(model, counts, staging)?);
        Ok(())
    })?;
    let Some(file) = result else {
        bail!("internal: the cluster stage wrote no clusters.json");
    };
    marker(config, &corpus, &file)?.write(&out_dir)?;
    Ok(file)
}

/// The model to assign with: read from `centroids_from`, or fitted on the corpus's sample.
fn model_for(corpus: &Corpus, config: &ClusterConfig, quiet: bool) -> Result<Model> {
    match &config.centroids_from {
        Some(path) => load_model(path, config),
        None => fit_model(corpus, config, quiet),
    }
}

/// Fits every group's clusters on its sample ([`fit`]).
pub fn fit_model(corpus: &Corpus, config: &ClusterConfig, quiet: bool) -> Result<Model> {
    let groups = Groups::new(config);
    let scan = fit::scan(corpus, &groups, config, quiet)?;
    let vectorizer = match (&config.features, scan.dims) {
        (Features::Column(name), Some(dims)) => Vectorizer::Column {
            name: name.clone(),
            dims,
        },
        (Features::Column(_), None) => bail!("internal: no embedding was read"),
        (Features::Tfidf, _) => Vectorizer::Tfidf {
            projection: Projection::new(config.dims, config.seed),
            idf: &scan.idf,
        },
    };
    let dims = vectorizer.dims();
    let sampled: usize = scan.samples.iter().map(Vec::len).sum();
    let sample_bytes = (sampled * dims * 4) as f64;
    if sample_bytes > SAMPLE_WARN_BYTES {
        tracing::warn!(
            "the sample's vectors take {:.1} GiB ({sampled} documents x {dims} values x 4 bytes; twice that while \
             they are gathered): lower [cluster] sample_documents if memory is short",
            sample_bytes / (1u64 << 30) as f64
        );
    }
    let vectors = fit::sample_vectors(corpus, &groups, &scan, &vectorizer, quiet)?;
    let (mut fitted, mut maps) = (Vec::new(), Vec::new());
    for (g, source) in groups.sources.iter().enumerate() {
        // The sample's rows in hash order, for the silhouette's subsample.
        let rows = scan.hash_order[g]
            .iter()
            .map(|l| {
                scan.samples[g].binary_search(l).map_err(|_| {
                    anyhow::anyhow!("internal: sampled document {l:?} lost from the sample")
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let group = fit::kmeans(&vectors[g], &rows, config, source)?;
        let shown: Vec<usize> = rows.iter().copied().take(picture::MAP_POINTS).collect();
        let labels: Vec<usize> = shown.iter().map(|&r| group.labels[r]).collect();
        let points = vectors[g].select(ndarray::Axis(0), &shown);
        maps.push(picture::map(points.view(), &labels, config.seed));
        fitted.push(group);
    }
    let labels: Vec<Vec<usize>> = fitted.iter().map(|f| f.labels.clone()).collect();
    let ks: Vec<usize> = fitted.iter().map(|f| f.centroids.nrows()).collect();
    let words = names::sample_words(corpus, &groups, &scan, &labels, &ks, quiet)?;

    let mut file_groups = Vec::new();
    for (g, ((source, fitted), map)) in groups.sources.iter().zip(fitted).zip(maps).enumerate() {
        let terms = names::top_terms(&words[g], names::TOP_TERMS);
        let names = names::names(source, &terms);
        let mut sizes = vec![0u64; ks[g]];
        fitted.labels.iter().for_each(|&c| sizes[c] += 1);
        let clusters = names
            .into_iter()
            .zip(terms)
            .enumerate()
            .map(|(c, (name, top_terms))| ClusterInfo {
                name,
                top_terms,
                sample_documents: sizes[c],
                documents: 0,
                bytes: 0,
                examples: Vec::new(),
                nearest: Vec::new(),
                centroid: fitted.centroids.row(c).to_vec(),
            })
            .collect();
        file_groups.push(GroupModel {
            source: source.clone(),
            idf_file: (config.features == Features::Tfidf).then(|| format!("idf-{g:02}.bin")),
            sample_documents: scan.samples[g].len() as u64,
            silhouette: fitted.silhouette,
            clusters,
            map,
        });
    }
    check_names(&file_groups, &scan.domains)?;
    Ok(Model {
        file: ClustersFile {
            features: config.features.clone(),
            dims,
            seed: config.seed,
            centroids_from: "fitted".into(),
            groups: file_groups,
            kept: Vec::new(),
            skipped: Default::default(),
        },
        idf: scan.idf,
    })
}

/// Errors: a cluster named like a domain that is kept as it is (the two would share a folder).
fn check_names(groups: &[GroupModel], domains: &[String]) -> Result<()> {
    for cluster in groups.iter().flat_map(|g| &g.clusters) {
        if domains.contains(&cluster.name) {
            bail!(
                "cluster `{}` has the name of a domain of the corpus: rename that domain's folder",
                cluster.name
            );
        }
    }
    Ok(())
}

/// The model in `clusters.json` at `path` and the IDF files beside it. Errors: unreadable files, or a
/// model no assignment can use (fewer than 2 clusters in a group, centroids of another length than
/// `dims`).
pub fn read_model(path: &Path) -> Result<Model> {
    let file = ClustersFile::read(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let damaged = |what: String| {
        anyhow::anyhow!(
            "{}: {what}; it is damaged: run `remix cluster` again",
            path.display()
        )
    };
    if file.dims < 2 {
        return Err(damaged(format!("dims = {}", file.dims)));
    }
    for group in &file.groups {
        if group.clusters.len() < 2 {
            return Err(damaged(format!(
                "{} has {} cluster(s)",
                fit::group_name(&group.source),
                group.clusters.len()
            )));
        }
        if let Some(c) = group
            .clusters
            .iter()
            .find(|c| c.centroid.len() != file.dims)
        {
            return Err(damaged(format!(
                "the centroid of `{}` has {} values, not dims = {}",
                c.name,
                c.centroid.len(),
                file.dims
            )));
        }
    }
    let idf = file
        .groups
        .iter()
        .map(|g| match (&file.features, &g.idf_file) {
            (Features::Tfidf, Some(idf_file)) => model::read_idf(&dir.join(idf_file)),
            (Features::Tfidf, None) => Err(damaged(format!(
                "{} names no IDF file",
                fit::group_name(&g.source)
            ))),
            (Features::Column(_), _) => Ok(Vec::new()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Model { file, idf })
}

/// The model of an earlier run's `clusters.json` for `centroids_from`, its counts cleared. Errors: an
/// unreadable model ([`read_model`]), one whose groups are not the ones `within` asks for.
pub fn load_model(path: &Path, config: &ClusterConfig) -> Result<Model> {
    let Model { mut file, idf } = read_model(path)?;
    let wanted = Groups::new(config).sources;
    if file.features != config.features {
        bail!(
            "centroids_from {}: its clusters are of features = \"{}\", but [cluster] features is \"{}\": \
             assign with the features they were fitted on",
            path.display(),
            file.features,
            config.features
        );
    }
    let found: Vec<Option<String>> = file.groups.iter().map(|g| g.source.clone()).collect();
    if found != wanted {
        bail!(
            "centroids_from {}: its clusters are for {}, but [cluster] within asks for {}: use the same \
             `within` as the run that fitted them",
            path.display(),
            describe(&found),
            describe(&wanted)
        );
    }
    file.centroids_from = path.display().to_string();
    for cluster in file.groups.iter_mut().flat_map(|g| &mut g.clusters) {
        cluster.documents = 0;
        cluster.bytes = 0;
        cluster.examples.clear();
        cluster.nearest.clear();
    }
    file.kept.clear();
    Ok(Model { file, idf })
}

fn describe(sources: &[Option<String>]) -> String {
    let names: Vec<String> = sources.iter().map(fit::group_name).collect();
    names.join(", ")
}

/// Writes the model (`clusters.json` and the IDF files) into `dir`.
pub fn save_model(model: &Model, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (group, idf) in model.file.groups.iter().zip(&model.idf) {
        if let Some(idf_file) = &group.idf_file {
            model::write_idf(&dir.join(idf_file), idf)?;
        }
    }
    write_json(&dir.join(CLUSTERS_FILE), &model.file)
}

/// Puts the assignment's counts into the model and writes it into `dir` (the staging folder).
///
/// Errors: a group that got no documents (a `within` domain the corpus does not have, with
/// `centroids_from`), a cluster of one document (tokenize needs two to hold one out).
pub fn finish(mut model: Model, counts: AssignCounts, dir: &Path) -> Result<ClustersFile> {
    let mut counts = counts;
    for group in &model.file.groups {
        if group
            .clusters
            .iter()
            .all(|c| !counts.domains.contains_key(&c.name))
        {
            bail!(
                "no document was assigned to the clusters of {}: check [cluster] within against the corpus's \
                 domains",
                fit::group_name(&group.source)
            );
        }
        if let Some(c) = group.clusters.iter().find(|c| {
            counts
                .domains
                .get(&c.name)
                .is_some_and(|d| d.documents == 1)
        }) {
            bail!(
                "cluster `{}` holds one document, and tokenize needs at least two in a domain (one to hold out): \
                 lower [cluster] k",
                c.name
            );
        }
    }
    for cluster in model.file.groups.iter_mut().flat_map(|g| &mut g.clusters) {
        let mine = counts.domains.remove(&cluster.name).unwrap_or_default();
        if mine.documents == 0 {
            tracing::warn!(
                "cluster `{}` got no documents in the assignment: it is left out of the domains",
                cluster.name
            );
        }
        cluster.documents = mine.documents;
        cluster.bytes = mine.bytes;
        cluster.examples = mine.examples.into_iter().map(|d| d.id).collect();
        cluster.nearest = mine.nearest.into_iter().map(|d| d.id).collect();
    }
    model.file.kept = counts
        .domains
        .into_iter()
        .map(|(domain, c)| KeptDomain {
            domain,
            documents: c.documents,
            bytes: c.bytes,
        })
        .collect();
    model.file.skipped = counts.skipped;
    save_model(&model, dir)?;
    Ok(model.file)
}

fn marker(config: &ClusterConfig, corpus: &Corpus, file: &ClustersFile) -> Result<DoneMarker> {
    let clusters: usize = file.groups.iter().map(|g| g.clusters.len()).sum();
    let documents: u64 = file
        .groups
        .iter()
        .flat_map(|g| &g.clusters)
        .map(|c| c.documents)
        .sum();
    Ok(
        DoneMarker::new(StageFolder::Cluster, config, &corpus.paths())?
            .with_count("clusters", clusters as u64)
            .with_count("documents_clustered", documents),
    )
}
