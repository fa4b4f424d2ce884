use std::path::PathBuf;

use clap::{Args as ClapArgs, ValueEnum};

use crate::core::DEFAULT_SEED;
use crate::data::tokens::TokensIndex;
use crate::manifest::ManifestConfig;
use crate::manifest::export::Format;
use crate::regmix::mixture::DEFAULT_MAX_EPOCHS;

/// Write the chosen mixture as a manifest, and as the files each trainer reads.
///
/// Examples:
///
///   remix manifest --weights work/fit/optimum.json --tokens work/tokens --train-tokens 100000000000 --name web-code -o mixtures/web-code.json --export all
///
///   remix manifest --weights my-weights.json --tokens work/tokens --train-tokens 1000000000 --name mine -o mine.json --export megatron --export hf
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// fit/optimum.json from `remix simulate`, or JSON with {"domains": [{"domain", "weight"}]} or {"<domain>": weight}.
    #[arg(long)]
    pub weights: PathBuf,

    /// The tokens folder (or its index.json).
    #[arg(long)]
    pub tokens: PathBuf,

    /// Tokens the real run trains on.
    #[arg(long)]
    pub train_tokens: u64,

    /// The mixture's name.
    #[arg(long)]
    pub name: String,

    /// Where to write the manifest (JSON); exports go beside it as NAME.<format>.<ext>.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Trainer formats to export (repeatable): megatron, neox, olmo-core, mosaic, hf, nanotron, litgpt,
    /// torchtitan, or all.
    #[arg(long, value_parser = parse_export)]
    pub export: Vec<Vec<Format>>,

    /// Most times a domain may be repeated.
    #[arg(long, default_value_t = DEFAULT_MAX_EPOCHS)]
    pub max_epochs: f64,

    /// Allow domains repeated more than --max-epochs (with a warning).
    #[arg(long)]
    pub allow_repeat: bool,

    /// Seed written into the exports' samplers.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Tokens per training sequence of the real run: the length of the token samples written for the
    /// mosaic export (MDS shards, as llm-foundry prepares pre-training data).
    #[arg(long, default_value_t = crate::manifest::DEFAULT_SEQUENCE_LENGTH)]
    pub sequence_length: u64,
}

fn parse_export(text: &str) -> Result<Vec<Format>, String> {
    if text == "all" {
        return Ok(Format::ALL.to_vec());
    }
    Format::from_str(text, true)
        .map(|f| vec![f])
        .map_err(|_| format!("`{text}` is not an export format: use megatron, neox, olmo-core, mosaic, hf, nanotron, litgpt, torchtitan or all"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = ManifestConfig {
        name: args.name,
        from: None,
        train_tokens: args.train_tokens,
        max_epochs: args.max_epochs,
        allow_repeat: args.allow_repeat,
        sequence_length: args.sequence_length,
        exports: args.export.into_iter().flatten().collect(),
    };
    let source = crate::manifest::read_weights(&args.weights)?;
    let index = TokensIndex::read(&args.tokens)?;
    let tokens_dir = if args.tokens.is_dir() {
        args.tokens.clone()
    } else {
        args.tokens.parent().map(PathBuf::from).unwrap_or_default()
    };
    let manifest = crate::manifest::build(&source, &index, &tokens_dir, &config, args.seed)?;
    for path in crate::manifest::write(&manifest, &args.output, &config.exports)? {
        println!("Wrote {}", path.display());
    }
    Ok(())
}
