use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

use crate::core::DEFAULT_SEED;
use crate::core::tasks::TaskSlice;
use crate::data::tokens::TokensIndex;
use crate::pipeline::config::ProxySection;
use crate::proxy::device::DeviceChoice;
use crate::proxy::settings::TrainConfig;
use crate::regmix::mixture::DEFAULT_MAX_EPOCHS;
use crate::regmix::train::{ProxyRunConfig, TrainOptions};

/// Train a proxy model on every candidate mixture and record its validation losses in WORK/runs/runs.parquet.
///
/// Re-running skips finished runs; --shard I/N trains every N-th candidate from the I-th, so machines can
/// share one candidate list (join their tables with `remix runs merge`).
///
/// Examples:
///
///   remix train --tokens work/tokens --mixtures work/mixtures.parquet -o work --dry-run
///
///   remix train --tokens work/tokens --mixtures work/mixtures.parquet -o work --train-tokens 2000000 --shard 0/4
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The tokens folder (shards and index.json).
    #[arg(long)]
    pub tokens: PathBuf,

    /// Candidate mixtures (`remix sample`).
    #[arg(long)]
    pub mixtures: PathBuf,

    /// The work directory; runs go to WORK/runs/runs.parquet.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Where to train: cpu (burn's flex backend), wgpu (Vulkan, Metal, DX12); auto: cpu.
    #[arg(long, value_parser = parse_device, default_value_t = ProxySection::default().device)]
    pub device: DeviceChoice,

    /// Train only every N-th candidate from the I-th: I/N.
    #[arg(long, value_name = "I/N", default_value_t = TaskSlice::WHOLE)]
    pub shard: TaskSlice,

    /// Most times a candidate may repeat a domain within one proxy's tokens (as in `remix sample`).
    #[arg(long, default_value_t = DEFAULT_MAX_EPOCHS)]
    pub max_epochs: f64,

    /// Proxies trained together, their weights stacked so each layer is one batched matmul for all;
    /// each ends as it would alone. 0: as many as fit on wgpu (80% of the adapter's memory, 4 GiB where
    /// it reports none, within its largest buffer); one at a time on the CPU, where a stack measured
    /// slower (remix bench train --parallel 4).
    #[arg(long, default_value_t = ProxySection::default().parallel)]
    pub parallel: usize,

    #[command(flatten)]
    pub proxy: ProxyArgs,

    /// Print the proxy's parameter counts and the plan, and train nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub json: JsonArg,
}

/// The proxy's shape and training settings, shared by `remix train` and `remix doremi`.
#[derive(Debug, ClapArgs)]
pub struct ProxyArgs {
    /// Tokens per proxy.
    #[arg(long, default_value_t = TrainConfig::default().train_tokens)]
    pub train_tokens: u64,

    /// Sequences per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,

    /// Peak learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub learning_rate: f64,

    /// Validation sequences per domain.
    #[arg(long, default_value_t = TrainConfig::default().val_sequences)]
    pub val_sequences: usize,

    /// Context length.
    #[arg(long, default_value_t = ProxySection::default().context)]
    pub context: usize,

    /// Decoder blocks.
    #[arg(long, default_value_t = ProxySection::default().layers)]
    pub layers: usize,

    /// Model width.
    #[arg(long, default_value_t = ProxySection::default().d_model)]
    pub d_model: usize,

    /// Attention heads.
    #[arg(long, default_value_t = ProxySection::default().heads)]
    pub heads: usize,

    /// SwiGLU hidden width.
    #[arg(long, default_value_t = ProxySection::default().ffn_hidden)]
    pub ffn_hidden: usize,

    /// Seed of every proxy's initialisation and batches.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

impl ProxyArgs {
    /// The proxy run settings, with the vocabulary of the token index.
    pub fn config(&self, index: &TokensIndex) -> anyhow::Result<ProxyRunConfig> {
        let proxy = ProxySection {
            layers: self.layers,
            d_model: self.d_model,
            heads: self.heads,
            ffn_hidden: self.ffn_hidden,
            context: self.context,
            train: TrainConfig {
                train_tokens: self.train_tokens,
                batch_size: self.batch_size,
                learning_rate: self.learning_rate,
                val_sequences: self.val_sequences,
                ..Default::default()
            },
            ..Default::default()
        };
        ProxyRunConfig::new(&proxy, index.vocab_size as usize, self.seed)
    }
}

/// Parses `--device` (auto, cpu, wgpu).
pub fn parse_device(text: &str) -> Result<DeviceChoice, String> {
    text.parse()
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let index = TokensIndex::read(&args.tokens)?;
    let config = args.proxy.config(&index)?;
    if args.dry_run {
        let steps = config.train.steps(config.shape.context);
        println!(
            "proxy: {} parameters, {} without embeddings ({} layers, d_model {}, {} heads, SwiGLU {}, context {}, vocabulary {})",
            config.shape.params(),
            config.shape.non_embedding_params(),
            config.shape.layers,
            config.shape.d_model,
            config.shape.heads,
            config.shape.ffn_hidden,
            config.shape.context,
            config.shape.vocab_size
        );
        println!(
            "training: {steps} steps of {} x {} tokens = {} tokens per proxy",
            config.train.batch_size,
            config.shape.context,
            steps * config.train.batch_size * config.shape.context
        );
        return Ok(());
    }
    let device = args.device.resolve()?;
    // One shard of several writes only its own runs table, beside its siblings; a whole run holds the
    // work directory.
    let _lock = if args.shard.count > 1 {
        crate::core::lock::check_free(&args.output)?;
        None
    } else {
        Some(crate::core::lock::WorkLock::acquire(&args.output)?)
    };
    let runs = args.output.join("runs").join("runs.parquet");
    let summary = crate::regmix::train::train_candidates(
        &args.tokens,
        &args.mixtures,
        &runs,
        &config,
        TrainOptions {
            shard: args.shard,
            max_epochs: args.max_epochs,
            parallel: args.parallel,
            round: None,
            quiet,
        },
        &device,
    )?;
    if !args.json.print(&summary)? {
        println!(
            "Trained {} proxies ({} already done, {} at a time), {:.0} tokens/s; {} runs in {}",
            summary.trained,
            summary.skipped,
            summary.parallel,
            summary.tokens_per_second,
            summary.runs_in_table,
            runs.display()
        );
    }
    Ok(())
}
