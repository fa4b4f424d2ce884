use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::train::{ProxyArgs, parse_device};
use crate::data::tokens::TokensIndex;
use crate::doremi::{DoremiConfig, Reference, run_doremi};
use crate::proxy::device::DeviceChoice;

/// Domain weights by DoReMi: a reference proxy, then a proxy trained with Group DRO against it.
///
/// Writes WORK/doremi/weights.json (the weights, every round and the step-by-step trajectory), which
/// `remix manifest --weights` reads.
///
/// Examples:
///
///   remix doremi --tokens work/tokens -o work
///
///   remix doremi --tokens work/tokens -o work --reference uniform --rounds 3
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The tokens folder (shards and index.json).
    #[arg(long)]
    pub tokens: PathBuf,

    /// The work directory; results go to WORK/doremi/.
    #[arg(short, long)]
    pub output: PathBuf,

    /// The reference mixture: natural (token-proportional), uniform, or a weights file
    /// (fit/optimum.json, a weights.json, or {"<domain>": weight}).
    #[arg(long, default_value = "natural")]
    pub reference: String,

    /// Rounds at most; each round's weights are the next round's reference, until they move less than 1e-3.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,

    /// Exponentiated-gradient step size (DoReMi: 1).
    #[arg(long, default_value_t = 1.0)]
    pub eta: f64,

    /// Smoothing towards uniform weights (DoReMi: 1e-3).
    #[arg(long, default_value_t = 1e-3)]
    pub smoothing: f64,

    /// Where to train: cpu (burn's flex backend), wgpu (Vulkan, Metal, DX12); auto: cpu.
    #[arg(long, value_parser = parse_device, default_value = "auto")]
    pub device: DeviceChoice,

    #[command(flatten)]
    pub proxy: ProxyArgs,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let index = TokensIndex::read(&args.tokens)?;
    let reference = match args.reference.as_str() {
        "natural" => Reference::Natural,
        "uniform" => Reference::Uniform,
        path => Reference::File(PathBuf::from(path)),
    };
    let config = DoremiConfig {
        proxy: args.proxy.config(&index)?,
        reference,
        rounds: args.rounds,
        eta: args.eta,
        smoothing: args.smoothing,
    };
    let out_dir = args.output.join("doremi");
    let weights = run_doremi(
        &args.tokens,
        &out_dir,
        &config,
        &args.device.resolve()?,
        quiet,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&weights.domains)?);
        return Ok(());
    }
    let last = weights.rounds.last();
    println!(
        "DoReMi weights ({} round(s), converged: {}):",
        weights.rounds.len(),
        weights.converged
    );
    for (d, w) in weights.domains.iter().enumerate() {
        let reference = last.map(|r| r.reference_weights[d]).unwrap_or(f64::NAN);
        println!(
            "  {:<24} {:.4}  (reference {:.4})",
            w.domain, w.weight, reference
        );
    }
    println!("Wrote {}", out_dir.join("weights.json").display());
    Ok(())
}
