use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::args::{CorpusReadArgs, JsonArg};
use crate::core::workdir::WorkDir;
use crate::data::tokenize::TokenizeConfig;
use crate::data::tokens::TokensIndex;

/// Encode documents into Megatron token shards (.bin/.idx) per domain, with a held-out validation split.
///
/// Writes WORK/tokens/<domain>.bin/.idx, WORK/tokens/<domain>.val.bin/.idx and WORK/tokens/index.json.
///
/// Examples:
///
///   remix tokenize --input work/dedup --tokenizer fixtures/tokenizer.json -o work
///
///   remix tokenize --input work/dedup --tokenizer tokenizer.json --eval-only curated --val-documents 200 -o work
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A dedup folder (WORK/dedup) or a corpus (Parquet file, folder or glob).
    #[arg(long)]
    pub input: PathBuf,

    #[command(flatten)]
    pub read: CorpusReadArgs,

    /// A HuggingFace tokenizer.json.
    #[arg(long)]
    pub tokenizer: PathBuf,

    /// The work directory; the shards go to WORK/tokens/.
    #[arg(short, long)]
    pub output: PathBuf,

    /// The end-of-document token (default: <|endoftext|>, </s>, <|end_of_text|>, <eos> or <|eos|>,
    /// whichever the tokenizer has).
    #[arg(long)]
    pub eod_token: Option<String>,

    /// Share of each domain's documents held out for validation (at least one document when a domain has two).
    #[arg(long, default_value_t = TokenizeConfig::default().val_fraction)]
    pub val_fraction: f64,

    /// Documents held out per domain, instead of --val-fraction.
    #[arg(long)]
    pub val_documents: Option<u64>,

    /// A domain to tokenize into validation shards only: evaluated by every proxy, never trained on.
    /// Repeatable.
    #[arg(long)]
    pub eval_only: Vec<String>,

    /// Seed of the validation split.
    #[arg(long, default_value_t = TokenizeConfig::default().seed)]
    pub seed: u64,

    /// Skip (with a warning) documents longer than this many bytes.
    #[arg(long, default_value_t = TokenizeConfig::default().max_document_bytes)]
    pub max_document_bytes: u64,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let config = TokenizeConfig {
        corpus: args.read.config(),
        eod_token: args.eod_token,
        val_fraction: args.val_fraction,
        val_documents: args.val_documents,
        eval_only: args.eval_only,
        seed: args.seed,
        max_document_bytes: args.max_document_bytes,
    };
    let _lock = crate::core::lock::WorkLock::acquire(&args.output)?;
    let work = WorkDir::new(&args.output);
    let index = crate::data::tokenize::run(&args.input, &args.tokenizer, &config, &work, quiet)?;
    print_index(&index, &work, args.json)
}

/// Prints the token index as a table (or JSON) and where it went.
pub fn print_index(index: &TokensIndex, work: &WorkDir, json: JsonArg) -> anyhow::Result<()> {
    if json.print(index)? {
        return Ok(());
    }
    println!(
        "{:<24} {:>10} {:>14} {:>10} {:>12}",
        "domain", "documents", "tokens", "val docs", "val tokens"
    );
    for d in &index.domains {
        let name = if d.eval_only {
            format!("{} (eval only)", d.domain)
        } else {
            d.domain.clone()
        };
        println!(
            "{:<24} {:>10} {:>14} {:>10} {:>12}",
            name, d.documents, d.tokens, d.val_documents, d.val_tokens
        );
    }
    println!(
        "Wrote {} ({} shards)",
        work.root().join("tokens").display(),
        index.dtype
    );
    Ok(())
}
