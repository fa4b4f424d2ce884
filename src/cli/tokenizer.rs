use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

use super::args::CorpusArgs;
use crate::data::tokenize::train::TokenizerTrainConfig;

/// Tokenizers for proxy models.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Train(TrainArgs),
}

/// Train a byte-level BPE tokenizer (HuggingFace tokenizer.json) on a sample of a corpus.
///
/// Example:
///
///   remix tokenizer train --corpus fixtures/corpus --vocab-size 4096 -o tokenizer.json
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct TrainArgs {
    #[command(flatten)]
    pub corpus: CorpusArgs,

    /// Vocabulary size, the end-of-document token included (proxies want 4096 to 16384).
    #[arg(long, default_value_t = TokenizerTrainConfig::default().vocab_size)]
    pub vocab_size: usize,

    /// Megabytes of text to train on, sampled across the corpus (documents drawn at this share of the
    /// corpus's bytes, each read to its first MiB: fewer megabytes where documents are longer).
    #[arg(long, default_value_t = TokenizerTrainConfig::default().sample_bytes >> 20)]
    pub sample_mb: u64,

    /// The end-of-document token.
    #[arg(long, default_value_t = TokenizerTrainConfig::default().eod_token)]
    pub eod_token: String,

    /// Seed of the document sample.
    #[arg(long, default_value_t = TokenizerTrainConfig::default().seed)]
    pub seed: u64,

    /// Where to write tokenizer.json.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let Command::Train(args) = args.command;
    let (corpus, read) = args.corpus.into_parts();
    let config = TokenizerTrainConfig {
        corpus: read,
        vocab_size: args.vocab_size,
        sample_bytes: args.sample_mb << 20,
        eod_token: args.eod_token,
        seed: args.seed,
        ..Default::default()
    };
    let trained = crate::data::tokenize::train::train(&corpus, &config, &args.output, quiet)?;
    println!(
        "Trained a {}-token BPE on {} documents ({:.1} MB); wrote {}",
        trained.vocab_size,
        trained.sample_documents,
        trained.sample_bytes as f64 / 1e6,
        trained.path.display()
    );
    Ok(())
}
