use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::args::{CorpusArgs, JsonArg};
use crate::core::workdir::WorkDir;
use crate::data::dedup::DedupConfig;
use crate::data::dedup::minhash::MinHashConfig;
use crate::data::dedup::normalize::Normalization;

/// Remove exact and near-duplicate documents across all domains (MinHash with LSH banding).
///
/// Writes WORK/dedup/<domain>/part-*.parquet (survivors, every column kept) and WORK/dedup/stats.json.
///
/// Examples:
///
///   remix dedup --corpus fixtures/corpus -o work
///
///   remix dedup --corpus pile/ --domain-from column:meta.pile_set_name --priority Pile-CC --verify -o work
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub corpus: CorpusArgs,

    /// The work directory; the output goes to WORK/dedup/.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Domains in the order their copies are kept (comma-separated): a duplicate found in two domains
    /// survives in the one listed first. Unlisted domains follow in corpus order.
    #[arg(long, value_delimiter = ',')]
    pub priority: Vec<String>,

    /// Compute the true Jaccard similarity of each candidate pair and keep only pairs >= --threshold.
    #[arg(long)]
    pub verify: bool,

    /// Jaccard threshold for --verify.
    #[arg(long, default_value_t = DedupConfig::default().threshold)]
    pub threshold: f64,

    /// Words per shingle.
    #[arg(long, default_value_t = MinHashConfig::default().ngram)]
    pub ngram: usize,

    /// LSH bands.
    #[arg(long, default_value_t = MinHashConfig::default().bands)]
    pub bands: usize,

    /// MinHash values per band.
    #[arg(long, default_value_t = MinHashConfig::default().rows)]
    pub rows: usize,

    /// Seed of the MinHash functions.
    #[arg(long, default_value_t = DedupConfig::default().seed)]
    pub seed: u64,

    /// Skip exact deduplication.
    #[arg(long)]
    pub no_exact: bool,

    /// Skip near-duplicate deduplication (exact only).
    #[arg(long)]
    pub no_near: bool,

    /// Do not fold whitespace before hashing.
    #[arg(long)]
    pub keep_whitespace: bool,

    /// Do not apply Unicode NFC before hashing.
    #[arg(long)]
    pub no_nfc: bool,

    /// Lower-case the text before hashing.
    #[arg(long)]
    pub lowercase: bool,

    /// Also write the dropped rows, with the reason, the twin they matched and the survivor of their
    /// cluster, to WORK/dedup/_dropped/<domain>/.
    #[arg(long)]
    pub write_dropped: bool,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let (corpus, read) = args.corpus.into_parts();
    let config = DedupConfig {
        corpus: read,
        normalization: Normalization {
            nfc: !args.no_nfc,
            fold_whitespace: !args.keep_whitespace,
            lowercase: args.lowercase,
        },
        exact: !args.no_exact,
        near: !args.no_near,
        minhash: MinHashConfig {
            ngram: args.ngram,
            bands: args.bands,
            rows: args.rows,
        },
        verify: args.verify,
        threshold: args.threshold,
        priority: args.priority,
        seed: args.seed,
        write_dropped: args.write_dropped,
        ..Default::default()
    };
    let _lock = crate::core::lock::WorkLock::acquire(&args.output)?;
    let work = WorkDir::new(&args.output);
    let report = crate::data::dedup::run(&corpus, &config, &work, quiet)?;
    if args.json.print(&report)? {
        return Ok(());
    }
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10}",
        "domain", "in", "kept", "exact", "near"
    );
    for d in &report.domains {
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>10}",
            d.domain, d.documents_in, d.kept, d.dropped_exact, d.dropped_near
        );
    }
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10}",
        "total", report.documents_in, report.kept, report.dropped_exact, report.dropped_near
    );
    println!("Wrote {}", work.root().join("dedup").display());
    Ok(())
}
