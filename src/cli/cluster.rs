use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::args::{CorpusArgs, JsonArg};
use crate::core::workdir::WorkDir;
use crate::data::cluster::{ClusterConfig, ClusterCount, Features};

/// Cluster documents into topic domains (k-means), or split named domains into topics.
///
/// Documents are clustered by hashed TF-IDF of their text, or by an embedding column they already have.
/// Writes WORK/cluster/<domain>/part-*.parquet (every column kept, one folder per topic domain and per
/// domain kept as it is) and WORK/cluster/clusters.json (names, sizes, top terms, silhouette).
///
/// Examples:
///
///   remix cluster --corpus crawl/ --k 16 -o work
///
///   remix cluster --corpus corpus/ --within web --k 8,12,16 -o work      # web/c00-..., others kept
///
///   remix cluster --corpus crawl-v2/ --centroids-from work/cluster/clusters.json -o work2
///
///   remix cluster --corpus embedded/ --features column:embedding --k 24 -o work   # vectors you have
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub corpus: CorpusArgs,

    /// The work directory; the output goes to WORK/cluster/.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Clusters per group; a comma-separated list picks the count with the best silhouette
    /// [default: 16].
    #[arg(long, value_delimiter = ',')]
    pub k: Vec<usize>,

    /// Cluster only these domains (comma-separated), each into its own topics; keep the others.
    #[arg(long, value_delimiter = ',')]
    pub within: Vec<String>,

    /// Domains never clustered (targets), kept as they are (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub eval_only: Vec<String>,

    /// Documents k-means is fitted on, per group.
    #[arg(long, default_value_t = ClusterConfig::default().sample_documents)]
    pub sample_documents: usize,

    /// What documents are clustered by: `tfidf` (hashed TF-IDF of the text), or `column:NAME`, an
    /// embedding column (a list of floats per row).
    #[arg(long, default_value_t = ClusterConfig::default().features)]
    pub features: Features,

    /// Dimensions of the projected TF-IDF vectors (with `--features tfidf`).
    #[arg(long, default_value_t = ClusterConfig::default().dims)]
    pub dims: usize,

    /// Assign to the clusters of an earlier cluster/clusters.json instead of fitting new ones.
    #[arg(long)]
    pub centroids_from: Option<PathBuf>,

    /// Seed of the sample, the projection and k-means.
    #[arg(long, default_value_t = ClusterConfig::default().seed)]
    pub seed: u64,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let (corpus, read) = args.corpus.into_parts();
    let defaults = ClusterConfig::default();
    let config = ClusterConfig {
        corpus: read,
        k: match args.k.as_slice() {
            [] => defaults.k.clone(),
            [one] => ClusterCount::One(*one),
            many => ClusterCount::Choose(many.to_vec()),
        },
        within: args.within,
        eval_only: args.eval_only,
        sample_documents: args.sample_documents,
        features: args.features,
        dims: args.dims,
        centroids_from: args.centroids_from,
        seed: args.seed,
        ..defaults
    };
    let _lock = crate::core::lock::WorkLock::acquire(&args.output)?;
    let work = WorkDir::new(&args.output);
    let file = crate::data::cluster::run(&corpus, &config, &work, quiet)?;
    if args.json.print(&file)? {
        return Ok(());
    }
    for group in &file.groups {
        let scores: Vec<String> = group.silhouette.iter().map(|s| s.to_string()).collect();
        println!(
            "{}: {} clusters from {} sampled documents; silhouette {}",
            crate::data::cluster::fit::group_name(&group.source),
            group.clusters.len(),
            group.sample_documents,
            scores.join(", ")
        );
        println!(
            "  {:<40} {:>10} {:>12}  top terms",
            "domain", "documents", "bytes"
        );
        for c in &group.clusters {
            println!(
                "  {:<40} {:>10} {:>12}  {}",
                c.name,
                c.documents,
                c.bytes,
                c.top_terms
                    .iter()
                    .take(6)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    for kept in &file.kept {
        println!(
            "kept as it is: {} ({} documents)",
            kept.domain, kept.documents
        );
    }
    println!("Wrote {}", work.root().join("cluster").display());
    Ok(())
}
