use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

use crate::regmix::simulate::{Proposer, SimulateConfig};

/// Find the mixture with the lowest predicted loss: score fresh Dirichlet candidates, average the best.
///
/// Examples:
///
///   remix simulate --model work/fit/model.json -o work/fit/optimum.json
///
///   remix simulate --model work/fit/model.json --tokens work/tokens --train-tokens 100000000000 \
///       --max-epochs 4 -n 1000000 --top-k 128 --seed 1 -o work/fit/optimum.json
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A model.json written by `remix fit`.
    #[arg(long)]
    pub model: PathBuf,

    /// The tokens folder (or its index.json): token counts give the prior, the natural mixture and the epoch caps.
    #[arg(long)]
    pub tokens: Option<PathBuf>,

    /// Tokens the real run will train on (needs --tokens); sets each domain's epoch cap.
    #[arg(long)]
    pub train_tokens: Option<u64>,

    /// Most times a domain may be repeated.
    #[arg(long, default_value_t = SimulateConfig::default().max_epochs)]
    pub max_epochs: f64,

    /// Candidates to draw.
    #[arg(short = 'n', long, default_value_t = SimulateConfig::default().candidates)]
    pub candidates: usize,

    /// Best candidates to average.
    #[arg(long, default_value_t = SimulateConfig::default().top_k)]
    pub top_k: usize,

    #[arg(long, default_value_t = SimulateConfig::default().seed)]
    pub seed: u64,

    /// Exponent on token shares in the Dirichlet prior.
    #[arg(long, default_value_t = SimulateConfig::default().sampling.temperature)]
    pub temperature: f64,

    /// How to find the optimum: sample (RegMix's mean of the best drawn candidates), exact (the convex
    /// problem, for ols, ridge, log_linear, mixing_law and power_law), or auto (exact where the model allows).
    #[arg(long, value_enum, default_value_t = SimulateConfig::default().proposer)]
    pub proposer: Proposer,

    /// The exact proposer's pull toward the prior: KL(w || prior) times this, in nats.
    #[arg(long, default_value_t = SimulateConfig::default().kl_reg)]
    pub kl_reg: f64,

    /// Resamples of the runs for each weight's interval: the fit and this search repeated on runs drawn
    /// with replacement from the runs table the fit's report (beside --model) names; 0 for none.
    #[arg(long, default_value_t = SimulateConfig::default().bootstrap)]
    pub bootstrap: usize,

    /// The optimum to write (JSON).
    #[arg(short, long)]
    pub output: PathBuf,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = SimulateConfig {
        candidates: args.candidates,
        top_k: args.top_k,
        seed: args.seed,
        max_epochs: args.max_epochs,
        train_tokens: args.train_tokens,
        proposer: args.proposer,
        kl_reg: args.kl_reg,
        bootstrap: args.bootstrap,
        ..Default::default()
    };
    config.sampling.temperature = args.temperature;
    let optimum =
        crate::regmix::simulate::run(&args.model, args.tokens.as_deref(), &config, &args.output)?;
    if args.json.print(&optimum)? {
        return Ok(());
    }
    println!(
        "{:<32} {:>8} {:>8} {:>8}",
        "domain", "weight", "natural", "cap"
    );
    for d in &optimum.domains {
        let natural = d.natural.map_or("-".to_string(), |n| format!("{n:.4}"));
        println!(
            "{:<32} {:>8.4} {:>8} {:>8.4}",
            d.domain.escape_debug().to_string(),
            d.weight,
            natural,
            d.cap
        );
    }
    let natural = optimum
        .predicted_loss_natural
        .map_or("-".to_string(), |l| format!("{l:.4}"));
    println!(
        "predicted loss: optimum {:.4}, natural {natural}, uniform {:.4} ({} feasible candidates)",
        optimum.predicted_loss, optimum.predicted_loss_uniform, optimum.feasible_candidates
    );
    println!("Wrote {}", args.output.display());
    Ok(())
}
