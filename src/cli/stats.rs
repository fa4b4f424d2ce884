use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::args::CorpusReadArgs;
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
    /// Parquet files, folders of them (searched recursively), or glob patterns.
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,

    #[command(flatten)]
    pub read: CorpusReadArgs,

    /// Output folder for stats.parquet, stats.json and _done.json.
    #[arg(short, long)]
    pub output: PathBuf,

    /// A token index (WORK/tokens or its index.json) whose token counts to add per domain. Default: the
    /// `tokens` folder beside the output folder, when it has an index.
    #[arg(long)]
    pub tokens: Option<PathBuf>,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let config = args.read.config();
    let beside = args.output.parent().map(|p| p.join("tokens/index.json"));
    let tokens = match (&args.tokens, beside) {
        (Some(path), _) => Some(TokensIndex::read(path)?),
        (None, Some(path)) if path.is_file() => Some(TokensIndex::read(&path)?),
        _ => None,
    };
    let report =
        crate::data::stats::run(&args.corpus, &config, &args.output, tokens.as_ref(), quiet)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::data::stats::render_table(&report));
        println!("Wrote {}", args.output.join("stats.json").display());
    }
    Ok(())
}
