use super::args::JsonArg;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args as ClapArgs, Subcommand};

use crate::core::workdir::WorkDir;
use crate::data::tokenize::import::ImportConfig;

/// Token files you already have.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Import(ImportArgs),
}

/// Bring your own tokens: index Megatron shards or raw token files where they are (no copy), with a
/// held-out validation split, so that sample, train, doremi, manifest and run work on them.
///
/// Writes WORK/tokens/index.json, WORK/tokens/<domain>.val.bin/.idx (the held-out last documents of each
/// domain) and, for raw token files, a Megatron index beside a link to each file.
///
/// Examples:
///
///   remix tokens import --megatron web=/data/web_text_document,/data/web2_text_document \
///       --megatron code=/data/code_text_document --tokenizer tokenizer.json -o work
///
///   remix tokens import --numpy books=/data/books/part-0.npy,/data/books/part-1.npy --dtype uint32 \
///       --eod-token-id 50279 --vocab-size 50280 -o work
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// A domain's Megatron prefixes (PREFIX.bin + PREFIX.idx), comma-separated, in stream order.
    /// Repeatable.
    #[arg(long, value_name = "DOMAIN=PREFIX[,PREFIX...]")]
    pub megatron: Vec<String>,

    /// A domain's raw token files (no header; documents end with the end-of-document token, as OLMo-core
    /// and dolma write them), comma-separated. Repeatable.
    #[arg(long, value_name = "DOMAIN=FILE[,FILE...]")]
    pub numpy: Vec<String>,

    /// The token type of the raw token files: uint16 or uint32.
    #[arg(long)]
    pub dtype: Option<String>,

    /// The end-of-document token id (default: the tokenizer's, or the token every document of the
    /// first Megatron file ends with).
    #[arg(long)]
    pub eod_token_id: Option<u64>,

    /// The vocabulary size (default: the tokenizer's, or the largest token id plus one).
    #[arg(long)]
    pub vocab_size: Option<u64>,

    /// The tokenizer.json the files were written with (needed by the hf and torchtitan exports, which
    /// decode the documents to text).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,

    /// A domain held out whole for evaluation, never trained on. Repeatable.
    #[arg(long)]
    pub eval_only: Vec<String>,

    /// Share of each domain's documents held out for validation, from its end (at least one).
    #[arg(long, default_value_t = ImportConfig::default().val_fraction)]
    pub val_fraction: f64,

    /// Documents held out per domain, instead of --val-fraction.
    #[arg(long)]
    pub val_documents: Option<u64>,

    /// The work directory; the index goes to WORK/tokens/.
    #[arg(short, long)]
    pub output: PathBuf,

    #[command(flatten)]
    pub json: JsonArg,
}

/// `DOMAIN=A,B` arguments into each domain's files, in order.
fn files(flag: &str, args: &[String]) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for arg in args {
        let Some((domain, list)) = arg.split_once('=') else {
            bail!("--{flag} {arg}: write DOMAIN=PATH[,PATH...]");
        };
        out.entry(domain.to_string())
            .or_default()
            .extend(list.split(',').filter(|p| !p.is_empty()).map(PathBuf::from));
    }
    Ok(out)
}

pub fn run(args: Args, quiet: bool) -> Result<()> {
    let Command::Import(args) = args.command;
    let config = ImportConfig {
        megatron: files("megatron", &args.megatron)?,
        numpy: files("numpy", &args.numpy)?,
        dtype: args.dtype,
        eod_token_id: args.eod_token_id,
        vocab_size: args.vocab_size,
        tokenizer: args.tokenizer,
        eval_only: args.eval_only,
        val_fraction: args.val_fraction,
        val_documents: args.val_documents,
    };
    let work = WorkDir::new(&args.output);
    let index = crate::data::tokenize::import::run(&config, &work, quiet)?;
    super::tokenize::print_index(&index, &work, args.json)
}
