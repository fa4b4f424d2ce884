use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

use super::train::{ProxyArgs, parse_device};
use crate::data::tokens::TokensIndex;
use crate::doremi::{DoremiConfig, DoremiSettings, run_doremi};
use crate::pipeline::config::ProxySection;
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

    #[command(flatten)]
    pub settings: DoremiSettings,

    /// Where to train: cpu (burn's flex backend), wgpu (Vulkan, Metal, DX12); auto: cpu.
    #[arg(long, value_parser = parse_device, default_value_t = ProxySection::default().device)]
    pub device: DeviceChoice,

    #[command(flatten)]
    pub proxy: ProxyArgs,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let index = TokensIndex::read(&args.tokens)?;
    let config = DoremiConfig {
        proxy: args.proxy.config(&index)?,
        settings: args.settings,
    };
    let out_dir = args.output.join("doremi");
    let weights = run_doremi(
        &args.tokens,
        &out_dir,
        &config,
        &args.device.resolve()?,
        quiet,
    )?;
    if args.json.print(&weights.domains)? {
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
