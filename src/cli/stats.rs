use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::args::{CorpusArgs, JsonArg};
use crate::data::tokens::TokensIndex;

/// Per-domain statistics of a corpus: documents, bytes, share, words, document lengths.
///
/// Examples:
///
///   remix stats --corpus fixtures/corpus -o work/stats
///
///   remix stats --corpus 'pile/*.parquet' --domain-from column:meta.pile_set_name -o work/stats --json
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub corpus: CorpusArgs,

    /// Output folder for stats.parquet, stats.json and _done.json.
    #[arg(short, long)]
    pub output: PathBuf,

    /// A token index (WORK/tokens or its index.json) whose training and validation tokens to print per
    /// domain beside the statistics, once tokenize has run. stats.json keeps the corpus alone.
    #[arg(long)]
    pub tokens: Option<PathBuf>,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let (corpus, config) = args.corpus.into_parts();
    let mut report = crate::data::stats::run(&corpus, &config, &args.output, quiet)?;
    if let Some(path) = &args.tokens {
        report.join_tokens(&TokensIndex::read(path)?);
    }
    if !args.json.print(&report)? {
        print!("{}", crate::data::stats::render_table(&report));
        println!("Wrote {}", args.output.join("stats.json").display());
    }
    Ok(())
}
